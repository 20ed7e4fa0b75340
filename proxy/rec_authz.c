/* proxy/rec_authz.c: the authorization record's codec (rec_authz.h). */
#include "proxy/rec_authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = { "pending", "valid", "invalid",
                                            "deactivated", "expired",
                                            "revoked" };
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == AUTHZ__MAX,
               "status_names must cover every authz status");

static const char *const chall_names[] = { "pending", "processing", "valid",
                                           "invalid" };
_Static_assert(sizeof(chall_names) / sizeof(chall_names[0]) == CHALL__MAX,
               "chall_names must cover every challenge status");

static const char *const known[] = { "v", "id", "account", "order",
                                     "status", "expires", "identifier",
                                     "wildcard", "challenges", NULL };
static const char *const chall_known[] = { "type", "status", "token",
                                           "validated", "address",
                                           "validationRecord", "error",
                                           NULL };

const char *
authz_status_name(enum authz_status s)
{
    return (unsigned)s < AUTHZ__MAX ? status_names[s] : "invalid";
}

const char *
chall_status_name(enum chall_status s)
{
    return (unsigned)s < CHALL__MAX ? chall_names[s] : "invalid";
}

static void
chall_fini(struct challenge *c)
{
    free(c->address);
    cJSON_Delete(c->validation_record);
    rec_problem_free(c->error);
    cJSON_Delete(c->extra);
    memset(c, 0, sizeof(*c));
}

void
rec_authz_drop_challenges(struct authz *a)
{
    for (size_t i = 0; i < a->n_challs; i++) {
        chall_fini(&a->challs[i]);
    }
    free(a->challs);
    a->challs = NULL;
    a->n_challs = 0;
}

void
rec_authz_fini(struct authz *a)
{
    rec_ident_fini(&a->ident);
    for (size_t i = 0; i < a->n_challs; i++) {
        chall_fini(&a->challs[i]);
    }
    free(a->challs);
    cJSON_Delete(a->extra);
    memset(a, 0, sizeof(*a));
}

static void
read_chall(struct rec_reader *r, const cJSON *v, struct challenge *c)
{
    int status = CHALL_INVALID;

    if (!cJSON_IsObject(v)) {
        rec_read_fail(r, "a challenge is not an object");
        return;
    }
    rec_read_buf(r, v, "type", c->type, sizeof(c->type));
    rec_read_enum(r, v, "status", chall_names, CHALL__MAX, CHALL_INVALID,
                  &status);
    rec_read_buf(r, v, "token", c->token, sizeof(c->token));
    rec_read_int(r, v, "validated", 0, REC_TIME_MAX, &c->validated, NULL);
    rec_read_str(r, v, "address", REC_MAX_SHORT, &c->address);
    rec_read_tree(r, v, "validationRecord", cJSON_Array,
                  &c->validation_record);
    rec_read_problem(r, v, "error", &c->error);
    rec_read_extra(r, v, chall_known, &c->extra);
    c->status = (enum chall_status)status;
}

ap_err
rec_authz_decode(const cJSON *obj, struct authz *out, char *why,
                 size_t whylen)
{
    struct rec_reader r;
    const cJSON *ident;
    const cJSON *arr = NULL;
    const cJSON *it;
    size_t n = 0;
    int status = AUTHZ_INVALID;

    memset(out, 0, sizeof(*out));
    rec_read_begin(&r, obj);
    rec_read_version(&r, obj);
    rec_read_buf(&r, obj, "id", out->id, sizeof(out->id));
    rec_read_buf(&r, obj, "account", out->account, sizeof(out->account));
    rec_read_buf(&r, obj, "order", out->order, sizeof(out->order));
    rec_read_enum(&r, obj, "status", status_names, AUTHZ__MAX, AUTHZ_INVALID,
                  &status);
    rec_read_int(&r, obj, "expires", 0, REC_TIME_MAX, &out->expires, NULL);
    ident = r.rc == AP_OK ? cJSON_GetObjectItemCaseSensitive(obj,
                                                             "identifier")
                          : NULL;
    if (ident != NULL && !cJSON_IsNull(ident)) {
        rec_read_ident(&r, ident, &out->ident);
    }
    rec_read_bool(&r, obj, "wildcard", &out->wildcard);
    rec_read_array(&r, obj, "challenges", AUTHZ_MAX_CHALLENGES + 1, &arr, &n);
    if (r.rc == AP_OK && n > 0) {
        out->challs = calloc(n, sizeof(*out->challs));
        if (out->challs == NULL) {
            r.rc = AP_ENOMEM;
        }
        cJSON_ArrayForEach(it, arr) {
            if (r.rc != AP_OK) {
                break;
            }
            read_chall(&r, it, &out->challs[out->n_challs++]);
        }
    }
    rec_read_extra(&r, obj, known, &out->extra);
    out->status = (enum authz_status)status;
    if (r.rc != AP_OK && why != NULL && whylen > 0) {
        (void)snprintf(why, whylen, "%s", r.why);
    }
    return r.rc;
}

