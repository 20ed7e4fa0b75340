/* proxy/jobs.c: the worker pools over the store's job queues. */
#include "proxy/jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/app.h"
#include "proxy/metrics.h"

#define JOBS_MAX_THREADS 64
#define JOBS_IDLE_MS 5000                /* an idle worker looks this often */
#define JOBS_MAX_BACKOFF_MS 60000
#define JOBS_ADVANCE_BATCH 512
#define JOBS_FAULT_MAX 65536             /* bytes of the fault file read */

static const char *const kind_prefix[] = { "v:", "i:", "w:" };
static const char *const kind_queue[] = { "v", "i", "w" };
_Static_assert(sizeof(kind_prefix) / sizeof(kind_prefix[0]) == JOB__MAX,
               "kind_prefix must cover every job kind");
_Static_assert(sizeof(kind_queue) / sizeof(kind_queue[0]) == JOB__MAX,
               "kind_queue must cover every job kind");

struct job_pool {
    struct jobs *jobs;
    enum job_kind kind;
    job_fn fn;
    pthread_cond_t cond;
    unsigned long long kicks;   /* bumped by every kick (no lost wake-up) */
    pthread_t threads[JOBS_MAX_THREADS];
    unsigned n_threads;
    unsigned want_threads;
    /* Runs of this kind under way or being claimed, on its workers or on
     * request threads (jobs_run_here): at most the larger of n_threads
     * and max_runs (jobs_set_runs), whichever thread does them. */
    unsigned busy;
    unsigned max_runs;
    unsigned held;              /* workers waiting for a busy slot */
};

struct jobs {
    struct app *app;
    pthread_mutex_t lock;
    bool stopping;
    struct job_pool pool[JOB__MAX];
    struct jobs_watch *watches; /* requests waiting for an outcome */
    bool subscribed;            /* to the store's commits (on_store_commit) */
};

/* ---- the fault handler -------------------------------------------------
 * The one piece of process-wide state: the descriptor of the fault file
 * and each worker's current job id, read by the handler, which may only
 * make async-signal-safe calls (write, sigaction, raise). */

static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
                                     SIGABRT };
#define N_FAULT_SIGNALS (sizeof(fault_signals) / sizeof(fault_signals[0]))
static struct sigaction fault_prev[N_FAULT_SIGNALS];
static int fault_fd = -1;
static _Thread_local char current_job[JOB_MAX_ID];

static void
on_fault(int sig, siginfo_t *info, void *ctx)
{
    size_t n = strnlen(current_job, sizeof(current_job));

    (void)ctx;
    if (fault_fd != -1 && n > 0 && n < sizeof(current_job)) {
        char line[JOB_MAX_ID + 1];

        memcpy(line, current_job, n);
        line[n] = '\n';
        (void)!write(fault_fd, line, n + 1);
    }
    /* The previous action (the default, or a sanitizer's report) takes
     * over: a fault happens again when this returns, a sent signal is
     * raised again. */
    for (size_t i = 0; i < N_FAULT_SIGNALS; i++) {
        if (fault_signals[i] == sig) {
            (void)sigaction(sig, &fault_prev[i], NULL);
        }
    }
    if (info == NULL || info->si_code <= 0) {
        (void)raise(sig);
    }
}

static void
fault_install(const char *data_dir)
{
    char path[4096];
    struct sigaction sa;

    if (fault_fd != -1) {
        return;
    }
    (void)snprintf(path, sizeof(path), "%s/%s", data_dir, JOBS_FAULT_FILE);
    fault_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
                              O_NOFOLLOW, 0600);
    if (fault_fd == -1) {
        log_warn("jobs", "%s: %s: crash loops are caught by the start count "
                 "only", path, strerror(errno));
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_FAULT_SIGNALS; i++) {
        (void)sigaction(fault_signals[i], &sa, &fault_prev[i]);
    }
}

