#!/usr/bin/python3
"""test_cluster_failover.py - atpd's cluster (docs/CLUSTER.md) on a real
3-server nats-server JetStream cluster: three atpd nodes serve one
partition; the owner is killed again and again under reservation load, a
NATS server dies, the owner is cut off from NATS; no acknowledged
reservation is lost and nothing is oversold.

Setup: 3 nats-servers (nats_util.NatsCluster, JetStream, loopback) and 3
atpd nodes with the same regions, locations and source (http_util's
config: east/E1, west/W1, source wms), each with its own data dir and
ports and a `cluster:` section (replicas 3, lease 2s, nodes n1..n3, each
advertising its own query and HTTP URL). Every node is fed the same stock
by its own publisher (the test's source, answering resync requests).

a. Exactly one node is ready (the owner, status.cluster.role); the
   others (standbys) answer `atp` and `reserve` with `not_owner` whose
   `owner` names the owner's node, query and HTTP URLs (also over HTTP:
   503), their `ready` is false and /readyz 503; `status` answers on
   every node.
b. Three client processes (this file with --worker) reserve small
   quantities of three hot SKUs (the stock runs out) and release some,
   each over its own REQ connections: they follow `not_owner` to the
   owner's URL and retry `transport`, `not_ready`, `busy`, closed
   connections and timeouts with the same reservation id (idempotent).
   Each logs what it sent and every acknowledgement (id, lines, the node
   that acknowledged, when).
c. KILLS times: at a random moment, kill -9 the owner; measure the time
   until another node is ready and until it grants (a probe reservation);
   restart the killed node (a standby). A node that exits by itself with
   status 75 (lease lost) is restarted too; any other exit fails the test.
   min/median/max printed; each below TAKEOVER_LIMIT_S.
e. kill -9 one nats-server (one that leads none of atpd's streams): grants
   go on (the longest gap of the probes is printed and bounded); the
   server is restarted and caught up. e2: the same with the server that
   leads the partition's stream and the lease bucket (new Raft elections
   in JetStream first: a longer bound).
f. The nodes are restarted, each with a single URL in `cluster.nats`: a
   TCP proxy (in the test) to a NATS server of its own (the servers run
   with --no_advertise, so a node learns no other server's URL). f1: the
   owner's proxy is cut (a network partition; NATS runs on). f2: the
   owner's server is killed (JetStream's stream leaders moved off it
   first). Each time the owner acknowledges nothing sent after the cut
   (direct probes, the clients' logs), exits with status 75, and another
   node takes over and grants (f1 within the bound of c).
Throughout: status.cluster (docs/PROTOCOL.md) says each node's role
and the owner; the lease bucket's entry (`<name>_leases`, key = the
partition) names the owner as docs/CLUSTER.md says
(`node\nquery_url\nhttp_url\nepoch`), its epoch is the owner's
status.cluster.epoch, and the epoch grows with every takeover.

d. At the end: every acknowledged reservation is on the final owner
   (`reservation`) with its lines, held (released when the client's
   release was acknowledged); refused and standby-refused ids are not
   there; for every (sku, region) the open quantity of all reservations
   is at most the stock, equals atpd's `reserved`, and ATP is stock -
   reserved; and from the clients' logs (acknowledgement times, release
   send times: a lower bound of what was held at every moment), no
   moment had more held than the stock (no two owners granted the same
   units).

Labels: integration, cluster (RUN_SERIAL). About 1-2 minutes. Seeded
(ATP_TEST_SEED).
Loopback only; every server on free ports, stopped by pid; every wait is
bounded and for a condition.
"""

import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util  # noqa: E402
import nats_util  # noqa: E402
import resv_util as U  # noqa: E402
from harness import TestFailure, error_name  # noqa: E402

TF = harness.TIME_FACTOR
N_NODES = 3
LEASE_S = 2
CLUSTER_NAME = "atpd"
PARTITION = "p0"
KILLS = 10
WORKERS = 3
# The partition grants again within the lease (the key expires at most
# `lease` after the dead owner's last renewal), a quarter of it (a
# standby's next create), and the takeover itself: 5 s for a lease of 2 s,
# plus slack for a busy machine.
TAKEOVER_LIMIT_S = (5.0 + 2.0) * TF
# f1: the owner is cut off from NATS (its proxy stops): as after a kill -9.
CUT_TAKEOVER_LIMIT_S = TAKEOVER_LIMIT_S
# f2: the owner's only NATS server dies (JetStream's stream leaders having
# been moved to the others first). What lived only there (the JetStream
# meta leadership, consumers placed there) is elected or made again by
# the others: the lease plus nats-server 2.9's election (up to ~8 s
# measured) plus slack.
KILL_CUT_TAKEOVER_LIMIT_S = 15.0 * TF
# Exit 75 once NATS stayed silent for the lease plus the grace after the
# last renewal (docs/CLUSTER.md, "The lease": 15 s), plus slack. Safety
# does not wait for it: the cut-off owner acknowledges nothing (checked
# below) and the stream fences it.
CLUSTER_GRACE_S = 15.0
LOST_EXIT_LIMIT_S = (LEASE_S + CLUSTER_GRACE_S + 5.0) * TF
# e: the longest a probe may wait for a grant with one NATS server down
# that leads none of atpd's streams (the owner may have to reconnect, or
# lose its lease and be replaced)...
NATS_KILL_GAP_LIMIT_S = 10.0 * TF
# ... and (e2) with the one that leads them down: JetStream elects new
# leaders first (seconds: nats-server 2.9's Raft election timeouts), the
# lease may expire meanwhile and a standby take over.
NATS_LEADER_KILL_GAP_LIMIT_S = 30.0 * TF

HOT = ["H1", "H2", "H3"]
REGIONS = ["east", "west"]
LOC = {"east": "E1", "west": "W1"}
PROBE_SKU, PROBE_REGION = "PROBE", "east"
STOCK = {("H1", "east"): 30, ("H1", "west"): 20, ("H2", "east"): 25,
         ("H2", "west"): 15, ("H3", "east"): 20, ("H3", "west"): 10,
         (PROBE_SKU, PROBE_REGION): 1000000}
CHANNEL = "web"

WORKER_PAUSE_S = 0.02      # between a worker's operations (a load cap, not a wait)
WORKER_MAX_OPS = 20000
WORKER_MAX_S = 420 * TF    # a worker's own cap; the test stops them long before
REQUEST_BUDGET_S = 30 * TF  # one reservation operation, retries included
ATTEMPT_TIMEOUT_S = 3.0     # one attempt (scaled by harness.ReqClient)


# ---------------------------------------------------------------------------
# a client that follows not_owner (the worker processes and the main thread)


def port_of(url):
    return int(url.rsplit(":", 1)[1])


