#!/usr/bin/env python3
"""The status page in a real browser: Debian's Chromium, headless, at a
phone's width (390 x 844), driven over the DevTools protocol
(python3-websocket), loads / of metrics_listen from a box that is serving
fills and hits from a real nginx. Checks:

- the page asks for nothing but its own origin (no external asset) and
  refreshes by itself;
- every figure it shows from the stats table (each element with data-stat)
  equals `cacheboxctl stats --json` within one refresh: taken with the box
  quiet, a CLI snapshot, one more refresh, the DOM, a second snapshot; each
  value lies between the two;
- the top objects, the shards with their limits, the processes and the
  bandwidth graph are drawn, and a fill in progress shows up with its pieces;
- nothing is wider than the phone's screen;
- /status.json's stats are what the CLI prints.

It saves the screenshot to STATUS_SHOT (default: the scenario's directory);
docs/status-page.png is one of these."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, finish, free_port, make_file, wait_until  # noqa: E402
from origins import nginx_origin  # noqa: E402

try:
    import websocket  # python3-websocket
except ImportError:  # a python3 that is not Debian's: look where Debian put it
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websocket
    except ImportError:
        websocket = None

WIDTH, HEIGHT = 390, 844


class Browser:
    """Chromium with a DevTools port, one page, commands over its websocket."""

    def __init__(self, url):
        self.dir = tempfile.mkdtemp(prefix="cbx-chrome-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--disable-background-networking",
             "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=%d" % self.port, "--remote-allow-origins=*",
             "--user-data-dir=%s" % self.dir, "--window-size=%d,%d" % (WIDTH, HEIGHT),
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ws = None
        self.seq = 0
        self.events = []
        targets = wait_until(self._targets, 30, "Chromium opens its DevTools port")
        page = [t for t in targets or [] if t.get("type") == "page"]
        if not page:
            raise RuntimeError("no page target")
        self.ws = websocket.create_connection(page[0]["webSocketDebuggerUrl"], timeout=20)
        self.call("Network.enable")
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
                  deviceScaleFactor=1, mobile=True)
        self.call("Page.navigate", url=url)

    def _targets(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % self.port,
                                        timeout=2) as r:
                return json.load(r)
        except OSError:
            return None

    def call(self, method, **params):
        self.seq += 1
        self.ws.send(json.dumps({"id": self.seq, "method": method, "params": params}))
        for _ in range(10000):
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.seq:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self.events.append(msg)
        raise RuntimeError("%s: no answer" % method)

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def requested(self):
        self.js("1")  # drains the events that came before
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def close(self):
        if self.ws:
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


DOM_FIGURES = """(() => {
  const out = {};
  for (const el of document.querySelectorAll('[data-stat]'))
    if (el.dataset.value !== undefined) out[el.dataset.stat] = el.dataset.value;
  return out;
})()"""


def refreshes(b):
    return int(b.js("document.body ? Number(document.body.dataset.refreshes || 0) : 0") or 0)


def cli_value(stats, key):
    v = stats
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def as_number(v):
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    return None


def compare(dom, s1, s2):
    """Each DOM figure lies between the two CLI snapshots."""
    bad = []
    for key, shown in dom.items():
        a, b = cli_value(s1, key), cli_value(s2, key)
        if a is None or b is None:
            bad.append("%s: not in stats --json" % key)
            continue
        na, nb = as_number(a), as_number(b)
        if na is None:  # text (the month)
            if shown not in (str(a), str(b)):
                bad.append("%s: %r, CLI %r..%r" % (key, shown, a, b))
            continue
        v = float(shown)
        lo, hi = min(na, nb), max(na, nb)
        if not (lo - 1e-6 <= v <= hi + 1e-6):
            bad.append("%s: page %s, CLI %s..%s" % (key, shown, a, b))
    return bad


def main():
    if not shutil.which("chromium") or websocket is None:
        check(False, "chromium and python3-websocket are installed (make deps)")
        finish()
    app = Appliance(origins=(), storage_extra=("min_free_space = 0",))
    nginx, www = nginx_origin(app, limit_rate="64k")
    browser = None
    stop = threading.Event()
    try:
        app.start()
        base = "http://" + app.metrics_addr()
        names = []
        for i in range(4):
            make_file(os.path.join(www, "pkg%d.deb" % i), 96 * 1024 * (i + 1), 40 + i)
            names.append("pkg%d.deb" % i)
        make_file(os.path.join(www, "slow.iso"), 4 * 1024 * 1024, 77)

        def traffic():
            for r in range(40):
                if stop.is_set():
                    return
                for k, n in enumerate(names):
                    if k <= r % 4:
                        app.request("GET", "/%s?cacheHostOrigin=origin.test" % n, timeout=20)
                time.sleep(0.1)

        load = threading.Thread(target=traffic, daemon=True)
        load.start()
        browser = Browser(base + "/")
        wait_until(lambda: refreshes(browser) >= 2, 20, "the page loads and refreshes by itself")
        # a fill in progress: nginx sends each connection 64 kB/s, one piece a second
        slow = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--limit-rate", "100k",
                                 "--max-time", "40", app.url("/slow.iso?cacheHostOrigin=origin.test")])
        fill_rows = "[...document.querySelectorAll('#filltable tbody tr')].map(r => r.innerText)"
        wait_until(lambda: any("slow.iso" in r for r in browser.js(fill_rows)), 15,
                   "the fill in progress is listed")
        row = [r for r in browser.js(fill_rows) if "slow.iso" in r]
        check(row and re.search(r"\b\d+ / 64 \(\d+ %\)", row[0]),
              "it shows its pieces, of 64 (%r)" % row)
        check(int(browser.js("Number(document.getElementById('fills_now').textContent)") or 0)
              >= 1, "fills in progress counted")
        load.join(60)
        stop.set()
        slow.terminate()
        slow.wait(10)
        # quiet: the slow fill goes on at the origin's pace until it completes
        wait_until(lambda: app.stats()["fills_started"] ==
                   app.stats()["fills_done"] + app.stats()["fills_failed"], 60,
                   "every fill has ended")
        time.sleep(0.3)

        s1 = app.stats()
        n = refreshes(browser)
        wait_until(lambda: refreshes(browser) > n, 10, "one more refresh")
        dom = browser.js(DOM_FIGURES)
        s2 = app.stats()
        check(len(dom) >= 30, "the page shows %d figures of the stats table" % len(dom))
        bad = compare(dom, s1, s2)
        check(not bad, "every figure on the page equals stats --json within one refresh (%s)"
              % bad[:4])
        check(dom.get("requests") and float(dom["requests"]) > 40 and
              float(dom.get("bytes_served_from_cache", 0)) > 0,
              "with traffic: %s requests, %s bytes from the cache"
              % (dom.get("requests"), dom.get("bytes_served_from_cache")))

        tops = browser.js("[...document.querySelectorAll('#toptable tbody tr')]"
                          ".map(r => r.cells[0].textContent)")
        want = [o["key"] for o in s2["top_objects"]]
        check(tops == want and len(want) >= 4, "the top objects, in order (%s)" % tops)
        shards = browser.js("[...document.querySelectorAll('#shardlist [data-shard]')]"
                            ".map(d => [Number(d.dataset.cached), Number(d.dataset.limit)])")
        check(shards == [[s["cached_bytes"], s["limit_bytes"]] for s in s2["shards"]],
              "each shard against its limit (%s)" % shards)
        procs = browser.js("[...document.querySelectorAll('#proctable tbody tr')]"
                           ".map(r => r.cells[0].textContent + ' ' + r.cells[1].textContent)")
        check(len(procs) == 2 and procs[1] == "cachebox-storage %d" % app.storage_pid(),
              "control and the file server with their pids (%s)" % procs)
        lines = browser.js("document.querySelectorAll('#graph polyline').length")
        check(lines >= 2, "the bandwidth graph draws served and origin lines (%d)" % lines)

        width = browser.js("[document.documentElement.scrollWidth, window.innerWidth]")
        check(width[0] <= width[1] == WIDTH,
              "nothing is wider than the phone's %d px (page %d px)" % (WIDTH, width[0]))
        asked = browser.requested()
        foreign = [u for u in asked if not u.startswith(base + "/")]
        check(asked and not foreign, "the page loads nothing from elsewhere (%s)" % foreign[:3])

        with urllib.request.urlopen(base + "/status.json", timeout=5) as r:
            page_json = json.load(r)
        s3 = app.stats()
        for k in ("requests", "bytes_served", "hits", "objects", "top_objects", "shards"):
            check(page_json["stats"][k] == s3[k], "/status.json's %s is stats --json's" % k)
        check(len(page_json["history"]["samples"]) >= 2, "the history holds samples")
        for method, path, want in (("GET", "/nope", 404), ("POST", "/", 405)):
            req = urllib.request.Request(base + path, method=method, data=b"" if
                                         method == "POST" else None)
            try:
                urllib.request.urlopen(req, timeout=5)
                got, body = 200, b""
            except urllib.error.HTTPError as e:
                got, body = e.code, e.read()
            check(got == want and body.startswith(b"%d: GET /metrics" % want),
                  "%s %s: %d and a line saying what there is (%d %r)"
                  % (method, path, want, got, body[:60]))

        shot = os.environ.get("STATUS_SHOT") or os.path.join(app.dir, "status-page.png")
        png = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        data = base64.b64decode(png["data"])
        with open(shot, "wb") as f:
            f.write(data)
        check(data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000,
              "a screenshot (%d bytes, %s)" % (len(data), shot))
        app.check_logs_clean()
    finally:
        stop.set()
        if browser:
            browser.close()
        nginx.stop()
        app.cleanup()
    finish()


if __name__ == "__main__":
    main()
