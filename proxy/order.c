/* proxy/order.c: newOrder, the order resource and finalize (order.h). */
#include "proxy/order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/csr.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/x509.h"
#include "proxy/audit.h"
#include "proxy/authz.h"
#include "proxy/eab.h"
#include "proxy/ident.h"
#include "proxy/issue_check.h"
#include "proxy/issuer.h"
#include "proxy/jobs.h"
#include "proxy/jws.h"
#include "proxy/metrics.h"
#include "proxy/policy.h"
#include "proxy/problem.h"
#include "proxy/rec_account.h"
#include "proxy/rec_cert.h"
#include "proxy/rec_order.h"
#include "proxy/renewal.h"
#include "proxy/resource.h"
#include "proxy/status.h"
#include "proxy/team.h"

/* ---- the client's view --------------------------------------------------- */

static cJSON *
order_render(const struct app *app, const struct order *o, long long now)
{
    struct rec_writer w = { AP_OK };
    cJSON *out = rec_write_object(&w);
    cJSON *authzs;
    char url[HTTP_MAX_URL];
    char ts[TIME_RFC3339_LEN];
    enum order_status status = order_status_at(o, now);

    rec_put_str(&w, out, "status", order_status_name(status));
    time_rfc3339(o->expires, ts, sizeof(ts));
    rec_put_str(&w, out, "expires", ts);
    rec_put_item(&w, out, "identifiers",
                 rec_idents_json(o->idents, o->n_idents));
    if (o->not_before != 0) {
        time_rfc3339(o->not_before, ts, sizeof(ts));
        rec_put_str(&w, out, "notBefore", ts);
    }
    if (o->not_after != 0) {
        time_rfc3339(o->not_after, ts, sizeof(ts));
        rec_put_str(&w, out, "notAfter", ts);
    }
    authzs = rec_put_array(&w, out, "authorizations");
    for (size_t i = 0; i < o->n_authzs; i++) {
        app_url(app, url, sizeof(url), PATH_AUTHZ, o->authzs[i]);
        rec_push_str(&w, authzs, url);
    }
    rec_put_str(&w, out, "profile", o->profile);
    rec_put_str(&w, out, "replaces", o->replaces);
    snprintf(url, sizeof(url), "%s%s%s/finalize", app->base, PATH_ORDER,
             o->id);
    rec_put_str(&w, out, "finalize", url);
    if (status == ORDER_VALID) {
        app_url(app, url, sizeof(url), PATH_CERT, o->cert);
        rec_put_str(&w, out, "certificate", url);
    }
    if (status == ORDER_INVALID) {
        rec_put_problem(&w, out, "error", o->error);
    }
    if (w.rc != AP_OK) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static ap_err
respond_order(struct app *app, const struct order *o, int status,
              struct acme_resp *resp)
{
    long long now = time_now();
    cJSON *view = order_render(app, o, now);
    char url[HTTP_MAX_URL];
    ap_err rc;

    if (view == NULL) {
        return AP_ENOMEM;
    }
    rc = acme_resp_json(resp, status, view);
    cJSON_Delete(view);
    app_url(app, url, sizeof(url), PATH_ORDER, o->id);
    acme_resp_location(resp, url);
    /* Clients poll a processing order; tell them when (RFC 8555 §7.4):
     * soon while the PKI works on it, at the poll interval once the PKI
     * has queued it for approval (a person may take hours). */
    if (order_status_at(o, now) == ORDER_PROCESSING) {
        const struct app_pki *pki = app_pki_find(app, o->adapter);

        resp->retry_after = o->pki_ref != NULL
                                ? issuer_poll_interval(pki != NULL
                                                           ? pki->issuer
                                                           : app->issuer)
                                : 1;
    }
    return rc;
}

/* ---- what an account may ask for ------------------------------------------ */

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

/* The policy of the signing account (msg->account, the record jws.c
 * read): global, narrowed by its team's EAB key when it has one. Sets
 * unauthorized when that key was revoked. */
static ap_err
account_policy(struct app *app, const struct jws_msg *msg, struct policy *out,
               struct acme_resp *resp)
{
    struct account acct;
    struct store_txn *txn = NULL;
    cJSON *eab = NULL;
    char why[200];
    ap_err rc;

    policy_clear(out, app->policy);
    rc = rec_account_decode(msg->account, &acct, why, sizeof(why));
    if (rc == AP_ESTORE) {
        rc = rec_bad("accounts", msg->account_id, why);
    }
    if (rc == AP_OK && acct.eab != NULL) {
        rc = store_begin(app->st, false, &txn);
        if (rc == AP_OK) {
            rc = store_get_json(txn, STORE_EAB, acct.eab, &eab);
        }
        store_abort(txn);
    } else if (rc == AP_OK && acct.team != NULL && acct.team[0] != '\0') {
        /* A team of the configuration ([team.NAME]): joined by network or
         * bound by `accounts bind --team`. Gone from the configuration:
         * no policy, no orders (never the global policy instead). */
        const struct config_team *t = config_team_find(app->cfg, acct.team);

        if (t == NULL) {
            policy_clear(out, app->policy);
            problem_set(resp, PROB_UNAUTHORIZED,
                        "this account's team %s is not configured any more: "
                        "ask your PKI team", acct.team);
            goto done;
        }
        rc = team_policy_record(t, &eab);
    }
    if (rc == AP_OK) {
        policy_for_account(app->policy, eab, out, resp);
    }
done:
    eab_record_free(eab);
    rec_account_fini(&acct);
    return rc;
}

/* ---- limits counted from the store ------------------------------------------ */

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
    struct order o;
    enum order_status st;

    (void)val;
    (void)len;
    if (slash == NULL || rec_order_get(c->txn, slash + 1, &o) != AP_OK) {
        return true;
    }
    st = order_status_at(&o, c->now);
    if (st == ORDER_PROCESSING) {
        c->processing++;
    } else if (st == ORDER_PENDING) {
        for (size_t i = 0; i < o.n_authzs; i++) {
            struct authz a;

            if (rec_authz_get(c->txn, o.authzs[i], &a) == AP_OK &&
                authz_status_at(&a, c->now) == AUTHZ_PENDING) {
                c->pending_authzs++;
            }
            rec_authz_fini(&a);
        }
    }
    rec_order_fini(&o);
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
    memset(c, 0, sizeof(*c));
    c->txn = txn;
    c->now = time_now();
    return rec_order_index_scan(txn, account,
                                c->now -
                                    (long long)app->cfg->acme.order_ttl_sec,
                                count_recent, c);
}

