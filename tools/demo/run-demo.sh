#!/usr/bin/env bash
# run-demo.sh BUILD_DIR - the `make run` demo: atpd with config/demo.yaml,
# fed live by one atp-feed per source (WMS, 3PL, ERP). Ctrl-C stops all of it.
# DEMO_MINUTES (default 60) bounds how long the feeds run. ATP_PORT_BASE
# (`make run PORT=...`, default 7450) moves the four sockets to base..base+3
# (queries, sources, change feed, resync) and the HTTP API (7080 by default)
# to base+4, so two demos, or a demo and a program that has 7450, do not
# collide.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/../.." && pwd)
config="$here/config/demo.yaml"
minutes=${DEMO_MINUTES:-60}
base=${ATP_PORT_BASE:-7450}
case "$base" in
  ''|*[!0-9]*) echo "demo: PORT=$base is not a port number" >&2; exit 2 ;;
esac
if [ "$base" -lt 1 ] || [ "$base" -gt 65531 ]; then
  echo "demo: PORT=$base: the demo needs $base..$((base + 4)), all within 1..65535" >&2
  exit 2
fi
endpoint=tcp://127.0.0.1:$base
ingest=tcp://127.0.0.1:$((base + 1))
feed=tcp://127.0.0.1:$((base + 2))
control=tcp://127.0.0.1:$((base + 3))
http=http://127.0.0.1:7080
[ "$base" = 7450 ] || http=http://127.0.0.1:$((base + 4))
ctl="$build/atpctl"
[ "$base" = 7450 ] || ctl="$build/atpctl --endpoint $endpoint"
data=$(mktemp -d "${TMPDIR:-/tmp}/atpd-demo.XXXXXX")
demo_name="demo"
# shellcheck source=tools/demo/processes.sh
. "$here/tools/demo/processes.sh"

"$build/atpd" --check-config "$config" >/dev/null
"$build/atpd" --config "$config" --data-dir "$data" --query-listen "$endpoint" \
  --ingest-listen "$ingest" --feed-listen "$feed" --control-listen "$control" \
  --http-listen "$http" &
pids+=($!)

ready=0
for _ in $(seq 1 50); do
  if "$build/atpctl" --endpoint "$endpoint" --timeout 200 status >/dev/null 2>&1; then ready=1; break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "demo: atpd exited; see the messages above (a port taken? \`make run PORT=$((base + 10))\` uses $((base + 10))..$((base + 14)))" >&2
    exit 1
  fi
  sleep 0.1
done
[ "$ready" = 1 ] || { echo "demo: atpd did not answer on $endpoint" >&2; exit 1; }

# The demo's three sources (config/demo.yaml): a WMS, a 3PL and an ERP.
# The fourth, my-feed, is left for the README's atp-feed example.
seed=1
for src in wms-east 3pl-acme erp; do
  "$build/atp-feed" --config "$config" --source "$src" --rate 20 --batch 25 \
    --skus 200 --seed $seed --duration $((minutes * 60)) --quiet \
    --endpoint "$ingest" --control "$control" &
  pids+=($!)
  seed=$((seed + 1))
done
sleep 1

cat <<MSG

  atpd demo is running (feeds stop by themselves after $minutes minutes).
    queries (REQ/REP):  $endpoint
    HTTP/JSON API:      $http/v1 (docs/HTTP.md)
    source feeds (SUB): $ingest
    change feed (PUB):  $feed
    resync (PUB):       $control
    config:             $config
    data directory:     $data (removed when the demo stops)

  Try, in another terminal:
    $ctl atp SKU-1 us-east
    $ctl regions SKU-1 --channel web
    $ctl sources
    printf 'SKU-1 us-east 2\nSKU-2 eu 1\n' | $ctl cart -
    $ctl --json atp SKU-1 us-east
    $ctl reserve cart-1 SKU-1:us-east:2 --ttl 15m
    $ctl watch us-east --count 5 --feed $feed
    $build/atpctl inspect $data
    curl -s $http/v1/availability/SKU-1/us-east
    curl -s -X POST $http/v1/reservations -d '{"id": "cart-2", "lines": [{"sku": "SKU-1", "region": "us-east", "qty": 1}]}'
    curl -sN '$http/v1/changes?region=us-east'
    # region lab is yours: its source my-feed is not run by the demo
    $build/atp-feed --config $config --source my-feed --messages 1000 --rate 100 \
      --endpoint $ingest --control $control

  Ctrl-C stops atpd and the feeds.

MSG
wait "${pids[0]}"
