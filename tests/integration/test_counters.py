#!/usr/bin/env python3
"""The counters add up: `cacheboxctl --json stats`, the access log and
/metrics agree figure by figure after a mix of every kind of answer:

- before any object: a health check, two fills whose origin refuses the
  connection (502) and a 404 from nginx: no byte counts as served (nor as
  from the cache), and each error is counted once;
- misses that fill from a real nginx, hits (whole, one range, multipart,
  HEAD, pipelined on one connection), a 416;
- busy 503s: max_clients = 1 and a 1 s queue_timeout, one address holding
  its slot with a stalled download while four others wait and are turned
  away; the daemon log notes them at most once per worker;
- aborted downloads: a client that reads part of a large body and resets
  the connection, from the cache and while the object fills;
- the monthly cap's 503, whose body counts against no cap.

Then, with the box quiet: requests = access-log lines; hits and misses =
HIT and MISS/PARTIAL lines; status_4xx/5xx = lines by status class;
bytes_served, from the cache and while filling = the bytes column of the
2xx answers by source (error, health and 503 bodies are not object bytes);
rejected_busy and rejected_monthly_cap = BUSY and CAPPED lines (source
`-`); and stats = metrics for every figure both show."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, check, expect_close, finish, make_file,  # noqa: E402
                    parse_responses, recv_all, seed_of, wait_until)
from origins import nginx_origin  # noqa: E402

SMALL = 300 * 1000
BIG = 8 * 1024 * 1024

# JSON key of `stats --json` -> (metric, labels) of /metrics: every figure both show.
SHARED = {
    "bytes_served": ("cachebox_served_bytes_total", ()),
    "bytes_served_from_cache": ("cachebox_served_source_bytes_total", (("source", "cache"),)),
    "bytes_served_while_filling": ("cachebox_served_source_bytes_total",
                                   (("source", "origin"),)),
    "bytes_from_origin": ("cachebox_origin_bytes_total", ()),
    "requests": ("cachebox_requests_total", ()),
    "hits": ("cachebox_cache_hits_total", ()),
    "misses": ("cachebox_cache_misses_total", ()),
    "status_4xx": ("cachebox_responses_errors_total", (("class", "4xx"),)),
    "status_5xx": ("cachebox_responses_errors_total", (("class", "5xx"),)),
    "connections_open": ("cachebox_connections_open", ()),
    "origin_requests": ("cachebox_origin_requests_total", ()),
    "origin_retries": ("cachebox_origin_retries_total", ()),
    "fills_started": ("cachebox_fills_started_total", ()),
    "fills_failed": ("cachebox_fills_failed_total", ()),
    "clients_active": ("cachebox_clients_active", ()),
    "clients_queued": ("cachebox_clients_queued", ()),
    "rejected_busy": ("cachebox_rejected_total", (("reason", "busy"),)),
    "rejected_monthly_cap": ("cachebox_rejected_total", (("reason", "monthly_cap"),)),
    "throttled_sends": ("cachebox_throttled_sends_total", ()),
    "month_uploaded": ("cachebox_month_uploaded_bytes", ()),
    "objects": ("cachebox_objects", ()),
    "evicted": ("cachebox_evicted_objects_total", ()),
    "evicted_bytes": ("cachebox_evicted_bytes_total", ()),
}


def parse_log(lines):
    """Access-log lines as dicts (docs/storage.md: time client method id
    range status bytes result source duration); a check that each parses."""
    out = []
    for ln in lines:
        f = ln.split()
        ok = len(f) == 10 and f[5].isdigit() and f[6].isdigit() and f[9].endswith("ms")
        if not check(ok, "access-log line parses: %r" % ln):
            continue
        out.append({"client": f[1], "method": f[2], "status": int(f[5]), "bytes": int(f[6]),
                    "result": f[7], "source": f[8]})
    return out


def raw_get(host, port, target, read_bytes, rcvbuf=None):
    """From source address host: GET target, read about read_bytes of the
    answer, and leave the socket open (the caller resets it)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((host, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
    got = b""
    try:
        while len(got) < read_bytes:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except socket.timeout:
        pass
    return s, got


def busy_phase(app, big_url):
    """127.0.0.2 holds the only slot with a stalled download of the big
    object; 127.0.0.3-6 wait 1 s each and get 503. Then .2 resets."""
    holder, got = raw_get("127.0.0.2", app.port, big_url, 64 * 1024, rcvbuf=4096)
    check([g[0] for g in parse_responses(got, partial=True)] == [200],
          "the slot holder is being served: %r" % got[:20])
    waiters = []
    for i in range(4):
        s = socket.socket()
        s.bind(("127.0.0.%d" % (3 + i), 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", app.port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   % fill_path("small.bin")).encode())
        waiters.append(s)
    codes = []
    for s in waiters:
        data, closed = expect_close(s, 1.0, 5)
        got = parse_responses(data)
        codes.append((got[0][0] if len(got) == 1 else [g[0] for g in got], closed))
        s.close()
    check(codes == [(503, True)] * 4, "4 waiters turned away after the queue wait, each one "
          "503 then closed within 1 s: %s" % codes)
    holder.close()  # a reset mid-body: an aborted download from the cache


def fill_path(name):
    """The target of /name on the nginx origin, through the box."""
    return "/%s?cacheHostOrigin=origin.test" % name


def get(app, path, headers=None):
    st, h, body = app.request("GET", path, headers)
    return st, h, body


def quiet(app):
    """Waits until no connection is open, every fill has ended and the
    access log has stopped growing (it is flushed every 200 ms)."""
    last = [-1]

    def settled():
        s = app.stats()
        n = len(app.access_log())
        same, last[0] = n == last[0], n
        return (same and s["connections_open"] == 0 and s["clients_queued"] == 0 and
                s["fills_started"] == s["fills_done"] + s["fills_failed"])

    wait_until(settled, 20, "the box is quiet", interval=0.5)


def check_agreement(app, phase):
    """Stats against the access log, and stats against /metrics."""
    quiet(app)
    s = app.stats()
    m = app.metrics()
    again = app.stats()
    log = parse_log(app.access_log())
    # (the shards' free space is the filesystem's, which others change: not compared)
    moved = [k for k in SHARED if s.get(k) != again.get(k)]
    check(not moved, "%s: stats unchanged while metrics were read: %s" % (phase, moved))

    def lines(pred):
        return [e for e in log if pred(e)]

    def body_sum(source):
        return sum(e["bytes"] for e in log if e["source"] == source and e["status"] < 300)

    want = {
        "requests": len(log),
        "hits": len(lines(lambda e: e["result"] == "HIT")),
        "misses": len(lines(lambda e: e["result"] in ("MISS", "PARTIAL"))),
        "status_4xx": len(lines(lambda e: 400 <= e["status"] < 500)),
        "status_5xx": len(lines(lambda e: e["status"] >= 500)),
        "bytes_served_from_cache": body_sum("cache"),
        "bytes_served_while_filling": body_sum("origin"),
        "bytes_served": body_sum("cache") + body_sum("origin"),
        "rejected_busy": len(lines(lambda e: e["status"] == 503 and e["result"] == "BUSY")),
        "rejected_monthly_cap": len(lines(lambda e: e["status"] == 503 and
                                          e["result"] == "CAPPED")),
    }
    for key, value in want.items():
        check(s.get(key) == value, "%s: stats %s = %s, the access log says %s"
              % (phase, key, s.get(key), value))
    check(s["month_uploaded"] == s["bytes_served"],
          "%s: the month's upload is the object bytes served: %s vs %s"
          % (phase, s["month_uploaded"], s["bytes_served"]))
    cache, served = s.get("bytes_served_from_cache"), s.get("bytes_served")
    pct = 100.0 * cache / served if served and cache is not None else 0
    check(cache is not None and abs(s["percent_from_cache"] - pct) < 0.006,
          "%s: percent_from_cache %s = cache / (cache + filling) %.3f"
          % (phase, s["percent_from_cache"], pct))
    check(all(e["source"] == "-" for e in log if e["result"] in ("BUSY", "CAPPED", "-")),
          "%s: 503s of a slot or the cap and answers without an object name no source" % phase)
    for key, (name, labels) in SHARED.items():
        check(key in s and m.get((name, labels)) == s[key],
              "%s: %s: stats %s, metrics %s %s = %s"
              % (phase, key, s.get(key), name, dict(labels), m.get((name, labels))))
    ratio = m.get(("cachebox_cache_served_ratio", ()))
    check(ratio is not None and abs(ratio - s["percent_from_cache"] / 100) < 1e-4,
          "%s: metrics ratio %s = stats percent %s / 100" % (phase, ratio,
                                                            s["percent_from_cache"]))
    return s, log


def main():
    app = Appliance(extra="[limits]\nmax_clients = 1\nqueue_timeout = 1s\n")
    nginx, www = nginx_origin(app, limit_rate="8m")  # an 8 MiB fill lasts about a second
    for name, size in (("small.bin", SMALL), ("big.bin", BIG), ("big2.bin", BIG)):
        make_file(os.path.join(www, name), size, seed=seed_of(name))
    try:
        app.start()

        # Nothing cached yet: health, two origin failures, a 404 from nginx.
        check(get(app, "/_cachebox/health")[0] == 200, "health: 200")
        for i in range(2):
            st = get(app, "/gone%d.bin?cacheHostOrigin=dl.example.com" % i)[0]
            check(st == 502, "an origin that refuses the connection: 502 (%d)" % st)
        check(get(app, fill_path("nope.bin"))[0] == 404,
              "a file nginx does not have: 404")
        s, log = check_agreement(app, "errors only")
        check(s["status_5xx"] == 2 and s["status_4xx"] == 1,
              "2 origin failures are 2 5xx and the 404 one 4xx: %s, %s"
              % (s["status_5xx"], s["status_4xx"]))
        check(s["bytes_served"] == 0 and s.get("bytes_served_from_cache") == 0 and
              s["percent_from_cache"] == 0 and s["month_uploaded"] == 0,
              "error and health bodies are no bytes served nor from the cache: %s bytes, "
              "%s %%, %s this month" % (s["bytes_served"], s["percent_from_cache"],
                                       s["month_uploaded"]))

        # Misses that fill from nginx, then hits of every shape.
        small = fill_path("small.bin")
        big = fill_path("big.bin")
        with open(os.path.join(www, "small.bin"), "rb") as f:
            small_data = f.read()
        st, h, body = get(app, small)
        check(st == 200 and body == small_data, "a miss filled from nginx: 200, exact bytes")
        st, h, body = get(app, big)
        check(st == 200 and len(body) == BIG, "a big miss: 200, %d bytes" % len(body))
        wait_until(lambda: app.stats()["fills_done"] == 2, 10, "both fills done")
        st, h, body = get(app, small)
        check(st == 200 and body == small_data and "hit" in h.get("cache-status", ""),
              "a hit: 200, exact, Cache-Status hit")
        st, _, body = get(app, small, {"Range": "bytes=100-1099"})
        check(st == 206 and body == small_data[100:1100], "a range of a hit: 206")
        st, h, body = get(app, small, {"Range": "bytes=0-9,500-599"})
        check(st == 206 and "multipart" in h.get("content-type", ""), "multipart: 206")
        st, _, _ = app.request("HEAD", small)
        check(st == 200, "HEAD of a hit: 200")
        st, _, _ = get(app, small, {"Range": "bytes=%d-" % (SMALL + 10)})
        check(st == 416, "a range past the end: 416")
        sock = socket.create_connection(("127.0.0.1", app.port), timeout=5)
        sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n"
                      "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      % (small, small)).encode())
        got = parse_responses(recv_all(sock, 5))
        sock.close()
        check([g[0] for g in got] == [206, 200], "two pipelined hits: %s" % [g[0] for g in got])
        check_agreement(app, "misses and hits")

        # Busy 503s, and an aborted download from the cache (the slot holder).
        time.sleep(0.6)  # 127.0.0.1's slot lingers 400 ms after its last answer
        before = app.logs().count("answered 503") + app.logs().count("busy: waited")
        busy_phase(app, big)
        s, log = check_agreement(app, "busy")
        check(s["rejected_busy"] == 4, "4 busy rejections: %s" % s["rejected_busy"])
        holder = [e for e in log if e["client"].startswith("127.0.0.2:")]
        check(len(holder) == 1 and holder[0]["status"] == 200 and
              holder[0]["result"] == "HIT" and 0 < holder[0]["bytes"] < BIG,
              "the slot holder's reset download is logged with the bytes it got: %s" % holder)
        noted = app.logs().count("answered 503") + app.logs().count("busy: waited") - before
        check(1 <= noted <= 2, "4 busy 503s make at most one log line per worker: %d" % noted)

        # An aborted download while the object fills from the origin.
        time.sleep(1.2)  # the busy waiters' and the holder's slots are gone
        seen = len(log)
        s2, got = raw_get("127.0.0.1", app.port,
                          fill_path("big2.bin"), 200 * 1024)
        check([g[0] for g in parse_responses(got, partial=True)] == [200],
              "a miss being filled: 200 %r" % got[:20])
        s2.close()
        s, log = check_agreement(app, "aborted fill")
        cut = [e for e in log[seen:] if e["result"] == "MISS" and e["status"] == 200 and
               0 < e["bytes"] < BIG]
        check(len(cut) == 1, "the download cut while filling is logged MISS with its bytes: %s"
              % cut)
        check(0 < s.get("bytes_served_while_filling", 0) < s["bytes_served"],
              "some bytes were served while filling, the rest from the cache: %s of %s"
              % (s.get("bytes_served_while_filling"), s["bytes_served"]))

        # The monthly cap: its 503 names no source and its body counts against nothing.
        app.limits("--monthly-upload-cap", "1")
        st, _, body = get(app, small)
        check(st == 503 and b"cap" in body, "past the monthly cap: 503 (%d)" % st)
        s, log = check_agreement(app, "capped")
        check(s["rejected_monthly_cap"] == 1 and [e["source"] for e in log if
                                                  e["result"] == "CAPPED"] == ["-"],
              "one CAPPED line, source '-': %s" % [e for e in log if e["result"] == "CAPPED"])
        text = app.ctl("stats").stdout
        check("of them from the cache" in text and "while filling" in text,
              "the text rendering carries the figures by source")
    finally:
        app.cleanup()
        nginx.stop()
    finish()


main()
