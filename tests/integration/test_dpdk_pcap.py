#!/usr/bin/env python3
"""The DPDK backend on a real DPDK port without privileges: net_pcap reads a
crafted capture (QUERYs by broadcast, subnet broadcast and unicast for a
complete, a partial and an unknown object, an ARP request, and every kind
of frame and datagram that must get silence) and writes what the dataplane
sends to another capture. Checks: one correct
reply per valid QUERY and nothing for the rest, replies never longer than
their requests, the ARP reply, ANNOUNCE and BYE, per-reason counters that
match the corpus, and the same OFFER bytes from the socket backend for the
same QUERYs over loopback (bytes 0..115 of an AUTH reply, its MAC verified:
timestamp and nonce are fresh by protocol). Then the start errors, one log
line each. Skips (77) only when this build has no DPDK, after checking
that such a build refuses backend = dpdk in one line.

The pcap format is written and read here by hand (no scapy), frames with
their IPv4 and UDP checksums computed here too.
"""
import glob
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "dataplane"))
import cachebox_ask as ask  # noqa: E402
import cbtest  # noqa: E402
from cbtest import check, wait_until  # noqa: E402

DATAPLANE = os.path.join(cbtest.BUILD, "dataplane", "cachebox-dataplane")
EAL = "--no-huge -m 128 --no-shconf --no-telemetry --no-pci --log-level=*:error"
PORT_MAC = bytes.fromhex("027063617000")  # net_pcap's first port: "\x02pcap" + index 0
PEER_MAC = bytes.fromhex("020000000007")
OTHER_MAC = bytes.fromhex("020000000099")
BCAST_MAC = b"\xff" * 6
OURS, NET_BCAST, PEER, PEER2 = "192.0.2.10", "192.0.2.255", "192.0.2.77", "192.0.2.78"
KEY_ID, KEY = 7, bytes(range(32))
GROUP = "3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b"
DROPS = list(cbtest.DISC_DROPS)  # "none" first: enum dp_drop's order
LANE_FIELDS = list(cbtest.DISC_FIELDS)


# ---- frames ----

def csum(data, start=0):
    s = start
    if len(data) % 2:
        data += b"\0"
    for (w,) in struct.iter_unpack(">H", data):
        s += w
    while s > 0xffff:
        s = (s >> 16) + (s & 0xffff)
    return s


def pseudo(src, dst, ulen):
    return csum(socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", 17, ulen))


def udp_frame(payload, src=PEER, dst=OURS, sport=40000, dport=8004, dmac=PORT_MAC,
              smac=PEER_MAC, udp_sum="right"):
    ulen = 8 + len(payload)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 1, 0x4000, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack(">H", 0xffff ^ csum(ip)) + ip[12:]
    udp = struct.pack(">HHHH", sport, dport, ulen, 0) + payload
    if udp_sum == "right":
        s = 0xffff ^ csum(udp, pseudo(src, dst, ulen))
        udp = udp[:6] + struct.pack(">H", s or 0xffff) + udp[8:]
    elif udp_sum == "partial":  # what a sender with tx checksum offload leaves on a veth
        udp = udp[:6] + struct.pack(">H", pseudo(src, dst, ulen)) + udp[8:]
    return dmac + smac + b"\x08\x00" + ip + udp


def arp_request(tpa, spa=PEER):
    body = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, PEER_MAC, socket.inet_aton(spa),
                       bytes(6), socket.inet_aton(tpa))
    return BCAST_MAC + PEER_MAC + b"\x08\x06" + body + bytes(18)


def ipv6_neighbour_solicitation():
    icmp = bytes([135, 0, 0, 0]) + bytes(4) + bytes(15) + b"\x0a"
    ip6 = struct.pack(">IHBB", 0x60000000, len(icmp), 58, 255) + bytes(15) + b"\x01" + \
        bytes.fromhex("ff0200000000000000000001ff00000a")
    return bytes.fromhex("3333ff00000a") + PEER_MAC + b"\x86\xdd" + ip6 + icmp


