"""resync_util.py - helpers shared by the resync tests (test_resync_*.py).

Standard library only; builds on harness.py and model.py (imported; the
shared client, publisher, config and process helpers live in harness.py).

- resync_config(): a config dict with free ports for every socket,
  control_listen included (harness.config() leaves it at its default
  port, which parallel tests would share).
- LotModel: model.Model plus inbound lots and the inbound horizon
  (docs/PROTOCOL.md, "Inbound horizon"), fed with EVERY generated message
  of an atp-feed --log (dropped ones included: with resync they arrive by
  replay or snapshot).
- read_feed_log(): the message records and the replay / snapshot notes.
- Feed: atp-feed in the background (started by pid, stopped by pid);
  with LINGER it answers atpd's resync requests until atpd applied all it
  generated (finish()), however long atpd took to ask.
- Pub: a raw publisher (harness.PubClient) that crafts batches and
  snapshots; ControlSub: a raw SUB on atpd's control socket.
- atp_table(), compare_model(): every (sku, region, channel) via
  `atpctl --json cart`.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import model  # noqa: E402
import msgpack  # noqa: E402
from harness import TestFailure  # noqa: E402

SCALE = 0.2 if harness.SANITIZER else 1.0
TF = harness.TIME_FACTOR

EV = {"delta": 1, "set": 2, "heartbeat": 3, "lot_add": 6, "lot_change": 7,
      "lot_receive": 8, "lot_cancel": 9}
BUCKET = {"on_hand": 0, "allocated": 1, "held": 2}


def scaled(n, minimum=1):
    return harness.scaled(n, SCALE, minimum)


now_ms = harness.now_ms


# ---------------------------------------------------------------------------
# configuration


def resync_config(h, regions, locations, sources, channels=("web",), buffers=None,
                  **service):
    """regions: [id or {"id", "inbound_horizon"}]; locations: [(id, region)];
    sources: [dict] as in the YAML (id, authority, resync, heartbeat_timeout);
    service: extra service keys (resync_retry="300ms", ...)."""
    return harness.build_config(h, regions, locations, sources, channels, buffers, **service)


def control_port(cfg):
    return int(cfg["service"]["control_listen"].rsplit(":", 1)[1])


# ---------------------------------------------------------------------------
# the model with lots


def _strip_inbound(cfg):
    """A copy of cfg that model.Model accepts (it knows no `inbound` bucket)."""
    out = dict(cfg)
    srcs = []
    for s in cfg.get("sources", []):
        s2 = dict(s)
        auth = []
        for a in s.get("authority", []):
            bs = [b for b in a.get("buckets", model.BUCKET_NAMES) if b != "inbound"]
            if bs:
                auth.append(dict(a, buckets=bs))
        s2["authority"] = auth
        srcs.append(s2)
    out["sources"] = srcs
    return out


def _horizon_ms(v):
    if v is None:
        return 0
    if isinstance(v, int):
        return v
    s = str(v)
    for unit, mult in (("ms", 1), ("s", 1000), ("m", 60000), ("h", 3600000), ("d", 86400000)):
        if s.endswith(unit) and s[:-len(unit)].isdigit():
            return int(s[:-len(unit)]) * mult
    return int(s)


class LotModel(model.Model):
    """model.Model with inbound lots: net = max(0, on_hand - allocated - held)
    + lots (qty > 0) whose eta <= now + horizon of the region (horizon 0:
    never). Lot receive moves qty into on_hand when the same source has
    on_hand authority at the location."""

    def __init__(self, cfg):
        super().__init__(_strip_inbound(cfg))
        self.horizon = {r["id"]: _horizon_ms(r.get("inbound_horizon")) for r in cfg["regions"]}
        self.inbound = {}  # location -> source
        for s in cfg.get("sources", []):
            for a in s.get("authority", []):
                if "inbound" in a.get("buckets", []):
                    for loc in a["locations"]:
                        self.inbound[loc] = s["id"]
        self.lots = {}  # (sku, loc, lot) -> [qty, eta_ms]
        self.now = None  # ms; None: every lot inside a non-zero horizon counts

    def apply_events(self, source, events):
        """Apply one valid message's events in order (no validation: the
        feed only generates valid ones)."""
        for ev in events:
            k = ev[0]
            if k == "heartbeat":
                continue
            sku, loc = ev[1], ev[2]
            self.skus.add(sku)
            if k in ("delta", "set"):
                pos = self.positions.setdefault((sku, loc), [0, 0, 0])
                b = BUCKET[ev[3]]
                pos[b] = pos[b] + ev[4] if k == "delta" else ev[4]
            elif k in ("lot_add", "lot_change"):
                self.lots[(sku, loc, ev[3])] = [ev[4], ev[5]]
            elif k in ("lot_receive", "lot_cancel"):
                lot = self.lots.pop((sku, loc, ev[3]), None)
                if lot is not None and k == "lot_receive" and \
                        self.authority.get((loc, 0)) == source:
                    pos = self.positions.setdefault((sku, loc), [0, 0, 0])
                    pos[0] += lot[0]
            else:
                raise model.ModelError("unknown event %r" % (ev,))

    def apply_all(self, records):
        """Every generated message of an atp-feed log (dropped included), per
        source in seq order, each seq once. Returns {source: final seq}."""
        by_src = {}
        for r in records:
            by_src.setdefault(r["source"], {})[r["seq"]] = r
        final = {}
        for src, recs in by_src.items():
            for seq in sorted(recs):
                self.apply_events(src, recs[seq]["events"])
            final[src] = max(recs)
        return final

    def snapshot(self, source, pairs_events):
        """A full snapshot of `source`: zero its authority, drop its lots,
        apply the set / lot_add events."""
        for (loc, b), s in self.authority.items():
            if s == source:
                for (sku, l), pos in self.positions.items():
                    if l == loc:
                        pos[b] = 0
        for key in [k for k in self.lots if self.inbound.get(k[1]) == source]:
            del self.lots[key]
        self.apply_events(source, pairs_events)

    def lot_inbound(self, sku, loc):
        h = self.horizon[self.loc_region[loc]]
        if h <= 0:
            return 0
        total = 0
        for (s, l, _), (qty, eta) in self.lots.items():
            if s == sku and l == loc and qty > 0 and (self.now is None or eta <= self.now + h):
                total += qty
        return total

    def net(self, sku, loc):
        return super().net(sku, loc) + self.lot_inbound(sku, loc)


# ---------------------------------------------------------------------------
# atp-feed logs and processes


def read_feed_log(path):
    """(message records, replay notes, snapshot notes) of an atp-feed --log."""
    recs, replays, snaps = [], [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            o = json.loads(line)
            if "replay" in o:
                replays.append(o["replay"])
            elif "snapshot" in o:
                snaps.append(o["snapshot"])
            else:
                recs.append(o)
    return recs, replays, snaps


# atp-feed's longest --linger: after its last message it answers resync
# requests until finish() sees atpd caught up and ends it by pid. A fixed
# short linger raced with atpd: a restart or a slow machine asks later.
LINGER = ["--linger", 60]


def _read_log_tolerant(path):
    """The message records of an atp-feed --log that is still being
    written (a last, partial line is left out)."""
    recs = []
    try:
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                o = json.loads(line)
                if "replay" not in o and "snapshot" not in o:
                    recs.append(o)
    except FileNotFoundError:
        pass
    return recs


class Feed:
    """atp-feed running in the background against atpd d (its config's
    ingest and control endpoints)."""

    def __init__(self, d, args, name="feed"):
        if d.h.feed_bin is None:
            raise TestFailure("atp-feed not built under %s" % d.h.bin_dir)
        self.d = d
        self.name = name
        self.log_path = os.path.join(d.dir, name + ".jsonl")
        self.out_path = os.path.join(d.dir, name + ".out")
        self.json_path = os.path.join(d.dir, name + ".json")
        self.argv = [d.h.feed_bin, "--config", d.config_path, "--endpoint", d.ingest_url,
                     "--log", self.log_path, "--json"] + [str(a) for a in args]
        with open(self.out_path, "wb") as err, open(self.json_path, "wb") as out:
            self.proc = harness._spawn(self.argv, cwd=d.dir, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=err)

    def wait(self, timeout_s):
        try:
            rc = self.proc.wait(timeout=timeout_s * TF)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TestFailure("atp-feed (%s) did not end within %.0f s:\n%s"
                              % (self.name, timeout_s * TF, harness.tail(self.out_path)))
        if rc != 0:
            raise TestFailure("atp-feed (%s) exited %d: %s\n%s"
                              % (self.name, rc, " ".join(self.argv), harness.tail(self.out_path)))
        return self.summary()

    def stop(self):
        return harness._stop_pid(self.proc, 5)

    def finish(self, timeout_s):
        """For a feeder started with LINGER and --messages N: wait (bounded,
        scaled) until it generated its N data messages (its log has them;
        the final heartbeats follow at once) and atpd applied every
        source's last logged seq with nothing held; then end its linger
        (SIGTERM by pid) and return its summary, as wait() does."""
        args = [str(a) for a in self.argv]
        n = int(args[args.index("--messages") + 1])

        def caught_up():
            if self.proc.poll() is not None:
                return True  # ended by itself: wait() judges its status
            recs = _read_log_tolerant(self.log_path)
            data = sum(1 for r in recs if any(e[0] != "heartbeat" for e in r["events"]))
            if data < n:
                return False
            final = {}
            for r in recs:
                final[r["source"]] = max(final.get(r["source"], 0), r["seq"])
            self.d.check_alive()
            s = self.d.sources()
            return all(s[i]["last_seq"] >= q and s[i]["held"] == 0 for i, q in final.items())
        harness.wait_until(caught_up, timeout_s, 0.1,
                           "atp-feed (%s) done and atpd caught up with it" % self.name)
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        return self.wait(30)

    def summary(self):
        with open(self.json_path) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        return json.loads(lines[-1]) if lines else None

    def log(self):
        return read_feed_log(self.log_path)


def run_feed(d, args, name="feed", timeout_s=120):
    """atp-feed ARGS to the end; with LINGER in ARGS, until atpd caught up."""
    f = Feed(d, args, name)
    summary = f.finish(timeout_s) if LINGER[0] in args else f.wait(timeout_s)
    recs, replays, snaps = f.log()
    return summary, recs, replays, snaps


# ---------------------------------------------------------------------------
# raw publisher and control subscriber


class Pub(harness.Publisher):
    """Crafted source messages through one PUB connection to atpd's ingest."""

    def __init__(self, d):
        super().__init__(d)
        self.connect()

    def send(self, obj):
        self.pub.send_msg(msgpack.packb(obj))

    def batch(self, source, seq, events, ts=None):
        self.send([1, source, seq, ts if ts is not None else now_ms(), list(events)])

    def snapshot(self, source, snap_id, part, seq, last, events, ts=None):
        self.send([2, source, snap_id, part, ts if ts is not None else now_ms(), seq, last,
                   list(events)])


