/* common/store_pg.c: the PostgreSQL engine behind store.h (libpq): a pool
 * of connections, one PostgreSQL transaction per store transaction, the
 * schema and its versions, the job claims with a lease, and a listener
 * thread that hears the commits of the other instances (LISTEN/NOTIFY)
 * and renews this instance's leases.
 *
 * libpq is called as pq.<name> (store_pg_lib.h). Each store table is a
 * table ap_<name> (key text COLLATE "C" PRIMARY KEY, value bytea): byte
 * order of keys, as in LMDB. A write transaction begins with the one
 * cluster-wide transaction-scoped advisory lock (STORE_PG_WRITER_LOCK), so
 * the writers of every instance are serial like LMDB's one writer, and
 * runs READ COMMITTED: each statement after the lock sees every commit
 * before it. A read transaction is a REPEATABLE READ READ ONLY snapshot.
 * Commits are synchronous (synchronous_commit on). Values go and come in
 * binary (no escaping). The password is copied once, handed to libpq as
 * its own parameter (never in a string that is logged) and wiped at
 * close. pq_bind loads libpq before the first pg_connect. */
#include "common/store.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/store_int.h"
#include "common/store_pg_lib.h"

/* pg_advisory_xact_lock's key: "acmeprox" in ASCII. */
#define STORE_PG_WRITER_LOCK "7017280452245743480"
#define STORE_PG_CHANNEL "acmeproxy"
#define POOL_DEFAULT 8
#define POOL_MAX 512
#define POOL_WAIT_SEC 30       /* for a free connection */
#define LEASE_DEFAULT_MS 30000
#define SCAN_BATCH 256
#define CONNECT_TIMEOUT "10"
#define STATEMENT_TIMEOUT "60s"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* Step i makes schema version i + 1. Never change a step that shipped:
 * add one. */
static const char *const schema_steps[] = {
    /* 1: one table per store table; the jobs' claims beside their
     * records. */
    "CREATE TABLE ap_accounts (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_account_keys (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_orders (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_account_orders (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_authzs (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_certs (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_serials (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_jobs (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL, owner text, lease_until bigint);"
    "CREATE INDEX ap_jobs_owner ON ap_jobs (owner) WHERE owner IS NOT NULL;"
    "CREATE TABLE ap_meta (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_account_authzs (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_eab (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_audit (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_jobs_due (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);"
    "CREATE TABLE ap_reconcile (key text COLLATE \"C\" PRIMARY KEY, "
    "value bytea NOT NULL);",
};

struct pg_conn {
    PGconn *c;          /* NULL: connect at the next use */
    bool busy;
};

struct store_pg {
    struct store *st;
    pthread_mutex_t lock;   /* the pool */
    pthread_cond_t freed;
    struct pg_conn *conns;
    size_t n;
    char *conninfo;
    char *password;         /* a secret: wiped at close */
    char instance[STORE_MAX_INSTANCE + 1];
    long long lease_ms;
    pthread_t listener;
    bool listening;
    int stop_fd[2];         /* the listener's stop signal */
    bool heard;             /* the listener's first LISTEN is done (lock) */
    pthread_cond_t heard_cond;
};

struct store_pg_txn {
    struct pg_conn *pc;
    bool failed;            /* a statement failed: the rest is refused */
};

