"""Origins for the fill scenarios: Debian's nginx on loopback, a scripted
misbehaving origin whose faults are chosen by the request path, an origin
that records every header it receives, a forward proxy, and a scripted cache
host that corrupts one piece."""
import os
import random
import re
import select
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time

from cbtest import free_port, read_file, seed_of


def read_head(sock, buf):
    """Reads from sock until buf holds a whole message head. Returns (head,
    the bytes after it), or (None, buf) if the peer closed first; OSError
    (a timeout, a reset) passes through. At most 1 MiB is read for a head."""
    for _ in range(1 << 20):
        if b"\r\n\r\n" in buf:
            return tuple(buf.split(b"\r\n\r\n", 1))
        if len(buf) > 1 << 20:
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return None, buf


def make_test_certs(d):
    """A test CA (ca.pem), a server certificate for IP 127.0.0.1 (good.pem/key),
    one for another host (other.pem/key) and a self-signed one (self.pem/key)."""
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=cachebox test CA")
    for name, san in (("good", "IP:127.0.0.1"), ("other", "DNS:other.test")):
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2",
                "-extfile", name + ".ext")
    openssl("req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-days", "2",
            "-subj", "/CN=self", "-addext", "subjectAltName=IP:127.0.0.1")
    for f in os.listdir(d):
        if f.endswith(".key"):
            # private: nginx's master reads them as root, and the box refuses a key
            # that others can read
            os.chmod(os.path.join(d, f), 0o600)


