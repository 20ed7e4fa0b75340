/* proxy/account.c: newAccount and the account resource (RFC 8555 §7.3)
 * (account.h). */
#include "proxy/account.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "proxy/audit.h"
#include "proxy/eab.h"
#include "proxy/team.h"
#include "proxy/jws.h"
#include "proxy/problem.h"
#include "proxy/rec_account.h"
#include "proxy/rec_order.h"
#include "proxy/resource.h"
#include "proxy/status.h"

static cJSON *
account_render(const struct app *app, const struct account *acct)
{
    struct rec_writer w = { AP_OK };
    cJSON *out = rec_write_object(&w);
    cJSON *contact;
    char url[HTTP_MAX_URL];

    app_url(app, url, sizeof(url), PATH_ORDERS, acct->id);
    rec_put_str(&w, out, "status", account_status_name(acct->status));
    contact = rec_put_array(&w, out, "contact");
    for (size_t i = 0; i < acct->n_contact; i++) {
        rec_push_str(&w, contact, acct->contact[i]);
    }
    if (acct->tos) {
        rec_put_bool(&w, out, "termsOfServiceAgreed", true);
    }
    rec_put_str(&w, out, "orders", url);
    if (w.rc != AP_OK) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* RFC 8555 §7.3: contact is an array of URLs; this server takes mailto:
 * only (unsupportedContact otherwise) and refuses hfields and addresses
 * without a domain (invalidContact). Sets a problem and returns false. */
static bool
contacts_ok(const cJSON *contact, struct acme_resp *resp)
{
    const cJSON *c;
    int n = 0;

    if (!cJSON_IsArray(contact)) {
        problem_set(resp, PROB_MALFORMED, "contact must be an array");
        return false;
    }
    cJSON_ArrayForEach(c, contact) {
        const char *s;
        const char *at;

        if (++n > ACCOUNT_MAX_CONTACTS) {
            problem_set(resp, PROB_INVALID_CONTACT,
                        "at most %d contacts", ACCOUNT_MAX_CONTACTS);
            return false;
        }
        if (!cJSON_IsString(c)) {
            problem_set(resp, PROB_MALFORMED, "contact must hold strings");
            return false;
        }
        s = c->valuestring;
        if (strncmp(s, "mailto:", 7) != 0) {
            problem_set(resp, PROB_UNSUPPORTED_CONTACT,
                        "only mailto: contacts are supported");
            return false;
        }
        at = strchr(s + 7, '@');
        if (strlen(s) > ACCOUNT_MAX_CONTACT_LEN || at == NULL ||
            at == s + 7 || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
            strpbrk(s + 7, "?, <>\"\\") != NULL || strchr(at + 1, '.') == NULL) {
            problem_set(resp, PROB_INVALID_CONTACT,
                        "contact is not a mailto: address");
            return false;
        }
        for (const char *p = s; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
                problem_set(resp, PROB_INVALID_CONTACT,
                            "contact has a character outside ASCII");
                return false;
            }
        }
    }
    return true;
}

static ap_err
respond_account(struct app *app, const struct account *acct, int status,
                struct acme_resp *resp)
{
    char url[HTTP_MAX_URL];
    cJSON *view = account_render(app, acct);
    ap_err rc;

    if (view == NULL) {
        return AP_ENOMEM;
    }
    rc = acme_resp_json(resp, status, view);
    cJSON_Delete(view);
    app_url(app, url, sizeof(url), PATH_ACCOUNT, acct->id);
    acme_resp_location(resp, url);
    return rc;
}

/* The signing account's record (msg->account, as jws.c read it). */
static ap_err
signer_account(const struct jws_msg *msg, struct account *out)
{
    char why[200];
    ap_err rc = rec_account_decode(msg->account, out, why, sizeof(why));

    return rc == AP_ESTORE ? rec_bad("accounts", msg->account_id, why) : rc;
}

/* Writes an account event to the audit log: who, which key, from where,
 * bound to which team. */
