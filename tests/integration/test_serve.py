#!/usr/bin/env python3
"""Import files of awkward sizes and read them back through every URL form
and many ranges, byte for byte, with curl, aria2c and raw sockets; restart
and check the cache survived."""
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, check, content_id, curl, expected_parts, finish,  # noqa: E402
                    make_file, parse_multipart, sha256_file, wait_until)

PIECE = 64 * 1024
SIZES = {"one-byte": 1, "one-piece": PIECE, "piece-plus-one": PIECE + 1,
         "several-mib": 5 * 1024 * 1024 + 12345, "empty": 0}


def ranges_for(size):
    r = [("0-0", 0, 0), ("0-", 0, size - 1), ("-1", size - 1, size - 1),
         ("0-%d" % (size + 100), 0, size - 1)]
    if size > 10:
        r += [("0-9", 0, 9), ("-10", size - 10, size - 1), ("5-", 5, size - 1)]
    if size > PIECE + 1:
        r += [("%d-%d" % (PIECE - 1, PIECE), PIECE - 1, PIECE),
              ("%d-" % PIECE, PIECE, size - 1)]
    if size > 3 * PIECE:
        r += [("%d-%d" % (PIECE + 7, 3 * PIECE + 3), PIECE + 7, 3 * PIECE + 3)]
    return r


