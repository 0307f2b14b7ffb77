#!/usr/bin/env bash
# compare.sh [ROUNDS] [DURATION] - docs/PERFORMANCE.md "Cluster": durable
# reservations (reserve only) on one atpd without NATS, one atpd with one
# nats-server (--cluster 1) and three atpd nodes on three nats-servers
# (--cluster 3), run in interleaved rounds (a noisy machine drifts between
# runs far apart), then a table of medians: reserve/s, p50, p99, the owner's
# CPU per reservation, and the whole cluster's (owner + standbys +
# nats-servers). ROUNDS default 3, DURATION (seconds per run) default 6.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bench=${ATP_BENCH:-$here/build/bench/atp-bench}
rounds=${1:-3}
duration=${2:-6}
out=$(mktemp -d "${TMPDIR:-/tmp}/atp-cluster-bench.XXXXXX")
for r in $(seq 1 "$rounds"); do
  for n in 0 1 3; do
    echo "round $r: --cluster $n" >&2
    "$bench" --scenario reserve --reserve-mix 0,0,100 --no-echo --no-redis \
      --quiet --duration "$duration" --cluster "$n" --json "$out/r$r-c$n.json" \
      >"$out/r$r-c$n.log" 2>&1
  done
done
/usr/bin/python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def med(xs):
    return statistics.median(xs) if xs else float("nan")
rows = {}
for r in range(1, rounds + 1):
    for n in (0, 1, 3):
        d = json.load(open(f"{out}/r{r}-c{n}.json"))
        for e in d["results"]:
            key = (e["scenario"], n)
            row = rows.setdefault(key, {"ops": [], "p50": [], "p99": [], "owner": [], "all": []})
            row["ops"].append(e["ops_per_s"])
            row["p50"].append(e["p50_us"])
            row["p99"].append(e["p99_us"])
            owner = e["server_cpu_us_per_req"]
            extra = 0.0
            label = e["scenario"].replace("-", "_")
            for k, v in d.items():
                if k.startswith(f"cluster_{label}_atpd"):
                    extra = v["standbys_cpu_us_per_req"] + v["nats_cpu_us_per_req"]
            row["owner"].append(owner)
            row["all"].append(owner + extra)
print(f"{'scenario':<16}{'nodes':<22}{'reserve/s':>10}{'p50 us':>9}{'p99 us':>9}{'owner us/op':>13}{'all us/op':>11}{'owner vs 1':>11}")
names = {0: "1 atpd, no NATS", 1: "1 atpd + 1 NATS", 3: "3 atpd + 3 NATS"}
for scen in ("reserve-single", "reserve-cart"):
    base = med(rows[(scen, 0)]["owner"])
    for n in (0, 1, 3):
        r = rows[(scen, n)]
        print(f"{scen:<16}{names[n]:<22}{med(r['ops']):>10.0f}{med(r['p50']):>9.0f}{med(r['p99']):>9.0f}"
              f"{med(r['owner']):>13.1f}{med(r['all']):>11.1f}{med(r['owner']) / base:>10.2f}x")
print(f"(medians of {rounds} interleaved rounds; JSON and logs in {out})")
PY
