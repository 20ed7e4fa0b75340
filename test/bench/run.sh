#!/usr/bin/env bash
# make bench: the same ACME load against acmeproxy (local adapter, fresh
# data_dir) and Debian's Pebble, in turn, on loopback; then 20 sequential
# lego issuances against each; then the proxy with 10k and 100k issued
# orders already in its store. Prints one table at the end. Measures only:
# never pass/fail (the exit status is 0 unless something could not run).
#
# Run from the repository root after `make all bench-tools` (make bench
# does both). Knobs (environment):
#   BENCH_FLOWS=1000        flows per load run (each also bounded by time)
#   BENCH_DURATION=60       seconds per load run at most
#   BENCH_CONCURRENCY=12    flows in flight (below the proxy's 16 HTTP threads:
#                           civetweb holds one per keep-alive connection)
#   BENCH_ROUNDS=3          load runs per server, alternating proxy/Pebble
#   BENCH_LEGO=20           sequential lego issuances per server (0: skip)
#   BENCH_SCALE="10000 100000"   stored orders for the scale runs ("" skips;
#                           add 1000000 for the 1M figure: ~15 min, ~6 GB)
#   BENCH_SCALE_FLOWS=300   flows per scale run
#   BENCH_PROXY, BENCH_BIN, BENCH_SEED   binaries (build/acmeproxy,
#                           build/test/bench/acmebench, build/test/bench/seed)
#   BENCH_THREADS=16        the proxy's [server] threads
#   BENCH_TMPDIR=/var/tmp   where the temporary directory goes
#   BENCH_ATTACK=1          the connection attack runs (0: skip); ATTACK_ONLY=1
#                           runs only them
#   BENCH_ATTACK_FLOWS=300  normal-client flows per phase (without / with attack)
#   BENCH_ATTACK_SECS=40    seconds the attack lasts at most (connattack)
#   BENCH_PG=1              the PostgreSQL runs (0: skip): each round also
#                           runs the load against one instance and against
#                           two behind haproxy (round robin, TCP), on a
#                           fresh database of a throw-away PostgreSQL 15
#   KEEP_TMP=1              keep the temporary directory (logs, outputs)
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PROXY_BIN=${BENCH_PROXY:-build/acmeproxy}
ACMEBENCH=${BENCH_BIN:-build/test/bench/acmebench}
SEEDER=${BENCH_SEED:-build/test/bench/seed}
CONNATTACK=${BENCH_CONNATTACK:-build/test/bench/connattack}
B_FLOWS=${BENCH_FLOWS:-1000}
B_DURATION=${BENCH_DURATION:-60}
B_CONC=${BENCH_CONCURRENCY:-12}
B_ROUNDS=${BENCH_ROUNDS:-3}
B_LEGO=${BENCH_LEGO:-20}
B_SCALE=${BENCH_SCALE-10000 100000}
B_SCALE_FLOWS=${BENCH_SCALE_FLOWS:-300}
MAP_MB=16384

# The runs take minutes and the scale stores gigabytes: a temporary
# directory of their own under /var/tmp, out of the way of /tmp cleaners.
TMPDIR=${BENCH_TMPDIR:-/var/tmp}

# Helpers of the integration suite (knot, free ports, Pebble's TLS files,
# stop_pid, wait_for_server); sourcing runs none of its tests.
# shellcheck source=../integration/run.sh
source test/integration/run.sh "$PROXY_BIN"
# shellcheck source=../integration/pg_lib.sh
source test/integration/pg_lib.sh
read -r PG_A_PORT PG_B_PORT < <("$PY" test/integration/free_ports.py 2 | tr '\n' ' ')
PG_PIDS=()              # the PostgreSQL runs' second instance and haproxy
PG_STARTED=0
bench_cleanup() {
    local pid
    for pid in "${PG_PIDS[@]}"; do
        stop_pid "$pid" 5 >/dev/null 2>&1
    done
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID" 5 >/dev/null 2>&1
    SERVER_PID=""
    if [ "$PG_STARTED" = 1 ]; then pg_stop; PG_STARTED=0; fi
    cleanup
}
trap bench_cleanup EXIT

RESULTS=$TMP/results.txt
: > "$RESULTS"
RUN_TAG=$(date +%s)

say() { echo "bench: $*"; }

# -------------------------------------------------------------- servers

