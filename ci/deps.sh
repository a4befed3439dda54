#!/usr/bin/env bash
# ci/deps.sh — installs the Debian packages qxharness builds and tests with,
# only those missing. Sourced by ci/test.sh and ci/demo.sh; extra package
# names given as arguments are installed too.
set -euo pipefail

QX_DEB_PACKAGES=(build-essential cmake pkg-config curl ca-certificates python3 python3-yaml
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libcmocka-dev zlib1g-dev "$@")

# Runs a command as root: directly when root, else through sudo (CI runs as a
# user with passwordless sudo).
qx_as_root() {
  if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi
}

qx_install_deps() {
  local missing=()
  for p in "${QX_DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  echo "ci: installing ${missing[*]}" >&2
  qx_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  qx_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
