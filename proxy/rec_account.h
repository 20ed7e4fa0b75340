/* proxy/rec_account.h: the account record (RFC 8555 §7.1.2), table
 * STORE_ACCOUNTS, and its codec (proxy/rec.h says what a codec checks).
 *
 * Stored members: v, id, status ("valid", "deactivated", "revoked"), jwk
 * (the account key as a JWK object), thumbprint (RFC 7638, base64url),
 * contact (array of mailto: URLs), tos (termsOfServiceAgreed), created
 * (seconds), ip (the address newAccount came from), and for an account
 * bound by external account binding eab (the key id) and team (its
 * label). Thread-safe (no shared state). */
#ifndef AP_PROXY_REC_ACCOUNT_H
#define AP_PROXY_REC_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/rec.h"

#define ACCOUNT_MAX_CONTACTS 10
#define ACCOUNT_MAX_CONTACT_LEN 256

enum account_status {
    ACCOUNT_VALID,
    ACCOUNT_DEACTIVATED,
    ACCOUNT_REVOKED,
    ACCOUNT__MAX
};

struct account {
    char id[REC_MAX_ID + 1];
    enum account_status status;   /* absent: deactivated */
    cJSON *jwk;                   /* object; NULL when absent */
    char thumbprint[REC_MAX_ID + 1];
    char **contact;               /* n_contact strings */
    size_t n_contact;
    bool tos;
    long long created;
    char ip[REC_MAX_ID + 1];
    char *eab;                    /* EAB key id, NULL: none */
    char *team;                   /* its label (with eab) */
    cJSON *extra;                 /* members this version does not know */
};

/* "valid", "deactivated", "revoked". */
const char *account_status_name(enum account_status s);

/* Decodes obj into *out (zeroed first; free with rec_account_fini, also
 * on failure). AP_ESTORE with the reason in why, AP_ENOMEM. */
AP_MUST_CHECK ap_err rec_account_decode(const cJSON *obj,
                                        struct account *out, char *why,
                                        size_t whylen);
/* The stored JSON of a (new object in *out; caller deletes). */
AP_MUST_CHECK ap_err rec_account_encode(const struct account *a,
                                        cJSON **out);
void rec_account_fini(struct account *a);

/* Reads account id in txn (AP_ENOTFOUND; AP_ESTORE logged). */
AP_MUST_CHECK ap_err rec_account_get(struct store_txn *txn, const char *id,
                                     struct account *out);
/* Writes a under key in txn (exclusive: AP_EEXIST when there). */
AP_MUST_CHECK ap_err rec_account_put(struct store_txn *txn, const char *key,
                                     const struct account *a,
                                     bool exclusive);
/* Replaces the contact list with a copy of the strings of arr (a JSON
 * array the caller checked). */
AP_MUST_CHECK ap_err rec_account_set_contact(struct account *a,
                                             const cJSON *arr);

#endif /* AP_PROXY_REC_ACCOUNT_H */
