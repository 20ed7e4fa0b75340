/* common/x509.h: what the core and the adapters need to know about the
 * certificates a PKI hands back, and about the ones clients send.
 *
 * A PKI answer is never trusted as it comes: the issuance worker checks
 * that the leaf carries the order's key, names exactly the order's
 * identifiers, is no CA and has the key purposes of its profile, and that
 * leaf plus chain verify to the configured trust anchors. Adapters use the
 * same module to turn base64 DER or PKCS#7 into PEM, to split and normalise
 * PEM bundles and to find a certificate's serial and issuer DN for
 * revocation; the ACME core reads serials, keys, validity and the
 * authority key identifier (RFC 9773) with x509_cert_parse. Every parse
 * goes through OpenSSL's libcrypto (PEM, DER, PKCS#7, X509v3 extensions);
 * nothing here walks ASN.1 by hand. Public certificates only, no private
 * keys. Every function is thread-safe: nothing is shared between calls. */
#ifndef AP_COMMON_X509_H
#define AP_COMMON_X509_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define X509_MAX_BUNDLE 262144 /* bytes of PEM we accept in one answer */
#define X509_MAX_CERTS 16      /* certificates in one chain */
#define X509_MAX_DN 1024       /* bytes of an issuer DN string */

/* Serial and issuer of one certificate, for revocation requests. */
struct x509_ids {
    char *serial_hex;  /* lower-case hex, even length, no separators */
    char *issuer_dn;   /* RFC 4514 string, most specific RDN first: short
                          attribute names (CN, O, OU, C, DC ...), dotted
                          OIDs for others with the value as #hex DER,
                          the characters ,+"\<>; and a leading '#' or
                          ' ' or trailing ' ' escaped with a backslash,
                          control bytes as \XX,
                          UTF-8 as is; at most X509_MAX_DN bytes */
    long long not_after;
};

/* Reads the first certificate of pem (NUL-terminated; every CERTIFICATE
 * block in it must decode). AP_EPARSE when there is none, AP_ETOOBIG past
 * the caps. Free the members with x509_ids_fini. */
AP_MUST_CHECK ap_err x509_cert_ids(const char *pem, struct x509_ids *out);
void x509_ids_fini(struct x509_ids *ids);

/* Rewrites every CERTIFICATE block of text (CRLF or LF; text between
 * blocks and blocks of other labels ignored; a block starts at the
 * beginning of a line) as clean PEM, one after the other, into *out
 * (caller frees). skip drops that many leading certificates. AP_EPARSE
 * when a block does not decode to one DER certificate or there is none
 * left; AP_ETOOBIG past X509_MAX_CERTS or X509_MAX_BUNDLE. *n (may be
 * NULL) gets the count. */
AP_MUST_CHECK ap_err x509_pem_normalize(const char *text, size_t skip,
                                        char **out, size_t *n);

/* Standard base64 (padding, line breaks allowed) of one DER certificate
 * to PEM (caller frees). AP_EPARSE when it is not a certificate. */
AP_MUST_CHECK ap_err x509_b64der_to_pem(const char *b64, char **out);

/* Standard base64 decoding with white space skipped (caller frees *out).
 * AP_EPARSE on bad input, AP_ETOOBIG above X509_MAX_BUNDLE. */
AP_MUST_CHECK ap_err x509_b64_decode(const char *b64, unsigned char **out,
                                     size_t *outlen);

/* The certificates of a PKCS#7 SignedData (RFC 2315 / 5652 §5.1: base64
 * of the DER, with or without PEM armour of any label: AD CS arms its
 * .p7b as CERTIFICATE) as PEM, in their order, into *out (caller frees).
 * AP_EPARSE when it is not one or holds none; AP_ETOOBIG past
 * X509_MAX_CERTS certificates or X509_MAX_BUNDLE bytes. */
AP_MUST_CHECK ap_err x509_pkcs7_to_pem(const char *text, char **out);

/* The SAN set of the leaf (first certificate of leaf_pem) must equal the
 * identifiers: dNSName case-insensitively, iPAddress by value, no other
 * SAN kinds, duplicates ignored. AP_EINVAL with the difference in why
 * when it does not; AP_EPARSE when the leaf does not parse. */
AP_MUST_CHECK ap_err x509_check_names(const char *leaf_pem,
                                      const char *const *dns, size_t n_dns,
                                      const char *const *ips, size_t n_ips,
                                      char *why, size_t whylen);

/* The leaf (first certificate of leaf_pem) must be an end-entity
 * certificate: refused (AP_EINVAL, the reason in why) when
 * basicConstraints says cA=TRUE, when keyUsage allows keyCertSign or
 * cRLSign, when an extension is malformed or appears twice, and, with
 * tls_server, when it has no extendedKeyUsage with id-kp-serverAuth
 * (anyExtendedKeyUsage alone does not count). AP_EPARSE when the leaf does
 * not parse. */
AP_MUST_CHECK ap_err x509_check_leaf_use(const char *leaf_pem,
                                         bool tls_server, char *why,
                                         size_t whylen);

/* Verifies the leaf with chain_pem (may be NULL) as untrusted
 * intermediates against the certificates of anchors_pem, at the current
 * time (OpenSSL's path validation). AP_ECRYPTO with the reason in why when
 * it does not verify;
 * AP_EPARSE when something does not parse. */
AP_MUST_CHECK ap_err x509_verify_chain(const char *leaf_pem,
                                       const char *chain_pem,
                                       const char *anchors_pem, char *why,
                                       size_t whylen);

/* ---- a PKI's leaf, decoded once (x509_check.c) --------------------
 * The issuance worker decodes the certificate a PKI returned once and
 * hands the result to every check below (the PEM forms above decode it
 * again at each call; OpenSSL 3.0 spends 0.1-0.2 ms per decoding). */

