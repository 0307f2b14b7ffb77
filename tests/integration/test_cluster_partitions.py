#!/usr/bin/python3
"""test_cluster_partitions.py - a cluster of two partitions
(docs/CLUSTER.md, "Several partitions") on a 3-server nats-server
JetStream cluster: partition p1 owns region east, p2 owns west; nodes n1
and n2 serve p1, n3 and n4 serve p2 (lease 2s, replicas 3). Every node
is fed the same stock by its own publisher.

a. Each partition has one owner; status.cluster.partitions on every node
   names both partitions, their regions and owners.
b. Routing: a node answers a request for the other partition's region
   with not_owner naming that partition's owner (nng; HTTP 503), and
   atpctl pointed at it gets the answer from the right owner; `regions`
   lists only the node's own partition's regions.
c. A reserve whose lines lie in both partitions: a node refuses it with
   cross_partition (code 33, HTTP 409) and the partition map; atpctl
   holds it in each partition (one reservation, both parts, "parts"),
   `reservation` and `commit` by id reach both parts; a cart refused in
   one partition leaves nothing held in the other.
e. The change feed across partitions: `atpctl watch` on a standby of p1
   and on p2's owner receives the changes of both partitions' regions,
   each message naming its partition (`partition`), with no gap in any
   partition's sequences, the last message of each key agreeing with its
   owner; the standby's HTTP event stream (GET /v1/changes) carries both
   too, each event's id its partition's seq. Messages published on the
   feed subjects by others (no such partition, no epoch, an older epoch)
   are dropped and counted; one with the owner's epoch goes through.
d. (last) Races and an owner kill: three client threads run atpctl reserve (TTL
   10 s) of carts with lines in both regions on a few SKUs whose stock
   runs out, each through a random node, then commit the granted ones;
   p2's owner is killed (kill -9) once at a random moment and restarted.
   After the holds' TTL: for every cart attempt, both parts are committed
   or neither is (all or nothing), an attempt not granted left its p1 part
   released at once (not expired), every cart atpctl reported committed is
   committed in both partitions, and for every (sku, region) the committed
   quantity is at most the stock and equals the owner's `reserved`.

f. Both nodes of p2 killed: once the lease expired, p1's map names no
   owner of p2, and `reservation`, `commit` and `release` by id through
   p1's owner end with an error (nng and HTTP), not a crash or a p1-only
   answer.

Labels: integration, cluster. About 90 s. Loopback only; servers on free
ports, stopped by pid; every wait and loop bounded.
"""

import json
import msgpack
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import feed_util  # noqa: E402
import harness  # noqa: E402
import nats_util  # noqa: E402
import test_cluster_failover as F  # noqa: E402
import test_http_sse as SSE  # noqa: E402

TF = harness.TIME_FACTOR
PARTS = [{"name": "p1", "regions": ["east"]}, {"name": "p2", "regions": ["west"]}]
PART_OF = {"east": "p1", "west": "p2"}
LOC = {"east": "E1", "west": "W1"}
STOCK = {("K1", "east"): 40, ("K1", "west"): 35, ("K2", "east"): 30,
         ("K2", "west"): 45, ("K3", "east"): 2}  # K3 west: none
HOT = ["K1", "K2"]
TTL = "10s"
CARTS_PER_WORKER = 400
WORKERS = 3


def check(cond, msg):
    if not cond:
        raise harness.TestFailure(msg)


def err_name(r):
    e = r.get("error") if isinstance(r, dict) else None
    return e.get("name") if isinstance(e, dict) else None


