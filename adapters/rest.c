/* adapters/rest.c: a generic REST back end described by a JSON file: the
 * adapter (the calls, the login, start-up). What needs no network, the
 * template engine, is adapters/rest_engine.c.
 *
 * [adapter] type = rest, config = /etc/acmeproxy/pki.json. The file
 * follows the schema of docs/adapters.md (PKI-APIS.md §10): server (URL,
 * TLS), auth (none, basic, header, bearer, login), jwt blocks (ES256
 * tokens minted per call, for step-ca), profiles, reason_map and the
 * operations submit, poll, lookup, revoke and health, each with method, url,
 * headers, a JSON body template, "expect" rules (status and an optional
 * JSON-pointer condition -> outcome) and "extract" pointers.
 *
 * Templates are rendered by the engine (rest_engine.h: typed
 * placeholders, no JSON injection, URL escaping). Secrets
 * ({{secret:env:NAME}}, {{secret:file:PATH}}) are read once at start and
 * held in this adapter's state only; the engine gets them per call.
 *
 * lookup (optional) runs after a crash lost a submission's answer, with
 * the submit placeholders plus {{ref}} (an id noted during the lost
 * submission, when there was one); its rules answer issued (adopt the
 * extracted certificate), pending, rejected, transient, or not_found
 * (the PKI has no record: submitting again is safe). Without it the core
 * cannot ask and records a possible duplicate. */
#include "adapters/adapters_int.h"
#include "adapters/parse.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/jose.h"
#include "common/json.h"
#include "common/timeutil.h"
#include "common/x509.h"

#define REST_MAX_CONFIG 262144
#define REST_MAX_BODY (1024 * 1024)
#define REST_MAX_HEADERS 16
#define REST_MAX_JWTS 8

struct rest_jwt {
    char *name;
    char *kid;
    struct jose_key *key;
    const cJSON *claims; /* into rest.conf */
};

struct rest {
    cJSON *conf;            /* the parsed JSON file */
    cJSON *secrets;         /* "env:X" / "file:P" -> value (secret) */
    struct adapter_http http;
    const cJSON *ops;       /* conf.operations */
    const cJSON *auth;      /* conf.auth or NULL */
    struct rest_jwt jwts[REST_MAX_JWTS];
    size_t n_jwts;
    char *chain;            /* "chain_file": for answers without a chain */
    pthread_mutex_t lock;   /* guards token */
    char *token;            /* login result (secret) */
    long long token_renew_at;
};

static const char *const rest_keys[] = { ADAPTER_CORE_KEYS, "config", NULL };

/* ------------------------------------------------------------ calls */

