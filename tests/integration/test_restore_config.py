#!/usr/bin/python3
"""test_restore_config.py - restart after a configuration change.

atpd stores positions, lots, source offsets and reservations; a restart
with a configuration that no longer has some location, region, channel or
source cannot restore the records that name them. It must skip exactly
those (counted: the start-up log line, `reservations.load_skipped`),
restore everything else unchanged, and keep the skipped records in the
store: with the old configuration back, they are restored again.

Configuration A: regions east, west; DC-1, DC-2 (east), DC-3 (west);
channels web, app; sources wms (DC-1, DC-2), tpl (DC-3 with inbound), erp
(DC-1 inbound). Configuration B drops west, DC-3, app and tpl.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util  # noqa: E402
from harness import TestFailure  # noqa: E402

STOCK = ["on_hand", "allocated", "held"]


def config_a(h):
    return resv_util.resv_config(
        h, [{"id": "east"}, {"id": "west", "inbound_horizon": "1d"}],
        [("DC-1", "east"), ("DC-2", "east"), ("DC-3", "west")],
        [("wms", ["DC-1", "DC-2"], STOCK),
         ("tpl", [(["DC-3"], STOCK + ["inbound"])]),
         ("erp", ["DC-1"], ["inbound"])],
        channels=("web", "app"))


def config_b(cfg_a):
    cfg = {k: v for k, v in cfg_a.items()}
    cfg["regions"] = [{"id": "east"}]
    cfg["locations"] = [l for l in cfg_a["locations"] if l["region"] == "east"]
    cfg["channels"] = ["web"]
    cfg["sources"] = [s for s in cfg_a["sources"] if s["id"] != "tpl"]
    return cfg


def stderr_text(d):
    with open(d.stderr_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def start(h, cfg, name):
    d = harness.Atpd(h, cfg, name).start()
    return d, resv_util.Client(d.query_port, d=d)


def atp(q, sku, region, channel="web"):
    return q.atp(sku, region, channel).get("atp")


def main(h):
    c = harness.Checks(h)
    cfg_a = config_a(h)
    d, q = start(h, cfg_a, "a1")
    pub = harness.Publisher(d, q)
    now = harness.now_ms()
    for src, events in (("wms", [[2, "A1", "DC-1", 0, 10]]),
                        ("tpl", [[2, "A1", "DC-3", 0, 20], [2, "B2", "DC-3", 0, 5],
                                 [6, "A1", "DC-3", "PO-W", 7, now]]),
                        ("erp", [[6, "A1", "DC-1", "PO-E", 3, now + 3600 * 1000]])):
        pub.send_payload(pub.next_batch(src, events)[1])
        pub.wait_applied(src)
    pub.close()
    for rid, lines, channel in (("r-east", [("A1", "east", 2)], "web"),
                                ("r-west", [("A1", "west", 3)], "web"),
                                ("r-app", [("A1", "east", 1)], "app"),
                                ("r-both", [("A1", "east", 1), ("A1", "west", 1)], "web")):
        r = q.reserve(rid, lines, channel=channel)
        if r.get("ok") is not True:
            raise TestFailure("reserve %s: %r" % (rid, r))
    c.eq(atp(q, "A1", "east"), 10 - 2 - 1 - 1, "A: east ATP")
    c.eq(atp(q, "A1", "west"), 20 + 7 - 3 - 1, "A: west ATP (lot inside the horizon)")
    seqs_a = {s: v.get("last_seq") for s, v in q.sources().items()}
    q.close()
    c.eq(d.stop(), 0, "A: clean stop")

    # B: west, DC-3, app and tpl are gone.
    h.log("restart with configuration B")
    d, q = start(h, config_b(cfg_a), "b")
    text = stderr_text(d)
    c.check("skipped 2 stored positions, 1 lots, 1 offsets that no longer match "
            "the configuration" in text,
            "B: the start-up log counts the skipped positions, lots and offsets:\n%s",
            harness.tail(d.stderr_path, 20))
    for rid, why in (("r-west", "unknown region"), ("r-app", "unknown channel"),
                     ("r-both", "unknown region")):
        c.check(re.search(r"stored reservation '%s' skipped: " % rid, text) is not None,
                "B: reservation %s is skipped with a log line (%s)", rid, why)
    st = q.status()
    resv = st.get("reservations") or {}
    c.eq(resv.get("load_skipped"), 3, "B: reservations.load_skipped")
    c.eq(resv.get("open"), 1, "B: open reservations")
    c.eq(st.get("positions"), 1, "B: positions restored")
    c.eq(atp(q, "A1", "east"), 10 - 2, "B: east ATP (only r-east reserved)")
    c.check((q.get("r-east") or {}).get("state") == "held", "B: r-east is restored")
    c.eq(q.get("r-west"), None, "B: r-west is not_found")
    srcs = q.sources()
    c.eq(sorted(srcs), ["erp", "wms"], "B: sources")
    for s in ("wms", "erp"):
        c.eq(srcs[s].get("last_seq"), seqs_a[s], "B: %s offset restored" % s)
    r = q.reserve("r-new", [("A1", "east", 1)])
    c.check(r.get("ok") is True, "B: a new reservation: %r", r)
    q.close()
    c.eq(d.stop(), 0, "B: clean stop")

    # A again: the skipped records were kept, and come back.
    h.log("restart with configuration A again")
    d, q = start(h, cfg_a, "a2")
    text = stderr_text(d)
    c.check("skipped" not in text, "A again: nothing skipped:\n%s",
            harness.tail(d.stderr_path, 20))
    st = q.status()
    resv = st.get("reservations") or {}
    c.eq(resv.get("load_skipped"), 0, "A again: reservations.load_skipped")
    c.eq(resv.get("open"), 5, "A again: open reservations")
    c.eq(st.get("positions"), 3, "A again: positions restored")
    c.eq(atp(q, "A1", "east"), 10 - 2 - 1 - 1 - 1, "A again: east ATP")
    c.eq(atp(q, "A1", "west"), 20 + 7 - 3 - 1, "A again: west ATP (lot restored)")
    c.eq(atp(q, "B2", "west"), 5, "A again: B2 west ATP")
    c.eq(atp(q, "A1", "east", "app"), 10 - 2 - 1 - 1 - 1, "A again: east ATP on app")
    c.eq((q.get("r-west") or {}).get("state"), "held", "A again: r-west restored")
    c.eq(q.sources().get("tpl", {}).get("last_seq"), seqs_a["tpl"], "A again: tpl offset")
    q.close()
    c.eq(d.stop(), 0, "A again: clean stop")
    c.done()


if __name__ == "__main__":
    harness.run(main, "restore_config")
