#!/usr/bin/env bash
# run.sh FUZZER SEEDS WORK SECONDS MAX_LEN - one short libFuzzer run (ctest
# fuzz.<target>, tests/fuzz/README.md): the seeds and what earlier runs in
# this build found (WORK/corpus, where new finds go) are replayed first,
# then the fuzzer mutates for SECONDS. A crash, leak, sanitizer report,
# timeout or out-of-memory fails the test and leaves the input that caused
# it under WORK/artifacts/ (emptied when the next run starts), named in
# the last lines of the output.
set -euo pipefail
fuzzer=${1:?fuzzer binary}
seeds=${2:?seed corpus dir}
work=${3:?work dir}
seconds=${4:?seconds}
max_len=${5:?max input length}

rm -rf "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts"
log="$work/fuzz.log"
# -close_fd_mask=2: the decoders' own log lines (stderr) are formatted but
# not printed; libFuzzer and the sanitizers still report on a copy of it.
set +e
"$fuzzer" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
  -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 -close_fd_mask=2 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" >"$log" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then
  tail -n 80 "$log"
  echo "FAIL: $(basename "$fuzzer") exited $rc; full log: $log"
  for f in "$work"/artifacts/*; do
    [ -e "$f" ] || continue
    echo "input kept: $f (replay: $fuzzer $f; add it to $seeds once fixed)"
  done
  exit 1
fi
grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
echo "ok: $(basename "$fuzzer"), ${seconds}s; corpus $(ls "$work/corpus" | wc -l) inputs, log $log"