static void
quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static long long
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A new connection with the session settings, or NULL (why in errbuf;
 * libpq's messages never carry the password). */
static PGconn *
pg_connect(const char *conninfo, const char *password, char *errbuf,
           size_t errlen)
{
    const char *keys[10];
    const char *vals[10];
    PGconn *c;
    PGresult *r;
    int k = 0;

    /* Defaults first: what conninfo says (expanded from "dbname") wins.
     * Keepalives notice a server that went away in about 25 s. */
    keys[k] = "connect_timeout";
    vals[k++] = CONNECT_TIMEOUT;
    keys[k] = "keepalives_idle";
    vals[k++] = "10";
    keys[k] = "keepalives_interval";
    vals[k++] = "5";
    keys[k] = "keepalives_count";
    vals[k++] = "3";
    keys[k] = "application_name";
    vals[k++] = "acmeproxy";
    keys[k] = "dbname";
    vals[k++] = conninfo;
    if (password != NULL) {
        keys[k] = "password";
        vals[k++] = password;
    }
    keys[k] = NULL;
    vals[k] = NULL;
    c = pq.PQconnectdbParams(keys, vals, 1);
    if (c == NULL) {
        snprintf(errbuf, errlen, "PostgreSQL: out of memory");
        return NULL;
    }
    if (pq.PQstatus(c) != CONNECTION_OK) {
        snprintf(errbuf, errlen, "PostgreSQL: %s", pq.PQerrorMessage(c));
        errbuf[strcspn(errbuf, "\n")] = '\0';
        pq.PQfinish(c);
        return NULL;
    }
    pq.PQsetNoticeProcessor(c, quiet_notice, NULL);
    /* No statement waits for ever (a lock, a stuck server): a transaction
     * fails instead, and the request or job is retried. */
    r = pq.PQexec(c, "SET synchronous_commit TO on; "
                     "SET client_min_messages TO warning; "
                     "SET statement_timeout TO '" STATEMENT_TIMEOUT "'");
    if (pq.PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(errbuf, errlen, "PostgreSQL: %s", pq.PQerrorMessage(c));
        errbuf[strcspn(errbuf, "\n")] = '\0';
        pq.PQclear(r);
        pq.PQfinish(c);
        return NULL;
    }
    pq.PQclear(r);
    return c;
}

/* ---- the pool ---- */

static ap_err
pool_take(struct store_pg *sp, struct pg_conn **out)
{
    struct timespec until;
    struct pg_conn *pc = NULL;
    char why[512];

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += POOL_WAIT_SEC;
    pthread_mutex_lock(&sp->lock);
    for (;;) {
        for (size_t i = 0; i < sp->n; i++) {
            if (!sp->conns[i].busy) {
                pc = &sp->conns[i];
                break;
            }
        }
        if (pc != NULL ||
            pthread_cond_timedwait(&sp->freed, &sp->lock, &until) ==
                ETIMEDOUT) {
            break;
        }
    }
    if (pc != NULL) {
        pc->busy = true;
    }
    pthread_mutex_unlock(&sp->lock);
    if (pc == NULL) {
        log_err("store", "no free PostgreSQL connection in %d s (pool of "
                "%zu)", POOL_WAIT_SEC, sp->n);
        return AP_ESTORE;
    }
    if (pc->c != NULL && pq.PQstatus(pc->c) != CONNECTION_OK) {
        pq.PQfinish(pc->c);
        pc->c = NULL;
    }
    if (pc->c == NULL) {
        pc->c = pg_connect(sp->conninfo, sp->password, why, sizeof(why));
        if (pc->c == NULL) {
            log_err("store", "%s", why);
            pthread_mutex_lock(&sp->lock);
            pc->busy = false;
            pthread_cond_signal(&sp->freed);
            pthread_mutex_unlock(&sp->lock);
            return AP_ESTORE;
        }
    }
    *out = pc;
    return AP_OK;
}

/* Gives pc back: a transaction left open is rolled back, a connection in
 * doubt is closed (the next use connects again). */
static void
pool_give(struct store_pg *sp, struct pg_conn *pc)
{
    if (pc->c != NULL && pq.PQstatus(pc->c) == CONNECTION_OK &&
        pq.PQtransactionStatus(pc->c) != PQTRANS_IDLE) {
        pq.PQclear(pq.PQexec(pc->c, "ROLLBACK"));
    }
    if (pc->c != NULL && (pq.PQstatus(pc->c) != CONNECTION_OK ||
                          pq.PQtransactionStatus(pc->c) != PQTRANS_IDLE)) {
        pq.PQfinish(pc->c);
        pc->c = NULL;
    }
    pthread_mutex_lock(&sp->lock);
    pc->busy = false;
    pthread_cond_signal(&sp->freed);
    pthread_mutex_unlock(&sp->lock);
}

/* Runs sql with n text parameters, except those fmts marks binary (1);
 * the result in rfmt (0 text, 1 binary). AP_ESTORE (logged with what)
 * unless its status is want; *out then holds the result (PQclear it). */
static ap_err
run(PGconn *c, const char *what, const char *sql, int n,
    const char *const *vals, const int *lens, const int *fmts, int rfmt,
    ExecStatusType want, PGresult **out)
{
    PGresult *r;

    r = n == 0 && rfmt == 0
            ? pq.PQexec(c, sql)
            : pq.PQexecParams(c, sql, n, NULL, vals, lens, fmts, rfmt);
    if (pq.PQresultStatus(r) != want) {
        const char *rm = r != NULL ? pq.PQresultErrorMessage(r) : "";
        const char *msg = rm[0] != '\0' ? rm : pq.PQerrorMessage(c);

        log_err("store", "PostgreSQL %s: %.*s", what, (int)strcspn(msg, "\n"),
                msg);
        pq.PQclear(r);
        return AP_ESTORE;
    }
    if (out != NULL) {
        *out = r;
    } else {
        pq.PQclear(r);
    }
    return AP_OK;
}

/* run() within txn: refused after a failure, marks the failure. */
static ap_err
txn_run(struct store_txn *txn, const char *what, const char *sql, int n,
        const char *const *vals, const int *lens, const int *fmts, int rfmt,
        ExecStatusType want, PGresult **out)
{
    struct store_pg_txn *pt = txn->pg;
    ap_err rc;

    if (pt->failed) {
        return AP_ESTORE;
    }
    rc = run(pt->pc->c, what, sql, n, vals, lens, fmts, rfmt, want, out);
    if (rc != AP_OK) {
        pt->failed = true;
    }
    return rc;
}

/* ---- schema ---- */

const char *const *
store_pg_schema_steps(size_t *n)
{
    *n = sizeof(schema_steps) / sizeof(schema_steps[0]);
    return schema_steps;
}

/* In one transaction under the writer lock: the version table, then the
 * steps past the database's version when upgrade is set or the database
 * has none yet. */
static ap_err
schema_apply(PGconn *c, const char *const *steps, size_t n, bool upgrade,
             int *from, int *to, char *errbuf, size_t errlen)
{
    PGresult *r = NULL;
    ap_err rc;
    int have;

    rc = run(c, "begin", "BEGIN; SELECT pg_advisory_xact_lock("
             STORE_PG_WRITER_LOCK ")", 0, NULL, NULL, NULL, 0,
             PGRES_TUPLES_OK, NULL);
    if (rc == AP_OK) {
        rc = run(c, "schema table", "CREATE TABLE IF NOT EXISTS ap_schema "
                 "(version integer PRIMARY KEY, applied timestamptz NOT NULL "
                 "DEFAULT now())", 0, NULL, NULL, NULL, 0, PGRES_COMMAND_OK,
                 NULL);
    }
    if (rc == AP_OK) {
        rc = run(c, "schema version", "SELECT coalesce(max(version), 0) "
                 "FROM ap_schema", 0, NULL, NULL, NULL, 0, PGRES_TUPLES_OK,
                 &r);
    }
    if (rc != AP_OK) {
        snprintf(errbuf, errlen, "PostgreSQL: cannot read the schema "
                 "version: %s", pq.PQerrorMessage(c));
        errbuf[strcspn(errbuf, "\n")] = '\0';
        goto out;
    }
    have = atoi(pq.PQgetvalue(r, 0, 0));
    pq.PQclear(r);
    r = NULL;
    *from = have;
    *to = have;
    if (have > (int)n) {
        snprintf(errbuf, errlen, "the database's schema is version %d, "
                 "newer than this acmeproxy's (%zu)", have, n);
        rc = AP_ECONFIG;
        goto out;
    }
    if (have < (int)n && have != 0 && !upgrade) {
        snprintf(errbuf, errlen, "the database's schema is version %d, "
                 "this acmeproxy needs %zu: run acmeproxy migrate", have, n);
        rc = AP_ECONFIG;
        goto out;
    }
    for (size_t i = (size_t)have; i < n; i++) {
        char v[24];
        const char *vals[1] = { v };

        snprintf(v, sizeof(v), "%zu", i + 1);
        rc = run(c, "schema step", steps[i], 0, NULL, NULL, NULL, 0,
                 PGRES_COMMAND_OK, NULL);
        if (rc == AP_OK) {
            rc = run(c, "schema version", "INSERT INTO ap_schema (version) "
                     "VALUES ($1::integer)", 1, vals, NULL, NULL, 0,
                     PGRES_COMMAND_OK, NULL);
        }
        if (rc != AP_OK) {
            snprintf(errbuf, errlen, "PostgreSQL: schema step %zu failed: "
                     "%s", i + 1, pq.PQerrorMessage(c));
            errbuf[strcspn(errbuf, "\n")] = '\0';
            goto out;
        }
        *to = (int)(i + 1);
    }
    r = pq.PQexec(c, "COMMIT");
    if (pq.PQresultStatus(r) != PGRES_COMMAND_OK ||
        strcmp(pq.PQcmdStatus(r), "COMMIT") != 0) {
        snprintf(errbuf, errlen, "PostgreSQL: committing the schema: %s",
                 pq.PQerrorMessage(c));
        errbuf[strcspn(errbuf, "\n")] = '\0';
        rc = AP_ESTORE;
        *to = *from;
    }
out:
    pq.PQclear(r);
    if (pq.PQtransactionStatus(c) != PQTRANS_IDLE) {
        pq.PQclear(pq.PQexec(c, "ROLLBACK"));
    }
    return rc;
}

ap_err
store_pg_migrate_steps(const struct store_config *cfg,
                       const char *const *steps, size_t n, int *from,
                       int *to, char *errbuf, size_t errlen)
{
    PGconn *c;
    ap_err rc;

    if (cfg->conninfo == NULL) {
        snprintf(errbuf, errlen, "no PostgreSQL connection string");
        return AP_ECONFIG;
    }
    rc = pq_bind(errbuf, errlen);
    if (rc != AP_OK) {
        return rc;
    }
    c = pg_connect(cfg->conninfo, cfg->password, errbuf, errlen);
    if (c == NULL) {
        return AP_ESTORE;
    }
    rc = schema_apply(c, steps, n, true, from, to, errbuf, errlen);
    pq.PQfinish(c);
    return rc;
}

/* ---- the listener: other instances' commits, lease renewal ---- */

/* Waits up to ms for the stop signal; true when it came. */
static bool
stop_wait(struct store_pg *sp, int fd, int ms)
{
    struct pollfd p[2];
    int n = 1;

    p[0].fd = sp->stop_fd[0];
    p[0].events = POLLIN;
    if (fd != -1) {
        p[1].fd = fd;
        p[1].events = POLLIN;
        n = 2;
    }
    if (poll(p, (nfds_t)n, ms) > 0 && (p[0].revents & POLLIN) != 0) {
        return true;
    }
    return false;
}

static void
deliver(struct store_pg *sp, PGconn *c)
{
    PGnotify *nt;

    while ((nt = pq.PQnotifies(c)) != NULL) {
        char inst[STORE_MAX_INSTANCE + 1];
        unsigned mask = 0;

        if (sscanf(nt->extra, "%63s %u", inst, &mask) == 2 &&
            strcmp(inst, sp->instance) != 0 && mask != 0) {
            store_notify(sp->st, mask, true);
        }
        pq.PQfreemem(nt);
    }
}

static void
renew_leases(struct store_pg *sp, PGconn *c)
{
    char until[32];
    const char *vals[2] = { until, sp->instance };

    snprintf(until, sizeof(until), "%lld", wall_ms() + sp->lease_ms);
    /* SKIP LOCKED: a row a writer holds is renewed next time (a third of
     * the lease later), and the renewal never waits, so never deadlocks
     * with a writer that changes several jobs. */
    (void)run(c, "lease renewal", "UPDATE ap_jobs SET lease_until = "
              "$1::bigint WHERE key IN (SELECT key FROM ap_jobs WHERE owner "
              "= $2 FOR UPDATE SKIP LOCKED)", 2, vals, NULL, NULL, 0,
              PGRES_COMMAND_OK, NULL);
}

static void *
listener_main(void *arg)
{
    struct store_pg *sp = arg;
    PGconn *c = NULL;
    bool connected_before = false;
    int backoff = BACKOFF_MIN_MS;
    long long renew_at = 0;
    int renew_every = (int)(sp->lease_ms / 3);
    char why[512];

    for (;;) {
        long long now;
        int wait;

        if (c == NULL) {
            c = pg_connect(sp->conninfo, sp->password, why, sizeof(why));
            if (c != NULL &&
                run(c, "listen", "LISTEN " STORE_PG_CHANNEL, 0, NULL, NULL,
                    NULL, 0, PGRES_COMMAND_OK, NULL) != AP_OK) {
                pq.PQfinish(c);
                c = NULL;
            }
            if (c == NULL) {
                log_warn("store", "listener: %s (again in %d ms)",
                         c == NULL ? why : "LISTEN failed", backoff);
                if (stop_wait(sp, -1, backoff)) {
                    break;
                }
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                       : backoff * 2;
                continue;
            }
            backoff = BACKOFF_MIN_MS;
            pthread_mutex_lock(&sp->lock);
            sp->heard = true;
            pthread_cond_broadcast(&sp->heard_cond);
            pthread_mutex_unlock(&sp->lock);
            if (connected_before) {
                /* Commits made while we were away were not heard. */
                store_notify(sp->st, (1u << STORE__MAX) - 1, true);
            }
            connected_before = true;
        }
        now = wall_ms();
        if (now >= renew_at) {
            renew_leases(sp, c);
            renew_at = now + renew_every;
        }
        deliver(sp, c);
        wait = (int)(renew_at - now);
        if (wait < 0) {
            wait = 0;
        }
        if (stop_wait(sp, pq.PQsocket(c), wait)) {
            break;
        }
        if (pq.PQconsumeInput(c) == 0 || pq.PQstatus(c) != CONNECTION_OK) {
            log_warn("store", "listener: the PostgreSQL connection was lost");
            pq.PQfinish(c);
            c = NULL;
            continue;
        }
        deliver(sp, c);
    }
    pq.PQfinish(c);
    return NULL;
}

/* ---- open, close ---- */

static bool
instance_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > STORE_MAX_INSTANCE) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
              ch == '_')) {
            return false;
        }
    }
    return true;
}

