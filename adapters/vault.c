/* adapters/vault.c: HashiCorp Vault / OpenBao PKI secrets engine.
 *
 * submit: POST /v1/<mount>/sign/<role> (or /issuer/<ref>/sign/<role>)
 * with the PEM CSR, common_name, alt_names, ip_sans and a ttl; the answer
 * is synchronous (never PENDING). revoke: POST /v1/<mount>/revoke with the
 * lower-case colon hex serial. health: GET /v1/sys/health.
 *
 * Auth: a token from a file or env:NAME, or an AppRole login whose token
 * is renewed (by logging in again) when two thirds of its lease have
 * passed, and at once after a 403. The token lives in this adapter's state
 * behind a mutex and is wiped on free; it is sent only in X-Vault-Token.
 * Vault cannot look a request up by our order id, so a crash between sign
 * and storing its answer can sign twice (docs/adapters.md). */
#include "adapters/adapters_int.h"
#include "adapters/parse.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/x509.h"

#define VAULT_MAX_PATH 2048
#define VAULT_MAX_LOGIN_BODY 65536

struct vault {
    struct adapter_http http;
    char *mount;          /* "pki" */
    char *role;           /* default role */
    char *issuer_ref;     /* optional */
    char *ns;             /* X-Vault-Namespace, optional */
    char *approle_mount;  /* "approle" */
    char *role_id;        /* AppRole, secret */
    char *secret_id;      /* AppRole, secret */
    pthread_mutex_t lock; /* guards token and token_renew_at */
    char *token;          /* secret */
    long long token_renew_at; /* 0: never (static token) */
};

static const char *const vault_keys[] = {
    ADAPTER_CORE_KEYS, ADAPTER_HTTP_KEYS, "mount", "role", "issuer_ref",
    "namespace", "token", "approle_mount", "approle_role_id",
    "approle_secret_id", NULL,
};

/* "errors":[...] joined, or NULL. */
static char *
vault_errors(const cJSON *root)
{
    return rest_pointer_text(root, "/errors/*", "; ");
}

enum adapter_outcome
vault_parse_sign(const struct adapter_answer *a, struct adapter_result *res)
{
    cJSON *root = NULL;
    const cJSON *data;
    const cJSON *chain;
    const cJSON *it;
    char *msg = NULL;
    char *cert = NULL;
    struct buf b;
    long status = a->status;
    enum adapter_outcome o;

    buf_init(&b, X509_MAX_BUNDLE);
    if (a->body != NULL && a->body_len > 0 &&
        json_parse(a->body, a->body_len, &root) != AP_OK) {
        root = NULL;
    }
    if (status == 200) {
        data = cJSON_GetObjectItemCaseSensitive(root, "data");
        it = cJSON_GetObjectItemCaseSensitive(data, "certificate");
        if (!cJSON_IsString(it) ||
            x509_pem_normalize(it->valuestring, 0, &cert, NULL) != AP_OK) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "Vault answered 200 without a certificate");
            goto out;
        }
        chain = cJSON_GetObjectItemCaseSensitive(data, "ca_chain");
        if (!cJSON_IsArray(chain) || cJSON_GetArraySize(chain) == 0) {
            chain = NULL;
        }
        if (chain != NULL) {
            cJSON_ArrayForEach(it, chain) {
                if (cJSON_IsString(it) &&
                    (buf_appends(&b, it->valuestring) != AP_OK ||
                     buf_appends(&b, "\n") != AP_OK)) {
                    o = adapter_fail(res, ADAPTER_RETRY, NULL,
                                     "chain too large");
                    goto out;
                }
            }
        } else {
            it = cJSON_GetObjectItemCaseSensitive(data, "issuing_ca");
            if (cJSON_IsString(it) && buf_appends(&b, it->valuestring) !=
                                          AP_OK) {
                o = adapter_fail(res, ADAPTER_RETRY, NULL, "chain too large");
                goto out;
            }
        }
        if (b.len > 0 &&
            x509_pem_normalize(b.data, 0, &res->chain_pem, NULL) != AP_OK) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "Vault's ca_chain does not parse");
            goto out;
        }
        res->cert_pem = cert;
        cert = NULL;
        it = cJSON_GetObjectItemCaseSensitive(data, "serial_number");
        if (cJSON_IsString(it)) {
            res->ref = strdup(it->valuestring);
        }
        o = ADAPTER_ISSUED;
        goto out;
    }
    msg = vault_errors(root);
    if (status == 400) {
        /* Role policy and CSR problems: the request itself is refused. */
        const char *ptype = ADAPTER_PROB_REJECTED;

        if (msg != NULL && (strstr(msg, "csr") != NULL ||
                            strstr(msg, "key") != NULL)) {
            ptype = ADAPTER_PROB_BAD_CSR;
        }
        o = adapter_fail(res, ADAPTER_REJECTED, ptype, "Vault: %s",
                         msg ? msg : "request refused (400)");
    } else if (status == 403 || status == 404) {
        /* Token, policy or mount: the operator must act; retry meanwhile. */
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "Vault %ld: %s", status,
                         msg ? msg : "permission denied or unknown path");
    } else {
        o = adapter_fail(res, adapter_status_outcome(status),
                         ADAPTER_PROB_REJECTED, "Vault %ld: %s", status,
                         msg ? msg : "no error text");
    }
