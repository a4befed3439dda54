# bench/perf-summary.awk — "perf script" output (call graphs) → two Markdown
# tables: where the samples are (self) and which functions they are under
# (inclusive, each function counted once per sample). perf report's own
# inclusive view attributes time poorly through libraries built without
# frame pointers; with --call-graph dwarf, perf script has every frame.
#
#   perf script -i perf.data | awk -v top=20 [-v pick=f1,f2,...] -f bench/perf-summary.awk
#
# pick: functions whose inclusive share is shown in a third table, in that
# order, whether or not they made the top.
#
# Frames are "addr symbol+off (dso)"; unknown symbols are shown as
# "[dso]" so that a library's share still adds up.

function frame_name(line,    sym, dso) {
    sub(/^[ \t]+[0-9a-f]+ /, "", line)
    dso = line
    sub(/^.*\(/, "", dso)
    sub(/\)$/, "", dso)
    sub(/^.*\//, "", dso)
    sym = line
    sub(/ \(.*$/, "", sym)
    sub(/\+0x[0-9a-f]+$/, "", sym)
    if (sym == "[unknown]" || sym == "")
        sym = "[" dso "]"
    return sym "\t" dso
}

function flush(    k) {
    if (nframes == 0)
        return
    samples++
    self[frames[1]]++
    delete seen
    for (k = 1; k <= nframes; k++) {
        if (!(frames[k] in seen)) {
            seen[frames[k]] = 1
            incl[frames[k]]++
        }
    }
    nframes = 0
}

BEGIN { if (top == "") top = 20 }
/^[^ \t]/ { flush(); next }          # a sample's header line
/^[ \t]*$/ { flush(); next }
{ frames[++nframes] = frame_name($0) }
# Prints the top entries of count[] as Markdown rows (selection by
# repeated maximum: the tables are short).
function print_top(count, skip,    f, best, bestn, i, p, used) {
    for (i = 1; i <= top; i++) {
        best = ""
        bestn = 0
        for (f in count) {
            if ((f in used) || count[f] <= bestn)
                continue
            split(f, p, "\t")
            if (skip != "" && p[1] ~ skip)
                continue
            best = f
            bestn = count[f]
        }
        if (best == "")
            break
        used[best] = 1
        split(best, p, "\t")
        printf "| %.1f | `%s` | %s |\n", 100 * bestn / samples, p[1], p[2]
    }
}

END {
    flush()
    if (samples == 0) {
        print "(no samples)"
        exit
    }
    printf "%d samples.\n\n", samples
    print "| self % | function | object |"
    print "|---:|---|---|"
    print_top(self, "")
    print ""
    print "| inclusive % | function | object |"
    print "|---:|---|---|"
    print_top(incl, "^(start_thread|clone3|_start|__libc_start_main.*|__libc_start_call_main|main)$")
    if (pick == "")
        exit
    n = split(pick, names, ",")
    for (f in incl) {
        split(f, p, "\t")
        byname[p[1]] += incl[f]
    }
    print ""
    print "| function | inclusive % |"
    print "|---|---:|"
    for (i = 1; i <= n; i++)
        printf "| `%s` | %.1f |\n", names[i], 100 * byname[names[i]] / samples
}
