#!/usr/bin/env python3
"""cachebox-fetch against real boxes and a real nginx origin on loopback:
exact files and DO counters through a cold and a warm box, the listed order
with a dead first host, the origin only after --fallback-delay, --no-origin,
a scripted box that corrupts a piece, a box killed mid-download, --checksum,
resume after SIGINT, the progress bar on a pty and plain lines in a pipe,
HRW over three boxes, and --help / the man page against each other."""
import hashlib
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (BUILD, ROOT, Appliance, check, finish, free_port, make_file,  # noqa: E402
                    sha256_file, wait_until)
from origins import (CorruptingBox, ForwardProxy, Nginx, make_test_certs, read_head,  # noqa: E402
                     serve_threaded, www_file)

FETCH = os.path.join(BUILD, "client", "cachebox-fetch")
PIECE = 64 * 1024


def fetch(*args, timeout=60, env=None):
    r = subprocess.run([FETCH, *args], capture_output=True, timeout=timeout, env=env)
    summary = None
    if b"--json" in [a.encode() if isinstance(a, str) else a for a in args] and r.stdout:
        try:
            summary = json.loads(r.stdout)
        except ValueError:
            pass
    return r, summary


def hrw_score(cid_hex, host, port):
    return int.from_bytes(hashlib.sha256(bytes.fromhex(cid_hex) + (
        "%s:%d" % (host, port)).encode()).digest()[:8], "big")


def box(nginx_port, **kw):
    app = Appliance(origins=(), **kw)
    app.add_origin("localhost", "http://127.0.0.1:%d" % nginx_port)
    app.start()
    return app


def exact_file(path, www, name):
    return os.path.exists(path) and sha256_file(path) == hashlib.sha256(
        www_file(www, name)).hexdigest()


def https_origin(work, www, sizes, out):
    """An HTTPS origin verified against the system store: the test CA is
    added to the bundle libcurl reads (/etc/ssl/certs/ca-certificates.crt),
    bind-mounted in a mount namespace of this run's own, so the machine's
    store is never changed. Then through https_proxy (a CONNECT tunnel).
    Root only (mount namespaces); skipped, and said, otherwise."""
    if os.geteuid() != 0:
        print("https origin with the system store: skipped (needs root)")
        return
    port = free_port()
    servers = ("server { listen 127.0.0.1:%d ssl; root %s; ssl_certificate %s/good.pem; "
               "ssl_certificate_key %s/good.key; }" % (port, www, work.dir, work.dir))
    os.makedirs(os.path.join(work.dir, "tls"))
    tls = Nginx(www, os.path.join(work.dir, "tls"), servers=servers, port=port)
    bundle = os.path.join(work.dir, "bundle.pem")
    with open(bundle, "wb") as f:
        for src in ("/etc/ssl/certs/ca-certificates.crt", os.path.join(work.dir, "ca.pem")):
            with open(src, "rb") as g:
                f.write(g.read())
    url = "https://127.0.0.1:%d/f.bin" % port

    def in_store(env=None, trusted=True):
        mount = "mount --bind %s /etc/ssl/certs/ca-certificates.crt && " % bundle
        cmd = "%sexec %s --cache-host 127.0.0.1:%d --json -q -o %s %s" % (
            mount if trusted else "", FETCH, free_port(), os.path.join(out, "s"), url)
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                           capture_output=True, timeout=60, env=env)
        try:
            return r, json.loads(r.stdout)
        except ValueError:
            return r, None

    try:
        r, s = in_store()
        check(r.returncode == 0 and exact_file(os.path.join(out, "s"), www, "f.bin") and
              s["BytesFromHttp"] == sizes["f.bin"],
              "an HTTPS origin, its CA in the system store: exact (%s)" % r.stderr[-200:])
        r, s = in_store(trusted=False)
        check(r.returncode == 5, "an HTTPS origin whose CA is not in the store: exit 5 (rc %d)"
              % r.returncode)
        proxy = ForwardProxy()
        env = dict(os.environ, https_proxy="http://127.0.0.1:%d" % proxy.port, no_proxy="")
        r, s = in_store(env)
        check(r.returncode == 0 and exact_file(os.path.join(out, "s"), www, "f.bin") and
              proxy.seen and all(t == "CONNECT 127.0.0.1:%d" % port for t in proxy.seen),
              "https_proxy: the HTTPS origin through a CONNECT tunnel (%s)" % proxy.seen[:2])
        proxy.stop()
    finally:
        tls.stop()


