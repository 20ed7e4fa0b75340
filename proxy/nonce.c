/* proxy/nonce.c: HMAC nonces with a used-counter bitmap. */
#include "proxy/nonce.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/timeutil.h"

#define NONCE_RAW 32  /* 4 instance + 8 counter + 4 time + 16 MAC */
#define NONCE_MAC 16

struct nonce_ctx {
    unsigned char key[32];
    unsigned char instance[4];
    unsigned ttl_sec;
    pthread_mutex_t lock;
    uint64_t next;           /* counter of the next nonce */
    unsigned char *used;     /* NONCE_WINDOW bits */
};

ap_err
nonce_ctx_new(unsigned ttl_sec, struct nonce_ctx **out)
{
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
    rc = crypto_random(nc->key, sizeof(nc->key));
    if (rc == AP_OK) {
        rc = crypto_random(nc->instance, sizeof(nc->instance));
    }
    if (rc != AP_OK) {
        free(nc->used);
        free(nc);
        return rc;
    }
    nc->ttl_sec = ttl_sec;
    nc->next = 1;
    pthread_mutex_init(&nc->lock, NULL);
    *out = nc;
    return AP_OK;
}

void
nonce_ctx_free(struct nonce_ctx *nc)
{
    if (nc == NULL) {
        return;
    }
    crypto_zeroize(nc->key, sizeof(nc->key));
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

    rc = crypto_hmac_sha256(nc->key, sizeof(nc->key), raw,
                            NONCE_RAW - NONCE_MAC, full);
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

enum nonce_check
nonce_consume(struct nonce_ctx *nc, const char *nonce)
{
    unsigned char raw[NONCE_RAW];
    unsigned char mac[NONCE_MAC];
    size_t n = 0;
    uint64_t counter;
    uint64_t issued;
    uint64_t now = (uint64_t)time_now() & 0xffffffffu;
    enum nonce_check res;
    unsigned char bit;
    size_t byte;

    if (strlen(nonce) != NONCE_LEN ||
        b64url_decode(nonce, NONCE_LEN, raw, sizeof(raw), &n) != AP_OK ||
        n != NONCE_RAW) {
        return NONCE_UNKNOWN;
    }
    if (nonce_mac(nc, raw, mac) != AP_OK ||
        crypto_ct_memcmp(mac, raw + NONCE_RAW - NONCE_MAC, NONCE_MAC) != 0 ||
        memcmp(raw, nc->instance, 4) != 0) {
        return NONCE_UNKNOWN;
    }
    counter = get_be(raw + 4, 8);
    issued = get_be(raw + 12, 4);
    if (((now - issued) & 0xffffffffu) > nc->ttl_sec) {
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
    return res;
}
