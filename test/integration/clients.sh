#!/usr/bin/env bash
# Other real clients from Debian against the proxy: certbot (RSA account
# key, RS256), uacme (with its hook script, key rollover and revocation)
# and dehydrated (with its well-known directory). Reuses run.sh's knot DNS,
# ports and proxy start.
#
# Usage: test/integration/clients.sh [PROXY_BINARY]   (from the repo root)
# Ends with "clients: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

WWW=$TMP/www               # served on the http-01 port for uacme/dehydrated
WEB_PID=""

web_start() {
    mkdir -p "$WWW/.well-known/acme-challenge"
    "$PY" -m http.server --bind 127.0.0.1 --directory "$WWW" "$HTTP_PORT" \
        > "$TMP/web.log" 2>&1 &
    WEB_PID=$!
    PIDS+=("$WEB_PID")
    wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/"
}

web_stop() {
    [ -n "$WEB_PID" ] && stop_pid "$WEB_PID" 5
    WEB_PID=""
}

# Checks a PEM chain file: leaf verifies against ca.pem through the rest,
# and its SANs are exactly the expected names.
chain_ok() {   # chain_ok FILE NAME... -> prints the reason on failure
    local file=$1 leaf rest sans want
    shift
    leaf=$TMP/chk-leaf.pem
    rest=$TMP/chk-rest.pem
    awk '/BEGIN CERT/{n++} n==1' "$file" > "$leaf"
    awk '/BEGIN CERT/{n++} n>1' "$file" > "$rest"
    if ! openssl verify -CAfile "$CA_FILE" -untrusted "$rest" "$leaf" > "$TMP/verify.log" 2>&1; then
        cat "$TMP/verify.log"
        return 1
    fi
    sans=$(openssl x509 -in "$leaf" -noout -ext subjectAltName 2>/dev/null |
           grep -o 'DNS:[^,]*' | sed 's/DNS://' | sort | tr '\n' ' ')
    want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    if [ "$sans" != "$want" ]; then
        echo "SANs '$sans', want '$want'"
        return 1
    fi
}

serial_of() {
    awk '/BEGIN CERT/{n++} n==1' "$1" | openssl x509 -noout -serial 2>/dev/null
}

# ---------------------------------------------------------------- certbot

CB_NAME=cb.a.test
certbot_cmd() {   # certbot_cmd LOGNAME ARGS...
    local log=$TMP/$1.log
    shift
    REQUESTS_CA_BUNDLE=$CA_FILE timeout 180 certbot "$@" \
        --server "$DIR_URL" --non-interactive \
        --config-dir "$TMP/certbot/conf" --work-dir "$TMP/certbot/work" \
        --logs-dir "$TMP/certbot/logs" > "$log" 2>&1
}

test_certbot() {
    local live=$TMP/certbot/conf/live/$CB_NAME out s1 s2
    if ! certbot_cmd certbot-issue certonly --standalone \
            --http-01-address 127.0.0.1 --http-01-port "$HTTP_PORT" \
            --agree-tos -m admin@example.test --key-type ecdsa -d "$CB_NAME"; then
        not_ok certbot_issue "certbot certonly failed"
        show_tail "$TMP/certbot-issue.log"
        return
    fi
    if out=$(chain_ok "$live/fullchain.pem" "$CB_NAME"); then
        ok certbot_issue
    else
        not_ok certbot_issue "$out"
        return
    fi
    s1=$(serial_of "$live/cert.pem")
    if certbot_cmd certbot-renew renew --force-renewal --no-random-sleep-on-renew \
            --http-01-address 127.0.0.1 --http-01-port "$HTTP_PORT" &&
       s2=$(serial_of "$live/cert.pem") && [ -n "$s2" ] && [ "$s1" != "$s2" ] &&
       out=$(chain_ok "$live/fullchain.pem" "$CB_NAME"); then
        ok certbot_renew_force
    else
        not_ok certbot_renew_force "renewal failed or kept serial $s1 ${out:-}"
        show_tail "$TMP/certbot-renew.log"
    fi
    if certbot_cmd certbot-revoke revoke --cert-path "$live/cert.pem" \
            --reason keycompromise --no-delete-after-revoke; then
        ok certbot_revoke
    else
        not_ok certbot_revoke "certbot revoke failed"
        show_tail "$TMP/certbot-revoke.log"
    fi
    # certbot 2.1 fails with its own AttributeError while reporting the
    # problem, so the server's answer is read from certbot's debug log.
    : > "$TMP/certbot/logs/letsencrypt.log"
    if ! certbot_cmd certbot-revoke2 revoke --cert-path "$live/cert.pem" \
            --no-delete-after-revoke &&
       grep -q '"type":"urn:ietf:params:acme:error:alreadyRevoked"' \
           "$TMP/certbot/logs/letsencrypt.log"; then
        ok certbot_revoke_again_refused
    else
        not_ok certbot_revoke_again_refused "second revoke not refused as alreadyRevoked"
        show_tail "$TMP/certbot-revoke2.log"
    fi
}

# ---------------------------------------------------------------- uacme

