/* test/unit/test_randpool.c: common/randpool.c, the per-thread pool of
 * random bytes behind crypto_random: refills across the pool's end, large
 * requests straight to the generator, a failing generator, the wipe at
 * thread exit and in a child after fork, and crypto_random through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/randpool.h"

/* A counting generator: byte i of its stream is (i * 7 + 1) & 0xff, so a
 * test can tell which bytes of the stream it got, and in what order. */
static _Thread_local size_t t_fills;
static _Thread_local size_t t_stream;
static _Thread_local size_t t_last_len;
static _Thread_local bool t_fail;

static bool
count_fill(unsigned char *out, size_t len)
{
    t_fills++;
    t_last_len = len;
    if (t_fail) {
        memset(out, 0xee, len);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        out[i] = (unsigned char)((t_stream + i) * 7 + 1);
    }
    t_stream += len;
    return true;
}

static void
reset(void)
{
    randpool_wipe();
    t_fills = 0;
    t_stream = 0;
    t_last_len = 0;
    t_fail = false;
}

/* Requests of 1..RANDPOOL_DIRECT_MAX bytes taken in turn hand out the
 * generator's stream in order, each byte once, with one fill of the whole
 * pool per RANDPOOL_SIZE bytes, also when a request spans two fills. */
static void
test_stream_across_refills(void **state)
{
    unsigned char buf[RANDPOOL_DIRECT_MAX];
    size_t taken = 0;
    size_t n = 1;

    (void)state;
    reset();
    while (taken < 3 * RANDPOOL_SIZE + 5) {
        assert_true(randpool_get(buf, n, count_fill));
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(buf[i], (unsigned char)((taken + i) * 7 + 1));
        }
        taken += n;
        assert_int_equal(t_fills, (taken + RANDPOOL_SIZE - 1) / RANDPOOL_SIZE);
        assert_int_equal(t_last_len, RANDPOOL_SIZE);
        assert_int_equal(randpool_avail(),
                         t_fills * RANDPOOL_SIZE - taken);
        n = n % RANDPOOL_DIRECT_MAX + 1;
    }
}

/* A request that needs the end of one fill and the start of the next. */
static void
test_request_spans_refill(void **state)
{
    unsigned char buf[RANDPOOL_DIRECT_MAX];
    unsigned char one[RANDPOOL_SIZE - 10];
    size_t left = RANDPOOL_SIZE - 10;
    size_t off = 0;

    (void)state;
    reset();
    while (left > 0) {
        size_t n = left < 50 ? left : 50;

        assert_true(randpool_get(one + off, n, count_fill));
        off += n;
        left -= n;
    }
    assert_int_equal(randpool_avail(), 10);
    assert_true(randpool_get(buf, 32, count_fill));
    assert_int_equal(t_fills, 2);
    for (size_t i = 0; i < 32; i++) {
        assert_int_equal(buf[i], (unsigned char)((RANDPOOL_SIZE - 10 + i) * 7 + 1));
    }
    assert_int_equal(randpool_avail(), RANDPOOL_SIZE - 22);
}

/* Larger requests go to the generator whole and leave the pool alone. */
static void
test_large_direct(void **state)
{
    unsigned char small[4];
    unsigned char big[RANDPOOL_SIZE * 3];

    (void)state;
    reset();
    assert_true(randpool_get(small, sizeof(small), count_fill));
    assert_int_equal(t_fills, 1);
    assert_true(randpool_get(big, RANDPOOL_DIRECT_MAX + 1, count_fill));
    assert_int_equal(t_fills, 2);
    assert_int_equal(t_last_len, RANDPOOL_DIRECT_MAX + 1);
    assert_true(randpool_get(big, sizeof(big), count_fill));
    assert_int_equal(t_fills, 3);
    assert_int_equal(t_last_len, sizeof(big));
    assert_int_equal(big[0], (unsigned char)((RANDPOOL_SIZE + RANDPOOL_DIRECT_MAX + 1) * 7 + 1));
    assert_int_equal(randpool_avail(), RANDPOOL_SIZE - sizeof(small));
    /* zero bytes: nothing drawn; NULL with a length: refused */
    assert_true(randpool_get(NULL, 0, count_fill));
    assert_false(randpool_get(NULL, 1, count_fill));
    assert_int_equal(t_fills, 3);
}

/* A failing generator hands out nothing and leaves the pool empty; the
 * next good fill starts a fresh pool. */
