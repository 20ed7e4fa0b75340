/* proxy/order.c: newOrder, the order resource and finalize (RFC 8555
 * §7.1.3, §7.4), and the order status rules of §7.1.6. */
#include "proxy/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/jwk.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/x509.h"
#include "proxy/eab.h"
#include "proxy/ident.h"
#include "proxy/issuer.h"
#include "proxy/jobs.h"
#include "proxy/jws.h"
#include "proxy/audit.h"
#include "proxy/policy.h"
#include "proxy/problem.h"
#include "proxy/renewal.h"
#include "proxy/metrics.h"

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
    if (json_str(order, "profile", NULL) != NULL) {
        cJSON_AddStringToObject(out, "profile", json_str(order, "profile", ""));
    }
    if (json_str(order, "replaces", NULL) != NULL) {
        cJSON_AddStringToObject(out, "replaces",
                                json_str(order, "replaces", ""));
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
    /* Clients poll a processing order; tell them when (RFC 8555 §7.4):
     * soon while the PKI works on it, at the poll interval once the PKI
     * has queued it for approval (a person may take hours). */
    if (strcmp(order_status_now(order, time_now()), "processing") == 0) {
        resp->retry_after = json_str(order, "pkiRef", NULL) != NULL
                                ? issuer_poll_interval(app->issuer)
                                : 1;
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
        metrics_order("invalid");
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
        metrics_order("ready");
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
parse_validity(const cJSON *payload, unsigned days, struct acme_resp *resp,
               long long *nb, long long *na)
{
    const char *s = NULL;
    long long now = time_now();
    long long max = (long long)days * 86400;

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
                    days);
        return AP_OK;
    }
    return AP_OK;
}

/* The profile an order asks for (draft-ietf-acme-profiles), or the
 * team's or the server's default. Sets a problem when refused. */
static void
pick_profile(const struct app *app, const struct policy *pol,
             const cJSON *payload, struct acme_resp *resp,
             const struct config_profile **out)
{
    const char *name = NULL;
    ap_err rc = json_get_string(payload, "profile", 64, &name);

    *out = NULL;
    if (rc == AP_EPARSE) {
        problem_set(resp, PROB_MALFORMED, "profile must be a string");
        return;
    }
    (void)policy_pick_profile(pol, app->cfg, name, out, resp);
}

/* The policy of the signing account: global, narrowed by its team's EAB
 * key when it has one. Sets unauthorized when that key was revoked. */
static ap_err
account_policy(struct app *app, const cJSON *account, struct policy *out,
               struct acme_resp *resp)
{
    const char *kid = json_str(account, "eab", NULL);
    struct store_txn *txn = NULL;
    cJSON *eab = NULL;
    ap_err rc = AP_OK;

    if (kid != NULL) {
        rc = store_begin(app->st, false, &txn);
        if (rc == AP_OK) {
            rc = store_get_json(txn, STORE_EAB, kid, &eab);
        }
        store_abort(txn);
        if (rc != AP_OK) {
            return rc;
        }
    }
    policy_for_account(app->policy, eab, out, resp);
    eab_record_free(eab);
    return AP_OK;
}

struct recent_count {
    struct store_txn *txn;
    long long now;
    unsigned pending_authzs;  /* pending authorizations of recent orders */
    unsigned processing;      /* orders in the PKI's hands */
};

static bool
count_recent(void *arg, const char *key, const char *val, size_t len)
{
    struct recent_count *c = arg;
    const char *slash = strrchr(key, '/');
    cJSON *order = NULL;
    const cJSON *aid;
    const char *st;

    (void)val;
    (void)len;
    if (slash == NULL ||
        store_get_json(c->txn, STORE_ORDERS, slash + 1, &order) != AP_OK) {
        return true;
    }
    st = order_status_now(order, c->now);
    if (strcmp(st, "processing") == 0) {
        c->processing++;
    } else if (strcmp(st, "pending") == 0) {
        cJSON_ArrayForEach(aid, cJSON_GetObjectItemCaseSensitive(order,
                                                                 "authzs")) {
            cJSON *authz = NULL;

            if (store_get_json(c->txn, STORE_AUTHZS, aid->valuestring,
                               &authz) == AP_OK &&
                strcmp(authz_status_now(authz, c->now), "pending") == 0) {
                c->pending_authzs++;
            }
            cJSON_Delete(authz);
        }
    }
    cJSON_Delete(order);
    return true;
}

