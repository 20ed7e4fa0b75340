#!/usr/bin/env bash
# Adapter integration tests: lego and python3-acme against the proxy, the
# proxy against the stand-in PKIs of test/mockpki (one mockpki process that
# plays EJBCA, Vault, step-ca and certsrv; exec_pki.py behind the exec
# adapter; the generic REST adapter configured as EJBCA, Vault and step-ca).
#
# Usage (from the repository root):
#   test/integration/adapters.sh [PROXY_BINARY]   default build/acmeproxy
#   ONLY="vault ejbca" test/integration/adapters.sh   a subset of adapters
#   NAMED_ONLY=1 test/integration/adapters.sh   the named adapters alone
# The mock PKI binary is the mockpki next to the proxy binary.
#
# Per adapter: lego issues and revokes; python3-acme orders show pending
# (processing + Retry-After, then valid), rejection (invalid with the
# PKI's reason), outage (invalid serverInternal after retry_timeout), wrong
# SAN set, a bad chain, a CA certificate and a leaf without serverAuth
# (refused; the last accepted for a profile with tls_server = no). Crash
# tests: orders pending at the PKI
# and queued for retry, SIGKILL, restart: every order is issued exactly once
# (the mock's own count). Named adapters (test_named_adapters): one proxy
# with a Vault and an EJBCA stand-in (two mockpki processes, two CAs)
# behind two profiles, one failing while the other issues, reloads that
# add an adapter, move a profile and remove an adapter under orders in
# flight. Ends with "adapters: N passed, N failed".
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# run.sh defines the shared helpers (knot, ports, proxy start/stop, lego,
# ok/not_ok) when sourced; it does not run its own tests then.
# shellcheck source=run.sh
source "$HERE/run.sh" "${1:-build/acmeproxy}"
MOCKPKI=${MOCKPKI:-$(dirname "$TARGET")/mockpki}
ORDERS=$ROOT/test/mockpki/acme_orders.py
EXEC_PKI=$ROOT/test/mockpki/exec_pki.py
MOCK=$TMP/mock
MOCK_PID=""
ALL_ADAPTERS="local vault ejbca stepca adcs exec rest-vault rest-ejbca rest-stepca"
ADAPTERS=${ONLY:-$ALL_ADAPTERS}

read -r MOCK_PORT < <("$PY" "$HERE/free_ports.py" 1)
MOCK_URL=https://localhost:$MOCK_PORT

mock_start() {
    mkdir -p "$MOCK"
    # -l 30: AppRole tokens live 30 s, so the Vault adapter logs in again.
    "$MOCKPKI" -d "$MOCK" -p "$MOCK_PORT" -l 30 > "$TMP/mock.log" 2>&1 &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    wait_for 20 test -f "$MOCK/ready" &&
        wait_for 10 curl -sf --cacert "$MOCK/ca/ca.pem" "$MOCK_URL/health"
}

mock_state() {   # mock_state JQ_FILTER [DIR URL]: of the first mock, or DIR's
    local dir=${2:-$MOCK} url=${3:-$MOCK_URL}
    curl -sf --max-time 5 --cacert "$dir/ca/ca.pem" "$url/__mock/state" | jq -r "$1"
}

mock_hold() {   # mock_hold 0|1
    curl -sf --max-time 5 --cacert "$MOCK/ca/ca.pem" -X POST \
        "$MOCK_URL/__mock/hold?on=$1" > /dev/null
    if [ "$1" = 1 ]; then touch "$MOCK/hold"; else rm -f "$MOCK/hold"; fi
}

# A second stand-in (its own CA, counts and port), for the named adapters.
read -r MOCK2_PORT < <("$PY" "$HERE/free_ports.py" 1)
MOCK2=$TMP/mock2
MOCK2_URL=https://localhost:$MOCK2_PORT
MOCK2_PID=""
mock2_start() {
    mkdir -p "$MOCK2"
    rm -f "$MOCK2/ready"
    "$MOCKPKI" -d "$MOCK2" -p "$MOCK2_PORT" -l 30 >> "$TMP/mock2.log" 2>&1 &
    MOCK2_PID=$!
    PIDS+=("$MOCK2_PID")
    wait_for 20 test -f "$MOCK2/ready" &&
        wait_for 10 curl -sf --cacert "$MOCK2/ca/ca.pem" "$MOCK2_URL/health"
}

# The [adapter] section of each adapter under test.
adapter_section() {
    local a=$1 common
    common="trust_anchors = $MOCK/ca/ca.pem
poll_interval = 1
retry_timeout = ${RETRY_TIMEOUT:-3}
workers = 4"
    case $a in
    local) printf 'type = local\npoll_interval = 1\n' ;;
    vault) cat <<EOF