def tcp_frame():
    f = bytearray(udp_frame(bytes(20)))
    f[23] = 6
    f[24:26] = b"\0\0"
    f[24:26] = struct.pack(">H", 0xffff ^ csum(bytes(f[14:34])))
    return bytes(f)


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000, i, len(fr), len(fr)) + fr)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data)[0]
    check(magic in (0xa1b2c3d4, 0xa1b23c4d), "tx pcap has a pcap header (magic %x)" % magic)
    frames, off = [], 24
    for _ in range(100000):
        if off + 16 > len(data):
            break
        _, _, incl, _ = struct.unpack_from("<IIII", data, off)
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


# ---- the corpus: (name, frame, expected: "offer", "arp", or the counter it lands in) ----

def signed(cid=bytes(32), first=0, count=0, group=GROUP, key=KEY, key_id=KEY_ID, ts=None):
    return ask.query(cid, ask.guid_bytes(group), first, count, key=key, key_id=key_id, ts=ts)


def flip(b, i):
    return b[:i] + bytes([b[i] ^ 0x08]) + b[i + 1:]


def corpus(obj_id, part_id):
    unknown = os.urandom(32)
    uni = signed(obj_id)
    c = [
        ("query broadcast", udp_frame(signed(obj_id), dst="255.255.255.255", dmac=BCAST_MAC),
         "offer"),
        ("query subnet broadcast, is there a box", udp_frame(signed(), dst=NET_BCAST,
                                                             dmac=BCAST_MAC), "offer"),
        ("query unicast, complete object", udp_frame(uni, sport=40001), "offer"),
        ("query pieces 1..2", udp_frame(signed(obj_id, 1, 2)), "offer"),
        ("query partial object", udp_frame(signed(part_id)), "offer"),
        ("query unknown object", udp_frame(signed(unknown)), "offer"),
        ("query beyond the last piece", udp_frame(signed(obj_id, 1 << 20)), "offer"),
        ("query without UDP checksum", udp_frame(signed(obj_id), udp_sum="none"), "offer"),
        ("query with an offloaded (unfinished) UDP checksum",
         udp_frame(signed(obj_id), udp_sum="partial"), "offer"),
        ("query from another host", udp_frame(signed(unknown), src=PEER2, sport=5353),
         "offer"),
        ("ARP request for our address", arp_request(OURS), "arp"),
        ("ARP request for another address", arp_request("192.0.2.11"), "not_ours"),
        ("wrong UDP port", udp_frame(signed(obj_id), dport=8005), "not_ours"),
        ("to another unicast MAC", udp_frame(signed(obj_id), dmac=OTHER_MAC), "not_ours"),
        ("to another IP address", udp_frame(signed(obj_id), dst="192.0.2.11"), "not_ours"),
        ("bit flipped under the old UDP checksum",
         flip(udp_frame(signed(obj_id)), 42 + 40), "not_ours"),
        ("frame cut short of its IP length", udp_frame(signed(obj_id))[:120], "not_ours"),
        ("IPv6 neighbour solicitation", ipv6_neighbour_solicitation(), "not_ours"),
        ("TCP to us", tcp_frame(), "not_ours"),
        ("truncated datagram", udp_frame(signed(obj_id)[:100]), "invalid"),
        ("oversized datagram", udp_frame(signed(obj_id) + bytes(24)), "invalid"),
        ("bit flipped in the padding", udp_frame(flip(signed(obj_id), 80)), "invalid"),
        ("bit flipped in the content ID", udp_frame(flip(signed(obj_id), 40)), "bad_mac"),
        ("signed with another key", udp_frame(signed(obj_id, key=bytes(32))), "bad_mac"),
        ("wrong group", udp_frame(signed(obj_id, group="")), "wrong_group"),
        ("not signed", udp_frame(ask.query(obj_id, ask.guid_bytes(GROUP))),
         "unauthenticated"),
        ("unknown key id", udp_frame(signed(obj_id, key_id=99)), "unauthenticated"),
        ("stale timestamp", udp_frame(signed(obj_id, ts=int(time.time()) - 3600)), "stale"),
        ("replay", udp_frame(uni, sport=40001), "replay"),
        ("source 0.0.0.0", udp_frame(signed(obj_id), src="0.0.0.0"), "bad_source"),
        ("source 255.255.255.255", udp_frame(signed(obj_id), src="255.255.255.255"),
         "bad_source"),
        ("source the subnet broadcast", udp_frame(signed(obj_id), src=NET_BCAST),
         "bad_source"),
        ("multicast source", udp_frame(signed(obj_id), src="224.0.0.5"), "bad_source"),
        ("source port 0", udp_frame(signed(obj_id), sport=0), "bad_source"),
        ("source outside allowed_sources", udp_frame(signed(obj_id), src="198.51.100.9"),
         "bad_source"),
        ("another box's OFFER", udp_frame(b"CBXD\x01\x02\x00\x00" + bytes(61) + b"\x04" +
                                                bytes(42)), "ignored"),
    ]
    return c


