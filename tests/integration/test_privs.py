#!/usr/bin/env python3
"""Each running daemon holds only the privileges it needs, read from
/proc/PID/status (Uid, CapEff, CapPrm, CapAmb, NoNewPrivs, Seccomp):

- started as root without [appliance] user (make run, the other tests):
  control, the file server and the socket dataplane all have no effective
  capability, no_new_privs, and the two serving daemons a seccomp filter;
- started as root with `user = nobody`: every process runs as nobody, the
  shard's files are nobody's, the box serves, cacheboxctl works for root,
  for a member of allowed_group and for no one else;
- the same with the file server on a port below 1024: it binds it with
  CAP_NET_BIND_SERVICE from control's ambient set and then drops it; control
  keeps it permitted and ambient (for a restart), never effective;
- bad input stops the start with one line that names the file and the fix,
  and nothing is started: a shard the user cannot write, a TLS key that
  others can read, a user that does not exist, a group key file that its
  group can read."""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (CONTROL, CTL, Appliance, check, curl, finish, make_file, run_ctl,  # noqa: E402
                    proc_status, wait_until)
from origins import make_test_certs  # noqa: E402

NOBODY = 65534
NET_BIND_SERVICE = 1 << 10
IPC_LOCK = 1 << 14


def pid_of(app, name):
    """The pid of the box's child process called name (a child of control)."""
    r = subprocess.run(["pgrep", "-P", str(app.proc.pid), "-f", name], capture_output=True,
                       text=True)
    pids = [int(p) for p in r.stdout.split()]
    return pids[0] if pids else None


def check_daemon(name, pid, uid, cap_eff, seccomp, cap_amb=0):
    st = proc_status(pid)
    check(int(st["Uid"].split()[1]) == uid, "%s runs as uid %d: Uid %s" % (name, uid, st["Uid"]))
    check(int(st["CapEff"], 16) == cap_eff,
          "%s: CapEff %s, want %x" % (name, st["CapEff"], cap_eff))
    check(int(st["CapAmb"], 16) == cap_amb, "%s: CapAmb %s, want %x" % (name, st["CapAmb"], cap_amb))
    check(st["NoNewPrivs"] == "1", "%s: NoNewPrivs %s" % (name, st["NoNewPrivs"]))
    check(st["Seccomp"] == ("2" if seccomp else "0"),
          "%s: Seccomp %s (2 = filter)" % (name, st["Seccomp"]))
    return st


def box(user=None, port=None, extra_server=(), discovery=True):
    disc = discovery if isinstance(discovery, tuple) else (
        ("enabled = true", "port = %d" % free_udp()) if discovery else ("enabled = false",))
    app = Appliance(server_extra=extra_server, discovery=disc)
    os.chmod(app.dir, 0o755)
    with open(app.conf) as f:
        text = f.read()
    if user:
        text = text.replace("log_level = info", "log_level = info\nuser = %s" % user, 1)
    if port:
        text = text.replace("listen = 127.0.0.1:%d" % app.port, "listen = 127.0.0.1:%d" % port)
        app.port = port
    with open(app.conf, "w") as f:
        f.write(text)
    os.chmod(app.conf, 0o644)
    return app


def free_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_fails(app, what, words, timeout=10):
    """cachebox-control exits non-zero at once, its log names words, and no child ran."""
    with open(app.log_path, "ab") as log:
        p = subprocess.Popen([CONTROL, "--config", app.conf], stdout=log,
                             stderr=subprocess.STDOUT)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
    text = app.logs()
    check(rc not in (0, None), "%s: the start fails (exit %s)" % (what, rc))
    for w in words:
        check(w in text, "%s: the log says %r:\n%s" % (what, w, text[-600:]))
    check(not os.path.exists(os.path.join(app.state, "storage.pid")),
          "%s: no file server was started" % what)
    errs = [ln for ln in text.splitlines() if " error: " in ln]
    check(len(errs) == 1, "%s: one error line (%d: %s)" % (what, len(errs), errs))
    os.truncate(app.log_path, 0)


def root_mode():
    app = box()
    try:
        app.start()
        wait_until(lambda: pid_of(app, "cachebox-dataplane"), 10, "the dataplane runs")
        check_daemon("control (root mode)", app.proc.pid, 0, 0, False, IPC_LOCK)
        check_daemon("storage (root mode)", app.storage_pid(), 0, 0, True)
        dp = pid_of(app, "cachebox-dataplane")
        wait_until(lambda: proc_status(dp)["Seccomp"] == "2", 10, "the dataplane's filter is on")
        check_daemon("dataplane (root mode)", dp, 0, 0, True)
    finally:
        app.cleanup()


