#!/usr/bin/env bash
# The Debian package as a service (issue 14): the .deb's contents are
# unpacked into a throwaway root (dpkg -x) and its /usr/sbin/acmeproxy
# serves with its /etc/acmeproxy/acmeproxy.conf, of which a copy gets the
# test's data directory, ports, resolver and audit file (nothing else of it
# changes), under a stand-in systemd: NOTIFY_SOCKET, WATCHDOG_USEC and
# JOURNAL_STREAM as the service manager sets them.
#
# Usage (from the repository root, after `make deb`):
#   test/integration/service.sh [DEB]     default build/acmeproxy_*.deb
#   SERVICE_BIN=build/san/acmeproxy test/integration/service.sh
#                                         the flows on another binary
# The stand-in PKI is build/mockpki.
#
# Checks: the package's file list, conffile and maintainer scripts;
# lintian; systemd-analyze verify and the exposure of the unit; READY=1,
# WATCHDOG=1, RELOADING=1, STOPPING=1; journald priorities; the admin
# listener (live, ready with its checks, metrics clean under promtool, none
# of it on the ACME listener); metrics before and after a lego issuance;
# [policy] changed and SIGHUP: the next order obeys it; a broken
# configuration, a restart-only change, and an adapter that fails its
# health probe, refused while the proxy keeps serving; the adapter switched to Vault by a reload, its token file
# rotated and reloaded: the next issuance uses the new token (the stand-in
# refuses the old one); the listener's certificate replaced by a reload.
# Ends with "service: N passed, N failed".
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=run.sh
source "$HERE/run.sh" build/acmeproxy
cd "$ROOT" || exit 2

DEB=${1:-$(ls build/acmeproxy_*_*.deb 2>/dev/null | head -n 1)}
MOCKPKI=${MOCKPKI:-build/mockpki}
PKG=$TMP/pkgroot
CONF=$TMP/acmeproxy.conf
NOTIFY_LOG=$TMP/notify.log
MOCK=$TMP/mock
read -r ADMIN_PORT MOCK_PORT DEAD_PORT < <("$PY" "$HERE/free_ports.py" 3 | tr '\n' ' ')
ADMIN=http://127.0.0.1:$ADMIN_PORT
MOCK_URL=https://localhost:$MOCK_PORT
UNIT=$PKG/lib/systemd/system/acmeproxy.service

# ---------------------------------------------------------------- helpers

# set_key FILE SECTION KEY VALUE: sets KEY in [SECTION] (replacing its line,
# or adding it at the section's top; the section is added when missing).
set_key() {
    "$PY" - "$@" <<'EOF'
import re, sys
path, section, key, value = sys.argv[1:5]
lines = open(path).read().split("\n")
out, cur, done, header = [], None, False, None
for i, line in enumerate(lines):
    m = re.match(r"\s*\[([^\]]+)\]", line)
    if m:
        cur = m.group(1)
        out.append(line)
        if cur == section:
            header = len(out)
        continue
    if cur == section and re.match(r"\s*%s\s*=" % re.escape(key), line):
        if not done:
            out.append("%s = %s" % (key, value))
            done = True
        continue
    out.append(line)
if not done:
    if header is None:
        out += ["", "[%s]" % section, "%s = %s" % (key, value)]
    else:
        out.insert(header, "%s = %s" % (key, value))
open(path, "w").write("\n".join(out))
EOF
}

# del_section FILE SECTION: removes [SECTION] and its keys.
del_section() {
    "$PY" - "$@" <<'EOF'
import re, sys
path, section = sys.argv[1:3]
out, skip = [], False
for line in open(path).read().split("\n"):
    m = re.match(r"\s*\[([^\]]+)\]", line)
    if m:
        skip = m.group(1) == section
    if not skip:
        out.append(line)
open(path, "w").write("\n".join(out))
EOF
}

metrics() {   # metrics FILE: scrape /metrics into FILE
    curl -sf --max-time 5 "$ADMIN/metrics" -o "$1"
}

metric() {    # metric FILE SERIES: the value of one series (0 when absent)
    awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}

mock_state() {
    curl -sf --max-time 5 --cacert "$MOCK/ca/ca.pem" "$MOCK_URL/__mock/state" | jq -r "$1"
}

