#!/usr/bin/python3
"""test_ops_ready.py - readiness is real (docs/HTTP.md "/readyz",
docs/PROTOCOL.md "ready"): atpd listens before it restores its state and
says it is not ready until the store is open, the snapshot and the
reservations are restored and every listener is bound.

1. A store of POSITIONS positions (and a reservation) is written and atpd
   stopped cleanly.
2. atpd restarts on the same ports; the test polls GET /readyz (a deadline,
   no sleep) from the moment the HTTP port accepts: while the restore runs
   /readyz is 503 naming the missing conditions, a query is 503
   `not_ready` (counted in /metrics under op="atp", and atpd_ready is 0
   meanwhile), status says ready false over HTTP and nng; then /readyz
   turns 200 and the restored state answers (the reservation is there).
3. "sources fresh" is its own condition: /readyz?sources=fresh is 503 with
   `sources_fresh` failing while the source has not sent since the
   restart (plain /readyz stays 200), and 200 once it has.

Labels: integration, ops. About 15 s.
"""

import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import store_util as S  # noqa: E402

POSITIONS = 150000 if harness.SANITIZER else 600000
LOCS = 4
BATCH = 100000


def get(port, path):
    """(status, JSON body) or None when nothing accepts on port yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * harness.TIME_FACTOR)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    except (ConnectionRefusedError, ConnectionResetError):
        return None
    finally:
        conn.close()


def get_text(port, path):
    """(status, text) of a plain-text route."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * harness.TIME_FACTOR)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8")
    finally:
        conn.close()


def main(h):
    cfg = S.store_config(h, regions=("east",), locs_per_region=LOCS, durability="sync")
    cfg["service"]["http_listen"] = "http://127.0.0.1:0"
    cfg["sources"][0]["heartbeat_timeout"] = "10m"
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = S.Client(d.query_port, timeout_s=60.0)
    feed = S.Feeder(d, c)
    skus = POSITIONS // LOCS
    t0 = time.monotonic()
    for first in range(0, POSITIONS, BATCH):
        evs = [[2, "S-%d" % (i // LOCS), "east-%d" % (i % LOCS), 0, 5]
               for i in range(first, min(first + BATCH, POSITIONS))]
        feed.publish("wms", evs, wait=first + BATCH >= POSITIONS, timeout_s=120)
    w = H.Http(d)
    w.ok("POST", "/v1/reservations", {"id": "r-1", "lines": [{"sku": "S-1", "region": "east", "qty": 2}]},
         status=201)
    st = d.ctl("status")
    ck.eq(st["positions"], POSITIONS, "positions before the restart")
    h.log("%d positions over %d SKUs loaded in %.1f s", POSITIONS, skus, time.monotonic() - t0)
    w.close()
    feed.close()
    c.close()
    d.stop()

    # 2. restart on the same ports, poll from the first accept
    port = H.http_addr(d)[1]
    d.cfg["service"]["http_listen"] = "http://127.0.0.1:%d" % port
    d.spawn()
    seen = []
    during = {}

    def poll():
        r = get(port, "/readyz")
        if r is None:
            d.check_alive()
            return None
        seen.append((r[0], tuple(r[1].get("failing", []))))
        if r[0] == 503 and "query" not in during:
            during["query"] = get(port, "/v1/availability/S-1/east")
            during["status"] = get(port, "/v1/status")
            # /readyz still 503 after the scrape: it was taken before ready
            during["metrics"] = get_text(port, "/metrics") + (get(port, "/readyz")[0],)
            # atpctl is a process of its own (slow under a sanitizer): the
            # restore may end before it asks, as for the scrape above.
            during["nng"] = (d.ctl_raw("status")[1], get(port, "/readyz")[0])
        return r if r[0] == 200 else None
    t0 = time.monotonic()
    harness.wait_until(poll, 120, 0.01, "/readyz 200 after the restart")
    h.log("ready %.2f s after the HTTP port accepted; /readyz answers: %d x 503 then 200",
          time.monotonic() - t0, sum(1 for s, _ in seen if s == 503))
    not_ready = [f for s, f in seen if s == 503]
    ck.check(len(not_ready) > 0, "/readyz was 503 while the restore ran: %r" % seen[:5])
    ck.check(all(f and set(f) <= {"snapshot", "reservations", "listeners"} for f in not_ready),
             "503 names the missing conditions: %r" % sorted(set(not_ready)))
    ck.check(any("snapshot" in f for f in not_ready), "the snapshot was seen loading: %r"
             % sorted(set(not_ready)))
    if "query" in during:
        qs, qdoc = during["query"]
        ck.eq((qs, harness.error_name(qdoc)), (503, "not_ready"), "a query before ready")
        ss, sdoc = during["status"]
        ck.eq((ss, sdoc.get("ready")), (200, False), "HTTP status before ready")
        ck.eq(sdoc.get("readiness", {}).get("store"), True, "the store was open")
        nst, nafter = during["nng"]
        ck.check(isinstance(nst, dict) and (nst.get("ready") is False or nafter == 200),
                 "nng status before ready (ready true only if /readyz was 200 after it): "
                 "%r, /readyz after: %d" % (nst, nafter))
        ms, mtext, after = during["metrics"]
        ck.check(ms == 200 and ("\natpd_ready 0\n" in mtext or after == 200),
                 "/metrics before ready: %d, atpd_ready 0: %r" % (ms, [
                     x for x in mtext.split("\n") if x.startswith("atpd_ready")]))
    d.wait_ready(120)  # the ready file: written once ready
    st = d.ctl("status")
    ck.eq((st["ready"], st["positions"]), (True, POSITIONS), "status once ready")
    ck.eq(all(st["readiness"][k] for k in ("store", "snapshot", "reservations", "listeners")),
          True, "every condition holds")
    c = S.Client(d.query_port)
    ck.check(c.get("r-1") is not None, "the reservation was restored")
    if "query" in during:
        _, mtext = get_text(port, "/metrics")
        ck.check('atpd_request_errors_total{transport="http",op="atp",code="not_ready"} 1\n'
                 in mtext, "the not_ready query counted under op atp: %r"
                 % [x for x in mtext.split("\n") if "not_ready" in x])

    # 3. sources fresh: its own condition
    s1, doc = get(port, "/readyz?sources=fresh")
    ck.eq((s1, doc.get("failing"), doc.get("sources_fresh")), (503, ["sources_fresh"], False),
          "/readyz?sources=fresh before the source sent")
    ck.eq([s.get("id") for s in doc.get("stale_sources", [])], ["wms"], "stale_sources")
    ck.eq(get(port, "/readyz")[0], 200, "plain /readyz ignores the sources")
    feed = S.Feeder(d, c)
    feed.seq["wms"] = st_seq = d.sources()["wms"]["last_seq"]
    feed.publish("wms", [[2, "S-1", "east-0", 0, 6]])
    harness.wait_until(lambda: get(port, "/readyz?sources=fresh")[0] == 200, 20, 0.05,
                       "/readyz?sources=fresh 200 once the source sent")
    ck.eq(get(port, "/readyz?sources=bogus")[0], 400, "an unknown sources value")
    h.log("source resumed after seq %d", st_seq)
    feed.close()
    c.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_ready")
