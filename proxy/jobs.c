/* proxy/jobs.c: the job queue and its worker pools. */
#include "proxy/jobs.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "common/json.h"
#include "common/log.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/app.h"

#define JOBS_MAX_THREADS 64

static const char *const kind_prefix[] = { "v:", "i:" };
_Static_assert(sizeof(kind_prefix) / sizeof(kind_prefix[0]) == JOB__MAX,
               "kind_prefix must cover every job kind");

struct job_entry {
    struct job_entry *next;
    long long due_ms;        /* monotonic */
    char id[JOB_MAX_ID];
};

struct job_pool {
    struct jobs *jobs;
    enum job_kind kind;
    job_fn fn;
    struct job_entry *head;  /* sorted by due_ms */
    pthread_cond_t cond;
    pthread_t threads[JOBS_MAX_THREADS];
    unsigned n_threads;
};

struct jobs {
    struct app *app;
    pthread_mutex_t lock;
    bool stopping;
    struct job_pool pool[JOB__MAX];
    pthread_cond_t done_cond;
    unsigned long long generation;
};

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
jobs_put(struct store_txn *txn, enum job_kind kind, const char *target,
         unsigned delay_sec, unsigned attempts, char *id, size_t idlen)
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
    rc = json_set_num(rec, "v", 1);
    if (rc == AP_OK) {
        rc = json_set_num(rec, "due", time_now() + delay_sec);
    }
    if (rc == AP_OK) {
        rc = json_set_num(rec, "attempts", attempts);
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_JOBS, id, rec, false);
    }
    cJSON_Delete(rec);
    return rc;
}

static void
queue_locked(struct jobs *jobs, const char *id, long long due_ms)
{
    enum job_kind kind;
    const char *target;
    struct job_pool *p;
    struct job_entry *e;
    struct job_entry **pp;

    if (jobs_parse_id(id, &kind, &target) != AP_OK ||
        strlen(id) >= JOB_MAX_ID) {
        log_err("jobs", "refusing malformed job id");
        return;
    }
    p = &jobs->pool[kind];
    /* A job is queued once; a second kick only moves it earlier. */
    for (pp = &p->head; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            e = *pp;
            if (e->due_ms <= due_ms) {
                return;
            }
            *pp = e->next;
            goto insert;
        }
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        /* The record stays in the store: the next start runs it. */
        log_err("jobs", "out of memory queueing %s", id);
        return;
    }
    snprintf(e->id, sizeof(e->id), "%s", id);
insert:
    e->due_ms = due_ms;
    for (pp = &p->head; *pp != NULL && (*pp)->due_ms <= due_ms;
         pp = &(*pp)->next) {
    }
    e->next = *pp;
    *pp = e;
    pthread_cond_signal(&p->cond);
}

void
jobs_kick(struct jobs *jobs, const char *id, unsigned delay_sec)
{
    pthread_mutex_lock(&jobs->lock);
    queue_locked(jobs, id, time_mono_ms() + (long long)delay_sec * 1000);
    pthread_mutex_unlock(&jobs->lock);
}

void
jobs_notify(struct jobs *jobs)
{
    pthread_mutex_lock(&jobs->lock);
    jobs->generation++;
    pthread_cond_broadcast(&jobs->done_cond);
    pthread_mutex_unlock(&jobs->lock);
}

unsigned long long
jobs_generation(struct jobs *jobs)
{
    unsigned long long g;

    pthread_mutex_lock(&jobs->lock);
    g = jobs->generation;
    pthread_mutex_unlock(&jobs->lock);
    return g;
}

