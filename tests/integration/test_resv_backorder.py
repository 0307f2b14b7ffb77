#!/usr/bin/python3
"""test_resv_backorder.py - backorder budgets (docs/PROTOCOL.md, "Backorder
budgets"; docs/CONFIG.md, "buffers"), checked against an independent model
written here from the docs only.

A buffer rule's `backorder: N` lets a reserve with `backorder: true` promise
up to N units beyond the ATP of a (sku, region, channel) row. The model
knows, per row, the supply (the stock this test publishes), the reserved
quantity (the open lines of the reservations it made), the buffer and the
budget of the most specific rule, and predicts

    atp            = max(0, supply - reserved - buffer)
    backorder_used = max(0, reserved - max(0, supply - buffer))
    backorder_left = max(0, budget - used)

and, for a reserve, whether it is granted and each line's `backordered`
(units beyond ATP at the grant): all or nothing, partial (min(qty, ATP +
left)), split lines (every region's ATP in order first, then every
region's left in order), pinned lines (never a budget).

1. Budgets from the file at several rule levels (sku+channel giving each
   region its own budget, sku+region+channel overriding it, a rule with a
   buffer and a budget, a percent buffer with a budget, an explicit
   `backorder: 0`, a less specific rule without one), and at run time with
   admin_set_buffer (visible at once; lowered below what is used: new
   backorders refused, held ones kept; removed; admin_list / history).
2. The documentation's own example, step by step with literal numbers (a
   buffer above the stock, an expiry, a commit consumed by the WMS), then a
   seeded random sequence (ATP_TEST_SEED) of reserves (plain and
   backorder, partial, split, multi-line), releases (whole, one line),
   commits, replays, stock arrivals and losses and rule changes: every
   `atp`, `regions` and `cart` answer, every reserve / release / commit
   reply compared with the model.
3. Races on the last units, in rounds: 3 nng clients and 1 HTTP client,
   started together, reserve with and without backorder (partial, split)
   on a few SKUs (one with a buffer above its stock); then a bank check per
   row: open quantities held == `reserved`; reserved <= max(0, supply -
   buffer) + budget; the units granted beyond ATP add up to
   backorder_used; plain reserves never hold a `backordered` line and never
   took more than supply - buffer together. Released between rounds; the
   last round's stay open for 5.
4. Replays (same id and lines: replayed, same `backordered`; another
   backorder flag: conflict, null read as false); a pinned line never uses
   a budget (refused on its store's pickup ATP while the region has budget
   left); HTTP POST /v1/reservations with backorder.
5. kill -9 with backorders open, restart on the same data: every
   reservation as acknowledged, rows as before, replays the same.
6. The change feed: backorder_budget / backorder_used in the channel entry
   with a budget, not in the others.
7. Metrics: atpd_backorder_reserves_total / atpd_backorder_units_total rise
   by what was granted beyond ATP.
8. Bad input: backorder "yes" / 1 / 0 (nng, HTTP) bad_request;
   admin_set_buffer backorder -1 / 10^15+1 bad_qty, "3" bad_request; a
   configuration file with backorder -1 refused at start with its line.

Loopback only; every wait bounded; atpd started here, stopped by pid.
"""

import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import feed_util as F  # noqa: E402
import http_util as H  # noqa: E402
import model_util as M  # noqa: E402
import resv_util as U  # noqa: E402
from harness import TestFailure, error_name  # noqa: E402
from model_util import (ALL, ANSWER_KEYS, BIG, BO_KEYS, CHANNELS, LOCS, RACERS,  # noqa: E402
                        REGIONS, obj_of)

FILE_RULES = [
    # BK-A: web gets 5 in every region (not pooled), west overridden, north none
    {"sku": "BK-A", "channel": "web", "backorder": 5},
    {"sku": "BK-A", "region": "west", "channel": "web", "units": 1, "backorder": 2},
    {"sku": "BK-A", "region": "north", "channel": "web", "units": 1, "backorder": 0},
    # BK-B: a buffer and a budget on every row
    {"sku": "BK-B", "units": 2, "backorder": 4},
    # BK-C: a budget of 1, east: a percent buffer and a budget of 3
    {"sku": "BK-C", "backorder": 1},
    {"sku": "BK-C", "region": "east", "percent": 25, "backorder": 3},
    # a rule without a budget, less specific than every sku rule
    {"region": "north", "channel": "app", "units": 1},
    {"sku": "DOC-1", "channel": "web", "backorder": 10},
    {"sku": "CTL-1", "channel": "web", "backorder": 10},  # atpctl_backorder
    {"sku": "PK-1", "backorder": 5},
    {"sku": "FD-1", "channel": "web", "backorder": 3},
    {"sku": "EX-1", "backorder": 4},
    {"sku": "HT-1", "backorder": 3},
    {"sku": "RP-1", "backorder": 6},
    {"sku": "RC-1", "backorder": 4},
    {"sku": "RC-2", "units": 1, "backorder": 3},
    {"sku": "RC-3", "region": "east", "backorder": 2},
    {"sku": "BIG-1", "backorder": BIG},
    {"sku": "BUF-1", "units": 3, "backorder": 2},
    {"sku": "CS-1", "backorder": 5},
    {"sku": "RC-4", "units": 2, "backorder": 3},
]
RANDOM_SKUS = ["BK-A", "BK-B", "BK-C", "BK-D", "PL-1"]
RACE_SKUS = ["RC-1", "RC-2", "RC-3", "RC-4"]
RACE_REGIONS = ["east", "west"]
METRIC_RESERVES = "atpd_backorder_reserves_total"   # docs/METRICS.md
METRIC_UNITS = "atpd_backorder_units_total"


# ---------------------------------------------------------------------------
# the model


class Model(M.RowModel):
    """RowModel plus what it takes to judge reserves with backorder,
    partial, split and pinned lines, and the units granted beyond ATP."""

    def __init__(self, rules):
        super().__init__(rules)
        self.bo_reserves = 0  # reserves granted with units beyond ATP
        self.bo_units = 0     # units granted beyond ATP

    def pinned(self, sku, loc):
        return sum(ln["qty"] - ln["consumed"] - ln["released"] for ln in self.open_lines()
                   if ln["sku"] == sku and ln.get("location") == loc)

    def left(self, sku, region, channel):
        return self.answer(sku, region, channel).get("backorder_left", 0)

    def pickup_atp(self, sku, region, loc, channel):
        _, _, pickup, pbuf = LOCS[loc]
        if not pickup:
            return 0
        net = self.net(sku, loc)
        return min(max(0, net - self.pinned(sku, loc) - pbuf),
                   self.answer(sku, region, channel)["atp"])

    # ---- reservations
    @staticmethod
    def merge(lines):
        order, merged = [], {}
        for ln in lines:
            sku, reg, qty = ln[0], ln[1], ln[2]
            loc = ln[3] if len(ln) > 3 else None
            k = (sku, tuple(reg)) if isinstance(reg, list) else (sku, reg)
            if k not in merged:
                merged[k] = [0, loc]
                order.append(k)
            merged[k][0] += qty
        return order, merged

    @staticmethod
    def content(channel, lines, backorder, partial):
        order, merged = Model.merge(lines)
        parts = sorted(((k[0], k[1], merged[k][0], merged[k][1] or "") for k in order),
                       key=lambda p: (p[0], repr(p[1])))
        return (channel, tuple(parts), bool(partial), bool(backorder))

    def decide(self, channel, lines, backorder, partial):
        """What atpd must answer to a new reserve (nothing applied):
        ("granted", [reservation lines], fill or None, units beyond ATP) or
        ("refused", [refusal lines])."""
        order, merged = self.merge(lines)
        res_lines, fill, refusal = [], [], []
        whole, anything, split_any, bo_units = True, False, False, 0
        for k in order:
            sku = k[0]
            qty, loc = merged[k]
            if isinstance(k[1], tuple):
                split_any = True
                regs = list(k[1])
                rem, give = qty, {r: [0, 0] for r in regs}
                avail = 0
                for r in regs:
                    a = self.answer(sku, r, channel)["atp"]
                    avail += a
                    give[r][0] = min(rem, a)
                    rem -= give[r][0]
                if backorder:
                    for r in regs:
                        lf = self.left(sku, r, channel)
                        avail += lf
                        give[r][1] = min(rem, lf)
                        rem -= give[r][1]
                got = qty - rem
                if not partial and got < qty:
                    got = 0
                    give = {r: [0, 0] for r in regs}
                refusal.append({"sku": sku, "regions": regs, "qty": qty, "available": avail,
                                "ok": qty <= avail})
                fill.append({"sku": sku, "region": regs[0], "qty": qty, "granted": got,
                             "regions": regs,
                             "by_region": [{"region": r, "qty": sum(give[r])} for r in regs]})
                for r in regs:
                    g = sum(give[r])
                    if g > 0:
                        ln = {"sku": sku, "region": r, "qty": g, "consumed": 0, "released": 0}
                        if give[r][1] > 0:
                            ln["backordered"] = give[r][1]
                            bo_units += give[r][1]
                        res_lines.append(ln)
            else:
                region = k[1]
                if loc is not None:
                    avail, atp = self.pickup_atp(sku, region, loc, channel), None
                else:
                    atp = self.answer(sku, region, channel)["atp"]
                    avail = atp + (self.left(sku, region, channel) if backorder else 0)
                got = min(qty, avail) if partial else (qty if qty <= avail else 0)
                rl = {"sku": sku, "region": region, "qty": qty, "available": avail,
                      "ok": qty <= avail}
                if loc is not None:
                    rl["location"] = loc
                refusal.append(rl)
                fill.append({"sku": sku, "region": region, "qty": qty, "granted": got})
                if got > 0:
                    ln = {"sku": sku, "region": region, "qty": got, "consumed": 0, "released": 0}
                    if loc is not None:
                        ln["location"] = loc
                    elif got > atp:
                        ln["backordered"] = got - atp
                        bo_units += got - atp
                    res_lines.append(ln)
            if got < qty:
                whole = False
            if got > 0:
                anything = True
        granted = anything if partial else whole
        if not granted:
            return ("refused", refusal)
        return ("granted", res_lines, fill if (partial or split_any) else None, bo_units)

    def store(self, rid, channel, lines, backorder, partial, res_lines, fill, bo_units):
        self.resv[rid] = {"id": rid, "state": "held", "channel": channel,
                          "lines": [dict(l) for l in res_lines], "fill": fill,
                          "content": self.content(channel, lines, backorder, partial),
                          "request": ([list(l) for l in lines], bool(backorder), bool(partial)),
                          "order_ref": None, "bo_units": bo_units}
        if bo_units > 0:
            self.bo_reserves += 1
            self.bo_units += bo_units


