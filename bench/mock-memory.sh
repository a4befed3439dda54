#!/usr/bin/env bash
# bench/mock-memory.sh — qx-mock's memory and admin queries after many runs.
#
#   bench/mock-memory.sh [--quick]
#
# Sends QX_BENCH_EVENTS accepted events (default 1,000,000; quick: 10,000)
# into qx-mock with a file store (--db), with wrk (2 threads, 32
# connections); each wrk thread stops after its share, and the run is bounded
# in time by QX_BENCH_MAX_SECONDS (default 3600; quick 120). Every request is
# a distinct profile (its own email, as a real sender's stream; every 10th has
# no valid email, so its run ends FAILURE). QX_BENCH_PAYLOAD=same sends the
# seed payload with a valid email every time instead (one contact, a
# distribution per run), QX_BENCH_PAYLOAD=seed the seed payload as it is (no
# valid email: no contact, no distribution; the store alone); with either,
# set QX_BENCH_DUP_WINDOW=0, or duplicate marking of the identical payloads
# is what gets measured.
#
# Samples qx-mock's VmRSS every second, then reports: runs stored, ingest
# rate at the start and the end, resident memory (final and peak), the store's
# size on disk, and the latency of admin queries at that size (each 20 times
# warm, plus the first cold call).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_parse_args "$@"

EVENTS=${QX_BENCH_EVENTS:-$([ "$QUICK" = 1 ] && echo 10000 || echo 1000000)}
MAX_SECONDS=${QX_BENCH_MAX_SECONDS:-$([ "$QUICK" = 1 ] && echo 120 || echo 3600)}
THREADS=${QXB_THREADS:-2}
PAYLOAD=${QX_BENCH_PAYLOAD:-unique}

need_apt wrk jq curl || die "cannot install wrk, jq or curl"
bench_build

CFG=$WORK/qx-mock.json
write_qxmock_config "$CFG"
BODY=$WORK/payload.json
case "$PAYLOAD" in
  unique)
    jq -c '.identityMap.Email[0].id = "QXBEMAIL"' "$ROOT/fixtures/seed/expected-payload.json" >"$BODY"
    export QXB_UNIQUE=1 QXB_EVERY=10
    ;;
  same) write_valid_payload "$BODY" ;;
  seed) jq -c . "$ROOT/fixtures/seed/expected-payload.json" >"$BODY" ;;
  *) die "QX_BENCH_PAYLOAD must be unique, same or seed" ;;
esac

DB=$WORK/runs.db
start_qxmock "$CFG" "$DB"
read -r RSS0 _ < <(rss_kib "$QXM_PID")

SAMPLES=$WORK/samples.tsv # seconds runs rss_kib
: >"$SAMPLES"
log "sending $EVENTS events (at most $MAX_SECONDS s)"
per_thread=$(((EVENTS + THREADS - 1) / THREADS))
QXB_BODY=$BODY QXB_AUTH_HEADER=$QXB_AUTH QXB_LIMIT=$per_thread \
  wrk -t"$THREADS" -c"${QXB_CONNS:-32}" -d"${MAX_SECONDS}s" --timeout 10s --latency \
  -s "$BENCH_DIR/post.lua" "$QXM_URL$QXB_INGEST_PATH" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
BENCH_PIDS+=("$WRK_PID")
start=$(date +%s.%N)
last_print=0
while kill -0 "$WRK_PID" 2>/dev/null; do
  sleep 1
  now=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - s}')
  runs=$(runs_total "$QXM_URL" || echo 0)
  read -r rss _ < <(rss_kib "$QXM_PID")
  printf '%s\t%s\t%s\n' "$now" "$runs" "$rss" >>"$SAMPLES"
  if [ "${now%.*}" -ge $((last_print + 30)) ]; then
    log "$now s: $runs runs, RSS $(mib "$rss") MiB"
    last_print=${now%.*}
  fi
  # Each wrk thread stops after its share, but wrk itself sleeps out its
  # duration: end it once every event is in.
  if [ "$runs" -ge "$EVENTS" ]; then
    kill -INT "$WRK_PID" 2>/dev/null || true
  fi
done
wait "$WRK_PID" || true
parse_wrk "$WORK/wrk.out"
sleep 0.5
RUNS=$(runs_total "$QXM_URL")
FAILED=$(runs_total "$QXM_URL" status=FAILURE)
ELAPSED=$(tail -1 "$SAMPLES" | cut -f1)
read -r RSS HWM < <(rss_kib "$QXM_PID")
STORE_KIB=$(du -k -c "$DB"* | tail -1 | cut -f1)
MAX_SAMPLE=$(cut -f3 "$SAMPLES" | sort -n | tail -1)

