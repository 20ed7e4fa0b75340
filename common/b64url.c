/* common/b64url.c: strict base64url, no padding. */
#include "common/b64url.h"

#include <stdint.h>
#include <stdlib.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Each byte's 6-bit value plus one; 0: not in the alphabet. One look-up
 * per character. */
static const unsigned char b64_values[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

/* The value of c, or -1. */
static int
b64_value(unsigned char c)
{
    return (int)b64_values[c] - 1;
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
    if (need > outlen) {
        /* A character outside the alphabet is the answer before size. */
        for (i = 0; i < inlen; i++) {
            if (b64_value((unsigned char)in[i]) < 0) {
                return AP_EPARSE;
            }
        }
        return AP_ETOOBIG;
    }
    /* One pass: whole groups of four characters into three bytes. */
    for (i = 0; i + 4 <= inlen; i += 4) {
        int a = b64_value((unsigned char)in[i]);
        int b = b64_value((unsigned char)in[i + 1]);
        int c = b64_value((unsigned char)in[i + 2]);
        int d = b64_value((unsigned char)in[i + 3]);
        uint32_t v;

        if ((a | b | c | d) < 0) {
            return AP_EPARSE;
        }
        v = ((uint32_t)a << 18) | ((uint32_t)b << 12) | ((uint32_t)c << 6) |
            (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    for (; i < inlen; i++) {
        int v = b64_value((unsigned char)in[i]);

        if (v < 0) {
            return AP_EPARSE;
        }
        acc = (acc << 6) | (uint32_t)v;
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
