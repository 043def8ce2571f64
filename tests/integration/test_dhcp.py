#!/usr/bin/env python3
"""cachebox-fetch --cache-host-source dhcp|dhcp-force on netlab's branch
network (root only): dnsmasq in the router namespace hands out option 235
(the two boxes, with blanks around them) and option 234 (the group), and
option 235 is found through each lease format and through DHCPINFORM:
- dhclient (netlab's Client.dhcp: its own lease file and a script that
  touches nothing outside the namespace): --print-hosts lists both boxes
  as "dhcp" with the group, via the lease file; a whole download with the
  DHCP source comes from the first box, exact, every byte from the cache;
- systemd-networkd, the real one (Debian 12: systemd 252), run in the
  client's namespace inside a mount namespace of its own (tmpfs over
  /run/systemd/netif, its .network file bound over /etc/systemd/network,
  /sys read-only so that it does not wait for udev): cachebox-fetch reads
  /run/systemd/netif/leases/<ifindex> at its default place, with and
  without --interface. Where networkd is not installed, the lease is a
  file written in networkd's format, and the test says so;
- dhcpcd (dhcpcd-base), in its own mount namespace (tmpfs over /run and
  /var/lib/dhcpcd; a private dhcpcd.conf defining 234 and 235; -c
  /bin/true so no hook runs): root reads its lease file; nobody cannot,
  and dhcpcd 9.4.1 is not asked with -U (it would serve no other control
  client: dhcpcd issue #168), so the DHCPINFORM answers and dhcpcd logs no
  control command; with CACHEBOX_FETCH_DHCPCD_CONTROL=1 nobody gets it
  through `dhcpcd -4 -U` and its unprivileged socket;
- DHCPINFORM by nobody with no capabilities (setpriv) and no lease state:
  dnsmasq answers the ephemeral port; by root it is sent from port 68 with
  --interface; dnsmasq's log shows the INFORMs;
- option 234 is discovery's group without --group-id: with it both boxes
  (in the lab's group) answer --discover, without DHCP none does;
- dhcp keeps a --cache-host list, dhcp-force replaces it; dhcp-force with
  no DHCP answer (on lo) keeps the list and says so, dhcp with nothing and
  no list is the origin only, said on stderr;
- no sanitizer or internal-error line in cachebox-fetch's stderr or the
  boxes' logs; the host's /etc/resolv.conf and /run/systemd/netif/leases
  are untouched, and every namespace is gone afterwards.
Exit 77 when not root, or when a program the lab needs is missing.
"""
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cbtest as cb  # noqa: E402
import netlab  # noqa: E402

FETCH_BUILT = os.path.join(cb.BUILD, "client", "cachebox-fetch")
NETWORKD = "/lib/systemd/systemd-networkd"
SIZE = 3 * 1024 * 1024 + 777
NAME = "dhcp.bin"
NOTHING = {"CACHEBOX_FETCH_DHCLIENT_LEASES": "", "CACHEBOX_FETCH_NETWORKD_LEASES": "/nonexistent",
           "CACHEBOX_FETCH_DHCPCD_LEASES": "/nonexistent", "CACHEBOX_FETCH_DHCPCD": ""}
UNPRIV = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
          "--bounding-set=-all", "--no-new-privs"]


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (network namespaces, DHCP clients)"
    gone = netlab.missing_tools()
    if gone:
        return "missing: " + gone
    for p in ("dhcpcd", "setpriv", "nsenter", "unshare"):
        if not shutil.which(p) and not os.path.exists("/usr/sbin/" + p):
            return "missing: %s (make deps installs dhcpcd-base)" % p
    if not os.access(FETCH_BUILT, os.X_OK):
        return FETCH_BUILT + " (build first)"
    probe = "cbdprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if r.returncode != 0:
        return "no network namespaces here: " + r.stderr.strip()
    return None