/* The host name (its safe characters, at most 40) and an FNV-1a hash of
 * dir: stable across restarts of one installation. */
static void
default_instance(const char *dir, char *out, size_t outlen)
{
    char host[256];
    char safe[41];
    char *real;
    uint32_t h = 2166136261u;
    size_t k = 0;

    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "host");
    }
    host[sizeof(host) - 1] = '\0';
    for (size_t i = 0; host[i] != '\0' && k < sizeof(safe) - 1; i++) {
        char ch = host[i];

        safe[k++] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.')
                        ? ch
                        : '_';
    }
    safe[k] = '\0';
    /* The absolute path: the same directory hashes the same from any
     * working directory. */
    real = dir != NULL ? realpath(dir, NULL) : NULL;
    for (const char *p = real != NULL ? real : dir != NULL ? dir : "";
         *p != '\0'; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    free(real);
    snprintf(out, outlen, "%s-%08" PRIx32, k > 0 ? safe : "host", h);
}

ap_err
store_pg_open(struct store *st, const struct store_config *cfg, char *errbuf,
              size_t errlen)
{
    struct store_pg *sp;
    const char *const *steps;
    size_t nsteps = 0;
    int from = 0;
    int to = 0;
    ap_err rc;

    if (cfg->conninfo == NULL || cfg->conninfo[0] == '\0') {
        snprintf(errbuf, errlen, "[store] postgresql (the connection "
                 "string) is required with engine = postgresql");
        return AP_ECONFIG;
    }
    if (cfg->instance != NULL && !instance_ok(cfg->instance)) {
        snprintf(errbuf, errlen, "[store] instance must be 1 to %d of "
                 "A-Z a-z 0-9 . - _", STORE_MAX_INSTANCE);
        return AP_ECONFIG;
    }
    rc = pq_bind(errbuf, errlen);
    if (rc != AP_OK) {
        return rc;
    }
    sp = calloc(1, sizeof(*sp));
    if (sp == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return AP_ENOMEM;
    }
    st->pg = sp;
    sp->st = st;
    sp->stop_fd[0] = -1;
    sp->stop_fd[1] = -1;
    pthread_mutex_init(&sp->lock, NULL);
    pthread_cond_init(&sp->freed, NULL);
    pthread_cond_init(&sp->heard_cond, NULL);
    sp->n = cfg->pool_size == 0 ? POOL_DEFAULT
            : cfg->pool_size > POOL_MAX ? POOL_MAX
                                        : cfg->pool_size;
    sp->lease_ms = cfg->lease_ms == 0 ? LEASE_DEFAULT_MS : cfg->lease_ms;
    if (cfg->instance != NULL) {
        snprintf(sp->instance, sizeof(sp->instance), "%s", cfg->instance);
    } else {
        default_instance(cfg->dir, sp->instance, sizeof(sp->instance));
    }
    sp->conns = calloc(sp->n, sizeof(*sp->conns));
    sp->conninfo = strdup(cfg->conninfo);
    sp->password = cfg->password != NULL ? strdup(cfg->password) : NULL;
    if (sp->conns == NULL || sp->conninfo == NULL ||
        (cfg->password != NULL && sp->password == NULL)) {
        snprintf(errbuf, errlen, "out of memory");
        return AP_ENOMEM;
    }
    /* The first connection makes or checks the schema, then joins the
     * pool; the others connect at their first use. */
    sp->conns[0].c = pg_connect(sp->conninfo, sp->password, errbuf, errlen);
    if (sp->conns[0].c == NULL) {
        return AP_ESTORE;
    }
    steps = store_pg_schema_steps(&nsteps);
    rc = schema_apply(sp->conns[0].c, steps, nsteps, false, &from, &to,
                      errbuf, errlen);
    if (rc != AP_OK) {
        return rc;
    }
    if (from != to) {
        log_info("store", "PostgreSQL schema: version %d to %d", from, to);
    }
    if (pipe(sp->stop_fd) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        sp->stop_fd[0] = sp->stop_fd[1] = -1;
        return AP_ESTORE;
    }
    if (pthread_create(&sp->listener, NULL, listener_main, sp) != 0) {
        snprintf(errbuf, errlen, "cannot start the store listener thread");
        return AP_ESTORE;
    }
    sp->listening = true;
    /* Commits of others are heard from the return on: wait for the first
     * LISTEN (bounded; without it the listener goes on trying). */
    {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += atoi(CONNECT_TIMEOUT);
        pthread_mutex_lock(&sp->lock);
        while (!sp->heard && pthread_cond_timedwait(&sp->heard_cond,
                                                    &sp->lock, &until) == 0) {
        }
        if (!sp->heard) {
            log_warn("store", "the listener is not connected yet: commits "
                     "of other instances are not heard until it is");
        }
        pthread_mutex_unlock(&sp->lock);
    }
    log_info("store", "PostgreSQL store, instance %s, pool of %zu",
             sp->instance, sp->n);
    return AP_OK;
}

