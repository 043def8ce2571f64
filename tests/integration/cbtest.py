"""Helpers for cachebox integration scenarios: real binaries on loopback.

A scenario builds an Appliance (temporary state dir, generated config, a
free port), starts cachebox-control, talks to it with real clients (curl,
aria2c, raw sockets, cacheboxctl) and checks bytes, statuses and logs.
Every check is counted; any sanitizer report or internal error in the
daemons' logs fails the scenario. Exit status: 0 pass, 1 fail, 77 skip.
"""
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
CONTROL = os.path.join(BUILD, "control", "cachebox-control")
CTL = os.path.join(BUILD, "control", "cacheboxctl")
STORAGE = os.path.join(BUILD, "storage", "cachebox-storage")

BAD_LOG_MARKERS = ("AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error:",
                   "LeakSanitizer", "internal error")

checks = {"passed": 0, "failed": 0}


def check(cond, what):
    if cond:
        checks["passed"] += 1
        if os.environ.get("CBTEST_VERBOSE"):
            print("ok: " + what, flush=True)
    else:
        checks["failed"] += 1
        print("FAIL: " + what, flush=True)
    return cond


def finish():
    print("%s: %d checks passed, %d failed" % (os.path.basename(sys.argv[0]),
                                                checks["passed"], checks["failed"]))
    sys.exit(1 if checks["failed"] or checks["passed"] == 0 else 0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_file(path, size, seed):
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rnd.randbytes(n))
            left -= n
    return path


def content_id(key):
    return hashlib.sha256(key.encode()).hexdigest()


class Appliance:
    def __init__(self, extra="", piece_size="64K", origins=("dl.example.com",), workers=2,
                 server_extra=(), storage_extra=()):
        self.dir = tempfile.mkdtemp(prefix="cbx-it-")
        self.port = free_port()
        self.state = os.path.join(self.dir, "var")
        self.shard = os.path.join(self.dir, "shard0")
        self.conf = os.path.join(self.dir, "cachebox.conf")
        self.log_path = os.path.join(self.dir, "control.log")
        self.proc = None
        lines = [
            "[appliance]", "state_dir = %s" % self.state, "log_level = info",
            "[server]", "listen = 127.0.0.1:%d" % self.port, "workers = %d" % workers,
            "header_timeout = 3s", "idle_timeout = 5s"] + list(server_extra) + [
            "[storage]", "shard = %s" % self.shard, "piece_size = %s" % piece_size] + list(
                storage_extra) + [
            "[control]", "socket = %s/control.sock" % self.state,
            "metrics_listen = 127.0.0.1:%d" % free_port(),
            "[discovery]", "enabled = false",
        ]
        for o in origins:
            lines += ["[origin %s]" % o, "upstream = http://127.0.0.1:9"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)

    def start(self, timeout=10):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CONTROL, "--config", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("cachebox-control exited: " + self.logs())
            try:
                st, _, _ = self.request("GET", "/_cachebox/health")
                if st == 200 and os.path.exists(os.path.join(self.state, "control.sock")):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("appliance did not come up: " + self.logs())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                check(False, "appliance did not stop within 10 s of SIGTERM")
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def logs(self):
        text = ""
        for p in (self.log_path, os.path.join(self.state, "access.log")):
            if os.path.exists(p):
                with open(p, "rb") as f:
                    text += f.read().decode(errors="replace")
        return text

    def access_log(self):
        p = os.path.join(self.state, "access.log")
        if not os.path.exists(p):
            return []
        with open(p) as f:
            return f.read().splitlines()

    def check_logs_clean(self):
        text = self.logs()
        bad = [m for m in BAD_LOG_MARKERS if m in text]
        check(not bad, "daemon logs carry %s:\n%s" % (bad, text[-3000:]))

    def cleanup(self):
        self.stop()
        self.check_logs_clean()
        if checks["failed"] == 0:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("kept " + self.dir + " for inspection")

    def ctl(self, *args, check_rc=True):
        r = subprocess.run([CTL, "--config", self.conf] + list(args), capture_output=True,
                           text=True, timeout=120)
        if check_rc and r.returncode != 0:
            raise RuntimeError("cacheboxctl %s: %s" % (args, r.stderr))
        return r

    def import_file(self, path, url):
        self.ctl("import", path, url)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def request(self, method, path, headers=None, timeout=10):
        """One request on its own connection; returns (status, headers, body)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            h = {"Host": "127.0.0.1"}
            h.update(headers or {})
            req = "%s %s HTTP/1.1\r\n" % (method, path)
            req += "".join("%s: %s\r\n" % kv for kv in h.items())
            req += "Connection: close\r\n\r\n"
            s.sendall(req.encode())
            data = recv_all(s, timeout)
        finally:
            s.close()
        got = parse_responses(data, method == "HEAD")
        return got[0] if got else (0, {}, b"")


def recv_all(s, timeout=10):
    s.settimeout(timeout)
    chunks = []
    while True:
        try:
            b = s.recv(1 << 20)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def parse_responses(data, head=False):
    """Parses consecutive responses from data: [(status, headers, body), ...]."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = data[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body_len = 0 if head else int(headers.get("content-length", "0"))
        body = data[end + 4:end + 4 + body_len]
        out.append((status, headers, body))
        data = data[end + 4 + body_len:]
    return out


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS"] + list(args), capture_output=True, timeout=timeout)
