#!/usr/bin/env bash
# Middleware that gets its certificate from the proxy (issue 16, point 4),
# each run from the configuration files in deploy/clients/ unchanged:
#   apache   Apache mod_md (http-01 on [validation] http_port, EAB file)
#   caddy    Caddy (tls-alpn-01 on [validation] tls_port, acme_eab)
#   haproxy  HAProxy 2.6 + lego (dns-01) + the hook that swaps the
#            certificate in through the runtime API, no reload
#   tomcat   Tomcat 10 + lego (dns-01) + the hook that writes PKCS#12 and
#            has Tomcat reload its TLS configuration, no restart
# For each: the certificate is obtained, served (curl verifies the chain to
# the proxy's root and the name), renewed, and the served serial changes.
# The proxy issues 1-day certificates (profile "short"), which every
# client is made to renew at once. The four run in parallel.
#
# Usage: test/integration/enrol_middleware.sh [PROXY_BINARY]  (repo root)
#   ONLY="apache caddy" runs a subset.
# Ends with "enrol_middleware: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

CLIENTS=$(cd "$HERE/../../deploy/clients" && pwd)
ONLY=${ONLY:-apache caddy haproxy tomcat}
KEYS=$TMP/keys                  # one EAB key (JSON) per server
mkdir -p "$KEYS"
START=$SECONDS

# Ports of the servers, none equal to run.sh's.
more_ports() {
    local p taken=" $DNS_PORT $ACME_PORT $HTTP_PORT $MGMT_PORT $TLS01_PORT " out=()
    for p in $("$PY" "$HERE/free_ports.py" 12); do
        case $taken in *" $p "*) continue ;; esac
        out+=("$p")
        taken="$taken$p "
    done
    echo "${out[@]}"
}
read -r APACHE_TLS CADDY_ADMIN CADDY_HTTP HAPROXY_TLS TOMCAT_TLS TOMCAT_HTTP _ < <(more_ports)

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
default_profile = short

[profile.short]
description = TLS server, 1 day (renewed at once by every client here)
validity_days = 1

[validation]
http_port = $HTTP_PORT
tls_port  = $TLS01_PORT
resolver  = 127.0.0.1:$DNS_PORT

[adapter]
type = local
CONF
}

# mint SERVER NAME: an EAB key for SERVER limited to NAME, in $KEYS/SERVER.json
mint() {
    (
        umask 077
        "$TARGET" -c "$TMP/proxy.conf" eab add --json --label "$1" \
            --allow-names "$2" > "$KEYS/$1.json" 2> "$TMP/mint-$1.err"
    )
}

key_field() {   # key_field SERVER kid|hmac
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$KEYS/$1.json" "$2"
}

# ---------------------------------------------------------------- served certificate

# served_serial PORT NAME: the serial of the leaf served there for NAME
served_serial() {
    timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername "$2" \
        < /dev/null 2> /dev/null | openssl x509 -noout -serial 2> /dev/null |
        sed 's/^serial=//'
}

# served_ok PORT NAME: curl verifies the served chain to the proxy's root
# and the name
served_ok() {
    curl -sf -o /dev/null --max-time 5 --cacert "$CA_FILE" \
        --resolve "$2:$1:127.0.0.1" "https://$2:$1/"
}

# served_tls_ok PORT NAME: the same for a server that may answer the
# request with an error status (only the TLS handshake matters)
served_tls_ok() {
    curl -s -o /dev/null --max-time 5 --cacert "$CA_FILE" \
        --resolve "$2:$1:127.0.0.1" "https://$2:$1/"
}

# wait_serial_change SECONDS PORT NAME OLD: until a verified serial other
# than OLD is served; prints it
wait_serial_change() {
    local limit=$1 port=$2 name=$3 old=$4 s i=0
    while [ "$i" -lt $((limit * 2)) ]; do
        s=$(served_serial "$port" "$name")
        if [ -n "$s" ] && [ "$s" != "$old" ] && served_tls_ok "$port" "$name"; then
            echo "$s"
            return 0
        fi
        sleep 0.5
        i=$((i + 1))
    done
    return 1
}

lines_more_than() {   # lines_more_than FILE N
    [ "$(wc -l < "$1")" -gt "$2" ]
}

