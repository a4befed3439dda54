#!/usr/bin/env bash
# ci/test.sh — install what is missing, build, run every test through ctest.
#
#   ci/test.sh              the default suite (unit, e2e) in build/
#   ci/test.sh --sanitize   the same under AddressSanitizer + UBSan (build-sanitize/)
#   ci/test.sh --valgrind   unit and e2e tests under valgrind memcheck (build-valgrind/)
#   ci/test.sh -L unit      extra arguments go to ctest (here: only unit tests)
#
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

mode=default
ctest_args=()
for arg in "$@"; do
  case "$arg" in
    --sanitize) mode=sanitize ;;
    --valgrind) mode=valgrind ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) ctest_args+=("$arg") ;;
  esac
done

extra=()
[ "$mode" = valgrind ] && extra+=(valgrind)
# A sourced script sees the caller's arguments when given none: reset them.
set -- ${extra[@]+"${extra[@]}"}
source ci/deps.sh "$@"
qx_install_deps
# Chromium, Node.js and playwright-core for the browser test; if they cannot
# be had, that test reports itself skipped (never passed).
bash ci/browser-deps.sh || echo "ci: browser test dependencies unavailable; it will be skipped" >&2

jobs=$(nproc 2>/dev/null || echo 2)
case "$mode" in
  default)  dir=build;          cmake_opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  sanitize) dir=build-sanitize; cmake_opts=(-DCMAKE_BUILD_TYPE=Debug -DQX_SANITIZE=ON) ;;
  valgrind) dir=build-valgrind; cmake_opts=(-DCMAKE_BUILD_TYPE=Debug -DQX_VALGRIND=ON) ;;
esac

cmake -S "$ROOT" -B "$dir" "${cmake_opts[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"

if [ "$mode" = sanitize ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
cd "$dir"
ctest --output-on-failure -j "$jobs" "${ctest_args[@]}"