class ControlSub(harness.SPConn):
    """A raw SUB connection to atpd's control PUB: SP SUB filters on the
    subscriber side, so this sees every request; recv_requests decodes
    them."""

    def __init__(self, port, timeout_s=5.0):
        super().__init__(port, harness.SP_SUB, harness.SP_PUB, timeout_s)

    def recv_requests(self, for_s):
        """Every request received within for_s seconds: [(source, map)]."""
        out = []
        deadline = time.monotonic() + for_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                msg = self.recv_msg(timeout_s=left / TF)
            except TimeoutError:
                return out
            parts = msg.split(b"\0", 2)
            if len(parts) == 3 and parts[0] == b"resync":
                out.append((parts[1].decode(), msgpack.unpackb(parts[2], strict_map_key=False)))


# ---------------------------------------------------------------------------
# reading atpd


def sources(d):
    return d.sources()


def wait_sources(d, pred, timeout_s, what):
    last = {}

    def f():
        d.check_alive()
        s = d.sources()
        last.clear()
        last.update(s)
        return pred(s)
    try:
        return harness.wait_until(f, timeout_s, 0.05, what)
    except TestFailure:
        raise TestFailure("%s; sources: %s" % (what, json.dumps(last)[:3000]))


def wait_caught_up(d, final, timeout_s=30):
    """Until every source in final ({id: seq}) is `ok` with last_seq >= seq
    and nothing held."""
    def pred(s):
        return all(s[i]["state"] == "ok" and s[i]["last_seq"] >= q and s[i]["held"] == 0
                   for i, q in final.items())
    return wait_sources(d, pred, timeout_s, "sources caught up to %r" % (final,))


