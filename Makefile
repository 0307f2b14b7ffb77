# Two commands do everything: `make run` and `make test`.
# Everything else here is a building block of those two.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
SAN_BUILD ?= build-san
COV_BUILD ?= build-cov
CMAKE_FLAGS ?=

.PHONY: all deps deps-bench configure bins build build-san run test test-fast bench coverage clean format

all: build

deps:
	@scripts/install-deps.sh

# The benchmark's baselines (Redis + hiredis) and charts (gnuplot) too:
# `make test` runs the benchmark's smoke test.
deps-bench:
	@ATP_BENCH_DEPS=1 scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

# Just what `make run` needs.
bins: configure
	@cmake --build $(BUILD) -j $(JOBS) --target atpd atpctl atp-feed

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DATP_SANITIZER=address,undefined -DATP_WERROR=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)

run: bins
	@tools/demo/run-demo.sh $(BUILD)

# The sanitizer pass runs first so that the last lines printed are the
# normal build's ctest summary. The benchmark smoke test (label bench) runs
# in the normal build only: its numbers mean nothing under sanitizers.
test: deps-bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@$(MAKE) --no-print-directory build-san
	@echo "== sanitizer pass (address,undefined) =="
	@cd $(SAN_BUILD) && ATP_TEST_SCALE=sanitizer ctest --output-on-failure -j $(JOBS) -LE bench
	@echo "== normal build =="
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

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
	rm -rf $(BUILD) $(SAN_BUILD) $(COV_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
