"""resv_util.py - helpers shared by the reservation tests (test_resv_*.py).

Standard library only; builds on harness.py (imported; the shared client,
publisher, config and process helpers live there).

- Client: one raw SP REQ connection (harness.ReqClient) that reconnects on
  demand; req() returns the reply map, ok() insists on {"ok": true}.
  One Client per thread.
- Feeder: publishes source messages ([1, source, seq, ts, events]) through
  harness.PubClient with its own per-source sequence numbers, and waits
  until `sources` shows the seq applied.
- open_lines(): the open quantity per (sku, region) of a reservation object.
- error_code(): the error code of a failed reply (or None).
"""

import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import msgpack  # noqa: E402
from harness import ConnectionClosed, TestFailure, error_code  # noqa: E402,F401

SCALE = 0.25 if harness.SANITIZER else 1.0

E_BAD_REQUEST, E_UNKNOWN_REGION, E_UNKNOWN_CHANNEL, E_BAD_SKU, E_BAD_QTY = 1, 3, 4, 6, 7
E_TOO_MANY_LINES, E_CONFLICT, E_NOT_FOUND, E_BAD_STATE, E_BAD_TTL, E_BAD_ID = 8, 18, 19, 25, 26, 27

OPEN_STATES = ("held", "committed")


def scaled(n, minimum=1):
    """n scaled down for sanitizer builds (at least minimum)."""
    return harness.scaled(n, SCALE, minimum)


def timed_steps(n, budget_s):
    """The step numbers 1..n of a randomized test, ending early once
    budget_s seconds have passed (a cap for a loaded machine)."""
    t_end = time.monotonic() + budget_s
    for step in range(1, n + 1):
        if time.monotonic() > t_end:
            return
        yield step


# The reservations section of a test whose reservations outlive it (stored
# with fdatasync): resv_config(h, ..., **LONG_LIVED).
LONG_LIVED = {"durability": "sync", "default_ttl": "1h", "max_ttl": "2h",
              "committed_ttl": "2h", "retention": "1h"}


def finish(ck, c, feed, d):
    """The end of a test that used a Feeder: no control-channel errors,
    everything closed, atpd stopped cleanly, the checks reported."""
    ck.eq(feed.errors, [], "feeder control-channel errors")
    c.close()
    feed.close()
    d.stop()
    ck.done()


class Client(harness.Client):
    """harness.Client plus the reservation shorthands."""

    def resv_counters(self):
        return dict(self.status().get("reservations") or {})

    def commit(self, rid, order_ref=None):
        body = {"op": "commit", "id": rid}
        if order_ref is not None:
            body["order_ref"] = order_ref
        return self.req(body)

    def release(self, rid, lines=None):
        body = {"op": "release", "id": rid}
        if lines is not None:
            body["lines"] = [list(l) for l in lines]
        return self.req(body)

    def extend(self, rid, ttl_ms):
        return self.req({"op": "extend", "id": rid, "ttl_ms": ttl_ms})


def merged(lines):
    """Request lines [sku, region, qty] merged per (sku, region), in order of
    first appearance: [(sku, region, qty)]."""
    out, idx = [], {}
    for sku, region, qty in lines:
        k = (sku, region)
        if k in idx:
            out[idx[k]][2] += qty
        else:
            idx[k] = len(out)
            out.append([sku, region, qty])
    return [tuple(x) for x in out]


def record_lines(res):
    """[(sku, region, qty, consumed, released)] of a reservation object."""
    return [(l.get("sku"), l.get("region"), l.get("qty"), l.get("consumed"), l.get("released"))
            for l in res.get("lines") or []]


def open_lines(res):
    """{(sku, region): open qty} of a reservation object (0 when finished)."""
    out = {}
    if res is None:
        return out
    is_open = res.get("state") in OPEN_STATES
    for l in res.get("lines") or []:
        k = (l["sku"], l["region"])
        q = l["qty"] - l["consumed"] - l["released"] if is_open else 0
        out[k] = out.get(k, 0) + q
    return out


