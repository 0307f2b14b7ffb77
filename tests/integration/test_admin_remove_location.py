#!/usr/bin/python3
"""test_admin_remove_location.py - a location removed at run time (issue
16, "Administration at run time": locations; docs/PROTOCOL.md, "Run-time
administration", admin_remove_location):

1. The rule: a location that still has stock (a non-zero bucket of any
   SKU) or an inbound lot is refused with bad_state (25) and a message
   that says what is left; nothing changes (version, admin_list, supply).
2. Once its source reported it empty (and the lot cancelled), the removal
   is applied: admin_list and the pickup answers no longer list it, the
   region's supply is unchanged (it had none), a source message naming it
   is rejected as naming an unknown location; the audit record has its
   region before. The same change id answers replayed, another change
   under it conflict; unknown location, a second removal, no change_id
   answer their codes.
3. Over HTTP: POST /v1/admin/locations/{id}/remove, 409 while stocked, 200
   once empty, 422 for an unknown location.
4. SIGHUP with the file unchanged: the removed locations stay removed.
5. kill -9 right after an acknowledged removal, restart with the same
   file: they stay removed (the start-up says so), a message naming one is
   still rejected, the state, version and history survive; a SIGHUP then
   (the file still lists them) keeps the admin state, it is not refused
   as adding locations.
6. admin_export passes `atpd --check-config`; atpctl admin remove-location
   over nng and HTTP, human and --json; a refused one exits 1.

Label: integration, admin, http, pickup. Bounded: a few seconds (x4 under
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

E = {"bad_request": 1, "unknown_location": 5, "conflict": 18, "bad_state": 25}
DAY = 86400 * 1000


def loc_ids(c):
    return sorted(l["id"] for l in c.ok({"op": "admin_list"})["locations"])


def pickup_ids(c, region="east"):
    return [l["location"] for l in
            c.ok({"op": "pickup", "sku": "A", "region": region})["locations"]]


def remove(c, cid, location):
    return c.req({"op": "admin_remove_location", "change_id": cid, "location": location})


def unknown_location_count(c):
    return (c.sources().get("wms") or {}).get("unknown_location", 0)


def main(h):
    cfg = H.http_config(h)
    for lid, region in (("E2", "east"), ("E3", "east"), ("E4", "east"), ("W2", "west")):
        cfg["locations"].append({"id": lid, "region": region, "type": "store", "pickup": True})
    auth = cfg["sources"][0]["authority"][0]
    auth["locations"] += ["E2", "E3", "E4", "W2"]
    auth["buckets"].append("inbound")
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)

    def send(events):
        pub.send_payload(pub.next_batch("wms", events)[1])
        pub.wait_applied("wms")

    send([[2, "A", "E1", 0, 10], [2, "A", "E2", 0, 5],
          [6, "A", "E3", "L3", 3, harness.now_ms() + DAY]])
    everything = ["E1", "E2", "E3", "E4", "W1", "W2"]
    ck.eq(loc_ids(c), everything, "admin_list: the file's locations")

    # 1. refused while stocked
    def east():  # stale left out: it may turn just after the first message
        a = c.atp("A", "east")
        return (a["supply"], a["reserved"], a["atp"])

    before = (c.ok({"op": "admin_list"}), east())
    r = remove(c, "r1", "E2")
    ck.eq(harness.error_code(r), E["bad_state"], "E2 has on_hand 5: bad_state (%r)" % (r,))
    ck.check(r["error"]["message"].startswith(
                 "location E2 cannot be removed: it still has stock (1 SKUs"),
             "the message is the documented one and says what is left: %r" % (r,))
    r = remove(c, "r0", "NOPE")
    ck.check(harness.error_code(r) == E["unknown_location"] and
             "unknown location 'NOPE'" in r["error"]["message"],
             "an unknown location is named in the message: %r" % (r,))
    r = remove(c, "r2", "E3")
    ck.eq(harness.error_code(r), E["bad_state"], "E3 has an inbound lot: bad_state")
    ck.check("1 inbound lots" in str(r), "the message counts the lot: %r" % (r,))
    ck.eq((c.ok({"op": "admin_list"}), east()), before, "nothing changed")

    # 2. empty, then removed
    send([[2, "A", "E2", 0, 0]])
    r = remove(c, "r1", "E2")
    ck.eq((r.get("ok"), r.get("version"), r.get("replayed")), (True, 2, False),
          "E2 empty: removed, version 2 (%r)" % (r,))
    ck.eq(loc_ids(c), ["E1", "E3", "E4", "W1", "W2"], "admin_list without E2")
    ck.eq(pickup_ids(c), ["E1", "E3", "E4"], "pickup no longer lists E2")
    ck.eq(c.atp("A", "east")["supply"], 10, "east's supply unchanged")
    n0 = unknown_location_count(c)
    send([[2, "A", "E2", 0, 7]])
    ck.eq(unknown_location_count(c), n0 + 1, "a message naming E2: unknown_location")
    ck.eq(c.atp("A", "east")["supply"], 10, "and it changed nothing")
    hist = c.ok({"op": "admin_history", "after": 1})["changes"]
    ck.eq([(x["op"], x["change_id"], x["before"], x["after"]) for x in hist],
          [("remove_location", "r1", "region east", "")], "the audit record")
    r = remove(c, "r1", "E2")
    ck.eq((r.get("version"), r.get("replayed")), (2, True), "r1 again: replayed")
    r = remove(c, "r1", "E4")
    ck.eq(harness.error_code(r), E["conflict"], "r1 for another location: conflict")
    for cid, lid, code in (("x1", "E9", "unknown_location"), ("x2", "E2", "unknown_location")):
        r = remove(c, cid, lid)
        ck.eq(harness.error_code(r), E[code], "remove %s: %s (%r)" % (lid, code, r))
    r = c.req({"op": "admin_remove_location", "location": "E4"})
    ck.eq(harness.error_code(r), E["bad_request"], "no change_id")
    r = c.req({"op": "admin_remove_location", "change_id": "x3"})
    ck.eq(harness.error_code(r), E["bad_request"], "no location")
    ck.eq(c.ok({"op": "admin_list"})["version"], 2, "no version from the refusals")

    # 3. HTTP: refused while the lot waits, removed once it is cancelled
    web = H.Http(d)
    st, _, doc = web.call("POST", "/v1/admin/locations/E3/remove", {"change_id": "h1"})
    ck.eq((st, harness.error_code(doc)), (409, E["bad_state"]), "E3 over HTTP: 409 (%r)" % (doc,))
    send([[9, "A", "E3", "L3"]])
    st, _, doc = web.call("POST", "/v1/admin/locations/E3/remove", {"change_id": "h1"})
    ck.eq((st, doc.get("version")), (200, 3), "E3 removed over HTTP (%r)" % (doc,))
    st, _, doc = web.call("POST", "/v1/admin/locations/E9/remove", {"change_id": "h2"})
    ck.eq((st, harness.error_code(doc)), (422, E["unknown_location"]), "E9 over HTTP: 422")
    web.close()
    ck.eq(pickup_ids(c), ["E1", "E4"], "pickup after E3's removal")

    # 4. SIGHUP with the file unchanged: they stay removed
    log = Log(d)
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("admin state (version 3) stays", "SIGHUP, file unchanged")
    ck.eq(loc_ids(c), ["E1", "E4", "W1", "W2"], "after SIGHUP: E2 and E3 stay removed")
    ck.eq(pickup_ids(c), ["E1", "E4"], "after SIGHUP: pickup without them")

    # 5. kill -9 right after an acknowledged removal
    r = remove(c, "r5", "E4")
    ck.eq(r.get("version"), 4, "E4 removed: version 4")
    sent = dict(pub.seq)
    pub.close()
    c = A.kill9_keeps_state(ck, d, c)
    ck.eq(pickup_ids(c), ["E1"], "pickup after kill -9: E2, E3, E4 stay removed")
    ck.eq(c.atp("A", "east")["supply"], 10, "east's supply after kill -9")
    with open(d.stderr_path, "rb") as fh:
        text = fh.read().decode("utf-8", "replace")
    ck.check("location 'E4' was removed at run time: left out" in text,
             "the start-up says E4 stays removed")
    pub = harness.Publisher(d, c)
    pub.seq.update(sent)  # the next seq: atpd asked for a replay from it
    n0 = unknown_location_count(c)
    pub.send_payload(pub.next_batch("wms", [[2, "A", "E4", 0, 3]])[1])
    harness.wait_until(lambda: unknown_location_count(c) > n0, 10, 0.02,
                       "a message naming E4 rejected after the restart")
    ck.eq(c.atp("A", "east")["supply"], 10, "and it changed nothing")
    pub.close()
    r = remove(c, "r5", "E4")
    ck.eq((r.get("version"), r.get("replayed")), (4, True), "r5 replayed after the restart")
    # a SIGHUP after the restart: the file still lists E2..E4, atpd runs
    # without them; not "a location added": the admin state stays
    log = Log(d)
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("admin state (version 4) stays", "SIGHUP after the restart, file unchanged")
    ck.eq(pickup_ids(c), ["E1"], "after that SIGHUP: still removed")
    # the file edited (a buffer rule), still naming E2..E4: the file wins,
    # but not by adding locations at run time: they stay out until a
    # restart, and the rest applies (it was refused as a whole)
    atp_before = c.atp("A", "east")["atp"]
    d.cfg["buffers"] = list(d.cfg.get("buffers") or []) + [{"sku": "A", "units": 2}]
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    line = log.wait("location(s) removed at run time are still named by the file",
                    "the reload leaves them out")
    ck.check(all("'%s'" % lid in line for lid in ("E2", "E3", "E4")),
             "the line names E2, E3 and E4: %r" % line)
    log.wait("reload applied", "the edited file applies without them")
    ck.eq(c.atp("A", "east")["atp"], atp_before - 2, "the file's new rule is in force")
    ck.eq(pickup_ids(c), ["E1"], "after the edited file: E2..E4 still removed")
    ck.eq(loc_ids(c), ["E1", "W1", "W2"],
          "the admin state lists no removed location")
    ck.eq(c.ok({"op": "admin_list"})["version"], 5, "the file's part: version 5")
    # E4 added back at run time (its place kept), stocked: a later edited
    # file, still naming E2..E4, no longer leaves E4 out
    r = c.req({"op": "admin_add_location", "change_id": "back-4", "location": "E4",
               "region": "east", "type": "store", "pickup": True})
    ck.eq(r.get("version"), 6, "E4 added back (%r)" % (r,))
    r = c.req({"op": "admin_set_authority", "change_id": "back-4a", "source": "wms",
               "location": "E4", "buckets": ["on_hand"]})
    ck.eq(r.get("version"), 7, "wms owns E4's on_hand again (%r)" % (r,))
    pub = harness.Publisher(d, c)
    pub.seq.update(sent)
    pub.seq["wms"] = c.sources()["wms"]["last_seq"]
    pub.send_payload(pub.next_batch("wms", [[2, "A", "E4", 0, 3]])[1])
    pub.wait_applied("wms")
    pub.close()
    ck.eq(c.atp("A", "east")["supply"], 13, "E4's 3 in east")
    d.cfg["buffers"] = list(d.cfg.get("buffers") or []) + [{"sku": "B", "units": 1}]
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    line = log.wait("location(s) removed at run time are still named by the file",
                    "the reload leaves out E2 and E3 only")
    line = line.strip().splitlines()[-1]
    ck.check("'E4'" not in line and "'E2'" in line, "E4 is not left out: %r" % line)
    log.wait("reload applied", "the edited file applies, E4 kept")
    ck.check("E4" in loc_ids(c), "E4 stays (the file and the state list it)")
    ck.eq(c.atp("A", "east")["supply"], 13, "with its stock")
    ck.eq(c.req({"op": "admin_remove_location", "change_id": "back-4r",
                 "location": "E4"}).get("ok"), False, "E4 has stock: not removed")
    pub = harness.Publisher(d, c)
    pub.seq["wms"] = c.sources()["wms"]["last_seq"]
    pub.send_payload(pub.next_batch("wms", [[2, "A", "E4", 0, 0]])[1])
    pub.wait_applied("wms")
    pub.close()
    r = c.req({"op": "admin_remove_location", "change_id": "back-4r2", "location": "E4"})
    ck.eq(r.get("ok"), True, "E4 emptied and removed again (%r)" % (r,))
    base = r.get("version")

    # 6. export and atpctl
    exp = A.export_checked(ck, h, d, c)
    ck.check('"E4"' not in exp and '"E1"' in exp, "the export lists E1, not E4: %s" % exp)
    host, port = H.http_addr(d)
    for ep, lid, version in ((d.query_url, "W2", base + 1), ("http://%s:%d" % (host, port), "E1", 0)):
        ctl = A.ctl_at(h, ep)
        if version:
            rc, out, err = ctl("--json", "admin", "remove-location", "t1", lid)
            ck.eq((rc, (harness.last_json(out) or {}).get("version")), (0, version),
                  "%s: atpctl admin remove-location --json (%s)" % (ep, err))
            rc, out, err = ctl("admin", "remove-location", "t1", lid)
            ck.check(rc == 0 and "replayed" in out, "%s: again, human: %r %r" % (ep, out, err))
        else:  # E1 has stock: refused
            rc, out, err = ctl("admin", "remove-location", "t2", lid)
            ck.check(rc == 1 and "bad_state" in err, "%s: E1 refused: exit 1: %r" % (ep, err))
        rc, out, err = ctl("admin", "remove-location", "t3")
        ck.eq(rc, 2, "%s: no location: usage" % ep)
    ck.eq(loc_ids(c), ["E1", "W1"], "left: E1 and W1")

    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "admin_remove_location")
