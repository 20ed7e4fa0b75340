/* common/pem.h: PEM text from DER (RFC 7468), 64-column lines. */
#ifndef AP_COMMON_PEM_H
#define AP_COMMON_PEM_H

#include <stddef.h>

/* "-----BEGIN <label>-----\n...\n-----END <label>-----\n" as a new string
 * (caller frees); NULL on ENOMEM. */
char *pem_encode(const unsigned char *der, size_t len, const char *label);

#endif /* AP_COMMON_PEM_H */