static void
rest_free(void *state)
{
    struct rest *r = state;
    cJSON *it;

    if (r == NULL) {
        return;
    }
    cJSON_ArrayForEach(it, r->secrets) {
        if (cJSON_IsString(it)) {
            crypto_zeroize(it->valuestring, strlen(it->valuestring));
        }
    }
    cJSON_Delete(r->secrets);
    cJSON_Delete(r->conf);
    free(r->chain);
    for (size_t i = 0; i < r->n_jwts; i++) {
        jose_key_free(r->jwts[i].key);
        free(r->jwts[i].name);
        free(r->jwts[i].kid);
    }
    adapter_http_fini(&r->http);
    adapter_secret_free(r->token);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Mints every JWT of the config for these values into a name -> string
 * object (only those the operation could use are cheap enough to mint
 * all: step-ca configs have two). */
static ap_err
mint_jwts(struct rest *r, const struct rest_vars *v, cJSON **out,
          char *errbuf, size_t errlen)
{
    cJSON *obj = cJSON_CreateObject();
    ap_err rc = AP_OK;

    if (obj == NULL) {
        return AP_ENOMEM;
    }
    for (size_t i = 0; i < r->n_jwts && rc == AP_OK; i++) {
        cJSON *claims = NULL;
        char *jws = NULL;

        /* A claim that names serial or CSR data only renders in the
         * operation that has them: skip the token otherwise. */
        if (rest_render(r->jwts[i].claims, v, r->secrets, &claims, errbuf,
                        errlen) != AP_OK) {
            continue;
        }
        rc = jose_sign(r->jwts[i].key, r->jwts[i].kid, claims, &jws);
        json_delete_wiped(claims);
        if (rc == AP_OK) {
            if (cJSON_AddStringToObject(obj, r->jwts[i].name, jws) == NULL) {
                rc = AP_ENOMEM;
            }
            adapter_secret_free(jws);
        }
    }
    if (rc != AP_OK) {
        json_delete_wiped(obj);
        return rc;
    }
    *out = obj;
    return AP_OK;
}

/* Performs one configured operation. */
static ap_err
rest_do(struct rest *r, const cJSON *op, struct rest_vars *v,
        struct httpc_resp *resp, struct httpc_meta *meta, char *errbuf,
        size_t errlen);

static ap_err
rest_login_locked(struct rest *r, char *errbuf, size_t errlen)
{
    const cJSON *login = cJSON_GetObjectItemCaseSensitive(r->auth, "login");
    struct rest_vars v;
    struct httpc_resp resp;
    struct httpc_meta meta;
    char *tok = NULL;
    long long ttl = 0;
    ap_err rc;

    memset(&v, 0, sizeof(v));
    v.base_url = r->http.url;
    v.now = time_now();
    httpc_resp_init(&resp);
    rc = rest_do(r, login, &v, &resp, &meta, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = rest_parse_login(login,
                          &(struct adapter_answer){ resp.status,
                                                    resp.body.data,
                                                    resp.body.len,
                                                    meta.content_type,
                                                    meta.retry_after },
                          &tok, &ttl, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    adapter_secret_free(r->token);
    r->token = tok;
    tok = NULL;
    r->token_renew_at = adapter_renew_at(v.now, ttl);
out:
    adapter_secret_free(tok);
    httpc_resp_fini(&resp); /* a secret answer: wiped */
    return rc;
}

static ap_err
rest_do(struct rest *r, const cJSON *op, struct rest_vars *v,
        struct httpc_resp *resp, struct httpc_meta *meta, char *errbuf,
        size_t errlen)
{
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(op, "method");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(op, "url");
    const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(op, "headers");
    const cJSON *tbody = cJSON_GetObjectItemCaseSensitive(op, "body");
    const char *type = NULL;
    const cJSON *it;
    struct httpc_call call;
    cJSON *body = NULL;
    cJSON *jwts = NULL;
    char *body_text = NULL;
    char *url_text = NULL;
    char *user = NULL;
    char *pass = NULL;
    char *lines[REST_MAX_HEADERS + 3];
    const char *hl[REST_MAX_HEADERS + 3];
    size_t nh = 0;
    bool has_ctype = false;
    ap_err rc;

    memset(lines, 0, sizeof(lines));
    it = cJSON_GetObjectItemCaseSensitive(r->auth, "type");
    type = cJSON_IsString(it) ? it->valuestring : "none";
    if (strcmp(type, "login") == 0 &&
        op != cJSON_GetObjectItemCaseSensitive(r->auth, "login")) {
        pthread_mutex_lock(&r->lock);
        rc = AP_OK;
        if (r->token == NULL || time_now() >= r->token_renew_at) {
            rc = rest_login_locked(r, errbuf, errlen);
        }
        if (rc == AP_OK) {
            v->token = r->token; /* only while the lock is held */
            const cJSON *ah = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(r->auth, "login"),
                "apply_header");
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(ah, "name");
            const cJSON *val = cJSON_GetObjectItemCaseSensitive(ah, "value");
            char *t = NULL;

            if (cJSON_IsString(n) && cJSON_IsString(val) &&
                rest_render_text(val->valuestring, v, r->secrets, false, &t,
                                 errbuf, errlen) == AP_OK) {
                if (asprintf(&lines[nh], "%s: %s", n->valuestring, t) > 0) {
                    hl[nh] = lines[nh];
                    nh++;
                }
                adapter_secret_free(t);
            }
        }
        v->token = NULL;
        pthread_mutex_unlock(&r->lock);
        if (rc != AP_OK) {
            goto out;
        }
    }
    if (!cJSON_IsString(url) || !cJSON_IsString(method)) {
        (void)snprintf(errbuf, errlen, "operation needs method and url");
        rc = AP_ECONFIG;
        goto out;
    }
    rc = mint_jwts(r, v, &jwts, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    v->jwts = jwts;
    rc = rest_render_text(url->valuestring, v, r->secrets, true, &url_text,
                          errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    cJSON_ArrayForEach(it, hdrs) {
        char *t = NULL;

        if (nh >= REST_MAX_HEADERS || !cJSON_IsString(it)) {
            continue;
        }
        rc = rest_render_text(it->valuestring, v, r->secrets, false, &t,
                              errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
        if (strcasecmp(it->string, "Content-Type") == 0) {
            has_ctype = true;
        }
        if (asprintf(&lines[nh], "%s: %s", it->string, t) < 0) {
            lines[nh] = NULL;
            adapter_secret_free(t);
            rc = AP_ENOMEM;
            goto out;
        }
        adapter_secret_free(t);
        hl[nh] = lines[nh];
        nh++;
    }
    if (strcmp(type, "header") == 0 || strcmp(type, "bearer") == 0) {
        const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(r->auth, type);
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(hdr, "name");
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(
            hdr, strcmp(type, "bearer") == 0 ? "token" : "value");
        char *t = NULL;

        if (cJSON_IsString(val) &&
            rest_render_text(val->valuestring, v, r->secrets, false, &t,
                             errbuf, errlen) == AP_OK) {
            if (asprintf(&lines[nh], "%s: %s%s",
                         strcmp(type, "bearer") == 0 ? "Authorization"
                         : cJSON_IsString(n)         ? n->valuestring
                                                     : "Authorization",
                         strcmp(type, "bearer") == 0 ? "Bearer " : "",
                         t) > 0) {
                hl[nh] = lines[nh];
                nh++;
            } else {
                lines[nh] = NULL;
            }
            adapter_secret_free(t);
        }
    }
    if (cJSON_IsObject(tbody) || cJSON_IsArray(tbody)) {
        rc = rest_render(tbody, v, r->secrets, &body, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
        /* A body may carry a {{secret:...}} or {{token}}: printed without
         * reallocations and wiped after the call. */
        rc = json_print_wiped(body, REST_MAX_BODY, &body_text);
        if (rc != AP_OK) {
            (void)snprintf(errbuf, errlen, "request body too large");
            goto out;
        }
        if (!has_ctype) {
            hl[nh++] = "Content-Type: application/json";
        }
    }
    hl[nh] = NULL;
    adapter_http_call(&r->http, &call, method->valuestring, url_text);
    call.headers = hl;
    call.body = body_text;
    call.body_len = body_text ? strlen(body_text) : 0;
    /* The login answer carries the token. */
    call.secret_answer =
        op == cJSON_GetObjectItemCaseSensitive(r->auth, "login");
    if (strcmp(type, "basic") == 0) {
        const cJSON *bs = cJSON_GetObjectItemCaseSensitive(r->auth, "basic");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(bs, "user");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(bs, "pass");

        if (cJSON_IsString(u) && cJSON_IsString(p) &&
            rest_render_text(u->valuestring, v, r->secrets, false, &user,
                             errbuf, errlen) == AP_OK &&
            rest_render_text(p->valuestring, v, r->secrets, false, &pass,
                             errbuf, errlen) == AP_OK) {
            call.auth = HTTPC_AUTH_BASIC;
            call.user = user;
            call.password = pass;
        }
    }
    rc = httpc_call(&call, resp, meta);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "%s", resp->error);
    }
out:
    v->jwts = NULL;
    for (size_t i = 0; i < REST_MAX_HEADERS + 3; i++) {
        if (lines[i] != NULL) {
            crypto_zeroize(lines[i], strlen(lines[i]));
            free(lines[i]);
        }
    }
    json_free_wiped(body_text);
    json_delete_wiped(body);
    json_delete_wiped(jwts); /* one-time tokens: credentials until used */
    free(url_text);
    adapter_secret_free(user);
    adapter_secret_free(pass);
    return rc;
}

/* Runs op and classifies; retries once after a fresh login on a status
 * listed in relogin_on_status. */
static enum adapter_outcome
rest_run(struct rest *r, const char *opname, struct rest_vars *v,
         struct adapter_result *res)
{
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(r->ops, opname);
    const cJSON *relogin = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(r->auth, "login"),
        "relogin_on_status");
    struct httpc_resp resp;
    struct httpc_meta meta;
    char errbuf[300];
    enum adapter_outcome o = ADAPTER_RETRY;

    httpc_resp_init(&resp);
    for (int attempt = 0; attempt < 2; attempt++) {
        httpc_resp_fini(&resp);
        httpc_resp_init(&resp);
        errbuf[0] = '\0';
        if (rest_do(r, op, v, &resp, &meta, errbuf, sizeof(errbuf)) !=
            AP_OK) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL, "PKI not reached: %s",
                             errbuf);
            res->in_doubt = resp.sent;
            break;
        }
        if (attempt == 0 && relogin != NULL &&
            rest_status_in(relogin, resp.status)) {
            pthread_mutex_lock(&r->lock);
            r->token_renew_at = 0;
            pthread_mutex_unlock(&r->lock);
            continue;
        }
        o = rest_parse(op,
                       &(struct adapter_answer){ resp.status, resp.body.data,
                                                 resp.body.len,
                                                 meta.content_type,
                                                 meta.retry_after },
                       res);
        break;
    }
    httpc_resp_fini(&resp);
    return o;
}

/* An answer without a chain gets the configured one (EJBCA's finalize
 * returns the leaf alone). */
static enum adapter_outcome
rest_add_chain(const struct rest *r, enum adapter_outcome o,
               struct adapter_result *res)
{
    if (o == ADAPTER_ISSUED && res->chain_pem == NULL && r->chain != NULL) {
        res->chain_pem = strdup(r->chain);
    }
    return o;
}

static enum adapter_outcome
rest_submit(void *state, const struct adapter_request *req,
            struct adapter_result *res)
{
    struct rest *r = state;
    struct rest_vars v;
    struct adapter_request mapped = *req;
    const cJSON *profiles = cJSON_GetObjectItemCaseSensitive(r->conf,
                                                             "profiles");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(
        profiles, req->profile != NULL ? req->profile : "default");
    enum adapter_outcome o;

    if (cJSON_IsString(p)) {
        mapped.profile = p->valuestring;
    }
    memset(&v, 0, sizeof(v));
    v.req = &mapped;
    v.base_url = r->http.url;
    v.now = time_now();
    o = rest_add_chain(r, rest_run(r, "submit", &v, res), res);
    if (o == ADAPTER_PENDING && res->ref == NULL) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL,
                         "pending answer without a reference: configure "
                         "\"ref\" in the submit rule");
    }
    return o;
}

