#!/usr/bin/python3
"""test_resync_restart.py - restart equivalence.

Run A: atp-feed sends N messages (seeded; deltas, sets, inbound lots) to an
atpd that runs throughout. Run B: the same feed (same seed and arguments)
to a fresh atpd that is stopped with SIGTERM about a quarter of the way in
and killed with SIGKILL about half of the way in, each time restarted
on the same data dir after a pause while the feeder keeps going (what it
sends meanwhile is lost). After each restart atpd asks the source for a
replay from its stored offset (or the next live message reveals the hole),
and the feeder resends from its replay log.

Both runs must end with exactly the same answer for every (sku, region,
channel), equal to the model of every generated message; atpd must answer
`status` (ready) quickly after each restart.

Label: integration, resync. Bounded: about 25 s.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resync_util as ru  # noqa: E402
from harness import TestFailure  # noqa: E402

REGIONS = ["east", "west"]
LOCATIONS = [("DC-1", "east"), ("DC-2", "east"), ("DC-3", "west")]
SOURCES = [
    {"id": "wms", "heartbeat_timeout": "10m", "authority": [
        {"locations": ["DC-1", "DC-2"], "buckets": ["on_hand", "allocated", "held", "inbound"]}]},
    {"id": "erp", "heartbeat_timeout": "10m", "authority": [
        {"locations": ["DC-3"], "buckets": ["on_hand", "allocated", "held", "inbound"]}]},
]
BUFFERS = [{"percent": 5}, {"region": "west", "channel": "web", "units": 3}]
# atpd must be ready within this after a restart (scaled): a regression
# guard (restart takes well under a second here), not a benchmark, so it
# leaves room for a busy machine.
READY_MAX_S = 15.0
DOWN_S = 0.7       # how long atpd stays down while the feeder goes on


def config(h):
    return ru.resync_config(h, REGIONS, LOCATIONS, SOURCES, channels=["web"],
                            buffers=BUFFERS, reorder_window="50ms", resync_retry="300ms",
                            resync_timeout="30s", snapshot_interval="200ms")


def feed_args(n):
    # The feeder keeps to its schedule while atpd is down, and a restart
    # replays the backlog at once: the feed must last well beyond two stops
    # and starts (slow under the sanitizers) for the kill to come before
    # its end.
    rate = 1000 if not harness.SANITIZER else 100
    return ["--messages", n, "--rate", rate, "--batch", 4, "--skus", 200, "--seed", 777,
            "--dup", 0.01, "--lot-ratio", 0.05, "--heartbeat-ms", 200,
            "--quiet"] + ru.LINGER


def finish(h, d, recs, label):
    m = ru.LotModel(d.cfg)
    final = m.apply_all(recs)
    ru.wait_caught_up(d, final, 30)
    tab = ru.atp_table(d, m.skus, m.regions, m.channels)
    ru.compare_model(h, d, m, m.skus, label)
    return tab, final


def wait_seq(d, source, seq, timeout_s):
    """Until source's last_seq >= seq; polls through one raw REQ connection
    (quicker than spawning atpctl: the stop must come while the feeder is
    still sending). Returns the last_seq seen."""
    c = harness.Client(d.query_port, d=d)

    def reached():
        last = c.sources()[source]["last_seq"]
        return last if last >= seq else None
    try:
        return harness.wait_until(reached, timeout_s, 0.01, "%s last_seq >= %d" % (source, seq))
    finally:
        c.close()


def main(h):
    n = ru.scaled(8000, 2000)
    per_source = n // 2

    # ---- run A: no restart
    da = h.start_atpd(config(h), name="atpd-a")
    _, recs_a, _, _ = ru.run_feed(da, feed_args(n), name="feed-a", timeout_s=120)
    tab_a, final_a = finish(h, da, recs_a, "run A")
    da.stop()

    # ---- run B: SIGTERM, then SIGKILL, while the feeder goes on
    db = h.start_atpd(config(h), name="atpd-b")
    f = ru.Feed(db, feed_args(n), name="feed-b")
    ready = []
    at = wait_seq(db, "wms", per_source // 4, 60)
    db.stop(expect_clean=True)
    h.log("run B: SIGTERM atpd at wms seq %d", at)
    time.sleep(DOWN_S)
    ready.append(ru.restart(db))
    after_term = db.sources()
    h.log("run B: restarted in %.2f s; wms restored at seq %d", ready[-1],
          after_term["wms"]["last_seq"])
    kill_at = wait_seq(db, "wms", per_source // 2, 60)
    ru.kill9(db)
    h.log("run B: kill -9 atpd at wms seq %d", kill_at)
    time.sleep(DOWN_S)
    ready.append(ru.restart(db))
    after_kill = db.sources()
    h.log("run B: restarted in %.2f s; wms restored at seq %d", ready[-1],
          after_kill["wms"]["last_seq"])
    summary = f.finish(120)
    recs_b, replays_b, snaps_b = f.log()
    h.log("run B: feeder answered %d requests: %d replays (%d messages), %d snapshots",
          summary["resync_requests"], summary["replays"], summary["replayed"],
          summary["snapshots"])
    tab_b, final_b = finish(h, db, recs_b, "run B")

    ck = harness.Checks(h)
    ck.eq(final_b, final_a, "final seqs (same seed, same stream)")
    # Lot ETAs follow the wall clock: compare the rest of every event.
    def shape(recs):
        return [(r["source"], r["seq"], [e[:5] if e[0] in ("lot_add", "lot_change") else e
                                         for e in r["events"]]) for r in recs]
    same = shape(recs_a) == shape(recs_b)
    ck.check(same, "the same seed must generate the same events (ETAs aside)")
    for i, t in enumerate(ready):
        ck.check(t <= READY_MAX_S * harness.TIME_FACTOR,
                 "restart %d: ready after %.2f s, want <= %.1f s" % (i + 1, t,
                                                                     READY_MAX_S * harness.TIME_FACTOR))
    src = db.sources()
    for sid in final_b:
        ck.check(src[sid]["resync_requests"] > 0, "run B %s: resync_requests %d, want > 0"
                 % (sid, src[sid]["resync_requests"]))
        ck.eq(src[sid]["state"], "ok", "run B %s state" % sid)
        ck.eq(src[sid]["missed"], 0, "run B %s missed" % sid)
    ck.check(summary["replayed"] > 0, "run B: the feeder resent nothing")
    ck.check(kill_at < final_b["wms"],
             "the kill came after the feed's end (wms at %d of %d): the restart proves "
             "nothing" % (kill_at, final_b["wms"]))
    ck.check(all(after_kill[s]["last_seq"] > 0 for s in final_b),
             "offsets restored after kill -9: %r" % {s: after_kill[s]["last_seq"]
                                                     for s in final_b})
    diff = [k for k in tab_a if (tab_a[k].get("atp"), tab_a[k].get("supply"))
            != (tab_b.get(k, {}).get("atp"), tab_b.get(k, {}).get("supply"))]
    ck.eq(sorted(tab_b), sorted(tab_a), "the same (sku, region, channel) keys")
    if diff:
        for k in diff[:10]:
            print("  %s: run A %s, run B %s" % (k, tab_a[k], tab_b.get(k)))
    ck.eq(len(diff), 0, "answers that differ between run A and run B (of %d)" % len(tab_a))
    ck.done()
    h.log("run A and run B agree on all %d answers", len(tab_a))
    db.stop()


if __name__ == "__main__":
    harness.run(main, "resync_restart")
