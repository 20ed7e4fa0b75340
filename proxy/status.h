/* proxy/status.h: the status rules of orders, authorizations and
 * challenges (RFC 8555 §7.1.6), in one place. Every module that changes a
 * status asks here what it becomes:
 *
 *   expiry      a pending or ready order past "expires" is invalid; a
 *               pending or valid authorization past it is expired
 *               (computed when read, never stored);
 *   challenge   a validation may start on a pending challenge of a
 *               pending authorization; its outcome makes the challenge
 *               valid or invalid, and a pending authorization with it
 *               (one that expired or was deactivated meanwhile keeps its
 *               state);
 *   order       a pending order becomes ready when every authorization is
 *               valid, invalid (with the first failed challenge's error)
 *               when one is invalid, deactivated or revoked; an order in
 *               any other state does not move with its authorizations;
 *   deactivate  a client may deactivate a pending or valid authorization
 *               (§7.5.2); a deactivated account's pending authorizations
 *               are deactivated and its pending and ready orders become
 *               invalid (§7.3.6);
 *   reuse       a valid authorization that stays valid for another day
 *               serves a new order of the same account (§7.1.3);
 *   finalize    needs a ready order whose authorizations are all still
 *               valid (§7.4).
 *
 * The functions on structs are pure; the ones on a transaction read and
 * write records through their codecs. The cJSON forms of the expiry rule
 * are for readers of raw records (the admin subcommands, the tests).
 * Thread-safe. */
#ifndef AP_PROXY_STATUS_H
#define AP_PROXY_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/rec_authz.h"
#include "proxy/rec_order.h"

#define STATUS_REUSE_MARGIN_SEC 86400   /* "reuse": valid a day longer */

/* The effective status at now (expiry). */
enum order_status order_status_at(const struct order *o, long long now);
enum authz_status authz_status_at(const struct authz *a, long long now);
/* The same for a raw order record: its "status" (absent: "invalid")
 * after the expiry rule. */
const char *order_status_now(const cJSON *order, long long now);

/* "order": the status a pending order takes from the stored statuses of
 * its n authorizations (pending while some are pending). */
enum order_status status_order_from_authzs(const enum authz_status *st,
                                           size_t n);
/* Applies "order" to order_id inside txn: reads its authorizations and
 * writes the order when its status changes. known (or NULL) is one of
 * them as the caller has just written it in txn, taken instead of read
 * again. AP_ENOTFOUND when the order or one of its authorizations is
 * missing. */
AP_MUST_CHECK ap_err order_update_from_authz(struct store_txn *txn,
                                             const char *order_id,
                                             const struct authz *known);

/* "challenge": whether challenge index of a may start validating now. */
bool status_challenge_can_start(const struct authz *a, size_t index,
                                long long now);
/* Records the outcome of challenge index (valid, or failed with error,
 * copied) at now, and what it makes of the authorization. */
AP_MUST_CHECK ap_err status_challenge_outcome(struct authz *a, size_t index,
                                              bool valid,
                                              const struct rec_problem *error,
                                              long long now);

/* "deactivate": whether a client may deactivate a now. */
bool status_authz_deactivatable(const struct authz *a, long long now);
/* The §7.3.6 cascade for account_id inside txn. */
AP_MUST_CHECK ap_err account_cancel_pending(struct store_txn *txn,
                                            const char *account_id);

/* "reuse": whether a may serve a new order created at now. */
bool status_authz_reusable(const struct authz *a, long long now);

#endif /* AP_PROXY_STATUS_H */
