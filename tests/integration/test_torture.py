#!/usr/bin/env python3
"""Torture in curl's style (tests/torture/cb_torture.c, an LD_PRELOAD
shim): one script (a fill over HTTPS, a prestage, a verify, an eviction,
a fill again) against a real nginx origin, first once to count the calls
cachebox-storage makes of each kind (malloc, open, write, fsync, rename,
OpenSSL's read/write/connect), then again and again with the k-th call of
one kind failed, for a spread of k over the counted range. Every run must
end with: the failure injected (the shim's log), no crash (control saw
no cachebox-storage killed by a signal; a clean error exit is fine), no
sanitizer report, and a final download of each object byte-exact. Calls
made by libseccomp's and OpenSSL's own code are never failed (SPARE)."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (BUILD, Appliance, check, finish, free_port, make_file,  # noqa: E402
                    read_file, seed_of, wait_until)
from origins import Nginx, make_test_certs  # noqa: E402

SHIM = os.path.join(BUILD, "tests", "torture", "cb_torture.so")
KINDS = ("malloc", "open", "write", "fsync", "rename", "ssl")
PER_KIND = int(os.environ.get("TORTURE_PER_KIND", "10"))
PIECE = 64 * 1024
OBJS = {"a.bin": 6 * PIECE + 321, "b.bin": 4 * PIECE + 5}
# Calls made by these libraries' own code are never failed (the shim moves the
# failure to the next call): their allocation failures end in their own bugs
# (libseccomp's seccomp_load double-freeing on ENOMEM, OpenSSL leaking, or
# keeping a half-loaded table for the life of the process). What is ours to
# test is how the file server takes an OpenSSL call that fails (the "ssl" kind).
SPARE = "libseccomp:libcrypto:libssl"


def shim_env(run_dir, fail=None):
    env = dict(os.environ, LD_PRELOAD=SHIM, CBT_PROC="cachebox-storage", CBT_SPARE=SPARE,
               CBT_LOG=os.path.join(run_dir, "injected"), CBT_ONCE=os.path.join(run_dir, "once"),
               CBT_COUNT=os.path.join(run_dir, "counts"))
    # the shim is preloaded ahead of the sanitizer run time of the ASan build
    env["ASAN_OPTIONS"] = ":".join(filter(None, (os.environ.get("ASAN_OPTIONS"),
                                                 "verify_asan_link_order=0")))
    if fail:
        env["CBT_FAIL"] = fail
    return env


def script(app, quiet):
    """The scenario; its steps may fail under an injected failure (they are
    not checked here), the box must not."""
    a = "/a.bin?cacheHostOrigin=tls.test"
    steps = [
        lambda: app.request("GET", a, timeout=15, partial=True),
        lambda: app.ctl("prestage", "https://tls.test/b.bin", check_rc=False),
        lambda: app.ctl("verify", check_rc=False),
        lambda: app.ctl("evict", "https://tls.test/a.bin", check_rc=False),
        lambda: app.request("GET", a, timeout=15, partial=True),
    ]
    for s in steps:
        try:
            s()
        except OSError as e:
            if not quiet:
                print("step: %s" % e)


def healthy(app):
    try:
        return app.request("GET", "/_cachebox/health", timeout=2)[0] == 200
    except OSError:
        return False


def one_run(www, nginx_port, ca, fail, what):
    run_dir = tempfile.mkdtemp(prefix="cbx-tort-")
    app = Appliance(origins=(), env=shim_env(run_dir, fail))
    app.add_origin("tls.test", "https://127.0.0.1:%d" % nginx_port, "ca_file = %s" % ca)
    # OpenSSL's ERR_R_INTERNAL_ERROR, quoted in a retried handshake's warning
    app.log_ok = lambda ln: (" warn: " in ln and "TLS handshake with 127.0.0.1 failed: "
                                            "internal error" in ln)
    counts = {}
    try:
        app.start(timeout=20)
        script(app, quiet=fail is not None)
        wait_until(lambda: healthy(app), 10, "%s: the file server answers after the run" % what)
        injected = read_file(os.path.join(run_dir, "injected")).decode() if os.path.exists(
            os.path.join(run_dir, "injected")) else ""
        check(not any("from " + x in injected for x in SPARE.split(":")),
              "%s: no call of a spared library failed: %s" % (what, injected.strip()))
        for name in OBJS:
            want = read_file(os.path.join(www, name))
            path = "/%s?cacheHostOrigin=tls.test" % name
            st, _, got = app.request("GET", path, timeout=30, partial=True)
            if st != 200 or got != want:
                # the one failure may land in this download itself (a k moved past
                # a spared library's call): a clean cut, then the next one is exact
                check(st == 0 or want.startswith(got), "%s: a failed final download of %s "
                      "is cut short, not wrong (%d, %d bytes)" % (what, name, st, len(got)))
                st, _, got = app.request("GET", path, timeout=30)
            check(st == 200 and got == want, "%s: a final download of %s is exact (%d, %d of "
                  "%d bytes)" % (what, name, st, len(got), len(want)))
        log = app.logs()
        if os.environ.get("CBTEST_VERBOSE"):
            print("\n".join(ln for ln in log.splitlines() if "health" not in ln))
        died = [ln for ln in log.splitlines()
                if "cachebox-storage (pid" in ln and "killed by signal" in ln]
        check(not died, "%s: no file server died of a signal: %s" % (what, died))
        app.stop()
        if fail:
            n = injected.count("cb_torture: failing")
            check(n <= 1, "%s: one failure injected, not %d: %s" % (what, n, injected))
            return n
        with open(os.path.join(run_dir, "counts")) as f:
            for ln in f:
                kind, n, _ = ln.split()
                counts[kind] = counts.get(kind, 0) + int(n)
        return counts
    finally:
        app.cleanup()
        for f in ("injected", "once", "counts"):
            p = os.path.join(run_dir, f)
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(run_dir)


def spread(n, per):
    """per values of k from 1 to n, evenly spread."""
    if n <= 0:
        return []
    if n <= per:
        return list(range(1, n + 1))
    if per == 1:
        return [(n + 1) // 2]
    return sorted({1 + round(i * (n - 1) / (per - 1)) for i in range(per)})


def main():
    if not os.path.exists(SHIM):
        print("skip: no torture shim at %s (meson -Dtests)" % SHIM)
        sys.exit(77)
    t0 = time.time()
    odir = tempfile.mkdtemp(prefix="cbx-tort-origin-")
    www = os.path.join(odir, "www")
    os.makedirs(www)
    make_test_certs(odir)
    port = free_port()
    nginx = Nginx(www, odir, port=port, servers=(
        "server { listen 127.0.0.1:%d ssl; root %s; ssl_certificate %s/good.pem; "
        "ssl_certificate_key %s/good.key; }" % (port, www, odir, odir)))
    ca = os.path.join(odir, "ca.pem")
    for name, size in OBJS.items():
        make_file(os.path.join(www, name), size, seed=seed_of(name))
    try:
        only = os.environ.get("TORTURE_ONLY")  # kind:k, one run (with CBTEST_VERBOSE: its log)
        if only:
            check(one_run(www, port, ca, only, only) == 1, "%s injected" % only)
            return
        counts = one_run(www, port, ca, None, "counting run")
        print("calls in cachebox-storage over the script: %s" % counts, flush=True)
        check(all(counts.get(k, 0) > 0 for k in KINDS),
              "the script makes calls of every kind: %s" % counts)
        runs = injected = 0
        for kind in KINDS:
            hit = 0
            # most allocations are the start-up's: three times the instants for malloc
            per = PER_KIND * (3 if kind == "malloc" else 1)
            for k in spread(counts.get(kind, 0), per):
                n = one_run(www, port, ca, "%s:%d" % (kind, k), "%s:%d" % (kind, k))
                runs += 1
                injected += n > 0
                hit += n
            check(hit > 0, "failures of %s were injected (%d)" % (kind, hit))
        # threads make the counts vary a little from run to run, and a failure
        # moved past a spared library's call may move past the end: a k near
        # the end may not be reached, but most must be
        check(injected >= runs * 0.7, "%d of %d runs had their failure injected" % (
            injected, runs))
        print("test_torture: %d runs, %d injected; %.1f s" % (runs, injected, time.time() - t0))
    finally:
        nginx.stop()
        for root, dirs, files in os.walk(odir, topdown=False):
            for f in files:
                os.unlink(os.path.join(root, f))
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(odir)
        finish()


main()
