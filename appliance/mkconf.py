#!/usr/bin/env python3
"""The package's /etc/cachebox/cachebox.conf, made from config/cachebox.conf
(the one commented list of every key and its default) with the production
values below: all addresses, the Debian directories, the cachebox user.
The [origin localhost] example becomes a commented one, since a real box
serves only the origins its admin adds. usage: mkconf.py IN OUT"""
import re
import sys

HEADER = """; cachebox — the appliance's configuration (/etc/cachebox/cachebox.conf).
; Add one [origin HOST] section per origin the branch downloads from (see the
; end of this file), then `systemctl reload cachebox` (or restart it for keys
; other than [limits], the TLS certificate and the discovery keys).
; man cachebox.conf(5) describes every key; each is shown with its value.
"""

PRODUCTION = {
    ("appliance", "state_dir"): "/var/lib/cachebox",
    ("appliance", "user"): "cachebox",
    ("appliance", "access_log"): "/var/log/cachebox/access.log",
    ("server", "listen"): "0.0.0.0:8003",
    ("storage", "shard"): "/var/cache/cachebox",
    ("control", "socket"): "/run/cachebox/control.sock",
}

EXAMPLE = """; One section per origin host the box may serve and fetch; nothing else is
; ever fetched (the box is not an open proxy). For example:
;
; [origin dl.example.com]
; upstream = https://dl.example.com ; http:// or https://, host[:port], no path
; ca_file =                      ; CA bundle for the upstream's TLS; empty = system store
; proxy =                        ; optional upstream HTTP proxy, host:port
; key_query = drop               ; drop | keep the query string in the cache key
; quota = 0                      ; max bytes cached for this origin, 0 = none
; timeout = 15s                  ; connect, and each read or write towards the upstream
"""


def main(src, dst):
    out, sect, done = [], None, set()
    with open(src) as f:
        lines = f.read().splitlines()
    # the development header (up to the first section) is replaced
    first = next(i for i, ln in enumerate(lines) if ln.startswith("["))
    for ln in lines[first:]:
        m = re.match(r"\[([a-z]+)( [^\]]+)?\]", ln)
        if m:
            sect = m.group(1)
            if sect == "origin":
                break
        if ln.startswith(";") and sect == "control" and "One section per origin" in ln:
            break
        k = re.match(r"([a-z_]+)(\s*=\s*)(.*?)(\s*;.*)?$", ln)
        if k and (sect, k.group(1)) in PRODUCTION:
            key = (sect, k.group(1))
            value = PRODUCTION[key]
            comment = k.group(4) or ""
            head = "%s = %s" % (k.group(1), value)
            pad = max(1, 31 - len(head)) if comment else 0
            ln = head + " " * pad + comment.lstrip() if comment else head
            done.add(key)
        out.append(ln)
    missing = set(PRODUCTION) - done
    if missing:
        sys.exit("mkconf.py: %s has no %s" % (src, sorted(missing)))
    while out and not out[-1].strip():
        out.pop()
    with open(dst, "w") as f:
        f.write(HEADER + "\n" + "\n".join(out) + "\n\n" + EXAMPLE)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