def wait_stale(d, sku, region, want, timeout_s=2):
    """Until `atp sku region` answers stale == want. The region flag follows
    the source state on atpd's next ingest tick (10 ms), so a check right
    after a state change must poll."""
    last = {}

    def f():
        last["a"] = d.ctl("atp", sku, region)
        return last["a"].get("stale") is want
    try:
        harness.wait_until(f, timeout_s, 0.02, "%s %s stale %s" % (sku, region, want))
    except TestFailure:
        raise TestFailure("%s %s: stale %r, want %r; sources %s"
                          % (sku, region, last["a"].get("stale"), want,
                             json.dumps(d.sources())[:2000]))
    return True


def atp_table(d, skus, regions, channels):
    """{(sku, region, channel): reply line} via `atpctl --json cart`."""
    pairs = [(s, r) for s in sorted(skus) for r in regions]
    out = {}
    for ch in channels:
        for i in range(0, len(pairs), 1000):
            chunk = pairs[i:i + 1000]
            stdin = "".join("%s %s 1\n" % p for p in chunk)
            rep = d.ctl("cart", "-", "--channel", ch, stdin=stdin, timeout_s=60)
            lines = rep.get("lines")
            if not isinstance(lines, list) or len(lines) != len(chunk):
                raise TestFailure("cart reply has %r lines for %d asked" % (lines, len(chunk)))
            for (sku, reg), got in zip(chunk, lines):
                out[(sku, reg, ch)] = got
    return out


