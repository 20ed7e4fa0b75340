/* proxy/policy.c: global and team policy checks. */
#include "proxy/policy.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "proxy/problem.h"

static const char *const curve_names[3] = { "P-256", "P-384", "P-521" };

/* Splits a list of words (commas or white space) into names. */
static ap_err
parse_names(const char *text, struct policy_rules *r, char *errbuf,
            size_t errlen)
{
    const char *p = text;

    while (*p != '\0') {
        size_t n;

        p += strspn(p, " \t,");
        n = strcspn(p, " \t,");
        if (n == 0) {
            break;
        }
        if (r->n_names >= POLICY_MAX_NAMES || n >= POLICY_MAX_NAME) {
            snprintf(errbuf, errlen, "allow_names: at most %d names of %d "
                     "characters", POLICY_MAX_NAMES, POLICY_MAX_NAME - 1);
            return AP_ECONFIG;
        }
        for (size_t i = 0; i < n; i++) {
            r->names[r->n_names][i] =
                (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
        }
        r->names[r->n_names][n] = '\0';
        r->n_names++;
        p += n;
    }
    return AP_OK;
}

ap_err
policy_global_init(const struct config *cfg, struct policy_rules *out,
                   char *errbuf, size_t errlen)
{
    const char *c = cfg->policy.ec_curves;
    ap_err rc;

    memset(out, 0, sizeof(*out));
    out->wildcards = cfg->policy.wildcards;
    out->max_identifiers = cfg->policy.max_identifiers;
    out->min_rsa_bits = cfg->policy.min_rsa_bits;
    out->max_validity_days = cfg->policy.max_validity_days;
    rc = parse_names(cfg->policy.allow_names, out, errbuf, errlen);
    if (rc != AP_OK) {
        return rc;
    }
    rc = netpolicy_parse_list(cfg->policy.allow_ips, out->ips,
                              NETPOLICY_MAX_CIDRS, &out->n_ips, errbuf,
                              errlen);
    if (rc != AP_OK) {
        return AP_ECONFIG;
    }
    while (*c != '\0') {
        size_t n;
        bool known = false;

        c += strspn(c, " \t,");
        n = strcspn(c, " \t,");
        if (n == 0) {
            break;
        }
        for (int i = 0; i < 3; i++) {
            if (strlen(curve_names[i]) == n &&
                strncmp(c, curve_names[i], n) == 0) {
                out->curves[i] = true;
                known = true;
            }
        }
        if (!known) {
            snprintf(errbuf, errlen, "ec_curves: %.*s is not P-256, P-384 "
                     "or P-521", (int)n, c);
            return AP_ECONFIG;
        }
        c += n;
    }
    return AP_OK;
}

/* Copies a string array member into fixed slots. */
static void
copy_strings(const cJSON *list, char (*dst)[POLICY_MAX_NAME], size_t max,
             size_t *n)
{
    const cJSON *it;

    *n = 0;
    cJSON_ArrayForEach(it, list) {
        if (cJSON_IsString(it) && *n < max &&
            strlen(it->valuestring) < POLICY_MAX_NAME) {
            snprintf(dst[*n], POLICY_MAX_NAME, "%s", it->valuestring);
            (*n)++;
        }
    }
}

/* Names (64 rows of 256 bytes, in team and in preauth) are read only
 * below their counts, so clearing leaves the rows: 32 KiB not written twice
 * a request (issue 18). */
_Static_assert(offsetof(struct policy_rules, names) == 0,
               "names is the first member of policy_rules");

void
policy_clear(struct policy *p, const struct policy_rules *global)
{
    memset((char *)&p->team + sizeof(p->team.names), 0,
           sizeof(p->team) - sizeof(p->team.names));
    p->global = global;
    p->has_team = false;
    memset(p->team_label, 0, sizeof(p->team_label));
    memset(p->eab_kid, 0, sizeof(p->eab_kid));
    p->n_preauth = 0;
}

void
policy_for_account(const struct policy_rules *global, const cJSON *eab_rec,
                   struct policy *out, struct acme_resp *resp)
{
    const cJSON *it;

    policy_clear(out, global);
    if (eab_rec == NULL) {
        return;
    }
    out->has_team = true;
    snprintf(out->team_label, sizeof(out->team_label), "%s",
             json_str(eab_rec, "label", ""));
    snprintf(out->eab_kid, sizeof(out->eab_kid), "%s",
             json_str(eab_rec, "kid", ""));
    if (json_num(eab_rec, "revoked", 0) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "the external account key of this account was revoked");
        return;
    }
    /* The team's rules only narrow: what they do not say, global decides
     * (wildcards, key sizes and identifier counts stay global). */
    out->team.wildcards = true;
    out->team.max_identifiers = 0;
    copy_strings(cJSON_GetObjectItemCaseSensitive(eab_rec, "allow_names"),
                 out->team.names, POLICY_MAX_NAMES, &out->team.n_names);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(eab_rec,
                                                            "allow_ips")) {
        const char *why;

        if (cJSON_IsString(it) && out->team.n_ips < NETPOLICY_MAX_CIDRS &&
            netpolicy_parse_cidr(it->valuestring,
                                 &out->team.ips[out->team.n_ips],
                                 &why) == AP_OK) {
            out->team.n_ips++;
        }
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(eab_rec,
                                                            "profiles")) {
        if (cJSON_IsString(it) && out->team.n_profiles < CONFIG_MAX_PROFILES &&
            strlen(it->valuestring) < sizeof(out->team.profiles[0])) {
            snprintf(out->team.profiles[out->team.n_profiles],
                     sizeof(out->team.profiles[0]), "%s", it->valuestring);
            out->team.n_profiles++;
        }
    }
    out->team.max_validity_days =
        (unsigned)json_num(eab_rec, "max_validity_days", 0);
    copy_strings(cJSON_GetObjectItemCaseSensitive(eab_rec, "preauthorized"),
                 out->preauth, POLICY_MAX_NAMES, &out->n_preauth);
    if (strlen(json_str(eab_rec, "default_profile", "")) <
        sizeof(out->team.default_profile)) {
        snprintf(out->team.default_profile,
                 sizeof(out->team.default_profile), "%s",
                 json_str(eab_rec, "default_profile", ""));
    }
}

