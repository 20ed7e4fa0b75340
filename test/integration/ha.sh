#!/usr/bin/env bash
# Two proxy instances on one PostgreSQL behind haproxy (issue 15): a
# throw-away PostgreSQL 15 (pg_lib.sh), instances "a" and "b" sharing it,
# the embedded CA's files and a nonce key, and haproxy in front of them in
# round-robin TCP mode without stickiness, on loopback. Through the
# balancer: lego, certbot, uacme and the python wire tests with no error;
# then the cross-instance negatives (ha_test.py: a nonce redeemed once
# across instances, EAB single use, finalize twice, the order rate limit
# counted by both); then a bounded acmebench load during which instance b
# is killed with SIGKILL: 0 flows lost, 0 orders stuck, every finalized
# order valid, a taking over b's jobs after their lease. Prints the
# figures. Reuses run.sh's knot DNS, ports and helpers and clients.sh's
# clients.
#
# Usage: test/integration/ha.sh [PROXY_BINARY] [ACMEBENCH_BINARY]
# (from the repository root; defaults build/san/acmeproxy and
# build/test/bench/acmebench). Ends with "ha: N passed, N failed".
set -u
HA_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HA_ACMEBENCH=${2:-build/test/bench/acmebench}
# shellcheck source=clients.sh
source "$HA_HERE/clients.sh" "${1:-build/san/acmeproxy}"
# shellcheck source=pg_lib.sh
source "$HA_HERE/pg_lib.sh"

BAL_PORT=$ACME_PORT                  # DIR_URL (run.sh) is the balancer's
read -r A_PORT B_PORT A_ADMIN B_ADMIN < <("$PY" "$HERE/free_ports.py" 4 | tr '\n' ' ')
DATA_A=$DATA_DIR                     # CA_FILE (run.sh) is a's ca.pem
DATA_B=$TMP/data-b
NONCE_KEY=$TMP/nonce.key
ORDER_LIMIT=40                       # [ratelimit] orders_per_account_hour
LEASE_MS=10000                       # a job claim's lease ([store] lease_seconds)
KILL_FLOWS=${HA_KILL_FLOWS:-60}
ORDERS_PY=$HA_HERE/../mockpki/acme_orders.py
EXEC_PKI=$HA_HERE/../mockpki/exec_pki.py
SLOW_NAME=slow-12000.take.a.test     # exec_pki.py answers after 12 s
A_PID=""
B_PID=""
HAP_PID=""

ha_cleanup() {
    local pid
    for pid in "$A_PID" "$B_PID" "$HAP_PID"; do
        [ -n "$pid" ] && stop_pid "$pid" 5 >/dev/null 2>&1
    done
    pg_stop
    cleanup
}
trap ha_cleanup EXIT

# inst_conf NAME PORT ADMIN_PORT DATA_DIR: the instance's configuration
inst_conf() {
    cat > "$TMP/$1.conf" <<CONF
[server]
listen   = 127.0.0.1:$2
base_url = https://localhost:$BAL_PORT
data_dir = $4
log_level = info

[acme]
wait_ms = 1000
nonce_key_file = $NONCE_KEY
eab_single_use = yes

[ratelimit]
orders_per_account_hour = $ORDER_LIMIT

[store]
engine = postgresql
postgresql = $PG_CONNINFO
password = $PG_PASSWORD_FILE
instance = $1
lease_seconds = $((LEASE_MS / 1000))

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[admin]
listen = 127.0.0.1:$3

[adapter]
type = local
CONF
}

