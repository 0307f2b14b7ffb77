#!/usr/bin/python3
"""test_admin_locations.py - a location's type and pickup settings changed
at run time (issue 16, "Administration at run time": locations; docs/PROTOCOL.md,
"Run-time administration", admin_set_location; docs/HTTP.md, "Admin"):

1. admin_set_location over nng makes a location pickup-enabled with a
   type and a pickup_buffer: the next pickup answer (and pickup_only, and
   explain's type) has them at once; admin_list shows them; the audit
   record has the values before and after; the same change id answers
   replayed, another change under it conflict.
2. Bad input answers its stable code and changes nothing (version,
   admin_list, the pickup answer): unknown location, a type the file's
   checks refuse (empty, too long: the file's message), a type that is no
   string, pickup not a boolean, pickup_buffer negative or beyond 10^15,
   nothing to change, no change_id.
3. Over HTTP: PATCH /v1/admin/locations/{id} (200, the next version),
   and its errors (422 unknown_location / config / bad_qty, 409, 400).
4. SIGHUP with the file unchanged: the admin state's settings stay.
5. kill -9 right after an acknowledged change, restart: the settings,
   version and history survive, and the pickup answers use them.
6. admin_export passes `atpd --check-config` and carries the settings.
7. atpctl admin set-location over nng and HTTP, human and --json; a
   refused change exits 1 with the code, bad words 2; admin list shows
   the columns.

Label: integration, admin, pickup, http. Bounded: a few seconds (x4 under
sanitizers).
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import admin_util as A  # noqa: E402
import harness  # noqa: E402
import http_util as H  # noqa: E402
from test_ops_reload import Log, write_config  # noqa: E402

E = {"bad_request": 1, "unknown_location": 5, "bad_qty": 7, "config": 15,
     "conflict": 18, "bad_id": 27}


def locs_of(c):
    return {l["id"]: (l["region"], l["type"], l["pickup"], l["pickup_buffer"])
            for l in c.ok({"op": "admin_list"})["locations"]}


def pickup_of(c, sku="A", region="east", only=False):
    r = c.ok({"op": "pickup", "sku": sku, "region": region, "pickup_only": only})
    return {l["location"]: (l["type"], l["pickup"], l["buffer"], l["pickup_atp"])
            for l in r["locations"]}


def change(c, cid, location, **fields):
    body = {"op": "admin_set_location", "change_id": cid, "location": location}
    body.update(fields)
    return c.req(body)


def main(h):
    cfg = H.http_config(h)
    cfg["locations"].append({"id": "E2", "region": "east", "type": "store",
                             "pickup": True, "pickup_buffer": 1})
    cfg["sources"][0]["authority"][0]["locations"].append("E2")
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)
    pub.send_payload(pub.next_batch("wms", [[2, "A", "E1", 0, 10], [2, "A", "E2", 0, 6]])[1])
    pub.wait_applied("wms")

    # the file's settings: E1 a dc without pickup, E2 a store with buffer 1
    ck.eq(locs_of(c), {"E1": ("east", "dc", False, 0), "W1": ("west", "dc", False, 0),
                       "E2": ("east", "store", True, 1)}, "admin_list: the file's settings")
    ck.eq(pickup_of(c), {"E1": ("dc", False, 0, 0), "E2": ("store", True, 1, 5)},
          "pickup before: E1 takes no pickup")

    # 1. E1 becomes a pickup store with a buffer of 2: at once
    r = change(c, "s1", "E1", type="store", pickup=True, pickup_buffer=2)
    ck.eq((r.get("ok"), r.get("version"), r.get("replayed")), (True, 2, False),
          "admin_set_location E1: version 2 (%r)" % (r,))
    ck.eq(pickup_of(c), {"E1": ("store", True, 2, 8), "E2": ("store", True, 1, 5)},
          "pickup after: E1 answers min(10 - 2, region 16)")
    ck.eq(sorted(pickup_of(c, only=True)), ["E1", "E2"], "pickup_only lists E1 now")
    ex = c.ok({"op": "explain", "sku": "A"})
    ck.eq({l["location"]: l["type"] for l in ex["locations"]}, {"E1": "store", "E2": "store"},
          "explain shows E1's new type")
    ck.eq(locs_of(c)["E1"], ("east", "store", True, 2), "admin_list: E1's new settings")
    hist = c.ok({"op": "admin_history", "after": 1})["changes"]
    ck.eq([(x["op"], x["change_id"], x["before"], x["after"]) for x in hist],
          [("set_location", "s1", 'type "dc", pickup false, pickup_buffer 0',
            'type "store", pickup true, pickup_buffer 2')], "the audit record")
    # only what is given changes
    r = change(c, "s2", "E2", pickup=False)
    ck.eq(r.get("version"), 3, "E2 pickup off: version 3 (%r)" % (r,))
    ck.eq(locs_of(c)["E2"], ("east", "store", False, 1), "E2 keeps its type and buffer")
    ck.eq(pickup_of(c)["E2"], ("store", False, 1, 0), "E2 answers 0: no pickup")
    ck.eq(sorted(pickup_of(c, only=True)), ["E1"], "pickup_only: E2 left out")
    r = change(c, "s1", "E1", type="store", pickup=True, pickup_buffer=2)
    ck.eq((r.get("version"), r.get("replayed")), (2, True), "s1 again: replayed")
    r = change(c, "s1", "E1", pickup=False)
    ck.eq(harness.error_code(r), E["conflict"], "s1 with another change: conflict")

    # 2. bad input: its code, nothing changed
    before = (c.ok({"op": "admin_list"}), pickup_of(c))
    bad = [
        ({"location": "E9", "pickup": True}, "unknown_location", "unknown location"),
        ({"location": "E1", "type": ""}, "config", "type: '' is empty"),
        ({"location": "E1", "type": "x" * 65}, "config", "expected an id of 1..64"),
        ({"location": "E1", "type": "a\tb"}, "config", "type"),
        ({"location": "E1", "type": "x" * 300}, "bad_request", "at most 256"),
        ({"location": "E1", "type": 5}, "bad_request", "'type' must be a string"),
        ({"location": "E1", "pickup": "yes"}, "bad_request", "true or false"),
        ({"location": "E1", "pickup_buffer": -1}, "bad_qty", "0.."),
        ({"location": "E1", "pickup_buffer": 10 ** 15 + 1}, "bad_qty", "0.."),
        ({"location": "E1"}, "bad_request", "give at least one"),
        ({"location": "", "pickup": True}, "unknown_location", "location"),
    ]
    for i, (f, code, text) in enumerate(bad):
        r = change(c, "bad%d" % i, **f)
        ck.eq(harness.error_code(r), E[code], "%r: %s (%r)" % (f, code, r))
        ck.check(text in str(r), "%r: the message says %r: %r" % (f, text, r))
    r = c.req({"op": "admin_set_location", "location": "E1", "pickup": True})
    ck.eq(harness.error_code(r), E["bad_request"], "no change_id")
    ck.eq((c.ok({"op": "admin_list"}), pickup_of(c)), before, "nothing changed by bad input")

    # 3. HTTP
    web = H.Http(d)
    st, _, doc = web.call("PATCH", "/v1/admin/locations/W1",
                          {"change_id": "h1", "type": "locker", "pickup": True})
    ck.eq((st, doc.get("version")), (200, 4), "PATCH /v1/admin/locations/W1: %r" % (doc,))
    ck.eq(pickup_of(c, region="west")["W1"][:3], ("locker", True, 0), "W1 over nng after PATCH")
    st, _, doc = web.call("GET", "/v1/pickup/west/A")
    ck.eq((st, [(l["location"], l["type"], l["pickup"]) for l in doc["locations"]]),
          (200, [("W1", "locker", True)]), "GET /v1/pickup/west/A")
    for body, path, status, code in (
            ({"change_id": "h2", "pickup": True}, "E9", 422, "unknown_location"),
            ({"change_id": "h3", "type": ""}, "W1", 422, "config"),
            ({"change_id": "h4", "pickup_buffer": -3}, "W1", 422, "bad_qty"),
            ({"change_id": "h1", "pickup": False}, "W1", 409, "conflict"),
            ({"change_id": "h5", "pickup": 1}, "W1", 400, "bad_request"),
            ({"change_id": "h6"}, "W1", 400, "bad_request")):
        st, _, doc = web.call("PATCH", "/v1/admin/locations/" + path, body)
        ck.eq((st, harness.error_code(doc)), (status, E[code]), "PATCH %s %r: %r" % (path, body, doc))
    st, _, doc = web.call("GET", "/v1/admin")
    ck.eq(doc["version"], 4, "no version from the HTTP errors")

    # 4. SIGHUP, file unchanged: the admin state's settings stay
    log = Log(d)
    pub.close()
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("admin state (version 4) stays", "SIGHUP, file unchanged")
    ck.eq(pickup_of(c)["E1"], ("store", True, 2, 8), "after SIGHUP: E1 keeps the admin settings")

    # 5. kill -9 right after an acknowledged change
    r = change(c, "s5", "E1", pickup_buffer=4)
    ck.eq(r.get("version"), 5, "E1 buffer 4: version 5")
    ck.check(c.snapshot().get("ok") is True, "positions stored")
    web.close()
    c = A.kill9_keeps_state(ck, d, c)
    ck.eq(pickup_of(c), {"E1": ("store", True, 4, 6), "E2": ("store", False, 1, 0)},
          "pickup after kill -9: the stored settings")
    r = change(c, "s5", "E1", pickup_buffer=4)
    ck.eq((r.get("version"), r.get("replayed")), (5, True), "s5 replayed after the restart")

    # 6. export -> --check-config
    exp = A.export_checked(ck, h, d, c)
    ck.check('type: "locker"' in exp and "pickup_buffer: 4" in exp,
             "the export carries the settings: %s" % exp)

    # 7. atpctl over nng and HTTP
    host, port = H.http_addr(d)
    for ep, first in ((d.query_url, 6), ("http://%s:%d" % (host, port), 8)):
        ctl = A.ctl_at(h, ep)
        rc, out, err = ctl("--json", "admin", "set-location", "t%d" % first, "E2",
                           "type=kiosk", "pickup=true")
        ck.eq((rc, (harness.last_json(out) or {}).get("version")), (0, first),
              "%s: atpctl admin set-location --json (%s)" % (ep, err))
        rc, out, err = ctl("admin", "set-location", "t%d" % first, "E2", "type=kiosk",
                           "pickup=true")
        ck.check(rc == 0 and "replayed" in out, "%s: again, human: %r %r" % (ep, out, err))
        rc, out, err = ctl("admin", "set-location", "u%d" % first, "E2", "pickup_buffer=%d" % first)
        ck.check(rc == 0 and "version %d" % (first + 1) in out,
                 "%s: set-location pickup_buffer: %r %r" % (ep, out, err))
        rc, out, err = ctl("admin", "list")
        ck.check(rc == 0 and "kiosk" in out and "PICKUP_BUFFER" in out,
                 "%s: admin list shows type and pickup: %r" % (ep, out))
        rc, out, err = ctl("admin", "set-location", "v%d" % first, "E9", "pickup=true")
        ck.check(rc == 1 and "unknown_location" in err, "%s: refused: exit 1: %r" % (ep, err))
        rc, out, err = ctl("admin", "set-location", "v%d" % first, "E2", "colour=red")
        ck.eq(rc, 2, "%s: bad words: usage" % ep)
        rc, out, err = ctl("admin", "set-location", "v%d" % first, "E2", "pickup=maybe")
        ck.eq(rc, 2, "%s: pickup=maybe: usage" % ep)
    ck.eq(pickup_of(c)["E2"], ("kiosk", True, 8, 0 if 6 - 8 < 0 else 6 - 8),
          "E2 after atpctl: kiosk, pickup, buffer 8 (more than its 6: 0)")

    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "admin_locations")
