#!/usr/bin/env bash
# Accounts bound to teams (issue 6): external account binding required,
# team keys minted with `acmeproxy eab add` and used by lego, team policy
# (names, profiles, key sizes), revoked keys, rate limits reached in
# bounded loops, and the audit log of a full issuance (events present,
# every line JSON, no secret anywhere in the logs). Reuses run.sh.
#
# Usage: test/integration/teams.sh [PROXY_BINARY]   (from the repo root)
# Ends with "teams: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

KEYS=$TMP/keys.json
LIMITS=""                       # extra [ratelimit] lines of the next start
SINGLE_USE=no

proxy_write_config() {
    cat > "$TMP/proxy.conf" <<CONF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $DATA_DIR
log_level = debug

[acme]
wait_ms = 1000
eab_required = yes
eab_single_use = $SINGLE_USE
default_profile = server

[profile.server]
description = TLS server, 90 days
template = tls-server
validity_days = 90

[profile.short]
description = TLS server, 7 days
template = tls-short
validity_days = 7

[policy]
allow_names = .test
wildcards = no
min_rsa_bits = 3072
ec_curves = P-256 P-384

[ratelimit]
$LIMITS

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
type = local
CONF
}

admin() {
    "$TARGET" -c "$TMP/proxy.conf" "$@"
}

# mint NAME ARGS...: eab add --json, stored under NAME in $KEYS
mint() {
    local name=$1 out
    shift
    if ! out=$(admin eab add --json "$@" 2>"$TMP/mint.err"); then
        not_ok "eab_add_$name" "$(cat "$TMP/mint.err")"
        return 1
    fi
    "$PY" - "$KEYS" "$name" "$out" <<'PY'
import json, os, sys
path, name, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
keys = json.load(open(path)) if os.path.exists(path) else {}
keys[name] = {"kid": out["kid"], "hmac": out["hmac"]}
json.dump(keys, open(path, "w"))
PY
    ok "eab_add_$name"
}

key_field() {   # key_field NAME kid|hmac
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' \
        "$KEYS" "$1" "$2"
}

run_phase() {   # run_phase PHASE: the python checks of teams.py
    local line out=$TMP/teams-$1.log
    timeout 180 "$PY" "$HERE/teams.py" "$1" "$DIR_URL" "$CA_FILE" "$HTTP_PORT" \
        "$DATA_DIR" "$KEYS" > "$out" 2>&1
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "$1: ${line#ok - }" ;;
            "not ok - "*) line=${line#not ok - }; not_ok "$1: ${line%%: *}" "${line#*: }" ;;
        esac
    done < "$out"
    grep -Eq '^teams: [0-9]+ passed, [0-9]+ failed$' "$out" ||
        { not_ok "$1: completed" "teams.py ended without its summary"; tail -5 "$out"; }
}

lego_team() {   # lego_team LOGNAME DIR TEAM DOMAIN ACTION...
    local log=$TMP/$1.log dir=$2 team=$3 domain=$4
    shift 4
    LEGO_CA_CERTIFICATES=$CA_FILE timeout 120 lego --server "$DIR_URL" \
        --email "$team@example.test" --accept-tos --http \
        --http.port "127.0.0.1:$HTTP_PORT" --domains "$domain" --path "$dir" \
        ${team:+--eab --kid "$(key_field "$team" kid)" --hmac "$(key_field "$team" hmac)"} \
        "$@" > "$log" 2>&1
}

test_lego_policy() {
    if ! LEGO_CA_CERTIFICATES=$CA_FILE timeout 60 lego --server "$DIR_URL" \
            --email none@example.test --accept-tos --http \
            --http.port "127.0.0.1:$HTTP_PORT" --domains www.team-a.test \
            --path "$TMP/lego-none" run > "$TMP/lego-none.log" 2>&1 &&
       grep -Eq 'externalAccountRequired|requires External Account Binding' \
           "$TMP/lego-none.log"; then
        ok lego_without_eab_refused
    else
        not_ok lego_without_eab_refused "lego registered without EAB"
    fi
    if lego_team lego-a "$TMP/lego-a" a www.team-a.test run &&
       [ -s "$TMP/lego-a/certificates/www.team-a.test.crt" ]; then
        ok lego_with_team_key
    else
        not_ok lego_with_team_key "lego --eab failed"
        show_tail "$TMP/lego-a.log"
    fi
    if ! lego_team lego-ab "$TMP/lego-a" a x.team-b.test run &&
       grep -q rejectedIdentifier "$TMP/lego-ab.log"; then
        ok lego_team_a_refused_team_b_name
    else
        not_ok lego_team_a_refused_team_b_name "team a got a team b name"
        show_tail "$TMP/lego-ab.log"
    fi
    if lego_team lego-a-revoke "$TMP/lego-a" a www.team-a.test revoke; then
        ok lego_revoke_team_cert
    else
        not_ok lego_revoke_team_cert "lego revoke failed"
    fi
}

