#!/usr/bin/env bash
# Installs, with apt-get, every Debian 12 package that building, running and
# testing acmeproxy needs, and fetches civetweb's Debian source package (it is
# compiled against mbedTLS by the Makefile; see README "Platform facts").
# Idempotent: does nothing when everything is already there.
set -euo pipefail

cd "$(dirname "$0")/.."

PKGS=(
    build-essential pkg-config dpkg-dev clang libclang-rt-14-dev
    libmbedtls-dev libssl-dev libcjson-dev libcurl4-openssl-dev liblmdb-dev lmdb-utils
    libinih-dev libcmocka-dev libhttp-parser-dev patch libxml2-dev
    openssl curl ca-certificates jq
    lego python3-acme python3-requests certbot uacme dehydrated
    knot knot-dnsutils
    faketime
    libc-ares-dev libsystemd-dev systemd prometheus
    apache2 caddy haproxy socat tomcat10 tomcat10-admin
    ansible
    libpq-dev postgresql-15
)
# The middleware of test/integration/enrol_middleware.sh: the suite starts
# its own instances on loopback; the packages' services are not started
# at install (a policy-rc.d for the time of apt-get, below).
# PostgreSQL: the suites run their own server (test/integration/pg_lib.sh).
SERVICE_PKGS=(apache2 caddy haproxy tomcat10 postgresql-15)
# `make deb` (deploy/deb.sh) also needs the Debian packaging tools.
DEB_PKGS=(debhelper lintian fakeroot)

SUDO=
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi

# apt-get source needs deb-src entries. When the machine has none, they are
# made from the machine's own Debian entries, as apt itself reads them
# (apt-get indextargets): the same URIs (an organisation's internal mirror,
# say), suites and components, never an address of ours.
debian_src_stanza() {
    apt-get indextargets --format '$(REPO_URI)|$(RELEASE)|$(COMPONENT)|$(ORIGIN)' \
        'Identifier: Packages' 2>/dev/null | sort -u |
    awk -F'|' '$4 == "Debian" { print $1, $2, $3 }' |
    while read -r uri suite comp; do
        printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n\n' \
            "$uri" "$suite" "$comp"
    done
}

have_debian_src() {
    apt-get indextargets --format '$(ORIGIN)' 'Identifier: Sources' 2>/dev/null |
        grep -qx Debian
}

if [ "${1:-}" = --print-src ]; then   # what would be written, for a look
    debian_src_stanza
    exit 0
fi

want=("${PKGS[@]}")
if [ "${1:-}" = deb ]; then
    want+=("${DEB_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

updated=0
apt_update() {
    if [ "$updated" = 0 ]; then
        $SUDO apt-get update -qq
        updated=1
    fi
}

# A policy-rc.d that refuses every start (exit 101), only while apt-get
# installs one of SERVICE_PKGS and only when the machine has none of its own.
POLICY=/usr/sbin/policy-rc.d
policy_added=0
no_service_starts() {
    local p m
    [ -e "$POLICY" ] && return 0
    for p in "${SERVICE_PKGS[@]}"; do
        for m in "${missing[@]}"; do
            if [ "$p" = "$m" ]; then
                printf '#!/bin/sh\n# deploy/deps.sh: no service starts during apt-get\nexit 101\n' |
                    $SUDO tee "$POLICY" >/dev/null
                $SUDO chmod 755 "$POLICY"
                policy_added=1
                return 0
            fi
        done
    done
}

if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}"
    apt_update
    no_service_starts
    trap '[ "$policy_added" = 1 ] && $SUDO rm -f "$POLICY"' EXIT
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
    if [ "$policy_added" = 1 ]; then
        $SUDO rm -f "$POLICY"
        policy_added=0
    fi
fi

# civetweb: Debian's prebuilt library crashes on HTTPS with OpenSSL 3, so the
# same 1.15 source is built with USE_MBEDTLS. Fetched from the registry once.
#
CIVETWEB_DIR=build/civetweb-src
if [ ! -f "$CIVETWEB_DIR/src/civetweb.c" ]; then
    if ! have_debian_src; then
        apt_update   # the Release files tell which entries are Debian's
        stanza=$(debian_src_stanza)
        if [ -z "$stanza" ]; then
            echo "deps: no Debian package source is configured (apt-get indextargets)" >&2
            exit 1
        fi
        echo "deps: enabling deb-src for apt-get source (from the machine's Debian sources)"
        printf '%s\n' "$stanza" | $SUDO tee /etc/apt/sources.list.d/acmeproxy-src.sources >/dev/null
        updated=0
    fi
    apt_update
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get source -qq civetweb >/dev/null 2>&1) || {
        echo "deps: apt-get source civetweb failed" >&2
        rm -rf "$tmp"
        exit 1
    }
    src=$(find "$tmp" -maxdepth 1 -type d -name 'civetweb-*' | head -n 1)
    mkdir -p build
    rm -rf "$CIVETWEB_DIR"
    mv "$src" "$CIVETWEB_DIR"
    rm -rf "$tmp"
    echo "deps: civetweb source in $CIVETWEB_DIR"
fi
