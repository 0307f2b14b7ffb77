#!/usr/bin/python3
"""test_http_slowloris.py - a client that sends half a request and hangs
does not hold a worker (issue 13): with `service.http_timeout` set to 2 s
and 2 HTTP threads, slow clients - half the headers, the headers and half
the body, nothing at all - outnumbering the threads stay connected until
the timeout, while another client is answered all along; then each is
dropped, not before the timeout and not long after it.

Label: integration, http. Bounded: about 6 s.
"""

import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import openapi_util  # noqa: E402

TIMEOUT_S = 2.0       # service.http_timeout below
EARLY_S = 0.1         # dropped no sooner than TIMEOUT_S - EARLY_S
LATE_S = 2.0          # nor later than TIMEOUT_S + LATE_S (scaled)


def main(h):
    ck = harness.Checks(h)
    cfg = harness.build_config(h, ["r1"], [("L1", "r1")],
                               [harness.source_entry("wms", [(["L1"], ["on_hand"])])],
                               http_timeout="%ds" % TIMEOUT_S, http_threads=2)
    d, url = openapi_util.start_atpd(h, cfg)
    host = "127.0.0.1:%s" % url.rsplit(":", 1)[1]
    halves = {
        "half the headers": "GET /v1/status HTTP/1.1\r\nHost: %s\r\nAccept: app" % host,
        "headers and half the body": (
            "POST /v1/availability/cart HTTP/1.1\r\nHost: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
            '{"lines": [["A", "r1", 1]' % host),
        "nothing at all": "",
    }
    slow = []  # (what, socket, time its last byte was sent)
    for i in range(3):  # 9 slow connections on 2 threads
        for what, data in halves.items():
            s = openapi_util.raw_connect(url)
            if data:
                s.sendall(data.encode())
            slow.append(("%s #%d" % (what, i), s, time.monotonic()))
    t0 = time.monotonic()
    web = openapi_util.Http(url, timeout_s=2)
    dropped = {}
    served, worst = 0, 0.0
    deadline = t0 + (TIMEOUT_S + LATE_S) * harness.TIME_FACTOR + 1
    while len(dropped) < len(slow) and time.monotonic() < deadline:
        t = time.monotonic()
        r = web.get("/v1/status")
        worst = max(worst, time.monotonic() - t)
        if ck.eq(r.status, 200, "another client is answered while slow ones hang"):
            served += 1
        socks = [s for what, s, _ in slow if what not in dropped]
        readable, _, _ = select.select(socks, [], [], 0.05)
        for what, s, sent in slow:
            if s in readable and what not in dropped:
                try:
                    s.settimeout(0.5)
                    data = s.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    data = b""
                if not data:  # closed (a reply before the close is allowed)
                    dropped[what] = time.monotonic() - sent
    web.close()
    h.log("served %d requests meanwhile (slowest %.0f ms); dropped after %s", served,
          worst * 1000, ", ".join("%s %.2f s" % (w, t) for w, t in sorted(dropped.items())))
    ck.check(served >= 10, "the other client was served %d times during the wait" % served)
    ck.check(worst < 1.0 * harness.TIME_FACTOR,
             "no request of the other client waited for a slow one (slowest %.2f s)" % worst)
    for what, s, _ in slow:
        t = dropped.get(what)
        ck.check(t is not None, "%s: dropped within %.1f s" % (what, TIMEOUT_S + LATE_S))
        if t is not None:
            ck.check(TIMEOUT_S - EARLY_S <= t <= (TIMEOUT_S + LATE_S) * harness.TIME_FACTOR,
                     "%s: dropped after %.2f s, timeout %.0f s" % (what, t, TIMEOUT_S))
        s.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "http_slowloris")