bench_proxy_start() {   # bench_proxy_start DATA_DIR [EXTRA [server] LINES]
    local dd=$1 conf=$TMP/bench-proxy.conf extra=${2:-}
    mkdir -p "$dd"
    cat > "$conf" <<EOF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $dd
map_size_mb = $MAP_MB
threads  = ${BENCH_THREADS:-16}
log_level = info
$extra

[acme]
wait_ms = 1000

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
type = local
EOF
    echo "### start $(date +%T) $dd" >> "$TMP/proxy.log"
    "$PROXY_BIN" -c "$conf" >> "$TMP/proxy.log" 2>&1 &
    SERVER_PID=$!
    CA_FILE=$dd/ca.pem
    DIR_URL="https://localhost:$ACME_PORT/directory"
    wait_for_server 60
}

bench_pebble_start() {
    [ -f "$TMP/pebble/pebble.json" ] || pebble_write_config || return 1
    echo "### start $(date +%T)" >> "$TMP/pebble.log"
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
        pebble -config "$TMP/pebble/pebble.json" \
        -dnsserver "127.0.0.1:$DNS_PORT" >> "$TMP/pebble.log" 2>&1 &
    SERVER_PID=$!
    CA_FILE=$TMP/pebble/tlsca.pem
    DIR_URL="https://localhost:$ACME_PORT/dir"
    wait_for_server 30
}

bench_stop() {
    local pid
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID" 10
    SERVER_PID=""
    for pid in "${PG_PIDS[@]}"; do
        stop_pid "$pid" 10
    done
    PG_PIDS=()
}

# bench_pg_start N DB CA_DIR: N (1 or 2) instances on the fresh database DB
# of the throw-away PostgreSQL, with the CA files of CA_DIR (a data
# directory of an LMDB run) and one nonce key; with 2, haproxy in front in
# round-robin TCP mode on the ACME port (with 1 the instance listens
# there). SERVER_PID: the first instance (its CPU and RSS are reported).
bench_pg_start() {
    local n=$1 db=$2 cadir=$3 i port dd conf pid
    if [ "$PG_STARTED" = 0 ]; then
        pg_start "$TMP/pg" > "$TMP/pg_start.log" 2>&1 || {
            START_ERR="PostgreSQL did not start: $(tail -n 2 "$TMP/pg_start.log")"; return 1; }
        PG_STARTED=1
        head -c 48 /dev/urandom > "$TMP/nonce.key" && chmod 600 "$TMP/nonce.key"
    fi
    pg_createdb "$db" > /dev/null || { START_ERR="createdb $db failed"; return 1; }
    for i in $(seq 1 "$n"); do
        dd=$TMP/$db-$i
        mkdir -p "$dd"
        cp -p "$cadir"/ca.pem "$cadir"/ca-root.key "$cadir"/ca-intermediate.pem \
            "$cadir"/ca-intermediate.key "$dd/"
        port=$ACME_PORT
        if [ "$n" = 2 ]; then
            if [ "$i" = 1 ]; then port=$PG_A_PORT; else port=$PG_B_PORT; fi
        fi
        conf=$TMP/$db-$i.conf
        cat > "$conf" <<EOF
[server]
listen   = 127.0.0.1:$port
base_url = https://localhost:$ACME_PORT
data_dir = $dd
threads  = ${BENCH_THREADS:-16}
log_level = info

[acme]
wait_ms = 1000
nonce_key_file = $TMP/nonce.key

[store]
engine = postgresql
postgresql = host=$PG_HOST port=$PG_PORT user=$PG_USER dbname=$db
password = $PG_PASSWORD_FILE
instance = i$i

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
type = local
EOF
        echo "### start $(date +%T) $db-$i" >> "$TMP/proxy.log"
        "$PROXY_BIN" -c "$conf" >> "$TMP/proxy.log" 2>&1 &
        pid=$!
        if [ "$i" = 1 ]; then SERVER_PID=$pid; else PG_PIDS+=("$pid"); fi
        wait_for 60 curl -sf --max-time 2 --cacert "$dd/ca.pem" \
            "https://localhost:$port/directory" -o /dev/null ||
            { START_ERR="instance $i on $db did not answer"; return 1; }
    done
    CA_FILE=$TMP/$db-1/ca.pem
    DIR_URL="https://localhost:$ACME_PORT/directory"
    if [ "$n" = 2 ]; then
        cat > "$TMP/haproxy.cfg" <<EOF
global
    maxconn 1024
defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
frontend acme
    bind 127.0.0.1:$ACME_PORT
    default_backend instances
backend instances
    balance roundrobin
    server a 127.0.0.1:$PG_A_PORT
    server b 127.0.0.1:$PG_B_PORT
EOF
        haproxy -db -f "$TMP/haproxy.cfg" >> "$TMP/haproxy.log" 2>&1 &
        PG_PIDS+=("$!")
        wait_for_server 20
    fi
}

