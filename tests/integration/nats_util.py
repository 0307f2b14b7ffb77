"""nats_util.py - a nats-server JetStream cluster on loopback for the
cluster tests (docs/CLUSTER.md): start, kill -9, stop and restart single
servers, and a small NATS client (the text protocol over a plain socket) to
check that JetStream accepts replicated writes and to read the lease
bucket.

Standard library only; builds on harness.py. Every server is started by
harness._spawn (registered: the harness's cleanup kills it by pid, also
when the test dies; PR_SET_PDEATHSIG kills it with the test's process),
listens on 127.0.0.1 only, on free ports that a restart can bind again
(stable_ports: below the kernel's ephemeral range), with its own store
directory under the harness's temp dir. Every wait is bounded
(harness.wait_until, scaled by harness.TIME_FACTOR).

    cl = nats_util.NatsCluster(h, 3)   # h: harness.Harness
    cl.start()                         # until JetStream writes are accepted
    cl.urls()                          # ["nats://127.0.0.1:P1", ...]
    cl.kill9(0); cl.restart(0)         # same ports, same store dir
    cl.stop_all()

Self-check (by hand; starts a cluster, kills, stops and restarts servers):

    /usr/bin/python3 tests/integration/nats_util.py
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

NATS_CANDIDATES = ("/usr/sbin/nats-server", "/usr/bin/nats-server")


def nats_server_bin():
    """The nats-server binary (PATH first, then Debian's places), or None."""
    p = shutil.which("nats-server")
    if p:
        return p
    for c in NATS_CANDIDATES:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


# ---------------------------------------------------------------------------
# ports a restart can bind again


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_handed_out = set()  # stable_ports never gives a port twice in one process


def stable_ports(n, rng=None):
    """n distinct free TCP ports on 127.0.0.1 *below the kernel's ephemeral
    range* (net.ipv4.ip_local_port_range). A server restarted on the same
    port after kill -9 must find it free; harness.free_ports hands out
    ephemeral ports, and any outgoing connection meanwhile (the test's
    clients reconnecting, NATS routes) may take one as its local port.
    Ports below the range are never given to a connect() or a bind to
    port 0, so only a program listening there on purpose can take them.
    Falls back to harness.free_ports when no such range is left."""
    import random as _random
    rng = rng or _random.SystemRandom()
    lo, _ = _ephemeral_range()
    first, last = 10000, lo - 1
    if last - first < 100 * n:
        return harness.free_ports(n)
    out = set()
    for _ in range(50 * n + 1000):
        if len(out) == n:
            break
        p = rng.randint(first, last)
        if p in out or p in _handed_out:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:  # no SO_REUSEADDR: a port with TIME_WAIT leftovers is refused too
            s.bind(("127.0.0.1", p))
            out.add(p)
        except OSError:
            pass
        finally:
            s.close()
    if len(out) < n:
        raise TestFailure("no %d free ports in %d..%d" % (n, first, last))
    _handed_out.update(out)
    return sorted(out, key=lambda p: rng.random())


# ---------------------------------------------------------------------------
# the monitor port (HTTP)


def monitor_get(port, path, timeout_s=2.0):
    """(status, parsed JSON or None) of GET path on a monitor port, or None
    when nothing answers there."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s * harness.TIME_FACTOR)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            doc = None
        return r.status, doc
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# a minimal NATS client: the text protocol over one TCP connection


class NatsError(Exception):
    pass


class NatsConn:
    """One NATS connection (no TLS, no auth): request() publishes with a
    reply subject and waits (bounded) for the one answer. Headers are read
    (HMSG) so that a 503 "no responders" status is seen as such."""

    _n = 0

    def __init__(self, port, timeout_s=3.0):
        self.timeout_s = timeout_s * harness.TIME_FACTOR
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=self.timeout_s)
        self.buf = b""
        line = self._line()
        if not line.startswith(b"INFO "):
            raise NatsError("no INFO from nats-server on %d: %r" % (port, line[:200]))
        self.info = json.loads(line[5:])
        opts = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
                "protocol": 1, "name": "atp-itest", "lang": "python", "version": "0"}
        self.sock.sendall(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        for _ in range(64):
            line = self._line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise NatsError("nats-server refused CONNECT: %r" % line)
        else:
            raise NatsError("no PONG after CONNECT")
        NatsConn._n += 1
        self.inbox = "_INBOX.atpitest%d.%d" % (os.getpid(), NatsConn._n)
        self.sock.sendall(("SUB %s.* 1\r\n" % self.inbox).encode())
        self.req_n = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer from nats-server")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no answer from nats-server")
        if not chunk:
            raise NatsError("nats-server closed the connection")
        self.buf += chunk

    def _line(self, deadline=None):
        deadline = deadline or time.monotonic() + self.timeout_s
        for _ in range(100000):
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill(deadline)
        raise NatsError("protocol line too long")

    def _bytes(self, n, deadline):
        for _ in range(100000):
            if len(self.buf) >= n + 2:
                data, self.buf = self.buf[:n], self.buf[n + 2:]
                return data
            self._fill(deadline)
        raise NatsError("message too long")

    def request(self, subject, payload=b"", timeout_s=None):
        """(headers dict, payload bytes) of the answer to one request.
        Headers has ':status' when the answer is a status (503: no one
        listens on subject)."""
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
        self.req_n += 1
        reply = "%s.%d" % (self.inbox, self.req_n)
        self.sock.sendall(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply.encode(),
                                                       len(payload), payload))
        deadline = time.monotonic() + (timeout_s or self.timeout_s) * (
            harness.TIME_FACTOR if timeout_s else 1)
        for _ in range(10000):
            line = self._line(deadline)
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if line in (b"PONG", b"+OK") or line.startswith(b"INFO "):
                continue
            if line.startswith(b"-ERR"):
                raise NatsError(line.decode("utf-8", "replace"))
            parts = line.split(b" ")
            if parts[0] == b"MSG":
                n = int(parts[-1])
                data = self._bytes(n, deadline)
                hdrs = {}
            elif parts[0] == b"HMSG":
                hlen, tlen = int(parts[-2]), int(parts[-1])
                raw = self._bytes(tlen, deadline)
                hdrs = self._headers(raw[:hlen])
                data = raw[hlen:]
            else:
                raise NatsError("unexpected protocol line %r" % line[:200])
            if parts[1].decode() != reply:
                continue  # a late answer to an earlier request
            return hdrs, data
        raise NatsError("no answer among 10000 protocol lines")

    def publish(self, subject, payload, headers=None):
        """Publish payload (bytes) to subject, with headers (a dict) when
        given; then a PING answered, so the server has it."""
        if headers:
            h = ("NATS/1.0\r\n" + "".join("%s: %s\r\n" % kv for kv in headers.items())
                 + "\r\n").encode()
            self.sock.sendall(b"HPUB %s %d %d\r\n%s%s\r\n" % (
                subject.encode(), len(h), len(h) + len(payload), h, payload))
        else:
            self.sock.sendall(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(payload),
                                                          payload))
        self.sock.sendall(b"PING\r\n")
        deadline = time.monotonic() + self.timeout_s
        for _ in range(10000):
            line = self._line(deadline)
            if line == b"PONG":
                return
            if line.startswith(b"-ERR"):
                raise NatsError(line.decode("utf-8", "replace"))

    @staticmethod
    def _headers(raw):
        lines = raw.decode("utf-8", "replace").split("\r\n")
        out = {}
        first = lines[0].split(" ", 2)  # NATS/1.0 [status [description]]
        if len(first) >= 2 and first[1]:
            out[":status"] = first[1]
        for l in lines[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                out[k.strip()] = v.strip()
        return out

    def js(self, api, body=None, timeout_s=None):
        """A JetStream API request ($JS.API.<api>): the parsed JSON answer.
        Raises NatsError on no responders (JetStream not there)."""
        hdrs, data = self.request("$JS.API." + api, b"" if body is None else body, timeout_s)
        if hdrs.get(":status") == "503":
            raise NatsError("no responders for $JS.API.%s" % api)
        try:
            return json.loads(data)
        except ValueError:
            raise NatsError("JetStream answer is not JSON: %r" % data[:200])


def kv_last(port, bucket, key, timeout_s=3.0):
    """The current entry of key in the JetStream key-value bucket (stream
    KV_<bucket>): {"revision": seq, "value": bytes, "deleted": bool}, or
    None when there is none (never written, expired by the bucket's TTL, or
    the bucket does not exist). Raises NatsError/OSError/TimeoutError when
    JetStream does not answer."""
    with NatsConn(port, timeout_s) as c:
        r = c.js("STREAM.MSG.GET.KV_" + bucket, {"last_by_subj": "$KV.%s.%s" % (bucket, key)})
    if "error" in r:
        return None
    m = r.get("message") or {}
    hdrs = base64.b64decode(m.get("hdrs") or b"").decode("utf-8", "replace")
    op = ""
    for l in hdrs.split("\r\n"):
        if l.lower().startswith("kv-operation:"):
            op = l.split(":", 1)[1].strip().upper()
    return {"revision": m.get("seq"), "value": base64.b64decode(m.get("data") or b""),
            "deleted": op in ("DEL", "PURGE")}


# ---------------------------------------------------------------------------
# servers


class NatsServer:
    """One nats-server of the cluster: fixed client, route and monitor
    ports (stable_ports) and store dir, so that restart() brings the same
    server back."""

    def __init__(self, h, binary, name, cluster_name, client_port, route_port, http_port,
                 base_dir, no_advertise=False):
        self.h = h
        self.binary = binary
        self.name = name
        self.cluster_name = cluster_name
        self.client_port = client_port
        self.route_port = route_port
        self.http_port = http_port
        self.dir = os.path.join(base_dir, name)
        self.store_dir = os.path.join(self.dir, "store")
        self.log_path = os.path.join(self.dir, "nats-server.log")
        self.routes = []  # the other servers' route URLs, set by the cluster
        self.no_advertise = no_advertise
        self.proc = None
        self.starts = 0
        os.makedirs(self.store_dir, exist_ok=True)

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.client_port

    @property
    def route_url(self):
        return "nats://127.0.0.1:%d" % self.route_port

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def argv(self):
        # A lone server (a cluster of one) is no JetStream cluster: no
        # route flags, or nats-server refuses to start.
        cluster = ["--cluster", self.route_url, "--cluster_name", self.cluster_name,
                   "--routes", ",".join(self.routes)] if self.routes else []
        return [self.binary, "-a", "127.0.0.1", "-p", str(self.client_port),
                "-n", self.name, "-js", "-sd", self.store_dir] + cluster + [
                    "-m", str(self.http_port)] + (
                    ["--no_advertise=true"] if self.no_advertise else [])

    def spawn(self):
        """Start it (not waiting); the same ports and store dir every time."""
        if self.alive():
            raise TestFailure("nats-server %s is already running (pid %d)" % (self.name, self.pid))
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(b"=== start %d: %s\n" % (self.starts, " ".join(self.argv()).encode()))
            log.flush()
            self.proc = harness._spawn(self.argv(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise TestFailure("nats-server %s (pid %d) exited with status %s; log tail:\n%s"
                              % (self.name, self.proc.pid, self.proc.returncode,
                                 harness.tail(self.log_path, 30)))

    def kill9(self):
        """kill -9 by pid and reap (bounded); returns the exit status."""
        if self.alive():
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc is not None else None

    def stop(self, grace_s=10):
        """SIGTERM by pid (a clean shutdown, no lame-duck mode; nats-server
        2.9 then exits with status 1), bounded wait, then SIGKILL; returns
        the exit status (-9: it had to be killed)."""
        if self.proc is None:
            return None
        return harness._stop_pid(self.proc, grace_s * harness.TIME_FACTOR)

    def healthz(self, js_only=False):
        r = monitor_get(self.http_port, "/healthz?js-enabled-only=true" if js_only else "/healthz")
        return r is not None and r[0] == 200

    def jsz(self):
        r = monitor_get(self.http_port, "/jsz")
        return r[1] if r is not None and r[0] == 200 and isinstance(r[1], dict) else None

    def meta_leader(self):
        """The JetStream meta leader's name as this server sees it, or None."""
        j = self.jsz()
        mc = (j or {}).get("meta_cluster") or {}
        return mc.get("leader") or None

    def describe(self):
        st = "alive" if self.alive() else (
            "exited %s" % self.proc.returncode if self.proc is not None else "never started")
        return "%s (pid %s, %s, client %d, route %d, monitor %d)" % (
            self.name, self.pid, st, self.client_port, self.route_port, self.http_port)


class NatsCluster:
    """n nats-servers with JetStream in one cluster on loopback.

    no_advertise: the servers do not tell clients about the others
    (`--no_advertise`): a client that was given one server's URL knows
    only that one, so killing it cuts the client off from NATS. (Without
    it, a client learns every server's URL from the INFO it gets and
    reconnects to another one: nats.c and every other NATS client do.)"""

    def __init__(self, h, n=3, cluster_name=None, base_dir=None, no_advertise=False):
        binary = nats_server_bin()
        if binary is None:
            harness.skip("nats-server is not installed (Debian package nats-server)")
        self.h = h
        self.cluster_name = cluster_name or "atpitest%d" % os.getpid()
        base = base_dir or os.path.join(h.tmp, "nats-" + self.cluster_name)
        ports = stable_ports(3 * n)  # restart() binds them again
        self.servers = [NatsServer(h, binary, "nats%d" % (i + 1), self.cluster_name,
                                   ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], base,
                                   no_advertise)
                        for i in range(n)]
        for s in self.servers:
            s.routes = [o.route_url for o in self.servers if o is not s]
        self._probe_n = 0

    # ---- addresses
    def urls(self, alive_only=False):
        return [s.url for s in self.servers if s.alive() or not alive_only]

    def server(self, i):
        return self.servers[i]

    def index_of_url(self, url):
        for i, s in enumerate(self.servers):
            if s.url == url:
                return i
        raise KeyError(url)

    # ---- lifecycle
    def start(self, timeout_s=60):
        """Start every server; wait until each one's /healthz is 200, they
        agree on a JetStream meta leader, and a stream replicated on every
        server (the probe stream, kept to the end: wait_ready() writes to it)
        is created and accepts a write."""
        t0 = time.monotonic()
        for s in self.servers:
            s.spawn()
        self.wait_ready(timeout_s, create=True)
        self.h.log("nats: %d servers up, meta leader %s, in %.1f s (%s)",
                   len(self.servers), self.servers[0].meta_leader(), time.monotonic() - t0,
                   ", ".join(s.url for s in self.servers))
        return self

    def wait_ready(self, timeout_s=60, create=False):
        """Until every running server is healthy, those running agree on a
        meta leader that is one of them, and the probe stream (replicated on
        every server) acknowledges a write: JetStream has a quorum and
        accepts replicated writes. After a kill -9 of the meta leader, or
        of a stream's leader, that takes a new Raft election: seconds."""
        running = [s for s in self.servers if s.alive()]
        last = {}

        def ok():
            for s in running:  # one that exited since it was started
                s.check_alive()
            if not all(s.healthz(js_only=True) for s in running):
                last["why"] = "healthz (js-enabled-only) not 200 on every server"
                return False
            leaders = {s.name: s.meta_leader() for s in running}
            last["why"] = "meta leaders %r" % leaders
            names = {s.name for s in running}
            vals = set(leaders.values())
            lone = len(self.servers) == 1  # no JetStream cluster: no meta leader
            if not lone and (len(vals) != 1 or None in vals or not vals <= names):
                return False
            try:
                if create:
                    self._create_probe(running[0])
                self._probe_write(running[-1])
            except (NatsError, OSError, TimeoutError) as e:
                last["why"] = "probe stream: %s" % e
                return False
            return True
        try:
            harness.wait_until(ok, timeout_s, 0.1, "the nats cluster's JetStream")
        except TestFailure as e:
            raise TestFailure("nats cluster not ready within %.0f s: %s\n%s"
                              % (timeout_s * harness.TIME_FACTOR, last.get("why") or e,
                                 self.report()))

    PROBE = "ITPROBE"
    PROBE_SUBJECT = "itprobe.x"

    def _create_probe(self, server):
        with NatsConn(server.client_port) as c:
            r = c.js("STREAM.CREATE." + self.PROBE,
                     {"name": self.PROBE, "subjects": [self.PROBE_SUBJECT],
                      "num_replicas": len(self.servers), "storage": "file",
                      "max_msgs": 10}, timeout_s=5)
        if "error" in r and r["error"].get("err_code") != 10058:  # 10058: exists
            raise NatsError("probe stream create: %s" % r["error"])

    def _probe_write(self, server):
        with NatsConn(server.client_port) as c:
            hdrs, data = c.request(self.PROBE_SUBJECT, b"x", timeout_s=5)
        if hdrs.get(":status") == "503":
            raise NatsError("no responders for the probe stream")
        ack = json.loads(data)
        if "error" in ack or ack.get("stream") != self.PROBE:
            raise NatsError("probe write: %r" % ack)

    def stream_info(self, name, server=None):
        """STREAM.INFO of stream name through server (default: the first one
        running), or None when JetStream says it does not exist."""
        server = server or next(s for s in self.servers if s.alive())
        with NatsConn(server.client_port) as c:
            r = c.js("STREAM.INFO." + name, timeout_s=5)
        if "error" in r:
            if r["error"].get("err_code") == 10059:  # stream not found
                return None
            raise NatsError("stream info %s: %s" % (name, r["error"]))
        return r

    def stream_leader(self, name):
        """The name of stream name's Raft leader, or None (no leader now,
        no such stream, or JetStream does not answer)."""
        try:
            info = self.stream_info(name)
        except (NatsError, OSError, TimeoutError):
            return None
        return ((info or {}).get("cluster") or {}).get("leader") or None

    def move_leader_off(self, name, server_name, timeout_s=30):
        """Until stream name's Raft leader is not server_name: asks the
        leader to step down ($JS.API.STREAM.LEADER.STEPDOWN) while it is,
        and waits for the new election (bounded). Returns the leader."""
        last = {}

        def ok():
            leader = self.stream_leader(name)
            last["leader"] = leader
            if leader is None:
                return None  # an election is going on
            if leader != server_name:
                return leader
            try:
                with NatsConn(next(s for s in self.servers if s.alive()).client_port) as c:
                    c.js("STREAM.LEADER.STEPDOWN." + name, timeout_s=5)
            except (NatsError, OSError, TimeoutError):
                pass
            return None
        try:
            return harness.wait_until(ok, timeout_s, 0.2, "stream %s led off %s"
                                      % (name, server_name))
        except TestFailure:
            raise TestFailure("stream %s still led by %r" % (name, last.get("leader")))

    def wait_stream_current(self, name, timeout_s=30):
        """Until stream name has a leader and every other replica is
        current with no lag (after a restart: the restarted server caught
        up)."""
        last = {}

        def ok():
            try:
                info = self.stream_info(name)
            except (NatsError, OSError, TimeoutError) as e:
                last["why"] = repr(e)
                return False
            cl = (info or {}).get("cluster") or {}
            last["why"] = json.dumps(cl)
            reps = cl.get("replicas") or []
            return bool(cl.get("leader")) and len(reps) == len(self.servers) - 1 and all(
                r.get("current") and not r.get("offline") and not r.get("lag") for r in reps)
        try:
            harness.wait_until(ok, timeout_s, 0.1, "stream %s current on every server" % name)
        except TestFailure:
            raise TestFailure("stream %s not current on every server: %s"
                              % (name, last.get("why")))

    def kill9(self, i):
        s = self.servers[i]
        rc = s.kill9()
        self.h.log("nats: kill -9 %s (pid %d): status %s", s.name, s.pid, rc)
        return rc

    def stop(self, i):
        s = self.servers[i]
        rc = s.stop()
        self.h.log("nats: stopped %s (pid %d): status %s", s.name, s.pid, rc)
        return rc

    def restart(self, i, timeout_s=60):
        """Start server i again (same ports, same store dir) and wait until
        it is healthy (its JetStream caught up: /healthz 200), sees the
        cluster's meta leader, and replicated writes are accepted."""
        s = self.servers[i]
        if s.alive():
            raise TestFailure("restart of %s, which runs" % s.name)
        t0 = time.monotonic()
        s.spawn()
        last = {}

        def ok():
            s.check_alive()
            if not s.healthz():
                last["why"] = "%s: /healthz not 200" % s.name
                return False
            ml = s.meta_leader()
            others = {o.meta_leader() for o in self.servers if o.alive() and o is not s}
            last["why"] = "%s sees meta leader %r, the others %r" % (s.name, ml, others)
            return ml is not None and others == {ml}
        try:
            harness.wait_until(ok, timeout_s, 0.1, "%s back in the cluster" % s.name)
        except TestFailure:
            raise TestFailure("nats-server %s not back within %.0f s: %s\n%s"
                              % (s.name, timeout_s * harness.TIME_FACTOR, last.get("why"),
                                 self.report()))
        self.wait_ready(timeout_s)
        self.h.log("nats: %s restarted (pid %d) and back in %.1f s", s.name, s.pid,
                   time.monotonic() - t0)
        return s

    def stop_all(self):
        for s in self.servers:
            if s.alive():
                s.stop()

    def report(self):
        """Each server's state and log tail (for failure messages)."""
        out = []
        for s in self.servers:
            out.append("--- %s ---\n%s" % (s.describe(), harness.tail(s.log_path, 15)))
        return "\n".join(out)


