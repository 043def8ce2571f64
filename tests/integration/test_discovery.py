#!/usr/bin/env python3
"""Discovery over the kernel socket backend, unprivileged, on loopback:
cachebox-dataplane started by hand next to a running appliance (real index,
a complete object imported, a partial one left by an origin that fails
after two pieces), asked with cachebox_ask.py, a second codec. OFFERs must match
the index for a complete, a partial and an unknown object, over IPv4 and
IPv6; every rule of PROTOCOL.md gets silence and its counter; with a group
key file, signed QUERYs are answered with signed OFFERs and SIGHUP rotates
the keys; start-up errors say why in one line."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (DATAPLANE, Appliance, cachebox_ask as ask, check, content_id,  # noqa: E402
                    finish, make_file, read_discovery, wait_until)
from origins import BadOrigin  # noqa: E402

PIECE = 64 * 1024
GROUP = "3f1a6c2e-8b4d-4c1e-9a0b-112233445566"
K1 = bytes(range(32))
K2 = bytes(range(100, 132))


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Dataplane:
    """cachebox-dataplane alone on app's state dir, with its own [discovery] section."""

    def __init__(self, app, lines):
        self.app, self.port = app, free_udp_port()
        with open(app.conf) as f:
            base = f.read().replace("[discovery]\nenabled = false\n", "")
        self.conf = os.path.join(app.dir, "dataplane.conf")
        with open(self.conf, "w") as f:
            f.write(base + "\n[discovery]\nenabled = true\nport = %d\naddress = 127.0.0.1/8\n"
                    % self.port + "".join(ln + "\n" for ln in lines))
        self.log_path = os.path.join(app.dir, "dataplane-%d.log" % self.port)
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([DATAPLANE, "--config", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_until(lambda: (read_discovery(self.app.state) or {}).get("state") == "running"
                   and read_discovery(self.app.state)["pid"] == self.proc.pid, 5,
                   "the dataplane is running")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(5)
            check(rc == 0, "the dataplane stops cleanly on SIGTERM (exit %s)" % rc)
        self.log.close()

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def one(self, msg, host="127.0.0.1", family=socket.AF_INET):
        """The OFFER answering msg (parsed), or None for silence."""
        got = ask.ask(host, self.port, msg, wait=0.3, family=family)
        check(len(got) <= 1, "one answer per QUERY (%d)" % len(got))
        if not got:
            return None
        data, peer = got[0]
        check(len(data) == len(msg), "the reply (%d) is as long as the request (%d)" % (
            len(data), len(msg)))
        o = ask.parse(data)
        check(o is not None and o["type"] == "OFFER" and o["txid"] == msg[8:16].hex(),
              "a well-formed OFFER for our txid: %r" % (o,))
        o["raw"] = data
        return o


def objects(app):
    """A complete object (imported, 5 pieces) and a partial one: the first two of its 10
    pieces, because its origin fails every piece after those (BadOrigin "500")."""
    full = os.path.join(app.dir, "full.bin")
    make_file(full, 5 * PIECE - 10, seed=1)
    app.import_file(full, "http://origin.test/full.bin")
    st, _, body = app.request("GET", "/500/part.bin?cacheHostOrigin=bad.test",
                              {"Range": "bytes=0-%d" % (2 * PIECE - 1)})
    check(st == 206 and len(body) == 2 * PIECE, "partial: the first two pieces filled")
    wait_until(lambda: [o for o in app.ctl_json("list") if o["key"] == "bad.test/500/part.bin"],
               5, "the partial object is listed")
    return (bytes.fromhex(content_id("origin.test/full.bin")),
            bytes.fromhex(content_id("bad.test/500/part.bin")))


def answers(dp, cid_full, cid_part, app):
    g = ask.guid_bytes(GROUP)
    o = dp.one(ask.query(group=g))
    check(o and o["have"] == 0 and o["free_slots"] == 3 and o["port"] == app.port
          and o["family"] == 4 and o["address"] == "127.0.0.1" and o["tls"] == 0,
          "is there a box: have 0, 3 free slots, the file server's address: %r" % (o,))
    o = dp.one(ask.query(cid_full, g))
    check(o and (o["have"], o["object_size"], o["piece_size"], o["pieces_present"]) ==
          (2, 5 * PIECE - 10, PIECE, 5), "complete object: have 2, 5 pieces: %r" % (o,))
    o = dp.one(ask.query(cid_full, g, first=3, count=4))
    check(o and o["have"] == 2 and o["pieces_present"] == 2, "pieces 3..4 of 5: %r" % (o,))
    o = dp.one(ask.query(cid_part, g))
    check(o and (o["have"], o["object_size"], o["pieces_present"]) == (1, 10 * PIECE, 2),
          "partial object: have 1, 2 pieces present: %r" % (o,))
    o = dp.one(ask.query(bytes(range(32)), g))
    check(o and o["have"] == 0 and o["object_size"] == 0, "unknown object: have 0: %r" % (o,))
    o = dp.one(ask.query(cid_full, g), host="::1", family=socket.AF_INET6)
    check(o and o["have"] == 2 and o["address"] == "127.0.0.1", "IPv6 unicast QUERY answered")


def silences(dp, cid_full):
    """Each bad datagram gets silence and bumps its reason."""
    g = ask.guid_bytes(GROUP)
    good = ask.query(cid_full, g)
    before = read_discovery(dp.app.state)
    cases = {
        "invalid": [good[:100], good + b"\0", b"CBXE" + good[4:], good[:5] + b"\x02" + good[6:],
                    good[:80] + b"\1" + good[81:], bytes(112)],
        "wrong_group": [ask.query(cid_full)],
        "unauthenticated": [ask.query(cid_full, g, key=K1, key_id=1)],
    }
    for why, msgs in cases.items():
        for m in msgs:
            check(dp.one(m) is None, "%s: silence for %r..." % (why, m[:8]))
    after = read_discovery(dp.app.state)
    for why, msgs in cases.items():
        check(after["drops"][why] - before["drops"][why] == len(msgs),
              "%s counted %d times" % (why, after["drops"][why] - before["drops"][why]))
    # Another box's OFFER is never answered.
    o = dp.one(good)
    check(dp.one(o["raw"]) is None, "an OFFER gets no answer")
    check(read_discovery(dp.app.state)["ignored"] - after["ignored"] == 1, "counted as ignored")


def rate_limit(dp):
    """rate_per_source = 20 (burst 40): 200 QUERYs as fast as possible get at most the burst
    plus what the rate refills meanwhile."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    g = ask.guid_bytes(GROUP)
    t0 = time.monotonic()
    for _ in range(200):
        s.sendto(ask.query(group=g), ("127.0.0.1", dp.port))
    elapsed = time.monotonic() - t0
    got = 0
    try:
        for _ in range(200):
            s.recvfrom(256)
            got += 1
    except socket.timeout:
        pass
    s.close()
    bound = 40 + 20 * (elapsed + 0.5)
    check(40 <= got <= bound, "rate limit: %d answers of 200 in %.2f s (bound %.0f)" % (
        got, elapsed, bound))
    check(read_discovery(dp.app.state)["drops"]["rate_limited"] >= 200 - got,
          "rate-limited QUERYs counted")


def off_link(app):
    dp = Dataplane(app, ["group_id = " + GROUP, "allowed_sources = 10.0.0.0/8"]).start()
    try:
        before = read_discovery(app.state)["drops"]["bad_source"]
        check(dp.one(ask.query(group=ask.guid_bytes(GROUP))) is None,
              "a source outside allowed_sources gets silence")
        check(read_discovery(app.state)["drops"]["bad_source"] == before + 1,
              "counted as bad_source")
    finally:
        dp.stop()


def write_keys(path, lines):
    with open(path, "w") as f:
        f.write("# test keys\n" + "".join("%d %s\n" % (i, k.hex()) for i, k in lines))
    os.chmod(path, 0o600)


def authenticated(app, cid_full):
    keys = os.path.join(app.dir, "group.keys")
    write_keys(keys, [(1, K1)])
    dp = Dataplane(app, ["group_key_file = " + keys, "auth_window = 30s"]).start()
    try:
        q = ask.query(cid_full, key=K1, key_id=1)
        o = dp.one(q)
        check(o and o["have"] == 2 and o["key_id"] == 1 and ask.verify(o["raw"], K1)
              and abs(o["timestamp"] - time.time()) < 5 and o["nonce"] != q[124:144].hex(),
              "a signed QUERY gets a signed OFFER with the box's time and a fresh nonce")
        before = read_discovery(app.state)["drops"]
        check(dp.one(q) is None, "the same datagram again: silence")
        check(dp.one(ask.query(cid_full)) is None, "unsigned: silence")
        check(dp.one(ask.query(cid_full, key=K1, key_id=1, ts=int(time.time()) - 60)) is None,
              "a minute old: silence")
        bad = bytearray(ask.query(cid_full, key=K1, key_id=1))
        bad[-1] ^= 1
        check(dp.one(bytes(bad)) is None, "a flipped MAC bit: silence")
        check(dp.one(ask.query(cid_full, key=K2, key_id=1)) is None, "the wrong key: silence")
        after = read_discovery(app.state)["drops"]
        for why, n in (("replay", 1), ("unauthenticated", 1), ("stale", 1), ("bad_mac", 2)):
            check(after[why] - before[why] == n, "%s counted %d (want %d)" % (
                why, after[why] - before[why], n))
        # Rotation: key 2 replaces key 1; SIGHUP re-reads the file without a restart.
        write_keys(keys, [(2, K2)])
        dp.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload: 1 group keys" in dp.logs(), 5, "the reload is logged")
        o = dp.one(ask.query(cid_full, key=K2, key_id=2))
        check(o and ask.verify(o["raw"], K2), "after reload the new key is answered")
        check(dp.one(ask.query(cid_full, key=K1, key_id=1)) is None, "and the old one is not")
        os.chmod(keys, 0o644)
        dp.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "old keys stay in force" in dp.logs(), 5, "a bad reload is logged")
        check(dp.one(ask.query(cid_full, key=K2, key_id=2)) is not None,
              "a refused key file leaves the old keys in force")
        check(dp.proc.pid == read_discovery(app.state)["pid"], "no restart for a reload")
    finally:
        dp.stop()


def start_errors(app):
    keys = os.path.join(app.dir, "group.keys")
    write_keys(keys, [(1, K1)])
    os.chmod(keys, 0o640)
    dp = Dataplane(app, ["group_key_file = " + keys])
    r = subprocess.run([DATAPLANE, "--config", dp.conf], capture_output=True, text=True,
                       timeout=10)
    check(r.returncode == 1 and "chmod 600" in r.stderr and len(r.stderr.splitlines()) == 1,
          "a key file the group can read: exit 1, one line that says why: %r" % r.stderr)
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("0.0.0.0", dp.port))
    os.chmod(keys, 0o600)
    r = subprocess.run([DATAPLANE, "--config", dp.conf], capture_output=True, text=True,
                       timeout=10)
    holder.close()
    check(r.returncode == 1 and "in use" in r.stderr and str(dp.port) in r.stderr,
          "the port taken: exit 1 and says so: %r" % r.stderr)
    r = subprocess.run([DATAPLANE, "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "--config" in r.stdout, "--help helps")


def main():
    app = Appliance(origins=("origin.test",))
    bad = BadOrigin(10 * PIECE, PIECE, timeout_s=1.0)
    app.add_origin("bad.test", "http://127.0.0.1:%d" % bad.port, "timeout = 1s")
    try:
        app.start()
        cid_full, cid_part = objects(app)
        dp = Dataplane(app, ["group_id = {%s}" % GROUP.upper(), "rate_per_source = 20"]).start()
        try:
            d = read_discovery(app.state)
            check(d["backend"] == "socket" and str(dp.port) in d["listen"]
                  and d["advertise"] == "127.0.0.1:%d" % app.port,
                  "discovery.shm says what runs: %r" % d)
            answers(dp, cid_full, cid_part, app)
            silences(dp, cid_full)
            time.sleep(2.1)  # a full bucket again
            rate_limit(dp)
            d = read_discovery(app.state)
            check(d["rx"] == d["offers"] + d["ignored"] + sum(d["drops"].values())
                  and d["queries"] == d["rx"] - d["drops"]["invalid"] - d["ignored"]
                  and d["announces"] == 0 and d["tx_failed"] == 0,
                  "every datagram counted once, no ANNOUNCE on loopback: %r" % d)
        finally:
            dp.stop()
        check(read_discovery(app.state)["state"] == "stopped", "stopped after SIGTERM")
        off_link(app)
        authenticated(app, cid_full)
        start_errors(app)
    finally:
        app.cleanup()
        bad.stop()
    finish()


if __name__ == "__main__":
    main()