class Cluster:
    def __init__(self, h):
        self.h = h

    def start(self):
        h = self.h
        self.nats = nats_util.NatsCluster(h, 3, cluster_name="atpparts").start()
        urls = self.nats.urls()
        self.nodes = []
        for i in range(4):
            n = F.Node(h, i, urls)
            c = n.d.cfg["cluster"]
            c["name"] = "parts"
            c["partition"] = "p1" if i < 2 else "p2"
            c["partitions"] = PARTS
            n.partition = c["partition"]
            self.nodes.append(n)
        for n in self.nodes:
            n.spawn()
        for n in self.nodes:
            n.wait_up()
            n.feeder = F.NodeFeeder(n)
        events = [[2, s, LOC[r], 0, q] for (s, r), q in sorted(STOCK.items())]
        for n in self.nodes:
            n.feeder.publish("wms", events, wait=False)
        for n in self.nodes:
            n.feeder.wait_synced()
        h.log("4 nodes up and fed: %s", ", ".join(
            "%s (%s) %s" % (n.id, n.partition, n.query_url) for n in self.nodes))

    def owner(self, part, timeout_s=30):
        """The node that owns part (waited for, bounded)."""
        def f():
            for n in self.nodes:
                if n.down:
                    continue
                cs = n.cluster_status()
                if cs and cs.get("role") == "owner" and cs.get("partition") == part:
                    return n
            return None
        return harness.wait_until(f, timeout_s * TF, 0.05, "an owner of %s" % part)

    def by_id(self, node_id):
        return next(n for n in self.nodes if n.id == node_id)

    def stop(self):
        for n in self.nodes:
            if not n.down:
                n.stop()
            if n.feeder:
                n.feeder.close()
        self.nats.stop_all()


def ctl(url, *args, timeout_s=30):
    """atpctl --endpoint url --json args: (rc, reply)."""
    r = harness.run_ctl(HARNESS, ["--endpoint", url, "--json"] + list(args),
                        timeout_s=timeout_s)
    return r.returncode, harness.last_json(r.stdout)


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=10 * TF) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def http_post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10 * TF) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def phase_a(cl):
    own = {p: cl.owner(p) for p in ("p1", "p2")}
    check(own["p1"].partition == "p1" and own["p2"].partition == "p2",
          "owners serve their own partitions: %r" % {p: n.id for p, n in own.items()})

    def maps_named():
        for n in cl.nodes:
            m = (n.cluster_status() or {}).get("partitions")
            if not isinstance(m, list) or len(m) != 2:
                return None
            got = {e["partition"]: (e["regions"], e["owner"]["node"]) for e in m}
            want = {p: ([r for r, q in PART_OF.items() if q == p], own[p].id)
                    for p in ("p1", "p2")}
            if got != want:
                return None
        return True
    harness.wait_until(maps_named, 10 * TF, 0.1,
                       "status.cluster.partitions names both partitions and owners")
    r = harness.run_ctl(cl.h, ["--endpoint", cl.nodes[0].query_url, "cluster",
                               cl.nodes[0].query_url, cl.nodes[2].query_url], timeout_s=30)
    rows = [l.split() for l in r.stdout.splitlines()]
    for p in ("p1", "p2"):
        region = [g for g, q in PART_OF.items() if q == p][0]
        check(any(x[:2] == [p, own[p].id] and x[-1] == region for x in rows),
              "a: atpctl cluster prints partition %s, owner %s, region %s:\n%s"
              % (p, own[p].id, region, r.stdout))
    cl.h.log("a: owners p1=%s p2=%s; every node's map names them", own["p1"].id, own["p2"].id)
    return own


def phase_b(cl, own):
    p1, p2 = own["p1"], own["p2"]
    r = p1.ask({"op": "atp", "sku": "K1", "region": "west"})
    check(err_name(r) == "not_owner", "b: west asked at p1's owner: %r" % r)
    o = r["error"]["owner"]
    check(o.get("partition") == "p2" and o.get("node") == p2.id and
          o.get("query") == p2.query_url and o.get("http") == p2.http_url,
          "b: not_owner names p2's owner: %r" % o)
    st, body = http_get(p1.http_url + "/v1/availability/K1/west")
    check(st == 503 and body["error"]["owner"]["node"] == p2.id,
          "b: HTTP west at p1's owner: %d %r" % (st, body))
    rc, a = ctl(p1.query_url, "atp", "K1", "west")
    check(rc == 0 and a.get("atp") == STOCK[("K1", "west")],
          "b: atpctl atp K1 west through p1's owner: rc %d %r" % (rc, a))
    rc, a = ctl(p2.http_url, "atp", "K2", "east")
    check(rc == 0 and a.get("atp") == STOCK[("K2", "east")],
          "b: atpctl over HTTP, K2 east through p2's owner: rc %d %r" % (rc, a))
    r = p1.ask({"op": "regions", "sku": "K1"})
    check(r.get("ok") and [x["region"] for x in r["regions"]] == ["east"],
          "b: regions at p1's owner lists east only: %r" % r)
    cl.h.log("b: requests for the other partition's region are redirected to its owner")


