#!/usr/bin/python3
"""test_bounds_model.py - randomized: quantities at the bounds of
docs/PROTOCOL.md ("Numbers") from three sources and several clients, kill -9
at random points, every answer compared with a model in exact Python
integers after every step (issue 12, "Oversell" A).

Regions east (horizon 1d: E0..E39 where `wms` owns on_hand, allocated and
held and `tpl` the inbound lots; T0..T3 where `tpl` owns everything, so a
received lot moves into its on_hand) and west (horizon 2h: W0..W9, `erp`
owns everything). Buffer rules with percentages (0.01 % .. 99.99 %) and
one of 10^15 units. reservations.max_lines 10000.

Steps, one at a time (each acknowledged, or seen applied, before the next):
- source messages near the bounds: set / delta of +-10^15 (a delta past
  +-10^15 is clamped there), 10^15 at every location of a region, floods
  of 1,000-2,600 lots of about 10^15 (supply past the bound), lot change,
  cancel, receive (clamped into on_hand); now and then a value of
  10^15 + 1 that rejects the whole message;
- reserves of 1..10,000 lines whose merged quantity per (sku, region) is
  at, just below or just above 10^15 (bad_qty with `line` where the sum
  went over), a line qty of 0 or 10^15 + 1 (bad_qty at that line);
  granted iff every merged line fits the model's ATP;
- carts of up to 10,000 lines, the same way (`available` per line);
- releases, snapshots, and a race: several clients at once reserving one
  (sku, region) near 10^15 a line, the granted total within the model's
  ATP;
- kill -9 after random steps (half of them right after a snapshot), with
  a source message published and not yet seen applied, or with a reserve
  sent and its reply never read (after the restart it exists only if the
  model would have granted it).

The model (resync_util.LotModel: positions, lots and the horizon, itself
model.Model's formula) adds what "Numbers" says: buckets clamped to
+-10^15, supply shown as min(exact sum, the bound PROTOCOL.md gives:
2^61-1 when this was written), buffer and ATP from the shown supply. It
applies every step once: a crash must change nothing. Every grant is also
checked against the promise itself, in exact integers: reserved + qty <=
true supply - buffer; and after every restart nothing stored was skipped.
ATP_TEST_SEED picks the run (default fixed; the seed is printed); the step
count is bounded (fewer under ATP_TEST_SCALE=sanitizer) and so is the time.
"""

import os
import random
import re
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import model  # noqa: E402
import msgpack  # noqa: E402
import resv_util as U  # noqa: E402
import resync_util as R  # noqa: E402

Q = 10 ** 15
STEPS = U.scaled(400, 200)
KILLS = U.scaled(20, 10)
TIME_BUDGET_S = 45 * harness.TIME_FACTOR  # a cap for a loaded machine
RACERS = 4
E_LOCS = ["E%d" % i for i in range(40)]
T_LOCS = ["T%d" % i for i in range(4)]
W_LOCS = ["W%d" % i for i in range(10)]
REGION_LOCS = {"east": E_LOCS + T_LOCS, "west": W_LOCS}
SKUS = ["P", "R", "S"]
KEYS = [(s, r) for s in SKUS for r in ("east", "west")]
CHANNELS = ["default", "web", "app"]
BUFFERS = [{"sku": "P", "percent": 12.5},
           {"sku": "R", "channel": "app", "units": Q},
           {"region": "west", "units": 7, "percent": 33.33},
           {"sku": "S", "region": "east", "channel": "web", "percent": 99.99},
           {"channel": "app", "percent": 0.01}]
KIND_NAMES = {v: k for k, v in R.EV.items()}
FIELDS = ("supply", "reserved", "buffer", "atp", "shortfall", "rule")


