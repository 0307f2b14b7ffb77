#!/usr/bin/python3
"""test_admin_place_race.py - a region or channel removed or added at run
time, while its store write is slow or fails (issue 16; docs/PROTOCOL.md,
"Run-time administration", admin_remove_channel, admin_add_region;
atpd-faults, src/store/fault.h):

1. admin_remove_channel while the store's commit stalls: once the rules
   command ran, the channel answers unknown_channel, and a reservation in
   it is refused (unknown_channel), never granted (a granted one would be
   held in a channel no stored record can name after a restart). The
   removal then answers ok; after kill -9 the channel stays removed and
   nothing held was lost.
2. admin_remove_channel whose store write fails (EIO): the answer says
   not stored, the channel answers again at once, admin_list keeps it.
3. A SIGHUP'd file adding a channel and a rule, whose store write stalls:
   once the rule answers (the rules command ran), the new channel still
   takes no reservation (a place goes in service only once its addition
   is stored); stored, it answers and takes one.
4. admin_add_region whose store write fails: the region never answers
   (unknown_region), admin_list does not list it.
5. A SIGHUP'd file moving a pickup store to another region, whose store
   write stalls and then fails (and then succeeds): while the move is not
   stored, a line pinned to the store is busy, so the failure's undo
   moves it back; stored, pinned lines are taken there.

Label: integration, admin. Bounded: a few seconds (x4 under sanitizers),
every wait with a deadline.
"""

import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
from test_ops_reload import Log, write_config  # noqa: E402

E = {"unknown_region": 3, "unknown_channel": 4, "io": 17}


