# PostgreSQL 15 (Debian's /usr/lib/postgresql/15/bin) for the tests: a
# throw-away cluster in a temporary directory, on 127.0.0.1 only, on a free
# port, run as an unprivileged system user (initdb refuses root).
#
# Source this file from a bash script, then:
#
#   pg_start DIR    DIR must not exist yet (its parent must); it is created
#                   and holds the cluster (DIR/data, owned by the test user)
#                   and the password file (DIR/password, 0600, owned by the
#                   caller). Returns 0 once the server accepts connections
#                   as the test role. Sets and exports:
#                     PG_HOST PG_PORT PG_USER PG_DB PG_PASSWORD_FILE
#                     PG_CONNINFO   libpq conninfo without the password
#                                   (host=127.0.0.1 port=N user=.. dbname=..)
#                     PG_PID        the postmaster's PID
#                   The test role has a password (scram-sha-256; no other
#                   authentication is accepted, not even locally) and may
#                   create databases (pg_createdb).
#   pg_createdb NAME   a new empty database owned by the test role.
#   pg_psql ARGS...    psql as the test role on PG_DB (-X -q -v ON_ERROR_STOP=1).
#   pg_stop         stops the server by its PID (fast shutdown, then KILL
#                   after 10 s), removes DIR. Safe to call twice or when
#                   pg_start failed.
#
# Environment: PG_TEST_USER (default acmetest) is the system user that runs
# the server; when the caller is root it is created if missing (useradd
# --system) and the server runs through runuser. When the caller is not
# root the server runs as the caller. PG_BIN overrides the binaries'
# directory. PG_KEEP=1 keeps DIR (its log is DIR/data/log). PG_FSYNC=off
# turns the server's fsync off (default on).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_TEST_USER=${PG_TEST_USER:-acmetest}
PG_DIR=""
PG_PID=""

_pg_as_user() {   # run a command as the server's user
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$PG_TEST_USER" -- "$@"
    else
        "$@"
    fi
}

_pg_free_port() {
    /usr/bin/python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

pg_start() {
    local dir=$1 parent i super_pw pw
    [ -n "$dir" ] || { echo "pg_start: no directory given" >&2; return 1; }
    [ -x "$PG_BIN/initdb" ] || { echo "pg_start: no $PG_BIN/initdb (postgresql-15)" >&2; return 1; }
    [ -e "$dir" ] && { echo "pg_start: $dir exists already" >&2; return 1; }
    parent=$(dirname "$dir")
    mkdir -m 0711 "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    PG_DIR=$dir
    if [ "$(id -u)" = 0 ]; then
        if ! id "$PG_TEST_USER" >/dev/null 2>&1; then
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$PG_TEST_USER" || return 1
        fi
        # mktemp -d makes 0700 directories: the server's user must be able
        # to pass through the caller's temporary directory (not list it).
        if ! runuser -u "$PG_TEST_USER" -- test -x "$dir"; then
            if [ -O "$parent" ]; then
                chmod o+x "$parent"
            fi
        fi
        if ! runuser -u "$PG_TEST_USER" -- test -x "$dir"; then
            echo "pg_start: user $PG_TEST_USER cannot reach $dir (a parent directory is not searchable)" >&2
            return 1
        fi
    fi
    mkdir -m 0700 "$dir/data" "$dir/run" || return 1
    [ "$(id -u)" = 0 ] && chown "$PG_TEST_USER:" "$dir/data" "$dir/run"

    # Passwords: random, never on a command line. The superuser's lives only
    # in a file the server's user reads once (initdb --pwfile), then removed.
    super_pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    (umask 077; printf '%s\n' "$super_pw" > "$dir/run/super.pw")
    [ "$(id -u)" = 0 ] && chown "$PG_TEST_USER:" "$dir/run/super.pw"
    (umask 077; printf '%s' "$pw" > "$dir/password")

    if ! _pg_as_user "$PG_BIN/initdb" -D "$dir/data" -U postgres \
            --pwfile="$dir/run/super.pw" --auth=scram-sha-256 \
            --encoding=UTF8 --locale=C --no-sync > "$dir/initdb.log" 2>&1; then
        echo "pg_start: initdb failed:" >&2
        sed 's/^/#   /' "$dir/initdb.log" >&2
        return 1
    fi
    PG_HOST=127.0.0.1
    PG_PORT=$(_pg_free_port) || return 1
    cat >> "$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir/run'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 16MB
fsync = ${PG_FSYNC:-on}
synchronous_commit = on
logging_collector = off
log_min_messages = warning
EOF
    # The server's stderr goes to DIR/data/log; pg_ctl returns once it is up.
    if ! _pg_as_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/data/log" \
            -w -t 30 start > "$dir/pg_ctl.log" 2>&1; then
        echo "pg_start: the server did not start:" >&2
        tail -n 20 "$dir/data/log" 2>/dev/null | sed 's/^/#   /' >&2
        return 1
    fi
    PG_PID=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)
    case $PG_PID in
        ''|*[!0-9]*) echo "pg_start: no postmaster.pid" >&2; return 1 ;;
    esac

    PG_USER=acmeproxy
    PG_DB=acmeproxy
    PG_PASSWORD_FILE=$dir/password
    # The role and its database, as the superuser through the Unix socket.
    if ! PGPASSWORD=$super_pw _pg_as_user "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
            -h "$dir/run" -p "$PG_PORT" -U postgres -d postgres \
            -v pw="$pw" > "$dir/setup.log" 2>&1 <<'EOF'
CREATE ROLE acmeproxy LOGIN CREATEDB PASSWORD :'pw';
CREATE DATABASE acmeproxy OWNER acmeproxy;
EOF
    then
        echo "pg_start: creating the test role failed:" >&2
        sed 's/^/#   /' "$dir/setup.log" >&2
        return 1
    fi
    rm -f "$dir/run/super.pw"
    PG_CONNINFO="host=$PG_HOST port=$PG_PORT user=$PG_USER dbname=$PG_DB"
    export PG_HOST PG_PORT PG_USER PG_DB PG_PASSWORD_FILE PG_CONNINFO PG_PID
    # Connect the way the tests will: TCP, password.
    for i in $(seq 1 50); do
        pg_psql -c 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "pg_start: the test role cannot connect over TCP" >&2
    return 1
}

pg_psql() {
    PGPASSWORD=$(cat "$PG_PASSWORD_FILE") "$PG_BIN/psql" -X -q \
        -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" \
        -d "${PG_PSQL_DB:-$PG_DB}" "$@"
}

pg_createdb() {
    local name=$1
    case $name in
        ''|*[!a-z0-9_]*) echo "pg_createdb: bad name '$name'" >&2; return 1 ;;
    esac
    PG_PSQL_DB=postgres pg_psql -c "CREATE DATABASE $name OWNER $PG_USER"
}

pg_stop() {
    local i=0
    if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
        kill -INT "$PG_PID" 2>/dev/null    # fast shutdown
        while kill -0 "$PG_PID" 2>/dev/null && [ "$i" -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if kill -0 "$PG_PID" 2>/dev/null; then
            kill -KILL "$PG_PID" 2>/dev/null
            sleep 0.2
        fi
    fi
    PG_PID=""
    if [ -n "$PG_DIR" ] && [ "${PG_KEEP:-0}" != 1 ]; then
        rm -rf "$PG_DIR"
    fi
    PG_DIR=""
}
