#!/usr/bin/env python3
"""200 crafted request targets (dot segments raw and escaped in every case,
double escapes, overlong UTF-8, backslashes, %2F, %00, empty segments,
odd hosts) in the connected-cache, DNS-redirect, absolute and peer-cache
forms, sent to a box whose file server is traced by strace: every answer is
a 400 or an ordinary answer (no 5xx, the file server never restarts), no
file outside the shard and the state directory is opened, nothing from
outside the origin's root is served, what reaches the origin carries no
dot segment or separator escape, and the spellings st_url.c normalises to
one key (dot segments, unreserved escapes, the host's case, the form) make
one object filled by one origin request."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, check, content_id, exchange, finish, make_file,  # noqa: E402
                    parse_responses, wait_until)
from origins import nginx_origin, www_file  # noqa: E402

ORIGIN = "origin.test"

# Ways to climb out of a directory or end a name early, as a client could spell them.
DOTDOT = ["..", "%2e%2e", "%2E%2E", "%2e%2E", ".%2e", "%2E.", "%252e%252e", "%c0%ae%c0%ae",
          "%e0%80%ae%e0%80%ae", "%u002e%u002e", "..%00", "..%2500"]
SEP = ["/", "%2f", "%2F", "\\", "%5c", "%5C", "%252f", "%c0%af", "//"]
TAILS = ["etc/passwd", "shard0/objects", "var/box-id", "a.bin%00.txt", "a.bin%00", "..",
         "%2e", "a.bin;.txt", "a.bin?x=..%2f..", "%ff%fe"]

# Equivalent spellings of /dir/a.bin (st_url.c: RFC 3986 §6.2.2 normalisation).
SAME = ["/dir/a.bin", "/dir/./a.bin", "/dir/%61.bin", "/x/../dir/a.bin", "/%64ir/a.bin",
        "/dir/x/%2e%2e/a.bin", "/dir/x/%2E%2E/a.bin", "/./dir/a.bin", "/../dir/a.bin",
        "/dir/%2e/a.bin", "/%2E%2E/%2E%2E/dir/a.bin", "/dir/a%2Ebin", "/dir/%7e/../a.bin"]


def special():
    """Peer-cache targets, odd Host values and odd cacheHostOrigin values."""
    forms = []
    cid = content_id(ORIGIN + "/dir/a.bin")
    for p in ("/_cachebox/content/../../../etc/passwd", "/_cachebox/content/%2e%2e%2f" * 3,
              "/_cachebox/content/" + cid + "/..", "/_cachebox/content/" + cid[:10] + "%2f..",
              "/_cachebox/content/" + cid.upper(), "/_cachebox/pieces/../../var/box-id",
              "/_cachebox/pieces/" + cid + "%00", "/_cachebox/content/..%5c..%5cetc%5cpasswd",
              "/_cachebox/%2e%2e/health", "/_cachebox/content/" + "0" * 63 + "g"):
        forms.append(("peer", p, "127.0.0.1"))
    for h in ("origin.test..", "../origin.test", "origin.test%2f..", "origin.test/..",
              "origin.test\\..", ".origin.test", "origin.test\t", "[::1]/../x", "%6frigin.test",
              "origin.test:99999"):
        forms.append(("host", "/dir/a.bin", h))
    for o in ("..%2f..%2fetc", "origin.test%2f..", "origin.test/..", "ORIGIN.TEST.",
              "%2e%2e", "origin.test%00", "origin.test:80", "origin.test\\x"):
        forms.append(("origin", "/dir/a.bin?cacheHostOrigin=" + o, "127.0.0.1"))
    return forms


def crafted():
    """The 200 targets as (form, target, host) with the form's Host header."""
    paths = []
    for i, dd in enumerate(DOTDOT):
        for j, sep in enumerate(SEP):
            tail = TAILS[(i + j) % len(TAILS)]
            paths.append("/" + (dd + sep) * (1 + (i + j) % 4) + tail)
    paths += ["/" + "../" * 64 + "etc/passwd", "/_cachebox/../../../etc/passwd",
              "/dir\\..\\..\\a.bin", "/dir/a.bin%", "/dir/a.bin%g0", "/%00", "/%2f", "/\\"]
    forms = special()
    for k, p in [(k, p) for k, p in enumerate(paths)] + [(k + 1, p) for k, p in enumerate(paths)]:
        form = ("connected", "dns", "absolute")[k % 3]
        if form == "connected":
            q = "&" if "?" in p else "?"
            forms.append((form, p + q + "cacheHostOrigin=" + ORIGIN, "127.0.0.1"))
        elif form == "dns":
            forms.append((form, p, ("origin.test", "ORIGIN.test", "origin.test:80",
                                    "origin.test.")[k % 4]))
        else:
            forms.append((form, "http://%s%s" % (("origin.test", "Origin.Test")[k % 2], p),
                          "ignored.test"))
    seen, out = set(), []
    for f in forms:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out[:200]


def send(app, target, host):
    raw = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (target, host))
    resp = parse_responses(exchange(app.port, raw.encode("latin-1"), timeout=10))
    return resp[0] if resp else (0, {}, b"")


