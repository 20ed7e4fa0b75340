/* test/unit/test_csr.c: common/csr.c (PKCS#10 on OpenSSL).
 *
 * Three tables: CSRs from test/unit/vectors/ (made by openssl, der.py, or
 * captured from the Debian clients; README.md there says how), mutated
 * as each row says; CSRs built here with OpenSSL's X509_REQ API from a
 * recipe (key, signature, subject, extensions, attributes), for the
 * extension and attribute policy of csr.h; and the arguments. Every row
 * is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"
#include "test/unit/vector_file.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <mbedtls/pk.h>

#include "common/crypto.h"
#include "common/csr.h"

/* ---- crypto_csr_parse ---------------------------------------------- */

enum csr_mutation {
    CSR_AS_IS,
    CSR_FLIP_LAST,  /* flip a bit of the last byte: inside the signature */
    CSR_FLIP_NAME,  /* change a letter of the first "example" in the CRI */
    CSR_TRUNCATE,   /* drop the last 10 bytes */
    CSR_TRAILING,   /* append one zero byte */
    CSR_EMPTY,      /* length 0 */
    CSR_OVERSIZE,   /* CRYPTO_CSR_MAX_DER + 1 bytes */
    CSR_GARBAGE,    /* not DER at all */
};

struct csr_row {
    const char *name;
    const char *file;
    enum csr_mutation mut;
    ap_err want;
    const char *err;          /* errbuf substring, on failure */
    const char *cn;
    const char *dns[6];
    size_t n_dns;
    const char *ips[3];
    size_t n_ips;
    enum crypto_key_type key_type;
    unsigned key_bits;
    const char *curve;
};

static const struct csr_row csr_good[] = {
    { "P-256, CN, three DNS and two IP SANs", "csr_ec_sans.der", CSR_AS_IS,
      AP_OK, NULL, "a.example.com",
      { "a.example.com", "www.example.com", "b.example.net" }, 3,
      { "192.0.2.1", "2001:db8::1" }, 2, CRYPTO_KEY_EC, 256, "P-256" },
    { "RSA 2048 signed with RSASSA-PSS", "csr_rsa_pss.der", CSR_AS_IS, AP_OK,
      NULL, "pss.example.com", { "pss.example.com" }, 1, { NULL }, 0,
      CRYPTO_KEY_RSA, 2048, NULL },
    { "P-384, empty subject (certbot style)", "csr_empty_subject.der",
      CSR_AS_IS, AP_OK, NULL, NULL, { "nosubject.example.org" }, 1, { NULL },
      0, CRYPTO_KEY_EC, 384, "P-384" },
    { "RSA 3072, CN only, SHA-384", "csr_rsa_cn_only.der", CSR_AS_IS, AP_OK,
      NULL, "cn-only.example.com", { NULL }, 0, { NULL }, 0, CRYPTO_KEY_RSA,
      3072, NULL },
    { "P-521, SHA-512", "csr_p521.der", CSR_AS_IS, AP_OK, NULL, NULL,
      { "p521.example.com" }, 1, { NULL }, 0, CRYPTO_KEY_EC, 521, "P-521" },
    { "no attributes at all", "csr_no_attrs.der", CSR_AS_IS, AP_OK, NULL,
      "crafted.example.com", { NULL }, 0, { NULL }, 0, CRYPTO_KEY_EC, 256,
      "P-256" },
    /* What the Debian clients send (vectors/README.md: captured from the
     * integration suites). */
    { "certbot 2.1 (empty subject, SAN)", "csr_client_certbot.der",
      CSR_AS_IS, AP_OK, NULL, NULL, { "cb.a.test" }, 1, { NULL }, 0,
      CRYPTO_KEY_EC, 256, "P-256" },
    { "lego 4.9.1 (CN, SAN)", "csr_client_lego.der", CSR_AS_IS, AP_OK, NULL,
      "www.a.test", { "www.a.test", "a.test" }, 2, { NULL }, 0,
      CRYPTO_KEY_EC, 256, "P-256" },
    { "uacme 1.7.4 (CN, SAN, critical keyUsage)", "csr_client_uacme.der",
      CSR_AS_IS, AP_OK, NULL, "ua.a.test", { "ua.a.test", "www.ua.a.test" },
      2, { NULL }, 0, CRYPTO_KEY_RSA, 2048, NULL },
    { "dehydrated 0.7 (openssl req, CN, SAN)", "csr_client_dehydrated.der",
      CSR_AS_IS, AP_OK, NULL, "dh.a.test", { "dh.a.test" }, 1, { NULL }, 0,
      CRYPTO_KEY_EC, 384, "P-384" },
    { "dehydrated with OCSP_MUST_STAPLE", "csr_client_dehydrated_must_staple.der",
      CSR_AS_IS, AP_OK, NULL, "staple.example.org",
      { "staple.example.org", "www.staple.example.org" }, 2, { NULL }, 0,
      CRYPTO_KEY_EC, 384, "P-384" },
    { "python3-acme make_csr(must_staple=True)",
      "csr_client_python_acme_must_staple.der", CSR_AS_IS, AP_OK, NULL, NULL,
      { "staple.example.com", "www.staple.example.com" }, 2, { NULL }, 0,
      CRYPTO_KEY_EC, 256, "P-256" },
};

#define CSR_BAD(name, file, mut, want, err)                               \
    { name, file, mut, want, err, NULL, { NULL }, 0, { NULL }, 0, 0, 0, NULL }

static const struct csr_row csr_bad[] = {
    CSR_BAD("corrupted ECDSA signature", "csr_ec_sans.der", CSR_FLIP_LAST,
            AP_ECRYPTO, "signature"),
    CSR_BAD("corrupted RSASSA-PSS signature", "csr_rsa_pss.der",
            CSR_FLIP_LAST, AP_ECRYPTO, "signature"),
    CSR_BAD("SAN changed after signing", "csr_ec_sans.der", CSR_FLIP_NAME,
            AP_ECRYPTO, "signature"),
    CSR_BAD("truncated DER", "csr_ec_sans.der", CSR_TRUNCATE, AP_EPARSE,
            "DER"),
    CSR_BAD("trailing byte", "csr_ec_sans.der", CSR_TRAILING, AP_EPARSE,
            "DER"),
    CSR_BAD("empty input", "csr_ec_sans.der", CSR_EMPTY, AP_EPARSE, "empty"),
    CSR_BAD("over CRYPTO_CSR_MAX_DER", "csr_ec_sans.der", CSR_OVERSIZE,
            AP_ETOOBIG, "larger"),
    CSR_BAD("not DER", "csr_ec_sans.der", CSR_GARBAGE, AP_EPARSE, "DER"),
    CSR_BAD("a certificate, not a CSR", "cert_ec.der", CSR_AS_IS, AP_EPARSE,
            "PKCS#10"),
    CSR_BAD("rfc822Name SAN", "csr_email_san.der", CSR_AS_IS, AP_EINVAL,
            "unsupported SAN type"),
    CSR_BAD("SHA-1 signature", "csr_sha1.der", CSR_AS_IS, AP_EINVAL,
            "SHA-256"),
    CSR_BAD("secp256k1 key", "csr_secp256k1.der", CSR_AS_IS, AP_EINVAL,
            "curve"),
    CSR_BAD("101 names", "csr_101_names.der", CSR_AS_IS, AP_EINVAL,
            "more than 100"),
    CSR_BAD("subjectAltName twice", "csr_dup_san.der", CSR_AS_IS, AP_EINVAL,
            "twice"),
    CSR_BAD("extensionRequest twice", "csr_dup_extreq.der", CSR_AS_IS,
            AP_EINVAL, "two extensionRequest"),
    CSR_BAD("dNSName with a control byte", "csr_ctrl_dns.der", CSR_AS_IS,
            AP_EINVAL, "control"),
    CSR_BAD("iPAddress of 5 bytes", "csr_bad_ip.der", CSR_AS_IS, AP_EINVAL,
            "4 or 16"),
};

