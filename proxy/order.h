/* proxy/order.h: orders (RFC 8555 §7.1.3, §7.4): newOrder, the order
 * resource and finalize.
 *
 * newOrder checks the identifiers, the account's policy and profile, the
 * requested validity, "replaces" (RFC 9773) and the rate limits, then in
 * one write transaction stores the order with an authorization per
 * identifier (proxy/authz.h: a valid one reused, or a new pending one),
 * the account's index entry and the audit event. Finalize parses the CSR
 * once (common/csr.h) and hands the parsed form to the name and key
 * checks; the order keeps the CSR and its SubjectPublicKeyInfo (rec_order.h
 * csrSpki), becomes processing and gets its issuance job (proxy/issuer.h)
 * in one transaction, and the request waits up to [acme] wait_ms for the
 * issuer. Status rules: proxy/status.h. Thread-safe. */
#ifndef AP_PROXY_ORDER_H
#define AP_PROXY_ORDER_H

#include "common/err.h"
#include "proxy/app.h"
#include "proxy/http.h"

/* /acme/new-order */
ap_err order_new(struct app *app, const struct acme_req *req, const char *id,
                 struct acme_resp *resp);
/* /acme/order/<id> and /acme/order/<id>/finalize */
ap_err order_post(struct app *app, const struct acme_req *req,
                  const char *id, struct acme_resp *resp);

#endif /* AP_PROXY_ORDER_H */