/* Counts the faults the last run noted, then empties the file. */
static void
fault_collect(struct app *app)
{
    char path[4096];
    char why[300];
    char *text = NULL;
    struct store_txn *txn = NULL;
    size_t n = 0;
    ap_err read_rc;

    (void)snprintf(path, sizeof(path), "%s/%s", app->cfg->server.data_dir,
                   JOBS_FAULT_FILE);
    read_rc = fileio_read(path, JOBS_FAULT_MAX, FILEIO_NOFOLLOW, &text, &n,
                          why, sizeof(why));
    if (read_rc == AP_ENOTFOUND) {
        return;
    }
    if (read_rc != AP_OK) {
        /* Thousands of faults in one run (emptied, so that the next
         * start does not stop at it again), or not a regular file: the
         * crash loop is still caught by the start count. */
        log_err("jobs", "faulted jobs not counted: %s", why);
        if (read_rc == AP_ETOOBIG && truncate(path, 0) != 0) {
            log_warn("jobs", "%s: %s", path, strerror(errno));
        }
        return;
    }
    if (n > 0 && store_begin(app->st, true, &txn) == AP_OK) {
        char *save = NULL;

        for (char *id = strtok_r(text, "\n", &save); id != NULL;
             id = strtok_r(NULL, "\n", &save)) {
            ap_err rc = store_job_fault(txn, id);

            if (rc == AP_OK) {
                log_warn("jobs", "job %s was running when the proxy died of "
                         "a fault", id);
            } else if (rc != AP_ENOTFOUND && rc != AP_EINVAL) {
                break;
            }
        }
        if (store_commit(txn) != AP_OK) {
            log_err("jobs", "recording the faults of %s failed", path);
        }
        txn = NULL;
    }
    store_abort(txn);
    fileio_free(text, n, 0);
    if (n > 0 && truncate(path, 0) != 0) {
        log_warn("jobs", "%s: %s", path, strerror(errno));
    }
}

/* ---- ids and records --------------------------------------------------- */

long long
jobs_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ap_err
jobs_parse_id(const char *id, enum job_kind *kind, const char **target)
{
    for (int k = 0; k < JOB__MAX; k++) {
        if (strncmp(id, kind_prefix[k], 2) == 0 && id[2] != '\0') {
            *kind = (enum job_kind)k;
            *target = id + 2;
            return AP_OK;
        }
    }
    return AP_EINVAL;
}

ap_err
jobs_put_ms(struct store_txn *txn, enum job_kind kind, const char *target,
            long long delay_ms, unsigned attempts, bool retry, char *id,
            size_t idlen)
{
    cJSON *rec;
    ap_err rc;
    int n;

    n = snprintf(id, idlen, "%s%s", kind_prefix[kind], target);
    if (n < 0 || (size_t)n >= idlen || (size_t)n >= JOB_MAX_ID) {
        return AP_EINVAL;
    }
    rec = cJSON_CreateObject();
    if (rec == NULL) {
        return AP_ENOMEM;
    }
    rc = json_set_num(rec, "v", 2);
    if (rc == AP_OK) {
        rc = json_set_num(rec, "attempts", attempts);
    }
    if (rc == AP_OK && retry) {
        rc = cJSON_AddTrueToObject(rec, "retry") != NULL ? AP_OK : AP_ENOMEM;
    }
    if (rc == AP_OK) {
        rc = store_job_put(txn, id, jobs_now_ms() + (delay_ms > 0 ? delay_ms
                                                                   : 0),
                           rec);
    }
    cJSON_Delete(rec);
    return rc;
}

ap_err
jobs_put(struct store_txn *txn, enum job_kind kind, const char *target,
         unsigned delay_sec, unsigned attempts, char *id, size_t idlen)
{
    return jobs_put_ms(txn, kind, target, (long long)delay_sec * 1000,
                       attempts, false, id, idlen);
}

ap_err
jobs_del(struct store_txn *txn, const char *id)
{
    ap_err rc = store_job_del(txn, id);

    return rc == AP_ENOTFOUND ? AP_OK : rc;
}

bool
jobs_given_up(const struct job *job)
{
    return job->faults >= JOB_MAX_FAULTS || job->starts > JOB_MAX_STARTS;
}

long long
jobs_backoff_ms(const struct job *job)
{
    long long d = job->releases < 16 ? 1000LL << job->releases
                                     : JOBS_MAX_BACKOFF_MS;

    return d < JOBS_MAX_BACKOFF_MS ? d : JOBS_MAX_BACKOFF_MS;
}

