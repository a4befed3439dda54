#!/usr/bin/env bash
# bench/profile.sh — where qx-mock's and qx-send's time goes, under load.
#
#   bench/profile.sh [--quick]
#
# perf record (999 Hz, DWARF call graphs) of:
#   1. qx-mock under wrk (seed payload, 32 connections), qx-mock's default
#      config (duplicate marking on), QX_BENCH_PROFILE_SECONDS (default 5)
#      from 2 s into the run;
#   2. the same with duplicateWindowMs 0;
#   3. qx-send send → nginx, QX_BENCH_PROFILES profiles (default 50,000);
#   4. qx-send render, 4 × that many profiles.
# Each gives the top functions by self and inclusive samples
# (bench/perf-summary.awk). For (2), strace -c -f counts qx-mock's system
# calls per stored run for 3 s. Not part of the smoke run (perf and strace
# slow the server; the numbers are for reading, not for comparing).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_parse_args "$@"

SECS=${QX_BENCH_PROFILE_SECONDS:-$([ "$QUICK" = 1 ] && echo 2 || echo 5)}
N=${QX_BENCH_PROFILES:-$([ "$QUICK" = 1 ] && echo 5000 || echo 50000)}
TOP=${QX_BENCH_TOP:-15}
MAP=$ROOT/fixtures/mappings/demo.json

need_apt wrk jq curl nginx-light linux-perf strace || die "cannot install wrk, jq, curl, nginx, perf or strace"
command -v perf >/dev/null || die "no perf"
bench_build

BODY=$WORK/payload.json
jq -c . "$ROOT/fixtures/seed/expected-payload.json" >"$BODY"
OUT=$WORK/out.md
: >"$OUT"

# summary PERF_DATA [PICK]: the tables of bench/perf-summary.awk.
summary() {
  perf script -i "$1" 2>/dev/null | awk -v top="$TOP" -v pick="${2:-}" -f "$BENCH_DIR/perf-summary.awk"
}
# Where a stored run's time goes, by stage.
MOCK_PICK=on_request,qxm_ingest_handle,qxm_engine_event,json_loadb,qxm_workflow_execute,store_run,qxm_run_insert_prepare,qx_json_write,hash_json,qxm_envelope_ok,send_answer,MHD_suspend_connection,MHD_resume_connection,committer_main,qxm_store_insert_runs,insert_row,find_duplicate,sqlite3_step,sqlite3VdbeHalt,sqlite3WalFrames,checkpointer_main,scheduler_main,qxm_store_finish_due,check_waiters,qxm_scheduler_kick,__x64_sys_futex,__x64_sys_epoll_wait,__x64_sys_pwrite64
SEND_PICK=qxs_input_take,json_loadb,handle_record,qxs_render,qxs_payload_dump,qxs_deliverer_submit,qxs_multi_poll_wait,qxs_multi_poll_run_timer,curl_multi_socket_action,json_delete,__x64_sys_poll,__x64_sys_sendto,__x64_sys_recvfrom
RENDER_PICK=qxs_input_take,json_loadb,qxs_render,qxs_payload_dump,json_dumpb,__GI___libc_write,json_delete

# profile_mock TITLE: qx-mock under wrk, perf attached for SECS seconds.
profile_mock() {
  local title=$1 before after
  write_qxmock_config "$WORK/qx-mock.json"
  rm -f "$WORK/runs.db"*
  start_qxmock "$WORK/qx-mock.json" "$WORK/runs.db"
  QXB_BODY=$BODY QXB_AUTH_HEADER=$QXB_AUTH wrk -t2 -c32 -d$((SECS + 7))s --latency \
    -s "$BENCH_DIR/post.lua" "$QXM_URL$QXB_INGEST_PATH" >"$WORK/wrk-prof.out" 2>&1 &
  local wrk_job=$!
  sleep 2
  before=$(runs_total "$QXM_URL")
  perf record -F 999 --call-graph dwarf,16384 -p "$QXM_PID" -o "$WORK/mock.perf" -- sleep "$SECS" \
    >/dev/null 2>&1
  after=$(runs_total "$QXM_URL")
  if [ "${WITH_STRACE:-0}" = 1 ]; then
    local s0 s1
    s0=$(runs_total "$QXM_URL")
    timeout -s INT 3 strace -c -f -p "$QXM_PID" -o "$WORK/strace.txt" >/dev/null 2>&1 || true
    s1=$(runs_total "$QXM_URL")
  fi
  wait "$wrk_job"
  parse_wrk "$WORK/wrk-prof.out"
  {
    echo "### $title"
    echo
    echo "wrk: $W_RPS requests/s overall; $((after - before)) runs stored while perf was attached ($before → $after runs in the store)."
    echo
    summary "$WORK/mock.perf" "$MOCK_PICK"
    echo
    if [ "${WITH_STRACE:-0}" = 1 ]; then
      local n=$((s1 - s0))
      echo "System calls over 3 s under strace -c -f ($n runs stored meanwhile; strace slows the server):"
      echo
      echo "| syscall | calls | per run | time share |"
      echo "|---|---:|---:|---:|"
      awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 {name = $NF; calls = $4
        if (n > 0) printf "| %s | %s | %.1f | %s%% |\n", name, calls, calls / n, $1}' "$WORK/strace.txt" | head -12
      echo
    fi
  } >>"$OUT"
  bg_stop "$QXM_PID"
  rm -f "$WORK/mock.perf"
}

log "qx-mock, default config"
profile_mock "qx-mock ingest, default config (duplicate marking on), seed payload repeated"
log "qx-mock, duplicateWindowMs 0"
QX_BENCH_DUP_WINDOW=0 WITH_STRACE=1 profile_mock "qx-mock ingest, duplicateWindowMs 0"

# --- qx-send -------------------------------------------------------------------------
"$ROOT/fixtures/profiles/generate" $((N * 4)) 42 >"$WORK/profiles4.ndjson"
head -n "$N" "$WORK/profiles4.ndjson" >"$WORK/profiles.ndjson"
start_nginx || die "nginx could not be started"
export QX_API_TOKEN=$QXB_TOKEN
jq -n --arg url "$NGINX_URL$QXB_INGEST_PATH" --arg user "$QXB_USER" \
  '{name: "bench", url: $url, username: $user, passwordEnv: "QX_API_TOKEN"}' >"$WORK/dest.json"
log "qx-send send → nginx"
perf record -F 999 --call-graph dwarf,16384 -o "$WORK/send.perf" -- \
  "$BIN/qx-send" send --destination "$WORK/dest.json" --mapping "$MAP" --concurrency 32 \
  --retry-schedule none --report "$WORK/report.json" -q "$WORK/profiles.ndjson" >/dev/null 2>&1 || true
{
  echo "### qx-send send → nginx, $N profiles, --concurrency 32"
  echo
  echo "Report: $(jq -c '{activated, throughputPerSec, latencyMs}' "$WORK/report.json")"
  echo
  summary "$WORK/send.perf" "$SEND_PICK"
  echo
} >>"$OUT"
rm -f "$WORK/send.perf"
bg_stop "$NGINX_PID"

log "qx-send render"
perf record -F 999 --call-graph dwarf,16384 -o "$WORK/render.perf" -- \
  "$BIN/qx-send" render --mapping "$MAP" "$WORK/profiles4.ndjson" >"$WORK/render.out" 2>/dev/null
{
  echo "### qx-send render, $((N * 4)) profiles to a file"
  echo
  summary "$WORK/render.perf" "$RENDER_PICK"
  echo
} >>"$OUT"
rm -f "$WORK/render.perf"
record_section "$OUT"
