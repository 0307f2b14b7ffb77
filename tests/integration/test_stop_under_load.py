#!/usr/bin/python3
"""test_stop_under_load.py - SIGTERM while a source floods atpd ends
cleanly and quickly, every time.

Issue 21 ("resync_restart saw atpd log 'shutting down' and not exit within
15 s"). atp-feed sends 4,000 messages a second (two sources, as in
test_resync_restart.py) while atpd is stopped with SIGTERM and started
again STOPS times on the same data dir (fewer, and slower, in sanitizer
builds; ctest runs it alone: RUN_SERIAL). Every stop must exit 0 within
STOP_MAX_S. Before the fix about one stop in five hung for good in
nng_close of the ingest socket (nng 1.5.2); socket closes are now bounded
(common/thread.c, thread_run_bounded), so a stuck close costs at most a
few seconds and a warning.

Slow builds (sanitizers, coverage) feed 1500 messages a second: a stop
that waits out a bounded close leaves atpd down about 4 s, and the source
replays what it sent meanwhile at once when atpd is back. At 4000/s that
backlog (16,000 messages) is twice atpd's ingest queue (8192); the -O0
instrumented atpd drains it slower than it arrives, the queue overflows
(the requested seq lost with the rest), atpd asks again every 300 ms
(resync_retry here) and each request brings the whole backlog again: the
coverage build needed 16-30 s to get 500 messages further (the 30 s wait
timed out), the release build under a second. At 1500/s the backlog fits
the queue and the coverage build catches up in about a second.

Labels: integration, suite. About 25 s.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resync_util as ru  # noqa: E402
import store_util as S  # noqa: E402
import test_resync_restart as rr  # noqa: E402

STOPS = 12 if not harness.SLOW else 5
RATE = 4000 if not harness.SLOW else 1500
STOP_MAX_S = 8.0  # bounded closes: at most 4 s; the rest is the final snapshot


def main(h):
    d = h.start_atpd(rr.config(h), name="atpd")
    args = ["--messages", 10 ** 7, "--rate", RATE, "--batch", 4, "--skus", 200,
            "--seed", 11, "--lot-ratio", 0.05, "--heartbeat-ms", 200, "--quiet"]
    feed = ru.Feed(d, args, name="feed")
    chk = harness.Checks(h)
    worst = 0.0
    try:
        for i in range(STOPS):
            # Stop while messages are arriving: wait for some to be applied.
            first = d.sources()["wms"]["messages"]
            harness.wait_until(lambda: d.sources()["wms"]["messages"] > first + 500,
                               30, 0.05, "the feeder's messages to arrive")
            t0 = time.monotonic()
            rc = d.stop(expect_clean=True, grace_s=STOP_MAX_S)
            took = time.monotonic() - t0
            worst = max(worst, took)
            chk.eq(rc, 0, "exit status of stop %d" % i)
            chk.check(took <= STOP_MAX_S * harness.TIME_FACTOR,
                      "stop %d took %.1f s" % (i, took))
            d.start(ready_timeout_s=60)
    finally:
        feed.stop()
    h.log("%d stops under load, the slowest %.2f s; %d socket closes left behind",
          STOPS, worst, S.log_text(d).count("did not finish"))
    d.stop()
    chk.done()


if __name__ == "__main__":
    harness.run(main, "stop_under_load")
