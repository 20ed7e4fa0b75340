#!/usr/bin/env bash
# Ansible at server creation (deploy/ansible, role acmeproxy_enrol) against
# a running proxy: ansible-playbook on localhost (connection local, every
# path under a scratch root, no root needed) mints an EAB key through the
# admin API with the token from a vault-encrypted variable, makes the key
# and CSR with community.crypto, gets the certificate of [profile.client]
# with acme_account/acme_certificate through http-01 from a temporary
# webroot (served here by python's http.server on the proxy's validation
# port), installs it and the lego renewal timer's env file and units. The
# leaf's extendedKeyUsage is clientAuth only (openssl), its chain verifies
# for sslclient and not for sslserver; the second run reports changed=0;
# neither token nor HMAC key shows in Ansible's output. The CSR rules of
# the client profile: lego --csr with a serverAuth CSR is refused
# (badCSR), with a clientAuth one it is issued.
#
# Usage: test/integration/ansible.sh [PROXY_BINARY]   (from the repo root)
# Ends with "ansible: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

REPO=$(pwd)
read -r ADMIN_PORT < <("$PY" "$HERE/free_ports.py" 1)
ADMIN=http://127.0.0.1:$ADMIN_PORT
TOKEN=$(openssl rand -hex 32)
HOST_ROOT=$TMP/host             # the managed host's "/"
WEBROOT=$HOST_ROOT/var/lib/acmeproxy-enrol/webroot
NAME=host1.a.test
CRT=$HOST_ROOT/etc/ssl/certs/host1.crt
FULLCHAIN=$HOST_ROOT/etc/ssl/certs/host1.fullchain.crt
KEY=$HOST_ROOT/etc/ssl/private/host1.key
ENVF=$HOST_ROOT/etc/lego-renew/host1.env

write_config() {
    proxy_write_config
    printf 'ansible:%s\n' "$TOKEN" > "$TMP/admin-tokens"
    chmod 0600 "$TMP/admin-tokens"
    cat >> "$TMP/proxy.conf" <<EOF

[admin]
listen = 127.0.0.1:$ADMIN_PORT
token_file = $TMP/admin-tokens

[profile.client]
description = machine identity (clientAuth)
template = clientAuth
tls_server = no
EOF
}

# The web server of the temporary webroot, on the proxy's http-01 port.
start_webroot_server() {
    mkdir -p "$WEBROOT"
    "$PY" -m http.server --bind 127.0.0.1 --directory "$WEBROOT" "$HTTP_PORT" \
        > "$TMP/webroot.log" 2>&1 &
    PIDS+=($!)
    wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/"
}

write_ansible_inputs() {
    local a=$TMP/ansible
    mkdir -p "$a/tmp" "$TMP/units"
    printf '[defaults]\n' > "$a/ansible.cfg"
    printf 'vault-pass-%s\n' "$(openssl rand -hex 8)" > "$a/vault-pass"
    ansible-vault encrypt_string --vault-password-file "$a/vault-pass" \
        --name vault_acmeproxy_admin_token "$TOKEN" > "$a/vault.yml" 2> "$a/vault.err" ||
        return 1
    printf 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' \
        > "$a/inventory"
    # Stand-ins for the units of deploy/clients/linux: the role copies
    # whatever pair it finds there.
    printf '[Unit]\nDescription=lego renew %%i (stand-in)\n' > "$TMP/units/lego-renew@.service"
    printf '[Unit]\nDescription=lego renew timer %%i (stand-in)\n' > "$TMP/units/lego-renew@.timer"
    cat > "$a/vars.yml" <<EOF
enrol_hosts: localhost
enrol_become: false
acmeproxy_admin_url: "$ADMIN"
acmeproxy_directory: "$DIR_URL"
acmeproxy_root_ca: "$CA_FILE"
acmeproxy_root: "$HOST_ROOT"
acmeproxy_cert_name: host1
acmeproxy_names: ["$NAME"]
acmeproxy_team: team-ansible
acmeproxy_units_src: "$TMP/units"
acmeproxy_email: "ops@a.test"
EOF
}

# run_playbook N: the example playbook; output in $TMP/ansible-N.log
run_playbook() {
    local a=$TMP/ansible
    ANSIBLE_LOCAL_TEMP=$a/tmp ANSIBLE_REMOTE_TEMP=$a/tmp ANSIBLE_NOCOLOR=1 ANSIBLE_PIPELINING=1 \
    ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_HOME=$a/home ANSIBLE_CONFIG=$a/ansible.cfg \
        timeout 120 ansible-playbook -i "$a/inventory" \
        --vault-password-file "$a/vault-pass" -e "@$a/vault.yml" -e "@$a/vars.yml" \
        "$REPO/deploy/ansible/enrol.yml" > "$TMP/ansible-$1.log" 2>&1
}