# inst_start NAME: starts instance NAME (a or b) in the background; sets
# A_PID / B_PID. Returns once it answers on its own port.
inst_start() {
    local port pid i=0
    if [ "$1" = a ]; then port=$A_PORT; else port=$B_PORT; fi
    echo "### start $(date +%T)" >> "$TMP/$1.log"
    "$TARGET" -c "$TMP/$1.conf" >> "$TMP/$1.log" 2>&1 &
    pid=$!
    if [ "$1" = a ]; then A_PID=$pid; else B_PID=$pid; fi
    while [ "$i" -lt 150 ]; do
        curl -sf --max-time 2 --cacert "$CA_FILE" \
            "https://localhost:$port/directory" -o /dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

# The embedded CA's files are made once (an LMDB start of a in its data
# directory) and copied to b: every instance must have the same.
make_ca() {
    local pid
    cat > "$TMP/ca-once.conf" <<CONF
[server]
listen   = 127.0.0.1:$A_PORT
base_url = https://localhost:$A_PORT
data_dir = $DATA_A

[adapter]
type = local
CONF
    "$TARGET" -c "$TMP/ca-once.conf" > "$TMP/ca-once.log" 2>&1 &
    pid=$!
    wait_for 30 curl -sf --max-time 2 --cacert "$CA_FILE" \
        "https://localhost:$A_PORT/directory" -o /dev/null
    stop_pid "$pid" 10 || return 1
    mkdir -p "$DATA_B" || return 1
    cp -p "$DATA_A/ca.pem" "$DATA_A/ca-root.key" "$DATA_A/ca-intermediate.pem" \
        "$DATA_A/ca-intermediate.key" "$DATA_B/"
}

hap_start() {
    cat > "$TMP/haproxy.cfg" <<CONF
global
    maxconn 1024

defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch

frontend acme
    bind 127.0.0.1:$BAL_PORT
    default_backend instances

backend instances
    balance roundrobin
    default-server inter 500ms fall 2 rise 2
    server a 127.0.0.1:$A_PORT check
    server b 127.0.0.1:$B_PORT check
CONF
    haproxy -db -f "$TMP/haproxy.cfg" > "$TMP/haproxy.log" 2>&1 &
    HAP_PID=$!
    wait_for 10 directory_answers
}

test_cluster_starts() {
    local name=cluster_starts why=""
    head -c 48 /dev/urandom > "$NONCE_KEY" && chmod 600 "$NONCE_KEY"
    if ! pg_start "$TMP/pg" > "$TMP/pg_start.log" 2>&1; then
        why="PostgreSQL did not start: $(tail -n 3 "$TMP/pg_start.log" | tr '\n' ' ')"
    elif ! make_ca; then
        why="making the CA files failed"
        show_tail "$TMP/ca-once.log"
    else
        inst_conf a "$A_PORT" "$A_ADMIN" "$DATA_A"
        inst_conf b "$B_PORT" "$B_ADMIN" "$DATA_B"
        if ! inst_start a; then
            why="instance a did not start"
            show_tail "$TMP/a.log" 20
        elif ! inst_start b; then
            why="instance b did not start"
            show_tail "$TMP/b.log" 20
        elif ! hap_start; then
            why="haproxy did not answer on $BAL_PORT"
            show_tail "$TMP/haproxy.log"
        fi
    fi
    if [ -n "$why" ]; then
        not_ok "$name" "$why"
        return 1
    fi
    ok "$name"
    # SERVER_PID is what run.sh's tests stop; the cluster is stopped here.
    SERVER_PID=""
}

# An instance started on a shared store with CA files of its own is refused.
test_other_ca_refused() {
    local name=instance_with_other_ca_refused dd=$TMP/data-c rc
    mkdir -p "$dd"
    sed -e "s#^data_dir = .*#data_dir = $dd#" -e "s#^instance = .*#instance = c#" \
        -e "s#^listen   = .*#listen   = 127.0.0.1:1#" -e '/^\[admin\]/,/^listen/d' \
        "$TMP/a.conf" > "$TMP/c.conf"
    # No CA files at all: refused before anything is made.
    timeout 30 "$TARGET" -c "$TMP/c.conf" > "$TMP/c.log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || ! grep -q 'ca.pem is missing' "$TMP/c.log"; then
        not_ok "$name" "no CA files: exit $rc, $(tail -n 2 "$TMP/c.log" | tr '\n' ' ')"
        return
    fi
    # CA files of another CA: refused, the fingerprints named.
    local other=$TMP/data-other
    mkdir -p "$other"
    # (an LMDB start on a's port, taken: it makes the CA, then cannot
    # listen and exits)
    sed -e "s#^data_dir = .*#data_dir = $other#" "$TMP/ca-once.conf" > "$TMP/other-once.conf"
    timeout 30 "$TARGET" -c "$TMP/other-once.conf" > "$TMP/other-once.log" 2>&1
    if ! [ -s "$other/ca-intermediate.key" ]; then
        not_ok "$name" "could not make another CA"
        return
    fi
    cp -p "$other"/ca*.pem "$other"/ca*.key "$dd/"
    timeout 30 "$TARGET" -c "$TMP/c.conf" > "$TMP/c.log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || ! grep -q 'is not the one the other instances use' "$TMP/c.log"; then
        not_ok "$name" "other CA: exit $rc, $(tail -n 2 "$TMP/c.log" | tr '\n' ' ')"
        return
    fi
    ok "$name"
}

# Both instances answered requests through the balancer (their metrics).
test_both_served() {
    local name=balancer_spread_requests_over_both a b
    a=$(curl -sf --max-time 5 "http://127.0.0.1:$A_ADMIN/metrics" |
        awk '/^acmeproxy_http_requests_total/ {s += $NF} END {print s + 0}')
    b=$(curl -sf --max-time 5 "http://127.0.0.1:$B_ADMIN/metrics" |
        awk '/^acmeproxy_http_requests_total/ {s += $NF} END {print s + 0}')
    echo "# requests answered: a $a, b $b"
    if [ "${a%.*}" -gt 20 ] && [ "${b%.*}" -gt 20 ]; then
        ok "$name"
    else
        not_ok "$name" "requests a=$a b=$b"
    fi
}

test_ha_wire() {
    local line out=$TMP/ha_test.log eab
    if ! eab=$("$TARGET" -c "$TMP/a.conf" eab add --label ha --json 2> "$TMP/eab.err"); then
        not_ok eab_add_on_shared_store "$(cat "$TMP/eab.err")"
        return
    fi
    eab=$(jq -c '{kid: .kid, hmac: .hmac}' <<<"$eab")
    timeout 180 "$PY" "$HERE/ha_test.py" "$DIR_URL" "$CA_FILE" "$HTTP_PORT" \
        "https://localhost:$A_PORT" "https://localhost:$B_PORT" "$eab" \
        "$ORDER_LIMIT" > "$out" 2>&1
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "cross: ${line#ok - }" ;;
            "not ok - "*) line=${line#not ok - }; not_ok "cross: ${line%%: *}" "${line#*: }" ;;
            *) echo "# $line" ;;
        esac
    done < "$out"
    if grep -Eq '^ha: [0-9]+ passed, [0-9]+ failed$' "$out"; then
        ok "ha_test_completed"
    else
        not_ok "ha_test_completed" "ha_test.py ended without its summary line"
    fi
}

