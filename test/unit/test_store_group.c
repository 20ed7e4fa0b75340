/* test/unit/test_store_group.c: group commit of the LMDB store
 * (common/store.c, store_int.h): concurrent write transactions share one
 * LMDB commit, and each store_commit still returns only once its data is
 * durable, with its batch's result.
 *
 * The tests that need several members in one batch hold the batch open
 * with store_batch_hold (the test hook of store_int.h) until the members
 * are in (store_stats says when), so what they check does not depend on
 * timing; the first writer of a batch leads it, so the main thread never
 * writes while a hold is on. Threads never call cmocka's asserts: they record what happened
 * and the main thread checks it. Every wait is bounded (WAIT_MS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"
#include "test/unit/tmpdir.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/store.h"
#include "common/store_int.h"

#define MAP_MB 16
#define WAIT_MS 20000

struct fixture {
    char dir[64];
    struct store *st;
};


static int
fixture_setup(void **state, size_t map_mb)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct store_config sc = { 0 };
    char errbuf[256] = "";

    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_group.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    sc.dir = f->dir;
    sc.map_size_mb = map_mb;
    if (store_open(&sc, &f->st, errbuf, sizeof(errbuf)) != AP_OK) {
        print_error("store_open: %s\n", errbuf);
        tmpdir_remove(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return fixture_setup(state, MAP_MB);
}

/* A map of 1 MiB: 256 pages, filled by one large value. */
static int
setup_tiny(void **state)
{
    return fixture_setup(state, 1);
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->st);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    (void)nanosleep(&ts, NULL);
}

/* Waits until the open batch has members committed into it, children
 * begun, and none of them open; false after WAIT_MS. */
static bool
wait_batch(struct store *st, unsigned members, unsigned children)
{
    struct store_stats s;

    for (int i = 0; i < WAIT_MS; i++) {
        store_stats(st, &s);
        if (s.members == members && s.children == children && !s.writing) {
            return true;
        }
        sleep_ms(1);
    }
    print_error("batch: members %u (want %u), children %u (want %u)\n",
                s.members, members, s.children, children);
    return false;
}

/* Whether key is in t, in a read transaction begun now. */
static bool
readable(struct store *st, enum store_table t, const char *key)
{
    struct store_txn *txn = NULL;
    char *val = NULL;
    ap_err rc;

    assert_int_equal(store_begin(st, false, &txn), AP_OK);
    rc = store_get(txn, t, key, &val, NULL);
    store_abort(txn);
    free(val);
    assert_true(rc == AP_OK || rc == AP_ENOTFOUND);
    return rc == AP_OK;
}

/* ---- one writer thread: begin, put, then commit or abort ---------- */

struct writer {
    pthread_t thread;
    struct store *st;
    enum store_table table;
    char key[64];
    const void *val;
    size_t len;
    bool exclusive;
    bool abort;         /* store_abort instead of store_commit */
    ap_err begin_rc;
    ap_err put_rc;
    ap_err commit_rc;   /* of store_commit; AP_OK when it aborted */
    bool returned;      /* store_commit / store_abort returned */
    pthread_mutex_t lock;
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    struct store_txn *txn = NULL;
    ap_err rc;

    w->begin_rc = store_begin(w->st, true, &txn);
    if (w->begin_rc != AP_OK) {
        return NULL;
    }
    w->put_rc = store_put(txn, w->table, w->key, w->val, w->len,
                          w->exclusive);
    if (w->abort || w->put_rc != AP_OK) {
        store_abort(txn);
        rc = AP_OK;
    } else {
        rc = store_commit(txn);
    }
    pthread_mutex_lock(&w->lock);
    w->commit_rc = rc;
    w->returned = true;
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void
writer_start(struct writer *w, struct store *st, enum store_table t,
             const char *key, const char *val, bool exclusive, bool abort)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    w->st = st;
    w->table = t;
    snprintf(w->key, sizeof(w->key), "%s", key);
    w->val = val;
    w->len = strlen(val);
    w->exclusive = exclusive;
    w->abort = abort;
    w->begin_rc = AP_EINTERNAL;
    w->put_rc = AP_EINTERNAL;
    w->commit_rc = AP_EINTERNAL;
    assert_int_equal(pthread_create(&w->thread, NULL, writer_main, w), 0);
}

