#!/usr/bin/python3
"""test_admin_add_channel.py - a sales channel added while atpd runs (issue
16, "Administration at run time": channels; docs/PROTOCOL.md, "Run-time
administration", admin_add_channel; docs/CONFIG.md, service.spare_channels):

1. admin_add_channel over nng: the channel is in admin_list (one spare
   place fewer) and answers at once: atp, regions, scan, explain, a
   reservation made in it; a buffer rule for it (admin_set_buffer) gives
   its own ATP; every row is published again with it, and the next
   change-feed message of a row carries its answer; the unknown_channel
   message lists it. The same change id answers replayed, another change
   under it conflict; a channel atpd has is conflict, an id that is no id
   unknown_channel (as every channel field), no change_id bad_request;
   nothing of a refusal changes the version.
2. service.spare_channels bounds the additions: the next one is
   bad_state, nothing changed.
3. Over HTTP: POST /v1/admin/channels (200, 409).
4. kill -9, restart with the same file: the channel, its rule, the
   reservation made in it, the version and the history are as before,
   with service.spare_channels places again. SIGHUP with the file
   unchanged keeps them; an edited file without the added channel is
   refused (a reservation was made in it); one that lists it and adds
   one more applies (the new one takes a place).
5. admin_remove_channel: a channel nothing names is removed (no answer,
   list, scan or explain has it; unknown_channel), one a rule names is
   config (the file's message), one a remembered reservation was made in
   bad_state, "default" bad_request; added back it takes its own place;
   after kill -9 it stays removed.
6. admin_export passes --check-config; atpctl admin add-channel and
   remove-channel over nng and HTTP; admin list shows the channels and
   the spare places.

Label: integration, admin, http. Bounded: a few seconds (x4 under
sanitizers).
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import admin_util as A  # noqa: E402
import feed_util  # noqa: E402
import harness  # noqa: E402
import http_util as H  # noqa: E402
from test_ops_reload import Log, write_config  # noqa: E402

E = {"bad_request": 1, "unknown_channel": 4, "config": 15, "conflict": 18, "bad_state": 25}
SPARE = 2


def state(c):
    return c.ok({"op": "admin_list"})


def add(c, cid, channel):
    return c.req({"op": "admin_add_channel", "change_id": cid, "channel": channel})


def channels_of(answer):
    return [ch["channel"] for ch in answer["channels"]]


def main(h):
    cfg = H.http_config(h, {"spare_channels": SPARE})
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)

    def send(events):
        pub.send_payload(pub.next_batch("wms", events)[1])
        pub.wait_applied("wms")

    send([[2, "A", "E1", 0, 10]])
    first = state(c)
    ck.eq((first["channels"], first["spare_channels"]), (["default", "web", "app"], SPARE),
          "admin_list: the file's channels and the spare places")

    # 1. a channel added
    sub = feed_util.Sub(d, prefixes=(feed_util.prefix("east"),))
    sub.quiet(0.3)
    r = add(c, "k1", "kiosk")
    ck.eq((r.get("ok"), r.get("version"), r.get("replayed")), (True, 2, False),
          "kiosk added: version 2 (%r)" % (r,))
    ck.eq((state(c)["channels"], state(c)["spare_channels"]),
          (["default", "web", "app", "kiosk"], SPARE - 1), "admin_list lists kiosk")
    # every row is published again with the new channel, with no stock move
    sub.wait_for(lambda rg, s, b: s == "A" and "kiosk" in
                 [ch["channel"] for ch in b["channels"]], 5, "A's row again, with kiosk")
    a = c.atp("A", "east", "kiosk")
    ck.eq((a.get("channel"), a.get("atp")), ("kiosk", 10), "atp in kiosk: no rule, 10")
    rg = c.ok({"op": "regions", "sku": "A", "channel": "kiosk"})
    ck.eq((rg.get("channel"), rg["regions"][0]["atp"]), ("kiosk", 10), "regions in kiosk")
    scan = c.ok({"op": "scan", "region": "east"})
    ck.check(scan["items"] and "kiosk" in channels_of(scan["items"][0]), "scan answers kiosk")
    x = c.ok({"op": "explain", "sku": "A"})
    ck.check("kiosk" in channels_of(x["regions"][0]), "explain answers kiosk")
    r = c.req({"op": "admin_set_buffer", "change_id": "k2", "channel": "kiosk", "units": 3})
    ck.eq(r.get("version"), 3, "a rule for kiosk (%r)" % (r,))
    ck.eq(c.atp("A", "east", "kiosk")["atp"], 7, "kiosk: 10 less its buffer 3")
    ck.eq(c.atp("A", "east", "web")["atp"], 10, "web: unchanged")
    send([[2, "A", "E1", 0, 12]])
    got = sub.wait_for(lambda rg, s, b: s == "A" and b.get("supply") == 12, 5,
                       "A at 12")
    ck.eq({ch["channel"]: ch["atp"] for ch in got[-1][2]["channels"]}.get("kiosk"), 9,
          "the change feed: kiosk's ATP 12 - 3")
    sub.close()
    r = c.reserve("rk", [["A", "east", 2]], channel="kiosk")
    ck.eq((r.get("granted"), r["reservation"].get("channel")), (True, "kiosk"),
          "a reservation in kiosk (%r)" % (r,))
    r = add(c, "k1", "kiosk")
    ck.eq((r.get("version"), r.get("replayed")), (2, True), "k1 again: replayed")
    r = add(c, "k1", "pos")
    ck.eq(harness.error_code(r), E["conflict"], "k1 for another channel: conflict")
    for cid, ch, code in (("e1", "web", "conflict"), ("e2", "", "unknown_channel"),
                          ("e3", "x" * 65, "unknown_channel")):
        r = add(c, cid, ch)
        ck.eq(harness.error_code(r), E[code], "add %r: %s (%r)" % (ch[:10], code, r))
    r = c.req({"op": "admin_add_channel", "channel": "pos"})
    ck.eq(harness.error_code(r), E["bad_request"], "no change_id")
    r = c.req({"op": "atp", "sku": "A", "region": "east", "channel": "nope"})
    ck.check("kiosk" in r["error"]["message"], "unknown_channel lists kiosk: %r" % (r,))
    ck.eq(state(c)["version"], 3, "no version from the refusals")

    # 2. the last place, then none
    ck.eq(add(c, "k3", "pos").get("version"), 4, "pos takes the last place")
    before = state(c)
    r = add(c, "k4", "tv")
    ck.eq(harness.error_code(r), E["bad_state"], "tv: no room (%r)" % (r,))
    ck.check("service.spare_channels" in r["error"]["message"], "the message says why: %r" % (r,))
    ck.eq(state(c), before, "nothing changed")

    # 3. HTTP
    web = H.Http(d)
    st, _, doc = web.call("POST", "/v1/admin/channels", {"change_id": "k3", "channel": "pos"})
    ck.eq((st, doc.get("replayed")), (200, True), "POST /v1/admin/channels replayed (%r)" % (doc,))
    st, _, doc = web.call("POST", "/v1/admin/channels", {"change_id": "h1", "channel": "web"})
    ck.eq((st, harness.error_code(doc)), (409, E["conflict"]), "web over HTTP: 409")
    web.close()

    # 4. kill -9, SIGHUP
    c.ok({"op": "snapshot"})
    sent = dict(pub.seq)
    pub.close()
    c = A.kill9_keeps_state(ck, d, c, spare_channels=SPARE)
    ck.eq(c.atp("A", "east", "kiosk")["atp"], 7, "kiosk after kill -9: 12 - 2 reserved - 3")
    res = c.ok({"op": "reservation", "id": "rk"})["reservation"]
    ck.eq((res["state"], res["channel"]), ("held", "kiosk"), "rk restored in kiosk")
    pub = harness.Publisher(d, c)
    pub.seq.update(sent)
    log = Log(d)
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("stays in force", "SIGHUP, file unchanged")
    ck.eq(state(c)["channels"], ["default", "web", "app", "kiosk", "pos"], "after SIGHUP")
    d.cfg["buffers"] = [{"sku": "A", "units": 1}]  # an edited file: it wins
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    line = log.wait("reload refused", "a file without the added channels")
    ck.check("channel kiosk cannot be removed: 1 reservations" in line,
             "a reservation was made in kiosk: not removed by the file: %s" % line)
    d.cfg["channels"] = ["web", "app", "kiosk", "pos", "marketplace"]
    write_config(d, configured)
    os.kill(d.pid, signal.SIGHUP)
    log.wait("reload applied", "a file that adds marketplace")
    ck.eq(state(c)["channels"], ["default", "web", "app", "kiosk", "pos", "marketplace"],
          "marketplace added by the file")
    ck.eq(c.atp("A", "east", "marketplace")["atp"], 9, "marketplace: 12 - 2 - the file's rule 1")

    # 5. removed at run time
    r = c.req({"op": "admin_remove_channel", "change_id": "x1", "channel": "pos"})
    ck.eq(r.get("ok"), True, "pos removed (%r)" % (r,))
    ck.check("pos" not in state(c)["channels"], "admin_list without pos")
    r = c.req({"op": "atp", "sku": "A", "region": "east", "channel": "pos"})
    ck.eq(harness.error_code(r), E["unknown_channel"], "pos: unknown_channel")
    listed = r["error"]["message"].split("channels: ", 1)[-1].split(", ")
    ck.check("pos" not in listed and "kiosk" in listed, "the list of channels: %r" % (r,))
    scan = c.ok({"op": "scan", "region": "east"})
    ck.check("pos" not in channels_of(scan["items"][0]), "scan without pos")
    x = c.ok({"op": "explain", "sku": "A"})
    ck.check("pos" not in channels_of(x["regions"][0]), "explain without pos")
    ck.eq(c.req({"op": "admin_set_buffer", "change_id": "x1b", "channel": "kiosk",
                 "units": 2}).get("ok"), True, "a rule for kiosk")
    r = c.req({"op": "admin_remove_channel", "change_id": "x2", "channel": "kiosk"})
    ck.check(harness.error_code(r) == E["config"] and "kiosk" in r["error"]["message"],
             "kiosk has a rule: the file's message (%r)" % (r,))
    ck.eq(c.req({"op": "admin_remove_buffer", "change_id": "x3",
                 "channel": "kiosk"}).get("ok"), True, "kiosk's rule removed")
    r = c.req({"op": "admin_remove_channel", "change_id": "x4", "channel": "kiosk"})
    ck.check(harness.error_code(r) == E["bad_state"] and
             "1 reservations atpd remembers were made in it" in r["error"]["message"],
             "rk was made in kiosk: bad_state (%r)" % (r,))
    r = c.req({"op": "admin_remove_channel", "change_id": "x5", "channel": "default"})
    ck.eq(harness.error_code(r), E["bad_request"], "default is always there")
    r = c.req({"op": "admin_remove_channel", "change_id": "x6", "channel": "pos"})
    ck.eq(harness.error_code(r), E["unknown_channel"], "pos again: unknown_channel")
    spare = state(c)["spare_channels"]
    r = c.req({"op": "admin_add_channel", "change_id": "x7", "channel": "pos"})
    ck.eq((r.get("ok"), state(c)["spare_channels"]), (True, spare),
          "pos added back: its own place (%r)" % (r,))
    ck.eq(c.req({"op": "admin_remove_channel", "change_id": "x8",
                 "channel": "pos"}).get("ok"), True, "and removed again")
    c = A.kill9_keeps_state(ck, d, c, spare_channels=SPARE)
    r = c.req({"op": "atp", "sku": "A", "region": "east", "channel": "pos"})
    ck.eq(harness.error_code(r), E["unknown_channel"], "after kill -9: pos still removed")
    pub.close()
    pub = harness.Publisher(d, c)

    # 6. export and atpctl
    exp = A.export_checked(ck, h, d, c)
    ck.check('"marketplace"' in exp, "the export has the channels: %s" % exp)
    host, port = H.http_addr(d)
    ctl = A.ctl_at(h, d.query_url)
    rc, out, err = ctl("--json", "admin", "add-channel", "t-nng", "ch-nng")
    ck.eq((rc, (harness.last_json(out) or {}).get("ok")), (0, True),
          "atpctl admin add-channel over nng (%r %r)" % (out, err))
    rc, out, err = ctl("admin", "add-channel", "t-x")
    ck.eq(rc, 2, "no channel: usage")
    rc, out, err = ctl("admin", "remove-channel", "t-rm", "ch-nng")
    ck.eq(rc, 0, "atpctl admin remove-channel (%r)" % (err,))
    ctl = A.ctl_at(h, "http://%s:%d" % (host, port))
    rc, out, err = ctl("admin", "add-channel", "t-http", "ch-http")
    ck.eq(rc, 0, "over HTTP: the last place (%r)" % (err,))
    rc, out, err = ctl("admin", "add-channel", "t-http2", "ch-http2")
    ck.check(rc == 1 and "bad_state" in err, "over HTTP, no place left: exit 1 (%r)" % (err,))
    rc, out, err = ctl("admin", "list")
    ck.check(rc == 0 and "ch-http" in out and "ch-nng" not in out and
             "spare places for channels: 0" in out,
             "admin list shows the channels and the places: %s" % out)
    pub.close()
    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "admin_add_channel")
