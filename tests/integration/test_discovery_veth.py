#!/usr/bin/env python3
"""Discovery with real packets (issue 9, root only): cachebox-dataplane in
network namespace A answers a client in namespace B across a veth pair,
from a real index (an appliance with a complete imported object and a
partial one, left by a pull-through fill from nginx that was cut short).

For the socket backend and, when the build has DPDK, for the DPDK backend
on net_af_packet and on net_af_xdp (A's veth end has no kernel address:
the dataplane answers ARP for [discovery] address itself), it checks: a
unicast and a subnet-broadcast QUERY are answered; the OFFERs for the
complete, the partial and an unknown object say what the index says (have,
object_size, piece_size, pieces_present, checked against `cacheboxctl
list` and `verify`); ANNOUNCE at start and BYE at SIGTERM reach B; a source
off the interface's subnet (a second address on B's veth, routed) gets
silence and is counted as bad_source; one source sending 10,000 QUERYs/s
for 5 s gets no more than rate_per_source per second plus the burst.

The client side runs in B as this same file with --client (ip netns exec
cannot move a Python thread), speaking the wire format through
dataplane/cachebox_ask.py, the codec the C code did not write.
Exit 77 when not root or the kernel lacks netns/veth; the DPDK cases are
skipped (with the reason) when the binary has no DPDK backend.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "dataplane"))
import cachebox_ask as ask  # noqa: E402

PIECE = 64 * 1024
NET_A, NET_B, OFF_B = "192.0.2.1", "192.0.2.2", "198.51.100.2"
BCAST = "192.0.2.255"
DPORT = 8004
RATE = 100  # rate_per_source in the dataplane's config; burst is twice that
FLOOD_RATE, FLOOD_SECS = 10000, 5
EAL = "--no-huge -m 128 --no-shconf --no-telemetry --no-pci --log-level=*:error"


# ---- the client half, run inside namespace B -----------------------------------------------

def client_ask(a):
    """Sends one QUERY, prints the raw replies (hex) and their senders as JSON."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if a["src"]:
            s.bind((a["src"], 0))
        if a["broadcast"]:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if a.get("dev"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a["dev"].encode())
        s.sendto(bytes.fromhex(a["msg"]), (a["host"], DPORT))
        out, end = [], time.monotonic() + a["wait"]
        for _ in range(1000):
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data, peer = s.recvfrom(2048)
            except socket.timeout:
                break
            out.append([data.hex(), peer[0]])
        print(json.dumps(out))
    finally:
        s.close()


def client_listen(a):
    """Prints every datagram to UDP 8004 in B (ANNOUNCE, BYE) for a["secs"] or until
    a["until"] of type BYE arrived; "ready" on stderr once bound."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", DPORT))
    print("ready", file=sys.stderr, flush=True)
    end = time.monotonic() + a["secs"]
    for _ in range(10000):
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(min(left, 0.2))
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            continue
        print(json.dumps([data.hex(), peer[0]]), flush=True)
        if len(data) >= 6 and data[5] == ask.BYE:
            break
    s.close()


def client_flood(a):
    """One source, FLOOD_RATE QUERYs/s for FLOOD_SECS s (paced per millisecond);
    prints the sent count and the replies received in each second."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.setblocking(False)
    msg = bytearray(bytes.fromhex(a["msg"]))
    per_ms = a["rate"] // 1000
    t0 = time.monotonic()
    sent, per_sec = 0, [0] * (a["secs"] + 2)
    total = a["rate"] * a["secs"]
    for _ in range(total * 4):
        now = time.monotonic() - t0
        if sent >= total and now > a["secs"] + 1:
            break
        due = min(total, int(now * 1000 + 1) * per_ms)
        while sent < due:
            struct.pack_into(">Q", msg, 8, sent)
            try:
                s.sendto(msg, (a["host"], DPORT))
            except BlockingIOError:
                break
            sent += 1
        for _ in range(256):
            try:
                data = s.recv(2048)
            except BlockingIOError:
                break
            if len(data) == ask.LEN and data[5] == ask.OFFER:
                per_sec[min(int(now), len(per_sec) - 1)] += 1
        time.sleep(0.0005)
    print(json.dumps({"sent": sent, "per_sec": per_sec}))


def client_main(argv):
    a = json.loads(argv[0])
    {"ask": client_ask, "listen": client_listen, "flood": client_flood}[a["op"]](a)


# ---- the test half, in the root namespace ---------------------------------------------------

def sh(*args, check_rc=True, timeout=30):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr.strip()))
    return r


