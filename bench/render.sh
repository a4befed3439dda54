#!/usr/bin/env bash
# bench/render.sh — `qx-send render` against jq doing the same mapping.
#
#   bench/render.sh [--quick]
#
# Generates QX_BENCH_PROFILES profiles (default 1,000,000; quick 20,000)
# with fixtures/profiles/generate, then maps them with fixtures/mappings/
# demo.json twice, each writing its payloads to a file:
#   qx-send render --mapping fixtures/mappings/demo.json
#   jq -c -f bench/render.jq   (the same mapping written in jq)
# Reports profiles/s, CPU time, peak RSS and the ratio; checks that both
# give the same payloads: the same number of lines, and the first
# QX_BENCH_SAMPLE lines (default 1000) identical once normalised with jq -S.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_parse_args "$@"

N=${QX_BENCH_PROFILES:-$([ "$QUICK" = 1 ] && echo 20000 || echo 1000000)}
SAMPLE=${QX_BENCH_SAMPLE:-1000}
MAP=$ROOT/fixtures/mappings/demo.json
GEN=$ROOT/fixtures/profiles/generate

need_apt jq time || die "cannot install jq or time"
bench_build
[ -x "$GEN" ] || die "fixtures/profiles/generate is missing"

PROFILES=$WORK/profiles.ndjson
log "generating $N profiles"
"$GEN" "$N" 42 >"$PROFILES"

ROWS=$WORK/rows.tsv
: >"$ROWS"
# timed NAME OUTPUT CMD...: runs CMD with stdout to OUTPUT; appends
# "name, wall user sys maxrss_kib, lines, other CPU %" to ROWS.
timed() {
  local name=$1 out=$2 rc=0 b0 b1
  shift 2
  wait_quiet
  b0=$(busy_ticks)
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time-$name.txt" "$@" >"$out" 2>"$WORK/$name.err" || rc=$?
  b1=$(busy_ticks)
  # qx-send render exits 0 when every line was rendered or excluded.
  [ "$rc" = 0 ] || { tail -5 "$WORK/$name.err" >&2; die "$name failed (exit $rc)"; }
  local wall user sys maxrss
  read -r wall user sys maxrss <"$WORK/time-$name.txt"
  printf '%s\t%s\t%s\t%s\n' "$name" "$(cat "$WORK/time-$name.txt")" "$(wc -l <"$out")" \
    "$(other_cpu "$b0" "$b1" 0 "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" "$wall")" >>"$ROWS"
}
log "qx-send render"
timed qx-send "$WORK/qx-send.ndjson" "$BIN/qx-send" render --mapping "$MAP" "$PROFILES"
log "jq"
timed jq "$WORK/jq.ndjson" jq -c -f "$BENCH_DIR/render.jq" "$PROFILES"

QX_LINES=$(wc -l <"$WORK/qx-send.ndjson")
JQ_LINES=$(wc -l <"$WORK/jq.ndjson")
if cmp -s <(head -n "$SAMPLE" "$WORK/qx-send.ndjson" | jq -S -c .) \
  <(head -n "$SAMPLE" "$WORK/jq.ndjson" | jq -S -c .); then
  SAME="identical (jq -S)"
else
  SAME="**different**"
fi
rm -f "$WORK/qx-send.ndjson" "$WORK/jq.ndjson"

rate() { awk -F'\t' -v t="$1" -v n="$N" '$1 == t {split($2, a, " "); printf "%.0f", n / a[1]}' "$ROWS"; }
QX_RATE=$(rate qx-send)
JQ_RATE=$(rate jq)
OUT=$WORK/out.md
{
  echo "$N profiles ($(du -m "$PROFILES" | cut -f1) MB) from \`fixtures/profiles/generate $N 42\`, mapping fixtures/mappings/demo.json; output to a file."
  echo
  echo "| tool | profiles/s | wall s | CPU s (user + sys) | peak RSS MiB | payloads written | other CPU |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r name times lines other; do
    read -r wall user sys maxrss <<<"$times"
    printf '| %s | %s | %s | %s + %s | %.1f | %s | %s%% |\n' "$name" "$(rate "$name")" "$wall" "$user" "$sys" \
      "$(awk -v k="$maxrss" 'BEGIN {print k / 1024}')" "$lines" "$other"
  done <"$ROWS"
  echo
  echo "Other CPU: what the rest of the machine used meanwhile, in % of one core (2 cores)."
  echo
  echo "Same output: $QX_LINES and $JQ_LINES payloads; the first $SAMPLE $SAME."
  echo
  echo "| target (issue 6) | result | verdict |"
  echo "|---|---|---|"
  v=$(awk -v a="$QX_RATE" -v b="$JQ_RATE" 'BEGIN {print (b > 0 && a / b >= 5) ? 1 : 0}')
  if [ "$QUICK" = 1 ]; then v="(quick run: not judged)"; elif [ "$v" = 1 ]; then v="**met**"; else v="**missed**"; fi
  echo "| render ≥ 5× jq | $(ratio "$QX_RATE" "$JQ_RATE") | $v |"
} >"$OUT"
record_section "$OUT"
