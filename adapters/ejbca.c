/* adapters/ejbca.c: EJBCA (Keyfactor) REST API with a client certificate.
 *
 * submit: POST /v1/certificate/pkcs10enroll with the PEM CSR, the
 * certificate and end entity profiles, the CA name and the username
 * <username_prefix><order id>, include_chain true; 201 carries base64 DER.
 * An approval profile answers 202 with a request id: PENDING, and poll
 * calls POST /v1/certificate/<id>/finalize until 201 (or 400 rejected).
 * revoke: PUT /v1/certificate/<issuer DN>/<SERIAL>/revoke?reason=NAME;
 * 409 (already revoked) counts as done. health: GET
 * /v1/certificate/status.
 *
 * lookup (after a crash lost a submission's answer): POST
 * /v1/certificate/search with the criterion QUERY EQUAL
 * <username_prefix><order id> (QUERY matches the end entity username,
 * subject DN, SAN or serial exactly); the certificate among the results
 * whose key is the CSR's is adopted, none is NOT_FOUND. The search
 * answers each certificate base64-encoded twice (the DER is base64'd
 * into a byte array that Jackson base64s again); once is accepted too.
 *
 * Auth is the TLS client certificate (client_cert, client_key); the
 * enrollment code is a secret (file or env:). The username derived from
 * the order id is what makes the lookup possible: one end entity per
 * order (docs/adapters.md). */
#include "adapters/adapters_int.h"
#include "adapters/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/x509.h"

#define EJBCA_MAX_URL 2048
#define EJBCA_MAX_CHAIN_FILE 65536
#define EJBCA_MAX_BODY (1024 * 1024) /* a request with its CSR */
#define EJBCA_LOOKUP_MAX 10    /* max_number_of_results of a lookup */

struct ejbca {
    struct adapter_http http;
    char *cert_profile;
    char *ee_profile;
    char *ca_name;
    char *user_prefix;
    char *code;        /* enrollment code, secret */
    char *chain;       /* chain_file contents: for answers without a chain */
};

static const char *const ejbca_keys[] = {
    ADAPTER_CORE_KEYS, ADAPTER_HTTP_KEYS, "certificate_profile",
    "end_entity_profile", "ca_name", "username_prefix", "enrollment_code",
    "chain_file", NULL,
};

/* EJBCA's request ids are Java ints; the ones it hands out are positive
 * (ProfileID.getNotUsedID). */
#define EJBCA_MAX_REQUEST_ID 2147483647LL

/* The request id of a 202 info answer: "request_id" (a number or a
 * string of digits), else the number in "Request with Id '1234' is still
 * waiting for approval". AP_ENOTFOUND when there is none, AP_EPARSE when
 * request_id is there but not an integer in [1, EJBCA_MAX_REQUEST_ID]. */
static ap_err
ejbca_request_id(const cJSON *root, char **out)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "request_id");
    const cJSON *info;
    const char *p;
    long long n = 0;
    char num[32];
    ap_err rc;

    rc = json_int_value(id, JSON_INT_NUMBER | JSON_INT_STRING, 1,
                        EJBCA_MAX_REQUEST_ID, &n);
    if (rc == AP_EPARSE) {
        return AP_EPARSE;
    }
    if (rc == AP_ENOTFOUND) {
        info = cJSON_GetObjectItemCaseSensitive(root, "info_message");
        p = cJSON_IsString(info) ? strstr(info->valuestring, "Id '") : NULL;
        if (p == NULL) {
            return AP_ENOTFOUND;
        }
        p += 4;
        (void)snprintf(num, sizeof(num), "%.*s", (int)strcspn(p, "'"), p);
        if (p[strlen(num)] != '\'') {
            return AP_ENOTFOUND;
        }
        if (json_int_text(num, 1, EJBCA_MAX_REQUEST_ID, &n) != AP_OK) {
            return AP_EPARSE;
        }
    }
    (void)snprintf(num, sizeof(num), "%lld", n);
    *out = strdup(num);
    return *out != NULL ? AP_OK : AP_ENOMEM;
}

