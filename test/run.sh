#!/usr/bin/env bash
# `make test`: unit tests (normal and ASan/UBSan builds), then the
# integration tests against the ASan/UBSan proxy and the normal one. Ends
# with "test: N passed, N failed". Run from the repository root after the
# builds (the Makefile does both).
#
# The suites run in two lanes at once: most integration suites spend their
# time waiting (on timeouts, retries, restarts), so a second lane shortens
# the run on 2 cores without changing what any suite does. Each suite
# starts its own servers on ports free_ports.py hands out (never the same
# one twice in a short while, across lanes). The foreground lane prints as
# it goes; the other lane's suites print whole when each ends. LANES=1 runs
# everything in one lane, in order.
set -u
cd "$(dirname "$0")/.."

RESULTS=$(mktemp -d)
lane2_pid=""
trap 'rm -rf "$RESULTS"' EXIT
trap '[ -n "$lane2_pid" ] && kill -- "$lane2_pid" 2>/dev/null; exit 130' INT TERM

# Runs a suite, echoing its output (at once, or whole at its end with
# QUIET_UNTIL_END=1), and records the counts of its last "N passed, N
# failed" line, its exit status and its time in $RESULTS. A suite that
# prints no such line counts as one failure.
suite() {
    local log line p f status start=$SECONDS id
    id=$(printf '%03d' "$1")
    shift
    log=$RESULTS/$id.log
    echo "$*" > "$RESULTS/$id.started"
    if [ "${QUIET_UNTIL_END:-0}" = 1 ]; then
        "$@" > "$log" 2>&1
        status=$?
        cat "$log"
    else
        "$@" 2>&1 | tee "$log"
        status=${PIPESTATUS[0]}
    fi
    line=$(grep -E '^[a-z()/ ._-]*: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "# $*: no summary line (exit $status)"
        p=0
        f=1
    else
        p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
        f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
        if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1
        fi
    fi
    printf '%s %s %s %s\n' "$p" "$f" "$((SECONDS - start))" "$*" > "$RESULTS/$id.res"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# free_ports.py remembers the ports it handed out here, so two lanes never
# get the same port while one of them is still starting its server.
export FREE_PORTS_LEDGER=$RESULTS/ports

# Lane 1: the unit tests, lint, fuzzing and the short suites.
lane1() {
    suite 1 test/unit/run.sh build/test/unit normal
    suite 2 test/unit/run.sh build/san/test/unit asan-ubsan
    suite 3 test/lint/run.sh build
    FUZZ_SECONDS=${FUZZ_SECONDS:-3} suite 4 test/fuzz/run.sh
    suite 5 test/integration/run.sh build/san/acmeproxy
    suite 6 test/integration/run.sh build/acmeproxy
    suite 8 test/integration/validation.sh build/san/acmeproxy
    suite 9 test/integration/protocol.sh build/san/acmeproxy
    suite 10 test/integration/clients.sh build/san/acmeproxy
    suite 11 test/integration/teams.sh build/san/acmeproxy
    suite 12 test/integration/admin.sh build/san/acmeproxy
    # The Debian package (make deb) unpacked and served as systemd would.
    suite 14 test/integration/service.sh
    # The same flows on the sanitizer build (the package checks read the .deb).
    suite 15 env SERVICE_BIN=build/san/acmeproxy test/integration/service.sh
    suite 17 test/integration/bench_smoke.sh build/acmeproxy
    suite 21 test/integration/admin_api.sh build/san/acmeproxy
    suite 23 env STORE_ENGINE=postgresql test/integration/run.sh build/san/acmeproxy
    suite 24 test/integration/pg_migrate.sh build/acmeproxy
    suite 25 test/integration/ha.sh build/san/acmeproxy
    suite 18 test/integration/conn_attack.sh build/san/acmeproxy
    suite 20 test/integration/enrol_middleware.sh build/san/acmeproxy
    suite 27 test/integration/tls.sh build/san/acmeproxy
}

# Lane 2: the long suites that mostly wait (PKI retries, restarts, crashes).
lane2() {
    suite 7 test/integration/adapters.sh build/san/acmeproxy
    suite 13 test/integration/once.sh build/san/acmeproxy
    suite 16 env CYCLES=5 test/torture/torture.sh build/san/acmeproxy
    suite 19 test/integration/enrol_lego.sh build/san/acmeproxy
    suite 22 test/integration/ansible.sh build/san/acmeproxy
    suite 26 test/integration/oversight.sh build/san/acmeproxy
}

if [ "${LANES:-2}" = 1 ]; then
    lane1
    lane2
else
    ( QUIET_UNTIL_END=1 lane2 ) &
    lane2_pid=$!
    lane1
    wait "$lane2_pid"
fi

total_p=0
total_f=0
# A suite that started and left no result (its lane died) is a failure.
for started in "$RESULTS"/*.started; do
    if [ ! -f "${started%.started}.res" ]; then
        echo "# $(cat "$started"): ended without a result"
        total_f=$((total_f + 1))
    fi
done
echo "# time per suite:"
for res in "$RESULTS"/*.res; do
    read -r p f secs name < "$res"
    total_p=$((total_p + p))
    total_f=$((total_f + f))
    printf '#   %s s  %s%s\n' "$secs" "$name" "$([ "$f" -gt 0 ] && echo "  ($f failed)")"
done
echo "test: $total_p passed, $total_f failed"
[ "$total_f" -eq 0 ] && [ "$total_p" -gt 0 ]
