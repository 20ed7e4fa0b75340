/* test/unit/test_json.c: common/json.c, strict parsing and typed getters.
 *
 * json_parse gets a table of texts it must accept and a longer one it must
 * refuse (trailing bytes, NUL, duplicate names, depth, plain syntax). The
 * getters run against one fixed document, a row per key and expectation.
 * Every table row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

/* ---- json_parse ---------------------------------------------------- */

enum deep_kind {
    DEEP_NONE,
    DEEP_ARRAYS_SCALAR, /* n arrays around a 1: [[...[1]...]] */
    DEEP_ARRAYS_EMPTY,  /* n arrays, the innermost empty: [[...[]...]] */
    DEEP_OBJECTS,       /* n objects: {"a":{"a":...{}...}} */
};

struct parse_row {
    const char *name;
    const char *text;
    size_t len;          /* bytes of text (rows may hold a NUL) */
    enum deep_kind deep; /* when set, text is built: deep_n levels */
    int deep_n;
    ap_err want;
    int type;            /* cJSON type of the root when accepted */
};

#define T(s) s, sizeof(s) - 1

static const struct parse_row parse_good[] = {
    { "empty object", T("{}"), DEEP_NONE, 0, AP_OK, cJSON_Object },
    { "empty array", T("[]"), DEEP_NONE, 0, AP_OK, cJSON_Array },
    { "object, trailing white space", T("{\"a\":1} \t\r\n"), DEEP_NONE, 0,
      AP_OK, cJSON_Object },
    { "array, trailing newline", T("[1,\"x\",null]\n"), DEEP_NONE, 0, AP_OK,
      cJSON_Array },
    { "leading white space", T(" \n{\"a\":{\"b\":[1,{\"c\":null}]}}"),
      DEEP_NONE, 0, AP_OK, cJSON_Object },
    { "string value", T("\"str\" "), DEEP_NONE, 0, AP_OK, cJSON_String },
    { "number value", T("-42.5e1\r\n"), DEEP_NONE, 0, AP_OK, cJSON_Number },
    { "true value", T("true"), DEEP_NONE, 0, AP_OK, cJSON_True },
    { "null value", T("null  "), DEEP_NONE, 0, AP_OK, cJSON_NULL },
    { "names that differ only in case", T("{\"a\":1,\"A\":2}"), DEEP_NONE,
      0, AP_OK, cJSON_Object },
    { "one name in two objects", T("{\"a\":{\"x\":1},\"b\":{\"x\":1}}"),
      DEEP_NONE, 0, AP_OK, cJSON_Object },
    { "16 nested arrays around a scalar", NULL, 0, DEEP_ARRAYS_SCALAR, 16,
      AP_OK, cJSON_Array },
    { "16 nested arrays", NULL, 0, DEEP_ARRAYS_EMPTY, 16, AP_OK,
      cJSON_Array },
    { "16 nested objects", NULL, 0, DEEP_OBJECTS, 16, AP_OK, cJSON_Object },
};