enum adapter_outcome
ejbca_parse(const struct adapter_answer *a, struct adapter_result *res)
{
    cJSON *root = NULL;
    const cJSON *it;
    const cJSON *msg;
    struct buf b;
    long status = a->status;
    enum adapter_outcome o;
    ap_err rc;

    buf_init(&b, X509_MAX_BUNDLE);
    if (a->body != NULL && a->body_len > 0 &&
        json_parse(a->body, a->body_len, &root) != AP_OK) {
        root = NULL;
    }
    msg = cJSON_GetObjectItemCaseSensitive(root, "error_message");
    if (status == 201) {
        it = cJSON_GetObjectItemCaseSensitive(root, "certificate");
        if (!cJSON_IsString(it) ||
            x509_b64der_to_pem(it->valuestring, &res->cert_pem) != AP_OK) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "EJBCA answered 201 without a readable "
                             "certificate");
            goto out;
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
                                   root, "certificate_chain")) {
            char *pem = NULL;

            if (!cJSON_IsString(it) ||
                x509_b64der_to_pem(it->valuestring, &pem) != AP_OK ||
                buf_appends(&b, pem) != AP_OK) {
                free(pem);
                free(res->cert_pem);
                res->cert_pem = NULL;
                o = adapter_fail(res, ADAPTER_RETRY, NULL,
                                 "EJBCA's certificate_chain does not parse");
                goto out;
            }
            free(pem);
        }
        if (b.len > 0) {
            res->chain_pem = buf_take(&b);
        }
        it = cJSON_GetObjectItemCaseSensitive(root, "serial_number");
        if (cJSON_IsString(it)) {
            res->ref = strdup(it->valuestring);
        }
        o = ADAPTER_ISSUED;
    } else if (status == 202) {
        rc = ejbca_request_id(root, &res->ref);
        if (rc != AP_OK) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "EJBCA answered 202 %s",
                             rc == AP_EPARSE
                                 ? "with a request id that is not a whole "
                                   "number from 1 to 2147483647"
                                 : "without a request id");
            goto out;
        }
        it = cJSON_GetObjectItemCaseSensitive(root, "info_message");
        o = adapter_fail(res, ADAPTER_PENDING, NULL, "EJBCA: %s",
                         cJSON_IsString(it) ? it->valuestring
                                            : "waiting for approval");
    } else if (status == 400 || status == 404 || status == 409 ||
               status == 422) {
        const char *text = cJSON_IsString(msg) ? msg->valuestring
                                               : "request refused";
        /* pkcs10enroll wraps CSR and policy failures alike into 400. */
        const char *ptype = (strstr(text, "CSR") != NULL ||
                             strstr(text, "PKCS10") != NULL ||
                             strstr(text, "public key") != NULL)
                                ? ADAPTER_PROB_BAD_CSR
                                : ADAPTER_PROB_REJECTED;

        o = adapter_fail(res, ADAPTER_REJECTED, ptype, "EJBCA %ld: %s",
                         status, text);
    } else {
        /* 403 (no or unauthorised client certificate), 5xx, no answer. */
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "EJBCA %ld: %s", status,
                         cJSON_IsString(msg) ? msg->valuestring
                                             : "no error text");
    }
out:
    buf_fini(&b);
    cJSON_Delete(root);
    return o;
}

enum adapter_outcome
ejbca_classify(long status, const char *body, struct adapter_result *res)
{
    struct adapter_answer a = { status, body, body ? strlen(body) : 0, NULL,
                                -1 };

    return ejbca_parse(&a, res);
}

/* POST or PUT body (may be NULL) to url; classifies unless raw. */
static ap_err
ejbca_send(struct ejbca *e, const char *method, const char *url,
           const char *body, struct httpc_resp *resp)
{
    static const char *const hdrs[] = { "Content-Type: application/json",
                                        "Accept: application/json", NULL };
    struct httpc_call call;

    adapter_http_call(&e->http, &call, method, url);
    call.headers = hdrs;
    call.body = body;
    call.body_len = body ? strlen(body) : 0;
    return httpc_call(&call, resp, NULL);
}

