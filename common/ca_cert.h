/* common/ca_cert.h: the pieces of a certificate the embedded CA builds,
 * for common/ca.c only.
 *
 * Each function adds one thing to an X509 under construction (OpenSSL's
 * X509v3 API: the extension as its structure, never a configuration
 * string or hand-made DER), or signs and encodes it. Errors: AP_ENOMEM,
 * AP_ECRYPTO when OpenSSL refuses, AP_EINVAL for bad input (errbuf, when
 * given, says which). Thread-safe: nothing is shared; the issuer's key is
 * only read. */
#ifndef AP_COMMON_CA_CERT_H
#define AP_COMMON_CA_CERT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/types.h>

#include "common/err.h"

/* An ASN1_TIME of a certificate as seconds since the epoch. */
AP_MUST_CHECK ap_err ca_time_read(const ASN1_TIME *t, long long *out);

/* notBefore and notAfter, seconds since the epoch, 1970..9999 (UTCTime
 * before 2050, GeneralizedTime from then on: RFC 5280 §4.1.2.5). */
AP_MUST_CHECK ap_err ca_validity_set(X509 *x, long long nb, long long na);

/* A subject of one commonName (UTF8String, the bytes as given: no DN
 * syntax is read), or an empty one for cn NULL (caller frees). */
AP_MUST_CHECK ap_err ca_name_cn(X509_NAME **out, const char *cn,
                                size_t cn_len);

/* basicConstraints, critical; path_len < 0: no pathLenConstraint. */
AP_MUST_CHECK ap_err ca_bc_add(X509 *x, bool ca, long path_len);
/* keyUsage, critical; bits are x509v3.h's KU_* values. */
AP_MUST_CHECK ap_err ca_ku_add(X509 *x, unsigned bits);
/* extKeyUsage, not critical: serverAuth and/or clientAuth (at least
 * one of them). */
AP_MUST_CHECK ap_err ca_eku_add(X509 *x, bool server, bool client);
/* subjectAltName: dNSName entries (1..253 bytes of 0x21..0x7e each) then
 * iPAddress entries (IPv4 or IPv6 text, no scope), each list in order;
 * critical for an empty subject (RFC 5280 §4.2.1.6). */
AP_MUST_CHECK ap_err ca_san_add(X509 *x, const char *const *dns,
                                size_t n_dns, const char *const *ips,
                                size_t n_ips, bool critical, char *errbuf,
                                size_t errlen);
/* subjectKeyIdentifier: SHA-1 of x's subjectPublicKey (RFC 5280
 * §4.2.1.2 method 1; the public key must be set). */
AP_MUST_CHECK ap_err ca_ski_add(X509 *x);
/* authorityKeyIdentifier { keyIdentifier }: issuer's SKI, or the same
 * hash of its key when it has none. */
AP_MUST_CHECK ap_err ca_aki_add(X509 *x, X509 *issuer);

/* Sets a random positive 128-bit serial, signs x with issuer_key and
 * SHA-256, and returns it in PEM (caller frees). */
AP_MUST_CHECK ap_err ca_cert_sign(X509 *x, EVP_PKEY *issuer_key, char **out,
                                  char *errbuf, size_t errlen);
/* x in PEM, as a new string (caller frees). */
AP_MUST_CHECK ap_err ca_cert_pem(X509 *x, char **out);

#endif /* AP_COMMON_CA_CERT_H */
