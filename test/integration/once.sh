#!/usr/bin/env bash
# Exactly once (issue 12) against the stand-in PKIs of test/mockpki:
#   * SIGKILL while a submission is at the PKI, per adapter: EJBCA and the
#     generic REST adapter find it by their certificate search, AD CS by the
#     request id noted before the fetch, exec by its lookup action: one
#     certificate, adopted. Vault and AD CS before an id cannot be asked:
#     a second certificate, with its pki.possible_duplicate event and a
#     `reconcile` entry naming the kept serial;
#   * an outage: orders waiting while the PKI answers 503 are all valid
#     within 10 s of its recovery (health probes, then retried at once);
#   * retry_timeout: no try starts after it, the order is invalid at it;
#   * a certificate refused after issuance is revoked and audited;
#   * crash loops (the test-only build/.../test/acmeproxy-hooks): a
#     validation or issuance that aborts the process is given up after 3
#     faults (challenge or order invalid, serverInternal, job.abandoned) and
#     the proxy keeps serving;
#   * limits counted in the write transaction: concurrent finalizes past
#     inflight_per_account are refused; concurrent key changes give the
#     loser 409, never 500;
#   * the audit log is gap-free (seq 1..N) after all of it.
# Usage: test/integration/once.sh [PROXY_BINARY]      default build/acmeproxy
# Ends with "once: N passed, N failed".
set -u

ONCE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$ONCE/../.." && pwd)
# shellcheck source=run.sh
source "$ONCE/run.sh" "${1:-build/acmeproxy}"
MOCKPKI=${MOCKPKI:-$(dirname "$TARGET")/mockpki}
HOOKS=${HOOKS:-$(dirname "$TARGET")/test/acmeproxy-hooks}
ORDERS=$ROOT/test/mockpki/acme_orders.py
EXEC_PKI=$ROOT/test/mockpki/exec_pki.py
DRIVER=$ONCE/once_test.py
MOCK=$TMP/mock
read -r MOCK_PORT < <("$PY" "$ONCE/free_ports.py" 1)
MOCK_URL=https://localhost:$MOCK_PORT
ADMIN_BIN=$TARGET

mock_start() {
    mkdir -p "$MOCK"
    "$MOCKPKI" -d "$MOCK" -p "$MOCK_PORT" > "$TMP/mock.log" 2>&1 &
    PIDS+=($!)
    wait_for 20 test -f "$MOCK/ready" &&
        wait_for 10 curl -sf --cacert "$MOCK/ca/ca.pem" "$MOCK_URL/health"
}

mock_state() {   # mock_state JQ_FILTER
    curl -sf --max-time 10 --cacert "$MOCK/ca/ca.pem" "$MOCK_URL/__mock/state" | jq -r "$1"
}

mock_switch() {   # mock_switch outage|hold 0|1
    curl -sf --max-time 5 --cacert "$MOCK/ca/ca.pem" -X POST \
        "$MOCK_URL/__mock/$1?on=$2" > /dev/null
}

adapter_section() {   # adapter_section ADAPTER [EXTRA LINES]
    local common="trust_anchors = $MOCK/ca/ca.pem
poll_interval = 1
probe_interval = 2
lookup_grace = ${GRACE:-6}
retry_timeout = ${RETRY_TIMEOUT:-120}
workers = 4
${2:-}"
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
timeout_ms = 20000
$common
EOF
        ;;
    vault) cat <<EOF
type = vault
url = $MOCK_URL
ca_file = $MOCK/ca/ca.pem
role = acme
token = $MOCK/vault-token
timeout_ms = 20000
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
timeout_ms = 20000
$common
EOF
        ;;
    exec) cat <<EOF
type = exec
command = $EXEC_PKI
args = $MOCK
lookup = yes
timeout_ms = 20000
$common
EOF
        ;;
    rest-ejbca)
        sed -e "s|@URL@|$MOCK_URL|g" -e "s|@MOCK@|$MOCK|g" \
            "$ROOT/test/mockpki/cases/rest-ejbca.json" > "$TMP/rest-ejbca.json"
        printf 'type = rest\nconfig = %s\n%s\n' "$TMP/rest-ejbca.json" "$common"
        ;;
    esac
}

