#!/usr/bin/python3
"""test_http_conformance.py - the HTTP and nng interfaces give the same
answers (issue 13): two fresh atpd instances with the same configuration,
fed the same source messages (same seq, same ts_ms), run the same sequence
of operations - queries, carts, reserve, idempotent retry, conflict,
refusal, commit, extend, partial release, release, get, consumption by an
allocation, errors of every kind a client can cause, scan pages, sources,
snapshot - one over nng REQ/msgpack, the other over HTTP/JSON, and every
answer is compared field by field. Only these fields are not compared:

- times: `created_ms`, `updated_ms`, `expires_ms` (reservation), `ms`
  (snapshot), `lag_ms`, `age_ms`, `last_heartbeat_ms` (sources: measured
  on each instance's own clock);
- `seq`, `region_seq` of a scan page, and `seq`, `region_seq`, `key_seq`
  of a change-feed message: they start from each instance's start time
  (docs/PROTOCOL.md, "Sequences across restarts"); the test checks they
  are integers;
- the `message` of `too_large` for a body nested too deeply: the
  decoder's own words (msgpack's or JSON's); code, name and the depth
  limit (8 readable, 9 not) are compared;
- the change feed: the last message of every SKU of r1 the operations
  change (FEED_SKUS), nng SUB on
  one side, Server-Sent Events on the other, without `ts_ms` (a time) and
  `transitions` (which intermediate states a message shows depends on
  when each instance's interval fell: coalescing).

HTTP statuses are checked against docs/openapi.yaml's table on the way.

Label: integration, http. Bounded: about 10 s.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util  # noqa: E402
import harness  # noqa: E402
import openapi_util  # noqa: E402
import msgpack  # noqa: E402
from openapi_util import seg, query  # noqa: E402

TIME_FIELDS = {"created_ms", "updated_ms", "expires_ms", "ms", "lag_ms", "age_ms",
               "last_heartbeat_ms"}
SCAN_SEQ_FIELDS = {"seq", "region_seq"}
FEED_IGNORED = {"seq", "region_seq", "key_seq", "ts_ms", "transitions"}
# The SKUs of r1 the operations change. Not "é 1/x" (stocked in r2 only):
# r1 turning fresh republishes every SKU it has, and whether that happens
# before or after the first message created "é 1/x" is a race of each
# instance's ingest tick, not a property of the interface.
FEED_SKUS = ("A", "B", "C")
QUIET_S = 0.5  # ten feed intervals without a message: the feeds are done
TS = 1795349398095  # the source timestamp of every message, on both instances


def strip(value, ignore):
    """value without the ignored keys, at every depth."""
    if isinstance(value, dict):
        return {k: strip(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [strip(v, ignore) for v in value]
    return value


def diff(a, b, path="$"):
    """Where a and b differ, as a list of "path: a != b"."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append("%s.%s: %s" % (path, k, "only over HTTP" if k not in a
                                         else "only over nng"))
            else:
                out += diff(a[k], b[k], "%s.%s" % (path, k))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return ["%s: %d items over nng, %d over HTTP" % (path, len(a), len(b))]
        return sum((diff(x, y, "%s[%d]" % (path, i)) for i, (x, y) in enumerate(zip(a, b))), [])
    # True == 1 in Python: compare types too
    if a != b or type(a) is not type(b):
        return ["%s: nng %r != HTTP %r" % (path, a, b)]
    return []


def as_objects(lines, with_qty=True):
    """The HTTP body's lines as objects (the array form is tested too)."""
    keys = ("sku", "region", "qty") if with_qty else ("sku", "region")
    return [dict(zip(keys, l)) for l in lines]


