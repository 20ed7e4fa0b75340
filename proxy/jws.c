/* proxy/jws.c: parse and verify a flattened JWS request (RFC 8555 §6.2,
 * RFC 7515). Order of checks: shape, alg, nonce, url, key, signature, so
 * that a replayed or foreign request costs no signature verification. */
#include "proxy/jws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/store.h"
#include "proxy/nonce.h"
#include "proxy/problem.h"

#define JWS_MAX_SIG 1024 /* RSA-8192 is 1024 bytes */

static cJSON *
alg_list(void)
{
    cJSON *extra = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(extra, "algorithms");

    if (arr == NULL) {
        cJSON_Delete(extra);
        return NULL;
    }
    for (int a = 0; a < CRYPTO_ALG__MAX; a++) {
        cJSON_AddItemToArray(arr, cJSON_CreateString(
                                      crypto_alg_name((enum crypto_alg)a)));
    }
    return extra;
}

/* Loads the account that kid names. Sets a problem when there is none. */
static ap_err
load_kid_account(const struct app *app, const char *kid,
                 struct acme_resp *resp, struct jws_msg *msg)
{
    char prefix[HTTP_MAX_URL];
    struct store_txn *txn = NULL;
    const char *id;
    const cJSON *jwk;
    char errbuf[128];
    ap_err rc;

    app_url(app, prefix, sizeof(prefix), PATH_ACCOUNT, NULL);
    if (strncmp(kid, prefix, strlen(prefix)) != 0) {
        problem_set(resp, PROB_ACCOUNT_DOES_NOT_EXIST,
                    "kid is not an account URL of this server");
        return AP_OK;
    }
    id = kid + strlen(prefix);
    if (strlen(id) > JWS_MAX_ID || !id_is_valid(id)) {
        problem_set(resp, PROB_ACCOUNT_DOES_NOT_EXIST, "no such account");
        return AP_OK;
    }
    rc = store_begin(app->st, false, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_get_json(txn, STORE_ACCOUNTS, id, &msg->account);
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        problem_set(resp, PROB_ACCOUNT_DOES_NOT_EXIST, "no such account");
        return AP_OK;
    }
    if (rc != AP_OK) {
        return rc;
    }
    if (strcmp(json_str(msg->account, "status", ""), "valid") != 0) {
        problem_set(resp, PROB_UNAUTHORIZED, "account is %s",
                    json_str(msg->account, "status", "unknown"));
        return AP_OK;
    }
    jwk = cJSON_GetObjectItemCaseSensitive(msg->account, "jwk");
    rc = crypto_jwk_parse(jwk, &msg->key, errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        log_err("jws", "stored key of account %s unreadable: %s", id, errbuf);
        return AP_EINTERNAL;
    }
    snprintf(msg->account_id, sizeof(msg->account_id), "%s", id);
    snprintf(msg->thumbprint, sizeof(msg->thumbprint), "%s",
             json_str(msg->account, "thumbprint", ""));
    return AP_OK;
}

ap_err
jws_verify(const struct app *app, const struct acme_req *req,
           enum jws_key_mode mode, struct acme_resp *resp,
           struct jws_msg *msg)
{
    cJSON *body = NULL;
    cJSON *hdr = NULL;
    unsigned char *hdr_raw = NULL;
    unsigned char *payload_raw = NULL;
    unsigned char *sig = NULL;
    size_t hdr_len = 0;
    size_t payload_len = 0;
    size_t sig_len = 0;
    const char *prot = NULL;
    const char *payload = NULL;
    const char *sigtxt = NULL;
    const char *alg_name = NULL;
    const char *nonce = NULL;
    const char *url = NULL;
    const char *kid = NULL;
    const cJSON *jwk;
    enum crypto_alg alg;
    char errbuf[160];
    struct buf signing;
    ap_err rc = AP_EINTERNAL;

    memset(msg, 0, sizeof(*msg));
    buf_init(&signing, req->body_len + 1);

