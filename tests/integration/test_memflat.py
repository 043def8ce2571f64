#!/usr/bin/env python3
"""The file server's memory stays flat under abuse (QUALITY.md, limits row:
"431 and close, memory flat"; ranges row: abusive sets capped).

Two floods, each first as a warm-up of WARMUP requests and then as a run
of RUN requests: heads over the 16 KiB limit (each answered 431, then the
connection closes within 1 s) on several parallel connections, and abusive
Range sets (more ranges than the cap, overlapping ranges, sums past the
size, 2^64 positions, the most disjoint ranges allowed) pipelined on
keep-alive connections. Every answer is parsed strictly and checked. The
storage process's VmRSS is read after the warm-up and after the run; the
growth must stay below GROWTH_MAX (4 MiB). Per-request state lives in the
connection's fixed buffers and arena, so a leak of a few hundred bytes per
request crosses the bound (tried: 512 leaked bytes per 431 grew VmRSS by
5 MiB and failed), while allocator noise stays well under it (measured:
well under 1 MiB either way, in the normal and the ASan build)."""
import collections
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (STORAGE, Appliance, check, content_id, expect_close, finish,  # noqa: E402
                    make_file, parse_multipart, parse_responses, proc_status, read_file,
                    wait_until)

WARMUP, RUN = 1000, 10000
GROWTH_MAX = 4 << 20  # bytes of VmRSS growth allowed over a run (see the docstring)
THREADS = 4           # parallel client connections
PIPELINE = 50         # Range requests per keep-alive connection
SIZE = 8192           # the object the Range sets ask for

OVERSIZED = b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 17000 + b"\r\n\r\n"


def range_sets():
    """(Range value, expected status): what each abusive set must get."""
    n = SIZE
    return [
        (",".join(["0-%d" % (n - 1)] * 40), 200),                        # past the count cap
        (",".join("%d-%d" % (i * 400, i * 400 + 999) for i in range(16)), 200),  # overlapping
        ("-%d,0-0" % n, 200),                                            # sum past the size
        ("0-,0-", 200),
        (",".join(["0-18446744073709551616"] * 16), 200),                # 2^64, overlapping
        (",".join("%d-%d" % (i, i) for i in range(0, 2000, 2)), 200),    # 1000 ranges, 8 KB
        (",".join("%d-%d" % (i * 500, i * 500 + 9) for i in range(16)), 206),  # 16 disjoint
    ]


