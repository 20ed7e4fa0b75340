/* proxy/jws.c: the one flattened-JWS parser and the verifiers of the
 * request and of a key change's inner JWS (jws.h). The external account
 * binding's verifier is in proxy/eab.c. */
#include "proxy/jws.h"

#include <pthread.h>
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

/* ---------------------------------------------------------- the parser */

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

static bool
mac_alg(const char *name)
{
    return strcmp(name, "HS256") == 0 || strcmp(name, "HS384") == 0 ||
           strcmp(name, "HS512") == 0;
}

/* The three members of a flattened JWS, in the order of the bits below. */
static const char *const jws_member[] = { "protected", "payload",
                                          "signature" };

/* Checks that obj has exactly the members protected, payload and
 * signature, each once (RFC 8555 §6.2: the flattened serialization, no
 * unprotected header). json_parse refuses duplicate names already; a
 * cJSON object built otherwise may still hold them. */
static bool
members_ok(const cJSON *obj, const struct jws_use *use,
           struct acme_resp *resp)
{
    unsigned seen = 0;

    for (const cJSON *m = obj->child; m != NULL; m = m->next) {
        size_t i = 0;

        while (i < 3 && strcmp(m->string, jws_member[i]) != 0) {
            i++;
        }
        if (i == 3) {
            problem_set(resp, PROB_MALFORMED,
                        "%s member \"%.32s\" not allowed: use the flattened "
                        "serialization with a protected header only",
                        use->name, m->string);
            return false;
        }
        if (seen & (1u << i)) {
            problem_set(resp, PROB_MALFORMED, "%s member \"%s\" appears twice",
                        use->name, jws_member[i]);
            return false;
        }
        seen |= 1u << i;
    }
    return true;
}

/* What jws_parse decoded, owned. */
struct jws_decoded {
    cJSON *hdr;
    unsigned char *hdr_raw;
    unsigned char *payload;
    unsigned char *sig;
};

static void
decoded_fini(struct jws_decoded *d)
{
    cJSON_Delete(d->hdr);
    free(d->hdr_raw);
    free(d->payload);
    free(d->sig);
    memset(d, 0, sizeof(*d));
}

/* The shape checks of jws.h into jp (pointing into d). Returns true, or
 * false with a problem in resp. */
static bool
shape_ok(const cJSON *obj, const struct jws_use *use, struct jws_parts *jp,
         struct jws_decoded *d, struct acme_resp *resp)
{
    const char *sigtxt = NULL;
    size_t hdr_len = 0;
    size_t max_sig = use->max_sig != 0 ? use->max_sig : use->max_member;

    if (!cJSON_IsObject(obj)) {
        problem_set(resp, PROB_MALFORMED, "%s is not a JSON object",
                    use->name);
        return false;
    }
    if (!members_ok(obj, use, resp)) {
        return false;
    }
    if (json_get_string(obj, "protected", use->max_member, &jp->prot_b64) !=
            AP_OK ||
        json_get_string(obj, "payload", use->max_member, &jp->payload_b64) !=
            AP_OK ||
        json_get_string(obj, "signature", use->max_member, &sigtxt) !=
            AP_OK) {
        problem_set(resp, PROB_MALFORMED,
                    "%s needs string members protected, payload, signature",
                    use->name);
        return false;
    }
    if (b64url_decode_alloc(jp->prot_b64, strlen(jp->prot_b64), &d->hdr_raw,
                            &hdr_len) != AP_OK ||
        b64url_decode_alloc(jp->payload_b64, strlen(jp->payload_b64),
                            &d->payload, &jp->payload_len) != AP_OK ||
        b64url_decode_alloc(sigtxt, strlen(sigtxt), &d->sig,
                            &jp->sig_len) != AP_OK) {
        problem_set(resp, PROB_MALFORMED,
                    "%s member is not unpadded base64url", use->name);
        return false;
    }
    jp->payload = d->payload;
    jp->sig = d->sig;
    if (json_parse((const char *)d->hdr_raw, hdr_len, &d->hdr) != AP_OK ||
        !cJSON_IsObject(d->hdr)) {
        problem_set(resp, PROB_MALFORMED,
                    "%s protected header is not a JSON object", use->name);
        return false;
    }
    jp->hdr = d->hdr;
    if (use->algs == JWS_ALG_SIGNATURE &&
        (json_get_string(d->hdr, "alg", 16, &jp->alg_name) != AP_OK ||
         crypto_alg_parse(jp->alg_name, &jp->alg) != AP_OK)) {
        problem_set_with(resp, PROB_BAD_SIGNATURE_ALGORITHM, alg_list(),
                         "alg must be one of %s", crypto_alg_list());
        return false;
    }
    if (use->algs == JWS_ALG_MAC &&
        (json_get_string(d->hdr, "alg", 16, &jp->alg_name) != AP_OK ||
         !mac_alg(jp->alg_name))) {
        problem_set(resp, PROB_MALFORMED,
                    "%s alg must be HS256, HS384 or HS512", use->name);
        return false;
    }
    /* RFC 7515 §4.1.11: no extension is understood here. */
    if (cJSON_GetObjectItemCaseSensitive(d->hdr, "crit") != NULL) {
        problem_set(resp, PROB_MALFORMED, "%s: crit is not supported",
                    use->name);
        return false;
    }
    if (jp->sig_len > max_sig) {
        problem_set(resp, PROB_MALFORMED, "%s signature too long",
                    use->name);
        return false;
    }
    return true;
}

