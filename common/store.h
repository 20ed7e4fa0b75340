/* common/store.h: durable state, in records, indexes and short
 * transactions.
 *
 * Two engines stand behind this interface, chosen at store_open: LMDB
 * (common/store.c, the embedded default for one machine; the only file
 * that includes lmdb.h) and PostgreSQL (common/store_pg.c, with libpq
 * loaded when first opened by store_pg_lib.c, the only files that include
 * libpq-fe.h; several instances share one database). The
 * rest of the code sees named tables of string keys and byte values (JSON
 * records) and never knows which engine it uses. Values are copied out
 * before a transaction ends. A transaction belongs to the thread that
 * began it and never spans a network call. Every commit is durable (LMDB:
 * fsync; PostgreSQL: synchronous_commit on) before it returns.
 *
 * With LMDB the write transactions that arrive together share one LMDB
 * commit (group commit, common/store.c): each still returns from
 * store_commit only once its data is durable, with that commit's result.
 *
 * Write transactions are serial: LMDB has one writer; with PostgreSQL
 * every write transaction first takes one cluster-wide transaction-scoped
 * advisory lock, so the writers of every instance run one at a time, and a
 * read transaction is a REPEATABLE READ READ ONLY snapshot (docs/ha.md,
 * "How each invariant holds"). */
#ifndef AP_COMMON_STORE_H
#define AP_COMMON_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

#define STORE_MAX_KEY 400 /* below LMDB's 511-byte key limit; ASCII for
                            PostgreSQL (text COLLATE "C") */
#define STORE_MAX_RECORD (16u << 20) /* bytes of one JSON record */

enum store_table {
    STORE_ACCOUNTS,    /* account id -> account record */
    STORE_ACCOUNT_KEYS, /* JWK thumbprint -> account id */
    STORE_ORDERS,      /* order id -> order record */
    STORE_ACCOUNT_ORDERS, /* "<account id>/<order id>" -> "" (earlier
                             versions: "<account id>/<created>/<order id>") */
    STORE_AUTHZS,      /* authz id -> authz record (challenges inside) */
    STORE_CERTS,       /* cert id -> certificate record */
    STORE_SERIALS,     /* serial hex -> cert id */
    STORE_JOBS,        /* job id -> job record */
    STORE_META,        /* schema version and other singletons */
    STORE_ACCOUNT_AUTHZS, /* authz_index_key(account, identifier) (before:
                             "<account id>/<type>/<value>") -> newest authz id */
    STORE_EAB,         /* EAB key id -> EAB key record (team, policy) */
    STORE_AUDIT,       /* "%020llu" seq -> audit line (the outbox) */
    STORE_JOBS_DUE,    /* "<queue>/<due ms, 15 digits>/<job id>" -> "" */
    STORE_RECONCILE,   /* order id -> possible duplicate at the PKI */
    STORE__MAX
};

struct store;
struct store_txn;

enum store_engine {
    STORE_ENGINE_LMDB = 0,  /* the default */
    STORE_ENGINE_POSTGRESQL,
};

#define STORE_MAX_INSTANCE 63   /* bytes of an instance id */
#define STORE_MAX_SUBSCRIBERS 8 /* commit subscribers of one store */

/* What store_open needs; every string is borrowed for the call only. */
struct store_config {
    enum store_engine engine;
    const char *dir;        /* LMDB: the environment (must exist); both:
                               the data directory's db/ (job journal) */
    size_t map_size_mb;     /* LMDB map size */
    const char *conninfo;   /* PostgreSQL: a libpq connection string */
    const char *password;   /* PostgreSQL: the password (a secret: it is
                               copied, never logged, wiped at close); NULL:
                               none or in conninfo / PGPASSFILE */
    const char *instance;   /* PostgreSQL: this instance's id, stable across
                               restarts ([A-Za-z0-9._-], at most
                               STORE_MAX_INSTANCE bytes); NULL: the host
                               name and a hash of dir */
    unsigned pool_size;     /* PostgreSQL: connections (0: 8) */
    unsigned lease_ms;      /* PostgreSQL: a job claim's lease (0: 30000) */
};

