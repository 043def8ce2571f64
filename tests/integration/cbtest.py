"""Helpers for cachebox integration scenarios: real binaries on loopback.

A scenario builds an Appliance (temporary state dir, generated config, a
free port), starts cachebox-control, talks to it with real clients (curl,
aria2c, raw sockets, cacheboxctl) and checks bytes, statuses and logs.
Every check is counted; any sanitizer report or internal error in the
daemons' logs fails the scenario. Exit status: 0 pass, 1 fail, 77 skip.
"""
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import h11
except ImportError:  # Debian's python3-h11, when python3 is not Debian's
    sys.path.append("/usr/lib/python3/dist-packages")
    import h11

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
CONTROL = os.path.join(BUILD, "control", "cachebox-control")
CTL = os.path.join(BUILD, "control", "cacheboxctl")
STORAGE = os.path.join(BUILD, "storage", "cachebox-storage")
DATAPLANE = os.path.join(BUILD, "dataplane", "cachebox-dataplane")
# The test build with failpoints (common/cb_failpoint.h): this control starts the
# cachebox-storage beside it, built with the same failpoints.
FP_CONTROL = os.path.join(BUILD, "tests", "failpoint", "cachebox-control")
sys.path.insert(0, os.path.join(ROOT, "dataplane"))
import cachebox_ask  # noqa: E402  (the discovery client, a second codec for the tests)

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


def proc_status(pid):
    """/proc/PID/status as {field: value} (Uid, CapEff, NoNewPrivs, Seccomp...)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            k, _, v = ln.partition(":")
            out[k] = v.strip()
    return out


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns something true, for at most timeout
    seconds (and at most timeout / interval + 1 tries). Counts one check,
    failed with `what` on timeout. Returns the last value of predicate()."""
    deadline = time.monotonic() + timeout
    value = None
    for _ in range(int(timeout / interval) + 1):
        value = predicate()
        if value or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    check(value, "%s (waited %.1f s)" % (what, timeout))
    return value


# The file server reads the policy control publishes (`cacheboxctl limits`,
# reload) on its 200 ms sweep and acknowledges nothing: after a change,
# letting two sweeps pass is the only way to know it has been read.
POLICY_SETTLE = 0.5


def seed_of(name):
    """A reproducible seed for make_file from a name (Python's hash() of a
    str is salted per process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_udp_port():
    """A UDP port free on the IPv4 wildcard (where cachebox-dataplane binds)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
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


# discovery.shm (common/cb_shm.h struct cb_disc_file): header, then CB_DISC_LANES lanes.
DISC_LANES, DISC_LANE_SIZE, DISC_LANES_AT = 16, 256, 256
DISC_FIELDS = ("rx", "queries", "offers", "ignored", "announces", "byes", "tx_failed",
               "arp_replies", "not_ours")
DISC_DROPS = ("none", "invalid", "wrong_group", "unauthenticated", "bad_mac", "stale", "replay",
              "rate_limited", "bad_source")  # enum dp_drop order (dataplane/dp_codec.h)
DISC_STATES = ("stopped", "starting", "running")