out:
    free(cert);
    free(msg);
    buf_fini(&b);
    cJSON_Delete(root);
    return o;
}

enum adapter_outcome
vault_classify(long status, const char *body, struct adapter_result *res)
{
    struct adapter_answer a = { status, body, body ? strlen(body) : 0, NULL,
                                -1 };

    return vault_parse_sign(&a, res);
}

ap_err
vault_parse_login(const struct adapter_answer *a, char **token,
                  long long *lease_sec, char *errbuf, size_t errlen)
{
    cJSON *root = NULL;
    const cJSON *tok;
    long long lease = 0;
    char *copy = NULL;
    ap_err rc = AP_EINVAL;

    if (a->body != NULL && a->body_len > 0 &&
        json_parse(a->body, a->body_len, &root) != AP_OK) {
        root = NULL;
    }
    tok = rest_pointer(root, "/auth/client_token");
    if (a->status != 200 || !cJSON_IsString(tok) ||
        tok->valuestring[0] == '\0' ||
        strlen(tok->valuestring) > VAULT_MAX_TOKEN) {
        char *msg = vault_errors(root);

        (void)snprintf(errbuf, errlen, "AppRole login answered %ld: %s",
                       a->status,
                       msg != NULL        ? msg
                       : a->status == 200 ? "no usable auth.client_token"
                                          : "no error text");
        free(msg);
        goto out;
    }
    /* Vault sends whole seconds; anything else is a broken answer, not a
     * lease to compute with. */
    rc = json_int_value(rest_pointer(root, "/auth/lease_duration"),
                        JSON_INT_NUMBER, 0, VAULT_MAX_LEASE, &lease);
    if (rc == AP_EPARSE) {
        (void)snprintf(errbuf, errlen, "AppRole login answered a "
                       "lease_duration that is not a whole number of "
                       "seconds from 0 to %lld", VAULT_MAX_LEASE);
        goto out;
    }
    copy = strdup(tok->valuestring);
    if (copy == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    *token = copy;
    *lease_sec = rc == AP_OK ? lease : 0;
    rc = AP_OK;
out:
    /* The tree holds the token. */
    json_delete_wiped(root);
    return rc;
}

/* POST /v1/auth/<approle_mount>/login; sets the token. Caller holds lock. */
static ap_err
vault_login_locked(struct vault *v, char *errbuf, size_t errlen)
{
    struct httpc_call call;
    struct httpc_resp resp;
    cJSON *body = NULL;
    char *text = NULL;
    char *tok = NULL;
    char url[VAULT_MAX_PATH];
    char nshdr[600];
    const char *hdrs[2] = { NULL, NULL };
    long long lease = 0;
    long long now;
    ap_err rc = AP_ENOMEM;

    httpc_resp_init(&resp);
    (void)snprintf(url, sizeof(url), "%s/v1/auth/%s/login", v->http.url,
                   v->approle_mount);
    body = cJSON_CreateObject();
    if (body == NULL ||
        cJSON_AddStringToObject(body, "role_id", v->role_id) == NULL ||
        cJSON_AddStringToObject(body, "secret_id", v->secret_id) == NULL) {
        goto out;
    }
    rc = json_print_wiped(body, VAULT_MAX_LOGIN_BODY, &text);
    if (rc != AP_OK) {
        goto out;
    }
    adapter_http_call(&v->http, &call, "POST", url);
    if (v->ns != NULL) {
        (void)snprintf(nshdr, sizeof(nshdr), "X-Vault-Namespace: %s", v->ns);
        hdrs[0] = nshdr;
        call.headers = hdrs;
    }
    call.body = text;
    call.body_len = strlen(text);
    call.secret_answer = 1; /* the answer carries the token */
    rc = httpc_call(&call, &resp, NULL);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "AppRole login: %s", resp.error);
        goto out;
    }
    rc = vault_parse_login(&(struct adapter_answer){ resp.status,
                                                     resp.body.data,
                                                     resp.body.len, NULL,
                                                     -1 },
                           &tok, &lease, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    adapter_secret_free(v->token);
    v->token = tok;
    tok = NULL;
    now = time_now();
    /* Log in again when two thirds of the lease are gone. */
    v->token_renew_at = adapter_renew_at(now, lease);
    log_info("vault", "AppRole login ok, lease %llds", lease);
    rc = AP_OK;
out:
    adapter_secret_free(tok);
    json_free_wiped(text);
    json_delete_wiped(body);
    httpc_resp_fini(&resp);
    return rc;
}