/* ".example.com" allows every name below example.com (a wildcard
 * "*.example.com" too); "example.com" only itself. */
static bool
name_allowed(const struct policy_rules *r, const char *name)
{
    size_t n = strlen(name);

    if (r->n_names == 0) {
        return true;
    }
    for (size_t i = 0; i < r->n_names; i++) {
        const char *rule = r->names[i];
        size_t rl = strlen(rule);

        if (rule[0] == '.') {
            if (n > rl && strcmp(name + n - rl, rule) == 0) {
                return true;
            }
        } else if (strcmp(name, rule) == 0) {
            return true;
        }
    }
    return false;
}

static bool
ip_allowed(const struct policy_rules *r, const char *addr)
{
    if (r->n_ips == 0) {
        return true;
    }
    for (size_t i = 0; i < r->n_ips; i++) {
        if (netpolicy_cidr_contains(&r->ips[i], addr)) {
            return true;
        }
    }
    return false;
}

const char *
policy_preauthorized(const struct policy *p, const char *type,
                     const char *value)
{
    bool wild = strncmp(value, "*.", 2) == 0;
    const char *name = wild ? value + 1 : value;  /* ".base" for wildcards */
    size_t n = strlen(name);

    if (!p->has_team || strcmp(type, "dns") != 0 ||
        (wild && !p->global->wildcards)) {
        return NULL;
    }
    for (size_t i = 0; i < p->n_preauth; i++) {
        const char *rule = p->preauth[i];
        size_t rl = strlen(rule);

        if (rule[0] != '.') {
            if (!wild && strcmp(name, rule) == 0) {
                return rule;
            }
        } else if (n > rl ? strcmp(name + n - rl, rule) == 0
                          : wild && strcmp(name, rule) == 0) {
            /* x.rule below it; "*.rule" ends at it: every name it covers
             * is below the rule. */
            return rule;
        }
    }
    return NULL;
}

/* Why one identifier is refused by r, or NULL. */
static const char *
refuse(const struct policy_rules *r, const char *type, const char *value,
       bool team)
{
    if (strcmp(type, "ip") == 0) {
        return ip_allowed(r, value) ? NULL
               : team ? "address outside the team's allowed ranges"
                      : "address outside the allowed ranges";
    }
    if (strncmp(value, "*.", 2) == 0 && !r->wildcards) {
        return "wildcard certificates are not allowed";
    }
    return name_allowed(r, value) ? NULL
           : team ? "name outside the team's allowed names"
                  : "name outside the allowed names";
}

bool
policy_check_identifiers(const struct policy *p, const cJSON *idents,
                         struct acme_resp *resp)
{
    cJSON *subs = cJSON_CreateArray();
    const cJSON *it;
    int n = cJSON_GetArraySize(idents);

