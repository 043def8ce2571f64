#!/usr/bin/env python3
"""The control process: supervision and policy.

- kill -9 of cachebox-control under load: downloads finish exact, the file
  server keeps serving within the last policy, a restarted control adopts
  it (no second file server) and keeps the month's upload total.
- kill -9 of cachebox-storage under load: control restarts it, the box
  serves again within 5 s, and no slot is left taken.
- the monthly upload cap: 503 with a reason once reached, in stats and in
  the log; persisted across a full restart; raised at run time.
- `reload` takes [limits] from the edited config file; a bad edit is
  refused and changes nothing.
- an unprivileged uid is refused on the control socket before any command
  runs; a member of allowed_group is let in."""
import grp
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (CTL, Appliance, check, curl, finish, make_file, run_ctl,  # noqa: E402
                    read_file, wait_until)

SIZE = 4 * 1024 * 1024
GROUP = "cbx-ctl-test"


def slots(app):
    """(active, queued) client slots, from stats."""
    s = app.stats()
    return s["clients_active"], s["clients_queued"]


def pids_of(name, conf):
    out = subprocess.run(["pgrep", "-f", "%s --config %s" % (name, conf)], capture_output=True,
                         text=True).stdout.split()
    return [int(p) for p in out]


def download(app, host, results, idx):
    """Body, status, and when its first and last bytes came (absolute)."""
    t0 = time.time()
    r = curl("--interface", host, "-o", "-", "-w",
             "\n%{http_code} %{time_starttransfer} %{time_total}",
             app.url("/obj.bin?cacheHostOrigin=dl.example.com"), timeout=60)
    body, trailer = r.stdout.rsplit(b"\n", 1)
    code, ttfb, total = trailer.split()
    results[idx] = {"body": body, "code": int(code), "first": t0 + float(ttfb),
                    "end": t0 + float(total)}