# Counts the log lines that match a pattern (the log grows; reloads are
# told apart by counting).
log_count() { grep -c -- "$1" "$TMP/proxy.log" 2>/dev/null || true; }

# reload_and_wait PATTERN: SIGHUP, then wait for one more log line matching
# PATTERN ("reload: " applied, "reload refused").
log_count_gt() { [ "$(log_count "$1")" -gt "$2" ]; }

reload_and_wait() {
    local before
    before=$(log_count "$1")
    kill -HUP "$SERVER_PID"
    wait_for 20 log_count_gt "$1" "$before"
}

lego_eab() {  # lego_eab LOG NAME... : lego run with the team's EAB key
    local log=$1
    shift
    DNS_NAMES=("$@")
    LEGO_CRT="$LEGO_DIR/certificates/${DNS_NAMES[0]}.crt"
    LEGO_ISSUER="$LEGO_DIR/certificates/${DNS_NAMES[0]}.issuer.crt"
    lego_cmd "$log" --eab --kid "$EAB_KID" --hmac "$EAB_HMAC" run
}

# A stand-in for the service manager's notification socket: one datagram
# per line in NOTIFY_LOG (newlines inside a message become spaces).
notify_listener() {
    "$PY" - "$TMP/notify.sock" "$NOTIFY_LOG" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        out.write(msg.replace("\n", " ") + "\n")
        out.flush()
EOF
    PIDS+=($!)
    wait_for 5 test -S "$TMP/notify.sock"
}

notified() { grep -c -- "$1" "$NOTIFY_LOG" 2>/dev/null || true; }
notified_ge() { [ "$(notified "$1")" -ge "$2" ]; }

service_start() {
    : > "$TMP/proxy.log"
    NOTIFY_SOCKET=$TMP/notify.sock WATCHDOG_USEC=1000000 \
        JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/proxy.log") \
        "$TARGET" -c "$CONF" >> "$TMP/proxy.log" 2>&1 &
    SERVER_PID=$!
    wait_for_server 30
}

# ---------------------------------------------------------------- the package

test_package() {
    local list missing=() f
    list=$(dpkg -c "$DEB" | awk '{print $6}')
    for f in ./usr/sbin/acmeproxy ./etc/acmeproxy/acmeproxy.conf \
        ./lib/systemd/system/acmeproxy.service ./etc/logrotate.d/acmeproxy \
        ./usr/share/man/man8/acmeproxy.8.gz ./usr/share/man/man5/acmeproxy.conf.5.gz; do
        grep -qx -- "$f" <<<"$list" || missing+=("$f")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        ok "package_files"
    else
        not_ok "package_files" "missing: ${missing[*]}"
    fi
    mkdir -p "$TMP/control"
    dpkg-deb -e "$DEB" "$TMP/control"
    if grep -qx /etc/acmeproxy/acmeproxy.conf "$TMP/control/conffiles"; then
        ok "package_conffile"
    else
        not_ok "package_conffile" "conffiles: $(tr '\n' ' ' < "$TMP/control/conffiles" 2>/dev/null)"
    fi
    # The user and the 0700 data directory at install; purge keeps the data.
    if grep -q 'adduser --system --group' "$TMP/control/postinst" &&
       grep -q 'install -d -o acmeproxy -g acmeproxy -m 0700 "$d"' "$TMP/control/postinst" &&
       grep -q '/var/lib/acmeproxy /var/log/acmeproxy' "$TMP/control/postinst" &&
       grep -q 'rm -f /etc/acmeproxy/acmeproxy.conf' "$TMP/control/postrm" &&
       ! grep -q 'rm -r.*/var/lib/acmeproxy' "$TMP/control/postrm"; then
        ok "package_scripts_user_datadir_purge"
    else
        not_ok "package_scripts_user_datadir_purge" "postinst/postrm do not create the user and data directory, or purge removes data"
    fi
    if lintian --fail-on error "$DEB" > "$TMP/lintian.txt" 2>&1; then
        ok "lintian_no_errors"
    else
        not_ok "lintian_no_errors" "$(grep '^E:' "$TMP/lintian.txt" | head -n 3 | tr '\n' ' ')"
    fi
    echo "# lintian: $(grep -c '^E:' "$TMP/lintian.txt") errors, $(grep -c '^W:' "$TMP/lintian.txt") warnings"
}

