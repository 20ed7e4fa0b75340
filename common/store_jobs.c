/* common/store_jobs.c: the job queues of store.h (due order, claims and
 * their journal), on top of store.h's records and scans: this file never
 * sees LMDB or libpq. With LMDB the claims of a store and the journal's
 * descriptor live in the struct store (common/store_int.h); with
 * PostgreSQL the claims are on the job rows (store_pg_job_*). */
#include "common/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/store_int.h"

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
claimed_locked(const struct store_claims *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->ids[i], id) == 0) {
            return true;
        }
    }
    return false;
}

static bool
claimed(struct store_claims *c, const char *id)
{
    bool yes;

    pthread_mutex_lock(&c->lock);
    yes = claimed_locked(c, id);
    pthread_mutex_unlock(&c->lock);
    return yes;
}

static void
journal_open_locked(struct store_claims *c)
{
    if (c->journal_fd == -1 && c->journal_path != NULL) {
        c->journal_fd = open(c->journal_path,
                              O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
                                  O_NOFOLLOW,
                              0600);
        if (c->journal_fd == -1) {
            log_err("store", "%s: %s: starts of jobs are not on record",
                    c->journal_path, strerror(errno));
        }
        c->journal_len = -1; /* what was there: fstat at the next look */
    }
}

/* Appends "<mark> <id>\n" (S: a start, E: an end). Not synced: it is
 * there for the next start after the death of this process. Counts the
 * bytes in journal_len, so that journal_compact_locked needs no fstat per
 * job (issue 18). */
static void
journal_note_locked(struct store_claims *c, char mark, const char *id)
{
    char line[STORE_MAX_KEY + 4];
    int n;

    journal_open_locked(c);
    if (c->journal_fd == -1) {
        return;
    }
    n = snprintf(line, sizeof(line), "%c %s\n", mark, id);
    if (n <= 0 || (size_t)n >= sizeof(line)) {
        return;
    }
    if (write(c->journal_fd, line, (size_t)n) != n) {
        log_err("store", "%s: %s", c->journal_path, strerror(errno));
        c->journal_len = -1; /* a part may have been written */
    } else if (c->journal_len >= 0) {
        c->journal_len += n;
    }
}

/* Rewrites a journal grown past JOURNAL_MAX with the live claims only.
 * Its size is journal_len, or fstat's when that is not known. */
static void
journal_compact_locked(struct store_claims *c)
{
    struct stat sb;
    char *tmp = NULL;
    int fd;

    if (c->journal_fd == -1) {
        return;
    }
    if (c->journal_len < 0) {
        if (fstat(c->journal_fd, &sb) != 0) {
            return;
        }
        c->journal_len = (long long)sb.st_size;
    }
    if (c->journal_len < JOURNAL_MAX ||
        asprintf(&tmp, "%s.tmp", c->journal_path) < 0) {
        return;
    }
    fd = open(tmp, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC |
                       O_NOFOLLOW,
              0600);
    if (fd != -1) {
        int old = c->journal_fd;
        long long old_len = c->journal_len;

        c->journal_fd = fd;
        c->journal_len = 0;
        for (size_t i = 0; i < c->n; i++) {
            journal_note_locked(c, 'S', c->ids[i]);
        }
        if (rename(tmp, c->journal_path) == 0) {
            close(old);
        } else {
            close(fd);
            c->journal_fd = old;
            c->journal_len = old_len;
        }
    }
    free(tmp);
}

/* Notes the claim of id, not claimed (under c->lock): false when out of
 * memory. */
static bool
take_locked(struct store_claims *c, const char *id)
{
    if (c->n == c->cap) {
        size_t cap = c->cap == 0 ? 32 : c->cap * 2;
        char **ids = realloc(c->ids, cap * sizeof(*ids));

        if (ids == NULL) {
            return false;
        }
        c->ids = ids;
        c->cap = cap;
    }
    c->ids[c->n] = strdup(id);
    if (c->ids[c->n] == NULL) {
        return false;
    }
    c->n++;
    journal_note_locked(c, 'S', id);
    return true;
}

struct claim_scan {
    struct store_claims *c;
    size_t prefix_len;
    long long now_ms;
    char id[STORE_MAX_KEY + 1];
    long long next_ms;
    long long after_ms;     /* found: when the next unclaimed one is due */
    bool found;
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
        return true;        /* not a due entry of ours: passed over */
    }
    id = end + 1;
    pthread_mutex_lock(&cs->c->lock);
    if (claimed_locked(cs->c, id)) {
        pthread_mutex_unlock(&cs->c->lock);
        return true;        /* being run: the next one */
    }
    if (cs->found) {
        /* One taken already: the next unclaimed one tells the caller
         * whether another job waits. */
        pthread_mutex_unlock(&cs->c->lock);
        cs->after_ms = due > 0 ? due : 1;
        return false;
    }
    if (due > cs->now_ms) {
        pthread_mutex_unlock(&cs->c->lock);
        cs->next_ms = due;
        return false;
    }
    /* Taken now, under the lock: no other worker takes it. */
    if (!take_locked(cs->c, id)) {
        pthread_mutex_unlock(&cs->c->lock);
        return false;
    }
    pthread_mutex_unlock(&cs->c->lock);
    (void)snprintf(cs->id, sizeof(cs->id), "%s", id);
    cs->found = true;
    return true;            /* one look further (after_ms) */
}

