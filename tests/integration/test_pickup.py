#!/usr/bin/python3
"""test_pickup.py - store pickup (issue 16, "Store pickup"): ops `pickup`
and `pickup_cart`, GET /v1/pickup/{region}/{sku}, POST
/v1/pickup/{region}/cart and `atpctl pickup`, `atpctl pickup-cart`.

Positions at five locations of two regions (stores with and without
pickup, a pickup buffer, a DC, an inbound lot inside the horizon, a
negative position), reservations and a channel buffer. Every answer is
compared with a model of docs/PROTOCOL.md, "The pickup formula":
net = max(0, on_hand - allocated - held) (no inbound), pickup ATP =
min(max(0, net - pickup_buffer), the region's ATP) at a pickup-enabled
location, 0 elsewhere; a cart location fills when every SKU's summed
quantity is within its pickup ATP. Also: the pickup_only filter of both
ops, HTTP and atpctl giving the same answers as nng, one consistent
reading under ingest, bad input with its stable codes (unknown region,
too many lines, the (line, location) bound, bad fields, a config whose
pickup flag is not a boolean), and the `read` scope with tokens.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402
from test_ops_reload import Log, write_config  # noqa: E402
from test_security_auth import token_entries  # noqa: E402

TF = harness.TIME_FACTOR
MAX_LINES = 10000      # service.max_cart_lines (its default and maximum)
PAIRS_MAX = 100000     # ENGINE_PICKUP_CELLS_MAX: (line, location) pairs
N_MALL = 11            # stores of region "mall": 10,000 lines x 11 > PAIRS_MAX
CHURN_BATCHES = 3000
CHURN_READS = 200

# id: (region, type, pickup, pickup_buffer)
LOCATIONS = {
    "E-DC": ("east", "dc", False, 0),
    "E-S1": ("east", "store", True, 1),
    "E-S2": ("east", "store", True, 0),
    "W-S1": ("west", "store", True, 2),
    "W-DC": ("west", "dc", False, 0),
}
LOCATIONS.update({"M%02d" % i: ("mall", "store", True, 0) for i in range(N_MALL)})
ON_HAND, ALLOCATED, HELD = 0, 1, 2
LOC_FIELDS = ("location", "type", "pickup", "on_hand", "allocated", "held",
              "inbound", "net", "reserved", "buffer", "pickup_atp")


def pickup_config(h, tokens=None):
    cfg = H.http_config(h)
    cfg["service"]["max_cart_lines"] = MAX_LINES
    cfg["regions"] = [{"id": "east", "inbound_horizon": "1h"}, {"id": "west"},
                      {"id": "mall"}]
    cfg["locations"] = []
    for lid, (region, typ, pickup, buf) in LOCATIONS.items():
        loc = {"id": lid, "region": region, "type": typ}
        if pickup:
            loc["pickup"] = True
        if buf:
            loc["pickup_buffer"] = buf
        cfg["locations"].append(loc)
    cfg["sources"] = [harness.source_entry(
        "wms", [(list(LOCATIONS), ["on_hand", "allocated", "held", "inbound"])])]
    cfg["buffers"] = [{"region": "east", "channel": "web", "units": 3}]
    if tokens:
        cfg["auth"] = {"tokens": tokens}
    return cfg


class Model:
    """What the sources said (buckets per (sku, location), lots in the
    horizon), and the pickup answer docs/PROTOCOL.md derives from it."""

    def __init__(self):
        self.b = {}        # (sku, loc) -> [on_hand, allocated, held]
        self.inbound = {}  # (sku, loc) -> lots counted (inside the horizon)

    def events(self, evs):
        for ev in evs:
            if ev[0] == 2:
                self.b.setdefault((ev[1], ev[2]), [0, 0, 0])[ev[3]] = ev[4]
            elif ev[0] == 1:
                self.b.setdefault((ev[1], ev[2]), [0, 0, 0])[ev[3]] += ev[4]
            elif ev[0] == 6:  # a lot inside the east horizon (the test's only lots)
                k = (ev[1], ev[2])
                self.inbound[k] = self.inbound.get(k, 0) + ev[4]

    def location(self, sku, lid, region_atp):
        region, typ, pickup, buf = LOCATIONS[lid]
        oh, al, he = self.b.get((sku, lid), [0, 0, 0])
        net = max(0, oh - al - he)
        inbound = self.inbound.get((sku, lid), 0) if region == "east" else 0
        atp = min(max(0, net - buf), region_atp) if pickup else 0
        return {"location": lid, "type": typ, "pickup": pickup, "on_hand": oh,
                "allocated": al, "held": he, "inbound": inbound, "net": net,
                "reserved": 0,  # this test pins nothing (test_pickup_pinned.py does)
                "buffer": buf, "pickup_atp": max(0, atp)}

    def pickup(self, sku, region, region_atp, only=False):
        return [self.location(sku, lid, region_atp) for lid, x in LOCATIONS.items()
                if x[0] == region and (x[2] or not only)]

    def cart(self, region, lines, region_atp, only=False):
        """Per location {location, fills, lines: [pickup_atp, ...]}."""
        total = {}
        for sku, qty in lines:
            total[sku] = total.get(sku, 0) + qty
        out = []
        for lid, x in LOCATIONS.items():
            if x[0] != region:
                continue
            atps = [self.location(sku, lid, region_atp[sku])["pickup_atp"]
                    for sku, _ in lines]
            fills = all(total[sku] <= a for (sku, _), a in zip(lines, atps))
            if fills or not only:
                out.append({"location": lid, "fills": fills, "lines": atps})
        return out


def region_answer(c, sku, region, channel):
    a = c.atp(sku, region, channel)
    a.pop("ok")
    return a


def check_pickup(ck, c, m, sku, region, channel, only=False, w=None):
    """One pickup answer against the model and against `atp`."""
    body = {"op": "pickup", "sku": sku, "region": region, "channel": channel}
    if only:
        body["pickup_only"] = True
    got = c.ok(body)
    what = "pickup %s@%s/%s%s" % (sku, region, channel, " pickup_only" if only else "")
    ans = region_answer(c, sku, region, channel)
    ck.eq({k: got.get(k) for k in ans}, ans, what + ": the region's answer is atp's")
    ck.eq(got["locations"], m.pickup(sku, region, ans["atp"], only), what + ": locations")
    for loc in got["locations"]:
        ck.check(loc["pickup_atp"] <= ans["atp"], "%s: %s above the region's ATP",
                 what, loc["location"])
    if w is not None:
        path = "/v1/pickup/%s/%s?channel=%s%s" % (region, H.q(sku), channel,
                                                  "&pickup_only=true" if only else "")
        ck.eq(w.ok("GET", path), got, what + ": HTTP equals nng")
    return got


def check_cart(ck, c, m, region, lines, channel, only=False, w=None):
    body = {"op": "pickup_cart", "region": region, "channel": channel,
            "lines": [list(l) for l in lines]}
    if only:
        body["pickup_only"] = True
    got = c.ok(body)
    what = "pickup_cart %s/%s %r%s" % (region, channel, lines, " pickup_only" if only else "")
    ratp = {}
    for i, (sku, qty) in enumerate(lines):
        ans = region_answer(c, sku, region, channel)
        ratp[sku] = ans["atp"]
        line = got["lines"][i]
        ck.eq({k: line.get(k) for k in ans}, ans, what + ": line %d's region answer" % i)
        ck.eq(line["qty"], qty, what + ": line %d qty" % i)
    model = m.cart(region, lines, ratp, only)
    ck.eq([{"location": x["location"], "fills": x["fills"],
            "lines": [y["pickup_atp"] for y in x["lines"]]} for x in got["locations"]],
          model, what + ": locations")
    ck.eq(got["available"], any(x["fills"] for x in model), what + ": available")
    for x in got["locations"]:
        ck.eq([(y["sku"], y["qty"]) for y in x["lines"]], [tuple(l) for l in lines],
              what + ": %s's lines in request order" % x["location"])
        ck.eq(x["pickup"], LOCATIONS[x["location"]][2], what + ": pickup flag")
    if w is not None:
        hb = {"channel": channel, "lines": [{"sku": s, "qty": q} for s, q in lines]}
        if only:
            hb["pickup_only"] = True
        ck.eq(w.ok("POST", "/v1/pickup/%s/cart" % region, hb), got, what + ": HTTP equals nng")
    return got


def run_tool(h, args, timeout_s=30):
    p = harness._spawn([h.atpctl_bin] + args, cwd=h.tmp, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout_s * TF)
    except subprocess.TimeoutExpired:
        harness._stop_pid(p, 5)
        raise harness.TestFailure("atpctl %s did not exit" % args)
    return p.returncode, out, err


def check_atpctl(ck, h, d, c):
    nng = "tcp://127.0.0.1:%d" % d.query_port
    http = d.ready["http"]
    want = c.ok({"op": "pickup", "sku": "A", "region": "east", "channel": "web"})
    for ep in (nng, http):
        rc, out, err = run_tool(h, ["--endpoint", ep, "--json", "pickup", "A", "east",
                                    "--channel", "web"])
        ck.eq((rc, json.loads(out) if rc == 0 else err), (0, want),
              "atpctl pickup --json over %s" % ep)
    rc, out, err = run_tool(h, ["--endpoint", nng, "pickup", "A", "east", "--pickup-only"])
    ck.check(rc == 0 and "PICKUP_ATP" in out and "E-S1" in out and "E-DC" not in out,
             "atpctl pickup --pickup-only (human): rc %d %r %r", rc, out, err)
    want = c.ok({"op": "pickup_cart", "region": "east", "lines": [["A", 1], ["B", 1]],
                 "pickup_only": True})
    for ep in (nng, http):
        rc, out, err = run_tool(h, ["--endpoint", ep, "--json", "pickup-cart", "east", "A:1",
                                    "B:1", "--pickup-only"])
        ck.eq((rc, json.loads(out) if rc == 0 else err), (0, want),
              "atpctl pickup-cart --json over %s" % ep)
    rc, out, err = run_tool(h, ["--endpoint", nng, "pickup-cart", "east", "A:1", "B:50"])
    ck.check(rc == 0 and "NOT available" in out and "B 50/" in out,
             "atpctl pickup-cart (human) names the short line: rc %d %r %r", rc, out, err)
    rc, out, err = run_tool(h, ["--endpoint", nng, "pickup-cart", "east", "A"])
    ck.eq(rc, 2, "atpctl pickup-cart with a line that is no SKU:QTY: usage error")
    rc, out, err = run_tool(h, ["--endpoint", nng, "pickup", "A", "mars"])
    ck.check(rc == 1 and "unknown_region" in err + out, "atpctl pickup unknown region: %d %r",
             rc, err)


def check_bad_input(ck, c, w):
    cases = [
        ({"op": "pickup", "sku": "A", "region": "mars"}, "unknown_region", None),
        ({"op": "pickup", "sku": "A"}, "bad_request", None),
        ({"op": "pickup", "region": "east"}, "bad_request", None),
        ({"op": "pickup", "sku": "", "region": "east"}, "bad_sku", None),
        ({"op": "pickup", "sku": "A", "region": "east", "channel": "fax"},
         "unknown_channel", None),
        ({"op": "pickup", "sku": "A", "region": "east", "pickup_only": "yes"},
         "bad_request", None),
        ({"op": "pickup_cart", "region": "mars", "lines": [["A", 1]]}, "unknown_region", None),
        ({"op": "pickup_cart", "region": "east", "lines": []}, "bad_request", None),
        ({"op": "pickup_cart", "region": "east", "lines": "A"}, "bad_request", None),
        ({"op": "pickup_cart", "region": "east", "lines": [["A", 1], ["B", 0]]}, "bad_qty", 1),
        ({"op": "pickup_cart", "region": "east", "lines": [["A", 1], ["A", "east", 1]]},
         "bad_request", 1),
        ({"op": "pickup_cart", "region": "east", "lines": [["A", 10 ** 15], ["A", 1]]},
         "bad_qty", 1),
        ({"op": "pickup_cart", "region": "east",
          "lines": [["A", 1]] * (MAX_LINES + 1)}, "too_many_lines", None),
        # 10,000 lines x 11 locations of mall: beyond the pair bound
        ({"op": "pickup_cart", "region": "mall",
          "lines": [["A", 1]] * MAX_LINES}, "too_many_lines", None),
    ]
    errs = c.status()["queries"]["errors"]
    for body, name, line in cases:
        r = c.req(body)
        ck.eq(harness.error_name(r), name, "%s %s" % (body["op"], str(body)[:80]))
        ck.eq(r.get("error", {}).get("line"), line, "%s: error line" % str(body)[:80])
    ck.check(c.status()["queries"]["errors"] >= errs + len(cases), "refusals counted")
    # fewer lines there, or as many in the west region (2 locations), are
    # within the bound
    n = PAIRS_MAX // N_MALL
    ok = c.req({"op": "pickup_cart", "region": "mall", "lines": [["A", 1]] * n,
                "pickup_only": True})
    ck.eq((ok.get("ok"), ok.get("locations")), (True, []),
          "%d lines x %d locations: answered" % (n, N_MALL))
    ok = c.req({"op": "pickup_cart", "region": "west", "lines": [["A", 1]] * MAX_LINES,
                "pickup_only": True})
    ck.eq(ok.get("ok"), True, "10,000 lines x 2 locations: answered")
    st, _, doc = w.call("GET", "/v1/pickup/mars/A")
    ck.eq((st, harness.error_name(doc)), (422, "unknown_region"), "HTTP unknown region")
    st, _, doc = w.call("GET", "/v1/pickup/east/A?pickup_only=maybe")
    ck.eq((st, harness.error_name(doc)), (400, "bad_request"), "HTTP pickup_only not a boolean")
    st, _, doc = w.call("POST", "/v1/pickup/east/cart", {"lines": [{"sku": "A", "qty": 0}]})
    ck.eq((st, harness.error_name(doc)), (422, "bad_qty"), "HTTP bad qty")
    st, _, doc = w.call("POST", "/v1/pickup/east/cart",
                        {"lines": [["A", 1]] * (MAX_LINES + 1)})
    ck.eq((st, harness.error_name(doc)), (422, "too_many_lines"), "HTTP too many lines")


def check_config_error(ck, h):
    """A location's pickup flag that is not a boolean: atpd does not start."""
    path = os.path.join(h.tmp, "bad-pickup.yaml")
    with open(path, "w") as f:
        f.write("regions: [{id: east}]\n"
                "locations:\n"
                "  - {id: S1, region: east, pickup: yes}\n"
                "  - {id: S2, region: east, pickup_buffer: many}\n")
    p = harness._spawn([h.atpd_bin, "--check-config", path], cwd=h.tmp,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=30 * TF)
    ck.eq(p.returncode, 1, "--check-config with a bad pickup flag: exit 1")
    ck.check("bad-pickup.yaml:3:" in err and "pickup: expected true or false, got 'yes'" in err,
             "the flag's line and message: %r", err)
    ck.check("bad-pickup.yaml:4:" in err and "pickup_buffer" in err,
             "the buffer's line and message: %r", err)


