/* proxy/audit.c: the outbox (STORE_AUDIT) and its drainer. */
#include "proxy/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/store.h"
#include "common/timeutil.h"

#define AUDIT_SEQ_KEY "audit_seq"
#define AUDIT_BATCH 256                  /* events per drained batch */
#define AUDIT_BATCH_BYTES (1024 * 1024)  /* ... or this many bytes */
#define AUDIT_TAIL 131072                /* bytes read back for the last seq */
#define AUDIT_IDLE_MS 1000               /* the thread looks this often */
#define AUDIT_COALESCE_MS 100            /* woken: let more events come */
#define AUDIT_KEY_LEN 20

struct audit {
    struct store *st;
    char *path;
    int fd;
    int lock_fd;
    bool use_syslog;
    pthread_mutex_t lock;       /* one drainer per process; guards fd */
    pthread_mutex_t wake_lock;  /* guards the flags below */
    pthread_cond_t wake;
    bool pending;               /* a commit wrote events */
    bool stopping;
    bool reopen;                /* SIGHUP: open the file again */
    bool threaded;
    pthread_t thread;
    long long last_err_ms;      /* rate limit of drain error messages */
    bool shared;                /* several instances drain one outbox */
};

/* Read and write: the drain reads the last line back (its seq). */
static int
open_log(const char *path)
{
    return open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                0600);
}

/* ---- writing events ---------------------------------------------------- */

ap_err
audit_event(struct audit *a, struct store_txn *txn, const char *event,
            const char *request_id, cJSON *fields)
{
    char ts[TIME_RFC3339_LEN];
    char key[AUDIT_KEY_LEN + 1];
    char num[32];
    char *have = NULL;
    unsigned long long seq = 0;
    cJSON *line = NULL;
    char *text = NULL;
    ap_err rc;

    if (a == NULL) {
        cJSON_Delete(fields);
        return AP_OK;
    }
    rc = store_get(txn, STORE_META, AUDIT_SEQ_KEY, &have, NULL);
    if (rc == AP_OK) {
        char *end = NULL;

        errno = 0;
        seq = strtoull(have, &end, 10);
        if (errno != 0 || end == have || *end != '\0') {
            log_err("audit", "STORE_META %s is not a number", AUDIT_SEQ_KEY);
            rc = AP_ESTORE;
        }
    } else if (rc == AP_ENOTFOUND) {
        rc = AP_OK;
    }
    free(have);
    if (rc != AP_OK) {
        goto out;
    }
    seq++;
    rc = AP_ENOMEM;
    line = cJSON_CreateObject();
    if (line == NULL) {
        goto out;
    }
    time_rfc3339(time_now(), ts, sizeof(ts));
    if (cJSON_AddNumberToObject(line, "seq", (double)seq) == NULL ||
        cJSON_AddStringToObject(line, "time", ts) == NULL ||
        cJSON_AddStringToObject(line, "event", event) == NULL ||
        cJSON_AddStringToObject(line, "request",
                                request_id ? request_id : "-") == NULL) {
        goto out;
    }
    if (fields != NULL) {
        cJSON *c = fields->child;

        while (c != NULL) {
            cJSON *next = c->next;

            cJSON_AddItemToObject(line, c->string,
                                  cJSON_DetachItemViaPointer(fields, c));
            c = next;
        }
    }
    text = json_print(line);
    if (text == NULL) {
        goto out;
    }
    if (strlen(text) >= AUDIT_MAX_LINE) {
        log_err("audit", "event %s is %zu bytes: refused", event,
                strlen(text));
        rc = AP_ETOOBIG;
        goto out;
    }
    (void)snprintf(key, sizeof(key), "%0*llu", AUDIT_KEY_LEN, seq);
    (void)snprintf(num, sizeof(num), "%llu", seq);
    rc = store_put(txn, STORE_META, AUDIT_SEQ_KEY, num, strlen(num), false);
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_AUDIT, key, text, strlen(text), true);
    }
out:
    cJSON_free(text);
    cJSON_Delete(line);
    cJSON_Delete(fields);
    return rc;
}

ap_err
audit_record(struct audit *a, struct store *st, const char *event,
             const char *request_id, cJSON *fields)
{
    struct store_txn *txn = NULL;
    ap_err rc;

    if (a == NULL) {
        cJSON_Delete(fields);
        return AP_OK;
    }
    rc = store_begin(st, true, &txn);
    if (rc != AP_OK) {
        cJSON_Delete(fields);
        return rc;
    }
    rc = audit_event(a, txn, event, request_id, fields);
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    return rc;
}

ap_err
audit_note_put(struct store_txn *txn, const struct audit_note *note)
{
    cJSON *f;

    if (note == NULL || note->audit == NULL) {
        return AP_OK;
    }
    f = note->fields != NULL ? cJSON_Duplicate(note->fields, 1)
                             : cJSON_CreateObject();
    if (f == NULL) {
        return AP_ENOMEM;
    }
    return audit_event(note->audit, txn, note->event, note->request_id, f);
}

