#!/usr/bin/env python3
"""kill -9 of the appliance at random instants during fills, 20 rounds
(CRASH_ROUNDS; make soak runs 200, CRASH_SEED picks the instants):
afterwards every object read through the box matches the origin's
SHA-256, partial objects resume from the pieces their metadata records,
and the box is back within 5 s."""
import glob
import hashlib
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, check, curl, finish, make_file, meta_present,  # noqa: E402
                    read_file, seed_of)
from origins import nginx_origin  # noqa: E402

PIECE = 64 * 1024
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "20"))
OBJS = 3


def kill9(app):
    pid = app.proc.pid
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                          text=True).stdout.split()
    for k in kids:
        os.kill(int(k), signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    app.proc.wait(10)
    app.proc = None
    app.log.close()
    app.log = None


def main():
    rnd = random.Random(int(os.environ.get("CRASH_SEED", "1234")))
    app = Appliance(origins=())
    nginx, www = nginx_origin(app, limit_rate="1m")  # fills last long enough to be cut
    url = app.fill_url
    origin_count = nginx.count

    try:
        resumed = 0
        for rnd_no in range(ROUNDS):
            names = ["r%02d-%d.bin" % (rnd_no, k) for k in range(OBJS)]
            for n in names:
                make_file(os.path.join(www, n), rnd.randint(20, 60) * PIECE + rnd.randint(0, 999),
                          seed=seed_of(n))
            app.start()
            clients = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", url(n)])
                       for n in names]
            time.sleep(rnd.uniform(0.02, 0.8))  # the random instant is the test
            kill9(app)
            for c in clients:
                c.wait(30)
            before = {n: origin_count(n) for n in names}
            had = {n: len(meta_present(app.shard, "origin.test/" + n)) for n in names}
            t0 = time.time()
            app.start()
            check(time.time() - t0 < 5, "round %d: back in %.1f s" % (rnd_no, time.time() - t0))
            for n in names:
                want = read_file(os.path.join(www, n))
                got = curl("-o", "-", url(n), timeout=60).stdout
                check(hashlib.sha256(got).digest() == hashlib.sha256(want).digest(),
                      "round %d: %s exact after kill -9" % (rnd_no, n))
                npieces = (len(want) + PIECE - 1) // PIECE
                asked = origin_count(n) - before[n]
                check(asked <= npieces - had[n],
                      "round %d: %s asked %d pieces again, %d of %d were on disk" % (
                          rnd_no, n, asked, had[n], npieces))
                if 0 < had[n] < npieces:
                    resumed += 1
            app.stop()
        check(resumed > 0, "some objects resumed from partial copies (%d)" % resumed)
        leftovers = glob.glob(os.path.join(app.shard, "tmp", "*"))
        check(not leftovers, "no temporary files left: %s" % leftovers[:3])
    finally:
        nginx.stop()
        app.cleanup()
    finish()


main()