void
store_pg_close(struct store *st)
{
    struct store_pg *sp = st->pg;

    if (sp == NULL) {
        return;
    }
    if (sp->listening) {
        if (write(sp->stop_fd[1], "x", 1) != 1) {
            log_err("store", "cannot stop the listener: %s",
                    strerror(errno));
        }
        pthread_join(sp->listener, NULL);
    }
    for (int i = 0; i < 2; i++) {
        if (sp->stop_fd[i] != -1) {
            close(sp->stop_fd[i]);
        }
    }
    for (size_t i = 0; sp->conns != NULL && i < sp->n; i++) {
        pq.PQfinish(sp->conns[i].c);
    }
    free(sp->conns);
    free(sp->conninfo);
    if (sp->password != NULL) {
        crypto_zeroize(sp->password, strlen(sp->password));
        free(sp->password);
    }
    pthread_cond_destroy(&sp->freed);
    pthread_cond_destroy(&sp->heard_cond);
    pthread_mutex_destroy(&sp->lock);
    free(sp);
    st->pg = NULL;
}

const char *
store_pg_instance(const struct store *st)
{
    return st->pg->instance;
}

/* ---- transactions ---- */

ap_err
store_pg_begin(struct store_txn *txn)
{
    struct store_pg *sp = txn->st->pg;
    struct store_pg_txn *pt;
    ap_err rc;

    pt = calloc(1, sizeof(*pt));
    if (pt == NULL) {
        return AP_ENOMEM;
    }
    rc = pool_take(sp, &pt->pc);
    if (rc != AP_OK) {
        free(pt);
        return rc;
    }
    if (txn->write) {
        rc = run(pt->pc->c, "begin", "BEGIN; SELECT pg_advisory_xact_lock("
                 STORE_PG_WRITER_LOCK ")", 0, NULL, NULL, NULL, 0,
                 PGRES_TUPLES_OK, NULL);
    } else {
        rc = run(pt->pc->c, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ "
                 "READ ONLY", 0, NULL, NULL, NULL, 0, PGRES_COMMAND_OK, NULL);
    }
    if (rc != AP_OK) {
        pool_give(sp, pt->pc);
        free(pt);
        return rc;
    }
    txn->pg = pt;
    return AP_OK;
}

