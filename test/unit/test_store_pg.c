/* test/unit/test_store_pg.c: common/store.h on the PostgreSQL engine.
 *
 * Every test of test_store.c (included below, compiled for PostgreSQL),
 * then what only several instances on one database have: racing writers,
 * racing job claims, a lease that ends with its instance, leases renewed
 * while the instance lives, another instance's commit heard, a lost
 * connection, the schema versions (migrate) and the copy from LMDB.
 *
 * The database comes from the environment, set by test/unit/run.sh, which
 * starts a throw-away PostgreSQL (test/integration/pg_lib.sh):
 *   ACMEPROXY_TEST_PG                libpq conninfo (no password)
 *   ACMEPROXY_TEST_PG_PASSWORD_FILE  the password
 * Without them every test FAILS (it never skips): run it through
 * test/unit/run.sh. */
#define STORE_TEST_PG 1

#include <libpq-fe.h>
#include <pthread.h>
#include <time.h>

#include "test/unit/test_store.c"

#include "common/store_int.h"

static char pg_password[256];

static const char *
pg_conninfo(void)
{
    const char *c = getenv("ACMEPROXY_TEST_PG");

    if (c == NULL || c[0] == '\0') {
        print_error("ACMEPROXY_TEST_PG is not set: run the unit tests with "
                    "test/unit/run.sh, which starts PostgreSQL\n");
        return NULL;
    }
    return c;
}

static const char *
pg_pw(void)
{
    const char *path = getenv("ACMEPROXY_TEST_PG_PASSWORD_FILE");
    FILE *fp;

    if (pg_password[0] != '\0') {
        return pg_password;
    }
    if (path == NULL || (fp = fopen(path, "r")) == NULL) {
        print_error("ACMEPROXY_TEST_PG_PASSWORD_FILE is not readable\n");
        return NULL;
    }
    if (fgets(pg_password, sizeof(pg_password), fp) == NULL) {
        pg_password[0] = '\0';
    }
    fclose(fp);
    pg_password[strcspn(pg_password, "\r\n")] = '\0';
    return pg_password[0] != '\0' ? pg_password : NULL;
}

static void
pg_config(struct store_config *sc, const char *dir, const char *instance,
          unsigned lease_ms)
{
    memset(sc, 0, sizeof(*sc));
    sc->engine = STORE_ENGINE_POSTGRESQL;
    sc->dir = dir;
    sc->conninfo = pg_conninfo();
    sc->password = pg_pw();
    sc->instance = instance;
    sc->pool_size = 4;
    sc->lease_ms = lease_ms;
}

static ap_err
pg_store_open(const char *dir, const char *instance, unsigned lease_ms,
              struct store **out, char *errbuf, size_t errlen)
{
    struct store_config sc;

    pg_config(&sc, dir, instance, lease_ms);
    if (sc.conninfo == NULL || sc.password == NULL) {
        snprintf(errbuf, errlen, "no test database");
        *out = NULL;
        return AP_ECONFIG;
    }
    return store_open(&sc, out, errbuf, errlen);
}

/* The tests' own connection to the test database (kept: a new one per
 * look costs an authentication each). application_name differs from the
 * store's, so test_pg_connection_lost does not cut it. */
static PGconn *
pg_direct(void)
{
    const char *keys[] = { "dbname", "password", "application_name", NULL };
    const char *vals[] = { pg_conninfo(), pg_pw(), "acmeproxy-test", NULL };

    if (pg_own != NULL && PQstatus(pg_own) == CONNECTION_OK) {
        return pg_own;
    }
    PQfinish(pg_own);
    pg_own = NULL;
    if (vals[0] == NULL || vals[1] == NULL) {
        return NULL;
    }
    pg_own = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg_own) != CONNECTION_OK) {
        print_error("PostgreSQL: %s\n", PQerrorMessage(pg_own));
        PQfinish(pg_own);
        pg_own = NULL;
        return NULL;
    }
    PQclear(PQexec(pg_own, "SET client_min_messages TO warning"));
    return pg_own;
}

