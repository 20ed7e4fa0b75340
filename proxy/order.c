/* proxy/order.c: newOrder, the order resource and finalize (RFC 8555
 * §7.1.3, §7.4), and the order status rules of §7.1.6. */
#include "proxy/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "proxy/ident.h"
#include "proxy/jobs.h"
#include "proxy/jws.h"
#include "proxy/problem.h"

const char *
order_status_now(const cJSON *order, long long now)
{
    const char *s = json_str(order, "status", "invalid");

    if ((strcmp(s, "pending") == 0 || strcmp(s, "ready") == 0) &&
        json_num(order, "expires", 0) <= now) {
        return "invalid";
    }
    return s;
}

cJSON *
order_render(const struct app *app, const cJSON *order, long long now)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *authzs;
    const cJSON *a;
    const cJSON *err;
    char url[HTTP_MAX_URL];
    char ts[TIME_RFC3339_LEN];
    const char *status = order_status_now(order, now);
    const char *id = json_str(order, "id", "");

    if (out == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(out, "status", status);
    time_rfc3339(json_num(order, "expires", 0), ts, sizeof(ts));
    cJSON_AddStringToObject(out, "expires", ts);
    cJSON_AddItemToObject(
        out, "identifiers",
        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(order,
                                                         "identifiers"),
                        1));
    if (json_num(order, "notBefore", 0) != 0) {
        time_rfc3339(json_num(order, "notBefore", 0), ts, sizeof(ts));
        cJSON_AddStringToObject(out, "notBefore", ts);
    }
    if (json_num(order, "notAfter", 0) != 0) {
        time_rfc3339(json_num(order, "notAfter", 0), ts, sizeof(ts));
        cJSON_AddStringToObject(out, "notAfter", ts);
    }
    authzs = cJSON_AddArrayToObject(out, "authorizations");
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(order, "authzs")) {
        if (cJSON_IsString(a)) {
            app_url(app, url, sizeof(url), PATH_AUTHZ, a->valuestring);
            cJSON_AddItemToArray(authzs, cJSON_CreateString(url));
        }
    }
    snprintf(url, sizeof(url), "%s%s%s/finalize", app->base, PATH_ORDER, id);
    cJSON_AddStringToObject(out, "finalize", url);
    if (strcmp(status, "valid") == 0) {
        app_url(app, url, sizeof(url), PATH_CERT, json_str(order, "cert", ""));
        cJSON_AddStringToObject(out, "certificate", url);
    }
    err = cJSON_GetObjectItemCaseSensitive(order, "error");
    if (err != NULL && strcmp(status, "invalid") == 0) {
        cJSON_AddItemToObject(out, "error", cJSON_Duplicate(err, 1));
    }
    return out;
}

static ap_err
respond_order(struct app *app, const cJSON *order, int status,
              struct acme_resp *resp)
{
    cJSON *view = order_render(app, order, time_now());
    char url[HTTP_MAX_URL];
    ap_err rc;

    if (view == NULL) {
        return AP_ENOMEM;
    }
    rc = acme_resp_json(resp, status, view);
    cJSON_Delete(view);
    app_url(app, url, sizeof(url), PATH_ORDER, json_str(order, "id", ""));
    acme_resp_location(resp, url);
    /* Clients poll a processing order; tell them when (RFC 8555 §7.4). */
    if (strcmp(order_status_now(order, time_now()), "processing") == 0) {
        resp->retry_after = 1;
    }
    return rc;
}

