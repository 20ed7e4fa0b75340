#!/usr/bin/env bash
# What `make bench` needs beyond deploy/deps.sh: Debian's Pebble (the peer
# it is compared with) and OpenSSL's headers (the load generator signs its
# JWS with libcrypto so the client takes little of the CPU it shares with
# the server). Idempotent: installs only what is missing.
set -euo pipefail

PKGS=(pebble libssl-dev lmdb-utils knot knot-dnsutils lego openssl)
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$p")
done
if ((${#missing[@]})); then
    echo "bench deps: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi
