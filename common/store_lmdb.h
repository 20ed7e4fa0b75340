/* common/store_lmdb.h: what the LMDB engine's two files share:
 * common/store.c (open, close, transactions, records, scans) and
 * common/store_group.c (group commit: the write transactions). Not for any
 * other file; with store.c and store_group.c the only includer of lmdb.h.
 */
#ifndef AP_COMMON_STORE_LMDB_H
#define AP_COMMON_STORE_LMDB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "common/store_int.h"

struct batch_waiter;    /* common/store_group.c */

struct group_commit {
    pthread_mutex_t lock;   /* everything below */
    pthread_cond_t work;    /* to the leader: it may close the batch now
                               (may_close_locked became true) */
    pthread_cond_t slot;    /* to beginners: a batch or the slot is free */
    bool hold;              /* store_batch_hold */
    MDB_txn *batch;         /* the open batch, NULL while none is */
    bool busy;              /* the leader is beginning or committing the
                               batch outside the lock */
    bool child_open;        /* a child of batch is in use */
    bool broken;            /* batch takes no more children (a child's
                               begin or commit failed) */
    unsigned waiting;       /* threads waiting to begin a child */
    unsigned children;      /* begun in batch */
    size_t bytes;           /* put by its members */
    unsigned members;       /* children committed into batch */
    struct batch_waiter *waiters;   /* members and aborters of batch but
                                       its leader */
    _Atomic uint32_t ended;         /* bumped at the end of each batch: the
                                       word its waiters sleep on (futex),
                                       outside gc.lock */
    struct store_stats stats;
};

/* Read transactions ended are kept for the next store_begin(read), reset
 * (mdb_txn_reset: no snapshot held, the reader slot kept), up to this
 * many: a read begins with mdb_txn_renew, no malloc and no reader-table
 * lock. MDB_NOTLS (store.c) lets any thread renew any of them. */
#define STORE_IDLE_READERS 32

struct store_lmdb {
    MDB_env *env;
    MDB_dbi dbi[STORE__MAX];
    size_t map_size_mb;
    struct group_commit gc;
    pthread_mutex_t idle_lock;  /* idle, n_idle */
    struct store_txn *idle[STORE_IDLE_READERS]; /* reset read txns */
    size_t n_idle;
};

/* AP_OK for 0, AP_ENOTFOUND, AP_EEXIST, else AP_ESTORE with the LMDB error
 * logged (what says which call; MDB_MAP_FULL says to raise map_size_mb). */
AP_MUST_CHECK ap_err store_lmdb_rc(int rc, const char *what,
                                   const struct store *st);

/* Begins a write (common/store_group.c): a child txn of the open batch,
 * or, when none is open, a new batch led by this thread (*lead), which
 * writes in the batch itself (*out is the batch, no child). */
AP_MUST_CHECK ap_err store_group_begin(struct store *st, MDB_txn **out,
                                       bool *lead);
/* Merges txn's child into its batch and returns once the batch is
 * committed, with the batch's result; a leader commits the batch. */
AP_MUST_CHECK ap_err store_group_commit(struct store_txn *txn);
/* Drops txn's child; a leader's abort drops the batch (its writes only:
 * nobody joined it before, nobody joins it after). */
void store_group_abort(struct store_txn *txn);

#endif
