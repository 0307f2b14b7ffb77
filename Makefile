# Two commands do everything: `make run` and `make test`.
# Everything else here is a building block of those two.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
SAN_BUILD ?= build-san
CMAKE_FLAGS ?=

.PHONY: all deps configure bins build build-san run test test-fast bench clean format

all: build

deps:
	@scripts/install-deps.sh

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
# normal build's ctest summary.
test: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@$(MAKE) --no-print-directory build-san
	@echo "== sanitizer pass (address,undefined) =="
	@cd $(SAN_BUILD) && ATP_TEST_SCALE=sanitizer ctest --output-on-failure -j $(JOBS)
	@echo "== normal build =="
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

clean:
	rm -rf $(BUILD) $(SAN_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
