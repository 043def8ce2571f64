#!/usr/bin/env python3
"""Bit rot at scale, with a live origin (Debian's nginx): while the box is
stopped, one bit is flipped in each of 50 random pieces of 20 filled
objects, and four metadata files are damaged (a flipped byte, cut in half,
emptied, overwritten). At start the four are dropped; half of the damaged
objects are then read (the damage is found on read, up to the first
damaged piece each read meets), and `cacheboxctl verify` finds the rest.
Each damaged piece is found exactly once, 50 in all, and nothing else; no
damaged byte is ever served (every complete download is sha256-exact, a
cut one is a prefix of the origin's bytes); the origin's log shows each
damaged piece fetched again (and the damaged metadata's objects whole); a
last verify finds nothing; `cacheboxctl stats` and /metrics count 50
corrupt pieces. test_damage.py covers the single cases without an origin."""
import glob
import hashlib
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, check, content_id, curl, finish, make_file,  # noqa: E402
                    wait_until)
from origins import nginx_origin, www_file  # noqa: E402

PIECE = 64 * 1024
PIECES = 8            # per object
OBJECTS = 20
DAMAGED = 50
META_DAMAGE = ("flip", "half", "empty", "garbage")


def data_file(app, cid):
    got = glob.glob(os.path.join(app.shard, "objects", cid[:2], cid + ".*.data"))
    return got[0] if len(got) == 1 else None


def meta_file(app, cid):
    return os.path.join(app.shard, "objects", cid[:2], cid + ".meta")


