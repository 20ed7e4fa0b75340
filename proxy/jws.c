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
#define JWS_MAX_INNER 16384 /* one member of an inner JWS */

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

/* The decoded parts of one flattened JWS. */
struct jws_parts {
    cJSON *hdr;               /* protected header */
    const char *prot_b64;     /* borrowed from the body */
    const char *payload_b64;
    unsigned char *hdr_raw;
    unsigned char *payload_raw;
    size_t payload_len;
    unsigned char *sig;
    size_t sig_len;
    enum crypto_alg alg;
    const char *alg_name;
};

static void
parts_fini(struct jws_parts *jp)
{
    cJSON_Delete(jp->hdr);
    free(jp->hdr_raw);
    free(jp->payload_raw);
    free(jp->sig);
    memset(jp, 0, sizeof(*jp));
}

/* Decodes a flattened JWS object (RFC 7515 §7.2.2) whose strings are at
 * most maxlen long, and checks its alg and crit. Returns true, or false
 * with a problem in resp (jp is then empty). */
static bool
parts_parse(const cJSON *body, size_t maxlen, struct jws_parts *jp,
            struct acme_resp *resp)
{
    const char *sigtxt = NULL;
    size_t hdr_len = 0;

    memset(jp, 0, sizeof(*jp));
    if (!cJSON_IsObject(body)) {
        problem_set(resp, PROB_MALFORMED, "JWS is not a JSON object");
        return false;
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
            return false;
        }
    }
    if (json_get_string(body, "protected", maxlen, &jp->prot_b64) != AP_OK ||
        json_get_string(body, "payload", maxlen, &jp->payload_b64) != AP_OK ||
        json_get_string(body, "signature", maxlen, &sigtxt) != AP_OK) {
        problem_set(resp, PROB_MALFORMED,
                    "JWS needs string members protected, payload, signature");
        return false;
    }
    if (b64url_decode_alloc(jp->prot_b64, strlen(jp->prot_b64), &jp->hdr_raw,
                            &hdr_len) != AP_OK ||
        b64url_decode_alloc(jp->payload_b64, strlen(jp->payload_b64),
                            &jp->payload_raw, &jp->payload_len) != AP_OK ||
        b64url_decode_alloc(sigtxt, strlen(sigtxt), &jp->sig,
                            &jp->sig_len) != AP_OK) {
        problem_set(resp, PROB_MALFORMED,
                    "JWS member is not unpadded base64url");
        goto fail;
    }
    if (json_parse((const char *)jp->hdr_raw, hdr_len, &jp->hdr) != AP_OK ||
        !cJSON_IsObject(jp->hdr)) {
        problem_set(resp, PROB_MALFORMED,
                    "protected header is not a JSON object");
        goto fail;
    }
    if (json_get_string(jp->hdr, "alg", 16, &jp->alg_name) != AP_OK ||
        crypto_alg_parse(jp->alg_name, &jp->alg) != AP_OK) {
        problem_set_with(resp, PROB_BAD_SIGNATURE_ALGORITHM, alg_list(),
                         "alg must be one of %s", crypto_alg_list());
        goto fail;
    }
    if (cJSON_GetObjectItemCaseSensitive(jp->hdr, "crit") != NULL) {
        problem_set(resp, PROB_MALFORMED, "crit is not supported");
        goto fail;
    }
    if (jp->sig_len > JWS_MAX_SIG) {
        problem_set(resp, PROB_MALFORMED, "signature too long");
        goto fail;
    }
    return true;
fail:
    parts_fini(jp);
    return false;
}

/* Checks the signature of jp with key. Returns AP_OK with resp->status
 * set when the client is at fault. */
static ap_err
parts_verify(const struct jws_parts *jp, const struct crypto_key *key,
             struct acme_resp *resp)
{
    struct buf signing;
    ap_err rc;

    if (!crypto_alg_fits_key(jp->alg, key)) {
        problem_set_with(resp, PROB_BAD_SIGNATURE_ALGORITHM, alg_list(),
                         "alg %s does not fit the key", jp->alg_name);
        return AP_OK;
    }
    buf_init(&signing, strlen(jp->prot_b64) + strlen(jp->payload_b64) + 2);
    rc = buf_appends(&signing, jp->prot_b64);
    if (rc == AP_OK) {
        rc = buf_append(&signing, ".", 1);
    }
    if (rc == AP_OK) {
        rc = buf_appends(&signing, jp->payload_b64);
    }
    if (rc == AP_OK &&
        crypto_verify(key, jp->alg, signing.data, signing.len, jp->sig,
                      jp->sig_len) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "JWS signature does not verify");
    }
    buf_fini(&signing);
    return rc;
}

ap_err
jws_verify(const struct app *app, const struct acme_req *req,
           enum jws_key_mode mode, struct acme_resp *resp,
           struct jws_msg *msg)
{
    cJSON *body = NULL;
    struct jws_parts jp;
    const char *nonce = NULL;
    const char *url = NULL;
    const char *kid = NULL;
    const cJSON *jwk;
    char errbuf[160];
    ap_err rc = AP_OK;