static bool
writer_returned(struct writer *w)
{
    bool r;

    pthread_mutex_lock(&w->lock);
    r = w->returned;
    pthread_mutex_unlock(&w->lock);
    return r;
}

static void
writer_join(struct writer *w)
{
    assert_int_equal(pthread_join(w->thread, NULL), 0);
    pthread_mutex_destroy(&w->lock);
}

/* ---- many threads, each its own keys ------------------------------- */

#define N_THREADS 8
#define N_PER_THREAD 200

struct many {
    pthread_t thread;
    struct store *st;
    int id;
    int committed;      /* commits that returned AP_OK */
    int seen;           /* of them, seen in a read txn right after */
};

static void *
many_main(void *arg)
{
    struct many *m = arg;

    for (int i = 0; i < N_PER_THREAD; i++) {
        struct store_txn *txn = NULL;
        char key[64];

        snprintf(key, sizeof(key), "t%d/%04d", m->id, i);
        if (store_begin(m->st, true, &txn) != AP_OK) {
            continue;
        }
        if (store_put(txn, STORE_META, key, key, strlen(key), true) !=
            AP_OK) {
            store_abort(txn);
            continue;
        }
        if (store_commit(txn) != AP_OK) {
            continue;
        }
        m->committed++;
        /* Durable and visible as store_commit returns. */
        if (store_begin(m->st, false, &txn) == AP_OK) {
            char *val = NULL;

            if (store_get(txn, STORE_META, key, &val, NULL) == AP_OK &&
                strcmp(val, key) == 0) {
                m->seen++;
            }
            free(val);
            store_abort(txn);
        }
    }
    return NULL;
}

static void
test_many_threads(void **state)
{
    struct fixture *f = *state;
    struct many m[N_THREADS];
    struct store_stats before;
    struct store_stats after;
    struct store_txn *txn = NULL;
    size_t n = 0;

    store_stats(f->st, &before);
    /* The first commits of every thread wait in one batch: at least one
     * batch has N_THREADS members, whatever the scheduler does after. */
    store_batch_hold(f->st, true);
    for (int i = 0; i < N_THREADS; i++) {
        memset(&m[i], 0, sizeof(m[i]));
        m[i].st = f->st;
        m[i].id = i;
        assert_int_equal(pthread_create(&m[i].thread, NULL, many_main,
                                        &m[i]),
                         0);
    }
    assert_true(wait_batch(f->st, N_THREADS, N_THREADS));
    store_batch_hold(f->st, false);
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(m[i].thread, NULL), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(m[i].committed, N_PER_THREAD);
        assert_int_equal(m[i].seen, N_PER_THREAD);
    }
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(store_count(txn, STORE_META, &n), AP_OK);
    store_abort(txn);
    /* Every key, and the schema version. */
    assert_int_equal(n, N_THREADS * N_PER_THREAD + 1);
    store_stats(f->st, &after);
    assert_int_equal(after.commits - before.commits,
                     N_THREADS * N_PER_THREAD);
    assert_int_equal(after.failed, before.failed);
    assert_true(after.batches - before.batches <=
                N_THREADS * N_PER_THREAD - (N_THREADS - 1));
    print_message("%d commits in %llu batches\n", N_THREADS * N_PER_THREAD,
                  after.batches - before.batches);
}

/* ---- a single writer: a batch of one, no waiting for others -------- */

static void
test_single(void **state)
{
    struct fixture *f = *state;
    struct store_stats before;
    struct store_stats after;
    struct store_txn *txn = NULL;

    store_stats(f->st, &before);
    for (int i = 0; i < 5; i++) {
        char key[16];

        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
        assert_int_equal(store_put(txn, STORE_META, key, "v", 1, false),
                         AP_OK);
        assert_int_equal(store_commit(txn), AP_OK);
        assert_true(readable(f->st, STORE_META, key));
    }
    /* An aborted write alone costs no commit. */
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_put(txn, STORE_META, "gone", "v", 1, false),
                     AP_OK);
    store_abort(txn);
    /* A read txn inside a write txn of the same thread (MDB_NOTLS), and
     * a write inside a read, work as before. */
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_put(txn, STORE_META, "nested", "v", 1, false),
                     AP_OK);
    assert_false(readable(f->st, STORE_META, "nested"));
    assert_int_equal(store_commit(txn), AP_OK);
    store_stats(f->st, &after);
    assert_int_equal(after.commits - before.commits, 6);
    assert_int_equal(after.batches - before.batches, 6);
    assert_false(readable(f->st, STORE_META, "gone"));
    assert_true(readable(f->st, STORE_META, "nested"));
}

