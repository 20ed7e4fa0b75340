/* test/unit/test_nonce.c: proxy/nonce.c, stateless anti-replay nonces.
 *
 * A fresh nonce is accepted once. The bad table mutates a fresh nonce in
 * every way a client or attacker could (garbage, lengths, one changed
 * character in each field, another context's nonce) and expects
 * NONCE_UNKNOWN. Expiry is tested by sliding the window, not by waiting
 * out the TTL. Every table row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/store.h"
#include "proxy/nonce.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define TTL 10 /* seconds; no test waits for it */

static struct nonce_ctx *
ctx_new(void)
{
    struct nonce_ctx *nc = NULL;

    assert_int_equal(nonce_ctx_new(TTL, &nc), AP_OK);
    assert_non_null(nc);
    return nc;
}

static void
issue(struct nonce_ctx *nc, char out[NONCE_LEN + 1])
{
    assert_int_equal(nonce_issue(nc, out, NONCE_LEN + 1), AP_OK);
    assert_int_equal(strlen(out), NONCE_LEN);
}

/* ---- the good path ------------------------------------------------- */

static void
test_issue_consume(void **state)
{
    struct nonce_ctx *nc = ctx_new();
    char a[NONCE_LEN + 1];
    char b[NONCE_LEN + 1];
    unsigned char raw[64];
    size_t n = 0;

    (void)state;
    issue(nc, a);
    issue(nc, b);
    assert_string_not_equal(a, b);
    /* base64url of 32 bytes, nothing else. */
    assert_int_equal(b64url_decode(a, NONCE_LEN, raw, sizeof(raw), &n),
                     AP_OK);
    assert_int_equal(n, 32);
    /* Out of order is fine; each once. */
    assert_int_equal(nonce_consume(nc, b), NONCE_OK);
    assert_int_equal(nonce_consume(nc, a), NONCE_OK);
    assert_int_equal(nonce_consume(nc, a), NONCE_REPLAYED);
    assert_int_equal(nonce_consume(nc, b), NONCE_REPLAYED);
    assert_int_equal(nonce_consume(nc, a), NONCE_REPLAYED);
    nonce_ctx_free(nc);
}

static void
test_issue_buffer(void **state)
{
    struct nonce_ctx *nc = ctx_new();
    char out[NONCE_LEN + 1];

    (void)state;
    assert_int_not_equal(nonce_issue(nc, out, NONCE_LEN), AP_OK);
    assert_int_equal(nonce_issue(nc, out, sizeof(out)), AP_OK);
    assert_int_equal(nonce_consume(nc, out), NONCE_OK);
    nonce_ctx_free(nc);
    nonce_ctx_free(NULL);
}

/* Many nonces are all distinct and all accepted once. */
static void
test_many(void **state)
{
    enum { N = 2000 };
    struct nonce_ctx *nc = ctx_new();
    char (*all)[NONCE_LEN + 1] = calloc(N, NONCE_LEN + 1);
    int i;

    (void)state;
    assert_non_null(all);
    for (i = 0; i < N; i++) {
        issue(nc, all[i]);
    }
    for (i = 1; i < N; i++) {
        assert_string_not_equal(all[i - 1], all[i]);
    }
    for (i = N - 1; i >= 0; i--) {
        assert_int_equal(nonce_consume(nc, all[i]), NONCE_OK);
    }
    for (i = 0; i < N; i++) {
        assert_int_equal(nonce_consume(nc, all[i]), NONCE_REPLAYED);
    }
    free(all);
    nonce_ctx_free(nc);
}

/* ---- bad nonces ---------------------------------------------------- */

enum mutation {
    M_LITERAL,      /* use text as is */
    M_FLIP,         /* change the character at pos */
    M_TRUNCATE,     /* drop the last character */
    M_APPEND,       /* add one character */
    M_OTHER_CTX,    /* a nonce of another nonce_ctx */
    M_PAD,          /* replace the last character with '=' */
    M_BIT_FLIP_RAW, /* decode, flip one bit of byte pos, encode */
};

struct bad_row {
    const char *name;
    enum mutation mut;
    const char *text;
    int pos;
};