# ---------------------------------------------------------------- branches

# Each server runs in a subshell of its own (in parallel); its processes
# are in $TMP/pids-NAME too, for the main shell's cleanup. Its results go
# to $TMP/NAME.out as ok/not ok lines.
BRANCH=""
BRANCH_PIDS=()
BRANCHES=()                     # NAME:PID of each running branch
branch_track() {   # branch_track PID
    BRANCH_PIDS+=("$1")
    echo "$1" >> "$TMP/pids-$BRANCH"
}
# The branch's EXIT trap: stops what it started, then forgets the PIDs.
branch_cleanup() {
    local pid
    for pid in "${BRANCH_PIDS[@]}"; do
        stop_pid "$pid" 10 > /dev/null 2>&1
    done
    rm -f "$TMP/pids-$BRANCH"
}
# branch_cmd CMD...: CMD in the background, tracked and waited for (so a
# TERM to the branch interrupts the wait at once); returns its status.
branch_cmd() {
    "$@" &
    local pid=$!
    branch_track "$pid"
    wait "$pid"
}

# The main shell's exit (normal or INT/TERM): the branches' own traps stop
# their servers; what is left after 15 s (a branch stuck in a command) is
# stopped from the PID files; then run.sh's cleanup (proxy, knotd, TMP).
eval "$(declare -f cleanup | sed '1s/^cleanup/run_cleanup/')"
cleanup() {
    local b f pid i=0
    for b in "${BRANCHES[@]}"; do
        kill -TERM "${b#*:}" 2> /dev/null
    done
    while [ "$i" -lt 150 ] && compgen -G "$TMP/pids-*" > /dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    for f in "$TMP"/pids-*; do
        [ -f "$f" ] || continue
        while read -r pid; do
            kill -KILL "$pid" 2> /dev/null
        done < "$f"
    done
    run_cleanup
}

# ---------------------------------------------------------------- Apache mod_md

APACHE_NAME=apache.a.test
APACHE_DIR=$TMP/apache
APACHE_PID=""

apache_write_config() {
    local d=$APACHE_DIR m=/usr/lib/apache2/modules
    mkdir -p "$d/md" "$d/www" "$d/flags" "$d/logs"
    cp "$CA_FILE" "$d/root.pem"   # data_dir is root's alone
    # Byte copies of the delivered files: www-data may not be able to read
    # the checkout (a clone under /root, say).
    cp "$CLIENTS/apache/acmeproxy-md.conf" "$CLIENTS/apache/md-message.sh" "$d/"
    echo "apache $APACHE_NAME" > "$d/www/index.html"
    cat > "$d/site.conf" <<CONF
Define ACMEPROXY_DIRECTORY $DIR_URL
Define ACMEPROXY_ROOT      $d/root.pem
Define ACMEPROXY_EAB_FILE  $KEYS/apache.json
Define MD_CONTACT          admin@example.test
Define MD_NAME             $APACHE_NAME
Define MD_DOCROOT          $d/www
Define MD_HTTP_PORT        $HTTP_PORT
Define MD_HTTPS_PORT       $APACHE_TLS
Define MD_RENEW_WINDOW     ${MD_RENEW_WINDOW:-2d}
Define MD_MESSAGE_CMD      "$d/md-message.sh $d/flags"
CONF
    cat > "$d/httpd.conf" <<CONF
ServerRoot $d
LoadModule mpm_event_module $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule mime_module $m/mod_mime.so
LoadModule dir_module $m/mod_dir.so
LoadModule socache_shmcb_module $m/mod_socache_shmcb.so
LoadModule ssl_module $m/mod_ssl.so
LoadModule md_module $m/mod_md.so
ServerName localhost
PidFile $d/httpd.pid
DefaultRuntimeDir $d
Mutex file:$d default
ErrorLog $d/logs/error.log
LogLevel warn md:debug
Listen 127.0.0.1:$HTTP_PORT
Listen 127.0.0.1:$APACHE_TLS
StartServers 1
ServerLimit 1
ThreadsPerChild 25
MaxRequestWorkers 25
TypesConfig /etc/mime.types
DocumentRoot $d/www
MDStoreDir $d/md
Include $d/site.conf
Include $d/acmeproxy-md.conf
CONF
}

