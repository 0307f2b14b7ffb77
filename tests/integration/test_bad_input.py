#!/usr/bin/python3
"""test_bad_input.py - hostile and malformed input never crashes atpd,
never applies halfway, and is answered/counted as PROTOCOL.md documents.

Talks raw SP-over-TCP (harness.ReqClient / PubClient) and raw msgpack
(forge.py), so it can send what no well-behaved client would. After every
case: atpd is alive, its state (answers, source offsets) is unchanged except
for what the case is documented to change, and the right counter moved.
"""

import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import forge  # noqa: E402
from harness import TestFailure, ConnectionClosed  # noqa: E402
from forge import Raw  # noqa: E402

ERR = {"bad_request": 1, "unknown_op": 2, "unknown_region": 3, "unknown_channel": 4,
       "bad_sku": 6, "bad_qty": 7, "too_many_lines": 8, "too_large": 9}
QTY_MAX = 10 ** 15
RECV_MAX = 256 * 1024           # both sockets' recv max in this test's config
SKUS = ["SKU-A", "SKU-B"]


def build_config(h):
    cfg = h.config(query_recv_max_bytes=RECV_MAX, ingest_recv_max_bytes=RECV_MAX)
    cfg["regions"] = [{"id": "r-east"}, {"id": "r-west"}]
    cfg["locations"] = [{"id": "L1", "region": "r-east", "type": "dc"},
                        {"id": "L2", "region": "r-east", "type": "store"},
                        {"id": "L3", "region": "r-west", "type": "dc"}]
    cfg["channels"] = ["web"]
    cfg["sources"] = [
        {"id": "src-a", "heartbeat_timeout": "10m",
         "authority": [{"locations": ["L1", "L2"], "buckets": ["on_hand", "allocated", "held"]}]},
        {"id": "src-b", "heartbeat_timeout": "10m",
         "authority": [{"locations": ["L3"], "buckets": ["on_hand", "allocated", "held"]}]},
    ]
    cfg["buffers"] = [{"channel": "web", "units": 2}]
    return cfg


def nested(depth):
    """A value whose nesting is `depth` arrays (innermost holds 0)."""
    v = 0
    for _ in range(depth):
        v = [v]
    return v


def src_msg(source, seq, events):
    return forge.packb([1, source, seq, int(time.time() * 1000), events])


class Obs:
    """Observes atpd through its own query socket (reconnecting if needed)."""

    def __init__(self, d):
        self.d = d
        self.rq = None

    def req(self, body):
        for attempt in range(3):
            try:
                if self.rq is None:
                    self.rq = harness.ReqClient(self.d.query_port)
                return self.rq.request(body)
            except (ConnectionClosed, TimeoutError, OSError) as e:
                self.d.check_alive()
                if self.rq is not None:
                    self.rq.close()
                self.rq = None
                if attempt == 2:
                    raise TestFailure("atpd does not answer on its query socket: %r" % e)
                time.sleep(0.2)

    def ok(self, body):
        r = self.req(body)
        if r.get("ok") is not True:
            raise TestFailure("%r failed: %r" % (body, r))
        return r

    def state(self):
        """What bad input must not change."""
        answers = {}
        for sku in SKUS:
            for ch in ("default", "web"):
                r = self.ok({"op": "regions", "sku": sku, "channel": ch})
                answers[(sku, ch)] = [(x.get("region"), x.get("atp"), x.get("supply"),
                                       x.get("reserved"), x.get("buffer"), x.get("stale"))
                                      for x in r["regions"]]
        srcs = {s["id"]: (s.get("state"), s.get("last_seq"), s.get("messages"), s.get("events"))
                for s in self.ok({"op": "sources"})["sources"]}
        st = self.ok({"op": "status"})
        return {"answers": answers, "sources": srcs,
                "skus": st.get("skus"), "positions": st.get("positions")}

    def counters(self):
        st = self.ok({"op": "status"})
        c = {"q." + k: v for k, v in (st.get("queries") or {}).items()}
        c.update({"i." + k: v for k, v in (st.get("ingest") or {}).items()})
        for s in self.ok({"op": "sources"})["sources"]:
            for k in ("rejected_messages", "unauthorized", "unknown_location", "duplicates",
                      "gaps", "missed", "messages", "last_seq"):
                c["%s.%s" % (s["id"], k)] = s.get(k)
        return c

    def supply(self, sku, region):
        return self.ok({"op": "atp", "sku": sku, "region": region})["supply"]