/* PostgreSQL: a look in a snapshot first (most wake-ups find nothing due,
 * and a look takes no writer lock), then one write transaction takes the
 * job (SKIP LOCKED, the claim and its lease on its row) and, when it takes
 * over the claim of a dead instance, counts that start on the record. */
static ap_err
pg_claim(struct store *st, const char *queue, long long now_ms, char *id,
         size_t idlen, cJSON **rec, long long *next_ms)
{
    struct store_txn *txn = NULL;
    char jid[STORE_MAX_KEY + 1];
    bool taken_over = false;
    cJSON *r = NULL;
    ap_err rc;

    rc = store_begin(st, false, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_pg_job_take(txn, queue, now_ms, jid, sizeof(jid),
                           &taken_over, next_ms);
    store_abort(txn);
    txn = NULL;
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_begin(st, true, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_pg_job_take(txn, queue, now_ms, jid, sizeof(jid),
                           &taken_over, next_ms);
    if (rc == AP_OK && strlen(jid) >= idlen) {
        rc = AP_EINVAL;
    }
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_JOBS, jid, &r);
        if (rc == AP_ENOTFOUND) {
            log_err("store", "job due entry %s has no record", jid);
            rc = AP_ESTORE;
        }
    }
    if (rc == AP_OK && taken_over) {
        log_warn("store", "job %s: the lease of its last runner ended: "
                 "taken over", jid);
        rc = job_set_num(r, "starts", (double)(job_num(r, "starts") + 1));
        if (rc == AP_OK) {
            rc = store_put_json(txn, STORE_JOBS, jid, r, false);
        }
    }
    if (rc != AP_OK) {
        store_abort(txn);
        cJSON_Delete(r);
        return rc;
    }
    rc = store_commit(txn);
    if (rc == AP_OK) {
        rc = job_set_num(r, "starts", (double)(job_num(r, "starts") + 1));
    }
    if (rc != AP_OK) {
        cJSON_Delete(r);
        return rc;
    }
    (void)snprintf(id, idlen, "%s", jid);
    *rec = r;
    if (next_ms != NULL) {
        *next_ms = now_ms > 0 ? now_ms : 1; /* not looked: another may be */
    }
    return AP_OK;
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

    if (strlen(queue) == 0 || strlen(queue) > STORE_JOB_MAX_QUEUE ||
        strchr(queue, '/') != NULL || strchr(queue, ':') != NULL) {
        return AP_EINVAL;
    }
    if (store_engine_of(st) == STORE_ENGINE_POSTGRESQL) {
        return pg_claim(st, queue, now_ms, id, idlen, rec, next_ms);
    }
    memset(&cs, 0, sizeof(cs));
    cs.c = store_claims_of(st);
    cs.now_ms = now_ms;
    (void)snprintf(prefix, sizeof(prefix), "%s/", queue);
    cs.prefix_len = strlen(prefix);
    if (next_ms != NULL) {
        *next_ms = 0;
    }
    for (int tries = 0;; tries++) {
        rc = store_begin(st, false, &txn);
        if (rc != AP_OK) {
            return rc;
        }
        rc = store_scan(txn, STORE_JOBS_DUE, prefix, NULL, claim_scan_fn,
                        &cs);
        store_abort(txn);
        txn = NULL;
        if (rc != AP_OK || !cs.found) {
            break;
        }
        /* The scan's snapshot may predate the outcome of a runner that
         * ended its claim since (deleted the job, or gave it back due
         * later): read the job again in a snapshot that begins after our
         * claim, which sees every outcome committed before a claim ended.
         * A job no longer there or no longer due is not run; look again. */
        rc = store_begin(st, false, &txn);
        if (rc == AP_OK) {
            rc = store_get_json(txn, STORE_JOBS, cs.id, &r);
        }
        store_abort(txn);
        txn = NULL;
        if (rc == AP_OK && job_num(r, "dueMs") <= now_ms) {
            break;
        }
        cJSON_Delete(r);
        r = NULL;
        store_job_unclaim(st, cs.id);
        if ((rc != AP_OK && rc != AP_ENOTFOUND) || tries == 3) {
            if (rc == AP_ENOTFOUND) {
                log_err("store", "job due entry %s has no record", cs.id);
            }
            return rc == AP_OK || rc == AP_ENOTFOUND ? AP_ENOTFOUND : rc;
        }
        memset(&cs, 0, sizeof(cs));
        cs.c = store_claims_of(st);
        cs.now_ms = now_ms;
        cs.prefix_len = strlen(prefix);
    }
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
        rc = job_set_num(r, "starts", (double)(job_num(r, "starts") + 1));
    }
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
        if (next_ms != NULL) {
            *next_ms = cs.after_ms;
        }
    }
    return rc;
}