/* Copies the current token into hdr ("X-Vault-Token: ..."), logging in
 * first when needed (or when force). */
static ap_err
vault_token_header(struct vault *v, bool force, char *hdr, size_t len,
                   char *errbuf, size_t errlen)
{
    ap_err rc = AP_OK;

    pthread_mutex_lock(&v->lock);
    if (v->role_id != NULL &&
        (force || v->token == NULL || time_now() >= v->token_renew_at)) {
        rc = vault_login_locked(v, errbuf, errlen);
    }
    if (rc == AP_OK && v->token != NULL) {
        (void)snprintf(hdr, len, "X-Vault-Token: %s", v->token);
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

/* One authenticated request; on 403 with AppRole, logs in again and
 * retries once. */
static ap_err
vault_request(struct vault *v, const char *method, const char *path,
              const char *body, struct httpc_resp *resp, char *errbuf,
              size_t errlen)
{
    struct httpc_call call;
    char url[VAULT_MAX_PATH];
    char tokhdr[VAULT_MAX_TOKEN + 32];
    char nshdr[600];
    const char *hdrs[4];
    size_t nh;
    ap_err rc = AP_EINTERNAL;

    (void)snprintf(url, sizeof(url), "%s%s", v->http.url, path);
    for (int attempt = 0; attempt < 2; attempt++) {
        tokhdr[0] = '\0';
        rc = vault_token_header(v, attempt > 0, tokhdr, sizeof(tokhdr),
                                errbuf, errlen);
        if (rc != AP_OK) {
            break;
        }
        nh = 0;
        hdrs[nh++] = tokhdr;
        hdrs[nh++] = "Content-Type: application/json";
        if (v->ns != NULL) {
            (void)snprintf(nshdr, sizeof(nshdr), "X-Vault-Namespace: %s",
                           v->ns);
            hdrs[nh++] = nshdr;
        }
        hdrs[nh] = NULL;
        adapter_http_call(&v->http, &call, method, url);
        call.headers = hdrs;
        call.body = body;
        call.body_len = body ? strlen(body) : 0;
        httpc_resp_fini(resp);
        httpc_resp_init(resp);
        rc = httpc_call(&call, resp, NULL);
        crypto_zeroize(tokhdr, sizeof(tokhdr));
        if (rc != AP_OK) {
            (void)snprintf(errbuf, errlen, "%s", resp->error);
            break;
        }
        if (resp->status != 403 || v->role_id == NULL) {
            break;
        }
        log_warn("vault", "403 from %s: logging in again", path);
    }
    return rc;
}

/* Joins names with commas into a new string ("" for none). */
static char *
csv(const char *const *names, size_t n)
{
    struct buf b;

    buf_init(&b, 65536);
    for (size_t i = 0; i < n; i++) {
        if ((i > 0 && buf_appends(&b, ",") != AP_OK) ||
            buf_appends(&b, names[i]) != AP_OK) {
            buf_fini(&b);
            return NULL;
        }
    }
    return buf_take(&b);
}

static enum adapter_outcome
vault_submit(void *state, const struct adapter_request *req,
             struct adapter_result *res)
{
    struct vault *v = state;
    struct httpc_resp resp;
    cJSON *body = NULL;
    char *text = NULL;
    char *dns = NULL;
    char *ips = NULL;
    char path[VAULT_MAX_PATH];
    char ttl[32];
    char errbuf[300];
    const char *role = req->profile != NULL ? req->profile : v->role;
    const char *cn = req->n_dns_names > 0 ? req->dns_names[0]
                     : req->n_ip_addrs > 0 ? req->ip_addrs[0]
                                           : "";
    long long now = time_now();
    enum adapter_outcome o;

    httpc_resp_init(&resp);
    if (v->issuer_ref != NULL) {
        (void)snprintf(path, sizeof(path), "/v1/%s/issuer/%s/sign/%s",
                       v->mount, v->issuer_ref, role);
    } else {
        (void)snprintf(path, sizeof(path), "/v1/%s/sign/%s", v->mount, role);
    }
    dns = csv(req->dns_names, req->n_dns_names);
    ips = csv(req->ip_addrs, req->n_ip_addrs);
    body = cJSON_CreateObject();
    if (dns == NULL || ips == NULL || body == NULL ||
        cJSON_AddStringToObject(body, "csr", req->csr_pem) == NULL ||
        cJSON_AddStringToObject(body, "common_name", cn) == NULL ||
        cJSON_AddStringToObject(body, "format", "pem") == NULL ||
        cJSON_AddBoolToObject(body, "remove_roots_from_chain", 1) == NULL) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    if ((dns[0] != '\0' &&
         cJSON_AddStringToObject(body, "alt_names", dns) == NULL) ||
        (ips[0] != '\0' &&
         cJSON_AddStringToObject(body, "ip_sans", ips) == NULL)) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    if (req->not_after > now) {
        (void)snprintf(ttl, sizeof(ttl), "%llds", req->not_after - now);
        if (cJSON_AddStringToObject(body, "ttl", ttl) == NULL) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
            goto out;
        }
    }
    text = cJSON_PrintUnformatted(body);
    if (text == NULL) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    if (vault_request(v, "POST", path, text, &resp, errbuf,
                      sizeof(errbuf)) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "Vault not reached: %s",
                         errbuf);
        res->in_doubt = resp.sent;
        goto out;
    }
    o = vault_parse_sign(&(struct adapter_answer){ resp.status,
                                                   resp.body.data,
                                                   resp.body.len, NULL, -1 },
                         res);
    if (resp.status == 403) {
        log_err("vault", "order=%s: Vault refused the token (403): check "
                "the token or AppRole and its policy for %s",
                req->order_id, path);
    }
out:
    cJSON_free(text);
    cJSON_Delete(body);
    free(dns);
    free(ips);
    httpc_resp_fini(&resp);
    return o;
}

