#!/usr/bin/python3
"""test_cluster_edges.py - the cluster's edge cases that a review found
(docs/CLUSTER.md), each on one nats-server (JetStream) and one atpd node
(replicas 1, lease 1s):

1. A stream whose messages all aged out (here: purged, which leaves the
   same state: no message, the last sequence kept) is taken over at the
   next start: the node becomes ready within a few seconds and grants,
   instead of waiting for ever for a sequence no message has.
2. A changed `cluster.lease` (1s -> 3s) is taken over by the lease bucket
   (its TTL follows): the node stays the owner for several leases instead
   of losing its lease at every renewal.
4. (before 3) atpctl pointed at a standby, over nng and over HTTP: the
   `not_owner` it gets is followed to the owner, which grants.
3. The partition's stream deleted under the owner: a reservation is never
   granted, the node gives up within the lease plus the 15 s grace and
   exits with status 75 (it does not retry for ever, and does not hang).

Labels: integration, cluster. About 40 s. Loopback only; servers on free
ports, stopped by pid; every wait bounded.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import http_util  # noqa: E402
import nats_util  # noqa: E402

TF = harness.TIME_FACTOR
GRACE_S = 15.0  # docs/CLUSTER.md, "The lease"


def check(cond, msg):
    if not cond:
        raise harness.TestFailure(msg)


def node_config(h, nats_url, lease):
    cfg = http_util.http_config(h)
    cfg["cluster"] = {"nats": [nats_url], "name": "edge", "node": "e1",
                      "replicas": 1, "lease": lease}
    return cfg


def cluster_status(d):
    rc, obj, _ = d.ctl_raw("status", timeout_s=10)
    if rc != 0 or not isinstance(obj, dict):
        return None
    return obj.get("cluster")


def wait_owner(d, timeout_s, what):
    def owner():
        d.check_alive()
        cs = cluster_status(d)
        return cs if cs is not None and cs.get("role") == "owner" else None
    t0 = time.monotonic()
    cs = harness.wait_until(owner, timeout_s * TF, 0.05, what)
    return cs, time.monotonic() - t0


def stock_sku(d):
    """A SKU of region east with ATP > 0 (atp-feed's stock)."""
    for i in range(20):
        a = d.ctl("atp", "SKU-%d" % i, "east")
        if a.get("atp", 0) > 0:
            return "SKU-%d" % i
    raise harness.TestFailure("atp-feed left no SKU with stock in east")


def main(h):
    nats = nats_util.NatsCluster(h, n=1).start()
    port = nats.server(0).client_port
    url = nats.server(0).url
    stream = "EDGE_p0"

    d = harness.Atpd(h, node_config(h, url, "1s"), "edge")
    d.start()
    cs, took = wait_owner(d, 20, "the node owns the partition")
    h.log("the node owns the partition after %.2f s (epoch %s)", took, cs.get("epoch"))
    d.feed(["--messages", 60, "--skus", 5, "--set-ratio", 1, "--rate", 0, "--seed", 5])
    sku = stock_sku(d)
    r = d.ctl("reserve", "edge-1", "%s:east:1" % sku, "--ttl", "10m")
    check(r.get("granted") is True, "reserve edge-1 granted: %r" % r)

    # 1. every message gone, the last sequence kept
    d.stop()
    with nats_util.NatsConn(port) as c:
        p = c.js("STREAM.PURGE." + stream, {})
    check(p.get("success") is True, "purge %s: %r" % (stream, p))
    with nats_util.NatsConn(port) as c:
        info = c.js("STREAM.INFO." + stream, {})
    state = info.get("state", {})
    check(state.get("messages") == 0 and state.get("last_seq", 0) > 0,
                  "the purged stream keeps its last sequence: %r" % state)
    d.start()
    cs, took = wait_owner(d, 10, "the node takes over a stream whose messages are gone")
    h.log("1: owner of a stream without messages (last sequence %s) after %.2f s",
          state.get("last_seq"), took)
    r = d.ctl("reserve", "edge-2", "%s:east:1" % sku, "--ttl", "10m")
    check(r.get("granted") is True, "reserve edge-2 granted after the takeover: %r" % r)

    # 2. a longer lease: the bucket's TTL follows it
    d.stop()
    d.cfg["cluster"]["lease"] = "3s"
    d.start()
    cs, took = wait_owner(d, 15, "the node owns the partition with lease 3s")
    epoch = cs.get("epoch")
    t_end = time.monotonic() + 7.0
    while time.monotonic() < t_end:  # more than two leases: renewals go on
        d.check_alive()
        cs = cluster_status(d)
        check(cs is not None and cs.get("role") == "owner" and cs.get("epoch") == epoch,
                      "2: still the owner of epoch %s: %r" % (epoch, cs))
        time.sleep(0.25)
    h.log("2: owner for 7 s with lease 3s after running with 1s (epoch %s)", epoch)

    # 4. atpctl through a standby: over nng and over HTTP, not_owner is
    # followed to the owner it names (tools/README.md, "A cluster's nodes")
    cfg2 = node_config(h, url, "3s")
    cfg2["cluster"]["node"] = "e2"
    d2 = harness.Atpd(h, cfg2, "edge2")
    d2.start()
    harness.wait_until(lambda: (cluster_status(d2) or {}).get("role") == "standby",
                       15 * TF, 0.05, "the second node is a standby")
    rc, obj, err = d2.ctl_raw("atp", sku, "east")
    check(rc == 0 and isinstance(obj, dict) and obj.get("ok") is True,
          "4: atp through the standby: exit %d, %r, %s" % (rc, obj, err))
    for i, endpoint in enumerate((d2.query_url, d2.ready.get("http"))):
        r = harness.run_ctl(h, ["--endpoint", endpoint, "--json", "reserve", "edge-4-%d" % i,
                                "%s:east:1" % sku, "--ttl", "10m"])
        got = harness.last_json(r.stdout)
        check(r.returncode == 0 and isinstance(got, dict) and got.get("granted") is True,
              "4: reserve through the standby's %s: exit %d, %r, %s"
              % (endpoint, r.returncode, got, r.stderr))
    check(d.ctl("reservation", "edge-4-1").get("reservation", {}).get("state") == "held",
          "4: the owner holds the reservation made through the standby")
    h.log("4: atpctl through the standby's nng and HTTP endpoints: granted by the owner")
    # What is the node's own answers on a standby: its sources, its
    # run-time administration (docs/CLUSTER.md, "Roles"); a query does not.
    src = d2.ctl("sources")
    check(any(x.get("id") == "wms" for x in src.get("sources", [])),
          "4: sources on the standby: %r" % src)
    ad = d2.ctl("admin", "set-buffer", "edge-buf-1", "region=east", "units=2")
    check(ad.get("ok") is True, "4: admin set-buffer on the standby: %r" % ad)
    check(any(b.get("region") == "east" and b.get("units") == 2
              for b in d2.ctl("admin", "list").get("buffers", [])),
          "4: the standby lists its new buffer rule")
    # scan is the owner's: atpctl is sent on to it, and gets the owner's
    # rows (the standby's own engine holds no reservation)
    mine = d2.ctl("scan", "east").get("items")
    owners = d.ctl("scan", "east").get("items")
    check(mine == owners and any(x.get("reserved", 0) > 0 for x in owners or []),
          "4: scan through the standby answers the owner's rows: %r vs %r" % (mine, owners))
    h.log("4: the standby answers sources and admin itself, sends scan to the owner")
    d2.stop()

    # 3. the stream deleted under the owner
    with nats_util.NatsConn(port) as c:
        dl = c.js("STREAM.DELETE." + stream, {})
    check(dl.get("success") is True, "delete %s: %r" % (stream, dl))
    t_del = time.monotonic()
    limit = (3.0 + GRACE_S + 10.0) * TF
    rc, obj, err = d.ctl_raw("--timeout", str(int(limit * 1000)), "reserve", "edge-3",
                             "%s:east:1" % sku, "--ttl", "10m", timeout_s=limit + 10)
    check(not (isinstance(obj, dict) and obj.get("granted") is True),
                  "3: a reservation granted with the stream deleted: %r" % obj)
    harness.wait_until(lambda: not d.alive(), limit, 0.05, "the node gives up and exits")
    took = time.monotonic() - t_del
    check(d.proc.returncode == 75,
                  "3: exit status %s, want 75 (lease lost)" % d.proc.returncode)
    h.log("3: reserve answered %s (exit %d), the node exited with 75 %.1f s after the delete",
          (obj or {}).get("error", {}).get("name") if isinstance(obj, dict) else None, rc, took)
    d.check_sanitizer()  # its last run ended in exit 75, not a checked stop
    d.proc = None  # exited on purpose
    nats.stop_all()


if __name__ == "__main__":
    harness.run(main, "cluster_edges")