test_unit() {
    local out exposure d missing=()
    # The unit's ExecStart (/usr/sbin/acmeproxy) and man pages from the
    # package, in a private mount namespace: nothing is installed.
    if out=$(unshare -m sh -c "mount -t tmpfs -o size=16m tmpfs /usr/sbin &&
            cp '$PKG/usr/sbin/acmeproxy' /usr/sbin/ &&
            MANPATH='$PKG/usr/share/man:/usr/share/man' systemd-analyze verify '$UNIT'" 2>&1) &&
       [ -z "$out" ]; then
        ok "systemd_analyze_verify_clean"
    else
        not_ok "systemd_analyze_verify_clean" "$(echo "$out" | head -n 3 | tr '\n' ' ')"
    fi
    out=$(systemd-analyze security --offline=yes --threshold=25 "$UNIT" 2>&1)
    exposure=$(echo "$out" | sed -n 's/.*Overall exposure level for acmeproxy.service: \([0-9.]*\).*/\1/p')
    echo "# systemd-analyze security --offline=yes: exposure $exposure"
    if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.5) }'; then
        ok "unit_exposure_at_most_2.5"
    else
        not_ok "unit_exposure_at_most_2.5" "exposure '$exposure'"
    fi
    for d in Type=notify WatchdogSec= User=acmeproxy \
        CapabilityBoundingSet=CAP_NET_BIND_SERVICE AmbientCapabilities=CAP_NET_BIND_SERVICE \
        'ExecReload=/bin/kill -HUP $MAINPID' NoNewPrivileges=yes ProtectSystem=strict \
        StateDirectory=acmeproxy LogsDirectory=acmeproxy ProtectHome=yes PrivateTmp=yes \
        PrivateDevices=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
        ProtectKernelLogs=yes ProtectControlGroups=yes \
        'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' SystemCallFilter=@system-service \
        MemoryDenyWriteExecute=yes LockPersonality=yes RestrictNamespaces=yes UMask=0077; do
        grep -qxF -- "$d" "$UNIT" || grep -q "^${d}" "$UNIT" || missing+=("$d")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        ok "unit_directives"
    else
        not_ok "unit_directives" "missing: ${missing[*]}"
    fi
}

# ---------------------------------------------------------------- serving

write_conf() {
    cp "$PKG/etc/acmeproxy/acmeproxy.conf" "$CONF"
    set_key "$CONF" server listen "127.0.0.1:$ACME_PORT"
    set_key "$CONF" server base_url "https://localhost:$ACME_PORT"
    set_key "$CONF" server data_dir "$DATA_DIR"
    set_key "$CONF" audit file "$TMP/log/audit.log"
    set_key "$CONF" admin listen "127.0.0.1:$ADMIN_PORT"
    set_key "$CONF" validation http_port "$HTTP_PORT"
    set_key "$CONF" validation resolver "127.0.0.1:$DNS_PORT"
    # lego's http-01 server is on 127.0.0.1, which the package denies.
    set_key "$CONF" validation deny "0.0.0.0/8 169.254.0.0/16 224.0.0.0/4"
    mkdir -p "$TMP/log"
    cp "$CONF" "$TMP/acmeproxy.conf.orig"
}

test_start() {
    if ! service_start; then
        not_ok "service_starts" "${START_ERR:-?}"
        show_tail "$TMP/proxy.log" 20
        return 1
    fi
    ok "service_starts"
    if wait_for 5 grep -q '^READY=1' "$NOTIFY_LOG"; then
        ok "sd_notify_ready"
    else
        not_ok "sd_notify_ready" "no READY=1 on NOTIFY_SOCKET"
    fi
    if wait_for 5 notified_ge '^WATCHDOG=1' 3; then
        ok "sd_notify_watchdog"
    else
        not_ok "sd_notify_watchdog" "$(notified '^WATCHDOG=1') WATCHDOG=1 in 5 s with WATCHDOG_USEC=1 s"
    fi
    if grep -q '^<6>INFO main: listening on' "$TMP/proxy.log" &&
       ! grep -vq '^<[0-7]>' <(grep -v '^acmeproxy: ' "$TMP/proxy.log"); then
        ok "journal_priority_prefix"
    else
        not_ok "journal_priority_prefix" "$(head -n 2 "$TMP/proxy.log" | tr '\n' ' ')"
    fi
}

