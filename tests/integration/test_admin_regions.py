#!/usr/bin/python3
"""test_admin_regions.py - a region's inbound horizon changed at run time
(issue 16, "Administration at run time": regions; docs/PROTOCOL.md,
"Run-time administration", admin_set_region):

1. admin_set_region over nng widens east's horizon from 0 to 2d, then to
   4 days (an integer of ms): the inbound lots whose ETA falls inside count
   in east's supply at once (a model of the formula), the change feed
   publishes (east, A) with the new supply, explain shows the horizon,
   admin_list the regions; narrowing west's to 0 takes its lot out. The
   audit record has the horizons before and after; the same change id
   answers replayed, another change under it conflict.
2. Bad input answers its stable code and changes nothing (version,
   supply): unknown region, a duration the file's checks refuse (bad
   syntax, out of range: the file's message), no horizon, one of the wrong
   type or too long, no change_id.
3. Over HTTP: PATCH /v1/admin/regions/{id} and its errors.
4. SIGHUP with the file unchanged: the admin state's horizons stay; with
   the file's horizon edited: the file's is applied (no longer refused as
   a structure change).
5. kill -9 right after an acknowledged change, restart: the horizon, the
   version and the history survive, and the restored lots count under it.
6. admin_export passes `atpd --check-config`; atpctl admin set-region over
   nng and HTTP, human and --json; admin list shows the regions.

Label: integration, admin, http. Bounded: a few seconds (x4 under
sanitizers).
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import admin_util as A  # noqa: E402
import feed_util  # noqa: E402
import harness  # noqa: E402
import http_util as H  # noqa: E402
from test_ops_reload import Log, write_config  # noqa: E402

E = {"bad_request": 1, "unknown_region": 3, "config": 15, "conflict": 18}
DAY = 86400 * 1000
HOUR = 3600 * 1000


def horizons(c):
    return {r["id"]: r["inbound_horizon_ms"] for r in c.ok({"op": "admin_list"})["regions"]}


def supply(c, region, sku="A"):
    return c.atp(sku, region)["supply"]


def change(c, cid, region, **fields):
    body = {"op": "admin_set_region", "change_id": cid, "region": region}
    body.update(fields)
    return c.req(body)


def main(h):
    cfg = H.http_config(h)
    cfg["regions"][1]["inbound_horizon"] = "1h"
    cfg["sources"][0]["authority"][0]["buckets"].append("inbound")
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)
    now = harness.now_ms()
    # east: 10 on hand, lots of 5 (in 1 day) and 7 (in 3 days); west: a
    # lot of 4 in 30 minutes
    pub.send_payload(pub.next_batch("wms", [
        [2, "A", "E1", 0, 10], [6, "A", "E1", "L1", 5, now + DAY],
        [6, "A", "E1", "L2", 7, now + 3 * DAY], [6, "A", "W1", "L3", 4, now + HOUR // 2]])[1])
    pub.wait_applied("wms")
    ck.eq((supply(c, "east"), supply(c, "west")), (10, 4), "before: east counts no lot")
    ck.eq(horizons(c), {"east": 0, "west": HOUR}, "admin_list: the file's horizons")

    # 1. widen east's horizon: L1 counts at once, the feed publishes it
    sub = feed_util.Sub(d, prefixes=(feed_util.prefix("east", "A"),))
    r = change(c, "g1", "east", inbound_horizon="2d")
    ck.eq((r.get("ok"), r.get("version")), (True, 2), "east 2d: version 2 (%r)" % (r,))
    ck.eq(supply(c, "east"), 15, "east after 2d: 10 + L1")
    seen = None
    for _ in range(50):
        m = sub.get(5 * harness.TIME_FACTOR)
        if m is None:
            break
        if m[2].get("supply") == 15:
            seen = m
            break
    ck.check(seen is not None, "the change feed published (east, A) with supply 15")
    sub.close()
    ex = c.ok({"op": "explain", "sku": "A"})
    ck.eq({x["region"]: x["inbound_horizon_ms"] for x in ex["regions"]},
          {"east": 2 * DAY, "west": HOUR}, "explain shows the horizons")
    r = change(c, "g2", "east", inbound_horizon=4 * DAY)
    ck.eq(r.get("version"), 3, "east 4 days in ms: version 3 (%r)" % (r,))
    ck.eq(supply(c, "east"), 22, "east after 4d: 10 + L1 + L2")
    r = change(c, "g3", "west", inbound_horizon="0")
    ck.eq(r.get("version"), 4, "west 0: version 4")
    ck.eq(supply(c, "west"), 0, "west after 0: its lot no longer counts")
    hist = c.ok({"op": "admin_history", "after": 1})["changes"]
    ck.eq([(x["op"], x["change_id"], x["before"], x["after"]) for x in hist],
          [("set_region", "g1", "inbound_horizon 0ms", "inbound_horizon %dms" % (2 * DAY)),
           ("set_region", "g2", "inbound_horizon %dms" % (2 * DAY),
            "inbound_horizon %dms" % (4 * DAY)),
           ("set_region", "g3", "inbound_horizon %dms" % HOUR, "inbound_horizon 0ms")],
          "the audit records")
    r = change(c, "g1", "east", inbound_horizon="2d")
    ck.eq((r.get("version"), r.get("replayed")), (2, True), "g1 again: replayed")
    r = change(c, "g1", "east", inbound_horizon="3d")
    ck.eq(harness.error_code(r), E["conflict"], "g1 with another horizon: conflict")

    # 2. bad input
    before = (c.ok({"op": "admin_list"}), supply(c, "east"), supply(c, "west"))
    bad = [
        ({"region": "mars", "inbound_horizon": "1d"}, "unknown_region", "unknown region"),
        ({"region": "east", "inbound_horizon": "2x"}, "config", "expected a duration"),
        ({"region": "east", "inbound_horizon": "400d"}, "config", "out of range"),
        ({"region": "east", "inbound_horizon": -5}, "config", "inbound_horizon"),
        ({"region": "east"}, "bad_request", "inbound_horizon"),
        ({"region": "east", "inbound_horizon": True}, "bad_request", "inbound_horizon"),
        ({"region": "east", "inbound_horizon": "1" * 40}, "bad_request", "at most 32"),
        ({"inbound_horizon": "1d"}, "bad_request", "region"),
    ]
    for i, (f, code, text) in enumerate(bad):
        r = change(c, "bad%d" % i, **f) if "region" in f else c.req(
            dict({"op": "admin_set_region", "change_id": "bad%d" % i}, **f))
        ck.eq(harness.error_code(r), E[code], "%r: %s (%r)" % (f, code, r))
        ck.check(text in str(r), "%r: the message says %r: %r" % (f, text, r))
    r = c.req({"op": "admin_set_region", "region": "east", "inbound_horizon": "1d"})
    ck.eq(harness.error_code(r), E["bad_request"], "no change_id")
    ck.eq((c.ok({"op": "admin_list"}), supply(c, "east"), supply(c, "west")), before,
          "nothing changed by bad input")

    # 3. HTTP
    web = H.Http(d)
    st, _, doc = web.call("PATCH", "/v1/admin/regions/west",
                          {"change_id": "h1", "inbound_horizon": "1h"})
    ck.eq((st, doc.get("version")), (200, 5), "PATCH /v1/admin/regions/west: %r" % (doc,))
    ck.eq(supply(c, "west"), 4, "west counts its lot again")
    for body, path, status, code in (
            ({"change_id": "h2", "inbound_horizon": "1h"}, "mars", 422, "unknown_region"),
            ({"change_id": "h3", "inbound_horizon": "soon"}, "west", 422, "config"),
            ({"change_id": "h1", "inbound_horizon": "2h"}, "west", 409, "conflict"),
            ({"change_id": "h4"}, "west", 400, "bad_request")):
        st, _, doc = web.call("PATCH", "/v1/admin/regions/" + path, body)
        ck.eq((st, harness.error_code(doc)), (status, E[code]), "PATCH %s %r: %r" % (path, body, doc))
    web.close()

    # 4. SIGHUP: unchanged file -> the state stays; the file's horizon edited -> applied
    log = Log(d)
    pub.close()
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("admin state (version 5) stays", "SIGHUP, file unchanged")
    ck.eq(supply(c, "east"), 22, "after SIGHUP: east keeps 4d")
    d.cfg["regions"][0]["inbound_horizon"] = "1d"
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("are the admin state's version 6", "SIGHUP, east's horizon edited")
    line = log.wait("reload applied", "the reload's summary")
    ck.check("1 inbound horizons changed" in line, "the summary counts it: %s" % line.strip())
    ck.eq((horizons(c)["east"], supply(c, "east")), (DAY, 15),
          "SIGHUP applied the file's 1d: L1 counts, L2 not")

    # 5. kill -9 right after an acknowledged change
    r = change(c, "g7", "east", inbound_horizon="4d")
    ck.eq(r.get("version"), 7, "east 4d: version 7")
    ck.check(c.snapshot().get("ok") is True, "positions and lots stored")
    c = A.kill9_keeps_state(ck, d, c)
    ck.eq((supply(c, "east"), supply(c, "west")), (22, 4),
          "after kill -9: the restored lots count under the stored horizons")
    r = change(c, "g7", "east", inbound_horizon="4d")
    ck.eq((r.get("version"), r.get("replayed")), (7, True), "g7 replayed after the restart")

    # 6. export and atpctl
    exp = A.export_checked(ck, h, d, c)
    ck.check("inbound_horizon: %dms" % (4 * DAY) in exp, "the export has east's 4d: %s" % exp)
    host, port = H.http_addr(d)
    for ep, first in ((d.query_url, 8), ("http://%s:%d" % (host, port), 9)):
        ctl = A.ctl_at(h, ep)
        rc, out, err = ctl("--json", "admin", "set-region", "t%d" % first, "west",
                           "%dh" % first)
        ck.eq((rc, (harness.last_json(out) or {}).get("version")), (0, first),
              "%s: atpctl admin set-region --json (%s)" % (ep, err))
        rc, out, err = ctl("admin", "set-region", "t%d" % first, "west", "%dh" % first)
        ck.check(rc == 0 and "replayed" in out, "%s: again, human: %r %r" % (ep, out, err))
        rc, out, err = ctl("admin", "list")
        ck.check(rc == 0 and "INBOUND_HORIZON_MS" in out and str(first * HOUR) in out,
                 "%s: admin list shows the horizons: %r" % (ep, out))
        rc, out, err = ctl("admin", "set-region", "v%d" % first, "mars", "1h")
        ck.check(rc == 1 and "unknown_region" in err, "%s: refused: exit 1: %r" % (ep, err))
        rc, out, err = ctl("admin", "set-region", "v%d" % first, "west")
        ck.eq(rc, 2, "%s: no horizon: usage" % ep)

    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "admin_regions")