/* Counts the account's pending authorizations and processing orders among
 * the orders young enough to still be pending (the index sorts by time),
 * in txn: the write transaction of the change the count limits, so no
 * other request can slip in between the count and the change. */
static ap_err
count_account_work(struct store_txn *txn, const struct app *app,
                   const char *account, struct recent_count *c)
{
    char prefix[JWS_MAX_ID + 2];
    char after[JWS_MAX_ID + 32];

    memset(c, 0, sizeof(*c));
    c->txn = txn;
    c->now = time_now();
    snprintf(prefix, sizeof(prefix), "%s/", account);
    snprintf(after, sizeof(after), "%s/%012lld", account,
             c->now - (long long)app->cfg->acme.order_ttl_sec);
    return store_scan(txn, STORE_ACCOUNT_ORDERS, prefix, after,
                      count_recent, c);
}

/* [ratelimit] checks of newOrder counted from the store, in its write
 * transaction, then the hourly order count. */
static ap_err
order_store_limits(struct store_txn *txn, struct app *app,
                   const char *account, const cJSON *idents,
                   struct acme_resp *resp)
{
    const struct config *cfg = app->cfg;
    struct recent_count c;
    ap_err rc;

    if (cfg->ratelimit.pending_authz_per_account > 0) {
        rc = count_account_work(txn, app, account, &c);
        if (rc != AP_OK) {
            return rc;
        }
        if (c.pending_authzs + (unsigned)cJSON_GetArraySize(idents) >
            cfg->ratelimit.pending_authz_per_account) {
            problem_set(resp, PROB_RATE_LIMITED,
                        "rate limit [ratelimit] pending_authz_per_account = "
                        "%u reached (%u pending)",
                        cfg->ratelimit.pending_authz_per_account,
                        c.pending_authzs);
            resp->retry_after = 60;
            return AP_OK;
        }
    }
    (void)rate_ok(app, resp, "order:", account,
                  cfg->ratelimit.orders_per_account_hour,
                  "orders_per_account_hour", true);
    return AP_OK;
}

/* [ratelimit] checks of newOrder that need no store, before anything is
 * written. */
static ap_err
order_limits(struct app *app, const char *account, const cJSON *idents,
             struct acme_resp *resp)
{
    const struct config *cfg = app->cfg;
    const cJSON *it;

    cJSON_ArrayForEach(it, idents) {
        const char *v = json_str(it, "value", "");

        /* Failures are counted per authorization identifier: a wildcard's
         * is its base name. */
        if (strncmp(v, "*.", 2) == 0) {
            v += 2;
        }
        if (!rate_ok(app, resp, "fail:", v,
                     cfg->ratelimit.failed_validations_per_identifier_hour,
                     "failed_validations_per_identifier_hour", false)) {
            return AP_OK;
        }
    }
    (void)account;
    return AP_OK;
}

/* RFC 9773 §5: "replaces" names a certificate of this account that shares
 * an identifier with the order and was not replaced yet. On success
 * *cert_id is the replaced certificate's record id (caller frees). */
