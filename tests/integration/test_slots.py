#!/usr/bin/env python3
"""Client slots (max_clients = 3), with real curl clients from distinct
loopback addresses and a per-client cap so that each download lasts about
2 s on the server's side:

- 4 clients: at most 3 served at once; the 4th is served when a slot frees.
- 10 clients, queue_timeout 5 s: the first 6 arrivals are served, in
  arrival order; the other 4 get 503 with Retry-After after the wait.
- 1000 clients aborting mid-body (and while queued), in waves: afterwards 0
  active and 0 queued slots within 1 s, and the file server's fd count back
  to its baseline.
- a client that stops reading is closed by the stalled-reader timeout and
  its slot freed within a second of it.
- `cacheboxctl limits` changes the limit at run time, and stats and the
  Prometheus endpoint count the rejections."""
import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, finish, make_file, read_file, wait_until  # noqa: E402

SIZE = 4 * 1024 * 1024  # at 16 Mbit/s per client: 2 s


def run_clients(app, n, first_host, gap):
    """n curl clients from 127.0.0.<first_host + i>, launched gap s apart.
    Returns dicts with launch time, first byte and end (absolute), status,
    body digest and Retry-After."""
    url = app.url("/obj.bin?cacheHostOrigin=dl.example.com")
    out = []
    procs = []
    for i in range(n):
        body = os.path.join(app.dir, "body%d" % i)
        hdr = os.path.join(app.dir, "hdr%d" % i)
        t0 = time.time()
        p = subprocess.Popen(
            ["curl", "-s", "--max-time", "30", "--interface", "127.0.0.%d" % (first_host + i),
             "-o", body, "-D", hdr, "-w", "%{http_code} %{time_starttransfer} %{time_total}",
             url], stdout=subprocess.PIPE, text=True)
        procs.append((t0, p, body, hdr))
        time.sleep(gap)
    for t0, p, body, hdr in procs:
        stdout, _ = p.communicate(timeout=60)
        code, ttfb, total = stdout.split()
        with open(body, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        headers = open(hdr).read().lower()
        retry = None
        for line in headers.splitlines():
            if line.startswith("retry-after:"):
                retry = line.split(":", 1)[1].strip()
        out.append({"launch": t0, "start": t0 + float(ttfb), "end": t0 + float(total),
                    "status": int(code), "sha": digest, "retry": retry})
    return out


def max_overlap(intervals):
    events = sorted([(s, 1) for s, e in intervals] + [(e, -1) for s, e in intervals])
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def stats(app):
    return app.stats()


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def abort_wave(app, hosts, read_bytes, hold=0.0):
    """Each host opens a connection, asks for the object, reads up to
    read_bytes of the answer (0: nothing) or waits hold s, then resets the
    connection."""
    socks = []
    req = ("GET /obj.bin?cacheHostOrigin=dl.example.com HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    for h in hosts:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.bind((h, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", app.port))
        s.sendall(req)
        socks.append(s)
    got_body = 0
    time.sleep(hold)
    for s in socks:
        if read_bytes:
            seen = b""
            try:
                while len(seen) < read_bytes:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    seen += chunk
            except socket.timeout:
                pass
            if b"\r\n\r\n" in seen and len(seen.split(b"\r\n\r\n", 1)[1]) > 0:
                got_body += 1
        s.close()  # SO_LINGER 0: a reset, mid-body or while queued
    return got_body


