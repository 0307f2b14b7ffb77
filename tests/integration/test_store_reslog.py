#!/usr/bin/python3
"""test_store_reslog.py - the reservation log in front of LMDB.

A reservation change is acknowledged once it is in the log
(`reservations.log_bytes`, file reservations.log in the data dir); LMDB gets
it later from the applier thread. The test knob
`reservations.log_apply_delay` keeps LMDB provably behind.

1. Replay: with the applier held back 60 s, reserve, commit and release,
   then kill -9 right after the last acknowledgement. `atpctl inspect` of
   the data dir shows LMDB without those reservations (so only the log has
   them) and lists every log record as pending; after the restart every one is back in exactly its state, atpd
   logs the replay, and LMDB now holds them.
2. Torn or corrupt tail: reserve more, kill -9, flip a byte in the last
   record of the log (then, in a second round, zero its second half): the
   earlier reservations are back, the damaged one is not (never applied
   half), atpd starts and logs what it ignored.
3. Reuse: a 1 MiB log carries several MiB of reservation records (the log
   is reused from offset 0 whenever LMDB has caught up); after kill -9 all
   of them are back.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import store_util as S  # noqa: E402
from harness import TestFailure  # noqa: E402

MAGIC = 0x32505441
HDR = 32
ALIGN = 4096
LOG_NAME = "reservations.log"
N_SKUS = 200
LOCS = ["east-0", "east-1"]


def sku(i):
    return "SKU-%04d" % i


def feed_stock(feed):
    events = [[2, sku(i), loc, 0, 1000000] for i in range(N_SKUS) for loc in LOCS]
    feed.publish("wms", events, wait=True)


def log_chain(data_dir):
    """[(offset, lsn, length)] of the record chain from offset 0 (same
    epoch, LSN + 1; after an append's zero padding, on at the next 4 KiB
    boundary). CRCs are not checked."""
    with open(os.path.join(data_dir, LOG_NAME), "rb") as f:
        data = f.read()
    out, pos, prev, epoch0 = [], 0, None, None
    while pos + HDR <= len(data):
        magic, _crc, epoch, lsn, plen, _n = struct.unpack_from("<IIQQII", data, pos)
        if magic != MAGIC and pos % ALIGN != 0:
            pos = (pos + ALIGN - 1) // ALIGN * ALIGN  # padding
            continue
        if magic != MAGIC or pos + HDR + plen > len(data):
            break
        if prev is not None and (lsn != prev + 1 or epoch != epoch0):
            break
        out.append((pos, lsn, HDR + plen))
        prev, epoch0 = lsn, epoch
        pos += HDR + plen
    return out


def damage(data_dir, offset, length, how):
    with open(os.path.join(data_dir, LOG_NAME), "r+b") as f:
        if how == "flip":
            f.seek(offset + length - 3)
            b = f.read(1)
            f.seek(offset + length - 3)
            f.write(bytes([b[0] ^ 0x5A]))
        else:  # torn: the record's second half never reached the disk
            half = length // 2
            f.seek(offset + half)
            f.write(b"\0" * (length - half))
        f.flush()
        os.fsync(f.fileno())


def reserve_all(c, rids, lines_of):
    for rid in rids:
        r = c.reserve(rid, lines_of(rid))
        if r.get("granted") is not True:
            raise TestFailure("reservation %s not granted: %r" % (rid, r))


def lmdb_reservations(h, data_dir):
    """Reservations in LMDB by `atpctl inspect` (entries.reservations)."""
    info = S.inspect(h, data_dir)
    n = (info.get("entries") or {}).get("reservations")
    if not isinstance(n, int):
        raise TestFailure("atpctl inspect %s: no entries.reservations: %r" % (data_dir, info))
    return n


def one_line(rid):
    return [[sku(hash(rid) % N_SKUS), "east", 1 + len(rid) % 3]]


def part_replay_and_tail(h, chk):
    # Stock first, snapshotted, with the applier at full speed (a snapshot
    # goes through the applier too); then the same data dir held back.
    cfg = S.store_config(h, regions=("east",), locs_per_region=2, durability="sync",
                         default_ttl="1h", max_ttl="1d", retention="1h")
    data_dir = cfg["service"]["data_dir"]
    d = h.start_atpd(cfg, name="atpd-stock")
    c = S.Client(d.query_port)
    feed_stock(S.Feeder(d, c))
    r = c.snapshot()
    if r.get("ok") is not True:
        raise TestFailure("snapshot: %r" % r)
    d.stop()
    cfg = S.store_config(h, data_dir=data_dir, regions=("east",), locs_per_region=2,
                         durability="sync", default_ttl="1h", max_ttl="1d",
                         retention="1h", log_apply_delay="60s")
    d = h.start_atpd(cfg, name="atpd-held")
    c = S.Client(d.query_port)

    # ---- 1. replay, LMDB held back
    rids = ["a-%d" % i for i in range(S.scaled(60, 10))]
    reserve_all(c, rids, one_line)
    committed, released = rids[: len(rids) // 3], rids[len(rids) // 3: 2 * len(rids) // 3]
    for rid in committed:
        c.ok({"op": "commit", "id": rid})
    for rid in released:
        c.ok({"op": "release", "id": rid})
    before = {rid: c.get(rid) for rid in rids}
    n_changes = len(rids) + len(committed) + len(released)
    store = c.status().get("store") or {}
    chk.check(store.get("log_groups", 0) >= n_changes,
              "status: store.log_groups %s counts every acknowledged change (%d)",
              store.get("log_groups"), n_changes)
    chk.check(0 < store.get("log_appends", 0) <= store.get("log_groups", 0),
              "status: store.log_appends %s (group commit: at most one per group)",
              store.get("log_appends"))
    d.kill9()
    n_lmdb = lmdb_reservations(h, data_dir)
    h.log("after kill -9: LMDB holds %s reservations, the log %d records",
          n_lmdb, len(log_chain(data_dir)))
    chk.eq(n_lmdb, 0, "reservations in LMDB while the applier was held back")
    rlog = S.inspect(h, data_dir).get("reservation_log") or {}
    chk.check(rlog.get("pending") == len(log_chain(data_dir)) >= n_changes and
              rlog.get("records") == rlog.get("pending") and rlog.get("torn") is False,
              "atpctl inspect lists the log: every record pending: %r" % (rlog,))
    chk.check(len(log_chain(data_dir)) >= len(rids) + len(committed) + len(released),
              "the log holds every acknowledged change")
    d.start()
    c = S.Client(d.query_port)
    for rid in rids:
        got = c.get(rid)
        chk.check(got is not None, "reservation %s lost", rid)
        if got is not None:
            chk.eq(got.get("state"), before[rid].get("state"), "state of %s" % rid)
            chk.eq(got.get("lines"), before[rid].get("lines"), "lines of %s" % rid)
    log = S.log_text(d)
    chk.check("replayed %d groups from the reservation log" % n_changes in log,
              "atpd logs the replay")
    chk.eq((c.status().get("store") or {}).get("log_replayed"), n_changes,
           "status: store.log_replayed")
    d.stop()
    chk.eq(lmdb_reservations(h, data_dir), len(rids), "reservations in LMDB after the replay")
    rlog = S.inspect(h, data_dir).get("reservation_log") or {}
    chk.eq((rlog.get("pending"), rlog.get("torn")), (0, False),
           "atpctl inspect after a clean stop: nothing pending in the log")

    # ---- 2. a damaged last record: earlier ones back, it is not
    for rnd, how in enumerate(("flip", "torn")):
        d.start()
        c = S.Client(d.query_port)
        more = ["%s-%d" % (how, i) for i in range(5)]
        reserve_all(c, more, one_line)
        d.kill9()
        chain = log_chain(data_dir)
        chk.check(len(chain) >= len(more), "the log holds the new records")
        off, lsn, length = chain[-1]
        h.log("round %d: damaging (%s) the last record, LSN %d at offset %d",
              rnd, how, lsn, off)
        damage(data_dir, off, length, how)
        d.start()
        c = S.Client(d.query_port)
        for rid in more[:-1]:
            chk.check(c.get(rid) is not None, "reservation %s before the damaged one lost", rid)
        chk.check(c.get(more[-1]) is None, "the damaged record %s was applied", more[-1])
        for rid in rids:
            chk.check(c.get(rid) is not None, "older reservation %s lost", rid)
        chk.check("record at offset %d ignored" % off in S.log_text(d),
                  "atpd logs the ignored record")
        st = c.status()
        chk.check(st.get("ok") is True, "status after the damaged log")
        d.stop()


def part_reuse(h, chk):
    cfg = S.store_config(h, regions=("east",), locs_per_region=2, durability="sync",
                         default_ttl="1h", max_ttl="1d", retention="1h",
                         max_lines=100, log_bytes=1 << 20)
    data_dir = cfg["service"]["data_dir"]
    d = h.start_atpd(cfg)
    c = S.Client(d.query_port)
    feed = S.Feeder(d, c)
    feed_stock(feed)

    def lines(rid):
        n = int(rid.split("-")[1])
        return [[sku((n + k) % N_SKUS), "east", 1] for k in range(40)]

    rids = ["w-%d" % i for i in range(S.scaled(1200, 600))]
    reserve_all(c, rids, lines)
    d.kill9()
    size = os.path.getsize(os.path.join(data_dir, LOG_NAME))
    chk.eq(size, 1 << 20, "log file size")
    chain = log_chain(data_dir)
    h.log("after %d reservations: chain of %d records from LSN %d", len(rids), len(chain),
          chain[0][1] if chain else -1)
    # A fresh data dir starts at LSN 1: a reused log's chain starts later.
    chk.check(chain and chain[0][1] > 100,
              "the log was reused from offset 0 (first LSN %s)", chain[0][1] if chain else None)
    d.start()
    c = S.Client(d.query_port)
    for rid in rids:
        got = c.get(rid)
        chk.check(got is not None, "reservation %s lost after reuse", rid)
        if got is not None:
            chk.eq(len(got.get("lines", [])), 40, "lines of %s" % rid)
    d.stop()


def main(h):
    chk = harness.Checks(h)
    part_replay_and_tail(h, chk)
    part_reuse(h, chk)
    chk.done()


if __name__ == "__main__":
    harness.run(main, "store_reslog")
