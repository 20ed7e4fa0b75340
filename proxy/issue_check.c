/* proxy/issue_check.c: the checks of a certificate from the PKI
 * (issue_check.h). */
#include "proxy/issue_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/csr.h"

bool
issue_leaf_read(const struct issue_input *in, const char *cert_pem,
                struct issue_leaf *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (cert_pem == NULL) {
        snprintf(why, whylen, "the PKI returned no certificate");
        return false;
    }
    if (x509_leaf_parse(cert_pem, &out->x509) != AP_OK) {
        snprintf(why, whylen, "the PKI returned no parseable certificate");
        return false;
    }
    if (in->spki == NULL) {
        snprintf(why, whylen, "stored CSR unreadable: %s", in->spki_error);
        issue_leaf_fini(out);
        return false;
    }
    if (x509_leaf_key_is(out->x509, in->spki, in->spki_len, &out->key_ok) !=
        AP_OK) {
        snprintf(why, whylen, "the PKI returned no parseable certificate");
        issue_leaf_fini(out);
        return false;
    }
    out->serial = strdup(x509_leaf_serial(out->x509));
    out->not_after = x509_leaf_not_after(out->x509);
    if (out->serial == NULL) {
        snprintf(why, whylen, "out of memory");
        issue_leaf_fini(out);
        return false;
    }
    return true;
}

void
issue_leaf_fini(struct issue_leaf *leaf)
{
    x509_leaf_free(leaf->x509);
    free(leaf->serial);
    memset(leaf, 0, sizeof(*leaf));
}

/* Whether the order's profile is a TLS server profile: yes for orders
 * without one, and for a profile no longer in the configuration. */
static bool
profile_tls_server(const struct app *app, const struct issue_input *in)
{
    const char *name = in->order.profile;
    const struct config_profile *p;

    p = name != NULL ? config_profile_find(app->cfg, name) : NULL;
    return p == NULL || p->tls_server;
}

bool
issue_csr_eku_ok(const struct config *cfg, const char *profile,
                 unsigned csr_eku, char *why, size_t whylen)
{
    const struct config_profile *p =
        profile != NULL ? config_profile_find(cfg, profile) : NULL;

    if (p == NULL || p->tls_server ||
        (csr_eku & CRYPTO_CSR_EKU_SERVER) == 0) {
        return true;
    }
    (void)snprintf(why, whylen, "profile %s issues client certificates: "
                   "the CSR may request extendedKeyUsage clientAuth only, "
                   "not serverAuth", p->name);
    return false;
}

bool
issue_cert_checks(const struct app *app, const struct issue_input *in,
                  const struct issue_leaf *leaf,
                  const struct adapter_result *res,
                  const struct x509_anchors *anchors, char *why,
                  size_t whylen)
{
    if (x509_leaf_check_names(leaf->x509, in->dns, in->n_dns, in->ips,
                              in->n_ips, why, whylen) != AP_OK) {
        return false;
    }
    if (x509_leaf_check_use(leaf->x509, profile_tls_server(app, in), why,
                            whylen) != AP_OK) {
        return false;
    }
    if (x509_leaf_verify(leaf->x509, res->chain_pem, anchors, why,
                         whylen) != AP_OK) {
        return false;
    }
    return true;
}
