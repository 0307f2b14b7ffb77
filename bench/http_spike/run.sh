#!/usr/bin/env bash
# run.sh - the HTTP library spike (docs/PERFORMANCE.md, "HTTP library spike"):
# GNU libmicrohttpd (atp-bench-http-floor) vs h2o (h2o_fixed.c), each
# answering a fixed ~200-byte JSON body with keep-alive, driven by wrk on
# loopback; interleaved repeats; requests/s, p50/p99 and the server's CPU
# per request (utime+stime from /proc/PID/stat before and after the run).
# A measurement tool, not a test. Servers bind free ports on 127.0.0.1 and
# are stopped by pid.
#
# usage: bench/http_spike/run.sh [BUILD_DIR]   (default: build)
# env: REPEAT (3), DURATION seconds (10), CONNS (32), THREADS ("1 2": server
#      threads = wrk threads), SIZE body bytes (200), SERVERS ("mhd h2o";
#      also mhd-turbo: MHD_USE_TURBO, mhd-suspend: MHD_ALLOW_SUSPEND_RESUME)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
REPEAT=${REPEAT:-3} DURATION=${DURATION:-10} CONNS=${CONNS:-32}
THREADS=${THREADS:-"1 2"} SIZE=${SIZE:-200} SERVERS=${SERVERS:-"mhd h2o"}
for t in wrk pkg-config cc; do
  command -v $t >/dev/null || { echo "run.sh: needs $t (ATP_BENCH_DEPS=1 scripts/install-deps.sh)" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/http-spike.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

cc -O2 -g -o "$tmp/h2o_fixed" "$here/h2o_fixed.c" $(pkg-config --cflags --libs libh2o-evloop) -lpthread
floor=$build/bench/atp-bench-http-floor
[ -x "$floor" ] || { echo "run.sh: $floor missing (make build)" >&2; exit 1; }
tck=$(getconf CLK_TCK)

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# start_server NAME THREADS: sets $pid and $port
start_server() {
  local out="$tmp/$1.out"
  : >"$out"
  case $1 in
    # the plain library, like h2o_fixed (atp-bench's floor allows suspend
    # and resume, as atpd does: mhd-suspend)
    mhd) "$floor" --threads "$2" --size "$SIZE" --no-suspend >"$out" 2>"$tmp/$1.err" & ;;
    mhd-turbo) "$floor" --threads "$2" --size "$SIZE" --no-suspend --turbo >"$out" 2>"$tmp/$1.err" & ;;
    mhd-suspend) "$floor" --threads "$2" --size "$SIZE" >"$out" 2>"$tmp/$1.err" & ;;
    h2o) "$tmp/h2o_fixed" --threads "$2" --size "$SIZE" >"$out" 2>"$tmp/$1.err" & ;;
  esac
  pid=$!
  pids+=("$pid")
  local deadline=$((SECONDS + 10))
  until grep -q '^port ' "$out"; do
    [ $SECONDS -lt $deadline ] || { echo "run.sh: $1 did not start" >&2; cat "$tmp/$1.err" >&2; exit 1; }
    sleep 0.05
  done
  port=$(awk '/^port /{print $2}' "$out")
}

echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) conns=$CONNS duration=${DURATION}s size=$SIZE"
printf '%-4s %-3s %-9s %10s %8s %8s %10s %6s\n' rep thr server req/s p50_us p99_us cpu_us/req errors
for rep in $(seq 1 "$REPEAT"); do
  for t in $THREADS; do
    for s in $SERVERS; do
      start_server "$s" "$t"
      c0=$(cpu_ticks "$pid")
      wrk -t"$t" -c"$CONNS" -d"${DURATION}s" -s "$here/report.lua" \
        "http://127.0.0.1:$port/v1/availability/sku-1/eu?channel=web" >"$tmp/wrk.out" 2>&1
      c1=$(cpu_ticks "$pid")
      kill "$pid"; wait "$pid" 2>/dev/null || true
      line=$(grep '^RESULT' "$tmp/wrk.out") || { cat "$tmp/wrk.out" >&2; exit 1; }
      eval "$(echo "$line" | sed 's/^RESULT //')"
      awk -v rep="$rep" -v t="$t" -v s="$s" -v n="$requests" -v d="$duration_us" \
          -v p50="$p50_us" -v p99="$p99_us" -v c="$((c1 - c0))" -v tck="$tck" -v e="$errors" \
        'BEGIN { printf "%-4s %-3s %-9s %10.0f %8d %8d %10.2f %6d\n",
                 rep, t, s, n / (d / 1e6), p50, p99, c / tck * 1e6 / n, e }'
    done
  done
done
echo "# end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