/* [ratelimit] checks of newOrder counted from the store, in its write
 * transaction, then the hourly order count. */
static ap_err
order_store_limits(struct store_txn *txn, struct app *app,
                   const char *account, size_t n_idents,
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
        if (c.pending_authzs + (unsigned)n_idents >
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
    {
        bool ok = true;

        return rate_ok_in(app, txn, resp, "order:", account,
                          cfg->ratelimit.orders_per_account_hour,
                          "orders_per_account_hour", true, &ok);
    }
}

/* [ratelimit] checks of newOrder that need no store, before anything is
 * written. */
static void
order_limits(struct app *app, const cJSON *idents, struct acme_resp *resp)
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
            return;
        }
    }
}

/* ---- newOrder ------------------------------------------------------------- */

/* RFC 9773 §5: "replaces" names a certificate of this account that shares
 * an identifier with the order and was not replaced yet. On success
 * *cert_id is the replaced certificate's record id (caller frees). */
static ap_err
check_replaces(struct app *app, const cJSON *payload, const char *account,
               const cJSON *idents, struct acme_resp *resp, char **cert_id)
{
    struct store_txn *txn = NULL;
    struct x509_cert *leaf = NULL;
    struct cert cert;
    struct order old;
    const char *certid = NULL;
    const cJSON *a;
    bool shared = false;
    ap_err rc;

    *cert_id = NULL;
    memset(&cert, 0, sizeof(cert));
    memset(&old, 0, sizeof(old));
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
        rc = rec_order_get(txn, cert.order, &old);
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
    if (strcmp(cert.account, account) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "replaces names another account's certificate");
        goto out;
    }
    cJSON_ArrayForEach(a, idents) {
        for (size_t i = 0; i < old.n_idents; i++) {
            shared = shared ||
                     (strcmp(json_str(a, "type", ""), old.idents[i].type) ==
                          0 &&
                      old.idents[i].value != NULL &&
                      strcmp(json_str(a, "value", ""),
                             old.idents[i].value) == 0);
        }
    }
    if (!shared) {
        problem_set(resp, PROB_MALFORMED,
                    "the replaced certificate shares no identifier with "
                    "this order");
        goto out;
    }
    if (cert.replaced_by[0] != '\0') {
        problem_set(resp, PROB_ALREADY_REPLACED,
                    "that certificate was already replaced by order %s",
                    cert.replaced_by);
        goto out;
    }
    *cert_id = strdup(cert.id);
    if (*cert_id == NULL) {
        rc = AP_ENOMEM;
    }
