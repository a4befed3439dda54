#!/usr/bin/env bash
# bench/send.sh — qx-send delivering generated profiles, against wrk.
#
#   bench/send.sh [--quick]
#
# Generates QX_BENCH_PROFILES profiles (default 200,000; quick 2,000) with
# fixtures/profiles/generate, and has `qx-send send` (mapping
# fixtures/mappings/demo.json, --concurrency QX_BENCH_CONCURRENCY, default
# 32, no retries) deliver them to
#   nginx    a constant 200 (bench/nginx.conf), the sink with no cost
#   qx-mock  file store, every payload recorded as a run
# and compares with wrk POSTing one rendered payload to the same nginx with
# as many connections (2 threads: the client ceiling; 1 thread, as qx-send
# has one event loop, for reference). Reports requests/s (activated payloads
# per second of the whole run, from qx-send's report), latency, CPU time
# (user+system, /usr/bin/time) per profile and peak RSS; for qx-mock, that
# its run count equals the activated count.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_parse_args "$@"

N=${QX_BENCH_PROFILES:-$([ "$QUICK" = 1 ] && echo 2000 || echo 200000)}
CONC=${QX_BENCH_CONCURRENCY:-32}
MAP=$ROOT/fixtures/mappings/demo.json
GEN=$ROOT/fixtures/profiles/generate

need_apt wrk jq curl time nginx-light || die "cannot install wrk, jq, curl, time or nginx"
bench_build
[ -x "$GEN" ] || die "fixtures/profiles/generate is missing"

PROFILES=$WORK/profiles.ndjson
log "generating $N profiles"
"$GEN" "$N" 42 >"$PROFILES"
"$BIN/qx-send" render --mapping "$MAP" "$PROFILES" 2>/dev/null | head -1 >"$WORK/payload.json" || true
[ -s "$WORK/payload.json" ] || die "qx-send render gave no payload"

CFG=$WORK/qx-mock.json
write_qxmock_config "$CFG"
export QX_API_TOKEN=$QXB_TOKEN
destination() { # destination FILE BASE_URL
  jq -n --arg url "$2$QXB_INGEST_PATH" --arg user "$QXB_USER" \
    '{name: "bench", url: $url, username: $user, passwordEnv: "QX_API_TOKEN"}' >"$1"
}

ROWS=$WORK/rows.md
: >"$ROWS"

# send_to NAME BASE_URL SERVER_PID: one qx-send run; appends a row, sets
# S_ACTIVATED.
send_to() {
  local name=$1 base=$2 spid=$3 rc=0 b0 b1 t0 t1
  destination "$WORK/dest-$name.json" "$base"
  wait_quiet
  t0=$(cpu_ticks "$spid")
  b0=$(busy_ticks)
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time-$name.txt" \
    "$BIN/qx-send" send --destination "$WORK/dest-$name.json" --mapping "$MAP" \
    --concurrency "$CONC" --retry-schedule none --report "$WORK/report-$name.json" -q \
    "$PROFILES" 2>"$WORK/send-$name.err" || rc=$?
  b1=$(busy_ticks)
  t1=$(cpu_ticks "$spid")
  [ -f "$WORK/report-$name.json" ] || { cat "$WORK/send-$name.err" >&2; die "qx-send wrote no report"; }
  local wall user sys maxrss r
  read -r wall user sys maxrss <"$WORK/time-$name.txt"
  r=$WORK/report-$name.json
  S_ACTIVATED=$(jq -r .activated "$r")
  S_RPS=$(jq -r '.throughputPerSec | floor' "$r")
  local cpu_us
  cpu_us=$(awk -v u="$user" -v s="$sys" -v n="$N" 'BEGIN {printf "%.1f", (u + s) * 1e6 / n}')
  local other
  other=$(other_cpu "$b0" "$b1" $((t1 - t0)) "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" "$wall")
  printf '| qx-send → %s | %s | %s | %s | %s s | %s s (%s user + %s sys) | %s | %.1f | %s%% | %s activated, %s excluded, %s failed (exit %s) |\n' \
    "$name" "$S_RPS" "$(jq -r '.latencyMs.p50' "$r")" "$(jq -r '.latencyMs.p99' "$r")" "$wall" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')" "$user" "$sys" "$cpu_us" \
    "$(awk -v k="$maxrss" 'BEGIN {print k / 1024}')" "$other" "$S_ACTIVATED" "$(jq -r .excluded "$r")" \
    "$(jq -r .failed "$r")" "$rc" >>"$ROWS"
  log "qx-send → $name: $S_RPS/s, $cpu_us µs CPU per profile"
}