def part_state(node, rid):
    """The reservation's state in node's partition (None: not there)."""
    r = node.ask({"op": "reservation", "id": rid}, timeout_s=5.0)
    if r is None:
        raise harness.TestFailure("reservation %s: no answer from %s" % (rid, node.id))
    if r.get("ok"):
        res = r["reservation"]
        return res["state"], [(l["sku"], l["region"], l["qty"]) for l in res["lines"]]
    check(err_name(r) == "not_found", "reservation %s at %s: %r" % (rid, node.id, r))
    return None, []


def phase_c(cl, own):
    p1, p2 = own["p1"], own["p2"]
    body = {"op": "reserve", "id": "c-raw", "ttl_ms": 60000,
            "lines": [["K1", "east", 1], ["K1", "west", 1]]}
    r = p1.ask(body)
    check(err_name(r) == "cross_partition" and r["error"]["code"] == 33,
          "c: a reserve over both partitions is refused: %r" % r)
    parts = {e["partition"]: e for e in r["error"]["partitions"]}
    check(set(parts) == {"p1", "p2"} and parts["p2"]["regions"] == ["west"] and
          parts["p2"]["owner"]["node"] == p2.id, "c: the map in the refusal: %r" % r)
    st, hb = http_post(p2.http_url + "/v1/reservations",
                       {k: v for k, v in body.items() if k != "op"})
    check(st == 409 and hb["error"]["name"] == "cross_partition", "c: HTTP %d %r" % (st, hb))
    check(part_state(p1, "c-raw")[0] is None and part_state(p2, "c-raw")[0] is None,
          "c: the refused request held nothing")

    standby = next(n for n in cl.nodes if n.partition == "p1" and n is not p1)
    rc, g = ctl(standby.query_url, "reserve", "c-1", "K1:east:2", "K2:west:1", "--ttl", "1m")
    check(rc == 0 and g.get("granted") is True and sorted(g.get("parts", [])) == ["p1", "p2"]
          and len(g["reservation"]["lines"]) == 2, "c: atpctl reserve over both: rc %d %r" % (rc, g))
    check(part_state(p1, "c-1") == ("held", [("K1", "east", 2)]) and
          part_state(p2, "c-1") == ("held", [("K2", "west", 1)]),
          "c: c-1 held in both partitions")
    rc, g = ctl(p2.query_url, "reservation", "c-1")
    check(rc == 0 and len(g["reservation"]["lines"]) == 2, "c: get by id: rc %d %r" % (rc, g))
    rc, g = ctl(p2.http_url, "commit", "c-1")
    check(rc == 0 and g.get("ok") is True, "c: commit by id: rc %d %r" % (rc, g))
    check(part_state(p1, "c-1")[0] == "committed" and part_state(p2, "c-1")[0] == "committed",
          "c: c-1 committed in both partitions")

    # refused in p2 (K3 has no stock in west): nothing stays held in p1
    rc, g = ctl(p1.query_url, "reserve", "c-2", "K3:east:1", "K3:west:1", "--ttl", "1m")
    check(rc == 4 and g.get("granted") is False, "c: c-2 refused: rc %d %r" % (rc, g))
    s1 = part_state(p1, "c-2")[0]
    check(s1 in (None, "released"), "c: c-2's east part not held: %r" % s1)
    a = p1.ask({"op": "atp", "sku": "K3", "region": "east"})
    check(a.get("atp") == STOCK[("K3", "east")], "c: K3 east free again: %r" % a)
    rc, g = ctl(p1.query_url, "reserve", "c-2", "K3:east:1", "K3:west:1", "--ttl", "1m")
    check(rc != 0 and part_state(p1, "c-2")[0] in (None, "released"),
          "c: c-2 again holds nothing: rc %d %r" % (rc, g))
    cl.h.log("c: cross-partition carts held in both, read, committed; a refusal leaves nothing")

    # split lines: routed by every region they name
    r = p1.ask({"op": "reserve", "id": "s-1", "lines": [["K1", ["east", "west"], 2]]})
    check(err_name(r) == "cross_partition", "c: a split line over both partitions: %r" % r)
    r = p1.ask({"op": "reserve", "id": "s-2", "lines": [["K1", ["west"], 1]]})
    check(err_name(r) == "not_owner" and r["error"]["owner"]["partition"] == "p2",
          "c: a split line of p2's region at p1's owner: %r" % r)
    rc, g = ctl(p1.query_url, "reserve", "s-3", "K1:east,west:1", "--split")
    check(rc not in (0, 4) and rc >= 0 and err_name(g) == "cross_partition",
          "c: atpctl does not split a split line over partitions: rc %d %r" % (rc, g))
    rc, g = ctl(p1.query_url, "reserve", "s-5", "K1:east:1", "K2:west:1", "--split",
                "--ttl", "1m")
    check(rc == 0 and g.get("granted") is True and len(g.get("fill", [])) == 2 and
          len(g["reservation"]["lines"]) == 2,
          "c: split lines each in one partition are held in each: rc %d %r" % (rc, g))
    rc, g = ctl(p1.query_url, "release", "s-5")
    check(rc == 0 and part_state(p1, "s-5")[0] == "released" and
          part_state(p2, "s-5")[0] == "released", "c: release s-5: rc %d %r" % (rc, g))
    rc, g = ctl(p1.query_url, "reserve", "s-4", "K1:east:1", "K2:west:1", "--partial")
    check(rc not in (0, 4) and rc >= 0 and err_name(g) == "cross_partition",
          "c: atpctl does not split a partial reserve: rc %d %r" % (rc, g))
    for rid in ("s-1", "s-2", "s-3", "s-4"):
        check(part_state(p1, rid)[0] is None and part_state(p2, rid)[0] is None,
              "c: %s held nothing" % rid)
    # a release of some lines reaches their partition only
    rc, g = ctl(p1.query_url, "reserve", "r-1", "K1:east:1", "K2:west:1", "--ttl", "1m")
    check(rc == 0 and g.get("granted") is True, "c: r-1: rc %d %r" % (rc, g))
    rc, g = ctl(p1.query_url, "release", "r-1", "K2:west")
    check(rc == 0 and part_state(p2, "r-1")[0] == "released" and
          part_state(p1, "r-1")[0] == "held", "c: release r-1 K2:west: rc %d %r" % (rc, g))
    rc, g = ctl(p2.http_url, "release", "r-1")
    check(rc == 0 and part_state(p1, "r-1")[0] == "released", "c: release r-1: rc %d %r" % (rc, g))
    cl.h.log("c: split lines routed by all their regions; partial and split carts over "
             "partitions not split; a release of some lines reaches their partition")
    # c-1 took 2 K1 east and 1 K2 west for good
    return {("K1", "east"): 2, ("K2", "west"): 1}


