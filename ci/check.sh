#!/usr/bin/env bash
# ci/check.sh — the structure checks together: function length
# (ci/check-functions.sh), dependency cycles between files and folders
# (ci/check-cycles.sh, on the objects of build/) and formatting
# (ci/check-format.sh). Builds build/ first (cmake -S . -B build && cmake
# --build build -j2) when build/bin/qx-mock is missing. Runs all three,
# then exits non-zero if any failed, naming which.
#
# Usage: ci/check.sh                     (from anywhere in the repo)
# QX_CHECK_BUILD_DIR=DIR uses another build directory than build/.
set -euo pipefail

case "${1:-}" in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
'') ;;
*)
    echo "check: no arguments expected (see --help)" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")/.."
build=${QX_CHECK_BUILD_DIR:-build}
if [ ! -x "$build/bin/qx-mock" ]; then
    echo "=== check: building $build/" >&2
    cmake -S . -B "$build"
    cmake --build "$build" -j2
fi

failed=()
run() {
    local name=$1
    shift
    echo "=== check: $name" >&2
    local rc=0
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        failed+=("$name (exit $rc)")
    fi
}
run check-functions bash ci/check-functions.sh
run check-cycles bash ci/check-cycles.sh "$build"
run check-format bash ci/check-format.sh

if [ "${#failed[@]}" -gt 0 ]; then
    echo "check: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "check: all structure checks passed"