static const struct bad_row bad_rows[] = {
    { "empty", M_LITERAL, "", 0 },
    { "garbage", M_LITERAL, "hello world", 0 },
    { "43 characters of garbage", M_LITERAL,
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", 0 },
    { "43 x A (well-formed, all zero)", M_LITERAL,
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0 },
    { "one character short", M_TRUNCATE, NULL, 0 },
    { "one character long", M_APPEND, NULL, 0 },
    { "padding instead of the last character", M_PAD, NULL, 0 },
    { "changed character in the instance id", M_FLIP, NULL, 1 },
    { "changed character in the counter", M_FLIP, NULL, 10 },
    { "changed character in the issue time", M_FLIP, NULL, 20 },
    { "changed character in the MAC", M_FLIP, NULL, 30 },
    { "changed last character", M_FLIP, NULL, NONCE_LEN - 1 },
    { "one bit of the counter", M_BIT_FLIP_RAW, NULL, 11 },
    { "one bit of the issue time", M_BIT_FLIP_RAW, NULL, 15 },
    { "one bit of the MAC", M_BIT_FLIP_RAW, NULL, 31 },
    { "from another nonce_ctx", M_OTHER_CTX, NULL, 0 },
};

/* The next character of the base64url alphabet: a real change that keeps
 * the text well-formed most of the time. */
static char
next_char(char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = strchr(alphabet, c);

    assert_non_null(p);
    return alphabet[(p - alphabet + 1) % 64];
}

static void
test_bad(void **state)
{
    const struct bad_row *row = *state;
    struct nonce_ctx *nc = ctx_new();
    struct nonce_ctx *other;
    char good[NONCE_LEN + 1];
    char bad[NONCE_LEN + 8];
    unsigned char raw[32];
    size_t n = 0;

    issue(nc, good);
    snprintf(bad, sizeof(bad), "%s", good);
    switch (row->mut) {
    case M_LITERAL:
        snprintf(bad, sizeof(bad), "%s", row->text);
        break;
    case M_FLIP:
        bad[row->pos] = next_char(bad[row->pos]);
        break;
    case M_TRUNCATE:
        bad[NONCE_LEN - 1] = '\0';
        break;
    case M_APPEND:
        bad[NONCE_LEN] = 'A';
        bad[NONCE_LEN + 1] = '\0';
        break;
    case M_PAD:
        bad[NONCE_LEN - 1] = '=';
        break;
    case M_BIT_FLIP_RAW:
        assert_int_equal(b64url_decode(good, NONCE_LEN, raw, sizeof(raw), &n),
                         AP_OK);
        raw[row->pos] ^= 0x01;
        assert_int_equal(b64url_encode(raw, sizeof(raw), bad, sizeof(bad)),
                         AP_OK);
        break;
    case M_OTHER_CTX:
        other = ctx_new();
        issue(other, bad);
        nonce_ctx_free(other);
        break;
    }
    assert_string_not_equal(bad, good);
    assert_int_equal(nonce_consume(nc, bad), NONCE_UNKNOWN);
    /* A refused nonce uses nothing up: the real one still works once. */
    assert_int_equal(nonce_consume(nc, good), NONCE_OK);
    assert_int_equal(nonce_consume(nc, good), NONCE_REPLAYED);
    /* And the bad one stays unknown after the real one was used. */
    assert_int_equal(nonce_consume(nc, bad), NONCE_UNKNOWN);
    nonce_ctx_free(nc);
}

/* ---- expiry by the window ------------------------------------------ */

/* a is followed by NONCE_WINDOW - 1 others: still inside. b is followed
 * by NONCE_WINDOW others: slid out. The context's TTL is long here so
 * that only the window can expire a nonce, however slow the run (a million
 * nonces take a while under valgrind). */
static void
test_window(void **state)
{
    struct nonce_ctx *nc = NULL;
    char a[NONCE_LEN + 1];
    char b[NONCE_LEN + 1];
    char c[NONCE_LEN + 1];
    char tmp[NONCE_LEN + 1];
    enum nonce_check got[6];
    unsigned issued_ok = 0;
    unsigned i;

    (void)state;
    assert_int_equal(nonce_ctx_new(86400, &nc), AP_OK);
    issue(nc, a);
    issue(nc, b);
    for (i = 0; i < NONCE_WINDOW - 2; i++) {
        issued_ok += nonce_issue(nc, tmp, sizeof(tmp)) == AP_OK;
    }
    /* a has NONCE_WINDOW - 1 successors. */
    got[0] = nonce_consume(nc, a);
    issued_ok += nonce_issue(nc, c, sizeof(c)) == AP_OK;
    got[1] = nonce_consume(nc, c); /* b has NONCE_WINDOW - 1 successors */
    issued_ok += nonce_issue(nc, tmp, sizeof(tmp)) == AP_OK;
    got[2] = nonce_consume(nc, b); /* and now NONCE_WINDOW */
    got[3] = nonce_consume(nc, a);
    got[4] = nonce_consume(nc, c);
    got[5] = nonce_consume(nc, tmp);
    /* Freed before the asserts: no leak when one fails. */
    nonce_ctx_free(nc);
    assert_int_equal(issued_ok, NONCE_WINDOW);
    assert_int_equal(got[0], NONCE_OK);
    assert_int_equal(got[1], NONCE_OK);
    assert_int_equal(got[2], NONCE_EXPIRED);
    /* The used a slid out too: expired, not replayed. */
    assert_int_equal(got[3], NONCE_EXPIRED);
    /* The newest ones are unaffected, and c's reuse is still caught. */
    assert_int_equal(got[4], NONCE_REPLAYED);
    assert_int_equal(got[5], NONCE_OK);
}

/* ---- one nonce, four threads --------------------------------------- */

enum { THREADS = 4, ROUNDS = 300 };

struct race {
    struct nonce_ctx *nc;
    pthread_barrier_t *start;
    pthread_barrier_t *done;
    char nonce[NONCE_LEN + 1];
    int ok[THREADS];
    int replayed[THREADS];
    int other[THREADS];
};

struct racer {
    struct race *r;
    int idx;
};

static void *
racer_main(void *arg)
{
    struct racer *me = arg;
    struct race *r = me->r;
    int round;

    for (round = 0; round < ROUNDS; round++) {
        pthread_barrier_wait(r->start);
        switch (nonce_consume(r->nc, r->nonce)) {
        case NONCE_OK:
            r->ok[me->idx]++;
            break;
        case NONCE_REPLAYED:
            r->replayed[me->idx]++;
            break;
        default:
            r->other[me->idx]++;
            break;
        }
        pthread_barrier_wait(r->done);
    }
    return NULL;
}

static void
test_threads(void **state)
{
    pthread_barrier_t start;
    pthread_barrier_t done;
    pthread_t th[THREADS];
    struct racer racers[THREADS];
    struct race r;
    int round;
    int i;
    int ok = 0;
    int replayed = 0;
    int other = 0;
    int last_ok = 0;
    int bad_rounds = 0;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.nc = ctx_new();
    r.start = &start;
    r.done = &done;
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS + 1), 0);
    assert_int_equal(pthread_barrier_init(&done, NULL, THREADS + 1), 0);
    for (i = 0; i < THREADS; i++) {
        racers[i].r = &r;
        racers[i].idx = i;
        assert_int_equal(
            pthread_create(&th[i], NULL, racer_main, &racers[i]), 0);
    }
    for (round = 0; round < ROUNDS; round++) {
        assert_int_equal(nonce_issue(r.nc, r.nonce, sizeof(r.nonce)), AP_OK);
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&done);
        /* Exactly one of the four won this round. */
        ok = 0;
        for (i = 0; i < THREADS; i++) {
            ok += r.ok[i];
        }
        if (ok != last_ok + 1) {
            print_error("round %d: %d threads got NONCE_OK\n", round,
                        ok - last_ok);
            bad_rounds++;
        }
        last_ok = ok;
    }
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        replayed += r.replayed[i];
        other += r.other[i];
    }
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    nonce_ctx_free(r.nc);
    /* Asserted after joining, so no thread is left at a barrier. */
    assert_int_equal(bad_rounds, 0);
    assert_int_equal(ok, ROUNDS);
    assert_int_equal(replayed, ROUNDS * (THREADS - 1));
    assert_int_equal(other, 0);
}

