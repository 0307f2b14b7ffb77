#!/usr/bin/python3
"""test_admin_http.py - run-time administration over HTTP and with tokens
(issue 16, "Administration at run time"; docs/HTTP.md, "Admin";
docs/SECURITY.md: the admin scope):

1. With tokens: a read token (and a reserve one) is refused every admin
   route and op with forbidden (30, HTTP 403), no token with
   unauthenticated (29, 401); the version and the rules did not change.
2. An admin token: GET /v1/admin, PUT /v1/admin/buffers (units, percent as
   an integer and as a string), POST /v1/admin/buffers/remove,
   PUT /v1/admin/locations/{id}, GET /v1/admin/history (paged with after
   and limit), GET /v1/admin/export; each change answers the next
   version, and ATP over HTTP follows the rules (model). The audit record
   names the token ("admin" over HTTP, "ops" over nng).
3. Errors over HTTP: unknown region 422, conflict 409, no rule 404, a
   value the file's checks refuse 422 (config), a bad body 400.
4. The export passes `atpd --check-config`.
5. atpctl admin list|set-buffer|remove-buffer|move-location|history|export
   over nng and over HTTP (--endpoint http://...), human and --json, with
   the admin token; exit 1 with the code on a refused change, 2 on bad
   words.

Label: integration, admin, http. Bounded: a few seconds.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
from test_security_auth import TOKENS, TokClient, tok, token_entries  # noqa: E402

E_UNAUTH, E_FORBIDDEN = 29, 30


def main(h):
    cfg = H.http_config(h)
    cfg["auth"] = {"tokens": token_entries(TOKENS)}
    cfg["buffers"] = [{"region": "east", "units": 2}]
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    web = H.Http(d)

    def call(method, path, body=None, token=None):
        hdrs = {"Authorization": "Bearer " + token} if token else {}
        return web.call(method, path, body, headers=hdrs)

    admin = tok("admin")
    st, _, doc = call("GET", "/v1/admin", token=admin)
    ck.eq((st, doc.get("version")), (200, 1), "GET /v1/admin with the admin token")
    rules0 = doc["buffers"]

    # 1. refused without the admin scope; nothing changes
    routes = [("GET", "/v1/admin", None), ("GET", "/v1/admin/export", None),
              ("GET", "/v1/admin/history", None),
              ("PUT", "/v1/admin/buffers", {"change_id": "x1", "units": 9}),
              ("POST", "/v1/admin/buffers/remove", {"change_id": "x2", "region": "east"}),
              ("PUT", "/v1/admin/locations/E1", {"change_id": "x3", "region": "west"}),
              ("PATCH", "/v1/admin/locations/E1", {"change_id": "x5", "pickup": True})]
    for method, path, body in routes:
        for who, token, code, status in (("reader", tok("reader"), E_FORBIDDEN, 403),
                                         ("shop-a", tok("shop-a"), E_FORBIDDEN, 403),
                                         ("none", None, E_UNAUTH, 401)):
            st, _, doc = call(method, path, body, token)
            ck.eq((st, harness.error_code(doc)), (status, code),
                  "%s %s with %s: refused" % (method, path, who))
    nng_read = TokClient(d.query_port, tok("reader"), d=d)
    for op in ("admin_list", "admin_history", "admin_export"):
        ck.eq(harness.error_code(nng_read.req({"op": op})), E_FORBIDDEN, "nng %s, read token" % op)
    r = nng_read.req({"op": "admin_set_buffer", "change_id": "x4", "units": 9})
    ck.eq(harness.error_code(r), E_FORBIDDEN, "nng admin_set_buffer, read token")
    r = nng_read.req({"op": "admin_set_location", "change_id": "x6", "location": "E1",
                      "pickup": True})
    ck.eq(harness.error_code(r), E_FORBIDDEN, "nng admin_set_location, read token")
    st, _, doc = call("GET", "/v1/admin", token=admin)
    ck.eq((doc["version"], doc["buffers"]), (1, rules0), "nothing changed by the refusals")

    # 2. changes with the admin token
    def put(path, body, status=200, method="PUT"):
        st, _, doc = call(method, path, body, admin)
        ck.eq(st, status, "%s %s %r: HTTP %d %r" % (method, path, body, st, doc))
        return doc

    ck.eq(put("/v1/admin/buffers", {"change_id": "h1", "sku": "A", "units": 3})["version"], 2,
          "set A: version 2")
    ck.eq(put("/v1/admin/buffers", {"change_id": "h2", "sku": "B", "region": "west",
                                    "percent": "12.5"})["version"], 3, "set B/west 12.5 %")
    ck.eq(put("/v1/admin/buffers", {"change_id": "h3", "channel": "app", "percent": 50})["version"],
          4, "set app 50 %")
    ck.eq(put("/v1/admin/buffers/remove", {"change_id": "h4", "region": "east"},
              method="POST")["version"], 5, "remove the east rule")
    ck.eq(put("/v1/admin/locations/E1", {"change_id": "h5", "region": "west"})["version"], 6,
          "E1 moved to west")
    doc = put("/v1/admin/buffers", {"change_id": "h1", "sku": "A", "units": 3})
    ck.eq((doc["version"], doc["replayed"]), (2, True), "h1 again: replayed")

    # ATP over HTTP: stock at E1 (now west) and W1
    pub = harness.Publisher(d, TokClient(d.query_port, tok("ops"), d=d))
    pub.send_payload(pub.next_batch("wms", [[2, "A", "E1", 0, 10], [2, "B", "W1", 0, 20],
                                            [2, "C", "W1", 0, 7]])[1])
    pub.wait_applied("wms")

    def atp(sku, region, channel=None):
        path = "/v1/availability/%s/%s" % (sku, region)
        if channel:
            path += "?channel=" + channel
        st, _, doc = call("GET", path, token=tok("reader"))
        return doc["supply"], doc["atp"]
    ck.eq(atp("A", "west"), (10, 7), "A/west: E1's 10, buffer 3")
    ck.eq(atp("A", "east"), (0, 0), "A/east: nothing (E1 moved)")
    ck.eq(atp("B", "west"), (20, 17), "B/west: 12.5 % of 20 is 2.5 -> 3")
    ck.eq(atp("C", "west", "app"), (7, 3), "C/west/app: 50 % of 7 -> 4")
    ck.eq(atp("C", "west"), (7, 7), "C/west default channel: no rule")

    # history, paged
    st, _, doc = call("GET", "/v1/admin/history?after=1&limit=2", token=admin)
    ck.eq([(x["version"], x["op"], x["who"]) for x in doc["changes"]],
          [(2, "set_buffer", "admin"), (3, "set_buffer", "admin")], "history page 1")
    ck.eq(doc["next_after"], 3, "history: next page after 3")
    st, _, doc = call("GET", "/v1/admin/history?after=5", token=admin)
    ck.eq([(x["op"], x["before"], x["after"], x["change_id"]) for x in doc["changes"]],
          [("move_location", "region east", "region west", "h5")], "the move's record")
    ops = TokClient(d.query_port, tok("ops"), d=d)
    r = ops.req({"op": "admin_set_buffer", "change_id": "n1", "sku": "D", "low_stock": 4})
    ck.eq(r.get("version"), 7, "nng with the ops token: %r" % (r,))
    hist = ops.req({"op": "admin_history", "after": 6})["changes"]
    ck.eq([x["who"] for x in hist], ["ops"], "the nng change's record names its token")

    # 3. errors over HTTP
    for body, status, code, what in (
            ({"change_id": "e1", "region": "mars", "units": 1}, 422, 3, "unknown region"),
            ({"change_id": "h1", "sku": "A", "units": 4}, 409, 18, "conflict"),
            ({"change_id": "e3", "sku": "A", "percent": "101"}, 422, 15, "out of range"),
            ({"change_id": "e3", "sku": "A", "percent": "150.000"}, 422, 15,
             "out of range, trailing zeros (the file's syntax)"),
            ({"change_id": "e3", "sku": "A", "percent": "0000000000000150"}, 422, 15,
             "out of range, leading zeros"),
            ({"change_id": "e6", "sku": "A", "percent": 1000000}, 422, 15,
             "far out of range: still the file's check"),
            ({"change_id": "e7", "sku": "A", "percent": 2 ** 52}, 422, 15,
             "2^52 percent: the file's check"),

            ({"change_id": "e4", "sku": "A", "units": "x"}, 400, 1, "units not an integer")):
        st, _, doc = call("PUT", "/v1/admin/buffers", body, admin)
        ck.eq((st, harness.error_code(doc)), (status, code), what + ": %r" % (doc,))
    # over nng a percent can be any int64: one with no basis points is
    # still the file's range check, not bad_request
    r = ops.req({"op": "admin_set_buffer", "change_id": "e8", "sku": "A", "percent": 2 ** 62})
    ck.eq(harness.error_code(r), 15, "percent 2^62 over nng: config (%r)" % (r,))
    st, _, doc = call("POST", "/v1/admin/buffers/remove", {"change_id": "e5", "sku": "Q"}, admin)
    ck.eq((st, harness.error_code(doc)), (404, 19), "remove without a rule")
    st, _, doc = call("PUT", "/v1/admin/buffers", "{not json", admin)
    ck.eq(st, 400, "a body that is no JSON")
    st, _, doc = call("GET", "/v1/admin", token=admin)
    ck.eq(doc["version"], 7, "no version from the errors")

    # 4. export
    st, _, doc = call("GET", "/v1/admin/export", token=admin)
    path = os.path.join(d.dir, "export.yaml")
    with open(path, "w") as fh:
        fh.write(doc["config"])
    p = subprocess.run([h.atpd_bin, "--check-config", path], capture_output=True,
                       text=True, timeout=30)
    ck.eq(p.returncode, 0, "--check-config accepts the export: %s" % p.stderr)
    ck.check("E1" in doc["config"] and "west" in doc["config"], "the export has E1's new region")

    # 5. atpctl, over nng and over HTTP
    host, port = H.http_addr(d)
    env_tok = ["--token", admin]
    for ep, first in ((d.query_url, 8), ("http://%s:%d" % (host, port), 11)):
        def ctl(*args):
            r = harness.run_ctl(h, ["--endpoint", ep] + env_tok + list(args))
            return r.returncode, r.stdout, r.stderr
        rc, out, err = ctl("--json", "admin", "set-buffer", "k%d" % first, "sku=K",
                           "region=west", "units=2", "percent=1.5")
        ck.eq((rc, harness.last_json(out).get("version")), (0, first),
              "%s: atpctl admin set-buffer --json (%s)" % (ep, err))
        rc, out, err = ctl("admin", "set-buffer", "k%d" % first, "sku=K", "region=west",
                           "units=2", "percent=1.5")
        ck.check(rc == 0 and "replayed" in out, "%s: again, human: %r %r" % (ep, out, err))
        rc, out, err = ctl("admin", "move-location", "m%d" % first, "E1", "east")
        ck.check(rc == 0 and "version %d" % (first + 1) in out, "%s: move-location: %r %r"
                 % (ep, out, err))
        rc, out, err = ctl("admin", "remove-buffer", "r%d" % first, "sku=K", "region=west")
        ck.check(rc == 0 and "version %d" % (first + 2) in out, "%s: remove-buffer: %r %r"
                 % (ep, out, err))
        rc, out, err = ctl("admin", "list")
        ck.check(rc == 0 and "version %d" % (first + 2) in out and "E1" in out,
                 "%s: admin list: %r" % (ep, out))
        rc, out, err = ctl("--json", "admin", "history", str(first - 1), "--limit", "2")
        doc = harness.last_json(out) or {}
        ck.eq([x["op"] for x in doc.get("changes", [])], ["set_buffer", "move_location"],
              "%s: admin history --json" % ep)
        rc, out, err = ctl("admin", "export")
        ck.check(rc == 0 and out.startswith("# atpd's run-time administered state"),
                 "%s: admin export prints the document: %r" % (ep, out[:80]))
        rc, out, err = ctl("admin", "set-buffer", "bad%d" % first, "region=mars", "units=1")
        ck.check(rc == 1 and "unknown_region" in err, "%s: refused: exit 1: %r" % (ep, err))
        rc, out, err = ctl("admin", "set-buffer", "bad", "colour=red")
        ck.eq(rc, 2, "%s: bad words: usage" % ep)
    rc, out, err = ctl("admin", "export")
    with open(path, "w") as fh:
        fh.write(out)
    p = subprocess.run([h.atpd_bin, "--check-config", path], capture_output=True,
                       text=True, timeout=30)
    ck.eq(p.returncode, 0, "--check-config accepts atpctl admin export: %s" % p.stderr)

    # 6. one change, one text: a SKU "*" is not the any scope (same id:
    # conflict, not a replay of the other); one horizon in two writings is
    # the same change; a percent the file refuses is refused here too.
    st, _, doc = call("GET", "/v1/admin", token=admin)
    v = doc["version"]

    def global_rules():
        st, _, doc = call("GET", "/v1/admin", token=admin)
        return [b for b in doc["buffers"]
                if (b["sku"], b["region"], b["channel"]) == (None, None, None)]
    globals_before = global_rules()
    ck.eq(put("/v1/admin/buffers", {"change_id": "star", "sku": "*", "units": 1})["version"],
          v + 1, "a rule for the SKU named *")
    st, _, doc = call("PUT", "/v1/admin/buffers", {"change_id": "star", "units": 1}, admin)
    ck.eq((st, harness.error_code(doc)), (409, 18), "the any scope under that id: %r" % (doc,))
    ck.eq(global_rules(), globals_before, "no global rule was made")
    ck.eq(put("/v1/admin/regions/west", {"change_id": "hz", "inbound_horizon": "30m"},
              method="PATCH")["version"], v + 2, "horizon 30m")
    for again in (1800000, "1800000ms", "1800s"):
        doc = put("/v1/admin/regions/west", {"change_id": "hz", "inbound_horizon": again},
                  method="PATCH")
        ck.eq((doc["version"], doc["replayed"]), (v + 2, True), "30m written as %r" % (again,))
    for bad in (" 5", "+5", ".5", "5.", "1.234"):
        st, _, doc = call("PUT", "/v1/admin/buffers",
                          {"change_id": "pc", "sku": "Q", "percent": bad}, admin)
        ck.eq((st, harness.error_code(doc)), (400, 1), "percent %r: the file's syntax" % bad)
    # the file's message echoes a control character as \xHH (PROTOCOL.md)
    st, _, doc = call("PATCH", "/v1/admin/locations/E1", {"change_id": "ctl", "type": "a\u0001b"},
                      admin)
    ck.eq((st, harness.error_code(doc)), (422, 15), "a type with a control character: %r" % (doc,))
    ck.check("'a\\x01b'" in doc.get("error", {}).get("message", ""),
             "the message shows it as \\x01: %r" % (doc,))
    # many: shown 4 bytes each, shortened within the message's room
    st, _, doc = call("PATCH", "/v1/admin/locations/E1",
                      {"change_id": "ctl2", "type": "a" + "\u0001" * 12}, admin)
    ck.eq((st, harness.error_code(doc)), (422, 15), "12 control characters: %r" % (doc,))
    st, _, doc = call("GET", "/v1/admin", token=admin)
    ck.eq(doc["version"], v + 2, "nothing from the refusals")

    web.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "admin_http")
