#!/usr/bin/env bash
# ci/test.sh — install what is missing, build, run every test through ctest.
#
#   ci/test.sh              the default suite (unit, e2e) in build/
#   ci/test.sh --sanitize   the same under AddressSanitizer + UBSan (build-sanitize/)
#   ci/test.sh --valgrind   unit and e2e tests under valgrind memcheck (build-valgrind/)
#   ci/test.sh --tsan       the same under ThreadSanitizer (build-tsan/); a report from
#                           any process, the programs the tests start included, fails it
#   ci/test.sh --build-only install and build (any mode), run nothing
#   ci/test.sh -L unit      extra arguments go to ctest (here: only unit tests)
#
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

mode=default
build_only=0
ctest_args=()
for arg in "$@"; do
  case "$arg" in
    --sanitize) mode=sanitize ;;
    --valgrind) mode=valgrind ;;
    --tsan) mode=tsan ;;
    --build-only) build_only=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
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
  tsan)     dir=build-tsan;     cmake_opts=(-DCMAKE_BUILD_TYPE=Debug -DQX_TSAN=ON) ;;
esac

# Warnings fail the build here (QX_WERROR); a user's own build only shows them.
cmake -S "$ROOT" -B "$dir" -DQX_WERROR=ON "${cmake_opts[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
[ "$build_only" = 1 ] && exit 0

if [ "$mode" = sanitize ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
runner=()
if [ "$mode" = tsan ]; then
  # Every instrumented process (tests, qx-mock, qx-send) writes its reports to
  # a file of its own here; the run fails if any exists. tests/tsan.supp says
  # which reports are suppressed and why.
  reports=$ROOT/$dir/tsan-reports
  rm -rf "$reports"
  mkdir -p "$reports"
  export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:history_size=4:log_path=$reports/tsan:suppressions=$ROOT/tests/tsan.supp"
  # ThreadSanitizer needs the address layout it knows; kernels with more
  # ASLR entropy than it expects break it, so randomisation is turned off.
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    runner=(setarch "$(uname -m)" -R)
  fi
fi

cd "$dir"
status=0
${runner[@]+"${runner[@]}"} ctest --output-on-failure -j "$jobs" ${ctest_args[@]+"${ctest_args[@]}"} || status=$?
if [ "$mode" = tsan ] && [ -n "$(ls -A "$reports")" ]; then
  cat "$reports"/* >&2
  echo "ci: ThreadSanitizer reported $(cat "$reports"/* | grep -c '^WARNING: ThreadSanitizer') problem(s); reports in $reports" >&2
  status=1
fi
exit "$status"
