#!/usr/bin/env python3
"""The access log survives rotation without losing or doubling a line.

A box whose access log is set by `[appliance] access_log` (in a directory of
its own, as /var/log/cachebox is for the package) serves a steady load from
four clients, each asking for ranges no other request asks for, so every
response has a line that names it alone. While the load runs, Debian's real
logrotate rotates the log four times with the postrotate the package ships
(SIGUSR1 to cachebox-control, which has the file server reopen it), and once
`cacheboxctl reload` is the reopen. Then every response must be in exactly
one of the files: the union of access.log, access.log.1 ... is the set of
requests made, with no line twice and no line missing, the newest file is
the one being written, and the daemon log said each reopen.

Also: SIGUSR1 sent straight to cachebox-storage reopens; a log directory the
file server cannot open the log in keeps the old file, says so, and serves on."""
import os
import signal
import subprocess
import sys
import threading
import time
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, finish, make_file, wait_until  # noqa: E402

SIZE = 4 * 1024 * 1024
CLIENTS = 4
ROTATIONS = 4
LOAD_SECONDS = 12  # the load runs at most this long, whatever the count


def logrotate_conf(path, log, control_pid):
    """The package's logrotate stanza (appliance/cachebox.logrotate), on this box."""
    with open(path, "w") as f:
        f.write("""%s {
    rotate 10
    missingok
    notifempty
    nocompress
    create 0640 root root
    sharedscripts
    postrotate
        kill -USR1 %d
    endscript
}
""" % (log, control_pid))
    os.chmod(path, 0o644)


def client(app, k, stop, done, errors):
    """Ranged GETs on one keep-alive connection; each range is used once."""
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    for i in range(100000):
        if stop.is_set():
            break
        start = (i * CLIENTS + k) * 16
        if start + 16 > SIZE:
            break
        rng = "%d-%d" % (start, start + 9)
        try:
            conn.request("GET", "/big.bin?cacheHostOrigin=dl.example.com",
                         headers={"Range": "bytes=" + rng})
            r = conn.getresponse()
            body = r.read()
            if r.status != 206 or len(body) != 10:
                errors.append("%s: %d, %d bytes" % (rng, r.status, len(body)))
            done.append(rng)
        except OSError as e:
            errors.append("%s: %s" % (rng, e))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    conn.close()


def rotated_lines(logdir):
    """{range: count} over access.log and every rotated access.log.N."""
    seen = {}
    files = [f for f in os.listdir(logdir) if f.startswith("access.log")]
    for name in files:
        with open(os.path.join(logdir, name)) as f:
            for ln in f:
                fields = ln.split()
                if len(fields) == 10:
                    rng = fields[4].replace("bytes=", "")
                    seen[rng] = seen.get(rng, 0) + 1
    return files, seen


def main():
    app = Appliance()
    logdir = os.path.join(app.dir, "log")
    os.makedirs(logdir)
    log = os.path.join(logdir, "access.log")
    with open(app.conf) as f:
        text = f.read()
    with open(app.conf, "w") as f:
        f.write(text.replace("log_level = info", "log_level = info\naccess_log = %s" % log, 1))
    try:
        app.start()
        src = os.path.join(app.dir, "big.bin")
        make_file(src, SIZE, 7)
        app.import_file(src, "http://dl.example.com/big.bin")
        check(os.path.exists(log), "the access log is where access_log says: %s" % log)
        check(not os.path.exists(os.path.join(app.state, "access.log")),
              "nothing is logged under state_dir when access_log is set")

        conf = os.path.join(app.dir, "logrotate.conf")
        logrotate_conf(conf, log, app.proc.pid)
        stop, done, errors = threading.Event(), [], []
        threads = [threading.Thread(target=client, args=(app, k, stop, done, errors))
                   for k in range(CLIENTS)]
        for t in threads:
            t.start()
        t0 = time.time()
        rotated = 0
        for r in range(ROTATIONS + 1):
            time.sleep(1.5)
            if r == 2:  # one of the reopens is a reload
                rc = app.ctl("reload", check_rc=False).returncode
                check(rc == 0, "cacheboxctl reload during the load: exit %d" % rc)
                continue
            p = subprocess.run(["logrotate", "-f", "-s", os.path.join(app.dir, "lr.state"),
                                conf], capture_output=True, text=True, timeout=30)
            check(p.returncode == 0, "logrotate ran: %s" % p.stderr.strip())
            rotated += 1
        time.sleep(max(0.0, min(1.5, LOAD_SECONDS - (time.time() - t0))))
        stop.set()
        for t in threads:
            t.join(20)
        check(not any(t.is_alive() for t in threads), "the clients ended")
        check(not errors, "every request got its 10 bytes (%d errors: %s)"
              % (len(errors), errors[:3]))
        check(len(done) > 200, "a real load ran: %d responses" % len(done))

        want = set(done)
        # the sweep flushes every 200 ms: wait until every response has its line
        wait_until(lambda: len(rotated_lines(logdir)[1]) >= len(want), 5,
                   "every response has reached a log file")
        files, seen = rotated_lines(logdir)
        check(len(files) == rotated + 1,
              "%d rotations left %d files (%s)" % (rotated, len(files), sorted(files)))
        twice = [k for k, n in seen.items() if n > 1]
        check(not twice, "no response is in two files or twice (%d are: %s)"
              % (len(twice), twice[:3]))
        missing = want - set(seen)
        check(not missing, "no response is missing (%d are: %s)"
              % (len(missing), sorted(missing)[:3]))
        check(set(seen) <= want | {"-"}, "no line for a request never made")
        for name in files:
            size = os.path.getsize(os.path.join(logdir, name))
            check(size > 0, "%s holds lines (%d bytes): each reopen took effect" % (name, size))
        text = app.logs()
        check(text.count("access log %s reopened" % log) == rotated + 1,
              "the daemon log says each of the %d reopens" % (rotated + 1))

        # SIGUSR1 straight to the file server, and a directory it cannot write
        before = text.count("reopened")
        os.kill(app.storage_pid(), signal.SIGUSR1)
        wait_until(lambda: app.logs().count("reopened") > before, 10,
                   "the file server logs the reopen")
        check(app.logs().count("reopened") == before + 1, "SIGUSR1 to the file server reopens")
        os.rename(logdir, logdir + ".moved")  # the directory is gone: open fails
        os.kill(app.proc.pid, signal.SIGUSR1)
        app.wait_log("cannot reopen it")
        check(app.request("GET", "/_cachebox/health")[0] == 200,
              "a failed reopen leaves the box serving")
    finally:
        if os.path.isdir(logdir + ".moved"):
            os.rename(logdir + ".moved", logdir)
        app.cleanup()
    finish()


if __name__ == "__main__":
    main()