static ap_err
check_replaces(struct app *app, const cJSON *payload, const char *account,
               const cJSON *idents, struct acme_resp *resp, char **cert_id)
{
    struct store_txn *txn = NULL;
    struct x509_cert *leaf = NULL;
    cJSON *cert = NULL;
    cJSON *old = NULL;
    const char *certid = NULL;
    const cJSON *a;
    const cJSON *b;
    bool shared = false;
    ap_err rc;

    *cert_id = NULL;
    rc = json_get_string(payload, "replaces", 512, &certid);
    if (rc == AP_ENOTFOUND) {
        return AP_OK;
    }
    if (rc != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "replaces must be a string");
        return AP_OK;
    }
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = renewal_find_cert(txn, certid, &cert, &leaf);
    }
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, json_str(cert, "order", ""),
                            &old);
    }
    store_abort(txn);
    if (rc == AP_EPARSE || rc == AP_ENOTFOUND) {
        problem_set(resp, PROB_MALFORMED,
                    "replaces names no certificate of this server");
        rc = AP_OK;
        goto out;
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (strcmp(json_str(cert, "account", ""), account) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "replaces names another account's certificate");
        goto out;
    }
    cJSON_ArrayForEach(a, idents) {
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(old,
                                                               "identifiers")) {
            shared = shared || (strcmp(json_str(a, "type", ""),
                                       json_str(b, "type", "")) == 0 &&
                                strcmp(json_str(a, "value", ""),
                                       json_str(b, "value", "")) == 0);
        }
    }
    if (!shared) {
        problem_set(resp, PROB_MALFORMED,
                    "the replaced certificate shares no identifier with "
                    "this order");
        goto out;
    }
    if (json_str(cert, "replacedBy", NULL) != NULL) {
        problem_set(resp, PROB_ALREADY_REPLACED,
                    "that certificate was already replaced by order %s",
                    json_str(cert, "replacedBy", ""));
        goto out;
    }
    *cert_id = strdup(json_str(cert, "id", ""));
    if (*cert_id == NULL) {
        rc = AP_ENOMEM;
    }
out:
    cJSON_Delete(cert);
    cJSON_Delete(old);
    x509_cert_free(leaf);
    return rc;
}

/* The index key of an account's newest authorization for an identifier. */
static void
authz_index_key(char *out, size_t len, const char *account,
                const cJSON *ident)
{
    snprintf(out, len, "%s/%s/%s", account, json_str(ident, "type", ""),
             json_str(ident, "value", ""));
}

/* RFC 8555 §7.1.3: a valid authorization of the same account for the same
 * identifier, not expiring within a day, is reused. *reused is its id. */
static ap_err
find_reusable_authz(struct store_txn *txn, const char *account,
                    const cJSON *ident, long long now, char *reused,
                    size_t len)
{
    char key[STORE_MAX_KEY];
    char *authz_id = NULL;
    cJSON *authz = NULL;
    ap_err rc;

    reused[0] = '\0';
    authz_index_key(key, sizeof(key), account, ident);
    rc = store_get(txn, STORE_ACCOUNT_AUTHZS, key, &authz_id, NULL);
    if (rc == AP_ENOTFOUND) {
        return AP_OK;
    }
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_AUTHZS, authz_id, &authz);
    }
    if (rc == AP_OK &&
        strcmp(authz_status_now(authz, now + 86400), "valid") == 0) {
        snprintf(reused, len, "%s", authz_id);
    }
    free(authz_id);
    cJSON_Delete(authz);
    return rc == AP_ENOTFOUND ? AP_OK : rc;
}