class Fetch:
    """cachebox-fetch, copied into the lab's directory so that nobody may run it."""

    def __init__(self, lab):
        self.path = os.path.join(lab.dir, "cachebox-fetch")
        shutil.copy(FETCH_BUILT, self.path)
        os.chmod(self.path, 0o755)
        self.lab = lab

    def run(self, prefix, *args, env=None, timeout=60):
        e = dict(os.environ)
        e.update(env or {})
        r = subprocess.run(list(prefix) + [self.path] + list(args), capture_output=True,
                           text=True, timeout=timeout, env=e)
        bad = [m for m in cb.BAD_LOG_MARKERS if m in r.stderr]
        if bad:
            cb.check(False, "cachebox-fetch %s: %s in its stderr:\n%s" % (args, bad,
                                                                       r.stderr[-3000:]))
        return r

    def in_ns(self, role, *args, env=None, unpriv=False):
        pre = ["ip", "netns", "exec", self.lab.ns(role)] + (UNPRIV if unpriv else [])
        return self.run(pre, *args, env=env)

    def in_proc(self, pid, *args, env=None, unpriv=False):
        """In the network and mount namespaces of process pid (networkd's, dhcpcd's)."""
        pre = ["nsenter", "-t", str(pid), "-n", "-m"] + (UNPRIV if unpriv else [])
        return self.run(pre, *args, env=env)


def hosts_of(r):
    """--print-hosts' host lines: [(base, from)]."""
    out = []
    for ln in r.stdout.splitlines():
        w = ln.split()
        if len(w) == 3 and w[0].isdigit():
            out.append((w[1], w[2]))
    return out


def check_dhcp_hosts(lab, r, what, via):
    want = [("http://" + b.addr, "dhcp") for b in lab.boxes]
    cb.check(r.returncode == 0 and hosts_of(r) == want,
             "%s: option 235's boxes, as dhcp, in order: %s (rc %d) %s" % (
                 what, hosts_of(r), r.returncode, r.stderr.strip()))
    cb.check("dhcp option 234 group %s" % netlab.GROUP_ID in r.stdout,
             "%s: option 234 is the group: %s" % (what, r.stdout.strip()))
    cb.check(via in r.stdout, "%s: found via %s: %s" % (what, via, r.stdout.strip()))


def scenario_dhclient(lab, fetch, url, want):
    c = lab.clients[0]
    lease = c.dhcp()
    cb.check(lease.get("cachebox-hosts", "").strip() == ",".join(b.addr for b in lab.boxes)
             .replace(",", " , "), "dhclient: the lease holds option 235: %r"
             % lease.get("cachebox-hosts"))
    env = dict(NOTHING, CACHEBOX_FETCH_DHCLIENT_LEASES="/nonexistent:" + c.lease_file)
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp", "--print-hosts", url, env=env)
    check_dhcp_hosts(lab, r, "dhclient", "dhclient lease " + c.lease_file)
    out = os.path.join(c.dir, NAME)
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp", "--json", "-q", "-o", out, url,
                    env=env)
    try:
        s = json.loads(r.stdout)
    except ValueError:
        s = {}
    cb.check(r.returncode == 0 and os.path.exists(out) and cb.sha256_file(out) == want,
             "dhclient: the download through the DHCP source is exact (rc %d) %s"
             % (r.returncode, r.stderr.strip()))
    cb.check(s.get("BytesFromCacheServer") == SIZE and s.get("BytesFromHttp") == 0 and
             s.get("CacheHost", "").endswith(lab.boxes[0].addr),
             "dhclient: every byte from the first box of option 235: %s" % {
                 k: s.get(k) for k in ("BytesFromCacheServer", "BytesFromHttp", "CacheHost")})
    return lease


def start_networkd(lab, c):
    """systemd-networkd in c's namespace and a mount namespace of its own; its Popen."""
    nd = os.path.join(c.dir, "network")
    os.makedirs(nd)
    with open(os.path.join(nd, "10-eth0.network"), "w") as f:
        f.write("[Match]\nName=eth0\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\n"
                "IPv6AcceptRA=no\n[DHCPv4]\nRequestOptions=234 235\nUseDNS=no\nUseNTP=no\n"
                "UseHostname=no\nUseDomains=no\nUseTimezone=no\n")
    netlab.sh("ip", "-n", lab.ns(c.role), "addr", "flush", "dev", "eth0")
    script = ("set -e; mount -t tmpfs tmpfs /run/systemd/netif; "
              "chown systemd-network:systemd-network /run/systemd/netif; "
              "mount --bind %s /etc/systemd/network; mount -o remount,bind,ro /sys; "
              "exec %s" % (nd, NETWORKD))
    return lab.popen(c.role, ["unshare", "-m", "sh", "-c", script],
                     os.path.join(c.dir, "networkd.log"),
                     env=dict(os.environ, SYSTEMD_LOG_LEVEL="info"))


