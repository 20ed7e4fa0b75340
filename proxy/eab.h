/* proxy/eab.h: external account binding (RFC 8555 §7.3.4) and the EAB
 * keys that bind accounts to teams.
 *
 * An EAB key record (store table STORE_EAB, keyed by its key id) holds:
 *   "v":1, "kid", "label" (the team), "hmac" (base64url of the 32-byte
 *   MAC key: a secret, never logged or printed after creation),
 *   "created", "revoked" (0 or time), "accounts" (ids bound with it),
 *   and the team's policy, each optional, each only narrowing the global
 *   one: "profiles" (array of profile names; the first is the team's
 *   default), "allow_names" (array: ".suffix" or exact names),
 *   "allow_ips" (array of CIDRs), "max_validity_days" (number).
 * Thread-safe; every write is one short store transaction. */
#ifndef AP_PROXY_EAB_H
#define AP_PROXY_EAB_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/app.h"
#include "proxy/http.h"

#define EAB_KID_LEN 22      /* 16 random bytes, base64url */
#define EAB_HMAC_LEN 43     /* 32 random bytes, base64url */

/* Creates a key for a team. policy (borrowed, may be NULL) holds the
 * optional policy members listed above; they are checked (names, CIDRs,
 * profiles known to cfg, validity within 1..3650) and copied. On AP_OK
 * kid and hmac (the secret, shown once) are filled; AP_EINVAL with a reason
 * in errbuf when the policy is not acceptable. */
struct audit_note;
/* note (may be NULL) is the audit event of the creation, written in its
 * transaction with "kid" added to its fields. */
AP_MUST_CHECK ap_err eab_create(struct store *st, const struct config *cfg,
                                const char *label, const cJSON *policy,
                                const struct audit_note *note, char *kid,
                                size_t kidlen, char *hmac, size_t hmaclen,
                                char *errbuf, size_t errlen);
/* Marks a key revoked (AP_ENOTFOUND when unknown), with the audit event
 * note (may be NULL) in the same transaction. Accounts bound to it can no
 * longer order. */
AP_MUST_CHECK ap_err eab_revoke(struct store *st, const char *kid,
                                const struct audit_note *note);
/* Every key record without its "hmac" member, as a new array (caller
 * deletes). */
AP_MUST_CHECK ap_err eab_list(struct store *st, cJSON **out);

/* Checks the externalAccountBinding of a newAccount payload (binding,
 * borrowed) against the outer request's key thumbprint and URL. The
 * binding goes through jws_parse (proxy/jws.h: the flattened shape, alg
 * HS256/HS384/HS512); the rules of EAB are its verifier: kid of a known,
 * unrevoked key, url = the newAccount URL, no nonce, payload = the
 * account's JWK, MAC compared in constant time. On AP_OK either *rec is
 * the key's record without its MAC key (release with eab_record_free) or
 * resp holds the problem (malformed or unauthorized). */
AP_MUST_CHECK ap_err eab_verify(const struct app *app, const cJSON *binding,
                                const char *url, const char *thumbprint,
                                struct acme_resp *resp, cJSON **rec);

/* Wipes the MAC key of an EAB record read from the store, if it still
 * holds one, and deletes the record. Accepts NULL. Every EAB record read
 * is released with this, never with a bare cJSON_Delete. */
void eab_record_free(cJSON *rec);

/* Binds account_id to the key kid inside txn (appends to "accounts");
 * with single_use, AP_EEXIST when the key already bound one. */
AP_MUST_CHECK ap_err eab_bind(struct store_txn *txn, const char *kid,
                              const char *account_id, bool single_use);

#endif /* AP_PROXY_EAB_H */
