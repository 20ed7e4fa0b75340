#!/usr/bin/env bash
# Where one `lego run` (1 name, existing account) spends its time against
# the proxy: process start, the TLS handshake, each ACME request (the
# client's time against the proxy's own), the challenge's wait, finalize,
# the download and exit. Starts the proxy as make bench does (log at
# debug), registers a lego account, then:
#   - LEGO_N plain runs, each timed from the shell (wall clock, median);
#   - LEGO_N runs under strace -f -ttt (execve, connect, accept4, read,
#     write, close, exit_group), whose timestamps and the proxy's log lines
#     of the same run make the table (test/bench/lego_breakdown.py).
# strace stops lego at each traced call, so the traced runs are slower
# than the plain ones; the table shows where the time goes, the plain
# runs how much there is. Measures only, never pass/fail. Run from the
# repository root after `make all`:
#   test/bench/lego_breakdown.sh          LEGO_N=9 test/bench/lego_breakdown.sh
#   BENCH_PROXY=/path/to/acmeproxy ...    (another build, for an A/B run)
set -u
cd "$(dirname "$0")/../.."

LEGO_N=${LEGO_N:-5}
# shellcheck source=run.sh
source test/bench/run.sh
LB_TAG=$(date +%s)

# lego_one DIR NAME [WRAPPER...]: one `lego run` for NAME, its output in
# DIR/lego.log; with a wrapper (strace), run under it.
lego_one() {
    local dir=$1 name=$2
    shift 2
    mkdir -p "$dir"
    LEGO_CA_CERTIFICATES="$CA_FILE" timeout 120 "$@" lego --server "$DIR_URL" \
        --email bench@example.org --accept-tos \
        --http --http.port "127.0.0.1:$HTTP_PORT" \
        --domains "$name" --path "$TMP/lego-account" run > "$dir/lego.log" 2>&1
}

lb_main() {
    local i t0 t1 n0 dir fails=0 walls=()
    command -v lego > /dev/null || { echo "lego_breakdown: lego missing"; return 2; }
    command -v strace > /dev/null || { echo "lego_breakdown: strace missing"; return 2; }
    start_knot || { echo "lego_breakdown: knotd did not start"; return 2; }
    bench_proxy_start "$TMP/lb-data" "log_level = debug" ||
        { echo "lego_breakdown: proxy did not start"; show_tail "$TMP/proxy.log"; return 2; }
    echo "lego_breakdown: $PROXY_BIN; $(lego --version); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
    # The account (and a first certificate): not measured.
    lego_one "$TMP/lb-account" "acct.r$LB_TAG.bench.test" ||
        { echo "lego_breakdown: lego could not register"; cat "$TMP/lb-account/lego.log"; return 2; }
    for i in $(seq 1 "$LEGO_N"); do
        t0=$(date +%s%N)
        lego_one "$TMP/lb-plain-$i" "plain-$i.r$LB_TAG.bench.test" || fails=$((fails + 1))
        t1=$(date +%s%N)
        walls+=($(( (t1 - t0) / 1000 )))
    done
    for i in $(seq 1 "$LEGO_N"); do
        dir=$TMP/lb-traced-$i
        n0=$(wc -l < "$TMP/proxy.log")
        lego_one "$dir" "traced-$i.r$LB_TAG.bench.test" \
            strace -f --seccomp-bpf -ttt -o "$dir/lego.strace" \
            -e trace=execve,connect,accept4,read,write,close,exit_group ||
            fails=$((fails + 1))
        sleep 0.2   # the proxy's last log line of the run
        tail -n +"$((n0 + 1))" "$TMP/proxy.log" > "$dir/proxy.log"
    done
    bench_stop
    printf '%s\n' "${walls[@]}" | sort -n |
        awk -v n="$LEGO_N" -v f="$fails" '{ v[NR] = $1 }
            END { printf "  plain lego run, wall clock: median %.1f ms, min %.1f ms, max %.1f ms (%d runs, %d failed)\n",
                         v[int((NR + 1) / 2)] / 1000, v[1] / 1000, v[NR] / 1000, n, f }'
    "$PY" test/bench/lego_breakdown.py "$ACME_PORT" "$HTTP_PORT" "$TMP"/lb-traced-*
}

lb_main
