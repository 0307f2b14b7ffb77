#!/usr/bin/python3
"""test_pickup_pinned.py - reservations pinned to a pickup location (issue
16, "Store pickup"; docs/PROTOCOL.md, "Pinned lines"): a reserve line
[sku, region, qty, location] holds stock in its region (as any line) and
at its store, so that no second customer is promised the unit a first one
is to collect, and the region is never oversold either.

1. A pinned grant: the reservation's line names its location; `pickup`
   shows the location's `reserved` and its pickup ATP net - reserved -
   buffer (capped by the region's ATP); the region's reserved counts it.
   A second pin beyond the store's shelf is refused with `available` the
   pickup ATP; an unpinned reserve takes the rest of the region, and a
   pickup store of the region then has a pickup ATP of 0 (the region's
   cap). A location that takes no pickup orders grants no pin.
2. Bad input, nothing stored: an unknown location (unknown_location, with
   the line), a location of another region (unknown_location, line), one
   (sku, region) at two places (bad_request, line), a location that is no
   string, a line of 5 members (bad_request).
3. Idempotency: the same id and content answers replayed; the same lines
   at another location (or unpinned) is conflict.
4. Release, expiry, commit + a WMS allocation at the store naming the
   order (consumed): each gives the store's pin back.
5. kill -9 and restart: an open pin is restored (record, pickup reserved).
6. Races on the last unit: 24 clients pin the store's one unit at once:
   exactly one grant. Then a region whose only 3 units are at one store,
   pinned and unpinned clients at once: at most 3 granted in the region,
   the store's pins never above its shelf.
7. Administration: a location with open pins can be neither removed nor
   moved to another region (bad_state, the message says why); released,
   it moves, and a pin naming its old region is unknown_location.
8. HTTP: POST /v1/reservations with a line's "location", the reply and
   GET /v1/pickup/{region}/{sku} showing it.

Label: integration, pickup, http. Bounded: a few seconds (x4 under
sanitizers), every wait with a deadline.
"""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402

E = {"bad_request": 1, "unknown_location": 5, "conflict": 18, "bad_state": 25}
ON_HAND, ALLOCATED = 0, 1
# id: (region, type, pickup, pickup_buffer)
LOCATIONS = {
    "E-S1": ("east", "store", True, 1),
    "E-S2": ("east", "store", True, 0),
    "E-DC": ("east", "dc", False, 0),
    "E-S3": ("east", "store", True, 0),
    "W-S1": ("west", "store", True, 0),
    "N-S1": ("north", "store", True, 0),
}
RACERS = 24


def pinned_config(h):
    cfg = H.http_config(h, min_ttl="1s")
    cfg["regions"].append({"id": "north"})
    U.set_locations(cfg, LOCATIONS)
    cfg["sources"] = [harness.source_entry(
        "wms", [(list(LOCATIONS), ["on_hand", "allocated", "held"])])]
    return cfg


def at(c, sku, region, lid):
    """The location's entry of a `pickup` answer."""
    for x in c.ok({"op": "pickup", "sku": sku, "region": region})["locations"]:
        if x["location"] == lid:
            return x
    raise harness.TestFailure("pickup %s@%s lists no %s" % (sku, region, lid))


def store(c, sku, region, lid):
    x = at(c, sku, region, lid)
    return (x["net"], x["reserved"], x["buffer"], x["pickup_atp"])


def region_state(c, sku, region):
    a = c.atp(sku, region)
    return (a["supply"], a["reserved"], a["atp"])


def line_of(res):
    return {k: v for k, v in res["reservation"]["lines"][0].items()
            if k in ("sku", "region", "location", "qty")}


