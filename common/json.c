/* common/json.c: strict parsing and typed access over cJSON. */
#include "common/json.h"

#include <math.h>
#include <string.h>

size_t
json_utf8_len(const unsigned char *p, size_t n)
{
    unsigned cp;
    size_t len;

    if (p[0] < 0x80) {
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return len;
}

/* Length of the RFC 8259 §6 number at p, or 0 when it is not one
 * (cJSON also takes "01", "1." and "-"). */
static size_t
number_len(const char *p, size_t n)
{
    size_t i = 0;

    if (i < n && p[i] == '-') {
        i++;
    }
    if (i < n && p[i] == '0') {
        i++;
    } else if (i < n && p[i] >= '1' && p[i] <= '9') {
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
    } else {
        return 0;
    }
    if (i < n && p[i] == '.') {
        size_t d = ++i;

        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i == d) {
            return 0;
        }
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        size_t d;

        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) {
            i++;
        }
        d = i;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i == d) {
            return 0;
        }
    }
    /* A number ends at a structural character or white space. */
    if (i < n && strchr(",]} \t\r\n", p[i]) == NULL) {
        return 0;
    }
    return i;
}

/* The lexical rules cJSON does not enforce: numbers as RFC 8259 §6 has
 * them, no raw control characters in strings (§7), UTF-8 only (§8.1),
 * and no escaped NUL (\u0000), which no ACME or PKI string needs.
 * cJSON still does the parsing; this pass only refuses. */
static bool
lexically_strict(const char *text, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)text[i];

        if (c == '"') {
            for (i++; i < len && text[i] != '"'; ) {
                size_t l;

                c = (unsigned char)text[i];
                if (c < 0x20) {
                    return false;
                }
                if (c == '\\') {
                    /* An escaped NUL would cut the C string a caller
                     * reads: "a\u0000.evil" must not become "a". */
                    if (i + 5 < len && text[i + 1] == 'u' &&
                        memcmp(text + i + 2, "0000", 4) == 0) {
                        return false;
                    }
                    i += 2;
                    continue;
                }
                l = json_utf8_len((const unsigned char *)text + i, len - i);
                if (l == 0) {
                    return false;
                }
                i += l;
            }
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t l = number_len(text + i, len - i);

            if (l == 0) {
                return false;
            }
            i += l;
        } else if (c >= 0x80) {
            return false;
        } else {
            i++;
        }
    }
    return true;
}

static bool
tree_ok(const cJSON *node, int depth)
{
    const cJSON *c;
    const cJSON *d;
    bool container = cJSON_IsObject(node) || cJSON_IsArray(node);

    /* JSON_MAX_DEPTH levels of arrays and objects, whatever is inside. */
    if (container && depth >= JSON_MAX_DEPTH) {
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
    if (memchr(text, '\0', len) != NULL || !lexically_strict(text, len)) {
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
    /* 2^63 and beyond do not fit a long long: refuse before converting. */
    if (v != floor(v) || v >= 9223372036854775808.0 ||
        v < -9223372036854775808.0 || (long long)v < min ||
        (long long)v > max) {
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
