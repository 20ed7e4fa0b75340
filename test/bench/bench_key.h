/* test/bench/bench_key.h: the load generator's client-side keys, on
 * OpenSSL libcrypto.
 *
 * Account keys (ES256 on P-256, RS256 on RSA-2048), their public JWK and
 * RFC 7638 thumbprint (through common/jwk.h, the proxy's own code), JWS
 * signatures in the raw form of RFC 7518 §3.4, and PKCS#10 requests made
 * with X509_REQ (SANs in the extensionRequest attribute). The client
 * shares the machine with the server under test, so its signing cost is
 * kept small (about 25 us per ES256 signature here). Thread-safe: a key
 * is read-only once made and may sign from several threads at once. */
#ifndef AP_TEST_BENCH_BENCH_KEY_H
#define AP_TEST_BENCH_BENCH_KEY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

enum bkey_type { BKEY_ES256, BKEY_RS256, BKEY__MAX };

struct bkey;

/* "openssl": what bkey_sign uses (printed in the result line). */
const char *bkey_backend(void);

/* Makes a new key (RSA-2048 takes ~0.2 s). *out set only on AP_OK. */
AP_MUST_CHECK ap_err bkey_generate(enum bkey_type type, struct bkey **out);
void bkey_free(struct bkey *key);
/* Frees the calling thread's signing contexts (see bkey_sign). */
void bkey_thread_done(void);

/* "ES256" or "RS256". */
const char *bkey_alg(const struct bkey *key);
/* The public JWK as a new cJSON object (caller deletes); NULL on ENOMEM. */
cJSON *bkey_jwk(const struct bkey *key);
/* base64url thumbprint into out (outlen >= 44). */
AP_MUST_CHECK ap_err bkey_thumbprint(const struct bkey *key, char *out,
                                     size_t outlen);

/* Signs msg with the JWS algorithm of key; raw signature into sig
 * (siglen in: room, out: bytes). Keeps a signing context per key and
 * calling thread (at most 32 per thread, the oldest dropped): a thread
 * that signed calls bkey_thread_done before it ends. */
AP_MUST_CHECK ap_err bkey_sign(struct bkey *key, const void *msg, size_t len,
                               unsigned char *sig, size_t *siglen);

/* A DER PKCS#10 request for names (CN = first name, every name as a
 * dNSName SAN) signed by key (used by one thread at a time). *der (caller
 * frees) set only on AP_OK. */
AP_MUST_CHECK ap_err bkey_csr(struct bkey *key, const char *const *names,
                              size_t n, unsigned char **der, size_t *len);

/* The SubjectPublicKeyInfo DER of key into out; bytes written in *len. */
AP_MUST_CHECK ap_err bkey_pubkey_der(const struct bkey *key,
                                     unsigned char *out, size_t outlen,
                                     size_t *len);

/* Checks that pem's first certificate carries key's public key. */
AP_MUST_CHECK ap_err bkey_cert_matches(const struct bkey *key,
                                       const char *pem);

/* First certificate of pem as DER (caller frees). */
AP_MUST_CHECK ap_err bkey_cert_der(const char *pem, unsigned char **der,
                                   size_t *len);

/* Microbenchmark of the proxy's per-request key work per algorithm
 * (crypto_jwk_parse, crypto_key_thumbprint, crypto_verify, both together,
 * crypto_csr_parse) and of the client's signing; prints a table to
 * stdout. iterations: per measurement. */
void bkey_crypto_bench(unsigned iterations);

/* Checks bkey_csr (the proxy's crypto_csr_parse accepts the request and
 * reads the key and names) and bkey_cert_matches (accepts a certificate
 * for the key, refuses one for another key and text that is no
 * certificate); prints "ok"/"not ok" lines, returns the failures. */
unsigned bkey_self_test(void);

#endif /* AP_TEST_BENCH_BENCH_KEY_H */