/* ---- shared nonces: two instances on one store ------------------------
 * Two contexts made from one key file over one store stand for two
 * instances behind a balancer. */

struct shared {
    char dir[64];
    char key[96];
    struct store *st;
};

static void
write_file(const char *path, const char *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void
shared_open(struct shared *sh)
{
    struct store_config sc = { 0 };
    char errbuf[256];

    snprintf(sh->dir, sizeof(sh->dir), "/tmp/test_nonce.XXXXXX");
    assert_non_null(mkdtemp(sh->dir));
    snprintf(sh->key, sizeof(sh->key), "%s/nonce.key", sh->dir);
    write_file(sh->key, "0123456789abcdef0123456789abcdef-key", 36, 0600);
    sc.dir = sh->dir;
    sc.map_size_mb = 16;
    assert_int_equal(store_open(&sc, &sh->st, errbuf, sizeof(errbuf)), AP_OK);
}

static void
shared_close(struct shared *sh)
{
    char path[400];
    struct dirent *e;
    DIR *d;

    store_close(sh->st);
    d = opendir(sh->dir);
    assert_non_null(d);
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", sh->dir, e->d_name);
            (void)unlink(path);
        }
    }
    closedir(d);
    (void)rmdir(sh->dir);
}

static struct nonce_ctx *
shared_ctx(struct shared *sh)
{
    struct nonce_ctx *nc = NULL;
    char errbuf[256] = "";

    assert_int_equal(nonce_ctx_new_shared(TTL, sh->key, sh->st, &nc, errbuf,
                                          sizeof(errbuf)),
                     AP_OK);
    return nc;
}

