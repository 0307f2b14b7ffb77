#!/usr/bin/python3
"""test_resv_race.py - no oversell under concurrent reservations.

A few hot (sku, region) keys with small known supply (one with a buffer
rule), and plentiful ones. In each round 8 client threads (one REQ
connection each) start together and keep reserving 1-3 units of hot keys
(single- and multi-line carts, some mixing hot and plentiful keys, some
naming a key twice, channels default/web/app) with unique ids, until
refused several times in a row (bounded in count and time). A monitor
thread polls the hot keys meanwhile. Then, per (sku, region):

- the granted quantity (from the acknowledged replies) <= supply - buffer;
- it equals `reserved` in atpd's atp answer, and ATP = cap - granted;
- every refusal is consistent: `ok` per line == (qty <= available), at least
  one line not ok, lines are the merged request lines, and `available` lies
  between cap - (granted overall) + (granted after the refusal) and
  cap - (granted before the refusal was asked), using send/receive times;
- every granted reservation reads back as held with the granted lines;
- the status counters moved by the granted/refused counts.

Releases: all but the last round release everything concurrently (ATP back
to the cap exactly); the last round releases a subset, some lines only,
and ATP must equal cap minus what is still open, exactly.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402
from harness import TestFailure  # noqa: E402

ALL = ["on_hand", "allocated", "held"]
THREADS = 8
# (sku, region): {location: on_hand}; HOT-7/east has a 2-unit buffer rule.
STOCK = {
    ("HOT-10", "east"): {"E1": 6, "E2": 4},
    ("HOT-7", "east"): {"E1": 9},
    ("HOT-3", "west"): {"W1": 3},
    ("HOT-10", "west"): {"W1": 5},
    ("BULK-A", "east"): {"E1": 60000, "E2": 40000},
    ("BULK-A", "west"): {"W1": 100000},
    ("BULK-B", "east"): {"E2": 50000},
}
BUFFER = {("HOT-7", "east"): 2}
HOT = [k for k in STOCK if k[0].startswith("HOT")]
BULK = [k for k in STOCK if k[0].startswith("BULK")]
SOURCE_OF = {"E1": "wms", "E2": "wms", "W1": "erp"}


def supply(k):
    return sum(STOCK[k].values())


def cap(k):
    return supply(k) - BUFFER.get(k, 0)


def build_config(h):
    return U.resv_config(
        h, ["east", "west"], [("E1", "east"), ("E2", "east"), ("W1", "west")],
        [("wms", ["E1", "E2"], ALL), ("erp", ["W1"], ALL)],
        channels=("web", "app"),
        buffers=[{"sku": "HOT-7", "region": "east", "units": 2}],
        durability="sync", default_ttl="1h", max_ttl="2h")


def random_cart(rng):
    kind = rng.randrange(6)
    q = lambda: rng.randint(1, 3)  # noqa: E731
    if kind <= 1:
        lines = [(*rng.choice(HOT), q())]
    elif kind == 2:
        a, b = rng.sample(HOT, 2)
        lines = [(*a, q()), (*b, q())]
    elif kind == 3:
        lines = [(*rng.choice(HOT), q()), (*rng.choice(BULK), rng.randint(1, 50))]
    elif kind == 4:  # the same key twice: checked against the sum
        k = rng.choice(HOT)
        lines = [(*k, rng.randint(1, 2)), (*rng.choice(BULK), 1), (*k, rng.randint(1, 2))]
    else:
        a, b = rng.sample(HOT, 2)
        lines = [(*rng.choice(BULK), rng.randint(1, 20)), (*a, q()), (*b, q())]
    rng.shuffle(lines)
    return [list(l) for l in lines]


class Op:
    __slots__ = ("rid", "kind", "phase", "lines", "merged", "channel", "t_send", "t_recv",
                 "reply")


def worker(ti, port, rnd, seed, barriers, ops, errors, stop_at, max_attempts, churn_ops):
    """Phase 0: reserve until refused 10 times in a row. Phase 1 (after every
    thread finished phase 0): churn at the edge of exhaustion -- release one
    of this thread's grants or reserve again."""
    rng = random.Random(seed)
    c = U.Client(port)
    mine = []  # this thread's open grants (Op)

    def reserve(n, phase):
        op = Op()
        op.rid = "r%d-t%d-%d" % (rnd, ti, n)
        op.kind, op.phase = "reserve", phase
        op.lines = random_cart(rng)
        op.merged = U.merged(op.lines)
        op.channel = rng.choice([None, "web", "app"])
        op.t_send = time.monotonic()
        op.reply = c.reserve(op.rid, op.lines, channel=op.channel)
        op.t_recv = time.monotonic()
        ops.append(op)
        granted = op.reply.get("ok") is True and op.reply.get("granted") is True
        if granted:
            mine.append(op)
        return granted

    try:
        c.connect()
        barriers[0].wait(timeout=30)
        refusals_in_row = 0
        n = 0
        for n in range(max_attempts):
            if refusals_in_row >= 10 or time.monotonic() > stop_at:
                break
            refusals_in_row = 0 if reserve(n, 0) else refusals_in_row + 1
        barriers[1].wait(timeout=60)
        for m in range(churn_ops):
            if time.monotonic() > stop_at:
                break
            if mine and rng.random() < 0.35:
                g = mine.pop(rng.randrange(len(mine)))
                op = Op()
                op.rid, op.kind, op.phase, op.merged = g.rid, "release", 1, g.merged
                op.lines, op.channel = None, g.channel
                op.t_send = time.monotonic()
                op.reply = c.release(g.rid)
                op.t_recv = time.monotonic()
                ops.append(op)
            else:
                reserve(max_attempts + m, 1)
    except Exception as e:  # reported by the main thread
        errors.append("worker %d: %r" % (ti, e))
        for b in barriers:
            try:
                b.abort()
            except Exception:
                pass
    finally:
        c.close()