test_apache() {
    local s0 s1 s2 n
    if (cd "$TMP" && systemd-analyze verify "$CLIENTS/apache/apache2-md-reload.path" \
            "$CLIENTS/apache/apache2-md-reload.service") > "$TMP/apache-units.log" 2>&1; then
        ok apache_reload_units_verify
    else
        not_ok apache_reload_units_verify "systemd-analyze verify refused them"
        show_tail "$TMP/apache-units.log"
    fi
    if ! mint apache "$APACHE_NAME"; then
        not_ok apache_eab_key "eab add: $(cat "$TMP/mint-apache.err")"
        return
    fi
    apache_write_config
    # Apache will not serve as root: the whole server (parent included)
    # runs as www-data, so it may write its md store and flags.
    chmod 711 "$TMP"
    chown www-data "$KEYS/apache.json"   # mode 0600 (mint)
    chown -R www-data:www-data "$APACHE_DIR"
    if ! apache2 -t -f "$APACHE_DIR/httpd.conf" > "$TMP/apache-t.log" 2>&1; then
        not_ok apache_config "apache2 -t refused it"
        show_tail "$TMP/apache-t.log"
        return
    fi
    setpriv --reuid=www-data --regid=www-data --clear-groups \
        apache2 -f "$APACHE_DIR/httpd.conf" -DFOREGROUND \
        > "$APACHE_DIR/logs/stdout.log" 2>&1 &
    APACHE_PID=$!
    branch_track "$APACHE_PID"
    # mod_md serves a fallback certificate until it has one; the first one
    # is reported as "renewed" too and needs a graceful restart.
    if ! wait_for 30 grep -q "$APACHE_NAME" "$APACHE_DIR/flags/renewed"; then
        not_ok apache_md_obtains "mod_md reported no certificate within 30 s"
        show_tail "$APACHE_DIR/logs/error.log" 30
        return
    fi
    ok apache_md_obtains
    s0=$(served_serial "$APACHE_TLS" "$APACHE_NAME")
    n=$(wc -l < "$APACHE_DIR/flags/renewed")
    kill -USR1 "$APACHE_PID"
    if s1=$(wait_serial_change 15 "$APACHE_TLS" "$APACHE_NAME" "$s0") &&
       served_ok "$APACHE_TLS" "$APACHE_NAME"; then
        ok apache_serves_md_certificate
    else
        not_ok apache_serves_md_certificate "no verified certificate after the graceful restart (fallback serial $s0)"
        show_tail "$APACHE_DIR/logs/error.log" 30
        return
    fi
    # The renewal window (2d) is longer than the 1-day lifetime: mod_md
    # renews again as soon as the restarted child runs (maybe already
    # done), then the next graceful restart makes it served.
    if ! wait_for 30 lines_more_than "$APACHE_DIR/flags/renewed" "$n"; then
        not_ok apache_md_renews "mod_md reported no renewal within 30 s"
        show_tail "$APACHE_DIR/logs/error.log" 30
        return
    fi
    ok apache_md_renews
    kill -USR1 "$APACHE_PID"
    if s2=$(wait_serial_change 15 "$APACHE_TLS" "$APACHE_NAME" "$s1") &&
       served_ok "$APACHE_TLS" "$APACHE_NAME"; then
        ok apache_serves_renewed_certificate
        echo "# apache: served serial $s1, then $s2"
    else
        not_ok apache_serves_renewed_certificate "still serial $s1 after the renewal and a graceful restart"
        show_tail "$APACHE_DIR/logs/error.log" 30
    fi
    if kill -0 "$APACHE_PID" 2> /dev/null; then
        ok apache_still_running
    else
        not_ok apache_still_running "apache2 exited"
    fi
}

# ---------------------------------------------------------------- Caddy

CADDY_NAME=caddy.a.test
CADDY_DIR=$TMP/caddy

