/* common/crypto.h: randomness, hashes, HMAC, constant-time comparison and
 * wiping, on OpenSSL libcrypto (RAND_bytes, EVP, CRYPTO_memcmp,
 * OPENSSL_cleanse), except SHA-256 and HMAC-SHA256, which are mbedTLS's
 * (no provider set-up: a request that needs only them, such as the
 * directory with its nonce, leaves libcrypto's untouched while idle).
 *
 * The other crypto modules, all on OpenSSL libcrypto too:
 *   common/jwk.h   JWS algorithms, account keys from JWKs, RFC 7638
 *                  thumbprints, JWS signature verification
 *   common/csr.h   PKCS#10 requests: parsing, self-signature, names, key,
 *                  the extension policy
 *   common/x509.h  certificates and PKCS#7 from PKIs, chain validation
 *   common/ca.h    the embedded CA; common/jose.h step-ca token signing
 * mbedTLS is used otherwise only by the TLS listener inside civetweb.
 *
 * Everything here is thread-safe once crypto_init has returned. */
#ifndef AP_COMMON_CRYPTO_H
#define AP_COMMON_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_MIN_RSA_BITS 2048
#define CRYPTO_MAX_RSA_BITS 8192

/* The kinds of public key this server accepts (account keys and CSR
 * keys alike). */
enum crypto_key_type { CRYPTO_KEY_RSA = 1, CRYPTO_KEY_EC };

/* Checks that OpenSSL's random generator is seeded and enables
 * crypto_random. Call once in main before any thread starts; calling it
 * again is harmless. */
AP_MUST_CHECK ap_err crypto_init(void);
/* Enables crypto_random without a call into OpenSSL: its generator
 * seeds itself at its first use. For a process whose start-up check
 * (crypto_init in a child) already found the generator seeded, and that
 * leaves libcrypto's set-up to its first request (proxy/main.c). */
void crypto_init_deferred(void);
/* Disables crypto_random until the next crypto_init, and wipes the
 * calling thread's pool of random bytes. */
void crypto_fini(void);

/* Fills out with len random bytes (RAND_bytes; requests of at most
 * RANDPOOL_DIRECT_MAX bytes through the calling thread's pool, see
 * common/randpool.h). AP_EINTERNAL before crypto_init, AP_ECRYPTO when
 * the generator fails. Thread-safe. */
AP_MUST_CHECK ap_err crypto_random(void *out, size_t len);

/* Fills out with len (at most CRYPTO_RANDOM_OS_MAX) random bytes from
 * the kernel (getrandom(2), which blocks only until the kernel's pool is
 * first seeded), without OpenSSL: for the secrets made at start (nonce
 * and rate-limit keys), so that a start without signing never sets up
 * libcrypto. Needs no crypto_init. AP_EINVAL, AP_ETOOBIG, AP_ECRYPTO.
 * Thread-safe. */
#define CRYPTO_RANDOM_OS_MAX 256
AP_MUST_CHECK ap_err crypto_random_os(void *out, size_t len);

/* SHA-256 of data into out[CRYPTO_SHA256_LEN]. */
void crypto_sha256(const void *data, size_t len, unsigned char *out);
/* HMAC-SHA256 into out[CRYPTO_SHA256_LEN]. AP_EINVAL for a NULL out, or
 * a NULL key or msg with a non-zero length. */
AP_MUST_CHECK ap_err crypto_hmac_sha256(const void *key, size_t keylen,
                                        const void *msg, size_t msglen,
                                        unsigned char *out);

/* An HMAC-SHA-256 key made ready once: SHA-256 with its inner and its
 * outer pad block absorbed (RFC 2104), so that each MAC under it costs two
 * compressions fewer than crypto_hmac_sha256, with the same result. For
 * keys that MAC every request (nonces, rate limits). Free with
 * crypto_hmac_key_free (which wipes it; accepts NULL). */
struct crypto_hmac_key;
AP_MUST_CHECK ap_err crypto_hmac_key_new(const void *key, size_t keylen,
                                         struct crypto_hmac_key **out);
void crypto_hmac_key_free(struct crypto_hmac_key *k);
/* HMAC-SHA-256 of msg under k into out (CRYPTO_SHA256_LEN bytes). Thread
 * safe: k is only read. */
AP_MUST_CHECK ap_err crypto_hmac_sha256_with(const struct crypto_hmac_key *k,
                                             const void *msg, size_t msglen,
                                             unsigned char *out);
/* HMAC for a JWS MAC algorithm name: "HS256", "HS384" or "HS512"
 * (RFC 7518 §3.2) into out (at least CRYPTO_HMAC_MAX bytes); *outlen is the
 * MAC length. AP_EINVAL for any other name. */
#define CRYPTO_HMAC_MAX 64
AP_MUST_CHECK ap_err crypto_hmac(const char *alg, const void *key,
                                 size_t keylen, const void *msg,
                                 size_t msglen, unsigned char *out,
                                 size_t *outlen);
/* Constant-time comparison of two equal-length buffers: 0 when equal. */
int crypto_ct_memcmp(const void *a, const void *b, size_t len);
/* Wipes a secret (the compiler cannot drop it). NULL is fine. */
void crypto_zeroize(void *p, size_t len);

#endif /* AP_COMMON_CRYPTO_H */
