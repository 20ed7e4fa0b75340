#!/usr/bin/env bash
# Enrolling servers (issue 16, points 2, 3 and 7) against a running proxy
# that requires external account binding:
# - deploy/clients/linux: the units pass `systemd-analyze verify` (and a
#   copy with a missing binary does not: the check bites); the ExecStart of
#   lego-renew@.service, run by unit_exec.py as systemd would run it with
#   an env file, issues, does nothing when not due, renews when due, runs
#   reload-webserver once per new certificate (a fake systemctl/nginx/
#   apache2ctl first on PATH record the calls), refuses to reload after a
#   failed config test, and fails without EAB;
# - deploy/clients/windows/lego-args.txt: the lego argument list of
#   Enrol-Lego.ps1, expanded as the script does, run with Linux lego
#   (webroot, PFX written and readable with the password, renewal);
# - docs/examples/acme_flow.py (python3-acme) runs the whole flow and is
#   the code block of docs/acme-api.md, byte for byte.
# Reuses run.sh's knot DNS, ports and proxy start.
#
# Usage: test/integration/enrol_lego.sh [PROXY_BINARY]   (from the repo root)
# Ends with "enrol: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

LINUX=deploy/clients/linux
WINDOWS=deploy/clients/windows
UNIT=$LINUX/lego-renew@.service
WWW=$TMP/www                    # the "web server's" webroot
WEB_PID=""
FAKEBIN=$TMP/fakebin            # systemctl, nginx, apache2ctl stand-ins
HOOKLOG=$TMP/hook-calls.log     # one line per call of a stand-in
NAME=web                        # the unit instance: lego-renew@web
DOMAINS=(www.en.a.test en.a.test)

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
default_profile = server

[profile.server]
description = TLS server, 90 days
template = tls-server
validity_days = 90

[validation]
http_port = $HTTP_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
type = local
CONF
}

EAB_KID=""
EAB_HMAC=""
mint_eab() {
    local out
    out=$("$TARGET" -c "$TMP/proxy.conf" eab add --json --label team-web 2>"$TMP/eab.err") ||
        { not_ok eab_add "$(cat "$TMP/eab.err")"; return 1; }
    EAB_KID=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["kid"])' "$out")
    EAB_HMAC=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["hmac"])' "$out")
    if [ -z "$EAB_KID" ] || [ -z "$EAB_HMAC" ]; then
        not_ok eab_add "no kid/hmac in $out"
        return 1
    fi
}

web_start() {
    mkdir -p "$WWW/.well-known/acme-challenge"
    "$PY" -m http.server --bind 127.0.0.1 --directory "$WWW" "$HTTP_PORT" \
        > "$TMP/web.log" 2>&1 &
    WEB_PID=$!
    PIDS+=("$WEB_PID")
    wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/"
}

