#!/usr/bin/env python3
"""Importing a URL that is cached replaces the object atomically: a reader
of the old version finishes with the old bytes, new readers get the new
ones, and the old data file leaves the disk."""
import glob
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, check, content_id, finish, make_file,  # noqa: E402
                    sha256_file, wait_until)


def main():
    app = Appliance(piece_size="1M")
    try:
        app.start()
        v1 = make_file(os.path.join(app.dir, "v1"), 24 << 20, seed=1)
        v2 = make_file(os.path.join(app.dir, "v2"), 20 << 20, seed=2)
        url = "http://dl.example.com/update.cab"
        cid = content_id("dl.example.com/update.cab")
        app.import_file(v1, url)
        out = os.path.join(app.dir, "slow")
        slow = subprocess.Popen(["curl", "-sS", "--limit-rate", "6M", "-o", out,
                                 app.url("/_cachebox/content/" + cid)])
        wait_until(lambda: os.path.exists(out) and os.path.getsize(out) >= 1 << 20, 5,
                   "the slow reader is reading the old version")
        app.import_file(v2, url)
        r = subprocess.run(["curl", "-sS", app.url("/_cachebox/content/" + cid)],
                           capture_output=True, timeout=60)
        check(hashlib.sha256(r.stdout).hexdigest() == sha256_file(v2),
              "a new reader gets the new version")
        check(slow.wait(60) == 0, "the slow reader finished")
        check(sha256_file(out) == sha256_file(v1), "the slow reader got exactly the old version")
        files = glob.glob(os.path.join(app.shard, "objects", cid[:2], cid + ".*"))
        check(len(files) == 2, "one meta and one data file left: %s" % files)
        objs = app.listing()
        check(list(objs) == ["dl.example.com/update.cab"] and
              objs["dl.example.com/update.cab"]["size"] == 20 << 20 and
              objs["dl.example.com/update.cab"]["id"] == cid and
              objs["dl.example.com/update.cab"]["complete"],
              "list reports the new size: %s" % objs)
        app.stop()
        app.start()
        r = subprocess.run(["curl", "-sS", app.url("/_cachebox/content/" + cid)],
                           capture_output=True, timeout=60)
        check(hashlib.sha256(r.stdout).hexdigest() == sha256_file(v2),
              "the new version after a restart")
    finally:
        app.cleanup()
    finish()


main()