def disc_counters(state):
    """cbtest.read_discovery with the drop reasons beside the other counters."""
    d = cbtest.read_discovery(state)
    if d:
        d.update(d.pop("drops"))
        d["none"] = 0
    return d


def diff(after, before):
    return {k: after[k] - before.get(k, 0) for k in LANE_FIELDS + DROPS + ["busy_ns"]}


def run_dataplane(conf, log_path):
    log = open(log_path, "ab")
    return subprocess.Popen([DATAPLANE, "--config", conf], stdout=log, stderr=subprocess.STDOUT)


def stop(proc, what):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    check(rc == 0, "%s stops cleanly on SIGTERM (exit %s)" % (what, rc))


# ---- the checks ----

def check_udp_reply(name, req, rep):
    check(len(rep) <= len(req), "%s: reply (%d) no longer than the request (%d)" %
          (name, len(rep), len(req)))
    check(rep[0:6] == req[6:12] and rep[6:12] == PORT_MAC, "%s: MACs swapped" % name)
    check(rep[12:14] == b"\x08\x00" and rep[14] == 0x45, "%s: IPv4" % name)
    check(rep[26:30] == socket.inet_aton(OURS), "%s: from our address, never a broadcast"
          % name)
    check(rep[30:34] == req[26:30], "%s: to the sender's address" % name)
    check(rep[34:36] == req[36:38] and rep[36:38] == req[34:36], "%s: ports swapped" % name)
    check(csum(rep[14:34]) == 0xffff, "%s: IP checksum" % name)
    ulen = struct.unpack_from(">H", rep, 38)[0]
    check(ulen == len(rep) - 34 and struct.unpack_from(">H", rep, 16)[0] == len(rep) - 14,
          "%s: IP and UDP lengths" % name)
    src, dst = socket.inet_ntoa(rep[26:30]), socket.inet_ntoa(rep[30:34])
    check(csum(rep[34:], pseudo(src, dst, ulen)) == 0xffff, "%s: UDP checksum" % name)
    o = ask.parse(rep[42:])
    check(o is not None and o["type"] == "OFFER", "%s: an OFFER" % name)
    check(rep[42 + 8:42 + 16] == req[42 + 8:42 + 16], "%s: the QUERY's txid" % name)
    check(ask.verify(rep[42:], KEY), "%s: OFFER's MAC verifies" % name)
    return o


def check_arp_reply(req, rep):
    check(len(rep) == len(req), "ARP reply as long as the request")
    check(rep[0:6] == PEER_MAC and rep[6:12] == PORT_MAC and rep[12:14] == b"\x08\x06",
          "ARP reply to the asker from our MAC")
    op, sha, spa, tha, tpa = struct.unpack_from(">H6s4s6s4s", rep, 20)
    check(op == 2 and sha == PORT_MAC and spa == socket.inet_aton(OURS), "ARP: we are "
          "192.0.2.10 at our MAC")
    check(tha == PEER_MAC and tpa == socket.inet_aton(PEER), "ARP: told to the asker")


