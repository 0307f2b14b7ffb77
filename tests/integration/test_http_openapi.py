#!/usr/bin/python3
"""test_http_openapi.py - docs/openapi.yaml against the running server
(issue 13): every documented route answers valid input with a reply that
validates against its schema (JSON Schema Draft 2020-12, as OpenAPI 3.1),
every error code a route documents is provoked and comes with the
documented HTTP status, code and name, an unknown path is 404 and an
undocumented method 405 with the documented methods in `Allow`. And the
document's code -> status table equals docs/HTTP.md's and the names and
codes equal include/atp/error.h's, so the three cannot drift apart.

Two more atpd give the store's errors on every write route: atpd-faults
(src/store/fault.h) with a failing fdatasync or LMDB commit gives `io`, a
1 MiB LMDB map filled with reservations `store_full`.

Label: integration, http. Bounded: about 10 s.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import openapi_util  # noqa: E402
from openapi_util import seg, query  # noqa: E402

# Error codes a route documents that this test does not provoke, and why.
# Everything else every route documents must be provoked below.
UNPROVOKED = {
    "busy": "needs the reservation log full with LMDB held back (test_http_store_errors.py)"
            " or a stop racing the request",
    "internal": "a bug by definition (test_http_store_errors.py fakes one)",
    "nomem": "needs malloc to fail",
}
# store_full: an atpd of its own whose LMDB map (1 MiB, no reservation log)
# fills with 1,000-line reservations.
FULL_SKUS = 1000
FULL_TRIES = 200  # ~70 KB per 1,000-line reservation: 1 MiB holds about a dozen
# Codes no reply carries (docs/PROTOCOL.md, "Error codes": source, start,
# tools): docs/HTTP.md may map them (its table is total), openapi.yaml not.
NOT_IN_REPLIES = {"unauthorized": 12,
                  "duplicate": 14, "timeout": 21, "bad_bucket": 22,
                  "bad_event": 23, "transport": 24}
DEEP = 64  # JSON nesting far beyond any depth limit (docs/HTTP.md)


def deep_json(depth):
    return ("[" * depth + "]" * depth).encode()


def structure_checks(api, ck):
    """What an OpenAPI 3.1 reader relies on: the version, every $ref
    resolving, every operation with a unique operationId and responses,
    every path template parameter declared, request examples valid."""
    ck.check(str(api.doc.get("openapi", "")).startswith("3.1."), "openapi: 3.1.x")
    refs = []

    def walk(v):
        if isinstance(v, dict):
            if isinstance(v.get("$ref"), str):
                refs.append(v["$ref"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(api.doc)
    for ref in sorted(set(refs)):
        try:
            api.resolver.resolve(ref)
        except Exception as e:
            ck.check(False, "$ref %s does not resolve: %s" % (ref, e))
    ids = [op["operationId"] for item in api.doc["paths"].values()
           for m, op in item.items() if m in api.METHODS]
    ck.eq(len(ids), len(set(ids)), "operationIds are unique")
    for path, item in api.doc["paths"].items():
        for m, op in item.items():
            if m not in api.METHODS:
                continue
            ck.check(op.get("responses"), "%s %s has responses" % (m, path))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "example" in body:
                for e in api.validation_errors(body["schema"], body["example"]):
                    ck.check(False, "%s %s: the request example: %s" % (m, path, e))
            params = [api.deref(x) for x in item.get("parameters", []) + op.get("parameters", [])]
            declared = {x["name"] for x in params if x.get("in") == "path"}
            ck.eq(declared, set(re.findall(r"\{(\w+)\}", path)),
                  "%s %s: path parameters declared" % (m, path))


def static_checks(api, source_dir, ck):
    """The document's error table against error.h, its own description and
    docs/HTTP.md."""
    structure_checks(api, ck)
    table = api.error_schemas()
    names = openapi_util.error_h_names(source_dir)
    for name, (code, status) in sorted(table.items()):
        ck.eq(names.get(name), code, "openapi E_%s: its code in include/atp/error.h" % name)
    ck.eq(sorted(set(names) - set(NOT_IN_REPLIES) - {"ok"}), sorted(table),
          "every code a reply can carry (error.h minus source/start/tools codes) has an E_ schema")
    counted = api.schema("StatusReply")["properties"]["http"]["properties"]["errors"]
    ck.eq(sorted(counted["propertyNames"]["enum"]), sorted(table),
          "status.http.errors may name exactly the E_ schemas' names")
    desc = api.description_table()
    ck.eq(set(desc), set(table), "the names of info.description's table vs the E_ schemas")
    for name, (code, status) in table.items():
        if name in desc:
            statuses = [int(s) for s in re.findall(r"\d{3}", desc[name][1])]
            ck.eq((desc[name][0], statuses[:1]), (code, [status]),
                  "info.description's row for %s" % name)
    md = openapi_util.http_md_table(source_dir)
    documented = {(m, p) for _, (p, m, _) in api.ops.items()}
    ck.eq(sorted(openapi_util.http_md_routes(source_dir)), sorted(documented),
          "docs/HTTP.md's route table and openapi.yaml's paths")
    ck.check(md, "docs/HTTP.md has an error table (code | name | status)")
    for name, (code, status) in sorted(table.items()):
        got = md.get(name)
        want = [status] + ([api.schema("E_" + name)["x-http-status-method"]]
                           if "x-http-status-method" in api.schema("E_" + name) else [])
        ck.eq(got, (code, want), "docs/HTTP.md's row for %s (code, statuses)" % name)
    for name in sorted(set(md) - set(table)):
        ck.check(NOT_IN_REPLIES.get(name) == md[name][0],
                 "docs/HTTP.md maps %s, a code replies carry (PROTOCOL.md) but openapi.yaml "
                 "has no E_ schema for" % name)
    # Every route documents only errors whose status it lists under that
    # status: a route cannot put bad_qty under 400 if the table says 422.
    for op_id in sorted(api.ops):
        for name, status in api.route_errors(op_id).items():
            ck.eq(status, table[name][1], "%s documents %s under HTTP %s" % (op_id, name, status))


def expect_error(api, ck, web, provoked, op_id, path, want_name, method=None, body=None,
                 raw=None, line=None, why=""):
    """Send a request that must fail with want_name: checks the code, the
    name, the HTTP status of the table, the reply against op_id's schema
    for that status and (line) the line; records the error as provoked for
    op_id. Returns the reply."""
    code, status = api.error_schemas()[want_name]
    m = method or api.ops[op_id][1]
    r = web.request(m, path, body=body, raw=raw)
    what = "%s%s %s %s -> %s" % (why, op_id, m, path[:80], want_name)
    if not ck.eq(r.error(), (code, want_name), what + ": error (%r)" % r):
        return r
    ck.eq(r.status, status, what + ": HTTP status")
    for e in api.check_reply(op_id, r):
        ck.check(False, what + ": " + e)
    if line is not None:
        ck.eq(r.json["error"].get("line"), line, what + ": line")
    provoked.setdefault(op_id, set()).add(want_name)
    return r


def io_phase(h, api, ck, provoked):
    """io on every write route, through atpd-faults (src/store/fault.h):
    the reservation log's fdatasync failing for the reservation routes, an
    LMDB commit failing for a snapshot."""
    fault_file = os.path.join(h.tmp, "store-faults.txt")
    with open(fault_file, "w"):
        pass
    binary, h.atpd_bin = h.atpd_bin, harness.find_binary(h.bin_dir, "atpd-faults")
    os.environ["ATP_STORE_FAULTS"] = fault_file  # atpd inherits it
    try:
        cfg = harness.build_config(
            h, ["r1"], [("L1", "r1")], [harness.source_entry("wms", [(["L1"], ["on_hand"])])],
            reservations={"log_bytes": 1 << 20}, snapshot_interval="1h")
        d, url = openapi_util.start_atpd(h, cfg, name="faults")
    finally:
        h.atpd_bin = binary
        del os.environ["ATP_STORE_FAULTS"]
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)
    _, msg = pub.next_batch("wms", [[2, "F", "L1", 0, 100]])
    pub.send_payload(msg)
    pub.wait_applied("wms")
    web = openapi_util.Http(url)
    line = [{"sku": "F", "region": "r1", "qty": 1}]
    for rid in ("io-1", "io-2"):
        r = web.post("/v1/reservations", body={"id": rid, "lines": line})
        ck.eq(r.status, 201, "io phase: reservation %s (%r)" % (rid, r))

    def expect_io(op_id, method, path, body=None):
        expect_error(api, ck, web, provoked, op_id, path, "io", method=method, body=body,
                     why="a failing disk: ")

    with open(fault_file, "w") as f:
        f.write("log_sync EIO\n")
    expect_io("reserve", "POST", "/v1/reservations", {"id": "io-3", "lines": line})
    expect_io("commit", "POST", "/v1/reservations/io-1/commit")
    expect_io("extend", "POST", "/v1/reservations/io-1/extend", {"ttl_ms": 60000})
    expect_io("release", "POST", "/v1/reservations/io-1/release")
    expect_io("release_all", "DELETE", "/v1/reservations/io-2")
    with open(fault_file, "w") as f:
        f.write("commit EIO\n")
    _, msg = pub.next_batch("wms", [[2, "F", "L1", 0, 7]])
    pub.send_payload(msg)
    pub.wait_applied("wms")
    expect_io("snapshot", "POST", "/v1/snapshots")
    with open(fault_file, "w"):
        pass
    r = web.get("/v1/reservations/io-1")
    ck.eq((r.status, (r.json or {}).get("reservation", {}).get("state")), (200, "held"),
          "nothing of the failed writes remains")
    ck.eq(web.get("/v1/reservations/io-3").status, 404, "the failed reserve stored nothing")
    web.close()
    d.stop()


def store_full_phase(h, api, ck, provoked):
    """store_full on every write route: reserve until the map is full, then
    commit, extend, release, DELETE and snapshot; queries still answer."""
    cfg = harness.build_config(
        h, ["r1"], [("L1", "r1")], [harness.source_entry("wms", [(["L1"], ["on_hand"])])],
        reservations={"max_lines": FULL_SKUS, "max_map_bytes": 1048576, "log_bytes": 0},
        snapshot_interval="1h")
    d, url = openapi_util.start_atpd(h, cfg, name="full")
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)
    skus = ["FULL-%04d-%s" % (i, "x" * 40) for i in range(FULL_SKUS)]
    _, msg = pub.next_batch("wms", [[2, sku, "L1", 0, 10**6] for sku in skus])
    pub.send_payload(msg)
    pub.wait_applied("wms")
    web = openapi_util.Http(url, timeout_s=30)
    lines = [{"sku": sku, "region": "r1", "qty": 1} for sku in skus]
    code, status = api.error_schemas()["store_full"]
    # full-0's 1,000 lines take ~17 pages: once the map is full, changing
    # it (commit, extend, release) cannot fit either
    first = web.post("/v1/reservations", body={"id": "full-0", "lines": lines})
    ck.eq(first.status, 201, "store_full phase: a first reservation (%r)" % first)
    # fill it: 1,000 lines a reservation, half as many each time one no
    # longer fits, until not even one line does
    n, full = FULL_SKUS, None
    for i in range(1, FULL_TRIES):
        r = web.post("/v1/reservations", body={"id": "full-%d" % i, "lines": lines[:n]})
        if r.status == 201:
            continue
        ck.eq(r.error(), (code, "store_full"), "a reservation the map has no room for (%r)" % r)
        if n == 1:
            full = r
            break
        n //= 2
    ck.check(full is not None, "the 1 MiB map never filled in %d reservations" % FULL_TRIES)
    if full is None:
        d.stop()
        return
    calls = [("reserve", "POST", "/v1/reservations",
              {"id": "full-x", "lines": lines[:1]}),
             ("commit", "POST", "/v1/reservations/full-0/commit", {"order_ref": "SO-full"}),
             ("extend", "POST", "/v1/reservations/full-0/extend", {"ttl_ms": 60000}),
             ("release", "POST", "/v1/reservations/full-0/release",
              {"lines": [[skus[0], "r1"]]}),
             ("release_all", "DELETE", "/v1/reservations/full-0", None)]
    for op_id, method, path, body in calls:
        expect_error(api, ck, web, provoked, op_id, path, "store_full", method=method,
                     body=body, why="store full: ")
    _, msg = pub.next_batch("wms", [[2, sku, "L1", 0, 5] for sku in skus])
    pub.send_payload(msg)
    pub.wait_applied("wms")
    expect_error(api, ck, web, provoked, "snapshot", "/v1/snapshots", "store_full",
                 why="store full: ")
    r = web.get("/v1/availability/%s/r1" % skus[0])
    ck.eq((r.status, r.json.get("supply") if r.json else None), (200, 5),
          "store full: queries still answer")
    web.close()
    d.stop()


def main(h):
    api = openapi_util.OpenApi(h.source_dir)
    ck = harness.Checks(h)
    static_checks(api, h.source_dir, ck)

    cfg = harness.build_config(
        h, ["us-east", "eu"], [("L1", "us-east"), ("L2", "eu"), ("L3", "eu")],
        [harness.source_entry("wms", [(["L1", "L2"], ["on_hand", "allocated"])]),
         harness.source_entry("erp", [(["L2"], ["held"])])],
        channels=("web", "app"),
        reservations={"max_lines": 3, "min_ttl": "1s", "max_ttl": "1d"},
        max_cart_lines=4,  # L3: no stock, removed by admin_remove_location
        spare_locations=1,  # L4 added by admin_add_location takes the one place
        spare_channels=1,  # so does kiosk, added by admin_add_channel
        spare_regions=1)  # and apac, added by admin_add_region
    d, url = openapi_util.start_atpd(h, cfg)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)
    _, msg = pub.next_batch("wms", [[2, "SKU-1", "L1", 0, 100], [2, "SKU-2", "L1", 0, 50],
                                    [2, "SKU-1", "L2", 0, 10], [2, "A B/1", "L1", 0, 5]])
    pub.send_payload(msg)
    pub.wait_applied("wms")
    web = openapi_util.Http(url)

    called = {}     # op_id -> set of statuses seen
    provoked = {}   # op_id -> set of error names provoked

    def call(op_id, path, method=None, body=None, raw=None, want=200):
        m = method or api.ops[op_id][1]
        r = web.request(m, path, body=body, raw=raw)
        called.setdefault(op_id, set()).add(r.status)
        if not ck.eq(r.status, want, "%s %s %s: status (%r)" % (op_id, m, path, r)):
            return r
        for e in api.check_reply(op_id, r):
            ck.check(False, "%s %s: %s" % (m, path, e))
        return r

    def fail(op_id, path, want_name, **kw):
        return expect_error(api, ck, web, provoked, op_id, path, want_name, **kw)

    # ---- every route with valid input
    a = call("atp", "/v1/availability/SKU-1/us-east" + query({"channel": "web"})).json
    ck.eq((a["sku"], a["region"], a["channel"], a["supply"]), ("SKU-1", "us-east", "web", 100),
          "atp answer")
    a = call("atp", "/v1/availability/%s/us-east" % seg("A B/1")).json
    ck.eq((a["sku"], a["channel"], a["supply"]), ("A B/1", "default", 5),
          "a percent-encoded SKU with a space and a slash, default channel")
    a = call("atp", "/v1/availability/NEVER-SEEN/eu").json
    ck.eq((a["atp"], a["supply"]), (0, 0), "an unknown SKU has ATP 0")
    r = call("regions", "/v1/availability/SKU-1" + query({"channel": "app"})).json
    ck.eq([(x["region"], x["supply"]) for x in r["regions"]], [("us-east", 100), ("eu", 10)],
          "regions in configuration order")
    r = call("cart", "/v1/availability/cart", body={
        "channel": "web", "lines": [{"sku": "SKU-1", "region": "us-east", "qty": 2},
                                    ["SKU-1", "eu", 11]]}).json
    ck.eq([(x["sku"], x["region"], x["qty"], x["available"]) for x in r["lines"]]
          + [r["available"]],
          [("SKU-1", "us-east", 2, True), ("SKU-1", "eu", 11, False), False],
          "cart: object and array lines")
    p = call("pickup", "/v1/pickup/us-east/SKU-1" + query({"channel": "web"})).json
    ck.eq((p["supply"], [(x["location"], x["net"]) for x in p["locations"]]),
          (100, [("L1", 100)]), "pickup: the region's answer and its location")
    p = call("pickup", "/v1/pickup/eu/SKU-1?pickup_only=true").json
    ck.eq(p["locations"], [], "pickup_only: no pickup-enabled location")
    p = call("pickup_cart", "/v1/pickup/us-east/cart", body={
        "lines": [{"sku": "SKU-1", "qty": 2}, ["SKU-2", 1]]}).json
    ck.eq([(x["location"], x["fills"]) for x in p["locations"]], [("L1", False)],
          "pickup_cart: L1 takes no pickup orders")
    # time-phased promises: no lots here, so every schedule is one entry
    p = call("promise", "/v1/promise/us-east/SKU-1" + query(
        {"channel": "web", "qty": 5, "date_ms": harness.now_ms() + 3600000})).json
    ck.eq((p["supply"], p["atp_on_date"], p["earliest_ms"], p["schedule"]),
          (100, p["atp"], p["now_ms"], [{"from_ms": p["now_ms"], "atp": p["atp"]}]),
          "promise: today's ATP on every date, qty 5 now")
    p = call("promise", "/v1/promise/eu/NEVER-SEEN" + query({"qty": 1})).json
    ck.eq((p["atp"], p["earliest_ms"], "date_ms" in p), (0, None, False),
          "promise of a SKU never seen: never")
    p = call("promise", "/v1/promise/us-east/cart").json
    ck.eq((p["sku"], "qty" in p), ("cart", False), "GET /v1/promise/{region}/cart: the SKU cart")
    p = call("promise_cart", "/v1/promise/us-east/cart", body={
        "channel": "web", "lines": [{"sku": "SKU-1", "qty": 2}, ["SKU-2", 1]]}).json
    ck.eq([x["earliest_ms"] for x in p["lines"]] + [p["earliest_ms"]], [p["now_ms"]] * 3,
          "promise_cart: complete now")
    p = call("promise_cart", "/v1/promise/eu/cart", body={
        "lines": [["SKU-1", 1], {"sku": "NEVER-SEEN", "qty": 1}]}).json
    ck.eq([x["earliest_ms"] for x in p["lines"]] + [p["earliest_ms"]], [p["now_ms"], None, None],
          "promise_cart: a line never covered, the cart never complete")
    pages, cursor = [], 0
    for _ in range(10):
        p = call("scan", "/v1/regions/us-east/availability"
                 + query({"cursor": cursor, "limit": 2})).json
        pages.append([i["sku"] for i in p["items"]])
        if p["next_cursor"] is None:
            break
        cursor = p["next_cursor"]
    every = [i["sku"] for i in c.ok({"op": "scan", "region": "us-east", "limit": 10000})["items"]]
    ck.eq(sum(pages, []), every, "scan pages of 2 list every SKU once, as nng's scan does")
    call("scan", "/v1/regions/eu/availability")
    s = call("sources", "/v1/sources").json
    ck.eq([(x["id"], x["last_seq"]) for x in s["sources"]], [("wms", 1), ("erp", 0)], "sources")
    call("status", "/v1/status")
    # /metrics is text, not JSON: its documented content type instead of a
    # schema (its content: integration.ops_metrics, with promtool).
    r = web.get("/metrics")
    called.setdefault("metrics", set()).add(r.status)
    ctype = r.headers.get("content-type", "")
    ck.check(r.status == 200 and ctype in api.ops["metrics"][2]["responses"]["200"]["content"],
             "GET /metrics: 200 with the documented content type (%d, %r)" % (r.status, ctype))
    call("health", "/healthz")
    ck.eq(call("ready", "/readyz").json.get("ready"), True, "readyz")
    fail("ready", "/readyz" + query({"sources": "stale"}), "bad_request")
    x = call("explain", "/v1/explain/SKU-1").json
    ck.eq([(r["region"], r["supply"]) for r in x["regions"]], [("us-east", 100), ("eu", 10)],
          "explain: every region")
    call("snapshot", "/v1/snapshots")

    lines = [{"sku": "SKU-1", "region": "us-east", "qty": 3}, ["SKU-2", "us-east", 1]]
    body = {"id": "cart-1", "channel": "web", "ttl_ms": 600000, "lines": lines}
    g = call("reserve", "/v1/reservations", body=body, want=201)
    ck.eq(g.json.get("replayed"), False, "reserve: created")
    g = call("reserve", "/v1/reservations", body=body, want=200)
    ck.eq((g.json.get("replayed"), g.json.get("granted")), (True, True),
          "reserve retried: replayed")
    g = call("reserve", "/v1/reservations", want=200, body={
        "id": "too-much", "ttl_ms": 600000, "lines": [["SKU-2", "us-east", 1000]]})
    ck.eq(g.json.get("granted"), False, "reserve beyond ATP: refused")
    g = call("reserve", "/v1/reservations", want=200, body={"id": "pin-1", "lines": [
        {"sku": "SKU-1", "region": "us-east", "qty": 1, "location": "L1"}]})
    ck.eq((g.json.get("granted"), g.json.get("lines", [{}])[0].get("location")), (False, "L1"),
          "a line pinned to L1, which takes no pickup orders: refused, the line names L1")
    call("reservation", "/v1/reservations/cart-1")
    t = harness.now_ms()
    g = call("reserve", "/v1/reservations", want=201, body={
        "id": "pre-1", "ttl_ms": 7200000, "promise_ms": t + 3600000,
        "lines": [{"sku": "SKU-2", "region": "us-east", "qty": 1}]}).json
    ck.eq((g["reservation"].get("promise_ms"), g["reservation"].get("dated")),
          (t + 3600000, True), "a dated reserve (a preorder): promise_ms and dated")
    call("reservation", "/v1/reservations/pre-1")
    x = call("explain", "/v1/explain/SKU-2").json
    ck.eq([(r["id"], r.get("promise_ms"), r.get("dated")) for r in x["reservations"]
           if r["id"] == "pre-1"], [("pre-1", t + 3600000, True)],
          "explain: the preorder's line with its date")
    call("release_all", "/v1/reservations/pre-1")
    call("reserve", "/v1/reservations", want=201, body={
        "id": "id with/slash", "lines": [["SKU-2", "us-east", 1]]})
    r = call("reservation", "/v1/reservations/" + seg("id with/slash")).json
    ck.eq(r["reservation"]["id"], "id with/slash", "a percent-encoded reservation id")
    r = call("commit", "/v1/reservations/%s/commit" % seg("id with/slash")).json
    ck.eq(r["reservation"]["state"], "committed", "commit without a body")
    r = call("commit", "/v1/reservations/cart-1/commit", body={"order_ref": "SO-1"}).json
    ck.eq((r["reservation"]["state"], r["reservation"].get("order_ref")), ("committed", "SO-1"),
          "commit")
    call("commit", "/v1/reservations/cart-1/commit", body={"order_ref": "SO-1"})
    r = call("extend", "/v1/reservations/cart-1/extend", body={"ttl_ms": 300000}).json
    ck.eq(r["reservation"]["state"], "committed", "extend a committed reservation")
    r = call("release", "/v1/reservations/cart-1/release",
             body={"lines": [{"sku": "SKU-2", "region": "us-east"}]}).json
    ck.eq([(x["sku"], x["released"]) for x in r["reservation"]["lines"]],
          [("SKU-1", 0), ("SKU-2", 1)], "partial release (object line)")
    r = call("release", "/v1/reservations/cart-1/release",
             body={"lines": [["SKU-1", "us-east"]]}).json
    ck.eq(r["reservation"]["state"], "released", "release of the last open line (array line)")
    call("reserve", "/v1/reservations", want=201, body={"id": "cart-2", "lines": lines})
    r = call("release_all", "/v1/reservations/cart-2").json
    ck.eq((r["reservation"]["state"], r["replayed"]), ("released", False), "DELETE releases")
    r = call("release_all", "/v1/reservations/cart-2").json
    ck.eq(r["replayed"], True, "DELETE again: replayed")
    # DELETE takes no body (docs/HTTP.md: a route without one ignores it):
    # it releases every line even when a body names one
    call("reserve", "/v1/reservations", want=201, body={"id": "cart-4", "lines": lines})
    r = call("release_all", "/v1/reservations/cart-4", body={"lines": [["SKU-1", "us-east"]]}).json
    ck.eq(r["reservation"]["state"], "released", "DELETE with a body still releases every line")
    call("reserve", "/v1/reservations", want=201, body={"id": "cart-3", "lines": lines})
    r = call("release", "/v1/reservations/cart-3/release").json
    ck.eq(r["reservation"]["state"], "released", "POST release without a body releases all")

    def check_event(ev):
        """An event's data, validated against the schema of its type."""
        events = api.ops["changes"][2]["responses"]["200"]["content"]["text/event-stream"]
        schema = events["x-events"].get(ev.get("event"))
        if not ck.check(schema is not None, "changes: undocumented event type %r" % ev):
            return {}
        data = json.loads(ev["data"])
        for e in api.validation_errors(schema, data):
            ck.check(False, "changes %s event: %s" % (ev.get("event"), e))
        return data

    # the change feed: atpd subscribes the stream when it answers; until
    # the first event arrives, keep changing the SKU (bounded)
    sse = openapi_util.SseReader(url, "/v1/changes" + query({"region": "us-east", "sku": "SKU-9"}))
    try:
        status = sse.head()
        called.setdefault("changes", set()).add(status)
        ck.eq(status, 200, "changes: status")
        ck.check(sse.headers.get("content-type", "").startswith("text/event-stream"),
                 "changes: content type %r" % sse.headers.get("content-type"))
        ev, sent = None, []
        for value in range(7, 27):
            _, msg = pub.next_batch("wms", [[2, "SKU-8", "L1", 0, value],
                                            [2, "SKU-9", "L1", 0, value]])
            pub.send_payload(msg)
            sent.append(value)
            try:
                ev = sse.next_event(timeout_s=1)
                break
            except TimeoutError:
                continue
        ck.check(ev is not None, "changes: no event for SKU-9 after %d changes" % len(sent))
        if ev is not None:
            data = check_event(ev)
            ck.check((ev.get("event"), data.get("sku"), data.get("region")) ==
                     ("change", "SKU-9", "us-east") and data.get("supply") in sent,
                     "changes: a change of the SKU subscribed to only: %r" % ev)
            ck.eq(ev.get("id"), str(data.get("seq")), "changes: the event id is the seq")
    finally:
        sse.close()
    # every region, and a reconnect after which events were missed: a gap
    sse = openapi_util.SseReader(url, "/v1/changes", headers={"Last-Event-ID": "1"})
    try:
        ck.eq(sse.head(), 200, "changes, everything: status")
        ev = sse.next_event(timeout_s=5)
        data = check_event(ev)
        ck.eq((ev.get("event"), data.get("reason")), ("gap", "reconnect"),
              "a reconnect with an old Last-Event-ID: a gap event first")
    finally:
        sse.close()

    for op_id in sorted(api.ops):
        if op_id == "source_reset" or op_id.startswith("admin_"):
            continue  # source_reset at the very end: it leaves wms waiting
            # for a snapshot; the admin routes after the change feed's
            # checks (their changes mark rows for the feed)
        ck.check(any(200 <= s < 300 for s in called.get(op_id, ())),
                 "route %s (%s %s) answered a valid request" % ((op_id,) + api.ops[op_id][:2]))

    # ---- every documented error of every route
    long_sku = "S" * 65
    fail("atp", "/v1/availability/%s/us-east" % seg("A\tB"), "bad_sku")
    fail("atp", "/v1/availability/%s/us-east" % long_sku, "bad_sku")
    fail("atp", "/v1/availability/%FF%FE/us-east", "bad_sku")  # not UTF-8: still UTF-8 JSON
    fail("atp", "/v1/availability/SKU-1/mars", "unknown_region")
    fail("atp", "/v1/availability/%ZZ/us-east", "bad_request")
    fail("atp", "/v1/availability/SKU-1/us-east?channel=%G1", "bad_request")
    fail("regions", "/v1/availability/SKU%2", "bad_request")
    fail("atp", "/v1/availability/SKU-1/us-east?channel=tv", "unknown_channel")
    fail("regions", "/v1/availability/%s" % seg("A\x7fB"), "bad_sku")
    fail("regions", "/v1/availability/SKU-1?channel=tv", "unknown_channel")
    fail("explain", "/v1/explain/%s" % long_sku, "bad_sku")
    fail("explain", "/v1/explain/SKU%2", "bad_request")

    cart = "/v1/availability/cart"
    fail("cart", cart, "bad_request", raw=b'{"lines": [["SKU-1", "us-east", 1]')
    fail("cart", cart, "bad_request", raw=b'[["SKU-1", "us-east", 1]]')
    fail("cart", cart, "bad_request", body={"lines": []})
    fail("cart", cart, "bad_request", body={"channel": "web"})
    fail("cart", cart, "bad_request", body={"lines": [{"sku": "SKU-1", "region": "us-east",
                                                       "qty": "2"}]}, line=0)
    fail("cart", cart, "bad_request", raw=b'{"lines": [["SKU-1", "us-east", 1]], "x": "\xff"}')
    fail("cart", cart, "bad_sku", body={"lines": [["SKU-1", "us-east", 1], ["", "us-east", 1]]},
         line=1)
    fail("cart", cart, "unknown_region", body={"lines": [["SKU-1", "us-east", 1],
                                                         {"sku": "X", "region": "mars", "qty": 1}]},
         line=1)
    fail("cart", cart, "unknown_channel", body={"channel": "tv", "lines": [["SKU-1", "eu", 1]]})
    fail("cart", cart, "too_many_lines", body={"lines": [["SKU-1", "eu", 1]] * 5})
    fail("cart", cart, "too_large", raw=b'{"lines": ' + deep_json(DEEP) + b'}')
    fail("cart", cart, "bad_qty", body={"lines": [["SKU-1", "eu", 0]]}, line=0)
    fail("cart", cart, "bad_qty", body={"lines": [["SKU-1", "eu", 10**15], ["SKU-1", "eu", 1]]},
         line=1)

    pk = "/v1/pickup/us-east/SKU-1"
    fail("pickup", pk + "?pickup_only=maybe", "bad_request")
    fail("pickup", "/v1/pickup/us-east/SKU%2", "bad_request")
    fail("pickup", "/v1/pickup/us-east/%s" % long_sku, "bad_sku")
    fail("pickup", "/v1/pickup/mars/SKU-1", "unknown_region")
    fail("pickup", pk + "?channel=tv", "unknown_channel")
    pc = "/v1/pickup/us-east/cart"
    fail("pickup_cart", pc, "bad_request", body={"lines": []})
    fail("pickup_cart", pc, "bad_request", body={"lines": [["SKU-1", "us-east", 1]]}, line=0)
    fail("pickup_cart", pc, "too_large", raw=b'{"lines": ' + deep_json(DEEP) + b'}')
    fail("pickup_cart", pc, "bad_sku", body={"lines": [["SKU-1", 1], {"sku": "", "qty": 1}]},
         line=1)
    fail("pickup_cart", "/v1/pickup/mars/cart", "unknown_region", body={"lines": [["A", 1]]})
    fail("pickup_cart", pc, "unknown_channel", body={"channel": "tv", "lines": [["A", 1]]})
    fail("pickup_cart", pc, "bad_qty", body={"lines": [["SKU-1", 0]]}, line=0)
    fail("pickup_cart", pc, "too_many_lines", body={"lines": [["SKU-1", 1]] * 5})

    pr = "/v1/promise/us-east/SKU-1"
    fail("promise", pr + "?qty=abc", "bad_request")
    fail("promise", pr + "?date_ms=1.5", "bad_request")
    fail("promise", pr + "?date_ms=-1", "bad_request")
    fail("promise", "/v1/promise/us-east/SKU%2", "bad_request")
    fail("promise", "/v1/promise/us-east/%s" % long_sku, "bad_sku")
    fail("promise", "/v1/promise/mars/SKU-1", "unknown_region")
    fail("promise", pr + "?channel=tv", "unknown_channel")
    fail("promise", pr + "?qty=0", "bad_qty")
    fail("promise", pr + "?qty=1000000000000001", "bad_qty")
    pcc = "/v1/promise/us-east/cart"
    fail("promise_cart", pcc, "bad_request", body={"lines": []})
    fail("promise_cart", pcc, "bad_request", raw=b'{"lines": [["SKU-1", 1]')
    fail("promise_cart", pcc, "bad_request", body={"lines": [["SKU-1", "us-east", 1]]}, line=0)
    fail("promise_cart", pcc, "too_large", raw=b'{"lines": ' + deep_json(DEEP) + b'}')
    fail("promise_cart", pcc, "bad_sku", body={"lines": [["SKU-1", 1], {"sku": "", "qty": 1}]},
         line=1)
    fail("promise_cart", "/v1/promise/mars/cart", "unknown_region", body={"lines": [["A", 1]]})
    fail("promise_cart", pcc, "unknown_channel", body={"channel": "tv", "lines": [["A", 1]]})
    fail("promise_cart", pcc, "bad_qty", body={"lines": [["SKU-1", 0]]}, line=0)
    fail("promise_cart", pcc, "bad_qty", body={"lines": [["SKU-1", 10**15], ["SKU-1", 1]]},
         line=1)
    fail("promise_cart", pcc, "too_many_lines", body={"lines": [["SKU-1", 1]] * 5})

    scan = "/v1/regions/us-east/availability"
    fail("scan", scan + "?limit=0", "bad_request")
    fail("scan", scan + "?limit=10001", "bad_request")
    fail("scan", scan + "?cursor=-1", "bad_request")
    fail("scan", scan + "?cursor=abc", "bad_request")
    fail("scan", "/v1/regions/mars/availability", "unknown_region")
    fail("scan", "/v1/regions/us%/availability", "bad_request")

    rs = "/v1/reservations"
    one = [["SKU-2", "us-east", 1]]
    fail("reserve", rs, "bad_request", raw=b'{"id": "e1", "lines": ')
    fail("reserve", rs, "bad_request", body={"lines": one})
    fail("reserve", rs, "bad_request", body={"id": "e1", "lines": []})
    fail("reserve", rs, "bad_request", body={"id": "e1", "lines": one, "ttl_ms": "60000"})
    fail("reserve", rs, "bad_request", body={"id": "e1", "lines": one, "promise_ms": "soon"})
    fail("reserve", rs, "bad_request", body={"id": "e1", "lines": one, "ttl_ms": 60000,
                                             "promise_ms": harness.now_ms() + 3600000})
    fail("reserve", rs, "bad_sku", body={"id": "e1", "lines": [[long_sku, "us-east", 1]]}, line=0)
    fail("reserve", rs, "bad_id", body={"id": "i" * 129, "lines": one})
    fail("reserve", rs, "bad_id", body={"id": "", "lines": one})
    fail("reserve", rs, "unknown_region", body={"id": "e1", "lines": one + [["SKU-1", "mars", 1]]},
         line=1)
    fail("reserve", rs, "unknown_channel", body={"id": "e1", "channel": "tv", "lines": one})
    fail("reserve", rs, "unknown_location", body={"id": "e1", "lines": [
        {"sku": "SKU-1", "region": "us-east", "qty": 1, "location": "nowhere"}]}, line=0)
    fail("reserve", rs, "too_many_lines", body={"id": "e1", "lines": one * 4})
    fail("reserve", rs, "too_large", raw=b'{"id": "e1", "lines": ' + deep_json(DEEP) + b'}')
    fail("reserve", rs, "bad_qty", body={"id": "e1", "lines": [["SKU-2", "us-east", 10**15 + 1]]},
         line=0)
    fail("reserve", rs, "bad_ttl", body={"id": "e1", "lines": one, "ttl_ms": 10})
    fail("reserve", rs, "bad_ttl", body={"id": "e1", "lines": one, "ttl_ms": 2 * 86400000})
    fail("reserve", rs, "conflict", body={"id": "cart-1", "lines": one})
    ck.eq(c.get("e1"), None, "no failed reserve stored anything")

    bad_id = seg("i" * 129)
    fail("reservation", rs + "/" + bad_id, "bad_id")
    fail("reservation", rs + "/nope", "not_found")
    fail("reservation", rs + "/a%zzb", "bad_request")

    # a consumed reservation: committed, then the WMS allocates its units
    call("reserve", rs, want=201, body={"id": "cons", "lines": [["SKU-1", "us-east", 2]]})
    call("commit", rs + "/cons/commit", body={"order_ref": "SO-cons"})
    _, msg = pub.next_batch("wms", [[1, "SKU-1", "L1", 1, 2, "SO-cons"]])
    pub.send_payload(msg)
    harness.wait_until(lambda: (c.get("cons") or {}).get("state") == "consumed", 10,
                       what="reservation cons consumed")
    call("reserve", rs, want=201, body={"id": "held", "lines": one})

    fail("commit", rs + "/held/commit", "bad_request", raw=b'{"order_ref": ')
    fail("commit", rs + "/held/commit", "bad_request", body={"order_ref": 7})
    fail("commit", rs + "/held/commit", "bad_id", body={"order_ref": "o" * 129})
    fail("commit", rs + "/%s/commit" % bad_id, "bad_id")
    fail("commit", rs + "/nope/commit", "not_found")
    fail("commit", rs + "/%/commit", "bad_request")
    fail("commit", rs + "/held/commit", "conflict", body={"order_ref": "SO-1"})
    fail("commit", rs + "/cart-2/commit", "bad_state")
    fail("commit", rs + "/held/commit", "too_large", raw=b'{"x": ' + deep_json(DEEP) + b'}')

    rel = rs + "/held/release"
    fail("release", rel, "bad_request", body={"lines": []})
    fail("release", rel, "bad_request", raw=b'{"lines": [')
    fail("release", rel, "bad_request", body={"lines": [["SKU-2"]]}, line=0)
    fail("release", rs + "/%ZZ/release", "bad_request")
    fail("release", rel, "bad_sku", body={"lines": [{"sku": "", "region": "us-east"}]}, line=0)
    fail("release", rs + "/" + bad_id + "/release", "bad_id")
    fail("release", rs + "/nope/release", "not_found")
    fail("release", rel, "unknown_region", body={"lines": [["SKU-2", "us-east"],
                                                          ["SKU-2", "mars"]]}, line=1)
    fail("release", rs + "/cons/release", "bad_state")
    fail("release", rel, "too_many_lines", body={"lines": [["SKU-2", "us-east"]] * 4})
    fail("release", rel, "too_large", raw=b'{"lines": ' + deep_json(DEEP) + b'}')
    fail("release_all", rs + "/%ZZ", "bad_request")
    fail("release_all", rs + "/" + bad_id, "bad_id")
    fail("release_all", rs + "/nope", "not_found")
    fail("release_all", rs + "/cons", "bad_state")
    ck.eq((c.get("held") or {}).get("state"), "held", "no failed release changed 'held'")

    ext = rs + "/held/extend"
    fail("extend", ext, "bad_request", body={})
    fail("extend", ext, "bad_request", body={"ttl_ms": 1.5})
    fail("extend", ext, "bad_request", raw=b"ttl_ms=1000")
    fail("extend", rs + "/%s/extend" % bad_id, "bad_id", body={"ttl_ms": 60000})
    fail("extend", rs + "/nope/extend", "not_found", body={"ttl_ms": 60000})
    fail("extend", rs + "/%4/extend", "bad_request", body={"ttl_ms": 60000})
    fail("extend", rs + "/cart-2/extend", "bad_state", body={"ttl_ms": 60000})
    fail("extend", ext, "too_large", raw=b'{"ttl_ms": ' + deep_json(DEEP) + b'}')
    fail("extend", ext, "bad_ttl", body={"ttl_ms": 999})

    fail("changes", "/v1/changes?region=us%-east", "bad_request")
    fail("changes", "/v1/changes" + query({"region": "us-east", "sku": "A\tB"}), "bad_sku")
    fail("changes", "/v1/changes" + query({"region": "mars"}), "unknown_region")

    # run-time administration (issue 16)
    call("admin_list", "/v1/admin")
    call("admin_export", "/v1/admin/export")
    ab = "/v1/admin/buffers"
    call("admin_set_buffer", ab, body={"change_id": "oa-1", "sku": "SKU-9", "units": 1,
                                        "percent": "2.5", "low_stock": 2})
    call("admin_set_buffer", ab, body={"change_id": "oa-1", "sku": "SKU-9", "units": 1,
                                        "percent": "2.5", "low_stock": 2})
    call("admin_set_buffer", ab, body={"change_id": "oa-2", "region": "eu", "percent": 5})
    call("admin_remove_buffer", ab + "/remove", body={"change_id": "oa-3", "region": "eu"})
    call("admin_move_location", "/v1/admin/locations/L2", body={"change_id": "oa-4",
                                                                 "region": "us-east"})
    call("admin_move_location", "/v1/admin/locations/L2", body={"change_id": "oa-5",
                                                                 "region": "eu"})
    bu = "/v1/admin/bundles"  # issue 19, bundles
    call("admin_set_bundle", bu, body={"change_id": "kit-1", "sku": "KIT-9",
                                        "components": [["SKU-9", 2], ["SKU-1", 1]]})
    a = call("atp", "/v1/availability/KIT-9/us-east").json
    ck.check(a.get("limiting") in ("SKU-9", "SKU-1"),
             "a bundle names its limiting component: %r" % a)
    call("explain", "/v1/explain/KIT-9")
    # a bundle has no time-phased answer of its own: ask for its components
    fail("promise", "/v1/promise/us-east/KIT-9", "bad_request")
    fail("promise_cart", "/v1/promise/us-east/cart", "bad_request",
         body={"lines": [["SKU-1", 1], ["KIT-9", 1]]}, line=1)
    fail("admin_set_bundle", bu, "bad_request", body={"change_id": "kit-2", "sku": "K",
                                                       "components": []})
    fail("admin_set_bundle", bu, "conflict", body={"change_id": "kit-1", "sku": "KIT-8",
                                                    "components": [["SKU-9", 1]]})
    fail("admin_set_bundle", bu, "bad_sku", body={"change_id": "kit-5", "sku": "A\tB",
                                                   "components": [["SKU-9", 1]]})
    fail("admin_set_bundle", bu, "bad_qty", body={"change_id": "kit-6", "sku": "KIT-7",
                                                   "components": [["SKU-9", 0]]})
    fail("admin_set_bundle", bu, "config", body={"change_id": "kit-7", "sku": "KIT-7",
                                                  "components": [["KIT-7", 1]]})
    call("admin_remove_bundle", bu + "/remove", body={"change_id": "kit-3", "sku": "KIT-9"})
    fail("admin_remove_bundle", bu + "/remove", "not_found", body={"change_id": "kit-4",
                                                                    "sku": "KIT-9"})
    call("admin_history", "/v1/admin/history" + query({"after": 1, "limit": 2}))
    fail("admin_history", "/v1/admin/history?limit=0", "bad_request")
    fail("admin_set_buffer", ab, "bad_request", body={"units": 1})
    fail("admin_set_buffer", ab, "conflict", body={"change_id": "oa-1", "units": 7})
    fail("admin_set_buffer", ab, "unknown_region", body={"change_id": "ob-1", "region": "mars",
                                                          "units": 1})
    fail("admin_set_buffer", ab, "unknown_channel", body={"change_id": "ob-2", "channel": "tv",
                                                           "units": 1})
    fail("admin_set_buffer", ab, "bad_sku", body={"change_id": "ob-3", "sku": "A\tB", "units": 1})
    fail("admin_set_buffer", ab, "bad_id", body={"change_id": "x" * 129, "units": 1})
    fail("admin_set_buffer", ab, "bad_qty", body={"change_id": "ob-4", "units": -1})
    fail("admin_set_buffer", ab, "config", body={"change_id": "ob-5", "percent": "100.5"})
    abr = ab + "/remove"
    fail("admin_remove_buffer", abr, "bad_request", body={"change_id": 5})
    fail("admin_remove_buffer", abr, "not_found", body={"change_id": "oc-1", "sku": "none"})
    fail("admin_remove_buffer", abr, "conflict", body={"change_id": "oa-1"})
    fail("admin_remove_buffer", abr, "unknown_region", body={"change_id": "oc-2",
                                                              "region": "mars"})
    fail("admin_remove_buffer", abr, "unknown_channel", body={"change_id": "oc-3",
                                                               "channel": "tv"})
    fail("admin_remove_buffer", abr, "bad_sku", body={"change_id": "oc-4", "sku": ""})
    fail("admin_remove_buffer", abr, "bad_id", body={"change_id": ""})
    al = "/v1/admin/locations/"
    fail("admin_move_location", al + "L1", "bad_request", body={"region": "eu"})
    fail("admin_move_location", al + "L1", "conflict", body={"change_id": "oa-4",
                                                              "region": "eu"})
    fail("admin_move_location", al + "L9", "unknown_location", body={"change_id": "od-1",
                                                                      "region": "eu"})
    fail("admin_move_location", al + "L1", "unknown_region", body={"change_id": "od-2",
                                                                    "region": "mars"})
    fail("admin_move_location", al + "L1", "bad_id", body={"change_id": "", "region": "eu"})
    call("admin_set_location", al + "L1", body={"change_id": "oe-1", "type": "store",
                                                "pickup": True, "pickup_buffer": 2})
    # L1 takes pickup orders now: a line pinned there keeps it in us-east
    ck.eq(c.reserve("pin-2", [["SKU-2", "us-east", 1, "L1"]]).get("granted"), True,
          "pin-2: a line pinned to L1")
    fail("admin_move_location", al + "L1", "bad_state", body={"change_id": "od-3",
                                                               "region": "eu"})
    ck.eq(c.req({"op": "release", "id": "pin-2"}).get("ok"), True, "pin-2 released")
    fail("admin_set_location", al + "L1", "bad_request", body={"change_id": "oe-2"})
    fail("admin_set_location", al + "L1", "conflict", body={"change_id": "oa-4", "pickup": True})
    fail("admin_set_location", al + "L9", "unknown_location", body={"change_id": "oe-3",
                                                                     "pickup": True})
    fail("admin_set_location", al + "L1", "bad_id", body={"change_id": "", "pickup": True})
    fail("admin_set_location", al + "L1", "bad_qty", body={"change_id": "oe-4",
                                                           "pickup_buffer": -1})
    fail("admin_set_location", al + "L1", "config", body={"change_id": "oe-5", "type": ""})
    call("admin_remove_location", al + "L3/remove", body={"change_id": "og-0"})
    fail("admin_remove_location", al + "L1/remove", "bad_state", body={"change_id": "og-1"})
    fail("admin_remove_location", al + "L1/remove", "conflict", body={"change_id": "oa-4"})
    fail("admin_remove_location", al + "L9/remove", "unknown_location",
         body={"change_id": "og-2"})
    fail("admin_remove_location", al + "L1/remove", "bad_id", body={"change_id": ""})
    fail("admin_remove_location", al + "L1/remove", "bad_request", body={"change_id": 7})
    call("admin_add_location", "/v1/admin/locations",
         body={"change_id": "oh-1", "location": "L4", "region": "eu", "type": "store",
               "pickup": True, "pickup_buffer": 1})
    for want, body in (
            ("bad_request", {"change_id": "oh-2", "location": "L5"}),
            ("conflict", {"change_id": "oh-3", "location": "L1", "region": "eu"}),
            ("unknown_region", {"change_id": "oh-4", "location": "L5", "region": "mars"}),
            ("unknown_location", {"change_id": "oh-5", "location": "", "region": "eu"}),
            ("bad_id", {"change_id": "", "location": "L5", "region": "eu"}),
            ("bad_qty", {"change_id": "oh-6", "location": "L5", "region": "eu",
                         "pickup_buffer": -1}),
            ("config", {"change_id": "oh-7", "location": "L5", "region": "eu", "type": ""}),
            ("bad_state", {"change_id": "oh-8", "location": "L5", "region": "eu"})):
        fail("admin_add_location", "/v1/admin/locations", want, body=body)
    aa = "/v1/admin/sources/wms/authority/"
    call("admin_set_authority", aa + "L4", body={"change_id": "oi-1", "buckets": ["on_hand"]})
    fail("admin_set_authority", aa + "L4", "bad_request", body={"change_id": "oi-2",
                                                                "buckets": ["sold"]})
    fail("admin_set_authority", aa + "L4", "conflict", body={"change_id": "oa-4",
                                                             "buckets": []})
    fail("admin_set_authority", aa + "L9", "unknown_location", body={"change_id": "oi-3",
                                                                     "buckets": []})
    fail("admin_set_authority", "/v1/admin/sources/nobody/authority/L4", "unknown_source",
         body={"change_id": "oi-4", "buckets": []})
    fail("admin_set_authority", aa + "L4", "bad_id", body={"change_id": "", "buckets": []})
    fail("admin_set_authority", aa + "L2", "config", body={"change_id": "oi-5",
                                                           "buckets": ["held"]})
    call("admin_add_channel", "/v1/admin/channels", body={"change_id": "oj-1",
                                                           "channel": "kiosk"})
    for want, body in (("bad_request", {"change_id": "oj-2"}),
                       ("conflict", {"change_id": "oj-3", "channel": "web"}),
                       ("unknown_channel", {"change_id": "oj-4", "channel": ""}),
                       ("bad_id", {"change_id": "", "channel": "pos"}),
                       ("bad_state", {"change_id": "oj-5", "channel": "pos"})):
        fail("admin_add_channel", "/v1/admin/channels", want, body=body)
    call("admin_add_region", "/v1/admin/regions", body={"change_id": "ok-1",
                                                         "region": "apac",
                                                         "inbound_horizon": "1d"})
    for want, body in (("bad_request", {"change_id": "ok-2"}),
                       ("conflict", {"change_id": "ok-3", "region": "eu"}),
                       ("unknown_region", {"change_id": "ok-4", "region": ""}),
                       ("bad_id", {"change_id": "", "region": "latam"}),
                       ("config", {"change_id": "ok-5", "region": "latam",
                                   "inbound_horizon": "9y"}),
                       ("bad_state", {"change_id": "ok-6", "region": "latam"})):
        fail("admin_add_region", "/v1/admin/regions", want, body=body)
    # removals: apac (added above, empty) goes; eu keeps a remembered
    # reservation once L2 leaves it; kiosk goes, app keeps a reservation
    call("admin_remove_region", "/v1/admin/regions/apac/remove", body={"change_id": "ol-1"})
    ck.eq(c.reserve("in-eu", [["SKU-1", "eu", 1]]).get("granted"), True, "a reservation in eu")
    ck.eq(c.reserve("in-app", [["SKU-1", "us-east", 1]], channel="app").get("granted"), True,
          "a reservation in channel app")
    rr = "/v1/admin/regions/eu/remove"
    fail("admin_remove_region", rr, "config", body={"change_id": "ol-2"})  # L2 is in eu
    call("admin_move_location", "/v1/admin/locations/L2", body={"change_id": "ol-3",
                                                                 "region": "us-east"})
    call("admin_move_location", "/v1/admin/locations/L4", body={"change_id": "ol-3b",
                                                                 "region": "us-east"})
    fail("admin_remove_region", rr, "bad_state", body={"change_id": "ol-4"})
    fail("admin_remove_region", rr, "conflict", body={"change_id": "oa-4"})
    fail("admin_remove_region", "/v1/admin/regions/mars/remove", "unknown_region",
         body={"change_id": "ol-5"})
    fail("admin_remove_region", rr, "bad_id", body={"change_id": ""})
    fail("admin_remove_region", rr, "bad_request", body={"change_id": 7})
    call("admin_remove_channel", "/v1/admin/channels/kiosk/remove", body={"change_id": "om-1"})
    rc_ = "/v1/admin/channels/app/remove"
    call("admin_set_buffer", ab, body={"change_id": "om-2", "channel": "app", "units": 1})
    fail("admin_remove_channel", rc_, "config", body={"change_id": "om-3"})  # its rule
    call("admin_remove_buffer", ab + "/remove", body={"change_id": "om-4", "channel": "app"})
    fail("admin_remove_channel", rc_, "bad_state", body={"change_id": "om-5"})
    fail("admin_remove_channel", rc_, "conflict", body={"change_id": "oa-4"})
    fail("admin_remove_channel", "/v1/admin/channels/default/remove", "bad_request",
         body={"change_id": "om-6"})
    fail("admin_remove_channel", "/v1/admin/channels/tv/remove", "unknown_channel",
         body={"change_id": "om-7"})
    fail("admin_remove_channel", rc_, "bad_id", body={"change_id": ""})
    ar = "/v1/admin/regions/"
    call("admin_set_region", ar + "eu", body={"change_id": "of-1", "inbound_horizon": "2d"})
    fail("admin_set_region", ar + "eu", "bad_request", body={"change_id": "of-2"})
    fail("admin_set_region", ar + "eu", "conflict", body={"change_id": "oa-4",
                                                          "inbound_horizon": "1d"})
    fail("admin_set_region", ar + "mars", "unknown_region", body={"change_id": "of-3",
                                                                  "inbound_horizon": "1d"})
    fail("admin_set_region", ar + "eu", "bad_id", body={"change_id": "", "inbound_horizon": "1d"})
    fail("admin_set_region", ar + "eu", "config", body={"change_id": "of-4",
                                                        "inbound_horizon": "9y"})
    for op_id in sorted(api.ops):
        if op_id.startswith("admin_"):
            ck.check(any(200 <= s < 300 for s in called.get(op_id, ())),
                     "route %s (%s %s) answered a valid request" % ((op_id,) + api.ops[op_id][:2]))

    st = call("status", "/v1/status").json
    ck.check(set(st.get("http", {}).get("errors", {})) >= set().union(*provoked.values()),
             "status.http.errors counts every error provoked: %r" % st.get("http"))

    io_phase(h, api, ck, provoked)
    store_full_phase(h, api, ck, provoked)
    for op_id in sorted(api.ops):  # every documented error provoked, no other
        documented = set(api.route_errors(op_id)) - set(UNPROVOKED)
        got = provoked.get(op_id, set())
        ck.eq(sorted(documented - got), [],
              "%s: documented errors this test did not provoke" % op_id)
        ck.eq(sorted(got - documented), [], "%s: errors provoked but not documented" % op_id)

    # ---- unknown routes and methods
    code, status = api.error_schemas()["unknown_op"]
    for path in ("/", "/v1", "/v1/nothing", "/v2/status", "/v1/status/x",
                 "/v1/reservations/a/b/c", "/v1/regions/us-east"):
        r = web.get(path)
        ck.eq((r.status, r.error()), (status, (code, "unknown_op")), "GET %s" % path)
    method_status = api.schema("E_unknown_op")["x-http-status-method"]
    samples = {"{sku}": "SKU-1", "{region}": "us-east", "{id}": "cart-1"}
    for path in sorted(api.doc["paths"]):
        concrete = path
        for k, v in samples.items():
            concrete = concrete.replace(k, v)
        # every route the concrete path matches: GET /v1/availability/cart
        # is the regions of SKU "cart"
        allowed = set()
        for other in api.doc["paths"]:
            if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", other), concrete):
                allowed |= api.methods(other)
        for m in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if m in allowed:
                continue
            r = web.request(m, concrete, body={} if m in ("POST", "PUT", "PATCH") else None)
            ck.eq((r.status, r.error()), (method_status, (code, "unknown_op")),
                  "%s %s" % (m, concrete))
            got = {x.strip().upper() for x in r.headers.get("allow", "").split(",") if x.strip()}
            ck.eq(sorted(got - {"HEAD"}), sorted(allowed), "%s %s: Allow header" % (m, concrete))
    # Last: a reset leaves wms waiting for a snapshot (its regions stale).
    ck.eq(call("source_reset", "/v1/sources/wms/reset").json,
          {"ok": True, "source": "wms", "reset": True}, "source_reset")
    fail("source_reset", "/v1/sources/nope/reset", "not_found")
    web.close()
    d.stop()
    if api.tolerated:
        h.log("PROTOCOL.md still documents feed sequences from start time x 2^20: %d values "
              "above 2^53-1 set aside (%s)", len(api.tolerated),
              ", ".join(sorted(set(api.tolerated))))
    ck.done()
    h.log("every route of docs/openapi.yaml answered as documented (%d checks)", ck.count)


if __name__ == "__main__":
    harness.run(main, "http_openapi")
