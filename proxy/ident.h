/* proxy/ident.h: identifier checks and normal forms (RFC 8555 §7.1.4,
 * §9.7.7). Pure functions, thread-safe. */
#ifndef AP_PROXY_IDENT_H
#define AP_PROXY_IDENT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/crypto.h"
#include "common/err.h"
#include "proxy/http.h"

#define IDENT_MAX_DNS 253
#define IDENT_MAX_PER_ORDER 100

/* What the configuration allows of identifiers. */
struct ident_policy {
    bool single_label_names;  /* [acme] single_label_names */
};

/* Writes the normal form of a DNS name into out (outlen > IDENT_MAX_DNS):
 * lower case, without a trailing dot. AP_EINVAL with *why set (static
 * text) when the name is not an acceptable LDH host name: empty label,
 * label over 63 or name over 253 octets, characters outside [a-z0-9-],
 * hyphen at a label's edge, non-ASCII (U-labels: send A-labels), a single
 * label, an all-numeric last label, or a wildcard (needs dns-01, which
 * this server does not offer yet). */
AP_MUST_CHECK ap_err ident_dns_normalize(const char *in, char *out,
                                         size_t outlen, const char **why);

/* The same, with single-label names ("intranet") accepted when
 * allow_single_label is set ("localhost" never is). */
AP_MUST_CHECK ap_err ident_dns_normalize_ex(const char *in, char *out,
                                            size_t outlen,
                                            bool allow_single_label,
                                            const char **why);

/* The identifiers of a newOrder payload (RFC 8555 §7.4): each
 * {"type","value"} checked and normalised, duplicates collapsed, at most
 * IDENT_MAX_PER_ORDER. On AP_OK either *out is a new array of
 * {"type","value"} objects (caller deletes) or resp holds the problem:
 * malformed, unsupportedIdentifier, or rejectedIdentifier with one
 * subproblem per refused identifier. */
AP_MUST_CHECK ap_err ident_parse_order(const cJSON *payload,
                                       const struct ident_policy *pol,
                                       struct acme_resp *resp, cJSON **out);

/* True when the CSR asks for exactly the identifiers of an order (its
 * "identifiers" array) and its CN, if any, is one of them; otherwise sets a
 * badCSR problem in resp and returns false. */
bool ident_csr_matches(const struct crypto_csr *csr, const cJSON *idents,
                       const struct ident_policy *pol,
                       struct acme_resp *resp);

#endif /* AP_PROXY_IDENT_H */