ap_err
order_new(struct app *app, const struct acme_req *req, const char *id,
          struct acme_resp *resp)
{
    struct jws_msg msg;
    struct store_txn *txn = NULL;
    const struct config_profile *profile = NULL;
    cJSON *idents = NULL;
    cJSON *order = NULL;
    cJSON *authz_ids;
    const cJSON *ident;
    char *replaces = NULL;
    struct policy *apol = NULL;
    char order_id[ID_LEN + 1];
    char key[STORE_MAX_KEY];
    long long now = time_now();
    long long expires = now + app->cfg->acme.order_ttl_sec;
    long long nb = 0;
    long long na = 0;
    bool all_valid = true;
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
    apol = calloc(1, sizeof(*apol));
    if (apol == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = account_policy(app, msg.account, apol, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    rc = ident_parse_order(msg.payload, &pol, resp, &idents);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (!policy_check_identifiers(apol, idents, resp)) {
        goto out;
    }
    pick_profile(app, apol, msg.payload, resp, &profile);
    if (resp->status != 0) {
        goto out;
    }
    rc = order_limits(app, msg.account_id, idents, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    rc = parse_validity(msg.payload,
                        policy_max_days(apol, profile ? profile->validity_days
                                                      : app->cfg->acme
                                                            .cert_days),
                        resp, &nb, &na);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    rc = check_replaces(app, msg.payload, msg.account_id, idents, resp,
                        &replaces);
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
    if (profile != NULL) {
        cJSON_AddStringToObject(order, "profile", profile->name);
        cJSON_AddStringToObject(order, "template", profile->template);
        cJSON_AddNumberToObject(order, "validityDays",
                                policy_max_days(apol,
                                                profile->validity_days));
    }
    if (replaces != NULL) {
        cJSON_AddStringToObject(order, "replaces",
                                json_str(msg.payload, "replaces", ""));
        cJSON_AddStringToObject(order, "replacesCert", replaces);
    }
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
    rc = order_store_limits(txn, app, msg.account_id,
                            cJSON_GetObjectItemCaseSensitive(order,
                                                             "identifiers"),
                            resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    cJSON_ArrayForEach(ident,
                       cJSON_GetObjectItemCaseSensitive(order, "identifiers")) {
        char authz_id[ID_LEN + 1];
        cJSON *authz = NULL;

        rc = find_reusable_authz(txn, msg.account_id, ident, now, authz_id,
                                 sizeof(authz_id));
        if (rc != AP_OK) {
            goto out;
        }
        if (authz_id[0] != '\0') {
            cJSON_AddItemToArray(authz_ids, cJSON_CreateString(authz_id));
            continue;
        }
        all_valid = false;
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
        authz_index_key(key, sizeof(key), msg.account_id, ident);
        if (rc == AP_OK) {
            rc = store_put(txn, STORE_ACCOUNT_AUTHZS, key, authz_id,
                           strlen(authz_id), false);
        }
        if (rc != AP_OK) {
            goto out;
        }
        cJSON_AddItemToArray(authz_ids, cJSON_CreateString(authz_id));
    }
    /* Every authorization reused and valid: nothing left to prove. */
    if (all_valid) {
        rc = json_set_str(order, "status", "ready");
        if (rc != AP_OK) {
            goto out;
        }
    }
    rc = store_put_json(txn, STORE_ORDERS, order_id, order, true);
    if (rc == AP_OK) {
        cJSON *f = cJSON_CreateObject();

        cJSON_AddStringToObject(f, "order", order_id);
        cJSON_AddStringToObject(f, "account", msg.account_id);
        cJSON_AddItemToObject(
            f, "identifiers",
            cJSON_Duplicate(
                cJSON_GetObjectItemCaseSensitive(order, "identifiers"), 1));
        if (profile != NULL) {
            cJSON_AddStringToObject(f, "profile", profile->name);
        }
        if (apol->has_team) {
            cJSON_AddStringToObject(f, "team", apol->team_label);
        }
        cJSON_AddStringToObject(f, "ip", req->remote_addr);
        rc = audit_event(app->audit, txn, "order.created", req->request_id,
                         f);
    }
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
    metrics_order(all_valid ? "ready" : "pending");
    log_info("order", "created order=%s account=%s identifiers=%d%s%s",
             order_id, msg.account_id,
             cJSON_GetArraySize(
                 cJSON_GetObjectItemCaseSensitive(order, "identifiers")),
             profile ? " profile=" : "", profile ? profile->name : "");
    rc = respond_order(app, order, 201, resp);
out:
    store_abort(txn);
    free(apol);
    free(replaces);
    cJSON_Delete(idents);
    cJSON_Delete(order);
    jws_msg_fini(&msg);
    return rc;
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

/* A reused authorization may have been deactivated or may have expired
 * since the order became ready: every one must still be valid. */
static ap_err
authzs_still_valid(struct store_txn *txn, const cJSON *order,
                   struct acme_resp *resp)
{
    const cJSON *aid;
    long long now = time_now();

    cJSON_ArrayForEach(aid, cJSON_GetObjectItemCaseSensitive(order,
                                                             "authzs")) {
        cJSON *authz = NULL;
        ap_err rc = store_get_json(txn, STORE_AUTHZS, aid->valuestring,
                                   &authz);

        if (rc != AP_OK) {
            return rc;
        }
        if (strcmp(authz_status_now(authz, now), "valid") != 0) {
            problem_set(resp, PROB_ORDER_NOT_READY,
                        "authorization %s is %s", aid->valuestring,
                        authz_status_now(authz, now));
            cJSON_Delete(authz);
            return AP_OK;
        }
        cJSON_Delete(authz);
    }
    return AP_OK;
}

/* RFC 9773 §5: finalizing an order that replaces a certificate marks that
 * certificate replaced; only one finalized order may do so. */
static ap_err
mark_replaced(struct store_txn *txn, const cJSON *order,
              struct acme_resp *resp)
{
    const char *cert_id = json_str(order, "replacesCert", NULL);
    const char *by;
    cJSON *cert = NULL;
    ap_err rc;

    if (cert_id == NULL) {
        return AP_OK;
    }
    rc = store_get_json(txn, STORE_CERTS, cert_id, &cert);
    if (rc != AP_OK) {
        return rc;
    }
    by = json_str(cert, "replacedBy", NULL);
    if (by != NULL && strcmp(by, json_str(order, "id", "")) != 0) {
        problem_set(resp, PROB_ALREADY_REPLACED,
                    "that certificate was already replaced by order %s", by);
    } else {
        rc = json_set_str(cert, "replacedBy", json_str(order, "id", ""));
        if (rc == AP_OK) {
            rc = store_put_json(txn, STORE_CERTS, cert_id, cert, false);
        }
    }
    cJSON_Delete(cert);
    return rc;
}

static ap_err
finalize(struct app *app, const struct acme_req *req,
         const struct jws_msg *msg, cJSON *order, struct acme_resp *resp)
{
    struct policy *apol = NULL;
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
    apol = calloc(1, sizeof(*apol));
    if (apol == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = account_policy(app, msg->account, apol, resp);
    if (rc != AP_OK || resp->status != 0) {
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
        !policy_check_key(apol, csr, msg->key, resp)) {
        goto out;
    }
    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        goto out;
    }
    if (app->cfg->ratelimit.inflight_per_account > 0) {
        struct recent_count c;

        rc = count_account_work(txn, app, msg->account_id, &c);
        if (rc != AP_OK) {
            goto out;
        }
        if (c.processing >= app->cfg->ratelimit.inflight_per_account) {
            problem_set(resp, PROB_RATE_LIMITED,
                        "rate limit [ratelimit] inflight_per_account = %u "
                        "reached: %u orders are with the PKI",
                        app->cfg->ratelimit.inflight_per_account,
                        c.processing);
            resp->retry_after = 5;
            goto out;
        }
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
    rc = authzs_still_valid(txn, fresh, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    rc = mark_replaced(txn, fresh, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    rc = json_set_str(fresh, "status", "processing");
    if (rc == AP_OK) {
        rc = json_set_str(fresh, "csr", csr_b64);
    }
    /* A profile's lifetime applies when the order named no notAfter. */
    if (rc == AP_OK && json_num(fresh, "notAfter", 0) == 0 &&
        json_num(fresh, "validityDays", 0) > 0) {
        long long start = json_num(fresh, "notBefore", 0);

        rc = json_set_num(fresh, "notAfter",
                          (start ? start : time_now()) +
                              json_num(fresh, "validityDays", 0) * 86400);
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_ORDERS, order_id, fresh, false);
    }
    if (rc == AP_OK) {
        rc = jobs_put(txn, JOB_ISSUE, order_id, 0, 0, job_id, sizeof(job_id));
    }
    if (rc == AP_OK) {
        cJSON *f = cJSON_CreateObject();

        cJSON_AddStringToObject(f, "order", order_id);
        cJSON_AddStringToObject(f, "account", msg->account_id);
        cJSON_AddStringToObject(f, "key", csr->key_type == CRYPTO_KEY_RSA
                                              ? "RSA"
                                              : csr->curve ? csr->curve : "EC");
        cJSON_AddNumberToObject(f, "key_bits", csr->key_bits);
        if (json_str(fresh, "profile", NULL) != NULL) {
            cJSON_AddStringToObject(f, "profile",
                                    json_str(fresh, "profile", ""));
        }
        rc = audit_event(app->audit, txn, "order.finalized", req->request_id,
                         f);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_commit(txn);
    txn = NULL;
    if (rc != AP_OK) {
        goto out;
    }
    metrics_order("processing");
    log_info("order", "finalize order=%s account=%s names=%zu", order_id,
             msg->account_id, csr->n_dns_names);
    jobs_kick(app->jobs, job_id, 0);
    rc = wait_order(app, order_id, &fresh);
    if (rc == AP_OK) {
        rc = respond_order(app, fresh, 200, resp);
    }
out:
    free(apol);
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
        rc = finalize(app, req, &msg, order, resp);
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
