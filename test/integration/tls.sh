#!/usr/bin/env bash
# The ACME listener's TLS (proxy/gate_tls.c) seen by OpenSSL's s_client:
# the ECDHE group the server prefers, session tickets that resume without
# a full handshake, and the fall back to a full handshake for a ticket
# that was tampered with or sealed under another key (the keys of an
# earlier run). Reuses run.sh's ports and proxy start.
#
# Usage: test/integration/tls.sh [PROXY_BINARY]   (from the repo root)
# Ends with "tls: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

REQ='GET /directory HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'

# tls_get LOG [S_CLIENT ARGS...]: one connection, GET /directory on it;
# s_client's report (session, groups) and the answer in LOG. Bounded.
tls_get() {
    local log=$1
    shift
    printf "$REQ" | timeout 10 openssl s_client -connect "127.0.0.1:$ACME_PORT" \
        -servername localhost -CAfile "$CA_FILE" -verify_return_error \
        -ign_eof "$@" > "$log" 2>&1
}

# handshake_kind LOG: "New" or "Reused" (s_client's line), empty if none
handshake_kind() {
    sed -nE 's/^(New|Reused), .*/\1/p' "$1" | head -n 1
}

# answered LOG: the GET on that connection got the directory
answered() {
    grep -q '^HTTP/1.1 200' "$1" && grep -q '"newNonce"' "$1"
}

# check_handshake NAME LOG WANT: the connection had a WANT (New or
# Reused) handshake and the GET was answered on it.
check_handshake() {
    local name=$1 log=$2 want=$3 got
    got=$(handshake_kind "$log")
    if [ "$got" != "$want" ]; then
        not_ok "$name" "s_client reports '${got:-no handshake}', want '$want'"
        grep -E 'error|alert|verify' "$log" | head -n 5 | sed 's/^/#   /'
        return 1
    fi
    if ! answered "$log"; then
        not_ok "$name" "no 200 with the directory on the connection"
        tail -n 5 "$log" | sed 's/^/#   /'
        return 1
    fi
    ok "$name"
}

# ---------------------------------------------------------------- groups

# X25519 is the server's first choice (OpenSSL offers it first too).
test_group_x25519() {
    local name=tls_ecdhe_x25519 log=$TMP/s-x25519.log
    tls_get "$log"
    if grep -q 'Server Temp Key: X25519' "$log" && answered "$log"; then
        ok "$name"
    else
        not_ok "$name" "$(grep -m1 'Server Temp Key' "$log" || echo 'no handshake')"
    fi
}

# The server's order, not the client's: P-256 before P-384 (the default
# list of mbedTLS 2.28 put P-384 and P-521 first).
test_group_server_order() {
    local name=tls_ecdhe_p256_before_p384 log=$TMP/s-p256.log
    tls_get "$log" -groups P-384:P-521:P-256
    if grep -q 'Server Temp Key: ECDH, prime256v1' "$log" && answered "$log"; then
        ok "$name"
    else
        not_ok "$name" "$(grep -m1 'Server Temp Key' "$log" || echo 'no handshake')"
    fi
}

# ---------------------------------------------------------------- tickets

# A full handshake gives a ticket with the server's lifetime hint.
test_ticket_issued() {
    local name=tls_ticket_issued log=$TMP/s-first.log hint
    tls_get "$log" -sess_out "$TMP/sess1.pem"
    check_handshake "${name}_full_handshake" "$log" New || return
    hint=$(openssl sess_id -in "$TMP/sess1.pem" -noout -text 2>/dev/null |
           sed -nE 's/.*ticket lifetime hint: ([0-9]+).*/\1/p')
    if [ "$hint" = 14400 ]; then
        ok "$name"
    else
        not_ok "$name" "ticket lifetime hint '${hint:-none}', want 14400 (GATE_TLS_TICKET_SECS)"
    fi
}

test_ticket_resumes() {
    local log=$TMP/s-resume.log
    tls_get "$log" -sess_in "$TMP/sess1.pem"
    check_handshake tls_ticket_resumes "$log" Reused || return
    # A ticket is not single-use (a client that lost the new one it got
    # on resumption may come back with the old one while it is valid).
    tls_get "$TMP/s-resume2.log" -sess_in "$TMP/sess1.pem"
    check_handshake tls_ticket_resumes_again "$TMP/s-resume2.log" Reused
}

