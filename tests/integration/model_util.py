"""model_util.py - what the model-checked reservation tests share
(test_bundles.py, test_resv_backorder.py): the layout they run atpd with,
the model of an ordinary SKU's row and of the reservations a test made
(docs/PROTOCOL.md "The ATP answer", "Backorder budgets"), the test's side
of atpd that checks replies against such a model, races on the last units,
and a configuration file atpd must refuse.

Standard library only; builds on harness.py, resv_util.py and http_util.py.

- ALL, REGIONS, CHANNELS, LOCS, REGION_LOCS: the layout (LOCS: id ->
  (region, type, pickup, pickup_buffer)); layout_config() the config dict.
- BIG, LEVELS, ANSWER_KEYS, BO_KEYS: 10^15, the buffer rule levels (most
  specific first), the keys of an answer and of a budget.
- seed_of(): the run's seed (ATP_TEST_SEED), logged.
- ceil_div(), pct_bp(): integer helpers of the formula.
- RowModel: stock, buffer rules and reservations; row() is the answer of
  an ordinary SKU (answer() unless a test knows better); obj(), release()
  and commit() of a reservation. A test subclasses it for its reserves.
- obj_of(), pick(): the compared parts of a reservation object and of an
  answer atpd sent.
- Driver: checks, model, client and source of one test (start() starts
  atpd and connects them): stock(), check_row(), release(), commit(),
  get(), random_release() / random_commit() (a random step's),
  state_before() / kill9_restart(), finish(). A test subclasses it
  (reserve() and the other checks are the test's own).
- race(): RACERS clients (the last over HTTP) started together on a
  barrier, each sending the reserves a test's function makes.
- bad_config_file(), config_refused(): a configuration file atpd must
  refuse, and atpd refusing it.
"""

import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402
from harness import TestFailure, error_name  # noqa: E402

ALL = ["on_hand", "allocated", "held"]
REGIONS = ["east", "west", "north"]
CHANNELS = ["default", "web", "app"]          # configuration order
# id: (region, type, pickup, pickup_buffer)
LOCS = {
    "E1": ("east", "dc", False, 0),
    "E2": ("east", "store", True, 0),
    "W1": ("west", "dc", False, 0),
    "N1": ("north", "dc", False, 0),
}
REGION_LOCS = {r: [l for l, v in LOCS.items() if v[0] == r] for r in REGIONS}
BIG = 10 ** 15
LEVELS = [((1, 1, 1), "sku+region+channel"), ((1, 1, 0), "sku+region"),
          ((1, 0, 1), "sku+channel"), ((1, 0, 0), "sku"), ((0, 1, 1), "region+channel"),
          ((0, 1, 0), "region"), ((0, 0, 1), "channel"), ((0, 0, 0), "global")]
ANSWER_KEYS = ("sku", "region", "channel", "atp", "supply", "reserved", "buffer", "rule",
               "shortfall", "stale")
BO_KEYS = ("backorder_budget", "backorder_used", "backorder_left")
RACERS = 4   # 3 over nng, the last over HTTP


