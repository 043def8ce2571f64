#!/usr/bin/env python3
"""Scrub: `cacheboxctl verify` re-hashes stored pieces, reports a bit flip
on disk, drops the piece, and the next request fetches it again from the
origin (Debian's nginx): the client gets exact bytes, and a second verify
finds nothing."""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, content_id, curl, finish, make_file  # noqa: E402
from origins import nginx_origin, www_file  # noqa: E402

PIECE = 64 * 1024


def main():
    app = Appliance(origins=())
    nginx, www = nginx_origin(app, ("v.test",))
    for name in ("a.bin", "b.bin"):
        make_file(os.path.join(www, name), 16 * PIECE + 100, seed=len(name) + ord(name[0]))

    def data(name):
        return www_file(www, name)

    def url(name):
        return app.fill_url(name, "v.test")

    try:
        app.start()
        for name in ("a.bin", "b.bin"):
            check(curl("-o", "-", url(name)).stdout == data(name), "%s filled" % name)
        r = app.ctl_json("verify")
        check(r["objects"] == 2 and r["pieces"] == 34 and r["corrupt"] == 0,
              "a clean cache verifies clean: %s" % r)

        # Flip a bit in piece 3 of a.bin, on disk.
        cid = content_id("v.test/a.bin")
        files = glob.glob(os.path.join(app.shard, "**", cid + ".*.data"), recursive=True)
        check(len(files) == 1, "found a.bin's data file")
        with open(files[0], "r+b") as f:
            f.seek(3 * PIECE + 10)
            b = f.read(1)
            f.seek(3 * PIECE + 10)
            f.write(bytes([b[0] ^ 0x01]))
        before = len(nginx.requests())
        r = app.ctl_json("verify")
        check(r["corrupt"] == 1 and r["corrupt_objects"][0]["id"] == cid and
              r["corrupt_objects"][0]["corrupt_pieces"] == [3] and
              r["corrupt_objects"][0]["dropped"], "verify reports piece 3 of a.bin: %s" % r)
        objs = app.listing()
        check(not objs["v.test/a.bin"]["complete"] and objs["v.test/b.bin"]["complete"],
              "a.bin is partial now, b.bin still complete")
        app.wait_log("corrupt piece(s) [3]")
        r = curl("-o", "-", url("a.bin"))
        check(r.stdout == data("a.bin"), "the next client gets exact bytes")
        again = [q for q in nginx.requests()[before:] if "a.bin" in q[0]]
        check(len(again) == 1 and again[0][2] == "bytes=%d-%d" % (3 * PIECE, 4 * PIECE - 1),
              "only piece 3 was fetched again: %s" % again)
        r = app.ctl_json("verify", "http://v.test/a.bin")
        check(r["objects"] == 1 and r["corrupt"] == 0, "a.bin verifies clean again: %s" % r)
        r = app.ctl("verify", "http://v.test/none.bin", check_rc=False)
        check(r.returncode == 1 and "not cached" in r.stderr, "an unknown object is an error: %s"
              % r.stderr.strip())
    finally:
        nginx.stop()
        app.cleanup()
    finish()


main()