ap_err
store_pg_commit(struct store_txn *txn)
{
    struct store_pg *sp = txn->st->pg;
    struct store_pg_txn *pt = txn->pg;
    PGresult *r = NULL;
    ap_err rc = AP_ESTORE;

    if (pt->failed) {
        log_err("store", "commit of a failed PostgreSQL transaction: rolled "
                "back");
        goto out;
    }
    if (txn->write && txn->touched != 0) {
        char payload[STORE_MAX_INSTANCE + 16];
        const char *vals[1] = { payload };

        /* Delivered at commit, to every listener of the channel. */
        snprintf(payload, sizeof(payload), "%s %u", sp->instance,
                 txn->touched);
        if (txn_run(txn, "notify", "SELECT pg_notify('" STORE_PG_CHANNEL
                    "', $1)", 1, vals, NULL, NULL, 0, PGRES_TUPLES_OK,
                    NULL) != AP_OK) {
            goto out;
        }
    }
    r = pq.PQexec(pt->pc->c, "COMMIT");
    /* A transaction that failed on the server answers COMMIT with
     * ROLLBACK. A connection lost here leaves the outcome unknown: it is a
     * failure to the caller (the retry of a request is idempotent). */
    if (pq.PQresultStatus(r) == PGRES_COMMAND_OK &&
        strcmp(pq.PQcmdStatus(r), "COMMIT") == 0) {
        rc = AP_OK;
    } else {
        log_err("store", "PostgreSQL commit: %.*s",
                (int)strcspn(pq.PQerrorMessage(pt->pc->c), "\n"),
                pq.PQerrorMessage(pt->pc->c));
    }
out:
    pq.PQclear(r);
    pool_give(sp, pt->pc);
    free(pt);
    txn->pg = NULL;
    return rc;
}