static size_t
count_marks(struct store *st)
{
    struct store_txn *txn = NULL;
    size_t n = 0;

    assert_int_equal(store_begin(st, false, &txn), AP_OK);
    assert_int_equal(store_count(txn, STORE_META, &n), AP_OK);
    store_abort(txn);
    return n;
}

static void
test_shared_across(void **state)
{
    struct shared sh;
    struct nonce_ctx *a;
    struct nonce_ctx *b;
    struct nonce_ctx *alone = ctx_new();
    char n1[NONCE_LEN + 1];
    char n2[NONCE_LEN + 1];
    size_t marks0;

    (void)state;
    shared_open(&sh);
    a = shared_ctx(&sh);
    b = shared_ctx(&sh);
    marks0 = count_marks(sh.st);
    /* Minted by a, redeemed once on b, then refused on both. */
    issue(a, n1);
    assert_int_equal(nonce_consume(b, n1), NONCE_OK);
    assert_int_equal(nonce_consume(b, n1), NONCE_REPLAYED);
    assert_int_equal(nonce_consume(a, n1), NONCE_REPLAYED);
    /* Redeemed by its own instance first: the other refuses it too (the
     * replay a local bitmap alone would let through). */
    issue(a, n2);
    assert_int_equal(nonce_consume(a, n2), NONCE_OK);
    assert_int_equal(nonce_consume(b, n2), NONCE_REPLAYED);
    assert_int_equal(count_marks(sh.st), marks0 + 2);
    /* A context with its own key knows none of them; nor they its. */
    assert_int_equal(nonce_consume(alone, n1), NONCE_UNKNOWN);
    issue(alone, n1);
    assert_int_equal(nonce_consume(a, n1), NONCE_UNKNOWN);
    nonce_ctx_free(alone);
    nonce_ctx_free(a);
    nonce_ctx_free(b);
    shared_close(&sh);
}