static ap_err
audit_account(struct app *app, struct store_txn *txn,
              const struct acme_req *req, const char *event,
              const struct account *acct)
{
    struct rec_writer w = { AP_OK };
    cJSON *f = rec_write_object(&w);
    cJSON *contact;

    rec_put_str(&w, f, "account", acct->id);
    rec_put_str(&w, f, "status", account_status_name(acct->status));
    rec_put_str(&w, f, "thumbprint", acct->thumbprint);
    rec_put_str(&w, f, "ip", req->remote_addr);
    if (acct->eab != NULL) {
        rec_put_str(&w, f, "eab", acct->eab);
        rec_put_str(&w, f, "team", acct->team != NULL ? acct->team : "");
    } else if (acct->team != NULL) {
        /* Joined by its address: [team.NAME] networks. */
        rec_put_str(&w, f, "team", acct->team);
        rec_put_str(&w, f, "teamBy", "network");
    }
    contact = rec_put_array(&w, f, "contact");
    for (size_t i = 0; i < acct->n_contact; i++) {
        rec_push_str(&w, contact, acct->contact[i]);
    }
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return w.rc;
    }
    return audit_event(app->audit, txn, event, req->request_id, f);
}

/* Finds the account of a key thumbprint; *found false when none. */
static ap_err
account_by_thumbprint(struct app *app, const char *thumb,
                      struct account *out, bool *found)
{
    struct store_txn *txn = NULL;
    char *id = NULL;
    ap_err rc;

    *found = false;
    memset(out, 0, sizeof(*out));
    rc = store_begin(app->st, false, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_get(txn, STORE_ACCOUNT_KEYS, thumb, &id, NULL);
    if (rc == AP_OK) {
        rc = rec_account_get(txn, id, out);
    }
    store_abort(txn);
    free(id);
    *found = rc == AP_OK;
    return rc == AP_ENOTFOUND ? AP_OK : rc;
}

/* The new account's record: key, contact, terms, team. */
static ap_err
account_build(const char *id, const struct jws_msg *msg,
              const cJSON *contact, bool tos, const struct acme_req *req,
              const cJSON *eab_rec, const struct config_team *net_team,
              struct account *a)
{
    ap_err rc = AP_OK;

    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    a->status = ACCOUNT_VALID;
    a->jwk = crypto_key_to_jwk(msg->key);
    snprintf(a->thumbprint, sizeof(a->thumbprint), "%s", msg->thumbprint);
    a->tos = tos;
    a->created = time_now();
    snprintf(a->ip, sizeof(a->ip), "%s", req->remote_addr);
    if (a->jwk == NULL) {
        rc = AP_ENOMEM;
    }
    if (rc == AP_OK && contact != NULL) {
        rc = rec_account_set_contact(a, contact);
    }
    if (rc == AP_OK && eab_rec != NULL) {
        rc = rec_set_str(&a->eab, json_str(eab_rec, "kid", ""));
        if (rc == AP_OK) {
            rc = rec_set_str(&a->team, json_str(eab_rec, "label", ""));
        }
    } else if (rc == AP_OK && net_team != NULL) {
        rc = rec_set_str(&a->team, net_team->name);
    }
    return rc;
}

ap_err
account_new(struct app *app, const struct acme_req *req, const char *id,
            struct acme_resp *resp)
{
    struct jws_msg msg;
    struct store_txn *txn = NULL;
    struct account acct;
    const cJSON *contact = NULL;
    const cJSON *binding;
    const struct config_team *net_team = NULL;
    cJSON *eab_rec = NULL;
    bool only_existing = false;
    bool tos = false;
    bool found = false;
    char acct_id[ID_LEN + 1];
    ap_err rc;

