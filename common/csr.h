/* common/csr.h: PKCS#10 certificate requests (RFC 2986) on OpenSSL
 * libcrypto: its ASN.1 templates (X509_REQ's structure, without the
 * provider decoders d2i_X509_REQ runs for the key), ASN1_item_verify and
 * the X509v3 extension methods.
 *
 * A CSR goes on to the PKI as the client sent it, and some PKIs honour
 * what it asks for, so more than its names is checked here: its key, its
 * signature algorithm, its attributes and the extensions it requests.
 *
 * Extension policy (RFC 8555 §7.4 "extensions that the CA is not willing
 * to include"): a CSR may request only
 *   subjectAltName          dNSName and iPAddress entries only
 *   basicConstraints        cA FALSE, no pathLenConstraint
 *   keyUsage                digitalSignature, keyEncipherment,
 *                           keyAgreement (at least one)
 *   extendedKeyUsage        serverAuth, clientAuth
 *   TLS feature (RFC 7633)  status_request (must-staple),
 *                           status_request_v2
 *   subjectKeyIdentifier
 * each at most once. Anything else is refused with a reason that names
 * the extension. The only attribute accepted is one PKCS#9
 * extensionRequest; any other (challengePassword, Microsoft enrollment
 * name-value pairs that pick an AD CS template, ...) is refused by name.
 *
 * Thread-safe: nothing is shared between calls. */
#ifndef AP_COMMON_CSR_H
#define AP_COMMON_CSR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/crypto.h"
#include "common/err.h"

#define CRYPTO_CSR_MAX_DER 16384
#define CRYPTO_CSR_MAX_NAMES 100
#define CRYPTO_CSR_MAX_EXTENSIONS 32

/* What a PKCS#10 request asks for. All strings owned by the struct. */
struct crypto_csr {
    char *cn;                /* subject commonName (UTF-8), NULL when absent */
    char **dns_names;        /* dNSName SANs as written, n_dns_names of them */
    size_t n_dns_names;
    char **ip_addrs;         /* iPAddress SANs in text form (inet_ntop) */
    size_t n_ip_addrs;
    enum crypto_key_type key_type;
    unsigned key_bits;       /* RSA modulus bits, or EC curve bits */
    const char *curve;       /* "P-256" / "P-384" / "P-521", NULL for RSA */
    unsigned char *pubkey_der; /* SubjectPublicKeyInfo DER (i2d_PUBKEY) */
    size_t pubkey_der_len;
    bool must_staple;        /* the TLS feature extension was requested */
    unsigned eku;            /* extendedKeyUsage requested: CRYPTO_CSR_EKU_*
                                bits; 0: none requested */
};

#define CRYPTO_CSR_EKU_SERVER 1u
#define CRYPTO_CSR_EKU_CLIENT 2u

/* Parses a DER CSR (at most CRYPTO_CSR_MAX_DER bytes, all of them one
 * CertificationRequest of version 0), checks its self-signature
 * (SHA-256/384/512 with ECDSA, RSASSA-PKCS1-v1_5 or RSASSA-PSS), its key
 * (RSA rsaEncryption with NULL or absent parameters and an RSAPublicKey
 * of two non-negative INTEGERs and nothing else, or EC P-256/384/521 with
 * a named curve and an uncompressed point on it; a BIT STRING without
 * unused bits), its attributes and extensions (policy above), and
 * extracts subject CN, the subjectAltName entries (at most
 * CRYPTO_CSR_MAX_NAMES) and the key.
 * AP_EPARSE (not a CSR, bad DER), AP_ETOOBIG (too large), AP_ECRYPTO
 * (signature does not verify) or AP_EINVAL (refused by policy), each with
 * a reason for humans in errbuf; AP_ENOMEM. *out set only on AP_OK; free
 * with crypto_csr_free. */
AP_MUST_CHECK ap_err crypto_csr_parse(const unsigned char *der, size_t len,
                                      struct crypto_csr **out, char *errbuf,
                                      size_t errlen);
/* The same without checking the self-signature: only for a CSR this
 * server already checked with crypto_csr_parse (stored at finalize), to
 * read its names and key again without a second verification. Finalize
 * parses once and keeps what the issuance needs (the key, in the order:
 * proxy/rec_order.h csrSpki), so the path of an order reads no CSR
 * again; this is for orders finalized by an earlier version and for a
 * PKI lookup after a lost answer (EJBCA). */
AP_MUST_CHECK ap_err crypto_csr_read(const unsigned char *der, size_t len,
                                     struct crypto_csr **out, char *errbuf,
                                     size_t errlen);
void crypto_csr_free(struct crypto_csr *csr);

#endif /* AP_COMMON_CSR_H */
