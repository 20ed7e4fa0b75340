#!/usr/bin/env bash
# Integration tests: real ACME clients (lego, python3-acme/josepy wire tests)
# against a running acmeproxy, with a private authoritative DNS (knotd).
#
# Usage (from the repository root):
#   test/integration/run.sh [PROXY_BINARY]     default build/acmeproxy
#   test/integration/run.sh pebble             develop against Debian's Pebble
# Environment:
#   KEEP_TMP=1      keep the temporary directory (logs, configs, lego files)
#   STORE_ENGINE=postgresql   the proxy stores in a throw-away PostgreSQL
#                   (pg_lib.sh) instead of LMDB: [store] in its config
#
# Prints one "ok - name" / "not ok - name: reason" line per check and ends
# with "integration: N passed, N failed".  Exit status is 0 only when every
# check passed and at least one ran.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3            # Debian's python: python3-acme lives there
TARGET=${1:-build/acmeproxy}
BACKEND=proxy
[ "$TARGET" = pebble ] && BACKEND=pebble

PASSED=0
FAILED=0
PIDS=()
SERVER_PID=""
DNS_NAMES=(www.a.test a.test)  # names lego asks for
LEGO_EMAIL=admin@example.test

TMP=$(mktemp -d "${TMPDIR:-/tmp}/acmeproxy-it.XXXXXX") || exit 2
DATA_DIR="$TMP/data"
CA_FILE="$DATA_DIR/ca.pem"     # trust anchor: TLS of the server + issued chains
WIRE_CA=$CA_FILE               # the same for acmeproxy; Pebble's changes on restart
LEGO_DIR="$TMP/lego"
mkdir -p "$DATA_DIR" "$LEGO_DIR"

# ---------------------------------------------------------------- reporting

ok() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

not_ok() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1: $2"
}

# Print the last lines of a file as comments (context for a failure).
show_tail() {
    local file=$1 lines=${2:-15}
    [ -f "$file" ] || return 0
    echo "# --- tail of ${file#"$TMP"/}"
    tail -n "$lines" "$file" | sed 's/^/#   /'
}

# ---------------------------------------------------------------- processes

