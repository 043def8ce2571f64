#!/usr/bin/env python3
"""The runs of bench/branch.sh (which parses the options and draws the plot): what a branch
office gains from a box, on tests/integration/netlab.py's network (nginx behind an htb-shaped
WAN, one box and N clients on the LAN).

Phases, each on a fresh name of the same random object so that "cold" is a real miss:
  direct   N clients at once straight from the origin, across the WAN;
  cold     N clients at once through a box that does not hold the object;
  warm     N clients at once through the box again (it now holds it);
  coldmiss one client through a cold box, one single-stream curl straight from the origin,
           one aria2c -x8 straight from the origin; --runs times, alternated.
For each: the bytes nginx sent (its access log, headers included: what crossed the WAN), the
time from the first start to the last finish, per-client times, and the box's CPU seconds
(utime+stime of every process in its namespace). Every client's output is checked (size and
SHA-256) after its phase, outside the timing. Writes the CSV given, prints one line per phase.

The client through the box is the command template BRANCH_CLIENT (see branch.sh --help); the
direct cold-miss comparisons are always curl and aria2c.
"""
import argparse
import csv
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import netlab  # noqa: E402
from cbtest import sha256_file as sha256  # noqa: E402

CURL = "curl -sS -f -o {out} {url}"
ARIA = ("aria2c -q -x8 -s8 -k1M --file-allocation=none --allow-overwrite=true "
        "--auto-file-renaming=false -d {dir} -o {name} {url}")
FIELDS = ("phase", "run", "client", "clients", "size", "wan_rate_bps", "stream_limit_bps",
          "wan_bytes", "wan_ratio", "last_s", "median_s", "min_s", "max_s", "agg_Mbps",
          "client_median_Mbps", "box_cpu_s", "verified")


