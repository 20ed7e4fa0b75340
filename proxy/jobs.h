/* proxy/jobs.h: durable background work (validations, issuances and
 * webhook deliveries).
 *
 * A job is a record in the store (common/store.h, "jobs"), written in the
 * same transaction as the state change that needs it; the store keeps the
 * jobs of each kind in due order. Each kind has its own pool of threads,
 * so slow PKI calls never hold up validations. A worker claims one due job
 * that nobody runs (an ordered lookup, O(log n) however long the queue:
 * nothing is loaded at start), which puts the start on record before the
 * job runs, and hands it to the kind's runner. The runner records the
 * outcome in the transaction of its state change (jobs_put to reschedule,
 * jobs_del to end) or gives the job back to run later. The request that
 * wrote a job may run it on its own thread instead (jobs_run_here); a
 * pool's size bounds the runs of its kind on workers and requests
 * together. After a crash the
 * jobs that were running are due at once (the log says "resuming N stored
 * jobs").
 *
 * Crash loops: a job that makes the process die must not make it die at
 * every start. The store notes every start and end (store.h's journal),
 * so the next start counts a start that the death of the process cut
 * short; a fault handler (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) notes
 * the job of the faulting thread in <data_dir>/faulted-jobs before the
 * process dies, and the next start counts that as a fault. A runner gives
 * a job up (its challenge or order becomes invalid, serverInternal, with
 * an audit event) after JOB_MAX_FAULTS faults, or after JOB_MAX_STARTS
 * starts cut short whatever ended them (SIGKILL, the OOM killer: no
 * handler runs then). An outcome counts both again from zero.
 *
 * Waiters (request threads giving a client a quick answer) sleep until
 * any job ends or their deadline passes. Thread-safe. */
#ifndef AP_PROXY_JOBS_H
#define AP_PROXY_JOBS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

struct app;
struct store_txn;
struct jobs;

/* JOB_WEBHOOK: oversight events to the teams' webhooks (proxy/webhook.h);
 * its own pool, so a slow receiver never holds up the others. */
enum job_kind { JOB_VALIDATE, JOB_ISSUE, JOB_WEBHOOK, JOB__MAX };

#define JOB_MAX_ID 128
#define JOB_MAX_FAULTS 3    /* faults while it ran: then given up */
#define JOB_MAX_STARTS 10   /* starts cut short: then given up */
#define JOB_DONE (-1LL)     /* runner result: the outcome is recorded */
#define JOBS_FAULT_FILE "faulted-jobs"

/* A claimed job, as its runner gets it (valid during the call). */
struct job {
    char id[JOB_MAX_ID];
    enum job_kind kind;
    const char *target;      /* in id, after the kind prefix */
    const cJSON *rec;        /* the record as claimed */
    unsigned attempts;       /* the runner's own count (jobs_put) */
    unsigned starts;         /* starts cut short since the last outcome,
                                plus this one */
    unsigned faults;         /* of those, ended by a fault of the process */
    unsigned releases;       /* given back without an outcome */
};

/* Runs a claimed job. Returns JOB_DONE when the outcome is recorded (the
 * job was put again or deleted in the transaction of the state change),
 * or the milliseconds after which the job is to run again (it is given
 * back without an outcome; its start counts are kept). */
typedef long long (*job_fn)(struct app *app, const struct job *job);

/* Brings back the jobs that were running when the process stopped, notes
 * the faults <data_dir>/faulted-jobs reports and installs the fault
 * handler; jobs_run then starts n[kind] threads per kind running fn[kind]
 * (after the listener is up). Nothing is loaded into memory: this is
 * O(jobs that were running), whatever the backlog. */
AP_MUST_CHECK ap_err jobs_start(struct app *app, const unsigned *n,
                                const job_fn *fn, struct jobs **out);
/* Starts the worker threads. */
AP_MUST_CHECK ap_err jobs_run(struct jobs *jobs);
/* Raises the number of threads of kind to n (at most 64) once they run
 * (a reload that adds an adapter); fewer than run is a no-op: the extra
 * threads stay until the process stops. *now (may be NULL) gets the
 * number running after the call. Any thread. */
AP_MUST_CHECK ap_err jobs_grow(struct jobs *jobs, enum job_kind kind,
                               unsigned n, unsigned *now);
/* At most max jobs of kind run at once, on its workers and on requests
 * (jobs_run_here) together; never fewer than its threads (the default).
 * Any thread (a reload). Accepts NULL. */
void jobs_set_runs(struct jobs *jobs, enum job_kind kind, unsigned max);
/* The threads of kind running (0 for NULL jobs). Any thread. */
unsigned jobs_threads(struct jobs *jobs, enum job_kind kind);
/* Stops the threads (running jobs finish first). Accepts NULL. */
void jobs_stop(struct jobs *jobs);

