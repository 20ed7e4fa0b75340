/* proxy/ident.c: DNS identifier normal form. */
#include "proxy/ident.h"

#include <ctype.h>
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

    if (n > 0 && in[n - 1] == '.') {
        n--;
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
        *why = "wildcard names need dns-01, which this server does not "
               "offer yet";
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

/* Sorted, normalised, duplicate-free identifiers of a newOrder payload, or
 * a problem in resp. */
ap_err
ident_parse_order(const cJSON *payload, const struct ident_policy *pol,
                  struct acme_resp *resp, cJSON **out)
{
    const cJSON *ids = NULL;
    const cJSON *it;
    cJSON *list = NULL;
    cJSON *subs = NULL;
    int n = 0;

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
        if (strcmp(type, "dns") != 0) {
            problem_set(resp, PROB_UNSUPPORTED_IDENTIFIER,
                        "identifier type %.32s is not supported (dns is)",
                        type);
            goto fail;
        }
        if (ident_dns_normalize_ex(value, norm, sizeof(norm),
                                   pol->single_label_names,
                                   &why) != AP_OK) {
            cJSON *sub = problem_object(PROB_REJECTED_IDENTIFIER, why);
            cJSON *ident = cJSON_CreateObject();

            cJSON_AddStringToObject(ident, "type", "dns");
            cJSON_AddStringToObject(ident, "value", value);
            cJSON_AddItemToObject(sub, "identifier", ident);
            cJSON_AddItemToArray(subs, sub);
            continue;
        }
        cJSON_ArrayForEach(have, list) {
            if (strcmp(json_str(have, "value", ""), norm) == 0) {
                dup = true;
            }
        }
        if (!dup) {
            cJSON *ident = cJSON_CreateObject();

            cJSON_AddStringToObject(ident, "type", "dns");
            cJSON_AddStringToObject(ident, "value", norm);
            cJSON_AddItemToArray(list, ident);
            n++;
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

/* RFC 8555 §7.4: the CSR's names must be exactly the order's. */
bool
ident_csr_matches(const struct crypto_csr *csr, const cJSON *idents,
                  const struct ident_policy *pol, struct acme_resp *resp)
{
    size_t n_order = (size_t)cJSON_GetArraySize(idents);
    char **names = NULL;
    size_t n = 0;
    bool ok = false;
    const cJSON *it;

    if (csr->n_ip_addrs > 0) {
        problem_set(resp, PROB_BAD_CSR,
                    "CSR has IP address SANs the order does not have");
        return false;
    }
    names = calloc(csr->n_dns_names + 1, sizeof(*names));
    if (names == NULL) {
        problem_set(resp, PROB_SERVER_INTERNAL, "out of memory");
        return false;
    }
    for (size_t i = 0; i < csr->n_dns_names; i++) {
        char norm[IDENT_MAX_DNS + 1];
        const char *why;
        bool dup = false;

        if (ident_dns_normalize_ex(csr->dns_names[i], norm, sizeof(norm),
                                   pol->single_label_names,
                                   &why) != AP_OK) {
            problem_set(resp, PROB_BAD_CSR, "CSR name refused: %s", why);
            goto out;
        }
        for (size_t j = 0; j < n; j++) {
            dup = dup || strcmp(names[j], norm) == 0;
        }
        if (!dup) {
            names[n] = strdup(norm);
            if (names[n] == NULL) {
                problem_set(resp, PROB_SERVER_INTERNAL, "out of memory");
                goto out;
            }
            n++;
        }
    }
    qsort(names, n, sizeof(*names), cmp_str);
    if (n != n_order) {
        problem_set(resp, PROB_BAD_CSR,
                    "CSR has %zu distinct names, the order %zu", n, n_order);
        goto out;
    }
    cJSON_ArrayForEach(it, idents) {
        const char *v = json_str(it, "value", "");
        const char *key = v;

        if (bsearch(&key, names, n, sizeof(*names), cmp_str) == NULL) {
            problem_set(resp, PROB_BAD_CSR, "CSR lacks the order's name %s",
                        v);
            goto out;
        }
    }
    if (csr->cn != NULL) {
        char norm[IDENT_MAX_DNS + 1];
        const char *why;
        const char *key = norm;

        if (ident_dns_normalize_ex(csr->cn, norm, sizeof(norm),
                                   pol->single_label_names,
                                   &why) != AP_OK ||
            bsearch(&key, names, n, sizeof(*names), cmp_str) == NULL) {
            problem_set(resp, PROB_BAD_CSR,
                        "CSR common name is not one of its SANs");
            goto out;
        }
    }
    ok = true;
out:
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    return ok;
}

