#!/usr/bin/env python3
"""cachebox-fetch --discover against real boxes (storage and the dataplane's
socket backend, started by cachebox-control) and a real nginx origin, on
loopback, unprivileged:
- a box holding the object (prestaged) is found with a QUERY to
  --discover-target (IPv4, and IPv6 to ::1) and serves it in the content-ID form (a recording relay
  in front of the box sees /_cachebox/content/<id> and no cacheHostOrigin),
  every byte from the cache (BytesFromCacheServer = size, BytesFromHttp = 0),
  no origin request; --print-hosts lists it after the listed hosts, as
  "discovery";
- a box that does not hold the object (have 0) is asked in the
  connected-cache form and fills it from the origin;
- groups: a box with a group_id answers only the right --group-id (with or
  without braces, any case); a wrong or missing one gets no OFFER: the
  download falls to the origin, or with --no-origin fails with exit 4, and
  stderr says "discovery: no offers in N ms" (nothing with -q);
- keys: a box with a group_key_file answers the client that signs with the
  same key file, not one without it nor one with another key (the box counts
  unauthenticated and bad_mac);
- a scripted UDP box answering with a wrong txid, a wrong content ID, a
  truncated and an overlong datagram and an unusable address gets all five
  refused, by name;
- bad input is exit 2 naming what is wrong: --group-id, --group-key-file
  (missing, readable by others, malformed), --discover-target, --interface.
The broadcast to 255.255.255.255 between namespaces is test_discover_lan.py.
"""
import hashlib
import json
import os
import re
import socket
import socketserver
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (BAD_LOG_MARKERS, BUILD, Appliance, check, finish, free_port,  # noqa: E402
                    free_udp_port, make_file, read_discovery, sha256_file, wait_until)
from origins import Nginx, read_head, serve_threaded  # noqa: E402

FETCH = os.path.join(BUILD, "client", "cachebox-fetch")
PIECE = 64 * 1024
GROUP = "3f1a6c2e-8b4d-4c1e-9a0b-112233445566"
OTHER_GROUP = "3f1a6c2e-8b4d-4c1e-9a0b-112233445567"
NO_OFFERS = re.compile(rb"discovery: no offers in (\d+) ms")


def fetch(*args, timeout=60):
    r = subprocess.run([FETCH, *args], capture_output=True, timeout=timeout)
    bad = [m for m in BAD_LOG_MARKERS if m.encode() in r.stderr]
    if bad:
        check(False, "cachebox-fetch %s: %s in its stderr:\n%s" % (args, bad, r.stderr[-3000:]))
    summary = None
    if "--json" in args and r.stdout:
        try:
            summary = json.loads(r.stdout)
        except ValueError:
            pass
    return r, summary


