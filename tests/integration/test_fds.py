#!/usr/bin/env python3
"""Running out of file descriptors, and the connection limits.

- The appliance runs under a 256 fd limit (soft and hard: cachebox-storage
  raises its soft limit to the hard one) and 400 idle connections are
  opened, more than fit. The file server must not spin re-arming accept on
  EMFILE: its CPU time over 2 s stays under 20 % of one core, the warning
  about failed accepts is said a few times (not millions), the failed
  accepts are counted in `stats --json` and /metrics, a connection it did
  accept is still answered; over the whole exhausted period (first failed
  accept to release) its utime+stime stays under 20 % of a core and its log
  grows by a few lines at most; once the idle connections are closed a new
  request is answered within 1 s.
- With max_connections_per_client = 5 and max_connections = 8 (one
  worker): a 6th connection from 127.0.0.1 is closed at once and counted,
  one from 127.0.0.2 is served; past 8 connections in all, the next one is
  closed at once and counted under its own reason; once the connections
  close, 127.0.0.1 is served again (its count went back down). With two
  workers, every connection past the 5th of 127.0.0.1 is refused, whichever
  worker accepts it: the count is shared.
- Start-up failures unwind: cachebox-storage run alone with a TLS
  certificate that does not load, on a port another socket holds, and
  under fd limits so low that some part of the start fails, exits with a
  status and a line saying why, never by a signal (an assert), and with no
  sanitizer report (a leak, under ASan)."""
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cbtest  # noqa: E402
from cbtest import Appliance, check, finish, wait_until  # noqa: E402

FD_LIMIT = 256
IDLE = 400  # more than FD_LIMIT: some are never accepted
CPU_WINDOW = 2.0
CPU_MAX = 0.20  # of one core
ACCEPT_LINES_MAX = 10
GHOSTS = 20  # connections reset in the listen queue


def long_header_timeout(app):
    """Idle connections must stay open: 60 s instead of the harness's 3 s."""
    with open(app.conf) as f:
        text = f.read()
    with open(app.conf, "w") as f:
        f.write(text.replace("header_timeout = 3s", "header_timeout = 60s"))