class Pair:
    """The same operation against both instances: nng on a, HTTP on b."""

    def __init__(self, h, api, nng, web, ck):
        self.h, self.api, self.nng, self.web, self.ck = h, api, nng, web, ck
        self.n = 0

    def http_request(self, op, p):
        """(method, path, body) of op over HTTP (docs/openapi.yaml)."""
        body = None
        if op == "atp":
            path = "/v1/availability/%s/%s%s" % (seg(p["sku"]), seg(p["region"]),
                                                 query({"channel": p.get("channel")}))
            return "GET", path, None
        if op == "regions":
            return "GET", "/v1/availability/%s%s" % (
                seg(p["sku"]), query({"channel": p.get("channel")})), None
        if op == "cart":
            body = {k: v for k, v in p.items() if k != "lines"}
            # even lines as objects, odd ones in the array form
            body["lines"] = [dict(zip(("sku", "region", "qty"), l)) if i % 2 == 0 and
                             isinstance(l, list) and len(l) == 3 else l
                             for i, l in enumerate(p["lines"])]
            return "POST", "/v1/availability/cart", body
        if op == "scan":
            return "GET", "/v1/regions/%s/availability%s" % (
                seg(p["region"]), query({"cursor": p.get("cursor"), "limit": p.get("limit")})), None
        if op in ("sources", "status"):
            return "GET", "/v1/" + op, None
        if op == "snapshot":
            return "POST", "/v1/snapshots", None
        if op == "reserve":
            body = dict(p)
            if isinstance(body.get("lines"), list):
                body["lines"] = as_objects(body["lines"])
            return "POST", "/v1/reservations", body
        rid = "/v1/reservations/" + seg(p["id"])
        rest = {k: v for k, v in p.items() if k != "id"}
        if op == "reservation":
            return "GET", rid, None
        if op == "release" and not rest:
            return "DELETE", rid, None
        if op == "release" and isinstance(rest.get("lines"), list):
            rest["lines"] = as_objects(rest["lines"], with_qty=False)
        return "POST", "%s/%s" % (rid, op), rest

    def op(self, op, want_ok=None, ignore=frozenset(), **p):
        """Run op on both; compare; returns the nng reply."""
        self.n += 1
        a = self.nng.req(dict(p, op=op))
        method, path, body = self.http_request(op, p)
        r = self.web.request(method, path, body=body)
        b = r.json
        what = "#%d %s %r (HTTP %s %s)" % (self.n, op, p, method, path[:80])
        if not isinstance(b, dict):
            self.ck.check(False, "%s: HTTP reply is not a JSON object: %r" % (what, r))
            return a
        if b.get("ok") is False:
            code = b.get("error", {}).get("code")
            want = {c: s for _, (c, s) in self.api.error_schemas().items()}.get(code)
            self.ck.eq(r.status, want, "%s: HTTP status of error %s" % (what, code))
        else:
            self.ck.check(r.status in (200, 201), "%s: HTTP status %d of a success"
                          % (what, r.status))
        if want_ok is not None:
            self.ck.eq(a.get("ok"), want_ok, "%s: ok over nng (%r)" % (what, a))
        ign = TIME_FIELDS | set(ignore)
        for d in diff(strip(a, ign), strip(b, ign)):
            self.ck.check(False, "%s: %s" % (what, d))
        return a


def state(item):
    """What a scan item and a feed message share: supply, reserved, stale
    and every channel's atp."""
    return feed_util.item_state(item) + (item.get("stale"),)


def final_states(client, region):
    """{sku: state} of the FEED_SKUS of a region now."""
    items = feed_util.scan_all(client, region)[2]
    return {sku: state(i) for sku, i in items.items() if sku in FEED_SKUS}


def compare_feeds(ck, sub, sse, ca, cb):
    """The last change-feed message of every FEED_SKU of r1 over nng (sub,
    from ca's instance) and over SSE (from cb's), once each shows the final
    state and the feeds are quiet (QUIET_S without a message: the final
    state may equal an earlier one), compared field by field."""
    last_nng, last_sse = {}, {}
    want_a, want_b = final_states(ca, "r1"), final_states(cb, "r1")

    def settled(last, want):
        return {k: state(v) for k, v in last.items()} == want

    t_last = time.monotonic()
    deadline = t_last + 10 * harness.TIME_FACTOR
    while time.monotonic() < deadline:
        for region, sku, body, _ in sub.take():
            t_last = time.monotonic()
            if sku in FEED_SKUS:
                last_nng[sku] = body
        try:
            ev = sse.next_event(timeout_s=0.05)
        except TimeoutError:
            if (settled(last_nng, want_a) and settled(last_sse, want_b)
                    and time.monotonic() - t_last > QUIET_S * harness.TIME_FACTOR):
                break
            continue
        t_last = time.monotonic()
        ck.eq(ev.get("event"), "change", "an SSE event of r1: %r" % ev)
        body = json.loads(ev["data"])
        ck.eq(ev.get("id"), str(body.get("seq")), "the SSE event's id is its seq")
        if body.get("sku") in FEED_SKUS:
            last_sse[body.get("sku")] = body
    ck.check(settled(last_nng, want_a), "the nng feed ends at r1's state: %r vs %r"
             % ({k: state(v) for k, v in last_nng.items()}, want_a))
    ck.check(settled(last_sse, want_b), "the SSE feed ends at r1's state: %r vs %r"
             % ({k: state(v) for k, v in last_sse.items()}, want_b))
    for body in list(last_nng.values()) + list(last_sse.values()):
        for k in ("seq", "region_seq", "key_seq"):
            ck.check(isinstance(body.get(k), int), "feed message %s: an integer" % k)
    for d in diff(strip(last_nng, FEED_IGNORED), strip(last_sse, FEED_IGNORED), "$feed"):
        ck.check(False, "change feed of r1: %s" % d)
    sub.close()
    sse.close()