/* Writes the job for (kind, target) in txn, due in delay_sec, with its id
 * in id; attempts is the runner's count of earlier tries. An outcome:
 * replaces the job (also the running one) and its start counts. */
AP_MUST_CHECK ap_err jobs_put(struct store_txn *txn, enum job_kind kind,
                              const char *target, unsigned delay_sec,
                              unsigned attempts, char *id, size_t idlen);
/* jobs_put with the delay in milliseconds; retry marks a job that waits
 * because its back end failed (jobs_advance_retries brings those
 * forward). */
AP_MUST_CHECK ap_err jobs_put_ms(struct store_txn *txn, enum job_kind kind,
                                 const char *target, long long delay_ms,
                                 unsigned attempts, bool retry, char *id,
                                 size_t idlen);
/* Ends job id in txn (AP_OK also when it is gone already). */
AP_MUST_CHECK ap_err jobs_del(struct store_txn *txn, const char *id);
/* Wakes the workers of id's kind (after the transaction that wrote it
 * committed); delay_sec is when it is due (unused: the store knows). */
void jobs_kick(struct jobs *jobs, const char *id, unsigned delay_sec);
/* Runs job id (committed, due now) on the calling thread when nobody
 * holds it and a run of its kind may start (fewer run, on workers and
 * requests together, than its threads or jobs_set_runs allows):
 * the request that wrote it waits for its outcome anyway, and a worker's
 * wake-up and the waiter's are saved. false: not run (PostgreSQL, held,
 * no room, gone); jobs_kick it then. */
bool jobs_run_here(struct jobs *jobs, const char *id);
/* Makes every queued job of kind that waits because its back end failed
 * (jobs_put_ms retry) due now, and wakes the workers. *n (may be NULL)
 * gets how many. Jobs being run are left to their runners. */
AP_MUST_CHECK ap_err jobs_advance_retries(struct jobs *jobs,
                                          enum job_kind kind, size_t *n);
/* For a runner that cannot run job now (a concurrency limit): gives it
 * back, due in delay_ms, without counting a release; then the runner
 * returns JOB_DONE. */
void jobs_defer(struct jobs *jobs, const struct job *job, long long delay_ms);
/* Wakes every watch (below). The workers and watches are also subscribed
 * to the store's commits: another instance's commit (a shared PostgreSQL
 * store) that wrote authorizations, orders or certificates wakes every
 * watch, one that wrote jobs wakes the workers. A job that ends here wakes
 * only the watches of its key: the part of its target before the first
 * '/' (a validation "<authz id>/<challenge>": the authorization id; an
 * issuance: the order id). */
void jobs_notify(struct jobs *jobs);

/* A request that waits for the outcome of the jobs of one key (challenge
 * POST, finalize). Begin the watch before reading the state it waits on,
 * so that an outcome between that read and the wait is not missed. The
 * struct lives on the waiter's stack; its members are the module's. */
struct jobs_watch {
    char key[JOB_MAX_ID];
    pthread_cond_t cond;
    bool woken;
    struct jobs_watch *next;
};
/* Starts watching key (jobs may be NULL: the wait only sleeps). */
void jobs_watch_begin(struct jobs *jobs, struct jobs_watch *w,
                      const char *key);
/* Sleeps until a job of the key ended (or any notification) since
 * jobs_watch_begin or the previous wait, or until deadline_ms (monotonic
 * clock) passes, or the jobs stop. */
void jobs_watch_wait(struct jobs *jobs, struct jobs_watch *w,
                     long long deadline_ms);
/* Ends the watch; required after every jobs_watch_begin. */
void jobs_watch_end(struct jobs *jobs, struct jobs_watch *w);

/* True when the runner must give job up instead of running it (too many
 * faults or starts without an outcome). */
bool jobs_given_up(const struct job *job);
/* Backoff for a job given back because its outcome could not be written:
 * 1 s, doubling with each release, at most 60 s. */
long long jobs_backoff_ms(const struct job *job);

/* The kind and target encoded in a job id. */
AP_MUST_CHECK ap_err jobs_parse_id(const char *id, enum job_kind *kind,
                                   const char **target);

/* For the health checks and metrics: the jobs of kind in the store (*queued,
 * counted up to JOBS_COUNT_MAX) and how long the first of them in due order
 * has been due at now_ms (*oldest_wait_ms; 0 when none is due). One read
 * transaction; O(jobs of kind). Any thread. */
#define JOBS_COUNT_MAX 10000000
struct store;
AP_MUST_CHECK ap_err jobs_queue_stats(struct store *st, enum job_kind kind,
                                      long long now_ms, size_t *queued,
                                      long long *oldest_wait_ms);

/* Wall-clock milliseconds (the store's due times). */
long long jobs_now_ms(void);

#endif /* AP_PROXY_JOBS_H */