# -------------------------------------------------------------- measurements

# run_load LABEL ARGS...: one acmebench run against the started server.
run_load() {
    local label=$1 out
    shift
    out=$TMP/load-$label-$(date +%s%N).out
    timeout $((B_DURATION + 180)) "$ACMEBENCH" --directory "$DIR_URL" \
        --ca "$CA_FILE" --http-port "$HTTP_PORT" --concurrency "$B_CONC" \
        --pid "$SERVER_PID" --label "$label" --duration "$B_DURATION" \
        --flow-timeout 60 "$@" > "$out" 2>&1
    grep -v '^RESULT' "$out" | sed 's/^/  /'
    grep '^RESULT' "$out" | tail -n 1 >> "$RESULTS"
}

# mixed_load FLOWS LABEL: the mixed load of the rounds (12 in flight, ES256
# and RS256 accounts, 1-3 names) against the running proxy, its "flows:"
# line only; for the by-hand tools (instructions.sh, stacks.sh).
mixed_load() {
    "$ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" \
        --http-port "$HTTP_PORT" --concurrency 12 --keys es256,rs256 \
        --names 1-3 --flows "$1" --duration 600 --pid "$SERVER_PID" \
        --label "$2" | grep -E '^ *flows'
}

# lego_run LABEL: LEGO_N sequential issuances (one account, new name each).
lego_run() {
    local label=$1 dir=$TMP/lego-$1 i fails=0 t0 t1
    t0=$(date +%s.%N)
    for i in $(seq 1 "$B_LEGO"); do
        LEGO_CA_CERTIFICATES="$CA_FILE" timeout 120 lego --server "$DIR_URL" \
            --email bench@example.org --accept-tos \
            --http --http.port "127.0.0.1:$HTTP_PORT" \
            --domains "lego-$i.r$RUN_TAG.bench.test" --path "$dir" run \
            >> "$TMP/lego-$label.log" 2>&1 || fails=$((fails + 1))
    done
    t1=$(date +%s.%N)
    t1=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
    echo "LEGO label=$label n=$B_LEGO failed=$fails secs=$t1" >> "$RESULTS"
    say "lego $label: $B_LEGO issuances, $fails failed, $t1 s"
}

# lmdb_bytes DB_DIR: bytes of pages in use, certificates stored.
lmdb_figures() {
    local db=$1 pages psize certs
    pages=$(mdb_stat -e "$db" | awk -F': ' '/Number of pages used/ {print $2}')
    psize=$(mdb_stat -e "$db" | awk -F': ' '/Page size/ {print $2}')
    certs=$(mdb_stat -s certs "$db" | awk -F': ' '/Entries/ {print $2}')
    echo "$((pages * psize)) ${certs:-0}"
}

# -------------------------------------------------------------- the runs

# ---------------------------------------------------------------- attack

A_FLOWS=${BENCH_ATTACK_FLOWS:-300}
A_SECS=${BENCH_ATTACK_SECS:-40}

