#!/usr/bin/python3
"""test_resv_consume.py - WMS allocation events consume committed reservations.

Locations E1, E2 (east) and W1 (west). On E1/E2 the source `erp` owns
on_hand and held, `wms` owns allocated; `erpw` owns all of W1. A committed
reservation is consumed by a source event [1, sku, location, 1, +n, ref]
whose ref names it (order_ref or id): `reserved` drops by what it consumes,
supply drops by n (allocated), so ATP is unchanged -- never subtracted
twice. Checked:

- partial consumption by order_ref, then by reservation id from another
  location of the region, then the remaining line in another region: state
  `consumed`, counter `consumed`;
- an allocation larger than what is open consumes only what is open;
- an allocation naming a held reservation, an unknown ref, a line the
  reservation does not have, a negative delta, or sent by a source that is
  not authoritative for the allocated bucket (message rejected) consumes
  nothing;
- after a SIGTERM restart and after kill -9 every reservation reads back as
  before, the positions come back (store + replay answered by the test's
  feeder), and `reserved` = sum of the open lines;
- an allocation replayed after kill -9 (atpd restores the positions of the
  last snapshot and asks the source to resend what followed) does not
  consume the reservation a second time.

After every step every (sku, region) answer is compared with a model:
supply from the published positions, reserved from the reservations read back.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402

LOC_REGION = {"E1": "east", "E2": "east", "W1": "west"}
KEYS = [("P", "east"), ("Q", "east"), ("P", "west"), ("Q", "west")]


def build_config(h):
    return U.resv_config(
        h, ["east", "west"], [(l, r) for l, r in LOC_REGION.items()],
        [("erp", [(["E1", "E2"], ["on_hand", "held"])]),
         ("wms", [(["E1", "E2"], ["allocated"])]),
         ("erpw", [(["W1"], ["on_hand", "allocated", "held"])])],
        buffers=[{"sku": "Q", "units": 1}],
        service={"snapshot_interval": "1h"},  # positions stored at clean stops only
        **U.LONG_LIVED)


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(build_config(h))
    c = U.Client(d.query_port)
    feed = U.Feeder(d, c)
    pos = {}  # (sku, loc) -> [on_hand, allocated, held]
    ids = []

    def owner(loc, bucket):
        if loc == "W1":
            return "erpw"
        return "wms" if bucket == 1 else "erp"

    def publish(src, events):
        feed.publish(src, events)
        for ev in events:
            if ev[0] in (1, 2):
                p = pos.setdefault((ev[1], ev[2]), [0, 0, 0])
                p[ev[3]] = ev[4] if ev[0] == 2 else p[ev[3]] + ev[4]

    def seed(values=None):
        """Publish every position (sets) from its owners."""
        feed.reconnect()
        by = {}
        for (sku, loc), b in sorted((values or pos).items()):
            for bucket in (0, 1, 2):
                by.setdefault(owner(loc, bucket), []).append([2, sku, loc, bucket, b[bucket]])
        for src, evs in sorted(by.items()):
            publish(src, evs)

    def supply(k):
        return sum(max(0, b[0] - b[1] - b[2]) for (sku, loc), b in pos.items()
                   if sku == k[0] and LOC_REGION[loc] == k[1])

    def model(label):
        """Compare every answer with the model; returns {key: answer}."""
        reserved = {k: 0 for k in KEYS}
        for rid in ids:
            for k, q in U.open_lines(c.get(rid)).items():
                reserved[k] += q
        out = {}
        for k in KEYS:
            a = c.atp(*k)
            buf = 1 if k[0] == "Q" else 0
            want = (supply(k), reserved[k], buf, max(0, supply(k) - reserved[k] - buf))
            ck.eq((a["supply"], a["reserved"], a["buffer"], a["atp"]), want,
                  "%s: %s/%s (supply, reserved, buffer, atp)" % (label, k[0], k[1]))
            out[k] = {f: a.get(f) for f in ("supply", "reserved", "buffer", "atp", "shortfall",
                                             "rule")}
        return out

    def lines_of(rid):
        res = c.get(rid) or {}
        return res.get("state"), {(l[0], l[1]): (l[2], l[3], l[4]) for l in U.record_lines(res)}

    def reserve(rid, lines):
        r = c.reserve(rid, lines)
        ck.check(r.get("granted") is True, "reserve %s: %r", rid, r)
        ids.append(rid)

    def step(label, src, events, want_state, want_lines, atp_delta, rid="c1"):
        before = model(label + " (before)")
        cnt0 = c.resv_counters()
        publish(src, events)
        after = model(label)
        for k in KEYS:
            ck.eq(after[k]["atp"] - before[k]["atp"], atp_delta.get(k, 0),
                  "%s: ATP change of %s/%s" % (label, k[0], k[1]))
        st, ls = lines_of(rid)
        ck.eq(st, want_state, "%s: state of %s" % (label, rid))
        for k, v in want_lines.items():
            ck.eq(ls.get(k), v, "%s: %s line %s/%s (qty, consumed, released)" % (label, rid, *k))
        return cnt0

    publish("erp", [[2, "P", "E1", 0, 50], [2, "P", "E2", 0, 20], [2, "Q", "E1", 0, 30]])
    publish("wms", [[2, "P", "E1", 1, 0], [2, "P", "E2", 1, 0], [2, "Q", "E1", 1, 0]])
    publish("erpw", [[2, "P", "W1", 0, 10], [2, "Q", "W1", 0, 10]])
    model("seeded")

    reserve("c1", [["P", "east", 5], ["Q", "east", 2], ["P", "west", 1]])
    r = c.commit("c1", "SO-100")
    ck.check(r.get("ok") is True and r["reservation"]["state"] == "committed", "commit c1: %r", r)
    model("c1 committed")

    step("allocation of 3 P/E1 naming order SO-100", "wms", [[1, "P", "E1", 1, 3, "SO-100"]],
         "committed", {("P", "east"): (5, 3, 0), ("Q", "east"): (2, 0, 0)}, {})
    step("allocation of 2 P/E2 naming reservation id c1", "wms", [[1, "P", "E2", 1, 2, "c1"]],
         "committed", {("P", "east"): (5, 5, 0)}, {})
    step("allocation of 4 more P/E1 naming SO-100 (line fully consumed)", "wms",
         [[1, "P", "E1", 1, 4, "SO-100"]], "committed", {("P", "east"): (5, 5, 0)},
         {("P", "east"): -4})
    step("allocation of 5 Q/E1 naming SO-100 (2 open)", "wms",
         [[1, "Q", "E1", 1, 5, "SO-100"]], "committed", {("Q", "east"): (2, 2, 0)},
         {("Q", "east"): -3})
    cnt0 = step("allocation of 1 P/W1 naming SO-100 (last line)", "erpw",
                [[1, "P", "W1", 1, 1, "SO-100"]], "consumed",
                {("P", "east"): (5, 5, 0), ("Q", "east"): (2, 2, 0), ("P", "west"): (1, 1, 0)}, {})
    ck.eq(c.resv_counters().get("consumed", 0) - cnt0.get("consumed", 0), 1,
          "status reservations.consumed after c1 is consumed")
    step("allocation of 1 P/E1 naming consumed c1", "wms", [[1, "P", "E1", 1, 1, "c1"]],
         "consumed", {("P", "east"): (5, 5, 0)}, {("P", "east"): -1})

    # a held (not committed) reservation is not consumed
    reserve("h1", [["P", "east", 4]])
    step("allocation of 2 P/E1 naming held h1", "wms", [[1, "P", "E1", 1, 2, "h1"]],
         "held", {("P", "east"): (4, 0, 0)}, {("P", "east"): -2}, rid="h1")
    step("allocation of 1 P/E1 naming an unknown ref", "wms",
         [[1, "P", "E1", 1, 1, "SO-NOPE"]], "held", {("P", "east"): (4, 0, 0)},
         {("P", "east"): -1}, rid="h1")

    reserve("c2", [["P", "east", 3], ["Q", "west", 2]])
    r = c.commit("c2", "SO-200")
    ck.check(r.get("ok") is True, "commit c2: %r", r)
    step("allocation of 1 Q/E1 naming SO-200 (c2 has no Q/east line)", "wms",
         [[1, "Q", "E1", 1, 1, "SO-200"]], "committed",
         {("P", "east"): (3, 0, 0), ("Q", "west"): (2, 0, 0)}, {("Q", "east"): -1}, rid="c2")
    step("de-allocation of 1 P/E1 naming SO-200 (negative delta)", "wms",
         [[1, "P", "E1", 1, -1, "SO-200"]], "committed", {("P", "east"): (3, 0, 0)},
         {("P", "east"): +1}, rid="c2")
    # erp is not authoritative for allocated at E1: the message is rejected whole
    src0 = {s["id"]: s for s in c.ok({"op": "sources"})["sources"]}["erp"]
    before = model("before an unauthorized allocation")
    feed.publish("erp", [[1, "P", "E1", 1, 2, "SO-200"]])
    src1 = {s["id"]: s for s in c.ok({"op": "sources"})["sources"]}["erp"]
    ck.eq((src1["rejected_messages"] - src0["rejected_messages"],
           src1["unauthorized"] - src0["unauthorized"]), (1, 1),
          "unauthorized allocation: erp rejected_messages/unauthorized deltas")
    after = model("after an unauthorized allocation")
    ck.eq(after, before, "answers after an unauthorized allocation")
    ck.eq(lines_of("c2")[1].get(("P", "east")), (3, 0, 0), "c2 P/east after it")
    step("allocation of 1 P/E2 naming SO-200 (partial)", "wms",
         [[1, "P", "E2", 1, 1, "SO-200"]], "committed",
         {("P", "east"): (3, 1, 0), ("Q", "west"): (2, 0, 0)}, {}, rid="c2")
    # a consumed-in-part reservation released: only what is open is released
    reserve("c3", [["Q", "east", 2], ["P", "east", 1]])
    ck.check(c.commit("c3").get("ok") is True, "commit c3 without order_ref")
    step("allocation of 1 Q/E1 naming c3", "wms", [[1, "Q", "E1", 1, 1, "c3"]], "committed",
         {("Q", "east"): (2, 1, 0)}, {}, rid="c3")
    r = c.release("c3")
    ck.check(r.get("ok") is True and r["reservation"]["state"] == "released" and
             U.record_lines(r["reservation"]) == [("Q", "east", 2, 1, 1), ("P", "east", 1, 0, 1)],
             "release of partly consumed c3: %r", r)
    final = {rid: c.get(rid) for rid in ids}
    answers = model("before the restarts")
    h.log("consumption checked; final states %s",
          {rid: (res or {}).get("state") for rid, res in final.items()})

    # ---------------- survives restarts
    for how in ("SIGTERM", "kill -9"):
        if how == "SIGTERM":
            d.stop()
        else:
            U.kill9(d)
        U.restart(d)
        c.close()
        for rid, want in final.items():
            ck.eq(c.get(rid), want, "%s after %s" % (rid, how))
        feed.after_restart()  # positions restored from the store, the rest replayed
        ck.eq(model("after %s, stock not re-published" % how), answers,
              "answers after %s (restored positions + replay)" % how)
        seed()
        ck.eq(model("after %s" % how), answers, "answers after %s" % how)
        ck.eq(c.resv_counters().get("open"),
              sum(1 for res in final.values() if res and res.get("state") in U.OPEN_STATES),
              "status reservations.open after %s" % how)
    # consumption still works after a restart
    step("allocation of 2 P/E1 naming SO-200 after the restarts", "wms",
         [[1, "P", "E1", 1, 2, "SO-200"]], "committed",
         {("P", "east"): (3, 3, 0), ("Q", "west"): (2, 0, 0)}, {}, rid="c2")
    step("allocation of 2 Q/W1 naming SO-200 after the restarts", "erpw",
         [[1, "Q", "W1", 1, 2, "SO-200"]], "consumed",
         {("P", "east"): (3, 3, 0), ("Q", "west"): (2, 2, 0)}, {}, rid="c2")

    # ---------------- a replayed allocation does not consume twice
    # snapshot_interval is 1h: after kill -9, atpd restores the positions of
    # the last clean stop and asks the source to replay everything since,
    # including an allocation that already consumed a reservation.
    reserve("c5", [["P", "east", 6]])
    ck.check(c.commit("c5", "SO-500").get("ok") is True, "commit c5")
    step("allocation of 2 P/E1 naming SO-500", "wms", [[1, "P", "E1", 1, 2, "SO-500"]],
         "committed", {("P", "east"): (6, 2, 0)}, {}, rid="c5")
    want_c5 = c.get("c5")
    answers = model("before kill -9 with an allocation to replay")
    replays0 = feed.replays
    U.kill9(d)
    U.restart(d)
    c.close()
    feed.after_restart()
    h.log("after kill -9: the feeder answered %d replay request(s)", feed.replays - replays0)
    ck.check(feed.replays > replays0, "atpd did not ask for a replay after kill -9")
    ck.eq(c.get("c5"), want_c5, "c5 after kill -9 and the replay of its allocation")
    ck.eq(model("after the replay"), answers, "answers after kill -9 and the replay")
    U.finish(ck, c, feed, d)


if __name__ == "__main__":
    harness.run(main, "resv_consume")
