/* common/crypto.c: randomness, SHA-256, HMAC, constant-time comparison and
 * wiping on OpenSSL libcrypto (see crypto.h). */
#include "common/crypto.h"
#include "common/randpool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static atomic_bool g_ready;

/* ---- random -------------------------------------------------------- */

ap_err
crypto_init(void)
{
    ap_err rc = AP_ECRYPTO;

    /* OpenSSL 3 seeds its DRBGs from the OS on first use and reseeds
     * them after fork; RAND_status does that first use now, so that a
     * machine without entropy fails at start and not on a request. */
    if (RAND_status() != 1) {
        ERR_clear_error();
        goto out;
    }
    atomic_store(&g_ready, true);
    rc = AP_OK;
out:
    return rc;
}

void
crypto_init_deferred(void)
{
    atomic_store(&g_ready, true);
}

ap_err
crypto_random_os(void *out, size_t len)
{
    unsigned char *p = out;
    ssize_t n;

    if (out == NULL && len != 0) {
        return AP_EINVAL;
    }
    if (len > CRYPTO_RANDOM_OS_MAX) {
        return AP_ETOOBIG;
    }
    while (len > 0) {
        n = getrandom(p, len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return AP_ECRYPTO;
        }
        p += n;
        len -= (size_t)n;
    }
    return AP_OK;
}

void
crypto_fini(void)
{
    atomic_store(&g_ready, false);
    randpool_wipe();
}

/* RAND_bytes in chunks of at most INT_MAX bytes. */
static bool
rand_fill(unsigned char *out, size_t len)
{
    size_t chunk;

    while (len > 0) {
        chunk = len < (size_t)INT_MAX ? len : (size_t)INT_MAX;
        if (RAND_bytes(out, (int)chunk) != 1) {
            ERR_clear_error();
            return false;
        }
        out += chunk;
        len -= chunk;
    }
    return true;
}

ap_err
crypto_random(void *out, size_t len)
{
    ap_err rc = AP_EINTERNAL;

    if (out == NULL && len != 0) {
        rc = AP_EINVAL;
        goto out;
    }
    if (!atomic_load(&g_ready)) {
        rc = AP_EINTERNAL;
        goto out;
    }
    /* Small requests from the thread's pool: one RAND_bytes (and one
     * getpid inside it) per RANDPOOL_SIZE bytes instead of per call. */
    if (!randpool_get(out, len, rand_fill)) {
        rc = AP_ECRYPTO;
        goto out;
    }
    rc = AP_OK;
out:
    return rc;
}

/* ---- hashes and MACs ----------------------------------------------- */

/* SHA-256 and HMAC-SHA256 are mbedTLS's (already mapped for the TLS
 * listener): a plain function call, where OpenSSL 3 fetches the
 * algorithm from its provider on each use and sets its providers up at
 * the first, about 2 MB of libcrypto's pages (README, Decisions). A
 * request that needs only these (the directory and its Replay-Nonce, a
 * rate-limit key) leaves libcrypto unset-up. */
void
crypto_sha256(const void *data, size_t len, unsigned char *out)
{
    if ((data == NULL && len != 0) ||
        mbedtls_sha256_ret(data != NULL ? data : (const void *)"", len, out,
                           0) != 0) {
        /* Cannot happen; never leave garbage. */
        memset(out, 0, CRYPTO_SHA256_LEN);
    }
}

/* HMAC with the SHA-2 function mdname into out (outlen bytes: its size). */
static ap_err
hmac_md(const char *mdname, size_t outlen, const void *key, size_t keylen,
        const void *msg, size_t msglen, unsigned char *out)
{
    size_t n = 0;
    ap_err rc = AP_EINTERNAL;

    if (out == NULL || (key == NULL && keylen != 0) ||
        (msg == NULL && msglen != 0)) {
        rc = AP_EINVAL;
        goto out;
    }
    /* An empty key is "" rather than NULL: OpenSSL's HMAC wants one. */
    if (EVP_Q_mac(NULL, "HMAC", NULL, mdname, NULL,
                  key != NULL ? key : "", keylen,
                  (const unsigned char *)(msg != NULL ? msg : ""), msglen,
                  out, outlen,
                  &n) == NULL ||
        n != outlen) {
        ERR_clear_error();
        rc = AP_ECRYPTO;
        goto out;
    }
    rc = AP_OK;
out:
    return rc;
}

ap_err
crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
                   size_t msglen, unsigned char *out)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    if (out == NULL || (key == NULL && keylen != 0) ||
        (msg == NULL && msglen != 0)) {
        return AP_EINVAL;
    }
    if (md == NULL ||
        mbedtls_md_hmac(md, key != NULL ? key : (const void *)"", keylen,
                        msg != NULL ? msg : (const void *)"", msglen,
                        out) != 0) {
        return AP_ECRYPTO;
    }
    return AP_OK;
}

