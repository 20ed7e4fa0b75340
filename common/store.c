/* common/store.c: the LMDB environment behind store.h.
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
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/log.h"

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
    /* Job claims of this process (the LMDB engine serves one process per
     * data directory) and the journal of their starts and ends. */
    pthread_mutex_t claim_lock;
    char **claims;
    size_t n_claims;
    size_t cap_claims;
    int journal_fd;
    char *journal_path;
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
    st->journal_fd = -1;
    pthread_mutex_init(&st->claim_lock, NULL);
    if (asprintf(&st->journal_path, "%s/job-starts", dir) < 0) {
        st->journal_path = NULL;
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
    if (st->journal_fd != -1) {
        close(st->journal_fd);
    }
    for (size_t i = 0; i < st->n_claims; i++) {
        free(st->claims[i]);
    }
    free(st->claims);
    free(st->journal_path);
    pthread_mutex_destroy(&st->claim_lock);
    free(st);
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

/* ---- jobs ------------------------------------------------------------- */

#define JOB_DUE_DIGITS 15
#define JOURNAL_MAX (1024 * 1024)   /* then rewritten with the live claims */
#define JOURNAL_READ_MAX (64 * 1024 * 1024)

/* The queue of a job id: the 1..STORE_JOB_MAX_QUEUE characters before
 * its first ':'. */
static ap_err
job_queue(const char *id, char *q, size_t qlen)
{
    const char *colon = strchr(id, ':');
    size_t n = colon != NULL ? (size_t)(colon - id) : 0;

    if (n == 0 || n > STORE_JOB_MAX_QUEUE || n >= qlen || colon[1] == '\0' ||
        memchr(id, '/', n) != NULL || strchr(id, '\n') != NULL) {
        return AP_EINVAL;
    }
    memcpy(q, id, n);
    q[n] = '\0';
    return AP_OK;
}

/* "<queue>/<due, zero-padded>/<id>": byte order is due order. */
static ap_err
due_key(char *out, size_t len, const char *q, long long due_ms,
        const char *id)
{
    int n;

    if (due_ms < 0) {
        due_ms = 0;
    }
    n = snprintf(out, len, "%s/%0*lld/%s", q, JOB_DUE_DIGITS, due_ms, id);
    return n > 0 && (size_t)n < len && n <= STORE_MAX_KEY ? AP_OK
                                                          : AP_EINVAL;
}

static ap_err
job_set_num(cJSON *rec, const char *name, double v)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, name);

    if (it == NULL) {
        return cJSON_AddNumberToObject(rec, name, v) != NULL ? AP_OK
                                                             : AP_ENOMEM;
    }
    if (!cJSON_IsNumber(it)) {
        return cJSON_ReplaceItemInObjectCaseSensitive(
                   rec, name, cJSON_CreateNumber(v))
                   ? AP_OK
                   : AP_ENOMEM;
    }
    cJSON_SetNumberValue(it, v);
    return AP_OK;
}

static long long
job_num(const cJSON *rec, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, name);

    return cJSON_IsNumber(it) ? (long long)it->valuedouble : 0;
}

/* Takes a job out of the due order. */
static ap_err
job_unindex(struct store_txn *txn, const char *q, const char *id,
            const cJSON *rec)
{
    char key[STORE_MAX_KEY + 1];
    ap_err rc;

    rc = due_key(key, sizeof(key), q, job_num(rec, "dueMs"), id);
    if (rc == AP_OK) {
        rc = store_del(txn, STORE_JOBS_DUE, key);
    }
    return rc == AP_ENOTFOUND ? AP_OK : rc;
}

/* Writes rec (with its dueMs) and its due entry. */
static ap_err
job_index(struct store_txn *txn, const char *q, const char *id,
          const cJSON *rec)
{
    char key[STORE_MAX_KEY + 1];
    ap_err rc;

    rc = due_key(key, sizeof(key), q, job_num(rec, "dueMs"), id);
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_JOBS, id, rec, false);
    }
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_JOBS_DUE, key, "", 0, false);
    }
    return rc;
}

