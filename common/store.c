/* common/store.c: store.h's entry points, which check their arguments
 * and hand each call to its engine, the commit subscribers, the copy
 * between stores (migrate --from-lmdb), and the LMDB engine: open, close,
 * transactions, records, scans, counts and backups. The PostgreSQL engine
 * is common/store_pg.c; the job queues are common/store_jobs.c, built on
 * these.
 *
 * Only this file, store_group.c and their store_lmdb.h include lmdb.h;
 * no MDB_val escapes them. The environment uses MDB_NOTLS so read
 * transactions are not tied to a thread's slot (civetweb and the workers
 * are thread pools) and default durability: every LMDB commit syncs its data (fdatasync) and then writes
 * its meta page through the O_DSYNC descriptor before it returns, and
 * only then do read transactions see it. Write transactions go through
 * group commit (common/store_group.c). A read transaction that ended is
 * reset and kept (struct store_lmdb.idle, up to STORE_IDLE_READERS) and
 * the next read renews it: the same fresh snapshot as mdb_txn_begin, with
 * no malloc (LMDB's txn, ours) and no lock of the reader table.
 */
#include "common/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/json.h"
#include "common/log.h"
#include "common/store_int.h"
#include "common/store_lmdb.h"

#define STORE_SCHEMA "1"

static const char *const table_name[] = { /* also PostgreSQL's ap_<name> */
    [STORE_ACCOUNTS] = "accounts",
    [STORE_ACCOUNT_KEYS] = "account_keys",
    [STORE_ORDERS] = "orders",
    [STORE_ACCOUNT_ORDERS] = "account_orders",
    [STORE_AUTHZS] = "authzs",
    [STORE_CERTS] = "certs",
    [STORE_SERIALS] = "serials",
    [STORE_JOBS] = "jobs",
    [STORE_META] = "meta",
    [STORE_ACCOUNT_AUTHZS] = "account_authzs",
    [STORE_EAB] = "eab",
    [STORE_AUDIT] = "audit",
    [STORE_JOBS_DUE] = "jobs_due",
    [STORE_RECONCILE] = "reconcile",
};
_Static_assert(sizeof(table_name) / sizeof(table_name[0]) == STORE__MAX,
               "table_name must cover every table");

_Static_assert(STORE__MAX <= 32, "store_commit_fn gets a 32-bit table set");

#define ENV(st) ((st)->lmdb->env)
#define DBI(txn, t) ((txn)->st->lmdb->dbi[t])

const char *
store_table_name(enum store_table t)
{
    return (unsigned)t < STORE__MAX ? table_name[t] : "?";
}

ap_err
store_lmdb_rc(int rc, const char *what, const struct store *st)
{
    if (rc == 0) {
        return AP_OK;
    }
    if (rc == MDB_NOTFOUND) {
        return AP_ENOTFOUND;
    }
    if (rc == MDB_KEYEXIST) {
        return AP_EEXIST;
    }
    if (rc == MDB_MAP_FULL) {
        log_err("store", "%s: %s (map_size_mb=%zu: raise it)", what,
                mdb_strerror(rc), st ? st->lmdb->map_size_mb : 0);
    } else {
        log_err("store", "%s: %s", what, mdb_strerror(rc));
    }
    return AP_ESTORE;
}

/* store_lmdb_rc for an operation of txn; an error LMDB marks the txn unusable
 * for (anything but "not found" and "exists") is noted in txn->failed. */
static ap_err
txn_rc(struct store_txn *txn, int rc, const char *what)
{
    if (rc != 0 && rc != MDB_NOTFOUND && rc != MDB_KEYEXIST) {
        txn->failed = true;
    }
    return store_lmdb_rc(rc, what, txn->st);
}

