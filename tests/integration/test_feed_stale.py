#!/usr/bin/python3
"""test_feed_stale.py - a region turning stale, and fresh again, is on the
change feed.

Two regions, each fed by its own source: "quiet" (region east,
heartbeat_timeout 2 s, x4 under the sanitizers) and "live" (region west, 10 min). Stock for N
SKUs in both. A subscriber to everything, and one to a single SKU of east
(atp NUL east NUL S-0003 NUL), then: "quiet" stops sending, turns silent,
east turns stale: every SKU of east gets a message with stale true (the
single-SKU subscriber gets its one), west gets none, and the values are
unchanged. Then a message from "quiet" brings it back: every SKU of east
gets a message with stale false (the SKU the message changed, with its new
supply).

Every wait is for a condition (all the expected messages), never for a
quiet spell; "none for west" is checked up to a barrier: a later change
in west, published after whatever east's turn produced.

Label: integration, feed. Bounded: about 10 s.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util as F  # noqa: E402
import harness  # noqa: E402

N = 20
# Long enough that draining the first values (timeouts x TIME_FACTOR under
# the sanitizers) ends well before the source turns silent.
QUIET_MS = int(2000 * F.TF)


def sku(i):
    return "S-%04d" % i


def main(h):
    ck = harness.Checks(h)
    cfg = F.feed_config(h, ["east", "west"], [("Le", "east"), ("Lw", "west")],
                        [("quiet", ["Le"]), ("live", ["Lw"])], feed_interval="50ms")
    cfg["sources"][0]["heartbeat_timeout"] = "%dms" % QUIET_MS
    d = h.start_atpd(cfg)
    q = F.Query(d)
    fd = F.Feeder(d, q)
    n_barriers = [0]

    def barrier(sub):
        """A change in west published after everything before it: the
        messages up to it (its own left out)."""
        n_barriers[0] += 1
        b_sku = "BARRIER-%d" % n_barriers[0]
        fd.publish("live", [[2, b_sku, "Lw", 0, 1]])
        got = sub.collect(lambda g: g and g[-1][1] == b_sku, 10, "the barrier " + b_sku)
        return got[:-1]
    with F.Sub(d) as every, \
            F.Sub(d, prefixes=(F.prefix("east", sku(3)),)) as one:
        fd.publish("quiet", [[2, sku(i), "Le", 0, 100 + i] for i in range(N)])
        fd.publish("live", [[2, sku(i), "Lw", 0, 200 + i] for i in range(N)])
        # Both sources start "waiting" (stale) and turn ok with their first
        # message, so a key may be published stale, then fresh: the last
        # message of every key must be fresh, with its value.
        want_first = {(r, sku(i)): (False, (100 if r == "east" else 200) + i)
                      for r in ("east", "west") for i in range(N)}

        def last_of(got):
            return {(r, s): (b.get("stale"), b.get("supply")) for r, s, b, _ in got}
        got = every.collect(lambda g: all(last_of(g).get(k) == v for k, v in want_first.items()),
                            10, "every (SKU, region) fresh with its supply")
        ck.eq(sorted(last_of(got)), sorted(want_first),
              "every (SKU, region) on the feed once stocked")

        # "quiet" stops: after heartbeat_timeout its region is stale.
        east = {("east", sku(i)) for i in range(N)}

        def all_east(flag):
            return lambda got: east <= {(r, s) for r, s, b, _ in got if b.get("stale") is flag}
        got = every.collect(all_east(True), 5 + QUIET_MS / 1000, "east turning stale")
        got += barrier(every)
        stale = {(r, s): b for r, s, b, _ in got if b.get("stale") is True}
        ck.eq(sorted(stale), sorted(("east", sku(i)) for i in range(N)),
              "a stale message for every SKU of east, none for west")
        for (r, s), b in stale.items():
            ck.eq(b.get("supply"), 100 + int(s[2:]), "supply of %s@%s while stale" % (s, r))
        ck.eq(q.ok({"op": "atp", "sku": sku(3), "region": "east", "channel": "web"})
              .get("stale"), True, "the query answer agrees: east is stale")
        # Its first message may itself be stale (published while "quiet" was
        # still waiting): collect up to a stale one after a fresh one.
        mine = [(r, s, b.get("stale"))
                for r, s, b, _ in one.collect(
                    lambda got: (got and got[-1][2].get("stale") is True and
                                 any(m[2].get("stale") is False for m in got)),
                    10, "S-0003@east fresh, then stale")]
        ck.check(mine and mine[-1] == ("east", sku(3), True)
                 and ("east", sku(3), False) in mine[:-1],
                 "the single-SKU subscriber hears its SKU fresh, then stale: %r", mine)

        # A message from "quiet": east is fresh again.
        fd.publish("quiet", [[2, sku(0), "Le", 0, 999]])
        got = every.collect(all_east(False), 10, "east fresh again")
        got += barrier(every)
        fresh = {(r, s): b for r, s, b, _ in got
                 if b.get("stale") is False and not s.startswith("BARRIER")}
        ck.eq(sorted(fresh), sorted(("east", sku(i)) for i in range(N)),
              "a fresh message for every SKU of east, none for west")
        if ("east", sku(0)) in fresh:
            ck.eq(fresh[("east", sku(0))].get("supply"), 999, "the new supply of S-0000")
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "feed_stale")