class Router:
    """REQ connections to the nodes' query URLs; call() sends one operation
    until it gets a final answer: it follows `not_owner` to error.owner's
    query URL and retries closed connections, timeouts, `transport`,
    `not_ready` and `busy` with the same body (the same reservation id),
    bounded in attempts and time."""

    RETRY = ("transport", "not_ready", "busy")

    def __init__(self, urls, seed=0):
        self.urls = list(urls)
        self.target = self.urls[0]
        self.conns = {}
        self.rng = random.Random(seed)

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns.clear()

    def _drop(self, url):
        c = self.conns.pop(url, None)
        if c is not None:
            c.close()

    def once(self, url, body, timeout_s=ATTEMPT_TIMEOUT_S):
        """One attempt at url: the reply map, or None (refused, closed,
        timed out: the connection is dropped)."""
        try:
            c = self.conns.get(url)
            if c is None:
                c = self.conns[url] = harness.ReqClient(port_of(url), timeout_s=timeout_s)
            return c.request(body, timeout_s=timeout_s)
        except (harness.ConnectionClosed, TimeoutError, OSError, TestFailure):
            self._drop(url)
            return None

    def _rotate(self, away_from):
        others = [u for u in self.urls if u != away_from] or self.urls
        self.target = self.rng.choice(others)

    def call(self, body, budget_s=REQUEST_BUDGET_S, max_attempts=2000):
        """(reply, url, t_sent, attempts): reply None when the budget ran out
        without a final answer; t_sent: when the answered attempt was sent."""
        deadline = time.monotonic() + budget_s
        pause = 0.02
        same_redirects = 0
        attempts = 0
        while attempts < max_attempts and time.monotonic() < deadline:
            attempts += 1
            url = self.target
            t_sent = time.monotonic()
            rep = self.once(url, body)
            if rep is None:
                self._rotate(url)
                time.sleep(pause)
                pause = min(pause * 2, 0.4)
                continue
            name = error_name(rep)
            if name == "not_owner":
                owner = (rep.get("error") or {}).get("owner") or {}
                q = owner.get("query") or ""
                if q and q != url and q in self.urls and same_redirects < 3:
                    same_redirects += 1
                    self.target = q
                    continue
                same_redirects = 0
                self._rotate(url)
                time.sleep(pause)
                pause = min(pause * 2, 0.4)
                continue
            same_redirects = 0
            if name in self.RETRY:
                if name == "not_ready":
                    self._rotate(url)
                time.sleep(pause)
                pause = min(pause * 2, 0.4)
                continue
            return rep, url, t_sent, attempts
        return None, None, None, attempts


# ---------------------------------------------------------------------------
# the worker processes (this file with --worker SPEC.json)


def merged_lines(lines):
    """{(sku, region): qty} of request lines."""
    out = {}
    for s, r, q in lines:
        out[(s, r)] = out.get((s, r), 0) + q
    return out


def worker_main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    k = spec["k"]
    rng = random.Random(spec["seed"] * 7919 + k)
    router = Router(spec["urls"], seed=spec["seed"] * 31 + k)
    router.target = spec["urls"][k % len(spec["urls"])]
    out = open(spec["log"], "a", buffering=1)

    def log(**ev):
        ev["t"] = time.monotonic()
        out.write(json.dumps(ev) + "\n")

    held = []  # ids of this worker's acknowledged, not released reservations
    t_end = time.monotonic() + spec["max_s"]
    n = 0
    op_n = -1
    stats = {"acks": 0, "refused": 0, "released": 0, "gave_up": 0, "errors": 0}
    for op_n in range(spec["max_ops"]):
        if os.path.exists(spec["stop"]) or time.monotonic() > t_end:
            break
        if held and rng.random() < 0.25:
            rid = held.pop(rng.randrange(len(held)))
            body = {"op": "release", "id": rid}
            log(ev="rel_send", id=rid)
            rep, url, t_sent, att = router.call(body)
            if rep is None:
                stats["gave_up"] += 1
                log(ev="rel_gave_up", id=rid, attempts=att)
            elif rep.get("ok") is True:
                stats["released"] += 1
                log(ev="rel_ack", id=rid, node=url, t_sent=t_sent, attempts=att,
                    replayed=rep.get("replayed"),
                    state=(rep.get("reservation") or {}).get("state"))
            else:
                stats["errors"] += 1
                log(ev="error", id=rid, op="release", node=url, reply=repr(rep)[:500])
        else:
            n += 1
            rid = "w%d-%d" % (k, n)
            lines = []
            for _ in range(rng.choice((1, 1, 2))):
                lines.append([rng.choice(spec["skus"]), rng.choice(spec["regions"]),
                              rng.randint(1, 3)])
            body = {"op": "reserve", "id": rid, "channel": spec["channel"], "lines": lines}
            log(ev="send", id=rid, lines=lines)
            rep, url, t_sent, att = router.call(body)
            if rep is None:
                stats["gave_up"] += 1
                log(ev="gave_up", id=rid, attempts=att)
            elif rep.get("ok") is True and rep.get("granted") is True:
                stats["acks"] += 1
                res = rep.get("reservation") or {}
                log(ev="ack", id=rid, node=url, t_sent=t_sent, attempts=att,
                    replayed=rep.get("replayed"), state=res.get("state"),
                    got=[[l.get("sku"), l.get("region"), l.get("qty")]
                         for l in res.get("lines") or []])
                held.append(rid)
            elif rep.get("ok") is True and rep.get("granted") is False:
                stats["refused"] += 1
                log(ev="refused", id=rid, node=url, attempts=att)
            else:
                stats["errors"] += 1
                log(ev="error", id=rid, op="reserve", node=url, reply=repr(rep)[:500])
        time.sleep(spec["pause_s"])
    log(ev="done", ops=op_n + 1, stats=stats)
    out.close()
    router.close()
    return 0


# ---------------------------------------------------------------------------
# the nodes