/* ---- waking and waiting ------------------------------------------------- */

static void
wake_pool(struct jobs *jobs, enum job_kind kind)
{
    pthread_mutex_lock(&jobs->lock);
    jobs->pool[kind].kicks++;
    pthread_cond_broadcast(&jobs->pool[kind].cond);
    pthread_mutex_unlock(&jobs->lock);
}

/* One idle worker of kind looks for due jobs (it wakes the next when it
 * finds one: every claim it makes is followed by another look). */
static void
wake_one(struct jobs *jobs, enum job_kind kind)
{
    pthread_mutex_lock(&jobs->lock);
    jobs->pool[kind].kicks++;
    pthread_cond_signal(&jobs->pool[kind].cond);
    pthread_mutex_unlock(&jobs->lock);
}

void
jobs_kick(struct jobs *jobs, const char *id, unsigned delay_sec)
{
    enum job_kind kind;
    const char *target;

    (void)delay_sec;
    if (jobs != NULL && jobs_parse_id(id, &kind, &target) == AP_OK) {
        /* One worker looks; a worker that claims a job wakes the next
         * (worker_main), so a burst of jobs still spreads over the pool
         * without every idle worker scanning the queue for each one. */
        wake_one(jobs, kind);
    }
}

/* Wakes the watches of key, or every watch when key is NULL. Called with
 * jobs->lock held. */
static void
wake_watches(struct jobs *jobs, const char *key, size_t keylen)
{
    for (struct jobs_watch *w = jobs->watches; w != NULL; w = w->next) {
        if (key == NULL ||
            (strncmp(w->key, key, keylen) == 0 && w->key[keylen] == '\0')) {
            w->woken = true;
            pthread_cond_signal(&w->cond);
        }
    }
}

void
jobs_notify(struct jobs *jobs)
{
    pthread_mutex_lock(&jobs->lock);
    wake_watches(jobs, NULL, 0);
    pthread_mutex_unlock(&jobs->lock);
}

/* A job of target ended: its watches wake (jobs.h, the key). */
static void
notify_target(struct jobs *jobs, const char *target)
{
    size_t keylen = strcspn(target, "/");

    pthread_mutex_lock(&jobs->lock);
    wake_watches(jobs, target, keylen);
    pthread_mutex_unlock(&jobs->lock);
}

/* store_commit_fn: another instance's commit (PostgreSQL) may hold what
 * a waiter here waits for (an authorization, order or certificate
 * written: the job ran there), or make a job due that no worker here
 * knows of (a job written). This process's own commits signal where they
 * are made (jobs_notify, jobs_kick). */
static void
on_store_commit(void *arg, unsigned tables, bool remote)
{
    struct jobs *jobs = arg;
    const unsigned outcome = (1u << STORE_AUTHZS) | (1u << STORE_ORDERS) |
                             (1u << STORE_CERTS);
    const unsigned due = (1u << STORE_JOBS) | (1u << STORE_JOBS_DUE);

    if (!remote) {
        return;
    }
    if ((tables & outcome) != 0) {
        jobs_notify(jobs);
    }
    /* One worker per queue: the instance that wrote the job kicked its
     * own; waking every worker here would make each of them claim (a
     * write transaction) for the one job. */
    if ((tables & due) != 0) {
        for (int k = 0; k < JOB__MAX; k++) {
            wake_one(jobs, (enum job_kind)k);
        }
    }
}