/* pubkey_der must be the canonical SubjectPublicKeyInfo: mbedTLS, an
 * independent encoder, writes the same bytes back from it. */
static void
assert_canonical_spki(const struct crypto_csr *csr)
{
    mbedtls_pk_context pk;
    unsigned char buf[2600];
    int n;

    mbedtls_pk_init(&pk);
    assert_int_equal(mbedtls_pk_parse_public_key(&pk, csr->pubkey_der,
                                                 csr->pubkey_der_len),
                     0);
    n = mbedtls_pk_write_pubkey_der(&pk, buf, sizeof(buf));
    assert_int_equal(n, (int)csr->pubkey_der_len);
    assert_memory_equal(buf + sizeof(buf) - n, csr->pubkey_der,
                        csr->pubkey_der_len);
    mbedtls_pk_free(&pk);
}

static void
test_csr(void **state)
{
    const struct csr_row *row = *state;
    struct crypto_csr *csr = NULL;
    unsigned char *der;
    unsigned char *spki;
    unsigned char *p;
    char errbuf[256] = "";
    size_t len;
    size_t spki_len;
    size_t i;
    ap_err rc;

    der = load_vector(row->file, &len);
    switch (row->mut) {
    case CSR_AS_IS:
        break;
    case CSR_FLIP_LAST:
        der[len - 1] ^= 0x01;
        break;
    case CSR_FLIP_NAME:
        p = memmem(der, len, "example", 7);
        assert_non_null(p);
        p[0] = 'E';
        break;
    case CSR_TRUNCATE:
        len -= 10;
        break;
    case CSR_TRAILING:
        der = realloc(der, len + 1);
        assert_non_null(der);
        der[len++] = 0;
        break;
    case CSR_EMPTY:
        len = 0;
        break;
    case CSR_OVERSIZE:
        der = realloc(der, CRYPTO_CSR_MAX_DER + 1);
        assert_non_null(der);
        len = CRYPTO_CSR_MAX_DER + 1;
        break;
    case CSR_GARBAGE:
        memcpy(der, "hello, world", 12);
        len = 12;
        break;
    }
    rc = crypto_csr_parse(der, len, &csr, errbuf, sizeof(errbuf));
    if (rc != row->want) {
        print_error("%s: got %s, errbuf \"%s\"\n", row->name,
                    ap_strerror(rc), errbuf);
    }
    assert_int_equal(rc, row->want);
    if (rc != AP_OK) {
        assert_null(csr);
        if (strstr(errbuf, row->err) == NULL) {
            print_error("%s: errbuf \"%s\" lacks \"%s\"\n", row->name, errbuf,
                        row->err);
        }
        assert_non_null(strstr(errbuf, row->err));
        free(der);
        return;
    }
    if (row->cn == NULL) {
        assert_null(csr->cn);
    } else {
        assert_non_null(csr->cn);
        assert_string_equal(csr->cn, row->cn);
    }
    assert_int_equal(csr->n_dns_names, row->n_dns);
    for (i = 0; i < row->n_dns; i++) {
        assert_string_equal(csr->dns_names[i], row->dns[i]);
    }
    assert_int_equal(csr->n_ip_addrs, row->n_ips);
    for (i = 0; i < row->n_ips; i++) {
        assert_string_equal(csr->ip_addrs[i], row->ips[i]);
    }
    assert_int_equal(csr->key_type, row->key_type);
    assert_int_equal(csr->key_bits, row->key_bits);
    if (row->curve == NULL) {
        assert_null(csr->curve);
    } else {
        assert_string_equal(csr->curve, row->curve);
    }
    assert_non_null(csr->pubkey_der);
    assert_true(csr->pubkey_der_len > 0);
    assert_canonical_spki(csr);
    /* csr_ec_sans.der and cert_ec.der share one key: openssl's SPKI. */
    if (strcmp(row->file, "csr_ec_sans.der") == 0) {
        spki = load_vector("spki_p256.der", &spki_len);
        assert_int_equal(csr->pubkey_der_len, spki_len);
        assert_memory_equal(csr->pubkey_der, spki, spki_len);
        free(spki);
    }
    crypto_csr_free(csr);
    free(der);
}

static void
test_csr_args(void **state)
{
    struct crypto_csr *csr = NULL;
    unsigned char *der;
    size_t len;

    (void)state;
    der = load_vector("csr_ec_sans.der", &len);
    assert_int_equal(crypto_csr_parse(NULL, 10, &csr, NULL, 0), AP_EINVAL);
    assert_int_equal(crypto_csr_parse(der, len, NULL, NULL, 0), AP_EINVAL);
    /* No errbuf is fine. */
    assert_int_equal(crypto_csr_parse(der, len - 1, &csr, NULL, 0),
                     AP_EPARSE);
    assert_null(csr);
    assert_int_equal(crypto_csr_parse(der, len, &csr, NULL, 0), AP_OK);
    crypto_csr_free(csr);
    free(der);
}


/* ---- CSRs built from a recipe -------------------------------------- */

enum tkey {
    TK_P256,
    TK_P384,
    TK_RSA2048,
    TK_RSA1024,
    TK_K256,            /* secp256k1 */
    TK_ED25519,
    TK_RSA_PSS,         /* an id-RSASSA-PSS key */
    TK_P256_COMPRESSED, /* TK_P256's key, SPKI with a compressed point */
    TK_P256_EXPLICIT,   /* TK_P256's key, SPKI with explicit parameters */
    TK__MAX
};

static EVP_PKEY *tkeys[TK__MAX];