# The delivered Caddyfile, adapted to JSON; then what the test changes:
# its own admin port, a renewal check every 2 s and a renewal window of
# the whole lifetime (renewal_window_ratio is JSON-only in Caddy 2.6), so
# a fresh 1-day certificate is renewed at once instead of 8 hours before
# its end.
caddy_write_config() {
    mkdir -p "$CADDY_DIR/www" "$CADDY_DIR/data" "$CADDY_DIR/config"
    echo "caddy $CADDY_NAME" > "$CADDY_DIR/www/index.html"
    caddy_set_env
    env "${CADDY_ENV[@]}" caddy adapt --config "$CLIENTS/caddy/Caddyfile" \
        > "$CADDY_DIR/adapted.json" 2> "$CADDY_DIR/adapt.log" || return 1
    jq --arg admin "127.0.0.1:$CADDY_ADMIN" '
        .admin = {listen: $admin}
        | .apps.tls.automation.renew_interval = "2s"
        | .apps.tls.automation.policies[].renewal_window_ratio = 0.9999' \
        "$CADDY_DIR/adapted.json" > "$CADDY_DIR/caddy.json"
}

CADDY_ENV=()   # the Caddyfile's environment (after the EAB key is minted)
caddy_set_env() {
    CADDY_ENV=(HOME="$CADDY_DIR" XDG_DATA_HOME="$CADDY_DIR/data"
        XDG_CONFIG_HOME="$CADDY_DIR/config"
        CADDY_HTTP_PORT="$CADDY_HTTP" CADDY_HTTPS_PORT="$TLS01_PORT"
        ACMEPROXY_DIRECTORY="$DIR_URL" ACMEPROXY_ROOT="$CA_FILE"
        ACMEPROXY_EAB_KID="$(key_field caddy kid)"
        ACMEPROXY_EAB_HMAC="$(key_field caddy hmac)"
        ACMEPROXY_CONTACT=admin@example.test SITE_NAME="$CADDY_NAME"
        SITE_ROOT="$CADDY_DIR/www")
}

test_caddy() {
    local s1 s2 pid
    if ! mint caddy "$CADDY_NAME"; then
        not_ok caddy_eab_key "eab add: $(cat "$TMP/mint-caddy.err")"
        return
    fi
    if ! caddy_write_config; then
        not_ok caddy_config "caddy adapt refused the Caddyfile"
        show_tail "$CADDY_DIR/adapt.log"
        return
    fi
    env "${CADDY_ENV[@]}" caddy run --config "$CADDY_DIR/caddy.json" \
        > "$CADDY_DIR/caddy.log" 2>&1 &
    pid=$!   # Caddy itself (env execs it)
    branch_track "$pid"
    # Caddy serves nothing for the name until it has a certificate.
    if s1=$(wait_serial_change 30 "$TLS01_PORT" "$CADDY_NAME" "") &&
       served_ok "$TLS01_PORT" "$CADDY_NAME"; then
        ok caddy_obtains_and_serves
    else
        not_ok caddy_obtains_and_serves "no verified certificate served within 30 s"
        show_tail "$CADDY_DIR/caddy.log" 20
        return
    fi
    if s2=$(wait_serial_change 30 "$TLS01_PORT" "$CADDY_NAME" "$s1") &&
       served_ok "$TLS01_PORT" "$CADDY_NAME"; then
        ok caddy_serves_renewed_certificate
        echo "# caddy: served serial $s1, then $s2"
    else
        not_ok caddy_serves_renewed_certificate "still serial $s1 after 30 s"
        show_tail "$CADDY_DIR/caddy.log" 20
    fi
    if kill -0 "$pid" 2> /dev/null; then
        ok caddy_renewed_without_restart
    else
        not_ok caddy_renewed_without_restart "caddy exited"
    fi
}

# ---------------------------------------------------------------- lego (dns-01)