def scenario_networkd(lab, fetch, url, lease235, lease234):
    c = lab.clients[1]
    env = dict(NOTHING)
    del env["CACHEBOX_FETCH_NETWORKD_LEASES"]  # its default place
    if os.access(NETWORKD, os.X_OK):
        p = start_networkd(lab, c)
        idx = netlab.sh("ip", "netns", "exec", lab.ns(c.role), "cat",
                        "/sys/class/net/eth0/ifindex").stdout.strip()
        path = "/run/systemd/netif/leases/" + idx

        def leased():
            r = subprocess.run(["nsenter", "-t", str(p.pid), "-m", "cat", path],
                               capture_output=True, text=True)
            return "OPTION_235=" in r.stdout

        lab.wait_for(leased, 20, "networkd: a lease with option 235", p)
        r = fetch.in_proc(p.pid, "--cache-host-source", "dhcp", "--print-hosts", url, env=env)
        check_dhcp_hosts(lab, r, "networkd (real, systemd 252)", "networkd lease " + path)
        r = fetch.in_proc(p.pid, "--cache-host-source", "dhcp", "--interface", "eth0",
                          "--print-hosts", url, env=env, unpriv=True)
        check_dhcp_hosts(lab, r, "networkd, --interface eth0, as nobody",
                         "networkd lease " + path)
        lab.stop_proc(p, 5)
    else:
        # No systemd-networkd here: the lease is a file WRITTEN by this test in networkd's
        # format (systemd 252's dhcp_lease_save: OPTION_<code>=<hex>) with the bytes dnsmasq
        # sent to dhclient.
        print("networkd: %s is not installed; a lease file written in its format" % NETWORKD)
        d = os.path.join(c.dir, "leases")
        os.makedirs(d)
        with open(os.path.join(d, "2"), "w") as f:
            f.write("# This is private data. Do not parse.\nADDRESS=%s\nOPTION_234=%s\n"
                    "OPTION_235=%s\n" % (c.ip, lease234.encode().hex(), lease235.encode().hex()))
        env["CACHEBOX_FETCH_NETWORKD_LEASES"] = d
        r = fetch.in_ns(c.role, "--cache-host-source", "dhcp", "--print-hosts", url, env=env)
        check_dhcp_hosts(lab, r, "networkd (a written lease file)", "networkd lease " + d)


def start_dhcpcd(lab, c, conf):
    """dhcpcd in c's namespace and a mount namespace of its own, once it holds a lease (its log
    says so: `dhcpcd -U` is not used to wait, see scenario_dhcpcd)."""
    log = os.path.join(c.dir, "dhcpcd.log")
    netlab.sh("ip", "-n", lab.ns(c.role), "addr", "flush", "dev", "eth0")
    script = ("set -e; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /var/lib/dhcpcd; "
              "exec dhcpcd -f %s -c /bin/true -4 -B -t 15 eth0" % conf)
    p = lab.popen(c.role, ["unshare", "-m", "sh", "-c", script], log)

    def leased():
        with open(log) as f:
            return "eth0: leased " in f.read()

    lab.wait_for(leased, 20, "dhcpcd: a lease", p)
    return p, log


def control_commands(log):
    with open(log) as f:
        return [ln for ln in f.read().splitlines() if "control command" in ln]