UA_NAME=ua.a.test
# uacme has no option for an extra CA: it runs in a private mount namespace
# with a bundle that includes the test root bind-mounted over the system's.
uacme_cmd() {   # uacme_cmd LOGNAME ARGS...
    local log=$TMP/$1.log bundle=$TMP/uacme-bundle.pem
    shift
    cat /etc/ssl/certs/ca-certificates.crt "$CA_FILE" > "$bundle"
    timeout 120 unshare -m sh -c \
        'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && shift && exec uacme "$@"' \
        "$bundle" -- -v -a "$DIR_URL" -c "$TMP/uacme" -h "$TMP/uacme-hook.sh" -y "$@" \
        > "$log" 2>&1
}

write_uacme_hook() {
    cat > "$TMP/uacme-hook.sh" <<HOOK
#!/bin/sh
# uacme hook: METHOD TYPE IDENT TOKEN KEY_AUTH; accept only http-01.
method=\$1 type=\$2 token=\$4 auth=\$5
dir="$WWW/.well-known/acme-challenge"
[ "\$type" = http-01 ] || exit 1
case \$method in
    begin) printf '%s' "\$auth" > "\$dir/\$token" ;;
    done|failed) rm -f "\$dir/\$token" ;;
esac
HOOK
    chmod +x "$TMP/uacme-hook.sh"
}

test_uacme() {
    local cert=$TMP/uacme/$UA_NAME/cert.pem out s1 s2
    write_uacme_hook
    if ! uacme_cmd uacme-new new admin@example.test; then
        not_ok uacme_new_account "uacme new failed"
        show_tail "$TMP/uacme-new.log"
        return
    fi
    ok uacme_new_account
    if uacme_cmd uacme-issue issue "$UA_NAME" "www.$UA_NAME" &&
       out=$(chain_ok "$cert" "$UA_NAME" "www.$UA_NAME"); then
        ok uacme_issue
    else
        not_ok uacme_issue "${out:-uacme issue failed}"
        show_tail "$TMP/uacme-issue.log"
        return
    fi
    # Key rollover (RFC 8555 §7.3.5) with a real client, then issue again
    # with the new key: the account must be the same one.
    s1=$(serial_of "$cert")
    sleep 1   # uacme refuses two issuances of one name within a second
    if uacme_cmd uacme-newkey newkey && uacme_cmd uacme-reissue -f issue "$UA_NAME" "www.$UA_NAME" &&
       s2=$(serial_of "$cert") && [ "$s1" != "$s2" ]; then
        ok uacme_newkey_then_issue
    else
        not_ok uacme_newkey_then_issue "key rollover or the issuance after it failed"
        show_tail "$TMP/uacme-newkey.log"
        show_tail "$TMP/uacme-reissue.log"
    fi
    if uacme_cmd uacme-revoke revoke "$cert"; then
        ok uacme_revoke
    else
        not_ok uacme_revoke "uacme revoke failed"
        show_tail "$TMP/uacme-revoke.log"
    fi
}

# ---------------------------------------------------------------- dehydrated

DH_NAME=dh.a.test
dehydrated_cmd() {   # dehydrated_cmd LOGNAME ARGS...
    local log=$TMP/$1.log
    shift
    CURL_CA_BUNDLE=$CA_FILE timeout 120 dehydrated -f "$TMP/dehydrated.conf" "$@" \
        > "$log" 2>&1
}

test_dehydrated() {
    local out cert
    mkdir -p "$TMP/dehydrated"
    cat > "$TMP/dehydrated.conf" <<CONF
CA="$DIR_URL"
CHALLENGETYPE="http-01"
BASEDIR="$TMP/dehydrated"
WELLKNOWN="$WWW/.well-known/acme-challenge"
CONTACT_EMAIL="admin@example.test"
KEY_ALGO="secp384r1"
CONF
    if ! dehydrated_cmd dh-register --register --accept-terms; then
        not_ok dehydrated_register "dehydrated --register failed"
        show_tail "$TMP/dh-register.log"
        return
    fi
    ok dehydrated_register
    cert=$TMP/dehydrated/certs/$DH_NAME/fullchain.pem
    if dehydrated_cmd dh-issue -c -d "$DH_NAME" && out=$(chain_ok "$cert" "$DH_NAME"); then
        ok dehydrated_issue
    else
        not_ok dehydrated_issue "${out:-dehydrated -c failed}"
        show_tail "$TMP/dh-issue.log"
    fi
}

clients_main() {
    echo "# clients suite: $TARGET; tmp $TMP"
    if [ ! -x "$TARGET" ]; then
        not_ok "proxy_binary" "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok "dns_server_starts" "knotd did not answer"
    elif test_server_starts; then
        test_certbot
        if web_start; then
            test_uacme
            test_dehydrated
            web_stop
        else
            not_ok http01_web_server "python http.server did not start"
        fi
        test_server_stop_clean
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 30
    fi
    echo "clients: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

# Sourcing this file (test/integration/ha.sh reuses its clients) runs none
# of its tests.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then clients_main; fi
