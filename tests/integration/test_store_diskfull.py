#!/usr/bin/python3
"""test_store_diskfull.py - a full disk refuses writes cleanly, and atpd
recovers when space comes back.

The data dir lives on a small filesystem the test mounts, once on each
kind store_util.SmallFs knows: an 8 MiB tmpfs (fsync does nothing there),
then an ext4 image on a loop device (fdatasync writes; a nearly full disk
gives short writes) when the machine allows it (loop devices, e2fsprogs):
if not, that case is skipped and said so. Without a tmpfs the test ends as
skipped (exit 77, ctest's SKIP_RETURN_CODE), or fails with
ATP_REQUIRE_ALL=1 (CI as root can always mount one). Each is always
unmounted at the end, after atpd stopped.

1. atpd gets positions (2,000 SKUs x 2 locations, 60-byte SKU ids),
   some reservations and a snapshot; then a filler file takes every free
   byte of the filesystem.
2. Reservations (200 lines each) until one is refused: the refusal is the
   error store_full (code 20). Every reply is either granted or store_full;
   a refused reservation is not stored (`reservation` says not_found) and
   `reserved` in the ATP answers is exactly the sum of the granted ones
   (nothing half-stored). While full: queries answer, source events apply
   (ATP shows them), a forced snapshot answers store_full; status counts
   reservations.store_failures and snapshots.failed, and atpd's log says
   "No space left on device".
   Then atpd is killed (-9) and restarted while the disk is still full: the
   reservations acknowledged but not yet in LMDB are in the reservation log,
   and LMDB has no room for them. atpd must start anyway ("starting with
   them pending" in its log): queries answer, every acknowledged
   reservation is there, none of the refused ones, a new reservation is
   refused with store_full.
3. The filler is deleted: the refused reservations are granted on retry,
   snapshots are stored again (status snapshots.taken grows).
4. Restart on the same data dir: every granted reservation is there with its
   lines, the refused-then-retried ones too, none of the ones never granted;
   the positions changed while the disk was full are restored with their
   latest values.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import store_util as S  # noqa: E402
from harness import TestFailure  # noqa: E402

N_SKUS = 2000
LOCS = ["east-0", "east-1"]
PAD = "y" * 52
LINES = 200
MAX_ATTEMPTS = 300  # reservations tried while the disk is full


def sku(i):
    return "D%07d-%s" % (i, PAD)


def lines_of(n):
    """Reservation n: LINES consecutive SKUs from a rotating start, qty 1."""
    start = (n * 37) % N_SKUS
    return [[sku((start + k) % N_SKUS), "east", 1] for k in range(LINES)]


class Model:
    """What atpd must hold: granted reservations and current on_hand."""

    def __init__(self):
        self.granted = {}  # id -> lines
        self.on_hand = {}  # (sku index, loc index) -> value

    def reserved(self, i):
        s = sku(i)
        return sum(q for lines in self.granted.values() for (k, _, q) in lines if k == s)

    def supply(self, i):
        return sum(max(0, self.on_hand.get((i, l), 0)) for l in range(len(LOCS)))


def set_all(feed, model, base):
    """SET on_hand of every position to base + something; waits applied."""
    events = []
    for i in range(N_SKUS):
        for li, loc in enumerate(LOCS):
            v = base + (i * 3 + li) % 50
            model.on_hand[(i, li)] = v
            events.append([2, sku(i), loc, 0, v])
    feed.publish("wms", events, wait=True)


def check_atp(chk, c, model, what, step=97):
    for i in list(range(0, N_SKUS, step)) + [N_SKUS - 1]:
        a = c.atp(sku(i), "east")
        if not chk.eq((a["supply"], a["reserved"]), (model.supply(i), model.reserved(i)),
                      "%s: supply, reserved of SKU %d" % (what, i)):
            return


def main(h):
    skipped = []
    for kind in S.SmallFs.KINDS:
        fs = S.SmallFs(h.tmp, size_mb=8, kind=kind)
        if kind == "tmpfs":
            fs.mount_or_skip()
        elif not fs.mount():
            h.log("%s case skipped: %s", kind, fs.skip_reason)
            skipped.append(fs.skip_reason)
            continue
        try:
            h.log("small filesystem: %s on %s, %d KiB free", fs.kind, fs.dir,
                  fs.free_bytes() >> 10)
            run(h, fs)
        finally:
            for x in h.daemons:
                if x.alive():
                    x.stop(expect_clean=False)
            fs.close()
            h.log("unmounted %s", fs.dir)
    if skipped:
        print("NOTE: part skipped: %s" % "; ".join(skipped), flush=True)


def run(h, fs):
    data_dir = os.path.join(fs.dir, "data")
    cfg = S.store_config(h, data_dir=data_dir, regions=("east",), locs_per_region=2,
                         durability="sync", max_lines=1000, default_ttl="1h",
                         max_ttl="1d", retention="1h", log_bytes=1 << 20)
    d = h.start_atpd(cfg, name="atpd-" + fs.kind)
    c = S.Client(d.query_port)
    feed = S.Feeder(d, c)
    chk = harness.Checks(h)
    model = Model()

    # ---- 1. some state, then fill the filesystem
    set_all(feed, model, 1000)
    for n in range(10):
        r = c.reserve("pre-%d" % n, lines_of(n))
        if r.get("granted") is not True:
            raise TestFailure("reservation pre-%d not granted: %r" % (n, r))
        model.granted["pre-%d" % n] = [tuple(l) for l in lines_of(n)]
    r = c.snapshot()
    if r.get("ok") is not True:
        raise TestFailure("snapshot before filling: %r" % r)
    st0 = c.status()
    filler = os.path.join(fs.dir, "filler")
    n = fs.fill(filler)
    h.log("filler: %d KiB; %d bytes left free; data.mdb %d KiB", n >> 10, fs.free_bytes(),
          S.data_mdb_size(data_dir) >> 10)
    chk.check(fs.free_bytes() < 64 << 10, "filesystem not full: %d bytes free", fs.free_bytes())

    # ---- 2. reservations until refused
    refused, granted_full, other = [], [], []
    attempts = 0
    for k in range(MAX_ATTEMPTS):
        attempts += 1
        rid = "full-%d" % k
        lines = lines_of(100 + k)
        r = c.reserve(rid, lines)
        if r.get("ok") is True and r.get("granted") is True:
            granted_full.append(rid)  # LMDB reused free pages of its file
            model.granted[rid] = [tuple(l) for l in lines]
        elif S.error_code(r) == S.E_STORE_FULL:
            chk.eq(S.error_name(r), "store_full", "error name of a refused reservation")
            refused.append(rid)
            if len(refused) >= 5:
                break
        else:
            other.append((rid, r))
    h.log("while full: %d granted (free pages reused), %d refused with store_full, %d other",
          len(granted_full), len(refused), len(other))
    chk.check(refused, "no reservation was refused with store_full in %d attempts", MAX_ATTEMPTS)
    chk.check(not other, "replies neither granted nor store_full: %r", other[:3])
    for rid in refused:
        chk.check(c.get(rid) is None, "refused reservation %s was stored", rid)
    check_atp(chk, c, model, "while full")

    # restart while full: the log's groups do not fit in LMDB
    d.kill9()
    h.log("killed -9 while full; restarting with %d bytes free", fs.free_bytes())
    d.start(ready_timeout_s=60)
    c.close()  # reconnects on the next request
    feed.reconnect()
    chk.check("starting with them pending" in S.log_text(d),
              "atpd's log does not say the replayed groups are pending")
    chk.eq(c.status()["reservations"]["open"], len(model.granted),
           "open reservations after a restart while full")
    for rid, lines in model.granted.items():
        res = c.get(rid)
        got = [(l["sku"], l["region"], l["qty"]) for l in res["lines"]] if res else None
        chk.check(got == list(lines), "%s after a restart while full: %s", rid,
                  "missing" if res is None else "%d lines" % len(got))
    for rid in refused:
        chk.check(c.get(rid) is None, "refused reservation %s exists after the restart", rid)
    check_atp(chk, c, model, "restarted while full")
    rid = "full-%d" % attempts
    attempts += 1
    r = c.reserve(rid, lines_of(100 + attempts - 1))
    chk.check(S.error_code(r) == S.E_STORE_FULL,
              "reservation after a restart while full: want store_full, got %r", r)
    refused_before_restart = len(refused)
    refused.append(rid)
    st0 = c.status()  # counters start again with the process

    # queries and ingest keep working; snapshots are refused
    snap_err = None
    for attempt in range(5):
        set_all(feed, model, 2000 + 100 * attempt)
        r = c.snapshot()
        if r.get("ok") is not True:
            snap_err = r
            break
        h.log("snapshot %d fit in reused pages; changing everything again", attempt)
    chk.check(snap_err is not None and S.error_code(snap_err) == S.E_STORE_FULL,
              "snapshot while full: want store_full, got %r", snap_err)
    check_atp(chk, c, model, "ingest while full")
    st = c.status()
    chk.check(st["reservations"]["store_failures"] >= len(refused) - refused_before_restart,
              "status reservations.store_failures %d < %d refused since the restart",
              st["reservations"]["store_failures"], len(refused) - refused_before_restart)
    chk.check(st["snapshots"]["failed"] >= 1, "status snapshots.failed = %r", st["snapshots"])
    chk.eq(st["reservations"]["open"], len(model.granted), "open reservations while full")
    log = S.log_text(d)
    chk.check("No space left on device" in log, "atpd's log does not say 'No space left on device'")
    d.check_alive()

    # ---- 3. space comes back
    os.unlink(filler)
    h.log("filler deleted: %d KiB free", fs.free_bytes() >> 10)
    for rid in refused:
        k = int(rid.split("-")[1])
        lines = lines_of(100 + k)
        r = c.reserve(rid, lines)
        if chk.check(r.get("ok") is True and r.get("granted") is True,
                     "retry of %s after freeing space: %r", rid, r.get("error")):
            model.granted[rid] = [tuple(l) for l in lines]
    r = c.snapshot()
    chk.check(r.get("ok") is True, "snapshot after freeing space: %r", r)
    harness.wait_until(lambda: c.status()["snapshots"]["taken"] > st0["snapshots"]["taken"],
                       10, 0.1, "snapshots.taken to grow")
    set_all(feed, model, 3000)
    r = c.snapshot()
    chk.check(r.get("ok") is True, "second snapshot after freeing space: %r", r)
    check_atp(chk, c, model, "after freeing space")
    chk.eq(c.status()["reservations"]["open"], len(model.granted), "open after freeing space")

    # ---- 4. restart: what was acknowledged is there, nothing else
    d.stop()
    feed.close()
    c.close()
    d.start(ready_timeout_s=60)
    st = c.status()
    chk.eq(st["positions"], N_SKUS * len(LOCS), "positions after the restart")
    chk.eq(st["reservations"]["open"], len(model.granted), "open after the restart")
    chk.eq(st["reservations"]["load_skipped"], 0, "load_skipped after the restart")
    for rid, lines in model.granted.items():
        res = c.get(rid)
        got = [(l["sku"], l["region"], l["qty"]) for l in res["lines"]] if res else None
        chk.check(got == list(lines), "%s after the restart: %s", rid,
                  "missing" if res is None else "%d lines" % len(got))
    for k in range(attempts + 2):
        rid = "full-%d" % k
        if rid not in model.granted:
            chk.check(c.get(rid) is None, "%s was never granted but exists", rid)
    check_atp(chk, c, model, "after the restart")
    c.close()
    d.stop()
    chk.done()
    h.log("%d checks passed", chk.count)


if __name__ == "__main__":
    harness.run(main, "store_diskfull")