# attack_run LABEL PER_IP: one proxy; the normal client (acmebench from
# 127.0.0.2, 4 flows in flight) runs A_FLOWS flows alone, then A_FLOWS more
# while connattack holds the full attack from 127.0.0.1 (started 8 s
# earlier, so every kind is established). The deadlines are the defaults.
attack_run() {
    local label=$1 per_ip=$2 aout=$TMP/attack-$1.out apid="" bout phase
    say "attack $label: max_conns_per_ip=$per_ip"
    bench_proxy_start "$TMP/attack-$label" "max_conns_per_ip = $per_ip" || {
        say "acmeproxy did not start: $START_ERR"; show_tail "$TMP/proxy.log"; return; }
    for phase in base under; do
        if [ "$phase" = under ]; then
            "$CONNATTACK" --port "$ACME_PORT" --duration "$A_SECS" \
                --idle 1000 --handshake 200 --slowloris 200 --slowbody 50 \
                --deadline-idle 5000 --deadline-handshake 5000 \
                --deadline-slowloris 10000 --deadline-slowbody 15000 \
                --tolerance-ms 1000 --pid "$SERVER_PID" --settle 6 > "$aout" 2>&1 &
            apid=$!
            sleep 8
        fi
        bout=$TMP/attack-$label-$phase.out
        timeout $((A_SECS + 60)) "$ACMEBENCH" --directory "$DIR_URL" --ca "$CA_FILE" \
            --http-port "$HTTP_PORT" --source 127.0.0.2 --concurrency 4 \
            --flows "$A_FLOWS" --duration $((A_SECS - 12)) --flow-timeout 60 \
            --pid "$SERVER_PID" --label "attack-$label-$phase" > "$bout" 2>&1
        grep '^RESULT' "$bout" | tail -n 1 >> "$RESULTS"
        grep -E '^flows:' "$bout" | sed "s/^/  $phase: /"
    done
    wait "$apid"
    grep '^ATTACK' "$aout" | tail -n 1 | sed "s/^ATTACK /ATTACK label=$label /" >> "$RESULTS"
    grep -v '^ATTACK' "$aout" | sed 's/^/  /'
    bench_stop
}

attack_main() {
    [ -x "$CONNATTACK" ] || { say "$CONNATTACK is not built"; return; }
    [ "${ATTACK_CAP_ONLY:-0}" = 1 ] || attack_run nocap 100000
    [ "${ATTACK_NOCAP_ONLY:-0}" = 1 ] || attack_run cap64 64
}

attack_table() {
    local label base under b99 u99 line
    grep -q '^ATTACK ' "$RESULTS" || return 0
    echo
    echo "== connection attack: 1000 idle TCP, 200 stalled TLS handshakes, 200 slowloris heads,"
    echo "   50 slow bodies from 127.0.0.1; normal client: acmebench, 4 flows in flight, from 127.0.0.2"
    printf '%-8s %17s %17s %9s %6s %21s %14s %s\n' caps "flow p50/p99 alone" "p50/p99 attacked" \
        "p99 ratio" failed "proxy RSS MB bef/pk/aft" "fds bef/pk/aft" "closed late"
    for label in nocap cap64; do
        base=$(grep "^RESULT label=attack-$label-base " "$RESULTS" | tail -n 1)
        under=$(grep "^RESULT label=attack-$label-under " "$RESULTS" | tail -n 1)
        line=$(grep "^ATTACK label=$label " "$RESULTS" | tail -n 1)
        [ -n "$base" ] && [ -n "$under" ] && [ -n "$line" ] || continue
        b99=$(kv "$base" p99_flow)
        u99=$(kv "$under" p99_flow)
        printf '%-8s %8s/%-8s %8s/%-8s %9s %6s %7s/%-6s/%-7s %4s/%-4s/%-4s %s\n' "$label" \
            "$(kv "$base" p50_flow)" "$b99" "$(kv "$under" p50_flow)" "$u99" \
            "$(awk -v u="$u99" -v b="$b99" 'BEGIN {if (b > 0) printf "%.2f", u / b; else print "-"}')" \
            "$(($(kv "$base" failed) + $(kv "$under" failed)))" \
            "$(awk -v k="$(kv "$line" rss_before_kb)" 'BEGIN {printf "%.1f", k / 1024}')" \
            "$(awk -v k="$(kv "$line" rss_peak_kb)" 'BEGIN {printf "%.1f", k / 1024}')" \
            "$(awk -v k="$(kv "$line" rss_after_kb)" 'BEGIN {printf "%.1f", k / 1024}')" \
            "$(kv "$line" fd_before)" "$(kv "$line" fd_peak)" "$(kv "$line" fd_after)" \
            "$(kv "$line" late) of $(( $(kv "$line" idle_opened) + $(kv "$line" handshake_opened) + $(kv "$line" slowloris_opened) + $(kv "$line" slowbody_opened) ))"
        printf '         longest-lived (ms, deadline): idle %s (%s), handshake %s (%s), slowloris %s (%s), slowbody %s (%s)\n' \
            "$(kv "$line" idle_max_ms)" "$(kv "$line" idle_deadline_ms)" \
            "$(kv "$line" handshake_max_ms)" "$(kv "$line" handshake_deadline_ms)" \
            "$(kv "$line" slowloris_max_ms)" "$(kv "$line" slowloris_deadline_ms)" \
            "$(kv "$line" slowbody_max_ms)" "$(kv "$line" slowbody_deadline_ms)"
    done
}

