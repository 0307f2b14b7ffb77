#!/usr/bin/env python3
"""test_resync_stale.py - source states and the `stale` flag
(docs/PROTOCOL.md, "Source states").

1. silent: a source that stops sending (heartbeat_timeout 500ms) turns
   `silent` and its region answers stale; heartbeats keep it ok; a new
   message clears it.
2. gapped without resync: a source with `resync: false` whose hole outlives
   the reorder window is `gapped` (stale) at once, is never asked, stays
   gapped with later messages, and a full snapshot clears it.
3. never answered: a source with resync whose hole nobody fills is
   `resyncing` (stale; replay requests repeated every resync_retry on the
   control socket), then after resync_timeout (1 s) `gapped`, its held
   messages applied without the missing one; atpd then asks for a
   snapshot, and one clears it.
4. atp-feed --no-resync with drops: the source ends `gapped`, and atpd's
   answers equal the model of the messages actually sent.

Label: integration, resync. Bounded: about 15 s.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import model  # noqa: E402
import resync_util as ru  # noqa: E402
from harness import TestFailure  # noqa: E402

QUIET_MS = 500  # heartbeat_timeout of "quiet"
REGIONS = ["ra", "rb", "rc", "rd"]
LOCATIONS = [("La", "ra"), ("Lb", "rb"), ("Lc", "rc"), ("Ld", "rd")]
SOURCES = [
    {"id": "quiet", "heartbeat_timeout": "%dms" % QUIET_MS,
     "authority": [{"locations": ["La"], "buckets": ["on_hand"]}]},
    {"id": "noresync", "heartbeat_timeout": "10m", "resync": False,
     "authority": [{"locations": ["Lb"], "buckets": ["on_hand"]}]},
    {"id": "mute", "heartbeat_timeout": "10m",
     "authority": [{"locations": ["Lc"], "buckets": ["on_hand"]}]},
    {"id": "feeder", "heartbeat_timeout": "10m",
     "authority": [{"locations": ["Ld"], "buckets": ["on_hand", "allocated", "held"]}]},
]
RETRY_MS, TIMEOUT_MS = 200, 1000


def main(h):
    cfg = ru.resync_config(h, REGIONS, LOCATIONS, SOURCES, channels=[],
                           reorder_window="50ms", resync_retry="%dms" % RETRY_MS,
                           resync_timeout="%dms" % TIMEOUT_MS)
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    pub = ru.Pub(d)
    ctl = ru.ControlSub(ru.control_port(cfg))

    def stale(region, sku="X"):
        return d.ctl("atp", sku, region)["stale"]

    def state(sid):
        return d.sources()[sid]["state"]

    def wait_state(sid, want, timeout_s=5):
        ru.wait_sources(d, lambda s: s[sid]["state"] == want, timeout_s,
                        "%s state %s" % (sid, want))

    # Every region is stale until its source has spoken.
    ck.eq([stale(r) for r in REGIONS], [True] * 4, "stale before any message (waiting)")
    # waiting, or silent once its 500 ms have passed since start (never heard)
    ck.check(state("quiet") in ("waiting", "silent"), "quiet before any message")

    # ---- 1. silent
    pub.batch("quiet", 1, [[2, "X", "La", 0, 5]])
    wait_state("quiet", "ok")
    ck.check(ru.wait_stale(d, "X", "ra", False), "ra fresh after a message")
    # Heartbeats every 100 ms for 1.2 s keep it ok (checked through a raw
    # REQ connection: spawning atpctl could take longer than the timeout).
    rq = harness.ReqClient(d.query_port)
    for i in range(12):
        pub.batch("quiet", 2 + i, [[3]])
        t = time.monotonic()
        time.sleep(0.1)
        st = {x["id"]: x["state"] for x in rq.request({"op": "sources"})["sources"]}
        ck.eq(st["quiet"], "ok", "quiet ok while heartbeating (%d)" % i)
    rq.close()
    wait_state("quiet", "silent", 3)
    waited = time.monotonic() - t
    h.log("quiet: silent %.2f s after its last message (heartbeat_timeout %d ms)",
          waited, QUIET_MS)
    ck.check(QUIET_MS / 1000 - 0.02 <= waited <= QUIET_MS / 1000 + 1.0 * harness.TIME_FACTOR,
             "silent after %.2f s, want about %.1f s" % (waited, QUIET_MS / 1000))
    ck.check(ru.wait_stale(d, "X", "ra", True), "ra stale while quiet is silent")
    ck.eq(d.ctl("atp", "X", "ra")["supply"], 5, "a silent source's values stay")
    pub.batch("quiet", 14, [[1, "X", "La", 0, 1]])
    wait_state("quiet", "ok")
    ck.check(ru.wait_stale(d, "X", "ra", False), "ra fresh again after a new message")
    ck.eq(d.ctl("atp", "X", "ra")["supply"], 6, "the new message applied")

    # ---- 2. gapped without resync
    pub.batch("noresync", 1, [[2, "X", "Lb", 0, 10]])
    pub.batch("noresync", 3, [[1, "X", "Lb", 0, 1]])
    wait_state("noresync", "gapped")
    s = d.sources()["noresync"]
    ck.eq((s["gaps"], s["missed"], s["last_seq"], s["resync_requests"]), (1, 1, 3, 0),
          "noresync gaps, missed, last_seq, resync_requests")
    ck.check(ru.wait_stale(d, "X", "rb", True), "rb stale while noresync is gapped")
    ck.eq(d.ctl("atp", "X", "rb")["supply"], 11, "seq 3 applied without seq 2")
    pub.batch("noresync", 4, [[1, "X", "Lb", 0, 1]])
    pub.batch("noresync", 2, [[1, "X", "Lb", 0, 100]])  # late: a duplicate now
    ru.wait_sources(d, lambda x: x["noresync"]["last_seq"] == 4, 5, "noresync seq 4")
    time.sleep(0.3)
    ck.eq(state("noresync"), "gapped", "still gapped after later messages")
    ck.eq(d.ctl("atp", "X", "rb")["supply"], 12, "late seq 2 ignored")
    pub.snapshot("noresync", 1, 0, 4, True, [[2, "X", "Lb", 0, 20]])
    wait_state("noresync", "ok")
    ck.check(ru.wait_stale(d, "X", "rb", False), "rb fresh after a snapshot")
    ck.eq(d.ctl("atp", "X", "rb")["supply"], 20, "snapshot applied")
    ck.eq(d.sources()["noresync"]["resync_requests"], 0, "noresync never asked")

    # ---- 3. a hole nobody fills
    ctl.recv_requests(0.05)
    pub.batch("mute", 1, [[2, "X", "Lc", 0, 10]])
    pub.batch("mute", 3, [[1, "X", "Lc", 0, 1]])
    t0 = time.monotonic()
    wait_state("mute", "resyncing", 2)
    ck.check(ru.wait_stale(d, "X", "rc", True), "rc stale while mute resyncs")
    ck.eq(d.ctl("atp", "X", "rc")["supply"], 10, "seq 3 held, not applied")
    wait_state("mute", "gapped", 5)
    took = time.monotonic() - t0
    h.log("mute: gapped %.2f s after the hole (resync_timeout %d ms)", took, TIMEOUT_MS)
    ck.check(0.8 <= took <= 3.0 * harness.TIME_FACTOR,
             "gapped after %.2f s, want about %.1f s" % (took, TIMEOUT_MS / 1000))
    s = d.sources()["mute"]
    ck.check(s["resync_requests"] >= 3, "mute: %d requests in 1 s, want >= 3 (retry %d ms)"
             % (s["resync_requests"], RETRY_MS))
    ck.eq((s["missed"], s["held"], s["last_seq"]), (1, 0, 3), "mute missed, held, last_seq")
    ck.eq(d.ctl("atp", "X", "rc")["supply"], 11, "held seq 3 applied at the timeout")
    ck.check(ru.wait_stale(d, "X", "rc", True), "rc stale while mute is gapped")
    reqs = [m for sid, m in ctl.recv_requests(2.5) if sid == "mute"]
    modes = [(m.get("mode"), m.get("from_seq")) for m in reqs]
    ck.check(("replay", 2) in modes, "replay requests from seq 2 seen: %r" % modes)
    ck.check(any(mo == "snapshot" for mo, _ in modes),
             "snapshot requests after the timeout: %r" % modes)
    pub.snapshot("mute", 7, 0, 3, True, [[2, "X", "Lc", 0, 30]])
    wait_state("mute", "ok")
    ck.check(ru.wait_stale(d, "X", "rc", False), "rc fresh after the snapshot")
    ck.eq(d.ctl("atp", "X", "rc")["supply"], 30, "snapshot applied")

    # ---- 4. atp-feed that does not answer
    summary, recs, replays, snaps = ru.run_feed(
        d, ["--source", "feeder", "--messages", 400, "--rate", 1000, "--batch", 3,
            "--skus", 50, "--drop", 0.05, "--seed", 5, "--no-resync", "--quiet"],
        name="feed-noresync")
    ck.eq((summary["resync"], summary["resync_requests"], len(replays), len(snaps)),
          (False, 0, 0, 0), "--no-resync: not listening, nothing answered")
    final = max(r["seq"] for r in recs)
    ru.wait_sources(d, lambda x: x["feeder"]["last_seq"] == final and
                    x["feeder"]["state"] == "gapped" and x["feeder"]["held"] == 0,
                    10, "feeder gapped at its final seq %d" % final)
    s = d.sources()["feeder"]
    dropped = [r["seq"] for r in recs if not r["sent"]]
    ck.eq(s["missed"], len(dropped), "feeder missed = dropped seqs %r" % dropped[:20])
    ck.check(s["resync_requests"] > 0, "atpd asked the feeder (nobody answered)")
    m = model.Model(cfg)
    m.replay_log([r for r in recs if r["source"] == "feeder"])
    ck.done()
    bad = 0
    for sku in sorted(m.skus):
        got = d.ctl("atp", sku, "rd")
        want = m.answer(sku, "rd")
        if (got["supply"], got["atp"], got["stale"]) != (want["supply"], want["atp"], True):
            bad += 1
            if bad <= 5:
                print("  %s rd: atpd %r, model %r (stale True)" % (sku, got, want))
    if bad:
        raise TestFailure("%d of %d SKUs differ from the model of the sent messages"
                          % (bad, len(m.skus)))
    h.log("feeder: %d SKUs equal the model of the sent messages (stale)", len(m.skus))
    ctl.close()
    pub.close()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "resync_stale")
