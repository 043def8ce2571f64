#!/usr/bin/env python3
"""Control's loop is never held by a client or a long verb.

- clients trickling one byte every 0.8 s to the metrics port and to the
  control socket: `cacheboxctl status` and GET /metrics are still answered
  within 2 s each, and a kill -9 of cachebox-storage is repaired (health
  answered by a new file server) within 5 s;
- a prestage whose origin holds its answers: status, stats and /metrics
  answer within 2 s while it runs, and it completes once the origin
  answers; SIGTERM to control while another such prestage runs stops
  everything within the documented grace (5 s for the file server, 1 s
  for running verbs);
- a prestage into a full cache succeeds: the eviction thread makes room
  while the fill waits for it."""
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, curl, finish, parse_responses, recv_all  # noqa: E402
from origins import body_of, serve_threaded  # noqa: E402

PIECE = 64 * 1024
SIZE = 4 * PIECE
ANSWER_S = 2.0
GRACE_S = 5.0 + 1.0  # STOP_GRACE_MS + CTL_JOB_GRACE_MS


class GatedOrigin:
    """Serves /gate/<name> and /open/<name> objects of SIZE bytes. A request
    for a /gate/ path is held until the gate opens; `seen` is set when one
    arrives, so a scenario can wait for a fill to be under way."""

    def __init__(self):
        self.gate = threading.Event()
        self.seen = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(30)
                buf = b""
                try:
                    while True:
                        while b"\r\n\r\n" not in buf:
                            chunk = self.request.recv(65536)
                            if not chunk:
                                return
                            buf += chunk
                        head, buf = buf.split(b"\r\n\r\n", 1)
                        outer.answer(self.request, head.decode("latin-1"))
                except OSError:
                    return

        self.server, self.port = serve_threaded(Handler)

    def answer(self, sock, head):
        path = head.split("\r\n")[0].split(" ")[1]
        if path.startswith("/gate/"):
            self.seen.set()
            self.gate.wait(60)
        m = re.search(r"(?i)\r\nrange: bytes=(\d+)-(\d*)", head)
        data = body_of(path, SIZE)
        first = int(m.group(1)) if m else 0
        last = min(int(m.group(2)), SIZE - 1) if m and m.group(2) else SIZE - 1
        body = data[first:last + 1]
        h = ("HTTP/1.1 206 Partial Content\r\nContent-Length: %d\r\nETag: \"v1\"\r\n"
             "Content-Range: bytes %d-%d/%d\r\n\r\n" % (len(body), first, last, SIZE))
        sock.sendall(h.encode() + body)

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def metrics_port(app):
    return int(re.search(r"metrics_listen = 127\.0\.0\.1:(\d+)", open(app.conf).read()).group(1))


def timed(fn):
    t0 = time.time()
    try:
        ok = fn()
    except Exception as e:  # a timeout or a refused connection: not answered
        print("  (%s)" % e)
        ok = False
    return ok, time.time() - t0


def ctl_ok(app, *args):
    return lambda: app.ctl(*args, check_rc=False).returncode == 0


def get_metrics(app):
    def run():
        s = socket.create_connection(("127.0.0.1", metrics_port(app)), timeout=10)
        try:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            data = recv_all(s, 10)
        finally:
            s.close()
        got = parse_responses(data)
        return ([g[0] for g in got] == [200] and got[0][1].get("connection") == "close" and
                b"cachebox_requests_total" in got[0][2])
    return run


def trickle(connect, stop, sent):
    """One byte every 0.8 s; a new connection whenever control closes one."""
    while not stop.is_set():
        try:
            s = connect()
        except OSError:
            stop.wait(0.2)
            continue
        try:
            while not stop.is_set():
                s.sendall(b"G")
                sent[0] += 1
                stop.wait(0.8)
        except OSError:
            pass
        finally:
            s.close()


def storage_pid(app):
    with open(os.path.join(app.state, "storage.pid")) as f:
        return int(f.read())