void
store_pg_abort(struct store_txn *txn)
{
    struct store_pg_txn *pt = txn->pg;

    if (pt == NULL) {
        return;
    }
    pool_give(txn->st->pg, pt->pc);
    free(pt);
    txn->pg = NULL;
}

/* ---- records ---- */

ap_err
store_pg_get(struct store_txn *txn, enum store_table t, const char *key,
             char **val, size_t *len)
{
    char sql[128];
    const char *vals[1] = { key };
    PGresult *r = NULL;
    char *copy;
    size_t n;
    ap_err rc;

    snprintf(sql, sizeof(sql), "SELECT value FROM ap_%s WHERE key = $1",
             store_table_name(t));
    rc = txn_run(txn, "get", sql, 1, vals, NULL, NULL, 1, PGRES_TUPLES_OK,
                 &r);
    if (rc != AP_OK) {
        return rc;
    }
    if (pq.PQntuples(r) == 0) {
        pq.PQclear(r);
        return AP_ENOTFOUND;
    }
    n = (size_t)pq.PQgetlength(r, 0, 0);
    copy = malloc(n + 1);
    if (copy == NULL) {
        pq.PQclear(r);
        return AP_ENOMEM;
    }
    memcpy(copy, pq.PQgetvalue(r, 0, 0), n);
    copy[n] = '\0';
    /* The result's copy may hold a secret too. */
    crypto_zeroize(pq.PQgetvalue(r, 0, 0), n);
    pq.PQclear(r);
    *val = copy;
    if (len != NULL) {
        *len = n;
    }
    return AP_OK;
}

ap_err
store_pg_put(struct store_txn *txn, enum store_table t, const char *key,
             const void *val, size_t len, bool exclusive)
{
    char sql[192];
    const char *vals[2] = { key, val };
    int lens[2] = { 0, (int)len };
    int fmts[2] = { 0, 1 };
    PGresult *r = NULL;
    ap_err rc;

    if (len > STORE_MAX_RECORD) {
        return AP_ETOOBIG;
    }
    snprintf(sql, sizeof(sql), "INSERT INTO ap_%s (key, value) VALUES ($1, "
             "$2) ON CONFLICT (key) DO %s", store_table_name(t),
             exclusive ? "NOTHING" : "UPDATE SET value = EXCLUDED.value");
    rc = txn_run(txn, "put", sql, 2, vals, lens, fmts, 0, PGRES_COMMAND_OK,
                 &r);
    if (rc != AP_OK) {
        return rc;
    }
    rc = strcmp(pq.PQcmdTuples(r), "1") == 0 ? AP_OK : AP_EEXIST;
    pq.PQclear(r);
    return rc;
}

ap_err
store_pg_del(struct store_txn *txn, enum store_table t, const char *key)
{
    char sql[128];
    const char *vals[1] = { key };
    PGresult *r = NULL;
    ap_err rc;

    snprintf(sql, sizeof(sql), "DELETE FROM ap_%s WHERE key = $1",
             store_table_name(t));
    rc = txn_run(txn, "del", sql, 1, vals, NULL, NULL, 0, PGRES_COMMAND_OK,
                 &r);
    if (rc != AP_OK) {
        return rc;
    }
    rc = strcmp(pq.PQcmdTuples(r), "0") == 0 ? AP_ENOTFOUND : AP_OK;
    pq.PQclear(r);
    return rc;
}

