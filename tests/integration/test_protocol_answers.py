#!/usr/bin/python3
"""test_protocol_answers.py - every answer of docs/PROTOCOL.md, "Answers for
client authors", checked against a running atpd (issue 12, "Documentation a
client author needs"): a change to any of these behaviours must change the
document too.

Label: integration, correctness. Bounded: about 10 s.
"""

import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import msgpack  # noqa: E402
import forge  # noqa: E402
from harness import TestFailure, error_code  # noqa: E402

E = {"bad_request": 1, "unknown_region": 3, "bad_sku": 6, "bad_qty": 7, "too_many_lines": 8,
     "too_large": 9, "conflict": 18, "not_found": 19, "bad_id": 27}
DAY_MS = 86400000


def main(h):
    cfg = harness.build_config(
        h, [{"id": "r1", "inbound_horizon": "1d"}, "r2"], [("L1", "r1"), ("L2", "r2")],
        [harness.source_entry("wms", [(["L1"], ["on_hand", "allocated", "held", "inbound"])]),
         harness.source_entry("erp", [(["L2"], ["on_hand"])])],
        reservations={"max_lines": 3})
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)

    def supply(sku, region="r1"):
        return c.atp(sku, region)["supply"]

    def src(sid="wms"):
        return c.sources()[sid]

    def send(msg):
        pub.send_payload(msgpack.packb(msg))

    def settle(pred, what):
        harness.wait_until(pred, 10, 0.02, what)

    def err(reply):
        e = reply.get("error", {}) if reply.get("ok") is False else {}
        return (e.get("name"), e.get("line"))

    now = harness.now_ms()
    # ---- which rejected source messages consume their seq
    send([1, "wms", 1, now, [[2, "X", "L1", 0, 5]]])
    settle(lambda: src()["last_seq"] == 1, "seq 1")
    send([1, "wms", 2, now, [[2, "X", "L1", 7, 9]]])          # bad bucket: a shape error
    settle(lambda: src()["rejected_messages"] == 1, "seq 2 rejected")
    send([1, "wms", 2, now, [[2, "X", "L1", 0, 6]]])          # the same seq again
    settle(lambda: src()["duplicates"] == 1, "seq 2 again: a duplicate")
    ck.eq(supply("X"), 5, "a rejected message consumed seq 2: its fixed resend is a duplicate")
    send([1, "wms", 3, now, [[2, "X", "L2", 0, 6]]])          # outside its authority
    # Rejected on the ingest thread; its seq is applied (an empty batch) on
    # the engine thread a moment later: wait for both.
    settle(lambda: src()["rejected_messages"] == 2 and src()["last_seq"] >= 3,
           "seq 3 rejected, and its seq applied")
    ck.eq((src()["unauthorized"], src()["last_seq"]), (1, 3), "unauthorized consumes seq 3")
    bad_before = c.status()["ingest"]["bad_messages"]
    send([1, "wms", "four", now, [[2, "X", "L1", 0, 7]]])     # malformed header
    settle(lambda: c.status()["ingest"]["bad_messages"] == bad_before + 1, "bad header")
    send([1, "wms", 4, now, [[2, "X", "L1", 0, 8]]])
    settle(lambda: src()["last_seq"] == 4, "seq 4 after a malformed header")
    ck.eq(supply("X"), 8, "a malformed header consumed no seq: 4 is still next")

    # ---- negative set; lots: ids scoped to (sku, location)
    send([1, "wms", 5, now, [[2, "N", "L1", 0, -5], [2, "M", "L1", 0, 5],
                             [2, "M", "L1", 1, -3]]])
    send([1, "wms", 6, now, [[6, "X", "L1", "PO-1", 10, now], [6, "Y", "L1", "PO-1", 20, now]]])
    settle(lambda: src()["last_seq"] == 6, "seqs 5, 6")
    ck.eq((supply("N"), supply("M")), (0, 8),
          "set on_hand -5 contributes 0; allocated -3 adds to net (5 - (-3))")
    ck.eq((supply("X"), supply("Y")), (18, 20), "lot PO-1 of X and of Y are two lots")
    send([1, "wms", 7, now, [[9, "X", "L1", "PO-1"]]])
    settle(lambda: src()["last_seq"] == 7, "seq 7")
    ck.eq((supply("X"), supply("Y")), (8, 20), "cancelling X's PO-1 leaves Y's")
    send([1, "wms", 8, now, [[6, "X", "L1", "P" * 129, 1, now]]])
    settle(lambda: src()["rejected_messages"] == 3, "a 129-byte lot id rejected")

    # ---- snapshot part numbers
    def snap(sid, part, seq, last, events, snap_id=1):
        send([2, "erp", snap_id, part, now, seq, last, events])

    send([1, "erp", 1, now, [[2, "S", "L2", 0, 1]]])
    settle(lambda: src("erp")["last_seq"] == 1, "erp seq 1")
    snap(1, 1, 1, True, [[2, "S", "L2", 0, 50]])              # part 1 with no part 0
    time.sleep(0.2)
    ck.eq((src("erp")["snapshots_applied"], src("erp")["snapshots_aborted"], supply("S", "r2")),
          (0, 0, 1), "a part without its part 0 is dropped, nothing counted")
    snap(1, 0, 1, False, [[2, "S", "L2", 0, 60]])
    snap(1, 0, 1, False, [[2, "S", "L2", 0, 61]], snap_id=2)  # a new part 0
    snap(1, 1, 1, True, [[2, "S", "L2", 0, 62]], snap_id=2)
    settle(lambda: src("erp")["snapshots_applied"] == 1 and supply("S", "r2") == 62,
           "snapshot 2 applied")
    ck.eq((src("erp")["snapshots_aborted"], supply("S", "r2")), (1, 62),
          "a new part 0 abandons the open snapshot (aborted 1), then applies")
    snap(1, 0, 1, False, [[2, "S", "L2", 0, 70]], snap_id=3)
    snap(1, 0, 1, False, [[2, "S", "L2", 0, 70]], snap_id=3)  # part 0 twice (a dup)
    snap(1, 1, 1, True, [[2, "S", "L2", 0, 71]], snap_id=3)
    settle(lambda: src("erp")["snapshots_applied"] == 2 and supply("S", "r2") == 71,
           "snapshot 3 applied")
    ck.eq(supply("S", "r2"), 71, "a duplicated part 0 restarts the same snapshot")
    snap(1, 0, 1, False, [[2, "S", "L2", 0, 80]], snap_id=4)
    snap(1, 1, 1, False, [[2, "S", "L2", 0, 80]], snap_id=4)
    snap(1, 1, 1, True, [[2, "S", "L2", 0, 81]], snap_id=4)   # part 1 twice
    settle(lambda: src("erp")["snapshots_aborted"] == 3, "snapshot 4 aborted")
    ck.eq(supply("S", "r2"), 71, "a duplicated later part abandons the snapshot")
    send([1, "erp", 2, now, [[2, "S", "L2", 0, 90]]])
    settle(lambda: supply("S", "r2") == 90, "erp seq 2")
    snap(1, 0, 1, True, [[2, "S", "L2", 0, 5]], snap_id=5)     # consistent with seq 1 < 2
    settle(lambda: src("erp")["snapshots_aborted"] == 4, "snapshot 5 (older seq) abandoned")
    ck.eq((supply("S", "r2"), src("erp")["last_seq"], src("erp")["snapshots_applied"]),
          (90, 2, 2), "a snapshot older than the applied seq changes nothing")
    snap(1, 0, 2, True, [[2, "S", "L2", 0, 6]], snap_id=6)     # consistent with seq 2
    settle(lambda: supply("S", "r2") == 6, "a snapshot at the applied seq applies")

    # ---- queries: bytes, nesting, keys, strings
    rq = harness.ReqClient(d.query_port)
    whole = msgpack.packb({"op": "status"})
    ck.eq(error_code(rq.request(whole[:-2])), E["too_large"],
          "cut inside a string: its declared length is beyond the end: too_large")
    ck.eq(error_code(rq.request(b"\x82\xa2op\xa6status\xa5limit\xcd\x03")), E["bad_request"],
          "cut inside a number: bad_request")
    ck.eq(error_code(rq.request(b"\x82\xa2op\xa6status")), E["bad_request"],
          "a map missing its last pair: bad_request")
    ck.eq(error_code(rq.request(whole + b"\xc0")), E["bad_request"], "trailing bytes")
    ck.eq(error_code(rq.request(b"\x81\xa2op\xa6st")), E["too_large"],
          "a string declaring more bytes than remain: too_large")
    ck.eq(error_code(rq.request(b"\x81\xa2op\xdc\x00\x09\x01")), E["too_large"],
          "an array declaring more members than bytes remain: too_large")
    for depth, want in ((8, True), (9, False)):
        body = forge.map_header(2) + msgpack.packb("op") + msgpack.packb("status") + \
            msgpack.packb("x") + b"\x91" * (depth - 2) + b"\x90"
        r = rq.request(body)
        ck.eq(r.get("ok") is True, want, "top-level map + %d arrays = depth %d" % (depth - 1, depth))
        if not want:
            ck.eq(error_code(r), E["too_large"], "depth 9: too_large")
    dup = forge.map_header(4) + b"".join(msgpack.packb(x) for x in (
        "op", "atp", "sku", "X", "region", "r1", "region", "mars"))
    ck.eq(rq.request(dup).get("region"), "r1", "a duplicate key: the first wins")
    for sku, ok in (("A B", True), ("é-1", True), ("\u200b", True), ("A\tB", False),
                    ("A\u0085B", False), ("A\x7fB", False)):
        r = rq.request({"op": "atp", "sku": sku, "region": "r1"})
        ck.eq(r.get("ok") is True or error_code(r), True if ok else E["bad_sku"],
              "printable: %r" % sku)
    ck.eq(err(rq.request({"op": "cart", "lines": []})), ("bad_request", None), "empty cart")
    for limit, ok in ((0, False), (1, True), (10000, True), (10001, False)):
        r = rq.request({"op": "scan", "region": "r1", "limit": limit})
        ck.eq(r.get("ok") is True, ok, "scan limit %d" % limit)
    r = rq.request({"op": "scan", "region": "r1", "cursor": 1000000})
    ck.eq((r.get("items"), r.get("next_cursor", "absent")), ([], None), "cursor past the end")

    # ---- reservation error codes
    ck.eq(err(rq.request({"op": "reserve", "id": "a", "lines": [["X", "r1", 1], ["X", "r1", 0]]})),
          ("bad_qty", 1), "reserve: the bad line's index")
    ck.eq(err(rq.request({"op": "reserve", "id": "a", "lines": [["X", "r1", 1]] * 4})),
          ("too_many_lines", None), "reserve over max_lines 3")
    for rid, ref in (("a", "SO-1"), ("b", None)):
        rq.request({"op": "reserve", "id": rid, "lines": [["X", "r1", 1]]})
        if ref:
            ck.eq(rq.request({"op": "commit", "id": rid, "order_ref": ref})["ok"], True, "commit")
    ck.eq(err(rq.request({"op": "commit", "id": "b", "order_ref": "SO-1"})), ("conflict", None),
          "an order_ref another reservation has")
    ck.eq(err(rq.request({"op": "commit", "id": "b", "order_ref": "R" * 129})), ("bad_id", None),
          "an order_ref of 129 bytes")
    ck.eq(err(rq.request({"op": "release", "id": "nope"})), ("not_found", None),
          "release of an unknown id")
    ck.eq(err(rq.request({"op": "release", "id": "b", "lines": []})), ("bad_request", None),
          "release with lines: []")
    r = rq.request({"op": "release", "id": "b", "lines": [["Y", "r1"]]})
    ck.eq((r.get("ok"), r["reservation"]["state"], r["reservation"]["lines"][0]["released"]),
          (True, "held", 0), "release of a line the reservation does not have: nothing")
    rq.close()
    pub.close()
    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "protocol_answers")
