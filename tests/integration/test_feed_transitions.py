#!/usr/bin/python3
"""test_feed_transitions.py - transition marks on the change feed.

Buffer rules with low_stock thresholds: T1 has units 2 / low_stock 10 in
every channel but web, where units 5 / low_stock 20 (band 2); T0 has no
threshold (low stock disabled); T2 starts at ATP 0. service.feed_interval
is 100 ms, and every step waits for its message before the next, so each
step is published on its own.

ATP is driven down and up by on_hand sets, reservations, a release and a
TTL expiry; for every message and channel the transitions and the
out_of_stock / low_stock flags must equal both the hand-written
expectation (default channel) and a model written from PROTOCOL.md (every
channel): out_of_stock when ATP reaches 0 from above, back_in_stock when it
rises above 0 again, low_stock when it drops below the threshold while still
above 0, clearing only at threshold + max(1, 10 %) (so flapping around the
threshold reports low_stock once), nothing on a key's first message, and
never low_stock when the threshold is 0. `atpctl watch east T1` (human
output) shows the marks in capitals.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util as F  # noqa: E402
import harness  # noqa: E402

CHANNELS = ("web", "app")
ALL_CH = ("default",) + CHANNELS
BUFFERS = [
    {"sku": "T1", "units": 2, "low_stock": 10},
    {"sku": "T1", "channel": "web", "units": 5, "low_stock": 20},
    {"sku": "T0", "units": 2},
    {"sku": "T2", "units": 2, "low_stock": 10},
]
RULES = {  # (sku, channel) -> (units, low_stock), as BUFFERS say
    ("T1", "web"): (5, 20),
    ("T0", None): (2, 0),
    ("T1", None): (2, 10),
    ("T2", None): (2, 10),
}


def rule(sku, channel):
    return RULES.get((sku, channel)) or RULES[(sku, None)]


# T1's steps: (action, supply after, reserved after, expected default-channel
# (atp, transitions, out_of_stock, low_stock)). Actions: ("set", on_hand),
# ("reserve", id, qty, ttl_ms), ("release", id), ("expire", id).
T1_STEPS = [
    (("set", 52), 52, 0, (50, [], False, False)),          # first: flags only
    (("set", 22), 22, 0, (20, [], False, False)),          # web drops below 20
    (("set", 11), 11, 0, (9, ["low_stock"], False, True)),
    (("set", 12), 12, 0, (10, [], False, True)),           # flapping: in the band
    (("set", 11), 11, 0, (9, [], False, True)),
    (("set", 12), 12, 0, (10, [], False, True)),
    (("set", 13), 13, 0, (11, [], False, False)),          # 10 + band 1: cleared
    (("set", 12), 12, 0, (10, [], False, False)),
    (("set", 10), 10, 0, (8, ["low_stock"], False, True)),  # a new drop
    (("reserve", "tr-1", 8, 60000), 10, 8, (0, ["out_of_stock"], True, True)),
    (("release", "tr-1"), 10, 0, (8, ["back_in_stock"], False, True)),
    (("set", 62), 62, 0, (60, [], False, False)),
    (("set", 2), 2, 0, (0, ["out_of_stock"], True, True)),  # straight to 0
    (("set", 32), 32, 0, (30, ["back_in_stock"], False, False)),
    (("reserve", "tr-2", 25, 1000), 32, 25, (5, ["low_stock"], False, True)),
    (("expire", "tr-2"), 32, 0, (30, [], False, False)),
]

T0_STEPS = [  # no threshold: never low
    (("set", 52), 52, 0, (50, [], False, False)),
    (("set", 3), 3, 0, (1, [], False, False)),
    (("set", 2), 2, 0, (0, ["out_of_stock"], True, False)),
    (("set", 5), 5, 0, (3, ["back_in_stock"], False, False)),
]

T2_STEPS = [  # the first message at 0 reports no transition
    (("set", 1), 1, 0, (0, [], True, True)),
    (("set", 50), 50, 0, (48, ["back_in_stock"], False, False)),
]


def run_steps(h, ck, d, q, fd, sub, sku, steps):
    models = {c: F.TransitionModel() for c in ALL_CH}
    for i, (act, supply, reserved, want) in enumerate(steps):
        what = "%s step %d %r" % (sku, i, act)
        if act[0] == "set":
            fd.publish("wms", [[2, sku, "E1", 0, act[1]]])
        elif act[0] == "reserve":
            r = q.ok({"op": "reserve", "id": act[1], "lines": [[sku, "east", act[2]]],
                      "ttl_ms": act[3]})
            ck.check(r.get("granted") is True, "%s: not granted: %r", what, r)
        elif act[0] == "release":
            q.ok({"op": "release", "id": act[1]})
        # "expire": nothing to do but wait for the TTL.
        got = sub.wait_for(lambda r, s, b: (b["supply"], b["reserved"]) == (supply, reserved),
                           10, what)
        ck.eq(len(got), 1, "%s: messages for one step (%r)"
              % (what, [F.msg_state(b) for _, _, b, _ in got]))
        body = got[-1][2]
        chans = {c["channel"]: c for c in body["channels"]}
        c0 = chans.get("default") or {}
        ck.eq((c0.get("atp"), c0.get("transitions"), c0.get("out_of_stock"),
               c0.get("low_stock")), want, what + ": default channel (atp, transitions, "
              "out_of_stock, low_stock)")
        for ch in ALL_CH:
            c = chans.get(ch) or {}
            units, threshold = rule(sku, None if ch == "default" else ch)
            atp = max(0, supply - reserved - units)
            marks = models[ch].update(atp, threshold)
            ck.eq((c.get("atp"), c.get("transitions"), c.get("out_of_stock"),
                   c.get("low_stock")), (atp, marks, models[ch].out, models[ch].low),
                  "%s: channel %s vs the model" % (what, ch))
        # key_seq starts at a per-run base (start time x 1000) and grows by 1
        if i == 0:
            key_seq0 = body["key_seq"]
        ck.eq(body["key_seq"], key_seq0 + i, what + ": key_seq")


def main(h):
    ck = harness.Checks(h)
    cfg = F.feed_config(h, ["east"], [("E1", "east")], [("wms", ["E1"])], channels=CHANNELS,
                        buffers=BUFFERS, feed_interval="100ms",
                        reservations={"min_ttl": "1s", "durability": "sync"})
    d = h.start_atpd(cfg)
    q = F.Query(d)
    fd = F.Feeder(d, q)
    w = F.Watch(h, d, ["east", "T1", "--duration", "300s"], "w-t1", json_out=False)
    w.wait_connected()
    barrier_sku, n_barriers = "ZZ-BARRIER", [0]

    def barrier(sub):
        """A change of another SKU, published after whatever the steps
        produced: the messages before it (its own left out)."""
        n_barriers[0] += 1
        fd.publish("wms", [[2, barrier_sku, "E1", 0, n_barriers[0]]])
        got = sub.collect(lambda g: g and g[-1][1] == barrier_sku and
                          g[-1][2]["supply"] == n_barriers[0], 10, "the barrier message")
        return [m for m in got if m[1] != barrier_sku]
    for sku, steps in (("T1", T1_STEPS), ("T0", T0_STEPS), ("T2", T2_STEPS)):
        sub = F.Sub(d, [F.prefix("east", sku), F.prefix("east", barrier_sku)])
        run_steps(h, ck, d, q, fd, sub, sku, steps)
        extra = barrier(sub)
        ck.eq([F.msg_state(b) for _, _, b, _ in extra], [], sku + ": messages after the last step")
        sub.close()
        h.log("%s: %d steps checked", sku, len(steps))
    ck.eq(w.stop(), 0, "atpctl watch east T1: exit status on SIGINT")
    # One human line per T1 message: the default channel's marks in capitals.
    ck.eq(len(w.text), len(T1_STEPS), "atpctl watch east T1: lines (%r)" % w.text[-3:])
    loud = {"out_of_stock": "OUT_OF_STOCK!", "back_in_stock": "BACK_IN_STOCK!",
            "low_stock": "LOW_STOCK!"}
    for line, (act, supply, reserved, want) in zip(w.text, T1_STEPS):
        cell = " | default %d%s" % (want[0], "".join(" " + loud[m] for m in want[1]))
        # The standing state follows unless a mark just said it.
        if want[2] and "out_of_stock" not in want[1]:
            cell += " out"
        elif want[3] and not want[2] and "low_stock" not in want[1]:
            cell += " low"
        ck.check(" east T1  supply %d  reserved %d" % (supply, reserved) in line and
                 (cell + " |") in line, "atpctl watch line %r lacks %r", line, cell)
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "feed_transitions")
