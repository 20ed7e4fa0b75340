/* proxy/nonce.c: HMAC nonces with a used-counter bitmap and, shared,
 * single-use marks in the store. */
#include "proxy/nonce.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/store.h"
#include "common/timeutil.h"

#define NONCE_RAW 32  /* 4 instance + 8 counter + 4 time + 16 MAC */
#define NONCE_MAC 16

struct nonce_ctx {
    struct crypto_hmac_key *mac;    /* the MAC key, made ready once (the
                                       raw key is not kept beside it) */
    unsigned char instance[4];
    unsigned ttl_sec;
    pthread_mutex_t lock;
    uint64_t next;           /* counter of the next nonce */
    unsigned char *used;     /* NONCE_WINDOW bits */
    struct store *st;        /* shared: where redemptions are marked */
    long long last_prune;    /* shared: time_now() of the last prune */
    /* Shared: redemptions waiting for their mark, written by one thread
     * at a time in one transaction (group commit: one durable commit for
     * every redemption that arrived while the previous one ran). */
    pthread_cond_t marked;
    struct mark_req *queue;
    struct mark_req **queue_tail;
    bool committing;
};

#define NONCE_MARK_PREFIX "nonce/"
#define NONCE_PRUNE_BATCH 256
#define NONCE_MARK_BATCH 256     /* marks in one transaction at most */

struct mark_req {
    char key[64];
    enum nonce_check res;
    bool done;
    struct mark_req *next;
};

ap_err
nonce_ctx_new(unsigned ttl_sec, struct nonce_ctx **out)
{
    unsigned char key[32];
    struct nonce_ctx *nc;
    ap_err rc;

    nc = calloc(1, sizeof(*nc));
    if (nc == NULL) {
        return AP_ENOMEM;
    }
    nc->used = calloc(NONCE_WINDOW / 8, 1);
    if (nc->used == NULL) {
        free(nc);
        return AP_ENOMEM;
    }
    /* From the kernel: made at start, where OpenSSL is not set up yet
     * (crypto.h crypto_random_os). */
    rc = crypto_random_os(key, sizeof(key));
    if (rc == AP_OK) {
        rc = crypto_random_os(nc->instance, sizeof(nc->instance));
    }
    if (rc == AP_OK) {
        rc = crypto_hmac_key_new(key, sizeof(key), &nc->mac);
    }
    crypto_zeroize(key, sizeof(key));
    if (rc != AP_OK) {
        free(nc->used);
        free(nc);
        return rc;
    }
    nc->ttl_sec = ttl_sec;
    nc->next = 1;
    pthread_mutex_init(&nc->lock, NULL);
    pthread_cond_init(&nc->marked, NULL);
    nc->queue_tail = &nc->queue;
    *out = nc;
    return AP_OK;
}

/* The key of a shared context: HMAC-SHA256 of a label under the file's
 * bytes, so every file length gives a 32-byte key. */
static ap_err
read_key_file(const char *path, unsigned char key[32], char *errbuf,
              size_t errlen)
{
    static const char label[] = "acmeproxy nonce key v1";
    struct stat sb;
    char *data = NULL;
    size_t n = 0;
    ap_err rc;

    if (path == NULL || path[0] == '\0') {
        snprintf(errbuf, errlen, "[acme] nonce_key_file is required");
        return AP_ECONFIG;
    }
    if (stat(path, &sb) != 0) {
        snprintf(errbuf, errlen, "[acme] nonce_key_file %s: cannot stat it",
                 path);
        return AP_ECONFIG;
    }
    if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(errbuf, errlen, "[acme] nonce_key_file %s: mode %03o lets "
                 "its group or others in: make it 0600 (or 0400)", path,
                 (unsigned)(sb.st_mode & 0777));
        return AP_ECONFIG;
    }
    rc = fileio_read(path, NONCE_KEY_MAX, FILEIO_SECRET, &data, &n, errbuf,
                     errlen);
    if (rc != AP_OK) {
        return rc == AP_ENOMEM ? rc : AP_ECONFIG;
    }
    if (n < NONCE_KEY_MIN) {
        snprintf(errbuf, errlen, "[acme] nonce_key_file %s: %zu bytes, at "
                 "least %d random bytes needed", path, n, NONCE_KEY_MIN);
        rc = AP_ECONFIG;
        goto out;
    }
    rc = crypto_hmac_sha256(data, n, label, sizeof(label) - 1, key);
out:
    fileio_free(data, n, FILEIO_SECRET);
    return rc;
}