/* Adds the configured chain when EJBCA's answer had none. */
static void
ejbca_add_chain(struct ejbca *e, struct adapter_result *res)
{
    if (res->chain_pem == NULL && e->chain != NULL) {
        res->chain_pem = strdup(e->chain);
    }
}

static enum adapter_outcome
ejbca_submit(void *state, const struct adapter_request *req,
             struct adapter_result *res)
{
    struct ejbca *e = state;
    struct httpc_resp resp;
    cJSON *body = NULL;
    char *text = NULL;
    char url[EJBCA_MAX_URL];
    char user[300];
    enum adapter_outcome o;

    httpc_resp_init(&resp);
    (void)snprintf(url, sizeof(url), "%s/v1/certificate/pkcs10enroll",
                   e->http.url);
    (void)snprintf(user, sizeof(user), "%s%s", e->user_prefix,
                   req->order_id);
    body = cJSON_CreateObject();
    if (body == NULL ||
        cJSON_AddStringToObject(body, "certificate_request", req->csr_pem) ==
            NULL ||
        cJSON_AddStringToObject(body, "certificate_profile_name",
                                req->profile ? req->profile
                                             : e->cert_profile) == NULL ||
        cJSON_AddStringToObject(body, "end_entity_profile_name",
                                e->ee_profile) == NULL ||
        cJSON_AddStringToObject(body, "certificate_authority_name",
                                e->ca_name) == NULL ||
        cJSON_AddStringToObject(body, "username", user) == NULL ||
        cJSON_AddStringToObject(body, "password", e->code) == NULL ||
        cJSON_AddBoolToObject(body, "include_chain", 1) == NULL ||
        cJSON_AddStringToObject(body, "response_format", "DER") == NULL) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    /* The body carries the enrollment code: printed and freed wiped. */
    if (json_print_wiped(body, EJBCA_MAX_BODY, &text) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    if (ejbca_send(e, "POST", url, text, &resp) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "EJBCA not reached: %s",
                         resp.error);
        res->in_doubt = resp.sent;
        goto out;
    }
    o = ejbca_parse(&(struct adapter_answer){ resp.status, resp.body.data,
                                              resp.body.len, NULL, -1 },
                    res);
    if (resp.status == 403) {
        log_err("ejbca", "order=%s: EJBCA refused the client certificate "
                "(403): check its administrator role", req->order_id);
    }
    if (o == ADAPTER_ISSUED) {
        ejbca_add_chain(e, res);
    }
out:
    json_free_wiped(text);
    json_delete_wiped(body);
    httpc_resp_fini(&resp);
    return o;
}

static enum adapter_outcome
ejbca_poll(void *state, const char *ref, struct adapter_result *res)
{
    struct ejbca *e = state;
    struct httpc_resp resp;
    cJSON *body = NULL;
    char *text = NULL;
    char *id = NULL;
    char url[EJBCA_MAX_URL];
    enum adapter_outcome o;

    httpc_resp_init(&resp);
    id = httpc_escape(ref);
    body = cJSON_CreateObject();
    if (id == NULL || body == NULL ||
        cJSON_AddStringToObject(body, "response_format", "DER") == NULL ||
        cJSON_AddStringToObject(body, "password", e->code) == NULL) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    (void)snprintf(url, sizeof(url), "%s/v1/certificate/%s/finalize",
                   e->http.url, id);
    /* The body carries the enrollment code: printed and freed wiped. */
    if (json_print_wiped(body, EJBCA_MAX_BODY, &text) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    if (ejbca_send(e, "POST", url, text, &resp) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "EJBCA not reached: %s",
                         resp.error);
        goto out;
    }
    o = ejbca_parse(&(struct adapter_answer){ resp.status, resp.body.data,
                                              resp.body.len, NULL, -1 },
                    res);
    if (o == ADAPTER_PENDING) {
        free(res->ref);
        res->ref = strdup(ref);
    } else if (o == ADAPTER_ISSUED) {
        ejbca_add_chain(e, res);
    }
out:
    json_free_wiped(text);
    json_delete_wiped(body);
    free(id);
    httpc_resp_fini(&resp);
    return o;
}

