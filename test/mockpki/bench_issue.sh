#!/usr/bin/env bash
# Issuance throughput through the local adapter and the Vault stand-in.
# Never pass/fail: prints figures. Usage (repository root, after make):
#   test/mockpki/bench_issue.sh [N] [PROXY_BINARY]      N orders (default 60)
# N python3-acme orders (one name each, http-01) are finalized back to back;
# the proxy log gives, per adapter, the time from the first finalize to the
# last "issued" line and the mean finalize -> issued latency.
set -u
N=${1:-60}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ONLY="local vault"
# adapters.sh's helpers without its tests: source run.sh and the functions.
source "$ROOT/test/integration/run.sh" "${2:-build/acmeproxy}"
read -r MOCK_PORT < <("$PY" "$ROOT/test/integration/free_ports.py" 1)
eval "$(sed -n '/^MOCKPKI=/,/^# ---------------------------------------------------------------- per adapter/p' \
    "$ROOT/test/integration/adapters.sh" | sed '/^read -r MOCK_PORT/d')"
start_knot || { echo "knot failed"; exit 1; }
mock_start || { echo "mockpki failed"; exit 1; }
export ADAPTERS_TEST_SECRET_ID
ADAPTERS_TEST_SECRET_ID=$(cat "$MOCK/approle-secret-id")
for a in local vault; do
    write_proxy_conf "$a"
    : > "$TMP/proxy.log"
    proxy_start || { echo "proxy failed"; exit 1; }
    names=()
    for i in $(seq 1 "$N"); do names+=("bench-$i.$a.a.test"); done
    t0=$(date +%s.%N)
    run_orders "bench-$a" 300 "${names[@]}"
    t1=$(date +%s.%N)
    valid=$(awk -F'\t' '$2 == "valid"' "$TMP/bench-$a.out" | wc -l)
    "$PY" - "$TMP/proxy.log" "$a" "$N" "$valid" "$t0" "$t1" <<'PYEOF'
import re, sys, datetime
log, a, n, valid, t0, t1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
fin, iss = {}, {}
for line in open(log, errors="replace"):
    m = re.match(r"(\S+Z) \S+ (order|issuer): (finalize|issued) order=(\S+)", line)
    if not m:
        continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
    (fin if m.group(3) == "finalize" else iss)[m.group(4)] = t
lat = [iss[o] - fin[o] for o in iss if o in fin]
span = max(iss.values()) - min(fin.values()) if iss and fin else 0
print(f"{a}: {valid}/{n} valid; end-to-end {n / (t1 - t0):.1f} orders/s "
      f"({t1 - t0:.1f} s, client-bound: validation + finalize one by one); "
      f"finalize->issued mean {1000 * sum(lat) / max(len(lat), 1):.1f} ms, "
      f"max {1000 * max(lat or [0]):.1f} ms; {len(iss) / span if span else 0:.1f} issued/s over {span:.1f} s")
PYEOF
    server_stop
done
