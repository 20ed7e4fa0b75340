/* common/spki.h: OpenSSL ASN.1 templates for the parts of a public key,
 * read without building the key (OpenSSL 3.0 builds one through its
 * provider decoders, built afresh for each call): a SubjectPublicKeyInfo
 * as its two parts (RFC 5280 §4.1.2.7), as X509_PUBKEY's own template has
 * them, and an RSAPublicKey (RFC 8017 §A.1.1), the subjectPublicKey of
 * rsaEncryption. Shared by the CA (common/ca.c), the CSR reader
 * (common/csr.c) and the certificate syntax check (common/x509.c); decode
 * with ASN1_item_d2i(..., ASN1_ITEM_rptr(SPKI_PARTS)) and free with
 * ASN1_item_free. */
#ifndef AP_COMMON_SPKI_H
#define AP_COMMON_SPKI_H

#include <openssl/asn1.h>
#include <openssl/x509.h>

typedef struct {
    X509_ALGOR *alg;
    ASN1_BIT_STRING *key;
} SPKI_PARTS;

typedef struct {
    ASN1_INTEGER *n;
    ASN1_INTEGER *e;
} RSA_PUB_PARTS;

DECLARE_ASN1_ITEM(SPKI_PARTS)
DECLARE_ASN1_ITEM(RSA_PUB_PARTS)

#endif
