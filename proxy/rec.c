/* proxy/rec.c: the field codec the typed records share (rec.h). */
#include "proxy/rec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"

/* ---- reading ------------------------------------------------------- */

void
rec_read_fail(struct rec_reader *r, const char *fmt, ...)
{
    va_list ap;

    if (r->rc != AP_OK) {
        return;
    }
    r->rc = AP_ESTORE;
    va_start(ap, fmt);
    (void)vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
}

void
rec_read_begin(struct rec_reader *r, const cJSON *obj)
{
    r->rc = AP_OK;
    r->why[0] = '\0';
    if (!cJSON_IsObject(obj)) {
        rec_read_fail(r, "not a JSON object");
    }
}

/* The member name of obj, or NULL; a JSON null counts as absent, as
 * json_str read it. */
static const cJSON *
member(const struct rec_reader *r, const cJSON *obj, const char *name)
{
    const cJSON *v;

    if (r->rc != AP_OK || obj == NULL) {
        return NULL;
    }
    v = json_member(obj, name);
    return cJSON_IsNull(v) ? NULL : v;
}

/* The string of member v (named name), checked: NULL when it fails. */
static const char *
string_of(struct rec_reader *r, const cJSON *v, const char *name, size_t max)
{
    size_t len;

    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        rec_read_fail(r, "member \"%s\" is not a string", name);
        return NULL;
    }
    len = strlen(v->valuestring);
    if (len > max) {
        rec_read_fail(r, "member \"%s\" is %zu bytes (at most %zu)", name,
                      len, max);
        return NULL;
    }
    return v->valuestring;
}

void
rec_read_str(struct rec_reader *r, const cJSON *obj, const char *name,
             size_t max, char **out)
{
    const cJSON *v = member(r, obj, name);
    const char *s;

    *out = NULL;
    if (v == NULL) {
        return;
    }
    s = string_of(r, v, name, max);
    if (s == NULL) {
        return;
    }
    *out = strdup(s);
    if (*out == NULL && r->rc == AP_OK) {
        r->rc = AP_ENOMEM;
        (void)snprintf(r->why, sizeof(r->why), "out of memory");
    }
}

void
rec_read_buf(struct rec_reader *r, const cJSON *obj, const char *name,
             char *out, size_t outlen)
{
    const cJSON *v = member(r, obj, name);
    const char *s;

    out[0] = '\0';
    if (v == NULL) {
        return;
    }
    s = string_of(r, v, name, outlen - 1);
    if (s != NULL) {
        memcpy(out, s, strlen(s) + 1);
    }
}

void
rec_read_int(struct rec_reader *r, const cJSON *obj, const char *name,
             long long min, long long max, long long *out, bool *present)
{
    const cJSON *v = member(r, obj, name);
    long long n = 0;

    *out = 0;
    if (present != NULL) {
        *present = false;
    }
    if (v == NULL) {
        return;
    }
    if (json_int_value(v, JSON_INT_NUMBER, min, max, &n) != AP_OK) {
        rec_read_fail(r, "member \"%s\" is not an integer in [%lld, %lld]",
                      name, min, max);
        return;
    }
    *out = n;
    if (present != NULL) {
        *present = true;
    }
}

void
rec_read_bool(struct rec_reader *r, const cJSON *obj, const char *name,
              bool *out)
{
    const cJSON *v = member(r, obj, name);

    *out = false;
    if (v == NULL) {
        return;
    }
    if (!cJSON_IsBool(v)) {
        rec_read_fail(r, "member \"%s\" is not a boolean", name);
        return;
    }
    *out = cJSON_IsTrue(v);
}

void
rec_read_enum(struct rec_reader *r, const cJSON *obj, const char *name,
              const char *const *names, int n, int dflt, int *out)
{
    const cJSON *v = member(r, obj, name);
    const char *s;

    *out = dflt;
    if (v == NULL) {
        return;
    }
    s = string_of(r, v, name, REC_MAX_SHORT);
    if (s == NULL) {
        return;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return;
        }
    }
    rec_read_fail(r, "member \"%s\" is \"%.40s\", not a known value", name,
                  s);
}

