/* test/fuzz/fuzz_answer.h: how the adapter targets read their input.
 *
 * The first byte picks the HTTP status (and, per target, a mode); the rest
 * is the body of the PKI's answer, passed as bytes with their length
 * (adapters/parse.h reads within body_len only, so no NUL is added). */
#ifndef AP_TEST_FUZZ_FUZZ_ANSWER_H
#define AP_TEST_FUZZ_FUZZ_ANSWER_H

#include "test/fuzz/fuzz.h"

#include "adapters/parse.h"

/* The statuses PKIs answer with, and a few they should not. */
static const long fuzz_statuses[16] = {
    200, 201, 202, 204, 400, 401, 403, 404,
    409, 422, 429, 500, 502, 503, 0,   302,
};

/* Fills a from data: status from the low 4 bits of the first byte. */
static inline void
fuzz_answer(const uint8_t *data, size_t size, struct adapter_answer *a)
{
    memset(a, 0, sizeof(*a));
    a->retry_after = -1;
    if (size == 0) {
        return;
    }
    a->status = fuzz_statuses[data[0] & 15];
    a->body = size > 1 ? (const char *)data + 1 : NULL;
    a->body_len = size - 1;
    /* Targets point body at a copy from fuzz_body instead. */
}

/* A malloc'd copy of the body without a terminating NUL, so that reading
 * past body_len is an ASan finding; NULL for an empty body. */
static inline char *
fuzz_body(const uint8_t *data, size_t size)
{
    char *b;

    if (size <= 1) {
        return NULL;
    }
    b = malloc(size - 1);
    if (b != NULL) {
        memcpy(b, data + 1, size - 1);
    }
    return b;
}

#endif /* AP_TEST_FUZZ_FUZZ_ANSWER_H */
