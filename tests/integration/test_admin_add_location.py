#!/usr/bin/python3
"""test_admin_add_location.py - locations added and source authority changed
while atpd runs (issue 16, "Administration at run time": locations, source
authority; docs/PROTOCOL.md, "Run-time administration", admin_add_location
and admin_set_authority; docs/CONFIG.md, service.spare_locations):

1. admin_add_location over nng: the new store is in admin_list (one spare
   place fewer), in its region's pickup answer, in the audit record; the
   same change id answers replayed, another change under it conflict; an
   id atpd has is conflict, an unknown region unknown_region, a type the
   file refuses config (the file's message), no change_id bad_request;
   nothing of a refusal changes the version.
2. Until a source has authority there, its messages naming the store are
   rejected (unauthorized) and change nothing. admin_set_authority gives
   wms on_hand there: the next message applies, the region's supply and
   ATP grow by it, pickup answers it, a reservation pinned to the store
   is granted up to the store's stock and never beyond.
3. Authority is validated like the file: a bucket another source owns is
   config (the file's message, naming both); unknown source and unknown
   location have their codes; `[]` takes the store from wms, after which
   erp may take it and wms's messages are unauthorized again.
4. A location removed at run time can be added back (its place is kept),
   into another region.
5. Over HTTP: POST /v1/admin/locations and PUT
   /v1/admin/sources/{source}/authority/{location} (200), 409 and 422.
6. service.spare_locations bounds the additions: the next one is
   bad_state with the documented message, nothing changed.
7. kill -9, restart with the same file: the added stores, their authority,
   their stock, the pinned reservation, the version and the history are
   as before, with service.spare_locations places again; a message to an
   added store still applies. SIGHUP with the file unchanged keeps them;
   one that adds more locations than there are places is refused whole
   and takes none. Leaving out an added location's value and giving its
   default are one change (replayed).
8. admin_export (with the sources' authority) passes --check-config;
   atpctl admin add-location / set-authority over nng and HTTP; admin list
   shows the sources and the spare places.

Label: integration, admin, pickup, http. Bounded: a few seconds (x4 under
sanitizers).
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import admin_util as A  # noqa: E402
import harness  # noqa: E402
import http_util as H  # noqa: E402
from test_ops_reload import Log, write_config  # noqa: E402

E = {"bad_request": 1, "unknown_region": 3, "unknown_location": 5,
     "unknown_source": 13, "config": 15, "conflict": 18, "bad_state": 25}
SPARE = 4


def state(c):
    return c.ok({"op": "admin_list"})


def locs(c):
    return {l["id"]: (l["region"], l["type"], l["pickup"], l["pickup_buffer"])
            for l in state(c)["locations"]}


def authority(c):
    return {s["id"]: {a["location"]: a["buckets"] for a in s["authority"]}
            for s in state(c)["sources"]}


def pickup(c, region="east"):
    r = c.ok({"op": "pickup", "sku": "A", "region": region})
    return {l["location"]: l["pickup_atp"] for l in r["locations"]}


def add(c, cid, location, region, **kw):
    body = {"op": "admin_add_location", "change_id": cid, "location": location,
            "region": region}
    body.update(kw)
    return c.req(body)


def grant(c, cid, source, location, buckets):
    return c.req({"op": "admin_set_authority", "change_id": cid, "source": source,
                  "location": location, "buckets": buckets})


def counter(c, source, name):
    return (c.sources().get(source) or {}).get(name, 0)


def main(h):
    cfg = H.http_config(h, {"spare_locations": SPARE})
    cfg["sources"].append(harness.source_entry("erp", [(["W1"], ["inbound"])]))
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)

    def send(source, events):
        pub.send_payload(pub.next_batch(source, events)[1])
        pub.wait_applied(source)

    send("wms", [[2, "A", "E1", 0, 10]])
    ck.eq(state(c)["spare_locations"], SPARE, "admin_list: the spare places")
    ck.eq(authority(c), {"wms": {"E1": ["on_hand", "allocated", "held"],
                                 "W1": ["on_hand", "allocated", "held"]},
                         "erp": {"W1": ["inbound"]}}, "admin_list: the file's authority")

    # 1. a store added
    r = add(c, "a1", "S1", "east", type="store", pickup=True, pickup_buffer=1)
    ck.eq((r.get("ok"), r.get("version"), r.get("replayed")), (True, 2, False),
          "S1 added: version 2 (%r)" % (r,))
    ck.eq(locs(c).get("S1"), ("east", "store", True, 1), "admin_list lists S1")
    ck.eq(state(c)["spare_locations"], SPARE - 1, "one spare place fewer")
    ck.eq(pickup(c).get("S1"), 0, "pickup lists S1 (no stock yet)")
    h_ = c.ok({"op": "admin_history", "after": 1})["changes"]
    ck.eq([(x["op"], x["change_id"], x["before"], x["after"]) for x in h_],
          [("add_location", "a1", "",
            'region east, type "store", pickup true, pickup_buffer 1')],
          "the audit record")
    r = add(c, "a1", "S1", "east", type="store", pickup=True, pickup_buffer=1)
    ck.eq((r.get("version"), r.get("replayed")), (2, True), "a1 again: replayed")
    r = add(c, "a1", "S9", "east")
    ck.eq(harness.error_code(r), E["conflict"], "a1 for another location: conflict")
    for cid, lid, reg, kw, code in (
            ("b1", "E1", "east", {}, "conflict"),
            ("b2", "S9", "mars", {}, "unknown_region"),
            ("b3", "S9", "east", {"type": ""}, "config"),
            ("b4", "S9", "east", {"pickup": "yes"}, "bad_request"),
            ("b5", "x" * 65, "east", {}, "unknown_location")):
        r = add(c, cid, lid, reg, **kw)
        ck.eq(harness.error_code(r), E[code], "add %s %s %r: %s (%r)" % (lid, reg, kw, code, r))
    ck.check("unknown region 'mars'" in str(add(c, "b2", "S9", "mars")),
             "the unknown region is named")
    r = c.req({"op": "admin_add_location", "location": "S9", "region": "east"})
    ck.eq(harness.error_code(r), E["bad_request"], "no change_id")
    ck.eq(state(c)["version"], 2, "no version from the refusals")
    ck.eq(state(c)["spare_locations"], SPARE - 1, "nor a spare place")

    # 2. no authority yet: rejected; then granted
    n0 = counter(c, "wms", "unauthorized")
    send("wms", [[2, "A", "S1", 0, 6]])
    ck.eq(counter(c, "wms", "unauthorized"), n0 + 1, "S1 without authority: unauthorized")
    ck.eq(c.atp("A", "east")["supply"], 10, "and it changed nothing")
    r = grant(c, "g1", "wms", "S1", ["on_hand", "allocated"])
    ck.eq((r.get("ok"), r.get("version")), (True, 3), "wms takes S1 (%r)" % (r,))
    ck.eq(authority(c)["wms"].get("S1"), ["on_hand", "allocated"], "admin_list: wms at S1")
    h_ = c.ok({"op": "admin_history", "after": 2})["changes"]
    ck.eq([(x["op"], x["what"], x["before"], x["after"]) for x in h_],
          [("set_authority",
            'set_authority source="wms" location="S1" buckets=[on_hand, allocated]',
            "buckets []", "buckets [on_hand, allocated]")], "the audit record")
    send("wms", [[2, "A", "S1", 0, 6]])
    ck.eq(c.atp("A", "east")["supply"], 16, "S1's 6 join east's supply")
    ck.eq(pickup(c).get("S1"), 5, "pickup: S1 has 6 less its buffer 1")
    r = c.req({"op": "reserve", "id": "p1", "ttl_ms": 600000,
               "lines": [["A", "east", 5, "S1"]]})
    ck.eq(r.get("granted"), True, "a line pinned to S1 for its 5 (%r)" % (r,))
    r = c.req({"op": "reserve", "id": "p2", "ttl_ms": 600000,
               "lines": [["A", "east", 1, "S1"]]})
    ck.eq(r.get("granted"), False, "S1 has no 6th unit for pickup (%r)" % (r,))
    ck.eq(c.atp("A", "east")["atp"], 11, "east: 16 less the 5 held")

    # 3. authority checked like the file
    r = grant(c, "g2", "erp", "S1", ["on_hand"])
    ck.eq(harness.error_code(r), E["config"], "erp claiming wms's on_hand: config")
    ck.check("wms" in str(r) and "erp" in str(r), "the file's message names both: %r" % (r,))
    for cid, src, lid, b, code in (("g3", "nobody", "S1", ["held"], "unknown_source"),
                                   ("g4", "erp", "S7", ["held"], "unknown_location"),
                                   ("g5", "erp", "S1", ["sold"], "bad_request"),
                                   ("g6", "erp", "S1", ["held", "held"], "bad_request")):
        r = grant(c, cid, src, lid, b)
        ck.eq(harness.error_code(r), E[code], "grant %s %s %r: %s (%r)" % (src, lid, b, code, r))
    r = grant(c, "g7", "erp", "S1", ["held"])
    ck.eq(r.get("version"), 4, "erp takes S1's held (%r)" % (r,))
    send("erp", [[2, "A", "S1", 2, 1]])
    ck.eq(c.atp("A", "east")["supply"], 15, "erp's hold at S1 counts")
    ck.eq(grant(c, "g8", "wms", "S1", []).get("version"), 5, "[]: wms leaves S1")
    n0 = counter(c, "wms", "unauthorized")
    send("wms", [[2, "A", "S1", 0, 9]])
    ck.eq(counter(c, "wms", "unauthorized"), n0 + 1, "wms at S1 again: unauthorized")
    ck.eq(c.atp("A", "east")["supply"], 15, "and it changed nothing")
    ck.eq(grant(c, "g9", "wms", "S1", ["on_hand", "allocated"]).get("version"), 6,
          "wms takes S1 back")

    # 4. removed, then added back into another region
    ck.eq(add(c, "a2", "S2", "east").get("version"), 7, "S2 added")
    ck.eq(c.req({"op": "admin_remove_location", "change_id": "r2",
                 "location": "S2"}).get("version"), 8, "S2 removed (no stock)")
    r = add(c, "a3", "S2", "west", type="store")
    ck.eq(r.get("version"), 9, "S2 added back, into west (%r)" % (r,))
    ck.eq(locs(c).get("S2"), ("west", "store", False, 0), "S2 in west")
    ck.eq(state(c)["spare_locations"], SPARE - 2, "S2 kept its place")

    # 5. HTTP
    web = H.Http(d)
    st, _, doc = web.call("POST", "/v1/admin/locations",
                          {"change_id": "h1", "location": "S3", "region": "west",
                           "pickup": True})
    ck.eq((st, doc.get("version")), (200, 10), "POST /v1/admin/locations (%r)" % (doc,))
    st, _, doc = web.call("PUT", "/v1/admin/sources/wms/authority/S3",
                          {"change_id": "h2", "buckets": ["on_hand"]})
    ck.eq((st, doc.get("version")), (200, 11), "PUT .../authority/S3 (%r)" % (doc,))
    st, _, doc = web.call("POST", "/v1/admin/locations",
                          {"change_id": "h3", "location": "S3", "region": "west"})
    ck.eq((st, harness.error_code(doc)), (409, E["conflict"]), "S3 again: 409")
    st, _, doc = web.call("PUT", "/v1/admin/sources/nobody/authority/S3",
                          {"change_id": "h4", "buckets": ["on_hand"]})
    ck.eq((st, harness.error_code(doc)), (422, E["unknown_source"]), "unknown source: 422")
    web.close()
    send("wms", [[2, "A", "S3", 0, 4]])
    ck.eq(c.atp("A", "west")["supply"], 4, "S3's stock in west")

    # 6. the spare places run out
    ck.eq(add(c, "a4", "S4", "east").get("version"), 12, "S4 takes the last place")
    ck.eq(state(c)["spare_locations"], 0, "no spare place left")
    before = state(c)
    r = add(c, "a5", "S5", "east")
    ck.eq(harness.error_code(r), E["bad_state"], "S5: no room (%r)" % (r,))
    ck.check("service.spare_locations" in r["error"]["message"] and "restart" in
             r["error"]["message"], "the message says why and what to do: %r" % (r,))
    ck.eq(state(c), before, "nothing changed")

    # 7. kill -9 and SIGHUP
    # positions are stored by snapshot (a source replays what came after
    # one; this test's publisher does not): take one, then kill
    c.ok({"op": "snapshot"})
    sent = dict(pub.seq)
    pub.close()
    # a start makes service.spare_locations places again: the added
    # stores are in the stored state, named from the start
    c = A.kill9_keeps_state(ck, d, c, spare_locations=SPARE)
    ck.eq((c.atp("A", "east")["supply"], c.atp("A", "east")["reserved"]), (15, 5),
          "east after kill -9: S1's stock and the pinned line")
    ck.eq(c.ok({"op": "reservation", "id": "p1"})["reservation"]["lines"][0].get("location"),
          "S1",
          "p1 is still pinned to S1")
    ck.eq(c.atp("A", "west")["supply"], 4, "west after kill -9: S3's stock")
    pub = harness.Publisher(d, c)
    pub.seq.update(sent)
    send("wms", [[2, "A", "S3", 0, 7]])
    ck.eq(c.atp("A", "west")["supply"], 7, "a message to S3 applies after the restart")
    log = Log(d)
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("stays in force", "SIGHUP, file unchanged")
    ck.eq(sorted(locs(c)), ["E1", "S1", "S2", "S3", "S4", "W1"], "after SIGHUP: all there")
    send("wms", [[2, "A", "S3", 0, 8]])
    ck.eq(c.atp("A", "west")["supply"], 8, "and wms still owns S3")
    # a file that adds more locations than there are places: refused as a
    # whole, no place taken (all or none)
    saved = list(d.cfg["locations"])
    named = {l["id"] for l in saved}
    d.cfg["locations"] = saved + [{"id": lid, "region": v[0]} for lid, v in sorted(locs(c).items())
                                  if lid not in named] + \
        [{"id": "N%d" % i, "region": "east"} for i in range(SPARE + 1)]
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    line = log.wait("reload refused", "SIGHUP adding %d locations" % (SPARE + 1))
    ck.check("no room for location 'N0' and the others: %d location(s) to add, %d of the %d"
             % (SPARE + 1, SPARE, SPARE) in line, "the refusal says why: %s" % line)
    ck.eq(state(c)["spare_locations"], SPARE, "the refused reload took no place")
    ck.check(not any(lid.startswith("N") for lid in locs(c)), "nor added any location")
    d.cfg["locations"] = saved
    write_config(d, configured)
    # leaving out a value of a new location and giving its default are
    # one change (one canonical text): replayed, not conflict
    r1 = add(c, "dflt", "S6", "east")
    r2 = add(c, "dflt", "S6", "east", pickup=False, pickup_buffer=0)
    ck.eq((r2.get("version"), r2.get("replayed")), (r1.get("version"), True),
          "defaults given = defaults left out (%r, %r)" % (r1, r2))
    ck.eq(c.req({"op": "admin_remove_location", "change_id": "dflt-rm",
                 "location": "S6"}).get("ok"), True, "S6 removed again")

    # 8. export and atpctl
    exp = A.export_checked(ck, h, d, c)
    ck.check('"S3"' in exp and "sources:" in exp and "authority:" in exp,
             "the export has the added stores and the authority: %s" % exp)
    host, port = H.http_addr(d)
    for ep, n in ((d.query_url, 1), ("http://%s:%d" % (host, port), 2)):
        ctl = A.ctl_at(h, ep)
        rc, out, err = ctl("admin", "remove-location", "t%d" % n, "S4")
        if n == 1:
            ck.eq(rc, 0, "%s: S4 removed (%s)" % (ep, err))
        rc, out, err = ctl("--json", "admin", "add-location", "c%d" % n, "S4", "east",
                           "type=store", "pickup=true")
        ck.eq((rc, (harness.last_json(out) or {}).get("ok")), (0, True),
              "%s: atpctl admin add-location (%r %r)" % (ep, out, err))
        rc, out, err = ctl("admin", "set-authority", "d%d" % n, "erp", "S4",
                           "on_hand,held" if n == 1 else "none")
        ck.eq(rc, 0, "%s: atpctl admin set-authority (%r %r)" % (ep, out, err))
        rc, out, err = ctl("admin", "set-authority", "e%d" % n, "erp", "S4", "sold")
        ck.check(rc == 2 and "'sold' is no bucket" in err, "%s: a bad bucket: usage, exit 2 (%r)"
                 % (ep, err))
        rc, out, err = ctl("admin", "set-authority", "e%d" % n, "erp", "S4", "held,held")
        ck.check(rc == 1 and "bad_request" in err, "%s: a repeated bucket: atpd's bad_request, "
                 "exit 1 (%r)" % (ep, err))
        rc, out, err = ctl("admin", "add-location", "f%d" % n, "S4")
        ck.eq(rc, 2, "%s: add-location without a region: usage" % ep)
        rc, out, err = ctl("admin", "list")
        ck.check(rc == 0 and "sources (2):" in out and "spare places for locations: %d" % (SPARE - 1) in out,
                 "%s: admin list shows the sources and spare places: %s" % (ep, out))
        if n == 1:
            ck.check("S4" in out and "on_hand, held" in out, "erp at S4: %s" % out)
    ck.eq(authority(c)["erp"], {"W1": ["inbound"], "S1": ["held"]}, "erp after atpctl")

    pub.close()
    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "admin_add_location")