void
rec_read_tree(struct rec_reader *r, const cJSON *obj, const char *name,
              int want, cJSON **out)
{
    const cJSON *v = member(r, obj, name);

    *out = NULL;
    if (v == NULL) {
        return;
    }
    if ((v->type & 0xff) != want) {
        rec_read_fail(r, "member \"%s\" is not an %s", name,
                      want == cJSON_Array ? "array" : "object");
        return;
    }
    *out = cJSON_Duplicate(v, 1);
    if (*out == NULL && r->rc == AP_OK) {
        r->rc = AP_ENOMEM;
        (void)snprintf(r->why, sizeof(r->why), "out of memory");
    }
}

void
rec_read_array(struct rec_reader *r, const cJSON *obj, const char *name,
               size_t max, const cJSON **arr, size_t *n)
{
    const cJSON *v = member(r, obj, name);
    int size;

    *arr = NULL;
    *n = 0;
    if (v == NULL) {
        return;
    }
    if (!cJSON_IsArray(v)) {
        rec_read_fail(r, "member \"%s\" is not an array", name);
        return;
    }
    size = cJSON_GetArraySize(v);
    if (size < 0 || (size_t)size > max) {
        rec_read_fail(r, "member \"%s\" has %d items (at most %zu)", name,
                      size, max);
        return;
    }
    *arr = v;
    *n = (size_t)size;
}

/* Whether name is one of known[0..n-1]. The search begins at *at, where
 * the last name was found, and goes round: a record's members come in the
 * order of its known list, so each is mostly found at once. */
static bool
name_known(const char *name, const char *const *known, size_t n, size_t *at)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = (*at + k) % n;

        if (known[i][0] == name[0] && strcmp(known[i], name) == 0) {
            *at = i + 1;
            return true;
        }
    }
    return false;
}

void
rec_read_extra(struct rec_reader *r, const cJSON *obj,
               const char *const *known, cJSON **extra)
{
    const cJSON *m;
    size_t n_known = 0;
    size_t at = 0;

    *extra = NULL;
    if (r->rc != AP_OK) {
        return;
    }
    while (known[n_known] != NULL) {
        n_known++;
    }
    cJSON_ArrayForEach(m, obj) {
        cJSON *copy;

        if (m->string == NULL || name_known(m->string, known, n_known, &at)) {
            continue;
        }
        if (*extra == NULL) {
            *extra = cJSON_CreateObject();
        }
        copy = cJSON_Duplicate(m, 1);
        if (*extra == NULL || copy == NULL ||
            !cJSON_AddItemToObject(*extra, m->string, copy)) {
            cJSON_Delete(copy);
            cJSON_Delete(*extra);
            *extra = NULL;
            r->rc = AP_ENOMEM;
            (void)snprintf(r->why, sizeof(r->why), "out of memory");
            return;
        }
    }
}

void
rec_read_version(struct rec_reader *r, const cJSON *obj)
{
    long long v = 0;
    bool present = false;

    rec_read_int(r, obj, "v", 0, JSON_INT_EXACT_MAX, &v, &present);
    if (present && v != REC_VERSION) {
        rec_read_fail(r, "record version %lld (this proxy reads %d)", v,
                      REC_VERSION);
    }
}

void
rec_read_ident(struct rec_reader *r, const cJSON *v, struct rec_ident *out)
{
    static const char *const known[] = { "type", "value", NULL };

    memset(out, 0, sizeof(*out));
    if (r->rc != AP_OK) {
        return;
    }
    if (!cJSON_IsObject(v)) {
        rec_read_fail(r, "an identifier is not an object");
        return;
    }
    rec_read_buf(r, v, "type", out->type, sizeof(out->type));
    rec_read_str(r, v, "value", REC_MAX_SHORT, &out->value);
    rec_read_extra(r, v, known, &out->extra);
    if (r->rc == AP_OK && out->type[0] != '\0' &&
        strcmp(out->type, "dns") != 0 && strcmp(out->type, "ip") != 0) {
        rec_read_fail(r, "identifier type \"%s\" is neither dns nor ip",
                      out->type);
    }
    if (r->rc != AP_OK) {
        rec_ident_fini(out);
    }
}

void
rec_read_problem(struct rec_reader *r, const cJSON *obj, const char *name,
                 struct rec_problem **out)
{
    static const char *const known[] = { "type", "detail", "status", NULL };
    const cJSON *v = member(r, obj, name);
    struct rec_problem *p;
    long long status = 0;

