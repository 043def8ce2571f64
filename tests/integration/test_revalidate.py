#!/usr/bin/env python3
"""max_cache_age: a complete object older than the age is served and
revalidated behind: kept (age reset, one origin request) when the origin
still has the same version, replaced atomically when it changed. Every
answer is one whole version, never a mix. The objects are used during the
wait: eviction takes objects left unused for longer than max_cache_age
(test_evict.py), revalidation is for those still in use."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, curl, finish, make_file  # noqa: E402
from origins import Nginx  # noqa: E402

PIECE = 64 * 1024


def main():
    app = Appliance(origins=(), storage_extra=["max_cache_age = 3s"])
    www = os.path.join(app.dir, "www")
    os.makedirs(www)
    nginx = Nginx(www, app.dir)
    with open(app.conf, "a") as f:
        f.write("[origin origin.test]\nupstream = http://127.0.0.1:%d\n" % nginx.port)
    same = os.path.join(www, "same.bin")
    changing = os.path.join(www, "changing.bin")
    make_file(same, 10 * PIECE + 5, seed=1)
    make_file(changing, 12 * PIECE + 9, seed=2)
    v1 = open(changing, "rb").read()

    def url(name):
        return app.url("/%s?cacheHostOrigin=origin.test" % name)

    def origin_count(name):
        return sum(1 for q in nginx.requests() if q[0].split(" ")[1] == "/" + name)

    try:
        app.start()
        for name in ("same.bin", "changing.bin"):
            check(curl("-o", "-", url(name)).stdout == open(os.path.join(www, name), "rb").read(),
                  "%s: first fill" % name)
        n_same = origin_count("same.bin")

        # The origin's copy changes (new bytes, new length, new mtime: a new ETag).
        make_file(changing, 14 * PIECE + 3, seed=3)
        os.utime(changing, (time.time() + 10, time.time() + 10))
        v2 = open(changing, "rb").read()

        time.sleep(1.6)  # still fresh: a hit keeps them in use, no origin request
        for name in ("same.bin", "changing.bin"):
            curl("-r", "0-0", "-o", "/dev/null", url(name))
        check(origin_count("same.bin") == n_same, "a fresh hit does not ask the origin")
        time.sleep(2.0)  # past max_cache_age since the fill, used 2 s ago
        r = curl("-o", "-", url("same.bin"))
        check(r.stdout == open(same, "rb").read(), "unchanged object served while stale")
        seen = set()
        deadline = time.time() + 15
        while time.time() < deadline:
            body = curl("-o", "-", url("changing.bin")).stdout
            seen.add("v1" if body == v1 else "v2" if body == v2 else "mixed")
            if body == v2:
                break
            time.sleep(0.2)
        check("mixed" not in seen, "every answer one whole version: %s" % seen)
        check("v2" in seen, "the changed object was replaced by the new version")
        time.sleep(0.5)
        check(origin_count("same.bin") == n_same + 1,
              "unchanged object: one revalidation request (%d)" % (origin_count("same.bin") - n_same))
        # The refreshed object is fresh again: no new origin request within the age.
        curl("-o", "/dev/null", url("same.bin"))
        check(origin_count("same.bin") == n_same + 1, "refreshed: served without the origin")
        check("revalidated origin.test/same.bin: unchanged" in app.logs(), "revalidation logged")
    finally:
        nginx.stop()
        app.cleanup()
    finish()


main()
