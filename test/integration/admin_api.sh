#!/usr/bin/env bash
# The admin API (proxy/adminapi.c, docs/admin.md) driven with curl against
# a running proxy: a token file others may read stops the start; 401 with
# the same body and WWW-Authenticate: Bearer whatever is wrong with the
# Authorization header; POST /admin/eab answers 201 with a key that lego
# then uses; the listings and their filters give what the CLI gives
# (`--json`, compared member by member); a certificate revoked through the
# API shows revoked and lego's revoke then says alreadyRevoked; an EAB key
# revoked through the API refuses a new lego account; bad JSON, unknown
# members, oversized bodies, wrong methods and paths get 400/413/405/404
# and the proxy keeps serving; every call is in the audit trail with its
# caller, and neither token nor HMAC key is in any log; a reload reads a
# rotated token file; without token_file the API paths are 404 and health
# stays open. Then, restarted with [admin] tls_cert, tls_key and client_ca
# (openssl-made CAs): a tls_key others may read, or the key of another
# certificate, stops the start; over HTTPS a client certificate from
# client_ca is enough (200, 201 without a token, the audit names its
# subject), one from another CA fails the handshake (with a good token
# too), neither certificate nor token gets the same 401, a token alone
# still works, health and metrics need neither, a client that never
# finishes its handshake is dropped after the request timeout, and with
# token_file removed by a reload certificates still work. Reuses run.sh's knot DNS, ports, proxy and lego helpers.
#
# Usage: test/integration/admin_api.sh [PROXY_BINARY]   (from the repo root)
# Ends with "admin_api: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

read -r ADMIN_PORT < <("$PY" "$HERE/free_ports.py" 1)
ADMIN=http://127.0.0.1:$ADMIN_PORT
TOKEN_FILE=$TMP/admin-tokens
TOKEN=$(openssl rand -hex 32)
TOKEN2=$(openssl rand -hex 32)
REPO_ROOT=$(pwd)
API_DIR=$TMP/lego-api
API_CRT=$API_DIR/certificates/${DNS_NAMES[0]}.crt
KID=""
HMAC=""

admin() { "$TARGET" -c "$TMP/proxy.conf" "$@"; }

# api NAME METHOD PATH [BODY [TOKEN]]: the answer's body in $TMP/NAME.body,
# headers in $TMP/NAME.hdr; prints the status.
api() {
    local name=$1 method=$2 path=$3 body=${4-} tok=${5-$TOKEN}
    local args=(-s --max-time 20 -o "$TMP/$name.body" -D "$TMP/$name.hdr"
                -w '%{http_code}' -X "$method")
    [ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    curl "${args[@]}" "$ADMIN$path"
}

# expect NAME WANT METHOD PATH [BODY [TOKEN]]
expect() {
    local name=$1 want=$2 got
    shift 2
    got=$(api "$name" "$@")
    if [ "$got" = "$want" ]; then
        ok "$name"
        return 0
    fi
    not_ok "$name" "$1 $2 answered $got, want $want"
    head -c 400 "$TMP/$name.body" | sed 's/^/#   /'
    return 1
}

# json_check NAME FILE PYTHON-EXPR: d = json.load(FILE); ok when EXPR holds
json_check() {
    local name=$1 file=$2 expr=$3 why
    if why=$("$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if ($expr) else 'false')
" "$file" 2>&1); then
        ok "$name"
    else
        not_ok "$name" "$(echo "$why" | tail -n 1)"
        head -c 800 "$file" | sed 's/^/#   /'
    fi
}

json_get() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }

write_config() {   # write_config [TOKEN_FILE]
    proxy_write_config
    cat >> "$TMP/proxy.conf" <<EOF

[admin]
listen = 127.0.0.1:$ADMIN_PORT
token_file = ${1-$TOKEN_FILE}
EOF
}

# ---------------------------------------------------------------- start

test_token_file_mode() {
    local rc
    printf 'ops:%s\n' "$TOKEN" > "$TOKEN_FILE"
    chmod 0604 "$TOKEN_FILE"
    timeout 20 "$TARGET" -c "$TMP/proxy.conf" > "$TMP/mode.log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q 'token_file.*others may read' "$TMP/mode.log"; then
        ok token_file_readable_by_others_refused
    else
        not_ok token_file_readable_by_others_refused "exit $rc"
        tail -n 5 "$TMP/mode.log" | sed 's/^/#   /'
    fi
    chmod 0600 "$TOKEN_FILE"
}

# ---------------------------------------------------------------- 401

test_unauthorized() {
    local name first="" same=1 hdrs=1
    expect auth_missing 401 GET /admin/eab "" "" || true
    expect auth_wrong 401 GET /admin/eab "" "$(openssl rand -hex 32)" || true
    expect auth_short 401 GET /admin/eab "" "abc" || true
    expect auth_bad_chars 401 GET /admin/eab "" "$TOKEN\"x" || true
    for name in auth_basic auth_no_scheme auth_empty; do
        local h
        case $name in
            auth_basic) h="Authorization: Basic $(printf 'ops:%s' "$TOKEN" | base64 -w0)" ;;
            auth_no_scheme) h="Authorization: $TOKEN" ;;
            auth_empty) h="Authorization: Bearer" ;;
        esac
        got=$(curl -s --max-time 10 -o "$TMP/$name.body" -D "$TMP/$name.hdr" \
              -w '%{http_code}' -H "$h" "$ADMIN/admin/eab")
        if [ "$got" = 401 ]; then ok "$name"; else not_ok "$name" "answered $got"; fi
    done
    for name in auth_missing auth_wrong auth_short auth_bad_chars auth_basic auth_no_scheme auth_empty; do
        [ -z "$first" ] && first=$(cat "$TMP/$name.body")
        [ "$(cat "$TMP/$name.body")" = "$first" ] || same=0
        grep -qi '^WWW-Authenticate: Bearer' "$TMP/$name.hdr" || hdrs=0
    done
    if [ "$same" = 1 ] && [ -n "$first" ]; then
        ok unauthorized_same_body_whatever_was_wrong
    else
        not_ok unauthorized_same_body_whatever_was_wrong "bodies differ"
    fi
    if [ "$hdrs" = 1 ]; then
        ok unauthorized_www_authenticate_bearer
    else
        not_ok unauthorized_www_authenticate_bearer "a 401 without WWW-Authenticate: Bearer"
    fi
    # A POST without a token changes nothing.
    expect auth_missing_post 401 POST /admin/eab '{"label":"intruder"}' "" || true
    admin eab list --json > "$TMP/eab-none.json" 2>/dev/null
    json_check unauthorized_post_minted_nothing "$TMP/eab-none.json" "len(d) == 0"
}

