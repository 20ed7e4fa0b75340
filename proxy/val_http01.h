/* proxy/val_http01.h: the http-01 validator (RFC 8555 §8.3)
 * and its pure checks, exposed for the unit tests and fuzzing. */
#ifndef AP_PROXY_VAL_HTTP01_H
#define AP_PROXY_VAL_HTTP01_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/val.h"

extern const struct validator_ops validator_http01;

/* Whether a redirect (RFC 8555 §8.3 lets http-01 follow them) may go to
 * u: scheme http on port 80 or http_port, or https on 443 or tls_port; no
 * userinfo; a host that is an IP literal or an acceptable DNS name. On
 * false why says which rule. The address policy is checked later, after
 * the host is resolved. */
bool val_http01_redirect_ok(const struct httpc_url *u, unsigned http_port,
                            unsigned tls_port, char *why, size_t whylen);

/* RFC 8555 §8.3: whether body[len] (a 200 response's body, capped by
 * max_body) is the key authorization, trailing white space ignored. On
 * false why says so with the body's length only: a detail never quotes
 * the body, since a redirect may have led to a service the account
 * holder could not read otherwise. Exposed for the unit tests and
 * fuzzing (test/fuzz/fuzz_http01.c). */
bool val_http01_body_ok(const char *body, size_t len, const char *keyauth,
                        char *why, size_t whylen);

#endif /* AP_PROXY_VAL_HTTP01_H */