def check_scopes(ck, h):
    tokens = {"reader": ("tok-reader-0123456789", ["read"], None),
              "shop": ("tok-shop-0123456789", ["reserve"], None)}
    entries = token_entries(tokens)
    d = h.start_atpd(pickup_config(h, entries), name="atpd-auth")
    c = U.Client(d.query_port, d=d)
    w = H.Http(d)
    bodies = [{"op": "pickup", "sku": "A", "region": "east"},
              {"op": "pickup_cart", "region": "east", "lines": [["A", 1]]}]
    for b in bodies:
        ck.eq(harness.error_name(c.req(b)), "unauthenticated", "%s without a token" % b["op"])
        ck.eq(harness.error_name(c.req(dict(b, token=tokens["shop"][0]))), "forbidden",
              "%s with a reserve-only token" % b["op"])
        ck.eq(c.req(dict(b, token=tokens["reader"][0])).get("ok"), True,
              "%s with a read token" % b["op"])
    auth = {"Authorization": "Bearer " + tokens["reader"][0]}
    st, _, doc = w.call("GET", "/v1/pickup/east/A", headers=auth)
    ck.eq((st, doc.get("ok")), (200, True), "HTTP pickup with a read token")
    st, _, doc = w.call("POST", "/v1/pickup/east/cart", {"lines": [["A", 1]]}, headers=auth)
    ck.eq((st, doc.get("ok")), (200, True), "HTTP pickup_cart with a read token")
    st, _, doc = w.call("GET", "/v1/pickup/east/A",
                        headers={"Authorization": "Bearer " + tokens["shop"][0]})
    ck.eq((st, harness.error_name(doc)), (403, "forbidden"), "HTTP pickup, reserve-only token")
    st, _, doc = w.call("GET", "/v1/pickup/east/A")
    ck.eq((st, harness.error_name(doc)), (401, "unauthenticated"), "HTTP pickup, no token")
    w.close()
    d.stop()


