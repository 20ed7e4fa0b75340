#!/usr/bin/env bash
# `make deb`: builds build/acmeproxy_<version>_<arch>.deb with the Debian
# tools (dpkg-buildpackage, debhelper), then checks it with lintian (no
# error allowed; its report in build/lintian.txt).
#
# The packaging lives in deploy/debian/ (the repository's top level is
# fixed). A source tree is assembled in build/deb/acmeproxy-<version>/:
# the sources, deploy/debian/ as debian/, and Debian's civetweb source as
# deploy/deps.sh fetched it (build/civetweb-src), which the package's build
# patches with deploy/civetweb-patches/ exactly as `make all` does.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/deps.sh deb

version=$(dpkg-parsechangelog -l deploy/debian/changelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=acmeproxy_${version}_${arch}.deb
top=build/deb
src=$top/acmeproxy-$version

rm -rf "$top"
mkdir -p "$src/build"
cp -a Makefile proxy.conf.example README.md common adapters proxy deploy docs \
    "$src/"
cp -a build/civetweb-src "$src/build/"
cp -a deploy/debian "$src/debian"

echo "deb: dpkg-buildpackage in $src (log: $top/build.log)"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc -j2) >"$top/build.log" 2>&1; then
    tail -n 40 "$top/build.log" >&2
    echo "deb: dpkg-buildpackage failed" >&2
    exit 1
fi
cp "$top/$deb" "build/$deb"

# --fail-on error: warnings and notes are reported, errors fail the build.
status=0
lintian --fail-on error --info "build/$deb" >build/lintian.txt 2>&1 || status=$?
cat build/lintian.txt
if [ "$status" -ne 0 ]; then
    echo "deb: lintian found errors" >&2
    exit 1
fi
echo "deb: build/$deb ($(grep -c '^E:' build/lintian.txt || true) lintian errors, $(grep -c '^W:' build/lintian.txt || true) warnings)"
