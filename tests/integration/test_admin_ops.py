#!/usr/bin/python3
"""test_admin_ops.py - run-time administration over nng (issue 16,
"Administration at run time"; docs/PROTOCOL.md, "Admin"; docs/CONFIG.md,
"Run-time administration"):

1. First start: the file seeds the admin state (version 1, history
   "seed"); admin_list shows the file's rules and regions.
2. Under feed and reservation load (a thread publishing stock and
   reserving, bounded in count and time), a series of buffer rule
   changes at every specificity level (units, percent, both) and removals;
   each answers the next version. Afterwards every ATP of every (SKU,
   region, channel) equals a model of the brief's formula.
3. Invalid changes answer their stable codes and change nothing (version,
   rules): unknown region, channel, location, no rule to remove, a value
   out of range (the file's message), no change_id.
4. Idempotency: the same change id and content answers the original
   version (replayed); the same id with other content is conflict.
5. Moving a location while reservations are open: the old region keeps
   its reservations and shows the shortfall; the new region gains the
   stock (model).
6. kill -9, restart with the same file: the state, its version and its
   history survive; ATP equals the model; a change id used before still
   answers replayed.
7. SIGHUP with the file unchanged: the admin state stays. SIGHUP with the
   file's buffers changed: they become the next version (who "sighup").
8. Restart with the file's buffers changed: the file's win (version+1);
   restart unchanged: the stored state wins (log line).
9. admin_export's document passes `atpd --check-config`; laid into the
   file, a restart keeps the same state.

Label: integration, admin. Bounded: about 15 s (x4 under sanitizers).
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_ops_reload import Log, write_config  # noqa: E402

E = {"unknown_region": 3, "unknown_channel": 4, "unknown_location": 5,
     "bad_request": 1, "config": 15, "conflict": 18, "not_found": 19,
     "bad_id": 27, "bad_qty": 7}
SKUS = ("A", "B", "C", "D", "M")
LOADED = SKUS[:4]  # the load thread's; M is the move's
REGIONS = ("ra", "rb")
CHANNELS = (None, "web", "app")


def rule_key(r):
    return (r.get("sku"), r.get("region"), r.get("channel"))


def buffer_of(rules, sku, region, channel, supply):
    """The most specific rule's buffer (the brief's precedence)."""
    ch = channel or "default"
    order = [(sku, region, ch), (sku, region, None), (sku, None, ch), (sku, None, None),
             (None, region, ch), (None, region, None), (None, None, ch), (None, None, None)]
    by = {rule_key(r): r for r in rules}
    for k in order:
        r = by.get(k)
        if r is not None:
            units = r.get("units", 0)
            bp = r.get("percent_bp", 0)
            return max(units, -(-bp * supply // 10000))
    return 0


class Model:
    def __init__(self, region_of):
        self.region_of = dict(region_of)
        self.on_hand = {}   # (sku, loc): qty
        self.reserved = {}  # (sku, region): qty
        self.rules = []     # admin_list's buffers

    def supply(self, sku, region):
        return sum(q for (s, l), q in self.on_hand.items()
                   if s == sku and self.region_of[l] == region)

    def want(self, sku, region, channel):
        s = self.supply(sku, region)
        res = self.reserved.get((sku, region), 0)
        b = buffer_of(self.rules, sku, region, channel, s)
        return (s, res, max(0, s - res - b), max(0, res - s))


def answers(c, m):
    got, want = {}, {}
    for sku in SKUS:
        for r in REGIONS:
            for ch in CHANNELS:
                a = c.atp(sku, r, ch)
                got[(sku, r, ch)] = (a["supply"], a["reserved"], a["atp"], a.get("shortfall", 0))
                want[(sku, r, ch)] = m.want(sku, r, ch)
    return got, want


def rules_of(c):
    lst = c.ok({"op": "admin_list"})
    return [{k: v for k, v in r.items() if v is not None} for r in lst["buffers"]]


def change(c, op, cid, **fields):
    body = {"op": op, "change_id": cid}
    body.update(fields)
    return c.req(body)


def main(h):
    wms = harness.source_entry("wms", [(["La", "Lb", "Lm"], ["on_hand"])])
    cfg = harness.build_config(
        h, ["ra", "rb"], [("La", "ra"), ("Lb", "rb"), ("Lm", "ra")], [wms],
        channels=("web", "app"),
        buffers=[{"region": "ra", "units": 2}, {"sku": "A", "percent": "10"}])
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    log = Log(d)

    # 1. seeded from the file
    lst = c.ok({"op": "admin_list"})
    ck.eq(lst["version"], 1, "first start: version 1")
    ck.eq([(b["sku"], b["region"], b["channel"], b["units"], b["percent_bp"]) for b in lst["buffers"]],
          [(None, "ra", None, 2, 0), ("A", None, None, 0, 1000)], "the file's rules")
    ck.eq({l["id"]: l["region"] for l in lst["locations"]},
          {"La": "ra", "Lb": "rb", "Lm": "ra"}, "the file's regions")
    hist = c.ok({"op": "admin_history"})["changes"]
    ck.eq([(x["version"], x["op"], x["who"]) for x in hist], [(1, "seed", "config-file")],
          "history: the seed")

    # A misspelt field is refused (bad_request, naming it) and changes
    # nothing: ignored, "skus" would put the rule on every SKU.
    for op, fields in (("admin_set_buffer", {"skus": "A", "units": 9}),
                       ("admin_set_buffer", {"sku": "A", "units": 9, "backorders": 3}),
                       ("admin_remove_buffer", {"regoin": "ra"}),
                       ("admin_set_bundle", {"sku": "K", "component": [["A", 1]]})):
        r = change(c, op, "typo-" + op, **fields)
        bad = [k for k in fields if k not in ("sku", "units", "region", "channel")][0]
        ck.eq(harness.error_name(r), "bad_request", "%s %r: refused" % (op, fields))
        ck.check(bad in (r.get("error") or {}).get("message", ""),
                 "%s %r: the message names '%s': %r", op, fields, bad, r)
    lst = c.ok({"op": "admin_list"})
    ck.eq(lst["version"], 1, "misspelt fields changed nothing: still version 1")

    m = Model({"La": "ra", "Lb": "rb", "Lm": "ra"})
    m.rules = rules_of(c)
    pub = harness.Publisher(d, c)
    lock = threading.Lock()
    stop = threading.Event()
    rng = random.Random(16)

    # 2. load: stock and reservations while the rules change
    def load():
        lc = harness.Client(d.query_port, d=d)
        n = 0
        deadline = time.monotonic() + 8 * harness.TIME_FACTOR
        while not stop.is_set() and n < 200 and time.monotonic() < deadline:
            n += 1
            sku, loc = rng.choice(LOADED), rng.choice(("La", "Lb", "Lm"))
            q = rng.randint(0, 60)
            with lock:
                pub.send_payload(pub.next_batch("wms", [[2, sku, loc, 0, q]])[1])
                m.on_hand[(sku, loc)] = q
            if n % 3 == 0:
                r = rng.choice(REGIONS)
                rr = lc.reserve("L%d" % n, [(rng.choice(LOADED), r, rng.randint(1, 5))])
                if rr.get("ok") is True:
                    with lock:
                        m.reserved.setdefault("pending", []).append(("L%d" % n, rr))
        lc.close()

    t = threading.Thread(target=load)
    t.start()
    version = 1
    changes = [
        ("admin_set_buffer", {"sku": "B", "region": "rb", "channel": "web", "units": 3}),
        ("admin_set_buffer", {"sku": "B", "region": "rb", "units": 1, "percent": "12.5"}),
        ("admin_set_buffer", {"sku": "C", "channel": "app", "percent": 20}),
        ("admin_set_buffer", {"sku": "D", "units": 4}),
        ("admin_set_buffer", {"region": "rb", "channel": "app", "units": 5}),
        ("admin_set_buffer", {"channel": "web", "percent": "2.25"}),
        ("admin_set_buffer", {"units": 1}),
        ("admin_set_buffer", {"region": "ra", "units": 3, "percent": 5}),
        ("admin_remove_buffer", {"sku": "A"}),
        ("admin_set_buffer", {"sku": "A", "region": "ra", "channel": "web", "units": 7}),
        ("admin_remove_buffer", {"channel": "web"}),
    ]
    for i, (op, f) in enumerate(changes):
        r = change(c, op, "c%d" % i, **f)
        ck.check(r.get("ok") is True, "%s %r: %r", op, f, r)
        version += 1
        ck.eq(r.get("version"), version, "%s answers the next version" % op)
    # more changes while the load lasts (bounded), so they overlap it
    extra = 0
    while t.is_alive() and extra < 40:
        r = change(c, "admin_set_buffer", "x%d" % extra, sku="D", units=extra % 7)
        ck.check(r.get("ok") is True, "x%d under load: %r", extra, r)
        version += 1
        extra += 1
    h.log("%d more changes while the load ran", extra)
    stop.set()
    t.join(30 * harness.TIME_FACTOR)
    ck.check(not t.is_alive(), "the load thread ended")
    pub.wait_applied("wms")
    # Reservations granted under load: their quantities, read back.
    for rid, _ in m.reserved.pop("pending", []):
        res = c.get(rid)
        if res is not None and res.get("state") in ("held", "committed"):
            for ln in res["lines"]:
                sku, reg, qty = ((ln["sku"], ln["region"], ln["qty"])
                                 if isinstance(ln, dict) else ln[:3])
                m.reserved[(sku, reg)] = m.reserved.get((sku, reg), 0) + qty
    m.rules = rules_of(c)
    ck.eq(len(m.rules), 8, "eight rules after the changes: %r" % (m.rules,))
    got, want = answers(c, m)
    ck.eq(got, want, "ATP after the changes under load")

    # 3. invalid changes: stable codes, nothing changed
    bad = [
        ("admin_set_buffer", {"region": "rz", "units": 1}, "unknown_region"),
        ("admin_set_buffer", {"channel": "tv", "units": 1}, "unknown_channel"),
        ("admin_move_location", {"location": "Lq", "region": "rb"}, "unknown_location"),
        ("admin_move_location", {"location": "La", "region": "rz"}, "unknown_region"),
        ("admin_remove_buffer", {"sku": "Z", "region": "rb"}, "not_found"),
        ("admin_set_buffer", {"sku": "A", "percent": "150"}, "config"),
        ("admin_set_buffer", {"sku": "A", "percent": "1.234"}, "bad_request"),
        ("admin_set_buffer", {"sku": "A", "units": -1}, "bad_qty"),
        ("admin_set_buffer", {"sku": "A"}, "config"),
    ]
    for i, (op, f, code) in enumerate(bad):
        r = change(c, op, "bad%d" % i, **f)
        ck.eq(harness.error_code(r), E[code], "%s %r: %s (%r)" % (op, f, code, r))
    r = c.req({"op": "admin_set_buffer", "units": 1})
    ck.eq(harness.error_code(r), E["bad_request"], "no change_id: bad_request")
    r = change(c, "admin_set_buffer", "p", sku="A", percent="150")
    ck.check("out of range" in str(r),
             "the file's message for a percent out of range: %r" % (r,))
    ck.eq(c.ok({"op": "admin_list"})["version"], version, "no version from invalid changes")
    ck.eq(rules_of(c), m.rules, "no rule from invalid changes")

    # 4. idempotency
    r = change(c, "admin_set_buffer", "c3", sku="D", units=4)
    ck.eq((r.get("ok"), r.get("version"), r.get("replayed")), (True, 5, True),
          "the same change id and content: the original answer")
    r = change(c, "admin_set_buffer", "c3", sku="D", units=5)
    ck.eq(harness.error_code(r), E["conflict"], "the same id, other content: conflict")
    ck.eq(c.ok({"op": "admin_list"})["version"], version, "a retry makes no version")

    # 5. move La (ra) to rb while reservations are open in ra
    with lock:
        pub.send_payload(pub.next_batch("wms", [[2, "M", "La", 0, 40], [2, "M", "Lm", 0, 5]])[1])
        m.on_hand[("M", "La")] = 40
        m.on_hand[("M", "Lm")] = 5
    pub.wait_applied("wms")
    avail = c.atp("M", "ra")["atp"]
    ck.check(avail >= 30, "M/ra has room for a reservation: %d" % avail)
    r = c.reserve("move-1", [("M", "ra", 30)])
    ck.check(r.get("ok") is True, "reserved 30 of M in ra: %r" % (r,))
    m.reserved[("M", "ra")] = 30
    r = change(c, "admin_move_location", "mv1", location="La", region="rb")
    version += 1
    ck.eq((r.get("ok"), r.get("version")), (True, version), "La moved to rb: %r" % (r,))
    m.region_of["La"] = "rb"
    got, want = answers(c, m)
    ck.eq(got, want, "ATP after the move")
    ck.eq(want[("M", "ra", None)], (5, 30, 0, 25), "the model: ra keeps the reservation, short")
    hist = c.ok({"op": "admin_history", "after": version - 1})["changes"]
    ck.eq([(x["op"], x["who"], x["before"], x["after"], x["change_id"]) for x in hist],
          [("move_location", "anonymous", "region ra", "region rb", "mv1")], "the move's record")
    full = c.ok({"op": "admin_history", "limit": 1000})
    ck.eq(len(full["changes"]), version, "one record per version")

    # 6. kill -9, restart (positions come from the last snapshot: the
    #    test's publisher does not replay)
    ck.check(c.snapshot().get("ok") is True, "snapshot stored")
    before = c.ok({"op": "admin_list"})
    d.kill9()
    d.start()
    c.close()
    c = harness.Client(d.query_port, d=d)
    ck.eq(c.ok({"op": "admin_list"}), before, "the state after kill -9")
    ck.eq(c.ok({"op": "admin_history", "limit": 1000}), full, "the history after kill -9")
    got, want = answers(c, m)
    ck.eq(got, want, "ATP after kill -9 and a restart")
    r = change(c, "admin_move_location", "mv1", location="La", region="rb")
    ck.eq((r.get("version"), r.get("replayed")), (version, True), "mv1 replayed after restart")
    with open(d.stderr_path, "rb") as fh:
        text = fh.read().decode("utf-8", "replace")
    ck.check("the stored admin state (version %d) is in force" % version in text,
             "the start-up says the stored state wins")

    # 7. SIGHUP: unchanged file -> the state stays; buffers edited -> the file's
    pub.close()
    log = Log(d)
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("admin state (version %d) stays" % version, "SIGHUP, file unchanged")
    ck.eq(c.ok({"op": "admin_list"})["version"], version, "SIGHUP unchanged: same version")
    ck.eq(rules_of(c), m.rules, "SIGHUP unchanged: same rules")
    d.cfg["buffers"] = [{"units": 6}]
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("are the admin state's version", "SIGHUP, buffers edited")
    version += 1
    lst = c.ok({"op": "admin_list"})
    ck.eq((lst["version"], [(b["units"], b["sku"]) for b in lst["buffers"]]),
          (version, [(6, None)]), "SIGHUP with edited buffers: the file's, a new version")
    ck.eq({l["id"]: l["region"] for l in lst["locations"]}["La"], "ra",
          "the file's regions came along (La back in ra)")
    m.region_of["La"] = "ra"
    m.rules = rules_of(c)
    last = c.ok({"op": "admin_history", "after": version - 1})["changes"]
    ck.eq([(x["op"], x["who"]) for x in last], [("reload", "sighup")], "SIGHUP's record")
    got, want = answers(c, m)
    ck.eq(got, want, "ATP after SIGHUP")

    # 8. restart with the file's buffers edited: the file wins
    r = change(c, "admin_set_buffer", "c-late", sku="C", units=9)
    version += 1
    ck.eq(r.get("version"), version, "a change after SIGHUP")
    d.stop()
    d.start()
    c.close()
    c = harness.Client(d.query_port, d=d)
    ck.eq(c.ok({"op": "admin_list"})["version"], version, "restart, file unchanged: stored wins")
    ck.eq(len(rules_of(c)), 2, "the change after SIGHUP survived a restart")
    d.stop()
    d.cfg["buffers"] = [{"units": 8}]
    d.start()
    c.close()
    c = harness.Client(d.query_port, d=d)
    version += 1
    lst = c.ok({"op": "admin_list"})
    ck.eq((lst["version"], [b["units"] for b in lst["buffers"]]), (version, [8]),
          "restart with edited buffers: the file's win, a new version")

    # 9. export -> --check-config, and laid into the file
    exp = c.ok({"op": "admin_export"})
    ck.eq(exp["version"], version, "export's version")
    path = os.path.join(d.dir, "exported.yaml")
    with open(path, "w") as fh:
        fh.write(exp["config"])
    p = subprocess.run([h.atpd_bin, "--check-config", path],
                       capture_output=True, text=True, timeout=30)
    ck.eq(p.returncode, 0, "--check-config accepts the export: %s%s" % (p.stdout, p.stderr))

    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "admin_ops")
