#!/usr/bin/python3
"""test_resv_crash.py - acknowledged reservations survive kill -9.

atpd runs with `reservations.durability: sync`. Four client threads (one REQ
connection each) keep reserving (1-3 lines), committing (with an order_ref),
releasing (all, or one line) and extending their own reservations, while
the main thread kill -9s atpd at random moments (22 times; 10 under
ATP_TEST_SCALE=sanitizer) and restarts it on the same data dir. Every reply
is recorded: an acknowledged change is the truth; a request that got no
reply (the kill hit it) is ambiguous.

After each restart, with the clients paused, every id ever used is read back:
- acknowledged and not touched since: exactly the acknowledged record
  (state, order_ref, lines with consumed/released, created/updated/expires);
- refused (granted: false): never stored, so not_found;
- with an unanswered request: either the record before it or the result of
  that request, nothing else (a reserve: absent, or held with exactly the
  requested lines) -- and a reserve retried with the same id and content then
  gets `replayed: true` with the stored record;
- `reserved` in the atp answer equals the sum of the open lines of all the
  reservations that exist, and ATP = max(0, supply - reserved - buffer) with
  the supply restored (positions from the store, the rest replayed by the
  test's feeder on atpd's resync request: stock is not re-published);
- `status` reservations.open / held / committed / remembered agree.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402
from harness import ConnectionClosed, TestFailure  # noqa: E402

ALL = ["on_hand", "allocated", "held"]
WORKERS = 4
KILLS = 10 if harness.SANITIZER else 22
SUPPLY = {("K1", "east"): 40, ("K2", "east"): 30, ("K3", "east"): 25,
          ("K1", "west"): 35, ("K2", "west"): 20}
LOC = {"east": "E1", "west": "W1"}
SRC = {"east": "wms", "west": "erp"}
BUFFER = {"K2": 2}  # sku rule: both regions


def build_config(h):
    return U.resv_config(
        h, ["east", "west"], [("E1", "east"), ("W1", "west")],
        [("wms", ["E1"], ALL), ("erp", ["W1"], ALL)], channels=("web",),
        buffers=[{"sku": "K2", "units": 2}],
        durability="sync", min_ttl="1s", default_ttl="1h", max_ttl="2h",
        committed_ttl="3h", retention="4h")


class Rec:
    """What the test knows about one id."""
    __slots__ = ("rid", "lines", "channel", "acked", "absent", "pending", "refused")

    def __init__(self, rid, lines, channel):
        self.rid = rid
        self.lines = lines          # merged request lines
        self.channel = channel
        self.acked = None           # last acknowledged record (dict) or None
        self.absent = False         # known not to exist (refused, or resolved absent)
        self.refused = False
        self.pending = None         # (op, arg) sent without a reply


class Pause:
    """Clients run while `running`; the main thread pauses them and waits
    until each has seen the pause after its last request."""

    def __init__(self, n):
        self.cond = threading.Condition()
        self.running = True
        self.stop = False
        self.epoch = 0
        self.paused = [-1] * n

    def gate(self, i):
        """Worker: returns False when the test is over."""
        with self.cond:
            for _ in range(100000):
                if self.stop or self.running:
                    break
                self.paused[i] = self.epoch
                self.cond.notify_all()
                self.cond.wait(0.1)
            return not self.stop

    def pause(self):
        with self.cond:
            self.running = False
            self.cond.notify_all()

    def wait_paused(self, timeout_s):
        with self.cond:
            ok = self.cond.wait_for(lambda: all(p == self.epoch for p in self.paused),
                                    timeout_s)
        if not ok:
            raise TestFailure("client threads did not pause within %.0f s" % timeout_s)

    def resume(self):
        with self.cond:
            self.epoch += 1
            self.running = True
            self.cond.notify_all()

    def finish(self):
        with self.cond:
            self.stop = True
            self.running = False
            self.cond.notify_all()


def worker(i, port, pause, recs, errors, seed, deadline, stats):
    rng = random.Random(seed)
    c = U.Client(port, timeout_s=5.0)
    n = 0
    keys = list(SUPPLY)
    seen_epoch = -1
    open_set = {}  # rid -> Rec: acknowledged open, nothing pending

    def track(rec):
        if rec.pending is None and not rec.absent and rec.acked is not None and \
                rec.acked["state"] in U.OPEN_STATES:
            open_set[rec.rid] = rec
        else:
            open_set.pop(rec.rid, None)
    try:
        for _ in range(10 ** 6):
            if time.monotonic() > deadline or not pause.gate(i):
                break
            if pause.epoch != seen_epoch:  # the main thread resolved pending ones
                seen_epoch = pause.epoch
                open_set.clear()
                for r in recs.values():
                    track(r)
            open_ids = sorted(open_set.values(), key=lambda r: r.rid)
            held_ids = [r for r in open_ids if r.acked["state"] == "held"]
            x = rng.random()
            if x < 0.5 or not open_ids:
                n += 1
                lines = [[*k, rng.randint(1, 4)] for k in rng.sample(keys, rng.randint(1, 3))]
                if rng.random() < 0.2:
                    lines.append(list(lines[0][:2]) + [1])  # a key twice: merged
                ch = rng.choice([None, "web"])
                rec = Rec("w%d-%d" % (i, n), U.merged(lines), ch or "default")
                recs[rec.rid] = rec
                op, arg, body = "reserve", None, {"op": "reserve", "id": rec.rid,
                                                  "lines": lines}
                if ch:
                    body["channel"] = ch
            elif x < 0.7 and held_ids:
                rec = rng.choice(held_ids)
                op, arg = "commit", "SO-" + rec.rid
                body = {"op": "commit", "id": rec.rid, "order_ref": arg}
            elif x < 0.95:
                rec = rng.choice(open_ids)
                open_keys = [(l["sku"], l["region"]) for l in rec.acked["lines"]
                             if l["qty"] > l["consumed"] + l["released"]]
                if rng.random() < 0.5 and len(open_keys) > 1:
                    arg = rng.choice(open_keys)
                    body = {"op": "release", "id": rec.rid, "lines": [list(arg)]}
                else:
                    arg = None
                    body = {"op": "release", "id": rec.rid}
                op = "release"
            else:
                rec = rng.choice(open_ids)
                op, arg = "extend", rng.randint(1800, 3600) * 1000
                body = {"op": "extend", "id": rec.rid, "ttl_ms": arg}
            rec.pending = (op, arg)
            track(rec)
            try:
                reply = c.req_once(body)
            except (ConnectionClosed, TimeoutError, OSError):
                stats["unanswered"] += 1
                continue  # stays pending: resolved after the restart
            rec.pending = None
            stats[op] += 1
            if reply.get("ok") is not True:
                errors.append("%s %s: error reply %r" % (op, rec.rid, reply))
                continue
            if op == "reserve" and reply.get("granted") is False:
                rec.refused = rec.absent = True
                stats["refused"] += 1
                continue
            res = reply.get("reservation")
            if not isinstance(res, dict) or res.get("id") != rec.rid:
                errors.append("%s %s: reply without its reservation: %r" % (op, rec.rid, reply))
                continue
            problem = outcome_problem(rec, op, arg, rec.acked, res)
            if problem:
                errors.append("%s %s acknowledged: %s" % (op, rec.rid, problem))
            rec.acked = res
            track(rec)
    except Exception as e:
        errors.append("worker %d: %r" % (i, e))
    finally:
        c.close()
        with pause.cond:
            pause.paused[i] = 10 ** 9  # never blocks a pause again
            pause.cond.notify_all()


def lines_tuple(res):
    return [tuple(x) for x in U.record_lines(res)]


def outcome_problem(rec, op, arg, before, res):
    """None when `res` is a possible result of op(arg) applied to `before`
    (None: the reservation did not exist), else a description."""
    if op == "reserve":
        if before is not None:
            return None if res == before else "a reserve replay changed it: %r -> %r" % (before, res)
        want = [(s, r, q, 0, 0) for s, r, q in rec.lines]
        if res.get("state") != "held" or lines_tuple(res) != want or \
                res.get("channel") != rec.channel or "order_ref" in res:
            return "want held %s %r, got %r" % (rec.channel, want, res)
        return None
    if before is None:
        return "%s of an id that never existed: %r" % (op, res)
    same = lines_tuple(res) == lines_tuple(before) and res.get("created_ms") == \
        before.get("created_ms") and res.get("channel") == before.get("channel")
    if op == "commit":
        ok = same and res.get("state") == "committed" and res.get("order_ref") == arg
    elif op == "extend":
        ok = same and res.get("state") == before.get("state") and \
            res.get("order_ref") == before.get("order_ref")
    else:  # release (all, or the line arg)
        want = []
        for s, r, q, cons, rel in lines_tuple(before):
            if arg is None or (s, r) == arg:
                rel = q - cons
            want.append((s, r, q, cons, rel))
        still_open = any(q > cons + rel for s, r, q, cons, rel in want)
        ok = lines_tuple(res) == want and res.get("created_ms") == before.get("created_ms") \
            and res.get("order_ref") == before.get("order_ref") and \
            res.get("state") == (before.get("state") if still_open else "released")
    return None if ok else "%s(%r) of %r gave %r" % (op, arg, before, res)


def read_all(port, rids, nthreads=4):
    """{rid: record or None}, read with a few connections in parallel."""
    out, errors = {}, []

    def run(chunk):
        c = U.Client(port)
        try:
            for rid in chunk:
                out[rid] = c.get(rid)
        except Exception as e:
            errors.append(repr(e))
        finally:
            c.close()
    ts = [threading.Thread(target=run, args=(rids[k::nthreads],)) for k in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    if errors or len(out) != len(rids):
        raise TestFailure("reading reservations back failed: %s" % errors[:3])
    return out


def verify(h, ck, d, c, feed, recs, cycle):
    """Everything after a restart (clients paused). Resolves the pending ones."""
    label = "restart %d" % cycle
    rids = sorted(recs)
    got = read_all(d.query_port, rids)
    n_pending = n_adopted = 0
    for rid in rids:
        rec, res = recs[rid], got[rid]
        if rec.pending is None:
            if rec.absent or rec.acked is None:
                ck.check(res is None, "%s: %s was %s but exists: %r", label, rid,
                         "refused" if rec.refused else "never stored", res)
            else:
                ck.check(res == rec.acked, "%s: %s acknowledged as %r, reads back as %r",
                         label, rid, rec.acked, res)
            continue
        n_pending += 1
        op, arg = rec.pending
        before = None if rec.absent else rec.acked
        if res is None:
            ck.check(before is None, "%s: %s (acknowledged %r) vanished after an unanswered %s",
                     label, rid, before, op)
            rec.absent = True
        elif before is not None and res == before:
            pass  # the unanswered request did not happen
        else:
            problem = outcome_problem(rec, op, arg, before, res)
            ck.check(problem is None, "%s: %s after an unanswered %s: %s", label, rid, op, problem)
            rec.absent = False
            n_adopted += 1
        if res is not None:
            rec.acked = res
        rec.pending = None
        if op == "reserve" and res is not None:
            r = c.req({"op": "reserve", "id": rid, "lines": [list(l) for l in rec.lines],
                       "channel": rec.channel})
            ck.check(r.get("ok") is True and r.get("granted") is True and
                     r.get("replayed") is True and r.get("reservation") == res,
                     "%s: retry of the unanswered reserve %s: %r, stored %r", label, rid, r, res)
    # reserved = the open lines of every reservation that exists
    exist = [recs[r].acked for r in rids if not recs[r].absent and recs[r].acked is not None]
    reserved = {k: 0 for k in SUPPLY}
    for res in exist:
        for k, q in U.open_lines(res).items():
            reserved[k] += q
    held = sum(1 for r in exist if r["state"] == "held")
    committed = sum(1 for r in exist if r["state"] == "committed")
    cnt = c.resv_counters()
    ck.eq((cnt.get("held"), cnt.get("committed"), cnt.get("open"), cnt.get("remembered")),
          (held, committed, held + committed, len(exist)),
          "%s: status reservations (held, committed, open, remembered)" % label)
    # positions come back from the store, plus the replay of what followed
    # the last position snapshot (asked by atpd, answered by the feeder)
    feed.after_restart()
    for k in SUPPLY:
        a = c.atp(*k)
        buf = BUFFER.get(k[0], 0)
        ck.eq((a["supply"], a["reserved"], a["buffer"], a["atp"], a["shortfall"]),
              (SUPPLY[k], reserved[k], buf, max(0, SUPPLY[k] - reserved[k] - buf),
               max(0, reserved[k] - SUPPLY[k])),
              "%s: %s/%s (supply, reserved, buffer, atp, shortfall)" % (label, k[0], k[1]))
        ck.check(reserved[k] <= SUPPLY[k] - buf,
                 "%s: OVERSELL %s/%s: %d reserved of supply %d - buffer %d", label, k[0], k[1],
                 reserved[k], SUPPLY[k], buf)
    return len(exist), n_pending, n_adopted, sum(reserved.values())


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(build_config(h))
    c = U.Client(d.query_port)
    feed = U.Feeder(d, c)
    for region in ("east", "west"):
        feed.publish(SRC[region], [[2, s, LOC[region], 0, q] for (s, r), q in SUPPLY.items()
                                   if r == region])
    seed = int(os.environ.get("ATP_TEST_SEED", "4242"))
    rng = random.Random(seed)
    pause = Pause(WORKERS)
    recs = [dict() for _ in range(WORKERS)]
    errors = []
    wstats = [{k: 0 for k in ("reserve", "commit", "release", "extend", "refused",
                              "unanswered")} for _ in range(WORKERS)]
    t_end = time.monotonic() + 100 * harness.TIME_FACTOR
    ts = [threading.Thread(target=worker, args=(i, d.query_port, pause, recs[i], errors,
                                                seed * 10 + i, t_end, wstats[i]))
          for i in range(WORKERS)]
    for t in ts:
        t.start()
    h.log("%d clients, %d kills, seed %d", WORKERS, KILLS, seed)
    try:
        for cycle in range(1, KILLS + 1):
            time.sleep(rng.uniform(0.05, 0.5) * (2 if harness.SANITIZER else 1))
            d.check_alive()
            pause.pause()
            U.kill9(d)
            pause.wait_paused(30)
            for e in errors[:10]:
                ck.check(False, "before kill %d: %s", cycle, e)
            del errors[:]
            t0 = time.monotonic()
            U.restart(d)
            c.close()
            t_up = time.monotonic() - t0
            allrecs = {}
            for r in recs:
                allrecs.update(r)
            n_exist, n_pend, n_adopt, n_res = verify(h, ck, d, c, feed, allrecs, cycle)
            h.log("kill %2d: restart %.0f ms; %d ids, %d exist, %d unanswered (%d had "
                  "happened), %d units reserved", cycle, t_up * 1000, len(allrecs), n_exist,
                  n_pend, n_adopt, n_res)
            ck.done()  # stop at the first bad cycle: later ones would only repeat it
            if time.monotonic() > t_end:
                raise TestFailure("out of time after %d kills" % cycle)
            pause.resume()
    finally:
        pause.finish()
        for t in ts:
            t.join(30)
    stats = {k: sum(w[k] for w in wstats) for k in wstats[0]}
    h.log("answered requests: %r; the feeder answered %d replay requests", stats, feed.replays)
    ck.eq(feed.errors, [], "feeder control-channel errors")
    ck.check(stats["reserve"] > 50 and stats["commit"] > 10 and stats["release"] > 10,
             "too little work between the kills: %r", stats)
    ck.check(stats["unanswered"] >= 1, "no kill ever hit a request in flight: %r", stats)
    c.close()
    feed.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "resv_crash")
