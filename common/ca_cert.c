/* common/ca_cert.c: the pieces of a certificate the embedded CA builds
 * (see ca_cert.h), with OpenSSL's X509 and X509v3 APIs: every extension
 * is built as its structure and added with X509_add1_ext_i2d. */
#include "common/ca_cert.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/ca_keys.h"
#include "common/randpool.h"

#define CA_DNS_NAME_MAX 253       /* RFC 1035, without a trailing dot */
#define CA_TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
#define CA_SERIAL_LEN 16          /* bytes: 128 bits, top bit clear */
#define CA_KEYID_LEN 20           /* SHA-1, RFC 5280 §4.2.1.2 method 1 */

/* An ASN1_TIME of a certificate as seconds since the epoch. */
ap_err
ca_time_read(const ASN1_TIME *t, long long *out)
{
    struct tm tm;
    time_t secs;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return AP_EINVAL;
    }
    secs = timegm(&tm);
    if (secs == (time_t)-1) {
        return AP_EINVAL;
    }
    *out = (long long)secs;
    return AP_OK;
}

/* Sets notBefore and notAfter (UTCTime before 2050, GeneralizedTime
 * from then on, RFC 5280 §4.1.2.5). */
ap_err
ca_validity_set(X509 *x, long long nb, long long na)
{
    if (nb < 0 || nb > CA_TIME_MAX || na < 0 || na > CA_TIME_MAX) {
        return AP_EINVAL;
    }
    if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL) {
        return AP_ECRYPTO;
    }
    return AP_OK;
}

/* ---- certificate pieces -------------------------------------------- */

/* randpool's fill function: OpenSSL's generator (RAND_bytes). */
static bool
serial_fill(unsigned char *out, size_t len)
{
    if (len > INT_MAX || RAND_bytes(out, (int)len) != 1) {
        ERR_clear_error();
        return false;
    }
    return true;
}

/* RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B Forum: at least
 * 64 bits from a CSPRNG. Always 16 octets with a non-zero first one.
 * The octets come from RAND_bytes through the thread's pool
 * (common/randpool.h: one RAND_bytes, and its getpid, per 512 bytes
 * instead of per certificate; every byte handed out once, then wiped). */
static ap_err
serial_set(X509 *x)
{
    unsigned char bin[CA_SERIAL_LEN];
    ASN1_INTEGER *serial = NULL;
    BIGNUM *bn = NULL;
    ap_err rc = AP_ECRYPTO;

    if (!randpool_get(bin, sizeof(bin), serial_fill)) {
        return AP_ECRYPTO;
    }
    bin[0] &= 0x7f;
    if (bin[0] == 0) {
        bin[0] = 0x01; /* never zero, always 128-bit wide */
    }
    bn = BN_bin2bn(bin, sizeof(bin), NULL);
    serial = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    if (serial != NULL && X509_set_serialNumber(x, serial) == 1) {
        rc = AP_OK;
    }
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return rc;
}

/* RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's
 * value, of the key certified by x. */
static ap_err
key_id(X509 *x, ASN1_OCTET_STRING **out)
{
    const unsigned char *pk = NULL;
    unsigned char md[CA_KEYID_LEN];
    unsigned int mdlen = 0;
    ASN1_OCTET_STRING *id;
    int pklen = 0;

    if (X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL,
                               X509_get_X509_PUBKEY(x)) != 1 ||
        EVP_Digest(pk, (size_t)pklen, md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen != sizeof(md)) {
        return AP_ECRYPTO;
    }
    id = ASN1_OCTET_STRING_new();
    if (id == NULL || ASN1_OCTET_STRING_set(id, md, (int)mdlen) != 1) {
        ASN1_OCTET_STRING_free(id);
        return AP_ENOMEM;
    }
    *out = id;
    return AP_OK;
}

/* subjectKeyIdentifier of x (its public key must be set). */
ap_err
ca_ski_add(X509 *x)
{
    ASN1_OCTET_STRING *id = NULL;
    ap_err rc;

    rc = key_id(x, &id);
    if (rc == AP_OK &&
        X509_add1_ext_i2d(x, NID_subject_key_identifier, id, 0,
                      X509V3_ADD_DEFAULT) != 1) {
        rc = AP_ECRYPTO;
    }
    ASN1_OCTET_STRING_free(id);
    return rc;
}