struct recipe {
    const char *name;
    enum tkey key;           /* the key in the CSR */
    enum tkey signer;        /* signs it; TK__MAX: key itself */
    const char *md;          /* digest name; NULL for Ed25519 */
    bool pss;                /* RSASSA-PSS signature (RSA keys) */
    long version;
    const char *cn;          /* NULL: empty subject */
    bool cn_bmp;             /* cn as a BMPString */
    const char *exts[8];     /* "name=value" as in openssl.cnf */
    bool dup_first_ext;      /* exts[0] twice */
    bool ms_ext_req;         /* the Microsoft extensionRequest OID */
    const char *attrs[3];    /* "name=value", as UTF8String */
    ap_err want;
    const char *err;         /* errbuf substring on failure */
    size_t n_names;          /* SANs on success */
    bool must_staple;
    unsigned eku;            /* CRYPTO_CSR_EKU_* requested, on success */
};

#define SAN "subjectAltName=DNS:r.example.com"
#define OK_ROW(...) .want = AP_OK, __VA_ARGS__

static const struct recipe recipes[] = {
    /* Accepted: what clients send, and the whole allowed set. */
    { "recipe: SAN only, empty subject", TK_P256, TK__MAX, "SHA256", false,
      0, NULL, false, { SAN }, .want = AP_OK, .n_names = 1 },
    { "recipe: everything the policy allows", TK_P256, TK__MAX, "SHA384",
      false, 0, "r.example.com", false,
      { SAN ",IP:192.0.2.7", "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyAgreement",
        "extendedKeyUsage=serverAuth,clientAuth",
        "tlsfeature=status_request,status_request_v2",
        "subjectKeyIdentifier=hash" },
      .want = AP_OK, .n_names = 2, .must_staple = true,
      .eku = CRYPTO_CSR_EKU_SERVER | CRYPTO_CSR_EKU_CLIENT },
    { "recipe: extendedKeyUsage clientAuth (a client profile's CSR)",
      TK_P256, TK__MAX, "SHA256", false, 0, NULL, false,
      { SAN, "extendedKeyUsage=clientAuth" }, .want = AP_OK, .n_names = 1,
      .eku = CRYPTO_CSR_EKU_CLIENT },
    { "recipe: extendedKeyUsage serverAuth", TK_P256, TK__MAX, "SHA256",
      false, 0, NULL, false, { SAN, "extendedKeyUsage=serverAuth" },
      .want = AP_OK, .n_names = 1, .eku = CRYPTO_CSR_EKU_SERVER },
    { "recipe: RSA, keyUsage digitalSignature keyEncipherment", TK_RSA2048,
      TK__MAX, "SHA256", false, 0, "r.example.com", false,
      { SAN, "keyUsage=critical,digitalSignature,keyEncipherment" },
      .want = AP_OK, .n_names = 1 },
    { "recipe: RSASSA-PSS signature with SHA-256", TK_RSA2048, TK__MAX,
      "SHA256", true, 0, NULL, false, { SAN }, .want = AP_OK, .n_names = 1 },
    { "recipe: must-staple as raw DER (lego, dehydrated)", TK_P256, TK__MAX,
      "SHA256", false, 0, NULL, false,
      { SAN, "1.3.6.1.5.5.7.1.24=DER:30:03:02:01:05" }, .want = AP_OK,
      .n_names = 1, .must_staple = true },
    { "recipe: RSA 1024 parses (size is policy's)", TK_RSA1024, TK__MAX,
      "SHA256", false, 0, NULL, false, { SAN }, .want = AP_OK,
      .n_names = 1 },
    { "recipe: no extensionRequest at all", TK_P384, TK__MAX, "SHA256",
      false, 0, "only-cn.example.com", false, { NULL }, .want = AP_OK },

    /* Extensions a PKI could honour: a sub-CA, signing keys, policies. */
    { "recipe: basicConstraints cA TRUE", TK_P256, TK__MAX, "SHA256", false,
      0, NULL, false, { SAN, "basicConstraints=critical,CA:TRUE" },
      .want = AP_EINVAL, .err = "cA FALSE" },
    { "recipe: basicConstraints cA FALSE with a path length", TK_P256,
      TK__MAX, "SHA256", false, 0, NULL, false,
      { SAN, "basicConstraints=DER:30:03:02:01:00" }, .want = AP_EINVAL,
      .err = "path length" },
    { "recipe: keyUsage keyCertSign", TK_P256, TK__MAX, "SHA256", false, 0,
      NULL, false, { SAN, "keyUsage=digitalSignature,keyCertSign" },
      .want = AP_EINVAL, .err = "keyCertSign" },
    { "recipe: keyUsage cRLSign", TK_P256, TK__MAX, "SHA256", false, 0, NULL,
      false, { SAN, "keyUsage=cRLSign" }, .want = AP_EINVAL,
      .err = "cRLSign" },
    { "recipe: keyUsage nonRepudiation (openssl.cnf v3_req)", TK_RSA2048,
      TK__MAX, "SHA256", false, 0, NULL, false,
      { SAN, "keyUsage=nonRepudiation,digitalSignature,keyEncipherment" },
      .want = AP_EINVAL, .err = "nonRepudiation" },
    { "recipe: keyUsage with no bit", TK_P256, TK__MAX, "SHA256", false, 0,
      NULL, false, { SAN, "keyUsage=DER:03:01:00" }, .want = AP_EINVAL,
      .err = "no bit" },
    { "recipe: extendedKeyUsage codeSigning", TK_P256, TK__MAX, "SHA256",
      false, 0, NULL, false, { SAN, "extendedKeyUsage=serverAuth,codeSigning" },
      .want = AP_EINVAL, .err = "codeSigning" },
    { "recipe: extendedKeyUsage anyExtendedKeyUsage", TK_P256, TK__MAX,
      "SHA256", false, 0, NULL, false,
      { SAN, "extendedKeyUsage=anyExtendedKeyUsage" }, .want = AP_EINVAL,
      .err = "anyExtendedKeyUsage" },
    { "recipe: extendedKeyUsage OCSPSigning", TK_P256, TK__MAX, "SHA256",
      false, 0, NULL, false, { SAN, "extendedKeyUsage=OCSPSigning" },
      .want = AP_EINVAL, .err = "OCSPSigning" },
    { "recipe: TLS feature other than status_request", TK_P256, TK__MAX,
      "SHA256", false, 0, NULL, false,
      { SAN, "1.3.6.1.5.5.7.1.24=DER:30:03:02:01:06" }, .want = AP_EINVAL,
      .err = "TLS feature 6" },
    { "recipe: certificatePolicies", TK_P256, TK__MAX, "SHA256", false, 0,
      NULL, false, { SAN, "certificatePolicies=DER:30:07:30:05:06:03:2a:03:04" },
      .want = AP_EINVAL, .err = "certificatePolicies" },
    { "recipe: nameConstraints", TK_P256, TK__MAX, "SHA256", false, 0, NULL,
      false, { SAN, "nameConstraints=permitted;DNS:example.com" },
      .want = AP_EINVAL, .err = "nameConstraints" },
    { "recipe: authorityInfoAccess", TK_P256, TK__MAX, "SHA256", false, 0,
      NULL, false,
      { SAN, "authorityInfoAccess=OCSP;URI:http://ocsp.example.com/" },
      .want = AP_EINVAL, .err = "authorityInfoAccess" },
    { "recipe: id-pe-acmeIdentifier", TK_P256, TK__MAX, "SHA256", false, 0,
      NULL, false, { SAN, "1.3.6.1.5.5.7.1.31=critical,DER:04:02:00:00" },
      .want = AP_EINVAL, .err = "1.3.6.1.5.5.7.1.31" },
    { "recipe: AD CS certificate template extension", TK_P256, TK__MAX,
      "SHA256", false, 0, NULL, false,
      { SAN, "1.3.6.1.4.1.311.21.7=DER:30:06:06:04:2b:06:01:04" },
      .want = AP_EINVAL, .err = "1.3.6.1.4.1.311.21.7" },
    { "recipe: a private extension", TK_P256, TK__MAX, "SHA256", false, 0,
      NULL, false, { SAN, "1.3.6.1.4.1.99999.1=DER:05:00" },
      .want = AP_EINVAL, .err = "1.3.6.1.4.1.99999.1" },
    { "recipe: keyUsage twice", TK_P256, TK__MAX, "SHA256", false, 0, NULL,
      false, { "keyUsage=digitalSignature", SAN }, .dup_first_ext = true,
      .want = AP_EINVAL, .err = "twice" },
    { "recipe: keyUsage not a BIT STRING", TK_P256, TK__MAX, "SHA256", false,
      0, NULL, false, { SAN, "keyUsage=DER:04:00" }, .want = AP_EPARSE,
      .err = "not valid DER" },
    { "recipe: subjectKeyIdentifier with a trailing byte", TK_P256, TK__MAX,
      "SHA256", false, 0, NULL, false,
      { SAN, "subjectKeyIdentifier=DER:04:01:aa:00" }, .want = AP_EPARSE,
      .err = "not valid DER" },

    /* Names. */
    { "recipe: SAN otherName (a UPN)", TK_P256, TK__MAX, "SHA256", false, 0,
      NULL, false,
      { "subjectAltName=DNS:r.example.com,otherName:msUPN;UTF8:admin@corp" },
      .want = AP_EINVAL, .err = "otherName" },
    { "recipe: SAN URI", TK_P256, TK__MAX, "SHA256", false, 0, NULL, false,
      { "subjectAltName=URI:https://r.example.com/" }, .want = AP_EINVAL,
      .err = "uniformResourceIdentifier" },
    { "recipe: SAN directoryName", TK_P256, TK__MAX, "SHA256", false, 0, NULL,
      false, { "subjectAltName=DER:30:06:a4:04:30:02:31:00" },
      .want = AP_EINVAL, .err = "directoryName" },
    { "recipe: SAN registeredID", TK_P256, TK__MAX, "SHA256", false, 0, NULL,
      false, { "subjectAltName=RID:1.2.3.4" }, .want = AP_EINVAL,
      .err = "registeredID" },
    { "recipe: SAN with no entry", TK_P256, TK__MAX, "SHA256", false, 0, NULL,
      false, { "subjectAltName=DER:30:00" }, .want = AP_EINVAL,
      .err = "empty" },
    { "recipe: empty dNSName", TK_P256, TK__MAX, "SHA256", false, 0, NULL,
      false, { "subjectAltName=DER:30:02:82:00" }, .want = AP_EINVAL,
      .err = "empty dNSName" },
    { "recipe: non-ASCII dNSName", TK_P256, TK__MAX, "SHA256", false, 0,
      NULL, false, { "subjectAltName=DER:30:04:82:02:c3:a9" },
      .want = AP_EINVAL, .err = "non-ASCII" },
    { "recipe: commonName with a control byte", TK_P256, TK__MAX, "SHA256",
      false, 0, "r\x01.example.com", false, { SAN }, .want = AP_EINVAL,
      .err = "control" },
    { "recipe: commonName as a BMPString", TK_P256, TK__MAX, "SHA256", false,
      0, "r.example.com", true, { SAN }, .want = AP_EINVAL,
      .err = "UTF8String" },

    /* Attributes. */
    { "recipe: challengePassword attribute", TK_P256, TK__MAX, "SHA256",
      false, 0, NULL, false, { SAN }, .attrs = { "challengePassword=secret" },
      .want = AP_EINVAL, .err = "challengePassword" },
    { "recipe: AD CS enrollmentNameValuePair attribute", TK_P256, TK__MAX,
      "SHA256", false, 0, NULL, false, { SAN },
      .attrs = { "1.3.6.1.4.1.311.13.2.1=CertificateTemplate:SubCA" },
      .want = AP_EINVAL, .err = "1.3.6.1.4.1.311.13.2.1" },
    { "recipe: Microsoft extensionRequest", TK_P256, TK__MAX, "SHA256", false,
      0, NULL, false, { SAN }, .ms_ext_req = true, .want = AP_EINVAL,
      .err = "only extensionRequest" },

    /* Keys and signatures. */
    { "recipe: compressed EC point", TK_P256_COMPRESSED, TK_P256, "SHA256",
      false, 0, NULL, false, { SAN }, .want = AP_EINVAL,
      .err = "uncompressed" },
    { "recipe: explicit EC parameters", TK_P256_EXPLICIT, TK_P256, "SHA256",
      false, 0, NULL, false, { SAN }, .want = AP_EINVAL,
      .err = "explicit" },
    { "recipe: Ed25519 key", TK_ED25519, TK__MAX, NULL, false, 0, NULL,
      false, { SAN }, .want = AP_EINVAL, .err = "not supported" },
    { "recipe: RSASSA-PSS key", TK_RSA_PSS, TK__MAX, "SHA256", false, 0,
      NULL, false, { SAN }, .want = AP_EINVAL, .err = "not supported" },
    { "recipe: ECDSA with SHA-224", TK_P256, TK__MAX, "SHA224", false, 0,
      NULL, false, { SAN }, .want = AP_EINVAL, .err = "SHA-256" },
    { "recipe: RSA with SHA-1", TK_RSA2048, TK__MAX, "SHA1", false, 0, NULL,
      false, { SAN }, .want = AP_EINVAL, .err = "SHA-256" },
    { "recipe: RSASSA-PSS with SHA-1", TK_RSA2048, TK__MAX, "SHA1", true, 0,
      NULL, false, { SAN }, .want = AP_EINVAL, .err = "SHA-256" },
    { "recipe: signed by another key", TK_P256, TK_P384, "SHA256", false, 0,
      NULL, false, { SAN }, .want = AP_ECRYPTO, .err = "signature" },
    { "recipe: RSA key, ECDSA signature", TK_RSA2048, TK_P256, "SHA256",
      false, 0, NULL, false, { SAN }, .want = AP_ECRYPTO,
      .err = "signature" },
};

