/* common/err.c: text for ap_err codes. */
#include "common/err.h"

static const char *const err_text[] = {
    [AP_OK] = "ok",
    [AP_ENOMEM] = "out of memory",
    [AP_EINVAL] = "invalid argument",
    [AP_ETOOBIG] = "too big",
    [AP_EPARSE] = "parse error",
    [AP_ENOTFOUND] = "not found",
    [AP_EEXIST] = "already exists",
    [AP_ESTORE] = "storage error",
    [AP_ECRYPTO] = "crypto error",
    [AP_ENET] = "network error",
    [AP_ETIMEOUT] = "timed out",
    [AP_ECONFIG] = "configuration error",
    [AP_EINTERNAL] = "internal error",
};

_Static_assert(sizeof(err_text) / sizeof(err_text[0]) == AP__MAX,
               "err_text must cover every ap_err");

const char *
ap_strerror(ap_err rc)
{
    if ((unsigned)rc >= AP__MAX) {
        return "unknown error";
    }
    return err_text[rc];
}
