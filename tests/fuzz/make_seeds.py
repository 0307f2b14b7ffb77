#!/usr/bin/python3
"""make_seeds.py - writes the seed corpora of the fuzz targets
(tests/fuzz/corpus/<target>/, tests/fuzz/README.md): small valid inputs
and edge cases of each decoder's format, so that a short run starts deep
in the format instead of at its first byte.

    tests/fuzz/make_seeds.py [CORPUS_DIR]

Rewrites the files it names (seed-*); files added by hand (crash-*
regression inputs, among others) are left alone. The seeds of source_msg
are tests/corpus/codec, kept with the codec's replay test. Debian's
python3-msgpack and python3-yaml only.
"""
import os
import struct
import sys

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))


def pack(v):
    return msgpack.packb(v, use_bin_type=True)


def request_seeds():
    line = ["SKU-1", "us-east", 2]
    return {
        "atp": {"op": "atp", "sku": "SKU-1", "region": "us-east", "channel": "web"},
        "cart": {"op": "cart", "channel": "app",
                 "lines": [line, ["SKU-1", "eu", 1], ["A", "eu", 999]]},
        "regions": {"op": "regions"},
        "sources": {"op": "sources"},
        "status": {"op": "status"},
        "scan": {"op": "scan", "region": "eu", "limit": 2, "cursor": ""},
        "ready": {"op": "ready"},
        "health": {"op": "health"},
        "source_reset": {"op": "source_reset", "source": "wms"},
        "explain": {"op": "explain", "sku": "SKU-1", "region": "us-east"},
        "snapshot": {"op": "snapshot"},
        "backup": {"op": "backup", "dir": "/nonexistent/atpd-fuzz"},
        "reserve": {"op": "reserve", "id": "r-1", "channel": "web",
                    "lines": [line], "ttl_ms": 3000},
        "commit": {"op": "commit", "id": "r-1", "order_ref": "o-1"},
        "release": {"op": "release", "id": "r-1", "lines": [["SKU-1", "us-east"]]},
        "extend": {"op": "extend", "id": "r-1", "ttl_ms": 4000},
        "reservation": {"op": "reservation", "id": "r-1"},
        "unknown_op": {"op": "nope"},
        "big_qty": {"op": "cart", "lines": [["SKU-1", "eu", 2 ** 63 - 1]]},
        "token": {"op": "status", "token": "t" * 40},
    }


def request_files():
    files = {k: pack(v) for k, v in request_seeds().items()}
    files["not_a_map"] = pack(["op", "atp"])
    files["deep"] = b"\x91" * 40 + b"\xc0"
    return files


# The store's databases (src/store/store.h: positions 0, lots 1, offsets 2,
# reservations 3 as the fuzz target numbers them).
def record(db, key, val):
    return bytes([db, len(key)]) + key + struct.pack("<H", len(val)) + val


def resv_v2(rid, client=None, location=None):
    line = ["SKU-1", "us-east", 3, 1, 0] + ([location] if location else [])
    r = [2, rid, "web", 1, 1000, 61000, 1000, 0, None, [line], [["wms", 7, None]]]
    if client is not None:
        r.append(client)
    return pack(r)


def store_record_files():
    pos = record(0, b"dc-1\0SKU-1", struct.pack("<qqq", 10, 2, 0))
    lot = record(1, b"dc-eu\0SKU-1\0PO-9", struct.pack("<qq", 5, 86400000))
    off = record(2, b"wms", struct.pack("<QQ", 42, 1700000000000))
    v1 = pack([1, "r-old", "app", 2, 1, 2, 3, 4, "o-7",
               [["SKU-1", "eu", 4, 4, 0, "erp", 9]]])
    return {
        "restore": pos + lot + off + record(3, b"r-1", resv_v2("r-1")),
        "resv_client": record(3, b"r-2", resv_v2("r-2", "shop-a")),
        "resv_pinned": pos + record(3, b"r-3", resv_v2("r-3", location="dc-1")),
        "resv_pinned_gone": record(3, b"r-4", resv_v2("r-4", location="dc-9")),
        "resv_v1": record(3, b"r-old", v1),
        "resv_key_mismatch": record(3, b"r-9", resv_v2("r-1")),
        "unknown_location": record(0, b"dc-9\0SKU-1", struct.pack("<qqq", 1, 0, 0)),
        "qty_limits": record(0, b"dc-1\0S", struct.pack("<qqq", 10 ** 15, -10 ** 15, 0)),
    }


