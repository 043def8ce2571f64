#!/usr/bin/env python3
"""Damage done to the shards while the box is down is never served: a
bit-flipped piece is found on first read and dropped, a corrupt metadata
file or a truncated data file drops the object at start."""
import glob
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, content_id, finish, make_file, read_file  # noqa: E402

PIECE = 64 * 1024


def obj_files(app, cid):
    d = os.path.join(app.shard, "objects", cid[:2])
    meta = os.path.join(d, cid + ".meta")
    data = glob.glob(os.path.join(d, cid + ".*.data"))
    return meta, data[0] if data else None


def main():
    app = Appliance()
    try:
        app.start()
        blobs = {}
        for name in ("flip", "meta", "trunc", "good"):
            p = make_file(os.path.join(app.dir, name), 6 * PIECE + 100, seed=len(name) * 31)
            app.import_file(p, "http://dl.example.com/%s.bin" % name)
            blobs[name] = (read_file(p), content_id("dl.example.com/%s.bin" % name))
        app.stop()

        # Damage while stopped.
        meta, data = obj_files(app, blobs["flip"][1])
        with open(data, "r+b") as f:
            f.seek(2 * PIECE + 17)
            b = f.read(1)
            f.seek(2 * PIECE + 17)
            f.write(bytes([b[0] ^ 0x40]))
        meta, data = obj_files(app, blobs["meta"][1])
        with open(meta, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 1]))
        meta, data = obj_files(app, blobs["trunc"][1])
        os.truncate(data, 3 * PIECE)

        app.start()
        logs = app.logs()
        check("metadata is corrupt" in logs, "corrupt metadata reported at start")
        check("wrong size" in logs, "truncated data file reported at start")
        for name in ("meta", "trunc"):
            st, _, _ = app.request("GET", "/_cachebox/content/" + blobs[name][1])
            check(st == 404, "%s: dropped at start, 404 (%d)" % (name, st))
            check(not os.path.exists(obj_files(app, blobs[name][1])[0]),
                  "%s: files removed" % name)

        data, cid = blobs["flip"]
        target = "/_cachebox/content/" + cid
        st, h, body = app.request("GET", target, {"Range": "bytes=0-%d" % (PIECE - 1)})
        check(st == 206 and body == data[:PIECE], "flip: intact piece 0 served")
        # The origin of this appliance refuses connections, so the dropped
        # piece cannot be fetched again: a clean error before the body, or a
        # body cut short before the piece, never the damaged bytes.
        st, h, body = app.request("GET", target,
                                  {"Range": "bytes=%d-%d" % (2 * PIECE, 2 * PIECE + 10)})
        check(st in (404, 502) and data[2 * PIECE:2 * PIECE + 11] not in body,
              "flip: damaged piece not served (%d)" % st)
        st, h, body = app.request("GET", target, partial=True)  # cut short is fine here
        check(st in (404, 502) or (st == 200 and len(body) <= 2 * PIECE and
                                   body == data[:len(body)]),
              "flip: whole object never served complete (%d, %d bytes)" % (st, len(body)))
        st, h, body = app.request("GET", target,
                                  {"Range": "bytes=%d-%d" % (3 * PIECE, 4 * PIECE)})
        check(st == 206 and body == data[3 * PIECE:4 * PIECE + 1], "flip: later pieces served")
        app.wait_log("piece 2 failed its SHA-256 check")  # flip: logged
        obj = app.listing().get("dl.example.com/flip.bin")
        check(obj and not obj["complete"] and obj["id"] == cid, "flip: listed as partial: %s"
              % obj)
        st, h, body = app.request("GET", "/_cachebox/pieces/" + cid)
        lines = body.decode().splitlines()
        hashes = [hashlib.sha256(data[i * PIECE:(i + 1) * PIECE]).hexdigest() for i in range(7)]
        check(st == 200 and lines[4:] == hashes[:2] + ["-"] + hashes[3:],
              "flip: pieces list shows the gap at piece 2, the other hashes: %s" % lines[4:])

        # The drop is on disk: still missing after another restart.
        app.stop()
        app.start()
        st, h, body = app.request("GET", target,
                                  {"Range": "bytes=%d-%d" % (2 * PIECE, 2 * PIECE + 10)})
        check(st in (404, 502), "flip: still missing after restart (%d)" % st)
        st, h, body = app.request("GET", "/_cachebox/content/" + blobs["good"][1])
        check(st == 200 and body == blobs["good"][0], "untouched object intact")
    finally:
        app.cleanup()
    finish()


main()
