/* test/unit/test_ratelimit.c: proxy/ratelimit.c with shared counts.
 *
 * Two limiters made with ratelimit_new_shared over one store stand for two
 * instances: a limit counts the events of both, in the caller's
 * transaction (ratelimit_take_in, ratelimit_note_in) or in their own
 * (ratelimit_take); an aborted transaction counts nothing; the in-memory
 * limiter keeps its own counts and ignores the transaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/store.h"
#include "proxy/ratelimit.h"

struct fixture {
    char dir[64];
    struct store *st;
    struct ratelimit *a;
    struct ratelimit *b;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct store_config sc = { 0 };
    char errbuf[256];

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_ratelimit.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    sc.dir = f->dir;
    sc.map_size_mb = 16;
    assert_int_equal(store_open(&sc, &f->st, errbuf, sizeof(errbuf)), AP_OK);
    assert_int_equal(ratelimit_new_shared(f->st, &f->a), AP_OK);
    assert_int_equal(ratelimit_new_shared(f->st, &f->b), AP_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char path[400];
    struct dirent *e;
    DIR *d;

    ratelimit_free(f->a);
    ratelimit_free(f->b);
    store_close(f->st);
    d = opendir(f->dir);
    if (d != NULL) {
        for (e = readdir(d); e != NULL; e = readdir(d)) {
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
                (void)unlink(path);
            }
        }
        closedir(d);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

/* One take in a write transaction of its own, committed. */
static bool
take_in(struct fixture *f, struct ratelimit *rl, const char *key,
        unsigned limit, bool commit)
{
    struct store_txn *txn = NULL;
    unsigned retry = 0;
    bool ok = false;

    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(ratelimit_take_in(rl, txn, key, limit, true, &ok,
                                       &retry),
                     AP_OK);
    if (!ok) {
        assert_true(retry >= 1 && retry <= RATELIMIT_WINDOW_SEC);
    }
    if (commit) {
        assert_int_equal(store_commit(txn), AP_OK);
    } else {
        store_abort(txn);
    }
    return ok;
}

static void
test_across_instances(void **state)
{
    struct fixture *f = *state;

    /* Limit 3 counted by both: a, b, a pass; the fourth fails on each. */
    assert_true(take_in(f, f->a, "order:acct1", 3, true));
    assert_true(take_in(f, f->b, "order:acct1", 3, true));
    assert_true(ratelimit_take(f->a, "order:acct1", 3, true, NULL));
    assert_false(take_in(f, f->b, "order:acct1", 3, true));
    assert_false(ratelimit_take(f->a, "order:acct1", 3, false, NULL));
    assert_false(ratelimit_take(f->b, "order:acct1", 3, true, NULL));
    /* Another key has its own count. */
    assert_true(take_in(f, f->b, "order:acct2", 3, true));
}

static void
test_abort_counts_nothing(void **state)
{
    struct fixture *f = *state;

    assert_true(take_in(f, f->a, "acct:192.0.2.1", 1, false));
    assert_true(take_in(f, f->b, "acct:192.0.2.1", 1, false));
    assert_true(take_in(f, f->a, "acct:192.0.2.1", 1, true));
    assert_false(take_in(f, f->b, "acct:192.0.2.1", 1, true));
}

static void
test_note_in(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;

    /* Failures noted on a count against the check on b. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
        assert_int_equal(ratelimit_note_in(f->a, txn, "fail:x.example"),
                         AP_OK);
        assert_int_equal(store_commit(txn), AP_OK);
    }
    /* ratelimit_note counts nothing when shared (no double count). */
    ratelimit_note(f->a, "fail:x.example");
    assert_true(ratelimit_take(f->b, "fail:x.example", 3, false, NULL));
    assert_false(ratelimit_take(f->b, "fail:x.example", 2, false, NULL));
}

static void
test_memory_ignores_txn(void **state)
{
    struct fixture *f = *state;
    struct ratelimit *m = NULL;
    struct store_txn *txn = NULL;
    bool ok = false;
    size_t before = 0;
    size_t after = 0;

    assert_int_equal(ratelimit_new(&m), AP_OK);
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_count(txn, STORE_META, &before), AP_OK);
    assert_int_equal(ratelimit_take_in(m, txn, "k", 1, true, &ok, NULL),
                     AP_OK);
    assert_true(ok);
    assert_int_equal(ratelimit_note_in(m, txn, "k"), AP_OK);
    assert_int_equal(store_count(txn, STORE_META, &after), AP_OK);
    assert_int_equal(after, before);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_false(ratelimit_take(m, "k", 1, false, NULL));
    /* The shared limiters did not see it. */
    assert_true(ratelimit_take(f->a, "k", 1, false, NULL));
    ratelimit_free(m);
}

static int
group_setup(void **state)
{
    (void)state;
    return crypto_init() == AP_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    crypto_fini();
    return 0;
}

int
main(void)
{
    struct test_list l = { .setup = setup, .teardown = teardown };
    int failed;

    add_test(&l, "shared: one limit across two instances",
             test_across_instances, NULL);
    add_test(&l, "shared: an aborted transaction counts nothing",
             test_abort_counts_nothing, NULL);
    add_test(&l, "shared: failures noted in the transaction",
             test_note_in, NULL);
    add_test(&l, "in memory: the transaction is not used",
             test_memory_ignores_txn, NULL);
    failed = _cmocka_run_group_tests("ratelimit", l.tests, l.n, group_setup,
                                     group_teardown);
    free(l.tests);
    return failed;
}