def monitor(port, stop_ev, errors, samples):
    c = U.Client(port)
    try:
        for _ in range(100000):
            if stop_ev.is_set():
                break
            for k in HOT:
                a = c.atp(k[0], k[1])
                samples[0] += 1
                ok = (a["supply"] == supply(k) and a["buffer"] == BUFFER.get(k, 0)
                      and 0 <= a["reserved"] <= cap(k)
                      and a["atp"] == max(0, supply(k) - a["reserved"] - a["buffer"]))
                if not ok and len(errors) < 20:
                    errors.append("monitor: %s/%s answered %r (cap %d)" % (k[0], k[1], a, cap(k)))
            time.sleep(0.002)
    except Exception as e:
        errors.append("monitor: %r" % (e,))
    finally:
        c.close()


def check_refusal_lines(ck, rnd, o):
    lines = o.reply.get("lines") or []
    ck.eq([(l.get("sku"), l.get("region"), l.get("qty")) for l in lines], o.merged,
          "round %d: refusal of %s: lines (merged request)" % (rnd, o.rid))
    ck.check(o.reply.get("id") == o.rid, "round %d: refusal id %r != %r", rnd,
             o.reply.get("id"), o.rid)
    ck.check(any(l.get("ok") is False for l in lines),
             "round %d: refusal of %s has every line ok: %r", rnd, o.rid, lines)
    for l in lines:
        k = (l.get("sku"), l.get("region"))
        av = l.get("available")
        ck.check(k in STOCK and isinstance(av, int) and 0 <= av <= cap(k)
                 and l.get("ok") is (l.get("qty") <= av),
                 "round %d: refusal of %s line %r: want 0 <= available <= cap and "
                 "ok == (qty <= available)", rnd, o.rid, l)
    return lines


