#!/usr/bin/env bash
# Start-up time with a backlog: JOBS finalized orders waiting for the PKI
# (test/bench/seed --queued: an issuance job each, due now), then the
# proxy is started on that data_dir and timed until its directory answers.
# A figure, not a test (`make torture` prints it).
#
# Usage: test/torture/startup.sh [PROXY_BINARY]        default build/acmeproxy
# Environment: JOBS (100000), SEED (build/test/bench/seed), KEEP_TMP=1.
# Prints "startup: N queued jobs: listener up in M ms (...)".
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${1:-build/acmeproxy}
SEED=${SEED:-build/test/bench/seed}
JOBS=${JOBS:-100000}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/acmeproxy-startup.XXXXXX") || exit 2
PID=""
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [ "${KEEP_TMP:-0}" = 1 ] && echo "# kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT
read -r PORT < <(/usr/bin/python3 "$ROOT/test/integration/free_ports.py" 1)

"$SEED" --data-dir "$TMP/data" --orders "$JOBS" --queued --pool 20 \
    --accounts 100 --batch 5000 --map-size-mb 4096 > "$TMP/seed.log" 2>&1 || {
    echo "startup: seeding failed"
    cat "$TMP/seed.log"
    exit 1
}
cat > "$TMP/proxy.conf" <<EOF
[server]
listen = 127.0.0.1:$PORT
base_url = https://localhost:$PORT
data_dir = $TMP/data
map_size_mb = 4096
log_level = info

[adapter]
type = local
EOF
t0=$(date +%s%N)
"$TARGET" -c "$TMP/proxy.conf" > "$TMP/proxy.log" 2>&1 &
PID=$!
for _ in $(seq 1 6000); do
    if [ -s "$TMP/data/ca.pem" ] &&
       curl -sf --max-time 1 --cacert "$TMP/data/ca.pem" \
           "https://localhost:$PORT/directory" -o /dev/null; then
        break
    fi
    sleep 0.01
done
t1=$(date +%s%N)
resumed=$(grep -o 'resuming [0-9]* stored jobs[^"]*' "$TMP/proxy.log" | head -n 1)
echo "startup: $JOBS queued jobs: listener up in $(((t1 - t0) / 1000000)) ms" \
     "(${resumed:-no resume line}; $TARGET)"
