#!/usr/bin/env python3
"""cacheboxctl prestage: an object filled from its origin before anyone asks,
one ranged GET per piece over parallel connections, every piece hashed; and
a misbehaving origin never gets a piece committed."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, content_id, curl, finish, make_file  # noqa: E402
from origins import BadOrigin, body_of, nginx_origin, www_file  # noqa: E402

PIECE = 64 * 1024
BAD_SIZE = 5 * PIECE + 1234


def main():
    app = Appliance(origins=())
    nginx, www = nginx_origin(app)
    bad = BadOrigin(BAD_SIZE, PIECE, timeout_s=1.0)
    app.add_origin("bad.test", "http://127.0.0.1:%d" % bad.port, "timeout = 1s")
    try:
        app.start()
        # A real origin: bytes exact, one request per piece, only our headers.
        sizes = {"small.bin": 1000, "exact.bin": PIECE, "big.bin": 5 * 1024 * 1024 + 777}
        for name, size in sizes.items():
            make_file(os.path.join(www, name), size, seed=size)
        for name, size in sizes.items():
            before = len(nginx.requests())
            r = app.ctl("prestage", "http://origin.test/" + name, check_rc=False)
            check(r.returncode == 0 and "complete and verified" in r.stdout,
                  "prestage %s: %s %s" % (name, r.stdout, r.stderr))
            reqs = nginx.requests()[before:]
            npieces = (size + PIECE - 1) // PIECE
            check(len(reqs) == npieces, "%s: %d origin requests for %d pieces" % (
                name, len(reqs), npieces))
            check(all(q[1] == "origin.test" and q[3] == app.box_id and q[4] == "-" and q[5] == "-"
                      and q[6] == "-" and q[2].startswith("bytes=") and q[7] == "206"
                      for q in reqs), "%s: origin saw Host, Range and the loop header only"
                  % name)
            got = curl("-o", "-", app.fill_url(name)).stdout
            check(got == www_file(www, name), "%s: served from the cache byte for byte" % name)
        st, h, _ = app.request("HEAD", "/big.bin?cacheHostOrigin=origin.test")
        check(st == 200 and h.get("etag", "").startswith('"') and "last-modified" in h,
              "origin's validators served")
        r = app.ctl("prestage", "http://nowhere.test/x", check_rc=False)
        check(r.returncode == 1 and "not a configured origin" in r.stderr,
              "unconfigured origin refused: " + r.stderr)
        r = app.ctl("prestage", "http://origin.test/missing.bin", check_rc=False)
        check(r.returncode == 1 and "404 not at the origin" in r.stderr,
              "missing object: " + r.stderr)
        st, _, _ = app.request("GET", "/missing.bin?cacheHostOrigin=origin.test")
        check(st == 404, "missing at the origin: 404 through the box (%d)" % st)

        # A flaky origin (every other answer cut short): retried, then exact.
        r = app.ctl("--json", "prestage", "http://bad.test/flaky/obj", check_rc=False)
        got = json.loads(r.stdout) if r.returncode == 0 else {}
        check(got.get("size") == BAD_SIZE and got.get("key") == "bad.test/flaky/obj" and
              got.get("id") == content_id("bad.test/flaky/obj") and
              got.get("pieces") == (BAD_SIZE + PIECE - 1) // PIECE,
              "flaky origin: prestaged after retries: %s %s" % (r.stdout, r.stderr))
        check(bad.count("/flaky/obj") > (BAD_SIZE + PIECE - 1) // PIECE,
              "flaky origin: pieces were asked again")
        got = curl("-o", "-", app.fill_url("flaky/obj", "bad.test")).stdout
        check(got == body_of("/flaky/obj", BAD_SIZE), "flaky origin: bytes exact")

        # Misbehaving origins: never stored complete, a clear reason, bounded retries.
        faults = {"close-mid": "closed or reset in the body", "reset": "reset in the body",
                  "stall": "stalled", "status200": "answered 200",
                  "wrong-range": "Content-Range",
                  "extra": "extra bytes", "long-cl": "Content-Length does not match",
                  "500": "answered 500", "etag-change": "ETag changed mid-fill"}
        for mode, why in faults.items():
            path = "/%s/obj" % mode
            r = app.ctl("prestage", "http://bad.test" + path, check_rc=False)
            check(r.returncode == 1 and (why in r.stderr or "the fill stopped" in r.stderr),
                  "%s: refused (%s)" % (mode, r.stderr.strip()))
            check(why in app.logs(), "%s: the reason is in the log" % mode)
            listed = app.listing().get("bad.test" + path)
            check(not listed or not listed["complete"], "%s: never listed complete: %s"
                  % (mode, listed))
            npieces = (BAD_SIZE + PIECE - 1) // PIECE
            check(bad.count(path) <= 2 * (1 + 3 * (npieces - 1)),
                  "%s: %d origin requests (at most 3 tries a piece, 2 fills)" % (
                      mode, bad.count(path)))
            # Through the box (a pull-through fill): never a complete answer.
            st, _, body = app.request("GET", path + "?cacheHostOrigin=bad.test",
                                      partial=True)  # a body cut short is allowed here
            good = body_of(path, BAD_SIZE)
            check(st in (502, 504) or (st == 200 and len(body) < BAD_SIZE and
                                       body == good[:len(body)]),
                  "%s: through the box, %d with %d bytes, never complete" % (
                      mode, st, len(body)))
    finally:
        bad.stop()
        nginx.stop()
        app.cleanup()
    finish()


main()