/* Adds "name=value" (openssl.cnf syntax) to exts; ctx for "hash". */
static void
push_ext(STACK_OF(X509_EXTENSION) *exts, X509V3_CTX *ctx, const char *spec)
{
    char name[64];
    const char *eq = strchr(spec, '=');
    X509_EXTENSION *ext;

    assert_non_null(eq);
    assert_true((size_t)(eq - spec) < sizeof(name));
    memcpy(name, spec, (size_t)(eq - spec));
    name[eq - spec] = '\0';
    ext = X509V3_EXT_nconf(NULL, ctx, name, eq + 1);
    if (ext == NULL) {
        print_error("cannot make extension %s\n", spec);
    }
    assert_non_null(ext);
    assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
}

/* The DER of the CSR the recipe describes. Caller frees with
 * OPENSSL_free. */
static unsigned char *
recipe_der(const struct recipe *r, int *len)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    EVP_PKEY *signer = tkeys[r->signer == TK__MAX ? r->key : r->signer];
    X509_REQ *req = X509_REQ_new();
    X509_NAME *subject = X509_NAME_new();
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    X509V3_CTX ctx;

    assert_non_null(req);
    assert_non_null(subject);
    assert_int_equal(X509_REQ_set_version(req, r->version), 1);
    assert_int_equal(X509_REQ_set_pubkey(req, tkeys[r->key]), 1);
    if (r->cn != NULL && r->cn_bmp) {
        unsigned char bmp[128];
        size_t n = strlen(r->cn);

        assert_true(2 * n <= sizeof(bmp));
        for (size_t i = 0; i < n; i++) {
            bmp[2 * i] = 0;
            bmp[2 * i + 1] = (unsigned char)r->cn[i];
        }
        assert_int_equal(X509_NAME_add_entry_by_NID(subject, NID_commonName,
                                                    V_ASN1_BMPSTRING, bmp,
                                                    (int)(2 * n), -1, 0),
                         1);
    } else if (r->cn != NULL) {
        assert_int_equal(X509_NAME_add_entry_by_NID(
                             subject, NID_commonName, MBSTRING_UTF8,
                             (const unsigned char *)r->cn, -1, -1, 0),
                         1);
    }
    assert_int_equal(X509_REQ_set_subject_name(req, subject), 1);
    if (r->exts[0] != NULL) {
        exts = sk_X509_EXTENSION_new_null();
        assert_non_null(exts);
        X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
        for (size_t i = 0; i < 8 && r->exts[i] != NULL; i++) {
            push_ext(exts, &ctx, r->exts[i]);
        }
        if (r->dup_first_ext) {
            push_ext(exts, &ctx, r->exts[0]);
        }
        assert_int_equal(X509_REQ_add_extensions_nid(req, exts,
                                                     r->ms_ext_req
                                                         ? NID_ms_ext_req
                                                         : NID_ext_req),
                         1);
    }
    for (size_t i = 0; i < 3 && r->attrs[i] != NULL; i++) {
        char name[64];
        const char *eq = strchr(r->attrs[i], '=');

        assert_non_null(eq);
        memcpy(name, r->attrs[i], (size_t)(eq - r->attrs[i]));
        name[eq - r->attrs[i]] = '\0';
        assert_int_equal(X509_REQ_add1_attr_by_txt(
                             req, name, MBSTRING_UTF8,
                             (const unsigned char *)eq + 1, -1),
                         1);
    }
    if (r->pss) {
        mctx = EVP_MD_CTX_new();
        assert_non_null(mctx);
        assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, r->md, NULL, NULL,
                                               signer, NULL),
                         1);
        assert_int_equal(
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
        assert_true(X509_REQ_sign_ctx(req, mctx) > 0);
    } else {
        assert_true(X509_REQ_sign(req, signer,
                                  r->md != NULL ? EVP_get_digestbyname(r->md)
                                                : NULL) > 0);
    }
    *len = i2d_X509_REQ(req, &der);
    assert_true(*len > 0);
    EVP_MD_CTX_free(mctx);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(subject);
    X509_REQ_free(req);
    return der;
}

