/* common/crypto.h: every use of mbedTLS outside the TLS listener, the
 * tls-alpn-01 validator and the embedded CA.
 *
 * One CTR_DRBG for the process (seeded by crypto_init, shared by all
 * threads: Debian's mbedTLS is built with MBEDTLS_THREADING_C), public keys
 * from JWKs (RFC 7517/7518) and their RFC 7638 thumbprints, JWS signature
 * verification, hashes, HMAC, constant-time comparison and CSR parsing
 * (PKCS#10 with the extensionRequest SANs that mbedtls_x509_csr skips).
 * Version differences of mbedTLS are handled here only. */
#ifndef AP_COMMON_CRYPTO_H
#define AP_COMMON_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_THUMBPRINT_LEN 43 /* base64url of a SHA-256, without NUL */
#define CRYPTO_MIN_RSA_BITS 2048
#define CRYPTO_MAX_RSA_BITS 8192

/* Seeds the process DRBG. Call once in main before any thread starts. */
AP_MUST_CHECK ap_err crypto_init(void);
void crypto_fini(void);

/* Fills out with len random bytes from the shared DRBG. Thread-safe. */
AP_MUST_CHECK ap_err crypto_random(void *out, size_t len);

/* mbedTLS-shaped f_rng over the shared DRBG (p_rng is ignored), for
 * callers that hand an RNG to mbedTLS themselves (the CA, TLS). */
int crypto_rng(void *p_rng, unsigned char *out, size_t len);

/* JWS algorithms we verify. Names as in RFC 7518 §3.1. */
enum crypto_alg {
    CRYPTO_ALG_RS256,
    CRYPTO_ALG_PS256,
    CRYPTO_ALG_ES256,
    CRYPTO_ALG_ES384,
    CRYPTO_ALG_ES512,
    CRYPTO_ALG__MAX
};

/* The name -> enum. AP_EINVAL for anything else ("none", "HS256",
 * "EdDSA" (no Ed25519 in mbedTLS 2.28), wrong case). */
AP_MUST_CHECK ap_err crypto_alg_parse(const char *name, enum crypto_alg *out);
/* "RS256 PS256 ES256 ES384 ES512": for badSignatureAlgorithm details. */
const char *crypto_alg_list(void);
/* Static name of alg ("ES256"). */
const char *crypto_alg_name(enum crypto_alg alg);

/* A public account key (opaque; wraps an mbedtls_pk_context). */
struct crypto_key;

/* Builds a public key from a JWK object (borrowed).
 * Accepts kty "EC" with crv P-256, P-384, P-521 (x and y base64url of
 * exactly the field size, point on the curve) and kty "RSA" with n, e
 * (n of CRYPTO_MIN_RSA_BITS..CRYPTO_MAX_RSA_BITS bits, e odd and > 1).
 * Rejects private members ("d", "p", ...), other kty/crv. Extra public
 * members (kid, use, alg) are ignored. AP_EINVAL with a reason for humans
 * in errbuf on refusal; *out set only on AP_OK; free with crypto_key_free. */
AP_MUST_CHECK ap_err crypto_jwk_parse(const cJSON *jwk, struct crypto_key **out,
                                      char *errbuf, size_t errlen);
void crypto_key_free(struct crypto_key *key);

/* RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)), NUL-terminated
 * into out (outlen >= CRYPTO_THUMBPRINT_LEN + 1). */
AP_MUST_CHECK ap_err crypto_key_thumbprint(const struct crypto_key *key,
                                           char *out, size_t outlen);

/* The canonical public JWK of key (members in RFC 7638 order) as a new
 * cJSON object (caller deletes); NULL on ENOMEM. */
cJSON *crypto_key_to_jwk(const struct crypto_key *key);

/* True when alg can be used with key: RS256/PS256 with RSA, ES256 with
 * P-256, ES384 with P-384, ES512 with P-521. */
bool crypto_alg_fits_key(enum crypto_alg alg, const struct crypto_key *key);

/* Verifies a JWS signature over msg. For ES* the signature is the raw
 * R||S form of RFC 7518 §3.4 (converted to DER internally), of exactly
 * twice the field size. AP_OK: valid; AP_ECRYPTO: invalid signature;
 * AP_EINVAL: alg does not fit key or sig has the wrong length.
 * Thread-safe (key is only read). */
AP_MUST_CHECK ap_err crypto_verify(const struct crypto_key *key,
                                   enum crypto_alg alg, const void *msg,
                                   size_t msglen, const unsigned char *sig,
                                   size_t siglen);

/* SHA-256 of data into out[CRYPTO_SHA256_LEN]. */
void crypto_sha256(const void *data, size_t len, unsigned char *out);
/* HMAC-SHA256 into out[CRYPTO_SHA256_LEN]. */
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
/* Wipes a secret. */
void crypto_zeroize(void *p, size_t len);

#define CRYPTO_CSR_MAX_DER 16384
#define CRYPTO_CSR_MAX_NAMES 100

enum crypto_key_type { CRYPTO_KEY_RSA = 1, CRYPTO_KEY_EC };

/* What a PKCS#10 request asks for. All strings owned by the struct. */
struct crypto_csr {
    char *cn;                /* subject commonName, NULL when absent */
    char **dns_names;        /* dNSName SANs as written, n_dns_names of them */
    size_t n_dns_names;
    char **ip_addrs;         /* iPAddress SANs in text form (inet_ntop) */
    size_t n_ip_addrs;
    enum crypto_key_type key_type;
    unsigned key_bits;       /* RSA modulus bits, or EC curve bits */
    const char *curve;       /* "P-256" / "P-384" / "P-521", NULL for RSA */
    unsigned char *pubkey_der; /* SubjectPublicKeyInfo DER */
    size_t pubkey_der_len;
};

/* Parses a DER CSR (at most CRYPTO_CSR_MAX_DER bytes), checks its
 * self-signature, and extracts subject CN, the SANs of the PKCS#9
 * extensionRequest attribute (dNSName and iPAddress; other SAN kinds or
 * more than CRYPTO_CSR_MAX_NAMES names are refused) and the key.
 * AP_EPARSE / AP_ECRYPTO / AP_EINVAL with a reason for humans in errbuf;
 * *out set only on AP_OK; free with crypto_csr_free. */
AP_MUST_CHECK ap_err crypto_csr_parse(const unsigned char *der, size_t len,
                                      struct crypto_csr **out, char *errbuf,
                                      size_t errlen);
/* The same without checking the self-signature: only for a CSR this
 * server already checked with crypto_csr_parse (stored at finalize), to
 * read its names and key again without a second verification. */
AP_MUST_CHECK ap_err crypto_csr_read(const unsigned char *der, size_t len,
                                     struct crypto_csr **out, char *errbuf,
                                     size_t errlen);
void crypto_csr_free(struct crypto_csr *csr);

/* The SubjectPublicKeyInfo DER of key, encoded as x509_cert's and
 * crypto_csr's pubkey_der are, so they compare byte for byte. *der set only
 * on AP_OK (caller frees). */
AP_MUST_CHECK ap_err crypto_key_spki_der(const struct crypto_key *key,
                                         unsigned char **der, size_t *len);

#endif /* AP_COMMON_CRYPTO_H */