out:
    rec_cert_fini(&cert);
    rec_order_fini(&old);
    x509_cert_free(leaf);
    return rc;
}

/* The new order's record, before its authorizations: identifiers from
 * idents (ident_parse_order's normal forms). */
static ap_err
order_build(const char *order_id, const char *account, long long now,
            long long expires, long long nb, long long na,
            const struct config_profile *profile, unsigned validity_days,
            const cJSON *payload, const char *replaces, const cJSON *idents,
            struct order *o)
{
    const cJSON *it;
    ap_err rc = AP_OK;

    memset(o, 0, sizeof(*o));
    snprintf(o->id, sizeof(o->id), "%s", order_id);
    snprintf(o->account, sizeof(o->account), "%s", account);
    o->status = ORDER_PENDING;
    o->created = now;
    o->expires = expires;
    o->not_before = nb;
    o->not_after = na;
    if (profile != NULL) {
        rc = rec_set_str(&o->profile, profile->name);
        if (rc == AP_OK) {
            rc = rec_set_str(&o->template_name, profile->template);
        }
        o->validity_days = validity_days;
    }
    if (rc == AP_OK) {
        /* Fixed now: a reload that routes the profile elsewhere never
         * moves this order (docs/adapters.md "Named adapters"). */
        rc = rec_set_str(&o->adapter, profile != NULL && profile->adapter
                                          ? profile->adapter
                                          : CONFIG_DEFAULT_ADAPTER);
    }
    if (rc == AP_OK && replaces != NULL) {
        rc = rec_set_str(&o->replaces, json_str(payload, "replaces", ""));
        if (rc == AP_OK) {
            rc = rec_set_str(&o->replaces_cert, replaces);
        }
    }
    cJSON_ArrayForEach(it, idents) {
        struct rec_reader r;
        struct rec_ident id;

        if (rc != AP_OK) {
            break;
        }
        rec_read_begin(&r, it);
        rec_read_ident(&r, it, &id);
        rc = r.rc == AP_OK ? rec_order_add_ident(o, &id) : AP_EINTERNAL;
        rec_ident_fini(&id);
    }
    return rc;
}

/* Audits the new order in txn. */
static ap_err
audit_created(struct app *app, struct store_txn *txn,
              const struct acme_req *req, const struct order *o,
              const struct policy *apol)
{
    struct rec_writer w = { AP_OK };
    cJSON *f = rec_write_object(&w);

    rec_put_str(&w, f, "order", o->id);
    rec_put_str(&w, f, "account", o->account);
    rec_put_item(&w, f, "identifiers",
                 rec_idents_json(o->idents, o->n_idents));
    rec_put_str(&w, f, "profile", o->profile);
    rec_put_str(&w, f, "adapterName", o->adapter);
    if (apol->has_team) {
        rec_put_str(&w, f, "team", apol->team_label);
    }
    rec_put_str(&w, f, "ip", req->remote_addr);
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return w.rc;
    }
    return audit_event(app->audit, txn, "order.created", req->request_id, f);
}

/* The authz.preauthorized event: an authorization made valid without a
 * challenge because the account's EAB key lists the name (rule). */
