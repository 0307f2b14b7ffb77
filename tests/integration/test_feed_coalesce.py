#!/usr/bin/python3
"""test_feed_coalesce.py - the change feed coalesces per (SKU, region).

1. Burst A: 10,000 on_hand deltas to one SKU from one source in 2,000
   small messages (5 deltas each), spread over about a second; burst B:
   10,000 deltas in 10 batches of 1,000, back to back. After `sources` shows the last one
   applied and the feed went quiet, the SKU got at most
   1 + 2 * burst_duration / feed_interval messages, and far fewer than 100;
   key_seq is contiguous; the LAST message equals atpd's current state
   (supply, reserved, and `atp` per channel from the query socket) and the
   sum of the deltas. `atpctl watch REGION SKU --json` sees the same
   messages, no gap line.
2. Reservations move the feed too: a reserve (reserved up), a release
   (down), a held reservation that expires by TTL (down at its expires_ms),
   a commit consumed by a WMS allocation event naming its order (reserved
   and supply down together). Each produces a message whose values equal
   the query answers.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util as F  # noqa: E402
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

SKU = "HOT"
CHANNELS = ("web", "app")
BASE = 1000000


def current(q, region="east"):
    """(supply, reserved, ((channel, atp), ...)) from atp queries."""
    ans = q.atp_all(SKU, region, ("default",) + CHANNELS)
    a0 = ans["default"]
    return (a0["supply"], a0["reserved"],
            tuple((c, ans[c]["atp"]) for c in ("default",) + CHANNELS))


def burst(h, ck, d, q, fd, sub, name, n_msgs, per_msg, expect_supply, pace_s=0.0):
    """Send n_msgs messages of per_msg deltas, spread over about pace_s
    (0: back to back); check the feed."""
    iv = F.interval_s(d)
    deltas = []
    t0 = time.monotonic()
    for i in range(n_msgs):
        if pace_s > 0:
            # Keep to the schedule: message i leaves at t0 + i * pace / n.
            ahead = t0 + pace_s * i / n_msgs - time.monotonic()
            if ahead > 0.005:
                time.sleep(ahead)
        ev = []
        for k in range(per_msg):
            # +3, -1, +3, -1, ...: the value keeps moving, never below BASE.
            dv = 3 if (i * per_msg + k) % 2 == 0 else -1
            deltas.append(dv)
            ev.append([1, SKU, "E1", 0, dv])
        fd.send("wms", ev)
    fd.wait_applied("wms", timeout_s=60)
    t1 = time.monotonic()
    expect_supply += sum(deltas)
    # Until the message with the final supply (the feed publishes the latest
    # values, so it comes last), however late a busy machine delivers it.
    msgs = sub.collect(lambda g: g and g[-1][2]["supply"] == expect_supply, 10,
                       "%s: the final supply %d" % (name, expect_supply))
    dur = t1 - t0
    # A burst can straddle interval boundaries: one message per interval it
    # touches (duration / interval + 2), doubled for scheduling slack.
    bound = 2 + 2 * dur / iv
    h.log("%s: %d deltas in %d messages applied in %.3f s; %d feed messages (bound %.1f)",
          name, len(deltas), n_msgs, dur, len(msgs), bound)
    ck.check(len(msgs) >= 1, "%s: no feed message at all", name)
    ck.check(len(msgs) <= bound, "%s: %d feed messages for a %.3f s burst (interval %.3f s): "
             "more than 2 + 2 * duration / interval = %.1f", name, len(msgs), dur, iv, bound)
    ck.check(len(msgs) < 100, "%s: %d feed messages for one SKU: not coalesced", name,
             len(msgs))
    ks = [b["key_seq"] for _, _, b, _ in msgs]
    if ks:
        ck.eq(ks, list(range(ks[0], ks[0] + len(ks))), "%s: key_seq contiguous" % name)
        last = msgs[-1][2]
        now = current(q)
        ck.eq(F.msg_state(last), now, "%s: last message vs atpd's current state" % name)
        ck.eq(last["supply"], expect_supply, "%s: last message's supply vs the deltas" % name)
        for _, _, b, _ in msgs:
            ck.check(all(not c["transitions"] for c in b["channels"]),
                     "%s: a transition while far above zero: %r", name, b)
    return expect_supply, msgs


def wait_state(ck, sub, q, what, pred, timeout_s=10):
    """The message for which pred(body) holds; it must equal the query."""
    got = sub.wait_for(lambda r, s, b: pred(b), timeout_s, what)
    body = got[-1][2]
    ck.eq(F.msg_state(body), current(q), "%s: message vs query" % what)
    return body, got


def main(h):
    ck = harness.Checks(h)
    cfg = F.feed_config(h, ["east"], [("E1", "east")], [("wms", ["E1"])], channels=CHANNELS,
                        buffers=[{"sku": SKU, "channel": "web", "units": 3},
                                 {"channel": "app", "percent": 10}],
                        reservations={"min_ttl": "1s", "durability": "sync"})
    d = h.start_atpd(cfg)
    q = F.Query(d)
    fd = F.Feeder(d, q)
    sub = F.Sub(d, [F.prefix("east", SKU)])
    fd.publish("wms", [[2, SKU, "E1", 0, BASE]])
    sub.wait_for(lambda r, s, b: b["supply"] == BASE, 10, "initial on_hand")
    sub.quiet(F.interval_s(d) * 4)

    w = F.Watch(h, d, ["east", SKU, "--duration", "300s"], "w-burst")
    w.wait_connected()

    n = F.scaled(10000, 1000)
    # A lasts about 1 s: about one message per interval, each the latest.
    supply, a = burst(h, ck, d, q, fd, sub, "burst A (small messages over ~1 s)", n // 5, 5,
                      BASE, pace_s=1.0)
    supply, b = burst(h, ck, d, q, fd, sub, "burst B (batches)", 10, n // 10, supply)
    want_ks = [x[2]["key_seq"] for x in a + b]
    try:
        harness.wait_until(lambda: len(w.messages()) >= len(want_ks) or w.gaps(), 10, 0.02,
                           "atpctl watch to print the %d burst messages" % len(want_ks))
    except TestFailure as e:
        ck.check(False, "%s", e)
    rc = w.stop()
    ck.eq(rc, 0, "atpctl watch stopped with SIGINT: exit status")
    ck.eq([m["key_seq"] for m in w.messages()], want_ks,
          "atpctl watch: key_seq of the burst messages")
    ck.eq(w.gaps(), [], "atpctl watch: gap lines")

    # ---- reservations move the feed
    r = q.ok({"op": "reserve", "id": "co-1", "lines": [[SKU, "east", 5]], "ttl_ms": 60000})
    ck.check(r.get("granted") is True, "reserve co-1: %r", r)
    wait_state(ck, sub, q, "reserve co-1", lambda b: b["reserved"] == 5)
    q.ok({"op": "release", "id": "co-1"})
    wait_state(ck, sub, q, "release co-1", lambda b: b["reserved"] == 0)

    r = q.ok({"op": "reserve", "id": "co-2", "lines": [[SKU, "east", 7]], "ttl_ms": 1000})
    ck.check(r.get("granted") is True, "reserve co-2: %r", r)
    expires_ms = r["reservation"]["expires_ms"]
    wait_state(ck, sub, q, "reserve co-2 (ttl 1 s)", lambda b: b["reserved"] == 7)
    body, _ = wait_state(ck, sub, q, "expiry of co-2", lambda b: b["reserved"] == 0,
                         timeout_s=10)
    ck.check(body["ts_ms"] >= expires_ms - 50,
             "expiry message published at %d, before expires_ms %d", body["ts_ms"], expires_ms)
    ck.check(body["ts_ms"] <= expires_ms + 2000 * F.TF,
             "expiry message published at %d, long after expires_ms %d", body["ts_ms"],
             expires_ms)

    r = q.ok({"op": "reserve", "id": "co-3", "lines": [[SKU, "east", 4]], "ttl_ms": 60000})
    ck.check(r.get("granted") is True, "reserve co-3: %r", r)
    wait_state(ck, sub, q, "reserve co-3", lambda b: b["reserved"] == 4)
    q.ok({"op": "commit", "id": "co-3", "order_ref": "SO-3"})
    fd.publish("wms", [[1, SKU, "E1", 1, 4, "SO-3"]])
    body, _ = wait_state(ck, sub, q, "allocation consuming co-3",
                         lambda b: b["reserved"] == 0 and b["supply"] == supply - 4)
    res = q.ok({"op": "reservation", "id": "co-3"})["reservation"]
    ck.eq(res["state"], "consumed", "co-3 state after the allocation event")
    rest = sub.quiet(F.interval_s(d) * 4)
    if rest:
        ck.eq(F.msg_state(rest[-1][2]), current(q), "last message vs query at the end")

    sub.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "feed_coalesce")
