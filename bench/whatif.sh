#!/usr/bin/env bash
# bench/whatif.sh — `qx-mock whatif` on a recorded history of 10,000+ runs.
#
#   bench/whatif.sh [--quick]
#
# Records the history first: qx-mock on fixtures/whatif/workflows.json (the
# rate limit off for the recording, seed 19), QX_BENCH_PROFILES profiles
# (default 11,000; quick 1,000) from `fixtures/profiles/generate N 42` sent
# by qx-send to WF_csat_email with the use-case-1 e-mail mapping (two tasks
# a run: a contact and a distribution), then GET /_qx/v1/export. Then times
#   qx-mock whatif --history H --config fixtures/whatif/workflows.json
#   qx-mock whatif --history H --config fixtures/whatif/changes/jsonpath-typo.json
#   qx-mock whatif --history H --config fixtures/whatif/workflows.json \
#     --mapping fixtures/whatif/changes/mapping-renamed-attribute.json \
#     --old-mapping <the e-mail mapping> --profiles <the profiles>
# (wall, CPU, peak RSS) and checks their verdicts: the unchanged config
# exits 0 with "N unchanged, 0 changed", the typo and the renamed attribute
# exit 1 with every run changed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_parse_args "$@"

N=${QX_BENCH_PROFILES:-$([ "$QUICK" = 1 ] && echo 1000 || echo 11000)}
FIX=$ROOT/fixtures/whatif
SC=$ROOT/fixtures/scenarios/use-case-1-csat
need_apt jq time || die "cannot install jq or time"
bench_build

log "recording a history of $N profiles"
"$ROOT/fixtures/profiles/generate" "$N" 42 >"$WORK/profiles.ndjson"
jq '.rateLimitPerMinute = 0' "$FIX/workflows.json" >"$WORK/record.json"
start_qxmock "$WORK/record.json" "$WORK/record.db" --seed 19
printf '{"name":"bench","url":"%s/inbound-event/v1/events/json/triggers?urlTokenId=5b8e2f0c-1d4a-4f7b-9e3c-6a2d1f0e9b81","username":"cx-integration@example.com","passwordEnv":"QX_API_TOKEN"}' \
  "$QXM_URL" >"$WORK/dest.json"
QX_API_TOKEN=QX-CSAT-TOKEN-0001 "$BIN/qx-send" send -q --destination "$WORK/dest.json" \
  --mapping "$SC/mapping-email.json" --report "$WORK/send.json" "$WORK/profiles.ndjson"
SENT=$(jq -r '.activated' "$WORK/send.json")
curl -fsS -o /dev/null "$QXM_URL/_qx/v1/runs/wait?count=$SENT&timeoutMs=60000"
curl -fsS "$QXM_URL/_qx/v1/export" >"$WORK/history.ndjson"
bg_stop "$QXM_PID"
RUNS=$(wc -l <"$WORK/history.ndjson")
[ "$RUNS" = "$SENT" ] || die "recorded $RUNS runs for $SENT payloads"
FAILED=$(grep -c '"status":"FAILURE"' "$WORK/history.ndjson" || true)

ROWS=$WORK/rows.tsv
: >"$ROWS"
# timed NAME WANT_EXIT CONFIG [OPTION...]: times qx-mock whatif on the history.
timed() {
  local name=$1 want=$2 cfg=$3 rc=0
  shift 3
  wait_quiet
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time-$name.txt" "$BIN/qx-mock" whatif \
    --history "$WORK/history.ndjson" --config "$cfg" --report "$WORK/$name.json" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  [ "$rc" = "$want" ] || { tail -5 "$WORK/$name.err" >&2; die "$name exited $rc, not $want"; }
  printf '%s\t%s\t%s\n' "$name" "$(tail -1 "$WORK/time-$name.txt")" "$(tail -1 "$WORK/$name.out")" >>"$ROWS"
}
log "whatif, unchanged config"
timed unchanged 0 "$FIX/workflows.json"
grep -qx "$RUNS unchanged, 0 changed" "$WORK/unchanged.out" || die "the unchanged config changed runs"
log "whatif, JSONPath typo"
timed jsonpath-typo 1 "$FIX/changes/jsonpath-typo.json"
grep -qx "0 unchanged, $RUNS changed" "$WORK/jsonpath-typo.out" || die "the typo left runs unchanged"
log "whatif, a mapping that renames an attribute"
timed mapping-renamed-attribute 1 "$FIX/workflows.json" \
  --mapping "$FIX/changes/mapping-renamed-attribute.json" --old-mapping "$SC/mapping-email.json" \
  --profiles "$WORK/profiles.ndjson"
grep -qx "0 unchanged, $RUNS changed" "$WORK/mapping-renamed-attribute.out" ||
  die "the renamed attribute left runs unchanged"

OUT=$WORK/out.md
{
  echo "History: $RUNS runs ($FAILED FAILURE; $(du -k "$WORK/history.ndjson" | cut -f1) KiB of NDJSON) recorded from \`fixtures/profiles/generate $N 42\` sent to WF_csat_email (fixtures/whatif/workflows.json) with fixtures/scenarios/use-case-1-csat/mapping-email.json; each replayed run reads its run back from the store and is compared field by field; \`--report\` written."
  echo
  echo "The mapping row renders the $N profiles twice with \`qx-send render\` and replays every run through two emulators (the new payload, and the recorded one to name the cause)."
  echo
  echo "| config | wall s | runs/s | CPU s (user + sys) | peak RSS MiB | last line |"
  echo "|---|---:|---:|---:|---:|---|"
  while IFS=$'\t' read -r name times last; do
    read -r wall user sys maxrss <<<"$times"
    printf '| %s | %s | %s | %s + %s | %.1f | %s |\n' "$name" "$wall" \
      "$(awk -v n="$RUNS" -v w="$wall" 'BEGIN {printf "%.0f", (w > 0 ? n / w : 0)}')" "$user" "$sys" \
      "$(awk -v k="$maxrss" 'BEGIN {print k / 1024}')" "$last"
  done <"$ROWS"
  echo
  w=$(awk -F'\t' '$1 == "unchanged" {split($2, a, " "); print a[1]}' "$ROWS")
  v=$(awk -v w="$w" 'BEGIN {print (w < 10) ? 1 : 0}')
  if [ "$QUICK" = 1 ] || [ "$RUNS" -lt 10000 ]; then v="(not judged: fewer than 10,000 runs)"; elif [ "$v" = 1 ]; then v="**met**"; else v="**missed**"; fi
  echo "| target (issue 19) | result | verdict |"
  echo "|---|---|---|"
  echo "| 10,000-run history \"in seconds\" (< 10 s) | $w s for $RUNS runs | $v |"
} >"$OUT"
record_section "$OUT"