# write_conf ADAPTER [EXTRA ADAPTER LINES] [EXTRA SECTIONS]
write_conf() {
    cat > "$TMP/proxy.conf" <<EOF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $DATA_DIR
log_level = debug

[acme]
wait_ms = ${WAIT_MS:-1000}

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

${3:-}

[adapter]
$(adapter_section "$1" "${2:-}")
EOF
}

run_orders() {   # run_orders LOG TIMEOUT NAME...
    local log=$1 timeout=$2
    shift 2
    rm -rf "$TMP/$log.state"
    timeout $((timeout + 60)) "$PY" "$ORDERS" "$DIR_URL" "$CA_FILE" "$HTTP_PORT" \
        "$TMP/$log.state" "$timeout" "$@" > "$TMP/$log.out" 2> "$TMP/$log.err"
}

order_field() {   # order_field LOG NAME COLUMN
    awk -F'\t' -v n="$2" -v c="$3" '$1 == n {print $c}' "$TMP/$1.out"
}

admin() {   # admin WORDS... (JSON on stdout)
    "$ADMIN_BIN" -c "$TMP/proxy.conf" "$@" --json 2>> "$TMP/admin.err"
}

# The order id of the order for NAME (admin orders list).
order_of() {
    admin orders list | jq -r --arg n "$1" \
        '[.[] | select(.identifiers[0].value == $n)][0].id // empty'
}

audit_count() {   # audit_count EVENT ORDER
    grep -F "\"event\":\"$1\"" "$DATA_DIR/audit.log" 2>/dev/null |
        grep -cF "\"order\":\"$2\""
}

# ---------------------------------------------------------------- in flight

# inflight_kill ADAPTER NAME WANT_CERTS WANT_DUP
# A submission (the PKI answers after 4 s) is in flight when the proxy is
# killed; after the restart the order must be valid with WANT_CERTS
# certificates at the PKI and WANT_DUP pki.possible_duplicate events.
inflight_kill() {
    local a=$1 name=$2 want=$3 dup=$4 t="inflight_kill_$1${5:-}" helper got oid n serial kept
    write_conf "$a"
    if ! proxy_start; then
        not_ok "$t" "proxy did not start: ${START_ERR:-?}"
        return
    fi
    ( run_orders "if-$a$5" 90 "$name" ) &
    helper=$!
    if ! wait_for 60 test -f "$TMP/if-$a$5.state/finalized"; then
        not_ok "$t" "the order was not finalized"
        wait "$helper"
        server_stop
        return
    fi
    sleep 1
    kill -KILL "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
    if ! proxy_start; then
        not_ok "$t" "restart failed: ${START_ERR:-?}"
        wait "$helper"
        return
    fi
    wait "$helper"
    server_stop
    oid=$(order_of "$name")
    if [ "$a" = exec ]; then
        got=$(grep -cx "$name" "$MOCK/exec-issued.log")
    else
        got=$(mock_state ".by_name[\"$name\"] // 0")
    fi
    n=$(audit_count pki.possible_duplicate "$oid")
    if [ "$(order_field "if-$a$5" "$name" 2)" != valid ]; then
        not_ok "$t" "order $name ended '$(order_field "if-$a$5" "$name" 2)' ($(order_field "if-$a$5" "$name" 6))"
        show_tail "$TMP/proxy.log" 25
    elif [ "$got" != "$want" ]; then
        not_ok "$t" "the PKI signed $got certificates for $name, want $want"
        show_tail "$TMP/proxy.log" 25
    elif [ "$n" != "$dup" ]; then
        not_ok "$t" "$n pki.possible_duplicate events for order $oid, want $dup"
    else
        ok "$t"
    fi
    if [ "$dup" = 1 ] && [ -n "$oid" ]; then
        serial=$(admin orders show "$oid" | jq -r '.cert // empty')
        serial=$(admin certs show "$serial" | jq -r '.serial // empty')
        kept=$(admin reconcile | jq -r --arg o "$oid" '.[] | select(.order == $o) | .keptSerial')
        if [ -n "$serial" ] && [ "$kept" = "$serial" ]; then
            ok "reconcile_lists_$a$5"
        else
            not_ok "reconcile_lists_$a$5" "reconcile names kept serial '$kept', the order has '$serial'"
        fi
        if "$ADMIN_BIN" -c "$TMP/proxy.conf" reconcile done "$oid" > /dev/null 2>&1 &&
           [ -z "$(admin reconcile | jq -r --arg o "$oid" '.[] | select(.order == $o) | .order')" ] &&
           [ "$(audit_count pki.duplicate_resolved "$oid")" = 1 ]; then
            ok "reconcile_done_$a$5"
        else
            not_ok "reconcile_done_$a$5" "the entry stayed or no pki.duplicate_resolved event"
        fi
    fi
}

