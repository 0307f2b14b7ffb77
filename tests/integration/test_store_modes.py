#!/usr/bin/python3
"""test_store_modes.py - the two store modes without a reservation log,
end to end: `durability: nosync` and `log_bytes: 0`.

For each: reservations are granted, committed and released with no log
(no reservations.log file, `log_appends` 0, LMDB commits instead), and
every acknowledged one survives kill -9 with its state and its effect on
ATP. Then the switch from the default mode: reservations that are only in
the log (LMDB held back by log_apply_delay) when atpd is killed are
replayed into LMDB at the next start even though the log is now off, and
the log file is removed.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util  # noqa: E402
from harness import TestFailure  # noqa: E402

STOCK = ["on_hand", "allocated", "held"]
N = 20
LOG = "reservations.log"


def config(h, data_dir=None, **resv):
    svc = {"data_dir": data_dir} if data_dir else {}
    return resv_util.resv_config(h, ["east"], [("DC-1", "east")],
                                 [("wms", ["DC-1"], STOCK)], service=svc, **resv)


def must(r, what):
    if r.get("ok") is not True:
        raise TestFailure("%s: %r" % (what, r))
    return r


def work(q, prefix):
    """N reservations of 1..N units: every third committed, every fifth
    released. Returns {id: state} and the units still open."""
    want, open_units = {}, 0
    for i in range(1, N + 1):
        rid = "%s-%d" % (prefix, i)
        must(q.reserve(rid, [("A1", "east", i)]), "reserve " + rid)
        want[rid] = "held"
        if i % 5 == 0:
            must(q.release(rid), "release " + rid)
            want[rid] = "released"
        elif i % 3 == 0:
            must(q.commit(rid), "commit " + rid)
            want[rid] = "committed"
        if want[rid] != "released":
            open_units += i
    return want, open_units


def check_state(c, q, want, open_units, what):
    """The reservations and what they hold. (Not ATP: after kill -9 the
    positions are those of the last snapshot until the source replays.)"""
    got = {rid: (q.get(rid) or {}).get("state") for rid in want}
    bad = {rid: (got[rid], s) for rid, s in want.items() if got[rid] != s}
    c.check(not bad, "%s: reservations not as acknowledged (got, want): %r", what, bad)
    c.eq(q.atp("A1", "east").get("reserved"), open_units, "%s: reserved" % what)


def start_and_work(h, cfg, name, prefix):
    """atpd with N * N of A1 on hand and work() done: (d, q, want, open)."""
    d = harness.Atpd(h, cfg, name).start()
    q = resv_util.Client(d.query_port, d=d)
    pub = harness.Publisher(d, q)
    pub.send_payload(pub.next_batch("wms", [[2, "A1", "DC-1", 0, N * N]])[1])
    pub.wait_applied("wms")
    pub.close()
    return (d, q) + work(q, prefix)


def one_mode(h, c, name, **resv):
    h.log("mode %s", name)
    d, q, want, open_units = start_and_work(h, config(h, **resv), name, name)
    st = q.status()["store"]
    c.eq(st.get("log_appends"), 0, "%s: no log appends" % name)
    c.check(st.get("commits", 0) > 0, "%s: LMDB commits %r", name, st.get("commits"))
    data_dir = d.cfg["service"]["data_dir"]
    c.check(not os.path.exists(os.path.join(data_dir, LOG)), "%s: no %s file", name, LOG)
    check_state(c, q, want, open_units, name)
    q.close()
    d.kill9()
    d.start()
    q = resv_util.Client(d.query_port, d=d)
    check_state(c, q, want, open_units, name + " after kill -9")
    c.eq(q.status()["reservations"].get("load_skipped"), 0, "%s: nothing skipped" % name)
    q.close()
    c.eq(d.stop(), 0, "%s: clean stop" % name)


def switch_from_log(h, c, name, **resv):
    """Reservations only in the log at kill -9, then a start without the log."""
    h.log("from the log to %s", name)
    d, q, want, open_units = start_and_work(h, config(h, log_apply_delay="1m"),
                                            name + "-log", name)
    data_dir = d.cfg["service"]["data_dir"]
    st = q.status()["store"]
    c.check(st.get("log_groups", 0) >= N, "%s: the groups went to the log (%r)", name, st)
    q.close()
    d.kill9()
    c.check(os.path.exists(os.path.join(data_dir, LOG)), "%s: the log is there after kill -9",
            name)

    cfg = config(h, data_dir=data_dir, **resv)
    d2 = harness.Atpd(h, cfg, name).start()
    q = resv_util.Client(d2.query_port, d=d2)
    c.check(q.status()["store"].get("log_replayed", 0) > 0,
            "%s: the log was replayed at start", name)
    c.check(not os.path.exists(os.path.join(data_dir, LOG)),
            "%s: the log file is removed once replayed", name)
    check_state(c, q, want, open_units, name + " after the replay")
    q.close()
    c.eq(d2.stop(), 0, "%s: clean stop" % name)
    # And once more: LMDB has everything, the log is gone for good.
    d2.start()
    q = resv_util.Client(d2.query_port, d=d2)
    c.eq(q.status()["store"].get("log_replayed"), 0, "%s: nothing to replay any more" % name)
    check_state(c, q, want, open_units, name + " after a second restart")
    q.close()
    c.eq(d2.stop(), 0, "%s: second clean stop" % name)


def main(h):
    c = harness.Checks(h)
    one_mode(h, c, "nosync", durability="nosync")
    one_mode(h, c, "nolog", log_bytes=0)
    switch_from_log(h, c, "to-nosync", durability="nosync")
    switch_from_log(h, c, "to-nolog", log_bytes=0)
    c.done()


if __name__ == "__main__":
    harness.run(main, "store_modes")