stop_pid() {   # stop_pid PID [SECONDS] -> returns the process' exit status
    local pid=$1 limit=${2:-10} i=0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return $?; }
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt $((limit * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 124
    fi
    wait "$pid" 2>/dev/null
}

# shellcheck source=pg_lib.sh
. "$HERE/pg_lib.sh"
STORE_ENGINE=${STORE_ENGINE:-lmdb}

cleanup() {
    local pid
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID" 5 >/dev/null 2>&1
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid" 5 >/dev/null 2>&1
    done
    pg_stop
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "# kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS CMD... : retry CMD every 0.2 s until it succeeds or time is up
wait_for() {
    local limit=$1 i=0
    shift
    while [ "$i" -lt $((limit * 5)) ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

# ---------------------------------------------------------------- ports

read -r DNS_PORT ACME_PORT HTTP_PORT MGMT_PORT TLS01_PORT < <("$PY" "$HERE/free_ports.py" 5 | tr '\n' ' ')
DIR_PATH=/directory
[ "$BACKEND" = pebble ] && DIR_PATH=/dir    # Pebble's directory path
DIR_URL="https://localhost:$ACME_PORT$DIR_PATH"

# ---------------------------------------------------------------- DNS (knot)

# The zone "test." answers 127.0.0.1 for every name below it.  A TSIG key is
# generated per run and may already send RFC 2136 updates (for dns-01 tests):
# TSIG_NAME / TSIG_ALG / TSIG_SECRET are exported for later tests, e.g.
#   knsupdate -y "$TSIG_ALG:$TSIG_NAME:$TSIG_SECRET"   (server 127.0.0.1 $DNS_PORT)
# Beware: a TXT at _acme-challenge.X.a.test makes X.a.test an empty
# non-terminal, which hides the *.a.test wildcard for X itself; names that
# need an A record as well get an explicit one (a.test, www.a.test).
write_knot_config() {
    local dir=$TMP/knot
    mkdir -p "$dir/db"
    keymgr -t acme-update hmac-sha256 > "$dir/tsig.conf" || return 1
    TSIG_NAME=acme-update
    TSIG_ALG=hmac-sha256
    TSIG_SECRET=$(awk '/secret:/ {print $2}' "$dir/tsig.conf")
    export TSIG_NAME TSIG_ALG TSIG_SECRET
    cat > "$dir/test.zone" <<EOF
\$ORIGIN test.
\$TTL 60
@       SOA  ns.test. hostmaster.test. 1 3600 600 86400 60
@       NS   ns.test.
ns      A    127.0.0.1
a       A    127.0.0.1
www.a   A    127.0.0.1
*       A    127.0.0.1
*.a     A    127.0.0.1
EOF
    cat > "$dir/knot.conf" <<EOF
server:
    rundir: "$dir"
    pidfile: "$dir/knot.pid"
    listen: 127.0.0.1@$DNS_PORT

log:
  - target: stderr
    any: info

database:
    storage: "$dir/db"

control:
    listen: "$dir/knot.sock"

$(sed '/^#/d' "$dir/tsig.conf")

acl:
  - id: update-acl
    key: $TSIG_NAME
    action: update

template:
  - id: default
    storage: "$dir"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: changes

zone:
  - domain: test.
    acl: update-acl
EOF
}

start_knot() {
    write_knot_config || return 1
    knotd -c "$TMP/knot/knot.conf" > "$TMP/knot.log" 2>&1 &
    PIDS+=($!)
    wait_for 10 dns_answers a.test
}

dns_answers() {   # dns_answers NAME: the name resolves to 127.0.0.1
    kdig +timeout=1 +retry=0 +short @127.0.0.1 -p "$DNS_PORT" "$1" A | grep -qx 127.0.0.1
}

# ---------------------------------------------------------------- backend: acmeproxy

proxy_write_config() {
    cat > "$TMP/proxy.conf" <<EOF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $DATA_DIR
log_level = debug

[acme]
wait_ms = 1000

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
type = local
EOF
    [ "$STORE_ENGINE" = postgresql ] && store_config >> "$TMP/proxy.conf"
    return 0
}

# The [store] section of a proxy on the suite's PostgreSQL (pg_start),
# and the nonce key a proxy on a shared store needs (docs/ha.md "Nonces";
# made here, mode 0600).
store_config() {
    if [ ! -s "$TMP/nonce.key" ]; then
        (umask 077; head -c 48 /dev/urandom > "$TMP/nonce.key")
    fi
    cat <<EOF

[store]
engine     = postgresql
postgresql = $PG_CONNINFO
password   = file:$PG_PASSWORD_FILE

[acme]
nonce_key_file = $TMP/nonce.key
EOF
}

# A proxy on a shared store never makes the embedded CA (docs/ha.md "The
# embedded CA"): a start on LMDB makes it in DATA_DIR first.
store_make_ca() {
    local pid i=0
    [ -f "$DATA_DIR/ca-intermediate.key" ] && return 0
    cat > "$TMP/ca-once.conf" <<EOF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $DATA_DIR

[adapter]
type = local
EOF
    "$TARGET" -c "$TMP/ca-once.conf" > "$TMP/ca-once.log" 2>&1 &
    pid=$!
    while [ "$i" -lt 150 ] && ! directory_answers; do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
        i=$((i + 1))
    done
    stop_pid "$pid" 10 >/dev/null
    rm -rf "$DATA_DIR/db"
    [ -f "$DATA_DIR/ca-intermediate.key" ]
}

# Starts the suite's PostgreSQL once (STORE_ENGINE=postgresql).
store_start() {
    [ "$STORE_ENGINE" = postgresql ] || return 0
    [ -n "$PG_PID" ] && return 0
    pg_start "$TMP/pg" && store_make_ca
}

proxy_start() {
    # Every suite that sources this file runs on PostgreSQL the same way.
    if ! store_start; then
        START_ERR="PostgreSQL did not start (pg_start)"
        return 1
    fi
    [ -f "$TMP/proxy.conf" ] || proxy_write_config
    echo "### start $(date +%T)" >> "$TMP/proxy.log"
    "$TARGET" -c "$TMP/proxy.conf" >> "$TMP/proxy.log" 2>&1 &
    SERVER_PID=$!
    wait_for_server 20
}

# ---------------------------------------------------------------- backend: pebble

# Pebble needs a TLS certificate for localhost (Debian ships none) and makes
# a fresh issuing root at each start.  ca.pem = our TLS root + Pebble's root,
# written at the first start only, so a restart shows that the root changed.
pebble_write_config() {
    local dir=$TMP/pebble
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/tlsca.key" -out "$dir/tlsca.pem" -days 2 \
        -subj "/CN=integration TLS root" >/dev/null 2>&1 || return 1
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/key.pem" -out "$dir/tls.csr" -subj "/CN=localhost" \
        >/dev/null 2>&1 || return 1
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$dir/san.ext"
    openssl x509 -req -in "$dir/tls.csr" -CA "$dir/tlsca.pem" -CAkey "$dir/tlsca.key" \
        -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/cert.pem" \
        >/dev/null 2>&1 || return 1
    cat > "$dir/pebble.json" <<EOF
{ "pebble": {
    "listenAddress": "127.0.0.1:$ACME_PORT",
    "managementListenAddress": "127.0.0.1:$MGMT_PORT",
    "certificate": "$dir/cert.pem",
    "privateKey": "$dir/key.pem",
    "httpPort": $HTTP_PORT,
    "tlsPort": $TLS01_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
} }
EOF
}

pebble_start() {
    local dir=$TMP/pebble
    [ -f "$dir/pebble.json" ] || pebble_write_config || return 1
    echo "### start $(date +%T)" >> "$TMP/proxy.log"
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
        pebble -config "$dir/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT" \
        >> "$TMP/proxy.log" 2>&1 &
    SERVER_PID=$!
    [ -f "$CA_FILE" ] || cp "$dir/tlsca.pem" "$CA_FILE"
    wait_for_server 20 || return 1
    curl -sf --max-time 5 --cacert "$dir/tlsca.pem" \
        "https://localhost:$MGMT_PORT/roots/0" -o "$dir/root.pem" || return 1
    cat "$dir/tlsca.pem" "$dir/root.pem" > "$dir/current-ca.pem"
    WIRE_CA=$dir/current-ca.pem
    [ "$(grep -c BEGIN "$CA_FILE")" -ge 2 ] || cat "$dir/root.pem" >> "$CA_FILE"
}

# ---------------------------------------------------------------- backend dispatch

directory_answers() {
    [ -s "$CA_FILE" ] && curl -sf --max-time 3 --cacert "$CA_FILE" "$DIR_URL" -o /dev/null
}

# wait_for_server SECONDS: the directory answers; give up early if the server died
# (reason in START_ERR)
START_ERR=""
wait_for_server() {
    local i=0
    while [ "$i" -lt $(($1 * 5)) ]; do
        directory_answers && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null
            START_ERR="server exited during start-up with status $?"
            SERVER_PID=""
            return 1
        fi
        sleep 0.2
        i=$((i + 1))
    done
    START_ERR="$DIR_URL did not answer within $1 s"
    return 1
}

server_start() {
    if [ "$BACKEND" = pebble ]; then pebble_start; else proxy_start; fi
}

# server_stop: SIGTERM, bounded wait; fails unless the server exited 0
# (Pebble dies by the signal: any exit counts there).  Not in a subshell:
# only this shell can wait for its child; the reason goes to STOP_ERR.
STOP_ERR=""
server_stop() {
    local rc
    STOP_ERR=""
    [ -n "$SERVER_PID" ] || return 0
    stop_pid "$SERVER_PID" 10
    rc=$?
    SERVER_PID=""
    [ "$BACKEND" = pebble ] && return 0
    [ "$rc" -eq 0 ] && return 0
    STOP_ERR="exit status $rc"
    [ "$rc" -eq 124 ] && STOP_ERR="still running 10 s after SIGTERM (killed)"
    return 1
}

# ---------------------------------------------------------------- helpers for lego

lego_cmd() {   # lego_cmd LOGNAME ARGS... (global flags are added here)
    local log=$TMP/$1.log
    shift
    local domains=() d
    for d in "${DNS_NAMES[@]}"; do domains+=(--domains "$d"); done
    LEGO_CA_CERTIFICATES="$CA_FILE" timeout 120 lego \
        --server "$DIR_URL" --email "$LEGO_EMAIL" --accept-tos \
        --http --http.port "127.0.0.1:$HTTP_PORT" \
        "${domains[@]}" --path "$LEGO_DIR" "$@" > "$log" 2>&1
}

LEGO_CRT="$LEGO_DIR/certificates/${DNS_NAMES[0]}.crt"
LEGO_ISSUER="$LEGO_DIR/certificates/${DNS_NAMES[0]}.issuer.crt"

leaf_pem() {   # first PEM block of a file
    awk '/-----BEGIN CERTIFICATE-----/ {n++} n == 1 {print} /-----END CERTIFICATE-----/ && n == 1 {exit}' "$1"
}

cert_serial() {
    leaf_pem "$LEGO_CRT" | openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

# Days to pass to "lego renew --days" so it renews now: 90, or more when the
# certificate lives longer than that (lego renews only if days left <= --days).
renew_days() {
    local end now left
    end=$(leaf_pem "$LEGO_CRT" | openssl x509 -noout -enddate 2>/dev/null | sed 's/^notAfter=//')
    now=$(date +%s)
    left=$(( ($(date -d "$end" +%s 2>/dev/null || echo "$now") - now) / 86400 + 1 ))
    [ "$left" -gt 90 ] && echo "$left" || echo 90
}

verify_chain() {   # verify_chain -> prints the openssl error on failure
    local out
    leaf_pem "$LEGO_CRT" > "$TMP/leaf.pem"
    out=$(openssl verify -CAfile "$CA_FILE" -untrusted "$LEGO_ISSUER" "$TMP/leaf.pem" 2>&1)
    [ "$out" = "$TMP/leaf.pem: OK" ] || { echo "$out" | tail -n 2 | tr '\n' ' '; return 1; }
}

cert_sans() {   # sorted DNS names of the lego certificate, space separated
    leaf_pem "$LEGO_CRT" | openssl x509 -noout -ext subjectAltName 2>/dev/null |
        tail -n +2 | tr ',' '\n' | sed -n 's/^ *DNS://p' | sort | tr '\n' ' ' | sed 's/ $//'
}

# ---------------------------------------------------------------- tests

test_dns_server() {
    local name=dns_server_answers
    if dns_answers "${DNS_NAMES[0]}" && dns_answers "${DNS_NAMES[1]}"; then
        ok "$name"
    else
        not_ok "$name" "knotd on 127.0.0.1:$DNS_PORT does not resolve ${DNS_NAMES[*]}"
        show_tail "$TMP/knot.log"
    fi
}

test_server_starts() {
    local name=server_starts
    if server_start; then
        ok "$name"
        return 0
    fi
    not_ok "$name" "${START_ERR:-could not prepare the server}"
    show_tail "$TMP/proxy.log" 30
    return 1
}

test_lego_issue() {
    local name=lego_issue want got err
    if ! lego_cmd lego-run run; then
        not_ok "$name" "lego run exited non-zero"
        show_tail "$TMP/lego-run.log"
        return
    fi
    if [ ! -s "$LEGO_CRT" ] || [ ! -s "$LEGO_ISSUER" ]; then
        not_ok "$name" "lego wrote no $LEGO_CRT / issuer file"
        return
    fi
    if ! err=$(verify_chain); then
        not_ok "$name" "openssl verify: $err"
        return
    fi
    want=$(printf '%s\n' "${DNS_NAMES[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
    got=$(cert_sans)
    if [ "$got" != "$want" ]; then
        not_ok "$name" "SANs are '$got', want '$want'"
        return
    fi
    ok "$name"
}

# test_lego_renew NAME LOGNAME [LEGO FLAG...]: forced renewal gives a new,
# verifying serial
test_lego_renew() {
    local name=$1 log=$2 before after err
    shift 2
    before=$(cert_serial)
    if [ -z "$before" ]; then
        not_ok "$name" "no certificate to renew"
        return
    fi
    if ! lego_cmd "$log" renew --days "$(renew_days)" --no-random-sleep "$@"; then
        not_ok "$name" "lego renew exited non-zero"
        show_tail "$TMP/$log.log"
        return
    fi
    after=$(cert_serial)
    if [ -z "$after" ] || [ "$after" = "$before" ]; then
        not_ok "$name" "serial unchanged ($before -> $after)"
        show_tail "$TMP/$log.log"
        return
    fi
    if ! err=$(verify_chain); then
        not_ok "$name" "openssl verify with the first ca.pem: $err"
        return
    fi
    ok "$name"
}

test_restart() {
    if server_stop; then
        ok "server_sigterm_exit_0"
    else
        not_ok "server_sigterm_exit_0" "$STOP_ERR"
        show_tail "$TMP/proxy.log"
    fi
    if ! server_start; then
        not_ok "server_restarts_same_data_dir" "${START_ERR:-could not prepare the server}"
        show_tail "$TMP/proxy.log" 30
        return 1
    fi
    ok "server_restarts_same_data_dir"
}

# test_cert_plain_get WANT: a plain GET (no account) on lego's certificate
# URL answers WANT: 405 by default, 200 with [acme] certificate_get = yes.
test_cert_plain_get() {
    local name=cert_plain_get_$1 url code
    url=$(jq -r '.certUrl // empty' "$LEGO_DIR/certificates/${DNS_NAMES[0]}.json" 2>/dev/null)
    if [ -z "$url" ]; then
        not_ok "$name" "no certUrl in lego's certificate JSON"
        return
    fi
    code=$(curl -s --cacert "$CA_FILE" -o "$TMP/plain-get.out" -w '%{http_code}' "$url")
    if [ "$code" != "$1" ]; then
        not_ok "$name" "GET $url answered $code"
    elif [ "$1" = 200 ] && ! diff -q <(leaf_pem "$TMP/plain-get.out") <(leaf_pem "$LEGO_CRT") >/dev/null; then
        not_ok "$name" "GET served another certificate than lego holds"
    elif [ "$1" != 200 ] && grep -q 'BEGIN CERTIFICATE' "$TMP/plain-get.out"; then
        not_ok "$name" "the refusal carried a certificate"
    else
        ok "$name"
    fi
}

test_lego_revoke() {
    local name=lego_revoke
    if ! lego_cmd lego-revoke revoke --keep; then
        not_ok "$name" "lego revoke exited non-zero"
        show_tail "$TMP/lego-revoke.log"
        not_ok lego_revoke_again_already_revoked "the first revoke failed"
        return
    fi
    ok "$name"
    name=lego_revoke_again_already_revoked
    if lego_cmd lego-revoke2 revoke --keep; then
        not_ok "$name" "second revoke of the same certificate succeeded"
    elif ! grep -q 'alreadyRevoked' "$TMP/lego-revoke2.log"; then
        not_ok "$name" "second revoke failed without alreadyRevoked"
        show_tail "$TMP/lego-revoke2.log" 5
    else
        ok "$name"
    fi
}

test_wire() {
    local line out=$TMP/wire.log
    timeout 180 "$PY" "$HERE/wire_test.py" "$DIR_URL" "$WIRE_CA" "$HTTP_PORT" > "$out" 2>&1
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "wire: ${line#ok - }" ;;
            "not ok - "*) line=${line#not ok - }; not_ok "wire: ${line%%: *}" "${line#*: }" ;;
            *) echo "# $line" ;;
        esac
    done < "$out"
    if grep -Eq '^wire: [0-9]+ passed, [0-9]+ failed$' "$out"; then
        ok "wire_test_completed"
    else
        not_ok "wire_test_completed" "wire_test.py ended without its summary line"
    fi
}

# test_lazy_libs WHEN: which of the libraries the proxy loads with dlopen
# when it first needs them (README "Memory") the running proxy maps. Idle:
# neither libcurl nor libxml2 (no adcs adapter) nor libsystemd (not run by
# systemd) nor libssl (no tls-alpn-01 validation yet), and libpq only on
# PostgreSQL; after an http-01 validation (WHEN=after_issue): libcurl too
# (libssl is not checked then: libcurl links it).
test_lazy_libs() {
    local name=lazy_libs_$1 maps lib want bad=""
    maps=$(awk '$6 ~ /\.so/ {n = $6; sub(/.*\//, "", n); print n}' \
        "/proc/$SERVER_PID/maps" 2>/dev/null | sort -u)
    if [ -z "$maps" ]; then
        not_ok "$name" "cannot read /proc/$SERVER_PID/maps"
        return
    fi
    for lib in libcurl libpq libxml2 libsystemd libssl; do
        # libssl: loaded by the first tls-alpn-01 validation, and by
        # libcurl (http-01), which links it.
        [ "$lib" = libssl ] && [ "$1" = after_issue ] && continue
        want=no
        [ "$lib" = libpq ] && [ "$STORE_ENGINE" = postgresql ] && want=yes
        # On PostgreSQL libpq, loaded at start, links libssl.
        [ "$lib" = libssl ] && [ "$STORE_ENGINE" = postgresql ] && want=yes
        [ "$lib" = libcurl ] && [ "$1" = after_issue ] && want=yes
        if echo "$maps" | grep -q "^$lib\.so"; then
            [ "$want" = yes ] || bad="$bad $lib mapped;"
        else
            [ "$want" = no ] || bad="$bad $lib not mapped;"
        fi
    done
    if [ -n "$bad" ]; then
        bad=${bad# }
        not_ok "$name" "${bad%;}"
    else
        ok "$name"
    fi
}

# OpenSSL is set up at its first use (README, Decisions: "OpenSSL set up
# at its first use"): idle, after the start-up probe (a directory request
# with its Replay-Nonce), the serving process has mapped only what loading
# libcrypto maps (about 1.4 MB), not the 3.4 MB of a set-up libcrypto;
# after an issuance it has set it up. On a shared store (PostgreSQL) the
# serving process opens the CA at start (cluster_ca_check), so OpenSSL is
# set up idle too.
test_idle_openssl() {
    local name=openssl_setup_$1 kb
    if [ "$1" = idle ] && [ "$STORE_ENGINE" = postgresql ]; then
        kb=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {in_lib = ($6 ~ /\/libcrypto\.so/)}
                  /^Rss:/ && in_lib {t += $2} END {print t + 0}' \
            "/proc/$SERVER_PID/smaps" 2>/dev/null)
        if [ "${kb:-0}" -ge 2600 ]; then
            ok "openssl_setup_at_start_on_a_shared_store ($kb kB)"
        else
            not_ok openssl_setup_at_start_on_a_shared_store \
                "libcrypto Rss ${kb:-?} kB: the CA was not opened at start"
        fi
        return
    fi
    kb=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {in_lib = ($6 ~ /\/libcrypto\.so/)}
              /^Rss:/ && in_lib {t += $2} END {print t + 0}' \
        "/proc/$SERVER_PID/smaps" 2>/dev/null)
    if [ -z "$kb" ] || [ "$kb" -eq 0 ]; then
        not_ok "$name" "cannot read libcrypto's Rss in /proc/$SERVER_PID/smaps"
    elif [ "$1" = idle ] && [ "$kb" -ge 2600 ]; then
        not_ok "$name" "libcrypto Rss $kb kB idle: OpenSSL was set up at start (want < 2600)"
    elif [ "$1" = after_issue ] && [ "$kb" -lt 2600 ]; then
        not_ok "$name" "libcrypto Rss $kb kB after an issuance (want >= 2600)"
    else
        ok "$name ($kb kB)"
    fi
}

# A broken CA still stops the start, with the reason (the start-up check
# runs ca_open in a child, proxy/main.c start_check): a copy of this run's
# CA with an intermediate key that does not decode, then with the root's
# certificate in place of the intermediate's (not its key's).
test_broken_ca_refused() {
    local name dir=$TMP/badca out rc what
    for what in garbage_key wrong_cert; do
        name=broken_ca_refused_at_start_$what
        rm -rf "$dir"
        mkdir -p "$dir"
        cp "$DATA_DIR"/ca.pem "$DATA_DIR"/ca-intermediate.pem \
            "$DATA_DIR"/ca-intermediate.key "$dir"/ 2>/dev/null
        if [ "$what" = garbage_key ]; then
            printf '%s\n' "-----BEGIN EC PRIVATE KEY-----" "AAAA" \
                "-----END EC PRIVATE KEY-----" > "$dir/ca-intermediate.key"
        else
            # The root's certificate over the intermediate's key.
            cp "$DATA_DIR/ca.pem" "$dir/ca-intermediate.pem"
        fi
        chmod 600 "$dir"/*.key
        printf '%s\n' "[server]" "listen = 127.0.0.1:$ACME_PORT" \
            "base_url = https://localhost:$ACME_PORT" "data_dir = $dir" \
            "[adapter]" "type = local" > "$dir/proxy.conf"
        out=$(timeout 30 "$TARGET" -c "$dir/proxy.conf" 2>&1)
        rc=$?
        if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
            not_ok "$name" "exit status $rc (the proxy started)"
        elif ! echo "$out" | grep -q "acmeproxy: local CA in $dir: "; then
            not_ok "$name" "no error naming the CA: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
        elif [ -e "$dir/tls.pem" ]; then
            not_ok "$name" "a listener certificate was written"
        else
            ok "$name"
        fi
    done
}

# engine = postgresql where libpq cannot be loaded (an empty file bind-
# mounted over it in a private mount namespace): the start fails with an
# error that names the library and its package, before any connection.
test_pg_without_libpq() {
    local name=postgresql_without_libpq_named lib dir=$TMP/nolibpq out rc
    lib=$(/sbin/ldconfig -p | awk '$1 == "libpq.so.5" {print $NF; exit}')
    if [ -z "$lib" ] || ! command -v unshare > /dev/null; then
        not_ok "$name" "libpq.so.5 or unshare not found"
        return
    fi
    mkdir -p "$dir"
    # A shared store's CA is given (docs/ha.md): the one of this run's.
    cp "$DATA_DIR"/ca* "$dir"/ 2>/dev/null
    (umask 077; head -c 48 /dev/urandom > "$dir/nonce.key")
    printf '%s\n' "[server]" "listen = 127.0.0.1:$ACME_PORT" \
        "base_url = https://localhost:$ACME_PORT" "data_dir = $dir" \
        "[store]" "engine = postgresql" \
        "postgresql = host=127.0.0.1 port=1 dbname=none" \
        "[acme]" "nonce_key_file = $dir/nonce.key" \
        "[adapter]" "type = local" > "$dir/proxy.conf"
    out=$(timeout 30 unshare -m sh -c \
        'mount --bind /dev/null "$1" && exec "$2" -c "$3"' \
        sh "$lib" "$TARGET" "$dir/proxy.conf" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
        not_ok "$name" "exit status $rc"
    elif ! echo "$out" | grep -q 'needs libpq (libpq.so.5, Debian package libpq5)'; then
        not_ok "$name" "no error naming libpq5: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
    else
        ok "$name"
    fi
}

test_server_stop_clean() {
    local name=server_exit_clean
    if ! server_stop; then
        not_ok "$name" "$STOP_ERR"
        show_tail "$TMP/proxy.log"
        return
    fi
    if grep -Eq 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/proxy.log"; then
        not_ok "$name" "sanitizer report in proxy.log"
        grep -E -m 5 -A 12 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/proxy.log" | sed 's/^/#   /'
        return
    fi
    ok "$name"
}

# ---------------------------------------------------------------- main

main() {
    local started=1
    echo "# backend: $BACKEND ${TARGET}; store $STORE_ENGINE; tmp $TMP"
    echo "# ports: dns $DNS_PORT acme $ACME_PORT http-01 $HTTP_PORT"
    if [ "$BACKEND" = proxy ] && [ ! -x "$TARGET" ]; then
        not_ok "proxy_binary" "$TARGET is not an executable file"
        started=0
    elif ! store_start; then
        not_ok "postgresql_starts" "pg_start failed"
        started=0
    elif ! start_knot; then
        not_ok "dns_server_starts" "knotd did not answer on 127.0.0.1:$DNS_PORT"
        show_tail "$TMP/knot.log"
        started=0
    else
        test_dns_server
        test_server_starts || started=0
    fi
    if [ "$started" = 1 ]; then
        [ "$BACKEND" = proxy ] && test_lazy_libs idle
        [ "$BACKEND" = proxy ] && test_idle_openssl idle
        test_lego_issue
        [ "$BACKEND" = proxy ] && test_lazy_libs after_issue
        [ "$BACKEND" = proxy ] && test_idle_openssl after_issue
        # lego's CSR then carries the TLS feature (must-staple), which
        # the CSR extension policy (common/csr.h) must let through.
        test_lego_renew lego_renew_must_staple lego-renew --must-staple
        if [ "$BACKEND" = proxy ]; then
            test_cert_plain_get 405
            # The restart below turns plain GET on for the rest of the run.
            sed -i 's/^\[acme\]$/[acme]\ncertificate_get = yes/' "$TMP/proxy.conf"
        fi
        if test_restart; then
            [ "$BACKEND" = proxy ] && test_cert_plain_get 200
            test_lego_renew lego_renew_after_restart lego-renew2
            test_lego_revoke
            test_wire
        fi
        test_server_stop_clean
        [ "$BACKEND" = proxy ] && test_pg_without_libpq
        [ "$BACKEND" = proxy ] && test_broken_ca_refused
    fi
    if [ "$FAILED" -gt 0 ] && [ "$BACKEND" = proxy ] && [ "$started" = 1 ]; then
        show_tail "$TMP/proxy.log" 60
    fi
    echo "integration: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

# Sourcing this file (for debugging single functions) does not run the tests.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main; fi