ap_err
store_job_claim_id(struct store *st, const char *id, long long now_ms,
                   cJSON **rec)
{
    struct store_claims *c = store_claims_of(st);
    struct store_txn *txn = NULL;
    cJSON *r = NULL;
    bool taken;
    ap_err rc;

    if (store_engine_of(st) == STORE_ENGINE_POSTGRESQL) {
        return AP_ENOTFOUND;    /* its claims go in the due order only */
    }
    pthread_mutex_lock(&c->lock);
    taken = !claimed_locked(c, id) && take_locked(c, id);
    pthread_mutex_unlock(&c->lock);
    if (!taken) {
        return AP_ENOTFOUND;
    }
    /* A snapshot that begins after the claim: a runner that ended its
     * claim before had its outcome committed. */
    rc = store_begin(st, false, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_JOBS, id, &r);
    }
    store_abort(txn);
    if (rc == AP_OK && job_num(r, "dueMs") > now_ms) {
        rc = AP_ENOTFOUND;
    }
    if (rc == AP_OK) {
        rc = job_set_num(r, "starts", (double)(job_num(r, "starts") + 1));
    }
    if (rc != AP_OK) {
        cJSON_Delete(r);
        store_job_unclaim(st, id);
        return rc;
    }
    *rec = r;
    return AP_OK;
}

void
store_job_unclaim(struct store *st, const char *id)
{
    struct store_claims *c = store_claims_of(st);

    if (store_engine_of(st) == STORE_ENGINE_POSTGRESQL) {
        store_pg_job_untake(st, id);
        return;
    }
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->ids[i], id) == 0) {
            free(c->ids[i]);
            c->ids[i] = c->ids[--c->n];
            journal_note_locked(c, 'E', id);
            journal_compact_locked(c);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
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
    if (store_engine_of(store_txn_store(txn)) == STORE_ENGINE_POSTGRESQL) {
        bool yes = false;

        rc = store_pg_job_taken(txn, id, &yes);
        if (rc != AP_OK) {
            return rc;
        }
        if (yes) {
            return AP_ENOTFOUND;
        }
    } else if (claimed(store_claims_of(store_txn_store(txn)), id)) {
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
journal_open_starts(struct store_claims *c, struct id_list *open_ids)
{
    struct stat sb;
    char *text = NULL;
    char *save = NULL;
    ssize_t got;

    journal_open_locked(c);
    if (c->journal_fd == -1 || fstat(c->journal_fd, &sb) != 0 ||
        sb.st_size == 0) {
        return AP_OK;
    }
    if (sb.st_size > JOURNAL_READ_MAX) {
        log_err("store", "%s is %lld bytes: not read", c->journal_path,
                (long long)sb.st_size);
        return AP_OK;
    }
    text = malloc((size_t)sb.st_size + 1);
    if (text == NULL) {
        return AP_ENOMEM;
    }
    got = pread(c->journal_fd, text, (size_t)sb.st_size, 0);
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

/* The jobs of l died with their runner: one more start each, due now. */
static ap_err
recount(struct store_txn *txn, const struct id_list *l, long long now_ms,
        size_t *n)
{
    ap_err rc = AP_OK;

    for (size_t i = 0; rc == AP_OK && i < l->n; i++) {
        char q[STORE_JOB_MAX_QUEUE + 1];
        cJSON *r = NULL;

        if (job_queue(l->ids[i], q, sizeof(q)) != AP_OK ||
            store_get_json(txn, STORE_JOBS, l->ids[i], &r) != AP_OK) {
            continue;   /* ended meanwhile, or gone */
        }
        rc = job_unindex(txn, q, l->ids[i], r);
        if (rc == AP_OK) {
            rc = job_set_num(r, "starts", (double)(job_num(r, "starts") + 1));
        }
        if (rc == AP_OK) {
            rc = job_set_num(r, "dueMs", (double)now_ms);
        }
        if (rc == AP_OK) {
            rc = job_index(txn, q, l->ids[i], r);
        }
        cJSON_Delete(r);
        (*n)++;
    }
    return rc;
}

ap_err
store_job_recover(struct store_txn *txn, long long now_ms, size_t *n)
{
    struct store_claims *c = store_claims_of(store_txn_store(txn));
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
    if (store_engine_of(store_txn_store(txn)) == STORE_ENGINE_POSTGRESQL) {
        /* The claims this instance id held in its previous life. */
        rc = store_pg_job_disown(txn, id_list_add, &l);
        if (rc == AP_OK) {
            rc = l.rc;
        }
        if (rc == AP_OK) {
            rc = recount(txn, &l, now_ms, n);
        }
        id_list_fini(&l);
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    rc = journal_open_starts(c, &l);
    if (rc == AP_OK) {
        rc = recount(txn, &l, now_ms, n);
    }
    /* The journal starts again. (A crash before this transaction commits
     * loses these counts; the next death of the process counts anew.) */
    if (rc == AP_OK && c->journal_fd != -1) {
        if (ftruncate(c->journal_fd, 0) != 0) {
            log_err("store", "%s: %s", c->journal_path, strerror(errno));
            c->journal_len = -1;
        } else {
            c->journal_len = 0;
        }
    }
    pthread_mutex_unlock(&c->lock);
    id_list_fini(&l);
    return rc;
}
