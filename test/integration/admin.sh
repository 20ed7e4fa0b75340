#!/usr/bin/env bash
# The admin subcommands (proxy/admin.c, docs/admin.md) against a running
# proxy: EAB keys minted with `eab add` and used by lego, accounts, orders
# and certificates listed and shown (people's columns and --json parsed
# with python's json.load), revocation through the adapter seen by lego
# as alreadyRevoked, deactivation, usage errors (exit 2), and `backup`
# restored into a fresh data_dir that a second proxy serves the same
# account from. Reuses run.sh's knot DNS, ports, proxy start/stop and lego
# helpers.
#
# Usage: test/integration/admin.sh [PROXY_BINARY]   (from the repo root)
# Ends with "admin: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

EAB_DIR=$TMP/lego-eab           # the lego account bound to team-a
EAB_CRT=$EAB_DIR/certificates/${DNS_NAMES[0]}.crt
EAB_KID=""
EAB_HMAC=""
MAIN_ACCOUNT=""                 # the lego account without EAB
EAB_ACCOUNT=""

admin() {   # admin ARGS...: the admin subcommand on the current config
    "$TARGET" -c "$TMP/proxy.conf" "$@"
}

# json_check NAME FILE PYTHON-EXPR: d = json.load(FILE); ok when EXPR holds
json_check() {
    local name=$1 file=$2 expr=$3 why
    if why=$("$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if ($expr) else 'false: ' + sys.argv[2])
" "$file" "$expr" 2>&1); then
        ok "$name"
    else
        not_ok "$name" "$(echo "$why" | tail -n 1)"
        head -c 1500 "$file" | sed 's/^/#   /'
    fi
}

# json_get FILE PYTHON-EXPR: prints the value of EXPR over d
json_get() {
    "$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
print($2)
" "$1" 2>/dev/null
}

# expect_status NAME WANT ARGS...: the admin command exits WANT
expect_status() {
    local name=$1 want=$2 got
    shift 2
    admin "$@" > "$TMP/adm.out" 2> "$TMP/adm.err"
    got=$?
    if [ "$got" -eq "$want" ]; then
        ok "$name"
        return 0
    fi
    not_ok "$name" "'$*' exited $got, want $want"
    head -n 5 "$TMP/adm.err" | sed 's/^/#   /'
    return 1
}

serial_of() {   # serial_of CERT_FILE: the leaf's serial as openssl prints it
    leaf_pem "$1" | openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

lower() { tr 'A-F' 'a-f'; }

# ---------------------------------------------------------------- usage

test_usage_errors() {
    local args
    while IFS= read -r args; do
        # shellcheck disable=SC2086
        admin $args > "$TMP/adm.out" 2> "$TMP/adm.err"
        local got=$?
        if [ "$got" -eq 2 ] && [ ! -s "$TMP/adm.out" ] &&
           grep -q '^usage: ' "$TMP/adm.err"; then
            ok "usage_error_exit_2: $args"
        else
            not_ok "usage_error_exit_2: $args" "exit $got (want 2, usage on stderr, nothing on stdout)"
        fi
    done <<'ROWS'
bogus
eab
eab add
eab add --label
eab add --label team --max-validity 0
accounts list --bogus
accounts show
orders list --account bad!id
certs list --expiring soon
revoke nothex
revoke 0a --reason 7
backup
ROWS
}

# ---------------------------------------------------------------- EAB

test_eab_add() {
    local line
    if ! expect_status eab_add_json_exit_0 0 eab add --label team-a \
            --allow-names .a.test,a.test --max-validity 90 --json; then
        return 1
    fi
    cp "$TMP/adm.out" "$TMP/eab-add.json"
    json_check eab_add_json_has_kid_hmac "$TMP/eab-add.json" \
        "len(d['kid']) == 22 and len(d['hmac']) == 43 and d['label'] == 'team-a' and d['lego'] == '--eab --kid %s --hmac %s' % (d['kid'], d['hmac'])"
    # People's form: the line lego takes.
    if ! expect_status eab_add_exit_0 0 eab add --label team-b; then
        return 1
    fi
    line=$(grep -E '^lego: +--eab --kid [A-Za-z0-9_-]{22} --hmac [A-Za-z0-9_-]{43}$' "$TMP/adm.out")
    if [ -n "$line" ]; then
        ok eab_add_prints_lego_flags
    else
        not_ok eab_add_prints_lego_flags "no '--eab --kid KID --hmac KEY' line"
        sed 's/^/#   /' "$TMP/adm.out"
    fi
    EAB_KID=$(json_get "$TMP/eab-add.json" "d['kid']")
    EAB_HMAC=$(json_get "$TMP/eab-add.json" "d['hmac']")
    [ -n "$EAB_KID" ] && [ -n "$EAB_HMAC" ]
}

test_lego_with_eab() {
    if LEGO_DIR=$EAB_DIR lego_cmd lego-eab --eab --kid "$EAB_KID" \
            --hmac "$EAB_HMAC" run && [ -s "$EAB_CRT" ]; then
        ok lego_run_with_eab_add_key
    else
        not_ok lego_run_with_eab_add_key "lego --eab --kid --hmac run failed"
        show_tail "$TMP/lego-eab.log"
    fi
}

test_eab_list() {
    expect_status eab_list_exit_0 0 eab list || return
    if grep -q "$EAB_HMAC" "$TMP/adm.out"; then
        not_ok eab_list_hides_hmac "the HMAC key is in the list"
    else
        ok eab_list_hides_hmac
    fi
    if head -n 1 "$TMP/adm.out" | grep -qE '^KID +LABEL +STATUS +CREATED +ACCOUNTS +POLICY$' &&
       grep -qE "^$EAB_KID +team-a +valid +[0-9TZ:-]+ +1 +names=\.a\.test,a\.test max=90d$" "$TMP/adm.out"; then
        ok eab_list_columns
    else
        not_ok eab_list_columns "header or team-a row not as expected"
        sed 's/^/#   /' "$TMP/adm.out"
    fi
    expect_status eab_list_json_exit_0 0 eab list --json || return
    cp "$TMP/adm.out" "$TMP/eab-list.json"
    json_check eab_list_json "$TMP/eab-list.json" \
        "len(d) == 2 and all('hmac' not in k for k in d) and [k['accounts'] for k in d if k['kid'] == '$EAB_KID'][0] != []"
}

test_eab_revoke() {
    expect_status eab_revoke_exit_0 0 eab revoke "$EAB_KID" || return
    admin eab list --json > "$TMP/eab-list2.json" 2>/dev/null
    json_check eab_list_shows_revoked "$TMP/eab-list2.json" \
        "[k for k in d if k['kid'] == '$EAB_KID'][0]['status'] == 'revoked' and [k for k in d if k['kid'] == '$EAB_KID'][0]['revoked'] is not None"
    expect_status eab_revoke_again_exit_1 1 eab revoke "$EAB_KID"
    expect_status eab_revoke_unknown_exit_1 1 eab revoke AAAAAAAAAAAAAAAAAAAAAA
    # The server's side (eab.c): a new account with the revoked key fails.
    if LEGO_DIR=$TMP/lego-eab2 lego_cmd lego-eab2 --eab --kid "$EAB_KID" \
            --hmac "$EAB_HMAC" run; then
        not_ok lego_with_revoked_eab_key_refused "lego registered with a revoked key"
    else
        ok lego_with_revoked_eab_key_refused
    fi
}

# ---------------------------------------------------------------- accounts

test_accounts() {
    expect_status accounts_list_exit_0 0 accounts list || return
    if "$PY" - "$TMP/adm.out" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
head = lines[0]
cols = [head.index(c) for c in ("ID", "STATUS", "CREATED", "EAB", "CONTACT")]
assert head.startswith("ID  ") and len(lines) >= 3, lines
for row in lines[1:]:
    for c in cols[1:]:
        assert row[c - 2:c] == "  " and row[c] != " ", (row, c)
PY
    then
        ok accounts_list_columns_aligned
    else
        not_ok accounts_list_columns_aligned "columns not aligned"
        sed 's/^/#   /' "$TMP/adm.out"
    fi
    expect_status accounts_list_json_exit_0 0 accounts list --json || return
    cp "$TMP/adm.out" "$TMP/accounts.json"
    json_check accounts_list_json "$TMP/accounts.json" \
        "len(d) >= 2 and all(a['status'] == 'valid' for a in d) and len([a for a in d if a['eab'] and a['eab']['kid'] == '$EAB_KID' and a['eab']['label'] == 'team-a']) == 1"
    EAB_ACCOUNT=$(json_get "$TMP/accounts.json" "[a['id'] for a in d if a['eab']][0]")
    MAIN_ACCOUNT=$(json_get "$TMP/accounts.json" "[a['id'] for a in d if not a['eab']][0]")
    expect_status accounts_show_exit_0 0 accounts show "$MAIN_ACCOUNT" &&
        if grep -qE "^status: +valid$" "$TMP/adm.out" &&
           grep -qE "^contact: +mailto:$LEGO_EMAIL$" "$TMP/adm.out"; then
            ok accounts_show_fields
        else
            not_ok accounts_show_fields "status/contact lines missing"
            sed 's/^/#   /' "$TMP/adm.out"
        fi
    admin accounts show "$EAB_ACCOUNT" --json > "$TMP/acct.json" 2>/dev/null
    json_check accounts_show_json "$TMP/acct.json" \
        "d['id'] == '$EAB_ACCOUNT' and len(d['orders']) == 1 and len(d['certificates']) == 1 and d['jwk']['kty'] in ('EC', 'RSA')"
    expect_status accounts_show_unknown_exit_1 1 accounts show AAAAAAAAAAAAAAAAAAAAAA
}

test_accounts_deactivate() {
    expect_status accounts_deactivate_exit_0 0 accounts deactivate "$EAB_ACCOUNT" || return
    admin accounts show "$EAB_ACCOUNT" --json > "$TMP/acct2.json" 2>/dev/null
    json_check accounts_show_deactivated "$TMP/acct2.json" "d['status'] == 'deactivated'"
    expect_status accounts_deactivate_again_exit_1 1 accounts deactivate "$EAB_ACCOUNT"
    # The server refuses the deactivated account (jws.c).
    if LEGO_DIR=$EAB_DIR lego_cmd lego-eab-renew renew --days 3650 --no-random-sleep; then
        not_ok lego_with_deactivated_account_refused "lego renewed with a deactivated account"
    else
        ok lego_with_deactivated_account_refused
    fi
}

# ---------------------------------------------------------------- orders

test_orders() {
    local oid
    expect_status orders_list_exit_0 0 orders list || return
    if head -n 1 "$TMP/adm.out" | grep -qE '^ID +ACCOUNT +STATUS +CREATED +CERT +IDENTIFIERS$' &&
       grep -qE " valid +[0-9TZ:-]+ +[A-Za-z0-9_-]+ +(www\.a\.test,a\.test|a\.test,www\.a\.test)$" "$TMP/adm.out"; then
        ok orders_list_columns
    else
        not_ok orders_list_columns "header or a valid order row missing"
        sed 's/^/#   /' "$TMP/adm.out"
    fi
    admin orders list --account "$MAIN_ACCOUNT" --json > "$TMP/orders.json" 2>/dev/null
    json_check orders_list_account_json "$TMP/orders.json" \
        "len(d) >= 1 and all(o['account'] == '$MAIN_ACCOUNT' for o in d) and d[0]['status'] == 'valid' and sorted(i['value'] for i in d[0]['identifiers']) == ['a.test', 'www.a.test']"
    oid=$(json_get "$TMP/orders.json" "d[0]['id']")
    admin orders show "$oid" --json > "$TMP/order.json" 2>/dev/null
    json_check orders_show_json "$TMP/order.json" \
        "d['id'] == '$oid' and d['cert'] and len(d['authorizations']) == 2 and all(a['status'] == 'valid' and any(c['type'] == 'http-01' and c['status'] == 'valid' for c in a['challenges']) for a in d['authorizations'])"
    expect_status orders_show_exit_0 0 orders show "$oid"
    expect_status orders_list_unknown_account_exit_1 1 orders list --account AAAAAAAAAAAAAAAAAAAAAA
}

# ---------------------------------------------------------------- certs

test_certs() {
    local serial want
    serial=$(serial_of "$LEGO_CRT")
    want=$(echo "$serial" | lower | sed 's/^\(00\)*//')
    admin certs list --json > "$TMP/certs.json" 2>/dev/null
    json_check certs_list_json "$TMP/certs.json" \
        "len(d) >= 2 and any(c['serial'].lstrip('0') == '$want'.lstrip('0') and c['status'] == 'valid' for c in d)"
    admin certs list --expiring 3650 --json > "$TMP/certs-exp.json" 2>/dev/null
    json_check certs_list_expiring_3650 "$TMP/certs-exp.json" "len(d) >= 2"
    admin certs list --expiring 0 --json > "$TMP/certs-exp0.json" 2>/dev/null
    json_check certs_list_expiring_0_empty "$TMP/certs-exp0.json" "d == []"
    expect_status certs_list_exit_0 0 certs list &&
        if grep -qiE "^[A-Za-z0-9_-]+ +0*$want +valid " "$TMP/adm.out"; then
            ok certs_list_columns
        else
            not_ok certs_list_columns "no row for serial $want"
            sed 's/^/#   /' "$TMP/adm.out"
        fi
    # By the serial as openssl prints it; the stored chain is lego's.
    admin certs show "$serial" --json > "$TMP/cert.json" 2>/dev/null
    leaf_pem "$LEGO_CRT" > "$TMP/lego-leaf.pem"
    json_check certs_show_by_serial_json "$TMP/cert.json" \
        "d['pem'].startswith(open('$TMP/lego-leaf.pem').read()) and d['status'] == 'valid' and d['account'] == '$MAIN_ACCOUNT'"
    # The record keeps the leaf and a reference to the chain, stored once
    # (proxy/rec_cert.h): the view shows leaf then chain, byte for byte
    # what lego downloaded.
    json_check certs_show_pem_is_the_download "$TMP/cert.json" \
        "d['pem'] == open('$LEGO_CRT').read() and d['pem'].count('-----BEGIN CERTIFICATE-----') >= 2 and 'chain' not in d"
    expect_status certs_show_exit_0 0 certs show "$(json_get "$TMP/cert.json" "d['id']")"
    expect_status certs_show_unknown_exit_1 1 certs show 0bad0bad
}

# ---------------------------------------------------------------- revoke

test_revoke() {
    local serial
    serial=$(serial_of "$EAB_CRT")
    if [ -z "$serial" ]; then
        not_ok admin_revoke "no certificate from the EAB account to revoke"
        return
    fi
    admin certs show "$serial" --json > "$TMP/to-revoke.json" 2>/dev/null
    expect_status admin_revoke_exit_0 0 revoke "$serial" --reason keyCompromise || return
    admin certs show "$serial" --json > "$TMP/revoked.json" 2>/dev/null
    json_check certs_show_revoked "$TMP/revoked.json" \
        "d['status'] == 'revoked' and d['reason'] == 1 and d['revokedAt']"
    # Written again by the revocation: the same leaf and chain.
    json_check certs_revoked_same_pem "$TMP/revoked.json" \
        "d['pem'] == json.load(open('$TMP/to-revoke.json'))['pem'] and d['pem'].count('-----BEGIN CERTIFICATE-----') >= 2"
    expect_status admin_revoke_again_exit_1 1 revoke "$serial"
    # The ACME side sees the same record: lego's revoke is alreadyRevoked.
    # (The EAB account is still valid here: deactivation comes later.)
    if LEGO_DIR=$EAB_DIR lego_cmd lego-eab-revoke revoke --keep; then
        not_ok lego_revoke_after_admin_revoke "lego revoked it again"
    elif grep -q alreadyRevoked "$TMP/lego-eab-revoke.log"; then
        ok lego_revoke_after_admin_revoke_already_revoked
    else
        not_ok lego_revoke_after_admin_revoke "lego failed without alreadyRevoked"
        show_tail "$TMP/lego-eab-revoke.log" 5
    fi
}

# ---------------------------------------------------------------- audit

test_audit() {
    local log=$DATA_DIR/audit.log ev
    for ev in eab.created eab.revoked cert.revoked account.deactivated; do
        if grep "\"event\":\"$ev\"" "$log" 2>/dev/null | grep -q '"by":"admin"'; then
            ok "audit_has_admin_$ev"
        else
            not_ok "audit_has_admin_$ev" "no $ev event by admin in $log"
        fi
    done
    if grep -rqF "$EAB_HMAC" "$log" "$TMP/proxy.log"; then
        not_ok eab_hmac_never_logged "the HMAC key is in the audit or diagnostic log"
    else
        ok eab_hmac_never_logged
    fi
}

# ---------------------------------------------------------------- backup

test_backup_restore() {
    local new=$TMP/data-restored f
    expect_status backup_while_serving_exit_0 0 backup "$TMP/backup.mdb" || return
    if [ -s "$TMP/backup.mdb" ] && [ "$(stat -c %a "$TMP/backup.mdb")" = 600 ]; then
        ok backup_file_0600
    else
        not_ok backup_file_0600 "missing, empty or not mode 0600"
    fi
    expect_status backup_never_overwrites_exit_1 1 backup "$TMP/backup.mdb"
    admin backup "$TMP/backup.json.mdb" --json > "$TMP/backup.json" 2>/dev/null
    json_check backup_json "$TMP/backup.json" \
        "d['file'] == '$TMP/backup.json.mdb' and d['bytes'] > 0 and 'ca.pem' in d['ca_files']"
    if ! server_stop; then
        not_ok first_proxy_stops "$STOP_ERR"
    fi
    # Restore as docs/admin.md says: the copy becomes db/data.mdb, plus
    # the CA files of the old data_dir.
    mkdir -m 700 -p "$new/db"
    cp "$TMP/backup.mdb" "$new/db/data.mdb"
    for f in ca.pem ca-root.key ca-intermediate.pem ca-intermediate.key; do
        cp -p "$DATA_DIR/$f" "$new/"
    done
    DATA_DIR=$new
    proxy_write_config
    admin accounts list --json > "$TMP/accounts-restored.json" 2>/dev/null
    json_check restored_store_has_accounts "$TMP/accounts-restored.json" \
        "sorted(a['id'] for a in d) == sorted(a['id'] for a in json.load(open('$TMP/accounts.json')))"
    if ! server_start; then
        not_ok proxy_starts_from_backup "${START_ERR:-did not start}"
        show_tail "$TMP/proxy.log" 30
        return
    fi
    ok proxy_starts_from_backup
    # The same lego account (its key in $LEGO_DIR) renews against it.
    test_lego_renew lego_renew_same_account_after_restore lego-renew-restored
    admin orders list --account "$MAIN_ACCOUNT" --json > "$TMP/orders-restored.json" 2>/dev/null
    json_check restored_account_has_new_order "$TMP/orders-restored.json" \
        "len(d) == len(json.load(open('$TMP/orders.json'))) + 1"
}

# ---------------------------------------------------------------- main

admin_main() {
    echo "# admin suite: $TARGET; tmp $TMP"
    if [ ! -x "$TARGET" ]; then
        not_ok proxy_binary "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok dns_server_starts "knotd did not answer"
    else
        proxy_write_config
        test_usage_errors
        if test_server_starts; then
            test_lego_issue
            if test_eab_add; then
                test_lego_with_eab
                test_eab_list
            fi
            test_accounts
            test_orders
            test_certs
            test_revoke
            test_accounts_deactivate
            test_eab_revoke
            test_audit
            test_backup_restore
            test_server_stop_clean
        fi
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 40
    fi
    echo "admin: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

admin_main