def check_under_ingest(ck, h, c, feed):
    """Every reading is one instant: the region's supply is the sum of its
    locations' net and inbound while the sources keep changing them."""
    stop = threading.Event()

    def churn():
        for i in range(CHURN_BATCHES):
            if stop.is_set():
                return
            feed.publish("wms", [[2, "A", "E-DC", 0, 40 + i % 13], [2, "A", "E-S1", 0, 3 + i % 5],
                                 [2, "A", "E-S2", 0, 9 - i % 4], [2, "A", "W-S1", 0, i % 7]],
                         wait=False)
    t = threading.Thread(target=churn, daemon=True)
    t.start()
    readings, deadline = 0, time.monotonic() + 20 * TF
    # at least a few readings even when the publisher is done first (its
    # messages may still be on their way through atpd's queue)
    while ((t.is_alive() or readings < 5) and time.monotonic() < deadline
           and readings < CHURN_READS):
        for region in ("east", "west"):
            x = c.ok({"op": "pickup", "sku": "A", "region": region, "channel": "web"})
            parts = sum(l["net"] + l["inbound"] for l in x["locations"])
            if not ck.check(x["supply"] == parts,
                            "reading %d, %s: supply %d but its locations give %d: %r",
                            readings, region, x["supply"], parts, x):
                readings = CHURN_READS
                break
            ck.check(all(l["pickup_atp"] <= x["atp"] for l in x["locations"]),
                     "reading %d: a location above the region's ATP", readings)
        readings += 1
    stop.set()
    t.join(60 * TF)
    h.log("%d readings during ingest", readings)
    ck.check(readings >= 5, "pickup answered during ingest (%d readings)", readings)