ap_err
nonce_ctx_new_shared(unsigned ttl_sec, const char *key_file,
                     struct store *st, struct nonce_ctx **out, char *errbuf,
                     size_t errlen)
{
    struct nonce_ctx *nc = NULL;
    unsigned char key[32];
    ap_err rc;

    if (st == NULL) {
        return AP_EINVAL;
    }
    rc = nonce_ctx_new(ttl_sec, &nc);
    if (rc != AP_OK) {
        return rc;
    }
    rc = read_key_file(key_file, key, errbuf, errlen);
    if (rc == AP_OK) {
        crypto_hmac_key_free(nc->mac);
        nc->mac = NULL;
        rc = crypto_hmac_key_new(key, sizeof(key), &nc->mac);
    }
    crypto_zeroize(key, sizeof(key));
    if (rc != AP_OK) {
        nonce_ctx_free(nc);
        return rc;
    }
    nc->st = st;
    *out = nc;
    return AP_OK;
}

void
nonce_ctx_free(struct nonce_ctx *nc)
{
    if (nc == NULL) {
        return;
    }
    crypto_hmac_key_free(nc->mac);
    pthread_cond_destroy(&nc->marked);
    pthread_mutex_destroy(&nc->lock);
    free(nc->used);
    free(nc);
}

static void
put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t
get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static ap_err
nonce_mac(const struct nonce_ctx *nc, const unsigned char *raw,
          unsigned char *mac)
{
    unsigned char full[CRYPTO_SHA256_LEN];
    ap_err rc;

    rc = crypto_hmac_sha256_with(nc->mac, raw, NONCE_RAW - NONCE_MAC, full);
    if (rc == AP_OK) {
        memcpy(mac, full, NONCE_MAC);
    }
    return rc;
}

ap_err
nonce_issue(struct nonce_ctx *nc, char *out, size_t outlen)
{
    unsigned char raw[NONCE_RAW];
    uint64_t counter;
    ap_err rc;

    pthread_mutex_lock(&nc->lock);
    counter = nc->next++;
    /* The slot now belongs to this counter; the one it held before slid
     * out of the window and is refused by the window check. */
    nc->used[(counter % NONCE_WINDOW) / 8] &=
        (unsigned char)~(1u << (counter % 8));
    pthread_mutex_unlock(&nc->lock);

    memcpy(raw, nc->instance, 4);
    put_be(raw + 4, counter, 8);
    put_be(raw + 12, (uint64_t)time_now() & 0xffffffffu, 4);
    rc = nonce_mac(nc, raw, raw + NONCE_RAW - NONCE_MAC);
    if (rc != AP_OK) {
        return rc;
    }
    return b64url_encode(raw, sizeof(raw), out, outlen);
}

/* Deletes up to NONCE_PRUNE_BATCH marks of nonces past their TTL (the
 * marks sort by issue time). */
static ap_err
prune_marks(struct nonce_ctx *nc, struct store_txn *txn, long long now)
{
    char cutoff[32];

    snprintf(cutoff, sizeof(cutoff), NONCE_MARK_PREFIX "%010lld/",
             now - (long long)nc->ttl_sec - NONCE_SKEW_SEC - 1);
    return store_prune_before(txn, STORE_META, NONCE_MARK_PREFIX, cutoff,
                              NONCE_PRUNE_BATCH, NULL);
}

/* Writes the marks of batch (a list) in one write transaction: each an
 * exclusive put, so a mark already there (another redemption, earlier or
 * in this batch) is NONCE_REPLAYED; a failed transaction fails them all. */
