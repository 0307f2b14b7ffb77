#!/usr/bin/env bash
# smoke.sh - ctest smoke test of atp-bench (label `bench`): runs the whole
# `quick` scenario at the smallest scale (--tiny), then a tiny replay of
# bench/testdata/retail-sample.csv, and checks that each JSON report is
# valid and has the keys a report must have. It does not judge the numbers
# (CI machines are noisy); docs/PERFORMANCE.md is where numbers are judged.
# It does judge atpd: a warning or error in any atpd log of the runs fails
# the test, and the quick run's flash sale (one hot SKU, 4 units per
# location, 4x the tiny peak rate so that releases happen too) must sell
# out, so that its no-oversell check is tested against refusals.
#
# usage: bench/smoke.sh PATH/TO/atp-bench [WORKDIR]
set -euo pipefail

bench=${1:?usage: smoke.sh PATH/TO/atp-bench [WORKDIR]}
here=$(cd "$(dirname "$0")" && pwd)
work=${2:-}
if [ -z "$work" ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/atp-bench-smoke.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

run() { # bounded in time: a hung run fails the test instead of the CI job;
  # --keep: the runs' directories (atpd logs) stay in $work until the end
  timeout --kill-after=10 240 "$bench" "$@" --quiet --keep --tmpdir "$work"
}

echo "smoke: atp-bench --scenario quick --tiny --hot 1 --hot-stock 4 --peak-rate 2000"
run --scenario quick --tiny --hot 1 --hot-stock 4 --peak-rate 2000 --json "$work/quick.json" \
    --plot "$work/plot" > "$work/quick.txt"
echo "smoke: atp-bench --scenario reserve --tiny --replay retail-sample.csv"
run --scenario reserve --tiny --replay "$here/testdata/retail-sample.csv" \
    --json "$work/replay.json" > "$work/replay.txt"

echo "smoke: atp-bench --scenario reserve --tiny --reserve-mix 0,0,100 --sched batch"
run --scenario reserve --tiny --no-redis --no-echo --reserve-mix 0,0,100 --sched batch \
    --json "$work/mix.json" > "$work/mix.txt"
echo "smoke: atp-bench --scenario point --tiny --rate 500 --client nng"
run --scenario point --tiny --no-redis --rate 500 --client nng \
    --json "$work/nng.json" > "$work/nng.txt"

# atpd over HTTP and the HTTP floor (about 7 s), when atp-bench has its
# libcurl backend: every operation over HTTP, without an error.
http_json=()
if ldd "$bench" 2>/dev/null | grep -q libcurl; then
  echo "smoke: atp-bench --scenario point|reserve --tiny --http --no-nng"
  # with wrk, also pipelined (clients/conns requests on each connection)
  wrk_args=()
  if command -v wrk > /dev/null; then wrk_args=(--wrk --http-pipeline); fi
  run --scenario point --tiny --http --no-nng --no-redis "${wrk_args[@]}" \
      --json "$work/http-point.json" > "$work/http-point.txt"
  run --scenario reserve --tiny --http --no-nng --no-redis \
      --json "$work/http-reserve.json" > "$work/http-reserve.txt"
  http_json=("$work/http-point.json" "$work/http-reserve.json")
else
  echo "smoke: atp-bench has no HTTP backend (no libcurl): HTTP runs skipped"
fi

# Every atpd the runs started logs at warn or info level: a warn or error
# line is a defect the numbers would hide.
logs=$(find "$work" -name 'atpd*.log' | sort)
if [ -z "$logs" ]; then
  echo "smoke: FAIL: no atpd log under $work"
  exit 1
fi
bad=$(awk '$2 == "warn" || $2 == "error" { print FILENAME ": " $0 }' $logs | head -20)
if [ -n "$bad" ]; then
  echo "smoke: FAIL: atpd logged warnings or errors:"
  echo "$bad"
  exit 1
fi
echo "smoke: $(echo "$logs" | wc -l) atpd logs without a warning or error"

python3 - "$work/quick.json" "$work/replay.json" "$work/mix.json" "$work/nng.json" \
    "${http_json[@]}" <<'PY'
import json, math, sys

def fail(msg):
    print("smoke: FAIL:", msg)
    sys.exit(1)

RESULT_KEYS = ["scenario", "op", "system", "mode", "clients", "ops_per_s", "p50_us",
               "p90_us", "p99_us", "p999_us", "max_us", "errors", "refused",
               "ratio_vs_echo", "ratio_vs_redis"]
for path in sys.argv[1:]:
    try:
        r = json.load(open(path))
    except Exception as e:
        fail(f"{path}: not valid JSON: {e}")
    for k in ["tool", "version", "scenario", "machine", "versions", "parameters", "results",
              "targets", "warnings"]:
        if k not in r:
            fail(f"{path}: missing key {k}")
    for k in ["nproc", "cpu_model", "kernel", "wake_rtt_us"]:
        if k not in r["machine"]:
            fail(f"{path}: machine.{k} missing")
    # same_cpu is always measured; cross_cpu is null where atp-bench may
    # run on one CPU only (affinity, cpuset)
    wake = r["machine"]["wake_rtt_us"]
    same, cross = wake.get("same_cpu"), wake.get("cross_cpu", "missing")
    if not (isinstance(same, (int, float)) and same > 0):
        fail(f"{path}: machine.wake_rtt_us.same_cpu is {same}")
    if cross is not None and not (isinstance(cross, (int, float)) and cross > 0):
        fail(f"{path}: machine.wake_rtt_us.cross_cpu is {cross}")
    for k in ["atpd", "nng"]:
        if not r["versions"].get(k):
            fail(f"{path}: versions.{k} missing")
    if not r["results"]:
        fail(f"{path}: no results")
    for e in r["results"]:
        for k in RESULT_KEYS:
            if k not in e:
                fail(f"{path}: result {e.get('scenario')}/{e.get('op')} lacks {k}")
        if e["system"] == "atpd" and e["ops_per_s"] <= 0:
            fail(f"{path}: {e['scenario']}/{e['op']}: no atpd operation completed")
        if e["system"] == "atpd" and e["errors"] > 0:
            print(f"smoke: note: {e['scenario']}/{e['op']}: {e['errors']} errors")
        lat = (e["p50_us"], e["p99_us"], e["max_us"])  # null: not timed (pipelined wrk)
        if None in lat and lat != (None, None, None):
            fail(f"{path}: {e['scenario']}/{e['op']}/{e['system']}: latency in part: {lat}")
        if None in lat:
            if e["system"] not in ("atpd-http-wrk", "http-floor-wrk"):
                fail(f"{path}: {e['scenario']}/{e['op']}/{e['system']}: no latency")
        elif lat[0] > lat[1] + 1e-6 or lat[1] > lat[2] + 1e-6:
            fail(f"{path}: {e['scenario']}/{e['op']}: percentiles out of order")
    for t in r["targets"]:
        for k in ["name", "goal", "measured", "unit", "met"]:
            if k not in t:
                fail(f"{path}: target lacks {k}")
    for w in r["warnings"]:
        print("smoke: warning from the run:", w)

q = json.load(open(sys.argv[1]))
systems = {(e["scenario"], e["system"]) for e in q["results"]}
for sc in ["point", "cart", "reserve-single", "reserve-cart", "atp+ingest", "peak"]:
    if (sc, "atpd") not in systems:
        fail(f"quick: scenario {sc} has no atpd result")
for sec in ["ingest", "restart", "memory", "flash_sale"]:
    if sec not in q:
        fail(f"quick: section {sec} missing")
ing = q["ingest"]
if not ing["complete"] or ing["unaccounted"] != 0:
    fail(f"quick: ingest accounting: complete={ing['complete']} unaccounted={ing['unaccounted']}")
burst = q.get("ingest_burst_no_flow_control", {})
if burst and burst["unaccounted"] != 0:
    fail(f"quick: burst ingest left {burst['unaccounted']} seqs unaccounted")
if not q["flash_sale"]["no_oversell"]:
    fail("quick: flash sale oversold")
# A sale that never refused proves nothing about overselling.
sold = [e for e in q["results"] if (e["scenario"], e["system"], e["op"]) == ("peak", "atpd", "reserve")]
if q["flash_sale"]["first_refusal_after_s"] < 0 or not sold or sold[0]["refused"] < 1:
    fail(f"quick: the flash sale did not sell out: "
         f"{ {k: v for k, v in q['flash_sale'].items() if k != 'rows'} }")
sale = [t for t in q["targets"] if t["name"].startswith("flash sale: no oversell")]
if len(sale) != 1 or sale[0]["met"] is not True or sale[0]["measured"] != 0:
    fail(f"quick: the flash-sale target line is missing or not met: {sale}")
rs = q["restart"]
if rs["open_after_sigterm"] != rs["open_before"] or rs["open_after_sigkill"] != rs["open_before"]:
    fail(f"quick: restart lost reservations: {rs}")
rp = json.load(open(sys.argv[2]))
if not any(e["scenario"] == "reserve-replay" and e["mode"] == "replay" for e in rp["results"]):
    fail("replay: no replayed reservations")
# the echo floor runs under the same ingest load as atpd in atp+ingest
if ("atp+ingest", "echo") not in systems:
    fail("quick: atp+ingest has no echo floor")
for e in q["results"]:
    if e["mode"] == "open" and "send_lag_p99_us" not in e:
        fail(f"quick: {e['scenario']}/{e['system']}: no send_lag_p99_us")
mx = json.load(open(sys.argv[3]))
if mx["parameters"]["reserve_mix"] != [0, 0, 100]:
    fail(f"mix: parameters.reserve_mix is {mx['parameters']['reserve_mix']}")
if mx["parameters"]["scheduling"] != "batch" or q["parameters"]["scheduling"] != "normal":
    fail(f"scheduling: --sched batch run says {mx['parameters']['scheduling']}, "
         f"the default run {q['parameters']['scheduling']}")
ops = {e["op"] for e in mx["results"] if e["scenario"] == "reserve-single"}
if ops != {"reserve"}:
    fail(f"mix: --reserve-mix 0,0,100 sent {sorted(ops)}, want only reserve")
ng = json.load(open(sys.argv[4]))
if not any(e["system"] == "atpd" and e["ops_per_s"] > 0 for e in ng["results"]):
    fail("nng client: no atpd operation completed")
if len(sys.argv) > 5:  # the --http runs
    want = {("point", "atp")} | {(sc, op) for sc in ("reserve-single", "reserve-cart")
                                 for op in ("reserve", "commit", "release")}
    got = {}
    for path in sys.argv[5:]:
        for e in json.load(open(path))["results"]:
            got[(e["scenario"], e["op"], e["system"])] = e
    for sc, op in sorted(want):
        for system in ("atpd-http", "http-floor"):
            e = got.get((sc, op, system))
            if e is None or e["ops_per_s"] <= 0:
                fail(f"http: {sc}/{op}: no {system} operation completed")
            if e["errors"] > 0:
                fail(f"http: {sc}/{op}/{system}: {e['errors']} errors")
    for system in ("atpd-http-wrk", "http-floor-wrk"):  # when wrk ran
        e = got.get(("point", "atp", system))
        if e is not None and (e["ops_per_s"] <= 0 or e["errors"] > 0):
            fail(f"http: pipelined point/{system}: {e['ops_per_s']} ops/s, "
                 f"{e['errors']} errors")
    print(f"smoke: http: {len(got)} results, every operation over HTTP without an error")
print("smoke: OK (%d + %d + %d + %d results)" % (len(q["results"]), len(rp["results"]),
      len(mx["results"]), len(ng["results"])))
PY
