#!/usr/bin/python3
"""test_bundles.py - bundles (kits), checked against an independent model
written here from the docs only (docs/PROTOCOL.md "Bundles", "The ATP
answer", "Run-time administration"; docs/CONFIG.md "bundles"; docs/HTTP.md;
docs/openapi.yaml).

A bundle SKU is answered from its components: per (region, channel)

    atp      = min over components of floor(component ATP / qty)
    supply   = min over components of floor(component supply / qty)
    reserved = buffer = shortfall = 0
    rule     = the limiting component's rule
    limiting = the first component (definition order) giving the min ATP
    stale    = any component's stale

and reserving it reserves qty x each component, merged with the request's
other lines, all or nothing. The model knows the stock per (sku, location)
this test publishes, the buffer rules (several per channel / region), the
bundle definitions in force and every reservation atpd granted.

1. Bundles from the file and at run time: admin_set_bundle (add, replace in
   its place, replay, conflict), admin_remove_bundle (not_found), admin_list,
   admin_history (`what`, `before`, `after`), admin_export (accepted by
   --check-config, and a second atpd started from it has the same bundles),
   HTTP PUT /v1/admin/bundles and POST /v1/admin/bundles/remove; bad
   definitions (nesting, self, a SKU twice, qty 0 / 1,000,001, 17 and 0
   components, a bundle SKU that is a component of another bundle, bad SKUs)
   refused with the documented codes and changing nothing; a configuration
   file with a bad bundle refused at start (--check-config too, with a
   line of the bundles section); a SIGHUP with the file's bundles edited:
   the file wins as a whole (audited `reload` by `sighup`), the bundles
   added and removed published in every region. Stock reported under a
   bundle's SKU is kept but not answered (and answers again once the
   bundle is removed); scan lists bundles (removed ones with zeros);
   pickup's region line is the kit answer.
2. The documentation's example with its literal numbers, then a seeded
   random sequence (ATP_TEST_SEED) of reserves (bundles, components, mixed),
   releases, commits, stock changes, definition changes and replays; every
   atp, regions, cart, scan answer and every reply against the model.
3. Races on the last units: 3 nng clients and 1 HTTP client reserving
   bundles and their components; then a bank check per component row.
4. Refused combinations: partial, pinned, split bundle lines (bad_request),
   qty x component qty > 10^15 (bad_qty, with `line`), too many component
   lines (too_many_lines; only cases that are too many whether lines are
   counted before or after merging); backorder on a bundle line uses the
   components' budgets.
5. kill -9 with bundle reservations open (durability sync): reservations,
   replays, bundle answers and a run-time bundle all back.
6. The change feed: component changes publish the bundle's topic in kits,
   admin_set_bundle / admin_remove_bundle publish in every region,
   out_of_stock / back_in_stock / low_stock follow the kits.
7. explain of a bundle SKU: exact shape and numbers (nng and HTTP).

Loopback only; every wait bounded; atpd started here, stopped by pid.
"""

import os
import random
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import admin_util as A  # noqa: E402
import feed_util as F  # noqa: E402
import http_util as H  # noqa: E402
import model_util as M  # noqa: E402
import resv_util as U  # noqa: E402
from harness import TestFailure, error_name  # noqa: E402
from model_util import ALL, BO_KEYS, CHANNELS, REGIONS, RACERS, obj_of  # noqa: E402

# model_util's layout; north is fed by a source that never speaks
STALE_REGIONS = {"north"}
MAX_LINES = 20
EXTRA_KEYS = ("limiting",) + BO_KEYS   # keys compared when atpd sends them

FILE_RULES = [
    {"sku": "K-A", "channel": "web", "units": 1},
    {"sku": "K-B", "region": "west", "percent": 20},
    {"sku": "K-D", "region": "east", "channel": "app", "units": 2},
    {"sku": "K-C", "channel": "app", "units": 1},
    {"sku": "R-A", "units": 1},
    {"sku": "F-KIT", "low_stock": 2},
    {"sku": "BO-A", "backorder": 5},
]
FILE_BUNDLES = [
    ("GIFT-BOX", [("MUG", 2), ("TEA", 1)]),
    ("K-DUO", [("K-A", 2), ("K-B", 1)]),
    ("K-TRIO", [("K-C", 1), ("K-B", 3), ("K-D", 2)]),
    ("R-KIT", [("R-A", 2), ("R-B", 1)]),
    ("R-KIT2", [("R-B", 1), ("R-C", 1)]),
    ("BIG16", [("L-%02d" % i, 1) for i in range(1, 17)]),
    ("HUGE", [("H-A", 1000000), ("H-B", 1)]),
    ("BO-KIT", [("BO-A", 2), ("BO-B", 1)]),
]

RND_COMPS = ["K-A", "K-B", "K-C", "K-D"]
RND_BUNDLES = ["K-DUO", "K-TRIO", "K-RT"]
RND_SKUS = RND_COMPS + RND_BUNDLES
RACE_COMPS = ["R-A", "R-B", "R-C"]
RACE_BUNDLES = ["R-KIT", "R-KIT2"]
RACE_REGIONS = ["east", "west"]


def bundles_yaml(bundles):
    return [{"sku": s, "components": [{"sku": c, "qty": q} for c, q in comps]}
            for s, comps in bundles]


def comps_text(comps):
    """docs/PROTOCOL.md, admin_history: "A":2,"B":1"""
    return ",".join('"%s":%d' % (c, q) for c, q in comps)


# ---------------------------------------------------------------------------
# the model


