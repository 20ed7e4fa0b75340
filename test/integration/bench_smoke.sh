#!/usr/bin/env bash
# Smoke run of the ACME load generator (test/bench/acmebench) against the
# proxy, so the benchmark tool cannot rot: ~20 complete flows (ES256 and
# RS256 accounts, 1-3 names, http-01 through the generator's responder,
# finalize, download, revoke) must all succeed, and its self-test of its
# signatures, CSRs and leaf check must pass. Asserts no timing.
#
# Usage (from the repository root):
#   test/integration/bench_smoke.sh [PROXY_BINARY] [ACMEBENCH_BINARY]
# defaults build/acmeproxy and build/test/bench/acmebench (`make
# bench-tools`). Reuses run.sh's helpers (knot, free ports, proxy start
# and stop) by sourcing it, which does not run its tests.
# Ends with "bench_smoke: N passed, N failed".
set -u

SMOKE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ACMEBENCH=${2:-build/test/bench/acmebench}
SMOKE_FLOWS=20

# shellcheck source=run.sh
source "$SMOKE_DIR/run.sh" "${1:-build/acmeproxy}"

smoke_flows() {
    local name=bench_smoke_flows_all_succeeded out=$TMP/acmebench.out line n_ok n_failed
    timeout 180 "$ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" \
        --http-port "$HTTP_PORT" --flows "$SMOKE_FLOWS" --duration 120 \
        --concurrency 4 --accounts 2 --keys es256,rs256 --names 1-3 \
        --revoke --pid "$SERVER_PID" --label acmeproxy > "$out" 2>&1
    local rc=$?
    sed 's/^/# /' "$out"
    line=$(grep '^RESULT ' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        not_ok "$name" "acmebench exited $rc without a RESULT line"
        not_ok bench_smoke_reports_server_figures "no RESULT line"
        return
    fi
    n_ok=$(sed -E 's/.* ok=([0-9]+).*/\1/' <<<"$line")
    n_failed=$(sed -E 's/.* failed=([0-9]+).*/\1/' <<<"$line")
    if [ "$rc" -eq 0 ] && [ "$n_ok" = "$SMOKE_FLOWS" ] && [ "$n_failed" = 0 ]; then
        ok "$name"
    else
        not_ok "$name" "exit $rc, $n_ok of $SMOKE_FLOWS flows ok, $n_failed failed"
    fi
    # The report must carry what make bench's table reads.
    if grep -Eq ' rss_peak_kb=[1-9][0-9]* ' <<<"$line" &&
       grep -Eq ' srv_cpu_ms=[0-9.]+ ' <<<"$line" &&
       grep -Eq ' p99_finalize=[0-9.]+ ' <<<"$line"; then
        ok bench_smoke_reports_server_figures
    else
        not_ok bench_smoke_reports_server_figures "RESULT lacks RSS, CPU or latency: $line"
    fi
}

# The generator's own key work, without a server: its JWS signatures and
# CSRs pass the proxy's verification code, and its leaf check accepts a
# certificate for the CSR key and refuses others, and its HTTP client
# frames canned answers right (acmebench --self-test).
smoke_self_test() {
    local out=$TMP/selftest.out
    timeout 60 "$ACMEBENCH" --self-test > "$out" 2>&1
    local rc=$?
    sed 's/^/# /' "$out"
    if [ "$rc" -eq 0 ] && grep -q '^bkey self-test: 0 failed$' "$out" &&
       grep -q '^bhttp self-test: 0 failed$' "$out" &&
       ! grep -q '^not ok' "$out"; then
        ok bench_smoke_self_test
    else
        not_ok bench_smoke_self_test "exit $rc: $(grep -m1 '^not ok' "$out")"
    fi
}

smoke_main() {
    echo "# bench_smoke: ${TARGET} with ${ACMEBENCH}; tmp $TMP"
    [ -x "$ACMEBENCH" ] && smoke_self_test
    if [ ! -x "$ACMEBENCH" ]; then
        not_ok bench_smoke_binary "$ACMEBENCH is not built (make bench-tools)"
    elif [ ! -x "$TARGET" ]; then
        not_ok bench_smoke_binary "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok bench_smoke_dns "knotd did not answer on 127.0.0.1:$DNS_PORT"
        show_tail "$TMP/knot.log"
    elif ! server_start; then
        not_ok bench_smoke_server_starts "${START_ERR:-could not prepare the server}"
        show_tail "$TMP/proxy.log" 30
    else
        ok bench_smoke_server_starts
        smoke_flows
        test_server_stop_clean
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 40
    fi
    echo "bench_smoke: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

smoke_main
