#!/usr/bin/env bash
# Moving in from LMDB (docs/ha.md): a proxy on LMDB issues a certificate to
# lego; stopped, its store is copied into an empty PostgreSQL database with
# `acmeproxy migrate --from-lmdb`; the proxy started on PostgreSQL lists the
# same accounts, orders and certificates (admin CLI, --json), serves lego's
# account (renewal), and a second copy into the now used database is
# refused. Also: `migrate` alone on the up-to-date schema, `backup` refused
# with a pointer to pg_dump, and migrate refused on an LMDB configuration.
# Reuses run.sh's knot DNS, ports, proxy start/stop and lego helpers.
#
# Usage: test/integration/pg_migrate.sh [PROXY_BINARY]   (from the repo root)
# Ends with "pg_migrate: N passed, N failed".
set -u
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh" "${1:-build/acmeproxy}"

admin() {   # admin ARGS...: a subcommand on the current config
    "$TARGET" -c "$TMP/proxy.conf" "$@"
}

# The sorted ids of an admin list (--json), one line.
list_ids() {   # list_ids accounts|orders|certs
    admin "$1" list --json 2>/dev/null | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
items = d if isinstance(d, list) else next(v for v in d.values() if isinstance(v, list))
print(" ".join(sorted(str(i.get("id", i.get("serial", ""))) for i in items)))
'
}

LMDB_LISTS=()

test_seed_on_lmdb() {
    local kind ids
    test_server_starts || return 1
    test_lego_issue
    if ! server_stop; then
        not_ok lmdb_proxy_stops "$STOP_ERR"
        return 1
    fi
    for kind in accounts orders certs; do
        ids=$(list_ids "$kind")
        if [ -z "$ids" ]; then
            not_ok "lmdb_lists_$kind" "the LMDB store lists no $kind"
            return 1
        fi
        LMDB_LISTS+=("$ids")
    done
    ok lmdb_store_seeded
}

test_migrate() {
    local out=$TMP/migrate.out
    if admin migrate > "$TMP/m0.out" 2>&1; then
        not_ok migrate_refused_on_lmdb "migrate ran on [store] engine = lmdb"
    elif ! grep -q 'engine = postgresql' "$TMP/m0.out"; then
        not_ok migrate_refused_on_lmdb "$(head -n 1 "$TMP/m0.out")"
    else
        ok migrate_refused_on_lmdb
    fi
    if ! pg_start "$TMP/pg"; then
        not_ok postgresql_starts "pg_start failed"
        return 1
    fi
    store_config >> "$TMP/proxy.conf"
    if ! admin migrate --from-lmdb "$DATA_DIR" > "$out" 2>&1; then
        not_ok migrate_from_lmdb "exit non-zero: $(tail -n 2 "$out" | tr '\n' ' ')"
        return 1
    fi
    # The schema is made, then every table copied with its count.
    if grep -qx 'schema: version 0 -> 1' "$out" && grep -Eq '^accounts: [1-9]' "$out" &&
        grep -Eq '^orders: [1-9]' "$out" && grep -Eq '^certs: [1-9]' "$out" &&
        [ "$(grep -Ec '^[a-z_]+: [0-9]+$' "$out")" -eq 14 ]; then
        ok migrate_from_lmdb_counts
    else
        not_ok migrate_from_lmdb_counts "$(tr '\n' ' ' < "$out")"
    fi
    if admin migrate > "$TMP/m1.out" 2>&1 && grep -qx 'schema: version 1 -> 1' "$TMP/m1.out"; then
        ok migrate_up_to_date
    else
        not_ok migrate_up_to_date "$(tr '\n' ' ' < "$TMP/m1.out")"
    fi
    if admin migrate --from-lmdb "$DATA_DIR" > "$TMP/m2.out" 2>&1; then
        not_ok migrate_into_used_database_refused "the second copy succeeded"
    elif ! grep -q 'not empty' "$TMP/m2.out"; then
        not_ok migrate_into_used_database_refused "$(tr '\n' ' ' < "$TMP/m2.out")"
    else
        ok migrate_into_used_database_refused
    fi
}

test_serve_on_postgresql() {
    local kinds=(accounts orders certs) i ids
    # The LMDB files go: what is served from now on comes from PostgreSQL.
    mv "$DATA_DIR/db" "$DATA_DIR/db.lmdb"
    for i in 0 1 2; do
        ids=$(list_ids "${kinds[$i]}")
        if [ "$ids" = "${LMDB_LISTS[$i]}" ]; then
            ok "postgresql_lists_same_${kinds[$i]}"
        else
            not_ok "postgresql_lists_same_${kinds[$i]}" "'$ids' != '${LMDB_LISTS[$i]}'"
        fi
    done
    if admin backup "$TMP/backup.mdb" > "$TMP/b.out" 2>&1; then
        not_ok backup_refused_names_pg_dump "backup succeeded on PostgreSQL"
    elif ! grep -q pg_dump "$TMP/b.out"; then
        not_ok backup_refused_names_pg_dump "$(tr '\n' ' ' < "$TMP/b.out")"
    else
        ok backup_refused_names_pg_dump
    fi
    if ! server_start; then
        not_ok proxy_starts_on_postgresql "${START_ERR:-}"
        show_tail "$TMP/proxy.log" 30
        return 1
    fi
    ok proxy_starts_on_postgresql
    # lego's account (copied) orders again: the account key is known.
    test_lego_renew lego_renew_on_migrated_store lego-renew-pg
    test_server_stop_clean
}

main_migrate() {
    echo "# pg_migrate: $TARGET; tmp $TMP"
    if [ ! -x "$TARGET" ]; then
        not_ok proxy_binary "$TARGET is not an executable file"
    elif ! start_knot; then
        not_ok dns_server_starts "knotd did not answer"
    elif test_seed_on_lmdb && test_migrate; then
        test_serve_on_postgresql
    fi
    echo "pg_migrate: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

main_migrate
