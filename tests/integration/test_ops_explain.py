#!/usr/bin/python3
"""test_ops_explain.py - op `explain` and GET /v1/explain/{sku} (issue 15).

A SKU with stock at three locations in two regions, inbound lots inside
and outside the horizon, held and committed reservations and buffer rules
by units and by percent. For every region and channel, explain's ATP must
equal op `atp`'s, and its parts must add up by the formula of
docs/PROTOCOL.md: net per location, supply = sum of the region's nets,
inbound = its lots inside the horizon, reserved = its open reservation
lines, buffer = max(units, ceil(percent * supply)), ATP and shortfall.
HTTP answers the same map as nng; an unknown SKU explains to zeros; a bad
SKU is refused with bad_sku and counted.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402

MAX_INT = 2 ** 53 - 1
CHURN_BATCHES = 3000  # source messages sent while explain is read
CHURN_READS = 400


def explain_config(h):
    cfg = H.http_config(h)
    cfg["regions"] = [{"id": "east", "inbound_horizon": "1h"}, {"id": "west"}]
    cfg["locations"] = [{"id": "E1", "region": "east", "type": "dc"},
                        {"id": "E2", "region": "east", "type": "store"},
                        {"id": "W1", "region": "west", "type": "dc"}]
    cfg["sources"] = [harness.source_entry(
        "wms", [(["E1", "E2", "W1"], ["on_hand", "allocated", "held", "inbound"])])]
    cfg["buffers"] = [{"sku": "A", "region": "east", "channel": "web", "units": 5},
                      {"region": "west", "percent": 12.5},
                      {"channel": "app", "units": 2, "percent": 10}]
    return cfg


def check_formula(ck, doc, c, sku):
    """explain's parts add up, and its ATP is atp's, for every region/channel."""
    locs = {loc["location"]: loc for loc in doc["locations"]}
    for loc in doc["locations"]:
        inbound = sum(lot["qty"] for lot in doc["lots"]
                      if lot["location"] == loc["location"] and lot["in_horizon"])
        ck.eq(loc["inbound"], inbound, "%s inbound = its lots inside the horizon"
              % loc["location"])
        ck.eq(loc["net"], max(0, loc["on_hand"] - loc["allocated"] - loc["held"])
              + inbound, "%s net by the formula" % loc["location"])
    for reg in doc["regions"]:
        r = reg["region"]
        supply = sum(loc["net"] for loc in locs.values() if loc["region"] == r)
        reserved = sum(x["qty"] for x in doc["reservations"] if x["region"] == r)
        ck.eq(reg["supply"], supply, "%s supply = sum of its locations' net" % r)
        ck.eq(reg["reserved"], reserved, "%s reserved = its open lines" % r)
        for ch in reg["channels"]:
            what = "%s/%s" % (r, ch["channel"])
            ck.eq((ch["supply"], ch["reserved"]), (supply, reserved), what + " supply, reserved")
            pct = -(-ch["buffer_percent_bp"] * supply // 10000)
            ck.eq(ch["buffer_from_percent"], pct, what + " buffer from percent")
            ck.eq(ch["buffer"], max(ch["buffer_units"], pct), what + " buffer = max(units, %)")
            by = "none" if ch["buffer"] == 0 else (
                "units" if ch["buffer_units"] >= pct else "percent")
            ck.eq(ch["buffer_by"], by, what + " buffer_by")
            ck.eq(ch["atp"], max(0, supply - reserved - ch["buffer"]), what + " atp by formula")
            ck.eq(ch["shortfall"], max(0, reserved - supply), what + " shortfall")
            a = c.ok({"op": "atp", "sku": sku, "region": r, "channel": ch["channel"]})
            a.pop("ok")
            ck.eq({k: ch[k] for k in a}, a, what + ": explain's answer is atp's")


def ints_fit(ck, v, where="explain"):
    if isinstance(v, dict):
        for k, x in v.items():
            ints_fit(ck, x, where + "." + k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            ints_fit(ck, x, "%s[%d]" % (where, i))
    elif isinstance(v, int) and not isinstance(v, bool):
        ck.check(abs(v) <= MAX_INT, "%s = %d beyond 2^53-1", where, v)


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(explain_config(h))
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    now = harness.now_ms()
    feed.publish("wms", [[2, "A", "E1", 0, 100], [2, "A", "E1", 1, 10], [2, "A", "E1", 2, 5],
                         [2, "A", "E2", 0, 3], [2, "A", "E2", 1, 9],
                         [2, "A", "W1", 0, 41],
                         [6, "A", "E1", "PO-in", 7, now + 600 * 1000],
                         [6, "A", "E1", "PO-late", 1000, now + 5 * 3600 * 1000],
                         [6, "A", "W1", "PO-west", 50, now + 60 * 1000]])
    ck.eq(c.reserve("r-held", [["A", "east", 4]], channel="web").get("granted"), True,
          "reserve r-held")
    ck.eq(c.reserve("r-app", [["A", "west", 6], ["A", "east", 1]], channel="app")
          .get("granted"), True, "reserve r-app")
    c.ok({"op": "commit", "id": "r-app"})
    harness.wait_until(lambda: not (c.atp("A", "east")["stale"] or c.atp("A", "west")["stale"]),
                       10 * harness.TIME_FACTOR, 0.02, "regions fresh")

    doc = c.ok({"op": "explain", "sku": "A"})
    h.log("explain A: %r", doc)
    ints_fit(ck, doc)
    ck.eq(doc["known_sku"], True, "known SKU")
    ck.eq([r["region"] for r in doc["regions"]], ["east", "west"], "every region, in order")
    ck.eq([[ch["channel"] for ch in r["channels"]] for r in doc["regions"]],
          [["default", "web", "app"]] * 2, "every channel, in order")
    locs = {x["location"]: x for x in doc["locations"]}
    ck.eq(locs.get("E1"), {"location": "E1", "region": "east", "type": "dc", "on_hand": 100,
                           "allocated": 10, "held": 5, "inbound": 7, "net": 92}, "E1")
    ck.eq(locs.get("E2", {}).get("net"), 0, "E2: negative stock contributes nothing")
    ck.eq(locs.get("W1", {}).get("inbound"), 0, "W1: region west counts no inbound")
    lots = {x["lot"]: x for x in doc["lots"]}
    ck.eq((lots["PO-in"]["in_horizon"], lots["PO-late"]["in_horizon"],
           lots["PO-west"]["in_horizon"]), (True, False, False), "lots in and out of horizon")
    ck.eq(lots["PO-late"]["eta_ms"], now + 5 * 3600 * 1000, "a lot's ETA")
    ck.eq(sorted((x["id"], x["region"], x["state"], x["qty"]) for x in doc["reservations"]),
          [("r-app", "east", "committed", 1), ("r-app", "west", "committed", 6),
           ("r-held", "east", "held", 4)], "open reservation lines")
    east, west = doc["regions"]
    ew, ea, ww = east["channels"][1], east["channels"][2], west["channels"][1]
    ck.eq((ew["rule"], ew["buffer"], ew["buffer_by"]), ("sku+region+channel", 5, "units"),
          "east/web rule")
    ck.eq((ea["rule"], ea["buffer_units"], ea["buffer"], ea["buffer_by"]),
          ("channel", 2, 10, "percent"), "east/app: 10 % of 92 rounded up beats 2 units")
    ck.eq((ww["rule"], ww["buffer"], ww["buffer_by"]), ("region", 6, "percent"),
          "west/web: 12.5 % of 41 rounded up")
    ck.eq([s["id"] for s in east["sources"]], ["wms"], "east's sources")
    ck.check(east["sources"][0]["state"] == "ok", "wms live: %r", east["sources"][0])
    check_formula(ck, doc, c, "A")

    h.log("HTTP answers the same")
    w = H.Http(d)
    hd = w.ok("GET", "/v1/explain/A")
    for k in ("now_ms",):
        hd.pop(k, None)
        doc.pop(k, None)
    for reg in hd["regions"] + doc["regions"]:
        for s in reg["sources"]:
            s.pop("age_ms", None)
    ck.eq(hd, doc, "HTTP explain equals nng explain")

    h.log("unknown and bad SKUs")
    u = c.ok({"op": "explain", "sku": "nope"})
    ck.eq((u["known_sku"], u["locations"], u["lots"], u["reservations"]),
          (False, [], [], []), "unknown SKU: nothing")
    ck.eq([ch["atp"] for r in u["regions"] for ch in r["channels"]], [0] * 6,
          "unknown SKU: ATP 0")
    errs = c.status()["queries"]["errors"]
    bad = c.req({"op": "explain", "sku": ""})
    ck.eq(harness.error_name(bad), "bad_sku", "empty SKU refused")
    ck.eq(c.req({"op": "explain"}).get("ok"), False, "missing SKU refused")
    ck.check(c.status()["queries"]["errors"] >= errs + 2, "refusals counted")
    st, _, _ = w.call("GET", "/v1/explain/%FF")
    ck.eq(st, 422, "HTTP: SKU that is not UTF-8 refused")
    h.log("under ingest: the parts add up in every reading")
    stop = threading.Event()
    read = [0]  # readings so far: the churn lasts until there are 5 at least
    deadline = time.monotonic() + 20 * harness.TIME_FACTOR

    def churn():
        # CHURN_BATCHES, or more on a machine so busy that the readings
        # lag behind (bounded by the deadline and 10x the count)
        for i in range(10 * CHURN_BATCHES):
            if stop.is_set() or time.monotonic() > deadline or \
                    (i >= CHURN_BATCHES and read[0] >= 5):
                return
            feed.publish("wms", [[2, "A", "E1", 0, 100 + i], [2, "A", "E2", 0, 50 - i % 7],
                                 [2, "A", "W1", 0, 30 + i % 11], [1, "A", "E1", 1, 1]],
                         wait=False)
    t = threading.Thread(target=churn, daemon=True)
    t.start()
    readings = 0
    while t.is_alive() and time.monotonic() < deadline and readings < CHURN_READS:
        x = c.ok({"op": "explain", "sku": "A"})
        readings += 1
        read[0] = readings
        for reg in x["regions"]:
            nets = sum(l["net"] for l in x["locations"] if l["region"] == reg["region"])
            resv = sum(r["qty"] for r in x["reservations"] if r["region"] == reg["region"])
            if not ck.check((reg["supply"], reg["reserved"]) == (nets, resv),
                            "reading %d, %s: supply, reserved %r but the parts give %r",
                            readings, reg["region"], (reg["supply"], reg["reserved"]),
                            (nets, resv)):
                break
    stop.set()
    t.join(30)
    h.log("%d readings during ingest", readings)
    ck.check(readings >= 5, "explain answered during ingest (%d readings)", readings)
    feed.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_explain")
