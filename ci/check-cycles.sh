#!/usr/bin/env bash
# ci/check-cycles.sh — no dependency cycle of three or more source files, and
# none between folders, in the product libraries.
#
# Reads the object files a build produced for the libraries qxcore, qxmock,
# qxsend and every other qxm*/qxs* library target (their CMakeFiles/<target>.dir
# folders; test, fuzz and program objects are skipped). nm gives each object
# the symbols it defines and the ones it uses (U); "A uses a symbol B
# defines" is an edge A -> B. Each object is mapped back to its source file
# (relative to the repository, e.g. mock-server/engine/event.c) through the
# build's compile_commands.json, or else from its object path.
#
# Reported, and exit 1:
#   - every strongly connected component of more than two files, with one
#     example symbol for each edge inside it (two files using each other are
#     tolerated);
#   - every cycle between folders (the folder of a source file, such as core,
#     sender, mock-server or mock-server/http); a folder using itself is fine.
# Otherwise exit 0 with a summary line. Exit 2 on a usage or setup error.
#
# Usage: ci/check-cycles.sh BUILD_DIR      (e.g. ci/check-cycles.sh build)
# Needs python3 and nm (binutils).
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
'')
    echo "check-cycles: BUILD_DIR missing (see --help)" >&2
    exit 2
    ;;
esac
if [ ! -d "$1" ]; then
    echo "check-cycles: $1 is not a directory: build first (cmake -S . -B build && cmake --build build)" >&2
    exit 2
fi
for tool in python3 nm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "check-cycles: $tool not found: install it (apt-get install python3 binutils)" >&2
        exit 2
    fi
done

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)

exec python3 - "$repo" "$build" <<'PY'
import json, os, re, shlex, subprocess, sys

repo, build = sys.argv[1], sys.argv[2]
TARGET = re.compile(r"^(qxcore|qxmock|qxsend|qxm[A-Za-z0-9_]*|qxs[A-Za-z0-9_]*)\.dir$")


def fail(msg):
    print("check-cycles: " + msg, file=sys.stderr)
    sys.exit(2)


# ---- the library objects -------------------------------------------------
objects = []
for root, dirs, names in os.walk(build):
    dirs.sort()
    parts = os.path.relpath(root, build).split(os.sep)
    if "CMakeFiles" not in parts:
        continue
    i = parts.index("CMakeFiles")
    if i + 1 >= len(parts) or not TARGET.match(parts[i + 1]):
        continue
    if any(p in ("tests", "fuzz") for p in parts[:i]):
        continue
    for n in sorted(names):
        if n.endswith(".o"):
            objects.append(os.path.join(root, n))
if not objects:
    fail("no objects of qxcore, qxmock, qxsend or qxm*/qxs* libraries under %s: "
         "build first" % build)

# ---- object -> source (compile_commands.json, else the object path) -------
by_object = {}
try:
    with open(os.path.join(build, "compile_commands.json")) as f:
        for e in json.load(f):
            args = e.get("arguments") or shlex.split(e.get("command", ""))
            out = e.get("output")
            if out is None and "-o" in args:
                out = args[args.index("-o") + 1]
            if out is None:
                continue
            by_object[os.path.normpath(os.path.join(e["directory"], out))] = \
                os.path.normpath(os.path.join(e["directory"], e["file"]))
except (OSError, ValueError):
    pass
if by_object:
    # Objects the build no longer makes (a source moved or removed) stay on
    # disk; only those of the current compile commands count.
    objects = [o for o in objects if os.path.normpath(o) in by_object]


def source_of(obj):
    src = by_object.get(os.path.normpath(obj))
    if src is None:
        # <build>/<subdir>/CMakeFiles/<target>.dir/<path>.o -> <repo>/<subdir>/<path>
        rel = os.path.relpath(obj, build)
        head, _, tail = rel.partition(os.sep + "CMakeFiles" + os.sep)
        if not _:
            head, tail = "", rel.partition("CMakeFiles" + os.sep)[2]
        tail = tail.split(os.sep, 1)[1][:-2]  # drop "<target>.dir/" and ".o"
        src = os.path.join(repo, head, tail)
        if not os.path.exists(src):
            # last resort: the only file of that name under the repository
            base = os.path.basename(tail)
            hits = [os.path.join(r, base) for r, d, n in os.walk(repo)
                    if base in n and not os.path.relpath(r, repo).startswith(("build", "."))]
            if len(hits) == 1:
                src = hits[0]
    if src.startswith(build + os.sep):
        # generated source: shown in the folder of the code that generates it
        rel = os.path.relpath(src, build)
    else:
        rel = os.path.relpath(src, repo)
    return rel


# ---- symbols ------------------------------------------------------------
files = {}  # object -> source path
defines = {}  # symbol -> files
uses = {}  # file -> set of symbols
for obj in objects:
    name = source_of(obj)
    if name in uses:  # the same source in two targets: keep one
        continue
    files[obj] = name
    uses[name] = set()
    out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True)
    if out.returncode != 0:
        fail("nm %s: %s" % (obj, out.stderr.strip()))
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        sym, kind = f[0], f[1]
        if kind in ("U", "w", "v"):
            uses[name].add(sym)
        elif kind.isupper():
            defines.setdefault(sym, set()).add(name)

edges = {n: {} for n in uses}  # a -> {b: example symbol}
for a, syms in uses.items():
    for sym in sorted(syms):
        for b in sorted(defines.get(sym, ())):
            if b != a and b not in edges[a]:
                edges[a][b] = sym


# ---- Tarjan's strongly connected components ------------------------------
def tarjan(graph):
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(sorted(comp))

    sys.setrecursionlimit(10000 + 2 * len(graph))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


problems = 0
file_cycles = [c for c in tarjan(edges) if len(c) > 2]
file_cycles.sort(key=lambda c: (-len(c), c))
for comp in file_cycles:
    problems += 1
    members = set(comp)
    print("file cycle of %d files: %s" % (len(comp), " ".join(comp)))
    for a in comp:
        for b in sorted(edges[a]):
            if b in members:
                print("  %s -> %s  (%s)" % (a, b, edges[a][b]))


def folder(path):
    return os.path.dirname(path) or "."


fedges = {}  # folder -> {folder: (file a, file b, symbol)}
for a in edges:
    fedges.setdefault(folder(a), {})
    for b, sym in edges[a].items():
        fa, fb = folder(a), folder(b)
        fedges.setdefault(fb, {})
        if fa != fb and fb not in fedges[fa]:
            fedges[fa][fb] = (a, b, sym)
folder_cycles = [c for c in tarjan(fedges) if len(c) > 1]
for comp in folder_cycles:
    problems += 1
    members = set(comp)
    print("folder cycle: %s" % " ".join(comp))
    for fa in comp:
        for fb in sorted(fedges[fa]):
            if fb in members:
                a, b, sym = fedges[fa][fb]
                print("  %s -> %s  (%s -> %s: %s)" % (fa, fb, a, b, sym))

n_edges = sum(len(v) for v in edges.values())
summary = "%d files in %d folders, %d file dependencies" % (len(uses), len(fedges), n_edges)
if problems:
    print("check-cycles: %d file cycle(s) of 3+ files, %d folder cycle(s) (%s)"
          % (len(file_cycles), len(folder_cycles), summary), file=sys.stderr)
    sys.exit(1)
print("check-cycles: no cycle of 3+ files, no folder cycle (%s)" % summary)
PY