/* Called after each successful commit of a write transaction with the
 * bit (1u << table) set for every table it put a record into (deletions
 * do not count). remote false: a commit of this process, on the
 * committing thread, outside the writer lock. remote true (PostgreSQL
 * only): a commit of another instance, on the store's listener thread,
 * shortly after it; also once with every bit set after the listener
 * connected again (notifications may have been lost meanwhile). A
 * subscriber must not call store_on_commit / store_off_commit. */
typedef void (*store_commit_fn)(void *arg, unsigned tables, bool remote);

/* Opens the store cfg names: LMDB creates the environment in cfg->dir;
 * PostgreSQL connects its pool, gives an empty database the schema, refuses
 * a database whose schema is older ("acmeproxy migrate") or newer than
 * this build, and starts the listener thread (notifications of other
 * instances' commits, renewal of this instance's job leases). errbuf gets
 * the reason on failure (never the password). */
AP_MUST_CHECK ap_err store_open(const struct store_config *cfg,
                                struct store **out, char *errbuf,
                                size_t errlen);
/* Closes; no transaction may be open. Accepts NULL. */
void store_close(struct store *st);

/* The engine of st. */
enum store_engine store_engine_of(const struct store *st);
/* This instance's id (PostgreSQL), "" with LMDB. */
const char *store_instance(const struct store *st);

/* Adds a commit subscriber (at most STORE_MAX_SUBSCRIBERS; AP_ETOOBIG
 * past that). Any thread; the subscriber may be called before this
 * returns. */
AP_MUST_CHECK ap_err store_on_commit(struct store *st, store_commit_fn fn,
                                     void *arg);
/* Removes the subscriber (fn, arg); once it returns, fn is not running
 * and not called again. Accepts one that is not there. */
void store_off_commit(struct store *st, store_commit_fn fn, void *arg);

/* Begins a transaction; a write transaction waits for the one writer slot
 * (PostgreSQL: a pool connection, then the cluster-wide writer lock). A
 * lost PostgreSQL connection is AP_ESTORE (the next transaction connects
 * again). *out set only on AP_OK. */
AP_MUST_CHECK ap_err store_begin(struct store *st, bool write,
                                 struct store_txn **out);
/* Commits (durably) and frees txn, also on failure (AP_ESTORE). LMDB: the
 * write transactions that began meanwhile are committed with it, and it
 * returns once that shared commit is durable; when that commit fails,
 * every one of them fails (none of them was written). */
AP_MUST_CHECK ap_err store_commit(struct store_txn *txn);
/* Abandons and frees txn. Accepts NULL. LMDB: a write transaction that
 * began after others committed into the same shared commit (whose data it
 * may have read) returns once that commit is over. */
void store_abort(struct store_txn *txn);

/* Copies the value of key into a new NUL-terminated buffer (caller frees).
 * AP_ENOTFOUND when absent. */
AP_MUST_CHECK ap_err store_get(struct store_txn *txn, enum store_table t,
                               const char *key, char **val, size_t *len);
/* Writes key = val. With exclusive, AP_EEXIST when key is there. */
AP_MUST_CHECK ap_err store_put(struct store_txn *txn, enum store_table t,
                               const char *key, const void *val, size_t len,
                               bool exclusive);
/* AP_ENOTFOUND when absent. */
AP_MUST_CHECK ap_err store_del(struct store_txn *txn, enum store_table t,
                               const char *key);

/* Called for each key of a scan, in key order; key and val are valid only
 * during the call. Return true to go on, false to stop. */
typedef bool (*store_scan_fn)(void *arg, const char *key, const char *val,
                              size_t len);
/* Visits the keys that start with prefix and sort after after (NULL: from
 * the first). */
AP_MUST_CHECK ap_err store_scan(struct store_txn *txn, enum store_table t,
                                const char *prefix, const char *after,
                                store_scan_fn fn, void *arg);

/* Record helpers: the value is a JSON object of at most STORE_MAX_RECORD
 * bytes (AP_ETOOBIG above). The text copies they make are wiped before
 * they are freed (records may hold secrets). */
AP_MUST_CHECK ap_err store_get_json(struct store_txn *txn, enum store_table t,
                                    const char *key, cJSON **out);
AP_MUST_CHECK ap_err store_put_json(struct store_txn *txn, enum store_table t,
                                    const char *key, const cJSON *obj,
                                    bool exclusive);

