/* common/buf.c: capped growable buffer. */
#include "common/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
}

void
buf_init_secret(struct buf *b, size_t cap)
{
    buf_init(b, cap);
    b->secret = true;
}

void
buf_fini(struct buf *b)
{
    size_t cap = b->cap;
    bool secret = b->secret;

    if (secret && b->data != NULL) {
        explicit_bzero(b->data, b->size);
    }
    free(b->data);
    buf_init(b, cap);
    b->secret = secret;
}

void
buf_reset(struct buf *b)
{
    if (b->secret && b->data != NULL) {
        explicit_bzero(b->data, b->len);
    }
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

static ap_err
buf_reserve(struct buf *b, size_t extra)
{
    size_t want;
    size_t nsize;
    char *p;

    if (extra > b->cap || b->len > b->cap - extra) {
        return AP_ETOOBIG;
    }
    want = b->len + extra + 1;
    if (want <= b->size) {
        return AP_OK;
    }
    nsize = b->size ? b->size : 256;
    while (nsize < want) {
        if (nsize > SIZE_MAX / 2) {
            return AP_ENOMEM;
        }
        nsize *= 2;
    }
    if (b->secret) {
        /* realloc may move the bytes and free the old block as it is. */
        p = malloc(nsize);
        if (p == NULL) {
            return AP_ENOMEM;
        }
        if (b->data != NULL) {
            memcpy(p, b->data, b->len + 1);
            explicit_bzero(b->data, b->size);
            free(b->data);
        }
    } else {
        p = realloc(b->data, nsize);
        if (p == NULL) {
            return AP_ENOMEM;
        }
    }
    b->data = p;
    b->size = nsize;
    return AP_OK;
}

ap_err
buf_append(struct buf *b, const void *data, size_t len)
{
    ap_err rc;

    rc = buf_reserve(b, len);
    if (rc != AP_OK) {
        return rc;
    }
    if (len > 0) {
        memcpy(b->data + b->len, data, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
    return AP_OK;
}

ap_err
buf_appends(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

ap_err
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    ap_err rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return AP_EINVAL;
    }
    rc = buf_reserve(b, (size_t)n);
    if (rc != AP_OK) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return AP_OK;
}

char *
buf_take(struct buf *b)
{
    char *p = b->data;
    bool secret = b->secret;

    if (p == NULL) {
        p = calloc(1, 1);
    }
    buf_init(b, b->cap);
    b->secret = secret;
    return p;
}
