/* proxy/rec_order.c: the order record's codec (rec_order.h). */
#include "proxy/rec_order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/csr.h"

static const char *const status_names[] = { "pending", "ready",
                                            "processing", "valid",
                                            "invalid" };
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == ORDER__MAX,
               "status_names must cover every order status");

static const char *const known[] = {
    "v", "id", "account", "status", "created", "expires", "notBefore",
    "notAfter", "profile", "template", "adapter", "validityDays", "replaces",
    "replacesCert", "identifiers", "authzs", "csr", "csrSpki", "pkiStarted",
    "pkiInflight", "pkiNoted", "pkiRef", "pkiPendingSince", "cert", "error",
    NULL
};

/* base64url of a CSR of at most CRYPTO_CSR_MAX_DER bytes */
#define ORDER_MAX_CSR (CRYPTO_CSR_MAX_DER * 4 / 3 + 4)
#define ORDER_MAX_DAYS 100000

const char *
order_status_name(enum order_status s)
{
    return (unsigned)s < ORDER__MAX ? status_names[s] : "invalid";
}

void
rec_order_fini(struct order *o)
{
    free(o->profile);
    free(o->template_name);
    free(o->adapter);
    free(o->replaces);
    free(o->replaces_cert);
    for (size_t i = 0; i < o->n_idents; i++) {
        rec_ident_fini(&o->idents[i]);
    }
    free(o->idents);
    free(o->authzs);
    free(o->csr);
    free(o->csr_spki);
    free(o->pki_noted);
    free(o->pki_ref);
    rec_problem_free(o->error);
    cJSON_Delete(o->extra);
    memset(o, 0, sizeof(*o));
}

static void
read_idents(struct rec_reader *r, const cJSON *obj, struct order *o)
{
    const cJSON *arr = NULL;
    const cJSON *it;
    size_t n = 0;

    rec_read_array(r, obj, "identifiers", REC_MAX_LIST, &arr, &n);
    if (r->rc != AP_OK || n == 0) {
        return;
    }
    o->idents = calloc(n, sizeof(*o->idents));
    if (o->idents == NULL) {
        r->rc = AP_ENOMEM;
        return;
    }
    cJSON_ArrayForEach(it, arr) {
        rec_read_ident(r, it, &o->idents[o->n_idents]);
        if (r->rc != AP_OK) {
            return;
        }
        o->n_idents++;
    }
}

static void
read_authzs(struct rec_reader *r, const cJSON *obj, struct order *o)
{
    const cJSON *arr = NULL;
    const cJSON *it;
    size_t n = 0;

    rec_read_array(r, obj, "authzs", REC_MAX_LIST, &arr, &n);
    if (r->rc != AP_OK || n == 0) {
        return;
    }
    o->authzs = calloc(n, sizeof(*o->authzs));
    if (o->authzs == NULL) {
        r->rc = AP_ENOMEM;
        return;
    }
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
            strlen(it->valuestring) > REC_MAX_ID) {
            rec_read_fail(r, "an item of \"authzs\" is not an id");
            return;
        }
        memcpy(o->authzs[o->n_authzs++], it->valuestring,
               strlen(it->valuestring) + 1);
    }
}

ap_err
rec_order_decode(const cJSON *obj, struct order *out, char *why,
                 size_t whylen)
{
    struct rec_reader r;
    int status = ORDER_INVALID;

    memset(out, 0, sizeof(*out));
    rec_read_begin(&r, obj);
    rec_read_version(&r, obj);
    rec_read_buf(&r, obj, "id", out->id, sizeof(out->id));
    rec_read_buf(&r, obj, "account", out->account, sizeof(out->account));
    rec_read_enum(&r, obj, "status", status_names, ORDER__MAX, ORDER_INVALID,
                  &status);
    rec_read_int(&r, obj, "created", 0, REC_TIME_MAX, &out->created, NULL);
    rec_read_int(&r, obj, "expires", 0, REC_TIME_MAX, &out->expires, NULL);
    rec_read_int(&r, obj, "notBefore", 0, REC_TIME_MAX, &out->not_before,
                 NULL);
    rec_read_int(&r, obj, "notAfter", 0, REC_TIME_MAX, &out->not_after,
                 NULL);
    rec_read_str(&r, obj, "profile", REC_MAX_SHORT, &out->profile);
    rec_read_str(&r, obj, "template", REC_MAX_TEXT, &out->template_name);
    rec_read_str(&r, obj, "adapter", REC_MAX_SHORT, &out->adapter);
    rec_read_int(&r, obj, "validityDays", 0, ORDER_MAX_DAYS,
                 &out->validity_days, NULL);
    rec_read_str(&r, obj, "replaces", REC_MAX_TEXT, &out->replaces);
    rec_read_str(&r, obj, "replacesCert", REC_MAX_ID, &out->replaces_cert);
    read_idents(&r, obj, out);
    read_authzs(&r, obj, out);
    rec_read_str(&r, obj, "csr", ORDER_MAX_CSR, &out->csr);
    rec_read_str(&r, obj, "csrSpki", ORDER_MAX_CSR, &out->csr_spki);
    rec_read_int(&r, obj, "pkiStarted", 0, REC_TIME_MAX, &out->pki_started,
                 NULL);
    rec_read_int(&r, obj, "pkiInflight", 0, REC_TIME_MAX,
                 &out->pki_inflight, NULL);
    rec_read_str(&r, obj, "pkiNoted", REC_MAX_TEXT, &out->pki_noted);
    rec_read_str(&r, obj, "pkiRef", REC_MAX_TEXT, &out->pki_ref);
    rec_read_int(&r, obj, "pkiPendingSince", 0, REC_TIME_MAX,
                 &out->pki_pending_since, NULL);
    rec_read_buf(&r, obj, "cert", out->cert, sizeof(out->cert));
    rec_read_problem(&r, obj, "error", &out->error);
    rec_read_extra(&r, obj, known, &out->extra);
    out->status = (enum order_status)status;
    if (r.rc != AP_OK && why != NULL && whylen > 0) {
        (void)snprintf(why, whylen, "%s", r.why);
    }
    return r.rc;
}

