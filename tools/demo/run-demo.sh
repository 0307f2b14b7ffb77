#!/usr/bin/env bash
# run-demo.sh BUILD_DIR - the `make run` demo: atpd with config/demo.yaml,
# fed live by one atp-feed per source (WMS, 3PL, ERP). Ctrl-C stops all of it.
# DEMO_MINUTES (default 60) bounds how long the feeds run.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/../.." && pwd)
config="$here/config/demo.yaml"
minutes=${DEMO_MINUTES:-60}
data=$(mktemp -d "${TMPDIR:-/tmp}/atpd-demo.XXXXXX")
pids=()

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping ${#pids[@]} processes"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$data"
}
trap stop_all INT TERM EXIT

"$build/atpd" --check-config "$config" >/dev/null
"$build/atpd" --config "$config" --data-dir "$data" &
pids+=($!)

endpoint=tcp://127.0.0.1:7450
ready=0
for _ in $(seq 1 50); do
  if "$build/atpctl" --endpoint "$endpoint" --timeout 200 status >/dev/null 2>&1; then ready=1; break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "demo: atpd exited; see the messages above" >&2; exit 1; fi
  sleep 0.1
done
[ "$ready" = 1 ] || { echo "demo: atpd did not answer on $endpoint" >&2; exit 1; }

# The demo's three sources (config/demo.yaml): a WMS, a 3PL and an ERP.
# The fourth, my-feed, is left for the README's atp-feed example.
seed=1
for src in wms-east 3pl-acme erp; do
  "$build/atp-feed" --config "$config" --source "$src" --rate 20 --batch 25 \
    --skus 200 --seed $seed --duration $((minutes * 60)) --quiet &
  pids+=($!)
  seed=$((seed + 1))
done
sleep 1

cat <<MSG

  atpd demo is running (feeds stop by themselves after $minutes minutes).
    queries (REQ/REP):  $endpoint
    HTTP/JSON API:      http://127.0.0.1:7080/v1 (docs/HTTP.md)
    source feeds (SUB): tcp://127.0.0.1:7451
    change feed (PUB):  tcp://127.0.0.1:7452
    resync (PUB):       tcp://127.0.0.1:7453
    config:             $config
    data directory:     $data (removed when the demo stops)

  Try, in another terminal:
    $build/atpctl atp SKU-1 us-east
    $build/atpctl regions SKU-1 --channel web
    $build/atpctl sources
    printf 'SKU-1 us-east 2\nSKU-2 eu 1\n' | $build/atpctl cart -
    $build/atpctl --json atp SKU-1 us-east
    $build/atpctl reserve cart-1 SKU-1:us-east:2 --ttl 15m
    $build/atpctl watch us-east --count 5
    $build/atpctl inspect $data
    curl -s http://127.0.0.1:7080/v1/availability/SKU-1/us-east
    curl -s -X POST http://127.0.0.1:7080/v1/reservations -d '{"id": "cart-2", "lines": [{"sku": "SKU-1", "region": "us-east", "qty": 1}]}'
    curl -sN 'http://127.0.0.1:7080/v1/changes?region=us-east'
    # region lab is yours: its source my-feed is not run by the demo
    $build/atp-feed --config $config --source my-feed --messages 1000 --rate 100

  Ctrl-C stops atpd and the feeds.

MSG
wait "${pids[0]}"
