#!/usr/bin/env python3
"""The Debian packages as an admin meets them (make test-deb; CI): apt installs
build-deb/cachebox_*.deb and cachebox-client_*.deb, the user, the directories
and the conffile are checked, an [origin] section is added to the shipped
config, and the installed binaries are started the way cachebox.service does
(User=cachebox, no capabilities, NoNewPrivileges, the same limits: these
machines have no systemd as PID 1). Then a smoke download with curl and with
cachebox-fetch, /proc/PID/status of each daemon, cacheboxctl for root, for a
member of allowed_group and for a stranger, reload, logrotate, the unit
hardening scores, a stop with BYE, a reinstall that keeps the cache, and a
purge that removes the config and the state.

It changes the machine (a package, a user, two groups), so it refuses to run
where cachebox is already installed, and its cleanup purges what it put in.
Everything it starts runs in a network namespace it creates (cbxdeb<pid>):
the box listens on 0.0.0.0 there and nowhere else."""
import glob
import hashlib
import os
import pwd
import grp
import re
import resource
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from cbtest import check, finish, make_file, proc_status, wait_until  # noqa: E402
from origins import Nginx  # noqa: E402

DEBDIR = os.environ.get("DEBDIR", os.path.join(ROOT, "build-deb"))
CONF = "/etc/cachebox/cachebox.conf"
CTL = "/usr/sbin/cacheboxctl"
OPS_GROUP = "cbxdeb-ops"   # [control] allowed_group
OPS_USER = "cbxdeb-op"     # a member of it
MAX_EXPOSURE = 2.0
# what cachebox.service gives cachebox-control (User=, LimitNOFILE=, LimitMEMLOCK=,
# NoNewPrivileges=, CapabilityBoundingSet= and AmbientCapabilities= empty)
# (limits above this machine's hard limits are lowered to them: without
# CAP_SYS_RESOURCE a test cannot raise one, and the box warns and runs with less)
def _limit(res, want):
    hard = resource.getrlimit(res)[1]
    return want if hard == resource.RLIM_INFINITY else min(want, hard)


UNIT_START = ["prlimit", "--nofile=%d" % _limit(resource.RLIMIT_NOFILE, 65536),
              "--memlock=%d" % _limit(resource.RLIMIT_MEMLOCK, 64 << 20),
              "setpriv", "--reuid=cachebox", "--regid=cachebox", "--init-groups",
              "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
              "/usr/sbin/cachebox-control", "--config", CONF]


def sh(*cmd, check_rc=True, user=None, timeout=120, env=None):
    if user:
        gid = pwd.getpwnam(user).pw_gid  # nobody's group is nogroup
        cmd = ("setpriv", "--reuid=" + user, "--regid=%d" % gid, "--init-groups") + cmd
    e = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    e.update(env or {})
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=e)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s: rc %d: %s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def installed(pkg):
    r = sh("dpkg-query", "-W", "-f=${Status}", pkg, check_rc=False)
    return r.returncode == 0 and "ok installed" in r.stdout


def debs():
    found = {}
    for name in ("cachebox", "cachebox-client"):
        got = sorted(glob.glob(os.path.join(DEBDIR, "%s_*.deb" % name)))
        if not got:
            sys.exit("test_deb: no %s_*.deb in %s: run make deb first" % (name, DEBDIR))
        found[name] = got[-1]
    return found


def pid_of(exe):
    r = sh("pgrep", "-f", "^%s " % exe, check_rc=False)
    pids = [int(p) for p in r.stdout.split()]
    return pids[0] if len(pids) == 1 else None


