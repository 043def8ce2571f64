#!/usr/bin/env python3
"""The DPDK backend on net_memif, and a peer that goes away: two dataplanes
joined by a memif socket (one the server, one the client, two addresses of
one subnet). Each hears the other's ANNOUNCE (counted as ignored: a box
never answers one). The client is then killed outright (SIGKILL, no BYE,
its shared memory gone); the server must notice the link go down and keep
running, take the client back when it restarts, hear its BYE when it stops
cleanly, and stop cleanly itself. No privileges needed. Skips (77) only
when this build has no DPDK.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import cbtest
from cbtest import check, wait_until

DATAPLANE = os.path.join(cbtest.BUILD, "dataplane", "cachebox-dataplane")
EAL = "--no-huge -m 128 --no-shconf --no-telemetry --no-pci --log-level=*:error"


class Box:
    def __init__(self, work, name, role, addr, sock):
        self.dir = os.path.join(work, name)
        self.state = os.path.join(self.dir, "var")
        os.makedirs(self.state)
        self.conf = os.path.join(self.dir, "dp.conf")
        self.log_path = os.path.join(self.dir, "dataplane.log")
        self.proc = None
        with open(self.conf, "w") as f:
            f.write("[appliance]\nstate_dir = %s\n[storage]\nshard = %s/shard0\n"
                    "[discovery]\nbackend = dpdk\naddress = %s/24\nadvertise = %s\n"
                    "dpdk_args = %s --file-prefix=%s --vdev=net_memif0,role=%s,socket=%s\n"
                    % (self.state, self.dir, addr, addr, EAL, name, role, sock))

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([DATAPLANE, "--config", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        return wait_until(lambda: (d := self.shm()) and d["state"] == "running" and
                          d["pid"] == self.proc.pid, 15, "%s is running" % self.dir)

    def shm(self):
        none = dict({k: 0 for k in cbtest.DISC_FIELDS}, state="none", pid=0)
        return cbtest.read_discovery(self.state) or none

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc

    def logs(self):
        with open(self.log_path) as f:
            return f.read()


def main():
    if not os.path.exists(os.path.join(cbtest.BUILD, "dataplane", "libdp_dpdk.a")):
        print("skip: this build has no DPDK (meson -Ddpdk=disabled, or libdpdk-dev missing)")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="cbx-dpdk-memif-")
    sock = "/cbx-dpdk-memif-%d" % os.getpid()  # abstract (the default): the line stays short
    server = Box(work, "server", "server", "192.0.2.10", sock)
    client = Box(work, "client", "client", "192.0.2.11", sock)
    try:
        server.start()
        client.start()
        wait_until(lambda: server.shm()["ignored"] >= 1, 10,
                   "the server hears the client's ANNOUNCE")
        wait_until(lambda: client.shm()["ignored"] >= 1, 10,
                   "the client hears the server's ANNOUNCE, sent once its link came up")
        check(server.shm()["offers"] == 0 and client.shm()["offers"] == 0,
              "nobody answers an ANNOUNCE")

        check(client.stop(signal.SIGKILL) == -signal.SIGKILL, "client killed")
        wait_until(lambda: "link down" in server.logs(), 10, "the server sees its link go down")
        check(server.proc.poll() is None, "the server lives on without its peer")

        before = server.shm()["ignored"]
        client.start()
        wait_until(lambda: server.shm()["ignored"] > before, 10,
                   "the restarted client's ANNOUNCE reaches the server")
        check(client.stop() == 0, "the client stops cleanly")
        wait_until(lambda: server.shm()["ignored"] >= before + 2, 10,
                   "the client's BYE reaches the server")
        check(client.shm()["byes"] == 1 and client.shm()["tx_failed"] == 0,
              "the client counted its BYE, no failures")
        rc = server.stop()
        check(rc == 0, "the server stops cleanly (exit %s)" % rc)
        for b in (server, client):
            text = b.logs()
            check(not [m for m in cbtest.BAD_LOG_MARKERS if m in text], "%s log clean" % b.dir)
            if cbtest.checks["failed"]:
                print(text[-2000:])
    finally:
        for b in (server, client):
            if b.proc:
                b.proc.kill()
                b.proc.wait()
        if cbtest.checks["failed"] == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept " + work)
    cbtest.finish()


if __name__ == "__main__":
    main()
