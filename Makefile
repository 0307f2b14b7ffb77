# Two commands do everything: `make run` and `make test`.
# Everything else here is a building block of those two.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# The makes CMake runs inherit this: no "gmake[N]: Entering directory" lines.
MAKEFLAGS += --no-print-directory
BUILD ?= build
SAN_BUILD ?= build-san
COV_BUILD ?= build-cov
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
# The integration tests the ThreadSanitizer pass runs (label tsan): the ones
# where the most threads meet (racing reservations, consumption, the change
# feed and its rebuild, gaps, HTTP replies resumed by the engine thread and
# event streams woken by the changes thread, admin changes that add a
# location and move authority while the ingest checks messages), short
# enough for the CI budget.
TSAN_TESTS ?= ^(unit|boundaries)\.|integration\.(resv_race|resv_consume|feed_coalesce|feed_rebuild|feed_pickup|resync_gap|http_api|http_sse|admin_pickup_load|resv_partial|resv_backorder|bundles|phased|cluster_edges|cluster_partitions|cluster_local)$$
CMAKE_FLAGS ?=

.PHONY: all deps deps-bench configure bins build build-san build-tsan build-fuzz run run-cluster test test-tsan test-tsan-run test-fuzz test-fuzz-run test-fast bench coverage clean format

all: build

deps:
	@scripts/install-deps.sh

# The benchmark's baselines (Redis + hiredis) and charts (gnuplot) too:
# `make test` runs the benchmark's smoke test.
deps-bench:
	@ATP_BENCH_DEPS=1 scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

# Just what `make run` needs. Quiet: the compiler's lines go to a log,
# shown only when the build fails, so the demo's banner is what one sees.
bins: configure
	@echo "building atpd, atpctl, atp-feed, atp-import in $(BUILD)/ (log: $(BUILD)/bins.log)"
	@cmake --build $(BUILD) -j $(JOBS) --target atpd atpctl atp-feed atp-import >$(BUILD)/bins.log 2>&1 \
		|| { tail -n 40 $(BUILD)/bins.log; echo "build failed: $(BUILD)/bins.log"; exit 1; }

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DATP_SANITIZER=address,undefined -DATP_WERROR=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)

build-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DATP_SANITIZER=thread -DATP_WERROR=ON >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)

# The libFuzzer targets (tests/fuzz/README.md): clang, only what they link.
build-fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DATP_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target atp_fuzzers

# A short run of each target (ATP_FUZZ_SECONDS, 15 s each); a crash fails
# and leaves its input under $(FUZZ_BUILD)/tests/fuzz/<target>/artifacts.
test-fuzz: build-fuzz
	@$(MAKE) --no-print-directory test-fuzz-run

test-fuzz-run:
	@cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(JOBS) -L fuzz

# ThreadSanitizer: reports are logged, not fatal, and judged afterwards by
# tests/tsan/check_reports.py, which skips only races made entirely inside
# Debian's uninstrumented libnng (see that file).
test-tsan: build-tsan
	@$(MAKE) --no-print-directory test-tsan-run

test-tsan-run:
	@rm -rf $(TSAN_BUILD)/tsan-logs && mkdir -p $(TSAN_BUILD)/tsan-logs
	@cd $(TSAN_BUILD) && TSAN_OPTIONS=exitcode=0:history_size=4:log_path=$(CURDIR)/$(TSAN_BUILD)/tsan-logs/tsan \
		ATP_TEST_SCALE=sanitizer ctest --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)'
	@tests/tsan/check_reports.py $(TSAN_BUILD)/tsan-logs

# `make run PORT=7460`: the demo's four sockets on 7460..7463 instead of
# 7450..7453 (a second demo, or a port another program has).
PORT ?= 7450
run: bins
	@ATP_PORT_BASE=$(PORT) tools/demo/run-demo.sh $(BUILD)

# `make run-cluster`: the demo on 3 nats-servers and 3 atpd nodes
# (docs/CLUSTER.md); `make run` stays the single node without NATS.
run-cluster: bins
	@tools/demo/run-cluster.sh $(BUILD)

# The sanitizer passes (address+undefined, then thread: `test-tsan-run`,
# then the fuzz targets: `test-fuzz-run`) run first so that the last
# lines printed are the normal build's ctest summary. The benchmark smoke test (label bench) runs
# in the normal build only: its numbers mean nothing under sanitizers.
# Every pass always runs, each reports its summary, and the target fails
# if any failed. In CI (CI=true) as root, a test that skips (it could
# not mount, say) fails instead: ATP_REQUIRE_ALL=1 (tests/integration/README.md).
test: deps-bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@$(MAKE) --no-print-directory build-san
	@$(MAKE) --no-print-directory build-tsan
	@$(MAKE) --no-print-directory build-fuzz
	@if [ "$${CI:-}" = true ] && [ "$$(id -u)" = 0 ]; then export ATP_REQUIRE_ALL=1; fi; \
	 echo "== sanitizer pass (address,undefined) =="; \
	 (cd $(SAN_BUILD) && ATP_TEST_SCALE=sanitizer ctest --output-on-failure -j $(JOBS) -LE bench); \
	 san=$$?; \
	 echo "== thread sanitizer pass =="; \
	 $(MAKE) --no-print-directory test-tsan-run; \
	 tsan=$$?; \
	 echo "== fuzz pass (libFuzzer, clang) =="; \
	 $(MAKE) --no-print-directory test-fuzz-run; \
	 fuzz=$$?; \
	 echo "== normal build =="; \
	 (cd $(BUILD) && ctest --output-on-failure -j $(JOBS)); \
	 normal=$$?; \
	 echo "== make test: sanitizer pass $$([ $$san = 0 ] && echo passed || echo FAILED)," \
	      "thread sanitizer pass $$([ $$tsan = 0 ] && echo passed || echo FAILED)," \
	      "fuzz pass $$([ $$fuzz = 0 ] && echo passed || echo FAILED)," \
	      "normal pass $$([ $$normal = 0 ] && echo passed || echo FAILED) =="; \
	 [ $$san = 0 ] && [ $$tsan = 0 ] && [ $$fuzz = 0 ] && [ $$normal = 0 ]

# `make bench`: the quick scenario (<= 2 minutes), side by side with the nng
# echo floor and Redis; report in build/bench-report.json, charts in
# build/bench-plots. docs/PERFORMANCE.md has the full runs.
bench: deps-bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target atpd atp-bench atp-bench-echo bench_engine
	@$(BUILD)/bench/atp-bench --scenario quick --json $(BUILD)/bench-report.json --plot $(BUILD)/bench-plots

# `make coverage`: line coverage of src/ from the unit and integration tests
# (gcc --coverage, gcovr), at least 95 %; tests/integration/README.md, "Coverage".
coverage:
	@ATP_COVERAGE_DEPS=1 scripts/install-deps.sh
	@cmake -S . -B $(COV_BUILD) -DCMAKE_BUILD_TYPE=Debug -DATP_COVERAGE=ON >/dev/null
	@cmake --build $(COV_BUILD) -j $(JOBS)
	@JOBS=$(JOBS) scripts/coverage.sh $(COV_BUILD)

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(TSAN_BUILD) $(COV_BUILD) $(FUZZ_BUILD)

format:
	clang-format -i $$(find src include tests bench tools -name '*.[ch]' -not -path '*/build*')
