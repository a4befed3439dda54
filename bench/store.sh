#!/usr/bin/env bash
# bench/store.sh — the run store alone: qxm-store-bench (bench/store/).
#
#   bench/store.sh [--quick]
#
# Builds qxm-store-bench beside qx-mock (QX_BENCH_BUILD, default build-bench,
# Release) and inserts QX_BENCH_RUNS runs (default 100,000; quick 2,000) into
# a new file store, 8 at a time as the committer batches them, with duplicate
# marking on (qx-mock's default window): once with one payload repeated, once
# with a distinct payload per run. Prints, per run, the CPU time of the
# caller's preparation, of the insert and of the store's other threads (the
# checkpointer), and the file sizes. Records nothing: the figures it gives
# are quoted, with this command, in RESULTS.md where a change used them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_parse_args "$@"

N=${QX_BENCH_RUNS:-$([ "$QUICK" = 1 ] && echo 2000 || echo 100000)}
bench_build
cmake --build "$BUILD" -j"$(nproc)" --target qxm-store-bench >/dev/null ||
  die "cannot build qxm-store-bench"
for kind in repeated distinct; do
  flag=""
  [ "$kind" = distinct ] && flag=--distinct
  log "$N runs, $kind payloads"
  "$BIN/qxm-store-bench" --runs "$N" --batch 8 --dup-window 600000 $flag "$WORK/$kind.db" ||
    die "qxm-store-bench failed ($kind payloads)"
done