# The orders of the load (names below .bench.test) by status, from the
# store: "valid=N processing=N ready=N pending=N invalid=N".
bench_orders() {
    "$TARGET" -c "$TMP/a.conf" orders list --json 2> "$TMP/orders.err" |
        jq -r '[.[] | select(any(.identifiers[]; .value | endswith(".bench.test")))] |
               group_by(.status) | map("\(.[0].status)=\(length)") | join(" ")'
}

count_of() {   # count_of STATUS "LINE": N of STATUS=N in LINE, else 0
    local v
    v=$(tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p")
    echo "${v:-0}"
}

test_kill_under_load() {
    local out=$TMP/kill-bench.out line n_ok n_failed rc t0 t_kill t_end
    local before after processing ready valid pending invalid i resent
    if [ ! -x "$HA_ACMEBENCH" ]; then
        not_ok kill_b_under_load "$HA_ACMEBENCH is not built (make bench-tools)"
        return
    fi
    t0=$(date +%s.%N)
    timeout 150 "$HA_ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" \
        --http-port "$HTTP_PORT" --flows "$KILL_FLOWS" --duration 100 \
        --concurrency 6 --accounts 6 --keys es256 --names 1-2 \
        --transport-retries 10 --flow-timeout 90 --label ha-kill > "$out" 2>&1 &
    local bench=$!
    # Kill b once the load is well under way (a third of the flows done,
    # or 20 s at most).
    for i in $(seq 1 100); do
        before=$(bench_orders)
        [ "$(count_of valid "$before")" -ge $((KILL_FLOWS / 3)) ] && break
        sleep 0.2
    done
    t_kill=$(date +%s.%N)
    kill -KILL "$B_PID" 2>/dev/null
    wait "$B_PID" 2>/dev/null
    B_PID=""
    echo "# SIGKILL b at $(awk -v a="$t0" -v b="$t_kill" 'BEGIN {printf "%.1f", b - a}') s, orders then: $before"
    wait "$bench"
    rc=$?
    t_end=$(date +%s.%N)
    sed 's/^/#   /' "$out" | grep -E 'RESULT|errors|^#   +[0-9]|retries|flows' | head -n 20
    line=$(grep '^RESULT ' "$out" | tail -n 1)
    n_ok=$(sed -nE 's/.* ok=([0-9]+).*/\1/p' <<<"$line")
    n_failed=$(sed -nE 's/.* failed=([0-9]+).*/\1/p' <<<"$line")
    resent=$(sed -nE 's/.* resent=([0-9]+).*/\1/p' <<<"$line")
    echo "# load: ${n_ok:-?} of $KILL_FLOWS flows ok, ${n_failed:-?} failed, ${resent:-?} unanswered requests sent again; last flow $(awk -v a="$t_kill" -v b="$t_end" 'BEGIN {printf "%.1f", b - a}') s after the kill"
    if [ "$rc" -eq 0 ] && [ "${n_ok:-0}" = "$KILL_FLOWS" ] && [ "${n_failed:-1}" = 0 ]; then
        ok kill_b_under_load_no_flow_lost
    else
        not_ok kill_b_under_load_no_flow_lost "acmebench exit $rc: ${n_ok:-?} ok, ${n_failed:-?} failed"
    fi
    # Every order that was finalized ends valid on a alone (its jobs and
    # those b held, after their lease); none stays processing.
    for i in $(seq 1 $(( (LEASE_MS / 1000 + 30) * 2 ))); do
        after=$(bench_orders)
        [ "$(count_of processing "$after")" = 0 ] && break
        sleep 0.5
    done
    processing=$(count_of processing "$after")
    valid=$(count_of valid "$after")
    ready=$(count_of ready "$after")
    pending=$(count_of pending "$after")
    invalid=$(count_of invalid "$after")
    echo "# orders of the load at the end: valid $valid, processing $processing, ready $ready, pending $pending (newOrder answers lost with b, sent again), invalid $invalid"
    if [ "$processing" = 0 ] && [ "$invalid" = 0 ] && [ "$ready" = 0 ] &&
       [ "$valid" -ge "$KILL_FLOWS" ]; then
        ok kill_b_every_finalized_order_valid
    else
        not_ok kill_b_every_finalized_order_valid "$after"
    fi
    echo "# jobs of b that a took over after their lease: $(grep -c 'lease of its last runner ended: taken over' "$TMP/a.log")"
    # b comes back on the same store and serves again.
    if inst_start b; then
        ok kill_b_restarts_and_serves
    else
        not_ok kill_b_restarts_and_serves "b did not start again"
        show_tail "$TMP/b.log" 20
    fi
}

# Both instances switch (SIGHUP) to the exec adapter with
# test/mockpki/exec_pki.py, which signs with the embedded CA's
# intermediate, takes as long as the name says (slow-MS) and keeps every
# order's certificate for "lookup". lookup_grace (16 s) is longer than
# the slow order takes (12 s), as it must be in production (its default,
# timeout_ms + 2 s): a "not found" earlier than that is not believed, so a
# take-over after a short lease waits for the dead instance's call.
use_exec_adapter() {
    local inst
    mkdir -p "$TMP/execpki/ca"
    cp -p "$DATA_A/ca-intermediate.pem" "$DATA_A/ca-intermediate.key" "$TMP/execpki/ca/"
    for inst in a b; do
        sed -i '/^\[adapter\]$/,$d' "$TMP/$inst.conf"
        cat >> "$TMP/$inst.conf" <<CONF
[adapter]
type = exec
command = $EXEC_PKI
args = $TMP/execpki
lookup = yes
timeout_ms = 30000
trust_anchors = $CA_FILE
poll_interval = 1
probe_interval = 2
lookup_grace = 16
retry_timeout = 120
workers = 4
CONF
    done
    kill -HUP "$A_PID" "$B_PID"
    wait_for 20 grep -q 'reload: .* applied .*adapter exec' "$TMP/a.log" &&
        wait_for 20 grep -q 'reload: .* applied .*adapter exec' "$TMP/b.log"
}

# A job held by an instance that dies is taken over by the other when its
# lease ends, and the PKI is asked (lookup), not given the order twice: an
# order whose issuance takes 12 s at the PKI is finalized; the instance
# whose worker runs it is killed while it waits for the PKI; the other
# instance finishes the order after the lease, with one certificate.
test_takeover_after_lease() {
    local t=kill_job_holder_other_takes_over_after_lease helper holder="" who pid i
    local t_kill t_valid status got
    if ! use_exec_adapter; then
        not_ok "$t" "the instances did not reload with the exec adapter"
        return
    fi
    rm -rf "$TMP/take.state"
    timeout 200 "$PY" "$ORDERS_PY" "$DIR_URL" "$CA_FILE" "$HTTP_PORT" \
        "$TMP/take.state" 150 "$SLOW_NAME" > "$TMP/take.out" 2> "$TMP/take.err" &
    helper=$!
    if ! wait_for 60 test -f "$TMP/take.state/finalized"; then
        not_ok "$t" "the order was not finalized"
        show_tail "$TMP/take.err"
        wait "$helper"
        return
    fi
    # The instance whose worker called the PKI (exec_pki.py is its child).
    for i in $(seq 1 50); do
        for who in a b; do
            if [ "$who" = a ]; then pid=$A_PID; else pid=$B_PID; fi
            pgrep -P "$pid" -f exec_pki > /dev/null 2>&1 && holder=$who
        done
        [ -n "$holder" ] && break
        sleep 0.1
    done
    if [ -z "$holder" ]; then
        not_ok "$t" "no instance ran the PKI call"
        wait "$helper"
        return
    fi
    if [ "$holder" = a ]; then pid=$A_PID; A_PID=""; else pid=$B_PID; B_PID=""; fi
    t_kill=$(date +%s.%N)
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    wait "$helper"
    t_valid=$(date +%s.%N)
    status=$(awk -F'\t' -v n="$SLOW_NAME" '$1 == n {print $2}' "$TMP/take.out")
    got=$(grep -cx "$SLOW_NAME" "$TMP/execpki/exec-issued.log" 2>/dev/null)
    echo "# killed $holder while its worker waited for the PKI; the order was valid $(awk -v a="$t_kill" -v b="$t_valid" 'BEGIN {printf "%.1f", b - a}') s later (lease $((LEASE_MS / 1000)) s); the PKI signed ${got:-0} certificate(s) for it"
    if [ "$status" = valid ] && [ "$got" = 1 ]; then
        ok "$t"
    else
        not_ok "$t" "order ended '${status:-?}', the PKI signed ${got:-0} certificates, want valid and 1"
        show_tail "$TMP/take.err"
    fi
    grep -h 'taken over' "$TMP/a.log" "$TMP/b.log" | tail -n 1 | sed 's/^/#   /'
    if inst_start "$holder"; then
        ok kill_job_holder_restarts
    else
        not_ok kill_job_holder_restarts "$holder did not start again"
        show_tail "$TMP/$holder.log" 20
    fi
}

# Stop both (SIGTERM, exit 0, no sanitizer report in their logs).
test_cluster_stop_clean() {
    local inst pid rc
    for inst in a b; do
        if [ "$inst" = a ]; then pid=$A_PID; else pid=$B_PID; fi
        [ -n "$pid" ] || { not_ok "${inst}_exit_clean" "not running"; continue; }
        stop_pid "$pid" 10
        rc=$?
        if [ "$inst" = a ]; then A_PID=""; else B_PID=""; fi
        if [ "$rc" -ne 0 ]; then
            not_ok "${inst}_exit_clean" "exit status $rc"
            show_tail "$TMP/$inst.log"
        elif grep -Eq 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/$inst.log"; then
            not_ok "${inst}_exit_clean" "sanitizer report in $inst.log"
            grep -E -m 5 -A 12 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/$inst.log" | sed 's/^/#   /'
        else
            ok "${inst}_exit_clean"
        fi
    done
}

ha_main() {
    local t0=$SECONDS
    echo "# ha suite: $TARGET; tmp $TMP; balancer $BAL_PORT, a $A_PORT, b $B_PORT"
    if [ ! -x "$TARGET" ]; then
        not_ok "proxy_binary" "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok "dns_server_starts" "knotd did not answer"
    elif test_cluster_starts; then
        test_lego_issue
        test_lego_renew lego_renew lego-renew
        test_lego_revoke
        test_certbot
        if web_start; then
            test_uacme
            web_stop
        else
            not_ok http01_web_server "python http.server did not start"
        fi
        test_wire
        test_ha_wire
        test_both_served
        test_other_ca_refused
        test_kill_under_load
        test_takeover_after_lease
        test_cluster_stop_clean
    fi
    if [ "$FAILED" -gt 0 ]; then
        for f in a b; do
            [ -f "$TMP/$f.log" ] && { echo "# --- $f.log"; show_tail "$TMP/$f.log" 30; }
        done
    fi
    echo "# ha suite took $((SECONDS - t0)) s"
    echo "ha: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

ha_main
