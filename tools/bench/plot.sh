#!/usr/bin/env bash
# plot.sh - charts from atp-bench output, with gnuplot (gnuplot-nox).
#
#   tools/bench/plot.sh DIR
#       re-render the charts atp-bench --plot DIR wrote (DIR/plot.gp):
#       <scenario>-latency.png (p50/p99 per second, from the intended send
#       time) and <scenario>-throughput.png (completed ops per second)
#   tools/bench/plot.sh --summary OUT.png REPORT.json...
#       one bar chart: ops/s of atpd, the echo floor and Redis for every
#       scenario/operation of the reports that has a baseline (the median of
#       its repeats)
set -euo pipefail

command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }

if [ "${1:-}" = "--summary" ]; then
  out=${2:?usage: plot.sh --summary OUT.png REPORT.json...}
  shift 2
  [ $# -ge 1 ] || { echo "usage: plot.sh --summary OUT.png REPORT.json..." >&2; exit 2; }
  dat=$(mktemp)
  trap 'rm -f "$dat"' EXIT
  python3 - "$@" > "$dat" <<'PY'
import json, sys
rows = {}
for path in sys.argv[1:]:
    r = json.load(open(path))
    for e in r["results"]:
        if e["op"] not in ("atp", "cart", "reserve") or e["mode"] == "replay":
            continue
        key = f'{e["scenario"]}/{e["op"]}'
        rows.setdefault(key, {})[e["system"]] = e["ops_per_s"] or 0
print("label atpd echo redis")
for k, v in rows.items():
    if len(v) < 2:  # only where there is something to compare with
        continue
    print(f'"{k}" {v.get("atpd", 0):.0f} {v.get("echo", 0):.0f} {v.get("redis", 0):.0f}')
PY
  gnuplot <<GP
set terminal pngcairo size 1100,560 noenhanced font 'sans,10'
set output '$out'
set title 'atp-bench: operations per second, atpd vs the nng echo floor vs Redis 7 + Lua (same clients)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set ylabel 'ops/s (median of repeats)'
set xtics rotate by -20
set key outside right top
plot '$dat' using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3), '' using 4 title columnheader(4)
GP
  echo "plot.sh: wrote $out"
  exit 0
fi

dir=${1:?usage: plot.sh DIR | plot.sh --summary OUT.png REPORT.json...}
[ -f "$dir/plot.gp" ] || { echo "plot.sh: $dir/plot.gp not found (run atp-bench --plot $dir first)" >&2; exit 1; }
(cd "$dir" && gnuplot plot.gp 2>gnuplot.log)
ls "$dir"/*.png