def check_round(h, ck, c, rnd, ops, base_counters):
    """Returns the grants still open and the open quantity per key."""
    res_ops = [o for o in ops if o.kind == "reserve"]
    rel_ops = [o for o in ops if o.kind == "release"]
    granted = [o for o in res_ops if o.reply.get("ok") is True and o.reply.get("granted") is True]
    refused = [o for o in res_ops if o.reply.get("ok") is True and o.reply.get("granted") is False]
    other = [o for o in res_ops if o not in granted and o not in refused]
    for o in other[:5]:
        ck.check(False, "round %d: reserve %s %r: unexpected reply %r", rnd, o.rid, o.lines, o.reply)
    for o in granted:
        res = o.reply.get("reservation") or {}
        ck.check(o.reply.get("replayed") is False and res.get("id") == o.rid
                 and res.get("state") == "held"
                 and res.get("channel") == (o.channel or "default")
                 and [(l[0], l[1], l[2]) for l in U.record_lines(res)] == o.merged
                 and all(l[3] == 0 and l[4] == 0 for l in U.record_lines(res)),
                 "round %d: granted reply of %s (lines %r) is %r", rnd, o.rid, o.lines, o.reply)
    for o in rel_ops:
        res = o.reply.get("reservation") or {}
        ck.check(o.reply.get("ok") is True and o.reply.get("replayed") is False
                 and res.get("state") == "released" and U.open_lines(res) ==
                 {(s_, r_): 0 for s_, r_, _ in o.merged},
                 "round %d: release of %s: %r", rnd, o.rid, o.reply)
    released = {o.rid for o in rel_ops}

    # phase 0 (reserve only, all threads started together): no oversell, and
    # every refusal's `available` within what the acknowledged grants allow
    g0 = [o for o in granted if o.phase == 0]
    total0 = {k: 0 for k in STOCK}
    for o in g0:
        for sku, region, qty in o.merged:
            total0[(sku, region)] += qty
    for k in STOCK:
        ck.check(total0[k] <= cap(k), "round %d: OVERSELL %s/%s: granted %d > supply %d - buffer %d",
                 rnd, k[0], k[1], total0[k], supply(k), BUFFER.get(k, 0))
    for o in refused:
        lines = check_refusal_lines(ck, rnd, o)
        if o.phase != 0:
            continue
        for l in lines:
            k = (l.get("sku"), l.get("region"))
            if k not in STOCK:
                continue
            av = l.get("available")
            before = sum(q for g in g0 if g.t_recv < o.t_send
                         for s_, r_, q in g.merged if (s_, r_) == k)
            after = sum(q for g in g0 if g.t_send > o.t_recv
                        for s_, r_, q in g.merged if (s_, r_) == k)
            lo, hi = cap(k) - total0[k] + after, cap(k) - before
            ck.check(lo <= av <= hi,
                     "round %d: refusal of %s: %s/%s available %r not in [%d, %d] "
                     "(cap %d, granted %d overall, %d acknowledged before, %d asked after)",
                     rnd, o.rid, k[0], k[1], av, lo, hi, cap(k), total0[k], before, after)

    # end of the round (after the churn): what is open equals `reserved`
    still = [o for o in granted if o.rid not in released]
    total = {k: 0 for k in STOCK}
    for o in still:
        for sku, region, qty in o.merged:
            total[(sku, region)] += qty
    for k in STOCK:
        ck.check(total[k] <= cap(k), "round %d: OVERSELL %s/%s after the churn: open %d > "
                 "supply %d - buffer %d", rnd, k[0], k[1], total[k], supply(k), BUFFER.get(k, 0))
        a = c.atp(*k)
        ck.eq((a["reserved"], a["atp"], a["supply"], a["buffer"], a["shortfall"]),
              (total[k], cap(k) - total[k], supply(k), BUFFER.get(k, 0), 0),
              "round %d: %s/%s (reserved, atp, supply, buffer, shortfall) after the race"
              % (rnd, k[0], k[1]))
    for o in granted:
        res = c.get(o.rid)
        want = "released" if o.rid in released else "held"
        ck.check(res is not None and res.get("state") == want
                 and [(l[0], l[1], l[2]) for l in U.record_lines(res)] == o.merged,
                 "round %d: %s reads back as %r, want %s %r", rnd, o.rid, res, want, o.merged)
    cnt = c.resv_counters()
    ck.eq(cnt.get("granted", 0) - base_counters.get("granted", 0), len(granted),
          "round %d: status reservations.granted delta" % rnd)
    ck.eq(cnt.get("refused", 0) - base_counters.get("refused", 0), len(refused),
          "round %d: status reservations.refused delta" % rnd)
    ck.eq(cnt.get("held"), len(still), "round %d: status reservations.held" % rnd)
    h.log("round %d: %d reserves (%d granted, %d refused), %d releases; phase 0 granted %s; "
          "open at the end %s", rnd, len(res_ops), len(granted), len(refused), len(rel_ops),
          "/".join(str(total0[k]) for k in HOT), "/".join(str(total[k]) for k in HOT))
    return still, total, total0


