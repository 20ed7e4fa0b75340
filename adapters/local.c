/* adapters/local.c: the default back end, the embedded CA of common/ca.c.
 *
 * Signs at once (never PENDING) with the names the core passes, which it
 * has already matched against the CSR; only the CSR's public key is used.
 * Keeps no CRL yet: revocation is recorded by the core alone. Never opens
 * the CA files itself: the CA is lent by the core through adapter_ctx.
 * Templates (a profile's "template"): LOCAL_TEMPLATE_CLIENT issues a
 * client-authentication leaf (extKeyUsage clientAuth only); any other, or
 * none, a leaf with serverAuth and clientAuth. */
#include "adapters/adapter.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ca.h"
#include "common/csr.h"

#define LOCAL_DEFAULT_DAYS 90
#define LOCAL_MAX_DAYS 3650
#define LOCAL_SKEW_SEC 60       /* not_before backdating for client clocks */
#define LOCAL_RETRY_SEC 30
#define LOCAL_ERR_LEN 256
#define LOCAL_BAD_CSR "urn:ietf:params:acme:error:badCSR"
#define LOCAL_TEMPLATE_CLIENT "clientAuth"

struct local {
    struct ca *ca;          /* borrowed from the core until free() */
    unsigned validity_days; /* when the request leaves not_after at 0 */
};

static const char *const local_keys[] = {"validity_days", ADAPTER_CORE_KEYS,
                                         NULL};

static ap_err
local_days_parse(const char *text, unsigned *out)
{
    unsigned long v;
    char *end = NULL;

    if (text[0] < '0' || text[0] > '9') {
        return AP_EINVAL;
    }
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 ||
        v > LOCAL_MAX_DAYS) {
        return AP_EINVAL;
    }
    *out = (unsigned)v;
    return AP_OK;
}

