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

STOPS = 12 if not harness.SANITIZER else 5
RATE = 4000 if not harness.SANITIZER else 1500
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
