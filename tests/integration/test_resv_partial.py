#!/usr/bin/python3
"""test_resv_partial.py - partial reservations (docs/PROTOCOL.md, "Partial
reservations"; issue 19): races on the last units from several clients at
once, over nng and HTTP, never grant more than there is; a line is cut
only when its SKU has nothing left; the answer says what was asked and
what was granted; a replay (in any order, after kill -9 too) answers the
same; an all-or-nothing request with the same id is a conflict.

Seeded (ATP_TEST_SEED); loopback only; every wait bounded.
"""

import os
import random
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util  # noqa: E402
import resv_util as U  # noqa: E402

SKUS = ["P%02d" % i for i in range(16)]
WORKERS = 4  # three over nng, one over HTTP


def merged(lines):
    """{(sku, region): summed qty} in the order of first appearance."""
    out = {}
    for s, r, q in lines:
        out[(s, r)] = out.get((s, r), 0) + q
    return out


def check_answer(c, rid, lines, rep, where):
    """One reply against its request: the fill, the reservation's lines."""
    if rep.get("ok") is not True:
        c.check(False, "%s: %s: reply %r", where, rid, rep)
        return {}
    want = merged(lines)
    if rep.get("granted") is not True:
        # refused only when nothing at all was there
        got = {(l["sku"], l["region"]): l["available"] for l in rep.get("lines", [])}
        c.check(all(v <= 0 for v in got.values()),
                "%s: %s refused although some line had stock: %r", where, rid, rep)
        return {}
    fill = rep.get("fill")
    c.check(isinstance(fill, list) and len(fill) == len(want),
            "%s: %s: fill has one entry per (sku, region) asked: %r", where, rid, fill)
    granted = {}
    for f in fill or []:
        k = (f["sku"], f["region"])
        c.eq(f["qty"], want.get(k), "%s: %s fill qty of %r is what was asked" % (where, rid, k))
        c.check(0 <= f["granted"] <= f["qty"], "%s: %s: granted within 0..qty: %r",
                where, rid, f)
        granted[k] = f["granted"]
    c.check(list(granted) == list(want), "%s: %s: fill in request order: %r", where, rid,
            list(granted))
    held = {(l["sku"], l["region"]): l["qty"] for l in rep["reservation"]["lines"]}
    c.eq(held, {k: g for k, g in granted.items() if g > 0},
         "%s: %s: the reservation holds exactly what fill says was granted" % (where, rid))
    c.check(sum(granted.values()) > 0, "%s: %s granted nothing", where, rid)
    return granted


def worker(d, k, seed, n, results, errors):
    rng = random.Random(seed * 1000 + k)
    http = http_util.Http(d) if k == WORKERS - 1 else None
    cl = None if http else harness.Client(d.query_port, d=d)
    try:
        for j in range(n):
            lines = [[rng.choice(SKUS), "east", rng.randint(1, 4)]
                     for _ in range(rng.randint(1, 4))]
            rid = "w%d-%d" % (k, j)
            body = {"op": "reserve", "id": rid, "channel": "web", "partial": True,
                    "lines": lines}
            if http:
                st, _, rep = http.call("POST", "/v1/reservations",
                                       {k2: v for k2, v in body.items() if k2 != "op"})
                if st not in (200, 201):
                    errors.append("HTTP %d for %s: %r" % (st, rid, rep))
            else:
                rep = cl.req(body)
            results.append((rid, lines, rep, "http" if http else "nng"))
    except Exception as e:  # reported by the main thread
        errors.append("worker %d: %r" % (k, e))
    finally:
        if http:
            http.close()
        if cl:
            cl.close()


def check_totals(c, q, stock, granted_by, cut, where):
    for s in SKUS:
        total = sum(g.get((s, "east"), 0) for g in granted_by.values())
        a = q.atp(s, "east", "web")
        c.check(total <= stock[s], "%s: %s: granted %d of a stock of %d (oversold)",
                where, s, total, stock[s])
        c.eq(a.get("reserved"), total, "%s: atpd's reserved of %s is the sum granted" % (where, s))
        if where == "after the race":
            c.eq(a.get("atp"), stock[s] - total,
                 "%s: ATP of %s is stock minus granted" % (where, s))
            # Stock only went down: a line cut short found its SKU empty,
            # and nothing came back since.
            if s in cut:
                c.eq(a.get("atp"), 0, "%s: %s had a line cut short, so ATP is 0" % (where, s))


