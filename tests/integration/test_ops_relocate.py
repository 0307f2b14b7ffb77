#!/usr/bin/python3
"""test_ops_relocate.py - SIGHUP moves a location to another region
(issue 15's reload, issue 16's first piece; docs/CONFIG.md, "Reload"):

1. Stock at La (ra), Lb (rb) and Lm (ra), an inbound lot at Lm (ra counts
   no inbound, rb a 1 d horizon), a reservation of X in ra; a snapshot.
2. The file moves Lm to rb; SIGHUP: "reload applied ... 1 locations moved".
   ATP, supply, reserved and shortfall of every (SKU, region) equal an
   independent computation from the fed positions and the new file: Lm's
   stock left ra (whose reservation now exceeds its supply: a shortfall,
   ATP 0) and joined rb with its lot; the change feed publishes the new
   values of both regions.
3. kill -9 right after, restart with the new file: the same answers (the
   positions are stored by location id, the region comes from the file).
   `explain` puts Lm, its lot and the source erp (authority at Lm only)
   in rb.
4. An event at Lm after the restart counts in rb.
5. Lz removed from the file: refused while it has stock; applied once its
   source set it to 0; an event naming it is then rejected and counted
   (`unknown_location`), the answers equal the model.
6. kill -9 right after, restart: nothing skipped (the reload's snapshot
   stored Lz's zero position, which deletes its record), the same answers.

Label: integration, ops, correctness. Bounded: about 10 s (x4 under
sanitizers).
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util  # noqa: E402
import harness  # noqa: E402
from test_ops_reload import Log, write_config  # noqa: E402

SKUS = ("X", "Y", "Z")


def model(cfg, on_hand, lots, reserved):
    """{(sku, region): (supply, reserved, atp, shortfall)} from the fed
    stock and cfg's regions (no buffer rules in this test)."""
    horizon = {r["id"]: r.get("inbound_horizon", "0s") != "0s" for r in cfg["regions"]}
    region_of = {l["id"]: l["region"] for l in cfg["locations"]}
    out = {}
    for sku in SKUS:
        for r in horizon:
            supply = sum(q for (s, loc), q in on_hand.items()
                         if s == sku and region_of[loc] == r)
            if horizon[r]:
                supply += sum(q for (s, loc), q in lots.items()
                              if s == sku and region_of[loc] == r)
            res = reserved.get((sku, r), 0)
            out[(sku, r)] = (supply, res, max(0, supply - res), max(0, res - supply))
    return out


def answers(c):
    got = {}
    for sku in SKUS:
        for r in ("ra", "rb"):
            a = c.atp(sku, r)
            got[(sku, r)] = (a["supply"], a["reserved"], a["atp"], a.get("shortfall", 0))
    return got


def explained(c):
    """explain X: (Lm's region, {region: its sources}, {lot: region})."""
    x = c.ok({"op": "explain", "sku": "X"})
    return ({l["location"]: l["region"] for l in x["locations"] if l["location"] == "Lm"},
            {r["region"]: sorted(s["id"] for s in r["sources"]) for r in x["regions"]},
            {l["lot"]: l["region"] for l in x["lots"]})


