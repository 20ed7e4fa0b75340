/* common/store.c: the LMDB environment behind store.h: open, close,
 * transactions, records, scans, counts and backups. The job queues are
 * common/store_jobs.c, built on these.
 *
 * This is the only file that includes lmdb.h; no MDB_val escapes it. The
 * environment uses MDB_NOTLS so read transactions are not tied to a
 * thread's slot (civetweb and the workers are thread pools) and default
 * durability: every commit is synced before it returns. */
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

#include "common/log.h"
#include "common/store_int.h"

#define STORE_SCHEMA "1"

static const char *const table_name[] = {
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

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE__MAX];
    size_t map_size_mb;
    store_commit_fn on_commit;
    void *on_commit_arg;
    /* Job claims of this process and their journal (store_int.h). */
    struct store_claims claims;
};

struct store_txn {
    struct store *st;
    MDB_txn *txn;
    bool write;
    unsigned touched;   /* tables put into (1u << table) */
};

static ap_err
map_rc(int rc, const char *what, const struct store *st)
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
                mdb_strerror(rc), st ? st->map_size_mb : 0);
    } else {
        log_err("store", "%s: %s", what, mdb_strerror(rc));
    }
    return AP_ESTORE;
}

ap_err
store_open(const char *dir, size_t map_size_mb, struct store **out,
           char *errbuf, size_t errlen)
{
    struct store *st = NULL;
    MDB_txn *txn = NULL;
    ap_err rc = AP_ESTORE;
    int mrc;

    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return AP_ENOMEM;
    }
    st->map_size_mb = map_size_mb;
    st->claims.journal_fd = -1;
    pthread_mutex_init(&st->claims.lock, NULL);
    if (asprintf(&st->claims.journal_path, "%s/job-starts", dir) < 0) {
        st->claims.journal_path = NULL;
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    mrc = mdb_env_create(&st->env);
    if (mrc != 0) {
        snprintf(errbuf, errlen, "mdb_env_create: %s", mdb_strerror(mrc));
        goto out;
    }
    mrc = mdb_env_set_maxdbs(st->env, STORE__MAX);
    if (mrc == 0) {
        mrc = mdb_env_set_mapsize(st->env, map_size_mb * 1024 * 1024);
    }
    if (mrc == 0) {
        mrc = mdb_env_set_maxreaders(st->env, 512);
    }
    if (mrc == 0) {
        /* MDB_NORDAHEAD: random reads of a large store would otherwise
         * pull whole read-ahead windows into memory. */
        mrc = mdb_env_open(st->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600);
    }
    if (mrc != 0) {
        snprintf(errbuf, errlen, "opening the store in %s: %s", dir,
                 mdb_strerror(mrc));
        goto out;
    }
    /* A reader that died with a crash leaves its slot; clear such slots. */
    (void)mdb_reader_check(st->env, NULL);
    mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
    for (int i = 0; mrc == 0 && i < STORE__MAX; i++) {
        mrc = mdb_dbi_open(txn, table_name[i], MDB_CREATE, &st->dbi[i]);
    }
    if (mrc == 0) {
        MDB_val k = { strlen("schema"), (void *)"schema" };
        MDB_val v = { strlen(STORE_SCHEMA), (void *)STORE_SCHEMA };
        MDB_val have;

        mrc = mdb_get(txn, st->dbi[STORE_META], &k, &have);
        if (mrc == MDB_NOTFOUND) {
            mrc = mdb_put(txn, st->dbi[STORE_META], &k, &v, 0);
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
    if (st->env != NULL) {
        mdb_env_close(st->env);
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
    free(st);
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

void
store_on_commit(struct store *st, store_commit_fn fn, void *arg)
{
    st->on_commit = fn;
    st->on_commit_arg = arg;
}

ap_err
store_begin(struct store *st, bool write, struct store_txn **out)
{
    struct store_txn *t;
    int mrc;

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return AP_ENOMEM;
    }
    mrc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (mrc != 0) {
        free(t);
        return map_rc(mrc, "txn_begin", st);
    }
    t->st = st;
    t->write = write;
    *out = t;
    return AP_OK;
}

ap_err
store_commit(struct store_txn *txn)
{
    struct store *st = txn->st;
    unsigned touched = txn->write ? txn->touched : 0;
    int mrc = mdb_txn_commit(txn->txn);
    ap_err rc = map_rc(mrc, "commit", st);

    free(txn);
    if (rc == AP_OK && touched != 0 && st->on_commit != NULL) {
        st->on_commit(st->on_commit_arg, touched);
    }
    return rc;
}

void
store_abort(struct store_txn *txn)
{
    if (txn == NULL) {
        return;
    }
    mdb_txn_abort(txn->txn);
    free(txn);
}

static ap_err
make_key(const char *key, MDB_val *k)
{
    size_t n = strlen(key);

    if (n == 0 || n > STORE_MAX_KEY) {
        return AP_EINVAL;
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

    rc = make_key(key, &k);
    if (rc != AP_OK) {
        return rc;
    }
    rc = map_rc(mdb_get(txn->txn, txn->st->dbi[t], &k, &v), "get", txn->st);
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

    rc = make_key(key, &k);
    if (rc != AP_OK) {
        return rc;
    }
    rc = map_rc(mdb_put(txn->txn, txn->st->dbi[t], &k, &v,
                        exclusive ? MDB_NOOVERWRITE : 0),
                "put", txn->st);
    if (rc == AP_OK) {
        txn->touched |= 1u << t;
    }
    return rc;
}

ap_err
store_del(struct store_txn *txn, enum store_table t, const char *key)
{
    MDB_val k;
    ap_err rc;

    rc = make_key(key, &k);
    if (rc != AP_OK) {
        return rc;
    }
    return map_rc(mdb_del(txn->txn, txn->st->dbi[t], &k, NULL), "del",
                  txn->st);
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

    mrc = mdb_cursor_open(txn->txn, txn->st->dbi[t], &cur);
    if (mrc != 0) {
        return map_rc(mrc, "cursor_open", txn->st);
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
        rc = map_rc(mrc, "cursor_get", txn->st);
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

    rc = store_get(txn, t, key, &val, &len);
    if (rc != AP_OK) {
        return rc;
    }
    obj = cJSON_ParseWithLength(val, len);
    /* Records may carry secrets (EAB MAC keys): no copy is freed unwiped. */
    explicit_bzero(val, len);
    free(val);
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
        if (cJSON_PrintPreallocated((cJSON *)(uintptr_t)obj, text, (int)size,
                                    false)) {
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

ap_err
store_count(struct store_txn *txn, enum store_table t, size_t *out)
{
    MDB_stat ms;
    ap_err rc;

    rc = map_rc(mdb_stat(txn->txn, txn->st->dbi[t], &ms), "stat", txn->st);
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

    /* O_EXCL: a backup never overwrites a file; 0600: it holds secrets. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd == -1) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return AP_EINVAL;
    }
    mrc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
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

    rc = map_rc(mdb_env_info(st->env, &info), "env_info", st);
    if (rc == AP_OK) {
        rc = map_rc(mdb_env_stat(st->env, &ms), "env_stat", st);
    }
    if (rc == AP_OK) {
        *map_bytes = info.me_mapsize;
        *used_bytes = ((size_t)info.me_last_pgno + 1) * ms.ms_psize;
    }
    return rc;
}