def user_mode():
    app = box(user="nobody")
    try:
        os.makedirs(app.shard)
        start_fails(app, "a shard root owns",
                    ["[storage] shard %s is not writable by user nobody" % app.shard,
                     "fix: chown -R nobody: %s" % app.shard])
        for d in (app.state, app.shard):
            os.makedirs(d, exist_ok=True)
            os.chown(d, NOBODY, NOBODY)
        with open(app.conf, "a") as f:
            f.write("[control]\nallowed_group = staff\n")
        app.start()
        dp = None
        for _ in range(100):
            dp = pid_of(app, "cachebox-dataplane")
            if dp and proc_status(dp)["Seccomp"] == "2":
                break
            time.sleep(0.1)
        check_daemon("control (user nobody)", app.proc.pid, NOBODY, 0, False, IPC_LOCK)
        check_daemon("storage (user nobody)", app.storage_pid(), NOBODY, 0, True)
        check(dp is not None, "the dataplane runs")
        if dp:
            check_daemon("dataplane (user nobody)", dp, NOBODY, 0, True)
        src = os.path.join(app.dir, "obj.bin")
        make_file(src, 300000, 3)
        os.chmod(src, 0o644)
        app.import_file(src, "http://dl.example.com/obj.bin")
        r = curl("-s", "-o", os.path.join(app.dir, "got"), "-w", "%{http_code}",
                 app.url("/obj.bin?cacheHostOrigin=dl.example.com"))
        check(r.stdout.strip() in ("200", b"200"), "the box serves as nobody: %s" % r.stdout)
        with open(src, "rb") as a, open(os.path.join(app.dir, "got"), "rb") as b:
            check(a.read() == b.read(), "exact bytes")
        owners = {os.stat(os.path.join(dp_, f)).st_uid
                  for dp_, _, fs in os.walk(app.shard) for f in fs}
        check(owners == {NOBODY}, "the shard's files are nobody's: %s" % owners)
        for who, args, ok in (("root", [], True),
                              ("a member of allowed_group", ["--reuid", "1", "--regid", "1",
                                                             "--groups", "50"], True),
                              ("someone else", ["--reuid", "1", "--regid", "1",
                                                "--clear-groups"], False)):
            cmd = ([CTL, "--config", app.conf, "status"] if not args else
                   ["setpriv"] + args + [CTL, "--config", app.conf, "status"])
            rc = run_ctl(cmd, timeout=30).returncode
            check((rc == 0) == ok, "cacheboxctl status as %s: exit %d" % (who, rc))
        mode = os.stat(os.path.join(app.state, "control.sock")).st_mode & 0o777
        check(mode == 0o660, "the control socket is 0660: %o" % mode)
    finally:
        app.cleanup()


def low_port():
    port = None
    for p in range(980, 1020):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            port = p
            break
        except OSError:
            continue
        finally:
            s.close()
    app = box(user="nobody", port=port, discovery=False)
    try:
        for d in (app.state, app.shard):
            os.makedirs(d)
            os.chown(d, NOBODY, NOBODY)
        app.start()
        # it bound its port with the capability, then dropped it
        check_daemon("storage on port %d" % port, app.storage_pid(), NOBODY, 0, True)
        st = check_daemon("control with a child on port %d" % port, app.proc.pid, NOBODY, 0,
                          False, NET_BIND_SERVICE | IPC_LOCK)
        check(int(st["CapPrm"], 16) == NET_BIND_SERVICE | IPC_LOCK,
              "control keeps what its children need, permitted only, for restarts: CapPrm %s"
              % st["CapPrm"])
        check(app.request("GET", "/_cachebox/health")[0] == 200, "it serves on port %d" % port)
    finally:
        app.cleanup()


def bad_input():
    certs = os.path.join("/tmp", "cbx-privs-certs-%d" % os.getpid())
    os.makedirs(certs)
    try:
        make_test_certs(certs)
        key = os.path.join(certs, "good.key")
        os.chmod(key, 0o644)
        app = box(extra_server=("tls_cert = %s/good.pem" % certs, "tls_key = %s" % key),
                  discovery=False)
        try:
            start_fails(app, "a TLS key others can read",
                        ["[server] tls_key %s has mode 0644: readable by others" % key,
                         "fix: chmod 640 %s" % key])
        finally:
            app.cleanup()
        app = box(user="no-such-user-cbx", discovery=False)
        try:
            start_fails(app, "an unknown user", ["[appliance] user: no user 'no-such-user-cbx'"])
        finally:
            app.cleanup()
        kf = os.path.join(certs, "group.keys")
        with open(kf, "w") as f:
            f.write("1 " + "ab" * 32 + "\n")
        os.chmod(kf, 0o640)
        app = box(discovery=("enabled = true", "port = %d" % free_udp(),
                             "group_id = 11111111-2222-3333-4444-555555555555",
                             "group_key_file = %s" % kf))
        try:
            start_fails(app, "a group key file its group can read",
                        ["[discovery] group_key_file %s has mode 0640" % kf,
                         "fix: chmod 600 %s" % kf])
        finally:
            app.cleanup()
    finally:
        shutil.rmtree(certs, ignore_errors=True)


def main():
    root_mode()
    user_mode()
    low_port()
    bad_input()
    finish()


if __name__ == "__main__":
    main()