recap() {   # recap N FIELD: the number after FIELD= in the play recap
    grep -E '^localhost +:' "$TMP/ansible-$1.log" | sed -E "s/.* $2=([0-9]+).*/\1/"
}

test_first_run() {
    local changed
    if run_playbook 1; then
        ok playbook_first_run
    else
        not_ok playbook_first_run "ansible-playbook failed"
        tail -n 30 "$TMP/ansible-1.log" | sed 's/^/#   /'
        return 1
    fi
    changed=$(recap 1 changed)
    if [ "${changed:-0}" -gt 0 ]; then
        ok "playbook_first_run_changed_$changed"
    else
        not_ok playbook_first_run_changes "changed=${changed:-?}"
    fi
}

test_leaf() {
    local eku san
    if [ -s "$CRT" ] && [ -s "$FULLCHAIN" ]; then
        ok certificate_installed
    else
        not_ok certificate_installed "no $CRT / $FULLCHAIN"
        return
    fi
    eku=$(openssl x509 -in "$CRT" -noout -ext extendedKeyUsage 2>&1 | tail -n +2 | tr -d ' ')
    if [ "$eku" = "TLSWebClientAuthentication" ]; then
        ok leaf_eku_client_auth_only
    else
        not_ok leaf_eku_client_auth_only "extendedKeyUsage: $eku"
    fi
    san=$(openssl x509 -in "$CRT" -noout -ext subjectAltName 2>&1 | tail -n +2 | tr -d ' ')
    if [ "$san" = "DNS:$NAME" ]; then
        ok leaf_names_the_host
    else
        not_ok leaf_names_the_host "subjectAltName: $san"
    fi
    if openssl verify -purpose sslclient -CAfile "$CA_FILE" -untrusted "$FULLCHAIN" "$CRT" > "$TMP/verify.log" 2>&1; then
        ok chain_verifies_for_sslclient
    else
        not_ok chain_verifies_for_sslclient "$(tail -n 1 "$TMP/verify.log")"
    fi
    if openssl verify -purpose sslserver -CAfile "$CA_FILE" -untrusted "$FULLCHAIN" "$CRT" > /dev/null 2>&1; then
        not_ok leaf_not_for_sslserver "it verifies as a TLS server certificate"
    else
        ok leaf_not_for_sslserver
    fi
    if [ "$(openssl x509 -in "$CRT" -noout -pubkey | openssl sha256)" = \
         "$(openssl pkey -in "$KEY" -pubout | openssl sha256)" ] &&
       [ "$(stat -c %a "$KEY")" = 600 ]; then
        ok key_matches_and_is_0600
    else
        not_ok key_matches_and_is_0600 "key mode $(stat -c %a "$KEY" 2>/dev/null)"
    fi
}

test_renewal_timer() {
    local kid
    kid=$(sed -n 's/^ACME_EAB_KID=//p' "$ENVF" 2>/dev/null)
    if [ "$(stat -c %a "$ENVF" 2>/dev/null)" = 600 ] && [ "${#kid}" = 22 ] &&
       grep -qx "ACME_DOMAINS=$NAME" "$ENVF" && grep -qx "ACME_SERVER=$DIR_URL" "$ENVF"; then
        ok renewal_env_file
    else
        not_ok renewal_env_file "missing, not 0600 or without the EAB kid / names"
    fi
    if cmp -s "$TMP/units/lego-renew@.service" "$HOST_ROOT/etc/systemd/system/lego-renew@.service" &&
       cmp -s "$TMP/units/lego-renew@.timer" "$HOST_ROOT/etc/systemd/system/lego-renew@.timer"; then
        ok renewal_units_installed
    else
        not_ok renewal_units_installed "lego-renew@.service/.timer not copied"
    fi
}

test_api_side() {
    local log=$DATA_DIR/audit.log
    wait_for 10 grep -q '"event":"eab.created"' "$log"
    if grep '"event":"eab.created"' "$log" | grep '"caller":"ansible"' | grep -q '"team-ansible"'; then
        ok eab_minted_through_api_by_ansible
    else
        not_ok eab_minted_through_api_by_ansible "no eab.created by caller ansible"
    fi
    curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" \
        "$ADMIN/admin/certificates?team=team-ansible" > "$TMP/certs.json"
    if "$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if len(d) == 1 and d[0]['identifiers'][0]['value'] == '$NAME' else 1)
" "$TMP/certs.json"; then
        ok certificate_listed_for_team
    else
        not_ok certificate_listed_for_team "$(head -c 300 "$TMP/certs.json")"
    fi
    if grep -qF -e "$TOKEN" -e "$(sed -n 's/^ACME_EAB_HMAC=//p' "$ENVF")" "$TMP/ansible-1.log"; then
        not_ok secrets_not_in_ansible_output "the token or the HMAC key is in the output"
    else
        ok secrets_not_in_ansible_output
    fi
}