static int
pg_sql(const char *sql)
{
    PGconn *c = pg_direct();
    PGresult *r;
    int ok;

    if (c == NULL) {
        return -1;
    }
    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
         PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        print_error("%s: %s\n", sql, PQerrorMessage(c));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* The first value of the answer to sql as a number, -1 on error. */
static long long
pg_value(const char *sql)
{
    PGconn *c = pg_direct();
    PGresult *r;
    long long v = -1;

    if (c == NULL) {
        return -1;
    }
    r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        !PQgetisnull(r, 0, 0)) {
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return v;
}

/* Drops every table: the next open makes the schema anew. */
static int
pg_drop_all(void)
{
    char sql[1024] = "DROP TABLE IF EXISTS ap_schema, ap_test_v2";

    for (int t = 0; t < STORE__MAX; t++) {
        size_t n = strlen(sql);

        snprintf(sql + n, sizeof(sql) - n, ", ap_%s",
                 store_table_name((enum store_table)t));
    }
    return pg_sql(sql);
}

/* Empties every table of a database at this build's schema (cheaper than
 * making the schema for every test); anything else is dropped. */
static int
pg_reset(void)
{
    char sql[1024] = "";

    if (pg_value("SELECT count(*) FROM pg_tables WHERE tablename IN "
                 "('ap_schema', 'ap_reconcile', 'ap_test_v2')") != 2 ||
        pg_value("SELECT max(version) FROM ap_schema") != 1) {
        return pg_drop_all();
    }
    for (int t = 0; t < STORE__MAX; t++) {
        size_t n = strlen(sql);

        snprintf(sql + n, sizeof(sql) - n, "DELETE FROM ap_%s; ",
                 store_table_name((enum store_table)t));
    }
    return pg_sql(sql);
}

static long long
wall_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static struct store *
open_instance(struct fixture *f, const char *instance, unsigned lease_ms)
{
    struct store *st = NULL;
    char errbuf[256] = "";

    if (pg_store_open(f->dir, instance, lease_ms, &st, errbuf,
                      sizeof(errbuf)) != AP_OK) {
        print_error("store_open %s: %s\n", instance, errbuf);
        fail();
    }
    return st;
}

/* ---- writers of two instances are serial ---------------------------- */

#define RACERS 8

struct racer {
    struct store *st;
    pthread_barrier_t *go;
    int won_check_then_set;  /* the read-then-write claim succeeded */
    int won_exclusive;       /* the exclusive put succeeded */
    ap_err rc;
};

static void *
racer_main(void *arg)
{
    struct racer *r = arg;
    struct store_txn *txn = NULL;
    char *val = NULL;
    ap_err rc;

    pthread_barrier_wait(r->go);
    /* EAB single use as the proxy does it: read the key's record, and
     * bind it only when it is unbound, in one write transaction. */
    r->rc = store_begin(r->st, true, &txn);
    if (r->rc != AP_OK) {
        return NULL;
    }
    rc = store_get(txn, STORE_EAB, "kid", &val, NULL);
    if (rc == AP_OK && strcmp(val, "unbound") == 0) {
        sleep_ms(20);     /* a window for the others, were they not serial */
        r->rc = store_put(txn, STORE_EAB, "kid", "bound", 5, false);
        r->won_check_then_set = r->rc == AP_OK;
    }
    free(val);
    if (r->rc == AP_OK) {
        rc = store_put(txn, STORE_ORDERS, "finalized-once", "x", 1, true);
        r->won_exclusive = rc == AP_OK;
        if (rc != AP_OK && rc != AP_EEXIST) {
            r->rc = rc;
        }
    }
    if (r->rc == AP_OK) {
        r->rc = store_commit(txn);
    } else {
        store_abort(txn);
    }
    return NULL;
}

static void
test_pg_writers_serial(void **state)
{
    struct fixture *f = *state;
    struct store *b = open_instance(f, "test-b", 0);
    pthread_barrier_t go;
    pthread_t th[RACERS];
    struct racer r[RACERS];
    int check_then_set = 0;
    int exclusive = 0;
    char *val;

    put(f, STORE_EAB, "kid", "unbound");
    pthread_barrier_init(&go, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].st = i % 2 == 0 ? f->st : b;
        r[i].go = &go;
        assert_int_equal(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, AP_OK);
        check_then_set += r[i].won_check_then_set;
        exclusive += r[i].won_exclusive;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(check_then_set, 1);
    assert_int_equal(exclusive, 1);
    val = get(f, STORE_EAB, "kid");
    assert_string_equal(val, "bound");
    free(val);
    store_close(b);
}

/* ---- job claims of two instances ------------------------------------ */

#define JOBS_N 40
#define CLAIMERS 6

struct claimer {
    struct store *st;
    pthread_barrier_t *go;
    char ids[JOBS_N][STORE_MAX_KEY + 1];
    int n;
    ap_err rc;
};

static void *
claimer_main(void *arg)
{
    struct claimer *c = arg;

    pthread_barrier_wait(c->go);
    for (int guard = 0; guard < JOBS_N * 2; guard++) {
        char id[STORE_MAX_KEY + 1];
        cJSON *rec = NULL;
        ap_err rc;

        rc = store_job_claim(c->st, "i", 10000, id, sizeof(id), &rec, NULL);
        if (rc == AP_ENOTFOUND) {
            break;
        }
        if (rc != AP_OK) {
            c->rc = rc;
            break;
        }
        cJSON_Delete(rec);
        if (c->n < JOBS_N) {
            snprintf(c->ids[c->n], sizeof(c->ids[0]), "%s", id);
        }
        c->n++;
    }
    return NULL;
}

static void
test_pg_claims_race(void **state)
{
    struct fixture *f = *state;
    struct store *b = open_instance(f, "test-b", 0);
    pthread_barrier_t go;
    pthread_t th[CLAIMERS];
    struct claimer *c = calloc(CLAIMERS, sizeof(*c));
    int seen[JOBS_N] = { 0 };
    int total = 0;

    assert_non_null(c);
    for (int i = 0; i < JOBS_N; i++) {
        char id[32];

        snprintf(id, sizeof(id), "i:job%02d", i);
        job_put(f, id, 100 + i);
    }
    pthread_barrier_init(&go, NULL, CLAIMERS);
    for (int i = 0; i < CLAIMERS; i++) {
        c[i].st = i % 2 == 0 ? f->st : b;
        c[i].go = &go;
        assert_int_equal(pthread_create(&th[i], NULL, claimer_main, &c[i]),
                         0);
    }
    for (int i = 0; i < CLAIMERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].rc, AP_OK);
        for (int k = 0; k < c[i].n && k < JOBS_N; k++) {
            int n = atoi(c[i].ids[k] + strlen("i:job"));

            assert_true(n >= 0 && n < JOBS_N);
            seen[n]++;
        }
        total += c[i].n;
    }
    pthread_barrier_destroy(&go);
    /* Every job claimed, none twice, across both instances. */
    assert_int_equal(total, JOBS_N);
    for (int i = 0; i < JOBS_N; i++) {
        assert_int_equal(seen[i], 1);
    }
    assert_int_equal(pg_value("SELECT count(*) FROM ap_jobs WHERE owner IS "
                              "NULL"),
                     0);
    free(c);
    store_close(b);
}

