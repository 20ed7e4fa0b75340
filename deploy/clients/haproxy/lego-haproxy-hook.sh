#!/bin/sh
# lego --run-hook / --renew-hook for HAProxy 2.6: writes the PEM bundle
# HAProxy loads (certificate, chain, then key) and, when HAProxy runs,
# swaps it in through the runtime API (set ssl cert + commit ssl cert):
# no reload, no dropped connection. lego sets LEGO_CERT_PATH and
# LEGO_CERT_KEY_PATH. Settings (environment):
#   HAPROXY_CERT    the file named by "crt" in haproxy.cfg
#                   (default /etc/haproxy/certs/site.pem)
#   HAPROXY_SOCKET  the admin-level stats socket (default /run/haproxy/admin.sock)
# Exits non-zero, saying why, when HAProxy refuses the certificate; the
# file on disk is the new one either way (a restart loads it).
set -eu

cert=${HAPROXY_CERT:-/etc/haproxy/certs/site.pem}
sock=${HAPROXY_SOCKET:-/run/haproxy/admin.sock}
: "${LEGO_CERT_PATH:?set by lego}" "${LEGO_CERT_KEY_PATH:?set by lego}"

# Written next to the target, then renamed: never a half-written file.
umask 077
tmp=$(mktemp "$cert.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat "$LEGO_CERT_PATH" "$LEGO_CERT_KEY_PATH" | grep -v '^[[:space:]]*$' > "$tmp"
mv -f "$tmp" "$cert"

if [ ! -S "$sock" ]; then
    echo "lego-haproxy-hook: $cert written; no socket $sock (HAProxy will load it when it starts)"
    exit 0
fi

# One command per connection. The payload of "set ssl cert" ends at an
# empty line, so the bundle has none (removed above).
out=$({ printf 'set ssl cert %s <<\n' "$cert"; cat "$cert"; printf '\n'; } |
      socat -t 10 - "UNIX-CONNECT:$sock")
case $out in
    *"Transaction created"*|*"Transaction updated"*) ;;
    *) printf 'lego-haproxy-hook: set ssl cert refused: %s\n' "$out" >&2
       printf 'abort ssl cert %s\n' "$cert" | socat -t 10 - "UNIX-CONNECT:$sock" > /dev/null || true
       exit 1 ;;
esac
out=$(printf 'commit ssl cert %s\n' "$cert" | socat -t 10 - "UNIX-CONNECT:$sock")
case $out in
    *Success*) echo "lego-haproxy-hook: $cert swapped in" ;;
    *) printf 'lego-haproxy-hook: commit ssl cert failed: %s\n' "$out" >&2
       exit 1 ;;
esac