# ---------------------------------------------------------------- EAB

test_eab_add() {
    expect eab_add_201 201 POST /admin/eab \
        '{"label":"team-api","allow_names":[".a.test","a.test"],"max_validity_days":90}' || return 1
    json_check eab_add_kid_hmac "$TMP/eab_add_201.body" \
        "len(d['kid']) == 22 and len(d['hmac']) == 43 and d['label'] == 'team-api'"
    KID=$(json_get "$TMP/eab_add_201.body" "d['kid']")
    HMAC=$(json_get "$TMP/eab_add_201.body" "d['hmac']")
    if grep -qi '^Content-Type: application/json' "$TMP/eab_add_201.hdr"; then
        ok eab_add_content_type_json
    else
        not_ok eab_add_content_type_json "no application/json"
    fi
    # The same policy fields as `eab add`: the CLI lists the key with them.
    admin eab list --json > "$TMP/eab-cli.json" 2>/dev/null
    json_check eab_add_policy_as_cli "$TMP/eab-cli.json" \
        "[k for k in d if k['kid'] == '$KID'][0]['allow_names'] == ['.a.test', 'a.test'] and [k for k in d if k['kid'] == '$KID'][0]['max_validity_days'] == 90"
    expect eab_list_200 200 GET /admin/eab
    json_check eab_list_api_equals_cli "$TMP/eab_list_200.body" \
        "d == json.load(open('$TMP/eab-cli.json'))"
    json_check eab_list_no_hmac "$TMP/eab_list_200.body" \
        "all('hmac' not in k for k in d)"
    # A policy the CLI refuses is refused here too.
    expect eab_add_bad_cidr_400 400 POST /admin/eab '{"label":"t","allow_ips":["not-a-cidr"]}'
    expect eab_add_unknown_profile_400 400 POST /admin/eab '{"label":"t","profiles":["nope"]}'
    [ -n "$KID" ] && [ -n "$HMAC" ]
}

test_lego_with_api_key() {
    if LEGO_DIR=$API_DIR lego_cmd lego-api --eab --kid "$KID" --hmac "$HMAC" run &&
       [ -s "$API_CRT" ]; then
        ok lego_run_with_api_eab_key
    else
        not_ok lego_run_with_api_eab_key "lego --eab --kid --hmac run failed"
        show_tail "$TMP/lego-api.log"
    fi
}

# ---------------------------------------------------------------- listings

