/* proxy/jws.h: the signed request of RFC 8555 §6.2.
 *
 * Flattened JSON serialization only (RFC 7515 §7.2.2): "protected",
 * "payload", "signature", nothing else (no unprotected header). The
 * protected header has alg from the allow-list, nonce (consumed once), url
 * equal to the request URL, and exactly one of jwk and kid; "crit" is
 * refused. The signature is checked last, with the jwk or the key of the
 * account that kid names. */
#ifndef AP_PROXY_JWS_H
#define AP_PROXY_JWS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "common/jwk.h"
#include "common/err.h"
#include "proxy/app.h"
#include "proxy/http.h"

#define JWS_MAX_ID 64

enum jws_key_mode {
    JWS_NEED_JWK,   /* newAccount: a key, no account yet */
    JWS_NEED_KID,   /* everything else */
    JWS_JWK_OR_KID  /* revokeCert: the account or the certificate key */
};

/* A verified request. Everything owned; release with jws_msg_fini. */
struct jws_msg {
    cJSON *payload;           /* the payload object; NULL for POST-as-GET */
    bool post_as_get;         /* payload was the empty string */
    struct crypto_key *key;   /* the key that signed */
    char thumbprint[CRYPTO_THUMBPRINT_LEN + 1];
    cJSON *account;           /* kid: the account record */
    char account_id[JWS_MAX_ID + 1]; /* kid: the account id */
};

/* Verifies req's body. On AP_OK either msg is filled, or the client was at
 * fault and resp holds the problem (resp->status != 0; msg is empty).
 * Other codes are internal failures. */
AP_MUST_CHECK ap_err jws_verify(const struct app *app,
                                const struct acme_req *req,
                                enum jws_key_mode mode,
                                struct acme_resp *resp, struct jws_msg *msg);
void jws_msg_fini(struct jws_msg *msg);

/* Verifies the inner JWS of a key change (RFC 8555 §7.3.5): flattened,
 * signed by the jwk it carries, url equal to the outer url, no nonce. On
 * AP_OK either *key (the new key) and *payload are set (caller frees), or
 * resp holds the problem. */
AP_MUST_CHECK ap_err jws_verify_inner(const cJSON *inner, const char *url,
                                      struct acme_resp *resp,
                                      struct crypto_key **key,
                                      cJSON **payload);

#endif /* AP_PROXY_JWS_H */