static enum adapter_outcome
rest_poll(void *state, const char *ref, struct adapter_result *res)
{
    struct rest *r = state;
    struct rest_vars v;
    enum adapter_outcome o;

    memset(&v, 0, sizeof(v));
    v.ref = ref;
    v.base_url = r->http.url;
    v.now = time_now();
    if (cJSON_GetObjectItemCaseSensitive(r->ops, "poll") == NULL) {
        return adapter_fail(res, ADAPTER_RETRY, NULL,
                            "pending, but no poll operation is configured");
    }
    o = rest_add_chain(r, rest_run(r, "poll", &v, res), res);
    if (o == ADAPTER_PENDING && res->ref == NULL) {
        res->ref = strdup(ref);
    }
    return o;
}

static enum adapter_outcome
rest_lookup(void *state, const struct adapter_request *req,
            struct adapter_result *res)
{
    struct rest *r = state;
    struct rest_vars v;
    struct adapter_request mapped = *req;
    const cJSON *profiles = cJSON_GetObjectItemCaseSensitive(r->conf,
                                                             "profiles");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(
        profiles, req->profile != NULL ? req->profile : "default");

    if (cJSON_GetObjectItemCaseSensitive(r->ops, "lookup") == NULL) {
        return adapter_fail(res, ADAPTER_UNKNOWN, NULL,
                            "no lookup operation is configured");
    }
    if (cJSON_IsString(p)) {
        mapped.profile = p->valuestring;
    }
    memset(&v, 0, sizeof(v));
    v.req = &mapped;
    v.ref = req->ref;
    v.base_url = r->http.url;
    v.now = time_now();
    return rest_add_chain(r, rest_run(r, "lookup", &v, res), res);
}