def metric(d, name):
    """One counter or gauge of d's GET /metrics (a standby's too)."""
    with urllib.request.urlopen(d.cfg["service"]["http_listen"] + "/metrics",
                                timeout=10 * TF) as r:
        text = r.read().decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0


def feed_message(sku, region, partition, seq):
    body = {"partition": partition, "seq": seq, "region_seq": seq, "key_seq": seq,
            "ts_ms": int(time.time() * 1000), "sku": sku, "region": region,
            "supply": 1, "reserved": 0, "shortfall": 0, "stale": False, "channels": []}
    return b"atp\0%s\0%s\0" % (region.encode(), sku.encode()) + msgpack.packb(body)


def inject(cl, standby, watch, p2):
    """Messages on the feed subjects that are not a current owner's are
    dropped: no such partition, no epoch, a deposed owner's epoch. The
    same message with the owner's epoch goes through (the control)."""
    epoch = (p2.cluster_status() or {}).get("epoch")
    check(isinstance(epoch, int) and epoch > 1, "e: p2's epoch: %r" % epoch)
    before = metric(standby.d, "atpd_cluster_feed_rejected_total")
    with nats_util.NatsConn(cl.nats.server(0).client_port) as c:
        c.publish("parts.nosuchpartition", feed_message("ZZ1", "west", "p2", 5),
                  {"Atp-Epoch": str(epoch)})
        c.publish("parts.p2", feed_message("ZZ2", "west", "p2", 6))
        c.publish("parts.p2", feed_message("ZZ3", "west", "p2", 7),
                  {"Atp-Epoch": str(epoch - 1)})
        c.publish("parts.p2", feed_message("ZZ4", "west", "p2", 8),
                  {"Atp-Epoch": str(epoch)})
    harness.wait_until(lambda: any(m.get("sku") == "ZZ4" for m in watch.messages()),
                       10 * TF, 0.05, "e: a message with p2's epoch relayed")
    got = sorted({m.get("sku") for m in watch.messages() if m.get("sku", "").startswith("ZZ")})
    check(got == ["ZZ4"], "e: only the current owner's message relayed: %r" % got)
    # status and metrics take the cluster thread's counts at its next tick
    harness.wait_until(
        lambda: metric(standby.d, "atpd_cluster_feed_rejected_total") - before >= 3,
        10 * TF, 0.05, "e: the standby counts 3 rejected messages")
    rejected = metric(standby.d, "atpd_cluster_feed_rejected_total") - before
    check(rejected == 3, "e: 3 messages rejected by the standby, counted %r" % rejected)


