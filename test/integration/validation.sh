#!/usr/bin/env bash
# Challenge validation suite: dns-01 (lego's rfc2136 provider against knotd,
# a wildcard certificate), tls-alpn-01 (lego --tls), IP identifiers and the
# negative cases (val_test.py, python3-acme), against a running acmeproxy.
#
# Usage (from the repository root):
#   test/integration/validation.sh [PROXY_BINARY]   default build/acmeproxy
# Environment: KEEP_TMP=1 keeps the temporary directory.
#
# Reuses run.sh's helpers (sourcing it runs no tests): ports, knotd with a
# per-run TSIG key, proxy start/stop, ok/not_ok.  knotd also listens on ::1
# here and the proxy asks it there ([validation] resolver = [::1]:port), so
# the IPv6 resolver path is exercised by every lookup.  Ends with
# "validation: N passed, N failed"; exit status 0 only when all passed.
set -u

VAL_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=run.sh
source "$VAL_HERE/run.sh"

VAL_TIMEOUT_MS=3000            # the proxy's validation deadline here

# ---------------------------------------------------------------- DNS

# run.sh's zone plus: nx.test (so _acme-challenge.nx.test is NXDOMAIN, not
# caught by *.test), denied.test -> 127.0.0.2 (in deny below), and a CNAME
# for the dns-01 CNAME check.
val_start_knot() {
    write_knot_config || return 1
    cat >> "$TMP/knot/test.zone" <<EOF
nx      A    127.0.0.1
denied  A    127.0.0.2
_acme-challenge.cname CNAME dns-target.test.
EOF
    sed -i "s/^    listen: 127.0.0.1@$DNS_PORT\$/    listen: [ 127.0.0.1@$DNS_PORT, ::1@$DNS_PORT ]/" \
        "$TMP/knot/knot.conf"
    knotd -c "$TMP/knot/knot.conf" > "$TMP/knot.log" 2>&1 &
    PIDS+=($!)
    wait_for 10 dns_answers a.test
}

val_write_config() {
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
tls_port  = $TLS01_PORT
resolver  = [::1]:$DNS_PORT
timeout_ms = $VAL_TIMEOUT_MS
deny = 0.0.0.0/8 169.254.0.0/16 224.0.0.0/4 240.0.0.0/4 ::/128 fe80::/10 ff00::/8 127.0.0.2/32

[adapter]
type = local
EOF
}

# ---------------------------------------------------------------- lego

# val_lego LOGNAME FLAGS... -- DOMAINS... : lego run with its own --path
# ($TMP/LOGNAME)
val_lego() {
    local log=$TMP/$1.log dir=$TMP/$1
    shift
    local args=() domains=()
    while [ "$#" -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    local d
    for d in "$@"; do domains+=(--domains "$d"); done
    LEGO_CA_CERTIFICATES="$CA_FILE" \
    RFC2136_NAMESERVER="127.0.0.1:$DNS_PORT" \
    RFC2136_TSIG_KEY="$TSIG_NAME" \
    RFC2136_TSIG_SECRET="$TSIG_SECRET" \
    RFC2136_TSIG_ALGORITHM="$TSIG_ALG." \
    RFC2136_SEQUENCE_INTERVAL=1 \
    RFC2136_PROPAGATION_TIMEOUT=10 \
    RFC2136_POLLING_INTERVAL=1 \
    RFC2136_TTL=10 \
        timeout 120 lego --server "$DIR_URL" --email "$LEGO_EMAIL" --accept-tos \
        "${args[@]}" "${domains[@]}" --path "$dir" run > "$log" 2>&1
}

# san_list CERTFILE: sorted SANs ("DNS:x IP Address:y"), space separated
san_list() {
    leaf_pem "$1" | openssl x509 -noout -ext subjectAltName 2>/dev/null |
        tail -n +2 | tr ',' '\n' | sed 's/^ *//' | sort | tr '\n' ' ' | sed 's/ $//'
}

# check_lego NAME LOGNAME CERTFILE WANT_SANS
check_lego_cert() {
    local name=$1 log=$2 crt=$3 want=$4 got
    if [ ! -s "$crt" ]; then
        not_ok "$name" "lego wrote no $crt"
        show_tail "$TMP/$log.log"
        return
    fi
    got=$(san_list "$crt")
    if [ "$got" != "$want" ]; then
        not_ok "$name" "SANs are '$got', want '$want'"
        return
    fi
    ok "$name"
}

test_lego_dns01_wildcard() {
    local name=lego_dns01_rfc2136_wildcard
    if ! val_lego lego-dns01 --dns rfc2136 --dns.resolvers "127.0.0.1:$DNS_PORT" \
            --dns.disable-cp -- '*.wild.test' wild.test; then
        not_ok "$name" "lego --dns rfc2136 exited non-zero"
        show_tail "$TMP/lego-dns01.log"
        return
    fi
    check_lego_cert "$name" lego-dns01 "$TMP/lego-dns01/certificates/_.wild.test.crt" \
        "DNS:*.wild.test DNS:wild.test"
}

test_lego_dns01_plain() {
    local name=lego_dns01_rfc2136
    if ! val_lego lego-dns01b --dns rfc2136 --dns.resolvers "127.0.0.1:$DNS_PORT" \
            --dns.disable-cp -- dns.a.test; then
        not_ok "$name" "lego --dns rfc2136 exited non-zero"
        show_tail "$TMP/lego-dns01b.log"
        return
    fi
    check_lego_cert "$name" lego-dns01b "$TMP/lego-dns01b/certificates/dns.a.test.crt" \
        "DNS:dns.a.test"
}

test_lego_tlsalpn01() {
    local name=lego_tlsalpn01
    if ! val_lego lego-tls --tls --tls.port "127.0.0.1:$TLS01_PORT" -- tls.a.test; then
        not_ok "$name" "lego --tls exited non-zero"
        show_tail "$TMP/lego-tls.log"
        return
    fi
    check_lego_cert "$name" lego-tls "$TMP/lego-tls/certificates/tls.a.test.crt" \
        "DNS:tls.a.test"
}

test_val_py() {
    local line out=$TMP/valtest.log
    VAL_AUDIT_LOG="$DATA_DIR/audit.log" VAL_PROXY_LOG="$TMP/proxy.log" \
    timeout 240 "$PY" "$VAL_HERE/val_test.py" "$DIR_URL" "$CA_FILE" "$HTTP_PORT" \
        "$TLS01_PORT" "$DNS_PORT" > "$out" 2>&1
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "py: ${line#ok - }" ;;
            "not ok - "*) line=${line#not ok - }; not_ok "py: ${line%%: *}" "${line#*: }" ;;
            *) echo "# $line" ;;
        esac
    done < "$out"
    if grep -Eq '^valtest: [0-9]+ passed, [0-9]+ failed$' "$out"; then
        ok "val_test_completed"
    else
        not_ok "val_test_completed" "val_test.py ended without its summary line"
    fi
}