ap_err
store_pg_scan(struct store_txn *txn, enum store_table t, const char *prefix,
              const char *after, store_scan_fn fn, void *arg)
{
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    char lower[STORE_MAX_KEY + 1];
    char upper[STORE_MAX_KEY + 1];
    bool inclusive = true;
    bool bounded = false;
    bool done = false;
    ap_err rc = AP_OK;

    if (plen > STORE_MAX_KEY ||
        (after != NULL && strlen(after) > STORE_MAX_KEY)) {
        return AP_EINVAL;
    }
    /* As LMDB's cursor: one before the prefix starts at the prefix. */
    if (after != NULL && plen > 0 && strncmp(after, prefix, plen) < 0) {
        after = NULL;
    }
    if (after != NULL && after[0] != '\0') {
        snprintf(lower, sizeof(lower), "%s", after);
        inclusive = false;
    } else {
        snprintf(lower, sizeof(lower), "%s", plen > 0 ? prefix : "");
    }
    /* The first key past every key with the prefix (keys are ASCII). */
    if (plen > 0 && (unsigned char)prefix[plen - 1] < 0x7f) {
        memcpy(upper, prefix, plen + 1);
        upper[plen - 1]++;
        bounded = true;
    }
    while (!done && rc == AP_OK) {
        char sql[192];
        const char *vals[2] = { lower, upper };
        PGresult *r = NULL;
        int rows;

        snprintf(sql, sizeof(sql), "SELECT key, value FROM ap_%s WHERE key "
                 "%s $1%s ORDER BY key LIMIT %d", store_table_name(t),
                 inclusive ? ">=" : ">", bounded ? " AND key < $2" : "",
                 SCAN_BATCH);
        rc = txn_run(txn, "scan", sql, bounded ? 2 : 1, vals, NULL, NULL, 1,
                     PGRES_TUPLES_OK, &r);
        if (rc != AP_OK) {
            break;
        }
        rows = pq.PQntuples(r);
        done = rows < SCAN_BATCH;
        for (int i = 0; i < rows; i++) {
            const char *k = pq.PQgetvalue(r, i, 0);
            size_t klen = (size_t)pq.PQgetlength(r, i, 0);

            if (klen > STORE_MAX_KEY || strlen(k) != klen) {
                continue;
            }
            if (plen > 0 && strncmp(k, prefix, plen) != 0) {
                done = true;
                break;
            }
            if (!fn(arg, k, pq.PQgetvalue(r, i, 1),
                    (size_t)pq.PQgetlength(r, i, 1))) {
                done = true;
                break;
            }
            memcpy(lower, k, klen + 1);
            inclusive = false;
        }
        pq.PQclear(r);
    }
    return rc;
}

ap_err
store_pg_count(struct store_txn *txn, enum store_table t, size_t *out)
{
    char sql[96];
    PGresult *r = NULL;
    ap_err rc;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM ap_%s",
             store_table_name(t));
    rc = txn_run(txn, "count", sql, 0, NULL, NULL, NULL, 0, PGRES_TUPLES_OK,
                 &r);
    if (rc == AP_OK) {
        *out = (size_t)strtoull(pq.PQgetvalue(r, 0, 0), NULL, 10);
        pq.PQclear(r);
    }
    return rc;
}

ap_err
store_pg_usage(struct store *st, size_t *used_bytes)
{
    struct pg_conn *pc = NULL;
    PGresult *r = NULL;
    ap_err rc;

    rc = pool_take(st->pg, &pc);
    if (rc != AP_OK) {
        return rc;
    }
    rc = run(pc->c, "usage", "SELECT pg_database_size(current_database())",
             0, NULL, NULL, NULL, 0, PGRES_TUPLES_OK, &r);
    if (rc == AP_OK) {
        *used_bytes = (size_t)strtoull(pq.PQgetvalue(r, 0, 0), NULL, 10);
        pq.PQclear(r);
    }
    pool_give(st->pg, pc);
    return rc;
}

/* ---- job claims ---- */