def check_bcast(frame, what):
    check(frame[0:6] == BCAST_MAC and frame[26:30] == socket.inet_aton(OURS) and
          frame[30:34] == socket.inet_aton(NET_BCAST) and frame[34:38] == b"\x1f\x44\x1f\x44",
          "%s to the subnet broadcast, port 8004" % what)
    o = ask.parse(frame[42:])
    check(o is not None and o["type"] == what and ask.verify(frame[42:], KEY),
          "%s well formed and signed" % what)


def dpdk_run(app, conf, log_path, frames):
    before = disc_counters(app.state) or {}
    proc = run_dataplane(conf, log_path)
    seen = wait_until(lambda: proc.poll() is not None or (
        (c := disc_counters(app.state)) and c["state"] == "running" and
        c["rx"] - before.get("rx", 0) >= len(frames)), 30,
                      "the dpdk dataplane saw all %d frames" % len(frames))
    if not seen or proc.poll() is not None:
        print(open(log_path).read()[-3000:])
        check(False, "the dpdk dataplane runs")
        sys.exit(1)
    stop(proc, "the dpdk dataplane")
    after = disc_counters(app.state)
    return diff(after, before), after


def check_counters(name, got, cases, n_frames):
    want = {k: 0 for k in LANE_FIELDS + DROPS}
    for _, _, exp in cases:
        key = {"offer": "offers", "arp": "arp_replies"}.get(exp, exp)
        want[key] += 1
    want["rx"] = n_frames
    want["queries"] = want["offers"] + sum(want[d] for d in DROPS[2:])
    want["announces"] = want["byes"] = 1
    for k in LANE_FIELDS + DROPS:
        check(got[k] == want[k], "%s: counter %s = %d (want %d)" % (name, k, got[k], want[k]))
    check(0 < got["busy_ns"] < 10 ** 9, "%s: busy time on bursts counted (%d ns)" % (
        name, got["busy_ns"]))


def socket_compare(app, base_conf, log_path, cases, pcap_replies):
    port = cbtest.free_udp_port()
    conf = os.path.join(app.dir, "dp_socket.conf")
    with open(conf, "w") as f:  # on loopback alone: no ANNOUNCE on the machine's network
        f.write(base_conf + "backend = socket\nport = %d\naddress = 127.0.0.1/8\n" % port)
    proc = run_dataplane(conf, log_path)
    try:
        wait_until(lambda: (c := disc_counters(app.state)) and c["state"] == "running" and
                   "0.0.0.0:%d" % port in c["listen"], 10, "the socket dataplane is running")
        for name, frame, _ in cases:
            payload = frame[42:]
            got = ask.ask("127.0.0.1", port, payload, wait=1.0)
            check(len(got) == 1, "%s: one OFFER over the socket backend" % name)
            if not got:
                continue
            data = got[0][0]
            want = pcap_replies[name][42:]
            check(data[:116] == want[:116], "%s: socket and dpdk OFFERs agree on bytes 0..115"
                  "\n  socket %s\n  dpdk   %s" % (name, data[:116].hex(), want[:116].hex()))
            check(ask.verify(data, KEY), "%s: socket OFFER's MAC verifies" % name)
    finally:
        stop(proc, "the socket dataplane")