test_health() {
    local code body
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$ADMIN/health/live")
    [ "$code" = 200 ] && ok "health_live" || not_ok "health_live" "status $code"
    body=$(curl -s -w '\n%{http_code}' --max-time 10 "$ADMIN/health/ready")
    code=$(tail -n 1 <<<"$body")
    body=$(head -n 1 <<<"$body")
    if [ "$code" = 200 ] &&
       [ "$(jq -r '.status' <<<"$body")" = ready ] &&
       [ "$(jq -r '[.checks.store.ok, .checks.adapter.ok, .checks.jobs.ok, .checks.validators.ok] | all' <<<"$body")" = true ]; then
        ok "health_ready_with_checks"
    else
        not_ok "health_ready_with_checks" "$code $body"
    fi
    # Never on the ACME listener.
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA_FILE" --max-time 5 \
        "https://localhost:$ACME_PORT/metrics")
    local code2
    code2=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA_FILE" --max-time 5 \
        "https://localhost:$ACME_PORT/health/ready")
    if [ "$code" = 404 ] && [ "$code2" = 404 ]; then
        ok "admin_paths_not_on_acme_listener"
    else
        not_ok "admin_paths_not_on_acme_listener" "/metrics $code, /health/ready $code2"
    fi
}

# The admin listener refused what it does not serve, and garbage, and kept
# answering afterwards.
test_admin_bad_requests() {
    local code allow raw
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$ADMIN/metrics")
    allow=$(curl -s -D - -o /dev/null --max-time 5 -X POST "$ADMIN/health/live" |
        tr -d '\r' | sed -n 's/^[Aa]llow: //p')
    if [ "$code" = 405 ] && [ "$allow" = "GET, HEAD" ]; then
        ok "admin_post_is_405_allow_get_head"
    else
        not_ok "admin_post_is_405_allow_get_head" "status $code, Allow '$allow'"
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --path-as-is "$ADMIN/health/../metrics/x")
    [ "$code" = 404 ] && ok "admin_unknown_path_is_404" ||
        not_ok "admin_unknown_path_is_404" "status $code"
    raw=$("$PY" - "$ADMIN_PORT" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"\x00\xff GARBAGE\r\n\x01\x02: \xfe\r\n\r\n")
try:
    data = s.recv(200)
except OSError:
    data = b""
print(data.split(b"\r\n", 1)[0].decode("latin-1") or "closed")
PYEOF
)
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$ADMIN/health/live")
    if { [ "$raw" = closed ] || [[ "$raw" == HTTP/1.[01]" 400"* ]]; } && [ "$code" = 200 ]; then
        ok "admin_garbage_refused_and_still_serving"
    else
        not_ok "admin_garbage_refused_and_still_serving" "garbage got '$raw', then /health/live $code"
    fi
}

