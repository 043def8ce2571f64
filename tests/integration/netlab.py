"""netlab: a branch office on one machine, built from network namespaces.

Scenarios and benchmarks about what a branch gains from a box need an
origin behind a slow WAN, a LAN with boxes and clients, and DHCP handing out
the boxes; this module builds that from namespaces, veth pairs and a bridge,
with Debian's nginx as the origin, dnsmasq as the router's DHCP server and
cachebox-control as each box. One picture:

    origin ns                 router ns                       box1..3 ns, client1..N ns
    nginx  wan0 ==shaped WAN== wan0  br0 (LAN bridge) --veth-- eth0
    10.231.0.1                10.231.0.2  10.231.1.1          10.231.1.11.. / 10.231.1.101..

The WAN is shaped with htb in both directions (netem, fq and cake are not
in this kernel); nginx's limit_rate is the optional per-stream limit. The
LAN is unshaped (veth and a bridge: memory speed). Every interface is made
inside a namespace and every address lives only there, so the host's
interfaces and routes are never touched. Namespace names carry a prefix and
the pid (cbn<pid>-<role>); Lab.down() kills what runs in them and deletes
them, and runs on exceptions, SIGTERM/SIGINT/SIGHUP and at exit; it is
idempotent, and cleanup_leftovers() removes what a killed run with the
same prefix and pid left behind.
"""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time

from cbtest import (BAD_LOG_MARKERS, CONTROL, CTL, access_log_lines,  # noqa: E402
                    daemon_logs, run_ctl)

WAN_NET, LAN_NET = "10.231.0", "10.231.1"
ORIGIN_IP, ROUTER_WAN_IP, ROUTER_LAN_IP = WAN_NET + ".1", WAN_NET + ".2", LAN_NET + ".1"
BOX_PORT = 8003
ORIGIN_NAME = "origin.branch.test"
GROUP_ID = "3f1a6c2e-8b4d-4e7a-9c1d-5b2f0a9e8d71"
DHCP_POOL = (LAN_NET + ".150", LAN_NET + ".199")


def sh(*args, check=True, timeout=30, **kw):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(map(str, args)), r.stderr.strip()))
    return r


def parse_rate(text):
    """A rate in tc's words ("200mbit", "1gbit", "500kbit", "25mbps" = bytes) in bits/s."""
    t = str(text).strip().lower()
    units = (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3), ("gbps", 8 * 10**9),
             ("mbps", 8 * 10**6), ("kbps", 8 * 10**3), ("bit", 1))
    for suffix, mult in units:
        if t.endswith(suffix):
            return int(float(t[:-len(suffix)]) * mult)
    return int(t)


def missing_tools():
    """None when every program the lab runs is installed, else what is missing."""
    need = ("ip", "tc", "nginx", "dnsmasq", "dhclient", "curl")
    gone = [p for p in need if not shutil.which(p) and not os.path.exists("/usr/sbin/" + p)]
    for b in (CONTROL, CTL):
        if not os.access(b, os.X_OK):
            gone.append(b + " (build first)")
    return ", ".join(gone) or None