def main(h):
    d = h.start_atpd(pinned_config(h))
    ck = harness.Checks(h)
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)

    def send(events):
        feed.publish("wms", events)

    send([[2, "P", "E-S1", ON_HAND, 3], [2, "P", "E-S2", ON_HAND, 1],
          [2, "P", "E-DC", ON_HAND, 10], [2, "P", "W-S1", ON_HAND, 4],
          [2, "Q", "N-S1", ON_HAND, 3], [2, "R", "E-S3", ON_HAND, 2]])

    # 1. a pinned grant
    ck.eq(store(c, "P", "east", "E-S1"), (3, 0, 1, 2), "E-S1 before: net 3, buffer 1")
    r = c.reserve("p1", [["P", "east", 2, "E-S1"]])
    ck.eq((r.get("granted"), line_of(r) if r.get("granted") else r),
          (True, {"sku": "P", "region": "east", "location": "E-S1", "qty": 2}),
          "a pin of 2 at E-S1: granted, the line names its location")
    ck.eq(store(c, "P", "east", "E-S1"), (3, 2, 1, 0), "E-S1: reserved 2, pickup ATP 0")
    ck.eq(region_state(c, "P", "east"), (14, 2, 12), "east counts the pin in reserved")
    r = c.reserve("p2", [["P", "east", 1, "E-S1"]])
    ck.eq((r.get("granted"), r.get("lines")),
          (False, [{"sku": "P", "region": "east", "location": "E-S1", "qty": 1,
                    "available": 0, "ok": False}]),
          "a pin beyond E-S1's shelf: refused, available its pickup ATP")
    r = c.reserve("p3", [["P", "east", 1, "E-DC"]])
    ck.eq((r.get("granted"), r.get("lines", [{}])[0].get("available")), (False, 0),
          "E-DC takes no pickup orders: no pin there")
    r = c.reserve("u1", [["P", "east", 12]])
    ck.eq(r.get("granted"), True, "an unpinned reserve takes the rest of east")
    ck.eq(store(c, "P", "east", "E-S2"), (1, 0, 0, 0), "E-S2: capped by east's ATP 0")
    r = c.reserve("p4", [["P", "east", 1, "E-S2"]])
    ck.eq(r.get("granted"), False, "no pin at E-S2 while east has nothing left")
    c.release("u1")
    ck.eq(store(c, "P", "east", "E-S2"), (1, 0, 0, 1), "E-S2 after u1's release")

    # 2. bad input, nothing stored
    before = (region_state(c, "P", "east"), store(c, "P", "east", "E-S1"))
    for lines, code, line, what in (
            ([["P", "east", 1], ["P", "east", 1, "X-9"]], "unknown_location", 1,
             "an unknown location"),
            ([["P", "east", 1, "W-S1"]], "unknown_location", 0, "a location of west"),
            ([["P", "east", 1, "E-S2"], ["P", "east", 1]], "bad_request", 1,
             "one (sku, region) pinned and not"),
            ([["P", "east", 1, "E-S2"], ["P", "east", 1, "E-S1"]], "bad_request", 1,
             "one (sku, region) at two locations"),
            ([["P", "east", 1, 7]], "bad_request", 0, "a location that is no string"),
            ([["P", "east", 1, "E-S2", 1]], "bad_request", 0, "a line of 5")):
        r = c.reserve("bad", lines)
        ck.eq((harness.error_code(r), (r.get("error") or {}).get("line")), (E[code], line),
              "%s: %s at line %d (%r)" % (what, code, line, r))
    r = c.reserve("bad", [["P", "east", 1, "W-S1"]])
    ck.check("location 'W-S1' is in region 'west', not in the line's region 'east'"
             in str(r), "the message says where W-S1 is: %r" % (r,))
    ck.eq(c.get("bad"), None, "nothing stored for the bad requests")
    ck.eq((region_state(c, "P", "east"), store(c, "P", "east", "E-S1")), before,
          "and nothing changed")

    # 3. idempotency
    r = c.reserve("p1", [["P", "east", 2, "E-S1"]])
    ck.eq((r.get("granted"), r.get("replayed")), (True, True), "p1 again: replayed")
    for lines, what in (([["P", "east", 2, "E-S2"]], "at another location"),
                        ([["P", "east", 2]], "unpinned")):
        r = c.reserve("p1", lines)
        ck.eq(harness.error_code(r), E["conflict"], "p1 %s: conflict" % what)

    # 4. release, expiry, consumption give the pin back
    c.release("p1")
    ck.eq(store(c, "P", "east", "E-S1"), (3, 0, 1, 2), "p1 released: E-S1 free again")
    r = c.reserve("p5", [["P", "east", 2, "E-S1"]], ttl_ms=1000)
    ck.eq(r.get("granted"), True, "p5: a 1 s pin")
    harness.wait_until(lambda: store(c, "P", "east", "E-S1")[1] == 0, 15 * harness.TIME_FACTOR,
                       what="p5's expiry")
    ck.eq(c.get("p5")["state"], "expired", "p5 expired")
    r = c.reserve("p6", [["P", "east", 2, "E-S1"]])
    ck.eq(c.commit("p6", "SO-6").get("ok"), True, "p6 committed as SO-6")
    send([[1, "P", "E-S1", ALLOCATED, 2, "SO-6"]])
    ck.eq(c.get("p6")["state"], "consumed", "the store's allocation consumed p6")
    ck.eq(store(c, "P", "east", "E-S1"), (1, 0, 1, 0),
          "E-S1: 2 allocated, no pin left (not counted twice)")
    send([[2, "P", "E-S1", ALLOCATED, 0]])

    # 5. kill -9 keeps an open pin
    ck.eq(c.reserve("p7", [["P", "east", 1, "E-S1"], ["P", "west", 2, "W-S1"]])
          .get("granted"), True, "p7: pins in two regions")
    want = (c.get("p7"), store(c, "P", "east", "E-S1"), store(c, "P", "west", "W-S1"))
    d.kill9()
    d.start()
    c.close()
    c = U.Client(d.query_port, d=d)
    feed.client = c
    feed.after_restart()
    got = (c.get("p7"), store(c, "P", "east", "E-S1"), store(c, "P", "west", "W-S1"))
    ck.eq(got, want, "after kill -9: p7 and both stores' pins as before")
    x = c.ok({"op": "explain", "sku": "P"})
    ck.eq(sorted((r["id"], r["region"], r.get("location")) for r in x["reservations"]),
          [("p7", "east", "E-S1"), ("p7", "west", "W-S1")],
          "explain lists p7's lines with their locations")
    c.release("p7")

    # 6. races on the last unit
    def race(name, lines_of, n):
        barrier = threading.Barrier(n)
        out = [None] * n

        def one(i):
            cl = U.Client(d.query_port, d=d)
            try:
                barrier.wait(timeout=30 * harness.TIME_FACTOR)
                out[i] = (lines_of(i), cl.reserve("%s-%d" % (name, i), lines_of(i)))
            finally:
                cl.close()
        ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60 * harness.TIME_FACTOR)
        ck.check(all(o is not None for o in out), "every racer answered")
        return [o for o in out if o is not None]

    out = race("last", lambda i: [["P", "east", 1, "E-S2"]], RACERS)
    granted = [r for _, r in out if r.get("granted") is True]
    ck.eq(len(granted), 1, "%d clients pin E-S2's last unit: one grant" % RACERS)
    ck.eq(store(c, "P", "east", "E-S2"), (1, 1, 0, 0), "E-S2: 1 reserved, 0 left")
    # north has 3 units of Q, all at N-S1: pinned and unpinned at once
    out = race("north", lambda i: [["Q", "north", 1 + i % 2] + (["N-S1"] if i % 3 else [])], RACERS)
    granted = [(lines, r) for lines, r in out if r.get("granted") is True]
    units = sum(lines[0][2] for lines, _ in granted)
    pinned = sum(lines[0][2] for lines, _ in granted if len(lines[0]) == 4)
    ck.check(units <= 3, "north: %d units granted of 3" % units)
    ck.check(units >= 2, "north: the race granted something (%d units)" % units)
    ck.eq(region_state(c, "Q", "north"), (3, units, 3 - units), "north's totals")
    ck.eq(store(c, "Q", "north", "N-S1")[1], pinned, "N-S1's reserved: the pinned grants")
    ck.eq([r for _, r in out if harness.error_code(r) is not None], [], "no racer got an error")

    # 7. administration
    ck.eq(c.reserve("p8", [["R", "east", 1, "E-S3"]]).get("granted"), True, "p8 pins E-S3")
    send([[2, "R", "E-S3", ON_HAND, 0]])
    r = c.req({"op": "admin_remove_location", "change_id": "rm-s3", "location": "E-S3"})
    ck.eq(harness.error_code(r), E["bad_state"], "E-S3 has an open pin: not removed (%r)" % (r,))
    ck.check("open reservations hold 1 SKUs for pickup there" in str(r),
             "the message says why: %r" % (r,))
    r = c.req({"op": "admin_move_location", "change_id": "mv-s3", "location": "E-S3",
               "region": "west"})
    ck.eq(harness.error_code(r), E["bad_state"], "E-S3 has an open pin: not moved (%r)" % (r,))
    ck.check("E-S3 cannot be moved to another region: open reservations hold 1 SKUs"
             in str(r), "the message says why: %r" % (r,))
    ck.eq(at(c, "R", "east", "E-S3")["reserved"], 1, "E-S3 still in east with its pin")
    c.release("p8")
    r = c.req({"op": "admin_move_location", "change_id": "mv-s3b", "location": "E-S3",
               "region": "west"})
    ck.eq(r.get("ok"), True, "released: E-S3 moved to west (%r)" % (r,))
    r = c.reserve("p9", [["R", "east", 1, "E-S3"]])
    ck.eq((harness.error_code(r), (r.get("error") or {}).get("line")),
          (E["unknown_location"], 0), "a pin at E-S3 in east now: unknown_location")
    ck.check("location 'E-S3' is in region 'west'" in str(r), "where E-S3 is: %r" % (r,))
    r = c.req({"op": "admin_remove_location", "change_id": "rm-s3b", "location": "E-S3"})
    ck.eq(r.get("ok"), True, "no pin, no stock: E-S3 removed (%r)" % (r,))

    # 8. HTTP
    web = H.Http(d)
    st, _, doc = web.call("POST", "/v1/reservations", {
        "id": "h1", "lines": [{"sku": "P", "region": "west", "qty": 1, "location": "W-S1"}]})
    ck.eq((st, doc.get("reservation", {}).get("lines")),
          (201, [{"sku": "P", "region": "west", "location": "W-S1", "qty": 1,
                  "consumed": 0, "released": 0}]),
          "HTTP: a pinned line, 201, the line names W-S1")
    doc = web.ok("GET", "/v1/pickup/west/P")
    ws1 = [x for x in doc["locations"] if x["location"] == "W-S1"][0]
    ck.eq((ws1["reserved"], ws1["pickup_atp"]), (1, 3), "HTTP pickup: W-S1 reserved 1")
    st, _, doc = web.call("POST", "/v1/reservations", {
        "id": "h2", "lines": [{"sku": "P", "region": "west", "qty": 1, "location": "E-S1"}]})
    ck.eq((st, (doc.get("error") or {}).get("name")), (422, "unknown_location"),
          "HTTP: a location of another region, 422 unknown_location (%r)" % (doc,))
    st, _, doc = web.call("POST", "/v1/reservations", {
        "id": "h3", "lines": [{"sku": "P", "region": "west", "qty": 1, "location": None}]})
    ck.eq((st, "location" in doc.get("reservation", {}).get("lines", [{}])[0]), (201, False),
          "HTTP: \"location\": null is an unpinned line (%r)" % (doc,))
    web.close()

    # 9. atpctl over nng and HTTP: SKU:REGION:QTY@LOCATION, human and --json
    http_url = d.ready["http"]
    for ep, rid in ((d.query_url, "k1"), (http_url, "k2")):
        r = harness.run_ctl(h, ["--endpoint", ep, "reserve", rid, "P:west:1@W-S1"])
        ck.eq(r.returncode, 0, "atpctl reserve %s over %s: exit 0 (%s)" % (rid, ep, r.stderr))
        ck.check("(pickup at W-S1)" in r.stdout, "atpctl says where: %r" % (r.stdout,))
    rc, obj, _ = d.ctl_raw("reservation", "k1")
    ck.eq((rc, obj["reservation"]["lines"][0].get("location")), (0, "W-S1"),
          "atpctl --json reservation k1: the line's location")
    r = harness.run_ctl(h, ["--endpoint", d.query_url, "pickup", "P", "west"])
    ck.check("RESERVED" in r.stdout, "atpctl pickup has a RESERVED column: %r" % (r.stdout,))
    ck.eq(at(c, "P", "west", "W-S1")["reserved"], 3, "W-S1: h1, k1 and k2 pinned there")
    r = harness.run_ctl(h, ["--endpoint", d.query_url, "reserve", "k3", "P:west:1@"])
    ck.eq(r.returncode, 2, "atpctl: an empty location is a usage error (%s)" % (r.stderr,))

    U.finish(ck, c, feed, d)


if __name__ == "__main__":
    harness.run(main, "pickup_pinned")