static ap_err
vault_revoke(void *state, const char *cert_pem, int reason, char *errbuf,
             size_t errlen)
{
    struct vault *v = state;
    struct x509_ids ids;
    struct httpc_resp resp;
    cJSON *body = NULL;
    cJSON *root = NULL;
    char *text = NULL;
    char *msg = NULL;
    char colon[200];
    char path[VAULT_MAX_PATH];
    size_t k = 0;
    ap_err rc;

    (void)reason; /* Vault's revoke takes no reason. */
    memset(&ids, 0, sizeof(ids));
    httpc_resp_init(&resp);
    rc = x509_cert_ids(cert_pem, &ids);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "stored certificate does not parse");
        goto out;
    }
    if (strlen(ids.serial_hex) % 2 != 0 ||
        strlen(ids.serial_hex) * 3 / 2 >= sizeof(colon)) {
        (void)snprintf(errbuf, errlen, "serial number out of range");
        rc = AP_EINVAL;
        goto out;
    }
    for (size_t i = 0; ids.serial_hex[i] != '\0'; i += 2) {
        if (i > 0) {
            colon[k++] = ':';
        }
        colon[k++] = ids.serial_hex[i];
        colon[k++] = ids.serial_hex[i + 1];
    }
    colon[k] = '\0';
    body = cJSON_CreateObject();
    if (body == NULL ||
        cJSON_AddStringToObject(body, "serial_number", colon) == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    text = cJSON_PrintUnformatted(body);
    if (text == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    (void)snprintf(path, sizeof(path), "/v1/%s/revoke", v->mount);
    rc = vault_request(v, "POST", path, text, &resp, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    if (resp.status == 200 || resp.status == 204) {
        rc = AP_OK;
        goto out;
    }
    if (json_parse(resp.body.data ? resp.body.data : "", resp.body.len, &root) != AP_OK) {
        root = NULL;
    }
    msg = vault_errors(root);
    (void)snprintf(errbuf, errlen, "Vault answered %ld: %s", resp.status,
                   msg ? msg : "no error text");
    rc = adapter_status_outcome(resp.status) == ADAPTER_RETRY ? AP_ENET
                                                               : AP_EINVAL;
out:
    free(msg);
    cJSON_Delete(root);
    cJSON_free(text);
    cJSON_Delete(body);
    httpc_resp_fini(&resp);
    x509_ids_fini(&ids);
    return rc;
}

static ap_err
vault_health(void *state, char *errbuf, size_t errlen)
{
    struct vault *v = state;
    struct httpc_call call;
    struct httpc_resp resp;
    char url[VAULT_MAX_PATH];
    ap_err rc;

    httpc_resp_init(&resp);
    (void)snprintf(url, sizeof(url), "%s/v1/sys/health", v->http.url);
    adapter_http_call(&v->http, &call, "GET", url);
    rc = httpc_call(&call, &resp, NULL);
    if (rc == AP_OK && resp.status != 200) {
        (void)snprintf(errbuf, errlen, "sys/health answered %ld%s",
                       resp.status,
                       resp.status == 503 ? " (sealed)"
                       : resp.status == 429 ? " (standby)"
                                            : "");
        rc = AP_ENET;
    } else if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "%s", resp.error);
    }
    httpc_resp_fini(&resp);
    return rc;
}