def ns_pids(ns):
    r = sh("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


def kill_ns(ns, grace=5.0):
    """SIGTERM to every process in ns, SIGKILL to what is left after grace seconds (at once
    when grace is 0: a power cut)."""
    steps = ((signal.SIGTERM, grace),) if grace > 0 else ()
    for sig, wait in steps + ((signal.SIGKILL, 2.0),):
        pids = ns_pids(ns)
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        for _ in range(int(wait / 0.05) + 1):
            if not ns_pids(ns) or time.monotonic() > deadline:
                break
            time.sleep(0.05)


def cleanup_leftovers(prefix="cbn", pid=None):
    """Deletes the namespaces named <prefix><pid>-* (what a lab with that prefix and pid made),
    killing what runs in them first. Returns the names deleted. Safe to call any time."""
    tag = "%s%d-" % (prefix, os.getpid() if pid is None else pid)
    r = sh("ip", "netns", "list", check=False)
    names = [ln.split()[0] for ln in r.stdout.splitlines() if ln.split()]
    gone = []
    for ns in names:
        if ns.startswith(tag):
            kill_ns(ns)
            sh("ip", "netns", "del", ns, check=False)
            gone.append(ns)
    return gone


class Origin:
    """nginx in the origin namespace, serving www on ORIGIN_IP:80, logging bytes per request."""

    FIELDS = ("client", "method", "path", "status", "bytes_sent", "body_bytes", "range",
              "request_time", "connection", "agent")

    def __init__(self, lab, stream_limit_bps=0):
        self.lab = lab
        self.dir = os.path.join(lab.dir, "origin")
        self.www = os.path.join(self.dir, "www")
        self.log = os.path.join(self.dir, "access.log")
        self.stream_limit_bps = stream_limit_bps
        self.proc = None
        for d in (self.dir, self.www, os.path.join(self.dir, "tmp")):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)  # nginx's workers run unprivileged

    def config(self):
        t = os.path.join(self.dir, "tmp")
        limit = ("limit_rate %d;" % (self.stream_limit_bps // 8)) if self.stream_limit_bps else ""
        return """daemon off;
worker_processes 2;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 1024; }
http {
  client_body_temp_path %(t)s/body; proxy_temp_path %(t)s/proxy;
  fastcgi_temp_path %(t)s/fastcgi; uwsgi_temp_path %(t)s/uwsgi; scgi_temp_path %(t)s/scgi;
  log_format wan '$remote_addr|$request_method|$uri|$status|$bytes_sent|$body_bytes_sent|$http_range|$request_time|$connection|$http_user_agent';
  access_log %(log)s wan;
  sendfile on;
  keepalive_requests 100000;
  server { listen %(ip)s:80 default_server; root %(www)s; %(limit)s }
}
""" % {"d": self.dir, "t": t, "log": self.log, "ip": ORIGIN_IP, "www": self.www,
       "limit": limit}

    def start(self):
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self.config())
        self.proc = self.lab.popen("origin", ["nginx", "-c", conf, "-p", self.dir],
                                   os.path.join(self.dir, "nginx.out"))
        self.lab.wait_for(lambda: self.lab.run("origin", "curl", "-sS", "-o", "/dev/null",
                                               "http://%s/" % ORIGIN_IP,
                                               check=False).returncode == 0,
                          10, "origin nginx up", self.proc)

    def put(self, name, size=None, src=None):
        """Places /name in www: size random bytes, or a hard link (else a copy) of src."""
        path = os.path.join(self.www, name)
        if src:
            try:
                os.link(src, path)
            except OSError:
                shutil.copyfile(src, path)
        else:
            with open(path, "wb") as f:
                left = size
                while left:
                    n = min(left, 1 << 22)
                    f.write(os.urandom(n))
                    left -= n
        os.chmod(path, 0o644)
        return path

    def url(self, name):
        return "http://%s/%s" % (ORIGIN_IP, name)

    def mark(self):
        """The access log's length now: requests(since=mark()) are the ones after this."""
        return os.path.getsize(self.log) if os.path.exists(self.log) else 0

    def requests(self, since=0):
        """Each logged request as a dict of FIELDS (ints for the byte counts)."""
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            f.seek(since)
            out = []
            for ln in f.read().splitlines():
                d = dict(zip(self.FIELDS, ln.split("|")))
                for k in ("status", "bytes_sent", "body_bytes"):
                    d[k] = int(d.get(k) or 0)
                out.append(d)
            return out

    def wan_bytes(self, since=0, path=None):
        """Bytes nginx sent (headers and bodies) since the mark, for /path only if given."""
        return sum(r["bytes_sent"] for r in self.requests(since)
                   if path is None or r["path"] == path)


class Box:
    """cachebox-control (with its storage child, and the dataplane when discovery is on) in
    box namespace i, listening on its LAN address, its origin being the lab's nginx."""

    def __init__(self, lab, i, piece_size="1M", discovery=False, extra=()):
        self.lab, self.i = lab, i
        self.role = "box%d" % i
        self.ip = "%s.%d" % (LAN_NET, 10 + i)
        self.addr = "%s:%d" % (self.ip, BOX_PORT)
        self.dir = os.path.join(lab.dir, self.role)
        self.state = os.path.join(self.dir, "var")
        self.conf = os.path.join(self.dir, "cachebox.conf")
        self.log_path = os.path.join(self.dir, "control.log")
        self.proc = None
        os.makedirs(self.dir)
        disc = (["enabled = true", "backend = socket", "address = %s/24" % self.ip,
                 "advertise = %s" % self.addr, "group_id = %s" % lab.group_id]
                if discovery else ["enabled = false"])
        lines = ["[appliance]", "state_dir = %s" % self.state, "log_level = info",
                 "[server]", "listen = %s" % self.addr, "workers = 2",
                 "[storage]", "shard = %s" % os.path.join(self.dir, "shard0"),
                 "piece_size = %s" % piece_size,
                 "[control]", "socket = %s/control.sock" % self.state,
                 "metrics_listen = 127.0.0.1:9003",
                 "[discovery]"] + disc + [
                 "[origin %s]" % ORIGIN_NAME, "upstream = http://%s:80" % ORIGIN_IP,
                 # the origin by its address too, as a client given the origin's URL asks
                 "[origin %s]" % ORIGIN_IP, "upstream = http://%s:80" % ORIGIN_IP]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines + list(extra)) + "\n")

    def start(self, timeout=15):
        self.proc = self.lab.popen(self.role, [CONTROL, "--config", self.conf], self.log_path)

        def up():
            r = self.lab.run(self.role, "curl", "-sf", "-o", "/dev/null",
                             "http://%s/_cachebox/health" % self.addr, check=False)
            return r.returncode == 0 and os.path.exists(os.path.join(self.state, "control.sock"))

        self.lab.wait_for(up, timeout, "%s up" % self.role, self.proc)

    def stop(self, timeout=10):
        """SIGTERM to control (it stops its children); SIGKILL after timeout. The exit code."""
        if not self.proc:
            return None
        rc = self.lab.stop_proc(self.proc, timeout)
        self.proc = None
        kill_ns(self.lab.ns(self.role), grace=2.0)  # a child control did not take along
        return rc

    def kill(self):
        """SIGKILL to everything in the box's namespace at once: the box dies as a power cut."""
        kill_ns(self.lab.ns(self.role), grace=0.0)
        if self.proc:
            self.proc.wait(5)
            self.lab.procs.remove(self.proc)
            self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def url(self, name):
        """The connected-cache form of the origin's /name through this box."""
        return "http://%s/%s?cacheHostOrigin=%s" % (self.addr, name, ORIGIN_NAME)

    def ctl(self, *args, check=True):
        r = run_ctl([CTL, "--config", self.conf] + [str(a) for a in args])
        if check and r.returncode != 0:
            raise RuntimeError("cacheboxctl %s: %s" % (" ".join(map(str, args)), r.stderr.strip()))
        return r

    def access_log(self):
        return access_log_lines(self.state)

    def logs(self):
        return daemon_logs(self.log_path, self.state)

    def bad_log_lines(self):
        """The sanitizer or internal-error markers found in this box's logs."""
        text = self.logs()
        return [m for m in BAD_LOG_MARKERS if m in text]


