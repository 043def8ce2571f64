"""A small Debian repository for the proxy scenarios, made with dpkg-deb and
apt-ftparchive, and apt-get run against it with throwaway state (its own
lists, cache, sources and status: nothing of the machine's apt is touched)
through an HTTP proxy, as Acquire::http::Proxy configures it."""
import os
import subprocess

from cbtest import make_file


def make_repo(www, tmp):
    """A flat Debian repository under www/debian with one package."""
    pkg = os.path.join(tmp, "pkg")
    os.makedirs(os.path.join(pkg, "DEBIAN"))
    os.makedirs(os.path.join(pkg, "usr", "share", "cbx-hello"))
    make_file(os.path.join(pkg, "usr", "share", "cbx-hello", "data"), 300 * 1024, seed=5)
    with open(os.path.join(pkg, "DEBIAN", "control"), "w") as f:
        f.write("Package: cbx-hello\nVersion: 1.0\nArchitecture: all\n"
                "Maintainer: cachebox tests <tests@example.invalid>\n"
                "Description: a package served through the box\n")
    repo = os.path.join(www, "debian")
    os.makedirs(repo)
    deb = os.path.join(repo, "cbx-hello_1.0_all.deb")
    subprocess.run(["dpkg-deb", "-Znone", "--build", pkg, deb], check=True,
                   capture_output=True, timeout=60)
    for what, name in (("packages", "Packages"), ("release", "Release")):
        r = subprocess.run(["apt-ftparchive", what, "."], cwd=repo, check=True,
                           capture_output=True, timeout=60)
        with open(os.path.join(repo, name), "wb") as f:
            f.write(r.stdout)
    return deb


def apt_argv(root, proxy, base, *args):
    """apt-get with throwaway state, cache and sources under root, through the HTTP proxy
    (a URL), for the repository at base + "/debian"; args are apt-get's."""
    for d in ("state/lists/partial", "cache/archives/partial", "parts", "prefs", "log"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "sources.list"), "w") as f:
        f.write("deb [trusted=yes] %s/debian ./\n" % base)
    open(os.path.join(root, "status"), "a").close()
    opts = {"Dir::State": root + "/state", "Dir::State::status": root + "/status",
            "Dir::Cache": root + "/cache", "Dir::Etc::SourceList": root + "/sources.list",
            "Dir::Etc::SourceParts": root + "/parts", "Dir::Etc::PreferencesParts":
            root + "/prefs", "Dir::Log": root + "/log", "Debug::NoLocking": "1",
            "APT::Sandbox::User": "root", "Acquire::Languages": "none",
            "Acquire::http::Proxy": proxy}
    cmd = ["apt-get", "-q"] + [x for k, v in opts.items() for x in ("-o", "%s=%s" % (k, v))]
    return cmd + list(args)
