/* common/pem.c: DER to PEM with standard, padded base64. */
#include "common/pem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char pem_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
pem_encode(const unsigned char *der, size_t len, const char *label)
{
    size_t b64 = (len + 2) / 3 * 4;
    size_t total = b64 + b64 / 64 + 2 + 2 * strlen(label) + 64;
    char *out;
    size_t o;
    size_t col = 0;

    if (len > SIZE_MAX / 2) {
        return NULL;
    }
    out = malloc(total);
    if (out == NULL) {
        return NULL;
    }
    o = (size_t)snprintf(out, total, "-----BEGIN %s-----\n", label);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)der[i] << 16;
        size_t rem = len - i;

        if (rem > 1) {
            v |= (uint32_t)der[i + 1] << 8;
        }
        if (rem > 2) {
            v |= der[i + 2];
        }
        out[o++] = pem_alphabet[(v >> 18) & 63];
        out[o++] = pem_alphabet[(v >> 12) & 63];
        out[o++] = rem > 1 ? pem_alphabet[(v >> 6) & 63] : '=';
        out[o++] = rem > 2 ? pem_alphabet[v & 63] : '=';
        col += 4;
        if (col == 64) {
            out[o++] = '\n';
            col = 0;
        }
    }
    if (col != 0) {
        out[o++] = '\n';
    }
    snprintf(out + o, total - o, "-----END %s-----\n", label);
    return out;
}
