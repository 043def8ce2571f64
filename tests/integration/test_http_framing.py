#!/usr/bin/env python3
"""Framing corners of the file server's HTTP/1.1 (RFC 9112, RFC 9110) that
test_http_raw.py does not cover: odd chunk sizes and extensions, malformed
versions and methods, transfer codings it does not decode, HTTP/2 attempts
(Upgrade: h2c, the PRI preface), HEAD with Range, refused methods, and
large heads pipelined past the server's input buffer.
Every rejection must be exactly one strictly parsed answer, marked close,
then EOF within 1 s; the request pipelined behind it is never answered.
What is not rejected must be served as plain HTTP/1.1, never upgraded."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (FOLLOW, Appliance, check, content_id, exchange, expect_close,  # noqa: E402
                    expect_rejected, finish, make_file, parse_multipart, parse_responses,
                    read_file)

HEALTH = b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\n"
CHUNKED = HEALTH + b"Transfer-Encoding: chunked\r\n\r\n"


def rejections():
    """Each: (name, request bytes, status)."""
    return [
        # RFC 9112 §7.1: chunk-size = 1*HEXDIG; "0_2e" is no size (Python's int() would take it).
        ("chunk size 0_2e", CHUNKED + b"0_2e\r\n\r\n", 400),
        ("chunk size 0_2e with data", CHUNKED + b"0_2e\r\n" + b"x" * 46 + b"\r\n0\r\n\r\n", 400),
        # §7.1.1: a CR may only end the chunk line; inside an extension it is a bare CR.
        ("CR inside a chunk extension", CHUNKED + b"5;ext=a\rb\r\nhello\r\n0\r\n\r\n", 400),
        ("CR right after a chunk's ';'", CHUNKED + b"5;\r\r\nhello\r\n0\r\n\r\n", 400),
        # §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT.
        ("HTTP/11.1", b"GET /_cachebox/health HTTP/11.1\r\nHost: x\r\n\r\n", 400),
        # RFC 9110 §9.1: methods are case-sensitive; "get" is not GET but unknown: 501.
        ("lower-case get", b"get /_cachebox/health HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        ("unknown method", b"FROB /_cachebox/health HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        # RFC 9112 §6.1: a transfer coding the server does not decode is 501.
        ("Transfer-Encoding: gzip, chunked",
         HEALTH + b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
        ("Transfer-Encoding: gzip / chunked on two lines",
         HEALTH + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
        # The HTTP/2 connection preface (RFC 9113 §3.4): "PRI * HTTP/2.0" then "SM".
        ("PRI * HTTP/2.0 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
        # RFC 9110 §9.3.4, §9.3.8: known methods the box does not serve: 405 with Allow.
        ("PUT", b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 405),
        ("TRACE", b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("OPTIONS", b"OPTIONS /_cachebox/health HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    ]


def h2c_upgrade(app, target, data):
    """RFC 9113 §3.1 removed h2c, and the box speaks HTTP/1.1 only: an
    Upgrade: h2c request is served as plain HTTP/1.1 (never 101), and the
    next request on the connection is HTTP/1.1 too."""
    up = (b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
          b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n")
    raw = (("GET %s HTTP/1.1\r\nHost: x\r\n" % target).encode() + up + b"\r\n" +
           HEALTH + up + b"\r\n" +
           HEALTH + b"Connection: close\r\n\r\n")
    out = exchange(app.port, raw)
    got = parse_responses(out)
    check(b" 101 " not in out.split(b"\r\n", 1)[0] and [g[0] for g in got] == [200, 200, 200],
          "Upgrade: h2c: served, not upgraded: %s %r" % ([g[0] for g in got], out[:40]))
    check(got and got[0][2] == data and not any("upgrade" in g[1] for g in got),
          "Upgrade: h2c: the object's exact bytes, no Upgrade header in any answer")
    check(len(got) == 3 and got[1][2] == b"ok\n" and got[2][2] == b"ok\n",
          "Upgrade: h2c: the requests behind it answered as HTTP/1.1")
    # h2c with the preface sent right behind the upgrade request: the preface
    # is read as HTTP/1.1 and refused, after the first answer.
    raw = ("GET %s HTTP/1.1\r\nHost: x\r\n" % target).encode() + up + b"\r\n"
    s = socket.create_connection(("127.0.0.1", app.port), timeout=5)
    try:
        s.sendall(raw + b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        out, closed = expect_close(s)
    finally:
        s.close()
    got = parse_responses(out)
    check([g[0] for g in got] == [200, 400] and got[0][2] == data and closed,
          "h2c then the preface: 200 (HTTP/1.1), then 400 and close: %s" % [g[0] for g in got])


def head_range(app, target, data):
    """HEAD with Range (RFC 9110 §9.3.2): the GET's 206 head, no body; its
    Content-Length is the range's length (the multipart body's, for several)."""
    size = len(data)
    raw = (("HEAD %s HTTP/1.1\r\nHost: x\r\nRange: bytes=100-1099\r\n\r\n" % target).encode() +
           ("HEAD %s HTTP/1.1\r\nHost: x\r\nRange: bytes=-10\r\n\r\n" % target).encode() +
           ("HEAD %s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9,500-599\r\n\r\n" % target).encode() +
           ("GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9,500-599\r\n\r\n" % target).encode() +
           HEALTH + b"Connection: close\r\n\r\n")
    out = exchange(app.port, raw)
    got = parse_responses(out, methods=["HEAD", "HEAD", "HEAD", "GET", "GET"])
    check([g[0] for g in got] == [206, 206, 206, 206, 200],
          "HEAD with Range, pipelined: statuses %s" % [g[0] for g in got])
    if len(got) != 5:
        return
    h = got[0][1]
    check(h.get("content-range") == "bytes 100-1099/%d" % size and
          h.get("content-length") == "1000" and got[0][2] == b"",
          "HEAD bytes=100-1099: Content-Range, Content-Length 1000, no body: %s" % h)
    h = got[1][1]
    check(h.get("content-range") == "bytes %d-%d/%d" % (size - 10, size - 1, size) and
          h.get("content-length") == "10", "HEAD bytes=-10: Content-Length 10: %s" % h)
    hm, gm = got[2][1], got[3][1]
    check(hm.get("content-type", "").startswith("multipart/byteranges") and
          hm.get("content-length") == str(len(got[3][2])) == gm.get("content-length"),
          "HEAD of two ranges: the multipart GET's Content-Length (%s, GET %d bytes)"
          % (hm.get("content-length"), len(got[3][2])))
    parts = parse_multipart(gm.get("content-type", ""), got[3][2])
    check(parts == [("bytes 0-9/%d" % size, data[:10]), ("bytes 500-599/%d" % size,
                                                         data[500:600])],
          "... and that GET's parts are exact")
    check(got[4][2] == b"ok\n", "the request behind the HEADs is answered in order")


def pipelined_big_heads(app, target, data):
    """Heads of 1 to 14 KB pipelined back to back (several fit in the
    server's input buffer, none twice): every request answered, in order,
    exact. A receive that took more than the buffer had room for would lose
    bytes and parse what follows the hole as requests."""
    raw, want = b"", []
    for i in range(40):
        first = i * 211
        pad = b"p" * ((i * 3677) % 14000 + 1000)
        raw += (("GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-%d\r\nX-Pad: "
                 % (target, first, first + 99)).encode() + pad + b"\r\n" +
                (b"Connection: close\r\n" if i == 39 else b"") + b"\r\n")
        want.append(data[first:first + 100])
    out = exchange(app.port, raw, 10)
    got = parse_responses(out)
    check([g[0] for g in got] == [206] * 40 and [g[2] for g in got] == want,
          "40 pipelined heads of 1-14 KB (%d bytes): 40 exact 206s in order: %s"
          % (len(raw), [g[0] for g in got]))


def main():
    app = Appliance()
    t0 = time.monotonic()
    try:
        app.start()
        path = make_file(os.path.join(app.dir, "obj"), 100000, seed=12)
        app.import_file(path, "http://dl.example.com/o.bin")
        data = read_file(path)
        target = "/_cachebox/content/" + content_id("dl.example.com/o.bin")
        follow = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode()
        for name, raw, status in rejections():
            got = expect_rejected(app.port, raw, status, name, follow)
            if status == 405:
                check(got and got[0][1].get("allow") == "GET, HEAD",
                      "%s: Allow: GET, HEAD (%s)" % (name, got and got[0][1].get("allow")))
        # The same with the health check behind (a different follower, same rule).
        expect_rejected(app.port, b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "get, health behind",
                        FOLLOW)
        h2c_upgrade(app, target, data)
        head_range(app, target, data)
        pipelined_big_heads(app, target, data)
        # Still serving normally after all that.
        st, _, body = app.request("GET", target)
        check(st == 200 and body == data, "a plain GET afterwards: 200, exact")
    finally:
        app.cleanup()
    print("test_http_framing: %.1f s" % (time.monotonic() - t0))
    finish()


main()
