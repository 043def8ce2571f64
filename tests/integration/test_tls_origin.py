#!/usr/bin/env python3
"""TLS towards origins: an HTTPS origin (Debian's nginx with a certificate
from a test CA) is filled from byte for byte; an untrusted certificate, a
certificate for another host, and an origin offering only TLS 1.1 are
refused with a 502 that says why."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, curl, finish, free_port, make_file  # noqa: E402
from origins import Nginx, make_test_certs  # noqa: E402


def main():
    app = Appliance(origins=())
    www = os.path.join(app.dir, "www")
    os.makedirs(www)
    make_test_certs(app.dir)
    ports = {k: free_port() for k in ("good", "other", "self", "old")}
    d = app.dir
    servers = "\n".join([
        "server { listen 127.0.0.1:%d ssl; root %s; ssl_certificate %s/good.pem; "
        "ssl_certificate_key %s/good.key; }" % (ports["good"], www, d, d),
        "server { listen 127.0.0.1:%d ssl; root %s; ssl_certificate %s/other.pem; "
        "ssl_certificate_key %s/other.key; }" % (ports["other"], www, d, d),
        "server { listen 127.0.0.1:%d ssl; root %s; ssl_certificate %s/self.pem; "
        "ssl_certificate_key %s/self.key; }" % (ports["self"], www, d, d),
        "server { listen 127.0.0.1:%d ssl; root %s; ssl_certificate %s/good.pem; "
        "ssl_certificate_key %s/good.key; ssl_protocols TLSv1.1; "
        "ssl_ciphers DEFAULT@SECLEVEL=0; }" % (ports["old"], www, d, d),
    ])
    nginx = Nginx(www, d, servers=servers, port=ports["good"])
    with open(app.conf, "a") as f:
        for name in ports:
            f.write("[origin %s.test]\nupstream = https://127.0.0.1:%d\nca_file = %s/ca.pem\n"
                    % (name, ports[name], d))
    size = 3 * 1024 * 1024 + 17
    make_file(os.path.join(www, "obj.bin"), size, seed=5)
    want = open(os.path.join(www, "obj.bin"), "rb").read()
    try:
        app.start()
        r = curl("-D", "/dev/stderr", "-o", "-",
                 app.url("/obj.bin?cacheHostOrigin=good.test"))
        check(r.stdout == want and b"fwd=miss" in r.stderr, "https origin: cold fill exact")
        r = curl("-o", "-", app.url("/obj.bin?cacheHostOrigin=good.test"))
        check(r.stdout == want, "https origin: then a hit")
        refused = {"other": "address mismatch", "self": "self-signed certificate",
                   "old": "TLS handshake"}
        for name, why in refused.items():
            st, _, body = app.request("GET", "/obj.bin?cacheHostOrigin=%s.test" % name)
            check(st == 502 and why in body.decode(errors="replace"),
                  "%s: refused with 502 (%d %s)" % (name, st, body[:200]))
        requests = nginx.requests()
        check(all(q[1] == "good.test" for q in requests),
              "only the trusted origin was asked for content")
    finally:
        nginx.stop()
        app.cleanup()
    finish()


main()