static void
ms_to_timespec(long long ms, struct timespec *ts)
{
    if (ms < 0) {
        ms = 0;
    }
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

void
jobs_watch_begin(struct jobs *jobs, struct jobs_watch *w, const char *key)
{
    pthread_condattr_t ca;

    memset(w, 0, sizeof(*w));
    (void)snprintf(w->key, sizeof(w->key), "%s", key);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (jobs != NULL) {
        pthread_mutex_lock(&jobs->lock);
        w->next = jobs->watches;
        jobs->watches = w;
        pthread_mutex_unlock(&jobs->lock);
    }
}

void
jobs_watch_wait(struct jobs *jobs, struct jobs_watch *w, long long deadline_ms)
{
    struct timespec ts;
    long long left = deadline_ms - time_mono_ms();

    if (left <= 0) {
        return;
    }
    ms_to_timespec(left, &ts);
    if (jobs == NULL) {
        (void)nanosleep(&(struct timespec){ left / 1000,
                                            (left % 1000) * 1000000L },
                        NULL);
        return;
    }
    pthread_mutex_lock(&jobs->lock);
    while (!w->woken && !jobs->stopping && time_mono_ms() < deadline_ms) {
        if (pthread_cond_timedwait(&w->cond, &jobs->lock, &ts) != 0) {
            break;
        }
    }
    w->woken = false;
    pthread_mutex_unlock(&jobs->lock);
}

void
jobs_watch_end(struct jobs *jobs, struct jobs_watch *w)
{
    if (jobs != NULL) {
        pthread_mutex_lock(&jobs->lock);
        for (struct jobs_watch **pp = &jobs->watches; *pp != NULL;
             pp = &(*pp)->next) {
            if (*pp == w) {
                *pp = w->next;
                break;
            }
        }
        pthread_mutex_unlock(&jobs->lock);
    }
    pthread_cond_destroy(&w->cond);
}

/* ---- advancing jobs that wait for a failed back end -------------------- */

struct retry_list {
    char (*ids)[JOB_MAX_ID];
    size_t n;
    size_t cap;
};

static bool
collect_retry(void *arg, const char *key, const char *val, size_t len)
{
    struct retry_list *l = arg;
    cJSON *rec = NULL;
    bool retry;

    if (json_parse(val, len, &rec) != AP_OK) {
        return true;
    }
    retry = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "retry"));
    cJSON_Delete(rec);
    if (retry && strlen(key) < JOB_MAX_ID) {
        if (l->n == l->cap) {
            size_t cap = l->cap == 0 ? 64 : l->cap * 2;
            char(*ids)[JOB_MAX_ID] = realloc(l->ids, cap * sizeof(*ids));

            if (ids == NULL) {
                return false;
            }
            l->ids = ids;
            l->cap = cap;
        }
        memcpy(l->ids[l->n++], key, strlen(key) + 1);
    }
    return true;
}

ap_err
jobs_advance_retries(struct jobs *jobs, enum job_kind kind, size_t *n)
{
    struct store_txn *txn = NULL;
    struct retry_list l;
    size_t moved = 0;
    long long now = jobs_now_ms();
    ap_err rc;

    memset(&l, 0, sizeof(l));
    rc = store_begin(jobs->app->st, false, &txn);
    if (rc == AP_OK) {
        rc = store_job_scan(txn, kind_queue[kind], collect_retry, &l);
    }
    store_abort(txn);
    txn = NULL;
    /* In short transactions, so the writer lock is never held long. */
    for (size_t i = 0; rc == AP_OK && i < l.n; i += JOBS_ADVANCE_BATCH) {
        rc = store_begin(jobs->app->st, true, &txn);
        for (size_t k = i; rc == AP_OK && k < l.n && k < i + JOBS_ADVANCE_BATCH;
             k++) {
            rc = store_job_advance(txn, l.ids[k], now);
            if (rc == AP_OK) {
                moved++;
            } else if (rc == AP_ENOTFOUND) {
                rc = AP_OK;     /* ended or being run meanwhile */
            }
        }
        if (rc == AP_OK) {
            rc = store_commit(txn);
            txn = NULL;
        }
        store_abort(txn);
        txn = NULL;
    }
    free(l.ids);
    if (n != NULL) {
        *n = moved;
    }
    if (moved > 0) {
        wake_pool(jobs, kind);
    }
    return rc;
}

/* ---- workers ----------------------------------------------------------- */

/* Fills j (its id set) from rec, the record as claimed. */
static void
job_from_record(struct job *j, enum job_kind kind, const cJSON *rec)
{
    j->kind = kind;
    j->target = j->id + 2;
    j->rec = rec;
    j->attempts = (unsigned)json_num(rec, "attempts", 0);
    j->starts = (unsigned)json_num(rec, "starts", 0);
    j->faults = (unsigned)json_num(rec, "faults", 0);
    j->releases = (unsigned)json_num(rec, "releases", 0);
}