class Net:
    """Namespaces A and B, veth va (in A) - vb (in B), named with the branch and the pid."""

    def __init__(self):
        tag = "bench%d" % os.getpid()
        self.a, self.b = "cbA" + tag, "cbB" + tag
        self.va, self.vb = "va%d" % os.getpid(), "vb%d" % os.getpid()
        self.made = []

    def setup(self):
        for ns in (self.a, self.b):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
        sh("ip", "link", "add", self.va, "netns", self.a, "type", "veth", "peer", "name",
           self.vb, "netns", self.b)
        for ns, dev in ((self.a, self.va), (self.b, self.vb)):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", self.b, "addr", "add", NET_B + "/24", "dev", self.vb)
        sh("ip", "-n", self.b, "addr", "add", OFF_B + "/24", "dev", self.vb)
        # The kernel leaves UDP checksums unfinished on a veth (offload): finish them.
        sh("ip", "netns", "exec", self.b, "ethtool", "-K", self.vb, "tx", "off")

    def kernel_ip_in_a(self, on):
        """A's veth end: a kernel address and a route back to the off-link subnet (socket
        backend), or none at all (DPDK backends own the interface)."""
        if on:
            sh("ip", "-n", self.a, "addr", "add", NET_A + "/24", "dev", self.va)
            sh("ip", "-n", self.a, "route", "add", "198.51.100.0/24", "dev", self.va)
        else:
            sh("ip", "-n", self.a, "addr", "flush", "dev", self.va)
        sh("ip", "-n", self.b, "neigh", "flush", "dev", self.vb)

    def in_b(self, *args):
        return ["ip", "netns", "exec", self.b] + list(args)

    def cleanup(self):
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check_rc=False)


def kernel_ok():
    """None when netns and veth work here, else the reason."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth)"
    probe = Net()
    probe.a += "p"
    try:
        probe.setup()
    except (RuntimeError, OSError) as e:
        return "the kernel lacks netns/veth: %s" % e
    finally:
        probe.cleanup()
    return None


class Dataplane:
    """cachebox-dataplane started by hand in namespace A on a config derived from the
    appliance's (same state_dir, so the same index), [discovery] replaced."""

    def __init__(self, cb, app, net, name, disc_lines):
        self.cb, self.app, self.net, self.name = cb, app, net, name
        self.conf = os.path.join(app.dir, "dp-%s.conf" % name)
        self.log_path = os.path.join(app.dir, "dp-%s.log" % name)
        with open(app.conf) as f:
            text = f.read()
        disc = "\n".join(["[discovery]", "enabled = true", "port = %d" % DPORT,
                          "advertise = %s:%d" % (NET_A, app.port),
                          "rate_per_source = %d" % RATE] + disc_lines)
        with open(self.conf, "w") as f:
            f.write(text.replace("[discovery]\nenabled = false", disc))
        self.proc = None

    def start(self, wait_line="answering"):
        env = dict(os.environ, LIBXDP_SKIP_DISPATCHER="1")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.net.a, self.cb.DATAPLANE,
                                      "--config", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        return self.cb.wait_until(lambda: wait_line in self.logs() or self.proc.poll() is not None,
                                  15, "%s: dataplane up" % self.name) and self.proc.poll() is None

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        """SIGTERM; the exit status (None when it had to be killed)."""
        if not self.proc:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = None
        self.proc = None
        self.log.close()
        return rc


def dpdk_missing(cb, app, net):
    """None when the binary has a DPDK backend, else the reason to skip."""
    dp = Dataplane(cb, app, net, "probe", ["backend = dpdk", "address = %s/24" % NET_A,
                                           "dpdk_args = " + EAL])
    dp.start(wait_line="dpdk backend")
    dp.stop()
    text = dp.logs()
    if "this build has no DPDK" in text:
        return "no DPDK backend in this build"
    if "gave no port" not in text:
        return "the DPDK backend did not start: " + text.strip()[-300:]
    return None


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--client":
        return client_main(sys.argv[2:])
    reason = kernel_ok()
    if reason:
        print("skip: " + reason)
        sys.exit(77)
    import cbtest as cb
    from origins import nginx_origin

    app = cb.Appliance(origins=())
    nginx, www = nginx_origin(app, names=("origin.test", "dl.example.com"), limit_rate="128k")
    net = Net()
    try:
        net.setup()
        app.start()
        objs = make_objects(cb, app, nginx, www)
        backends = [("socket", ["backend = socket"], True)]
        missing = dpdk_missing(cb, app, net)
        if missing:
            print("skip: DPDK cases (net_af_packet, net_af_xdp): " + missing)
        else:
            for pmd, vdev in (("af_packet", "net_af_packet0,iface=%s" % net.va),
                              ("af_xdp", "net_af_xdp0,iface=%s,start_queue=0,queue_count=1"
                               % net.va)):
                backends.append((pmd, ["backend = dpdk", "address = %s/24" % NET_A,
                                       "dpdk_args = %s --vdev=%s" % (EAL, vdev)], False))
        for name, lines, kernel_ip in backends:
            net.kernel_ip_in_a(kernel_ip)
            run_backend(cb, app, net, objs, name, lines, kernel_ip)
        app.check_logs_clean()
    finally:
        nginx.stop()
        net.cleanup()
        app.cleanup()
    cb.finish()