static void
deadline_to_timespec(long long deadline_ms, struct timespec *ts)
{
    long long left = deadline_ms - time_mono_ms();

    if (left < 0) {
        left = 0;
    }
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += left / 1000;
    ts->tv_nsec += (left % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

unsigned long long
jobs_wait(struct jobs *jobs, unsigned long long gen, long long deadline_ms)
{
    struct timespec ts;
    unsigned long long g;

    deadline_to_timespec(deadline_ms, &ts);
    pthread_mutex_lock(&jobs->lock);
    while (jobs->generation == gen && !jobs->stopping &&
           time_mono_ms() < deadline_ms) {
        if (pthread_cond_timedwait(&jobs->done_cond, &jobs->lock, &ts) != 0) {
            break;
        }
    }
    g = jobs->generation;
    pthread_mutex_unlock(&jobs->lock);
    return g;
}

static void *
worker_main(void *arg)
{
    struct job_pool *p = arg;
    struct jobs *jobs = p->jobs;
    struct timespec ts;
    char id[JOB_MAX_ID];

    pthread_mutex_lock(&jobs->lock);
    while (!jobs->stopping) {
        struct job_entry *e = p->head;

        if (e == NULL) {
            pthread_cond_wait(&p->cond, &jobs->lock);
            continue;
        }
        if (e->due_ms > time_mono_ms()) {
            deadline_to_timespec(e->due_ms, &ts);
            pthread_cond_timedwait(&p->cond, &jobs->lock, &ts);
            continue;
        }
        p->head = e->next;
        snprintf(id, sizeof(id), "%s", e->id);
        free(e);
        pthread_mutex_unlock(&jobs->lock);
        p->fn(jobs->app, id);
        jobs_notify(jobs);
        pthread_mutex_lock(&jobs->lock);
    }
    pthread_mutex_unlock(&jobs->lock);
    return NULL;
}

struct reload_ctx {
    struct jobs *jobs;
    long long now;
    size_t n;
};

static bool
reload_one(void *arg, const char *key, const char *val, size_t len)
{
    struct reload_ctx *rc = arg;
    cJSON *rec = NULL;
    long long due = 0;

    if (json_parse(val, len, &rec) == AP_OK) {
        due = json_num(rec, "due", 0);
    }
    cJSON_Delete(rec);
    due = due > rc->now ? due - rc->now : 0;
    queue_locked(rc->jobs, key, time_mono_ms() + due * 1000);
    rc->n++;
    return true;
}

ap_err
jobs_start(struct app *app, const unsigned *n, const job_fn *fn,
           struct jobs **out)
{
    struct jobs *jobs;
    struct store_txn *txn = NULL;
    struct reload_ctx reload;
    pthread_condattr_t ca;
    ap_err rc;

    jobs = calloc(1, sizeof(*jobs));
    if (jobs == NULL) {
        return AP_ENOMEM;
    }
    jobs->app = app;
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&jobs->done_cond, &ca);
    for (int k = 0; k < JOB__MAX; k++) {
        jobs->pool[k].jobs = jobs;
        jobs->pool[k].kind = (enum job_kind)k;
        jobs->pool[k].fn = fn[k];
        pthread_cond_init(&jobs->pool[k].cond, &ca);
    }
    pthread_condattr_destroy(&ca);

    rc = store_begin(app->st, false, &txn);
    if (rc != AP_OK) {
        goto out;
    }
    reload.jobs = jobs;
    reload.now = time_now();
    reload.n = 0;
    pthread_mutex_lock(&jobs->lock);
    rc = store_scan(txn, STORE_JOBS, NULL, NULL, reload_one, &reload);
    pthread_mutex_unlock(&jobs->lock);
    store_abort(txn);
    if (rc != AP_OK) {
        goto out;
    }
    if (reload.n > 0) {
        log_info("jobs", "resuming %zu stored jobs", reload.n);
    }
    for (int k = 0; k < JOB__MAX; k++) {
        struct job_pool *p = &jobs->pool[k];

        for (unsigned i = 0; i < n[k] && i < JOBS_MAX_THREADS; i++) {
            if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
                rc = AP_EINTERNAL;
                goto out;
            }
            p->n_threads++;
        }
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

void
jobs_stop(struct jobs *jobs)
{
    if (jobs == NULL) {
        return;
    }
    pthread_mutex_lock(&jobs->lock);
    jobs->stopping = true;
    for (int k = 0; k < JOB__MAX; k++) {
        pthread_cond_broadcast(&jobs->pool[k].cond);
    }
    pthread_cond_broadcast(&jobs->done_cond);
    pthread_mutex_unlock(&jobs->lock);
    for (int k = 0; k < JOB__MAX; k++) {
        struct job_pool *p = &jobs->pool[k];

        for (unsigned i = 0; i < p->n_threads; i++) {
            pthread_join(p->threads[i], NULL);
        }
        while (p->head != NULL) {
            struct job_entry *e = p->head;

            p->head = e->next;
            free(e);
        }
        pthread_cond_destroy(&p->cond);
    }
    pthread_cond_destroy(&jobs->done_cond);
    pthread_mutex_destroy(&jobs->lock);
    free(jobs);
}
