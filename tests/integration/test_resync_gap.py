#!/usr/bin/python3
"""test_resync_gap.py - gaps repaired by resync, end to end.

atp-feed drops 5 % of its messages (and duplicates / reorders a few, and
sends inbound lot events). atpd detects each hole, asks for a replay on its
control socket, atp-feed resends from its replay log, and in the end atpd's
answer for EVERY (sku, region, channel) equals the model of ALL generated
messages (the dropped ones included: they arrived by replay). The sources
end `ok` (not stale) with `resync_requests` > 0.

Phase 2 does the same with a replay log of 20 messages, so that most
requests are answered with a full snapshot (feed_state: the state the
feeder produced, lots included) instead of a replay.

Label: integration, resync. Bounded: about 15 s (sanitizer: fewer events).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resync_util as ru  # noqa: E402
from harness import TestFailure  # noqa: E402

REGIONS = ["us-east", "us-west"]
LOCATIONS = [("DC-NJ", "us-east"), ("DC-PA", "us-east"), ("DC-CA", "us-west"),
             ("ST-SF", "us-west")]
SOURCES = [
    {"id": "wms", "heartbeat_timeout": "10m", "authority": [
        {"locations": ["DC-NJ", "DC-PA"], "buckets": ["on_hand", "allocated", "held"]},
        {"locations": ["DC-NJ"], "buckets": ["inbound"]}]},
    {"id": "3pl", "heartbeat_timeout": "10m", "authority": [
        {"locations": ["DC-CA", "ST-SF"], "buckets": ["on_hand", "allocated"]},
        {"locations": ["ST-SF"], "buckets": ["held", "inbound"]}]},
]
BUFFERS = [{"units": 1}, {"region": "us-west", "channel": "app", "percent": 12.5},
           {"sku": "SKU-3", "units": 4}]


def run_phase(h, label, feed_args, expect_snapshots):
    cfg = ru.resync_config(h, REGIONS, LOCATIONS, SOURCES, channels=["web", "app"],
                           buffers=BUFFERS, reorder_window="50ms", resync_retry="300ms",
                           resync_timeout="20s")
    d = h.start_atpd(cfg, name="atpd-" + label)
    summary, recs, replays, snaps = ru.run_feed(d, feed_args, name="feed-" + label)
    m = ru.LotModel(cfg)
    final = m.apply_all(recs)
    dropped = sum(1 for r in recs if not r["sent"])
    h.log("%s: %d messages generated, %d dropped; feeder answered %d requests: "
          "%d replays (%d messages), %d snapshots", label, len(recs), dropped,
          summary["resync_requests"], summary["replays"], summary["replayed"],
          summary["snapshots"])
    if dropped == 0:
        raise TestFailure("the seeded feed dropped nothing: the test proves nothing")
    # Snapshots may leave last_seq behind the final seq (see the report):
    # wait for ok / nothing held and for every final message counted as
    # applied or covered.
    def caught_up(s):
        return all(s[i]["state"] == "ok" and s[i]["held"] == 0 and
                   (s[i]["last_seq"] >= q or s[i]["snapshots_applied"] > 0)
                   for i, q in final.items())
    ru.wait_sources(d, caught_up, 20, "%s: sources ok with nothing held" % label)
    src = d.sources()
    ck = harness.Checks(h)
    for sid, q in final.items():
        s = src[sid]
        ck.eq(s["state"], "ok", "%s %s state" % (label, sid))
        ck.check(s["resync_requests"] > 0, "%s %s: resync_requests %d, want > 0"
                 % (label, sid, s["resync_requests"]))
        ck.check(s["gaps"] > 0, "%s %s: gaps %d, want > 0" % (label, sid, s["gaps"]))
        ck.eq(s["missed"], 0, "%s %s missed (every hole was filled)" % (label, sid))
        ck.eq(s["rejected_messages"], 0, "%s %s rejected messages" % (label, sid))
        if not expect_snapshots:
            ck.eq(s["last_seq"], q, "%s %s last_seq" % (label, sid))
            ck.eq(s["snapshots_applied"], 0, "%s %s snapshots (the log reaches back)"
                  % (label, sid))
    if expect_snapshots:
        ck.check(summary["snapshots"] > 0 and len(snaps) == summary["snapshots"],
                 "%s: feeder snapshots %d (log lines %d), want > 0"
                 % (label, summary["snapshots"], len(snaps)))
        ck.check(sum(src[s]["snapshots_applied"] for s in final) > 0,
                 "%s: atpd applied no snapshot" % label)
    else:
        ck.check(len(replays) > 0 and summary["replayed"] > 0,
                 "%s: feeder logged %d replays, resent %d" % (label, len(replays),
                                                               summary["replayed"]))
    ck.check(all(r.get("request_id", 0) > 0 for r in replays + snaps),
             "%s: every replay / snapshot note names its request" % label)
    ck.done()
    lot_skus = {r_ev[1] for r in recs for r_ev in r["events"] if r_ev[0].startswith("lot")}
    h.log("%s: %d SKUs (%d with lot events), %d open lots in the model",
          label, len(m.skus), len(lot_skus), len(m.lots))
    ru.compare_model(h, d, m, m.skus, label + ": after resync")
    for r in REGIONS:  # and the single-line answer says not stale
        a = d.ctl("atp", sorted(m.skus)[0], r)
        if a.get("stale") is not False:
            raise TestFailure("%s: atp %s says stale %r" % (label, r, a.get("stale")))
    d.stop()


def main(h):
    n = ru.scaled(6000, 600)
    common = ["--messages", n, "--rate", 3000 if not harness.SANITIZER else 600,
              "--batch", 4, "--skus", 300, "--drop", 0.05, "--dup", 0.01,
              "--reorder", 0.01, "--lot-ratio", 0.05, "--heartbeat-ms", 200,
              "--quiet"] + ru.LINGER
    run_phase(h, "replay", common + ["--seed", 4242], expect_snapshots=False)
    run_phase(h, "snapshot", common + ["--seed", 99, "--replay-log", 20],
              expect_snapshots=True)


if __name__ == "__main__":
    harness.run(main, "resync_gap")
