/* proxy/authz.h: authorizations and their challenges (RFC 8555 §7.1.4,
 * §7.5), from creation to the challenge POST.
 *
 * An authorization is made by newOrder (authz_for_order, in the order's
 * transaction) with the challenges this server offers for its identifier,
 * read with POST-as-GET, deactivated by its account (§7.5.2), and
 * validated when the client POSTs to a challenge (§7.5.1): the challenge
 * becomes processing and a validation job is queued in one transaction,
 * then the request waits up to [acme] wait_ms for the outcome, so clients
 * that look once right after answering see it. The validation itself and
 * the recording of its outcome are proxy/validate.c's; what each outcome
 * means is proxy/status.h's. Thread-safe. */
#ifndef AP_PROXY_AUTHZ_H
#define AP_PROXY_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/app.h"
#include "proxy/http.h"
#include "proxy/rec_authz.h"

/* /acme/authz/<id>: POST-as-GET, or {"status":"deactivated"}. */
ap_err authz_post(struct app *app, const struct acme_req *req,
                  const char *id, struct acme_resp *resp);
/* /acme/chall/<authz id>/<index>: POST-as-GET, or any object to start the
 * validation. */
ap_err challenge_post(struct app *app, const struct acme_req *req,
                      const char *id, struct acme_resp *resp);

/* A new pending authorization in *out (free with rec_authz_fini) for the
 * order identifier ident (a wildcard "*.name" makes an authorization for
 * name, marked wildcard), with a pending challenge and a fresh token for
 * each type this server offers for it (RFC 8555 §7.1.3, RFC 8738 §7: a
 * wildcard only dns-01, an IP address http-01 and tls-alpn-01). */
AP_MUST_CHECK ap_err authz_new(const char *id, const char *account,
                               const char *order, const struct rec_ident *ident,
                               long long expires, struct authz *out);

/* The key of table STORE_ACCOUNT_AUTHZS (account -> its newest
 * authorization of an order identifier) for account and ident (a
 * wildcard as "*.name"): the first AUTHZ_INDEX_KEY_LEN characters (96
 * bits) of the base64url of SHA-256(account NUL type NUL value). A hash
 * that names another identifier's authorization is not reused. Entries
 * of before ("<account>/<type>/<value>") are still found. */
#define AUTHZ_INDEX_KEY_LEN 16
void authz_index_key(const char *account, const struct rec_ident *ident,
                     char out[AUTHZ_INDEX_KEY_LEN + 1]);

/* For newOrder, inside its write transaction txn: the authorization of
 * account for the order identifier ident. A valid one that stays valid a
 * day longer is reused (RFC 8555 §7.1.3: *reused true); otherwise a new
 * one is stored for order_id and becomes the account's newest for ident:
 * pending with its challenges, or, with preauth (the account's EAB key
 * pre-authorises the name: policy_preauthorized), valid until expires
 * with no challenge. Its id goes to id (idlen > REC_MAX_ID). */
AP_MUST_CHECK ap_err authz_for_order(struct store_txn *txn,
                                     const char *account,
                                     const char *order_id,
                                     const struct rec_ident *ident,
                                     long long now, long long expires,
                                     bool preauth, char *id, size_t idlen,
                                     bool *reused);

#endif /* AP_PROXY_AUTHZ_H */