/* ---- a lease that ends with its instance ---------------------------- */

static void
test_pg_lease_takeover(void **state)
{
    struct fixture *f = *state;
    struct store *a = open_instance(f, "test-dies", 1500);
    struct store *b = open_instance(f, "test-b", 1500);
    char id[STORE_MAX_KEY + 1];
    cJSON *rec = NULL;
    long long next = -1;
    long long t;

    job_put(f, "i:long", 100);
    t = wall_now_ms();
    assert_int_equal(store_job_claim(a, "i", t, id, sizeof(id), &rec, NULL),
                     AP_OK);
    assert_int_equal(
        cJSON_GetObjectItemCaseSensitive(rec, "starts")->valuedouble, 1);
    cJSON_Delete(rec);
    rec = NULL;
    /* While the lease runs, nobody else takes it; the answer says when
     * the lease ends. */
    assert_int_equal(store_job_claim(b, "i", t, id, sizeof(id), &rec,
                                     &next),
                     AP_ENOTFOUND);
    assert_true(next > t && next <= wall_now_ms() + 1501);
    /* Instance a dies (no unclaim): its lease is no longer renewed. */
    store_close(a);
    t = wall_now_ms() + 1501;
    assert_int_equal(store_job_claim(b, "i", t, id, sizeof(id), &rec, NULL),
                     AP_OK);
    assert_string_equal(id, "i:long");
    /* The dead start counts (on record), and this one too. */
    assert_int_equal(
        cJSON_GetObjectItemCaseSensitive(rec, "starts")->valuedouble, 2);
    cJSON_Delete(rec);
    assert_int_equal(job_field(f, "i:long", "starts"), 1);
    assert_int_equal(pg_value("SELECT count(*) FROM ap_jobs WHERE owner = "
                              "'test-b'"),
                     1);
    store_job_unclaim(b, "i:long");
    assert_int_equal(pg_value("SELECT count(*) FROM ap_jobs WHERE owner IS "
                              "NOT NULL"),
                     0);
    store_close(b);
}

