/* common/id.h: random identifiers for accounts, orders, authorizations,
 * challenges tokens and certificates: 128 bits (or 256 for tokens) from the
 * shared DRBG in base64url. Thread-safe after crypto_init. */
#ifndef AP_COMMON_ID_H
#define AP_COMMON_ID_H

#include <stddef.h>

#include "common/err.h"

#define ID_LEN 22     /* 16 bytes in base64url, without the NUL */
#define TOKEN_LEN 43  /* 32 bytes in base64url, without the NUL */

/* Writes a new id into out (outlen > ID_LEN). */
AP_MUST_CHECK ap_err id_new(char *out, size_t outlen);
/* Writes a request's id into out (outlen > ID_LEN): the same form as
 * id_new's, unique rather than unguessable: 9 bytes from the kernel made
 * once per process (crypto_random_os) and a 56-bit counter. It names a
 * request in the logs and the audit log and grants nothing; a request
 * that takes no OpenSSL call (the directory) then sets none up.
 * Thread-safe; no crypto_init needed. */
AP_MUST_CHECK ap_err id_request(char *out, size_t outlen);
/* Writes a new challenge token into out (outlen > TOKEN_LEN). */
AP_MUST_CHECK ap_err id_token(char *out, size_t outlen);
/* True when s has the form of an id or token: 1..64 base64url characters. */
int id_is_valid(const char *s);

#endif /* AP_COMMON_ID_H */
