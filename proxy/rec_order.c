/* proxy/rec_order.c: the order record's codec (rec_order.h). */
#include "proxy/rec_order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/csr.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"

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

/* The members of o's issuing state (the CSR and the issuer's notes): in
 * the order record of before, and in its own record while processing. */
static void
put_issuing(struct rec_writer *w, cJSON *obj, const struct order *o)
{
    rec_put_str(w, obj, "csr", o->csr);
    rec_put_str(w, obj, "csrSpki", o->csr_spki);
    if (o->pki_started != 0) {
        rec_put_int(w, obj, "pkiStarted", o->pki_started);
    }
    if (o->pki_inflight != 0) {
        rec_put_int(w, obj, "pkiInflight", o->pki_inflight);
    }
    rec_put_str(w, obj, "pkiNoted", o->pki_noted);
    rec_put_str(w, obj, "pkiRef", o->pki_ref);
    if (o->pki_pending_since != 0) {
        rec_put_int(w, obj, "pkiPendingSince", o->pki_pending_since);
    }
}

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
    /* rec_order_put leaves the id out: the key is the id */
    if (o->id[0] != '\0') {
        rec_put_str(&w, obj, "id", o->id);
    }
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
    put_issuing(&w, obj, o);
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

/* ---- the layout in the store (rec_order.h) ---------------------------- */

/* What a pending or ready order reserves: ,"cert":"<id>" and the status
 * growing to "processing". A rewrite pads to the size it read when that
 * is at most this much more (an order of an earlier version that kept its
 * CSR inline shrinks instead of keeping its size as spaces). */
#define ORDER_CERT_MEMBER (sizeof(",\"cert\":\"\"") - 1 + ID_LEN)
#define ORDER_RESERVE (ORDER_CERT_MEMBER + sizeof("processing") - 1)

static const char *const issuing_known[] = {
    "csr", "csrSpki", "pkiStarted", "pkiInflight", "pkiNoted", "pkiRef",
    "pkiPendingSince", NULL
};

static ap_err
issuing_key(const char *id, char *key, size_t keylen)
{
    int n = snprintf(key, keylen, "%s%s", ORDER_ISSUING_PREFIX, id);

    return n > 0 && (size_t)n < keylen ? AP_OK : AP_EINVAL;
}

/* The issuing state of o as its own record. */
static ap_err
issuing_put(struct store_txn *txn, const char *id, const struct order *o)
{
    struct rec_writer w = { AP_OK };
    char key[STORE_MAX_KEY + 1];
    cJSON *obj;
    ap_err rc;

    rc = issuing_key(id, key, sizeof(key));
    if (rc != AP_OK) {
        return rc;
    }
    obj = rec_write_object(&w);
    put_issuing(&w, obj, o);
    rc = w.rc;
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_META, key, obj, false);
    }
    cJSON_Delete(obj);
    return rc;
}

/* Replaces *field with the string member name of obj when present. */
static void
issuing_str(struct rec_reader *r, const cJSON *obj, const char *name,
            size_t max, char **field)
{
    char *s = NULL;

    rec_read_str(r, obj, name, max, &s);
    if (s != NULL) {
        free(*field);
        *field = s;
    }
}

static void
issuing_int(struct rec_reader *r, const cJSON *obj, const char *name,
            long long *field)
{
    long long v = 0;
    bool present = false;

    rec_read_int(r, obj, name, 0, REC_TIME_MAX, &v, &present);
    if (present) {
        *field = v;
    }
}

/* Reads the issuing record of order id into out (none: out unchanged). */
static ap_err
issuing_get(struct store_txn *txn, const char *id, struct order *out)
{
    struct rec_reader r;
    char key[STORE_MAX_KEY + 1];
    cJSON *obj = NULL;
    cJSON *extra = NULL;
    ap_err rc;

    rc = issuing_key(id, key, sizeof(key));
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_META, key, &obj);
    }
    if (rc == AP_ENOTFOUND) {
        return AP_OK;
    }
    if (rc != AP_OK) {
        return rc;
    }
    rec_read_begin(&r, obj);
    issuing_str(&r, obj, "csr", ORDER_MAX_CSR, &out->csr);
    issuing_str(&r, obj, "csrSpki", ORDER_MAX_CSR, &out->csr_spki);
    issuing_int(&r, obj, "pkiStarted", &out->pki_started);
    issuing_int(&r, obj, "pkiInflight", &out->pki_inflight);
    issuing_str(&r, obj, "pkiNoted", REC_MAX_TEXT, &out->pki_noted);
    issuing_str(&r, obj, "pkiRef", REC_MAX_TEXT, &out->pki_ref);
    issuing_int(&r, obj, "pkiPendingSince", &out->pki_pending_since);
    /* a member of a later version is kept nowhere: refuse rather than
     * drop it when this version writes the record back */
    rec_read_extra(&r, obj, issuing_known, &extra);
    if (r.rc == AP_OK && extra != NULL) {
        rec_read_fail(&r, "the issuing record has members this version "
                      "does not know");
    }
    cJSON_Delete(extra);
    cJSON_Delete(obj);
    if (r.rc == AP_ESTORE) {
        return rec_bad("meta", key, r.why);
    }
    if (r.rc == AP_OK) {
        out->issuing_stored = true;
    }
    return r.rc;
}