static void
commit_batch(struct nonce_ctx *nc, struct mark_req *batch, long long now)
{
    struct store_txn *txn = NULL;
    struct mark_req *r;
    bool prune = false;
    ap_err rc;

    pthread_mutex_lock(&nc->lock);
    if (now - nc->last_prune >= 1) {
        nc->last_prune = now;
        prune = true;
    }
    pthread_mutex_unlock(&nc->lock);
    rc = store_begin(nc->st, true, &txn);
    for (r = batch; rc == AP_OK && r != NULL; r = r->next) {
        rc = store_put(txn, STORE_META, r->key, "1", 1, true);
        r->res = rc == AP_EEXIST ? NONCE_REPLAYED : NONCE_OK;
        if (rc == AP_EEXIST) {
            rc = AP_OK;
        }
    }
    if (rc == AP_OK && prune) {
        rc = prune_marks(nc, txn, now);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    if (rc != AP_OK) {
        log_err("nonce", "recording nonces' use failed: %s",
                ap_strerror(rc));
        for (r = batch; r != NULL; r = r->next) {
            r->res = NONCE_FAILED;
        }
    }
}

/* Shared: the exclusive put that makes this redemption the only one. The
 * request waits in the queue; whichever waiting thread finds no commit
 * running writes the queue's marks (its own among them), so concurrent
 * redemptions share one durable commit. */
static enum nonce_check
mark_used(struct nonce_ctx *nc, const unsigned char *raw, uint64_t issued,
          long long now)
{
    struct mark_req req;

    memset(&req, 0, sizeof(req));
    snprintf(req.key, sizeof(req.key),
             NONCE_MARK_PREFIX "%010llu/%08llx/%016llx",
             (unsigned long long)issued, (unsigned long long)get_be(raw, 4),
             (unsigned long long)get_be(raw + 4, 8));
    pthread_mutex_lock(&nc->lock);
    *nc->queue_tail = &req;
    nc->queue_tail = &req.next;
    while (!req.done) {
        struct mark_req *batch;
        struct mark_req **cut;
        size_t n = 0;

        if (nc->committing) {
            pthread_cond_wait(&nc->marked, &nc->lock);
            continue;
        }
        /* Take up to NONCE_MARK_BATCH from the head of the queue. */
        nc->committing = true;
        batch = nc->queue;
        cut = &nc->queue;
        while (*cut != NULL && n < NONCE_MARK_BATCH) {
            cut = &(*cut)->next;
            n++;
        }
        nc->queue = *cut;
        if (nc->queue == NULL) {
            nc->queue_tail = &nc->queue;
        }
        *cut = NULL;
        pthread_mutex_unlock(&nc->lock);
        commit_batch(nc, batch, now);
        pthread_mutex_lock(&nc->lock);
        while (batch != NULL) {
            struct mark_req *next = batch->next;

            batch->done = true;   /* may be freed by its thread from now */
            batch = next;
        }
        nc->committing = false;
        pthread_cond_broadcast(&nc->marked);
    }
    pthread_mutex_unlock(&nc->lock);
    return req.res;
}

enum nonce_check
nonce_consume(struct nonce_ctx *nc, const char *nonce)
{
    unsigned char raw[NONCE_RAW];
    unsigned char mac[NONCE_MAC];
    size_t n = 0;
    uint64_t counter;
    uint64_t issued;
    long long now_full = (long long)time_now();
    uint64_t now = (uint64_t)now_full & 0xffffffffu;
    uint64_t age;
    bool own;
    enum nonce_check res;
    unsigned char bit;
    size_t byte;

    if (strlen(nonce) != NONCE_LEN ||
        b64url_decode(nonce, NONCE_LEN, raw, sizeof(raw), &n) != AP_OK ||
        n != NONCE_RAW) {
        return NONCE_UNKNOWN;
    }
    own = memcmp(raw, nc->instance, 4) == 0;
    if (nonce_mac(nc, raw, mac) != AP_OK ||
        crypto_ct_memcmp(mac, raw + NONCE_RAW - NONCE_MAC, NONCE_MAC) != 0 ||
        (!own && nc->st == NULL)) {
        return NONCE_UNKNOWN;
    }
    counter = get_be(raw + 4, 8);
    issued = get_be(raw + 12, 4);
    age = (now - issued) & 0xffffffffu;
    if (!own) {
        /* Another instance's clock may be a little ahead of ours. */
        if (age > nc->ttl_sec && ((issued - now) & 0xffffffffu) >
                                     (uint64_t)NONCE_SKEW_SEC) {
            return NONCE_EXPIRED;
        }
        /* The full issue time, for the mark's key (the nonce has 32 bits;
         * the mark sorts by the epoch second). */
        return mark_used(nc, raw,
                         (uint64_t)(now_full -
                                    (long long)(int32_t)(uint32_t)age),
                         now_full);
    }
    if (age > nc->ttl_sec) {
        return NONCE_EXPIRED;
    }
    byte = (counter % NONCE_WINDOW) / 8;
    bit = (unsigned char)(1u << (counter % 8));
    pthread_mutex_lock(&nc->lock);
    if (counter >= nc->next ||
        (nc->next > NONCE_WINDOW && counter < nc->next - NONCE_WINDOW)) {
        res = NONCE_EXPIRED;
    } else if (nc->used[byte] & bit) {
        res = NONCE_REPLAYED;
    } else {
        nc->used[byte] |= bit;
        res = NONCE_OK;
    }
    pthread_mutex_unlock(&nc->lock);
    if (res == NONCE_OK && nc->st != NULL) {
        /* Another instance may have redeemed it first, or may be asked
         * to later: the mark settles it for both. */
        res = mark_used(nc, raw, now_full - (long long)age, now_full);
    }
    return res;
}