def compare_model(h, d, m, skus, label, stale=False, limit=10):
    """Every (sku, region, channel): atp, supply, buffer, stale against the
    model. Returns the number of answers compared; raises on mismatch."""
    tab = atp_table(d, skus, m.regions, m.channels)
    bad = []
    for (sku, reg, ch), got in tab.items():
        want = m.answer(sku, reg, ch)
        diff = [k for k in ("atp", "supply", "buffer", "reserved") if got.get(k) != want[k]]
        if got.get("stale") is not stale:
            diff.append("stale")
        if diff:
            bad.append((sku, reg, ch, diff, got, want))
    if bad:
        for sku, reg, ch, diff, got, want in bad[:limit]:
            print("  %s: %s %s %s differs in %s: atpd %s, model %s"
                  % (label, sku, reg, ch, diff, {k: got.get(k) for k in diff if k != "stale"} or
                     got.get("stale"), {k: want.get(k) for k in diff if k != "stale"}))
        raise TestFailure("%s: %d of %d answers differ from the model"
                          % (label, len(bad), len(tab)))
    h.log("%s: %d answers equal the model", label, len(tab))
    return len(tab)


def kill9(d):
    d.kill9()


def restart(d, ready_timeout_s=30):
    """Start the same atpd again (same config and data dir); returns the
    seconds until it answered `status` with ready: true."""
    t = time.monotonic()
    d.start(ready_timeout_s)
    took = time.monotonic() - t
    st = d.ctl("status")
    if st.get("ready") is not True:
        raise TestFailure("atpd answers status without ready: true: %r" % st)
    return took