static void
test_fill_fails(void **state)
{
    unsigned char buf[RANDPOOL_DIRECT_MAX + 1];

    (void)state;
    reset();
    assert_true(randpool_get(buf, 8, count_fill));
    t_fail = true;
    assert_true(randpool_get(buf, 8, count_fill)); /* from the pool */
    assert_int_equal(t_fills, 1);
    randpool_wipe();
    assert_int_equal(randpool_avail(), 0);
    assert_false(randpool_get(buf, 8, count_fill));
    assert_int_equal(t_fills, 2);
    assert_int_equal(randpool_avail(), 0);
    assert_false(randpool_get(buf, RANDPOOL_DIRECT_MAX + 1, count_fill));
    t_fail = false;
    assert_true(randpool_get(buf, 8, count_fill));
    assert_int_equal(t_fills, 4);
    assert_int_equal(randpool_avail(), RANDPOOL_SIZE - 8);
}

/* ---- thread exit ----------------------------------------------------- */

static int g_hook_calls;
static int g_hook_nonzero;

static void
exit_hook(const unsigned char *pool, size_t len)
{
    g_hook_calls++;
    for (size_t i = 0; i < len; i++) {
        g_hook_nonzero += pool[i] != 0;
    }
}

static void *
thread_draw(void *arg)
{
    unsigned char buf[8];
    size_t *avail = arg;

    if (randpool_get(buf, sizeof(buf), count_fill)) {
        *avail = randpool_avail();
    }
    return NULL;
}

static void *
thread_idle(void *arg)
{
    (void)arg;
    return NULL;
}

/* A thread that drew from its pool leaves it wiped at exit; one that never
 * drew has nothing to wipe. */
static void
test_thread_exit_wipes(void **state)
{
    pthread_t t;
    size_t avail = 0;

    (void)state;
    g_hook_calls = 0;
    g_hook_nonzero = 0;
    randpool_set_exit_hook(exit_hook);
    assert_int_equal(pthread_create(&t, NULL, thread_draw, &avail), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(avail, RANDPOOL_SIZE - 8); /* its own pool, full */
    assert_int_equal(g_hook_calls, 1);
    assert_int_equal(g_hook_nonzero, 0);
    assert_int_equal(pthread_create(&t, NULL, thread_idle, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(g_hook_calls, 1);
    randpool_set_exit_hook(NULL);
}

/* ---- fork ------------------------------------------------------------ */

/* The child of fork() starts with an empty pool: it does not hand out
 * the bytes its parent still has (and will hand out). */
static void
test_fork_child_fresh(void **state)
{
    unsigned char parent[8];
    unsigned char child[8];
    int fds[2];
    pid_t pid;
    int status = 0;

    (void)state;
    reset();
    assert_true(randpool_get(parent, 4, count_fill));
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char r[9] = { 0 };

        close(fds[0]);
        r[0] = (unsigned char)randpool_avail();
        if (randpool_get(r + 1, 8, count_fill)) {
            (void)!write(fds[1], r, sizeof(r));
        }
        _exit(0);
    }
    close(fds[1]);
    {
        unsigned char r[9];

        assert_int_equal(read(fds[0], r, sizeof(r)), (ssize_t)sizeof(r));
        memcpy(child, r + 1, sizeof(child));
        assert_int_equal(r[0], 0); /* the child's pool was wiped */
    }
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    /* the child refilled: its stream restarts where the parent's counter
     * stood at fork (RANDPOOL_SIZE), not at the parent's unused byte 4 */
    assert_true(randpool_get(parent, 8, count_fill));
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(parent[i], (unsigned char)((4 + i) * 7 + 1));
        assert_int_equal(child[i], (unsigned char)((RANDPOOL_SIZE + i) * 7 + 1));
    }
}

/* ---- crypto_random ------------------------------------------------- */

/* crypto_random through the pool: small and large requests give bytes
 * that differ from call to call (two equal 16-byte draws: 2^-128). */
static void
test_crypto_random(void **state)
{
    unsigned char a[16], b[16], big[RANDPOOL_DIRECT_MAX * 2];
    unsigned char zero[sizeof(big)] = { 0 };

    (void)state;
    assert_int_equal(crypto_init(), AP_OK);
    randpool_wipe();
    assert_int_equal(crypto_random(a, sizeof(a)), AP_OK);
    assert_int_equal(randpool_avail(), RANDPOOL_SIZE - sizeof(a));
    assert_int_equal(crypto_random(b, sizeof(b)), AP_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(crypto_random(big, sizeof(big)), AP_OK);
    assert_memory_not_equal(big, zero, sizeof(big));
    assert_int_equal(randpool_avail(), RANDPOOL_SIZE - 2 * sizeof(a));
    crypto_fini();
    assert_int_equal(randpool_avail(), 0);
    assert_int_equal(crypto_random(a, sizeof(a)), AP_EINTERNAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_across_refills),
        cmocka_unit_test(test_request_spans_refill),
        cmocka_unit_test(test_large_direct),
        cmocka_unit_test(test_fill_fails),
        cmocka_unit_test(test_thread_exit_wipes),
        cmocka_unit_test(test_fork_child_fresh),
        cmocka_unit_test(test_crypto_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