# ---------------------------------------------------------------- outage

test_outage() {
    local t=outage_drains_fast names=() i t_off t_done drain helper
    WAIT_MS=0 write_conf ejbca
    if ! proxy_start; then
        not_ok "$t" "proxy did not start"
        return
    fi
    for i in $(seq 1 20); do names+=("od$i.a.test"); done
    mock_switch outage 1
    ( run_orders outage 150 "${names[@]}" ) &
    helper=$!
    if ! wait_for 90 test -f "$TMP/outage.state/finalized"; then
        not_ok "$t" "the orders were not finalized"
        mock_switch outage 0
        wait "$helper"
        server_stop
        return
    fi
    sleep 25       # long enough for the backoff to grow past 16 s
    t_off=$(date +%s%N)
    mock_switch outage 0
    wait "$helper"
    t_done=$(date +%s%N)
    drain=$(((t_done - t_off) / 1000000))
    server_stop
    for i in "${names[@]}"; do
        if [ "$(order_field outage "$i" 2)" != valid ]; then
            not_ok "$t" "order $i ended '$(order_field outage "$i" 2)'"
            return
        fi
    done
    echo "# outage: 20 orders waited ~25 s through a 503 outage; all valid ${drain} ms after the PKI recovered"
    if [ "$drain" -le 10000 ]; then
        ok "$t"
    else
        not_ok "$t" "the last order was valid ${drain} ms after recovery (want <= 10000)"
        grep -E "healthy again|failing|probing" "$TMP/proxy.log" | tail -5 | sed 's/^/#   /'
    fi
}

# ---------------------------------------------------------------- retry_timeout

test_retry_timeout() {
    local t=retry_timeout_is_a_deadline name=e503.rt.a.test first last fin
    RETRY_TIMEOUT=8 write_conf ejbca
    if ! proxy_start; then
        not_ok "$t" "proxy did not start"
        return
    fi
    run_orders rt 60 "$name"
    fin=$(date +%s%3N)
    server_stop
    first=$(mock_state ".tries[\"$name\"] | min")
    last=$(mock_state ".tries[\"$name\"] | max")
    if [ "$(order_field rt "$name" 2)" != invalid ]; then
        not_ok "$t" "order ended '$(order_field rt "$name" 2)'"
    elif [ $((last - first)) -gt 8000 ]; then
        not_ok "$t" "a try started $((last - first)) ms after the first (retry_timeout 8 s)"
    elif [ $((fin - first)) -gt 11000 ]; then
        not_ok "$t" "the order became invalid only $((fin - first)) ms after the first try"
    else
        echo "# retry_timeout 8 s: $(mock_state ".tries[\"$name\"] | length") tries within $((last - first)) ms, invalid after $((fin - first)) ms"
        ok "$t"
    fi
}

# ---------------------------------------------------------------- refused

