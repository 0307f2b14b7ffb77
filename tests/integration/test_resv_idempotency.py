#!/usr/bin/python3
"""test_resv_idempotency.py - reservation ids are idempotency keys.

- same id + same content (channel and merged lines; TTL not compared): the
  original answer with `replayed: true`, nothing counted twice -- also after
  a clean restart (SIGTERM) and after kill -9;
- same id + different content (qty, sku, channel, an extra line): conflict;
- commit / release / extend repeated: idempotent; commit with another
  order_ref: conflict; an order_ref used by another reservation: conflict;
- release of a consumed one, commit/extend of a released one: bad_state;
  any op on an unknown id: not_found; a refused reserve stores nothing and a
  retry is a new attempt;
- bad input gets the documented code and changes nothing: `status`
  reservation counters, `reservation` (not_found) and ATP unchanged.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402

ALL = ["on_hand", "allocated", "held"]
MAX_LINES = 8
STOCK = [("A", "E1", 100), ("B", "E1", 50), ("A", "W1", 40), ("C", "W1", 10)]
KEYS = [("A", "east"), ("B", "east"), ("A", "west"), ("C", "west")]
COUNTERS = ("open", "held", "committed", "remembered", "granted", "refused", "expired",
            "consumed", "store_failures")


def build_config(h):
    return U.resv_config(
        h, ["east", "west"], [("E1", "east"), ("W1", "west")],
        [("wms", ["E1"], ALL), ("erp", ["W1"], ALL)], channels=("web", "app"),
        buffers=[{"channel": "web", "units": 1}],
        durability="sync", min_ttl="2s", default_ttl="10m", max_ttl="1h",
        committed_ttl="2h", retention="1h", max_lines=MAX_LINES)


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(build_config(h))
    c = U.Client(d.query_port)
    feed = U.Feeder(d, c)

    allocated = [0]  # A at E1

    def seed():
        feed.reconnect()
        feed.publish("wms", [[2, s, l, 0, q] for s, l, q in STOCK if l == "E1"] +
                     [[2, "A", "E1", 1, allocated[0]]])
        feed.publish("erp", [[2, s, l, 0, q] for s, l, q in STOCK if l == "W1"])

    def atps():
        return {(k, ch): (a["atp"], a["reserved"], a["supply"])
                for k in KEYS for ch in (None, "web")
                for a in [c.atp(k[0], k[1], ch)]}

    def counters():
        cnt = c.resv_counters()
        return {k: cnt.get(k) for k in COUNTERS}

    def expect_err(what, reply, code, line=None):
        got = U.error_code(reply)
        codes = code if isinstance(code, tuple) else (code,)
        ok = ck.check(got in codes, "%s: want error %s, got %r", what, codes, reply)
        if ok and line is not None:
            ck.eq(reply["error"].get("line"), line, what + ": error line")
        if ok:
            ck.check(isinstance(reply["error"].get("name"), str) and
                     isinstance(reply["error"].get("message"), str),
                     "%s: error without name/message: %r", what, reply)
        return ok

    def expect_ok(what, reply, state=None, replayed=None):
        if not ck.check(reply.get("ok") is True, "%s: want ok, got %r", what, reply):
            return {}
        res = reply.get("reservation") or {}
        if state is not None:
            ck.eq(res.get("state"), state, what + ": state")
        if replayed is not None:
            ck.eq(reply.get("replayed"), replayed, what + ": replayed")
        return res

    seed()
    atp0 = atps()
    h.log("seeded: %r", atp0)

    # ---------------- reserve: same id, same content
    lines1 = [["A", "east", 2], ["B", "east", 1]]
    r = c.reserve("idem-1", lines1, channel="web", ttl_ms=600000)
    ck.check(r.get("ok") is True and r.get("granted") is True and r.get("replayed") is False,
             "first reserve of idem-1: %r", r)
    orig = r.get("reservation") or {}
    cnt1 = counters()
    atp1 = atps()
    ck.eq(atp1[(("A", "east"), "web")], (atp0[(("A", "east"), "web")][0] - 2, 2, 100),
          "A/east web after idem-1")
    for label, lines, ttl in (("identical", lines1, 600000),
                              ("other ttl", lines1, 900000),
                              ("no ttl", lines1, None),
                              ("lines split, same merged", [["A", "east", 1], ["B", "east", 1],
                                                            ["A", "east", 1]], 600000)):
        r = c.reserve("idem-1", lines, channel="web", ttl_ms=ttl)
        ck.check(r.get("ok") is True and r.get("granted") is True and r.get("replayed") is True,
                 "replayed reserve (%s) of idem-1: %r", label, r)
        res = r.get("reservation") or {}
        for f in ("id", "state", "channel", "created_ms", "expires_ms", "lines"):
            ck.eq(res.get(f), orig.get(f), "replayed reserve (%s) of idem-1: %s" % (label, f))
    ck.eq(counters(), cnt1, "counters after replays of idem-1")
    ck.eq(atps(), atp1, "ATP after replays of idem-1")

    # the default channel, named or not, is the same content
    r = c.reserve("idem-2", [["C", "west", 1]])
    ck.check(r.get("granted") is True and r.get("replayed") is False, "reserve idem-2: %r", r)
    r = c.reserve("idem-2", [["C", "west", 1]], channel="default")
    ck.check(r.get("granted") is True and r.get("replayed") is True,
             "reserve idem-2 again naming channel default: %r", r)

    # ---------------- same id, different content: conflict, nothing changes
    before_c, before_a = counters(), atps()
    for label, lines, ch in (("other qty", [["A", "east", 3], ["B", "east", 1]], "web"),
                             ("other sku", [["C", "east", 2], ["B", "east", 1]], "web"),
                             ("other region", [["A", "west", 2], ["B", "east", 1]], "web"),
                             ("a line less", [["A", "east", 2]], "web"),
                             ("a line more", lines1 + [["C", "west", 1]], "web"),
                             ("other channel", lines1, "app"),
                             ("default channel", lines1, None)):
        expect_err("reserve idem-1 with %s" % label, c.reserve("idem-1", lines, channel=ch),
                   U.E_CONFLICT)
    expect_err("reserve idem-2 with channel web", c.reserve("idem-2", [["C", "west", 1]], "web"),
               U.E_CONFLICT)
    ck.eq(counters(), before_c, "counters after conflicts")
    ck.eq(atps(), before_a, "ATP after conflicts")
    res = c.get("idem-1")
    ck.eq(U.record_lines(res or {}), U.record_lines(orig), "idem-1 lines after conflicts")

    # ---------------- commit
    r = c.commit("idem-1", "SO-1")
    res = expect_ok("commit idem-1 SO-1", r, "committed", False)
    ck.eq(res.get("order_ref"), "SO-1", "commit idem-1: order_ref")
    committed = res
    for label, ref in (("same order_ref", "SO-1"), ("no order_ref", None)):
        res = expect_ok("commit idem-1 again (%s)" % label, c.commit("idem-1", ref),
                        "committed", True)
        for f in ("order_ref", "expires_ms", "updated_ms", "lines"):
            ck.eq(res.get(f), committed.get(f), "commit idem-1 again (%s): %s" % (label, f))
    expect_err("commit idem-1 with another order_ref", c.commit("idem-1", "SO-OTHER"),
               U.E_CONFLICT)
    r = c.reserve("idem-3", [["A", "west", 5]], channel="app")
    ck.check(r.get("granted") is True, "reserve idem-3: %r", r)
    expect_err("commit idem-3 with idem-1's order_ref", c.commit("idem-3", "SO-1"), U.E_CONFLICT)
    ck.eq((c.get("idem-3") or {}).get("state"), "held", "idem-3 after the order_ref conflict")
    want_a = dict(before_a)
    for (k, ch), v in before_a.items():
        if k == ("A", "west"):
            want_a[(k, ch)] = (v[0] - 5, v[1] + 5, v[2])
    ck.eq(atps(), want_a,
          "ATP after commits (committed still counts; idem-3 holds 5 A/west)")
    # a reserve replay of a committed reservation answers with it as it is now
    r = c.reserve("idem-1", lines1, channel="web")
    ck.check(r.get("granted") is True and r.get("replayed") is True and
             (r.get("reservation") or {}).get("state") == "committed",
             "reserve replay of committed idem-1: %r", r)

    # ---------------- extend
    r1 = c.extend("idem-3", 1200000)
    res = expect_ok("extend idem-3", r1, "held")
    r2 = c.extend("idem-3", 1200000)
    res2 = expect_ok("extend idem-3 again", r2, "held")
    ck.check(res2.get("expires_ms", 0) >= res.get("expires_ms", 1) and
             res2.get("lines") == res.get("lines"),
             "extend twice: %r then %r", res, res2)
    expect_ok("extend committed idem-1", c.extend("idem-1", 1800000), "committed")

    # ---------------- release
    r = c.release("idem-3", [["A", "west"]])
    res = expect_ok("release idem-3 (its only line)", r, "released", False)
    expect_ok("release idem-3 again", c.release("idem-3"), "released", True)
    expect_ok("release idem-3 again naming the line", c.release("idem-3", [["A", "west"]]),
              "released", True)
    expect_err("commit released idem-3", c.commit("idem-3", "SO-3"), U.E_BAD_STATE)
    expect_err("extend released idem-3", c.extend("idem-3", 600000), U.E_BAD_STATE)
    r = c.reserve("idem-3", [["A", "west", 5]], channel="app")
    ck.check(r.get("granted") is True and r.get("replayed") is True and
             (r.get("reservation") or {}).get("state") == "released",
             "reserve replay of released idem-3: %r", r)
    ck.eq(c.atp("A", "west")["reserved"], 0, "A/west reserved after releasing idem-3")
    expect_err("reserve released idem-3 with other content",
               c.reserve("idem-3", [["A", "west", 6]], channel="app"), U.E_CONFLICT)
    # partial release, then the rest, each idempotent
    r = c.reserve("idem-4", [["A", "east", 3], ["B", "east", 2]])
    ck.check(r.get("granted") is True, "reserve idem-4: %r", r)
    updated = None
    for i in range(2):
        # the second releases nothing more: a replay, nothing written
        res = expect_ok("partial release of idem-4 (#%d)" % (i + 1),
                        c.release("idem-4", [["B", "east"]]), "held", i == 1)
        ck.eq(U.open_lines(res), {("A", "east"): 3, ("B", "east"): 0},
              "idem-4 open lines after partial release #%d" % (i + 1))
        if i == 0:
            updated = res.get("updated_ms")
            time.sleep(0.005)  # a write would show a later updated_ms
        else:
            ck.eq(res.get("updated_ms"), updated, "the repeat wrote nothing")
    res = expect_ok("release of idem-4 naming no line it has",
                    c.release("idem-4", [["Q", "east"]]), "held", True)
    ck.eq(res.get("updated_ms"), updated, "naming no line of it wrote nothing")
    ck.eq(c.atp("B", "east")["reserved"], 1, "B/east reserved (idem-1 only) after partial release")

    # ---------------- consumed: release is bad_state, commit replays
    expect_ok("commit idem-4 SO-4", c.commit("idem-4", "SO-4"), "committed")
    feed.publish("wms", [[1, "A", "E1", 1, 3, "SO-4"]])
    res = c.get("idem-4") or {}
    consumed = ck.eq(res.get("state"), "consumed",
                     "idem-4 after an allocation of 3 A/E1 naming SO-4 (see test_resv_consume)")
    if consumed:
        expect_err("release consumed idem-4", c.release("idem-4"), U.E_BAD_STATE)
        expect_err("release a line of consumed idem-4", c.release("idem-4", [["A", "east"]]),
                   U.E_BAD_STATE)
        expect_ok("commit consumed idem-4 again", c.commit("idem-4", "SO-4"), "consumed", True)
        expect_err("commit consumed idem-4 with another ref", c.commit("idem-4", "SO-5"),
                   U.E_CONFLICT)
        expect_err("extend consumed idem-4", c.extend("idem-4", 600000), U.E_BAD_STATE)
    allocated[0] = 3  # the WMS allocation stays: re-published after restarts

    # ---------------- unknown ids
    for op, r in (("reservation", c.req({"op": "reservation", "id": "nope"})),
                  ("commit", c.commit("nope", "SO-9")), ("release", c.release("nope")),
                  ("extend", c.extend("nope", 600000))):
        expect_err("%s of an unknown id" % op, r, U.E_NOT_FOUND)

    # ---------------- a refused reserve stores nothing; retry = new attempt
    before_c = counters()
    r = c.reserve("idem-5", [["C", "west", 50]])
    ck.check(r.get("ok") is True and r.get("granted") is False, "reserve 50 C/west: %r", r)
    ck.eq(c.get("idem-5"), None, "refused idem-5 stored nothing")
    feed.publish("erp", [[2, "C", "W1", 0, 60]])
    r = c.reserve("idem-5", [["C", "west", 50]])
    ck.check(r.get("granted") is True and r.get("replayed") is False,
             "retry of refused idem-5 after a restock: %r", r)
    got = counters()
    ck.eq((got["granted"] - before_c["granted"], got["refused"] - before_c["refused"]), (1, 1),
          "granted/refused deltas around idem-5")
    r = c.release("idem-5")
    ck.check(r.get("ok") is True, "release idem-5: %r", r)
    feed.publish("erp", [[2, "C", "W1", 0, 10]])

    # ---------------- bad input: documented code, nothing stored
    def bad(label, body, code, line=None, check_id=None):
        before_c, before_a = counters(), atps()
        st0 = c.status()
        expect_err(label, c.req(body), code, line)
        ck.eq(counters(), before_c, label + ": reservation counters")
        ck.eq(atps(), before_a, label + ": ATP")
        st1 = c.status()
        ck.eq(st1["queries"]["errors"] - st0["queries"]["errors"], 1, label + ": queries.errors")
        if check_id is not None:
            ck.eq(c.get(check_id), None, label + ": nothing stored under the id")

    ok_line = [["A", "east", 1]]
    rs = lambda rid, lines=ok_line, **kw: dict({"op": "reserve", "id": rid, "lines": lines}, **kw)  # noqa
    bad("empty id", rs(""), U.E_BAD_ID)
    bad("id of 129 bytes", rs("x" * 129), U.E_BAD_ID)
    bad("id with a control char", rs("bad\x01id"), U.E_BAD_ID)
    bad("id not a string", rs(17), U.E_BAD_REQUEST)
    bad("get with an empty id", {"op": "reservation", "id": ""}, U.E_BAD_ID)
    bad("get with an id of 129 bytes", {"op": "reservation", "id": "x" * 129}, U.E_BAD_ID)
    bad("release with an id of 129 bytes", {"op": "release", "id": "x" * 129}, U.E_BAD_ID)
    bad("missing id", {"op": "reserve", "lines": ok_line}, U.E_BAD_REQUEST)
    bad("qty 0", rs("bad-q0", [["B", "east", 1], ["A", "east", 0]]), U.E_BAD_QTY, 1, "bad-q0")
    bad("qty -1", rs("bad-qn", [["A", "east", -1]]), U.E_BAD_QTY, 0, "bad-qn")
    bad("qty 10^15+1", rs("bad-qbig", [["A", "east", 10**15 + 1]]), U.E_BAD_QTY, 0, "bad-qbig")
    bad("qty not an integer", rs("bad-qs", [["A", "east", "1"]]), (U.E_BAD_QTY, U.E_BAD_REQUEST), 0, "bad-qs")
    bad("too many lines", rs("bad-lines", [["A", "east", 1]] * (MAX_LINES + 1)),
        U.E_TOO_MANY_LINES, None, "bad-lines")
    bad("no lines", rs("bad-nolines", []), U.E_BAD_REQUEST, None, "bad-nolines")
    bad("lines missing", {"op": "reserve", "id": "bad-nol"}, U.E_BAD_REQUEST, None, "bad-nol")
    bad("line of 2", rs("bad-arity", [["A", "east"]]), U.E_BAD_REQUEST, 0, "bad-arity")
    bad("unknown region", rs("bad-reg", [["A", "east", 1], ["A", "mars", 1]]),
        U.E_UNKNOWN_REGION, 1, "bad-reg")
    bad("unknown channel", rs("bad-ch", channel="telepathy"), U.E_UNKNOWN_CHANNEL, None, "bad-ch")
    bad("empty sku", rs("bad-sku", [["", "east", 1]]), U.E_BAD_SKU, 0, "bad-sku")
    bad("sku of 65 bytes", rs("bad-sku65", [["S" * 65, "east", 1]]), U.E_BAD_SKU, 0, "bad-sku65")
    bad("ttl_ms below min_ttl", rs("bad-ttl1", ttl_ms=1999), U.E_BAD_TTL, None, "bad-ttl1")
    bad("ttl_ms above max_ttl", rs("bad-ttl2", ttl_ms=3600001), U.E_BAD_TTL, None, "bad-ttl2")
    bad("ttl_ms 0", rs("bad-ttl3", ttl_ms=0), U.E_BAD_TTL, None, "bad-ttl3")
    bad("ttl_ms negative", rs("bad-ttl4", ttl_ms=-5), U.E_BAD_TTL, None, "bad-ttl4")
    bad("extend below min_ttl", {"op": "extend", "id": "idem-1", "ttl_ms": 1000}, U.E_BAD_TTL)
    bad("extend above max_ttl", {"op": "extend", "id": "idem-1", "ttl_ms": 3600001}, U.E_BAD_TTL)
    bad("extend without ttl_ms", {"op": "extend", "id": "idem-1"}, U.E_BAD_REQUEST)
    bad("commit with an empty order_ref", {"op": "commit", "id": "idem-2", "order_ref": ""},
        U.E_BAD_ID)
    bad("commit with a 129-byte order_ref", {"op": "commit", "id": "idem-2",
                                              "order_ref": "o" * 129}, U.E_BAD_ID)
    bad("release naming an unknown region", {"op": "release", "id": "idem-2",
                                              "lines": [["C", "mars"]]}, U.E_UNKNOWN_REGION, 0)
    ck.eq((c.get("idem-2") or {}).get("state"), "held", "idem-2 after bad commits/releases")
    # boundaries that are valid
    r = c.reserve("i" * 128, [["A", "east", 1]], ttl_ms=2000)
    ck.check(r.get("granted") is True, "reserve with a 128-byte id and ttl = min_ttl: %r", r)
    r = c.reserve("idem-max", [["A", "east", 10**15]], ttl_ms=3600000)
    ck.check(r.get("ok") is True and r.get("granted") is False,
             "reserve of 10^15 units (ttl = max_ttl): refused, not an error: %r", r)
    c.release("i" * 128)

    # ---------------- replay after restarts
    final = {rid: c.get(rid) for rid in ("idem-1", "idem-2", "idem-3", "idem-4")}
    replays = [("idem-1", lines1, "web"), ("idem-2", [["C", "west", 1]], None),
               ("idem-3", [["A", "west", 5]], "app"), ("idem-4", [["A", "east", 3],
                                                                 ["B", "east", 2]], None)]
    cnt_before = counters()
    for how in ("SIGTERM", "kill -9"):
        if how == "SIGTERM":
            d.stop()
        else:
            U.kill9(d)
        U.restart(d)
        c.close()
        feed.after_restart()
        seed()
        h.log("restarted after %s", how)
        for rid, want in final.items():
            got = c.get(rid)
            ck.eq(got, want, "%s after %s" % (rid, how))
        for rid, lines, ch in replays:
            r = c.reserve(rid, lines, channel=ch)
            ck.check(r.get("ok") is True and r.get("granted") is True and
                     r.get("replayed") is True and r.get("reservation") == final[rid],
                     "reserve replay of %s after %s: %r, want the stored %r", rid, how, r,
                     final[rid])
        expect_err("conflict on idem-1 after %s" % how,
                   c.reserve("idem-1", [["A", "east", 1]], channel="web"), U.E_CONFLICT)
        expect_ok("commit idem-1 again after %s" % how, c.commit("idem-1", "SO-1"),
                  "committed", True)
        expect_err("commit idem-1 with another ref after %s" % how,
                   c.commit("idem-1", "SO-X"), U.E_CONFLICT)
        expect_ok("release idem-3 again after %s" % how, c.release("idem-3"), "released", True)
        if consumed:
            expect_err("release consumed idem-4 after %s" % how, c.release("idem-4"),
                       U.E_BAD_STATE)
        cnt = counters()
        for k in ("open", "held", "committed", "remembered"):
            ck.eq(cnt[k], cnt_before[k], "status reservations.%s after %s" % (k, how))
        want_r = {k: 0 for k in KEYS}
        for res in final.values():
            for k, q in U.open_lines(res).items():
                want_r[k] += q
        if consumed:
            ck.eq(want_r, {("A", "east"): 2, ("B", "east"): 1, ("A", "west"): 0,
                           ("C", "west"): 1}, "open lines of the stored reservations")
        for k in KEYS:
            a = c.atp(k[0], k[1])
            ck.eq(a["reserved"], want_r[k], "%s/%s reserved after %s" % (k[0], k[1], how))
    c.close()
    feed.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "resv_idempotency")