def phase_e(cl, own):
    """The change feed across partitions: a standby of p1 and p2's owner
    each carry both partitions' changes, each message naming its
    partition, whose sequences atpctl watch checks per partition."""
    standby = next(n for n in cl.nodes if n.partition == "p1" and n is not own["p1"])
    # A standby's status has no feed section (it is not ready): its
    # subscribers are read from its metrics, by Watch too.
    feed_util.feed_subscribers = lambda d: metric(d, "atpd_feed_subscribers")
    subs = {n.id: metric(n.d, "atpd_feed_subscribers") for n in (standby, own["p2"])}
    watches = {n.id: feed_util.Watch(cl.h, n.d, [], name="watch-%s" % n.id)
               for n in (standby, own["p2"])}
    standby.d.ready = {"http": standby.http_url}  # where SSE.Stream connects
    stream = SSE.Stream(standby.d, "")
    try:
        check(stream.status == 200, "e: GET /v1/changes on the standby: %d" % stream.status)
        for w in watches.values():
            w.wait_connected()
        rc, g = ctl(own["p2"].query_url, "reserve", "e-1", "K2:east:1", "K1:west:2",
                    "--ttl", "1m")
        check(rc == 0 and g.get("granted") is True, "e: e-1 granted: rc %d %r" % (rc, g))
        want = {("K2", "east"): ("p1", own["p1"]), ("K1", "west"): ("p2", own["p2"])}
        for nid, w in watches.items():
            def seen():
                got = {}
                for m in w.messages():
                    key = (m.get("sku"), m.get("region"))
                    if key in want:
                        got[key] = m
                return got if len(got) == len(want) and all(
                    m.get("partition") == want[k][0] for k, m in got.items()) else None
            got = harness.wait_until(seen, 10 * TF, 0.05,
                                     "e: %s's feed carries both partitions' changes" % nid)
            for (sku, region), m in got.items():
                a = want[(sku, region)][1].ask({"op": "atp", "sku": sku, "region": region})
                check(m.get("reserved") is not None and a.get("reserved") is not None,
                      "e: %s: %r / %r" % (nid, m, a))
            check(not w.gaps(), "e: %s's feed: no gap within a partition: %r" % (nid, w.gaps()))
            parts = sorted({m.get("partition") for m in w.messages()})
            check(parts == ["p1", "p2"], "e: %s's feed names partitions %r" % (nid, parts))
        # the HTTP change feed of the standby too, ids its partition's seq
        evs = stream.wait(lambda evs: {(e["json"].get("region"), e["json"].get("partition"))
                                       for e in evs if e["event"] == "change"} >=
                          {("east", "p1"), ("west", "p2")}, 10,
                          "both partitions' changes on the standby's event stream")
        for e in evs:
            if e["event"] == "change":
                check(int(e["id"]) == e["json"]["seq"], "e: event id is its seq: %r" % e)
        # the feed's last word on each key is the owner's answer now
        for (sku, region), (part, owner) in want.items():
            a = owner.ask({"op": "atp", "sku": sku, "region": region})

            def last_agrees():
                ms = [m for m in watches[standby.id].messages()
                      if (m.get("sku"), m.get("region")) == (sku, region)]
                return ms and ms[-1].get("reserved") == a.get("reserved")
            harness.wait_until(last_agrees, 10 * TF, 0.05,
                               "e: %s@%s: the standby's feed ends at reserved %r"
                               % (sku, region, a.get("reserved")))
        rc, g = ctl(own["p1"].query_url, "release", "e-1")
        check(rc == 0, "e: release e-1: rc %d %r" % (rc, g))
        inject(cl, standby, watches[standby.id], own["p2"])
    finally:
        stream.close()
        for w in watches.values():
            w.stop()
    relayed = metric(standby.d, "atpd_feed_relayed_total")
    check(relayed >= 2, "e: the standby counts what it relayed: %r" % relayed)
    cl.h.log("e: the feed of a standby of p1 and of p2's owner carry both partitions "
             "(the standby relayed %d messages)", relayed)


