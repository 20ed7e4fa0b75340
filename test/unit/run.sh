#!/usr/bin/env bash
# Runs every cmocka binary in DIR (default build/test/unit) from the repo
# root, adds up their counts and ends with one line
# "unit(LABEL): N passed, N failed". Exits non-zero on any failure, a crash,
# or when no test ran.
#
# The PostgreSQL store tests (test_store_pg) get a throw-away PostgreSQL
# 15 started here (test/integration/pg_lib.sh) through
# ACMEPROXY_TEST_PG / ACMEPROXY_TEST_PG_PASSWORD_FILE; when it cannot start
# they fail (never skip).
set -u
dir=${1:-build/test/unit}
label=${2:-normal}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../integration/pg_lib.sh
. "$HERE/../integration/pg_lib.sh"
PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/acmeproxy-unit-pg.XXXXXX") || exit 2
trap 'pg_stop; rm -rf "$PG_TMP"' EXIT
trap 'exit 130' INT TERM
# fsync off: a throw-away cluster; what the store tests check is not the
# disk's durability (the integration suites keep fsync on).
if PG_FSYNC=off pg_start "$PG_TMP/pg"; then
    export ACMEPROXY_TEST_PG=$PG_CONNINFO
    export ACMEPROXY_TEST_PG_PASSWORD_FILE=$PG_PASSWORD_FILE
else
    echo "unit($label): PostgreSQL did not start: test_store_pg will fail"
fi
passed=0
failed=0
crashed=0
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1)
    status=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] || [ "$f" -ne 0 ]; then
        printf '%s\n' "$out" | grep -E 'FAILED|ERROR|Sanitizer|runtime error' | head -20
        echo "unit($label): $(basename "$t") exited $status"
        if [ "$f" -eq 0 ]; then
            crashed=$((crashed + 1))
        fi
    else
        echo "unit($label): $(basename "$t"): $p passed"
    fi
done
failed=$((failed + crashed))
echo "unit($label): $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
