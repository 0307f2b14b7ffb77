"""feed_util.py - helpers shared by the change-feed tests (test_feed_*.py).

Standard library only; builds on harness.py (imported; the shared client,
publisher, config and process helpers live there).

- feed_config(): a config dict with a free change-feed port (the default
  7452 would collide between tests running in parallel).
- Query: one raw SP REQ connection (harness.ReqClient), reconnecting on
  demand; ok() insists on {"ok": true}. One per thread.
- Feeder: publishes source messages [1, source, seq, ts, events] through
  harness.PubClient with its own per-source seq; wait_applied() polls
  `sources` until atpd applied them.
- Sub: an nng SUB peer written over raw TCP (SP handshake SUB 0x21 with PUB
  0x20, 64-bit big-endian length framing). nng's PUB sends every message to
  every subscriber over TCP and nng's SUB filters locally, so this client
  filters by prefix itself. A reader thread buffers messages; pause()
  stops reading the socket (a slow subscriber: atpd's PUB then drops).
  Given the Atpd, it returns once atpd counts it (status
  feed.subscribers): atpd's PUB sends to a pipe only once it added it.
  collect() gathers messages until a condition holds.
- Watch: `atpctl watch ... --json` as a child process (a real nng
  subscriber), its stdout lines parsed as they come.
- split(): topic (region, sku) and decoded body of a raw feed message;
  scan_all(): every page of a region; item_state()/msg_state(): the
  comparable state of a scan item or a feed message.
- TransitionModel: the out-of-stock / back-in-stock / low-stock marks of
  one (sku, region, channel) as PROTOCOL.md ("Transitions") defines them.
"""

import collections
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import msgpack  # noqa: E402
from harness import ConnectionClosed, TestFailure  # noqa: E402

TF = harness.TIME_FACTOR
SCALE = 0.25 if harness.SANITIZER else 1.0
ALL_BUCKETS = ["on_hand", "allocated", "held"]


def scaled(n, minimum=1):
    return harness.scaled(n, SCALE, minimum)


now_ms = harness.now_ms


# ---------------------------------------------------------------------------
# config


def feed_config(h, regions, locations, sources, channels=("web",), buffers=None,
                feed_interval=None, reservations=None, **service):
    """regions [ids]; locations [(id, region)]; sources [(id, [locations])]
    (authoritative for every bucket); buffers [rule dicts]. Returns the
    config dict; cfg["service"]["feed_listen"] is on a free port."""
    svc = dict(service)  # h.config() puts feed_listen on a free port
    if feed_interval is not None:
        svc["feed_interval"] = feed_interval
    srcs = [harness.source_entry(sid, [(locs, ALL_BUCKETS)]) for sid, locs in sources]
    return harness.build_config(h, regions, locations, srcs, channels, buffers, reservations,
                                **svc)


def feed_port(d):
    return int(d.cfg["service"]["feed_listen"].rsplit(":", 1)[1])


def feed_subscribers(d):
    """status feed.subscribers: the SUB pipes atpd's PUB sends to now."""
    rc, st, err = d.ctl_raw("status")
    if rc != 0 or not isinstance(st, dict):
        d.check_alive()
        raise TestFailure("atpctl status failed: %s" % err)
    return st["feed"]["subscribers"]


def overflow_messages(min_len, rcvbuf):
    """How many messages atpd must publish while a subscriber with receive
    buffer rcvbuf does not read, before atpd's PUB has certainly dropped
    some for it: nng's queue for the pipe (NNG_OPT_SENDBUF 8192, see
    changes.c), plus what the kernel's send and receive buffers can hold
    (at most tcp_wmem's maximum, and twice rcvbuf) in messages of min_len
    bytes, plus a margin."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 << 20
    return 8192 + (wmem_max + 2 * rcvbuf) // max(1, min_len) + 1000


def wait_subscribers(d, n, what, timeout_s=10):
    """Until atpd counts at least n change-feed subscribers."""
    harness.wait_until(lambda: feed_subscribers(d) >= n, timeout_s, 0.02,
                       "atpd to count %d feed subscribers (%s)" % (n, what))


def feed_url(d):
    return d.cfg["service"]["feed_listen"]


def interval_s(d):
    v = d.cfg["service"].get("feed_interval", "50ms")
    if isinstance(v, int):
        return v / 1000.0
    v = str(v)
    if v.endswith("ms"):
        return int(v[:-2]) / 1000.0
    if v.endswith("s"):
        return float(v[:-1])
    return int(v) / 1000.0


# ---------------------------------------------------------------------------
# queries and source messages


class Query(harness.Client):
    """harness.Client on d's query socket (d checked for life on failure)."""

    def __init__(self, d, timeout_s=10.0):
        super().__init__(d.query_port, timeout_s, d=d)

    def atp_all(self, sku, region, channels):
        """{channel: answer} for every channel."""
        return {c: self.ok({"op": "atp", "sku": sku, "region": region, "channel": c})
                for c in channels}


