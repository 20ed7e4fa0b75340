/* common/json.c: strict parsing and typed access over cJSON. */
#include "common/json.h"

#include <math.h>
#include <string.h>

static bool
tree_ok(const cJSON *node, int depth)
{
    const cJSON *c;
    const cJSON *d;

    if (depth > JSON_MAX_DEPTH) {
        return false;
    }
    if (cJSON_IsObject(node)) {
        for (c = node->child; c != NULL; c = c->next) {
            for (d = c->next; d != NULL; d = d->next) {
                if (strcmp(c->string, d->string) == 0) {
                    return false;
                }
            }
        }
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        for (c = node->child; c != NULL; c = c->next) {
            if (!tree_ok(c, depth + 1)) {
                return false;
            }
        }
    }
    return true;
}

ap_err
json_parse(const char *text, size_t len, cJSON **out)
{
    const char *end = NULL;
    cJSON *root;

    if (len == 0) {
        return AP_EPARSE;
    }
    /* A NUL inside the text would end cJSON's view of it early. */
    if (memchr(text, '\0', len) != NULL) {
        return AP_EPARSE;
    }
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        return AP_EPARSE;
    }
    for (; end != NULL && end < text + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            cJSON_Delete(root);
            return AP_EPARSE;
        }
    }
    if (!tree_ok(root, 0)) {
        cJSON_Delete(root);
        return AP_EPARSE;
    }
    *out = root;
    return AP_OK;
}

static const cJSON *
member(const cJSON *obj, const char *key)
{
    const cJSON *m;

    if (!cJSON_IsObject(obj)) {
        return NULL;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (m == NULL || cJSON_IsNull(m)) {
        return NULL;
    }
    return m;
}

ap_err
json_get_string(const cJSON *obj, const char *key, size_t maxlen,
                const char **out)
{
    const cJSON *m = member(obj, key);

    if (m == NULL) {
        return AP_ENOTFOUND;
    }
    if (!cJSON_IsString(m) || m->valuestring == NULL ||
        strlen(m->valuestring) > maxlen) {
        return AP_EPARSE;
    }
    *out = m->valuestring;
    return AP_OK;
}

ap_err
json_get_bool(const cJSON *obj, const char *key, bool *out)
{
    const cJSON *m = member(obj, key);

    if (m == NULL) {
        return AP_ENOTFOUND;
    }
    if (!cJSON_IsBool(m)) {
        return AP_EPARSE;
    }
    *out = cJSON_IsTrue(m);
    return AP_OK;
}

ap_err
json_get_array(const cJSON *obj, const char *key, const cJSON **out)
{
    const cJSON *m = member(obj, key);

    if (m == NULL) {
        return AP_ENOTFOUND;
    }
    if (!cJSON_IsArray(m)) {
        return AP_EPARSE;
    }
    *out = m;
    return AP_OK;
}

ap_err
json_get_int(const cJSON *obj, const char *key, long long min, long long max,
             long long *out)
{
    const cJSON *m = member(obj, key);
    double v;

    if (m == NULL) {
        return AP_ENOTFOUND;
    }
    if (!cJSON_IsNumber(m)) {
        return AP_EPARSE;
    }
    v = m->valuedouble;
    if (v != floor(v) || v < (double)min || v > (double)max) {
        return AP_EPARSE;
    }
    *out = (long long)v;
    return AP_OK;
}

const char *
json_str(const cJSON *obj, const char *key, const char *dflt)
{
    const cJSON *m = member(obj, key);

    if (m == NULL || !cJSON_IsString(m)) {
        return dflt;
    }
    return m->valuestring;
}

long long
json_num(const cJSON *obj, const char *key, long long dflt)
{
    const cJSON *m = member(obj, key);

    if (m == NULL || !cJSON_IsNumber(m)) {
        return dflt;
    }
    return (long long)m->valuedouble;
}

/* Sets member key of obj to v (taken), replacing an existing one. */
static ap_err
json_set_item(cJSON *obj, const char *key, cJSON *v)
{
    if (v == NULL) {
        return AP_ENOMEM;
    }
    if (cJSON_HasObjectItem(obj, key)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v)) {
            cJSON_Delete(v);
            return AP_ENOMEM;
        }
        return AP_OK;
    }
    if (!cJSON_AddItemToObject(obj, key, v)) {
        cJSON_Delete(v);
        return AP_ENOMEM;
    }
    return AP_OK;
}

ap_err
json_set_str(cJSON *obj, const char *key, const char *val)
{
    return json_set_item(obj, key, cJSON_CreateString(val));
}

ap_err
json_set_num(cJSON *obj, const char *key, long long val)
{
    return json_set_item(obj, key, cJSON_CreateNumber((double)val));
}
