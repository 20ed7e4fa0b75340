/* common/csr.c: PKCS#10 requests on OpenSSL libcrypto (see csr.h).
 *
 * OpenSSL decodes everything (its ASN.1 templates: the request's own,
 * below, X509_NAME, X509_ATTRIBUTE, the extension methods' items,
 * RSA_PSS_PARAMS); this file only decides what it accepts. Every OpenSSL
 * error is cleared from the thread's queue before return.
 *
 * The request is decoded with templates of its own (CSR_REQ) rather than
 * d2i_X509_REQ: the same structure as OpenSSL's X509_REQ (x_req.c),
 * except that the SubjectPublicKeyInfo stays its two parts. d2i_X509_REQ
 * decodes the key through OpenSSL 3.0's provider decoders, whose context
 * it builds afresh for each request (1.2 M of its 1.5 M instructions for
 * a P-256 CSR); here the key is built from its numbers as jwk.c builds an
 * account key (EC: the curve's template with the point set; RSA: n and
 * e), and the signature is checked by ASN1_item_verify over the
 * CertificationRequestInfo as received, as X509_REQ_verify does. */
#include "common/csr.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/jwk_int.h"
#include "common/spki.h"

/* ---- the request's templates ------------------------------------- */

/* CertificationRequestInfo (RFC 2986 §4.1), its encoding kept as
 * received (ASN1_ENCODING) for the signature check. The attributes are
 * optional, as in OpenSSL's X509_REQ_INFO ("gets round invalid
 * encodings"). */
typedef struct {
    ASN1_ENCODING enc;
    ASN1_INTEGER *version;
    X509_NAME *subject;
    SPKI_PARTS *spki;
    STACK_OF(X509_ATTRIBUTE) *attributes;
} CSR_INFO;