def ceil_div(a, b):
    return -((-a) // b)


def pct_bp(p):
    """A buffer percent (number or "12.5") in basis points."""
    if p is None:
        return 0
    s = str(p)
    if "." in s:
        whole, frac = s.split(".")
        return int(whole) * 100 + int((frac + "00")[:2])
    return int(s) * 100


def seed_of(h):
    """The run's seed: ATP_TEST_SEED (4711 unless set), logged."""
    seed = int(os.environ.get("ATP_TEST_SEED", "4711"))
    h.log("seed %d", seed)
    return seed


def layout_config(h, sources, buffers, **resv):
    """The config dict of the layout: sources [(id, [locations], [buckets])],
    channels web and app, the buffer rules, HTTP on port 0, reservations
    long-lived (U.LONG_LIVED, min_ttl 1s) with resv's keys added."""
    cfg = U.resv_config(h, REGIONS, [(l, v[0]) for l, v in LOCS.items()], sources,
                        channels=("web", "app"), buffers=buffers,
                        service={"http_listen": "http://127.0.0.1:0"},
                        **dict(U.LONG_LIVED, min_ttl="1s", **resv))
    U.set_locations(cfg, LOCS)
    return cfg


# ---------------------------------------------------------------------------
# the model


class RowModel:
    """Stock per (sku, location), buffer rules, the reservations the test
    made; row() predicts the answer of an ordinary SKU."""

    def __init__(self, rules, stale_regions=()):
        self.onhand = {}     # (sku, loc) -> on_hand
        self.alloc = {}      # (sku, loc) -> allocated (consumed by the WMS)
        self.rules = {}      # (sku|None, region|None, channel|None) ->
        #                      (units, bp, low_stock, backorder)
        for r in rules:
            self.set_rule(r.get("sku"), r.get("region"), r.get("channel"), r.get("units"),
                          r.get("percent"), r.get("low_stock"), r.get("backorder"))
        self.resv = {}       # rid -> stored reservation (dict)
        self.stale_regions = set(stale_regions)

    # ---- rules
    def set_rule(self, sku, region, channel, units=None, percent=None, low_stock=None,
                 backorder=None):
        self.rules[(sku, region, channel)] = (int(units or 0), pct_bp(percent),
                                              int(low_stock or 0), int(backorder or 0))

    def rule(self, sku, region, channel):
        """(units, bp, low_stock, backorder, level) of the most specific rule."""
        for (us, ur, uc), name in LEVELS:
            k = (sku if us else None, region if ur else None, channel if uc else None)
            if k in self.rules:
                return self.rules[k] + (name,)
        return (0, 0, 0, 0, "global")

    # ---- the formula
    def supply(self, sku, region):
        return sum(self.net(sku, l) for l in REGION_LOCS[region])

    def net(self, sku, loc):
        return max(0, self.onhand.get((sku, loc), 0) - self.alloc.get((sku, loc), 0))

    def open_lines(self):
        for rv in self.resv.values():
            if rv["state"] in ("held", "committed"):
                for ln in rv["lines"]:
                    yield ln

    def reserved(self, sku, region):
        return sum(ln["qty"] - ln["consumed"] - ln["released"] for ln in self.open_lines()
                   if ln["sku"] == sku and ln["region"] == region)

    def row(self, sku, region, channel):
        """The answer of an ordinary SKU."""
        supply = self.supply(sku, region)
        reserved = self.reserved(sku, region)
        units, bp, _low, bo, level = self.rule(sku, region, channel)
        buffer = max(units, ceil_div(bp * supply, 10000))
        a = {"sku": sku, "region": region, "channel": channel,
             "atp": max(0, supply - reserved - buffer), "supply": supply,
             "reserved": reserved, "buffer": buffer, "rule": level,
             "shortfall": max(0, reserved - supply), "stale": region in self.stale_regions}
        if bo > 0:
            # docs/PROTOCOL.md: how far promises go beyond what may be sold
            # (a buffer above the stock keeps back nothing more)
            used = max(0, reserved - max(0, supply - buffer))
            a.update(backorder_budget=bo, backorder_used=used,
                     backorder_left=max(0, bo - used))
        return a

    def answer(self, sku, region, channel):
        return self.row(sku, region, channel)

    # ---- reservations
    def obj(self, rid):
        """The reservation object's compared part."""
        rv = self.resv[rid]
        o = {"id": rid, "state": rv["state"], "channel": rv["channel"],
             "lines": [dict(l) for l in rv["lines"]]}
        if rv["order_ref"] is not None:
            o["order_ref"] = rv["order_ref"]
        return o

    def release(self, rid, lines=None):
        """-> replayed (bool); applies."""
        rv = self.resv[rid]
        if rv["state"] not in ("held", "committed"):
            return True
        changed = False
        names = None if lines is None else [tuple(x) for x in lines]
        for ln in rv["lines"]:
            if names is None or (ln["sku"], ln["region"]) in names:
                if ln["released"] < ln["qty"]:
                    ln["released"] = ln["qty"]
                    changed = True
        if all(ln["released"] >= ln["qty"] for ln in rv["lines"]):
            rv["state"] = "released"
        return not changed

    def commit(self, rid, order_ref=None):
        """-> ("ok", replayed) or ("error", name); applies."""
        return commit_record(self.resv[rid], order_ref)


def commit_record(rv, order_ref=None):
    """A model reservation record committed (PROTOCOL.md, `commit`):
    -> ("ok", replayed) or ("error", name); applies."""
    if rv["state"] in ("released", "expired"):
        return ("error", "bad_state")
    if rv["state"] == "committed":
        if order_ref is not None and order_ref != rv["order_ref"]:
            return ("error", "conflict")
        return ("ok", True)
    rv["state"] = "committed"
    if order_ref is not None:
        rv["order_ref"] = order_ref
    return ("ok", False)


def obj_of(res):
    """The compared part of a reservation object atpd sent."""
    if not isinstance(res, dict):
        return res
    o = {k: res.get(k) for k in ("id", "state", "channel", "lines")}
    if "order_ref" in res:
        o["order_ref"] = res["order_ref"]
    return o


def pick(a, want, extra=BO_KEYS):
    """a's keys of want, plus the keys of extra a has (so that an extra one
    shows as a difference)."""
    keys = list(want) + [k for k in extra if k in a and k not in want]
    return {k: a.get(k) for k in keys}


# ---------------------------------------------------------------------------
# the test's side of atpd


class Driver:
    """Everything a step needs: checks, model, client, source ("wms")."""

    extra_keys = BO_KEYS   # keys check_row() compares when atpd sends them

    def __init__(self, h, ck, d, c, feed, model):
        self.h, self.ck, self.d, self.c, self.feed, self.m = h, ck, d, c, feed, model
        self.n_reserves = 0

    @classmethod
    def start(cls, h, ck, cfg, model):
        """atpd started from cfg, a client and the source (U.Feeder): a
        driver of them."""
        d = h.start_atpd(cfg)
        c = U.Client(d.query_port, d=d)
        return cls(h, ck, d, c, U.Feeder(d, c), model)

    def stock(self, changes):
        """changes: [(sku, loc, on_hand)]: published, applied, in the model."""
        self.feed.publish("wms", [[2, s, l, 0, q] for s, l, q in changes])
        for s, l, q in changes:
            self.m.onhand[(s, l)] = q

    def check_row(self, sku, region, channel, where):
        a = self.c.req({"op": "atp", "sku": sku, "region": region, "channel": channel})
        want = self.m.answer(sku, region, channel)
        return self.ck.eq(pick(a, want, self.extra_keys), want,
                          "%s: atp %s@%s/%s" % (where, sku, region, channel))

    # ---- reservations
    def release(self, rid, lines=None, where=""):
        where = "%s: release %s %r" % (where, rid, lines)
        replayed = self.m.release(rid, lines)
        body = {"op": "release", "id": rid}
        if lines is not None:
            body["lines"] = [list(x) for x in lines]
        rep = self.c.req(body)
        self.ck.eq((rep.get("ok"), rep.get("replayed")), (True, replayed), where)
        self.ck.eq(obj_of(rep.get("reservation")), self.m.obj(rid), where + ": reservation")
        return rep

    def commit(self, rid, order_ref=None, where=""):
        where = "%s: commit %s %r" % (where, rid, order_ref)
        exp = self.m.commit(rid, order_ref)
        body = {"op": "commit", "id": rid}
        if order_ref is not None:
            body["order_ref"] = order_ref
        rep = self.c.req(body)
        if exp[0] == "error":
            self.ck.eq(error_name(rep), exp[1], where)
            return rep
        self.ck.eq((rep.get("ok"), rep.get("replayed")), (True, exp[1]), where)
        self.ck.eq(obj_of(rep.get("reservation")), self.m.obj(rid), where + ": reservation")
        return rep

    def get(self, rid, where):
        self.ck.eq(obj_of(self.c.get(rid)), self.m.obj(rid), "%s: reservation %s" % (where, rid))

    def random_release(self, rng, open_ids, where):
        """A random step's release of one of open_ids: one line (3 in 10 of
        those with several) or all. Returns the model's reservation."""
        rid = rng.choice(open_ids)
        rv = self.m.resv[rid]
        if rng.random() < 0.3 and len(rv["lines"]) > 1:
            ln = rng.choice(rv["lines"])
            self.release(rid, [[ln["sku"], ln["region"]]], where=where)
        else:
            self.release(rid, where=where)
        return rv

    def random_commit(self, rng, open_ids, where):
        """A random step's commit of one of open_ids, with or without an
        order_ref. Returns its id."""
        rid = rng.choice(open_ids)
        self.commit(rid, rng.choice([None, "SO-" + rid]), where=where)
        return rid

    # ---- kill -9
    def state_before(self, skus, where):
        """Before a kill -9: every reservation of the model read back (and
        checked against it), the `regions` answer of skus in every channel."""
        ck, m, c = self.ck, self.m, self.c
        before = {rid: c.get(rid) for rid in m.resv}
        for rid in m.resv:
            ck.eq(obj_of(before[rid]), m.obj(rid), "%s: reservation %s" % (where, rid))
        rows = {(s, ch): c.ok({"op": "regions", "sku": s, "channel": ch})["regions"]
                for s in skus for ch in CHANNELS}
        return before, rows

    def kill9_restart(self, state, fresh_sku, fresh_what, where):
        """kill -9 atpd, start it on the same data, reconnect the client and
        the source; wait (bounded) until fresh_sku's regions are fresh
        (the model's stale regions aside); then every reservation as
        acknowledged and every answer of state_before() as before.
        Returns the new client."""
        ck, m, d = self.ck, self.m, self.d
        before, rows = state
        d.kill9()
        self.c.close()
        d.start()
        c = U.Client(d.query_port, d=d)
        self.c = c
        self.feed.client = c
        self.feed.after_restart()
        try:
            harness.wait_until(lambda: not any(a.get("stale") for a in c.ok(
                {"op": "regions", "sku": fresh_sku})["regions"]
                if a.get("region") not in m.stale_regions), 15, 0.05, fresh_what)
        except TestFailure as e:
            ck.check(False, "%s: %s", where, e)
        for rid in m.resv:
            ck.eq(c.get(rid), before[rid], "%s: reservation %s as acknowledged" % (where, rid))
        for (s, ch), regs in rows.items():
            ck.eq(c.ok({"op": "regions", "sku": s, "channel": ch})["regions"], regs,
                  "%s: %s/%s every region as before" % (where, s, ch))
        return c

    def finish(self):
        """The end: client and source closed, no control-channel errors,
        atpd stopped cleanly, the counts logged, the checks reported."""
        self.c.close()
        self.feed.close()
        self.ck.eq(self.feed.errors, [], "feeder control-channel errors")
        self.d.stop()
        self.h.log("%d checks, %d reserves judged by the model", self.ck.count,
                   self.n_reserves)
        self.ck.done()


# ---------------------------------------------------------------------------
# races


def race_worker(d, k, seed, rnd, n, body_of, give_up, results, errors, stop_at, barrier):
    """Racer k of round rnd: up to n reserves body_of(rng, rid, j) makes,
    until give_up refused in a row or stop_at; results get (body, reply,
    "nng" | "http")."""
    rng = random.Random(seed * 1000 + rnd * 10 + k)
    http = H.Http(d) if k == RACERS - 1 else None
    cl = None if http else U.Client(d.query_port, d=d)
    refused_in_row = 0
    try:
        if cl:
            cl.connect()
        barrier.wait(timeout=30 * harness.TIME_FACTOR)
        for j in range(n):
            if refused_in_row >= give_up or time.monotonic() > stop_at:
                break
            body = body_of(rng, "race-%d-%d-%d" % (rnd, k, j), j)
            if http:
                st, _, rep = http.call("POST", "/v1/reservations", body)
                if st not in (200, 201):
                    errors.append("HTTP %d for %s: %r" % (st, body["id"], rep))
            else:
                rep = cl.req(dict(body, op="reserve"))
            results.append((body, rep, "http" if http else "nng"))
            refused_in_row = 0 if rep.get("granted") is True else refused_in_row + 1
    except Exception as e:  # reported by the main thread
        errors.append("racer %d: %r" % (k, e))
        barrier.abort()
    finally:
        if http:
            http.close()
        if cl:
            cl.close()


def race(t, seed, rnd, n, body_of, give_up, where):
    """One round: RACERS racers (race_worker) started together, joined
    (bounded); checks they finished without errors and every reply is ok.
    Returns (results, granted, refused), each [(body, reply, via)]."""
    ck = t.ck
    results, errors = [], []
    stop_at = time.monotonic() + 40 * harness.TIME_FACTOR
    barrier = threading.Barrier(RACERS)
    threads = [threading.Thread(target=race_worker, args=(t.d, k, seed, rnd, n, body_of,
                                                          give_up, results, errors, stop_at,
                                                          barrier))
               for k in range(RACERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=90 * harness.TIME_FACTOR)
    ck.check(not any(th.is_alive() for th in threads), "%s: racers finished", where)
    ck.eq(errors, [], where + ": racer errors")
    granted = [x for x in results if x[1].get("granted") is True]
    refused = [x for x in results if x[1].get("ok") is True and x[1].get("granted") is False]
    ck.eq(len(granted) + len(refused), len(results), where + ": every reply ok")
    return results, granted, refused


# ---------------------------------------------------------------------------
# a configuration file atpd must refuse


def bad_config_file(h, cfg, name, data_dir, **sections):
    """cfg with sections replaced (written last) and data_dir (below h.tmp)
    as its store, written to h.tmp/name. Returns (path, text)."""
    bad = {k: v for k, v in cfg.items() if k not in sections}
    bad["service"] = dict(cfg["service"], data_dir=os.path.join(h.tmp, data_dir))
    bad.update(sections)
    path = os.path.join(h.tmp, name)
    text = harness.to_yaml(bad) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return path, text


def config_refused(h, ck, path, how, what):
    """atpd on the file at path (how: "start" or "--check-config"); checks
    it exits 1. Returns its stderr."""
    argv = [h.atpd_bin, "--config" if how == "start" else "--check-config", path]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=h.tmp,
                       timeout=30 * harness.TIME_FACTOR)
    ck.eq(r.returncode, 1, "%s: %s exits 1 (stderr %s)" % (what, how, r.stderr.strip()[-300:]))
    return r.stderr