ap_err
store_job_put(struct store_txn *txn, const char *id, long long due_ms,
              const cJSON *rec)
{
    static const char *const owned[] = { "dueMs", "starts", "faults",
                                         "releases", "leased" };
    char q[STORE_JOB_MAX_QUEUE + 1];
    cJSON *old = NULL;
    cJSON *copy = NULL;
    ap_err rc;

    rc = job_queue(id, q, sizeof(q));
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_get_json(txn, STORE_JOBS, id, &old);
    if (rc == AP_OK) {
        rc = job_unindex(txn, q, id, old);
    } else if (rc == AP_ENOTFOUND) {
        rc = AP_OK;
    }
    if (rc != AP_OK) {
        goto out;
    }
    copy = rec != NULL ? cJSON_Duplicate(rec, 1) : cJSON_CreateObject();
    if (copy == NULL || !cJSON_IsObject(copy)) {
        rc = copy == NULL ? AP_ENOMEM : AP_EINVAL;
        goto out;
    }
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(copy, owned[i]);
    }
    rc = job_set_num(copy, "dueMs", (double)due_ms);
    if (rc == AP_OK) {
        rc = job_set_num(copy, "starts", 0);
    }
    if (rc == AP_OK) {
        rc = job_set_num(copy, "faults", 0);
    }
    if (rc == AP_OK) {
        rc = job_index(txn, q, id, copy);
    }
out:
    cJSON_Delete(old);
    cJSON_Delete(copy);
    return rc;
}

ap_err
store_job_del(struct store_txn *txn, const char *id)
{
    char q[STORE_JOB_MAX_QUEUE + 1];
    cJSON *old = NULL;
    ap_err rc;

    rc = job_queue(id, q, sizeof(q));
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_get_json(txn, STORE_JOBS, id, &old);
    if (rc == AP_OK) {
        rc = job_unindex(txn, q, id, old);
    }
    if (rc == AP_OK) {
        rc = store_del(txn, STORE_JOBS, id);
    }
    cJSON_Delete(old);
    return rc;
}

/* ---- claims (in memory) and their journal ---- */

static bool
claimed_locked(const struct store *st, const char *id)
{
    for (size_t i = 0; i < st->n_claims; i++) {
        if (strcmp(st->claims[i], id) == 0) {
            return true;
        }
    }
    return false;
}

static bool
claimed(struct store *st, const char *id)
{
    bool c;

    pthread_mutex_lock(&st->claim_lock);
    c = claimed_locked(st, id);
    pthread_mutex_unlock(&st->claim_lock);
    return c;
}

static void
journal_open_locked(struct store *st)
{
    if (st->journal_fd == -1 && st->journal_path != NULL) {
        st->journal_fd = open(st->journal_path,
                              O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
                                  O_NOFOLLOW,
                              0600);
        if (st->journal_fd == -1) {
            log_err("store", "%s: %s: starts of jobs are not on record",
                    st->journal_path, strerror(errno));
        }
    }
}

/* Appends "<mark> <id>\n" (S: a start, E: an end). Not synced: it is
 * there for the next start after the death of this process. */
static void
journal_note_locked(struct store *st, char mark, const char *id)
{
    char line[STORE_MAX_KEY + 4];
    int n;

    journal_open_locked(st);
    if (st->journal_fd == -1) {
        return;
    }
    n = snprintf(line, sizeof(line), "%c %s\n", mark, id);
    if (n > 0 && (size_t)n < sizeof(line) &&
        write(st->journal_fd, line, (size_t)n) != n) {
        log_err("store", "%s: %s", st->journal_path, strerror(errno));
    }
}

