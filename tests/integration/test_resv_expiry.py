#!/usr/bin/python3
"""test_resv_expiry.py - held reservations stop counting at their TTL.

Config: min_ttl 1s (the smallest value the config accepts), committed_ttl 2s,
retention 1h (finished records stay readable). Polls `reserved` with a
`cart` request every few ms and compares the moment it drops with the
record's `expires_ms` (wall clock, same clock as atpd's), judged from
atpd's side so that a slow poller cannot fail it: no answer *received*
before expires_ms - EARLY_MS shows the drop, and no poll *sent* after
expires_ms + TOL_MS still counts the reservation.

1. held H (ttl 1000 ms) expires on time, state `expired`, counter `expired`;
   committed C (reserved with ttl 1000, then committed) does not expire with
   it but at commit + committed_ttl (2 s); extended E (ttl 1000, then extend
   to 2500 ms) expires at extend + 2500, not at its first expiry.
2. expiry across restarts: R (ttl 6 s) survives a SIGTERM restart and
   still expires at its original expires_ms; D (ttl 2.5 s) expires while
   atpd is down and is expired (not counted) right after the restart
   (both TTLs x4 in sanitizer builds, room for a slow stop and start).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402
from harness import TestFailure  # noqa: E402

ALL = ["on_hand", "allocated", "held"]
SKUS = ["SKU-H", "SKU-C", "SKU-E", "SKU-R", "SKU-D"]
SUPPLY = 10
EARLY_MS = 50                                    # may not drop earlier than this before
# Must drop within this after expires_ms: atpd's expiry timer on a busy
# machine (a poller's delay does not count, see Watch).
TOL_MS = 750 * harness.TIME_FACTOR
TTL_R_MS = int(6000 * harness.TIME_FACTOR)
TTL_D_MS = int(2500 * harness.TIME_FACTOR)


def now_ms():
    return time.time() * 1000.0


def build_config(h):
    return U.resv_config(h, ["east"], [("E1", "east")], [("wms", ["E1"], ALL)],
                         durability="sync", min_ttl="1s", default_ttl="10m", max_ttl="1h",
                         committed_ttl="2s", retention="1h")


class Watch:
    """Polls reserved for several SKUs and records when each first drops
    below its expected level: (send_ms, recv_ms) of the first poll that saw
    it dropped, and send_ms of the last poll that still counted it."""

    def __init__(self, c, levels):
        self.c = c
        self.levels = dict(levels)          # sku -> reserved while counted
        self.dropped = {}                   # sku -> (send_ms, recv_ms, reserved)
        self.last_seen = {}                 # sku -> send_ms of the last poll counting it
        self.polls = 0

    def poll(self):
        skus = [s for s in self.levels if s not in self.dropped]
        if not skus:
            return True
        t0 = now_ms()
        r = self.c.ok({"op": "cart", "lines": [[s, "east", 1] for s in skus]})
        t1 = now_ms()
        self.polls += 1
        for s, a in zip(skus, r["lines"]):
            if a["reserved"] >= self.levels[s]:
                self.last_seen[s] = t0  # atpd answered after this
            else:
                self.dropped[s] = (t0, t1, a["reserved"])
        return len(self.dropped) == len(self.levels)

    def run_until(self, deadline_ms, max_polls=20000):
        for _ in range(max_polls):
            if self.poll() or now_ms() > deadline_ms:
                break
            time.sleep(0.004)


def check_drop(ck, w, sku, expires_ms, what):
    d = w.dropped.get(sku)
    if not ck.check(d is not None, "%s: reserved of %s never dropped (expires_ms %d, now %d)",
                    what, sku, expires_ms, now_ms()):
        return
    send, recv, val = d
    ck.check(recv >= expires_ms - EARLY_MS,
             "%s: reserved of %s dropped to %d too early: seen at %.0f ms, expires_ms %d "
             "(%.0f ms before)", what, sku, val, recv, expires_ms, expires_ms - recv)
    last = w.last_seen.get(sku)
    ck.check(last is None or last <= expires_ms + TOL_MS,
             "%s: reserved of %s dropped too late: still counted by a poll sent at %.0f ms, "
             "expires_ms %d (%.0f ms after; tolerance %d)", what, sku, last or 0, expires_ms,
             (last or 0) - expires_ms, TOL_MS)
    ck.eq(val, 0, "%s: reserved of %s after the drop" % (what, sku))
    return send - expires_ms


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(build_config(h))
    c = U.Client(d.query_port)
    feed = U.Feeder(d, c)

    def seed():
        feed.reconnect()
        feed.publish("wms", [[2, s, "E1", 0, SUPPLY] for s in SKUS])

    seed()

    def reserve(rid, sku, qty, ttl):
        r = c.reserve(rid, [[sku, "east", qty]], ttl_ms=ttl)
        if r.get("granted") is not True:
            raise TestFailure("reserve %s: %r" % (rid, r))
        return r["reservation"]

    # ---------------- 1. held / committed / extended
    cnt0 = c.resv_counters()
    t0 = now_ms()
    rh = reserve("exp-H", "SKU-H", 4, 1000)
    rc = reserve("exp-C", "SKU-C", 3, 1000)
    re_ = reserve("exp-E", "SKU-E", 2, 1000)
    ck.check(abs(rh["expires_ms"] - rh["created_ms"] - 1000) <= 1 and
             rh["created_ms"] >= t0 - 50 and rh["created_ms"] <= now_ms() + 50,
             "exp-H created_ms/expires_ms inconsistent with ttl 1000: %r", rh)
    r = c.commit("exp-C", "SO-C")
    ck.check(r.get("ok") is True, "commit exp-C: %r", r)
    rc = r.get("reservation") or rc
    ck.check(abs(rc["expires_ms"] - rc["updated_ms"] - 2000) <= 1,
             "committed exp-C expires_ms should be commit time + 2000: %r", rc)
    r = c.extend("exp-E", 2500)
    ck.check(r.get("ok") is True, "extend exp-E: %r", r)
    re_ = r.get("reservation") or re_
    ck.check(abs(re_["expires_ms"] - re_["updated_ms"] - 2500) <= 1,
             "extended exp-E expires_ms should be extend time + 2500: %r", re_)
    first_expiry = min(rh["expires_ms"], re_["created_ms"] + 1000)
    w = Watch(c, {"SKU-H": 4, "SKU-C": 3, "SKU-E": 2})
    w.run_until(max(rc["expires_ms"], re_["expires_ms"]) + TOL_MS + 1000)
    h.log("held/committed/extended: %d polls", w.polls)
    lat = check_drop(ck, w, "SKU-H", rh["expires_ms"], "held exp-H")
    check_drop(ck, w, "SKU-C", rc["expires_ms"], "committed exp-C")
    check_drop(ck, w, "SKU-E", re_["expires_ms"], "extended exp-E")
    if "SKU-C" in w.dropped:
        ck.check(w.dropped["SKU-C"][1] > first_expiry + 500,
                 "committed exp-C stopped counting with the held ones (%.0f ms, held expiry %d)",
                 w.dropped["SKU-C"][1], first_expiry)
    for rid, sku in (("exp-H", "SKU-H"), ("exp-C", "SKU-C"), ("exp-E", "SKU-E")):
        res = c.get(rid) or {}
        ck.eq(res.get("state"), "expired", rid + ": state after its TTL")
        a = c.atp(sku, "east")
        ck.eq((a["reserved"], a["atp"]), (0, SUPPLY), rid + ": (reserved, atp) after expiry")
    cnt = c.resv_counters()
    ck.eq(cnt.get("expired", 0) - cnt0.get("expired", 0), 3, "status reservations.expired delta")
    ck.eq((cnt.get("held"), cnt.get("committed"), cnt.get("open")), (0, 0, 0),
          "status held/committed/open after expiry")
    for op, r in (("commit", c.commit("exp-H", "SO-H")), ("extend", c.extend("exp-H", 5000))):
        ck.eq(U.error_code(r), U.E_BAD_STATE, op + " of expired exp-H")
    r = c.release("exp-H")
    ck.check(r.get("ok") is True and r.get("replayed") is True and
             r["reservation"]["state"] == "expired", "release of expired exp-H: %r", r)
    r = c.reserve("exp-H", [["SKU-H", "east", 4]], ttl_ms=1000)
    ck.check(r.get("granted") is True and r.get("replayed") is True and
             r["reservation"]["state"] == "expired",
             "reserve replay of expired exp-H: the original answer, as it is now: %r", r)
    ck.eq(c.atp("SKU-H", "east")["reserved"], 0, "a replay of an expired one holds nothing")
    if lat is not None:
        h.log("held exp-H stopped counting %.0f ms after expires_ms", lat)

    # ---------------- 2. across a restart
    # TTLs leave room for a slow stop and start (sanitizer builds, a busy
    # 2-core CI machine): D must still be held when atpd stops, expire while
    # it is down, and R must outlive the restart.
    rr = reserve("exp-R", "SKU-R", 5, TTL_R_MS)
    rd = reserve("exp-D", "SKU-D", 6, TTL_D_MS)
    d.stop()
    stopped = now_ms()
    ck.check(stopped < rd["expires_ms"] - 100,
             "the test was too slow: atpd stopped at %.0f, exp-D expires at %d (not a bug "
             "in atpd; rerun)", stopped, rd["expires_ms"])
    # Wait out D's TTL while atpd is down (a deadline, not a guess).
    time.sleep(max(0.0, (rd["expires_ms"] + 100 - now_ms()) / 1000.0))
    U.restart(d)
    c.close()
    up = now_ms()
    h.log("restarted %.0f ms after exp-R's creation (down %.0f ms)", up - rr["created_ms"],
          up - stopped)
    if up > rr["expires_ms"] - 500:
        raise TestFailure("restart took too long to test a remaining TTL (%.0f ms after "
                          "creation)" % (up - rr["created_ms"]))
    wd = Watch(c, {"SKU-D": 6})
    wd.run_until(up + TOL_MS)
    dd = wd.dropped.get("SKU-D")
    last = wd.last_seen.get("SKU-D")
    ck.check(dd is not None and dd[2] == 0 and (last is None or last <= up + TOL_MS),
             "exp-D expired while atpd was down: reserved should be 0 within %d ms of the "
             "restart; got %r, still counted by a poll sent %s ms after it", TOL_MS, dd,
             None if last is None else "%.0f" % (last - up))
    w = Watch(c, {"SKU-R": 5})
    res = c.get("exp-R") or {}
    ck.eq((res.get("state"), res.get("expires_ms"), res.get("created_ms")),
          ("held", rr["expires_ms"], rr["created_ms"]), "exp-R after the restart")
    ck.eq((c.get("exp-D") or {}).get("state"), "expired", "exp-D after the restart")
    feed.after_restart()
    seed()
    a = c.atp("SKU-R", "east")
    ck.eq((a["supply"], a["reserved"], a["atp"]), (SUPPLY, 5, SUPPLY - 5),
          "SKU-R after the restart and re-published stock")
    w.run_until(rr["expires_ms"] + TOL_MS + 1000)
    lat = check_drop(ck, w, "SKU-R", rr["expires_ms"], "exp-R across a restart")
    ck.eq((c.get("exp-R") or {}).get("state"), "expired", "exp-R after its TTL")
    ck.eq(c.resv_counters().get("open"), 0, "open reservations at the end")
    if lat is not None:
        h.log("exp-R stopped counting %.0f ms after expires_ms (restart at ~1 s)", lat)
    c.close()
    feed.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "resv_expiry")