def worker(cl, k, out, stop_at, stop):
    """Carts until told to stop (after the kill and the takeover: the
    kill always falls among them), at most CARTS_PER_WORKER."""
    rng = random.Random(1000 + k)
    urls = [n.query_url for n in cl.nodes] + [n.http_url for n in cl.nodes]
    for i in range(CARTS_PER_WORKER):
        if time.monotonic() > stop_at or stop.is_set():
            break
        cid = "w%d-%d" % (k, i)
        lines = ["%s:east:%d" % (rng.choice(HOT), rng.randint(1, 2)),
                 "%s:west:%d" % (rng.choice(HOT), rng.randint(1, 2))]
        rec = {"id": cid, "lines": lines, "granted": False, "committed": False,
               "released": False, "t0": time.monotonic()}
        out.append(rec)
        rc, g = ctl(rng.choice(urls), "reserve", cid, *lines, "--ttl", TTL, timeout_s=30 * TF)
        rec["reserve_rc"], rec["t1"] = rc, time.monotonic()
        if rc < 0:
            rec["crash"] = "reserve: signal %d" % -rc
        if rc not in (0, 4):
            rec["reply"] = repr(g)[:300]
        if rc != 0 or not isinstance(g, dict) or g.get("granted") is not True:
            continue  # refused or failed: all or nothing says nothing is held
        rec["granted"] = True
        # most are bought; some given back, which frees stock for others
        op = "commit" if rng.random() < 0.7 else "release"
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            rc, c = ctl(rng.choice(urls), op, cid, timeout_s=30 * TF)
            if rc == 0 and isinstance(c, dict) and c.get("ok") is True:
                rec["committed" if op == "commit" else "released"] = True
                break
            rec.setdefault("op_errors", []).append(repr(c)[:200])
            if rc < 0:
                rec["crash"] = "%s: signal %d" % (op, -rc)
            time.sleep(0.2)


