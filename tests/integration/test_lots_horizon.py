#!/usr/bin/python3
"""test_lots_horizon.py - inbound lots entering the horizon out of ETA
order, and a lot table that grows.

- Five lots (1, 2, 4, 8, 16 units: the supply says exactly which count) are
  added in an order that is not their ETA order; a sixth is moved to a later
  ETA and a seventh cancelled while they wait. Each lot starts counting on
  the engine's own timer: never before its time, in ETA order, within a
  bound after it; the cancelled one never counts.
- 1,500 lots at one location (the lot table starts with 1,024 buckets and
  doubles): every one counts, they survive a restart, and cancelling 1,000
  of them (found through the grown table) leaves 500.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resync_util  # noqa: E402

TF = harness.TIME_FACTOR
HORIZON_MS = 3600 * 1000
# (lot, units, ms from now until it enters the horizon), in the order added.
LOTS = [("L-a", 1, 1500), ("L-b", 2, 300), ("L-c", 4, 1100), ("L-d", 8, 700),
        ("L-e", 16, 900)]
# Both changed by the second message, long before their first time comes.
MOVED = ("L-m", 32, 3000, 1300)   # would enter at 3 s, moved to 1.3 s
CANCELLED = ("L-x", 64, 2000)     # cancelled before it enters
LATE_MS = 1000 * TF               # counted at most this long after its time
MANY = 1500


def main(h):
    c = harness.Checks(h)
    cfg = resync_util.resync_config(
        h, [{"id": "east", "inbound_horizon": "1h"}], [("DC-1", "east")],
        [harness.source_entry("erp", [(["DC-1"], ["inbound"])])])
    d = harness.Atpd(h, cfg, "atpd").start()
    q = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, q)

    def send(events):
        pub.send_payload(pub.next_batch("erp", events)[1])
        pub.wait_applied("erp")

    def supply(sku):
        return q.atp(sku, "east").get("supply")

    h.log("lots entering the horizon out of ETA order")
    t0 = harness.now_ms()
    events = [[6, "A1", "DC-1", lot, qty, t0 + HORIZON_MS + dt] for lot, qty, dt in LOTS]
    events.append([6, "A1", "DC-1", MOVED[0], MOVED[1], t0 + HORIZON_MS + MOVED[2]])
    events.append([6, "A1", "DC-1", CANCELLED[0], CANCELLED[1],
                   t0 + HORIZON_MS + CANCELLED[2]])
    send(events)
    send([[7, "A1", "DC-1", MOVED[0], MOVED[1], t0 + HORIZON_MS + MOVED[3]],
          [9, "A1", "DC-1", CANCELLED[0]]])
    due = sorted([(t0 + dt, lot, qty) for lot, qty, dt in LOTS] +
                 [(t0 + MOVED[3], MOVED[0], MOVED[1])])
    # The supply each prefix of the ETA order gives.
    prefix, total = {0: 0}, 0
    for i, (_, _, qty) in enumerate(due):
        total += qty
        prefix[total] = i + 1
    # Every read: (began, ended, lots counted). A lot is counted after its
    # time: a read that ended before it cannot show it; and not later than
    # LATE_MS after: a read that began after that must show it.
    reads = []
    deadline = time.monotonic() + (due[-1][0] - t0) / 1000.0 + 10 * TF
    while time.monotonic() < deadline:
        began = harness.now_ms()
        s = supply("A1")
        ended = harness.now_ms()
        if not c.check(s in prefix, "supply %d at +%d ms is not a prefix of the ETA order",
                       s, began - t0):
            break
        reads.append((began, ended, prefix[s]))
        if prefix[s] == len(due):
            break
        time.sleep(0.01)
    c.eq(reads[-1][2] if reads else None, len(due), "lots counted in the end")
    for began, ended, n in reads:
        for k, (at, lot, _) in enumerate(due, 1):
            if k <= n:
                c.check(ended >= at, "%s counted by +%d ms, before its time +%d ms",
                        lot, ended - t0, at - t0)
            else:
                c.check(began <= at + LATE_MS, "%s not counted at +%d ms, later than +%d ms",
                        lot, began - t0, at + LATE_MS - t0)
    h.log("%d reads saw %d of the %d steps", len(reads), len({r[2] for r in reads}),
          len(due) + 1)
    c.eq(supply("A1"), 31 + 32, "every lot but the cancelled one")

    h.log("%d lots at one location", MANY)
    now = harness.now_ms()
    send([[6, "G1", "DC-1", "PO-%04d" % i, 1, now] for i in range(MANY)])
    c.eq(supply("G1"), MANY, "%d lots of 1 inside the horizon" % MANY)
    q.close()
    pub.close()
    c.eq(d.stop(), 0, "clean stop")
    d.start()
    q = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, q)
    pub.seq["erp"] = q.sources()["erp"].get("last_seq")
    c.eq(supply("G1"), MANY, "the %d lots after a restart" % MANY)
    c.eq(supply("A1"), 31 + 32, "the A1 lots after a restart")
    send([[9, "G1", "DC-1", "PO-%04d" % i] for i in range(1000)])
    c.eq(supply("G1"), MANY - 1000, "after cancelling 1000 lots")
    q.close()
    pub.close()
    c.eq(d.stop(), 0, "clean stop after the restart")
    c.done()


if __name__ == "__main__":
    harness.run(main, "lots_horizon")
