/* proxy/jobs.h: durable background work (validations and issuances).
 *
 * A job is a record in the store's jobs table, written in the same
 * transaction as the state change that needs it, and an entry in an
 * in-memory queue ordered by due time. After a restart every stored job is
 * queued again, so no accepted challenge or finalized order is forgotten.
 * Each kind has its own pool of threads, so slow PKI calls never hold up
 * validations. A job's runner removes or reschedules its record. Waiters
 * (request threads giving a client a quick answer) sleep until any job
 * ends or their deadline passes. Thread-safe. */
#ifndef AP_PROXY_JOBS_H
#define AP_PROXY_JOBS_H

#include <stddef.h>

#include "common/err.h"

struct app;
struct store_txn;
struct jobs;

enum job_kind { JOB_VALIDATE, JOB_ISSUE, JOB__MAX };

#define JOB_MAX_ID 128

/* Runs the job id (its record may be gone: then it does nothing). */
typedef void (*job_fn)(struct app *app, const char *id);

/* Starts n[kind] threads per kind running fn[kind], and queues every job
 * already stored. */
AP_MUST_CHECK ap_err jobs_start(struct app *app, const unsigned *n,
                                const job_fn *fn, struct jobs **out);
/* Stops the threads (running jobs finish first). Accepts NULL. */
void jobs_stop(struct jobs *jobs);

/* Writes the job record for (kind, target) in txn, due in delay_sec, and
 * its id into id. attempts counts earlier tries. */
AP_MUST_CHECK ap_err jobs_put(struct store_txn *txn, enum job_kind kind,
                              const char *target, unsigned delay_sec,
                              unsigned attempts, char *id, size_t idlen);
/* Queues id (after the transaction that wrote it committed). */
void jobs_kick(struct jobs *jobs, const char *id, unsigned delay_sec);
/* Tells waiters that some job ended. */
void jobs_notify(struct jobs *jobs);
/* Returns the current completion generation (for jobs_wait). */
unsigned long long jobs_generation(struct jobs *jobs);
/* Sleeps until the generation differs from gen or deadline_ms (monotonic
 * clock) passes. Returns the generation it saw. */
unsigned long long jobs_wait(struct jobs *jobs, unsigned long long gen,
                             long long deadline_ms);

/* The kind and target encoded in a job id. */
AP_MUST_CHECK ap_err jobs_parse_id(const char *id, enum job_kind *kind,
                                   const char **target);

#endif /* AP_PROXY_JOBS_H */