/* ---- an aborted member among committed ones ------------------------ */

static void
test_abort_member(void **state)
{
    struct fixture *f = *state;
    struct writer a;
    struct writer b;
    struct writer c;
    struct store_stats before;
    struct store_stats after;

    store_stats(f->st, &before);
    store_batch_hold(f->st, true);
    writer_start(&a, f->st, STORE_META, "a", "1", false, false);
    assert_true(wait_batch(f->st, 1, 1));
    writer_start(&b, f->st, STORE_META, "b", "2", false, true);
    assert_true(wait_batch(f->st, 1, 2));
    writer_start(&c, f->st, STORE_META, "c", "3", false, false);
    assert_true(wait_batch(f->st, 2, 3));
    /* Nothing of the batch is visible before its commit, and nobody
     * returned: the members wait for it, and so does the aborted writer,
     * which may have read their data. */
    assert_false(readable(f->st, STORE_META, "a"));
    assert_false(readable(f->st, STORE_META, "c"));
    assert_false(writer_returned(&a));
    assert_false(writer_returned(&b));
    assert_false(writer_returned(&c));
    store_batch_hold(f->st, false);
    writer_join(&a);
    writer_join(&b);
    writer_join(&c);
    assert_int_equal(a.put_rc, AP_OK);
    assert_int_equal(a.commit_rc, AP_OK);
    assert_int_equal(b.put_rc, AP_OK);
    assert_int_equal(c.commit_rc, AP_OK);
    assert_true(readable(f->st, STORE_META, "a"));
    assert_false(readable(f->st, STORE_META, "b"));
    assert_true(readable(f->st, STORE_META, "c"));
    store_stats(f->st, &after);
    assert_int_equal(after.commits - before.commits, 2);
    assert_int_equal(after.batches - before.batches, 1);
}

/* ---- exclusive puts of one key racing in one batch ----------------- */

#define N_RACERS 6

static void
test_exclusive_race(void **state)
{
    struct fixture *f = *state;
    struct writer w[N_RACERS];
    char vals[N_RACERS][16];
    struct store_txn *txn = NULL;
    char *val = NULL;
    int winners = 0;
    int winner = -1;

    store_batch_hold(f->st, true);
    for (int i = 0; i < N_RACERS; i++) {
        snprintf(vals[i], sizeof(vals[i]), "w%d", i);
        writer_start(&w[i], f->st, STORE_ACCOUNT_KEYS, "thumb", vals[i],
                     true, false);
    }
    /* One put wins and is a member; the others find it (AP_EEXIST) and
     * abort, all in one batch. */
    assert_true(wait_batch(f->st, 1, N_RACERS));
    store_batch_hold(f->st, false);
    for (int i = 0; i < N_RACERS; i++) {
        writer_join(&w[i]);
        assert_int_equal(w[i].begin_rc, AP_OK);
        if (w[i].put_rc == AP_OK) {
            assert_int_equal(w[i].commit_rc, AP_OK);
            winners++;
            winner = i;
        } else {
            assert_int_equal(w[i].put_rc, AP_EEXIST);
        }
    }
    assert_int_equal(winners, 1);
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(store_get(txn, STORE_ACCOUNT_KEYS, "thumb", &val, NULL),
                     AP_OK);
    store_abort(txn);
    assert_string_equal(val, vals[winner]);
    free(val);

    /* The same race without holding the batch: still exactly one. */
    for (int round = 0; round < 20; round++) {
        char key[32];

        snprintf(key, sizeof(key), "race%d", round);
        winners = 0;
        for (int i = 0; i < N_RACERS; i++) {
            writer_start(&w[i], f->st, STORE_ACCOUNT_KEYS, key, vals[i],
                         true, false);
        }
        for (int i = 0; i < N_RACERS; i++) {
            writer_join(&w[i]);
            if (w[i].put_rc == AP_OK && w[i].commit_rc == AP_OK) {
                winners++;
            } else {
                assert_int_equal(w[i].put_rc, AP_EEXIST);
            }
        }
        assert_int_equal(winners, 1);
        assert_true(readable(f->st, STORE_ACCOUNT_KEYS, key));
    }
}

/* ---- a batch whose LMDB commit fails fails every member ------------ */

