/* proxy/ident.h: identifier checks and normal forms (RFC 8555 §7.1.4,
 * §9.7.7). Pure functions, thread-safe. */
#ifndef AP_PROXY_IDENT_H
#define AP_PROXY_IDENT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/csr.h"
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
 * label, an all-numeric last label, or a wildcard (a wildcard is not a
 * host name: see ident_dns_normalize_wild). */
AP_MUST_CHECK ap_err ident_dns_normalize(const char *in, char *out,
                                         size_t outlen, const char **why);

/* The same, with single-label names ("intranet") accepted when
 * allow_single_label is set ("localhost" never is). */
AP_MUST_CHECK ap_err ident_dns_normalize_ex(const char *in, char *out,
                                            size_t outlen,
                                            bool allow_single_label,
                                            const char **why);

/* An order's DNS identifier: a name as above, or a wildcard "*." + name
 * (RFC 8555 §7.1.3) where "*" is the whole leftmost label and the rest
 * has at least two labels whatever single_label_names says ("*.com" and
 * "*.intranet" are refused). out gets "*.example.com" and *wildcard is
 * set; the authorization's identifier is the part after "*.". */
AP_MUST_CHECK ap_err ident_dns_normalize_wild(const char *in, char *out,
                                              size_t outlen,
                                              bool allow_single_label,
                                              bool *wildcard,
                                              const char **why);

#define IDENT_MAX_IP 46 /* INET6_ADDRSTRLEN */

/* Writes the canonical text of an IP identifier (RFC 8738 §3: RFC 1123
 * dotted quad, RFC 5952 for IPv6, as inet_ntop prints them) into out
 * (outlen >= IDENT_MAX_IP). Refused with *why (static text): anything
 * inet_pton does not take (leading zeros, zone ids, brackets, CIDR), the
 * unspecified address, multicast, 255.255.255.255, and IPv4-mapped IPv6
 * (send the IPv4 form). */
AP_MUST_CHECK ap_err ident_ip_normalize(const char *in, char *out,
                                        size_t outlen, const char **why);

/* The reverse-DNS name of a canonical IP identifier (RFC 8738 §6, the
 * tls-alpn-01 SNI): "4.3.2.1.in-addr.arpa" or the 32 nibbles of
 * ip6.arpa. AP_EINVAL when ip does not parse or outlen is short (73
 * bytes hold any). */
AP_MUST_CHECK ap_err ident_ip_reverse_name(const char *ip, char *out,
                                           size_t outlen);

/* The identifiers of a newOrder payload (RFC 8555 §7.4, RFC 8738): each
 * {"type","value"} ("dns", wildcards included, or "ip") checked and
 * normalised, duplicates collapsed, at most
 * IDENT_MAX_PER_ORDER. On AP_OK either *out is a new array of
 * {"type","value"} objects (caller deletes) or resp holds the problem:
 * malformed, unsupportedIdentifier, or rejectedIdentifier with one
 * subproblem per refused identifier. */
AP_MUST_CHECK ap_err ident_parse_order(const cJSON *payload,
                                       const struct ident_policy *pol,
                                       struct acme_resp *resp, cJSON **out);

/* True when the CSR asks for exactly the identifiers of an order (its
 * "identifiers" array): its dNSName SANs (wildcards as "*.name") are the
 * order's dns values, its iPAddress SANs the order's ip values (RFC 8738
 * §3), and its CN, if any, is one of them; otherwise sets a badCSR
 * problem in resp and returns false. */
bool ident_csr_matches(const struct crypto_csr *csr, const cJSON *idents,
                       const struct ident_policy *pol,
                       struct acme_resp *resp);

#endif /* AP_PROXY_IDENT_H */
