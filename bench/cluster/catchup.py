#!/usr/bin/python3
"""catchup.py [--bin-dir build] [--reservations N] [--rounds R] -
docs/PERFORMANCE.md, "Cluster: a restarted node's catch-up": how long a
standby takes, after a start, to hold the partition's whole warm copy
(status.cluster applied_seq at the stream's last sequence), when it goes
on from its own store's copy ("A node's local copy", docs/CLUSTER.md)
and when its data directory is empty (it reads the stream's whole
retained window), and the CPU it spends until then.

One nats-server (JetStream, loopback, free ports) and two atpd nodes of
one partition (lease 2s, replicas 1, durability sync), started and
stopped by pid; N reservations (default 50,000, 8 client threads over
nng) made through the owner; then R interleaved rounds of: restart the
standby on its store, restart it on an empty data directory. Prints a
table of medians. Uses the integration tests' helpers (tests/integration).
"""

import argparse
import os
import shutil
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

import harness  # noqa: E402
import nats_util  # noqa: E402
import test_cluster_failover as F  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def make_reservations(owner, n, threads=8):
    errors = []

    def work(k):
        try:
            one(k)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def one(k):
        c = harness.ReqClient(F.port_of(owner.query_url), timeout_s=30)
        for i in range(k, n, threads):
            r = c.request({"op": "reserve", "id": "r-%d" % i, "ttl_ms": 3600000,
                           "lines": [["S%d" % (i % 50), "east", 1]]}, timeout_s=30)
            if r.get("granted") is not True:
                raise harness.TestFailure("reserve r-%d: %r" % (i, r))
        c.close()
    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def caught_up(n, want_records, timeout_s=300):
    def f():
        cs = n.cluster_status() or {}
        ok = (cs.get("applied_seq", 0) >= cs.get("stream_seq", 1) > 0 and
              cs.get("warm_records") == want_records)
        return cs if ok else None
    return harness.wait_until(f, timeout_s, 0.02, "%s caught up" % n.id)


def one_start(n, records):
    t0 = time.monotonic()
    n.spawn()
    pid = n.d.proc.pid
    caught_up(n, records)
    took = time.monotonic() - t0
    cpu = cpu_s(pid)
    n.stop()
    return took, cpu


def main(h):
    args = OPTS
    nats = nats_util.NatsCluster(h, n=1).start()
    nodes = []
    for i in range(2):
        n = F.Node(h, i, [nats.server(0).url])
        n.d.cfg["cluster"].update({"name": "cu", "replicas": 1, "lease": "2s"})
        nodes.append(n)
    n1, n2 = nodes
    try:
        n1.spawn()
        n1.wait_up()
        harness.wait_until(lambda: (n1.cluster_status() or {}).get("role") == "owner", 30,
                           0.05, "n1 owns the partition")
        n1.feeder = F.NodeFeeder(n1)
        n1.feeder.publish("wms", [[2, "S%d" % k, "E1", 0, 10 ** 9] for k in range(50)],
                          wait=False)
        n1.feeder.wait_synced()
        t0 = time.monotonic()
        make_reservations(n1, args.reservations)
        h.log("%d reservations made in %.1f s", args.reservations, time.monotonic() - t0)
        n2.spawn()
        caught_up(n2, args.reservations)
        time.sleep(2.0)  # its once-a-second local write has the end
        n2.stop()
        data = n2.d.cfg["service"]["data_dir"]
        local, empty = [], []
        for r in range(args.rounds):
            local.append(one_start(n2, args.reservations))
            n2.d.cfg["service"]["data_dir"] = os.path.join(h.tmp, "empty-%d" % r)
            empty.append(one_start(n2, args.reservations))
            shutil.rmtree(n2.d.cfg["service"]["data_dir"], ignore_errors=True)
            n2.d.cfg["service"]["data_dir"] = data
            h.log("round %d: local %.2f s (%.2f s CPU), empty %.2f s (%.2f s CPU)",
                  r + 1, local[-1][0], local[-1][1], empty[-1][0], empty[-1][1])
        med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
        print("| the standby starts with | until it holds %d reservations | its CPU |"
              % args.reservations)
        print("|---|---|---|")
        print("| its own store's copy | %.2f s | %.2f s |" % (med(local, 0), med(local, 1)))
        print("| an empty data directory | %.2f s | %.2f s |" % (med(empty, 0), med(empty, 1)))
    finally:
        for n in nodes:
            if not n.down:
                n.stop()
            if n.feeder:
                n.feeder.close()
        nats.stop_all()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(HERE, "..", "..", "build"))
    ap.add_argument("--reservations", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=3)
    OPTS, rest = ap.parse_known_args()
    sys.argv = [sys.argv[0], "--bin-dir", OPTS.bin_dir] + rest
    harness.run(main, "cluster_catchup")