test_refused_revoked() {
    local t=refused_certificate_revoked name=wrongsan.rf.a.test before after oid line
    write_conf ejbca
    proxy_start || { not_ok "$t" "proxy did not start"; return; }
    before=$(mock_state .revoked)
    run_orders rf 40 "$name"
    server_stop
    after=$(mock_state .revoked)
    oid=$(order_of "$name")
    line=$(grep -F '"event":"cert.refused"' "$DATA_DIR/audit.log" | grep -F "\"order\":\"$oid\"")
    if [ "$(order_field rf "$name" 2)" != invalid ]; then
        not_ok "$t" "order ended '$(order_field rf "$name" 2)'"
    elif [ "$after" -ne $((before + 1)) ]; then
        not_ok "$t" "the PKI revoked $((after - before)) certificates"
    elif [ -z "$line" ] || ! echo "$line" | jq -e '.revoked == true and (.serial | length > 0)' > /dev/null 2>&1; then
        not_ok "$t" "no cert.refused event with revoked:true and the serial: '$line'"
    elif [ "$(admin certs list | jq -r --arg o "$oid" '[.[] | select(.order == $o)][0].status')" != refused ]; then
        not_ok "$t" "the store has no refused certificate for the order"
    else
        ok "$t"
    fi
}

# ---------------------------------------------------------------- crash loops

# crash_loop KIND LABEL: the test build aborts on the job; after 3 faults
# the job is given up and the proxy serves on.
crash_loop() {
    local kind=$1 label=$2 t="crash_loop_$1" name="$2.cl.a.test" driver deaths=0 i alive out
    cat > "$TMP/proxy.conf" <<EOF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $DATA_DIR
log_level = debug

[acme]
wait_ms = 200

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
type = local
EOF
    export ACMEPROXY_TEST_CRASH="$kind:$label"
    "$PY" "$DRIVER" crashloop "$DIR_URL" "$CA_FILE" "$HTTP_PORT" "$name" "$kind" 90 \
        > "$TMP/cl-$kind.out" 2> "$TMP/cl-$kind.err" &
    driver=$!
    for i in $(seq 1 8); do
        echo "### crash-loop start $i" >> "$TMP/proxy.log"
        "$HOOKS" -c "$TMP/proxy.conf" >> "$TMP/proxy.log" 2>&1 &
        SERVER_PID=$!
        alive=0
        # Dead again within 15 s, or up and serving for 4 s in a row.
        for _ in $(seq 1 75); do
            sleep 0.2
            if ! kill -0 "$SERVER_PID" 2>/dev/null; then
                break
            fi
            directory_answers && alive=$((alive + 1))
            [ "$alive" -ge 20 ] && break
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            break
        fi
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
        deaths=$((deaths + 1))
    done
    wait "$driver"
    unset ACMEPROXY_TEST_CRASH
    out=$(cat "$TMP/cl-$kind.out")
    if [ "$deaths" -ne 3 ]; then
        not_ok "$t" "the proxy died $deaths times, want 3 then serving"
        show_tail "$TMP/proxy.log" 20
    elif [ -z "$out" ] || ! echo "$out" | jq -e '.status == "invalid" and (.error.type | endswith("serverInternal")) and (.error.detail | test("given up"))' > /dev/null 2>&1; then
        not_ok "$t" "the $kind ended as '$out'"
        show_tail "$TMP/cl-$kind.err" 5
    elif ! grep -F '"event":"job.abandoned"' "$DATA_DIR/audit.log" | grep -qF "\"kind\":\"$kind\""; then
        not_ok "$t" "no job.abandoned event for the $kind"
    elif ! run_orders "after-cl-$kind" 40 "plain$kind.cl.a.test" ||
         [ "$(order_field "after-cl-$kind" "plain$kind.cl.a.test" 2)" != valid ]; then
        not_ok "$t" "the proxy does not issue after giving the job up"
    else
        ok "$t"
    fi
    server_stop
}

