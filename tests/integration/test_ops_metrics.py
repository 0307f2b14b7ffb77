#!/usr/bin/python3
"""test_ops_metrics.py - GET /metrics and the latency in status (issue 15,
docs/METRICS.md).

- /metrics answers 200 text/plain; version=0.0.4, and `promtool check
  metrics` (Debian's prometheus package) finds no problem in it, before
  and after traffic;
- every sample belongs to a family with HELP and TYPE, no series twice,
  histogram buckets cumulative with +Inf equal to _count;
- requests over nng and HTTP, including errors (unknown region, unknown
  op, unknown route), move atpd_request_duration_seconds_count and
  atpd_request_errors_total by exactly what the test sent, by transport,
  op and code; reservation grants and HTTP requests likewise;
- the source's state, last seq and events match what the test published;
- status.latency has per-op counts (both transports) and p50 <= p99 <=
  p999 as integers; `atpctl status` shows them;
- atpd_ready is 1 once ready; atpd_source_age_seconds grows while the
  source is quiet (its lag does not);
- the reservation log's figures are the log's, not the configuration's:
  with durability sync atpd_store_log_present 1 and
  atpd_store_log_size_bytes the size of reservations.log, bytes in use
  growing with reservations; with durability nosync (no log, its file
  removed) present 0, size 0, used 0;
- the store's latency histograms: after the two reservations with the
  log on, atpd_store_log_sync_seconds_count grew by 1 or 2 (group
  commit), as much as the log's appends, with a _sum > 0; the LMDB
  commits behind them move atpd_store_commit_seconds_count (waited for:
  the applier runs behind the replies); without the log no sync at all.
"""

import http.client
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402

PROMTOOL = "/usr/bin/promtool"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def scrape(d):
    """(content type, text) of GET /metrics."""
    host, port = H.http_addr(d)
    conn = http.client.HTTPConnection(host, port, timeout=10 * harness.TIME_FACTOR)
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    body = r.read()
    conn.close()
    if r.status != 200:
        raise harness.TestFailure("GET /metrics: HTTP %d %r" % (r.status, body[:300]))
    return r.getheader("Content-Type"), body.decode("utf-8")


def promtool(h, ck, text, what):
    """promtool check metrics reads the exposition on stdin; any output is
    a problem it found (its exit status is not 0 then either)."""
    with tempfile.TemporaryFile() as f:
        f.write(text.encode())
        f.seek(0)
        r = subprocess.run([PROMTOOL, "check", "metrics"], stdin=f,
                           capture_output=True, timeout=60 * harness.TIME_FACTOR)
    out = (r.stdout + r.stderr).decode(errors="replace").strip()
    ck.check(r.returncode == 0 and out == "",
             "promtool check metrics (%s): exit %d: %s", what, r.returncode, out[:2000])


def parse(ck, text):
    """{(name, ((label, value), ...)): float}, checking the structure."""
    types, helps, series = {}, set(), {}
    for line in text.split("\n"):
        if line == "":
            continue
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            ck.check(name not in types, "family %s declared twice", name)
            types[name] = typ
            continue
        m = SAMPLE.match(line)
        if not m:
            ck.check(False, "not a sample line: %r", line)
            continue
        name, _, labels, value = m.groups()
        lv = tuple((k, v) for k, v, _ in LABEL.findall(labels or ""))
        fam = re.sub(r"_(bucket|sum|count)$", "", name)
        fam = fam if fam in types and types[fam] == "histogram" else name
        ck.check(fam in types and fam in helps, "sample %s has no TYPE/HELP", name)
        key = (name, lv)
        ck.check(key not in series, "series %r twice", key)
        series[key] = float(value)
    # Histograms: buckets cumulative, +Inf == _count.
    for (name, lv), v in series.items():
        if not name.endswith("_count") or types.get(name[:-6]) != "histogram":
            continue
        base = name[:-6]
        buckets = sorted(((float(dict(l)["le"]), n) for (nm, l), n in series.items()
                          if nm == base + "_bucket"
                          and tuple(x for x in l if x[0] != "le") == lv),
                         key=lambda x: x[0])
        ck.check(buckets and buckets[-1][0] == float("inf") and buckets[-1][1] == v,
                 "%s%r: +Inf bucket equals the count %s", base, lv, v)
        ck.check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
                 "%s%r: buckets cumulative", base, lv)
    return series


def get(series, name, **labels):
    return series.get((name, tuple(labels.items())), 0.0)


