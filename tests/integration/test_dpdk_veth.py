#!/usr/bin/env python3
"""The DPDK backend on net_af_packet against a real kernel: a veth pair
between two network namespaces made here, the DPDK side without any kernel
IP address. The kernel side resolves 192.0.2.10 by ARP (answered by the
dataplane), sends QUERYs unicast and to the subnet broadcast with its usual
tx checksum offload (an unfinished UDP checksum the backend must accept),
and verifies the OFFERs' checksums itself (its rx offload turned off). Then
the peer goes away: its link down and up again (answers resume), then the
veth deleted altogether; the dataplane must live on and stop cleanly on
SIGTERM. Root only (namespaces, CAP_NET_RAW): 77 otherwise.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "dataplane"))
import cbtest  # noqa: E402
from cbtest import check, wait_until  # noqa: E402

DATAPLANE = os.path.join(cbtest.BUILD, "dataplane", "cachebox-dataplane")
ASK = os.path.join(cbtest.ROOT, "dataplane", "cachebox_ask.py")
EAL = "--no-huge -m 128 --no-shconf --no-telemetry --no-pci --log-level=*:error"
PID = os.getpid()
NS_DP, NS_PEER = "cbx-dpdk-dp-%d" % PID, "cbx-dpdk-peer-%d" % PID
IF_DP, IF_PEER = "dpkd%d" % (PID % 100000), "dpkp%d" % (PID % 100000)


def sh(*cmd, check_rc=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


def ask_peer(*args, wait=1.0):
    """cachebox_ask.py in the peer namespace: the OFFERs (JSON lines) it printed."""
    r = sh("ip", "netns", "exec", NS_PEER, sys.executable, ASK, "--port", "8004", "--wait",
           str(wait), *args, check_rc=False)
    return [ln for ln in r.stdout.splitlines() if '"OFFER"' in ln]


FLOOD = """
import socket, sys, time
sys.path.insert(0, sys.argv[1])
import cachebox_ask as ask
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
end, sent = time.monotonic() + float(sys.argv[2]), 0
while time.monotonic() < end and sent < 2000000:
    try:
        s.sendto(ask.query(), ("192.0.2.10", 8004))
        sent += 1
    except OSError:
        time.sleep(0.001)  # no route, no buffer: the interface went away
print(sent)
"""


def flood(seconds):
    """QUERYs as fast as Python sends them from the peer, for seconds (bounded)."""
    return subprocess.Popen(["ip", "netns", "exec", NS_PEER, sys.executable, "-c", FLOOD,
                             os.path.join(cbtest.ROOT, "dataplane"), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (network namespaces, CAP_NET_RAW for net_af_packet)"
    if not os.path.exists(os.path.join(cbtest.BUILD, "dataplane", "libdp_dpdk.a")):
        return "this build has no DPDK"
    for tool in ("ip", "ethtool"):
        if not shutil.which(tool):
            return "%s is not installed" % tool
    r = subprocess.run(["ip", "netns", "add", NS_DP], capture_output=True, text=True)
    if r.returncode != 0:
        return "cannot create a network namespace: " + r.stderr.strip()
    return None


def setup():
    sh("ip", "netns", "add", NS_PEER)
    sh("ip", "link", "add", IF_DP, "netns", NS_DP, "type", "veth", "peer", "name", IF_PEER,
       "netns", NS_PEER)
    for ns, ifname in ((NS_DP, IF_DP), (NS_PEER, IF_PEER)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "set", ifname, "up")
    sh("ip", "-n", NS_PEER, "addr", "add", "192.0.2.77/24", "dev", IF_PEER)
    # the peer's kernel checks our checksums; its own go out unfinished (tx offload)
    sh("ip", "netns", "exec", NS_PEER, "ethtool", "-K", IF_PEER, "rx", "off")
    tx = sh("ip", "netns", "exec", NS_PEER, "ethtool", "-k", IF_PEER).stdout
    print("peer: " + " ".join(ln.strip() for ln in tx.splitlines()
                              if ln.startswith(("tx-checksumming", "rx-checksumming"))))


def main():
    why = skip_reason()
    if why:
        print("skip: " + why)
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="cbx-dpdk-veth-")
    proc = None
    try:
        setup()
        conf = os.path.join(work, "dp.conf")
        with open(conf, "w") as f:
            f.write("[appliance]\nstate_dir = %s/var\n[storage]\nshard = %s/shard0\n"
                    "[discovery]\nbackend = dpdk\naddress = 192.0.2.10/24\n"
                    "advertise = 192.0.2.10:8003\n"
                    "dpdk_args = %s --vdev=net_af_packet0,iface=%s\n" % (work, work, EAL, IF_DP))
        os.makedirs(os.path.join(work, "var"))
        log_path = os.path.join(work, "dataplane.log")
        log = open(log_path, "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", NS_DP, DATAPLANE, "--config", conf],
                                stdout=log, stderr=subprocess.STDOUT)
        state = os.path.join(work, "var")
        wait_until(lambda: (d := cbtest.read_discovery(state)) and d["state"] == "running", 15,
                   "the af_packet dataplane is running")
        offers = wait_until(lambda: ask_peer("192.0.2.10"), 5, "a unicast QUERY is answered")
        check(offers and '"from": "192.0.2.10"' in offers[0] and
              '"address": "192.0.2.10"' in offers[0], "the OFFER: %s" % offers)
        offers = ask_peer("--broadcast", "192.0.2.255")
        check(len(offers) == 1 and '"from": "192.0.2.10"' in offers[0],
              "a subnet-broadcast QUERY is answered from our address: %s" % offers)
        d = cbtest.read_discovery(state)
        check(d["arp_replies"] >= 1 and d["offers"] == 2 and d["tx_failed"] == 0,
              "counted: %d ARP replies, %d offers, %d tx failures" % (
                  d["arp_replies"], d["offers"], d["tx_failed"]))
        check(d["announces"] == 1, "an ANNOUNCE at start")

        # the peer goes away under load: a flood through link down, up and the veth's deletion
        load = flood(6)
        time.sleep(1)
        sh("ip", "-n", NS_PEER, "link", "set", IF_PEER, "down")
        time.sleep(1.5)
        check(proc.poll() is None, "alive with the peer's link down")
        sh("ip", "-n", NS_PEER, "link", "set", IF_PEER, "up")
        wait_until(lambda: ask_peer("192.0.2.10", wait=0.5), 10,
                   "answers again once the peer is back")
        sh("ip", "-n", NS_PEER, "link", "del", IF_PEER)  # takes our end with it
        time.sleep(2.5)
        check(proc.poll() is None, "alive after its interface was deleted")
        out = load.communicate(timeout=30)[0]
        d = cbtest.read_discovery(state)
        print("flood: %s QUERYs sent; dataplane: %d frames, %d offers, %d rate limited, "
              "%d tx failed" % (out.strip()[-40:], d["rx"], d["offers"], d["drops"]["rate_limited"],
                                d["tx_failed"]))
        check(d["rx"] > 1000, "the flood reached the dataplane (%d frames)" % d["rx"])
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        proc = None
        check(rc == 0, "stops cleanly on SIGTERM after losing its interface (exit %s)" % rc)
        log.close()
        text = open(log_path).read()
        check(not [m for m in cbtest.BAD_LOG_MARKERS if m in text], "log clean")
        if cbtest.checks["failed"]:
            print(text[-3000:])
    finally:
        if proc:
            proc.kill()
            proc.wait()
        for ns in (NS_DP, NS_PEER):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    cbtest.finish()


if __name__ == "__main__":
    main()
