#!/usr/bin/env bash
# test/bench/memory.sh: where the proxy's memory goes, idle and after load.
# Starts the proxy exactly as `make bench` does (run.sh bench_proxy_start:
# local adapter, LMDB, [server] threads = BENCH_THREADS or 16), then prints
# for the idle process (after the start-up directory probe, where
# acmebench takes "RSS before") and again after MEM_FLOWS flows of
# acmebench (default 300, 12 in flight):
#   - VmRSS, RssAnon, RssFile and the thread count (/proc/PID/status),
#     Pss and private memory (USS) (/proc/PID/smaps_rollup);
#   - Rss per mapping from /proc/PID/smaps, grouped: each file (shared
#     library, the binary, the LMDB map), [heap], glibc malloc arenas of
#     threads (anonymous, at 64 MiB-aligned addresses), thread stacks (the
#     other anonymous mappings just above a guard page), other anonymous.
# Measures only; exit status 0 unless the proxy could not be run.
#   MEM_FLOWS=300   flows of the load (0: idle only)
#   BENCH_PROXY     the binary (build/acmeproxy)
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=run.sh
source test/bench/run.sh
M_FLOWS=${MEM_FLOWS:-300}

# mem_status PID: one line of /proc/PID/status figures.
mem_status() {
    awk '/^(VmRSS|RssAnon|RssFile|RssShmem|Threads):/ {printf "%s %s  ", $1, $2}
         END {print ""}' "/proc/$1/status"
}

# mem_smaps PID: Rss in kB per mapping group, largest first, then the total.
# A malloc arena (glibc: one per thread up to 8 x cores, each a 64 MiB
# reservation aligned to 64 MiB) starts at an aligned address; a thread
# stack is another anonymous read-write mapping that directly follows a
# PROT_NONE guard mapping (glibc's pthread stacks).
mem_smaps() {
    awk '
    /^[0-9a-f]+-[0-9a-f]+ / {
        split($1, ad, "-"); perm = $2; name = $6
        if (name == "") {
            a = ad[1]; n = length(a)
            if (perm == "rw-p" && substr(a, n - 5) == "000000" &&
                index("048c", substr(a, n - 6, 1)) > 0) name = "[malloc arenas]"
            else if (prevperm == "---p" && ad[1] == prevend) name = "[thread stacks]"
            else if (perm == "---p") name = "[guard pages]"
            else name = "[anonymous]"
        }
        sub(/.*\//, "", name)
        cur = name; prevperm = perm; prevend = ad[2]
        if (name == "[thread stacks]") nstk++
        if (name == "[malloc arenas]") nar++
        next
    }
    /^Rss:/ { rss[cur] += $2; tot += $2 }
    END {
        for (n in rss) if (rss[n] > 0) printf "%8d  %s\n", rss[n], n
        printf "%8d  total (%d thread stacks, %d malloc arenas)\n", tot, nstk, nar
    }' "/proc/$1/smaps" | sort -k1,1nr -k2
}

mem_report() {   # mem_report WHEN PID
    echo "== $1: $(mem_status "$2")"
    # Pss: shared pages divided among the processes mapping them; private
    # (USS): what only this process holds.
    awk '/^Pss:/ {p = $2} /^Private_(Clean|Dirty):/ {u += $2}
         END {printf "   Pss %d kB, private (USS) %d kB\n", p, u}' "/proc/$2/smaps_rollup"
    mem_smaps "$2" | awk 'NR <= 25 || /total/'
}

mem_main() {
    local dd=$TMP/mem-data out
    [ -x "$PROXY_BIN" ] || { echo "memory: $PROXY_BIN is not built"; return 2; }
    start_knot || { echo "memory: knotd did not start"; return 2; }
    bench_proxy_start "$dd" || { echo "memory: proxy did not start: $START_ERR"; return 2; }
    sleep 2
    mem_report "idle after start ($PROXY_BIN, threads ${BENCH_THREADS:-16})" "$SERVER_PID"
    if [ "$M_FLOWS" -gt 0 ]; then
        [ -x "$ACMEBENCH" ] || { echo "memory: $ACMEBENCH is not built"; return 2; }
        out=$TMP/mem-load.out
        timeout 300 "$ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" \
            --http-port "$HTTP_PORT" --concurrency "$B_CONC" --flows "$M_FLOWS" \
            --duration 120 --flow-timeout 60 --pid "$SERVER_PID" --label memory \
            > "$out" 2>&1
        grep -E '^ *(flows:|server pid)' "$out"
        sleep 2
        mem_report "after $M_FLOWS flows" "$SERVER_PID"
    fi
    bench_stop
}

mem_main