def start_strace(app, out):
    pid = app.storage_pid()
    tr = subprocess.Popen(["strace", "-f", "-y", "-e", "trace=open,openat,openat2,creat",
                           "-o", out, "-p", str(pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # strace has attached when the traced threads appear in its output file.
    wait_until(lambda: tr.poll() is not None or len(os.listdir("/proc/%d/task" % pid)) > 0 and
               os.path.exists(out) and attached(pid, tr.pid), 10, "strace attached to the file "
               "server (pid %d)" % pid)
    return tr, pid


def attached(pid, tracer):
    """Whether every thread of pid is traced by tracer (/proc/.../status TracerPid)."""
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                if "TracerPid:\t%d\n" % tracer not in f.read():
                    return False
        except FileNotFoundError:
            pass
    return True


def opened_paths(out):
    """Every path the traced process asked to open, made absolute with the
    directory strace's -y names for a dirfd: [(path, whole line)]."""
    got = []
    with open(out) as f:
        for ln in f:
            m = re.search(r'\b(?:open|openat|openat2|creat)\('
                          r'(?:(?:AT_FDCWD(?:<[^>]*>)?|\d+<([^>]*)>), )?"([^"]*)"', ln)
            if not m:
                continue
            path = m.group(2)
            if not path.startswith("/"):
                path = os.path.join(m.group(1) or "/proc/%s/cwd" % ln.split()[0], path)
            got.append((path, ln.strip()))
    return got


def main():
    if not shutil.which("strace"):
        print("skip: strace is not installed")
        sys.exit(77)
    if os.geteuid() != 0:
        print("skip: attaching strace to the file server (another uid) needs root")
        sys.exit(77)
    app = Appliance(origins=())
    nginx, www = nginx_origin(app)
    os.makedirs(os.path.join(www, "dir"))
    make_file(os.path.join(www, "dir", "a.bin"), 5000, seed=12)
    want = www_file(www, "dir/a.bin")
    trace = os.path.join(app.dir, "storage.strace")
    targets = crafted()
    tr = None
    try:
        app.start()
        tr, pid = start_strace(app, trace)
        check(tr.poll() is None, "strace runs on the file server: %s"
              % (tr.stderr.read() if tr.poll() is not None else ""))

        # Equivalent spellings: one key, one object, one origin request.
        for k, p in enumerate(SAME):
            form = ("connected", "dns", "absolute")[k % 3]
            if form == "connected":
                st, _, body = send(app, p + "?cacheHostOrigin=" + ("origin.test", "Origin.TEST")[
                    k % 2], "127.0.0.1")
            elif form == "dns":
                st, _, body = send(app, p, ("origin.test", "ORIGIN.TEST")[k % 2])
            else:
                st, _, body = send(app, "http://origin.test" + p, "x")
            check(st == 200 and body == want, "%s %s: the object, exact (%d)" % (form, p, st))
        reqs = nginx.requests_for("dir/a.bin")
        check(len(reqs) == 1, "%d spellings, one origin request: %s" % (len(SAME), reqs))
        keys = [k for k in app.listing() if "a.bin" in k]
        check(keys == [ORIGIN + "/dir/a.bin"], "one cached key: %s" % keys)
        st, _, body = send(app, "/_cachebox/content/" + content_id(ORIGIN + "/dir/a.bin"), "x")
        check(st == 200 and body == want, "the peer-cache form finds that key (%d)" % st)

        check(len(targets) == 200, "200 crafted targets (%d)" % len(targets))
        statuses = {}
        t0 = time.monotonic()
        passwd = open("/etc/passwd", "rb").read()[:32]
        box_id = app.box_id.encode()
        for form, target, host in targets:
            st, h, body = send(app, target, host)
            statuses.setdefault(st, []).append((form, target, host))
            check(st in (200, 400, 403, 404, 414), "%s %r Host %r: 400 or an ordinary answer "
                  "(%d)" % (form, target, host, st))
            check(passwd not in body and box_id not in body,
                  "%s %r: nothing from outside the origin's root" % (form, target))
            if st == 200:
                check(body == want, "%s %r: a 200 is the object itself" % (form, target))
        print("200 crafted targets in %.1f s: %s" % (time.monotonic() - t0, {
            k: len(v) for k, v in sorted(statuses.items())}), flush=True)
        check(len(statuses.get(400, [])) >= 100, "most crafted targets are refused with 400")
        # Targets that come down to "/" get nginx's 403 for a directory: an
        # answer, passed on once, not retried and not a 502.
        check(statuses.get(403) and len(nginx.requests_for("")) == len(statuses[403]),
              "one origin request per 403 (%d for %s)" % (len(nginx.requests_for("")),
                                                       statuses.get(403)))
        st, _, body = app.request("GET", "/_cachebox/health")
        check(st == 200 and body == b"ok\n", "the box still answers")
        check(app.storage_pid() == pid, "the file server never restarted")

        # What reached the origin: no dot segment, no separator or NUL escape.
        for q in nginx.requests():
            target = q[0].split(" ")[1]
            check(not re.search(r"(?i)(^|/)(\.|%2e){1,2}(/|$|\?)|%2f|%5c|%00|\\\\", target),
                  "the origin got a clean target: %r" % target)
    finally:
        if tr and tr.poll() is None:
            tr.send_signal(signal.SIGINT)
            try:
                tr.wait(10)
            except subprocess.TimeoutExpired:
                tr.kill()
                tr.wait()
        nginx.stop()
        try:
            outside_opens(app, trace)
        finally:
            app.cleanup()
    finish()


def outside_opens(app, trace):
    """Every file the file server tried to open is in the shard or the state directory."""
    opened = opened_paths(trace) if os.path.exists(trace) else []
    cid = content_id(ORIGIN + "/dir/a.bin")
    check(any(cid in p for p, _ in opened), "strace saw the file server open the object it "
          "filled (%d opens)" % len(opened))
    roots = tuple(os.path.realpath(d) + "/" for d in (app.shard, app.state))
    outside = [ln for p, ln in opened if not os.path.realpath(p).startswith(roots)]
    check(not outside, "no file opened outside %s: %s" % (roots, outside[:5]))


main()