/* A living instance renews its leases: a long job is not taken over. */
static void
test_pg_lease_renewed(void **state)
{
    struct fixture *f = *state;
    struct store *a = open_instance(f, "test-lives", 2000);
    struct store *b = open_instance(f, "test-b", 2000);
    char id[STORE_MAX_KEY + 1];
    cJSON *rec = NULL;

    job_put(f, "i:long", 100);
    assert_int_equal(store_job_claim(a, "i", wall_now_ms(), id, sizeof(id),
                                     &rec, NULL),
                     AP_OK);
    cJSON_Delete(rec);
    rec = NULL;
    sleep_ms(4200);     /* more than twice the lease */
    assert_int_equal(store_job_claim(b, "i", wall_now_ms(), id, sizeof(id),
                                     &rec, NULL),
                     AP_ENOTFOUND);
    store_job_unclaim(a, "i:long");
    assert_int_equal(store_job_claim(b, "i", wall_now_ms(), id, sizeof(id),
                                     &rec, NULL),
                     AP_OK);
    /* Ended normally: no start counted against it. */
    assert_int_equal(
        cJSON_GetObjectItemCaseSensitive(rec, "starts")->valuedouble, 1);
    cJSON_Delete(rec);
    store_job_unclaim(b, "i:long");
    store_close(a);
    store_close(b);
}

/* ---- commits of another instance are heard -------------------------- */

struct heard {
    pthread_mutex_t lock;
    unsigned local_tables;
    unsigned remote_tables;
    int local_n;
    int remote_n;
};

static void
on_commit_heard(void *arg, unsigned tables, bool remote)
{
    struct heard *h = arg;

    pthread_mutex_lock(&h->lock);
    if (remote) {
        h->remote_tables |= tables;
        h->remote_n++;
    } else {
        h->local_tables |= tables;
        h->local_n++;
    }
    pthread_mutex_unlock(&h->lock);
}