# tamper_ticket IN OUT: OUT is IN with one byte in the middle of its
# ticket flipped. The ticket's place in the session's DER comes from
# openssl asn1parse (SSL_SESSION's [10] ticket, an OCTET STRING).
tamper_ticket() {
    local in=$1 out=$2 der=$TMP/tamper.der line off hl len
    openssl sess_id -in "$in" -outform DER -out "$der" 2>/dev/null || return 1
    line=$(openssl asn1parse -inform DER -in "$der" |
           awk '/cont \[ 10 \]/ {getline; print; exit}')
    off=$(sed -nE 's/^ *([0-9]+):d=.*/\1/p' <<<"$line")
    hl=$(sed -nE 's/.* hl= *([0-9]+) .*/\1/p' <<<"$line")
    len=$(sed -nE 's/.* l= *([0-9]+) .*/\1/p' <<<"$line")
    [ -n "$off" ] && [ -n "$hl" ] && [ -n "$len" ] && [ "$len" -gt 32 ] || return 1
    "$PY" - "$der" "$((off + hl + len / 2))" <<'EOF' || return 1
import sys
path, pos = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, 'rb').read())
b[pos] ^= 0x5a
open(path, 'wb').write(b)
EOF
    openssl sess_id -inform DER -in "$der" -out "$out" 2>/dev/null
}

test_ticket_tampered() {
    local name=tls_tampered_ticket_full_handshake log=$TMP/s-tampered.log
    if ! tamper_ticket "$TMP/sess1.pem" "$TMP/sess-bad.pem"; then
        not_ok "$name" "could not find the ticket in the saved session"
        return
    fi
    if cmp -s "$TMP/sess1.pem" "$TMP/sess-bad.pem"; then
        not_ok "$name" "the tampered session is the same as the saved one"
        return
    fi
    tls_get "$log" -sess_in "$TMP/sess-bad.pem"
    check_handshake "$name" "$log" New
}

# After a restart the ticket keys are new: the ticket of the first run
# gets a full handshake (and a new ticket that resumes).
test_ticket_other_key() {
    local log=$TMP/s-otherkey.log
    tls_get "$log" -sess_in "$TMP/sess1.pem" -sess_out "$TMP/sess3.pem"
    check_handshake tls_ticket_other_key_full_handshake "$log" New || return
    tls_get "$TMP/s-new-key.log" -sess_in "$TMP/sess3.pem"
    check_handshake tls_new_key_ticket_resumes "$TMP/s-new-key.log" Reused
}

# ---------------------------------------------------------------- own certificates

# test_own_cert NAME KEYOPTS...: the proxy restarted with [server] tls_cert
# and tls_key made by openssl req with KEYOPTS serves them: a full
# handshake verifies, the GET is answered, a ticket resumes.
test_own_cert() {
    local name=$1 dir=$TMP/own-$1 log
    shift
    mkdir -p "$dir"
    if ! openssl req -x509 "$@" -nodes -days 2 -keyout "$dir/key.pem" \
            -out "$dir/cert.pem" -subj /CN=localhost \
            -addext subjectAltName=DNS:localhost,IP:127.0.0.1 > "$dir/req.log" 2>&1; then
        not_ok "$name" "openssl req failed"
        return
    fi
    chmod 600 "$dir/key.pem"
    server_stop
    sed -i '/^tls_cert *=/d; /^tls_key *=/d' "$TMP/proxy.conf"
    sed -i "s|^\[server\]\$|[server]\ntls_cert = $dir/cert.pem\ntls_key = $dir/key.pem|" "$TMP/proxy.conf"
    # The start-up check (curl) trusts this certificate while it runs.
    if ! CA_FILE=$dir/cert.pem server_start; then
        not_ok "$name" "${START_ERR:-the proxy did not start}"
        show_tail "$TMP/proxy.log" 20
        return
    fi
    log=$dir/s-full.log
    printf "$REQ" | timeout 10 openssl s_client -connect "127.0.0.1:$ACME_PORT" \
        -servername localhost -CAfile "$dir/cert.pem" -verify_return_error \
        -ign_eof -sess_out "$dir/sess.pem" > "$log" 2>&1
    check_handshake "${name}_full_handshake" "$log" New || return
    log=$dir/s-resumed.log
    printf "$REQ" | timeout 10 openssl s_client -connect "127.0.0.1:$ACME_PORT" \
        -servername localhost -CAfile "$dir/cert.pem" -verify_return_error \
        -ign_eof -sess_in "$dir/sess.pem" > "$log" 2>&1
    check_handshake "${name}_resumes" "$log" Reused
}

# ---------------------------------------------------------------- main

main() {
    echo "# tmp $TMP; acme port $ACME_PORT; proxy $TARGET"
    if [ ! -x "$TARGET" ]; then
        not_ok "proxy_binary" "$TARGET is not an executable file"
    elif test_server_starts; then
        test_group_x25519
        test_group_server_order
        test_ticket_issued
        test_ticket_resumes
        test_ticket_tampered
        if test_restart; then
            test_ticket_other_key
            # Keys other than the embedded CA's P-256 one: an RSA key is
            # used as it is, an EC key of another curve as ECDSA.
            test_own_cert tls_own_rsa_cert -newkey rsa:2048
            test_own_cert tls_own_p384_cert -newkey ec -pkeyopt ec_paramgen_curve:P-384
        fi
        test_server_stop_clean
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 40
    fi
    echo "tls: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

main