def main(h):
    api = openapi_util.OpenApi(h.source_dir)
    ck = harness.Checks(h)

    def config():
        return harness.build_config(
            h, ["r1", "r2"], [("L1", "r1"), ("L2", "r2")],
            [harness.source_entry("wms", [(["L1", "L2"], ["on_hand", "allocated"])])],
            channels=("web", "app"),
            buffers=[{"sku": "A", "channel": "web", "units": 2},
                     {"region": "r2", "percent": 10}],
            reservations={"max_lines": 3, "min_ttl": "1s", "max_ttl": "1d"},
            max_cart_lines=4, snapshot_interval="1h")

    a = h.start_atpd(config(), name="nng")
    b, url = openapi_util.start_atpd(h, config(), name="http")
    ca, cb = harness.Client(a.query_port, d=a), harness.Client(b.query_port, d=b)
    pubs = [harness.PubClient(d.ingest_port) for d in (a, b)]
    seq = [0]

    def feed(events):
        """One source message, byte for byte the same to both instances."""
        seq[0] += 1
        payload = msgpack.packb([1, "wms", seq[0], TS, events])
        for p in pubs:
            p.send_msg(payload)
        for c in (ca, cb):
            harness.wait_until(lambda: c.sources()["wms"]["last_seq"] >= seq[0], 10,
                               what="seq %d applied" % seq[0])
            # a region turns fresh within a tick of its source's message
            for region in ("r1", "r2"):
                harness.wait_until(lambda: not c.atp("A", region)["stale"], 10,
                                   what="region %s fresh" % region)

    # the change feed of r1, over nng and over HTTP, from before the stock
    sub = feed_util.Sub(a, prefixes=(feed_util.prefix("r1"),))
    sse = openapi_util.SseReader(url, "/v1/changes" + query({"region": "r1"}))
    ck.eq(sse.head(), 200, "GET /v1/changes?region=r1")
    harness.wait_until(lambda: cb.status()["http"]["event_streams"] >= 1, 10,
                       what="atpd counts the event stream")
    feed([[2, "A", "L1", 0, 10], [2, "B", "L1", 0, 4], [2, "C", "L1", 0, 1],
          [2, "A", "L2", 0, 50], [2, "é 1/x", "L2", 0, 7]])
    pair = Pair(h, api, ca, openapi_util.Http(url), ck)
    op = pair.op

    # ---- queries
    for ch in (None, "web", "app"):
        p = {"sku": "A", "region": "r1"}
        if ch:
            p["channel"] = ch
        op("atp", True, **p)
        op("atp", True, sku="A", region="r2", **({"channel": ch} if ch else {}))
    op("atp", True, sku="é 1/x", region="r2")
    op("atp", True, sku="never-seen", region="r1")
    op("regions", True, sku="A")
    op("regions", True, sku="A", channel="web")
    op("cart", True, lines=[["A", "r1", 3], ["B", "r1", 5], ["A", "r1", 4], ["A", "r2", 1]])
    op("cart", True, channel="web", lines=[["C", "r1", 1]])

    # ---- reservations
    lines = [["A", "r1", 3], ["B", "r1", 1], ["A", "r1", 1]]
    op("reserve", True, id="R1", channel="web", ttl_ms=600000, lines=lines)
    op("reserve", True, id="R1", channel="web", ttl_ms=900000,
       lines=[["B", "r1", 1], ["A", "r1", 4]])                     # same content: replayed
    op("reserve", False, id="R1", channel="web", lines=[["A", "r1", 1]])   # conflict
    op("reserve", True, id="R2", lines=[["B", "r1", 4]])          # refused: 3 left
    op("reservation", False, id="R2")                              # nothing stored
    op("atp", True, sku="A", region="r1", channel="web")
    op("commit", True, id="R1", order_ref="SO-1")
    op("commit", True, id="R1", order_ref="SO-1")                  # replayed
    op("commit", True, id="R1")                                    # replayed, no order_ref
    op("commit", False, id="R1", order_ref="SO-2")                 # conflict
    op("extend", True, id="R1", ttl_ms=300000)
    op("release", True, id="R1", lines=[["B", "r1"], ["Z", "r1"]])  # partial; Z ignored
    op("reservation", True, id="R1")
    op("atp", True, sku="B", region="r1")
    op("release", True, id="R1")                                   # the rest (DELETE)
    op("release", True, id="R1")                                   # replayed
    op("reserve", True, id="R3", lines=[["C", "r1", 1]], ttl_ms=60000)
    op("release", True, id="R3", lines=[["C", "r1"]])              # the only line: released
    op("reserve", True, id="R4", lines=[["A", "r2", 5]])
    op("commit", True, id="R4", order_ref="SO-4")
    feed([[1, "A", "L2", 1, 5, "SO-4"]])                           # the WMS allocates it
    for c in (ca, cb):
        harness.wait_until(lambda: c.get("R4")["state"] == "consumed", 10, what="R4 consumed")
    op("reservation", True, id="R4")
    op("atp", True, sku="A", region="r2")

    # ---- errors of every kind a client can cause
    op("atp", False, sku="x" * 65, region="r1")                    # bad_sku
    op("atp", False, sku="A\tB", region="r1")                      # bad_sku, not printable
    op("atp", False, sku="A", region="mars")                       # unknown_region
    op("atp", False, sku="A", region="r1", channel="tv")           # unknown_channel
    op("regions", False, sku="A", channel="tv")
    op("cart", False, lines=[])                                    # bad_request
    op("cart", False, lines=[["A", "r1", "2"]])                    # bad_request, line 0
    op("cart", False, lines=[["A", "r1"]])                         # bad_request, shape
    op("cart", False, lines=[["A", "r1", 1], ["A", "mars", 1]])    # unknown_region, line 1
    op("cart", False, lines=[["A", "r1", 0]])                      # bad_qty
    op("cart", False, lines=[["A", "r1", 10**15], ["A", "r1", 1]])  # bad_qty, line 1
    op("cart", False, lines=[["A", "r1", 1]] * 5)                  # too_many_lines
    op("cart", False, channel="tv", lines=[["A", "r1", 1]])        # unknown_channel
    deep = []
    for _ in range(7):
        deep = [deep]
    op("cart", False, lines=deep, ignore={"message"})  # map + 8 arrays = depth 9: too_large
    op("cart", False, lines=deep[0])         # depth 8: readable, bad_request
    op("reserve", False, id="E", lines=[["A", "r1", 1]], ttl_ms=10)        # bad_ttl
    op("reserve", False, id="E", lines=[["A", "r1", 1]], ttl_ms="10")      # bad_request
    op("reserve", False, id="i" * 129, lines=[["A", "r1", 1]])             # bad_id
    op("reserve", False, id="E", lines=[["A", "r1", 1]] * 4)               # too_many_lines
    op("reserve", False, id="E", lines=[["", "r1", 1]])                    # bad_sku
    op("reserve", False, id="E", lines=[["A", "r1", 10**15 + 1]])          # bad_qty
    op("reserve", False, id="E", lines=[])                                 # bad_request
    op("reservation", False, id="nope")                            # not_found
    op("reservation", False, id="i" * 129)                         # bad_id
    op("commit", False, id="R1")                                   # bad_state (released)
    op("commit", False, id="R3", order_ref="")                     # bad_id
    op("commit", False, id="nope")                                 # not_found
    op("extend", False, id="R1", ttl_ms=60000)                     # bad_state
    op("extend", False, id="R4", ttl_ms=10**12)                    # bad_ttl
    op("extend", False, id="R4")                                   # bad_request
    op("release", False, id="R4")                                  # bad_state (consumed)
    op("release", False, id="R4", lines=[])                        # bad_request
    op("release", False, id="nope")                                # not_found
    op("release", False, id="R4", lines=[["A", "mars"]])           # unknown_region
    op("scan", False, region="r1", limit=0)                        # bad_request
    op("scan", False, region="r1", limit=10001)
    op("scan", False, region="mars")                               # unknown_region

    # ---- scan pages, sources, snapshot
    for region in ("r1", "r2"):
        cursor = 0
        for _ in range(10):
            page = op("scan", True, ignore=SCAN_SEQ_FIELDS, region=region, cursor=cursor,
                      limit=2)
            for k in SCAN_SEQ_FIELDS:
                ck.check(isinstance(page.get(k), int), "scan %s: %s is an integer" % (region, k))
            if page.get("next_cursor") is None:
                break
            cursor = page["next_cursor"]
        op("scan", True, ignore=SCAN_SEQ_FIELDS, region=region, cursor=1000)  # past the end
    op("sources", True)
    op("snapshot", True)

    compare_feeds(ck, sub, sse, ca, cb)
    ck.check(pair.n >= 70, "the sequence ran (%d operations)" % pair.n)
    pair.web.close()
    for p in pubs:
        p.close()
    b.stop()
    a.stop()
    ck.done()
    h.log("%d operations answered alike over nng and HTTP (%d checks)", pair.n, ck.count)


if __name__ == "__main__":
    harness.run(main, "http_conformance")
