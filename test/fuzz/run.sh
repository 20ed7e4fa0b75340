#!/usr/bin/env bash
# Runs every libFuzzer target in build/fuzz for FUZZ_SECONDS seconds each
# (default 60), starting from its committed seeds in test/fuzz/corpus/<name>
# (new inputs go to a scratch corpus, never into the tree). A crash, a
# leak, an input slower than FUZZ_TIMEOUT seconds or more memory than
# 2 GiB fails the target; its reproducer is kept in build/fuzz/findings/.
# Ends with one line "fuzz: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."

secs=${FUZZ_SECONDS:-60}
per_input=${FUZZ_TIMEOUT:-10}
only=${FUZZ_TARGETS:-}
findings=build/fuzz/findings
mkdir -p "$findings"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
for bin in build/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin" | sed 's/^fuzz_//')
    if [ -n "$only" ] && ! printf ' %s ' "$only" | grep -q " $name "; then
        continue
    fi
    seeds=test/fuzz/corpus/$name
    mkdir -p "$scratch/$name"
    log="$scratch/$name.log"
    "$bin" -max_total_time="$secs" -timeout="$per_input" \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$findings/$name-" \
        "$scratch/$name" $( [ -d "$seeds" ] && echo "$seeds" ) >"$log" 2>&1
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$status" -eq 0 ]; then
        echo "ok - fuzz $name: ${execs:-0} runs in ${secs}s"
        passed=$((passed + 1))
    else
        echo "not ok - fuzz $name (exit $status): see $findings/$name-*"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 15
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
