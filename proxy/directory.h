/* proxy/directory.h: the directory (RFC 8555 §7.1.1) and newNonce
 * (§7.2). Thread-safe. */
#ifndef AP_PROXY_DIRECTORY_H
#define AP_PROXY_DIRECTORY_H

#include "common/err.h"
#include "proxy/app.h"
#include "proxy/http.h"

/* /directory */
ap_err directory_get(struct app *app, const struct acme_req *req,
                     const char *id, struct acme_resp *resp);
/* /acme/new-nonce: HEAD 200, GET 204 */
ap_err nonce_get(struct app *app, const struct acme_req *req, const char *id,
                 struct acme_resp *resp);

#endif /* AP_PROXY_DIRECTORY_H */
