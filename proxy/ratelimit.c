/* proxy/ratelimit.c: an open-addressing table of hourly counters. */
#include "proxy/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/timeutil.h"

#define RATELIMIT_KEY 128
#define RATELIMIT_PROBE 16

struct slot {
    char key[RATELIMIT_KEY];
    long long window;    /* start of the hour counted, 0: free */
    unsigned count;
};

struct ratelimit {
    pthread_mutex_t lock;
    struct slot *slots;
    /* Keys the slot hash, so nobody outside can compute which keys share
     * a probe run and grind keys that evict another client's counters. */
    unsigned char secret[CRYPTO_SHA256_LEN];
};

ap_err
ratelimit_new(struct ratelimit **out)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));

    if (rl == NULL) {
        return AP_ENOMEM;
    }
    rl->slots = calloc(RATELIMIT_SLOTS, sizeof(*rl->slots));
    if (rl->slots == NULL) {
        free(rl);
        return AP_ENOMEM;
    }
    if (crypto_random(rl->secret, sizeof(rl->secret)) != AP_OK) {
        free(rl->slots);
        free(rl);
        return AP_ECRYPTO;
    }
    pthread_mutex_init(&rl->lock, NULL);
    *out = rl;
    return AP_OK;
}

void
ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL) {
        return;
    }
    pthread_mutex_destroy(&rl->lock);
    crypto_zeroize(rl->secret, sizeof(rl->secret));
    free(rl->slots);
    free(rl);
}

/* The slot of key in this window: found, free, or the stalest of the
 * probe run (evicted). Called with the lock held. */
static struct slot *
find_slot(struct ratelimit *rl, const char *key, long long window)
{
    unsigned char h[CRYPTO_SHA256_LEN];
    size_t start;
    struct slot *victim = NULL;

    if (crypto_hmac_sha256(rl->secret, sizeof(rl->secret), key, strlen(key),
                           h) != AP_OK) {
        memset(h, 0, sizeof(h)); /* one fixed run: still bounded */
    }
    start = (((size_t)h[0] << 16) | ((size_t)h[1] << 8) | h[2]) %
            RATELIMIT_SLOTS;
    for (size_t i = 0; i < RATELIMIT_PROBE; i++) {
        struct slot *s = &rl->slots[(start + i) % RATELIMIT_SLOTS];

        if (s->window != 0 && strcmp(s->key, key) == 0) {
            if (s->window != window) {
                s->window = window;
                s->count = 0;
            }
            return s;
        }
        if (victim == NULL || s->window < victim->window) {
            victim = s;
        }
    }
    snprintf(victim->key, sizeof(victim->key), "%s", key);
    victim->window = window;
    victim->count = 0;
    return victim;
}

bool
ratelimit_take(struct ratelimit *rl, const char *key, unsigned limit,
               bool count, unsigned *retry_after)
{
    long long now = time_now();
    long long window = now - now % RATELIMIT_WINDOW_SEC;
    struct slot *s;
    bool ok;

    if (limit == 0) {
        return true;
    }
    pthread_mutex_lock(&rl->lock);
    s = find_slot(rl, key, window);
    ok = s->count < limit;
    if (ok && count) {
        s->count++;
    }
    pthread_mutex_unlock(&rl->lock);
    if (!ok && retry_after != NULL) {
        *retry_after = (unsigned)(window + RATELIMIT_WINDOW_SEC - now);
    }
    return ok;
}

void
ratelimit_note(struct ratelimit *rl, const char *key)
{
    long long now = time_now();
    struct slot *s;

    pthread_mutex_lock(&rl->lock);
    s = find_slot(rl, key, now - now % RATELIMIT_WINDOW_SEC);
    s->count++;
    pthread_mutex_unlock(&rl->lock);
}