static ap_err
lmdb_open(struct store *st, const char *dir, size_t map_size_mb,
          char *errbuf, size_t errlen)
{
    struct store_lmdb *l;
    MDB_txn *txn = NULL;
    ap_err rc = AP_ESTORE;
    int mrc;

    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return AP_ENOMEM;
    }
    st->lmdb = l;
    l->map_size_mb = map_size_mb;
    pthread_mutex_init(&l->gc.lock, NULL);
    pthread_cond_init(&l->gc.work, NULL);
    pthread_cond_init(&l->gc.slot, NULL);
    pthread_mutex_init(&l->idle_lock, NULL);
    mrc = mdb_env_create(&l->env);
    if (mrc != 0) {
        snprintf(errbuf, errlen, "mdb_env_create: %s", mdb_strerror(mrc));
        l->env = NULL;
        goto out;
    }
    mrc = mdb_env_set_maxdbs(l->env, STORE__MAX);
    if (mrc == 0) {
        mrc = mdb_env_set_mapsize(l->env, map_size_mb * 1024 * 1024);
    }
    if (mrc == 0) {
        mrc = mdb_env_set_maxreaders(l->env, 512);
    }
    if (mrc == 0) {
        /* MDB_NORDAHEAD: random reads of a large store would otherwise
         * pull whole read-ahead windows into memory. */
        mrc = mdb_env_open(l->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600);
    }
    if (mrc != 0) {
        snprintf(errbuf, errlen, "opening the store in %s: %s", dir,
                 mdb_strerror(mrc));
        goto out;
    }
    /* A reader that died with a crash leaves its slot; clear such slots. */
    (void)mdb_reader_check(l->env, NULL);
    mrc = mdb_txn_begin(l->env, NULL, 0, &txn);
    for (int i = 0; mrc == 0 && i < STORE__MAX; i++) {
        mrc = mdb_dbi_open(txn, table_name[i], MDB_CREATE, &l->dbi[i]);
    }
    if (mrc == 0) {
        MDB_val k = { strlen("schema"), (void *)"schema" };
        MDB_val v = { strlen(STORE_SCHEMA), (void *)STORE_SCHEMA };
        MDB_val have;

        mrc = mdb_get(txn, l->dbi[STORE_META], &k, &have);
        if (mrc == MDB_NOTFOUND) {
            mrc = mdb_put(txn, l->dbi[STORE_META], &k, &v, 0);
        } else if (mrc == 0 && (have.mv_size != v.mv_size ||
                                memcmp(have.mv_data, v.mv_data,
                                       v.mv_size) != 0)) {
            snprintf(errbuf, errlen, "store in %s has an unknown schema "
                     "version", dir);
            goto out;
        }
    }
    if (mrc == 0) {
        mrc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (mrc != 0) {
        snprintf(errbuf, errlen, "opening tables in %s: %s", dir,
                 mdb_strerror(mrc));
        goto out;
    }
    rc = AP_OK;
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc;
}

ap_err
store_open(const struct store_config *cfg, struct store **out, char *errbuf,
           size_t errlen)
{
    struct store *st = NULL;
    ap_err rc = AP_ESTORE;

    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return AP_ENOMEM;
    }
    st->engine = cfg->engine;
    st->claims.journal_fd = -1;
    pthread_mutex_init(&st->claims.lock, NULL);
    pthread_rwlock_init(&st->subs_lock, NULL);
    if (cfg->dir == NULL ||
        asprintf(&st->claims.journal_path, "%s/job-starts", cfg->dir) < 0) {
        st->claims.journal_path = NULL;
        snprintf(errbuf, errlen, cfg->dir == NULL ? "no store directory"
                                                  : "out of memory");
        goto out;
    }
    switch (cfg->engine) {
    case STORE_ENGINE_LMDB:
        rc = lmdb_open(st, cfg->dir, cfg->map_size_mb, errbuf, errlen);
        break;
    case STORE_ENGINE_POSTGRESQL:
        rc = store_pg_open(st, cfg, errbuf, errlen);
        break;
    default:
        snprintf(errbuf, errlen, "unknown store engine");
        rc = AP_EINVAL;
        break;
    }
out:
    if (rc != AP_OK) {
        store_close(st);
        st = NULL;
    }
    *out = st;
    return rc;
}