ap_err
jws_parse(const cJSON *obj, const struct jws_use *use, struct acme_resp *resp,
          unsigned char **payload, size_t *payload_len)
{
    struct jws_decoded d;
    struct jws_parts jp;
    ap_err rc = AP_OK;

    memset(&d, 0, sizeof(d));
    memset(&jp, 0, sizeof(jp));
    if (payload != NULL) {
        *payload = NULL;
        *payload_len = 0;
    }
    if (!shape_ok(obj, use, &jp, &d, resp)) {
        goto out;
    }
    rc = use->verify(use->arg, &jp, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (payload != NULL) {
        *payload = d.payload; /* b64url_decode_alloc ends it with a NUL */
        *payload_len = jp.payload_len;
        d.payload = NULL;
    }
out:
    decoded_fini(&d);
    return rc;
}

ap_err
jws_signing_input(const struct jws_parts *jp, struct buf *out)
{
    ap_err rc = buf_appends(out, jp->prot_b64);

    if (rc == AP_OK) {
        rc = buf_append(out, ".", 1);
    }
    if (rc == AP_OK) {
        rc = buf_appends(out, jp->payload_b64);
    }
    return rc;
}

ap_err
jws_check_signature(const struct jws_parts *jp, const struct crypto_key *key,
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
    rc = jws_signing_input(jp, &signing);
    if (rc == AP_OK &&
        crypto_verify(key, jp->alg, signing.data, signing.len, jp->sig,
                      jp->sig_len) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "JWS signature does not verify");
    }
    buf_fini(&signing);
    return rc;
}

/* ---------------------------------------------------------- the request */

/* Parsed keys of stored account JWKs (jwk.h's cache; keyed by the JWK
 * text, so a rolled-over key is a miss). Only stored JWKs go through it:
 * the jwk of an unauthenticated request (newAccount, revocation by the
 * certificate key) is parsed every time and cannot evict accounts' keys.
 * One process-wide cache: the same text gives the same key under any
 * configuration, so a reload needs nothing. */
#define JWS_KEY_CACHE 128

static struct jwk_cache *key_cache;
static pthread_once_t key_cache_once = PTHREAD_ONCE_INIT;

static void
key_cache_init(void)
{
    /* NULL (no memory) only means every key is parsed. */
    key_cache = jwk_cache_new(JWS_KEY_CACHE);
}

static struct jwk_cache *
account_key_cache(void)
{
    pthread_once(&key_cache_once, key_cache_init);
    return key_cache;
}

void
jws_key_cache_stats(struct jwk_cache_stats *out)
{
    jwk_cache_stats(account_key_cache(), out);
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
    rc = jwk_cache_parse(account_key_cache(), jwk, &msg->key, errbuf,
                         sizeof(errbuf));
    if (rc != AP_OK) {
        log_err("jws", "stored key of account %s unreadable: %s", id, errbuf);
        return AP_EINTERNAL;
    }
    snprintf(msg->account_id, sizeof(msg->account_id), "%s", id);
    snprintf(msg->thumbprint, sizeof(msg->thumbprint), "%s",
             json_str(msg->account, "thumbprint", ""));
    return AP_OK;
}

