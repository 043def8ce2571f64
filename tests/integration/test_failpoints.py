#!/usr/bin/env python3
"""A crash at each named failpoint (common/cb_failpoint.h) of committing a
piece or replacing an object, with the failpoint build of the daemons
(tests/failpoint/): for every name on CB_FAILPOINT_LIST, a fresh box with a
real nginx origin runs a fill (the file server dies there, control restarts
it) or an import over a cached object (control dies there; the test
restarts it, as systemd would). Afterwards: the failpoint fired (its ONCE
file and its log line, and control saw the SIGKILL), the box is back within
5 s, full and ranged downloads are byte-exact, and every piece the
metadata on disk did not record was fetched again from the origin."""
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (FP_CONTROL, ROOT, Appliance, check, content_id, curl, finish,  # noqa: E402
                    make_file, meta_present, read_file, seed_of, wait_until)
from origins import Nginx  # noqa: E402

PIECE = 64 * 1024
SIZE = 40 * PIECE + 777  # META_EVERY is 16: metadata at piece 0, 16, 32 and the end
NPIECES = (SIZE + PIECE - 1) // PIECE


def ranges(n):
    """The ranges checked of an n-byte object: its start, across pieces, its end."""
    return ((0, 99), (PIECE - 10, PIECE + 10), (17 * PIECE + 5, 33 * PIECE), (n - 300, n - 1))


# (failpoint, its hit that fires, what triggers it). A fill's metadata is
# written at its publication (hit 1), then every 16 pieces; an import writes
# it once, so hit 2 is the import that replaces.
CASES = (
    ("fill-first-written", 1, "fill"),
    ("fill-piece-written", 6, "fill"),
    ("meta-written", 2, "fill"),
    ("meta-synced", 2, "fill"),
    ("meta-renamed", 2, "fill"),
    ("meta-torn", 2, "fill"),
    ("meta-torn", 1, "fill"),
    ("index-put-torn", 1, "fill"),
    ("index-put-torn", 2, "fill"),
    ("import-copied", 2, "import"),
    ("publish-indexed", 1, "import"),
    ("meta-renamed", 2, "import"),
    ("meta-torn", 2, "import"),
    ("index-put-torn", 2, "import"),
)


def failpoint_names():
    """The names on CB_FAILPOINT_LIST, read from the header itself."""
    with open(os.path.join(ROOT, "common", "cb_failpoint.h")) as f:
        text = f.read()
    body = text.split("#define CB_FAILPOINT_LIST(X)", 1)[1].split("\n\n", 1)[0]
    return re.findall(r'X\("([a-z0-9-]+)"', body)


def documented_names():
    """The names in docs/storage.md's failpoint table (checked against the header)."""
    with open(os.path.join(ROOT, "docs", "storage.md")) as f:
        text = f.read()
    body = text.split("### Failpoints and torture", 1)[-1].split("\n\n", 3)[2]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", body, re.M)


RESTARTS = []


def sha(b):
    return hashlib.sha256(b).hexdigest()