static cJSON *
chall_object(struct rec_writer *w, const struct challenge *c)
{
    cJSON *o = rec_write_object(w);

    rec_put_str(w, o, "type", c->type);
    rec_put_str(w, o, "status", chall_status_name(c->status));
    rec_put_str(w, o, "token", c->token);
    if (c->validated != 0) {
        rec_put_int(w, o, "validated", c->validated);
    }
    rec_put_str(w, o, "address", c->address);
    rec_put_tree(w, o, "validationRecord", c->validation_record);
    rec_put_problem(w, o, "error", c->error);
    rec_put_extra(w, o, c->extra);
    if (w->rc != AP_OK) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

ap_err
rec_authz_encode(const struct authz *a, cJSON **out)
{
    struct rec_writer w = { AP_OK };
    cJSON *obj = rec_write_object(&w);
    cJSON *arr;

    *out = NULL;
    rec_put_ident(&w, obj, "identifier", &a->ident);
    rec_put_int(&w, obj, "v", REC_VERSION);
    rec_put_str(&w, obj, "id", a->id);
    rec_put_str(&w, obj, "account", a->account);
    rec_put_str(&w, obj, "order", a->order);
    rec_put_str(&w, obj, "status", authz_status_name(a->status));
    rec_put_int(&w, obj, "expires", a->expires);
    if (a->wildcard) {
        rec_put_bool(&w, obj, "wildcard", true);
    }
    arr = rec_put_array(&w, obj, "challenges");
    for (size_t i = 0; i < a->n_challs; i++) {
        rec_push(&w, arr, chall_object(&w, &a->challs[i]));
    }
    rec_put_extra(&w, obj, a->extra);
    if (w.rc != AP_OK) {
        cJSON_Delete(obj);
        return w.rc;
    }
    *out = obj;
    return AP_OK;
}

ap_err
rec_authz_get(struct store_txn *txn, const char *id, struct authz *out)
{
    cJSON *obj = NULL;
    char why[200];
    ap_err rc;

    memset(out, 0, sizeof(*out));
    rc = store_get_json(txn, STORE_AUTHZS, id, &obj);
    if (rc != AP_OK) {
        return rc;
    }
    rc = rec_authz_decode(obj, out, why, sizeof(why));
    cJSON_Delete(obj);
    if (rc == AP_ESTORE) {
        rc = rec_bad("authzs", id, why);
    }
    if (rc != AP_OK) {
        rec_authz_fini(out);
    }
    return rc;
}

ap_err
rec_authz_put(struct store_txn *txn, const char *key, const struct authz *a,
              bool exclusive)
{
    cJSON *obj = NULL;
    ap_err rc;

    rc = rec_authz_encode(a, &obj);
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_AUTHZS, key, obj, exclusive);
    }
    cJSON_Delete(obj);
    return rc;
}

ap_err
rec_authz_add_challenge(struct authz *a, const char *type, const char *token)
{
    struct challenge *grown;
    struct challenge *c;

    if (a->n_challs > AUTHZ_MAX_CHALLENGES || strlen(type) > REC_MAX_ID ||
        strlen(token) > REC_MAX_ID) {
        return AP_EINVAL;
    }
    grown = realloc(a->challs, (a->n_challs + 1) * sizeof(*grown));
    if (grown == NULL) {
        return AP_ENOMEM;
    }
    a->challs = grown;
    c = &a->challs[a->n_challs++];
    memset(c, 0, sizeof(*c));
    memcpy(c->type, type, strlen(type) + 1);
    memcpy(c->token, token, strlen(token) + 1);
    c->status = CHALL_PENDING;
    return AP_OK;
}
