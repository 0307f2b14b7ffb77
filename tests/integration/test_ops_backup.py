#!/usr/bin/python3
"""test_ops_backup.py - `atpctl backup DIR` under reservation load, and the
restore (issue 15; docs/CONFIG.md, "Backup and restore"; docs/PROTOCOL.md,
`backup`):

1. Two client threads reserve (bounded: 3000 each, 8 s) while LMDB is kept
   behind the reservation log on purpose (log_apply_delay 200 ms: an
   acknowledged reservation is in the log, not yet in LMDB). Halfway,
   `atpctl backup DIR` runs; the load goes on during and after it.
2. Restore: DIR/data.mdb copied into a fresh data directory, a second atpd
   started on it: every reservation acknowledged before the backup command
   started is there, with its lines.
3. A second backup into the same (now not empty) DIR: `conflict`, nothing
   written; a relative dir sent raw: `bad_request`.

Label: integration, ops. Bounded: about 15 s (x4 under sanitizers).
"""

import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

PER_THREAD = harness.scaled(3000, 0.25 if harness.SANITIZER else 1.0)
LOAD_S = 8 * harness.TIME_FACTOR


def config(h):
    return harness.build_config(
        h, ["r"], [("L", "r")], [harness.source_entry("wms", [(["L"], ["on_hand"])])],
        reservations={"log_apply_delay": "200ms", "max_ttl": "1d", "default_ttl": "1d"})


def main(h):
    ck = harness.Checks(h)
    cfg = config(h)
    d = h.start_atpd(cfg)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)
    pub.send_payload(pub.next_batch("wms", [[2, "S%d" % i, "L", 0, 10 ** 9]
                                            for i in range(10)])[1])
    pub.wait_applied("wms")

    acked = []  # (monotonic time of the reply, id)
    lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def load(t):
        cl = harness.Client(d.query_port, d=d)
        t_end = time.monotonic() + LOAD_S
        try:
            for n in range(PER_THREAD):
                if stop.is_set() or time.monotonic() > t_end:
                    break
                rid = "b-%d-%d" % (t, n)
                r = cl.reserve(rid, [("S%d" % (n % 10), "r", 1 + n % 3)])
                t_ack = time.monotonic()
                if r.get("ok") is True:
                    with lock:
                        acked.append((t_ack, rid, 1 + n % 3))
                elif harness.error_code(r) != 11:  # busy: retried by nobody
                    errors.append(r)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(repr(e))
        finally:
            cl.close()
    threads = [threading.Thread(target=load, args=(t,)) for t in range(2)]
    for th in threads:
        th.start()
    harness.wait_until(lambda: len(acked) >= PER_THREAD // 3 or not any(
        th.is_alive() for th in threads), LOAD_S + 10, 0.01, "load under way")

    bdir = os.path.join(h.tmp, "backup-1")
    t_backup = time.monotonic()
    with lock:
        before = {rid: q for t, rid, q in acked if t < t_backup}
    r = d.ctl("backup", bdir, timeout_s=60)
    t_done = time.monotonic()
    h.log("backup: %d reservations acknowledged before it; reply %r in %.0f ms",
          len(before), r, (t_done - t_backup) * 1000)
    ck.eq(r.get("dir"), bdir, "the reply names the directory")
    # The load goes on a little after the backup, then stops.
    harness.wait_until(lambda: any(t > t_done for t, _, _ in list(acked)) or not any(
        th.is_alive() for th in threads), 10, 0.01, "a reservation after the backup")
    stop.set()
    for th in threads:
        th.join(timeout=60 * harness.TIME_FACTOR)
    ck.check(not errors, "load errors: %r" % errors[:3])
    ck.check(len(before) > 0, "reservations acknowledged before the backup")

    # 3. Errors: not empty; relative.
    rc, obj, err = d.ctl_raw("backup", bdir)
    ck.check(rc != 0 and harness.error_name(obj) == "conflict",
             "backup into a non-empty dir: exit %d, %r" % (rc, obj))
    ck.eq(sorted(os.listdir(bdir)), ["data.mdb"], "the backup dir holds data.mdb only")
    ck.eq(oct(os.stat(os.path.join(bdir, "data.mdb")).st_mode & 0o777), oct(0o640),
          "the backup is as private as the data directory's files")
    rr = c.req({"op": "backup", "dir": "relative/dir"})
    ck.eq(harness.error_name(rr), "bad_request", "a relative dir: %r" % (rr,))
    c.close()
    pub.close()
    d.stop()

    # 2. Restore into a fresh data directory; a second atpd on it.
    cfg2 = config(h)
    os.makedirs(cfg2["service"]["data_dir"])
    shutil.copy(os.path.join(bdir, "data.mdb"), cfg2["service"]["data_dir"])
    d2 = h.start_atpd(cfg2, name="restored")
    c2 = harness.Client(d2.query_port, d=d2)
    ck.check(c2.status()["store"]["used_bytes"] > 0,
             "status shows the restored store's pages before any write: %r"
             % (c2.status()["store"],))
    missing = []
    for rid, q in sorted(before.items()):
        res = c2.get(rid)
        if res is None or res.get("state") != "held" or \
                [ln.get("qty") for ln in res.get("lines", [])] != [q]:
            missing.append((rid, res))
    ck.check(not missing, "%d of %d reservations acknowledged before the backup missing or "
             "changed after the restore, e.g. %r" % (len(missing), len(before), missing[:3]))
    after = [rid for t, rid, _ in acked if t > t_done]
    present_after = sum(1 for rid in after[:200] if c2.get(rid) is not None)
    h.log("restored: all %d acknowledged before the backup found; %d of the first %d "
          "acknowledged after it are in the copy too (not required)",
          len(before) - len(missing), present_after, min(200, len(after)))
    c2.close()
    ck.done()
    d2.stop()


if __name__ == "__main__":
    harness.run(main, "ops_backup")
