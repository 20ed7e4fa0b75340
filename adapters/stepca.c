/* adapters/stepca.c: Smallstep step-ca with a JWK provisioner.
 *
 * submit: POST /1.0/sign {"csr": PEM, "ott": token} where the token is a
 * fresh ES256 JWT signed with the provisioner's private key: iss = the
 * provisioner name, aud = <url>/1.0/sign, sub = the first name, sans =
 * every name, nbf/iat = now, exp = now + token_lifetime, a random jti
 * (step-ca refuses a jti twice). 201 carries crt and certChain (leaf
 * first). revoke: POST /1.0/revoke with the decimal serial, passive true
 * and a revoke token whose sub is that serial. health: GET /health.
 *
 * The provisioner key (PEM EC P-256 or a private JWK, decrypted at install
 * time with `step crypto jwe decrypt`) is read once at start and never
 * leaves common/jose.c. step-ca cannot look a request up by our order id;
 * see docs/adapters.md for the crash window. */
#include "adapters/adapters_int.h"
#include "adapters/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/jose.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/x509.h"

#define STEPCA_MAX_URL 2048
#define STEPCA_MAX_BODY (1024 * 1024) /* a request with its CSR */

struct stepca {
    struct adapter_http http;
    char *provisioner;      /* iss */
    char *kid;
    char *audience_base;    /* aud prefix; default: url */
    struct jose_key *key;
    unsigned token_sec;
    bool send_validity;
};

static const char *const stepca_keys[] = {
    ADAPTER_CORE_KEYS, ADAPTER_HTTP_KEYS, "provisioner", "provisioner_kid",
    "provisioner_key", "audience", "token_lifetime", "send_validity", NULL,
};

enum adapter_outcome
stepca_parse(const struct adapter_answer *a, struct adapter_result *res)
{
    cJSON *root = NULL;
    const cJSON *it;
    const char *msg;
    struct buf b;
    long status = a->status;
    enum adapter_outcome o;

    buf_init(&b, X509_MAX_BUNDLE);
    if (a->body != NULL && a->body_len > 0 &&
        json_parse(a->body, a->body_len, &root) != AP_OK) {
        root = NULL;
    }
    msg = json_str(root, "message", "no error text");
    if (status == 201 || status == 200) {
        it = cJSON_GetObjectItemCaseSensitive(root, "crt");
        if (!cJSON_IsString(it) ||
            x509_pem_normalize(it->valuestring, 0, &res->cert_pem, NULL) !=
                AP_OK) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "step-ca answered %ld without a readable crt",
                             status);
            goto out;
        }
        /* certChain is leaf first; ca is the intermediate alone. */
        it = cJSON_GetObjectItemCaseSensitive(root, "certChain");
        if (cJSON_IsArray(it) && cJSON_GetArraySize(it) > 1) {
            const cJSON *c;

            cJSON_ArrayForEach(c, it) {
                if (cJSON_IsString(c) &&
                    (buf_appends(&b, c->valuestring) != AP_OK ||
                     buf_appends(&b, "\n") != AP_OK)) {
                    break;
                }
            }
            if (x509_pem_normalize(b.data ? b.data : "", 1, &res->chain_pem,
                                   NULL) != AP_OK) {
                res->chain_pem = NULL;
            }
        }
        if (res->chain_pem == NULL) {
            it = cJSON_GetObjectItemCaseSensitive(root, "ca");
            if (cJSON_IsString(it) &&
                x509_pem_normalize(it->valuestring, 0, &res->chain_pem,
                                   NULL) != AP_OK) {
                res->chain_pem = NULL;
            }
        }
        o = ADAPTER_ISSUED;
    } else if (status == 400 || status == 403) {
        o = adapter_fail(res, ADAPTER_REJECTED,
                         status == 400 ? ADAPTER_PROB_BAD_CSR
                                       : ADAPTER_PROB_REJECTED,
                         "step-ca %ld: %s", status, msg);
    } else {
        /* 401 (token refused: key, kid, aud, clock), 5xx, no answer. */
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "step-ca %ld: %s", status,
                         msg);
    }
out:
    buf_fini(&b);
    cJSON_Delete(root);
    return o;
}

enum adapter_outcome
stepca_classify(long status, const char *body, struct adapter_result *res)
{
    struct adapter_answer a = { status, body, body ? strlen(body) : 0, NULL,
                                -1 };

    return stepca_parse(&a, res);
}

/* A one-time token for aud_path ("/1.0/sign") with subject sub and
 * sans (may be NULL: step-ca then takes [sub]). */