def documented_sum_max(source_dir):
    """The bound on supply, reserved, buffer, atp and shortfall as
    docs/PROTOCOL.md ("Numbers") writes it: "never exceed 2^N-1". Read
    from the contract, so the test follows it when the bound changes."""
    with open(os.path.join(source_dir, "docs", "PROTOCOL.md")) as f:
        text = f.read()
    found = re.search(r"`shortfall` never exceed\s+2\^(\d+)-1", text)
    if found is None:
        raise harness.TestFailure("docs/PROTOCOL.md no longer says which bound `supply` "
                                  "and the other sums never exceed")
    return 2 ** int(found.group(1)) - 1


def build_config(h):
    srcs = [harness.source_entry("wms", [(E_LOCS, ["on_hand", "allocated", "held"])]),
            harness.source_entry("tpl", [(E_LOCS, ["inbound"]),
                                         (T_LOCS, ["on_hand", "allocated", "held",
                                                   "inbound"])]),
            harness.source_entry("erp", [(W_LOCS, ["on_hand", "allocated", "held",
                                                   "inbound"])])]
    locs = [(l, "east") for l in E_LOCS + T_LOCS] + [(l, "west") for l in W_LOCS]
    resv = dict(U.LONG_LIVED, max_lines=10000)
    return harness.build_config(
        h, [{"id": "east", "inbound_horizon": "1d"}, {"id": "west", "inbound_horizon": "2h"}],
        locs, srcs, channels=("web", "app"), buffers=BUFFERS, reservations=resv,
        snapshot_interval="300ms")


class BoundsModel(R.LotModel):
    """LotModel plus docs/PROTOCOL.md "Numbers": a bucket after a delta or a
    lot receive is clamped to +-10^15; supply is shown as min(exact sum,
    sum_max), and the buffer and ATP follow from the shown supply. Every
    sum is an exact Python integer."""

    _index = None  # (sku, location) -> [[qty, eta_ms]] of self.lots
    sum_max = None  # documented_sum_max()

    def apply_wire(self, source, events):
        """A wire message [kind, ...] of source: all of it, or nothing when
        a value is out of its range (returns False then)."""
        for ev in events:
            k = ev[0]
            if k in (1, 2) and abs(ev[4]) > Q or k in (6, 7) and not 0 <= ev[4] <= Q:
                return False
        self._index = None
        for ev in events:
            k = KIND_NAMES[ev[0]]
            mev = [k] + list(ev[1:])
            if k in ("delta", "set"):
                mev[3] = model.BUCKET_NAMES[ev[3]]
            self.apply_events(source, [mev])
            if k in ("delta", "lot_receive"):
                pos = self.positions.get((ev[1], ev[2]))
                if pos is not None:
                    for b in range(3):
                        pos[b] = max(-Q, min(Q, pos[b]))
        return True

    def lot_inbound(self, sku, loc):
        """LotModel's sum, over an index by (sku, location) that apply_wire
        drops: thousands of lots make LotModel's scan of every lot, for
        every location, too slow here."""
        if self._index is None:
            self._index = {}
            for (s, l, _), lot in self.lots.items():
                self._index.setdefault((s, l), []).append(lot)
        h = self.horizon[self.loc_region[loc]]
        if h <= 0:
            return 0
        return sum(q for q, eta in self._index.get((sku, loc), ())
                   if q > 0 and (self.now is None or eta <= self.now + h))

    def answer(self, sku, region, channel="default"):
        exact = self.supply(sku, region)
        shown = min(exact, self.sum_max)
        reserved = self.reserved.get((sku, region), 0)
        units, bp, level = self.rule(sku, region, channel)
        buffer = min(self.sum_max, max(units, model.ceil_div(bp * shown, 10000)))
        return {"supply": shown, "exact": exact, "reserved": reserved, "buffer": buffer,
                "atp": max(0, shown - reserved - buffer),
                "shortfall": max(0, reserved - shown), "rule": level}


def request_error(lines):
    """(code, line) that docs/PROTOCOL.md gives a reserve or cart of these
    lines, or None: every line is read first (a qty outside 1..10^15 is
    bad_qty at that line), then lines naming one (sku, region) are summed
    (bad_qty at the first line where a sum went over 10^15)."""
    for i, (_, _, q) in enumerate(lines):
        if not 1 <= q <= Q:
            return U.E_BAD_QTY, i
    sums = {}
    for i, (s, r, q) in enumerate(lines):
        sums[(s, r)] = sums.get((s, r), 0) + q
        if sums[(s, r)] > Q:
            return U.E_BAD_QTY, i
    return None


