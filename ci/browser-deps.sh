#!/usr/bin/env bash
# ci/browser-deps.sh — what the browser test (ctest label "browser") needs:
# Debian's Chromium and ChromeDriver, Node.js with npm, and playwright-core
# and axe-core (the accessibility audit)
# from tests/browser/package-lock.json. Installs only what is missing; never
# lets a tool download a browser of its own (Chromium comes from Debian).
#
#   ci/browser-deps.sh
#
# Without it, the browser test is reported as skipped, not passed.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for p in chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The machine's own Node.js (>= 20, as playwright-core needs) is kept when
# present; Debian's is installed only where there is none.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -gt 0 ]; then
  echo "ci: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "ci: Node.js $(node --version) is too old for playwright-core (needs 20 or later);" \
       "the browser test will be skipped" >&2
  exit 0
fi

# playwright-core ships no browser and downloads none on install; axe-core is
# one JavaScript file the test injects into the page.
cd tests/browser
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
