/* proxy/ratelimit.c: an open-addressing table of hourly counters. */
#include "proxy/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/store.h"
#include "common/timeutil.h"

#define RATELIMIT_KEY 128
#define RATELIMIT_PROBE 16
#define RL_PREFIX "rl/"
#define RL_PRUNE_BATCH 256
#define RL_PRUNE_SEC 60

struct slot {
    char key[RATELIMIT_KEY];
    long long window;    /* start of the hour counted, 0: free */
    unsigned count;
};

struct ratelimit {
    pthread_mutex_t lock;
    struct slot *slots;
    /* Keys the slot hash, so nobody outside can compute which keys share
     * a probe run and grind keys that evict another client's counters: a
     * random secret, made ready once (the secret is not kept beside it). */
    struct crypto_hmac_key *mac;
    struct store *st;          /* shared: the counts live there */
    long long last_prune;      /* shared: time_now() of the last prune */
};

ap_err
ratelimit_new(struct ratelimit **out)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    unsigned char secret[CRYPTO_SHA256_LEN];
    bool ok;

    if (rl == NULL) {
        return AP_ENOMEM;
    }
    rl->slots = calloc(RATELIMIT_SLOTS, sizeof(*rl->slots));
    if (rl->slots == NULL) {
        free(rl);
        return AP_ENOMEM;
    }
    /* Made at start: from the kernel (crypto.h crypto_random_os). */
    ok = crypto_random_os(secret, sizeof(secret)) == AP_OK &&
         crypto_hmac_key_new(secret, sizeof(secret), &rl->mac) == AP_OK;
    crypto_zeroize(secret, sizeof(secret));
    if (!ok) {
        free(rl->slots);
        free(rl);
        return AP_ECRYPTO;
    }
    pthread_mutex_init(&rl->lock, NULL);
    *out = rl;
    return AP_OK;
}

ap_err
ratelimit_new_shared(struct store *st, struct ratelimit **out)
{
    ap_err rc;

    if (st == NULL) {
        return AP_EINVAL;
    }
    rc = ratelimit_new(out);
    if (rc == AP_OK) {
        (*out)->st = st;
    }
    return rc;
}

void
ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL) {
        return;
    }
    pthread_mutex_destroy(&rl->lock);
    crypto_hmac_key_free(rl->mac);
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

    if (crypto_hmac_sha256_with(rl->mac, key, strlen(key), h) != AP_OK) {
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
    if (rl->st != NULL) {
        struct store_txn *txn = NULL;
        ap_err rc = store_begin(rl->st, count, &txn);

        ok = true;
        if (rc == AP_OK) {
            rc = ratelimit_take_in(rl, txn, key, limit, count, &ok,
                                   retry_after);
        }
        if (rc == AP_OK && count && ok) {
            rc = store_commit(txn);
            txn = NULL;
        }
        store_abort(txn);
        if (rc != AP_OK) {
            log_err("ratelimit", "counting in the store failed: %s",
                    ap_strerror(rc));
            return true;
        }
        return ok;
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

    if (rl->st != NULL) {
        return;
    }
    pthread_mutex_lock(&rl->lock);
    s = find_slot(rl, key, now - now % RATELIMIT_WINDOW_SEC);
    s->count++;
    pthread_mutex_unlock(&rl->lock);
}

/* ---- counts in the store ---------------------------------------------- */

static void
record_key(const char *key, long long window, char *out, size_t outlen)
{
    unsigned char h[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];

    crypto_sha256(key, strlen(key), h);
    for (size_t i = 0; i < sizeof(h); i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    snprintf(out, outlen, RL_PREFIX "%010lld/%s", window, hex);
}

static ap_err
read_count(struct store_txn *txn, const char *rkey, unsigned *count)
{
    char *val = NULL;
    size_t len = 0;
    char *end = NULL;
    unsigned long n;
    ap_err rc;

    *count = 0;
    rc = store_get(txn, STORE_META, rkey, &val, &len);
    if (rc == AP_ENOTFOUND) {
        return AP_OK;
    }
    if (rc != AP_OK) {
        return rc;
    }
    n = strtoul(val, &end, 10);
    if (len == 0 || len > 10 || end != val + len || n > 0xffffffffUL) {
        log_err("ratelimit", "count record %s unreadable: counted from 0",
                rkey);
        n = 0;
    }
    free(val);
    *count = (unsigned)n;
    return AP_OK;
}

/* Deletes up to RL_PRUNE_BATCH records of windows before window. */
static ap_err
prune(struct ratelimit *rl, struct store_txn *txn, long long now,
      long long window)
{
    char cutoff[32];
    bool due;

    pthread_mutex_lock(&rl->lock);
    due = now - rl->last_prune >= RL_PRUNE_SEC;
    if (due) {
        rl->last_prune = now;
    }
    pthread_mutex_unlock(&rl->lock);
    if (!due) {
        return AP_OK;
    }
    snprintf(cutoff, sizeof(cutoff), RL_PREFIX "%010lld/", window);
    return store_prune_before(txn, STORE_META, RL_PREFIX, cutoff,
                              RL_PRUNE_BATCH, NULL);
}

static ap_err
write_count(struct ratelimit *rl, struct store_txn *txn, const char *rkey,
            unsigned count, long long now, long long window)
{
    char val[16];
    int n = snprintf(val, sizeof(val), "%u", count);
    ap_err rc;

    rc = store_put(txn, STORE_META, rkey, val, (size_t)n, false);
    if (rc == AP_OK) {
        rc = prune(rl, txn, now, window);
    }
    return rc;
}

ap_err
ratelimit_take_in(struct ratelimit *rl, struct store_txn *txn,
                  const char *key, unsigned limit, bool count, bool *ok,
                  unsigned *retry_after)
{
    long long now = time_now();
    long long window = now - now % RATELIMIT_WINDOW_SEC;
    char rkey[128];
    unsigned n = 0;
    ap_err rc;

    *ok = true;
    if (limit == 0) {
        return AP_OK;
    }
    if (rl->st == NULL) {
        *ok = ratelimit_take(rl, key, limit, count, retry_after);
        return AP_OK;
    }
    record_key(key, window, rkey, sizeof(rkey));
    rc = read_count(txn, rkey, &n);
    if (rc != AP_OK) {
        return rc;
    }
    *ok = n < limit;
    if (!*ok) {
        if (retry_after != NULL) {
            *retry_after = (unsigned)(window + RATELIMIT_WINDOW_SEC - now);
        }
        return AP_OK;
    }
    return count ? write_count(rl, txn, rkey, n + 1, now, window) : AP_OK;
}

ap_err
ratelimit_note_in(struct ratelimit *rl, struct store_txn *txn,
                  const char *key)
{
    long long now = time_now();
    long long window = now - now % RATELIMIT_WINDOW_SEC;
    char rkey[128];
    unsigned n = 0;
    ap_err rc;

    if (rl->st == NULL) {
        return AP_OK;
    }
    record_key(key, window, rkey, sizeof(rkey));
    rc = read_count(txn, rkey, &n);
    if (rc == AP_OK) {
        rc = write_count(rl, txn, rkey, n < 0xffffffffu ? n + 1 : n, now,
                         window);
    }
    return rc;
}