static ap_err
audit_preauthorized(struct app *app, struct store_txn *txn,
                    const struct acme_req *req, const struct order *o,
                    const struct policy *apol, const struct rec_ident *ident,
                    const char *authz_id, const char *rule)
{
    struct rec_writer w = { AP_OK };
    cJSON *f = rec_write_object(&w);

    rec_put_str(&w, f, "authz", authz_id);
    rec_put_str(&w, f, "order", o->id);
    rec_put_str(&w, f, "account", o->account);
    rec_put_ident(&w, f, "identifier", ident);
    rec_put_str(&w, f, "kid", apol->eab_kid);
    rec_put_str(&w, f, "team", apol->team_label);
    rec_put_str(&w, f, "rule", rule);
    rec_put_str(&w, f, "ip", req->remote_addr);
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return w.rc;
    }
    log_info("order", "order=%s: %s pre-authorised by EAB key %s (rule %s)",
             o->id, ident->value, apol->eab_kid, rule);
    return audit_event(app->audit, txn, "authz.preauthorized",
                       req->request_id, f);
}

/* Ids made in the write transaction that stores them, in order: the
 * records are appended (common/id.h). */
static struct id_seq order_ids = ID_SEQ_INIT;

/* Stores order o with its authorizations, its index entry and its audit
 * event, in one write transaction (after the limits counted in it). */
static ap_err
order_store(struct app *app, const struct acme_req *req,
            const struct policy *apol, struct order *o,
            struct acme_resp *resp)
{
    struct store_txn *txn = NULL;
    enum authz_status *st = NULL;
    char key[STORE_MAX_KEY];
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    /* The id is made again here, where writers are serial: ids made
     * before (outside the transaction) reach the store out of their
     * order, and a put that is not an append splits a full last page in
     * two half-full ones (rec_order.h). */
    rc = id_new_seq(&order_ids, o->id, sizeof(o->id));
    if (rc != AP_OK) {
        goto out;
    }
    rc = order_store_limits(txn, app, o->account, o->n_idents, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    st = calloc(o->n_idents + 1, sizeof(*st));
    if (st == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < o->n_idents; i++) {
        char authz_id[REC_MAX_ID + 1];
        bool reused = false;
        const char *rule = policy_preauthorized(apol, o->idents[i].type,
                                                o->idents[i].value);

        rc = authz_for_order(txn, o->account, o->id, &o->idents[i], o->created,
                             o->expires, rule != NULL, authz_id,
                             sizeof(authz_id), &reused);
        if (rc == AP_OK) {
            rc = rec_order_add_authz(o, authz_id);
        }
        if (rc == AP_OK && rule != NULL && !reused) {
            rc = audit_preauthorized(app, txn, req, o, apol, &o->idents[i],
                                     authz_id, rule);
        }
        if (rc != AP_OK) {
            goto out;
        }
        st[i] = reused || rule != NULL ? AUTHZ_VALID : AUTHZ_PENDING;
    }
    /* Every authorization reused and valid: nothing left to prove. */
    o->status = status_order_from_authzs(st, o->n_idents);
    rc = rec_order_put(txn, o->id, o, true);
    if (rc == AP_OK) {
        rc = audit_created(app, txn, req, o, apol);
    }
    /* the index: the account's orders by creation time */
    if (rc == AP_OK) {
        rc = rec_order_index_key(o->account, o->id, key, sizeof(key));
    }
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_ACCOUNT_ORDERS, key, "", 0, true);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
out:
    free(st);
    store_abort(txn);
    return rc;
}

ap_err
order_new(struct app *app, const struct acme_req *req, const char *id,
          struct acme_resp *resp)
{
    struct jws_msg msg;
    const struct config_profile *profile = NULL;
    cJSON *idents = NULL;
    char *replaces = NULL;
    struct policy *apol = NULL;
    struct order o;
    char order_id[ID_LEN + 1];
    long long now = time_now();
    long long nb = 0;
    long long na = 0;
    struct ident_policy pol = { .single_label_names =
                                    app->cfg->acme.single_label_names };
    ap_err rc;