def check_reload(ck, h, d, c, m, configured):
    """A reload moves W-S1 to east: the next answers list it there and no
    longer in west, its stock in east's supply; E-S1's pickup_buffer
    changed in the file is applied with it (the answers have 5)."""
    log = Log(d)
    for loc in d.cfg["locations"]:
        if loc["id"] == "W-S1":
            loc["region"] = "east"
        if loc["id"] == "E-S1":
            loc["pickup_buffer"] = 5
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    line = log.wait("reload applied", "W-S1 moved to east")
    ck.check("1 locations moved" in line, "the reload moved W-S1: %s" % line.strip())
    LOCATIONS["W-S1"] = ("east",) + LOCATIONS["W-S1"][1:]
    LOCATIONS["E-S1"] = LOCATIONS["E-S1"][:3] + (5,)
    try:
        for sku in ("A", "B"):
            for region in ("east", "west"):
                got = check_pickup(ck, c, m, sku, region, "web")
                ck.eq(got["supply"], sum(l["net"] + l["inbound"] for l in got["locations"]),
                      "after the move, %s@%s: supply = its locations" % (sku, region))
        east = c.ok({"op": "pickup", "sku": "A", "region": "east"})
        ck.eq([l["location"] for l in east["locations"]], ["E-DC", "E-S1", "E-S2", "W-S1"],
              "W-S1 listed in east, in configuration order")
        ck.eq(east["locations"][1]["buffer"], 5, "E-S1's new pickup_buffer is applied")
    finally:
        LOCATIONS["W-S1"] = ("west",) + LOCATIONS["W-S1"][1:]
        LOCATIONS["E-S1"] = LOCATIONS["E-S1"][:3] + (1,)