def fill_of(fill):
    if fill is None:
        return None
    keys = ("sku", "region", "qty", "granted", "regions", "by_region")
    return [{k: f[k] for k in keys if k in f} for f in fill] if isinstance(fill, list) else fill


def refusal_of(lines, want):
    """atpd's refusal lines restricted to the keys the model predicts."""
    out = []
    for i, l in enumerate(lines or []):
        w = want[i] if i < len(want) else {}
        out.append({k: l.get(k) for k in w} if isinstance(l, dict) else l)
    return out


# ---------------------------------------------------------------------------
# the test's side of atpd


class T(M.Driver):
    """M.Driver plus the budget checks: carts and sweeps, reserves with
    backorder / partial, the run-time buffer rules."""

    def __init__(self, h, ck, d, c, feed, model):
        super().__init__(h, ck, d, c, feed, model)
        self.admin_version = None
        self.race_beyond = 0
        self.race_http_bo = 0

    # ---- answers
    def check_regions(self, sku, channel, where):
        r = self.c.req({"op": "regions", "sku": sku, "channel": channel})
        got = [{k: a.get(k) for k in ANSWER_KEYS + BO_KEYS if k in a} for a in
               r.get("regions") or []]
        want = [self.m.answer(sku, reg, channel) for reg in REGIONS]
        self.ck.eq(got, want, "%s: regions %s/%s" % (where, sku, channel))

    def check_cart(self, skus, channel, rng, where):
        lines = [[s, reg, rng.randint(1, 3)] for s in skus for reg in REGIONS]
        r = self.c.req({"op": "cart", "channel": channel, "lines": lines})
        want, got = [], []
        for (s, reg, q), a in zip(lines, r.get("lines") or []):
            w = dict(self.m.answer(s, reg, channel), qty=q, available=q <= self.m.answer(
                s, reg, channel)["atp"])
            want.append(w)
            got.append({k: a.get(k) for k in list(w) + [k for k in BO_KEYS if k in a]})
        self.ck.eq((r.get("ok"), len(r.get("lines") or [])), (True, len(lines)),
                   "%s: cart answered every line" % where)
        self.ck.eq(got, want, "%s: cart %s" % (where, channel))
        self.ck.eq(r.get("available"), all(w["available"] for w in want),
                   "%s: cart available" % where)

    def sweep(self, skus, rng, where):
        for s in skus:
            for ch in CHANNELS:
                self.check_regions(s, ch, where)
        self.check_cart(skus, rng.choice(CHANNELS), rng, where)

    # ---- reservations
    def send_reserve(self, rid, lines, channel, backorder, partial, http=None, ttl_ms=None,
                     flags_raw=None):
        body = {"id": rid, "channel": channel, "lines": [list(l) for l in lines]}
        if backorder is not None:
            body["backorder"] = backorder
        if partial is not None:
            body["partial"] = partial
        if ttl_ms is not None:
            body["ttl_ms"] = ttl_ms
        if flags_raw:
            body.update(flags_raw)
        if http is not None:
            # docs/HTTP.md: lines as objects (the array form is the race's)
            body["lines"] = [dict({"sku": l[0], "region": l[1], "qty": l[2]},
                                  **({"location": l[3]} if len(l) > 3 else {}))
                             for l in lines]
            st, _, rep = http.call("POST", "/v1/reservations", body)
            return rep, st
        return self.c.req(dict(body, op="reserve")), None

    def reserve(self, rid, lines, channel="web", backorder=True, partial=None, where="",
                http=None, ttl_ms=None):
        """A reserve the model judges first: the reply compared, the model
        updated. Returns the reply."""
        bo, pa = bool(backorder), bool(partial)
        ck = self.ck
        where = "%s: reserve %s %r%s%s ch=%s" % (where, rid, lines, " backorder" if bo else "",
                                                 " partial" if pa else "", channel)
        if rid in self.m.resv:
            same = self.m.content(channel, lines, bo, pa) == self.m.resv[rid]["content"]
            rep, st = self.send_reserve(rid, lines, channel, backorder, partial, http)
            if not same:
                ck.eq(error_name(rep), "conflict", where + " (another content: conflict)")
                if http is not None:
                    ck.eq(st, 409, where + " HTTP status")
                return rep
            ck.eq((rep.get("ok"), rep.get("granted"), rep.get("replayed")), (True, True, True),
                  where + " (the same content: replayed)")
            ck.eq(obj_of(rep.get("reservation")), self.m.obj(rid), where + " replay: reservation")
            ck.eq(fill_of(rep.get("fill")), self.replay_fill(rid, lines, channel, bo, pa),
                  where + " replay: fill")
            if http is not None:
                ck.eq(st, 200, where + " replay: HTTP status")
            return rep
        exp = self.m.decide(channel, lines, bo, pa)
        rep, st = self.send_reserve(rid, lines, channel, backorder, partial, http, ttl_ms)
        self.n_reserves += 1
        if exp[0] == "refused":
            if not ck.eq((rep.get("ok"), rep.get("granted"), rep.get("id")), (True, False, rid),
                         where + ": refused"):
                if rep.get("granted") is True:
                    self.adopt(rid, channel, lines, bo, pa, rep)
                return rep
            ck.eq(refusal_of(rep.get("lines"), exp[1]), exp[1], where + ": refusal lines")
            if http is not None:
                ck.eq(st, 200, where + ": HTTP status of a refusal")
            return rep
        _, res_lines, fill, bo_units = exp
        ok = ck.eq((rep.get("ok"), rep.get("granted"), rep.get("replayed")), (True, True, False),
                   where + ": granted")
        if not ok:
            return rep    # atpd stored nothing: neither does the model
        self.m.store(rid, channel, lines, bo, pa, res_lines, fill, bo_units)
        ck.eq(obj_of(rep.get("reservation")), self.m.obj(rid), where + ": reservation")
        ck.eq(fill_of(rep.get("fill")), fill, where + ": fill")
        if http is not None:
            ck.eq(st, 201, where + ": HTTP status of a grant")
        return rep

    def adopt(self, rid, channel, lines, bo, pa, rep):
        """A grant the model did not predict (already a failed check): the
        model takes atpd's reservation so that later steps stay comparable."""
        res = rep.get("reservation") or {}
        res_lines = [{k: v for k, v in l.items() if k in ("sku", "region", "qty", "consumed",
                                                          "released", "backordered", "location")}
                     for l in res.get("lines") or []]
        self.m.store(rid, channel, lines, bo, pa, res_lines, fill_of(rep.get("fill")),
                     sum(l.get("backordered", 0) for l in res_lines))

    def replay_fill(self, rid, lines, channel, bo, pa):
        """fill of a replay: what was granted of what is asked now, in
        the order of the replay's lines."""
        rv = self.m.resv[rid]
        if rv["fill"] is None:
            return None
        if rv["fill"] == "unknown":   # adopted from the race: its own first answer
            first = {(f["sku"], tuple(f["regions"]) if "regions" in f else f["region"]): f
                     for f in rv["first_fill"] or []}
            return [first.get(k) for k in self.m.merge(lines)[0]]
        by_key = {}
        for f in rv["fill"]:
            by_key[(f["sku"], tuple(f["regions"]) if "regions" in f else f["region"])] = f
        order, _ = self.m.merge(lines)
        return [by_key[k] for k in order]

    # ---- admin
    def admin(self, body, where, expect="ok"):
        """An admin change; on success the model's rules follow it."""
        if self.admin_version is None:
            self.admin_version = self.c.ok({"op": "admin_list"})["version"]
        rep = self.c.req(body)
        if expect != "ok":
            self.ck.eq(error_name(rep), expect, where)
            return rep
        self.ck.eq((rep.get("ok"), rep.get("replayed"), rep.get("version")),
                   (True, False, self.admin_version + 1), where)
        if rep.get("ok") is True:
            self.admin_version = rep.get("version")
            scope = (body.get("sku"), body.get("region"), body.get("channel"))
            if body["op"] == "admin_set_buffer":
                self.m.set_rule(*scope, units=body.get("units"), percent=body.get("percent"),
                                backorder=body.get("backorder"))
            elif body["op"] == "admin_remove_buffer":
                self.m.rules.pop(scope, None)
        return rep


