/* common/randpool.c: a per-thread pool of random bytes (see randpool.h). */
#include "common/randpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/crypto.h>

/* Unused bytes are pool[RANDPOOL_SIZE - avail, RANDPOOL_SIZE); the bytes
 * before them are zero (wiped as taken). */
struct pool {
    unsigned char bytes[RANDPOOL_SIZE];
    size_t avail;
    bool keyed; /* registered with g_key for the wipe at thread exit */
};

static _Thread_local struct pool t_pool;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static bool g_key_ok;
static _Atomic(void (*)(const unsigned char *, size_t)) g_exit_hook;

static void
pool_clear(struct pool *p)
{
    OPENSSL_cleanse(p->bytes, sizeof(p->bytes));
    p->avail = 0;
}

/* Thread exit: the key's value is the thread's own pool. */
static void
pool_exit(void *arg)
{
    struct pool *p = arg;
    void (*hook)(const unsigned char *, size_t) = atomic_load(&g_exit_hook);

    pool_clear(p);
    p->keyed = false;
    if (hook != NULL) {
        hook(p->bytes, sizeof(p->bytes));
    }
}

/* fork(): the child's only thread is the one that forked. */
static void
pool_atfork_child(void)
{
    pool_clear(&t_pool);
}

static void
pool_once(void)
{
    g_key_ok = pthread_key_create(&g_key, pool_exit) == 0;
    if (g_key_ok && pthread_atfork(NULL, NULL, pool_atfork_child) != 0) {
        /* Without the fork handler the pool must not be used. */
        g_key_ok = false;
    }
}

/* Makes sure the pool is wiped when the calling thread exits; false when
 * that cannot be arranged (then the pool is not used). */
static bool
pool_register(struct pool *p)
{
    if (p->keyed) {
        return true;
    }
    if (pthread_once(&g_once, pool_once) != 0 || !g_key_ok) {
        return false;
    }
    if (pthread_setspecific(g_key, p) != 0) {
        return false;
    }
    p->keyed = true;
    return true;
}

bool
randpool_get(void *out, size_t len, randpool_fill_fn fill)
{
    struct pool *p = &t_pool;
    unsigned char *o = out;

    if (len == 0) {
        return true;
    }
    if (o == NULL || fill == NULL) {
        return false;
    }
    if (len > RANDPOOL_DIRECT_MAX || !pool_register(p)) {
        return fill(o, len);
    }
    while (len > 0) {
        size_t n;
        size_t off;

        if (p->avail == 0) {
            if (!fill(p->bytes, sizeof(p->bytes))) {
                pool_clear(p);
                return false;
            }
            p->avail = sizeof(p->bytes);
        }
        n = len < p->avail ? len : p->avail;
        off = sizeof(p->bytes) - p->avail;
        memcpy(o, p->bytes + off, n);
        OPENSSL_cleanse(p->bytes + off, n);
        p->avail -= n;
        o += n;
        len -= n;
    }
    return true;
}

void
randpool_wipe(void)
{
    pool_clear(&t_pool);
}

size_t
randpool_avail(void)
{
    return t_pool.avail;
}

void
randpool_set_exit_hook(void (*hook)(const unsigned char *pool, size_t len))
{
    atomic_store(&g_exit_hook, hook);
}
