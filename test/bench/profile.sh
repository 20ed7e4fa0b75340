#!/usr/bin/env bash
# Where the proxy's CPU goes during ACME flows: perf (or callgrind when perf
# cannot count) attached to build/acmeproxy while acmebench runs flows with
# one account key type at a time. Prints the server CPU per flow and the
# inclusive share of the functions that matter (signature verification,
# CSR parsing, leaf signing, TLS, JSON, LMDB). Not part of make bench or
# make test: run it by hand, from the repository root, after
# `make all bench-tools`:
#   test/bench/profile.sh [FLOWS]        (default 400 per key type)
#   PROFILE_KEYS=es256 test/bench/profile.sh   (one key type only)
# Needs perf (Debian package linux-perf) and root or
# kernel.perf_event_paranoid <= 1.
set -u
cd "$(dirname "$0")/../.."

P_FLOWS=${1:-400}
# The helpers of make bench (which sources the integration suite's).
# shellcheck source=run.sh
source test/bench/run.sh

# Functions whose inclusive ("children") share is reported.
SYMS='crypto_verify|mbedtls_pk_verify|mbedtls_pk_verify_ext|mbedtls_ecdsa_read_signature|mbedtls_ecdsa_read_signature_restartable|mbedtls_ecdsa_verify_restartable|mbedtls_ecp_muladd_restartable|mbedtls_ecp_check_pubkey|mbedtls_x509_csr_parse_der|mbedtls_rsa_pkcs1_verify|crypto_csr_parse|ca_issue|mbedtls_ecdsa_write_signature|mbedtls_ssl_read|mbedtls_ssl_write|mbedtls_ssl_handshake|mbedtls_gcm_crypt_and_tag|mbedtls_gcm_auth_decrypt|jws_verify|cJSON_Parse|cJSON_PrintUnformatted|mdb_txn_commit|mdb_put|mdb_get|curl_easy_perform|resolve_host|log_write|on_request'

profile_one() {   # profile_one KEYS
    local keys=$1 data=$TMP/perf-$1.data
    bench_proxy_start "$TMP/prof-$keys" || { echo "profile: proxy did not start"; return 1; }
    perf record -F 2000 --call-graph dwarf,32768 -p "$SERVER_PID" -o "$data" \
        > "$TMP/perf-record.log" 2>&1 &
    local perf_pid=$!
    sleep 1
    "$ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" --http-port "$HTTP_PORT" \
        --concurrency 8 --accounts 8 --keys "$keys" --names 2 --flows "$P_FLOWS" \
        --duration 120 --pid "$SERVER_PID" --label "profile-$keys" | grep -E '^(flows|server|client)'
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null
    bench_stop
    echo "--- $keys accounts, 2 names per order: inclusive share of the proxy's sampled CPU"
    perf report -i "$data" --stdio --children --sort sym -g none --percent-limit 0.3 2>/dev/null |
        grep -E "\] ($SYMS)\$" | awk '{printf "  %7s incl %7s self  %s\n", $1, $2, $NF}' | head -40
    echo "--- top 15 by self time"
    perf report -i "$data" --stdio --no-children --sort dso,sym -g none 2>/dev/null |
        grep -E '^ +[0-9]' | head -15 | sed 's/^/  /'
}

profile_main() {
    if ! perf stat -e instructions true >/dev/null 2>&1; then
        echo "profile: perf cannot count here; use valgrind --tool=callgrind on the proxy instead"
        return 2
    fi
    start_knot || { echo "profile: knotd did not start"; return 2; }
    for k in ${PROFILE_KEYS:-es256 rs256}; do
        profile_one "$k"
    done
}

profile_main
