/* common/store_group.c: group commit, the write path of the LMDB engine
 * (store_lmdb.h; the rest of the engine is common/store.c).
 *
 * Group commit (store_int.h): write transactions are nested child txns of
 * a batch, a top-level LMDB write txn. The thread whose write finds no
 * batch open leads one: it begins the batch and writes in it directly (no
 * child: nobody is in the batch before it, so its abort or failure drops
 * the batch, which nobody joins after that), and after its write ended it
 * commits the batch itself (LMDB's writer mutex is a
 * robust pthread mutex: the thread that locks it in mdb_txn_begin must
 * unlock it in mdb_txn_commit/abort; the leader does both). A child is
 * used by the thread that began it while it holds the child slot
 * (gc.child_open, under gc.lock: the hand-off orders its use after the
 * previous child's and before the batch's commit). LMDB allows one child
 * per parent, so writers stay serial; what they share is the commit: one
 * fdatasync and one meta write per batch. A lone writer leads a batch of
 * one and commits it on its own thread, with no hand-off at all.
 * store_commit merges the child into the batch (no I/O), frees the slot
 * and waits for the batch's commit; every member gets the batch's result,
 * so a failed batch (nothing of it written) fails all of them. Commit
 * subscribers are then called on each member's own thread, as before,
 * after durability. A member's store_abort drops only its child; a
 * leader's drops the batch (nothing but its writes is in it), and a
 * member that aborts after others committed into the batch (their data
 * it may have read) waits for the batch too, so nothing a writer read is
 * handed on before it is durable.
 */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/store_lmdb.h"

/* A thread waiting for the outcome of the batch it is in (on its stack). */
struct batch_waiter {
    struct batch_waiter *next;
    int mrc;        /* the batch commit's result */
    _Atomic int done;   /* set by the leader once mrc is set; the last
                           thing it touches of the waiter */
};

/* The members of a batch sleep on gc.ended, outside gc.lock (no herd
 * contends for the lock when they wake), and the leader wakes them all
 * with one system call where a semaphore per member took one each. Only
 * one batch has waiters at a time: the next one begins after this one's
 * commit. */
static void
ended_wait(struct group_commit *gc, struct batch_waiter *w)
{
    for (;;) {
        uint32_t seen = atomic_load_explicit(&gc->ended, memory_order_acquire);

        if (atomic_load_explicit(&w->done, memory_order_acquire)) {
            return;
        }
        /* Returns at once (EAGAIN) when the word moved since seen; EINTR
         * and spurious wakes loop. */
        (void)syscall(SYS_futex, &gc->ended, FUTEX_WAIT_PRIVATE, seen, NULL,
                      NULL, 0);
    }
}

static void
ended_wake(struct group_commit *gc)
{
    atomic_fetch_add_explicit(&gc->ended, 1, memory_order_release);
    (void)syscall(SYS_futex, &gc->ended, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
                  NULL, 0);
}

static bool
batch_full_locked(const struct group_commit *gc)
{
    return gc->broken || gc->children >= STORE_BATCH_MAX_TXNS ||
           gc->bytes >= STORE_BATCH_MAX_BYTES;
}

/* What the leader waits for before it commits: no child open, not held,
 * and nobody waiting to begin one unless the batch is full. It is woken
 * only when this becomes true, not at every member's end. */
static bool
may_close_locked(const struct group_commit *gc)
{
    return !gc->child_open && !gc->hold &&
           (gc->waiting == 0 || batch_full_locked(gc));
}

/* The slot is free again (under gc->lock). */
static void
child_end_locked(struct group_commit *gc)
{
    gc->child_open = false;
    if (may_close_locked(gc)) {
        pthread_cond_signal(&gc->work);
    }
    if (gc->waiting > 0 && !batch_full_locked(gc)) {
        pthread_cond_signal(&gc->slot);
    }
}

/* Links w into the open batch's waiters, then drops gc->lock and sleeps
 * until the leader has ended that batch; returns its result, without
 * gc->lock. */
