/* proxy/challenge.c: the validator job (runs on validator threads).
 *
 * Reads the challenge and the account's key thumbprint in one short read
 * transaction, validates with no transaction open, then records the
 * outcome (challenge, authorization, order) and removes the job in one
 * write transaction. */
#include "proxy/resource.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpc.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/resolve.h"
#include "common/timeutil.h"
#include "proxy/jobs.h"
#include "proxy/problem.h"

ap_err
challenge_new_authz(const struct app *app, const char *id,
                    const char *account, const char *order,
                    const cJSON *ident, long long expires, cJSON **out)
{
    char token[TOKEN_LEN + 1];
    cJSON *a;
    cJSON *chs;
    cJSON *ch;
    ap_err rc;

    (void)app;
    rc = id_token(token, sizeof(token));
    if (rc != AP_OK) {
        return rc;
    }
    a = cJSON_CreateObject();
    chs = cJSON_AddArrayToObject(a, "challenges");
    ch = cJSON_CreateObject();
    if (a == NULL || chs == NULL || ch == NULL) {
        cJSON_Delete(a);
        cJSON_Delete(ch);
        return AP_ENOMEM;
    }
    cJSON_AddNumberToObject(a, "v", 1);
    cJSON_AddStringToObject(a, "id", id);
    cJSON_AddStringToObject(a, "account", account);
    cJSON_AddStringToObject(a, "order", order);
    cJSON_AddItemToObject(a, "identifier", cJSON_Duplicate(ident, 1));
    cJSON_AddStringToObject(a, "status", "pending");
    cJSON_AddNumberToObject(a, "expires", (double)expires);
    cJSON_AddStringToObject(ch, "type", "http-01");
    cJSON_AddStringToObject(ch, "status", "pending");
    cJSON_AddStringToObject(ch, "token", token);
    cJSON_AddItemToArray(chs, ch);
    *out = a;
    return AP_OK;
}

struct val_outcome {
    bool valid;
    enum problem_type problem;
    char detail[1100];
    char address[64];        /* evidence: the address connected to */
};

/* RFC 8555 §8.3: GET http://<name>:<port>/.well-known/acme-challenge/<token>
 * must answer the key authorization; trailing white space is ignored. */
static void
validate_http01(const struct app *app, const char *name, const char *token,
                const char *keyauth, struct val_outcome *vo)
{
    const struct config *cfg = app->cfg;
    struct resolve_result addrs;
    struct httpc_resp hr;
    struct httpc_req req;
    char url[600];
    ap_err rc;

    rc = resolve_host(cfg->validation.resolver, name,
                      cfg->validation.timeout_ms, &addrs);
    if (rc != AP_OK) {
        vo->problem = PROB_DNS;
        snprintf(vo->detail, sizeof(vo->detail), "%s", addrs.error);
        return;
    }
    snprintf(url, sizeof(url), "http://%s:%u/.well-known/acme-challenge/%s",
             name, cfg->validation.http_port, token);
    /* Each address in turn until one connects, IPv6 first. */
    for (size_t i = 0; i < addrs.n; i++) {
        memset(&req, 0, sizeof(req));
        req.url = url;
        req.pin_host = name;
        req.pin_port = cfg->validation.http_port;
        req.pin_addr = addrs.addrs[i];
        req.timeout_ms = cfg->validation.timeout_ms;
        req.max_body = cfg->validation.max_body;
        req.protocols = "http";
        httpc_resp_init(&hr);
        rc = httpc_get(&req, &hr);
        snprintf(vo->address, sizeof(vo->address), "%s", addrs.addrs[i]);
        if (rc == AP_ENET && hr.status == 0 && i + 1 < addrs.n) {
            httpc_resp_fini(&hr);
            continue;
        }
        if (rc != AP_OK) {
            vo->problem = rc == AP_ETOOBIG ? PROB_INCORRECT_RESPONSE
                                           : PROB_CONNECTION;
            snprintf(vo->detail, sizeof(vo->detail), "%s (%s): %s", url,
                     addrs.addrs[i], hr.error);
        } else if (hr.status != 200) {
            vo->problem = hr.status >= 300 && hr.status < 400
                              ? PROB_CONNECTION
                              : PROB_UNAUTHORIZED;
            snprintf(vo->detail, sizeof(vo->detail),
                     "%s (%s): HTTP status %ld%s%.200s", url,
                     addrs.addrs[i], hr.status,
                     hr.location[0] ? ", redirects are not followed yet: "
                                    : "",
                     hr.location);
        } else {
            size_t n = hr.body.len;

            while (n > 0 && isspace((unsigned char)hr.body.data[n - 1])) {
                n--;
            }
            if (n == strlen(keyauth) &&
                memcmp(hr.body.data, keyauth, n) == 0) {
                vo->valid = true;
            } else {
                char seen[80];

                log_clean(hr.body.data, n < 64 ? n : 64, seen, sizeof(seen));
                vo->problem = PROB_INCORRECT_RESPONSE;
                snprintf(vo->detail, sizeof(vo->detail),
                         "%s (%s): the body is not the key authorization "
                         "(got \"%s\")", url, addrs.addrs[i], seen);
            }
        }
        httpc_resp_fini(&hr);
        return;
    }
    vo->problem = PROB_DNS;
    snprintf(vo->detail, sizeof(vo->detail), "no address for %s", name);
}

