#!/usr/bin/env bash
# Renewal oversight and accounts without EAB (issue 17, points 3 and 4):
#  - with eab_required, lego without EAB is refused unless it comes from a
#    [team.NAME] network; from one, its account joins the team for good
#    and gets the team's policy (names, default profile);
#  - lego with an EAB key of another team; `certs report` (--json, --csv,
#    --at, --days) lists by team what is past its renewal window or near
#    its end, as of a later time too;
#  - a small HTTPS receiver on loopback with its own CA gets the issued
#    event, signed (HMAC-SHA256 over timestamp.body, checked here);
#  - with the receiver down lego still finishes, and the event is retried
#    until the receiver is back;
#  - the proxy started under faketime 20 hours later (the 1-day
#    certificates are then past their window) sends renewalOverdue.
# Reuses run.sh.
#
# Usage: test/integration/oversight.sh [PROXY_BINARY]   (from the repo root)
# Ends with "oversight: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

HOOK_DIR=$TMP/hook
HOOK_OUT=$HOOK_DIR/events.jsonl
HOOK_PID=""
HOOK_PORT=$("$PY" "$HERE/free_ports.py" 1)
NETWORKS=127.0.0.2/32           # no client comes from there at first
# The listener's certificate comes from the receiver's CA, valid from now
# for 3 days: the proxy's own would start 20 hours late under faketime.
CA_FILE=$HOOK_DIR/ca.pem
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1   # faketime

proxy_write_config() {
    cat > "$TMP/proxy.conf" <<CONF
[server]
listen   = 127.0.0.1:$ACME_PORT
base_url = https://localhost:$ACME_PORT
data_dir = $DATA_DIR
log_level = debug
tls_cert = $HOOK_DIR/proxy.pem
tls_key  = $HOOK_DIR/proxy.key

[acme]
wait_ms = 1000
eab_required = yes
default_profile = server

[profile.server]
validity_days = 90

[profile.short]
validity_days = 1

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
type = local

[team.net]
networks = $NETWORKS
allow_names = .net.test
profiles = short
webhook = https://127.0.0.1:$HOOK_PORT/hook
webhook_ca = $HOOK_DIR/ca.pem
webhook_secret_file = $HOOK_DIR/secret

[oversight]
webhook_timeout_ms = 2000
CONF
}

admin() {
    "$TARGET" -c "$TMP/proxy.conf" "$@"
}

hook_setup() {
    mkdir -p "$HOOK_DIR"
    head -c 32 /dev/urandom | base64 > "$HOOK_DIR/secret"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$HOOK_DIR/ca.key" -out "$HOOK_DIR/ca.pem" -days 3 \
        -subj "/CN=webhook test root" >/dev/null 2>&1 &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$HOOK_DIR/key.pem" -out "$HOOK_DIR/req.csr" \
        -subj "/CN=127.0.0.1" >/dev/null 2>&1 &&
    printf 'subjectAltName=IP:127.0.0.1\n' > "$HOOK_DIR/san.ext" &&
    openssl x509 -req -in "$HOOK_DIR/req.csr" -CA "$HOOK_DIR/ca.pem" \
        -CAkey "$HOOK_DIR/ca.key" -CAcreateserial -days 3 \
        -extfile "$HOOK_DIR/san.ext" -out "$HOOK_DIR/cert.pem" >/dev/null 2>&1 &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$HOOK_DIR/proxy.key" -out "$HOOK_DIR/proxy.csr" \
        -subj "/CN=localhost" >/dev/null 2>&1 &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$HOOK_DIR/psan.ext" &&
    openssl x509 -req -in "$HOOK_DIR/proxy.csr" -CA "$HOOK_DIR/ca.pem" \
        -CAkey "$HOOK_DIR/ca.key" -CAcreateserial -days 3 \
        -extfile "$HOOK_DIR/psan.ext" -out "$HOOK_DIR/proxy.pem" >/dev/null 2>&1
}

# meta.externalAccountRequired of the directory as this client sees it
eab_required_meta() {
    curl -sf --max-time 5 --cacert "$CA_FILE" "$DIR_URL" |
        jq -r .meta.externalAccountRequired
}

