#!/usr/bin/env bash
# coverage.sh BUILD_DIR - line coverage of src/ from the unit and integration
# tests; `make coverage` builds BUILD_DIR (-DATP_COVERAGE=ON) and calls it.
# Clears the old counts, runs ctest (all but the benchmark, label bench),
# then prints gcovr's summary and writes BUILD_DIR/coverage.txt: per file,
# lines, lines run, percent and the numbers of the lines no test ran.
# Fails when a test failed or src/ is below ATP_COVERAGE_MIN percent
# (default 95).
set -uo pipefail

build=$(cd "${1:?usage: coverage.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
min=${ATP_COVERAGE_MIN:-95}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

find "$build" -name '*.gcda' -delete
# The instrumented build is several times slower: the integration tests
# stretch their waits and lighten their load (tests/integration/harness.py).
(cd "$build" && ATP_TEST_SCALE=${ATP_TEST_SCALE:-coverage} \
    ctest --output-on-failure -j "$jobs" -LE bench)
tests_rc=$?

# atpd writes its counts when it exits; a run that a test kills with -9
# adds none (the other tests cover the same code).
gcovr --root "$root" --filter "$root/src/" --txt "$build/coverage.txt" \
      --print-summary --fail-under-line "$min" "$build"
cov_rc=$?
cat "$build/coverage.txt"
[ "$tests_rc" -eq 0 ] || { echo "coverage: some tests failed" >&2; exit 1; }
[ "$cov_rc" -eq 0 ] || { echo "coverage: src/ lines below $min %" >&2; exit 1; }
echo "coverage: src/ lines at or above $min % (table: $build/coverage.txt)"