# ---------------------------------------------------------------------------
# metrics


def scrape(d):
    return H.metric_sums(d)


def metric(series, name):
    """(value, name) of the documented metric, (None, None) when absent."""
    if name in series:
        return series[name], name
    return None, None


# ---------------------------------------------------------------------------
# sections


def bad_config(h, ck, cfg):
    """A file whose buffer rule has backorder -1 (or above 10^15): atpd
    refuses to start, exit 1, with the rule's line and the key named."""
    for val in (-1, BIG + 1, "lots"):
        path, text = M.bad_config_file(h, cfg, "bad-backorder.yaml", "bad-data", buffers=[
            {"sku": "X1", "units": 1}, {"sku": "X2", "backorder": val}])
        lineno = [i + 1 for i, l in enumerate(text.split("\n")) if "backorder:" in l]
        for what in ("start", "--check-config"):
            err = M.config_refused(h, ck, path, what, "backorder %r in the file" % (val,))
            ck.check(re.search(r"bad-backorder\.yaml:%d:\d+: " % lineno[0], err)
                     is not None and "backorder" in err,
                     "backorder %r in the file: %s names the line %d and the key: %s",
                     val, what, lineno[0], err.strip()[-600:])
        ck.check(not os.path.exists(os.path.join(h.tmp, "bad-data", "data.mdb")),
                 "backorder %r: no store created", val)


def doc_example(t, where="doc example"):
    """docs/PROTOCOL.md's example and the paragraphs after it, with the
    numbers written out (and the model agreeing)."""
    ck, c = t.ck, t.c
    t.stock([("DOC-1", "E1", 2)])
    t.check_row("DOC-1", "east", "web", where + " before")
    r = t.reserve("doc-11", [["DOC-1", "east", 5]], "web", True, where=where)
    lines = (r.get("reservation") or {}).get("lines") or [{}]
    ck.eq((lines[0].get("qty"), lines[0].get("backordered")), (5, 3),
          where + ": 3 of the 5 backordered (ATP was 2)")
    a = c.atp("DOC-1", "east", "web")
    ck.eq({k: a.get(k) for k in ("atp", "supply", "reserved", "buffer", "shortfall") + BO_KEYS},
          {"atp": 0, "supply": 2, "reserved": 5, "buffer": 0, "shortfall": 3,
           "backorder_budget": 10, "backorder_used": 3, "backorder_left": 7},
          where + ": the row's answer as the docs show it")
    # not pooled: west has its own 10; channel default / app have no budget
    a = c.atp("DOC-1", "west", "web")
    ck.eq(tuple(a.get(k) for k in BO_KEYS), (10, 0, 10), where + ": west's own budget of 10")
    for ch in ("default", "app"):
        a = c.atp("DOC-1", "east", ch)
        ck.eq([k for k in BO_KEYS if k in a], [], where + ": no budget keys on channel " + ch)
    # without backorder: ATP only (0)
    r = t.reserve("doc-12", [["DOC-1", "east", 1]], "web", None, where=where)
    ck.eq([(l.get("available"), l.get("ok")) for l in r.get("lines") or []], [(0, False)],
          where + ": a plain reserve needs ATP: refused, available 0")
    r = t.reserve("doc-13", [["DOC-1", "east", 8]], "web", True, where=where)
    ck.eq([l.get("available") for l in r.get("lines") or []], [7],
          where + ": 8 beyond a left of 7: refused, available ATP + left = 7")
    r = t.reserve("doc-14", [["DOC-1", "east", 7]], "web", True, where=where)
    ck.eq(r.get("granted"), True, where + ": 7 more: granted (the whole budget)")
    t.check_row("DOC-1", "east", "web", where + " budget used up")
    r = t.reserve("doc-15", [["DOC-1", "east", 1]], "web", True, where=where)
    ck.eq([l.get("available") for l in r.get("lines") or []], [0],
          where + ": budget used: refused, available 0")
    # stock arrives: promises first, used falls, backordered kept
    t.stock([("DOC-1", "E1", 6)])
    a = c.atp("DOC-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp",) + BO_KEYS), (0, 10, 6, 4),
          where + ": 4 arrive: ATP stays 0, used 6, left 4")
    t.get("doc-11", where + " after the arrival")
    ck.eq([l.get("backordered") for l in (t.c.get("doc-11") or {}).get("lines") or []], [3],
          where + ": doc-11's backordered keeps what it was at the grant")
    # stock lost: used beyond the budget, no backorder at all
    t.stock([("DOC-1", "E1", 0)])
    a = c.atp("DOC-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp", "shortfall") + BO_KEYS), (0, 12, 10, 12, 0),
          where + ": stock lost: used 12 > budget 10, left 0")
    r = t.reserve("doc-16", [["DOC-1", "east", 1]], "web", True, where=where)
    ck.eq(r.get("granted"), False, where + ": used beyond the budget: no backorder")
    t.release("doc-14", where=where)
    a = c.atp("DOC-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("reserved",) + BO_KEYS), (5, 10, 5, 5),
          where + ": doc-14 released: its units back to the budget at once")
    t.stock([("DOC-1", "E1", 9)])
    a = c.atp("DOC-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp",) + BO_KEYS), (4, 10, 0, 10),
          where + ": supply 9 covers reserved 5: ATP 4, used 0")
    r = t.reserve("doc-17", [["DOC-1", "east", 6]], "web", True, where=where)
    ck.eq([l.get("backordered") for l in (r.get("reservation") or {}).get("lines") or []], [2],
          where + ": 6 with ATP 4: 2 backordered")
    r = t.reserve("doc-18", [["DOC-1", "east", 20]], "web", True, True, where=where)
    ck.eq([(f.get("qty"), f.get("granted")) for f in r.get("fill") or []], [(20, 8)],
          where + ": partial 20 with left 8: 8 granted")
    ck.eq([l.get("backordered") for l in (r.get("reservation") or {}).get("lines") or []], [8],
          where + ": partial: the 8 all backordered")
    r = t.reserve("doc-19", [["DOC-1", "east", 1]], "web", True, True, where=where)
    ck.eq(r.get("granted"), False, where + ": partial with nothing left: refused")
    for ch in CHANNELS:
        t.check_regions("DOC-1", ch, where + " end")
    x = c.ok({"op": "explain", "sku": "DOC-1"})
    web = [ch for reg in x.get("regions") or [] if reg.get("region") == "east"
           for ch in reg.get("channels") or [] if ch.get("channel") == "web"]
    want = t.m.answer("DOC-1", "east", "web")
    ck.eq([{k: e.get(k) for k in BO_KEYS} for e in web], [{k: want[k] for k in BO_KEYS}],
          where + ": explain's east/web answer shows the budget's use")