type = vault
url = $MOCK_URL
ca_file = $MOCK/ca/ca.pem
role = acme
approle_role_id = $MOCK/approle-role-id
approle_secret_id = env:ADAPTERS_TEST_SECRET_ID
timeout_ms = 10000
$common
EOF
        ;;
    ejbca) cat <<EOF
type = ejbca
url = $MOCK_URL/ejbca/ejbca-rest-api
ca_file = $MOCK/ca/ca.pem
client_cert = $MOCK/client.pem
client_key = $MOCK/client.key
certificate_profile = ACME_TLS
end_entity_profile = ACME_EEP
ca_name = MockIssuingCA
enrollment_code = $MOCK/ejbca-code
chain_file = $MOCK/ca/ca-intermediate.pem
$common
EOF
        ;;
    stepca) cat <<EOF
type = stepca
url = $MOCK_URL
ca_file = $MOCK/ca/ca.pem
provisioner = acme-proxy
provisioner_kid = $(cat "$MOCK/stepca.kid")
provisioner_key = $MOCK/stepca.jwk
$common
EOF
        ;;
    adcs) cat <<EOF
type = adcs
url = $MOCK_URL/certsrv
ca_file = $MOCK/ca/ca.pem
template = WebServer
auth = ntlm
user = CORP\\acme
password = $MOCK/adcs-password
$common
EOF
        ;;
    exec) cat <<EOF
type = exec
command = $EXEC_PKI
args = $MOCK
timeout_ms = 20000
$common
EOF
        ;;
    rest-*)
        sed -e "s|@URL@|$MOCK_URL|g" -e "s|@MOCK@|$MOCK|g" \
            "$ROOT/test/mockpki/cases/$a.json" > "$TMP/$a.json"
        printf 'type = rest\nconfig = %s\n%s\n' "$TMP/$a.json" "$common"
        ;;
    esac
}

write_proxy_conf() {   # write_proxy_conf ADAPTER
    cat > "$TMP/proxy.conf" <<EOF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $DATA_DIR
log_level = debug

[acme]
wait_ms = 1000
${ACME_EXTRA:-}

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
$(adapter_section "$1")

${EXTRA_SECTIONS:-}
EOF
}

# run_orders LOG TIMEOUT NAME... : python3-acme orders; output in $TMP/LOG.out
run_orders() {
    local log=$1 timeout=$2
    shift 2
    rm -rf "$TMP/$log.state"
    timeout $((timeout + 60)) "$PY" "$ORDERS" "$DIR_URL" "$CA_FILE" "$HTTP_PORT" \
        "$TMP/$log.state" "$timeout" "$@" > "$TMP/$log.out" 2> "$TMP/$log.err"
}

# order_field LOG NAME COLUMN (2 status, 3 finalize status, 4 Retry-After,
# 5 error type, 6 detail)
order_field() {
    awk -F'\t' -v n="$2" -v c="$3" '$1 == n {print $c}' "$TMP/$1.out"
}

expect_order() {   # expect_order TEST LOG NAME STATUS ERRTYPE DETAIL_REGEX
    local t=$1 log=$2 name=$3 st et det
    st=$(order_field "$log" "$name" 2)
    et=$(order_field "$log" "$name" 5)
    det=$(order_field "$log" "$name" 6)
    if [ "$st" != "$4" ] || [ "$et" != "$5" ]; then
        not_ok "$t" "order $name is '$st' ($et: $det), want '$4' ($5)"
        show_tail "$TMP/$log.err" 5
    elif [ -n "$6" ] && ! echo "$det" | grep -Eqi "$6"; then
        not_ok "$t" "order $name detail '$det' does not match /$6/"
    else
        ok "$t"
    fi
}

lego_names() {   # lego_names NAME... : the names lego asks for
    DNS_NAMES=("$@")
    LEGO_CRT="$LEGO_DIR/certificates/${DNS_NAMES[0]}.crt"
    LEGO_ISSUER="$LEGO_DIR/certificates/${DNS_NAMES[0]}.issuer.crt"
}

# ---------------------------------------------------------------- per adapter

