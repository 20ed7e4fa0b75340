/* common/x509.h: what the core and the adapters need to know about the
 * certificates a PKI hands back.
 *
 * A PKI answer is never trusted as it comes: the issuance worker checks
 * that the leaf names exactly the order's identifiers and that leaf plus
 * chain verify to the configured trust anchors. Adapters use the same
 * module to turn base64 DER into PEM, to split and normalise PEM bundles
 * and to find a certificate's serial and issuer DN for revocation. Uses
 * mbedTLS x509 (parse and verify only, no private keys). Every function is
 * thread-safe: nothing is shared between calls. */
#ifndef AP_COMMON_X509_H
#define AP_COMMON_X509_H

#include <stddef.h>

#include "common/err.h"

#define X509_MAX_BUNDLE 262144 /* bytes of PEM we accept in one answer */
#define X509_MAX_CERTS 16      /* certificates in one chain */

/* Serial and issuer of one certificate, for revocation requests. */
struct x509_ids {
    char *serial_hex;  /* lower-case hex, even length, no separators */
    char *issuer_dn;   /* RFC 4514 string, most specific RDN first */
    long long not_after;
};

/* Reads the first certificate of pem (NUL-terminated). AP_EPARSE when
 * there is none. Free the members with x509_ids_fini. */
AP_MUST_CHECK ap_err x509_cert_ids(const char *pem, struct x509_ids *out);
void x509_ids_fini(struct x509_ids *ids);

/* Rewrites every CERTIFICATE block of text (CRLF or LF, any text between
 * blocks ignored) as clean PEM, one after the other, into *out (caller
 * frees). skip drops that many leading certificates. AP_EPARSE when a
 * block does not decode or there is none left; AP_ETOOBIG past
 * X509_MAX_CERTS or X509_MAX_BUNDLE. *n (may be NULL) gets the count. */
AP_MUST_CHECK ap_err x509_pem_normalize(const char *text, size_t skip,
                                        char **out, size_t *n);

/* Standard base64 (padding, line breaks allowed) of one DER certificate
 * to PEM (caller frees). AP_EPARSE when it is not a certificate. */
AP_MUST_CHECK ap_err x509_b64der_to_pem(const char *b64, char **out);

/* Standard base64 decoding with white space skipped (caller frees *out).
 * AP_EPARSE on bad input, AP_ETOOBIG above X509_MAX_BUNDLE. */
AP_MUST_CHECK ap_err x509_b64_decode(const char *b64, unsigned char **out,
                                     size_t *outlen);

/* The certificates of a PKCS#7 SignedData (DER, or base64 with or
 * without PEM armour of any label: AD CS arms its .p7b as CERTIFICATE)
 * as PEM, in their order, into *out (caller frees). AP_EPARSE when it is
 * not one or holds none. */
AP_MUST_CHECK ap_err x509_pkcs7_to_pem(const char *text, char **out);

/* The SAN set of the leaf (first certificate of leaf_pem) must equal the
 * identifiers: dNSName case-insensitively, iPAddress by value, no other
 * SAN kinds, duplicates ignored. AP_EINVAL with the difference in why
 * when it does not; AP_EPARSE when the leaf does not parse. */
AP_MUST_CHECK ap_err x509_check_names(const char *leaf_pem,
                                      const char *const *dns, size_t n_dns,
                                      const char *const *ips, size_t n_ips,
                                      char *why, size_t whylen);

/* Verifies the leaf with chain_pem (may be NULL) as untrusted
 * intermediates against the certificates of anchors_pem, at the current
 * time (OpenSSL's path validation). AP_ECRYPTO with the reason in why when
 * it does not verify;
 * AP_EPARSE when something does not parse. */
AP_MUST_CHECK ap_err x509_verify_chain(const char *leaf_pem,
                                       const char *chain_pem,
                                       const char *anchors_pem, char *why,
                                       size_t whylen);

#endif /* AP_COMMON_X509_H */