static void
test_pg_remote_commit(void **state)
{
    struct fixture *f = *state;
    struct store *b = open_instance(f, "test-b", 0);
    struct heard h;
    struct heard other;
    struct store_txn *txn = NULL;
    int remote_n = 0;

    memset(&h, 0, sizeof(h));
    memset(&other, 0, sizeof(other));
    pthread_mutex_init(&h.lock, NULL);
    pthread_mutex_init(&other.lock, NULL);
    assert_int_equal(store_on_commit(f->st, on_commit_heard, &h), AP_OK);
    assert_int_equal(store_on_commit(f->st, on_commit_heard, &other), AP_OK);
    store_off_commit(f->st, on_commit_heard, &other);
    /* Our own commit: local, once (never heard again as remote). */
    put(f, STORE_CERTS, "mine", "1");
    /* b's commit: heard by a's listener. */
    assert_int_equal(store_begin(b, true, &txn), AP_OK);
    assert_int_equal(store_put(txn, STORE_ACCOUNTS, "theirs", "1", 1, false),
                     AP_OK);
    assert_int_equal(store_put(txn, STORE_ORDERS, "theirs", "1", 1, false),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    for (int i = 0; i < 100 && remote_n == 0; i++) {
        sleep_ms(50);
        pthread_mutex_lock(&h.lock);
        remote_n = h.remote_n;
        pthread_mutex_unlock(&h.lock);
    }
    sleep_ms(200);     /* anything else would arrive by now */
    pthread_mutex_lock(&h.lock);
    assert_int_equal(h.local_n, 1);
    assert_int_equal(h.local_tables, 1u << STORE_CERTS);
    assert_int_equal(h.remote_n, 1);
    assert_int_equal(h.remote_tables,
                     (1u << STORE_ACCOUNTS) | (1u << STORE_ORDERS));
    pthread_mutex_unlock(&h.lock);
    /* Removed: never called. */
    assert_int_equal(other.local_n + other.remote_n, 0);
    store_off_commit(f->st, on_commit_heard, &h);
    store_close(b);
    pthread_mutex_destroy(&h.lock);
    pthread_mutex_destroy(&other.lock);
}

static void
test_pg_subscribers_capped(void **state)
{
    struct fixture *f = *state;
    struct heard h[STORE_MAX_SUBSCRIBERS + 1];

    for (int i = 0; i < STORE_MAX_SUBSCRIBERS; i++) {
        assert_int_equal(store_on_commit(f->st, on_commit_heard, &h[i]),
                         AP_OK);
    }
    assert_int_equal(store_on_commit(f->st, on_commit_heard,
                                     &h[STORE_MAX_SUBSCRIBERS]),
                     AP_ETOOBIG);
    for (int i = 0; i < STORE_MAX_SUBSCRIBERS; i++) {
        store_off_commit(f->st, on_commit_heard, &h[i]);
    }
}

/* ---- a lost connection fails one transaction, not the process ------- */

static void
test_pg_connection_lost(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    char *val = NULL;
    ap_err rc;
    int failed = 0;

    put(f, STORE_ACCOUNTS, "a", "1");
    /* Every connection of the store is cut (the listener's too). */
    assert_int_equal(pg_sql("SELECT pg_terminate_backend(pid) FROM "
                            "pg_stat_activity WHERE application_name = "
                            "'acmeproxy' AND pid <> pg_backend_pid()"),
                     0);
    for (int i = 0; i < 3; i++) {
        rc = store_begin(f->st, false, &txn);
        if (rc == AP_OK) {
            rc = store_get(txn, STORE_ACCOUNTS, "a", &val, NULL);
            store_abort(txn);
        }
        if (rc == AP_OK) {
            break;
        }
        assert_int_equal(rc, AP_ESTORE);
        failed++;
    }
    /* One transaction saw the cut; the next connected again. */
    assert_int_equal(failed, 1);
    assert_non_null(val);
    assert_string_equal(val, "1");
    free(val);
    put(f, STORE_ACCOUNTS, "b", "2");
}

/* ---- open: errors, usage, backup ------------------------------------ */

static void
test_pg_open_errors(void **state)
{
    struct fixture *f = *state;
    struct store_config sc;
    struct store *st = (struct store *)&st;
    char errbuf[512] = "";
    size_t map = 1;
    size_t used = 0;

    /* A wrong password: refused, and never echoed. */
    pg_config(&sc, f->dir, "test-x", 0);
    sc.password = "not-the-password-xyzzy";
    assert_int_equal(store_open(&sc, &st, errbuf, sizeof(errbuf)),
                     AP_ESTORE);
    assert_null(st);
    assert_non_null(strstr(errbuf, "password"));
    assert_null(strstr(errbuf, "xyzzy"));
    /* No connection string. */
    pg_config(&sc, f->dir, "test-x", 0);
    sc.conninfo = NULL;
    assert_int_equal(store_open(&sc, &st, errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    /* An instance id that a NOTIFY could not carry. */
    pg_config(&sc, f->dir, "two words", 0);
    assert_int_equal(store_open(&sc, &st, errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    /* Usage is the database's size; a backup names pg_dump. */
    assert_int_equal(store_usage(f->st, &map, &used), AP_OK);
    assert_int_equal(map, 0);
    assert_true(used > 1000000);
    assert_int_equal(store_backup(f->st, "/nonexistent/x", errbuf,
                                  sizeof(errbuf)),
                     AP_EINVAL);
    assert_non_null(strstr(errbuf, "pg_dump"));
    assert_int_equal(store_engine_of(f->st), STORE_ENGINE_POSTGRESQL);
    assert_string_equal(store_instance(f->st), "test-a");
    /* No instance configured: the host name and a hash of the directory,
     * the same at every start, another for another directory. */
    {
        char first[STORE_MAX_INSTANCE + 1];
        char host[256] = "";

        pg_config(&sc, f->dir, NULL, 0);
        assert_int_equal(store_open(&sc, &st, errbuf, sizeof(errbuf)), AP_OK);
        snprintf(first, sizeof(first), "%s", store_instance(st));
        store_close(st);
        assert_int_equal(gethostname(host, sizeof(host)), 0);
        assert_int_equal(strncmp(first, host, strcspn(host, "_")), 0);
        assert_int_equal(store_open(&sc, &st, errbuf, sizeof(errbuf)), AP_OK);
        assert_string_equal(store_instance(st), first);
        store_close(st);
        sc.dir = "/tmp";
        assert_int_equal(store_open(&sc, &st, errbuf, sizeof(errbuf)), AP_OK);
        assert_string_not_equal(store_instance(st), first);
        store_close(st);
    }
}

/* ---- schema versions ------------------------------------------------ */

static void
test_pg_migrate_steps(void **state)
{
    struct fixture *f = *state;
    struct store_config sc;
    const char *const *builtin;
    const char *steps[2];
    const char *bad[2];
    struct store *st = NULL;
    char errbuf[512] = "";
    size_t n = 0;
    int from = -1;
    int to = -1;

    store_close(f->st);
    f->st = NULL;
    assert_int_equal(pg_drop_all(), 0);
    pg_config(&sc, f->dir, "test-a", 0);
    builtin = store_pg_schema_steps(&n);
    assert_int_equal(n, 1);
    /* A step that fails leaves the database as it was (one transaction). */
    bad[0] = builtin[0];
    bad[1] = "CREATE TABLE ap_test_v2 (x integer); SELECT no_such_function()";
    assert_int_not_equal(store_pg_migrate_steps(&sc, bad, 2, &from, &to,
                                                errbuf, sizeof(errbuf)),
                         AP_OK);
    assert_non_null(strstr(errbuf, "step 2"));
    assert_int_equal(pg_value("SELECT count(*) FROM pg_tables WHERE "
                              "tablename IN ('ap_schema', 'ap_accounts', "
                              "'ap_test_v2')"),
                     0);
    /* Empty: every step; then nothing to do. */
    assert_int_equal(store_migrate(&sc, &from, &to, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(from, 0);
    assert_int_equal(to, 1);
    assert_int_equal(store_migrate(&sc, &from, &to, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(from, 1);
    assert_int_equal(to, 1);
    /* A later version's step applies on top, in order. */
    steps[0] = builtin[0];
    steps[1] = "CREATE TABLE ap_test_v2 (x integer)";
    assert_int_equal(store_pg_migrate_steps(&sc, steps, 2, &from, &to,
                                            errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(from, 1);
    assert_int_equal(to, 2);
    assert_int_equal(pg_value("SELECT max(version) FROM ap_schema"), 2);
    /* This build (version 1) refuses the newer database. */
    assert_int_equal(store_open(&sc, &st, errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    assert_null(st);
    assert_non_null(strstr(errbuf, "newer"));
    /* migrate on LMDB is refused. */
    sc.engine = STORE_ENGINE_LMDB;
    assert_int_equal(store_migrate(&sc, &from, &to, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_int_equal(pg_drop_all(), 0);
    store_reopen(f);
}

/* ---- the copy from LMDB --------------------------------------------- */

static void
test_pg_copy_from_lmdb(void **state)
{
    struct fixture *f = *state;
    struct store_config lc = { .dir = f->dir, .map_size_mb = MAP_MB };
    struct store *lmdb = NULL;
    struct store_txn *txn = NULL;
    size_t counts[STORE__MAX];
    char errbuf[512] = "";
    char id[STORE_MAX_KEY + 1];
    cJSON *rec = NULL;
    char *val;

    assert_int_equal(store_open(&lc, &lmdb, errbuf, sizeof(errbuf)), AP_OK);
    assert_int_equal(store_begin(lmdb, true, &txn), AP_OK);
    assert_int_equal(store_put(txn, STORE_ACCOUNTS, "acct1", "{}", 2, true),
                     AP_OK);
    assert_int_equal(store_put(txn, STORE_ACCOUNTS, "acct2", "{}", 2, true),
                     AP_OK);
    assert_int_equal(store_put(txn, STORE_CERTS, "c1", "bin\0ary", 7, true),
                     AP_OK);
    assert_int_equal(store_job_put(txn, "i:j1", 100, NULL), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    /* A job the LMDB process was running: it arrives unclaimed. */
    assert_int_equal(store_job_claim(lmdb, "i", 100, id, sizeof(id), &rec,
                                     NULL),
                     AP_OK);
    cJSON_Delete(rec);
    rec = NULL;

    memset(counts, 0, sizeof(counts));
    assert_int_equal(store_copy(lmdb, f->st, counts, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(counts[STORE_ACCOUNTS], 2);
    assert_int_equal(counts[STORE_CERTS], 1);
    assert_int_equal(counts[STORE_JOBS], 1);
    assert_int_equal(counts[STORE_JOBS_DUE], 1);
    assert_int_equal(counts[STORE_META], 1);    /* LMDB's schema row */
    val = get(f, STORE_ACCOUNTS, "acct2");
    assert_string_equal(val, "{}");
    free(val);
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    {
        size_t len = 0;

        assert_int_equal(store_get(txn, STORE_CERTS, "c1", &val, &len),
                         AP_OK);
        assert_int_equal(len, 7);
        assert_memory_equal(val, "bin\0ary", 7);
        free(val);
    }
    store_abort(txn);
    assert_int_equal(store_job_claim(f->st, "i", 100, id, sizeof(id), &rec,
                                     NULL),
                     AP_OK);
    assert_string_equal(id, "i:j1");
    cJSON_Delete(rec);
    /* A second copy finds the target in use: refused, nothing written. */
    assert_int_equal(store_copy(lmdb, f->st, counts, errbuf, sizeof(errbuf)),
                     AP_EEXIST);
    assert_non_null(strstr(errbuf, "not empty"));
    assert_int_equal(pg_value("SELECT count(*) FROM ap_accounts"), 2);
    store_close(lmdb);
}

static void
add_engine_tests(struct test_list *l)
{
    add_test(l, "pg: writers of two instances are serial (EAB single use, "
             "finalized once)", test_pg_writers_serial, NULL);
    add_test(l, "pg: job claims of two instances, each job once",
             test_pg_claims_race, NULL);
    add_test(l, "pg: a dead instance's lease ends: taken over, start "
             "counted", test_pg_lease_takeover, NULL);
    add_test(l, "pg: a living instance renews its leases",
             test_pg_lease_renewed, NULL);
    add_test(l, "pg: another instance's commit is heard",
             test_pg_remote_commit, NULL);
    add_test(l, "pg: commit subscribers are capped",
             test_pg_subscribers_capped, NULL);
    add_test(l, "pg: a lost connection fails one transaction",
             test_pg_connection_lost, NULL);
    add_test(l, "pg: open errors, usage, backup", test_pg_open_errors, NULL);
    add_test(l, "pg: schema versions (migrate)", test_pg_migrate_steps, NULL);
    add_test(l, "pg: copy from LMDB (migrate --from-lmdb)",
             test_pg_copy_from_lmdb, NULL);
}