ap_err
order_update_from_authz(struct store_txn *txn, const char *order_id)
{
    cJSON *order = NULL;
    const cJSON *a;
    bool all_valid = true;
    bool any_invalid = false;
    cJSON *err = NULL;
    ap_err rc;

    rc = store_get_json(txn, STORE_ORDERS, order_id, &order);
    if (rc != AP_OK) {
        return rc;
    }
    if (strcmp(json_str(order, "status", ""), "pending") != 0) {
        cJSON_Delete(order);
        return AP_OK;
    }
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(order, "authzs")) {
        cJSON *authz = NULL;
        const char *s;

        rc = store_get_json(txn, STORE_AUTHZS, a->valuestring, &authz);
        if (rc != AP_OK) {
            cJSON_Delete(order);
            return rc;
        }
        s = json_str(authz, "status", "");
        if (strcmp(s, "valid") != 0) {
            all_valid = false;
        }
        if (strcmp(s, "invalid") == 0 || strcmp(s, "deactivated") == 0 ||
            strcmp(s, "revoked") == 0) {
            const cJSON *c;

            any_invalid = true;
            /* The order's error names the failed challenge's problem. */
            cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                                      authz, "challenges")) {
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(c, "error");

                if (e != NULL && err == NULL) {
                    err = cJSON_Duplicate(e, 1);
                }
            }
        }
        cJSON_Delete(authz);
    }
    if (any_invalid) {
        rc = json_set_str(order, "status", "invalid");
        if (rc == AP_OK) {
            cJSON_DeleteItemFromObjectCaseSensitive(order, "error");
            cJSON_AddItemToObject(
                order, "error",
                err ? err
                    : problem_object(PROB_UNAUTHORIZED,
                                     "an authorization of this order is "
                                     "not valid"));
            err = NULL;
        }
    } else if (all_valid) {
        rc = json_set_str(order, "status", "ready");
    } else {
        cJSON_Delete(order);
        return AP_OK;
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_ORDERS, order_id, order, false);
    }
    cJSON_Delete(err);
    cJSON_Delete(order);
    return rc;
}

static ap_err
parse_validity(const cJSON *payload, const struct app *app,
               struct acme_resp *resp, long long *nb, long long *na)
{
    const char *s = NULL;
    long long now = time_now();
    long long max = (long long)app->cfg->acme.cert_days * 86400;

    *nb = 0;
    *na = 0;
    if (json_get_string(payload, "notBefore", 64, &s) == AP_EPARSE ||
        (s != NULL && time_parse_rfc3339(s, nb) != AP_OK)) {
        problem_set(resp, PROB_MALFORMED, "notBefore is not an RFC 3339 date");
        return AP_OK;
    }
    s = NULL;
    if (json_get_string(payload, "notAfter", 64, &s) == AP_EPARSE ||
        (s != NULL && time_parse_rfc3339(s, na) != AP_OK)) {
        problem_set(resp, PROB_MALFORMED, "notAfter is not an RFC 3339 date");
        return AP_OK;
    }
    if (*nb != 0 && (*nb < now - 86400 || *nb > now + 30 * 86400)) {
        problem_set(resp, PROB_MALFORMED,
                    "notBefore must be within a day before and 30 days "
                    "after now");
        return AP_OK;
    }
    if (*na != 0 && (*na <= (*nb ? *nb : now) ||
                     *na - (*nb ? *nb : now) > max)) {
        problem_set(resp, PROB_MALFORMED,
                    "notAfter must be after notBefore and within %u days",
                    app->cfg->acme.cert_days);
        return AP_OK;
    }
    return AP_OK;
}

ap_err
order_new(struct app *app, const struct acme_req *req, const char *id,
          struct acme_resp *resp)
{
    struct jws_msg msg;
    struct store_txn *txn = NULL;
    cJSON *idents = NULL;
    cJSON *order = NULL;
    cJSON *authz_ids;
    const cJSON *ident;
    char order_id[ID_LEN + 1];
    char key[STORE_MAX_KEY];
    long long now = time_now();
    long long expires = now + app->cfg->acme.order_ttl_sec;
    long long nb = 0;
    long long na = 0;
    struct ident_policy pol = { .single_label_names =
                                    app->cfg->acme.single_label_names };
    ap_err rc;

