#!/usr/bin/python3
"""test_resync_lots.py - inbound lots and the inbound horizon
(docs/PROTOCOL.md, "Inbound horizon"), surviving restarts.

1. Region `east` has inbound_horizon 2s. A lot with ETA now + 2s + LEAD
   (2 s, x4 in sanitizer builds) starts counting at about now + LEAD
   (eta - horizon), not before, without another event. Judged from atpd's side: no answer received before eta - horizon
   counts it, and no poll *sent* later than eta - horizon + TOL_MS still
   misses it, so a slow poller cannot fail the check. A lot with an ETA in the
   past counts at once; a change to a far ETA stops it counting; receive
   moves its quantity into on_hand where the source has on_hand authority
   (and only there); cancel removes it.
2. Lots survive a clean restart (a lot due later still enters the horizon
   on time) and kill -9 after a stored snapshot.
3. atp-feed with --lot-ratio 0.3, drops and a replay log of 20 messages:
   most holes are repaired by full snapshots that carry the lots; region
   `far` (horizon 1d) counts every open lot; atpd equals the model, also
   after a restart and after kill -9.

Label: integration, resync. Bounded: about 25 s.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resync_util as ru  # noqa: E402
from harness import TestFailure  # noqa: E402

# A lot may enter the horizon this late: atpd's ingest tick (10 ms) on a
# busy machine. Well below the 1 s between entering and the ETA.
TOL_MS = 750 * harness.TIME_FACTOR
HORIZON_MS = 2000
# How long after the test sends a lot it enters the horizon: room for the
# checks in between ("not yet", a restart) on a busy machine.
LEAD1_MS = int(2000 * harness.TIME_FACTOR)
LEAD2_MS = int(3000 * harness.TIME_FACTOR)

REGIONS = [{"id": "east", "inbound_horizon": "2s"}, {"id": "far", "inbound_horizon": "1d"}]
LOCATIONS = [("L1", "east"), ("L2", "east"), ("L3", "far")]
SOURCES = [
    {"id": "wms", "heartbeat_timeout": "10m", "authority": [
        {"locations": ["L1"], "buckets": ["on_hand", "allocated", "held", "inbound"]},
        {"locations": ["L2"], "buckets": ["inbound"]}]},
    {"id": "erp", "heartbeat_timeout": "10m", "authority": [
        {"locations": ["L2"], "buckets": ["on_hand"]}]},
    {"id": "gen", "heartbeat_timeout": "10m", "authority": [
        {"locations": ["L3"], "buckets": ["on_hand", "allocated", "held", "inbound"]}]},
]


def main(h):
    cfg = ru.resync_config(h, REGIONS, LOCATIONS, SOURCES, channels=[],
                           reorder_window="50ms", resync_retry="300ms", resync_timeout="20s",
                           snapshot_interval="200ms")
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    pub = ru.Pub(d)
    seq = {"wms": 0}

    def send(events):
        seq["wms"] += 1
        pub.batch("wms", seq["wms"], events)
        ru.wait_sources(d, lambda s: s["wms"]["last_seq"] >= seq["wms"], 5,
                        "wms seq %d applied" % seq["wms"])

    def supply():
        return d.ctl("atp", "A", "east")["supply"]

    def expect(want, what):
        got = []

        def f():
            got[:] = [supply()]
            return got[0] == want
        try:
            harness.wait_until(f, 10, 0.02, what)
        except TestFailure:
            raise TestFailure("%s: supply %s, want %d" % (what, got, want))
        h.log("%s: supply %d", what, want)

    def wait_due(due_ms, before, after, what):
        """Poll until supply == after; it must still be `before` until due_ms
        and become `after` within TOL_MS of it."""
        last_before = None
        deadline = (time.monotonic() + max(0, due_ms - ru.now_ms()) / 1000 +
                    10 * harness.TIME_FACTOR)
        while time.monotonic() < deadline:
            t_start = ru.now_ms()
            v = supply()
            t_end = ru.now_ms()
            if v == after:
                early = due_ms - t_end
                # Late only if a poll sent after due (+ TOL) still missed
                # it; none did when the first poll already saw it.
                late = 0 if last_before is None else last_before - due_ms
                h.log("%s: counted between %+d and %+d ms of eta - horizon", what,
                      (last_before if last_before is not None else t_end) - due_ms,
                      t_end - due_ms)
                ck.check(early <= 20, "%s: counted %d ms before eta - horizon" % (what, early))
                ck.check(late <= TOL_MS, "%s: counted %d ms after eta - horizon (tolerance %d)"
                         % (what, late, TOL_MS))
                return
            if v != before:
                raise TestFailure("%s: supply %d, want %d then %d" % (what, v, before, after))
            last_before = t_start
            time.sleep(0.01)
        raise TestFailure("%s: supply never became %d" % (what, after))

    # ---- 1. the horizon
    t0 = ru.now_ms()
    send([[2, "A", "L1", 0, 5], [6, "A", "L1", "P1", 10, t0 + HORIZON_MS + LEAD1_MS]])
    v = supply()
    if ru.now_ms() < t0 + LEAD1_MS:  # answered before it was due
        ck.eq(v, 5, "a lot with ETA beyond the horizon does not count at once")
    else:
        h.log("the machine is too slow to check 'not at once' (%d ms)", ru.now_ms() - t0)
    wait_due(t0 + LEAD1_MS, 5, 15, "lot P1 (eta beyond the horizon)")
    send([[7, "A", "L1", "P1", 8, ru.now_ms() + 3600 * 1000]])
    expect(5, "P1 changed to an ETA in 1 h: no longer counted")
    send([[6, "A", "L1", "P2", 7, ru.now_ms() - 1000]])
    expect(12, "P2 with an ETA in the past counts at once")
    send([[8, "A", "L1", "P1"]])
    expect(20, "P1 received: its 8 into on_hand (wms has on_hand at L1)")
    send([[9, "A", "L1", "P2"]])
    expect(13, "P2 cancelled")
    send([[6, "A", "L2", "P3", 4, ru.now_ms()]])
    expect(17, "P3 at L2 counts")
    send([[8, "A", "L2", "P3"]])
    expect(13, "P3 received at L2: not into on_hand (erp reports L2's on_hand)")
    send([[8, "A", "L1", "nope"], [9, "A", "L1", "nope"]])
    expect(13, "receive / cancel of an unknown lot change nothing")

    # ---- 2. restarts
    t1 = ru.now_ms()
    send([[6, "A", "L1", "P4", 6, t1 + HORIZON_MS + LEAD2_MS], [6, "A", "L1", "P5", 3, t1]])
    expect(16, "P5 counts, P4 not yet")
    d.stop()
    took = ru.restart(d)
    pub.connect()
    h.log("restarted (SIGTERM) in %.2f s", took)
    # 16 until P4 is due, then 22: a slow restart may already be past it.
    wait_due(t1 + LEAD2_MS, 16, 22, "lot P4 after a clean restart")
    send([[6, "A", "L1", "P6", 2, ru.now_ms()]])
    expect(24, "P6 counts")
    rq = harness.ReqClient(d.query_port)
    rep = rq.request({"op": "snapshot"})
    rq.close()
    ck.eq(rep.get("ok"), True, "snapshot op: %r" % rep)
    ru.kill9(d)
    took = ru.restart(d)
    pub.connect()
    h.log("restarted (kill -9) in %.2f s", took)
    expect(24, "after kill -9 and a restart")
    ck.eq(d.sources()["wms"]["last_seq"], seq["wms"], "wms offset restored")

    # ---- 3. atp-feed lots through snapshots, across restarts
    summary, recs, replays, snaps = ru.run_feed(
        d, ["--source", "gen", "--messages", ru.scaled(1500, 400), "--rate",
            1500 if not harness.SANITIZER else 400, "--batch", 4, "--skus", 100,
            "--lot-ratio", 0.3, "--drop", 0.05, "--replay-log", 20, "--seed", 31,
            "--quiet"] + ru.LINGER, name="feed-lots")
    m = ru.LotModel(cfg)
    final = m.apply_all(recs)
    lot_events = sum(1 for r in recs for e in r["events"] if e[0].startswith("lot"))
    h.log("feed: %d messages, %d lot events, %d open lots; %d snapshots, %d replays",
          len(recs), lot_events, len(m.lots), summary["snapshots"], summary["replays"])
    ck.check(lot_events > 0 and len(m.lots) > 0, "the feed made lots")
    ck.check(summary["snapshots"] > 0 and any(s["lots"] > 0 for s in snaps),
             "snapshots carried lots: %r" % [s["lots"] for s in snaps][:10])
    ru.wait_sources(d, lambda s: s["gen"]["state"] == "ok" and s["gen"]["held"] == 0 and
                    (s["gen"]["last_seq"] >= final["gen"] or s["gen"]["snapshots_applied"] > 0),
                    20, "gen caught up")
    ck.done()
    skus = {s for s in m.skus}
    far = ru.LotModel(cfg)  # only region far is compared: east belongs to part 1
    far.__dict__.update(m.__dict__)
    far.regions = ["far"]
    ru.compare_model(h, d, far, skus, "lots via atp-feed")
    d.stop()
    ru.restart(d)
    # A restored source is `waiting` until it speaks again: stale, same values.
    ru.compare_model(h, d, far, skus, "lots via atp-feed, after a restart", stale=True)
    rq = harness.ReqClient(d.query_port)
    rq.request({"op": "snapshot"})
    rq.close()
    ru.kill9(d)
    ru.restart(d)
    ru.compare_model(h, d, far, skus, "lots via atp-feed, after kill -9", stale=True)
    pub.close()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "resync_lots")
