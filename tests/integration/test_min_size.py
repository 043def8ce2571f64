#!/usr/bin/env python3
"""min_file_size_to_cache: objects smaller than it are served from the
origin through the box but not kept; larger ones are cached."""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, content_id, curl, finish, make_file  # noqa: E402
from origins import nginx_origin, www_file  # noqa: E402

PIECE = 64 * 1024


def main():
    app = Appliance(origins=(), storage_extra=["min_file_size_to_cache = 1M"])
    nginx, www = nginx_origin(app)
    make_file(os.path.join(www, "small.bin"), 500 * 1024 + 3, seed=1)
    make_file(os.path.join(www, "big.bin"), 2 * 1024 * 1024, seed=2)

    url = app.fill_url
    origin_count = nginx.count

    try:
        app.start()
        small, big = www_file(www, "small.bin"), www_file(www, "big.bin")
        for i in range(2):
            check(curl("-o", "-", url("small.bin")).stdout == small,
                  "small object served exactly (%d)" % i)
            check(curl("-o", "-", url("big.bin")).stdout == big,
                  "big object served exactly (%d)" % i)
        npieces = (len(small) + PIECE - 1) // PIECE
        check(origin_count("small.bin") == 2 * npieces,
              "small object fetched from the origin each time (%d requests)"
              % origin_count("small.bin"))
        check(origin_count("big.bin") == len(big) // PIECE, "big object fetched once")
        objs = app.listing()
        check("origin.test/small.bin" not in objs, "small object not kept: %s" % list(objs))
        check(objs.get("origin.test/big.bin", {}).get("complete") and
              objs["origin.test/big.bin"]["size"] == len(big), "big object kept, complete")
        cid = content_id("origin.test/small.bin")
        check(not glob.glob(os.path.join(app.shard, "objects", cid[:2], cid + "*")),
              "no file of the small object left")
        r = app.ctl("prestage", "http://origin.test/small.bin", check_rc=False)
        check(r.returncode == 1 and "min_file_size_to_cache" in r.stderr,
              "prestage of a small object says why it is not stored: " + r.stderr)
    finally:
        nginx.stop()
        app.cleanup()
    finish()


main()
