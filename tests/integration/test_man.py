#!/usr/bin/env python3
"""The man pages as built from appliance/man/*.scd (scdoc): each renders with
`man --warnings -l` without a warning and with text; cacheboxctl(8) names
every verb and limits option of `cacheboxctl --help`; cachebox.conf(5) names
every key of the config table (config/cfg_keys.c) under its section, with
the default config/cachebox.conf shows for it; cachebox-fetch(1) names every
option of `cachebox-fetch --help`. Skipped (77) where scdoc or man is not
installed, since the build then makes no pages."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import BUILD, CTL, ROOT, check, finish, run_ctl  # noqa: E402

MAN_SRC = os.path.join(ROOT, "appliance", "man")
MAN_OUT = os.path.join(BUILD, "appliance", "man")
FETCH = os.path.join(BUILD, "client", "cachebox-fetch")
PAGES = ("cachebox-fetch.1", "cacheboxctl.8", "cachebox-control.8", "cachebox.conf.5")
STUBS = ("cachebox-storage.8", "cachebox-dataplane.8")


def render(path, cwd=None):
    """The page as man shows it, wide enough that no line is broken or
    hyphenated, with groff's typographic hyphens and minus signs made ASCII."""
    env = dict(os.environ, MANWIDTH="1000", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, env=env,
                       cwd=cwd, timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    for ch in ("\u2010", "\u2011", "\u2212"):
        out = out.replace(ch, "-")
    return r.returncode, out, r.stderr.decode("utf-8", "replace")


def sections(text):
    """{"appliance": text of its section, ...} of the rendered cachebox.conf(5)."""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^\[([a-z]+)( [A-Z]+)?\]\s*$", line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif re.match(r"^[A-Z][A-Z ]+$", line):
            name = None
        elif name:
            out[name] += line + "\n"
    return out


def config_table():
    """(section, key) of every row of cfg_keys[] in config/cfg_keys.c."""
    with open(os.path.join(ROOT, "config", "cfg_keys.c")) as f:
        src = f.read()
    table = src[src.index("const struct cfg_key cfg_keys[]"):]
    table = table[:table.index("};")]
    return [(s.lower(), k) for s, k in re.findall(r'\{CFG_S_([A-Z]+),\s*"([a-z_]+)"', table)]


def config_defaults():
    """{(section, key): value} of config/cachebox.conf, which shows every key
    with its default (the [origin localhost] example's upstream is not one)."""
    out, sect = {}, None
    with open(os.path.join(ROOT, "config", "cachebox.conf")) as f:
        for line in f:
            m = re.match(r"^\[([a-z]+)", line)
            if m:
                sect = m.group(1)
                continue
            m = re.match(r"^([a-z_]+)\s*=\s*(.*?)\s*(?:[;#].*)?$", line)
            if m and sect and not (sect == "origin" and m.group(1) == "upstream"):
                out[(sect, m.group(1))] = m.group(2)
    return out


def main():
    if not shutil.which("scdoc") or not shutil.which("man"):
        print("skipped: scdoc or man not installed (no pages are built)")
        sys.exit(77)
    text = {}
    for page in PAGES:
        path = os.path.join(MAN_OUT, page)
        if not check(os.path.isfile(path), "%s is built (%s)" % (page, path)):
            continue
        rc, out, err = render(path)
        check(rc == 0 and not err.strip(), "man --warnings -l %s: no warnings (%s)" % (
            page, err.strip()[:300]))
        check(len(out.strip()) > 500, "%s renders to text (%d bytes)" % (page, len(out)))
        text[page] = out

    # The .so stubs, from a man tree as installed (man8/ beside each other).
    with tempfile.TemporaryDirectory(prefix="cbman-") as tree:
        os.mkdir(os.path.join(tree, "man8"))
        for page in STUBS + ("cachebox-control.8",):
            src = os.path.join(MAN_SRC if page in STUBS else MAN_OUT, page)
            if os.path.isfile(src):
                shutil.copy(src, os.path.join(tree, "man8", page))
        for page in STUBS:
            rc, out, err = render(os.path.join("man8", page), cwd=tree)
            check(rc == 0 and not err.strip() and "cachebox-control" in out and
                  page.rsplit(".", 1)[0] in out,
                  "%s (.so man8/cachebox-control.8) renders cachebox-control(8) (%s)" % (
                      page, err.strip()[:300]))

    # cacheboxctl(8): every verb and limits option of the usage text.
    r = run_ctl([CTL, "--help"], timeout=30)
    usage = r.stdout
    verbs_part = usage.split("verbs:\n", 1)[-1].split("\n\n", 1)[0]
    verbs = re.findall(r"(?m)^  ([a-z]+)(?: |$)", verbs_part)
    limits_part = usage.split("limits options:\n", 1)[-1]
    limit_opts = re.findall(r"(?m)^  (--[a-z-]+)", limits_part)
    globals_ = re.findall(r"(?m)^  (?:-[a-z], )?(--[a-z]+)", usage.split("options (", 1)[-1])
    check(r.returncode == 0 and len(verbs) >= 12 and len(limit_opts) >= 7,
          "cacheboxctl --help lists %d verbs, %d limits options" % (len(verbs),
                                                                   len(limit_opts)))
    ctl = text.get("cacheboxctl.8", "")
    missing = [v for v in verbs if not re.search(r"(?m)^\s+%s(\s|$)" % v, ctl)]
    check(not missing, "cacheboxctl(8) has an entry for every verb (missing: %s)" % missing)
    missing = [o for o in limit_opts + globals_ if o not in ctl]
    check(not missing, "cacheboxctl(8) names every option (missing: %s)" % missing)
    for word in ("EXIT STATUS", "allowed_group", "control socket", "--json", "--config"):
        check(word in ctl, "cacheboxctl(8) covers %s" % word)

    # cachebox.conf(5): every key of the table under its section, with its default.
    keys = config_table()
    check(len(keys) >= 50, "the config table has %d keys" % len(keys))
    conf = sections(text.get("cachebox.conf.5", ""))
    check(set(conf) >= {s for s, _ in keys},
          "cachebox.conf(5) has a section for each of %s" % sorted({s for s, _ in keys}))
    missing = [(s, k) for s, k in keys
               if not re.search(r"(?m)^\s+%s = " % k, conf.get(s, ""))]
    check(not missing, "cachebox.conf(5) describes every key under its section "
          "(missing: %s)" % missing)
    defaults = config_defaults()
    unknown = [sk for sk in defaults if sk not in keys]
    check(not unknown, "every key of config/cachebox.conf is in the table (not: %s)" % unknown)
    wrong = []
    for (s, k), v in sorted(defaults.items()):
        m = re.search(r"(?m)^\s+%s = .*\(default: ([^)]*)\)" % k, conf.get(s, ""))
        said = m.group(1) if m else None
        if said is None or not (said == v or (not v and said.startswith("empty"))):
            wrong.append("[%s] %s: page %r, config/cachebox.conf %r" % (s, k, said, v))
    check(not wrong, "cachebox.conf(5) gives config/cachebox.conf's default of every key "
          "(%s)" % "; ".join(wrong))

    # cachebox-fetch(1): every option of --help.
    r = subprocess.run([FETCH, "--help"], capture_output=True, timeout=30)
    opts = set(re.findall(r"--([a-z][a-z-]+)", r.stdout.decode()))
    fetch = text.get("cachebox-fetch.1", "")
    check(r.returncode == 0 and len(opts) >= 20, "cachebox-fetch --help lists %d options" %
          len(opts))
    missing = sorted(o for o in opts if not re.search(r"(?m)^\s+(-[a-zA-Z], )?--%s\b" % o,
                                                      fetch))
    check(not missing, "cachebox-fetch(1) has an entry for every option (missing: %s)" %
          missing)
    finish()


if __name__ == "__main__":
    main()