hook_start() {
    "$PY" "$HERE/webhook_receiver.py" "$HOOK_PORT" "$HOOK_DIR/cert.pem" \
        "$HOOK_DIR/key.pem" "$HOOK_OUT" >> "$HOOK_DIR/receiver.log" 2>&1 &
    HOOK_PID=$!
    PIDS+=("$HOOK_PID")
    wait_for 10 curl -s --max-time 2 --cacert "$HOOK_DIR/ca.pem" \
        -o /dev/null "https://127.0.0.1:$HOOK_PORT/"
}

hook_stop() {
    [ -n "$HOOK_PID" ] && stop_pid "$HOOK_PID" 5
    HOOK_PID=""
}

# hook_check EVENT NAME SKEW_SEC: the receiver got EVENT for a certificate
# with identifier NAME, exactly once, signed with the secret, its
# timestamp within SKEW_SEC of now. Prints the reason on failure.
hook_check() {
    "$PY" - "$HOOK_OUT" "$HOOK_DIR/secret" "$1" "$2" "$3" <<'PY'
import hashlib, hmac, json, os, sys, time
out, secret, event, name, skew = sys.argv[1:6]
key = open(secret, "rb").read().rstrip(b"\r\n")
hits = []
for line in (open(out) if os.path.exists(out) else []):
    rec = json.loads(line)
    body = json.loads(rec["body"])
    if body["event"] == event and name in body["certificate"]["identifiers"]:
        hits.append((rec, body))
if len(hits) != 1:
    sys.exit(f"{len(hits)} {event} events for {name}")
rec, body = hits[0]
h = rec["headers"]
ts = h.get("x-acmeproxy-timestamp", "")
want = "sha256=" + hmac.new(key, (ts + "." + rec["body"]).encode(),
                            hashlib.sha256).hexdigest()
if not hmac.compare_digest(want, h.get("x-acmeproxy-signature", "")):
    sys.exit("bad signature")
if abs(time.time() - int(ts)) > int(skew):
    sys.exit(f"timestamp {ts} too far from now")
if h.get("x-acmeproxy-event") != event or h.get("content-type") != "application/json":
    sys.exit(f"headers {h}")
if body["team"] != "net" or rec["path"] != "/hook":
    sys.exit(f"team {body['team']} path {rec['path']}")
PY
}

# wait_event EVENT NAME SKEW SECONDS: hook_check until it passes or time is up
wait_event() {
    local i=0 why
    while [ "$i" -lt $(($4 * 5)) ]; do
        why=$(hook_check "$1" "$2" "$3" 2>&1) && return 0
        sleep 0.2
        i=$((i + 1))
    done
    echo "$why"
    return 1
}

lego_one() {   # lego_one LOGNAME DOMAIN [EAB-KID EAB-HMAC]
    local log=$TMP/$1.log dir=$TMP/lego-$1
    LEGO_CA_CERTIFICATES=$CA_FILE timeout 90 lego --server "$DIR_URL" \
        --email "$1@example.test" --accept-tos --http \
        --http.port "127.0.0.1:$HTTP_PORT" --domains "$2" --path "$dir" \
        ${3:+--eab --kid "$3" --hmac "$4"} run > "$log" 2>&1
}

restart() {   # restart [PREFIX...]: stop, rewrite the config, start
    server_stop > /dev/null 2>&1
    proxy_write_config
    echo "### start $(date +%T) $*" >> "$TMP/proxy.log"
    "$@" "$TARGET" -c "$TMP/proxy.conf" >> "$TMP/proxy.log" 2>&1 &
    SERVER_PID=$!
    wait_for_server 30
}

test_no_eab_refused() {
    if [ "$(eab_required_meta)" = true ]; then
        ok directory_requires_eab_outside_team_networks
    else
        not_ok directory_requires_eab_outside_team_networks "$(eab_required_meta)"
    fi
    if ! lego_one none x.net.test && grep -Eq \
            'externalAccountRequired|requires External Account Binding' \
            "$TMP/none.log"; then
        ok no_eab_outside_team_networks_refused
    else
        not_ok no_eab_outside_team_networks_refused "$(tail -2 "$TMP/none.log")"
    fi
}

