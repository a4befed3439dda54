#!/usr/bin/env bash
# ci/check-functions.sh — no C function in the product code is longer than a
# limit (100 lines unless told otherwise).
#
# Looks at every *.c and *.h under core/, mock-server/ (all its subfolders)
# and sender/. The code is clang-formatted in the Linux brace style, so a
# function's body starts with a "{" alone at column 0 and ends with the next
# "}" at column 0; its length counts the lines from that "{" to that "}",
# both included. The name is the identifier before the first "(" of the
# lines just above the "{". Initialised tables ("... = {") never count.
#
# Usage: ci/check-functions.sh [LIMIT]        (from anywhere in the repo)
# Prints "file:line: function_name: N lines" for each function longer than
# LIMIT, longest first, and exits 1; exits 0 with a one-line summary
# otherwise.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

limit=100
case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
'') ;;
*)
    if ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
        echo "check-functions: LIMIT must be a positive number, not '$1' (see --help)" >&2
        exit 2
    fi
    limit=$1
    ;;
esac

cd "$(dirname "$0")/.."
files=()
for dir in core mock-server sender; do
    [ -d "$dir" ] || continue
    while IFS= read -r f; do
        files+=("$f")
    done < <(find "$dir" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
done
if [ "${#files[@]}" -eq 0 ]; then
    echo "check-functions: no C files under core/, mock-server/ or sender/" >&2
    exit 2
fi

# One line per function: "length<TAB>file:line: name: N lines".
report=$(awk '
    FNR == 1 { header = ""; header_line = 0; in_body = 0 }
    in_body {
        if ($0 ~ /^}/) {
            n = FNR - start + 1
            printf "%d\t%s:%d: %s: %d lines\n", n, FILENAME, name_line, name, n
            in_body = 0
            header = ""
        }
        next
    }
    /^\{[ \t]*$/ {
        # A body opens: a function if the header has a "(" and is no table.
        if (header ~ /\(/ && header !~ /=[ \t]*$/ && header !~ /^[^(]*=/) {
            name = header
            sub(/[ \t]*\(.*/, "", name)  # up to the first "("
            sub(/.*[^A-Za-z0-9_]/, "", name)  # the identifier just before it
            if (name == "")
                name = "?"
            in_body = 1
            start = FNR
            name_line = header_line
        }
        header = ""
        next
    }
    # What may precede a body: lines since the last blank line, statement,
    # closing brace, comment end or preprocessor line.
    /^[ \t]*$/ || /^#/ || /;[ \t]*$/ || /^}/ || /\*\/[ \t]*$/ || /^[ \t]*(\/\/|\/\*|\*)/ {
        header = ""
        next
    }
    {
        if (header == "")
            header_line = FNR
        header = header " " $0
    }
' "${files[@]}")

offenders=$(printf '%s\n' "$report" | awk -F '\t' -v limit="$limit" 'NF == 2 && $1 > limit' |
    LC_ALL=C sort -t "$(printf '\t')" -k1,1nr -k2,2 | cut -f2-)
total=$(printf '%s\n' "$report" | awk 'NF' | wc -l)
if [ -n "$offenders" ]; then
    printf '%s\n' "$offenders"
    count=$(printf '%s\n' "$offenders" | wc -l)
    echo "check-functions: $count of $total functions are longer than $limit lines" >&2
    exit 1
fi
echo "check-functions: all $total functions in ${#files[@]} files are at most $limit lines"
