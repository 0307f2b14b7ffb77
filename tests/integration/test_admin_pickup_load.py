#!/usr/bin/python3
"""test_admin_pickup_load.py - run-time administration of locations under
feed and reservation load, pickup answers against a model (issue 16,
"Tests": "change every kind of admin object under feed and reservation
load and compare every ATP with a model"; docs/PROTOCOL.md, "Run-time
administration", "Store pickup", "Pinned lines").

While one thread publishes stock at five locations and another reserves
(pinned to a store, or not) and releases, the main thread changes the
locations' pickup flags and pickup buffers, moves a store to the other
region and back, changes buffer rules, opens a store (admin_add_location)
and gives the source authority there (admin_set_authority), after which
the feeder stocks it too, adds a channel with a rule of its own (the
change feed's thread publishes every row in it from then on), adds a
channel and removes it, adds a region and moves a store into it, adds a
region and removes it; then the source's authority there changes again
and again while the feeder also sends full snapshots (which clear what
the source owns, on the engine thread). Every change answers the next
version. When the load is over, every region answer (supply, reserved,
atp, shortfall of every SKU, region and channel) and every location of
every `pickup` answer (net, reserved, buffer, pickup_atp) equals a model
built from what the feeder sent, the open reservations read back (their
lines and locations) and admin_list (the locations' regions and settings,
the buffer rules). Then kill -9 and a restart: the same answers.

Label: integration, admin, pickup. Bounded: about 10 s (x4 under
sanitizers), the load by count and by time.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402
from test_admin_ops import buffer_of, rules_of  # noqa: E402

SKUS = ("A", "B", "C")
REGIONS = ("ra", "rb")
CHANNELS = (None, "web")  # kiosk and pos added at run time, pos removed
# id: (region, type, pickup, pickup_buffer) as the file has them
LOCATIONS = {
    "S1": ("ra", "store", True, 1),
    "S2": ("ra", "store", True, 0),
    "D1": ("ra", "dc", False, 0),
    "S3": ("rb", "store", True, 0),
    "S4": ("rb", "store", False, 0),
}
FEEDS = 150
RESERVES = 120


def config(h):
    cfg = harness.build_config(
        h, list(REGIONS), [(l, x[0]) for l, x in LOCATIONS.items()],
        [harness.source_entry("wms", [(list(LOCATIONS), ["on_hand"])])],
        channels=("web",), buffers=[{"region": "rb", "units": 1}],
        reservations={"durability": "sync", "default_ttl": "1h", "max_ttl": "2h",
                      "committed_ttl": "2h", "retention": "1h"})
    return U.set_locations(cfg, LOCATIONS)


def model_answers(c, on_hand, ids):
    """(got, want) over every region answer and pickup location."""
    lst = c.ok({"op": "admin_list"})
    locs = {l["id"]: l for l in lst["locations"]}
    rules = rules_of(c)
    reserved, pinned = {}, {}
    for rid in ids:
        res = c.get(rid)
        if res is None or res["state"] not in U.OPEN_STATES:
            continue
        for l in res["lines"]:
            q = l["qty"] - l["consumed"] - l["released"]
            reserved[(l["sku"], l["region"])] = reserved.get((l["sku"], l["region"]), 0) + q
            if "location" in l:
                k = (l["sku"], l["location"])
                pinned[k] = pinned.get(k, 0) + q
    got, want = {}, {}
    # the regions and channels in force (some added or removed at run time)
    regions = [r["id"] for r in lst["regions"]]
    channels = [None] + [ch for ch in lst["channels"] if ch != "default"]
    for sku in SKUS:
        for r in regions:
            supply = sum(q for (s, l), q in on_hand.items()
                         if s == sku and locs[l]["region"] == r)
            res = reserved.get((sku, r), 0)
            atp = {}
            for ch in channels:
                a = c.atp(sku, r, ch)
                got[(sku, r, ch)] = (a["supply"], a["reserved"], a["atp"], a["shortfall"])
                b = buffer_of(rules, sku, r, ch, supply)
                atp[ch] = max(0, supply - res - b)
                want[(sku, r, ch)] = (supply, res, atp[ch], max(0, res - supply))
            p = c.ok({"op": "pickup", "sku": sku, "region": r})
            for x in p["locations"]:
                got[(sku, r, x["location"])] = (x["net"], x["reserved"], x["buffer"],
                                                x["pickup_atp"])
            for lid, l in locs.items():
                if l["region"] != r:
                    continue
                net = on_hand.get((sku, lid), 0)
                rs = pinned.get((sku, lid), 0)
                avail = max(0, net - rs - l["pickup_buffer"])
                want[(sku, r, lid)] = (net, rs, l["pickup_buffer"],
                                       min(avail, atp[None]) if l["pickup"] else 0)
    return got, want


def main(h):
    d = h.start_atpd(config(h))
    ck = harness.Checks(h)
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    rng = random.Random(1616)
    on_hand = {}
    ids = []
    lock = threading.Lock()
    feed.publish("wms", [[2, s, l, 0, 10] for s in SKUS for l in LOCATIONS])
    on_hand.update({(s, l): 10 for s in SKUS for l in LOCATIONS})
    deadline = time.monotonic() + 10 * harness.TIME_FACTOR
    counts = {"granted": 0, "pinned": 0, "refused": 0, "released": 0, "new_store": 0,
              "snapshots": 0}
    # S5 is opened at run time; the feeder stocks it once wms's authority
    # there is answered (messages checked after the answer apply)
    s5_owned = threading.Event()

    def feeder():
        for n in range(FEEDS):
            if time.monotonic() > deadline:
                return
            if n == FEEDS // 2:  # the second half stocks S5 too, once owned
                s5_owned.wait(max(0.0, deadline - time.monotonic()))
            places = list(LOCATIONS) + (["S5"] if s5_owned.is_set() else [])
            sku, loc, q = rng.choice(SKUS), rng.choice(places), rng.randint(0, 20)
            counts["new_store"] += loc == "S5"
            with lock:  # the model follows the order atpd applies them in
                feed.publish("wms", [[2, sku, loc, 0, q]], wait=False)
                on_hand[(sku, loc)] = q
                if n % 16 == 15:  # a full snapshot: clears what wms owns
                    feed.send_snapshot("wms")
                    counts["snapshots"] += 1

    def reserver():
        rc = U.Client(d.query_port, d=d)
        rr = random.Random(61)
        try:
            for n in range(RESERVES):
                if time.monotonic() > deadline:
                    return
                if n % 4 == 3 and ids:
                    rc.release(rr.choice(ids))
                    counts["released"] += 1
                    continue
                # S2 moves between the regions under this load: pins go to
                # S1 and S3 only (a location with open pins is not moved)
                sku, loc = rr.choice(SKUS), rr.choice(["S1", "S3", None])
                region = rr.choice(REGIONS) if loc is None else LOCATIONS[loc][0]
                pin = [loc] if loc else []
                line = [sku, region, rr.randint(1, 4)] + pin
                r = rc.reserve("L%d" % n, [line])
                if r.get("granted") is True:
                    ids.append("L%d" % n)
                    counts["granted"] += 1
                    counts["pinned"] += len(pin) > 0
                elif r.get("ok") is True:
                    counts["refused"] += 1
                else:
                    ck.check(False, "reserve %r: %r" % (line, r))
        finally:
            rc.close()

    threads = [threading.Thread(target=feeder), threading.Thread(target=reserver)]
    for t in threads:
        t.start()
    changes = [
        ("admin_add_location", {"location": "S5", "region": "rb", "type": "store",
                                "pickup": True}),
        ("admin_set_authority", {"source": "wms", "location": "S5", "buckets": ["on_hand"]}),
        ("admin_add_channel", {"channel": "kiosk"}),
        ("admin_set_buffer", {"channel": "kiosk", "units": 1}),
        ("admin_add_channel", {"channel": "pos"}),
        ("admin_add_region", {"region": "rc", "inbound_horizon": "1d"}),
        ("admin_move_location", {"location": "S4", "region": "rc"}),
        ("admin_remove_channel", {"channel": "pos"}),
        ("admin_add_region", {"region": "rd"}),
        ("admin_remove_region", {"region": "rd"}),
        ("admin_set_location", {"location": "S1", "pickup_buffer": 3}),
        ("admin_set_location", {"location": "S4", "pickup": True}),
        ("admin_move_location", {"location": "S2", "region": "rb"}),
        ("admin_set_buffer", {"region": "ra", "units": 2}),
        ("admin_set_location", {"location": "S2", "pickup": False}),
        ("admin_set_buffer", {"sku": "B", "channel": "web", "percent": 25}),
        ("admin_set_location", {"location": "S2", "pickup": True, "pickup_buffer": 1}),
        ("admin_move_location", {"location": "S2", "region": "ra"}),
        ("admin_remove_buffer", {"region": "rb"}),
        ("admin_set_location", {"location": "S3", "pickup_buffer": 2}),
        ("admin_move_location", {"location": "S2", "region": "rb"}),
    ]
    version = c.ok({"op": "admin_list"})["version"]
    for i, (op, f) in enumerate(changes):
        body = {"op": op, "change_id": "k%d" % i}
        body.update(f)
        r = c.req(body)
        version += 1
        ck.eq((r.get("ok"), r.get("version")), (True, version), "%s %r under load" % (op, f))
        if op == "admin_set_authority":
            s5_owned.set()
    during = sum(t.is_alive() for t in threads) > 0
    extra = 0  # more changes while the load lasts (bounded), so they overlap it
    while any(t.is_alive() for t in threads) and extra < 40:
        # a location's settings, or wms's authority at S5 (held given and
        # taken back: the feeder sends on_hand only), while snapshots of
        # wms clear what it owns
        if extra % 2:
            r = c.req({"op": "admin_set_authority", "change_id": "x%d" % extra,
                       "source": "wms", "location": "S5",
                       "buckets": ["on_hand", "held"] if extra % 4 == 1 else ["on_hand"]})
        else:
            r = c.req({"op": "admin_set_location", "change_id": "x%d" % extra,
                       "location": "S1", "pickup_buffer": extra % 4})
        version += 1
        ck.eq((r.get("ok"), r.get("version")), (True, version), "x%d under load" % extra)
        extra += 1
    for t in threads:
        t.join(60 * harness.TIME_FACTOR)
    ck.check(not any(t.is_alive() for t in threads), "the load threads ended")
    h.log("the load outlived the %d listed changes: %s; %d more while it ran",
          len(changes), during, extra)
    feed.wait_synced()
    h.log("load: %r", counts)
    ck.check(counts["new_store"] > 0, "the feeder stocked the store opened under load")
    ck.check(counts["granted"] > 10 and counts["pinned"] > 3,
             "the load granted reservations, pinned ones among them: %r" % (counts,))

    got, want = model_answers(c, on_hand, ids)
    ck.eq(got, want, "every region and pickup answer equals the model")

    d.kill9()
    d.start()
    c.close()
    c = U.Client(d.query_port, d=d)
    feed.client = c
    feed.after_restart()
    got2, _ = model_answers(c, on_hand, ids)
    ck.eq(got2, want, "after kill -9 and a restart: the same answers")
    U.finish(ck, c, feed, d)


if __name__ == "__main__":
    harness.run(main, "admin_pickup_load")
