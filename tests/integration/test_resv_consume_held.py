#!/usr/bin/python3
"""test_resv_consume_held.py - an allocation applied while the reservation
it names is held never consumes it, also when the source resends it after
a kill -9 and the reservation was committed in between (issue 12,
"Oversell" B(2), the case docs/PROTOCOL.md used to leave uncovered).

Region east: locations L1, L2 (the WMS `wms` owns `allocated` there);
`erp` owns every `on_hand`. Positions are stored by an explicit `snapshot`
after the stock is seeded (snapshot_interval 1h: no other), so every
allocation below is above the stored offset and is resent after a kill -9.

- H2: r2 (5) is held and r3 (5) is committed with order_ref "r2"; `wms`
  allocates 3 at L2 naming "r2": r2 is held, so r3 is consumed (3).
- H1: r1 (6) is held; `wms` allocates 6 at L1 naming r1: nothing consumed.
  (The last allocation: no other stored record shows that wms reached its
  seq, so only r1's own stored mark keeps the resend from consuming it.)
- kill -9 before any snapshot covers those seqs; restart; r1 and r2 are
  committed BEFORE `wms` resends (the feeder's lock keeps its replies
  back until then); then `wms` resends.
- Expected, the run without the crash: r1 and r2 committed with nothing
  consumed, r3 committed with 3 consumed, and (P, east) ATP = supply -
  what r1, r2 and r3 hold. The test computes that run too, on the same
  atpd, with r4/r5/r6 and no kill in between, and compares both.
- Then consumption goes on: a new allocation naming r1 consumes it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402

ON_HAND = {"L1": 60, "L2": 60}


def build_config(h):
    """Region east, L1 and L2: erp's stock, wms's allocations; snapshots
    only when asked (test_resv_consume_window.py uses it too)."""
    return U.resv_config(
        h, ["east"], [("L1", "east"), ("L2", "east")],
        [("erp", [(["L1", "L2"], ["on_hand", "held"])]),
         ("wms", [(["L1", "L2"], ["allocated"])])],
        service={"snapshot_interval": "1h"}, **U.LONG_LIVED)


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(build_config(h))
    c = U.Client(d.query_port)
    feed = U.Feeder(d, c)

    feed.publish("erp", [[2, "P", loc, 0, q] for loc, q in sorted(ON_HAND.items())])
    ck.check(c.snapshot().get("ok") is True, "snapshot after seeding")

    def reserve(rid, qty, order_ref=None, commit=True):
        r = c.reserve(rid, [["P", "east", qty]])
        ck.check(r.get("granted") is True, "reserve %s: %r", rid, r)
        if commit:
            commit_now(rid, order_ref)

    def commit_now(rid, order_ref=None):
        r = c.commit(rid, order_ref)
        ck.check(r.get("ok") is True and
                 (r.get("reservation") or {}).get("state") == "committed",
                 "commit %s: %r", rid, r)

    def state(rids):
        out = []
        for rid in rids:
            res = c.get(rid) or {}
            out.append((res.get("state"), [l[3] for l in U.record_lines(res)]))
        return out

    def atp():
        a = c.atp("P", "east")
        return a["supply"], a["reserved"], a["atp"]

    # ---- the run without a crash: r4 as r1, r5 as r2, r6 as r3
    reserve("r6", 5, "r5")
    reserve("r5", 5, commit=False)
    feed.publish("wms", [[1, "P", "L2", 1, 3, "r5"]])
    reserve("r4", 6, commit=False)
    feed.publish("wms", [[1, "P", "L1", 1, 6, "r4"]])
    commit_now("r4")
    commit_now("r5")
    no_crash = state(["r4", "r5", "r6"])
    ck.eq(no_crash, [("committed", [0]), ("committed", [0]), ("committed", [3])],
          "without a crash: allocations named while held consume nothing")
    atp_no_crash = atp()

    # ---- the same with a kill -9 between the allocations and the commits.
    # r1's allocation last: r3's consumption stores a mark of wms (at H2's
    # seq), and a mark at or above r1's seq would cover it after the
    # restart anyway (seq_floor); here only r1's own record can.
    reserve("r3", 5, "r2")
    reserve("r2", 5, commit=False)
    feed.publish("wms", [[1, "P", "L2", 1, 3, "r2"]])
    reserve("r1", 6, commit=False)
    feed.publish("wms", [[1, "P", "L1", 1, 6, "r1"]])
    ck.eq(state(["r1", "r2", "r3"]), [("held", [0]), ("held", [0]), ("committed", [3])],
          "before the kill")
    replays0 = feed.replays
    with feed.lock:  # no resend before both commits are answered
        U.kill9(d)
        U.restart(d)
        c.close()
        commit_now("r1")
        commit_now("r2")
    feed.after_restart()
    ck.check(feed.replays > replays0, "atpd did not ask for a replay")
    ck.eq(state(["r1", "r2", "r3"]), no_crash,
          "after kill -9, commits, then the resend: as without the crash")
    # Every allocation was made twice (once per run), every reservation is
    # held twice: ATP is what the run without the crash had, minus itself.
    supply, reserved, a = atp()
    s0, r0, a0 = atp_no_crash
    allocated = 2 * (6 + 3)
    want_supply = sum(ON_HAND.values()) - allocated
    ck.eq((supply, reserved, a),
          (want_supply, 2 * (6 + 5 + 5 - 3), want_supply - 2 * (6 + 5 + 5 - 3)),
          "P/east (supply, reserved, atp) after the replay")
    ck.eq((s0 - 9, reserved - r0), (supply, r0), "the crash run adds what the "
          "run without it added")

    # consumption goes on
    feed.publish("wms", [[1, "P", "L1", 1, 2, "r1"]])
    ck.eq(state(["r1"]), [("committed", [2])], "a new allocation consumes r1")
    U.finish(ck, c, feed, d)


if __name__ == "__main__":
    harness.run(main, "resv_consume_held")