/* A search result's certificate as PEM: base64 of the DER, or (what the
 * search resource sends) base64 of that base64 text. */
static ap_err
ejbca_search_pem(const char *b64, char **pem)
{
    unsigned char *raw = NULL;
    size_t len = 0;
    char *inner;
    ap_err rc;

    rc = x509_b64_decode(b64, &raw, &len);
    if (rc != AP_OK) {
        return rc;
    }
    if (len > 0 && raw[0] == 0x30) {
        free(raw);
        return x509_b64der_to_pem(b64, pem);
    }
    inner = strndup((const char *)raw, len);
    free(raw);
    if (inner == NULL) {
        return AP_ENOMEM;
    }
    rc = x509_b64der_to_pem(inner, pem);
    free(inner);
    return rc;
}

/* True when the certificate (PEM) carries the CSR's public key. */
static bool
ejbca_key_matches(const struct crypto_csr *csr, const char *pem)
{
    struct x509_cert *cert = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    bool same = false;

    if (x509_pem_cert_to_der(pem, &der, &len) == AP_OK &&
        x509_cert_parse(der, len, &cert) == AP_OK) {
        same = cert->pubkey_der_len == csr->pubkey_der_len &&
               memcmp(cert->pubkey_der, csr->pubkey_der,
                      csr->pubkey_der_len) == 0;
    }
    x509_cert_free(cert);
    free(der);
    return same;
}

enum adapter_outcome
ejbca_search_classify(long status, const char *body,
                      const struct crypto_csr *csr,
                      struct adapter_result *res)
{
    cJSON *root = NULL;
    const cJSON *it;
    enum adapter_outcome o = ADAPTER_NOT_FOUND;

    if (status == 404 || status == 405) {
        return adapter_fail(res, ADAPTER_UNKNOWN, NULL,
                            "this EJBCA has no certificate search (%ld)",
                            status);
    }
    if (status != 200) {
        /* 400 (a search it cannot run), 403, 5xx: cannot tell now. */
        return adapter_fail(res, ADAPTER_RETRY, NULL,
                            "EJBCA search answered %ld", status);
    }
    if (body == NULL || json_parse(body, strlen(body), &root) != AP_OK ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root,
                                                        "certificates"))) {
        cJSON_Delete(root);
        return adapter_fail(res, ADAPTER_RETRY, NULL,
                            "EJBCA's search answer has no certificates "
                            "array");
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root,
                                                            "certificates")) {
        const char *b64 = json_str(it, "certificate", NULL);
        char *pem = NULL;

        if (b64 == NULL || ejbca_search_pem(b64, &pem) != AP_OK) {
            continue;
        }
        if (ejbca_key_matches(csr, pem)) {
            const char *serial = json_str(it, "serial_number", NULL);

            res->cert_pem = pem;
            res->ref = serial != NULL ? strdup(serial) : NULL;
            o = ADAPTER_ISSUED;
            break;
        }
        free(pem);
    }
    if (o == ADAPTER_NOT_FOUND &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "more_results"))) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL,
                         "EJBCA has more than %d certificates for the end "
                         "entity: cannot tell", EJBCA_LOOKUP_MAX);
    } else if (o == ADAPTER_NOT_FOUND) {
        (void)adapter_fail(res, ADAPTER_NOT_FOUND, NULL,
                           "EJBCA has no certificate for the end entity");
    }
    cJSON_Delete(root);
    return o;
}

static enum adapter_outcome
ejbca_lookup(void *state, const struct adapter_request *req,
             struct adapter_result *res)
{
    struct ejbca *e = state;
    struct httpc_resp resp;
    struct crypto_csr *csr = NULL;
    cJSON *body = NULL;
    cJSON *crit = NULL;
    cJSON *c = NULL;
    char *text = NULL;
    char url[EJBCA_MAX_URL];
    char user[300];
    char errbuf[128];
    enum adapter_outcome o;

