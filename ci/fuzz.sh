#!/usr/bin/env bash
# ci/fuzz.sh [SECONDS] — builds the libFuzzer targets with clang and runs each
# for SECONDS (default 60) over its seed corpus. Prints executions per target;
# exits non-zero on the first crash, leak or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
secs=${1:-60}
source ci/deps.sh clang libclang-rt-14-dev
qx_install_deps
CC=clang cmake -S "$ROOT" -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DQX_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null
status=0
for t in build-fuzz/bin/fuzz_*; do
  name=$(basename "$t")
  corpus=$ROOT/tests/fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  log=build-fuzz/$name.log
  if "$t" -max_total_time="$secs" -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 "$work" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $name: ${execs:-?} executions in ${secs}s, no crash"
  else
    echo "fuzz $name: FAILED (see $log)"; tail -40 "$log"; status=1
  fi
  rm -rf "$work"
done
exit $status
