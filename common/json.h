/* common/json.h: strict JSON input through cJSON.
 *
 * Parsing takes an explicit length (the buffer is already capped by the
 * HTTP layer), refuses trailing bytes other than white space, refuses
 * duplicate member names in any object (RFC 8259 leaves them undefined;
 * for signed ACME requests two readings of one object are a risk) and caps
 * nesting depth. Typed getters never coerce types. Thread-safe. */
#ifndef AP_COMMON_JSON_H
#define AP_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

#define JSON_MAX_DEPTH 16

/* Parses len bytes into a new cJSON tree (caller deletes). AP_EPARSE for
 * anything that is not one JSON value within the limits above. */
AP_MUST_CHECK ap_err json_parse(const char *text, size_t len, cJSON **out);

/* The string member key of obj. AP_ENOTFOUND: absent (or JSON null);
 * AP_EPARSE: present but not a string, or longer than maxlen. */
AP_MUST_CHECK ap_err json_get_string(const cJSON *obj, const char *key,
                                     size_t maxlen, const char **out);
/* The boolean member key. AP_ENOTFOUND / AP_EPARSE as above. */
AP_MUST_CHECK ap_err json_get_bool(const cJSON *obj, const char *key,
                                   bool *out);
/* The member key when it is an array (AP_ENOTFOUND / AP_EPARSE). */
AP_MUST_CHECK ap_err json_get_array(const cJSON *obj, const char *key,
                                    const cJSON **out);
/* The integer member key within [min, max] (AP_ENOTFOUND / AP_EPARSE, as
 * json_int_value with JSON_INT_NUMBER). */
AP_MUST_CHECK ap_err json_get_int(const cJSON *obj, const char *key,
                                  long long min, long long max,
                                  long long *out);

/* RFC 8259 §6: integers in [-(2^53 - 1), 2^53 - 1] are exact in every
 * implementation. Beyond them a double no longer holds each integer, so a
 * number there is refused rather than silently rounded. */
#define JSON_INT_EXACT_MAX 9007199254740991LL

enum {                          /* json_int_value kinds */
    JSON_INT_NUMBER = 1u << 0,  /* a JSON number */
    JSON_INT_STRING = 1u << 1   /* a string of ASCII digits, '-' first */
};

/* Reads an integer someone else wrote (a PKI's answer, a request) from
 * the value v, of a kind that kinds allows. AP_OK with *out set only when
 * the value is integral and within [min, max]; AP_ENOTFOUND when v is
 * NULL or JSON null; AP_EPARSE otherwise: another type, a fraction, a
 * number beyond +-JSON_INT_EXACT_MAX (1e300, 5E55, 1e400 which cJSON
 * holds as infinity), a string with anything but digits after an
 * optional '-', or with more than 19 digits. A double is converted to an
 * integer only after it was found in range. Thread-safe. */
AP_MUST_CHECK ap_err json_int_value(const cJSON *v, unsigned kinds,
                                    long long min, long long max,
                                    long long *out);
/* The same for text outside JSON (an id inside a PKI's message): s is
 * ASCII digits with an optional '-' first, at most 19 digits, and the
 * value within [min, max]; AP_EPARSE otherwise. */
AP_MUST_CHECK ap_err json_int_text(const char *s, long long min,
                                   long long max, long long *out);

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 when it is
 * not well formed (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
size_t json_utf8_len(const unsigned char *p, size_t n);

/* Record helpers for trusted JSON we wrote ourselves: the string value or
 * dflt, the number value or dflt. Never for what a peer sent: a PKI's or a
 * client's numbers go through json_int_value / json_get_int. */
const char *json_str(const cJSON *obj, const char *key, const char *dflt);
long long json_num(const cJSON *obj, const char *key, long long dflt);
/* Sets (replacing) a string / number member; AP_ENOMEM on failure. */
AP_MUST_CHECK ap_err json_set_str(cJSON *obj, const char *key,
                                  const char *val);
AP_MUST_CHECK ap_err json_set_num(cJSON *obj, const char *key, long long val);

/* Member key of obj as cJSON_GetObjectItemCaseSensitive finds it (the
 * first of that name), or NULL; JSON null is returned as it is. */
const cJSON *json_member(const cJSON *obj, const char *key);

/* cJSON_PrintUnformatted (free with cJSON_free) and cJSON_PrintPreallocated
 * (unformatted; false when buf is too small), the same text, faster for
 * integers: see json.c. v is written while it prints (and restored): no
 * other thread may read it meanwhile. */
char *json_print(const cJSON *v);
bool json_print_into(const cJSON *v, char *buf, int len);

/* For trees that hold a secret (a login answer with its token, a request
 * body with a password): json_delete_wiped overwrites every string and
 * member name of v before cJSON_Delete (accepts NULL); json_print_wiped
 * prints v unformatted into a buffer of at most cap bytes without the
 * reallocations of cJSON_PrintUnformatted, which would leave copies in
 * freed memory (free the result with json_free_wiped). AP_ETOOBIG past
 * cap, AP_ENOMEM. */
void json_delete_wiped(cJSON *v);
AP_MUST_CHECK ap_err json_print_wiped(const cJSON *v, size_t cap,
                                      char **out);
void json_free_wiped(char *text);

#endif /* AP_COMMON_JSON_H */