def release_all(port, granted, errors):
    """Release every granted reservation from 4 threads."""
    def rel(chunk):
        c = U.Client(port)
        try:
            for o in chunk:
                r = c.release(o.rid)
                res = r.get("reservation") or {}
                if r.get("ok") is not True or res.get("state") != "released":
                    errors.append("release %s: %r" % (o.rid, r))
        except Exception as e:
            errors.append("release: %r" % (e,))
        finally:
            c.close()
    ts = [threading.Thread(target=rel, args=(granted[i::4],)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(build_config(h))
    c = U.Client(d.query_port)
    feed = U.Feeder(d, c)
    by_src = {}
    for (sku, region), locs in STOCK.items():
        for loc, qty in locs.items():
            by_src.setdefault(SOURCE_OF[loc], []).append([2, sku, loc, 0, qty])
    for src, evs in by_src.items():
        feed.publish(src, evs)
    for k in STOCK:
        a = c.atp(*k)
        if (a["supply"], a["atp"], a["reserved"]) != (supply(k), cap(k), 0):
            raise TestFailure("seeded %s/%s: %r, want supply %d atp %d" % (k[0], k[1], a,
                                                                         supply(k), cap(k)))
    rounds = U.scaled(20, 4)
    churn = U.scaled(60, 20)
    seed = int(os.environ.get("ATP_TEST_SEED", "20240917"))
    h.log("%d rounds of %d threads, seed %d", rounds, THREADS, seed)
    total_samples = 0
    for rnd in range(rounds):
        base = c.resv_counters()
        ops_per = [[] for _ in range(THREADS)]
        errors, samples = [], [0]
        barriers = [threading.Barrier(THREADS), threading.Barrier(THREADS)]
        stop_at = time.monotonic() + 20 * harness.TIME_FACTOR
        stop_ev = threading.Event()
        mon = threading.Thread(target=monitor, args=(d.query_port, stop_ev, errors, samples))
        ts = [threading.Thread(target=worker,
                               args=(i, d.query_port, rnd, seed * 1000 + rnd * 100 + i, barriers,
                                     ops_per[i], errors, stop_at, 200, churn))
              for i in range(THREADS)]
        mon.start()
        for t in ts:
            t.start()
        for t in ts:
            t.join(40 * harness.TIME_FACTOR)
        stop_ev.set()
        mon.join(10)
        if any(t.is_alive() for t in ts) or mon.is_alive():
            raise TestFailure("round %d: a client thread did not finish in time" % rnd)
        total_samples += samples[0]
        for e in errors:
            ck.check(False, "round %d: %s", rnd, e)
        d.check_alive()
        ops = [o for lst in ops_per for o in lst]
        granted, total, total0 = check_round(h, ck, c, rnd, ops, base)
        ck.check(sum(1 for k in HOT if total0[k] >= cap(k) - 2) >= 1,
                 "round %d: the race never came close to exhausting a hot key: %r", rnd, total0)
        if rnd < rounds - 1:
            errs = []
            release_all(d.query_port, granted, errs)
            for e in errs[:5]:
                ck.check(False, "round %d: %s", rnd, e)
            for k in STOCK:
                a = c.atp(*k)
                ck.eq((a["reserved"], a["atp"]), (0, cap(k)),
                      "round %d: %s/%s (reserved, atp) after releasing everything" % (rnd, *k))
            ck.eq(c.resv_counters().get("open"), 0, "round %d: open reservations after release" % rnd)
            ck.done()
            continue
        # last round: release a subset, some of them only partly
        rng = random.Random(seed + 7)
        still = {k: 0 for k in STOCK}
        n_full = n_part = 0
        for o in granted:
            choice = rng.randrange(3)
            keys = [(s, r) for s, r, _ in o.merged]
            if choice == 0:
                r = c.release(o.rid)
                ck.check(r.get("ok") is True and r["reservation"]["state"] == "released",
                         "release %s: %r", o.rid, r)
                n_full += 1
                continue
            if choice == 1 and len(keys) > 1:
                drop = keys[:1]
                r = c.release(o.rid, [list(x) for x in drop])
                res = r.get("reservation") or {}
                ck.check(r.get("ok") is True and res.get("state") == "held",
                         "partial release %s of %r: %r", o.rid, drop, r)
                ck.eq(U.open_lines(res), {(s, rg): (0 if (s, rg) in drop else q)
                                          for s, rg, q in o.merged},
                      "open lines of %s after releasing %r" % (o.rid, drop))
                n_part += 1
                keys = keys[1:]
            for s, rg, q in o.merged:
                if (s, rg) in keys:
                    still[(s, rg)] += q
        for k in STOCK:
            a = c.atp(*k)
            ck.eq((a["reserved"], a["atp"]), (still[k], cap(k) - still[k]),
                  "after releasing %d fully and %d partly: %s/%s (reserved, atp)"
                  % (n_full, n_part, k[0], k[1]))
        errs = []
        release_all(d.query_port, [o for o in granted], errs)
        for e in errs[:5]:
            ck.check(False, e)
        for k in STOCK:
            a = c.atp(*k)
            ck.eq((a["reserved"], a["atp"]), (0, cap(k)),
                  "%s/%s (reserved, atp) after releasing the rest" % k)
        h.log("last round: released %d fully, %d partly, then the rest; ATP exact",
              n_full, n_part)
    h.log("monitor took %d atp samples during the races", total_samples)
    ck.check(total_samples > 0, "the monitor never sampled")
    c.close()
    feed.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "resv_race")