/* authorityKeyIdentifier { keyIdentifier } of x: the issuer's
 * subjectKeyIdentifier, or the same hash of its key when it has none. */
ap_err
ca_aki_add(X509 *x, X509 *issuer)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    ap_err rc = AP_ENOMEM;

    ERR_clear_error();
    if (akid == NULL) {
        goto out;
    }
    if (ski != NULL) {
        akid->keyid = ASN1_OCTET_STRING_dup(ski);
        rc = akid->keyid != NULL ? AP_OK : AP_ENOMEM;
    } else {
        rc = key_id(issuer, &akid->keyid);
    }
    if (rc == AP_OK &&
        X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
                      X509V3_ADD_DEFAULT) != 1) {
        rc = AP_ECRYPTO;
    }
out:
    AUTHORITY_KEYID_free(akid);
    return rc;
}

/* basicConstraints, critical. path_len < 0: none. */
ap_err
ca_bc_add(X509 *x, bool ca, long path_len)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ap_err rc = AP_ENOMEM;

    if (bc == NULL) {
        return AP_ENOMEM;
    }
    bc->ca = ca ? 0xff : 0;
    if (ca && path_len >= 0) {
        bc->pathlen = ASN1_INTEGER_new();
        if (bc->pathlen == NULL ||
            ASN1_INTEGER_set(bc->pathlen, path_len) != 1) {
            goto out;
        }
    }
    rc = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1,
                       X509V3_ADD_DEFAULT) == 1
             ? AP_OK
             : AP_ECRYPTO;
out:
    BASIC_CONSTRAINTS_free(bc);
    return rc;
}

/* keyUsage, critical; bits are KU_* of x509v3.h, numbered as RFC 5280
 * §4.2.1.3 (digitalSignature = bit 0 = 0x80). */
ap_err
ca_ku_add(X509 *x, unsigned bits)
{
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    ap_err rc = AP_ECRYPTO;

    if (ku == NULL) {
        return AP_ENOMEM;
    }
    for (int i = 0; i < 9; i++) {
        unsigned mask = i < 8 ? 0x80u >> i : 0x8000u;

        if ((bits & mask) != 0 && ASN1_BIT_STRING_set_bit(ku, i, 1) != 1) {
            goto out;
        }
    }
    if (X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1) {
        rc = AP_OK;
    }
out:
    ASN1_BIT_STRING_free(ku);
    return rc;
}

/* extKeyUsage { serverAuth?, clientAuth? }, not critical. */
ap_err
ca_eku_add(X509 *x, bool server, bool client)
{
    const bool want[] = { server, client };
    EXTENDED_KEY_USAGE *eku = EXTENDED_KEY_USAGE_new();
    static const int nids[] = { NID_server_auth, NID_client_auth };
    ap_err rc = AP_ENOMEM;

    if (eku == NULL) {
        return AP_ENOMEM;
    }
    for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
        if (!want[i]) {
            continue;
        }
        /* OBJ_nid2obj gives the static table entry: nothing to free. */
        if (sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(nids[i])) <= 0) {
            goto out;
        }
    }
    rc = X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) ==
                 1
             ? AP_OK
             : AP_ECRYPTO;
out:
    sk_ASN1_OBJECT_free(eku); /* static objects: the stack only */
    return rc;
}

/* One GENERAL_NAME of type (GEN_DNS or GEN_IPADD) with value bytes,
 * appended to names. */
static ap_err
gn_push(GENERAL_NAMES *names, int type, const void *value, size_t len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_STRING *s = type == GEN_DNS ? ASN1_IA5STRING_new()
                                     : ASN1_OCTET_STRING_new();

    if (gn == NULL || s == NULL ||
        ASN1_STRING_set(s, value, (int)len) != 1) {
        GENERAL_NAME_free(gn);
        ASN1_STRING_free(s);
        return AP_ENOMEM;
    }
    GENERAL_NAME_set0_value(gn, type, s);
    if (sk_GENERAL_NAME_push(names, gn) <= 0) {
        GENERAL_NAME_free(gn);
        return AP_ENOMEM;
    }
    return AP_OK;
}


