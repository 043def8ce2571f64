#!/usr/bin/env python3
"""Bandwidth caps, measured by the clients:

- max_bandwidth_served = 40 Mbit/s for 30 s, three clients from distinct
  addresses fetching a 16 MiB object again and again: every 10 s window
  within ±2 % of 5 MB/s, and every byte exact.
- max_bandwidth_per_client: one client alone gets its own cap.
- the business-hours switch, with the clock moved (CACHEBOX_CLOCK_OFFSET) to
  07:59:54: 64 Mbit/s until 08:00, then the window's 16 Mbit/s."""
import hashlib
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, finish, make_file, read_file  # noqa: E402
from origins import read_head  # noqa: E402

SIZE = 16 * 1024 * 1024


class Reader(threading.Thread):
    """Downloads the object again and again from one source address until
    stopped, counting body bytes as they arrive and checking each copy."""

    def __init__(self, app, host, want):
        super().__init__(daemon=True)
        self.app, self.host, self.want = app, host, want
        self.bytes = 0
        self.copies = 0
        self.bad = 0
        self.reconnects = 0  # one socket for the whole run: any drop ends it
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        req = b"GET /obj.bin?cacheHostOrigin=dl.example.com HTTP/1.1\r\nHost: x\r\n\r\n"
        s = socket.socket()
        s.bind((self.host, 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", self.app.port))
        for _ in range(1000):
            if self.stop.is_set():
                break
            s.sendall(req)
            head, body = read_head(s, b"")
            if head is None:
                self.reconnects += 1
                return
            h = hashlib.sha256(body)
            got = len(body)
            with self.lock:
                self.bytes += got
            while got < SIZE and not self.stop.is_set():
                chunk = s.recv(1 << 20)
                if not chunk:
                    self.reconnects += 1
                    return
                h.update(chunk)
                got += len(chunk)
                with self.lock:
                    self.bytes += len(chunk)
            if got == SIZE:
                self.copies += 1
                if h.hexdigest() != self.want:
                    self.bad += 1
        s.close()

    def count(self):
        with self.lock:
            return self.bytes


def total(readers):
    return sum(r.count() for r in readers)


def main():
    app = Appliance(extra="[limits]\nmax_clients = 10\nmax_bandwidth_served = 40M\n")
    src = make_file(os.path.join(app.dir, "obj.bin"), SIZE, seed=31)
    want = hashlib.sha256(read_file(src)).hexdigest()
    try:
        app.start()
        app.import_file(src, "http://dl.example.com/obj.bin")
        readers = [Reader(app, "127.0.0.%d" % (61 + i), want) for i in range(3)]
        for r in readers:
            r.start()
        time.sleep(2)  # past the first burst: letting time pass is the test
        s = app.stats()
        check(s["month_uploaded"] >= 5e6 and s["bytes_served"] >= 5e6,
              "downloads in progress are counted as they go: %d bytes after 2 s, none finished"
              % s["month_uploaded"])
        rate = 40e6 / 8
        marks = [(time.monotonic(), total(readers))]
        for _ in range(3):
            time.sleep(10)  # a 10 s measurement window
            marks.append((time.monotonic(), total(readers)))
        for r in readers:
            r.stop.set()
        for (t0, b0), (t1, b1) in zip(marks, marks[1:]):
            got = (b1 - b0) / (t1 - t0)
            check(abs(got - rate) / rate <= 0.02,
                  "10 s window: %.3f MB/s against the 5 MB/s cap (%+.2f %%)"
                  % (got / 1e6, (got - rate) / rate * 100))
        for r in readers:
            r.join(15)
        check(all(r.bad == 0 for r in readers) and sum(r.copies for r in readers) >= 6,
              "every copy exact: %d copies" % sum(r.copies for r in readers))
        shares = [r.count() for r in readers]
        check(min(shares) > 0.2 * sum(shares), "no client starved: %s" % shares)

        # Per client: one client alone, 16 Mbit/s, the global cap lifted.
        app.limits("--max-bandwidth-served", "0", "--max-bandwidth-per-client", "16M")
        r = Reader(app, "127.0.0.70", want)
        r.start()
        time.sleep(1)  # past the first burst
        t0, b0 = time.monotonic(), r.count()
        time.sleep(5)  # the measurement window
        got = (r.count() - b0) / (time.monotonic() - t0)
        check(abs(got - 2e6) / 2e6 <= 0.03, "per-client cap: %.3f MB/s against 2 MB/s"
              % (got / 1e6))
        # Raised at run time, under the same connection.
        app.limits("--max-bandwidth-per-client", "32M")
        time.sleep(0.5)  # the new rate's first burst passes
        t0, b0 = time.monotonic(), r.count()
        time.sleep(4)  # the measurement window
        got = (r.count() - b0) / (time.monotonic() - t0)
        r.stop.set()
        r.join(15)
        check(abs(got - 4e6) / 4e6 <= 0.05 and r.is_alive() is False and r.bad == 0,
              "raised to 32 Mbit/s on the same connection: %.3f MB/s" % (got / 1e6))
        check(r.reconnects == 0, "the connection was never dropped")
    finally:
        app.cleanup()

    # The business-hours switch, on a clock moved to 07:59:54 local time.
    now = time.time()
    lt = time.localtime(now)
    target = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 7, 59, 54, 0, 0, -1))
    os.environ["CACHEBOX_CLOCK_OFFSET"] = str(int(round(target - now)))
    app = Appliance(extra="[limits]\nmax_clients = 10\nmax_bandwidth_served = 64M\n"
                          "business_hours = 08:00-18:00\nbusiness_hours_max_bandwidth = 16M\n")
    make_file(os.path.join(app.dir, "obj.bin"), SIZE, seed=31)
    try:
        t_start = time.time()
        app.start()
        switch = t_start + 6  # 08:00:00 on the box's clock
        app.import_file(os.path.join(app.dir, "obj.bin"), "http://dl.example.com/obj.bin")
        r = Reader(app, "127.0.0.80", want)
        r.start()
        samples = []
        for _ in range(300):
            samples.append((time.time(), r.count()))
            if time.time() > switch + 6:
                break
            time.sleep(0.1)  # the sampling interval
        r.stop.set()
        r.join(15)

        def rate_between(a, b):
            pts = [s for s in samples if a <= s[0] <= b]
            return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])

        before = rate_between(switch - 3.5, switch - 0.5)
        after = rate_between(switch + 1.5, switch + 5.5)
        check(abs(before - 8e6) / 8e6 <= 0.05, "before 08:00: %.2f MB/s (cap 8 MB/s)"
              % (before / 1e6))
        check(abs(after - 2e6) / 2e6 <= 0.05, "after 08:00: %.2f MB/s (business-hours cap "
              "2 MB/s)" % (after / 1e6))
        check(r.bad == 0, "bytes exact across the switch")
        s = app.ctl("stats").stdout
        check("(business hours)" in s, "stats says business hours are on: %s"
              % [ln for ln in s.splitlines() if "bandwidth" in ln])
        s = app.stats()
        check(s["business_hours_now"] is True and s["limits"]["business_hours"] == "08:00-18:00",
              "stats --json says business hours are on: %s" % {
                  k: s[k] for k in ("business_hours_now", "bandwidth_cap_now")})
    finally:
        del os.environ["CACHEBOX_CLOCK_OFFSET"]
        app.cleanup()
    finish()


main()
