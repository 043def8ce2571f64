#!/usr/bin/env python3
"""Eviction and quotas, against a real origin (Debian's nginx):

- absolute_max_cache_size = 20 MiB while 4 MiB objects are filled one after
  another, a slow reader is active and one object is pinned: the files on
  the shard never take more than the limit plus one piece, the reader gets
  exact bytes, the pinned object stays.
- a per-origin quota holds.
- `evict --to-size` and `evict --older-than`, `pin` / `unpin`.
- max_cache_age: an object unused for longer is evicted."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, curl, finish, make_file, wait_until  # noqa: E402
from origins import nginx_origin, www_file  # noqa: E402

PIECE = 256 * 1024
OBJ = 4 * 1024 * 1024
LIMIT = 20 * 1024 * 1024


def disk_use(root):
    total = 0
    for d, _, files in os.walk(root):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def listing(app):
    return app.listing()


def main():
    app = Appliance(origins=(), piece_size="256K",
                    storage_extra=("absolute_max_cache_size = 20M", "min_free_space = 0",
                                   "max_cache_size_percent = 100"))
    nginx, www = nginx_origin(app, ("a.test",))
    app.add_origin("q.test", "http://127.0.0.1:%d" % nginx.port, "quota = 9M")
    for i in range(12):
        make_file(os.path.join(www, "o%d.bin" % i), OBJ, seed=100 + i)

    def data(i):
        return www_file(www, "o%d.bin" % i)

    def url(i, origin="a.test"):
        return app.fill_url("o%d.bin" % i, origin)

    try:
        app.start()
        r = curl("-o", "-", url(0))
        check(r.stdout == data(0), "object 0 filled")
        app.ctl("pin", "http://a.test/o0.bin")
        check(listing(app)["a.test/o0.bin"]["pinned"], "object 0 is pinned")

        # Load: a slow reader on object 1 and fills of objects 2..11, sampled.
        peak = [0]
        done = threading.Event()

        def sample():
            for _ in range(2000):
                if done.is_set():
                    break
                peak[0] = max(peak[0], disk_use(app.shard))
                time.sleep(0.02)  # the sampling interval

        slow = {"got": 0}

        def slow_reader():
            # 64 KiB every 50 ms: about 1.3 MB/s, some 3 s for the object.
            s = socket.create_connection(("127.0.0.1", app.port), timeout=10)
            s.sendall(b"GET /o1.bin?cacheHostOrigin=a.test HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            buf = b""
            for _ in range(2000):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                slow["got"] = len(buf)
                time.sleep(0.05)  # the reader's pace is the test
            s.close()
            slow["r"] = buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in buf else b""

        curl("-o", "/dev/null", url(1))  # cached first, then read slowly
        t = threading.Thread(target=sample)
        t.start()
        rt = threading.Thread(target=slow_reader)
        rt.start()
        wait_until(lambda: slow["got"] > 256 * 1024, 5, "the slow reader is reading object 1")
        # Removed under its reader (by the operator here; the policy does the same).
        app.ctl("evict", "http://a.test/o1.bin")
        check(rt.is_alive(), "object 1 was removed while its reader was still reading")
        ok = True
        for i in range(2, 12):
            r = curl("-o", "-", url(i))
            ok = ok and r.stdout == data(i)
        rt.join()
        done.set()
        t.join()
        check(ok, "10 fills through a full cache: every answer exact")
        check(slow["r"] == data(1), "the slow reader got exact bytes although its "
              "object was evicted under it")
        check(peak[0] <= LIMIT + PIECE, "the shard's files never above the limit plus one "
              "piece: peak %.2f MiB, limit 20 MiB" % (peak[0] / 2**20))
        objs = listing(app)
        check("a.test/o0.bin" in objs, "the pinned object is still cached")
        check(sum(o["size"] for o in objs.values()) <= LIMIT,
              "sizes within the limit: %d objects" % len(objs))
        check("evicted" in app.logs() and "absolute_max_cache_size" in app.logs(),
              "evictions are logged with their reason")
        r = curl("-o", "-", url(0))
        check(r.stdout == data(0), "the pinned object is still served")

        # A quota of 9 MiB for q.test: three 4 MiB objects leave two. The cache
        # is emptied down to the pinned object first, so that the 20 MiB limit
        # does not take part: only the quota may evict q.test objects here.
        app.ctl("evict", "--to-size", "4M")
        check(sum(o["size"] for o in listing(app).values()) <= 4 * 2**20,
              "room made for the quota test")
        for i in range(3):
            curl("-o", "/dev/null", url(i, "q.test"))
            time.sleep(0.3)  # apart in time of last use: the oldest is the one to go

        def quota_kept():
            return [k for k in listing(app) if k.startswith("q.test/")]

        # an eviction pass runs once a second
        wait_until(lambda: len(quota_kept()) == 2, 5, "q.test within its 9 MiB quota")
        time.sleep(1.5)  # more passes go by (the test): no more than needed is evicted
        check(len(quota_kept()) == 2, "q.test keeps two objects: %s" % quota_kept())

        # The operator's verbs.
        app.ctl("unpin", "http://a.test/o0.bin")
        check(not listing(app)["a.test/o0.bin"]["pinned"], "unpin")
        app.ctl("pin", "http://a.test/o0.bin")
        r = app.ctl_json("evict", "--to-size", "6M")
        objs = listing(app)
        check(sum(o["size"] for o in objs.values()) <= 6 * 2**20 and "a.test/o0.bin" in objs,
              "evict --to-size 6M: %d evicted, the pinned one kept: %s" % (r["evicted"],
                                                                          list(objs)))
        time.sleep(1.2)  # the objects age: letting time pass is the test
        r = app.ctl_json("evict", "--older-than", "1s")
        objs = listing(app)
        check(list(objs) == ["a.test/o0.bin"], "evict --older-than 1s leaves the pinned one: %s"
              % list(objs))
        r = app.ctl("evict", "--to-size", "lots", check_rc=False)
        check(r.returncode != 0 and "--to-size SIZE" in r.stderr, "a bad size is refused: %s"
              % r.stderr.strip())
    finally:
        app.stop()

    # max_cache_age: unused for 2 s, evicted (the pinned one stays).
    with open(app.conf, "a") as f:
        f.write("[storage]\nmax_cache_age = 2s\n")
    try:
        app.start()
        curl("-o", "/dev/null", url(5))
        check("a.test/o5.bin" in listing(app), "object 5 cached")
        time.sleep(5.5)  # unused > 2 s in whole seconds, and a pass (1 s) after that
        objs = listing(app)
        check("a.test/o5.bin" not in objs and "a.test/o0.bin" in objs,
              "max_cache_age: the unused object went, the pinned one stayed: %s" % list(objs))
    finally:
        nginx.stop()
        app.cleanup()
    finish()


main()
