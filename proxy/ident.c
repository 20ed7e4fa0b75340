/* proxy/ident.c: DNS identifier normal form. */
#include "proxy/ident.h"

#include <ctype.h>
#include <string.h>

ap_err
ident_dns_normalize(const char *in, char *out, size_t outlen,
                    const char **why)
{
    return ident_dns_normalize_ex(in, out, outlen, false, why);
}

ap_err
ident_dns_normalize_ex(const char *in, char *out, size_t outlen,
                       bool allow_single_label, const char **why)
{
    size_t n = strlen(in);
    size_t label = 0;
    size_t labels = 1;
    bool last_numeric = true;

    if (n > 0 && in[n - 1] == '.') {
        n--;
    }
    if (n == 0) {
        *why = "empty name";
        return AP_EINVAL;
    }
    if (n > IDENT_MAX_DNS || n >= outlen) {
        *why = "name longer than 253 octets";
        return AP_EINVAL;
    }
    if (in[0] == '*') {
        *why = "wildcard names need dns-01, which this server does not "
               "offer yet";
        return AP_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c >= 0x80) {
            *why = "non-ASCII name: send the A-label (xn--) form";
            return AP_EINVAL;
        }
        if (c == '.') {
            if (label == 0) {
                *why = "empty label";
                return AP_EINVAL;
            }
            if (out[i - 1] == '-') {
                *why = "label ends with a hyphen";
                return AP_EINVAL;
            }
            out[i] = '.';
            label = 0;
            labels++;
            last_numeric = true;
            continue;
        }
        if (!isalnum(c) && c != '-') {
            *why = "character outside letters, digits and hyphen";
            return AP_EINVAL;
        }
        if (c == '-' && label == 0) {
            *why = "label starts with a hyphen";
            return AP_EINVAL;
        }
        if (!isdigit(c)) {
            last_numeric = false;
        }
        out[i] = (char)tolower(c);
        if (++label > 63) {
            *why = "label longer than 63 octets";
            return AP_EINVAL;
        }
    }
    if (label == 0) {
        *why = "empty label";
        return AP_EINVAL;
    }
    if (out[n - 1] == '-') {
        *why = "label ends with a hyphen";
        return AP_EINVAL;
    }
    out[n] = '\0';
    if (labels < 2 && (!allow_single_label || strcmp(out, "localhost") == 0)) {
        *why = "single-label names are not accepted";
        return AP_EINVAL;
    }
    if (last_numeric) {
        *why = "all-numeric top label (an IP address is not a DNS name)";
        return AP_EINVAL;
    }
    out[n] = '\0';
    return AP_OK;
}