# mw_lego SERVER NAME LOGNAME ACTION ARGS...: lego for SERVER's name with
# SERVER's EAB key, dns-01 through RFC 2136 updates to knotd (the http-01
# and tls-alpn-01 ports are Apache's and Caddy's here), in $TMP/SERVER/lego.
mw_lego() {
    local server=$1 name=$2 log
    log=$TMP/$server/$3.log
    shift 3
    LEGO_CA_CERTIFICATES="$CA_FILE" \
    RFC2136_NAMESERVER="127.0.0.1:$DNS_PORT" \
    RFC2136_TSIG_KEY="$TSIG_NAME" \
    RFC2136_TSIG_SECRET="$TSIG_SECRET" \
    RFC2136_TSIG_ALGORITHM="$TSIG_ALG." \
    RFC2136_SEQUENCE_INTERVAL=1 \
    RFC2136_PROPAGATION_TIMEOUT=10 \
    RFC2136_POLLING_INTERVAL=1 \
    RFC2136_TTL=10 \
        branch_cmd timeout 60 lego --server "$DIR_URL" --email "admin@example.test" \
        --accept-tos --eab --kid "$(key_field "$server" kid)" \
        --hmac "$(key_field "$server" hmac)" \
        --dns rfc2136 --dns.resolvers "127.0.0.1:$DNS_PORT" --dns.disable-cp \
        --domains "$name" --path "$TMP/$server/lego" "$@" > "$log" 2>&1
}

# ---------------------------------------------------------------- HAProxy

HAPROXY_NAME=haproxy.a.test
HAPROXY_DIR=$TMP/haproxy

haproxy_env() {   # haproxy_env CMD...: CMD (a function too) with the settings
    (
        export HAPROXY_BIND="127.0.0.1:$HAPROXY_TLS" \
            HAPROXY_CERT="$HAPROXY_DIR/site.pem" \
            HAPROXY_SOCKET="$HAPROXY_DIR/admin.sock"
        "$@"
    )
}

haproxy_pid_info() {   # the Pid HAProxy reports through its runtime API
    echo "show info" | socat -t 5 - "UNIX-CONNECT:$HAPROXY_DIR/admin.sock" 2> /dev/null |
        sed -n 's/^Pid: //p'
}

test_haproxy() {
    local s1 s2 pid p1 p2 hook=$CLIENTS/haproxy/lego-haproxy-hook.sh
    mkdir -p "$HAPROXY_DIR"
    if ! mint haproxy "$HAPROXY_NAME"; then
        not_ok haproxy_eab_key "eab add: $(cat "$TMP/mint-haproxy.err")"
        return
    fi
    # First issuance: HAProxy is not running yet, the hook only writes
    # the file it will load.
    if haproxy_env mw_lego haproxy "$HAPROXY_NAME" lego-run run --run-hook "$hook" &&
       [ -s "$HAPROXY_DIR/site.pem" ]; then
        ok haproxy_lego_run_hook_writes_bundle
    else
        not_ok haproxy_lego_run_hook_writes_bundle "lego run or its hook failed"
        show_tail "$HAPROXY_DIR/lego-run.log"
        return
    fi
    # env, not the subshell of haproxy_env: $! is HAProxy itself.
    env HAPROXY_BIND="127.0.0.1:$HAPROXY_TLS" HAPROXY_CERT="$HAPROXY_DIR/site.pem" \
        HAPROXY_SOCKET="$HAPROXY_DIR/admin.sock" \
        haproxy -db -f "$CLIENTS/haproxy/haproxy.cfg" > "$HAPROXY_DIR/haproxy.log" 2>&1 &
    pid=$!
    branch_track "$pid"
    if wait_for 15 served_ok "$HAPROXY_TLS" "$HAPROXY_NAME" &&
       s1=$(served_serial "$HAPROXY_TLS" "$HAPROXY_NAME") && [ -n "$s1" ]; then
        ok haproxy_serves_certificate
    else
        not_ok haproxy_serves_certificate "no verified certificate on port $HAPROXY_TLS within 15 s"
        show_tail "$HAPROXY_DIR/haproxy.log"
        return
    fi
    p1=$(haproxy_pid_info)
    # A renewal now (the certificate has 1 day left; 2 forces it); the
    # hook swaps it in through the runtime API.
    if haproxy_env mw_lego haproxy "$HAPROXY_NAME" lego-renew renew --days 2 --no-random-sleep \
            --renew-hook "$hook" &&
       grep -q "swapped in" "$HAPROXY_DIR/lego-renew.log"; then
        ok haproxy_lego_renew_hook_commits
    else
        not_ok haproxy_lego_renew_hook_commits "lego renew or its hook failed"
        show_tail "$HAPROXY_DIR/lego-renew.log"
        return
    fi
    if s2=$(wait_serial_change 5 "$HAPROXY_TLS" "$HAPROXY_NAME" "$s1") &&
       served_ok "$HAPROXY_TLS" "$HAPROXY_NAME"; then
        ok haproxy_serves_renewed_certificate
        echo "# haproxy: served serial $s1, then $s2"
    else
        not_ok haproxy_serves_renewed_certificate "still serial $s1 after the hook"
        return
    fi
    p2=$(haproxy_pid_info)
    if kill -0 "$pid" 2> /dev/null && [ -n "$p1" ] && [ "$p1" = "$p2" ] && [ "$p1" = "$pid" ]; then
        ok haproxy_same_process
    else
        not_ok haproxy_same_process "pid $pid, runtime API said '$p1' then '$p2'"
    fi
}

