/* common/b64url.h: strict base64url (RFC 4648 §5) without padding.
 *
 * Decoding rejects '=', whitespace, '+', '/', any other byte outside the
 * URL-safe alphabet, a length of 1 mod 4 and non-zero trailing bits, so
 * every byte string has exactly one accepted encoding. Thread-safe. */
#ifndef AP_COMMON_B64URL_H
#define AP_COMMON_B64URL_H

#include <stddef.h>

#include "common/err.h"

/* Bytes needed to hold the encoding of len bytes, with the NUL. */
size_t b64url_encoded_size(size_t len);

/* Encodes len bytes into out (outlen >= b64url_encoded_size(len)),
 * NUL-terminated. Returns AP_ETOOBIG when out is too small. */
AP_MUST_CHECK ap_err b64url_encode(const void *in, size_t len, char *out,
                                   size_t outlen);

/* Encodes into a new string (caller frees). NULL on ENOMEM. */
char *b64url_encode_alloc(const void *in, size_t len);

/* Decodes inlen characters into out (at most outlen bytes), sets *outlen_used.
 * AP_EPARSE: not strict base64url; AP_ETOOBIG: out too small. */
AP_MUST_CHECK ap_err b64url_decode(const char *in, size_t inlen,
                                   unsigned char *out, size_t outlen,
                                   size_t *outlen_used);

/* Decodes into a new buffer (caller frees, NUL-terminated for convenience,
 * the NUL not counted). *out set only on AP_OK. */
AP_MUST_CHECK ap_err b64url_decode_alloc(const char *in, size_t inlen,
                                         unsigned char **out, size_t *outlen);

#endif /* AP_COMMON_B64URL_H */
