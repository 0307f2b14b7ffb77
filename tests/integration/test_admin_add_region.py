#!/usr/bin/python3
"""test_admin_add_region.py - a region added while atpd runs (issue 16,
"Administration at run time": regions; docs/PROTOCOL.md, "Run-time
administration", admin_add_region; docs/CONFIG.md, service.spare_regions):

1. admin_add_region over nng: the region is in admin_list with its
   inbound horizon (one spare place fewer), answers at once (atp, regions,
   the unknown_region message lists it), empty; a location added into it
   (admin_add_location) with a source's authority takes stock there, and
   a location moved into it (admin_move_location) brings its stock; a
   buffer rule for it applies; the change feed publishes its rows. The
   same change id answers replayed, another change under it conflict; a
   region atpd has is conflict, a bad horizon config (the file's message),
   an id that is no id unknown_region, no change_id bad_request.
2. service.spare_regions bounds the additions: the next one is bad_state.
3. Over HTTP: POST /v1/admin/regions (200, 409).
4. kill -9, restart with the same file: the region, its locations and
   stock, its rule, the version and the history are as before, with
   service.spare_regions places again. SIGHUP with the file unchanged keeps
   it; an edited file without it is refused (it would remove a stocked
   location with it); one that lists it and adds one more applies.
5. admin_remove_region: an empty region is removed (no answer, list or
   status has it; unknown_region), one that locations or rules name is
   config (the file's message); added back it takes its own place; after
   kill -9 it stays removed.
6. admin_export passes --check-config; atpctl admin add-region and
   remove-region over nng and HTTP; admin list shows the spare places.

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

E = {"bad_request": 1, "unknown_region": 3, "config": 15, "conflict": 18, "bad_state": 25}
SPARE = 2
DAY = 86400 * 1000


def state(c):
    return c.ok({"op": "admin_list"})


def regions(c):
    return {r["id"]: r["inbound_horizon_ms"] for r in state(c)["regions"]}


def add(c, cid, region, horizon=None):
    body = {"op": "admin_add_region", "change_id": cid, "region": region}
    if horizon is not None:
        body["inbound_horizon"] = horizon
    return c.req(body)


def main(h):
    cfg = H.http_config(h, {"spare_regions": SPARE})
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)

    def send(events):
        pub.send_payload(pub.next_batch("wms", events)[1])
        pub.wait_applied("wms")

    send([[2, "A", "E1", 0, 10], [2, "A", "W1", 0, 4]])
    ck.eq((regions(c), state(c)["spare_regions"]), ({"east": 0, "west": 0}, SPARE),
          "admin_list: the file's regions and the spare places")

    # 1. a region added
    r = add(c, "r1", "apac", "1d")
    ck.eq((r.get("ok"), r.get("version"), r.get("replayed")), (True, 2, False),
          "apac added: version 2 (%r)" % (r,))
    ck.eq((regions(c), state(c)["spare_regions"]),
          ({"east": 0, "west": 0, "apac": DAY}, SPARE - 1), "admin_list lists apac")
    a = c.atp("A", "apac")
    ck.eq((a.get("region"), a.get("supply"), a.get("atp")), ("apac", 0, 0), "atp in apac: empty")
    rg = c.ok({"op": "regions", "sku": "A"})
    ck.eq([x["region"] for x in rg["regions"]], ["east", "west", "apac"], "regions answers apac")
    r = c.req({"op": "atp", "sku": "A", "region": "mars"})
    ck.check("apac" in r["error"]["message"], "unknown_region lists apac: %r" % (r,))
    sub = feed_util.Sub(d, prefixes=(feed_util.prefix("apac"),))
    sub.quiet(0.3)
    ck.eq(c.req({"op": "admin_add_location", "change_id": "l1", "location": "T1",
                 "region": "apac", "type": "store"}).get("version"), 3, "T1 added in apac")
    ck.eq(c.req({"op": "admin_set_authority", "change_id": "l2", "source": "wms",
                 "location": "T1", "buckets": ["on_hand"]}).get("version"), 4, "wms owns T1")
    send([[2, "A", "T1", 0, 6]])
    ck.eq(c.atp("A", "apac")["supply"], 6, "T1's stock in apac")
    got = sub.wait_for(lambda rg_, s, b: s == "A" and b.get("supply") == 6, 5,
                       "apac's row on the change feed")
    ck.check(any(rg_ == "apac" for rg_, _, _, _ in got), "published under apac: %r" % (got,))
    sub.close()
    ck.eq(c.req({"op": "admin_move_location", "change_id": "l3", "location": "W1",
                 "region": "apac"}).get("version"), 5, "W1 moved into apac")
    ck.eq((c.atp("A", "apac")["supply"], c.atp("A", "west")["supply"]), (10, 0),
          "W1's 4 moved with it")
    ck.eq(c.req({"op": "admin_set_buffer", "change_id": "l4", "region": "apac",
                 "units": 3}).get("version"), 6, "a rule for apac")
    ck.eq(c.atp("A", "apac")["atp"], 7, "apac: 10 less 3")
    r = add(c, "r1", "apac", "1d")
    ck.eq((r.get("version"), r.get("replayed")), (2, True), "r1 again: replayed")
    r = add(c, "r1", "emea")
    ck.eq(harness.error_code(r), E["conflict"], "r1 for another region: conflict")
    for cid, rid, hz, code in (("e1", "east", None, "conflict"),
                               ("e2", "emea", "9y", "config"),
                               ("e3", "", None, "unknown_region"),
                               ("e4", "emea", True, "bad_request")):
        r = add(c, cid, rid, hz)
        ck.eq(harness.error_code(r), E[code], "add %r %r: %s (%r)" % (rid, hz, code, r))
    r = c.req({"op": "admin_add_region", "region": "emea"})
    ck.eq(harness.error_code(r), E["bad_request"], "no change_id")
    ck.eq(state(c)["version"], 6, "no version from the refusals")

    # 2. the last place, then none
    ck.eq(add(c, "r2", "emea").get("version"), 7, "emea takes the last place")
    before = state(c)
    r = add(c, "r3", "latam")
    ck.eq(harness.error_code(r), E["bad_state"], "latam: no room (%r)" % (r,))
    ck.check("service.spare_regions" in r["error"]["message"], "the message says why: %r" % (r,))
    ck.eq(state(c), before, "nothing changed")

    # 3. HTTP
    web = H.Http(d)
    st, _, doc = web.call("POST", "/v1/admin/regions", {"change_id": "r2", "region": "emea"})
    ck.eq((st, doc.get("replayed")), (200, True), "POST /v1/admin/regions replayed (%r)" % (doc,))
    st, _, doc = web.call("POST", "/v1/admin/regions", {"change_id": "h1", "region": "east"})
    ck.eq((st, harness.error_code(doc)), (409, E["conflict"]), "east over HTTP: 409")
    web.close()

    # 4. kill -9, SIGHUP
    c.ok({"op": "snapshot"})
    sent = dict(pub.seq)
    pub.close()
    c = A.kill9_keeps_state(ck, d, c, spare_regions=SPARE, spare_locations=256)
    ck.eq((c.atp("A", "apac")["supply"], c.atp("A", "apac")["atp"]), (10, 7),
          "apac after kill -9: T1 and W1, its rule")
    pub = harness.Publisher(d, c)
    pub.seq.update(sent)
    send([[2, "A", "T1", 0, 8]])
    ck.eq(c.atp("A", "apac")["supply"], 12, "a message to T1 applies after the restart")
    log = Log(d)
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("stays in force", "SIGHUP, file unchanged")
    ck.eq(list(regions(c)), ["east", "west", "apac", "emea"], "after SIGHUP")
    d.cfg["buffers"] = [{"sku": "A", "units": 1}]  # an edited file: it wins
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    line = log.wait("reload refused", "a file without the added regions")
    ck.check("location T1 cannot be removed: it still has stock" in line,
             "the file would remove T1 (stocked) with apac: refused: %s" % line)
    d.cfg["regions"] = d.cfg["regions"] + [{"id": "apac", "inbound_horizon": "1d"},
                                           {"id": "emea"}, {"id": "latam"}]
    d.cfg["locations"] = [dict(l, region="apac") if l["id"] == "W1" else l
                          for l in d.cfg["locations"]] + \
        [{"id": "T1", "region": "apac", "type": "store"}]
    d.cfg["sources"][0]["authority"].append({"locations": ["T1"], "buckets": ["on_hand"]})
    d.cfg["buffers"] = [{"region": "apac", "units": 3}]
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("reload applied", "a file that adds latam")
    ck.eq(list(regions(c)), ["east", "west", "apac", "emea", "latam"], "latam added by the file")
    ck.eq(c.atp("A", "apac")["atp"], 9, "apac: 12 less the file's rule 3")

    # 5. removed at run time: emea (empty); apac names locations; latam
    # emptied of its location but a reservation made in it is remembered
    for body in ({"op": "admin_add_location", "change_id": "y1", "location": "T9",
                  "region": "latam"},
                 {"op": "admin_set_authority", "change_id": "y2", "source": "wms",
                  "location": "T9", "buckets": ["on_hand"]}):
        ck.eq(c.req(body).get("ok"), True, "%s" % body["op"])
    send([[2, "A", "T9", 0, 5]])
    ck.eq(c.reserve("rl", [["A", "latam", 2]]).get("granted"), True, "a reservation in latam")
    ck.eq(c.req({"op": "admin_move_location", "change_id": "y3", "location": "T9",
                 "region": "east"}).get("ok"), True, "T9 moved out of latam")
    for rid, what in (("y4", "open"), ("y5", "released, still remembered")):
        if rid == "y5":
            ck.eq(c.req({"op": "release", "id": "rl"}).get("ok"), True, "rl released")
        r = c.req({"op": "admin_remove_region", "change_id": rid, "region": "latam"})
        ck.check(harness.error_code(r) == E["bad_state"] and
                 "1 reservations atpd remembers have lines in it" in r["error"]["message"],
                 "latam with a reservation (%s): bad_state (%r)" % (what, r))
    r = c.req({"op": "admin_remove_region", "change_id": "x1", "region": "emea"})
    ck.eq(r.get("ok"), True, "emea removed (%r)" % (r,))
    ck.eq(list(regions(c)), ["east", "west", "apac", "latam"], "admin_list without emea")
    ck.eq([x["region"] for x in c.ok({"op": "regions", "sku": "A"})["regions"]],
          ["east", "west", "apac", "latam"], "regions answers without emea")
    r = c.req({"op": "atp", "sku": "A", "region": "emea"})
    ck.eq(harness.error_code(r), E["unknown_region"], "emea: unknown_region")
    ck.eq(c.ok({"op": "status"})["regions"], 4, "status counts the regions in service")
    r = c.req({"op": "admin_remove_region", "change_id": "x2", "region": "apac"})
    ck.check(harness.error_code(r) == E["config"] and "apac" in r["error"]["message"] and
             "move or remove the locations and remove the buffer rules that name 'apac' "
             "first" in r["error"]["message"],
             "apac has locations (and a rule): the file's message, and what to do (%r)" % (r,))
    r = c.req({"op": "admin_remove_region", "change_id": "x3", "region": "emea"})
    ck.eq(harness.error_code(r), E["unknown_region"], "emea again: unknown_region")
    spare = state(c)["spare_regions"]
    r = add(c, "x4", "emea", "3h")
    ck.eq((r.get("ok"), state(c)["spare_regions"], regions(c).get("emea")),
          (True, spare, 3 * 3600 * 1000), "emea added back: its own place, the new horizon")
    ck.eq(c.req({"op": "admin_remove_region", "change_id": "x5",
                 "region": "emea"}).get("ok"), True, "and removed again")
    c = A.kill9_keeps_state(ck, d, c, spare_regions=SPARE, spare_locations=256)
    r = c.req({"op": "atp", "sku": "A", "region": "emea"})
    ck.eq(harness.error_code(r), E["unknown_region"], "after kill -9: emea still removed")

    # 6. export and atpctl
    exp = A.export_checked(ck, h, d, c)
    ck.check('"latam"' in exp, "the export has the regions: %s" % exp)
    host, port = H.http_addr(d)
    ctl = A.ctl_at(h, d.query_url)
    rc, out, err = ctl("--json", "admin", "add-region", "t-nng", "oce", "12h")
    ck.eq((rc, (harness.last_json(out) or {}).get("ok")), (0, True),
          "atpctl admin add-region over nng: the last place (%r %r)" % (out, err))
    ck.eq(regions(c).get("oce"), 12 * 3600 * 1000, "oce with its horizon")
    rc, out, err = ctl("admin", "add-region", "t-x")
    ck.eq(rc, 2, "no region: usage")
    ctl = A.ctl_at(h, "http://%s:%d" % (host, port))
    rc, out, err = ctl("admin", "remove-region", "t-rm", "oce")
    ck.eq(rc, 0, "atpctl admin remove-region over HTTP (%r)" % (err,))
    rc, out, err = ctl("admin", "add-region", "t-http", "arctic")
    ck.eq(rc, 0, "over HTTP: the last place (%r)" % (err,))
    rc, out, err = ctl("admin", "add-region", "t-http2", "antarctic")
    ck.check(rc == 1 and "bad_state" in err, "over HTTP, no place left: exit 1 (%r)" % (err,))
    rc, out, err = ctl("admin", "list")
    ck.check(rc == 0 and "arctic" in out and "oce" not in out and
             "spare places for regions: 0" in out,
             "admin list shows the regions and the places: %s" % out)
    pub.close()
    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "admin_add_region")