ASN1_SEQUENCE_enc(CSR_INFO, enc, 0) = {
    ASN1_SIMPLE(CSR_INFO, version, ASN1_INTEGER),
    ASN1_SIMPLE(CSR_INFO, subject, X509_NAME),
    ASN1_SIMPLE(CSR_INFO, spki, SPKI_PARTS),
    ASN1_IMP_SET_OF_OPT(CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END_ref(CSR_INFO, CSR_INFO)

/* CertificationRequest (RFC 2986 §4.2). */
typedef struct {
    CSR_INFO *info;
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *signature;
} CSR_REQ;

ASN1_SEQUENCE(CSR_REQ) = {
    ASN1_SIMPLE(CSR_REQ, info, CSR_INFO),
    ASN1_SIMPLE(CSR_REQ, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(CSR_REQ, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_REQ)

/* Longest OID text or name we put in a reason. */
#define CSR_OID_TEXT 80
/* Largest RSA public exponent accepted, in bits (mbedTLS and Go cap it
 * at 32; PKIs do not take more). */
#define CSR_MAX_E_BITS 32

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (errbuf == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    if (n < 0) {
        errbuf[0] = '\0';
    }
}

/* "name (1.2.3)" of an OID, or only the dotted form when OpenSSL has no
 * name for it, into out. */
static void
oid_text(const ASN1_OBJECT *obj, char *out, size_t outlen)
{
    char num[CSR_OID_TEXT];
    int nid = OBJ_obj2nid(obj);
    const char *name = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;

    if (OBJ_obj2txt(num, sizeof(num), obj, 1) <= 0) {
        snprintf(num, sizeof(num), "?");
    }
    if (name != NULL) {
        snprintf(out, outlen, "%s (%s)", name, num);
    } else {
        snprintf(out, outlen, "%s", num);
    }
}

/* ---- strings ------------------------------------------------------- */

/* Appends a copy of s[0..len) to *list of *n strings. */
static ap_err
str_list_push(char ***list, size_t *n, const char *s, size_t len)
{
    char **grown;
    char *copy;
    ap_err rc = AP_ENOMEM;

    copy = strndup(s, len);
    if (copy == NULL) {
        goto out;
    }
    grown = realloc(*list, (*n + 1) * sizeof(**list));
    if (grown == NULL) {
        goto out;
    }
    grown[*n] = copy;
    copy = NULL;
    *list = grown;
    (*n)++;
    rc = AP_OK;
out:
    free(copy);
    return rc;
}

/* ---- signature algorithm ------------------------------------------- */

static bool
md_nid_ok(int nid)
{
    return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

/* CA/Browser Forum BR §7.1.3.2: SHA-256, SHA-384 or SHA-512 only. For
 * RSASSA-PSS the hash is in the parameters (absent means SHA-1). */
static ap_err
check_sig_alg(const X509_ALGOR *alg, char *errbuf, size_t errlen)
{
    const ASN1_OBJECT *obj = NULL;
    RSA_PSS_PARAMS *pss = NULL;
    int md_nid = NID_undef;
    int pk_nid = NID_undef;
    int nid;
    ap_err rc = AP_EINVAL;

    if (alg == NULL) {
        set_err(errbuf, errlen, "CSR has no signature algorithm");
        goto out;
    }
    X509_ALGOR_get0(&obj, NULL, NULL, alg);
    nid = OBJ_obj2nid(obj);
    if (nid == NID_rsassaPss) {
        pss = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS),
                                        alg->parameter);
        if (pss == NULL) {
            set_err(errbuf, errlen,
                    "CSR RSASSA-PSS parameters are not valid DER");
            rc = AP_EPARSE;
            goto out;
        }
        md_nid = pss->hashAlgorithm != NULL
                     ? OBJ_obj2nid(pss->hashAlgorithm->algorithm)
                     : NID_sha1;
        pk_nid = NID_rsaEncryption;
    } else if (OBJ_find_sigid_algs(nid, &md_nid, &pk_nid) != 1) {
        set_err(errbuf, errlen, "CSR signature algorithm not supported");
        goto out;
    }
    if (pk_nid != NID_rsaEncryption && pk_nid != NID_X9_62_id_ecPublicKey) {
        set_err(errbuf, errlen, "CSR signature algorithm not supported "
                                "(use ECDSA or RSA)");
        goto out;
    }
    if (!md_nid_ok(md_nid)) {
        set_err(errbuf, errlen,
                "CSR signature hash must be SHA-256, SHA-384 or SHA-512");
        goto out;
    }
    rc = AP_OK;
out:
    RSA_PSS_PARAMS_free(pss);
    return rc;
}

/* ---- key ----------------------------------------------------------- */

static const struct {
    int nid;
    const char *name;
    unsigned bits;
    size_t field_len;
} csr_curves[] = {
    { NID_X9_62_prime256v1, "P-256", 256, 32 },
    { NID_secp384r1, "P-384", 384, 48 },
    { NID_secp521r1, "P-521", 521, 66 },
};

/* An EC key as RFC 5480 §2.1.1 and the CA/Browser Forum BR §7.1.3.1.2
 * want it: a named curve of ours and an uncompressed point, which
 * OpenSSL must take as a point of that curve (*pkey). */
static ap_err
ec_key(const SPKI_PARTS *spki, struct crypto_csr *csr, EVP_PKEY **pkey,
       char *errbuf, size_t errlen)
{
    const unsigned char *pt = ASN1_STRING_get0_data(spki->key);
    int ptlen = ASN1_STRING_length(spki->key);
    const void *pval = NULL;
    int ptype = V_ASN1_UNDEF;
    int nid;
    size_t i;

    X509_ALGOR_get0(NULL, &ptype, &pval, spki->alg);
    if (ptype != V_ASN1_OBJECT) {
        set_err(errbuf, errlen,
                "CSR EC key must name its curve (no explicit parameters)");
        return AP_EINVAL;
    }
    nid = OBJ_obj2nid(pval);
    for (i = 0; i < sizeof(csr_curves) / sizeof(csr_curves[0]); i++) {
        if (csr_curves[i].nid == nid) {
            break;
        }
    }
    if (i == sizeof(csr_curves) / sizeof(csr_curves[0])) {
        set_err(errbuf, errlen,
                "CSR key curve not supported (use P-256, P-384 or P-521)");
        return AP_EINVAL;
    }
    if (pt == NULL || (size_t)ptlen != 1 + 2 * csr_curves[i].field_len ||
        pt[0] != POINT_CONVERSION_UNCOMPRESSED) {
        set_err(errbuf, errlen, "CSR EC key must be an uncompressed point");
        return AP_EINVAL;
    }
    *pkey = jwk_ec_key_from_point(nid, pt, (size_t)ptlen);
    if (*pkey == NULL) {
        set_err(errbuf, errlen,
                "CSR key type not supported or its key is invalid");
        return AP_EINVAL;
    }
    csr->key_type = CRYPTO_KEY_EC;
    csr->key_bits = csr_curves[i].bits;
    csr->curve = csr_curves[i].name;
    return AP_OK;
}

/* An RSA key whose public values are plausible: an RSAPublicKey of two
 * non-negative INTEGERs and nothing after it, n odd, e odd, 1 < e and at
 * most CSR_MAX_E_BITS bits (RFC 8017 §3.1; what mbedTLS checked), which
 * OpenSSL must take as a key (*pkey). RFC 3279 §2.3.1: the parameters
 * are NULL (absent is taken too, and written as NULL in pubkey_der). */
static ap_err
rsa_key(SPKI_PARTS *spki, struct crypto_csr *csr, EVP_PKEY **pkey,
        char *errbuf, size_t errlen)
{
    const unsigned char *der = ASN1_STRING_get0_data(spki->key);
    const unsigned char *p = der;
    long len = ASN1_STRING_length(spki->key);
    int ptype = V_ASN1_UNDEF;
    RSA_PUB_PARTS *rsa = NULL;
    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    ap_err rc = AP_EPARSE;

    X509_ALGOR_get0(NULL, &ptype, NULL, spki->alg);
    if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
        set_err(errbuf, errlen,
                "CSR RSA key parameters must be NULL (RFC 3279)");
        goto out;
    }
    if (ptype == V_ASN1_UNDEF &&
        X509_ALGOR_set0(spki->alg, OBJ_nid2obj(NID_rsaEncryption),
                        V_ASN1_NULL, NULL) != 1) {
        rc = AP_ENOMEM;
        goto out;
    }
    rsa = (RSA_PUB_PARTS *)ASN1_item_d2i(NULL, &p, len,
                                      ASN1_ITEM_rptr(RSA_PUB_PARTS));
    if (rsa == NULL || p != der + len ||
        ASN1_STRING_type(rsa->n) != V_ASN1_INTEGER ||
        ASN1_STRING_type(rsa->e) != V_ASN1_INTEGER) {
        set_err(errbuf, errlen, "CSR RSA key cannot be read");
        goto out;
    }
    n = ASN1_INTEGER_to_BN(rsa->n, NULL);
    e = ASN1_INTEGER_to_BN(rsa->e, NULL);
    if (n == NULL || e == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = AP_EINVAL;
    if (!BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e) ||
        BN_num_bits(e) > CSR_MAX_E_BITS) {
        set_err(errbuf, errlen,
                "CSR RSA key is not valid (modulus and exponent must be "
                "odd, exponent > 1 and at most %d bits)", CSR_MAX_E_BITS);
        goto out;
    }
    *pkey = jwk_rsa_key_from_ne(n, e);
    if (*pkey == NULL) {
        set_err(errbuf, errlen,
                "CSR key type not supported or its key is invalid");
        goto out;
    }
    csr->key_type = CRYPTO_KEY_RSA;
    csr->key_bits = (unsigned)BN_num_bits(n);
    csr->curve = NULL;
    rc = AP_OK;
out:
    BN_free(n);
    BN_free(e);
    ASN1_item_free((ASN1_VALUE *)rsa, ASN1_ITEM_rptr(RSA_PUB_PARTS));
    return rc;
}

/* key_type, key_bits, curve and pubkey_der of csr from the request's
 * SubjectPublicKeyInfo, and the key for the signature check (*pkey,
 * caller frees). */
static ap_err
describe_key(SPKI_PARTS *spki, struct crypto_csr *csr, EVP_PKEY **pkey,
             char *errbuf, size_t errlen)
{
    const ASN1_OBJECT *aobj = NULL;
    unsigned char *enc = NULL;
    int nid;
    int n = -1;
    ap_err rc = AP_EINVAL;

    /* Both kinds of key are whole bytes: no unused bits (which the BIT
     * STRING decoder keeps in the low 3 bits of flags). */
    if (ASN1_STRING_length(spki->key) <= 0 || (spki->key->flags & 0x07) != 0) {
        set_err(errbuf, errlen, "CSR public key is not valid DER");
        rc = AP_EPARSE;
        goto out;
    }
    X509_ALGOR_get0(&aobj, NULL, NULL, spki->alg);
    nid = OBJ_obj2nid(aobj);
    if (nid == NID_rsaEncryption) {
        rc = rsa_key(spki, csr, pkey, errbuf, errlen);
    } else if (nid == NID_X9_62_id_ecPublicKey) {
        rc = ec_key(spki, csr, pkey, errbuf, errlen);
    } else if (nid != NID_undef && EVP_PKEY_asn1_find(NULL, nid) != NULL) {
        /* A key type OpenSSL knows (Ed25519, RSASSA-PSS, DSA ...). */
        set_err(errbuf, errlen,
                "CSR key type not supported (use RSA or EC P-256, P-384, "
                "P-521)");
        rc = AP_EINVAL;
    } else {
        set_err(errbuf, errlen,
                "CSR key type not supported or its key is invalid");
        rc = AP_EINVAL;
    }
    if (rc != AP_OK) {
        goto out;
    }
    /* The SubjectPublicKeyInfo as i2d_PUBKEY writes it (what jwk.c's
     * crypto_key_spki_der and certificates carry): the decoded fields of
     * a key in that form already (named curve, uncompressed point, as
     * checked above; RSA with NULL parameters) re-encoded. */
    n = ASN1_item_i2d((ASN1_VALUE *)spki, &enc, ASN1_ITEM_rptr(SPKI_PARTS));
    if (n <= 0) {
        set_err(errbuf, errlen, "cannot encode the CSR key");
        rc = AP_EINTERNAL;
        goto out;
    }
    csr->pubkey_der = malloc((size_t)n);
    if (csr->pubkey_der == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(csr->pubkey_der, enc, (size_t)n);
    csr->pubkey_der_len = (size_t)n;
    rc = AP_OK;
out:
    OPENSSL_free(enc);
    return rc;
}

/* ---- subject ------------------------------------------------------- */

/* The first commonName of the subject, if any, as UTF-8. An empty
 * subject is fine (certbot sends one). */
static ap_err
copy_cn(const X509_NAME *subject, struct crypto_csr *csr, char *errbuf,
        size_t errlen)
{
    const ASN1_STRING *value;
    unsigned char *utf8 = NULL;
    int idx;
    int type;
    int n;
    ap_err rc = AP_EINVAL;

    idx = subject != NULL
              ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
              : -1;
    if (idx < 0) {
        rc = AP_OK;
        goto out;
    }
    value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    type = value != NULL ? ASN1_STRING_type(value) : V_ASN1_UNDEF;
    if (type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING &&
        type != V_ASN1_IA5STRING && type != V_ASN1_T61STRING) {
        set_err(errbuf, errlen,
                "CSR commonName must be a UTF8String or PrintableString");
        goto out;
    }
    n = ASN1_STRING_to_UTF8(&utf8, value);
    if (n < 0) {
        set_err(errbuf, errlen, "CSR commonName is not valid UTF-8");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (utf8[i] < 0x20 || utf8[i] == 0x7f) {
            set_err(errbuf, errlen, "CSR commonName contains a control byte");
            goto out;
        }
    }
    csr->cn = strndup((const char *)utf8, (size_t)n);
    if (csr->cn == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = AP_OK;
out:
    OPENSSL_free(utf8);
    return rc;
}

/* ---- attributes ---------------------------------------------------- */

/* Only one PKCS#9 extensionRequest, with one value. *ext_req gets it,
 * NULL when there is none. */
static ap_err
check_attributes(const STACK_OF(X509_ATTRIBUTE) *attrs,
                 X509_ATTRIBUTE **ext_req, char *errbuf, size_t errlen)
{
    char name[2 * CSR_OID_TEXT];
    int count = X509at_get_attr_count(attrs);
    ap_err rc = AP_EINVAL;

    *ext_req = NULL;
    for (int i = 0; i < count; i++) {
        X509_ATTRIBUTE *attr = X509at_get_attr(attrs, i);
        ASN1_OBJECT *obj = X509_ATTRIBUTE_get0_object(attr);

        if (OBJ_obj2nid(obj) != NID_ext_req) {
            oid_text(obj, name, sizeof(name));
            set_err(errbuf, errlen,
                    "CSR attribute %s is not accepted (only "
                    "extensionRequest)", name);
            goto out;
        }
        if (*ext_req != NULL) {
            set_err(errbuf, errlen,
                    "CSR has two extensionRequest attributes");
            goto out;
        }
        /* PKCS#9 extensionRequest is single-valued. */
        if (X509_ATTRIBUTE_count(attr) != 1) {
            set_err(errbuf, errlen,
                    "CSR extensionRequest must hold exactly one value");
            goto out;
        }
        *ext_req = attr;
    }
    rc = AP_OK;
out:
    return rc;
}

/* ---- extensions ---------------------------------------------------- */

/* The decoded value of ext through its OpenSSL method, which must use
 * every byte of the extnValue; NULL when it does not decode. Free with
 * ASN1_item_free(v, ASN1_ITEM_ptr((*m)->it)). */
static void *
ext_decode(X509_EXTENSION *ext, const X509V3_EXT_METHOD **m)
{
    const ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(ext);
    const unsigned char *p;
    const unsigned char *end;
    void *v;

    *m = X509V3_EXT_get(ext);
    if (*m == NULL || (*m)->it == NULL || data == NULL) {
        return NULL;
    }
    p = ASN1_STRING_get0_data(data);
    end = p + ASN1_STRING_length(data);
    v = ASN1_item_d2i(NULL, &p, ASN1_STRING_length(data),
                      ASN1_ITEM_ptr((*m)->it));
    if (v != NULL && p != end) {
        ASN1_item_free(v, ASN1_ITEM_ptr((*m)->it));
        v = NULL;
    }
    return v;
}

static const char *
general_name_kind(int type)
{
    switch (type) {
    case GEN_OTHERNAME:
        return "otherName";
    case GEN_EMAIL:
        return "rfc822Name";
    case GEN_X400:
        return "x400Address";
    case GEN_DIRNAME:
        return "directoryName";
    case GEN_EDIPARTY:
        return "ediPartyName";
    case GEN_URI:
        return "uniformResourceIdentifier";
    case GEN_RID:
        return "registeredID";
    default:
        return "unknown";
    }
}

/* GeneralNames (RFC 5280 §4.2.1.6): only dNSName and iPAddress can be
 * validated by ACME, so anything else is refused. */
static ap_err
take_sans(const GENERAL_NAMES *gens, struct crypto_csr *csr, char *errbuf,
          size_t errlen)
{
    char text[INET6_ADDRSTRLEN];
    int count = sk_GENERAL_NAME_num(gens);
    ap_err rc = AP_EINVAL;

    if (count <= 0) {
        set_err(errbuf, errlen, "CSR subjectAltName is empty");
        goto out;
    }
    for (int i = 0; i < count; i++) {
        const GENERAL_NAME *gen = sk_GENERAL_NAME_value(gens, i);
        const unsigned char *p;
        int len;

        rc = AP_EINVAL;
        if (csr->n_dns_names + csr->n_ip_addrs >= CRYPTO_CSR_MAX_NAMES) {
            set_err(errbuf, errlen, "CSR has more than %d names",
                    CRYPTO_CSR_MAX_NAMES);
            goto out;
        }
        if (gen->type == GEN_DNS) {
            p = ASN1_STRING_get0_data(gen->d.dNSName);
            len = ASN1_STRING_length(gen->d.dNSName);
            if (len <= 0) {
                set_err(errbuf, errlen, "CSR has an empty dNSName");
                goto out;
            }
            for (int k = 0; k < len; k++) {
                if (p[k] < 0x20 || p[k] >= 0x7f) {
                    set_err(errbuf, errlen,
                            "CSR dNSName contains a control or non-ASCII "
                            "byte");
                    goto out;
                }
            }
            rc = str_list_push(&csr->dns_names, &csr->n_dns_names,
                               (const char *)p, (size_t)len);
        } else if (gen->type == GEN_IPADD) {
            p = ASN1_STRING_get0_data(gen->d.iPAddress);
            len = ASN1_STRING_length(gen->d.iPAddress);
            /* RFC 5280 §4.2.1.6: four octets for IPv4, sixteen for IPv6. */
            if (len != 4 && len != 16) {
                set_err(errbuf, errlen,
                        "CSR iPAddress must have 4 or 16 bytes");
                goto out;
            }
            if (inet_ntop(len == 4 ? AF_INET : AF_INET6, p, text,
                          sizeof(text)) == NULL) {
                rc = AP_EINTERNAL;
                goto out;
            }
            rc = str_list_push(&csr->ip_addrs, &csr->n_ip_addrs, text,
                               strlen(text));
        } else {
            set_err(errbuf, errlen, "unsupported SAN type %s in CSR",
                    general_name_kind(gen->type));
            goto out;
        }
        if (rc != AP_OK) {
            goto out;
        }
    }
    rc = AP_OK;
out:
    return rc;
}

/* RFC 5280 §4.2.1.3 bit names, for the reason of a refusal. */
static const char *const ku_names[] = {
    "digitalSignature", "nonRepudiation", "keyEncipherment",
    "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign",
    "encipherOnly", "decipherOnly",
};

static ap_err
check_key_usage(const ASN1_BIT_STRING *ku, char *errbuf, size_t errlen)
{
    int nbits = ASN1_STRING_length(ku) * 8;
    bool any = false;

    for (int bit = 0; bit < nbits; bit++) {
        if (ASN1_BIT_STRING_get_bit(ku, bit) != 1) {
            continue;
        }
        any = true;
        if (bit != 0 && bit != 2 && bit != 4) {
            set_err(errbuf, errlen,
                    "CSR keyUsage %s is not accepted (only "
                    "digitalSignature, keyEncipherment, keyAgreement)",
                    bit < (int)(sizeof(ku_names) / sizeof(ku_names[0]))
                        ? ku_names[bit]
                        : "beyond decipherOnly");
            return AP_EINVAL;
        }
    }
    if (!any) {
        set_err(errbuf, errlen, "CSR keyUsage has no bit set");
        return AP_EINVAL;
    }
    return AP_OK;
}

/* Records the requested purposes in *bits (CRYPTO_CSR_EKU_*): the
 * profile decides later which it allows (proxy/issue_check.h). */
static ap_err
check_eku(const EXTENDED_KEY_USAGE *eku, unsigned *bits, char *errbuf,
          size_t errlen)
{
    char name[2 * CSR_OID_TEXT];
    int count = sk_ASN1_OBJECT_num(eku);

    if (count <= 0) {
        set_err(errbuf, errlen, "CSR extendedKeyUsage is empty");
        return AP_EINVAL;
    }
    for (int i = 0; i < count; i++) {
        const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
        int nid = OBJ_obj2nid(obj);

        *bits |= nid == NID_server_auth   ? CRYPTO_CSR_EKU_SERVER
                 : nid == NID_client_auth ? CRYPTO_CSR_EKU_CLIENT
                                          : 0;
        if (nid != NID_server_auth && nid != NID_client_auth) {
            oid_text(obj, name, sizeof(name));
            set_err(errbuf, errlen,
                    "CSR extendedKeyUsage %s is not accepted (only "
                    "serverAuth, clientAuth)", name);
            return AP_EINVAL;
        }
    }
    return AP_OK;
}

/* RFC 7633: TLS feature values, status_request (5) and
 * status_request_v2 (17) only. */
static ap_err
check_tls_feature(const STACK_OF(ASN1_INTEGER) *features, char *errbuf,
                  size_t errlen)
{
    int count = sk_ASN1_INTEGER_num(features);

    if (count <= 0) {
        set_err(errbuf, errlen, "CSR TLS feature extension is empty");
        return AP_EINVAL;
    }
    for (int i = 0; i < count; i++) {
        long v = ASN1_INTEGER_get(sk_ASN1_INTEGER_value(features, i));

        if (v != 5 && v != 17) {
            set_err(errbuf, errlen,
                    "CSR TLS feature %ld is not accepted (only "
                    "status_request 5, status_request_v2 17)", v);
            return AP_EINVAL;
        }
    }
    return AP_OK;
}

/* One requested extension against the policy of csr.h. */
static ap_err
check_extension(X509_EXTENSION *ext, struct crypto_csr *csr, char *errbuf,
                size_t errlen)
{
    const X509V3_EXT_METHOD *m = NULL;
    const BASIC_CONSTRAINTS *bc;
    char name[2 * CSR_OID_TEXT];
    void *v = NULL;
    int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    ap_err rc = AP_EINVAL;

    oid_text(X509_EXTENSION_get_object(ext), name, sizeof(name));
    switch (nid) {
    case NID_subject_alt_name:
    case NID_basic_constraints:
    case NID_key_usage:
    case NID_ext_key_usage:
    case NID_tlsfeature:
    case NID_subject_key_identifier:
        break;
    default:
        set_err(errbuf, errlen,
                "CSR requests extension %s, which this server does not "
                "issue", name);
        goto out;
    }
    v = ext_decode(ext, &m);
    if (v == NULL) {
        set_err(errbuf, errlen, "CSR extension %s is not valid DER", name);
        rc = AP_EPARSE;
        goto out;
    }
    switch (nid) {
    case NID_subject_alt_name:
        rc = take_sans(v, csr, errbuf, errlen);
        break;
    case NID_basic_constraints:
        bc = v;
        if (bc->ca || bc->pathlen != NULL) {
            set_err(errbuf, errlen,
                    "CSR basicConstraints must be cA FALSE without a path "
                    "length: this server issues end-entity certificates "
                    "only");
            rc = AP_EINVAL;
        } else {
            rc = AP_OK;
        }
        break;
    case NID_key_usage:
        rc = check_key_usage(v, errbuf, errlen);
        break;
    case NID_ext_key_usage:
        rc = check_eku(v, &csr->eku, errbuf, errlen);
        break;
    case NID_tlsfeature:
        rc = check_tls_feature(v, errbuf, errlen);
        if (rc == AP_OK) {
            csr->must_staple = true;
        }
        break;
    default: /* subjectKeyIdentifier: any OCTET STRING */
        rc = AP_OK;
        break;
    }
out:
    if (v != NULL) {
        ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
    }
    return rc;
}

/* The extensions of the extensionRequest attribute (its one value, a
 * SEQUENCE OF Extension, decoded as X509_REQ_get_extensions does) against
 * the policy of csr.h. */
static ap_err
check_extensions(X509_ATTRIBUTE *ext_req, struct crypto_csr *csr,
                 char *errbuf, size_t errlen)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    const ASN1_TYPE *value;
    const unsigned char *p;
    const unsigned char *end;
    int count;
    ap_err rc = AP_EPARSE;

    if (ext_req == NULL) {
        rc = AP_OK;
        goto out;
    }
    value = X509_ATTRIBUTE_get0_type(ext_req, 0);
    if (value != NULL && value->type == V_ASN1_SEQUENCE) {
        p = ASN1_STRING_get0_data(value->value.sequence);
        end = p + ASN1_STRING_length(value->value.sequence);
        exts = (STACK_OF(X509_EXTENSION) *)ASN1_item_d2i(
            NULL, &p, ASN1_STRING_length(value->value.sequence),
            ASN1_ITEM_rptr(X509_EXTENSIONS));
        if (exts != NULL && p != end) {
            sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
            exts = NULL;
        }
    }
    if (exts == NULL) {
        set_err(errbuf, errlen, "CSR extensionRequest is not valid DER");
        goto out;
    }
    count = sk_X509_EXTENSION_num(exts);
    if (count > CRYPTO_CSR_MAX_EXTENSIONS) {
        set_err(errbuf, errlen, "CSR requests too many extensions");
        rc = AP_EINVAL;
        goto out;
    }
    for (int i = 0; i < count; i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);

        /* RFC 5280 §4.2: at most one instance of each extension. */
        for (int k = 0; k < i; k++) {
            if (OBJ_cmp(X509_EXTENSION_get_object(ext),
                        X509_EXTENSION_get_object(
                            sk_X509_EXTENSION_value(exts, k))) == 0) {
                set_err(errbuf, errlen,
                        "CSR requests the same extension twice");
                rc = AP_EINVAL;
                goto out;
            }
        }
        rc = check_extension(ext, csr, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }
    rc = AP_OK;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

/* ---- the request --------------------------------------------------- */

static ap_err
csr_parse(const unsigned char *der, size_t len, bool verify,
          struct crypto_csr **out, char *errbuf, size_t errlen)
{
    struct crypto_csr *csr = NULL;
    const unsigned char *p = der;
    X509_ATTRIBUTE *ext_req = NULL;
    CSR_REQ *req = NULL;
    EVP_PKEY *pkey = NULL;
    int ret;
    ap_err rc = AP_EINTERNAL;

    if (out == NULL || (der == NULL && len != 0)) {
        rc = AP_EINVAL;
        goto out;
    }
    if (len == 0) {
        set_err(errbuf, errlen, "CSR is empty");
        rc = AP_EPARSE;
        goto out;
    }
    if (len > CRYPTO_CSR_MAX_DER) {
        set_err(errbuf, errlen, "CSR is larger than %d bytes",
                CRYPTO_CSR_MAX_DER);
        rc = AP_ETOOBIG;
        goto out;
    }
    /* RFC 2986 §4: one CertificationRequest, and nothing after it. */
    rc = AP_EPARSE;
    req = (CSR_REQ *)ASN1_item_d2i(NULL, &p, (long)len,
                                   ASN1_ITEM_rptr(CSR_REQ));
    if (req == NULL) {
        set_err(errbuf, errlen,
                "CSR is not valid DER (not a PKCS#10 CertificationRequest)");
        goto out;
    }
    if (p != der + len) {
        set_err(errbuf, errlen, "CSR has %zu bytes after its DER",
                (size_t)(der + len - p));
        goto out;
    }
    if (ASN1_INTEGER_get(req->info->version) != 0) {
        set_err(errbuf, errlen, "CSR version is not v1 (0)");
        goto out;
    }
    rc = check_sig_alg(req->sig_alg, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    csr = calloc(1, sizeof(*csr));
    if (csr == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = describe_key(req->info->spki, csr, &pkey, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    if (verify) {
        /* Over the CertificationRequestInfo as received (its saved
         * encoding), as X509_REQ_verify does. */
        ret = ASN1_item_verify(ASN1_ITEM_rptr(CSR_INFO), req->sig_alg,
                               req->signature, req->info, pkey);
        if (ret != 1) {
            set_err(errbuf, errlen, "CSR signature does not verify");
            rc = AP_ECRYPTO;
            goto out;
        }
    }
    rc = check_attributes(req->info->attributes, &ext_req, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = check_extensions(ext_req, csr, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = copy_cn(req->info->subject, csr, errbuf, errlen);
out:
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    ASN1_item_free((ASN1_VALUE *)req, ASN1_ITEM_rptr(CSR_REQ));
    if (rc != AP_OK) {
        crypto_csr_free(csr);
        csr = NULL;
    } else {
        *out = csr;
    }
    return rc;
}

ap_err
crypto_csr_parse(const unsigned char *der, size_t len,
                 struct crypto_csr **out, char *errbuf, size_t errlen)
{
    return csr_parse(der, len, true, out, errbuf, errlen);
}

ap_err
crypto_csr_read(const unsigned char *der, size_t len,
                struct crypto_csr **out, char *errbuf, size_t errlen)
{
    return csr_parse(der, len, false, out, errbuf, errlen);
}

void
crypto_csr_free(struct crypto_csr *csr)
{
    size_t i;

    if (csr == NULL) {
        return;
    }
    free(csr->cn);
    for (i = 0; i < csr->n_dns_names; i++) {
        free(csr->dns_names[i]);
    }
    free(csr->dns_names);
    for (i = 0; i < csr->n_ip_addrs; i++) {
        free(csr->ip_addrs[i]);
    }
    free(csr->ip_addrs);
    free(csr->pubkey_der);
    free(csr);
}