void
store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    if (st->pg != NULL) {
        store_pg_close(st);
    }
    if (st->lmdb != NULL) {
        for (size_t i = 0; i < st->lmdb->n_idle; i++) {
            mdb_txn_abort(st->lmdb->idle[i]->mdb);
            free(st->lmdb->idle[i]);
        }
        st->lmdb->n_idle = 0;
        pthread_mutex_destroy(&st->lmdb->idle_lock);
        if (st->lmdb->env != NULL) {
            mdb_env_close(st->lmdb->env);
        }
        pthread_mutex_destroy(&st->lmdb->gc.lock);
        pthread_cond_destroy(&st->lmdb->gc.work);
        pthread_cond_destroy(&st->lmdb->gc.slot);
        free(st->lmdb);
    }
    if (st->claims.journal_fd != -1) {
        close(st->claims.journal_fd);
    }
    for (size_t i = 0; i < st->claims.n; i++) {
        free(st->claims.ids[i]);
    }
    free(st->claims.ids);
    free(st->claims.journal_path);
    pthread_mutex_destroy(&st->claims.lock);
    pthread_rwlock_destroy(&st->subs_lock);
    free(st);
}

enum store_engine
store_engine_of(const struct store *st)
{
    return st->engine;
}

const char *
store_instance(const struct store *st)
{
    return st->pg != NULL ? store_pg_instance(st) : "";
}

struct store_claims *
store_claims_of(struct store *st)
{
    return &st->claims;
}

struct store *
store_txn_store(const struct store_txn *txn)
{
    return txn->st;
}

ap_err
store_on_commit(struct store *st, store_commit_fn fn, void *arg)
{
    ap_err rc = AP_OK;

    if (fn == NULL) {
        return AP_EINVAL;
    }
    pthread_rwlock_wrlock(&st->subs_lock);
    if (st->n_subs == STORE_MAX_SUBSCRIBERS) {
        rc = AP_ETOOBIG;
    } else {
        st->subs[st->n_subs].fn = fn;
        st->subs[st->n_subs].arg = arg;
        st->n_subs++;
    }
    pthread_rwlock_unlock(&st->subs_lock);
    return rc;
}

void
store_off_commit(struct store *st, store_commit_fn fn, void *arg)
{
    pthread_rwlock_wrlock(&st->subs_lock);
    for (size_t i = 0; i < st->n_subs; i++) {
        if (st->subs[i].fn == fn && st->subs[i].arg == arg) {
            memmove(&st->subs[i], &st->subs[i + 1],
                    (st->n_subs - i - 1) * sizeof(st->subs[0]));
            st->n_subs--;
            break;
        }
    }
    pthread_rwlock_unlock(&st->subs_lock);
}

void
store_notify(struct store *st, unsigned tables, bool remote)
{
    pthread_rwlock_rdlock(&st->subs_lock);
    for (size_t i = 0; i < st->n_subs; i++) {
        st->subs[i].fn(st->subs[i].arg, tables, remote);
    }
    pthread_rwlock_unlock(&st->subs_lock);
}

/* An idle read txn of st renewed (a snapshot of now), or NULL when none
 * is idle or its renewal failed (it is dropped then). */
static struct store_txn *
idle_reader_take(struct store *st)
{
    struct store_lmdb *l = st->lmdb;
    struct store_txn *t = NULL;

    pthread_mutex_lock(&l->idle_lock);
    if (l->n_idle > 0) {
        t = l->idle[--l->n_idle];
    }
    pthread_mutex_unlock(&l->idle_lock);
    if (t != NULL && mdb_txn_renew(t->mdb) != 0) {
        mdb_txn_abort(t->mdb);
        free(t);
        t = NULL;
    }
    return t;
}

/* Ends the LMDB read txn t (no longer used by anyone) and frees it, or
 * keeps it reset for idle_reader_take. One whose operation failed is not
 * kept. */
static void
reader_end(struct store_txn *t)
{
    struct store_lmdb *l = t->st->lmdb;
    bool kept = false;

    if (!t->failed) {
        mdb_txn_reset(t->mdb);
        pthread_mutex_lock(&l->idle_lock);
        if (l->n_idle < STORE_IDLE_READERS) {
            l->idle[l->n_idle++] = t;
            kept = true;
        }
        pthread_mutex_unlock(&l->idle_lock);
    }
    if (!kept) {
        mdb_txn_abort(t->mdb);
        free(t);
    }
}

