/* adapters/adapters_int.h: the pure parts of the back ends, exposed for
 * the unit tests (test/unit/test_adapters.c, test_rest.c). Not for the
 * core: it talks to adapters through adapter.h only.
 *
 * Each classify function turns what a PKI answered (status, a
 * NUL-terminated body) into an outcome and fills res the way submit/poll
 * would; none does I/O. They are shorthands for the parse functions of
 * adapters/parse.h, which take the body as bytes with its length. */
#ifndef AP_ADAPTERS_ADAPTERS_INT_H
#define AP_ADAPTERS_ADAPTERS_INT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "adapters/adapter.h"
#include "adapters/parse.h"

/* Vault / OpenBao: POST <mount>/sign/<role>. */
enum adapter_outcome vault_classify(long status, const char *body,
                                    struct adapter_result *res);
/* EJBCA: pkcs10enroll (201, 202 info, errors) and finalize. */
enum adapter_outcome ejbca_classify(long status, const char *body,
                                    struct adapter_result *res);
/* EJBCA lookup: a POST /v1/certificate/search answer. ISSUED with the
 * certificate whose key is csr's (its DER base64-encoded once or twice),
 * NOT_FOUND when none is, RETRY when the answer cannot tell (other
 * status, more_results), UNKNOWN when the search resource is missing. */
struct crypto_csr;
enum adapter_outcome ejbca_search_classify(long status, const char *body,
                                           const struct crypto_csr *csr,
                                           struct adapter_result *res);
/* step-ca: POST /1.0/sign. */
enum adapter_outcome stepca_classify(long status, const char *body,
                                     struct adapter_result *res);
/* AD CS certfnsh.asp page: ISSUED means "fetch certnew.cer with the
 * request id now in reqid" (res untouched); PENDING sets res->ref;
 * REJECTED the disposition message. */
enum adapter_outcome adcs_classify_submit(const char *html,
                                          struct adapter_result *res,
                                          char *reqid, size_t reqid_len);
/* AD CS certnew.cer answer: the certificate (content type
 * application/pkix-cert), or the pending / denied page. */
enum adapter_outcome adcs_classify_fetch(long status, const char *ctype,
                                         const char *body,
                                         struct adapter_result *res);
/* exec: the program's exit status (or -1 when it was killed / timed out)
 * and its stdout. */
enum adapter_outcome exec_classify(int exit_status, const char *out,
                                   size_t len, struct adapter_result *res);

/* Generic REST engine. Values a template may name. */
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

#endif /* AP_ADAPTERS_ADAPTERS_INT_H */
