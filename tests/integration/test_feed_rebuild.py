#!/usr/bin/python3
"""test_feed_rebuild.py - a subscriber's cache rebuilt from a scan and kept
current by the change feed (PROTOCOL.md "Rebuilding a cache").

1. Under load: SKUs S-0..S-149 in regions east (two locations, two
   sources) and west. While atp-feed plays both sources at a modest rate
   and a thread reserves (some with a 1 s TTL, so they expire), releases
   and re-reserves, a subscriber to region east subscribes, scans every
   page with `atpctl scan east --all --json --limit 7`, remembers the first
   page's region_seq S, and applies every message with region_seq > S in
   order (a jump in region_seq would trigger a rebuild). After the load
   stops and the feed is quiet, its cache equals a final scan for every
   SKU: supply, reserved, shortfall and the ATP of every channel.
2. Slow subscriber: a second subscriber with a tiny TCP receive window
   stops reading during a burst that moves every SKU each interval, until
   atpd published more than nng's queue for it and every kernel buffer
   between them can hold (status feed.published), so atpd's PUB has
   dropped messages for it: the gap is atpd's, never made by the test. It
   detects the gap by region_seq, rebuilds from a scan, keeps following,
   and ends identical to atpd; it received fewer messages than the
   region_seq range it saw. `atpctl watch east --json`, whose output is
   not read meanwhile, must report every region_seq jump it suffers as a
   {"gap": {...}} line with the right expected/got, and it suffers some.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util as F  # noqa: E402
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

CHANNELS = ("web", "app")
N_SKUS = 150
SKUS = ["S-%d" % i for i in range(N_SKUS)]
# The slow-subscriber burst moves more SKUs (new ones appear at the end of
# the scan order): about 600 messages per interval.
BURST_SKUS = ["S-%d" % i for i in range(600)]
BUFFERS = [
    {"channel": "web", "units": 3, "low_stock": 10},
    {"channel": "app", "percent": 10},
    {"region": "east", "units": 1},
]


def full_state(item):
    """What the cache keeps and compares: supply, reserved, shortfall, and
    ATP per channel (the same keys in a scan item and a feed message)."""
    return F.msg_state(item) + (item.get("shortfall"),)


class Follower:
    """A cache of one region: scan, then the feed from the scan's
    region_seq; a jump in region_seq means messages were lost: rebuild."""

    def __init__(self, h, d, sub, region, name):
        self.h, self.d, self.sub, self.region, self.name = h, d, sub, region, name
        self.cache = {}
        self.S = None
        self.last = None
        self.gaps = []
        self.rebuilds = 0
        self.applied = 0
        self.skipped = 0

    def rebuild(self, limit=7):
        """Every page with atpctl; S is the first page's region_seq."""
        rc, pages, err = F.ctl_lines(self.h, self.d, ["scan", self.region, "--all", "--json",
                                                      "--limit", limit])
        if rc != 0 or not pages or not all(isinstance(p, dict) and p.get("ok") for p in pages):
            raise TestFailure("%s: atpctl scan %s --all failed: exit %d, %r, %s"
                              % (self.name, self.region, rc, pages[:2], err))
        if pages[-1].get("next_cursor") is not None:
            raise TestFailure("%s: the last page has next_cursor %r"
                              % (self.name, pages[-1]["next_cursor"]))
        cache = {}
        for p in pages:
            for it in p["items"]:
                cache[it["sku"]] = full_state(it)
        self.cache = cache
        self.S = pages[0]["region_seq"]
        self.last = self.S  # message S + 1 is the next one, or a gap
        self.rebuilds += 1
        return len(pages)

    def apply(self, msgs):
        for region, sku, body, _ in msgs:
            rs = body["region_seq"]
            if rs <= self.S:
                self.skipped += 1  # the scan shows this or something newer
                continue
            if rs != self.last + 1:
                self.gaps.append((self.last + 1, rs))
                self.h.log("%s: gap: expected region_seq %d, got %d; rebuilding",
                           self.name, self.last + 1, rs)
                self.rebuild()
                if rs <= self.S:
                    self.skipped += 1
                    continue
                if rs != self.last + 1:
                    # Published between the scan's sequence read and now,
                    # and lost too: the next rebuild comes with it.
                    self.gaps.append((self.last + 1, rs))
            self.cache[sku] = full_state(body)
            self.last = rs
            self.applied += 1

    def follow(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            m = self.sub.get(0.05)
            if m is not None:
                self.apply([m] + self.sub.take())

    def compare(self, ck, q, what):
        seq, rseq, items, pages = F.scan_all(q, self.region, limit=50)
        want = {sku: full_state(it) for sku, it in items.items()}
        ck.eq(sorted(self.cache), sorted(want), "%s: SKUs in the cache" % what)
        diff = [(s, self.cache.get(s), want[s]) for s in sorted(want) if self.cache.get(s) != want[s]]
        ck.check(not diff, "%s: %d of %d SKUs differ from atpd, e.g. %r", what, len(diff),
                 len(want), diff[:3])
        self.h.log("%s: %d SKUs compared, %d messages applied, %d skipped (<= scan's S), "
                   "%d rebuilds, gaps %r", what, len(want), self.applied, self.skipped,
                   self.rebuilds, self.gaps[:5])


class Reserver(threading.Thread):
    """Reserves, releases and lets holds expire until stopped."""

    def __init__(self, d, seed):
        super().__init__(daemon=True)
        self.q = F.Query(d)
        self.rng = random.Random(seed)
        self.stop_ev = threading.Event()
        self.open = []
        self.n = 0
        self.last_expiry_ms = 0
        self.error = None

    def run(self):
        try:
            while not self.stop_ev.is_set():
                self.n += 1
                if self.open and self.rng.random() < 0.35:
                    rid = self.open.pop(self.rng.randrange(len(self.open)))
                    self.q.ok({"op": "release", "id": rid})
                else:
                    rid = "rb-%d" % self.n
                    ttl = 1000 if self.rng.random() < 0.3 else 600000
                    lines = [[self.rng.choice(SKUS), "east", self.rng.randint(1, 3)]]
                    if self.rng.random() < 0.3:
                        lines.append([self.rng.choice(SKUS), "west", 1])
                    r = self.q.ok({"op": "reserve", "id": rid, "lines": lines, "ttl_ms": ttl})
                    if r.get("granted") and ttl > 1000:
                        self.open.append(rid)
                    elif r.get("granted"):
                        self.last_expiry_ms = max(self.last_expiry_ms,
                                                  r["reservation"]["expires_ms"])
                self.stop_ev.wait(0.03)
        except Exception as e:
            self.error = repr(e)
        finally:
            self.q.close()

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=30)
        if self.error:
            raise TestFailure("reservation thread: %s" % self.error)