ap_err
ca_san_add(X509 *x, const char *const *dns, size_t n_dns,
           const char *const *ips, size_t n_ips, bool critical, char *errbuf,
           size_t errlen)
{
    GENERAL_NAMES *names = GENERAL_NAMES_new();
    unsigned char ip[16];
    ap_err rc = AP_ENOMEM;

    if (names == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n_dns; i++) {
        const char *name = dns[i];
        size_t nlen = name == NULL ? 0 : strlen(name);

        if (nlen == 0 || nlen > CA_DNS_NAME_MAX) {
            ca_errf(errbuf, errlen, "DNS name %zu: empty or longer than %d "
                                    "bytes", i, CA_DNS_NAME_MAX);
            rc = AP_EINVAL;
            goto out;
        }
        for (size_t j = 0; j < nlen; j++) {
            unsigned char c = (unsigned char)name[j];

            /* IA5String, and nothing that could not be in a host name. */
            if (c <= 0x20 || c >= 0x7f) {
                ca_errf(errbuf, errlen, "DNS name %zu: byte 0x%02x not "
                                        "allowed", i, c);
                rc = AP_EINVAL;
                goto out;
            }
        }
        rc = gn_push(names, GEN_DNS, name, nlen);
        if (rc != AP_OK) {
            goto out;
        }
    }
    for (size_t i = 0; i < n_ips; i++) {
        const char *text = ips[i];
        size_t nlen;

        if (text != NULL && inet_pton(AF_INET, text, ip) == 1) {
            nlen = 4;
        } else if (text != NULL && inet_pton(AF_INET6, text, ip) == 1) {
            nlen = 16;
        } else {
            ca_errf(errbuf, errlen, "IP address %zu: not an IPv4 or IPv6 "
                                    "address", i);
            rc = AP_EINVAL;
            goto out;
        }
        rc = gn_push(names, GEN_IPADD, ip, nlen);
        if (rc != AP_OK) {
            goto out;
        }
    }
    rc = X509_add1_ext_i2d(x, NID_subject_alt_name, names, critical ? 1 : 0,
                       X509V3_ADD_DEFAULT) == 1
             ? AP_OK
             : AP_ECRYPTO;
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, "subjectAltName");
    }
out:
    GENERAL_NAMES_free(names);
    return rc;
}

/* One certificate in PEM, as a new string (caller frees). */
ap_err
ca_cert_pem(X509 *x, char **out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    ap_err rc = AP_ENOMEM;

    if (bio == NULL) {
        return AP_ENOMEM;
    }
    if (PEM_write_bio_X509(bio, x) != 1) {
        rc = AP_ECRYPTO;
        goto out;
    }
    len = BIO_get_mem_data(bio, &data);
    if (len > 0 && data != NULL) {
        *out = strndup(data, (size_t)len);
        rc = *out != NULL ? AP_OK : AP_ENOMEM;
    }
out:
    BIO_free(bio);
    return rc;
}

/* Serial set here, SHA-256, then PEM (caller frees). */
ap_err
ca_cert_sign(X509 *x, EVP_PKEY *issuer_key, char **out, char *errbuf,
          size_t errlen)
{
    ap_err rc;

    rc = serial_set(x);
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, "cannot draw a serial number");
        return rc;
    }
    if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
        ca_errf(errbuf, errlen, "cannot sign the certificate");
        return AP_ECRYPTO;
    }
    rc = ca_cert_pem(x, out);
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, "cannot encode the certificate: %s",
                ap_strerror(rc));
    }
    return rc;
}

/* A subject of one CN (UTF8String, as given: no DN syntax is read), or
 * an empty one for cn NULL. */
ap_err
ca_name_cn(X509_NAME **out, const char *cn, size_t cn_len)
{
    X509_NAME *name = X509_NAME_new();

    if (name == NULL) {
        return AP_ENOMEM;
    }
    if (cn != NULL &&
        X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
                                   (const unsigned char *)cn, (int)cn_len,
                                   -1, 0) != 1) {
        X509_NAME_free(name);
        return AP_ENOMEM;
    }
    *out = name;
    return AP_OK;
}