test_adapter() {
    local a=$1 anchors=$MOCK/ca/ca.pem err want got rev_before rev_after
    write_proxy_conf "$a"
    if ! proxy_start; then
        not_ok "$a: proxy_starts" "${START_ERR:-?}"
        show_tail "$TMP/proxy.log" 20
        return
    fi
    ok "$a: proxy_starts"
    [ "$a" = local ] && anchors=$CA_FILE

    # lego: issue and verify against the PKI's root
    lego_names "$a.a.test" "www.$a.a.test"
    if ! lego_cmd "lego-$a" run; then
        not_ok "$a: lego_issue" "lego run failed"
        show_tail "$TMP/lego-$a.log" 8
        show_tail "$TMP/proxy.log" 15
    else
        leaf_pem "$LEGO_CRT" > "$TMP/leaf.pem"
        err=$(openssl verify -CAfile "$anchors" -untrusted "$LEGO_ISSUER" "$TMP/leaf.pem" 2>&1)
        want=$(printf '%s\n' "${DNS_NAMES[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
        got=$(cert_sans)
        if [ "$err" != "$TMP/leaf.pem: OK" ]; then
            not_ok "$a: lego_issue" "chain does not verify to the PKI root: $err"
        elif [ "$got" != "$want" ]; then
            not_ok "$a: lego_issue" "SANs '$got', want '$want'"
        else
            ok "$a: lego_issue"
        fi
        # revoke through the adapter
        rev_before=$(mock_state .revoked)
        if [ "$a" = adcs ]; then
            # Issue 19: a revocation AD CS cannot do is 403 unauthorized
            # with the instruction (not 500 serverInternal), and audited.
            if lego_cmd "lego-revoke-$a" revoke --keep; then
                not_ok "$a: revoke_refused_clearly" "revocation succeeded through certsrv"
            elif grep -q "cannot revoke" "$TMP/lego-revoke-$a.log"; then
                ok "$a: revoke_refused_clearly"
            else
                not_ok "$a: revoke_refused_clearly" "no clear problem"
                show_tail "$TMP/lego-revoke-$a.log" 4
            fi
            if grep -q "403 ::.*urn:ietf:params:acme:error:unauthorized" "$TMP/lego-revoke-$a.log" &&
               grep -q "certutil -revoke" "$TMP/lego-revoke-$a.log" &&
               ! grep -q "serverInternal" "$TMP/lego-revoke-$a.log"; then
                ok "$a: revoke_unsupported_is_403_unauthorized"
            else
                not_ok "$a: revoke_unsupported_is_403_unauthorized" \
                    "$(grep -o '[0-9]\{3\} :: POST :: [^ ]* :: [^ ]*' "$TMP/lego-revoke-$a.log" | head -n 1)"
                show_tail "$TMP/lego-revoke-$a.log" 3
            fi
            if wait_for 5 grep -q '"cert.revoke_failed"' "$DATA_DIR/audit.log"; then
                ok "$a: revoke_unsupported_audited"
            else
                not_ok "$a: revoke_unsupported_audited" "no cert.revoke_failed in $DATA_DIR/audit.log"
            fi
        elif ! lego_cmd "lego-revoke-$a" revoke --keep; then
            not_ok "$a: lego_revoke" "lego revoke failed"
            show_tail "$TMP/lego-revoke-$a.log" 5
        else
            rev_after=$(mock_state .revoked)
            if [ "$a" = exec ] && [ -s "$MOCK/exec-revoked.log" ]; then
                ok "$a: lego_revoke"
            elif [ "$a" = local ] || [ "$rev_after" -gt "$rev_before" ]; then
                ok "$a: lego_revoke"
            else
                not_ok "$a: lego_revoke" "the PKI recorded no revocation ($rev_before -> $rev_after)"
            fi
        fi
    fi

    # python3-acme orders: the outcomes the PKI can give
    local names=() n
    case $a in
    local) names=("plain.$a.a.test") ;;
    exec) names=("pending-2.$a.a.test" "reject.$a.a.test" "e503.$a.a.test") ;;
    ejbca | adcs | rest-ejbca)
        names=("pending-2.$a.a.test" "reject.$a.a.test" "e503.$a.a.test"
               "wrongsan.$a.a.test" "badchain.$a.a.test"
               "leafca.$a.a.test" "noserverauth.$a.a.test") ;;
    *) names=("slow-2500.$a.a.test" "reject.$a.a.test" "e503.$a.a.test"
              "wrongsan.$a.a.test" "badchain.$a.a.test"
              "leafca.$a.a.test" "noserverauth.$a.a.test") ;;
    esac
    [ "$a" = adcs ] && names+=("deny-1.$a.a.test" "denytext.$a.a.test")
    if ! run_orders "orders-$a" 40 "${names[@]}"; then
        not_ok "$a: orders_complete" "not every order ended within 40 s"
        show_tail "$TMP/orders-$a.err" 8
        show_tail "$TMP/orders-$a.out" 8
    else
        ok "$a: orders_complete"
    fi
    for n in "${names[@]}"; do
        case ${n%%.*} in
        plain) expect_order "$a: issued" "orders-$a" "$n" valid - "" ;;
        pending-*|slow-*)
            expect_order "$a: pending_then_valid" "orders-$a" "$n" valid - ""
            if [ "$(order_field "orders-$a" "$n" 3)" = processing ] &&
               [ "$(order_field "orders-$a" "$n" 4)" != - ]; then
                ok "$a: finalize_processing_with_retry_after"
            else
                not_ok "$a: finalize_processing_with_retry_after" \
                    "finalize answered '$(order_field "orders-$a" "$n" 3)' Retry-After '$(order_field "orders-$a" "$n" 4)'"
            fi ;;
        reject) expect_order "$a: rejected" "orders-$a" "$n" invalid rejectedIdentifier \
                    "allowed|denied|policy|forbidden" ;;
        deny-*) expect_order "$a: denied_after_pending" "orders-$a" "$n" invalid rejectedIdentifier \
                    "denied" ;;
        denytext)
            # Issue 19: the whole disposition message, entities decoded,
            # line breaks as spaces (today's main stops at the first '"').
            expect_order "$a: denial_text_whole" "orders-$a" "$n" invalid rejectedIdentifier \
                "Denied by Policy Module 0x80094800, the request for \"$n\" & \"its\" names was denied: Tom's template <WebServer> is not allowed here" ;;
        e503) expect_order "$a: outage_gives_serverInternal" "orders-$a" "$n" invalid serverInternal \
                    "could not be used" ;;
        wrongsan) expect_order "$a: wrong_san_refused" "orders-$a" "$n" invalid serverInternal \
                    "names differ" ;;
        badchain) expect_order "$a: bad_chain_refused" "orders-$a" "$n" invalid serverInternal \
                    "does not verify" ;;
        leafca) expect_order "$a: ca_certificate_refused" "orders-$a" "$n" invalid serverInternal \
                    "CA certificate" ;;
        noserverauth) expect_order "$a: no_serverauth_refused" "orders-$a" "$n" invalid serverInternal \
                    "lacks serverAuth" ;;
        esac
    done
    if ! server_stop; then
        not_ok "$a: proxy_stops" "$STOP_ERR"
    fi
}