# ---------------------------------------------------------------- Tomcat

TOMCAT_NAME=tomcat.a.test
TOMCAT_DIR=$TMP/tomcat        # CATALINA_BASE
TOMCAT_START_S=""

tomcat_write_config() {
    local d=$TOMCAT_DIR pw
    mkdir -p "$d/conf/Catalina/localhost" "$d/logs" "$d/work" "$d/temp" "$d/webapps"
    cp "$CLIENTS/tomcat/server.xml" "$d/conf/server.xml"
    cp "$CLIENTS/tomcat/manager.xml" "$d/conf/Catalina/localhost/manager.xml"
    cp /etc/tomcat10/web.xml /etc/tomcat10/catalina.properties "$d/conf/"
    pw=$(openssl rand -hex 16)
    sed "s/CHANGE-ME/$pw/" "$CLIENTS/tomcat/tomcat-users.xml" > "$d/conf/tomcat-users.xml"
    printf 'tls-reload:%s\n' "$pw" > "$d/reload.auth"
    openssl rand -hex 16 > "$d/p12.pass"
    chmod 600 "$d/reload.auth" "$d/p12.pass" "$d/conf/tomcat-users.xml"
}

tomcat_env() {   # tomcat_env CMD...: CMD (a function too) with the hook's settings
    (
        export TOMCAT_KEYSTORE="$TOMCAT_DIR/site.p12" \
            TOMCAT_KEYSTORE_PASS="$TOMCAT_DIR/p12.pass" \
            TOMCAT_MANAGER="http://127.0.0.1:$TOMCAT_HTTP/manager" \
            TOMCAT_MANAGER_AUTH="$TOMCAT_DIR/reload.auth"
        "$@"
    )
}

