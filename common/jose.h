/* common/jose.h: compact JWS signing for tokens the proxy sends to a PKI
 * (step-ca's one-time tokens), ES256 only.
 *
 * The private key is loaded once at start from a file (a PEM EC P-256 key,
 * SEC1 or PKCS#8 unencrypted, or a private JWK with "d") and stays inside
 * this module; it is wiped on free. OpenSSL's libcrypto signs
 * (EVP_DigestSign); it only reads the key, so a key may be shared by
 * threads without a lock. */
#ifndef AP_COMMON_JOSE_H
#define AP_COMMON_JOSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

struct jose_key;

/* Loads the key in path (read with fileio_read, at most 16 KiB, the text
 * wiped after parsing). AP_ECONFIG with a reason (never key bytes) in
 * errbuf when the file is unreadable, empty, larger or not an EC P-256
 * private key. */
AP_MUST_CHECK ap_err jose_key_load(const char *path, struct jose_key **out,
                                   char *errbuf, size_t errlen);
/* Same from text in memory (tests, the mock PKI). */
AP_MUST_CHECK ap_err jose_key_parse(const char *text, struct jose_key **out,
                                    char *errbuf, size_t errlen);
void jose_key_free(struct jose_key *key);

/* The public half as a JWK object {"kty","crv","x","y"} (caller deletes);
 * NULL on ENOMEM. */
cJSON *jose_key_public_jwk(struct jose_key *key);

/* Signs claims (borrowed) as a compact JWS with header
 * {"alg":"ES256","kid":kid,"typ":"JWT"} into *out (caller frees). */
AP_MUST_CHECK ap_err jose_sign(struct jose_key *key, const char *kid,
                               const cJSON *claims, char **out);

#endif /* AP_COMMON_JOSE_H */
