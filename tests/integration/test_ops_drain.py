#!/usr/bin/python3
"""test_ops_drain.py - service.stop_drain (docs/OPERATIONS.md, "Stopping
behind a load balancer"; issue 15, found by a docs-only tester: the 503
"stopping" window lasted ~50 ms before the listeners closed).

1. stop_drain 3 s: after SIGTERM, /readyz answers 503 "stopping" at once
   while every request is still served normally for the drain - status,
   an ATP query, a reservation that is granted and stored (not busy) - and
   atpd exits cleanly no sooner than the drain, and soon after it.
2. stop_drain 60 s: a second SIGTERM ends the drain at once (the process
   exits long before 60 s).
3. A reservation granted during the drain is there after a restart.

Labels: integration, ops. Bounded: about 15 s.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402

DRAIN_S = 3


def readyz_stopping(w):
    st, _, doc = w.call("GET", "/readyz")
    return doc if st == 503 and doc.get("failing") == ["stopping"] else None


def main(h):
    ck = harness.Checks(h)
    cfg = H.http_config(h, {"stop_drain": "%ds" % DRAIN_S})
    d = h.start_atpd(cfg)
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    H.seed(feed, [("A", "E1", 100)])
    w = H.Http(d)
    ck.eq(w.call("GET", "/readyz")[0], 200, "/readyz before SIGTERM")

    t_term = time.monotonic()
    os.kill(d.pid, signal.SIGTERM)
    harness.wait_until(lambda: readyz_stopping(w), 5, 0.01, "/readyz 503 stopping")
    served = []
    rid = 0
    # Ask for most of the drain; every answer must be a normal one.
    while time.monotonic() - t_term < DRAIN_S - 0.5:
        st = w.ok("GET", "/v1/status")
        ck.eq((st.get("ready"), st.get("readiness", {}).get("stopping")), (False, True),
              "status while draining")
        a = w.ok("GET", "/v1/availability/A/east")
        rid += 1
        r = w.call("POST", "/v1/reservations",
                   {"id": "drain-%d" % rid, "channel": "web",
                    "lines": [{"sku": "A", "region": "east", "qty": 1}]})
        ck.check(r[0] == 201 and r[2].get("granted") is True and
                 r[2].get("reservation", {}).get("state") == "held",
                 "a reservation during the drain is granted: %r", (r[0], r[2]))
        served.append(a.get("atp"))
        time.sleep(0.2)
    ck.check(len(served) >= 3, "served %d rounds while draining", len(served))
    ck.check(d.alive(), "atpd still running %.1f s after SIGTERM (drain %d s)"
             % (time.monotonic() - t_term, DRAIN_S))
    w.close()
    feed.close()
    c.close()
    rc = d.proc.wait(timeout=(DRAIN_S + 20) * harness.TIME_FACTOR)
    took = time.monotonic() - t_term
    ck.eq(rc, 0, "clean exit after the drain")
    ck.check(DRAIN_S - 0.2 <= took <= DRAIN_S + 15 * harness.TIME_FACTOR,
             "exited %.1f s after SIGTERM (drain %d s)", took, DRAIN_S)

    # 3. the reservations granted while draining were stored
    d2 = h.start_atpd(cfg)
    w2 = H.Http(d2)
    for i in range(1, rid + 1):
        st, _, doc = w2.call("GET", "/v1/reservations/drain-%d" % i)
        state = doc.get("reservation", {}).get("state")
        ck.check(st == 200 and state == "held",
                 "drain-%d after a restart: %s %r", i, st, state)
    w2.close()

    # 2. a second SIGTERM ends a long drain at once
    d2.stop()  # a plain stop (no drain configured would be 0: this one has 3 s)
    cfg["service"]["stop_drain"] = "60s"
    d3 = h.start_atpd(cfg)
    w3 = H.Http(d3)
    t0 = time.monotonic()
    os.kill(d3.pid, signal.SIGTERM)
    harness.wait_until(lambda: readyz_stopping(w3), 5, 0.01, "/readyz 503 stopping (60 s drain)")
    w3.close()
    os.kill(d3.pid, signal.SIGTERM)
    rc = d3.proc.wait(timeout=30 * harness.TIME_FACTOR)
    ck.eq(rc, 0, "clean exit on the second SIGTERM")
    ck.check(time.monotonic() - t0 < 30, "the second SIGTERM cut the 60 s drain short: %.1f s",
             time.monotonic() - t0)
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_drain")