static ap_err
rest_revoke(void *state, const char *cert_pem, int reason, char *errbuf,
            size_t errlen)
{
    struct rest *r = state;
    struct rest_vars v;
    struct x509_ids ids;
    struct adapter_result res;
    enum adapter_outcome o;
    ap_err rc;
    memset(&res, 0, sizeof(res));
    if (cJSON_GetObjectItemCaseSensitive(r->ops, "revoke") == NULL) {
        (void)snprintf(errbuf, errlen, "this PKI has no revoke operation "
                       "configured");
        return AP_EINVAL;
    }
    rc = x509_cert_ids(cert_pem, &ids);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "stored certificate does not parse");
        return rc;
    }
    memset(&v, 0, sizeof(v));
    v.cert_pem = cert_pem;
    v.serial_hex = ids.serial_hex;
    v.issuer_dn = ids.issuer_dn;
    v.reason = reason;
    v.reason_map = cJSON_GetObjectItemCaseSensitive(r->conf, "reason_map");
    v.base_url = r->http.url;
    v.now = time_now();
    o = rest_run(r, "revoke", &v, &res);
    if (o == ADAPTER_ISSUED) {
        rc = AP_OK;
    } else {
        (void)snprintf(errbuf, errlen, "%s",
                       res.detail ? res.detail : "the PKI refused");
        rc = o == ADAPTER_RETRY ? AP_ENET : AP_EINVAL;
    }
    adapter_result_clear(&res);
    x509_ids_fini(&ids);
    return rc;
}

