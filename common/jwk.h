/* common/jwk.h: JWS algorithms, public account keys from JWKs (RFC 7517,
 * RFC 7518 §6), their RFC 7638 thumbprints and JWS signature verification
 * (RFC 7515, RFC 7518 §3), on OpenSSL libcrypto.
 *
 * A key is an EVP_PKEY built from the JWK members (RSA: EVP_PKEY_fromdata
 * with n and e; EC: a copy of the curve's parameters with the point set by
 * EVP_PKEY_set1_encoded_public_key; no DER, PEM or decoder round trip),
 * checked, and read-only afterwards: any number of threads may verify
 * with the same key at once. Signatures are checked with
 * EVP_DigestVerify, on a copy of a verification context the key sets up
 * on its first verification for that algorithm (kept with the key, at
 * most two: RS256 and PS256 for RSA) instead of fetching the digest and
 * signature method by name for every JWS. Nothing here logs; every
 * refusal comes with a reason for humans in the caller's errbuf. */
#ifndef AP_COMMON_JWK_H
#define AP_COMMON_JWK_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/crypto.h"
#include "common/err.h"

#define CRYPTO_THUMBPRINT_LEN 43 /* base64url of a SHA-256, without NUL */

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
 * "EdDSA" (refused: see README "Decisions"), wrong case). */
AP_MUST_CHECK ap_err crypto_alg_parse(const char *name, enum crypto_alg *out);
/* "RS256 PS256 ES256 ES384 ES512": for badSignatureAlgorithm details. */
const char *crypto_alg_list(void);
/* Static name of alg ("ES256"); "unknown" when out of range. */
const char *crypto_alg_name(enum crypto_alg alg);

/* A public account key (opaque; wraps an EVP_PKEY). */
struct crypto_key;

/* Builds a public key from a JWK object (borrowed).
 * Accepts kty "EC" with crv P-256, P-384, P-521 (x and y base64url of
 * exactly the field size, the point on the curve) and kty "RSA" with n, e
 * (n odd, of CRYPTO_MIN_RSA_BITS..CRYPTO_MAX_RSA_BITS bits, no leading
 * zero octet; e odd, > 1, at most 32 bits). Rejects private members ("d",
 * "p", ...), other kty/crv (OKP, that is EdDSA, included). Extra public
 * members (kid, use, alg) are ignored. AP_EINVAL with a reason for humans
 * in errbuf on refusal (AP_ENOMEM, AP_EINTERNAL otherwise); *out set only
 * on AP_OK; free with crypto_key_free. */
AP_MUST_CHECK ap_err crypto_jwk_parse(const cJSON *jwk, struct crypto_key **out,
                                      char *errbuf, size_t errlen);
/* Keys are reference counted: crypto_key_ref adds a reference (and
 * returns key; NULL stays NULL), crypto_key_free drops one and frees the
 * key with the last. A key is read-only, so its holders may use it from
 * any threads. */
struct crypto_key *crypto_key_ref(struct crypto_key *key);
void crypto_key_free(struct crypto_key *key);

/* RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)), NUL-terminated
 * into out (outlen >= CRYPTO_THUMBPRINT_LEN + 1, else AP_ETOOBIG). */
AP_MUST_CHECK ap_err crypto_key_thumbprint(const struct crypto_key *key,
                                           char *out, size_t outlen);

/* The canonical public JWK of key (members in RFC 7638 order) as a new
 * cJSON object (caller deletes); NULL on ENOMEM or a NULL key. */
cJSON *crypto_key_to_jwk(const struct crypto_key *key);

/* True when alg can be used with key: RS256/PS256 with RSA, ES256 with
 * P-256, ES384 with P-384, ES512 with P-521. */
bool crypto_alg_fits_key(enum crypto_alg alg, const struct crypto_key *key);

/* Verifies a JWS signature over msg. For ES* the signature is the raw
 * R||S form of RFC 7518 §3.4 of exactly twice the field size (converted
 * to an ECDSA_SIG); for RS256/PS256 exactly the modulus size. PS256 is
 * MGF1-SHA-256 with any salt length (josepy signs with the maximum).
 * AP_OK: valid; AP_ECRYPTO: invalid signature; AP_EINVAL: alg does not
 * fit key, sig has the wrong length, or a NULL argument; AP_ENOMEM.
 * Thread-safe (the key's verification context for alg is made once, by
 * the first caller, and only read afterwards). */
AP_MUST_CHECK ap_err crypto_verify(const struct crypto_key *key,
                                   enum crypto_alg alg, const void *msg,
                                   size_t msglen, const unsigned char *sig,
                                   size_t siglen);

/* The SubjectPublicKeyInfo DER of key (i2d_PUBKEY: named curve and
 * uncompressed point for EC, rsaEncryption with NULL parameters for RSA),
 * encoded as crypto_csr's pubkey_der is, so the two compare byte for
 * byte. *der (caller frees with free) set only on AP_OK. */
AP_MUST_CHECK ap_err crypto_key_spki_der(const struct crypto_key *key,
                                         unsigned char **der, size_t *len);

/* A bounded cache of parsed keys (issue 18: building the EVP_PKEY of an
 * account's stored JWK was 2.7 % of the proxy's CPU, on every request).
 * An entry is keyed by the SHA-256 of the JWK's unformatted cJSON text,
 * so a JWK with any other member or value (a rolled-over key) is a miss
 * and never gets another JWK's key; what is cached is only what
 * crypto_jwk_parse made of that same text. It caches nothing about the
 * account: the caller still reads and checks the account (its status)
 * on every request. At most cap entries (the least recently used goes);
 * thread-safe (one mutex around a scan of cap digests). */
#define JWK_CACHE_MAX_ENTRIES 4096
struct jwk_cache;

struct jwk_cache_stats {
    unsigned long long hits;
    unsigned long long misses;    /* parsed (or refused) */
    unsigned long long evictions;
    size_t entries;
};

/* A cache of at most cap (1..JWK_CACHE_MAX_ENTRIES) keys; NULL on ENOMEM
 * or a bad cap. */
struct jwk_cache *jwk_cache_new(size_t cap);
/* Frees the cache and drops its references (keys callers hold live on). */
void jwk_cache_free(struct jwk_cache *c);
/* As crypto_jwk_parse, through the cache: *out is a reference the caller
 * drops with crypto_key_free. A JWK that is refused is not cached (it is
 * parsed and refused again next time). A NULL cache, or a JWK over
 * 4 KiB of text, is parsed without it. */
AP_MUST_CHECK ap_err jwk_cache_parse(struct jwk_cache *c, const cJSON *jwk,
                                     struct crypto_key **out, char *errbuf,
                                     size_t errlen);
/* Counters since jwk_cache_new and the entries held now. */
void jwk_cache_stats(struct jwk_cache *c, struct jwk_cache_stats *out);

#endif /* AP_COMMON_JWK_H */
