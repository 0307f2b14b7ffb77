#!/usr/bin/python3
"""test_http_api.py - every route of docs/HTTP.md over a real HTTP client.

- every route answers the same map as the nng op it maps to (compared with
  the nng reply), with the documented status (201 for a new reservation,
  200 for its replay);
- the reservation lifecycle: reserve, get, extend, commit, release (POST
  and DELETE), lines as objects and as arrays;
- idempotency: a retried POST gets the original answer (200, replayed); a
  conflicting one 409 `conflict`;
- every reply error code a client can cause, with its one HTTP status;
  404 and 405 (with Allow) for unknown routes and methods;
- malformed JSON, a non-object body, duplicate keys, deep nesting, bad
  UTF-8 in the body and in the path, numbers beyond 2^53 and fractions;
- a body over service.query_recv_max_bytes: 413 too_large, before it is
  read when Content-Length says so, and after when it is chunked;
- keep-alive (many requests on one connection), pipelining (3 requests in
  one write, 3 replies in order), a 1,000-line cart;
- status.http counters.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402

MAX_BODY = 64 * 1024


def main(h):
    ck = harness.Checks(h)
    cfg = H.http_config(h, {"query_recv_max_bytes": MAX_BODY, "max_cart_lines": 1000})
    d = h.start_atpd(cfg)
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    H.seed(feed, [("A", "E1", 100), ("B", "E1", 50), ("A", "W1", 40), ("X/1 é", "E1", 7)])
    w = H.Http(d)
    # Compared answers must not differ by a region turning fresh between
    # the two reads (atpd marks regions every ingest tick).
    harness.wait_until(lambda: not (c.atp("A", "east")["stale"] or c.atp("A", "west")["stale"]),
                       10 * harness.TIME_FACTOR, 0.02, "regions fresh")

    # ---- queries: the same map as over nng --------------------------------
    def same(method, path, body, nng_req, what):
        doc = w.ok(method, path, body)
        ck.eq(doc, c.req(nng_req), what + ": HTTP answer equals the nng answer")
        return doc

    same("GET", "/v1/availability/A/east?channel=web", None,
         {"op": "atp", "sku": "A", "region": "east", "channel": "web"}, "atp")
    same("GET", "/v1/availability/A/east", None,
         {"op": "atp", "sku": "A", "region": "east"}, "atp, default channel")
    doc = same("GET", "/v1/availability/" + H.q("X/1 é") + "/east", None,
               {"op": "atp", "sku": "X/1 é", "region": "east"}, "atp, percent-decoded SKU")
    ck.eq(doc.get("supply"), 7, "a SKU with '/', a space and UTF-8 in its path segment")
    same("GET", "/v1/availability/A?channel=app", None,
         {"op": "regions", "sku": "A", "channel": "app"}, "regions")
    cart = [{"sku": "A", "region": "east", "qty": 2}, ["B", "east", 60]]
    doc = same("POST", "/v1/availability/cart", {"channel": "web", "lines": cart},
               {"op": "cart", "channel": "web", "lines": [["A", "east", 2], ["B", "east", 60]]},
               "cart (lines as objects and arrays)")
    ck.eq([l["available"] for l in doc["lines"]], [True, False], "cart lines available")
    same("GET", "/v1/regions/east/availability?limit=2", None,
         {"op": "scan", "region": "east", "limit": 2}, "scan")
    doc = same("GET", "/v1/regions/east/availability?cursor=2&limit=2", None,
               {"op": "scan", "region": "east", "cursor": 2, "limit": 2}, "scan, second page")
    def timeless(doc):  # ages move between the two reads
        return [{k: v for k, v in s.items() if k not in ("age_ms", "lag_ms")}
                for s in doc["sources"]]
    ck.eq(timeless(w.ok("GET", "/v1/sources")), timeless(c.req({"op": "sources"})),
          "sources: HTTP answer equals the nng answer")
    st = w.ok("GET", "/v1/status")
    ck.check(st.get("version") and "http" in st, "status has version and http: %r", st.keys())
    snap = w.ok("POST", "/v1/snapshots")
    ck.check("positions" in snap, "snapshot answers positions: %r", snap)

    # ---- reservations -------------------------------------------------------
    body = {"id": "r-1", "channel": "web", "ttl_ms": 600000,
            "lines": [{"sku": "A", "region": "east", "qty": 3}, ["A", "west", 1]]}
    st1, _, first = w.call("POST", "/v1/reservations", body)
    ck.eq(st1, 201, "a new reservation: 201")
    ck.eq((first.get("granted"), first.get("replayed")), (True, False), "granted, not replayed")
    st2, _, again = w.call("POST", "/v1/reservations", body)
    ck.eq(st2, 200, "the retried reserve: 200")
    ck.eq(again.get("replayed"), True, "the retry is a replay")
    ck.eq(again.get("reservation"), first.get("reservation"), "the retry gets the original record")
    conflict = dict(body, lines=[["A", "east", 4]])
    st3, _, doc = w.call("POST", "/v1/reservations", conflict)
    ck.eq((st3, harness.error_name(doc)), (409, "conflict"), "same id, other content")
    ck.eq(c.atp("A", "east")["reserved"], 3, "the conflict changed nothing")
    got = w.ok("GET", "/v1/reservations/r-1")
    ck.eq(got, c.req({"op": "reservation", "id": "r-1"}), "reservation equals the nng answer")
    ext = w.ok("POST", "/v1/reservations/r-1/extend", {"ttl_ms": 900000})
    ck.check(ext["reservation"]["expires_ms"] > first["reservation"]["expires_ms"],
             "extend moved the expiry: %r", ext)
    com = w.ok("POST", "/v1/reservations/r-1/commit", {"order_ref": "SO-1"})
    ck.eq(com["reservation"]["state"], "committed", "commit")
    ck.eq(w.ok("POST", "/v1/reservations/r-1/commit", {"order_ref": "SO-1"})["replayed"], True,
          "commit again: replayed")
    st4, _, doc = w.call("POST", "/v1/reservations/r-1/commit", {"order_ref": "SO-2"})
    ck.eq((st4, harness.error_name(doc)), (409, "conflict"), "commit with another order_ref")
    rel = w.ok("POST", "/v1/reservations/r-1/release", {"lines": [{"sku": "A", "region": "west"}]})
    ck.eq([l["released"] for l in rel["reservation"]["lines"]], [0, 1], "partial release")
    w.ok("POST", "/v1/reservations", {"id": "r-2", "lines": [["B", "east", 1]]}, status=201)
    rel = w.ok("DELETE", "/v1/reservations/r-2")
    ck.eq(rel["reservation"]["state"], "released", "DELETE releases")
    st5, _, doc = w.call("POST", "/v1/reservations/r-2/extend", {"ttl_ms": 600000})
    ck.eq((st5, harness.error_name(doc)), (409, "bad_state"), "extend a released one")
    st6, _, doc = w.call("POST", "/v1/reservations", {"id": "r-3", "lines": [["B", "east", 999]]})
    ck.eq((st6, doc.get("granted")), (200, False), "a refusal: 200, granted false")
    ck.eq(doc["lines"][0]["available"], 50, "the refusal says what was available")

    # ---- every reply error a client can cause ------------------------------
    long_id = "x" * 129
    cases = [
        ("GET", "/v1/availability/A/mars", None, 422, "unknown_region"),
        ("GET", "/v1/availability/A/east?channel=tv", None, 422, "unknown_channel"),
        ("GET", "/v1/availability/" + "S" * 65 + "/east", None, 422, "bad_sku"),
        ("GET", "/v1/availability/%C3%28/east", None, 422, "bad_sku"),  # bad UTF-8
        ("GET", "/v1/availability/%00/east", None, 422, "bad_sku"),
        ("GET", "/v1/availability/A%zz/east", None, 400, "bad_request"),
        ("POST", "/v1/availability/cart", {"lines": [["A", "east", 0]]}, 422, "bad_qty"),
        ("POST", "/v1/availability/cart", {"lines": [["A", "east", 2 ** 60]]}, 422, "bad_qty"),
        ("POST", "/v1/availability/cart", {"lines": [["A", "east", -2 ** 60]]}, 422, "bad_qty"),
        ("POST", "/v1/availability/cart", {"lines": [["A", "east", 1.5]]}, 400, "bad_request"),
        ("POST", "/v1/availability/cart", {"lines": [["A", "east", "1"]]}, 400, "bad_request"),
        ("POST", "/v1/availability/cart", {"lines": [{"sku": "A", "region": "east"}]}, 400,
         "bad_request"),
        ("POST", "/v1/availability/cart", {"lines": "A"}, 400, "bad_request"),
        ("POST", "/v1/availability/cart", {"lines": []}, 400, "bad_request"),
        ("POST", "/v1/availability/cart", {"lines": [["A", "east", 1]] * 1001}, 422,
         "too_many_lines"),
        ("POST", "/v1/reservations", {"id": "r-9", "lines": [["A", "east", 1]] * 1001}, 422,
         "too_many_lines"),
        ("POST", "/v1/reservations", {"id": long_id, "lines": [["A", "east", 1]]}, 422, "bad_id"),
        ("POST", "/v1/reservations", {"id": 7, "lines": [["A", "east", 1]]}, 400, "bad_request"),
        ("POST", "/v1/reservations", {"id": "r-9", "ttl_ms": 1, "lines": [["A", "east", 1]]}, 422,
         "bad_ttl"),
        ("POST", "/v1/reservations", {"id": "r-9", "ttl_ms": 2 ** 70, "lines": [["A", "east", 1]]},
         422, "bad_ttl"),
        ("POST", "/v1/reservations", {"id": "r-9", "ttl_ms": 2000.5,
                                      "lines": [["A", "east", 1]]}, 400, "bad_request"),
        ("GET", "/v1/reservations/nope", None, 404, "not_found"),
        ("POST", "/v1/reservations/nope/commit", None, 404, "not_found"),
        ("POST", "/v1/reservations/r-1/extend", None, 400, "bad_request"),
        ("POST", "/v1/reservations/r-1/release", {"lines": []}, 400, "bad_request"),
        ("GET", "/v1/regions/east/availability?limit=0", None, 400, "bad_request"),
        ("GET", "/v1/regions/east/availability?cursor=-1", None, 400, "bad_request"),
        ("GET", "/v1/regions/mars/availability", None, 422, "unknown_region"),
        ("GET", "/v1/nowhere", None, 404, "unknown_op"),
        ("GET", "/v1/availability/A/east/more", None, 404, "unknown_op"),
        ("PUT", "/v1/status", None, 405, "unknown_op"),
        ("POST", "/v1/availability/cart", b"{\"lines\": [", 400, "bad_request"),
        ("POST", "/v1/availability/cart", b"[1, 2]", 400, "bad_request"),
        ("POST", "/v1/availability/cart", b"{\"lines\": 1, \"lines\": 2}", 400, "bad_request"),
        ("POST", "/v1/availability/cart", b"{\"channel\": \"\xc3\x28\"}", 400, "bad_request"),
        ("POST", "/v1/availability/cart", b"{\"channel\": \"a\\u0000b\"}", 400, "bad_request"),
        ("POST", "/v1/availability/cart", b"{\"x\": " + b"[" * 8 + b"]" * 8 + b"}", 413,
         "too_large"),
    ]
    for method, path, body, status, name in cases:
        st, hdrs, doc = w.call(method, path, body)
        what = "%s %s %s" % (method, path[:60], (repr(body)[:60] if body is not None else ""))
        ck.eq((st, harness.error_name(doc)), (status, name), what)
        err = doc.get("error") or {}
        ck.check(doc.get("ok") is False and isinstance(err.get("code"), int) and err.get("message"),
                 "%s: an error map with code and message: %r", what, doc)
        if status == 405:
            ck.eq(hdrs.get("allow"), "GET, HEAD", "405 names the allowed methods")
    st, _, doc = w.call("POST", "/v1/availability/cart",
                        {"lines": [["A", "east", 1], ["A", "mars", 1]]})
    ck.eq((st, harness.error_name(doc), doc["error"].get("line")), (422, "unknown_region", 1),
          "an error in a line names the line")
    # The route's fields win over the body's: the id comes from the path.
    st, _, doc = w.call("POST", "/v1/reservations/nope/commit", {"id": "r-1"})
    ck.eq(st, 404, "a body's id does not override the path's")

    # ---- body size ----------------------------------------------------------
    # Over the limit: answered at once, before the body is read, when its
    # length is declared (the connection closes); a chunked one at its end.
    big = {"lines": [["A", "east", 1]] * 9000}  # about 150 KB
    chunk = json.dumps(big).encode()
    s = H.raw_socket(d)
    s.sendall(b"POST /v1/availability/cart HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(chunk))
    f = s.makefile("rb")
    st, hdrs, raw = H.read_response(f)  # no body sent at all
    ck.eq((st, json.loads(raw)["error"]["name"]), (413, "too_large"),
          "a body declared over the limit: 413 before it is sent")
    f.close()
    s.close()
    s = H.raw_socket(d)
    s.sendall(b"POST /v1/availability/cart HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
    f = s.makefile("rb")
    st, _, raw = H.read_response(f)
    ck.eq((st, json.loads(raw)["error"]["name"]), (413, "too_large"),
          "a chunked body over the limit: read to its end (discarded), then 413")
    s.sendall(H.request_bytes("GET", "/v1/availability/A/east"))
    st, _, raw = H.read_response(f)
    ck.eq(st, 200, "and the connection serves the next request")
    f.close()
    s.close()
    s = H.raw_socket(d)
    s.sendall(b"POST /v1/nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (10 * MAX_BODY))
    f = s.makefile("rb")
    st, _, raw = H.read_response(f)
    ck.eq((st, json.loads(raw)["error"]["name"]), (413, "too_large"),
          "an unknown route with a body declared over the limit: 413 before it is sent")
    f.close()
    s.close()
    # A refused request with a body of allowed size keeps the connection.
    n0 = w.ok("GET", "/v1/status")["http"]["connections_total"]
    st, _, doc = w.call("POST", "/v1/nowhere", {"lines": [["A", "east", 1]] * 100})
    ck.eq(st, 404, "an unknown route with a body")
    st, _, doc = w.call("PUT", "/v1/reservations/r-1", {"id": "r-1"})
    ck.eq(st, 405, "another method with a body")
    ck.eq(w.ok("GET", "/v1/status")["http"]["connections_total"], n0,
          "both answered on the same keep-alive connection")
    # Just under the limit is read and answered (an unknown member is
    # ignored, as over nng).
    ok_lines = {"lines": [["A", "east", 1]] * 900, "pad": "p" * 45000}
    ck.check(len(json.dumps(ok_lines)) < MAX_BODY, "the small body is under the limit")
    st, _, doc = w.call("POST", "/v1/availability/cart", ok_lines)
    ck.eq(st, 200, "a body under the limit is served")
    # ---- HEAD ----------------------------------------------------------------
    # GET without the body: same status and headers; the connection then
    # serves the next request (no stray body bytes). Not on the event stream.
    s = H.raw_socket(d)
    f = s.makefile("rb")
    s.sendall(H.request_bytes("GET", "/v1/availability/A/east"))
    _, ghdrs, graw = H.read_response(f)
    s.sendall(H.request_bytes("HEAD", "/v1/availability/A/east"))
    st, hhdrs, _ = H.read_response(f, head=True)
    ck.eq((st, hhdrs.get("content-type"), hhdrs.get("content-length")),
          (200, ghdrs.get("content-type"), str(len(graw))),
          "HEAD of a GET route: GET's status, type and length, no body")
    s.sendall(H.request_bytes("HEAD", "/v1/changes?region=east"))
    st, hhdrs, _ = H.read_response(f, head=True)
    ck.eq((st, hhdrs.get("allow")), (405, "GET"), "HEAD of the event stream: 405, Allow: GET")
    s.sendall(H.request_bytes("GET", "/v1/status"))
    st, _, raw = H.read_response(f)
    ck.eq((st, json.loads(raw)["ok"]), (200, True), "the connection serves the next request")
    f.close()
    s.close()
    # ---- keep-alive and pipelining -----------------------------------------
    before = w.ok("GET", "/v1/status")["http"]
    for i in range(200):
        w.ok("GET", "/v1/availability/A/east")
    after = w.ok("GET", "/v1/status")["http"]
    ck.eq(after["connections_total"], before["connections_total"],
          "200 requests on one keep-alive connection open no other")
    ck.eq(after["requests"] - before["requests"], 201, "status.http.requests counts each")
    s = H.raw_socket(d)
    s.sendall(H.request_bytes("GET", "/v1/availability/A/east") +
              H.request_bytes("POST", "/v1/availability/cart", {"lines": [["B", "east", 1]]}) +
              H.request_bytes("GET", "/v1/availability/A/west"))
    f = s.makefile("rb")
    answers = [H.read_response(f) for _ in range(3)]
    ck.eq([a[0] for a in answers], [200, 200, 200], "3 pipelined requests answered")
    ck.eq([json.loads(a[2]).get("sku") or json.loads(a[2])["lines"][0]["sku"] for a in answers],
          ["A", "B", "A"], "pipelined replies in request order")
    ck.eq(json.loads(answers[2][2])["region"], "west", "the third pipelined reply is the third's")
    # Pipelined behind a reservation (its connection waits on the engine,
    # suspended, with the next requests already read).
    s.sendall(H.request_bytes("POST", "/v1/reservations", {"id": "p-1", "lines": [["B", "east", 1]]})
              + H.request_bytes("GET", "/v1/reservations/p-1")
              + H.request_bytes("POST", "/v1/reservations/p-1/extend", {"ttl_ms": 600000})
              + H.request_bytes("GET", "/v1/availability/B/east"))
    answers = [H.read_response(f) for _ in range(4)]
    ck.eq([a[0] for a in answers], [201, 200, 200, 200], "pipelined reservation operations")
    ck.eq(json.loads(answers[1][2])["reservation"]["id"], "p-1", "in order")
    ck.eq(json.loads(answers[3][2])["reserved"], 1, "the reservation counted before the read")
    f.close()
    s.close()

    # ---- a 1,000-line cart and a 1,000-line reservation ---------------------
    lines = [{"sku": "A" if i % 2 else "B", "region": "east", "qty": 1} for i in range(1000)]
    H.seed(feed, [("A", "E1", 10000), ("B", "E1", 10000)])
    doc = w.ok("POST", "/v1/availability/cart", {"lines": lines})
    ck.eq(len(doc["lines"]), 1000, "a 1,000-line cart answers 1,000 lines")
    ck.eq(doc["available"], True, "the 1,000-line cart is available")
    doc = w.ok("POST", "/v1/reservations", {"id": "big", "lines": lines}, status=201)
    ck.eq(len(doc["reservation"]["lines"]), 2, "1,000 lines on 2 keys merge to 2")

    # ---- counters -----------------------------------------------------------
    hs = w.ok("GET", "/v1/status")["http"]
    ck.check(hs["errors"].get("unknown_region", 0) >= 3 and hs["errors"].get("conflict", 0) >= 2,
             "status.http.errors by name: %r", hs["errors"])
    ck.check(hs["rejected"] >= 8, "rejected counts the HTTP layer's own answers: %r", hs)
    ck.check(hs["connections"] >= 1, "connections open now: %r", hs)
    ck.eq(c.status()["http"]["listen"], "http://127.0.0.1:%d" % H.http_addr(d)[1],
          "status over nng shows the HTTP listener too")
    w.close()
    feed.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "http_api")
