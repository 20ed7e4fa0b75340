/* proxy/ident.c: identifier normal forms (DNS names, wildcards, IP
 * addresses) and the checks of newOrder identifiers and CSR names. */
#include "proxy/ident.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "proxy/problem.h"

ap_err
ident_dns_normalize(const char *in, char *out, size_t outlen,
                    const char **why)
{
    return ident_dns_normalize_ex(in, out, outlen, false, why);
}

ap_err
ident_dns_normalize_ex(const char *in, char *out, size_t outlen,
                       bool allow_single_label, const char **why)
{
    size_t n = strlen(in);
    size_t label = 0;
    size_t labels = 1;
    bool last_numeric = true;

    /* "example.com." names the same host, but an identifier is taken as
     * the client wrote it or refused: never rewritten to another text. */
    if (n > 1 && in[n - 1] == '.' && in[n - 2] != '.') {
        *why = "trailing dot: send the name without it";
        return AP_EINVAL;
    }
    if (n == 0) {
        *why = "empty name";
        return AP_EINVAL;
    }
    if (n > IDENT_MAX_DNS || n >= outlen) {
        *why = "name longer than 253 octets";
        return AP_EINVAL;
    }
    if (in[0] == '*') {
        *why = "a wildcard is only accepted as the whole leftmost label "
               "(\"*.example.com\")";
        return AP_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c >= 0x80) {
            *why = "non-ASCII name: send the A-label (xn--) form";
            return AP_EINVAL;
        }
        if (c == '.') {
            if (label == 0) {
                *why = "empty label";
                return AP_EINVAL;
            }
            if (out[i - 1] == '-') {
                *why = "label ends with a hyphen";
                return AP_EINVAL;
            }
            out[i] = '.';
            label = 0;
            labels++;
            last_numeric = true;
            continue;
        }
        if (!isalnum(c) && c != '-') {
            *why = "character outside letters, digits and hyphen";
            return AP_EINVAL;
        }
        if (c == '-' && label == 0) {
            *why = "label starts with a hyphen";
            return AP_EINVAL;
        }
        if (!isdigit(c)) {
            last_numeric = false;
        }
        out[i] = (char)tolower(c);
        if (++label > 63) {
            *why = "label longer than 63 octets";
            return AP_EINVAL;
        }
    }
    if (label == 0) {
        *why = "empty label";
        return AP_EINVAL;
    }
    if (out[n - 1] == '-') {
        *why = "label ends with a hyphen";
        return AP_EINVAL;
    }
    out[n] = '\0';
    if (labels < 2 && (!allow_single_label || strcmp(out, "localhost") == 0)) {
        *why = "single-label names are not accepted";
        return AP_EINVAL;
    }
    if (last_numeric) {
        *why = "all-numeric top label (an IP address is not a DNS name)";
        return AP_EINVAL;
    }
    out[n] = '\0';
    return AP_OK;
}

ap_err
ident_dns_normalize_wild(const char *in, char *out, size_t outlen,
                         bool allow_single_label, bool *wildcard,
                         const char **why)
{
    ap_err rc;

    *wildcard = false;
    if (in[0] != '*') {
        return ident_dns_normalize_ex(in, out, outlen, allow_single_label,
                                      why);
    }
    /* RFC 8555 §7.1.3: "*." then the name the authorization is for. */
    if (in[1] != '.' || outlen < 3) {
        *why = "a wildcard is only accepted as the whole leftmost label "
               "(\"*.example.com\")";
        return AP_EINVAL;
    }
    rc = ident_dns_normalize_ex(in + 2, out + 2, outlen - 2, false, why);
    if (rc != AP_OK) {
        if (strstr(*why, "single-label") != NULL) {
            *why = "a wildcard needs at least two labels after \"*.\"";
        }
        return rc;
    }
    out[0] = '*';
    out[1] = '.';
    *wildcard = true;
    return AP_OK;
}

ap_err
ident_ip_normalize(const char *in, char *out, size_t outlen, const char **why)
{
    unsigned char a[16];
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
                                              0, 0, 0, 0, 0xff, 0xff };
    static const unsigned char zero[16];
    int family = AF_INET;

    if (inet_pton(AF_INET, in, a) != 1) {
        family = AF_INET6;
        if (inet_pton(AF_INET6, in, a) != 1) {
            *why = "not an IPv4 address in dotted-decimal form or an IPv6 "
                   "address (no brackets, prefix or zone)";
            return AP_EINVAL;
        }
    }
    if (family == AF_INET) {
        if (memcmp(a, zero, 4) == 0 || a[0] >= 224) {
            *why = "unspecified, multicast, reserved or broadcast address";
            return AP_EINVAL;
        }
    } else {
        if (memcmp(a, zero, 16) == 0 || a[0] == 0xff) {
            *why = "unspecified or multicast address";
            return AP_EINVAL;
        }
        if (memcmp(a, mapped, 12) == 0) {
            *why = "IPv4-mapped IPv6 address: send the IPv4 form";
            return AP_EINVAL;
        }
    }
    if (inet_ntop(family, a, out, (socklen_t)outlen) == NULL) {
        *why = "address longer than the buffer";
        return AP_EINVAL;
    }
    return AP_OK;
}

