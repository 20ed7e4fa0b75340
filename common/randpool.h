/* common/randpool.h: a per-thread pool of random bytes.
 *
 * OpenSSL 3.0's DRBG checks its fork id with getpid() on every
 * RAND_bytes call, and on this server a system call costs more than the
 * generation of a few dozen bytes. crypto_random therefore draws small
 * requests (ids, tokens, keys of at most RANDPOOL_DIRECT_MAX bytes) from
 * a pool of RANDPOOL_SIZE bytes per thread, refilled whole by one call to
 * the generator; larger requests go to the generator directly.
 *
 * Contract:
 *  - every byte handed out comes from the fill function (the generator)
 *    and is handed out once: it is wiped from the pool as it is taken;
 *  - the pool is wiped when its thread exits (a pthread key destructor),
 *    and in the child after fork() (a pthread_atfork child handler: the
 *    child never repeats the parent's bytes; children started with
 *    posix_spawn run no code of ours before exec);
 *  - a failed fill hands out nothing and leaves the pool empty.
 * The fill function is the caller's (crypto_random passes RAND_bytes);
 * each thread's pool is its own (allocated at its first small request:
 * threads that never ask cost nothing), so no lock is taken. */
#ifndef AP_COMMON_RANDPOOL_H
#define AP_COMMON_RANDPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define RANDPOOL_SIZE 512
#define RANDPOOL_DIRECT_MAX 64

/* Writes len random bytes to out; returns false when out is NULL (with a
 * non-zero len) or the generator fails. */
typedef bool (*randpool_fill_fn)(unsigned char *out, size_t len);

/* Fills out with len bytes: from the calling thread's pool when len is
 * at most RANDPOOL_DIRECT_MAX (refilling it with one fill(pool,
 * RANDPOOL_SIZE) call whenever it runs out, also in the middle of a
 * request), else with one fill(out, len) call. false when fill fails;
 * out may then hold some bytes already, which the caller must not use. */
AP_MUST_CHECK bool randpool_get(void *out, size_t len, randpool_fill_fn fill);

/* Wipes the calling thread's pool (the next request refills it). */
void randpool_wipe(void);

/* For tests: the number of unused bytes in the calling thread's pool. */
size_t randpool_avail(void);

/* For tests: hook called with a thread's pool right after its wipe at
 * thread exit (NULL: none). */
void randpool_set_exit_hook(void (*hook)(const unsigned char *pool,
                                         size_t len));

#endif