class RecordingRelay:
    """A cache host in front of a real box: forwards each request on its own
    upstream connection and records its request line. target is set once the
    box's port is known."""

    def __init__(self):
        outer = self
        self.lines = []
        self.target = None
        self.lock = threading.Lock()

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    self.relay()
                except OSError:  # the client hung up
                    pass

            def relay(self):
                buf = b""
                for _ in range(10000):
                    head, buf = read_head(self.request, buf)
                    if head is None:
                        return
                    with outer.lock:
                        outer.lines.append(head.split(b"\r\n")[0].decode())
                    up = socket.create_connection(("127.0.0.1", outer.target), timeout=10)
                    up.sendall(head + b"\r\n\r\n")
                    rhead, rest = read_head(up, b"")
                    m = re.search(rb"(?i)content-length: *(\d+)", rhead)
                    n = int(m.group(1)) if m and not head.startswith(b"HEAD") else 0
                    for _ in range(1 << 16):
                        if len(rest) >= n:
                            break
                        chunk = up.recv(1 << 16)
                        if not chunk:
                            break
                        rest += chunk
                    up.close()
                    self.request.sendall(rhead + b"\r\n\r\n" + rest)

        self.server, self.port = serve_threaded(H)

    def take(self):
        with self.lock:
            out, self.lines = self.lines, []
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def offer_bytes(q, txid=None, cid=None, have=2, addr=b"\x7f\0\0\1", port=8003, size=0):
    """An OFFER for QUERY q, written by this test (a second codec, PROTOCOL.md's layout)."""
    psize, present = (PIECE, (size + PIECE - 1) // PIECE) if have else (0, 0)
    return (b"CBXD" + bytes([1, 2, 0, 0]) + (txid or q[8:16]) + q[16:32] + (cid or q[32:64]) +
            struct.pack(">BBHBB", have, 3, port, 0, 4) + addr + bytes(12) +
            struct.pack(">QII", size if have else 0, psize, present) + bytes(10))


class FakeBox:
    """A scripted discovery responder on a UDP port: to each QUERY it answers
    with an OFFER of another txid, one about another object, a truncated
    one, one with 1000 bytes too many and one whose address is 0.0.0.0 —
    all of which a client must refuse."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        for _ in range(100000):
            if self.done.is_set():
                return
            try:
                q, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            self.queries += 1
            bad_txid = bytes(b ^ 0xFF for b in q[8:16])
            for d in (offer_bytes(q, txid=bad_txid, size=100),
                      offer_bytes(q, cid=hashlib.sha256(b"other").digest(), size=100),
                      offer_bytes(q, size=100)[:100],
                      offer_bytes(q, size=100) + bytes(1000),
                      offer_bytes(q, addr=bytes(4), size=100)):
                self.sock.sendto(d, peer)

    def stop(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()


def write_keys(path, lines, mode=0o600):
    with open(path, "w") as f:
        f.write("# discovery keys\n" + "".join("%d %s\n" % (i, k.hex()) for i, k in lines))
    os.chmod(path, mode)


def start_box(work, nginx, name, *disc):
    """A box whose origin "localhost" is nginx, its dataplane on a UDP port of its own."""
    udp = free_udp_port()
    app = Appliance(origins=(), discovery=("enabled = true", "port = %d" % udp,
                                           "address = 127.0.0.1/8") + disc)
    app.add_origin("localhost", "http://127.0.0.1:%d" % nginx.port)
    app.udp = udp
    app.target = "127.0.0.1:%d" % udp
    app.start()
    wait_until(lambda: (read_discovery(app.state) or {}).get("state") == "running", 10,
               "%s: the dataplane runs" % name)
    return app


def plain_box(work, nginx, sizes, url, out, exact):
    """No group, no key; advertised at a recording relay in front of the box."""
    relay = RecordingRelay()
    app = start_box(work, nginx, "plain", "advertise = 127.0.0.1:%d" % relay.port,
                    "rate_per_source = 1000")
    relay.target = app.port
    try:
        r = app.ctl("prestage", "http://localhost/whole.bin", check_rc=False)
        check(r.returncode == 0 and "complete and verified" in r.stdout,
              "prestage whole.bin: %s %s" % (r.stdout, r.stderr))
        cid = hashlib.sha256(b"localhost/whole.bin").hexdigest()
        relay_host = "http://127.0.0.1:%d" % relay.port
        dead = "127.0.0.1:%d" % free_port()

        r, _ = fetch("--print-hosts", "--cache-host", dead, "--discover", "--discover-target",
                     app.target, url("whole.bin"))
        lines = r.stdout.decode().splitlines()
        check(r.returncode == 0 and lines == ["1 http://%s listed" % dead,
                                              "2 %s discovery" % relay_host],
              "--print-hosts: the listed host, then the discovered box: %r" % lines)

        r, _ = fetch("--print-hosts", "--discover-target", "[::1]:%d" % app.udp,
                     url("whole.bin"))
        check(r.returncode == 0 and r.stdout.decode().splitlines() == [
            "1 %s discovery" % relay_host], "an IPv6 QUERY to ::1 finds the box: %r" % r.stdout)

        # The warm object: all from the box, in the content-ID form.
        origin_before = nginx.count("whole.bin")
        relay.take()
        dst = os.path.join(out, "whole")
        r, s = fetch("--discover", "--discover-target", app.target, "--json", "-o", dst,
                     url("whole.bin"))
        seen = relay.take()
        check(r.returncode == 0 and exact(dst, "whole.bin"), "discovered box: exact file (%d %s)"
              % (r.returncode, r.stderr[-300:]))
        check(s and s["BytesFromCacheServer"] == sizes["whole.bin"] and s["BytesFromHttp"] == 0
              and s["CacheHost"] == relay_host and s["Hosts"][0]["Source"] == "discovery",
              "every byte from the discovered box: %s" % (s and {k: s[k] for k in (
                  "BytesFromCacheServer", "BytesFromHttp", "CacheHost")}))
        check(seen and all(ln.split()[1] in ("/_cachebox/content/" + cid,
                                              "/_cachebox/pieces/" + cid) for ln in seen)
              and any(ln.startswith("GET /_cachebox/content/" + cid) for ln in seen),
              "the content-ID form only: %r" % seen[:4])
        check(nginx.count("whole.bin") == origin_before, "no origin request for a warm object")
        d = read_discovery(app.state)
        check(d and d["offers"] >= 2, "the box counted its OFFERs: %s" % (d and d["offers"]))

        # An object the box does not hold: have 0, the connected-cache form, filled.
        dst = os.path.join(out, "cold")
        r, s = fetch("--discover", "--discover-target", app.target, "--json", "-o", dst,
                     url("cold.bin"))
        seen = relay.take()
        check(r.returncode == 0 and exact(dst, "cold.bin") and
              s["BytesFromCacheServer"] == sizes["cold.bin"] and s["BytesFromHttp"] == 0,
              "have 0: exact, through the box (%d)" % r.returncode)
        check(seen and all("cacheHostOrigin=localhost" in ln or "/_cachebox/pieces/" in ln
                           for ln in seen), "have 0: the connected-cache form: %r" % seen[:3])

        # A group the box is not in: no OFFER; the origin, or exit 4 with --no-origin.
        dst = os.path.join(out, "nogroup")
        r, s = fetch("--discover", "--discover-target", app.target, "--group-id", GROUP,
                     "--json", "-o", dst, url("whole.bin"))
        m = NO_OFFERS.search(r.stderr)
        check(r.returncode == 0 and exact(dst, "whole.bin") and s["BytesFromHttp"] ==
              sizes["whole.bin"] and m and m.group(1) == b"300",
              "a group the box is not in: no offers in 300 ms, then the origin: %r" % r.stderr)
        r, _ = fetch("--discover", "--discover-target", app.target, "--group-id", GROUP, "-q",
                     "--discover-wait", "150", "-o", dst + "q", url("whole.bin"))
        check(r.returncode == 0 and r.stderr == b"", "-q: no discovery line (%r)" % r.stderr)
    finally:
        app.cleanup()
        relay.stop()


def group_box(work, nginx, sizes, url, out, exact):
    app = start_box(work, nginx, "group", "group_id = {%s}" % GROUP.upper())
    try:
        app.ctl("prestage", "http://localhost/whole.bin")
        box = "http://127.0.0.1:%d" % app.port
        for gid in (GROUP, "{%s}" % GROUP.upper()):
            dst = os.path.join(out, "g")
            r, s = fetch("--discover", "--discover-target", app.target, "--group-id", gid,
                         "--no-origin", "--json", "-o", dst, url("whole.bin"))
            check(r.returncode == 0 and exact(dst, "whole.bin") and s["CacheHost"] == box and
                  s["BytesFromCacheServer"] == sizes["whole.bin"],
                  "the right --group-id %s: from the box" % gid)
        before = read_discovery(app.state)["drops"]["wrong_group"]
        for args in (["--group-id", OTHER_GROUP], []):
            dst = os.path.join(out, "g-wrong")
            r, s = fetch("--discover", "--discover-target", app.target, "--no-origin",
                         "--json", "-o", dst, *args, url("whole.bin"))
            check(r.returncode == 4 and not os.path.exists(dst) and NO_OFFERS.search(r.stderr)
                  and s and s["ExitCode"] == 4,
                  "group %s: no offers, --no-origin: exit 4 (%d %r)" % (
                      args[1:] or "none", r.returncode, r.stderr[-200:]))
        check(read_discovery(app.state)["drops"]["wrong_group"] - before == 2,
              "the box counted both as wrong_group")
    finally:
        app.cleanup()


def keyed_box(work, nginx, sizes, url, out, exact):
    keys = os.path.join(work.dir, "box.keys")
    k1 = os.urandom(32)
    write_keys(keys, [(3, k1)])
    app = start_box(work, nginx, "keyed", "group_key_file = %s" % keys,
                    "group_id = %s" % GROUP)
    try:
        app.ctl("prestage", "http://localhost/whole.bin")
        box = "http://127.0.0.1:%d" % app.port
        mine = os.path.join(work.dir, "client.keys")
        write_keys(mine, [(3, k1), (4, os.urandom(32))])  # the first key signs
        dst = os.path.join(out, "k")
        r, s = fetch("--discover", "--discover-target", app.target, "--group-id", GROUP,
                     "--group-key-file", mine, "--no-origin", "--json", "-o", dst,
                     url("whole.bin"))
        check(r.returncode == 0 and exact(dst, "whole.bin") and s["CacheHost"] == box and
              s["BytesFromCacheServer"] == sizes["whole.bin"],
              "signed with the group key: from the box (%d %r)" % (r.returncode, r.stderr[-200:]))
        before = read_discovery(app.state)["drops"]
        wrong = os.path.join(work.dir, "wrong.keys")
        write_keys(wrong, [(3, os.urandom(32))])
        for what, args in (("no key file", []), ("another key", ["--group-key-file", wrong])):
            r, _ = fetch("--discover", "--discover-target", app.target, "--group-id", GROUP,
                         "--no-origin", "-o", os.path.join(out, "k-no"), *args,
                         url("whole.bin"))
            check(r.returncode == 4 and NO_OFFERS.search(r.stderr),
                  "%s: no offers, exit 4 (%d)" % (what, r.returncode))
        after = read_discovery(app.state)["drops"]
        check(after["unauthenticated"] - before["unauthenticated"] == 1 and
              after["bad_mac"] - before["bad_mac"] == 1,
              "the box counted one unauthenticated and one bad_mac QUERY")
    finally:
        app.cleanup()


def refusals(work, url):
    fake = FakeBox()
    try:
        r, _ = fetch("--print-hosts", "--discover", "--discover-target",
                     "127.0.0.1:%d" % fake.port, url("whole.bin"))
        check(r.returncode == 0 and r.stdout == b"no cache host: the origin only\n" and
              fake.queries == 1, "a scripted box's bad OFFERs: no host (%r)" % r.stdout)
        m = re.search(rb"no offers in 300 ms from 127\.0\.0\.1:%d \(refused: (.*)\)" %
                      fake.port, r.stderr)
        check(m and sorted(m.group(1).split(b", ")) == sorted([
            b"2 invalid", b"1 wrong_txid", b"1 wrong_content", b"1 no_address"]),
            "each refusal named: %r" % r.stderr)
    finally:
        fake.stop()

    # Bad input: exit 2, naming what is wrong.
    keys = os.path.join(work.dir, "open.keys")
    write_keys(keys, [(1, bytes(32))], mode=0o644)
    bad = os.path.join(work.dir, "bad.keys")
    write_keys(bad, [])
    with open(bad, "a") as f:
        f.write("1 abc\n")
    cases = (
        (["--group-id", "not-a-guid"], b"not a GUID"),
        (["--group-id", GROUP[:-1]], b"not a GUID"),
        (["--group-key-file", os.path.join(work.dir, "none.keys")], b"none.keys"),
        (["--group-key-file", keys], b"open.keys"),
        (["--group-key-file", bad], b"bad.keys:"),
        (["--discover-target", "box.example"], b"--discover-target"),
        (["--discover-target", "127.0.0.1:0"], b"--discover-target"),
        (["--interface", "cbnone%d" % os.getpid()], b"no such interface"),
    )
    for args, says in cases:
        r, _ = fetch("--discover", "--print-hosts", *args, url("whole.bin"))
        check(r.returncode == 2 and says in r.stderr and b"\n" == r.stderr[-1:] and
              len(r.stderr.splitlines()) == 1, "%s: exit 2 saying %r: %r" % (args, says,
                                                                              r.stderr))
    r, _ = fetch("--group-id", GROUP, url("whole.bin"))
    check(r.returncode == 2 and b"--discover" in r.stderr, "--group-id without --discover: 2")


def main():
    work = Appliance(origins=())  # for its temporary directory
    www = os.path.join(work.dir, "www")
    os.makedirs(www)
    nginx = Nginx(www, work.dir)
    sizes = {"whole.bin": 3 * 1024 * 1024 + 17, "cold.bin": 5 * PIECE + 3}
    for name, size in sizes.items():
        make_file(os.path.join(www, name), size, seed=size)
    out = os.path.join(work.dir, "out")
    os.makedirs(out)

    def url(name):
        return "http://localhost:%d/%s" % (nginx.port, name)

    def exact(path, name):
        return os.path.exists(path) and sha256_file(path) == sha256_file(os.path.join(www, name))

    try:
        plain_box(work, nginx, sizes, url, out, exact)
        group_box(work, nginx, sizes, url, out, exact)
        keyed_box(work, nginx, sizes, url, out, exact)
        refusals(work, url)
        check(not os.path.exists(os.path.join(out, "k-no")), "no file left by a failed download")
    finally:
        nginx.stop()
        work.cleanup()
    finish()


if __name__ == "__main__":
    main()
