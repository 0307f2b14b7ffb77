#!/usr/bin/python3
"""test_model.py - atpd's answers equal an independent model of the brief.

Starts atpd (3 regions, 12 locations, 3 sources with disjoint authority,
buffer rules at every level, percent ones among them), feeds it with
atp-feed (>= 100,000 events, 1 % dropped, 2 % duplicated, 2 % reordered,
fixed seeds, --log), waits until atpd has applied every source's last
message, replays the logs into model.py, and compares EVERY
(sku, region, channel) answer -- atp, supply, reserved, buffer, rule,
shortfall, stale -- through `atpctl cart`, plus `regions` and `atp` for a
sample. Also checks the per-source feed health counters against the log.

Two feed runs: wms-east + 3pl-acme with drops (their regions must turn
stale, the sources gapped), then erp-eu with duplicates and reordering but
no drop (eu must stay fresh: reordering alone is not a gap).
"""

import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import model  # noqa: E402
import msgpack  # noqa: E402
from harness import TestFailure  # noqa: E402

ALL_BUCKETS = ["on_hand", "allocated", "held"]
CHANNELS = ["web", "app", "marketplace-x"]
FIELDS = ["atp", "supply", "reserved", "buffer", "rule", "shortfall"]

# SKU ids named by buffer rules: atp-feed's default --sku-prefix "SKU-"
# numbering (SKU-1 ... SKU-N). The test fails if the log never names them.
RULE_SKUS = ["SKU-3", "SKU-7", "SKU-12", "SKU-20"]


# erp-eu's publisher session (docs/PROTOCOL.md, "Publisher sessions"):
# atp-feed's run, then this test, continue one stream.
ERP_SESSION = 4242

def build_config(h):
    cfg = h.config()
    cfg["regions"] = [{"id": "us-east"}, {"id": "us-west"}, {"id": "eu"}]
    locs = [("DC-NJ", "us-east", "dc"), ("DC-PA", "us-east", "dc"),
            ("ST-NYC", "us-east", "store"), ("ST-BOS", "us-east", "store"),
            ("3PL-ATL", "us-east", "3pl"),
            ("DC-CA", "us-west", "dc"), ("ST-SF", "us-west", "store"),
            ("3PL-PHX", "us-west", "3pl"), ("3PL-RNO", "us-west", "3pl"),
            ("DC-DE", "eu", "dc"), ("DC-NL", "eu", "dc"), ("ST-PAR", "eu", "store")]
    cfg["locations"] = [{"id": i, "region": r, "type": t} for i, r, t in locs]
    cfg["channels"] = list(CHANNELS)
    cfg["sources"] = [
        # resync off: this test checks gap semantics without replays
        # (test_resync_* cover resync).
        {"id": "wms-east", "heartbeat_timeout": "10m", "resync": False, "authority": [
            {"locations": ["DC-NJ", "DC-PA", "ST-NYC"], "buckets": ALL_BUCKETS},
            {"locations": ["ST-BOS"], "buckets": ["on_hand", "allocated"]}]},
        # 3pl-acme feeds two regions and owns one bucket of a wms-east store.
        {"id": "3pl-acme", "heartbeat_timeout": "10m", "resync": False, "authority": [
            {"locations": ["3PL-ATL", "DC-CA", "ST-SF", "3PL-PHX", "3PL-RNO"],
             "buckets": ALL_BUCKETS},
            {"locations": ["ST-BOS"], "buckets": ["held"]}]},
        {"id": "erp-eu", "heartbeat_timeout": "10m", "resync": False, "authority": [
            {"locations": ["DC-DE", "DC-NL", "ST-PAR"], "buckets": ALL_BUCKETS}]},
    ]
    cfg["buffers"] = [
        {"units": 1},                                                   # global
        {"channel": "marketplace-x", "percent": 10},                    # channel
        {"region": "eu", "units": 3},                                   # region
        {"region": "us-west", "channel": "app", "units": 2, "percent": 12.5},
        {"region": "eu", "channel": "app", "percent": 2},               # beats region eu
        {"sku": "SKU-3", "units": 7},                                   # sku
        {"sku": "SKU-3", "channel": "web", "percent": 33.33},           # sku+channel
        {"sku": "SKU-12", "percent": 100},                              # sku: ATP always 0
        {"sku": "SKU-7", "region": "us-east", "percent": 5},            # sku+region
        {"sku": "SKU-7", "region": "us-east", "channel": "app", "units": 4, "percent": 0.5},
        {"sku": "SKU-7", "channel": "web", "units": 9},                 # loses to sku+region
        {"sku": "SKU-20", "region": "eu", "channel": "marketplace-x", "percent": 0.25},
    ]
    return cfg


