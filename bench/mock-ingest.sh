#!/usr/bin/env bash
# bench/mock-ingest.sh — qx-mock's ingest against bare libmicrohttpd, nginx,
# WireMock and mountebank.
#
#   bench/mock-ingest.sh [--quick]
#
# wrk (1 thread — QXB_THREADS overrides —, 32 connections, QX_BENCH_DURATION
# seconds, default 10) POSTs the seed payload (fixtures/seed/expected-payload.json)
# with valid Basic auth to, one after another:
#   qx-mock     file store (--db), a workflow with eventData, a condition and
#               both tasks; every accepted request is stored as a run (the
#               seed email "Email-2Sf6C" is no address, so its runs end
#               FAILURE: recorded all the same)
#   mhd         bench/mhd-bare.c: libmicrohttpd with qx-mock's daemon flags,
#               thread pool and limits, reading the body and answering a
#               constant document: the ceiling of any server on this library
#   nginx       a constant 200 (bench/nginx.conf)
#   WireMock    npm package "wiremock" (bundled jar, java), the same stub
#               (method, path, urlTokenId, Basic auth, JSON body), request
#               journal on (its default)
#   mountebank  npm package "@mbtest/mountebank", the same stub
# Each server first gets a warm-up of QX_BENCH_WARMUP seconds (default 5,
# quick 1) that is not measured, WireMock one of QX_BENCH_WM_WARMUP seconds
# (default 20, quick 1: the JVM compiles its hot paths then); the qx-mock
# store is emptied after it. Reported: requests/s, p50/p99 latency,
# the server's resident memory after the run (VmRSS, peak VmHWM), its CPU
# use, and qx-mock's ratio to each; wrk's 2xx count against qx-mock's
# /_qx/v1/runs total; and the time from process start to the first accepted
# request (bench/ready.c) for qx-mock (QX_BENCH_READY_TRIES, default 10) and
# WireMock (3 tries).
#
# WireMock or mountebank that cannot be installed (npm, java) is reported as
# "skipped: reason"; wrk, nginx, jq and the build are required.
# QX_BENCH_PAYLOAD=valid sends the seed payload with a valid email instead;
# QX_BENCH_PAYLOAD=unique a distinct one per request (QXB_UNIQUE=1: the seed
# payload with u<thread>-<n>@example.com, so each run creates a contact and a
# distribution: the case users should read);
# QX_BENCH_SERVERS="qx-mock mhd" measures only those (default: all five);
# QX_BENCH_DUP_WINDOW=0 turns qx-mock's duplicate marking off.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_parse_args "$@"

WARMUP=${QX_BENCH_WARMUP:-$([ "$QUICK" = 1 ] && echo 1 || echo 5)}
WM_WARMUP=${QX_BENCH_WM_WARMUP:-$([ "$QUICK" = 1 ] && echo 1 || echo 20)}
export QXB_THREADS=${QXB_THREADS:-1}
READY_TRIES=${QX_BENCH_READY_TRIES:-$([ "$QUICK" = 1 ] && echo 3 || echo 10)}
WM_READY_TRIES=$([ "$QUICK" = 1 ] && echo 1 || echo 3)
TRIES=${QX_BENCH_TRIES:-$([ "$QUICK" = 1 ] && echo 1 || echo 3)}
MAX_OTHER=${QX_BENCH_MAX_OTHER:-15}
SERVERS=" ${QX_BENCH_SERVERS:-qx-mock mhd nginx wiremock mountebank} "
wanted() { case "$SERVERS" in *" $1 "*) return 0 ;; esac; return 1; }

need_apt wrk jq curl time nginx-light || die "cannot install wrk, jq, curl or nginx"
bench_build
build_ready_timer

BODY=$WORK/payload.json
if [ "${QX_BENCH_PAYLOAD:-seed}" = valid ]; then
  write_valid_payload "$BODY"
elif [ "${QX_BENCH_PAYLOAD:-seed}" = unique ]; then
  jq -c '.identityMap.Email[0].id = "QXBEMAIL"' "$ROOT/fixtures/seed/expected-payload.json" >"$BODY"
  export QXB_UNIQUE=1 QXB_EVERY=0
else
  jq -c . "$ROOT/fixtures/seed/expected-payload.json" >"$BODY"
