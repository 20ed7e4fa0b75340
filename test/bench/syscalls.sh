#!/usr/bin/env bash
# System calls the proxy makes per ACME flow: strace -c -f attached to the
# proxy while acmebench runs the mixed load of make bench (12 in flight,
# ES256 and RS256 accounts, 1-3 names). strace slows the proxy down by an
# order of magnitude, so only the counts mean anything, not the times.
# By hand, from the repository root, after `make all bench-tools`:
#   test/bench/syscalls.sh [FLOWS]     (default 200)
set -u
cd "$(dirname "$0")/../.."
S_FLOWS=${1:-200}
# shellcheck source=run.sh
source test/bench/run.sh
command -v strace >/dev/null || { echo "syscalls: strace is not installed"; exit 2; }
start_knot || { echo "syscalls: knotd did not start"; exit 2; }
bench_proxy_start "$TMP/syscalls" || { echo "syscalls: proxy did not start"; exit 2; }
strace -f -c -o "$TMP/strace.out" -p "$SERVER_PID" 2>/dev/null &
S_PID=$!
sleep 1
"$ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" --http-port "$HTTP_PORT" \
    --concurrency 12 --keys es256,rs256 --names 1-3 --flows "$S_FLOWS" \
    --duration 300 --pid "$SERVER_PID" --label syscalls | grep -E '^ *flows'
kill -INT "$S_PID"
wait "$S_PID"
bench_stop
# strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall.
echo "system calls per flow ($S_FLOWS flows):"
awk -v f="$S_FLOWS" '$NF != "total" && $NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ {
        printf "  %-16s %8.2f\n", $NF, $4 / f }' "$TMP/strace.out" | sort -k2 -nr | head -25
awk -v f="$S_FLOWS" '$NF == "total" { printf "  %-16s %8.2f\n", "all", $4 / f }' "$TMP/strace.out"