def metrics_sources(port):
    """{source: (last_seq, state)} from GET /metrics (docs/METRICS.md:
    atpd_source_last_seq, atpd_source_state), or None."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * TF)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        if r.status != 200:
            return None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    seqs, states = {}, {}
    for line in body.split("\n"):
        m = re.match(r'^atpd_source_last_seq\{source="([^"]*)"\} (\S+)$', line)
        if m:
            seqs[m.group(1)] = int(float(m.group(2)))
        m = re.match(r'^atpd_source_state\{source="([^"]*)",state="([^"]*)"\} 1$', line)
        if m:
            states[m.group(1)] = m.group(2)
    return {src: (q, states.get(src)) for src, q in seqs.items()}


class NodeFeeder(U.Feeder):
    """The test's source for one node (resv_util.Feeder: it answers the
    node's resync requests), whose waits work on a standby too: there
    `sources` is refused with not_owner (and status's sources_fresh is
    false: the node is not ready), so the source's applied seq and state
    are read from GET /metrics."""

    def __init__(self, node):
        self.node = node
        super().__init__(node.d, None)

    def synced(self):
        """The node has every message sent so far."""
        r = self.node.ask({"op": "sources"})
        if r is None:
            return False
        if r.get("ok") is True:
            st = {s["id"]: s for s in r.get("sources") or []}
            return all(st.get(src, {}).get("last_seq") == q and st[src].get("state") == "ok"
                       for src, q in self.seq.items())
        if error_name(r) not in ("not_owner", "not_ready"):
            raise TestFailure("%s: sources: %r" % (self.node.id, r))
        st = metrics_sources(self.node.http_port) or {}
        return all(st.get(src) == (q, "ok") for src, q in self.seq.items())

    def wait_applied(self, source, seq=None, timeout_s=20):
        self.wait_synced(timeout_s)

    def wait_synced(self, timeout_s=20):
        def f():
            self.node.d.check_alive()
            return self.synced()
        harness.wait_until(f, timeout_s, 0.05, "%s: the stock applied" % self.node.id)

    def after_restart(self, timeout_s=20):
        self.reconnect()
        for src in sorted(self.seq):
            self.publish(src, [[3]], wait=False)
        self.wait_synced(timeout_s)


class Node:
    """One atpd of the cluster: fixed ports (its advertised URLs must be
    known before it starts), its own data dir, restarts on the same."""

    def __init__(self, h, idx, nats_urls):
        self.h = h
        self.idx = idx
        self.id = "n%d" % (idx + 1)
        # Fixed (advertised, and bound again at every restart), below the
        # ephemeral range: no client connection can take one while the node
        # is down.
        q, i, f, c, w = nats_util.stable_ports(5)
        cfg = http_util.http_config(h)
        svc = cfg["service"]
        svc["query_listen"] = "tcp://127.0.0.1:%d" % q
        svc["ingest_listen"] = "tcp://127.0.0.1:%d" % i
        svc["feed_listen"] = "tcp://127.0.0.1:%d" % f
        svc["control_listen"] = "tcp://127.0.0.1:%d" % c
        svc["http_listen"] = "http://127.0.0.1:%d" % w
        self.query_url = svc["query_listen"]
        self.http_url = svc["http_listen"]
        self.http_port = w
        cfg["cluster"] = {"nats": list(nats_urls), "name": CLUSTER_NAME, "node": self.id,
                          "partition": PARTITION, "replicas": 3, "lease": "%ds" % LEASE_S,
                          "advertise_query": self.query_url, "advertise_http": self.http_url}
        self.d = harness.Atpd(h, cfg, "node%d" % (idx + 1))
        self.router = Router([self.query_url])
        self.feeder = None
        self.down = True       # not running on purpose (never started, killed, stopped)
        self.lost_exits = 0    # exits with status 75 (lease lost)

    def set_nats(self, urls):
        self.d.cfg["cluster"]["nats"] = list(urls)

    def spawn(self):
        self.d.spawn()  # writes the config again
        self.down = False

    def alive(self):
        return self.d.alive()

    def ask(self, body, timeout_s=2.0):
        """One request to this node (no redirect): the reply or None."""
        return self.router.once(self.query_url, body, timeout_s)

    def wait_up(self, timeout_s=30):
        """Until it answers status (listening; owner or standby). The
        ready file is not waited for: a standby is not ready."""
        def f():
            self.d.check_alive()
            r = self.ask({"op": "status"})
            return r if r is not None and r.get("ok") is True else None
        return harness.wait_until(f, timeout_s, 0.05, "%s answers status" % self.id)

    def kill9(self):
        self.down = True
        rc = self.d.kill9()
        self.router.close()
        return rc

    def stop(self):
        self.down = True
        rc = self.d.stop()
        self.router.close()
        return rc

    def status(self):
        return self.ask({"op": "status"})

    def cluster_status(self):
        st = self.status() or {}
        return st.get("cluster") if isinstance(st.get("cluster"), dict) else None


def http_get(port, path):
    """(status, JSON body) of a GET, or None when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * TF)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        try:
            return r.status, json.loads(body or b"null")
        except ValueError:
            return r.status, body[:200]
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# the test