    (void)id;
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    if (msg.post_as_get) {
        problem_set(resp, PROB_MALFORMED, "newOrder needs a payload");
        goto out;
    }
    rc = ident_parse_order(msg.payload, &pol, resp, &idents);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    rc = parse_validity(msg.payload, app, resp, &nb, &na);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    rc = id_new(order_id, sizeof(order_id));
    if (rc != AP_OK) {
        goto out;
    }
    order = cJSON_CreateObject();
    cJSON_AddNumberToObject(order, "v", 1);
    cJSON_AddStringToObject(order, "id", order_id);
    cJSON_AddStringToObject(order, "account", msg.account_id);
    cJSON_AddStringToObject(order, "status", "pending");
    cJSON_AddNumberToObject(order, "created", (double)now);
    cJSON_AddNumberToObject(order, "expires", (double)expires);
    cJSON_AddNumberToObject(order, "notBefore", (double)nb);
    cJSON_AddNumberToObject(order, "notAfter", (double)na);
    cJSON_AddItemToObject(order, "identifiers", idents);
    idents = NULL;
    authz_ids = cJSON_AddArrayToObject(order, "authzs");
    if (authz_ids == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        goto out;
    }
    cJSON_ArrayForEach(ident,
                       cJSON_GetObjectItemCaseSensitive(order, "identifiers")) {
        char authz_id[ID_LEN + 1];
        cJSON *authz = NULL;

        rc = id_new(authz_id, sizeof(authz_id));
        if (rc == AP_OK) {
            rc = challenge_new_authz(app, authz_id, msg.account_id, order_id,
                                     ident, expires, &authz);
        }
        if (rc != AP_OK) {
            goto out;
        }
        rc = store_put_json(txn, STORE_AUTHZS, authz_id, authz, true);
        cJSON_Delete(authz);
        if (rc != AP_OK) {
            goto out;
        }
        cJSON_AddItemToArray(authz_ids, cJSON_CreateString(authz_id));
    }
    rc = store_put_json(txn, STORE_ORDERS, order_id, order, true);
    if (rc != AP_OK) {
        goto out;
    }
    /* Index key sorts an account's orders by creation time. */
    snprintf(key, sizeof(key), "%s/%012lld/%s", msg.account_id, now,
             order_id);
    rc = store_put(txn, STORE_ACCOUNT_ORDERS, key, "", 0, true);
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_commit(txn);
    txn = NULL;
    if (rc != AP_OK) {
        goto out;
    }
    log_info("order", "created order=%s account=%s identifiers=%d", order_id,
             msg.account_id,
             cJSON_GetArraySize(
                 cJSON_GetObjectItemCaseSensitive(order, "identifiers")));
    rc = respond_order(app, order, 201, resp);
out:
    store_abort(txn);
    cJSON_Delete(idents);
    cJSON_Delete(order);
    jws_msg_fini(&msg);
    return rc;
}

static bool
csr_key_ok(const struct crypto_csr *csr, struct acme_resp *resp)
{
    if (csr->key_type == CRYPTO_KEY_RSA && csr->key_bits >= 2048 &&
        csr->key_bits <= 8192) {
        return true;
    }
    if (csr->key_type == CRYPTO_KEY_EC && csr->curve != NULL &&
        (strcmp(csr->curve, "P-256") == 0 ||
         strcmp(csr->curve, "P-384") == 0)) {
        return true;
    }
    problem_set(resp, PROB_BAD_PUBLIC_KEY,
                "CSR key must be RSA 2048-8192 bits or EC P-256/P-384");
    return false;
}

/* Waits (bounded by wait_ms) until the order leaves processing. */
static ap_err
wait_order(struct app *app, const char *order_id, cJSON **order)
{
    long long deadline = time_mono_ms() + app->cfg->acme.wait_ms;
    unsigned long long gen = jobs_generation(app->jobs);
    ap_err rc = AP_OK;

    while (strcmp(json_str(*order, "status", ""), "processing") == 0 &&
           time_mono_ms() < deadline) {
        struct store_txn *txn = NULL;
        cJSON *fresh = NULL;

        gen = jobs_wait(app->jobs, gen, deadline);
        rc = store_begin(app->st, false, &txn);
        if (rc != AP_OK) {
            break;
        }
        rc = store_get_json(txn, STORE_ORDERS, order_id, &fresh);
        store_abort(txn);
        if (rc != AP_OK) {
            break;
        }
        cJSON_Delete(*order);
        *order = fresh;
    }
    return rc;
}

static ap_err
finalize(struct app *app, const struct jws_msg *msg, cJSON *order,
         struct acme_resp *resp)
{
    struct store_txn *txn = NULL;
    struct crypto_csr *csr = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    const char *csr_b64 = NULL;
    const char *order_id = json_str(order, "id", "");
    cJSON *fresh = NULL;
    char job_id[JOB_MAX_ID];
    char errbuf[160];
    struct ident_policy pol = { .single_label_names =
                                    app->cfg->acme.single_label_names };
    ap_err rc = AP_OK;

