#!/usr/bin/python3
"""test_bounds.py - issue 12: the bounds of docs/PROTOCOL.md ("Numbers"),
enforced on the real service.

- Oversell A, the exact attacks of the issue: with reservations.max_lines
  10000 and supply 5, a reserve of 10,000 lines ["A", "r1", 10^15] (their
  sum passes 2^63) is bad_qty, not granted with a negative qty; a reserve
  of 1,000,000 is then refused, and after kill -9 nothing granted exceeds
  supply. A cart of 10,000 x 10^15 (default max_cart_lines) is bad_qty,
  not `available: true`.
- Supply is kept exact and shown at most 2^53-1 (issue 13: exact in a
  JSON double; it was 2^61-1): 2,400 lots of 10^15 at each of two
  locations show 2^53-1; cancelling one location's lots still leaves it
  there, and all but one lot gives supply 10^15 again (saturated running
  sums, per location and per row, used to read 0).
- Defect 1: a lot qty above 10^15 (or 2^63-1) rejects the whole message;
  a seq or ts_ms above 2^53-1 (issue 13; it was 2^63-1) is a malformed
  header (no seq consumed).
- Defect 2: an echoed request byte that is not UTF-8 is escaped; every
  error reply decodes with a strict decoder (python3-msgpack, raw=False).
- Defect 5: a qty of the wrong type (string, bool, float, nil) is
  bad_request, in carts and reserves alike; so is a ttl_ms of the wrong
  type or a missing one.
- Defect 6: a retry with the same lines in another order (or split
  differently) is the same content: replayed, not conflict.
"""

import os
import sys

import msgpack  # python3-msgpack: a strict decoder (raw=False)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import forge  # noqa: E402
import resv_util as U  # noqa: E402

Q = 10 ** 15
SUM_MAX = 2 ** 53 - 1
E_UNKNOWN_OP = 2
LINES = 10000
ALL = ["on_hand", "allocated", "held", "inbound"]


def build_config(h):
    return U.resv_config(
        h, [{"id": "r1", "inbound_horizon": "1d"}, "r2"],
        [("E1", "r1"), ("E2", "r1"), ("W1", "r2")],
        [("wms", ["E1", "E2"], ALL), ("erp", ["W1"], ALL)], channels=("web",),
        durability="sync", max_lines=LINES)


