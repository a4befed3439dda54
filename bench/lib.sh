# bench/lib.sh — shared by the benchmark scripts (sourced, not run).
#
# Gives each script: option parsing (--quick), the build, a private work
# directory, background servers that are always stopped at exit (by the pids
# this script started, nothing else), free loopback ports, wrk runs parsed
# into variables, resident memory from /proc, and the update of the script's
# section in bench/RESULTS.md.
#
# Environment (all optional):
#   QX_BENCH_QUICK=1        same as --quick: seconds, for CI smoke; no thresholds
#   QX_BENCH_BUILD=DIR      build directory (default build-bench, Release)
#   QX_BENCH_NO_BUILD=1     use the binaries in QX_BENCH_BUILD/bin as they are
#   QX_BENCH_DURATION=S     seconds of each wrk run (default 10; quick: 2)
#   QX_BENCH_RESULTS=FILE   where the section goes (default bench/RESULTS.md;
#                           quick runs record nothing unless this is set)
#   QX_BENCH_KEEP=1         keep the work directory (logs, stores) at exit
#   QX_BENCH_LABEL=TEXT     record a variant as its own section, "name (TEXT)"
#   QX_BENCH_WAIT_IDLE=1    before each measurement, wait until the machine is
#                           idle (other processes under 20% of a core)

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
BUILD=${QX_BENCH_BUILD:-$ROOT/build-bench}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BIN=$BUILD/bin
QUICK=${QX_BENCH_QUICK:-0}
BENCH_NAME=$(basename "$0" .sh)
# QX_BENCH_LABEL=TEXT records a variant as its own section ("name (TEXT)").
BENCH_SECTION=$BENCH_NAME${QX_BENCH_LABEL:+ ($QX_BENCH_LABEL)}
BENCH_CMDLINE="bench/$(basename "$0")${*:+ $*}"
BENCH_PIDS=()
WORK=""
HZ=$(getconf CLK_TCK)

# Token and user of every benchmark config (loopback only, not a secret).
QXB_USER=api-user@example.com
QXB_TOKEN=QX-TEST-TOKEN-1
QXB_URL_TOKEN=6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50
QXB_INGEST_PATH="/inbound-event/v1/events/json/triggers?urlTokenId=$QXB_URL_TOKEN"
QXB_AUTH="Basic $(printf '%s:%s' "$QXB_USER" "$QXB_TOKEN" | base64 -w0)"

log() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() { log "error: $*"; exit 1; }

