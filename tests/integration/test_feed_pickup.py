#!/usr/bin/python3
"""test_feed_pickup.py - the pickup feed (issue 16, "Store pickup": "the
change feed can be subscribed per location for pickup-enabled locations";
docs/PROTOCOL.md, "Pickup feed").

On the change feed's PUB socket, topic "pickup" NUL location NUL sku NUL:

1. Stock at four locations of a region: a message per (SKU, pickup
   location) with the location's net, reserved, buffer and available
   (net - reserved - buffer), its region and pickup flag; none for the DC
   (no pickup orders). The topic of S10 does not start with S1's prefix
   (a subscription to one store cannot catch another's).
2. A line pinned to S1: S1's reserved and available move; a pickup buffer
   set at run time: buffer and available move; both with location_seq +1
   per message of S1.
3. S1's pickup turned off: one last message (pickup false, available 0),
   then nothing for S1 even when its stock changes (checked against a
   later message of another store on the same subscription).
4. S3 moved to the other region: its messages name the new region.
5. Every message agrees with the `pickup` answer read right after it
   settled (net, reserved, buffer; pickup_atp = min(available, the region's
   ATP)).

Label: integration, feed, pickup. Bounded: a few seconds (x4 under
sanitizers), every wait with a deadline.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util as F  # noqa: E402
import harness  # noqa: E402
import msgpack  # noqa: E402
import resv_util as U  # noqa: E402

LOCATIONS = {  # id: (region, type, pickup, pickup_buffer)
    "S1": ("ra", "store", True, 0),
    "S10": ("ra", "store", True, 0),
    "S2": ("ra", "store", True, 1),
    "D1": ("ra", "dc", False, 0),
    "S3": ("rb", "store", True, 0),
}
FIELDS = ("location", "sku", "region", "pickup", "net", "reserved", "buffer", "available")


def config(h):
    cfg = F.feed_config(h, ["ra", "rb"], [(l, x[0]) for l, x in LOCATIONS.items()],
                        [("wms", list(LOCATIONS))],
                        reservations={"durability": "sync", "default_ttl": "1h",
                                      "max_ttl": "2h", "committed_ttl": "2h",
                                      "retention": "1h"})
    return U.set_locations(cfg, LOCATIONS)


class PickupSub:
    """A raw SUB peer (feed_util.Sub) reading pickup topics: every message
    decoded as (topic bytes, body)."""

    def __init__(self, d, prefix):
        self.sub = F.Sub(d, prefixes=(prefix,))

    def get(self, timeout_s):
        deadline = time.monotonic() + timeout_s * harness.TIME_FACTOR
        with self.sub.cv:
            while not self.sub.msgs:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.sub.cv.wait(min(left, 0.1))
            raw, _ = self.sub.msgs.popleft()
        parts = raw.split(b"\0", 3)
        if len(parts) != 4 or parts[0] != b"pickup":
            raise harness.TestFailure("not a pickup topic: %r" % raw[:80])
        body = msgpack.unpackb(parts[3])
        if (parts[1].decode(), parts[2].decode()) != (body["location"], body["sku"]):
            raise harness.TestFailure("topic %r names another location or sku than %r"
                                      % (raw[:80], body))
        return raw[:len(parts[0]) + len(parts[1]) + len(parts[2]) + 3], body

    def until(self, pred, what, timeout_s=10):
        """Messages until pred(body) holds: all of them, the match last."""
        got = []
        while True:
            m = self.get(timeout_s)
            if m is None:
                raise harness.TestFailure("no pickup message for %s (got %r)"
                                          % (what, [b for _, b in got[-6:]]))
            got.append(m)
            if pred(m[1]):
                return got

    def close(self):
        self.sub.close()


def state(body):
    return tuple(body[k] for k in FIELDS)


def main(h):
    d = h.start_atpd(config(h))
    ck = harness.Checks(h)
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    s1 = PickupSub(d, b"pickup\0S1\0")
    every = PickupSub(d, b"pickup\0")

    # 1. stock at four locations
    feed.publish("wms", [[2, "A", "S1", 0, 5], [2, "A", "S10", 0, 7], [2, "A", "S2", 0, 3],
                         [2, "A", "D1", 0, 9]])
    got = s1.until(lambda b: b["sku"] == "A", "S1's A")
    ck.eq([state(b) for _, b in got], [("S1", "A", "ra", True, 5, 0, 0, 5)],
          "S1's subscriber: S1's state of A, nothing else")
    seq0 = got[-1][1]["location_seq"]
    seen = {}
    while not {"S1", "S10", "S2"} <= set(seen):
        m = every.get(10)
        if m is None:
            raise harness.TestFailure("the three stores' messages: only %r" % sorted(seen))
        seen.setdefault(m[1]["location"], m)
    ck.check("D1" not in seen, "no message for D1 (no pickup orders): %r" % sorted(seen))
    ck.eq(state(seen["S2"][1]), ("S2", "A", "ra", True, 3, 0, 1, 2), "S2: buffer 1, available 2")
    ck.eq(seen["S10"][0], b"pickup\0S10\0A\0", "S10's topic")
    ck.check(not seen["S10"][0].startswith(b"pickup\0S1\0"),
             "S1's prefix does not catch S10's topic")

    # 2. a pin at S1, a pickup buffer set at run time
    ck.eq(c.reserve("p1", [["A", "ra", 2, "S1"]]).get("granted"), True, "p1 pins 2 at S1")
    got = s1.until(lambda b: b["reserved"] == 2, "S1 reserved 2")
    ck.eq(state(got[-1][1]), ("S1", "A", "ra", True, 5, 2, 0, 3), "S1 after the pin")
    r = c.req({"op": "admin_set_location", "change_id": "b1", "location": "S1",
               "pickup_buffer": 1})
    ck.eq(r.get("ok"), True, "S1's pickup buffer set to 1: %r" % (r,))
    got2 = s1.until(lambda b: b["buffer"] == 1, "S1 buffer 1")
    ck.eq(state(got2[-1][1]), ("S1", "A", "ra", True, 5, 2, 1, 2), "S1 after the buffer")
    seqs = [seq0] + [b["location_seq"] for _, b in got + got2]
    ck.eq([b - a for a, b in zip(seqs, seqs[1:])], [1] * (len(seqs) - 1),
          "location_seq: +1 per message of S1 (%r)" % (seqs,))
    p = c.ok({"op": "pickup", "sku": "A", "region": "ra"})
    s1_now = [x for x in p["locations"] if x["location"] == "S1"][0]
    ck.eq((s1_now["net"], s1_now["reserved"], s1_now["buffer"], s1_now["pickup_atp"]),
          (5, 2, 1, min(2, p["atp"])), "the pickup answer agrees with the last message")

    # 3. S1 stops taking pickup orders: one last message, then silence
    r = c.req({"op": "admin_set_location", "change_id": "off", "location": "S1",
               "pickup": False})
    ck.eq(r.get("ok"), True, "S1's pickup off: %r" % (r,))
    got = s1.until(lambda b: b["pickup"] is False, "S1 pickup false")
    ck.eq(state(got[-1][1]), ("S1", "A", "ra", False, 5, 2, 1, 0), "S1's last message")
    every.until(lambda b: b["location"] == "S1" and b["pickup"] is False,
                "S1's last message on the all-stores subscription")
    feed.publish("wms", [[2, "A", "S1", 0, 8]])
    feed.publish("wms", [[2, "A", "S2", 0, 4]])
    after = every.until(lambda b: b["location"] == "S2" and b["net"] == 4, "S2's sentinel")
    ck.eq([state(b) for _, b in after if b["location"] == "S1"], [],
          "nothing more for S1 once it takes no pickup orders")

    # 4. S3 moved to ra
    feed.publish("wms", [[2, "B", "S3", 0, 6]])
    every.until(lambda b: b["location"] == "S3" and b["sku"] == "B", "S3's B in rb")
    r = c.req({"op": "admin_move_location", "change_id": "mv", "location": "S3",
               "region": "ra"})
    ck.eq(r.get("ok"), True, "S3 moved to ra: %r" % (r,))
    got = every.until(lambda b: b["location"] == "S3" and b["region"] == "ra", "S3 in ra")
    ck.eq(state(got[-1][1]), ("S3", "B", "ra", True, 6, 0, 0, 6), "S3's message names ra")

    feed_st = c.status()["feed"]
    ck.check(feed_st["pickup_published"] >= 8 and feed_st["pickup_dropped"] == 0,
             "status feed: pickup messages counted, none lost: %r" % (feed_st,))
    s1.close()
    every.close()
    U.finish(ck, c, feed, d)


if __name__ == "__main__":
    harness.run(main, "feed_pickup")