static ap_err
rest_health(void *state, char *errbuf, size_t errlen)
{
    struct rest *r = state;
    struct rest_vars v;
    struct adapter_result res;
    enum adapter_outcome o;

    if (cJSON_GetObjectItemCaseSensitive(r->ops, "health") == NULL) {
        return AP_OK;
    }
    memset(&v, 0, sizeof(v));
    memset(&res, 0, sizeof(res));
    v.base_url = r->http.url;
    v.now = time_now();
    o = rest_run(r, "health", &v, &res);
    if (o != ADAPTER_ISSUED) {
        (void)snprintf(errbuf, errlen, "%s",
                       res.detail ? res.detail : "health check failed");
    }
    adapter_result_clear(&res);
    return o == ADAPTER_ISSUED ? AP_OK : AP_ENET;
}

/* Reads every {{secret:SPEC}} of the config once. */
static ap_err
collect_secrets(const cJSON *node, cJSON *secrets, const char *file,
                char *errbuf, size_t errlen)
{
    const cJSON *it;

    if (cJSON_IsString(node)) {
        const char *p = node->valuestring;

        while ((p = strstr(p, "{{secret:")) != NULL) {
            const char *end = strstr(p, "}}");
            char spec[300];
            struct config_kv kv;
            struct config_section sec;
            char *val = NULL;
            ap_err rc;

            if (end == NULL || (size_t)(end - p - 9) >= sizeof(spec)) {
                (void)snprintf(errbuf, errlen, "%s: bad {{secret:...}}",
                               file);
                return AP_ECONFIG;
            }
            (void)snprintf(spec, sizeof(spec), "%.*s", (int)(end - p - 9),
                           p + 9);
            p = end + 2;
            if (cJSON_GetObjectItemCaseSensitive(secrets, spec) != NULL) {
                continue;
            }
            kv.key = (char *)(uintptr_t) "secret";
            kv.value = spec;
            kv.line = 0;
            sec.file = file;
            sec.kv = &kv;
            sec.n = 1;
            rc = adapter_secret(&sec, "secret", "rest", true, &val, errbuf,
                                errlen);
            if (rc != AP_OK) {
                return rc;
            }
            cJSON_AddStringToObject(secrets, spec, val);
            adapter_secret_free(val);
        }
        return AP_OK;
    }
    cJSON_ArrayForEach(it, node) {
        ap_err rc = collect_secrets(it, secrets, file, errbuf, errlen);

        if (rc != AP_OK) {
            return rc;
        }
    }
    return AP_OK;
}