def phase_d(cl, own, taken):
    h = cl.h
    recs = [[] for _ in range(WORKERS)]
    stop_at = time.monotonic() + 60 * TF
    stop = threading.Event()
    ts = [threading.Thread(target=worker, args=(cl, k, recs[k], stop_at, stop), daemon=True)
          for k in range(WORKERS)]
    for t in ts:
        t.start()
    rng = random.Random(7)
    time.sleep(rng.uniform(1.0, 3.0))  # a random moment of the run
    victim = own["p2"]
    t_kill = time.monotonic()
    victim.kill9()
    h.log("d: killed p2's owner %s", victim.id)
    new = cl.owner("p2", timeout_s=15)
    h.log("d: %s owns p2 %.2f s after the kill", new.id, time.monotonic() - t_kill)
    victim.spawn()
    victim.wait_up()
    victim.feeder.after_restart()
    time.sleep(1.0)  # some carts after the takeover too (a load span, not a wait)
    stop.set()
    t_back = time.monotonic()
    for t in ts:
        t.join(timeout=120 * TF)
        check(not t.is_alive(), "d: a client thread did not finish")
    during = [r for rs in recs for r in rs
              if r["t0"] < t_back and r.get("t1", t_back) > t_kill]
    h.log("d: %d cart attempts overlapped p2's takeover (%d granted, %d failed with "
          "an error)", len(during), sum(r["granted"] for r in during),
          sum(r.get("reserve_rc") not in (0, 4) for r in during))
    check(during, "d: no cart was in flight while p2 had no owner")
    for r in [r for r in during if r.get("reply")][:3]:
        h.log("d: e.g. %s: %s", r["id"], r["reply"])
    time.sleep(11)  # every hold not committed has expired (TTL 10 s)
    own = {p: cl.owner(p) for p in ("p1", "p2")}
    carts = [r for rs in recs for r in rs]
    crashed = [r for r in carts if r.get("crash")]
    check(not crashed, "d: atpctl died of a signal: %r" % crashed[:3])
    committed = dict(taken)
    n_granted = n_committed = n_released = 0
    for r in carts:
        s1, l1 = part_state(own["p1"], r["id"])
        s2, l2 = part_state(own["p2"], r["id"])
        both = s1 == "committed" and s2 == "committed"
        neither = s1 != "committed" and s2 != "committed"
        if not (both or neither):
            for x in carts:
                h.log("d: %r", x)
        check(both or neither, "d: %s is committed in one partition only: p1 %s, p2 %s (%r)"
              % (r["id"], s1, s2, r))
        check(s1 != "held" and s2 != "held", "d: %s still held after its TTL: %s %s"
              % (r["id"], s1, s2))
        if not r["granted"]:
            # the client released its part in p1 (never killed) at once;
            # p2's may have met the dead owner and expired instead
            check(s1 in (None, "released") and s2 in (None, "released", "expired"),
                  "d: %s was not granted but its parts are %s / %s (not released)"
                  % (r["id"], s1, s2))
        if r["committed"]:
            check(both, "d: %s reported committed but is %s / %s" % (r["id"], s1, s2))
        if r["released"]:
            check(s1 == "released" and s2 == "released",
                  "d: %s reported released but is %s / %s" % (r["id"], s1, s2))
        n_granted += r["granted"]
        n_committed += both
        n_released += r["released"]
        if both:
            for sku, region, q in l1 + l2:
                committed[(sku, region)] = committed.get((sku, region), 0) + q
    for (sku, region), q in sorted(committed.items()):
        stock = STOCK.get((sku, region), 0)
        check(q <= stock, "d: %s@%s committed %d > stock %d" % (sku, region, q, stock))
        a = own[PART_OF[region]].ask({"op": "atp", "sku": sku, "region": region})
        check(a.get("reserved") == q and a.get("atp") == stock - q,
              "d: %s@%s: reserved %r atp %r, want %d and %d" %
              (sku, region, a.get("reserved"), a.get("atp"), q, stock - q))
    h.log("d: %d cart attempts, %d granted, %d committed in both partitions, none in one "
          "only, %d released in both; committed per key %s", len(carts), n_granted,
          n_committed, n_released,
          {"%s@%s" % k: "%d/%d" % (q, STOCK.get(k, 0)) for k, q in sorted(committed.items())})
    check(n_committed > 0 and n_committed < len(carts),
          "d: some carts were granted and some refused (%d of %d)" % (n_committed, len(carts)))


def phase_f(cl):
    """Every node of p2 killed: once its lease has expired (a lease and a
    half without a renewal), the map names no owner of p2, and requests by
    id through p1's owner end with an error, not a crash or a p1-only
    answer."""
    p1 = cl.owner("p1")
    for n in cl.nodes:
        if n.partition == "p2" and not n.down:
            n.kill9()

    def no_p2_owner():
        m = (p1.cluster_status() or {}).get("partitions") or []
        return any(e["partition"] == "p2" and e["owner"]["node"] == "" for e in m)
    harness.wait_until(no_p2_owner, 15 * TF, 0.05, "f: p1's map names no owner of p2")
    for op in ("reservation", "commit", "release"):
        for url in (p1.query_url, p1.http_url):
            rc, g = ctl(url, op, "c-1", timeout_s=60 * TF)
            check(rc in (1, 3), "f: %s c-1 at %s with p2 down: rc %d %r" % (op, url, rc, g))
    cl.h.log("f: with p2 dead, the map names no owner of it and requests by id end with "
             "an error")


HARNESS = None


def main(h):
    global HARNESS
    HARNESS = h
    cl = Cluster(h)
    try:
        cl.start()
        own = phase_a(cl)
        phase_b(cl, own)
        taken = phase_c(cl, own)
        phase_e(cl, own)
        phase_d(cl, own, taken)
        phase_f(cl)
    finally:
        cl.stop()


if __name__ == "__main__":
    harness.run(main, "cluster_partitions")