def main(h):
    c = harness.Checks(h)
    seed = int(os.environ.get("ATP_TEST_SEED", "19"))
    rng = random.Random(seed)
    d = h.start_atpd(http_util.http_config(h))
    q = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, q)
    stock = {s: rng.randint(0, 9) for s in SKUS}
    _, payload = pub.next_batch("wms", [[2, s, "E1", 0, n] for s, n in stock.items()])
    pub.send_payload(payload)
    pub.wait_applied("wms")

    h.log("race: %d clients (one over HTTP) reserve partially on %d SKUs",
          WORKERS, len(SKUS))
    n = U.scaled(40, 10)
    results, errors = [], []
    threads = [threading.Thread(target=worker, args=(d, k, seed, n, results, errors))
               for k in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120 * harness.TIME_FACTOR)
    c.check(not any(t.is_alive() for t in threads), "workers finished")
    c.check(not errors, "worker errors: %r", errors[:5])
    c.eq(len(results), WORKERS * n, "every request answered")
    granted_by, cut = {}, set()
    for rid, lines, rep, where in results:
        g = check_answer(c, rid, lines, rep, where)
        if g:
            granted_by[rid] = g
            want = merged(lines)
            cut |= {k[0] for k, v in g.items() if v < want[k]}
    c.check(any(len(g) for g in granted_by.values()), "something was granted")
    c.check(cut, "the race cut some line short (the test means something)")
    check_totals(c, q, stock, granted_by, cut, "after the race")

    h.log("replays: in another order, by nng and HTTP; all-or-nothing: conflict")
    by_id = {rid: (lines, rep) for rid, lines, rep, _ in results}
    sample = sorted(granted_by)[:8]

    def replays(where):
        http = http_util.Http(d)
        try:
            for i, rid in enumerate(sample):
                lines, first = by_id[rid]
                again = list(reversed(lines))
                body = {"id": rid, "channel": "web", "partial": True, "lines": again}
                if i % 2:
                    _, _, rep = http.call("POST", "/v1/reservations", body)
                else:
                    rep = q.req(dict(body, op="reserve"))
                c.check(rep.get("granted") is True and rep.get("replayed") is True,
                        "%s: %s again: a replay %r", where, rid, rep)
                c.eq({(f["sku"], f["region"]): f["granted"] for f in rep.get("fill", [])},
                     granted_by[rid], "%s: %s replay says what was granted" % (where, rid))
                c.eq(rep["reservation"]["lines"], first["reservation"]["lines"],
                     "%s: %s replay holds the same lines" % (where, rid))
                whole = q.req({"op": "reserve", "id": rid, "channel": "web", "lines": lines})
                c.eq(harness.error_name(whole), "conflict",
                     "%s: %s all-or-nothing with the same id" % (where, rid))
        finally:
            http.close()
    replays("before the restart")

    h.log("kill -9 with partial reservations open, restart")
    U.kill9(d)
    q.close()
    U.restart(d)
    q = harness.Client(d.query_port, d=d)
    replays("after kill -9")
    check_totals(c, q, stock, granted_by, cut, "after kill -9")
    for rid in sample:
        r = q.get(rid)
        c.eq({(l["sku"], l["region"]): l["qty"] for l in r["lines"]},
             {k: v for k, v in granted_by[rid].items() if v > 0},
             "after kill -9: %s holds what was granted" % rid)

    h.log("bad requests: partial not a boolean")
    rep = q.req({"op": "reserve", "id": "bad-1", "partial": "yes",
                 "lines": [["P00", "east", 1]]})
    c.eq(harness.error_name(rep), "bad_request", "partial: \"yes\" is bad_request")
    c.eq(q.get("bad-1"), None, "nothing stored for the bad request")
    q.close()
    c.done()


if __name__ == "__main__":
    harness.run(main, "resv_partial")