static ap_err
rest_init(const struct config_section *cfg, const struct adapter_ctx *ctx,
          void **state, char *errbuf, size_t errlen)
{
    struct rest *r;
    const char *path;
    const cJSON *server;
    const cJSON *it;
    struct config_kv kvs[8];
    struct config_section sec;
    char *text = NULL;
    size_t n = 0;
    char why[300];
    ap_err rc = AP_ECONFIG;

    (void)ctx;
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return AP_ENOMEM;
    }
    pthread_mutex_init(&r->lock, NULL);
    rc = config_section_check(cfg, rest_keys, "adapter rest", errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = AP_ECONFIG;
    path = adapter_conf_str(cfg, "config", NULL);
    if (path == NULL) {
        (void)snprintf(errbuf, errlen, "rest: config = <JSON file> is "
                       "required");
        goto out;
    }
    rc = fileio_read(path, REST_MAX_CONFIG, 0, &text, &n, why, sizeof(why));
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "rest: cannot read %s", why);
        rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
        goto out;
    }
    rc = AP_ECONFIG;
    if (json_parse(text, n, &r->conf) != AP_OK || !cJSON_IsObject(r->conf)) {
        (void)snprintf(errbuf, errlen, "rest: %s is not a JSON object of at "
                       "most %d bytes (duplicate keys are refused)",
                       path, REST_MAX_CONFIG);
        goto out;
    }
    r->ops = cJSON_GetObjectItemCaseSensitive(r->conf, "operations");
    r->auth = cJSON_GetObjectItemCaseSensitive(r->conf, "auth");
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r->ops, "submit"))) {
        (void)snprintf(errbuf, errlen, "rest: %s: operations.submit is "
                       "required", path);
        goto out;
    }
    /* server -> the same settings the dedicated adapters take. */
    server = cJSON_GetObjectItemCaseSensitive(r->conf, "server");
    memset(kvs, 0, sizeof(kvs));
    sec.file = path;
    sec.kv = kvs;
    sec.n = 0;
    {
        static const struct {
            const char *json;
            const char *key;
        } map[] = {
            { "/base_url", "url" },
            { "/ca_bundle", "ca_file" },
            { "/client_cert/cert", "client_cert" },
            { "/client_cert/key", "client_key" },
            { "/timeout_ms", "timeout_ms" },
            { "/connect_timeout_ms", "connect_timeout_ms" },
            { "/allow_http", "allow_http" },
        };
        char *vals[8] = { NULL };

        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
            vals[i] = rest_pointer_text(server, map[i].json, ",");
            if (vals[i] != NULL) {
                if (strcmp(vals[i], "true") == 0) {
                    free(vals[i]);
                    vals[i] = strdup("yes");
                } else if (strcmp(vals[i], "false") == 0) {
                    free(vals[i]);
                    vals[i] = strdup("no");
                }
                kvs[sec.n].key = (char *)(uintptr_t)map[i].key;
                kvs[sec.n].value = vals[i];
                sec.n++;
            }
        }
        rc = adapter_http_load(&sec, "rest", &r->http, errbuf, errlen);
        for (size_t i = 0; i < 8; i++) {
            free(vals[i]);
        }
        if (rc != AP_OK) {
            goto out;
        }
    }
    {
        const cJSON *cf = cJSON_GetObjectItemCaseSensitive(r->conf,
                                                           "chain_file");
        char *ctext = NULL;
        size_t clen = 0;

        if (cf != NULL && !cJSON_IsString(cf)) {
            (void)snprintf(why, sizeof(why), "not a file name");
            rc = AP_EINVAL;
        } else if (cf != NULL) {
            rc = fileio_read(cf->valuestring, X509_MAX_BUNDLE, 0, &ctext,
                             &clen, why, sizeof(why));
            if (rc == AP_OK) {
                rc = x509_pem_normalize(ctext, 0, &r->chain, NULL);
                if (rc != AP_OK) {
                    (void)snprintf(why, sizeof(why), "certificates: %s",
                                   ap_strerror(rc));
                }
            }
            fileio_free(ctext, clen, 0);
        }
        if (rc != AP_OK) {
            (void)snprintf(errbuf, errlen, "rest: %s: chain_file is not a "
                           "readable PEM bundle: %s", path, why);
            rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
            goto out;
        }
    }
    r->secrets = cJSON_CreateObject();
    if (r->secrets == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = collect_secrets(r->conf, r->secrets, path, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r->conf, "jwt")) {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "key");
        const cJSON *kid = cJSON_GetObjectItemCaseSensitive(it, "kid");
        const cJSON *alg = cJSON_GetObjectItemCaseSensitive(it, "alg");
        struct rest_jwt *j;

        if (r->n_jwts >= REST_MAX_JWTS || !cJSON_IsString(key) ||
            (alg != NULL && (!cJSON_IsString(alg) ||
                             strcmp(alg->valuestring, "ES256") != 0))) {
            (void)snprintf(errbuf, errlen, "rest: %s: jwt %s needs a key "
                           "file and alg ES256 (at most %d tokens)",
                           path, it->string, REST_MAX_JWTS);
            rc = AP_ECONFIG;
            goto out;
        }
        j = &r->jwts[r->n_jwts];
        rc = jose_key_load(key->valuestring, &j->key, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
        adapter_check_private_file(key->valuestring, "rest jwt key");
        j->name = strdup(it->string);
        j->kid = cJSON_IsString(kid) ? strdup(kid->valuestring) : NULL;
        j->claims = cJSON_GetObjectItemCaseSensitive(it, "claims");
        r->n_jwts++;
        if (j->name == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
    }
    rc = AP_OK;
out:
    fileio_free(text, n, 0);
    if (rc == AP_OK) {
        *state = r;
    } else {
        rest_free(r);
    }
    return rc;
}

const struct adapter_ops adapter_rest = {
    .abi = ADAPTER_ABI,
    .name = "rest",
    .caps = ADAPTER_CAP_POLL | ADAPTER_CAP_REVOKE | ADAPTER_CAP_CONCURRENT |
            ADAPTER_CAP_LOOKUP,
    .config_keys = rest_keys,
    .init = rest_init,
    .submit = rest_submit,
    .poll = rest_poll,
    .lookup = rest_lookup,
    .revoke = rest_revoke,
    .health = rest_health,
    .free = rest_free,
};
