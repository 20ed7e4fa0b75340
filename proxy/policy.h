/* proxy/policy.h: what an account may ask for.
 *
 * The global policy comes from [policy]; an account bound to an EAB key
 * also gets its team's policy from the key's record (proxy/eab.h), which
 * can only narrow the global one: every check passes both. All checks run
 * before any validation traffic: identifiers at newOrder
 * (rejectedIdentifier with one subproblem per refused identifier), the
 * profile at newOrder (invalidProfile), the CSR key at finalize (badCSR:
 * RFC 8555 §7.4 keeps badPublicKey for the JWS key), validity at newOrder
 * (malformed). Pure functions on caller storage, thread-safe. */
#ifndef AP_PROXY_POLICY_H
#define AP_PROXY_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/csr.h"
#include "common/jwk.h"
#include "common/err.h"
#include "common/netpolicy.h"
#include "proxy/http.h"

#define POLICY_MAX_NAMES 64
#define POLICY_MAX_NAME 256

struct policy_rules {
    char names[POLICY_MAX_NAMES][POLICY_MAX_NAME]; /* ".suffix" or exact */
    size_t n_names;                                /* 0: any name */
    struct netpolicy_cidr ips[NETPOLICY_MAX_CIDRS];
    size_t n_ips;                                  /* 0: any address */
    char profiles[CONFIG_MAX_PROFILES][65];        /* first: the default */
    size_t n_profiles;                             /* 0: any profile */
    char default_profile[65];  /* team: the EAB key's default_profile, which
                                  wins over profiles[0]; "": none */
    bool wildcards;
    unsigned max_identifiers;
    unsigned min_rsa_bits;
    bool curves[3];                                /* P-256, P-384, P-521 */
    unsigned max_validity_days;                    /* 0: no cap */
};

/* The effective policy of one account. */
struct policy {
    const struct policy_rules *global;
    struct policy_rules team;
    bool has_team;
    char team_label[65];                           /* the EAB key's label */
    char eab_kid[65];
    /* The EAB key's pre-authorised names (".suffix" or exact), which need
     * no challenge: docs/admin.md "Pre-authorised names". */
    char preauth[POLICY_MAX_NAMES][POLICY_MAX_NAME];
    size_t n_preauth;
};

/* Builds the global rules from [policy]. AP_ECONFIG names the bad key. */
AP_MUST_CHECK ap_err policy_global_init(const struct config *cfg,
                                        struct policy_rules *out,
                                        char *errbuf, size_t errlen);

/* Resets p to the global rules alone (team none, no names, no label). The
 * rows of its name arrays past their counts are left as they were. */
void policy_clear(struct policy *p, const struct policy_rules *global);

/* The policy of an account record (borrowed) whose "eab" member, if any,
 * names an EAB key in eab_rec (borrowed; NULL when the account has none).
 * A revoked key leaves a problem (unauthorized) in resp. */
void policy_for_account(const struct policy_rules *global,
                        const cJSON *eab_rec, struct policy *out,
                        struct acme_resp *resp);

/* True when every identifier ({"type","value"} array) is allowed; else a
 * rejectedIdentifier problem with one subproblem per refused identifier. */
bool policy_check_identifiers(const struct policy *p, const cJSON *idents,
                              struct acme_resp *resp);

/* The rule of the account's EAB key that pre-authorises the order
 * identifier (type, value; a wildcard written "*.name"), or NULL: a name
 * equal to an exact rule or below a ".suffix" rule; a wildcard only under
 * a ".suffix" rule (the base name the rule's domain or below it) and only
 * while the global [policy] allows wildcards; never an IP address. The
 * identifier has passed policy_check_identifiers already. */
const char *policy_preauthorized(const struct policy *p, const char *type,
                                 const char *value);

/* The profile to use: name (may be NULL) checked against the team's list,
 * else the team's default (its EAB key's default_profile, else the first
 * of its profiles), else cfg's default. *out NULL when there is
 * none; false with invalidProfile in resp when the name is not allowed. */
bool policy_pick_profile(const struct policy *p, const struct config *cfg,
                         const char *name, const struct config_profile **out,
                         struct acme_resp *resp);

/* The longest validity allowed with profile_days (the profile's or the
 * default lifetime): the smallest of it and the policies' caps. */
unsigned policy_max_days(const struct policy *p, unsigned profile_days);

/* True when the CSR's key is allowed: RSA of [policy] min_rsa_bits to
 * CRYPTO_MAX_RSA_BITS bits or an EC curve of [policy] ec_curves, and not
 * account_key (the key that signed the request; NULL skips that check),
 * so that the certificate's key cannot sign ACME requests and a
 * compromised certificate key is not also the account. Else false with
 * badCSR in resp. */
bool policy_check_key(const struct policy *p, const struct crypto_csr *csr,
                      const struct crypto_key *account_key,
                      struct acme_resp *resp);

#endif /* AP_PROXY_POLICY_H */
