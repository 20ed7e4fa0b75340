#!/usr/bin/env bash
# Where the proxy's threads go to sleep, or what allocates, by the proxy's
# own call sites: perf records one event with its call stack (DWARF) on
# the proxy while acmebench runs FLOWS flows of the mixed load of make
# bench (12 in flight, ES256 and RS256 accounts, 1-3 names; after 24
# flows of warm-up), and each event is counted under the first frames of
# the proxy's own code, with the library function it was in. Counts per
# flow, most first: perf stat counts every event, the recording (which may
# lose some when they come fast) gives the shares. Not part of make bench or make test: by hand, from the
# repository root, after `make all bench-tools`:
#   test/bench/stacks.sh switches [FLOWS]   context switches (the
#                                           sched:sched_switch tracepoint)
#   test/bench/stacks.sh mallocs [FLOWS]    calls of libc's malloc (a
#                                           uprobe, added and removed here)
#   FLOWS defaults to 300; STACKS_DEPTH=N own frames per row (default 3);
#   STACKS_ROWS=N rows (default 30); STACKS_BIN=PATH another proxy binary.
# Needs perf and root (uprobes and tracepoints).
set -u
cd "$(dirname "$0")/../.." || exit 2
S_WHAT=${1:-switches}
S_FLOWS=${2:-300}
S_DEPTH=${STACKS_DEPTH:-3}
S_ROWS=${STACKS_ROWS:-30}
# shellcheck source=run.sh
source test/bench/run.sh
PROXY_BIN=$(readlink -f "${STACKS_BIN:-$PROXY_BIN}")
command -v perf >/dev/null || { echo "stacks: perf is not installed"; exit 2; }

S_PROBE=
case $S_WHAT in
    switches) S_EVENT=sched:sched_switch ;;
    mallocs)
        S_LIBC=$(ldd "$PROXY_BIN" | awk '/libc\.so/ {print $3; exit}')
        [ -n "$S_LIBC" ] || { echo "stacks: no libc in ldd $PROXY_BIN"; exit 2; }
        # A probe of our own name, removed at the end (others' stay).
        perf probe -q -x "$S_LIBC" -a 'acmestacks_malloc=malloc' 2>/dev/null ||
            { echo "stacks: perf probe on $S_LIBC failed (root?)"; exit 2; }
        S_PROBE=probe_libc:acmestacks_malloc
        S_EVENT=$S_PROBE ;;
    *) echo "usage: test/bench/stacks.sh switches|mallocs [FLOWS]"; exit 2 ;;
esac
stacks_cleanup() {
    [ -n "$S_PROBE" ] && perf probe -q -d "$S_PROBE" 2>/dev/null
    S_PROBE=
}
trap 'stacks_cleanup; bench_cleanup' EXIT

start_knot || { echo "stacks: knotd did not start"; exit 2; }
bench_proxy_start "$TMP/stacks" || { echo "stacks: proxy did not start"; exit 2; }
mixed_load 24 warm-up >/dev/null
# The recording may lose events when they come fast (a stack each): an
# exact count beside it scales the rows.
perf record -q -e "$S_EVENT" --call-graph dwarf,16384 -p "$SERVER_PID" \
    -o "$TMP/stacks.data" > "$TMP/stacks-record.log" 2>&1 &
S_PERF=$!
perf stat -x, -e "$S_EVENT" -p "$SERVER_PID" -o "$TMP/stacks-stat.txt" &
S_STAT=$!
sleep 1
mixed_load "$S_FLOWS" measured
kill -INT "$S_PERF" "$S_STAT"
wait "$S_PERF" "$S_STAT" 2>/dev/null
bench_stop
stacks_cleanup
S_EXACT=$(awk -F, '$1 ~ /^[0-9]+$/ {print $1; exit}' "$TMP/stacks-stat.txt")

# perf script: a sample is its header line, then one frame per line
# ("ADDR SYMBOL (DSO)"), then an empty line.
echo "--- $S_WHAT per flow ($S_FLOWS flows), by the proxy's first $S_DEPTH frames [library function]"
perf script -i "$TMP/stacks.data" -F ip,sym,dso 2>/dev/null |
awk -v bin="$(basename "$PROXY_BIN")" -v depth="$S_DEPTH" -v flows="$S_FLOWS" \
    -v exact="${S_EXACT:-0}" '
    function flush(   key) {
        if (nframes == 0) return
        key = (own == "" ? "(no frame of the proxy)" : own) " [" (lib == "" ? "-" : lib) "]"
        count[key]++
        total++
        nframes = 0; own = ""; nown = 0; lib = ""
    }
    NF == 0 { flush(); next }
    {
        dso = $NF
        sym = $2
        for (i = 3; i < NF; i++) sym = sym " " $i
        nframes++
        if (index(dso, "/" bin ")") > 0) {
            if (nown < depth) { own = (own == "" ? sym : own " < " sym); nown++ }
        } else if (nown == 0 && dso !~ /kernel/ && lib == "") {
            lib = sym
        }
    }
    END {
        flush()
        if (total == 0) { print "  no events recorded"; exit }
        scale = exact > 0 ? exact / total : 1
        printf "  %d events (perf stat), %.2f per flow; %d recorded with their stacks\n", \
            exact, exact / flows, total
        for (k in count) printf "%10.2f  %s\n", count[k] * scale / flows, k
    }' | sort -k1,1 -rn | head -n "$((S_ROWS + 1))"