ap_err
store_begin(struct store *st, bool write, struct store_txn **out)
{
    struct store_txn *t;
    ap_err rc;

    if (st->lmdb != NULL && !write) {
        t = idle_reader_take(st);
        if (t != NULL) {
            *out = t;
            return AP_OK;
        }
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return AP_ENOMEM;
    }
    t->st = st;
    t->write = write;
    if (st->pg != NULL) {
        rc = store_pg_begin(t);
    } else if (write) {
        MDB_txn *m = NULL;

        rc = store_group_begin(st, &m, &t->lead);
        t->mdb = m;
    } else {
        MDB_txn *m = NULL;

        rc = store_lmdb_rc(mdb_txn_begin(ENV(st), NULL, MDB_RDONLY, &m),
                    "txn_begin", st);
        t->mdb = m;
    }
    if (rc != AP_OK) {
        free(t);
        return rc;
    }
    *out = t;
    return AP_OK;
}

ap_err
store_commit(struct store_txn *txn)
{
    struct store *st = txn->st;
    unsigned touched = txn->write ? txn->touched : 0;
    ap_err rc;

    if (st->pg != NULL) {
        rc = store_pg_commit(txn);
    } else if (txn->write) {
        rc = store_group_commit(txn);
    } else {
        /* A read txn's commit only ends it (mdb_txn_commit of one is
         * mdb_txn_abort and returns 0). */
        reader_end(txn);
        return AP_OK;
    }
    free(txn);
    if (rc == AP_OK && touched != 0) {
        store_notify(st, touched, false);
    }
    return rc;
}

void
store_abort(struct store_txn *txn)
{
    if (txn == NULL) {
        return;
    }
    if (txn->st->pg != NULL) {
        store_pg_abort(txn);
    } else if (txn->write) {
        store_group_abort(txn);
    } else {
        reader_end(txn);
        return;
    }
    free(txn);
}

/* A key is 1..STORE_MAX_KEY bytes; PostgreSQL keeps keys as text
 * COLLATE "C", so there they are printable ASCII. */
static ap_err
make_key(const struct store_txn *txn, enum store_table t, const char *key,
         MDB_val *k)
{
    size_t n = strlen(key);

    if (n == 0 || n > STORE_MAX_KEY || (unsigned)t >= STORE__MAX) {
        return AP_EINVAL;
    }
    if (txn->st->pg != NULL) {
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)key[i] < 0x20 ||
                (unsigned char)key[i] > 0x7e) {
                return AP_EINVAL;
            }
        }
    }
    k->mv_size = n;
    k->mv_data = (void *)(uintptr_t)key;
    return AP_OK;
}

ap_err
store_get(struct store_txn *txn, enum store_table t, const char *key,
          char **val, size_t *len)
{
    MDB_val k;
    MDB_val v;
    char *copy;
    ap_err rc;

    rc = make_key(txn, t, key, &k);
    if (rc != AP_OK) {
        return rc;
    }
    if (txn->st->pg != NULL) {
        return store_pg_get(txn, t, key, val, len);
    }
    rc = txn_rc(txn, mdb_get(txn->mdb, DBI(txn, t), &k, &v), "get");
    if (rc != AP_OK) {
        return rc;
    }
    copy = malloc(v.mv_size + 1);
    if (copy == NULL) {
        return AP_ENOMEM;
    }
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size] = '\0';
    *val = copy;
    if (len != NULL) {
        *len = v.mv_size;
    }
    return AP_OK;
}

ap_err
store_put(struct store_txn *txn, enum store_table t, const char *key,
          const void *val, size_t len, bool exclusive)
{
    MDB_val k;
    MDB_val v = { len, (void *)(uintptr_t)val };
    ap_err rc;
    int mrc;

    rc = make_key(txn, t, key, &k);
    if (rc != AP_OK) {
        return rc;
    }
    if (txn->st->pg != NULL) {
        rc = store_pg_put(txn, t, key, val, len, exclusive);
        if (rc == AP_OK) {
            txn->touched |= 1u << t;
        }
        return rc;
    }
    mrc = MDB_KEYEXIST;
    if (exclusive) {
        /* A new record whose key sorts after every key of its table (a
         * new time-ordered id, common/id.h) is appended: LMDB then starts
         * a new last page instead of splitting the full one in half, so
         * pages stay full. MDB_APPEND looks only at the table's last key
         * (the hot right edge) and changes nothing when the key does not
         * sort after it (MDB_KEYEXIST); the plain put then decides. */
        mrc = mdb_put(txn->mdb, DBI(txn, t), &k, &v, MDB_APPEND);
    }
    if (mrc == MDB_KEYEXIST) {
        mrc = mdb_put(txn->mdb, DBI(txn, t), &k, &v,
                      exclusive ? MDB_NOOVERWRITE : 0);
    }
    rc = txn_rc(txn, mrc, "put");
    if (rc == AP_OK) {
        txn->touched |= 1u << t;
        txn->bytes += k.mv_size + len;
    }
    return rc;
}

