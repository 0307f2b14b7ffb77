#!/usr/bin/python3
"""test_sources_silent.py - a source never heard from is `waiting` for its
heartbeat_timeout after atpd starts, then `silent` (age_ms -1: silent since
start), and its regions answer stale; its first message makes it `ok` and
the region fresh again (docs/PROTOCOL.md, "Source states").

Before the fix (issue 12, defect 11) such a source stayed `waiting`
forever, so "not started yet" and "dead since start" looked alike.

Label: integration, correctness. Bounded: about 10 s (x4 under sanitizers).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

# Long enough that the first query after start lands inside it, even in a
# sanitizer build on a loaded machine.
TIMEOUT_MS = int(2000 * harness.TIME_FACTOR)


def main(h):
    sources = [
        harness.source_entry("never", [(["La"], ["on_hand"])],
                             heartbeat_timeout="%dms" % TIMEOUT_MS),
        harness.source_entry("other", [(["Lb"], ["on_hand"])]),
    ]
    cfg = harness.build_config(h, ["ra", "rb"], [("La", "ra"), ("Lb", "rb")], sources)
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)

    st = c.status()
    s = c.sources()["never"]
    if st["uptime_ms"] + 200 < TIMEOUT_MS:
        ck.eq(s["state"], "waiting", "state %d ms after start" % st["uptime_ms"])
    else:
        h.log("first query %d ms after start: too late to see `waiting`", st["uptime_ms"])

    def state_is(want):
        last = {}

        def f():
            last.update(c.sources()["never"])
            return last["state"] == want
        try:
            harness.wait_until(f, TIMEOUT_MS / 1000 + 10, 0.02, "never: " + want)
        except TestFailure:
            raise TestFailure("never: state %r, want %r: %r" % (last.get("state"), want, last))
        return last

    s = state_is("silent")
    up = c.status()["uptime_ms"]
    h.log("never: silent at uptime %d ms (heartbeat_timeout %d ms)", up, TIMEOUT_MS)
    ck.check(up >= TIMEOUT_MS, "silent after %d ms, before its timeout %d ms" % (up, TIMEOUT_MS))
    ck.eq((s["age_ms"], s["last_heartbeat_ms"], s["messages"], s["last_seq"]),
          (-1, -1, 0, 0), "silent since start: age_ms, last_heartbeat_ms, messages, last_seq")
    harness.wait_until(lambda: c.atp("X", "ra")["stale"] is True, 5, 0.02, "ra stale")
    # The other source is silent since start too (10 min timeout: not yet).
    ck.eq(c.sources()["other"]["state"], "waiting", "other within its timeout")

    # Its first message: ok, and the region fresh within a tick or two.
    pub = harness.Publisher(d, c)
    pub.send_payload(pub.next_batch("never", [[2, "X", "La", 0, 7]])[1])
    pub.wait_applied("never")
    t0 = time.monotonic()
    harness.wait_until(lambda: c.atp("X", "ra")["stale"] is False, 5, 0.005, "ra fresh")
    h.log("ra fresh %.0f ms after `sources` showed the message applied",
          (time.monotonic() - t0) * 1000)
    s = c.sources()["never"]
    ck.eq(s["state"], "ok", "state after its first message")
    ck.eq(c.atp("X", "ra")["supply"], 7, "supply after its first message")

    # And silent again after the timeout, now with an age.
    s = state_is("silent")
    ck.check(s["age_ms"] >= TIMEOUT_MS, "silent with age_ms %d >= %d" % (s["age_ms"], TIMEOUT_MS))
    pub.close()
    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "sources_silent")
