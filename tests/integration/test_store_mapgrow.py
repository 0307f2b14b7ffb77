#!/usr/bin/python3
"""test_store_mapgrow.py - the LMDB map grows past its initial 64 MiB.

atpd opens the store with a 64 MiB map and doubles it on MDB_MAP_FULL up to
`reservations.max_map_bytes` (here 1 GiB). The test stores more than 64 MiB:
~100,000 stock positions with 60-byte SKU ids (snapshots) and ~1,100
reservations of 1,000 lines each (~70 KB records), and checks:

- every reservation is granted (none refused with store_full), queries and
  snapshots keep working, status shows no store failure;
- the map grew: atpd logs "map grown to N MiB", and `atpctl inspect DATA_DIR
  --json` (when this atpctl has it) shows map_bytes > 64 MiB and the entry
  counts; else data.mdb itself is larger than 64 MiB;
- after a restart (SIGTERM, same data dir) nothing is lost: every
  reservation with exactly its lines, every position (status.positions,
  supply and reserved of every reserved SKU), and new reservations still
  work on the grown map.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import store_util as S  # noqa: E402
from harness import TestFailure  # noqa: E402

MIB = 1 << 20
INITIAL_MAP = 64 * MIB
LINES = 1000                # lines per reservation (reservations.max_lines)
RESERVATIONS = 1100         # x ~70 KB records: more than 64 MiB on their own
BULK_SKUS = 50000           # x 2 locations: positions with long keys
PAD = "x" * 52              # SKU ids are 60 bytes: bigger records and keys


def sku(i):
    return "S%07d-%s" % (i, PAD)


def on_hand(i, loc):
    return 100000 + (i * 7 + loc) % 1000


def resv_lines(n):
    """Reservation n: every one of the LINES reserved SKUs, qty 1..3."""
    return [[sku(i), "east", 1 + (n + i) % 3] for i in range(LINES)]


def main(h):
    cfg = S.store_config(h, regions=("east",), locs_per_region=2,
                         max_map_bytes=1 << 30, durability="sync", max_lines=LINES,
                         default_ttl="1h", max_ttl="1d", retention="1h")
    data_dir = cfg["service"]["data_dir"]
    d = h.start_atpd(cfg)
    c = S.Client(d.query_port)
    feed = S.Feeder(d, c)
    chk = harness.Checks(h)

    info = S.inspect(h, data_dir)
    h.log("atpctl inspect: map %s bytes at start", info.get("map", {}).get("map_bytes"))
    chk.eq(info.get("map", {}).get("map_bytes"), INITIAL_MAP, "map_bytes at start")

    # ---- positions: the reserved SKUs and a bulk of long keys
    locs = ["east-0", "east-1"]
    n_skus = LINES + BULK_SKUS
    batch = 10000
    t0 = time.monotonic()
    events = []
    for i in range(n_skus):
        for li, loc in enumerate(locs):
            events.append([2, sku(i), loc, 0, on_hand(i, li)])
        if len(events) >= batch:
            feed.publish("wms", events, wait=False)
            events = []
    if events:
        feed.publish("wms", events, wait=False)
    feed.wait_applied("wms", feed.seq["wms"], timeout_s=120)
    st = c.status()
    chk.eq(st["positions"], n_skus * len(locs), "positions after feeding")
    h.log("fed %d positions in %.1f s", st["positions"], time.monotonic() - t0)
    r = c.snapshot()
    chk.check(r.get("ok") is True, "snapshot after feeding: %r", r)

    # ---- reservations, ~70 KB each
    t0 = time.monotonic()
    reserved = [0] * LINES
    for n in range(RESERVATIONS):
        lines = resv_lines(n)
        r = c.reserve("big-%05d" % n, lines)
        if r.get("ok") is not True or r.get("granted") is not True:
            raise TestFailure("reservation %d (%d lines) not granted: %r"
                              % (n, LINES, {k: r.get(k) for k in ("ok", "granted", "error")}))
        for i, l in enumerate(lines):
            reserved[i] += l[2]
    h.log("%d reservations x %d lines in %.1f s", RESERVATIONS, LINES, time.monotonic() - t0)
    r = c.snapshot()
    chk.check(r.get("ok") is True, "snapshot after the reservations: %r", r)

    # ---- atpd kept working; the map grew
    st = c.status()
    rs = st["reservations"]
    chk.eq(rs["open"], RESERVATIONS, "status reservations.open")
    chk.eq(rs["store_failures"], 0, "status reservations.store_failures")
    chk.eq(st["snapshots"]["failed"], 0, "status snapshots.failed")
    for i in (0, LINES // 2, LINES - 1):
        a = c.atp(sku(i), "east")
        chk.eq((a["supply"], a["reserved"]), (on_hand(i, 0) + on_hand(i, 1), reserved[i]),
               "supply, reserved of %s" % sku(i)[:8])
    grown = [int(x) for x in re.findall(r"map grown to (\d+) MiB", S.log_text(d))]
    h.log("atpd logged map growth to %s MiB", grown)
    chk.check(grown and max(grown) >= 128, "atpd logged no map growth to >= 128 MiB: %r", grown)
    size = S.data_mdb_size(data_dir)
    h.log("data.mdb is %.1f MiB", size / MIB)
    chk.check(size > INITIAL_MAP, "data.mdb %d bytes, want more than the initial map %d",
              size, INITIAL_MAP)
    info = S.inspect(h, data_dir)  # read-only: safe while atpd runs
    m, e = info.get("map", {}), info.get("entries", {})
    h.log("atpctl inspect: map %s, used %s, entries %s", m.get("map_bytes"),
          m.get("used_bytes"), e)
    chk.check((m.get("map_bytes") or 0) > INITIAL_MAP, "inspect map_bytes %r not above 64 MiB",
              m.get("map_bytes"))
    chk.check((m.get("used_bytes") or 0) > INITIAL_MAP, "inspect used_bytes %r not above 64 MiB",
              m.get("used_bytes"))
    chk.eq(e.get("reservations"), RESERVATIONS, "inspect entries.reservations")
    chk.eq(e.get("positions"), n_skus * len(locs), "inspect entries.positions")

    # ---- restart: nothing lost
    d.stop()
    feed.close()
    c.close()
    t0 = time.monotonic()
    d.start(ready_timeout_s=60)
    h.log("restarted in %.1f s (to the first status reply)", time.monotonic() - t0)
    st = c.status()
    chk.eq(st["positions"], n_skus * len(locs), "positions after the restart")
    chk.eq(st["reservations"]["open"], RESERVATIONS, "reservations.open after the restart")
    chk.eq(st["reservations"]["load_skipped"], 0, "reservations.load_skipped after the restart")
    for i in range(LINES):
        a = c.atp(sku(i), "east")
        if not chk.eq((a["supply"], a["reserved"]),
                      (on_hand(i, 0) + on_hand(i, 1), reserved[i]),
                      "supply, reserved of %s after the restart" % sku(i)[:8]):
            break
    for i in range(0, BULK_SKUS, 997):
        a = c.atp(sku(LINES + i), "east")
        chk.eq(a["supply"], on_hand(LINES + i, 0) + on_hand(LINES + i, 1),
               "supply of bulk SKU %d after the restart" % (LINES + i))
    for n in list(range(0, RESERVATIONS, 97)) + [RESERVATIONS - 1]:
        res = c.get("big-%05d" % n)
        if res is None:
            chk.check(False, "reservation %d lost in the restart", n)
            continue
        got = [[l["sku"], l["region"], l["qty"]] for l in res["lines"]]
        chk.check(res["state"] == "held" and got == resv_lines(n),
                  "reservation %d after the restart: state %s, %d lines (first %r)",
                  n, res["state"], len(got), got[:1])
    info = S.inspect(h, data_dir)
    chk.check((info.get("map", {}).get("map_bytes") or 0) > INITIAL_MAP,
              "map_bytes after the restart: %r", info.get("map"))

    # ---- the grown store keeps taking writes
    for n in range(RESERVATIONS, RESERVATIONS + 20):
        r = c.reserve("big-%05d" % n, resv_lines(n))
        chk.check(r.get("ok") is True and r.get("granted") is True,
                  "reservation %d after the restart: %r", n, r.get("error"))
    chk.check(c.snapshot().get("ok") is True, "snapshot after the restart")
    chk.eq(c.status()["reservations"]["open"], RESERVATIONS + 20, "open at the end")
    c.close()
    d.stop()
    chk.done()
    h.log("%d checks passed", chk.count)


if __name__ == "__main__":
    harness.run(main, "store_mapgrow")