class Model(M.RowModel):
    """RowModel (north stale) plus the bundle definitions in force and the
    SKUs atpd has seen."""

    def __init__(self, rules, bundles):
        super().__init__(rules, STALE_REGIONS)
        self.bundles = {}    # bundle sku -> [(component, qty)], admin_list order
        for s, comps in bundles:
            self.bundles[s] = list(comps)
        self.known = set(s for s, _ in bundles)   # SKUs atpd has seen (scan lists them)

    def answer(self, sku, region, channel):
        if sku not in self.bundles:
            return self.row(sku, region, channel)
        comps = self.bundles[sku]
        rows = [(c, q, self.row(c, region, channel)) for c, q in comps]
        kits = [r["atp"] // q for c, q, r in rows]
        atp = min(kits)
        lim = comps[kits.index(atp)][0]
        return {"sku": sku, "region": region, "channel": channel, "atp": atp,
                "supply": min(r["supply"] // q for c, q, r in rows), "reserved": 0,
                "buffer": 0, "rule": rows[kits.index(atp)][2]["rule"], "shortfall": 0,
                "stale": any(r["stale"] for c, q, r in rows), "limiting": lim}

    def threshold(self, sku, region, channel):
        return self.rule(sku, region, channel)[2]

    # ---- reservations
    @staticmethod
    def merge(lines):
        order, qty = [], {}
        for sku, reg, q in [tuple(l[:3]) for l in lines]:
            if (sku, reg) not in qty:
                qty[(sku, reg)] = 0
                order.append((sku, reg))
            qty[(sku, reg)] += q
        return [(s, r, qty[(s, r)]) for s, r in order]

    def expand(self, lines):
        """The request's lines with every bundle line replaced by its
        component lines (definition order), merged per (sku, region) in
        order of first appearance."""
        out = []
        for l in lines:
            sku, reg, q = l[0], l[1], l[2]
            if sku in self.bundles:
                out.extend([c, reg, q * cq] for c, cq in self.bundles[sku])
            else:
                out.append([sku, reg, q])
        return self.merge(out)

    def asked(self, channel, lines, backorder):
        return (channel, tuple(sorted(self.merge(lines))), bool(backorder))

    def decide(self, channel, lines, backorder=False):
        """("granted", [reservation lines]) or ("refused", [refusal lines])."""
        res, refusal, whole = [], [], True
        for sku, reg, q in self.expand(lines):
            a = self.row(sku, reg, channel)
            avail = a["atp"] + (a.get("backorder_left", 0) if backorder else 0)
            refusal.append({"sku": sku, "region": reg, "qty": q, "available": avail,
                            "ok": q <= avail})
            ln = {"sku": sku, "region": reg, "qty": q, "consumed": 0, "released": 0}
            if q > a["atp"]:
                ln["backordered"] = q - a["atp"]
            res.append(ln)
            whole = whole and q <= avail
        return ("granted", res) if whole else ("refused", refusal)

    def store(self, rid, channel, lines, backorder, res_lines):
        self.resv[rid] = {"id": rid, "state": "held", "channel": channel,
                          "lines": [dict(l) for l in res_lines],
                          "asked": self.asked(channel, lines, backorder),
                          "request": ([list(l) for l in lines], bool(backorder)),
                          "defs": {l[0]: list(self.bundles[l[0]]) for l in lines
                                   if l[0] in self.bundles},
                          "order_ref": None}
        for l in res_lines:
            self.known.add(l["sku"])


def refusal_of(lines):
    return [{k: l.get(k) for k in ("sku", "region", "qty", "available", "ok")}
            if isinstance(l, dict) else l for l in lines or []]


def pick(a, want):
    """a's keys of want, plus limiting / backorder keys a has (so that an
    extra one shows as a difference)."""
    return M.pick(a, want, EXTRA_KEYS)


# ---------------------------------------------------------------------------
# the test's side of atpd


class T(M.Driver):
    """M.Driver for kits: limiting compared, stock makes a SKU known, the
    admin changes of bundles."""

    extra_keys = EXTRA_KEYS

    def __init__(self, h, ck, d, c, feed, model):
        super().__init__(h, ck, d, c, feed, model)
        self.version = None

    def stock(self, changes):
        """[(sku, loc, on_hand)]: published, applied, in the model."""
        super().stock(changes)
        for s, _, _ in changes:
            self.m.known.add(s)

    # ---- answers
    def check_regions(self, sku, channel, where):
        r = self.c.req({"op": "regions", "sku": sku, "channel": channel})
        want = [self.m.answer(sku, reg, channel) for reg in REGIONS]
        got = [pick(a, w) for a, w in zip(r.get("regions") or [], want)]
        self.ck.eq((r.get("ok"), len(r.get("regions") or [])), (True, len(REGIONS)),
                   "%s: regions %s/%s answered" % (where, sku, channel))
        self.ck.eq(got, want, "%s: regions %s/%s" % (where, sku, channel))

    def check_cart(self, lines, channel, where, http=None):
        body = {"channel": channel, "lines": [list(l) for l in lines]}
        if http is None:
            r = self.c.req(dict(body, op="cart"))
        else:
            _, _, r = http.call("POST", "/v1/availability/cart", body)
        want, got = [], []
        # lines naming the same (sku, region) are checked against their sum;
        # a bundle line and its components' lines are not added up
        total = {}
        for s, reg, q in lines:
            total[(s, reg)] = total.get((s, reg), 0) + q
        for (s, reg, q), a in zip(lines, r.get("lines") or []):
            w = dict(self.m.answer(s, reg, channel), qty=q)
            w["available"] = total[(s, reg)] <= w["atp"]
            want.append(w)
            got.append(pick(a, w))
        self.ck.eq((r.get("ok"), len(r.get("lines") or [])), (True, len(lines)),
                   "%s: cart answered every line" % where)
        self.ck.eq(got, want, "%s: cart %s %r" % (where, channel, lines))
        self.ck.eq(r.get("available"), all(w["available"] for w in want),
                   "%s: cart available" % where)

    def check_scan(self, region, skus, where):
        _, _, items, _ = F.scan_all(self.c, region)
        for s in skus:
            if s not in self.m.known:
                continue
            it = items.get(s)
            if not self.ck.check(it is not None, "%s: scan %s lists %s", where, region, s):
                continue
            ans = [self.m.answer(s, region, ch) for ch in CHANNELS]
            want = {"supply": ans[0]["supply"], "reserved": ans[0]["reserved"],
                    "shortfall": ans[0]["shortfall"], "stale": ans[0]["stale"],
                    "channels": [{"channel": a["channel"], "atp": a["atp"], "buffer": a["buffer"],
                                  "rule": a["rule"]} for a in ans]}
            got = {k: it.get(k) for k in ("supply", "reserved", "shortfall", "stale")}
            got["channels"] = [{k: e.get(k) for k in ("channel", "atp", "buffer", "rule")}
                               for e in it.get("channels") or []]
            self.ck.eq(got, want, "%s: scan %s item %s" % (where, region, s))

    # ---- reservations
    def send_reserve(self, rid, lines, channel, backorder=None, http=None, extra=None):
        body = {"id": rid, "channel": channel, "lines": [list(l) for l in lines]}
        if backorder is not None:
            body["backorder"] = backorder
        if extra:
            body.update(extra)
        if http is not None:
            st, _, rep = http.call("POST", "/v1/reservations", body)
            return rep, st
        return self.c.req(dict(body, op="reserve")), None

    def reserve(self, rid, lines, channel="default", backorder=None, where="", http=None):
        """A reserve the model judges first; returns the reply."""
        ck, m = self.ck, self.m
        bo = bool(backorder)
        where = "%s: reserve %s %r ch=%s%s%s" % (where, rid, lines, channel,
                                                 " backorder" if bo else "",
                                                 " (HTTP)" if http else "")
        if rid in m.resv:
            same = m.asked(channel, lines, bo) == m.resv[rid]["asked"]
            rep, st = self.send_reserve(rid, lines, channel, backorder, http)
            if not same:
                ck.eq(error_name(rep), "conflict", where + " (another request: conflict)")
                if http is not None:
                    ck.eq(st, 409, where + " HTTP status of a conflict")
                return rep
            if not ck.eq((rep.get("ok"), rep.get("granted"), rep.get("replayed")),
                         (True, True, True), where + " (the same request: replayed; reply %r)"
                         % (rep,)):
                return rep
            ck.eq(obj_of(rep.get("reservation")), m.obj(rid), where + " replay: reservation")
            if http is not None:
                ck.eq(st, 200, where + " replay: HTTP status")
            return rep
        exp = m.decide(channel, lines, bo)
        rep, st = self.send_reserve(rid, lines, channel, backorder, http)
        self.n_reserves += 1
        if exp[0] == "refused":
            if not ck.eq((rep.get("ok"), rep.get("granted"), rep.get("id")), (True, False, rid),
                         where + ": refused"):
                if rep.get("granted") is True:   # keep the model comparable
                    res = rep.get("reservation") or {}
                    m.store(rid, channel, lines, bo, [
                        {k: v for k, v in l.items() if k in ("sku", "region", "qty", "consumed",
                                                              "released", "backordered")}
                        for l in res.get("lines") or []])
                return rep
            ck.eq(refusal_of(rep.get("lines")), exp[1], where + ": refusal lines")
            if http is not None:
                ck.eq(st, 200, where + ": HTTP status of a refusal")
            return rep
        if not ck.eq((rep.get("ok"), rep.get("granted"), rep.get("replayed")),
                     (True, True, False), where + ": granted (reply %r)" % (rep,)):
            return rep
        m.store(rid, channel, lines, bo, exp[1])
        ck.eq(obj_of(rep.get("reservation")), m.obj(rid), where + ": reservation")
        if http is not None:
            ck.eq(st, 201, where + ": HTTP status of a grant")
        return rep

    # ---- admin
    def cur_version(self):
        if self.version is None:
            self.version = self.c.ok({"op": "admin_list"})["version"]
        return self.version

    def set_bundle(self, cid, sku, comps, where, http=None):
        """A change that must succeed: version + 1; the model follows."""
        v0 = self.cur_version()
        body = {"change_id": cid, "sku": sku, "components": [[c, q] for c, q in comps]}
        if http is not None:
            st, _, rep = http.call("PUT", "/v1/admin/bundles", body)
            self.ck.eq(st, 200, where + ": PUT /v1/admin/bundles status (%r)" % (rep,))
        else:
            rep = self.c.req(dict(body, op="admin_set_bundle"))
        ok = self.ck.eq((rep.get("ok"), rep.get("replayed"), rep.get("version")),
                        (True, False, v0 + 1), "%s: set_bundle %s %r" % (where, sku, comps))
        if rep.get("ok") is True:
            self.version = rep.get("version")
            self.m.bundles[sku] = list(comps)
            self.m.known.add(sku)
        return ok

    def remove_bundle(self, cid, sku, where, http=None):
        v0 = self.cur_version()
        body = {"change_id": cid, "sku": sku}
        if http is not None:
            st, _, rep = http.call("POST", "/v1/admin/bundles/remove", body)
            self.ck.eq(st, 200, where + ": POST /v1/admin/bundles/remove status (%r)" % (rep,))
        else:
            rep = self.c.req(dict(body, op="admin_remove_bundle"))
        ok = self.ck.eq((rep.get("ok"), rep.get("replayed"), rep.get("version")),
                        (True, False, v0 + 1), "%s: remove_bundle %s" % (where, sku))
        if rep.get("ok") is True:
            self.version = rep.get("version")
            self.m.bundles.pop(sku, None)
        return ok

    def check_list(self, where):
        lst = self.c.ok({"op": "admin_list"})
        want = [{"sku": s, "components": [[c, q] for c, q in comps]}
                for s, comps in self.m.bundles.items()]
        self.ck.eq(lst.get("bundles"), want, "%s: admin_list bundles" % where)
        self.ck.eq(lst.get("version"), self.cur_version(), "%s: admin version" % where)
        return lst

    def last_history(self):
        hist = self.c.ok({"op": "admin_history", "after": max(0, self.cur_version() - 1)})
        return (hist.get("changes") or [{}])[-1]


# ---------------------------------------------------------------------------
# 1. a configuration file with a bad bundle


def bad_config(h, ck, cfg):
    cases = [
        ("nesting", [("BX-1", [("X-1", 1)]), ("BX-2", [("BX-1", 1), ("X-2", 1)])], "BX-1"),
        ("self", [("BX-1", [("BX-1", 1), ("X-1", 1)])], "BX-1"),
        ("a SKU twice", [("BX-1", [("X-1", 1), ("X-1", 2)])], "X-1"),
        ("qty 0", [("BX-1", [("X-1", 0)])], "qty"),
        ("qty 1,000,001", [("BX-1", [("X-1", 1000001)])], "qty"),
        ("17 components", [("BX-1", [("X-%d" % i, 1) for i in range(17)])], "components"),
        ("no components", [("BX-1", [])], "components"),
        ("a bundle SKU that is a component of another",
         [("BX-1", [("X-1", 1)]), ("X-1", [("X-2", 1)])], "X-1"),
    ]
    for i, (what, bundles, needle) in enumerate(cases):
        path, text = M.bad_config_file(h, cfg, "bad-bundle-%d.yaml" % i, "bad-data-%d" % i,
                                       bundles=bundles_yaml(bundles))
        lines = text.split("\n")
        first = [n + 1 for n, l in enumerate(lines) if l.startswith("bundles:")][0]
        for how in ["--check-config"] + (["start"] if i in (0, 4, 7) else []):
            err = M.config_refused(h, ck, path, how, "file with a bundle (%s)" % what)
            m = re.search(r"bad-bundle-%d\.yaml:(\d+):\d+: " % i, err)
            ck.check(m is not None and int(m.group(1)) > first and needle in err,
                     "file with a bundle (%s): %s names a line of the bundles section "
                     "(after line %d) and %r: %s", what, how, first, needle, err.strip()[-600:])
        ck.check(not os.path.exists(os.path.join(h.tmp, "bad-data-%d" % i, "data.mdb")),
                 "file with a bundle (%s): no store created", what)
    # the limits themselves are accepted: 16 components of 1,000,000
    good = dict(cfg, bundles=bundles_yaml([("BX-16", [("X-%d" % i, 1000000)
                                                      for i in range(16)])]))
    path = os.path.join(h.tmp, "good-bundle.yaml")
    with open(path, "w") as f:
        f.write(harness.to_yaml(good) + "\n")
    r = subprocess.run([h.atpd_bin, "--check-config", path], capture_output=True, text=True,
                       cwd=h.tmp, timeout=30 * harness.TIME_FACTOR)
    ck.eq(r.returncode, 0, "a bundle of 16 components of qty 1,000,000 is accepted (%s)"
          % r.stderr.strip()[-300:])


# ---------------------------------------------------------------------------
# 2a. the documentation's example


def doc_example(t, where="doc example"):
    ck, c = t.ck, t.c
    t.stock([("MUG", "E1", 8), ("TEA", "E1", 5)])
    t.reserve("doc-0", [["MUG", "east", 1]], "web", where=where)
    a = c.atp("GIFT-BOX", "east", "web")
    ck.eq(a, {"ok": True, "sku": "GIFT-BOX", "region": "east", "channel": "web", "atp": 3,
              "supply": 4, "reserved": 0, "buffer": 0, "rule": "global", "shortfall": 0,
              "stale": False, "limiting": "MUG"},
          where + ": GIFT-BOX@east/web as the docs show it (MUG ATP 7, TEA 5)")
    for reg in REGIONS:
        for ch in CHANNELS:
            t.check_row("GIFT-BOX", reg, ch, where)
    a = c.atp("GIFT-BOX", "west", "web")
    ck.eq((a.get("atp"), a.get("limiting")), (0, "MUG"),
          where + ": west, every component 0: the first in the definition limits")
    a = c.atp("GIFT-BOX", "north", "web")
    ck.eq(a.get("stale"), True, where + ": north (its source never spoke): the kit is stale")
    # a cart checks each line on its own: 3 kits (6 MUG) and 7 MUG are each available
    t.check_cart([["GIFT-BOX", "east", 3], ["MUG", "east", 7]], "web", where)
    r = c.ok({"op": "cart", "channel": "web",
              "lines": [["GIFT-BOX", "east", 3], ["MUG", "east", 7]]})
    ck.eq([l.get("available") for l in r.get("lines") or []] + [r.get("available")],
          [True, True, True], where + ": a cart does not add a kit line and its component's")
    t.check_cart([["GIFT-BOX", "east", 4], ["TEA", "east", 5]], "web", where)
    # a reserve does add them: 6 + 7 MUG of 7
    r = t.reserve("doc-x", [["GIFT-BOX", "east", 3], ["MUG", "east", 7]], "web", where=where)
    ck.eq(refusal_of(r.get("lines")),
          [{"sku": "MUG", "region": "east", "qty": 13, "available": 7, "ok": False},
           {"sku": "TEA", "region": "east", "qty": 3, "available": 5, "ok": True}],
          where + ": the refusal lists the merged component lines")
    r = t.reserve("doc-1", [["GIFT-BOX", "east", 2]], "web", where=where)
    ck.eq([(l.get("sku"), l.get("region"), l.get("qty")) for l in
           (r.get("reservation") or {}).get("lines") or []],
          [("MUG", "east", 4), ("TEA", "east", 2)],
          where + ": GIFT-BOX x2 holds MUG 4 and TEA 2")
    a = c.atp("GIFT-BOX", "east", "web")
    ck.eq((a.get("atp"), a.get("supply"), a.get("limiting")), (1, 4, "MUG"),
          where + ": after it: MUG 3, TEA 3: 1 kit (supply still 4)")
    a = c.atp("MUG", "east", "web")
    ck.eq((a.get("atp"), a.get("reserved"), "limiting" in a), (3, 5, False),
          where + ": MUG itself: reserved 5, ATP 3, no limiting key")
    # ties: the first in the definition
    t.release("doc-0", where=where)
    t.reserve("doc-2", [["TEA", "east", 1]], "web", where=where)   # MUG 4 (2 kits), TEA 2
    a = c.atp("GIFT-BOX", "east", "web")
    ck.eq((a.get("atp"), a.get("limiting")), (2, "MUG"), where + ": a tie 2/2: MUG (first)")
    t.reserve("doc-3", [["TEA", "east", 1]], "web", where=where)   # TEA 1
    a = c.atp("GIFT-BOX", "east", "web")
    ck.eq((a.get("atp"), a.get("limiting")), (1, "TEA"), where + ": TEA 1: TEA limits")
    # own stock of a bundle SKU is kept but not answered
    t.stock([("GIFT-BOX", "E1", 100)])
    t.check_row("GIFT-BOX", "east", "web", where + ": 100 reported under GIFT-BOX itself")
    # regions over nng and HTTP, pickup's region line
    http = H.Http(t.d)
    try:
        for ch in CHANNELS:
            t.check_regions("GIFT-BOX", ch, where)
        st, _, doc = http.call("GET", "/v1/availability/GIFT-BOX/east?channel=web")
        want = t.m.answer("GIFT-BOX", "east", "web")
        ck.eq((st, pick(doc, want)), (200, want), where + ": GET /v1/availability/GIFT-BOX/east")
        st, _, doc = http.call("GET", "/v1/availability/GIFT-BOX?channel=app")
        want = [t.m.answer("GIFT-BOX", reg, "app") for reg in REGIONS]
        ck.eq((st, [pick(a, w) for a, w in zip(doc.get("regions") or [], want)]), (200, want),
              where + ": GET /v1/availability/GIFT-BOX")
        t.check_cart([["GIFT-BOX", "east", 1], ["K-DUO", "west", 1], ["MUG", "east", 4]],
                     "web", where + " (HTTP)", http=http)
    finally:
        http.close()
    x = c.ok({"op": "pickup", "sku": "GIFT-BOX", "region": "east", "channel": "web"})
    want = t.m.answer("GIFT-BOX", "east", "web")
    ck.eq(pick(x, want), want, where + ": pickup's region line is the kit answer")
    ck.eq([(l.get("location"), l.get("reserved"), l.get("pickup_atp"))
           for l in x.get("locations") or []], [("E1", 0, 0), ("E2", 0, 0)],
          where + ": pickup: the locations hold nothing of a kit")
    for rid in ("doc-1", "doc-2", "doc-3"):
        t.release(rid, where=where)


# ---------------------------------------------------------------------------
# 1. administration


BAD_DEFS = [
    # (what, body fields, error name)
    ("nesting (a component is a bundle)", {"sku": "ADM-BAD", "components": [["K-DUO", 1]]},
     "config"),
    ("nesting among others", {"sku": "ADM-BAD", "components": [["A-1", 1], ["GIFT-BOX", 2]]},
     "config"),
    ("itself", {"sku": "ADM-BAD", "components": [["ADM-BAD", 1], ["A-1", 1]]}, "config"),
    ("a SKU twice", {"sku": "ADM-BAD", "components": [["A-1", 1], ["A-2", 1], ["A-1", 2]]},
     "config"),
    ("a component of K-DUO as a bundle", {"sku": "K-A", "components": [["A-1", 1]]}, "config"),
    ("a component of GIFT-BOX as a bundle", {"sku": "TEA", "components": [["A-1", 1]]},
     "config"),
    ("qty 0", {"sku": "ADM-BAD", "components": [["A-1", 0]]}, "bad_qty"),
    ("qty 1,000,001", {"sku": "ADM-BAD", "components": [["A-1", 1], ["A-2", 1000001]]},
     "bad_qty"),
    ("qty -1", {"sku": "ADM-BAD", "components": [["A-1", -1]]}, "bad_qty"),
    ("17 components", {"sku": "ADM-BAD", "components": [["C-%d" % i, 1] for i in range(17)]},
     "bad_request"),
    ("no components", {"sku": "ADM-BAD", "components": []}, "bad_request"),
    ("components missing", {"sku": "ADM-BAD"}, "bad_request"),
    ("components a string", {"sku": "ADM-BAD", "components": "A-1"}, "bad_request"),
    ("a pair of one", {"sku": "ADM-BAD", "components": [["A-1"]]}, "bad_request"),
    ("a pair of three", {"sku": "ADM-BAD", "components": [["A-1", 1, 2]]}, "bad_request"),
    ("qty a string", {"sku": "ADM-BAD", "components": [["A-1", "2"]]}, "bad_request"),
    ("qty a float", {"sku": "ADM-BAD", "components": [["A-1", 1.5]]}, "bad_request"),
    ("an empty SKU", {"sku": "", "components": [["A-1", 1]]}, "bad_sku"),
    ("a SKU of 65 bytes", {"sku": "S" * 65, "components": [["A-1", 1]]}, "bad_sku"),
    ("a component SKU with a control character",
     {"sku": "ADM-BAD", "components": [["A\x01", 1]]}, "bad_sku"),
    ("an empty component SKU", {"sku": "ADM-BAD", "components": [["", 1]]}, "bad_sku"),
]


def admin(t, where="admin"):
    ck, c, m = t.ck, t.c, t.m
    lst = t.check_list(where + " (the file's)")
    ck.eq([b.get("sku") for b in lst.get("bundles") or []], [s for s, _ in FILE_BUNDLES],
          where + ": the file's bundles in file order")
    t.stock([("A-1", "E1", 7), ("A-2", "E1", 4), ("A-3", "E1", 9), ("A-1", "W1", 3),
             ("A-2", "W1", 3)])
    t.check_row("ADM-KIT", "east", "web", where + " (not a bundle yet: an unknown SKU)")
    comps = [("A-2", 1), ("A-1", 2)]
    t.set_bundle("adm-1", "ADM-KIT", comps, where + ": add")
    for reg in REGIONS:
        for ch in CHANNELS:
            t.check_row("ADM-KIT", reg, ch, where + " added")
    a = c.atp("ADM-KIT", "east", "default")
    ck.eq((a.get("atp"), a.get("limiting")), (3, "A-1"),
          where + ": ADM-KIT = A-2 x1 (4) + A-1 x2 (7: 3 kits): 3, A-1 limits")
    t.check_list(where + " added (appended)")
    rec = t.last_history()
    ck.eq({k: rec.get(k) for k in ("version", "change_id", "who", "op", "what", "before",
                                    "after")},
          {"version": t.version, "change_id": "adm-1", "who": "anonymous", "op": "set_bundle",
           "what": 'set_bundle sku="ADM-KIT" components=%s' % comps_text(comps),
           "before": "", "after": "components %s" % comps_text(comps)},
          where + ": the audit record of the addition (components in the order given)")
    # replay, conflict
    rep = c.req({"op": "admin_set_bundle", "change_id": "adm-1", "sku": "ADM-KIT",
                 "components": [list(x) for x in comps]})
    ck.eq((rep.get("ok"), rep.get("replayed"), rep.get("version")), (True, True, t.version),
          where + ": the same change again: replayed")
    rep = c.req({"op": "admin_set_bundle", "change_id": "adm-1", "sku": "ADM-KIT",
                 "components": [["A-2", 1], ["A-1", 3]]})
    ck.eq(error_name(rep), "conflict", where + ": the change id with other components")
    # a reservation of the old definition, replayed after a replacement
    r = t.reserve("adm-r1", [["ADM-KIT", "east", 2]], "app", where=where)
    ck.eq([(l.get("sku"), l.get("qty")) for l in (r.get("reservation") or {}).get("lines") or []],
          [("A-2", 2), ("A-1", 4)], where + ": 2 kits hold A-2 2 and A-1 4")
    comps2 = [("A-1", 1), ("A-3", 1)]
    t.set_bundle("adm-2", "ADM-KIT", comps2, where + ": replace")
    lst = t.check_list(where + " replaced (in its place)")
    rec = t.last_history()
    ck.eq({k: rec.get(k) for k in ("op", "what", "before", "after")},
          {"op": "set_bundle", "what": 'set_bundle sku="ADM-KIT" components=%s'
           % comps_text(comps2), "before": "components %s" % comps_text(comps),
           "after": "components %s" % comps_text(comps2)},
          where + ": the audit record of the replacement")
    for ch in CHANNELS:
        t.check_regions("ADM-KIT", ch, where + " replaced")
    t.get("adm-r1", where + ": the open reservation stays as it is")
    t.reserve("adm-r1", [["ADM-KIT", "east", 1], ["ADM-KIT", "east", 1]], "app",
              where=where + " replay after the replacement")
    r = t.reserve("adm-r1", [["A-2", "east", 2], ["A-1", "east", 4]], "app",
                  where=where + " the expanded lines under the same id")
    ck.eq(error_name(r), "conflict", where + ": the components asked directly: conflict")
    r = t.reserve("adm-r1", [["ADM-KIT", "east", 3]], "app", where=where + " 3 kits")
    ck.eq(error_name(r), "conflict", where + ": another quantity: conflict")
    r = t.reserve("adm-r2", [["ADM-KIT", "east", 2]], "app", where=where + " new definition")
    ck.eq([(l.get("sku"), l.get("qty")) for l in (r.get("reservation") or {}).get("lines") or []],
          [("A-1", 2), ("A-3", 2)], where + ": the new definition is reserved")
    # remove
    t.remove_bundle("adm-3", "ADM-KIT", where + ": remove")
    t.check_list(where + " removed")
    rec = t.last_history()
    ck.eq({k: rec.get(k) for k in ("op", "what", "before", "after")},
          {"op": "remove_bundle", "what": 'remove_bundle sku="ADM-KIT"',
           "before": "components %s" % comps_text(comps2), "after": ""},
          where + ": the audit record of the removal")
    a = c.atp("ADM-KIT", "east", "web")
    ck.eq(("limiting" in a, a.get("atp"), a.get("supply")), (False, 0, 0),
          where + ": removed: an ordinary SKU without rows (no limiting, zeros)")
    t.check_scan("east", ["ADM-KIT"], where + " removed")
    t.get("adm-r2", where + ": removing the definition keeps the reservation")
    t.reserve("adm-r2", [["ADM-KIT", "east", 2]], "app", where=where + " replay after removal")
    v = t.version
    rep = c.req({"op": "admin_remove_bundle", "change_id": "adm-4", "sku": "ADM-KIT"})
    ck.eq(error_name(rep), "not_found", where + ": removing it again: not_found")
    rep = c.req({"op": "admin_remove_bundle", "change_id": "adm-5", "sku": "MUG"})
    ck.eq(error_name(rep), "not_found", where + ": removing a component (no bundle): not_found")
    rep = c.req({"op": "admin_set_bundle", "change_id": "", "sku": "ADM-KIT",
                 "components": [["A-1", 1]]})
    ck.eq(error_name(rep), "bad_id", where + ": an empty change_id: bad_id")
    # bad definitions
    hist0 = c.ok({"op": "admin_history", "limit": 1000})
    list0 = c.ok({"op": "admin_list"})
    for i, (what, fields, name) in enumerate(BAD_DEFS):
        rep = c.req(dict(fields, op="admin_set_bundle", change_id="bad-def-%d" % i))
        ck.eq(error_name(rep), name, "%s: admin_set_bundle with %s: %s (reply %r)"
              % (where, what, name, rep))
    ck.eq(c.ok({"op": "admin_list"}), list0, where + ": the refused definitions changed nothing")
    ck.eq(c.ok({"op": "admin_history", "limit": 1000}), hist0,
          where + ": the refused definitions left no audit record")
    ck.eq(t.version, v, where + ": version unchanged")
    t.check_row("K-A", "east", "web", where + " after refusals (still a component)")
    t.check_row("K-DUO", "east", "web", where + " after refusals")
    # the limits: 16 components of 1,000,000
    big = [("M-%02d" % i, 1000000) for i in range(16)]
    t.set_bundle("adm-16", "ADM-16", big, where + ": 16 components of 1,000,000")
    t.check_row("ADM-16", "east", "web", where)
    t.check_scan("west", ["ADM-16", "BIG16", "HUGE", "GIFT-BOX"], where + " (kits of SKUs "
                 "never stocked in west)")
    t.remove_bundle("adm-16-rm", "ADM-16", where)
    t.check_scan("north", ["ADM-16", "ADM-KIT"], where + " (removed bundles stay listed)")
    # over HTTP
    http = H.Http(t.d)
    try:
        t.set_bundle("adm-h1", "ADM-H", [("A-3", 3)], where + " HTTP", http=http)
        st, _, doc = http.call("GET", "/v1/availability/ADM-H/east")
        want = m.answer("ADM-H", "east", "default")
        ck.eq((st, pick(doc, want)), (200, want), where + ": the HTTP bundle answers at once")
        st, _, doc = http.call("PUT", "/v1/admin/bundles",
                               {"change_id": "adm-h1", "sku": "ADM-H",
                                "components": [["A-3", 3]]})
        ck.eq((st, doc.get("replayed"), doc.get("version")), (200, True, t.version),
              where + ": PUT the same change again: replayed")
        st, _, doc = http.call("PUT", "/v1/admin/bundles",
                               {"change_id": "adm-h1", "sku": "ADM-H",
                                "components": [["A-3", 2]]})
        ck.eq((st, error_name(doc)), (409, "conflict"), where + ": PUT another change: 409")
        st, _, doc = http.call("PUT", "/v1/admin/bundles",
                               {"change_id": "adm-h2", "sku": "ADM-H2",
                                "components": [["ADM-H", 1]]})
        ck.eq((st, error_name(doc)), (422, "config"), where + ": PUT nesting: 422 config")
        st, _, doc = http.call("PUT", "/v1/admin/bundles",
                               {"change_id": "adm-h3", "sku": "ADM-H2",
                                "components": [["C-%d" % i, 1] for i in range(17)]})
        ck.eq((st, error_name(doc)), (400, "bad_request"),
              where + ": PUT 17 components: 400 bad_request")
        for i, (comps, name) in enumerate(((["A-3", 0], "bad_qty"), (["", 1], "bad_sku"))):
            st, _, doc = http.call("PUT", "/v1/admin/bundles",
                                   {"change_id": "adm-h6-%d" % i, "sku": "ADM-H2",
                                    "components": [comps]})
            ck.eq((st, error_name(doc)), (422, name), where + ": PUT %r: 422 %s" % (comps, name))
        t.remove_bundle("adm-h4", "ADM-H", where + " HTTP", http=http)
        st, _, doc = http.call("POST", "/v1/admin/bundles/remove",
                               {"change_id": "adm-h5", "sku": "ADM-H"})
        ck.eq((st, error_name(doc)), (404, "not_found"), where + ": POST remove again: 404")
        st, _, doc = http.call("GET", "/v1/admin")
        ck.eq((st, doc.get("bundles")), (200, c.ok({"op": "admin_list"}).get("bundles")),
              where + ": GET /v1/admin bundles = admin_list's")
    finally:
        http.close()
    # stock reported under a bundle's SKU: kept, not answered
    t.stock([("OWN-KIT", "E1", 50)])
    a = c.atp("OWN-KIT", "east", "web")
    ck.eq((a.get("atp"), a.get("supply"), "limiting" in a), (50, 50, False),
          where + ": OWN-KIT is an ordinary SKU with 50")
    t.set_bundle("own-1", "OWN-KIT", [("A-3", 2)], where + ": OWN-KIT becomes a bundle")
    t.check_row("OWN-KIT", "east", "web", where + " OWN-KIT a bundle (its own 50 not answered)")
    t.stock([("OWN-KIT", "E1", 60)])
    t.check_row("OWN-KIT", "east", "web", where + " OWN-KIT own stock 60 while a bundle")
    t.check_scan("east", ["OWN-KIT"], where + " OWN-KIT a bundle")
    t.remove_bundle("own-2", "OWN-KIT", where + ": OWN-KIT removed")
    a = c.atp("OWN-KIT", "east", "web")
    ck.eq((a.get("atp"), a.get("supply"), "limiting" in a), (60, 60, False),
          where + ": OWN-KIT removed: its own rows answer again (60 kept)")
    t.check_row("OWN-KIT", "east", "web", where)
    for rid in ("adm-r1", "adm-r2"):
        t.release(rid, where=where)


def export_roundtrip(t, where="export"):
    """admin_export has the bundles; --check-config accepts it; a second
    atpd started from it answers admin_list with the same bundles."""
    ck, h = t.ck, t.h
    exp = A.export_checked(ck, h, t.d, t.c)
    ck.check(re.search(r"(?m)^bundles:", exp) is not None,
             "%s: admin_export has a bundles section: %s", where, exp[-800:])
    for s, comps in t.m.bundles.items():
        ck.check(s in exp and all(cname in exp for cname, _ in comps),
                 "%s: the export names bundle %s and its components", where, s)
    cfg2 = h.config()
    d2 = harness.Atpd(h, cfg2, "from-export")

    def write_config():
        with open(d2.config_path, "w") as f:
            f.write(exp.rstrip("\n") + "\n" + harness.to_yaml({"service": d2.cfg["service"]})
                    + "\n")
    d2._write_config = write_config
    try:
        d2.start()
        c2 = harness.Client(d2.query_port, d=d2)
        try:
            ck.eq(c2.ok({"op": "admin_list"}).get("bundles"),
                  t.c.ok({"op": "admin_list"}).get("bundles"),
                  where + ": an atpd started from the export has the same bundles")
            a = c2.ok({"op": "atp", "sku": "GIFT-BOX", "region": "east"})
            ck.eq(a.get("limiting"), "MUG", where + ": and answers GIFT-BOX as a bundle")
        finally:
            c2.close()
        d2.stop()
    except TestFailure as e:
        ck.check(False, "%s: an atpd started from the export: %s", where, e)
        if d2.alive():
            d2.kill9()


# ---------------------------------------------------------------------------
# 4. refused combinations


def refused_combinations(t, where="refused"):
    ck, c = t.ck, t.c
    t.stock([("H-A", "E1", 5), ("H-B", "E1", 5)] +
            [("L-%02d" % i, "E1", 3) for i in range(1, 17)] +
            [("L-%02d" % i, "W1", 3) for i in range(1, 17)])
    before = {s: c.atp(s, "east", "web") for s in ("MUG", "TEA", "GIFT-BOX", "L-01")}
    cases = [
        ("a bundle line, partial", {"partial": True, "lines": [["GIFT-BOX", "east", 1]]},
         "bad_request"),
        ("a bundle line and a component line, partial",
         {"partial": True, "lines": [["TEA", "east", 1], ["GIFT-BOX", "east", 1]]},
         "bad_request"),
        ("a bundle line pinned", {"lines": [["GIFT-BOX", "east", 1, "E2"]]}, "bad_request"),
        ("a bundle line split", {"lines": [["GIFT-BOX", ["east", "west"], 1]]}, "bad_request"),
        ("qty x 1,000,000 > 10^15", {"lines": [["HUGE", "east", 10 ** 9 + 1]]}, "bad_qty"),
        ("a kit line and its component adding up beyond 10^15",
         {"lines": [["HUGE", "east", 10 ** 9], ["H-A", "east", 1]]}, "bad_qty"),
        ("16 component lines + 5: 21 > max_lines 20",
         {"lines": [["BIG16", "east", 1]] + [["Z-%d" % i, "east", 1] for i in range(5)]},
         "too_many_lines"),
        ("two BIG16 lines: 32 component lines",
         {"lines": [["BIG16", "east", 1], ["BIG16", "west", 1]]}, "too_many_lines"),
    ]
    for i, (what, body, name) in enumerate(cases):
        rid = "bad-%d" % i
        rep = c.req(dict(body, op="reserve", id=rid))
        ck.eq(error_name(rep), name, "%s: reserve with %s: %s (reply %r)"
              % (where, what, name, rep))
        ck.eq(c.get(rid), None, "%s: %s: nothing stored" % (where, what))
        if name == "bad_qty":
            ck.eq((rep.get("error") or {}).get("line"), len(body["lines"]) - 1,
                  "%s: %s: `line` is the line where it went over (reply %r)"
                  % (where, what, rep))
        if name == "too_many_lines":
            ck.check("line" not in (rep.get("error") or {}),
                     "%s: %s: too_many_lines has no line: %r", where, what, rep)
    http = H.Http(t.d)
    try:
        st, _, doc = http.call("POST", "/v1/reservations",
                               {"id": "bad-h", "partial": True,
                                "lines": [{"sku": "GIFT-BOX", "region": "east", "qty": 1}]})
        ck.eq((st, error_name(doc)), (400, "bad_request"),
              where + ": HTTP partial bundle reserve: 400 bad_request")
    finally:
        http.close()
    for s, a in before.items():
        ck.eq(c.atp(s, "east", "web"), a, "%s: %s unchanged" % (where, s))
    # the bounds themselves: 10^15 exactly is no error (refused: no stock), 20 lines are
    r = t.reserve("huge-1", [["HUGE", "east", 10 ** 9]], "web", where=where)
    ck.eq((r.get("ok"), r.get("granted")), (True, False),
          where + ": 10^9 kits of 1,000,000 = 10^15: refused for stock, not bad_qty")
    r = t.reserve("big16-1", [["BIG16", "east", 1]] + [["L-%02d" % i, "west", 1]
                                                        for i in range(1, 5)], "web",
                  where=where)
    ck.eq(r.get("granted"), True, where + ": 16 component lines + 4: 20 lines granted")
    r = t.reserve("big16-2", [["BIG16", "east", 3]], "web", where=where)
    ck.eq(r.get("granted"), False, where + ": 3 kits, 2 left: refused as a whole")
    r = t.reserve("huge-2", [["HUGE", "east", 1]], "web", where=where)
    ck.eq(r.get("granted"), False, where + ": HUGE needs 1,000,000 H-A: refused")
    # partial false / null with a bundle line is not partial
    rep = c.req({"op": "reserve", "id": "part-null", "partial": None,
                 "lines": [["BIG16", "east", 1]]})
    ck.eq((rep.get("ok"), rep.get("granted")), (True, True),
          where + ": partial null with a bundle line: an ordinary reserve")
    if rep.get("granted") is True:
        t.m.store("part-null", "default", [["BIG16", "east", 1]], False,
                  t.m.decide("default", [["BIG16", "east", 1]])[1])
    for s in ("BIG16", "L-01", "L-03"):
        t.check_regions(s, "web", where)
    # backorder: each component line may use its own row's budget
    t.stock([("BO-A", "E1", 2), ("BO-B", "E1", 3)])
    t.check_row("BO-KIT", "east", "web", where + " BO-KIT")
    r = t.reserve("bo-0", [["BO-KIT", "east", 3]], "web", where=where + " without backorder")
    ck.eq(r.get("granted"), False, where + ": 3 kits need BO-A 6 of 2: refused")
    r = t.reserve("bo-1", [["BO-KIT", "east", 3]], "web", backorder=True, where=where)
    ck.eq([(l.get("sku"), l.get("qty"), l.get("backordered")) for l in
           (r.get("reservation") or {}).get("lines") or []],
          [("BO-A", 6, 4), ("BO-B", 3, None)],
          where + ": with backorder: BO-A 6 (4 beyond ATP, budget 5), BO-B 3")
    r = t.reserve("bo-2", [["BO-KIT", "east", 1]], "web", backorder=True, where=where)
    ck.eq(r.get("granted"), False, where + ": BO-A's budget has 1 left: 1 kit (2) refused")
    t.check_row("BO-A", "east", "web", where)
    for rid in ("big16-1", "part-null", "bo-1"):
        t.release(rid, where=where)


# ---------------------------------------------------------------------------
# 7. explain


def explain_want(m, sku):
    comps = m.bundles[sku]
    regs = []
    for reg in REGIONS:
        chans = []
        for ch in CHANNELS:
            ba = m.answer(sku, reg, ch)
            chans.append({"channel": ch, "atp": ba["atp"], "limiting": ba["limiting"],
                          "components": [{"sku": cs, "qty": q, "atp": m.row(cs, reg, ch)["atp"],
                                          "kits": m.row(cs, reg, ch)["atp"] // q}
                                         for cs, q in comps]})
        regs.append({"region": reg, "channels": chans})
    return {"ok": True, "sku": sku, "bundle": [[cs, q] for cs, q in comps], "regions": regs}


def explain(t, where="explain"):
    ck, c = t.ck, t.c
    # the docs' numbers: MUG ATP 7, TEA 5
    t.stock([("MUG", "E1", 8), ("TEA", "E1", 5)])
    t.reserve("ex-0", [["MUG", "east", 1]], "web", where=where)
    r = c.req({"op": "explain", "sku": "GIFT-BOX"})
    east = [x for x in r.get("regions") or [] if x.get("region") == "east"]
    web = [x for x in (east[0].get("channels") if east else []) or []
           if x.get("channel") == "web"]
    ck.eq(web, [{"channel": "web", "atp": 3, "limiting": "MUG",
                 "components": [{"sku": "MUG", "qty": 2, "atp": 7, "kits": 3},
                                {"sku": "TEA", "qty": 1, "atp": 5, "kits": 5}]}],
          where + ": GIFT-BOX east/web as the docs show it")
    ck.eq(r.get("bundle"), [["MUG", 2], ["TEA", 1]], where + ": GIFT-BOX's definition")
    ck.eq(r, explain_want(t.m, "GIFT-BOX"), where + ": GIFT-BOX, every region and channel")
    t.stock([("K-A", "E1", 5), ("K-B", "E1", 7), ("K-C", "E2", 4), ("K-D", "E1", 9),
             ("K-B", "W1", 10), ("K-A", "W1", 2)])
    for sku in ("K-DUO", "K-TRIO"):
        ck.eq(c.req({"op": "explain", "sku": sku}), explain_want(t.m, sku),
              "%s: %s, every region and channel" % (where, sku))
    http = H.Http(t.d)
    try:
        st, _, doc = http.call("GET", "/v1/explain/K-TRIO")
        ck.eq((st, doc), (200, explain_want(t.m, "K-TRIO")), where + ": GET /v1/explain/K-TRIO")
    finally:
        http.close()
    r = c.req({"op": "explain", "sku": "MUG"})
    ck.check(r.get("ok") is True and "bundle" not in r and r.get("known_sku") is True,
             "%s: explain of a component is the ordinary one: %r", where,
             {k: r.get(k) for k in ("ok", "known_sku", "bundle")})
    t.release("ex-0", where=where)


# ---------------------------------------------------------------------------
# 6. the change feed


def feed(t, where="feed"):
    ck, m = t.ck, t.m
    topics = tuple(F.prefix(reg, "F-KIT") for reg in REGIONS)
    models = {(reg, ch): F.TransitionModel() for reg in REGIONS for ch in CHANNELS}
    seen = []

    def judge(msgs, what):
        """Every message through the transition model; the last one's
        numbers against the model's answer."""
        for reg, sku, body, _ in msgs:
            seen.append((reg, sku))
            chans = body.get("channels") or []
            ck.eq([e.get("channel") for e in chans], CHANNELS,
                  "%s: %s: channels of F-KIT@%s" % (where, what, reg))
            for e in chans:
                ch = e.get("channel")
                if (reg, ch) not in models:
                    continue
                tm = models[(reg, ch)]
                marks = tm.update(e.get("atp"), m.threshold("F-KIT", reg, ch))
                out, low = tm.out, tm.low
                ck.eq((e.get("transitions"), e.get("out_of_stock"), e.get("low_stock")),
                      (marks, out, low), "%s: %s: F-KIT@%s/%s transitions and flags (atp %r)"
                      % (where, what, reg, ch, e.get("atp")))

    def want_body(reg):
        ans = [m.answer("F-KIT", reg, ch) for ch in CHANNELS]
        return {"sku": "F-KIT", "region": reg, "supply": ans[0]["supply"],
                "reserved": ans[0]["reserved"], "shortfall": ans[0]["shortfall"],
                "stale": ans[0]["stale"],
                "channels": [(a["channel"], a["atp"], a["buffer"], a["rule"]) for a in ans]}

    def got_body(body):
        g = {k: body.get(k) for k in ("sku", "region", "supply", "reserved", "shortfall",
                                      "stale")}
        g["channels"] = [(e.get("channel"), e.get("atp"), e.get("buffer"), e.get("rule"))
                         for e in body.get("channels") or []]
        return g

    def step(action, what, regions=("east",)):
        """Do action; wait until a message of each region came (at most
        10 s); judge them all; the last per region against the model."""
        action()
        try:
            got = sub.collect(lambda ms: all(any(x[0] == r for x in ms) for r in regions), 10,
                              "F-KIT in %r after %s" % (list(regions), what))
        except TestFailure as e:
            a = t.c.atp("F-KIT", "east", "app")
            late = sub.get(2)
            ck.check(False, "%s: %s (F-KIT@east/app answers atp %r now; the last message "
                     "before: %r; one more within 2 s: %r; status.feed %r)", where, e,
                     a.get("atp"), last_msg[-1:], late and (late[0], late[2].get("key_seq"), [
                         x.get("atp") for x in late[2].get("channels") or []]),
                     t.c.status().get("feed"))
            return []
        for x in got:
            last_msg.append((what, x[0], x[2].get("key_seq"),
                             [e.get("atp") for e in x[2].get("channels") or []]))
        judge(got, what)
        for r in regions:
            last = [x for x in got if x[0] == r][-1]
            ck.eq(got_body(last[2]), want_body(r), "%s: %s: F-KIT@%s body" % (where, what, r))
        return got

    last_msg = []
    t.stock([("F-A", "E1", 4), ("F-B", "E1", 3)])
    sub = F.Sub(t.d, prefixes=topics)
    try:
        got = step(lambda: t.set_bundle("f-1", "F-KIT", [("F-A", 2), ("F-B", 1)],
                                        where + ": define"),
                   "admin_set_bundle", REGIONS)
        ck.eq(sorted(set(r for r, _, _, _ in got)), sorted(REGIONS),
              where + ": the definition published F-KIT in every region")
        ck.eq([(e.get("atp"), e.get("out_of_stock")) for e in
               ([x for x in got if x[0] == "east"][-1][2].get("channels") or [])],
              [(2, False)] * 3, where + ": east: 2 kits (F-A 4/2, F-B 3), in stock")
        step(lambda: t.reserve("f-r1", [["F-A", "east", 1]], "web", where=where),
             "F-A reserved 1 (3: 1 kit)")
        step(lambda: t.reserve("f-r2", [["F-B", "east", 2]], "web", where=where),
             "F-B reserved 2 (1: still 1 kit)")
        step(lambda: t.reserve("f-r3", [["F-B", "east", 1]], "web", where=where),
             "F-B reserved 1 more (0 kits)")
        step(lambda: t.release("f-r2", where=where), "F-B's 2 released (1 kit)")
        step(lambda: t.stock([("F-A", "E1", 10)]), "F-A stock 10 (F-B 2: 2 kits)")
        step(lambda: t.stock([("F-B", "E1", 6)]), "F-B stock 6 (F-A 9: 4 kits)")
        step(lambda: t.reserve("f-r4", [["F-KIT", "east", 4]], "app", where=where),
             "4 kits reserved (0 kits)")
        step(lambda: t.release("f-r4", where=where), "4 kits released (4 kits)")
        step(lambda: t.set_bundle("f-2", "F-KIT", [("F-B", 1)], where + ": replace"),
             "the definition replaced (F-B 5)", REGIONS)
        step(lambda: t.remove_bundle("f-3", "F-KIT", where + ": remove"),
             "the definition removed (its own empty rows)", REGIONS)
        ck.eq(sorted(set(seen)), sorted((r, "F-KIT") for r in REGIONS),
              where + ": F-KIT was published in every region")
        fin = [t.c.atp("F-KIT", r, "web") for r in REGIONS]
        ck.eq([(a.get("atp"), a.get("supply"), "limiting" in a) for a in fin],
              [(0, 0, False)] * 3, where + ": removed F-KIT answers zeros everywhere")
    finally:
        sub.close()
    for rid in ("f-r1", "f-r3"):
        t.release(rid, where=where)


def feed_components(t, where="feed components"):
    """Stock changes of a component publish every bundle using it, in
    kits; K-B is in K-DUO and K-TRIO."""
    ck, m = t.ck, t.m
    sub = F.Sub(t.d, prefixes=(F.prefix("west", "K-DUO"), F.prefix("west", "K-TRIO")))
    try:
        t.stock([("K-B", "W1", 13)])
        got = sub.collect(lambda ms: {x[1] for x in ms} >= {"K-DUO", "K-TRIO"}, 10,
                          "K-DUO and K-TRIO in west after K-B changed")
        for sku in ("K-DUO", "K-TRIO"):
            last = [x for x in got if x[1] == sku][-1][2]
            want = [(ch, m.answer(sku, "west", ch)["atp"]) for ch in CHANNELS]
            ck.eq(((last.get("supply"), last.get("reserved")),
                   [(e.get("channel"), e.get("atp")) for e in last.get("channels") or []]),
                  ((m.answer(sku, "west", "default")["supply"], 0), want),
                  "%s: %s@west after K-B changed: kits" % (where, sku))
    except TestFailure as e:
        ck.check(False, "%s: %s", where, e)
    finally:
        sub.close()


# ---------------------------------------------------------------------------
# 2b. the random sequence


def random_lines(rng):
    base = rng.choice(["east", "east", "west", "west", "north"])
    lines = []
    for _ in range(rng.randint(1, 3)):
        reg = base if rng.random() < 0.8 else rng.choice(REGIONS)
        if rng.random() < 0.6:
            lines.append([rng.choice(RND_BUNDLES), reg, rng.randint(1, 3)])
        else:
            lines.append([rng.choice(RND_COMPS), reg, rng.randint(1, 6)])
    return lines


def random_def(rng):
    k = rng.randint(1, 3)
    return [(s, rng.randint(1, 3)) for s in rng.sample(RND_COMPS, k)]


def random_sequence(t, rng, steps, budget_s):
    ck, m = t.ck, t.m
    t.stock([(s, l, rng.randint(0, 12)) for s in RND_COMPS for l in ("E1", "E2", "W1")])
    t.set_bundle("rnd-def-0", "K-RT", random_def(rng), "random start")
    n = {"reserve": 0, "granted": 0, "kit_granted": 0, "kit_refused": 0, "mixed_granted": 0,
         "release": 0, "commit": 0, "stock": 0, "replay": 0, "replay_new_def": 0,
         "conflict": 0, "def": 0, "sweep": 0}
    rid_n = 0
    http = H.Http(t.d)
    try:
        for step in U.timed_steps(steps, budget_s * harness.TIME_FACTOR):
            where = "random step %d" % step
            x = rng.random()
            mine = [r for r in m.resv if r.startswith("rnd-")]
            open_ids = [r for r in mine if m.resv[r]["state"] in ("held", "committed")]
            if x < 0.40:
                rid_n += 1
                rid = "rnd-%d" % rid_n
                lines = random_lines(rng)
                ch = rng.choice(CHANNELS)
                rep = t.reserve(rid, lines, ch, where=where,
                                http=http if rng.random() < 0.1 else None)
                n["reserve"] += 1
                kit = any(l[0] in m.bundles for l in lines)
                if rep.get("granted") is True:
                    n["granted"] += 1
                    n["kit_granted"] += kit
                    n["mixed_granted"] += kit and any(l[0] not in m.bundles for l in lines)
                elif kit:
                    n["kit_refused"] += 1
                touched = {(l[0], l[1]) for l in lines}
                touched |= {(s, r) for s, r, _ in m.expand(lines)}
                for s, r in sorted(touched):
                    t.check_row(s, r, ch, where)
                for b in RND_BUNDLES:
                    t.check_row(b, lines[0][1], ch, where)
            elif x < 0.52 and open_ids:
                rv = t.random_release(rng, open_ids, where)
                n["release"] += 1
                for b in RND_BUNDLES:
                    t.check_row(b, rv["lines"][0]["region"], rv["channel"], where)
            elif x < 0.58 and open_ids:
                t.random_commit(rng, open_ids, where)
                n["commit"] += 1
            elif x < 0.73:
                sku = rng.choice(RND_COMPS)
                t.stock([(sku, l, rng.choice([0, 1, 2, 3, 5, 8, 12, 20]))
                         for l in rng.sample(["E1", "E2", "W1"], rng.randint(1, 2))])
                n["stock"] += 1
                ch = rng.choice(CHANNELS)
                for b in RND_BUNDLES:
                    for r in ("east", "west"):
                        t.check_row(b, r, ch, where)
            elif x < 0.81:
                granted = [r for r in mine]
                if not granted:
                    continue
                rid = rng.choice(granted)
                rv = m.resv[rid]
                lines, bo = rv["request"]
                if rng.random() < 0.6:
                    changed = any(m.bundles.get(b) != d for b, d in rv["defs"].items())
                    t.reserve(rid, list(reversed(lines)), rv["channel"], where=where + " (replay)")
                    n["replay"] += 1
                    n["replay_new_def"] += changed
                else:
                    other = [list(l) for l in lines]
                    if any(l[0] in rv["defs"] for l in other) and rng.random() < 0.5:
                        # the same thing as the component lines: another request
                        other = [list(l) for l in m.merge(
                            [[c_, l[1], l[2] * q] for l in other
                             for c_, q in rv["defs"].get(l[0], [(l[0], 1)])])]
                    else:
                        other[0][2] += 1
                    t.reserve(rid, other, rv["channel"], where=where + " (another request)")
                    n["conflict"] += 1
            elif x < 0.87:
                n["def"] += 1
                y = rng.random()
                if y < 0.3 and "K-RT" in m.bundles:
                    t.remove_bundle("rnd-def-%d" % step, "K-RT", where)
                elif y < 0.45:
                    d = rng.choice([[("K-A", 2), ("K-B", 1)], [("K-B", 1), ("K-A", 2)],
                                    [("K-A", 1), ("K-B", 1), ("K-D", 1)]])
                    t.set_bundle("rnd-def-%d" % step, "K-DUO", d, where)
                else:
                    t.set_bundle("rnd-def-%d" % step, "K-RT", random_def(rng), where)
                for ch in CHANNELS:
                    for b in ("K-DUO", "K-RT"):
                        t.check_regions(b, ch, where + " after a definition change")
            else:
                n["sweep"] += 1
                for s in RND_SKUS:
                    for ch in CHANNELS:
                        t.check_regions(s, ch, where)
                cart = [[rng.choice(RND_SKUS), rng.choice(REGIONS), rng.randint(1, 4)]
                        for _ in range(rng.randint(2, 6))]
                t.check_cart(cart, rng.choice(CHANNELS), where)
                if n["sweep"] % 4 == 1:
                    for reg in REGIONS:
                        t.check_scan(reg, RND_SKUS, where)
    finally:
        http.close()
    for s in RND_SKUS:
        for ch in CHANNELS:
            t.check_regions(s, ch, "random end")
    for reg in REGIONS:
        t.check_scan(reg, RND_SKUS, "random end")
    for rid in [r for r in m.resv if r.startswith("rnd-")]:
        t.get(rid, "random end")
    t.h.log("random: %r", n)
    ck.check(n["kit_granted"] >= 10 and n["kit_refused"] >= 5 and n["mixed_granted"] >= 2 and
             n["def"] >= 3, "the random sequence exercised little (%r): it means little", n)


# ---------------------------------------------------------------------------
# 3. races


RACE_STOCK = {("R-A", "E1"): 9, ("R-B", "E1"): 4, ("R-C", "E1"): 3,
              ("R-A", "W1"): 5, ("R-B", "W1"): 3, ("R-C", "W1"): 2}
RACE_CHOICES = [("R-KIT", 2), ("R-KIT2", 1), ("R-A", 2), ("R-B", 1), ("R-C", 1)]


def race_body(rng, rid, j):
    """A racer's reserve: 1 or 2 lines in one region, every other request
    starting with a kit line."""
    reg = rng.choice(RACE_REGIONS)
    lines = []
    for i in range(rng.randint(1, 2)):
        s, hi = rng.choice(RACE_CHOICES[:2] if i == 0 and j % 2 == 0 else RACE_CHOICES)
        lines.append([s, reg, rng.randint(1, hi)])
    return {"id": rid, "channel": rng.choice(CHANNELS), "lines": lines}


def race(t, seed, rnd):
    where = "race round %d" % rnd
    ck, m = t.ck, t.m
    rr = random.Random(seed + rnd)
    t.stock([(s, l, max(0, q + rr.randint(-1, 1))) for (s, l), q in RACE_STOCK.items()])
    for s in RACE_BUNDLES:
        for reg in RACE_REGIONS:
            t.check_row(s, reg, "default", where + " before")
    results, granted, refused = M.race(t, seed, rnd, U.scaled(40, 10), race_body, 6, where)
    held = {}
    n_kits = {"nng": 0, "http": 0}
    for body, rep, via in granted:
        res = rep.get("reservation") or {}
        lines = [(l.get("sku"), l.get("region"), l.get("qty")) for l in res.get("lines") or []]
        # complete kits: the bundle lines expanded, merged with the others
        ck.eq(lines, m.expand(body["lines"]), "%s: %s (%s) %r holds complete kits"
              % (where, body["id"], via, body["lines"]))
        if any(l[0] in RACE_BUNDLES for l in body["lines"]):
            n_kits[via] += 1
        for s, r, q in lines:
            held[(s, r)] = held.get((s, r), 0) + q
        m.resv[body["id"]] = {
            "id": body["id"], "state": "held", "channel": body["channel"],
            "lines": [{k2: v for k2, v in l.items() if k2 in ("sku", "region", "qty", "consumed",
                                                               "released", "backordered")}
                      for l in res.get("lines") or []],
            "asked": m.asked(body["channel"], body["lines"], False),
            "request": ([list(l) for l in body["lines"]], False),
            "defs": {l[0]: list(m.bundles[l[0]]) for l in body["lines"] if l[0] in m.bundles},
            "order_ref": None}
    for body, rep, via in refused:
        lines = rep.get("lines") or []
        ck.eq([(l.get("sku"), l.get("region"), l.get("qty")) for l in lines],
              m.expand(body["lines"]), "%s: refusal of %s lists the merged component lines"
              % (where, body["id"]))
        ck.check(any(l.get("ok") is False and l.get("qty", 0) > l.get("available", 0)
                     for l in lines), "%s: refusal of %s with every line ok: %r", where,
                 body["id"], lines)
    # the bank check
    for s in RACE_COMPS:
        for r in RACE_REGIONS:
            a = t.c.atp(s, r, "default")
            ck.eq(a.get("reserved"), held.get((s, r), 0),
                  "%s: %s@%s reserved == what granted reservations hold" % (where, s, r))
            ck.check(a.get("reserved", 0) <= a.get("supply", 0) - a.get("buffer", 0),
                     "%s: %s@%s oversold: reserved %s > supply %s - buffer %s", where, s, r,
                     a.get("reserved"), a.get("supply"), a.get("buffer"))
            for ch in CHANNELS:
                t.check_row(s, r, ch, where + " after")
    for b in RACE_BUNDLES:
        for r in RACE_REGIONS:
            for ch in CHANNELS:
                t.check_row(b, r, ch, where + " after")
    ck.check(any(m.answer(b, r, "default")["atp"] == 0 for b in RACE_BUNDLES
                 for r in RACE_REGIONS), "%s: no kit sold out: the race means little", where)
    t.h.log("%s: %d reserves, %d granted (kits: %r), held %r", where, len(results),
            len(granted), n_kits, held)
    return [b["id"] for b, _, _ in granted], n_kits


# ---------------------------------------------------------------------------
# 5. kill -9


def kill_restart(t, where="kill -9"):
    ck, m = t.ck, t.m
    c = t.c
    # a few more bundle reservations open: held, committed, one line released
    t.stock([("MUG", "E1", 20), ("TEA", "E1", 20)])
    t.reserve("kill-1", [["GIFT-BOX", "east", 2]], "web", where=where)
    t.reserve("kill-2", [["TEA", "east", 1], ["GIFT-BOX", "east", 1]], "app", where=where)
    t.commit("kill-2", "SO-KILL-2", where=where)
    t.reserve("kill-3", [["GIFT-BOX", "east", 1], ["MUG", "east", 1]], where=where)
    http = H.Http(t.d)
    try:
        t.reserve("kill-4", [["GIFT-BOX", "east", 2]], "web", where=where, http=http)
    finally:
        http.close()
    if "kill-3" in m.resv:
        t.release("kill-3", [["TEA", "east"]], where=where)
    open_kits = [r for r, v in m.resv.items() if v["state"] in ("held", "committed")
                 and v["defs"]]
    ck.check(len(open_kits) >= 5, "%s: few bundle reservations open: %d", where, len(open_kits))
    skus = [s for s in m.bundles] + RND_COMPS + RACE_COMPS + ["MUG", "TEA", "K-RT"]
    before = t.state_before(skus, where + ": before")
    state = c.ok({"op": "admin_list"})
    hist = c.ok({"op": "admin_history", "limit": 1000})
    c = t.kill9_restart(before, "MUG", "east and west fresh again", where)
    ck.eq(c.ok({"op": "admin_list"}), state, where + ": admin_list (run-time bundles) as before")
    ck.eq(c.ok({"op": "admin_history", "limit": 1000}), hist, where + ": history as before")
    for s in ("GIFT-BOX", "K-DUO", "K-RT", "R-KIT"):
        for ch in CHANNELS:
            t.check_regions(s, ch, where + " after")
    for rid in open_kits[:10]:
        rv = m.resv[rid]
        lines, bo = rv["request"]
        t.reserve(rid, list(reversed(lines)), rv["channel"], where=where + " (replay)")
        other = [list(l) for l in lines]
        other[0][2] += 1
        t.reserve(rid, other, rv["channel"], where=where + " (another request)")
    # the run-time bundle still reserves as defined
    if "K-RT" in m.bundles:
        t.reserve("after-1", [["K-RT", "east", 1]], "web", where=where + " K-RT")
    t.reserve("after-2", [["R-KIT", "east", 1], ["R-A", "east", 1]], "web",
              where=where + " mixed")
    return c


# ---------------------------------------------------------------------------
# 1d. SIGHUP with the file's bundles edited


def sighup(t, where="SIGHUP"):
    """docs/CONFIG.md: the file's bundles apply on a reload when the file's
    administered part changed; the file then becomes the next version as a
    whole (run-time changes replaced), audited as `reload` by `sighup`, and
    each bundle added, changed or removed is published in every region."""
    ck, m, c, d = t.ck, t.m, t.c, t.d
    v0 = t.cur_version()
    new = FILE_BUNDLES + [("HUP-KIT", [("K-C", 2), ("MUG", 1)])]
    gone = [s for s in m.bundles if s not in dict(new)]
    open_ids = [r for r, v in m.resv.items() if v["state"] in ("held", "committed")]
    d.cfg["bundles"] = bundles_yaml(new)
    d._write_config()
    topics = [F.prefix(r, s) for r in REGIONS for s in ["HUP-KIT"] + gone]
    sub = F.Sub(d, prefixes=tuple(topics))
    try:
        sub.quiet(0.3)   # what was published before the reload
        os.kill(d.pid, signal.SIGHUP)
        last = {}

        def applied():
            last.update(c.ok({"op": "admin_list"}))
            return last.get("version", 0) > v0
        try:
            harness.wait_until(applied, 10, 0.02, "the reload's new admin version")
        except TestFailure as e:
            ck.check(False, "%s: the file's edited bundles: %s (admin_list bundles %r)", where,
                     e, [b.get("sku") for b in last.get("bundles") or []])
            return
        t.version = last["version"]
        ck.eq(t.version, v0 + 1, where + ": one new version")
        m.bundles = {s: list(comps) for s, comps in new}
        m.known.add("HUP-KIT")
        t.check_list(where + ": the file's bundles as a whole")
        rec = t.last_history()
        ck.eq((rec.get("op"), rec.get("who")), ("reload", "sighup"),
              where + ": audited as reload by sighup")
        try:
            got = sub.collect(lambda ms: {(x[0], x[1]) for x in ms} >=
                              {(r, s) for r in REGIONS for s in ["HUP-KIT"] + gone}, 10,
                              "HUP-KIT (added) and %r (removed) in every region" % gone)
            got += sub.quiet(0.2)
            final = {(x[0], x[1]): x[2] for x in got}
            for (reg, sku), body in sorted(final.items()):
                want = [(ch, m.answer(sku, reg, ch)["atp"]) for ch in CHANNELS]
                ck.eq([(e.get("channel"), e.get("atp")) for e in body.get("channels") or []],
                      want, "%s: feed %s@%s after the reload (messages %r)"
                      % (where, sku, reg, [(x[2].get("key_seq"), [e.get("atp") for e in
                                                                   x[2].get("channels")])
                                           for x in got if (x[0], x[1]) == (reg, sku)]))
        except TestFailure as e:
            ck.check(False, "%s: %s", where, e)
    finally:
        sub.close()
    for s in ["HUP-KIT"] + gone:
        for ch in CHANNELS:
            t.check_regions(s, ch, where)
    for rid in open_ids:
        t.get(rid, where + ": open reservations stay as they are")
    t.reserve("hup-1", [["HUP-KIT", "east", 1]], "web", where=where)


# ---------------------------------------------------------------------------


def build_cfg(h):
    cfg = M.layout_config(h, [("wms", ["E1", "E2", "W1"], ALL), ("nsrc", ["N1"], ALL)],
                          FILE_RULES, max_lines=MAX_LINES)
    cfg["bundles"] = bundles_yaml(FILE_BUNDLES)
    return cfg


def atpctl_http(t, where="atpctl over HTTP"):
    """tools/README.md: atpctl's admin works over an http:// endpoint as
    over nng: a bundle set there is answered in kits, then removed."""
    ck, d = t.ck, t.d
    ep = d.ready.get("http")
    ck.check(ep, where + ": atpd's ready file names its HTTP URL: %r", d.ready)
    if not ep:
        return
    p = harness.run_ctl(t.h, ["--endpoint", ep, "admin", "set-bundle", "ctl-kit-1",
                              "CTL-KIT", "MUG:1", "TEA:1"])
    ck.eq(p.returncode, 0, where + ": set-bundle exit code (%s)" % p.stderr.strip())
    p = harness.run_ctl(t.h, ["--endpoint", ep, "atp", "CTL-KIT", "east"])
    ck.check("bundle: kits, limited by" in p.stdout,
             where + ": atp answers the bundle in kits: %r", p.stdout)
    p = harness.run_ctl(t.h, ["--endpoint", ep, "admin", "remove-bundle", "ctl-kit-2",
                              "CTL-KIT"])
    ck.eq(p.returncode, 0, where + ": remove-bundle exit code (%s)" % p.stderr.strip())
    ck.check("CTL-KIT" not in [b.get("sku") for b in t.c.ok({"op": "admin_list"})["bundles"]],
             where + ": the bundle is gone")


def main(h):
    ck = harness.Checks(h)
    seed = M.seed_of(h)
    rng = random.Random(seed)
    cfg = build_cfg(h)
    h.log("1a. configuration files with a bad bundle: refused")
    bad_config(h, ck, cfg)

    t = T.start(h, ck, cfg, Model(FILE_RULES, FILE_BUNDLES))
    c = t.c
    t.stock([("MUG", "E2", 0)])   # wms's first message: east and west fresh
    harness.wait_until(lambda: [a.get("stale") for a in c.ok(
        {"op": "regions", "sku": "MUG"})["regions"]] == [False, False, True], 15, 0.02,
        "east and west fresh (north stays stale)")

    h.log("2a. the documentation's example")
    doc_example(t)
    h.log("1b. administration")
    admin(t)
    h.log("4. refused combinations")
    refused_combinations(t)
    h.log("7. explain")
    explain(t)
    h.log("6. the change feed")
    feed(t)
    feed_components(t)

    steps = U.scaled(1500, 100)
    h.log("2b. random sequence: %d steps", steps)
    random_sequence(t, rng, steps, 25)

    rounds = U.scaled(12, 3)
    h.log("3. races on the last units: %d rounds, %d clients (one over HTTP)", rounds, RACERS)
    kits = {"nng": 0, "http": 0}
    for rnd in range(rounds):
        ids, nk = race(t, seed, rnd)
        for k in kits:
            kits[k] += nk[k]
        if rnd < rounds - 1:   # the last round's stay open for the kill -9
            for rid in ids:
                t.release(rid, where="race round %d, release" % rnd)
    ck.check(kits["nng"] > 0 and kits["http"] > 0,
             "the races granted kits over nng (%d) and HTTP (%d)", kits["nng"], kits["http"])

    h.log("1c. admin_export")
    export_roundtrip(t)

    h.log("5. kill -9 with bundle reservations open, restart")
    kill_restart(t)

    h.log("1d. SIGHUP with the file's bundles edited")
    sighup(t)

    h.log("atpctl over HTTP: set-bundle, atp, remove-bundle")
    atpctl_http(t)

    t.finish()


if __name__ == "__main__":
    harness.run(main, "bundles")