    httpc_resp_init(&resp);
    if (crypto_csr_read(req->csr_der, req->csr_der_len, &csr, errbuf,
                        sizeof(errbuf)) != AP_OK) {
        return adapter_fail(res, ADAPTER_UNKNOWN, NULL,
                            "the stored CSR does not parse: %s", errbuf);
    }
    (void)snprintf(url, sizeof(url), "%s/v1/certificate/search",
                   e->http.url);
    (void)snprintf(user, sizeof(user), "%s%s", e->user_prefix,
                   req->order_id);
    body = cJSON_CreateObject();
    if (body != NULL) {
        crit = cJSON_AddArrayToObject(body, "criteria");
        c = cJSON_CreateObject();
    }
    if (crit == NULL || c == NULL || !cJSON_AddItemToArray(crit, c) ||
        cJSON_AddStringToObject(c, "property", "QUERY") == NULL ||
        cJSON_AddStringToObject(c, "value", user) == NULL ||
        cJSON_AddStringToObject(c, "operation", "EQUAL") == NULL ||
        cJSON_AddNumberToObject(body, "max_number_of_results",
                                EJBCA_LOOKUP_MAX) == NULL ||
        (text = cJSON_PrintUnformatted(body)) == NULL) {
        if (c != NULL && cJSON_GetArraySize(crit) == 0) {
            cJSON_Delete(c);
        }
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    if (ejbca_send(e, "POST", url, text, &resp) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "EJBCA not reached: %s",
                         resp.error);
        goto out;
    }
    o = ejbca_search_classify(resp.status, resp.body.data, csr, res);
    if (o == ADAPTER_ISSUED) {
        ejbca_add_chain(e, res);
    }
out:
    cJSON_free(text);
    cJSON_Delete(body);
    crypto_csr_free(csr);
    httpc_resp_fini(&resp);
    return o;
}

static ap_err
ejbca_revoke(void *state, const char *cert_pem, int reason, char *errbuf,
             size_t errlen)
{
    struct ejbca *e = state;
    struct x509_ids ids;
    struct httpc_resp resp;
    cJSON *root = NULL;
    const cJSON *msg;
    char *dn = NULL;
    char url[EJBCA_MAX_URL];
    const char *rname = adapter_reason_name(reason);
    ap_err rc;

    memset(&ids, 0, sizeof(ids));
    httpc_resp_init(&resp);
    if (rname == NULL) {
        (void)snprintf(errbuf, errlen, "reason %d has no EJBCA name", reason);
        return AP_EINVAL;
    }
    rc = x509_cert_ids(cert_pem, &ids);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "stored certificate does not parse");
        goto out;
    }
    for (char *c = ids.serial_hex; *c != '\0'; c++) {
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
    }
    dn = httpc_escape(ids.issuer_dn);
    if (dn == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    (void)snprintf(url, sizeof(url), "%s/v1/certificate/%s/%s/revoke?reason=%s",
                   e->http.url, dn, ids.serial_hex, rname);
    rc = ejbca_send(e, "PUT", url, NULL, &resp);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "EJBCA not reached: %s", resp.error);
        goto out;
    }
    if (resp.body.data != NULL &&
        json_parse(resp.body.data, resp.body.len, &root) != AP_OK) {
        root = NULL;
    }
    msg = cJSON_GetObjectItemCaseSensitive(root, "error_message");
    if (resp.status == 200 &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "revoked"))) {
        rc = AP_OK;
    } else if (resp.status == 409) {
        log_info("ejbca", "serial=%s was already revoked at EJBCA",
                 ids.serial_hex);
        rc = AP_OK;
    } else {
        (void)snprintf(errbuf, errlen, "EJBCA answered %ld: %s", resp.status,
                       cJSON_IsString(msg) ? msg->valuestring
                                           : "not revoked");
        rc = adapter_status_outcome(resp.status) == ADAPTER_RETRY ||
                     resp.status == 403
                 ? AP_ENET
                 : AP_EINVAL;
    }
out:
    cJSON_Delete(root);
    free(dn);
    httpc_resp_fini(&resp);
    x509_ids_fini(&ids);
    return rc;
}

