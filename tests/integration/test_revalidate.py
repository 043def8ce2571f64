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
from cbtest import Appliance, check, curl, finish, make_file, read_file, wait_until  # noqa: E402
from origins import nginx_origin  # noqa: E402

PIECE = 64 * 1024


def main():
    app = Appliance(origins=(), storage_extra=["max_cache_age = 3s"])
    nginx, www = nginx_origin(app)
    same = os.path.join(www, "same.bin")
    changing = os.path.join(www, "changing.bin")
    make_file(same, 10 * PIECE + 5, seed=1)
    make_file(changing, 12 * PIECE + 9, seed=2)
    v1 = read_file(changing)

    url = app.fill_url
    origin_count = nginx.count

    try:
        app.start()
        for name in ("same.bin", "changing.bin"):
            check(curl("-o", "-", url(name)).stdout == read_file(os.path.join(www, name)),
                  "%s: first fill" % name)
        n_same = origin_count("same.bin")

        # The origin's copy changes (new bytes, new length, new mtime: a new ETag).
        make_file(changing, 14 * PIECE + 3, seed=3)
        os.utime(changing, (time.time() + 10, time.time() + 10))
        v2 = read_file(changing)

        time.sleep(1.6)  # still fresh: a hit keeps them in use, no origin request
        for name in ("same.bin", "changing.bin"):
            curl("-r", "0-0", "-o", "/dev/null", url(name))
        check(origin_count("same.bin") == n_same, "a fresh hit does not ask the origin")
        time.sleep(2.0)  # past max_cache_age since the fill, used 2 s ago
        r = curl("-o", "-", url("same.bin"))
        check(r.stdout == read_file(same), "unchanged object served while stale")
        seen = set()

        def replaced():
            body = curl("-o", "-", url("changing.bin")).stdout
            seen.add("v1" if body == v1 else "v2" if body == v2 else "mixed")
            return body == v2

        wait_until(replaced, 15, "the changed object was replaced by the new version",
                   interval=0.2)
        check("mixed" not in seen, "every answer one whole version: %s" % seen)
        wait_until(lambda: origin_count("same.bin") >= n_same + 1, 5,
                   "the unchanged object was revalidated")
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