/* Rewrites a journal grown past JOURNAL_MAX with the live claims only. */
static void
journal_compact_locked(struct store *st)
{
    struct stat sb;
    char *tmp = NULL;
    int fd;

    if (st->journal_fd == -1 || fstat(st->journal_fd, &sb) != 0 ||
        sb.st_size < JOURNAL_MAX ||
        asprintf(&tmp, "%s.tmp", st->journal_path) < 0) {
        return;
    }
    fd = open(tmp, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC |
                       O_NOFOLLOW,
              0600);
    if (fd != -1) {
        int old = st->journal_fd;

        st->journal_fd = fd;
        for (size_t i = 0; i < st->n_claims; i++) {
            journal_note_locked(st, 'S', st->claims[i]);
        }
        if (rename(tmp, st->journal_path) == 0) {
            close(old);
        } else {
            close(fd);
            st->journal_fd = old;
        }
    }
    free(tmp);
}

struct claim_scan {
    struct store *st;
    size_t prefix_len;
    long long now_ms;
    char id[STORE_MAX_KEY + 1];
    long long next_ms;
    bool found;
    bool bad;
};

static bool
claim_scan_fn(void *arg, const char *key, const char *val, size_t len)
{
    struct claim_scan *cs = arg;
    char *end = NULL;
    long long due = strtoll(key + cs->prefix_len, &end, 10);
    const char *id;

    (void)val;
    (void)len;
    if (end == NULL || *end != '/' || end[1] == '\0') {
        cs->bad = true;
        return true;
    }
    id = end + 1;
    pthread_mutex_lock(&cs->st->claim_lock);
    if (claimed_locked(cs->st, id)) {
        pthread_mutex_unlock(&cs->st->claim_lock);
        return true;        /* being run: the next one */
    }
    if (due > cs->now_ms) {
        pthread_mutex_unlock(&cs->st->claim_lock);
        cs->next_ms = due;
        return false;
    }
    /* Taken now, under the lock: no other worker takes it. */
    if (cs->st->n_claims == cs->st->cap_claims) {
        size_t cap = cs->st->cap_claims == 0 ? 32 : cs->st->cap_claims * 2;
        char **c = realloc(cs->st->claims, cap * sizeof(*c));

        if (c == NULL) {
            pthread_mutex_unlock(&cs->st->claim_lock);
            return false;
        }
        cs->st->claims = c;
        cs->st->cap_claims = cap;
    }
    cs->st->claims[cs->st->n_claims] = strdup(id);
    if (cs->st->claims[cs->st->n_claims] == NULL) {
        pthread_mutex_unlock(&cs->st->claim_lock);
        return false;
    }
    cs->st->n_claims++;
    journal_note_locked(cs->st, 'S', id);
    pthread_mutex_unlock(&cs->st->claim_lock);
    (void)snprintf(cs->id, sizeof(cs->id), "%s", id);
    cs->found = true;
    return false;
}

ap_err
store_job_claim(struct store *st, const char *queue, long long now_ms,
                char *id, size_t idlen, cJSON **rec, long long *next_ms)
{
    struct store_txn *txn = NULL;
    char prefix[STORE_JOB_MAX_QUEUE + 2];
    struct claim_scan cs;
    cJSON *r = NULL;
    ap_err rc;

    memset(&cs, 0, sizeof(cs));
    cs.st = st;
    cs.now_ms = now_ms;
    (void)snprintf(prefix, sizeof(prefix), "%s/", queue);
    cs.prefix_len = strlen(prefix);
    if (next_ms != NULL) {
        *next_ms = 0;
    }
    rc = store_begin(st, false, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_scan(txn, STORE_JOBS_DUE, prefix, NULL, claim_scan_fn, &cs);
    if (rc == AP_OK && !cs.found) {
        if (next_ms != NULL) {
            *next_ms = cs.next_ms;
        }
        rc = AP_ENOTFOUND;
    }
    if (rc == AP_OK && strlen(cs.id) >= idlen) {
        rc = AP_EINVAL;
    }
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_JOBS, cs.id, &r);
    }
    if (rc == AP_OK) {
        rc = job_set_num(r, "starts", (double)(job_num(r, "starts") + 1));
    }
    store_abort(txn);
    if (cs.found && rc != AP_OK) {
        store_job_unclaim(st, cs.id);
        cJSON_Delete(r);
        if (rc == AP_ENOTFOUND) {
            log_err("store", "job due entry %s has no record", cs.id);
            rc = AP_ESTORE;
        }
        return rc;
    }
    if (rc == AP_OK) {
        (void)snprintf(id, idlen, "%s", cs.id);
        *rec = r;
    }
    return rc;
}

