#!/usr/bin/env bash
# Where the proxy's CPU goes during ACME flows: perf attached to the proxy
# while acmebench runs flows, then one table: for each item of a flow's work,
# its inclusive share of the proxy's sampled CPU and what that is in ms per
# flow (share x the server CPU per flow of the same run; perf's own overhead
# inflates that figure, so compare shares between builds, not the ms with
# make bench). Not part of make bench or make test: run it by hand, from
# the repository root, after `make all bench-tools`:
#   test/bench/profile.sh [FLOWS]            (default 600; mixed load as make
#                                             bench: 12 in flight, ES256 and
#                                             RS256 accounts, 1-3 names)
#   PROFILE_KEYS=es256 test/bench/profile.sh (one key type; also rs256)
#   PROFILE_OUT=DIR                           keep perf.data and the reports
# Needs perf (Debian package linux-perf) and root or
# kernel.perf_event_paranoid <= 1.
set -u
cd "$(dirname "$0")/../.."

P_FLOWS=${1:-600}
# The helpers of make bench (which sources the integration suite's).
# shellcheck source=run.sh
source test/bench/run.sh

# The table's rows: label|symbols (inclusive share; the first symbol found
# counts, so list one function per item of work).
ROWS='LMDB commit, with its fsyncs|store_commit
JWS: parse and verify a request|jws_verify
  of which the signature check|crypto_verify
  of which the account record and key|load_kid_account
DER decoding in OpenSSL (certificates, CSRs, keys)|ASN1_item_d2i_ex
http-01 fetch, resolution included|run_http01
  of which name resolution|resolve_host
writing responses (headers, body, TLS records)|send_response
TLS record writes|mbedtls_ssl_write
TLS record reads|mbedtls_ssl_read
TLS handshakes|mbedtls_ssl_handshake
signing the leaf (embedded CA)|ca_issue
issuance checks of the leaf|issue_cert_checks
JSON parsing (cJSON)|cJSON_ParseWithLengthOpts
JSON printing (json_print: records, audit lines)|json_print
JSON printing into a buffer (json_print_into)|json_print_into
store reads of JSON records|store_get_json
the connection gate thread (reads, handshakes, hand-off)|gate_main'

profile_table() {   # profile_table PERF_DATA CPU_MS_PER_FLOW
    local data=$1 cpu=$2 children self
    children=$(perf report -i "$data" --stdio --children --sort sym -g none \
        --percent-limit 0.1 2>/dev/null | grep -E '^ +[0-9]')
    self=$(perf report -i "$data" --stdio --no-children --sort dso,sym -g none \
        2>/dev/null | grep -E '^ +[0-9]')
    printf '| %-58s | %7s | %9s |\n' "work (inclusive)" "share" "ms/flow"
    printf '| %-58s | %7s | %9s |\n' "---" "---:" "---:"
    while IFS='|' read -r label sym; do
        local pct
        pct=$(awk -v s="$sym" '$NF == s || ($(NF-1) == s && $NF == "(inlined)") {
                  sub("%", "", $1); print $1; exit }' <<< "$children")
        [ -z "$pct" ] && pct=0
        printf '| %-58s | %6.1f%% | %9.2f |\n' "$label" "$pct" \
            "$(awk -v p="$pct" -v c="$cpu" 'BEGIN {print p * c / 100}')"
    done <<< "$ROWS"
    # Self time of groups that no single function stands for.
    local kern mall
    kern=$(awk '/\[kernel.kallsyms\]/ {sub("%", "", $1); s += $1} END {printf "%.1f", s}' <<< "$self")
    mall=$(awk '/libc.so/ && /(malloc|free|_int_|cfree|calloc|realloc|unlink_chunk|tcache)/ {
                sub("%", "", $1); s += $1} END {printf "%.1f", s}' <<< "$self")
    printf '| %-58s | %6.1f%% | %9.2f |\n' "kernel, self (syscalls, fsync, futex, scheduling)" "$kern" \
        "$(awk -v p="$kern" -v c="$cpu" 'BEGIN {print p * c / 100}')"
    printf '| %-58s | %6.1f%% | %9.2f |\n' "malloc and free, self" "$mall" \
        "$(awk -v p="$mall" -v c="$cpu" 'BEGIN {print p * c / 100}')"
    echo "--- top 15 by self time"
    head -15 <<< "$self" | sed 's/^/  /'
}

profile_one() {   # profile_one KEYS NAMES
    local keys=$1 names=$2 out data line cpu
    out=${PROFILE_OUT:-$TMP}
    mkdir -p "$out"
    data=$out/perf-${keys//,/-}.data
    bench_proxy_start "$TMP/prof-${keys//,/-}" || { echo "profile: proxy did not start"; return 1; }
    perf record -F 1999 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$data" \
        > "$TMP/perf-record.log" 2>&1 &
    local perf_pid=$!
    sleep 1
    line=$("$ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" --http-port "$HTTP_PORT" \
        --concurrency 12 --keys "$keys" --names "$names" --flows "$P_FLOWS" \
        --duration 120 --pid "$SERVER_PID" --label "profile" | tee "$TMP/prof-bench.out" |
        grep -E '^RESULT ')
    grep -E '^ *(flows|server|client)' "$TMP/prof-bench.out"
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null
    bench_stop
    cpu=$(kv "$line" srv_cpu_ms)
    echo "--- $keys accounts, $names names per order, $P_FLOWS flows: the proxy's CPU (perf, inclusive)"
    profile_table "$data" "${cpu:-0}"
}

profile_main() {
    if ! perf stat -e instructions true >/dev/null 2>&1; then
        echo "profile: perf cannot count here; use valgrind --tool=callgrind on the proxy instead"
        return 2
    fi
    start_knot || { echo "profile: knotd did not start"; return 2; }
    local k
    for k in ${PROFILE_KEYS:-es256,rs256}; do
        case $k in
            es256,rs256) profile_one "$k" 1-3 ;;
            *) profile_one "$k" 2 ;;
        esac
    done
}

profile_main
