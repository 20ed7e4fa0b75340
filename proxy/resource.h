/* proxy/resource.h: the ACME resources, one handler each, and the helpers
 * they share.
 *
 * A handler gets the request, the id part of its path (after the route's
 * prefix; "" for fixed routes) and fills the response. It returns AP_OK
 * also when the client was at fault (a problem is then set); any other code
 * is answered as serverInternal by the server. */
#ifndef AP_PROXY_RESOURCE_H
#define AP_PROXY_RESOURCE_H

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/app.h"
#include "proxy/http.h"

typedef ap_err (*resource_fn)(struct app *app, const struct acme_req *req,
                              const char *id, struct acme_resp *resp);

ap_err directory_get(struct app *app, const struct acme_req *req,
                     const char *id, struct acme_resp *resp);
ap_err nonce_get(struct app *app, const struct acme_req *req, const char *id,
                 struct acme_resp *resp);
ap_err account_new(struct app *app, const struct acme_req *req,
                   const char *id, struct acme_resp *resp);
ap_err account_post(struct app *app, const struct acme_req *req,
                    const char *id, struct acme_resp *resp);
ap_err account_orders(struct app *app, const struct acme_req *req,
                      const char *id, struct acme_resp *resp);
ap_err order_new(struct app *app, const struct acme_req *req, const char *id,
                 struct acme_resp *resp);
/* /acme/order/<id> and /acme/order/<id>/finalize */
ap_err order_post(struct app *app, const struct acme_req *req,
                  const char *id, struct acme_resp *resp);
ap_err authz_post(struct app *app, const struct acme_req *req,
                  const char *id, struct acme_resp *resp);
/* /acme/chall/<authz id>/<index> */
ap_err challenge_post(struct app *app, const struct acme_req *req,
                      const char *id, struct acme_resp *resp);
ap_err cert_get(struct app *app, const struct acme_req *req, const char *id,
                struct acme_resp *resp);
ap_err cert_revoke(struct app *app, const struct acme_req *req,
                   const char *id, struct acme_resp *resp);
/* /acme/issuer/<cert id>: the issuer of a certificate (Link rel="up"). */
ap_err cert_issuer_get(struct app *app, const struct acme_req *req,
                       const char *id, struct acme_resp *resp);
ap_err account_key_change(struct app *app, const struct acme_req *req,
                          const char *id, struct acme_resp *resp);
/* /acme/renewal-info/<certID> (RFC 9773). */
ap_err renewal_info_get(struct app *app, const struct acme_req *req,
                        const char *id, struct acme_resp *resp);

/* Loads record id of table t in a read transaction and checks that its
 * "account" member is account_id. On AP_OK either *out is set, or a
 * problem is in resp (404 when absent, 403 unauthorized when another
 * account's). */
AP_MUST_CHECK ap_err resource_load_owned(struct app *app,
                                         enum store_table t, const char *id,
                                         const char *account_id,
                                         struct acme_resp *resp,
                                         cJSON **out);

/* Counts one event for prefix+who against limit per hour (0: off; count
 * false only checks). When the limit is reached sets rateLimited with
 * Retry-After and a detail naming the limit, and returns false. */
bool rate_ok(struct app *app, struct acme_resp *resp, const char *prefix,
             const char *who, unsigned limit, const char *limit_name,
             bool count);

/* Marks the certificate with serial (lower-case hex, as stored) revoked
 * with reason (RFC 5280 CRLReason) and the time, in one write
 * transaction that also holds the audit event note (may be NULL); call it
 * once the adapter revoked. AP_ENOTFOUND when no certificate has that
 * serial. Used by revokeCert and the admin revoke. */
struct audit_note;
AP_MUST_CHECK ap_err cert_mark_revoked(struct app *app, const char *serial,
                                       long long reason,
                                       const struct audit_note *note);

/* RFC 8555 §7.3.6: deactivates the account's pending authorizations and
 * cancels its pending and ready orders, inside txn. */
AP_MUST_CHECK ap_err account_cancel_pending(struct store_txn *txn,
                                            const char *account_id);

/* Effective status of an order or authz record now: a pending or ready
 * order past "expires" is invalid, a pending authz past it is expired. */
const char *order_status_now(const cJSON *order, long long now);
const char *authz_status_now(const cJSON *authz, long long now);

/* The client view of a record (new object; caller deletes). */
cJSON *order_render(const struct app *app, const cJSON *order,
                    long long now);
cJSON *authz_render(const struct app *app, const cJSON *authz,
                    long long now);
cJSON *challenge_render(const struct app *app, const char *authz_id,
                        int index, const cJSON *chall);

/* Recomputes an order's status from its authorizations' (pending -> ready
 * when all are valid, -> invalid when one is invalid) inside txn. */
AP_MUST_CHECK ap_err order_update_from_authz(struct store_txn *txn,
                                             const char *order_id);

/* A new pending authorization record for ident (borrowed) with the
 * challenges this server offers for it, each with a fresh token. *out set
 * only on AP_OK (caller deletes). */
AP_MUST_CHECK ap_err challenge_new_authz(const struct app *app,
                                         const char *id, const char *account,
                                         const char *order,
                                         const cJSON *ident,
                                         long long expires, cJSON **out);

/* Job runners (jobs.h job_fn). */
struct job;
long long challenge_run(struct app *app, const struct job *job);
long long issuer_run(struct app *app, const struct job *job);

#endif /* AP_PROXY_RESOURCE_H */