bench_parse_args() {
  local a
  for a in "$@"; do
    case "$a" in
      --quick) QUICK=1 ;;
      -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
      *) echo "$BENCH_NAME: unknown argument $a (try --help)" >&2; exit 2 ;;
    esac
  done
  if [ "$QUICK" = 1 ]; then
    DURATION=${QX_BENCH_DURATION:-2}
    RESULTS=${QX_BENCH_RESULTS:-}
  else
    DURATION=${QX_BENCH_DURATION:-10}
    RESULTS=${QX_BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
  fi
  LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/qx-bench-$BENCH_NAME.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# wait_quiet: with QX_BENCH_WAIT_IDLE=1, waits (at most QX_BENCH_IDLE_MAX
# seconds, default 600) until the machine's other processes use under 20% of
# a core over 2 s. The machine has 2 cores: a test suite running beside a
# benchmark halves what it measures. Call it before each measurement.
wait_quiet() {
  [ "${QX_BENCH_WAIT_IDLE:-0}" = 1 ] || return 0
  local end b0 b1 said=0
  end=$(($(date +%s) + ${QX_BENCH_IDLE_MAX:-600}))
  while [ "$(date +%s)" -lt "$end" ]; do
    b0=$(busy_ticks)
    sleep 2
    b1=$(busy_ticks)
    [ $(((b1 - b0) * 100 / HZ / 2)) -lt 20 ] && return 0
    [ "$said" = 0 ] && log "waiting for the machine to be idle ($(((b1 - b0) * 100 / HZ / 2))% of a core busy)"
    said=1
  done
  log "still busy; measuring anyway"
}

# other_cpu B0 B1 OWN_TICKS OWN_SECONDS WALL_SECONDS: the % of one core that
# processes other than ours used between busy_ticks B0 and B1 (ours: the
# servers' OWN_TICKS clock ticks plus the clients' OWN_SECONDS).
other_cpu() {
  awk -v b=$(($2 - $1)) -v t="$3" -v s="$4" -v w="$5" -v hz="$HZ" \
    'BEGIN {o = w > 0 ? 100 * ((b - t) / hz - s) / w : 0; printf "%.0f", o < 0 ? 0 : o}'
}

# Stops every server this script started (children first are not needed:
# each is one process or a master that stops its workers), then removes the
# work directory.
bench_cleanup() {
  local p i
  for p in "${BENCH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${BENCH_PIDS[@]}"; do
    for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ -n "$WORK" ] && [ "${QX_BENCH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
  [ -n "$WORK" ] && [ "${QX_BENCH_KEEP:-0}" = 1 ] && log "kept $WORK"
  return 0
}

# Stops one server started with bg_start and waits for it (at most 15 s).
bg_stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# bg_start LOG CMD...: starts CMD in the background; its pid in BG_PID.
bg_start() {
  local logf=$1
  shift
  "$@" >"$logf" 2>&1 &
  BG_PID=$!
  BENCH_PIDS+=("$BG_PID")
}

# --- dependencies ------------------------------------------------------------

APT_UPDATED=0
# need_apt PKG...: installs the Debian packages that are missing. Returns 1
# when that fails (the caller decides whether that is fatal).
need_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  if [ "$APT_UPDATED" = 0 ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2 || return 1
}

# need_npm PKG@RANGE...: installs npm packages into bench/.deps (never
# globally). Returns 1 when npm is missing or the install fails.
need_npm() {
  command -v npm >/dev/null || need_apt npm || return 1
  local dir=$BENCH_DIR/.deps want=() p name
  mkdir -p "$dir"
  for p in "$@"; do
    name=${p%@*}
    [ -f "$dir/node_modules/$name/package.json" ] || want+=("$p")
  done
  [ "${#want[@]}" -eq 0 ] && return 0
  log "npm install ${want[*]} into bench/.deps"
  (cd "$dir" && npm install --prefix . --no-audit --no-fund --loglevel=error "${want[@]}" >&2)
}

# Builds qx-mock and qx-send (Release) unless QX_BENCH_NO_BUILD=1.
bench_build() {
  if [ "${QX_BENCH_NO_BUILD:-0}" != 1 ]; then
    # shellcheck source=../ci/deps.sh
    source "$ROOT/ci/deps.sh"
    qx_install_deps
    if [ ! -f "$BUILD/CMakeCache.txt" ]; then
      cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    fi
    cmake --build "$BUILD" -j"$(nproc)" --target qx-mock qx-send >/dev/null
    # What the binaries were built from, for the results' "source" line.
    local rev
    if rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
      git -C "$ROOT" diff --quiet HEAD -- core mock-server sender CMakeLists.txt 2>/dev/null ||
        rev="$rev with uncommitted changes"
    else
      rev="unknown (not a git checkout)"
    fi
    echo "commit $rev" >"$BUILD/qx-bench-source.txt"
  fi
  [ -x "$BIN/qx-mock" ] && [ -x "$BIN/qx-send" ] || die "no qx-mock/qx-send in $BIN"
}

# Compiles bench/ready.c (the start-to-first-answer timer) into the work dir.
build_ready_timer() {
  READY=$WORK/ready
  cc -std=c11 -O2 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -o "$READY" "$BENCH_DIR/ready.c"
}

# --- ports, HTTP, processes ----------------------------------------------------

# A TCP port on 127.0.0.1 that no socket uses now, below the ephemeral range:
# a port in that range can be taken at any moment by a client connection (a
# busy machine makes thousands), and then the server cannot bind it.
free_port() {
  local p i low
  low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 12000 ] || low=32768
  for i in $(seq 1 200); do
    p=$((10000 + (RANDOM * 32768 + RANDOM) % (low - 10000)))
    if ! ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# wait_http URL SECONDS [PID]: until URL answers 2xx; fails if PID dies.
wait_http() {
  local url=$1 secs=$2 pid=${3:-} end
  end=$(($(date +%s) + secs))
  while [ "$(date +%s)" -le "$end" ]; do
    if curl -fs -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# rss_kib PID...: prints "VmRSS VmHWM" in KiB, summed over the pids and
# their children (nginx: master and workers).
rss_kib() {
  local all=() p
  for p in "$@"; do
    all+=("$p")
    for c in $(pgrep -P "$p" 2>/dev/null || true); do all+=("$c"); done
  done
  for p in "${all[@]}"; do cat "/proc/$p/status" 2>/dev/null || true; done |
    awk '/^VmRSS:/ {r += $2} /^VmHWM:/ {h += $2} END {printf "%d %d\n", r, h}'
}

# cpu_ticks PID: user+system clock ticks used so far by the process and its
# children (nginx's workers).
cpu_ticks() {
  local all=("$1") c
  for c in $(pgrep -P "$1" 2>/dev/null || true); do all+=("$c"); done
  for c in "${all[@]}"; do cat "/proc/$c/stat" 2>/dev/null || true; done |
    awk '{sub(/^.*\) /, ""); t += $12 + $13} END {print t + 0}'
}

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# Starts qx-mock: start_qxmock CONFIG DB [extra options]. Sets QXM_PID, QXM_URL.
start_qxmock() {
  local cfg=$1 db=$2 port
  shift 2
  port=$(free_port)
  bg_start "$WORK/qx-mock.$port.log" "$BIN/qx-mock" --config "$cfg" --db "$db" \
    --listen "127.0.0.1:$port" "$@"
  QXM_PID=$BG_PID
  QXM_URL="http://127.0.0.1:$port"
  wait_http "$QXM_URL/_qx/v1/health" 20 "$QXM_PID" || {
    cat "$WORK/qx-mock.$port.log" >&2
    die "qx-mock did not start"
  }
}

# runs_total URL [query]: the admin API's "total" for /_qx/v1/runs.
runs_total() {
  curl -fs --max-time 30 "$1/_qx/v1/runs?limit=1${2:+&$2}" | jq -r '.total'
}

# Writes the benchmark workflow config (rate limit off: the benchmark is the
# load, not the emulated 3,000 calls/minute). QX_BENCH_DUP_WINDOW=MS sets
# duplicateWindowMs (0: duplicate marking off); unset, qx-mock's default.
write_qxmock_config() {
  local dup=""
  [ -n "${QX_BENCH_DUP_WINDOW:-}" ] && dup="\"duplicateWindowMs\": $QX_BENCH_DUP_WINDOW,"
  cat >"$1" <<EOF
{
  "users": [{"username": "$QXB_USER", "apiToken": "$QXB_TOKEN"}],
  "rateLimitPerMinute": 0, $dup
  "workflows": [{
    "id": "WF_bench", "name": "Benchmark workflow", "enabled": true,
    "urlTokenId": "$QXB_URL_TOKEN",
    "eventData": {"email": "\$.identityMap.Email[0].id", "firstName": "\$.person.name.firstName"},
    "conditions": [{"field": "email", "op": "exists"}],
    "tasks": [
      {"type": "xm_directory_contact", "inputs": {"email": "~{aedj://email}", "firstName": "~{aedj://firstName}"}},
      {"type": "email_distribution", "inputs": {"email": "~{aedj://email}", "subject": "Hi ~{aedj://firstName}"}, "surveyId": "SV_bench"}
    ],
    "onTaskFailure": "continue",
    "authRequired": true,
    "delayMs": [0, 0]
  }]
}
EOF
}

# The seed payload with a valid email (both tasks succeed).
write_valid_payload() {
  jq -c '.identityMap.Email[0].id = "dave@example.com"' "$ROOT/fixtures/seed/expected-payload.json" >"$1"
}

# Starts nginx answering a constant 200 on a free port. Sets NGINX_PID, NGINX_URL.
# Returns 1 when nginx is not available.
start_nginx() {
  need_apt nginx-light || return 1
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || return 1
  local port
  port=$(free_port)
  mkdir -p "$WORK/nginx"
  sed -e "s|@PORT@|$port|g" -e "s|@WORK@|$WORK/nginx|g" "$BENCH_DIR/nginx.conf" >"$WORK/nginx/nginx.conf"
  bg_start "$WORK/nginx/stderr.log" /usr/sbin/nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" \
    -c "$WORK/nginx/nginx.conf"
  NGINX_PID=$BG_PID
  NGINX_URL="http://127.0.0.1:$port"
  wait_http "$NGINX_URL/" 10 "$NGINX_PID" || { cat "$WORK/nginx/error.log" >&2; return 1; }
}

# --- wrk ---------------------------------------------------------------------

# run_wrk URL BODYFILE [AUTH] [extra wrk options]: POSTs BODYFILE with
# bench/post.lua for DURATION seconds, 32 connections, 2 threads (override
# with QXB_CONNS / QXB_THREADS). Sets W_REQS W_RPS W_P50 W_P99 (ms) W_NON2XX
# W_ERRS W_2XX and keeps wrk's output in W_OUT.
run_wrk() {
  local url=$1 body=$2 auth=${3:-}
  shift 3 || shift $#
  W_OUT=$WORK/wrk.$RANDOM.out
  QXB_BODY=$body QXB_AUTH_HEADER=$auth /usr/bin/time -f '%U %S' -o "$W_OUT.time" wrk -t"${QXB_THREADS:-2}" -c"${QXB_CONNS:-32}" \
    -d"${QXB_WRK_DURATION:-$DURATION}s" --timeout 10s --latency -s "$BENCH_DIR/post.lua" "$@" "$url" \
    >"$W_OUT" 2>&1 || { cat "$W_OUT" >&2; return 1; }
  parse_wrk "$W_OUT"
}

parse_wrk() {
  local f=$1
  W_REQS=$(awk '$1 == "QXB" && $2 == "requests" {print $3}' "$f")
  W_DUR_US=$(awk '$1 == "QXB" && $2 == "duration_us" {print $3}' "$f")
  W_P50=$(awk '$1 == "QXB" && $2 == "p50_us" {printf "%.2f", $3 / 1000}' "$f")
  W_P99=$(awk '$1 == "QXB" && $2 == "p99_us" {printf "%.2f", $3 / 1000}' "$f")
  W_NON2XX=$(awk '$1 == "QXB" && $2 == "status_errors" {print $3}' "$f")
  W_ERRS=$(awk '$1 == "QXB" && $2 == "socket_errors" {print $3}' "$f")
  [ -n "$W_REQS" ] || { cat "$f" >&2; die "could not read wrk's summary"; }
  W_RPS=$(awk -v n="$W_REQS" -v us="$W_DUR_US" 'BEGIN {printf "%.0f", n / (us / 1e6)}')
  # wrk counts non-2xx/3xx answers; the servers here send no 3xx.
  W_2XX=$((W_REQS - W_NON2XX))
  # wrk's own CPU seconds, when it ran under /usr/bin/time
  W_CPU_S=$(awk '{print $1 + $2}' "$f.time" 2>/dev/null || echo 0)
}

# All CPUs' busy clock ticks so far (user, nice, system, irq, softirq, steal).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# --- reporting ---------------------------------------------------------------

machine_line() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  printf '%s cores, %s, %s GiB RAM, %s' "$(nproc)" "${cpu:-unknown CPU}" \
    "$(awk '/^MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" "$(uname -sr)"
}

source_line() {
  local src="source unknown (prebuilt)"
  [ -f "$BUILD/qx-bench-source.txt" ] && src=$(cat "$BUILD/qx-bench-source.txt")
  printf '%s, %s build (%s)' "$src" \
    "$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD/CMakeCache.txt" 2>/dev/null || echo '?')" \
    "${BUILD#"$ROOT"/}"
}

# record_section FILE: prints FILE (Markdown) and puts it, with the date,
# machine and command, as this script's section of RESULTS (replacing the
# previous one, or appended).
record_section() {
  local body=$1 sec=$WORK/section.md
  {
    echo "<!-- bench:$BENCH_SECTION begin -->"
    echo "## $BENCH_SECTION"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(machine_line); load average (1 min) $LOAD_START at start, $(cut -d' ' -f1 /proc/loadavg) at end"
    echo "- source: $(source_line)"
    echo "- command: \`$BENCH_CMDLINE\`$(env_note)"
    echo
    cat "$body"
    echo "<!-- bench:$BENCH_SECTION end -->"
  } >"$sec"
  echo
  cat "$sec" | sed -e '/^<!-- bench:/d'
  [ -n "$RESULTS" ] || return 0
  [ -f "$RESULTS" ] || printf '# Benchmark results\n\nWritten by the scripts in bench/ (see bench/README.md).\n\n' >"$RESULTS"
  if grep -qF "<!-- bench:$BENCH_SECTION begin -->" "$RESULTS"; then
    awk -v name="$BENCH_SECTION" -v sec="$sec" '
      $0 == "<!-- bench:" name " begin -->" {while ((getline l < sec) > 0) print l; skip = 1; next}
      $0 == "<!-- bench:" name " end -->" {skip = 0; next}
      !skip {print}' "$RESULTS" >"$RESULTS.tmp"
    mv "$RESULTS.tmp" "$RESULTS"
  else
    { echo; cat "$sec"; } >>"$RESULTS"
  fi
  log "section $BENCH_SECTION written to ${RESULTS#"$ROOT"/}"
}

# The QX_BENCH_* variables set for this run, for the "command" line.
env_note() {
  local v out=""
  for v in $(env | awk -F= '/^QX_BENCH_/ && $1 !~ /^QX_BENCH_(RESULTS|LABEL|WAIT_IDLE|QUICK)$/ {print $1}' | sort); do
    out="$out $v=${!v}"
  done
  [ -n "$out" ] && printf ' (with%s)' "$out"
  return 0
}

# pct A B: A as a percentage of B; ratio A B: A / B.
pct() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a"}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f×", a / b; else print "n/a"}'; }