def main(h):
    ck = harness.Checks(h)
    cfg = build_config(h)
    d = h.start_atpd(cfg)
    h.log("atpd pid %d up: query %s ingest %s", d.pid, d.query_url, d.ingest_url)
    obs = Obs(d)
    pub = [harness.PubClient(d.ingest_port)]

    def publish(payload):
        try:
            pub[0].send_msg(payload)
        except ConnectionClosed:
            pub[0].close()
            pub[0] = harness.PubClient(d.ingest_port)
            pub[0].send_msg(payload)

    def wait_counter(key, want, what):
        got = {}

        def f():
            d.check_alive()
            got.update(obs.counters())
            return got.get(key) == want
        try:
            harness.wait_until(f, 10, 0.05, what)
        except TestFailure:
            raise TestFailure("%s: counter %s is %r, want %r" % (what, key, got.get(key), want))

    # ---- seed a known state
    publish(src_msg("src-a", 1, [[1, "SKU-A", "L1", 0, 100], [1, "SKU-A", "L2", 0, 50],
                                 [1, "SKU-A", "L2", 1, 10], [2, "SKU-B", "L1", 0, 7]]))
    publish(src_msg("src-b", 1, [[1, "SKU-A", "L3", 0, 30], [3]]))
    wait_counter("src-a.last_seq", 1, "seed message of src-a applied")
    wait_counter("src-b.last_seq", 1, "seed message of src-b applied")
    # Both sources delivered: no region may stay stale (bounded wait: the
    # flag may be refreshed on a timer).
    t = time.monotonic()
    try:
        harness.wait_until(lambda: not any(x[5] for a in obs.state()["answers"].values()
                                           for x in a), 5, 0.05,
                           "regions to be fresh once both sources delivered")
        h.log("regions fresh %.2f s after the seed messages were applied", time.monotonic() - t)
    except TestFailure as e:
        ck.check(False, "%s", e)
    ck.eq(obs.supply("SKU-A", "r-east"), 140, "seeded supply SKU-A r-east (100 + 50 - 10)")
    ck.eq(obs.supply("SKU-A", "r-west"), 30, "seeded supply SKU-A r-west")
    ck.eq(obs.ok({"op": "atp", "sku": "SKU-A", "region": "r-east", "channel": "web"})["atp"],
          138, "seeded ATP SKU-A r-east web (buffer 2)")

    # ================= queries (REQ) =================
    def query_case(name, body, codes, line=None):
        """A bad request: error reply with a documented code, errors +1,
        nothing changed, atpd alive."""
        if not isinstance(body, (bytes, bytearray)):  # bytes: sent as they are
            body = forge.packb(body)  # a Raw inside goes in verbatim
        before_state, before = obs.state(), obs.counters()
        try:
            with harness.ReqClient(d.query_port) as rq:
                rep = rq.request(body)
        except (ConnectionClosed, TimeoutError) as e:
            d.check_alive()
            ck.check(False, "%s: no reply (%r)", name, e)
            return
        err = rep.get("error") if isinstance(rep.get("error"), dict) else {}
        want = " or ".join("%d" % ERR[c] for c in codes)
        ok = ck.check(rep.get("ok") is False and err.get("code") in [ERR[c] for c in codes]
                      and err.get("name") in codes,
                      "%s: want error %s (%s), got %r", name, want, "/".join(codes), rep)
        if ok:
            ck.check(isinstance(err.get("message"), str) and err["message"] != "",
                     "%s: error without a human message: %r", name, err)
            ck.eq(ERR.get(err.get("name")), err.get("code"), "%s: code matches name" % name)
        if line is not None:
            ck.eq(err.get("line"), line, "%s: error.line" % name)
        d.check_alive()
        after = obs.counters()
        ck.eq(after.get("q.errors"), (before.get("q.errors") or 0) + 1,
              "%s: status.queries.errors moved by 1" % name)
        ck.eq(obs.state(), before_state, "%s: state unchanged" % name)

    def query_ok(name, body, check=None, timeout_s=10):
        if not isinstance(body, (bytes, bytearray)):  # bytes: sent as they are
            body = forge.packb(body)  # a Raw inside goes in verbatim
        t = time.monotonic()
        try:
            with harness.ReqClient(d.query_port) as rq:
                rep = rq.request(body, timeout_s=timeout_s)
        except (ConnectionClosed, TimeoutError) as e:
            d.check_alive()
            ck.check(False, "%s: no reply within %.0f s (%r)", name,
                     timeout_s * harness.TIME_FACTOR, e)
            return
        h.log("%s: answered in %.3f s", name, time.monotonic() - t)
        if ck.check(rep.get("ok") is True, "%s: want ok, got %r", name, str(rep)[:300]) and check:
            check(rep)

    atp = {"op": "atp", "sku": "SKU-A", "region": "r-east"}
    query_case("not msgpack (0xc1)", b"\xc1", ["bad_request"])
    query_case("not msgpack (text)", b"hello, atpd: is SKU-A in stock?", ["bad_request"])
    query_case("empty message", b"", ["bad_request"])
    query_case("not a map", forge.packb(["op", "atp"]), ["bad_request"])
    query_case("trailing bytes", forge.packb(atp) + b"\x00", ["bad_request"])
    # PROTOCOL.md, "Limits checked before anything is decoded": a string
    # whose declared length runs past the end is a declared size beyond the
    # message (too_large); a map that ends before its pairs is truncated
    # (bad_request).
    query_case("truncated", forge.packb(atp)[:-3], ["too_large"])
    query_case("truncated map", forge.map_header(3) + forge.packb("op") + forge.packb("atp"),
               ["bad_request"])
    big = struct.pack(">I", 4000000000)
    query_case("array32 claiming 4e9 elements (top level)", b"\xdd" + big + b"\x00" * 8,
               ["too_large"])
    query_case("array32 claiming 4e9 elements (cart lines)",
               forge.packb({"op": "cart", "lines": Raw(b"\xdd" + big)}) + b"\x00" * 8,
               ["too_large"])
    query_case("map32 claiming 4e9 pairs", b"\xdf" + big + b"\x00" * 8, ["too_large"])
    query_case("str32 claiming 4e9 bytes",
               forge.packb({"op": "atp", "sku": Raw(b"\xdb" + big + b"SKU-A"), "region": "r-east"}),
               ["too_large"])
    query_case("nesting depth 20", forge.packb(dict(atp, x=nested(19))), ["too_large"])
    query_case("nesting depth 9", forge.packb(dict(atp, x=nested(8))), ["too_large"])
    query_ok("nesting depth 8 (the limit, unknown key ignored)",
             forge.packb(dict(atp, x=nested(7))), lambda r: ck.eq(r.get("supply"), 140,
                                                                  "depth 8: supply"))
    query_case("unknown op", {"op": "frobnicate"}, ["unknown_op"])
    query_case("op missing", {"sku": "SKU-A", "region": "r-east"}, ["bad_request"])
    query_case("op not a string", {"op": 5}, ["bad_request"])
    query_case("missing sku", {"op": "atp", "region": "r-east"}, ["bad_request"])
    query_case("sku not a string", {"op": "atp", "sku": 12, "region": "r-east"}, ["bad_request"])
    query_case("missing region", {"op": "atp", "sku": "SKU-A"}, ["bad_request"])
    query_case("unknown region", {"op": "atp", "sku": "SKU-A", "region": "mars"},
               ["unknown_region"])
    query_case("unknown channel", dict(atp, channel="carrier-pigeon"), ["unknown_channel"])
    query_case("SKU of 65 bytes", dict(atp, sku="S" * 65), ["bad_sku"])
    query_ok("SKU of 64 bytes (the limit)", dict(atp, sku="S" * 64),
             lambda r: ck.eq((r.get("atp"), r.get("supply")), (0, 0), "unknown 64-byte SKU"))
    query_case("empty SKU", dict(atp, sku=""), ["bad_sku"])
    query_case("SKU with a control character", dict(atp, sku="SKU\x01A"), ["bad_sku"])
    query_case("SKU not UTF-8",
               forge.packb({"op": "atp", "sku": Raw(forge.str_header(4) + b"SK\xff\xfe"),
                            "region": "r-east"}), ["bad_sku"])
    lines = [["SKU-A", "r-east", 1], ["SKU-B", "r-east", 2]]
    query_case("cart with qty 0", {"op": "cart", "lines": lines + [["SKU-A", "r-west", 0]]},
               ["bad_qty"], line=2)
    query_case("cart with negative qty", {"op": "cart", "lines": [["SKU-A", "r-east", -3]] + lines},
               ["bad_qty"], line=0)
    query_case("cart with qty 10^15 + 1", {"op": "cart", "lines": lines + [["SKU-A", "r-east",
                                                                            QTY_MAX + 1]]},
               ["bad_qty"], line=2)
    query_case("cart with an unknown region", {"op": "cart", "lines": [lines[0], ["SKU-A", "moon", 1]]},
               ["unknown_region"], line=1)
    query_case("cart with a 65-byte SKU", {"op": "cart", "lines": [lines[0], ["X" * 65, "r-east", 1]]},
               ["bad_sku"], line=1)
    query_case("cart line of 2 elements", {"op": "cart", "lines": [lines[0], ["SKU-A", "r-east"]]},
               ["bad_request"], line=1)
    query_case("cart lines not an array", {"op": "cart", "lines": "SKU-A r-east 1"},
               ["bad_request"])
    query_case("cart with too many lines (10,001)",
               {"op": "cart", "lines": [["SKU-%d" % i, "r-east", 1] for i in range(10001)]},
               ["too_many_lines"])
    query_ok("cart with 10,000 lines (the default limit)",
             {"op": "cart", "lines": [["SKU-%d" % i, "r-east", 1] for i in range(10000)]},
             lambda r: ck.eq(len(r.get("lines") or []), 10000, "10,000-line cart: lines"))
    query_ok("cart qty 10^15 (the limit) is refused, not an error",
             {"op": "cart", "lines": [["SKU-A", "r-east", QTY_MAX]]},
             lambda r: ck.eq(r.get("available"), False, "cart of 10^15: available"))

    # The request map is read in place, in one pass: the first occurrence of
    # a key wins, only string keys count, values of other keys (however
    # nested, even maps with an "op") are passed over, never looked into.
    def raw_map(*pairs):
        return forge.map_header(len(pairs)) + b"".join(
            (k if isinstance(k, bytes) else forge.packb(k)) + forge.packb(v) for k, v in pairs)
    ok_region = lambda r: ck.eq(r.get("region"), "r-east", "first key wins: region")
    query_ok("duplicate key: the first one wins",
             raw_map(("op", "atp"), ("sku", "SKU-A"), ("region", "r-east"), ("region", "mars")),
             ok_region)
    query_case("duplicate key: the first one wins (a bad one)",
               raw_map(("op", "atp"), ("sku", "SKU-A"), ("region", "mars"), ("region", "r-east")),
               ["unknown_region"])
    query_case("duplicate op: the first one wins",
               raw_map(("op", "frobnicate"), ("op", "atp"), ("sku", "SKU-A"), ("region", "r-east")),
               ["unknown_op"])
    query_ok("op after non-string keys and nested values",
             raw_map((1, "x"), (b"\xc0", [1, [2, {"op": "frobnicate"}]]),
                     ("x", {"op": "cart", "sku": 5}), ("op", "atp"), ("sku", "SKU-A"),
                     ("region", "r-east")), ok_region)
    query_case("op only inside a nested map", {"x": {"op": "atp"}, "sku": "SKU-A",
                                                "region": "r-east"}, ["bad_request"])
    query_case("op as binary, not a string",
               raw_map((b"\xc4\x02op", "atp"), ("sku", "SKU-A"), ("region", "r-east")),
               ["bad_request"])
    query_case("op as a binary value", dict(atp, op=Raw(b"\xc4\x03atp")), ["bad_request"])
    query_case("sku as binary", dict(atp, sku=Raw(b"\xc4\x05SKU-A")), ["bad_request"])
    query_case("region as nil", dict(atp, region=None), ["bad_request"])
    default_answer = obs.ok(atp)
    query_ok("channel nil means the default channel", dict(atp, channel=None),
             lambda r: ck.eq(r.get("channel"), default_answer.get("channel"),
                             "nil channel: the default"))
    query_case("cart lines twice, the first bad",
               raw_map(("op", "cart"), ("lines", [["SKU-A", "r-east", 0]]), ("lines", lines)),
               ["bad_qty"], line=0)
    query_ok("cart lines twice, the first good",
             raw_map(("op", "cart"), ("lines", lines), ("lines", "not lines")),
             lambda r: ck.eq(len(r.get("lines") or []), 2, "first lines: 2 lines"))
    query_case("cart qty above INT64_MAX (uint64)",
               {"op": "cart", "lines": [lines[0], ["SKU-A", "r-east",
                                                   Raw(b"\xcf" + b"\xff" * 8)]]},
               ["bad_qty"], line=1)
    query_case("cart qty as a float (a field of the wrong type)",
               {"op": "cart", "lines": [["SKU-A", "r-east", 1.0]]}, ["bad_request"], line=0)
    query_case("cart line as a map", {"op": "cart", "lines": [lines[0], {"sku": "SKU-A"}]},
               ["bad_request"], line=1)
    query_case("cart line with 4 elements", {"op": "cart", "lines": [lines[0] + [1]]},
               ["bad_request"], line=0)
    rest = default_answer["atp"] - 100 + 1  # each line fits, the sum does not
    query_ok("cart qty as int64 form (0xd3), duplicates summed",
             {"op": "cart", "lines": [["SKU-A", "r-east", Raw(b"\xd3" + struct.pack(">q", 100))],
                                      ["SKU-A", "r-east", rest]]},
             lambda r: ck.eq((r.get("available"), [(l.get("qty"), l.get("available"))
                                                   for l in r.get("lines", [])]),
                             (False, [(100, False), (rest, False)]),
                             "100 + rest is one more than ATP"))

    # 200 garbage requests in a row on one connection: every one answered.
    before = obs.counters()
    with harness.ReqClient(d.query_port) as rq:
        for i in range(200):
            rep = rq.request(bytes([0xc1, i & 0xff, 0x90]) * (1 + i % 7))
            if not ck.check(rep.get("ok") is False, "garbage #%d answered %r", i, rep):
                break
    ck.eq(obs.counters().get("q.errors"), before.get("q.errors", 0) + 200,
          "200 garbage requests: queries.errors moved by 200")

    # Transport-level abuse: nng closes the connection; atpd must go on.
    st0 = obs.state()
    with harness.ReqClient(d.query_port) as rq:
        rq.send_msg(struct.pack(">I", 0x80000001) + forge.packb(dict(atp, pad="x" * (RECV_MAX + 1000))))
        ck.check(rq.closed_by_peer(5), "query above query_recv_max_bytes: connection not closed")
    with harness.ReqClient(d.query_port) as rq:
        rq.send_raw(struct.pack(">Q", 1 << 62))  # a length no one can allocate
        ck.check(rq.closed_by_peer(5), "64-bit length 2^62: connection not closed")
    with harness.ReqClient(d.query_port) as rq:
        rq.send_msg(b"\x00\x01")  # shorter than a request id
        try:
            rq.recv_msg(0.5)
            ck.check(False, "a reply to a message without a request id")
        except (TimeoutError, ConnectionClosed):
            pass
    s = harness.SPConn(d.query_port, harness.SP_PUB, harness.SP_REP, handshake=False)
    s.send_raw(b"\x00SP\x00\x00\x20\x00\x00")  # a PUB knocking at the REP socket
    ck.check(s.closed_by_peer(5), "wrong SP protocol at the query socket: connection not closed")
    s.close()
    s = harness.SPConn(d.query_port, harness.SP_REQ, harness.SP_REP, handshake=False)
    s.send_raw(b"GET / HTTP/1.1\r\nHost: atpd\r\n\r\n")
    ck.check(s.closed_by_peer(5), "HTTP at the query socket: connection not closed")
    s.close()
    d.check_alive()
    ck.eq(obs.state(), st0, "transport abuse: state unchanged")
    h.log("query cases done (%d checks so far)", ck.count)

    # ================= source feeds (SUB) =================
    def ingest_case(name, payload, key, delta=1, seq_to=None):
        """A bad source message: counter `key` moves by `delta`, nothing
        applied (last_seq moves to seq_to when the message consumed it)."""
        before_state, before = obs.state(), obs.counters()
        publish(payload)
        wait_counter(key, (before.get(key) or 0) + delta, name)
        after = obs.counters()
        want_state = before_state
        if seq_to is not None:
            # The rejection is counted on the ingest thread; last_seq moves
            # only once the (empty) batch has passed the engine queue, a
            # moment later: wait for it (bounded), then check.
            try:
                harness.wait_until(lambda: obs.counters().get("src-a.last_seq") == seq_to,
                                   10, 0.02, name)
            except TestFailure:
                pass  # reported by the check below
            after = obs.counters()
            ck.eq(after.get("src-a.last_seq"), seq_to, "%s: src-a.last_seq (seq consumed)" % name)
            a = want_state["sources"]["src-a"]
            got = obs.state()
            ck.eq(got["sources"]["src-a"][2:], a[2:], "%s: src-a messages/events unchanged" % name)
            want_state = dict(before_state, sources=dict(before_state["sources"]))
            want_state["sources"]["src-a"] = (a[0], seq_to) + a[2:]
        ck.eq(obs.state(), want_state, "%s: state unchanged" % name)
        for k in ("src-a.gaps", "src-a.missed", "src-b.rejected_messages"):
            ck.eq(after.get(k), before.get(k), "%s: %s unchanged" % (name, k))

    seed = [1, "SKU-A", "L1", 0, 5]  # +5 on_hand: a valid src-a event
    ingest_case("garbage", b"\xc1\xff garbage \x00\x01", "i.bad_messages")
    ingest_case("not an array", forge.packb({"source": "src-a", "seq": 2}), "i.bad_messages")
    ingest_case("truncated", src_msg("src-a", 2, [seed, seed])[:-4], "i.bad_messages")
    ingest_case("nesting depth 20", forge.packb([1, "src-a", 2, 0, [nested(18)]]), "i.bad_messages")
    ingest_case("array32 claiming 4e9 events",
                forge.packb([1, "src-a", 2, 0, Raw(b"\xdd" + big)]) + b"\x00" * 8,
                "i.bad_messages")
    ingest_case("unknown source id", src_msg("src-nobody", 1, [seed]), "i.unknown_source")

    ingest_case("event outside authority (valid event first)",
                src_msg("src-a", 2, [seed, [1, "SKU-A", "L3", 0, 5]]),
                "src-a.unauthorized", seq_to=2)
    ck.eq(obs.counters().get("src-a.rejected_messages"), 1, "src-a.rejected_messages after 1 rejection")
    # The next seq is applied at once: the rejected one consumed seq 2 (no gap).
    publish(src_msg("src-a", 3, [[1, "SKU-A", "L1", 0, 1]]))
    wait_counter("src-a.last_seq", 3, "src-a seq 3 after a rejected seq 2")
    ck.eq(obs.supply("SKU-A", "r-east"), 141, "supply after seq 3 (+1, not +6)")
    ck.eq(obs.counters().get("src-a.gaps"), 0, "no gap after a rejected message")
    ingest_case("duplicate of seq 3", src_msg("src-a", 3, [[1, "SKU-A", "L1", 0, 1]]),
                "src-a.duplicates", seq_to=3)
    ingest_case("unknown location", src_msg("src-a", 4, [seed, [1, "SKU-A", "NOWHERE", 0, 5]]),
                "src-a.unknown_location", seq_to=4)
    ingest_case("bucket 7", src_msg("src-a", 5, [seed, [1, "SKU-A", "L1", 7, 5]]),
                "src-a.rejected_messages", seq_to=5)
    ingest_case("value beyond 10^15", src_msg("src-a", 6, [seed, [2, "SKU-A", "L1", 0, QTY_MAX + 1]]),
                "src-a.rejected_messages", seq_to=6)
    ingest_case("unknown event kind", src_msg("src-a", 7, [seed, [42, "SKU-A", "L1", 0, 5]]),
                "src-a.rejected_messages", seq_to=7)
    ingest_case("SKU of 65 bytes", src_msg("src-a", 8, [seed, [1, "S" * 65, "L1", 0, 5]]),
                "src-a.rejected_messages", seq_to=8)
    ingest_case("delta with 7 elements", src_msg("src-a", 9, [seed, [1, "SKU-A", "L1", 0, 5, "r", 9]]),
                "src-a.rejected_messages", seq_to=9)

    # Larger than ingest_recv_max_bytes, otherwise valid: nng drops it and
    # closes the connection; nothing is applied, seq 10 stays free.
    st0 = obs.state()
    huge = src_msg("src-a", 10, [[1, "SKU-A", "L1", 0, 1]] * (RECV_MAX // 12))
    if len(huge) <= RECV_MAX:
        raise TestFailure("test bug: oversized message is only %d bytes" % len(huge))
    pub[0].send_msg(huge)
    ck.check(pub[0].closed_by_peer(5), "source message above ingest_recv_max_bytes: "
             "connection not closed")
    pub[0].close()
    pub[0] = harness.PubClient(d.ingest_port)
    d.check_alive()
    ck.eq(obs.state(), st0, "oversized source message: state unchanged")
    publish(src_msg("src-a", 10, [[1, "SKU-A", "L2", 0, 4]]))
    wait_counter("src-a.last_seq", 10, "src-a seq 10 after the oversized one")
    ck.eq(obs.supply("SKU-A", "r-east"), 145, "supply after seq 10 (+4 only)")
    c = obs.counters()
    ck.eq((c.get("src-a.gaps"), c.get("src-a.missed"), c.get("src-a.rejected_messages"),
           c.get("src-a.unauthorized"), c.get("src-a.unknown_location")),
          (0, 0, 7, 1, 1), "src-a (gaps, missed, rejected, unauthorized, unknown_location)")
    ck.eq(c.get("src-b.rejected_messages"), 0, "src-b untouched")
    srcs = {s["id"]: s for s in obs.ok({"op": "sources"})["sources"]}
    ck.eq(srcs["src-a"].get("state"), "ok", "src-a state after rejections (not gapped)")
    ck.eq(obs.ok({"op": "atp", "sku": "SKU-A", "region": "r-east"}).get("stale"), False,
          "r-east not stale")

    for p in pub:
        p.close()
    if obs.rq is not None:
        obs.rq.close()
    h.log("ingest cases done (%d checks)", ck.count)
    ck.done()
    d.stop()
    h.log("atpd stopped cleanly")


if __name__ == "__main__":
    harness.run(main, "bad_input")
