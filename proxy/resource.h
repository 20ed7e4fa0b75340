/* proxy/resource.h: what every ACME resource handler shares.
 *
 * A handler gets the request, the id part of its path (after the route's
 * prefix; "" for fixed routes) and fills the response. It returns AP_OK
 * also when the client was at fault (a problem is then set); any other code
 * is answered as serverInternal by the server. The handlers live with the
 * object they serve, one module each, and are declared in its header:
 * directory.h (directory, newNonce), account.h, order.h (newOrder, order,
 * finalize), authz.h (authorization, challenge), cert.h (certificate,
 * issuer, revokeCert), renewal.h (renewalInfo). server.c's route table
 * names them. */
#ifndef AP_PROXY_RESOURCE_H
#define AP_PROXY_RESOURCE_H

#include <stdbool.h>

#include "common/err.h"
#include "proxy/app.h"
#include "proxy/http.h"

struct store_txn;

typedef ap_err (*resource_fn)(struct app *app, const struct acme_req *req,
                              const char *id, struct acme_resp *resp);

/* False, with 404 "no such resource" in resp, when id cannot name a
 * record (common/id.h id_is_valid). */
bool resource_id_ok(const char *id, struct acme_resp *resp);

/* The answer to a read of a record that an account must own: rc the
 * read's result and owner the record's "account". AP_ENOTFOUND becomes a
 * 404 problem, another account's record a 403 unauthorized problem (both
 * AP_OK with resp->status set); other codes are returned as they are. */
AP_MUST_CHECK ap_err resource_owned(ap_err rc, const char *owner,
                                    const char *account_id,
                                    struct acme_resp *resp);

/* Counts one event for prefix+who against limit per hour (0: off; count
 * false only checks). When the limit is reached sets rateLimited with
 * Retry-After and a detail naming the limit, and returns false. */
bool rate_ok(struct app *app, struct acme_resp *resp, const char *prefix,
             const char *who, unsigned limit, const char *limit_name,
             bool count);
/* rate_ok inside txn (a write transaction of the caller's when count is
 * set): with shared counts (ratelimit_new_shared) the count is read and
 * written there and commits with it. *ok false: resp is set as above. */
AP_MUST_CHECK ap_err rate_ok_in(struct app *app, struct store_txn *txn,
                                struct acme_resp *resp, const char *prefix,
                                const char *who, unsigned limit,
                                const char *limit_name, bool count, bool *ok);

#endif /* AP_PROXY_RESOURCE_H */