def box_cpu(lab, box):
    """utime+stime in seconds of every process in the box's namespace (threads included)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in netlab.ns_pids(lab.ns(box.role)):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, IndexError, ValueError):
            pass
    return total / tick


def run_clients(lab, jobs, timeout):
    """Runs [(client, shell command)] at once, each in its namespace. Returns [(start, end,
    rc, stderr)] in job order (monotonic seconds)."""
    out = [None] * len(jobs)

    def one(i, client, cmd):
        t0 = time.monotonic()
        r = subprocess.run(["ip", "netns", "exec", lab.ns(client.role), "sh", "-c", cmd],
                           capture_output=True, text=True, timeout=timeout)
        out[i] = (t0, time.monotonic(), r.returncode, r.stderr.strip()[-300:])

    threads = [threading.Thread(target=one, args=(i, c, cmd)) for i, (c, cmd) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def client_cmd(template, client, url, origin_url, box, name):
    out = os.path.join(client.dir, name)
    return out, template.format(url=shlex.quote(url), origin_url=shlex.quote(origin_url),
                                box=shlex.quote(box), out=shlex.quote(out),
                                dir=shlex.quote(client.dir), name=shlex.quote(name))


def phase(lab, a, want, name, label, template, via_box, clients, run=1):
    """One phase: clients fetch /name at once; returns a CSV row (a dict)."""
    box = lab.boxes[0]
    origin_url = lab.origin.url(name)
    url = box.url(name) if via_box else origin_url
    jobs, outs = [], []
    for c in clients:
        out, cmd = client_cmd(template, c, url, origin_url, box.addr if via_box else "", name)
        jobs.append((c, cmd))
        outs.append(out)
    mark, cpu0 = lab.origin.mark(), box_cpu(lab, box)
    res = run_clients(lab, jobs, a.timeout)
    cpu = box_cpu(lab, box) - cpu0
    time.sleep(0.3)  # nginx writes its log line when a request ends: let the last one land
    wan = lab.origin.wan_bytes(mark, "/" + name)
    bad = []
    for (t0, t1, rc, err), out in zip(res, outs):
        if rc != 0:
            bad.append("rc %d: %s" % (rc, err))
        elif not os.path.exists(out) or os.path.getsize(out) != a.size or sha256(out) != want:
            bad.append("wrong bytes in " + out)
        if os.path.exists(out):
            os.unlink(out)
    durs = [t1 - t0 for t0, t1, _, _ in res]
    last = max(t1 for _, t1, _, _ in res) - min(t0 for t0, _, _, _ in res)
    med = statistics.median(durs)
    row = {"phase": label, "run": run, "client": template.split()[0], "clients": len(clients),
           "size": a.size, "wan_rate_bps": netlab.parse_rate(a.wan_rate),
           "stream_limit_bps": netlab.parse_rate(a.stream_limit) if a.stream_limit else 0,
           "wan_bytes": wan, "wan_ratio": "%.3f" % (wan / a.size), "last_s": "%.2f" % last,
           "median_s": "%.2f" % med, "min_s": "%.2f" % min(durs), "max_s": "%.2f" % max(durs),
           "agg_Mbps": "%.1f" % (len(clients) * a.size * 8 / last / 1e6),
           "client_median_Mbps": "%.1f" % (a.size * 8 / med / 1e6), "box_cpu_s": "%.2f" % cpu,
           "verified": "no: " + "; ".join(bad[:3]) if bad else "yes"}
    print("%-16s run %d  %2d client(s)  WAN %7.1f MiB (%.2fx)  last %7.2f s  median %7.2f s"
          "  %8.1f Mbit/s in all  box CPU %.1f s  %s" % (
              label, run, len(clients), wan / 1048576, wan / a.size, last, med,
              len(clients) * a.size * 8 / last / 1e6, cpu, row["verified"]), flush=True)
    return row


def medians(rows):
    """{phase: {field: median over its runs}} for the numeric fields."""
    out = {}
    for label in dict.fromkeys(r["phase"] for r in rows):
        mine = [r for r in rows if r["phase"] == label]
        out[label] = {k: statistics.median(float(r[k]) for r in mine)
                      for k in ("wan_ratio", "last_s", "median_s", "agg_Mbps",
                                "client_median_Mbps", "box_cpu_s", "clients")}
        out[label]["runs"] = len(mine)
    return out


def write_plot_csvs(med, stem):
    """Two small CSVs for bench/branch.gp: the many-clients phases and the cold-miss cases."""
    with open(stem + ".plot-many.csv", "w") as f:
        f.write("phase,last_s,median_s,wan_ratio\n")
        for label in ("many-direct", "many-cold-box", "many-warm-box"):
            if label in med:
                m = med[label]
                f.write("%s,%.2f,%.2f,%.3f\n" % (label[5:], m["last_s"], m["median_s"],
                                                  m["wan_ratio"]))
    with open(stem + ".plot-coldmiss.csv", "w") as f:
        f.write("case,Mbps,wan_ratio\n")
        for label in ("coldmiss-box", "coldmiss-curl", "coldmiss-aria2c-x8"):
            if label in med:
                f.write("%s,%.1f,%.3f\n" % (label[9:], med[label]["agg_Mbps"],
                                            med[label]["wan_ratio"]))


def summary(med, a):
    """The table on stdout: each measure, its target, met or not."""
    wan = netlab.parse_rate(a.wan_rate) / 1e6
    lines = []

    def add(what, value, target, ok):
        lines.append((what, value, target, "-" if ok is None else ("met" if ok else "NOT met")))

    for label in ("many-direct", "many-cold-box", "many-warm-box"):
        if label in med:
            m = med[label]
            add("%s: WAN bytes / size (%d clients)" % (label[5:], m["clients"]),
                "%.3f" % m["wan_ratio"], "<= 1.05" if "box" in label else "(N x size)",
                m["wan_ratio"] <= 1.05 if "box" in label else None)
            add("%s: last client done / per-client median" % label[5:],
                "%.1f s / %.1f s" % (m["last_s"], m["median_s"]), "", None)
    if "many-warm-box" in med:
        m = med["many-warm-box"]
        add("warm: served in all (box CPU cores busy)", "%.0f Mbit/s = %.1fx WAN (%.2f)"
            % (m["agg_Mbps"], m["agg_Mbps"] / wan, m["box_cpu_s"] / max(m["last_s"], 1e-9)),
            "LAN speed: > 2x WAN", m["agg_Mbps"] > 2 * wan)
    box = med.get("coldmiss-box")
    if box:
        add("cold miss through the box / WAN link", "%.0f Mbit/s = %.2fx" % (
            box["agg_Mbps"], box["agg_Mbps"] / wan), ">= 0.9x", box["agg_Mbps"] >= 0.9 * wan)
        add("cold miss: WAN bytes / size", "%.3f" % box["wan_ratio"], "<= 1.05",
            box["wan_ratio"] <= 1.05)
        for label, target in (("coldmiss-aria2c-x8", ">= 0.9x"), ("coldmiss-curl", "")):
            if label in med:
                r = box["agg_Mbps"] / med[label]["agg_Mbps"]
                add("cold miss: box / %s direct (%.0f Mbit/s)" % (label[9:],
                                                                 med[label]["agg_Mbps"]),
                    "%.2fx" % r, target or "(reported)", r >= 0.9 if target else None)
    w = max(len(x[0]) for x in lines) if lines else 10
    print("\n%-*s  %-30s  %-20s  %s" % (w, "measure", "value", "target", "verdict"))
    for what, value, target, verdict in lines:
        print("%-*s  %-30s  %-20s  %s" % (w, what, value, target, verdict))
    print("(WAN link %s each way; TCP/IP headers leave about 0.955 of it for payload)"
          % a.wan_rate)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--size", type=int, default=256 << 20)
    p.add_argument("--wan-rate", default="200mbit")
    p.add_argument("--stream-limit", default="")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--phases", default="direct cold warm coldmiss")
    p.add_argument("--piece-size", default="1M")
    p.add_argument("--client", default=CURL)
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--csv", required=True)
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    phases = a.phases.split()
    lab = netlab.Lab(boxes=1, clients=a.clients, wan_rate=a.wan_rate,
                     stream_limit=a.stream_limit or None, piece_size=a.piece_size,
                     prefix="cbnb", workdir=os.environ.get("TMPDIR"))
    rows = []
    try:
        lab.up()
        print("branch: WAN %s each way (htb), per-stream limit %s, %d client(s), %d MiB, "
              "piece %s, box client: %s" % (a.wan_rate, a.stream_limit or "none", a.clients,
                                            a.size >> 20, a.piece_size, a.client), flush=True)
        src = lab.origin.put("update.bin", a.size)
        want = sha256(src)
        every = lab.clients
        if "direct" in phases:
            rows.append(phase(lab, a, want, "update.bin", "many-direct", CURL, False, every))
        if "cold" in phases or "warm" in phases:
            lab.origin.put("update-box.bin", src=src)
            rows.append(phase(lab, a, want, "update-box.bin", "many-cold-box", a.client, True,
                              every))
            if "warm" in phases:
                rows.append(phase(lab, a, want, "update-box.bin", "many-warm-box", a.client,
                                  True, every))
        if "coldmiss" in phases:
            one = lab.clients[:1]
            for r in range(1, a.runs + 1):
                name = "coldmiss-%d.bin" % r
                lab.origin.put(name, src=src)
                rows.append(phase(lab, a, want, name, "coldmiss-box", a.client, True, one, r))
                rows.append(phase(lab, a, want, name, "coldmiss-curl", CURL, False, one, r))
                rows.append(phase(lab, a, want, name, "coldmiss-aria2c-x8", ARIA, False, one, r))
        bad = lab.boxes[0].bad_log_lines()
        if bad:
            print("branch: the box's logs carry %s" % bad)
    finally:
        lab.down()
        if a.keep:
            print("kept " + lab.dir)
        else:
            lab.remove_dir()
    with open(a.csv, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)
    if rows:
        med = medians(rows)
        write_plot_csvs(med, a.csv[:-4] if a.csv.endswith(".csv") else a.csv)
        summary(med, a)
    sys.exit(1 if any(r["verified"] != "yes" for r in rows) else 0)


if __name__ == "__main__":
    main()
