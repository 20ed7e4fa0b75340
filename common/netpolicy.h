/* common/netpolicy.h: which addresses validators may connect to.
 *
 * [validation] allow and deny are lists of CIDR blocks ("10.0.0.0/8",
 * "fd00::/8", or a bare address meaning /32 or /128), separated by white
 * space or commas. An address is permitted when it is in no deny block
 * and, if the allow list is not empty, in some allow block: deny wins.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as the IPv4
 * address they carry, so a mapped form cannot slip past an IPv4 deny.
 * Validators call netpolicy_permits() on every address after every
 * resolution, before every connection (redirect hops included).
 * Pure functions on caller storage, thread-safe. */
#ifndef AP_COMMON_NETPOLICY_H
#define AP_COMMON_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define NETPOLICY_MAX_CIDRS 64 /* per list */

/* Built-in default of [validation] deny: "this network", link-local
 * (cloud metadata at 169.254.169.254), multicast, reserved and broadcast,
 * the unspecified IPv6 address, IPv6 link-local and multicast. Loopback
 * is not in it (see docs/validation.md). */
#define NETPOLICY_DEFAULT_DENY                                                \
    "0.0.0.0/8 169.254.0.0/16 224.0.0.0/4 240.0.0.0/4 ::/128 fe80::/10 "      \
    "ff00::/8"

struct netpolicy_cidr {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char addr[16];  /* network address, 4 or 16 bytes used */
    unsigned prefix;         /* bits */
};

struct netpolicy {
    struct netpolicy_cidr allow[NETPOLICY_MAX_CIDRS];
    size_t n_allow;
    struct netpolicy_cidr deny[NETPOLICY_MAX_CIDRS];
    size_t n_deny;
};

/* Parses one CIDR block ("a.b.c.d/n", "x:y::/n", or an address alone).
 * Refuses a prefix over the family's width, host bits set below the
 * prefix ("10.0.0.1/8" is a typo, not a network), zone ids and anything
 * inet_pton does not take. AP_EINVAL with a static reason in *why. */
AP_MUST_CHECK ap_err netpolicy_parse_cidr(const char *text,
                                          struct netpolicy_cidr *out,
                                          const char **why);

/* Parses a list (NULL or "" is empty) into out[max]; *n set on AP_OK.
 * On error errbuf names the offending entry and why. */
AP_MUST_CHECK ap_err netpolicy_parse_list(const char *text,
                                          struct netpolicy_cidr *out,
                                          size_t max, size_t *n,
                                          char *errbuf, size_t errlen);

/* Both lists into p (caller storage, about 3 KiB). */
AP_MUST_CHECK ap_err netpolicy_init(struct netpolicy *p, const char *allow,
                                    const char *deny, char *errbuf,
                                    size_t errlen);

/* True when c contains addr (text form, v4 or v6). */
bool netpolicy_cidr_contains(const struct netpolicy_cidr *c,
                             const char *addr);

/* True when validators may connect to addr (text form). When false, why
 * (if not NULL) says which rule refused it, e.g. "10.1.2.3 is in
 * [validation] deny (10.0.0.0/8)". An address that does not parse is
 * refused. */
bool netpolicy_permits(const struct netpolicy *p, const char *addr,
                       char *why, size_t whylen);

#endif /* AP_COMMON_NETPOLICY_H */
