#!/usr/bin/env bash
# bench/smoke.sh — every benchmark in quick mode, one after another: the CI
# smoke run that keeps the scripts from rotting. Seconds per script, no
# thresholds, nothing written to bench/RESULTS.md; fails only when a script
# fails (WireMock or mountebank that cannot be installed is a "skipped" row,
# not a failure).
#
#   bench/smoke.sh            (QX_BENCH_BUILD=build reuses ci/test.sh's build)
set -euo pipefail
cd "$(dirname "$0")"
export QX_BENCH_QUICK=1
export QX_BENCH_EVENTS=${QX_BENCH_EVENTS:-20000}
failed=()
for s in mock-ingest mock-memory send render store; do
  echo "=== bench/$s.sh --quick"
  start=$(date +%s)
  if bash "./$s.sh" --quick; then
    echo "=== bench/$s.sh: ok ($(($(date +%s) - start)) s)"
  else
    echo "=== bench/$s.sh: FAILED ($(($(date +%s) - start)) s)"
    failed+=("$s")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "bench smoke: failed: ${failed[*]}"
  exit 1
fi
echo "bench smoke: all five benchmarks ran"
