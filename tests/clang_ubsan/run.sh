#!/usr/bin/env bash
# run.sh SOURCE_DIR WORK_DIR - build json_empty.c with src/codec under
# clang's UndefinedBehaviorSanitizer and run it (ctest unit.codec.json_clang_ubsan;
# issue 12, defect 10). GCC's UBSan does not check a NULL + 0 offset, clang's
# does: this is the test of that defect that can fail.
#
# Exit status: the driver's (0 pass, non-zero on a UBSan report or a wrong
# answer); 1 when the build fails (e.g. clang's UBSan runtime, Debian package
# libclang-rt-14-dev, is missing); 77 (skipped) when clang is not installed,
# or 1 then with ATP_REQUIRE_ALL=1 (CI, where install-deps.sh installs it).
set -euo pipefail
src=${1:?source dir}
work=${2:?work dir}
clang=${ATP_CLANG:-/usr/bin/clang}

if [ ! -x "$clang" ]; then
  if [ "${ATP_REQUIRE_ALL:-}" = 1 ]; then
    echo "FAIL: $clang not found, and ATP_REQUIRE_ALL=1 says every test must run" \
         "(scripts/install-deps.sh installs clang)" >&2
    exit 1
  fi
  echo "SKIPPED: $clang not found (scripts/install-deps.sh installs clang)"
  exit 77
fi

mkdir -p "$work"
# The JSON writers, the decoder that feeds one, and the functions of
# common they call (log_write, atp_assert_fail): named, not src/codec/*.c,
# which may hold files that link other libraries (jansson). A build failure is a failure,
# not a skip: clang is there, so the test can run.
codec="$src/src/codec"
# shellcheck disable=SC2046 # pkg-config's flags are words
if ! "$clang" -std=gnu11 -g -O1 -Wall -Wextra -Wno-unused-parameter \
     -Wno-missing-field-initializers \
     -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
     -I"$src/include" -I"$src/src" $(pkg-config --cflags msgpack) \
     "$src/tests/clang_ubsan/json_empty.c" "$codec/json.c" "$codec/json_msgpack.c" \
     "$codec/value.c" "$codec/arena.c" "$codec/precheck.c" "$codec/str.c" \
     "$src/src/common/log.c" "$src/src/common/assert.c" \
     $(pkg-config --libs msgpack) -lpthread -o "$work/json_empty"; then
  echo "FAIL: cannot build the driver with $clang -fsanitize=undefined" \
       "(its runtime is Debian's libclang-rt-14-dev)" >&2
  exit 1
fi
exec "$work/json_empty"
