/* common/ca.h: the embedded certificate authority.
 *
 * Two levels, as a real PKI has: a self-signed root (the certificate
 * clients trust, written to <dir>/ca.pem) and an intermediate that signs
 * every leaf (issued certificates and the HTTPS listener's own). Keys are
 * EC P-256, created on first start with mode 0600 under <dir> (SEC1 PEM;
 * keys and certificates of earlier, mbedTLS-based versions load as they
 * are); later starts load them. Only this module opens the CA keys.
 * OpenSSL's libcrypto builds and signs; after ca_open the CA is only read,
 * so every function is thread-safe without a lock (a ca_open_deferred CA
 * takes one, once, to load at its first use). */
#ifndef AP_COMMON_CA_H
#define AP_COMMON_CA_H

#include <stddef.h>

#include "common/err.h"

#define CA_ROOT_FILE "ca.pem"             /* root certificate, for clients */
#define CA_ROOT_KEY_FILE "ca-root.key"
#define CA_INT_FILE "ca-intermediate.pem"
#define CA_INT_KEY_FILE "ca-intermediate.key"

struct ca;

/* Loads the CA from dir, creating keys and certificates that are missing
 * (root valid 20 years, intermediate 10 years). dir must exist. errbuf
 * gets a reason for the operator on failure. *out set only on AP_OK. */
AP_MUST_CHECK ap_err ca_open(const char *dir, struct ca **out, char *errbuf,
                             size_t errlen);
/* The same CA, loaded at its first use (ca_issue, ca_issue_tls, the PEM
 * accessors) instead of now: no OpenSSL call is made here, so a server
 * whose start does not sign maps less of libcrypto while idle. The files
 * must exist by then (nothing is created; ca_open at start, in the
 * serving process's start-up check, made or checked them). The first use
 * loads under a lock, once; a load that fails (files removed or broken
 * since) fails that call and is tried again at the next. Thread-safe.
 * AP_EINVAL without dir, AP_ENOMEM. *out set only on AP_OK. */
AP_MUST_CHECK ap_err ca_open_deferred(const char *dir, struct ca **out,
                                      char *errbuf, size_t errlen);
void ca_free(struct ca *ca);

/* PEM of the root (trust anchor) and of the intermediate; owned by ca.
 * NULL only for a deferred CA whose load fails. */
const char *ca_root_pem(const struct ca *ca);
const char *ca_intermediate_pem(const struct ca *ca);

/* What to put in a leaf certificate. */
struct ca_issue_req {
    const unsigned char *pubkey_der; /* SubjectPublicKeyInfo DER */
    size_t pubkey_der_len;
    const char *const *dns_names;    /* dNSName SANs */
    size_t n_dns_names;
    const char *const *ip_addrs;     /* iPAddress SANs, text (v4 or v6) */
    size_t n_ip_addrs;
    const char *cn;                  /* subject CN; NULL: first name */
    long long not_before;            /* seconds since the epoch */
    long long not_after;
    unsigned eku;                    /* CA_EKU_* bits; 0: both */
};

#define CA_EKU_SERVER 1u             /* extKeyUsage serverAuth */
#define CA_EKU_CLIENT 2u             /* extKeyUsage clientAuth */

/* Signs a leaf with the intermediate: random positive 128-bit serial,
 * basicConstraints CA:FALSE, keyUsage digitalSignature (and
 * keyEncipherment for RSA keys), extKeyUsage serverAuth and clientAuth
 * (or those of req->eku),
 * subjectAltName, subject and authority key identifiers, SHA-256. The key
 * must be RSA of at least 2048 bits or EC on P-256, P-384 or P-521;
 * notAfter is cut to the intermediate's. AP_EPARSE when the key does not
 * parse, AP_EINVAL / AP_ETOOBIG for a key, names or validity that cannot
 * be signed (errbuf says which). *cert_pem (caller frees) set only on
 * AP_OK. */
AP_MUST_CHECK ap_err ca_issue(struct ca *ca, const struct ca_issue_req *req,
                              char **cert_pem, char *errbuf, size_t errlen);

/* Makes a fresh EC P-256 key and a leaf for it valid for days days with the
 * given names: for the HTTPS listener. *key_pem and *cert_pem (caller
 * frees; wipe the key) set only on AP_OK. */
AP_MUST_CHECK ap_err ca_issue_tls(struct ca *ca, const char *const *dns_names,
                                  size_t n_dns_names,
                                  const char *const *ip_addrs,
                                  size_t n_ip_addrs, unsigned days,
                                  char **key_pem, char **cert_pem,
                                  char *errbuf, size_t errlen);

#endif /* AP_COMMON_CA_H */