test_network_team() {
    if [ "$(eab_required_meta)" = false ]; then
        ok directory_no_eab_in_team_network
    else
        not_ok directory_no_eab_in_team_network "$(eab_required_meta)"
    fi
    if lego_one net1 a.net.test; then
        ok lego_without_eab_from_team_network
    else
        not_ok lego_without_eab_from_team_network "$(tail -3 "$TMP/net1.log")"
        return
    fi
    # The team's default profile (short: 1 day) and its name policy.
    if openssl x509 -in "$TMP/lego-net1/certificates/a.net.test.crt" \
            -noout -checkend 90000 > /dev/null; then
        not_ok team_default_profile "the certificate lasts more than a day"
    else
        ok team_default_profile
    fi
    if ! lego_one net2 www.other.test && grep -q rejectedIdentifier "$TMP/net2.log"; then
        ok team_policy_narrows_names
    else
        not_ok team_policy_narrows_names "$(tail -2 "$TMP/net2.log")"
    fi
    if wait_for 10 grep -q '"event":"account.created"' "$DATA_DIR/audit.log" &&
       grep '"event":"account.created"' "$DATA_DIR/audit.log" |
           grep -q '"team":"net","teamBy":"network"'; then
        ok account_created_audited_with_team
    else
        not_ok account_created_audited_with_team "no account.created with team net"
    fi
}

test_eab_team() {
    local out kid hmac
    if ! out=$(admin eab add --json --label team-b --allow-names .b.test); then
        not_ok eab_add "eab add failed"
        return
    fi
    kid=$(echo "$out" | jq -r .kid)
    hmac=$(echo "$out" | jq -r .hmac)
    if lego_one b1 b.b.test "$kid" "$hmac"; then
        ok lego_with_eab_of_other_team
    else
        not_ok lego_with_eab_of_other_team "$(tail -3 "$TMP/b1.log")"
    fi
}

test_report() {
    local later doc csv
    later=$(date -u -d '+20 hours' +%Y-%m-%dT%H:%M:%SZ)
    doc=$(admin certs report --json --at "$later" --days 3) ||
        { not_ok report_json "certs report failed"; return; }
    echo "$doc" > "$TMP/report-later.json"
    if echo "$doc" | jq -e '[.certificates[] | [.team, .state, .identifiers[0]]]
            == [["net", "overdue", "a.net.test"]]' > /dev/null; then
        ok report_later_overdue_by_team
    else
        not_ok report_later_overdue_by_team "$doc"
    fi
    doc=$(admin certs report --json --days 100)
    if echo "$doc" | jq -e '[.certificates[] | [.team, .state]]
            == [["net", "expiring"], ["team-b", "expiring"]]' > /dev/null; then
        ok report_now_expiring_by_team
    else
        not_ok report_now_expiring_by_team "$doc"
    fi
    doc=$(admin certs report --json --days 3)
    if echo "$doc" | jq -e '[.certificates[] | .identifiers[0]] == ["a.net.test"]' \
            > /dev/null; then
        ok report_now_3_days
    else
        not_ok report_now_3_days "$doc"
    fi
    csv=$(admin certs report --csv --days 100 --team team-b)
    if [ "$(printf '%s' "$csv" | head -1 | tr -d '\r')" = \
         "team,state,days_left,not_after,window_end,serial,id,account,identifiers" ] &&
       [ "$(printf '%s\n' "$csv" | wc -l)" -eq 2 ] &&
       printf '%s' "$csv" | tail -1 | grep -Eq '^team-b,expiring,(89|90),.*,b\.b\.test'; then
        ok report_csv_one_team
    else
        not_ok report_csv_one_team "$csv"
    fi
    if admin certs report --csv --json > /dev/null 2>&1; then
        not_ok report_csv_json_exclusive "accepted both"
    else
        ok report_csv_json_exclusive
    fi
}