ap_err
rec_order_get(struct store_txn *txn, const char *id, struct order *out)
{
    cJSON *obj = NULL;
    char *val = NULL;
    size_t len = 0;
    char why[200];
    ap_err rc;

    memset(out, 0, sizeof(*out));
    rc = store_get(txn, STORE_ORDERS, id, &val, &len);
    if (rc != AP_OK) {
        return rc;
    }
    obj = cJSON_ParseWithLength(val, len);
    free(val);
    if (obj == NULL || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return rec_bad("orders", id, "not a JSON object");
    }
    rc = rec_order_decode(obj, out, why, sizeof(why));
    cJSON_Delete(obj);
    if (rc == AP_ESTORE) {
        rc = rec_bad("orders", id, why);
    }
    if (rc == AP_OK && out->id[0] == '\0' && strlen(id) < sizeof(out->id)) {
        memcpy(out->id, id, strlen(id) + 1);
    }
    out->stored_len = len;
    if (rc == AP_OK && out->status == ORDER_PROCESSING) {
        rc = issuing_get(txn, id, out);
    }
    if (rc != AP_OK) {
        rec_order_fini(out);
    }
    return rc;
}

ap_err
rec_order_get_json(struct store_txn *txn, const char *id, cJSON **out)
{
    ap_err rc = store_get_json(txn, STORE_ORDERS, id, out);

    if (rc != AP_OK || cJSON_HasObjectItem(*out, "id")) {
        return rc;
    }
    if (strlen(id) > REC_MAX_ID) {
        cJSON_Delete(*out);
        *out = NULL;
        return rec_bad("orders", id, "a key longer than an id");
    }
    if (cJSON_AddStringToObject(*out, "id", id) == NULL) {
        cJSON_Delete(*out);
        *out = NULL;
        return AP_ENOMEM;
    }
    return AP_OK;
}

ap_err
rec_order_index_key(const char *account, const char *id, char *out,
                    size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s", account, id);

    return n > 0 && (size_t)n < outlen && (size_t)n <= STORE_MAX_KEY
               ? AP_OK
               : AP_EINVAL;
}

ap_err
rec_order_index_scan(struct store_txn *txn, const char *account,
                     long long since, store_scan_fn fn, void *arg)
{
    char prefix[REC_MAX_ID + 3];
    char after[REC_MAX_ID + 32];
    char from[ID_LEN + 1];
    ap_err rc;

    if (strlen(account) > REC_MAX_ID || since < 0) {
        return AP_EINVAL;
    }
    /* earlier versions' keys: created has 12 digits, so begins with 0 */
    snprintf(prefix, sizeof(prefix), "%s/0", account);
    snprintf(after, sizeof(after), "%s/%012lld", account, since);
    rc = store_scan(txn, STORE_ACCOUNT_ORDERS, prefix, after, fn, arg);
    if (rc == AP_OK) {
        rc = id_new_at(since * 1000, from, sizeof(from));
    }
    if (rc != AP_OK) {
        return rc;
    }
    from[ID_TIME_LEN] = '\0';
    snprintf(prefix, sizeof(prefix), "%s/", account);
    snprintf(after, sizeof(after), "%s/%s", account, from);
    return store_scan(txn, STORE_ACCOUNT_ORDERS, prefix, after, fn, arg);
}

/* The size o's record is written at, for its JSON of len bytes. */
static size_t
padded_len(const struct order *o, size_t len)
{
    if (o->stored_len != 0) {
        return o->stored_len >= len && o->stored_len - len <= ORDER_RESERVE
                   ? o->stored_len
                   : len;
    }
    if ((o->status == ORDER_PENDING || o->status == ORDER_READY) &&
        o->cert[0] == '\0') {
        return len + ORDER_CERT_MEMBER + strlen("processing") -
               strlen(order_status_name(o->status));
    }
    return len;
}

ap_err
rec_order_put(struct store_txn *txn, const char *key, const struct order *o,
              bool exclusive)
{
    struct order lean = *o;     /* shallow: borrows o's members */
    cJSON *obj = NULL;
    char *text = NULL;
    char *padded = NULL;
    size_t len;
    size_t size;
    ap_err rc;

    /* the key is the id; the issuing state goes to its own record */
    lean.id[0] = '\0';
    lean.csr = NULL;
    lean.csr_spki = NULL;
    lean.pki_started = 0;
    lean.pki_inflight = 0;
    lean.pki_noted = NULL;
    lean.pki_ref = NULL;
    lean.pki_pending_since = 0;
    rc = rec_order_encode(&lean, &obj);
    if (rc != AP_OK) {
        return rc;
    }
    text = json_print(obj);
    cJSON_Delete(obj);
    if (text == NULL) {
        return AP_ENOMEM;
    }
    len = strlen(text);
    size = padded_len(o, len);
    padded = size > len ? realloc(text, size) : text;
    if (padded == NULL) {
        free(text);
        return AP_ENOMEM;
    }
    memset(padded + len, ' ', size - len);
    rc = store_put(txn, STORE_ORDERS, key, padded, size, exclusive);
    free(padded);
    if (rc == AP_OK && o->status == ORDER_PROCESSING) {
        rc = issuing_put(txn, key, o);
    } else if (rc == AP_OK && o->issuing_stored) {
        char ikey[STORE_MAX_KEY + 1];

        rc = issuing_key(key, ikey, sizeof(ikey));
        if (rc == AP_OK) {
            rc = store_del(txn, STORE_META, ikey);
        }
        if (rc == AP_ENOTFOUND) {
            rc = AP_OK;
        }
    }
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