static void
vault_free(void *state)
{
    struct vault *v = state;

    if (v == NULL) {
        return;
    }
    adapter_http_fini(&v->http);
    free(v->mount);
    free(v->role);
    free(v->issuer_ref);
    free(v->ns);
    free(v->approle_mount);
    adapter_secret_free(v->role_id);
    adapter_secret_free(v->secret_id);
    adapter_secret_free(v->token);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

static ap_err
vault_init(const struct config_section *cfg, const struct adapter_ctx *ctx,
           void **state, char *errbuf, size_t errlen)
{
    struct vault *v;
    ap_err rc;

    (void)ctx;
    v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return AP_ENOMEM;
    }
    pthread_mutex_init(&v->lock, NULL);
    rc = config_section_check(cfg, vault_keys, "adapter vault", errbuf,
                              errlen);
    if (rc == AP_OK) {
        rc = adapter_http_load(cfg, "vault", &v->http, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "mount", "pki", true, "vault", &v->mount,
                              errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "role", NULL, true, "vault", &v->role,
                              errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "issuer_ref", NULL, false, "vault",
                              &v->issuer_ref, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "namespace", NULL, false, "vault", &v->ns,
                              errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "approle_mount", "approle", true, "vault",
                              &v->approle_mount, errbuf, errlen);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = adapter_secret(cfg, "token", "vault", false, &v->token, errbuf,
                        errlen);
    if (rc == AP_ENOTFOUND) {
        rc = adapter_secret(cfg, "approle_role_id", "vault", true,
                            &v->role_id, errbuf, errlen);
        if (rc == AP_OK) {
            rc = adapter_secret(cfg, "approle_secret_id", "vault", true,
                                &v->secret_id, errbuf, errlen);
        }
        if (rc == AP_ECONFIG && v->role_id == NULL) {
            (void)snprintf(errbuf, errlen, "vault: set token, or "
                           "approle_role_id and approle_secret_id");
        }
    } else if (rc == AP_OK && config_section_get(cfg, "approle_role_id")) {
        (void)snprintf(errbuf, errlen, "vault: token and approle_role_id "
                       "exclude each other");
        rc = AP_ECONFIG;
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (v->role_id != NULL) {
        /* Checks the AppRole credentials now, not at the first order. */
        pthread_mutex_lock(&v->lock);
        rc = vault_login_locked(v, errbuf, errlen);
        pthread_mutex_unlock(&v->lock);
        if (rc == AP_ENET || rc == AP_ETIMEOUT) {
            log_warn("vault", "AppRole login at start failed (%s): will "
                     "retry at the first order", errbuf);
            rc = AP_OK;
        } else if (rc != AP_OK) {
            rc = AP_ECONFIG;
        }
    }
out:
    if (rc == AP_OK) {
        *state = v;
    } else {
        vault_free(v);
    }
    return rc;
}

const struct adapter_ops adapter_vault = {
    .abi = ADAPTER_ABI,
    .name = "vault",
    .caps = ADAPTER_CAP_REVOKE | ADAPTER_CAP_CONCURRENT,
    .config_keys = vault_keys,
    .init = vault_init,
    .submit = vault_submit,
    .poll = NULL,
    .revoke = vault_revoke,
    .health = vault_health,
    .free = vault_free,
};
