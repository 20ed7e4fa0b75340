/* proxy/val_dns01.c: the dns-01 validator (RFC 8555 §8.4).
 *
 * Looks up TXT at _acme-challenge.<name> through [validation] resolver
 * (CNAMEs followed, UDP with TCP fallback: common/resolve.c) and accepts
 * when any of the records is base64url(SHA-256(key authorization)). A
 * wildcard's authorization carries the base name, so "*.example.com" is
 * proven at _acme-challenge.example.com. No connection is made to the
 * identifier itself, so the address policy does not apply; the resolver
 * is the operator's. */
#include "proxy/val_dns01.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/resolve.h"

void
val_dns01_expected(const char *keyauth, char *out, size_t outlen)
{
    unsigned char digest[CRYPTO_SHA256_LEN];

    crypto_sha256(keyauth, strlen(keyauth), digest);
    if (b64url_encode(digest, sizeof(digest), out, outlen) != AP_OK &&
        outlen > 0) {
        out[0] = '\0';
    }
}

static void
run_dns01(const struct val_input *in, struct val_outcome *out)
{
    const char *resolver = in->cfg->validation.resolver;
    struct resolve_txt_result *r = NULL;
    char want[VAL_DNS01_DIGEST_LEN + 1];
    char qname[RESOLVE_MAX_NAME + 32];
    cJSON *rec = val_evidence_add(out);
    cJSON *arr;
    ap_err rc;

    if (strcmp(in->ident_type, "dns") != 0) {
        /* RFC 8738 §7: never offered for IP identifiers. */
        val_fail(out, PROB_UNAUTHORIZED, "dns-01 cannot prove an IP "
                 "address");
        return;
    }
    snprintf(qname, sizeof(qname), "_acme-challenge.%s", in->name);
    if (rec != NULL) {
        cJSON_AddStringToObject(rec, "hostname", qname);
        cJSON_AddStringToObject(rec, "resolver",
                                resolver[0] != '\0' ? resolver : "system");
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        val_fail(out, PROB_SERVER_INTERNAL, "out of memory");
        return;
    }
    val_dns01_expected(in->keyauth, want, sizeof(want));
    rc = resolve_txt(resolver, qname, in->deadline_ms, r);
    if (rec != NULL && r->name[0] != '\0' && strcmp(r->name, qname) != 0) {
        cJSON_AddStringToObject(rec, "cnameTarget", r->name);
    }
    if (rc != AP_OK) {
        if (rec != NULL) {
            cJSON_AddStringToObject(rec, "dnsError", r->error);
        }
        val_fail(out, PROB_DNS, "%s", r->error);
        goto out;
    }
    /* The lengths of the records, never their text: a CNAME may lead the
     * lookup to any internal name, whose TXT records are not the client's
     * to read (the same rule as http-01 bodies). */
    arr = rec != NULL ? cJSON_AddArrayToObject(rec, "txtLengths") : NULL;
    for (size_t i = 0; i < r->n; i++) {
        if (arr != NULL) {
            cJSON_AddItemToArray(arr,
                                 cJSON_CreateNumber((double)strlen(r->txt[i])));
        }
        if (strcmp(r->txt[i], want) == 0) {
            out->valid = true;
        }
    }
    if (out->valid) {
        goto out;
    }
    if (r->n == 0) {
        char via[RESOLVE_MAX_NAME + 16] = "";

        if (strcmp(r->name, qname) != 0) {
            snprintf(via, sizeof(via), " (CNAME to %s)", r->name);
        }
        val_fail(out, PROB_UNAUTHORIZED, "DNS (%s): no TXT record at %s%s",
                 resolver[0] != '\0' ? resolver : "system resolver", qname,
                 via);
        goto out;
    }
    val_fail(out, PROB_INCORRECT_RESPONSE, "DNS (%s): none of the %zu TXT "
             "record(s) at %s is the key authorization digest (%zu "
             "characters)", resolver[0] != '\0' ? resolver : "system "
             "resolver", r->n, qname, strlen(want));
out:
    free(r);
}

const struct validator_ops validator_dns01 = {
    .type = "dns-01",
    .run = run_dns01,
};