static void
test_recipe(void **state)
{
    const struct recipe *r = *state;
    struct crypto_csr *csr = NULL;
    unsigned char *der;
    char errbuf[256] = "";
    int len = 0;
    ap_err rc;

    der = recipe_der(r, &len);
    rc = crypto_csr_parse(der, (size_t)len, &csr, errbuf, sizeof(errbuf));
    if (rc != r->want || (r->err != NULL && strstr(errbuf, r->err) == NULL)) {
        print_error("%s: got %s, errbuf \"%s\", want %s \"%s\"\n", r->name,
                    ap_strerror(rc), errbuf, ap_strerror(r->want),
                    r->err != NULL ? r->err : "");
    }
    assert_int_equal(rc, r->want);
    if (rc == AP_OK) {
        assert_int_equal(csr->n_dns_names + csr->n_ip_addrs, r->n_names);
        assert_int_equal(csr->must_staple, r->must_staple);
        assert_int_equal(csr->eku, r->eku);
        assert_canonical_spki(csr);
        crypto_csr_free(csr);
        csr = NULL;
    } else {
        assert_null(csr);
        assert_non_null(strstr(errbuf, r->err));
    }
    /* crypto_csr_read applies every check but the signature. */
    rc = crypto_csr_read(der, (size_t)len, &csr, errbuf, sizeof(errbuf));
    assert_int_equal(rc, r->want == AP_ECRYPTO ? AP_OK : r->want);
    crypto_csr_free(csr);
    OPENSSL_free(der);
}