fi
CFG=$WORK/qx-mock.json
write_qxmock_config "$CFG"
ROWS=$WORK/rows.tsv # name rps p50 p99 rss hwm cpu non2xx errors note
: >"$ROWS"

# measure NAME URL PID...: warm-up, then the measured wrk run; appends a row.
# The machine has 2 cores: when other processes (a test suite, a build) used
# more than QX_BENCH_MAX_OTHER % of a core meanwhile, the measurement is
# repeated (QX_BENCH_TRIES times in all, default 3) and the row says so.
measure() {
  local name=$1 url=$2
  shift 2
  local t0 t1 b0 b1 rss hwm cpu other try note
  if [ "$WARMUP" -gt 0 ]; then
    QXB_WRK_DURATION=$WARMUP run_wrk "$url" "$BODY" "$QXB_AUTH" >/dev/null
  fi
  for try in $(seq 1 "$TRIES"); do
    if [ -n "${BEFORE_MEASURE:-}" ]; then $BEFORE_MEASURE; fi
    wait_quiet
    t0=0
    for p in "$@"; do t0=$((t0 + $(cpu_ticks "$p"))); done
    b0=$(busy_ticks)
    run_wrk "$url" "$BODY" "$QXB_AUTH"
    b1=$(busy_ticks)
    t1=0
    for p in "$@"; do t1=$((t1 + $(cpu_ticks "$p"))); done
    cpu=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v us="$W_DUR_US" 'BEGIN {printf "%.0f", 100 * t / hz / (us / 1e6)}')
    # busy time of all CPUs, less the server's and wrk's, in % of one core
    other=$(other_cpu "$b0" "$b1" $((t1 - t0)) "$W_CPU_S" "$(awk -v us="$W_DUR_US" 'BEGIN {print us / 1e6}')")
    [ "$other" -le "$MAX_OTHER" ] && break
    log "$name: other processes used $other% of a core meanwhile (try $try of $TRIES)"
  done
  note=""
  [ "$other" -gt "$MAX_OTHER" ] && note="disturbed"
  read -r rss hwm < <(rss_kib "$@")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$W_RPS" "$W_P50" "$W_P99" \
    "$(mib "$rss")" "$(mib "$hwm")" "$cpu%" "$other%${note:+ ($note)}" "$W_NON2XX" "$W_ERRS" "" >>"$ROWS"
  log "$name: $W_RPS requests/s, p50 $W_P50 ms, p99 $W_P99 ms, RSS $(mib "$rss") MiB"
}

skip_row() {
  printf '%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\tskipped: %s\n' "$1" "$2" >>"$ROWS"
  log "$1 skipped: $2"
}

# ready_request FILE: a raw ingest POST with the payload, connection closed.
ready_request() {
  {
    printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n' "$QXB_INGEST_PATH" "$QXB_AUTH"
    printf 'Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' \
      "$(wc -c <"$BODY")"
    cat "$BODY"
  } >"$1"
}
ready_request "$WORK/ready.req"