# Ingest rate over the first and the last tenth of the sending (samples
# after the last new run are left out).
rate_at() { # rate_at first|last
  awk -F'\t' -v which="$1" '{t[NR] = $1; r[NR] = $2} END {
    n = NR; while (n > 1 && r[n - 1] == r[n]) n--
    k = int(n / 10); if (k < 1) k = 1
    if (which == "first") {a = 1; b = 1 + k} else {a = n - k; b = n}
    if (a < 1) a = 1
    if (b > n || b <= a || t[b] == t[a]) {print "n/a"; exit}
    printf "%.0f", (r[b] - r[a]) / (t[b] - t[a])}' "$SAMPLES"
}
RATE_FIRST=$(rate_at first)
RATE_LAST=$(rate_at last)

# time_query PATH: "cold median p95 max" in ms over 1 cold + 20 warm calls.
time_query() {
  local url="$QXM_URL$1" cold i
  cold=$(curl -fs -o /dev/null -w '%{time_total}' --max-time 60 "$url")
  for i in $(seq 1 20); do curl -fs -o /dev/null -w '%{time_total}\n' --max-time 60 "$url"; done |
    sort -n | awk -v cold="$cold" '{v[NR] = $1 * 1000} END {
      printf "%.2f %.2f %.2f %.2f\n", cold * 1000, (v[10] + v[11]) / 2, v[19], v[20]}'
}
QUERIES=(
  "/_qx/v1/runs?status=FAILURE&limit=50"
  "/_qx/v1/runs/wait?count=1&timeoutMs=1000"
  "/_qx/v1/runs?limit=50&order=desc"
  "/_qx/v1/runs?status=FAILURE&limit=50&order=desc"
  "/_qx/v1/stats"
  "/metrics"
)
QROWS=$WORK/queries.md
: >"$QROWS"
for q in "${QUERIES[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$QXM_URL$q")
  if [ "$code" != 200 ]; then
    echo "| \`$q\` | HTTP $code | | | |" >>"$QROWS"
    continue
  fi
  read -r cold med p95 max < <(time_query "$q")
  echo "| \`$q\` | $cold | $med | $p95 | $max |" >>"$QROWS"
done
read -r RSS2 HWM2 < <(rss_kib "$QXM_PID")
bg_stop "$QXM_PID"

# RSS over time, a few points.
CURVE=$(awk -F'\t' 'NR == 1 || NR % (int((NR_TOTAL + 9) / 10) + 0 > 0 ? int((NR_TOTAL + 9) / 10) : 1) == 0 {printf "%s s: %d runs, %.0f MiB; ", $1, $2, $3 / 1024}' \
  NR_TOTAL="$(wc -l <"$SAMPLES")" "$SAMPLES")

verdict() {
  if [ "$QUICK" = 1 ] || [ "$RUNS" -lt 1000000 ]; then echo "(not judged: fewer than 1,000,000 runs)"
  elif [ "$1" = 1 ]; then echo "**met**"; else echo "**missed**"; fi
}
OUT=$WORK/out.md
{
  echo "$EVENTS events requested ($PAYLOAD payloads), wrk $THREADS threads, ${QXB_CONNS:-32} connections; file store; qx-mock's default config otherwise (duplicate marking on unless QX_BENCH_DUP_WINDOW says)."
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| runs stored (\`total\`) | $RUNS ($FAILED FAILURE) |"
  echo "| wrk: answers, non-2xx, socket errors | $W_REQS, $W_NON2XX, $W_ERRS |"
  echo "| time | $ELAPSED s |"
  echo "| ingest rate, first / last tenth | $RATE_FIRST / $RATE_LAST runs/s |"
  echo "| latency over the whole run (wrk) | p50 $W_P50 ms, p99 $W_P99 ms |"
  echo "| RSS at start | $(mib "$RSS0") MiB |"
  echo "| RSS after the last event | $(mib "$RSS") MiB (largest sample $(mib "$MAX_SAMPLE") MiB, VmHWM $(mib "$HWM") MiB) |"
  echo "| RSS after the admin queries | $(mib "$RSS2") MiB (VmHWM $(mib "$HWM2") MiB) |"
  echo "| store on disk (db + WAL + shm) | $(mib "$STORE_KIB") MiB |"
  echo
  echo "RSS over time: ${CURVE%; }."
  echo
  echo "Admin queries at that size (ms; curl's time_total, 1 cold call then 20):"
  echo
  echo "| query | cold | median | p95 | max |"
  echo "|---|---:|---:|---:|---:|"
  cat "$QROWS"
  echo
  echo "| target (issue 6) | result | verdict |"
  echo "|---|---|---|"
  echo "| RSS ≤ 64 MiB after 1,000,000 runs | $(mib "$RSS") MiB after $RUNS runs | $(verdict "$(awk -v r="$RSS" 'BEGIN {print (r <= 65536) ? 1 : 0}')") |"
} >"$OUT"
record_section "$OUT"