ap_err
ident_ip_reverse_name(const char *ip, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char a[16];
    size_t o = 0;
    int n;

    if (inet_pton(AF_INET, ip, a) == 1) {
        n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2],
                     a[1], a[0]);
        return n > 0 && (size_t)n < outlen ? AP_OK : AP_EINVAL;
    }
    if (inet_pton(AF_INET6, ip, a) != 1 || outlen < 64 + 9) {
        return AP_EINVAL;
    }
    for (int i = 15; i >= 0; i--) {
        out[o++] = hex[a[i] & 0xf];
        out[o++] = '.';
        out[o++] = hex[a[i] >> 4];
        out[o++] = '.';
    }
    memcpy(out + o, "ip6.arpa", 9);
    return AP_OK;
}

/* One identifier of a newOrder payload, normalised into norm; *why set
 * when refused. */
static ap_err
order_ident(const char *type, const char *value,
            const struct ident_policy *pol, char *norm, size_t normlen,
            const char **why)
{
    bool wild;

    if (strcmp(type, "ip") == 0) {
        return ident_ip_normalize(value, norm, normlen, why);
    }
    return ident_dns_normalize_wild(value, norm, normlen,
                                    pol->single_label_names, &wild, why);
}

/* Normalised, duplicate-free identifiers of a newOrder payload, in the
 * order given, or a problem in resp. */
ap_err
ident_parse_order(const cJSON *payload, const struct ident_policy *pol,
                  struct acme_resp *resp, cJSON **out)
{
    const cJSON *ids = NULL;
    const cJSON *it;
    cJSON *list = NULL;
    cJSON *subs = NULL;

    *out = NULL;
    if (json_get_array(payload, "identifiers", &ids) != AP_OK ||
        cJSON_GetArraySize(ids) == 0) {
        problem_set(resp, PROB_MALFORMED,
                    "identifiers must be a non-empty array");
        return AP_OK;
    }
    if (cJSON_GetArraySize(ids) > IDENT_MAX_PER_ORDER) {
        problem_set(resp, PROB_REJECTED_IDENTIFIER,
                    "at most %d identifiers per order", IDENT_MAX_PER_ORDER);
        return AP_OK;
    }
    list = cJSON_CreateArray();
    subs = cJSON_CreateArray();
    if (list == NULL || subs == NULL) {
        cJSON_Delete(list);
        cJSON_Delete(subs);
        return AP_ENOMEM;
    }
    cJSON_ArrayForEach(it, ids) {
        const char *type = NULL;
        const char *value = NULL;
        char norm[IDENT_MAX_DNS + 1];
        const char *why = NULL;
        bool dup = false;
        const cJSON *have;

        if (!cJSON_IsObject(it) ||
            json_get_string(it, "type", 32, &type) != AP_OK ||
            json_get_string(it, "value", 1024, &value) != AP_OK) {
            problem_set(resp, PROB_MALFORMED,
                        "each identifier needs string type and value");
            goto fail;
        }
        if (strcmp(type, "dns") != 0 && strcmp(type, "ip") != 0) {
            problem_set(resp, PROB_UNSUPPORTED_IDENTIFIER,
                        "identifier type %.32s is not supported (dns and ip "
                        "are)", type);
            goto fail;
        }
        if (order_ident(type, value, pol, norm, sizeof(norm), &why) !=
            AP_OK) {
            cJSON *sub = problem_object(PROB_REJECTED_IDENTIFIER, why);
            cJSON *ident = cJSON_CreateObject();

            cJSON_AddStringToObject(ident, "type", type);
            cJSON_AddStringToObject(ident, "value", value);
            cJSON_AddItemToObject(sub, "identifier", ident);
            cJSON_AddItemToArray(subs, sub);
            continue;
        }
        cJSON_ArrayForEach(have, list) {
            if (strcmp(json_str(have, "type", ""), type) == 0 &&
                strcmp(json_str(have, "value", ""), norm) == 0) {
                dup = true;
            }
        }
        if (!dup) {
            cJSON *ident = cJSON_CreateObject();

            cJSON_AddStringToObject(ident, "type", type);
            cJSON_AddStringToObject(ident, "value", norm);
            cJSON_AddItemToArray(list, ident);
        }
    }
    if (cJSON_GetArraySize(subs) > 0) {
        cJSON *extra = cJSON_CreateObject();

        cJSON_AddItemToObject(extra, "subproblems", subs);
        subs = NULL;
        problem_set_with(resp, PROB_REJECTED_IDENTIFIER, extra,
                         "%d identifier(s) refused: see subproblems",
                         cJSON_GetArraySize(
                             cJSON_GetObjectItemCaseSensitive(extra,
                                                              "subproblems")));
        goto fail;
    }
    cJSON_Delete(subs);
    *out = list;
    return AP_OK;
fail:
    cJSON_Delete(subs);
    cJSON_Delete(list);
    return AP_OK;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A set of normalised names, sorted for bsearch. */
struct name_set {
    char **v;
    size_t n;
};

static void
name_set_fini(struct name_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i]);
    }
    free(s->v);
}