static ap_err
ejbca_health(void *state, char *errbuf, size_t errlen)
{
    struct ejbca *e = state;
    struct httpc_call call;
    struct httpc_resp resp;
    cJSON *root = NULL;
    char url[EJBCA_MAX_URL];
    ap_err rc;

    httpc_resp_init(&resp);
    (void)snprintf(url, sizeof(url), "%s/v1/certificate/status", e->http.url);
    adapter_http_call(&e->http, &call, "GET", url);
    rc = httpc_call(&call, &resp, NULL);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "%s", resp.error);
        goto out;
    }
    if (resp.body.data == NULL ||
        json_parse(resp.body.data, resp.body.len, &root) != AP_OK) {
        root = NULL;
    }
    if (resp.status != 200 ||
        strcmp(json_str(root, "status", ""), "OK") != 0) {
        (void)snprintf(errbuf, errlen, "status answered %ld", resp.status);
        rc = AP_ENET;
    }
out:
    cJSON_Delete(root);
    httpc_resp_fini(&resp);
    return rc;
}

static void
ejbca_free(void *state)
{
    struct ejbca *e = state;

    if (e == NULL) {
        return;
    }
    adapter_http_fini(&e->http);
    free(e->cert_profile);
    free(e->ee_profile);
    free(e->ca_name);
    free(e->user_prefix);
    free(e->chain);
    adapter_secret_free(e->code);
    free(e);
}

static ap_err
ejbca_init(const struct config_section *cfg, const struct adapter_ctx *ctx,
           void **state, char *errbuf, size_t errlen)
{
    struct ejbca *e;
    const char *chain_file;
    ap_err rc;

    (void)ctx;
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return AP_ENOMEM;
    }
    rc = config_section_check(cfg, ejbca_keys, "adapter ejbca", errbuf,
                              errlen);
    if (rc == AP_OK) {
        rc = adapter_http_load(cfg, "ejbca", &e->http, errbuf, errlen);
    }
    if (rc == AP_OK && e->http.client_cert == NULL) {
        (void)snprintf(errbuf, errlen, "ejbca: client_cert and client_key "
                       "(an EJBCA administrator's certificate) are required");
        rc = AP_ECONFIG;
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "certificate_profile", NULL, true, "ejbca",
                              &e->cert_profile, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "end_entity_profile", NULL, true, "ejbca",
                              &e->ee_profile, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "ca_name", NULL, true, "ejbca",
                              &e->ca_name, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "username_prefix", "acme-", true, "ejbca",
                              &e->user_prefix, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_secret(cfg, "enrollment_code", "ejbca", true, &e->code,
                            errbuf, errlen);
    }
    chain_file = adapter_conf_str(cfg, "chain_file", NULL);
    if (rc == AP_OK && chain_file != NULL) {
        char why[300];
        char *text = NULL;
        size_t len = 0;

        rc = fileio_read(chain_file, EJBCA_MAX_CHAIN_FILE, 0, &text, &len,
                         why, sizeof(why));
        if (rc == AP_OK) {
            rc = x509_pem_normalize(text, 0, &e->chain, NULL);
            if (rc != AP_OK) {
                (void)snprintf(why, sizeof(why), "certificates: %s",
                               ap_strerror(rc));
            }
        }
        fileio_free(text, len, 0);
        if (rc != AP_OK) {
            (void)snprintf(errbuf, errlen, "ejbca: chain_file %s is not a "
                           "PEM bundle: %s", chain_file, why);
            rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
        }
    }
    if (rc == AP_OK) {
        *state = e;
    } else {
        ejbca_free(e);
    }
    return rc;
}

const struct adapter_ops adapter_ejbca = {
    .abi = ADAPTER_ABI,
    .name = "ejbca",
    .caps = ADAPTER_CAP_POLL | ADAPTER_CAP_REVOKE | ADAPTER_CAP_CONCURRENT |
            ADAPTER_CAP_LOOKUP,
    .config_keys = ejbca_keys,
    .init = ejbca_init,
    .submit = ejbca_submit,
    .poll = ejbca_poll,
    .lookup = ejbca_lookup,
    .revoke = ejbca_revoke,
    .health = ejbca_health,
    .free = ejbca_free,
};
