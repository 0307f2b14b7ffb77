#!/usr/bin/env python3
"""client.py - a small atpd client in Python, from docs/PROTOCOL.md alone.

Needs python3-msgpack (Debian: apt-get install python3-msgpack) and nothing
else: it speaks nng's SP protocols over plain TCP itself (an 8-byte
handshake, then messages framed by a 64-bit big-endian length), so no nng
binding is required. Each class is one connection:

    Client("tcp://127.0.0.1:7450")    queries and reservations (REQ -> REP)
    Source("tcp://127.0.0.1:7451", "my-feed")
                                      stock messages of one source (PUB -> SUB)
    Feed("tcp://127.0.0.1:7452", region="us-east")
                                      the change feed (SUB <- PUB)

When atpd has `auth.tokens` (docs/SECURITY.md), give the client's token:
Client(url, token="...") puts it into every request map; the command takes
it from ATP_TOKEN, as atpctl does. The change feed (Feed) carries none.

As a command (against `make run`; ATPD_ENDPOINT and ATPD_FEED name other
URLs, as for atpctl):

    python3 docs/examples/client.py atp SKU-1 us-east
    python3 docs/examples/client.py reserve cart-7 SKU-1 us-east 2
    python3 docs/examples/client.py watch us-east

tests/integration/test_example_client.py runs these functions against a
real atpd in `make test`.
"""

import os
import socket
import struct
import sys
import time

import msgpack

SP_PUB, SP_SUB, SP_REQ, SP_REP = 0x20, 0x21, 0x30, 0x31


class AtpError(Exception):
    """A reply {"ok": false, "error": {...}}: code, name, message, line."""

    def __init__(self, error):
        self.code = error.get("code")
        self.name = error.get("name")
        self.line = error.get("line")  # cart, reserve, release: 0-based line
        super().__init__("%s (%s): %s" % (self.name, self.code, error.get("message")))


class _SP:
    """One SP-over-TCP connection: handshake, then length-prefixed messages."""

    def __init__(self, url, proto, peer, timeout_s):
        if not url.startswith("tcp://"):
            raise ValueError("only tcp://HOST:PORT URLs: %r" % url)
        host, port = url[6:].rsplit(":", 1)
        self.timeout_s = timeout_s
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00")
        hello = self._read(8)
        if hello[:4] != b"\x00SP\x00" or struct.unpack(">H", hello[4:6])[0] != peer:
            self.close()
            raise ConnectionError("%s is not the socket this needs (SP header %r)"
                                  % (url, hello))

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))  # bounded by the socket timeout
            if not chunk:
                raise ConnectionError("atpd closed the connection")
            buf += chunk
        return buf

    def send(self, payload):
        self.sock.sendall(struct.pack(">Q", len(payload)) + payload)

    def recv(self, timeout_s=None):
        self.sock.settimeout(self.timeout_s if timeout_s is None else timeout_s)
        n = struct.unpack(">Q", self._read(8))[0]
        return self._read(n)

    def close(self):
        self.sock.close()


class Client(_SP):
    """Queries and reservations. Every method returns the reply map or raises
    AtpError; a refused reserve is an answer ("granted": false), not an error."""

    def __init__(self, url="tcp://127.0.0.1:7450", timeout_s=5.0, token=None):
        super().__init__(url, SP_REQ, SP_REP, timeout_s)
        self.next_id = int(time.time()) & 0x7FFFFFFF
        self.token = token  # sent as the map's "token" (docs/PROTOCOL.md)

    def request(self, body):
        if self.token is not None:
            body = dict(body, token=self.token)
        # REQ puts a 32-bit request id with the high bit set before the body;
        # REP echoes it. A reply with another id belongs to an older request.
        self.next_id = (self.next_id + 1) & 0x7FFFFFFF
        rid = struct.pack(">I", 0x80000000 | self.next_id)
        self.send(rid + msgpack.packb(body, use_bin_type=True))
        while True:
            msg = self.recv()
            if msg[:4] == rid:
                break
        reply = msgpack.unpackb(msg[4:], raw=False, strict_map_key=False)
        if reply.get("ok") is not True:
            raise AtpError(reply.get("error", {}))
        return reply

    def atp(self, sku, region, channel=None):
        body = {"op": "atp", "sku": sku, "region": region}
        if channel is not None:
            body["channel"] = channel
        return self.request(body)

    def cart(self, lines, channel=None):
        """lines: [(sku, region, qty)]; reply["available"] for the whole cart."""
        body = {"op": "cart", "lines": [list(l) for l in lines]}
        if channel is not None:
            body["channel"] = channel
        return self.request(body)

    def reserve(self, rid, lines, ttl_ms=None, channel=None):
        body = {"op": "reserve", "id": rid, "lines": [list(l) for l in lines]}
        if ttl_ms is not None:
            body["ttl_ms"] = ttl_ms
        if channel is not None:
            body["channel"] = channel
        return self.request(body)

    def commit(self, rid, order_ref=None):
        body = {"op": "commit", "id": rid}
        if order_ref is not None:
            body["order_ref"] = order_ref
        return self.request(body)

    def release(self, rid, lines=None):
        """lines: [(sku, region)] to release those lines; None: all of them."""
        body = {"op": "release", "id": rid}
        if lines is not None:
            body["lines"] = [list(l) for l in lines]
        return self.request(body)

    def reservation(self, rid):
        return self.request({"op": "reservation", "id": rid})

    def scan(self, region, limit=1000):
        """Every SKU of region, page by page (a generator of items)."""
        cursor = 0
        while cursor is not None:
            page = self.request({"op": "scan", "region": region, "cursor": cursor,
                                 "limit": limit})
            yield from page["items"]
            cursor = page["next_cursor"]

    def sources(self):
        return {s["id"]: s for s in self.request({"op": "sources"})["sources"]}

    def status(self):
        return self.request({"op": "status"})


