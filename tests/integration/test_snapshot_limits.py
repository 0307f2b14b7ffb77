#!/usr/bin/python3
"""test_snapshot_limits.py - a source's full snapshot is abandoned when its
last part does not come in time (service.snapshot_timeout, 30 s by default,
300 ms here) or when its parts hold too many events
(service.snapshot_max_events, 10 here); nothing of it applies, and
`snapshots_aborted` counts it. A snapshot of exactly the limit applies.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resync_util  # noqa: E402

TF = harness.TIME_FACTOR
TIMEOUT_MS = 300
MAX_EVENTS = 10


def main(h):
    c = harness.Checks(h)
    cfg = resync_util.resync_config(
        h, ["east"], [("DC-1", "east")],
        [harness.source_entry("wms", [(["DC-1"], ["on_hand", "allocated", "held"])])],
        snapshot_timeout="%dms" % TIMEOUT_MS, snapshot_max_events=MAX_EVENTS)
    d = harness.Atpd(h, cfg, "atpd").start()
    q = harness.Client(d.query_port, d=d)
    pub = resync_util.Pub(d)
    pub.batch("wms", 1, [[2, "A1", "DC-1", 0, 5]])
    harness.wait_until(lambda: q.sources()["wms"].get("last_seq") == 1, 10, 0.02,
                       "seq 1 applied")

    def src():
        return q.sources()["wms"]

    def log_has(text):
        with open(d.stderr_path, "rb") as f:
            return text in f.read().decode("utf-8", "replace")

    # Part 0 and nothing more: abandoned after the timeout, not before.
    t0 = time.monotonic()
    pub.snapshot("wms", 7, 0, 1, False, [[2, "A1", "DC-1", 0, 50]])
    harness.wait_until(lambda: src().get("snapshots_aborted") == 1, TIMEOUT_MS / 1000 + 10,
                       0.02, "the unfinished snapshot to be abandoned")
    waited_ms = (time.monotonic() - t0) * 1000
    c.check(waited_ms >= TIMEOUT_MS, "abandoned after %.0f ms, not before the %d ms timeout",
            waited_ms, TIMEOUT_MS)
    c.check(log_has("snapshot 7 of source wms abandoned (timed out)"),
            "the log says the snapshot timed out")
    c.eq(q.atp("A1", "east").get("supply"), 5, "nothing of the timed-out snapshot applied")
    # Its last part, late: there is no snapshot to finish any more.
    pub.snapshot("wms", 7, 1, 1, True, [[2, "A2", "DC-1", 0, 1]])

    # Too many events: 6 + 6 > 10, abandoned at the part that crosses the limit.
    pub.snapshot("wms", 8, 0, 1, False, [[2, "B%d" % i, "DC-1", 0, 1] for i in range(6)])
    pub.snapshot("wms", 8, 1, 1, True, [[2, "C%d" % i, "DC-1", 0, 1] for i in range(6)])
    harness.wait_until(lambda: src().get("snapshots_aborted") == 2, 10, 0.02,
                       "the oversized snapshot to be abandoned")
    c.check(log_has("snapshot 8 of source wms abandoned (too many events)"),
            "the log says the snapshot had too many events")
    s = src()
    c.eq(s.get("snapshots_applied"), 0, "no snapshot applied so far")
    c.eq(q.atp("A1", "east").get("supply"), 5, "nothing of the oversized snapshot applied")
    c.eq(q.atp("B0", "east").get("supply"), 0, "B0 of the oversized snapshot not applied")
    c.eq(q.atp("A2", "east").get("supply"), 0, "the late part applied nothing")

    # Exactly the limit, in two parts: applied, and A1 (not in it) becomes 0.
    pub.snapshot("wms", 9, 0, 1, False, [[2, "D%d" % i, "DC-1", 0, 2] for i in range(5)])
    pub.snapshot("wms", 9, 1, 1, True, [[2, "E%d" % i, "DC-1", 0, 3] for i in range(5)])
    harness.wait_until(lambda: src().get("snapshots_applied") == 1, 10, 0.02,
                       "the snapshot of %d events to apply" % MAX_EVENTS)
    c.eq(src().get("snapshots_aborted"), 2, "snapshots_aborted after a good snapshot")
    # Counted when handed to the engine thread: its values follow.
    want = (2, 3, 0)
    got = []

    def values():
        got[:] = [q.atp(s, "east").get("supply") for s in ("D4", "E4", "A1")]
        return tuple(got) == want
    try:
        harness.wait_until(values, 10, 0.02, "the snapshot's values")
    except harness.TestFailure:
        pass
    c.eq(tuple(got), want, "the snapshot's values, and 0 for what it did not mention")
    pub.close()
    q.close()
    c.eq(d.stop(), 0, "clean stop")
    c.done()


if __name__ == "__main__":
    harness.run(main, "snapshot_limits")