    (void)id;
    memset(&o, 0, sizeof(o));
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    if (msg.post_as_get) {
        problem_set(resp, PROB_MALFORMED, "newOrder needs a payload");
        goto out;
    }
    apol = malloc(sizeof(*apol));
    if (apol == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = account_policy(app, &msg, apol, resp);
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
    order_limits(app, idents, resp);
    if (resp->status != 0) {
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
    if (rc == AP_OK) {
        rc = order_build(order_id, msg.account_id, now,
                         now + app->cfg->acme.order_ttl_sec, nb, na, profile,
                         profile != NULL
                             ? policy_max_days(apol, profile->validity_days)
                             : 0,
                         msg.payload, replaces, idents, &o);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = order_store(app, req, apol, &o, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    metrics_order(order_status_name(o.status));
    log_info("order", "created order=%s account=%s identifiers=%zu%s%s",
             o.id, msg.account_id, o.n_idents,
             profile ? " profile=" : "", profile ? profile->name : "");
    rc = respond_order(app, &o, 201, resp);
out:
    free(apol);
    free(replaces);
    cJSON_Delete(idents);
    rec_order_fini(&o);
    jws_msg_fini(&msg);
    return rc;
}

/* ---- finalize ----------------------------------------------------------------- */

/* Reads order id (owned by account_id: see resource_owned). */
static ap_err
load_owned(struct app *app, const char *id, const char *account_id,
           struct acme_resp *resp, struct order *o)
{
    struct store_txn *txn = NULL;
    ap_err rc;

    memset(o, 0, sizeof(*o));
    if (!resource_id_ok(id, resp)) {
        return AP_OK;
    }
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = rec_order_get(txn, id, o);
    }
    store_abort(txn);
    return resource_owned(rc, o->account, account_id, resp);
}

/* Waits (bounded by wait_ms) until the order leaves processing. *o is as
 * the write that finalized it left it; the watch w began before that
 * write, so an issuance that ended at any time after wakes it. The order
 * is read again after each wake-up. */
static ap_err
wait_order(struct app *app, struct jobs_watch *w, struct order *o)
{
    long long deadline = time_mono_ms() + app->cfg->acme.wait_ms;
    char order_id[REC_MAX_ID + 1];
    ap_err rc = AP_OK;

    memcpy(order_id, o->id, sizeof(order_id));
    while (o->status == ORDER_PROCESSING && time_mono_ms() < deadline) {
        struct store_txn *txn = NULL;
        struct order fresh;

        jobs_watch_wait(app->jobs, w, deadline);
        rc = store_begin(app->st, false, &txn);
        if (rc != AP_OK) {
            break;
        }
        rc = rec_order_get(txn, order_id, &fresh);
        store_abort(txn);
        if (rc != AP_OK) {
            break;
        }
        rec_order_fini(o);
        *o = fresh;
    }
    return rc;
}

/* A reused authorization may have been deactivated or may have expired
 * since the order became ready: every one must still be valid. */
static ap_err
authzs_still_valid(struct store_txn *txn, const struct order *o,
                   struct acme_resp *resp)
{
    long long now = time_now();

    for (size_t i = 0; i < o->n_authzs; i++) {
        struct authz a;
        enum authz_status st;
        ap_err rc = rec_authz_get(txn, o->authzs[i], &a);

        if (rc != AP_OK) {
            return rc;
        }
        st = authz_status_at(&a, now);
        rec_authz_fini(&a);
        if (st != AUTHZ_VALID) {
            problem_set(resp, PROB_ORDER_NOT_READY,
                        "authorization %s is %s", o->authzs[i],
                        authz_status_name(st));
            return AP_OK;
        }
    }
    return AP_OK;
}

/* RFC 9773 §5: finalizing an order that replaces a certificate marks that
 * certificate replaced; only one finalized order may do so. */
static ap_err
mark_replaced(struct store_txn *txn, const struct order *o,
              struct acme_resp *resp)
{
    struct cert c;
    ap_err rc;

    if (o->replaces_cert == NULL) {
        return AP_OK;
    }
    rc = rec_cert_get(txn, o->replaces_cert, &c);
    if (rc != AP_OK) {
        return rc;
    }
    if (c.replaced_by[0] != '\0' && strcmp(c.replaced_by, o->id) != 0) {
        problem_set(resp, PROB_ALREADY_REPLACED,
                    "that certificate was already replaced by order %s",
                    c.replaced_by);
    } else {
        snprintf(c.replaced_by, sizeof(c.replaced_by), "%s", o->id);
        rc = rec_cert_put(txn, o->replaces_cert, &c, false);
    }
    rec_cert_fini(&c);
    return rc;
}

/* The order.finalized event: who, which key, which profile. */
static ap_err
audit_finalized(struct app *app, struct store_txn *txn,
                const struct acme_req *req, const struct order *o,
                const struct crypto_csr *csr)
{
    struct rec_writer w = { AP_OK };
    cJSON *f = rec_write_object(&w);

    rec_put_str(&w, f, "order", o->id);
    rec_put_str(&w, f, "account", o->account);
    rec_put_str(&w, f, "key", csr->key_type == CRYPTO_KEY_RSA ? "RSA"
                              : csr->curve ? csr->curve
                                           : "EC");
    rec_put_int(&w, f, "key_bits", csr->key_bits);
    rec_put_str(&w, f, "profile", o->profile);
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return w.rc;
    }
    return audit_event(app->audit, txn, "order.finalized", req->request_id,
                       f);
}

/* The checks finalize makes before anything is written, on the CSR it
 * parses once: names and key. On AP_OK either *csr is the parsed CSR or
 * resp holds the problem. */
static ap_err
check_csr(struct app *app, const struct jws_msg *msg, const struct order *o,
          const char *csr_b64, struct crypto_csr **csr,
          struct acme_resp *resp)
{
    struct ident_policy pol = { .single_label_names =
                                    app->cfg->acme.single_label_names };
    struct policy *apol = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    cJSON *idents = NULL;
    char errbuf[160];
    ap_err rc;

    *csr = NULL;
    apol = malloc(sizeof(*apol));
    if (apol == NULL) {
        return AP_ENOMEM;
    }
    rc = account_policy(app, msg, apol, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (b64url_decode_alloc(csr_b64, strlen(csr_b64), &der, &der_len) !=
        AP_OK) {
        problem_set(resp, PROB_BAD_CSR, "csr is not unpadded base64url");
        goto out;
    }
    if (crypto_csr_parse(der, der_len, csr, errbuf, sizeof(errbuf)) !=
        AP_OK) {
        problem_set(resp, PROB_BAD_CSR, "CSR refused: %s", errbuf);
        goto out;
    }
    idents = rec_idents_json(o->idents, o->n_idents);
    if (idents == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    if (!ident_csr_matches(*csr, idents, &pol, resp)) {
        goto out;
    }
    if (!issue_csr_eku_ok(app->cfg, o->profile, (*csr)->eku, errbuf,
                          sizeof(errbuf))) {
        problem_set(resp, PROB_BAD_CSR, "CSR refused: %s", errbuf);
        goto out;
    }
    (void)policy_check_key(apol, *csr, msg->key, resp);
out:
    if (rc != AP_OK || resp->status != 0) {
        crypto_csr_free(*csr);
        *csr = NULL;
    }
    cJSON_Delete(idents);
    free(der);
    free(apol);
    return rc;
}

/* Moves the order to processing with its CSR and key, and queues its
 * issuance, in one write transaction (after the checks that must see the
 * order as it is in it). *o gets the order as written; job_id the job. */
static ap_err
finalize_store(struct app *app, const struct acme_req *req,
               const struct jws_msg *msg, const char *csr_b64,
               const struct crypto_csr *csr, struct order *o,
               char *job_id, size_t idlen, struct acme_resp *resp)
{
    struct store_txn *txn = NULL;
    char order_id[REC_MAX_ID + 1];
    char *spki = NULL;
    ap_err rc;

    memcpy(order_id, o->id, sizeof(order_id));
    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        return rc;
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
    rec_order_fini(o);
    rc = rec_order_get(txn, order_id, o);
    if (rc != AP_OK) {
        goto out;
    }
    /* Another finalize may have won the race since the read above. */
    if (order_status_at(o, time_now()) != ORDER_READY) {
        problem_set(resp, PROB_ORDER_NOT_READY, "order is %s, not ready",
                    order_status_name(order_status_at(o, time_now())));
        goto out;
    }
    rc = authzs_still_valid(txn, o, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    rc = mark_replaced(txn, o, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    /* The key as finalize read it: what the issuer and the adapter use
     * instead of parsing the CSR again. */
    spki = b64url_encode_alloc(csr->pubkey_der, csr->pubkey_der_len);
    o->status = ORDER_PROCESSING;
    rc = spki != NULL ? rec_set_str(&o->csr, csr_b64) : AP_ENOMEM;
    if (rc == AP_OK) {
        rc = rec_set_str(&o->csr_spki, spki);
    }
    /* A profile's lifetime applies when the order named no notAfter. */
    if (o->not_after == 0 && o->validity_days > 0) {
        o->not_after = (o->not_before ? o->not_before : time_now()) +
                       o->validity_days * 86400;
    }
    if (rc == AP_OK) {
        rc = rec_order_put(txn, order_id, o, false);
    }
    if (rc == AP_OK) {
        rc = jobs_put(txn, JOB_ISSUE, order_id, 0, 0, job_id, idlen);
    }
    if (rc == AP_OK) {
        rc = audit_finalized(app, txn, req, o, csr);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
out:
    free(spki);
    store_abort(txn);
    return rc;
}

/* The order's adapter issues in this process (the embedded CA): its
 * issuance takes as long as a signature, so the finalize that starts it
 * may run it (jobs_run_here). A PKI's call is left to the issuance
 * workers: it may take the adapter's whole deadline. */
static bool
issued_in_process(const struct app *app, const struct order *o)
{
    const struct app_pki *pki = app_pki_find(app, o->adapter);

    return pki != NULL && pki->ops != NULL &&
           (pki->ops->caps & ADAPTER_CAP_IN_PROCESS) != 0;
}

static ap_err
finalize(struct app *app, const struct acme_req *req,
         const struct jws_msg *msg, struct order *o, struct acme_resp *resp)
{
    struct crypto_csr *csr = NULL;
    const char *csr_b64 = NULL;
    char job_id[JOB_MAX_ID];
    struct jobs_watch watch;
    bool watching = false;
    ap_err rc = AP_OK;

    if (msg->post_as_get) {
        problem_set(resp, PROB_MALFORMED, "finalize needs a payload");
        goto out;
    }
    if (order_status_at(o, time_now()) != ORDER_READY) {
        problem_set(resp, PROB_ORDER_NOT_READY, "order is %s, not ready",
                    order_status_name(order_status_at(o, time_now())));
        goto out;
    }
    if (json_get_string(msg->payload, "csr", CRYPTO_CSR_MAX_DER * 2,
                        &csr_b64) != AP_OK) {
        problem_set(resp, PROB_MALFORMED, "finalize needs a string csr");
        goto out;
    }
    rc = check_csr(app, msg, o, csr_b64, &csr, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    jobs_watch_begin(app->jobs, &watch, o->id);
    watching = true;
    rc = finalize_store(app, req, msg, csr_b64, csr, o, job_id,
                        sizeof(job_id), resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    metrics_order("processing");
    log_info("order", "finalize order=%s account=%s names=%zu", o->id,
             msg->account_id, csr->n_dns_names);
    if (!issued_in_process(app, o) || !jobs_run_here(app->jobs, job_id)) {
        jobs_kick(app->jobs, job_id, 0);
    }
    rc = wait_order(app, &watch, o);
    if (rc == AP_OK) {
        rc = respond_order(app, o, 200, resp);
    }
out:
    if (watching) {
        jobs_watch_end(app->jobs, &watch);
    }
    crypto_csr_free(csr);
    return rc;
}

ap_err
order_post(struct app *app, const struct acme_req *req, const char *id,
           struct acme_resp *resp)
{
    struct jws_msg msg;
    struct order o;
    char order_id[JWS_MAX_ID + 1];
    const char *slash = strchr(id, '/');
    bool is_finalize = false;
    ap_err rc;

    memset(&o, 0, sizeof(o));
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
    rc = load_owned(app, order_id, msg.account_id, resp, &o);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (is_finalize) {
        rc = finalize(app, req, &msg, &o, resp);
    } else if (!msg.post_as_get) {
        problem_set(resp, PROB_MALFORMED,
                    "an order is read with POST-as-GET (empty payload)");
    } else {
        rc = respond_order(app, &o, 200, resp);
    }
out:
    rec_order_fini(&o);
    jws_msg_fini(&msg);
    return rc;
}