def main(server_extra):
    print("-- server settings: %s" % (server_extra or "defaults"))
    app = Appliance(server_extra=server_extra)
    try:
        app.start()
        files = {}
        for name, size in SIZES.items():
            path = make_file(os.path.join(app.dir, name), size, seed=size)
            url = "http://dl.example.com/pkgs/%s.bin" % name
            app.import_file(path, url)
            with open(path, "rb") as f:
                files[name] = (path, f.read(), content_id("dl.example.com/pkgs/%s.bin" % name))

        def all_forms(name):
            cid = files[name][2]
            return [
                (app.url("/pkgs/%s.bin?cacheHostOrigin=dl.example.com" % name), []),
                (app.url("/pkgs/%s.bin" % name), ["-H", "Host: dl.example.com"]),
                (app.url("/_cachebox/content/%s" % cid), []),
            ]

        for name, (path, data, cid) in files.items():
            size = len(data)
            for url, extra in all_forms(name):
                r = curl("-o", "-", "-D", "/dev/stderr", *extra, url)
                check(r.returncode == 0 and r.stdout == data,
                      "%s: whole body via %s" % (name, url))
                check(b"200 OK" in r.stderr and b"Cache-Status: cachebox; hit" in r.stderr,
                      "%s: 200 with Cache-Status hit" % name)
            if size == 0:
                st, h, _ = app.request("GET", "/_cachebox/content/%s" % cid,
                                       {"Range": "bytes=0-0"})
                check(st == 416 and h.get("content-range") == "bytes */0",
                      "empty object: any range is 416")
                continue
            for spec, first, last in ranges_for(size):
                st, h, body = app.request("GET", "/_cachebox/content/%s" % cid,
                                          {"Range": "bytes=" + spec})
                check(st == 206, "%s %s: status %d" % (name, spec, st))
                check(h.get("content-range") == "bytes %d-%d/%d" % (first, last, size),
                      "%s %s: content-range %s" % (name, spec, h.get("content-range")))
                check(body == data[first:last + 1], "%s %s: exact bytes" % (name, spec))
                check(h.get("accept-ranges") == "bytes" and h.get("etag", "").startswith('"')
                      and "last-modified" in h, "%s %s: validators" % (name, spec))
            # past the end -> 416 with the length
            st, h, _ = app.request("GET", "/_cachebox/content/%s" % cid,
                                   {"Range": "bytes=%d-" % size})
            check(st == 416 and h.get("content-range") == "bytes */%d" % size,
                  "%s: N- past end is 416" % name)
            # curl --range, HEAD
            r = curl("-r", "0-0", "-o", "-", all_forms(name)[0][0])
            check(r.stdout == data[:1], "%s: curl -r 0-0" % name)
            st, h, body = app.request("HEAD", "/_cachebox/content/%s" % cid)
            check(st == 200 and h.get("content-length") == str(size) and body == b"",
                  "%s: HEAD" % name)

        # multipart/byteranges: each part's Content-Range and bytes, and the framing
        big = files["several-mib"]
        size = len(big[1])
        st, h, body = app.request("GET", "/_cachebox/content/%s" % big[2],
                                  {"Range": "bytes=0-9, 100000-100009, -5"})
        check(st == 206 and h.get("content-type", "").startswith("multipart/byteranges"),
              "multipart: status and type")
        got = parse_multipart(h.get("content-type", ""), body)
        want = expected_parts(big[1], [(0, 9), (100000, 100009), (size - 5, size - 1)])
        check(got == want, "multipart: well formed, each part's range and bytes exact: %s"
              % [(r, len(b)) for r, b in got or []])
        check(h.get("content-length") == str(len(body)), "multipart: Content-Length of the body")
        mp_len = len(body)

        # aria2c, 3 connections, whole-file sha-256
        out = os.path.join(app.dir, "aria")
        r = subprocess.run(["aria2c", "-q", "-x3", "-s3", "-k1M", "--allow-overwrite=true",
                            "--checksum=sha-256=" + sha256_file(big[0]), "-d", out,
                            "-o", "big.bin", app.url("/_cachebox/content/%s" % big[2])],
                           capture_output=True, timeout=120)
        check(r.returncode == 0, "aria2c x3 with sha-256 check: %s" % r.stderr[-300:])

        # pieces list
        st, h, body = app.request("GET", "/_cachebox/pieces/%s" % big[2])
        lines = body.decode().splitlines()
        npieces = (size + PIECE - 1) // PIECE
        check(st == 200 and lines[:4] == ["cachebox-pieces 1", "size %d" % size,
                                          "piece_size %d" % PIECE, "pieces %d" % npieces],
              "pieces list header: %s" % lines[:4])
        check(lines[4:] == [hashlib.sha256(big[1][i * PIECE:(i + 1) * PIECE]).hexdigest()
                            for i in range(npieces)], "pieces list: every piece's hash")

        # unknown objects and origins
        # (this appliance's origin refuses connections: a miss is a 502)
        st, h, _ = app.request("GET", "/pkgs/nothere.bin?cacheHostOrigin=dl.example.com")
        check(st == 502 and "fwd=miss" in h.get("cache-status", ""),
              "uncached with the origin down is 502 miss (%d)" % st)
        st, h, _ = app.request("GET", "/_cachebox/content/" + "0" * 64)
        check(st == 404, "unknown content ID is 404 (%d)" % st)
        st, _, _ = app.request("GET", "/pkgs/one-byte.bin?cacheHostOrigin=evil.example.org")
        check(st == 404, "unconfigured origin is 404")
        st, _, _ = app.request("GET", "/_cachebox/health")
        check(st == 200, "health")

        # the access log names every response (written on the 200 ms sweep)
        def logged(pred):
            return [f for f in (ln.split() for ln in app.access_log()) if len(f) == 10 and pred(f)]

        ranged = wait_until(lambda: logged(lambda f: f[3] == big[2] and f[5] == "206" and
                                           f[7:9] == ["HIT", "cache"]), 5,
                            "access log line for a ranged hit")
        check(ranged and all(f[1].startswith("127.0.0.1:") and f[2] == "GET" for f in ranged),
              "ranged hits logged with peer and method: %s" % ranged[:1])
        mp = logged(lambda f: f[4] == "bytes=0-9,100000-100009,-5")
        check(len(mp) == 1 and int(mp[0][6]) == mp_len,
              "multipart: the logged bytes are the body sent, part headers included "
              "(%d): %s" % (mp_len, mp))

        # restart: the cache survives
        app.stop()
        app.start()
        for name, (path, data, cid) in files.items():
            r = curl("-o", "-", app.url("/_cachebox/content/%s" % cid))
            check(r.stdout == data, "%s: served after restart" % name)
        objs = app.listing()
        check(sorted(objs) == sorted("dl.example.com/pkgs/%s.bin" % n for n in SIZES) and
              all(o["complete"] and o["size"] == SIZES[k.split("/")[-1][:-4]]
                  for k, o in objs.items()), "list shows every object, complete: %s" % objs)
    finally:
        app.cleanup()


# Both body paths: splice only, and O_DIRECT + SEND_ZC from 64 KiB up.
main(["zerocopy_threshold = 0"])
main(["zerocopy_threshold = 64K"])
finish()