class Client:
    """A LAN host: a static address, or one from the router's DHCP server (dhcp())."""

    def __init__(self, lab, i):
        self.lab, self.i = lab, i
        self.role = "client%d" % i
        self.ip = "%s.%d" % (LAN_NET, 100 + i)
        self.dir = os.path.join(lab.dir, self.role)
        os.makedirs(self.dir)

    def run(self, *cmd, **kw):
        return self.lab.run(self.role, *cmd, **kw)

    def dhcp(self, timeout=20):
        """Runs dhclient (its own config, lease and pid files, and a script that only sets the
        address and the default route: nothing outside the namespace, no resolv.conf) until it
        holds a lease asking for options 234 and 235. Returns the lease's options as
        {name: value} (cachebox-group, cachebox-hosts, fixed-address, ...), or {} on timeout."""
        conf = os.path.join(self.dir, "dhclient.conf")
        script = os.path.join(self.dir, "dhclient-script")
        self.lease_file = os.path.join(self.dir, "dhclient.leases")
        with open(conf, "w") as f:
            f.write("option cachebox-group code 234 = text;\n"
                    "option cachebox-hosts code 235 = text;\n"
                    "request subnet-mask, broadcast-address, routers, cachebox-group, "
                    "cachebox-hosts;\ntimeout 15;\n")
        with open(script, "w") as f:
            f.write("#!/bin/sh\ncase \"$reason\" in\nPREINIT) ip link set \"$interface\" up ;;\n"
                    "BOUND|RENEW|REBIND|REBOOT)\n"
                    "  ip addr flush dev \"$interface\"\n"
                    "  ip addr add \"$new_ip_address/$new_subnet_mask\" dev \"$interface\"\n"
                    "  [ -n \"$new_routers\" ] && ip route replace default via "
                    "\"${new_routers%% *}\"\n ;;\nesac\nexit 0\n")
        os.chmod(script, 0o755)
        sh("ip", "-n", self.lab.ns(self.role), "addr", "flush", "dev", "eth0")
        proc = self.lab.popen(self.role, ["dhclient", "-d", "-4", "-cf", conf, "-lf",
                                          self.lease_file, "-pf",
                                          os.path.join(self.dir, "dhclient.pid"), "-sf", script,
                                          "eth0"], os.path.join(self.dir, "dhclient.log"))
        try:
            self.lab.wait_for(lambda: self.lease(), timeout, "%s: DHCP lease" % self.role, proc)
        finally:
            self.lab.stop_proc(proc, 5)
        lease = self.lease()
        if lease.get("fixed-address"):
            self.ip = lease["fixed-address"]
        return lease

    def lease(self):
        """The last lease in dhclient's lease file: {option name or key: value, unquoted}."""
        try:
            with open(self.lease_file) as f:
                text = f.read()
        except (AttributeError, FileNotFoundError):
            return {}
        blocks = text.split("lease {")
        if len(blocks) < 2:
            return {}
        out = {}
        for ln in blocks[-1].split("}")[0].splitlines():
            ln = ln.strip().rstrip(";")
            if not ln:
                continue
            words = ln.split(None, 2) if ln.startswith("option ") else [""] + ln.split(None, 1)
            if len(words) == 3:
                out[words[1]] = words[2].strip('"')
        return out