def read_log(path):
    recs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(json.loads(line))
            except ValueError as e:
                raise TestFailure("%s:%d: not JSON (%s): %s" % (path, n, e, line[:200]))
    if not recs:
        raise TestFailure("feed log %s is empty" % path)
    return recs


def check_log_shape(ck, recs, sources):
    """The feed's own contract, as far as this test relies on it."""
    by = {}
    for r in recs:
        by.setdefault(r["source"], []).append(r)
    ck.eq(sorted(by), sorted(sources), "sources in the feed log")
    for src, rs in by.items():
        last = max(rs, key=lambda r: r["seq"])
        ck.check(last["events"] == [["heartbeat"]] and last.get("sent") is True
                 and last.get("copies") == 1,
                 "%s: last logged message (seq %d) should be a heartbeat sent once, got %s",
                 src, last["seq"], json.dumps(last)[:300])


def wait_applied(d, final_seq, timeout_s):
    """Wait until every source's last_seq reaches its final logged seq."""
    last = {}

    def done():
        nonlocal last
        d.check_alive()
        last = d.sources()
        return all(last.get(s, {}).get("last_seq") == q for s, q in final_seq.items())
    try:
        harness.wait_until(done, timeout_s, 0.2, "every source's last_seq to reach the log's final seq")
    except TestFailure:
        for s, q in final_seq.items():
            print("  %s: want last_seq %d, atpd says %s" % (s, q, json.dumps(last.get(s))))
        raise


def compare(ck, got, want, stale, where, mismatches):
    bad = [f for f in FIELDS if got.get(f) != want[f]]
    if got.get("stale") is not stale:
        bad.append("stale")
    for f in ("sku", "region", "channel"):
        if got.get(f) != want[f]:
            bad.append(f)
    ck.count += 1
    if bad:
        mismatches.append((where, bad, got, want, stale))
    return not bad


def explain(m, want):
    """Model detail for one (sku, region): every location's buckets."""
    out = []
    for loc in m.region_locs[want["region"]]:
        pos = m.positions.get((want["sku"], loc))
        owners = {b: m.authority.get((loc, i)) for i, b in enumerate(model.BUCKET_NAMES)}
        out.append("      %-8s %s net=%d owners=%s" % (loc, pos, m.net(want["sku"], loc), owners))
    return "\n".join(out)