def scenario_dhcpcd(lab, fetch, url):
    """dhcpcd 9.4.1 (Debian 12's) serves only the first control client after it starts (dhcpcd
    issue #168): cachebox-fetch reads its lease file when it may (root), and does not ask that
    version with -U unless told to, so the daemon's owner keeps its one control connection."""
    c = lab.clients[2]
    conf = os.path.join(c.dir, "dhcpcd.conf")
    with open(conf, "w") as f:
        f.write("define 234 string cachebox_group\ndefine 235 string cachebox_hosts\n"
                "option cachebox_group, cachebox_hosts\nipv4only\nnoipv6rs\nnoarp\n"
                "nohook resolv.conf, hostname, ntp.conf, timesyncd.conf\n")
    env = dict(NOTHING)
    del env["CACHEBOX_FETCH_DHCPCD"]  # found in PATH, or in /usr/sbin
    del env["CACHEBOX_FETCH_DHCPCD_LEASES"]  # /var/lib/dhcpcd, dhcpcd's tmpfs here
    p, log = start_dhcpcd(lab, c, conf)
    version = netlab.sh("dhcpcd", "--version").stdout.split("\n")[0]
    r = fetch.in_proc(p.pid, "--cache-host-source", "dhcp", "--print-hosts", url, env=env)
    check_dhcp_hosts(lab, r, "dhcpcd's lease file, as root", "dhcpcd lease /var/lib/dhcpcd/eth0")
    r = fetch.in_proc(p.pid, "--cache-host-source", "dhcp", "--interface", "eth0",
                      "--print-hosts", url, env=dict(env, PATH="/usr/bin:/bin"), unpriv=True)
    if version.startswith("dhcpcd 9.4."):
        check_dhcp_hosts(lab, r, "%s, as nobody: lease file unreadable, -U not asked" % version,
                         "DHCPINFORM on eth0")
        cb.check(not control_commands(log), "%s: no control command reached it: %s"
                 % (version, control_commands(log)))
    else:
        check_dhcp_hosts(lab, r, "%s, as nobody" % version, "dhcpcd -4 -U eth0")
    # told to ask whatever the version, through the unprivileged socket: the first control
    # client of this dhcpcd, which also shows that the run above left it alone
    r = fetch.in_proc(p.pid, "--cache-host-source", "dhcp", "--print-hosts", url,
                      env=dict(env, CACHEBOX_FETCH_DHCPCD_CONTROL="1"), unpriv=True)
    check_dhcp_hosts(lab, r, "dhcpcd -U as nobody, any interface", "dhcpcd -4 -U eth0")
    lab.stop_proc(p, 5)


def scenario_inform(lab, fetch, url):
    c = lab.clients[3]  # a static address, no DHCP client, no lease state
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp", "--print-hosts", url, env=NOTHING,
                    unpriv=True)
    check_dhcp_hosts(lab, r, "DHCPINFORM as nobody", "DHCPINFORM on eth0")
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp", "--interface", "eth0",
                    "--print-hosts", url, env=NOTHING)
    check_dhcp_hosts(lab, r, "DHCPINFORM as root, --interface eth0", "DHCPINFORM on eth0")
    log = open(os.path.join(lab.dir, "router", "dnsmasq.log")).read()
    informs = [ln for ln in log.splitlines() if "DHCPINFORM" in ln and c.ip in ln]
    cb.check(len(informs) >= 2, "dnsmasq logged the INFORMs from %s: %s" % (c.ip, informs[-4:]))

    listed = "10.231.1.99:8003"
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp", "--cache-host", listed,
                    "--print-hosts", url, env=NOTHING)
    cb.check(r.returncode == 0 and hosts_of(r) == [("http://" + listed, "listed")] and
             "option 235" not in r.stdout,
             "dhcp with --cache-host: the list, DHCP not asked: %s" % r.stdout.strip())
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp-force", "--cache-host", listed,
                    "--print-hosts", url, env=NOTHING, unpriv=True)
    check_dhcp_hosts(lab, r, "dhcp-force over --cache-host", "DHCPINFORM on eth0")
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp-force", "--cache-host", listed,
                    "--interface", "lo", "--print-hosts", url, env=NOTHING)
    cb.check(r.returncode == 0 and hosts_of(r) == [("http://" + listed, "listed")] and
             "no DHCP option 235 or 234 on lo" in r.stderr and
             "using the --cache-host list" in r.stderr,
             "dhcp-force with no DHCP answer keeps the list and says so: %s / %s"
             % (r.stdout.strip(), r.stderr.strip()))
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp", "--interface", "lo", "--print-hosts",
                    url, env=NOTHING)
    cb.check(r.returncode == 0 and "no cache host: the origin only" in r.stdout and
             "using the origin only" in r.stderr and "DHCPINFORM" in r.stderr,
             "dhcp with nothing found: the origin only, and where it looked: %s / %s"
             % (r.stdout.strip(), r.stderr.strip()))
    t0 = time.monotonic()
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp", "--interface", "lo", "-q",
                    "--print-hosts", url, env=NOTHING)
    cb.check(r.returncode == 0 and not r.stderr and time.monotonic() - t0 < 5,
             "-q: nothing on stderr, and no more than the INFORM's wait: %r" % r.stderr)


