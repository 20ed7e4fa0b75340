/* common/b64url.c: strict base64url, no padding. */
#include "common/b64url.h"

#include <stdint.h>
#include <stdlib.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

size_t
b64url_encoded_size(size_t len)
{
    return (len / 3) * 4 + ((len % 3) ? (len % 3) + 1 : 0) + 1;
}

ap_err
b64url_encode(const void *in, size_t len, char *out, size_t outlen)
{
    const unsigned char *p = in;
    size_t i;
    size_t o = 0;

    if (len > (SIZE_MAX - 4) / 4 * 3 || outlen < b64url_encoded_size(len)) {
        return AP_ETOOBIG;
    }
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) |
                     p[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8);
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return AP_OK;
}

char *
b64url_encode_alloc(const void *in, size_t len)
{
    size_t n = b64url_encoded_size(len);
    char *out = malloc(n);

    if (out == NULL) {
        return NULL;
    }
    if (b64url_encode(in, len, out, n) != AP_OK) {
        free(out);
        return NULL;
    }
    return out;
}

ap_err
b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen,
              size_t *outlen_used)
{
    size_t need;
    size_t i;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (inlen % 4 == 1) {
        return AP_EPARSE;
    }
    need = inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0);
    for (i = 0; i < inlen; i++) {
        if (b64_value((unsigned char)in[i]) < 0) {
            return AP_EPARSE;
        }
    }
    if (need > outlen) {
        return AP_ETOOBIG;
    }
    for (i = 0; i < inlen; i++) {
        acc = (acc << 6) | (uint32_t)b64_value((unsigned char)in[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    /* Leftover bits must be zero: one canonical encoding per value. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return AP_EPARSE;
    }
    *outlen_used = o;
    return AP_OK;
}

ap_err
b64url_decode_alloc(const char *in, size_t inlen, unsigned char **out,
                    size_t *outlen)
{
    size_t cap = inlen / 4 * 3 + 3;
    unsigned char *p;
    size_t n = 0;
    ap_err rc;

    p = malloc(cap + 1);
    if (p == NULL) {
        return AP_ENOMEM;
    }
    rc = b64url_decode(in, inlen, p, cap, &n);
    if (rc != AP_OK) {
        free(p);
        return rc;
    }
    p[n] = '\0';
    *out = p;
    *outlen = n;
    return AP_OK;
}