class Source(_SP):
    """A source adapter: numbered stock messages. Keep seq across restarts of
    the adapter, and resend what atpd asks for (PROTOCOL.md, "Resync"; not
    shown here). Pub/sub gives no reply: read `sources` to see the effect."""

    DELTA, SET, HEARTBEAT = 1, 2, 3
    ON_HAND, ALLOCATED, HELD = 0, 1, 2

    def __init__(self, url, source_id, first_seq=1, timeout_s=5.0):
        super().__init__(url, SP_PUB, SP_SUB, timeout_s)
        self.source_id = source_id
        self.seq = first_seq - 1

    def publish(self, events):
        """One message [1, source, seq, ts_ms, events]; returns its seq."""
        self.seq += 1
        msg = [1, self.source_id, self.seq, int(time.time() * 1000), events]
        self.send(msgpack.packb(msg, use_bin_type=True))
        return self.seq

    def set(self, sku, location, bucket, value):
        return self.publish([[self.SET, sku, location, bucket, value]])

    def heartbeat(self):
        return self.publish([[self.HEARTBEAT]])


class Feed(_SP):
    """The change feed, everything or one region or one SKU of a region.
    nng's SUB filters on the subscriber's side, so with raw SP every message
    arrives and this class keeps those with the topic prefix."""

    def __init__(self, url="tcp://127.0.0.1:7452", region=None, sku=None, timeout_s=5.0):
        super().__init__(url, SP_SUB, SP_PUB, timeout_s)
        self.prefix = b"atp\0"
        if region is not None:
            self.prefix += region.encode() + b"\0"
            if sku is not None:
                self.prefix += sku.encode() + b"\0"  # the NUL keeps A10 out of A1

    def next(self, timeout_s=None):
        """The next message of the subscription: (region, sku, body map)."""
        while True:
            msg = self.recv(timeout_s)
            if not msg.startswith(self.prefix):
                continue
            _, region, sku, body = msg.split(b"\0", 3)
            return region.decode(), sku.decode(), msgpack.unpackb(body, raw=False)


def main(argv):
    if len(argv) < 2:
        print(__doc__.split("\n\n")[2])
        return 2
    c = Client(os.environ.get("ATPD_ENDPOINT") or "tcp://127.0.0.1:7450",
               token=os.environ.get("ATP_TOKEN") or None)
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "atp":
            a = c.atp(*args)
            print("%s @ %s: ATP %d (supply %d, reserved %d, buffer %d%s)"
                  % (a["sku"], a["region"], a["atp"], a["supply"], a["reserved"],
                     a["buffer"], ", STALE" if a["stale"] else ""))
        elif cmd == "reserve":
            rid, sku, region, qty = args
            r = c.reserve(rid, [(sku, region, int(qty))], ttl_ms=15 * 60 * 1000)
            print("granted" if r["granted"] else "refused: %r" % r["lines"])
        elif cmd == "watch":
            f = Feed(os.environ.get("ATPD_FEED") or "tcp://127.0.0.1:7452",
                     region=args[0] if args else None)
            while True:
                region, sku, body = f.next(timeout_s=3600)
                print(region, sku, [(ch["channel"], ch["atp"]) for ch in body["channels"]])
        else:
            print("unknown command %r" % cmd)
            return 2
    except AtpError as e:
        print("error:", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