def split(total, n, rng):
    """n positive integers adding up to total (n <= total)."""
    cuts = sorted(rng.sample(range(1, total), n - 1)) if n > 1 else []
    return [b - a for a, b in zip([0] + cuts, cuts + [total])]


def main(h):
    ck = harness.Checks(h)
    cfg = build_config(h)
    d = h.start_atpd(cfg)
    clients = [U.Client(d.query_port, d=d) for _ in range(3)]
    c = clients[0]
    feed = U.Feeder(d, c)
    m = BoundsModel(cfg)
    m.sum_max = documented_sum_max(h.source_dir)
    resv = {}  # rid -> {(sku, region): qty} of the open reservations
    seed = int(os.environ.get("ATP_TEST_SEED", "4212"))
    rng = random.Random(seed)
    h.log("seed %d (ATP_TEST_SEED=%d repeats this run), %d steps, %d kills, sums shown "
          "at most %d", seed, seed, STEPS, KILLS, m.sum_max)
    stats = {k: 0 for k in ("msgs", "rejected_msgs", "lots", "granted", "refused",
                            "bad_qty", "carts", "released", "snapshot", "race_granted",
                            "kill", "kill_unseen_msg", "kill_unread_reserve",
                            "unread_stored", "over_sum_max")}
    n_ids = [0]
    n_lots = [0]
    lots = {}  # (sku, loc) -> [lot ids] known to the model

    def sync_reserved():
        out = {}
        for lines in resv.values():
            for k, q in lines.items():
                out[k] = out.get(k, 0) + q
        m.reserved = out

    def want(sku, region, channel):
        sync_reserved()
        m.now = harness.now_ms()
        return m.answer(sku, region, channel)

    def answers_match(label):
        """Every (sku, region, channel): one cart per channel."""
        for ch in CHANNELS:
            got = c.ok({"op": "cart", "channel": ch, "lines": [[s, r, 1] for s, r in KEYS]})
            for (s, r), line in zip(KEYS, got["lines"]):
                w = want(s, r, ch)
                if w["exact"] > m.sum_max:
                    stats["over_sum_max"] += 1
                ck.eq(tuple(line.get(f) for f in FIELDS), tuple(w[f] for f in FIELDS),
                      "%s: %s/%s/%s %r" % (label, s, r, ch, FIELDS))

    def publish(src, events, wait=True):
        ok = m.apply_wire(src, events)
        stats["msgs"] += 1
        if not ok:
            stats["rejected_msgs"] += 1
        for ev in events if ok else []:  # the lots later steps may name
            if ev[0] in (6, 7) and ev[3] not in lots.setdefault((ev[1], ev[2]), []):
                lots[(ev[1], ev[2])].append(ev[3])
            elif ev[0] in (8, 9) and ev[3] in lots.get((ev[1], ev[2]), []):
                lots[(ev[1], ev[2])].remove(ev[3])
        feed.publish(src, events, wait=wait)

    def near_q():
        return rng.choice([Q, Q - 1, Q - rng.randint(0, 10 ** 6), rng.randint(1, Q),
                           rng.randint(0, 1000)])

    def stock_events():
        """(source, events) of a message of stock values near the bounds."""
        x = rng.random()
        sku = rng.choice(SKUS)
        if x < 0.25:  # 10^15 on hand at every location of a source
            src, locs = rng.choice([("wms", E_LOCS), ("tpl", T_LOCS), ("erp", W_LOCS)])
            return src, [[2, sku, l, 0, near_q()] for l in locs]
        src, locs = rng.choice([("wms", E_LOCS), ("tpl", T_LOCS), ("erp", W_LOCS)])
        evs = []
        for _ in range(rng.randint(1, 6)):
            loc = rng.choice(locs)
            b = rng.choice([0, 0, 0, 1, 2])
            if rng.random() < 0.5:
                evs.append([2, sku, loc, b, rng.choice([Q, -Q, near_q(), -near_q(), 0])])
            else:  # may pass +-10^15: clamped
                evs.append([1, sku, loc, b, rng.choice([Q, -Q, near_q(), -near_q()])])
        if rng.random() < 0.06:  # one value out of range: the whole message rejected
            evs.insert(rng.randrange(len(evs) + 1),
                       [rng.choice([1, 2]), sku, rng.choice(locs), 0,
                        rng.choice([Q + 1, -Q - 1])])
        return src, evs

    def lot_events():
        """(source, events) of lot adds, changes, cancels or receives."""
        x = rng.random()
        sku = rng.choice(SKUS)
        src, locs = rng.choice([("tpl", E_LOCS), ("tpl", T_LOCS), ("erp", W_LOCS)])
        now = harness.now_ms()

        def eta():  # inside every horizon, or outside them for this run
            return now - rng.randint(0, 10 ** 6) if rng.random() < 0.8 else now + 3 * 86400000

        evs = []
        if x < 0.35:  # a flood: one or two pass 2^61-1
            loc = rng.choice(locs)
            for _ in range(rng.randint(1000, 2600)):
                n_lots[0] += 1
                lot = "L%d" % n_lots[0]
                evs.append([6, sku, loc, lot, rng.choice([Q, Q, Q - 1, near_q()]), eta()])
        else:
            known = [(k, l) for k, ls in sorted(lots.items()) if k[0] == sku and k[1] in locs
                     for l in ls]
            if not known:
                return lot_events()
            for (s, loc), lot in rng.sample(known, min(len(known), rng.randint(1, 2000))):
                y = rng.random()
                if y < 0.3:
                    evs.append([7, s, loc, lot, rng.choice([0, Q, near_q()]), eta()])
                    continue
                evs.append([9 if y < 0.8 else 8, s, loc, lot])
        if rng.random() < 0.05:
            n_lots[0] += 1
            evs.append([6, sku, rng.choice(locs), "L%d" % n_lots[0], Q + 1, now])
        stats["lots"] += len(evs)
        return src, evs

    def request_lines():
        """Lines of a reserve or cart near the bounds, and whether they
        should be well-formed."""
        x = rng.random()
        keys = rng.sample(KEYS, rng.randint(1, 3))
        lines = []
        for s, r in keys:
            total = rng.choice([Q, Q - 1, rng.randint(1, Q), rng.randint(1, 100),
                                Q + 1, Q + rng.randint(1, Q)])
            n = rng.choice([1, 1, 2, 3, rng.randint(1, 3000)])
            lines += [[s, r, q] for q in split(max(total, n), n, rng)]
        rng.shuffle(lines)
        if x < 0.05:  # the attack
            lines = [[keys[0][0], keys[0][1], Q]] * 10000
        elif x < 0.1:  # a line out of range
            lines.insert(rng.randrange(len(lines) + 1),
                         [keys[0][0], keys[0][1], rng.choice([0, Q + 1, 2 ** 63 - 1])])
        return lines[:10000]

    def do_reserve(cl, label):
        n_ids[0] += 1
        rid = "r%d" % n_ids[0]
        ch = rng.choice(CHANNELS)
        lines = request_lines()
        got = cl.reserve(rid, lines, channel=ch)
        merged = {(s, r): q for s, r, q in U.merged(lines)}
        if got.get("granted") is True:  # the promise itself, in exact integers
            for (s, r), q in merged.items():
                w = want(s, r, ch)
                ck.check(w["reserved"] + q <= w["exact"] - w["buffer"],
                         "%s: oversell: %s granted %d of %s/%s with reserved %d, true "
                         "supply %d, buffer %d", label, rid, q, s, r, w["reserved"],
                         w["exact"], w["buffer"])
        err = request_error(lines)
        if err is not None:
            stats["bad_qty"] += 1
            ck.eq((U.error_code(got), (got.get("error") or {}).get("line")), err,
                  "%s: reserve %s of %d lines (code, line)" % (label, rid, len(lines)))
            return
        fits = all(q <= want(s, r, ch)["atp"] for (s, r), q in merged.items())
        ck.eq(got.get("granted"), fits, "%s: reserve %s %r granted" % (
            label, rid, {k: v for k, v in merged.items()}))
        if got.get("granted") is False:
            for line in got.get("lines") or []:
                w = want(line["sku"], line["region"], ch)
                ck.eq((line["available"], line["ok"]),
                      (w["atp"], line["qty"] <= w["atp"]),
                      "%s: refused %s line %s/%s (available, ok)" % (
                          label, rid, line["sku"], line["region"]))
        if fits:
            resv[rid] = merged
            stats["granted"] += 1
            res = got.get("reservation") or {}
            ck.eq({(l["sku"], l["region"]): l["qty"] for l in res.get("lines") or []},
                  merged, "%s: reservation %s lines" % (label, rid))
        else:
            stats["refused"] += 1

    def do_cart(cl, label):
        ch = rng.choice(CHANNELS)
        lines = request_lines()
        got = cl.req({"op": "cart", "channel": ch, "lines": lines})
        stats["carts"] += 1
        err = request_error(lines)
        if err is not None:
            ck.eq((U.error_code(got), (got.get("error") or {}).get("line")), err,
                  "%s: cart of %d lines (code, line)" % (label, len(lines)))
            return
        merged = {(s, r): q for s, r, q in U.merged(lines)}
        avail = {k: q <= want(k[0], k[1], ch)["atp"] for k, q in merged.items()}
        ck.eq(got.get("available"), all(avail.values()), "%s: cart available" % label)
        got_lines = got.get("lines") or []
        ck.eq(len(got_lines), len(lines), "%s: cart lines" % label)
        bad = [(i, l.get("available")) for i, l in enumerate(got_lines)
               if l.get("available") != avail[(l["sku"], l["region"])]]
        ck.eq(bad[:3], [], "%s: cart lines whose `available` is not the model's" % label)

    def do_race(label):
        """RACERS clients reserve one (sku, region) at once: the granted
        total never exceeds the model's ATP, and every reply is a grant or
        a refusal."""
        s, r = rng.choice(KEYS)
        ch = rng.choice(CHANNELS)
        atp = want(s, r, ch)["atp"]
        qtys = [rng.choice([Q, max(1, min(Q, atp // rng.randint(1, RACERS))), rng.randint(1, Q)])
                for _ in range(RACERS)]
        rids = []
        for _ in range(RACERS):
            n_ids[0] += 1
            rids.append("r%d" % n_ids[0])
        replies = [None] * RACERS
        cls = [U.Client(d.query_port, d=d) for _ in range(RACERS)]
        go = threading.Event()

        def run(i):
            go.wait(10)
            try:
                replies[i] = cls[i].reserve(rids[i], [[s, r, qtys[i]]], channel=ch)
            except Exception as e:  # reported below
                replies[i] = {"exception": repr(e)}

        ts = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
        for t in ts:
            t.start()
        go.set()
        for t in ts:
            t.join(60 * harness.TIME_FACTOR)
        for cl in cls:
            cl.close()
        granted = 0
        for rid, q, rep in zip(rids, qtys, replies):
            g = (rep or {}).get("granted")
            ck.check(g in (True, False), "%s: race reserve %s: %r", label, rid, rep)
            if g:
                granted += q
                resv[rid] = {(s, r): q}
                stats["race_granted"] += 1
        ck.check(granted <= atp, "%s: race on %s/%s/%s granted %d, ATP was %d",
                 label, s, r, ch, granted, atp)
        ck.check(granted > 0 or min(qtys) > atp, "%s: race on %s/%s: %r refused with ATP %d",
                 label, s, r, qtys, atp)

    def restart(label, after=None):
        """kill -9, start again, the sources resend; after() (if given)
        first, then every open reservation and every answer as the model
        has them, and nothing stored skipped at load."""
        U.kill9(d)
        stats["kill"] += 1
        U.restart(d)
        for cl in clients:
            cl.close()
        feed.after_restart()
        if after is not None:
            after()
        ck.eq(c.resv_counters().get("load_skipped"), 0,
              "%s: stored reservations skipped at load" % label)
        got = {rid: U.open_lines(c.get(rid)) for rid in sorted(resv)}
        ck.eq(got, resv, "%s: every open reservation kept" % label)
        answers_match(label)
        ck.done()  # stop at the first bad restart: later ones would repeat it

    def kill_with_unread_reserve(label):
        """A reserve sent, its reply never read, then kill -9: after the
        restart it exists only if the model grants it, and then as granted."""
        n_ids[0] += 1
        rid = "r%d" % n_ids[0]
        ch = rng.choice(CHANNELS)
        s, r = rng.choice(KEYS)
        q = rng.choice([Q, rng.randint(1, Q), max(1, min(Q, want(s, r, ch)["atp"]))])
        atp = want(s, r, ch)["atp"]
        rq = harness.ReqClient(d.query_port)
        try:
            rq.send_msg(struct.pack(">I", 0x80000001) + msgpack.packb(
                {"op": "reserve", "id": rid, "channel": ch, "lines": [[s, r, q]]}))
            for _ in range(rng.randint(0, 3)):  # a random point in its handling
                clients[1].atp(s, r)
        finally:
            rq.close()
        stats["kill_unread_reserve"] += 1

        def adopt():
            res = c.get(rid)
            if res is not None:
                stats["unread_stored"] += 1
                ck.check(q <= atp, "%s: %s of %d stored, but the model's ATP was %d",
                         label, rid, q, atp)
                resv[rid] = {(s, r): q}
        restart(label, adopt)

    feed.reconnect()
    # Sources speak first, so no region is stale.
    for src in ("wms", "tpl", "erp"):
        publish(src, [[3]])
    answers_match("start")
    kill_at = set(rng.sample(range(STEPS // 10, STEPS), KILLS))
    step = 0
    for step in U.timed_steps(STEPS, TIME_BUDGET_S):
        label = "step %d" % step
        cl = rng.choice(clients)
        x = rng.random()
        if x < 0.25:
            publish(*stock_events())
        elif x < 0.45:
            publish(*lot_events())
        elif x < 0.70:
            do_reserve(cl, label)
        elif x < 0.80:
            do_cart(cl, label)
        elif x < 0.87 and resv:
            rid = rng.choice(sorted(resv))
            got = cl.release(rid)
            ck.check(got.get("ok") is True, "%s: release %s: %r", label, rid, got)
            del resv[rid]
            stats["released"] += 1
        elif x < 0.94:
            do_race(label)
        else:
            got = c.snapshot()
            ck.check(got.get("ok") is True, "%s: snapshot: %r", label, got)
            stats["snapshot"] += 1
        answers_match(label)
        if step in kill_at:
            if rng.random() < 0.5:
                ck.check(c.snapshot().get("ok") is True, "%s: snapshot" % label)
                stats["snapshot"] += 1
            y = rng.random()
            if y < 0.3:
                kill_with_unread_reserve("kill -9 with a reserve unread after %s" % label)
                continue
            if y < 0.6:  # a message published, maybe not applied yet
                stats["kill_unseen_msg"] += 1
                publish(*rng.choice([stock_events, lot_events])(), wait=False)
            restart("kill -9 after %s" % label)
    h.log("%d steps: %r", step, stats)
    ck.check(stats["kill"] >= min(KILLS, 2), "only %d kills in the time budget", stats["kill"])
    ck.check(stats["granted"] > 0 and stats["bad_qty"] > 0 and stats["over_sum_max"] > 0,
             "too little near the bounds to mean anything: %r", stats)
    restart("final kill -9")
    for cl in clients[1:]:
        cl.close()
    U.finish(ck, c, feed, d)


if __name__ == "__main__":
    harness.run(main, "bounds_model")
