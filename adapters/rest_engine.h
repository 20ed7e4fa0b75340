/* adapters/rest_engine.h: the template engine of the generic REST
 * adapter (adapters/rest.c). Pure: no I/O, no state; thread-safe.
 *
 * The adapter's JSON description (docs/adapters.md, PKI-APIS.md §10)
 * gives each operation a method, a URL, headers, a body template,
 * "expect" rules and "extract" pointers. This engine does every part of
 * that which needs no network:
 *   - RFC 6901 JSON pointers into a document (rest_pointer*);
 *   - rendering the templates with the values of one call (rest_render*).
 *     Templates are JSON trees, not text: a string that is exactly one
 *     placeholder takes the placeholder's typed value, other strings are
 *     concatenated text that cJSON escapes, so no CSR or name can inject
 *     JSON. Placeholders in URLs are percent-encoded unless marked |raw.
 *     Secrets ({{secret:NAME}}) come from a name -> value object the
 *     caller holds;
 *   - a PKI's answer through an operation's expect rules (status, an
 *     optional JSON-pointer condition -> outcome) and extract pointers
 *     (rest_classify here; rest_parse and the login answer's
 *     rest_parse_login in adapters/parse.h).
 * test/unit/test_rest.c tests it with tables, test/fuzz/fuzz_rest.c with
 * any answer. */
#ifndef AP_ADAPTERS_REST_ENGINE_H
#define AP_ADAPTERS_REST_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "adapters/adapter.h"
#include "adapters/parse.h"
#include "common/err.h"

#define REST_MAX_TEXT 131072 /* bytes of one rendered text */
#define REST_MAX_DEPTH 12    /* nesting of a template */

/* The values a template may name, for one call. All borrowed. */
struct rest_vars {
    const struct adapter_request *req; /* submit; NULL for poll/revoke */
    const char *ref;                   /* poll: the stored reference */
    const char *cert_pem;              /* revoke */
    const char *serial_hex;            /* revoke, lower-case hex */
    const char *issuer_dn;             /* revoke, RFC 4514 */
    int reason;                        /* revoke */
    const cJSON *reason_map;           /* "1" -> "KEY_COMPROMISE"; may be NULL */
    const char *base_url;
    const char *token;                 /* result of the login step */
    const cJSON *jwts;                 /* name -> minted JWT string */
    long long now;
};

/* RFC 6901 JSON pointer into root; "" is root. A last token "*" joins a
 * string array (rest_pointer_text only). NULL when absent or malformed. */
const cJSON *rest_pointer(const cJSON *root, const char *ptr);
/* The pointed-at value as text: a string as is, a number or bool printed,
 * an array of strings joined with sep. NULL when absent (caller frees). */
char *rest_pointer_text(const cJSON *root, const char *ptr, const char *sep);

/* Expands every "{{name}}" in the template tree (borrowed) into a new
 * tree: a string that is exactly one placeholder takes the typed value
 * (array, number), other strings get the text. Unknown placeholders are
 * AP_EINVAL with the name in errbuf. secrets (may be NULL) resolves
 * {{secret:NAME}} from a name -> value object. */
AP_MUST_CHECK ap_err rest_render(const cJSON *tmpl, const struct rest_vars *v,
                                 const cJSON *secrets, cJSON **out,
                                 char *errbuf, size_t errlen);
/* Expands placeholders in text; with url_escape, values are
 * percent-encoded (a "|raw" suffix and {{base_url}} are not). */
AP_MUST_CHECK ap_err rest_render_text(const char *text,
                                      const struct rest_vars *v,
                                      const cJSON *secrets, bool url_escape,
                                      char **out, char *errbuf,
                                      size_t errlen);

/* One operation's answer through its "expect" rules and "extract"
 * pointers (op is the operation object of the config). For revoke and
 * health, ISSUED means ok. */
enum adapter_outcome rest_classify(const cJSON *op, long status,
                                   const char *body, long retry_after,
                                   struct adapter_result *res);

/* Whether status is listed: list is one number or an array of numbers
 * (HTTP statuses, 100-999; anything else in the config matches nothing);
 * a NULL list lists every status. */
bool rest_status_in(const cJSON *list, long status);

#endif /* AP_ADAPTERS_REST_ENGINE_H */