ap_err
rec_order_encode(const struct order *o, cJSON **out)
{
    struct rec_writer w = { AP_OK };
    cJSON *obj = rec_write_object(&w);
    cJSON *arr;

    *out = NULL;
    rec_put_int(&w, obj, "v", REC_VERSION);
    rec_put_str(&w, obj, "id", o->id);
    rec_put_str(&w, obj, "account", o->account);
    rec_put_str(&w, obj, "status", order_status_name(o->status));
    rec_put_int(&w, obj, "created", o->created);
    rec_put_int(&w, obj, "expires", o->expires);
    /* 0 and the default adapter read back from an absent member */
    if (o->not_before != 0) {
        rec_put_int(&w, obj, "notBefore", o->not_before);
    }
    if (o->not_after != 0) {
        rec_put_int(&w, obj, "notAfter", o->not_after);
    }
    rec_put_str(&w, obj, "profile", o->profile);
    rec_put_str(&w, obj, "template", o->template_name);
    if (o->adapter != NULL &&
        strcmp(o->adapter, CONFIG_DEFAULT_ADAPTER) != 0) {
        rec_put_str(&w, obj, "adapter", o->adapter);
    }
    if (o->validity_days != 0) {
        rec_put_int(&w, obj, "validityDays", o->validity_days);
    }
    rec_put_str(&w, obj, "replaces", o->replaces);
    rec_put_str(&w, obj, "replacesCert", o->replaces_cert);
    arr = rec_put_array(&w, obj, "identifiers");
    for (size_t i = 0; i < o->n_idents; i++) {
        rec_push(&w, arr, rec_ident_object(&w, &o->idents[i]));
    }
    arr = rec_put_array(&w, obj, "authzs");
    for (size_t i = 0; i < o->n_authzs; i++) {
        rec_push_str(&w, arr, o->authzs[i]);
    }
    rec_put_str(&w, obj, "csr", o->csr);
    rec_put_str(&w, obj, "csrSpki", o->csr_spki);
    if (o->pki_started != 0) {
        rec_put_int(&w, obj, "pkiStarted", o->pki_started);
    }
    if (o->pki_inflight != 0) {
        rec_put_int(&w, obj, "pkiInflight", o->pki_inflight);
    }
    rec_put_str(&w, obj, "pkiNoted", o->pki_noted);
    rec_put_str(&w, obj, "pkiRef", o->pki_ref);
    if (o->pki_pending_since != 0) {
        rec_put_int(&w, obj, "pkiPendingSince", o->pki_pending_since);
    }
    if (o->cert[0] != '\0') {
        rec_put_str(&w, obj, "cert", o->cert);
    }
    rec_put_problem(&w, obj, "error", o->error);
    rec_put_extra(&w, obj, o->extra);
    if (w.rc != AP_OK) {
        cJSON_Delete(obj);
        return w.rc;
    }
    *out = obj;
    return AP_OK;
}

ap_err
rec_order_get(struct store_txn *txn, const char *id, struct order *out)
{
    cJSON *obj = NULL;
    char why[200];
    ap_err rc;

    memset(out, 0, sizeof(*out));
    rc = store_get_json(txn, STORE_ORDERS, id, &obj);
    if (rc != AP_OK) {
        return rc;
    }
    rc = rec_order_decode(obj, out, why, sizeof(why));
    cJSON_Delete(obj);
    if (rc == AP_ESTORE) {
        rc = rec_bad("orders", id, why);
    }
    if (rc != AP_OK) {
        rec_order_fini(out);
    }
    return rc;
}

ap_err
rec_order_put(struct store_txn *txn, const char *key, const struct order *o,
              bool exclusive)
{
    cJSON *obj = NULL;
    ap_err rc;

    rc = rec_order_encode(o, &obj);
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_ORDERS, key, obj, exclusive);
    }
    cJSON_Delete(obj);
    return rc;
}

ap_err
rec_order_add_ident(struct order *o, const struct rec_ident *id)
{
    struct rec_ident *grown;
    ap_err rc;

    if (o->n_idents >= REC_MAX_LIST) {
        return AP_ETOOBIG;
    }
    grown = realloc(o->idents, (o->n_idents + 1) * sizeof(*grown));
    if (grown == NULL) {
        return AP_ENOMEM;
    }
    o->idents = grown;
    rc = rec_ident_copy(&o->idents[o->n_idents], id);
    if (rc == AP_OK) {
        o->n_idents++;
    }
    return rc;
}

ap_err
rec_order_add_authz(struct order *o, const char *id)
{
    char(*grown)[REC_MAX_ID + 1];

    if (strlen(id) > REC_MAX_ID || o->n_authzs >= REC_MAX_LIST) {
        return AP_EINVAL;
    }
    grown = realloc(o->authzs, (o->n_authzs + 1) * sizeof(*grown));
    if (grown == NULL) {
        return AP_ENOMEM;
    }
    o->authzs = grown;
    memcpy(o->authzs[o->n_authzs++], id, strlen(id) + 1);
    return AP_OK;
}

ap_err
rec_order_set_error(struct order *o, const char *type, const char *detail,
                    int status)
{
    struct rec_problem *p = NULL;
    ap_err rc = rec_problem_new(type, detail, status, &p);

    if (rc == AP_OK) {
        rec_problem_free(o->error);
        o->error = p;
    }
    return rc;
}