void
store_job_unclaim(struct store *st, const char *id)
{
    pthread_mutex_lock(&st->claim_lock);
    for (size_t i = 0; i < st->n_claims; i++) {
        if (strcmp(st->claims[i], id) == 0) {
            free(st->claims[i]);
            st->claims[i] = st->claims[--st->n_claims];
            journal_note_locked(st, 'E', id);
            journal_compact_locked(st);
            break;
        }
    }
    pthread_mutex_unlock(&st->claim_lock);
}

ap_err
store_job_release(struct store_txn *txn, const char *id, long long due_ms,
                  bool ran)
{
    char q[STORE_JOB_MAX_QUEUE + 1];
    cJSON *r = NULL;
    ap_err rc;

    rc = job_queue(id, q, sizeof(q));
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_get_json(txn, STORE_JOBS, id, &r);
    if (rc == AP_OK) {
        rc = job_unindex(txn, q, id, r);
    }
    if (rc == AP_OK) {
        rc = job_set_num(r, "dueMs", (double)due_ms);
    }
    if (rc == AP_OK && ran) {
        rc = job_set_num(r, "releases",
                         (double)(job_num(r, "releases") + 1));
    }
    if (rc == AP_OK) {
        rc = job_index(txn, q, id, r);
    }
    cJSON_Delete(r);
    return rc;
}

ap_err
store_job_advance(struct store_txn *txn, const char *id, long long due_ms)
{
    char q[STORE_JOB_MAX_QUEUE + 1];
    cJSON *r = NULL;
    ap_err rc;

    rc = job_queue(id, q, sizeof(q));
    if (rc != AP_OK) {
        return rc;
    }
    if (claimed(txn->st, id)) {
        return AP_ENOTFOUND;
    }
    rc = store_get_json(txn, STORE_JOBS, id, &r);
    if (rc != AP_OK) {
        return rc;
    }
    if (job_num(r, "dueMs") > due_ms) {
        rc = job_unindex(txn, q, id, r);
        if (rc == AP_OK) {
            rc = job_set_num(r, "dueMs", (double)due_ms);
        }
        if (rc == AP_OK) {
            rc = job_index(txn, q, id, r);
        }
    }
    cJSON_Delete(r);
    return rc;
}

ap_err
store_job_fault(struct store_txn *txn, const char *id)
{
    cJSON *r = NULL;
    ap_err rc;

    rc = store_get_json(txn, STORE_JOBS, id, &r);
    if (rc == AP_OK) {
        rc = job_set_num(r, "faults", (double)(job_num(r, "faults") + 1));
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_JOBS, id, r, false);
    }
    cJSON_Delete(r);
    return rc;
}

struct first_key {
    char key[STORE_MAX_KEY + 1];
    bool found;
};

static bool
first_key_fn(void *arg, const char *key, const char *val, size_t len)
{
    struct first_key *f = arg;

    (void)val;
    (void)len;
    (void)snprintf(f->key, sizeof(f->key), "%s", key);
    f->found = true;
    return false;
}

ap_err
store_job_next_due(struct store_txn *txn, const char *queue,
                   long long *due_ms)
{
    char prefix[STORE_JOB_MAX_QUEUE + 2];
    struct first_key f;
    ap_err rc;

    f.found = false;
    (void)snprintf(prefix, sizeof(prefix), "%s/", queue);
    rc = store_scan(txn, STORE_JOBS_DUE, prefix, NULL, first_key_fn, &f);
    if (rc != AP_OK) {
        return rc;
    }
    if (!f.found) {
        return AP_ENOTFOUND;
    }
    *due_ms = strtoll(f.key + strlen(prefix), NULL, 10);
    return AP_OK;
}

