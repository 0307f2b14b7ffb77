#!/usr/bin/python3
"""test_resv_consume_window.py - the two windows the stored marks left
open (issue 12, "Oversell" B(2)): an allocation atpd applied before a
kill -9 never consumes a reservation committed after the restart, when
the source resends it, although nothing about it was stored. atpd knows it
applied the message from its "applied" file (docs/PROTOCOL.md,
"Expiry, consumption, retention"). Runs atpd-faults (src/store/fault.h).

Region east: L1, L2 (`wms` owns `allocated`); `erp` owns `on_hand`.
Positions are stored by an explicit snapshot after seeding
(snapshot_interval 1h: no other), so every allocation below is above the
stored offset and is resent after the kill.

- Window 1: `wms` allocates 3 at L1 naming "SO-1" while no reservation has
  that ref; nothing is stored for it. kill -9; restart; r1 is reserved and
  committed with order_ref SO-1 before `wms` resends (the feeder's lock
  holds its replies back). The resend must consume nothing: without the
  crash the allocation came before the commit. A new allocation naming
  SO-1 then consumes r1.
- Window 2: r2 (6) is reserved (acknowledged, stored) and held; the
  reservation log's write stalls (fault `log_write stall`); `wms`
  allocates 6 at L2 naming r2: r2 is held, so nothing is consumed and
  only a mark of it is queued, stuck behind the stalled write. kill -9;
  restart without the fault; r2 is committed before the resend. The
  resend must consume nothing; a new allocation naming r2 consumes it.
- Both: after the resend, (P, east) supply, reserved and ATP are what the
  run without the crash gives (on_hand - allocations; reserved = r1 + r2).
- Then the store is wiped (data.mdb, reservations.log) while the applied
  file stays: it is another store's now (store id), started again with a
  warning under the new store's id.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402
from test_resv_consume_held import ON_HAND, build_config  # noqa: E402

faults = harness.write_faults


def main(h):
    fault_file = harness.use_store_faults(h)
    ck = harness.Checks(h)
    d = h.start_atpd(build_config(h))
    c = U.Client(d.query_port)
    feed = U.Feeder(d, c)

    feed.publish("erp", [[2, "P", loc, 0, q] for loc, q in sorted(ON_HAND.items())])
    ck.check(c.snapshot().get("ok") is True, "snapshot after seeding")

    def commit_now(rid, order_ref=None):
        r = c.commit(rid, order_ref)
        ck.check(r.get("ok") is True and
                 (r.get("reservation") or {}).get("state") == "committed",
                 "commit %s: %r", rid, r)

    def state(rid):
        res = c.get(rid) or {}
        return res.get("state"), [l[3] for l in U.record_lines(res)]

    # window 1: the allocation names nothing that exists yet
    feed.publish("wms", [[1, "P", "L1", 1, 3, "SO-1"]])
    # window 2: the allocation names a held reservation; its mark is stuck
    r = c.reserve("r2", [["P", "east", 6]])
    ck.check(r.get("granted") is True, "reserve r2: %r", r)
    faults(fault_file, "log_write stall\n")
    feed.publish("wms", [[1, "P", "L2", 1, 6, "r2"]])  # waits until applied
    # (a `get` of r2 would wait for its stuck mark: read-your-writes)

    replays0 = feed.replays
    with feed.lock:  # no resend before the commits are answered
        U.kill9(d)
        faults(fault_file, "")
        U.restart(d)
        c.close()
        r = c.reserve("r1", [["P", "east", 3]])
        ck.check(r.get("granted") is True, "reserve r1: %r", r)
        commit_now("r1", "SO-1")
        commit_now("r2")
    feed.after_restart()
    ck.check(feed.replays > replays0, "atpd did not ask for a replay")
    ck.eq(state("r1"), ("committed", [0]),
          "window 1: the resent allocation did not consume r1")
    ck.eq(state("r2"), ("committed", [0]),
          "window 2: the resent allocation did not consume r2")
    a = c.atp("P", "east")
    supply = sum(ON_HAND.values()) - 3 - 6
    ck.eq((a["supply"], a["reserved"], a["atp"]), (supply, 9, supply - 9),
          "P/east (supply, reserved, atp) as without the crash")

    # consumption goes on
    feed.publish("wms", [[1, "P", "L1", 1, 2, "SO-1"], [1, "P", "L2", 1, 4, "r2"]])
    ck.eq(state("r1"), ("committed", [2]), "a new allocation naming SO-1 consumes r1")
    ck.eq(state("r2"), ("committed", [4]), "a new allocation naming r2 consumes r2")

    # A wiped store next to the old applied file: a new store id, so the
    # file starts again (warned) under that id, and fills up again as the
    # sources resend everything (a file kept under the old id would give
    # the new store the old history's seqs as floors).
    data = d.cfg["service"]["data_dir"]
    applied = os.path.join(data, "applied")

    def applied_store_id():
        with open(applied, "rb") as f:
            return struct.unpack_from("<4sIQ", f.read(16))

    magic, version, old_id = applied_store_id()
    ck.eq((magic, version), (b"ATPA", 1), "the applied file's header")
    d.stop()
    for name in ("data.mdb", "lock.mdb", "reservations.log"):
        if os.path.exists(os.path.join(data, name)):
            os.unlink(os.path.join(data, name))
    U.restart(d)
    c.close()
    feed.after_restart()
    with open(d.stderr_path, encoding="utf-8", errors="replace") as f:
        ck.check("belongs to another store" in f.read(),
                 "no warning that the applied file was another store's")
    new_id = applied_store_id()[2]
    ck.check(new_id not in (0, old_id), "the applied file keeps store id %x", old_id)
    a = c.atp("P", "east")
    ck.eq(a["supply"], sum(ON_HAND.values()) - 3 - 6 - 2 - 4,
          "the wiped store rebuilt from the resent messages")
    U.finish(ck, c, feed, d)


if __name__ == "__main__":
    harness.run(main, "resv_consume_window")