def scenario_group(lab, fetch, url):
    """Option 234 is discovery's group when --group-id is not given: the boxes (discovery on,
    in the lab's group) answer only a QUERY that carries it."""
    c = lab.clients[3]
    listed = "10.231.1.99:8003"
    args = ("--cache-host", listed, "--discover", "--discover-wait", "500", "--print-hosts", url)
    want = [("http://" + listed, "listed")] + [("http://" + b.addr, "discovery")
                                               for b in lab.boxes]
    r = fetch.in_ns(c.role, "--cache-host-source", "dhcp", *args, env=NOTHING, unpriv=True)
    cb.check(r.returncode == 0 and hosts_of(r) == want,
             "dhcp's option 234 as the group: the list, then both boxes by rank (box 1 holds "
             "the object): %s %s" % (hosts_of(r), r.stderr.strip()))
    cb.check("dhcp option 234 group %s (DHCPINFORM on eth0)" % netlab.GROUP_ID in r.stdout and
             "dhcp option 235" not in r.stdout,
             "--print-hosts: the group from DHCP, and 235 unused (the list stands): %s"
             % r.stdout.strip())
    r = fetch.in_ns(c.role, *args, env=NOTHING, unpriv=True)
    cb.check(r.returncode == 0 and hosts_of(r) == want[:1] and "no offers" in r.stderr,
             "without DHCP no group: no box answers: %s %s" % (hosts_of(r), r.stderr.strip()))


def host_state():
    leases = "/run/systemd/netif/leases"
    return (open("/etc/resolv.conf").read() if os.path.exists("/etc/resolv.conf") else None,
            sorted(os.listdir(leases)) if os.path.isdir(leases) else None)


def main():
    reason = skip_reason()
    if reason:
        print("skip: " + reason)
        sys.exit(77)
    before = host_state()
    lab = netlab.Lab(boxes=2, clients=4, piece_size="1M", prefix="cbh", discovery=True,
                     opt235=" %s , %s " % tuple("%s.%d:%d" % (netlab.LAN_NET, 11 + i,
                                                               netlab.BOX_PORT)
                                                for i in range(2)))
    t0 = time.monotonic()
    try:
        lab.up()
        fetch = Fetch(lab)
        src = lab.origin.put(NAME, SIZE)
        url = "http://%s/%s" % (netlab.ORIGIN_NAME, NAME)
        lease = scenario_dhclient(lab, fetch, url, cb.sha256_file(src))
        scenario_networkd(lab, fetch, url, lease.get("cachebox-hosts", ""),
                          lease.get("cachebox-group", ""))
        scenario_dhcpcd(lab, fetch, url)
        scenario_inform(lab, fetch, url)
        scenario_group(lab, fetch, url)
        for b in lab.boxes:
            bad = b.bad_log_lines()
            cb.check(not bad, "%s logs clean: %s" % (b.role, bad))
    finally:
        lab.down()
    left = [n for n in netlab.sh("ip", "netns", "list").stdout.split() if n.startswith(lab.tag)]
    cb.check(not left, "every namespace removed: %s" % left)
    cb.check(host_state() == before, "the host's resolv.conf and networkd leases are untouched")
    print("dhcp: %.1f s" % (time.monotonic() - t0))
    if cb.checks["failed"] == 0:
        lab.remove_dir()
    else:
        print("kept " + lab.dir + " for inspection")
    cb.finish()


if __name__ == "__main__":
    main()
