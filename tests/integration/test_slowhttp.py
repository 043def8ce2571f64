#!/usr/bin/env python3
"""Real slow-HTTP attacks (Debian's slowhttptest) against the box's port.

Four attacks, each with ATTACK_CONNS connections from 127.0.0.1 for about
ATTACK_S seconds, against a box with short timeouts (header_timeout 2 s,
idle_timeout 3 s; the server's timeouts are the [server] keys of DESIGN.md,
enforced by the worker's sweep in storage/st_srv_loop.c):

- slowloris (-H): heads that never end: each connection is closed within
  header_timeout (which runs from a head's first byte and is not renewed
  by more of it);
- slow body (-B): a POST whose body trickles: closed within header_timeout
  (it covers the body too), or answered and closed at once;
- slow read (-X): a big cached object read a few bytes at a time through a
  tiny window: closed within idle_timeout of the send that stalled;
- range (-R): a HEAD with a huge, overlapping range set: answered at once
  (the range set is capped), the connection closed by idle_timeout at the
  latest.

While each attack runs, a legitimate client on another address (127.0.0.9)
asks for a small cached object once a second; every probe must get 200
with the exact bytes, or 503 with Retry-After (the slot limit). Every
attacking connection's lifetime, seen by polling `ss -tn` on the server's
side, stays below its timeout plus a second of slack, and slowhttptest's
CSV (-g) shows its connections closed before the test ended. Skips (77)
without slowhttptest or ss."""
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, finish, make_file, read_file, wait_until  # noqa: E402

ATTACK_CONNS = 150
ATTACK_S = 9
HEADER_TIMEOUT = 2.0
IDLE_TIMEOUT = 3.0
SLACK = 1.5  # the sweep runs every 200 ms; ss is polled every 100 ms; a shared machine
PROBE_HOST = "127.0.0.9"
PROBE_TIMEOUT = 3.0
BIG = 8 * 1024 * 1024
SMALL = 16 * 1024