#define PAGE 4096

static void
test_failing_batch(void **state)
{
    struct fixture *f = *state;
    struct store_stats before;
    struct store_stats after;
    struct writer big;
    struct writer small;
    struct store_txn *txn = NULL;
    size_t size = 0;
    char *val;
    bool in = false;

    val = malloc(2u << 20);
    assert_non_null(val);
    memset(val, 'x', (2u << 20) - 1);
    val[(2u << 20) - 1] = '\0';
    store_stats(f->st, &before);
    /* The largest value one write can put into the 1 MiB map uses its
     * last free page: a page less than a size that does not fit. Every
     * try is aborted (its batch of none writes nothing), so the next
     * batch starts from the same pages. */
    for (size = 1u << 20; size > PAGE; size -= PAGE) {
        ap_err rc;

        assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
        rc = store_put(txn, STORE_META, "big", val, size, false);
        store_abort(txn);
        txn = NULL;
        if (rc == AP_OK) {
            break;
        }
        assert_int_equal(rc, AP_ESTORE);    /* MDB_MAP_FULL */
        in = true;
    }
    assert_true(in);        /* 1 MiB itself did not fit */
    assert_true(size > PAGE);
    val[size] = '\0';
    store_batch_hold(f->st, true);
    writer_start(&big, f->st, STORE_META, "big", val, false, false);
    assert_true(wait_batch(f->st, 1, 1));
    /* A second member: its key goes to the same leaf page, which the
     * batch has dirty already, so its put needs no new page. */
    writer_start(&small, f->st, STORE_META, "small", "v", false, false);
    assert_true(wait_batch(f->st, 2, 2));
    /* The batch's commit needs pages the map does not have. */
    store_batch_hold(f->st, false);
    writer_join(&big);
    writer_join(&small);
    assert_int_equal(big.put_rc, AP_OK);
    assert_int_equal(small.put_rc, AP_OK);
    assert_int_equal(big.commit_rc, AP_ESTORE);
    assert_int_equal(small.commit_rc, AP_ESTORE);
    assert_false(readable(f->st, STORE_META, "big"));
    assert_false(readable(f->st, STORE_META, "small"));
    store_stats(f->st, &after);
    assert_int_equal(after.failed - before.failed, 1);
    assert_int_equal(after.commits, before.commits);
    /* The store works again. */
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_put(txn, STORE_META, "after", "v", 1, false),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_true(readable(f->st, STORE_META, "after"));
    free(val);
}


/* ---- the leader writes in the batch itself --------------------------- */

/* Its abort drops the batch (with nothing else in it): the writer that
 * comes meanwhile may not join it, and leads the next. */
static void
test_leader_abort(void **state)
{
    struct fixture *f = *state;
    struct writer a;
    struct writer b;
    struct store_stats before;
    struct store_stats after;
    struct store_stats s;

    store_stats(f->st, &before);
    store_batch_hold(f->st, true);
    writer_start(&a, f->st, STORE_META, "a", "1", false, true);
    assert_true(wait_batch(f->st, 0, 1));
    writer_start(&b, f->st, STORE_META, "b", "2", false, false);
    for (int i = 0; i < WAIT_MS; i++) {
        store_stats(f->st, &s);
        if (s.waiting == 1) {
            break;
        }
        sleep_ms(1);
    }
    /* b may not join a's batch (checked after the threads ended, so a
     * failure leaves none blocked on the hold) */
    store_batch_hold(f->st, false);
    writer_join(&a);
    writer_join(&b);
    assert_int_equal(s.waiting, 1);
    assert_int_equal(a.put_rc, AP_OK);
    assert_int_equal(b.commit_rc, AP_OK);
    assert_false(readable(f->st, STORE_META, "a"));
    assert_true(readable(f->st, STORE_META, "b"));
    store_stats(f->st, &after);
    assert_int_equal(after.commits - before.commits, 1);
    assert_int_equal(after.batches - before.batches, 1);
    assert_int_equal(after.failed, before.failed);
}

/* A leader's commit, then members after it in the same batch: all of
 * them in, one LMDB commit. */
