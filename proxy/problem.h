/* proxy/problem.h: RFC 8555 §6.7 error types and their problem documents
 * (RFC 7807, application/problem+json).
 *
 * A handler that finds the client at fault calls problem_set() and still
 * returns AP_OK; the HTTP status comes from the table, so every use of a
 * type answers the same status. */
#ifndef AP_PROXY_PROBLEM_H
#define AP_PROXY_PROBLEM_H

#include <cjson/cJSON.h>

#include "common/err.h"
#include "proxy/http.h"

enum problem_type {
    PROB_ACCOUNT_DOES_NOT_EXIST,
    PROB_ALREADY_REVOKED,
    PROB_BAD_CSR,
    PROB_BAD_NONCE,
    PROB_BAD_PUBLIC_KEY,
    PROB_BAD_REVOCATION_REASON,
    PROB_BAD_SIGNATURE_ALGORITHM,
    PROB_CAA,
    PROB_COMPOUND,
    PROB_CONNECTION,
    PROB_DNS,
    PROB_EXTERNAL_ACCOUNT_REQUIRED,
    PROB_INCORRECT_RESPONSE,
    PROB_INVALID_CONTACT,
    PROB_MALFORMED,
    PROB_ORDER_NOT_READY,
    PROB_RATE_LIMITED,
    PROB_REJECTED_IDENTIFIER,
    PROB_SERVER_INTERNAL,
    PROB_TLS,
    PROB_UNAUTHORIZED,
    PROB_UNSUPPORTED_CONTACT,
    PROB_UNSUPPORTED_IDENTIFIER,
    PROB_USER_ACTION_REQUIRED,
    /* Not in RFC 8555's list but same namespace shape: */
    PROB_NOT_FOUND,          /* malformed with 404 */
    PROB_METHOD_NOT_ALLOWED, /* malformed with 405 */
    PROB_UNSUPPORTED_MEDIA,  /* malformed with 415 */
    PROB_TOO_LARGE,          /* malformed with 413 */
    PROB_CONFLICT,           /* malformed with 409 (key already in use) */
    PROB_NOT_ACCEPTABLE,     /* malformed with 406 (Accept) */
    PROB_ALREADY_REPLACED,   /* RFC 9773 §5, 409 */
    PROB_INVALID_PROFILE,    /* draft-ietf-acme-profiles */
    PROB_URI_TOO_LONG,       /* malformed with 414 */
    PROB__MAX
};

/* "urn:ietf:params:acme:error:<name>" of t. */
const char *problem_urn(enum problem_type t);
/* HTTP status of t. */
int problem_status(enum problem_type t);

/* Renders a problem document of type t with a printf detail into resp
 * (replacing any body) and sets status and content type. */
void problem_set(struct acme_resp *resp, enum problem_type t,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like problem_set, and adds extra members from obj (taken: freed here),
 * e.g. "algorithms" for badSignatureAlgorithm or "subproblems". */
void problem_set_with(struct acme_resp *resp, enum problem_type t,
                      cJSON *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A problem as a new cJSON object, for storing in an order, authz or
 * challenge "error" member (caller deletes); NULL on ENOMEM. */
cJSON *problem_object(enum problem_type t, const char *detail);

#endif /* AP_PROXY_PROBLEM_H */