class Lab:
    """The whole network. boxes 1..3, clients >= 1. opt235: the text of DHCP option 235 (default:
    every box's address:port, comma-separated, in box order); group_id: option 234 and the boxes'
    discovery group. wan_rate: each direction of the WAN (tc's syntax). stream_limit: nginx's
    limit_rate per request, or None. Use as a context manager, or up() then down()."""

    def __init__(self, boxes=1, clients=2, wan_rate="200mbit", stream_limit=None, opt235=None,
                 group_id=GROUP_ID, discovery=False, piece_size="1M", box_extra=(),
                 prefix="cbn", workdir=None):
        assert 1 <= boxes <= 3 and clients >= 1
        self.tag = "%s%d-" % (prefix, os.getpid())
        self.prefix = prefix
        self.dir = tempfile.mkdtemp(prefix="cbx-netlab-", dir=workdir)
        os.chmod(self.dir, 0o755)
        self.wan_rate = wan_rate
        self.group_id = group_id
        self.procs = []
        self.made = []
        self.old_handlers = {}
        self.is_up = False
        self.origin = Origin(self, parse_rate(stream_limit) if stream_limit else 0)
        self.boxes = [Box(self, i + 1, piece_size, discovery, box_extra) for i in range(boxes)]
        self.clients = [Client(self, i + 1) for i in range(clients)]
        self.opt235 = opt235 if opt235 is not None else ",".join(b.addr for b in self.boxes)
        self.dnsmasq = None

    # -- namespaces and processes --------------------------------------------------------

    def ns(self, role):
        return self.tag + role

    def run(self, role, *cmd, check=True, timeout=60):
        """cmd inside the namespace of role ("origin", "router", "box1", "client2", ...)."""
        return sh("ip", "netns", "exec", self.ns(role), *cmd, check=check, timeout=timeout)

    def popen(self, role, cmd, log_path, **kw):
        """Starts cmd in role's namespace, output to log_path; down() stops it."""
        log = open(log_path, "ab")
        try:
            p = subprocess.Popen(["ip", "netns", "exec", self.ns(role)] + [str(c) for c in cmd],
                                 stdout=log, stderr=subprocess.STDOUT, **kw)
        finally:
            log.close()
        self.procs.append(p)
        return p

    def stop_proc(self, p, timeout=10):
        """SIGTERM, then SIGKILL after timeout; the exit code (None when it had to be killed)."""
        rc = p.poll()
        if rc is None:
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                rc = None
        if p in self.procs:
            self.procs.remove(p)
        return rc

    @staticmethod
    def wait_for(pred, timeout, what, proc=None, interval=0.1):
        """Polls pred() for at most timeout s (and timeout / interval + 1 tries); raises
        RuntimeError naming what on timeout or when proc exited first."""
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / interval) + 1):
            if pred():
                return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("%s: the process exited (%s)" % (what, proc.returncode))
            if time.monotonic() > deadline:
                break
            time.sleep(interval)
        raise RuntimeError("%s: not within %.0f s" % (what, timeout))

    # -- building ------------------------------------------------------------------------

    def _add_ns(self, role):
        sh("ip", "netns", "add", self.ns(role))
        self.made.append(self.ns(role))
        sh("ip", "-n", self.ns(role), "link", "set", "lo", "up")

    def _lan_port(self, role, ip, n):
        """A veth from the router's bridge (port lanN) to eth0 in role, with ip/24."""
        r, m = self.ns("router"), self.ns(role)
        port = "lan%d" % n
        sh("ip", "-n", r, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", m)
        sh("ip", "-n", r, "link", "set", port, "master", "br0", "up")
        sh("ip", "-n", m, "link", "set", "eth0", "up")
        if ip:
            sh("ip", "-n", m, "addr", "add", ip + "/24", "dev", "eth0")
            sh("ip", "-n", m, "route", "add", "default", "via", ROUTER_LAN_IP)

    def shape(self, rate=None):
        """htb on both ends of the WAN at rate (each direction); replaces what was there."""
        rate = rate or self.wan_rate
        for role in ("origin", "router"):
            n = self.ns(role)
            sh("tc", "-n", n, "qdisc", "replace", "dev", "wan0", "root", "handle", "1:", "htb",
               "default", "10")
            sh("tc", "-n", n, "class", "replace", "dev", "wan0", "parent", "1:", "classid", "1:10",
               "htb", "rate", rate, "ceil", rate, "quantum", "60000")
        self.wan_rate = rate

    def tc_show(self):
        """`tc qdisc show` and `tc -s class show` of wan0 at both ends, as one text."""
        out = ""
        for role in ("origin", "router"):
            n = self.ns(role)
            out += "%s: %s%s" % (role, sh("tc", "-n", n, "qdisc", "show", "dev", "wan0").stdout,
                                 sh("tc", "-n", n, "-s", "class", "show", "dev", "wan0").stdout)
        return out

    def _start_dnsmasq(self):
        d = os.path.join(self.dir, "router")
        os.makedirs(d, exist_ok=True)
        self.lease_file = os.path.join(d, "dnsmasq.leases")
        # The options go through a config file: its parser takes the quotes that make 235 one
        # text (on the command line they would be sent as part of the value).
        conf = os.path.join(d, "dnsmasq.conf")
        with open(conf, "w") as f:
            if self.opt235:
                f.write('dhcp-option=235,"%s"\n' % self.opt235)
            if self.group_id:
                f.write('dhcp-option=234,"%s"\n' % self.group_id)
        args = ["dnsmasq", "--keep-in-foreground", "--conf-file=" + conf, "--port=0",
                "--interface=br0", "--bind-interfaces", "--dhcp-authoritative",
                "--user=root", "--group=root", "--log-dhcp",
                "--log-facility=" + os.path.join(d, "dnsmasq.log"),
                "--pid-file=" + os.path.join(d, "dnsmasq.pid"),
                "--dhcp-leasefile=" + self.lease_file,
                "--dhcp-range=%s,%s,255.255.255.0,1h" % DHCP_POOL,
                "--dhcp-option=3," + ROUTER_LAN_IP]
        self.dnsmasq = self.popen("router", args, os.path.join(d, "dnsmasq.out"))
        self.wait_for(lambda: os.path.exists(os.path.join(d, "dnsmasq.pid")), 10, "dnsmasq up",
                      self.dnsmasq)

    def dnsmasq_leases(self):
        """dnsmasq's lease file: [(mac, ip)]."""
        try:
            with open(self.lease_file) as f:
                return [(w[1], w[2]) for w in (ln.split() for ln in f) if len(w) >= 3]
        except FileNotFoundError:
            return []

    def up(self, start_boxes=True):
        """Builds everything and starts nginx, dnsmasq and the boxes. On any failure it tears
        down what it made and raises."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self.old_handlers[sig] = signal.signal(sig, self._on_signal)
        atexit.register(self.down)
        self.is_up = True
        try:
            cleanup_leftovers(self.prefix)
            for role in ["origin", "router"] + [b.role for b in self.boxes] + [
                    c.role for c in self.clients]:
                self._add_ns(role)
            o, r = self.ns("origin"), self.ns("router")
            sh("ip", "-n", o, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0",
               "netns", r)
            sh("ip", "-n", o, "addr", "add", ORIGIN_IP + "/24", "dev", "wan0")
            sh("ip", "-n", r, "addr", "add", ROUTER_WAN_IP + "/24", "dev", "wan0")
            for n in (o, r):
                sh("ip", "-n", n, "link", "set", "wan0", "up")
            sh("ip", "-n", o, "route", "add", LAN_NET + ".0/24", "via", ROUTER_WAN_IP)
            sh("ip", "-n", r, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", r, "addr", "add", ROUTER_LAN_IP + "/24", "dev", "br0")
            sh("ip", "-n", r, "link", "set", "br0", "up")
            self.run("router", "sysctl", "-qw", "net.ipv4.ip_forward=1")
            for n, b in enumerate(self.boxes):
                self._lan_port(b.role, b.ip, n + 1)
            for n, c in enumerate(self.clients):
                self._lan_port(c.role, c.ip, 10 + n)
            self.shape()
            self.origin.start()
            self._start_dnsmasq()
            if start_boxes:
                for b in self.boxes:
                    b.start()
        except BaseException:
            self.down()
            raise
        return self

    def _on_signal(self, signum, frame):
        self.down()
        raise SystemExit(128 + signum)

    def down(self):
        """Stops every process, deletes every namespace (and so every veth and the bridge).
        Idempotent; the work dir stays for inspection until remove_dir()."""
        if not self.is_up:
            return
        self.is_up = False
        for b in self.boxes:
            if b.proc:
                try:
                    b.stop()
                except Exception:  # noqa: BLE001 -- keep tearing down
                    pass
        for p in list(self.procs):
            self.stop_proc(p, 5)
        for ns in reversed(self.made):
            kill_ns(ns, grace=2.0)
            sh("ip", "netns", "del", ns, check=False)
        self.made = []
        cleanup_leftovers(self.prefix)
        for sig, h in self.old_handlers.items():
            signal.signal(sig, h)
        self.old_handlers = {}

    def remove_dir(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
        return False
