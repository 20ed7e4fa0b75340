/* common/jwk_int.h: what jwk.c (public keys built from their numbers,
 * without OpenSSL 3.0's DER decoders) shares with csr.c, which verifies
 * a CSR's self-signature with a key built the same way from the CSR's
 * SubjectPublicKeyInfo. Not for any other file: it hands out OpenSSL
 * types. */
#ifndef AP_COMMON_JWK_INT_H
#define AP_COMMON_JWK_INT_H

#include <stddef.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

/* A public EC key on the named curve nid (NID_X9_62_prime256v1,
 * NID_secp384r1 or NID_secp521r1) from its SEC 1 encoded point: a copy
 * of the curve's parameters template with the point set (jwk.c). NULL
 * for another curve, a point OpenSSL refuses (not on the curve, a
 * coordinate not below the field prime) or ENOMEM; the error queue is
 * cleared. Caller frees with EVP_PKEY_free. Thread-safe. */
EVP_PKEY *jwk_ec_key_from_point(int nid, const unsigned char *point,
                                size_t len);
/* A public RSA key from its modulus and exponent (EVP_PKEY_fromdata; no
 * checks beyond OpenSSL's). NULL when OpenSSL refuses them or on ENOMEM;
 * the error queue is cleared. Caller frees with EVP_PKEY_free.
 * Thread-safe. */
EVP_PKEY *jwk_rsa_key_from_ne(const BIGNUM *n, const BIGNUM *e);

#endif /* AP_COMMON_JWK_INT_H */