def main(h):
    if not os.path.exists(PROMTOOL):
        harness.skip("promtool not installed (Debian package prometheus; "
                     "scripts/install-deps.sh installs it)")
    ck = harness.Checks(h)
    cfg = H.http_config(h)
    d = h.start_atpd(cfg)
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    H.seed(feed, [("A", "E1", 100), ("B", "W1", 50)])
    seq = feed.publish("wms", [[2, "C", "E1", 0, 7]])
    w = H.Http(d)

    ctype, text0 = scrape(d)
    ck.eq(ctype, "text/plain; version=0.0.4; charset=utf-8", "content type")
    promtool(h, ck, text0, "before traffic")
    s0 = parse(ck, text0)
    ck.eq(get(s0, "atpd_source_state", source="wms", state="ok"), 1.0, "source wms ok")
    ck.eq(get(s0, "atpd_source_state", source="wms", state="silent"), 0.0, "not silent")
    ck.eq(get(s0, "atpd_source_last_seq", source="wms"), float(seq), "last seq")
    ck.eq(get(s0, "atpd_source_events_total", source="wms"), 3.0, "events")
    ck.check(get(s0, "atpd_process_resident_memory_bytes") > 0, "RSS reported")
    ck.check(("atpd_store_map_bytes", ()) in s0, "store map size reported")
    ck.eq(get(s0, "atpd_ready"), 1.0, "atpd_ready once ready")
    log_path = os.path.join(cfg["service"]["data_dir"], "reservations.log")
    ck.eq(get(s0, "atpd_store_log_present"), 1.0, "the reservation log is present")
    ck.eq(get(s0, "atpd_store_log_size_bytes"), float(os.path.getsize(log_path)),
          "atpd_store_log_size_bytes = the size of reservations.log")
    age0 = s0.get(("atpd_source_age_seconds", (("source", "wms"),)))
    ck.check(age0 is not None and age0 >= 0, "atpd_source_age_seconds of wms: %r", age0)
    if not harness.SANITIZER:  # sanitizer builds run without jemalloc
        ck.check(get(s0, "atpd_jemalloc_allocated_bytes") > 0, "jemalloc allocated")
        ck.check(get(s0, "atpd_jemalloc_resident_bytes") > 0, "jemalloc resident")

    # ---- traffic: over nng ------------------------------------------------
    for _ in range(4):
        c.atp("A", "east")
    for _ in range(2):
        r = c.req({"op": "atp", "sku": "A", "region": "nowhere"})
        ck.eq(harness.error_name(r), "unknown_region", "nng unknown region")
    r = c.req({"op": "frobnicate"})
    ck.eq(harness.error_name(r), "unknown_op", "nng unknown op")
    r = c.reserve("m-1", [("A", "east", 2)], channel="web")
    ck.check(r.get("granted") is True, "nng reserve granted: %r", r)
    # ---- traffic: over HTTP -----------------------------------------------
    for _ in range(3):
        w.ok("GET", "/v1/availability/A/east")
    st, _, doc = w.call("GET", "/v1/availability/A/nowhere")
    ck.eq(st, 422, "HTTP unknown region status")
    st, _, doc = w.call("GET", "/v1/no/such/route")
    ck.eq(st, 404, "HTTP unknown route")
    st, _, doc = w.call("POST", "/v1/reservations",
                        {"id": "h-1", "channel": "web",
                         "lines": [{"sku": "B", "region": "west", "qty": 1}]})
    ck.eq(st, 201, "HTTP reserve granted")

    _, text1 = scrape(d)
    promtool(h, ck, text1, "after traffic")
    s1 = parse(ck, text1)

    def delta(name, **labels):
        return get(s1, name, **labels) - get(s0, name, **labels)

    dur = "atpd_request_duration_seconds_count"
    errs = "atpd_request_errors_total"
    want = [
        (dur, dict(transport="nng", op="atp"), 6),
        (dur, dict(transport="nng", op="none"), 1),
        (dur, dict(transport="nng", op="reserve"), 1),
        (dur, dict(transport="http", op="atp"), 4),
        (dur, dict(transport="http", op="none"), 1),
        (dur, dict(transport="http", op="reserve"), 1),
        (dur, dict(transport="http", op="status"), 0),
        (errs, dict(transport="nng", op="atp", code="unknown_region"), 2),
        (errs, dict(transport="nng", op="none", code="unknown_op"), 1),
        (errs, dict(transport="http", op="atp", code="unknown_region"), 1),
        (errs, dict(transport="http", op="none", code="unknown_op"), 1),
        ("atpd_reservation_grants_total", {}, 2),
        ("atpd_reservations", dict(state="held"), 2),
        # the 6 requests above, and the second scrape itself
        ("atpd_http_requests_total", {}, 7),
        ("atpd_http_rejected_total", {}, 1),
    ]
    for name, labels, n in want:
        ck.eq(delta(name, **labels), float(n), "%s%r moved by" % (name, labels))
    ck.check(get(s1, "atpd_store_log_used_bytes") > get(s0, "atpd_store_log_used_bytes"),
             "log bytes in use grew with two reservations: %r -> %r",
             get(s0, "atpd_store_log_used_bytes"), get(s1, "atpd_store_log_used_bytes"))
    ck.check(get(s1, "atpd_store_log_used_bytes") <= get(s1, "atpd_store_log_size_bytes"),
             "log bytes in use within its size")
    syncs = delta("atpd_store_log_sync_seconds_count")
    ck.check(1 <= syncs <= 2, "log fdatasyncs for two reservations: %r", syncs)
    ck.eq(syncs, delta("atpd_store_log_appends_total"), "one fdatasync per log append")
    ck.check(delta("atpd_store_log_sync_seconds_sum") > 0, "log fdatasync time summed")
    commits0 = get(s0, "atpd_store_commit_seconds_count")
    ck.check(commits0 >= get(s0, "atpd_store_commits_total"),
             "each LMDB commit timed: %r",
             (commits0, get(s0, "atpd_store_commits_total")))

    def commit_seen():
        s = parse(ck, scrape(d)[1])
        return s if get(s, "atpd_store_commit_seconds_count") > commits0 else None
    sc = harness.wait_until(commit_seen, 10, what="the reservations' LMDB commit")
    ck.check(get(sc, "atpd_store_commit_seconds_sum") > get(s0, "atpd_store_commit_seconds_sum"),
             "LMDB commit time summed")
    age1 = s1.get(("atpd_source_age_seconds", (("source", "wms"),)), -1)
    ck.check(age0 is not None and age1 > age0, "a quiet source's age grows: %r -> %r", age0, age1)
    # No other error series moved.
    moved = sorted((k for k in s1 if k[0] == errs and s1[k] != s0.get(k, 0.0)))
    ck.eq(len(moved), 4, "error series that moved: %r" % (moved,))
    sum_atp = delta("atpd_request_duration_seconds_sum", transport="nng", op="atp")
    ck.check(0 < sum_atp < 6 * 10 * harness.TIME_FACTOR, "nng atp duration sum %s s", sum_atp)

    # ---- status.latency (nng and HTTP alike), and atpctl status -----------
    st = c.ok({"op": "status"})
    lat = st.get("latency", {})
    a = lat.get("atp", {})
    total_atp = get(s1, dur, transport="nng", op="atp") + get(s1, dur, transport="http", op="atp")
    ck.eq(a.get("count"), int(total_atp), "status.latency.atp.count = both transports")
    ck.check(all(isinstance(a.get(k), int) for k in ("p50_us", "p99_us", "p999_us"))
             and 0 < a["p50_us"] <= a["p99_us"] <= a["p999_us"] <= 1000000,
             "atp percentiles ordered integers: %r", a)
    ck.check("cart" not in lat, "an op never asked is left out: %r", sorted(lat))
    hst, _, hdoc = w.call("GET", "/v1/status")
    ck.check(hst == 200 and "atp" in hdoc.get("latency", {}),
             "HTTP status has latency: %r", hdoc.get("latency"))
    r = harness.run_ctl(h, ["--endpoint", d.query_url, "status"])
    ck.check(r.returncode == 0 and re.search(r"^latency\.atp\.p99_us: +\d+$", r.stdout, re.M),
             "atpctl status shows latency.atp.p99_us:\n%s", r.stdout[-1500:])

    w.close()
    feed.close()
    c.close()
    d.stop()

    # ---- durability nosync: no reservation log at all ---------------------
    cfg2 = H.http_config(h, durability="nosync")
    d2 = h.start_atpd(cfg2)
    _, text2 = scrape(d2)
    promtool(h, ck, text2, "nosync")
    s2 = parse(ck, text2)
    ck.check(not os.path.exists(os.path.join(cfg2["service"]["data_dir"], "reservations.log")),
             "nosync: no reservations.log")
    for name in ("atpd_store_log_present", "atpd_store_log_size_bytes",
                 "atpd_store_log_used_bytes", "atpd_store_log_sync_seconds_count"):
        ck.check((name, ()) in s2 and s2[(name, ())] == 0.0, "nosync: %s is 0: %r",
                 name, s2.get((name, ())))
    # No source has sent anything to d2: lag and age are absent, not 0
    # (METRICS.md), while the source's other figures are there.
    unheard = [k for k in s2 if k[0] in ("atpd_source_lag_seconds",
                                         "atpd_source_age_seconds")]
    ck.check(not unheard, "no lag or age for sources never heard from: %r", unheard)
    ck.check(any(k[0] == "atpd_source_last_seq" for k in s2),
             "the sources' other figures are reported")
    d2.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_metrics")