ap_err
store_pg_job_take(struct store_txn *txn, const char *queue, long long now_ms,
                  char *id, size_t idlen, bool *taken_over,
                  long long *next_ms)
{
    struct store_pg *sp = txn->st->pg;
    char lo[STORE_JOB_MAX_QUEUE + 2];
    char hi[STORE_JOB_MAX_QUEUE + 24];
    char end[STORE_JOB_MAX_QUEUE + 2];
    char idpos[24];
    char duepos[24];
    char now[32];
    char until[32];
    PGresult *r = NULL;
    ap_err rc;

    *taken_over = false;
    if (next_ms != NULL) {
        *next_ms = 0;
    }
    snprintf(lo, sizeof(lo), "%s/", queue);
    snprintf(end, sizeof(end), "%s0", queue);      /* '/' + 1 */
    snprintf(hi, sizeof(hi), "%s/%015lld", queue, now_ms + 1);
    /* "<queue>/<15 digits>/<id>": substr() counts from 1. */
    snprintf(duepos, sizeof(duepos), "%zu", strlen(lo) + 1);
    snprintf(idpos, sizeof(idpos), "%zu", strlen(lo) + 17);
    snprintf(now, sizeof(now), "%lld", now_ms);
    {
        const char *vals[4] = { lo, hi, idpos, now };
        char sql[512];

        snprintf(sql, sizeof(sql), "SELECT j.key, j.owner IS NOT NULL FROM "
                 "ap_jobs_due d JOIN ap_jobs j ON j.key = substr(d.key, "
                 "$3::integer) WHERE d.key >= $1 AND d.key < $2 AND (j.owner "
                 "IS NULL OR j.lease_until < $4::bigint) ORDER BY d.key "
                 "LIMIT 1%s", txn->write ? " FOR UPDATE OF j SKIP LOCKED"
                                         : "");
        rc = txn_run(txn, "job claim", sql, 4, vals, NULL, NULL, 0,
                     PGRES_TUPLES_OK, &r);
    }
    if (rc != AP_OK) {
        return rc;
    }
    if (pq.PQntuples(r) == 1 && !txn->write) {
        /* A look only: there is one to claim. */
        snprintf(id, idlen, "%.*s", (int)(idlen - 1), pq.PQgetvalue(r, 0, 0));
        pq.PQclear(r);
        return AP_OK;
    }
    if (pq.PQntuples(r) == 1) {
        const char *vals[3] = { sp->instance, until, pq.PQgetvalue(r, 0, 0) };

        if (strlen(pq.PQgetvalue(r, 0, 0)) >= idlen) {
            pq.PQclear(r);
            return AP_EINVAL;
        }
        snprintf(id, idlen, "%s", pq.PQgetvalue(r, 0, 0));
        *taken_over = strcmp(pq.PQgetvalue(r, 0, 1), "t") == 0;
        snprintf(until, sizeof(until), "%lld", now_ms + sp->lease_ms);
        rc = txn_run(txn, "job claim", "UPDATE ap_jobs SET owner = $1, "
                     "lease_until = $2::bigint WHERE key = $3", 3, vals,
                     NULL, NULL, 0, PGRES_COMMAND_OK, NULL);
        pq.PQclear(r);
        return rc;
    }
    pq.PQclear(r);
    r = NULL;
    if (next_ms != NULL) {
        char jlo[STORE_JOB_MAX_QUEUE + 2];
        char jhi[STORE_JOB_MAX_QUEUE + 2];
        const char *vals[6] = { hi, end, duepos, idpos, jlo, jhi };

        snprintf(jlo, sizeof(jlo), "%s:", queue);
        snprintf(jhi, sizeof(jhi), "%s;", queue);  /* ':' + 1 */
        rc = txn_run(txn, "job next", "SELECT coalesce(min(x), 0) FROM ("
                     "(SELECT substr(d.key, $3::integer, 15)::bigint AS x "
                     "FROM ap_jobs_due d JOIN ap_jobs j ON j.key = "
                     "substr(d.key, $4::integer) WHERE d.key >= $1 AND "
                     "d.key < $2 AND j.owner IS NULL ORDER BY d.key LIMIT 1) "
                     "UNION ALL (SELECT min(lease_until) + 1 FROM ap_jobs "
                     "WHERE owner IS NOT NULL AND key >= $5 AND key < $6)) "
                     "AS s", 6, vals, NULL, NULL, 0, PGRES_TUPLES_OK, &r);
        if (rc != AP_OK) {
            return rc;
        }
        *next_ms = strtoll(pq.PQgetvalue(r, 0, 0), NULL, 10);
        pq.PQclear(r);
    }
    return AP_ENOTFOUND;
}

void
store_pg_job_untake(struct store *st, const char *id)
{
    struct pg_conn *pc = NULL;
    const char *vals[2] = { id, st->pg->instance };

    if (pool_take(st->pg, &pc) != AP_OK) {
        log_err("store", "job %s: claim not cleared (its lease ends it)",
                id);
        return;
    }
    if (run(pc->c, "job unclaim", "UPDATE ap_jobs SET owner = NULL, "
            "lease_until = NULL WHERE key = $1 AND owner = $2", 2, vals,
            NULL, NULL, 0, PGRES_COMMAND_OK, NULL) != AP_OK) {
        log_err("store", "job %s: claim not cleared (its lease ends it)",
                id);
    }
    pool_give(st->pg, pc);
}

ap_err
store_pg_job_taken(struct store_txn *txn, const char *id, bool *yes)
{
    const char *vals[1] = { id };
    PGresult *r = NULL;
    ap_err rc;

    rc = txn_run(txn, "job claimed", "SELECT owner IS NOT NULL FROM ap_jobs "
                 "WHERE key = $1", 1, vals, NULL, NULL, 0, PGRES_TUPLES_OK,
                 &r);
    if (rc == AP_OK) {
        *yes = pq.PQntuples(r) == 1 &&
               strcmp(pq.PQgetvalue(r, 0, 0), "t") == 0;
        pq.PQclear(r);
    }
    return rc;
}

ap_err
store_pg_job_disown(struct store_txn *txn, store_scan_fn fn, void *arg)
{
    const char *vals[1] = { txn->st->pg->instance };
    PGresult *r = NULL;
    ap_err rc;

    rc = txn_run(txn, "job recover", "UPDATE ap_jobs SET owner = NULL, "
                 "lease_until = NULL WHERE owner = $1 RETURNING key", 1,
                 vals, NULL, NULL, 0, PGRES_TUPLES_OK, &r);
    if (rc != AP_OK) {
        return rc;
    }
    for (int i = 0; i < pq.PQntuples(r); i++) {
        if (!fn(arg, pq.PQgetvalue(r, i, 0), "", 0)) {
            break;
        }
    }
    pq.PQclear(r);
    return AP_OK;
}