/* Claims the first due job of p's queue that nobody runs. AP_ENOTFOUND
 * with *next_ms (when the first waiting job is due, or 0) when none is. */
static ap_err
claim(struct job_pool *p, struct job *j, cJSON **rec, long long *next_ms)
{
    ap_err rc;

    rc = store_job_claim(p->jobs->app->st, kind_queue[p->kind], jobs_now_ms(),
                         j->id, sizeof(j->id), rec, next_ms);
    if (rc == AP_OK) {
        job_from_record(j, p->kind, *rec);
    }
    return rc;
}

/* Gives a job back without an outcome, due in delay_ms. */
static void
release(struct jobs *jobs, const struct job *j, long long delay_ms, bool ran)
{
    struct store_txn *txn = NULL;
    ap_err rc;

    rc = store_begin(jobs->app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_job_release(txn, j->id, jobs_now_ms() + delay_ms, ran);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    if (rc != AP_OK && rc != AP_ENOTFOUND) {
        /* The store refuses writes: the job keeps its old due time. It
         * stays claimed for the delay (at most 5 s), so it is not run
         * again at once. */
        struct timespec ts = { 0, 0 };
        long long ms = delay_ms < 5000 ? delay_ms : 5000;

        log_err("jobs", "giving back job %s failed: %s", j->id,
                ap_strerror(rc));
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
}

void
jobs_defer(struct jobs *jobs, const struct job *job, long long delay_ms)
{
    release(jobs, job, delay_ms, false);
    wake_pool(jobs, job->kind);
}

/* Takes one of p's run slots (job_pool.busy), under jobs->lock. */
static bool
slot_take_locked(struct job_pool *p)
{
    if (p->busy >= p->n_threads && p->busy >= p->max_runs) {
        return false;
    }
    p->busy++;
    return true;
}

/* Gives a run slot back; a worker that waits for one looks again. */
static void
slot_give(struct job_pool *p)
{
    pthread_mutex_lock(&p->jobs->lock);
    p->busy--;
    if (p->held > 0) {
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->jobs->lock);
}

/* Runs j, claimed (rec: its record, deleted here), on this thread, and
 * ends its claim. */
static void
run_claimed(struct job_pool *p, struct job *j, cJSON *rec)
{
    struct jobs *jobs = p->jobs;
    struct app *view;
    long long delay;

    (void)snprintf(current_job, sizeof(current_job), "%s", j->id);
    /* The job runs on the configuration of its start (reload). */
    view = app_acquire(jobs->app);
    metrics_job_running((int)p->kind, 1);
    delay = p->fn(view, j);
    metrics_job_running((int)p->kind, -1);
    app_release(view);
    current_job[0] = '\0';
    if (delay != JOB_DONE) {
        release(jobs, j, delay, true);
    }
    store_job_unclaim(jobs->app->st, j->id);
    notify_target(jobs, j->target);
    cJSON_Delete(rec);
}

bool
jobs_run_here(struct jobs *jobs, const char *id)
{
    struct job_pool *p;
    struct job j;
    cJSON *rec = NULL;
    enum job_kind kind;
    const char *target;
    bool room;

    if (jobs == NULL || jobs_parse_id(id, &kind, &target) != AP_OK ||
        strlen(id) >= sizeof(j.id)) {
        return false;
    }
    p = &jobs->pool[kind];
    pthread_mutex_lock(&jobs->lock);
    room = !jobs->stopping && slot_take_locked(p);
    pthread_mutex_unlock(&jobs->lock);
    if (!room) {
        return false;
    }
    memset(&j, 0, sizeof(j));
    (void)snprintf(j.id, sizeof(j.id), "%s", id);
    if (store_job_claim_id(jobs->app->st, id, jobs_now_ms(), &rec) == AP_OK) {
        job_from_record(&j, kind, rec);
        run_claimed(p, &j, rec);
    } else {
        room = false;
    }
    slot_give(p);
    return room;
}

static void *
worker_main(void *arg)
{
    struct job_pool *p = arg;
    struct jobs *jobs = p->jobs;
    struct timespec ts;

    for (;;) {
        struct job j;
        cJSON *rec = NULL;
        unsigned long long kicks;
        long long next = 0;
        long long wait_ms = JOBS_IDLE_MS;
        ap_err rc;

        pthread_mutex_lock(&jobs->lock);
        if (jobs->stopping) {
            pthread_mutex_unlock(&jobs->lock);
            break;
        }
        if (!slot_take_locked(p)) {
            /* Every slot is a run on a request thread: the end of one
             * wakes this (slot_give). */
            ms_to_timespec(JOBS_IDLE_MS, &ts);
            p->held++;
            (void)pthread_cond_timedwait(&p->cond, &jobs->lock, &ts);
            p->held--;
            pthread_mutex_unlock(&jobs->lock);
            continue;
        }
        kicks = p->kicks;
        pthread_mutex_unlock(&jobs->lock);

        memset(&j, 0, sizeof(j));
        rc = claim(p, &j, &rec, &next);
        if (rc == AP_OK && next != 0) {
            /* Another job waits (due now, or later: its wait is timed):
             * the next idle worker looks while this one runs its job. A
             * claim that leaves the queue empty wakes nobody, where every
             * job cost a second worker a wake-up and an empty claim. */
            wake_one(jobs, p->kind);
        }
        if (rc == AP_OK) {
            run_claimed(p, &j, rec);
        }
        slot_give(p);
        if (rc == AP_OK) {
            continue;
        }
        if (rc != AP_ENOTFOUND) {
            log_err("jobs", "claiming a job failed: %s", ap_strerror(rc));
        } else if (next > 0) {
            wait_ms = next - jobs_now_ms();
            wait_ms = wait_ms < 0 ? 0 : wait_ms > JOBS_IDLE_MS ? JOBS_IDLE_MS
                                                               : wait_ms;
        }
        ms_to_timespec(wait_ms, &ts);
        pthread_mutex_lock(&jobs->lock);
        if (!jobs->stopping && p->kicks == kicks && wait_ms > 0) {
            (void)pthread_cond_timedwait(&p->cond, &jobs->lock, &ts);
        }
        pthread_mutex_unlock(&jobs->lock);
    }
    return NULL;
}

ap_err
jobs_start(struct app *app, const unsigned *n, const job_fn *fn,
           struct jobs **out)
{
    struct jobs *jobs;
    struct store_txn *txn = NULL;
    pthread_condattr_t ca;
    size_t recovered = 0;
    size_t stored = 0;
    ap_err rc;

    jobs = calloc(1, sizeof(*jobs));
    if (jobs == NULL) {
        return AP_ENOMEM;
    }
    jobs->app = app;
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (int k = 0; k < JOB__MAX; k++) {
        jobs->pool[k].jobs = jobs;
        jobs->pool[k].kind = (enum job_kind)k;
        jobs->pool[k].fn = fn[k];
        pthread_cond_init(&jobs->pool[k].cond, &ca);
    }
    pthread_condattr_destroy(&ca);

    /* The jobs a stopped process held run again now. */
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_job_recover(txn, jobs_now_ms(), &recovered);
    }
    if (rc == AP_OK) {
        rc = store_count(txn, STORE_JOBS, &stored);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_on_commit(app->st, on_store_commit, jobs);
    if (rc != AP_OK) {
        goto out;
    }
    jobs->subscribed = true;
    fault_collect(app);
    if (stored > 0) {
        log_info("jobs", "resuming %zu stored jobs (%zu were running when the "
                 "proxy stopped)", stored, recovered);
    }
    fault_install(app->cfg->server.data_dir);
    for (int k = 0; k < JOB__MAX; k++) {
        jobs->pool[k].want_threads = n[k] < JOBS_MAX_THREADS ? n[k]
                                                              : JOBS_MAX_THREADS;
    }
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        jobs_stop(jobs);
        jobs = NULL;
    }
    *out = jobs;
    return rc;
}

ap_err
jobs_run(struct jobs *jobs)
{
    for (int k = 0; k < JOB__MAX; k++) {
        struct job_pool *p = &jobs->pool[k];

        while (p->n_threads < p->want_threads) {
            if (pthread_create(&p->threads[p->n_threads], NULL, worker_main,
                               p) != 0) {
                return AP_EINTERNAL;
            }
            p->n_threads++;
        }
    }
    return AP_OK;
}

ap_err
jobs_grow(struct jobs *jobs, enum job_kind kind, unsigned n, unsigned *now)
{
    struct job_pool *p = &jobs->pool[kind];
    ap_err rc = AP_OK;

    if (n > JOBS_MAX_THREADS) {
        n = JOBS_MAX_THREADS;
    }
    /* jobs_stop joins n_threads threads: grown under the lock it takes
     * first, never while it stops. */
    pthread_mutex_lock(&jobs->lock);
    if (!jobs->stopping) {
        if (n > p->want_threads) {
            p->want_threads = n;
        }
        while (p->n_threads < p->want_threads) {
            if (pthread_create(&p->threads[p->n_threads], NULL, worker_main,
                               p) != 0) {
                rc = AP_EINTERNAL;
                break;
            }
            p->n_threads++;
        }
    }
    if (now != NULL) {
        *now = p->n_threads;
    }
    pthread_mutex_unlock(&jobs->lock);
    return rc;
}

void
jobs_set_runs(struct jobs *jobs, enum job_kind kind, unsigned max)
{
    if (jobs == NULL || (unsigned)kind >= JOB__MAX) {
        return;
    }
    pthread_mutex_lock(&jobs->lock);
    jobs->pool[kind].max_runs = max;
    if (jobs->pool[kind].held > 0) {
        pthread_cond_broadcast(&jobs->pool[kind].cond);
    }
    pthread_mutex_unlock(&jobs->lock);
}

unsigned
jobs_threads(struct jobs *jobs, enum job_kind kind)
{
    unsigned n;

    if (jobs == NULL) {
        return 0;
    }
    pthread_mutex_lock(&jobs->lock);
    n = jobs->pool[kind].n_threads;
    pthread_mutex_unlock(&jobs->lock);
    return n;
}

void
jobs_stop(struct jobs *jobs)
{
    if (jobs == NULL) {
        return;
    }
    /* Once it returns no commit calls on_store_commit any more. */
    if (jobs->subscribed) {
        store_off_commit(jobs->app->st, on_store_commit, jobs);
    }
    pthread_mutex_lock(&jobs->lock);
    jobs->stopping = true;
    for (int k = 0; k < JOB__MAX; k++) {
        pthread_cond_broadcast(&jobs->pool[k].cond);
    }
    wake_watches(jobs, NULL, 0);
    pthread_mutex_unlock(&jobs->lock);
    for (int k = 0; k < JOB__MAX; k++) {
        struct job_pool *p = &jobs->pool[k];

        for (unsigned i = 0; i < p->n_threads; i++) {
            pthread_join(p->threads[i], NULL);
        }
        pthread_cond_destroy(&p->cond);
    }
    pthread_mutex_destroy(&jobs->lock);
    free(jobs);
}

struct count_ctx {
    size_t n;
    size_t max;
};

static bool
count_fn(void *arg, const char *key, const char *val, size_t len)
{
    struct count_ctx *c = arg;

    (void)key;
    (void)val;
    (void)len;
    return ++c->n < c->max;
}

ap_err
jobs_queue_stats(struct store *st, enum job_kind kind, long long now_ms,
                 size_t *queued, long long *oldest_wait_ms)
{
    struct store_txn *txn = NULL;
    struct count_ctx c = { 0, JOBS_COUNT_MAX };
    char prefix[STORE_JOB_MAX_QUEUE + 2];
    long long due = 0;
    ap_err rc;

    if ((unsigned)kind >= JOB__MAX) {
        return AP_EINVAL;
    }
    (void)snprintf(prefix, sizeof(prefix), "%s/", kind_queue[kind]);
    rc = store_begin(st, false, &txn);
    if (rc == AP_OK) {
        rc = store_scan(txn, STORE_JOBS_DUE, prefix, NULL, count_fn, &c);
    }
    if (rc == AP_OK) {
        rc = store_job_next_due(txn, kind_queue[kind], &due);
        if (rc == AP_ENOTFOUND) {
            due = now_ms;
            rc = AP_OK;
        }
    }
    store_abort(txn);
    if (rc == AP_OK) {
        *queued = c.n;
        *oldest_wait_ms = now_ms > due ? now_ms - due : 0;
    }
    return rc;
}