/* Writes a consistent, compacted copy of the whole environment to the
 * file path (created, must not exist), while readers and writers go on
 * (mdb_env_copy2 with MDB_CP_COMPACT). With PostgreSQL: AP_EINVAL and
 * errbuf says to use pg_dump. errbuf says why on failure. */
AP_MUST_CHECK ap_err store_backup(struct store *st, const char *path,
                                  char *errbuf, size_t errlen);

/* The map's size and the bytes of it in use (pages up to the last one
 * written), for the metrics; PostgreSQL: 0 and pg_database_size. Any
 * thread, no transaction needed. */
AP_MUST_CHECK ap_err store_usage(struct store *st, size_t *map_bytes,
                                 size_t *used_bytes);

/* Counters of the LMDB engine's write path (all 0 with PostgreSQL). */
struct store_stats {
    unsigned long long commits;  /* write txns committed (durable) */
    unsigned long long batches;  /* LMDB commits that carried them */
    unsigned long long failed;   /* batches whose LMDB commit failed (every
                                    member failed) */
    unsigned waiting;            /* threads waiting to begin a write now */
    unsigned members;            /* write txns committed into the open batch
                                    (waiting for its commit) now */
    unsigned children;           /* write txns begun in the open batch */
    bool writing;                /* one of them is open now */
    unsigned idle_readers;       /* read txns ended and kept for reuse
                                    (store_lmdb.h) now */
};

/* A snapshot of st's counters (the metrics, the tests); any thread. */
void store_stats(struct store *st, struct store_stats *out);

/* Number of records in t (for the admin view and the benchmark). */
AP_MUST_CHECK ap_err store_count(struct store_txn *txn, enum store_table t,
                                 size_t *out);

/* Deletes in txn (a write transaction) the first max (1..1024) keys of t
 * that start with prefix and sort before cutoff, in key order: the
 * pruning of records whose keys begin with a time (nonce marks, rate
 * windows). Keys are collected first, then deleted. *n (may be NULL) gets
 * how many went. */
AP_MUST_CHECK ap_err store_prune_before(struct store_txn *txn,
                                        enum store_table t,
                                        const char *prefix,
                                        const char *cutoff, size_t max,
                                        size_t *n);

/* Copies every record of every table of from into to, in one write
 * transaction of to (and one read transaction of from). Refuses (AP_EEXIST,
 * errbuf names the table) a target with any record. counts (may be NULL)
 * gets the records copied per table. Jobs arrive unclaimed. */
AP_MUST_CHECK ap_err store_copy(struct store *from, struct store *to,
                                size_t counts[STORE__MAX], char *errbuf,
                                size_t errlen);
/* The name of table t ("accounts", ...). */
const char *store_table_name(enum store_table t);

/* PostgreSQL: applies the schema steps the database lacks, each in its own
 * transaction under the writer lock, recording each version; *from and
 * *to get the versions before and after. An empty database gets them all.
 * AP_EINVAL with LMDB (its schema is made at open). */
AP_MUST_CHECK ap_err store_migrate(const struct store_config *cfg, int *from,
                                   int *to, char *errbuf, size_t errlen);

/* ---- jobs: durable work in due order --------------------------------
 * (common/store_jobs.c, built on the records and scans above)
 *
 * A job is a JSON record in STORE_JOBS under its id, "<queue>:<name>"
 * (queue: 1..8 characters before the first ':'), plus its place in its
 * queue's due order (STORE_JOBS_DUE), so that claiming the next due job
 * costs one ordered lookup (O(log n)) however many jobs wait, and nothing
 * is loaded at start. The store owns the record members "dueMs" (when it
 * is due, milliseconds since the epoch), "starts" (starts that ended with
 * the death of the process, store_job_recover), "faults" (those that died
 * of a fault, store_job_fault) and "releases"; every other member is the
 * caller's.
 *
 * "Claim one due job" (store_job_claim) is the contract an engine gives:
 * no two workers ever hold one job, and a claim's start is on record
 * before the job runs, so that a job that kills the process is seen at the
 * next start. The PostgreSQL engine claims with SELECT ... FOR UPDATE SKIP
 * LOCKED in the due order and writes the claim (owner instance, lease
 * expiry) on the job's row; the listener thread renews the leases of the
 * running jobs; a claim whose lease expired (its instance died) is taken
 * by another instance, which counts the dead start in "starts" (as
 * store_job_recover does for LMDB). The LMDB engine serves one process
 * per data directory: its
 * claims live in memory, and each start and end is appended (write(2), not
 * synced) to the journal <dir>/job-starts, which outlives the death of the
 * process without costing a synced commit per job. A runner ends a claim
 * with store_job_unclaim after it recorded its outcome (store_job_put or
 * store_job_del in the transaction of its change) or gave the job back
 * (store_job_release). */

