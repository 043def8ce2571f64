#!/usr/bin/env python3
"""A full shard (ENOSPC) during fills: no crash, nothing recorded complete
that is not, every answer exact or cut short (never wrong), and fills work
again once space is freed. The shard is a 6 MiB tmpfs the test mounts;
without the right to mount, the scenario is skipped (exit 77). The cache's
own limits keep it from filling its disk, so the disk is filled behind its
back, as another program on the same filesystem would, while a slow fill
runs."""
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, curl, finish, make_file, wait_until  # noqa: E402
from origins import nginx_origin, www_file  # noqa: E402


def main():
    app = Appliance(origins=(), storage_extra=("min_free_space = 0",
                                               "max_cache_size_percent = 100"))
    os.makedirs(app.shard)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", app.shard],
                       capture_output=True)
    if r.returncode != 0:
        print("skipped: cannot mount a tmpfs here (%s)" % r.stderr.decode().strip())
        sys.exit(77)
    nginx, www = nginx_origin(app, limit_rate="256k")
    names = {"a.bin": 3 * 1024 * 1024, "b.bin": 4 * 1024 * 1024, "c.bin": 1024 * 1024}
    for n, size in names.items():
        make_file(os.path.join(www, n), size, seed=size)

    url = app.fill_url

    def free_bytes():
        st = os.statvfs(app.shard)
        return st.f_bavail * st.f_frsize

    try:
        app.start()
        got = {}

        def fetch(n):
            got[n] = curl("-o", "-", url(n), timeout=60).stdout

        curl("-o", "/dev/null", url("a.bin"), timeout=60)
        t = threading.Thread(target=fetch, args=("b.bin",))
        t.start()
        wait_until(lambda: len(nginx.requests_for("b.bin")) >= 2, 10,
                   "the fill of b.bin is under way")
        # Someone else fills the filesystem while b.bin is being filled.
        subprocess.run(["dd", "if=/dev/zero", "of=" + os.path.join(app.shard, "filler"),
                        "bs=64K"], capture_output=True)
        t.join()
        for n, body in got.items():
            want = www_file(www, n)
            check(body == want or (len(body) < len(want) and body == want[:len(body)]),
                  "%s: exact or cut short, never wrong (%d of %d bytes)" % (
                      n, len(body), len(want)))
        check(len(got["b.bin"]) < names["b.bin"] or "No space left" in app.logs(),
              "the fill met the full disk")
        check(app.proc.poll() is None, "the appliance survived the full disk")
        objs = app.listing()
        for n in ("a.bin", "b.bin"):
            obj = objs.get("origin.test/" + n)
            if obj and obj["complete"]:
                # a.bin was fetched to /dev/null: compare what the cache serves
                body = got.get(n) or curl("-o", "-", url(n), timeout=60).stdout
                check(body == www_file(www, n) and obj["size"] == len(body),
                      "%s: recorded complete only if it is" % n)
        # Free space (the filler goes, the objects are evicted), then a fill works again.
        os.unlink(os.path.join(app.shard, "filler"))
        for n in ("a.bin", "b.bin"):
            app.ctl("evict", "http://origin.test/" + n, check_rc=False)
        # the file server closes evicted files within a second: then the space is free
        wait_until(lambda: free_bytes() >= 2 * names["c.bin"], 5,
                   "the space of the evicted objects is free again")
        body = curl("-o", "-", url("c.bin"), timeout=60).stdout
        check(body == www_file(www, "c.bin"), "after freeing space: exact")
        obj = app.listing().get("origin.test/c.bin")
        check(obj and obj["complete"] and obj["size"] == names["c.bin"],
              "after freeing space: stored complete: %s" % obj)
    finally:
        nginx.stop()
        app.stop()
        subprocess.run(["umount", app.shard], capture_output=True)
        app.cleanup()
    finish()


main()
