#!/usr/bin/env bash
# Exactly once through crashes: python3-acme load (test/torture/load.py)
# against the proxy while it is stopped CYCLES times with SIGKILL and
# CYCLES times with SIGTERM at random moments and restarted on the same
# data_dir, once with the EJBCA stand-in and once with the Vault stand-in
# (test/mockpki). Then test/torture/check.py compares the client journal,
# the stand-in's own record of what it signed, the store and the audit log,
# and prints per PKI:
#   torture(ejbca): ... finalized=N valid=N pki_issued=N lost=0 duplicate=0
#                   undeclared=0 ... stuck=0 audit_mismatch=0
# EJBCA can be asked (certificate search): no duplicate is allowed. Vault
# cannot: every duplicate must have its pki.possible_duplicate event.
#
# Usage (from the repository root; `make torture` runs 100 cycles):
#   test/torture/torture.sh [PROXY_BINARY]          default build/acmeproxy
# Environment: CYCLES (5), PKIS ("ejbca vault"), WORKERS (8), SLOW (40:
# percent of orders the PKI answers after 150 ms), UP_MIN_MS / UP_MAX_MS
# (how long the proxy serves between stops: 1000..3000), KEEP_TMP=1.
# Ends with "torture: N passed, N failed".
set -u

TORTURE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$TORTURE/../.." && pwd)
# shellcheck source=../integration/run.sh
source "$ROOT/test/integration/run.sh" "${1:-build/acmeproxy}"
MOCKPKI=${MOCKPKI:-$(dirname "$TARGET")/mockpki}
CYCLES=${CYCLES:-5}
PKIS=${PKIS:-ejbca vault}
WORKERS=${WORKERS:-8}
SLOW=${SLOW:-40}
UP_MIN_MS=${UP_MIN_MS:-1000}
UP_MAX_MS=${UP_MAX_MS:-3000}
MOCK=$TMP/mock
read -r MOCK_PORT < <("$PY" "$ROOT/test/integration/free_ports.py" 1)
MOCK_URL=https://localhost:$MOCK_PORT

mock_start() {
    mkdir -p "$MOCK"
    "$MOCKPKI" -d "$MOCK" -p "$MOCK_PORT" > "$TMP/mock.log" 2>&1 &
    PIDS+=($!)
    wait_for 20 test -f "$MOCK/ready" &&
        wait_for 10 curl -sf --cacert "$MOCK/ca/ca.pem" "$MOCK_URL/health"
}

adapter_section() {   # adapter_section PKI
    local common="trust_anchors = $MOCK/ca/ca.pem
timeout_ms = 5000
lookup_grace = 3
retry_timeout = 600
poll_interval = 1
workers = 4
max_inflight = 4"
    case $1 in
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
    vault) cat <<EOF
type = vault
url = $MOCK_URL
ca_file = $MOCK/ca/ca.pem
role = acme
token = $MOCK/vault-token
$common
EOF
        ;;
    esac
}

write_conf() {   # write_conf PKI
    cat > "$TMP/proxy.conf" <<EOF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $DATA_DIR
log_level = info

[acme]
wait_ms = 500

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT
workers = 4

[adapter]
$(adapter_section "$1")
EOF
}

rand_ms() {   # rand_ms MIN MAX
    echo $(($1 + (((RANDOM << 15) | RANDOM) % ($2 - $1 + 1))))
}

admin_json() {   # admin_json OUT WORDS...
    local out=$1
    shift
    "$TARGET" -c "$TMP/proxy.conf" "$@" --json > "$out" 2>> "$TMP/admin.err"
}

