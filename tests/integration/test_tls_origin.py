#!/usr/bin/env python3
"""TLS towards origins: an HTTPS origin (Debian's nginx with a certificate
from a test CA) is filled from byte for byte; an untrusted certificate, a
certificate for another host, and an origin offering only TLS 1.1 are
refused with a 502 that says why. Through an upstream proxy an https
origin is reached by a CONNECT tunnel, TLS end to end; a proxy refusing
the tunnel gives a 502 that names it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import Appliance, check, curl, finish, free_port, make_file, read_file  # noqa: E402
from origins import ForwardProxy, Nginx, make_test_certs  # noqa: E402


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
    ca = "ca_file = %s/ca.pem" % d
    for name in ports:
        app.add_origin(name + ".test", "https://127.0.0.1:%d" % ports[name], ca)
    proxy, refusing = ForwardProxy(), ForwardProxy(connect_status=403)
    app.add_origin("tunnel.test", "https://127.0.0.1:%d" % ports["good"], ca,
                   "proxy = 127.0.0.1:%d" % proxy.port)
    app.add_origin("shut.test", "https://127.0.0.1:%d" % ports["good"], ca,
                   "proxy = 127.0.0.1:%d" % refusing.port)
    size = 3 * 1024 * 1024 + 17
    make_file(os.path.join(www, "obj.bin"), size, seed=5)
    want = read_file(os.path.join(www, "obj.bin"))
    try:
        app.start()
        r = curl("-D", "/dev/stderr", "-o", "-",
                 app.fill_url("obj.bin", "good.test"))
        check(r.stdout == want and b"fwd=miss" in r.stderr, "https origin: cold fill exact")
        r = curl("-o", "-", app.fill_url("obj.bin", "good.test"))
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

        # https through the upstream proxy: CONNECT, then TLS to the origin.
        r = curl("-o", "-", app.fill_url("obj.bin", "tunnel.test"))
        check(r.stdout == want, "https origin via a CONNECT proxy: bytes exact")
        tunnels = set(proxy.seen)
        check(len(proxy.seen) >= 1 and tunnels == {"CONNECT 127.0.0.1:%d" % ports["good"]},
              "the proxy saw only CONNECT to the upstream: %s" % proxy.seen[:3])
        tunnelled = [q for q in nginx.requests() if q[1] == "tunnel.test"]
        check(len(tunnelled) == len(requests) > 0,
              "the origin got one request per piece through the tunnel: %d, direct %d"
              % (len(tunnelled), len(requests)))
        st, _, body = app.request("GET", "/obj.bin?cacheHostOrigin=shut.test")
        check(st == 502 and b"answered 403 to CONNECT" in body,
              "a proxy refusing CONNECT: 502 that says so (%d %s)" % (st, body[:200]))
        check(refusing.seen == ["CONNECT 127.0.0.1:%d" % ports["good"]] * len(refusing.seen)
              and refusing.seen, "the refusing proxy was asked for the tunnel only")
    finally:
        proxy.stop()
        refusing.stop()
        nginx.stop()
        app.cleanup()
    finish()


main()