bench_main() {
    local r dd n out b certs attempt
    say "tmp $TMP; proxy $PROXY_BIN; loopback ports: acme $ACME_PORT http-01 $HTTP_PORT dns $DNS_PORT"
    say "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
    for f in "$PROXY_BIN" "$ACMEBENCH" "$SEEDER"; do
        [ -x "$f" ] || { echo "bench: $f is not built (make all bench-tools)"; return 2; }
    done
    start_knot || { echo "bench: knotd did not start"; show_tail "$TMP/knot.log"; return 2; }
    if [ "${BENCH_ATTACK:-1}" = 1 ]; then
        attack_main
    fi
    if [ "${ATTACK_ONLY:-0}" = 1 ]; then
        attack_table
        return
    fi
    command -v pebble >/dev/null || { echo "bench: pebble missing (test/bench/deps.sh)"; return 2; }
    "$ACMEBENCH" --crypto-bench --iterations 500 | sed 's/^/  /'

    for r in $(seq 1 "$B_ROUNDS"); do
        dd=$TMP/proxy-data-$r
        say "round $r: acmeproxy"
        if bench_proxy_start "$dd"; then
            run_load acmeproxy --flows "$B_FLOWS"
            bench_stop
            read -r n certs < <(lmdb_figures "$dd/db")
            echo "LMDB label=acmeproxy bytes=$n certs=$certs" >> "$RESULTS"
        else
            say "acmeproxy did not start: $START_ERR"; show_tail "$TMP/proxy.log"
        fi
        # Debian's Pebble 2.4 sometimes stops answering under concurrent
        # load (every handler hangs; its log shows requests that never
        # finish): such a run has failed flows and is tried once more.
        for attempt in 1 2; do
            say "round $r: pebble$([ "$attempt" = 2 ] && echo " (again)")"
            if ! bench_pebble_start; then
                say "pebble did not start: $START_ERR"; show_tail "$TMP/pebble.log"
                break
            fi
            run_load pebble --flows "$B_FLOWS"
            bench_stop
            tail -n 1 "$RESULTS" | grep -q ' failed=0 ' && break
            echo "STALL label=pebble round=$r" >> "$RESULTS"
            say "pebble run had failed flows (it stalled); trying once more"
        done
        if [ "${BENCH_PG:-1}" = 1 ] && [ -f "$dd/ca.pem" ]; then
            for n in 1 2; do
                say "round $r: acmeproxy on PostgreSQL, $n instance(s)"
                if bench_pg_start "$n" "bench_r${r}_$n" "$dd"; then
                    run_load "postgresql-$n" --flows "$B_FLOWS"
                else
                    say "PostgreSQL run did not start: $START_ERR"; show_tail "$TMP/proxy.log"
                fi
                bench_stop
            done
        fi
    done
    [ "$PG_STARTED" = 1 ] && pg_stop

    if [ "$B_LEGO" -gt 0 ]; then
        if bench_proxy_start "$TMP/proxy-lego"; then lego_run acmeproxy; bench_stop; fi
        if bench_pebble_start; then lego_run pebble; bench_stop; fi
    fi

    for n in $B_SCALE; do
        dd=$TMP/scale-$n
        say "scale: seeding $n orders"
        out=$("$SEEDER" --data-dir "$dd" --orders "$n" --map-size-mb "$MAP_MB" --seconds 1800 2>&1)
        echo "$out" | sed 's/^/  /'
        echo "$out" | grep '^SEED ' | sed "s/^SEED /SEED label=$n /" >> "$RESULTS"
        if bench_proxy_start "$dd"; then
            run_load "stored-$n" --flows "$B_SCALE_FLOWS"
            bench_stop
            read -r b certs < <(lmdb_figures "$dd/db")
            echo "LMDB label=stored-$n bytes=$b certs=$certs" >> "$RESULTS"
        fi
        [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$dd"
    done
    print_table
}

# -------------------------------------------------------------- the table

kv() { sed -nE "s/.* $2=([^ ]*).*/\1/p" <<<" $1"; }

# median_fps LABEL: median flows/s of LABEL's runs that had no failed flow.
median_fps() {
    grep "^RESULT label=$1 " "$RESULTS" | grep ' failed=0 ' |
        sed -nE 's/.* fps=([^ ]*).*/\1/p' | sort -n |
        awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2];
             else if (NR) printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

print_table() {
    local line label fps pfps xfps ratio
    echo
    echo "== acmebench: $B_CONC flows in flight, ES256+RS256 accounts, 1-3 names, http-01"
    echo "   p50/p99 in ms; cpu/f: server CPU ms per flow; cli/f: the load generator's (same cores); RSS and anon (RssAnon peak: heap, not the LMDB map) in MB"
    printf '%-14s %7s %6s %5s %5s %13s %13s %13s %13s %13s %13s %11s %5s\n' server flows/s failed cpu/f cli/f \
        newOrder challenge authzPoll finalize cert flow "RSS idle/pk" anon
    while read -r line; do
        case $line in RESULT*) ;; *) continue ;; esac
        printf '%-14s %7s %6s %5s %5s %6s/%-6s %6s/%-6s %6s/%-6s %6s/%-6s %6s/%-6s %6s/%-6s %5s/%-5s %5s\n' \
            "$(kv "$line" label)" "$(kv "$line" fps)" "$(kv "$line" failed)" "$(kv "$line" srv_cpu_ms)" \
            "$(kv "$line" cli_cpu_ms)" \
            "$(kv "$line" p50_newOrder)" "$(kv "$line" p99_newOrder)" \
            "$(kv "$line" p50_challenge)" "$(kv "$line" p99_challenge)" \
            "$(kv "$line" p50_authzPoll)" "$(kv "$line" p99_authzPoll)" \
            "$(kv "$line" p50_finalize)" "$(kv "$line" p99_finalize)" \
            "$(kv "$line" p50_cert)" "$(kv "$line" p99_cert)" \
            "$(kv "$line" p50_flow)" "$(kv "$line" p99_flow)" \
            "$(awk -v k="$(kv "$line" rss_idle_kb)" 'BEGIN {printf "%.1f", k / 1024}')" \
            "$(awk -v k="$(kv "$line" rss_peak_kb)" 'BEGIN {printf "%.1f", k / 1024}')" \
            "$(awk -v k="$(kv "$line" anon_peak_kb)" 'BEGIN {printf "%.1f", k / 1024}')"
    done < "$RESULTS"
    pfps=$(median_fps acmeproxy)
    xfps=$(median_fps pebble)
    for label in postgresql-1 postgresql-2; do
        fps=$(median_fps "$label")
        [ -n "$fps" ] && [ -n "$pfps" ] &&
            echo "flows/s, median of the rounds: LMDB $pfps, $label instance(s) $fps ($(awk -v a="$fps" -v b="$pfps" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}') of LMDB)"
    done
    if [ -n "$pfps" ] && [ -n "$xfps" ]; then
        ratio=$(awk -v p="$pfps" -v x="$xfps" 'BEGIN {if (x > 0) printf "%.2f", p / x; else print "-"}')
        echo "ratio acmeproxy/pebble, flows/s (median of the rounds without failed flows): $pfps / $xfps = $ratio"
    fi
    if grep -E '^RESULT ' "$RESULTS" | grep -vq ' failed=0 '; then
        echo "note: a run had failed flows (see its errors above); its flows/s is not comparable"
    fi
    attack_table
    while read -r line; do
        case $line in
            LEGO*) printf 'lego, %s sequential issuances: %-10s %6.1f s (%s failed)\n' \
                "$(kv "$line" n)" "$(kv "$line" label)" "$(kv "$line" secs)" "$(kv "$line" failed)" ;;
            LMDB*) label=$(kv "$line" label)
                printf 'LMDB after %-14s %8.1f MB in use, %7s certificates, %6s bytes per certificate\n' \
                    "$label:" "$(awk -v b="$(kv "$line" bytes)" 'BEGIN {print b / 1048576}')" "$(kv "$line" certs)" \
                    "$(awk -v b="$(kv "$line" bytes)" -v c="$(kv "$line" certs)" 'BEGIN {if (c > 0) printf "%d", b / c; else print "-"}')" ;;
            STALL*) printf 'pebble stalled (requests hung, flows failed) in round %s\n' "$(kv "$line" round)" ;;
            SEED*) printf 'seeded %s orders (%s accounts) in %s s\n' "$(kv "$line" orders)" \
                "$(kv "$line" accounts)" "$(kv "$line" secs)" ;;
        esac
    done < "$RESULTS"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    bench_main
fi