def probe(app, want):
    """One legitimate request from PROBE_HOST on its own connection: (ok, what)."""
    import socket
    from cbtest import parse_responses, recv_all
    t0 = time.monotonic()
    try:
        s = socket.socket()
        s.bind((PROBE_HOST, 0))
        s.settimeout(PROBE_TIMEOUT)
        s.connect(("127.0.0.1", app.port))
        s.sendall(b"GET /small.bin?cacheHostOrigin=dl.example.com HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        data = recv_all(s, PROBE_TIMEOUT)
        s.close()
    except OSError as e:
        return False, "no answer (%s)" % e
    dt = time.monotonic() - t0
    got = parse_responses(data)
    if not got:
        return False, "no response in %.2f s (%d bytes)" % (dt, len(data))
    st, hdrs, body = got[0]
    if st == 200 and hashlib.sha256(body).hexdigest() == want:
        return True, "200 exact in %.2f s" % dt
    if st == 503 and hdrs.get("retry-after", "").isdigit():
        return True, "503 Retry-After %s" % hdrs["retry-after"]
    return False, "status %d, %d bytes, headers %s" % (st, len(body), hdrs)


def established(port):
    """The established TCP connections of port, as two sets of the attacker's
    (address, port, socket inode): the server's side (sport) and the
    client's (dport). The inode tells apart connections of slowhttptest's
    reruns that reuse an ephemeral port."""
    r = subprocess.run(["ss", "-tneH", "state", "established",
                        "( sport = :%d or dport = :%d )" % (port, port)],
                       capture_output=True, text=True, timeout=10)
    server, client = set(), set()
    for ln in r.stdout.splitlines():
        cols = ln.split()
        if len(cols) < 4:
            continue
        local, peer = cols[2].rpartition(":"), cols[3].rpartition(":")
        ino = next((f[4:] for f in cols[4:] if f.startswith("ino:")), "")
        if local[2] == str(port):
            server.add((peer[0], int(peer[2]), ino))
        elif peer[2] == str(port):
            client.add((local[0], int(local[2]), ino))
    drop = {c for c in server | client if c[0] == PROBE_HOST}
    return server - drop, client - drop


class Watch(threading.Thread):
    """Polls ss every 100 ms: first and last sighting of each attacking
    connection, on the server's side and on the client's (a close the
    client has not seen, a FIN stuck behind unsent bytes, shows there)."""

    def __init__(self, port):
        super().__init__()
        self.port, self.stop_ev, self.peak = port, threading.Event(), 0
        self.seen = ({}, {})

    def run(self):
        for _ in range(10 * 120):
            if self.stop_ev.is_set():
                break
            now = time.monotonic()
            sides = established(self.port)
            self.peak = max(self.peak, len(sides[0]))
            for seen, conns in zip(self.seen, sides):
                for c in conns:
                    first, _ = seen.get(c, (now, now))
                    seen[c] = (first, now)
            time.sleep(0.1)

    def lifetimes(self, side):
        return [last - first for first, last in self.seen[side].values()]


def csv_rows(path):
    """slowhttptest's -g CSV: [{Seconds, Closed, Pending, Connected, Service Available}]."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


class Attacker(threading.Thread):
    """Runs slowhttptest again and again (each run ATTACK_CONNS connections)
    until ATTACK_S seconds have passed: slowhttptest ends a run by itself
    once the server has closed all its connections. Keeps each run's exit
    line and CSV."""

    def __init__(self, app, name, args):
        super().__init__()
        self.app, self.name, self.args, self.runs = app, name, args, []

    def run(self):
        t0 = time.monotonic()
        for i in range(20):
            left = ATTACK_S - (time.monotonic() - t0)
            if left < 1:
                break
            prefix = os.path.join(self.app.dir, "slow-%s-%d" % (self.name, i))
            cmd = ["slowhttptest", "-c", str(ATTACK_CONNS), "-r", "300", "-l",
                   str(max(2, int(left + 0.5))), "-p", "2", "-g", "-o", prefix] + self.args
            r0 = time.monotonic()
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=ATTACK_S + 20,
                                   cwd=self.app.dir)
                out = r.stdout + r.stderr
            except subprocess.TimeoutExpired:
                out = "timed out"
            exit_line = [ln for ln in out.splitlines() if "Exit status" in ln or "exit" in ln]
            self.runs.append({"took": time.monotonic() - r0, "limit": int(left + 0.5),
                              "exit": " ".join(exit_line)[-200:] or out[-300:],
                              "csv": csv_rows(prefix + ".csv")})


def attack(app, want, name, args, limit, closed_by_server=True, exits_early=True):
    watch = Watch(app.port)
    watch.start()
    att = Attacker(app, name, args)
    att.start()
    probes = []
    t0 = time.monotonic()
    for i in range(ATTACK_S + 30):
        if not att.is_alive() or time.monotonic() - t0 > ATTACK_S + 20:
            break
        probes.append(probe(app, want))
        time.sleep(max(0.0, t0 + i + 1 - time.monotonic()))
    att.join(60)
    check(not att.is_alive(), "%s: the attack ended" % name)
    took = time.monotonic() - t0
    watch.stop_ev.set()
    watch.join()
    bad = [w for ok, w in probes if not ok]
    check(len(probes) >= int(took) - 1 and not bad,
          "%s: every one of %d probes, a second apart over %.1f s, got 200 exact or 503 + "
          "Retry-After: %s" % (name, len(probes), took, bad[:5]))
    print("%s: %d runs of slowhttptest in %.1f s; probes %s" % (
        name, len(att.runs), took, sorted(set(w.split(" in ")[0] for _, w in probes))))
    for side, what in ((0, "server's"), (1, "client's")):
        life = watch.lifetimes(side)
        if closed_by_server:  # else answered at once: too short-lived for ss to see
            check(len(life) >= 100, "%s: at least 100 attacking connections were seen on the "
                  "%s side: %d (peak %d)" % (name, what, len(life), watch.peak))
        longest = max(life) if life else 0
        check(longest <= limit + SLACK,
              "%s: on the %s side every attacking connection was closed within %.1f s "
              "(+%.1f s): the longest lived %.1f s" % (name, what, limit, SLACK, longest))
        print("%s: %s side: %d connections, peak %d at once, longest %.1f s"
              % (name, what, len(life), watch.peak, longest))
    check(att.runs and all(r["csv"] for r in att.runs),
          "%s: slowhttptest wrote its CSV each run" % name)
    if closed_by_server and exits_early:
        # A run that ends before its -l because no connection is left open:
        # the server closed them all.
        early = [r for r in att.runs if r["took"] < r["limit"] - 0.5 or r["limit"] <= 2]
        check(early and all("no open connections" in r["exit"].lower() for r in early) and
              len(early) >= len(att.runs) - 1,
              "%s: slowhttptest's runs ended with every connection closed by the server: %s"
              % (name, [(round(r["took"], 1), r["limit"], r["exit"]) for r in att.runs]))
    # the server's side is empty once the attack is over
    check(established(app.port) == (set(), set()),
          "%s: no attacking connection is left open" % name)


def main():
    if not shutil.which("slowhttptest"):
        print("skipped: slowhttptest is not installed")
        sys.exit(77)
    if not shutil.which("ss"):
        print("skipped: ss (iproute2) is not installed")
        sys.exit(77)
    app = Appliance(extra="[limits]\nmax_clients = 20\nqueue_timeout = 1s\n")
    with open(app.conf) as f:
        text = f.read()
    with open(app.conf, "w") as f:
        f.write(text.replace("header_timeout = 3s", "header_timeout = %ds" % HEADER_TIMEOUT)
                .replace("idle_timeout = 5s", "idle_timeout = %ds" % IDLE_TIMEOUT))
    small = make_file(os.path.join(app.dir, "small.bin"), SMALL, seed=5)
    big = make_file(os.path.join(app.dir, "big.bin"), BIG, seed=6)
    want = hashlib.sha256(read_file(small)).hexdigest()
    t_all = time.monotonic()
    try:
        app.start()
        app.import_file(small, "http://dl.example.com/small.bin")
        app.import_file(big, "http://dl.example.com/big.bin")
        url = app.url("/big.bin?cacheHostOrigin=dl.example.com")
        check(probe(app, want)[0], "the probe is served before any attack")
        attack(app, want, "slowloris", ["-H", "-i", "1", "-x", "10", "-u", url],
               HEADER_TIMEOUT)
        attack(app, want, "slow-body", ["-B", "-i", "1", "-x", "10", "-s", "8192", "-t", "POST",
                                        "-u", url], HEADER_TIMEOUT)
        # slowhttptest notices the reset only once it has read what its receive buffer
        # holds, 32 bytes a second: its run lasts; the sockets show the close.
        attack(app, want, "slow-read", ["-X", "-w", "512", "-y", "1024", "-n", "1", "-z", "32",
                                        "-k", "2", "-u", url], IDLE_TIMEOUT,
               exits_early=False)
        n0 = len(app.access_log())
        attack(app, want, "range", ["-R", "-t", "HEAD", "-a", "10", "-b", "600", "-u", url],
               IDLE_TIMEOUT, closed_by_server=False)
        heads = [ln.split() for ln in app.access_log()[n0:] if " HEAD " in ln]
        check(len(heads) >= ATTACK_CONNS and all(f[5] in ("200", "206") for f in heads),
              "range: %d HEADs with a 600-range set answered 200 or 206: %s"
              % (len(heads), sorted(set(f[5] for f in heads))))
        check(probe(app, want)[0], "the probe is served after the attacks")
        # the probe's own slot lingers ST_SLOT_LINGER_NS (0.4 s) after its answer
        wait_until(lambda: app.stats()["clients_active"] == 0, 1.5,
                   "no client slot is left held once the probe's slot lingered")
    finally:
        app.cleanup()
    print("test_slowhttp: %.1f s" % (time.monotonic() - t_all))
    finish()


if __name__ == "__main__":
    main()