    *out = NULL;
    if (v == NULL) {
        return;
    }
    if (!cJSON_IsObject(v)) {
        rec_read_fail(r, "member \"%s\" is not an object", name);
        return;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        r->rc = AP_ENOMEM;
        (void)snprintf(r->why, sizeof(r->why), "out of memory");
        return;
    }
    rec_read_str(r, v, "type", REC_MAX_SHORT, &p->type);
    rec_read_str(r, v, "detail", REC_MAX_TEXT, &p->detail);
    rec_read_int(r, v, "status", 0, 599, &status, NULL);
    rec_read_extra(r, v, known, &p->extra);
    p->status = (int)status;
    if (r->rc != AP_OK) {
        rec_problem_free(p);
        return;
    }
    *out = p;
}

/* ---- writing ------------------------------------------------------- */

static void
oom(struct rec_writer *w)
{
    if (w->rc == AP_OK) {
        w->rc = AP_ENOMEM;
    }
}

cJSON *
rec_write_object(struct rec_writer *w)
{
    cJSON *o = w->rc == AP_OK ? cJSON_CreateObject() : NULL;

    if (o == NULL) {
        oom(w);
    }
    return o;
}

void
rec_put_str(struct rec_writer *w, cJSON *obj, const char *name,
            const char *s)
{
    if (w->rc != AP_OK || obj == NULL || s == NULL) {
        return;
    }
    if (cJSON_AddStringToObject(obj, name, s) == NULL) {
        oom(w);
    }
}

void
rec_put_int(struct rec_writer *w, cJSON *obj, const char *name, long long v)
{
    if (w->rc != AP_OK || obj == NULL) {
        return;
    }
    if (cJSON_AddNumberToObject(obj, name, (double)v) == NULL) {
        oom(w);
    }
}

void
rec_put_bool(struct rec_writer *w, cJSON *obj, const char *name, bool v)
{
    if (w->rc != AP_OK || obj == NULL) {
        return;
    }
    if (cJSON_AddBoolToObject(obj, name, v) == NULL) {
        oom(w);
    }
}

void
rec_put_tree(struct rec_writer *w, cJSON *obj, const char *name,
             const cJSON *tree)
{
    cJSON *copy;

    if (w->rc != AP_OK || obj == NULL || tree == NULL) {
        return;
    }
    copy = cJSON_Duplicate(tree, 1);
    if (copy == NULL || !cJSON_AddItemToObject(obj, name, copy)) {
        cJSON_Delete(copy);
        oom(w);
    }
}

void
rec_put_item(struct rec_writer *w, cJSON *obj, const char *name, cJSON *item)
{
    if (w->rc != AP_OK || obj == NULL || item == NULL ||
        !cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        oom(w);
    }
}

cJSON *
rec_put_array(struct rec_writer *w, cJSON *obj, const char *name)
{
    cJSON *arr;

    if (w->rc != AP_OK || obj == NULL) {
        return NULL;
    }
    arr = cJSON_AddArrayToObject(obj, name);
    if (arr == NULL) {
        oom(w);
    }
    return arr;
}

void
rec_push(struct rec_writer *w, cJSON *arr, cJSON *item)
{
    if (w->rc != AP_OK || arr == NULL || item == NULL) {
        cJSON_Delete(item);
        oom(w);
        return;
    }
    if (!cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        oom(w);
    }
}

void
rec_push_str(struct rec_writer *w, cJSON *arr, const char *s)
{
    if (w->rc != AP_OK || arr == NULL) {
        return;
    }
    rec_push(w, arr, cJSON_CreateString(s != NULL ? s : ""));
}

void
rec_put_extra(struct rec_writer *w, cJSON *obj, const cJSON *extra)
{
    const cJSON *m;

    if (extra == NULL) {
        return;
    }
    cJSON_ArrayForEach(m, extra) {
        rec_put_tree(w, obj, m->string, m);
    }
}