static const struct parse_row parse_bad[] = {
    { "empty input", "", 0, DEEP_NONE, 0, AP_EPARSE, 0 },
    { "white space only", T(" \n\t"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "trailing garbage", T("{} x"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "trailing brace", T("{}}"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "two values", T("[] []"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "trailing vertical tab (not JSON white space)", T("{}\v"), DEEP_NONE,
      0, AP_EPARSE, 0 },
    { "trailing form feed", T("{}\f"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "trailing NUL", T("{\"a\":1}\0"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "NUL inside a string", T("{\"a\":\"x\0y\"}"), DEEP_NONE, 0, AP_EPARSE,
      0 },
    { "NUL after white space", T("{} \0 "), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "escaped NUL in a string", T("{\"a\":\"x\\u0000y\"}"), DEEP_NONE, 0,
      AP_EPARSE, 0 },
    { "escaped NUL in a name", T("{\"a\\u0000b\":1}"), DEEP_NONE, 0,
      AP_EPARSE, 0 },
    { "escaped NUL alone", T("[\"\\u0000\"]"), DEEP_NONE, 0, AP_EPARSE,
      0 },
    { "escaped U+0001 is kept", T("[\"\\u0001\"]"), DEEP_NONE, 0, AP_OK,
      cJSON_Array },
    { "escaped backslash then u0000 text", T("[\"\\\\u0000\"]"), DEEP_NONE, 0,
      AP_OK, cJSON_Array },
    { "duplicate name, top level", T("{\"a\":1,\"a\":2}"), DEEP_NONE, 0,
      AP_EPARSE, 0 },
    { "duplicate name, same value", T("{\"a\":null,\"b\":0,\"a\":null}"),
      DEEP_NONE, 0, AP_EPARSE, 0 },
    { "duplicate name, nested object", T("{\"o\":{\"b\":1,\"b\":1}}"),
      DEEP_NONE, 0, AP_EPARSE, 0 },
    { "duplicate name, object in an array", T("[{},{\"b\":1,\"b\":[]}]"),
      DEEP_NONE, 0, AP_EPARSE, 0 },
    { "duplicate name, written with an escape", T("{\"a\":1,\"\\u0061\":2}"),
      DEEP_NONE, 0, AP_EPARSE, 0 },
    { "17 nested arrays around a scalar", NULL, 0, DEEP_ARRAYS_SCALAR, 17,
      AP_EPARSE, 0 },
    /* BUG: json.c counts the depth of values with the root at 0, so 17
     * nested containers pass when the innermost one is empty, while 17
     * around a scalar do not. Input: 17 '[' then 17 ']'. Nesting depth 17
     * is over JSON_MAX_DEPTH (16) and must be refused. */
    { "17 nested arrays (innermost empty)", NULL, 0, DEEP_ARRAYS_EMPTY, 17,
      AP_EPARSE, 0 },
    { "18 nested objects", NULL, 0, DEEP_OBJECTS, 18, AP_EPARSE, 0 },
    { "2000 nested arrays", NULL, 0, DEEP_ARRAYS_EMPTY, 2000, AP_EPARSE, 0 },
    { "trailing comma in array", T("[1,]"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "trailing comma in object", T("{\"a\":1,}"), DEEP_NONE, 0, AP_EPARSE,
      0 },
    { "single quotes", T("{'a':1}"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "unquoted name", T("{a:1}"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "unterminated string", T("\"abc"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "truncated object", T("{\"a\":"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "bad escape", T("\"\\x41\""), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "NaN", T("NaN"), DEEP_NONE, 0, AP_EPARSE, 0 },
    { "hex number", T("0x10"), DEEP_NONE, 0, AP_EPARSE, 0 },
    /* BUG: cJSON takes "01" (a leading zero, RFC 8259 §6 forbids it) and
     * json_parse passes it on. Input: "01". */
    { "number with a leading zero", T("01"), DEEP_NONE, 0, AP_EPARSE, 0 },
    /* BUG: cJSON takes a raw control character inside a string (RFC 8259
     * §7: it must be escaped). Input: "a<TAB>b" in quotes. */
    { "raw tab inside a string", T("{\"a\":\"x\ty\"}"), DEEP_NONE, 0,
      AP_EPARSE, 0 },
};

static char *
deep_text(enum deep_kind kind, int n)
{
    size_t cap = (size_t)n * 8 + 8;
    char *s = malloc(cap);
    size_t o = 0;
    int i;

    assert_non_null(s);
    for (i = 0; i < n; i++) {
        if (kind == DEEP_OBJECTS) {
            /* The innermost object is empty. */
            o += (size_t)snprintf(s + o, cap - o, i + 1 < n ? "{\"a\":" : "{");
        } else {
            s[o++] = '[';
        }
    }
    if (kind == DEEP_ARRAYS_SCALAR) {
        s[o++] = '1';
    }
    for (i = 0; i < n; i++) {
        s[o++] = kind == DEEP_OBJECTS ? '}' : ']';
    }
    s[o] = '\0';
    return s;
}

static void
test_parse(void **state)
{
    const struct parse_row *row = *state;
    cJSON *sentinel = cJSON_CreateNull();
    cJSON *out = sentinel;
    char *built = NULL;
    const char *text = row->text;
    size_t len = row->len;
    bool untouched;
    int type = -1;
    ap_err rc;

    if (row->deep != DEEP_NONE) {
        built = deep_text(row->deep, row->deep_n);
        text = built;
        len = strlen(built);
    }
    rc = json_parse(text, len, &out);
    /* Everything is freed before the asserts, so a failing row does not
     * also show up as a leak. */
    untouched = out == sentinel;
    if (rc == AP_OK && !untouched && out != NULL) {
        type = out->type & 0xff;
        cJSON_Delete(out);
    }
    cJSON_Delete(sentinel);
    free(built);
    assert_int_equal(rc, row->want);
    if (row->want == AP_OK) {
        assert_false(untouched);
        assert_int_equal(type, row->type);
    } else {
        /* *out is left alone on failure. */
        assert_true(untouched);
    }
}

/* The length is honoured: bytes after len are not read. */
static void
test_parse_length(void **state)
{
    cJSON *out = NULL;

    (void)state;
    assert_int_equal(json_parse("{\"a\":1} garbage", 7, &out), AP_OK);
    assert_int_equal(cJSON_GetObjectItem(out, "a")->valueint, 1);
    cJSON_Delete(out);
    out = NULL;
    assert_int_equal(json_parse("{\"a\":1}", 6, &out), AP_EPARSE);
    assert_null(out);
}

/* ---- typed getters -------------------------------------------------- */

static const char doc_text[] =
    "{\"s\":\"abc\",\"e\":\"\",\"long\":\"0123456789\",\"n\":null,"
    "\"i\":42,\"neg\":-7,\"zero\":0,\"f\":1.5,\"big\":1e300,"
    "\"max\":9223372036854775807,\"b\":true,\"bf\":false,"
    "\"a\":[1,2],\"o\":{\"s\":\"inner\"},\"si\":\"42\",\"sb\":\"true\"}";

enum getter { G_STRING, G_BOOL, G_ARRAY, G_INT };

struct get_row {
    const char *name;
    enum getter g;
    const char *key;
    size_t maxlen;        /* G_STRING */
    long long min, max;   /* G_INT */
    ap_err want;
    const char *want_str; /* G_STRING */
    long long want_num;   /* G_INT value, G_BOOL 0/1, G_ARRAY size */
};

static const struct get_row get_good[] = {
    { "string", G_STRING, "s", 3, 0, 0, AP_OK, "abc", 0 },
    { "empty string", G_STRING, "e", 0, 0, 0, AP_OK, "", 0 },
    { "string at maxlen", G_STRING, "long", 10, 0, 0, AP_OK, "0123456789",
      0 },
    { "bool true", G_BOOL, "b", 0, 0, 0, AP_OK, NULL, 1 },
    { "bool false", G_BOOL, "bf", 0, 0, 0, AP_OK, NULL, 0 },
    { "array", G_ARRAY, "a", 0, 0, 0, AP_OK, NULL, 2 },
    { "int in range", G_INT, "i", 0, 0, 100, AP_OK, NULL, 42 },
    { "int at both bounds", G_INT, "i", 0, 42, 42, AP_OK, NULL, 42 },
    { "negative int", G_INT, "neg", 0, -10, 0, AP_OK, NULL, -7 },
    { "zero", G_INT, "zero", 0, 0, 0, AP_OK, NULL, 0 },
};

static const struct get_row get_bad[] = {
    { "string over maxlen", G_STRING, "long", 9, 0, 0, AP_EPARSE, NULL, 0 },
    { "string from a number", G_STRING, "i", 100, 0, 0, AP_EPARSE, NULL, 0 },
    { "string from a bool", G_STRING, "b", 100, 0, 0, AP_EPARSE, NULL, 0 },
    { "string from an array", G_STRING, "a", 100, 0, 0, AP_EPARSE, NULL, 0 },
    { "string from an object", G_STRING, "o", 100, 0, 0, AP_EPARSE, NULL,
      0 },
    { "string from null", G_STRING, "n", 100, 0, 0, AP_ENOTFOUND, NULL, 0 },
    { "string missing", G_STRING, "nope", 100, 0, 0, AP_ENOTFOUND, NULL, 0 },
    { "string, name in another case", G_STRING, "S", 100, 0, 0,
      AP_ENOTFOUND, NULL, 0 },
    { "string of a nested member", G_STRING, "inner", 100, 0, 0,
      AP_ENOTFOUND, NULL, 0 },
    { "bool from a string", G_BOOL, "sb", 0, 0, 0, AP_EPARSE, NULL, 0 },
    { "bool from a number", G_BOOL, "zero", 0, 0, 0, AP_EPARSE, NULL, 0 },
    { "bool from null", G_BOOL, "n", 0, 0, 0, AP_ENOTFOUND, NULL, 0 },
    { "bool missing", G_BOOL, "nope", 0, 0, 0, AP_ENOTFOUND, NULL, 0 },
    { "array from an object", G_ARRAY, "o", 0, 0, 0, AP_EPARSE, NULL, 0 },
    { "array from a string", G_ARRAY, "s", 0, 0, 0, AP_EPARSE, NULL, 0 },
    { "array from null", G_ARRAY, "n", 0, 0, 0, AP_ENOTFOUND, NULL, 0 },
    { "array missing", G_ARRAY, "nope", 0, 0, 0, AP_ENOTFOUND, NULL, 0 },
    { "int below min", G_INT, "i", 0, 43, 100, AP_EPARSE, NULL, 0 },
    { "int above max", G_INT, "i", 0, 0, 41, AP_EPARSE, NULL, 0 },
    { "negative int, min 0", G_INT, "neg", 0, 0, 100, AP_EPARSE, NULL, 0 },
    { "int from a fraction", G_INT, "f", 0, -100, 100, AP_EPARSE, NULL, 0 },
    { "int from 1e300", G_INT, "big", 0, LLONG_MIN, LLONG_MAX, AP_EPARSE,
      NULL, 0 },
    /* BUG: 9223372036854775807 is 2^63 as a double; json.c compares it with
     * (double)LLONG_MAX, also 2^63, lets it through and converts it back to
     * long long, which overflows (LLONG_MIN on x86-64). Input: {"max":
     * 9223372036854775807} with [LLONG_MIN, LLONG_MAX]. A value that
     * cannot be held exactly must be refused. */
    { "int from 2^63", G_INT, "max", 0, LLONG_MIN, LLONG_MAX, AP_EPARSE,
      NULL, 0 },
    { "int from a string", G_INT, "si", 0, 0, 100, AP_EPARSE, NULL, 0 },
    { "int from a bool", G_INT, "b", 0, 0, 100, AP_EPARSE, NULL, 0 },
    { "int from null", G_INT, "n", 0, 0, 100, AP_ENOTFOUND, NULL, 0 },
    { "int missing", G_INT, "nope", 0, 0, 100, AP_ENOTFOUND, NULL, 0 },
};

static cJSON *
doc_parse(void)
{
    cJSON *doc = NULL;

    assert_int_equal(json_parse(doc_text, sizeof(doc_text) - 1, &doc),
                     AP_OK);
    return doc;
}

static void
test_get(void **state)
{
    const struct get_row *row = *state;
    cJSON *doc = doc_parse();
    const char *str = "untouched";
    char str_copy[64];
    const cJSON *arr = NULL;
    int arr_size = -1;
    long long num = 777;
    bool b = true;
    ap_err rc = AP_EINTERNAL;

    switch (row->g) {
    case G_STRING:
        rc = json_get_string(doc, row->key, row->maxlen, &str);
        break;
    case G_BOOL:
        b = row->want_num == 0; /* the opposite of what is expected */
        rc = json_get_bool(doc, row->key, &b);
        break;
    case G_ARRAY:
        rc = json_get_array(doc, row->key, &arr);
        break;
    case G_INT:
        rc = json_get_int(doc, row->key, row->min, row->max, &num);
        break;
    }
    /* Copy out and free before the asserts (no leak on failure). */
    snprintf(str_copy, sizeof(str_copy), "%s", str);
    if (arr != NULL) {
        arr_size = cJSON_GetArraySize(arr);
    }
    cJSON_Delete(doc);
    assert_int_equal(rc, row->want);
    if (row->want == AP_OK) {
        switch (row->g) {
        case G_STRING:
            assert_string_equal(str_copy, row->want_str);
            break;
        case G_BOOL:
            assert_int_equal(b, row->want_num != 0);
            break;
        case G_ARRAY:
            assert_int_equal(arr_size, row->want_num);
            break;
        case G_INT:
            assert_int_equal(num, row->want_num);
            break;
        }
    } else {
        /* Outputs are left alone on failure. */
        assert_string_equal(str_copy, "untouched");
        assert_int_equal(arr_size, -1);
        assert_int_equal(num, 777);
        if (row->g == G_BOOL) {
            assert_int_equal(b, row->want_num == 0);
        }
    }
}

/* Getters on something that is not an object find nothing. */
static void
test_get_not_object(void **state)
{
    cJSON *arr = NULL;
    const char *s = NULL;
    long long v = 0;
    bool b = false;
    const cJSON *a = NULL;

    (void)state;
    assert_int_equal(json_parse("[{\"s\":\"x\"}]", 11, &arr), AP_OK);
    assert_int_equal(json_get_string(arr, "s", 10, &s), AP_ENOTFOUND);
    assert_int_equal(json_get_int(arr, "s", 0, 1, &v), AP_ENOTFOUND);
    assert_int_equal(json_get_bool(arr, "s", &b), AP_ENOTFOUND);
    assert_int_equal(json_get_array(arr, "s", &a), AP_ENOTFOUND);
    assert_int_equal(json_get_string(NULL, "s", 10, &s), AP_ENOTFOUND);
    cJSON_Delete(arr);
}

/* ---- json_int_value: integers someone else wrote -------------------- */

struct int_row {
    const char *name;
    const char *value;   /* a JSON value (parsed as {"v": value}), or NULL
                            for JSON text of json_int_text below */
    const char *text;    /* json_int_text input when value is NULL */
    unsigned kinds;
    long long min, max;
    ap_err want;
    long long want_num;
};

#define NUM JSON_INT_NUMBER
#define STR JSON_INT_STRING
#define ANY (JSON_INT_NUMBER | JSON_INT_STRING)
#define EXACT JSON_INT_EXACT_MAX

static const struct int_row int_good[] = {
    { "int: a request id", "1234", NULL, NUM, 1, INT32_MAX, AP_OK, 1234 },
    { "int: id as digits", "\"1234\"", NULL, ANY, 1, INT32_MAX, AP_OK, 1234 },
    { "int: zero lease", "0", NULL, NUM, 0, 100, AP_OK, 0 },
    { "int: negative in range", "-7", NULL, NUM, -10, 10, AP_OK, -7 },
    { "int: 1e3 is integral", "1e3", NULL, NUM, 0, 5000, AP_OK, 1000 },
    { "int: 2.0 is integral", "2.0", NULL, NUM, 0, 5, AP_OK, 2 },
    { "int: 2^53-1", "9007199254740991", NULL, NUM, -EXACT, EXACT, AP_OK,
      EXACT },
    { "int: -(2^53-1)", "-9007199254740991", NULL, NUM, -EXACT, EXACT, AP_OK,
      -EXACT },
    { "int: 19 digits as text", "\"9223372036854775807\"", NULL, STR,
      LLONG_MIN, LLONG_MAX, AP_OK, LLONG_MAX },
    { "int: at max", "2147483647", NULL, NUM, 1, INT32_MAX, AP_OK,
      INT32_MAX },
    { "int: null is absent", "null", NULL, ANY, 0, 1, AP_ENOTFOUND, 0 },
    { "text: digits", NULL, "1234", 0, 1, INT32_MAX, AP_OK, 1234 },
    { "text: minus", NULL, "-12", 0, -100, 100, AP_OK, -12 },
};

/* Issue 10 point 5: numbers a PKI sent that today's main cast to an
 * integer (undefined behaviour beyond the range) or truncated. */
static const struct int_row int_bad[] = {
    { "int: 5E55", "5E55", NULL, NUM, LLONG_MIN, LLONG_MAX, AP_EPARSE, 0 },
    { "int: 1e400 (infinity)", "1e400", NULL, NUM, LLONG_MIN, LLONG_MAX,
      AP_EPARSE, 0 },
    { "int: -1e400", "-1e400", NULL, NUM, LLONG_MIN, LLONG_MAX, AP_EPARSE,
      0 },
    { "int: 1e300", "1e300", NULL, NUM, 1, INT32_MAX, AP_EPARSE, 0 },
    { "int: -1 below min", "-1", NULL, NUM, 1, INT32_MAX, AP_EPARSE, 0 },
    { "int: 1.5", "1.5", NULL, NUM, 0, 100, AP_EPARSE, 0 },
    { "int: -0.5", "-0.5", NULL, NUM, -10, 10, AP_EPARSE, 0 },
    { "int: 1e-300", "1e-300", NULL, NUM, 0, 10, AP_EPARSE, 0 },
    { "int: 2^53+1 not exact", "9007199254740993", NULL, NUM, LLONG_MIN,
      LLONG_MAX, AP_EPARSE, 0 },
    { "int: 2^63", "9223372036854775808", NULL, NUM, LLONG_MIN, LLONG_MAX,
      AP_EPARSE, 0 },
    { "int: above a 32-bit max", "2147483648", NULL, NUM, 1, INT32_MAX,
      AP_EPARSE, 0 },
    { "int: digits when only numbers", "\"12\"", NULL, NUM, 0, 100,
      AP_EPARSE, 0 },
    { "int: number when only digits", "12", NULL, STR, 0, 100, AP_EPARSE,
      0 },
    { "int: \"12abc\"", "\"12abc\"", NULL, ANY, 0, INT32_MAX, AP_EPARSE,
      0 },
    { "int: \" 12\"", "\" 12\"", NULL, ANY, 0, INT32_MAX, AP_EPARSE, 0 },
    { "int: \"+12\"", "\"+12\"", NULL, ANY, 0, INT32_MAX, AP_EPARSE, 0 },
    { "int: \"1.5\"", "\"1.5\"", NULL, ANY, 0, INT32_MAX, AP_EPARSE, 0 },
    { "int: \"1e3\"", "\"1e3\"", NULL, ANY, 0, INT32_MAX, AP_EPARSE, 0 },
    { "int: empty string", "\"\"", NULL, ANY, 0, INT32_MAX, AP_EPARSE, 0 },
    { "int: \"-\"", "\"-\"", NULL, ANY, -5, 5, AP_EPARSE, 0 },
    { "int: 23 digits", "\"99999999999999999999999\"", NULL, ANY,
      LLONG_MIN, LLONG_MAX, AP_EPARSE, 0 },
    { "int: 2^63 as digits", "\"9223372036854775808\"", NULL, ANY,
      LLONG_MIN, LLONG_MAX, AP_EPARSE, 0 },
    { "int: digits above max", "\"2147483648\"", NULL, ANY, 1, INT32_MAX,
      AP_EPARSE, 0 },
    { "int: \"-1\" below min", "\"-1\"", NULL, ANY, 1, INT32_MAX,
      AP_EPARSE, 0 },
    { "int: true", "true", NULL, ANY, 0, 1, AP_EPARSE, 0 },
    { "int: an array", "[1]", NULL, ANY, 0, 1, AP_EPARSE, 0 },
    { "int: an object", "{\"v\":1}", NULL, ANY, 0, 1, AP_EPARSE, 0 },
    { "text: 12abc", NULL, "12abc", 0, 0, INT32_MAX, AP_EPARSE, 0 },
    { "text: empty", NULL, "", 0, 0, INT32_MAX, AP_EPARSE, 0 },
    { "text: 20 digits", NULL, "18446744073709551616", 0, LLONG_MIN,
      LLONG_MAX, AP_EPARSE, 0 },
    { "text: --1", NULL, "--1", 0, LLONG_MIN, LLONG_MAX, AP_EPARSE, 0 },
};

static void
test_int(void **state)
{
    const struct int_row *row = *state;
    long long n = 777;
    ap_err rc;

    if (row->value != NULL) {
        char doc[200];
        cJSON *root = NULL;

        (void)snprintf(doc, sizeof(doc), "{\"v\":%s}", row->value);
        assert_int_equal(json_parse(doc, strlen(doc), &root), AP_OK);
        rc = json_int_value(cJSON_GetObjectItemCaseSensitive(root, "v"),
                            row->kinds, row->min, row->max, &n);
        cJSON_Delete(root);
    } else {
        rc = json_int_text(row->text, row->min, row->max, &n);
    }
    assert_int_equal(rc, row->want);
    assert_int_equal(n, row->want == AP_OK ? row->want_num : 777);
}

/* A secret tree printed and deleted with the wiping helpers. */
static void
test_wiped_helpers(void **state)
{
    cJSON *obj = cJSON_CreateObject();
    char *text = NULL;
    char big[3000];

    (void)state;
    assert_non_null(obj);
    assert_non_null(cJSON_AddStringToObject(obj, "secret_id", "s3cret"));
    assert_int_equal(json_print_wiped(obj, 4096, &text), AP_OK);
    assert_string_equal(text, "{\"secret_id\":\"s3cret\"}");
    json_free_wiped(text);
    /* Longer than the first try's 1 KiB: grows, within the cap. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_non_null(cJSON_AddStringToObject(obj, "big", big));
    assert_int_equal(json_print_wiped(obj, 8192, &text), AP_OK);
    assert_int_equal(strlen(text), strlen(big) + 31);
    json_free_wiped(text);
    text = NULL;
    assert_int_equal(json_print_wiped(obj, 2048, &text), AP_ETOOBIG);
    assert_null(text);
    json_delete_wiped(obj);
    json_delete_wiped(NULL);
    json_free_wiped(NULL);
}

/* ---- record helpers ------------------------------------------------- */

static void
test_record_helpers(void **state)
{
    cJSON *doc = doc_parse();
    cJSON *obj = cJSON_CreateObject();

    (void)state;
    assert_string_equal(json_str(doc, "s", "d"), "abc");
    assert_string_equal(json_str(doc, "i", "d"), "d");
    assert_string_equal(json_str(doc, "n", "d"), "d");
    assert_string_equal(json_str(doc, "nope", "d"), "d");
    assert_null(json_str(doc, "nope", NULL));
    assert_int_equal(json_num(doc, "i", -1), 42);
    assert_int_equal(json_num(doc, "neg", -1), -7);
    assert_int_equal(json_num(doc, "s", -1), -1);
    assert_int_equal(json_num(doc, "n", -1), -1);
    assert_int_equal(json_num(doc, "nope", 5), 5);

    assert_non_null(obj);
    assert_int_equal(json_set_str(obj, "k", "v1"), AP_OK);
    assert_int_equal(json_set_str(obj, "k", "v2"), AP_OK);
    assert_int_equal(cJSON_GetArraySize(obj), 1);
    assert_string_equal(json_str(obj, "k", ""), "v2");
    assert_int_equal(json_set_num(obj, "n", 1700000000123LL), AP_OK);
    assert_int_equal(json_set_num(obj, "n", -3), AP_OK);
    assert_int_equal(cJSON_GetArraySize(obj), 2);
    assert_int_equal(json_num(obj, "n", 0), -3);
    /* Replacing changes the type too. */
    assert_int_equal(json_set_str(obj, "n", "now a string"), AP_OK);
    assert_int_equal(cJSON_GetArraySize(obj), 2);
    assert_string_equal(json_str(obj, "n", ""), "now a string");
    assert_int_equal(json_num(obj, "n", 9), 9);
    cJSON_Delete(obj);
    cJSON_Delete(doc);
}

/* ---- printing: json_print, json_print_into --------------------------- */

/* A number printed by json_print as cJSON prints it. The value sits in a
 * member, an array and a nested object of one tree, with a string and a
 * raw item beside it; the text must equal cJSON_PrintUnformatted's, and
 * the tree must be as it was afterwards (a number again, no text). */
struct print_row {
    const char *name;
    double value;
};

static const struct print_row print_rows[] = {
    { "print: 0", 0.0 },
    { "print: -0", -0.0 },
    { "print: 1", 1.0 },
    { "print: -1", -1.0 },
    { "print: INT_MAX", 2147483647.0 },
    { "print: INT_MAX + 1", 2147483648.0 },
    { "print: below INT_MIN", -2147483649.0 },
    { "print: ms timestamp", 1733395200123.0 },
    { "print: 15 digits", 999999999999999.0 },
    { "print: -15 digits", -999999999999999.0 },
    { "print: 1e15 (cJSON's exponent)", 1e15 },
    { "print: -1e15", -1e15 },
    { "print: 2^53 - 1", 9007199254740991.0 },
    { "print: 1e300", 1e300 },
    { "print: a half", 1.5 },
    { "print: -0.25", -0.25 },
    { "print: 0.1", 0.1 },
    { "print: fraction of a large one", 123456789012.5 },
    { "print: just below 1", 0.9999999999999999 },
    { "print: infinity", HUGE_VAL },
    { "print: NaN", NAN },
};

static cJSON *
print_tree(double v)
{
    cJSON *t = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(t, "a");
    cJSON *o = cJSON_AddObjectToObject(t, "o");

    assert_non_null(arr);
    assert_non_null(o);
    assert_non_null(cJSON_AddNumberToObject(t, "n", v));
    assert_true(cJSON_AddItemToArray(arr, cJSON_CreateNumber(v)));
    assert_true(cJSON_AddItemToArray(arr, cJSON_CreateNumber(7)));
    assert_non_null(cJSON_AddNumberToObject(o, "x", v));
    assert_non_null(cJSON_AddStringToObject(o, "s", "12"));
    assert_non_null(cJSON_AddRawToObject(o, "r", "[1,2]"));
    return t;
}

/* Every number of t is a number with no text and the value v or 7. */
static void
assert_numbers_intact(const cJSON *t, double v)
{
    const cJSON *items[] = {
        cJSON_GetObjectItemCaseSensitive(t, "n"),
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "a"), 0),
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(t, "o"), "x"),
    };
    const cJSON *seven =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "a"), 1);
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(t, "o"), "r");

    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        assert_true(cJSON_IsNumber(items[i]));
        assert_null(items[i]->valuestring);
        if (isnan(v)) {
            assert_true(isnan(items[i]->valuedouble));
        } else {
            assert_memory_equal(&items[i]->valuedouble, &v, sizeof(v));
        }
    }
    assert_true(cJSON_IsNumber(seven));
    assert_null(seven->valuestring);
    assert_true(cJSON_IsRaw(raw));
    assert_string_equal(raw->valuestring, "[1,2]");
}

static void
test_print_row(void **state)
{
    const struct print_row *row = *state;
    cJSON *t = print_tree(row->value);
    char *want = cJSON_PrintUnformatted(t);
    char *got;
    char buf[512];

    assert_non_null(want);
    got = json_print(t);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_numbers_intact(t, row->value);
    assert_true(json_print_into(t, buf, (int)sizeof(buf)));
    assert_string_equal(buf, want);
    assert_numbers_intact(t, row->value);
    /* Too small a buffer fails as cJSON's does, the tree restored. */
    assert_false(json_print_into(t, buf, (int)strlen(want)));
    assert_numbers_intact(t, row->value);
    cJSON_free(got);
    cJSON_free(want);
    cJSON_Delete(t);
}

/* More numbers than one print takes over (INT_SWAP_MAX, 128): the rest are
 * cJSON's, the text the same; deep trees likewise. */
static void
test_print_many(void **state)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON *deep = cJSON_CreateArray();
    cJSON *inner = deep;
    char *want;
    char *got;

    (void)state;
    for (int i = 0; i < 300; i++) {
        assert_true(cJSON_AddItemToArray(
            arr, cJSON_CreateNumber(1733395200000.0 + i * 7)));
    }
    want = cJSON_PrintUnformatted(arr);
    got = json_print(arr);
    assert_string_equal(got, want);
    for (int i = 0; i < 300; i++) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);

        assert_true(cJSON_IsNumber(it));
        assert_null(it->valuestring);
    }
    cJSON_free(got);
    cJSON_free(want);
    /* 70 arrays deep, a number at each level. */
    for (int i = 0; i < 70; i++) {
        cJSON *next = cJSON_CreateArray();

        assert_true(cJSON_AddItemToArray(inner, cJSON_CreateNumber(-i)));
        assert_true(cJSON_AddItemToArray(inner, next));
        inner = next;
    }
    want = cJSON_PrintUnformatted(deep);
    got = json_print(deep);
    assert_string_equal(got, want);
    cJSON_free(got);
    cJSON_free(want);
    cJSON_Delete(arr);
    cJSON_Delete(deep);
}

/* json_member finds what cJSON_GetObjectItemCaseSensitive finds: the first
 * of two members of one name, names that share a first byte, "". */
static void
test_member(void **state)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    const char *names[] = { "ab", "a", "abc", "", "b", "zz", "A" };

    (void)state;
    assert_non_null(cJSON_AddNumberToObject(o, "ab", 1));
    assert_non_null(cJSON_AddNumberToObject(o, "a", 2));
    assert_non_null(cJSON_AddNumberToObject(o, "abc", 3));
    assert_non_null(cJSON_AddNumberToObject(o, "", 4));
    assert_non_null(cJSON_AddNumberToObject(o, "a", 5));
    assert_non_null(cJSON_AddNullToObject(o, "b"));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_ptr_equal(json_member(o, names[i]),
                         cJSON_GetObjectItemCaseSensitive(o, names[i]));
    }
    assert_int_equal(json_member(o, "a")->valuedouble, 2);
    assert_true(cJSON_IsNull(json_member(o, "b")));
    assert_null(json_member(o, "zz"));
    assert_null(json_member(NULL, "a"));
    assert_null(json_member(o, NULL));
    assert_true(cJSON_AddItemToArray(arr, cJSON_CreateNumber(1)));
    assert_null(json_member(arr, "a"));
    cJSON_Delete(o);
    cJSON_Delete(arr);
}