struct request_ctx {
    const struct app *app;
    const struct acme_req *req;
    enum jws_key_mode mode;
    struct jws_msg *msg;
};

/* jws_verifier_fn of the request: nonce, url, jwk xor kid, key or
 * account, signature. */
static ap_err
verify_request(void *arg, const struct jws_parts *jp, struct acme_resp *resp)
{
    struct request_ctx *ctx = arg;
    struct jws_msg *msg = ctx->msg;
    const char *nonce = NULL;
    const char *url = NULL;
    const char *kid = NULL;
    const cJSON *jwk;
    char errbuf[160];
    ap_err rc;

    /* RFC 8555 §6.5: a missing or bad nonce is badNonce. */
    if (json_get_string(jp->hdr, "nonce", 128, &nonce) != AP_OK) {
        problem_set(resp, PROB_BAD_NONCE, "protected header has no nonce");
        return AP_OK;
    }
    switch (nonce_consume(ctx->app->nonces, nonce)) {
    case NONCE_OK:
        break;
    case NONCE_REPLAYED:
        problem_set(resp, PROB_BAD_NONCE, "nonce was already used");
        return AP_OK;
    case NONCE_EXPIRED:
        problem_set(resp, PROB_BAD_NONCE, "nonce expired");
        return AP_OK;
    case NONCE_UNKNOWN:
        problem_set(resp, PROB_BAD_NONCE, "nonce unknown to this server");
        return AP_OK;
    case NONCE_FAILED:
        return AP_ESTORE;
    }
    /* RFC 8555 §6.4: url must be the request URL, else unauthorized. */
    if (json_get_string(jp->hdr, "url", HTTP_MAX_URL, &url) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "protected header has no url");
        return AP_OK;
    }
    if (strcmp(url, ctx->req->url) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "url in the protected header is not the request URL");
        return AP_OK;
    }
    /* RFC 8555 §6.2: jwk and kid are mutually exclusive. */
    jwk = cJSON_GetObjectItemCaseSensitive(jp->hdr, "jwk");
    if (cJSON_GetObjectItemCaseSensitive(jp->hdr, "kid") != NULL &&
        json_get_string(jp->hdr, "kid", HTTP_MAX_URL, &kid) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "kid must be a string");
        return AP_OK;
    }
    if ((jwk == NULL) == (kid == NULL)) {
        problem_set(resp, PROB_MALFORMED,
                    "protected header needs exactly one of jwk and kid");
        return AP_OK;
    }
    if (ctx->mode == JWS_NEED_JWK && jwk == NULL) {
        problem_set(resp, PROB_MALFORMED, "this resource needs jwk, not kid");
        return AP_OK;
    }
    if (ctx->mode == JWS_NEED_KID && kid == NULL) {
        problem_set(resp, PROB_MALFORMED, "this resource needs kid, not jwk");
        return AP_OK;
    }
    if (jwk != NULL) {
        if (!cJSON_IsObject(jwk) ||
            crypto_jwk_parse(jwk, &msg->key, errbuf, sizeof(errbuf)) !=
                AP_OK) {
            problem_set(resp, PROB_BAD_PUBLIC_KEY, "jwk refused: %s",
                        cJSON_IsObject(jwk) ? errbuf : "not an object");
            return AP_OK;
        }
        rc = crypto_key_thumbprint(msg->key, msg->thumbprint,
                                   sizeof(msg->thumbprint));
    } else {
        rc = load_kid_account(ctx->app, kid, resp, msg);
    }
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    return jws_check_signature(jp, msg->key, resp);
}

ap_err
jws_verify(const struct app *app, const struct acme_req *req,
           enum jws_key_mode mode, struct acme_resp *resp,
           struct jws_msg *msg)
{
    struct request_ctx ctx = { app, req, mode, msg };
    const struct jws_use use = {
        .name = "JWS",
        .max_member = req->body_len,
        .max_sig = JWS_MAX_SIG,
        .algs = JWS_ALG_SIGNATURE,
        .verify = verify_request,
        .arg = &ctx,
    };
    cJSON *body = NULL;
    unsigned char *payload = NULL;
    size_t payload_len = 0;
    ap_err rc = AP_OK;