def make_objects(cb, app, nginx, www):
    """A complete object (imported) and a partial one (a ranged fill cut short by stopping
    the origin). Returns {name: (content_id hex, size, npieces, pieces present)}."""
    whole = cb.make_file(os.path.join(app.dir, "whole.bin"), 10 * PIECE + 3, seed=1)
    app.import_file(whole, "http://dl.example.com/whole.bin")
    cb.make_file(os.path.join(www, "part.bin"), 40 * PIECE + 11, seed=2)
    st, _, body = app.request("GET", "/part.bin?cacheHostOrigin=origin.test",
                              {"Range": "bytes=0-%d" % (PIECE - 1)})
    cb.check(st == 206 and len(body) == PIECE, "partial: the first piece served (%d)" % st)
    nginx.stop()  # the background fill of the rest fails: the object stays partial
    listing = app.listing()
    w, p = listing.get("dl.example.com/whole.bin"), listing.get("origin.test/part.bin")
    cb.check(w and w["complete"] and w["pieces"] == 11, "whole.bin listed complete: %s" % w)
    cb.check(p and not p["complete"] and p["pieces"] == 41, "part.bin listed partial: %s" % p)
    if not (w and p):
        raise RuntimeError("objects missing from the index: %s" % listing)

    def stable():
        a = app.ctl_json("verify", p["id"])["pieces"]
        time.sleep(1.0)
        b = app.ctl_json("verify", p["id"])["pieces"]
        return b if a == b and not app.listing()["origin.test/part.bin"]["complete"] else 0

    present = cb.wait_until(stable, 20, "part.bin: its fill stopped with pieces kept", 0.1)
    cb.check(present and 1 <= present < 41, "part.bin: %s of 41 pieces present" % present)
    return {"whole": (w["id"], w["size"], 11, 11), "part": (p["id"], p["size"], 41, present)}


def b_ask(net, msg, host=NET_A, broadcast=False, src="", dev=None, wait=0.5):
    a = {"op": "ask", "msg": msg.hex(), "host": host, "broadcast": broadcast, "src": src,
         "dev": dev, "wait": wait}
    r = sh(*net.in_b(sys.executable, os.path.abspath(__file__), "--client", json.dumps(a)))
    return [(bytes.fromhex(d), peer) for d, peer in json.loads(r.stdout)]


def offers_for(net, msg, **kw):
    """The parsed OFFERs answering msg (right txid, from A)."""
    return [ask.parse(d) for d, peer in b_ask(net, msg, **kw)
            if ask.parse(d) and ask.parse(d)["txid"] == msg[8:16].hex() and peer == NET_A]


def expect(first, count, obj):
    """(have, object_size, piece_size, pieces_present) the index implies for a range."""
    if not obj:
        return (0, 0, 0, 0)
    _, size, npieces, present = obj
    if first >= npieces:
        return (0, 0, 0, 0)
    asked = npieces - first if count == 0 else min(count, npieces - first)
    if present == npieces:
        return (2, size, PIECE, asked)
    held = min(present, asked)
    return (1, size, PIECE, held) if held else (0, 0, 0, 0)


def check_offers(cb, app, net, objs, name):
    unknown = ("ab" * 32, 0, 0, 0)
    cases = [("whole", objs["whole"], 0, 0), ("whole", objs["whole"], 2, 3),
             ("whole", objs["whole"], 11, 0), ("part", objs["part"], 0, 0),
             ("part", objs["part"], 0, 1), ("part", objs["part"], 5, 100),
             ("unknown", unknown, 0, 0)]
    for what, obj, first, count in cases:
        msg = ask.query(bytes.fromhex(obj[0]), first=first, count=count)
        got = offers_for(net, msg)
        want = expect(first, count, obj if what != "unknown" else None)
        o = got[0] if len(got) == 1 else {}
        have = tuple(o.get(k) for k in ("have", "object_size", "piece_size", "pieces_present"))
        cb.check(len(got) == 1 and have == want and o["content_id"] == obj[0] and
                 o["address"] == NET_A and o["port"] == app.port and o["family"] == 4 and
                 o["tls"] == 0 and o["free_slots"] == 3,
                 "%s: OFFER for %s [%d, +%d]: %s, want %s (%s)" % (name, what, first, count,
                                                                   have, want, o))


