#!/usr/bin/env python3
"""The box as an HTTP proxy and in a hierarchy, with real clients and real
parents on loopback: curl -x and wget through the box for a configured
origin (exact bytes, a miss then a hit), 403 for any other host, CONNECT
405 and a close; apt (Acquire::http::Proxy) against a small Debian
repository made with apt-ftparchive and served by the origin nginx; two
branch boxes filling through a regional box, and through Debian's Squid,
with each byte crossing to the origin once for both branches; and a real
loop between two boxes, refused with 508 without a request to the origin."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, access_log_lines, check, curl, expect_close, finish,  # noqa: E402
                    free_port, make_file, parse_responses, sha256_file, wait_until)
from aptrepo import apt_argv, make_repo  # noqa: E402
from origins import Nginx  # noqa: E402

PIECE = 64 * 1024


def box(name, upstream, *lines):
    """A box with one origin called `name` (the host clients ask for)."""
    app = Appliance(origins=())
    app.add_origin(name, upstream, *lines)
    return app


def origin_bytes(nginx, name):
    """Body bytes the origin sent for /name (its log's last field)."""
    return sum(int(q[8]) for q in nginx.requests_for(name))


def proxied(proxy_port, url, out, *extra):
    return curl("-s", "-x", "http://127.0.0.1:%d" % proxy_port, "-o", out,
                "-w", "%{http_code}", *extra, url)


def clients(app, nginx, www, base, tmp):
    """curl -x and wget through the box; 403 for other hosts; CONNECT."""
    make_file(os.path.join(www, "a.bin"), 10 * PIECE + 3, seed=11)
    make_file(os.path.join(www, "b.bin"), 3 * PIECE, seed=12)
    out = os.path.join(tmp, "a.out")
    r = curl("-s", "-x", "http://127.0.0.1:%d" % app.port, "-D", "-", "-o", out,
             base + "/a.bin")
    check(r.returncode == 0 and b"cachebox; fwd=miss" in r.stdout and
          sha256_file(out) == sha256_file(os.path.join(www, "a.bin")),
          "curl -x: a cold object, exact: %s" % r.stdout[:200])
    r = curl("-s", "-x", "http://127.0.0.1:%d" % app.port, "-D", "-", "-o", out,
             base + "/a.bin")
    check(b"cachebox; hit" in r.stdout and sha256_file(out) == sha256_file(
        os.path.join(www, "a.bin")), "curl -x again: a hit, exact")
    check(nginx.count("a.bin") == 11, "the origin: one request per piece (%d)"
          % nginx.count("a.bin"))
    env = dict(os.environ, http_proxy="http://127.0.0.1:%d" % app.port, no_proxy="")
    out = os.path.join(tmp, "b.out")
    r = subprocess.run(["wget", "-q", "-O", out, base + "/b.bin"], env=env,
                       capture_output=True, timeout=60)
    check(r.returncode == 0 and sha256_file(out) == sha256_file(os.path.join(www, "b.bin")),
          "wget with http_proxy: exact (%s)" % r.stderr[-200:])
    before = len(nginx.requests())
    r = curl("-s", "-x", "http://127.0.0.1:%d" % app.port, "-D", "-",
             "http://elsewhere.example:%d/a.bin" % nginx.port)
    check(b" 403 " in r.stdout.split(b"\r\n")[0] and b"not an open proxy" in r.stdout,
          "another host: 403 with a clear body: %s" % r.stdout[:300])
    check(len(nginx.requests()) == before, "another host: nothing asked upstream")
    s = socket.create_connection(("127.0.0.1", app.port), timeout=5)
    s.sendall(b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n"
              b"GET /_cachebox/health HTTP/1.1\r\nHost: a\r\n\r\n")
    got, closed = expect_close(s, 1.0, 3)
    s.close()
    resp = parse_responses(got, methods=["CONNECT"])
    check([r[0] for r in resp] == [405] and resp[0][1].get("connection") == "close" and closed,
          "CONNECT: one 405, then the box closes within 1 s: %r" % got[:120])
    r = curl("-s", "-p", "-x", "http://127.0.0.1:%d" % app.port, "-o", "/dev/null",
             "-w", "%{http_code}", "https://localhost:%d/a.bin" % nginx.port)
    check(r.returncode != 0 and b"405" in r.stdout + r.stderr or r.returncode == 56,
          "curl through a CONNECT tunnel: refused (rc %d, %s)" % (r.returncode, r.stdout))


def apt(tmp, proxy_port, base, *args):
    return subprocess.run(apt_argv(os.path.join(tmp, "apt"), "http://127.0.0.1:%d/" % proxy_port,
                                   base, *args), cwd=tmp, capture_output=True, timeout=120)


def apt_through_box(app, nginx, www, base, tmp):
    deb = make_repo(www, tmp)
    r = apt(tmp, app.port, base, "update")
    check(r.returncode == 0 and b"Err" not in r.stdout, "apt-get update through the box: %s %s"
          % (r.stdout[-300:], r.stderr[-300:]))
    got = os.path.join(tmp, os.path.basename(deb))
    r = apt(tmp, app.port, base, "download", "cbx-hello")
    check(r.returncode == 0 and os.path.exists(got) and sha256_file(got) == sha256_file(deb),
          "apt-get download through the box: the package, exact (%s)" % r.stderr[-300:])
    q = nginx.requests_for("debian/cbx-hello_1.0_all.deb")
    check(q and all(x[3] == app.box_id for x in q),
          "the origin got the package from the box only (CDN-Loop %s)" % (q[:1],))
    lines = len(access_log_lines(app.state))
    os.unlink(got)
    before = nginx.count("debian/cbx-hello_1.0_all.deb")
    r = apt(tmp, app.port, base, "download", "cbx-hello")
    check(r.returncode == 0 and sha256_file(got) == sha256_file(deb) and
          nginx.count("debian/cbx-hello_1.0_all.deb") == before,
          "apt-get download again: from the cache, nothing asked of the origin")
    wait_until(lambda: len(access_log_lines(app.state)) > lines, 5,
               "apt's second download is in the box's access log")


def two_branches(parent_port, nginx, www, name, size, seed, upstream):
    """Two branch boxes whose proxy is the parent: both fetch name; returns
    what the origin sent for it and the branches (still running)."""
    make_file(os.path.join(www, name), size, seed=seed)
    branches = [box("localhost", upstream, "proxy = 127.0.0.1:%d" % parent_port)
                for _ in range(2)]
    for b in branches:
        b.start()
    for i, b in enumerate(branches):
        out = os.path.join(b.dir, "out")
        r = curl("-s", "-o", out, b.fill_url(name, "localhost"))
        check(r.returncode == 0 and sha256_file(out) == sha256_file(os.path.join(www, name)),
              "%s through branch %d and its parent: exact" % (name, i + 1))
    return origin_bytes(nginx, name), branches


def hierarchy(nginx, www):
    """branch -> regional cachebox -> origin."""
    regional = box("localhost", "http://127.0.0.1:%d" % nginx.port)
    regional.start()
    branches = []
    try:
        size = 40 * PIECE + 9
        sent, branches = two_branches(regional.port, nginx, www, "tiered.bin", size, 21,
                                      "http://localhost:%d" % nginx.port)
        check(sent == size and nginx.count("tiered.bin") == 41,
              "two tiers: the origin sent the object once for both branches (%d bytes, %d "
              "requests)" % (sent, nginx.count("tiered.bin")))
        q = nginx.requests_for("tiered.bin")
        chain = "%s, %s" % (branches[0].box_id, regional.box_id)
        check(all(x[3] == chain for x in q), "the origin saw CDN-Loop branch, regional: %s"
              % (q[0][3] if q else None))
        wait_until(lambda: sum(" HIT " in ln for ln in access_log_lines(regional.state)) >= 41,
                   5, "the regional box served the second branch from its cache (41 hits)")
        for b in [regional] + branches:
            b.check_logs_clean()
    finally:
        for b in branches + [regional]:
            b.cleanup()


SQUID_CONF = """http_port 127.0.0.1:%(port)d
pid_filename %(d)s/squid.pid
access_log stdio:%(d)s/access.log
cache_log %(d)s/cache.log
cache_store_log none
coredump_dir %(d)s
cache_mem 128 MB
maximum_object_size 64 MB
maximum_object_size_in_memory 64 MB
range_offset_limit -1
quick_abort_min -1 KB
collapsed_forwarding on
shutdown_lifetime 1 seconds
acl to_origin dst 127.0.0.1
http_access allow localhost to_origin
http_access deny all
"""


def squid_parent(nginx, www, tmp):
    """branch -> Debian's Squid -> origin."""
    d = os.path.join(tmp, "squid")
    os.makedirs(d)
    os.chmod(d, 0o777)  # squid drops to its own user
    port = free_port()
    conf = os.path.join(d, "squid.conf")
    with open(conf, "w") as f:
        f.write(SQUID_CONF % {"port": port, "d": d})
    proc = subprocess.Popen(["squid", "-N", "-f", conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    branches = []
    try:
        def up():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return proc.poll() is not None
        wait_until(up, 30, "squid listening")
        check(proc.poll() is None, "squid runs")
        size = 24 * PIECE + 5
        sent, branches = two_branches(port, nginx, www, "squid.bin", size, 22,
                                      "http://127.0.0.1:%d" % nginx.port)
        check(size <= sent <= 1.05 * size,
              "Squid as the parent: the origin sent %d bytes for a %d-byte object for both "
              "branches (at most 1.05x)" % (sent, size))
        for b in branches:
            b.check_logs_clean()
    finally:
        for b in branches:
            b.cleanup()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def real_loop(nginx, www):
    """Two boxes, each the other's parent: a loop, found and refused."""
    make_file(os.path.join(www, "loop.bin"), 2 * PIECE, seed=31)
    a = box("localhost", "http://localhost:%d" % nginx.port)
    b = box("localhost", "http://localhost:%d" % nginx.port)
    with open(a.conf, "a") as f:
        f.write("proxy = 127.0.0.1:%d\n" % b.port)
    with open(b.conf, "a") as f:
        f.write("proxy = 127.0.0.1:%d\n" % a.port)
    try:
        a.start()
        b.start()
        t0 = time.monotonic()
        r = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", a.fill_url("loop.bin", "localhost"))
        took = time.monotonic() - t0
        check(r.stdout[:1] == b"5", "a loop: the client gets a 5xx (%s) in %.1f s" % (r.stdout, took))
        check(took < 10, "a loop: answered within 10 s (%.1f s)" % took)
        check(nginx.count("loop.bin") == 0, "a loop: nothing asked of the origin")
        looped = [ln for ln in access_log_lines(a.state) if " 508 " in ln]
        check(looped, "a loop: box A answered its own request, come back, with 508")
        for x in (a, b):
            st, _, _ = x.request("GET", "/_cachebox/health")
            check(st == 200, "a loop: the box is still healthy")
    finally:
        a.cleanup()
        b.cleanup()


def main():
    tmp = tempfile.mkdtemp(prefix="cbx-proxy-")
    os.chmod(tmp, 0o755)
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    nginx = Nginx(www, tmp)
    app = box("localhost", "http://127.0.0.1:%d" % nginx.port)
    base = "http://localhost:%d" % nginx.port
    try:
        app.start()
        clients(app, nginx, www, base, tmp)
        apt_through_box(app, nginx, www, base, tmp)
        app.check_logs_clean()
        hierarchy(nginx, www)
        squid_parent(nginx, www, tmp)
        real_loop(nginx, www)
    finally:
        app.cleanup()
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