ap_err
store_del(struct store_txn *txn, enum store_table t, const char *key)
{
    MDB_val k;
    ap_err rc;

    rc = make_key(txn, t, key, &k);
    if (rc != AP_OK) {
        return rc;
    }
    if (txn->st->pg != NULL) {
        return store_pg_del(txn, t, key);
    }
    return txn_rc(txn, mdb_del(txn->mdb, DBI(txn, t), &k, NULL), "del");
}

ap_err
store_scan(struct store_txn *txn, enum store_table t, const char *prefix,
           const char *after, store_scan_fn fn, void *arg)
{
    MDB_cursor *cur = NULL;
    MDB_val k;
    MDB_val v;
    size_t plen = prefix ? strlen(prefix) : 0;
    char keybuf[STORE_MAX_KEY + 1];
    ap_err rc = AP_ESTORE;
    int mrc;

    if ((unsigned)t >= STORE__MAX) {
        return AP_EINVAL;
    }
    if (txn->st->pg != NULL) {
        return store_pg_scan(txn, t, prefix, after, fn, arg);
    }
    mrc = mdb_cursor_open(txn->mdb, DBI(txn, t), &cur);
    if (mrc != 0) {
        return txn_rc(txn, mrc, "cursor_open");
    }
    /* A cursor before the prefix starts at the prefix. */
    if (after != NULL && plen > 0 && strncmp(after, prefix, plen) < 0) {
        after = NULL;
    }
    if (after != NULL && after[0] != '\0') {
        k.mv_size = strlen(after);
        k.mv_data = (void *)(uintptr_t)after;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc == 0 && k.mv_size == strlen(after) &&
            memcmp(k.mv_data, after, k.mv_size) == 0) {
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    } else if (plen > 0) {
        k.mv_size = plen;
        k.mv_data = (void *)(uintptr_t)prefix;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    } else {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    while (mrc == 0) {
        if (plen > 0 &&
            (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)) {
            break;
        }
        if (k.mv_size > STORE_MAX_KEY) {
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        memcpy(keybuf, k.mv_data, k.mv_size);
        keybuf[k.mv_size] = '\0';
        if (!fn(arg, keybuf, v.mv_data, v.mv_size)) {
            break;
        }
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = txn_rc(txn, mrc, "cursor_get");
        goto out;
    }
    rc = AP_OK;
out:
    mdb_cursor_close(cur);
    return rc;
}

ap_err
store_get_json(struct store_txn *txn, enum store_table t, const char *key,
               cJSON **out)
{
    char *val = NULL;
    size_t len = 0;
    cJSON *obj;
    ap_err rc;

    if (txn->st->pg == NULL) {
        MDB_val k;
        MDB_val v;

        /* LMDB: parsed in place, in the map (valid until the txn ends;
         * cJSON_ParseWithLength reads no further than its length), with
         * no copy to make, wipe and free. */
        rc = make_key(txn, t, key, &k);
        if (rc == AP_OK) {
            rc = txn_rc(txn, mdb_get(txn->mdb, DBI(txn, t), &k, &v), "get");
        }
        if (rc != AP_OK) {
            return rc;
        }
        obj = v.mv_size > 0 ? cJSON_ParseWithLength(v.mv_data, v.mv_size)
                            : NULL;
    } else {
        rc = store_get(txn, t, key, &val, &len);
        if (rc != AP_OK) {
            return rc;
        }
        obj = cJSON_ParseWithLength(val, len);
        /* Records may carry secrets (EAB MAC keys): no copy is freed
         * unwiped. */
        explicit_bzero(val, len);
        free(val);
    }
    if (obj == NULL || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        log_err("store", "record %s/%s is not a JSON object", table_name[t],
                key);
        return AP_ESTORE;
    }
    *out = obj;
    return AP_OK;
}

/* Prints obj into a buffer of ours, never one cJSON grows: growing frees
 * (or reallocs away) partial copies of the text, and a record may hold a
 * secret. A buffer found too small is wiped and doubled. */
static ap_err
print_record(const cJSON *obj, char **out, size_t *outlen)
{
    size_t size = 8192;

    for (;;) {
        char *text = malloc(size);

        if (text == NULL) {
            return AP_ENOMEM;
        }
        if (json_print_into(obj, text, (int)size)) {
            *out = text;
            *outlen = strlen(text);
            return AP_OK;
        }
        explicit_bzero(text, size);
        free(text);
        if (size >= STORE_MAX_RECORD) {
            return AP_ETOOBIG;
        }
        size *= 2;
    }
}

ap_err
store_put_json(struct store_txn *txn, enum store_table t, const char *key,
               const cJSON *obj, bool exclusive)
{
    char *text = NULL;
    size_t len = 0;
    ap_err rc;

    rc = print_record(obj, &text, &len);
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_put(txn, t, key, text, len, exclusive);
    explicit_bzero(text, len);
    free(text);
    return rc;
}

struct prune_ctx {
    const char *cutoff;
    char **keys;
    size_t n;
    size_t max;
    bool nomem;
};

static bool
prune_visit(void *arg, const char *key, const char *val, size_t len)
{
    struct prune_ctx *pc = arg;

    (void)val;
    (void)len;
    if (strcmp(key, pc->cutoff) >= 0 || pc->n == pc->max) {
        return false;
    }
    pc->keys[pc->n] = strdup(key);
    if (pc->keys[pc->n] == NULL) {
        pc->nomem = true;
        return false;
    }
    pc->n++;
    return true;
}

ap_err
store_prune_before(struct store_txn *txn, enum store_table t,
                   const char *prefix, const char *cutoff, size_t max,
                   size_t *n)
{
    struct prune_ctx pc = { cutoff, NULL, 0, max, false };
    ap_err rc;

    if (n != NULL) {
        *n = 0;
    }
    if (max == 0 || max > 1024 || prefix == NULL || cutoff == NULL) {
        return AP_EINVAL;
    }
    pc.keys = calloc(max, sizeof(*pc.keys));
    if (pc.keys == NULL) {
        return AP_ENOMEM;
    }
    rc = store_scan(txn, t, prefix, NULL, prune_visit, &pc);
    if (rc == AP_OK && pc.nomem) {
        rc = AP_ENOMEM;
    }
    for (size_t i = 0; rc == AP_OK && i < pc.n; i++) {
        rc = store_del(txn, t, pc.keys[i]);
        if (rc == AP_ENOTFOUND) {
            rc = AP_OK;
        }
    }
    if (rc == AP_OK && n != NULL) {
        *n = pc.n;
    }
    for (size_t i = 0; i < pc.n; i++) {
        free(pc.keys[i]);
    }
    free(pc.keys);
    return rc;
}

ap_err
store_count(struct store_txn *txn, enum store_table t, size_t *out)
{
    MDB_stat ms;
    ap_err rc;

    if ((unsigned)t >= STORE__MAX) {
        return AP_EINVAL;
    }
    if (txn->st->pg != NULL) {
        return store_pg_count(txn, t, out);
    }
    rc = txn_rc(txn, mdb_stat(txn->mdb, DBI(txn, t), &ms), "stat");
    if (rc == AP_OK) {
        *out = ms.ms_entries;
    }
    return rc;
}

ap_err
store_backup(struct store *st, const char *path, char *errbuf, size_t errlen)
{
    int fd;
    int mrc;

    if (st->pg != NULL) {
        snprintf(errbuf, errlen, "the store is PostgreSQL: back it up with "
                 "pg_dump (docs/ha.md, \"Backup and restore\")");
        return AP_EINVAL;
    }
    /* O_EXCL: a backup never overwrites a file; 0600: it holds secrets. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd == -1) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return AP_EINVAL;
    }
    mrc = mdb_env_copyfd2(ENV(st), fd, MDB_CP_COMPACT);
    if (mrc == 0 && fsync(fd) != 0) {
        mrc = errno;
    }
    if (close(fd) != 0 && mrc == 0) {
        mrc = errno;
    }
    if (mrc != 0) {
        snprintf(errbuf, errlen, "copying the store to %s: %s", path,
                 mdb_strerror(mrc));
        (void)unlink(path);
        return AP_ESTORE;
    }
    return AP_OK;
}

ap_err
store_usage(struct store *st, size_t *map_bytes, size_t *used_bytes)
{
    MDB_envinfo info;
    MDB_stat ms;
    ap_err rc;

    if (st->pg != NULL) {
        *map_bytes = 0;
        return store_pg_usage(st, used_bytes);
    }
    rc = store_lmdb_rc(mdb_env_info(ENV(st), &info), "env_info", st);
    if (rc == AP_OK) {
        rc = store_lmdb_rc(mdb_env_stat(ENV(st), &ms), "env_stat", st);
    }
    if (rc == AP_OK) {
        *map_bytes = info.me_mapsize;
        *used_bytes = ((size_t)info.me_last_pgno + 1) * ms.ms_psize;
    }
    return rc;
}

/* ---- the copy between stores (acmeproxy migrate --from-lmdb) ---- */

struct copy_ctx {
    struct store_txn *to;
    enum store_table t;
    size_t n;
    ap_err rc;
};

static bool
copy_fn(void *arg, const char *key, const char *val, size_t len)
{
    struct copy_ctx *c = arg;

    c->rc = store_put(c->to, c->t, key, val, len, true);
    if (c->rc != AP_OK) {
        log_err("store", "copying %s/%s: %s", table_name[c->t], key,
                ap_strerror(c->rc));
        return false;
    }
    c->n++;
    return true;
}

ap_err
store_copy(struct store *from, struct store *to, size_t counts[STORE__MAX],
           char *errbuf, size_t errlen)
{
    struct store_txn *rt = NULL;
    struct store_txn *wt = NULL;
    struct copy_ctx c;
    ap_err rc;

    rc = store_begin(to, true, &wt);
    if (rc == AP_OK) {
        rc = store_begin(from, false, &rt);
    }
    if (rc != AP_OK) {
        snprintf(errbuf, errlen, "cannot begin the copy: %s",
                 ap_strerror(rc));
        goto out;
    }
    for (int t = 0; t < STORE__MAX; t++) {
        size_t n = 0;

        rc = store_count(wt, (enum store_table)t, &n);
        if (rc == AP_OK && n != 0) {
            snprintf(errbuf, errlen, "the target store is not empty "
                     "(table %s has %zu records)", table_name[t], n);
            rc = AP_EEXIST;
        }
        if (rc != AP_OK) {
            goto out;
        }
    }
    for (int t = 0; t < STORE__MAX; t++) {
        memset(&c, 0, sizeof(c));
        c.to = wt;
        c.t = (enum store_table)t;
        rc = store_scan(rt, c.t, NULL, NULL, copy_fn, &c);
        if (rc == AP_OK) {
            rc = c.rc;
        }
        if (rc != AP_OK) {
            snprintf(errbuf, errlen, "copying table %s: %s", table_name[t],
                     ap_strerror(rc));
            goto out;
        }
        if (counts != NULL) {
            counts[t] = c.n;
        }
    }
    store_abort(rt);
    rt = NULL;
    rc = store_commit(wt);
    wt = NULL;
    if (rc != AP_OK) {
        snprintf(errbuf, errlen, "committing the copy: %s", ap_strerror(rc));
    }
out:
    store_abort(rt);
    store_abort(wt);
    return rc;
}

ap_err
store_migrate(const struct store_config *cfg, int *from, int *to,
              char *errbuf, size_t errlen)
{
    const char *const *steps;
    size_t n = 0;

    if (cfg->engine != STORE_ENGINE_POSTGRESQL) {
        snprintf(errbuf, errlen, "the LMDB store needs no migrate: its "
                 "schema is made when it is opened");
        return AP_EINVAL;
    }
    steps = store_pg_schema_steps(&n);
    return store_pg_migrate_steps(cfg, steps, n, from, to, errbuf, errlen);
}