# ---------------------------------------------------------------- limits

test_inflight_limit() {
    local t=inflight_limit_counted_in_txn out
    write_conf ejbca "" "[ratelimit]
inflight_per_account = 1"
    proxy_start || { not_ok "$t" "proxy did not start"; return; }
    mock_switch hold 1      # accepted orders stay processing
    out=$("$PY" "$DRIVER" inflight "$DIR_URL" "$CA_FILE" "$HTTP_PORT" 6 hold.if 2> "$TMP/if.err")
    mock_switch hold 0
    if [ -n "$out" ] && echo "$out" | jq -e '.accepted == 1 and .limited == 5' > /dev/null 2>&1; then
        ok "$t"
    else
        not_ok "$t" "6 concurrent finalizes with inflight_per_account 1: $out"
        show_tail "$TMP/if.err" 5
    fi
    server_stop
}

test_keychange() {
    local t=concurrent_key_change_409 out
    write_conf local
    proxy_start || { not_ok "$t" "proxy did not start"; return; }
    out=$("$PY" "$DRIVER" keychange "$DIR_URL" "$CA_FILE" 30 2> "$TMP/kc.err")
    if [ -n "$out" ] && echo "$out" | jq -e '.server_error == 0 and .other == 0 and .ok == 30 and .rounds_without_one_winner == 0' > /dev/null 2>&1; then
        echo "# 30 rounds of two concurrent key changes: $out"
        ok "$t"
    else
        not_ok "$t" "$out"
        show_tail "$TMP/kc.err" 5
    fi
    server_stop
}

# ---------------------------------------------------------------- audit

test_audit_gapless() {
    local t=audit_seq_gapless
    if "$PY" - "$DATA_DIR/audit.log" <<'PY'
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
assert seqs == list(range(1, len(seqs) + 1)), "seq not 1..N"
print(f"# audit: {len(seqs)} lines, seq 1..{len(seqs)}")
PY
    then ok "$t"; else not_ok "$t" "the audit log is not numbered 1..N"; fi
}

want() {   # want NAME: run it (ONLY="a b" runs a subset)
    [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]
}

once_main() {
    echo "# once: proxy $TARGET, hooks $HOOKS, mock $MOCKPKI; tmp $TMP"
    if [ ! -x "$TARGET" ] || [ ! -x "$MOCKPKI" ] || [ ! -x "$HOOKS" ]; then
        not_ok "binaries" "$TARGET, $HOOKS or $MOCKPKI is missing"
    elif ! start_knot; then
        not_ok "dns_server_starts" "knotd did not answer"
    elif ! mock_start; then
        not_ok "mockpki_starts" "mockpki did not answer"
        show_tail "$TMP/mock.log"
    else
        want ejbca && inflight_kill ejbca slow-4000.io-ejbca.a.test 1 0 ""
        want rest && inflight_kill rest-ejbca slow-4000.io-rest.a.test 1 0 ""
        want exec && inflight_kill exec slow-4000.io-exec.a.test 1 0 ""
        want adcs && inflight_kill adcs slowfetch-4000.io-adcs.a.test 1 0 "_noted_id"
        want adcs && inflight_kill adcs slow-4000.io2-adcs.a.test 2 1 "_no_id"
        want vault && inflight_kill vault slow-4000.io-vault.a.test 2 1 ""
        want outage && test_outage
        want retry && test_retry_timeout
        want refused && test_refused_revoked
        want limits && test_inflight_limit
        want keychange && test_keychange
        want crashloop && crash_loop validate crashv
        want crashloop && crash_loop issue crashi
        test_audit_gapless
        if grep -Eq 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/proxy.log"; then
            not_ok "no_sanitizer_reports" "see proxy.log"
            grep -E -m 3 -A 12 'AddressSanitizer|runtime error:' "$TMP/proxy.log" | sed 's/^/#   /'
        else
            ok "no_sanitizer_reports"
        fi
    fi
    echo "once: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

once_main