def damage_meta(path, how):
    with open(path, "rb") as f:
        raw = f.read()
    if how == "flip":
        raw = raw[:40] + bytes([raw[40] ^ 0x10]) + raw[41:]
    elif how == "half":
        raw = raw[:len(raw) // 2]
    elif how == "empty":
        raw = b""
    else:
        raw = random.Random(7).randbytes(len(raw))
    with open(path, "wb") as f:
        f.write(raw)


def main():
    app = Appliance(origins=())
    nginx, www = nginx_origin(app, ("rot.test",))
    names = ["o%02d.bin" % i for i in range(OBJECTS)] + ["m-%s.bin" % h for h in META_DAMAGE]
    for i, name in enumerate(names):
        make_file(os.path.join(www, name), PIECES * PIECE - 1000 + i, seed=1000 + i)
    cid = {n: content_id("rot.test/" + n) for n in names}
    sha = {n: hashlib.sha256(www_file(www, n)).hexdigest() for n in names}

    def download(name):
        r = curl("-o", "-", app.fill_url(name, "rot.test"))
        return r.stdout

    def exact(name):
        body = download(name)
        return hashlib.sha256(body).hexdigest() == sha[name], body

    try:
        t0 = time.monotonic()
        app.start()
        for n in names:
            check(exact(n)[0], "%s: filled from the origin, exact" % n)
        filled = len(nginx.requests())

        # While stopped: one bit in each of 50 random pieces, and the metadata damage.
        app.stop()
        rnd = random.Random(12)
        picks = sorted(rnd.sample([(n, p) for n in names[:OBJECTS] for p in range(PIECES)],
                                  DAMAGED))
        for n, p in picks:
            with open(data_file(app, cid[n]), "r+b") as f:
                off = p * PIECE + rnd.randrange(PIECE - 1000)
                f.seek(off)
                b = f.read(1)
                f.seek(off)
                f.write(bytes([b[0] ^ (1 << rnd.randrange(8))]))
        for how in META_DAMAGE:
            damage_meta(meta_file(app, cid["m-%s.bin" % how]), how)
        damaged = {n: sorted(p for m, p in picks if m == n) for n in names[:OBJECTS]}
        rotten = [n for n in names[:OBJECTS] if damaged[n]]

        app.start()
        logs = app.logs()
        for how in META_DAMAGE:
            c = cid["m-%s.bin" % how]
            check(re.search(r"object %s: metadata [^\n]*dropped" % c, logs),
                  "m-%s: damaged metadata found at start" % how)
            check(c not in [o["id"] for o in app.listing().values()], "m-%s: dropped" % how)

        # Half of the damaged objects are read first: the damage is found on read.
        on_read = rotten[:len(rotten) // 2]
        for n in on_read:
            ok, body = exact(n)
            want = www_file(www, n)
            check(ok or want.startswith(body), "%s: first read exact or cut short, never a "
                  "damaged byte (%d of %d bytes)" % (n, len(body), len(want)))
        found_on_read = {}
        for ln in app.logs().splitlines():
            m = re.search(r"object ([0-9a-f]{64}): piece (\d+) failed its SHA-256 check", ln)
            if m:
                found_on_read.setdefault(m.group(1), set()).add(int(m.group(2)))
        # The rest, and nothing else, by the scrub.
        r = app.ctl_json("verify")
        by_verify = {o["id"]: set(o["corrupt_pieces"]) for o in r["corrupt_objects"]}
        check(all(o["dropped"] for o in r["corrupt_objects"]), "verify dropped what it found")
        # A read stops at the first damaged piece it meets (the client's transfer
        # is cut there), so verify finds the later ones of those objects too.
        want = {(cid[n], p) for n, p in picks}
        got_read = {(c, p) for c, ps in found_on_read.items() for p in ps}
        got_verify = {(c, p) for c, ps in by_verify.items() for p in ps}
        read_ids = {cid[n] for n in on_read}
        check(got_read and {c for c, _ in got_read} <= read_ids,
              "found on read: pieces of the objects read only (%d)" % len(got_read))
        check(not got_read & got_verify, "no piece found twice: %s" % (got_read & got_verify))
        check(got_read | got_verify == want, "found: exactly the damaged pieces (missed %s, "
              "extra %s)" % (sorted(want - got_read - got_verify),
                             sorted((got_read | got_verify) - want)))
        found = len(got_read) + r["corrupt"]
        check(found == DAMAGED and r["corrupt"] == len(got_verify),
              "detections: %d on read + %d by verify = %d (%d damaged)"
              % (len(got_read), r["corrupt"], found, DAMAGED))
        wait_until(lambda: app.stats().get("corrupt_pieces") == DAMAGED and
                   app.metrics().get(("cachebox_corrupt_pieces_total", ())) == DAMAGED,
                   3, "stats corrupt_pieces and the metric say %d" % DAMAGED)

        # Every object exact now; the origin was asked again for the damaged pieces
        # and for the damaged metadata's objects, nothing else.
        for n in names:
            ok, body = exact(n)
            check(ok, "%s: exact after the damage (%d bytes)" % (n, len(body)))
        again = {}
        for q in nginx.requests()[filled:]:
            path = q[0].split(" ")[1].split("?")[0][1:]
            again.setdefault(path, set()).add(int(q[2].split("=")[1].split("-")[0]) // PIECE)
        want_again = {n: set(damaged[n]) for n in rotten}
        want_again.update({"m-%s.bin" % h: set(range(PIECES)) for h in META_DAMAGE})
        check(again == want_again, "the origin was asked for exactly the damaged pieces and "
              "the dropped objects: %s" % sorted((k, sorted(v)) for k, v in again.items()
                                                   if want_again.get(k) != v))
        r = app.ctl_json("verify")
        check(app.stats().get("corrupt_pieces") == DAMAGED, "a clean verify adds nothing")
        check(r["corrupt"] == 0 and r["objects"] == len(names) and
              r["pieces"] == len(names) * PIECES, "a last verify finds nothing: %s"
              % {k: r[k] for k in ("objects", "pieces", "corrupt")})
        check(all(o["complete"] for o in app.listing().values()), "every object complete")
        print("bitrot: %.1f s" % (time.monotonic() - t0), flush=True)
    finally:
        nginx.stop()
        app.cleanup()
    finish()


main()
