/* common/randpool.c: a per-thread pool of random bytes (see randpool.h). */
#include "common/randpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Unused bytes are pool[RANDPOOL_SIZE - avail, RANDPOOL_SIZE); the bytes
 * before them are zero (wiped as taken). A thread's pool is allocated at
 * its first request (g_key's value), so that threads that never ask for
 * random bytes (most of them, and all of them at idle) cost no memory. */
struct pool {
    unsigned char bytes[RANDPOOL_SIZE];
    size_t avail;
};

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

static void pool_exit(void *arg);
static void pool_atfork_child(void);

static void
pool_once_init(void)
{
    g_key_ok = pthread_key_create(&g_key, pool_exit) == 0;
    if (g_key_ok && pthread_atfork(NULL, NULL, pool_atfork_child) != 0) {
        /* Without the fork handler the pool must not be used. */
        g_key_ok = false;
    }
}

/* Thread exit: the key's value is the thread's own pool. */
static void
pool_exit(void *arg)
{
    struct pool *p = arg;
    void (*hook)(const unsigned char *, size_t) = atomic_load(&g_exit_hook);

    pool_clear(p);
    if (hook != NULL) {
        hook(p->bytes, sizeof(p->bytes));
    }
    free(p);
}

/* The calling thread's pool, or NULL when it has none (yet). */
static struct pool *
pool_mine(void)
{
    if (pthread_once(&g_once, pool_once_init) != 0 || !g_key_ok) {
        return NULL;
    }
    return pthread_getspecific(g_key);
}

/* fork(): the child's only thread is the one that forked. */
static void
pool_atfork_child(void)
{
    struct pool *p = pool_mine();

    if (p != NULL) {
        pool_clear(p);
    }
}

/* The calling thread's pool, made at its first request and registered
 * for the wipe at thread exit; NULL when that cannot be arranged (no
 * memory: then the generator is asked directly). */
static struct pool *
pool_get(void)
{
    struct pool *p = pool_mine();

    if (p != NULL || !g_key_ok) {
        return p;
    }
    p = calloc(1, sizeof(*p));
    if (p != NULL && pthread_setspecific(g_key, p) != 0) {
        free(p);
        p = NULL;
    }
    return p;
}

bool
randpool_get(void *out, size_t len, randpool_fill_fn fill)
{
    struct pool *p = NULL;
    unsigned char *o = out;

    if (len == 0) {
        return true;
    }
    if (o == NULL || fill == NULL) {
        return false;
    }
    if (len <= RANDPOOL_DIRECT_MAX) {
        p = pool_get();
    }
    if (p == NULL) {
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
    struct pool *p = pool_mine();

    if (p != NULL) {
        pool_clear(p);
    }
}

size_t
randpool_avail(void)
{
    struct pool *p = pool_mine();

    return p != NULL ? p->avail : 0;
}

void
randpool_set_exit_hook(void (*hook)(const unsigned char *pool, size_t len))
{
    atomic_store(&g_exit_hook, hook);
}
