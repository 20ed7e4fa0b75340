/* common/id.c: random base64url identifiers. */
#include "common/id.h"

#include <string.h>

#include "common/b64url.h"
#include "common/crypto.h"

static ap_err
random_b64(size_t nbytes, char *out, size_t outlen)
{
    unsigned char raw[32];
    ap_err rc;

    if (nbytes > sizeof(raw)) {
        return AP_EINVAL;
    }
    rc = crypto_random(raw, nbytes);
    if (rc != AP_OK) {
        return rc;
    }
    return b64url_encode(raw, nbytes, out, outlen);
}

ap_err
id_new(char *out, size_t outlen)
{
    ap_err rc;

    /* An id never starts with '-': ids are typed on command lines (the
     * admin subcommands), where a leading '-' reads as an option. */
    for (int i = 0; i < 32; i++) {
        rc = random_b64(16, out, outlen);
        if (rc != AP_OK || out[0] != '-') {
            return rc;
        }
    }
    out[0] = 'A';
    return AP_OK;
}

ap_err
id_token(char *out, size_t outlen)
{
    return random_b64(32, out, outlen);
}

int
id_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64) {
        return 0;
    }
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789-_") == n;
}
