#!/usr/bin/env bash
# ci/package.sh — builds the Debian package and tries it as a user would.
#
#   ci/package.sh              Release build in build-pkg/, `cpack` there
#                              (build-pkg/qxharness_<version>_<arch>.deb), then
#                              `dpkg -i` it and run the INSTALLED programs:
#                              /usr/bin/qx-mock --version, /usr/bin/qx-send
#                              --version, `man -w` of both pages (when man-db is
#                              there) and the seed-example suite from the
#                              installed fixtures with --junit; then `dpkg -r`,
#                              so the machine is left as it was
#   ci/package.sh --build-only build and check the .deb, install nothing
#
# Installs what it needs (ci/deps.sh, plus dpkg-dev for dpkg-shlibdeps and
# file, which CPack runs on the files to find the binaries). Installing and
# removing need root: sudo is used when not root. Refuses to run when a
# qxharness package is installed already (it would be replaced, then removed).
# Exits non-zero when any step fails; the package is removed in any case.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

build_only=0
case "${1:-}" in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
--build-only) build_only=1 ;;
'') ;;
*)
    echo "package: unknown argument '$1' (see --help)" >&2
    exit 2
    ;;
esac

# A sourced script sees the caller's arguments when given none: set them.
set -- dpkg-dev file
source ci/deps.sh "$@"
qx_install_deps

dir=build-pkg
echo "=== package: Release build in $dir/" >&2
# Only what the package holds is built: the tests are not (cpack's install
# step would build them too without CMAKE_SKIP_INSTALL_ALL_DEPENDENCY).
cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DQX_WERROR=ON \
    -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$dir" -j2 --target qx-mock qx-send qx_man_pages
(cd "$dir" && rm -f qxharness_*.deb && cpack -G DEB)

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$dir/CMakeCache.txt")
deb=$ROOT/$dir/qxharness_${version}_$(dpkg --print-architecture).deb
if [ ! -f "$deb" ]; then
    echo "package: $deb was not made; cpack made: $(ls "$dir"/*.deb 2>/dev/null)" >&2
    exit 1
fi
echo "=== package: $deb" >&2
dpkg-deb --field "$deb" >&2

# Depends comes from dpkg-shlibdeps: it must name the libraries linked.
depends=$(dpkg-deb --field "$deb" Depends)
for lib in libc6 libcurl libjansson libmicrohttpd libsqlite3 zlib1g; do
    if ! grep -Eq "(^|, )$lib" <<<"$depends"; then
        echo "package: Depends lacks $lib: $depends" >&2
        exit 1
    fi
done
contents=$(dpkg-deb --contents "$deb")
for path in ./usr/bin/qx-mock ./usr/bin/qx-send ./usr/share/man/man1/qx-mock.1.gz \
    ./usr/share/man/man1/qx-send.1.gz ./usr/share/doc/qxharness/README.md \
    ./usr/share/doc/qxharness/examples/workflows/demo.json \
    ./usr/share/qxharness/scenarios/seed-example/scenario.json; do
    if ! grep -q " $path\$" <<<"$contents"; then
        echo "package: $path is not in the package" >&2
        exit 1
    fi
done
[ "$build_only" = 1 ] && exit 0

if dpkg-query -W -f='${Status}' qxharness 2>/dev/null | grep -q "install ok installed"; then
    echo "package: a qxharness package is installed already; remove it first (dpkg -r qxharness)" >&2
    exit 1
fi
work=$(mktemp -d)
installed=0
cleanup() {
    if [ "$installed" = 1 ]; then
        echo "=== package: dpkg -r qxharness" >&2
        qx_as_root dpkg -r qxharness >/dev/null
        if [ -e /usr/bin/qx-mock ] || [ -e /usr/bin/qx-send ]; then
            echo "package: /usr/bin/qx-mock or qx-send is still there after dpkg -r" >&2
            exit 1
        fi
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "=== package: dpkg -i" >&2
installed=1
qx_as_root dpkg -i "$deb"

# From a directory of its own, so nothing of the repository is used.
cd "$work"
echo "=== package: the installed programs" >&2
/usr/bin/qx-mock --version
/usr/bin/qx-send --version
if command -v man >/dev/null 2>&1; then
    man -w qx-mock qx-send
else
    echo "package: man-db not installed; man -w skipped" >&2
fi
# suite runs the qx-send beside it: /usr/bin/qx-send
/usr/bin/qx-mock suite /usr/share/qxharness/scenarios/seed-example --junit "$work/junit.xml"
grep -q '<testcase [^>]*name="seed-example"' "$work/junit.xml" || {
    echo "package: the suite's JUnit has no seed-example testcase" >&2
    exit 1
}
echo "=== package: the installed qxharness works" >&2