def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82f63b78 if crc & 1 else crc >> 1
    return crc ^ 0xffffffff


# src/store/store_int.h: a record is magic, crc, epoch, lsn, payload
# length, op count (32 bytes), then ops [db u8, klen u32, vlen u32, key,
# value], vlen 0xffffffff a delete.
def log_record(epoch, lsn, ops):
    payload = b""
    for db, key, val in ops:
        vlen = 0xffffffff if val is None else len(val)
        payload += struct.pack("<BII", db, len(key), vlen) + key + (val or b"")
    tail = struct.pack("<QQII", epoch, lsn, len(payload), len(ops)) + payload
    return struct.pack("<II", 0x32505441, crc32c(tail)) + tail


def store_log_files():
    r1 = log_record(7, 1, [(1, b"r-1", resv_v2("r-1"))])
    r2 = log_record(7, 2, [(1, b"r-1", None), (1, b"r-2", resv_v2("r-2"))])
    r3 = log_record(7, 3, [(2, b"k", b"v")])
    two = r1 + r2 + r3
    torn = two + log_record(7, 4, [(1, b"r-3", b"x" * 40)])[:-10]
    padded = r1 + b"\0" * (4096 - len(r1)) + r2
    return {
        # The control byte: bit 0 fixes CRCs, bits 1-3 the applied LSN.
        "three": b"\x00" + two,
        "three_applied_2": b"\x04" + two,
        "torn": b"\x00" + torn,
        "bad_crc": b"\x00" + r1[:4] + b"\0\0\0\0" + r1[8:],
        "lsn_gap": b"\x00" + r1 + r3,
        "padded": b"\x00" + padded,
        "old_magic": b"\x00" + struct.pack("<I", 0x4c505441) + b"\0" * 28,
        "fix_crcs": b"\x01" + r1[:4] + b"\0\0\0\0" + r1[8:],
    }


def config_files():
    example = os.path.join(HERE, "..", "..", "config", "minimal.yaml")
    files = {}
    if os.path.exists(example):
        with open(example, "rb") as f:
            files["minimal"] = f.read()
    files["small"] = (b"regions: [{id: us-east}, {id: eu}]\n"
                      b"locations:\n  - {id: dc-1, region: us-east}\n"
                      b"channels: [web]\nsources:\n  - id: wms\n"
                      b"    authority: [{locations: [dc-1]}]\n"
                      b"buffers:\n  - {sku: S, region: eu, percent: 10}\n"
                      b"reservations: {max_ttl: 1h, default_ttl: 10m, min_ttl: 1s}\n")
    files["empty"] = b""
    files["anchors"] = b"a: &x [1, 2]\nregions: *x\nservice: {<<: *x}\n"
    files["bad_types"] = b"service: [1]\nregions: 7\nchannels: {a: b}\n"
    files["durations"] = (b"service: {snapshot_interval: 250ms, stale_after: 99999999999d}\n"
                          b"reservations: {retention: 0}\n")
    return files


def json_files():
    # The control byte: bit 0 line_qty, bit 1 the route's fields.
    return {
        "cart": b"\x03" + b'{"channel":"web","lines":[{"sku":"A","region":"eu","qty":2},["B","eu",1]]}',
        "reserve": b"\x01" + b'{"id":"r-1","lines":[{"sku":"A","region":"eu","qty":1}],"ttl_ms":3e3}',
        "release": b"\x00" + b'{"lines":[{"sku":"A","region":"eu"}]}',
        "numbers": b"\x00" + b'{"a":9007199254740993,"b":-1e400,"c":0.5,"d":[1e15,-0]}',
        "unicode": b"\x00" + '{"s":"\\u00e9\\ud83d\\ude00 ü","\\u0000":1}'.encode(),
        "dup": b"\x00" + b'{"a":1,"a":2}',
        "not_object": b"\x02" + b'[1,2,3]',
        "deep": b"\x00" + b'{"a":' + b"[" * 40 + b"]" * 40 + b"}",
        "fields_in_body": b"\x02" + b'{"op":"atp","token":"x","sku":"B"}',
        "literals": b"\x00" + b'{"t":true,"f":false,"n":null,"e":{}}',
    }