    memset(msg, 0, sizeof(*msg));
    memset(&jp, 0, sizeof(jp));
    if (json_parse(req->body, req->body_len, &body) != AP_OK ||
        !cJSON_IsObject(body)) {
        problem_set(resp, PROB_MALFORMED, "body is not a JSON object");
        goto out;
    }
    if (!parts_parse(body, req->body_len, &jp, resp)) {
        goto out;
    }
    /* RFC 8555 §6.5: a missing or bad nonce is badNonce. */
    if (json_get_string(jp.hdr, "nonce", 128, &nonce) != AP_OK) {
        problem_set(resp, PROB_BAD_NONCE, "protected header has no nonce");
        goto out;
    }
    switch (nonce_consume(app->nonces, nonce)) {
    case NONCE_OK:
        break;
    case NONCE_REPLAYED:
        problem_set(resp, PROB_BAD_NONCE, "nonce was already used");
        goto out;
    case NONCE_EXPIRED:
        problem_set(resp, PROB_BAD_NONCE, "nonce expired");
        goto out;
    case NONCE_UNKNOWN:
        problem_set(resp, PROB_BAD_NONCE, "nonce unknown to this server");
        goto out;
    }
    /* RFC 8555 §6.4: url must be the request URL, else unauthorized. */
    if (json_get_string(jp.hdr, "url", HTTP_MAX_URL, &url) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "protected header has no url");
        goto out;
    }
    if (strcmp(url, req->url) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "url in the protected header is not the request URL");
        goto out;
    }
    /* RFC 8555 §6.2: jwk and kid are mutually exclusive. */
    jwk = cJSON_GetObjectItemCaseSensitive(jp.hdr, "jwk");
    if (cJSON_GetObjectItemCaseSensitive(jp.hdr, "kid") != NULL &&
        json_get_string(jp.hdr, "kid", HTTP_MAX_URL, &kid) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "kid must be a string");
        goto out;
    }
    if ((jwk == NULL) == (kid == NULL)) {
        problem_set(resp, PROB_MALFORMED,
                    "protected header needs exactly one of jwk and kid");
        goto out;
    }
    if (mode == JWS_NEED_JWK && jwk == NULL) {
        problem_set(resp, PROB_MALFORMED, "this resource needs jwk, not kid");
        goto out;
    }
    if (mode == JWS_NEED_KID && kid == NULL) {
        problem_set(resp, PROB_MALFORMED, "this resource needs kid, not jwk");
        goto out;
    }
    if (jwk != NULL) {
        if (!cJSON_IsObject(jwk) ||
            crypto_jwk_parse(jwk, &msg->key, errbuf, sizeof(errbuf)) !=
                AP_OK) {
            problem_set(resp, PROB_BAD_PUBLIC_KEY, "jwk refused: %s",
                        cJSON_IsObject(jwk) ? errbuf : "not an object");
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
    rc = parts_verify(&jp, msg->key, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    /* RFC 8555 §6.3: POST-as-GET has an empty payload. */
    if (jp.payload_len == 0 && jp.payload_b64[0] == '\0') {
        msg->post_as_get = true;
    } else if (json_parse((const char *)jp.payload_raw, jp.payload_len,
                          &msg->payload) != AP_OK ||
               !cJSON_IsObject(msg->payload)) {
        problem_set(resp, PROB_MALFORMED, "payload is not a JSON object");
        goto out;
    }
out:
    if (rc != AP_OK || resp->status != 0) {
        jws_msg_fini(msg);
    }
    parts_fini(&jp);
    cJSON_Delete(body);
    return rc;
}

ap_err
jws_verify_inner(const cJSON *inner, const char *url, struct acme_resp *resp,
                 struct crypto_key **key, cJSON **payload)
{
    struct jws_parts jp;
    const char *inner_url = NULL;
    const cJSON *jwk;
    char errbuf[160];
    ap_err rc = AP_OK;

    *key = NULL;
    *payload = NULL;
    if (!parts_parse(inner, JWS_MAX_INNER, &jp, resp)) {
        return AP_OK;
    }
    /* RFC 8555 §7.3.5: jwk of the new key, the outer url, no nonce. */
    jwk = cJSON_GetObjectItemCaseSensitive(jp.hdr, "jwk");
    if (jwk == NULL || cJSON_GetObjectItemCaseSensitive(jp.hdr, "kid")) {
        problem_set(resp, PROB_MALFORMED,
                    "inner JWS needs jwk (the new key) and no kid");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(jp.hdr, "nonce") != NULL) {
        problem_set(resp, PROB_MALFORMED, "inner JWS must omit nonce");
        goto out;
    }
    if (json_get_string(jp.hdr, "url", HTTP_MAX_URL, &inner_url) != AP_OK ||
        strcmp(inner_url, url) != 0) {
        problem_set(resp, PROB_MALFORMED,
                    "inner JWS url must be the outer JWS url");
        goto out;
    }
    if (!cJSON_IsObject(jwk) ||
        crypto_jwk_parse(jwk, key, errbuf, sizeof(errbuf)) != AP_OK) {
        problem_set(resp, PROB_BAD_PUBLIC_KEY, "new key refused: %s",
                    cJSON_IsObject(jwk) ? errbuf : "not an object");
        goto out;
    }
    rc = parts_verify(&jp, *key, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (json_parse((const char *)jp.payload_raw, jp.payload_len, payload) !=
            AP_OK ||
        !cJSON_IsObject(*payload)) {
        cJSON_Delete(*payload);
        *payload = NULL;
        problem_set(resp, PROB_MALFORMED,
                    "inner JWS payload is not a JSON object");
        goto out;
    }
out:
    if (rc != AP_OK || resp->status != 0) {
        crypto_key_free(*key);
        *key = NULL;
    }
    parts_fini(&jp);
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