/* ---- runner -------------------------------------------------------- */


int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(parse_bad) >= N_ROWS(parse_good),
                   "bad parse table at least as long as the good one");
    _Static_assert(N_ROWS(get_bad) >= N_ROWS(get_good),
                   "bad getter table at least as long as the good one");
    _Static_assert(N_ROWS(int_bad) >= N_ROWS(int_good),
                   "bad integer table at least as long as the good one");
    ADD_ROWS(&l, parse_good, test_parse);
    ADD_ROWS(&l, parse_bad, test_parse);
    add_test(&l, "parse honours the length", test_parse_length, NULL);
    ADD_ROWS(&l, get_good, test_get);
    ADD_ROWS(&l, get_bad, test_get);
    add_test(&l, "getters on a non-object", test_get_not_object, NULL);
    add_test(&l, "record helpers", test_record_helpers, NULL);
    ADD_ROWS(&l, int_good, test_int);
    ADD_ROWS(&l, int_bad, test_int);
    add_test(&l, "wiped print and delete", test_wiped_helpers, NULL);
    ADD_ROWS(&l, print_rows, test_print_row);
    add_test(&l, "print: many numbers, deep trees", test_print_many, NULL);
    add_test(&l, "member: as cJSON finds it", test_member, NULL);

    failed = _cmocka_run_group_tests("json", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