# Pre-authorised names (eab add --preauthorized): lego's own http-01 server
# listens where the proxy never looks, so only a name that needs no
# challenge can be issued; a team name outside the rules cannot.
test_lego_preauthorized() {
    local port
    read -r port < <("$PY" "$HERE/free_ports.py" 1)
    if LEGO_CA_CERTIFICATES=$CA_FILE timeout 120 lego --server "$DIR_URL" \
            --email p@example.test --accept-tos --http --http.port "127.0.0.1:$port" \
            --domains "www.pre.team-p.test" --domains exact.team-p.test \
            --path "$TMP/lego-p" --eab --kid "$(key_field p kid)" \
            --hmac "$(key_field p hmac)" run > "$TMP/lego-p.log" 2>&1 &&
       [ -s "$TMP/lego-p/certificates/www.pre.team-p.test.crt" ]; then
        ok lego_preauthorized_names_need_no_challenge
    else
        not_ok lego_preauthorized_names_need_no_challenge "lego failed"
        show_tail "$TMP/lego-p.log"
    fi
    if ! LEGO_CA_CERTIFICATES=$CA_FILE timeout 120 lego --server "$DIR_URL" \
            --email p@example.test --accept-tos --http --http.port "127.0.0.1:$port" \
            --domains "www.team-p.test" --path "$TMP/lego-p" \
            --eab --kid "$(key_field p kid)" --hmac "$(key_field p hmac)" \
            run > "$TMP/lego-p2.log" 2>&1 &&
       [ ! -s "$TMP/lego-p/certificates/www.team-p.test.crt" ]; then
        ok lego_other_team_name_still_validated
    else
        not_ok lego_other_team_name_still_validated "www.team-p.test was issued without its challenge"
    fi
}

test_audit() {
    local log=$DATA_DIR/audit.log why
    if why=$("$PY" - "$log" "$KEYS" "$TMP/proxy.log" 2>&1 <<'PY'
import json, sys
log, keys, plog = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
events = []
for n, line in enumerate(open(log), 1):
    doc = json.loads(line)          # every line one JSON object
    for field in ("time", "event", "request"):
        assert field in doc, f"line {n} lacks {field}"
    events.append(doc)
kinds = {e["event"] for e in events}
want = {"eab.created", "eab.revoked", "account.created", "order.created",
        "validation", "order.finalized", "pki.answer", "cert.revoked",
        "authz.preauthorized"}
missing = want - kinds
assert not missing, f"missing events {sorted(missing)}"
team = [e for e in events if e["event"] == "account.created" and e.get("team")]
assert team, "no account.created with its team"
pre = [e for e in events if e["event"] == "authz.preauthorized"]
assert all(e.get("kid") == keys["p"]["kid"] and e.get("rule") in
           (".pre.team-p.test", "exact.team-p.test") and e.get("team") == "team-p"
           for e in pre), f"authz.preauthorized fields {pre[:1]}"
assert {e["identifier"]["value"] for e in pre} >= {"www.pre.team-p.test",
                                                   "exact.team-p.test"}, \
    "authz.preauthorized names"
val = [e for e in events if e["event"] == "validation"]
assert not [e for e in val if e["identifier"]["value"].endswith("pre.team-p.test")], \
    "a pre-authorised name was validated"
assert all("result" in e and "identifier" in e for e in val), "validation without result"
assert any(e.get("evidence") for e in val), "no validation evidence"
secrets = [k["hmac"] for k in keys.values()]
for path in (log, plog):
    text = open(path).read()
    for s in secrets:
        assert s not in text, f"an EAB HMAC key appears in {path}"
PY
    ); then
        ok audit_log_events
    else
        not_ok audit_log_events "$(echo "$why" | tail -n 1)"
    fi
}

restart_with() {   # restart_with LIMIT-LINES SINGLE_USE
    LIMITS=$1
    SINGLE_USE=$2
    server_stop > /dev/null 2>&1
    proxy_write_config
    server_start
}

teams_main() {
    echo "# teams suite: $TARGET; tmp $TMP"
    if [ ! -x "$TARGET" ]; then
        not_ok proxy_binary "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok dns_server_starts "knotd did not answer"
    elif test_server_starts; then
        echo '{}' > "$KEYS"
        mint a --label team-a --allow-names .team-a.test --profiles server,short &&
        mint b --label team-b --allow-names .team-b.test --profiles short &&
        mint r --label team-r --allow-names .team-a.test &&
        mint revoked --label gone &&
        mint c --label team-c --allow-names .team-a.test &&
        mint p --label team-p --allow-names .team-p.test \
            --preauthorized .pre.team-p.test,exact.team-p.test
        admin eab revoke "$(key_field revoked kid)" > /dev/null 2>&1 ||
            not_ok eab_revoke "eab revoke failed"
        test_lego_policy
        test_lego_preauthorized
        run_phase policy
        if admin eab revoke "$(key_field r kid)" > /dev/null 2>&1; then
            run_phase revoked
        else
            not_ok eab_revoke_r "eab revoke failed"
        fi
        test_audit
        if restart_with "accounts_per_ip_hour = 3
orders_per_account_hour = 2
failed_validations_per_identifier_hour = 1" no; then
            run_phase limits
        else
            not_ok restart_limits "proxy did not restart"
        fi
        if restart_with "pending_authz_per_account = 3" yes; then
            run_phase pending
        else
            not_ok restart_pending "proxy did not restart"
        fi
        test_server_stop_clean
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 30
    fi
    echo "teams: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

teams_main