class Box:
    """cachebox-control as the unit starts it; its stderr is the journal."""

    def __init__(self, logpath):
        self.logpath = logpath
        self.proc = None

    def start(self):
        self.log = open(self.logpath, "a")
        self.mark = os.path.getsize(self.logpath)
        self.proc = subprocess.Popen(UNIT_START, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return wait_until(lambda: "cachebox is up" in self.text() or self.proc.poll() is not None,
                          15, "the installed box starts") and self.proc.poll() is None

    def text(self):
        with open(self.logpath, errors="replace") as f:
            f.seek(self.mark)
            return f.read()

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(25)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
        self.log.close()
        return rc


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def get_bytes(url):
    r = subprocess.run(["curl", "-sS", "--max-time", "30", "-f", url], capture_output=True,
                       timeout=40)
    return r.returncode, r.stdout


def check_layout():
    try:
        pw = pwd.getpwnam("cachebox")
    except KeyError:
        check(False, "sysusers made the cachebox user")
        return
    check(pw.pw_uid < 1000 and pw.pw_shell in ("/usr/sbin/nologin", "/sbin/nologin"),
          "cachebox is a system user without a shell (uid %d, %s)" % (pw.pw_uid, pw.pw_shell))
    check(pw.pw_dir == "/var/lib/cachebox", "its home is the state directory")
    want = {"/var/lib/cachebox": ("cachebox", 0o750), "/var/cache/cachebox": ("cachebox", 0o750),
            "/var/log/cachebox": ("cachebox", 0o750), "/run/cachebox": ("cachebox", 0o755)}
    for d, (owner, mode) in want.items():
        st = os.stat(d) if os.path.isdir(d) else None
        check(st and pwd.getpwuid(st.st_uid).pw_name == owner and st.st_mode & 0o777 == mode,
              "tmpfiles made %s, %s, %o (%s)" % (d, owner, mode,
                                                 st and "%o" % (st.st_mode & 0o777)))
    conff = sh("dpkg-query", "-W", "-f=${Conffiles}", "cachebox").stdout
    check(CONF in conff and "/etc/logrotate.d/cachebox" in conff,
          "the config and the logrotate file are conffiles")
    for exe in ("/usr/sbin/cachebox-control", "/usr/sbin/cachebox-storage",
                "/usr/sbin/cachebox-dataplane", CTL, "/usr/bin/cachebox-fetch"):
        check(os.access(exe, os.X_OK), "%s is installed" % exe)
    text = open(CONF).read()
    for key in ("listen = 0.0.0.0:8003", "state_dir = /var/lib/cachebox",
                "shard = /var/cache/cachebox", "access_log = /var/log/cachebox/access.log",
                "user = cachebox"):
        check(re.search(r"(?m)^%s\b" % re.escape(key), text), "the shipped config has %s" % key)
    for page in ("cachebox.conf.5", "cacheboxctl.8", "cachebox-control.8", "cachebox-fetch.1",
                 "cachebox-storage.8", "cachebox-dataplane.8"):
        name, sect = page.rsplit(".", 1)
        r = sh("man", "-w", sect, name, check_rc=False)
        check(r.returncode == 0 and r.stdout.strip(), "man %s %s is installed" % (sect, name))


def add_origin(port):
    """What an admin does after the install: one origin section, and a group of
    operators for cacheboxctl."""
    with open(CONF) as f:
        text = f.read()
    text = re.sub(r"(?m)^allowed_group =", "allowed_group = %s" % OPS_GROUP, text)
    text += "\n[origin origin.test]\nupstream = http://127.0.0.1:%d\n" % port
    with open(CONF, "w") as f:
        f.write(text)


def check_privileges():
    for exe, filtered in (("/usr/sbin/cachebox-control", False),
                          ("/usr/sbin/cachebox-storage", True),
                          ("/usr/sbin/cachebox-dataplane", True)):
        pid = pid_of(exe)
        if not check(pid, "%s runs (once)" % exe):
            continue
        st = proc_status(pid)
        uid = pwd.getpwnam("cachebox").pw_uid
        check(st["Uid"].split() == [str(uid)] * 4, "%s: uid cachebox (%s)" % (exe, st["Uid"]))
        check(int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0,
              "%s: no capability (CapEff %s CapPrm %s)" % (exe, st["CapEff"], st["CapPrm"]))
        check(st["NoNewPrivs"] == "1", "%s: NoNewPrivs" % exe)
        if filtered:
            check(st["Seccomp"] == "2", "%s: a seccomp filter (Seccomp %s)" % (exe, st["Seccomp"]))


def check_ctl():
    r = sh(CTL, "status", check_rc=False)
    check(r.returncode == 0 and "cachebox-storage" in r.stdout,
          "root: cacheboxctl status with the packaged default config (rc %d %s)"
          % (r.returncode, r.stderr.strip()))
    r = sh(CTL, "stats", "--json", check_rc=False, user=OPS_USER)
    check(r.returncode == 0 and r.stdout.lstrip().startswith("{"),
          "a member of allowed_group: cacheboxctl stats --json (rc %d %s)"
          % (r.returncode, r.stderr.strip()))
    r = sh(CTL, "status", check_rc=False, user="nobody")
    check(r.returncode != 0 and r.stderr.startswith("cacheboxctl"),
          "anyone else is refused, with a message (rc %d: %s)" % (r.returncode,
                                                                 r.stderr.strip()[:120]))
    st = os.stat("/run/cachebox/control.sock")
    check(st.st_mode & 0o777 == 0o660 and grp.getgrgid(st.st_gid).gr_name == OPS_GROUP,
          "the control socket is 0660, group %s (%o)" % (OPS_GROUP, st.st_mode & 0o777))


def check_security():
    for unit in ("cachebox.service", "cachebox-hugepages.service"):
        r = sh("systemd-analyze", "security", "--offline=true", "/lib/systemd/system/" + unit,
               check_rc=False)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        level = float(m.group(1)) if m else 99.0
        print("systemd-analyze security %s: %s" % (unit, m.group(1) if m else "none"))
        check(m and level <= MAX_EXPOSURE,
              "%s: exposure %.1f, at most %.1f" % (unit, level, MAX_EXPOSURE))


def check_logs(box, url):
    r = sh(CTL, "reload", check_rc=False)
    check(r.returncode == 0, "cacheboxctl reload (%s)" % r.stderr.strip())
    wait_until(lambda: "reload:" in box.text(), 5, "the reload is logged")
    alog = "/var/log/cachebox/access.log"
    wait_until(lambda: os.path.exists(alog) and os.path.getsize(alog) > 0, 5,
               "the access log has lines")
    r = sh("logrotate", "-f", "/etc/logrotate.d/cachebox", check_rc=False)
    check(r.returncode == 0, "logrotate -f /etc/logrotate.d/cachebox (%s)" % r.stderr.strip())
    check(os.path.exists(alog + ".1"), "the old log is access.log.1")
    wait_until(lambda: "access log %s reopened" % alog in box.text(), 5,
               "the postrotate SIGUSR1 reached the file server")
    rc, _ = get_bytes(url)
    wait_until(lambda: os.path.exists(alog) and os.path.getsize(alog) > 0, 5,
               "a request after the rotation is logged in the new file")
    st = os.stat(alog) if os.path.exists(alog) else None
    check(st and pwd.getpwuid(st.st_uid).pw_name == "cachebox",
          "the new access.log belongs to cachebox")


def run(work):
    pk = debs()
    r = sh("apt-get", "install", "-y", "-q", "--no-install-recommends", pk["cachebox"],
           pk["cachebox-client"], check_rc=False, timeout=600)
    if not check(r.returncode == 0, "apt install the two packages (%s)" % r.stderr[-400:]):
        return
    check_layout()
    check_security()

    sh("groupadd", "--system", OPS_GROUP)
    sh("useradd", "--system", "-M", "-s", "/usr/sbin/nologin", "-G", OPS_GROUP, OPS_USER)
    sh("usermod", "-aG", OPS_GROUP, "cachebox")

    www = os.path.join(work, "www")
    os.makedirs(www)
    nginx = Nginx(www, work)
    with open(make_file(os.path.join(www, "image.iso"), 3 * 1024 * 1024 + 12345, 7), "rb") as f:
        data = f.read()
    try:
        add_origin(nginx.port)
        box = Box(os.path.join(work, "journal.log"))
        if not box.start():
            print(box.text()[-3000:])
            return
        url = "http://127.0.0.1:8003/image.iso?cacheHostOrigin=origin.test"
        rc, got = get_bytes(url)
        check(rc == 0 and sha256(got) == sha256(data), "a miss is filled and served exactly")
        rc, got = get_bytes(url)
        check(rc == 0 and got == data, "and served again from the cache")
        out = os.path.join(work, "fetched.iso")
        r = sh("cachebox-fetch", "-q", "--no-origin", "--cache-host", "127.0.0.1:8003",
               "-o", out, "http://origin.test/image.iso", check_rc=False)
        check(r.returncode == 0 and open(out, "rb").read() == data,
              "cachebox-fetch from the client package gets it through the box (%s)"
              % r.stderr.strip()[-200:])
        check(nginx.count("image.iso") >= 1, "the origin was asked")
        check_privileges()
        check_ctl()
        check_logs(box, url)
        rc = box.stop()
        check(rc == 0, "SIGTERM stops the box cleanly (rc %s)" % rc)
        check("BYE sent" in box.text(), "the dataplane said BYE on the way out")

        # a reinstall (what an upgrade does to the files): the cache and the config stay
        asked = nginx.count("image.iso")
        r = sh("apt-get", "install", "-y", "-q", "--reinstall", pk["cachebox"], check_rc=False,
               timeout=600)
        check(r.returncode == 0, "apt reinstall (%s)" % r.stderr[-300:])
        check("[origin origin.test]" in open(CONF).read(), "the admin's config is kept")
        if box.start():
            rc, got = get_bytes(url)
            check(rc == 0 and got == data and nginx.count("image.iso") == asked,
                  "after the reinstall the object is served from the kept cache, no origin "
                  "request (%d, then %d)" % (asked, nginx.count("image.iso")))
            check(box.stop() == 0, "stopped again")
    finally:
        if box_alive():
            sh("pkill", "-TERM", "-f", "^/usr/sbin/cachebox-control ", check_rc=False)
        nginx.stop()

    r = sh("apt-get", "purge", "-y", "-q", "cachebox", "cachebox-client", check_rc=False,
           timeout=600)
    check(r.returncode == 0, "apt purge (%s)" % r.stderr[-300:])
    for path in ("/etc/cachebox", "/var/lib/cachebox", "/var/cache/cachebox",
                 "/var/log/cachebox", "/usr/sbin/cachebox-control", "/usr/bin/cachebox-fetch",
                 "/etc/logrotate.d/cachebox"):
        check(not os.path.exists(path), "purge removed %s" % path)


def box_alive():
    return sh("pgrep", "-f", "^/usr/sbin/cachebox-", check_rc=False).returncode == 0


def cleanup(work):
    if box_alive():
        sh("pkill", "-KILL", "-f", "^/usr/sbin/cachebox-", check_rc=False)
    for pkg in ("cachebox", "cachebox-client"):
        if installed(pkg) or sh("dpkg-query", "-W", pkg, check_rc=False).returncode == 0:
            sh("apt-get", "purge", "-y", "-q", pkg, check_rc=False, timeout=600)
    sh("userdel", OPS_USER, check_rc=False)
    sh("groupdel", OPS_GROUP, check_rc=False)
    sh("rm", "-rf", work, check_rc=False)


def main():
    if os.geteuid() != 0:
        sys.exit("test_deb: run as root (it installs and purges the packages)")
    ns = os.environ.get("CBXDEB_NS")
    if not ns:
        # outside: make the namespace, run inside it, delete it whatever happens
        for pkg in ("cachebox", "cachebox-client"):
            if installed(pkg):
                sys.exit("test_deb: %s is installed on this machine; this test installs and "
                         "purges it: apt purge it first" % pkg)
        debs()
        ns = "cbxdeb%d" % os.getpid()
        sh("ip", "netns", "add", ns)
        try:
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            rc = subprocess.call(["ip", "netns", "exec", ns, sys.executable, __file__],
                                 env=dict(os.environ, CBXDEB_NS=ns), timeout=1200)
        finally:
            pids = sh("ip", "netns", "pids", ns, check_rc=False).stdout.split()
            for p in pids:
                try:
                    os.kill(int(p), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check_rc=False)
        sys.exit(rc)
    work = "/tmp/cbx-deb-%d" % os.getpid()
    os.makedirs(work)
    try:
        run(work)
    finally:
        cleanup(work)
    finish()


if __name__ == "__main__":
    main()
