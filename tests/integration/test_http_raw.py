#!/usr/bin/env python3
"""Raw-socket client against the file server: pipelining, malformed and
smuggling-prone requests, Expect: 100-continue, limits, timeouts and path
tricks."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cbtest  # noqa: E402
from cbtest import (Appliance, check, content_id, expect_close, expect_rejected,  # noqa: E402
                    finish, make_file, parse_responses, read_file, recv_all, wait_until)


def exchange(app, raw, timeout=5):
    return cbtest.exchange(app.port, raw, timeout)


def time_to_close(s, timeout):
    """Reads s until the server closes it (or timeout); the seconds it took."""
    t0 = time.time()
    recv_all(s, timeout)
    return time.time() - t0


def recv_for(s, seconds):
    """Whatever s receives within seconds (less if the peer closes)."""
    s.settimeout(0.1)
    got = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        if not b:
            break
        got += b
    return got


def expect_checks(app):
    """Expect (RFC 9110 §10.1.1): 100 Continue before the body, once; the
    final answer at once when the body is already there; 417 and close for
    an expectation other than 100-continue; ignored in HTTP/1.0."""
    cont = b"HTTP/1.1 100 Continue\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", app.port), timeout=5)
    s.sendall(b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              b"Expect: 100-continue\r\n\r\n")
    t0 = time.monotonic()
    first = recv_for(s, 1.0)
    check(first == cont, "Expect: 100-continue: 100 Continue and nothing else before the "
          "body: %r" % first)
    s.sendall(b"hel")
    more = recv_for(s, 0.5)
    check(more == b"", "no answer (nor a second 100) while the body is short: %r" % more)
    s.sendall(b"lo" + b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
              b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
    rest = recv_for(s, 1.0)
    got = parse_responses(rest[:-len(cont)] if rest.endswith(cont) else rest)
    check(len(got) == 1 and got[0][0] == 200 and got[0][2] == b"ok\n",
          "after the 5 body bytes: the final answer: %r" % rest[:80])
    check(rest.endswith(cont), "the next request on the connection gets its own 100: %r"
          % rest[-40:])
    s.sendall(b"hi")
    last, closed = expect_close(s, 1.0, 3)
    s.close()
    check([g[0] for g in parse_responses(last)] == [200] and closed,
          "and its final answer after its body, then the close it asked for: %r" % last[:40])
    check(time.monotonic() - t0 < 4, "no request waited for a 100 that never came")

    # The body already there: no 100, the final answer at once; the token is case-insensitive.
    raw = (b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
           b"Expect: 100-Continue\r\nConnection: close\r\n\r\nhello")
    out = exchange(app, raw)
    check(out.startswith(b"HTTP/1.1 200") and [g[0] for g in parse_responses(out)] == [200],
          "body sent with the head: final answer at once: %r" % out[:40])

    # Any other expectation: 417 and close; nothing pipelined behind is answered.
    for value in (b"something-else", b"100-continue, x-tra", b"100-continue=1"):
        raw = (b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               b"Expect: " + value + b"\r\n\r\n")
        expect_rejected(app.port, raw + b"hello", 417, "Expect: %s" % value.decode())

    # HTTP/1.0: the expectation is ignored (no 100); answered once the body is in.
    s = socket.create_connection(("127.0.0.1", app.port), timeout=5)
    s.sendall(b"GET /_cachebox/health HTTP/1.0\r\nContent-Length: 5\r\n"
              b"Expect: 100-continue\r\n\r\n")
    early = recv_for(s, 0.7)
    s.sendall(b"hello")
    late = recv_all(s, 3)
    s.close()
    check(early == b"" and late.startswith(b"HTTP/1.1 200") and
          [g[0] for g in parse_responses(late)] == [200],
          "HTTP/1.0 with Expect: no 100, the answer after the body: %r %r"
          % (early, late[:20]))


def main():
    app = Appliance()
    try:
        app.start()
        path = make_file(os.path.join(app.dir, "obj"), 300000, seed=7)
        app.import_file(path, "http://dl.example.com/o.bin")
        data = read_file(path)
        cid = content_id("dl.example.com/o.bin")
        target = "/_cachebox/content/" + cid

        # 100 pipelined GETs on one connection: 100 answers, in order, exact.
        reqs = b""
        expect = []
        for i in range(100):
            first = i * 997
            last = first + (i % 7) * 100 + 10
            reqs += ("GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-%d\r\n\r\n"
                     % (target, first, last)).encode()
            expect.append(data[first:last + 1])
        reqs += ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target).encode()
        expect.append(data)
        got = parse_responses(exchange(app, reqs, 10))
        check(len(got) == 101, "pipelined: %d of 101 responses" % len(got))
        check([g[0] for g in got] == [206] * 100 + [200], "pipelined: statuses")
        check([g[1].get("content-range") for g in got[:100]] ==
              ["bytes %d-%d/%d" % (i * 997, i * 997 + (i % 7) * 100 + 10, len(data))
               for i in range(100)], "pipelined: each Content-Range")
        check([g[2] for g in got] == expect, "pipelined: bodies exact and in order")

        # Framing errors: 400 and close; the request pipelined behind is never answered.
        follow = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode()
        bad = {
            "CL+TE": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "two CL": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      b"Content-Length: 6\r\n\r\nhello",
            "bad chunk": b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"zz\r\nhello\r\n0\r\n\r\n",
            "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
            "NUL": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
            "bare CR": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
            "no Host": b"GET / HTTP/1.1\r\n\r\n",
            "space before colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        }
        for name, raw in bad.items():
            expect_rejected(app.port, raw, 400, name, follow)

        # A GET with a well-framed body is answered, and so is the next request.
        raw = (b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
               b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\n\r\n" +
               b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = parse_responses(exchange(app, raw))
        check([g[0] for g in got] == [200, 200, 200], "bodies skipped: %s" % [g[0] for g in got])
        expect_checks(app)

        # Limits: long URI 414, many or huge headers 431, then close.
        expect_rejected(app.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                        414, "long URI", follow)
        raw = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-%d: y\r\n" % i for i in range(100)) + b"\r\n"
        expect_rejected(app.port, raw, 431, "100 headers", follow)
        raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n"
        expect_rejected(app.port, raw, 431, "20 kB header", follow)
        expect_rejected(app.port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505,
                        "HTTP/2.0 request line", follow)
        got = expect_rejected(app.port, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                              b"\r\nhi", 405, "POST", follow)
        check(got and got[0][1].get("allow") == "GET, HEAD", "POST: 405 with Allow: GET, HEAD")

        # Path tricks never reach outside the shards: 400 or an ordinary miss.
        for p in ["/../../etc/passwd?cacheHostOrigin=dl.example.com",
                  "/%2e%2e/%2e%2e/etc/passwd?cacheHostOrigin=dl.example.com",
                  "/a%2fb?cacheHostOrigin=dl.example.com",
                  "/a%00b?cacheHostOrigin=dl.example.com",
                  "/a\\b?cacheHostOrigin=dl.example.com",
                  "/_cachebox/content/../../../etc/passwd"]:
            st, _, body = app.request("GET", p)
            # (a miss goes to the origin, which refuses here: 502)
            check(st in (400, 404, 502) and b"root:" not in body, "path %s: %d" % (p, st))
        # ... and dot segments normalise onto the same key.
        st, _, body = app.request("GET", "/x/../o.bin?cacheHostOrigin=dl.example.com")
        check(st == 200 and body == data, "dot segments normalised")
        st, _, body = app.request("GET", "/%6F.bin?cacheHostOrigin=DL.example.com")
        check(st == 200 and body == data, "unreserved escapes decoded, host case folded")

        # If-Range: strong match gives 206, weak or wrong gives 200.
        st, h, _ = app.request("HEAD", target)
        etag, lm = h.get("etag"), h.get("last-modified")
        st, _, b = app.request("GET", target, {"Range": "bytes=0-3", "If-Range": etag})
        check(st == 206 and b == data[:4], "If-Range strong etag: 206")
        st, _, b = app.request("GET", target, {"Range": "bytes=0-3", "If-Range": "W/" + etag})
        check(st == 200 and b == data, "If-Range weak etag: 200")
        st, _, b = app.request("GET", target, {"Range": "bytes=0-3", "If-Range": lm})
        check(st == 206, "If-Range exact date: 206")
        st, _, b = app.request("GET", target, {"Range": "bytes=0-3",
                                                "If-Range": "Sat, 01 Jan 2000 00:00:00 GMT"})
        check(st == 200, "If-Range wrong date: 200")
        st, h, _ = app.request("GET", target, {"Range": "bytes=18446744073709551616-"})
        check(st == 416 and h.get("content-range") == "bytes */300000", "2^64 range: 416")
        st, h, _ = app.request("GET", target, {"Range": "bytes=-0"})
        check(st == 416, "-0: 416")
        st, h, b = app.request("GET", target, {"Range": "Bytes=0-1"})
        check(st == 206 and b == data[:2], "Bytes= unit case-insensitive")
        many = ",".join("%d-%d" % (i, i) for i in range(0, 200, 2))
        st, h, b = app.request("GET", target, {"Range": "bytes=" + many})
        check(st == 200 and b == data, "100 ranges: capped, whole body")

        # Slowloris: a head that never completes is closed by header_timeout (3 s).
        s = socket.create_connection(("127.0.0.1", app.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        took = time_to_close(s, 10)
        s.close()
        check(took < 5, "slowloris closed after %.1f s (header_timeout 3 s)" % took)

        # ... also when it trickles a byte every half second.
        s = socket.create_connection(("127.0.0.1", app.port))
        t0 = time.time()
        closed = False
        for i in range(40):
            try:
                s.sendall(b"y" if i else b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.5)  # the trickle is the test
        took = time.time() - t0
        s.close()
        check(closed and took < 6, "trickling head closed after %.1f s" % took)

        # An idle keep-alive connection is closed by idle_timeout (5 s).
        s = socket.create_connection(("127.0.0.1", app.port))
        s.sendall(b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\n\r\n")
        took = time_to_close(s, 12)
        s.close()
        check(3 < took < 8, "idle keep-alive closed after %.1f s (idle_timeout 5 s)" % took)

        # A reader that stops reading is disconnected after idle_timeout (5 s)
        # without progress, and the server keeps serving others meanwhile.
        s = socket.create_connection(("127.0.0.1", app.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = make_file(os.path.join(app.dir, "big"), 64 << 20, seed=9)
        app.import_file(big, "http://dl.example.com/big.bin")
        s.sendall(("GET /_cachebox/content/%s HTTP/1.1\r\nHost: x\r\n\r\n"
                   % content_id("dl.example.com/big.bin")).encode())
        s.recv(1000)
        t0 = time.time()
        time.sleep(1)  # the reader is stalled by now: the others are served meanwhile
        st, _, _ = app.request("GET", "/_cachebox/health")
        check(st == 200, "others served while a reader stalls")
        port_hex = ":%04X" % s.getsockname()[1]

        def server_side_closed():
            # our socket's peer (the server side) is gone once the server closed it
            with open("/proc/net/tcp") as f:
                rows = [ln.split() for ln in f.read().splitlines()[1:]]
            return not any(port_hex in r[2] and r[3] == "01" for r in rows)

        wait_until(server_side_closed, 15, "the stalled reader is disconnected", interval=0.2)
        took = time.time() - t0
        s.close()
        check(took < 9, "stalled reader disconnected after %.1f s" % took)

    finally:
        app.cleanup()
    finish()


main()
