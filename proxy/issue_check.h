/* proxy/issue_check.h: what a certificate from the PKI must be before an
 * order becomes valid, in one place (the issuer's cert_checks): the
 * certificate parses, carries the CSR's key, names exactly the order's
 * identifiers, is an end-entity certificate fit for the order's profile
 * (common/x509.h x509_leaf_check_use), and its chain verifies to the
 * trust anchors. The leaf is decoded once (struct x509_leaf) and every
 * check reads that; the CSR's key comes from the order as finalize read
 * it, so no check parses the CSR again. A further check is one more call
 * in issue_cert_checks. Thread-safe. */
#ifndef AP_PROXY_ISSUE_CHECK_H
#define AP_PROXY_ISSUE_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "adapters/adapter.h"
#include "common/x509.h"
#include "proxy/app.h"
#include "proxy/issue_record.h"

/* A certificate the PKI returned, read once. */
struct issue_leaf {
    struct x509_leaf *x509;
    char *serial;          /* lower-case hex */
    long long not_after;
    bool key_ok;           /* its key is the CSR's */
};

/* Decodes cert_pem (may be NULL) and compares its key with the CSR's
 * (in->spki). false when there is no certificate or it does not parse,
 * with the reason in why; *out is then empty. Free with issue_leaf_fini
 * either way. */
bool issue_leaf_read(const struct issue_input *in, const char *cert_pem,
                     struct issue_leaf *out, char *why, size_t whylen);
void issue_leaf_fini(struct issue_leaf *leaf);

/* Every check of a certificate whose key is the CSR's (issue_leaf_read
 * said so) before the order becomes valid: names, use for the order's
 * profile ([profile.NAME] tls_server; orders without a profile, or with
 * one no longer configured, count as TLS server orders), the chain of
 * res to anchors. false: why says what was wrong. */
bool issue_cert_checks(const struct app *app, const struct issue_input *in,
                       const struct issue_leaf *leaf,
                       const struct adapter_result *res,
                       const struct x509_anchors *anchors, char *why,
                       size_t whylen);

/* The extendedKeyUsage a CSR asks for (csr->eku), against the order's
 * profile (profile: its name, NULL: none): a TLS server profile (and an
 * order without a profile) allows serverAuth and clientAuth, a client
 * profile ([profile.NAME] tls_server = no) clientAuth only. false with
 * the reason in why (for a badCSR problem). No CSR EKU is always fine: the
 * PKI's template decides. */
bool issue_csr_eku_ok(const struct config *cfg, const char *profile,
                      unsigned csr_eku, char *why, size_t whylen);

#endif /* AP_PROXY_ISSUE_CHECK_H */