test_second_run() {
    local changed
    if ! run_playbook 2; then
        not_ok playbook_second_run "ansible-playbook failed"
        tail -n 30 "$TMP/ansible-2.log" | sed 's/^/#   /'
        return
    fi
    changed=$(recap 2 changed)
    if [ "$changed" = 0 ]; then
        ok playbook_second_run_changed_0
    else
        not_ok playbook_second_run_changed_0 "changed=${changed:-?}"
        grep -E '^changed:' "$TMP/ansible-2.log" | sed 's/^/#   /'
    fi
}

lego_csr() {   # lego_csr LOGNAME CSR KID HMAC: lego run --csr
    LEGO_CA_CERTIFICATES="$CA_FILE" timeout 120 lego \
        --server "$DIR_URL" --email "$LEGO_EMAIL" --accept-tos \
        --http --http.webroot "$WEBROOT" --path "$TMP/lego-csr" \
        --eab --kid "$3" --hmac "$4" --csr "$2" run > "$TMP/$1.log" 2>&1
}

# The CSR rules of a client profile: clientAuth may be asked, serverAuth
# not. lego --csr through an EAB key bound to the profile.
test_csr_rules() {
    local kid hmac n=csr.a.test
    curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data '{"label":"team-csr","profiles":["client"]}' "$ADMIN/admin/eab" > "$TMP/eab-csr.json"
    kid=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['kid'])" "$TMP/eab-csr.json" 2>/dev/null)
    hmac=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['hmac'])" "$TMP/eab-csr.json" 2>/dev/null)
    openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/csr.key" 2>/dev/null
    openssl req -new -key "$TMP/csr.key" -subj "/CN=$n" -addext "subjectAltName=DNS:$n" \
        -addext "extendedKeyUsage=serverAuth" -outform DER -out "$TMP/server.csr" 2>/dev/null
    openssl req -new -key "$TMP/csr.key" -subj "/CN=$n" -addext "subjectAltName=DNS:$n" \
        -addext "extendedKeyUsage=clientAuth" -outform DER -out "$TMP/client.csr" 2>/dev/null
    if lego_csr lego-csr-server "$TMP/server.csr" "$kid" "$hmac"; then
        not_ok client_profile_refuses_serverauth_csr "lego got a certificate"
    elif grep -q 'badCSR' "$TMP/lego-csr-server.log" && grep -q 'clientAuth only' "$TMP/lego-csr-server.log"; then
        ok client_profile_refuses_serverauth_csr
    else
        not_ok client_profile_refuses_serverauth_csr "failed without badCSR"
        tail -n 5 "$TMP/lego-csr-server.log" | sed "s/^/#   /"
    fi
    if lego_csr lego-csr-client "$TMP/client.csr" "$kid" "$hmac" &&
       openssl x509 -in "$TMP/lego-csr/certificates/$n.crt" -noout -ext extendedKeyUsage 2>/dev/null |
           tail -n +2 | tr -d ' ' | grep -qx TLSWebClientAuthentication; then
        ok client_profile_issues_clientauth_csr
    else
        not_ok client_profile_issues_clientauth_csr "lego --csr with clientAuth failed"
        tail -n 5 "$TMP/lego-csr-client.log" | sed "s/^/#   /"
    fi
}

ansible_main() {
    echo "# ansible suite: $TARGET; tmp $TMP; admin $ADMIN"
    if [ ! -x "$TARGET" ]; then
        not_ok proxy_binary "$TARGET is not an executable file"
    elif ! command -v ansible-playbook > /dev/null; then
        not_ok ansible_installed "ansible-playbook not found (deploy/deps.sh installs ansible)"
    elif ! start_knot; then
        not_ok dns_server_starts "knotd did not answer"
    else
        write_config
        if ! write_ansible_inputs; then
            not_ok ansible_vault_input "ansible-vault encrypt_string failed"
            sed 's/^/#   /' "$TMP/ansible/vault.err"
        elif test_server_starts && start_webroot_server; then
            if test_first_run; then
                test_leaf
                test_renewal_timer
                test_api_side
                test_second_run
            fi
            test_csr_rules
            test_server_stop_clean
        fi
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 30
    fi
    echo "ansible: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

ansible_main