static void
test_shared_bad_nonce(void **state)
{
    struct shared sh;
    struct nonce_ctx *a;
    struct nonce_ctx *b;
    char n1[NONCE_LEN + 1];
    size_t marks0;

    (void)state;
    shared_open(&sh);
    a = shared_ctx(&sh);
    b = shared_ctx(&sh);
    marks0 = count_marks(sh.st);
    issue(a, n1);
    /* One changed character of the MAC: unknown on the other instance,
     * and no mark written for it. */
    n1[NONCE_LEN - 2] = n1[NONCE_LEN - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(nonce_consume(b, n1), NONCE_UNKNOWN);
    assert_int_equal(count_marks(sh.st), marks0);
    nonce_ctx_free(a);
    nonce_ctx_free(b);
    shared_close(&sh);
}

/* Group commit: 8 threads on two instances redeem 50 nonces each, every
 * nonce offered to two threads of different instances at once: each
 * nonce is accepted exactly once, and every one is accepted. */
#define SH_THREADS 8
#define SH_NONCES 50

struct sh_race {
    struct nonce_ctx *ctx[2];
    char (*nonces)[NONCE_LEN + 1];
    int ok[SH_THREADS];
    int replayed[SH_THREADS];
    int other[SH_THREADS];
};

struct sh_racer {
    struct sh_race *r;
    int idx;
};

static void *
sh_racer_main(void *arg)
{
    struct sh_racer *me = arg;
    struct sh_race *r = me->r;
    /* Threads i and i + SH_THREADS / 2 share their nonces, on the two
     * instances. */
    int pair = me->idx % (SH_THREADS / 2);
    struct nonce_ctx *nc = r->ctx[me->idx / (SH_THREADS / 2)];

    for (int k = 0; k < SH_NONCES; k++) {
        switch (nonce_consume(nc, r->nonces[pair * SH_NONCES + k])) {
        case NONCE_OK:
            r->ok[me->idx]++;
            break;
        case NONCE_REPLAYED:
            r->replayed[me->idx]++;
            break;
        default:
            r->other[me->idx]++;
            break;
        }
    }
    return NULL;
}

static void
test_shared_threads(void **state)
{
    struct shared sh;
    struct sh_race r;
    struct sh_racer racers[SH_THREADS];
    pthread_t th[SH_THREADS];
    int ok = 0;
    int replayed = 0;
    int other = 0;

    (void)state;
    memset(&r, 0, sizeof(r));
    shared_open(&sh);
    r.ctx[0] = shared_ctx(&sh);
    r.ctx[1] = shared_ctx(&sh);
    r.nonces = calloc(SH_THREADS / 2 * SH_NONCES, sizeof(*r.nonces));
    assert_non_null(r.nonces);
    for (int i = 0; i < SH_THREADS / 2 * SH_NONCES; i++) {
        issue(r.ctx[i % 2], r.nonces[i]);
    }
    for (int i = 0; i < SH_THREADS; i++) {
        racers[i] = (struct sh_racer){ &r, i };
        assert_int_equal(pthread_create(&th[i], NULL, sh_racer_main,
                                        &racers[i]),
                         0);
    }
    for (int i = 0; i < SH_THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += r.ok[i];
        replayed += r.replayed[i];
        other += r.other[i];
    }
    assert_int_equal(ok, SH_THREADS / 2 * SH_NONCES);
    assert_int_equal(replayed, SH_THREADS / 2 * SH_NONCES);
    assert_int_equal(other, 0);
    free(r.nonces);
    nonce_ctx_free(r.ctx[0]);
    nonce_ctx_free(r.ctx[1]);
    shared_close(&sh);
}

struct key_row {
    const char *name;
    const char *data;
    mode_t mode;
    bool ok;
};

static const struct key_row key_rows[] = {
    { "key 0600 36 bytes", "0123456789abcdef0123456789abcdef-key", 0600,
      true },
    { "key 0400", "0123456789abcdef0123456789abcdef", 0400, true },
    { "key readable by group", "0123456789abcdef0123456789abcdef", 0640,
      false },
    { "key readable by all", "0123456789abcdef0123456789abcdef", 0644,
      false },
    { "key of 31 bytes", "0123456789abcdef0123456789abcde", 0600, false },
    { "key file empty", "", 0600, false },
};

static void
test_key_file(void **state)
{
    const struct key_row *r = *state;
    struct shared sh;
    struct nonce_ctx *nc = NULL;
    char errbuf[256] = "";
    ap_err rc;

    shared_open(&sh);
    write_file(sh.key, r->data, strlen(r->data), r->mode);
    rc = nonce_ctx_new_shared(TTL, sh.key, sh.st, &nc, errbuf,
                              sizeof(errbuf));
    if (r->ok) {
        assert_int_equal(rc, AP_OK);
        nonce_ctx_free(nc);
    } else {
        assert_int_equal(rc, AP_ECONFIG);
        assert_null(nc);
        assert_true(errbuf[0] != '\0');
    }
    shared_close(&sh);
}

static void
test_key_missing(void **state)
{
    struct shared sh;
    struct nonce_ctx *nc = NULL;
    char errbuf[256] = "";

    (void)state;
    shared_open(&sh);
    assert_int_equal(nonce_ctx_new_shared(TTL, "/nonexistent/nonce.key",
                                          sh.st, &nc, errbuf,
                                          sizeof(errbuf)),
                     AP_ECONFIG);
    assert_int_equal(nonce_ctx_new_shared(TTL, "", sh.st, &nc, errbuf,
                                          sizeof(errbuf)),
                     AP_ECONFIG);
    assert_null(nc);
    shared_close(&sh);
}

/* ---- runner -------------------------------------------------------- */


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
    struct test_list l = { 0 };
    int failed;

    add_test(&l, "issue and consume", test_issue_consume, NULL);
    add_test(&l, "issue buffer size", test_issue_buffer, NULL);
    add_test(&l, "2000 nonces", test_many, NULL);
    ADD_ROWS(&l, bad_rows, test_bad);
    add_test(&l, "window slides", test_window, NULL);
    add_test(&l, "one nonce, four threads", test_threads, NULL);
    add_test(&l, "shared: redeemed once across instances",
             test_shared_across, NULL);
    add_test(&l, "shared: forged MAC leaves no mark", test_shared_bad_nonce,
             NULL);
    add_test(&l, "shared: 8 threads, two instances, each nonce once",
             test_shared_threads, NULL);
    ADD_ROWS(&l, key_rows, test_key_file);
    add_test(&l, "shared: key file missing or unset", test_key_missing,
             NULL);

    failed = _cmocka_run_group_tests("nonce", l.tests, l.n, group_setup,
                                     group_teardown);
    free(l.tests);
    return failed;
}