class Feeder(harness.Publisher):
    """Source messages over one PUB connection to atpd's ingest socket."""

    def __init__(self, d, q):
        super().__init__(d, q)
        self.q = q

    def sync(self):
        """Continue every source after atpd's last_seq (after another
        publisher, e.g. atp-feed, played it)."""
        for sid, src in self.q.sources().items():
            self.seq[sid] = max(self.seq.get(sid, 0), src.get("last_seq") or 0)

    def send(self, source, events):
        """Send one message (no wait); returns its seq."""
        seq, payload = self.next_batch(source, events)
        self.send_payload(payload)
        return seq

    def publish(self, source, events):
        """Send one message and wait until atpd applied it."""
        seq = self.send(source, events)
        self.wait_applied(source, seq)
        return seq


# ---------------------------------------------------------------------------
# feed messages


def split(msg):
    """(region, sku, body) of a raw change-feed message; raises TestFailure
    when the topic is not "atp" NUL region NUL sku NUL."""
    parts = msg.split(b"\0", 3)
    if len(parts) != 4 or parts[0] != b"atp" or not parts[1] or not parts[2]:
        raise TestFailure("bad change-feed topic: %r" % msg[:120])
    try:
        body = msgpack.unpackb(parts[3], strict_map_key=False)
    except ValueError as e:
        raise TestFailure("change-feed body is not msgpack (%s): %r" % (e, parts[3][:120]))
    if not isinstance(body, dict):
        raise TestFailure("change-feed body is not a map: %r" % (body,))
    return parts[1].decode(), parts[2].decode(), body


def prefix(region=None, sku=None):
    p = b"atp\0"
    if region is not None:
        p += region.encode() + b"\0"
    if sku is not None:
        p += sku.encode() + b"\0"
    return p


def msg_state(body):
    """(supply, reserved, ((channel, atp), ...)) of a message body."""
    return (body.get("supply"), body.get("reserved"),
            tuple((c.get("channel"), c.get("atp")) for c in body.get("channels") or []))


item_state = msg_state  # scan items have the same keys