def pieces_requested(nginx, name, skip):
    """The pieces of /name the origin was asked for, after its first skip requests."""
    got = set()
    for q in nginx.requests_for(name)[skip:]:
        m = re.match(r"bytes=(\d+)-(\d+)", q[2])
        if m:
            got.update(range(int(m.group(1)) // PIECE, int(m.group(2)) // PIECE + 1))
    return got


def downloads_exact(app, path, wants, what, miss_ok=False):
    """A full download and ranges() of path, each equal to the same one of wants;
    with miss_ok, a 404 for all of them (the crash lost both versions: a miss,
    never a wrong byte) passes too."""
    st, _, full = app.request("GET", path, timeout=30)
    if miss_ok and st == 404:
        for a, b in ranges(len(wants[-1])):
            st, _, _ = app.request("GET", path, {"Range": "bytes=%d-%d" % (a, b)})
            check(st == 404, "%s: a miss stays a miss for bytes %d-%d (%d)" % (what, a, b, st))
        return None
    match = [w for w in wants if sha(full) == sha(w)]
    check(st == 200 and len(match) == 1,
          "%s: the full download (%d, %d bytes) is one version, exact" % (what, st, len(full)))
    want = match[0] if match else wants[-1]
    for a, b in ranges(len(want)):
        st, _, got = app.request("GET", path, {"Range": "bytes=%d-%d" % (a, b)})
        check(st == 206 and got == want[a:b + 1],
              "%s: bytes %d-%d exact (%d, %d bytes)" % (what, a, b, st, len(got)))
    return want


def fired(app, name, proc, once):
    """The failpoint fired in proc: its ONCE file and its log line."""
    wait_until(lambda: os.path.exists(once), 20, "%s fired in %s" % (name, proc))
    try:
        rec = read_file(once).decode().split()
    except OSError:
        rec = []
    check(rec[:2] == [name, proc], "the ONCE file names %s in %s: %s" % (name, proc, rec))
    app.wait_log("failpoint %s: crashing (%s pid" % (name, proc), 5)


def restarted(app, old_pid):
    """A new file server (its pid file is written before it listens) answers."""
    try:
        return app.storage_pid() != old_pid and app.request(
            "GET", "/_cachebox/health", timeout=2)[0] == 200
    except (OSError, ValueError):
        return False


def run_fill(nginx, www, name, hit, obj):
    once = os.path.join(tempfile.gettempdir(), "cbx-fp-%d-%s-%d" % (os.getpid(), name, hit))
    env = dict(os.environ, CACHEBOX_FAILPOINT="%s:%d" % (name, hit),
               CACHEBOX_FAILPOINT_ONCE=once)
    app = Appliance(origins=(), control=FP_CONTROL, env=env)
    app.add_origin("origin.test", "http://127.0.0.1:%d" % nginx.port)
    what = "%s:%d (fill)" % (name, hit)
    want = read_file(os.path.join(www, obj))
    try:
        app.start()
        spid = app.storage_pid()
        url = app.fill_url(obj)
        first = curl("-o", "-", url)
        fired(app, name, "cachebox-storage", once)
        t_crash = os.path.getmtime(once)
        check(first.stdout != want, "%s: the client of the cut fill did not get it whole" % what)
        if first.stdout:
            check(want.startswith(first.stdout),
                  "%s: what the cut client got is a prefix of the object (%d bytes)" % (
                      what, len(first.stdout)))
        app.wait_log("cachebox-storage (pid %d) killed by signal 9" % spid, 5)
        back = wait_until(lambda: restarted(app, spid), 10, "%s: restarted" % what)
        took = time.time() - t_crash
        RESTARTS.append(took)
        check(back and took < 5, "%s: the file server is back in %.2f s" % (what, took))
        time.sleep(0.2)  # nginx logs a request once it has answered it
        had = meta_present(app.shard, "origin.test/" + obj)
        skip = nginx.count(obj)
        downloads_exact(app, "/%s?cacheHostOrigin=origin.test" % obj, (want,), what)
        again = pieces_requested(nginx, obj, skip)
        missing = set(range(NPIECES)) - had
        check(missing <= again and (missing or name == "index-put-torn"),
              "%s: the %d pieces the metadata did not record were fetched again (%s)" % (
                  what, len(missing), sorted(missing - again)[:8]))
        # the restarted file server counts the pieces it fetched again
        wait_until(lambda: app.stats().get("origin_requests", 0) >= len(again), 3,
                   "%s: %d origin requests counted after the restart" % (what, len(again)))
    finally:
        app.cleanup()
        if os.path.exists(once):
            os.unlink(once)


def run_import(name, hit):
    once = os.path.join(tempfile.gettempdir(), "cbx-fp-%d-%s-%d-i" % (os.getpid(), name, hit))
    env = dict(os.environ, CACHEBOX_FAILPOINT="%s:%d" % (name, hit),
               CACHEBOX_FAILPOINT_ONCE=once)
    app = Appliance(control=FP_CONTROL, env=env)
    what = "%s:%d (import)" % (name, hit)
    key = "dl.example.com/fp.bin"
    cid = content_id(key)
    try:
        v1 = make_file(os.path.join(app.dir, "v1"), SIZE, seed=seed_of(what + "1"))
        v2 = make_file(os.path.join(app.dir, "v2"), SIZE - 5000, seed=seed_of(what + "2"))
        app.start()
        app.import_file(v1, "http://" + key)
        r = app.ctl("import", v2, "http://" + key, check_rc=False)
        fired(app, name, "cachebox-control", once)
        t_crash = os.path.getmtime(once)
        check(r.returncode != 0, "%s: the import cut by the crash did not report success" % what)
        app.proc.wait(10)
        app.log.close()
        app.start()  # returns on the stale socket file: wait for an answer
        wait_until(app.ctl_answers, 5, "%s: the restarted control answers" % what)
        took = time.time() - t_crash
        RESTARTS.append(took)
        check(took < 5, "%s: control is back in %.2f s" % (what, took))
        path = "/_cachebox/content/" + cid
        w1, w2 = read_file(v1), read_file(v2)
        # a torn metadata file or a torn index entry loses both versions: a miss
        downloads_exact(app, path, (w1, w2), what + ", after the crash",
                        miss_ok=name in ("meta-torn", "index-put-torn"))
        app.import_file(v2, "http://" + key)
        downloads_exact(app, path, (w2,), what + ", imported again")
        objs = app.listing()
        check(objs.get(key, {}).get("size") == len(w2) and objs[key].get("complete"),
              "%s: list shows the new version, complete: %s" % (what, objs.get(key)))
    finally:
        app.cleanup()
        if os.path.exists(once):
            os.unlink(once)


def main():
    if not os.path.exists(FP_CONTROL):
        print("skip: no failpoint build at %s (meson -Dtests)" % FP_CONTROL)
        sys.exit(77)
    t0 = time.time()
    names = failpoint_names()
    check(len(names) >= 8 and set(names) == {c[0] for c in CASES},
          "every failpoint of cb_failpoint.h has a case here: %s" % sorted(
              set(names) ^ {c[0] for c in CASES}))
    check(documented_names() == names,
          "docs/storage.md's table lists the header's failpoints: %s" % documented_names())
    odir = tempfile.mkdtemp(prefix="cbx-fp-origin-")
    www = os.path.join(odir, "www")
    os.makedirs(www)
    nginx = Nginx(www, odir)
    try:
        for i, (name, hit, how) in enumerate(CASES):
            t1 = time.time()
            if how == "fill":
                obj = "fp-%02d.bin" % i
                make_file(os.path.join(www, obj), SIZE, seed=seed_of(obj))
                run_fill(nginx, www, name, hit, obj)
            else:
                run_import(name, hit)
            print("%s:%d (%s): %.1f s" % (name, hit, how, time.time() - t1), flush=True)
    finally:
        nginx.stop()
        subprocess.run(["rm", "-rf", odir])
    print("test_failpoints: %d crashes, restarts %.2f-%.2f s, %.1f s" % (
        len(RESTARTS), min(RESTARTS, default=0), max(RESTARTS, default=0), time.time() - t0))
    finish()


main()