struct job_scan {
    struct store_txn *txn;
    size_t prefix_len;
    store_scan_fn fn;
    void *arg;
    ap_err rc;
};

static bool
job_scan_fn(void *arg, const char *key, const char *val, size_t len)
{
    struct job_scan *js = arg;
    const char *id = strchr(key + js->prefix_len, '/');
    char *text = NULL;
    size_t tlen = 0;
    bool go_on;

    (void)val;
    (void)len;
    if (id == NULL) {
        return true;
    }
    js->rc = store_get(js->txn, STORE_JOBS, id + 1, &text, &tlen);
    if (js->rc == AP_ENOTFOUND) {
        js->rc = AP_OK;
        return true;
    }
    if (js->rc != AP_OK) {
        return false;
    }
    go_on = js->fn(js->arg, id + 1, text, tlen);
    free(text);
    return go_on;
}

ap_err
store_job_scan(struct store_txn *txn, const char *queue, store_scan_fn fn,
               void *arg)
{
    char prefix[STORE_JOB_MAX_QUEUE + 2];
    struct job_scan js;
    ap_err rc;

    (void)snprintf(prefix, sizeof(prefix), "%s/", queue);
    js.txn = txn;
    js.prefix_len = strlen(prefix);
    js.fn = fn;
    js.arg = arg;
    js.rc = AP_OK;
    rc = store_scan(txn, STORE_JOBS_DUE, prefix, NULL, job_scan_fn, &js);
    return rc != AP_OK ? rc : js.rc;
}

/* Job ids collected by a scan, so the table can change afterwards. */
struct id_list {
    char **ids;
    size_t n;
    size_t cap;
    ap_err rc;
};

static bool
id_list_add(void *arg, const char *key, const char *val, size_t len)
{
    struct id_list *l = arg;

    (void)val;
    (void)len;
    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 64 : l->cap * 2;
        char **ids = realloc(l->ids, cap * sizeof(*ids));

        if (ids == NULL) {
            l->rc = AP_ENOMEM;
            return false;
        }
        l->ids = ids;
        l->cap = cap;
    }
    l->ids[l->n] = strdup(key);
    if (l->ids[l->n] == NULL) {
        l->rc = AP_ENOMEM;
        return false;
    }
    l->n++;
    return true;
}

static void
id_list_fini(struct id_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->ids[i]);
    }
    free(l->ids);
    memset(l, 0, sizeof(*l));
}

/* Builds the due order of job records that have none (written by a
 * version without it): "due" in seconds becomes "dueMs". */
static ap_err
job_reindex(struct store_txn *txn, long long now_ms, size_t *n)
{
    struct id_list l;
    size_t due_n = 0;
    size_t jobs_n = 0;
    ap_err rc;

    memset(&l, 0, sizeof(l));
    rc = store_count(txn, STORE_JOBS_DUE, &due_n);
    if (rc == AP_OK) {
        rc = store_count(txn, STORE_JOBS, &jobs_n);
    }
    if (rc != AP_OK || due_n != 0 || jobs_n == 0) {
        return rc;
    }
    rc = store_scan(txn, STORE_JOBS, NULL, NULL, id_list_add, &l);
    if (rc == AP_OK) {
        rc = l.rc;
    }
    for (size_t i = 0; rc == AP_OK && i < l.n; i++) {
        char q[STORE_JOB_MAX_QUEUE + 1];
        cJSON *r = NULL;
        long long due;

        if (job_queue(l.ids[i], q, sizeof(q)) != AP_OK ||
            store_get_json(txn, STORE_JOBS, l.ids[i], &r) != AP_OK) {
            log_err("store", "job %s is malformed: dropped", l.ids[i]);
            rc = store_del(txn, STORE_JOBS, l.ids[i]);
            continue;
        }
        due = cJSON_GetObjectItemCaseSensitive(r, "dueMs") != NULL
                  ? job_num(r, "dueMs")
              : job_num(r, "due") > 0 ? job_num(r, "due") * 1000
                                      : now_ms;
        cJSON_DeleteItemFromObjectCaseSensitive(r, "due");
        rc = job_set_num(r, "dueMs", (double)due);
        if (rc == AP_OK) {
            rc = job_index(txn, q, l.ids[i], r);
        }
        cJSON_Delete(r);
        (*n)++;
    }
    id_list_fini(&l);
    return rc;
}