cJSON *
rec_ident_object(struct rec_writer *w, const struct rec_ident *id)
{
    cJSON *o = rec_write_object(w);

    rec_put_str(w, o, "type", id->type);
    rec_put_str(w, o, "value", id->value != NULL ? id->value : "");
    rec_put_extra(w, o, id->extra);
    if (w->rc != AP_OK) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void
rec_put_ident(struct rec_writer *w, cJSON *obj, const char *name,
              const struct rec_ident *id)
{
    cJSON *o;

    if (w->rc != AP_OK || obj == NULL) {
        return;
    }
    o = rec_ident_object(w, id);
    if (o != NULL && !cJSON_AddItemToObject(obj, name, o)) {
        cJSON_Delete(o);
        oom(w);
    }
}

cJSON *
rec_idents_json(const struct rec_ident *ids, size_t n)
{
    struct rec_writer w = { AP_OK };
    cJSON *arr = cJSON_CreateArray();

    if (arr == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        rec_push(&w, arr, rec_ident_object(&w, &ids[i]));
    }
    if (w.rc != AP_OK) {
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

void
rec_put_problem(struct rec_writer *w, cJSON *obj, const char *name,
                const struct rec_problem *p)
{
    cJSON *o;

    if (w->rc != AP_OK || obj == NULL || p == NULL) {
        return;
    }
    o = rec_write_object(w);
    rec_put_str(w, o, "type", p->type);
    rec_put_str(w, o, "detail", p->detail);
    if (p->status != 0) {
        rec_put_int(w, o, "status", p->status);
    }
    rec_put_extra(w, o, p->extra);
    if (w->rc != AP_OK || !cJSON_AddItemToObject(obj, name, o)) {
        cJSON_Delete(o);
        oom(w);
    }
}

/* ---- the shared parts ---------------------------------------------- */

void
rec_ident_fini(struct rec_ident *id)
{
    free(id->value);
    cJSON_Delete(id->extra);
    memset(id, 0, sizeof(*id));
}

ap_err
rec_ident_copy(struct rec_ident *dst, const struct rec_ident *src)
{
    memset(dst, 0, sizeof(*dst));
    memcpy(dst->type, src->type, sizeof(dst->type));
    dst->value = strdup(src->value != NULL ? src->value : "");
    if (src->extra != NULL) {
        dst->extra = cJSON_Duplicate(src->extra, 1);
    }
    if (dst->value == NULL || (src->extra != NULL && dst->extra == NULL)) {
        rec_ident_fini(dst);
        return AP_ENOMEM;
    }
    return AP_OK;
}

ap_err
rec_problem_new(const char *type, const char *detail, int status,
                struct rec_problem **out)
{
    struct rec_problem *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (p == NULL) {
        return AP_ENOMEM;
    }
    p->type = strdup(type != NULL ? type : "");
    p->detail = strdup(detail != NULL ? detail : "");
    p->status = status;
    if (p->type == NULL || p->detail == NULL) {
        rec_problem_free(p);
        return AP_ENOMEM;
    }
    *out = p;
    return AP_OK;
}

ap_err
rec_problem_copy(const struct rec_problem *src, struct rec_problem **out)
{
    ap_err rc;

    *out = NULL;
    if (src == NULL) {
        return AP_OK;
    }
    rc = rec_problem_new(src->type, src->detail, src->status, out);
    if (rc == AP_OK && src->extra != NULL) {
        (*out)->extra = cJSON_Duplicate(src->extra, 1);
        if ((*out)->extra == NULL) {
            rec_problem_free(*out);
            *out = NULL;
            rc = AP_ENOMEM;
        }
    }
    return rc;
}

void
rec_problem_free(struct rec_problem *p)
{
    if (p == NULL) {
        return;
    }
    free(p->type);
    free(p->detail);
    cJSON_Delete(p->extra);
    free(p);
}

cJSON *
rec_problem_json(const struct rec_problem *p)
{
    struct rec_writer w = { AP_OK };
    cJSON *holder = rec_write_object(&w);
    cJSON *o = NULL;

    rec_put_problem(&w, holder, "p", p);
    if (w.rc == AP_OK) {
        o = cJSON_DetachItemFromObjectCaseSensitive(holder, "p");
    }
    cJSON_Delete(holder);
    return o;
}

ap_err
rec_set_str(char **field, const char *s)
{
    char *copy = NULL;

    if (s != NULL) {
        copy = strdup(s);
        if (copy == NULL) {
            return AP_ENOMEM;
        }
    }
    free(*field);
    *field = copy;
    return AP_OK;
}

ap_err
rec_bad(const char *table, const char *key, const char *why)
{
    log_err("store", "record %s/%s does not decode: %s", table, key, why);
    return AP_ESTORE;
}