def slow_clients(app):
    stop = threading.Event()
    mport = metrics_port(app)
    sock_path = os.path.join(app.state, "control.sock")

    def to_metrics():
        return socket.create_connection(("127.0.0.1", mport), timeout=5)

    def to_control():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sock_path)
        return s

    counts = [[0] for _ in range(4)]
    threads = [threading.Thread(target=trickle, args=(c, stop, counts[i]))
               for i, c in enumerate((to_metrics, to_metrics, to_control, to_control))]
    for t in threads:
        t.start()
    try:
        deadline = time.time() + 10
        while time.time() < deadline and min(c[0] for c in counts) < 2:
            time.sleep(0.1)
        check(min(c[0] for c in counts) >= 2, "4 clients trickle bytes: %s" % counts)
        for _ in range(3):
            ok, took = timed(ctl_ok(app, "status"))
            check(ok and took <= ANSWER_S, "status answered under trickling clients in "
                  "%.2f s" % took)
            ok, took = timed(get_metrics(app))
            check(ok and took <= ANSWER_S, "GET /metrics answered under trickling clients in "
                  "%.2f s" % took)
        spid = json.loads(app.ctl("--json", "status").stdout)["storage_pid"]
        check(spid == storage_pid(app), "status and the pid file agree on the file server")
        t0 = time.time()
        os.kill(spid, signal.SIGKILL)
        up = False
        while time.time() - t0 < 5 and not up:
            try:
                up = (storage_pid(app) != spid and
                      app.request("GET", "/_cachebox/health", timeout=0.5)[0] == 200)
            except (OSError, ValueError):
                pass
            if not up:
                time.sleep(0.05)
        check(up, "kill -9 of the file server under trickling clients: a new one answers "
              "health within 5 s (%.2f s)" % (time.time() - t0))
    finally:
        stop.set()
        for t in threads:
            t.join(10)


def metrics_cap(app):
    """8 silent connections take every metrics thread: a ninth is answered
    503 at once, the control socket is not affected, and once they go
    /metrics answers again."""
    mport = metrics_port(app)
    silent = [socket.create_connection(("127.0.0.1", mport), timeout=5) for _ in range(8)]
    try:
        busy = b""
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", mport), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            busy = recv_all(s, 1.5)
            s.close()
            if busy.startswith(b"HTTP/1.1 503"):
                break
        got = parse_responses(busy)
        check([g[0] for g in got] == [503] and got[0][1].get("retry-after") == "1" and
              b"busy" in got[0][2], "a ninth metrics client while 8 are held: 503 busy: %r"
              % busy[:60])
        ok, took = timed(ctl_ok(app, "status"))
        check(ok and took <= ANSWER_S, "the control socket is unaffected (%.2f s)" % took)
    finally:
        for s in silent:
            s.close()
    ok = False
    deadline = time.time() + 5
    while not ok and time.time() < deadline:
        ok, _ = timed(get_metrics(app))
    check(ok, "/metrics answers again once they left")