static int
wait_batch_unlock(struct group_commit *gc, struct batch_waiter *w)
{
    w->mrc = 0;
    atomic_init(&w->done, 0);
    w->next = gc->waiters;
    gc->waiters = w;
    pthread_mutex_unlock(&gc->lock);
    ended_wait(gc, w);
    return w->mrc;
}

/* The leader, its own write ended: waits until no child is open and
 * nobody else waits to begin one (or the batch is full), then commits the
 * batch on this thread, the one that began it (an empty batch is aborted:
 * no I/O), and hands every member and waiter the result, which it
 * returns. Under gc->lock, which it drops for the commit. */
static int
leader_close_locked(struct group_commit *gc)
{
    struct batch_waiter *w;
    unsigned members;
    MDB_txn *b;
    int mrc;

    while (!may_close_locked(gc)) {
        pthread_cond_wait(&gc->work, &gc->lock);
    }
    b = gc->batch;
    gc->batch = NULL;
    gc->busy = true;
    w = gc->waiters;
    gc->waiters = NULL;
    members = gc->members;
    gc->members = 0;
    pthread_mutex_unlock(&gc->lock);
    if (members > 0) {
        mrc = mdb_txn_commit(b);    /* the syncs */
    } else {
        mdb_txn_abort(b);
        mrc = 0;
    }
    pthread_mutex_lock(&gc->lock);
    gc->busy = false;
    if (members > 0 && mrc == 0) {
        gc->stats.batches++;
        gc->stats.commits += members;
    } else if (members > 0) {
        gc->stats.failed++;
    }
    if (w != NULL) {
        while (w != NULL) {
            struct batch_waiter *next = w->next;

            w->mrc = mrc;
            /* w may be gone once this is seen */
            atomic_store_explicit(&w->done, 1, memory_order_release);
            w = next;
        }
        ended_wake(gc);
    }
    if (gc->waiting > 0) {
        pthread_cond_signal(&gc->slot);     /* the next leader */
    }
    return mrc;
}

/* Begins a write: a child txn of the open batch, or, when none is open,
 * a new batch led by this thread, which writes in it directly. */
ap_err
store_group_begin(struct store *st, MDB_txn **out, bool *lead)
{
    struct group_commit *gc = &st->lmdb->gc;
    MDB_txn *parent;
    int mrc = 0;

    pthread_mutex_lock(&gc->lock);
    for (int tries = 0;; tries++) {
        *lead = false;
        gc->waiting++;
        for (;;) {
            if (gc->batch == NULL && !gc->busy) {
                MDB_txn *b = NULL;

                /* Lead a new batch (LMDB's writer mutex, this thread). */
                gc->busy = true;
                pthread_mutex_unlock(&gc->lock);
                mrc = mdb_txn_begin(st->lmdb->env, NULL, 0, &b);
                pthread_mutex_lock(&gc->lock);
                gc->busy = false;
                if (mrc != 0) {
                    break;
                }
                gc->batch = b;
                gc->broken = false;
                gc->children = 0;
                gc->bytes = 0;
                *lead = true;
                break;
            }
            if (gc->batch != NULL && !gc->child_open &&
                !batch_full_locked(gc)) {
                break;
            }
            pthread_cond_wait(&gc->slot, &gc->lock);
        }
        gc->waiting--;
        if (mrc != 0) {
            if (gc->waiting > 0) {
                pthread_cond_signal(&gc->slot);
            }
            if (may_close_locked(gc)) {
                pthread_cond_signal(&gc->work);
            }
            break;
        }
        gc->child_open = true;
        gc->children++;
        parent = gc->batch;
        pthread_mutex_unlock(&gc->lock);
        if (*lead) {
            /* The leader writes in the batch itself: nobody is in it
             * before it (it holds the slot), so its abort or failure
             * drops the batch (broken: nobody joins it after), and
             * LMDB's child (some MiB of dirty and free page lists,
             * malloc'ed and freed) is saved for every batch. */
            *out = parent;
            return AP_OK;
        }
        mrc = mdb_txn_begin(st->lmdb->env, parent, 0, out);
        if (mrc == 0) {
            /* The slot is this thread's (child_open): nothing more to
             * note under gc.lock, which is not taken again. */
            return AP_OK;
        }
        pthread_mutex_lock(&gc->lock);
        /* MDB_BAD_TXN: a child's failure marked the batch unusable (its
         * commit fails); the next batch may take this one. */
        gc->broken = true;
        child_end_locked(gc);
        if (*lead) {
            (void)leader_close_locked(gc);
            *lead = false;
        }
        if (mrc != MDB_BAD_TXN || tries == 2) {
            break;
        }
    }
    pthread_mutex_unlock(&gc->lock);
    return store_lmdb_rc(mrc, "txn_begin", st);
}