static bool
name_set_has(const struct name_set *s, const char *name)
{
    return s->n > 0 &&
           bsearch(&name, s->v, s->n, sizeof(*s->v), cmp_str) != NULL;
}

/* Normalises each of the n CSR names (dNSName SANs when is_ip is false,
 * iPAddress SANs otherwise) into s, duplicates collapsed; a problem in
 * resp when one is refused. */
static bool
csr_names(char *const *names, size_t n, bool is_ip,
          const struct ident_policy *pol, struct name_set *s,
          struct acme_resp *resp)
{
    s->v = calloc(n + 1, sizeof(*s->v));
    s->n = 0;
    if (s->v == NULL) {
        problem_set(resp, PROB_SERVER_INTERNAL, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char norm[IDENT_MAX_DNS + 1];
        const char *why = NULL;
        bool wild;
        ap_err rc;

        rc = is_ip ? ident_ip_normalize(names[i], norm, sizeof(norm), &why)
                   : ident_dns_normalize_wild(names[i], norm, sizeof(norm),
                                              pol->single_label_names,
                                              &wild, &why);
        if (rc != AP_OK) {
            problem_set(resp, PROB_BAD_CSR, "CSR %s %.64s refused: %s",
                        is_ip ? "IP address" : "name", names[i], why);
            return false;
        }
        if (name_set_has(s, norm)) {
            continue;
        }
        s->v[s->n] = strdup(norm);
        if (s->v[s->n] == NULL) {
            problem_set(resp, PROB_SERVER_INTERNAL, "out of memory");
            return false;
        }
        s->n++;
        qsort(s->v, s->n, sizeof(*s->v), cmp_str);
    }
    return true;
}

/* RFC 8555 §7.4: the CSR's names must be exactly the order's. */
bool
ident_csr_matches(const struct crypto_csr *csr, const cJSON *idents,
                  const struct ident_policy *pol, struct acme_resp *resp)
{
    struct name_set dns = { NULL, 0 };
    struct name_set ips = { NULL, 0 };
    size_t n_dns = 0;
    size_t n_ip = 0;
    bool ok = false;
    const cJSON *it;

    if (!csr_names(csr->dns_names, csr->n_dns_names, false, pol, &dns,
                   resp) ||
        !csr_names(csr->ip_addrs, csr->n_ip_addrs, true, pol, &ips, resp)) {
        goto out;
    }
    cJSON_ArrayForEach(it, idents) {
        const char *v = json_str(it, "value", "");
        bool is_ip = strcmp(json_str(it, "type", ""), "ip") == 0;

        if (!name_set_has(is_ip ? &ips : &dns, v)) {
            problem_set(resp, PROB_BAD_CSR, "CSR lacks the order's %s %s",
                        is_ip ? "IP address" : "name", v);
            goto out;
        }
        if (is_ip) {
            n_ip++;
        } else {
            n_dns++;
        }
    }
    if (dns.n != n_dns || ips.n != n_ip) {
        problem_set(resp, PROB_BAD_CSR,
                    "CSR has %zu distinct names and %zu IP addresses, the "
                    "order %zu and %zu", dns.n, ips.n, n_dns, n_ip);
        goto out;
    }
    if (csr->cn != NULL) {
        char norm[IDENT_MAX_DNS + 1];
        const char *why;
        bool wild;

        if (!((ident_dns_normalize_wild(csr->cn, norm, sizeof(norm),
                                        pol->single_label_names, &wild,
                                        &why) == AP_OK &&
               name_set_has(&dns, norm)) ||
              (ident_ip_normalize(csr->cn, norm, sizeof(norm), &why) ==
                   AP_OK &&
               name_set_has(&ips, norm)))) {
            problem_set(resp, PROB_BAD_CSR,
                        "CSR common name is not one of its SANs");
            goto out;
        }
    }
    ok = true;
out:
    name_set_fini(&dns);
    name_set_fini(&ips);
    return ok;
}
