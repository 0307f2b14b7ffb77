#!/usr/bin/python3
"""test_sched.py - atpd's threads: their names and their CPU scheduling.

`service.scheduling: batch` puts every thread of atpd, nng's and jemalloc's
included, under SCHED_BATCH (docs/CONFIG.md says when that pays). The
default, `normal`, leaves the policy atpd was started with. Checked from
/proc, as an operator would with `ps -L -o comm,cls`:

1. `scheduling: batch`: every thread is SCHED_BATCH, and our threads carry
   their names (atp:engine, atp:log-write, atp:lmdb-apply, atp:ingest,
   atp:changes), so `top -H` shows which one is busy;
2. default config: every thread keeps the policy of the process that
   started atpd (this test's own);
3. `status` says which policy is in effect (`scheduling`: batch, normal);
4. either way atpd answers and reserves (a reservation is durable and
   granted).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import store_util as S  # noqa: E402
from harness import TestFailure  # noqa: E402

SCHED_BATCH = 3
OUR_THREADS = ["atp:engine", "atp:log-write", "atp:lmdb-apply", "atp:ingest", "atp:changes"]


def threads(pid):
    """[(name, policy)] of every thread of pid, from /proc/PID/task/*/stat."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue  # the thread ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out.append((name, int(fields[38])))  # field 41 of stat(5): policy
    return out


def named(pid):
    """threads(pid) once every one of OUR_THREADS is among them, else None."""
    got = threads(pid)
    return got if set(OUR_THREADS) <= {n for n, _ in got} else None


def check(h, scheduling, want_policy):
    label = scheduling or "default"
    cfg = S.store_config(h)
    if scheduling is not None:
        cfg["service"]["scheduling"] = scheduling
    d = h.start_atpd(cfg, name="atpd-%s" % label)
    # Each thread names itself once it runs: the last one started (ingest)
    # may not have yet when the ready file appears.
    try:
        got = harness.wait_until(lambda: named(d.pid), 5, 0.01, "our threads' names")
    except TestFailure:
        got = threads(d.pid)  # what is missing is said below
    names = sorted(set(n for n, _ in got))
    h.log("%s: %d threads: %s", label, len(got), ", ".join(names))
    missing = [n for n in OUR_THREADS if n not in names]
    if missing:
        raise TestFailure("%s: no thread named %s among %s" % (label, missing, names))
    wrong = [(n, p) for n, p in got if p != want_policy]
    if wrong:
        raise TestFailure("%s: threads not under policy %d: %s" % (label, want_policy, wrong))
    st = d.ctl("status")
    want_name = {SCHED_BATCH: "batch", 0: "normal"}.get(want_policy)
    if want_name is not None and st.get("scheduling") != want_name:
        raise TestFailure("%s: status.scheduling is %r, want %r" % (label, st.get("scheduling"), want_name))
    c = S.Client(d.query_port)
    S.Feeder(d, c).publish("wms", [[2, "SKU-1", "east-0", 0, 5]], wait=True)
    r = c.reserve("R-" + label, [["SKU-1", "east", 2]])
    if r.get("granted") is not True:
        raise TestFailure("%s: reservation not granted: %r" % (label, r))
    d.stop()


def main(h):
    check(h, "batch", SCHED_BATCH)
    check(h, None, os.sched_getscheduler(0))


if __name__ == "__main__":
    harness.run(main, "sched")