def main(h):
    faults = harness.use_store_faults(h)
    cfg = H.http_config(h)
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)
    pub.send_payload(pub.next_batch("wms", [[2, "A", "E1", 0, 10]])[1])
    pub.wait_applied("wms")
    ck.eq(c.atp("A", "east", "app")["atp"], 10, "app before")

    # 1. the store stalls: the channel is out as soon as the engine says so
    harness.write_faults(faults, "commit stall\n")
    res = {}

    def remove():
        c2 = harness.Client(d.query_port, d=d, timeout_s=60)
        res["rm"] = c2.req({"op": "admin_remove_channel", "change_id": "x1", "channel": "app"})
        c2.close()

    t = threading.Thread(target=remove)
    t.start()
    harness.wait_until(
        lambda: harness.error_code(c.req({"op": "atp", "sku": "A", "region": "east",
                                          "channel": "app"})) == E["unknown_channel"],
        10, 0.01, "app out of service once the rules command ran")
    r = c.reserve("rk", [["A", "east", 2]], channel="app")
    ck.check(r.get("ok") is False and harness.error_code(r) == E["unknown_channel"],
             "a reservation in app while it is being removed: refused (%r)" % (r,))
    ck.eq(c.atp("A", "east", "web")["reserved"], 0, "nothing held")
    harness.write_faults(faults, "")
    t.join(60)
    ck.eq((res.get("rm") or {}).get("ok"), True, "the removal, stored (%r)" % (res,))
    c.ok({"op": "snapshot"})  # the stock too (no source replays it here)
    pub.close()
    d.kill9()
    d.start()
    c.close()
    c = harness.Client(d.query_port, d=d)
    ck.eq(harness.error_code(c.req({"op": "atp", "sku": "A", "region": "east",
                                    "channel": "app"})), E["unknown_channel"],
          "after kill -9: app stays removed")
    ck.eq(c.req({"op": "reservation", "id": "rk"}).get("ok"), False, "rk never existed")

    # 2. the store refuses a removal: undone, web answers again
    harness.write_faults(faults, "commit EIO\n")
    r = c.req({"op": "admin_remove_channel", "change_id": "x2", "channel": "web"})
    ck.check(harness.error_code(r) == E["io"] and "undone" in r["error"]["message"],
             "web's removal not stored: io, undone (%r)" % (r,))
    harness.write_faults(faults, "")
    ck.eq(c.atp("A", "east", "web")["atp"], 10, "web answers again")
    ck.check("web" in c.ok({"op": "admin_list"})["channels"], "admin_list keeps web")

    # 3. a SIGHUP'd file that adds a channel and a rule for web, whose
    # store write stalls: once the rule shows (the rules command ran), the
    # new channel still takes no reservation; stored, it answers
    log = Log(d)
    d.cfg["channels"] = list(d.cfg.get("channels") or []) + ["kiosk"]
    d.cfg["buffers"] = [{"channel": "web", "units": 3}]
    write_config(d, configured)
    harness.write_faults(faults, "commit stall\n")
    os.kill(d.pid, signal.SIGHUP)
    harness.wait_until(lambda: c.atp("A", "east", "web")["atp"] == 7, 10, 0.01,
                       "the file's rule applied by the rules command")
    r = c.reserve("rk2", [["A", "east", 1]], channel="kiosk")
    ck.check(r.get("granted") is not True and harness.error_code(r) == E["unknown_channel"],
             "kiosk while its addition is not stored: no reservation (%r)" % (r,))
    harness.write_faults(faults, "")
    log.wait("reload applied", "the file stored")
    harness.wait_until(lambda: c.req({"op": "atp", "sku": "A", "region": "east",
                                      "channel": "kiosk"}).get("ok") is True, 10, 0.01,
                       "kiosk in service once stored")
    ck.eq(c.reserve("rk3", [["A", "east", 1]], channel="kiosk").get("granted"), True,
          "then a reservation in kiosk")

    # 4. the store refuses an addition: the region never shows
    harness.write_faults(faults, "commit EIO\n")
    r = c.req({"op": "admin_add_region", "change_id": "x3", "region": "apac"})
    ck.eq(harness.error_code(r), E["io"], "apac not stored: io (%r)" % (r,))
    harness.write_faults(faults, "")
    ck.eq(harness.error_code(c.req({"op": "atp", "sku": "A", "region": "apac"})),
          E["unknown_region"], "apac never answers")
    ck.check("apac" not in [x["id"] for x in c.ok({"op": "admin_list"})["regions"]],
             "admin_list without apac")
    r = c.req({"op": "admin_add_region", "change_id": "x3", "region": "apac"})
    ck.eq(r.get("ok"), True, "the same change again, stored: apac added (%r)" % (r,))
    ck.eq(c.atp("A", "apac")["supply"], 0, "apac answers")

    # 5. a SIGHUP'd file moving a store to another region, whose store
    # write stalls then fails: while it is not stored, no line is pinned
    # to the store (busy), so the undo can move it back
    r = c.req({"op": "admin_set_location", "change_id": "x5", "location": "E1",
               "type": "store", "pickup": True})
    ck.eq(r.get("ok"), True, "E1 takes pickup orders (%r)" % (r,))
    d.cfg = d.cfg  # the file: the state's part, merged, then E1 moved
    d.cfg["regions"] = [{"id": x["id"]} for x in c.ok({"op": "admin_list"})["regions"]]
    d.cfg["channels"] = [ch for ch in c.ok({"op": "admin_list"})["channels"] if ch != "default"]
    d.cfg["locations"] = [dict(l, region="west", type="store", pickup=True)
                          if l["id"] == "E1" else l for l in d.cfg["locations"]]
    for fault, stored in (("commit EIO\n", False), ("", True)):
        write_config(d, configured)
        harness.write_faults(faults, "commit stall\n")
        os.kill(d.pid, signal.SIGHUP)
        harness.wait_until(lambda: c.atp("A", "west")["supply"] == 10, 10, 0.01,
                           "E1's stock in west (the rules command ran)")
        r = c.reserve("pin-%s" % stored, [["A", "west", 1, "E1"]])
        ck.check(r.get("granted") is not True and harness.error_code(r) == 11,
                 "a line pinned to E1 while its move is not stored: busy (%r)" % (r,))
        harness.write_faults(faults, fault)
        log.wait("reload applied" if stored else "reload refused",
                 "the move %s" % ("stored" if stored else "not stored"))
        harness.write_faults(faults, "")
        if not stored:
            ck.eq((c.atp("A", "east")["supply"], c.atp("A", "west")["supply"]), (10, 0),
                  "the move undone: E1 back in east")
    r = c.reserve("pin-after", [["A", "west", 1, "E1"]])
    ck.eq(r.get("granted"), True, "stored: a line pinned to E1 in west (%r)" % (r,))
    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "admin_place_race")
