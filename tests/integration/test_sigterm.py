#!/usr/bin/env python3
"""SIGTERM to cachebox-control with 20 transfers in flight, then a restart
on the same state directory.

The transfers, each from its own loopback address at 16 Mbit/s
(max_bandwidth_per_client): 6 cached objects that take about 1.5 s, 4
cached ones that take about 6 s, 8 objects still filling from a slow origin
(nginx, limit_rate) and 2 ranged requests of filling objects. SIGTERM comes
about 0.8 s in. The file server drains (docs/storage.md, STOP_DRAIN_MS 3 s):
no new connection, responses in flight run on for up to 3 s, then what is
left is cut. So:

- control exits within the drain time plus a margin (5 s), without having
  to kill the file server (no "did not stop" line);
- every transfer either ended with exactly Content-Length bytes that match
  the origin's (sha256), or was closed short: never a complete-looking
  wrong body, never more bytes than announced;
- the drain did something: transfers that were in flight at SIGTERM
  completed after it, and the long ones were cut, not waited for;
- a connection attempt during the drain is refused or closed unanswered;
- restarted on the same state directory, the box comes up clean and serves
  every object, full and ranged, with the origin's exact bytes; what the
  cut fills left incomplete is listed incomplete, not complete."""
import hashlib
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, finish, make_file, read_file, seed_of  # noqa: E402
from origins import nginx_origin  # noqa: E402

DRAIN_S = 3.0  # STOP_DRAIN_MS in storage/st_srv.h, documented in docs/storage.md
STOP_MARGIN_S = 2.0
RATE_BPS = 16 * 1000 * 1000 // 8
SHORT = 3 * 1024 * 1024 + 11  # about 1.5 s at RATE_BPS
LONG = 12 * 1024 * 1024 + 13  # about 6 s
FILL = 1024 * 1024 + 17  # from nginx at limit_rate 48k: several seconds for all 10
TERM_AFTER_S = 0.8


class Transfer(threading.Thread):
    """One GET on a raw socket from addr; records the head, the body bytes
    and when and how it ended."""

    def __init__(self, port, addr, path, rng=None):
        super().__init__()
        self.port, self.addr, self.path, self.rng = port, addr, path, rng
        self.status, self.length, self.body, self.end, self.how = 0, None, b"", None, ""

    def run(self):
        s = socket.socket()
        s.bind((self.addr, 0))
        s.settimeout(20)
        buf = b""
        try:
            s.connect(("127.0.0.1", self.port))
            head = "GET %s HTTP/1.1\r\nHost: x\r\n" % self.path
            if self.rng:
                head += "Range: bytes=%d-%d\r\n" % self.rng
            s.sendall((head + "Connection: close\r\n\r\n").encode())
            for _ in range(1 << 20):
                b = s.recv(1 << 16)
                if not b:
                    self.how = "eof"
                    break
                buf += b
                if self.length is None and b"\r\n\r\n" in buf:
                    self.parse_head(buf)
        except ConnectionResetError:
            self.how = "reset"
        except OSError as e:
            self.how = "error %s" % e
        finally:
            s.close()
            self.end = time.monotonic()
        if self.length is None and b"\r\n\r\n" in buf:
            self.parse_head(buf)
        if b"\r\n\r\n" in buf:
            self.body = buf.split(b"\r\n\r\n", 1)[1]

    def parse_head(self, buf):
        lines = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            if k.strip().lower() == "content-length":
                self.length = int(v)