/* A new id-RSASSA-PSS key (EVP_PKEY_Q_keygen makes only plain RSA). */
static EVP_PKEY *
rsa_pss_keygen(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    EVP_PKEY *key = NULL;

    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) != 1 ||
        EVP_PKEY_keygen(ctx, &key) != 1) {
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static int
recipe_keys_make(void)
{
    tkeys[TK_P256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    tkeys[TK_P384] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    tkeys[TK_RSA2048] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    tkeys[TK_RSA1024] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    tkeys[TK_K256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    tkeys[TK_ED25519] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    tkeys[TK_RSA_PSS] = rsa_pss_keygen();
    if (tkeys[TK_P256] == NULL) {
        return -1;
    }
    tkeys[TK_P256_COMPRESSED] = EVP_PKEY_dup(tkeys[TK_P256]);
    tkeys[TK_P256_EXPLICIT] = EVP_PKEY_dup(tkeys[TK_P256]);
    if (tkeys[TK_P256_COMPRESSED] == NULL || tkeys[TK_P256_EXPLICIT] == NULL ||
        EVP_PKEY_set_utf8_string_param(
            tkeys[TK_P256_COMPRESSED],
            OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed") != 1 ||
        EVP_PKEY_set_utf8_string_param(tkeys[TK_P256_EXPLICIT],
                                       OSSL_PKEY_PARAM_EC_ENCODING,
                                       "explicit") != 1) {
        return -1;
    }
    for (int i = 0; i < TK__MAX; i++) {
        if (tkeys[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

/* ---- the SubjectPublicKeyInfo reader (csr.c's templates) ---------- */

enum spki_case {
    SK_EC_OK,            /* TK_P256's key as it is */
    SK_EC_OFF_CURVE,     /* the last byte of y changed */
    SK_EC_SHORT_POINT,   /* 0x04 and 63 bytes */
    SK_EC_NO_PARAMS,     /* id-ecPublicKey without a curve */
    SK_EC_UNKNOWN_CURVE, /* a curve OID OpenSSL does not know */
    SK_EC_UNUSED_BITS,   /* the BIT STRING says 1 unused bit */
    SK_RSA_OK,           /* TK_RSA2048's key, NULL parameters */
    SK_RSA_ABSENT,       /* the same without parameters */
    SK_RSA_OID_PARAM,    /* parameters an OID */
    SK_RSA_TRAILING,     /* a byte after the RSAPublicKey */
    SK_RSA_NEGATIVE_N,   /* modulus negative */
    SK_RSA_EVEN_N,       /* modulus even */
    SK_RSA_E_ONE,        /* exponent 1 */
    SK_RSA_E_BIG,        /* exponent of 33 bits */
    SK_RSA_NOT_SEQ,      /* the key bits are an OCTET STRING */
    SK_UNKNOWN_ALG,      /* an algorithm OID OpenSSL does not know */
    SK_DSA_ALG,          /* dsa: known to OpenSSL, not to us */
};

struct spki_row {
    const char *name;
    enum spki_case c;
    ap_err want;          /* of crypto_csr_parse and crypto_csr_read */
    const char *err;
};

static const struct spki_row spki_rows[] = {
    { "key reader: P-256 as it is", SK_EC_OK, AP_OK, NULL },
    { "key reader: EC point not on the curve", SK_EC_OFF_CURVE, AP_EINVAL,
      "invalid" },
    { "key reader: EC point one byte short", SK_EC_SHORT_POINT, AP_EINVAL,
      "uncompressed" },
    { "key reader: EC key without a curve", SK_EC_NO_PARAMS, AP_EINVAL,
      "name its curve" },
    { "key reader: EC curve OID unknown", SK_EC_UNKNOWN_CURVE, AP_EINVAL,
      "curve not supported" },
    { "key reader: BIT STRING with unused bits", SK_EC_UNUSED_BITS,
      AP_EPARSE, "not valid DER" },
    { "key reader: RSA as it is", SK_RSA_OK, AP_OK, NULL },
    { "key reader: RSA without parameters (written back as NULL)",
      SK_RSA_ABSENT, AP_OK, NULL },
    { "key reader: RSA with an OID as parameters", SK_RSA_OID_PARAM,
      AP_EPARSE, "NULL" },
    { "key reader: RSAPublicKey with a trailing byte", SK_RSA_TRAILING,
      AP_EPARSE, "cannot be read" },
    { "key reader: RSA modulus negative", SK_RSA_NEGATIVE_N, AP_EPARSE,
      "cannot be read" },
    { "key reader: RSA modulus even", SK_RSA_EVEN_N, AP_EINVAL, "odd" },
    { "key reader: RSA exponent 1", SK_RSA_E_ONE, AP_EINVAL, "exponent" },
    { "key reader: RSA exponent of 33 bits", SK_RSA_E_BIG, AP_EINVAL,
      "exponent" },
    { "key reader: RSA key bits not a SEQUENCE", SK_RSA_NOT_SEQ, AP_EPARSE,
      "cannot be read" },
    { "key reader: unknown algorithm OID", SK_UNKNOWN_ALG, AP_EINVAL,
      "invalid" },
    { "key reader: DSA algorithm", SK_DSA_ALG, AP_EINVAL, "use RSA or EC" },
};

/* RSAPublicKey DER of n and e (OPENSSL_free), encoded by OpenSSL's
 * SEQUENCE OF ANY; a trailing zero byte when trailing. */
static unsigned char *
rsapub_der(const BIGNUM *n, const BIGNUM *e, bool trailing, int *len)
{
    ASN1_SEQUENCE_ANY *seq = sk_ASN1_TYPE_new_null();
    const BIGNUM *v[2] = { n, e };
    unsigned char *der = NULL;

    assert_non_null(seq);
    for (int i = 0; i < 2; i++) {
        ASN1_TYPE *t = ASN1_TYPE_new();
        ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(v[i], NULL);

        assert_non_null(t);
        assert_non_null(ai);
        ASN1_TYPE_set(t, V_ASN1_INTEGER, ai);
        assert_true(sk_ASN1_TYPE_push(seq, t) > 0);
    }
    *len = i2d_ASN1_SEQUENCE_ANY(seq, &der);
    assert_true(*len > 0);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    if (trailing) {
        unsigned char *grown = OPENSSL_realloc(der, (size_t)*len + 1);

        assert_non_null(grown);
        der = grown;
        der[(*len)++] = 0;
    }
    return der;
}

/* A CSR with a SAN whose SubjectPublicKeyInfo is set as the row says
 * (X509_PUBKEY_set0_param), signed (SHA-256) by TK_P256 or TK_RSA2048. */
static unsigned char *
spki_csr_der(enum spki_case c, int *len)
{
    bool rsa = c >= SK_RSA_OK && c <= SK_RSA_NOT_SEQ;
    EVP_PKEY *key = tkeys[rsa ? TK_RSA2048 : TK_P256];
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    ASN1_OBJECT *alg = NULL;
    void *pval = NULL;
    int ptype = V_ASN1_UNDEF;
    unsigned char *enc = NULL;
    int enclen = 0;
    unsigned char *der = NULL;
    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    X509V3_CTX ctx;

    assert_non_null(req);
    assert_non_null(exts);
    assert_int_equal(X509_REQ_set_version(req, 0), 1);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
    push_ext(exts, &ctx, SAN);
    assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
    if (rsa) {
        assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n),
                         1);
        assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e),
                         1);
        alg = OBJ_nid2obj(NID_rsaEncryption);
        ptype = V_ASN1_NULL;
        switch (c) {
        case SK_RSA_ABSENT:
            ptype = V_ASN1_UNDEF;
            break;
        case SK_RSA_OID_PARAM:
            ptype = V_ASN1_OBJECT;
            pval = OBJ_nid2obj(NID_sha256);
            break;
        case SK_RSA_NEGATIVE_N:
            BN_set_negative(n, 1);
            break;
        case SK_RSA_EVEN_N:
            assert_int_equal(BN_sub_word(n, 1), 1);
            break;
        case SK_RSA_E_ONE:
            assert_int_equal(BN_set_word(e, 1), 1);
            break;
        case SK_RSA_E_BIG:
            assert_int_equal(BN_set_word(e, 0x200000001ull), 1);
            break;
        default:
            break;
        }
        if (c == SK_RSA_NOT_SEQ) {
            enc = OPENSSL_malloc(4);
            assert_non_null(enc);
            memcpy(enc, "\x04\x02\x01\x01", 4);
            enclen = 4;
        } else {
            enc = rsapub_der(n, e, c == SK_RSA_TRAILING, &enclen);
        }
    } else {
        size_t plen = EVP_PKEY_get1_encoded_public_key(key, &enc);

        assert_int_equal(plen, 65);
        enclen = (int)plen;
        alg = OBJ_nid2obj(NID_X9_62_id_ecPublicKey);
        ptype = V_ASN1_OBJECT;
        pval = OBJ_nid2obj(NID_X9_62_prime256v1);
        switch (c) {
        case SK_EC_OFF_CURVE:
            enc[64] ^= 0x01;
            break;
        case SK_EC_SHORT_POINT:
            enclen = 64;
            break;
        case SK_EC_NO_PARAMS:
            ptype = V_ASN1_UNDEF;
            pval = NULL;
            break;
        case SK_EC_UNKNOWN_CURVE:
            pval = OBJ_txt2obj("1.3.6.1.4.1.99999.7", 1);
            assert_non_null(pval);
            break;
        case SK_UNKNOWN_ALG:
            alg = OBJ_txt2obj("1.3.6.1.4.1.99999.8", 1);
            assert_non_null(alg);
            ptype = V_ASN1_UNDEF;
            pval = NULL;
            break;
        case SK_DSA_ALG:
            alg = OBJ_nid2obj(NID_dsa);
            ptype = V_ASN1_UNDEF;
            pval = NULL;
            break;
        default:
            break;
        }
    }
    /* The key the row wants (xpk owns alg, pval and enc), then the
     * signature over it by the real key: a valid signature for the rows
     * that only write the key another way. */
    assert_int_equal(X509_PUBKEY_set0_param(X509_REQ_get_X509_PUBKEY(req),
                                            alg, ptype, pval, enc, enclen),
                     1);
    assert_int_equal(X509_REQ_sign(req, key, EVP_sha256()) > 0, 1);
    *len = i2d_X509_REQ(req, &der);
    assert_true(*len > 0);
    if (c == SK_EC_UNUSED_BITS) {
        /* BIT STRING header 03 42 00 04: say one unused bit. */
        unsigned char *b = memmem(der, (size_t)*len, "\x03\x42\x00\x04", 4);

        assert_non_null(b);
        b[2] = 1;
    }
    BN_free(n);
    BN_free(e);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return der;
}

static void
test_spki(void **state)
{
    const struct spki_row *r = *state;
    struct crypto_csr *csr = NULL;
    char errbuf[256] = "";
    unsigned char *der;
    unsigned char *want_spki = NULL;
    int len = 0;
    int n;
    ap_err rc;

    der = spki_csr_der(r->c, &len);
    for (int pass = 0; pass < 2; pass++) {
        rc = pass == 0 ? crypto_csr_read(der, (size_t)len, &csr, errbuf,
                                         sizeof(errbuf))
                       : crypto_csr_parse(der, (size_t)len, &csr, errbuf,
                                          sizeof(errbuf));
        if (rc != r->want ||
            (r->err != NULL && strstr(errbuf, r->err) == NULL)) {
            print_error("%s (%s): got %s, errbuf \"%s\"\n", r->name,
                        pass == 0 ? "read" : "parse", ap_strerror(rc),
                        errbuf);
        }
        assert_int_equal(rc, r->want);
        if (rc != AP_OK) {
            assert_null(csr);
            assert_non_null(strstr(errbuf, r->err));
            continue;
        }
        /* pubkey_der is i2d_PUBKEY's form of the key (NULL parameters
         * for RSA), what the account key and certificates compare with. */
        assert_canonical_spki(csr);
        n = i2d_PUBKEY(tkeys[r->c >= SK_RSA_OK ? TK_RSA2048 : TK_P256],
                       &want_spki);
        assert_true(n > 0);
        assert_int_equal(csr->pubkey_der_len, (size_t)n);
        assert_memory_equal(csr->pubkey_der, want_spki, (size_t)n);
        OPENSSL_free(want_spki);
        want_spki = NULL;
        crypto_csr_free(csr);
        csr = NULL;
    }
    OPENSSL_free(der);
}

/* The templates against OpenSSL's own reading: each client CSR vector,
 * truncated at every length and with every byte flipped. Where
 * d2i_X509_REQ refuses the DER (or leaves bytes over), crypto_csr_read
 * refuses it as not DER too; where d2i_X509_REQ takes it, the reader does
 * not call it broken DER; and crypto_csr_parse accepts only what
 * X509_REQ_verify accepts with the key d2i_X509_REQ decoded. */
static void
test_vs_openssl(void **state)
{
    static const char *const files[] = {
        "csr_client_lego.der", "csr_client_uacme.der", "csr_rsa_pss.der",
        "csr_client_dehydrated.der",
    };
    size_t accepted = 0;
    size_t refused = 0;

    (void)state;
    for (size_t f = 0; f < N_ROWS(files); f++) {
        size_t len = 0;
        unsigned char *der = load_vector(files[f], &len);

        /* Length 0 is "empty" (test_csr), not a DER verdict. */
        for (size_t i = 1; i < 2 * len; i++) {
            const unsigned char *p = der;
            size_t n = i < len ? i : len;
            struct crypto_csr *csr = NULL;
            char errbuf[256] = "";
            X509_REQ *req;
            bool d2i_ok;
            bool sig_ok = false;
            ap_err rc;

            if (i >= len) {
                der[i - len] ^= 0xff;
            }
            req = d2i_X509_REQ(NULL, &p, (long)n);
            d2i_ok = req != NULL && p == der + n;
            if (d2i_ok && X509_REQ_get0_pubkey(req) != NULL) {
                sig_ok = X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1;
            }
            X509_REQ_free(req);
            ERR_clear_error();
            rc = crypto_csr_read(der, n, &csr, errbuf, sizeof(errbuf));
            crypto_csr_free(csr);
            csr = NULL;
            if (!d2i_ok) {
                if (rc != AP_EPARSE || strstr(errbuf, "DER") == NULL) {
                    print_error("%s, %s %zu: d2i refuses, read %s \"%s\"\n",
                                files[f], i < len ? "length" : "flip",
                                i % len, ap_strerror(rc), errbuf);
                }
                assert_int_equal(rc, AP_EPARSE);
                assert_non_null(strstr(errbuf, "DER"));
                refused++;
            } else {
                assert_null(strstr(errbuf, "PKCS#10"));
                assert_null(strstr(errbuf, "bytes after"));
                accepted++;
            }
            rc = crypto_csr_parse(der, n, &csr, errbuf, sizeof(errbuf));
            crypto_csr_free(csr);
            if (rc == AP_OK && !sig_ok) {
                print_error("%s, flip %zu: parse accepts what OpenSSL does "
                            "not verify\n", files[f], i % len);
            }
            assert_false(rc == AP_OK && !sig_ok);
            if (i >= len) {
                der[i - len] ^= 0xff;
            }
        }
        /* and as it is */
        {
            struct crypto_csr *csr = NULL;

            assert_int_equal(crypto_csr_parse(der, len, &csr, NULL, 0),
                             AP_OK);
            crypto_csr_free(csr);
        }
        free(der);
    }
    assert_true(accepted > 100);
    assert_true(refused > 100);
}

/* ---- crypto_csr_read agrees with crypto_csr_parse ------------------- */

static bool
csr_equal(const struct crypto_csr *a, const struct crypto_csr *b)
{
    if (a->n_dns_names != b->n_dns_names || a->n_ip_addrs != b->n_ip_addrs ||
        a->key_type != b->key_type || a->key_bits != b->key_bits ||
        a->curve != b->curve || a->must_staple != b->must_staple ||
        a->pubkey_der_len != b->pubkey_der_len ||
        memcmp(a->pubkey_der, b->pubkey_der, a->pubkey_der_len) != 0 ||
        (a->cn == NULL) != (b->cn == NULL) ||
        (a->cn != NULL && strcmp(a->cn, b->cn) != 0)) {
        return false;
    }
    for (size_t i = 0; i < a->n_dns_names; i++) {
        if (strcmp(a->dns_names[i], b->dns_names[i]) != 0) {
            return false;
        }
    }
    for (size_t i = 0; i < a->n_ip_addrs; i++) {
        if (strcmp(a->ip_addrs[i], b->ip_addrs[i]) != 0) {
            return false;
        }
    }
    return true;
}

#define CACHE_CSRS 80

/* Reads give what the parse gave, as copies of their own, each CSR read
 * twice (csr.c keeps no cache since f792a9b; these rows check that a read
 * without the signature check still decodes every field the parse does). */
static void
test_read_agrees(void **state)
{
    static unsigned char *ders[CACHE_CSRS];
    static int lens[CACHE_CSRS];
    struct crypto_csr *parsed[CACHE_CSRS];
    struct crypto_csr *read = NULL;
    const struct recipe *everything = &recipes[1];
    const struct recipe *bad_sig = NULL;
    unsigned char *der;
    int len = 0;

    (void)state;
    for (size_t i = 0; i < N_ROWS(recipes); i++) {
        if (recipes[i].want == AP_ECRYPTO) {
            bad_sig = &recipes[i];
            break;
        }
    }
    assert_non_null(bad_sig);
    /* Every build signs anew (ECDSA), so the DER differs each time. */
    for (int i = 0; i < CACHE_CSRS; i++) {
        ders[i] = recipe_der(i % 2 == 0 ? &recipes[0] : everything, &lens[i]);
        assert_int_equal(crypto_csr_parse(ders[i], (size_t)lens[i],
                                          &parsed[i], NULL, 0),
                         AP_OK);
        assert_int_equal(crypto_csr_read(ders[i], (size_t)lens[i], &read,
                                         NULL, 0),
                         AP_OK);
        assert_true(csr_equal(parsed[i], read));
        assert_ptr_not_equal(read->pubkey_der, parsed[i]->pubkey_der);
        crypto_csr_free(read);
        read = NULL;
    }
    /* Read each one again: the same fields, a copy of its own. */
    for (int i = 0; i < CACHE_CSRS; i++) {
        assert_int_equal(crypto_csr_read(ders[i], (size_t)lens[i], &read,
                                         NULL, 0),
                         AP_OK);
        assert_true(csr_equal(parsed[i], read));
        crypto_csr_free(read);
        read = NULL;
        crypto_csr_free(parsed[i]);
        OPENSSL_free(ders[i]);
    }
    /* A bad signature: refused by parse, read (which does not verify) ok,
     * and parse still refuses it afterwards. */
    der = recipe_der(bad_sig, &len);
    assert_int_equal(crypto_csr_parse(der, (size_t)len, &read, NULL, 0),
                     AP_ECRYPTO);
    assert_int_equal(crypto_csr_read(der, (size_t)len, &read, NULL, 0),
                     AP_OK);
    crypto_csr_free(read);
    read = NULL;
    assert_int_equal(crypto_csr_parse(der, (size_t)len, &read, NULL, 0),
                     AP_ECRYPTO);
    assert_null(read);
    OPENSSL_free(der);
}

struct read_thread_arg {
    unsigned char *ders[8];
    int lens[8];
    struct crypto_csr *want[8];
    int failures;
};

static void *
read_thread(void *p)
{
    struct read_thread_arg *arg = p;

    for (int i = 0; i < 200; i++) {
        struct crypto_csr *got = NULL;
        int k = (i * 7) % 8;

        if (crypto_csr_read(arg->ders[k], (size_t)arg->lens[k], &got, NULL,
                            0) != AP_OK ||
            !csr_equal(got, arg->want[k])) {
            arg->failures++;
        }
        crypto_csr_free(got);
    }
    return NULL;
}

/* Four threads read at once (csr.c keeps no shared state between reads). */
static void
test_read_agrees_threads(void **state)
{
    struct read_thread_arg arg;
    pthread_t threads[4];

    (void)state;
    memset(&arg, 0, sizeof(arg));
    for (int k = 0; k < 8; k++) {
        arg.ders[k] = recipe_der(&recipes[k % 2], &arg.lens[k]);
        assert_int_equal(crypto_csr_read(arg.ders[k], (size_t)arg.lens[k],
                                         &arg.want[k], NULL, 0),
                         AP_OK);
    }
    for (int t = 0; t < 4; t++) {
        assert_int_equal(pthread_create(&threads[t], NULL, read_thread, &arg),
                         0);
    }
    for (int t = 0; t < 4; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    }
    assert_int_equal(arg.failures, 0);
    for (int k = 0; k < 8; k++) {
        crypto_csr_free(arg.want[k]);
        OPENSSL_free(arg.ders[k]);
    }
}

/* ---- runner -------------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    if (crypto_init() != AP_OK) {
        return -1;
    }
    return recipe_keys_make();
}

static int
group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < TK__MAX; i++) {
        EVP_PKEY_free(tkeys[i]);
    }
    crypto_fini();
    return 0;
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    ADD_ROWS(&l, csr_good, test_csr);
    ADD_ROWS(&l, csr_bad, test_csr);
    add_test(&l, "csr arguments", test_csr_args, NULL);
    ADD_ROWS(&l, recipes, test_recipe);
    ADD_ROWS(&l, spki_rows, test_spki);
    add_test(&l, "templates against d2i_X509_REQ and X509_REQ_verify",
             test_vs_openssl, NULL);
    add_test(&l, "read agrees with parse", test_read_agrees, NULL);
    add_test(&l, "read agrees with parse from 4 threads", test_read_agrees_threads, NULL);

    failed = _cmocka_run_group_tests("csr", l.tests, l.n, group_setup,
                                     group_teardown);
    free(l.tests);
    return failed;
}
