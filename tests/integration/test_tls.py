#!/usr/bin/env python3
"""HTTPS and HTTP on one port: TLS 1.2 and 1.3 with the Mozilla intermediate
suites only (TLS 1.0/1.1 and non-ECDHE ciphers refused, checked with openssl
s_client), byte-exact bodies and ranges with curl and aria2c over TLS, a
pull-through fill answered over TLS, a ClientHello sent one byte at a time,
plain HTTP and garbage on the same port."""
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbtest import (Appliance, check, content_id, exchange_eof, expected_parts,  # noqa: E402
                    finish, make_file, parse_multipart, parse_responses, read_file, sha256_file)
from origins import Nginx, make_test_certs  # noqa: E402


def s_client(app, *args):
    req = b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % app.port,
                        "-CAfile", os.path.join(app.dir, "ca.pem"), "-quiet"] + list(args),
                       input=req, capture_output=True, timeout=20)
    return b"HTTP/1.1 200 OK" in r.stdout


def split_hello(app):
    """TLS handshake whose every outgoing byte is its own TCP segment."""
    ctx = ssl.create_default_context(cafile=os.path.join(app.dir, "ca.pem"))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    sock = socket.create_connection(("127.0.0.1", app.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    deadline = time.time() + 20
    first = True
    while time.time() < deadline:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            data = out.read()
            if first:
                for i in range(len(data)):  # the ClientHello, byte by byte
                    sock.send(data[i:i + 1])
                    time.sleep(0.002)  # one segment each: the pacing is the test
                first = False
            elif data:
                sock.sendall(data)
            chunk = sock.recv(65536)
            if not chunk:
                return b""
            inc.write(chunk)
    obj.write(b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    sock.sendall(out.read())
    reply = b""
    while time.time() < deadline:
        try:
            reply += obj.read(65536)
        except ssl.SSLWantReadError:
            chunk = sock.recv(65536)
            if not chunk:
                break
            inc.write(chunk)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        if b"ok\n" in reply:
            break
    sock.close()
    return reply


def main():
    app = Appliance(origins=("dl.example.com",), piece_size="64K")
    make_test_certs(app.dir)
    with open(app.conf) as f:
        conf = f.read()
    conf = conf.replace("[server]\n", "[server]\ntls_cert = %s/good.pem\ntls_key = %s/good.key\n"
                        % (app.dir, app.dir), 1)
    www = os.path.join(app.dir, "www")
    os.makedirs(www)
    nginx = Nginx(www, app.dir)
    conf += "[origin origin.test]\nupstream = http://127.0.0.1:%d\n" % nginx.port
    with open(app.conf, "w") as f:
        f.write(conf)
    ca = os.path.join(app.dir, "ca.pem")
    try:
        app.start()
        path = make_file(os.path.join(app.dir, "obj"), 3 * 1024 * 1024 + 11, seed=3)
        app.import_file(path, "http://dl.example.com/obj.bin")
        data = read_file(path)
        base = "https://127.0.0.1:%d" % app.port
        url = base + "/_cachebox/content/" + content_id("dl.example.com/obj.bin")

        r = subprocess.run(["curl", "-sS", "--cacert", ca, "-o", "-", url], capture_output=True,
                           timeout=60)
        check(r.returncode == 0 and r.stdout == data, "https: whole body exact")
        r = subprocess.run(["curl", "-sS", "--cacert", ca, "-r", "70000-170000", "-o", "-", url],
                           capture_output=True, timeout=60)
        check(r.stdout == data[70000:170001], "https: a range exact")
        r = subprocess.run(["curl", "-sS", "--cacert", ca, "-r", "0-9,-10", "-D", "/dev/stderr",
                            "-o", "-", url], capture_output=True, timeout=60)
        ctype = [ln.split(":", 1)[1].strip() for ln in r.stderr.decode().splitlines()
                 if ln.lower().startswith("content-type:")]
        got = parse_multipart(ctype[0] if ctype else "", r.stdout)
        want = expected_parts(data, [(0, 9), (len(data) - 10, len(data) - 1)])
        check(b" 206 " in r.stderr and got == want,
              "https: multipart, each part's range and bytes exact: %s"
              % [(cr, len(b)) for cr, b in got or []])
        out = os.path.join(app.dir, "aria")
        r = subprocess.run(["aria2c", "-q", "-x3", "-s3", "-k1M", "--ca-certificate=" + ca,
                            "--checksum=sha-256=" + sha256_file(path), "-d", out, "-o", "o.bin",
                            url], capture_output=True, timeout=120)
        check(r.returncode == 0, "aria2c x3 over https with sha-256: %s" % r.stderr[-300:])

        # A pull-through fill answered over TLS.
        make_file(os.path.join(www, "fill.bin"), 2 * 1024 * 1024 + 5, seed=4)
        r = subprocess.run(["curl", "-sS", "--cacert", ca, "-o", "-",
                            base + "/fill.bin?cacheHostOrigin=origin.test"],
                           capture_output=True, timeout=60)
        check(hashlib.sha256(r.stdout).hexdigest() ==
              sha256_file(os.path.join(www, "fill.bin")), "https: cold fill exact")

        # Versions and ciphers.
        check(s_client(app, "-tls1_3"), "TLS 1.3 accepted")
        check(s_client(app, "-tls1_2"), "TLS 1.2 accepted")
        check(not s_client(app, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"), "TLS 1.1 refused")
        check(not s_client(app, "-tls1", "-cipher", "DEFAULT@SECLEVEL=0"), "TLS 1.0 refused")
        check(not s_client(app, "-tls1_2", "-cipher", "AES128-SHA"), "RSA key exchange refused")
        check(not s_client(app, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA"),
              "CBC ciphers refused")
        check(s_client(app, "-tls1_3", "-groups", "X25519"), "group X25519")
        check(not s_client(app, "-tls1_3", "-groups", "ffdhe2048"), "finite-field groups refused")

        # A ClientHello in 1-byte segments.
        reply = split_hello(app)
        got = parse_responses(reply)
        check([g[0] for g in got] == [200] and got[0][2] == b"ok\n",
              "ClientHello in 1-byte segments: %r" % reply[:40])

        # reload: a new certificate for new connections, established ones kept.
        ctx = ssl.create_default_context(cafile=ca)
        kept = ctx.wrap_socket(socket.create_connection(("127.0.0.1", app.port), timeout=10),
                               server_hostname="127.0.0.1")
        health = b"GET /_cachebox/health HTTP/1.1\r\nHost: x\r\n\r\n"
        kept.sendall(health)
        first = kept.recv(4096)
        subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "new.key", "-out",
                        "new.csr", "-subj", "/CN=renewed"], cwd=app.dir, check=True,
                       capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", "new.csr", "-CA", "ca.pem", "-CAkey",
                        "ca.key", "-CAcreateserial", "-out", "new.pem", "-days", "2",
                        "-extfile", "good.ext"], cwd=app.dir, check=True, capture_output=True)
        os.replace(os.path.join(app.dir, "new.pem"), os.path.join(app.dir, "good.pem"))
        os.replace(os.path.join(app.dir, "new.key"), os.path.join(app.dir, "good.key"))
        r = app.ctl("reload", check_rc=False)
        check(r.returncode == 0, "cacheboxctl reload: " + r.stderr)
        app.wait_log("certificate %s/good.pem reloaded" % app.dir)
        kept.sendall(health)
        second = kept.recv(4096)
        kept.close()
        check([g[0] for g in parse_responses(first, partial=True)] == [200] and
              [g[0] for g in parse_responses(second, partial=True)] == [200],
              "an established TLS connection survives the reload: %r %r" % (first[:20],
                                                                          second[:20]))
        fresh = ctx.wrap_socket(socket.create_connection(("127.0.0.1", app.port), timeout=10),
                                server_hostname="127.0.0.1")
        subject = dict(x[0] for x in fresh.getpeercert()["subject"])
        fresh.close()
        check(subject.get("commonName") == "renewed", "new connections get the new certificate")
        check("certificate" in app.logs() and "reloaded" in app.logs(), "reload logged")

        # Plain HTTP on the same port, and garbage.
        st, _, body = app.request("GET", "/_cachebox/health")
        check(st == 200 and body == b"ok\n", "plain HTTP on the TLS port")
        out, closed = exchange_eof(app.port, b"\x00\x01\x02garbage\r\n\r\n")
        resp = parse_responses(out)
        check(closed and (out == b"" or [g[0] for g in resp] == [400]),
              "garbage first bytes: closed within 1 s, after nothing or one 400: %r" % out[:40])
    finally:
        nginx.stop()
        app.cleanup()
    finish()


main()
