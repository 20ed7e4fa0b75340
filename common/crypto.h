/* common/crypto.h: randomness, hashes, HMAC, constant-time comparison and
 * wiping, on OpenSSL libcrypto (RAND_bytes, EVP, CRYPTO_memcmp,
 * OPENSSL_cleanse).
 *
 * The other crypto modules, all on OpenSSL libcrypto too:
 *   common/jwk.h   JWS algorithms, account keys from JWKs, RFC 7638
 *                  thumbprints, JWS signature verification
 *   common/csr.h   PKCS#10 requests: parsing, self-signature, names, key,
 *                  the extension policy
 * mbedTLS is used only by the TLS listener inside civetweb (and, until
 * they move, by the legacy section at the end of this header).
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
/* Disables crypto_random and crypto_rng until the next crypto_init. */
void crypto_fini(void);

/* Fills out with len random bytes (RAND_bytes). AP_EINTERNAL before
 * crypto_init, AP_ECRYPTO when the generator fails. Thread-safe. */
AP_MUST_CHECK ap_err crypto_random(void *out, size_t len);

/* The same in the shape of an mbedTLS f_rng (p_rng is ignored; 0 on
 * success, a negative value on failure), for the code that still hands
 * an RNG to mbedTLS. It uses no mbedTLS itself. */
int crypto_rng(void *p_rng, unsigned char *out, size_t len);

/* SHA-256 of data into out[CRYPTO_SHA256_LEN]. */
void crypto_sha256(const void *data, size_t len, unsigned char *out);
/* HMAC-SHA256 into out[CRYPTO_SHA256_LEN]. AP_EINVAL for a NULL out, or
 * a NULL key or msg with a non-zero length. */
AP_MUST_CHECK ap_err crypto_hmac_sha256(const void *key, size_t keylen,
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

/* ---- legacy: certificate facts (mbedTLS) ------------------------------
 * crypto_cert_parse, crypto_cert_free and crypto_pem_cert_to_der move to
 * common/x509.c (OpenSSL) on the branch `certs`; this section and its
 * twin at the end of crypto.c go away when both branches are merged. */

/* Facts from an X.509 certificate in DER. Strings owned by the struct. */
struct crypto_cert {
    char *serial_hex;        /* lower-case hex, no separators, no leading 00 */
    unsigned char *pubkey_der; /* SubjectPublicKeyInfo DER */
    size_t pubkey_der_len;
    long long not_before;    /* seconds since the epoch, UTC */
    long long not_after;
    unsigned char *serial_raw; /* the serial's DER content octets */
    size_t serial_raw_len;
    unsigned char *aki;      /* authorityKeyIdentifier keyIdentifier, or NULL */
    size_t aki_len;
};

/* Parses one DER certificate. AP_EPARSE when it is not one. */
AP_MUST_CHECK ap_err crypto_cert_parse(const unsigned char *der, size_t len,
                                       struct crypto_cert **out);
void crypto_cert_free(struct crypto_cert *cert);

/* Converts the first certificate of a PEM text to DER (caller frees). */
AP_MUST_CHECK ap_err crypto_pem_cert_to_der(const char *pem,
                                            unsigned char **der,
                                            size_t *derlen);

#endif /* AP_COMMON_CRYPTO_H */
