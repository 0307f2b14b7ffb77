#!/usr/bin/python3
"""test_client_timeout.py - the `timeout` path: a client whose request gets
no reply gives up after its timeout and says so.

atpd never sends `timeout` (code 21): it is what a client reports when
nothing answers in time (tools/common/client.c). Here atpd is frozen with
SIGSTOP (the kernel still accepts the TCP connection, nobody answers the
SP handshake or the request), and `atpctl --timeout 500 status` must exit
with the transport status (3) no sooner than its timeout and within a
bounded time, saying that nothing answered within 500 ms; after SIGCONT
the same command answers, and atpd still stops cleanly.

Labels: integration, suite (issue 21: the timeout path). About 3 s.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import store_util as S  # noqa: E402

TIMEOUT_MS = 500
EXIT_MAX_S = 5.0  # the timeout plus process start-up, generously


def main(h):
    d = h.start_atpd(S.store_config(h))
    chk = harness.Checks(h)
    endpoint = ["--endpoint", d.query_url, "--timeout", TIMEOUT_MS]
    os.kill(d.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = harness.run_ctl(h, endpoint + ["status"], timeout_s=30)
        took = time.monotonic() - t0
    finally:
        os.kill(d.pid, signal.SIGCONT)
    h.log("atpctl against a frozen atpd: exit %d after %.2f s: %s", r.returncode, took,
          r.stderr.strip().replace("\n", " | "))
    chk.eq(r.returncode, 3, "atpctl exit status against a frozen atpd")
    chk.check(took >= TIMEOUT_MS / 1000.0, "atpctl gave up after %.2f s, before its timeout"
              % took)
    chk.check(took <= EXIT_MAX_S * harness.TIME_FACTOR, "atpctl took %.2f s" % took)
    chk.check("within %d ms" % TIMEOUT_MS in r.stderr,
              "atpctl does not say it timed out: %r" % r.stderr)
    r = harness.run_ctl(h, endpoint + ["status"], timeout_s=30)
    chk.eq(r.returncode, 0, "atpctl status once atpd runs again")
    d.stop()
    chk.done()


if __name__ == "__main__":
    harness.run(main, "client_timeout")
