#!/usr/bin/env bash
# ci/check-format.sh — every tracked C file (*.c, *.h: git ls-files) is as
# clang-format would write it with the repository's .clang-format.
#
# Runs `clang-format --dry-run --Werror` on each file, prints the files that
# differ and exits 1 if any; exits 0 with a summary line otherwise. Installs
# nothing: when clang-format (or clang-format-14) is missing it says so and
# exits 2 (Debian: apt-get install clang-format). Fix a file with
# `clang-format -i FILE`.
#
# Usage: ci/check-format.sh              (from anywhere in the repo)
set -euo pipefail

case "${1:-}" in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
'') ;;
*)
    echo "check-format: no arguments expected (see --help)" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")/.."
cf=
for c in clang-format clang-format-14; do
    if command -v "$c" >/dev/null 2>&1; then
        cf=$c
        break
    fi
done
if [ -z "$cf" ]; then
    echo "check-format: clang-format not found: install it (apt-get install clang-format)" >&2
    exit 2
fi

checked=0
differ=()
while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue # tracked but deleted in the working tree
    checked=$((checked + 1))
    if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
        differ+=("$f")
    fi
done < <(git ls-files -z -- '*.c' '*.h')

if [ "${#differ[@]}" -gt 0 ]; then
    printf '%s\n' "${differ[@]}"
    echo "check-format: ${#differ[@]} of $checked files differ from $cf's output (fix: $cf -i FILE)" >&2
    exit 1
fi
echo "check-format: all $checked tracked C files are clang-formatted ($("$cf" --version | head -n 1))"
