#!/usr/bin/env bash
# ci/stress.sh — the default suite, N times over, on a loaded machine.
#
#   ci/stress.sh [N]     N runs (default 3)
#
# Builds as ci/test.sh does (build/), then starts two CPU-bound processes (one
# per core of the 2-core machines CI uses) and runs every ctest test N times
# while they spin; they are stopped when it ends, however it ends. Each run
# slows the admin API answers the browser test's page receives by a seeded
# random 0..QX_STRESS_API_DELAY_MS ms (default 200; seed: the run's number),
# so the page's asynchronous views are late as well. Prints, for each test,
# how many runs it passed; exits 1 if any run of any test failed (or was not
# run), 0 otherwise. Logs of each run: build/stress/run-<i>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

runs=${1:-3}
case "$runs" in
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  ''|*[!0-9]*|0) echo "usage: ci/stress.sh [N]  (N a whole number of runs, at least 1)" >&2; exit 2 ;;
esac
delay=${QX_STRESS_API_DELAY_MS:-200}

bash ci/test.sh --build-only

logs=$ROOT/build/stress
rm -rf "$logs"
mkdir -p "$logs"

hogs=()
stop_hogs() {
  if [ "${#hogs[@]}" -gt 0 ]; then
    kill "${hogs[@]}" 2>/dev/null || true
    wait "${hogs[@]}" 2>/dev/null || true
    hogs=()
  fi
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM
for _ in 1 2; do
  bash -c 'while :; do :; done' &
  hogs+=($!)
done
echo "ci: stress: $runs run(s) of the default suite beside ${#hogs[@]} CPU-bound processes" >&2

jobs=$(nproc 2>/dev/null || echo 2)
for i in $(seq 1 "$runs"); do
  t0=$(date +%s)
  (cd build && QX_BROWSER_API_DELAY_MS=$delay QX_BROWSER_SEED=$i \
     ctest --output-on-failure -j "$jobs") >"$logs/run-$i.log" 2>&1 || true
  summary=$(grep -E 'tests passed|tests failed' "$logs/run-$i.log" | tail -1)
  echo "ci: stress: run $i/$runs in $(( $(date +%s) - t0 )) s: ${summary:-no summary (see $logs/run-$i.log)}" >&2
done
stop_hogs

# Every "Test #k: name ..... <result>" line of every run, tallied per test.
ctest_list=$(cd build && ctest -N | sed -n 's/^ *Test *#[0-9]*: *//p')
awk -v runs="$runs" -v list="$ctest_list" '
  BEGIN { n = split(list, names, "\n"); for (k = 1; k <= n; k++) if (names[k] != "") seen[names[k]] = 0 }
  match($0, /Test +#[0-9]+: [^ ]+ /) {
    name = $0; sub(/.*Test +#[0-9]+: /, "", name); sub(/ .*/, "", name)
    if ($0 ~ / Passed /) pass[name]++
    else if ($0 ~ /\*\*\*Skipped/) skip[name]++
    else fail[name]++
    seen[name] = 1
  }
  END {
    bad = 0
    printf "%-28s %s\n", "test", "passed"
    for (name in seen) order[++m] = name
    # sorted by name, for a stable report
    for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (order[b] < order[a]) { t = order[a]; order[a] = order[b]; order[b] = t }
    for (a = 1; a <= m; a++) {
      name = order[a]; p = pass[name] + 0; s = skip[name] + 0; f = runs - p - s
      note = ""
      if (s) note = note sprintf("  (%d skipped)", s)
      if (f) { note = note sprintf("  FAILED %d", f); bad = 1 }
      printf "%-28s %d/%d%s\n", name, p, runs, note
    }
    exit bad
  }' "$logs"/run-*.log && status=0 || status=1
if [ "$status" -ne 0 ]; then
  echo "ci: stress: some runs failed; their output is in $logs/" >&2
fi
exit "$status"
