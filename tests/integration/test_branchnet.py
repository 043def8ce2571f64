#!/usr/bin/env python3
"""A branch office on one machine (issue 10, root only): netlab's network of
namespaces, with Debian's nginx behind a WAN shaped with htb, dnsmasq on the
router, one box and two clients on the LAN. It checks that:
- the WAN shaping is in place at both ends (tc qdisc/class show) and shaped
  the fill (the htb class counted the bytes and went over its rate);
- a client gets a DHCP lease (dhclient, its own files) carrying option 235
  (the box list) and option 234 (the group GUID), and dnsmasq recorded it;
- client 1 downloads through the box in the connected-cache form with exact
  bytes (a MISS); client 2, using the box named in its lease's option 235,
  gets the same bytes as a HIT; the origin's access log shows the object
  crossed the WAN once (every byte of it once, no range asked twice);
- after the box is killed (SIGKILL to all its processes) and restarted, it
  serves the object from disk as a HIT with no new origin request;
- every namespace is gone after the lab is torn down.
Exit 77 when not root, or when a program the lab needs is missing.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cbtest as cb  # noqa: E402
import netlab  # noqa: E402

SIZE = 8 * 1024 * 1024 + 12345  # 9 pieces of 1 MiB, the last one short
NAME = "update.bin"


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (network namespaces, tc, DHCP)"
    gone = netlab.missing_tools()
    if gone:
        return "missing: " + gone
    probe = "cbnprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if r.returncode != 0:
        return "no network namespaces here: " + r.stderr.strip()
    return None


def box_lines(box, client_ip):
    """The box's access-log lines for NAME's object from client_ip (an IP, no port)."""
    return [ln.split() for ln in box.access_log()
            if ln.split()[1].rsplit(":", 1)[0] == client_ip and ln.split()[3] != "-"]


def fetch(client, url, out):
    r = client.run("curl", "-sS", "-f", "-o", out, "-w", "%{http_code}", url, check=False,
                   timeout=60)
    return r.returncode, r.stdout


def check_shaping(lab, rate):
    text = lab.tc_show()
    for role in ("origin", "router"):
        part = text.split(role + ": ", 1)[1]
        cb.check("qdisc htb 1: root" in part and "rate %s" % rate in part,
                 "%s: wan0 shaped with htb at %s: %s" % (role, rate, part[:300]))


def check_dhcp(lab, client, box):
    lease = client.dhcp()
    lo, hi = (int(a.rsplit(".", 1)[1]) for a in netlab.DHCP_POOL)
    ip = lease.get("fixed-address", "")
    cb.check(ip.startswith(netlab.LAN_NET + ".") and lo <= int(ip.rsplit(".", 1)[1]) <= hi,
             "DHCP: a lease from the pool: %s" % lease)
    cb.check(lease.get("cachebox-hosts") == box.addr,
             "DHCP: option 235 lists the box: %r" % lease.get("cachebox-hosts"))
    cb.check(lease.get("cachebox-group") == netlab.GROUP_ID,
             "DHCP: option 234 carries the group: %r" % lease.get("cachebox-group"))
    cb.check(any(lip == ip for _, lip in lab.dnsmasq_leases()),
             "DHCP: dnsmasq recorded the lease: %s" % lab.dnsmasq_leases())
    got = client.run("ip", "-4", "addr", "show", "dev", "eth0").stdout
    cb.check(ip and ip + "/24" in got, "DHCP: the client took its address: %s" % got.strip())
    return lease


def check_wan_once(lab, since):
    reqs = [r for r in lab.origin.requests(since) if r["path"] == "/" + NAME]
    body = sum(r["body_bytes"] for r in reqs)
    ranges = [r["range"] for r in reqs]
    cb.check(body == SIZE and len(set(ranges)) == len(ranges) and
             all(r["status"] in (200, 206) for r in reqs),
             "WAN: the object crossed once: %d body bytes for %d (%d requests, ranges %s)"
             % (body, SIZE, len(reqs), ranges))
    return reqs


def run(lab):
    box, c1, c2 = lab.boxes[0], lab.clients[0], lab.clients[1]
    check_shaping(lab, "200Mbit")
    lease = check_dhcp(lab, c2, box)
    src = lab.origin.put(NAME, SIZE)
    want = cb.sha256_file(src)
    mark = lab.origin.mark()
    sent0 = tc_sent(lab)

    out1 = os.path.join(c1.dir, NAME)
    rc, code = fetch(c1, box.url(NAME), out1)
    cb.check(rc == 0 and code == "200" and cb.sha256_file(out1) == want,
             "client 1 through the box: exact bytes (rc %d, HTTP %s)" % (rc, code))
    host = (lease.get("cachebox-hosts") or box.addr).split(",")[0]
    out2 = os.path.join(c2.dir, NAME)
    url2 = "http://%s/%s?cacheHostOrigin=%s" % (host, NAME, netlab.ORIGIN_NAME)
    rc, code = fetch(c2, url2, out2)
    cb.check(rc == 0 and code == "200" and cb.sha256_file(out2) == want,
             "client 2 through %s (from option 235): exact bytes (rc %d, HTTP %s)"
             % (host, rc, code))
    cb.wait_until(lambda: box_lines(box, c2.ip), 5, "the box logged client 2's request")
    l1, l2 = box_lines(box, c1.ip), box_lines(box, c2.ip)
    cb.check(l1 and l1[-1][7] == "MISS" and l1[-1][6] == str(SIZE),
             "client 1 was a MISS of %d bytes: %s" % (SIZE, l1))
    cb.check(l2 and l2[-1][7] == "HIT" and l2[-1][6] == str(SIZE),
             "client 2 was a HIT of %d bytes: %s" % (SIZE, l2))
    check_wan_once(lab, mark)
    sent, over = tc_sent(lab)[0] - sent0[0], tc_sent(lab)[1]
    cb.check(sent >= SIZE and over > 0,
             "the origin's htb class carried the fill (%d bytes) and held it back (%d overlimits)"
             % (sent, over))

    box.kill()
    cb.check(not netlab.ns_pids(lab.ns(box.role)), "the killed box left no process")
    box.start()
    mark = lab.origin.mark()
    rc, code = fetch(c1, box.url(NAME), out1)
    cb.check(rc == 0 and code == "200" and cb.sha256_file(out1) == want,
             "after kill -9 and restart: exact bytes (rc %d, HTTP %s)" % (rc, code))
    cb.wait_until(lambda: len(box_lines(box, c1.ip)) >= 2, 5, "the box logged the request")
    cb.check(box_lines(box, c1.ip)[-1][7] == "HIT", "after restart: a HIT from disk: %s"
             % box_lines(box, c1.ip)[-1:])
    cb.check(not [r for r in lab.origin.requests(mark) if r["path"] == "/" + NAME],
             "after restart: no new origin request for the object")
    bad = box.bad_log_lines()
    cb.check(not bad, "box logs clean: %s\n%s" % (bad, box.logs()[-2000:]))


def tc_sent(lab):
    """(bytes sent, overlimits) of the origin end's htb class 1:10."""
    text = netlab.sh("tc", "-n", lab.ns("origin"), "-s", "class", "show", "dev",
                     "wan0").stdout
    words = text.split()
    return int(words[words.index("Sent") + 1]), int(words[words.index("overlimits") + 1]
                                                      .rstrip(")"))


def main():
    reason = skip_reason()
    if reason:
        print("skip: " + reason)
        sys.exit(77)
    lab = netlab.Lab(boxes=1, clients=2, wan_rate="200mbit")
    t0 = time.monotonic()
    try:
        lab.up()
        run(lab)
    finally:
        lab.down()
    left = [n for n in netlab.sh("ip", "netns", "list").stdout.split() if n.startswith(lab.tag)]
    cb.check(not left, "every namespace removed: %s" % left)
    print("branchnet: %.1f s" % (time.monotonic() - t0))
    if cb.checks["failed"] == 0:
        lab.remove_dir()
    else:
        print("kept " + lab.dir + " for inspection")
    cb.finish()


if __name__ == "__main__":
    main()