static ap_err
local_init(const struct config_section *cfg, const struct adapter_ctx *ctx,
           void **state, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    struct local *lc = NULL;
    const char *days = NULL;

    if (ctx == NULL || ctx->ca == NULL || state == NULL) {
        (void)snprintf(errbuf, errlen, "local adapter: no embedded CA");
        rc = AP_EINVAL;
        goto out;
    }
    lc = calloc(1, sizeof(*lc));
    if (lc == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    lc->ca = ctx->ca;
    lc->validity_days = LOCAL_DEFAULT_DAYS;
    if (cfg != NULL) {
        rc = config_section_check(cfg, local_keys, "adapter local", errbuf,
                                  errlen);
        if (rc != AP_OK) {
            goto out;
        }
        days = config_section_get(cfg, "validity_days");
    }
    if (days != NULL) {
        rc = local_days_parse(days, &lc->validity_days);
        if (rc != AP_OK) {
            (void)snprintf(errbuf, errlen,
                           "local adapter: validity_days must be a whole "
                           "number from 1 to %d",
                           LOCAL_MAX_DAYS);
            rc = AP_ECONFIG;
            goto out;
        }
    }
    rc = AP_OK;
out:
    if (rc == AP_OK) {
        *state = lc;
    } else {
        free(lc);
    }
    return rc;
}

/* Fills res with outcome and a copy of detail; returns outcome. A failed
 * copy leaves detail NULL, which the contract tolerates under ENOMEM. */
static enum adapter_outcome
local_fail(struct adapter_result *res, enum adapter_outcome outcome,
           const char *problem_type, const char *detail)
{
    res->detail = strdup(detail);
    if (outcome == ADAPTER_REJECTED) {
        res->problem_type = problem_type;
    } else {
        res->retry_after = LOCAL_RETRY_SEC;
    }
    return outcome;
}

static enum adapter_outcome
local_submit(void *state, const struct adapter_request *req,
             struct adapter_result *res)
{
    enum adapter_outcome outcome = ADAPTER_RETRY;
    struct local *lc = state;
    struct ca_issue_req ireq;
    struct crypto_csr *csr = NULL;
    char errbuf[LOCAL_ERR_LEN];
    char detail[LOCAL_ERR_LEN + 64];
    char *cert = NULL;
    char *chain = NULL;
    const char *inter;
    long long now = (long long)time(NULL);
    ap_err rc;

    errbuf[0] = '\0';
    if (req->csr_der == NULL || req->csr_der_len == 0) {
        outcome = local_fail(res, ADAPTER_REJECTED, LOCAL_BAD_CSR,
                             "no CSR in the request");
        goto out;
    }
    /* Only the key is taken from the CSR (the names come from the
     * order): as finalize read it when the core hands it over, else
     * read from the CSR (its signature was checked at finalize:
     * crypto_csr_read does not verify it again). */
    rc = req->csr_spki_der != NULL
             ? AP_OK
             : crypto_csr_read(req->csr_der, req->csr_der_len, &csr, errbuf,
                               sizeof(errbuf));
    if (rc != AP_OK) {
        (void)snprintf(detail, sizeof(detail), "CSR could not be parsed: %s",
                       errbuf);
        outcome = local_fail(res, rc == AP_ENOMEM ? ADAPTER_RETRY
                                                  : ADAPTER_REJECTED,
                             rc == AP_ENOMEM ? NULL : LOCAL_BAD_CSR, detail);
        goto out;
    }

    memset(&ireq, 0, sizeof(ireq));
    ireq.pubkey_der = csr != NULL ? csr->pubkey_der : req->csr_spki_der;
    ireq.pubkey_der_len = csr != NULL ? csr->pubkey_der_len
                                      : req->csr_spki_der_len;
    ireq.dns_names = req->dns_names;
    ireq.n_dns_names = req->n_dns_names;
    ireq.ip_addrs = req->ip_addrs;
    ireq.n_ip_addrs = req->n_ip_addrs;
    ireq.cn = NULL;
    ireq.not_before = req->not_before != 0 ? req->not_before
                                           : now - LOCAL_SKEW_SEC;
    ireq.not_after = req->not_after != 0
                         ? req->not_after
                         : now + (long long)lc->validity_days * 86400;
    ireq.eku = req->profile != NULL &&
                       strcmp(req->profile, LOCAL_TEMPLATE_CLIENT) == 0
                   ? CA_EKU_CLIENT
                   : 0;
    rc = ca_issue(lc->ca, &ireq, &cert, errbuf, sizeof(errbuf));
    if (rc == AP_EINVAL || rc == AP_EPARSE || rc == AP_ETOOBIG) {
        /* The request itself cannot be signed: the CSR's key or the
         * names or validity that came with it. */
        (void)snprintf(detail, sizeof(detail), "cannot issue: %s", errbuf);
        outcome = local_fail(res, ADAPTER_REJECTED, LOCAL_BAD_CSR, detail);
        goto out;
    }
    if (rc != AP_OK) {
        (void)snprintf(detail, sizeof(detail), "local CA failed (%s): %s",
                       ap_strerror(rc), errbuf);
        outcome = local_fail(res, ADAPTER_RETRY, NULL, detail);
        goto out;
    }
    /* Loaded by ca_issue (the CA may be deferred: common/ca.h). */
    inter = ca_intermediate_pem(lc->ca);
    chain = inter != NULL ? strdup(inter) : NULL;
    if (chain == NULL) {
        outcome = local_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    res->cert_pem = cert;
    res->chain_pem = chain;
    cert = NULL;
    chain = NULL;
    outcome = ADAPTER_ISSUED;
out:
    free(cert);
    free(chain);
    crypto_csr_free(csr);
    return outcome;
}

static ap_err
local_revoke(void *state, const char *cert_pem, int reason, char *errbuf,
             size_t errlen)
{
    (void)state;
    (void)cert_pem;
    (void)reason;
    (void)errbuf;
    (void)errlen;
    /* No CRL or OCSP yet: the core's record is the whole revocation. */
    return AP_OK;
}

static ap_err
local_health(void *state, char *errbuf, size_t errlen)
{
    (void)state;
    (void)errbuf;
    (void)errlen;
    return AP_OK;
}

static void
local_free(void *state)
{
    free(state);
}

const struct adapter_ops adapter_local = {
    .abi = ADAPTER_ABI,
    .name = "local",
    .caps = ADAPTER_CAP_REVOKE | ADAPTER_CAP_CONCURRENT |
            ADAPTER_CAP_IN_PROCESS,
    .config_keys = local_keys,
    .init = local_init,
    .submit = local_submit,
    .poll = NULL,
    .revoke = local_revoke,
    .health = local_health,
    .free = local_free,
};