# Stand-ins for the commands reload-webserver calls. Each appends its
# argument list to HOOKLOG; "nginx -t" fails while $TMP/nginx-broken exists.
write_fakebin() {
    mkdir -p "$FAKEBIN"
    cat > "$FAKEBIN/systemctl" <<SH
#!/bin/sh
echo "systemctl \$*" >> "$HOOKLOG"
exit 0
SH
    cat > "$FAKEBIN/nginx" <<SH
#!/bin/sh
echo "nginx \$*" >> "$HOOKLOG"
[ ! -e "$TMP/nginx-broken" ]
SH
    cat > "$FAKEBIN/apache2ctl" <<SH
#!/bin/sh
echo "apache2ctl \$*" >> "$HOOKLOG"
exit 0
SH
    chmod +x "$FAKEBIN"/*
}

calls() {   # calls PATTERN: how many HOOKLOG lines are exactly PATTERN
    grep -cx "$1" "$HOOKLOG" 2>/dev/null
}

# write_env FILE [KEY=VALUE...]: the env file of the instance, from
# example.env with this run's values (later KEY=VALUE override)
write_env() {
    local file=$1 kv
    shift
    sed -e "s|^ACME_SERVER=.*|ACME_SERVER=$DIR_URL|" \
        -e "s|^LEGO_CA_CERTIFICATES=.*|LEGO_CA_CERTIFICATES=$CA_FILE|" \
        -e "s|^ACME_EMAIL=.*|ACME_EMAIL=web@example.test|" \
        -e "s|^ACME_EAB_KID=.*|ACME_EAB_KID=$EAB_KID|" \
        -e "s|^ACME_EAB_HMAC=.*|ACME_EAB_HMAC=$EAB_HMAC|" \
        -e "s|^ACME_DOMAINS=.*|ACME_DOMAINS=${DOMAINS[*]}|" \
        -e "s|^ACME_WEBROOT=.*|ACME_WEBROOT=$WWW|" \
        -e "s|^ACME_HOOK=.*|ACME_HOOK=$PWD/$LINUX/reload-webserver|" \
        -e "s|^RELOAD_SERVICES=.*|RELOAD_SERVICES=nginx apache2|" \
        "$LINUX/example.env" > "$file"
    for kv in "$@"; do
        sed -i "s|^${kv%%=*}=.*|$kv|" "$file"
    done
}

# unit_run LOGNAME ENV_FILE STATE_DIR: the unit's ExecStart, fake tools first on PATH
unit_run() {
    PATH="$FAKEBIN:$PATH" timeout 120 "$PY" "$HERE/unit_exec.py" "$UNIT" "$NAME" \
        "$2" "$3" > "$TMP/$1.log" 2>&1
}

STATE=$TMP/state/$NAME          # what systemd makes /var/lib/lego-renew/web
CRT=$STATE/certificates/www.en.a.test.crt
unit_serial() {
    leaf_pem "$CRT" | openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

# chain_check FILE NAME...: leaf verifies through the rest against ca.pem
# and carries exactly these SANs (prints the reason otherwise)
chain_check() {
    local file=$1 sans want
    shift
    awk '/BEGIN CERT/{n++} n==1' "$file" > "$TMP/cc-leaf.pem"
    awk '/BEGIN CERT/{n++} n>1' "$file" > "$TMP/cc-rest.pem"
    if ! openssl verify -CAfile "$CA_FILE" -untrusted "$TMP/cc-rest.pem" \
            "$TMP/cc-leaf.pem" > "$TMP/cc.log" 2>&1; then
        tail -n 2 "$TMP/cc.log" | tr '\n' ' '
        return 1
    fi
    sans=$(openssl x509 -in "$TMP/cc-leaf.pem" -noout -ext subjectAltName 2>/dev/null |
           grep -o 'DNS:[^,]*' | sed 's/DNS://' | sort | tr '\n' ' ')
    want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    [ "$sans" = "$want" ] || { echo "SANs '$sans', want '$want'"; return 1; }
}

# ---------------------------------------------------------------- linux

test_units_verify() {
    local d=$TMP/units
    mkdir -p "$d/ok" "$d/bad"
    cp "$LINUX/lego-renew@.service" "$LINUX/lego-renew@.timer" "$d/ok/"
    ln -s lego-renew@.service "$d/ok/lego-renew@$NAME.service"
    ln -s lego-renew@.timer "$d/ok/lego-renew@$NAME.timer"
    if systemd-analyze verify --man=no "$d/ok/lego-renew@$NAME.service" \
            "$d/ok/lego-renew@$NAME.timer" > "$TMP/verify.log" 2>&1 &&
       [ ! -s "$TMP/verify.log" ]; then
        ok systemd_analyze_verify_units
    else
        not_ok systemd_analyze_verify_units "$(head -c 300 "$TMP/verify.log")"
    fi
    # The same check on a copy whose ExecStart binary does not exist must
    # fail, or the check above proves nothing.
    sed 's|^ExecStart=/bin/sh |ExecStart=/nonexistent/sh |' "$LINUX/lego-renew@.service" \
        > "$d/bad/lego-renew@.service"
    ln -s lego-renew@.service "$d/bad/lego-renew@$NAME.service"
    if ! systemd-analyze verify --man=no "$d/bad/lego-renew@$NAME.service" > "$TMP/verify-bad.log" 2>&1 &&
       grep -q nonexistent "$TMP/verify-bad.log"; then
        ok systemd_analyze_verify_bites
    else
        not_ok systemd_analyze_verify_bites "a unit with a missing binary passed"
    fi
    if grep -q '^OnCalendar=daily$' "$LINUX/lego-renew@.timer" &&
       grep -q '^Persistent=true$' "$LINUX/lego-renew@.timer" &&
       grep -q '^RandomizedDelaySec=' "$LINUX/lego-renew@.timer" &&
       grep -q '^Type=oneshot$' "$UNIT" &&
       grep -q '^EnvironmentFile=/etc/lego-renew/%i.env$' "$UNIT"; then
        ok units_timer_and_env_file_settings
    else
        not_ok units_timer_and_env_file_settings "OnCalendar/Persistent/RandomizedDelaySec/Type/EnvironmentFile"
    fi
}

test_unit_first_issue() {
    local err
    write_env "$TMP/$NAME.env"
    if ! unit_run unit-run "$TMP/$NAME.env" "$STATE"; then
        not_ok unit_first_issue "the unit's ExecStart failed"
        show_tail "$TMP/unit-run.log"
        return 1
    fi
    if ! err=$(chain_check "$CRT" "${DOMAINS[@]}"); then
        not_ok unit_first_issue "$err"
        return 1
    fi
    ok unit_first_issue
    # lego chose `run` (no certificate yet) and the hook ran once: the
    # config test of each server before its reload.
    if [ "$(calls 'nginx -t -q')" = 1 ] && [ "$(calls 'systemctl reload nginx')" = 1 ] &&
       [ "$(calls 'apache2ctl configtest')" = 1 ] && [ "$(calls 'systemctl reload apache2')" = 1 ] &&
       [ "$(grep -n 'nginx -t -q' "$HOOKLOG" | cut -d: -f1)" -lt \
         "$(grep -n 'systemctl reload nginx' "$HOOKLOG" | cut -d: -f1)" ]; then
        ok unit_first_issue_hook_ran_once
    else
        not_ok unit_first_issue_hook_ran_once "calls: $(tr '\n' ';' < "$HOOKLOG" 2>/dev/null)"
    fi
}

test_unit_not_due() {
    local before after
    before=$(unit_serial)
    if unit_run unit-notdue "$TMP/$NAME.env" "$STATE" &&
       after=$(unit_serial) && [ "$before" = "$after" ] &&
       [ "$(calls 'systemctl reload nginx')" = 1 ] &&
       [ "$(calls 'systemctl reload apache2')" = 1 ] &&
       grep -q 'no renewal' "$TMP/unit-notdue.log"; then
        ok unit_not_due_does_nothing
    else
        not_ok unit_not_due_does_nothing "serial $before -> ${after:-?} or the hook ran"
        show_tail "$TMP/unit-notdue.log"
    fi
}

test_unit_renew_due() {
    local before after err
    before=$(unit_serial)
    # 100 days is more than the 90-day validity: due now.
    write_env "$TMP/$NAME.env" ACME_RENEW_DAYS=100
    if ! unit_run unit-renew "$TMP/$NAME.env" "$STATE"; then
        not_ok unit_renew_when_due "the unit's ExecStart failed"
        show_tail "$TMP/unit-renew.log"
        return
    fi
    after=$(unit_serial)
    if [ -z "$after" ] || [ "$after" = "$before" ]; then
        not_ok unit_renew_when_due "serial unchanged ($before)"
    elif ! err=$(chain_check "$CRT" "${DOMAINS[@]}"); then
        not_ok unit_renew_when_due "$err"
    else
        ok unit_renew_when_due
    fi
    if [ "$(calls 'systemctl reload nginx')" = 2 ] && [ "$(calls 'systemctl reload apache2')" = 2 ]; then
        ok unit_renew_hook_ran_once
    else
        not_ok unit_renew_hook_ran_once "calls: $(tr '\n' ';' < "$HOOKLOG")"
    fi
    # A broken nginx configuration: renewed, apache2 reloaded, nginx not,
    # and the unit fails so that systemctl status shows it.
    touch "$TMP/nginx-broken"
    before=$after
    if unit_run unit-broken "$TMP/$NAME.env" "$STATE"; then
        not_ok unit_config_test_failed_no_reload "the unit succeeded with a broken nginx config"
    elif after=$(unit_serial) && [ "$after" != "$before" ] &&
         [ "$(calls 'systemctl reload nginx')" = 2 ] &&
         [ "$(calls 'systemctl reload apache2')" = 3 ]; then
        ok unit_config_test_failed_no_reload
    else
        not_ok unit_config_test_failed_no_reload "serial $before -> $after; calls: $(tr '\n' ';' < "$HOOKLOG")"
        show_tail "$TMP/unit-broken.log"
    fi
    rm -f "$TMP/nginx-broken"
}

test_unit_without_eab() {
    write_env "$TMP/noeab.env" ACME_EAB_KID= ACME_EAB_HMAC= ACME_DOMAINS=noeab.en.a.test
    if unit_run unit-noeab "$TMP/noeab.env" "$TMP/state/noeab"; then
        not_ok unit_without_eab_refused "issued without EAB"
    elif grep -Eq 'externalAccountRequired|External Account Binding' "$TMP/unit-noeab.log"; then
        ok unit_without_eab_refused
    else
        not_ok unit_without_eab_refused "failed for another reason"
        show_tail "$TMP/unit-noeab.log"
    fi
}

# ---------------------------------------------------------------- windows

WIN_DIR=$TMP/win                # lego's --path, as C:\ProgramData\lego-renew\NAME
WIN_PASS=0123456789abcdef0123456789abcdef0123456789abcdef
WIN_PFX=$WIN_DIR/certificates/win.en.a.test.pfx
WIN_CRT=$WIN_DIR/certificates/win.en.a.test.crt

# win_args ACTION DAYS: lego-args.txt expanded by the rules at its top (as
# Get-LegoArgs in Enrol-Lego.ps1 does), one argument per line
win_args() {
    "$PY" - "$WINDOWS/lego-args.txt" "$1" "$2" "$DIR_URL" "$WIN_DIR" "$WWW" \
        "$WIN_PASS" "$EAB_KID" "$EAB_HMAC" <<'PY'
import re, sys
tmpl, action, days, server, datadir, webroot, pfxpass, kid, hmac = sys.argv[1:]
v = {"Server": server, "Email": "iis@example.test", "DataDir": datadir,
     "KeyType": "rsa2048", "Webroot": webroot, "PfxPass": pfxpass,
     "RenewDays": days}
domains = ["win.en.a.test", "www.win.en.a.test"]
section, out = "", []
for line in open(tmpl, encoding="utf-8"):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    m = re.fullmatch(r"\[(run|renew)\]", line)
    if m:
        section = m.group(1)
        continue
    if section and section != action:
        continue
    if line == "{Domains}":
        for d in domains:
            out += ["--domains", d]
        continue
    if line == "{Eab}":
        if kid:
            out += ["--eab", "--kid", kid, "--hmac", hmac]
        continue
    for k, val in v.items():
        line = line.replace("{" + k + "}", val)
    if re.search(r"\{\w+\}", line):
        sys.exit("no value for " + line)
    out.append(line)
print("\n".join(out))
PY
}

# win_lego LOGNAME ACTION DAYS: lego with the expanded list, as the task runs it
win_lego() {
    local list=()
    mapfile -t list < <(win_args "$2" "$3") || return 1
    [ "${#list[@]}" -gt 5 ] || return 1
    LEGO_CA_CERTIFICATES=$CA_FILE timeout 120 lego "${list[@]}" > "$TMP/$1.log" 2>&1
}

pfx_serial() {   # the serial of the PFX's certificate, opened with the password
    { openssl pkcs12 -in "$WIN_PFX" -passin "pass:$WIN_PASS" -nokeys -clcerts 2>/dev/null ||
      openssl pkcs12 -legacy -in "$WIN_PFX" -passin "pass:$WIN_PASS" -nokeys -clcerts 2>/dev/null; } |
        openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

pfx_has_key() {
    { openssl pkcs12 -in "$WIN_PFX" -passin "pass:$WIN_PASS" -nocerts -nodes 2>/dev/null ||
      openssl pkcs12 -legacy -in "$WIN_PFX" -passin "pass:$WIN_PASS" -nocerts -nodes 2>/dev/null; } |
        grep -q 'BEGIN PRIVATE KEY'
}

test_windows_static() {
    local want have missing=""
    # Every placeholder of the template is a key the script supplies, and
    # the script reads the template (no second copy of the list in it).
    # ({Eab} is made of the values Kid and Hmac.)
    want=$(grep -v '^#' "$WINDOWS/lego-args.txt" | grep -o '{[A-Za-z]*}' | tr -d '{}' |
           sed 's/^Eab$/Kid\nHmac/' | sort -u)
    have=$(sed -n '/^ *\$values = @{/,/^ *}/p' "$WINDOWS/Enrol-Lego.ps1" |
           grep -o '[A-Za-z]* =' | tr -d ' =' | sort -u)
    for k in $want; do
        echo "$have" | grep -qx "$k" || missing="$missing $k"
    done
    if [ -n "$want" ] && [ -z "$missing" ] &&
       grep -q "Get-LegoArgs \$action \$values (Join-Path \$dir 'lego-args.txt')" "$WINDOWS/Enrol-Lego.ps1" &&
       ! grep -q -- "'--http.webroot'" "$WINDOWS/Enrol-Lego.ps1"; then
        ok windows_script_uses_template
    else
        not_ok windows_script_uses_template "placeholders without a value:${missing:- (or the script does not read lego-args.txt)}"
    fi
}

test_windows_args() {
    local s1 s2 s3 err
    if ! win_lego win-run run 30; then
        not_ok windows_args_run "lego with lego-args.txt [run] failed"
        show_tail "$TMP/win-run.log"
        return
    fi
    s1=$(pfx_serial)
    if ! err=$(chain_check "$WIN_CRT" win.en.a.test www.win.en.a.test); then
        not_ok windows_args_run "$err"
    elif [ -z "$s1" ] || ! pfx_has_key ||
         [ "$s1" != "$(leaf_pem "$WIN_CRT" | openssl x509 -noout -serial | sed 's/^serial=//')" ]; then
        not_ok windows_args_run "no PFX with the certificate and its key under the password"
    else
        ok windows_args_run_pfx
    fi
    if win_lego win-notdue renew 30 && s2=$(pfx_serial) && [ "$s2" = "$s1" ]; then
        ok windows_args_renew_not_due
    else
        not_ok windows_args_renew_not_due "serial $s1 -> ${s2:-?}"
        show_tail "$TMP/win-notdue.log"
    fi
    if win_lego win-renew renew 100 && s3=$(pfx_serial) && [ -n "$s3" ] && [ "$s3" != "$s1" ] &&
       pfx_has_key; then
        ok windows_args_renew_due_new_pfx
    else
        not_ok windows_args_renew_due_new_pfx "serial $s1 -> ${s3:-?}"
        show_tail "$TMP/win-renew.log"
    fi
}

# ---------------------------------------------------------------- docs/acme-api.md

FLOW=docs/examples/acme_flow.py
FLOW_NAME=flow.en.a.test

# The document quotes the script: the ```python block right after the line
# "<!-- docs/examples/acme_flow.py -->" equals the file byte for byte.
test_doc_quotes_flow() {
    if "$PY" - docs/acme-api.md "$FLOW" <<'PY'
import sys
doc = open(sys.argv[1], encoding="utf-8").read()
marker = "<!-- docs/examples/acme_flow.py -->\n```python\n"
start = doc.index(marker) + len(marker)
block = doc[start:doc.index("\n```\n", start) + 1]
sys.exit(0 if block == open(sys.argv[2], encoding="utf-8").read() else 1)
PY
    then
        ok acme_api_doc_quotes_flow_script
    else
        not_ok acme_api_doc_quotes_flow_script "docs/acme-api.md and $FLOW differ (or the marker is missing)"
    fi
}

# The document against the code: every (type, status) row of its problem
# table is a row of proxy/problem.c's table and every type of that table is
# in the document; every /acme/ path it names is a route of proxy/app.h.
test_doc_matches_code() {
    if "$PY" - docs/acme-api.md proxy/problem.c proxy/app.h > "$TMP/doc-code.log" 2>&1 <<'PY'
import re, sys
doc = open(sys.argv[1], encoding="utf-8").read()
code = open(sys.argv[2], encoding="utf-8").read()
table = set(re.findall(r'ACME_ERR "(\w+)",\s*(\d+) \}', code))
if len(table) < 20:
    sys.exit("could not read problem.c's table")
section = doc[doc.index("## Problem types"):doc.index("## Retry-After")]
rows = set()
for line in section.splitlines():
    m = re.match(r"\| `(\w+)` \| ([\d /]+) \|", line)
    if m:
        for status in m.group(2).split("/"):
            rows.add((m.group(1), status.strip()))
bad = sorted(rows - table)
missing = sorted({t for t, _ in table} - {t for t, _ in rows})
paths = set(re.findall(r'#define PATH_\w+ "([^"]+)"', open(sys.argv[3]).read()))
named = set(re.findall(r"`(?:POST|GET|HEAD)[^`]*? (/[\w/-]+?)(?:<[^>]*>)?`", doc))
unknown = sorted(p for p in named if p not in paths and p + "/" not in paths)
if bad or missing or unknown or len(named) < 8:
    sys.exit(f"rows not in problem.c: {bad}; types not in the doc: {missing}; "
             f"paths not routed: {unknown} (of {len(named)})")
PY
    then
        ok acme_api_doc_matches_problem_table_and_routes
    else
        not_ok acme_api_doc_matches_problem_table_and_routes "$(tail -n 1 "$TMP/doc-code.log")"
    fi
}

# The directory the document shows has the members the server answers.
test_doc_directory() {
    curl -sf --cacert "$CA_FILE" "$DIR_URL" -o "$TMP/directory.json"
    if "$PY" - docs/acme-api.md "$TMP/directory.json" > "$TMP/doc-dir.log" 2>&1 <<'PY'
import json, re, sys
doc = open(sys.argv[1], encoding="utf-8").read()
start = doc.index("### Directory")
block = re.search(r"```json\n(.*?)\n```", doc[start:], re.S).group(1)
shown = json.loads(block)
live = json.load(open(sys.argv[2]))
if set(shown) != set(live):
    sys.exit(f"members {sorted(shown)} vs the server's {sorted(live)}")
if not set(live["meta"]) <= set(shown["meta"]):
    sys.exit(f"meta {sorted(shown['meta'])} vs the server's {sorted(live['meta'])}")
PY
    then
        ok acme_api_doc_directory_members
    else
        not_ok acme_api_doc_directory_members "$(tail -n 1 "$TMP/doc-dir.log")"
    fi
}

# lego's own http-01 server (ACME_CHALLENGE=http, the env file's default).
test_unit_standalone() {
    local err
    write_env "$TMP/standalone.env" ACME_CHALLENGE=http "ACME_HTTP_PORT=127.0.0.1:$HTTP_PORT" \
        ACME_DOMAINS=sa.en.a.test ACME_HOOK=
    if unit_run unit-standalone "$TMP/standalone.env" "$TMP/state/standalone" &&
       err=$(chain_check "$TMP/state/standalone/certificates/sa.en.a.test.crt" sa.en.a.test); then
        ok unit_http_standalone_issue
    else
        not_ok unit_http_standalone_issue "${err:-the ExecStart of the unit failed}"
        show_tail "$TMP/unit-standalone.log"
    fi
}

test_flow_script() {
    local err out=$TMP/flow
    mkdir -p "$out"
    if ! timeout 90 "$PY" "$FLOW" "$DIR_URL" "$CA_FILE" "$EAB_KID" "$EAB_HMAC" \
            "$FLOW_NAME" "$HTTP_PORT" "$out" > "$TMP/flow.log" 2>&1; then
        not_ok acme_flow_script "the script failed"
        show_tail "$TMP/flow.log"
        return
    fi
    if ! err=$(chain_check "$out/$FLOW_NAME.pem" "$FLOW_NAME"); then
        not_ok acme_flow_script "$err"
    elif ! openssl x509 -in "$out/$FLOW_NAME.pem" -noout -pubkey > "$TMP/flow-pub1" ||
         ! openssl pkey -in "$out/$FLOW_NAME.key" -pubout > "$TMP/flow-pub2" ||
         ! cmp -s "$TMP/flow-pub1" "$TMP/flow-pub2"; then
        not_ok acme_flow_script "the certificate is not for the key the script wrote"
    elif ! grep -q "'profiles': {'server': 'TLS server, 90 days'}" "$TMP/flow.log" ||
         ! grep -Eq "^renew between: \{'start': '[0-9T:-]+Z', 'end': '[0-9T:-]+Z'\} ask again in [0-9]+ s$" "$TMP/flow.log"; then
        not_ok acme_flow_script "no meta.profiles or renewal window in its output"
        show_tail "$TMP/flow.log"
    else
        ok acme_flow_script
    fi
}

# ---------------------------------------------------------------- main

enrol_main() {
    echo "# enrol suite: $TARGET; tmp $TMP"
    write_fakebin
    : > "$HOOKLOG"
    test_units_verify
    test_windows_static
    test_doc_quotes_flow
    test_doc_matches_code
    if [ ! -x "$TARGET" ]; then
        not_ok proxy_binary "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok dns_server_starts "knotd did not answer"
    elif test_server_starts; then
        if mint_eab && web_start; then
            if test_unit_first_issue; then
                test_unit_not_due
                test_unit_renew_due
            fi
            test_unit_without_eab
            test_windows_args
            stop_pid "$WEB_PID" 5   # lego and the script serve http-01 themselves
            test_unit_standalone
            test_flow_script
            test_doc_directory
        fi
        test_server_stop_clean
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 30
    fi
    echo "enrol: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

enrol_main
