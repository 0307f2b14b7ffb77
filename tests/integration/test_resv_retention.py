#!/usr/bin/python3
"""test_resv_retention.py - finished reservations are forgotten after
`reservations.retention`, in memory and in the store.

With retention 3s: a released, an expired and a consumed reservation are
each remembered (the id still answers, the same id with other content is a
`conflict`, `remembered` counts them), then forgotten once the retention
ends (`not_found`, the id is free for a new reservation, `remembered` drops)
while an open one stays. A restart restores only what was not forgotten:
the purge deleted the stored records too.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util  # noqa: E402
from harness import TestFailure, error_code  # noqa: E402

STOCK = ["on_hand", "allocated", "held"]
# Long enough for the two requests right after a release (a conflict, a
# status) even on a loaded machine; the purge is waited for, not slept.
RETENTION_S = 3


def state(q, rid):
    r = q.get(rid)
    return r.get("state") if r is not None else None


def must(r, what):
    if r.get("ok") is not True:
        raise TestFailure("%s: %r" % (what, r))
    return r


def main(h):
    c = harness.Checks(h)
    cfg = resv_util.resv_config(h, ["east"], [("DC-1", "east")], [("wms", ["DC-1"], STOCK)],
                                retention="%ds" % RETENTION_S, min_ttl="1s")
    d = harness.Atpd(h, cfg, "atpd").start()
    q = resv_util.Client(d.query_port, d=d)
    pub = harness.Publisher(d, q)
    pub.send_payload(pub.next_batch("wms", [[2, "A1", "DC-1", 0, 100]])[1])
    pub.wait_applied("wms")

    must(q.reserve("r-open", [("A1", "east", 1)]), "reserve r-open")
    must(q.reserve("r-rel", [("A1", "east", 2)]), "reserve r-rel")
    must(q.release("r-rel"), "release r-rel")
    # Finished and remembered: the id is taken.
    r = q.reserve("r-rel", [("A1", "east", 9)])
    c.eq(error_code(r), resv_util.E_CONFLICT,
         "r-rel with other content while remembered: conflict (%r)" % r)
    c.eq(q.status()["reservations"].get("remembered"), 2, "remembered: r-open, r-rel")
    must(q.reserve("r-exp", [("A1", "east", 3)], ttl_ms=1000), "reserve r-exp")
    must(q.reserve("r-con", [("A1", "east", 4)]), "reserve r-con")
    must(q.commit("r-con", order_ref="ORD-1"), "commit r-con")
    pub.send_payload(pub.next_batch("wms", [[1, "A1", "DC-1", 1, 4, "ORD-1"]])[1])
    pub.wait_applied("wms")
    c.eq(state(q, "r-con"), "consumed", "r-con consumed by the allocation")
    harness.wait_until(lambda: state(q, "r-exp") == "expired", 10, 0.05, "r-exp to expire")

    # Forgotten once the retention is over (r-exp expired last).
    harness.wait_until(lambda: all(q.get(rid) is None for rid in ("r-rel", "r-exp", "r-con")),
                       RETENTION_S + 10, 0.05, "the finished reservations to be forgotten")
    st = q.status()["reservations"]
    c.eq(st.get("remembered"), 1, "remembered after the purge")
    c.eq(st.get("open"), 1, "open after the purge")
    c.eq(state(q, "r-open"), "held", "the open reservation stays")
    c.eq(q.atp("A1", "east").get("atp"), 100 - 4 - 1,
         "ATP after the purge (100 on hand, 4 allocated, r-open 1)")
    r = q.reserve("r-rel", [("A1", "east", 9)])
    c.check(r.get("ok") is True and (r.get("reservation") or r).get("state", "held") == "held",
            "a forgotten id is free for a new reservation: %r", r)
    c.eq(q.atp("A1", "east").get("atp"), 100 - 4 - 1 - 9, "ATP with the new r-rel")

    # The purge deleted the stored records: a restart does not bring them back.
    pub.close()
    q.close()
    c.eq(d.stop(), 0, "clean stop")
    d.start()
    q = resv_util.Client(d.query_port, d=d)
    st = q.status()["reservations"]
    c.eq(st.get("remembered"), 2, "remembered after the restart (r-open, new r-rel)")
    c.eq(st.get("load_skipped"), 0, "nothing skipped at the restart")
    for rid in ("r-exp", "r-con"):
        c.eq(q.get(rid), None, "%s stays forgotten after the restart" % rid)
    c.eq((q.get("r-rel") or {}).get("lines", [{}])[0].get("qty"), 9,
         "r-rel after the restart is the new one")
    q.close()
    c.eq(d.stop(), 0, "clean stop after the restart")
    c.done()


if __name__ == "__main__":
    harness.run(main, "resv_retention")