# torture_one PKI: the cycles against one stand-in, then the verdict.
torture_one() {
    local pki=$1 t="torture_$1" load_pid i sig ms kills=0 terms=0 ok_restart=1
    DATA_DIR=$TMP/data-$pki
    CA_FILE=$DATA_DIR/ca.pem
    mkdir -p "$DATA_DIR"
    write_conf "$pki"
    rm -f "$TMP/stop-$pki"
    if ! proxy_start; then
        not_ok "$t" "proxy did not start: ${START_ERR:-?}"
        show_tail "$TMP/proxy.log" 20
        return
    fi
    timeout $((CYCLES * 2 * 10 + 400)) "$PY" "$TORTURE/load.py" "$DIR_URL" "$CA_FILE" \
        "$HTTP_PORT" "$TMP/journal-$pki" "$TMP/stop-$pki" "$WORKERS" "$SLOW" \
        $((CYCLES * 2 * 10 + 60)) > "$TMP/load-$pki.out" 2> "$TMP/load-$pki.err" &
    load_pid=$!
    for ((i = 1; i <= 2 * CYCLES; i++)); do
        ms=$(rand_ms "$UP_MIN_MS" "$UP_MAX_MS")
        sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
        if ((i % 2 == 1)); then
            sig=KILL
            kills=$((kills + 1))
            kill -KILL "$SERVER_PID" 2>/dev/null
            wait "$SERVER_PID" 2>/dev/null
            SERVER_PID=""
        else
            sig=TERM
            terms=$((terms + 1))
            if ! server_stop; then
                not_ok "$t" "SIGTERM cycle $i: $STOP_ERR"
                ok_restart=0
            fi
        fi
        echo "### cycle $i: SIG$sig after ${ms} ms" >> "$TMP/proxy.log"
        if ! proxy_start; then
            not_ok "$t" "restart after SIG$sig (cycle $i) failed: ${START_ERR:-?}"
            show_tail "$TMP/proxy.log" 30
            ok_restart=0
            break
        fi
    done
    touch "$TMP/stop-$pki"
    wait "$load_pid"
    tail -n 1 "$TMP/load-$pki.out" | sed 's/^/# /'
    # A clean stop drains the audit outbox; the admin commands read the
    # store the proxy left.
    server_stop || not_ok "$t" "final stop: $STOP_ERR"
    admin_json "$TMP/orders-$pki.json" orders list &&
        admin_json "$TMP/certs-$pki.json" certs list &&
        admin_json "$TMP/accounts-$pki.json" accounts list &&
        curl -sf --max-time 30 --cacert "$MOCK/ca/ca.pem" \
            "$MOCK_URL/__mock/state?certs=1" -o "$TMP/mock-$pki.json" || {
        not_ok "$t" "reading the store or the stand-in failed"
        show_tail "$TMP/admin.err" 5
        return
    }
    if "$PY" "$TORTURE/check.py" "$pki" "$pki" "$TMP/journal-$pki" \
        "$TMP/orders-$pki.json" "$TMP/certs-$pki.json" "$TMP/accounts-$pki.json" \
        "$TMP/mock-$pki.json" "$DATA_DIR/audit.log" "$kills" "$terms" \
        > "$TMP/check-$pki.out" 2> "$TMP/check-$pki.err" && [ "$ok_restart" = 1 ]; then
        cat "$TMP/check-$pki.out"
        ok "$t"
    else
        cat "$TMP/check-$pki.out"
        sed 's/^/# /' "$TMP/check-$pki.err" | head -40
        show_tail "$TMP/load-$pki.err" 10
        not_ok "$t" "see the counts above"
    fi
    if grep -Eq 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/proxy.log"; then
        not_ok "${t}_no_sanitizer_reports" "see proxy.log"
        grep -E -m 3 -A 40 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
            "$TMP/proxy.log" | sed 's/^/#   /'
    else
        ok "${t}_no_sanitizer_reports"
    fi
    mv "$TMP/proxy.log" "$TMP/proxy-$pki.log"
}

torture_main() {
    local pki
    echo "# torture: proxy $TARGET, mock $MOCKPKI, $CYCLES SIGKILL + $CYCLES SIGTERM cycles per PKI; tmp $TMP"
    if [ ! -x "$TARGET" ] || [ ! -x "$MOCKPKI" ]; then
        not_ok "binaries" "$TARGET or $MOCKPKI is missing"
    elif ! start_knot; then
        not_ok "dns_server_starts" "knotd did not answer"
    elif ! mock_start; then
        not_ok "mockpki_starts" "mockpki did not answer"
        show_tail "$TMP/mock.log"
    else
        for pki in $PKIS; do
            torture_one "$pki"
        done
    fi
    echo "torture: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

torture_main