def rss(pid):
    """VmRSS of pid in bytes."""
    return int(proc_status(pid)["VmRSS"].split()[0]) * 1024


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def run_threads(fn, total):
    """Splits total requests over THREADS threads running fn(count, tally);
    returns the merged tally (a Counter of outcomes)."""
    tallies = [collections.Counter() for _ in range(THREADS)]
    per = [total // THREADS + (1 if i < total % THREADS else 0) for i in range(THREADS)]
    ts = [threading.Thread(target=fn, args=(per[i], tallies[i])) for i in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    out = collections.Counter()
    for t in tallies:
        out.update(t)
    return out


def oversized(port):
    """count heads over the limit, one connection each: 431, then EOF within 1 s."""
    def run(count, tally):
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                try:
                    s.sendall(OVERSIZED)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # refused before all of it was read: the answer still counts
                data, closed = expect_close(s, 1.0, 10)
            finally:
                s.close()
            got = parse_responses(data)
            ok = [g[0] for g in got] == [431] and got[0][1].get("connection") == "close"
            tally["431+close" if ok and closed else "bad: %s closed=%s" % (
                [g[0] for g in got], closed)] += 1
    return run


def abusive_ranges(port, target, data):
    """count Range requests, PIPELINE per connection (the last one closes)."""
    sets = range_sets()
    whole_parts = [("bytes %d-%d/%d" % (i * 500, i * 500 + 9, SIZE), data[i * 500:i * 500 + 10])
                   for i in range(16)]

    def run(count, tally):
        k = 0
        while count > 0:
            batch = min(PIPELINE, count)
            count -= batch
            want = [sets[(k + i) % len(sets)] for i in range(batch)]
            k += batch
            raw = b"".join(("GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=%s\r\n%s\r\n" % (
                target, v, "Connection: close\r\n" if i == batch - 1 else "")).encode()
                for i, (v, _) in enumerate(want))
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                s.sendall(raw)
                out, closed = expect_close(s, 2.0, 10)
            finally:
                s.close()
            got = parse_responses(out)
            if len(got) != batch or not closed:
                tally["bad batch: %d of %d answers, closed=%s" % (len(got), batch, closed)] += 1
            for (_, st), g in zip(want, got):
                if st == 200:
                    ok = g[0] == 200 and g[2] == data
                else:
                    ok = g[0] == 206 and parse_multipart(g[1].get("content-type", ""),
                                                         g[2]) == whole_parts
                tally["ok %d" % st if ok else "bad: %d for a %d" % (g[0], st)] += 1
    return run


def flood(app, count, target, data, what):
    """Both floods, count requests each; checks every answer. Their durations."""
    t0 = time.monotonic()
    tally = run_threads(oversized(app.port), count)
    t1 = time.monotonic()
    check(tally == {"431+close": count}, "%s: %d oversized heads: each 431 and closed within "
          "1 s: %s" % (what, count, dict(tally)))
    tally = run_threads(abusive_ranges(app.port, target, data), count)
    t2 = time.monotonic()
    check(set(tally) <= {"ok 200", "ok 206"} and sum(tally.values()) == count and
          tally["ok 206"] > 0, "%s: %d abusive Range sets: capped to 200 with the whole body, "
          "or the 16 disjoint ranges exact: %s" % (what, count, dict(tally)))
    print("  %s: %d x 431 in %.1f s, %d Range sets in %.1f s" % (what, count, t1 - t0, count,
                                                                 t2 - t1), flush=True)


def asan_build():
    """Whether the storage binary is built with AddressSanitizer."""
    with open(STORAGE, "rb") as f:
        return b"libasan.so" in f.read()


def main():
    if asan_build():
        # ASan keeps freed blocks in a quarantine (256 MiB by default) to catch
        # use after free; each connection's buffers are freed at its close, so
        # VmRSS would climb until that fills. A 16 MiB quarantine fills during
        # the warm-up (1,000 connections of over 20 KiB each), then stays full.
        os.environ["ASAN_OPTIONS"] = ":".join(
            x for x in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=16") if x)
        print("  ASan build: ASAN_OPTIONS=%s" % os.environ["ASAN_OPTIONS"])
    app = Appliance(workers=2)
    t0 = time.monotonic()
    try:
        app.start()
        path = make_file(os.path.join(app.dir, "obj"), SIZE, seed=41)
        app.import_file(path, "http://dl.example.com/flat.bin")
        data = read_file(path)
        target = "/_cachebox/content/" + content_id("dl.example.com/flat.bin")
        pid = app.storage_pid()
        st, _, body = app.request("GET", target)  # the object's files are open from here on
        check(st == 200 and body == data, "a plain GET first: 200, exact")
        time.sleep(0.5)
        fds0 = fd_count(pid)
        flood(app, WARMUP, target, data, "warm-up")
        r0 = rss(pid)
        flood(app, RUN, target, data, "run")
        r1 = rss(pid)
        print("  storage VmRSS: %.1f MiB after the warm-up, %.1f MiB after %d + %d requests "
              "(growth %+.0f KiB, bound %d KiB; VmHWM %s)"
              % (r0 / 1048576, r1 / 1048576, RUN, RUN, (r1 - r0) / 1024, GROWTH_MAX >> 10,
                 proc_status(pid)["VmHWM"]), flush=True)
        check(r1 - r0 < GROWTH_MAX, "storage VmRSS grew %d KiB over %d oversized heads and %d "
              "Range sets (bound %d KiB)" % ((r1 - r0) >> 10, RUN, RUN, GROWTH_MAX >> 10))
        check(app.storage_pid() == pid, "the same storage process throughout")
        wait_until(lambda: fd_count(pid) <= fds0, 5,
                   "storage's open files back to %d (lingering closes done)" % fds0)
        st, _, body = app.request("GET", target)
        check(st == 200 and body == data, "still serving: 200, exact")
    finally:
        app.cleanup()
    print("test_memflat: %.1f s" % (time.monotonic() - t0))
    finish()


main()