def main(h):
    if h.feed_bin is None:
        raise TestFailure("atp-feed not built under %s" % h.bin_dir)
    ck = harness.Checks(h)
    small = harness.SANITIZER
    # >= 100,000 events in the normal build; 1/5 of that under sanitizers.
    m1, m2 = (280, 140) if small else (1400, 700)
    skus = 100 if small else 500
    rate = 500 if small else 1000

    cfg = build_config(h)
    m = model.Model(cfg)
    d = h.start_atpd(cfg)
    h.log("atpd pid %d up: query %s ingest %s", d.pid, d.query_url, d.ingest_url)

    before = d.sources()
    ck.eq(list(before), [s["id"] for s in cfg["sources"]], "sources in configuration order")
    for s in before.values():
        ck.eq((s.get("state"), s.get("last_seq"), s.get("messages")), ("waiting", 0, 0),
              "%s before any message (state, last_seq, messages)" % s.get("id"))

    common = ["--batch", 50, "--skus", skus, "--sku-prefix", "SKU-", "--rate", rate,
              "--set-ratio", 0.1, "--dup", 0.02, "--reorder", 0.02, "--quiet"]
    log1 = os.path.join(d.dir, "feed1.jsonl")
    log2 = os.path.join(d.dir, "feed2.jsonl")
    t = time.monotonic()
    d.feed(["--source", "wms-east", "--source", "3pl-acme", "--messages", m1,
            "--seed", 20240611, "--drop", 0.02 if small else 0.01, "--log", log1] + common, log_name="feed1")
    d.feed(["--source", "erp-eu", "--messages", m2, "--seed", 777, "--session", ERP_SESSION,
            "--drop", 0, "--log", log2] + common, log_name="feed2")
    h.log("feeds done in %.1f s", time.monotonic() - t)

    recs1, recs2 = read_log(log1), read_log(log2)
    check_log_shape(ck, recs1, ["wms-east", "3pl-acme"])
    check_log_shape(ck, recs2, ["erp-eu"])
    recs = recs1 + recs2
    n_events = sum(len(r["events"]) for r in recs)
    n_dropped = sum(1 for r in recs if not r.get("sent", True))
    n_dup = sum(max(0, r.get("copies", 1) - 1) for r in recs)
    h.log("log: %d messages, %d events, %d dropped, %d duplicate copies",
          len(recs), n_events, n_dropped, n_dup)
    if not small and n_events < 100000:
        raise TestFailure("only %d events generated; this test needs >= 100,000" % n_events)

    info = m.replay_log(recs)
    final_seq = {s: i["final_seq"] for s, i in info.items()}
    t = time.monotonic()
    wait_applied(d, final_seq, 60)
    h.log("atpd applied every source's last message %.1f s after the feeds ended",
          time.monotonic() - t)

    # ---- feed health per source
    gapped = {s for s in m.sources if m.counters[s]["gaps"] > 0}
    for s in ("wms-east", "3pl-acme"):
        if m.counters[s]["gaps"] == 0:
            raise TestFailure("the seeded feed dropped nothing inside %s's stream; "
                              "pick another --seed" % s)
    got_src = d.sources()
    for s in m.sources:
        g, w, i = got_src[s], m.counters[s], info[s]
        ck.eq(g.get("state"), "gapped" if s in gapped else "ok", "%s state" % s)
        ck.eq(g.get("last_seq"), i["final_seq"], "%s last_seq" % s)
        ck.eq(g.get("messages"), w["messages"], "%s messages applied" % s)
        # `events` counts events applied to positions: a heartbeat event
        # is counted in `heartbeats` only (PROTOCOL.md, `sources`).
        ck.eq(g.get("events"), w["events"] - w["heartbeats"],
              "%s events (applied, heartbeats not included)" % s)
        ck.eq(g.get("duplicates"), w["duplicates"],
              "%s duplicates (%d duplicated copies in the log, %s late first message)"
              % (s, i["dup_copies"], i["late_first"] or "no"))
        ck.eq(g.get("gaps"), w["gaps"], "%s gaps (runs of dropped seqs after the first "
              "received message; dropped seqs %s)" % (s, i["dropped_seqs"]))
        ck.eq(g.get("missed"), w["missed"], "%s missed" % s)
        for k in ("rejected_messages", "unauthorized", "unknown_location"):
            ck.eq(g.get(k), 0, "%s %s" % (s, k))
        ck.eq(g.get("heartbeats"), w["heartbeats"], "%s heartbeats (of applied messages)" % s)
        if i["leading_drops"]:
            h.log("note: %s dropped its first seqs %s (not a gap by PROTOCOL.md)",
                  s, i["leading_drops"])
    st = d.ctl("status")
    ck.eq(st.get("skus"), len(m.skus), "status.skus")
    ing = st.get("ingest", {})
    ck.eq(ing.get("bad_messages"), 0, "status.ingest.bad_messages")
    ck.eq(ing.get("unknown_source"), 0, "status.ingest.unknown_source")
    h.log("status: skus %s positions %s (model: %d touched positions)",
          st.get("skus"), st.get("positions"), len(m.positions))

    stale = {r: any(s in gapped for s in m.sources_feeding(r)) for r in m.regions}
    ck.eq(stale, {"us-east": True, "us-west": True, "eu": False},
          "regions expected stale (test design)")
    missing = [s for s in RULE_SKUS if s not in m.skus]
    if missing:
        raise TestFailure("buffer-rule SKUs %s never appear in the feed log (sample ids: %s); "
                          "the SKU naming of atp-feed changed" % (missing, sorted(m.skus)[:5]))

    # ---- phase 1: every (sku, region, channel) after the feeds
    sku_list = sorted(m.skus)
    cov = compare_all(h, ck, d, m, stale, sku_list, "after feeds")
    got = d.ctl("atp", "NEVER-SEEN-SKU", "eu")
    ck.eq((got.get("atp"), got.get("supply"), got.get("reserved")), (0, 0, 0),
          "unknown SKU: (atp, supply, reserved)")
    # The comparison must exercise the formula, or it proves little.
    n_answers = len(sku_list) * len(m.regions) * len(m.channels)
    ck.eq(sorted(cov["levels"]), sorted(n for _, n in model.RULE_LEVELS), "rule levels exercised")
    ck.check(cov["atp_pos"] > n_answers // 4, "only %d of %d answers with ATP > 0",
             cov["atp_pos"], n_answers)
    ck.check(cov["atp_zero_supply_pos"] > 0, "no answer where the buffer ate all of a supply")
    ck.check(cov["pct_buffers"] > 0, "no percent buffer ever exceeded its units")
    neg = sum(1 for p in m.positions.values() if p[0] - p[1] - p[2] < 0)
    ck.check(neg > 0, "no position with on_hand < allocated + held: clamping untested")
    h.log("coverage: %d rule levels, %d answers with ATP > 0, %d percent buffers, "
          "%d positions clamped at 0", len(cov["levels"]), cov["atp_pos"], cov["pct_buffers"], neg)
    ck.done()

    # ---- phase 2: reservations move `reserved`; a supply drop shows `shortfall`
    reservations_phase(h, ck, d, m, sku_list, info)
    compare_all(h, ck, d, m, stale, sku_list, "after reservations")
    ck.done()
    d.stop()
    h.log("atpd stopped cleanly")


