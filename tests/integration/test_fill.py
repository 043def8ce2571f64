#!/usr/bin/env python3
"""Pull-through fill from a real origin (Debian's nginx on loopback): cold,
warm and partially cached objects byte for byte with curl and aria2c,
coalescing of simultaneous misses (one origin request per piece, counted in
nginx's access log), read-while-fill, loop protection, and no client header
reaching the origin."""
import hashlib
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, curl, finish, make_file, sha256_file  # noqa: E402
from origins import ForwardProxy, nginx_origin, www_file  # noqa: E402

PIECE = 64 * 1024


def main():
    app = Appliance(origins=())
    nginx, www = nginx_origin(app)
    proxy = ForwardProxy()
    app.add_origin("viaproxy.test", "http://127.0.0.1:%d" % nginx.port,
                   "proxy = 127.0.0.1:%d" % proxy.port)
    files = {"cold.bin": 3 * 1024 * 1024 + 5, "ranged.bin": 2 * 1024 * 1024,
             "crowd.bin": 8 * 1024 * 1024 + 1, "aria.bin": 6 * 1024 * 1024 + 333,
             "partial.bin": 20 * PIECE + 7, "tiny.bin": 10, "hdrs.bin": 1000, "loop.bin": 3000}
    for name, size in files.items():
        make_file(os.path.join(www, name), size, seed=size)

    def data(name):
        return www_file(www, name)

    origin_reqs = nginx.requests_for
    url = app.fill_url

    try:
        app.start()
        # Cold, then warm: exact bytes, miss then hit, one origin request per piece.
        for name in ("cold.bin", "tiny.bin"):
            r = curl("-D", "/dev/stderr", "-o", "-", url(name))
            check(r.stdout == data(name), "%s: cold body exact" % name)
            check(b"fwd=miss" in r.stderr, "%s: cold is a miss" % name)
            r = curl("-D", "/dev/stderr", "-o", "-", url(name))
            check(r.stdout == data(name) and b"cachebox; hit" in r.stderr,
                  "%s: warm is a hit, exact" % name)
            npieces = (files[name] + PIECE - 1) // PIECE
            check(len(origin_reqs(name)) == npieces, "%s: %d origin requests for %d pieces" % (
                name, len(origin_reqs(name)), npieces))

        # A cold range in the middle: exact; the rest follows in the background.
        st, h, body = app.request("GET", "/ranged.bin?cacheHostOrigin=origin.test",
                                  {"Range": "bytes=1000000-1200000"})
        check(st == 206 and body == data("ranged.bin")[1000000:1200001], "cold range exact")
        r = curl("-o", "-", url("ranged.bin"))
        check(r.stdout == data("ranged.bin"), "then the whole object exact")
        check(len(origin_reqs("ranged.bin")) == files["ranged.bin"] // PIECE,
              "ranged.bin: still one origin request per piece")

        # Coalescing: 10 clients at once on one cold object.
        outs = [None] * 10

        def fetch(i):
            outs[i] = curl("-o", "-", url("crowd.bin"), timeout=120).stdout

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(150)
        want = data("crowd.bin")
        check(all(o == want for o in outs), "10 simultaneous clients: every body exact")
        reqs = origin_reqs("crowd.bin")
        ranges = [q[2] for q in reqs]
        npieces = (files["crowd.bin"] + PIECE - 1) // PIECE
        check(len(reqs) == npieces and len(set(ranges)) == npieces,
              "coalescing: %d origin requests, %d distinct, for %d pieces" % (
                  len(reqs), len(set(ranges)), npieces))

        # aria2c, 3 connections, whole-file sha-256, on a cold object.
        out = os.path.join(app.dir, "aria")
        r = subprocess.run(["aria2c", "-q", "-x3", "-s3", "-k1M", "--allow-overwrite=true",
                            "--checksum=sha-256=" + sha256_file(os.path.join(www, "aria.bin")),
                            "-d", out, "-o", "aria.bin", url("aria.bin")],
                           capture_output=True, timeout=120)
        check(r.returncode == 0, "aria2c x3 on a cold object: %s" % r.stderr[-300:])

        # Partially cached: the first pieces from a range, then the whole object.
        st, h, body = app.request("GET", "/partial.bin?cacheHostOrigin=origin.test",
                                  {"Range": "bytes=0-%d" % (3 * PIECE - 1)})
        check(st == 206 and body == data("partial.bin")[:3 * PIECE], "partial: first range")
        r = curl("-D", "/dev/stderr", "-o", "-", url("partial.bin"))
        check(r.stdout == data("partial.bin"), "partial: then the whole object exact")
        check(len(origin_reqs("partial.bin")) == 21, "partial: %d origin requests for 21 pieces"
              % len(origin_reqs("partial.bin")))

        # Loop protection (RFC 8586): a request that names this box in CDN-Loop is
        # refused; one that names other caches is served, and the chain goes on.
        st, _, _ = app.request("GET", "/loop.bin?cacheHostOrigin=origin.test",
                               {"CDN-Loop": "squid.test, %s; x=1" % app.box_id})
        check(st == 508, "our own id in CDN-Loop: 508 (%d)" % st)
        check(not origin_reqs("loop.bin"), "loop: nothing asked of the origin")
        st, _, body = app.request("GET", "/loop.bin?cacheHostOrigin=origin.test",
                                  {"CDN-Loop": "squid.test; v=\"1\", other-cdn"})
        check(st == 200 and body == data("loop.bin"), "other caches in CDN-Loop: served")
        q = origin_reqs("loop.bin")
        check(q and all(x[3] == "squid.test, other-cdn, " + app.box_id for x in q),
              "the origin saw the chain, parameters dropped, our id last: %s" % q[:1])

        # Client headers never reach the origin.
        st, _, body = app.request("GET", "/hdrs.bin?cacheHostOrigin=origin.test",
                                  {"X-Forwarded-Host": "evil.example", "Cookie": "s=1",
                                   "User-Agent": "client/1.0"})
        check(st == 200 and body == data("hdrs.bin"), "hdrs.bin served")
        q = origin_reqs("hdrs.bin")
        check(q and all(x[1] == "origin.test" and x[4] == "-" and x[5] == "-" and x[6] == "-"
                        for x in q), "origin saw no client header: %s" % q)

        # Through the upstream proxy: absolute-form requests, bytes exact.
        make_file(os.path.join(www, "proxied.bin"), 5 * PIECE + 1, seed=77)
        r = curl("-o", "-", app.url("/proxied.bin?cacheHostOrigin=viaproxy.test"))
        check(r.stdout == data("proxied.bin"), "via the upstream proxy: bytes exact")
        check(len(proxy.seen) == 6 and all(t == "http://127.0.0.1:%d/proxied.bin" % nginx.port
                                           for t in proxy.seen),
              "the proxy saw one absolute-form request per piece: %s" % proxy.seen[:2])

        # The filled objects survive a restart, complete.
        app.stop()
        app.start()
        before = len(nginx.requests())
        for name in ("cold.bin", "crowd.bin", "partial.bin"):
            r = curl("-o", "-", url(name))
            check(hashlib.sha256(r.stdout).hexdigest() ==
                  hashlib.sha256(data(name)).hexdigest(), "%s: after restart" % name)
        check(len(nginx.requests()) == before, "after restart: served without the origin")
    finally:
        proxy.stop()
        nginx.stop()
        app.cleanup()
    finish()


main()
