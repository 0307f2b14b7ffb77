#!/usr/bin/python3
"""test_resv_partial.py - partial reservations and split lines
(docs/PROTOCOL.md, "Partial reservations", "Split lines"; issue 19): races
on the last units from several clients at once, over nng and HTTP, never
grant more than there is in any region; a line is cut only when every
region it names has nothing left; a split line takes from its regions in
order; an all-or-nothing split line is whole or refused; the answer says
what was asked and what was granted; a replay (in any order, after kill
-9 too) answers the same; another request with the same id is a
conflict.

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


def key(line):
    """A request line's key: (sku, region) or, for a split line, (sku,
    (region, ...))."""
    s, r, _ = line
    return (s, tuple(r)) if isinstance(r, list) else (s, r)


def regions_of(k):
    return list(k[1]) if isinstance(k[1], tuple) else [k[1]]


def merged(lines):
    """{key: summed qty} in the order of first appearance."""
    out = {}
    for line in lines:
        out[key(line)] = out.get(key(line), 0) + line[2]
    return out


def check_answer(c, rid, lines, partial, rep, where):
    """One reply against its request: the fill, the reservation's lines.
    Returns ({(sku, region): held}, {key: granted}) or ({}, {}) when
    refused."""
    if rep.get("ok") is not True:
        c.check(False, "%s: %s: reply %r", where, rid, rep)
        return {}, {}
    want = merged(lines)
    if rep.get("granted") is not True:
        got = {l["sku"]: l["available"] for l in rep.get("lines", [])}
        if partial:  # refused only when nothing at all was there
            c.check(all(v <= 0 for v in got.values()),
                    "%s: %s refused although some line had stock: %r", where, rid, rep)
        else:        # all or nothing: some line lacked units
            c.check(any(l["available"] < l["qty"] for l in rep.get("lines", [])),
                    "%s: %s refused although every line was there: %r", where, rid, rep)
        return {}, {}
    held = {(l["sku"], l["region"]): l["qty"] for l in rep["reservation"]["lines"]}
    fill = rep.get("fill")
    if not partial and not any(isinstance(k[1], tuple) for k in want):
        # an ordinary reserve: no fill, the lines are what was asked
        c.check(fill is None, "%s: %s: an ordinary reserve has no fill", where, rid)
        c.eq(held, want, "%s: %s holds what was asked" % (where, rid))
        return held, dict(want)
    c.check(isinstance(fill, list) and len(fill) == len(want),
            "%s: %s: fill has one entry per line asked: %r", where, rid, fill)
    granted = {}
    for f in fill or []:
        k = (f["sku"], tuple(f["regions"])) if "regions" in f else (f["sku"], f["region"])
        c.eq(f["qty"], want.get(k), "%s: %s fill qty of %r is what was asked" % (where, rid, k))
        c.check(0 <= f["granted"] <= f["qty"], "%s: %s: granted within 0..qty: %r",
                where, rid, f)
        if not partial:
            c.eq(f["granted"], f["qty"], "%s: %s all or nothing: whole" % (where, rid))
        if "by_region" in f:
            by = [(b["region"], b["qty"]) for b in f["by_region"]]
            c.eq([r for r, _ in by], list(k[1]), "%s: %s by_region in order" % (where, rid))
            c.eq(sum(q for _, q in by), f["granted"], "%s: %s by_region sums" % (where, rid))
            for r, q in by:
                c.eq(held.get((f["sku"], r), 0), q,
                     "%s: %s holds by_region's %s" % (where, rid, r))
            # in order: a later region gives only when the earlier ones
            # gave all they had, which a cut line shows as 0 left there
        else:
            c.eq(held.get(k, 0), f["granted"], "%s: %s holds what fill says" % (where, rid))
        granted[k] = f["granted"]
    c.check(list(granted) == list(want), "%s: %s: fill in request order: %r", where, rid,
            list(granted))
    c.eq(sum(held.values()), sum(granted.values()),
         "%s: %s: the reservation holds nothing fill does not say" % (where, rid))
    return held, granted


def random_request(rng):
    """(lines, partial): 1-4 lines, a SKU at most once when it is split."""
    lines, split_skus = [], set()
    for _ in range(rng.randint(1, 4)):
        sku = rng.choice(SKUS)
        if sku in split_skus:
            continue
        if rng.random() < 0.35 and all(l[0] != sku for l in lines):
            split_skus.add(sku)
            lines.append([sku, rng.choice([["east", "west"], ["west", "east"]]),
                          rng.randint(1, 6)])
        else:
            lines.append([sku, rng.choice(["east", "west"]), rng.randint(1, 4)])
    return lines, rng.random() < 0.75


def worker(d, k, seed, n, results, errors):
    rng = random.Random(seed * 1000 + k)
    http = http_util.Http(d) if k == WORKERS - 1 else None
    cl = None if http else harness.Client(d.query_port, d=d)
    try:
        for j in range(n):
            lines, partial = random_request(rng)
            rid = "w%d-%d" % (k, j)
            body = {"op": "reserve", "id": rid, "channel": "web", "lines": lines}
            if partial:
                body["partial"] = True
            if http:
                st, _, rep = http.call("POST", "/v1/reservations",
                                       {k2: v for k2, v in body.items() if k2 != "op"})
                if st not in (200, 201):
                    errors.append("HTTP %d for %s: %r" % (st, rid, rep))
            else:
                rep = cl.req(body)
            results.append((rid, lines, partial, rep, "http" if http else "nng"))
    except Exception as e:  # reported by the main thread
        errors.append("worker %d: %r" % (k, e))
    finally:
        if http:
            http.close()
        if cl:
            cl.close()


def check_totals(c, q, stock, held_by, cut, where):
    for s in SKUS:
        for r in ("east", "west"):
            total = sum(h.get((s, r), 0) for h in held_by.values())
            a = q.atp(s, r, "web")
            c.check(total <= stock[(s, r)], "%s: %s@%s: held %d of a stock of %d (oversold)",
                    where, s, r, total, stock[(s, r)])
            c.eq(a.get("reserved"), total,
                 "%s: atpd's reserved of %s@%s is the sum held" % (where, s, r))
            if where == "after the race":
                c.eq(a.get("atp"), stock[(s, r)] - total,
                     "%s: ATP of %s@%s is stock minus held" % (where, s, r))
                # Stock only went down: a line cut short found every region
                # it names empty, and nothing came back since.
                if (s, r) in cut:
                    c.eq(a.get("atp"), 0,
                         "%s: %s@%s had a line cut short, so ATP is 0" % (where, s, r))


def main(h):
    c = harness.Checks(h)
    seed = int(os.environ.get("ATP_TEST_SEED", "19"))
    rng = random.Random(seed)
    d = h.start_atpd(http_util.http_config(h))
    q = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, q)
    stock = {(s, r): rng.randint(0, 9) for s in SKUS for r in ("east", "west")}
    loc = {"east": "E1", "west": "W1"}
    _, payload = pub.next_batch("wms", [[2, s, loc[r], 0, n] for (s, r), n in stock.items()] +
                                [[2, "PX", "E1", 0, 3], [2, "PX", "W1", 0, 3]])
    pub.send_payload(payload)
    pub.wait_applied("wms")

    h.log("race: %d clients (one over HTTP) reserve, partial or not, split or not, "
          "on %d SKUs", WORKERS, len(SKUS))
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
    held_by, granted_by, cut = {}, {}, set()
    n_split = 0
    for rid, lines, partial, rep, where in results:
        held, granted = check_answer(c, rid, lines, partial, rep, where)
        if held:
            held_by[rid], granted_by[rid] = held, granted
            want = merged(lines)
            for k, g in granted.items():
                n_split += isinstance(k[1], tuple)
                if g < want[k]:
                    cut |= {(k[0], r) for r in regions_of(k)}
    c.check(n_split > 0, "some split line was granted (the test means something)")
    c.check(cut, "the race cut some line short (the test means something)")
    check_totals(c, q, stock, held_by, cut, "after the race")

    h.log("replays: in another order, by nng and HTTP; another request: conflict")
    by_id = {rid: (lines, partial, rep) for rid, lines, partial, rep, _ in results}
    sample = sorted(held_by)[:10]

    def replays(where):
        http = http_util.Http(d)
        try:
            for i, rid in enumerate(sample):
                lines, partial, first = by_id[rid]
                body = {"id": rid, "channel": "web", "lines": list(reversed(lines))}
                if partial:
                    body["partial"] = True
                if i % 2:
                    _, _, rep = http.call("POST", "/v1/reservations", body)
                else:
                    rep = q.req(dict(body, op="reserve"))
                c.check(rep.get("granted") is True and rep.get("replayed") is True,
                        "%s: %s again: a replay %r", where, rid, rep)
                fill = {((f["sku"], tuple(f["regions"])) if "regions" in f
                         else (f["sku"], f["region"])): f["granted"]
                        for f in rep.get("fill", [])} if "fill" in rep else \
                    {k2: v for k2, v in merged(lines).items()}
                c.eq(fill, granted_by[rid], "%s: %s replay says what was granted" % (where, rid))
                c.eq(rep["reservation"]["lines"], first["reservation"]["lines"],
                     "%s: %s replay holds the same lines" % (where, rid))
                other = dict(body, op="reserve")
                if partial:
                    del other["partial"]
                else:
                    other["partial"] = True
                c.eq(harness.error_name(q.req(other)), "conflict",
                     "%s: %s with partial flipped: conflict" % (where, rid))
        finally:
            http.close()
    replays("before the restart")

    # One SKU in both regions, asked west first: its replay after the
    # restart below (regions in the other order) must still be a replay.
    two = {"op": "reserve", "id": "two-regions", "partial": True,
           "lines": [["PX", "west", 2], ["PX", "east", 5]]}
    first_two = q.req(two)
    c.eq([(f["region"], f["granted"]) for f in first_two.get("fill", [])],
         [("west", 2), ("east", 3)], "PX: west 2 of 2, east 3 of 5")
    h.log("kill -9 with these reservations open, restart with the regions "
          "listed in the other order")
    U.kill9(d)
    q.close()
    d.cfg["regions"].reverse()  # a replay is told by region ids, not places
    U.restart(d)
    q = harness.Client(d.query_port, d=d)
    replays("after kill -9")
    again = q.req(dict(two, lines=list(reversed(two["lines"]))))
    c.check(again.get("replayed") is True,
            "after kill -9 with the regions reordered: the PX request is a replay: %r", again)
    check_totals(c, q, stock, held_by, cut, "after kill -9")
    for rid in sample:
        r = q.get(rid)
        c.eq({(l["sku"], l["region"]): l["qty"] for l in r["lines"]}, held_by[rid],
             "after kill -9: %s holds what was granted" % rid)

    h.log("bad split lines: a region twice, a SKU in two lines, pinned, 9 regions")
    for body, what in [
            ({"lines": [["P00", ["east", "east"], 1]]}, "a region twice"),
            ({"lines": [["P00", ["east", "west"], 1], ["P00", "east", 1]]}, "two lines"),
            ({"lines": [["P00", ["east", "west"], 1, "E1"]]}, "pinned"),
            ({"lines": [["P00", ["east", "west"] * 5, 1]]}, "too many regions"),
            ({"lines": [["P00", [], 1]]}, "no region")]:
        rep = q.req(dict(body, op="reserve", id="bad-split"))
        c.eq(harness.error_name(rep), "bad_request", "split line, %s: bad_request" % what)
    for lines in ([[]], [["P00"]], [["P00"], ["P01", "east", 1]]):  # short lines
        rep = q.req({"op": "reserve", "id": "bad-split", "lines": lines})
        c.eq(harness.error_name(rep), "bad_request", "reserve lines %r: bad_request" % lines)
    d.check_alive()
    # Stored lines count each split line's regions: 501 split lines over
    # two regions are 1,002 stored lines, past max_lines (1,000).
    many = [["Z%04d" % i, ["east", "west"], 1] for i in range(501)]
    rep = q.req({"op": "reserve", "id": "bad-split", "lines": many})
    c.eq(harness.error_name(rep), "too_many_lines", "501 split lines of 2 regions")
    rep = q.req({"op": "reserve", "id": "bad-split", "lines": [["P00", ["east", "mars"], 1]]})
    c.eq(harness.error_name(rep), "unknown_region", "split line naming an unknown region")
    c.eq(q.get("bad-split"), None, "nothing stored for the bad split lines")

    h.log("bad requests: partial not a boolean")
    rep = q.req({"op": "reserve", "id": "bad-1", "partial": "yes",
                 "lines": [["P00", "east", 1]]})
    c.eq(harness.error_name(rep), "bad_request", "partial: \"yes\" is bad_request")
    c.eq(q.get("bad-1"), None, "nothing stored for the bad request")
    q.close()
    c.done()


if __name__ == "__main__":
    harness.run(main, "resv_partial")