def connect_from(app, host, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((host, 0))
    s.connect(("127.0.0.1", app.port))
    return s


def closed_at_once(s, timeout=1.0):
    """Whether the server closed s (EOF or reset) within timeout, unasked."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def health_on(s):
    """A keep-alive health request on s: its status, 0 on no answer."""
    s.settimeout(5)
    s.sendall(b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            got = s.recv(4096)
            if not got:
                break
            data += got
    except OSError:
        return 0
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def answered(app, timeout):
    try:
        st, _, _ = app.request("GET", "/_cachebox/health", timeout=timeout)
        return st == 200
    except OSError:
        return False


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def accept_lines(app):
    return [ln for ln in app.logs().splitlines() if "accept:" in ln]


def metric(app, name, **labels):
    return app.metrics().get((name, tuple(sorted(labels.items()))), -1)


def low_fd_control(app):
    """A wrapper that runs cachebox-control (and so the file server it
    starts) under FD_LIMIT, soft and hard."""
    path = os.path.join(app.dir, "control-lowfd.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec prlimit --nofile=%d:%d -- %s \"$@\"\n"
                % (FD_LIMIT, FD_LIMIT, cbtest.CONTROL))
    os.chmod(path, 0o755)
    return path


def scenario_fd_exhaustion():
    app = Appliance(workers=2)
    long_header_timeout(app)
    app.control = low_fd_control(app)
    idle = []
    try:
        app.start()
        pid = app.storage_pid()
        check(resource.prlimit(pid, resource.RLIMIT_NOFILE) == (FD_LIMIT, FD_LIMIT),
              "the file server runs under a %d fd limit" % FD_LIMIT)
        check("open-file limit %d is below" % FD_LIMIT in app.logs(),
              "the start-up log says the fd budget does not fit")
        base = len(os.listdir("/proc/%d/fd" % pid))
        check(base < FD_LIMIT - 64, "the file server starts with room (%d fds)" % base)

        for _ in range(IDLE):
            idle.append(connect_from(app, "127.0.0.1"))
        wait_until(lambda: "accept: Too many open files" in app.logs(), 5,
                   "accepts fail for want of fds")
        # The exhausted period: from the first failed accept to the release.
        cpu_ex0, t_ex0 = cpu_seconds(pid), time.monotonic()
        log_lines0 = len(app.logs().splitlines())
        lines_before = len(accept_lines(app))
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(CPU_WINDOW)
        cpu1, t1 = cpu_seconds(pid), time.monotonic()
        share = (cpu1 - cpu0) / (t1 - t0)
        check(share < CPU_MAX, "no spin: the file server used %.0f %% of a core over %.1f s "
              "with fds exhausted (at most %.0f %%)" % (share * 100, t1 - t0, CPU_MAX * 100))
        # The connections it did accept are still served while it is out of fds
        # (the first ones connected are the accepted ones).
        check(health_on(idle[0]) == 200,
              "an accepted connection is answered while fds are exhausted")
        lines = accept_lines(app)
        check(len(lines) <= ACCEPT_LINES_MAX,
              "the accept warning is rate-limited: %d lines (%d before the window), at most %d"
              % (len(lines), lines_before, ACCEPT_LINES_MAX))
        check(any("failed since the last report" in ln for ln in lines),
              "the warning says how many accepts failed: %s" % lines[:2])

        st = app.stats()
        check(0 < st["connections_open"] < IDLE,
              "some connections accepted, not all: %d" % st["connections_open"])
        check(st.get("accept_failures", 0) > 0, "stats --json counts failed accepts: %d"
              % st.get("accept_failures", 0))
        check(metric(app, "cachebox_accept_failures_total") > 0,
              "/metrics counts failed accepts")

        # Over the whole exhausted period (the window, the stats and metrics
        # requests above): no spin, and the log grew by a few lines at most,
        # whatever the kind (a flood of another warning would show here).
        cpu_ex1, t_ex1 = cpu_seconds(pid), time.monotonic()
        share = (cpu_ex1 - cpu_ex0) / (t_ex1 - t_ex0)
        check(share < CPU_MAX, "no spin over the whole exhausted period: %.0f %% of a core "
              "over %.1f s (utime+stime of all its threads, at most %.0f %%)"
              % (share * 100, t_ex1 - t_ex0, CPU_MAX * 100))
        grown = app.logs().splitlines()[log_lines0:]
        check(len(grown) <= ACCEPT_LINES_MAX, "no log flood while exhausted: %d new lines, at "
              "most %d: %s" % (len(grown), ACCEPT_LINES_MAX, grown[:3]))
        failures = app.stats().get("accept_failures", 0)
        # Ghosts: connections that ask and then reset while they wait in the
        # listen queue. Accepted after the release, they have no peer any
        # more: nothing is to be answered to them, nor logged without a client.
        alog_before = len(app.access_log())
        for _ in range(GHOSTS):
            g = connect_from(app, "127.0.0.1")
            g.sendall(b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\n\r\n")
            g.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            g.close()
        for s in idle:
            s.close()
        idle = []
        t0 = time.monotonic()
        ok = wait_until(lambda: answered(app, 0.25), 1.0,
                        "after the idle connections close, a request is answered within 1 s")
        if ok:
            print("answered %.2f s after the idle connections closed" % (time.monotonic() - t0))
        wait_until(lambda: app.stats()["connections_open"] == 0, 5,
                   "every connection is closed and counted out")
        time.sleep(0.5)
        alog = app.access_log()[alog_before:]
        nameless = [ln for ln in alog if not re.match(r"\S+ \d+\.\d+\.\d+\.\d+:\d+ ", ln)]
        check(not nameless, "connections reset while queued are not answered: %d access log "
              "lines without a client, e.g. %s" % (len(nameless), nameless[:2]))
        after = app.stats().get("accept_failures", 0)
        check(after >= failures > 0, "the failed accepts stay counted after the release: "
              "%d, then %d" % (failures, after))
    finally:
        for s in idle:
            s.close()
        app.cleanup()


def scenario_per_client():
    app = Appliance(workers=1, server_extra=["max_connections = 8",
                                             "max_connections_per_client = 5"])
    long_header_timeout(app)
    held = []
    try:
        try:
            app.start()
        except RuntimeError as e:
            check(False, "the appliance starts with max_connections_per_client: %s" % e)
            return
        for _ in range(5):
            held.append(connect_from(app, "127.0.0.1"))
        wait_until(lambda: app.stats()["connections_open"] == 5, 5,
                   "5 connections from 127.0.0.1 accepted")
        sixth = connect_from(app, "127.0.0.1")
        check(closed_at_once(sixth), "a 6th connection from 127.0.0.1 is closed at once")
        sixth.close()
        st = app.stats()
        check(st["connections_refused_per_client"] == 1,
              "stats counts it as refused per client: %d" % st["connections_refused_per_client"])
        check(st["connections_refused_max_connections"] == 0, "and not at max_connections")
        check(metric(app, "cachebox_connections_refused_total", reason="per_client") == 1,
              "/metrics counts it under reason=\"per_client\"")
        check(all(not closed_at_once(s, 0.1) for s in held), "the first 5 stay open")

        other = connect_from(app, "127.0.0.2")
        held.append(other)
        check(health_on(other) == 200, "a connection from 127.0.0.2 is served")

        held.append(connect_from(app, "127.0.0.3"))
        held.append(connect_from(app, "127.0.0.4"))
        wait_until(lambda: app.stats()["connections_open"] == 8, 5, "8 connections open")
        ninth = connect_from(app, "127.0.0.5")
        check(closed_at_once(ninth), "a 9th connection (max_connections 8) is closed at once")
        ninth.close()
        st = app.stats()
        check(st["connections_refused_max_connections"] == 1,
              "stats counts it as refused at max_connections: %d"
              % st["connections_refused_max_connections"])
        check(metric(app, "cachebox_connections_refused_total", reason="max_connections") == 1,
              "/metrics counts it under reason=\"max_connections\"")
        app.wait_log("connections refused since the last report")

        for s in held:
            s.close()
        held = []
        wait_until(lambda: app.stats()["connections_open"] == 0, 5, "all connections closed")
        again = [connect_from(app, "127.0.0.1") for _ in range(5)]
        held = again
        check(all(health_on(s) == 200 for s in again),
              "after they closed, 127.0.0.1 has its 5 connections again")
    finally:
        for s in held:
            s.close()
        app.cleanup()


def scenario_per_client_two_workers():
    """The count per address is the server's, not a worker's: with two
    workers (SO_REUSEPORT spreads connections by port) every connection
    past the 5th of 127.0.0.1 is refused, whichever worker takes it."""
    app = Appliance(workers=2, server_extra=["max_connections_per_client = 5"])
    long_header_timeout(app)
    held = []
    try:
        try:
            app.start()
        except RuntimeError as e:
            check(False, "the appliance starts with max_connections_per_client: %s" % e)
            return
        held = [connect_from(app, "127.0.0.1") for _ in range(5)]
        wait_until(lambda: app.stats()["connections_open"] == 5, 5,
                   "5 connections from 127.0.0.1 accepted by two workers")
        extra = [connect_from(app, "127.0.0.1") for _ in range(6)]
        refused = sum(1 for s in extra if closed_at_once(s))
        for s in extra:
            s.close()
        check(refused == 6, "6 more from 127.0.0.1, on either worker, closed at once: %d"
              % refused)
        check(app.stats()["connections_refused_per_client"] == 6, "and counted: %d"
              % app.stats()["connections_refused_per_client"])
        held.pop().close()
        wait_until(lambda: app.stats()["connections_open"] == 4, 5, "one of the 5 closed")
        s = connect_from(app, "127.0.0.1")
        held.append(s)
        check(health_on(s) == 200, "then 127.0.0.1 is served on a new connection")
    finally:
        for s in held:
            s.close()
        app.cleanup()


def run_storage(app, prefix=(), timeout=5):
    """cachebox-storage alone on app's config: (exit status, its output).
    One that does start is stopped with SIGTERM after timeout s."""
    p = subprocess.Popen(list(prefix) + [cbtest.STORAGE, "--config", app.conf],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=20)
    return p.returncode, out


def clean_failure(rc, out, what):
    bad = [m for m in cbtest.BAD_LOG_MARKERS if m in out]
    check(rc > 0, "%s: exits with a status, not a signal (%d)" % (what, rc))
    check(not bad, "%s: no sanitizer report or internal error: %s" % (what, out[-3000:]))
    check("file server did not start" in out, "%s: the log says the file server did not "
          "start: %s" % (what, out[-600:]))


def scenario_startup_failures():
    app = Appliance(workers=2, server_extra=[
        "tls_cert = /nonexistent/cert.pem", "tls_key = /nonexistent/key.pem"])
    try:
        rc, out = run_storage(app)
        clean_failure(rc, out, "a TLS certificate that does not load")
        check("TLS: cannot use tls_cert" in out, "the log names the certificate")
    finally:
        shutil.rmtree(app.dir, ignore_errors=True)

    app = Appliance(workers=2)
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", app.port))
        holder.listen(1)
        rc, out = run_storage(app)
        clean_failure(rc, out, "a port another socket holds")
        check("Address already in use" in out, "the log says the address is in use")
    finally:
        holder.close()
        shutil.rmtree(app.dir, ignore_errors=True)

    # Under each limit the start fails at another step of another worker
    # (its listener, either eventfd, its ring: 4 fds a worker, measured) or
    # succeeds; either way cleanly.
    app = Appliance(workers=4)
    failed = 0
    try:
        for limit in range(8, 24):
            rc, out = run_storage(app, ("prlimit", "--nofile=%d:%d" % (limit, limit), "--"), 1.5)
            bad = [m for m in cbtest.BAD_LOG_MARKERS if m in out]
            if rc != 0 or bad:
                failed += 1
                check(rc > 0 and not bad, "under %d fds: a clean exit (%d), no report: %s"
                      % (limit, rc, out[-2000:]))
        check(failed >= 8, "fd limits make the start fail at many steps (%d of 16)" % failed)
    finally:
        shutil.rmtree(app.dir, ignore_errors=True)


def main():
    if not shutil.which("prlimit"):
        print("skipped: prlimit (util-linux) is not installed")
        sys.exit(77)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    scenario_fd_exhaustion()
    scenario_per_client()
    scenario_per_client_two_workers()
    scenario_startup_failures()
    finish()


if __name__ == "__main__":
    main()