static ap_err
stepca_token(struct stepca *s, const char *aud_path, const char *sub,
             cJSON *sans, char **out)
{
    cJSON *claims = cJSON_CreateObject();
    unsigned char rnd[32];
    char jti[65];
    char aud[STEPCA_MAX_URL];
    long long now = time_now();
    ap_err rc;

    if (claims == NULL) {
        cJSON_Delete(sans);
        return AP_ENOMEM;
    }
    rc = crypto_random(rnd, sizeof(rnd));
    if (rc != AP_OK) {
        cJSON_Delete(claims);
        cJSON_Delete(sans);
        return rc;
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        (void)snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
    }
    (void)snprintf(aud, sizeof(aud), "%s%s", s->audience_base, aud_path);
    cJSON_AddStringToObject(claims, "iss", s->provisioner);
    cJSON_AddStringToObject(claims, "aud", aud);
    cJSON_AddStringToObject(claims, "sub", sub);
    if (sans != NULL) {
        cJSON_AddItemToObject(claims, "sans", sans);
    }
    cJSON_AddNumberToObject(claims, "nbf", (double)now);
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    cJSON_AddNumberToObject(claims, "exp", (double)(now + s->token_sec));
    cJSON_AddStringToObject(claims, "jti", jti);
    rc = jose_sign(s->key, s->kid, claims, out);
    cJSON_Delete(claims);
    return rc;
}

static ap_err
stepca_post(struct stepca *s, const char *path, const cJSON *body,
            struct httpc_resp *resp)
{
    static const char *const hdrs[] = { "Content-Type: application/json",
                                        NULL };
    struct httpc_call call;
    char url[STEPCA_MAX_URL];
    char *text;
    ap_err rc;

    /* The body carries a one-time token: a credential until it expires. */
    rc = json_print_wiped(body, STEPCA_MAX_BODY, &text);
    if (rc != AP_OK) {
        return rc;
    }
    (void)snprintf(url, sizeof(url), "%s%s", s->http.url, path);
    adapter_http_call(&s->http, &call, "POST", url);
    call.headers = hdrs;
    call.body = text;
    call.body_len = strlen(text);
    rc = httpc_call(&call, resp, NULL);
    json_free_wiped(text);
    return rc;
}

static enum adapter_outcome
stepca_submit(void *state, const struct adapter_request *req,
              struct adapter_result *res)
{
    struct stepca *s = state;
    struct httpc_resp resp;
    cJSON *body = NULL;
    cJSON *sans;
    char *ott = NULL;
    char when[TIME_RFC3339_LEN];
    const char *sub = req->n_dns_names > 0  ? req->dns_names[0]
                      : req->n_ip_addrs > 0 ? req->ip_addrs[0]
                                            : "";
    enum adapter_outcome o;

    httpc_resp_init(&resp);
    sans = cJSON_CreateArray();
    for (size_t i = 0; sans != NULL && i < req->n_dns_names; i++) {
        cJSON_AddItemToArray(sans, cJSON_CreateString(req->dns_names[i]));
    }
    for (size_t i = 0; sans != NULL && i < req->n_ip_addrs; i++) {
        cJSON_AddItemToArray(sans, cJSON_CreateString(req->ip_addrs[i]));
    }
    if (sans == NULL || stepca_token(s, "/1.0/sign", sub, sans, &ott) !=
                            AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL,
                         "cannot sign the one-time token");
        goto out;
    }
    body = cJSON_CreateObject();
    if (body == NULL || cJSON_AddStringToObject(body, "csr", req->csr_pem) ==
                            NULL ||
        cJSON_AddStringToObject(body, "ott", ott) == NULL) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    if (s->send_validity && req->not_after > 0) {
        time_rfc3339(req->not_after, when, sizeof(when));
        cJSON_AddStringToObject(body, "notAfter", when);
    }
    if (stepca_post(s, "/1.0/sign", body, &resp) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "step-ca not reached: %s",
                         resp.error);
        res->in_doubt = resp.sent;
        goto out;
    }
    o = stepca_parse(&(struct adapter_answer){ resp.status, resp.body.data,
                                               resp.body.len, NULL, -1 },
                     res);
    if (resp.status == 401) {
        log_err("stepca", "order=%s: step-ca refused the token (401): check "
                "provisioner, provisioner_kid, the key and the clock",
                req->order_id);
    }
out:
    adapter_secret_free(ott);
    json_delete_wiped(body);
    httpc_resp_fini(&resp);
    return o;
}