# test_profile_use ADAPTER: with a default profile that is not a TLS
# server profile (tls_server = no) a clientAuth-only leaf is accepted; a
# CA certificate is still refused.
test_profile_use() {
    local a=$1 n1="noserverauth.p-$1.a.test" n2="leafca.p-$1.a.test"
    ACME_EXTRA="default_profile = client" \
        EXTRA_SECTIONS=$'[profile.client]\ndescription = TLS client\ntls_server = no' \
        write_proxy_conf "$a"
    if ! proxy_start; then
        not_ok "$a: profile_proxy_starts" "${START_ERR:-?}"
        show_tail "$TMP/proxy.log" 20
        return
    fi
    if ! run_orders "profile-$a" 40 "$n1" "$n2"; then
        not_ok "$a: profile_orders_complete" "not every order ended within 40 s"
        show_tail "$TMP/profile-$a.err" 8
    fi
    expect_order "$a: client_profile_accepts_no_serverauth" "profile-$a" "$n1" valid - ""
    expect_order "$a: client_profile_refuses_ca_certificate" "profile-$a" "$n2" invalid serverInternal \
        "CA certificate"
    if ! server_stop; then
        not_ok "$a: proxy_stops" "$STOP_ERR"
    fi
}

# ---------------------------------------------------------------- crash

# test_crash ADAPTER: orders pending at the PKI and queued for retry,
# SIGKILL, restart; each order must end valid and be issued exactly once.
test_crash() {
    local a=$1 t="$1: sigkill_restart_exactly_once" names=() n i helper cnt
    RETRY_TIMEOUT=120 write_proxy_conf "$a"
    if ! proxy_start; then
        not_ok "$t" "proxy did not start: ${START_ERR:-?}"
        return
    fi
    case $a in
    vault | stepca) names=("hold.c1-$a.a.test" "hold.c2-$a.a.test" "hold.c3-$a.a.test") ;;
    *) names=("pending-6.c1-$a.a.test" "pending-6.c2-$a.a.test"
              "hold.c3-$a.a.test" "hold.c4-$a.a.test") ;;
    esac
    mock_hold 1
    rm -rf "$TMP/crash-$a.state"
    ( run_orders "crash-$a" 90 "${names[@]}" ) &
    helper=$!
    if ! wait_for 60 test -f "$TMP/crash-$a.state/finalized"; then
        not_ok "$t" "orders were not finalized"
        show_tail "$TMP/crash-$a.err" 8
        mock_hold 0
        wait "$helper"
        server_stop
        return
    fi
    sleep 1.5
    kill -KILL "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
    mock_hold 0
    if ! proxy_start; then
        not_ok "$t" "restart failed: ${START_ERR:-?}"
        wait "$helper"
        return
    fi
    wait "$helper"
    if ! grep -q "resuming [0-9]* stored jobs" "$TMP/proxy.log"; then
        not_ok "$t" "the restarted proxy resumed no jobs"
        server_stop
        return
    fi
    for n in "${names[@]}"; do
        if [ "$(order_field "crash-$a" "$n" 2)" != valid ]; then
            not_ok "$t" "order $n ended '$(order_field "crash-$a" "$n" 2)' ($(order_field "crash-$a" "$n" 6))"
            show_tail "$TMP/proxy.log" 20
            server_stop
            return
        fi
        if [ "$a" = exec ]; then
            cnt=$(grep -cx "$n" "$MOCK/exec-issued.log")
        else
            cnt=$(mock_state ".by_name[\"$n\"] // 0")
        fi
        if [ "$cnt" != 1 ]; then
            not_ok "$t" "the PKI issued $cnt certificates for $n"
            server_stop
            return
        fi
    done
    ok "$t"
    server_stop
}

