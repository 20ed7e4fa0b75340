#!/usr/bin/env bash
# What a flow costs the proxy on a store that already holds many orders:
# for each BINARY in turn, the proxy on the data directory STORE_DIR (made
# by build/test/bench/seed; the runs add their flows to it), FLOWS flows of
# the mixed load of make bench (12 in flight, ES256 and RS256 accounts,
# 1-3 names, at most 120 s), with perf stat and /proc on the proxy: one
# line per binary with flows/s, CPU ms per flow (acmebench's, and user /
# system from /proc/PID/stat), page faults and context switches per flow,
# bytes and write calls per flow (/proc/PID/io), VmRSS / RssAnon /
# RssFile at the end. Measures only. Not part of make bench or make test:
#   test/bench/scale_ab.sh 300 /var/tmp/s/1m build/acmeproxy /tmp/old-acmeproxy
# (from the repository root, after `make all bench-tools`; needs perf and
# kernel.perf_event_paranoid <= 2 for a process of one's own).
# test/bench/README.md, "Scale: time-ordered ids", has its figures.
set -u
FL=${1:?FLOWS}; SD=${2:?STORE_DIR}; shift 2
[ $# -ge 1 ] || { echo "usage: $0 FLOWS STORE_DIR BINARY..." >&2; exit 2; }
cd "$(dirname "$0")/../.." || exit 2
export BENCH_PROXY=$1
# shellcheck source=run.sh
source test/bench/run.sh
start_knot || exit 2
for b in "$@"; do
    PROXY_BIN=$b
    bench_proxy_start "$SD" || { echo "$b: did not start"; continue; }
    perf stat -x, -e page-faults,major-faults,context-switches,task-clock \
        -p "$SERVER_PID" -o "$TMP/pstat.txt" &
    pp=$!
    sleep 0.5
    io0=$(cat "/proc/$SERVER_PID/io")
    st0=$(awk '{sub(/.*\) /, ""); print $12, $13}' "/proc/$SERVER_PID/stat")
    line=$("$ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" \
        --http-port "$HTTP_PORT" --concurrency 12 --keys es256,rs256 \
        --names 1-3 --flows "$FL" --duration 120 --pid "$SERVER_PID" \
        --label scale | grep '^RESULT')
    io1=$(cat "/proc/$SERVER_PID/io")
    st1=$(awk '{sub(/.*\) /, ""); print $12, $13}' "/proc/$SERVER_PID/stat")
    rss=$(grep -E 'VmRSS|RssAnon|RssFile' "/proc/$SERVER_PID/status" |
        awk '{printf "%s%s ", $1, $2}')
    kill -INT "$pp"; wait "$pp"
    bench_stop
    pst=$(awk -F, -v f="$FL" '/^[0-9]/ {printf "%s/flow=%.1f ", $3, $1 / f}' \
        "$TMP/pstat.txt")
    iod=$(paste <(echo "$io0") <(echo "$io1") | awk -v f="$FL" '
        $1 == "wchar:" || $1 == "syscw:" {
            k = $1; sub(":", "", k); printf "%s/flow=%.0f ", k, ($4 - $2) / f }')
    ust=$(echo "$st0 $st1" | awk -v f="$FL" -v hz="$(getconf CLK_TCK)" '{
        printf "user=%.2f sys=%.2f", ($3 - $1) * 1000 / hz / f,
        ($4 - $2) * 1000 / hz / f}')
    echo "$b fps=$(kv "$line" fps) failed=$(kv "$line" failed)" \
        "cpu_ms=$(kv "$line" srv_cpu_ms) flow_p50=$(kv "$line" p50_flow)" \
        "$pst$iod$ust $rss"
done