def compare_all(h, ck, d, m, stale, sku_list, label):
    """Every (sku, region, channel) through `atpctl cart` batches of <= 1000
    lines, plus `regions` and `atp` for a sample. Fails on any mismatch."""
    pairs = [(s, r) for s in sku_list for r in m.regions]
    mismatches = []
    cov = {"levels": set(), "atp_pos": 0, "pct_buffers": 0, "atp_zero_supply_pos": 0}
    t = time.monotonic()
    calls = 0
    for ch in m.channels:
        for i in range(0, len(pairs), 1000):
            chunk = pairs[i:i + 1000]
            stdin = "".join("%s %s 1\n" % p for p in chunk)
            rep = d.ctl("cart", "-", "--channel", ch, stdin=stdin, timeout_s=60)
            calls += 1
            lines = rep.get("lines")
            if not isinstance(lines, list) or len(lines) != len(chunk):
                raise TestFailure("cart reply has %s lines for %d asked"
                                  % (len(lines) if isinstance(lines, list) else lines, len(chunk)))
            all_avail = True
            for (sku, reg), got in zip(chunk, lines):
                want = m.answer(sku, reg, ch)
                cov["levels"].add(want["rule"])
                cov["atp_pos"] += want["atp"] > 0
                cov["atp_zero_supply_pos"] += want["atp"] == 0 and want["supply"] > 0
                cov["pct_buffers"] += want["buffer"] > m.rule(sku, reg, ch)[0]
                compare(ck, got, want, stale[reg], "cart %s" % ch, mismatches)
                if got.get("qty") != 1 or got.get("available") is not (want["atp"] >= 1):
                    mismatches.append(("cart %s qty/available" % ch, ["qty/available"],
                                       got, dict(want, qty=1, available=want["atp"] >= 1),
                                       stale[reg]))
                all_avail &= want["atp"] >= 1
            ck.eq(rep.get("available"), all_avail, "%s: cart top-level available (%s, chunk %d)"
                  % (label, ch, i // 1000))
    h.log("%s: compared %d answers in %d cart calls (%.1f s)", label,
          len(pairs) * len(m.channels), calls, time.monotonic() - t)

    rnd = random.Random(5)
    sample = sorted(set(RULE_SKUS) | set(rnd.sample(sku_list, min(25, len(sku_list)))))
    for sku in sample:
        for ch in m.channels:
            rep = d.ctl("regions", sku, "--channel", ch)
            regs = rep.get("regions") or []
            ck.eq([x.get("region") for x in regs], m.regions,
                  "regions %s %s: regions in configuration order" % (sku, ch))
            for got in regs:
                if got.get("region") in m.regions:
                    compare(ck, got, m.answer(sku, got["region"], ch), stale[got["region"]],
                            "regions %s" % ch, mismatches)
    for sku in sample[:8]:
        for reg in m.regions:
            ch = rnd.choice(m.channels)
            args = ["atp", sku, reg] + ([] if ch == "default" else ["--channel", ch])
            compare(ck, d.ctl(*args), m.answer(sku, reg, ch), stale[reg], "atp", mismatches)

    if mismatches:
        print("\n%s: %d mismatching answers; first ones (got = atpd, want = model):"
              % (label, len(mismatches)))
        for where, bad, got, want, stl in mismatches[:10]:
            print("  [%s] %s/%s/%s fields %s" % (where, want["sku"], want["region"],
                                                want["channel"], bad))
            print("    got : %s" % json.dumps(got, sort_keys=True))
            print("    want: %s stale=%s" % (json.dumps(want, sort_keys=True), stl))
            print(explain(m, want))
        ck.failures.append("%s: %d answers differ from the model" % (label, len(mismatches)))
    return cov


def reservations_phase(h, ck, d, m, sku_list, info):
    """Grant reservations within the model's ATP, check refusals, replays,
    conflicts and release; then zero the eu supply of reserved SKUs through
    erp-eu's next seq so `shortfall` shows."""
    rq = harness.ReqClient(d.query_port)
    try:
        granted = {}  # id -> merged lines [(sku, region, qty)]
        n = 0
        for i, sku in enumerate(sku_list[:120]):
            reg = m.regions[i % len(m.regions)]
            ch = m.channels[i % len(m.channels)]
            atp = m.answer(sku, reg, ch)["atp"]
            if atp == 0:
                continue
            qty = 1 + (i * 7919) % atp
            rid = "itest-%d" % i
            req = {"op": "reserve", "id": rid, "channel": ch, "lines": [[sku, reg, qty]]}
            rep = rq.request(req)
            if not ck.check(rep.get("ok") is True and rep.get("granted") is True,
                            "reserve %s %s/%s/%s qty %d (model ATP %d): %r",
                            rid, sku, reg, ch, qty, atp, rep):
                continue
            m.reserve(sku, reg, qty)
            granted[rid] = (req, [(sku, reg, qty)])
            n += 1
            if n % 10 == 0:  # one more unit than ATP now: refused, nothing stored
                left = m.answer(sku, reg, ch)["atp"]
                rep = rq.request({"op": "reserve", "id": rid + "-over", "channel": ch,
                                  "lines": [[sku, reg, left + 1]]})
                lines = rep.get("lines") or [{}]
                ck.check(rep.get("ok") is True and rep.get("granted") is False
                         and lines[0].get("available") == left and lines[0].get("ok") is False,
                         "reserve ATP+1 (%s/%s/%s, model ATP %d) must be refused with "
                         "available %d: %r", sku, reg, ch, left, left, rep)
        ck.check(n >= 30, "only %d reservations granted", n)
        # Same id, same content: the original answer; different content: conflict.
        rid, (req, lines) = sorted(granted.items())[0]
        rep = rq.request(req)
        ck.check(rep.get("ok") is True and rep.get("granted") is True and rep.get("replayed") is True,
                 "reserve replay of %s: %r", rid, rep)
        bad = dict(req, lines=[[lines[0][0], lines[0][1], lines[0][2] + 1]])
        rep = rq.request(bad)
        ck.check(rep.get("ok") is False and (rep.get("error") or {}).get("name") == "conflict",
                 "reserve %s with other content: want conflict, got %r", rid, rep)
        # Release one: its quantity stops counting.
        rid, (req, lines) = sorted(granted.items())[1]
        rep = rq.request({"op": "release", "id": rid})
        if ck.check(rep.get("ok") is True, "release %s: %r", rid, rep):
            for sku, reg, qty in lines:
                m.reserve(sku, reg, -qty)
            del granted[rid]
        st = d.ctl("status")
        ck.eq((st.get("reservations") or {}).get("open"), len(granted), "status.reservations.open")

        # Supply below reserved: erp-eu sets on_hand 0 at every eu location of
        # the SKUs reserved in eu (its next seq; erp-eu is not gapped).
        eu_skus = sorted({l[0] for _, ls in granted.values() for l in ls if l[1] == "eu"})
        ck.check(len(eu_skus) >= 5, "only %d SKUs reserved in eu", len(eu_skus))
        events = [[2, sku, loc, 0, 0] for sku in eu_skus for loc in m.region_locs["eu"]]
        seq = info["erp-eu"]["final_seq"] + 1
        with harness.PubClient(d.ingest_port) as pub:
            # the feed's session: the same publisher's stream goes on
            pub.send_msg(msgpack.packb([1, "erp-eu", seq, int(time.time() * 1000), events,
                                      ERP_SESSION]))
            harness.wait_until(lambda: d.sources()["erp-eu"]["last_seq"] == seq, 10, 0.05,
                               "erp-eu seq %d applied" % seq)
        m.apply_message("erp-eu", [["set", e[1], e[2], "on_hand", 0] for e in events])
        short = [s for s in eu_skus if m.answer(s, "eu")["shortfall"] > 0]
        ck.check(len(short) >= 5, "only %d SKUs with a shortfall in the model", len(short))
        h.log("reservations: %d open, %d eu SKUs driven into shortfall", len(granted), len(short))
    finally:
        rq.close()


if __name__ == "__main__":
    harness.run(main, "model")