def main():
    work = Appliance(origins=())  # only for its temporary directory
    www = os.path.join(work.dir, "www")
    os.makedirs(www)
    nginx = Nginx(www, work.dir)
    os.makedirs(os.path.join(work.dir, "slow"))
    slow = Nginx(www, os.path.join(work.dir, "slow"), limit_rate="256k")
    sizes = {"a.bin": 3 * 1024 * 1024 + 17, "b.bin": 2 * PIECE, "c.bin": 1, "d.bin": 777777,
             "e.bin": 5 * PIECE + 3, "f.bin": 1234567, "slow.bin": 6 * 1024 * 1024}
    for name, size in sizes.items():
        make_file(os.path.join(www, name), size, seed=size)
    out = os.path.join(work.dir, "out")
    os.makedirs(out)
    apps = []

    def url(name, port=None):
        return "http://localhost:%d/%s" % (port or nginx.port, name)

    def exact(path, name):
        return exact_file(path, www, name)

    try:
        # --help and the man page list the same options; bad input is exit 2.
        r, _ = fetch("--help")
        helped = set(re.findall(r"--([a-z][a-z-]+)", r.stdout.decode()))
        # the page's scdoc source (appliance/man/); test_man.py checks the built page
        with open(os.path.join(ROOT, "appliance", "man", "cachebox-fetch.1.scd")) as f:
            manned = set(re.findall(r"\*--([a-z][a-z-]+)\*", f.read()))
        check(r.returncode == 0 and len(helped) >= 20, "--help lists %d options" % len(helped))
        check(helped - {"help"} <= manned | {"help"} and manned <= helped,
              "the man page and --help list the same options (%s / %s)" % (
                  sorted(helped - manned), sorted(manned - helped)))
        for bad in (["ftp://x/y"], [], ["-x", "0", url("a.bin")], ["--order", "x", url("a")],
                    ["--cache-host", "a:99999", url("a.bin")], ["--checksum", "md5=1",
                                                                url("a.bin")]):
            r, _ = fetch(*bad)
            check(r.returncode == 2 and r.stderr, "usage error %r: exit 2 with a reason" % bad)

        b1 = box(nginx.port)
        apps.append(b1)
        h1 = "127.0.0.1:%d" % b1.port

        # Cold box, then warm: exact, counters add up, the origin saw each piece once.
        for run in ("cold", "warm"):
            dst = os.path.join(out, "a-%s" % run)
            r, s = fetch("--cache-host", h1, "--json", "-o", dst, url("a.bin"))
            check(r.returncode == 0 and exact(dst, "a.bin"), "%s box: exact file" % run)
            check(s and s["BytesFromCacheServer"] == sizes["a.bin"] and s["BytesFromHttp"] == 0
                  and s["TotalBytesDownloaded"] == sizes["a.bin"], "%s: all bytes from the "
                  "cache server (%s)" % (run, s and s["BytesFromCacheServer"]))
            check(s and s["PiecesVerified"] == s["Pieces"] == 49 and s["PiecesFailed"] == 0,
                  "%s: all 49 pieces verified" % run)
            check(not os.path.exists(dst + ".part") and not os.path.exists(dst + ".cbfetch"),
                  "%s: no .part or .cbfetch left" % run)
        check(nginx.count("a.bin") == 49, "the origin served each piece once (%d requests)" %
              nginx.count("a.bin"))

        # A dead first host: set aside, the second serves; the listed order holds.
        dead = "127.0.0.1:%d" % free_port()
        r, s = fetch("--cache-host", "%s,%s" % (dead, h1), "--json", "-o",
                     os.path.join(out, "b"), url("b.bin"))
        check(r.returncode == 0 and exact(os.path.join(out, "b"), "b.bin"), "dead first: exact")
        check(s and s["Hosts"][0]["SetAside"] and s["Hosts"][0]["Bytes"] == 0 and
              s["CacheHost"].endswith(h1), "dead first host set aside, second served")
        r, _ = fetch("--print-hosts", "--cache-host", "%s,%s" % (dead, h1), url("b.bin"))
        check(r.stdout.decode().split("\n")[0].endswith("%s listed" % dead),
              "--print-hosts shows the listed order")

        # All hosts down: the origin only after the delay, and not before.
        proc = subprocess.Popen([FETCH, "--cache-host", dead, "--fallback-delay", "2", "--json",
                                 "-q", "-o", os.path.join(out, "d"), url("d.bin")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.2)
        check(nginx.count("d.bin") == 0, "no origin request before the fallback delay")
        so, _ = proc.communicate(timeout=30)
        s = json.loads(so)
        check(proc.returncode == 0 and exact(os.path.join(out, "d"), "d.bin") and
              s["BytesFromHttp"] == sizes["d.bin"] and s["DownloadDuration"] >= 2.0,
              "then from the origin (%.2f s)" % s["DownloadDuration"])
        r, s = fetch("--cache-host", dead, "--no-origin", "--json", "-o",
                     os.path.join(out, "nope"), url("d.bin"))
        check(r.returncode == 4 and not os.path.exists(os.path.join(out, "nope")),
              "--no-origin with every host down: exit 4, no file")

        # A box that corrupts piece 3: exact file, the piece counted failed, next host used.
        bad = CorruptingBox(b1.port, 3 * PIECE)
        try:
            r, s = fetch("--cache-host", "127.0.0.1:%d,%s" % (bad.port, h1), "--json", "-o",
                         os.path.join(out, "e"), url("e.bin"))
            check(r.returncode == 0 and exact(os.path.join(out, "e"), "e.bin"),
                  "corrupting box: exact file")
            check(s and s["PiecesFailed"] == 1 and s["Hosts"][0]["PiecesFailed"] == 1 and
                  "SHA-256" in (s["Hosts"][0]["SetAside"] or "") and bad.corrupted == 1,
                  "the bad piece counted failed, its host set aside")
            check(s and s["BytesFromCacheServer"] + s["BytesFromHttp"] == sizes["e.bin"],
                  "cache + http bytes = the size")
        finally:
            bad.stop()

        # --checksum: right is 0; wrong is 10 and leaves nothing.
        good = hashlib.sha256(www_file(www, "f.bin")).hexdigest()
        r, _ = fetch("--cache-host", h1, "-q", "--checksum", "sha-256=" + good, "-o",
                     os.path.join(out, "f"), url("f.bin"))
        check(r.returncode == 0 and exact(os.path.join(out, "f"), "f.bin"), "right checksum")
        r, _ = fetch("--cache-host", h1, "-q", "--checksum", "sha-256=" + "0" * 64, "-o",
                     os.path.join(out, "f2"), url("f.bin"))
        check(r.returncode == 10 and not os.path.exists(os.path.join(out, "f2")) and
              not os.path.exists(os.path.join(out, "f2.part")), "wrong checksum: exit 10, no file")

        # Resume after SIGINT: a box filling from a slow origin (256 KB/s per stream).
        b2 = box(slow.port)
        apps.append(b2)
        h2 = "127.0.0.1:%d" % b2.port
        dst = os.path.join(out, "slow")
        proc = subprocess.Popen([FETCH, "--cache-host", h2, "-x", "1", "-q", "-o", dst,
                                 url("slow.bin", slow.port)])
        wait_until(lambda: os.path.exists(dst + ".cbfetch") and os.path.getsize(
            dst + ".part") > 0 and time.sleep(1.5) is None, 15, "a partial download")
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        check(os.path.exists(dst + ".cbfetch") and not os.path.exists(dst),
              "after SIGINT: the state file, no output")
        r, s = fetch("-c", "--cache-host", h2, "--json", "-o", dst, url("slow.bin", slow.port),
                     timeout=60)
        check(r.returncode == 0 and exact(dst, "slow.bin") and s["BytesResumed"] > 0 and
              s["BytesResumed"] + s["BytesFromCacheServer"] == sizes["slow.bin"],
              "-c resumed %s bytes, exact file" % (s and s["BytesResumed"]))

        # A box killed mid-download: the rest from the next host (b1 over the fast origin).
        b3 = box(slow.port)
        apps.append(b3)
        dst = os.path.join(out, "killed")
        proc = subprocess.Popen([FETCH, "--cache-host", "127.0.0.1:%d,%s" % (b3.port, h1),
                                 "--json", "-q", "--timeout", "3", "-o", dst,
                                 url("slow.bin", slow.port)], stdout=subprocess.PIPE)
        wait_until(lambda: os.path.exists(dst + ".part") and time.sleep(1) is None, 15,
                   "the download under way")
        b3.proc.kill()
        subprocess.run(["pkill", "-9", "-f", b3.conf], timeout=10)
        so, _ = proc.communicate(timeout=60)
        s = json.loads(so)
        check(proc.returncode == 0 and exact(dst, "slow.bin"), "box killed mid-download: exact")
        check(s["Hosts"][0]["SetAside"] and s["Hosts"][1]["Bytes"] > 0 and
              s["BytesFromCacheServer"] + s["BytesFromHttp"] == sizes["slow.bin"],
              "the killed box set aside, the rest from the next host")

        # Progress: a bar on a pty, plain lines in a pipe.
        dst = os.path.join(out, "p")
        r = subprocess.run(["script", "-qefc", "%s --cache-host %s -o %s %s" % (
            FETCH, h1, dst, url("a.bin")), "/dev/null"], capture_output=True, timeout=60)
        check(r.returncode == 0 and b"\r[" in r.stdout and b"100%" in r.stdout,
              "a progress bar on a pty")
        r, _ = fetch("--cache-host", h1, "-o", dst, url("a.bin"))
        check(r.returncode == 0 and b"\r" not in r.stderr and b"100% " in r.stderr,
              "plain lines when piped")
        r, _ = fetch("--cache-host", h1, "-q", "-o", dst, url("a.bin"))
        check(r.returncode == 0 and r.stderr == b"", "-q: nothing on stderr")

        # HRW over three boxes: each object from its highest-scoring box.
        b4 = box(nginx.port)
        apps.append(b4)
        trio = [("127.0.0.1", a.port) for a in (b1, b2, b4)]
        for name in ("a.bin", "b.bin", "c.bin", "d.bin", "e.bin", "f.bin"):
            cid = hashlib.sha256(("localhost/" + name).encode()).hexdigest()
            want = max(trio, key=lambda hp: hrw_score(cid, *hp))
            hosts = [hp for hp in trio if hp[1] != b2.port] if want[1] == b2.port else trio
            want = max(hosts, key=lambda hp: hrw_score(cid, *hp))  # b2's origin is slow
            r, s = fetch("--cache-host", ",".join("%s:%d" % hp for hp in hosts), "--order",
                         "hrw", "--json", "-q", "-o", os.path.join(out, "h"), url(name))
            check(r.returncode == 0 and s["CacheHost"] == "http://%s:%d" % want,
                  "hrw: %s from its box %d" % (name, want[1]))

        # http_proxy is for the origin only; no_proxy exempts it.
        proxy = ForwardProxy()
        env = dict(os.environ, http_proxy="http://127.0.0.1:%d" % proxy.port, no_proxy="")
        r, s = fetch("--cache-host", "127.0.0.1:%d" % free_port(), "--json", "-q", "-o",
                     os.path.join(out, "p"), url("e.bin"), env=env)
        check(r.returncode == 0 and exact(os.path.join(out, "p"), "e.bin") and
              s["BytesFromHttp"] == sizes["e.bin"] and proxy.seen and
              all(t.startswith("http://localhost:%d/e.bin" % nginx.port) for t in proxy.seen),
              "http_proxy: the origin's ranges went through the proxy (%s)" % proxy.seen[:2])
        seen = len(proxy.seen)
        r, s = fetch("--cache-host", h1, "--json", "-q", "-o", os.path.join(out, "p"),
                     url("e.bin"), env=env)
        check(r.returncode == 0 and s["BytesFromCacheServer"] == sizes["e.bin"] and
              len(proxy.seen) == seen, "http_proxy: the box is never reached through it")
        env["no_proxy"] = "localhost"
        r, s = fetch("--cache-host", "127.0.0.1:%d" % free_port(), "--json", "-q", "-o",
                     os.path.join(out, "p"), url("e.bin"), env=env)
        check(r.returncode == 0 and s["BytesFromHttp"] == sizes["e.bin"] and
              len(proxy.seen) == seen, "no_proxy=localhost: the origin straight")
        proxy.stop()

        # HTTPS to the box: --cacert trusts the test CA; without it, exit 5 (TLS).
        make_test_certs(work.dir)
        b5 = box(nginx.port, server_extra=("tls_cert = %s/good.pem" % work.dir,
                                           "tls_key = %s/good.key" % work.dir))
        apps.append(b5)
        tls_host = "https://127.0.0.1:%d" % b5.port
        r, s = fetch("--cache-host", tls_host, "--cacert", os.path.join(work.dir, "ca.pem"),
                     "--json", "-q", "-o", os.path.join(out, "t"), url("d.bin"))
        check(r.returncode == 0 and exact(os.path.join(out, "t"), "d.bin") and
              s["BytesFromCacheServer"] == sizes["d.bin"],
              "HTTPS to the box with --cacert: exact, from the box (%s)" % r.stderr[-200:])
        r, s = fetch("--cache-host", tls_host, "--no-origin", "--json", "-q", "-o",
                     os.path.join(out, "t2"), url("d.bin"))
        check(r.returncode == 5 and not os.path.exists(os.path.join(out, "t2")),
              "HTTPS to the box without its CA: exit 5 (rc %d)" % r.returncode)
        https_origin(work, www, sizes, out)
    finally:
        for a in apps:
            a.cleanup()  # stops the box and fails on sanitizer or internal-error lines
        nginx.stop()
        slow.stop()
        work.cleanup()
    finish()


if __name__ == "__main__":
    main()
