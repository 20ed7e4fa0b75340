#!/usr/bin/env bash
# The rest of RFC 8555, RFC 9773 (renewal information) and ACME profiles on
# the wire: key rollover, deactivation, the orders list, revocation by the
# certificate key and by authorization, certificate formats, renewalInfo,
# replaces, profiles; each with its negatives (test/integration/wire_rfc.py,
# python3-acme/josepy). Reuses run.sh's knot DNS, ports and proxy start.
#
# Usage: test/integration/protocol.sh [PROXY_BINARY]   (from the repo root)
# Ends with "protocol: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

# Small pages so pagination is exercised; two profiles, one the default.
proxy_write_config() {
    cat > "$TMP/proxy.conf" <<CONF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $DATA_DIR
log_level = debug

[acme]
wait_ms = 1000
orders_per_page = 2
default_profile = tlsserver
renewal_explanation_url = https://pki.example.test/renewals

[profile.tlsserver]
description = TLS server certificates, 90 days
template = tls-server
validity_days = 90

[profile.shortlived]
description = Short-lived TLS server certificates, 7 days
template = tls-short
validity_days = 7

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
type = local
CONF
}

test_wire_rfc() {
    local line out=$TMP/wire_rfc.log
    timeout 300 "$PY" "$HERE/wire_rfc.py" "$DIR_URL" "$CA_FILE" "$HTTP_PORT" \
        "$DATA_DIR" > "$out" 2>&1
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "rfc: ${line#ok - }" ;;
            "not ok - "*) line=${line#not ok - }; not_ok "rfc: ${line%%: *}" "${line#*: }" ;;
            *) echo "# $line" ;;
        esac
    done < "$out"
    if grep -Eq '^rfc: [0-9]+ passed, [0-9]+ failed$' "$out"; then
        ok "wire_rfc_completed"
    else
        not_ok "wire_rfc_completed" "wire_rfc.py ended without its summary line"
    fi
}

protocol_main() {
    echo "# protocol suite: $TARGET; tmp $TMP"
    if [ ! -x "$TARGET" ]; then
        not_ok "proxy_binary" "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok "dns_server_starts" "knotd did not answer"
    elif test_server_starts; then
        test_wire_rfc
        test_server_stop_clean
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 40
    fi
    echo "protocol: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

protocol_main