test_issued_event() {
    local why
    if why=$(wait_event certificate.issued a.net.test 300 15); then
        ok webhook_issued_signed
    else
        not_ok webhook_issued_signed "$why"
    fi
    # The receiver has the event before the sender's outcome is committed
    # and the audit outbox drained to the file: wait for the line.
    if wait_for 10 grep -q '"event":"webhook.sent"' "$DATA_DIR/audit.log"; then
        ok webhook_sent_audited
    else
        not_ok webhook_sent_audited "no webhook.sent in the audit log"
    fi
    if [ "$(grep -c '"team": *"team-b"' "$HOOK_OUT")" -eq 0 ]; then
        ok webhook_only_teams_with_one
    else
        not_ok webhook_only_teams_with_one "team-b got an event"
    fi
}

test_receiver_down() {
    local t0 dt why
    hook_stop
    t0=$SECONDS
    if lego_one net3 c.net.test; then
        dt=$((SECONDS - t0))
        ok "lego_finishes_with_receiver_down (${dt} s)"
    else
        not_ok lego_finishes_with_receiver_down "$(tail -3 "$TMP/net3.log")"
        return
    fi
    if wait_for 15 grep -q 'certificate.issued team=net .*attempt 1 failed' \
            "$TMP/proxy.log"; then
        ok webhook_failure_retried_later
    else
        not_ok webhook_failure_retried_later "no failed attempt in the log"
    fi
    hook_start || { not_ok receiver_restarts "receiver did not start"; return; }
    if why=$(wait_event certificate.issued c.net.test 300 20); then
        ok webhook_delivered_after_receiver_back
    else
        not_ok webhook_delivered_after_receiver_back "$why"
    fi
}

test_overdue_event() {
    local why
    # 20 hours later the 1-day certificates are past their window (at most
    # 75% of the lifetime): the check at start queues renewalOverdue.
    # libfaketime preloaded into the proxy itself (not the faketime
    # wrapper, which would take the SIGTERM of server_stop); monotonic
    # clocks stay real.
    if ! restart env LD_PRELOAD="$FAKETIME_LIB" FAKETIME=+20h \
            FAKETIME_DONT_FAKE_MONOTONIC=1 \
            ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"; then
        not_ok restart_20h_later "${START_ERR:-}"
        return
    fi
    ok restart_20h_later
    if why=$(wait_event certificate.renewalOverdue a.net.test 72300 15); then
        ok webhook_overdue_signed
    else
        not_ok webhook_overdue_signed "$why"
    fi
    if why=$(wait_event certificate.expiring c.net.test 72300 10); then
        ok webhook_expiring_signed
    else
        not_ok webhook_expiring_signed "$why"
    fi
    if why=$(hook_check certificate.issued a.net.test 1000000); then
        ok webhook_issued_not_repeated
    else
        not_ok webhook_issued_not_repeated "$why"
    fi
}

oversight_main() {
    local t0=$SECONDS
    echo "# oversight suite: $TARGET; tmp $TMP"
    if [ ! -x "$TARGET" ]; then
        not_ok proxy_binary "$TARGET is not an executable file"
    elif [ ! -f "$FAKETIME_LIB" ]; then
        not_ok faketime "$FAKETIME_LIB is missing: deploy/deps.sh installs faketime"
    elif ! hook_setup || ! hook_start; then
        not_ok receiver_starts "the webhook receiver did not start"
    elif ! start_knot; then
        not_ok dns_server_starts "knotd did not answer"
    elif test_server_starts; then
        test_no_eab_refused
        NETWORKS="127.0.0.0/8 ::1"
        if restart; then
            test_network_team
            test_eab_team
            test_report
            test_issued_event
            test_receiver_down
            test_overdue_event
        else
            not_ok restart_with_networks "${START_ERR:-}"
        fi
        if server_stop; then ok server_stops_cleanly; else not_ok server_stops_cleanly "$STOP_ERR"; fi
    fi
    hook_stop
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 30
    fi
    echo "# oversight suite took $((SECONDS - t0)) s"
    echo "oversight: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

oversight_main