class Nginx:
    """Debian's nginx serving root on 127.0.0.1:<port>, logging what it got."""

    def __init__(self, root, workdir, limit_rate=None, servers=None, port=None):
        self.root = root
        self.dir = workdir
        # nginx's workers run unprivileged: they must be able to read the files.
        for d in (workdir, root):
            os.chmod(d, 0o755)
        self.port = port or free_port()
        self.log = os.path.join(workdir, "origin-access.log")
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""daemon off;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/nginx-error.log;
events { worker_connections 128; }
http {
  log_format fill '$request|$http_host|$http_range|$http_cdn_loop|$http_user_agent|$http_cookie|$http_x_forwarded_host|$status|$body_bytes_sent';
  access_log %(log)s fill;
  %(limit)s
  %(servers)s
}
""" % {"d": workdir, "log": self.log, "port": self.port, "root": root,
       "limit": "limit_rate %s;" % limit_rate if limit_rate else "",
       "servers": servers or "server { listen 127.0.0.1:%d; root %s; }" % (self.port, root)})
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", workdir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def requests(self):
        """Every request logged, as [request line, host, range, CDN-Loop, user agent,
        cookie, x-forwarded-host, status, body bytes sent]."""
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [ln.rstrip("\n").split("|") for ln in f]

    def requests_for(self, name):
        """The logged requests for the path /name (query aside)."""
        return [q for q in self.requests() if q[0].split(" ")[1].split("?")[0] == "/" + name]

    def count(self, name):
        """How many requests for /name the origin got."""
        return len(self.requests_for(name))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def nginx_origin(app, names=("origin.test",), extra=(), **nginx_args):
    """Starts Debian's nginx on app.dir/www and configures it in app as each
    origin of names (with extra lines). Returns (nginx, www); the caller stops
    nginx. www_file(www, name) reads back a file it serves."""
    www = os.path.join(app.dir, "www")
    os.makedirs(www)
    nginx = Nginx(www, app.dir, **nginx_args)
    for name in names:
        app.add_origin(name, "http://127.0.0.1:%d" % nginx.port, *extra)
    return nginx, www


def www_file(www, name):
    return read_file(os.path.join(www, name))


def body_of(path, size):
    return random.Random(seed_of(path)).randbytes(size)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_threaded(handler, addr=("127.0.0.1", 0)):
    """A threaded TCP server for handler on addr (default 127.0.0.1, an
    ephemeral port), serving from a daemon thread. Returns (server, port)."""
    server = _Server(addr, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class CorruptingBox:
    """A scripted cache host: forwards every request to a real box at
    box_host:box_port and flips one byte in the body of the range that
    starts at offset bad_at. Listens on listen (default loopback, any port).
    Run as a script (`origins.py corrupt LISTEN_IP PORT BOX_IP BOX_PORT
    BAD_AT`) it serves until SIGTERM, e.g. in a netlab namespace."""

    def __init__(self, box_port, bad_at, box_host="127.0.0.1", listen=("127.0.0.1", 0)):
        outer = self
        self.corrupted = 0

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    self.relay()
                except OSError:  # the client set this host aside and hung up
                    pass

            def relay(self):
                self.sock = self.request
                buf = b""
                for _ in range(1000):
                    head, buf = read_head(self.sock, buf)
                    if head is None:
                        return
                    up = socket.create_connection((box_host, box_port), timeout=10)
                    up.sendall(head + b"\r\n\r\n")
                    rhead, rest = read_head(up, b"")
                    m = re.search(rb"(?i)content-length: *(\d+)", rhead)
                    n = int(m.group(1)) if m and not head.startswith(b"HEAD") else 0
                    while len(rest) < n:
                        chunk = up.recv(65536)
                        if not chunk:
                            break
                        rest += chunk
                    up.close()
                    if re.search(rb"(?i)range: *bytes=%d-" % bad_at, head) and rest:
                        rest = bytes([rest[0] ^ 0xFF]) + rest[1:]
                        outer.corrupted += 1
                    self.sock.sendall(rhead + b"\r\n\r\n" + rest)

        self.server, self.port = serve_threaded(H, listen)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class BadOrigin:
    """Serves /<mode>/<name> objects of `size` bytes; from the third piece on
    it misbehaves as `mode` says ("flaky": each piece's first answer is cut
    short). Counts requests per path."""

    def __init__(self, size, piece, timeout_s=1.0):
        self.size, self.piece, self.stall = size, piece, timeout_s * 3
        self.counts = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(10)
                buf = b""
                for _ in range(100000):
                    try:
                        head, buf = read_head(self.request, buf)
                    except OSError:
                        return
                    if head is None or not outer.answer(self.request, head.decode("latin-1")):
                        return

        self.server, self.port = serve_threaded(Handler)

    def count(self, path):
        with self.lock:
            return self.counts.get(path, 0)

    def answer(self, sock, head):
        line = head.split("\r\n")[0]
        path = line.split(" ")[1]
        m = re.search(r"(?i)\r\nrange: bytes=(\d+)-(\d+)", head)
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            key = (path, m.group(1))
            self.counts[key] = self.counts.get(key, 0) + 1
            attempt = self.counts[key]
        mode = path.split("/")[1]
        data = body_of(path, self.size)
        first, last = int(m.group(1)), min(int(m.group(2)), self.size - 1)
        piece = first // self.piece
        body = data[first:last + 1]
        etag = '"v1"'
        bad = piece >= 2

        def send_head(status, length, crange=None, etag=etag):
            h = "HTTP/1.1 %s\r\nContent-Length: %d\r\nETag: %s\r\n" % (status, length, etag)
            if crange:
                h += "Content-Range: bytes %s\r\n" % crange
            sock.sendall((h + "\r\n").encode())

        good_range = "%d-%d/%d" % (first, last, self.size)
        if mode == "flaky" and attempt == 1 and piece >= 1:
            bad, mode = True, "close-mid"  # every piece's first answer is cut short
        if not bad or mode in ("good", "flaky"):
            send_head("206 Partial Content", len(body), good_range)
            sock.sendall(body)
            return True
        if mode == "close-mid":
            send_head("206 Partial Content", len(body), good_range)
            sock.sendall(body[:len(body) // 2])
            return False
        if mode == "reset":
            send_head("206 Partial Content", len(body), good_range)
            sock.sendall(body[:len(body) // 3])
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if mode == "stall":
            send_head("206 Partial Content", len(body), good_range)
            sock.sendall(body[:100])
            time.sleep(self.stall)
            return False
        if mode == "status200":
            send_head("200 OK", len(data))
            sock.sendall(data)
            return True
        if mode == "wrong-range":
            send_head("206 Partial Content", len(body),
                      "%d-%d/%d" % (first + 1, last + 1, self.size))
            sock.sendall(body)
            return True
        if mode == "extra":
            send_head("206 Partial Content", len(body), good_range)
            sock.sendall(body + b"0123456789")
            return True
        if mode == "long-cl":
            send_head("206 Partial Content", len(body) + 10, good_range)
            sock.sendall(body + b"0123456789")
            return True
        if mode == "500":
            send_head("500 Internal Server Error", 0)
            return True
        if mode == "etag-change":
            send_head("206 Partial Content", len(body), good_range, etag='"v2"')
            sock.sendall(body)
            return True
        raise RuntimeError("unknown mode " + mode)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class HeaderOrigin:
    """A scripted origin that records every request it receives whole: the
    request line and each header as sent, in order (self.seen, a list of
    (request line, [(name, value)])). GET /ok/<name> serves body_of(path,
    size) (206 for a Range, 200 without); GET /status/<code>/<name> answers
    <code> with a small page, unless the path is in self.fixed, then it is
    served like /ok/. One request per connection is enough for the box, but
    keep-alive is honoured."""

    def __init__(self, size):
        self.size = size
        self.seen = []
        self.fixed = set()
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(10)
                buf = b""
                for _ in range(10000):
                    try:
                        head, buf = read_head(self.request, buf)
                        if head is None or not outer.answer(self.request, head):
                            return
                    except OSError:
                        return

        self.server, self.port = serve_threaded(Handler)

    def requests_for(self, path):
        """[(request line, headers)] for the path (query aside)."""
        with self.lock:
            return [r for r in self.seen if r[0].split(" ")[1].split("?")[0] == path]

    def answer(self, sock, head):
        lines = head.decode("latin-1").split("\r\n")
        headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:]]
        with self.lock:
            self.seen.append((lines[0], headers))
        path = lines[0].split(" ")[1].split("?")[0]
        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "status" and path not in self.fixed:
            page = b"error page %s\n" % parts[2].encode()
            sock.sendall(b"HTTP/1.1 %s Scripted\r\nContent-Length: %d\r\n"
                         b"Cache-Control: max-age=3600\r\nETag: \"e\"\r\n\r\n%s"
                         % (parts[2].encode(), len(page), page))
            return True
        if parts[1] not in ("ok", "status"):
            sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return True
        data = body_of(path, self.size)
        rng = [v for k, v in headers if k.lower() == "range"]
        m = re.match(r"bytes=(\d+)-(\d+)$", rng[0]) if rng else None
        if m:
            first, last = int(m.group(1)), min(int(m.group(2)), self.size - 1)
            body = data[first:last + 1]
            sock.sendall(b"HTTP/1.1 206 Partial Content\r\nContent-Length: %d\r\n"
                         b"Content-Range: bytes %d-%d/%d\r\nETag: \"v1\"\r\n\r\n"
                         % (len(body), first, last, self.size) + body)
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: \"v1\"\r\n\r\n"
                         % self.size + data)
        return True

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ForwardProxy:
    """A minimal HTTP forward proxy for the `proxy =` key: takes absolute-form
    requests (RFC 9112 §3.2.2), forwards them in origin-form to the named
    host:port over one connection per client connection, relays the answers.
    Counts the requests it saw."""

    def __init__(self, connect_status=200):
        self.seen = []
        self.connect_status = connect_status
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(10)
                upstream = None
                buf = b""
                try:
                    for _ in range(100000):
                        head, buf = read_head(self.request, buf)
                        if head is None:
                            return
                        lines = head.decode("latin-1").split("\r\n")
                        method, target, version = lines[0].split(" ")
                        if method == "CONNECT":
                            outer.seen.append("CONNECT " + target)
                            outer.tunnel(self.request, target, buf)
                            return
                        m = re.match(r"http://([^/:]+):(\d+)(/.*)", target)
                        if not m:
                            self.request.sendall(b"HTTP/1.1 400 Bad Request\r\n"
                                                 b"Content-Length: 0\r\n\r\n")
                            return
                        outer.seen.append(target)
                        if upstream is None:
                            upstream = socket.create_connection((m.group(1), int(m.group(2))),
                                                                timeout=10)
                        req = "%s %s %s\r\n%s\r\n\r\n" % (method, m.group(3), version,
                                                          "\r\n".join(lines[1:]))
                        upstream.sendall(req.encode("latin-1"))
                        rhead, body = read_head(upstream, b"")
                        if rhead is None:
                            return
                        m = re.search(rb"(?i)content-length: (\d+)", rhead)
                        length = int(m.group(1)) if m and method != "HEAD" else 0
                        for _ in range(length):  # each recv brings a byte or more
                            if len(body) >= length:
                                break
                            chunk = upstream.recv(65536)
                            if not chunk:
                                return
                            body += chunk
                        self.request.sendall(rhead + b"\r\n\r\n" + body)
                except OSError:
                    return
                finally:
                    if upstream:
                        upstream.close()

        self.server, self.port = serve_threaded(Handler)

    def tunnel(self, client, target, early):
        """CONNECT (RFC 9110 §9.3.6): answers connect_status; on 200 relays
        bytes both ways until either side closes (10 s idle limit)."""
        if self.connect_status != 200:
            client.sendall(b"HTTP/1.1 %d Refused\r\nContent-Length: 0\r\n\r\n"
                           % self.connect_status)
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=10)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if early:
            upstream.sendall(early)
        socks = [client, upstream]
        try:
            for _ in range(1 << 20):  # a tunnel carries tests' objects: well below this
                ready, _, _ = select.select(socks, [], [], 10)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is client else client).sendall(data)
        finally:
            upstream.close()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _main(argv):
    """origins.py corrupt LISTEN_IP PORT BOX_IP BOX_PORT BAD_AT: a CorruptingBox until SIGTERM,
    then the number of ranges it corrupted on stdout."""
    import signal as sig
    if len(argv) != 6 or argv[0] != "corrupt":
        sys.exit("usage: origins.py corrupt LISTEN_IP PORT BOX_IP BOX_PORT BAD_AT")
    box = CorruptingBox(int(argv[4]), int(argv[5]), argv[3], (argv[1], int(argv[2])))
    done = threading.Event()
    sig.signal(sig.SIGTERM, lambda *_: done.set())
    print("listening", flush=True)
    done.wait(3600)
    box.stop()
    print("corrupted %d" % box.corrupted, flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
