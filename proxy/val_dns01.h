/* proxy/val_dns01.h: the dns-01 validator (RFC 8555 §8.4). */
#ifndef AP_PROXY_VAL_DNS01_H
#define AP_PROXY_VAL_DNS01_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/val.h"

extern const struct validator_ops validator_dns01;

#define VAL_DNS01_DIGEST_LEN 43    /* base64url of a SHA-256, no padding */

/* RFC 8555 §8.4: the TXT value, base64url(SHA-256(keyauth)), into out
 * (outlen > VAL_DNS01_DIGEST_LEN). */
void val_dns01_expected(const char *keyauth, char *out, size_t outlen);

#endif /* AP_PROXY_VAL_DNS01_H */