/* The ids the journal has a start of and no end after it. */
static ap_err
journal_open_starts(struct store *st, struct id_list *open_ids)
{
    struct stat sb;
    char *text = NULL;
    char *save = NULL;
    ssize_t got;

    journal_open_locked(st);
    if (st->journal_fd == -1 || fstat(st->journal_fd, &sb) != 0 ||
        sb.st_size == 0) {
        return AP_OK;
    }
    if (sb.st_size > JOURNAL_READ_MAX) {
        log_err("store", "%s is %lld bytes: not read", st->journal_path,
                (long long)sb.st_size);
        return AP_OK;
    }
    text = malloc((size_t)sb.st_size + 1);
    if (text == NULL) {
        return AP_ENOMEM;
    }
    got = pread(st->journal_fd, text, (size_t)sb.st_size, 0);
    text[got > 0 ? got : 0] = '\0';
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        const char *id = line + 2;

        if ((line[0] != 'S' && line[0] != 'E') || line[1] != ' ' ||
            id[0] == '\0') {
            continue;       /* a line cut short by the death */
        }
        if (line[0] == 'S') {
            (void)id_list_add(open_ids, id, NULL, 0);
            continue;
        }
        for (size_t i = open_ids->n; i > 0; i--) {
            if (strcmp(open_ids->ids[i - 1], id) == 0) {
                free(open_ids->ids[i - 1]);
                open_ids->ids[i - 1] = open_ids->ids[--open_ids->n];
                break;
            }
        }
    }
    free(text);
    return open_ids->rc;
}

ap_err
store_job_recover(struct store_txn *txn, long long now_ms, size_t *n)
{
    struct store *st = txn->st;
    struct id_list l;
    size_t reindexed = 0;
    ap_err rc;

    *n = 0;
    memset(&l, 0, sizeof(l));
    rc = job_reindex(txn, now_ms, &reindexed);
    if (rc != AP_OK) {
        return rc;
    }
    if (reindexed > 0) {
        log_info("store", "built the due order of %zu jobs", reindexed);
    }
    pthread_mutex_lock(&st->claim_lock);
    rc = journal_open_starts(st, &l);
    for (size_t i = 0; rc == AP_OK && i < l.n; i++) {
        char q[STORE_JOB_MAX_QUEUE + 1];
        cJSON *r = NULL;

        if (job_queue(l.ids[i], q, sizeof(q)) != AP_OK ||
            store_get_json(txn, STORE_JOBS, l.ids[i], &r) != AP_OK) {
            continue;   /* ended meanwhile, or gone */
        }
        rc = job_unindex(txn, q, l.ids[i], r);
        if (rc == AP_OK) {
            rc = job_set_num(r, "starts", (double)(job_num(r, "starts") + 1));
        }
        if (rc == AP_OK) {
            rc = job_set_num(r, "dueMs", (double)now_ms);
        }
        if (rc == AP_OK) {
            rc = job_index(txn, q, l.ids[i], r);
        }
        cJSON_Delete(r);
        (*n)++;
    }
    /* The journal starts again. (A crash before this transaction commits
     * loses these counts; the next death of the process counts anew.) */
    if (rc == AP_OK && st->journal_fd != -1 &&
        ftruncate(st->journal_fd, 0) != 0) {
        log_err("store", "%s: %s", st->journal_path, strerror(errno));
    }
    pthread_mutex_unlock(&st->claim_lock);
    id_list_fini(&l);
    return rc;
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