def wait_settled(d, q, fd, sub_list, reserver_expiry_ms):
    """Load stopped: wait until short holds expired and the feed is quiet."""
    left = (reserver_expiry_ms + 300 - F.now_ms()) / 1000.0
    if left > 0:
        time.sleep(left)
    for s in ("wms", "erp"):
        src = q.sources()[s]
        if src.get("state") not in ("ok", "waiting"):
            d.h.log("source %s is %s after the load", s, src.get("state"))


def burst_thread(fd, stop_ev, every_s, counter):
    """Moves every SKU in east (+1/-1) every every_s until stopped."""
    sign = 1
    while not stop_ev.is_set():
        fd.send("wms", [[1, s, "E1", 0, sign] for s in BURST_SKUS])
        counter[0] += 1
        sign = -sign
        stop_ev.wait(every_s)


def main(h):
    ck = harness.Checks(h)
    cfg = F.feed_config(h, ["east", "west"], [("E1", "east"), ("E2", "east"), ("W1", "west")],
                        [("wms", ["E1", "W1"]), ("erp", ["E2"])], channels=CHANNELS,
                        buffers=BUFFERS, reservations={"min_ttl": "1s"})
    d = h.start_atpd(cfg)
    q = F.Query(d)
    fd = F.Feeder(d, q)
    fd.publish("wms", [[2, s, loc, 0, 40] for s in SKUS for loc in ("E1", "W1")])
    fd.publish("erp", [[2, s, "E2", 0, 20] for s in SKUS])

    # ---------------- 1. rebuild under load
    # The feed must outlast the follower's scan, which takes seconds in a
    # sanitizer build on a busy machine (8 s seen under ThreadSanitizer):
    # the check below wants messages applied after the scan.
    feed_args = ["--rate", F.scaled(400, 100), "--batch", 5,
                 "--duration", int(4 * harness.TIME_FACTOR),
                 "--skus", N_SKUS, "--sku-prefix", "S-", "--start-seq", 2, "--session", "none",
                 "--set-ratio", 0.05, "--seed", 11, "--quiet"]
    feed_err = []

    def play():
        try:
            d.feed(feed_args, timeout_s=120, log_name="feed-load")
        except Exception as e:
            feed_err.append(e)
    player = threading.Thread(target=play, daemon=True)
    res = Reserver(d, 5)
    player.start()
    res.start()
    sub = F.Sub(d, [F.prefix("east")])
    time.sleep(0.3)  # messages pile up in the subscription meanwhile
    fo = Follower(h, d, sub, "east", "follower")
    pages = fo.rebuild(limit=7)
    h.log("follower: scanned %d pages, S = region_seq %d, %d messages buffered", pages, fo.S,
          len(sub.msgs))
    ck.check(pages >= N_SKUS // 7, "scan --limit 7 gave only %d pages", pages)
    fo.follow(0.2)
    while player.is_alive():
        fo.follow(0.2)
    res.stop()
    if feed_err:
        raise feed_err[0]
    ck.check(res.n > 20, "only %d reservation operations ran", res.n)
    wait_settled(d, q, fd, [sub], res.last_expiry_ms)
    fo.apply(sub.quiet(F.interval_s(d) * 6))
    # A subscriber that reads all the time keeps up with a modest load: any
    # loss here is atpd's PUB dropping messages it queued too shallowly.
    ck.eq(fo.gaps, [], "follower: gaps (expected, got) while reading continuously")
    ck.check(fo.applied > 100, "follower applied only %d messages", fo.applied)
    fo.compare(ck, q, "rebuild under load")
    sub.close()

    # ---------------- 2. slow subscriber
    fd.sync()  # atp-feed played wms and erp meanwhile
    slow = F.Sub(d, [F.prefix("east")], rcvbuf=4096)
    w = F.Watch(h, d, ["east", "--duration", "600s"], "w-slow")
    w.wait_connected()
    fs = Follower(h, d, slow, "east", "slow")
    fs.rebuild(limit=11)
    stop_ev = threading.Event()
    sent = [0]
    bt = threading.Thread(target=burst_thread, args=(fd, stop_ev, 0.01, sent), daemon=True)
    w.pause()
    bt.start()
    fs.follow(0.5)
    slow.pause()
    received0 = slow.received
    need = F.overflow_messages(slow.min_len or 64, 4096)
    pub0 = q.status()["feed"]["published"]
    h.log("slow: paused (subscriber and atpctl watch's stdout) until atpd published %d "
          "messages (shortest so far %s bytes)", need, slow.min_len)
    harness.wait_until(lambda: q.status()["feed"]["published"] - pub0 >= need, 120, 0.1,
                       "atpd to publish %d messages during the pause" % need)
    slow.resume()
    w.resume()
    fs.follow(1.0)
    stop_ev.set()
    bt.join(timeout=30)
    fd.wait_applied("wms")
    fs.apply(slow.quiet(F.interval_s(d) * 6))
    h.log("slow: %d bursts sent; %d messages received after the pause; gaps %s", sent[0],
          slow.received - received0, fs.gaps[:5])
    ck.check(fs.gaps, "slow: no gap detected although atpd published %d messages while it "
             "did not read", need)
    lost = sum(got - exp for exp, got in fs.gaps)
    ck.check(lost > 0, "slow: the gaps lost no region_seq: %r", fs.gaps[:5])
    ck.check(fs.rebuilds >= 2, "slow: no rebuild after the gap")
    fs.compare(ck, q, "slow subscriber after rebuild")
    slow.close()

    # atpctl watch: every jump in region_seq it saw has its gap line.
    time.sleep(F.interval_s(d) * 4)
    ck.eq(w.stop(), 0, "atpctl watch east: exit status on SIGINT")
    seen, jumps, gap_lines = None, [], []
    with w.lock:
        lines = list(w.lines)
    for o in lines:
        if "gap" in o:
            gap_lines.append((o["gap"].get("sequence"), o["gap"].get("expected"),
                              o["gap"].get("got"), o["gap"].get("missed")))
            continue
        rs = o["region_seq"]
        if seen is not None and rs != seen + 1:
            jumps.append(("region_seq", seen + 1, rs, rs - seen - 1))
        seen = rs
    h.log("atpctl watch: %d lines, %d gap lines, e.g. %r", len(lines), len(gap_lines),
          gap_lines[:3])
    ck.eq(gap_lines, jumps, "atpctl watch: gap lines vs the jumps in its region_seq")
    ck.check(gap_lines, "atpctl watch: no gap reported although it did not read while atpd "
             "published %d messages", need)
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "feed_rebuild")