struct x509_leaf;

/* Decodes the first CERTIFICATE block of pem (blocks of other labels
 * before it skipped) and reads what x509_cert_parse reads of it: serial,
 * dates, a key OpenSSL can read. The blocks after it are decoded too (the
 * chain's untrusted part for x509_leaf_verify); one that does not decode
 * is no error here, but then x509_leaf_check_names and _check_use refuse
 * the leaf as x509_check_names does ("the leaf does not parse").
 * AP_EPARSE when there is no such leaf, AP_ETOOBIG past X509_MAX_BUNDLE,
 * AP_EINVAL on NULL. *out set only on AP_OK. */
AP_MUST_CHECK ap_err x509_leaf_parse(const char *pem,
                                     struct x509_leaf **out);
/* For the embedded CA (common/ca.c): x, a leaf it has just signed (its
 * key set as a key object), goes to the next x509_leaf_parse whose first
 * certificate is exactly x's DER instead of being decoded again; up to 16
 * are kept, the oldest dropped, and x stays the caller's too (a reference
 * is taken). x509_leaf_signed_drop frees the ones not taken. */
struct x509_st;
void x509_leaf_signed_here(struct x509_st *x);
void x509_leaf_signed_drop(void);
void x509_leaf_free(struct x509_leaf *leaf); /* accepts NULL */
/* Its serial (lower-case hex, as x509_cert's) and notAfter. */
const char *x509_leaf_serial(const struct x509_leaf *leaf);
long long x509_leaf_not_after(const struct x509_leaf *leaf);
/* *same: whether the leaf's key is spki (a SubjectPublicKeyInfo in the
 * form of crypto_csr's pubkey_der). Compares the certificate's own
 * encoding first and goes through OpenSSL's key encoder only when that
 * differs. AP_EPARSE when the leaf's key cannot be encoded. */
AP_MUST_CHECK ap_err x509_leaf_key_is(const struct x509_leaf *leaf,
                                      const unsigned char *spki, size_t len,
                                      bool *same);
/* x509_check_names and x509_check_leaf_use on the decoded leaf. */
AP_MUST_CHECK ap_err x509_leaf_check_names(const struct x509_leaf *leaf,
                                           const char *const *dns,
                                           size_t n_dns,
                                           const char *const *ips,
                                           size_t n_ips, char *why,
                                           size_t whylen);
AP_MUST_CHECK ap_err x509_leaf_check_use(const struct x509_leaf *leaf,
                                         bool tls_server, char *why,
                                         size_t whylen);

/* Trust anchors decoded once (a store OpenSSL's path validation reads;
 * shared by threads, never changed after it is loaded), with a cache of
 * the chains x509_leaf_verify was given: up to 8 chain texts, each parsed
 * once and kept under the SHA-256 of the whole text (the least recently
 * used goes; a text that does not parse is not kept). Only the parsed
 * certificates are kept: every verification runs in full. Thread-safe. */
struct x509_anchors;

struct x509_chain_stats {
    unsigned long long hits;
    unsigned long long misses;
    unsigned long long evictions;
    size_t entries;
};
/* From the certificates of pem (AP_EPARSE when none decodes). */
AP_MUST_CHECK ap_err x509_anchors_load(const char *pem,
                                       struct x509_anchors **out);
void x509_anchors_free(struct x509_anchors *anchors); /* accepts NULL */
/* The chain cache's counters since x509_anchors_load, and its entries. */
void x509_anchors_chain_stats(const struct x509_anchors *anchors,
                              struct x509_chain_stats *out);
/* x509_verify_chain on the decoded leaf: the blocks after the leaf in its
 * PEM and the certificates of chain_pem (may be NULL) as untrusted
 * intermediates, against anchors. */
AP_MUST_CHECK ap_err x509_leaf_verify(const struct x509_leaf *leaf,
                                      const char *chain_pem,
                                      const struct x509_anchors *anchors,
                                      char *why, size_t whylen);

/* Facts from one X.509 certificate. Strings owned by the struct. */
struct x509_cert {
    char *serial_hex;        /* lower-case hex, no separators, no leading 00 */
    unsigned char *pubkey_der; /* SubjectPublicKeyInfo DER, re-encoded by
                                  OpenSSL (i2d_PUBKEY), as crypto_csr's */
    size_t pubkey_der_len;
    long long not_before;    /* seconds since the epoch, UTC */
    long long not_after;
    unsigned char *serial_raw; /* the serial's DER content octets */
    size_t serial_raw_len;
    unsigned char *aki;      /* authorityKeyIdentifier keyIdentifier, or NULL */
    size_t aki_len;
};

/* Parses one DER certificate (exactly len bytes, at most
 * X509_MAX_BUNDLE). Reads facts, does not validate: an empty subject or
 * an unknown critical extension is fine here. AP_EPARSE when it is not
 * one, AP_EINVAL on NULL arguments. *out set only on AP_OK. */
AP_MUST_CHECK ap_err x509_cert_parse(const unsigned char *der, size_t len,
                                     struct x509_cert **out);
void x509_cert_free(struct x509_cert *cert);

/* The DER of the first CERTIFICATE block of a PEM text (other labels and
 * text before it skipped; what follows it is not read) into *der (caller
 * frees). AP_EPARSE when there is none or it is not a certificate,
 * AP_EINVAL on NULL arguments. */
AP_MUST_CHECK ap_err x509_pem_cert_to_der(const char *pem,
                                          unsigned char **der,
                                          size_t *derlen);

#endif /* AP_COMMON_X509_H */
