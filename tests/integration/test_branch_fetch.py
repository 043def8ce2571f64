#!/usr/bin/env python3
"""cachebox-fetch in the branch office on one machine (root only): netlab's
namespaces, nginx behind a WAN shaped with htb, three boxes and a client on
the LAN. On that network it checks that:
- HRW: with three boxes and --order hrw, each of six objects comes wholly
  from the box --print-hosts names first for it, and the objects spread over
  more than one box;
- counters: for every download BytesFromCacheServer + BytesFromHttp is the
  size, and each host's bytes equal what that box's access log says it sent
  the client, and BytesFromHttp what the origin's log says it sent the client;
- the listed order holds, and with the first box dead the second serves all;
- a box killed mid-download leaves an exact file, the rest coming from the
  next host;
- with every box down the client goes to the origin after --fallback-delay
  and not before;
- resume after SIGINT (-c) ends with an exact file and resumed bytes;
- the progress bar on a pty (script(1)) and plain lines when piped.
Exit 77 when not root, or when a program the lab needs is missing."""
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cbtest as cb  # noqa: E402
import netlab  # noqa: E402

FETCH = os.path.join(cb.BUILD, "client", "cachebox-fetch")
MIB = 1 << 20


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = netlab.missing_tools()
    if missing:
        return "missing: " + ", ".join(missing)
    if not os.access(FETCH, os.X_OK):
        return "cachebox-fetch not built"
    return None


def fetch(client, *args, timeout=120):
    """cachebox-fetch --json -q in the client's namespace: (rc, summary or None, stderr)."""
    r = client.run(FETCH, "--json", "-q", *args, check=False, timeout=timeout)
    try:
        summary = json.loads(r.stdout)
    except ValueError:
        summary = None
    return r.returncode, summary, r.stderr


def host_bytes(summary, box):
    for h in (summary or {}).get("Hosts", []):
        if h["CacheHost"] == "http://" + box.addr:
            return h["Bytes"]
    return 0


def box_sent(box, client, since):
    """Body bytes of pieces (206s) box's access log says it sent client, in lines after the
    first since (the pieces list, a 200, is not part of the file)."""
    lines = box.access_log()[since:]
    return sum(int(f[6]) for f in (ln.split() for ln in lines)
               if f[1].rsplit(":", 1)[0] == client.ip and f[5] == "206")


def check_counters(lab, client, summary, size, marks, what):
    """The summary's counters against the size and every box's and the origin's logs."""
    s = summary or {}
    cb.check(s.get("BytesFromCacheServer", -1) + s.get("BytesFromHttp", -1) == size,
             "%s: BytesFromCacheServer + BytesFromHttp = the size (%s)" % (what, s))
    for b in lab.boxes:
        cb.wait_until(lambda: box_sent(b, client, marks[b.role]) >= host_bytes(s, b), 5,
                      "%s: %s's access log caught up" % (what, b.role))
        cb.check(box_sent(b, client, marks[b.role]) == host_bytes(s, b),
                 "%s: %s's access log says %d bytes to the client, the client %d" % (
                     what, b.role, box_sent(b, client, marks[b.role]), host_bytes(s, b)))
    direct = sum(r["body_bytes"] for r in lab.origin.requests(marks["origin"])
                 if r["client"] == client.ip and r["status"] in (200, 206))
    cb.check(direct == s.get("BytesFromHttp"), "%s: the origin's log says %d bytes straight to "
             "the client, BytesFromHttp %s" % (what, direct, s.get("BytesFromHttp")))


def marks_of(lab):
    m = {b.role: len(b.access_log()) for b in lab.boxes}
    m["origin"] = lab.origin.mark()
    return m


def hosts_arg(boxes):
    return ",".join(b.addr for b in boxes)


def check_hrw(lab, client):
    firsts = set()
    for i in range(6):
        name = "hrw%d.bin" % i
        src = lab.origin.put(name, 2 * MIB + i)
        r = client.run(FETCH, "--cache-host", hosts_arg(lab.boxes), "--order", "hrw",
                       "--print-hosts", lab.origin.url(name), check=False)
        first = r.stdout.split()[1] if r.returncode == 0 and r.stdout.split() else ""
        box = [b for b in lab.boxes if "http://" + b.addr == first]
        cb.check(box, "HRW: --print-hosts names a box first for %s: %r" % (name, r.stdout))
        if not box:
            continue
        firsts.add(box[0].role)
        marks = marks_of(lab)
        out = os.path.join(client.dir, name)
        rc, s, err = fetch(client, "--cache-host", hosts_arg(lab.boxes), "--order", "hrw",
                           "-o", out, lab.origin.url(name))
        cb.check(rc == 0 and cb.sha256_file(out) == cb.sha256_file(src) and
                 host_bytes(s, box[0]) == os.path.getsize(src),
                 "HRW: %s exact and wholly from %s (rc %d, %s)" % (name, box[0].role, rc,
                                                                  err[-200:]))
        check_counters(lab, client, s, os.path.getsize(src), marks, "HRW " + name)
    cb.check(len(firsts) > 1, "HRW: six objects spread over %d boxes" % len(firsts))