def main(h):
    ck = harness.Checks(h)
    check_config_error(ck, h)
    cfg = pickup_config(h)
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    w = H.Http(d)
    m = Model()
    now = harness.now_ms()
    evs = [[2, "A", "E-DC", ON_HAND, 50],
           [2, "A", "E-S1", ON_HAND, 5], [2, "A", "E-S1", ALLOCATED, 1],
           [2, "A", "E-S2", ON_HAND, 2], [2, "A", "E-S2", HELD, 3],
           [6, "A", "E-S2", "PO-1", 7, now + 600 * 1000],
           [2, "A", "W-S1", ON_HAND, 10],
           [2, "B", "E-S1", ON_HAND, 2], [2, "B", "E-S2", ON_HAND, 9],
           [2, "B", "W-S1", ON_HAND, 1], [2, "B", "W-DC", ON_HAND, 30]]
    feed.publish("wms", evs)
    m.events(evs)
    harness.wait_until(lambda: not c.atp("A", "east")["stale"], 10 * TF, 0.02, "east fresh")

    h.log("one SKU: every location, against the model, nng and HTTP")
    combos = [(s, r, ch) for s in ("A", "B", "C") for r in ("east", "west")
              for ch in ("default", "web", "app")]
    for sku, region, ch in combos:
        for only in (False, True):
            check_pickup(ck, c, m, sku, region, ch, only, w)
    got = check_pickup(ck, c, m, "A", "east", "default")
    ck.eq([(l["location"], l["net"], l["inbound"], l["pickup_atp"]) for l in got["locations"]],
          [("E-DC", 50, 0, 0), ("E-S1", 4, 0, 3), ("E-S2", 0, 7, 0)],
          "A@east: the DC takes no pickup, E-S1 keeps 1 back, E-S2's lot is not on the shelf")
    ck.eq(got["supply"], 61, "A@east supply counts the lot")

    h.log("reservations lower the region, and so every location")
    ck.eq(c.reserve("r-1", [["A", "east", 56]]).get("granted"), True, "reserve 56 A@east")
    got = check_pickup(ck, c, m, "A", "east", "web", w=w)
    ck.eq((got["atp"], [l["pickup_atp"] for l in got["locations"]]), (2, [0, 2, 0]),
          "A@east/web: ATP 61-56-3 = 2 caps E-S1's 3")
    for sku, region, ch in combos:
        check_pickup(ck, c, m, sku, region, ch)

    h.log("carts")
    carts = [("east", [("A", 1), ("B", 1)]), ("east", [("A", 1), ("B", 2)]),
             ("east", [("B", 1), ("B", 1)]), ("east", [("B", 3), ("C", 1)]),
             ("west", [("A", 8), ("B", 1)]), ("west", [("A", 9)]), ("east", [("A", 2)])]
    for region, lines in carts:
        for ch in ("default", "web"):
            for only in (False, True):
                check_cart(ck, c, m, region, lines, ch, only, w)
    got = c.ok({"op": "pickup_cart", "region": "east", "channel": "web",
                "lines": [["B", 1], ["B", 1]], "pickup_only": True})
    ck.eq([x["location"] for x in got["locations"]], ["E-S2"],
          "B twice: E-S1 (1 after its buffer) cannot give 2, E-S2 can")
    got = c.ok({"op": "pickup_cart", "region": "east", "lines": [["A", 1], ["B", 2]],
                "pickup_only": True})
    ck.eq((got["available"], got["locations"]), (False, []), "nobody fills A+2B")

    h.log("after a change of stock")
    evs = [[1, "A", "E-S2", HELD, -3], [2, "B", "E-S1", ON_HAND, 20], [2, "A", "W-S1", HELD, 4]]
    feed.publish("wms", evs)
    m.events(evs)
    c.ok({"op": "release", "id": "r-1"})
    for sku, region, ch in combos:
        check_pickup(ck, c, m, sku, region, ch, False, w)
    for region, lines in carts:
        check_cart(ck, c, m, region, lines, "web", True, w)

    h.log("atpctl")
    check_atpctl(ck, h, d, c)
    h.log("bad input")
    check_bad_input(ck, c, w)
    h.log("under ingest")
    check_under_ingest(ck, h, c, feed)
    h.log("a reload moves a store to another region")
    evs = [[2, "A", "W-S1", HELD, 0]]
    feed.publish("wms", evs)
    m.events(evs)
    # the churn changed A's stock: the model reads it back from explain
    m.b = {k: v for k, v in m.b.items() if k[0] != "A"}
    for l in c.ok({"op": "explain", "sku": "A"})["locations"]:
        m.b[("A", l["location"])] = [l["on_hand"], l["allocated"], l["held"]]
    check_reload(ck, h, d, c, m, configured)
    w.close()
    feed.close()
    d.stop()
    h.log("tokens: the read scope")
    check_scopes(ck, h)
    ck.done()


if __name__ == "__main__":
    harness.run(main, "pickup")