def http_route_files():
    # [method: 0 GET, 1 POST, 2 PUT, 3 DELETE] path \0 key \0 value ... [\0\0 body]
    def req(m, path, params=(), body=None):
        b = bytes([m]) + path
        for k, v in params:
            b += b"\0" + k + b"\0" + v
        if body is not None:
            b += b"\0\0" + body
        return b
    return {
        "atp": req(0, b"/v1/availability/SKU%2D1/us-east", [(b"channel", b"web")]),
        "regions": req(0, b"/v1/availability/A+B"),
        "cart": req(1, b"/v1/availability/cart", body=b'{"lines":[{"sku":"A","region":"eu","qty":1}]}'),
        "scan": req(0, b"/v1/regions/eu/availability",
                    [(b"cursor", b"12"), (b"limit", b"99999999999999999999"), (b"channel", b"%FF")]),
        "reserve": req(1, b"/v1/reservations", body=b'{"id":"r-1","channel":"web","lines":[["A","eu",1]]}'),
        "release": req(3, b"/v1/reservations/r%2F1"),
        "commit": req(1, b"/v1/reservations/r-1/commit", body=b'{"order_ref":"o"}'),
        "readyz": req(0, b"/readyz", [(b"sources", b"\x01")]),
        "bearer": req(0, b"Bearer abc.def"),
        "bad_percent": req(0, b"/v1/explain/%G1"),
        "wrong_method": req(2, b"/v1/status"),
        "changes": req(0, b"/v1/changes", [(b"region", b"eu")]),
    }


def import_files():
    """atp-import: the first byte picks the reader (bit 0: CSV; x12 bit 1:
    --transit; csv bit 1: lot columns, bit 2: no header, bit 3: ';'; bit
    4: a default location), the rest is the file."""
    isa = (b"ISA*00*          *00*          *ZZ*S              *ZZ*R"
           b"              *261201*1200*U*00401*000000042*0*P*>~\n")
    gs = b"GS*IB*S*R*20261201*1200*7*X*004010~\n"
    end = b"GE*1*7~\nIEA*1*000000042~\n"
    s846 = (b"ST*846*0001~\nBIA*00*DD*R*20261201~\nN1*WH*E*92*E1~\n"
            b"LIN**SK*A*UP*1~\nQTY*17*5~\nQTY*33*4~\nLIN**SK*B~\n"
            b"N1*WH*W*92*W1~\nQTY*17*7~\nSE*10*0001~\n")
    s856 = (b"ST*856*0001~\nBSN*00*SHIP-1*20261201*1200~\nHL*1**S~\n"
            b"DTM*011*20261201~\nDTM*017*20261205*0800~\nN1*ST*E*92*E1~\n"
            b"HL*2*1*O~\nHL*3*2*I~\nLIN**SK*A~\nSN1**12*EA~\n"
            b"HL*4*3*P~\nSN1**3~\nHL*5*2*I~\nLIN**BP*B~\nSN1**4~\n"
            b"SE*16*0001~\n")
    return {
        "x12_846": b"\x00" + isa + gs + s846 + end,
        "x12_856": b"\x02" + isa + gs + s856 + end,
        "x12_bang": b"\x10" + isa.replace(b"*", b"|").replace(b">~", b"@!")
        + gs.replace(b"*", b"|").replace(b"~", b"!")
        + s846.replace(b"*", b"|").replace(b"~", b"!") + end.replace(b"*", b"|").replace(b"~", b"!"),
        "csv_stock": b"\x01\xef\xbb\xbfsku,location,qty\r\nA,E1,5\r\n\"B,1\",dc-1,7\r\n",
        "csv_lots": b"\x03sku,location,qty,lot,eta\nA,dc-1,4,PO-1,2026-12-05T08:00:00Z\n",
        "csv_semicolon": b"\x1dA;;5\nB;dc-1;\"6\"\n",
    }


def write(corpus, target, files):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(data)


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    write(corpus, "request", request_files())
    write(corpus, "store_record", store_record_files())
    write(corpus, "store_log", store_log_files())
    write(corpus, "config", config_files())
    write(corpus, "json", json_files())
    write(corpus, "http_route", http_route_files())
    write(corpus, "import", import_files())


if __name__ == "__main__":
    main()
