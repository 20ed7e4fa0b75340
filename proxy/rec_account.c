/* proxy/rec_account.c: the account record's codec (rec_account.h). */
#include "proxy/rec_account.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = { "valid", "deactivated",
                                            "revoked" };
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) ==
                   ACCOUNT__MAX,
               "status_names must cover every account status");

static const char *const known[] = { "v", "id", "status", "jwk",
                                     "thumbprint", "contact", "tos",
                                     "created", "ip", "eab", "team", NULL };

const char *
account_status_name(enum account_status s)
{
    return (unsigned)s < ACCOUNT__MAX ? status_names[s] : "deactivated";
}

void
rec_account_fini(struct account *a)
{
    cJSON_Delete(a->jwk);
    for (size_t i = 0; i < a->n_contact; i++) {
        free(a->contact[i]);
    }
    free(a->contact);
    free(a->eab);
    free(a->team);
    cJSON_Delete(a->extra);
    memset(a, 0, sizeof(*a));
}

/* A list of strings from a JSON array (each at most max bytes). */
static void
read_strings(struct rec_reader *r, const cJSON *arr, size_t n, size_t max,
             const char *what, char ***out, size_t *count)
{
    const cJSON *it;

    *out = NULL;
    *count = 0;
    if (r->rc != AP_OK || n == 0) {
        return;
    }
    *out = calloc(n, sizeof(**out));
    if (*out == NULL) {
        r->rc = AP_ENOMEM;
        return;
    }
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it) || strlen(it->valuestring) > max) {
            rec_read_fail(r, "an item of \"%s\" is not a string of at most "
                          "%zu bytes", what, max);
            return;
        }
        (*out)[*count] = strdup(it->valuestring);
        if ((*out)[*count] == NULL) {
            r->rc = AP_ENOMEM;
            return;
        }
        (*count)++;
    }
}

ap_err
rec_account_decode(const cJSON *obj, struct account *out, char *why,
                   size_t whylen)
{
    struct rec_reader r;
    const cJSON *contact = NULL;
    size_t n = 0;
    int status = ACCOUNT_DEACTIVATED;

    memset(out, 0, sizeof(*out));
    rec_read_begin(&r, obj);
    rec_read_version(&r, obj);
    rec_read_buf(&r, obj, "id", out->id, sizeof(out->id));
    rec_read_enum(&r, obj, "status", status_names, ACCOUNT__MAX,
                  ACCOUNT_DEACTIVATED, &status);
    rec_read_tree(&r, obj, "jwk", cJSON_Object, &out->jwk);
    rec_read_buf(&r, obj, "thumbprint", out->thumbprint,
                 sizeof(out->thumbprint));
    rec_read_array(&r, obj, "contact", ACCOUNT_MAX_CONTACTS, &contact, &n);
    read_strings(&r, contact, n, ACCOUNT_MAX_CONTACT_LEN, "contact",
                 &out->contact, &out->n_contact);
    rec_read_bool(&r, obj, "tos", &out->tos);
    rec_read_int(&r, obj, "created", 0, REC_TIME_MAX, &out->created, NULL);
    rec_read_buf(&r, obj, "ip", out->ip, sizeof(out->ip));
    rec_read_str(&r, obj, "eab", REC_MAX_ID, &out->eab);
    rec_read_str(&r, obj, "team", REC_MAX_SHORT, &out->team);
    rec_read_extra(&r, obj, known, &out->extra);
    out->status = (enum account_status)status;
    if (r.rc != AP_OK && why != NULL && whylen > 0) {
        (void)snprintf(why, whylen, "%s", r.why);
    }
    return r.rc;
}

ap_err
rec_account_encode(const struct account *a, cJSON **out)
{
    struct rec_writer w = { AP_OK };
    cJSON *o = rec_write_object(&w);
    cJSON *contact;

    *out = NULL;
    rec_put_int(&w, o, "v", REC_VERSION);
    rec_put_str(&w, o, "id", a->id);
    rec_put_str(&w, o, "status", account_status_name(a->status));
    rec_put_tree(&w, o, "jwk", a->jwk);
    rec_put_str(&w, o, "thumbprint", a->thumbprint);
    contact = rec_put_array(&w, o, "contact");
    for (size_t i = 0; i < a->n_contact; i++) {
        rec_push_str(&w, contact, a->contact[i]);
    }
    rec_put_bool(&w, o, "tos", a->tos);
    rec_put_int(&w, o, "created", a->created);
    rec_put_str(&w, o, "ip", a->ip);
    rec_put_str(&w, o, "eab", a->eab);
    rec_put_str(&w, o, "team", a->team);
    rec_put_extra(&w, o, a->extra);
    if (w.rc != AP_OK) {
        cJSON_Delete(o);
        return w.rc;
    }
    *out = o;
    return AP_OK;
}

ap_err
rec_account_get(struct store_txn *txn, const char *id, struct account *out)
{
    cJSON *obj = NULL;
    char why[200];
    ap_err rc;

    memset(out, 0, sizeof(*out));
    rc = store_get_json(txn, STORE_ACCOUNTS, id, &obj);
    if (rc != AP_OK) {
        return rc;
    }
    rc = rec_account_decode(obj, out, why, sizeof(why));
    cJSON_Delete(obj);
    if (rc == AP_ESTORE) {
        rc = rec_bad("accounts", id, why);
    }
    if (rc != AP_OK) {
        rec_account_fini(out);
    }
    return rc;
}

ap_err
rec_account_put(struct store_txn *txn, const char *key,
                const struct account *a, bool exclusive)
{
    cJSON *obj = NULL;
    ap_err rc;

    rc = rec_account_encode(a, &obj);
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_ACCOUNTS, key, obj, exclusive);
    }
    cJSON_Delete(obj);
    return rc;
}

ap_err
rec_account_set_contact(struct account *a, const cJSON *arr)
{
    struct rec_reader r;
    char **list = NULL;
    size_t n = 0;

    r.rc = AP_OK;
    r.why[0] = '\0';
    read_strings(&r, arr, (size_t)cJSON_GetArraySize(arr),
                 ACCOUNT_MAX_CONTACT_LEN, "contact", &list, &n);
    if (r.rc != AP_OK) {
        for (size_t i = 0; i < n; i++) {
            free(list[i]);
        }
        free(list);
        return r.rc == AP_ENOMEM ? AP_ENOMEM : AP_EINVAL;
    }
    for (size_t i = 0; i < a->n_contact; i++) {
        free(a->contact[i]);
    }
    free(a->contact);
    a->contact = list;
    a->n_contact = n;
    return AP_OK;
}