#define STORE_JOB_MAX_QUEUE 8

/* Writes job id (an outcome: "starts", "faults" and "releases" start
 * again at 0), due at due_ms, with the caller's members of rec (borrowed).
 * Replaces a job that is there. AP_EINVAL when id has no queue. */
AP_MUST_CHECK ap_err store_job_put(struct store_txn *txn, const char *id,
                                   long long due_ms, const cJSON *rec);
/* Removes job id, record and due entry. AP_ENOTFOUND when absent. */
AP_MUST_CHECK ap_err store_job_del(struct store_txn *txn, const char *id);
/* Claims the first job of queue due at now_ms or earlier that is not
 * claimed, and notes its start (journal). On AP_OK id (idlen >=
 * STORE_MAX_KEY + 1) and *rec (the record, "starts" counting this start
 * too; caller deletes) are set, and *next_ms (may be NULL) gets when the
 * next unclaimed job of the queue is due, or 0 when none waits (so the
 * caller wakes another worker only for a job there is; PostgreSQL does
 * not look and answers now_ms). AP_ENOTFOUND when none is due; *next_ms
 * then gets when the first unclaimed job is due, or 0 when none waits
 * (PostgreSQL: or, when sooner, the end of the first lease of a claimed
 * job of the queue, when it may be taken over). Thread-safe (no
 * transaction: the engine takes its own). */
AP_MUST_CHECK ap_err store_job_claim(struct store *st, const char *queue,
                                     long long now_ms, char *id,
                                     size_t idlen, cJSON **rec,
                                     long long *next_ms);
/* Claims job id when it is due at now_ms and nobody holds it, as
 * store_job_claim does (*rec: the record, this start counted; caller
 * deletes). AP_ENOTFOUND when it is gone, not due or held, and always on
 * PostgreSQL (its claims are taken in the due order only): a worker runs
 * it then. Thread-safe. */
AP_MUST_CHECK ap_err store_job_claim_id(struct store *st, const char *id,
                                        long long now_ms, cJSON **rec);
/* Ends the claim of id (notes its end). Accepts ids not claimed. */
void store_job_unclaim(struct store *st, const char *id);
/* Gives a job back without an outcome, due at due_ms; with ran, counts one
 * more release (the caller's backoff). AP_ENOTFOUND when absent. The
 * claim, if any, stays until store_job_unclaim. */
AP_MUST_CHECK ap_err store_job_release(struct store_txn *txn, const char *id,
                                       long long due_ms, bool ran);
/* Makes a job that nobody runs due at due_ms when that is sooner than it
 * is now. AP_ENOTFOUND when absent or claimed (its runner decides). */
AP_MUST_CHECK ap_err store_job_advance(struct store_txn *txn, const char *id,
                                       long long due_ms);
/* Counts one fault against job id (the process died of a fault while it
 * ran). AP_ENOTFOUND when absent. */
AP_MUST_CHECK ap_err store_job_fault(struct store_txn *txn, const char *id);
/* The due time of the first job of queue (claimed or not). AP_ENOTFOUND
 * when the queue is empty. */
AP_MUST_CHECK ap_err store_job_next_due(struct store_txn *txn,
                                        const char *queue,
                                        long long *due_ms);
/* Visits the jobs of queue in due order (id, record text). */
AP_MUST_CHECK ap_err store_job_scan(struct store_txn *txn, const char *queue,
                                    store_scan_fn fn, void *arg);
/* At the start of the serving process: every job whose start the journal
 * has without an end was running when the process died: its "starts"
 * counts one more and it is due at now_ms (*n: how many). Empties the
 * journal. Also builds the due order of records written by an older
 * version (a "due" in seconds, no index). PostgreSQL: the jobs this
 * instance id still owns (claimed in its previous life) are the ones. */
AP_MUST_CHECK ap_err store_job_recover(struct store_txn *txn,
                                       long long now_ms, size_t *n);

#endif /* AP_COMMON_STORE_H */