def main():
    app = Appliance(extra="[limits]\nmax_clients = 3\nqueue_timeout = 20s\n"
                          "max_bandwidth_per_client = 16M\n")
    src = make_file(os.path.join(app.dir, "obj.bin"), SIZE, seed=11)
    want = hashlib.sha256(read_file(src)).hexdigest()
    try:
        app.start()
        app.import_file(src, "http://dl.example.com/obj.bin")

        # 4 clients against 3 slots.
        seen = {"max_active": 0, "max_queued": 0}
        done = threading.Event()

        def watch():
            for _ in range(200):
                if done.is_set():
                    break
                s = stats(app)
                seen["max_active"] = max(seen["max_active"], s["clients_active"])
                seen["max_queued"] = max(seen["max_queued"], s["clients_queued"])
                time.sleep(0.05)  # the sampling interval

        t = threading.Thread(target=watch)
        t.start()
        res = run_clients(app, 4, 11, 0.15)
        done.set()
        t.join()
        check(all(r["status"] == 200 and r["sha"] == want for r in res),
              "4 clients: all 200 with the exact bytes: %s" % [r["status"] for r in res])
        check(max_overlap([(r["start"], r["end"]) for r in res]) <= 3,
              "4 clients: never more than 3 served at once")
        first_end = min(r["end"] for r in res[:3])
        check(res[3]["start"] >= first_end - 0.05,
              "the 4th is served only once a slot is free (first byte %.2f s after the first "
              "end)" % (res[3]["start"] - first_end))
        check(seen["max_active"] == 3 and seen["max_queued"] == 1,
              "stats saw 3 active and 1 queued at most: %s" % seen)

        # 10 clients, a shorter queue wait: 6 served in arrival order, 4 turned away.
        # 4 s downloads, arrivals 0.3 s apart: the first 3 end 0.3 s apart, so
        # the slots free one by one; the next 3 are served; the last 4 would
        # not get a slot before 8.9 s and time out by 7.7 s.
        app.limits("--queue-timeout", "5s", "--max-bandwidth-per-client", "8M")
        res = run_clients(app, 10, 21, 0.3)
        codes = [r["status"] for r in res]
        check(codes == [200] * 6 + [503] * 4, "10 clients: the first 6 served, 4 got 503: %s"
              % codes)
        served = [r for r in res if r["status"] == 200]
        check(all(r["sha"] == want for r in served), "the served ones got the exact bytes")
        check(max_overlap([(r["start"], r["end"]) for r in served]) <= 3,
              "10 clients: never more than 3 served at once")
        starts = [r["start"] for r in served]
        check(starts == sorted(starts), "waiters were served in arrival order")
        refused = [r for r in res if r["status"] == 503]
        check(all(r["retry"] and r["retry"].isdigit() for r in refused),
              "every 503 carries Retry-After: %s" % [r["retry"] for r in refused])
        waited = [r["start"] - r["launch"] for r in refused]
        check(all(4.9 <= w <= 6.5 for w in waited),
              "the 503s came after the 5 s queue wait: %s" % ["%.2f" % w for w in waited])
        s = stats(app)
        check(s["rejected_busy"] == 4, "stats counts 4 busy rejections: %d" % s["rejected_busy"])
        m = app.metrics()
        busy = m.get(("cachebox_rejected_total", (("reason", "busy"),)))
        check(busy == 4, "the metrics endpoint counts them too: %s" % busy)

        # 1000 clients aborting: mid-body (100 slots) and while queued.
        app.limits("--max-clients", "100", "--max-bandwidth-per-client", "0",
                   "--queue-timeout", "20s")
        pid = app.storage_pid()
        last = [-1]

        def fds_settled():  # the 10 clients' connections closed: the same count twice
            n = fd_count(pid)
            same, last[0] = n == last[0], n
            return same and stats(app)["clients_active"] == 0

        wait_until(fds_settled, 5, "the file server's fds settle before the baseline",
                   interval=0.3)
        base = fd_count(pid)
        hosts = ["127.0.%d.%d" % (1 + i // 250, 1 + i % 250) for i in range(1000)]
        t0 = time.time()
        mid_body = 0
        for w in range(8):  # 8 waves of 100: all within the limit, each reads some body
            mid_body += abort_wave(app, hosts[w * 100:(w + 1) * 100], 256 * 1024)
        # 200 at once against 100 slots: half abort mid-body, half while queued.
        app.limits("--max-bandwidth-per-client", "8M")
        abort_wave(app, hosts[800:], 0, hold=0.5)
        check(mid_body >= 700, "at least 700 clients got body bytes before aborting: %d"
              % mid_body)

        def slots_free():
            s = stats(app)
            return s["clients_active"] == 0 and s["clients_queued"] == 0

        wait_until(slots_free, 3, "after 1000 aborts: 0 active, 0 queued", interval=0.1)
        print("slots free %.1f s after the first wave" % (time.time() - t0))
        wait_until(lambda: fd_count(pid) <= base, 5, "fd count back to its baseline %d" % base,
                   interval=0.1)
        # A client that asks and then stops reading: the stalled-reader
        # timeout (idle_timeout, 5 s here) closes it and its slot is free
        # within a second after that.
        app.limits("--max-bandwidth-per-client", "0")
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.bind(("127.0.0.251", 0))
        stuck.connect(("127.0.0.1", app.port))
        # Four pipelined: 16 MiB is more than the socket buffers take.
        stuck.sendall(b"GET /obj.bin?cacheHostOrigin=dl.example.com HTTP/1.1\r\nHost: x\r\n\r\n"
                      * 4)
        wait_until(lambda: stats(app)["clients_active"] == 1, 3, "the stalled client holds a slot")
        t0 = time.time()
        time.sleep(1)  # the buffers fill and the stall begins: the timeout counts from it
        check(stats(app)["clients_active"] == 1, "the stalled client still holds its slot")
        wait_until(lambda: stats(app)["clients_active"] == 0, 10,
                   "the stalled client's slot is freed", interval=0.1)
        freed = time.time() - t0
        check(freed <= 1 + 5 + 1.5,
              "its slot is free once the timeout closed it: %.1f s after the stall began "
              "(idle_timeout 5 s)" % freed)
        stuck.close()
        # And the box still serves.
        res = run_clients(app, 1, 250, 0)
        check(res[0]["status"] == 200 and res[0]["sha"] == want, "still serving afterwards")
    finally:
        app.cleanup()
    finish()


main()
