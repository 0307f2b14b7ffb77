#!/usr/bin/python3
"""test_numbers.py - issue 13: every integer atpd sends is exact in a JSON
double, |n| <= 2^53-1 (docs/PROTOCOL.md, "Numbers").

- Change feed: seq, region_seq and key_seq start at atpd's start time in
  ms x 1,000 (they used to be x 2^20, about 1.9e18, which JSON.parse and jq
  round); scan's seq and region_seq are the same numbers.
- Source input bounded at 2^53-1: a seq, ts_ms or snapshot_id of 2^53 is
  a malformed header (bad_messages, no seq consumed, the source stays ok
  and holds nothing); a lot eta_ms of 2^53 is bad_qty (the message is
  rejected and consumes its seq).
- Supply saturates at 2^53-1: 10 lots of 10^15 show 9007199254740991, in
  answers, scans and the feed; the sum is kept exact (cancelling lots
  brings it back), and no grant exceeds the true supply.
- Every integer of every reply and feed message of the run is checked.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util as F  # noqa: E402
import harness  # noqa: E402
import msgpack  # noqa: E402
import resv_util as U  # noqa: E402

MAX = 2 ** 53 - 1
Q = 10 ** 15
LOTS = 10  # 10 x 10^15 > 2^53-1
ALL = ["on_hand", "allocated", "held", "inbound"]


def ints(v, path="$"):
    """Every integer in a decoded reply: [(path, n)] (bools are not)."""
    if isinstance(v, bool):
        return []
    if isinstance(v, int):
        return [(path, v)]
    if isinstance(v, dict):
        return [x for k, x2 in v.items() for x in ints(x2, "%s.%s" % (path, k))]
    if isinstance(v, (list, tuple)):
        return [x for i, x2 in enumerate(v) for x in ints(x2, "%s[%d]" % (path, i))]
    return []


def main(h):
    ck = harness.Checks(h)
    cfg = U.resv_config(h, [{"id": "r1", "inbound_horizon": "1d"}],
                        [("E1", "r1"), ("E2", "r1")], [("wms", ["E1", "E2"], ALL)],
                        channels=("web",), durability="sync",
                        service={"feed_interval": "20ms"})
    t0 = harness.now_ms()
    d = h.start_atpd(cfg)
    t1 = harness.now_ms()
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    feed.reconnect()
    sub = F.Sub(d)
    seen = []  # every reply and feed message, checked at the end

    def req(body):
        r = c.req(body)
        seen.append((body.get("op"), r))
        return r

    def bounded(what, v):
        bad = [(p, n) for p, n in ints(v) if abs(n) > MAX]
        ck.check(not bad, "%s: integers beyond 2^53-1: %r", what, bad[:5])

    # ---- the change feed's sequences
    feed.publish("wms", [[2, "A", "E1", 0, 5]])
    got = sub.wait_for(lambda r, s, b: s == "A" and b["supply"] == 5, 10, "A at 5")
    body = got[-1][2]
    for k in ("seq", "region_seq", "key_seq"):
        ck.check(0 < body[k] <= MAX, "feed %s %d within 1..2^53-1", k, body[k])
    ck.check(t0 <= (body["seq"] - 1) // 1000 <= t1,
             "feed seq %d starts at the start time (%d..%d) x 1000", body["seq"], t0, t1)
    ck.check(t0 <= (body["key_seq"] - 1) // 1000 <= t1,
             "key_seq %d starts at the start time x 1000", body["key_seq"])
    scan = req({"op": "scan", "region": "r1"})
    ck.check(scan.get("ok") is True and 0 < scan["seq"] <= MAX
             and 0 < scan["region_seq"] <= MAX,
             "scan seq/region_seq within 2^53-1: %r",
             (scan.get("seq"), scan.get("region_seq")))
    ck.check(scan["seq"] >= body["seq"] and scan["region_seq"] >= body["region_seq"],
             "scan's sequences are the feed's: %r >= %r",
             (scan["seq"], scan["region_seq"]), (body["seq"], body["region_seq"]))

    # ---- source envelope fields of 2^53: a malformed header, no seq consumed
    now = harness.now_ms()
    bad_envelopes = [
        ("seq 2^53", [1, "wms", MAX + 1, now, [[2, "N", "E1", 0, 3]]]),
        ("ts_ms 2^53", [1, "wms", feed.seq["wms"] + 1, MAX + 1, [[2, "N", "E1", 0, 3]]]),
        ("snapshot_id 2^53", [2, "wms", MAX + 1, 0, now, feed.seq["wms"], True,
                              [[2, "N", "E1", 0, 3]]]),
        ("snapshot seq 2^53", [2, "wms", 7, 0, now, MAX + 1, True,
                               [[2, "N", "E1", 0, 3]]]),
    ]
    for what, msg in bad_envelopes:
        bad = c.status()["ingest"]["bad_messages"]
        before = c.sources()["wms"]
        feed.send_payload(msgpack.packb(msg))
        harness.wait_until(lambda: c.status()["ingest"]["bad_messages"] > bad,
                           10 * harness.TIME_FACTOR, what=what + " counted as bad")
        src = c.sources()["wms"]
        ck.eq((src["last_seq"], src["state"], src["held"], src["snapshots_applied"],
               src["rejected_messages"]),
              (before["last_seq"], "ok", 0, before["snapshots_applied"],
               before["rejected_messages"]),
              what + ": wms (last_seq, state, held, snapshots_applied, rejected)")
    ck.eq(c.atp("N", "r1")["supply"], 0, "nothing of the malformed messages applied")
    feed.publish("wms", [[2, "N", "E1", 0, 4]])
    ck.eq(c.atp("N", "r1")["supply"], 4, "the next message of wms applies")

    # ---- lot eta_ms of 2^53: bad_qty, the message consumes its seq
    rejected = c.sources()["wms"]["rejected_messages"]
    feed.publish("wms", [[2, "M", "E1", 0, 7], [6, "M", "E1", "PO-X", 5, MAX + 1]])
    ck.eq(c.sources()["wms"]["rejected_messages"], rejected + 1,
          "eta_ms 2^53: the message is rejected (and its seq consumed)")
    ck.eq(c.atp("M", "r1")["supply"], 0, "eta_ms 2^53: nothing of the message applied")

    # ---- supply beyond 2^53-1: shown saturated, kept exact
    eta = harness.now_ms()
    feed.publish("wms", [[6, "L", "E1", "PO-%d" % i, Q, eta] for i in range(LOTS)])
    a = req({"op": "atp", "sku": "L", "region": "r1", "channel": "web"})
    ck.eq((a.get("supply"), a.get("atp"), a.get("reserved")), (MAX, MAX, 0),
          "10 lots of 10^15: (supply, atp, reserved) at 2^53-1")
    sub.wait_for(lambda r, s, b: s == "L" and b["supply"] == MAX, 10, "L at 2^53-1 in the feed")
    items = {it["sku"]: it for it in req({"op": "scan", "region": "r1"})["items"]}
    ck.eq(items.get("L", {}).get("supply"), MAX, "scan shows L's supply at 2^53-1")
    r = req({"op": "reserve", "id": "big", "channel": "web", "lines": [["L", "r1", Q]]})
    ck.check(r.get("granted") is True, "reserve 10^15 of the saturated supply: %r", r)
    a = req({"op": "atp", "sku": "L", "region": "r1", "channel": "web"})
    ck.eq((a.get("supply"), a.get("atp"), a.get("reserved")), (MAX, MAX - Q, Q),
          "after the grant (supply, atp, reserved)")
    feed.publish("wms", [[9, "L", "E1", "PO-%d" % i] for i in range(1, LOTS)])
    a = req({"op": "atp", "sku": "L", "region": "r1", "channel": "web"})
    ck.eq((a.get("supply"), a.get("atp"), a.get("reserved")), (Q, 0, Q),
          "9 lots cancelled: the exact sum, 10^15, is back (supply, atp, reserved)")
    r = req({"op": "reserve", "id": "one-more", "channel": "web",
             "lines": [["L", "r1", 1]]})
    ck.check(r.get("ok") is True and r.get("granted") is False,
             "one unit beyond the true supply: refused, got %r", r)

    # ---- every integer of the run
    for op in ("status", "sources"):
        req({"op": op})
    req({"op": "reservation", "id": "big"})
    req({"op": "regions", "sku": "L", "channel": "web"})
    req({"op": "cart", "lines": [["L", "r1", 1], ["A", "r1", 2]]})
    for op, r in seen:
        bounded("reply to %s" % op, r)
    for m in sub.take() + got:
        bounded("feed message %s/%s" % (m[0], m[1]), m[2])

    sub.close()
    U.finish(ck, c, feed, d)


if __name__ == "__main__":
    harness.run(main, "numbers")