test_lists() {
    local serial now_past far
    serial=$(leaf_pem "$API_CRT" | openssl x509 -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f' | sed 's/^\(00\)*//')
    expect accounts_team_200 200 GET '/admin/accounts?team=team-api'
    json_check accounts_team_filter "$TMP/accounts_team_200.body" \
        "len(d) == 1 and d[0]['eab']['label'] == 'team-api' and d[0]['eab']['kid'] == '$KID'"
    admin accounts list --team team-api --json > "$TMP/acc-cli.json" 2>/dev/null
    json_check accounts_api_equals_cli "$TMP/accounts_team_200.body" \
        "d == json.load(open('$TMP/acc-cli.json'))"
    expect accounts_all_200 200 GET /admin/accounts
    json_check accounts_unfiltered_more "$TMP/accounts_all_200.body" "len(d) >= 2"
    expect accounts_other_team 200 GET '/admin/accounts?team=nobody'
    json_check accounts_other_team_empty "$TMP/accounts_other_team.body" "d == []"

    expect certs_team_200 200 GET '/admin/certificates?team=team-api'
    json_check certs_team_filter "$TMP/certs_team_200.body" \
        "len(d) == 1 and d[0]['serial'] == '$serial' and d[0]['team'] == 'team-api' and d[0]['status'] == 'valid' and d[0]['renewalWindow']['start'] < d[0]['renewalWindow']['end'] <= d[0]['notAfter']"
    admin certs list --team team-api --json > "$TMP/certs-cli.json" 2>/dev/null
    json_check certs_api_equals_cli "$TMP/certs_team_200.body" \
        "d == json.load(open('$TMP/certs-cli.json'))"
    far=$(date -u -d '+3650 days' +%Y-%m-%dT%H:%M:%SZ)
    now_past=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
    expect certs_expiring_far 200 GET "/admin/certificates?expiring_before=$far"
    json_check certs_expiring_far_has_all_valid "$TMP/certs_expiring_far.body" \
        "len(d) >= 2 and all(c['status'] == 'valid' for c in d)"
    expect certs_expiring_soon 200 GET "/admin/certificates?expiring_before=$now_past"
    json_check certs_expiring_tomorrow_none "$TMP/certs_expiring_soon.body" "d == []"
    admin certs list --expiring 1 --json > "$TMP/certs-exp-cli.json" 2>/dev/null
    json_check certs_expiring_api_equals_cli "$TMP/certs_expiring_soon.body" \
        "d == json.load(open('$TMP/certs-exp-cli.json'))"
    # Just issued: inside its lifetime, before its renewal window.
    expect certs_overdue 200 GET '/admin/certificates?overdue=true'
    json_check certs_fresh_not_overdue "$TMP/certs_overdue.body" "d == []"
    admin certs list --overdue --json > "$TMP/certs-over-cli.json" 2>/dev/null
    json_check certs_overdue_api_equals_cli "$TMP/certs_overdue.body" \
        "d == json.load(open('$TMP/certs-over-cli.json'))"
    expect certs_bad_time_400 400 GET '/admin/certificates?expiring_before=tomorrow'
    expect certs_bad_overdue_400 400 GET '/admin/certificates?overdue=maybe'
    expect certs_team_twice_400 400 GET '/admin/certificates?team=a&team=b'
}

# The renewal report and account binding (issue 17) through the API: the
# same document as `certs report --json` for the same instant, bad query
# values 400, a bind needing exactly one of kid and team, an unknown
# account 404.
test_report_and_bind() {
    local at
    at=$(date -u -d '+80 days' +%Y-%m-%dT%H:%M:%SZ)
    expect report_200 200 GET "/admin/certificates/report?days=100&at=$at&team=team-api"
    admin certs report --json --days 100 --at "$at" --team team-api > "$TMP/report-cli.json" 2>/dev/null
    json_check report_api_equals_cli "$TMP/report_200.body" \
        "d == json.load(open('$TMP/report-cli.json')) and len(d['certificates']) == 1 and d['certificates'][0]['state'] in ('overdue', 'expiring')"
    expect report_bad_days_400 400 GET '/admin/certificates/report?days=many'
    expect report_bad_at_400 400 GET '/admin/certificates/report?at=soon'
    expect report_post_405 405 POST /admin/certificates/report '{}'
    expect bind_needs_one_400 400 POST /admin/accounts/AAAAAAAAAAAAAAAAAAAAAA/bind '{"kid":"a","team":"b"}'
    expect bind_unknown_account_404 404 POST /admin/accounts/AAAAAAAAAAAAAAAAAAAAAA/bind '{"team":"team-api"}'
}

# ---------------------------------------------------------------- revoke

test_cert_revoke() {
    local serial
    serial=$(leaf_pem "$API_CRT" | openssl x509 -noout -serial | sed 's/^serial=//')
    expect cert_revoke_200 200 POST "/admin/certificates/$serial/revoke" '{"reason":"keyCompromise"}' || return
    json_check cert_revoke_answer "$TMP/cert_revoke_200.body" \
        "d['status'] == 'revoked' and d['reason'] == 1"
    expect cert_after_revoke 200 GET '/admin/certificates?team=team-api'
    json_check cert_shows_revoked "$TMP/cert_after_revoke.body" \
        "len(d) == 1 and d[0]['status'] == 'revoked' and d[0]['reason'] == 1 and d[0]['revokedAt'] is not None"
    expect cert_revoke_again_409 409 POST "/admin/certificates/$serial/revoke" ''
    expect cert_revoke_unknown_404 404 POST /admin/certificates/0badc0ffee/revoke ''
    expect cert_revoke_bad_serial_400 400 POST /admin/certificates/xyz/revoke ''
    expect cert_revoke_bad_reason_400 400 POST "/admin/certificates/$serial/revoke" '{"reason":7}'
    # The server's side: lego's own revoke finds it revoked already.
    if LEGO_DIR=$API_DIR lego_cmd lego-api-revoke --eab --kid "$KID" --hmac "$HMAC" revoke; then
        not_ok lego_revoke_after_api_revoke "lego revoked it again"
    elif grep -q 'alreadyRevoked' "$TMP/lego-api-revoke.log"; then
        ok lego_revoke_after_api_revoke_already_revoked
    else
        not_ok lego_revoke_after_api_revoke "lego failed without alreadyRevoked"
        show_tail "$TMP/lego-api-revoke.log" 5
    fi
}

test_eab_revoke() {
    expect eab_revoke_200 200 POST "/admin/eab/$KID/revoke" '' || return
    json_check eab_revoke_answer "$TMP/eab_revoke_200.body" \
        "d['kid'] == '$KID' and d['status'] == 'revoked' and d['accounts'] == 1"
    expect eab_revoke_again_409 409 POST "/admin/eab/$KID/revoke" ''
    expect eab_revoke_unknown_404 404 POST /admin/eab/AAAAAAAAAAAAAAAAAAAAAA/revoke ''
    if LEGO_DIR=$TMP/lego-api2 lego_cmd lego-api2 --eab --kid "$KID" --hmac "$HMAC" run; then
        not_ok lego_with_api_revoked_key_refused "lego registered with a revoked key"
    else
        ok lego_with_api_revoked_key_refused
    fi
}

# ---------------------------------------------------------------- bad input

test_bad_input() {
    local big why got
    expect bad_json_400 400 POST /admin/eab '{"label":'
    expect not_object_400 400 POST /admin/eab '["label"]'
    expect no_body_400 400 POST /admin/eab ''
    expect unknown_member_400 400 POST /admin/eab '{"label":"t","lable":"x"}'
    expect label_missing_400 400 POST /admin/eab '{"allow_names":[".a.test"]}'
    expect label_type_400 400 POST /admin/eab '{"label":5}'
    expect label_long_400 400 POST /admin/eab "{\"label\":\"$(printf 'x%.0s' $(seq 1 65))\"}"
    expect list_type_400 400 POST /admin/eab '{"label":"t","allow_names":".a.test"}'
    expect list_item_type_400 400 POST /admin/eab '{"label":"t","allow_names":[1]}'
    expect validity_range_400 400 POST /admin/eab '{"label":"t","max_validity_days":0}'
    expect deep_json_400 400 POST /admin/eab "$(printf '[%.0s' $(seq 1 100))"
    big=$(head -c 20000 /dev/zero | tr '\0' 'a')
    expect oversized_413 413 POST /admin/eab "{\"label\":\"$big\"}"
    expect wrong_method_405 405 DELETE /admin/eab
    if grep -qi '^Allow: GET, POST' "$TMP/wrong_method_405.hdr"; then
        ok wrong_method_allow_header
    else
        not_ok wrong_method_allow_header "no Allow: GET, POST"
    fi
    expect list_post_405 405 POST /admin/accounts '{}'
    got=$(curl -s --max-time 10 -I -o "$TMP/head.out" -w '%{http_code}' \
          -H "Authorization: Bearer $TOKEN" "$ADMIN/admin/eab")
    if [ "$got" = 405 ] && grep -qi '^Allow: GET, POST' "$TMP/head.out"; then
        ok head_405_headers_only
    else
        not_ok head_405_headers_only "HEAD answered $got"
    fi
    expect unknown_path_404 404 GET /admin/nothing
    expect revoke_get_405 405 GET /admin/eab/x/revoke
    expect problem_json 400 POST /admin/eab '{'
    if grep -qi '^Content-Type: application/problem+json' "$TMP/problem_json.hdr"; then
        json_check problem_document "$TMP/problem_json.body" "d['status'] == 400 and 'detail' in d"
    else
        not_ok problem_document "no application/problem+json"
    fi
    # 300 malformed bodies and queries (bounded: 300 requests, 60 s): each
    # gets 400 or 413, never a 5xx or a dropped connection.
    if why=$("$PY" - "$ADMIN" "$TOKEN" <<'PYEOF' 2>&1
import json, random, sys, time, urllib.request, urllib.error
base, tok = sys.argv[1], sys.argv[2]
rnd = random.Random(16)
bodies = [b"", b"{", b"}", b"null", b"[]", b'"x"', b"1e400", b"\xff\xfe", b"{\"label\":\"\\ud800\"}",
          b'{"label":"a","allow_names":[' + b'".a.test",' * 70 + b'"x"]}',
          b'{"label":"a","max_validity_days":1e300}', b'{"label":"a","max_validity_days":-1}',
          b'{"label":"a","profiles":[null]}', b'{"label":"a\u0000b"}', b'{"label":"a","label":"b"}',
          b"[" * 5000, b'{"a":' * 40 + b"1" + b"}" * 40]
deadline = time.time() + 60
bad = []
for i in range(300):
    if time.time() > deadline:
        break
    if i < len(bodies):
        body = bodies[i]
    else:
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
    path = "/admin/eab" if i < len(bodies) else rnd.choice(["/admin/eab", "/admin/certificates/0a/revoke"])
    if i % 7 == 6:
        q = bytes(rnd.randrange(33, 127) for _ in range(rnd.randrange(1, 80))).decode().replace("#", "")
        req = urllib.request.Request(base + "/admin/certificates?" + q, method="GET")
    else:
        req = urllib.request.Request(base + path, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    req.add_header("Authorization", "Bearer " + tok)
    try:
        code = urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        code = e.code
    except Exception as e:
        bad.append((i, repr(e)))
        continue
    if code >= 500 or code in (201,) and path != "/admin/eab":
        bad.append((i, code))
sys.exit("bad answers: %s" % bad[:5] if bad else 0)
PYEOF
    ); then
        ok malformed_input_400_never_5xx
    else
        not_ok malformed_input_400_never_5xx "$(echo "$why" | tail -n 1)"
    fi
    # Refused input minted nothing: only the one key of test_eab_add.
    admin eab list --json > "$TMP/eab-after-bad.json" 2>/dev/null
    json_check bad_input_minted_nothing "$TMP/eab-after-bad.json" "len(d) == 1"
    if kill -0 "$SERVER_PID" 2>/dev/null &&
       [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$ADMIN/health/live")" = 200 ]; then
        ok proxy_serves_after_bad_input
    else
        not_ok proxy_serves_after_bad_input "the proxy died or /health/live failed"
    fi
}

# ---------------------------------------------------------------- audit

test_audit() {
    local log=$DATA_DIR/audit.log n
    # The events are drained a moment after the commit.
    wait_for 10 grep -q '"event":"eab.revoked".*"caller":"ops"' "$log"
    for ev in eab.created eab.revoked cert.revoked; do
        if grep "\"event\":\"$ev\"" "$log" 2>/dev/null | grep '"by":"api"' | grep -q '"caller":"ops"'; then
            ok "audit_$ev""_by_api_caller_ops"
        else
            not_ok "audit_$ev""_by_api_caller_ops" "no $ev event by api/ops in $log"
        fi
    done
    n=$(grep -c '"event":"admin.api"' "$log" 2>/dev/null || true)
    if [ "${n:-0}" -ge 30 ]; then
        ok audit_every_api_call
    else
        not_ok audit_every_api_call "$n admin.api events"
    fi
    if grep '"event":"admin.api"' "$log" | grep '"status":401' | grep -q '"outcome":"unauthorized"' &&
       grep '"event":"admin.api"' "$log" | grep '"op":"eab.add"' | grep '"status":201' | grep -q '"caller":"ops"'; then
        ok audit_api_outcome_and_caller
    else
        not_ok audit_api_outcome_and_caller "no 401 or no 201 eab.add event with caller ops"
    fi
    if grep -rqF -e "$HMAC" -e "$TOKEN" "$log" "$TMP/proxy.log"; then
        not_ok token_and_hmac_never_logged "the token or the HMAC key is in a log"
    else
        ok token_and_hmac_never_logged
    fi
}

# ---------------------------------------------------------------- reload

test_reload_tokens() {
    printf '# rotated\nops:%s\nci:%s\n' "$TOKEN2" "$TOKEN" > "$TOKEN_FILE.new"
    chmod 0600 "$TOKEN_FILE.new"
    mv "$TOKEN_FILE.new" "$TOKEN_FILE"
    kill -HUP "$SERVER_PID"
    sleep 1
    expect reload_new_token_200 200 GET /admin/accounts '' "$TOKEN2"
    test_openapi
    wait_for 10 grep -q '"caller":"ops".*"status":200' "$DATA_DIR/audit.log" || true
    api reload_old_name_ci GET /admin/accounts '' "$TOKEN" > /dev/null
    wait_for 10 grep -q '"caller":"ci"' "$DATA_DIR/audit.log"
    if grep '"event":"admin.api"' "$DATA_DIR/audit.log" | grep -q '"caller":"ci"'; then
        ok reload_reads_rotated_token_file
    else
        not_ok reload_reads_rotated_token_file "the token renamed ci is not the caller"
    fi
    # token_file off by a reload: the API paths go, health stays.
    sed -i '/^token_file/d' "$TMP/proxy.conf"
    kill -HUP "$SERVER_PID"
    sleep 1
    expect api_off_without_token_file_404 404 GET /admin/eab '' "$TOKEN2"
    expect health_open_without_token 200 GET /health/live '' ''
}

# ---------------------------------------------------------------- OpenAPI

# docs/admin-openapi.yaml parses (python3-yaml), every $ref resolves, and
# its paths and methods are the server's: each answers (with a token)
# something other than 404/405, and the server's routes are all in it.
test_openapi() {
    local why
    if why=$("$PY" - "$REPO_ROOT/docs/admin-openapi.yaml" "$ADMIN" "$TOKEN2" <<'PYEOF' 2>&1
import json, sys, urllib.request, urllib.error, yaml
doc = yaml.safe_load(open(sys.argv[1]))
assert doc["openapi"].startswith("3."), "not OpenAPI 3"
def walk(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "$ref":
                t = doc
                for part in v.lstrip("#/").split("/"):
                    t = t[part]
            else:
                walk(v)
    elif isinstance(x, list):
        for v in x:
            walk(v)
walk(doc)
want = {("/admin/eab", "get"), ("/admin/eab", "post"),
        ("/admin/eab/{kid}/revoke", "post"), ("/admin/accounts", "get"),
        ("/admin/certificates", "get"), ("/admin/certificates/report", "get"),
        ("/admin/accounts/{id}/bind", "post"),
        ("/admin/certificates/{serial}/revoke", "post")}
got = {(p, m) for p, ops in doc["paths"].items() for m in ops}
assert got == want, "paths differ: %s" % (got ^ want)
for p, m in sorted(got):
    url = sys.argv[2] + p.replace("{kid}", "AAAAAAAAAAAAAAAAAAAAAA").replace("{serial}", "0abc").replace("{id}", "AAAAAAAAAAAAAAAAAAAAAA")
    req = urllib.request.Request(url, method=m.upper(), data=b"{}" if m == "post" else None,
                                 headers={"Authorization": "Bearer " + sys.argv[3],
                                          "Content-Type": "application/json"})
    try:
        code = urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        code = e.code
        body = json.load(e)
        assert body["status"] == code and "detail" in body, (p, m, body)
    # kid/serial unknown: 404 with a problem naming it, never "no such admin resource"
    assert code != 405, (p, m, code)
    assert code != 404 or "no such admin resource" not in json.dumps(body), (p, m)
PYEOF
); then
        ok openapi_parses_and_matches_routes
    else
        not_ok openapi_parses_and_matches_routes "$(echo "$why" | tail -n 1)"
    fi
}

# ---------------------------------------------------------------- TLS

CERT_SUBJECT="O=Example Ops, CN=ops-automation"   # as mbedTLS prints it
TLS_DIR=$TMP/admin-tls

# Two client CAs (one trusted by [admin] client_ca, one not) with a client
# certificate each, of the same subject, and the listener's CA and
# certificate for 127.0.0.1.
make_tls_files() {
    mkdir -p "$TLS_DIR" && (
        set -e
        cd "$TLS_DIR"
        ca() {
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
                -nodes -keyout "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
                -addext basicConstraints=critical,CA:TRUE \
                -addext keyUsage=critical,keyCertSign,cRLSign
        }
        leaf() {   # leaf NAME CA SUBJECT EXTENSIONS
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -keyout "$1.key" -out "$1.csr" -subj "$3"
            printf '%s\n' "$4" > "$1.ext"
            openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
                -CAcreateserial -days 2 -out "$1.pem" -extfile "$1.ext"
        }
        ca srvca "admin listener CA"
        ca clientca "ops clients CA"
        ca rogueca "rogue CA"
        leaf server srvca /CN=localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
        leaf good clientca "/O=Example Ops/CN=ops-automation" \
            "extendedKeyUsage=clientAuth"
        leaf rogue rogueca "/O=Example Ops/CN=ops-automation" \
            "extendedKeyUsage=clientAuth"
        chmod 0600 ./*.key
    ) > "$TLS_DIR/openssl.log" 2>&1
}

write_tls_config() {
    write_config "$TOKEN_FILE"
    cat >> "$TMP/proxy.conf" <<EOF
tls_cert = $TLS_DIR/server.pem
tls_key = $TLS_DIR/server.key
client_ca = $TLS_DIR/clientca.pem
EOF
}

# tls_api NAME CERT(none|good|rogue) METHOD PATH [BODY [TOKEN]]: like api,
# over HTTPS; prints the status and curl's exit code ("200 0", "000 35").
tls_api() {
    local name=$1 cert=$2 method=$3 path=$4 body=${5-} tok=${6-}
    local args=(-s --max-time 20 --cacert "$TLS_DIR/srvca.pem"
                -o "$TMP/$name.body" -D "$TMP/$name.hdr" -w '%{http_code}'
                -X "$method")
    if [ "$cert" != none ]; then
        args+=(--cert "$TLS_DIR/$cert.pem" --key "$TLS_DIR/$cert.key")
    fi
    [ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    : > "$TMP/$name.body"
    curl "${args[@]}" "https://127.0.0.1:$ADMIN_PORT$path"
    echo " $?"
}

# tls_expect NAME WANT-STATUS CERT METHOD PATH [BODY [TOKEN]]
tls_expect() {
    local name=$1 want=$2 got
    shift 2
    got=$(tls_api "$name" "$@")
    if [ "${got% *}" = "$want" ]; then
        ok "$name"
        return 0
    fi
    not_ok "$name" "$2 $3 with certificate $1 answered ${got% *} (curl exit ${got#* }), want $want"
    head -c 400 "$TMP/$name.body" | sed 's/^/#   /'
    return 1
}

# An admin.api event in the audit log with this caller, op and status.
audit_has() {   # audit_has CALLER OP STATUS
    grep '"event":"admin.api"' "$DATA_DIR/audit.log" 2>/dev/null |
        grep -F "\"caller\":\"$1\"" | grep -F "\"op\":\"$2\"" |
        grep -qF "\"status\":$3,"
}

test_tls_key_mode() {
    local rc
    chmod 0644 "$TLS_DIR/server.key"
    timeout 20 "$TARGET" -c "$TMP/proxy.conf" > "$TMP/tls-mode.log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
       grep -q 'tls_key.*others may read' "$TMP/tls-mode.log"; then
        ok tls_key_readable_by_others_refused
    else
        not_ok tls_key_readable_by_others_refused "exit $rc"
        tail -n 5 "$TMP/tls-mode.log" | sed 's/^/#   /'
    fi
    chmod 0600 "$TLS_DIR/server.key"
    # Another key than the certificate's stops the start too.
    sed -i "s|^tls_key = .*|tls_key = $TLS_DIR/good.key|" "$TMP/proxy.conf"
    timeout 20 "$TARGET" -c "$TMP/proxy.conf" > "$TMP/tls-pair.log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
       grep -q 'cannot listen.*tls_cert, tls_key' "$TMP/tls-pair.log"; then
        ok tls_key_of_another_certificate_refused
    else
        not_ok tls_key_of_another_certificate_refused "exit $rc"
        tail -n 5 "$TMP/tls-pair.log" | sed 's/^/#   /'
    fi
    sed -i "s|^tls_key = .*|tls_key = $TLS_DIR/server.key|" "$TMP/proxy.conf"
}

test_tls() {
    local got kid why name tok
    tls_expect tls_health_live_no_cert 200 none GET /health/live || true
    tls_expect tls_metrics_no_cert 200 none GET /metrics || true
    got=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
          "http://127.0.0.1:$ADMIN_PORT/health/live")
    if [ "$got" = 200 ]; then
        not_ok tls_listener_refuses_plain_http "plain HTTP answered 200"
    else
        ok tls_listener_refuses_plain_http
    fi

    # A client certificate from client_ca: no token needed.
    tls_expect tls_cert_eab_list_200 200 good GET /admin/eab || true
    admin eab list --json > "$TMP/eab-tls-cli.json" 2>/dev/null
    json_check tls_cert_eab_list_equals_cli "$TMP/tls_cert_eab_list_200.body" \
        "d == json.load(open('$TMP/eab-tls-cli.json'))"
    if tls_expect tls_cert_eab_add_201 201 good POST /admin/eab \
           '{"label":"team-tls","allow_names":[".tls.test"]}'; then
        kid=$(json_get "$TMP/tls_cert_eab_add_201.body" "d['kid']")
        wait_for 10 grep -q "\"event\":\"eab.created\".*$kid" "$DATA_DIR/audit.log"
        if grep '"event":"eab.created"' "$DATA_DIR/audit.log" | grep -F "$kid" |
           grep '"by":"api"' | grep -qF "\"caller\":\"cert:$CERT_SUBJECT\""; then
            ok tls_cert_eab_created_by_subject
        else
            not_ok tls_cert_eab_created_by_subject "no eab.created by cert:$CERT_SUBJECT"
            grep '"event":"eab.created"' "$DATA_DIR/audit.log" | tail -n 2 | sed 's/^/#   /'
        fi
    fi
    # The verified certificate decides, whatever token comes with it.
    tls_expect tls_cert_with_wrong_token_200 200 good GET /admin/accounts '' \
        "$(openssl rand -hex 32)" || true

    # Another CA's certificate of the same subject: the handshake fails,
    # a good token does not help, and nothing reaches the API.
    for name in tls_rogue_cert tls_rogue_cert_with_token; do
        tok=""
        [ "$name" = tls_rogue_cert_with_token ] && tok=$TOKEN2
        got=$(tls_api "$name" rogue GET /admin/eab '' "$tok")
        if [ "${got% *}" = 000 ] && [ "${got#* }" -ne 0 ]; then
            ok "$name""_handshake_fails"
        else
            not_ok "$name""_handshake_fails" "answered ${got% *} (curl exit ${got#* })"
        fi
    done

    # Neither certificate nor token: the 401 of the token-only listener.
    if tls_expect tls_no_cert_no_token_401 401 none GET /admin/eab; then
        if cmp -s "$TMP/tls_no_cert_no_token_401.body" "$TMP/auth_missing.body" &&
           grep -qi '^WWW-Authenticate: Bearer' "$TMP/tls_no_cert_no_token_401.hdr"; then
            ok tls_401_same_as_without_tls
        else
            not_ok tls_401_same_as_without_tls "another body or no WWW-Authenticate"
        fi
    fi
    # A token alone still works next to client_ca.
    tls_expect tls_token_alone_200 200 none GET /admin/accounts '' "$TOKEN2" || true

    wait_for 10 audit_has "cert:$CERT_SUBJECT" eab.add 201
    if audit_has "cert:$CERT_SUBJECT" eab.list 200 &&
       audit_has "cert:$CERT_SUBJECT" eab.add 201 &&
       audit_has "cert:$CERT_SUBJECT" accounts.list 200 &&
       audit_has ops accounts.list 200; then
        ok tls_audit_caller_is_cert_subject_or_token_name
    else
        not_ok tls_audit_caller_is_cert_subject_or_token_name "admin.api events without cert:$CERT_SUBJECT / ops"
        grep '"event":"admin.api"' "$DATA_DIR/audit.log" | tail -n 4 | sed 's/^/#   /'
    fi

    # Clients that open a connection and never finish the handshake hold a
    # worker for the request timeout (5 s), not for ever (four of them:
    # every worker), and health answers after it.
    if why=$("$PY" - "$ADMIN_PORT" <<'PYEOF' 2>&1
import socket, sys, time
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
socks[0].sendall(b"\x16\x03\x01")       # half a TLS record header
t0 = time.time()
for s in socks:
    s.settimeout(max(0.1, 12 - (time.time() - t0)))
    try:
        while s.recv(4096):
            pass
    except socket.timeout:
        sys.exit("a silent client was still connected after 12 s")
    except OSError:
        pass
took = time.time() - t0
assert took >= 3, "dropped after %.1f s, before the request timeout" % took
PYEOF
    ); then
        ok tls_silent_handshake_dropped_after_timeout
    else
        not_ok tls_silent_handshake_dropped_after_timeout "$(echo "$why" | tail -n 1)"
    fi
    tls_expect tls_health_after_silent_clients 200 none GET /health/live || true

    # client_ca alone keeps the API on: token_file removed by a reload.
    sed -i '/^token_file/d' "$TMP/proxy.conf"
    kill -HUP "$SERVER_PID"
    sleep 1
    tls_expect tls_cert_without_token_file_200 200 good GET /admin/eab || true
    tls_expect tls_token_without_token_file_401 401 none GET /admin/eab '' "$TOKEN2" || true
}

# ---------------------------------------------------------------- main

admin_api_main() {
    echo "# admin_api suite: $TARGET; tmp $TMP; admin $ADMIN"
    if [ ! -x "$TARGET" ]; then
        not_ok proxy_binary "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok dns_server_starts "knotd did not answer"
    else
        write_config
        test_token_file_mode
        if test_server_starts; then
            expect health_needs_no_token 200 GET /health/live '' ''
            test_lego_issue
            test_unauthorized
            if test_eab_add; then
                test_lego_with_api_key
                test_lists
                test_report_and_bind
                test_cert_revoke
                test_eab_revoke
            fi
            test_bad_input
            test_audit
            test_reload_tokens
            test_server_stop_clean
            if ! make_tls_files; then
                not_ok tls_files "openssl failed"
                show_tail "$TLS_DIR/openssl.log"
            else
                write_tls_config
                test_tls_key_mode
                if test_server_starts; then
                    test_tls
                    test_server_stop_clean
                fi
            fi
        fi
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 40
    fi
    echo "admin_api: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

admin_api_main
