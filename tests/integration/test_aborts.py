#!/usr/bin/env python3
"""1000 clients abort at random offsets while their objects are still
filling from a slow origin (Debian's nginx with limit_rate), full and
ranged requests, from distinct loopback addresses, CLIENT_THREADS at once:

- some reset the connection (SO_LINGER 0) after a random number of bytes,
  some close it politely, some before any answer, some while queued for a
  slot (max_clients 60, 100 clients at once); each gives up within 2 s,
  before the queue wait (3 s) ends, so no 503 may be logged after the
  whole wait: a client that left while queued is dropped at once;
- afterwards, once the fills are over: 0 active and 0 queued slots
  (`cacheboxctl stats --json`), no fill left running, the file server's
  socket and pipe descriptors back to their baseline (only the objects'
  own files, at most one each, are new), and the next client gets exact
  bytes (sha256 of the origin's file) for every object, full and ranged;
- under the ASan build, LeakSanitizer reports at exit: the Appliance's log
  scan fails the scenario on it.

test_slots.py aborts clients of an object already cached; this one aborts
them while the box is filling, where the fill's waiters, its pieces in
flight and the slots meet."""
import hashlib
import os
import random
import re
import socket
import subprocess
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, check, finish, make_file, parse_responses, read_file,  # noqa: E402
                    recv_all, seed_of, wait_until)
from origins import nginx_origin  # noqa: E402

PIECE = 64 * 1024
OBJS = 5
OBJ_SIZE = 3 * 1024 * 1024 + 777  # 8 fetch threads x 192 KiB/s (limit_rate 48k): 10 s for all
CLIENTS = 1000
CLIENT_THREADS = 100
CLIENT_READ_S = (0.2, 2.0)  # a client aborts after its offset or after a random time in this
ABORT_PHASE_S = 25  # bound on the whole abort phase


def fd_kinds(pid):
    """The file server's descriptors by kind: {"socket": n, "pipe": n, "file": n, ...}."""
    out = {}
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            t = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        kind = t.split(":", 1)[0] if ":" in t and not t.startswith("/") else "file"
        out[kind] = out.get(kind, 0) + 1
    return out


def origin_conns(nginx_port):
    """The box's connections to the origin, in any state: its fetch threads
    keep one each open between fills (keep-alive), which is no leak."""
    r = subprocess.run(["ss", "-tanH", "( dport = :%d )" % nginx_port], capture_output=True,
                       text=True, timeout=10)
    return len([ln for ln in r.stdout.splitlines() if ln.strip()
                and not ln.startswith("TIME-WAIT")])


def client_conns(port):
    """Connections on the box's port, its side, in any state but TIME-WAIT and LISTEN."""
    r = subprocess.run(["ss", "-tanH", "( sport = :%d )" % port], capture_output=True,
                       text=True, timeout=10)
    return [ln for ln in r.stdout.splitlines() if ln.strip()
            and not ln.split()[0] in ("TIME-WAIT", "LISTEN")]


def abort_client(app, addr, path, size, rnd, tally):
    """One client from addr: asks for path (full, or a random range), reads a
    random number of bytes, then aborts (reset, close, or before any answer)."""
    ranged = rnd.random() < 0.4
    head = "GET %s HTTP/1.1\r\nHost: x\r\n" % path
    if ranged:
        first = rnd.randrange(size)
        head += "Range: bytes=%d-%d\r\n" % (first, min(size - 1, first + rnd.randrange(1 << 20)))
    how = rnd.choice(("reset", "reset", "close", "early"))
    want = 0 if how == "early" else rnd.randrange(1, 2 << 20)
    s = socket.socket()
    got = 0
    try:
        if how != "close":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.bind((addr, 0))
        patience = rnd.uniform(*CLIENT_READ_S)
        s.settimeout(patience)
        s.connect(("127.0.0.1", app.port))
        s.sendall((head + "\r\n").encode())
        deadline = time.monotonic() + patience
        for _ in range(10000):
            if got >= want or time.monotonic() > deadline:
                break
            b = s.recv(65536)
            if not b:
                break
            got += len(b)
        with tally["lock"]:
            tally[how] += 1
            tally["bytes"] += got
            tally["mid_body"] += got > 0
            tally["ranged"] += ranged
    except socket.timeout:  # nothing came for its patience: it gives up, an abort too
        with tally["lock"]:
            tally[how] += 1
            tally["bytes"] += got
            tally["mid_body"] += got > 0
            tally["ranged"] += ranged
    except OSError as e:
        with tally["lock"]:
            tally["errors"].append(str(e))
    finally:
        s.close()


