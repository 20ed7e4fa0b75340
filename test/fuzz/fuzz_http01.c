/* fuzz_http01: the http-01 body check (proxy/val_http01.c,
 * val_http01_body_ok). The first byte says how many of the following
 * bytes (mod 64) are the key authorization (up to a NUL); the rest is the
 * body. The verdict must be that of a plain reference (the body less its
 * trailing white space equals the key authorization), and a refusal's
 * reason must be made of the fixed words and the two lengths only: no
 * byte of the body may reach a problem detail (issue 10, finding 2). */
#include "test/fuzz/fuzz.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>

#include "proxy/validate.h"

static bool
reference(const char *body, size_t len, const char *keyauth)
{
    while (len > 0 && isspace((unsigned char)body[len - 1])) {
        len--;
    }
    return len == strlen(keyauth) && memcmp(body, keyauth, len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char keyauth[65];
    char why[160];
    char want[160];
    size_t k;
    const char *body;
    size_t blen;
    bool ok;

    if (size < 1) {
        return 0;
    }
    k = data[0] % 64;
    if (k > size - 1) {
        k = size - 1;
    }
    memcpy(keyauth, data + 1, k);
    keyauth[k] = '\0';
    body = (const char *)data + 1 + k;
    blen = size - 1 - k;
    why[0] = '\0';
    ok = val_http01_body_ok(body, blen, keyauth, why, sizeof(why));
    if (ok != reference(body, blen, keyauth)) {
        abort();
    }
    if (!ok) {
        snprintf(want, sizeof(want), "the body (%zu bytes) is not the key "
                 "authorization (%zu bytes)", blen, strlen(keyauth));
        if (strcmp(why, want) != 0) {
            abort();
        }
    }
    return 0;
}