def check_listed(lab, client):
    b1, b2 = lab.boxes[0], lab.boxes[1]
    src = lab.origin.put("listed.bin", 3 * MIB)
    out = os.path.join(client.dir, "listed.bin")
    marks = marks_of(lab)
    rc, s, _ = fetch(client, "--cache-host", hosts_arg([b1, b2]), "-o", out,
                     lab.origin.url("listed.bin"))
    cb.check(rc == 0 and host_bytes(s, b1) == 3 * MIB and host_bytes(s, b2) == 0,
             "listed order: all from the first box (%s)" % s)
    check_counters(lab, client, s, 3 * MIB, marks, "listed")
    b1.kill()
    marks = marks_of(lab)
    rc, s, _ = fetch(client, "--cache-host", hosts_arg([b1, b2]), "-o", out,
                     lab.origin.url("listed.bin"))
    cb.check(rc == 0 and cb.sha256_file(out) == cb.sha256_file(src) and
             host_bytes(s, b2) == 3 * MIB and s["BytesFromHttp"] == 0,
             "first box dead: exact, all from the second (%s)" % s)
    set_aside = [h for h in s["Hosts"] if h["CacheHost"] == "http://" + b1.addr]
    cb.check(set_aside and set_aside[0]["SetAside"], "the dead box was set aside: %s"
             % set_aside)
    check_counters(lab, client, s, 3 * MIB, marks, "first box dead")
    b1.start()