def strict(raw):
    """The reply decoded by python3-msgpack with raw=False: every str must
    be valid UTF-8, or this raises."""
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(build_config(h))
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    feed.reconnect()
    feed.publish("wms", [[2, "A", "E1", 0, 5], [2, "D", "E1", 0, 10],
                         [2, "E", "E1", 0, 10]])

    def short(reply):
        text = repr(reply)
        return text if len(text) < 300 else text[:300] + "..."

    def expect_err(what, reply, code, line=None):
        got = U.error_code(reply)
        if ck.check(got == code, "%s: want error %s, got %s", what, code, short(reply)):
            ck.eq(reply["error"].get("line"), line, what + ": error line")

    def atp(sku, region="r1"):
        a = c.atp(sku, region)
        return a["atp"], a["reserved"], a["supply"]

    # ---- oversell A: the reserve attack (max_lines 10000, supply 5)
    h.log("reserve of %d lines of 10^15 against supply 5", LINES)
    counters = c.resv_counters()
    r = c.req({"op": "reserve", "id": "big", "lines": [["A", "r1", Q]] * LINES})
    expect_err("10,000 x 10^15 reserve", r, U.E_BAD_QTY, line=1)
    ck.eq(atp("A"), (5, 0, 5), "A after the refused attack (atp, reserved, supply)")
    ck.eq(c.req({"op": "reservation", "id": "big"}).get("ok"), False,
          "the attack stored nothing")
    ck.eq(c.resv_counters()["granted"], counters["granted"], "nothing granted")
    r = c.req({"op": "reserve", "id": "million", "lines": [["A", "r1", 1000000]]})
    ck.check(r.get("ok") is True and r.get("granted") is False,
             "1,000,000 against supply 5: want refused, got %s", short(r))
    # the merged quantity of two lines, each in range
    r = c.req({"op": "reserve", "id": "two", "lines": [["A", "r1", Q], ["D", "r1", 1],
                                                       ["A", "r1", 1]]})
    expect_err("10^15 + 1 in two lines", r, U.E_BAD_QTY, line=2)
    r = c.req({"op": "reserve", "id": "five", "lines": [["A", "r1", 5]]})
    ck.check(r.get("granted") is True, "reserve of the 5 units: %s", short(r))

    # ---- oversell A: the cart attack (default max_cart_lines 10,000)
    h.log("cart of %d lines of 10^15", LINES)
    r = c.req({"op": "cart", "lines": [["A", "r1", Q]] * LINES})
    expect_err("10,000 x 10^15 cart", r, U.E_BAD_QTY, line=1)
    r = c.req({"op": "cart", "lines": [["B", "r1", Q - 1], ["B", "r1", 1]]})
    ck.check(r.get("ok") is True and r.get("available") is False,
             "exactly 10^15 merged: an answer, not available: %s", short(r))

    # ---- no grant above supply, also after kill -9
    c.ok({"op": "snapshot"})
    U.kill9(d)
    U.restart(d)
    feed.after_restart()
    ck.eq(atp("A"), (0, 5, 5), "A after kill -9 (atp, reserved, supply)")
    ck.eq(c.resv_counters().get("load_skipped"), 0, "no stored reservation skipped")
    r = c.req({"op": "reserve", "id": "one-more", "lines": [["A", "r1", 1]]})
    ck.check(r.get("ok") is True and r.get("granted") is False,
             "one more unit of A after kill -9: want refused, got %s", short(r))

    # ---- supply beyond 2^53-1: shown clamped, kept exact (lots and rows)
    h.log("2,400 lots of 10^15 at each of two locations, then cancelled")
    eta = harness.now_ms()
    for loc in ("E1", "E2"):
        feed.publish("wms", [[6, "L", loc, "PO-%d" % i, Q, eta] for i in range(2400)])
        ck.eq(atp("L")[2], SUM_MAX, "supply of 2,400 lots of 10^15 at %s: at the bound" % loc)
    feed.publish("wms", [[9, "L", "E1", "PO-%d" % i] for i in range(2400)])
    ck.eq(atp("L")[2], SUM_MAX, "E1's lots cancelled, E2's 2.4 * 10^18 left: at the bound")
    feed.publish("wms", [[9, "L", "E2", "PO-%d" % i] for i in range(1, 2400)])
    ck.eq(atp("L"), (Q, 0, Q), "one lot of 10^15 left (atp, reserved, supply)")
    r = c.req({"op": "reserve", "id": "lot", "lines": [["L", "r1", Q]]})
    ck.check(r.get("granted") is True, "reserve of the lot's 10^15: %s", short(r))
    r = c.req({"op": "reserve", "id": "lot+1", "lines": [["L", "r1", 1]]})
    ck.check(r.get("granted") is False, "one unit more than the lot: %s", short(r))

    # ---- defect 1: a lot qty out of range rejects the whole message
    for kind in (6, 7):
        for qty in (Q + 1, 2 ** 63 - 1):
            before = c.sources()["wms"]["rejected_messages"]
            # a rejected message consumes its seq: publish waits for it
            feed.publish("wms", [[2, "M", "E1", 0, 7], [kind, "M", "E1", "PO-X", qty, eta]])
            ck.eq(c.sources()["wms"]["rejected_messages"], before + 1,
                  "lot kind %d qty %d: message rejected" % (kind, qty))
            ck.eq(atp("M")[2], 0, "lot kind %d qty %d: nothing of the message applied"
                  % (kind, qty))
            feed.publish("wms", [[2, "M", "E1", 0, 0]])  # undo, if it was applied
    feed.publish("wms", [[2, "M", "E1", 0, 7]])
    ck.eq(atp("M")[2], 7, "a valid message after the rejected ones")
    # seq and ts_ms above 2^53-1: a malformed header, charged to no source,
    # consuming no seq (it used to be held as a hole: the source resyncing)
    for seq, ts in ((2 ** 63, eta), (1, 2 ** 64 - 1), (2 ** 53, eta), (1, 2 ** 53)):
        bad = c.status()["ingest"]["bad_messages"]
        last = c.sources()["wms"]["last_seq"]
        feed.send_payload(msgpack.packb([1, "wms", seq, ts, [[2, "N", "E1", 0, 3]]]))
        harness.wait_until(lambda: c.status()["ingest"]["bad_messages"] > bad,
                           10 * harness.TIME_FACTOR, what="bad message counted")
        src = c.sources()["wms"]
        ck.eq((src["last_seq"], src["state"], src["held"]), (last, "ok", 0),
              "seq %d ts %d: wms (last_seq, state, held)" % (seq, ts))
    feed.publish("wms", [[2, "N", "E1", 0, 4]])
    ck.eq(atp("N")[2], 4, "the next message of wms applies")

    # ---- defect 5: a qty of the wrong type is bad_request
    for bad in ("2", True, 2.0, None):
        for op in ("cart", "reserve"):
            body = {"op": op, "lines": [["D", "r1", 1], ["D", "r1", bad]]}
            if op == "reserve":
                body["id"] = "typed"
            expect_err("%s qty %r" % (op, bad), c.req(body), U.E_BAD_REQUEST, line=1)
    for bad in (0, -1, Q + 1, 2 ** 64 - 1):
        expect_err("reserve qty %r" % bad,
                   c.req({"op": "reserve", "id": "typed", "lines": [["D", "r1", bad]]}),
                   U.E_BAD_QTY, line=0)
    # the same rule for ttl_ms: the wrong type or missing is bad_request
    for bad in ("600000", 600000.0, True):
        expect_err("reserve ttl_ms %r" % (bad,),
                   c.req({"op": "reserve", "id": "typed", "ttl_ms": bad,
                          "lines": [["D", "r1", 1]]}), U.E_BAD_REQUEST)
    expect_err("extend without ttl_ms", c.req({"op": "extend", "id": "five"}),
               U.E_BAD_REQUEST)
    expect_err("reserve ttl_ms 2^64-1", c.req({"op": "reserve", "id": "typed",
                                               "ttl_ms": 2 ** 64 - 1,
                                               "lines": [["D", "r1", 1]]}), U.E_BAD_TTL)

    # ---- defect 6: the same lines in another order are the same content
    first = [["D", "r1", 1], ["E", "r1", 2], ["D", "r1", 1]]
    r = c.req({"op": "reserve", "id": "ord", "channel": "web", "lines": first})
    ck.check(r.get("granted") is True, "reserve ord: %s", short(r))
    granted = c.resv_counters()["granted"]
    for lines in ([["E", "r1", 2], ["D", "r1", 2]],
                  [["E", "r1", 1], ["D", "r1", 2], ["E", "r1", 1]]):
        r = c.req({"op": "reserve", "id": "ord", "channel": "web", "lines": lines})
        ck.check(r.get("ok") is True and r.get("replayed") is True,
                 "retry of ord as %r: want replayed, got %s", lines, short(r))
    ck.eq(c.resv_counters()["granted"], granted, "replays granted nothing more")
    ck.eq(atp("D")[1], 2, "D reserved once")
    for lines in ([["E", "r1", 2], ["D", "r1", 1]], [["E", "r1", 2], ["D", "r2", 2]]):
        expect_err("ord with other content %r" % lines,
                   c.req({"op": "reserve", "id": "ord", "channel": "web",
                          "lines": lines}), U.E_CONFLICT)

    # ---- defect 2: error replies are valid UTF-8
    def raw_str(b):
        return forge.Raw(forge.str_header(len(b)) + b)

    rq = harness.ReqClient(d.query_port)
    try:
        cut = b"a" * 63 + "\u00e9".encode()  # the 64-byte clip splits the e-acute
        bodies = [{"op": raw_str(op)} for op in (b"atp\xff", b"\xc0\xaf",
                                                 b"a\x01\xed\xa0\x80", cut)]
        bodies += [{"op": "atp", "sku": "A", "region": raw_str(b"mars\xff")},
                   {"op": "atp", "sku": raw_str(b"A\xff"), "region": "r1"},
                   {"op": "cart", "channel": raw_str(b"f\xffx"), "lines": [["A", "r1", 1]]},
                   {"op": "reserve", "id": raw_str(b"id\xff"), "lines": [["A", "r1", 1]]}]
        for body in bodies:
            raw = rq.request_raw(forge.packb(body))
            try:
                reply = strict(raw)
            except ValueError as e:  # UnicodeDecodeError is one
                ck.check(False, "%r: reply not valid UTF-8 (%s): %r", body, e, raw)
                continue
            ck.check(reply.get("ok") is False and isinstance(reply["error"]["code"], int),
                     "%r: want an error, got %r", body, reply)
        reply = strict(rq.request_raw(forge.packb({"op": raw_str(b"atp\xff")})))
        ck.eq(reply["error"]["code"], E_UNKNOWN_OP, "op 'atp\\xff': error code")
        ck.check("'atp\\xff'" in reply["error"]["message"],
                 "the invalid byte is written \\xff: %r", reply)
    finally:
        rq.close()

    feed.close()
    c.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "bounds")