def main():
    app = Appliance(extra="[limits]\nmax_clients = 2\nqueue_timeout = 10s\n"
                          "max_bandwidth_per_client = 16M\n")
    src = make_file(os.path.join(app.dir, "obj.bin"), SIZE, seed=21)
    data = read_file(src)
    try:
        app.start()
        app.import_file(src, "http://dl.example.com/obj.bin")

        # --- kill -9 of control under load
        results = [None] * 3
        threads = [threading.Thread(target=download, args=(app, "127.0.0.%d" % (31 + i),
                                                           results, i)) for i in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.1)  # they arrive in this order: the third is the one that waits
        wait_until(lambda: slots(app) == (2, 1), 5,
                   "two downloads served and one queued before control is killed")
        spid = app.storage_pid()
        app.proc.kill()
        app.proc.wait()
        killed = time.time()
        for t in threads:
            t.join()
        check(all(r["body"] == data and r["code"] == 200 for r in results),
              "control killed mid-download: all 3 downloads exact")
        # The slot limit (2) held while control was dead: the third client got
        # its first byte only after control died and after one of the first two ended.
        third = results[2]
        check(third["first"] > killed and
              third["first"] >= min(r["end"] for r in results[:2]) - 0.05,
              "without control the file server kept the limit of 2: the third was served "
              "%.2f s after control died, once a slot was free" % (third["first"] - killed))
        st, _, _ = app.request("GET", "/_cachebox/health")
        check(st == 200, "the file server keeps serving without control")
        month_before = None
        # Restart control: it adopts the running file server.
        app.log.close()
        app.start()
        wait_until(app.ctl_answers, 10, "the restarted control answers", interval=0.1)
        s = app.stats()
        check(app.storage_pid() == spid and pids_of("cachebox-storage", app.conf) == [spid],
              "the restarted control adopted the file server (pid %d), none started: %s"
              % (spid, pids_of("cachebox-storage", app.conf)))
        check("adopted it" in app.logs(), "control says it adopted the file server")
        month_before = s["month_uploaded"]
        check(month_before >= 3 * SIZE, "the month's upload total survived: %d" % month_before)
        check(s["limits"]["max_clients"] == 2, "the published limits survived")

        # --- kill -9 of storage under load
        results = [None] * 2
        threads = [threading.Thread(target=download, args=(app, "127.0.0.%d" % (41 + i),
                                                           results, i)) for i in range(2)]
        for t in threads:
            t.start()
        wait_until(lambda: slots(app) == (2, 0), 5,
                   "two downloads under way before the file server is killed")
        t0 = time.time()
        os.kill(spid, signal.SIGKILL)
        for t in threads:
            t.join()
        check(all(data.startswith(r["body"]) for r in results),
              "downloads cut by the crash are short, never wrong: %s"
              % [len(r["body"]) for r in results])

        def healthy():
            try:
                return app.request("GET", "/_cachebox/health", timeout=1)[0] == 200
            except OSError:
                return False

        wait_until(healthy, 5 - (time.time() - t0), "the file server is back within 5 s")
        print("the file server was back %.2f s after the kill" % (time.time() - t0))
        check(app.storage_pid() != spid, "a new file server was started")
        wait_until(lambda: slots(app) == (0, 0), 3,
                   "no slot leaked by the crash: 0 active, 0 queued")
        r = curl("--interface", "127.0.0.51", "-o", "-",
                 app.url("/obj.bin?cacheHostOrigin=dl.example.com"))
        check(r.stdout == data, "and it serves exact bytes again")

        # --- the monthly upload cap
        s = app.stats()
        app.limits("--monthly-upload-cap", str(s["month_uploaded"] + SIZE // 2),
                   "--max-bandwidth-per-client", "0")
        r = curl("-o", "-", app.url("/obj.bin?cacheHostOrigin=dl.example.com"))
        check(r.stdout == data, "under the cap: served")
        st, hdrs, body = app.request("GET", "/obj.bin?cacheHostOrigin=dl.example.com")
        check(st == 503 and b"monthly upload cap" in body and "retry-after" in
              {k.lower() for k in hdrs}, "at the cap: 503 that says why (%d %s)" % (st, body))
        s = app.stats()
        check(s["monthly_cap_reached"] is True and s["rejected_monthly_cap"] == 1,
              "stats says the cap is reached, one rejection: %s" % {
                  k: s[k] for k in ("monthly_cap_reached", "rejected_monthly_cap")})
        app.wait_log("monthly upload cap reached")
        # Persisted: a full stop and start keeps the total, and the 503.
        total = s["month_uploaded"]
        app.stop()
        app.start()
        wait_until(app.ctl_answers, 10, "restarted", interval=0.1)
        s = app.stats()
        check(s["month_uploaded"] >= total, "the month's total survived a full restart: %d"
              % s["month_uploaded"])
        # (the restart published the config's limits again: no cap in the file)
        app.limits("--monthly-upload-cap", str(total))
        st, _, _ = app.request("GET", "/obj.bin?cacheHostOrigin=dl.example.com")
        check(st == 503, "still at the cap after the restart")
        app.limits("--monthly-upload-cap", "0")
        st, _, body = app.request("GET", "/obj.bin?cacheHostOrigin=dl.example.com")
        check(st == 200 and body == data, "cap lifted at run time: served again")

        # --- reload reads [limits] from the file
        conf = open(app.conf).read()
        with open(app.conf, "w") as f:
            f.write(conf.replace("max_clients = 2", "max_clients = 7"))
        r = app.ctl("reload")
        check(app.stats()["limits"]["max_clients"] == 7, "reload took max_clients = 7")
        with open(app.conf, "w") as f:
            f.write(conf.replace("max_clients = 2", "max_clients = lots"))
        sig = subprocess.run(["kill", "-HUP", str(app.proc.pid)])  # the CLI reads the file too
        check(sig.returncode == 0, "SIGHUP sent")
        app.wait_log("max_clients: bad number 'lots'; nothing changed")  # refused, key named
        with open(app.conf, "w") as f:
            f.write(conf)
        check(app.stats()["limits"]["max_clients"] == 7, "and nothing changed")

        # --- who may use the control socket
        sock = os.path.join(app.state, "control.sock")
        mode = os.stat(sock).st_mode & 0o777
        check(mode == 0o600, "the control socket is 0600 without allowed_group (%o)" % mode)
        mode = os.stat(app.state).st_mode & 0o777
        check(not mode & 0o022, "its directory is writable by its owner only (%o)" % mode)
        os.chmod(app.dir, 0o755)
        os.chmod(app.state, 0o755)
        os.chmod(app.conf, 0o644)
        os.chmod(sock, 0o666)  # as if the mode were wrong: SO_PEERCRED still decides
        r = run_ctl([CTL, "--config", app.conf, "evict", "dl.example.com/obj.bin"],
                    timeout=10, preexec_fn=lambda: (os.setgroups([]), os.setgid(65534),
                                        os.setuid(65534)))
        check(r.returncode != 0 and "permission denied" in r.stderr,
              "uid nobody refused: rc %d %s %s" % (r.returncode, r.stdout, r.stderr.strip()))
        app.wait_log("refused uid 65534")  # control logs the refusal
        check(app.listing()["dl.example.com/obj.bin"]["size"] == SIZE,
              "the object is still there: nothing ran")
        if subprocess.run(["groupadd", "-f", GROUP], capture_output=True).returncode == 0:
            gid = grp.getgrnam(GROUP).gr_gid
            app.stop()
            with open(app.conf, "a") as f:
                f.write("[control]\nallowed_group = %s\n" % GROUP)
            app.start()
            st = os.stat(sock)
            check(st.st_mode & 0o777 == 0o660 and st.st_gid == gid,
                  "with allowed_group the socket is 0660, that group (%o)" % (st.st_mode & 0o777))
            os.chmod(sock, 0o666)
            r = run_ctl([CTL, "--config", app.conf, "status"], timeout=10,
                        preexec_fn=lambda: (os.setgroups([gid]), os.setgid(65534),
                                            os.setuid(65534)))
            check(r.returncode == 0, "a member of allowed_group is let in: %s" % r.stderr)
        else:
            check(False, "groupadd %s failed" % GROUP)
    finally:
        app.cleanup()
    finish()


main()
