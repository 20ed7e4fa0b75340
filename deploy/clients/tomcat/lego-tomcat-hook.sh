#!/bin/sh
# lego --run-hook / --renew-hook for Tomcat 10.1: writes the PKCS#12 key
# store that server.xml names (certificate, chain, key) and asks Tomcat to
# reload its TLS configuration through the manager's text interface
# (GET /manager/text/sslReload): no restart, open connections kept. lego
# sets LEGO_CERT_PATH and LEGO_CERT_KEY_PATH. Settings (environment):
#   TOMCAT_KEYSTORE       the file of acmeproxy.keystore
#                         (default /etc/tomcat10/acmeproxy.p12)
#   TOMCAT_KEYSTORE_PASS  file holding its password (acmeproxy.keystore.pass)
#                         (default /etc/tomcat10/acmeproxy.p12.pass)
#   TOMCAT_MANAGER        manager URL (default http://127.0.0.1:8080/manager)
#   TOMCAT_MANAGER_AUTH   file holding "user:password" of a manager-script
#                         user (default /etc/tomcat10/acmeproxy-reload.auth)
#   TOMCAT_GROUP          group of a new key store (default tomcat); a
#                         replaced one keeps its group. Mode 0640.
# When Tomcat is not running the key store is only written (Tomcat loads it
# when it starts). Exits non-zero, saying why, when a step fails.
set -eu

store=${TOMCAT_KEYSTORE:-/etc/tomcat10/acmeproxy.p12}
pass=${TOMCAT_KEYSTORE_PASS:-/etc/tomcat10/acmeproxy.p12.pass}
manager=${TOMCAT_MANAGER:-http://127.0.0.1:8080/manager}
auth=${TOMCAT_MANAGER_AUTH:-/etc/tomcat10/acmeproxy-reload.auth}
: "${LEGO_CERT_PATH:?set by lego}" "${LEGO_CERT_KEY_PATH:?set by lego}"

# Written next to the target, then renamed: Tomcat never reads half a file.
umask 027
tmp=$(mktemp "$store.XXXXXX")
trap 'rm -f "$tmp"' EXIT
openssl pkcs12 -export -in "$LEGO_CERT_PATH" -inkey "$LEGO_CERT_KEY_PATH" \
    -name tomcat -passout "file:$pass" -out "$tmp"
chmod 0640 "$tmp"   # mktemp made it 0600
# Tomcat reads it through its group: the group of the file it replaces,
# else TOMCAT_GROUP (default tomcat, the Debian package's) when it exists.
if [ -e "$store" ]; then
    chgrp "$(stat -c %g "$store")" "$tmp"
elif getent group "${TOMCAT_GROUP:-tomcat}" > /dev/null; then
    chgrp "${TOMCAT_GROUP:-tomcat}" "$tmp"
fi
mv -f "$tmp" "$store"

# The password goes to curl on stdin, never on a command line.
rc=0
out=$(printf 'user = "%s"\n' "$(cat "$auth")" |
      curl -sS --max-time 30 -K - "$manager/text/sslReload" 2>&1) || rc=$?
if [ "$rc" -eq 7 ]; then
    echo "lego-tomcat-hook: $store written; Tomcat not running (it loads the store when it starts)"
    exit 0
fi
case $out in
    OK*) echo "lego-tomcat-hook: $store written; $out" ;;
    *) printf 'lego-tomcat-hook: sslReload failed (curl %s): %s\n' "$rc" "$out" >&2
       exit 1 ;;
esac
