#!/usr/bin/python3
"""test_cluster_local.py - a cluster node's local copy (docs/CLUSTER.md, "A
node's local copy"): a restarted node goes on from its own store's copy
of the partition's reservations and position instead of reading the
whole stream, and what it goes on from is right. One nats-server
(JetStream), one partition, nodes n1 and n2 (lease 1s, replicas 1).

a. n1 owns the partition; RESV reservations are made through it (some
   released, some committed); the standby n2 follows them and its store
   takes them (its status' applied_seq reaches the stream's last).
b. n2 is stopped and started again: it logs that its warm copy goes on
   from the local store with every record, at a position no older than
   the stream's last sequence when it stopped (asked of NATS), and
   catches up from there. More reservations are made meanwhile.
b2. n2 runs alone (no `cluster:` section) on its store, grants solo-1 and
   releases a-2, then rejoins: its store is not taken for the copy (no
   position recorded: a node started alone forgets it).
c. n1 is killed (kill -9): n2 takes over with every reservation in the
   state n1 acknowledged (each checked by id: a-2 held), solo-1 absent,
   and grants what is left.
d. n2 restarted in another partition (`cluster.partition` changed, same
   data directory): its store's records are not used (another stream's),
   and once it owns that partition and wrote its copy, a restart goes on
   from 0 records: the old partition's were deleted from its store.

Timings of b and of an empty data directory are printed (catch-up). Labels:
integration, cluster. About 40 s. Loopback only; servers on free ports,
stopped by pid; every wait bounded.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import nats_util  # noqa: E402
import test_cluster_failover as F  # noqa: E402

TF = harness.TIME_FACTOR
RESV = 1500
STOCK = 1000000
GOES_ON = re.compile(r"the warm copy goes on from the local store: (\d+) reservations "
                     r"at sequence (\d+) of stream (\S+) \(last (\d+)\)")
NOT_USED = re.compile(r"the local store's (\d+) reservations are not used \(([^)]*)\)")


def check(cond, msg):
    if not cond:
        raise harness.TestFailure(msg)


def stderr_of(n):
    with open(n.d.stderr_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def make_nodes(h, url):
    nodes = []
    for i in range(2):
        n = F.Node(h, i, [url])
        c = n.d.cfg["cluster"]
        c.update({"name": "loc", "replicas": 1, "lease": "1s"})
        nodes.append(n)
    return nodes


def role(n):
    cs = n.cluster_status() or {}
    return cs.get("role"), cs


def wait_role(n, want, timeout_s=20):
    def f():
        n.d.check_alive()
        r, cs = role(n)
        return cs if r == want else None
    return harness.wait_until(f, timeout_s * TF, 0.05, "%s is %s" % (n.id, want))


def stream_last(nats, stream="LOC_p0"):
    """The stream's last sequence, asked of NATS itself."""
    with nats_util.NatsConn(nats.server(0).client_port) as c:
        info = c.js("STREAM.INFO." + stream, {})
    return info["state"]["last_seq"]


def caught_up(n, nats, timeout_s=20):
    """Until n (a standby) read the stream to its last sequence now, and
    its own store took it (status.cluster.stored_seq)."""
    last = stream_last(nats)

    def f():
        n.d.check_alive()
        r, cs = role(n)
        return cs if min(cs.get("applied_seq", 0), cs.get("stored_seq", 0)) >= last else None
    return harness.wait_until(f, timeout_s * TF, 0.05,
                              "%s read and stored the stream to %d" % (n.id, last))


def reserve_all(owner, ids, expect):
    for i, rid in enumerate(ids):
        r = owner.ask({"op": "reserve", "id": rid, "ttl_ms": 3600000,
                       "lines": [["S%d" % (i % 7), "east", 1 + i % 3]]}, timeout_s=5.0)
        check(r is not None and r.get("granted") is True, "reserve %s: %r" % (rid, r))
        if i % 5 == 0:
            r = owner.ask({"op": "release", "id": rid}, timeout_s=5.0)
            check(r is not None and r.get("ok"), "release %s: %r" % (rid, r))
            expect[rid] = "released"
        elif i % 5 == 1:
            r = owner.ask({"op": "commit", "id": rid}, timeout_s=5.0)
            check(r is not None and r.get("ok"), "commit %s: %r" % (rid, r))
            expect[rid] = "committed"
        else:
            expect[rid] = "held"


def restart_timed(n, nats):
    """Stop n, start it again; seconds until it has read the stream."""
    n.stop()
    t0 = time.monotonic()
    n.spawn()
    n.wait_up()
    n.feeder.after_restart()
    caught = caught_up(n, nats)
    return time.monotonic() - t0, caught