def buffer_above_stock(t, where="buffer above the stock"):
    """docs: used = max(0, reserved - max(0, supply - buffer)): a buffer
    larger than the stock keeps back nothing more and uses no budget."""
    ck, c = t.ck, t.c
    t.stock([("BUF-1", "E1", 1)])
    a = c.atp("BUF-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp", "supply", "buffer") + BO_KEYS), (0, 1, 3, 2, 0, 2),
          where + ": supply 1, buffer 3: ATP 0, nothing used, left 2")
    r = t.reserve("buf-1", [["BUF-1", "east", 3]], "web", True, where=where)
    ck.eq([l.get("available") for l in r.get("lines") or []], [2],
          where + ": 3 refused, available ATP 0 + left 2")
    r = t.reserve("buf-2", [["BUF-1", "east", 2]], "web", True, where=where)
    ck.eq([l.get("backordered") for l in (r.get("reservation") or {}).get("lines") or []], [2],
          where + ": 2 granted, both backordered")
    a = c.atp("BUF-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp", "reserved") + BO_KEYS), (0, 2, 2, 2, 0),
          where + ": used 2 of 2")
    t.stock([("BUF-1", "E1", 4)])
    a = c.atp("BUF-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp",) + BO_KEYS), (0, 2, 1, 1),
          where + ": supply 4 - buffer 3 = 1 may be sold: used 1")
    t.stock([("BUF-1", "E1", 6)])
    a = c.atp("BUF-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp",) + BO_KEYS), (1, 2, 0, 2),
          where + ": supply 6 covers reserved 2 + buffer 3: ATP 1, used 0")
    for ch in CHANNELS:
        t.check_regions("BUF-1", ch, where)


def consumption(t, where="consumption"):
    """A committed backorder consumed by an allocation event naming its
    order: reserved and used fall, backordered stays."""
    ck, c, m = t.ck, t.c, t.m
    t.stock([("CS-1", "E1", 2)])
    r = t.reserve("cs-1", [["CS-1", "east", 5]], "web", True, where=where)
    ck.eq([l.get("backordered") for l in (r.get("reservation") or {}).get("lines") or []], [3],
          where + ": 5 with ATP 2: 3 backordered")
    t.commit("cs-1", "SO-CS-1", where=where)
    a = c.atp("CS-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp", "reserved") + BO_KEYS), (0, 5, 5, 3, 2),
          where + ": committed: still counts, used 3")
    t.stock([("CS-1", "E1", 7)])
    a = c.atp("CS-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp",) + BO_KEYS), (2, 5, 0, 5),
          where + ": 5 arrive: the promise first, ATP 2, used 0")
    t.feed.publish("wms", [[1, "CS-1", "E1", 1, 5, "SO-CS-1"]])
    m.alloc[("CS-1", "E1")] = 5
    rv = m.resv["cs-1"]
    rv["lines"][0]["consumed"] = 5
    rv["state"] = "consumed"
    t.get("cs-1", where + ": the WMS allocated SO-CS-1")
    ck.eq([(l.get("consumed"), l.get("backordered")) for l in
           (c.get("cs-1") or {}).get("lines") or []], [(5, 3)],
          where + ": consumed 5, backordered kept")
    a = c.atp("CS-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp", "supply", "reserved") + BO_KEYS), (2, 2, 0, 5, 0, 5),
          where + ": consumed: supply 2 (5 allocated), reserved 0, nothing used")
    t.check_row("CS-1", "east", "web", where)


def rule_levels(t, where="rule levels"):
    """The file's rules at several levels, every row against the model,
    with literal expectations for the interesting ones."""
    ck, c = t.ck, t.c
    for s in RANDOM_SKUS:
        for ch in CHANNELS:
            t.check_regions(s, ch, where)
    lit = {("BK-A", "east", "web"): (5, "sku+channel"),
           ("BK-A", "west", "web"): (2, "sku+region+channel"),
           ("BK-A", "north", "web"): (None, "sku+region+channel"),
           ("BK-A", "east", "app"): (None, "global"),
           ("BK-A", "north", "app"): (None, "region+channel"),
           ("BK-B", "west", "app"): (4, "sku"),
           ("BK-C", "east", "default"): (3, "sku+region"),
           ("BK-C", "north", "web"): (1, "sku"),
           ("BIG-1", "north", "app"): (BIG, "sku")}
    for (s, r, ch), (budget, level) in lit.items():
        a = c.atp(s, r, ch)
        ck.eq((a.get("backorder_budget"), a.get("rule")), (budget, level),
              "%s: %s@%s/%s budget and rule" % (where, s, r, ch))
    a = c.atp("BIG-1", "north", "app")
    ck.eq(tuple(a.get(k) for k in BO_KEYS), (BIG, 0, BIG), where + ": a budget of 10^15")
    a = c.atp("BK-B", "east", "web")
    want = t.m.answer("BK-B", "east", "web")
    ck.eq((a.get("buffer"), a.get("backorder_used")), (2, want["backorder_used"]),
          where + ": BK-B's buffer 2 counts in used")


