#!/usr/bin/env python3
"""cachebox-fetch --discover with a real broadcast on a LAN (root only):
netlab's branch office with two boxes running their dataplanes (socket
backend, on-link sources only, the lab's group) and one client, all in
network namespaces. Object A is prestaged on box 2 only, object B on box 1
only. It checks that:
- a QUERY to 255.255.255.255:8004 reaches both boxes over the bridge and
  both OFFERs come back; for each object the box holding all of it (have 2)
  is ranked first, whichever answered first (--print-hosts, A and B);
- the download of A (--no-origin) comes wholly from box 2, by content ID
  (box 1's access log has no line for it), and not from the origin;
- the subnet broadcast (--discover-target 10.231.1.255) and --interface eth0
  find both boxes as well;
- without the group no box answers: "discovery: no offers in N ms", exit 4
  with --no-origin; the boxes counted the wrong group;
- every namespace is gone after the lab is torn down.
Exit 77 when not root, or when a program the lab needs is missing.
"""
import hashlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cbtest as cb  # noqa: E402
import netlab  # noqa: E402

FETCH = os.path.join(cb.BUILD, "client", "cachebox-fetch")
SIZE = 3 * 1024 * 1024 + 4321  # 4 pieces of 1 MiB, the last one short


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    gone = netlab.missing_tools()
    if gone:
        return "missing: " + gone
    if not os.access(FETCH, os.X_OK):
        return FETCH + " (build first)"
    probe = "cbdprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if r.returncode != 0:
        return "no network namespaces here: " + r.stderr.strip()
    return None


def url_of(name):
    return "http://%s/%s" % (netlab.ORIGIN_NAME, name)


def fetch(client, *args):
    r = client.run(FETCH, *args, check=False, timeout=120)
    bad = [m for m in cb.BAD_LOG_MARKERS if m in r.stderr]
    if bad:
        cb.check(False, "cachebox-fetch %s: %s in its stderr:\n%s" % (args, bad, r.stderr[-3000:]))
    return r


def hosts(client, name, *args):
    r = fetch(client, "--discover", "--group-id", netlab.GROUP_ID, "--print-hosts", *args,
              url_of(name))
    return r.returncode, r.stdout.splitlines(), r.stderr


def run(lab):
    b1, b2 = lab.boxes
    c = lab.clients[0]
    for name, box in (("a.bin", b2), ("b.bin", b1)):
        lab.origin.put(name, SIZE)
        r = box.ctl("prestage", url_of(name), check=False)
        cb.check(r.returncode == 0 and "complete and verified" in r.stdout,
                 "%s prestaged on %s: %s %s" % (name, box.role, r.stdout.strip(), r.stderr))
    line = "%d http://%s discovery"
    for name, first, second in (("a.bin", b2, b1), ("b.bin", b1, b2)):
        rc, got, err = hosts(c, name)
        cb.check(rc == 0 and got == [line % (1, first.addr), line % (2, second.addr)],
                 "broadcast, %s: %s (have 2) first, then %s: %r %s" % (
                     name, first.role, second.role, got, err.strip()))

    # The download: all from box 2, by content ID, nothing from the origin.
    cid = hashlib.sha256(("%s/a.bin" % netlab.ORIGIN_NAME).encode()).hexdigest()
    mark = lab.origin.mark()
    out = os.path.join(c.dir, "a.bin")
    r = fetch(c, "--discover", "--group-id", netlab.GROUP_ID, "--no-origin", "--json", "-o",
              out, url_of("a.bin"))
    s = json.loads(r.stdout) if r.returncode == 0 else {}
    cb.check(r.returncode == 0 and cb.sha256_file(out) ==
             cb.sha256_file(os.path.join(lab.origin.www, "a.bin")),
             "a.bin through discovery: exact (%d %s)" % (r.returncode, r.stderr[-300:]))
    cb.check(s.get("CacheHost") == "http://" + b2.addr and s.get("BytesFromCacheServer") == SIZE
             and s.get("BytesFromHttp") == 0 and s["Hosts"][0]["Source"] == "discovery",
             "every byte from box 2: %s" % {k: s.get(k) for k in ("CacheHost",
                                                                   "BytesFromCacheServer")})
    cb.wait_until(lambda: any(cid in ln and " HIT " in ln for ln in b2.access_log()), 5,
                  "box 2 logged HITs of a.bin")  # the access log is written by a sweep
    time.sleep(0.5)  # two sweeps of box 1's log too
    cb.check(not [ln for ln in b1.access_log() if cid in ln], "box 1 served none of a.bin")
    cb.check(not [q for q in lab.origin.requests(mark) if q["path"] == "/a.bin"],
             "no origin request for a.bin")

    # The subnet's broadcast address, and the limited broadcast on one interface.
    for what, args in (("subnet broadcast", ("--discover-target", netlab.LAN_NET + ".255")),
                       ("--interface eth0", ("--interface", "eth0"))):
        rc, got, err = hosts(c, "a.bin", *args)
        cb.check(rc == 0 and got == [line % (1, b2.addr), line % (2, b1.addr)],
                 "%s: both boxes, box 2 first: %r %s" % (what, got, err.strip()))

    # No group: the boxes (in the lab's group) stay silent.
    before = [cb.read_discovery(b.state)["drops"]["wrong_group"] for b in lab.boxes]
    r = fetch(c, "--discover", "--discover-wait", "500", "--no-origin", "-o",
              os.path.join(c.dir, "none"), url_of("a.bin"))
    cb.check(r.returncode == 4 and "discovery: no offers in 500 ms" in r.stderr,
             "no group: no offers, exit 4: %d %r" % (r.returncode, r.stderr[-300:]))
    after = [cb.read_discovery(b.state)["drops"]["wrong_group"] for b in lab.boxes]
    cb.check(all(a - b == 1 for a, b in zip(after, before)),
             "each box counted the broadcast as wrong_group: %s -> %s" % (before, after))
    for b in lab.boxes:
        bad = b.bad_log_lines()
        cb.check(not bad, "%s logs clean: %s\n%s" % (b.role, bad, b.logs()[-2000:]))


def main():
    reason = skip_reason()
    if reason:
        print("skip: " + reason)
        sys.exit(77)
    lab = netlab.Lab(boxes=2, clients=1, discovery=True, prefix="cbd")
    t0 = time.monotonic()
    try:
        lab.up()
        for b in lab.boxes:
            cb.wait_until(lambda b=b: (cb.read_discovery(b.state) or {}).get("state") ==
                          "running", 10, "%s: the dataplane runs" % b.role)
        run(lab)
    finally:
        lab.down()
    left = [n for n in netlab.sh("ip", "netns", "list").stdout.split() if n.startswith(lab.tag)]
    cb.check(not left, "every namespace removed: %s" % left)
    print("discover-lan: %.1f s" % (time.monotonic() - t0))
    if cb.checks["failed"] == 0:
        lab.remove_dir()
    else:
        print("kept " + lab.dir + " for inspection")
    cb.finish()


if __name__ == "__main__":
    main()