def main(h):
    wms = harness.source_entry("wms", [(["La", "Lb", "Lm", "Lz"], ["on_hand", "inbound"])])
    # erp has authority at Lm only: it feeds whichever region Lm is in.
    erp = harness.source_entry("erp", [(["Lm"], ["held"])])
    cfg = harness.build_config(
        h, [{"id": "ra"}, {"id": "rb", "inbound_horizon": "1d"}],
        [("La", "ra"), ("Lb", "rb"), ("Lm", "ra"), ("Lz", "ra")], [wms, erp])
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    log = Log(d)
    pub = harness.Publisher(d, c)

    # 1. Stock, a lot, a reservation; all stored.
    on_hand = {("X", "La"): 10, ("X", "Lb"): 20, ("X", "Lm"): 7,
               ("Y", "Lm"): 100, ("Y", "Lb"): 1, ("Z", "La"): 4, ("Z", "Lz"): 3}
    lots = {("X", "Lm"): 6}
    events = [[2, s, loc, 0, q] for (s, loc), q in sorted(on_hand.items())]
    events.append([6, "X", "Lm", "PO-1", 6, harness.now_ms()])
    pub.send_payload(pub.next_batch("wms", events)[1])
    pub.wait_applied("wms")
    r = c.reserve("r1", [("X", "ra", 15)])
    ck.check(r.get("ok") is True, "r1 granted: %r" % (r,))
    reserved = {("X", "ra"): 15}
    ck.eq(answers(c), model(cfg, on_hand, lots, reserved), "answers before the reload")
    ck.eq(explained(c), ({"Lm": "ra"}, {"ra": ["erp", "wms"], "rb": ["wms"]}, {"PO-1": "ra"}),
          "explain before the reload")
    ck.check(c.snapshot().get("ok") is True, "snapshot stored")

    sub = feed_util.Sub(d, prefixes=(feed_util.prefix("ra", "X"), feed_util.prefix("rb", "X")))
    sub.quiet(0.3)

    # 2. Lm moves to rb.
    d.cfg["locations"][2]["region"] = "rb"
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    line = log.wait("reload applied", "Lm to rb")
    h.log("%s", line.strip())
    ck.check("1 locations moved to another region (2 positions" in line,
             "the summary counts the move: %s" % line)
    want = model(d.cfg, on_hand, lots, reserved)
    ck.eq(want[("X", "ra")], (10, 15, 0, 5), "the model: ra short of its reservation")
    ck.eq(want[("X", "rb")], (33, 0, 33, 0), "the model: rb with Lm and its lot")
    ck.eq(answers(c), want, "answers after the reload")
    ck.eq(explained(c), ({"Lm": "rb"}, {"ra": ["wms"], "rb": ["erp", "wms"]}, {"PO-1": "rb"}),
          "explain after the reload: Lm, its lot and erp in rb")
    seen = {}

    def published(r, s, b):
        seen[r] = (b.get("supply"), b.get("reserved"),
                   sorted({ch.get("atp") for ch in b.get("channels") or []}))
        return seen.get("ra") == (10, 15, [0]) and seen.get("rb") == (33, 0, [33])
    sub.wait_for(published, 5, "X/ra and X/rb with their new values")
    sub.close()

    # 3. kill -9 right after; restart with the new file.
    d.kill9()
    d.start()
    c.close()
    c = harness.Client(d.query_port, d=d)
    ck.eq(answers(c), want, "answers after kill -9 and a restart")

    # 4. Lm's events count in rb (the same publisher: its next seq).
    pub.close()
    pub.client = c
    pub.send_payload(pub.next_batch("wms", [[2, "Y", "Lm", 0, 90]])[1])
    on_hand[("Y", "Lm")] = 90
    harness.wait_until(lambda: c.atp("Y", "rb")["supply"] == 91, 5, 0.02,
                       "Y/rb after an event at Lm")
    ck.eq(answers(c), model(d.cfg, on_hand, lots, reserved), "answers after the event")

    # 5. Lz removed from the file (and from wms's authority): refused
    #    while it has stock, applied once its source set it to 0; then an
    #    event naming it is rejected as naming an unknown location.
    d.cfg["locations"] = [l for l in d.cfg["locations"] if l["id"] != "Lz"]
    d.cfg["sources"][0]["authority"][0]["locations"].remove("Lz")
    write_config(d, configured)
    log = Log(d)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("reload refused", "Lz with stock")
    with open(d.stderr_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    ck.check("location Lz cannot be removed: it still has stock (1 SKUs" in text,
             "the refusal says why")
    ck.eq(c.atp("Z", "ra")["supply"], 7, "Z/ra: Lz still counted after the refusal")
    pub.send_payload(pub.next_batch("wms", [[2, "Z", "Lz", 0, 0]])[1])
    pub.wait_applied("wms")
    del on_hand[("Z", "Lz")]
    os.kill(d.pid, signal.SIGHUP)
    line = log.wait("reload applied", "Lz empty")
    ck.check(", 1 removed," in line, "the summary counts the removal: %s" % line)
    unknown = c.sources()["wms"]["unknown_location"]
    pub.send_payload(pub.next_batch("wms", [[2, "Z", "Lz", 0, 5]])[1])
    harness.wait_until(lambda: c.sources()["wms"]["unknown_location"] > unknown, 5, 0.02,
                       "the event naming Lz rejected and counted")
    want = model(d.cfg, on_hand, lots, reserved)
    ck.eq(answers(c), want, "answers after the removal")

    # 6. kill -9 right after; Lz's record was deleted by the reload's snapshot.
    d.kill9()
    d.start()
    c.close()
    c = harness.Client(d.query_port, d=d)
    with open(d.stderr_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    last = text[text.rfind(" starting: "):]
    ck.check("restored 6 positions" in last and "skipped" not in last,
             "Lz's zero position was deleted from the store by the reload's "
             "snapshot: nothing to skip:\n%s" % harness.tail(d.stderr_path, 5))
    ck.eq(answers(c), want, "answers after the removal, kill -9 and a restart")

    pub.close()
    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "ops_relocate")