# median of the numbers on stdin
median() { sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# --- qx-mock ---------------------------------------------------------------------
QXM_2XX=n/a QXM_RUNS=n/a QXM_FINISHED=n/a QXM_DB_KIB=0 QXM_READY=n/a QXM_READY_MAX=n/a
if wanted qx-mock; then
log "qx-mock: ready time ($READY_TRIES tries)"
wait_quiet
: >"$WORK/ready-qxmock.txt"
for i in $(seq 1 "$READY_TRIES"); do
  for attempt in 1 2 3; do # a port taken meanwhile by someone else: another one
    port=$(free_port)
    if "$READY" "$port" "$WORK/ready.req" 10000 "$BIN/qx-mock" --config "$CFG" \
      --db "$WORK/ready-$i.db" --listen "127.0.0.1:$port" >>"$WORK/ready-qxmock.txt"; then
      break
    fi
    [ "$attempt" = 3 ] && die "qx-mock did not become ready"
  done
  rm -f "$WORK/ready-$i.db"*
done
QXM_READY=$(median <"$WORK/ready-qxmock.txt")
QXM_READY_MAX=$(sort -n "$WORK/ready-qxmock.txt" | tail -1)

start_qxmock "$CFG" "$WORK/runs.db"
reset_qxmock() {
  sleep 0.5 # answers still in flight when wrk stopped
  curl -fs -X DELETE -o /dev/null "$QXM_URL/_qx/v1/runs"
}
BEFORE_MEASURE=reset_qxmock
measure qx-mock "$QXM_URL$QXB_INGEST_PATH" "$QXM_PID"
BEFORE_MEASURE=
QXM_2XX=$W_2XX
sleep 0.5
QXM_RUNS=$(runs_total "$QXM_URL")
QXM_FINISHED=$(curl -fs "$QXM_URL/_qx/v1/runs/wait?count=1&timeoutMs=1000" | jq -r '.count')
QXM_DB_KIB=$(du -k -c "$WORK/runs.db"* | tail -1 | cut -f1)
bg_stop "$QXM_PID"
fi

# --- bare libmicrohttpd -------------------------------------------------------------
if wanted mhd; then
  MHD_BIN=$WORK/mhd-bare
  if cc -std=c11 -O2 -Wall -Wextra -D_DEFAULT_SOURCE -o "$MHD_BIN" "$BENCH_DIR/mhd-bare.c" \
    -lmicrohttpd; then
    port=$(free_port)
    bg_start "$WORK/mhd-bare.log" "$MHD_BIN" "$port"
    MHD_PID=$BG_PID
    if wait_http "http://127.0.0.1:$port/" 10 "$MHD_PID"; then
      measure "libmicrohttpd (bare)" "http://127.0.0.1:$port$QXB_INGEST_PATH" "$MHD_PID"
    else
      skip_row "libmicrohttpd (bare)" "it did not start"
    fi
    bg_stop "$MHD_PID"
  else
    skip_row "libmicrohttpd (bare)" "bench/mhd-bare.c did not build (libmicrohttpd headers?)"
  fi
fi

# --- nginx -------------------------------------------------------------------------
if ! wanted nginx; then
  :
elif start_nginx; then
  measure nginx "$NGINX_URL$QXB_INGEST_PATH" "$NGINX_PID"
  bg_stop "$NGINX_PID"
else
  skip_row nginx "nginx could not be started"
fi

# --- WireMock ------------------------------------------------------------------------
WM_READY=n/a
WM_READY_MAX=n/a
wm_skip=""
wanted wiremock || wm_skip="not selected (QX_BENCH_SERVERS)"
[ -n "$wm_skip" ] || command -v java >/dev/null || need_apt openjdk-17-jre-headless || wm_skip="java (openjdk-17-jre-headless) could not be installed"
if [ -z "$wm_skip" ]; then
  need_npm wiremock@3 || wm_skip="npm package wiremock could not be installed"
fi
WM_JAR=$(ls "$BENCH_DIR"/.deps/node_modules/wiremock/build/wiremock-standalone-*.jar 2>/dev/null | head -1 || true)
[ -z "$wm_skip" ] && [ -z "$WM_JAR" ] && wm_skip="no jar in the npm package wiremock"
if [ -z "$wm_skip" ]; then
  mkdir -p "$WORK/wiremock/mappings" "$WORK/wiremock/__files"
  jq -n --arg path "${QXB_INGEST_PATH%%\?*}" --arg token "$QXB_URL_TOKEN" --arg user "$QXB_USER" \
    --arg pass "$QXB_TOKEN" '{
      request: {method: "POST", urlPath: $path,
        queryParameters: {urlTokenId: {equalTo: $token}},
        basicAuthCredentials: {username: $user, password: $pass},
        headers: {"Content-Type": {contains: "application/json"}},
        bodyPatterns: [{matchesJsonPath: "$.identityMap"}]},
      response: {status: 200, headers: {"Content-Type": "application/json"},
        jsonBody: {result: {runId: "RUN_000000000000000", workflowId: "WF_bench"},
                   meta: {httpStatus: "200 - OK", requestId: "00000000-0000-4000-8000-000000000000"}}}
    }' >"$WORK/wiremock/mappings/ingest.json"
  wm_cmd=(java -jar "$WM_JAR" --bind-address 127.0.0.1 --root-dir "$WORK/wiremock" --disable-banner)
  log "WireMock: ready time ($WM_READY_TRIES tries)"
  wait_quiet
  : >"$WORK/ready-wm.txt"
  for i in $(seq 1 "$WM_READY_TRIES"); do
    port=$(free_port)
    "$READY" "$port" "$WORK/ready.req" 120000 "${wm_cmd[@]}" --port "$port" >>"$WORK/ready-wm.txt" || true
  done
  WM_READY=$(median <"$WORK/ready-wm.txt")
  WM_READY_MAX=$(sort -n "$WORK/ready-wm.txt" | tail -1)
  port=$(free_port)
  bg_start "$WORK/wiremock.log" "${wm_cmd[@]}" --port "$port"
  WM_PID=$BG_PID
  if wait_http "http://127.0.0.1:$port/__admin/health" 120 "$WM_PID"; then
    log "WireMock: warming up for $WM_WARMUP s"
    QXB_WRK_DURATION=$WM_WARMUP run_wrk "http://127.0.0.1:$port$QXB_INGEST_PATH" "$BODY" "$QXB_AUTH" >/dev/null
    measure WireMock "http://127.0.0.1:$port$QXB_INGEST_PATH" "$WM_PID"
    WM_JOURNAL=$(curl -fs "http://127.0.0.1:$port/__admin/requests?limit=1" | jq -r '.meta.total' || echo '?')
    log "WireMock journal holds $WM_JOURNAL requests"
  else
    skip_row WireMock "it did not start (see its log)"
  fi
  bg_stop "$WM_PID"
