#!/usr/bin/env bash
# test/bench/ab.sh FLOWS BIN...: back-to-back runs of the mixed load of
# make bench (12 flows in flight, ES256 and RS256 accounts, 1-3 names) on
# each proxy binary in turn, a fresh data directory each, one line per run:
# flows/s, server and client CPU per flow, p50s, idle RSS. For A/B
# comparisons of two builds on a shared machine (alternate them:
# ab.sh 600 A B A B). BENCH_BIN overrides the acmebench binary.
set -u
if [ $# -lt 2 ]; then
    echo "usage: $0 FLOWS BIN..." >&2
    exit 2
fi
FL=$1
shift
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
export BENCH_PROXY=$1
# shellcheck source=test/bench/run.sh
source test/bench/run.sh
start_knot || exit 2
for b in "$@"; do
    PROXY_BIN=$b  # read by bench_proxy_start (run.sh)
    export PROXY_BIN
    bench_proxy_start "$TMP/ab-$RANDOM" || { echo "no start $b"; continue; }
    line=$("$ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" \
        --http-port "$HTTP_PORT" --concurrency 12 --keys es256,rs256 \
        --names 1-3 --flows "$FL" --duration 60 --pid "$SERVER_PID" \
        --label ab | grep '^RESULT')
    bench_stop
    echo "$b fps=$(kv "$line" fps) failed=$(kv "$line" failed)" \
        "srv_cpu=$(kv "$line" srv_cpu_ms) cli_cpu=$(kv "$line" cli_cpu_ms)" \
        "newOrder=$(kv "$line" p50_newOrder) chall=$(kv "$line" p50_challenge)" \
        "fin=$(kv "$line" p50_finalize) flow=$(kv "$line" p50_flow)" \
        "rss_idle=$(kv "$line" rss_idle_kb)"
done
