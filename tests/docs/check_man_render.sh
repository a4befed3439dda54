#!/usr/bin/env bash
# tests/docs/check_man_render.sh — each man page given renders without a
# warning: `groff -man -ww -z` (every warning on, no output) must print
# nothing, and `groff -man -Tutf8` must produce the page. Without groff
# (Debian: groff-base, which man-db needs) it exits 77, which ctest reports
# as skipped, never as passed.
#
# Usage: tests/docs/check_man_render.sh PAGE...
set -euo pipefail

case "${1:-}" in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
'')
    echo "check_man_render: no man page given (see --help)" >&2
    exit 2
    ;;
esac

if ! command -v groff >/dev/null 2>&1; then
    echo "SKIP: groff not found (apt-get install groff-base)"
    exit 77
fi

status=0
for page in "$@"; do
    warnings=$(groff -man -ww -z "$page" 2>&1) || status=1
    if [ -n "$warnings" ]; then
        printf '%s: groff warns:\n%s\n' "$page" "$warnings" >&2
        status=1
        continue
    fi
    # the NAME line must come out: a page that renders empty is broken too
    name=$(basename "$page" .1)
    if ! groff -man -Tutf8 "$page" 2>/dev/null | grep -Eq "^ *$name +- "; then
        echo "$page: the rendered page has no NAME line for $name" >&2
        status=1
        continue
    fi
    echo "$page: renders without warnings"
done
exit "$status"