static ap_err
stepca_revoke(void *state, const char *cert_pem, int reason, char *errbuf,
              size_t errlen)
{
    struct stepca *s = state;
    struct x509_ids ids;
    struct httpc_resp resp;
    cJSON *body = NULL;
    cJSON *root = NULL;
    char *dec = NULL;
    char *ott = NULL;
    const char *msg;
    ap_err rc;

    memset(&ids, 0, sizeof(ids));
    httpc_resp_init(&resp);
    rc = x509_cert_ids(cert_pem, &ids);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "stored certificate does not parse");
        goto out;
    }
    dec = adapter_hex_to_dec(ids.serial_hex);
    if (dec == NULL || stepca_token(s, "/1.0/revoke", dec, NULL, &ott) !=
                           AP_OK) {
        rc = AP_ENOMEM;
        goto out;
    }
    body = cJSON_CreateObject();
    if (body == NULL || cJSON_AddStringToObject(body, "serial", dec) == NULL ||
        cJSON_AddStringToObject(body, "ott", ott) == NULL ||
        cJSON_AddNumberToObject(body, "reasonCode", reason) == NULL ||
        cJSON_AddStringToObject(body, "reason", "ACME revocation") == NULL ||
        cJSON_AddBoolToObject(body, "passive", 1) == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = stepca_post(s, "/1.0/revoke", body, &resp);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "step-ca not reached: %s", resp.error);
        goto out;
    }
    if (resp.body.data != NULL &&
        json_parse(resp.body.data, resp.body.len, &root) != AP_OK) {
        root = NULL;
    }
    msg = json_str(root, "message", "no error text");
    if (resp.status == 200) {
        rc = AP_OK;
    } else if (resp.status == 400 && strstr(msg, "already revoked") != NULL) {
        log_info("stepca", "serial=%s was already revoked at step-ca", dec);
        rc = AP_OK;
    } else {
        (void)snprintf(errbuf, errlen, "step-ca answered %ld: %s",
                       resp.status, msg);
        rc = adapter_status_outcome(resp.status) == ADAPTER_RETRY ||
                     resp.status == 401
                 ? AP_ENET
                 : AP_EINVAL;
    }
out:
    cJSON_Delete(root);
    json_delete_wiped(body);
    adapter_secret_free(ott);
    free(dec);
    httpc_resp_fini(&resp);
    x509_ids_fini(&ids);
    return rc;
}

static ap_err
stepca_health(void *state, char *errbuf, size_t errlen)
{
    struct stepca *s = state;
    struct httpc_call call;
    struct httpc_resp resp;
    char url[STEPCA_MAX_URL];
    ap_err rc;

    httpc_resp_init(&resp);
    (void)snprintf(url, sizeof(url), "%s/health", s->http.url);
    adapter_http_call(&s->http, &call, "GET", url);
    rc = httpc_call(&call, &resp, NULL);
    if (rc == AP_OK && (resp.status != 200 || resp.body.data == NULL ||
                        strstr(resp.body.data, "\"ok\"") == NULL)) {
        (void)snprintf(errbuf, errlen, "/health answered %ld", resp.status);
        rc = AP_ENET;
    } else if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "%s", resp.error);
    }
    httpc_resp_fini(&resp);
    return rc;
}

static void
stepca_free(void *state)
{
    struct stepca *s = state;

    if (s == NULL) {
        return;
    }
    adapter_http_fini(&s->http);
    free(s->provisioner);
    free(s->kid);
    free(s->audience_base);
    jose_key_free(s->key);
    free(s);
}

static ap_err
stepca_init(const struct config_section *cfg, const struct adapter_ctx *ctx,
            void **state, char *errbuf, size_t errlen)
{
    struct stepca *s;
    const char *keyfile;
    ap_err rc;

    (void)ctx;
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return AP_ENOMEM;
    }
    rc = config_section_check(cfg, stepca_keys, "adapter stepca", errbuf,
                              errlen);
    if (rc == AP_OK) {
        rc = adapter_http_load(cfg, "stepca", &s->http, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "provisioner", NULL, true, "stepca",
                              &s->provisioner, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "provisioner_kid", NULL, true, "stepca",
                              &s->kid, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "audience", s->http.url, true, "stepca",
                              &s->audience_base, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "token_lifetime", 30, 3600, 300,
                               &s->token_sec, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_bool(cfg, "send_validity", false,
                               &s->send_validity, errbuf, errlen);
    }
    keyfile = adapter_conf_str(cfg, "provisioner_key", NULL);
    if (rc == AP_OK && keyfile == NULL) {
        (void)snprintf(errbuf, errlen, "stepca: provisioner_key (the "
                       "decrypted provisioner key file) is required");
        rc = AP_ECONFIG;
    }
    if (rc == AP_OK) {
        rc = jose_key_load(keyfile, &s->key, errbuf, errlen);
        adapter_check_private_file(keyfile, "stepca provisioner_key");
    }
    if (rc == AP_OK) {
        *state = s;
    } else {
        stepca_free(s);
    }
    return rc;
}

const struct adapter_ops adapter_stepca = {
    .abi = ADAPTER_ABI,
    .name = "stepca",
    .caps = ADAPTER_CAP_REVOKE | ADAPTER_CAP_CONCURRENT,
    .config_keys = stepca_keys,
    .init = stepca_init,
    .submit = stepca_submit,
    .poll = NULL,
    .revoke = stepca_revoke,
    .health = stepca_health,
    .free = stepca_free,
};