def admin_budgets(t, where="admin"):
    """A budget set at run time, visible at once, lowered below what is
    used, removed, set to 0."""
    ck, c = t.ck, t.c
    t.stock([("ADM-1", "E1", 1), ("ADM-1", "W1", 1)])
    t.check_row("ADM-1", "east", "web", where + " before")
    t.reserve("adm-1", [["ADM-1", "east", 3]], "web", True, where=where + " (no rule yet)")
    ck.eq(t.c.get("adm-1"), None, where + ": no budget yet: nothing held")
    t.admin({"op": "admin_set_buffer", "change_id": "adm-set-1", "sku": "ADM-1",
             "region": "east", "units": 1, "backorder": 4}, where + ": set ADM-1 east 4")
    a = c.atp("ADM-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp", "buffer", "rule") + BO_KEYS),
          (0, 1, "sku+region", 4, 0, 4), where + ": the new budget answers at once")
    for ch in CHANNELS:
        t.check_row("ADM-1", "east", ch, where + " set")
        t.check_row("ADM-1", "west", ch, where + " set (west untouched)")
    lst = c.ok({"op": "admin_list"})
    rules = [b for b in lst.get("buffers") or [] if b.get("sku") == "ADM-1"]
    ck.eq([(b.get("region"), b.get("channel"), b.get("units"), b.get("backorder"))
           for b in rules], [("east", None, 1, 4)], where + ": admin_list shows the budget")
    hist = c.ok({"op": "admin_history", "after": lst["version"] - 1})
    last = (hist.get("changes") or [{}])[-1]
    ck.check("backorder=4" in (last.get("what") or "") and
             "backorder 4" in (last.get("after") or ""),
             "%s: the audit record says the budget: %r", where, last)
    r = t.reserve("adm-2", [["ADM-1", "east", 3]], "web", True, where=where)
    ck.eq([l.get("backordered") for l in (r.get("reservation") or {}).get("lines") or []], [3],
          where + ": 3 with ATP 0 (buffer 1 of supply 1): 3 backordered")
    t.admin({"op": "admin_set_buffer", "change_id": "adm-set-2", "sku": "ADM-1",
             "region": "east", "units": 1, "backorder": 2}, where + ": lower to 2")
    a = c.atp("ADM-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in BO_KEYS), (2, 3, 0), where + ": lowered below used: left 0")
    t.get("adm-2", where + " lowered: kept")
    t.reserve("adm-3", [["ADM-1", "east", 1]], "web", True, where=where + " lowered")
    ck.eq(t.c.get("adm-3"), None, where + ": lowered below used: a new backorder is refused")
    rep = c.req({"op": "admin_set_buffer", "change_id": "adm-set-2", "sku": "ADM-1",
                 "region": "east", "units": 1, "backorder": 2})
    ck.eq((rep.get("ok"), rep.get("replayed"), rep.get("version")),
          (True, True, t.admin_version), where + ": the same change again: replayed")
    rep = c.req({"op": "admin_set_buffer", "change_id": "adm-set-2", "sku": "ADM-1",
                 "region": "east", "units": 1, "backorder": 3})
    ck.eq(error_name(rep), "conflict", where + ": the change id with another budget: conflict")
    t.admin({"op": "admin_remove_buffer", "change_id": "adm-rm-1", "sku": "ADM-1",
             "region": "east"}, where + ": remove")
    a = c.atp("ADM-1", "east", "web")
    ck.eq(([k for k in BO_KEYS if k in a], a.get("rule"), a.get("atp")), ([], "global", 0),
          where + ": removed: no budget keys, ATP 0 (reserved 3 > supply 1)")
    t.admin({"op": "admin_set_buffer", "change_id": "adm-set-3", "sku": "ADM-1",
             "backorder": 0}, where + ": backorder 0")
    a = c.atp("ADM-1", "west", "web")
    ck.eq(([k for k in BO_KEYS if k in a], a.get("rule")), ([], "sku"),
          where + ": a rule with backorder 0: no budget keys")
    t.admin({"op": "admin_set_buffer", "change_id": "adm-set-4", "sku": "ADM-1",
             "channel": "web", "backorder": 10}, where + ": sku+channel 10")
    for reg in ("east", "west", "north"):
        t.check_row("ADM-1", reg, "web", where + " sku+channel 10")
    a = c.atp("ADM-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in BO_KEYS), (10, 2, 8), where + ": 10 with 3 held on 1: used 2")
    # over HTTP: PUT /v1/admin/buffers with a backorder
    http = H.Http(t.d)
    try:
        st, _, doc = http.call("PUT", "/v1/admin/buffers",
                               {"change_id": "adm-http-1", "sku": "ADM-1", "region": "west",
                                "backorder": 6})
        ck.eq((st, doc.get("ok")), (200, True), where + ": PUT /v1/admin/buffers backorder 6: %r"
              % doc)
        if doc.get("ok") is True:
            t.admin_version = doc.get("version")
            t.m.set_rule("ADM-1", "west", None, backorder=6)
        st, _, a = http.call("GET", "/v1/availability/ADM-1/west?channel=web")
        want = t.m.answer("ADM-1", "west", "web")
        ck.eq({k: a.get(k) for k in ANSWER_KEYS + BO_KEYS if k in a or k in want}, want,
              where + ": GET /v1/availability/ADM-1/west over HTTP")
    finally:
        http.close()


def pinned(t, where="pinned"):
    """A pinned line never uses a budget."""
    ck, c = t.ck, t.c
    t.stock([("PK-1", "E1", 5), ("PK-1", "E2", 1)])
    r = t.reserve("pk-1", [["PK-1", "east", 2, "E2"]], "web", True, where=where)
    ck.eq([(l.get("location"), l.get("available"), l.get("ok")) for l in r.get("lines") or []],
          [("E2", 1, False)], where + ": 2 pinned at a shelf of 1: refused although east "
          "has ATP 6 and a budget of 5")
    r = t.reserve("pk-2", [["PK-1", "east", 1, "E2"]], "web", True, where=where)
    ck.eq([("backordered" in l, l.get("location")) for l in
           (r.get("reservation") or {}).get("lines") or []], [(False, "E2")],
          where + ": 1 pinned within the shelf: granted, nothing backordered")
    t.stock([("PK-1", "E2", 3)])
    t.reserve("pk-3", [["PK-1", "east", 7]], "web", None, where=where)   # east ATP 0 now
    a = c.atp("PK-1", "east", "web")
    ck.eq(tuple(a.get(k) for k in ("atp",) + BO_KEYS), (0, 5, 0, 5),
          where + ": east ATP 0 with its budget untouched")
    r = t.reserve("pk-4", [["PK-1", "east", 1, "E2"]], "web", True, where=where)
    ck.eq([(l.get("available"), l.get("ok")) for l in r.get("lines") or []], [(0, False)],
          where + ": the store has 2 on the shelf but east's ATP is 0: a pinned backorder is "
          "refused, budget left 5")
    r = t.reserve("pk-5", [["PK-1", "east", 1, "E2"], ["BIG-1", "east", 1]], "web", True,
                  where=where)
    ck.eq(r.get("granted"), False, where + ": a pinned line refused refuses the reserve")
    r = t.reserve("pk-6", [["PK-1", "west", 2]], "web", True, where=where)
    ck.eq([l.get("backordered") for l in (r.get("reservation") or {}).get("lines") or []], [2],
          where + ": the same SKU unpinned in west: 2 backordered")
    r = t.reserve("pk-7", [["PK-1", "east", 1]], "web", True, where=where)
    ck.eq([l.get("backordered") for l in (r.get("reservation") or {}).get("lines") or []], [1],
          where + ": unpinned in east: the budget is there")
    x = c.ok({"op": "pickup", "sku": "PK-1", "region": "east", "channel": "web"})
    e2 = [l for l in x.get("locations") or [] if l.get("location") == "E2"]
    ck.eq([(l.get("reserved"), l.get("pickup_atp")) for l in e2], [(1, 0)],
          where + ": pickup E2: its pin, pickup ATP 0 (capped by east)")
    want = t.m.answer("PK-1", "east", "web")
    ck.eq({k: x.get(k) for k in ANSWER_KEYS + BO_KEYS if k in x or k in want}, want,
          where + ": pickup's region answer is atp's, budget included")


def replays(t, where="replays"):
    ck = t.ck
    t.stock([("RP-1", "E1", 1), ("RP-1", "W1", 2)])
    r = t.reserve("rp-bo", [["RP-1", "east", 2], ["RP-1", "east", 2]], "web", True,
                  where=where)
    first = (r.get("reservation") or {}).get("lines")
    ck.eq([l.get("backordered") for l in first or []], [3], where + ": 4 with ATP 1: 3")
    # the same content (merged, in another writing): replayed, the same backordered
    r = t.reserve("rp-bo", [["RP-1", "east", 4]], "web", True, where=where)
    ck.eq((r.get("replayed"), (r.get("reservation") or {}).get("lines")), (True, first),
          where + ": replay: the same lines and backordered")
    for flag in (None, False):
        r = t.send_reserve("rp-bo", [["RP-1", "east", 4]], "web", flag, None)[0]
        ck.eq(error_name(r), "conflict", where + ": replay with backorder %r: conflict" % flag)
    r = t.send_reserve("rp-bo", [["RP-1", "east", 4]], "web", True, True)[0]
    ck.eq(error_name(r), "conflict", where + ": replay with partial too: conflict")
    r = t.send_reserve("rp-bo", [["RP-1", "east", 4]], "app", True, None)[0]
    ck.eq(error_name(r), "conflict", where + ": replay in another channel: conflict")
    # a plain reserve's id with backorder: conflict; null is false
    t.reserve("rp-plain", [["RP-1", "west", 1]], "web", None, where=where)
    r = t.send_reserve("rp-plain", [["RP-1", "west", 1]], "web", True, None)[0]
    ck.eq(error_name(r), "conflict", where + ": a plain reserve's id with backorder: conflict")
    for flag in (False, None):
        r = t.send_reserve("rp-plain", [["RP-1", "west", 1]], "web", flag, None,
                           flags_raw={"backorder": flag})[0]
        ck.eq((r.get("granted"), r.get("replayed")), (True, True),
              where + ": a plain reserve's id with backorder %r: replayed" % flag)
        ck.eq([("backordered" in l) for l in (r.get("reservation") or {}).get("lines") or []],
              [False], where + ": a plain reserve's lines have no backordered")
    # partial + backorder
    t.reserve("rp-part", [["RP-1", "east", 9]], "web", True, True, where=where)
    t.reserve("rp-part", [["RP-1", "east", 9]], "web", True, True, where=where)
    for bo, pa in ((None, True), (True, None)):
        r = t.send_reserve("rp-part", [["RP-1", "east", 9]], "web", bo, pa)[0]
        ck.eq(error_name(r), "conflict",
              where + ": partial backorder reserve again as backorder=%r partial=%r: conflict"
              % (bo, pa))
    # after a stock arrival and a release: still the answer of the grant
    t.stock([("RP-1", "E1", 20)])
    t.reserve("rp-bo", [["RP-1", "east", 3], ["RP-1", "east", 1]], "web", True, where=where)
    t.release("rp-bo", where=where)
    r = t.reserve("rp-bo", [["RP-1", "east", 4]], "web", True, where=where)
    ck.eq([(l.get("released"), l.get("backordered")) for l in
           (r.get("reservation") or {}).get("lines") or []], [(4, 3)],
          where + ": released, replayed: backordered 3 kept")
    r = t.send_reserve("rp-bo", [["RP-1", "east", 4]], "web", False, None)[0]
    ck.eq(error_name(r), "conflict", where + ": released, without backorder: still conflict")
    t.check_row("RP-1", "east", "web", where + " end")


def expiry(t, where="expiry"):
    """An expiring backorder gives its units back to the budget."""
    ck, c = t.ck, t.c
    t.stock([("EX-1", "W1", 1)])
    r = t.reserve("ex-1", [["EX-1", "west", 3]], "app", True, where=where, ttl_ms=1000)
    ck.eq([l.get("backordered") for l in (r.get("reservation") or {}).get("lines") or []], [2],
          where + ": 3 with ATP 1 for 1 s: 2 backordered")
    a = c.atp("EX-1", "west", "app")
    ck.eq(tuple(a.get(k) for k in BO_KEYS), (4, 2, 2), where + ": used 2 while it is held")
    last = {}

    def back():
        last.update(c.atp("EX-1", "west", "app"))
        return last.get("reserved") == 0

    try:
        harness.wait_until(back, 15, 0.05, "ex-1's expiry")
    except TestFailure as e:
        ck.check(False, "%s: %s (last answer %r)", where, e, last)
    t.m.resv["ex-1"]["state"] = "expired"
    ck.eq(tuple(last.get(k) for k in BO_KEYS), (4, 0, 4),
          where + ": expired: the budget is free again")
    t.get("ex-1", where + " expired")


def http_backorder(t, where="HTTP"):
    ck = t.ck
    t.stock([("HT-1", "W1", 1)])
    http = H.Http(t.d)
    try:
        r = t.reserve("ht-1", [["HT-1", "west", 3]], "web", True, where=where, http=http)
        ck.eq([l.get("backordered") for l in (r.get("reservation") or {}).get("lines") or []],
              [2], where + ": POST /v1/reservations with backorder: 2 of 3 backordered")
        t.reserve("ht-1", [["HT-1", "west", 3]], "web", True, where=where, http=http)
        t.reserve("ht-1", [["HT-1", "west", 3]], "web", None, where=where, http=http)
        st, _, a = http.call("GET", "/v1/availability/HT-1/west?channel=web")
        want = t.m.answer("HT-1", "west", "web")
        ck.eq((st, {k: a.get(k) for k in ANSWER_KEYS + BO_KEYS if k in a or k in want}),
              (200, want), where + ": GET /v1/availability/HT-1/west")
        st, _, a = http.call("GET", "/v1/availability/HT-1?channel=web")
        got = [{k: x.get(k) for k in ANSWER_KEYS + BO_KEYS if k in x}
               for x in a.get("regions") or []]
        ck.eq(got, [t.m.answer("HT-1", reg, "web") for reg in REGIONS],
              where + ": GET /v1/availability/HT-1")
        for val in ("yes", 1):
            st, _, doc = http.call("POST", "/v1/reservations",
                                   {"id": "ht-bad", "backorder": val,
                                    "lines": [["HT-1", "west", 1]]})
            ck.eq((st, error_name(doc)), (400, "bad_request"),
                  where + ": backorder %r over HTTP: 400 bad_request" % (val,))
        ck.eq(t.c.get("ht-bad"), None, where + ": nothing stored for the bad ones")
    finally:
        http.close()


def bad_input(t, where="bad input"):
    ck, c = t.ck, t.c
    before = c.atp("BK-A", "east", "web")
    for val in ("yes", 1, 0, [True], {"x": 1}, 1.5):
        r = c.req({"op": "reserve", "id": "bad-bo", "backorder": val,
                   "lines": [["BK-A", "east", 1]]})
        ck.eq(error_name(r), "bad_request", "%s: reserve backorder %r: bad_request" % (where, val))
    ck.eq(c.get("bad-bo"), None, where + ": nothing stored")
    ck.eq(c.atp("BK-A", "east", "web"), before, where + ": nothing changed")
    v0 = c.ok({"op": "admin_list"})
    for val, name in ((-1, "bad_qty"), (BIG + 1, "bad_qty"), ("3", "bad_request"),
                      (True, "bad_request"), (2.5, "bad_request")):
        r = c.req({"op": "admin_set_buffer", "change_id": "bad-bo-%r" % (val,), "sku": "BK-A",
                   "backorder": val})
        ck.eq(error_name(r), name, "%s: admin_set_buffer backorder %r: %s" % (where, val, name))
    r = c.req({"op": "admin_set_buffer", "change_id": "big-bo", "sku": "ADM-2",
               "backorder": BIG})
    ck.eq(r.get("ok"), True, where + ": admin_set_buffer backorder 10^15 is accepted")
    if r.get("ok") is True:
        t.admin_version = r.get("version")
        t.m.set_rule("ADM-2", None, None, backorder=BIG)
        v0 = c.ok({"op": "admin_list"})
    ck.eq(c.ok({"op": "admin_list"}), v0, where + ": the refused changes changed nothing")


def feed_check(t, where="feed"):
    """The change feed shows the budget's use on the channel with a budget."""
    ck = t.ck
    sub = F.Sub(t.d, prefixes=(b"atp\0east\0FD-1\0",))
    try:
        t.stock([("FD-1", "E1", 2)])
        got = sub.wait_for(lambda r, s, b: b.get("supply") == 2, 10, "FD-1 supply 2")
        body = got[-1][2]
        chans = {e.get("channel"): e for e in body.get("channels") or []}
        ck.eq([e.get("channel") for e in body.get("channels") or []], CHANNELS,
              where + ": channels in configuration order")
        ck.eq({k: chans.get("web", {}).get(k) for k in ("atp", "backorder_budget",
                                                        "backorder_used")},
              {"atp": 2, "backorder_budget": 3, "backorder_used": 0},
              where + ": web has a budget: its keys, used 0")
        for ch in ("default", "app"):
            ck.eq([k for k in BO_KEYS if k in chans.get(ch, {})], [],
                  where + ": %s has no budget: no backorder keys" % ch)
        t.reserve("fd-1", [["FD-1", "east", 4]], "web", True, where=where)
        got = sub.wait_for(lambda r, s, b: b.get("reserved") == 4, 10, "FD-1 reserved 4")
        body = got[-1][2]
        ck.eq({k: body.get(k) for k in ("sku", "region", "supply", "reserved", "shortfall",
                                        "stale")},
              {"sku": "FD-1", "region": "east", "supply": 2, "reserved": 4, "shortfall": 2,
               "stale": False}, where + ": the row after the backorder grant")
        chans = {e.get("channel"): e for e in body.get("channels") or []}
        ck.eq({k: chans.get("web", {}).get(k) for k in ("atp", "buffer", "backorder_budget",
                                                        "backorder_used")},
              {"atp": 0, "buffer": 0, "backorder_budget": 3, "backorder_used": 2},
              where + ": web after the grant: used 2 of 3")
        for ch in ("default", "app"):
            e = chans.get(ch, {})
            ck.eq(([k for k in BO_KEYS if k in e], e.get("atp")), ([], 0),
                  where + ": %s after the grant: ATP 0, no backorder keys" % ch)
        t.release("fd-1", where=where)
        got = sub.wait_for(lambda r, s, b: b.get("reserved") == 0, 10, "FD-1 released")
        chans = {e.get("channel"): e for e in got[-1][2].get("channels") or []}
        ck.eq((chans.get("web", {}).get("backorder_used"), chans.get("web", {}).get("atp")),
              (0, 2), where + ": released: used 0 on the feed")
    finally:
        sub.close()


# ---------------------------------------------------------------------------
# the random sequence


def random_lines(rng, skus, regions):
    lines, split_skus, used = [], set(), set()
    for _ in range(rng.randint(1, 3)):
        sku = rng.choice(skus)
        if sku in split_skus:
            continue
        if rng.random() < 0.18 and sku not in used:
            lines.append([sku, rng.sample(regions, rng.randint(2, len(regions))),
                          rng.randint(1, 7)])
            split_skus.add(sku)
        else:
            lines.append([sku, rng.choice(regions), rng.randint(1, 4)])
        used.add(sku)
    return lines


def random_sequence(t, rng, steps, budget_s):
    ck, m = t.ck, t.m
    t.stock([(s, l, rng.randint(0, 4)) for s in RANDOM_SKUS for l in LOCS])
    t.sweep(RANDOM_SKUS, rng, "random start")
    n = {"reserve": 0, "granted": 0, "bo": 0, "split_bo": 0, "partial_bo": 0, "release": 0,
         "commit": 0, "stock": 0, "replay": 0, "admin": 0, "sweep": 0}
    rid_n = 0
    last_admin = 0
    for step in U.timed_steps(steps, budget_s * harness.TIME_FACTOR):
        where = "random step %d" % step
        x = rng.random()
        open_ids = [r for r, v in m.resv.items() if v["state"] in ("held", "committed")
                    and r.startswith("rnd-")]
        if x < 0.45:
            rid_n += 1
            rid = "rnd-%d" % rid_n
            lines = random_lines(rng, RANDOM_SKUS, REGIONS)
            ch = rng.choice(CHANNELS)
            bo = rng.choice([True, True, True, None, False])
            pa = True if rng.random() < 0.25 else rng.choice([None, False])
            rep = t.reserve(rid, lines, ch, bo, pa, where=where)
            n["reserve"] += 1
            if rep.get("granted") is True:
                n["granted"] += 1
                beyond = any("backordered" in l for l in rep["reservation"]["lines"])
                n["bo"] += beyond
                n["split_bo"] += beyond and any(isinstance(l[1], list) for l in lines)
                n["partial_bo"] += beyond and bool(pa)
            touched = {(l[0], r) for l in lines for r in (l[1] if isinstance(l[1], list)
                                                          else [l[1]])}
            for s, r in sorted(touched):
                t.check_row(s, r, ch, where)
        elif x < 0.58 and open_ids:
            rv = t.random_release(rng, open_ids, where)
            n["release"] += 1
            for ln in rv["lines"]:
                t.check_row(ln["sku"], ln["region"], rng.choice(CHANNELS), where)
        elif x < 0.64 and open_ids:
            rid = t.random_commit(rng, open_ids, where)
            n["commit"] += 1
            t.check_row(m.resv[rid]["lines"][0]["sku"], m.resv[rid]["lines"][0]["region"],
                        m.resv[rid]["channel"], where)
        elif x < 0.80:
            sku = rng.choice(RANDOM_SKUS)
            changes = [(sku, l, rng.choice([0, 0, 1, 2, 3, 5, 8])) for l in
                       rng.sample(list(LOCS), rng.randint(1, 2))]
            t.stock(changes)
            n["stock"] += 1
            for r in REGIONS:
                t.check_row(sku, r, rng.choice(CHANNELS), where)
        elif x < 0.87:
            ids = [r for r in m.resv if r.startswith("rnd-")]
            if not ids:
                continue
            rid = rng.choice(ids)
            rv = m.resv[rid]
            ch = rv["channel"]
            lines, bo, pa = rv["request"]
            lines = list(reversed(lines))   # the same content in another order
            if rng.random() < 0.6:
                t.reserve(rid, lines, ch, bo or None, pa or None, where=where + " (replay)")
            else:
                t.reserve(rid, lines, ch, not bo, pa or None, where=where + " (flipped)")
            n["replay"] += 1
        elif x < 0.93 and step - last_admin >= 3:
            last_admin = step
            sku = rng.choice(["BK-A", "BK-D"])
            scope = rng.choice([(sku, None, None), (sku, "east", None), (sku, None, "web"),
                                (sku, "west", "web"), (sku, "north", "app")])
            existing = [k for k in m.rules if k[0] == sku]
            n["admin"] += 1
            if existing and rng.random() < 0.35:
                k = rng.choice(existing)
                body = {"op": "admin_remove_buffer", "change_id": "rnd-rm-%d" % step}
                body.update({f: v for f, v in zip(("sku", "region", "channel"), k) if v})
                t.admin(body, where + ": remove %r" % (k,))
            else:
                body = {"op": "admin_set_buffer", "change_id": "rnd-set-%d" % step}
                body.update({f: v for f, v in zip(("sku", "region", "channel"), scope) if v})
                body["backorder"] = rng.choice([0, 1, 2, 3, 5, 8])
                if rng.random() < 0.5:
                    body["units"] = rng.randint(0, 2)
                if rng.random() < 0.15:
                    body["percent"] = rng.choice([10, "12.5", 50])
                t.admin(body, where + ": set %r" % (body,))
            for ch in CHANNELS:
                t.check_regions(sku, ch, where + " after the rule change")
        else:
            t.sweep(RANDOM_SKUS, rng, where)
            n["sweep"] += 1
    t.sweep(RANDOM_SKUS, rng, "random end")
    for rid in [r for r in m.resv if r.startswith("rnd-")]:
        t.get(rid, "random end")
    t.h.log("random: %r", n)
    ck.check(n["bo"] >= 5 and n["split_bo"] >= 1 and n["partial_bo"] >= 1,
             "the random sequence granted few backorders (%r): it means little", n)
    ck.check(any(m.answer(s, r, ch).get("backorder_left", 1) == 0 and
                 m.answer(s, r, ch).get("backorder_used", 0) > 0
                 for s in RANDOM_SKUS for r in REGIONS for ch in CHANNELS) or n["bo"] >= 10,
             "the random sequence never used a budget up")


# ---------------------------------------------------------------------------
# the race


RACE_STOCK = {("RC-1", "E1"): 5, ("RC-1", "W1"): 3, ("RC-2", "E1"): 4, ("RC-2", "W1"): 2,
              ("RC-3", "E2"): 3, ("RC-3", "W1"): 3, ("RC-4", "E1"): 1}


def race_body(rng, rid, j):
    """A racer's reserve: random lines (split ones too) of at most 3 units,
    with backorder 55 times in 100, partial 25."""
    lines = random_lines(rng, RACE_SKUS, RACE_REGIONS)
    for ln in lines:
        ln[2] = min(ln[2], 3)
    body = {"id": rid, "channel": rng.choice(CHANNELS), "lines": lines}
    if rng.random() < 0.55:
        body["backorder"] = True
    if rng.random() < 0.25:
        body["partial"] = True
    return body


def race(t, seed, rnd):
    where = "race round %d" % rnd
    ck, m = t.ck, t.m
    rr = random.Random(seed + rnd)
    # each round its own stock (a little different), nothing held
    t.stock([(s, l, max(0, q + rr.randint(-1, 1))) for (s, l), q in RACE_STOCK.items()])
    rows = [(s, r) for s in RACE_SKUS for r in RACE_REGIONS]
    for s, r in rows:
        for ch in CHANNELS:
            t.check_row(s, r, ch, where + " before")
    results, granted, refused = M.race(t, seed, rnd, U.scaled(60, 15), race_body, 8, where)
    held = {k: 0 for k in rows}
    plain_held = {k: 0 for k in rows}
    beyond = {k: 0 for k in rows}
    n_http_bo = 0
    for body, rep, via in granted:
        bo, pa = "backorder" in body, "partial" in body
        res = rep.get("reservation") or {}
        order, merged = Model.merge(body["lines"])
        by_key = {}
        for l in res.get("lines") or []:
            k = (l.get("sku"), l.get("region"))
            q = l.get("qty", 0)
            held[k] = held.get(k, 0) + q
            by_key[k] = by_key.get(k, 0) + q
            b = l.get("backordered", 0)
            if not bo:
                ck.check("backordered" not in l, "%s: plain reserve %s (%s) holds a backordered "
                         "line: %r", where, body["id"], via, l)
                plain_held[k] = plain_held.get(k, 0) + q
            else:
                ck.check(isinstance(b, int) and 0 <= b <= q and ("backordered" not in l or b > 0),
                         "%s: %s line %r: backordered within 1..qty or absent", where,
                         body["id"], l)
                beyond[k] = beyond.get(k, 0) + b
                n_http_bo += via == "http" and b > 0
        for key in order:
            q = merged[key][0]
            if isinstance(key[1], tuple):   # a split line: its SKU is in no other line
                g = sum(v for (s_, r_), v in by_key.items() if s_ == key[0] and r_ in key[1])
            else:
                g = by_key.get(key, 0)
            ck.check(0 <= g <= q if pa else g == q, "%s: %s (%s%s) holds %d of %s asked %d",
                     where, body["id"], via, " partial" if pa else "", g, key, q)
        # the model adopts what atpd granted (checked below as a whole)
        split = any(isinstance(k[1], tuple) for k in order)
        m.resv[body["id"]] = {
            "id": body["id"], "state": "held", "channel": body["channel"],
            "lines": [{k2: v for k2, v in l.items()
                       if k2 in ("sku", "region", "qty", "consumed", "released", "backordered",
                                 "location")} for l in res.get("lines") or []],
            "fill": "unknown" if (pa or split) else None,
            "first_fill": fill_of(rep.get("fill")),
            "content": Model.content(body["channel"], body["lines"], bo, pa),
            "request": ([list(l) for l in body["lines"]], bo, pa),
            "order_ref": None, "bo_units": sum(l.get("backordered", 0)
                                               for l in res.get("lines") or [])}
        if m.resv[body["id"]]["bo_units"] > 0:
            m.bo_reserves += 1
            m.bo_units += m.resv[body["id"]]["bo_units"]
    for body, rep, via in refused:
        pa = "partial" in body
        lines = rep.get("lines") or []
        ck.check(lines and all(isinstance(l.get("available"), int) and l["available"] >= 0
                               for l in lines),
                 "%s: refusal of %s: %r", where, body["id"], rep)
        if pa:
            ck.check(all(l.get("available") == 0 for l in lines),
                     "%s: a partial reserve %s refused while a line had %r", where, body["id"],
                     lines)
        else:
            ck.check(any(l.get("ok") is False and l.get("qty", 0) > l.get("available", 0)
                         for l in lines), "%s: refusal of %s with every line ok: %r", where,
                     body["id"], lines)
    # the bank check
    for s, r in rows:
        sup = m.supply(s, r)
        for ch in CHANNELS:
            a = t.c.atp(s, r, ch)
            want = m.answer(s, r, ch)
            budget = want.get("backorder_budget", 0)
            ck.eq(a.get("reserved"), held[(s, r)], "%s: %s@%s/%s reserved == open quantities held"
                  % (where, s, r, ch))
            ck.check(a.get("reserved", 0) <= max(0, sup - a.get("buffer", 0)) + budget,
                     "%s: %s@%s/%s promised beyond ATP: reserved %s > max(0, supply %d - "
                     "buffer %s) + budget %d", where, s, r, ch, a.get("reserved"), sup,
                     a.get("buffer"), budget)
            got = {k: a.get(k) for k in ANSWER_KEYS + BO_KEYS if k in a or k in want}
            ck.eq(got, want, "%s: %s@%s/%s answer after the race" % (where, s, r, ch))
        cap = sup - m.answer(s, r, "web")["buffer"]
        ck.check(plain_held[(s, r)] <= max(0, cap),
                 "%s: %s@%s: plain reserves hold %d > supply - buffer %d (took units beyond "
                 "ATP)", where, s, r, plain_held[(s, r)], cap)
        ck.eq(beyond[(s, r)], m.answer(s, r, "web").get("backorder_used", 0),
              "%s: %s@%s: the backordered units granted add up to backorder_used"
              % (where, s, r))
    ck.check(any(m.answer(s, r, "web").get("backorder_left", 1) == 0 for s, r in rows),
             "%s: the race used up no budget: it means little", where)
    t.race_beyond += sum(beyond.values())
    t.race_http_bo += n_http_bo
    t.h.log("%s: %d reserves, %d granted, beyond ATP %r, plain %r", where, len(results),
            len(granted), beyond, plain_held)
    for body, _, _ in granted[:: max(1, len(granted) // 12)]:
        t.get(body["id"], where + " read back")
    return [b["id"] for b, _, _ in granted]


# ---------------------------------------------------------------------------


def build_cfg(h):
    return M.layout_config(h, [("wms", list(LOCS), ALL)], FILE_RULES)


def atpctl_backorder(t, where="atpctl"):
    """atpctl reserve --backorder holds beyond ATP and says how many;
    atpctl atp shows the budget's use (PROTOCOL.md, "Backorder budgets")."""
    ck, d = t.ck, t.d
    t.stock([("CTL-1", "E1", 2)])
    ep = "tcp://127.0.0.1:%d" % d.query_port
    p = harness.run_ctl(t.h, ["--endpoint", ep, "reserve", "ctl-bo-1", "CTL-1:east:5",
                              "--channel", "web", "--backorder"])
    ck.eq(p.returncode, 0, where + ": reserve --backorder exit code (%s)" % p.stderr)
    ck.check("backordered CTL-1@east: 3 beyond ATP" in p.stdout,
             where + ": the reserve says 3 of 5 went beyond ATP: %r", p.stdout)
    t.m.bo_reserves += 1  # for the metrics check: a grant of 3 beyond ATP
    t.m.bo_units += 3
    p = harness.run_ctl(t.h, ["--endpoint", ep, "atp", "CTL-1", "east", "--channel", "web"])
    ck.check("backorder 3 of 10 used (7 left)" in p.stdout,
             where + ": atp shows the budget's use: %r", p.stdout)
    p = harness.run_ctl(t.h, ["--endpoint", ep, "release", "ctl-bo-1"])
    ck.eq(p.returncode, 0, where + ": release (%s)" % p.stderr)


def main(h):
    ck = harness.Checks(h)
    seed = M.seed_of(h)
    rng = random.Random(seed)
    cfg = build_cfg(h)
    h.log("8. a file with a bad backorder: refused at start")
    bad_config(h, ck, cfg)

    t = T.start(h, ck, cfg, Model(FILE_RULES))
    c, d = t.c, t.d
    t.stock([("PL-1", "N1", 1)])  # the source's first message: no region stale
    harness.wait_until(lambda: not any(a.get("stale") for a in c.ok(
        {"op": "regions", "sku": "PL-1"})["regions"]), 15, 0.02, "no region stale")
    m0 = scrape(d)

    h.log("1. budgets of the file's rules at several levels")
    rule_levels(t)
    h.log("2a. the documentation's example")
    doc_example(t)
    atpctl_backorder(t)
    buffer_above_stock(t)
    h.log("1b. budgets at run time (admin_set_buffer, lowered, removed)")
    admin_budgets(t)
    h.log("4a. pinned lines never use a budget")
    pinned(t)
    h.log("4b. replays and conflicts")
    replays(t)
    h.log("expiry gives a backorder's units back")
    expiry(t)
    h.log("consumption of a committed backorder")
    consumption(t)
    h.log("HTTP reserves with backorder")
    http_backorder(t)
    h.log("8b. bad input")
    bad_input(t)
    h.log("6. the change feed")
    feed_check(t)

    steps = U.scaled(900, 150)
    h.log("2b. random sequence: %d steps", steps)
    random_sequence(t, rng, steps, 60)

    h.log("3. races on the last units (%d clients, one over HTTP)", RACERS)
    rounds = U.scaled(20, 4)
    for rnd in range(rounds):
        race_ids = race(t, seed, rnd)
        if rnd < rounds - 1:   # the last round's stay open for the kill -9
            for rid in race_ids:
                t.release(rid, where="race round %d, release" % rnd)
            for s in RACE_SKUS:
                for ch in CHANNELS:
                    t.check_regions(s, ch, "race round %d released" % rnd)
    ck.check(t.race_beyond > 0 and t.race_http_bo > 0,
             "the races granted units beyond ATP (%d), some over HTTP (%d)", t.race_beyond,
             t.race_http_bo)

    h.log("7. metrics")
    m1 = scrape(d)
    for name, want in ((METRIC_RESERVES, t.m.bo_reserves), (METRIC_UNITS, t.m.bo_units)):
        v0, _ = metric(m0, name)
        v1, found = metric(m1, name)
        ck.eq(found, name, "metric %s exists under the documented name" % name)
        ck.eq(None if v1 is None else int(v1 - (v0 or 0)), want,
              "metric %s rose by what was granted beyond ATP" % name)

    h.log("5. kill -9 with backorders open, restart")
    open_bo = [r for r, v in t.m.resv.items() if v["state"] in ("held", "committed")
               and v["bo_units"] > 0]
    ck.check(len(open_bo) >= 5, "few backorders open before kill -9: %d", len(open_bo))
    skus = RANDOM_SKUS + RACE_SKUS + ["DOC-1", "PK-1", "RP-1", "ADM-1", "HT-1", "EX-1",
                                      "BUF-1", "CS-1"]
    before = t.state_before(skus, "before kill -9")
    t.kill9_restart(before, "PL-1", "regions fresh again", "after kill -9")
    for s in skus:
        for ch in CHANNELS:
            for reg in REGIONS:
                t.check_row(s, reg, ch, "after kill -9")
    for rid in (open_bo[:8] + ["rp-bo", "rp-plain", "rp-part", "ht-1"] + race_ids[:4]):
        if rid not in t.m.resv:
            continue
        ch = t.m.resv[rid]["channel"]
        lines, bo, pa = t.m.resv[rid]["request"]
        t.reserve(rid, list(reversed(lines)), ch, bo or None, pa or None,
                  where="after kill -9")
        t.reserve(rid, lines, ch, not bo, pa or None, where="after kill -9 (flipped)")
    # the budgets still work after the restart
    t.reserve("after-1", [["DOC-1", "west", 12]], "web", True, where="after kill -9")
    t.reserve("after-2", [["DOC-1", "west", 1]], "web", True, True, where="after kill -9")

    t.finish()


if __name__ == "__main__":
    harness.run(main, "resv_backorder")