class Feeder(harness.Publisher):
    """The test's sources: publishes source messages on atpd's ingest socket
    with per-source sequence numbers, keeps every message it sent, and
    honours atpd's resync requests (docs/PROTOCOL.md, "Resync") like a real
    source: a background thread listens on atpd's control PUB socket and
    answers `replay` by resending from `from_seq` with the original seqs,
    `snapshot` by a one-part full snapshot of what the source has set.
    reconnect() after atpd restarted; close() at the end."""

    def __init__(self, d, client):
        import threading
        super().__init__(d, client)
        self.log = {}        # source -> {seq: payload}
        self.values = {}     # source -> {(sku, loc, bucket): value}
        self.lock = threading.Lock()  # the PUB connection and the logs
        self.replays = 0
        self.snapshots = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._control_loop, daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        self._thread.join(10)
        with self.lock:
            super().close()

    def reconnect(self):
        with self.lock:
            self.connect()

    def publish(self, source, events, wait=True):
        """Send one message; with wait, until `sources` shows it applied.
        Returns the seq used."""
        with self.lock:
            seq, payload = self.next_batch(source, events)
            self.log.setdefault(source, {})[seq] = payload
            vals = self.values.setdefault(source, {})
            for ev in events:
                if ev[0] == 2:
                    vals[(ev[1], ev[2], ev[3])] = ev[4]
                elif ev[0] == 1:
                    k = (ev[1], ev[2], ev[3])
                    vals[k] = vals.get(k, 0) + ev[4]
            self.send_payload(payload)
        if wait:
            self.wait_applied(source, seq)
        return seq

    def wait_applied(self, source, seq=None, timeout_s=10):
        super().wait_applied(source, seq, timeout_s)

    def wait_synced(self, timeout_s=15):
        """Until every source this feeder used is at its last seq, `ok` or
        `waiting` (after a restart: atpd asked for a replay and got it)."""
        last = {}

        def f():
            self.d.check_alive()
            st = self.client.sources()
            last.clear()
            last.update(st)
            # `waiting`: restored offset, nothing new received since the start
            return all(st.get(src, {}).get("last_seq") == q and
                       st[src].get("state") in ("ok", "waiting")
                       for src, q in self.seq.items())
        try:
            harness.wait_until(f, timeout_s, 0.02, "every source ok at its last seq")
        except TestFailure:
            raise TestFailure("sources not in sync: want %r, atpd says %r"
                              % (self.seq, {k: (v.get("state"), v.get("last_seq"))
                                            for k, v in last.items()}))

    def after_restart(self, timeout_s=15):
        """What a source does when atpd comes back: reconnect and send a
        heartbeat (the next seq) from every source, so that a hole left by
        the restart is seen and replayed; then wait until all are in sync.
        (atpd's own start-up replay request is sent once, right at start,
        usually before the sources' control connections are back.)"""
        self.reconnect()
        for src in sorted(self.seq):
            self.publish(src, [[3]], wait=False)
        self.wait_synced(timeout_s)

    # ---- resync requests (background thread)
    def _control_loop(self):
        ctl = None
        port = int(self.d.cfg["service"]["control_listen"].rsplit(":", 1)[1])
        for _ in range(10 ** 7):
            if self._stop.is_set():
                break
            try:
                if ctl is None:
                    ctl = harness.SPConn(port, harness.SP_SUB, harness.SP_PUB, timeout_s=1.0)
                r, _, _ = select.select([ctl.sock], [], [], 0.1)
                if not r:
                    continue
                msg = ctl.recv_msg(timeout_s=2.0)
                self._answer(msg)
            except (ConnectionClosed, TimeoutError, OSError, TestFailure):
                if ctl is not None:
                    ctl.close()
                    ctl = None
                self._stop.wait(0.05)
            except Exception as e:  # a bug in this helper: report, keep going
                self.errors.append(repr(e))
                self._stop.wait(0.05)
        if ctl is not None:
            ctl.close()

    def _answer(self, msg):
        if not msg.startswith(b"resync\0"):
            return
        rest = msg[len(b"resync\0"):]
        nul = rest.find(b"\0")
        if nul < 0:
            return
        source = rest[:nul].decode("utf-8", "replace")
        try:
            req = msgpack.unpackb(rest[nul + 1:], strict_map_key=False)
        except ValueError:
            self.errors.append("undecodable resync request %r" % msg[:100])
            return
        with self.lock:
            if source not in self.seq:
                return
            if req.get("mode") == "replay":
                self.replays += 1
                start = max(1, int(req.get("from_seq") or 1))
                for q in range(start, self.seq[source] + 1):
                    self.send_payload(self.log[source][q])
            elif req.get("mode") == "snapshot":
                self._send_snapshot(source)

    def send_snapshot(self, source):
        """A one-part full snapshot of what source has set, at its last seq
        (what the source sends when atpd asks for one)."""
        with self.lock:
            self._send_snapshot(source)

    def _send_snapshot(self, source):
        self.snapshots += 1
        evs = [[2, sku, loc, b, v] for (sku, loc, b), v in
               sorted(self.values.get(source, {}).items())]
        self.send_payload(msgpack.packb([2, source, int(time.time() * 1000), 0,
                                         int(time.time() * 1000), self.seq[source], True, evs]))


def resv_config(h, regions, locations, sources, channels=("web",), buffers=None, service=None,
                **resv):
    """A config dict: regions [ids], locations [(id, region)], sources
    [(id, [locations], [buckets])] (a source may appear with several
    authority entries as (id, [(locations, buckets), ...])), reservations
    section from resv (e.g. durability="sync", min_ttl="1s"); service: extra
    service keys."""
    srcs = [harness.source_entry(s[0], [(s[1], s[2])] if len(s) == 3 else s[1])
            for s in sources]
    return harness.build_config(h, regions, locations, srcs, channels, buffers, resv,
                                **dict(service or {}))


def set_locations(cfg, locations):
    """cfg's locations from {id: (region, type, pickup, pickup_buffer)}
    (store pickup tests)."""
    cfg["locations"] = [{"id": lid, "region": r, "type": t, "pickup": p, "pickup_buffer": b}
                        for lid, (r, t, p, b) in locations.items()]
    return cfg


def kill9(d):
    """kill -9 atpd by pid and reap it (bounded)."""
    return d.kill9()


def restart(d, ready_timeout_s=30):
    """Start the same atpd (same config, same data dir) again."""
    return d.start(ready_timeout_s)