# padded_pem FILE SIZE: FILE's certificates, then comment lines, SIZE
# bytes in all (text between PEM blocks is ignored).
# ---------------------------------------------------------------- named adapters

# The proxy for test_named_adapters: local as the default adapter, the
# first mock as Vault ([adapter.vault]), the second as EJBCA
# ([adapter.ejbca]); $1: more sections (a reload's additions).
write_named_conf() {
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

[admin]
listen = 127.0.0.1:$MGMT_PORT
probe_interval = 1

[adapter]
type = local

[adapter.vault]
$(RETRY_TIMEOUT=60 adapter_section vault)
probe_interval = 1

[adapter.ejbca]
$(adapter_section ejbca | sed -e "s|$MOCK/|$MOCK2/|g" -e "s|$MOCK_URL|$MOCK2_URL|g")
probe_interval = 1

[profile.vp]
description = Vault
adapter = vault

[profile.ep]
description = EJBCA
adapter = ejbca

$1
EOF
}

# named_issuer TEST NAME DIR OTHER: NAME's saved certificate chains to the
# CA of the stand-in in DIR and not to OTHER's, and that stand-in (alone)
# signed one certificate for NAME.
named_issuer() {
    local t=$1 n=$2 dir=$3 other=$4 url ourl pem
    pem=$TMP/named.state/$2.pem
    url=$MOCK_URL ourl=$MOCK2_URL
    [ "$dir" = "$MOCK2" ] && url=$MOCK2_URL ourl=$MOCK_URL
    if [ ! -s "$pem" ]; then
        not_ok "$t" "no certificate saved for $n"
        return
    fi
    awk '/BEGIN/{i++} i==1' "$pem" > "$TMP/named-leaf.pem"
    awk '/BEGIN/{i++} i>1' "$pem" > "$TMP/named-chain.pem"
    if ! openssl verify -CAfile "$dir/ca/ca.pem" -untrusted "$TMP/named-chain.pem" \
            "$TMP/named-leaf.pem" > /dev/null 2>&1; then
        not_ok "$t" "$n does not chain to $dir's CA"
    elif openssl verify -CAfile "$other/ca/ca.pem" -untrusted "$TMP/named-chain.pem" \
            "$TMP/named-leaf.pem" > /dev/null 2>&1; then
        not_ok "$t" "$n also chains to $other's CA: the stand-ins share a CA"
    elif [ "$(mock_state ".by_name[\"$n\"] // 0" "$dir" "$url")" != 1 ] ||
         [ "$(mock_state ".by_name[\"$n\"] // 0" "$other" "$ourl")" != 0 ]; then
        not_ok "$t" "signed for $n: $(mock_state ".by_name[\"$n\"] // 0" "$dir" "$url") by $dir, $(mock_state ".by_name[\"$n\"] // 0" "$other" "$ourl") by $other"
    else
        ok "$t"
    fi
}

# by_name2 NAME: certificates the second stand-in signed for NAME
by_name2() {
    mock_state ".by_name[\"$1\"] // 0" "$MOCK2" "$MOCK2_URL"
}

issue_workers() {   # acmeproxy_job_workers{kind="issuance"}
    curl -s --max-time 5 "http://127.0.0.1:$MGMT_PORT/metrics" |
        awk '$1 == "acmeproxy_job_workers{kind=\"issuance\"}" {print $2}'
}

reloads_applied() {
    grep -c 'reload: .* applied' "$TMP/proxy.log"
}

test_named_adapters() {
    local t0=$SECONDS code helper reloads workers
    if ! mock2_start; then
        not_ok "named: second_mockpki_starts" "see $TMP/mock2.log"
        return
    fi
    write_named_conf ""
    if ! proxy_start; then
        not_ok "named: proxy_starts" "${START_ERR:-?}"
        show_tail "$TMP/proxy.log" 20
        return
    fi
    ok "named: proxy_starts"

    # 1. An order on each profile, each issued by its own PKI.
    if ! run_orders named 30 "one.vp.a.test@vp" "one.ep.a.test@ep" "one.dflt.a.test"; then
        not_ok "named: orders_complete" "not every order ended within 30 s"
        show_tail "$TMP/named.err" 8
    fi
    expect_order "named: vault_profile_issued" named one.vp.a.test valid - ""
    expect_order "named: ejbca_profile_issued" named one.ep.a.test valid - ""
    expect_order "named: no_profile_default_adapter" named one.dflt.a.test valid - ""
    named_issuer "named: vault_profile_issued_by_vault" one.vp.a.test "$MOCK" "$MOCK2"
    named_issuer "named: ejbca_profile_issued_by_ejbca" one.ep.a.test "$MOCK2" "$MOCK"
    if [ "$(mock_state '.by_name["one.dflt.a.test"] // 0')" = 0 ] &&
       [ "$(by_name2 one.dflt.a.test)" = 0 ]; then
        ok "named: default_adapter_is_not_a_stand_in"
    else
        not_ok "named: default_adapter_is_not_a_stand_in" "a stand-in signed one.dflt.a.test"
    fi
    if grep -q '"pki.answer".*"adapterName":"ejbca"' "$DATA_DIR/audit.log" &&
       grep -q '"order.created".*"adapterName":"vault"' "$DATA_DIR/audit.log"; then
        ok "named: audit_names_the_adapter"
    else
        not_ok "named: audit_names_the_adapter" "no adapterName in pki.answer / order.created"
    fi
    curl -s --max-time 5 "http://127.0.0.1:$MGMT_PORT/metrics" > "$TMP/named-metrics.txt"
    if grep -q '^acmeproxy_pki_calls_total{adapter="ejbca",type="ejbca",call="submit",outcome="issued"} 1$' "$TMP/named-metrics.txt" &&
       grep -q '^acmeproxy_pki_calls_total{adapter="vault",type="vault",call="submit",outcome="issued"} 1$' "$TMP/named-metrics.txt" &&
       grep -q '^acmeproxy_pki_calls_total{adapter="default",type="local",call="submit",outcome="issued"} 1$' "$TMP/named-metrics.txt"; then
        ok "named: metrics_by_adapter"
    else
        not_ok "named: metrics_by_adapter" "$(grep 'pki_calls_total{.*submit' "$TMP/named-metrics.txt" | tr '\n' ' ')"
    fi

    # A certificate is revoked at the PKI that issued it (the admin
    # command opens every adapter and picks the certificate's).
    local serial rev1 rev2
    serial=$(openssl x509 -noout -serial -in "$TMP/named.state/one.ep.a.test.pem" 2>/dev/null | cut -d= -f2)
    rev1=$(mock_state .revoked)
    rev2=$(mock_state .revoked "$MOCK2" "$MOCK2_URL")
    if [ -n "$serial" ] &&
       "$TARGET" -c "$TMP/proxy.conf" revoke "$serial" --reason 4 > "$TMP/named-revoke.out" 2>&1 &&
       [ "$(mock_state .revoked "$MOCK2" "$MOCK2_URL")" = $((rev2 + 1)) ] &&
       [ "$(mock_state .revoked)" = "$rev1" ] &&
       wait_for 5 grep -q '"cert.revoked".*"adapterName":"ejbca"' "$DATA_DIR/audit.log"; then
        ok "named: revoked_at_the_issuing_pki"
    else
        not_ok "named: revoked_at_the_issuing_pki" "serial '$serial': $(tail -n 1 "$TMP/named-revoke.out"); ejbca $rev2 -> $(mock_state .revoked "$MOCK2" "$MOCK2_URL"), vault $rev1 -> $(mock_state .revoked)"
    fi

    # 2. The EJBCA stand-in stops: Vault keeps issuing, ready stays 200 and
    # names the failing adapter; EJBCA's order fails after its
    # retry_timeout (3 s).
    stop_pid "$MOCK2_PID" 5
    if ! run_orders named2 30 "two.vp.a.test@vp" "two.ep.a.test@ep"; then
        not_ok "named: orders_complete_one_pki_down" "not every order ended within 30 s"
        show_tail "$TMP/named2.err" 8
    fi
    expect_order "named: other_pki_keeps_issuing" named2 two.vp.a.test valid - ""
    expect_order "named: stopped_pki_order_fails" named2 two.ep.a.test invalid serverInternal \
        "could not be used"
    wait_for 5 sh -c "curl -s --max-time 5 http://127.0.0.1:$MGMT_PORT/health/ready | jq -e '.adapters.ejbca.ok == false' > /dev/null"
    code=$(curl -s -o "$TMP/ready.json" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$MGMT_PORT/health/ready")
    if [ "$code" = 200 ] &&
       [ "$(jq -r '.adapters.ejbca.ok' "$TMP/ready.json")" = false ] &&
       [ "$(jq -r '.adapters.vault.ok' "$TMP/ready.json")" = true ] &&
       jq -r '.checks.adapter.detail' "$TMP/ready.json" | grep -q "failing: ejbca"; then
        ok "named: ready_names_the_failing_adapter"
    else
        not_ok "named: ready_names_the_failing_adapter" "$code $(tr -d '\n' < "$TMP/ready.json" | head -c 400)"
    fi
    mock2_start || not_ok "named: second_mockpki_restarts" "see $TMP/mock2.log"

    # 3. Reloads under orders in flight. Held at Vault (503 while held):
    # one order on a profile the second reload moves to EJBCA, one on an
    # adapter it removes; it also adds a step-ca adapter.
    write_named_conf "[adapter.gone]
$(RETRY_TIMEOUT=60 adapter_section vault)
[profile.mv]
adapter = vault
[profile.gp]
adapter = gone"
    reloads=$(reloads_applied)
    workers=$(issue_workers)
    kill -HUP "$SERVER_PID"
    wait_for 10 sh -c "[ \$(grep -c 'reload: .* applied' '$TMP/proxy.log') -gt $reloads ]" ||
        not_ok "named: first_reload_applied" "$(grep 'reload' "$TMP/proxy.log" | tail -n 1)"
    # [adapter.gone] brings its 4 workers.
    if [ "$(issue_workers)" = $((workers + 4)) ]; then
        ok "named: reload_grows_issuance_workers"
    else
        not_ok "named: reload_grows_issuance_workers" "$workers -> $(issue_workers)"
    fi
    mock_hold 1
    rm -rf "$TMP/named3.state"
    ( run_orders named3 40 "hold.mv.a.test@mv" "hold.gp.a.test@gp" ) &
    helper=$!
    if ! wait_for 30 test -f "$TMP/named3.state/finalized"; then
        not_ok "named: held_orders_finalized" "see $TMP/named3.err"
        mock_hold 0
        wait "$helper"
        server_stop
        return
    fi
    sleep 1
    write_named_conf "[adapter.step]
$(adapter_section stepca)
[profile.mv]
adapter = ejbca
[profile.sp]
adapter = step"
    reloads=$(reloads_applied)
    kill -HUP "$SERVER_PID"
    if wait_for 10 sh -c "[ \$(grep -c 'reload: .* applied' '$TMP/proxy.log') -gt $reloads ]"; then
        ok "named: reload_adds_an_adapter"
    else
        not_ok "named: reload_adds_an_adapter" "$(grep 'reload' "$TMP/proxy.log" | tail -n 1)"
    fi
    mock_hold 0
    wait "$helper"
    if [ "$(order_field named3 hold.mv.a.test 2)" = valid ] &&
       [ "$(mock_state '.by_name["hold.mv.a.test"] // 0')" = 1 ] &&
       [ "$(by_name2 hold.mv.a.test)" = 0 ]; then
        ok "named: order_in_flight_stays_on_its_adapter"
    else
        not_ok "named: order_in_flight_stays_on_its_adapter" \
            "$(order_field named3 hold.mv.a.test 2) $(order_field named3 hold.mv.a.test 6); at ejbca: $(by_name2 hold.mv.a.test)"
    fi
    expect_order "named: removed_adapter_fails_cleanly" named3 hold.gp.a.test invalid serverInternal \
        "adapter gone .*no longer configured"
    if grep -q '"job.abandoned".*"adapterName":"gone"' "$DATA_DIR/audit.log"; then
        ok "named: removed_adapter_audited"
    else
        not_ok "named: removed_adapter_audited" "no job.abandoned naming adapter gone"
    fi
    # An EAB key whose team's default profile is ep: its account's order
    # without a profile goes to EJBCA.
    if ! "$TARGET" -c "$TMP/proxy.conf" eab add --label team-e --profiles vp,ep \
            --default-profile ep --json > "$TMP/eab-e.json" 2> "$TMP/eab-e.err"; then
        not_ok "named: eab_default_profile_key" "$(cat "$TMP/eab-e.err")"
    elif ! EAB_KID=$(jq -r .kid "$TMP/eab-e.json") EAB_HMAC=$(jq -r .hmac "$TMP/eab-e.json") \
            run_orders named5 30 "five.team.a.test"; then
        not_ok "named: eab_default_profile_key" "the order did not end within 30 s"
        show_tail "$TMP/named5.err" 8
    elif [ "$(order_field named5 five.team.a.test 2)" = valid ] &&
         [ "$(by_name2 five.team.a.test)" = 1 ] &&
         grep -q '"order.created".*"profile":"ep".*"adapterName":"ejbca"' "$DATA_DIR/audit.log"; then
        ok "named: eab_default_profile_routes"
    else
        not_ok "named: eab_default_profile_routes" "$(order_field named5 five.team.a.test 2), at ejbca: $(by_name2 five.team.a.test)"
    fi
    if ! run_orders named4 30 "four.sp.a.test@sp" "four.mv.a.test@mv"; then
        not_ok "named: orders_complete_after_reload" "not every order ended within 30 s"
        show_tail "$TMP/named4.err" 8
    fi
    expect_order "named: order_through_added_adapter" named4 four.sp.a.test valid - ""
    expect_order "named: moved_profile_issues" named4 four.mv.a.test valid - ""
    if [ "$(by_name2 four.mv.a.test)" = 1 ] &&
       [ "$(mock_state '.by_name["four.sp.a.test"] // 0')" = 1 ]; then
        ok "named: new_orders_follow_the_reload"
    else
        not_ok "named: new_orders_follow_the_reload" "four.mv at ejbca: $(by_name2 four.mv.a.test), four.sp at step-ca: $(mock_state '.by_name["four.sp.a.test"] // 0')"
    fi
    if ! server_stop; then
        not_ok "named: proxy_stops" "$STOP_ERR"
    fi
    stop_pid "$MOCK2_PID" 5
    echo "# named adapters: $((SECONDS - t0)) s"
}

padded_pem() {
    { cat "$1"; yes "# padding past the cap of the file"; } | head -c "$2"
}

# Issue 13: trust_anchors (256 KiB) and an EJBCA chain_file (64 KiB) over
# their caps were cut silently at the cap, and the proxy started with
# what it had read. Each file here is a valid bundle padded to one byte
# over the cap, so a cut read still finds its certificates: the proxy must
# refuse to start instead, naming the file.
test_overcap_files() {
    local what file key cap t status
    for what in trust_anchors chain_file; do
        t="${what}_over_cap_refused_at_start"
        case $what in
        trust_anchors) key=trust_anchors cap=262144 file=$MOCK/ca/ca.pem ;;
        chain_file) key=chain_file cap=65536 file=$MOCK/ca/ca-intermediate.pem ;;
        esac
        padded_pem "$file" $((cap + 1)) > "$TMP/big-$what.pem"
        write_proxy_conf ejbca
        sed -i "s|^$key = .*|$key = $TMP/big-$what.pem|" "$TMP/proxy.conf"
        timeout 30 "$TARGET" -c "$TMP/proxy.conf" > "$TMP/$t.log" 2>&1
        status=$?
        if [ "$status" -eq 0 ] || [ "$status" -eq 124 ]; then
            not_ok "$t" "the proxy started (exit $status) with a $((cap + 1))-byte $what"
        elif ! grep -q "big-$what.pem.*too large" "$TMP/$t.log"; then
            not_ok "$t" "exit $status without naming the file: $(tail -n 1 "$TMP/$t.log")"
        else
            ok "$t"
        fi
        # At the cap it is read whole and the proxy starts.
        padded_pem "$file" "$cap" > "$TMP/big-$what.pem"
        if ! proxy_start; then
            not_ok "${what}_at_cap_starts" "${START_ERR:-?}"
            show_tail "$TMP/proxy.log" 5
        else
            ok "${what}_at_cap_starts"
            server_stop
        fi
    done
}

adapters_main() {
    local a
    echo "# adapters: proxy $TARGET, mock $MOCKPKI; tmp $TMP"
    export ADAPTERS_TEST_SECRET_ID
    if [ ! -x "$TARGET" ] || [ ! -x "$MOCKPKI" ]; then
        not_ok "binaries" "$TARGET or $MOCKPKI is missing"
    elif ! start_knot; then
        not_ok "dns_server_starts" "knotd did not answer"
    elif ! mock_start; then
        not_ok "mockpki_starts" "mockpki did not answer on $MOCK_URL"
        show_tail "$TMP/mock.log"
    else
        ok "mockpki_starts"
        ADAPTERS_TEST_SECRET_ID=$(cat "$MOCK/approle-secret-id")
        if [ -n "${NAMED_ONLY:-}" ]; then
            test_named_adapters
        else
            case " $ADAPTERS " in *" ejbca "*) test_overcap_files ;; esac
            for a in $ADAPTERS; do
                test_adapter "$a"
            done
            case " $ADAPTERS " in *" vault "*) test_profile_use vault ;; esac
            case " $ADAPTERS " in
            *" vault "*) case " $ADAPTERS " in *" ejbca "*) test_named_adapters ;; esac ;;
            esac
            for a in ${CRASH:-vault ejbca adcs exec rest-ejbca}; do
                case " $ADAPTERS " in *" $a "*) test_crash "$a" ;; esac
            done
        fi
        if grep -Eq 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/proxy.log"; then
            not_ok "no_sanitizer_reports" "see proxy.log"
            grep -E -m 3 -A 10 'AddressSanitizer|runtime error:' "$TMP/proxy.log" | sed 's/^/#   /'
        else
            ok "no_sanitizer_reports"
        fi
        if grep -Fq "$ADAPTERS_TEST_SECRET_ID" "$TMP/proxy.log" ||
           grep -Fq "$(cat "$MOCK/ejbca-code")" "$TMP/proxy.log" ||
           grep -Fq "$(cat "$MOCK/adcs-password")" "$TMP/proxy.log"; then
            not_ok "no_secrets_in_log" "a credential appears in proxy.log"
        else
            ok "no_secrets_in_log"
        fi
    fi
    echo "adapters: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

adapters_main
