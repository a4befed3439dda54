#!/usr/bin/env bash
# ci/demo.sh — the first thing to run: installs what is missing, builds,
# runs the fixture scenario suites, then starts qx-mock on the demo workflows,
# streams the demo profiles through qx-send and prints the run history and
# where the web page is. On a terminal it keeps qx-mock running until Enter.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

source ci/deps.sh jq
qx_install_deps

cmake -S "$ROOT" -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
BIN=$ROOT/build/bin

echo "== Scenario suites (fixtures/scenarios) =="
"$BIN/qx-mock" suite fixtures/scenarios/* || echo "(a scenario failed: see above)"
echo

work=$(mktemp -d)
mock_pid=""
cleanup() {
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Start the emulator on a free port and read its address from its first line.
"$BIN/qx-mock" --config fixtures/workflows/demo.json --listen 127.0.0.1:0 --seed 1 \
  >"$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/mock.out" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/^qx-mock listening on //p' "$work/mock.out")
if [ -z "$url" ]; then echo "demo: qx-mock did not start:" >&2; cat "$work/mock.err" >&2; exit 1; fi
echo "== Streaming demo =="
echo "qx-mock is running at $url (run history page: $url/)"

trigger="$url/inbound-event/v1/events/json/triggers?urlTokenId=6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50"
export QX_API_TOKEN=QX-TEST-TOKEN-1   # the demo user's token, from the environment only

if [ -x "$BIN/qx-send" ] && [ -f fixtures/profiles/demo.ndjson ]; then
  jq --arg url "$trigger" '.url = $url' fixtures/destinations/demo.json >"$work/destination.json"
  echo "Streaming fixtures/profiles/demo.ndjson through qx-send ..."
  "$BIN/qx-send" send --destination "$work/destination.json" --mapping fixtures/mappings/demo.json \
    --report "$work/report.json" fixtures/profiles/demo.ndjson || true
  echo "qx-send report:"; jq -c '{read, activated, excluded, failed, retries, excludedReasons}' "$work/report.json"
  expected=$(jq '.activated' "$work/report.json")
else
  echo "Posting the seed payload with curl ..."
  # curl reads the credentials from a config on stdin, so the token is not on a command line.
  printf 'user = "api-user@example.com:%s"\n' "$QX_API_TOKEN" |
    curl -sS -K - -H 'Content-Type: application/json' --data-binary @fixtures/seed/expected-payload.json "$trigger"
  echo
  expected=1
fi

echo "Waiting for $expected run(s) to finish ..."
curl -sS "$url/_qx/v1/runs/wait?count=$expected&timeoutMs=30000" >"$work/runs.json" || true
echo
echo "Run history:"
jq -r '.runs[] | [.receivedAt, .workflowId, .status, (.eventData.email // "-"), (.error // "")] | @tsv' \
  "$work/runs.json" | column -t -s $'\t'
echo
jq -r '[.runs[].status] | group_by(.) | map("\(.[0]): \(length)") | join(", ")' "$work/runs.json"
echo
echo "Requests that started no run:"
curl -sS "$url/_qx/v1/requests" | jq -r '.requests[] | "  \(.httpStatus) \(.workflowId // "-") \(.reason)"'

if [ -t 0 ] && [ -t 1 ]; then
  echo
  read -r -p "The run-history page is at $url/ — press Enter to stop qx-mock. " _
fi
