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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, content_id, curl, finish, make_file  # noqa: E402
from origins import Nginx  # noqa: E402


def main():
    app = Appliance(origins=(), storage_extra=("min_free_space = 0",
                                               "max_cache_size_percent = 100"))
    os.makedirs(app.shard)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", app.shard],
                       capture_output=True)
    if r.returncode != 0:
        print("skipped: cannot mount a tmpfs here (%s)" % r.stderr.decode().strip())
        sys.exit(77)
    www = os.path.join(app.dir, "www")
    os.makedirs(www)
    nginx = Nginx(www, app.dir, limit_rate="256k")
    with open(app.conf, "a") as f:
        f.write("[origin origin.test]\nupstream = http://127.0.0.1:%d\n" % nginx.port)
    names = {"a.bin": 3 * 1024 * 1024, "b.bin": 4 * 1024 * 1024, "c.bin": 1024 * 1024}
    for n, size in names.items():
        make_file(os.path.join(www, n), size, seed=size)

    def url(n):
        return app.url("/%s?cacheHostOrigin=origin.test" % n)

    try:
        app.start()
        got = {}

        def fetch(n):
            got[n] = curl("-o", "-", url(n), timeout=60).stdout

        curl("-o", "/dev/null", url("a.bin"), timeout=60)
        t = threading.Thread(target=fetch, args=("b.bin",))
        t.start()
        time.sleep(1)
        # Someone else fills the filesystem while b.bin is being filled.
        subprocess.run(["dd", "if=/dev/zero", "of=" + os.path.join(app.shard, "filler"),
                        "bs=64K"], capture_output=True)
        t.join()
        for n, body in got.items():
            want = open(os.path.join(www, n), "rb").read()
            check(body == want or (len(body) < len(want) and body == want[:len(body)]),
                  "%s: exact or cut short, never wrong (%d of %d bytes)" % (
                      n, len(body), len(want)))
        check(len(got["b.bin"]) < names["b.bin"] or "No space left" in app.logs(),
              "the fill met the full disk")
        check(app.proc.poll() is None, "the appliance survived the full disk")
        listing = app.ctl("list").stdout
        for n in ("a.bin", "b.bin"):
            line = [ln for ln in listing.splitlines() if content_id("origin.test/" + n) in ln]
            want = open(os.path.join(www, n), "rb").read()
            if line and "complete" in line[0].split():
                check(got[n] == want, "%s: recorded complete only if it is" % n)
        # Free space (the filler goes, the objects are evicted), then a fill works again.
        os.unlink(os.path.join(app.shard, "filler"))
        for n in ("a.bin", "b.bin"):
            app.ctl("evict", "http://origin.test/" + n, check_rc=False)
        time.sleep(1.5)  # the file server closes evicted files within a second
        body = curl("-o", "-", url("c.bin"), timeout=60).stdout
        check(body == open(os.path.join(www, "c.bin"), "rb").read(), "after freeing space: exact")
        check("complete" in [w for ln in app.ctl("list").stdout.splitlines()
                             if content_id("origin.test/c.bin") in ln for w in ln.split()],
              "after freeing space: stored complete")
    finally:
        nginx.stop()
        app.stop()
        subprocess.run(["umount", app.shard], capture_output=True)
        app.cleanup()
    finish()


main()