test_tomcat() {
    local s1 s2 pid t0 hook=$CLIENTS/tomcat/lego-tomcat-hook.sh
    if ! mint tomcat "$TOMCAT_NAME"; then
        not_ok tomcat_eab_key "eab add: $(cat "$TMP/mint-tomcat.err")"
        return
    fi
    tomcat_write_config
    # First issuance: Tomcat is not running, the hook only writes the store.
    if tomcat_env mw_lego tomcat "$TOMCAT_NAME" lego-run run --run-hook "$hook" &&
       grep -q "Tomcat not running" "$TOMCAT_DIR/lego-run.log" &&
       openssl pkcs12 -in "$TOMCAT_DIR/site.p12" -passin "file:$TOMCAT_DIR/p12.pass" \
           -nokeys 2> /dev/null | grep -q "BEGIN CERTIFICATE"; then
        ok tomcat_lego_run_hook_writes_pkcs12
    else
        not_ok tomcat_lego_run_hook_writes_pkcs12 "lego run or its hook failed"
        show_tail "$TOMCAT_DIR/lego-run.log"
        return
    fi
    t0=$SECONDS
    CATALINA_HOME=/usr/share/tomcat10 CATALINA_BASE="$TOMCAT_DIR" \
        CATALINA_TMPDIR="$TOMCAT_DIR/temp" \
        CATALINA_OPTS="-Xms32m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dacmeproxy.https.port=$TOMCAT_TLS -Dacmeproxy.manager.port=$TOMCAT_HTTP -Dacmeproxy.keystore=$TOMCAT_DIR/site.p12 -Dacmeproxy.keystore.pass=$(cat "$TOMCAT_DIR/p12.pass")" \
        /usr/share/tomcat10/bin/catalina.sh run > "$TOMCAT_DIR/logs/stdout.log" 2>&1 &
    pid=$!   # catalina.sh run execs java
    branch_track "$pid"
    if wait_for 60 served_tls_ok "$TOMCAT_TLS" "$TOMCAT_NAME" &&
       s1=$(served_serial "$TOMCAT_TLS" "$TOMCAT_NAME") && [ -n "$s1" ]; then
        TOMCAT_START_S=$((SECONDS - t0))
        ok tomcat_serves_certificate
        echo "# tomcat: TLS served $TOMCAT_START_S s after start"
    else
        not_ok tomcat_serves_certificate "no verified certificate on port $TOMCAT_TLS within 60 s"
        show_tail "$TOMCAT_DIR/logs/stdout.log" 20
        return
    fi
    if ! wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$TOMCAT_HTTP/manager/text/"; then
        not_ok tomcat_manager_up "the manager did not answer within 30 s"
        show_tail "$TOMCAT_DIR/logs/stdout.log" 20
        return
    fi
    if tomcat_env mw_lego tomcat "$TOMCAT_NAME" lego-renew renew --days 2 --no-random-sleep \
            --renew-hook "$hook" &&
       grep -q "lego-tomcat-hook: .* OK" "$TOMCAT_DIR/lego-renew.log"; then
        ok tomcat_lego_renew_hook_reloads
    else
        not_ok tomcat_lego_renew_hook_reloads "lego renew or its hook (sslReload) failed"
        show_tail "$TOMCAT_DIR/lego-renew.log"
        return
    fi
    if s2=$(wait_serial_change 10 "$TOMCAT_TLS" "$TOMCAT_NAME" "$s1"); then
        ok tomcat_serves_renewed_certificate
        echo "# tomcat: served serial $s1, then $s2"
    else
        not_ok tomcat_serves_renewed_certificate "still serial $s1 after sslReload"
        show_tail "$TOMCAT_DIR/logs/stdout.log" 20
    fi
    if kill -0 "$pid" 2> /dev/null; then
        ok tomcat_same_process
    else
        not_ok tomcat_same_process "tomcat exited"
    fi
}

# ---------------------------------------------------------------- main

run_branch() {   # run_branch NAME: test_NAME in a subshell, output to $TMP/NAME.out
    (
        BRANCH=$1
        trap branch_cleanup EXIT
        trap 'exit 143' INT TERM
        "test_$1"
        echo "# branch $1 done"
    ) > "$TMP/$1.out" 2>&1 &
    BRANCHES+=("$1:$!")
}

enrol_main() {
    local b name pid line
    echo "# enrol_middleware suite: $TARGET; tmp $TMP"
    echo "# ports: acme $ACME_PORT http-01 $HTTP_PORT tls-alpn-01 $TLS01_PORT apache $APACHE_TLS haproxy $HAPROXY_TLS tomcat $TOMCAT_TLS"
    if [ ! -x "$TARGET" ]; then
        not_ok proxy_binary "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok dns_server_starts "knotd did not answer"
    elif test_server_starts; then
        for b in $ONLY; do
            run_branch "$b"
        done
        for b in "${BRANCHES[@]}"; do
            name=${b%%:*}
            pid=${b#*:}
            # Each branch bounds its own waits; this bounds the branch.
            wait_for 170 sh -c "! kill -0 $pid" || kill -TERM "$pid" 2> /dev/null
            wait "$pid" 2> /dev/null
            while IFS= read -r line; do
                case $line in
                    "ok - "*) ok "${line#ok - }" ;;
                    "not ok - "*) line=${line#not ok - }; not_ok "${line%%: *}" "${line#*: }" ;;
                    *) echo "$line" ;;
                esac
            done < "$TMP/$name.out"
            grep -qx "# branch $name done" "$TMP/$name.out" 2> /dev/null ||
                not_ok "${name}_completed" "the $name branch ended early or was stopped"
        done
        test_server_stop_clean
    fi
    if [ "$FAILED" -gt 0 ]; then
        show_tail "$TMP/proxy.log" 30
    fi
    echo "# wall time: $((SECONDS - START)) s"
    echo "enrol_middleware: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

enrol_main