ap_err
store_group_commit(struct store_txn *txn)
{
    struct group_commit *gc = &txn->st->lmdb->gc;
    struct batch_waiter w;
    int mrc;

    if (txn->lead) {
        /* It wrote in the batch itself (store_group_begin): a failed one
         * drops the batch (broken below), which holds its writes only. */
        mrc = txn->failed ? MDB_BAD_TXN : 0;
    } else if (txn->failed) {
        /* Committing it would mark the batch unusable: drop it alone. */
        mdb_txn_abort(txn->mdb);
        mrc = MDB_BAD_TXN;
    } else {
        mrc = mdb_txn_commit(txn->mdb);     /* into the batch: no I/O */
    }
    pthread_mutex_lock(&gc->lock);
    if (mrc == 0) {
        gc->members++;
        gc->bytes += txn->bytes;
    } else {
        gc->broken = true;  /* it may have marked the batch unusable */
    }
    child_end_locked(gc);
    if (txn->lead) {
        int brc = leader_close_locked(gc);

        if (mrc == 0) {
            mrc = brc;
        }
        pthread_mutex_unlock(&gc->lock);
    } else if (mrc == 0) {
        mrc = wait_batch_unlock(gc, &w);
    } else {
        pthread_mutex_unlock(&gc->lock);
    }
    return store_lmdb_rc(mrc, "commit", txn->st);
}

void
store_group_abort(struct store_txn *txn)
{
    struct group_commit *gc = &txn->st->lmdb->gc;
    struct batch_waiter w;

    if (!txn->lead) {
        mdb_txn_abort(txn->mdb);
    }
    pthread_mutex_lock(&gc->lock);
    if (txn->lead) {
        /* Its writes are in the batch (store_group_begin): nobody may
         * join it, and with no member the leader aborts it. */
        gc->broken = true;
    }
    child_end_locked(gc);
    if (txn->lead) {
        (void)leader_close_locked(gc);
        pthread_mutex_unlock(&gc->lock);
    } else if (gc->members > 0) {
        /* It may have read their writes: not before they are durable. */
        (void)wait_batch_unlock(gc, &w);
    } else {
        pthread_mutex_unlock(&gc->lock);
    }
}

void
store_stats(struct store *st, struct store_stats *out)
{
    struct group_commit *gc;

    memset(out, 0, sizeof(*out));
    if (st->lmdb == NULL) {
        return;
    }
    gc = &st->lmdb->gc;
    pthread_mutex_lock(&gc->lock);
    *out = gc->stats;
    out->waiting = gc->waiting;
    out->members = gc->members;
    out->children = gc->batch != NULL ? gc->children : 0;
    out->writing = gc->child_open;
    pthread_mutex_unlock(&gc->lock);
    pthread_mutex_lock(&st->lmdb->idle_lock);
    out->idle_readers = (unsigned)st->lmdb->n_idle;
    pthread_mutex_unlock(&st->lmdb->idle_lock);
}

void
store_batch_hold(struct store *st, bool hold)
{
    struct group_commit *gc;

    if (st->lmdb == NULL) {
        return;
    }
    gc = &st->lmdb->gc;
    pthread_mutex_lock(&gc->lock);
    gc->hold = hold;
    pthread_cond_broadcast(&gc->work);
    pthread_mutex_unlock(&gc->lock);
}