    (void)id;
    memset(&acct, 0, sizeof(acct));
    rc = jws_verify(app, req, JWS_NEED_JWK, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    if (msg.post_as_get) {
        problem_set(resp, PROB_MALFORMED, "newAccount needs a payload");
        goto out;
    }
    if (json_get_bool(msg.payload, "onlyReturnExisting", &only_existing) ==
            AP_EPARSE ||
        json_get_bool(msg.payload, "termsOfServiceAgreed", &tos) ==
            AP_EPARSE ||
        json_get_array(msg.payload, "contact", &contact) == AP_EPARSE) {
        problem_set(resp, PROB_MALFORMED,
                    "onlyReturnExisting and termsOfServiceAgreed must be "
                    "booleans, contact an array");
        goto out;
    }
    rc = account_by_thumbprint(app, msg.thumbprint, &acct, &found);
    if (rc != AP_OK) {
        goto out;
    }
    /* RFC 8555 §7.3.1: an existing key answers 200 with its account. */
    if (found) {
        rc = respond_account(app, &acct, 200, resp);
        goto out;
    }
    if (only_existing) {
        problem_set(resp, PROB_ACCOUNT_DOES_NOT_EXIST,
                    "no account exists with this key");
        goto out;
    }
    if (contact != NULL && !contacts_ok(contact, resp)) {
        goto out;
    }
    if (app->cfg->acme.tos_url[0] != '\0' && !tos) {
        problem_set(resp, PROB_USER_ACTION_REQUIRED,
                    "agree to the terms of service at %s",
                    app->cfg->acme.tos_url);
        goto out;
    }
    /* RFC 8555 §7.3.4: external account binding. */
    binding = cJSON_GetObjectItemCaseSensitive(msg.payload,
                                               "externalAccountBinding");
    /* Without one, the team whose networks hold the TCP peer's address
     * (README "Teams by network": a trust decision), bound for good. */
    if (binding == NULL) {
        net_team = team_for_address(app->cfg, req->remote_addr);
    }
    if (binding == NULL && net_team == NULL && app->cfg->acme.eab_required) {
        problem_set(resp, PROB_EXTERNAL_ACCOUNT_REQUIRED,
                    "this server requires external account binding: ask "
                    "your PKI team for a key id and HMAC key");
        goto out;
    }
    if (binding != NULL) {
        rc = eab_verify(app, binding, req->url, msg.thumbprint, resp,
                        &eab_rec);
        if (rc != AP_OK || resp->status != 0) {
            goto out;
        }
    }
    if (!rate_ok(app, resp, "acct:", req->remote_addr,
                 app->cfg->ratelimit.accounts_per_ip_hour,
                 "accounts_per_ip_hour", true)) {
        goto out;
    }
    rc = id_new(acct_id, sizeof(acct_id));
    if (rc == AP_OK) {
        rc = account_build(acct_id, &msg, contact, tos, req, eab_rec,
                           net_team, &acct);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_put(txn, STORE_ACCOUNT_KEYS, msg.thumbprint, acct_id,
                   strlen(acct_id), true);
    if (rc == AP_EEXIST) {
        /* Another request registered the same key meanwhile. */
        store_abort(txn);
        txn = NULL;
        rec_account_fini(&acct);
        rc = account_by_thumbprint(app, msg.thumbprint, &acct, &found);
        if (rc == AP_OK && found) {
            rc = respond_account(app, &acct, 200, resp);
        } else if (rc == AP_OK) {
            rc = AP_EINTERNAL;
        }
        goto out;
    }
    if (rc == AP_OK) {
        rc = rec_account_put(txn, acct_id, &acct, true);
    }
    if (rc == AP_OK && eab_rec != NULL) {
        rc = eab_bind(txn, json_str(eab_rec, "kid", ""), acct_id,
                      app->cfg->acme.eab_single_use);
        if (rc == AP_EEXIST) {
            problem_set(resp, PROB_UNAUTHORIZED,
                        "this external account key is already bound to an "
                        "account");
            rc = AP_OK;
            goto out;
        }
    }
    if (rc == AP_OK) {
        rc = audit_account(app, txn, req, "account.created", &acct);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_commit(txn);
    txn = NULL;
    if (rc != AP_OK) {
        goto out;
    }
    log_info("account", "created account=%s thumbprint=%s ip=%s%s%s",
             acct_id, msg.thumbprint, req->remote_addr,
             acct.team != NULL ? " team=" : "",
             acct.team != NULL ? acct.team : "");
    rc = respond_account(app, &acct, 201, resp);
out:
    store_abort(txn);
    rec_account_fini(&acct);
    eab_record_free(eab_rec);
    jws_msg_fini(&msg);
    return rc;
}

ap_err
account_post(struct app *app, const struct acme_req *req, const char *id,
             struct acme_resp *resp)
{
    struct jws_msg msg;
    struct store_txn *txn = NULL;
    struct account acct;
    const cJSON *contact = NULL;
    const char *status = NULL;
    bool deactivate;
    ap_err rc;

    memset(&acct, 0, sizeof(acct));
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    if (strcmp(id, msg.account_id) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "the account URL is not the signing account's");
        goto out;
    }
    if (msg.post_as_get) {
        rc = signer_account(&msg, &acct);
        if (rc == AP_OK) {
            rc = respond_account(app, &acct, 200, resp);
        }
        goto out;
    }
    if (json_get_array(msg.payload, "contact", &contact) == AP_EPARSE ||
        json_get_string(msg.payload, "status", 32, &status) == AP_EPARSE) {
        problem_set(resp, PROB_MALFORMED,
                    "contact must be an array, status a string");
        goto out;
    }
    if (contact != NULL && !contacts_ok(contact, resp)) {
        goto out;
    }
    if (status != NULL && strcmp(status, "deactivated") != 0 &&
        strcmp(status, "valid") != 0) {
        problem_set(resp, PROB_MALFORMED,
                    "a client may only set status to deactivated");
        goto out;
    }
    deactivate = status != NULL && strcmp(status, "deactivated") == 0;
    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        goto out;
    }
    rc = rec_account_get(txn, id, &acct);
    if (rc == AP_OK && contact != NULL) {
        rc = rec_account_set_contact(&acct, contact);
    }
    if (rc == AP_OK && deactivate) {
        acct.status = ACCOUNT_DEACTIVATED;
        rc = account_cancel_pending(txn, id);
    }
    if (rc == AP_OK) {
        rc = rec_account_put(txn, id, &acct, false);
    }
    if (rc == AP_OK) {
        rc = audit_account(app, txn, req,
                           deactivate ? "account.deactivated"
                                      : "account.updated",
                           &acct);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_commit(txn);
    txn = NULL;
    if (rc != AP_OK) {
        goto out;
    }
    log_info("account", "updated account=%s%s", id,
             deactivate ? " deactivated" : "");
    rc = respond_account(app, &acct, 200, resp);
out:
    store_abort(txn);
    rec_account_fini(&acct);
    jws_msg_fini(&msg);
    return rc;
}

struct list_ctx {
    struct store_txn *txn;
    cJSON *arr;
    const struct app *app;
    size_t n;
    size_t page;
    char last[STORE_MAX_KEY + 1];  /* index key of the last listed order */
    bool more;
    bool failed;                   /* out of memory */
};

/* RFC 8555 §7.1.2.1: pending, ready, processing and valid orders are
 * listed; invalid ones are not. */
static bool
list_one(void *arg, const char *key, const char *val, size_t len)
{
    struct list_ctx *lc = arg;
    const char *slash = strrchr(key, '/');
    struct order o;
    char url[HTTP_MAX_URL];
    bool show;

    (void)val;
    (void)len;
    if (slash == NULL) {
        return true;
    }
    if (lc->n >= lc->page) {
        lc->more = true;
        return false;
    }
    if (rec_order_get(lc->txn, slash + 1, &o) != AP_OK) {
        return true;
    }
    show = order_status_at(&o, time_now()) != ORDER_INVALID;
    rec_order_fini(&o);
    snprintf(lc->last, sizeof(lc->last), "%s", key);
    if (show) {
        cJSON *item;

        app_url(lc->app, url, sizeof(url), PATH_ORDER, slash + 1);
        item = cJSON_CreateString(url);
        if (item == NULL || !cJSON_AddItemToArray(lc->arr, item)) {
            cJSON_Delete(item);
            lc->failed = true;
            return false;
        }
        lc->n++;
    }
    return true;
}

ap_err
account_orders(struct app *app, const struct acme_req *req, const char *id,
               struct acme_resp *resp)
{
    struct jws_msg msg;
    struct list_ctx lc;
    cJSON *out = NULL;
    char prefix[JWS_MAX_ID + 2];
    char after[2 * STORE_MAX_KEY];
    char url[HTTP_MAX_URL];
    const char *cursor = NULL;
    ap_err rc;

    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    memset(&lc, 0, sizeof(lc));
    if (strcmp(id, msg.account_id) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "the orders URL is not the signing account's");
        goto out;
    }
    if (!msg.post_as_get) {
        problem_set(resp, PROB_MALFORMED,
                    "the orders list is read with POST-as-GET");
        goto out;
    }
    snprintf(prefix, sizeof(prefix), "%s/", id);
    after[0] = '\0';
    if (req->query != NULL) {
        if (strncmp(req->query, "cursor=", 7) != 0 ||
            strlen(req->query + 7) > STORE_MAX_KEY - strlen(prefix) ||
            strspn(req->query + 7, "0123456789/ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz-_") !=
                strlen(req->query + 7)) {
            problem_set(resp, PROB_MALFORMED, "bad orders cursor");
            goto out;
        }
        cursor = req->query + 7;
        snprintf(after, sizeof(after), "%s%.*s", prefix,
                 (int)(STORE_MAX_KEY - strlen(prefix)), cursor);
    }
    out = cJSON_CreateObject();
    lc.arr = cJSON_AddArrayToObject(out, "orders");
    lc.app = app;
    lc.page = app->cfg->acme.orders_per_page;
    if (lc.arr == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = store_begin(app->st, false, &lc.txn);
    if (rc == AP_OK) {
        rc = store_scan(lc.txn, STORE_ACCOUNT_ORDERS, prefix,
                        cursor ? after : NULL, list_one, &lc);
    }
    if (rc == AP_OK && lc.failed) {
        rc = AP_ENOMEM;
    }
    if (rc == AP_OK) {
        rc = acme_resp_json(resp, 200, out);
    }
    /* More behind this page: RFC 8555 §7.1.2.1 Link rel="next". */
    if (rc == AP_OK && lc.more) {
        snprintf(url, sizeof(url), "%s%s%s?cursor=%s", app->base, PATH_ORDERS,
                 id, lc.last + strlen(prefix));
        acme_resp_link(resp, url, "next");
    }
out:
    store_abort(lc.txn);
    cJSON_Delete(out);
    jws_msg_fini(&msg);
    return rc;
}

/* Replaces the account key after both keys signed (RFC 8555 §7.3.5). */
ap_err
account_key_change(struct app *app, const struct acme_req *req,
                   const char *id, struct acme_resp *resp)
{
    struct jws_msg msg;
    struct store_txn *txn = NULL;
    struct crypto_key *new_key = NULL;
    struct crypto_key *old_key = NULL;
    cJSON *inner = NULL;
    struct account acct;
    const char *account_url = NULL;
    const cJSON *old_jwk;
    char acct_url[HTTP_MAX_URL];
    char new_thumb[CRYPTO_THUMBPRINT_LEN + 1];
    char old_thumb[CRYPTO_THUMBPRINT_LEN + 1];
    char *holder = NULL;
    char errbuf[160];
    ap_err rc;

    (void)id;
    memset(&acct, 0, sizeof(acct));
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    if (msg.post_as_get) {
        problem_set(resp, PROB_MALFORMED, "keyChange needs an inner JWS");
        goto out;
    }
    rc = jws_verify_inner(msg.payload, req->url, resp, &new_key, &inner);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    app_url(app, acct_url, sizeof(acct_url), PATH_ACCOUNT, msg.account_id);
    if (json_get_string(inner, "account", HTTP_MAX_URL, &account_url) !=
            AP_OK ||
        strcmp(account_url, acct_url) != 0) {
        problem_set(resp, PROB_MALFORMED,
                    "inner payload account must be the signing account's "
                    "URL");
        goto out;
    }
    old_jwk = cJSON_GetObjectItemCaseSensitive(inner, "oldKey");
    if (!cJSON_IsObject(old_jwk) ||
        crypto_jwk_parse(old_jwk, &old_key, errbuf, sizeof(errbuf)) !=
            AP_OK ||
        crypto_key_thumbprint(old_key, old_thumb, sizeof(old_thumb)) !=
            AP_OK ||
        strcmp(old_thumb, msg.thumbprint) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "inner payload oldKey is not the account's key");
        goto out;
    }
    rc = crypto_key_thumbprint(new_key, new_thumb, sizeof(new_thumb));
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        goto out;
    }
    rc = store_get(txn, STORE_ACCOUNT_KEYS, new_thumb, &holder, NULL);
    if (rc == AP_OK) {
        /* The new key belongs to an account already: 409 with its URL. */
        app_url(app, acct_url, sizeof(acct_url), PATH_ACCOUNT, holder);
        problem_set(resp, PROB_CONFLICT,
                    "the new key is already in use by an account");
        acme_resp_location(resp, acct_url);
        rc = AP_OK;
        goto out;
    }
    if (rc != AP_ENOTFOUND) {
        goto out;
    }
    rc = rec_account_get(txn, msg.account_id, &acct);
    if (rc != AP_OK) {
        goto out;
    }
    if (strcmp(acct.thumbprint, msg.thumbprint) != 0) {
        /* Another key change won the race since this request's signature
         * was checked: the key that signed it is no longer the account's
         * (RFC 8555 §7.3.5 gives a key conflict 409). */
        app_url(app, acct_url, sizeof(acct_url), PATH_ACCOUNT,
                msg.account_id);
        problem_set(resp, PROB_CONFLICT,
                    "the account key was changed by another request "
                    "meanwhile; sign with the account's current key");
        acme_resp_location(resp, acct_url);
        rc = AP_OK;
        goto out;
    }
    cJSON_Delete(acct.jwk);
    acct.jwk = crypto_key_to_jwk(new_key);
    snprintf(acct.thumbprint, sizeof(acct.thumbprint), "%s", new_thumb);
    rc = acct.jwk != NULL ? AP_OK : AP_ENOMEM;
    if (rc == AP_OK) {
        rc = store_del(txn, STORE_ACCOUNT_KEYS, msg.thumbprint);
    }
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_ACCOUNT_KEYS, new_thumb, msg.account_id,
                       strlen(msg.account_id), true);
    }
    if (rc == AP_OK) {
        rc = rec_account_put(txn, msg.account_id, &acct, false);
    }
    if (rc == AP_OK) {
        struct rec_writer w = { AP_OK };
        cJSON *f = rec_write_object(&w);

        rec_put_str(&w, f, "account", msg.account_id);
        rec_put_str(&w, f, "old_thumbprint", msg.thumbprint);
        rec_put_str(&w, f, "thumbprint", new_thumb);
        rec_put_str(&w, f, "ip", req->remote_addr);
        if (w.rc != AP_OK) {
            cJSON_Delete(f);
            f = NULL;
        }
        rc = f == NULL ? w.rc
                       : audit_event(app->audit, txn, "account.key_changed",
                                     req->request_id, f);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    if (rc != AP_OK) {
        goto out;
    }
    log_info("account", "key changed account=%s old=%s new=%s",
             msg.account_id, msg.thumbprint, new_thumb);
    rc = respond_account(app, &acct, 200, resp);
out:
    store_abort(txn);
    free(holder);
    rec_account_fini(&acct);
    cJSON_Delete(inner);
    crypto_key_free(new_key);
    crypto_key_free(old_key);
    jws_msg_fini(&msg);
    return rc;
}