static void
test_leader_then_members(void **state)
{
    struct fixture *f = *state;
    struct writer w[3];
    struct store_stats before;
    struct store_stats after;
    char key[3][16];

    store_stats(f->st, &before);
    store_batch_hold(f->st, true);
    for (int i = 0; i < 3; i++) {
        snprintf(key[i], sizeof(key[i]), "m%d", i);
        writer_start(&w[i], f->st, STORE_META, key[i], "v", false, false);
        assert_true(wait_batch(f->st, (unsigned)i + 1, (unsigned)i + 1));
    }
    store_batch_hold(f->st, false);
    for (int i = 0; i < 3; i++) {
        writer_join(&w[i]);
        assert_int_equal(w[i].commit_rc, AP_OK);
        assert_true(readable(f->st, STORE_META, key[i]));
    }
    store_stats(f->st, &after);
    assert_int_equal(after.commits - before.commits, 3);
    assert_int_equal(after.batches - before.batches, 1);
}

/* ---- read transactions kept and renewed (store_lmdb.h) -------------- */

static void
put_now(struct store *st, const char *key, const char *val)
{
    struct store_txn *txn = NULL;

    assert_int_equal(store_begin(st, true, &txn), AP_OK);
    assert_int_equal(store_put(txn, STORE_META, key, val, strlen(val),
                               false),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
}

static unsigned
idle_readers(struct store *st)
{
    struct store_stats s;

    store_stats(st, &s);
    return s.idle_readers;
}

/* An ended read txn is kept (commit or abort alike), the next read takes
 * it, and what it sees is a snapshot of when it began again: what was
 * committed before, not what is committed while it is open. */
static void
test_reader_reuse_snapshot(void **state)
{
    struct fixture *f = *state;
    struct store_txn *r = NULL;
    struct store_txn *r2 = NULL;
    char *val = NULL;

    assert_int_equal(idle_readers(f->st), 0);
    assert_int_equal(store_begin(f->st, false, &r), AP_OK);
    assert_int_equal(store_get(r, STORE_META, "k", &val, NULL),
                     AP_ENOTFOUND);
    assert_int_equal(store_commit(r), AP_OK);
    assert_int_equal(idle_readers(f->st), 1);
    put_now(f->st, "k", "1");
    assert_int_equal(store_begin(f->st, false, &r), AP_OK);
    assert_int_equal(idle_readers(f->st), 0);      /* the kept one */
    assert_int_equal(store_get(r, STORE_META, "k", &val, NULL), AP_OK);
    assert_string_equal(val, "1");
    free(val);
    val = NULL;
    put_now(f->st, "k", "2");
    put_now(f->st, "k2", "x");
    /* r's snapshot holds; a new reader (none kept: a fresh one) sees. */
    assert_int_equal(store_get(r, STORE_META, "k", &val, NULL), AP_OK);
    assert_string_equal(val, "1");
    free(val);
    val = NULL;
    assert_int_equal(store_get(r, STORE_META, "k2", &val, NULL),
                     AP_ENOTFOUND);
    assert_int_equal(store_begin(f->st, false, &r2), AP_OK);
    assert_int_equal(store_get(r2, STORE_META, "k", &val, NULL), AP_OK);
    assert_string_equal(val, "2");
    free(val);
    val = NULL;
    store_abort(r2);
    store_abort(r);
    assert_int_equal(idle_readers(f->st), 2);
    put_now(f->st, "k", "3");
    /* Both kept ones renew to the newest snapshot. */
    assert_int_equal(store_begin(f->st, false, &r), AP_OK);
    assert_int_equal(store_begin(f->st, false, &r2), AP_OK);
    assert_int_equal(idle_readers(f->st), 0);
    assert_int_equal(store_get(r, STORE_META, "k", &val, NULL), AP_OK);
    assert_string_equal(val, "3");
    free(val);
    val = NULL;
    assert_int_equal(store_get(r2, STORE_META, "k", &val, NULL), AP_OK);
    assert_string_equal(val, "3");
    free(val);
    assert_int_equal(store_commit(r2), AP_OK);
    store_abort(r);
}

/* More readers open at once than are kept: the surplus is freed as they
 * end (ASan's leak check), the kept ones stop at the cap, all read. */
static void
test_reader_cap(void **state)
{
    struct fixture *f = *state;
    struct store_txn *r[80];

    put_now(f->st, "c", "v");
    for (size_t i = 0; i < 80; i++) {
        char *val = NULL;

        assert_int_equal(store_begin(f->st, false, &r[i]), AP_OK);
        assert_int_equal(store_get(r[i], STORE_META, "c", &val, NULL),
                         AP_OK);
        free(val);
    }
    for (size_t i = 0; i < 80; i++) {
        store_abort(r[i]);
    }
    assert_true(idle_readers(f->st) > 0);
    assert_true(idle_readers(f->st) < 80);
    for (size_t i = 0; i < 80; i++) {
        assert_int_equal(store_begin(f->st, false, &r[i]), AP_OK);
    }
    assert_int_equal(idle_readers(f->st), 0);
    for (size_t i = 0; i < 80; i++) {
        char *val = NULL;

        assert_int_equal(store_get(r[i], STORE_META, "c", &val, NULL),
                         AP_OK);
        free(val);
        store_abort(r[i]);
    }
}

/* Threads reading while a writer counts up: a value a thread read never
 * goes back in a later txn, two reads in one txn agree, and a txn begun
 * after the writer's commit returned sees at least that value. */
#define N_READERS 4
#define N_COUNTS 300

struct counter_reader {
    pthread_t thread;
    struct store *st;
    _Atomic long *committed;    /* the writer's last returned commit */
    _Atomic bool *stop;
    long reads;
    long errors;
};

static long
read_count(struct store_txn *txn)
{
    char *val = NULL;
    long n = -1;

    if (store_get(txn, STORE_META, "count", &val, NULL) == AP_OK) {
        n = strtol(val, NULL, 10);
    }
    free(val);
    return n;
}

static void *
counter_reader_main(void *arg)
{
    struct counter_reader *c = arg;
    long last = 0;

    while (!atomic_load(c->stop)) {
        struct store_txn *txn = NULL;
        long floor = atomic_load(c->committed);
        long a;
        long b;

        if (store_begin(c->st, false, &txn) != AP_OK) {
            c->errors++;
            continue;
        }
        a = read_count(txn);
        sched_yield();
        b = read_count(txn);
        if ((c->reads & 1) != 0) {
            store_abort(txn);
        } else if (store_commit(txn) != AP_OK) {
            c->errors++;
        }
        if (a != b || a < last || a < floor) {
            c->errors++;
        }
        last = a;
        c->reads++;
    }
    return NULL;
}

static void
test_reader_threads(void **state)
{
    struct fixture *f = *state;
    struct counter_reader c[N_READERS];
    _Atomic long committed = 0;
    _Atomic bool stop = false;

    put_now(f->st, "count", "0");
    for (int i = 0; i < N_READERS; i++) {
        memset(&c[i], 0, sizeof(c[i]));
        c[i].st = f->st;
        c[i].committed = &committed;
        c[i].stop = &stop;
        assert_int_equal(pthread_create(&c[i].thread, NULL,
                                        counter_reader_main, &c[i]),
                         0);
    }
    for (long n = 1; n <= N_COUNTS; n++) {
        char val[32];

        snprintf(val, sizeof(val), "%ld", n);
        put_now(f->st, "count", val);
        atomic_store(&committed, n);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < N_READERS; i++) {
        assert_int_equal(pthread_join(c[i].thread, NULL), 0);
        assert_int_equal(c[i].errors, 0);
        assert_true(c[i].reads > 0);
    }
    assert_true(idle_readers(f->st) >= 1);
    assert_true(idle_readers(f->st) <= N_READERS);
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    l.setup = setup;
    l.teardown = teardown;
    add_test(&l, "one writer: a batch per commit", test_single, NULL);
    add_test(&l, "8 threads x 200 commits share batches", test_many_threads,
             NULL);
    add_test(&l, "an aborted member among committed ones",
             test_abort_member, NULL);
    add_test(&l, "exclusive puts racing in a batch: one wins",
             test_exclusive_race, NULL);
    add_test(&l, "a leader's abort drops its batch", test_leader_abort,
             NULL);
    add_test(&l, "a leader, then members, in one batch",
             test_leader_then_members, NULL);
    add_test(&l, "a kept read txn renews to a new snapshot",
             test_reader_reuse_snapshot, NULL);
    add_test(&l, "read txns kept up to a cap", test_reader_cap, NULL);
    add_test(&l, "readers on threads while a writer counts",
             test_reader_threads, NULL);
    l.setup = setup_tiny;
    add_test(&l, "a failing batch fails every member", test_failing_batch,
             NULL);
    failed = _cmocka_run_group_tests("store group commit", l.tests, l.n,
                                     NULL, NULL);
    free(l.tests);
    return failed;
}