class Test:
    def __init__(self, h):
        self.h = h
        self.ck = harness.Checks(h)
        self.seed = int(os.environ.get("ATP_TEST_SEED", "21"))
        self.rng = random.Random(self.seed)
        self.nats = None
        self.nodes = []
        self.workers = []
        self.stop_path = os.path.join(h.tmp, "workers.stop")
        self.probe_log = open(os.path.join(h.tmp, "probes.jsonl"), "a", buffering=1)
        self.probe_n = 0
        self.lock = threading.Lock()
        self.probe_router = None
        self.must_not_exist = []  # ids refused with not_owner: never stored
        self.standby_n = 0
        self.last_probe_reply = None
        self.takeovers = []       # (ready_s, grant_s) after each kill -9 of the owner
        self.epochs = []
        self.proxies = []
        self.cuts = []            # (t_cut, t_exit, node) of each owner cut off in f

    # ---- nodes
    def live(self):
        return [n for n in self.nodes if n.alive()]

    def supervise(self):
        """Restart a node that exited by itself with status 75 (it lost the
        lease, docs/CLUSTER.md); any other exit of a running node fails."""
        for n in self.nodes:
            if n.down or n.alive():
                continue
            rc = n.d.proc.returncode
            if rc != 75:
                raise TestFailure("%s (pid %d) exited with status %s by itself; stderr:\n%s"
                                  % (n.id, n.d.pid, rc, harness.tail(n.d.stderr_path)))
            n.lost_exits += 1
            self.h.log("%s exited with status 75 (lease lost): restarting it", n.id)
            self.restart(n)

    def restart(self, n):
        n.spawn()
        n.wait_up()
        n.feeder.after_restart()

    def owner_now(self):
        """The node whose `ready` is true, when exactly one live node says
        so; else None."""
        ready = []
        for n in self.live():
            r = n.ask({"op": "ready"})
            if r is not None and r.get("ok") is True and r.get("ready") is True:
                ready.append(n)
        return ready[0] if len(ready) == 1 else None

    def roles_ok(self, owner, why):
        """Every other live node is a standby naming owner: `ready` false,
        `atp` and `reserve` refused with not_owner and error.owner = the
        owner's node and URLs; status answers everywhere. why: a list the
        reasons are put in."""
        for n in self.live():
            st = n.status()
            if st is None or st.get("ok") is not True:
                why.append("%s: status %r" % (n.id, st))
                return False
            cs = st.get("cluster") if isinstance(st.get("cluster"), dict) else {}
            own = cs.get("owner") if isinstance(cs.get("owner"), dict) else {}
            want = (CLUSTER_NAME, n.id, PARTITION, "owner" if n is owner else "standby",
                    True, (owner.id, owner.query_url, owner.http_url))
            got = (cs.get("name"), cs.get("node"), cs.get("partition"), cs.get("role"),
                   cs.get("connected"), (own.get("node"), own.get("query"), own.get("http")))
            if got != want:
                why.append("%s: status.cluster (name, node, partition, role, connected, owner) "
                           "%r, want %r" % (n.id, got, want))
                return False
            r = n.ask({"op": "ready"})
            want_ready = n is owner
            if r is None or r.get("ready") is not want_ready:
                why.append("%s: ready %r (want %s)" % (n.id, r, want_ready))
                return False
            if n is owner:
                continue
            self.standby_n += 1
            for body in ({"op": "atp", "sku": "H1", "region": "east", "channel": CHANNEL},
                         {"op": "reserve", "id": "standby-%s-%d" % (n.id, self.standby_n),
                          "channel": CHANNEL, "lines": [[PROBE_SKU, PROBE_REGION, 1]]}):
                if body["op"] == "reserve":
                    self.plog(ev="send", id=body["id"], lines=body["lines"])
                    if self.probe_at(n, body):  # granted: n took over meanwhile
                        why.append("%s granted %s: not a standby" % (n.id, body["id"]))
                        return False
                    r = self.last_probe_reply
                else:
                    r = n.ask(body)
                own = ((r or {}).get("error") or {}).get("owner")
                if error_name(r) != "not_owner" or not isinstance(own, dict):
                    why.append("%s: %s answered %r, want not_owner" % (n.id, body["op"], r))
                    return False
                if body["op"] == "reserve":
                    self.must_not_exist.append(body["id"])
                got = (own.get("node"), own.get("query"), own.get("http"))
                if got != (owner.id, owner.query_url, owner.http_url):
                    why.append("%s: not_owner names %r, the owner is %r" % (
                        n.id, got, (owner.id, owner.query_url, owner.http_url)))
                    return False
        return True

    def wait_one_owner(self, timeout_s=30, what="one owner"):
        """Until exactly one live node is ready and every other live node
        names it in not_owner. Returns the owner."""
        last = []

        def f():
            self.supervise()
            o = self.owner_now()
            if o is None:
                last[:] = ["no single ready node among %s" % [n.id for n in self.live()]]
                return None
            why = []
            if not self.roles_ok(o, why):
                last[:] = why
                return None
            return o
        try:
            return harness.wait_until(f, timeout_s, 0.1, what)
        except TestFailure:
            raise TestFailure("%s: %s; nodes' cluster status: %s" % (
                what, last, {n.id: n.cluster_status() for n in self.live()}))

    def lease_entry(self):
        """The lease bucket's entry of the partition (docs/CLUSTER.md), or
        None; read through a live NATS server."""
        for s in self.nats.servers:
            if s.alive():
                try:
                    return nats_util.kv_last(s.client_port, CLUSTER_NAME + "_leases", PARTITION)
                except (nats_util.NatsError, OSError, TimeoutError):
                    continue
        return None

    def check_lease_names(self, owner, what):
        """The lease key's value names the owner: docs/CLUSTER.md, "The
        lease": `node\nquery_url\nhttp_url\nepoch`, the epoch being the
        stream sequence of the owner's takeover marker (not 0 once it
        serves) and the owner's status.cluster.epoch."""
        e = self.lease_entry()
        if e is None:
            self.ck.check(False, "%s: no lease entry %s_leases/%s readable", what,
                          CLUSTER_NAME, PARTITION)
            return
        parts = e["value"].decode("utf-8", "replace").split("\n")
        if len(parts) != 4 or not parts[3].isdigit():
            self.ck.check(False, "%s: the lease's value (key %s of bucket %s_leases) is not "
                          "node\\nquery\\nhttp\\nepoch (docs/CLUSTER.md): %r", what, PARTITION,
                          CLUSTER_NAME, e["value"][:300])
            return
        epoch = int(parts[3])
        cs = owner.cluster_status() or {}
        self.ck.eq((parts[0], parts[1], parts[2], epoch),
                   (owner.id, owner.query_url, owner.http_url, cs.get("epoch")),
                   "%s: the lease's value (node, query, http, epoch = the owner's "
                   "status.cluster.epoch)" % what)
        self.ck.check(epoch > 0, "%s: the serving owner's lease names epoch %d, not its "
                      "marker's sequence", what, epoch)

    def record_epoch(self, owner, what):
        """status.cluster.epoch of a new owner: it grows with every
        takeover (docs/CLUSTER.md, "The lease")."""
        cs = owner.cluster_status()
        if not self.ck.check(cs is not None and isinstance(cs.get("epoch"), int),
                             "%s: %s's status has cluster.epoch: %r", what, owner.id, cs):
            return
        if self.epochs and self.epochs[-1] == (owner.id, cs["epoch"]):
            return  # the same ownership, seen again
        if self.epochs:
            self.ck.check(cs["epoch"] > self.epochs[-1][1], "%s: the epoch grows at a takeover: "
                          "%r after %r", what, cs["epoch"], self.epochs[-1])
        self.epochs.append((owner.id, cs["epoch"]))

    # ---- probes (the main thread's reservations: one unit of PROBE each)
    def probe_body(self):
        with self.lock:
            self.probe_n += 1
            rid = "probe-%d" % self.probe_n
        body = {"op": "reserve", "id": rid, "channel": CHANNEL,
                "lines": [[PROBE_SKU, PROBE_REGION, 1]]}
        self.plog(ev="send", id=rid, lines=body["lines"])
        return body

    def plog(self, **ev):
        with self.lock:  # the main thread and f's direct prober
            ev["t"] = time.monotonic()
            self.probe_log.write(json.dumps(ev) + "\n")

    def probe_at(self, node, body, timeout_s=ATTEMPT_TIMEOUT_S):
        """Send probe body to node only (no redirect). Returns True when
        granted (logged as an ack), False when refused for a reason that
        stores nothing (not_owner, transport, no answer...)."""
        t_sent = time.monotonic()
        r = node.ask(body, timeout_s)
        self.last_probe_reply = r
        if r is not None and r.get("ok") is True and r.get("granted") is True:
            res = r.get("reservation") or {}
            self.plog(ev="ack", id=body["id"], node=node.query_url, t_sent=t_sent, attempts=1,
                      replayed=r.get("replayed"), state=res.get("state"),
                      got=[[l.get("sku"), l.get("region"), l.get("qty")]
                           for l in res.get("lines") or []])
            return True
        if r is not None and r.get("ok") is True:
            self.ck.check(False, "probe %s refused by %s: %r", body["id"], node.id, r)
        elif r is not None and error_name(r) not in ("not_owner", "transport", "not_ready",
                                                     "busy"):
            self.ck.check(False, "probe %s at %s: unexpected reply %r", body["id"], node.id, r)
        return False

    def probe_routed(self, budget_s=REQUEST_BUDGET_S):
        """One probe through a Router (following not_owner): (granted,
        t_sent, t_answer)."""
        body = self.probe_body()
        rep, url, t_sent, att = self.probe_router.call(body, budget_s)
        if rep is not None and rep.get("ok") is True and rep.get("granted") is True:
            res = rep.get("reservation") or {}
            self.plog(ev="ack", id=body["id"], node=url, t_sent=t_sent, attempts=att,
                      replayed=rep.get("replayed"), state=res.get("state"),
                      got=[[l.get("sku"), l.get("region"), l.get("qty")]
                           for l in res.get("lines") or []])
            return True, t_sent, time.monotonic()
        if rep is None:
            self.plog(ev="gave_up", id=body["id"], attempts=att)
        else:
            self.ck.check(False, "probe %s: %r", body["id"], rep)
            self.plog(ev="error", id=body["id"], op="reserve", node=url, reply=repr(rep)[:300])
        return False, t_sent, time.monotonic()

    # ---- phases
    def start(self):
        h = self.h
        # --no_advertise: a node told of one server knows only that one (f)
        self.nats = nats_util.NatsCluster(h, 3, cluster_name="atpitest", no_advertise=True)
        self.nats.start()
        urls = self.nats.urls()
        self.nodes = [Node(h, i, urls) for i in range(N_NODES)]
        for n in self.nodes:
            n.spawn()
        for n in self.nodes:
            n.wait_up()
            n.feeder = NodeFeeder(n)
        stock_events = [[2, s, LOC[r], 0, q] for (s, r), q in sorted(STOCK.items())]
        for n in self.nodes:
            n.feeder.publish("wms", stock_events, wait=False)
        for n in self.nodes:
            n.feeder.wait_synced()
        self.probe_router = Router([n.query_url for n in self.nodes], seed=self.seed)
        h.log("%d atpd nodes up (%s), each fed the stock", len(self.nodes),
              ", ".join("%s %s" % (n.id, n.query_url) for n in self.nodes))

    def phase_a(self):
        h, ck = self.h, self.ck
        owner = self.wait_one_owner(30, "a: one owner at start")
        h.log("a: %s owns the partition; the others are standbys naming it", owner.id)
        self.check_lease_names(owner, "a")
        self.record_epoch(owner, "a")
        for (s, r), q in STOCK.items():
            a = owner.ask({"op": "atp", "sku": s, "region": r, "channel": CHANNEL})
            ck.eq((a or {}).get("supply"), q, "a: the owner's supply of %s@%s" % (s, r))
            ck.eq((a or {}).get("atp"), q, "a: the owner's ATP of %s@%s" % (s, r))
        for n in self.nodes:
            ck.check((n.status() or {}).get("ok") is True, "a: %s answers status", n.id)
            rz = http_get(n.http_port, "/readyz")
            ck.eq(rz[0] if rz else None, 200 if n is owner else 503,
                  "a: %s's /readyz" % n.id)
            if n is owner:
                continue
            r = http_get(n.http_port, "/v1/availability/H1/east?channel=" + CHANNEL)
            doc = r[1] if r and isinstance(r[1], dict) else {}
            own = (doc.get("error") or {}).get("owner") or {}
            ck.eq((r[0] if r else None, error_name(doc),
                   (own.get("node"), own.get("query"), own.get("http"))),
                  (503, "not_owner", (owner.id, owner.query_url, owner.http_url)),
                  "a: %s over HTTP: 503 not_owner naming the owner" % n.id)
        ok, _, _ = self.probe_routed()
        ck.check(ok, "a: a probe reservation through a standby's redirect is granted")
        return owner

    def start_workers(self):
        spec_base = {"seed": self.seed, "urls": [n.query_url for n in self.nodes],
                     "skus": HOT, "regions": REGIONS, "channel": CHANNEL,
                     "stop": self.stop_path, "max_ops": WORKER_MAX_OPS, "max_s": WORKER_MAX_S,
                     "pause_s": WORKER_PAUSE_S}
        for k in range(WORKERS):
            spec = dict(spec_base, k=k, log=os.path.join(self.h.tmp, "worker%d.jsonl" % k))
            path = os.path.join(self.h.tmp, "worker%d.json" % k)
            with open(path, "w") as f:
                json.dump(spec, f)
            out = open(os.path.join(self.h.tmp, "worker%d.out" % k), "wb")
            p = harness._spawn([sys.executable, os.path.abspath(__file__), "--worker", path],
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            out.close()
            self.workers.append((p, spec))
        self.h.log("b: %d client processes reserve and release %s in %s", WORKERS,
                   "/".join(HOT), "/".join(REGIONS))

    def check_workers_alive(self):
        for p, spec in self.workers:
            if p.poll() is not None:
                raise TestFailure("worker %d exited early with status %s:\n%s"
                                  % (spec["k"], p.returncode, harness.tail(
                                      os.path.join(self.h.tmp, "worker%d.out" % spec["k"]))))

    def worker_acks(self):
        n = 0
        for _, spec in self.workers:
            try:
                with open(spec["log"]) as f:
                    n += sum(1 for line in f if '"ev": "ack"' in line)
            except OSError:
                pass
        return n

    def stop_workers(self):
        with open(self.stop_path, "w") as f:
            f.write("stop\n")
        deadline = time.monotonic() + REQUEST_BUDGET_S + 30 * TF
        for p, spec in self.workers:
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                harness._stop_pid(p, 5)
                raise TestFailure("worker %d did not stop" % spec["k"])
            if p.returncode != 0:
                raise TestFailure("worker %d exited with status %s:\n%s" % (
                    spec["k"], p.returncode,
                    harness.tail(os.path.join(self.h.tmp, "worker%d.out" % spec["k"]))))

    def wait_random_moment(self, lo_s, hi_s):
        """Let the clients run for a random while (the kill's moment is
        random; nothing waits on it), supervising the nodes meanwhile."""
        until = time.monotonic() + self.rng.uniform(lo_s, hi_s)
        for _ in range(100000):
            left = until - time.monotonic()
            if left <= 0:
                return
            self.supervise()
            self.check_workers_alive()
            time.sleep(min(0.05, left))

    def measure_takeover(self, old, t_kill, limit_s, what):
        """After old stopped serving at t_kill: until another live node is
        ready and grants a probe sent to it. Returns (ready_s, grant_s,
        the new owner); self.old_exit: when old was first seen exited."""
        t_ready = None
        body = None
        self.old_exit = None
        deadline = t_kill + limit_s + 30 * TF
        for _ in range(100000):
            if self.old_exit is None and not old.alive():
                self.old_exit = time.monotonic()
            if time.monotonic() > deadline:
                raise TestFailure("%s: no other node granted within %.0f s; cluster status: %s"
                                  % (what, deadline - t_kill,
                                     {n.id: n.cluster_status() for n in self.live()}))
            self.supervise()
            for n in self.live():
                if n is old:
                    continue
                r = n.ask({"op": "ready"}, 1.0)
                if r is None or r.get("ready") is not True:
                    continue
                if t_ready is None:
                    t_ready = time.monotonic()
                if body is None:
                    body = self.probe_body()
                if self.probe_at(n, body):  # not granted: retried with the same id
                    t_grant = time.monotonic()
                    return t_ready - t_kill, t_grant - t_kill, n
            time.sleep(0.02)
        raise TestFailure("%s: no takeover" % what)

    def phase_c(self, owner):
        h, ck = self.h, self.ck
        for i in range(1, KILLS + 1):
            self.wait_random_moment(0.2, 1.5)
            owner = self.wait_one_owner(30, "c%d: one owner before the kill" % i)
            acks_before = self.worker_acks()
            t_kill = time.monotonic()
            rc = owner.kill9()
            ready_s, grant_s, new = self.measure_takeover(owner, t_kill, TAKEOVER_LIMIT_S,
                                                          "c%d" % i)
            self.takeovers.append((ready_s, grant_s))
            h.log("c%d: kill -9 %s (status %s): %s ready after %.2f s, granting after %.2f s "
                  "(client acks so far %d)", i, owner.id, rc, new.id, ready_s, grant_s,
                  acks_before)
            ck.check(grant_s < TAKEOVER_LIMIT_S, "c%d: %s granted %.2f s after the kill of %s "
                     "(limit %.1f s)", i, new.id, grant_s, owner.id, TAKEOVER_LIMIT_S)
            self.record_epoch(new, "c%d" % i)
            self.restart(owner)
            self.wait_one_owner(30, "c%d: the killed node back as a standby" % i)
        return self.wait_one_owner(30, "c: after the kills")

    def phase_e(self):
        """kill -9 one nats-server that leads none of atpd's streams, then
        (e2) the one that leads the partition's stream and the lease
        bucket's; each is restarted and caught up before the next."""
        streams = self.atpd_streams()
        leaders = {s: self.nats.stream_leader(s) for s in streams}
        meta = self.nats.servers[0].meta_leader()
        led = set(leaders.values())
        names = [s.name for s in self.nats.servers]
        cands = [i for i, n in enumerate(names) if n not in led]
        cands.sort(key=lambda i: names[i] == meta)  # not the meta leader first
        victim = cands[0] if cands else 0
        self.h.log("e: atpd's streams %s led by %s, meta leader %s", streams, leaders, meta)
        self.kill_nats_under_load(victim, NATS_KILL_GAP_LIMIT_S, 10 * TF, "e")
        leaders = {s: self.nats.stream_leader(s) for s in streams}
        counts = {n: sum(1 for v in leaders.values() if v == n) for n in names}
        kv = "KV_%s_leases" % CLUSTER_NAME  # the lease bucket's: renewals stop
        victim = names.index(max(names, key=lambda n: (counts[n], leaders.get(kv) == n)))
        self.h.log("e2: atpd's streams %s led by %s", streams, leaders)
        self.kill_nats_under_load(victim, NATS_LEADER_KILL_GAP_LIMIT_S, 15 * TF, "e2")
        return self.wait_one_owner(30, "e: one owner after the NATS servers are back")

    def kill_nats_under_load(self, victim, gap_limit_s, window_s, what):
        """kill -9 NATS server victim while the clients run; probes (routed)
        must go on being granted, the longest wait for one below
        gap_limit_s; then the server is restarted and atpd's streams are
        current on every server again."""
        h, ck = self.h, self.ck
        name = self.nats.servers[victim].name
        h.log("%s: kill -9 %s", what, name)
        t_kill = time.monotonic()
        self.nats.kill9(victim)
        gaps, last_grant, n_ok = [], t_kill, 0
        # Probes for a while after the kill (the owner may lose its lease
        # seconds later, when a renewal finds no stream leader), and until
        # the gap limit is passed if none is granted.
        t_end = t_kill + window_s
        for _ in range(5000):
            now = time.monotonic()
            if (now > t_end and n_ok >= 5) or now > t_kill + max(window_s, gap_limit_s) + 5 * TF:
                break
            # short probes: between them, a node that exited (75) is
            # restarted at once, as its supervisor would
            self.supervise()
            ok, _, t_ans = self.probe_routed(2.0 * TF)
            if ok:
                gaps.append(t_ans - last_grant)
                last_grant = t_ans
                n_ok += 1
            time.sleep(0.05)
        gaps.append(time.monotonic() - last_grant)  # none since the last grant
        h.log("%s: %d probes granted in %.1f s with %s down; the longest wait for a grant %.2f s "
              "(the first after the kill: %.2f s)", what, n_ok, time.monotonic() - t_kill,
              name, max(gaps), gaps[0])
        ck.check(n_ok >= 5, "%s: probes granted with %s down (%d)", what, name, n_ok)
        ck.check(max(gaps) < gap_limit_s,
                 "%s: the longest wait for a grant with %s down: %.2f s (limit %.0f)",
                 what, name, max(gaps), gap_limit_s)
        self.wait_one_owner(60, "%s: one owner with %s down" % (what, name))
        self.nats.restart(victim)
        for s in self.atpd_streams():
            self.nats.wait_stream_current(s, 30)

    def atpd_streams(self):
        """The JetStream streams atpd made (every stream but the probe's)."""
        for s in self.nats.servers:
            if not s.alive():
                continue
            try:
                with nats_util.NatsConn(s.client_port) as c:
                    r = c.js("STREAM.NAMES", {"offset": 0}, timeout_s=5)
                return sorted(x for x in (r.get("streams") or []) if x != self.nats.PROBE)
            except (nats_util.NatsError, OSError, TimeoutError):
                continue
        return []

    def phase_f(self):
        """Each node with a single NATS URL: a proxy to a server of its own.
        f1: the owner's proxy is cut (a network partition: every server
        runs on); f2: the owner's server is killed."""
        h, ck = self.h, self.ck
        owner = self.wait_one_owner(30, "f: one owner before the reconfiguration")
        self.proxies = [nats_util.TcpProxy(s.client_port).start() for s in self.nats.servers]
        h.log("f: restarting every node with a single NATS URL each, a proxy to its own "
              "server (standbys first)")
        for n in sorted(self.nodes, key=lambda n: n is owner):
            ck.eq(n.stop(), 0, "f: %s stops cleanly on SIGTERM" % n.id)
        for n in self.nodes:
            n.set_nats([self.proxies[n.idx].url])
            n.spawn()
        for n in self.nodes:
            n.wait_up()
            n.feeder.after_restart()
        self.cut_owner_off("f1", "cut")
        self.cut_owner_off("f2", "kill")
        return self.wait_one_owner(30, "f: one owner at the end")

    def owner_for_cut(self, what, how):
        """The owner to cut off, with a probe granted. For a kill, the
        leaders of atpd's streams are moved off its server first: the
        scenario of docs/CLUSTER.md is the owner cut off while JetStream's
        majority and leaders are on the other side (a step-down may cost
        the owner its lease: then all again)."""
        h, ck = self.h, self.ck
        for attempt in range(1, 6):
            owner = self.wait_one_owner(30, "%s: one owner" % what)
            mine = self.nats.servers[owner.idx].name
            if how == "kill":
                for st in self.atpd_streams():
                    self.nats.move_leader_off(st, mine)
                for st in self.atpd_streams():
                    self.nats.wait_stream_current(st, 30)
                if self.wait_one_owner(30, "%s: one owner after moving leaders" % what) \
                        is not owner:
                    continue
            ok, _, _ = self.probe_routed()
            ck.check(ok, "%s: the owner grants before the cut", what)
            leaders = {st: self.nats.stream_leader(st) for st in self.atpd_streams()}
            r = owner.ask({"op": "ready"})
            if (how != "kill" or mine not in leaders.values()) and r is not None and \
                    r.get("ready") is True:
                h.log("%s: %s owns the partition and reaches only %s; atpd's streams led by %s",
                      what, owner.id, mine, leaders)
                return owner
            h.log("%s: attempt %d: %s %s, streams led by %s: again", what, attempt, owner.id,
                  "ready" if r and r.get("ready") else "no longer ready", leaders)
        raise TestFailure("%s: no stable owner with atpd's stream leaders elsewhere" % what)

    def cut_owner_off(self, what, how):
        """how "cut": the owner's proxy stops (its server runs on); "kill":
        the owner's only server is killed. The owner acknowledges nothing
        sent after that (probes sent straight to it, the clients' logs at
        the end), exits with status 75, and another node takes over."""
        h, ck = self.h, self.ck
        owner = self.owner_for_cut(what, how)
        self.check_lease_names(owner, what)
        self.record_epoch(owner, what)
        victim = owner.idx
        limit_s = CUT_TAKEOVER_LIMIT_S if how == "cut" else KILL_CUT_TAKEOVER_LIMIT_S
        owner.down = True  # it is to exit by itself (75): supervise() leaves it
        stop_direct = threading.Event()
        direct = {"sent": 0, "granted": [], "answers": {}}

        def direct_prober():
            """Probes sent straight to the cut-off owner after the cut, until
            it exits (bounded): none may be granted."""
            r = Router([owner.query_url])
            try:
                for _ in range(500):
                    if stop_direct.is_set() or not owner.alive():
                        return
                    body = self.probe_body()
                    self.must_not_exist.append(body["id"])
                    direct["sent"] += 1
                    t_sent = time.monotonic()
                    rep = r.once(owner.query_url, body, 5.0)
                    name = "no answer" if rep is None else (
                        "granted" if rep.get("granted") is True else error_name(rep) or "refused")
                    direct["answers"][name] = direct["answers"].get(name, 0) + 1
                    if rep is not None and rep.get("granted") is True:
                        direct["granted"].append((body["id"], t_sent - t_cut))
                    if rep is None:
                        stop_direct.wait(0.05)
            finally:
                r.close()

        h.log("%s: %s %s", what, "cut the proxy of" if how == "cut" else "kill -9",
              self.nats.servers[victim].name)
        t_cut = time.monotonic()
        if how == "cut":
            self.proxies[victim].cut()
        else:
            self.nats.kill9(victim)
        prober = threading.Thread(target=direct_prober, daemon=True)
        prober.start()
        try:
            ready_s, grant_s, new = self.measure_takeover(owner, t_cut, limit_s, what)
            h.log("%s: %s ready %.2f s and granting %.2f s after the cut", what, new.id,
                  ready_s, grant_s)
            ck.check(grant_s < limit_s, "%s: takeover %.2f s after the cut (limit %.0f s)",
                     what, grant_s, limit_s)
            if self.old_exit is None:
                harness.wait_until(lambda: not owner.alive(), LOST_EXIT_LIMIT_S / TF + 30, 0.02,
                                   "the cut-off owner exits")
                self.old_exit = time.monotonic()
            t_exit = self.old_exit
        finally:
            stop_direct.set()
            prober.join(30)
        self.record_epoch(new, what)
        h.log("%s: %d probes sent straight to the cut-off %s after the cut: %s", what,
              direct["sent"], owner.id, direct["answers"])
        ck.check(not direct["granted"], "%s: the cut-off owner granted probes sent after the "
                 "cut: %r", what, direct["granted"])
        rc = owner.d.proc.returncode
        h.log("%s: the cut-off %s exited with status %s %.2f s after the cut", what, owner.id,
              rc, t_exit - t_cut)
        ck.eq(rc, 75, "%s: the cut-off owner's exit status (lease lost)" % what)
        ck.check(t_exit - t_cut < LOST_EXIT_LIMIT_S, "%s: the cut-off owner exited %.2f s after "
                 "the cut (limit %.0f s)", what, t_exit - t_cut, LOST_EXIT_LIMIT_S)
        self.cuts.append((t_cut, t_exit, owner))
        # back to three: the proxy or the server, then the node (a standby)
        if how == "cut":
            self.proxies[victim].restore()
        else:
            self.nats.restart(victim)
            for st in self.atpd_streams():
                self.nats.wait_stream_current(st, 30)
        self.restart(owner)
        self.wait_one_owner(30, "%s: one owner, the cut-off node back as a standby" % what)

    # ---- d: the final checks
    def load_logs(self):
        recs = {}
        errors = []
        paths = [spec["log"] for _, spec in self.workers] + [self.probe_log.name]
        for path in paths:
            try:
                f = open(path)
            except OSError:
                continue
            with f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        errors.append("%s: unreadable line %r" % (path, line[:100]))
                        continue
                    if ev.get("ev") == "done":
                        continue
                    r = recs.setdefault(ev["id"], {"lines": None, "acks": [], "refused": 0,
                                                   "gave_up": 0, "rel_sent": None,
                                                   "rel_acked": False, "rel_gave_up": False})
                    e = ev["ev"]
                    if e == "send":
                        r["lines"] = ev["lines"]
                    elif e == "ack":
                        r["acks"].append(ev)
                    elif e == "refused":
                        r["refused"] += 1
                    elif e == "gave_up":
                        r["gave_up"] += 1
                    elif e == "rel_send":
                        r["rel_sent"] = r["rel_sent"] or ev["t"]
                    elif e == "rel_ack":
                        r["rel_acked"] = True
                    elif e == "rel_gave_up":
                        r["rel_gave_up"] = True
                    elif e == "error":
                        errors.append(ev)
        return recs, errors

    def phase_d(self, owner):
        h, ck = self.h, self.ck
        recs, errors = self.load_logs()
        ck.check(not errors, "d: client errors (%d): %r", len(errors), errors[:5])
        acked = {i: r for i, r in recs.items() if r["acks"]}
        worker_acked = [i for i in acked if not i.startswith("probe-")]
        refused = [i for i, r in recs.items() if r["refused"] and not r["acks"]]
        unknown = [i for i, r in recs.items() if not r["acks"] and not r["refused"]]
        releases = sum(1 for r in acked.values() if r["rel_acked"])
        h.log("d: %d reservations acknowledged (%d by the clients, %d released), %d refused, "
              "%d unresolved; checking them on the final owner %s", len(acked),
              len(worker_acked), releases, len(refused), len(unknown), owner.id)
        retried = [r["acks"][0] for r in acked.values() if r["acks"][0].get("attempts", 1) > 1]
        h.log("d: %d acknowledgements came after retries or redirects, %d of them replays",
              len(retried), sum(1 for a in retried if a.get("replayed")))
        ck.check(len(worker_acked) >= KILLS, "d: the clients had reservations acknowledged "
                 "(%d)", len(worker_acked))
        ck.check(len(refused) > 0, "d: the stock ran out (some reserve refused)")
        for i, r in acked.items():
            nodes = {a["node"] for a in r["acks"]}
            ck.check(len(r["acks"]) == 1, "d: %s acknowledged %d times by %s", i,
                     len(r["acks"]), sorted(nodes))
            a = r["acks"][0]
            ck.check(not a.get("replayed") or a.get("attempts", 1) > 1,
                     "d: %s acknowledged as a replay at its first attempt", i)
            ck.eq(merged_lines(a.get("got") or []), merged_lines(r["lines"]),
                  "d: %s: the acknowledged lines" % i)
        router = Router([owner.query_url])
        open_qty = {k: 0 for k in STOCK}
        checked = 0
        self.rng.shuffle(refused)
        sample_refused = set(refused[:200])
        for i in sorted(set(acked) | set(unknown) | sample_refused | set(self.must_not_exist)):
            rep = router.once(owner.query_url, {"op": "reservation", "id": i}, 10.0)
            checked += 1
            if rep is None:
                raise TestFailure("d: the owner %s does not answer `reservation`" % owner.id)
            res = rep.get("reservation") if rep.get("ok") is True else None
            if res is None and error_name(rep) != "not_found":
                ck.check(False, "d: reservation %s: %r", i, rep)
                continue
            if i in acked:
                r = acked[i]
                if not ck.check(res is not None, "d: acknowledged %s (by %s) is on the final "
                                "owner", i, r["acks"][0]["node"]):
                    continue
                want = ("released",) if r["rel_acked"] else (
                    ("held", "released") if r["rel_sent"] else ("held",))
                ck.check(res.get("state") in want, "d: %s is %s, want %s", i, res.get("state"),
                         "/".join(want))
                ck.eq(merged_lines([[l["sku"], l["region"], l["qty"]] for l in res["lines"]]),
                      merged_lines(r["lines"]), "d: %s's lines on the final owner" % i)
            elif i in sample_refused or i in self.must_not_exist:
                ck.check(res is None, "d: %s was refused, yet the owner has it: %r", i, res)
            if res is not None:
                for k, q in U.open_lines(res).items():
                    if k in open_qty:
                        open_qty[k] += q
                    else:
                        ck.check(False, "d: %s holds %r, no stock was given" % (i, k))
        router.close()
        for (s, r), stock in sorted(STOCK.items()):
            a = owner.ask({"op": "atp", "sku": s, "region": r, "channel": CHANNEL}) or {}
            ck.check(open_qty[(s, r)] <= stock, "d: %s@%s: %d held of a stock of %d (oversold)",
                     s, r, open_qty[(s, r)], stock)
            ck.eq((a.get("supply"), a.get("reserved"), a.get("atp")),
                  (stock, open_qty[(s, r)], max(0, stock - open_qty[(s, r)])),
                  "d: %s@%s on the final owner: (supply, reserved, atp)" % (s, r))
        # A lower bound of what was held at each moment: an acknowledged
        # reservation held at least from its acknowledgement until its
        # release was first sent. Above the stock at any moment: two owners
        # granted the same units.
        events = []
        for i, r in acked.items():
            a = r["acks"][0]
            for k, q in merged_lines(r["lines"]).items():
                events.append((a["t"], q, k))
                if r["rel_sent"] is not None:
                    events.append((r["rel_sent"], -q, k))
        events.sort(key=lambda e: (e[0], e[1]))  # releases first at a tie
        level = {k: 0 for k in STOCK}
        peak = {k: 0 for k in STOCK}
        for t, q, k in events:
            level[k] += q
            peak[k] = max(peak[k], level[k])
        for k, stock in sorted(STOCK.items()):
            ck.check(peak[k] <= stock, "d: %s@%s: %d units acknowledged and not yet released at "
                     "one moment, stock %d (two owners granted the same units)", k[0], k[1],
                     peak[k], stock)
        h.log("d: peaks of acknowledged-and-held units per (sku, region): %s",
              {"%s@%s" % k: "%d/%d" % (peak[k], STOCK[k]) for k in sorted(STOCK)
               if k[0] != PROBE_SKU})
        # f: nothing a cut-off owner acknowledged was sent after its cut
        for t_cut, t_exit, cut_owner in self.cuts:
            late = [(i, a["t_sent"] - t_cut) for i, r in acked.items() for a in r["acks"]
                    if a["node"] == cut_owner.query_url and t_cut < a["t_sent"] <= t_exit]
            ck.check(not late, "d: the cut-off owner %s acknowledged requests sent after its "
                     "cut: %r", cut_owner.id, late[:5])
        h.log("d: %d reservations looked up on the final owner", checked)

    def finish(self):
        h, ck = self.h, self.ck
        owner = self.wait_one_owner(30, "the end: one owner")
        self.phase_d(owner)
        if self.takeovers:
            g = sorted(t for _, t in self.takeovers)
            r = sorted(t for t, _ in self.takeovers)
            h.log("takeover after kill -9 of the owner (%d kills, lease %d s): ready min %.2f / "
                  "median %.2f / max %.2f s; granting min %.2f / median %.2f / max %.2f s",
                  len(g), LEASE_S, r[0], statistics.median(r), r[-1], g[0],
                  statistics.median(g), g[-1])
        ck.eq(len(self.takeovers), KILLS, "owner kills measured")
        if self.epochs:
            h.log("epochs: %s", self.epochs)
        h.log("nodes' lease-lost exits (75) besides the cut: %s",
              {n.id: n.lost_exits for n in self.nodes})
        for n in sorted(self.nodes, key=lambda n: n is owner):
            n.feeder.close()
            ck.eq(n.stop(), 0, "%s stops cleanly on SIGTERM" % n.id)
        for px in self.proxies:
            px.cut()
        self.nats.stop_all()
        ck.done()


def main(h):
    if nats_util.nats_server_bin() is None:
        harness.skip("nats-server is not installed")
    t = Test(h)
    try:
        t.start()
        owner = t.phase_a()
        t.start_workers()
        t.phase_c(owner)
        t.phase_e()
        t.phase_f()
        t.stop_workers()
        t.finish()
    except BaseException:
        if t.nats is not None:
            print(t.nats.report())
        for n in t.nodes:
            print("--- %s: %s, cluster status %s" % (n.id, "alive" if n.alive() else "down",
                                                    n.cluster_status() if n.alive() else "-"))
        raise
    finally:
        if os.path.exists(t.stop_path) is False:
            with open(t.stop_path, "w") as f:
                f.write("stop\n")
        for p, _ in t.workers:
            if p.poll() is None:
                harness._stop_pid(p, 5)
        for px in t.proxies:
            try:
                px.cut()
            except TestFailure:
                pass


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(worker_main(sys.argv[2]))
    harness.run(main, "cluster_failover")
