/* common/httpc.h: outbound HTTP through libcurl, with caps.
 *
 * Every request has a connect and a total deadline, a response-size cap,
 * a protocol allow-list, no automatic redirects and no signals; the
 * address to connect to can be pinned (resolve first, check, then connect
 * to exactly that address). The only file that includes curl.h.
 * Thread-safe after httpc_global_init. */
#ifndef AP_COMMON_HTTPC_H
#define AP_COMMON_HTTPC_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/* Call once in main before threads start. */
AP_MUST_CHECK ap_err httpc_global_init(void);
void httpc_global_fini(void);

struct httpc_req {
    const char *url;
    const char *pin_host;   /* with pin_addr: connect host:port there */
    unsigned pin_port;
    const char *pin_addr;   /* text IPv4 or IPv6 address, or NULL */
    unsigned timeout_ms;    /* total */
    size_t max_body;        /* response cap; larger is AP_ETOOBIG */
    const char *protocols;  /* e.g. "http" or "http,https" */
};

struct httpc_resp {
    long status;            /* HTTP status, 0 when none came */
    struct buf body;        /* capped at max_body */
    char location[512];     /* Location header of a redirect, if any */
    char error[256];        /* why it failed, for a problem detail */
};

void httpc_resp_init(struct httpc_resp *resp);
void httpc_resp_fini(struct httpc_resp *resp);

/* Performs one GET. AP_OK when a response arrived (any status); AP_ENET,
 * AP_ETIMEOUT, AP_ETOOBIG otherwise, with resp->error set. */
AP_MUST_CHECK ap_err httpc_get(const struct httpc_req *req,
                               struct httpc_resp *resp);

#endif /* AP_COMMON_HTTPC_H */