else
  skip_row WireMock "$wm_skip"
fi

# --- mountebank -------------------------------------------------------------------------
mb_skip=""
wanted mountebank || mb_skip="not selected (QX_BENCH_SERVERS)"
[ -n "$mb_skip" ] || need_npm @mbtest/mountebank@2 || mb_skip="npm package @mbtest/mountebank could not be installed"
MB=$BENCH_DIR/.deps/node_modules/@mbtest/mountebank/bin/mb
[ -z "$mb_skip" ] && [ ! -f "$MB" ] && mb_skip="no bin/mb in @mbtest/mountebank"
if [ -z "$mb_skip" ]; then
  mbport=$(free_port)
  bg_start "$WORK/mb.log" node "$MB" start --host 127.0.0.1 --port "$mbport" \
    --loglevel warn --nologfile --pidfile "$WORK/mb.pid"
  MB_PID=$BG_PID
  if wait_http "http://127.0.0.1:$mbport/" 60 "$MB_PID"; then
    port=$(free_port)
    jq -n --argjson port "$port" --arg path "${QXB_INGEST_PATH%%\?*}" --arg token "$QXB_URL_TOKEN" \
      --arg auth "$QXB_AUTH" '{
        port: $port, protocol: "http", host: "127.0.0.1", recordRequests: false,
        stubs: [{
          predicates: [{equals: {method: "POST", path: $path, query: {urlTokenId: $token},
                                 headers: {Authorization: $auth, "Content-Type": "application/json"}}},
                       {exists: {body: {identityMap: true}}}],
          responses: [{is: {statusCode: 200, headers: {"Content-Type": "application/json"},
            body: {result: {runId: "RUN_000000000000000", workflowId: "WF_bench"},
                   meta: {httpStatus: "200 - OK", requestId: "00000000-0000-4000-8000-000000000000"}}}}]
        }]}' | curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @- \
      "http://127.0.0.1:$mbport/imposters"
    measure mountebank "http://127.0.0.1:$port$QXB_INGEST_PATH" "$MB_PID"
  else
    skip_row mountebank "it did not start (see its log)"
  fi
  bg_stop "$MB_PID"
else
  skip_row mountebank "$mb_skip"
fi

# --- report ---------------------------------------------------------------------------------
QXM_RPS=$(awk -F'\t' '$1 == "qx-mock" {print $2}' "$ROWS")
QXM_P99=$(awk -F'\t' '$1 == "qx-mock" {print $4}' "$ROWS")
NGX_RPS=$(awk -F'\t' '$1 == "nginx" && $2 != "-" {print $2}' "$ROWS")
MHD_RPS=$(awk -F'\t' '$1 == "libmicrohttpd (bare)" && $2 != "-" {print $2}' "$ROWS")
WM_RPS=$(awk -F'\t' '$1 == "WireMock" && $2 != "-" {print $2}' "$ROWS")

