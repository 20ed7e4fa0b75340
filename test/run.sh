#!/usr/bin/env bash
# `make test`: unit tests (normal and ASan/UBSan builds), then the
# integration tests against the ASan/UBSan proxy and the normal one. Ends
# with "test: N passed, N failed". Run from the repository root after the
# builds (the Makefile does both).
set -u
cd "$(dirname "$0")/.."

total_p=0
total_f=0
TIMES=()

# Runs a suite, echoing its output, and adds the counts of its last
# "N passed, N failed" line. A suite that prints no such line counts as
# one failure.
suite() {
    local log line p f status start=$SECONDS
    log=$(mktemp)
    "$@" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    TIMES+=("$((SECONDS - start)) s  $*")
    line=$(grep -E '^[a-z()/ ._-]*: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "# $*: no summary line (exit $status)"
        total_f=$((total_f + 1))
        return
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
    f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    total_p=$((total_p + p))
    total_f=$((total_f + f))
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

suite test/unit/run.sh build/test/unit normal
suite test/unit/run.sh build/san/test/unit asan-ubsan
suite test/lint/run.sh build
FUZZ_SECONDS=${FUZZ_SECONDS:-3} suite test/fuzz/run.sh
suite test/integration/run.sh build/san/acmeproxy
suite test/integration/run.sh build/acmeproxy
suite test/integration/adapters.sh build/san/acmeproxy
suite test/integration/validation.sh build/san/acmeproxy
suite test/integration/protocol.sh build/san/acmeproxy
suite test/integration/clients.sh build/san/acmeproxy
suite test/integration/teams.sh build/san/acmeproxy
suite test/integration/oversight.sh build/san/acmeproxy
suite test/integration/admin.sh build/san/acmeproxy
suite test/integration/once.sh build/san/acmeproxy
# The Debian package (make deb) unpacked and served as systemd would.
suite test/integration/service.sh
# The same flows on the sanitizer build (the package checks read the .deb).
suite env SERVICE_BIN=build/san/acmeproxy test/integration/service.sh
suite env CYCLES=5 test/torture/torture.sh build/san/acmeproxy
suite test/integration/bench_smoke.sh build/acmeproxy
suite test/integration/conn_attack.sh build/san/acmeproxy

echo "# time per suite:"
printf '#   %s\n' "${TIMES[@]}"
echo "test: $total_p passed, $total_f failed"
[ "$total_f" -eq 0 ] && [ "$total_p" -gt 0 ]