# --- nginx: wrk, then qx-send ---------------------------------------------------
start_nginx || die "nginx could not be started"
for t in 2 1; do
  wait_quiet
  t0=$(cpu_ticks "$NGINX_PID")
  b0=$(busy_ticks)
  QXB_THREADS=$t QXB_CONNS=$CONC run_wrk "$NGINX_URL$QXB_INGEST_PATH" "$WORK/payload.json" "$QXB_AUTH"
  b1=$(busy_ticks)
  t1=$(cpu_ticks "$NGINX_PID")
  other=$(other_cpu "$b0" "$b1" $((t1 - t0)) "$W_CPU_S" "$(awk -v us="$W_DUR_US" 'BEGIN {print us / 1e6}')")
  printf '| wrk -t%s -c%s → nginx | %s | %s | %s | %s s | %s s | | | %s%% | %s answers |\n' "$t" "$CONC" "$W_RPS" \
    "$W_P50" "$W_P99" "$DURATION" "$W_CPU_S" "$other" "$W_REQS" >>"$ROWS"
  [ "$t" = 2 ] && WRK_RPS=$W_RPS
  log "wrk -t$t → nginx: $W_RPS requests/s"
done
send_to nginx "$NGINX_URL" "$NGINX_PID"
SEND_NGX_RPS=$S_RPS
bg_stop "$NGINX_PID"

# --- qx-mock -------------------------------------------------------------------------
start_qxmock "$CFG" "$WORK/runs.db"
send_to qx-mock "$QXM_URL" "$QXM_PID"
sleep 0.5
RUNS=$(runs_total "$QXM_URL")
MOCK_ACTIVATED=$S_ACTIVATED
bg_stop "$QXM_PID"

OUT=$WORK/out.md
{
  echo "$N profiles from \`fixtures/profiles/generate $N 42\`, mapping fixtures/mappings/demo.json; qx-send --concurrency $CONC --retry-schedule none; wrk with one rendered payload ($(wc -c <"$WORK/payload.json") bytes), $DURATION s."
  echo
  echo "| client → sink | requests/s | p50 ms | p99 ms | wall | client CPU | CPU µs/profile | peak RSS MiB | other CPU | outcome |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  cat "$ROWS"
  echo
  echo "Other CPU: what the rest of the machine used meanwhile (all CPUs busy, less the client and the sink), in % of one core; the machine has 2."
  echo
  echo "qx-mock recorded $RUNS runs for $MOCK_ACTIVATED activated payloads."
  echo
  echo "| target (issue 6) | result | verdict |"
  echo "|---|---|---|"
  v=$(awk -v a="$SEND_NGX_RPS" -v b="$WRK_RPS" 'BEGIN {print (b > 0 && a / b >= 0.5) ? 1 : 0}')
  if [ "$QUICK" = 1 ]; then v="(quick run: not judged)"; elif [ "$v" = 1 ]; then v="**met**"; else v="**missed**"; fi
  echo "| qx-send ≥ 50% of wrk's requests/s to the same nginx | $(pct "$SEND_NGX_RPS" "$WRK_RPS") ($SEND_NGX_RPS vs $WRK_RPS) | $v |"
} >"$OUT"
record_section "$OUT"
