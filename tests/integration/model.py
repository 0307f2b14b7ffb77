"""model.py - an independent model of atpd's ATP formula and source replay.

Written from /work/shared/DESIGN.md ("The formula") and docs/PROTOCOL.md
("What atpd does with a source message"), NOT from atpd's code, so that the
integration tests compare two implementations of the same brief.

Formula (all integers):
  net(loc)      = max(0, on_hand - allocated - held)     (inbound: horizon 0)
  supply(s, r)  = sum of net(loc) over r's locations
  reserved(s,r) = open reservation lines
  buffer(s,r,c) = max(units, ceil(percent * supply / 100)) of the most
                  specific matching rule:
                  (sku,region,channel) > (sku,region) > (sku,channel) > (sku)
                  > (region,channel) > (region) > (channel) > global (0)
  ATP           = max(0, supply - reserved - buffer)
  shortfall     = max(0, reserved - supply)

percent is kept in basis points (12.5 % -> 1250) so the ceiling is exact.
"""

from decimal import Decimal, InvalidOperation

QTY_MAX = 10 ** 15
ID_MAX = 64
BUCKETS = {"on_hand": 0, "allocated": 1, "held": 2}
BUCKET_NAMES = ["on_hand", "allocated", "held"]
EVENT_KINDS = {"delta": 1, "set": 2, "heartbeat": 3}

# (uses sku, uses region, uses channel) -> wire name; most specific first.
RULE_LEVELS = [
    ((True, True, True), "sku+region+channel"),
    ((True, True, False), "sku+region"),
    ((True, False, True), "sku+channel"),
    ((True, False, False), "sku"),
    ((False, True, True), "region+channel"),
    ((False, True, False), "region"),
    ((False, False, True), "channel"),
    ((False, False, False), "global"),
]


class ModelError(Exception):
    pass


def percent_to_bp(p):
    """'12.5' / 12.5 / 3 -> basis points (int); exact, rejects finer than 0.01 %."""
    if p is None:
        return 0
    try:
        d = Decimal(str(p)) * 100
    except InvalidOperation:
        raise ModelError("bad percent %r" % (p,))
    if d != d.to_integral_value() or d < 0 or d > 10000:
        raise ModelError("percent %r is not a multiple of 0.01 in 0..100" % (p,))
    return int(d)


