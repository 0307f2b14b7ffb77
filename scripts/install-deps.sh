#!/usr/bin/env bash
# install-deps.sh - install the Debian 12 packages atpd needs, only those missing.
# Called by `make run`, `make test` and `make bench`; safe to run again.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libnng-dev libmbedtls-dev libmsgpack-dev liblmdb-dev libjemalloc-dev libyaml-dev
  libmicrohttpd-dev libjansson-dev
  libsystemd-dev
  libcurl4-openssl-dev
  libcmocka-dev python3 python3-msgpack lmdb-utils
  # clang and its runtimes (UBSan, ASan, libFuzzer): tests/clang_ubsan (a
  # check GCC's UBSan lacks) and the fuzz targets (tests/fuzz, make test-fuzz)
  clang libclang-rt-14-dev
  # the format check (boundaries.format) and `make format`
  clang-format
)
# The HTTP tests: docs/openapi.yaml as JSON Schema, and a curl smoke test.
packages+=(python3-yaml python3-jsonschema curl)
# GET /metrics is checked with promtool (integration.ops_metrics).
packages+=(prometheus)
# The dashboard's browser test (integration.ops_dashboard): headless Chromium.
packages+=(chromium chromium-driver python3-selenium)
# Packaging (packaging/, docs/OPERATIONS.md): man pages, the .deb's
# dependencies (dpkg-shlibdeps) and `systemd-analyze verify` of the unit.
packages+=(help2man dpkg-dev systemd)
# TLS (issue 14): the tests and atp-bench --scenario tls make throwaway
# certificates with openssl.
packages+=(openssl)
# The cluster (docs/CLUSTER.md): atpd links NATS's C client; the cluster
# tests and `make run-cluster` start nats-servers.
packages+=(libnats-dev nats-server)
if [ "${ATP_BENCH_DEPS:-0}" = 1 ]; then
  packages+=(redis-server libhiredis-dev gnuplot-nox)
  # atp-bench --http (libcurl client; the floor uses atpd's libmicrohttpd)
  # and --wrk, and the HTTP library spike (bench/http_spike/: wrk, h2o)
  packages+=(libcurl4-openssl-dev wrk libh2o-evloop-dev)
fi
# `make coverage` only: the coverage report (make test does not measure).
if [ "${ATP_COVERAGE_DEPS:-0}" = 1 ]; then
  packages+=(gcovr)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# A bare machine has no package lists yet; refresh them once when an install fails.
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