def get(app, path, headers=None):
    return app.request("GET", path, headers=headers, timeout=30)


def main():
    app = Appliance(origins=(), extra="[limits]\nmax_clients = 60\nqueue_timeout = 3s\n")
    nginx, www = nginx_origin(app, limit_rate="48k")
    names = ["abort-%d.bin" % i for i in range(OBJS)]
    data = {}
    for n in names + ["warm.bin"]:
        make_file(os.path.join(www, n), OBJ_SIZE if n != "warm.bin" else 3 * PIECE,
                  seed=seed_of(n))
        data[n] = read_file(os.path.join(www, n))
    t_all = time.monotonic()
    try:
        app.start()
        pid = app.storage_pid()
        # The fds of one object, once filled and served: its file(s) stay in
        # the open-object cache, which is no leak.
        before = fd_kinds(pid)
        st, _, body = get(app, "/warm.bin?cacheHostOrigin=origin.test")
        check(st == 200 and body == data["warm.bin"], "a warm-up object is served exact")
        wait_until(lambda: app.stats()["clients_active"] == 0, 3, "the warm-up slot is free")
        time.sleep(0.5)
        base = fd_kinds(pid)
        base_origin = origin_conns(nginx.port)
        per_obj = base.get("file", 0) - before.get("file", 0)
        check(0 <= per_obj <= 2, "an open object holds %d file fds" % per_obj)
        print("fds at the baseline: %s" % base)

        rnd = random.Random(int(os.environ.get("ABORT_SEED", "4242")))
        tally = {"lock": threading.Lock(), "reset": 0, "close": 0, "early": 0, "bytes": 0,
                 "ranged": 0, "mid_body": 0, "errors": []}
        jobs = [("127.1.%d.%d" % (1 + i // 250, 1 + i % 250),
                 "/%s?cacheHostOrigin=origin.test" % rnd.choice(names),
                 random.Random(rnd.random())) for i in range(CLIENTS)]
        t0 = time.monotonic()
        lock = threading.Lock()

        def worker():
            for _ in range(CLIENTS):
                with lock:
                    if not jobs or time.monotonic() - t0 > ABORT_PHASE_S:
                        return
                    addr, path, r = jobs.pop()
                    sample = len(jobs) == CLIENTS // 10
                if sample:  # 90 % of the clients have started: are fills still running?
                    tally["at_90"] = app.stats()
                abort_client(app, addr, path, OBJ_SIZE, r, tally)

        threads = [threading.Thread(target=worker) for _ in range(CLIENT_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(ABORT_PHASE_S + 10)
        took = time.monotonic() - t0
        done = tally["reset"] + tally["close"] + tally["early"]
        check(done + len(tally["errors"]) == CLIENTS and not jobs,
              "all %d clients ran within %.0f s: %d aborted, %d errors %s"
              % (CLIENTS, ABORT_PHASE_S, done, len(tally["errors"]), tally["errors"][:3]))
        check(len(tally["errors"]) <= CLIENTS // 20,
              "few clients failed to connect or send: %d" % len(tally["errors"]))
        print("abort phase %.1f s: %d reset, %d close, %d early, %d ranged, %d with some "
              "bytes, %.1f MiB read" % (took, tally["reset"], tally["close"], tally["early"],
                                        tally["ranged"], tally["mid_body"],
                                        tally["bytes"] / 1048576))
        check(tally["mid_body"] >= 50, "at least 50 clients aborted after some of their "
              "answer: %d" % tally["mid_body"])
        # A client that reset its connection while it waited to be accepted is
        # not served: every access log line names its client (an empty field
        # before the fix, those requests answered to no one).
        nameless = [ln for ln in app.access_log()
                    if not re.match(r"\S+ \d+\.\d+\.\d+\.\d+:\d+ ", ln)]
        check(not nameless, "every access log line names its client: %d do not, e.g. %s"
              % (len(nameless), nameless[:2]))
        # Every client leaves within CLIENT_READ_S[1] s, before queue_timeout: a
        # 503 after the whole queue wait went to a client that had left (one
        # that half-closed while queued was kept waiting, before the fix).
        late = [ln for ln in app.access_log() if " BUSY " in ln
                and float(ln.split()[-1].rstrip("ms")) >= 2900]
        check(not late, "no client that left while queued is kept until the queue wait "
              "ends: %d late 503s, e.g. %s" % (len(late), late[:2]))
        st = tally.get("at_90") or app.stats()
        check(st["fills_done"] < OBJS + 1,  # the warm-up's fill is one of them
              "when 90 %% of the clients had started, objects were still filling: %s"
              % {k: st[k] for k in ("fills_started", "fills_done", "fills_failed")})

        def fills_over():
            s = app.stats()
            return s["fills_started"] == s["fills_done"] + s["fills_failed"]

        wait_until(fills_over, 40, "every fill ends (done or failed)", interval=0.2)

        def slots_free():
            s = app.stats()
            return s["clients_active"] == 0 and s["clients_queued"] == 0

        wait_until(slots_free, 3, "0 active and 0 queued slots after the aborts", interval=0.1)

        def fds_back():
            now = fd_kinds(pid)
            # sockets: the listeners, control's, and the fetchers' kept-alive origin connections
            sockets = now.get("socket", 0) - origin_conns(nginx.port)
            ok = sockets <= base.get("socket", 0) - base_origin and not client_conns(app.port)
            ok = ok and all(now.get(k, 0) <= base.get(k, 0) for k in now
                            if k not in ("file", "socket"))
            return ok and now.get("file", 0) <= base.get("file", 0) + OBJS * max(per_obj, 1)

        if not wait_until(fds_back, 5, "the file server's fds back to the baseline %s "
                          "(plus at most %d object files and its kept-alive origin connections)"
                          % (base, OBJS * max(per_obj, 1)), interval=0.2):
            print("fds now: %s, origin connections %d (%d at the baseline), client side %s"
                  % (fd_kinds(pid), origin_conns(nginx.port), base_origin,
                     client_conns(app.port)[:5]))
        check(origin_conns(nginx.port) <= 8, "at most one origin connection per fetch thread")
        for n in names:
            path = "/%s?cacheHostOrigin=origin.test" % n
            want = hashlib.sha256(data[n]).hexdigest()
            st, _, body = get(app, path)
            check(st == 200 and hashlib.sha256(body).hexdigest() == want,
                  "%s: the next client gets the exact bytes (%d, %d bytes)" % (n, st, len(body)))
            first = rnd.randrange(OBJ_SIZE - 1)
            last = min(OBJ_SIZE - 1, first + rnd.randrange(3 * PIECE))
            st, h, body = get(app, path, {"Range": "bytes=%d-%d" % (first, last)})
            check(st == 206 and body == data[n][first:last + 1] and
                  h.get("content-range") == "bytes %d-%d/%d" % (first, last, OBJ_SIZE),
                  "%s: a ranged request %d-%d gets the exact bytes (%d)" % (n, first, last, st))
        lst = app.listing()
        check(all(lst.get("origin.test/" + n, {}).get("size") == OBJ_SIZE and
                  lst["origin.test/" + n]["complete"] for n in names),
              "every object is listed complete at its full size")
        wait_until(slots_free, 3, "and the slots are free again", interval=0.1)
    finally:
        nginx.stop()
        app.cleanup()
    print("test_aborts: %.1f s" % (time.monotonic() - t_all))
    finish()


if __name__ == "__main__":
    main()