def main(h):
    nats = nats_util.NatsCluster(h, n=1).start()
    n1, n2 = make_nodes(h, nats.server(0).url)
    try:
        n1.spawn()
        wait_role(n1, "owner")
        n2.spawn()
        n2.wait_up()
        for n in (n1, n2):
            n.feeder = F.NodeFeeder(n)
            n.feeder.publish("wms", [[2, "S%d" % k, "E1", 0, STOCK] for k in range(7)],
                             wait=False)
        for n in (n1, n2):
            n.feeder.wait_synced()

        # a. reservations, followed by the standby
        expect = {}
        reserve_all(n1, ["a-%d" % i for i in range(RESV)], expect)
        caught_up(n2, nats)
        last_a = stream_last(nats)
        h.log("a: %d reservations; n2 followed to sequence %d", RESV, last_a)

        # b. n2 restarted: on from its store
        took, cs = restart_timed(n2, nats)
        m = GOES_ON.findall(stderr_of(n2))
        check(m, "b: n2 says it goes on from its local store:\n%s" % stderr_of(n2)[-2000:])
        records, seq = int(m[-1][0]), int(m[-1][1])
        check(records == RESV and seq >= last_a,
              "b: n2 went on from %d records at %d; want %d at >= %d" % (records, seq, RESV, last_a))
        check(cs.get("warm_records") == RESV, "b: n2's warm copy after catching up: %r" % cs)
        h.log("b: n2 restarted from its local copy (%d records, sequence %d) and caught up "
              "in %.2f s", records, seq, took)
        reserve_all(n1, ["b-%d" % i for i in range(200)], expect)
        caught_up(n2, nats)

        # b2. n2 run alone on its store (no cluster: section) changes it:
        # back in the cluster, that store is not taken for the copy
        n2.stop()
        cluster = n2.d.cfg.pop("cluster")
        n2.spawn()
        n2.wait_up()
        n2.feeder.after_restart()

        def alone_ready():
            n2.d.check_alive()
            st = n2.status() or {}
            return st.get("ready") is True
        harness.wait_until(alone_ready, 20 * TF, 0.05, "b2: n2 alone is ready")
        r = n2.ask({"op": "reserve", "id": "solo-1", "lines": [["S0", "east", 1]]})
        check(r is not None and r.get("granted") is True, "b2: alone, n2 grants: %r" % r)
        r = n2.ask({"op": "release", "id": "a-2"})
        check(r is not None and r.get("ok"), "b2: alone, n2 releases a-2: %r" % r)
        n2.stop()
        n2.d.cfg["cluster"] = cluster
        n2.spawn()
        n2.wait_up()
        n2.feeder.after_restart()
        caught_up(n2, nats)
        m = NOT_USED.findall(stderr_of(n2))
        check(m and m[-1][1] == "no position recorded",
              "b2: back in the cluster, n2 does not go on from its store: %r" % m[-1:])
        h.log("b2: a store changed by n2 alone is not taken for the copy on its return")

        # c. the owner killed: n2 has everything
        n1.kill9()
        wait_role(n2, "owner", timeout_s=15)
        for rid, state in sorted(expect.items()):
            r = n2.ask({"op": "reservation", "id": rid}, timeout_s=5.0)
            got = (r or {}).get("reservation", {}).get("state")
            check(got == state, "c: %s on the new owner: %r, want %s" % (rid, got, state))
        r = n2.ask({"op": "reservation", "id": "solo-1"})
        check((r or {}).get("error", {}).get("name") == "not_found",
              "c: solo-1 (made by n2 alone) is not the partition's: %r" % r)
        r = n2.ask({"op": "reserve", "id": "c-1", "lines": [["S0", "east", 1]]})
        check(r is not None and r.get("granted") is True, "c: the new owner grants: %r" % r)
        h.log("c: n2 owns the partition with all %d reservations in their states", len(expect))

        # d. another partition on the same data directory
        n2.stop()
        n2.d.cfg["cluster"]["partition"] = "other"
        n2.spawn()
        wait_role(n2, "owner")
        m = NOT_USED.findall(stderr_of(n2))
        check(m and "another stream" in m[-1][1],
              "d: n2's old partition's records not used: %r" % m)
        n2.stop()
        n2.spawn()
        wait_role(n2, "owner")
        m = GOES_ON.findall(stderr_of(n2))
        check(m and int(m[-1][0]) == 0 and m[-1][2] == "LOC_other",
              "d: n2 goes on from its store with none of p0's records: %r" % m[-1:])
        h.log("d: in another partition, the old records were deleted from n2's store")

        # catch-up from the stream alone, for comparison with b
        n2.stop()
        n2.d.cfg["cluster"]["partition"] = "p0"
        n2.d.cfg["service"]["data_dir"] = os.path.join(n2.d.dir, "data-empty")
        n1.spawn()
        n1.wait_up()
        n1.feeder.after_restart()
        t0 = time.monotonic()
        n2.spawn()
        n2.wait_up()
        n2.feeder.after_restart()
        cs = caught_up(n2, nats)
        h.log("an empty data directory caught up with %d records in %.2f s (b: %.2f s from "
              "its local copy)", cs.get("warm_records", -1), time.monotonic() - t0, took)
    finally:
        for n in (n1, n2):
            if not n.down:
                n.stop()
            if n.feeder:
                n.feeder.close()
        nats.stop_all()


if __name__ == "__main__":
    harness.run(main, "cluster_local")
