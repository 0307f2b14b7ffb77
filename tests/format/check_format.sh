#!/bin/sh
# check_format.sh SOURCE_DIR - every C file of the repo (src, include,
# tests, bench, tools) is as clang-format (.clang-format, Debian 12's
# clang-format 14) writes it. On failure it names the files and the fix:
# `make format`. ctest: boundaries.format (labels boundaries, unit).
set -u
root=${1:?usage: check_format.sh SOURCE_DIR}
cd "$root" || exit 1
command -v clang-format >/dev/null || { echo "clang-format missing (scripts/install-deps.sh installs it)"; exit 1; }
files=$(find src include tests bench tools -name '*.[ch]' -not -path '*/build*' | sort)
# One run over all files (about 3 s); file by file only to name them.
# shellcheck disable=SC2086
clang-format --style=file --dry-run -Werror $files >/dev/null 2>&1 && {
    echo "$(echo "$files" | wc -l) files formatted as .clang-format says"
    exit 0
}
bad=""
for f in $files; do
    clang-format --style=file --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
    echo "not formatted as .clang-format says (run: make format):"
    for f in $bad; do echo "  $f"; done
    exit 1
fi
echo "$(echo "$files" | wc -l) files formatted as .clang-format says"