def check_rate(cb, app, net, name):
    """One source, 10k QUERYs/s for 5 s: at most RATE per second plus the 2*RATE burst."""
    before = cb.read_discovery(app.state)
    a = {"op": "flood", "msg": ask.query().hex(), "host": NET_A, "rate": FLOOD_RATE,
         "secs": FLOOD_SECS}
    r = sh(*net.in_b(sys.executable, os.path.abspath(__file__), "--client", json.dumps(a)),
           timeout=FLOOD_SECS + 30)
    res = json.loads(r.stdout)
    got = sum(res["per_sec"])
    after = cb.read_discovery(app.state)
    limited = after["drops"]["rate_limited"] - before["drops"]["rate_limited"]
    top = RATE * FLOOD_SECS + 2 * RATE + RATE // 2  # + half a second of tokens for timing
    cb.check(res["sent"] == FLOOD_RATE * FLOOD_SECS, "%s: flood sent %d" % (name, res["sent"]))
    cb.check(RATE * (FLOOD_SECS - 1) <= got <= top,
             "%s: rate limit: %d OFFERs for %d QUERYs in %d s (%s/s), want %d..%d" % (
                 name, got, res["sent"], FLOOD_SECS, res["per_sec"], RATE * (FLOOD_SECS - 1),
                 top))
    cb.check(all(n <= 3 * RATE + RATE // 2 for n in res["per_sec"][:1]) and
             all(n <= RATE + RATE // 2 for n in res["per_sec"][2:]),
             "%s: per second at most the burst, then the rate: %s" % (name, res["per_sec"]))
    cb.check(limited >= res["sent"] - got - res["sent"] // 100,
             "%s: %d counted rate_limited" % (name, limited))


def run_backend(cb, app, net, objs, name, lines, kernel_ip):
    listener = subprocess.Popen(
        net.in_b(sys.executable, os.path.abspath(__file__), "--client",
                 json.dumps({"op": "listen", "secs": 120})),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    listener.stderr.readline()  # "ready"
    dp = Dataplane(cb, app, net, name, lines)
    try:
        if not dp.start():
            cb.check(False, "%s: dataplane did not start: %s" % (name, dp.logs()[-2000:]))
            return
        # Unicast (B's kernel resolves A's address by ARP first) and subnet broadcast.
        msg = ask.query()
        got = offers_for(net, msg, wait=1.0)
        cb.check(len(got) == 1 and got[0]["have"] == 0, "%s: unicast QUERY answered: %s"
                 % (name, got))
        neigh = sh("ip", "-n", net.b, "neigh", "show", NET_A, "dev", net.vb).stdout
        cb.check("lladdr" in neigh, "%s: B resolved %s: %r" % (name, NET_A, neigh.strip()))
        msg = ask.query()
        got = offers_for(net, msg, host=BCAST, broadcast=True)
        cb.check(len(got) == 1, "%s: subnet broadcast QUERY answered: %s" % (name, got))
        msg = ask.query()
        got = offers_for(net, msg, host="255.255.255.255", broadcast=True, dev=net.vb)
        cb.check(len(got) == 1, "%s: 255.255.255.255 QUERY answered: %s" % (name, got))
        check_offers(cb, app, net, objs, name)
        # Off-link: a source outside A's subnet, though routable, gets silence.
        before = cb.read_discovery(app.state)["drops"]["bad_source"]
        msg = ask.query()
        got = b_ask(net, msg, src=OFF_B)
        after = cb.read_discovery(app.state)["drops"]["bad_source"]
        cb.check(not got and after == before + 1,
                 "%s: off-link source %s: silence (%d replies), bad_source +%d" % (
                     name, OFF_B, len(got), after - before))
        check_rate(cb, app, net, name)
        if not kernel_ip:
            c = cb.read_discovery(app.state)
            cb.check(c["arp_replies"] >= 1, "%s: %d ARP replies counted" % (name,
                                                                            c["arp_replies"]))
    finally:
        rc = dp.stop()
        try:
            out, _ = listener.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            listener.kill()
            out, _ = listener.communicate()
    cb.check(rc == 0, "%s: dataplane stopped cleanly on SIGTERM (rc %s)" % (name, rc))
    seen = [ask.parse(bytes.fromhex(d)) for d, peer in
            (json.loads(ln) for ln in out.splitlines() if ln.strip()) if peer == NET_A]
    types = [o["type"] for o in seen if o]
    cb.check(types[:1] == ["ANNOUNCE"] and types[-1:] == ["BYE"],
             "%s: ANNOUNCE at start and BYE at stop reached B: %s" % (name, types))
    cb.check(all(o["address"] == NET_A and o["port"] == app.port for o in seen if o),
             "%s: ANNOUNCE/BYE advertise %s:%d" % (name, NET_A, app.port))
    bad = [m for m in cb.BAD_LOG_MARKERS if m in dp.logs()]
    cb.check(not bad, "%s: dataplane log clean: %s" % (name, dp.logs()[-1500:]))


if __name__ == "__main__":
    main()
