#!/usr/bin/env bash
# test/lint/run.sh: the structure checks of `make test` and `make lint`
# (issue 13): includes.py (no circle of #include pairs between the
# modules of proxy/, adapters/, common/; every call between proxy/ modules
# follows them, read from the objects of the build folder $1, default
# build) and sizes.py (no file there over 1,200 lines). Ends with
# "lint: N passed, N failed". Run from the repository root.
set -u
cd "$(dirname "$0")/../.."
objs=${1:-build}
p=0
f=0
for check in "test/lint/includes.py --objs $objs" test/lint/sizes.py; do
    out=$(python3 $check 2>&1)
    status=$?
    echo "$out"
    line=$(echo "$out" | grep -E ': [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        f=$((f + 1))
        continue
    fi
    cp=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
    cf=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
    if [ "$status" -ne 0 ] && [ "$cf" -eq 0 ]; then
        cf=1
    fi
    p=$((p + cp))
    f=$((f + cf))
done
echo "lint: $p passed, $f failed"
[ "$f" -eq 0 ]