class Sub:
    """An nng SUB peer over raw TCP: dials atpd's PUB, filters by prefix
    on this side, buffers (region, sku, body, t_recv) in a deque. d: the
    Atpd (waits until atpd counts this subscriber) or a bare port."""

    def __init__(self, d, prefixes=(b"atp\0",), rcvbuf=None, timeout_s=5.0):
        port = d if isinstance(d, int) else feed_port(d)
        n0 = None if isinstance(d, int) else feed_subscribers(d)
        self.prefixes = tuple(prefixes)
        self.msgs = collections.deque()
        self.cv = threading.Condition()
        self.received = 0       # raw messages off the wire
        self.filtered = 0       # of them, dropped by the prefix filter
        self.min_len = None     # the shortest one, bytes (frame header included)
        self.error = None
        self.closed = False
        self.paused = threading.Event()
        self.paused.set()       # set = reading
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so that the window stays small: a paused
            # subscriber then backs up into atpd quickly.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout_s * TF)
        s.connect(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"\x00SP\x00" + struct.pack(">H", harness.SP_SUB) + b"\x00\x00")
        hdr = self._recv_exact(s, 8)
        if hdr[:4] != b"\x00SP\x00" or struct.unpack(">H", hdr[4:6])[0] != harness.SP_PUB:
            s.close()
            raise TestFailure("bad SP handshake from atpd's PUB: %r" % hdr)
        s.settimeout(0.2)
        self.sock = s
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        # atpd's PUB adds the pipe after its side of the handshake: until
        # then it publishes nothing to this subscriber.
        if n0 is not None:
            wait_subscribers(d, n0 + 1, "a raw subscriber")

    @staticmethod
    def _recv_exact(s, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = s.recv(n - len(buf))
            except socket.timeout:
                raise
            if not chunk:
                raise ConnectionClosed()
            buf += chunk
        return bytes(buf)

    def _read(self, n):
        buf = bytearray()
        while len(buf) < n:
            if self.closed:
                raise ConnectionClosed()
            try:
                chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            except socket.timeout:
                continue
            if not chunk:
                raise ConnectionClosed()
            buf += chunk
        return bytes(buf)

    def _run(self):
        try:
            while not self.closed:
                if not self.paused.wait(0.2):
                    continue
                try:
                    n = struct.unpack(">Q", self._read(8))[0]
                    msg = self._read(n)
                except ConnectionClosed:
                    if not self.closed:
                        self.error = "atpd closed the feed connection"
                    return
                t = time.monotonic()
                with self.cv:
                    self.received += 1
                    if self.min_len is None or n + 8 < self.min_len:
                        self.min_len = n + 8
                    if not msg.startswith(self.prefixes):
                        self.filtered += 1
                        continue
                    self.msgs.append((msg, t))
                    self.cv.notify_all()
        except Exception as e:  # reported by get()
            self.error = repr(e)

    def pause(self):
        self.paused.clear()

    def resume(self):
        self.paused.set()

    def close(self):
        self.closed = True
        self.paused.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(timeout=5)
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def take(self):
        """Every buffered message, decoded: [(region, sku, body, t)]."""
        with self.cv:
            raw = list(self.msgs)
            self.msgs.clear()
        return [split(m) + (t,) for m, t in raw]

    def get(self, timeout_s):
        """The next message (region, sku, body, t), or None after timeout_s."""
        deadline = time.monotonic() + timeout_s * TF
        with self.cv:
            while not self.msgs:
                if self.error:
                    raise TestFailure("feed subscriber: %s" % self.error)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(min(left, 0.1))
            m, t = self.msgs.popleft()
        return split(m) + (t,)

    def wait_for(self, pred, timeout_s, what):
        """Messages until pred(region, sku, body) holds; returns them all
        (the matching one last). Fails after timeout_s."""
        got = []
        deadline = time.monotonic() + timeout_s * TF
        while True:
            left = deadline - time.monotonic()
            m = self.get(max(0.0, left / TF)) if left > 0 else None
            if m is None:
                raise TestFailure("no feed message for %s within %.1f s (got %d others: %s)"
                                  % (what, timeout_s * TF, len(got),
                                     [(r, s, msg_state(b)) for r, s, b, _ in got[-5:]]))
            got.append(m)
            if pred(m[0], m[1], m[2]):
                return got

    def collect(self, done, timeout_s, what):
        """Messages until done(list of them so far) holds; returns them.
        Fails after timeout_s (scaled) with what was seen."""
        got = []
        deadline = time.monotonic() + timeout_s * TF
        while not done(got):
            left = deadline - time.monotonic()
            m = self.get(left / TF) if left > 0 else None
            if m is None:
                raise TestFailure("feed: %s not seen within %.1f s (got %d messages, last "
                                  "ones %s)" % (what, timeout_s * TF, len(got),
                                                [(r, s, msg_state(b), b.get("stale"))
                                                 for r, s, b, _ in got[-5:]]))
            got.append(m)
        return got

    def quiet(self, quiet_s, max_s=30):
        """Collect messages until none arrives for quiet_s; returns them."""
        got = []
        deadline = time.monotonic() + max_s * TF
        while time.monotonic() < deadline:
            m = self.get(quiet_s)
            if m is None:
                return got
            got.append(m)
        raise TestFailure("the feed did not go quiet within %.0f s" % (max_s * TF))


# ---------------------------------------------------------------------------
# atpctl watch and scan


class Watch:
    """`atpctl watch ARGS --json` as a child (stopped by pid on every path
    through harness's registry). Lines are collected by a reader thread;
    with json_out=False (the human one-liners) as text in .text."""

    def __init__(self, h, d, args, name="watch", json_out=True):
        # --endpoint: watch checks REGION with atpd first (not the default
        # port, where another atpd may run)
        self.argv = ([h.atpctl_bin, "watch", "--feed", feed_url(d), "--endpoint", d.query_url] +
                     (["--json"] if json_out else []) + [str(a) for a in args])
        self.json_out = json_out
        self.text = []
        self.err_path = os.path.join(d.dir, name + ".stderr")
        self.errf = open(self.err_path, "wb")
        self.d = d
        # atpd counts this watch once it is attached: wait_connected()
        # waits for one more subscriber than before it started.
        self.subs_before = feed_subscribers(d)
        self.proc = harness._spawn(self.argv, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=self.errf)
        self.lines = []
        self.bad = []
        self.lock = threading.Lock()
        self.reading = threading.Event()
        self.reading.set()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        while True:
            self.reading.wait()
            raw = self.proc.stdout.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not self.json_out:
                with self.lock:
                    self.text.append(line)
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                with self.lock:
                    self.bad.append(line)
                continue
            with self.lock:
                self.lines.append(obj)

    def pause(self):
        """Stop reading atpctl's stdout: once the pipe is full, atpctl
        blocks, its nng queue fills and the feed drops messages for it."""
        self.reading.clear()

    def resume(self):
        self.reading.set()

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_connected(self, timeout_s=10):
        harness.wait_until(lambda: "connected to" in self.stderr() or self.proc.poll() is not None,
                           timeout_s, 0.02, "atpctl watch to connect")
        if self.proc.poll() is not None and "connected to" not in self.stderr():
            raise TestFailure("atpctl watch exited %s before connecting: %s"
                              % (self.proc.returncode, self.stderr()))
        # The SUB side reports the connection; atpd's PUB sends to it once
        # it added the pipe, which it counts.
        wait_subscribers(self.d, self.subs_before + 1, "atpctl watch", timeout_s)

    def messages(self):
        with self.lock:
            return [o for o in self.lines if "gap" not in o]

    def gaps(self):
        with self.lock:
            return [o["gap"] for o in self.lines if "gap" in o]

    def wait_exit(self, timeout_s=20):
        try:
            rc = self.proc.wait(timeout=timeout_s * TF)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TestFailure("atpctl %s did not exit within %.0f s; got %d lines; stderr: %s"
                              % (" ".join(self.argv[1:]), timeout_s * TF, len(self.lines),
                                 self.stderr()[-2000:]))
        self.t.join(timeout=10)
        self.errf.close()
        return rc

    def stop(self):
        """SIGINT (Ctrl-C) by pid; returns the exit status."""
        import signal
        self.resume()
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        try:
            rc = self.proc.wait(timeout=10 * TF)
        except subprocess.TimeoutExpired:
            harness._stop_pid(self.proc, 1)
            rc = self.proc.returncode
        self.t.join(timeout=10)
        self.errf.close()
        return rc


def ctl_lines(h, d, args, timeout_s=60):
    """Run atpctl --endpoint <query> ARGS; returns (rc, [JSON lines], stderr)."""
    r = harness.run_ctl(h, ["--endpoint", d.query_url] + list(args), timeout_s=timeout_s)
    out = []
    for line in r.stdout.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append(line)
    return r.returncode, out, r.stderr


def scan_all(q, region, limit=1000):
    """Every page through the raw client: (seq, region_seq, {sku: item}, pages)."""
    items, cursor, pages, seq, rseq = {}, 0, 0, None, None
    for _ in range(1000000):
        r = q.ok({"op": "scan", "region": region, "cursor": cursor, "limit": limit})
        if pages == 0:
            seq, rseq = r["seq"], r["region_seq"]
        pages += 1
        for it in r["items"]:
            items[it["sku"]] = it
        if r["next_cursor"] is None:
            return seq, rseq, items, pages
        if r["next_cursor"] <= cursor:
            raise TestFailure("scan cursor does not advance: %r" % r["next_cursor"])
        cursor = r["next_cursor"]
    raise TestFailure("scan did not end")


class TransitionModel:
    """The transitions of one (sku, region, channel), from PROTOCOL.md:
    update(atp, threshold) returns the marks of the next message; out and
    low are the state flags after it."""

    def __init__(self):
        self.known = False
        self.out = False
        self.low = False

    def update(self, atp, threshold):
        first = not self.known
        out = atp <= 0
        if threshold <= 0:
            low = False
        elif atp < threshold:
            low = True
        elif first or atp >= threshold + max(1, threshold * 10 // 100):
            low = False
        else:
            low = self.low
        marks = []
        if not first:
            if out and not self.out:
                marks.append("out_of_stock")
            if not out and self.out:
                marks.append("back_in_stock")
            if low and not self.low and not out:
                marks.append("low_stock")
        self.known, self.out, self.low = True, out, low
        return marks