/* ---- draining ---------------------------------------------------------- */

struct batch {
    char keys[AUDIT_BATCH][AUDIT_KEY_LEN + 1];
    unsigned long long seqs[AUDIT_BATCH];
    char *texts[AUDIT_BATCH];
    size_t n;
    size_t bytes;
    ap_err rc;
};

static bool
batch_add(void *arg, const char *key, const char *val, size_t len)
{
    struct batch *b = arg;

    if (b->n >= AUDIT_BATCH || (b->n > 0 && b->bytes + len > AUDIT_BATCH_BYTES)) {
        return false;
    }
    if (strlen(key) != AUDIT_KEY_LEN) {
        log_err("audit", "malformed outbox key: skipped");
        return true;
    }
    b->texts[b->n] = strndup(val, len);
    if (b->texts[b->n] == NULL) {
        b->rc = AP_ENOMEM;
        return false;
    }
    memcpy(b->keys[b->n], key, AUDIT_KEY_LEN + 1);
    b->seqs[b->n] = strtoull(key, NULL, 10);
    b->bytes += len + 1;
    b->n++;
    return true;
}

static bool
any_event(void *arg, const char *key, const char *val, size_t len)
{
    (void)key;
    (void)val;
    (void)len;
    *(bool *)arg = true;
    return false;
}

static void
batch_fini(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->texts[i]);
    }
    b->n = 0;
    b->bytes = 0;
}

/* The seq of the last complete line of the file (0: none or no seq);
 * a partial last line, left by a write cut short, is cut off. */
static ap_err
file_tail_seq(int fd, unsigned long long *seq)
{
    struct stat sb;
    char *buf = NULL;
    size_t n;
    off_t base;
    ssize_t got;
    char *end;
    char *start;
    cJSON *doc = NULL;
    const cJSON *it;

    *seq = 0;
    if (fstat(fd, &sb) != 0) {
        return AP_EINTERNAL;
    }
    if (sb.st_size == 0) {
        return AP_OK;
    }
    n = sb.st_size > AUDIT_TAIL ? AUDIT_TAIL : (size_t)sb.st_size;
    base = sb.st_size - (off_t)n;
    buf = malloc(n + 1);
    if (buf == NULL) {
        return AP_ENOMEM;
    }
    got = pread(fd, buf, n, base);
    if (got != (ssize_t)n) {
        free(buf);
        return AP_EINTERNAL;
    }
    buf[n] = '\0';
    if (buf[n - 1] != '\n') {
        char *nl = memrchr(buf, '\n', n);
        off_t keep = nl != NULL ? base + (nl - buf) + 1 : base;

        log_warn("audit", "the audit log ends with a partial line (a write "
                 "cut short): cut at byte %lld", (long long)keep);
        if (ftruncate(fd, keep) != 0) {
            free(buf);
            return AP_EINTERNAL;
        }
        if (nl == NULL) {
            free(buf);
            return AP_OK;
        }
        n = (size_t)(nl - buf) + 1;
        buf[n] = '\0';
    }
    end = buf + n - 1;              /* the final '\n' */
    *end = '\0';
    start = memrchr(buf, '\n', (size_t)(end - buf));
    start = start != NULL ? start + 1 : buf;
    doc = cJSON_ParseWithLength(start, (size_t)(end - start));
    it = cJSON_GetObjectItemCaseSensitive(doc, "seq");
    if (cJSON_IsNumber(it) && it->valuedouble > 0) {
        *seq = (unsigned long long)it->valuedouble;
    }
    cJSON_Delete(doc);
    free(buf);
    return AP_OK;
}

static ap_err
write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return AP_EINTERNAL;
        }
        p += n;
        len -= (size_t)n;
    }
    return AP_OK;
}

/* One batch: read, write what the file lacks, delete. *more: the batch
 * was full (there may be more). */
