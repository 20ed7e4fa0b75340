#!/usr/bin/env bash
# TLS handshake cost of the ACME listener: mbedTLS's ECDHE and ECDSA alone
# (test/bench/ec_speed.c, CPU time), then `openssl s_time` against a fresh
# proxy (make bench's configuration), full handshakes (-new) and resumed
# ones (-reuse), with the proxy's CPU per handshake from /proc/PID/stat.
# Measures only, never pass/fail. Run from the repository root after
# `make all`:
#   test/bench/tls_time.sh [SECONDS]     (default 10 per mode)
#   TLS_TIME_GROUPS=P-256:P-384 test/bench/tls_time.sh   (the groups the
#       client offers, in its order; default: OpenSSL's, X25519 first)
#   TLS_TIME_CIPHER=ECDHE-ECDSA-AES128-GCM-SHA256 ...   (the client's suites)
#   BENCH_PROXY=/path/to/acmeproxy ...   (another build, for an A/B run)
set -u
cd "$(dirname "$0")/../.."

T_SECS=${1:-10}
# shellcheck source=run.sh
source test/bench/run.sh

if [ -n "${TLS_TIME_GROUPS:-}" ]; then
    # s_time has no -groups: OpenSSL's configuration file sets them.
    cat > "$TMP/openssl-groups.cnf" <<EOC
openssl_conf = tls_time_conf
[tls_time_conf]
ssl_conf = tls_time_ssl
[tls_time_ssl]
system_default = tls_time_default
[tls_time_default]
Groups = $TLS_TIME_GROUPS
EOC
    export OPENSSL_CONF=$TMP/openssl-groups.cnf
fi
CIPHER_ARGS=()
[ -n "${TLS_TIME_CIPHER:-}" ] && CIPHER_ARGS=(-cipher "$TLS_TIME_CIPHER")

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

tls_time_one() {   # tls_time_one MODE (new | reuse)
    local mode=$1 c0 c1 out n hz
    hz=$(getconf CLK_TCK)
    c0=$(cpu_ticks "$SERVER_PID")
    out=$(timeout $((T_SECS + 30)) openssl s_time -connect "127.0.0.1:$ACME_PORT" \
        "-$mode" -time "$T_SECS" "${CIPHER_ARGS[@]}" 2>&1 | grep -E '^[0-9]+ connections in')
    c1=$(cpu_ticks "$SERVER_PID")
    n=$(awk '{print $1}' <<<"$out")
    awk -v m="$mode" -v n="$n" -v c="$((c1 - c0))" -v hz="$hz" -v s="$T_SECS" \
        'BEGIN { if (n == 0) { print "  " m ": no connections"; exit }
                 printf "  %-6s %6d handshakes in %d s = %7.1f/s; proxy CPU %.3f ms per handshake\n",
                        m, n, s, n / s, c * 1000 / hz / n }'
}

tls_time_main() {
    # The public-key operations alone, in CPU time (load-independent).
    if cc -O2 -Wall -Wextra -Werror -o "$TMP/ec_speed" test/bench/ec_speed.c -lmbedcrypto; then
        echo "ec_speed: mbedTLS $(dpkg-query -W -f '${Version}' libmbedtls-dev 2>/dev/null)"
        "$TMP/ec_speed" 200
    fi
    bench_proxy_start "$TMP/tls-time" || { echo "tls_time: proxy did not start"; return 1; }
    echo "tls_time: $PROXY_BIN; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "  negotiated: $(openssl s_client -connect "127.0.0.1:$ACME_PORT" "${CIPHER_ARGS[@]}" \
        < /dev/null 2>/dev/null | grep -E 'Server Temp Key|Cipher is' | sed 's/^ *//' | tr '\n' ' ')"
    tls_time_one new
    tls_time_one reuse
    bench_stop
}

tls_time_main