# ---------------------------------------------------------------------------
# a TCP proxy that can cut a client off (a network partition on loopback)


class TcpProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:target_port, one thread (a
    select loop over every connection). cut(): every connection is closed
    and nothing listens on port until restore(): whoever reaches the target
    only through the proxy is cut off from it, while the target runs on.
    (With --no_advertise a NATS client learns no other server's URL, so it
    cannot go around the proxy.)"""

    def __init__(self, target_port, port=None):
        self.target_port = target_port
        self.port = port or stable_ports(1)[0]
        self.thread = None
        self.stop = None
        self.cuts = 0

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self):
        import threading
        if self.thread is not None:
            raise TestFailure("proxy on %d already runs" % self.port)
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", self.port))
        lsock.listen(64)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, args=(lsock, self.stop), daemon=True)
        self.thread.start()
        return self

    def cut(self):
        """Close every connection and the listener (bounded join)."""
        if self.thread is None:
            return
        self.stop.set()
        self.thread.join(10)
        if self.thread.is_alive():
            raise TestFailure("proxy on %d did not stop" % self.port)
        self.thread = None
        self.cuts += 1

    def restore(self):
        return self.start()

    def _loop(self, lsock, stop):
        import select
        peer = {}  # socket -> the other end

        def close(sk):
            other = peer.pop(sk, None)
            for x in (sk, other):
                if x is not None:
                    peer.pop(x, None)
                    try:
                        x.close()
                    except OSError:
                        pass
        try:
            for _ in range(10 ** 9):
                if stop.is_set():
                    break
                r, _, _ = select.select([lsock] + list(peer), [], [], 0.05)
                for sk in r:
                    if sk is lsock:
                        try:
                            c, _ = lsock.accept()
                        except OSError:
                            continue
                        try:
                            u = socket.create_connection(("127.0.0.1", self.target_port),
                                                         timeout=1.0)
                        except OSError:
                            c.close()  # the target is down: so is the proxy
                            continue
                        for x in (c, u):
                            x.settimeout(5.0)
                            x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        peer[c], peer[u] = u, c
                        continue
                    if sk not in peer:
                        continue  # closed in this round
                    try:
                        data = sk.recv(65536)
                        if data:
                            peer[sk].sendall(data)
                            continue
                    except OSError:
                        pass
                    close(sk)
        finally:
            for sk in list(peer):
                close(sk)
            lsock.close()


# ---------------------------------------------------------------------------
# self-check (by hand): python3 nats_util.py


def _selfcheck():
    class H:  # the part of harness.Harness this module uses
        def __init__(self):
            self.tmp = tempfile.mkdtemp(prefix="atp-nats-selfcheck-")
            self.t0 = time.monotonic()

        def log(self, fmt, *a):
            print("[%7.2fs] %s" % (time.monotonic() - self.t0, fmt % a if a else fmt), flush=True)

    h = H()
    ok = False
    try:
        # --no_advertise: a client learns no other server's URL
        cl = NatsCluster(h, 3, cluster_name="selfcheck_na", no_advertise=True).start()
        with NatsConn(cl.servers[0].client_port) as c:
            assert not c.info.get("connect_urls"), c.info
        cl.stop_all()
        cl = NatsCluster(h, 3).start()
        urls = cl.urls()

        def others_advertised():
            with NatsConn(cl.servers[0].client_port) as c:
                return len(c.info.get("connect_urls") or []) >= 2
        harness.wait_until(others_advertised, 10, 0.1, "connect_urls without --no_advertise")
        assert len(urls) == 3 and all(u.startswith("nats://127.0.0.1:") for u in urls), urls
        # the proxy: a connection through it works, a cut closes it and
        # refuses new ones while the server runs on, restore() reopens
        px = TcpProxy(cl.servers[0].client_port).start()
        c = NatsConn(px.port)
        assert c.js("INFO").get("type", "").endswith("account_info_response")
        px.cut()
        try:
            c.js("INFO", timeout_s=2)
            raise AssertionError("a request went through a cut proxy")
        except (NatsError, OSError, TimeoutError):
            pass
        c.close()
        try:
            NatsConn(px.port, timeout_s=1).close()
            raise AssertionError("a cut proxy accepted")
        except (OSError, NatsError, TimeoutError):
            pass
        assert cl.servers[0].healthz()
        px.restore()
        with NatsConn(px.port) as c:
            assert c.js("INFO").get("type", "").endswith("account_info_response")
        px.cut()
        h.log("proxy: forwards, cuts, restores")
        # a KV bucket with a TTL, written the way atpd writes its lease
        with NatsConn(cl.servers[0].client_port) as c:
            r = c.js("STREAM.CREATE.KV_selfcheck_leases",
                     {"name": "KV_selfcheck_leases", "subjects": ["$KV.selfcheck_leases.>"],
                      "num_replicas": 3, "storage": "file", "max_msgs_per_subject": 1,
                      "max_age": 2 * 10 ** 9, "allow_rollup_hdrs": True, "deny_delete": True,
                      "allow_direct": True, "discard": "new"})
            assert "error" not in r, r
            hdrs, data = c.request("$KV.selfcheck_leases.p0", b'{"node":"n1"}')
            ack = json.loads(data)
            assert ack.get("seq") == 1, ack
        e = kv_last(cl.servers[1].client_port, "selfcheck_leases", "p0")
        assert e and e["revision"] == 1 and e["value"] == b'{"node":"n1"}', e
        assert kv_last(cl.servers[1].client_port, "selfcheck_leases", "p9") is None
        assert kv_last(cl.servers[1].client_port, "nosuchbucket", "p0") is None
        h.log("kv entry read back: %r", e)
        # the leader of the meta group and a non-leader: kill -9, restart
        leader = cl.servers[0].meta_leader()
        li = [s.name for s in cl.servers].index(leader)
        for i in (li, (li + 1) % 3):
            t = time.monotonic()
            cl.kill9(i)
            # the two others keep a majority: a new meta leader, R3 writes go on
            cl.wait_ready(30)
            h.log("after kill -9 of %s: writable again in %.2f s, meta leader %s",
                  cl.servers[i].name, time.monotonic() - t,
                  [s for s in cl.servers if s.alive()][0].meta_leader())
            old_pid = cl.servers[i].pid
            cl.restart(i)
            assert cl.servers[i].pid != old_pid
        # the bucket's entry survived the kills (replicated), then its TTL
        e = kv_last(cl.servers[2].client_port, "selfcheck_leases", "p0")
        h.log("kv entry after the kills: %r", e)
        harness.wait_until(lambda: kv_last(cl.servers[0].client_port, "selfcheck_leases",
                                           "p0") is None, 10, 0.1, "the entry's TTL")
        h.log("kv entry gone after its TTL")
        # a clean stop and a restart
        rc = cl.stop(1)  # nats-server exits 1 on SIGTERM after a clean shutdown
        assert rc is not None and rc != -signal.SIGKILL, rc
        cl.wait_ready(30)
        cl.restart(1)
        # with a majority gone, an R3 write is refused
        cl.wait_stream_current(cl.PROBE)
        cl.wait_stream_current("KV_selfcheck_leases")
        cl.kill9(0)
        cl.kill9(1)
        try:
            cl._probe_write(cl.servers[2])
            raise AssertionError("a write was accepted without a majority")
        except (NatsError, TimeoutError) as e:
            h.log("without a majority: refused (%s)", e)
        cl.servers[0].spawn()
        cl.servers[1].spawn()
        cl.wait_ready(60)
        cl.wait_stream_current(cl.PROBE)
        h.log("both back: writable, probe stream current on all three")
        ok = True
    except AssertionError as e:  # TestFailure too
        traceback.print_exc()
        print("FAIL: %s" % e)
    finally:
        harness._cleanup_all()
        for s in (cl.servers if "cl" in locals() else []):
            assert not s.alive()
    if ok:
        shutil.rmtree(h.tmp, ignore_errors=True)
        print("nats_util self-check: PASS")
    else:
        print("nats_util self-check: FAIL, temp dir kept: %s" % h.tmp)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    _selfcheck()
