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
/* The integer member key within [min, max] (AP_ENOTFOUND / AP_EPARSE). */
AP_MUST_CHECK ap_err json_get_int(const cJSON *obj, const char *key,
                                  long long min, long long max,
                                  long long *out);

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 when it is
 * not well formed (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
size_t json_utf8_len(const unsigned char *p, size_t n);

/* Record helpers for trusted JSON we wrote ourselves: the string value or
 * dflt, the number value or dflt. */
const char *json_str(const cJSON *obj, const char *key, const char *dflt);
long long json_num(const cJSON *obj, const char *key, long long dflt);
/* Sets (replacing) a string / number member; AP_ENOMEM on failure. */
AP_MUST_CHECK ap_err json_set_str(cJSON *obj, const char *key,
                                  const char *val);
AP_MUST_CHECK ap_err json_set_num(cJSON *obj, const char *key, long long val);

#endif /* AP_COMMON_JSON_H */