def start_errors(app, base_conf, pcap_in):
    tmp = os.path.join(app.dir, "out-err.pcap")
    vdev = "--vdev=net_pcap0,rx_pcap=%s,tx_pcap=%s" % (pcap_in, tmp)
    cases = [
        ("no address", "backend = dpdk\ndpdk_args = %s %s\n" % (EAL, vdev),
         "[discovery] address is not set"),
        ("EAL init failed", "backend = dpdk\ndpdk_args = %s --no-such-eal-flag\n" % EAL,
         "EAL init failed: "),
        ("no port", "backend = dpdk\ndpdk_args = %s\n" % EAL, "gave no port"),
    ]
    setpriv = subprocess.run(["sh", "-c", "command -v setpriv"], capture_output=True).returncode
    if os.geteuid() == 0 and setpriv == 0:
        cases.append(("af_packet without its capabilities",
                      "backend = dpdk\ndpdk_args = %s --vdev=net_af_packet0,iface=lo\n" % EAL,
                      "net_af_packet needs CAP_NET_RAW and CAP_NET_ADMIN"))
    else:
        print("note: not root or no setpriv: the missing-capability start error is not checked")
    for what, section, text in cases:
        conf = os.path.join(app.dir, "dp_err.conf")
        with open(conf, "w") as f:
            f.write(base_conf + ("" if what == "no address" else "address = %s/24\n" % OURS) +
                    section)
        cmd = [DATAPLANE, "--config", conf]
        if "capabilities" in what:
            cmd = ["setpriv", "--bounding-set=-net_raw,-net_admin",
                   "--inh-caps=-net_raw,-net_admin"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        ours = [ln for ln in (r.stdout + r.stderr).splitlines()
                if "cachebox-dataplane[" in ln and " error: " in ln]
        check(r.returncode == 1, "%s: exit 1 (got %d)" % (what, r.returncode))
        check(len(ours) == 1 and text in ours[0], "%s: one error line saying %r, got %r" %
              (what, text, ours))


def no_dpdk_says_so():
    """A build without DPDK refuses backend = dpdk in one line (exit 1 if not)."""
    work = tempfile.mkdtemp(prefix="cbx-nodpdk-")
    try:
        conf = os.path.join(work, "dp.conf")
        with open(conf, "w") as f:
            f.write("[appliance]\nstate_dir = %s\n[storage]\nshard = %s/shard0\n"
                    "[discovery]\nbackend = dpdk\naddress = %s/24\n" % (work, work, OURS))
        r = subprocess.run([DATAPLANE, "--config", conf], capture_output=True, text=True,
                           timeout=30)
        lines = [ln for ln in r.stderr.splitlines() if " error: " in ln]
        if not check(r.returncode == 1 and len(lines) == 1 and
                     "this build has no DPDK" in lines[0],
                     "backend = dpdk without DPDK: exit 1 and one line (%d, %r)" %
                     (r.returncode, lines)):
            cbtest.finish()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make_partial(app):
    """An object missing one piece: imported, a bit flipped on disk in piece 2,
    and `cacheboxctl verify` drops that piece (the origin is never asked)."""
    path = os.path.join(app.dir, "part.bin")
    cbtest.make_file(path, 300 * 1024 + 123, cbtest.seed_of("dpdk_pcap_partial"))
    app.import_file(path, "http://dl.example.com/part.bin")
    cid = cbtest.content_id("dl.example.com/part.bin")
    files = glob.glob(os.path.join(app.shard, "**", cid + ".*.data"), recursive=True)
    check(len(files) == 1, "found part.bin's data file")
    with open(files[0], "r+b") as f:
        f.seek(2 * 65536 + 99)
        b = f.read(1)
        f.seek(2 * 65536 + 99)
        f.write(bytes([b[0] ^ 0x20]))
    r = app.ctl_json("verify", "http://dl.example.com/part.bin")
    check(r["corrupt"] == 1, "verify drops the flipped piece: %s" % r)
    objs = app.listing()
    check(not objs["dl.example.com/part.bin"]["complete"] and
          objs["dl.example.com/obj.bin"]["complete"], "part.bin is partial, obj.bin complete")
    return bytes.fromhex(cid)


def main():
    if not os.path.exists(os.path.join(cbtest.BUILD, "dataplane", "libdp_dpdk.a")):
        no_dpdk_says_so()
        print("skip: this build has no DPDK (meson -Ddpdk=disabled, or libdpdk-dev missing)")
        sys.exit(77)
    app = cbtest.Appliance()
    try:
        app.start()
        obj = os.path.join(app.dir, "obj.bin")
        cbtest.make_file(obj, 300 * 1024 + 123, cbtest.seed_of("dpdk_pcap"))
        app.import_file(obj, "http://dl.example.com/obj.bin")
        obj_id = bytes.fromhex(cbtest.content_id("dl.example.com/obj.bin"))
        part_id = make_partial(app)

        keyfile = os.path.join(app.dir, "group.keys")
        fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, ("%d %s\n" % (KEY_ID, KEY.hex())).encode())
        os.close(fd)
        with open(app.conf) as f:
            base = f.read() + "\n[discovery]\n" \
                "advertise = 127.0.0.1:%d\n" \
                "allowed_sources = 127.0.0.1/32, 192.0.2.0/24\n" \
                "group_id = %s\ngroup_key_file = %s\n" % (app.port, GROUP, keyfile)
        addr = "address = %s/24\n" % OURS

        cases = corpus(obj_id, part_id)
        frames = [fr for _, fr, _ in cases]
        pin, pout = os.path.join(app.dir, "in.pcap"), os.path.join(app.dir, "out.pcap")
        write_pcap(pin, frames)
        conf = os.path.join(app.dir, "dp_dpdk.conf")
        with open(conf, "w") as f:
            f.write(base + addr + "backend = dpdk\ndpdk_args = %s --vdev=net_pcap0,rx_pcap=%s,"
                    "tx_pcap=%s\n" % (EAL, pin, pout))
        log_path = os.path.join(app.dir, "dataplane.log")
        got, after = dpdk_run(app, conf, log_path, frames)
        check(PORT_MAC.hex(":") in after["listen"], "status names the port's MAC: %r" %
              after["listen"])
        check_counters("dpdk", got, cases, len(frames))

        out = read_pcap(pout)
        check(len(out) >= 2, "tx pcap holds ANNOUNCE and BYE (%d frames)" % len(out))
        if len(out) >= 2:
            check_bcast(out[0], "ANNOUNCE")
            check_bcast(out[-1], "BYE")
        by_txid = {f[50:58]: f for f in out[1:-1] if f[12:14] == b"\x08\x00"}
        arps = [f for f in out[1:-1] if f[12:14] == b"\x08\x06"]
        valid = [c for c in cases if c[2] == "offer"]
        check(len(out) == len(valid) + 3, "tx pcap: ANNOUNCE, %d OFFERs, one ARP reply, BYE "
              "(got %d frames)" % (len(valid), len(out)))
        replies = {}
        for name, frame, exp in cases:
            if exp == "arp":
                check(len(arps) == 1, "one ARP reply")
                if arps:
                    check_arp_reply(frame, arps[0])
                continue
            rep = by_txid.get(frame[50:58]) if frame[12:14] == b"\x08\x00" else None
            if exp != "offer":
                if name != "replay":  # the replay's first copy was answered
                    check(rep is None, "%s: silence" % name)
                continue
            if check(rep is not None, "%s: answered" % name):
                replies[name] = rep
                o = check_udp_reply(name, frame, rep)
                if o and "complete" in name:
                    check(o["have"] == 2 and o["object_size"] == 300 * 1024 + 123 and
                          o["pieces_present"] == 5 and o["piece_size"] == 65536,
                          "complete object: have 2, size, 5 of 5 pieces: %s" % o)
                if o and "partial" in name:
                    check(o["have"] == 1 and o["pieces_present"] == 4 and
                          o["object_size"] == 300 * 1024 + 123, "partial object: have 1, 4 of "
                          "5 pieces: %s" % o)
                if o and "pieces 1..2" in name:
                    check(o["have"] == 2 and o["pieces_present"] == 2, "pieces 1..2: have 2, "
                          "2 pieces: %s" % o)
                if o and ("unknown" in name or "beyond" in name or "is there" in name):
                    check(o["have"] == 0 and o["object_size"] == 0, "%s: have 0" % name)
                if o:
                    check(o["address"] == "127.0.0.1" and o["port"] == app.port,
                          "%s: advertises 127.0.0.1:%d" % (name, app.port))

        socket_compare(app, base, log_path, [c for c in valid if c[0] in replies], replies)
        start_errors(app, base, pin)
        text = open(log_path).read()
        bad = [m for m in cbtest.BAD_LOG_MARKERS if m in text]
        check(not bad, "dataplane log clean of %s" % bad)
    finally:
        app.cleanup()
    cbtest.finish()


if __name__ == "__main__":
    main()
