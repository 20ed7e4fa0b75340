/* common/buf.h: a growable byte buffer with a hard cap.
 *
 * Every buffer that holds bytes from the network or a PKI is a struct buf
 * with a cap: appending past the cap fails with AP_ETOOBIG and leaves the
 * contents as they were. The data is always NUL-terminated (the NUL is not
 * counted in len). Not thread-safe; one owner at a time. */
#ifndef AP_COMMON_BUF_H
#define AP_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct buf {
    char *data; /* NUL-terminated, NULL until the first append */
    size_t len; /* bytes used, without the NUL */
    size_t size; /* bytes allocated */
    size_t cap; /* most bytes len may reach */
    bool secret; /* wipe every copy: see buf_init_secret */
};

/* Zeroes b and sets its cap. Never fails. */
void buf_init(struct buf *b, size_t cap);
/* Like buf_init, for bytes that are a secret (a login answer carrying a
 * token, a rendered password): growing copies and wipes instead of
 * realloc, and buf_reset / buf_fini overwrite the bytes. What buf_take
 * hands out is the caller's to wipe. */
void buf_init_secret(struct buf *b, size_t cap);
/* Frees the data; b may be reused after buf_init. Accepts a zeroed buf.
 * Keeps the cap and the secret mark. */
void buf_fini(struct buf *b);
/* Empties b without freeing. */
void buf_reset(struct buf *b);
AP_MUST_CHECK ap_err buf_append(struct buf *b, const void *data, size_t len);
AP_MUST_CHECK ap_err buf_appends(struct buf *b, const char *s);
AP_MUST_CHECK ap_err buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (free() it) and re-initialises b. Returns
 * an empty string, not NULL, for an empty buffer; NULL on ENOMEM. */
char *buf_take(struct buf *b);

#endif /* AP_COMMON_BUF_H */