static ap_err
drain_batch(struct audit *a, bool *more)
{
    struct store_txn *txn = NULL;
    struct batch *b;
    struct buf out;
    unsigned long long tail = 0;
    ap_err rc;

    *more = false;
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return AP_ENOMEM;
    }
    buf_init(&out, AUDIT_BATCH_BYTES + AUDIT_MAX_LINE + AUDIT_BATCH);
    /* Shared: the whole batch (read, write, delete) runs in one write
     * transaction, so under the store's writer lock, which is one across
     * the instances: no two instances write the same event. */
    if (a->shared) {
        /* A look first: an empty outbox takes no writer lock. */
        bool any = false;

        rc = store_begin(a->st, false, &txn);
        if (rc == AP_OK) {
            rc = store_scan(txn, STORE_AUDIT, NULL, NULL, any_event, &any);
        }
        store_abort(txn);
        txn = NULL;
        if (rc != AP_OK || !any) {
            goto out;
        }
    }
    rc = store_begin(a->st, a->shared, &txn);
    if (rc == AP_OK) {
        rc = store_scan(txn, STORE_AUDIT, NULL, NULL, batch_add, b);
    }
    if (!a->shared) {
        store_abort(txn);
        txn = NULL;
    }
    if (rc == AP_OK) {
        rc = b->rc;
    }
    if (rc != AP_OK || b->n == 0) {
        goto out;
    }
    rc = file_tail_seq(a->fd, &tail);
    if (rc != AP_OK) {
        log_err("audit", "reading the end of %s: %s", a->path,
                strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < b->n && rc == AP_OK; i++) {
        if (b->seqs[i] <= tail) {
            continue;       /* written before a crash, not yet deleted */
        }
        if (a->use_syslog) {
            syslog(LOG_INFO, "%s", b->texts[i]);
        }
        rc = buf_appends(&out, b->texts[i]);
        if (rc == AP_OK) {
            rc = buf_append(&out, "\n", 1);
        }
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (out.len > 0) {
        rc = write_all(a->fd, out.data, out.len);
        if (rc == AP_OK && fdatasync(a->fd) != 0) {
            rc = AP_EINTERNAL;
        }
        if (rc != AP_OK) {
            log_err("audit", "writing %s failed: %s (the events wait in the "
                    "store)", a->path, strerror(errno));
            goto out;
        }
    }
    if (!a->shared) {
        rc = store_begin(a->st, true, &txn);
    }
    for (size_t i = 0; rc == AP_OK && i < b->n; i++) {
        rc = store_del(txn, STORE_AUDIT, b->keys[i]);
        if (rc == AP_ENOTFOUND) {
            rc = AP_OK;     /* another process drained it meanwhile */
        }
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    *more = rc == AP_OK && b->n == AUDIT_BATCH;
out:
    store_abort(txn);
    buf_fini(&out);
    batch_fini(b);
    free(b);
    return rc;
}

/* Drains everything committed, under the process lock and the flock that
 * other processes on this data directory take too. */
static ap_err
drain(struct audit *a)
{
    bool more = true;
    ap_err rc = AP_OK;

    pthread_mutex_lock(&a->lock);
    if (a->reopen) {
        int fd = open_log(a->path);

        if (fd == -1) {
            log_err("audit", "reopening %s: %s", a->path, strerror(errno));
        } else {
            close(a->fd);
            a->fd = fd;
            a->reopen = false;
            log_info("audit", "reopened %s", a->path);
        }
    }
    while (flock(a->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            pthread_mutex_unlock(&a->lock);
            return AP_EINTERNAL;
        }
    }
    while (more && rc == AP_OK) {
        rc = drain_batch(a, &more);
    }
    (void)flock(a->lock_fd, LOCK_UN);
    if (rc != AP_OK) {
        long long now = time_mono_ms();

        if (now - a->last_err_ms > 10000) {
            a->last_err_ms = now;
            log_err("audit", "draining the outbox to %s failed: %s",
                    a->path, ap_strerror(rc));
        }
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

void
audit_set_shared(struct audit *a)
{
    if (a != NULL) {
        pthread_mutex_lock(&a->lock);
        a->shared = true;
        pthread_mutex_unlock(&a->lock);
    }
}

ap_err
audit_flush(struct audit *a)
{
    return a != NULL ? drain(a) : AP_OK;
}

static void *
drain_main(void *arg)
{
    struct audit *a = arg;
    struct timespec ts;

    pthread_mutex_lock(&a->wake_lock);
    while (!a->stopping) {
        if (!a->pending) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += AUDIT_IDLE_MS / 1000;
            (void)pthread_cond_timedwait(&a->wake, &a->wake_lock, &ts);
        }
        if (a->pending && !a->stopping) {
            /* Under load, events of many commits go out in one batch: one
             * fdatasync and one delete commit for all of them. */
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += AUDIT_COALESCE_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            while (!a->stopping &&
                   pthread_cond_timedwait(&a->wake, &a->wake_lock, &ts) == 0) {
            }
        }
        a->pending = false;
        pthread_mutex_unlock(&a->wake_lock);
        (void)drain(a);
        pthread_mutex_lock(&a->wake_lock);
    }
    pthread_mutex_unlock(&a->wake_lock);
    return NULL;
}

/* A store restored from a backup numbers below the file's last line:
 * numbering continues after the file, so no number is used twice. */
static void
seq_catch_up(struct audit *a)
{
    struct store_txn *txn = NULL;
    unsigned long long tail = 0;
    unsigned long long have = 0;
    char *text = NULL;
    char num[32];

    pthread_mutex_lock(&a->lock);
    if (file_tail_seq(a->fd, &tail) != AP_OK || tail == 0 ||
        store_begin(a->st, true, &txn) != AP_OK) {
        pthread_mutex_unlock(&a->lock);
        return;
    }
    if (store_get(txn, STORE_META, AUDIT_SEQ_KEY, &text, NULL) == AP_OK) {
        have = strtoull(text, NULL, 10);
    }
    free(text);
    if (have < tail) {
        log_warn("audit", "the store numbers audit events up to %llu but %s "
                 "ends at %llu (a restored backup?): numbering goes on "
                 "from %llu", have, a->path, tail, tail + 1);
        (void)snprintf(num, sizeof(num), "%llu", tail);
        if (store_put(txn, STORE_META, AUDIT_SEQ_KEY, num, strlen(num),
                      false) == AP_OK &&
            store_commit(txn) == AP_OK) {
            txn = NULL;
        }
    }
    store_abort(txn);
    pthread_mutex_unlock(&a->lock);
}

/* store_commit_fn: a commit wrote events. */
static void
on_commit(void *arg, unsigned tables, bool remote)
{
    struct audit *a = arg;

    /* Another instance's events are its own to write. */
    if (remote || (tables & (1u << STORE_AUDIT)) == 0) {
        return;
    }
    if (!a->threaded) {
        (void)drain(a);
        return;
    }
    /* Only the commit that finds the drainer idle wakes it: while
     * pending is set it is waiting out its coalescing window (or about to
     * drain), which a wake per commit would only interrupt (a futex call
     * and two context switches per commit, for nothing). */
    pthread_mutex_lock(&a->wake_lock);
    if (!a->pending) {
        a->pending = true;
        pthread_cond_signal(&a->wake);
    }
    pthread_mutex_unlock(&a->wake_lock);
}

ap_err
audit_open(struct store *st, const char *path, const char *lock_path,
           bool use_syslog, bool thread, struct audit **out, char *errbuf,
           size_t errlen)
{
    struct audit *a = calloc(1, sizeof(*a));
    pthread_condattr_t ca;

    if (a == NULL) {
        return AP_ENOMEM;
    }
    a->st = st;
    a->fd = -1;
    a->lock_fd = -1;
    a->path = strdup(path);
    if (a->path == NULL) {
        free(a);
        return AP_ENOMEM;
    }
    a->fd = open_log(path);
    if (a->fd != -1) {
        a->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                          0600);
    }
    if (a->fd == -1 || a->lock_fd == -1) {
        snprintf(errbuf, errlen, "audit log %s: %s", a->fd == -1 ? path
                                                                 : lock_path,
                 strerror(errno));
        if (a->fd != -1) {
            close(a->fd);
        }
        free(a->path);
        free(a);
        return AP_ECONFIG;
    }
    a->use_syslog = use_syslog;
    if (use_syslog) {
        openlog("acmeproxy", LOG_PID, LOG_AUTHPRIV);
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->wake_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    /* What a previous run committed but did not write. */
    if (drain(a) != AP_OK) {
        log_warn("audit", "events of an earlier run wait in the store");
    }
    seq_catch_up(a);
    if (store_on_commit(st, on_commit, a) != AP_OK) {
        snprintf(errbuf, errlen, "audit: too many commit subscribers");
        audit_close(a);
        return AP_ECONFIG;
    }
    if (thread) {
        a->threaded = true;
        if (pthread_create(&a->thread, NULL, drain_main, a) != 0) {
            snprintf(errbuf, errlen, "audit: cannot start the drain thread");
            a->threaded = false;
            audit_close(a);
            return AP_ECONFIG;
        }
    }
    *out = a;
    return AP_OK;
}

void
audit_close(struct audit *a)
{
    if (a == NULL) {
        return;
    }
    if (a->threaded) {
        pthread_mutex_lock(&a->wake_lock);
        a->stopping = true;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->wake_lock);
        pthread_join(a->thread, NULL);
        a->threaded = false;
    }
    store_off_commit(a->st, on_commit, a);
    if (drain(a) != AP_OK) {
        log_err("audit", "events wait in the store for the next start");
    }
    close(a->fd);
    close(a->lock_fd);
    if (a->use_syslog) {
        closelog();
    }
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->wake_lock);
    pthread_mutex_destroy(&a->lock);
    free(a->path);
    free(a);
}

ap_err
audit_reopen(struct audit *a)
{
    if (a == NULL) {
        return AP_OK;
    }
    pthread_mutex_lock(&a->lock);
    a->reopen = true;
    pthread_mutex_unlock(&a->lock);
    if (!a->threaded) {
        return drain(a);
    }
    pthread_mutex_lock(&a->wake_lock);
    a->pending = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->wake_lock);
    return AP_OK;
}