verdict() { # verdict OK? TEXT
  if [ "$QUICK" = 1 ]; then echo "(quick run: not judged)"; elif [ "$1" = 1 ]; then echo "**met**"; else echo "**missed**"; fi
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN {print (a != "" && b != "" && a + 0 >= b + 0) ? 1 : 0}'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN {print (a != "" && b != "" && a != "n/a" && a + 0 < b + 0) ? 1 : 0}'; }

OUT=$WORK/out.md
{
  echo "wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}'), ${QXB_THREADS} thread(s), ${QXB_CONNS:-32} connections, ${DURATION} s measured after a ${WARMUP} s warm-up (WireMock: ${WM_WARMUP} s, journal on); payload $(wc -c <"$BODY") bytes with Basic auth$([ "${QXB_UNIQUE:-0}" = 1 ] && echo ", a distinct email per request (QXB_UNIQUE=1)")."
  echo
  echo "| server | requests/s | p50 ms | p99 ms | RSS after MiB | peak RSS MiB | server CPU | CPU µs/request | other CPU | non-2xx | socket errors | qx-mock ÷ this |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r name rps p50 p99 rss hwm cpu other non2xx errs note; do
    if [ -n "$note" ]; then
      echo "| $name | $note | | | | | | | | | | |"
    else
      echo "| $name | $rps | $p50 | $p99 | $rss | $hwm | $cpu | $(awk -v c="${cpu%\%}" -v r="$rps" 'BEGIN {if (r > 0) printf "%.1f", c / 100 / r * 1e6; else print "n/a"}') | $other | $non2xx | $errs | $(ratio "$QXM_RPS" "$rps") |"
    fi
  done <"$ROWS"
  echo
  echo "Server CPU: user+system time of the server process(es) during the measured run (CPU µs/request: that divided by the requests answered, the cost that contention does not hide); other CPU: what the rest of the machine used meanwhile (all CPUs busy, less the server and wrk), a test suite running beside the benchmark shows here. 100% = one core; the machine has 2, shared by wrk and the server."
  echo
  echo "| check | value |"
  echo "|---|---|"
  echo "| qx-mock: wrk's 2xx answers (measured run) | $QXM_2XX |"
  echo "| qx-mock: /_qx/v1/runs \`total\` after it | $QXM_RUNS (finished: $QXM_FINISHED) |"
  echo "| qx-mock: store size (db + WAL) | $(mib "$QXM_DB_KIB") MiB |"
  echo "| ready (start → first accepted POST), qx-mock | median $QXM_READY ms, max $QXM_READY_MAX ms ($READY_TRIES tries, new store each) |"
  echo "| ready, WireMock | median $WM_READY ms, max $WM_READY_MAX ms ($WM_READY_TRIES tries) |"
  echo
  echo "| target (issue 17) | result | verdict |"
  echo "|---|---|---|"
  echo "| ingest ≥ 33% of bare libmicrohttpd | $(pct "$QXM_RPS" "${MHD_RPS:-0}") | $([ -n "$MHD_RPS" ] && verdict "$(ge "$(awk -v a="$QXM_RPS" -v b="$MHD_RPS" 'BEGIN {print a / b}')" 0.33)" || echo "bare libmicrohttpd skipped") |"
  echo "| ingest ≥ 2× warm WireMock, journal on | $(ratio "$QXM_RPS" "${WM_RPS:-0}") | $([ -n "$WM_RPS" ] && verdict "$(ge "$(awk -v a="$QXM_RPS" -v b="$WM_RPS" 'BEGIN {print a / b}')" 2)" || echo "WireMock skipped") |"
  echo "| p99 ≤ 2 ms at 32 connections | $QXM_P99 ms | $(verdict "$(lt "$QXM_P99" 2.0001)") |"
  echo "| every 2xx recorded as a run | $QXM_RUNS runs for $QXM_2XX 2xx | $(verdict "$(ge "$QXM_RUNS" "$QXM_2XX")") |"
  echo "| ready < 50 ms | $QXM_READY ms (median) | $(verdict "$(lt "$QXM_READY" 50)") |"
} >"$OUT"
record_section "$OUT"