# The proxy logs each outcome with its evidence (validationRecord) and ms.
test_evidence_logged() {
    local name=evidence_logged t
    for t in http-01 dns-01 tls-alpn-01; do
        if ! grep -q "validate: authz=.* type=$t .*result=valid .*ms=[0-9]* evidence=\[{" "$TMP/proxy.log"; then
            not_ok "$name" "no valid $t outcome with evidence in proxy.log"
            return
        fi
    done
    if ! grep -q 'type=dns-01 .*"txtLengths":\[43' "$TMP/proxy.log" ||
       ! grep -q 'type=http-01 .*"addressesResolved":\[' "$TMP/proxy.log" ||
       ! grep -q 'type=tls-alpn-01 .*"sni":"1.0.0.127.in-addr.arpa"' "$TMP/proxy.log"; then
        not_ok "$name" "evidence lacks TXT record lengths, resolved addresses or the reverse SNI"
        return
    fi
    ok "$name"
}

# Median and max of the ms= field per challenge type (valid outcomes).
report_latency() {
    local t
    for t in http-01 dns-01 tls-alpn-01; do
        grep -o "type=$t .*result=valid .*ms=[0-9]*" "$TMP/proxy.log" |
            sed 's/.*ms=//' | sort -n |
            awk -v t="$t" '{v[NR]=$1} END {if (NR) printf "# latency %s: n=%d median=%d ms max=%d ms\n", t, NR, v[int((NR+1)/2)], v[NR]}'
    done
}

val_main() {
    local started=1
    echo "# validation suite: ${TARGET}; tmp $TMP"
    echo "# ports: dns $DNS_PORT acme $ACME_PORT http-01 $HTTP_PORT tls-alpn-01 $TLS01_PORT"
    if [ ! -x "$TARGET" ]; then
        not_ok "proxy_binary" "$TARGET is not an executable file"
        started=0
    elif ! val_start_knot; then
        not_ok "dns_server_starts" "knotd did not answer on 127.0.0.1:$DNS_PORT"
        show_tail "$TMP/knot.log"
        started=0
    else
        val_write_config
        test_server_starts || started=0
    fi
    if [ "$started" = 1 ]; then
        test_lego_dns01_wildcard
        test_lego_dns01_plain
        test_lego_tlsalpn01
        test_val_py
        test_evidence_logged
        report_latency
        test_server_stop_clean
    fi
    if [ "$FAILED" -gt 0 ] && [ "$started" = 1 ]; then
        show_tail "$TMP/proxy.log" 40
    fi
    echo "validation: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

val_main