    memset(msg, 0, sizeof(*msg));
    if (json_parse(req->body, req->body_len, &body) != AP_OK ||
        !cJSON_IsObject(body)) {
        problem_set(resp, PROB_MALFORMED, "body is not a JSON object");
        goto out;
    }
    rc = jws_parse(body, &use, resp, &payload, &payload_len);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    /* RFC 8555 §6.3: POST-as-GET has an empty payload. */
    if (payload_len == 0) {
        msg->post_as_get = true;
    } else if (json_parse((const char *)payload, payload_len,
                          &msg->payload) != AP_OK ||
               !cJSON_IsObject(msg->payload)) {
        problem_set(resp, PROB_MALFORMED, "payload is not a JSON object");
        goto out;
    }
out:
    if (rc != AP_OK || resp->status != 0) {
        jws_msg_fini(msg);
    }
    free(payload);
    cJSON_Delete(body);
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

/* ---------------------------------------------------------- key change */

struct inner_ctx {
    const char *url;         /* the outer JWS's url */
    struct crypto_key *key;  /* out: the new key */
};

/* jws_verifier_fn of a key change's inner JWS (RFC 8555 §7.3.5): jwk of
 * the new key, the outer url, no nonce, signed by that jwk. */
static ap_err
verify_inner(void *arg, const struct jws_parts *jp, struct acme_resp *resp)
{
    struct inner_ctx *ctx = arg;
    const char *inner_url = NULL;
    const cJSON *jwk;
    char errbuf[160];

    jwk = cJSON_GetObjectItemCaseSensitive(jp->hdr, "jwk");
    if (jwk == NULL || cJSON_GetObjectItemCaseSensitive(jp->hdr, "kid")) {
        problem_set(resp, PROB_MALFORMED,
                    "inner JWS needs jwk (the new key) and no kid");
        return AP_OK;
    }
    if (cJSON_GetObjectItemCaseSensitive(jp->hdr, "nonce") != NULL) {
        problem_set(resp, PROB_MALFORMED, "inner JWS must omit nonce");
        return AP_OK;
    }
    if (json_get_string(jp->hdr, "url", HTTP_MAX_URL, &inner_url) != AP_OK ||
        strcmp(inner_url, ctx->url) != 0) {
        problem_set(resp, PROB_MALFORMED,
                    "inner JWS url must be the outer JWS url");
        return AP_OK;
    }
    if (!cJSON_IsObject(jwk) ||
        crypto_jwk_parse(jwk, &ctx->key, errbuf, sizeof(errbuf)) != AP_OK) {
        problem_set(resp, PROB_BAD_PUBLIC_KEY, "new key refused: %s",
                    cJSON_IsObject(jwk) ? errbuf : "not an object");
        return AP_OK;
    }
    return jws_check_signature(jp, ctx->key, resp);
}

ap_err
jws_verify_inner(const cJSON *inner, const char *url, struct acme_resp *resp,
                 struct crypto_key **key, cJSON **payload)
{
    struct inner_ctx ctx = { url, NULL };
    const struct jws_use use = {
        .name = "inner JWS",
        .max_member = JWS_MAX_INNER,
        .max_sig = JWS_MAX_SIG,
        .algs = JWS_ALG_SIGNATURE,
        .verify = verify_inner,
        .arg = &ctx,
    };
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    ap_err rc;

    *key = NULL;
    *payload = NULL;
    rc = jws_parse(inner, &use, resp, &raw, &raw_len);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (json_parse((const char *)raw, raw_len, payload) != AP_OK ||
        !cJSON_IsObject(*payload)) {
        cJSON_Delete(*payload);
        *payload = NULL;
        problem_set(resp, PROB_MALFORMED,
                    "inner JWS payload is not a JSON object");
        goto out;
    }
out:
    if (rc != AP_OK || resp->status != 0) {
        crypto_key_free(ctx.key);
        ctx.key = NULL;
    }
    *key = ctx.key;
    free(raw);
    return rc;
}
