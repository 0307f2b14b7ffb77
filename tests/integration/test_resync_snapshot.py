#!/usr/bin/python3
"""test_resync_snapshot.py - full snapshots (docs/PROTOCOL.md, "Full
snapshots"), crafted with a raw publisher.

1. A complete snapshot zeroes every bucket of the source's authority that
   it does not mention, and drops its lots, and leaves other sources'
   buckets alone.
2. Messages with seq <= the snapshot's seq are duplicates; later ones apply
   on top of it.
3. An interrupted snapshot changes nothing: parts 0, 1 then a new part 0; a
   missing part; never a last part; an event outside the authority; a
   delta inside a snapshot. snapshots_aborted counts them (a delta makes
   the part undecodable: status ingest.bad_messages); a multi-part
   snapshot that completes then applies. Each "nothing changed" is checked
   after the counter the rejected input moves (or, for a pending part, a
   later message of another source) and an engine barrier (a `snapshot`
   request answers after everything queued before it), never after a
   fixed sleep.
4. Held messages: with a hole, later messages are held (state resyncing,
   region stale, a replay request on the control socket); a snapshot
   consistent with a held seq drops it and applies the later ones on top;
   the source is ok again.

Label: integration, resync. Bounded: about 10 s.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resync_util as ru  # noqa: E402
from harness import TestFailure  # noqa: E402

# Flip to True once atpd reports a snapshot's seq as last_seq (see report):
# PROTOCOL.md says messages up to the snapshot's seq are then duplicates, so
# they count as applied, but `sources` keeps the last batch's seq.
STRICT_LAST_SEQ = True

REGIONS = [{"id": "r1", "inbound_horizon": "1d"}, "r2"]
LOCATIONS = [("L1", "r1"), ("L2", "r1"), ("L3", "r2")]
SOURCES = [
    {"id": "erp", "heartbeat_timeout": "10m", "authority": [
        {"locations": ["L1", "L2"], "buckets": ["on_hand", "allocated", "held"]},
        {"locations": ["L1"], "buckets": ["inbound"]},
        {"locations": ["L3"], "buckets": ["on_hand"]}]},
    {"id": "wms", "heartbeat_timeout": "10m", "authority": [
        {"locations": ["L3"], "buckets": ["allocated"]}]},
]


def main(h):
    cfg = ru.resync_config(h, REGIONS, LOCATIONS, SOURCES, channels=[],
                           reorder_window="100ms", resync_retry="300ms", resync_timeout="30s")
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    ctl = ru.ControlSub(ru.control_port(cfg))
    pub = ru.Pub(d)
    now = ru.now_ms()

    def supply(sku, region):
        return d.ctl("atp", sku, region)["supply"]

    def expect(want, what, timeout_s=5):
        """want: {(sku, region): supply}; waits until all hold."""
        got = {}

        def f():
            got.clear()
            got.update({k: supply(*k) for k in want})
            return got == want
        try:
            harness.wait_until(f, timeout_s, 0.05, what)
        except TestFailure:
            raise TestFailure("%s: supply %r, want %r; sources %r"
                              % (what, got, want, d.sources()))
        h.log("%s: %r", what, want)

    def still(want, what):
        """After the rejected input was counted (the caller waited for
        that): the engine has applied everything before the barrier, and
        nothing changed."""
        d.ctl("snapshot")
        got = {k: supply(*k) for k in want}
        ck.eq(got, want, what + ": nothing changed")

    wms_seq = [1]

    def ingest_barrier(what):
        """A message of wms that atpd counts (a duplicate) after the erp
        message before it: the ingest thread handles them in order."""
        dups = src("wms")["duplicates"]
        pub.batch("wms", wms_seq[0], [[3]])
        wait_src(lambda s: s["duplicates"] == dups + 1, what + ": wms barrier counted",
                 sid="wms")

    def src(sid="erp"):
        return d.sources()[sid]

    def wait_src(pred, what, sid="erp"):
        ru.wait_sources(d, lambda s: pred(s[sid]), 5, what)

    # ---- 1. a snapshot zeroes what it does not mention
    pub.batch("erp", 1, [[2, "A", "L1", 0, 10], [2, "A", "L2", 0, 5], [2, "B", "L1", 0, 7],
                         [2, "C", "L2", 0, 3], [2, "A", "L3", 0, 4], [2, "C", "L1", 2, 1],
                         [6, "A", "L1", "LOT1", 6, now]])
    pub.batch("wms", 1, [[2, "A", "L3", 1, 1]])
    expect({("A", "r1"): 21, ("B", "r1"): 7, ("C", "r1"): 3, ("A", "r2"): 3}, "positions")
    pub.snapshot("erp", 10, 0, 1, True, [[2, "A", "L1", 0, 8], [6, "B", "L1", "LOT2", 2, now]])
    wait_src(lambda s: s["snapshots_applied"] == 1, "snapshot 10 applied")
    expect({("A", "r1"): 8, ("B", "r1"): 2, ("C", "r1"): 0, ("A", "r2"): 0},
           "after a snapshot naming only A@L1 and lot B/LOT2")
    # wms's allocated 1 at L3 survived: an erp on_hand of 5 there nets 4.
    pub.batch("erp", 2, [[2, "A", "L3", 0, 5], [1, "A", "L1", 0, 2]])
    expect({("A", "r1"): 10, ("A", "r2"): 4}, "a later message applies on top; other "
           "sources' buckets untouched")
    ck.eq(src("wms")["snapshots_applied"], 0, "wms snapshots")

    # ---- 2. seq <= snapshot seq: duplicates; later ones on top
    dups = src()["duplicates"]
    pub.snapshot("erp", 11, 0, 5, True, [[2, "A", "L1", 0, 20], [2, "A", "L3", 0, 5]])
    wait_src(lambda s: s["snapshots_applied"] == 2, "snapshot 11 (seq 5) applied")
    expect({("A", "r1"): 20, ("B", "r1"): 0, ("A", "r2"): 4}, "after snapshot 11")
    last = src()["last_seq"]
    if last != 5:
        msg = "last_seq %d after a snapshot consistent with seq 5, want 5" % last
        if STRICT_LAST_SEQ:
            ck.check(False, msg)
        else:
            h.log("KNOWN atpd BUG (not failed): %s", msg)
    for seq in (3, 4, 5):
        pub.batch("erp", seq, [[1, "A", "L1", 0, 100]])
    pub.batch("erp", 6, [[1, "A", "L1", 0, 1]])
    wait_src(lambda s: s["last_seq"] == 6 and s["duplicates"] >= dups + 3,
             "seq 3..5 duplicates, seq 6 applied")
    expect({("A", "r1"): 21}, "seq 6 on top of snapshot 11")
    ck.eq(src()["state"], "ok", "state after snapshot 11")

    # ---- 3. interrupted snapshots change nothing
    base = {("A", "r1"): 21, ("B", "r1"): 0, ("C", "r1"): 0, ("A", "r2"): 4}
    aborted = src()["snapshots_aborted"]
    applied = src()["snapshots_applied"]
    pub.snapshot("erp", 12, 0, 6, False, [[2, "A", "L1", 0, 1]])
    pub.snapshot("erp", 12, 1, 6, False, [[2, "B", "L1", 0, 1]])
    pub.snapshot("erp", 13, 0, 6, False, [[2, "A", "L1", 0, 2]])   # aborts 12
    pub.snapshot("erp", 14, 0, 6, False, [[2, "A", "L1", 0, 3]])   # aborts 13
    pub.snapshot("erp", 14, 2, 6, True, [[2, "A", "L1", 0, 4]])    # part 1 missing
    wait_src(lambda s: s["snapshots_aborted"] == aborted + 3,
             "snapshots 12 (new part 0), 13 (new part 0), 14 (missing part) aborted")
    still(base, "after interrupted snapshots 12, 13, 14")
    pub.snapshot("erp", 15, 0, 6, False, [[2, "A", "L1", 0, 5]])   # never a last part
    ingest_barrier("snapshot 15 part 0")
    still(base, "snapshot 15 without a last part")
    ck.eq(src()["snapshots_aborted"], aborted + 3, "15 is still pending, not aborted")
    pub.snapshot("erp", 16, 0, 6, False, [[2, "A", "L1", 0, 30]])  # aborts 15
    pub.snapshot("erp", 16, 1, 6, True, [[2, "B", "L2", 0, 4], [2, "A", "L3", 0, 5]])
    wait_src(lambda s: s["snapshots_applied"] == applied + 1, "two-part snapshot 16 applied")
    base = {("A", "r1"): 30, ("B", "r1"): 4, ("C", "r1"): 0, ("A", "r2"): 4}
    expect(base, "after snapshot 16 (two parts)")
    ck.eq(src()["snapshots_aborted"], aborted + 4, "15 aborted by 16's part 0")
    # an event outside the source's authority: wms owns L3 allocated
    pub.snapshot("erp", 17, 0, 6, True, [[2, "A", "L1", 0, 1], [2, "A", "L3", 1, 5]])
    wait_src(lambda s: s["snapshots_aborted"] == aborted + 5,
             "snapshot 17 (event outside the authority) aborted")
    still(base, "snapshot 17")
    # a delta is not a snapshot event: the part does not decode, and a
    # snapshot header is not a source batch's, so no source is charged:
    # status ingest.bad_messages counts it, erp's counters do not move.
    bad0 = d.ctl("status")["ingest"]["bad_messages"]
    erp0 = src()
    pub.snapshot("erp", 18, 0, 6, True, [[2, "A", "L1", 0, 1], [1, "A", "L2", 0, 5]])
    harness.wait_until(lambda: d.ctl("status")["ingest"]["bad_messages"] == bad0 + 1, 5, 0.05,
                       "snapshot 18 (a delta event) counted in ingest.bad_messages")
    erp1 = src()
    for k in ("snapshots_aborted", "snapshots_applied", "rejected_messages", "last_seq"):
        ck.eq(erp1[k], erp0[k], "erp %s after snapshot 18" % k)
    still(base, "snapshot 18 with a delta event")
    ck.eq(src()["snapshots_applied"], applied + 1, "nothing applied but 16")
    ck.eq(src()["state"], "ok", "state after the interrupted snapshots")

    # ---- 4. held messages <= the snapshot's seq are dropped
    seen = ctl.recv_requests(0.05)  # drain
    pub.batch("erp", 8, [[1, "A", "L1", 0, 1000]])
    pub.batch("erp", 9, [[1, "A", "L1", 0, 1]])
    wait_src(lambda s: s["state"] == "resyncing" and s["held"] == 2,
             "seq 8, 9 held behind the hole at 7")
    ck.check(ru.wait_stale(d, "A", "r1", True), "r1 stale while erp resyncs")
    seen = ctl.recv_requests(1.0)
    reqs = [m for s, m in seen if s == "erp"]
    ck.check(any(m.get("mode") == "replay" and m.get("from_seq") == 7 for m in reqs),
             "a replay request from seq 7 on the control socket: %r" % reqs)
    still(base, "while seq 8, 9 are held")
    pub.snapshot("erp", 19, 0, 8, True, [[2, "A", "L1", 0, 50], [2, "B", "L2", 0, 4],
                                        [2, "A", "L3", 0, 5]])
    wait_src(lambda s: s["state"] == "ok" and s["held"] == 0 and s["last_seq"] == 9,
             "snapshot 19 (seq 8) applied, held 8 dropped, 9 applied")
    expect({("A", "r1"): 51, ("B", "r1"): 4, ("A", "r2"): 4},
           "seq 9 on top of snapshot 19; held seq 8 dropped")
    ck.check(ru.wait_stale(d, "A", "r1", False), "r1 fresh again")
    ck.eq(src()["missed"], 0, "missed (the snapshot covered the hole)")
    ctl.close()
    pub.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "resync_snapshot")
