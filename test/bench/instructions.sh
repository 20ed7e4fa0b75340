#!/usr/bin/env bash
# User-space instructions the proxy spends per ACME flow, counted by
# callgrind (valgrind), so that two builds compare without the noise of a
# shared VM's CPU time: the proxy runs under callgrind, acmebench warms it
# up (accounts, the CA, TLS handshakes) with 24 flows, the counters are
# zeroed, then FLOWS flows of the mixed load of make bench run (12 in
# flight, ES256 and RS256 accounts, 1-3 names) and the count is divided by
# FLOWS. Kernel time (system calls, switches, fsync) is not in it: see
# syscalls.sh. Valgrind runs the proxy ~50x slower and hides some CPU
# features from libcrypto, so the share of signature arithmetic is larger
# than on the CPU; compare builds, not figures with make bench. By hand,
# from the repository root, after `make all bench-tools`:
#   test/bench/instructions.sh [FLOWS] [BIN]   (default 100, build/acmeproxy)
#   INSTR_OUT=FILE  keeps callgrind's profile of the measured flows (for
#                   callgrind_annotate FILE)
set -u
cd "$(dirname "$0")/../.."
I_FLOWS=${1:-100}
I_BIN=$(readlink -f "${2:-build/acmeproxy}")
# shellcheck source=run.sh
source test/bench/run.sh
command -v valgrind >/dev/null || { echo "instructions: valgrind is not installed"; exit 2; }
I_OUT=$TMP/callgrind.out
# The proxy under callgrind, through a wrapper that bench_proxy_start runs.
cat > "$TMP/under-callgrind" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$I_OUT $I_BIN "\$@"
WRAP
chmod +x "$TMP/under-callgrind"
PROXY_BIN=$TMP/under-callgrind
start_knot || { echo "instructions: knotd did not start"; exit 2; }
bench_proxy_start "$TMP/instructions" || { echo "instructions: proxy did not start"; exit 2; }
mixed_load 24 warm-up
callgrind_control -z "$SERVER_PID" >/dev/null
mixed_load "$I_FLOWS" measured
# The dump of the measured flows is the file with the suffix .1.
callgrind_control -d "$SERVER_PID" >/dev/null
bench_stop
total=$(awk '/^summary:/ {print $2}' "$I_OUT.1")
[ -n "$total" ] || { echo "instructions: no callgrind summary"; exit 1; }
[ -n "${INSTR_OUT:-}" ] && cp "$I_OUT.1" "$INSTR_OUT"
echo "user-space instructions per flow: $((total / I_FLOWS)) ($I_FLOWS flows, $I_BIN)"