struct crypto_hmac_key {
    mbedtls_sha256_context inner;   /* after (K ^ ipad) */
    mbedtls_sha256_context outer;   /* after (K ^ opad) */
};

#define HMAC_BLOCK 64   /* SHA-256's block */

ap_err
crypto_hmac_key_new(const void *key, size_t keylen,
                    struct crypto_hmac_key **out)
{
    unsigned char k[HMAC_BLOCK] = { 0 };
    unsigned char pad[HMAC_BLOCK];
    struct crypto_hmac_key *h;
    int ret = 0;

    *out = NULL;
    if (key == NULL && keylen != 0) {
        return AP_EINVAL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return AP_ENOMEM;
    }
    /* RFC 2104 §2: a key longer than a block is hashed first. */
    if (keylen > HMAC_BLOCK) {
        crypto_sha256(key, keylen, k);
    } else if (keylen > 0) {
        memcpy(k, key, keylen);
    }
    mbedtls_sha256_init(&h->inner);
    mbedtls_sha256_init(&h->outer);
    for (size_t i = 0; i < HMAC_BLOCK; i++) {
        pad[i] = (unsigned char)(k[i] ^ 0x36);
    }
    ret |= mbedtls_sha256_starts_ret(&h->inner, 0);
    ret |= mbedtls_sha256_update_ret(&h->inner, pad, HMAC_BLOCK);
    for (size_t i = 0; i < HMAC_BLOCK; i++) {
        pad[i] = (unsigned char)(k[i] ^ 0x5c);
    }
    ret |= mbedtls_sha256_starts_ret(&h->outer, 0);
    ret |= mbedtls_sha256_update_ret(&h->outer, pad, HMAC_BLOCK);
    crypto_zeroize(k, sizeof(k));
    crypto_zeroize(pad, sizeof(pad));
    if (ret != 0) {
        crypto_hmac_key_free(h);
        return AP_ECRYPTO;
    }
    *out = h;
    return AP_OK;
}

void
crypto_hmac_key_free(struct crypto_hmac_key *k)
{
    if (k == NULL) {
        return;
    }
    mbedtls_sha256_free(&k->inner);     /* wipes */
    mbedtls_sha256_free(&k->outer);
    free(k);
}

ap_err
crypto_hmac_sha256_with(const struct crypto_hmac_key *k, const void *msg,
                        size_t msglen, unsigned char *out)
{
    unsigned char ih[CRYPTO_SHA256_LEN];
    mbedtls_sha256_context c;
    int ret = 0;

    if (k == NULL || out == NULL || (msg == NULL && msglen != 0)) {
        return AP_EINVAL;
    }
    mbedtls_sha256_init(&c);
    mbedtls_sha256_clone(&c, &k->inner);
    ret |= mbedtls_sha256_update_ret(&c, msg != NULL ? msg : (const void *)"",
                                     msglen);
    ret |= mbedtls_sha256_finish_ret(&c, ih);
    mbedtls_sha256_clone(&c, &k->outer);
    ret |= mbedtls_sha256_update_ret(&c, ih, sizeof(ih));
    ret |= mbedtls_sha256_finish_ret(&c, out);
    mbedtls_sha256_free(&c);
    crypto_zeroize(ih, sizeof(ih));
    if (ret != 0) {
        memset(out, 0, CRYPTO_SHA256_LEN);
        return AP_ECRYPTO;
    }
    return AP_OK;
}

ap_err
crypto_hmac(const char *alg, const void *key, size_t keylen, const void *msg,
            size_t msglen, unsigned char *out, size_t *outlen)
{
    static const struct {
        const char *name;
        const char *md;
        size_t len;
    } hs[] = {
        { "HS256", "SHA256", 32 },
        { "HS384", "SHA384", 48 },
        { "HS512", "SHA512", 64 },
    };

    if (alg == NULL || outlen == NULL) {
        return AP_EINVAL;
    }
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        if (strcmp(alg, hs[i].name) == 0) {
            *outlen = hs[i].len;
            return hmac_md(hs[i].md, hs[i].len, key, keylen, msg, msglen,
                           out);
        }
    }
    return AP_EINVAL;
}

int
crypto_ct_memcmp(const void *a, const void *b, size_t len)
{
    if (len == 0) {
        return 0;
    }
    return CRYPTO_memcmp(a, b, len);
}

void
crypto_zeroize(void *p, size_t len)
{
    if (p == NULL || len == 0) {
        return;
    }
    OPENSSL_cleanse(p, len);
}
