/* common/store_int.h: what the engines of store.h share: store.c (the
 * dispatch, the commit subscribers and the LMDB engine), store_pg.c (the
 * PostgreSQL engine) and store_jobs.c (the job queues). Not for any other
 * file (the store unit tests use it to reach the schema steps).
 *
 * The LMDB engine serves one process per data directory, so the claims of
 * running jobs live in memory, in the struct store, with the journal of
 * their starts and ends (<dir>/job-starts): store.c makes and frees them
 * with the store, store_jobs.c alone reads and changes them, under lock.
 * The PostgreSQL engine keeps the claims on the job rows (owner, lease). */
#ifndef AP_COMMON_STORE_INT_H
#define AP_COMMON_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/store.h"

struct store_claims {
    pthread_mutex_t lock;
    char **ids;           /* the claimed job ids */
    size_t n;
    size_t cap;
    int journal_fd;       /* -1 until the first note */
    long long journal_len; /* bytes in the journal as this process wrote
                              them; -1: not known (fstat) */
    char *journal_path;
};

struct store_sub {
    store_commit_fn fn;
    void *arg;
};

struct store_lmdb;      /* common/store.c */
struct store_pg;        /* common/store_pg.c */
struct store_pg_txn;    /* common/store_pg.c */
struct MDB_txn;         /* lmdb.h's, in store.c only */

struct store {
    enum store_engine engine;
    struct store_lmdb *lmdb;
    struct store_pg *pg;
    /* Commit subscribers: called under the read lock, changed under the
     * write lock. */
    pthread_rwlock_t subs_lock;
    struct store_sub subs[STORE_MAX_SUBSCRIBERS];
    size_t n_subs;
    /* Job claims of this process and their journal (LMDB only). */
    struct store_claims claims;
};

struct store_txn {
    struct store *st;
    struct MDB_txn *mdb;    /* LMDB: a read txn, or (write) a child txn of
                               the open batch, or the batch itself for its
                               leader (store.c, group commit) */
    struct store_pg_txn *pg;
    bool write;
    bool failed;        /* LMDB write: an operation failed in a way that
                           makes LMDB refuse the txn (never committed into
                           the batch, which it would poison) */
    bool lead;          /* LMDB write: this thread began the batch and
                           commits it */
    unsigned touched;   /* tables put into (1u << table) */
    size_t bytes;       /* LMDB write: bytes of keys and values put */
};

/* ---- group commit (LMDB, common/store.c) ----
 * The write transactions that arrive together share one LMDB commit (one
 * data sync and one meta write). Each store_begin(st, true) is a nested
 * child txn of the open batch (the top-level LMDB write txn), one at a
 * time; a writer that finds no batch open leads a new one: it begins it,
 * writes in it directly (no child; its abort drops the batch) and, once
 * its write ended, commits it on its thread. store_commit
 * merges the child into the batch and returns once the batch is committed
 * (durable and visible to read txns), with the batch's result. The batch
 * closes when no child is open and either nobody waits to begin one, or
 * STORE_BATCH_MAX_TXNS children or STORE_BATCH_MAX_BYTES bytes of puts
 * are in it. */
#define STORE_BATCH_MAX_TXNS 64
#define STORE_BATCH_MAX_BYTES (4u << 20)

/* For the tests: while hold is true no batch closes (its leader and
 * members wait); false lets it close again. */
void store_batch_hold(struct store *st, bool hold);

/* The claims of st (valid as long as st). */
struct store_claims *store_claims_of(struct store *st);
/* The store txn belongs to. */
struct store *store_txn_store(const struct store_txn *txn);
/* Calls every subscriber of st (store.h, store_commit_fn). */
void store_notify(struct store *st, unsigned tables, bool remote);

/* ---- the PostgreSQL engine (common/store_pg.c) ----
 * The dispatch in store.c checked the arguments (keys, tables) already. */

/* Connects st->pg per cfg; errbuf says why not. */
AP_MUST_CHECK ap_err store_pg_open(struct store *st,
                                   const struct store_config *cfg,
                                   char *errbuf, size_t errlen);
/* Stops the listener, closes the pool, wipes the password. */
void store_pg_close(struct store *st);
AP_MUST_CHECK ap_err store_pg_begin(struct store_txn *txn);
/* Commits (with the NOTIFY of txn->touched) and releases the connection,
 * also on failure. */
AP_MUST_CHECK ap_err store_pg_commit(struct store_txn *txn);
void store_pg_abort(struct store_txn *txn);
AP_MUST_CHECK ap_err store_pg_get(struct store_txn *txn, enum store_table t,
                                  const char *key, char **val, size_t *len);
AP_MUST_CHECK ap_err store_pg_put(struct store_txn *txn, enum store_table t,
                                  const char *key, const void *val,
                                  size_t len, bool exclusive);
AP_MUST_CHECK ap_err store_pg_del(struct store_txn *txn, enum store_table t,
                                  const char *key);
AP_MUST_CHECK ap_err store_pg_scan(struct store_txn *txn, enum store_table t,
                                   const char *prefix, const char *after,
                                   store_scan_fn fn, void *arg);
AP_MUST_CHECK ap_err store_pg_count(struct store_txn *txn,
                                    enum store_table t, size_t *out);
AP_MUST_CHECK ap_err store_pg_usage(struct store *st, size_t *used_bytes);
const char *store_pg_instance(const struct store *st);

/* Job claims on the rows of the jobs table (store_jobs.c). In a read
 * transaction: only looks whether there is one (AP_OK, id set, nothing
 * written). In a write transaction: locks (FOR UPDATE SKIP LOCKED) the first job of the due
 * order whose due key sorts between lo and hi (exclusive) whose claim is
 * free or whose lease ended before now_ms, and writes this instance's
 * claim with a lease to now_ms + the lease time. id (idlen) gets its id,
 * *taken_over whether it had a claim of a dead instance. AP_ENOTFOUND when
 * there is none; *next_ms then gets the earliest time one may be (the due
 * time of the first unclaimed job after hi, or the end of a lease), 0 when
 * none waits. */
AP_MUST_CHECK ap_err store_pg_job_take(struct store_txn *txn,
                                       const char *queue, long long now_ms,
                                       char *id, size_t idlen,
                                       bool *taken_over, long long *next_ms);
/* Clears this instance's claim of id (its own connection, no transaction
 * of the caller's). */
void store_pg_job_untake(struct store *st, const char *id);
/* Whether job id has a claim (of any instance, lease ended or not). */
AP_MUST_CHECK ap_err store_pg_job_taken(struct store_txn *txn, const char *id,
                                        bool *yes);
/* In a write transaction: clears every claim this instance id holds and
 * calls fn with the id of each such job. */
AP_MUST_CHECK ap_err store_pg_job_disown(struct store_txn *txn,
                                         store_scan_fn fn, void *arg);

/* The schema upgrade of store_migrate with a given list of steps (SQL
 * texts; step i makes version i + 1): for the tests of the mechanism. */
AP_MUST_CHECK ap_err store_pg_migrate_steps(const struct store_config *cfg,
                                            const char *const *steps,
                                            size_t n, int *from, int *to,
                                            char *errbuf, size_t errlen);
/* The built-in steps (n gets how many). */
const char *const *store_pg_schema_steps(size_t *n);

#endif /* AP_COMMON_STORE_INT_H */