def ceil_div(a, b):
    return -((-a) // b)


def valid_id(s):
    if not isinstance(s, str):
        return False
    b = s.encode("utf-8")
    return 1 <= len(b) <= ID_MAX and all(ch.isprintable() for ch in s)


class Model:
    def __init__(self, cfg):
        self.regions = [r["id"] for r in cfg["regions"]]
        self.loc_region = {}
        for loc in cfg["locations"]:
            if loc["region"] not in self.regions:
                raise ModelError("location %s: unknown region %s" % (loc["id"], loc["region"]))
            self.loc_region[loc["id"]] = loc["region"]
        self.region_locs = {r: [l for l, rr in self.loc_region.items() if rr == r]
                            for r in self.regions}
        chans = list(cfg.get("channels", []))
        self.channels = ["default"] + [c for c in chans if c != "default"]
        # authority: (location, bucket index) -> source id
        self.authority = {}
        self.sources = []
        for s in cfg.get("sources", []):
            self.sources.append(s["id"])
            for a in s.get("authority", []):
                for loc in a["locations"]:
                    for b in a.get("buckets", BUCKET_NAMES):
                        key = (loc, BUCKETS[b])
                        if key in self.authority:
                            raise ModelError("two sources claim %r" % (key,))
                        self.authority[key] = s["id"]
        # buffer rules by (sku|None, region|None, channel|None)
        self.rules = {}
        for r in cfg.get("buffers", []):
            key = (r.get("sku"), r.get("region"), r.get("channel"))
            if key in self.rules:
                raise ModelError("duplicate buffer rule %r" % (key,))
            self.rules[key] = (int(r.get("units", 0)), percent_to_bp(r.get("percent")))
        self.positions = {}  # (sku, location) -> [on_hand, allocated, held]
        self.skus = set()
        self.reserved = {}   # (sku, region) -> int
        self.counters = {s: self._zero_counters() for s in self.sources}

    @staticmethod
    def _zero_counters():
        return {"messages": 0, "events": 0, "heartbeats": 0, "duplicates": 0,
                "gaps": 0, "missed": 0, "rejected_messages": 0,
                "unauthorized": 0, "unknown_location": 0, "last_seq": 0}

    # ---- source events

    def _event_error(self, source, ev):
        """None when ev is valid for source, else the error name."""
        if not isinstance(ev, (list, tuple)) or not ev:
            return "bad_event"
        kind = EVENT_KINDS.get(ev[0], ev[0])
        if kind == 3:
            return None if len(ev) == 1 else "bad_event"
        if kind not in (1, 2):
            return "bad_event"
        if not (len(ev) == 5 or (kind == 1 and len(ev) == 6 and valid_id(ev[5]))):
            return "bad_event"
        _, sku, loc, bucket, value = ev[:5]
        if not valid_id(sku):
            return "bad_sku"
        b = BUCKETS.get(bucket, bucket)
        if b not in (0, 1, 2):
            return "bad_bucket"
        if not isinstance(value, int) or abs(value) > QTY_MAX:
            return "bad_qty"
        if loc not in self.loc_region:
            return "unknown_location"
        if self.authority.get((loc, b)) != source:
            return "unauthorized"
        return None

    def apply_message(self, source, events):
        """Validate the whole message, then apply all of it or nothing.
        Returns None when applied, else a list of per-event error names."""
        errors = [self._event_error(source, ev) for ev in events]
        c = self.counters[source]
        if any(errors):
            c["rejected_messages"] += 1
            c["unauthorized"] += errors.count("unauthorized")
            c["unknown_location"] += errors.count("unknown_location")
            return [e for e in errors if e]
        for ev in events:
            kind = EVENT_KINDS.get(ev[0], ev[0])
            c["events"] += 1
            if kind == 3:
                c["heartbeats"] += 1
                continue
            sku, loc, bucket, value = ev[1], ev[2], BUCKETS.get(ev[3], ev[3]), ev[4]
            self.skus.add(sku)
            pos = self.positions.setdefault((sku, loc), [0, 0, 0])
            if kind == 1:
                pos[bucket] += value
            else:
                pos[bucket] = value
        c["messages"] += 1
        return None

    def replay_log(self, records):
        """Replay atp-feed --log records (dicts: source, seq, sent, copies,
        events) with PROTOCOL.md's rules, assuming every sent copy arrives and
        the reorder window covers the feed's reordering:
          - per source, messages are applied in seq order, once;
          - extra copies are duplicates (ignored, counted);
          - dropped messages are never applied; a run of missing seqs after
            the first received one is one gap, its length counts as missed;
            missing seqs before the first received one are not a gap (the
            first message seen is applied whatever its seq);
          - a message with any invalid event is rejected whole but consumes
            its seq (no gap);
          - if the source's first message was held back behind the next
            ("reordered": true in the log), the next one is the first seen
            and the held one is a late duplicate, never applied.
        Returns {source: {"final_seq", "dropped_seqs", "dup_copies", ...}}."""
        by_src = {}
        for r in records:
            if r["source"] not in self.counters:
                raise ModelError("log names unknown source %r" % r["source"])
            by_src.setdefault(r["source"], []).append(r)
        info = {}
        for src, recs in by_src.items():
            recs = sorted(recs, key=lambda r: r["seq"])
            seqs = [r["seq"] for r in recs]
            if seqs != list(range(seqs[0], seqs[0] + len(seqs))) or len(set(seqs)) != len(seqs):
                raise ModelError("source %s: log seqs are not consecutive" % src)
            c = self.counters[src]
            dropped = [r["seq"] for r in recs if not r.get("sent", True) or r.get("copies", 1) < 1]
            received = [r for r in recs if r.get("sent", True) and r.get("copies", 1) >= 1]
            dup_copies = sum(r.get("copies", 1) - 1 for r in received)
            c["duplicates"] += dup_copies
            # The first message to arrive is applied whatever its seq. When
            # the feed held the first one back behind the next (logged as
            # "reordered": true), the next one arrives first, and the held
            # one then counts as a duplicate: never applied, not a gap.
            late = []
            if (len(received) > 1 and received[0].get("reordered")
                    and received[1]["seq"] == received[0]["seq"] + 1):
                late = [received.pop(0)]
                c["duplicates"] += late[0].get("copies", 1)
            prev = None
            for r in received:
                if prev is not None and r["seq"] > prev + 1:
                    c["gaps"] += 1
                    c["missed"] += r["seq"] - prev - 1
                prev = r["seq"]
                self.apply_message(src, r["events"])
                c["last_seq"] = r["seq"]
            first = received[0]["seq"] if received else None
            info[src] = {
                "final_seq": seqs[-1],
                "dropped_seqs": dropped,
                "leading_drops": [s for s in dropped if first is None or s < first],
                "late_first": [r["seq"] for r in late],
                "dup_copies": dup_copies,
                "messages_logged": len(recs),
                "events_logged": sum(len(r["events"]) for r in recs),
            }
        return info

    # ---- reservations (for tests that make them)

    def reserve(self, sku, region, qty):
        self.reserved[(sku, region)] = self.reserved.get((sku, region), 0) + qty

    # ---- the formula

    def net(self, sku, loc):
        on_hand, allocated, held = self.positions.get((sku, loc), (0, 0, 0))
        return max(0, on_hand - allocated - held)

    def supply(self, sku, region):
        return sum(self.net(sku, loc) for loc in self.region_locs[region])

    def rule(self, sku, region, channel):
        """(units, percent_bp, level name) of the most specific matching rule."""
        for (us, ur, uc), name in RULE_LEVELS:
            key = (sku if us else None, region if ur else None, channel if uc else None)
            if key in self.rules:
                units, bp = self.rules[key]
                return units, bp, name
        return 0, 0, "global"

    def answer(self, sku, region, channel="default"):
        if region not in self.region_locs:
            raise ModelError("unknown region %r" % region)
        if channel not in self.channels:
            raise ModelError("unknown channel %r" % channel)
        supply = self.supply(sku, region)
        reserved = self.reserved.get((sku, region), 0)
        units, bp, level = self.rule(sku, region, channel)
        buffer = max(units, ceil_div(bp * supply, 10000))
        return {
            "sku": sku, "region": region, "channel": channel,
            "atp": max(0, supply - reserved - buffer),
            "supply": supply, "reserved": reserved, "buffer": buffer,
            "rule": level, "shortfall": max(0, reserved - supply),
        }

    def sources_feeding(self, region):
        locs = set(self.region_locs[region])
        return sorted({src for (loc, _), src in self.authority.items() if loc in locs})


def _self_test():
    cfg = {
        "regions": [{"id": "r1"}, {"id": "r2"}],
        "locations": [{"id": "A", "region": "r1"}, {"id": "B", "region": "r1"},
                      {"id": "C", "region": "r2"}],
        "channels": ["web", "app"],
        "sources": [{"id": "s1", "authority": [{"locations": ["A", "B"],
                                                 "buckets": ["on_hand", "allocated", "held"]}]},
                    {"id": "s2", "authority": [{"locations": ["C"], "buckets": ["on_hand"]}]}],
        "buffers": [{"units": 1},
                    {"channel": "app", "percent": "12.5"},
                    {"region": "r2", "units": 3},
                    {"region": "r1", "channel": "web", "units": 2, "percent": 50},
                    {"sku": "X", "units": 7},
                    {"sku": "X", "channel": "web", "percent": "33.33"},
                    {"sku": "Y", "region": "r1", "percent": "0.01"},
                    {"sku": "Y", "region": "r1", "channel": "app", "units": 4}],
    }
    m = Model(cfg)
    assert m.apply_message("s1", [["delta", "X", "A", "on_hand", 10],
                                  ["delta", "X", "A", "allocated", 3],
                                  ["set", "X", "B", "on_hand", 5],
                                  ["set", "X", "B", "held", 9],   # B negative -> 0
                                  ["delta", "Y", "A", "on_hand", 101]]) is None
    assert m.supply("X", "r1") == 7 and m.net("X", "B") == 0
    # whole message rejected: s1 is not authoritative for C
    assert m.apply_message("s1", [["delta", "X", "A", "on_hand", 1],
                                  ["delta", "X", "C", "on_hand", 1]]) == ["unauthorized"]
    assert m.apply_message("s2", [["delta", "X", "C", "held", 1]]) == ["unauthorized"]
    assert m.apply_message("s2", [["delta", "X", "Z", "on_hand", 1]]) == ["unknown_location"]
    assert m.supply("X", "r1") == 7 and m.counters["s1"]["rejected_messages"] == 1
    a = m.answer("X", "r1", "web")     # sku+channel 33.33 % of 7 = 2.33 -> 3
    assert (a["buffer"], a["rule"], a["atp"]) == (3, "sku+channel", 4), a
    a = m.answer("X", "r1", "app")     # sku: units 7 -> atp 0
    assert (a["buffer"], a["rule"], a["atp"]) == (7, "sku", 0), a
    a = m.answer("Y", "r1", "default")  # sku+region 0.01 % of 101 -> ceil(0.0101) = 1
    assert (a["buffer"], a["rule"], a["atp"]) == (1, "sku+region", 100), a
    a = m.answer("Y", "r1", "app")
    assert (a["buffer"], a["rule"]) == (4, "sku+region+channel"), a
    a = m.answer("Z", "r1", "web")     # region+channel: max(2, ceil(50 % of 0)) = 2
    assert (a["buffer"], a["rule"], a["atp"], a["supply"]) == (2, "region+channel", 0, 0), a
    a = m.answer("Z", "r2", "web")
    assert a["rule"] == "region" and a["buffer"] == 3, a
    a = m.answer("Z", "r2", "app")     # region beats channel
    assert a["rule"] == "region", a
    m.apply_message("s1", [["delta", "Q", "A", "on_hand", 9]])
    a = m.answer("Q", "r1", "app")     # channel: ceil(12.5 % of 9 = 1.125) = 2
    assert (a["buffer"], a["rule"], a["atp"]) == (2, "channel", 7), a
    a = m.answer("Q", "r1", "default")
    assert (a["buffer"], a["rule"], a["atp"]) == (1, "global", 8), a
    m.reserve("Q", "r1", 12)
    a = m.answer("Q", "r1", "default")
    assert (a["atp"], a["shortfall"], a["reserved"]) == (0, 3, 12), a
    # replay: dup, drop, first-message rule
    m2 = Model(cfg)
    recs = [{"source": "s2", "seq": 1, "sent": False, "copies": 0, "events": [["heartbeat"]]},
            {"source": "s2", "seq": 2, "sent": True, "copies": 2,
             "events": [["delta", "K", "C", "on_hand", 5]]},
            {"source": "s2", "seq": 3, "sent": False, "copies": 0,
             "events": [["delta", "K", "C", "on_hand", 100]]},
            {"source": "s2", "seq": 4, "sent": False, "copies": 0, "events": [["heartbeat"]]},
            {"source": "s2", "seq": 5, "sent": True, "copies": 1,
             "events": [["delta", "K", "C", "on_hand", 1], ["heartbeat"]]}]
    info = m2.replay_log(recs)
    c = m2.counters["s2"]
    assert m2.supply("K", "r2") == 6
    assert (c["gaps"], c["missed"], c["duplicates"], c["messages"], c["last_seq"]) == (1, 2, 1, 2, 5), c
    assert info["s2"]["leading_drops"] == [1] and info["s2"]["final_seq"] == 5
    m3 = Model(cfg)
    recs[0] = dict(recs[0], sent=True, copies=1, reordered=True,
                   events=[["delta", "K", "C", "on_hand", 1000]])
    recs[1] = dict(recs[1], copies=1)
    info = m3.replay_log(recs)
    c = m3.counters["s2"]
    assert m3.supply("K", "r2") == 6 and info["s2"]["late_first"] == [1]
    assert (c["gaps"], c["missed"], c["duplicates"], c["messages"]) == (1, 2, 1, 2), c
    assert percent_to_bp("12.5") == 1250 and percent_to_bp(0.5) == 50
    assert m.sources_feeding("r1") == ["s1"] and m.sources_feeding("r2") == ["s2"]
    print("model self-check ok")


if __name__ == "__main__":
    _self_test()
