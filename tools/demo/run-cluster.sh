#!/usr/bin/env bash
# run-cluster.sh BUILD_DIR - `make run-cluster`: the demo as a cluster
# (docs/CLUSTER.md): three nats-servers (a JetStream cluster) and three atpd
# nodes of config/demo.yaml serving one partition, each fed by its own
# atp-feed per source (same seeds: the same stock on every node). One node
# takes the lease and serves; the others are warm standbys. Ctrl-C stops all
# of it. DEMO_MINUTES (default 60) bounds how long the feeds run.
# Ports: NATS clients 4222-4224 and routes 6222-6224; node k (1..3) queries
# on 7450+10(k-1) (+1 sources, +2 change feed, +3 resync) and HTTP on
# 7079+k.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/../.." && pwd)
config="$here/config/demo.yaml"
minutes=${DEMO_MINUTES:-60}
# Debian installs it in /usr/sbin, which a user's PATH may lack.
nats_server=$(command -v nats-server || true)
[ -n "$nats_server" ] || [ ! -x /usr/sbin/nats-server ] || nats_server=/usr/sbin/nats-server
[ -n "$nats_server" ] || { echo "cluster demo: nats-server is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
data=$(mktemp -d "${TMPDIR:-/tmp}/atpd-cluster.XXXXXX")
demo_name="cluster demo"
# shellcheck source=tools/demo/processes.sh
. "$here/tools/demo/processes.sh"

nats_urls=()
for k in 1 2 3; do nats_urls+=("nats://127.0.0.1:$((4221 + k))"); done
for k in 1 2 3; do
  routes=""
  for j in 1 2 3; do
    [ "$j" = "$k" ] || routes="$routes${routes:+,}nats://127.0.0.1:$((6221 + j))"
  done
  mkdir -p "$data/nats$k"
  "$nats_server" -n "demo-nats-$k" -a 127.0.0.1 -p $((4221 + k)) -js \
    -sd "$data/nats$k" --cluster_name atpd-demo \
    --cluster "nats://127.0.0.1:$((6221 + k))" --routes "$routes" \
    >"$data/nats$k.log" 2>&1 &
  pids+=($!)
done

urls=()
for k in 1 2 3; do
  base=$((7440 + 10 * k))
  node_cfg="$data/node$k.yaml"
  cat "$config" >"$node_cfg"
  cat >>"$node_cfg" <<YAML

# added by run-cluster.sh (docs/CLUSTER.md)
cluster:
  nats: [${nats_urls[0]}, ${nats_urls[1]}, ${nats_urls[2]}]
  node: node$k
  replicas: 3
  lease: 3s
  advertise_query: tcp://127.0.0.1:$base
  advertise_http: http://127.0.0.1:$((7079 + k))
YAML
  # Supervised, as systemd's Restart=on-failure would: a node that dies
  # (kill -9, exit 75 when it lost its lease) comes back as a standby.
  (
    trap 'kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
    while :; do
      "$build/atpd" --config "$node_cfg" --data-dir "$data/atpd$k" \
        --query-listen "tcp://127.0.0.1:$base" \
        --ingest-listen "tcp://127.0.0.1:$((base + 1))" \
        --feed-listen "tcp://127.0.0.1:$((base + 2))" \
        --control-listen "tcp://127.0.0.1:$((base + 3))" \
        --http-listen "http://127.0.0.1:$((7079 + k))" >>"$data/atpd$k.log" 2>&1 &
      child=$!
      wait "$child" || true
      sleep 1
    done
  ) &
  pids+=($!)
  urls+=("tcp://127.0.0.1:$base")
  seed=1
  for src in wms-east 3pl-acme erp; do
    "$build/atp-feed" --config "$config" --source "$src" --rate 20 --batch 25 \
      --skus 200 --seed $seed --duration $((minutes * 60)) --quiet \
      --endpoint "tcp://127.0.0.1:$((base + 1))" \
      --control "tcp://127.0.0.1:$((base + 3))" >>"$data/feed$k.log" 2>&1 &
    pids+=($!)
    seed=$((seed + 1))
  done
done

owner=""
for _ in $(seq 1 300); do
  owner=$("$build/atpctl" --timeout 300 cluster "${urls[@]}" 2>/dev/null |
    awk '$3 == "owner" {print $1 " (" $NF ")"}' || true)
  [ -n "$owner" ] && break
  sleep 0.1
done
[ -n "$owner" ] || { echo "cluster demo: no node took the lease within 30 s; see $data/*.log" >&2; exit 1; }

cat <<MSG

  atpd cluster demo is running: 3 nats-servers (JetStream, replicas 3) and
  3 atpd nodes of one partition. The owner serves; the standbys answer
  not_owner with the owner's URL, which atpctl follows.
    nodes (queries):  ${urls[*]}
    HTTP:             http://127.0.0.1:7080 .. http://127.0.0.1:7082
    NATS:             ${nats_urls[*]}
    owner now:        $owner
    logs and data:    $data (removed when the demo stops)
    a node that dies is started again (as systemd's Restart= would)

  Try, in another terminal:
    $build/atpctl cluster ${urls[*]}
    $build/atpctl --endpoint ${urls[2]} reserve cart-1 SKU-1:us-east:2 --ttl 15m
    # kill -9 the owner's atpd: for nodeN, its pid is
    #   pgrep -f "data-dir $data/atpdN"
    # then, about the lease (3 s) later, another node owns the partition and
    # has cart-1 (until then requests answer not_owner: retry); the killed
    # node comes back by itself as a standby a second later:
    $build/atpctl --endpoint ${urls[1]} reservation cart-1
    $build/atpctl cluster ${urls[*]}

  Ctrl-C stops everything.

MSG
wait "${pids[0]}"