    if (json_parse(req->body, req->body_len, &body) != AP_OK ||
        !cJSON_IsObject(body)) {
        problem_set(resp, PROB_MALFORMED, "body is not a JSON object");
        rc = AP_OK;
        goto out;
    }
    /* RFC 8555 §6.2: flattened serialization, no unprotected header. */
    for (const cJSON *m = body->child; m != NULL; m = m->next) {
        if (strcmp(m->string, "protected") != 0 &&
            strcmp(m->string, "payload") != 0 &&
            strcmp(m->string, "signature") != 0) {
            problem_set(resp, PROB_MALFORMED,
                        "JWS member \"%.32s\" not allowed: use the flattened "
                        "serialization with a protected header only",
                        m->string);
            rc = AP_OK;
            goto out;
        }
    }
    if (json_get_string(body, "protected", req->body_len, &prot) != AP_OK ||
        json_get_string(body, "payload", req->body_len, &payload) != AP_OK ||
        json_get_string(body, "signature", req->body_len, &sigtxt) != AP_OK) {
        problem_set(resp, PROB_MALFORMED,
                    "JWS needs string members protected, payload, signature");
        rc = AP_OK;
        goto out;
    }
    if (b64url_decode_alloc(prot, strlen(prot), &hdr_raw, &hdr_len) !=
            AP_OK ||
        b64url_decode_alloc(payload, strlen(payload), &payload_raw,
                            &payload_len) != AP_OK ||
        b64url_decode_alloc(sigtxt, strlen(sigtxt), &sig, &sig_len) !=
            AP_OK) {
        problem_set(resp, PROB_MALFORMED,
                    "JWS member is not unpadded base64url");
        rc = AP_OK;
        goto out;
    }
    if (json_parse((const char *)hdr_raw, hdr_len, &hdr) != AP_OK ||
        !cJSON_IsObject(hdr)) {
        problem_set(resp, PROB_MALFORMED,
                    "protected header is not a JSON object");
        rc = AP_OK;
        goto out;
    }
    if (json_get_string(hdr, "alg", 16, &alg_name) != AP_OK ||
        crypto_alg_parse(alg_name, &alg) != AP_OK) {
        problem_set_with(resp, PROB_BAD_SIGNATURE_ALGORITHM, alg_list(),
                         "alg must be one of %s", crypto_alg_list());
        rc = AP_OK;
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit") != NULL) {
        problem_set(resp, PROB_MALFORMED, "crit is not supported");
        rc = AP_OK;
        goto out;
    }
    /* RFC 8555 §6.5: a missing or bad nonce is badNonce. */
    if (json_get_string(hdr, "nonce", 128, &nonce) != AP_OK) {
        problem_set(resp, PROB_BAD_NONCE, "protected header has no nonce");
        rc = AP_OK;
        goto out;
    }
    switch (nonce_consume(app->nonces, nonce)) {
    case NONCE_OK:
        break;
    case NONCE_REPLAYED:
        problem_set(resp, PROB_BAD_NONCE, "nonce was already used");
        rc = AP_OK;
        goto out;
    case NONCE_EXPIRED:
        problem_set(resp, PROB_BAD_NONCE, "nonce expired");
        rc = AP_OK;
        goto out;
    case NONCE_UNKNOWN:
        problem_set(resp, PROB_BAD_NONCE, "nonce unknown to this server");
        rc = AP_OK;
        goto out;
    }
    /* RFC 8555 §6.4: url must be the request URL, else unauthorized. */
    if (json_get_string(hdr, "url", HTTP_MAX_URL, &url) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "protected header has no url");
        rc = AP_OK;
        goto out;
    }
    if (strcmp(url, req->url) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "url in the protected header is not the request URL");
        rc = AP_OK;
        goto out;
    }
    /* RFC 8555 §6.2: jwk and kid are mutually exclusive. */
    jwk = cJSON_GetObjectItemCaseSensitive(hdr, "jwk");
    if (cJSON_GetObjectItemCaseSensitive(hdr, "kid") != NULL &&
        json_get_string(hdr, "kid", HTTP_MAX_URL, &kid) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "kid must be a string");
        rc = AP_OK;
        goto out;
    }
    if ((jwk == NULL) == (kid == NULL)) {
        problem_set(resp, PROB_MALFORMED,
                    "protected header needs exactly one of jwk and kid");
        rc = AP_OK;
        goto out;
    }
    if (mode == JWS_NEED_JWK && jwk == NULL) {
        problem_set(resp, PROB_MALFORMED, "this resource needs jwk, not kid");
        rc = AP_OK;
        goto out;
    }
    if (mode == JWS_NEED_KID && kid == NULL) {
        problem_set(resp, PROB_MALFORMED, "this resource needs kid, not jwk");
        rc = AP_OK;
        goto out;
    }
    if (jwk != NULL) {
        if (!cJSON_IsObject(jwk) ||
            crypto_jwk_parse(jwk, &msg->key, errbuf, sizeof(errbuf)) !=
                AP_OK) {
            problem_set(resp, PROB_BAD_PUBLIC_KEY, "jwk refused: %s",
                        cJSON_IsObject(jwk) ? errbuf : "not an object");
            rc = AP_OK;
            goto out;
        }
        rc = crypto_key_thumbprint(msg->key, msg->thumbprint,
                                   sizeof(msg->thumbprint));
        if (rc != AP_OK) {
            goto out;
        }
    } else {
        rc = load_kid_account(app, kid, resp, msg);
        if (rc != AP_OK || resp->status != 0) {
            goto out;
        }
    }
    if (!crypto_alg_fits_key(alg, msg->key)) {
        problem_set_with(resp, PROB_BAD_SIGNATURE_ALGORITHM, alg_list(),
                         "alg %s does not fit the account key", alg_name);
        rc = AP_OK;
        goto out;
    }
    if (sig_len > JWS_MAX_SIG) {
        problem_set(resp, PROB_MALFORMED, "signature too long");
        rc = AP_OK;
        goto out;
    }
    rc = buf_appends(&signing, prot);
    if (rc == AP_OK) {
        rc = buf_append(&signing, ".", 1);
    }
    if (rc == AP_OK) {
        rc = buf_appends(&signing, payload);
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (crypto_verify(msg->key, alg, signing.data, signing.len, sig,
                      sig_len) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "JWS signature does not verify");
        rc = AP_OK;
        goto out;
    }
    /* RFC 8555 §6.3: POST-as-GET has an empty payload. */
    if (payload_len == 0 && payload[0] == '\0') {
        msg->post_as_get = true;
    } else if (json_parse((const char *)payload_raw, payload_len,
                          &msg->payload) != AP_OK ||
               !cJSON_IsObject(msg->payload)) {
        problem_set(resp, PROB_MALFORMED, "payload is not a JSON object");
        rc = AP_OK;
        goto out;
    }
    rc = AP_OK;
out:
    if (rc != AP_OK || resp->status != 0) {
        jws_msg_fini(msg);
    }
    buf_fini(&signing);
    cJSON_Delete(hdr);
    cJSON_Delete(body);
    free(hdr_raw);
    free(payload_raw);
    free(sig);
    return rc;
}

void
jws_msg_fini(struct jws_msg *msg)
{
    cJSON_Delete(msg->payload);
    cJSON_Delete(msg->account);
    crypto_key_free(msg->key);
    memset(msg, 0, sizeof(*msg));
}