def check_killed_mid_download(lab, client):
    b2, b3 = lab.boxes[1], lab.boxes[2]
    size = 48 * MIB
    src = lab.origin.put("killed.bin", size)
    out = os.path.join(client.dir, "killed.bin")
    marks = marks_of(lab)
    p = subprocess.Popen(["ip", "netns", "exec", lab.ns(client.role), FETCH, "--json", "-q",
                          "-x", "2", "--timeout", "5", "--cache-host", hosts_arg([b2, b3]),
                          "-o", out, lab.origin.url("killed.bin")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cb.wait_until(lambda: box_sent(b2, client, marks[b2.role]) >= 4 * MIB, 60,
                  "box 2 served 4 MiB before it is killed")
    b2.kill()
    try:
        so, se = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        p.kill()
        so, se = p.communicate()
    s = json.loads(so) if so.strip().startswith(b"{") else {}
    cb.check(p.returncode == 0 and cb.sha256_file(out) == cb.sha256_file(src),
             "box killed mid-download: the file is exact (rc %s, %s)" % (p.returncode,
                                                                         se[-300:]))
    cb.check(host_bytes(s, b2) > 0 and host_bytes(s, b3) > 0,
             "killed: bytes from both boxes (%d, %d)" % (host_bytes(s, b2), host_bytes(s, b3)))
    # box 2's log may lack the lines of the answers cut by the kill: check the rest.
    cb.check(s.get("BytesFromCacheServer", 0) + s.get("BytesFromHttp", 0) == size,
             "killed: the counters add up to the size (%s)" % s)
    cb.wait_until(lambda: box_sent(b3, client, marks[b3.role]) == host_bytes(s, b3), 5,
                  "killed: box 3's access log agrees with the client's count for it (%d, %d)"
                  % (box_sent(b3, client, marks[b3.role]), host_bytes(s, b3)))
    b2.start()


def check_all_down(lab, client):
    src = lab.origin.put("down.bin", 2 * MIB)
    out = os.path.join(client.dir, "down.bin")
    for b in lab.boxes:
        b.kill()
    marks = marks_of(lab)
    t0 = time.monotonic()
    p = subprocess.Popen(["ip", "netns", "exec", lab.ns(client.role), FETCH, "--json", "-q",
                          "--fallback-delay", "3", "--timeout", "2", "--cache-host",
                          hosts_arg(lab.boxes), "-o", out, lab.origin.url("down.bin")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    early = []
    for _ in range(40):  # until 2.5 s after the start
        if time.monotonic() - t0 > 2.5 or p.poll() is not None:
            break
        early += [r for r in lab.origin.requests(marks["origin"]) if r["client"] == client.ip]
        time.sleep(0.05)
    so, se = p.communicate(timeout=120)
    s = json.loads(so) if so.strip().startswith(b"{") else {}
    cb.check(not early, "all boxes down: no origin request before --fallback-delay (%s)"
             % early[:1])
    cb.check(p.returncode == 0 and cb.sha256_file(out) == cb.sha256_file(src) and
             s.get("BytesFromHttp") == 2 * MIB and s.get("DownloadDuration", 0) >= 3,
             "all boxes down: from the origin after the delay (%s)" % s)
    check_counters(lab, client, s, 2 * MIB, marks, "all boxes down")
    for b in lab.boxes:
        b.start()


def check_resume(lab, client):
    b1 = lab.boxes[0]
    size = 64 * MIB
    src = lab.origin.put("resume.bin", size)
    out = os.path.join(client.dir, "resume.bin")
    marks = marks_of(lab)
    p = subprocess.Popen(["ip", "netns", "exec", lab.ns(client.role), FETCH, "-q",
                          "--cache-host", b1.addr, "-o", out, lab.origin.url("resume.bin")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cb.wait_until(lambda: box_sent(b1, client, marks[b1.role]) >= 8 * MIB, 60,
                  "8 MiB arrived before SIGINT")
    # ip netns exec execs the command: p.pid is cachebox-fetch itself.
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=30)
    cb.check(p.returncode == 130 and os.path.exists(out + ".cbfetch") and
             not os.path.exists(out),
             "SIGINT: exit 130 with its state file and no output file (rc %s)" % p.returncode)
    rc, s, err = fetch(client, "-c", "--cache-host", b1.addr, "-o", out,
                       lab.origin.url("resume.bin"))
    cb.check(rc == 0 and cb.sha256_file(out) == cb.sha256_file(src) and
             s.get("BytesResumed", 0) > 0 and
             s.get("BytesResumed", 0) + s.get("BytesFromCacheServer", 0) +
             s.get("BytesFromHttp", 0) == size,
             "resume: exact, %s bytes resumed (%s)" % (s.get("BytesResumed"), err[-200:]))


def check_progress(lab, client):
    b1 = lab.boxes[0]
    out = os.path.join(client.dir, "progress.bin")
    cmd = "%s --cache-host %s -o %s %s" % (FETCH, b1.addr, out, lab.origin.url("resume.bin"))
    r = subprocess.run(["ip", "netns", "exec", lab.ns(client.role), "script", "-qefc", cmd,
                        "/dev/null"], capture_output=True, timeout=120)
    text = r.stdout.decode(errors="replace")  # bytes: text mode would turn \r into \n
    cb.check(r.returncode == 0 and re.search("\r[^\n]", text) and "%" in text and "cache" in text,
             "progress on a pty: a bar redrawn with \\r: %r" % text[-200:])
    r = client.run(FETCH, "--cache-host", b1.addr, "-o", out, lab.origin.url("resume.bin"),
                   check=False, timeout=120)
    cb.check(r.returncode == 0 and "\r" not in r.stderr and r.stderr.strip(),
             "progress piped: plain lines: %r" % r.stderr[-200:])


def main():
    why = skip_reason()
    if why:
        print("test_branch_fetch.py: skipped: " + why)
        sys.exit(77)
    lab = netlab.Lab(boxes=3, clients=1, wan_rate="200mbit", prefix="cbf")
    t0 = time.monotonic()
    try:
        lab.up()
        client = lab.clients[0]
        check_hrw(lab, client)
        check_listed(lab, client)
        check_killed_mid_download(lab, client)
        check_all_down(lab, client)
        check_resume(lab, client)
        check_progress(lab, client)
        for b in lab.boxes:
            bad = b.bad_log_lines()
            cb.check(not bad, "%s logs clean: %s" % (b.role, bad))
    finally:
        lab.down()
    left = [ln for ln in netlab.sh("ip", "netns", "list").stdout.splitlines()
            if ln.startswith(lab.tag)]
    cb.check(not left, "every namespace removed: %s" % left)
    print("branch_fetch: %.1f s" % (time.monotonic() - t0))
    if cb.checks["failed"] == 0:
        lab.remove_dir()
    else:
        print("kept " + lab.dir + " for inspection")
    cb.finish()


if __name__ == "__main__":
    main()