/* Loads what validation needs: identifier, token, key authorization. */
static ap_err
load_challenge(struct app *app, const char *authz_id, int index,
               char *name, size_t namelen, char *type, size_t typelen,
               char *token, size_t toklen, char *keyauth, size_t kalen)
{
    struct store_txn *txn = NULL;
    cJSON *authz = NULL;
    cJSON *acct = NULL;
    const cJSON *chall;
    ap_err rc;

    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_AUTHZS, authz_id, &authz);
    }
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ACCOUNTS,
                            json_str(authz, "account", ""), &acct);
    }
    if (rc != AP_OK) {
        goto out;
    }
    chall = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(authz, "challenges"), index);
    if (chall == NULL ||
        strcmp(json_str(chall, "status", ""), "processing") != 0) {
        rc = AP_ENOTFOUND;
        goto out;
    }
    snprintf(name, namelen, "%s",
             json_str(cJSON_GetObjectItemCaseSensitive(authz, "identifier"),
                      "value", ""));
    snprintf(type, typelen, "%s", json_str(chall, "type", ""));
    snprintf(token, toklen, "%s", json_str(chall, "token", ""));
    /* RFC 8555 §8.1: keyAuthorization = token || '.' || thumbprint. */
    snprintf(keyauth, kalen, "%s.%s", token,
             json_str(acct, "thumbprint", ""));
out:
    store_abort(txn);
    cJSON_Delete(authz);
    cJSON_Delete(acct);
    return rc;
}

static ap_err
record_outcome(struct app *app, const char *job_id, const char *authz_id,
               int index, const struct val_outcome *vo)
{
    struct store_txn *txn = NULL;
    cJSON *authz = NULL;
    cJSON *chall;
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_AUTHZS, authz_id, &authz);
    }
    if (rc != AP_OK) {
        goto out;
    }
    chall = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(authz, "challenges"), index);
    if (chall == NULL) {
        rc = AP_EINTERNAL;
        goto out;
    }
    rc = json_set_str(chall, "status", vo->valid ? "valid" : "invalid");
    if (rc == AP_OK) {
        rc = json_set_num(chall, "validated", time_now());
    }
    if (rc == AP_OK && vo->address[0] != '\0') {
        rc = json_set_str(chall, "address", vo->address);
    }
    if (rc == AP_OK && !vo->valid) {
        cJSON_AddItemToObject(chall, "error",
                              problem_object(vo->problem, vo->detail));
    }
    /* RFC 8555 §7.1.6: one valid challenge makes the authorization valid;
     * a failed one makes it invalid. */
    if (rc == AP_OK &&
        strcmp(json_str(authz, "status", ""), "pending") == 0) {
        rc = json_set_str(authz, "status", vo->valid ? "valid" : "invalid");
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_AUTHZS, authz_id, authz, false);
    }
    if (rc == AP_OK) {
        rc = order_update_from_authz(txn, json_str(authz, "order", ""));
    }
    if (rc == AP_OK) {
        rc = store_del(txn, STORE_JOBS, job_id);
        if (rc == AP_ENOTFOUND) {
            rc = AP_OK;
        }
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
out:
    store_abort(txn);
    cJSON_Delete(authz);
    return rc;
}

static void
drop_job(struct app *app, const char *job_id)
{
    struct store_txn *txn = NULL;

    if (store_begin(app->st, true, &txn) != AP_OK) {
        return;
    }
    if (store_del(txn, STORE_JOBS, job_id) == AP_OK) {
        if (store_commit(txn) != AP_OK) {
            log_err("validate", "dropping job %s failed", job_id);
        }
        return;
    }
    store_abort(txn);
}

void
challenge_run(struct app *app, const char *job_id)
{
    enum job_kind kind;
    const char *target;
    char authz_id[64];
    char name[300];
    char type[32];
    char token[128];
    char keyauth[256];
    struct val_outcome vo;
    const char *slash;
    long long t0 = time_mono_ms();
    int index;
    ap_err rc;

    if (jobs_parse_id(job_id, &kind, &target) != AP_OK ||
        (slash = strchr(target, '/')) == NULL ||
        (size_t)(slash - target) >= sizeof(authz_id)) {
        drop_job(app, job_id);
        return;
    }
    snprintf(authz_id, sizeof(authz_id), "%.*s", (int)(slash - target),
             target);
    index = (int)strtol(slash + 1, NULL, 10);
    rc = load_challenge(app, authz_id, index, name, sizeof(name), type,
                        sizeof(type), token, sizeof(token), keyauth,
                        sizeof(keyauth));
    if (rc != AP_OK) {
        /* Gone or already decided: nothing to validate. */
        drop_job(app, job_id);
        return;
    }
    memset(&vo, 0, sizeof(vo));
    if (strcmp(type, "http-01") == 0) {
        validate_http01(app, name, token, keyauth, &vo);
    } else {
        vo.problem = PROB_SERVER_INTERNAL;
        snprintf(vo.detail, sizeof(vo.detail), "unknown challenge type");
    }
    rc = record_outcome(app, job_id, authz_id, index, &vo);
    if (rc != AP_OK) {
        log_err("validate", "recording outcome of authz=%s failed: %s",
                authz_id, ap_strerror(rc));
        return;
    }
    log_info("validate", "authz=%s type=%s name=%s result=%s address=%s "
             "ms=%lld%s%s", authz_id, type, name,
             vo.valid ? "valid" : "invalid", vo.address[0] ? vo.address : "-",
             time_mono_ms() - t0, vo.valid ? "" : " detail=",
             vo.valid ? "" : vo.detail);
}
