#!/usr/bin/python3
"""test_resv_consume_replay.py - a consumption happens once, whatever kill -9
replays (issue 12, "Oversell" B and C).

Region east: locations L1, L2 (the WMS `wms` owns `allocated` there) and the
store S1 (the store system `shop` owns its `allocated`); `erp` owns every
`on_hand`. Positions are stored by an explicit `snapshot` after the stock is
seeded (snapshot_interval 1h: no other), so after every kill -9 atpd asks the
sources to resend every allocation below, and the test's feeder does.

- B1: committed r1 (10 units) consumed by two sources: `wms` allocates 3
  naming the id, `shop` allocates 2 naming the order_ref: consumed 5.
- B2: an allocation naming r2 while it is held, and one naming r3 before it
  exists, consume nothing; r2 and r3 are then committed: still nothing
  consumed.
- C: one `wms` message allocating +6 at L1 and +4 at L2 for r4 (10) consumes
  10; one allocating +2 and +3 at L1 for r5 (5) consumes 5.
- D: a ref that is one reservation's id (r6) and another's order_ref (r7,
  committed first): the allocation consumes r6, the one of that id; its
  replay finds r6 consumed and must not consume r7 by order_ref.

After each scenario: every reservation and the (P, east) answer are the ones
computed from the brief (consumed units leave `reserved`, allocated units
leave supply); then kill -9, restart, replay: everything reads back exactly
as before the kill (the state without the crash).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402

ON_HAND = {"L1": 40, "L2": 30, "S1": 20}


def build_config(h):
    return U.resv_config(
        h, ["east"], [("L1", "east"), ("L2", "east"), ("S1", "east")],
        [("erp", [(["L1", "L2", "S1"], ["on_hand", "held"])]),
         ("wms", [(["L1", "L2"], ["allocated"])]),
         ("shop", [(["S1"], ["allocated"])])],
        service={"snapshot_interval": "1h"}, **U.LONG_LIVED)


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(build_config(h))
    c = U.Client(d.query_port)
    feed = U.Feeder(d, c)
    allocated = {"L1": 0, "L2": 0, "S1": 0}
    want = {}  # rid -> (state, consumed) expected

    feed.publish("erp", [[2, "P", loc, 0, q] for loc, q in sorted(ON_HAND.items())])
    ck.check(c.snapshot().get("ok") is True, "snapshot after seeding")

    def allocate(src, events):
        feed.publish(src, [[1, "P", loc, 1, n, ref] for loc, n, ref in events])
        for loc, n, _ in events:
            allocated[loc] += n

    def reserve(rid, qty, order_ref=None, commit=True):
        r = c.reserve(rid, [["P", "east", qty]])
        ck.check(r.get("granted") is True, "reserve %s: %r", rid, r)
        if commit:
            r = c.commit(rid, order_ref)
            ck.check(r.get("ok") is True, "commit %s: %r", rid, r)

    def check(label):
        """The brief's numbers; returns what must survive a crash."""
        reserved = 0
        records = {}
        for rid, (state, consumed) in sorted(want.items()):
            res = c.get(rid)
            records[rid] = res
            lines = U.record_lines(res or {})
            ck.eq(((res or {}).get("state"), [l[3] for l in lines]), (state, [consumed]),
                  "%s: %s (state, consumed)" % (label, rid))
            reserved += sum(U.open_lines(res).values())
        supply = sum(max(0, ON_HAND[loc] - allocated[loc]) for loc in ON_HAND)
        a = c.atp("P", "east")
        ck.eq((a["supply"], a["reserved"], a["atp"]), (supply, reserved, supply - reserved),
              "%s: P/east (supply, reserved, atp)" % label)
        return records, (a["supply"], a["reserved"], a["atp"])

    def crash(label):
        before = check(label)
        replays0 = feed.replays
        U.kill9(d)
        U.restart(d)
        c.close()
        feed.after_restart()
        ck.check(feed.replays > replays0, "%s: atpd did not ask for a replay", label)
        after = check(label + ", after kill -9 and the replay")
        ck.eq(after, before, "%s: state after kill -9 and the replay" % label)

    # ---- B1: two sources consume one line; the replay must consume nothing
    reserve("r1", 10, "SO-1")
    allocate("wms", [("L1", 3, "r1")])
    allocate("shop", [("S1", 2, "SO-1")])
    want["r1"] = ("committed", 5)
    crash("B1 (wms 3 by id, shop 2 by order_ref)")

    # ---- B2: allocations before the commit never consume, not even replayed
    reserve("r2", 4, "SO-2", commit=False)
    allocate("wms", [("L1", 4, "r2")])     # r2 is held: nothing consumed
    allocate("wms", [("L2", 2, "SO-3")])   # r3 does not exist yet
    reserve("r3", 2, "SO-3")
    ck.check(c.commit("r2", "SO-2").get("ok") is True, "commit r2")
    want["r2"] = ("committed", 0)
    want["r3"] = ("committed", 0)
    crash("B2 (allocated while held, and before created)")

    # ---- C: two events of one message for one line
    reserve("r4", 10, "SO-4")
    allocate("wms", [("L1", 6, "SO-4"), ("L2", 4, "SO-4")])
    want["r4"] = ("consumed", 10)
    reserve("r5", 5)
    allocate("wms", [("L1", 2, "r5"), ("L1", 3, "r5")])
    want["r5"] = ("consumed", 5)
    check("C (one message, two events per line)")
    crash("C")

    # ---- D: an id that is also another reservation's order_ref
    reserve("r7", 5, "r6")
    reserve("r6", 5)
    allocate("wms", [("L2", 5, "r6")])
    want["r6"] = ("consumed", 5)
    want["r7"] = ("committed", 0)
    crash("D (id r6 = order_ref of r7)")

    # consumption goes on after all that, by both sources
    allocate("shop", [("S1", 1, "r1")])
    allocate("wms", [("L2", 4, "SO-1")])
    want["r1"] = ("consumed", 10)
    allocate("wms", [("L1", 1, "r2"), ("L2", 3, "SO-2")])
    want["r2"] = ("consumed", 4)
    crash("after the restarts")
    U.finish(ck, c, feed, d)


if __name__ == "__main__":
    harness.run(main, "resv_consume_replay")