def long_verbs(app, origin):
    result = {}

    def prestage(name):
        t0 = time.time()
        result[name] = app.ctl("prestage", "http://slow.test/gate/" + name, check_rc=False)
        result[name + "_s"] = time.time() - t0

    t = threading.Thread(target=prestage, args=("a",))
    t.start()
    check(origin.seen.wait(10), "the prestage's fill reached the origin, which holds it")
    for verb in (("status",), ("--json", "stats"), ("list",)):
        ok, took = timed(ctl_ok(app, *verb))
        check(ok and took <= ANSWER_S, "%s answered within 2 s while a prestage runs (%.2f s)"
              % (verb[-1], took))
    ok, took = timed(get_metrics(app))
    check(ok and took <= ANSWER_S, "GET /metrics answered while a prestage runs (%.2f s)" % took)
    check(t.is_alive(), "the prestage was still running meanwhile")
    origin.gate.set()
    t.join(60)
    r = result.get("a")
    check(r is not None and r.returncode == 0 and "complete and verified" in r.stdout,
          "the held prestage completes once the origin answers: %s %s"
          % (r and r.stdout, r and r.stderr))
    got = curl("-o", "-", app.url("/gate/a?cacheHostOrigin=slow.test")).stdout
    check(got == body_of("/gate/a", SIZE), "its bytes are exact")

    # SIGTERM while a prestage waits on its origin.
    origin.gate.clear()
    origin.seen.clear()
    t = threading.Thread(target=prestage, args=("b",))
    t.start()
    check(origin.seen.wait(10), "a second prestage is held by the origin")
    spid = storage_pid(app)
    t0 = time.time()
    app.proc.send_signal(signal.SIGTERM)
    try:
        app.proc.wait(GRACE_S + 2)
    except Exception:
        pass
    took = time.time() - t0
    check(app.proc.poll() is not None and took <= GRACE_S + 0.5,
          "SIGTERM during a prestage: control stopped in %.2f s (grace %.0f s)" % (took, GRACE_S))
    # The file server cuts the fetch stalled on its origin: it needs no SIGKILL
    # after the grace (it used to wait for the origin's 15 s timeout).
    check(took < 2, "the file server stopped by itself, not at the end of the grace: %.2f s"
          % took)
    t.join(10)
    check(not t.is_alive() and result.get("b") is not None and result["b"].returncode != 0,
          "the interrupted prestage got an answer: %s"
          % (result.get("b") and result["b"].stderr.strip()))
    gone = not os.path.exists("/proc/%d" % spid) or "State:\tZ" in open(
        "/proc/%d/status" % spid).read()
    check(gone, "the file server stopped with it")
    origin.gate.set()
    app.stop()


def listing(app):
    return {o["key"]: o for o in json.loads(app.ctl("--json", "list").stdout)}


def full_cache(app):
    """absolute_max_cache_size holds 4 objects; a fifth is prestaged into it."""
    keys = ["slow.test/open/%d" % i for i in range(4)]
    for _ in range(3):
        # The eviction pass publishes the shard's usage once a second and no
        # figure shows it: fill what is missing, then wait an interval and a
        # half so the next fill sees the cache as full.
        have = listing(app)
        for k in keys:
            if k not in have or not have[k]["complete"]:
                curl("-o", "/dev/null", app.url("/open/%s?cacheHostOrigin=slow.test"
                                                % k.rsplit("/", 1)[1]))
        time.sleep(1.5)
        objs = listing(app)
        if sorted(objs) == keys and all(o["complete"] for o in objs.values()):
            break
    check(sorted(objs) == keys and all(o["complete"] for o in objs.values()),
          "the cache is full: %d objects, %d bytes" % (len(objs),
                                                       sum(o["size"] for o in objs.values())))
    ok, took = timed(ctl_ok(app, "prestage", "http://slow.test/open/4"))
    check(ok, "a prestage into the full cache succeeds (%.2f s): eviction ran meanwhile" % took)
    objs = listing(app)
    check("slow.test/open/4" in objs and objs["slow.test/open/4"]["complete"]
          and sum(o["size"] for o in objs.values()) <= 4 * SIZE,
          "the prestaged object is in, the cache within its limit: %s" % sorted(objs))
    check("room asked for a fill" in app.logs(), "the eviction says it made room for the fill")
    got = curl("-o", "-", app.url("/open/4?cacheHostOrigin=slow.test")).stdout
    check(got == body_of("/open/4", SIZE), "and its bytes are exact")


def appliance(origin, *extra):
    app = Appliance(origins=(), piece_size="64K",
                    storage_extra=("min_free_space = 0", "max_cache_size_percent = 100") + extra)
    with open(app.conf, "a") as f:
        f.write("[origin slow.test]\nupstream = http://127.0.0.1:%d\n" % origin.port)
    return app


def main():
    origin = GatedOrigin()
    app = appliance(origin)
    full = appliance(origin, "absolute_max_cache_size = %d" % (4 * SIZE))
    try:
        app.start()
        slow_clients(app)
        metrics_cap(app)
        long_verbs(app, origin)
        full.start()
        full_cache(full)
    finally:
        origin.stop()
        app.cleanup()
        full.cleanup()
    finish()


main()
