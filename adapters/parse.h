/* adapters/parse.h: what each back end makes of its PKI's answers.
 *
 * Pure functions from one HTTP answer (status, body bytes, content type)
 * to an adapter outcome and result, with no I/O and no state: submit and
 * poll call them with what httpc received, the unit tests with tables of
 * real and broken answers, and test/fuzz/fuzz_<adapter>.c with anything.
 *
 * Every function reads the body within body_len only (it need not be
 * NUL-terminated and may hold NUL bytes), fills res as adapter.h says
 * (caller-zeroed, released with adapter_result_clear) and never fails
 * otherwise: a malformed answer is ADAPTER_RETRY with a detail saying so.
 * Numbers in answers are read with json_int_value (integral and in range,
 * or malformed); texts a PKI sends reach res->detail cleaned of control
 * characters and capped (adapter_fail). Thread-safe. */
#ifndef AP_ADAPTERS_PARSE_H
#define AP_ADAPTERS_PARSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "adapters/adapter.h"

/* The longest Retry-After a PKI can ask for; longer is clamped. */
#define ADAPTER_MAX_RETRY_AFTER 86400

/* One answer of a PKI, borrowed for the call. */
struct adapter_answer {
    long status;               /* HTTP status; 0: no answer */
    const char *body;          /* may be NULL */
    size_t body_len;           /* bytes of body */
    const char *content_type;  /* Content-Type, may be NULL */
    long retry_after;          /* Retry-After seconds; -1: none */
};

/* EJBCA: pkcs10enroll and finalize. 201 base64 DER certificate and
 * chain; 202 info answer with request_id (a positive 32-bit integer, as
 * number or digits) or "Request with Id 'N'": PENDING with ref N; error
 * bodies {"error_code", "error_message"}. */
enum adapter_outcome ejbca_parse(const struct adapter_answer *a,
                                 struct adapter_result *res);

/* Vault / OpenBao: POST <mount>/sign/<role> ({"data":{...}} envelope,
 * {"errors":[...]} for any status >= 400). Never PENDING. */
enum adapter_outcome vault_parse_sign(const struct adapter_answer *a,
                                      struct adapter_result *res);
/* Vault AppRole login answer: *token (a copy; adapter_secret_free it) and
 * *lease_sec, auth.lease_duration in [0, VAULT_MAX_LEASE] (0 when
 * absent). AP_EINVAL when Vault refused (errbuf has its errors),
 * AP_EPARSE when the answer is malformed (errbuf says what), AP_ENOMEM.
 * The token never reaches errbuf. */
#define VAULT_MAX_LEASE 2147483647LL
#define VAULT_MAX_TOKEN 4096
AP_MUST_CHECK ap_err vault_parse_login(const struct adapter_answer *a,
                                       char **token, long long *lease_sec,
                                       char *errbuf, size_t errlen);

/* step-ca: POST /1.0/sign. 201 {crt, ca, certChain}; errors {status,
 * message}. */
enum adapter_outcome stepca_parse(const struct adapter_answer *a,
                                  struct adapter_result *res);

/* AD CS certfnsh.asp page (HTML, read with libxml2's HTML parser):
 * ISSUED means "fetch certnew.cer with the request id now in reqid" (res
 * untouched); PENDING sets res->ref; REJECTED carries the disposition
 * message, entities decoded, white space collapsed, capped. */
enum adapter_outcome adcs_parse_submit(const struct adapter_answer *a,
                                       struct adapter_result *res,
                                       char *reqid, size_t reqid_len);
/* AD CS certnew.cer answer: the certificate (content type
 * application/pkix-cert), or the pending / denied page. */
enum adapter_outcome adcs_parse_fetch(const struct adapter_answer *a,
                                      struct adapter_result *res);
/* The disposition text of a certsrv page into out (at most len - 1
 * bytes, cut on a UTF-8 boundary): the quoted message after "The
 * disposition message is", or else the value after the "Disposition
 * message:" label (or "LastStatus:" when last_status). Entities decoded,
 * runs of white space one space, control characters dropped. Empty when
 * the page has none. */
void adcs_disposition(const char *html, size_t len, bool last_status,
                      char *out, size_t outlen);

/* Generic REST: one operation's answer through its "expect" rules and
 * "extract" pointers (op is the operation object of the config, trusted).
 * For revoke and health, ISSUED means ok. A reference, error text or
 * condition that points at a number uses it only when it is an integer
 * within +-JSON_INT_EXACT_MAX. */
enum adapter_outcome rest_parse(const cJSON *op,
                                const struct adapter_answer *a,
                                struct adapter_result *res);
/* The REST login answer: *token at the login block's token_pointer (a
 * copy; adapter_secret_free it) and *ttl_sec at ttl_pointer, an integer
 * (number or digits) in [0, REST_MAX_TTL], 0 when not configured or
 * absent. AP_EINVAL when there is no token or the status is not 2xx,
 * AP_EPARSE when the ttl is malformed, AP_ENOMEM. */
#define REST_MAX_TTL 2147483647LL
AP_MUST_CHECK ap_err rest_parse_login(const cJSON *login,
                                      const struct adapter_answer *a,
                                      char **token, long long *ttl_sec,
                                      char *errbuf, size_t errlen);

/* When to log in again after a login whose lease is lease_sec (0: the
 * PKI named none): two thirds of it after now, or 5 minutes for none.
 * Saturates instead of overflowing. */
long long adapter_renew_at(long long now, long long lease_sec);

#endif /* AP_ADAPTERS_PARSE_H */