def meta_present(shard, key):
    """The set of pieces the metadata file on disk records as present
    (st_format.c layout); empty when the file is missing or unreadable."""
    cid = hashlib.sha256(key.encode()).hexdigest()
    path = os.path.join(shard, "objects", cid[:2], cid + ".meta")
    try:
        with open(path, "rb") as f:
            b = f.read()
        npieces = struct.unpack_from("<I", b, 60)[0]
        key_len, etag_len = struct.unpack_from("<HH", b, 92)
    except (OSError, struct.error):
        return set()
    off = 96 + key_len + etag_len + npieces * 32
    bitmap = b[off:off + (npieces + 7) // 8]
    return {p for p in range(npieces) if p // 8 < len(bitmap) and bitmap[p // 8] >> (p % 8) & 1}


def read_discovery(state_dir):
    """The dataplane's state and its counters summed over lanes, or None before it ran."""
    import struct
    try:
        with open(os.path.join(state_dir, "discovery.shm"), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    magic, layout, size, state, pid = struct.unpack_from("<QIIII", raw, 0)
    if magic != 0x3143534458584243 or layout != 2 or len(raw) != size:
        return None
    out = {"state": DISC_STATES[state] if state < 3 else state, "pid": pid,
           "backend": raw[48:64].split(b"\0")[0].decode(),
           "listen": raw[64:160].split(b"\0")[0].decode(),
           "advertise": raw[160:256].split(b"\0")[0].decode(),
           "drops": dict.fromkeys(DISC_DROPS[1:], 0)}
    out.update(dict.fromkeys(DISC_FIELDS + ("busy_ns",), 0))
    for i in range(DISC_LANES):
        vals = struct.unpack_from("<%dQ" % (len(DISC_FIELDS) + 16), raw,
                                  DISC_LANES_AT + i * DISC_LANE_SIZE)
        for k, v in zip(DISC_FIELDS, vals):
            out[k] += v
        for k, v in zip(DISC_DROPS[1:], vals[len(DISC_FIELDS) + 1:]):
            out["drops"][k] += v
        out["busy_ns"] += struct.unpack_from("<Q", raw, DISC_LANES_AT + i * DISC_LANE_SIZE
                                             + 8 * (len(DISC_FIELDS) + 16))[0]
    return out


def content_id(key):
    return hashlib.sha256(key.encode()).hexdigest()


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def run_ctl(argv, **kw):
    """subprocess.run of a cacheboxctl command line (argv[0] may be setpriv
    or sudo), output captured as text; a sanitizer report or an internal
    error in what it printed fails the scenario (a fatal UBSan report goes
    to stderr, which the caller would otherwise drop)."""
    kw.setdefault("timeout", 120)
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    bad = [m for m in BAD_LOG_MARKERS if m in r.stdout + r.stderr]
    check(not bad, "cacheboxctl %s: no sanitizer report or internal error (%s)"
          % (" ".join(argv[1:3]), r.stderr[-2000:] if bad else ""))
    return r


def daemon_logs(log_path, state_dir):
    """The text of a box's control log and access log (whichever exist), for
    scanning with BAD_LOG_MARKERS."""
    text = ""
    for p in (log_path, os.path.join(state_dir, "access.log")):
        if os.path.exists(p):
            with open(p, "rb") as f:
                text += f.read().decode(errors="replace")
    return text


def access_log_lines(state_dir):
    """The lines of a box's access log; [] before the first response."""
    p = os.path.join(state_dir, "access.log")
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return f.read().splitlines()


class Appliance:
    """discovery: the [discovery] lines. Off by default, so that scenarios
    about the file server start no dataplane and need no UDP port; a
    discovery scenario passes e.g. ("enabled = true", "port = %d" % free_udp_port())."""

    def __init__(self, extra="", piece_size="64K", origins=("dl.example.com",), workers=2,
                 server_extra=(), storage_extra=(), discovery=("enabled = false",),
                 control=CONTROL, env=None):
        """control: the cachebox-control to run (FP_CONTROL for failpoints); env:
        its environment (its children inherit it), os.environ when None."""
        self.control = control
        self.env = env
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
            "[discovery]"] + list(discovery)
        for o in origins:
            lines += ["[origin %s]" % o, "upstream = http://127.0.0.1:9"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)

    def add_origin(self, name, upstream, *lines):
        """Appends an [origin name] section (more key = value lines after it)."""
        with open(self.conf, "a") as f:
            f.write("[origin %s]\nupstream = %s\n" % (name, upstream))
            f.write("".join(ln + "\n" for ln in lines))

    def start(self, timeout=10):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.control, "--config", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("cachebox-control exited: " + self.logs())
            try:
                st, _, _ = self.request("GET", "/_cachebox/health")
                # control answering, not only its socket file there: one that
                # replaces a killed control finds the old file in place
                if st == 200 and self.ctl_answers():
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
        return daemon_logs(self.log_path, self.state)

    def access_log(self):
        return access_log_lines(self.state)

    # A scenario may set log_ok(line) -> True for lines that carry a marker but
    # are not the daemons' own report (a library's reason string quoted in a warning).
    log_ok = None

    def check_logs_clean(self):
        text = self.logs()
        if self.log_ok:
            text = "\n".join(ln for ln in text.splitlines() if not self.log_ok(ln))
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
        r = run_ctl([CTL, "--config", self.conf] + list(args))
        if check_rc and r.returncode != 0:
            raise RuntimeError("cacheboxctl %s: %s" % (args, r.stderr))
        return r

    def import_file(self, path, url):
        self.ctl("import", path, url)

    def ctl_json(self, *args):
        """`cacheboxctl --json ARGS`, its output parsed."""
        return json.loads(self.ctl("--json", *args).stdout)

    def stats(self):
        return self.ctl_json("stats")

    def listing(self):
        """`list --json` as {key: object}."""
        return {o["key"]: o for o in self.ctl_json("list")}

    def limits(self, *args):
        """`cacheboxctl limits ARGS`, then the file server's next policy read."""
        self.ctl("limits", *args)
        time.sleep(POLICY_SETTLE)

    def storage_pid(self):
        with open(os.path.join(self.state, "storage.pid")) as f:
            return int(f.read())

    def ctl_answers(self):
        return self.ctl("status", check_rc=False).returncode == 0

    def metrics_addr(self):
        with open(self.conf) as f:
            return f.read().split("metrics_listen = ")[1].split("\n")[0]

    def metrics(self):
        """The Prometheus endpoint, parsed: {(name, ((label, value), ...)): value}."""
        with urllib.request.urlopen("http://%s/metrics" % self.metrics_addr(), timeout=5) as r:
            return parse_prometheus(r.read().decode())

    def wait_log(self, text, timeout=5):
        """Waits until text is in the daemons' logs; a check."""
        return wait_until(lambda: text in self.logs(), timeout, "the log says %r" % text)

    def fill_url(self, name, origin="origin.test"):
        """The URL of /name on a configured origin, through the box."""
        return self.url("/%s?cacheHostOrigin=%s" % (name, origin))

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    @property
    def box_id(self):
        """The box's CDN-Loop id, which it keeps in its state directory."""
        with open(os.path.join(self.state, "box-id")) as f:
            return f.read().strip()

    def request(self, method, path, headers=None, timeout=10, partial=False):
        """One request on its own connection; returns (status, headers, body),
        the response strictly parsed. partial=True: a body cut short (the
        server closed mid-transfer) is returned as far as it came instead of
        failing a check (parse_responses)."""
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
        got = parse_responses(data, method == "HEAD", partial=partial)
        return got[0] if got else (0, {}, b"")


def exchange(port, raw, timeout=5):
    """Sends raw bytes on a new connection to 127.0.0.1:port and returns all
    that came back until the server closed it (or timeout passed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        return recv_all(s, timeout)
    finally:
        s.close()


def recv_all(s, timeout=10):
    """Everything s receives until the peer closes it, resets it, or sends
    nothing for timeout seconds; at most 10 minutes in all."""
    s.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + 600
    for _ in range(1 << 24):
        if time.monotonic() > deadline:
            break
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


def expect_close(s, within=1.0, first=5.0):
    """Reads s to its end: up to `first` seconds for the first byte, then the
    peer must close (EOF) or reset the connection within `within` seconds of
    the last byte that came. Returns (data, closed): closed is False when a
    wait ran out instead, i.e. the server kept a connection open that it
    should have closed. At most 10 000 reads."""
    chunks = []
    s.settimeout(first)
    for _ in range(10000):
        try:
            b = s.recv(1 << 16)
        except socket.timeout:
            return b"".join(chunks), False
        except ConnectionResetError:
            return b"".join(chunks), True
        if not b:
            return b"".join(chunks), True
        chunks.append(b)
        s.settimeout(within)
    return b"".join(chunks), False


def exchange_eof(port, raw, within=1.0, timeout=5):
    """Like exchange(), but returns (data, closed): whether the server closed
    the connection within `within` seconds of its last byte (expect_close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed before it read everything: what came back still counts
        return expect_close(s, within, timeout)
    finally:
        s.close()


# Pipelined behind a rejected request by expect_rejected: never to be answered.
FOLLOW = b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\n\r\n"


def expect_rejected(port, raw, status, what, follow=FOLLOW, method="GET", within=1.0):
    """Sends raw with follow pipelined behind it and checks that the answer is
    exactly one strictly parsed response with `status`, marked Connection:
    close, and that the server closes within `within` seconds of it (so
    follow is never answered). Returns the parsed responses."""
    data, closed = exchange_eof(port, raw + follow, within)
    got = parse_responses(data, methods=[method])
    check([g[0] for g in got] == [status], "%s: exactly one %d: %s %r"
          % (what, status, [g[0] for g in got], data[:80]))
    check(len(got) == 1 and got[0][1].get("connection") == "close",
          "%s: the answer says Connection: close" % what)
    check(closed, "%s: the server closed within %.1f s of its answer" % (what, within))
    return got


# Response fields that are not lists (RFC 9110 §5.3: a second line is an
# error, whichever one a client would pick).
SINGLETONS = ("content-length", "content-range", "content-type", "etag", "last-modified",
              "date", "retry-after", "location")


def strict_head(h):
    """What h11 lets pass in a response head h (its status line to its empty
    line): every line ends in CRLF, no CR elsewhere, no obs-fold (RFC 9112
    §2.2, §5.2). Raises h11.RemoteProtocolError."""
    lines = h.split(b"\r\n")
    if not h.endswith(b"\r\n\r\n") or any(b"\r" in ln or b"\n" in ln for ln in lines):
        raise h11.RemoteProtocolError("a bare CR or LF in the head %r" % h[:200])
    if any(ln[:1] in (b" ", b"\t") for ln in lines[1:]):
        raise h11.RemoteProtocolError("obs-fold or leading whitespace in the head %r" % h[:200])


def unread(conn):
    """How many received bytes h11 has not turned into events yet (its
    buffer's length: trailing_data would copy the buffer every time)."""
    buf = getattr(conn, "_receive_buffer", None)
    return len(buf) if buf is not None else len(conn.trailing_data[0])


def parse_responses(data, head=False, methods=None, partial=False):
    """Parses consecutive responses from data with h11, a strict HTTP/1.1
    client parser: [(status, headers, body), ...], headers a dict with
    lower-case names (a repeated list field's values joined by ", ", a
    repeated singleton field an error). methods names the request method of each response in
    turn (HEAD responses have no body); past its end, or without it, every
    request was GET, or HEAD if head. Interim (1xx) responses are skipped.
    A protocol error (bad framing, a bad field line, a bare CR or LF,
    obs-fold, a 101 nobody asked for, bytes after a response that closes
    the connection) or a last response
    cut short counts as a failed check and ends the list; partial=True
    accepts a last response cut short in its body (a reader that stopped
    reading) and returns it with the body that came."""
    out = []
    data = bytes(data)
    conn = h11.Connection(our_role=h11.CLIENT)
    if data:
        conn.receive_data(data)  # (b"" would tell h11 the connection closed)
    cur, mark = None, 0
    try:
        for i in range(100000):
            method = methods[i] if methods and i < len(methods) else "HEAD" if head else "GET"
            conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
            conn.send(h11.EndOfMessage())
            cur, ended = None, False
            for _ in range(1 << 20):
                ev = conn.next_event()
                if ev is h11.NEED_DATA or ev is h11.PAUSED:
                    break
                if isinstance(ev, (h11.Response, h11.InformationalResponse)):
                    # h11 reads a bare LF as a line end and unfolds obs-fold:
                    # RFC 9112 §2.2 and §5.2 say a sender never sends either.
                    off = len(data) - unread(conn)
                    strict_head(data[mark:off])
                    mark = off
                if isinstance(ev, h11.Response):
                    names = [k.decode("latin-1") for k, _ in ev.headers]
                    twice = [n for n in SINGLETONS if names.count(n) > 1]
                    if twice:
                        raise h11.RemoteProtocolError("%s more than once" % twice)
                    fields = {}
                    for k, v in ev.headers:  # repeated list fields combine (§5.3)
                        k, v = k.decode("latin-1"), v.decode("latin-1")
                        fields[k] = fields[k] + ", " + v if k in fields else v
                    cur = (ev.status_code, fields, [])
                elif isinstance(ev, h11.Data):
                    cur[2].append(bytes(ev.data))
                elif isinstance(ev, h11.EndOfMessage):
                    mark = len(data) - unread(conn)  # past chunked framing too
                    out.append((cur[0], cur[1], b"".join(cur[2])))
                    cur, ended = None, True
                    break
            if not ended and (cur is not None or unread(conn)):
                break  # cut short: NEED_DATA in the middle of a response
            if not unread(conn):
                return out
            if conn.their_state is not h11.DONE:
                raise h11.RemoteProtocolError("bytes after a response that closes: %r"
                                              % conn.trailing_data[0][:60])
            conn.start_next_cycle()
    except h11.ProtocolError as e:
        check(False, "strict HTTP/1.1 parse (h11): %s, after %d responses in %r"
              % (e, len(out), data[:300]))
        return out
    if cur is not None and partial and conn.their_state is h11.SEND_BODY:
        out.append((cur[0], cur[1], b"".join(cur[2])))
    elif cur is not None or unread(conn):
        check(False, "strict HTTP/1.1 parse (h11): response %d cut short in %r"
              % (len(out) + 1, data[-200:]))
    return out


def parse_multipart(content_type, body):
    """A multipart/byteranges body (RFC 9110 §14.6) strictly parsed: the
    boundary from content_type, then each part's headers and bytes. Returns
    [(content_range, bytes)], or None if the body is not well formed
    (preamble, delimiters, part lengths, closing delimiter, epilogue)."""
    if not content_type.startswith("multipart/byteranges; boundary="):
        return None
    delim = b"--" + content_type.split("boundary=", 1)[1].encode()
    parts, off = [], 0
    if body[:2] == b"\r\n":
        off = 2  # an empty preamble line is allowed
    for _ in range(1000):
        if body[off:off + len(delim)] != delim:
            return None
        off += len(delim)
        if body[off:off + 2] == b"--":
            return parts if body[off + 2:] in (b"", b"\r\n") else None
        if body[off:off + 2] != b"\r\n":
            return None
        end = body.find(b"\r\n\r\n", off + 2)
        if end < 0:
            return None
        headers = {}
        for ln in body[off + 2:end].decode("latin-1").split("\r\n"):
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        crange = headers.get("content-range", "")
        try:
            first, last = (int(x) for x in crange.split(" ", 1)[1].split("/")[0].split("-"))
        except (IndexError, ValueError):
            return None
        start = end + 4
        parts.append((crange, body[start:start + last - first + 1]))
        off = start + last - first + 1
        if body[off:off + 2] != b"\r\n":
            return None
        off += 2
    return None


def expected_parts(data, spans):
    """[(content_range, bytes)] for inclusive (first, last) spans of data."""
    return [("bytes %d-%d/%d" % (a, b, len(data)), data[a:b + 1]) for a, b in spans]


def parse_prometheus(text):
    """Prometheus text exposition: {(name, ((label, value), ...)): float}.
    Raises ValueError on a sample line that does not parse."""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        name_labels, value = ln.rsplit(" ", 1)
        labels = ()
        if "{" in name_labels:
            name, rest = name_labels.split("{", 1)
            if not rest.endswith("}"):
                raise ValueError("bad sample line: " + ln)
            pairs = [kv for kv in rest[:-1].split(",") if kv]
            labels = tuple(sorted((k, v.strip('"')) for k, v in
                                  (kv.split("=", 1) for kv in pairs)))
        else:
            name = name_labels
        out[(name, labels)] = float(value)
    return out


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS"] + list(args), capture_output=True, timeout=timeout)