test_metrics_issuance() {
    local before=$TMP/metrics-before.txt after=$TMP/metrics-after.txt s b a bad=()
    if ! metrics "$before" || ! promtool check metrics < "$before" > "$TMP/promtool.txt" 2>&1; then
        not_ok "metrics_promtool_clean" "$(head -n 3 "$TMP/promtool.txt" | tr '\n' ' ')"
    else
        ok "metrics_promtool_clean"
    fi
    if ! lego_eab lego-issue a.test www.a.test; then
        not_ok "lego_issues_with_packaged_config" "lego run failed"
        show_tail "$TMP/lego-issue.log" 6
        return
    fi
    ok "lego_issues_with_packaged_config"
    metrics "$after"
    for s in 'acmeproxy_certificates_issued_total' \
        'acmeproxy_orders_total{status="valid"}' \
        'acmeproxy_orders_total{status="processing"}' \
        'acmeproxy_validations_total{type="http-01",result="valid"}' \
        'acmeproxy_pki_calls_total{adapter="default",type="local",call="submit",outcome="issued"}' \
        'acmeproxy_pki_call_duration_seconds_count{adapter="default",type="local",call="submit"}' \
        'acmeproxy_http_requests_total{route="new-order",status="201"}' \
        'acmeproxy_http_request_duration_seconds_count{route="new-order"}' \
        'acmeproxy_http_requests_total{route="new-account",status="201"}' \
        'acmeproxy_connections_accepted_total' \
        'acmeproxy_store_commits_total' \
        'acmeproxy_store_commit_batches_total'; do
        b=$(metric "$before" "$s")
        a=$(metric "$after" "$s")
        awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > b) }' || bad+=("$s $b->$a")
    done
    if [ ${#bad[@]} -eq 0 ]; then
        ok "issuance_moves_metrics"
    else
        not_ok "issuance_moves_metrics" "${bad[*]}"
    fi
    if promtool check metrics < "$after" > "$TMP/promtool2.txt" 2>&1; then
        ok "metrics_promtool_clean_after_issuance"
    else
        not_ok "metrics_promtool_clean_after_issuance" "$(head -n 3 "$TMP/promtool2.txt" | tr '\n' ' ')"
    fi
    echo "# metrics: $(grep -c '^# TYPE' "$after") families, $(grep -vc '^#' "$after") series"
}

test_policy_reload() {
    set_key "$CONF" policy allow_names ".allowed.test"
    if ! reload_and_wait 'main: reload: .* applied'; then
        not_ok "policy_reload_applied" "no 'reload: ... applied' line"
        show_tail "$TMP/proxy.log" 5
        return
    fi
    ok "policy_reload_applied"
    if lego_eab lego-denied x.a.test; then
        not_ok "new_policy_refuses" "x.a.test was issued after allow_names = .allowed.test"
    elif grep -q 'rejectedIdentifier' "$TMP/lego-denied.log"; then
        ok "new_policy_refuses"
    else
        not_ok "new_policy_refuses" "no rejectedIdentifier"
        show_tail "$TMP/lego-denied.log" 4
    fi
    if lego_eab lego-allowed y.allowed.test; then
        ok "new_policy_allows"
    else
        not_ok "new_policy_allows" "y.allowed.test refused"
        show_tail "$TMP/lego-allowed.log" 4
    fi
    if [ "$(grep -c '^RELOADING=1' "$NOTIFY_LOG")" -ge 1 ] &&
       [ "$(grep -c '^READY=1' "$NOTIFY_LOG")" -ge 2 ]; then
        ok "sd_notify_reloading_ready"
    else
        not_ok "sd_notify_reloading_ready" "$(tr '\n' '|' < "$NOTIFY_LOG" | grep -o 'RELOADING[^|]*' | head -n 1)"
    fi
}

test_refused_reloads() {
    local good=$TMP/good.conf
    cp "$CONF" "$good"
    printf '\n[policy\nthis is not a configuration\n' >> "$CONF"
    if reload_and_wait 'reload refused' &&
       grep -q 'reload refused, the running configuration stays: .*acmeproxy.conf:[0-9]*' "$TMP/proxy.log"; then
        ok "broken_config_refused_with_log_line"
    else
        not_ok "broken_config_refused_with_log_line" "no refusal line"
        show_tail "$TMP/proxy.log" 4
    fi
    if kill -0 "$SERVER_PID" 2>/dev/null && lego_eab lego-after-broken z.allowed.test; then
        ok "keeps_serving_after_broken_config"
    else
        not_ok "keeps_serving_after_broken_config" "no issuance after the broken reload"
        show_tail "$TMP/lego-after-broken.log" 4
    fi
    cp "$good" "$CONF"
    set_key "$CONF" server listen "127.0.0.1:1"
    set_key "$CONF" policy allow_names ".other.test"
    if reload_and_wait 'reload refused' &&
       grep -q 'reload refused.*\[server\] listen changed: it takes a restart' "$TMP/proxy.log"; then
        ok "restart_only_key_refused_named"
    else
        not_ok "restart_only_key_refused_named" "$(grep 'reload refused' "$TMP/proxy.log" | tail -n 1)"
    fi
    # Refused whole: the policy of that file did not come in either.
    if lego_eab lego-after-restart-only w.allowed.test; then
        ok "refused_reload_changes_nothing"
    else
        not_ok "refused_reload_changes_nothing" "w.allowed.test refused"
    fi
    cp "$good" "$CONF"
}

test_vault_rotation() {
    local st0 st1 lg0 lg1 token
    mkdir -p "$MOCK"
    "$MOCKPKI" -d "$MOCK" -p "$MOCK_PORT" > "$TMP/mock.log" 2>&1 &
    PIDS+=($!)
    if ! wait_for 20 test -f "$MOCK/ready"; then
        not_ok "mockpki_starts" "no ready file"
        return
    fi
    cp "$MOCK/vault-token" "$TMP/vault-token"
    chmod 600 "$TMP/vault-token"
    del_section "$CONF" adapter
    cat >> "$CONF" <<EOF

[adapter]
type = vault
url = $MOCK_URL
ca_file = $MOCK/ca/ca.pem
role = acme
token = $TMP/vault-token
trust_anchors = $MOCK/ca/ca.pem
EOF
    if ! reload_and_wait 'reload: .* applied (.*adapter vault'; then
        not_ok "adapter_switched_by_reload" "$(grep 'reload' "$TMP/proxy.log" | tail -n 1)"
        return
    fi
    ok "adapter_switched_by_reload"
    st0=$(mock_state .vault_signs_static)
    if lego_eab lego-vault1 v1.allowed.test && [ "$(mock_state .vault_signs_static)" -gt "$st0" ]; then
        ok "issues_through_vault_with_token"
    else
        not_ok "issues_through_vault_with_token" "static signs $st0 -> $(mock_state .vault_signs_static)"
        show_tail "$TMP/lego-vault1.log" 4
    fi
    # An adapter that fails its health probe (nothing listens on DEAD_PORT):
    # refused with the probe's answer; the running adapter keeps issuing.
    local good=$TMP/vault-good.conf
    cp "$CONF" "$good"
    set_key "$CONF" adapter url "https://localhost:$DEAD_PORT"
    if reload_and_wait 'reload refused' &&
       grep -q 'reload refused, the running configuration stays: .*adapter vault failed its health probe' "$TMP/proxy.log"; then
        ok "unhealthy_adapter_refused_with_log_line"
    else
        not_ok "unhealthy_adapter_refused_with_log_line" "$(grep 'reload' "$TMP/proxy.log" | tail -n 1)"
    fi
    cp "$good" "$CONF"
    st0=$(mock_state .vault_signs_static)
    if lego_eab lego-vault-unhealthy vu.allowed.test && [ "$(mock_state .vault_signs_static)" -gt "$st0" ]; then
        ok "keeps_issuing_after_unhealthy_adapter"
    else
        not_ok "keeps_issuing_after_unhealthy_adapter" "static signs $st0 -> $(mock_state .vault_signs_static)"
        show_tail "$TMP/lego-vault-unhealthy.log" 4
    fi
    # Rotation: a new token (an AppRole login at the stand-in) in the token
    # file, the old one refused from now on, then the reload.
    token=$(curl -sf --max-time 5 --cacert "$MOCK/ca/ca.pem" -X POST \
        -d "{\"role_id\":\"$(cat "$MOCK/approle-role-id")\",\"secret_id\":\"$(cat "$MOCK/approle-secret-id")\"}" \
        "$MOCK_URL/v1/auth/approle/login" | jq -r .auth.client_token)
    printf '%s\n' "$token" > "$TMP/vault-token"
    curl -sf --max-time 5 --cacert "$MOCK/ca/ca.pem" -X POST \
        "$MOCK_URL/__mock/vault-static?on=0" > /dev/null
    if ! reload_and_wait 'reload: .* applied (.*adapter vault'; then
        not_ok "secret_rotated_by_reload" "$(grep 'reload' "$TMP/proxy.log" | tail -n 1)"
        return
    fi
    st0=$(mock_state .vault_signs_static)
    lg0=$(mock_state .vault_signs_login)
    if lego_eab lego-vault2 v2.allowed.test; then
        st1=$(mock_state .vault_signs_static)
        lg1=$(mock_state .vault_signs_login)
        if [ "$lg1" -gt "$lg0" ] && [ "$st1" -eq "$st0" ]; then
            ok "secret_rotated_by_reload"
        else
            not_ok "secret_rotated_by_reload" "login-token signs $lg0 -> $lg1, static $st0 -> $st1"
        fi
    else
        not_ok "secret_rotated_by_reload" "lego failed after the rotation"
        show_tail "$TMP/lego-vault2.log" 4
        show_tail "$TMP/proxy.log" 6
    fi
    if grep -Fq "$token" "$TMP/proxy.log" || grep -Fq "$(cat "$MOCK/vault-token")" "$TMP/proxy.log"; then
        not_ok "no_token_in_log" "a Vault token appears in the log"
    else
        ok "no_token_in_log"
    fi
    metrics "$TMP/metrics-vault.txt"
    if awk '$1 == "acmeproxy_pki_calls_total{adapter=\"default\",type=\"vault\",call=\"submit\",outcome=\"issued\"}" && $2 >= 2 { f = 1 } END { exit !f }' "$TMP/metrics-vault.txt" &&
       awk '$1 == "acmeproxy_config_reloads_total{result=\"refused\"}" && $2 >= 3 { f = 1 } END { exit !f }' "$TMP/metrics-vault.txt"; then
        ok "metrics_pki_and_reloads"
    else
        not_ok "metrics_pki_and_reloads" "$(grep -E 'pki_calls_total\{adapter="default",type="vault"|config_reloads' "$TMP/metrics-vault.txt" | tr '\n' ' ')"
    fi
}

fingerprint() {
    echo | timeout 5 openssl s_client -connect "127.0.0.1:$ACME_PORT" -servername localhost 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null
}

test_tls_reload() {
    local want got='' old
    old=$(fingerprint)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$TMP/new-tls.key" -out "$TMP/new-tls.pem" -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 > /dev/null 2>&1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$TMP/other.key" -out "$TMP/other.pem" -subj /CN=other > /dev/null 2>&1
    want=$(openssl x509 -in "$TMP/new-tls.pem" -noout -fingerprint -sha256)
    # A key that is not the certificate's: refused, the old one stays.
    set_key "$CONF" server tls_cert "$TMP/new-tls.pem"
    set_key "$CONF" server tls_key "$TMP/other.key"
    if reload_and_wait 'reload refused' && [ "$(fingerprint)" = "$old" ]; then
        ok "mismatched_tls_key_refused"
    else
        not_ok "mismatched_tls_key_refused" "$(grep 'reload' "$TMP/proxy.log" | tail -n 1)"
    fi
    set_key "$CONF" server tls_key "$TMP/new-tls.key"
    if reload_and_wait 'reload: .* applied' && got=$(fingerprint) && [ "$got" = "$want" ]; then
        ok "listener_certificate_reloaded"
    else
        not_ok "listener_certificate_reloaded" "served '$got', want '$want'"
    fi
}

test_stop() {
    if server_stop && wait_for 5 grep -q '^STOPPING=1' "$NOTIFY_LOG"; then
        ok "stops_clean_with_stopping"
    else
        not_ok "stops_clean_with_stopping" "${STOP_ERR:-no STOPPING=1}"
    fi
}

service_main() {
    echo "# service: package $DEB; tmp $TMP"
    echo "# ports: acme $ACME_PORT admin $ADMIN_PORT http-01 $HTTP_PORT dns $DNS_PORT mock $MOCK_PORT dead $DEAD_PORT"
    if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then
        not_ok "package_built" "no build/acmeproxy_*.deb (make deb)"
    elif ! dpkg -x "$DEB" "$PKG"; then
        not_ok "package_unpacks" "dpkg -x $DEB failed"
    elif ! start_knot; then
        not_ok "dns_server_starts" "knotd did not answer"
    elif ! notify_listener; then
        not_ok "notify_socket" "the stand-in NOTIFY_SOCKET did not come up"
    else
        # SERVICE_BIN=build/san/acmeproxy runs the same flows on the
        # sanitizer build (the package checks still read the .deb).
        TARGET=${SERVICE_BIN:-$PKG/usr/sbin/acmeproxy}
        test_package
        test_unit
        write_conf
        if out=$("$TARGET" -c "$CONF" eab add --label service-test 2>&1); then
            EAB_KID=$(awk '/^kid:/ {print $2}' <<<"$out")
            EAB_HMAC=$(awk '/^hmac:/ {print $2}' <<<"$out")
            ok "packaged_binary_admin_eab_add"
        else
            not_ok "packaged_binary_admin_eab_add" "$out"
            EAB_KID=x EAB_HMAC=x
        fi
        if test_start; then
            test_health
            test_admin_bad_requests
            test_metrics_issuance
            test_policy_reload
            test_refused_reloads
            test_vault_rotation
            test_tls_reload
            test_stop
            if grep -Eq 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/proxy.log"; then
                not_ok "no_sanitizer_reports" "see the log"
                grep -E -m 3 -A 12 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/proxy.log" | sed 's/^/#   /'
            elif [ -n "${SERVICE_BIN:-}" ]; then
                ok "no_sanitizer_reports"
            fi
        fi
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 40
    fi
    echo "service: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

service_main
