/* common/resolve.h: address lookups for validation.
 *
 * With a configured resolver (host:port, IPv4) the lookups go to that DNS
 * server only, through the libc resolver (res_nquery on a per-call state,
 * so threads never share one), with no search domains; otherwise through
 * getaddrinfo. The libc resolver was chosen because it ships with libc,
 * handles UDP with TCP fallback on truncation, and needs no extra package.
 * Thread-safe. */
#ifndef AP_COMMON_RESOLVE_H
#define AP_COMMON_RESOLVE_H

#include <stddef.h>

#include "common/err.h"

#define RESOLVE_MAX_ADDRS 8

struct resolve_result {
    char addrs[RESOLVE_MAX_ADDRS][46]; /* text form, IPv6 first */
    size_t n;
    char error[192];                   /* why nothing was found */
};

/* Finds the A and AAAA addresses of name. AP_ENOTFOUND: the name does not
 * exist or has no address; AP_ENET / AP_ETIMEOUT: the server failed; the
 * reason is in out->error. resolver may be NULL or "" for the system. */
AP_MUST_CHECK ap_err resolve_host(const char *resolver, const char *name,
                                  unsigned timeout_ms,
                                  struct resolve_result *out);

#endif /* AP_COMMON_RESOLVE_H */