    if (subs == NULL) {
        problem_set(resp, PROB_SERVER_INTERNAL, "out of memory");
        return false;
    }
    if (p->global->max_identifiers > 0 &&
        n > (int)p->global->max_identifiers) {
        cJSON_Delete(subs);
        problem_set(resp, PROB_REJECTED_IDENTIFIER,
                    "at most %u identifiers per order",
                    p->global->max_identifiers);
        return false;
    }
    cJSON_ArrayForEach(it, idents) {
        const char *type = json_str(it, "type", "");
        const char *value = json_str(it, "value", "");
        const char *why = refuse(p->global, type, value, false);

        if (why == NULL && p->has_team) {
            why = refuse(&p->team, type, value, true);
        }
        if (why != NULL) {
            cJSON *sub = problem_object(PROB_REJECTED_IDENTIFIER, why);

            cJSON_AddItemToObject(sub, "identifier", cJSON_Duplicate(it, 1));
            cJSON_AddItemToArray(subs, sub);
        }
    }
    if (cJSON_GetArraySize(subs) == 0) {
        cJSON_Delete(subs);
        return true;
    }
    {
        cJSON *extra = cJSON_CreateObject();
        int refused = cJSON_GetArraySize(subs);

        cJSON_AddItemToObject(extra, "subproblems", subs);
        problem_set_with(resp, PROB_REJECTED_IDENTIFIER, extra,
                         "%d identifier(s) not allowed by policy%s%s: see "
                         "subproblems", refused, p->has_team ? " of team " : "",
                         p->has_team ? p->team_label : "");
    }
    return false;
}

bool
policy_pick_profile(const struct policy *p, const struct config *cfg,
                    const char *name, const struct config_profile **out,
                    struct acme_resp *resp)
{
    const struct policy_rules *t = &p->team;

    *out = NULL;
    if (name == NULL) {
        if (p->has_team && t->default_profile[0] != '\0') {
            name = t->default_profile;
        } else if (p->has_team && t->n_profiles > 0) {
            name = t->profiles[0];
        } else if (cfg->acme.default_profile[0] != '\0') {
            name = cfg->acme.default_profile;
        } else {
            return true;
        }
    }
    *out = config_profile_find(cfg, name);
    if (*out == NULL) {
        problem_set(resp, PROB_INVALID_PROFILE,
                    "profile %.64s is not offered; see the directory's "
                    "meta.profiles", name);
        return false;
    }
    if (p->has_team && t->n_profiles > 0) {
        for (size_t i = 0; i < t->n_profiles; i++) {
            if (strcmp(t->profiles[i], name) == 0) {
                return true;
            }
        }
        problem_set(resp, PROB_INVALID_PROFILE,
                    "profile %.64s is not allowed for team %s", name,
                    p->team_label);
        *out = NULL;
        return false;
    }
    return true;
}

unsigned
policy_max_days(const struct policy *p, unsigned profile_days)
{
    unsigned days = profile_days;

    if (p->global->max_validity_days > 0 &&
        p->global->max_validity_days < days) {
        days = p->global->max_validity_days;
    }
    if (p->has_team && p->team.max_validity_days > 0 &&
        p->team.max_validity_days < days) {
        days = p->team.max_validity_days;
    }
    return days;
}

/* True when the key of csr is account_key (compared as SPKI DER, which
 * both sides encode with i2d_PUBKEY). False when it cannot tell (ENOMEM):
 * the request is then refused by the caller's other checks or not at all,
 * never because of a spurious match. */
static bool
is_account_key(const struct crypto_csr *csr,
               const struct crypto_key *account_key)
{
    unsigned char *spki = NULL;
    size_t len = 0;
    bool same;

    if (account_key == NULL ||
        crypto_key_spki_der(account_key, &spki, &len) != AP_OK) {
        return false;
    }
    same = len == csr->pubkey_der_len &&
           memcmp(spki, csr->pubkey_der, len) == 0;
    free(spki);
    return same;
}

bool
policy_check_key(const struct policy *p, const struct crypto_csr *csr,
                 const struct crypto_key *account_key,
                 struct acme_resp *resp)
{
    const struct policy_rules *g = p->global;
    bool allowed = false;

    if (csr->key_type == CRYPTO_KEY_RSA && csr->key_bits >= g->min_rsa_bits &&
        csr->key_bits <= CRYPTO_MAX_RSA_BITS) {
        allowed = true;
    }
    if (csr->key_type == CRYPTO_KEY_EC && csr->curve != NULL) {
        for (int i = 0; i < 3; i++) {
            if (g->curves[i] && strcmp(csr->curve, curve_names[i]) == 0) {
                allowed = true;
            }
        }
    }
    /* RFC 8555 §7.4: whatever makes the CA unwilling to issue for a CSR
     * is badCSR; badPublicKey (§6.7) is about the key that signed the
     * JWS. */
    if (!allowed) {
        problem_set(resp, PROB_BAD_CSR,
                    "CSR key must be RSA of %u to %d bits or an allowed EC "
                    "curve ([policy] ec_curves)",
                    g->min_rsa_bits, CRYPTO_MAX_RSA_BITS);
        return false;
    }
    if (is_account_key(csr, account_key)) {
        problem_set(resp, PROB_BAD_CSR,
                    "CSR key is the account key: a certificate needs a key "
                    "of its own");
        return false;
    }
    return true;
}