    if (msg->post_as_get) {
        problem_set(resp, PROB_MALFORMED, "finalize needs a payload");
        goto out;
    }
    if (strcmp(order_status_now(order, time_now()), "ready") != 0) {
        problem_set(resp, PROB_ORDER_NOT_READY, "order is %s, not ready",
                    order_status_now(order, time_now()));
        goto out;
    }
    if (json_get_string(msg->payload, "csr", CRYPTO_CSR_MAX_DER * 2,
                        &csr_b64) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "finalize needs a string csr");
        goto out;
    }
    if (b64url_decode_alloc(csr_b64, strlen(csr_b64), &der, &der_len) !=
        AP_OK) {
        problem_set(resp, PROB_BAD_CSR, "csr is not unpadded base64url");
        goto out;
    }
    if (crypto_csr_parse(der, der_len, &csr, errbuf, sizeof(errbuf)) !=
        AP_OK) {
        problem_set(resp, PROB_BAD_CSR, "CSR refused: %s", errbuf);
        goto out;
    }
    if (!ident_csr_matches(csr,
                           cJSON_GetObjectItemCaseSensitive(order,
                                                            "identifiers"),
                           &pol, resp) ||
        !csr_key_ok(csr, resp)) {
        goto out;
    }
    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_get_json(txn, STORE_ORDERS, order_id, &fresh);
    if (rc != AP_OK) {
        goto out;
    }
    /* Another finalize may have won the race since the read above. */
    if (strcmp(order_status_now(fresh, time_now()), "ready") != 0) {
        problem_set(resp, PROB_ORDER_NOT_READY, "order is %s, not ready",
                    order_status_now(fresh, time_now()));
        goto out;
    }
    rc = json_set_str(fresh, "status", "processing");
    if (rc == AP_OK) {
        rc = json_set_str(fresh, "csr", csr_b64);
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_ORDERS, order_id, fresh, false);
    }
    if (rc == AP_OK) {
        rc = jobs_put(txn, JOB_ISSUE, order_id, 0, 0, job_id, sizeof(job_id));
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_commit(txn);
    txn = NULL;
    if (rc != AP_OK) {
        goto out;
    }
    log_info("order", "finalize order=%s account=%s names=%zu", order_id,
             msg->account_id, csr->n_dns_names);
    jobs_kick(app->jobs, job_id, 0);
    rc = wait_order(app, order_id, &fresh);
    if (rc == AP_OK) {
        rc = respond_order(app, fresh, 200, resp);
    }
out:
    store_abort(txn);
    cJSON_Delete(fresh);
    crypto_csr_free(csr);
    free(der);
    return rc;
}

ap_err
order_post(struct app *app, const struct acme_req *req, const char *id,
           struct acme_resp *resp)
{
    struct jws_msg msg;
    cJSON *order = NULL;
    char order_id[JWS_MAX_ID + 1];
    const char *slash = strchr(id, '/');
    bool is_finalize = false;
    ap_err rc;

    if (slash != NULL) {
        if (strcmp(slash, "/finalize") != 0 ||
            (size_t)(slash - id) > JWS_MAX_ID) {
            problem_set(resp, PROB_NOT_FOUND, "no such resource");
            return AP_OK;
        }
        is_finalize = true;
        snprintf(order_id, sizeof(order_id), "%.*s", (int)(slash - id), id);
    } else {
        snprintf(order_id, sizeof(order_id), "%s", id);
    }
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    rc = resource_load_owned(app, STORE_ORDERS, order_id, msg.account_id,
                             resp, &order);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (is_finalize) {
        rc = finalize(app, &msg, order, resp);
    } else if (!msg.post_as_get) {
        problem_set(resp, PROB_MALFORMED,
                    "an order is read with POST-as-GET (empty payload)");
    } else {
        rc = respond_order(app, order, 200, resp);
    }
out:
    cJSON_Delete(order);
    jws_msg_fini(&msg);
    return rc;
}
