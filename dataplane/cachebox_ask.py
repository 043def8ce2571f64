#!/usr/bin/env python3
"""Ask cachebox boxes a discovery question (PROTOCOL.md, UDP 8004) from a shell.

A small, dependency-free client: it sends one QUERY (unicast to HOST, or a
broadcast) and prints every OFFER that arrives within --wait. It is also the
integration tests' second, independent implementation of the wire format, so
that the C codec is checked against something it did not write.

  cachebox_ask.py 127.0.0.1                         # is there a box?
  cachebox_ask.py --url http://localhost/pkg.iso 127.0.0.1
  cachebox_ask.py --id 3f1a...e9 --broadcast 192.168.1.255

cachebox-fetch (client/) does discovery properly, with DHCP and fallbacks.
"""
import argparse
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

LEN, LEN_AUTH, FLAG_AUTH = 112, 176, 1
QUERY, OFFER, ANNOUNCE, BYE = 1, 2, 3, 4
TYPE_NAMES = {QUERY: "QUERY", OFFER: "OFFER", ANNOUNCE: "ANNOUNCE", BYE: "BYE"}


def guid_bytes(text):
    """A GUID's 16 bytes are its 32 hex digits in text order (braces optional)."""
    if not text:
        return bytes(16)
    h = text.strip("{}").replace("-", "")
    if len(h) != 32:
        raise ValueError("not a GUID: %r" % text)
    return bytes.fromhex(h)


def content_id_of_url(url):
    """SHA-256 of the cache key: lower-cased host + path (plain paths only; no
    percent-decoding or dot-segment removal, which the box also applies)."""
    u = urllib.parse.urlsplit(url)
    return hashlib.sha256((u.hostname.lower() + (u.path or "/")).encode()).digest()


def read_key(path, key_id):
    for line in open(path):
        line = line.split("#", 1)[0].split()
        if len(line) == 2 and int(line[0]) == key_id:
            return bytes.fromhex(line[1])
    raise ValueError("%s: no key %d" % (path, key_id))


def sign(msg, key, key_id, ts=None, nonce=None):
    """The 64-byte trailer: key_id, timestamp, nonce, HMAC-SHA256 over bytes 0..143."""
    ts = int(time.time()) if ts is None else ts
    nonce = os.urandom(20) if nonce is None else nonce
    head = msg[:LEN] + struct.pack(">IQ", key_id, ts) + nonce
    return head + hmac.new(key, head, hashlib.sha256).digest()


def query(content_id=bytes(32), group=bytes(16), first=0, count=0, txid=None, key=None,
          key_id=0, ts=None, nonce=None):
    """A QUERY datagram (112 bytes, or 176 signed when key is given)."""
    txid = os.urandom(8) if txid is None else txid
    flags = FLAG_AUTH if key else 0
    msg = b"CBXD" + bytes([1, QUERY, flags, 0]) + txid + group + content_id
    msg += struct.pack(">II", first, count) + bytes(40)
    return sign(msg, key, key_id, ts, nonce) if key else msg


def parse(data):
    """An OFFER/ANNOUNCE/BYE as a dict, or None when it is not a well-formed one."""
    if len(data) not in (LEN, LEN_AUTH) or data[:4] != b"CBXD" or data[4] != 1:
        return None
    if data[5] not in (OFFER, ANNOUNCE, BYE) or (data[6] == FLAG_AUTH) != (len(data) == LEN_AUTH):
        return None
    have, free, port, tls, fam = struct.unpack_from(">BBHBB", data, 64)
    addr = data[70:86]
    size, psize, present = struct.unpack_from(">QII", data, 86)
    out = {
        "type": TYPE_NAMES[data[5]], "txid": data[8:16].hex(), "group_id": data[16:32].hex(),
        "content_id": data[32:64].hex(), "have": have, "free_slots": free, "port": port,
        "tls": tls, "family": fam,
        "address": socket.inet_ntop(socket.AF_INET if fam == 4 else socket.AF_INET6,
                                    addr[:4] if fam == 4 else addr),
        "object_size": size, "piece_size": psize, "pieces_present": present,
    }
    if len(data) == LEN_AUTH:
        key_id, ts = struct.unpack_from(">IQ", data, 112)
        out.update(key_id=key_id, timestamp=ts, nonce=data[124:144].hex())
    return out


def verify(data, key):
    return len(data) == LEN_AUTH and hmac.compare_digest(
        hmac.new(key, data[:144], hashlib.sha256).digest(), data[144:])


def ask(host, port, msg, wait=0.3, broadcast=False, family=socket.AF_INET, bind_dev=None):
    """Sends msg to host:port and returns the raw datagrams that answer it within wait seconds."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if broadcast:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if bind_dev:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, bind_dev.encode())
        s.sendto(msg, (host, port))
        replies, end = [], time.monotonic() + wait
        while (left := end - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                data, peer = s.recvfrom(2048)
            except socket.timeout:
                break
            replies.append((data, peer))
        return replies
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser(description="Ask cachebox boxes whether they hold an object "
                                 "(discovery, UDP 8004) and print their OFFERs as JSON lines.")
    ap.add_argument("host", help="a box's address, or a broadcast address with --broadcast")
    ap.add_argument("--port", type=int, default=8004, help="discovery port (default 8004)")
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--url", help="origin URL of the object (content ID = SHA-256 of host+path)")
    what.add_argument("--id", help="content ID, 64 hex digits (cacheboxctl list shows them)")
    ap.add_argument("--first", type=int, default=0, help="first piece wanted (default 0)")
    ap.add_argument("--count", type=int, default=0, help="pieces wanted, 0 = to the end")
    ap.add_argument("--group", default="", help="group GUID ([discovery] group_id)")
    ap.add_argument("--key-file", help="group key file, to sign the QUERY")
    ap.add_argument("--key-id", type=int, default=1, help="key to sign with (default 1)")
    ap.add_argument("--broadcast", action="store_true", help="HOST is a broadcast address")
    ap.add_argument("--wait", type=float, default=0.3, help="seconds to wait for OFFERs")
    a = ap.parse_args()
    cid = bytes(32)
    if a.url:
        cid = content_id_of_url(a.url)
    elif a.id:
        cid = bytes.fromhex(a.id)
    key = read_key(a.key_file, a.key_id) if a.key_file else None
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    msg = query(cid, guid_bytes(a.group), a.first, a.count, key=key, key_id=a.key_id)
    got = 0
    for data, peer in ask(a.host, a.port, msg, a.wait, a.broadcast, fam):
        o = parse(data)
        if not o or o["txid"] != msg[8:16].hex() or (key and not verify(data, key)):
            continue
        o["from"] = peer[0]
        print(json.dumps(o))
        got += 1
    if not got:
        print("no OFFER within %.1f s" % a.wait, file=sys.stderr)
    return 0 if got else 1


if __name__ == "__main__":
    sys.exit(main())
