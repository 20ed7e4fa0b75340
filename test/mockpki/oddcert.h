/* test/mockpki/oddcert.h: leaves a PKI must never hand back, for the
 * stand-in's scenarios that test the proxy's refusal of them.
 *
 * The stand-in's own CA (common/ca.c) only makes proper TLS leaves, so
 * these are built here with OpenSSL's X509 API and signed with the same
 * intermediate (its files in ca_dir): the names match the request, the
 * key is the CSR's and the chain verifies; only the key use is wrong. */
#ifndef AP_TEST_MOCKPKI_ODDCERT_H
#define AP_TEST_MOCKPKI_ODDCERT_H

#include <stddef.h>

#include "common/err.h"

enum oddcert_kind {
    ODDCERT_CA = 1,          /* basicConstraints cA=TRUE, keyCertSign */
    ODDCERT_NO_SERVERAUTH    /* extendedKeyUsage clientAuth only */
};

/* A leaf of kind for the SubjectPublicKeyInfo spki with the given SANs,
 * valid from now - 60 s for 30 days, signed by ca_dir's intermediate, as
 * PEM into *pem (caller frees). AP_EINVAL for bad names or key. */
AP_MUST_CHECK ap_err oddcert_issue(const char *ca_dir, enum oddcert_kind kind,
                                   const unsigned char *spki, size_t spki_len,
                                   const char *const *dns, size_t n_dns,
                                   const char *const *ips, size_t n_ips,
                                   char **pem);

#endif /* AP_TEST_MOCKPKI_ODDCERT_H */
