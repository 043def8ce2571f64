#!/usr/bin/env python3
"""The socket backend of cachebox-dataplane, which every build has: QUERYs
over loopback for an imported object, nothing at all and an unknown one get
OFFERs from the shared index; a truncated, a wrongly signed and a
wrong-group QUERY get silence, each counted under its reason in
discovery.shm; SIGHUP is counted as a reload and SIGTERM stops it cleanly.
In a build without DPDK, backend = dpdk must fail in one clear line. This
is the discovery scenario `make test-nodpdk` runs.
"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "dataplane"))
import cachebox_ask as ask  # noqa: E402
import cbtest  # noqa: E402
from cbtest import check, wait_until  # noqa: E402

DATAPLANE = os.path.join(cbtest.BUILD, "dataplane", "cachebox-dataplane")
GROUP = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
SIZE = 200 * 1024 + 7  # four 64 KiB pieces


def main():
    app = cbtest.Appliance()
    proc = None
    try:
        app.start()
        obj = os.path.join(app.dir, "obj.bin")
        cbtest.make_file(obj, SIZE, cbtest.seed_of("dataplane_socket"))
        app.import_file(obj, "http://dl.example.com/socket.bin")
        cid = bytes.fromhex(cbtest.content_id("dl.example.com/socket.bin"))
        port = cbtest.free_port()
        with open(app.conf) as f:
            base = f.read() + "\n[discovery]\nport = %d\nadvertise = 127.0.0.1\n" \
                "allowed_sources = 127.0.0.1/32\ngroup_id = %s\n" % (port, GROUP)
        conf = os.path.join(app.dir, "dp.conf")
        with open(conf, "w") as f:
            f.write(base + "backend = socket\n")
        log_path = os.path.join(app.dir, "dataplane.log")
        log = open(log_path, "ab")
        before = cbtest.discovery_shm(app.state) or {}
        proc = subprocess.Popen([DATAPLANE, "--config", conf], stdout=log,
                                stderr=subprocess.STDOUT)
        up = wait_until(lambda: (d := cbtest.discovery_shm(app.state)) and
                        d["state"] == "running" and d["pid"] == proc.pid and d, 10,
                        "the socket dataplane is running")
        check(up and up["backend"] == "socket" and "0.0.0.0:%d" % port in up["listen"] and
              up["advertise"] == "127.0.0.1:%d" % app.port,
              "status: backend, listen, advertise: %s" % up)
        g = ask.guid_bytes(GROUP)
        asks = [("complete object", ask.query(cid, g), (2, SIZE, 4)),
                ("pieces 2..", ask.query(cid, g, first=2), (2, SIZE, 2)),
                ("is there a box", ask.query(bytes(32), g), (0, 0, 0)),
                ("unknown object", ask.query(os.urandom(32), g), (0, 0, 0))]
        for name, q, (have, size, present) in asks:
            got = ask.ask("127.0.0.1", port, q, wait=1.0)
            o = ask.parse(got[0][0]) if len(got) == 1 else None
            check(o and o["type"] == "OFFER" and o["txid"] == q[8:16].hex(),
                  "%s: one OFFER with the QUERY's txid" % name)
            check(o and len(got[0][0]) == len(q), "%s: reply as long as the QUERY" % name)
            check(o and (o["have"], o["object_size"], o["pieces_present"]) ==
                  (have, size, present) and o["group_id"] == g.hex(),
                  "%s: have/size/pieces %s" % (name, o))
            check(o and o["address"] == "127.0.0.1" and o["port"] == app.port and
                  o["family"] == 4, "%s: advertises 127.0.0.1:%d" % (name, app.port))
        silent = [("truncated", ask.query(cid, g)[:100], "invalid"),
                  ("signed, but no key file", ask.query(cid, g, key=bytes(32), key_id=1),
                   "unauthenticated"),
                  ("wrong group", ask.query(cid), "wrong_group")]
        for name, q, _ in silent:
            check(ask.ask("127.0.0.1", port, q, wait=0.5) == [], "%s: silence" % name)
        proc.send_signal(signal.SIGHUP)
        now = wait_until(lambda: (d := cbtest.discovery_shm(app.state)) and
                         d["reloads"] > before.get("reloads", 0) and d, 5,
                         "SIGHUP counted as a reload")
        if now:
            # its own ANNOUNCE comes back on hosts with a broadcast interface: ignored
            now["rx"] -= now["ignored"] - before.get("ignored", 0)
            want = {"rx": 7, "queries": 6, "offers": 4, "invalid": 1, "unauthenticated": 1,
                    "wrong_group": 1, "bad_source": 0, "not_ours": 0, "tx_failed": 0}
            for k, v in want.items():
                check(now[k] - before.get(k, 0) == v, "counter %s = %d (want %d)" %
                      (k, now[k] - before.get(k, 0), v))
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(10) == 0, "exit 0 after SIGTERM")
        proc = None
        d = cbtest.discovery_shm(app.state)
        check(d and d["state"] == "stopped", "state stopped after a clean stop")

        if not os.path.exists(os.path.join(cbtest.BUILD, "dataplane", "libdp_dpdk.a")):
            with open(conf, "w") as f:
                f.write(base + "backend = dpdk\naddress = 192.0.2.10/24\n")
            r = subprocess.run([DATAPLANE, "--config", conf], capture_output=True, text=True,
                               timeout=30)
            lines = [ln for ln in r.stderr.splitlines() if " error: " in ln]
            check(r.returncode == 1 and len(lines) == 1 and "this build has no DPDK" in lines[0],
                  "backend = dpdk without DPDK: exit 1, one line (%d, %r)" % (r.returncode,
                                                                             lines))
        else:
            print("note: a DPDK build: test_dpdk_pcap.py covers backend = dpdk")
        log.close()
        text = open(log_path).read()
        check(not [m for m in cbtest.BAD_LOG_MARKERS if m in text], "dataplane log clean")
    finally:
        if proc:
            proc.kill()
            proc.wait()
        app.cleanup()
    cbtest.finish()


if __name__ == "__main__":
    main()