def main():
    app = Appliance(origins=(), extra="[limits]\nmax_clients = 50\nqueue_timeout = 5s\n"
                                      "max_bandwidth_per_client = 16M\n")
    nginx, www = nginx_origin(app, names=("origin.test",),
                              limit_rate="48k")
    data, paths = {}, []
    for i in range(10):
        n = "cached-%d.bin" % i
        make_file(os.path.join(www, n), SHORT if i < 6 else LONG, seed=seed_of(n))
        data[n] = read_file(os.path.join(www, n))
    for i in range(10):
        n = "fill-%d.bin" % i
        make_file(os.path.join(www, n), FILL, seed=seed_of(n))
        data[n] = read_file(os.path.join(www, n))
    t_all = time.monotonic()
    try:
        app.start()
        for i in range(10):
            n = "cached-%d.bin" % i
            app.import_file(os.path.join(www, n), "http://origin.test/" + n)
        transfers = []
        for i in range(10):
            n = "cached-%d.bin" % i
            transfers.append((n, None, Transfer(app.port, "127.2.0.%d" % (i + 1),
                                                "/%s?cacheHostOrigin=origin.test" % n)))
        for i in range(10):
            n = "fill-%d.bin" % i
            rng = (1000 + i, 60000 + i) if i >= 8 else None
            transfers.append((n, rng, Transfer(app.port, "127.2.1.%d" % (i + 1),
                                               "/%s?cacheHostOrigin=origin.test" % n, rng)))
        t0 = time.monotonic()
        for _, _, t in transfers:
            t.start()
        time.sleep(TERM_AFTER_S)
        in_flight = [x for x in transfers if x[2].end is None]
        check(len(in_flight) >= 18, "%d transfers in flight at SIGTERM" % len(in_flight))
        st = app.stats()
        check(st["clients_active"] >= 15, "the box serves %d clients at SIGTERM"
              % st["clients_active"])
        t_term = time.monotonic()
        app.proc.send_signal(signal.SIGTERM)
        # A new connection during the drain: refused, or closed unanswered.
        time.sleep(0.3)
        late = b""
        try:
            s = socket.create_connection(("127.0.0.1", app.port), timeout=2)
            s.sendall(b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                late = s.recv(100)
            except OSError:
                pass
            s.close()
        except OSError:
            pass
        check(late == b"", "a connection during the drain is not served: %r" % late[:40])
        try:
            app.proc.wait(DRAIN_S + STOP_MARGIN_S + 5)
        except Exception:
            pass
        stopped = time.monotonic() - t_term
        check(app.proc.poll() is not None and stopped <= DRAIN_S + STOP_MARGIN_S,
              "control stopped %.1f s after SIGTERM (drain %.0f s + %.0f s)"
              % (stopped, DRAIN_S, STOP_MARGIN_S))
        if app.proc.poll() is None:
            app.proc.kill()
            app.proc.wait()
        app.proc = None
        app.log.close()
        app.log = None
        check("did not stop within" not in app.logs(),
              "control did not have to kill the file server")
        for _, _, t in transfers:
            t.join(30)
        complete, short, after = 0, 0, 0
        for n, rng, t in transfers:
            want = data[n] if rng is None else data[n][rng[0]:rng[1] + 1]
            if t.length is not None and len(t.body) == t.length:
                complete += 1
                after += t.end > t_term
                check(t.status in (200, 206) and t.body == want,
                      "%s%s: complete, status %d, %d bytes: exact (sha256 %s vs %s)"
                      % (n, rng or "", t.status, len(t.body),
                         hashlib.sha256(t.body).hexdigest()[:12],
                         hashlib.sha256(want).hexdigest()[:12]))
            else:
                short += 1
                check(t.length is None or len(t.body) < t.length,
                      "%s: cut short, never longer than announced (%d of %s, %s)"
                      % (n, len(t.body), t.length, t.how))
                check(want.startswith(t.body) or t.status not in (200, 206),
                      "%s: what came of a cut transfer is a prefix of the right bytes" % n)
                check(t.end is not None and t.end - t_term <= DRAIN_S + STOP_MARGIN_S,
                      "%s: cut within the drain time (%.1f s after SIGTERM)"
                      % (n, (t.end or 0) - t_term))
        print("at SIGTERM +%.1f s: %d complete (%d finished during the drain), %d cut short; "
              "stopped in %.1f s" % (t_term - t0, complete, after, short, stopped))
        check(after >= 3, "transfers in flight at SIGTERM finished during the drain: %d" % after)
        check(short >= 4, "the long ones were cut at the drain's end, not waited for: %d" % short)
        # Restart on the same state directory.
        t1 = time.monotonic()
        app.start()
        print("restarted in %.1f s" % (time.monotonic() - t1))
        lst = app.listing()
        for n in sorted(data):
            o = lst.get("origin.test/" + n)
            if o and o["complete"]:
                check(o["size"] == len(data[n]), "%s: listed complete at its size" % n)
        app.limits("--max-bandwidth-per-client", "0")
        got = {}

        def fetch(n):
            path = "/%s?cacheHostOrigin=origin.test" % n
            a, b = len(data[n]) // 3, len(data[n]) // 3 + 70000
            got[n] = (app.request("GET", path, timeout=60),
                      app.request("GET", path, {"Range": "bytes=%d-%d" % (a, b)}, timeout=60),
                      a, b)

        threads = [threading.Thread(target=fetch, args=(n,)) for n in sorted(data)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        for n in sorted(data):
            if not check(n in got, "%s: fetched after the restart" % n):
                continue
            (st_, _, body), (st_r, _, body_r), a, b = got[n]
            check(st_ == 200 and body == data[n], "after the restart %s is served exact (%d, "
                  "%d of %d bytes)" % (n, st_, len(body), len(data[n])))
            check(st_r == 206 and body_r == data[n][a:b + 1], "and ranged %d-%d exact (%d)"
                  % (a, b, st_r))
        incomplete_before = [n for n in data if n.startswith("fill-")
                             and not (lst.get("origin.test/" + n) or {}).get("complete")]
        check(incomplete_before, "some cut fills were left incomplete (and listed so): %s"
              % incomplete_before)
    finally:
        nginx.stop()
        app.cleanup()
    print("test_sigterm: %.1f s" % (time.monotonic() - t_all))
    finish()


if __name__ == "__main__":
    main()
