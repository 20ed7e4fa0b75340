/* common/json.c: strict parsing and typed access over cJSON. */
#include "common/json.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
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

const cJSON *
json_member(const cJSON *obj, const char *key)
{
    const cJSON *m;

    if (obj == NULL || key == NULL) {
        return NULL;
    }
    /* cJSON_GetObjectItemCaseSensitive's walk (the first member of that
     * name; a member without a name ends it), with the first bytes
     * compared before strcmp: record members mostly differ there. */
    for (m = obj->child; m != NULL && m->string != NULL; m = m->next) {
        if (m->string[0] == key[0] && strcmp(m->string, key) == 0) {
            return m;
        }
    }
    return NULL;
}

static const cJSON *
member(const cJSON *obj, const char *key)
{
    const cJSON *m;

    if (!cJSON_IsObject(obj)) {
        return NULL;
    }
    m = json_member(obj, key);
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

/* At most 19 digits, so the magnitude fits an unsigned long long without
 * overflow checks per step, and a long long after the check below. */
ap_err
json_int_text(const char *s, long long min, long long max, long long *out)
{
    long long v;
    unsigned long long mag = 0;
    bool neg = false;
    size_t digits = 0;

    if (s == NULL) {
        return AP_EPARSE;
    }
    if (*s == '-') {
        neg = true;
        s++;
    }
    for (; *s != '\0'; s++, digits++) {
        if (*s < '0' || *s > '9' || digits >= 19) {
            return AP_EPARSE;
        }
        mag = mag * 10 + (unsigned long long)(*s - '0');
    }
    /* 19 digits stay below 10^19 < 2^64; a long long holds up to 2^63-1
     * (and -2^63, which nobody needs as an id). */
    if (digits == 0 || mag > (unsigned long long)LLONG_MAX) {
        return AP_EPARSE;
    }
    v = neg ? -(long long)mag : (long long)mag;
    if (v < min || v > max) {
        return AP_EPARSE;
    }
    *out = v;
    return AP_OK;
}

ap_err
json_int_value(const cJSON *v, unsigned kinds, long long min, long long max,
               long long *out)
{
    long long n;

    if (v == NULL || cJSON_IsNull(v)) {
        return AP_ENOTFOUND;
    }
    if (cJSON_IsNumber(v) && (kinds & JSON_INT_NUMBER) != 0) {
        double d = v->valuedouble;

        /* isfinite first: 1e400 is infinity, and NaN compares false. The
         * range check is on the double, so the conversion below is of a
         * value a long long holds exactly. */
        if (!isfinite(d) || d != trunc(d) || d > (double)JSON_INT_EXACT_MAX ||
            d < -(double)JSON_INT_EXACT_MAX) {
            return AP_EPARSE;
        }
        n = (long long)d;
    } else if (cJSON_IsString(v) && (kinds & JSON_INT_STRING) != 0 &&
               v->valuestring != NULL) {
        if (json_int_text(v->valuestring, LLONG_MIN, LLONG_MAX, &n) !=
            AP_OK) {
            return AP_EPARSE;
        }
    } else {
        return AP_EPARSE;
    }
    if (n < min || n > max) {
        return AP_EPARSE;
    }
    *out = n;
    return AP_OK;
}

ap_err
json_get_int(const cJSON *obj, const char *key, long long min, long long max,
             long long *out)
{
    return json_int_value(member(obj, key), JSON_INT_NUMBER, min, max, out);
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

/* ---- printing ---------------------------------------------------------- */

/* cJSON 1.7.15 prints every number with "%1.15g" and reads it back with
 * sscanf to see whether 17 digits are needed: ~3,700 instructions per
 * number, 60 numbers a flow (issue 18). json_print and json_print_into
 * hand cJSON the integers as text instead: for the time of the print,
 * each number item that holds an integer of at most 15 digits becomes a
 * raw item whose text is that integer, which cJSON copies as it is, and
 * is a number again afterwards. The text is what "%1.15g" gives for such
 * a value (no exponent below 10^15, no fraction), so the output does not
 * change; everything else (fractions, -0, larger values, past
 * INT_SWAP_MAX numbers or below PRINT_SWAP_DEPTH) is left to cJSON. The
 * tree is const to the caller but written while it prints: it must not be
 * read by another thread meanwhile (the trees printed here are a
 * request's or a record's own). */
#define INT_SWAP_MAX 128
#define PRINT_SWAP_DEPTH 64
#define INT_TEXT_LEN 20     /* "-" and 15 digits, NUL */

struct int_swaps {
    size_t n;
    cJSON *item[INT_SWAP_MAX];
    char text[INT_SWAP_MAX][INT_TEXT_LEN];
};

/* The decimal text of d into out when d is an integer of at most 15
 * digits other than -0; false otherwise. */
static bool
integer_text(double d, char out[INT_TEXT_LEN])
{
    char digits[INT_TEXT_LEN];
    unsigned long long mag;
    size_t n = 0;
    size_t o = 0;

    if (!(d > -1e15 && d < 1e15) || d != floor(d) ||
        (d == 0 && signbit(d))) {
        return false;
    }
    mag = (unsigned long long)(d < 0 ? -d : d);
    do {
        digits[n++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag != 0);
    if (d < 0) {
        out[o++] = '-';
    }
    while (n > 0) {
        out[o++] = digits[--n];
    }
    out[o] = '\0';
    return true;
}

static void
ints_as_raw(cJSON *v, int depth, struct int_swaps *s)
{
    for (; v != NULL; v = v->next) {
        if ((v->type & 0xFF) == cJSON_Number) {
            if (s->n < INT_SWAP_MAX && v->valuestring == NULL &&
                integer_text(v->valuedouble, s->text[s->n])) {
                v->valuestring = s->text[s->n];
                v->type = (v->type & ~0xFF) | cJSON_Raw;
                s->item[s->n++] = v;
            }
        } else if (v->child != NULL && depth < PRINT_SWAP_DEPTH) {
            ints_as_raw(v->child, depth + 1, s);
        }
        if (depth == 0) {
            break; /* the root's siblings are not ours */
        }
    }
}

static void
ints_restore(struct int_swaps *s)
{
    for (size_t i = 0; i < s->n; i++) {
        s->item[i]->type = (s->item[i]->type & ~0xFF) | cJSON_Number;
        s->item[i]->valuestring = NULL;
    }
    s->n = 0;
}

char *
json_print(const cJSON *v)
{
    struct int_swaps s;
    char *text;

    s.n = 0;
    ints_as_raw((cJSON *)(uintptr_t)v, 0, &s);
    text = cJSON_PrintUnformatted(v);
    ints_restore(&s);
    return text;
}

bool
json_print_into(const cJSON *v, char *buf, int len)
{
    struct int_swaps s;
    cJSON_bool ok;

    s.n = 0;
    ints_as_raw((cJSON *)(uintptr_t)v, 0, &s);
    ok = cJSON_PrintPreallocated((cJSON *)(uintptr_t)v, buf, len, false);
    ints_restore(&s);
    return ok != 0;
}

/* Overwrites the strings and member names of v and below. */
static void
wipe_tree(cJSON *v, int depth)
{
    /* json_parse caps depth; a tree built in code is shallow too. */
    if (v == NULL || depth > 64) {
        return;
    }
    for (; v != NULL; v = v->next) {
        if (v->valuestring != NULL) {
            explicit_bzero(v->valuestring, strlen(v->valuestring));
        }
        if (v->string != NULL && (v->type & cJSON_StringIsConst) == 0) {
            explicit_bzero(v->string, strlen(v->string));
        }
        wipe_tree(v->child, depth + 1);
        if (depth == 0) {
            break; /* the root's siblings are not ours */
        }
    }
}

void
json_delete_wiped(cJSON *v)
{
    wipe_tree(v, 0);
    cJSON_Delete(v);
}

ap_err
json_print_wiped(const cJSON *v, size_t cap, char **out)
{
    size_t size = 1024;

    while (size <= cap && size <= INT_MAX) {
        char *text = malloc(size);

        if (text == NULL) {
            return AP_ENOMEM;
        }
        /* Preallocated: cJSON writes into text and fails instead of
         * growing, so no partial copy is ever freed unwiped. */
        if (json_print_into(v, text, (int)size)) {
            *out = text;
            return AP_OK;
        }
        explicit_bzero(text, size);
        free(text);
        size *= 2;
    }
    return AP_ETOOBIG;
}

void
json_free_wiped(char *text)
{
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
}
