#!/usr/bin/env python3
"""cachebox-control supervises cachebox-dataplane (the discovery responder).

One appliance, unauthenticated discovery:
- status (text and JSON) shows the dataplane running, its backend, where it
  listens and what it advertises; a QUERY for an imported object gets an
  OFFER that says "all of it";
- a malformed datagram is counted under drops{reason="invalid"};
- under a query flood (a thread, bounded in time and count) the dataplane is
  killed with SIGKILL: it answers again within 2 s of the kill, while the file
  server keeps serving the object (same pid); the flood's QUERYs and OFFERs
  show in `stats --json` and /metrics;
- control killed with SIGKILL takes the dataplane with it (no orphan holds
  the port); a restarted control starts a new one that answers;
- SIGTERM to control: the dataplane sends BYE and is gone.

A second appliance, a group key file:
- the key file at mode 644: the box does not start, one line says the fix;
- made 644 while the box runs, the dataplane killed: each restart says why
  in one line and exits 1, control backs off (a handful of attempts in 4 s,
  not a spin) and the file server serves; after chmod 600 the next attempt
  runs;
- the key file rotated and `cacheboxctl reload`: a QUERY signed with the new
  key gets a signed OFFER, one signed with the old (removed) key gets silence.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from cbtest import (CONTROL, ROOT, Appliance, check, curl, finish, free_udp_port, make_file,
                    seed_of, wait_until)

sys.path.insert(0, os.path.join(ROOT, "dataplane"))
import cachebox_ask as ask  # noqa: E402  (the client lives in dataplane/)

SIZE = 256 * 1024
FLOOD_SECS = 20  # the flood's bound; it is stopped long before
FLOOD_MAX = 2_000_000  # and its count


def discovery(app):
    return app.ctl_json("status")["discovery"]


def offer(port, msg, key=None, wait=0.3):
    """The OFFER answering msg (same txid, MAC checked when key), or None."""
    for data, _ in ask.ask("127.0.0.1", port, msg, wait):
        o = ask.parse(data)
        if o and o["type"] == "OFFER" and o["txid"] == msg[8:16].hex() and (
                not key or ask.verify(data, key)):
            return o
    return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(")")[-1].split()[0] != "Z"


class Flood(threading.Thread):
    """QUERYs to the dataplane, 20 between 1 ms sleeps (at most 20 000 a
    second), until told to stop, FLOOD_SECS or FLOOD_MAX; counts the OFFERs
    that come back."""

    def __init__(self, port, cid):
        super().__init__(daemon=True)
        self.port, self.cid = port, cid
        self.stop = threading.Event()
        self.sent, self.offers = 0, 0

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        self.t0 = time.monotonic()
        end = self.t0 + FLOOD_SECS
        try:
            while not self.stop.is_set() and time.monotonic() < end and self.sent < FLOOD_MAX:
                for _ in range(20):
                    try:
                        s.sendto(ask.query(self.cid), ("127.0.0.1", self.port))
                        self.sent += 1
                    except OSError:
                        pass  # ECONNREFUSED while the dataplane is down
                for _ in range(64):
                    try:
                        data = s.recv(2048)
                    except OSError:
                        break
                    o = ask.parse(data)
                    if o and o["type"] == "OFFER":
                        self.offers += 1
                time.sleep(0.001)
        finally:
            self.secs = time.monotonic() - self.t0
            s.close()


def metric(m, name, **labels):
    return m.get((name, tuple(sorted(labels.items()))), -1)


def status_shows_running(app, udp):
    d = wait_until(lambda: discovery(app)["state"] == "running" and discovery(app), 5,
                   "status shows the dataplane running")
    if not d:
        return None
    check(d["enabled"] is True and d["backend"] == "socket" and d["port"] == udp and
          d["listen"].startswith("0.0.0.0:%d" % udp) and d["pid"] > 0 and
          d["advertise"] == "127.0.0.1:%d" % app.port,
          "status --json: enabled, socket backend, listening on UDP %d, advertising the "
          "file server: %s" % (udp, d))
    text = app.ctl("status").stdout
    check("cachebox-dataplane pid %d" % d["pid"] in text and
          "discovery         running, socket backend on UDP 0.0.0.0:%d" % udp in text,
          "status (text) names the dataplane, its state, backend and port:\n" + text)
    return d


def kill_under_flood(app, udp, cid, data, url):
    spid = app.storage_pid()
    s0 = app.stats()["discovery"]
    m0 = app.metrics()
    old = discovery(app)["pid"]
    flood = Flood(udp, bytes.fromhex(cid))
    flood.start()
    try:
        wait_until(lambda: flood.offers > 2000, 5, "the flood gets OFFERs")
        print("flood before the kill: %d QUERYs sent, %d OFFERs back" % (flood.sent,
                                                                         flood.offers))
        os.kill(old, signal.SIGKILL)
        killed = time.monotonic()
        # The file server serves while the dataplane is down (back-off 0.5 s).
        r = curl("-o", "-", url)
        check(r.returncode == 0 and r.stdout == data,
              "the object is served while the dataplane is down")
        back = None
        for _ in range(100):  # 0.05 s waits and sends: about 5 s at most
            if offer(udp, ask.query(bytes.fromhex(cid)), wait=0.05):
                back = time.monotonic()
                break
        check(back is not None and back - killed <= 2.0,
              "after kill -9 under a flood the dataplane answers again within 2 s: %s"
              % ("%.2f s" % (back - killed) if back else "never"))
        if back:
            print("the dataplane answered again %.2f s after kill -9" % (back - killed))
        after = flood.offers
        wait_until(lambda: flood.offers > after + 2000, 5,
                   "the flood gets OFFERs from the new dataplane")
    finally:
        flood.stop.set()
        flood.join()
    print("flood: %d QUERYs sent in %.1f s, %d OFFERs back" % (flood.sent, flood.secs,
                                                               flood.offers))
    d = discovery(app)
    check(d["state"] == "running" and d["pid"] not in (0, old) and d["restarts"] == 1 and
          d["last_exit"] == "killed by signal 9",
          "status: a new dataplane runs, 1 restart, last exit 'killed by signal 9': %s" % d)
    check("cachebox-dataplane (pid %d) killed by signal 9" % old in app.logs(),
          "control logs the dataplane's death")
    r = curl("-o", "-", url)
    check(r.returncode == 0 and r.stdout == data and app.storage_pid() == spid,
          "the file server kept serving, same pid %d" % spid)
    s1 = app.stats()["discovery"]
    check(s1["queries"] - s0["queries"] >= flood.offers and
          s1["offers"] - s0["offers"] >= flood.offers and s1["rx"] >= s1["queries"],
          "stats --json: queries %d -> %d, offers %d -> %d (the flood saw %d OFFERs)"
          % (s0["queries"], s1["queries"], s0["offers"], s1["offers"], flood.offers))
    m1 = app.metrics()
    check(metric(m1, "cachebox_discovery_queries_total") -
          metric(m0, "cachebox_discovery_queries_total") >= flood.offers and
          metric(m1, "cachebox_discovery_offers_total") -
          metric(m0, "cachebox_discovery_offers_total") >= flood.offers and
          metric(m1, "cachebox_discovery_restarts_total") == 1 and
          metric(m1, "cachebox_discovery_running") == 1,
          "/metrics: queries and offers rose by the flood's OFFERs, 1 restart, running")


def bad_datagram(app, udp):
    before = app.stats()["discovery"]["drops"]["invalid"]
    m0 = metric(app.metrics(), "cachebox_discovery_drops_total", reason="invalid")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"CBXD not a datagram", ("127.0.0.1", udp))
    s.close()
    wait_until(lambda: app.stats()["discovery"]["drops"]["invalid"] == before + 1, 3,
               "a malformed datagram is counted in stats' discovery.drops.invalid")
    m1 = metric(app.metrics(), "cachebox_discovery_drops_total", reason="invalid")
    check(m1 == m0 + 1, "/metrics: cachebox_discovery_drops_total{reason=\"invalid\"} "
          "%s -> %s" % (m0, m1))


def control_killed(app, udp, cid):
    dp = discovery(app)["pid"]
    spid = app.storage_pid()
    app.proc.kill()
    app.proc.wait()
    wait_until(lambda: not pid_alive(dp), 3,
               "the dataplane (pid %d) does not outlive a killed control" % dp)
    app.log.close()
    app.start()
    wait_until(app.ctl_answers, 10, "the restarted control answers", interval=0.1)
    d = wait_until(lambda: discovery(app)["state"] == "running" and discovery(app), 5,
                   "the restarted control runs a dataplane")
    check(d and d["pid"] != dp and app.storage_pid() == spid,
          "a new dataplane, the same (adopted) file server: %s" % d)
    check(offer(udp, ask.query(bytes.fromhex(cid))) is not None,
          "the new dataplane answers on the same port")


def stop_sends_bye(app):
    dp = discovery(app)["pid"]
    app.stop()
    check(not pid_alive(dp), "the dataplane is gone after control's SIGTERM")
    logs = app.logs()
    check("cachebox-dataplane[%d] info: BYE sent on" % dp in logs
          and "cachebox-dataplane[%d] info: stopped" % dp in logs,
          "the dataplane got SIGTERM and sent BYE (on no interface: loopback has no broadcast)")


def supervised(tmp):
    udp = free_udp_port()
    app = Appliance(discovery=("enabled = true", "port = %d" % udp, "address = 127.0.0.1/8",
                               "rate_per_source = 1000000"))
    try:
        app.start()
        src = make_file(os.path.join(app.dir, "obj.bin"), SIZE, seed_of("discovery-supervise"))
        with open(src, "rb") as f:
            data = f.read()
        app.import_file(src, "http://dl.example.com/obj.bin")
        cid = app.listing()["dl.example.com/obj.bin"]["id"]
        check(cid == ask.content_id_of_url("http://dl.example.com/obj.bin").hex(),
              "the client's content ID is the box's")
        url = app.url("/obj.bin?cacheHostOrigin=dl.example.com")
        if not status_shows_running(app, udp):
            return
        o = offer(udp, ask.query(bytes.fromhex(cid)))
        check(o is not None and o["have"] == 2 and o["object_size"] == SIZE and
              o["port"] == app.port and o["address"] == "127.0.0.1",
              "an OFFER for the imported object: all of it, at the file server: %s" % o)
        bad_datagram(app, udp)
        kill_under_flood(app, udp, cid, data, url)
        control_killed(app, udp, cid)
        stop_sends_bye(app)
    finally:
        app.cleanup()


def write_keys(path, keys):
    tmp = path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for kid, key in keys:
            f.write("%d %s\n" % (kid, key.hex()))
    os.rename(tmp, path)


def keyed(tmp):
    udp = free_udp_port()
    key_file = os.path.join(tmp, "group.keys")
    k1, k2 = os.urandom(32), os.urandom(32)
    write_keys(key_file, [(1, k1)])
    os.chmod(key_file, 0o644)
    app = Appliance(discovery=("enabled = true", "port = %d" % udp, "address = 127.0.0.1/8",
                               "group_key_file = %s" % key_file))
    try:
        # others may read the key file: the box does not start, one line says the fix
        r = subprocess.run([CONTROL, "--config", app.conf], capture_output=True, text=True,
                           timeout=20)
        check(r.returncode != 0 and "fix: chmod 600 %s" % key_file in r.stderr
              and len(r.stderr.splitlines()) == 1,
              "a key file others can read stops the start, in one line: %r" % r.stderr)
        os.chmod(key_file, 0o600)
        app.start()
        src = make_file(os.path.join(app.dir, "k.bin"), SIZE, seed_of("discovery-keys"))
        app.import_file(src, "http://dl.example.com/k.bin")
        cid = bytes.fromhex(app.listing()["dl.example.com/k.bin"]["id"])
        # made readable while the box runs: the dataplane cannot start again
        wait_until(lambda: discovery(app)["state"] == "running", 10, "the dataplane runs")
        os.chmod(key_file, 0o644)
        os.kill(discovery(app)["pid"], signal.SIGKILL)
        app.wait_log("key file has mode 0644")
        t0 = time.monotonic()
        time.sleep(4)
        logs = app.logs()
        failures = logs.count("exited with status 1 after")
        print("bad key file: %d failed starts in %.1f s" % (failures, time.monotonic() - t0))
        check(2 <= failures <= 5,
              "with a bad key file control backs off: %d failed starts in %.1f s"
              % (failures, time.monotonic() - t0))
        check(logs.count("key file has mode 0644") == failures and
              logs.count("(it could not start: its log line above says why)") == failures,
              "each failed start: the dataplane's one line why, control's one line with "
              "its exit status")
        d = discovery(app)
        check(d["state"] in ("stopped", "starting") and d["last_exit"] == "exited with status 1",
              "status: discovery not running, last exit 'exited with status 1': %s" % d)
        r = curl("-o", "/dev/null", "-w", "%{http_code}",
                 app.url("/k.bin?cacheHostOrigin=dl.example.com"))
        check(r.stdout == b"200", "the file server serves while the dataplane cannot start")
        os.chmod(key_file, 0o600)
        wait_until(lambda: discovery(app)["state"] == "running", 10,
                   "after chmod 600 the next attempt runs")
        check(offer(udp, ask.query(cid, key=k1, key_id=1), key=k1) is not None,
              "a QUERY signed with key 1 gets a signed OFFER")
        check(offer(udp, ask.query(cid)) is None, "an unsigned QUERY gets silence")
        # Rotate: key 2 only.
        write_keys(key_file, [(2, k2)])
        r = app.ctl("reload")
        check("cachebox-dataplane re-reads its group key file" in r.stdout,
              "reload says it asked the dataplane: " + r.stdout)
        check(app.ctl_json("reload")["reloaded"] == ["limits", "tls_cert", "discovery_keys"],
              "reload --json lists discovery_keys")
        wait_until(lambda: offer(udp, ask.query(cid, key=k2, key_id=2), key=k2, wait=0.1), 3,
                   "after reload a QUERY signed with the new key 2 gets an OFFER")
        before = app.stats()["discovery"]["drops"]["unauthenticated"]
        check(offer(udp, ask.query(cid, key=k1, key_id=1)) is None,
              "a QUERY signed with the removed key 1 gets silence")
        check(app.stats()["discovery"]["drops"]["unauthenticated"] == before + 1,
              "and is counted as unauthenticated")
        pid = discovery(app)["pid"]
        check(app.ctl("status").stdout.count("cachebox-dataplane pid %d" % pid) == 1,
              "the keys rotated without a restart of the dataplane (pid %d)" % pid)
    finally:
        app.cleanup()


def main():
    tmp = os.path.join("/tmp", "cbx-dsup-super-%d" % os.getpid())
    os.makedirs(tmp)
    try:
        supervised(tmp)
        keyed(tmp)
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    finish()


if __name__ == "__main__":
    main()
