/* common/x509.c: reading, comparing and verifying certificates with
 * OpenSSL's libcrypto (PEM reader, d2i_X509, d2i_PKCS7, X509v3 extension
 * decoders, X509_NAME_print_ex, X509_verify_cert). No private keys here,
 * and no ASN.1 walked by hand: every structure is decoded by the library
 * and read through its accessors. */
#include "common/x509.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/spki.h"
#include "common/x509_int.h"

/* X509_NAME_print_ex as RFC 2253 asks (RDNs most specific first, short
 * names, ',' and '+', escapes, unknown attributes as #hex), but UTF-8 left
 * as it is instead of escaping every byte above 0x7f. */
#define X509_DN_FLAGS (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)

/* ---- base64 and PEM ------------------------------------------------
 * (the helpers x509_int.h shares with x509_check.c are documented there) */

ap_err
x509_b64_decode(const char *b64, unsigned char **out, size_t *outlen)
{
    EVP_ENCODE_CTX *ctx = NULL;
    unsigned char *clean = NULL;
    unsigned char *der = NULL;
    size_t n = strlen(b64);
    size_t k = 0;
    int got = 0;
    int last = 0;
    ap_err rc = AP_EPARSE;

    if (n > X509_MAX_BUNDLE) {
        return AP_ETOOBIG;
    }
    clean = malloc(n + 1);
    der = malloc(n / 4 * 3 + 4);
    ctx = EVP_ENCODE_CTX_new();
    if (clean == NULL || der == NULL || ctx == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    /* White space goes; anything else outside the alphabet is an error
     * (OpenSSL's decoder would take a '-' as the end of the input). */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b64[i];

        if (isspace(c)) {
            continue;
        }
        if (!isalnum(c) && c != '+' && c != '/' && c != '=') {
            goto out;
        }
        clean[k++] = c;
    }
    if (k == 0) {
        goto out;
    }
    EVP_DecodeInit(ctx);
    /* k <= X509_MAX_BUNDLE: fits an int. -1 is bad input, padding in
     * the middle included; Final refuses a length not a multiple of 4. */
    if (EVP_DecodeUpdate(ctx, der, &got, clean, (int)k) < 0 ||
        EVP_DecodeFinal(ctx, der + got, &last) != 1 || got + last <= 0) {
        goto out;
    }
    rc = AP_OK;
out:
    EVP_ENCODE_CTX_free(ctx);
    free(clean);
    if (rc == AP_OK) {
        *out = der;
        *outlen = (size_t)got + (size_t)last;
    } else {
        free(der);
    }
    return rc;
}

/* ---- a certificate's syntax, without its key -----------------------
 * OpenSSL 3.0's d2i_X509 decodes the subject's public key through its
 * provider decoders (OSSL_DECODER_CTX_new_for_pkey, built afresh for each
 * certificate: 1.2 M of the 1.5 M instructions of a P-256 leaf). Where a
 * certificate is only checked to be one (PEM normalised, DER copied
 * out), these templates decode it as d2i_X509 does, field for field (the
 * items of X509_CINF in OpenSSL's x_x509.c), except that the
 * SubjectPublicKeyInfo stays its two parts, as X509_PUBKEY's own
 * template has them, and no key is built: what d2i_X509 accepts, they
 * accept (d2i_X509 builds the key only opportunistically and accepts a
 * certificate whose key it cannot read). */
typedef struct {
    ASN1_INTEGER *version;
    ASN1_INTEGER *serial;
    X509_ALGOR *signature;
    X509_NAME *issuer;
    X509_VAL *validity;
    X509_NAME *subject;
    SPKI_PARTS *key;
    ASN1_BIT_STRING *issuer_uid;
    ASN1_BIT_STRING *subject_uid;
    STACK_OF(X509_EXTENSION) *extensions;
} X509_RAW_TBS;

ASN1_SEQUENCE(X509_RAW_TBS) = {
    ASN1_EXP_OPT(X509_RAW_TBS, version, ASN1_INTEGER, 0),
    ASN1_SIMPLE(X509_RAW_TBS, serial, ASN1_INTEGER),
    ASN1_SIMPLE(X509_RAW_TBS, signature, X509_ALGOR),
    ASN1_SIMPLE(X509_RAW_TBS, issuer, X509_NAME),
    ASN1_SIMPLE(X509_RAW_TBS, validity, X509_VAL),
    ASN1_SIMPLE(X509_RAW_TBS, subject, X509_NAME),
    ASN1_SIMPLE(X509_RAW_TBS, key, SPKI_PARTS),
    ASN1_IMP_OPT(X509_RAW_TBS, issuer_uid, ASN1_BIT_STRING, 1),
    ASN1_IMP_OPT(X509_RAW_TBS, subject_uid, ASN1_BIT_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(X509_RAW_TBS, extensions, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(X509_RAW_TBS)

typedef struct {
    X509_RAW_TBS *tbs;
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *signature;
} X509_RAW;

ASN1_SEQUENCE(X509_RAW) = {
    ASN1_SIMPLE(X509_RAW, tbs, X509_RAW_TBS),
    ASN1_SIMPLE(X509_RAW, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(X509_RAW, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(X509_RAW)

bool
x509_der_is_cert(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    ASN1_VALUE *v;
    bool ok;

    if (der == NULL || len == 0 || len > X509_MAX_BUNDLE) {
        return false;
    }
    v = ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(X509_RAW));
    ok = v != NULL && p == der + len;
    ASN1_item_free(v, ASN1_ITEM_rptr(X509_RAW));
    ERR_clear_error();
    return ok;
}

/* One DER certificate, every byte of it; NULL when it is not one. */
X509 *
x509_cert_from_der(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x;

    if (der == NULL || len == 0 || len > X509_MAX_BUNDLE) {
        return NULL;
    }
    x = d2i_X509(NULL, &p, (long)len);
    if (x != NULL && p != der + len) {
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

/* PEM text of one DER block (caller frees); NULL on ENOMEM. */
static char *
pem_of(const unsigned char *der, size_t len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    char *data = NULL;
    long n;

    if (bio != NULL && len <= X509_MAX_BUNDLE &&
        PEM_write_bio(bio, X509_LABEL, "", der, (long)len) > 0) {
        n = BIO_get_mem_data(bio, &data);
        if (n > 0) {
            pem = strndup(data, (size_t)n);
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    return pem;
}

/* (x509_int.h) */
ap_err
x509_each_cert(const char *text, enum x509_walk walk, x509_cert_fn fn,
               void *arg, size_t *count)
{
    BIO *bio = NULL;
    size_t seen = 0;
    size_t blocks = 0;
    bool stop = false;
    ap_err rc = AP_EPARSE;

    if (text == NULL) {
        return AP_EINVAL;
    }
    if (strlen(text) > X509_MAX_BUNDLE) {
        return AP_ETOOBIG;
    }
    bio = BIO_new_mem_buf(text, -1);
    if (bio == NULL) {
        return AP_ENOMEM;
    }
    ERR_clear_error();
    while (!stop) {
        char *name = NULL;
        char *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        X509 *x = NULL;

        if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) {
            /* "no start line" is the end of the text; anything else a
             * block that does not decode. */
            rc = ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE
                     ? AP_OK
                     : AP_EPARSE;
            break;
        }
        /* Every block costs at least its two lines: bounded by the text,
         * and by a count besides. */
        if (++blocks > 4 * X509_MAX_CERTS) {
            rc = AP_ETOOBIG;
        } else if (strcmp(name, X509_LABEL) != 0) {
            rc = AP_OK; /* another label: not ours */
        } else if (header[0] != '\0' || len <= 0) {
            rc = AP_EPARSE; /* encrypted or empty: not a certificate */
        } else if (++seen > X509_MAX_CERTS) {
            rc = AP_ETOOBIG;
        } else if (walk == X509_WALK_RAW) {
            rc = fn(arg, NULL, data, (size_t)len, &stop);
        } else if (walk == X509_WALK_CHECK) {
            rc = x509_der_is_cert(data, (size_t)len)
                     ? fn(arg, NULL, data, (size_t)len, &stop)
                     : AP_EPARSE;
        } else {
            x = x509_cert_from_der(data, (size_t)len);
            rc = x == NULL ? AP_EPARSE
                           : fn(arg, x, data, (size_t)len, &stop);
        }
        X509_free(x);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (rc != AP_OK) {
            break;
        }
    }
    ERR_clear_error();
    BIO_free(bio);
    if (rc == AP_OK && count != NULL) {
        *count = seen;
    }
    return rc;
}

/* each_cert callback: keeps the first certificate (an X509 reference). */
static ap_err
first_keep(void *arg, X509 *x, const unsigned char *der, size_t len,
           bool *stop)
{
    X509 **first = arg;

    (void)der;
    (void)len;
    if (*first == NULL) {
        if (X509_up_ref(x) != 1) {
            return AP_ENOMEM;
        }
        *first = x;
    }
    (void)stop; /* the rest must decode too */
    return AP_OK;
}

/* The first certificate of pem, after checking that every CERTIFICATE
 * block decodes (caller frees with X509_free). */
ap_err
x509_first_cert(const char *pem, X509 **out)
{
    X509 *first = NULL;
    ap_err rc;

    rc = x509_each_cert(pem, X509_WALK_DECODE, first_keep, &first, NULL);
    if (rc == AP_OK && first == NULL) {
        rc = AP_EPARSE;
    }
    if (rc != AP_OK) {
        X509_free(first);
        return rc;
    }
    *out = first;
    return AP_OK;
}

ap_err
x509_b64der_to_pem(const char *b64, char **out)
{
    unsigned char *der = NULL;
    size_t len = 0;
    char *pem;
    ap_err rc;

    rc = x509_b64_decode(b64, &der, &len);
    if (rc != AP_OK) {
        return rc;
    }
    if (!x509_der_is_cert(der, len)) {
        free(der);
        return AP_EPARSE;
    }
    pem = pem_of(der, len);
    free(der);
    if (pem == NULL) {
        return AP_ENOMEM;
    }
    *out = pem;
    return AP_OK;
}

struct normalize {
    struct buf b;
    size_t skip;
    size_t seen;
    size_t kept;
};

static ap_err
normalize_one(void *arg, X509 *x, const unsigned char *der, size_t len,
              bool *stop)
{
    struct normalize *nz = arg;
    char *pem;
    ap_err rc;

    (void)x;
    (void)stop;
    if (++nz->seen <= nz->skip) {
        return AP_OK;
    }
    pem = pem_of(der, len);
    if (pem == NULL) {
        return AP_ENOMEM;
    }
    rc = buf_appends(&nz->b, pem);
    free(pem);
    if (rc == AP_OK) {
        nz->kept++;
    }
    return rc;
}

ap_err
x509_pem_normalize(const char *text, size_t skip, char **out, size_t *n)
{
    struct normalize nz;
    ap_err rc;

    memset(&nz, 0, sizeof(nz));
    buf_init(&nz.b, X509_MAX_BUNDLE);
    nz.skip = skip;
    rc = x509_each_cert(text, X509_WALK_CHECK, normalize_one, &nz, NULL);
    if (rc == AP_OK && nz.kept == 0) {
        rc = AP_EPARSE;
    }
    if (rc == AP_OK) {
        *out = buf_take(&nz.b);
        rc = *out != NULL ? AP_OK : AP_ENOMEM;
    }
    if (rc == AP_OK && n != NULL) {
        *n = nz.kept;
    }
    buf_fini(&nz.b);
    return rc;
}

/* ---- serial, issuer, dates ----------------------------------------- */

/* The DER content octets of an INTEGER (two's complement, minimal) from
 * OpenSSL's sign-and-magnitude form, into a new buffer (caller frees). */
ap_err
x509_serial_content(const ASN1_INTEGER *serial, unsigned char **out,
               size_t *outlen)
{
    const unsigned char *mag = ASN1_STRING_get0_data(serial);
    int mlen = ASN1_STRING_length(serial);
    bool neg = ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER;
    unsigned char *buf;
    size_t n;
    size_t start = 0;

    if (mlen < 0 || mlen > 64 || (mlen > 0 && mag == NULL)) {
        return AP_EPARSE;
    }
    /* Room for a sign octet in front of the magnitude. */
    buf = calloc(1, (size_t)mlen + 1);
    if (buf == NULL) {
        return AP_ENOMEM;
    }
    if (mlen > 0) {
        memcpy(buf + 1, mag, (size_t)mlen);
    }
    n = (size_t)mlen + 1;
    if (neg) {
        unsigned carry = 1;

        /* -m = ~m + 1 over n octets. */
        for (size_t i = n; i-- > 0;) {
            unsigned v = (unsigned)(unsigned char)~buf[i] + carry;

            buf[i] = (unsigned char)v;
            carry = v >> 8;
        }
        while (start + 1 < n && buf[start] == 0xff &&
               (buf[start + 1] & 0x80) != 0) {
            start++;
        }
    } else {
        while (start + 1 < n && buf[start] == 0 &&
               (buf[start + 1] & 0x80) == 0) {
            start++;
        }
    }
    memmove(buf, buf + start, n - start);
    *out = buf;
    *outlen = n - start;
    return AP_OK;
}

/* Lower-case hex of the content octets without leading zero octets (one
 * is kept for zero). */
char *
x509_serial_hex_of(const unsigned char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *out;

    while (len > 1 && s[0] == 0) {
        s++;
        len--;
    }
    out = malloc(len * 2 + 1);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[s[i] >> 4];
        out[2 * i + 1] = hex[s[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

/* An ASN1_TIME as seconds since the epoch. */
ap_err
x509_time_of(const ASN1_TIME *t, long long *out)
{
    struct tm tm;
    time_t secs;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return AP_EPARSE;
    }
    secs = timegm(&tm);
    /* timegm's -1 is also 1969-12-31T23:59:59, a valid time. */
    if (secs == (time_t)-1 &&
        !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31 &&
          tm.tm_sec == 59)) {
        return AP_EPARSE;
    }
    *out = (long long)secs;
    return AP_OK;
}

/* The issuer as an RFC 4514 string (see x509_ids.issuer_dn). */
static ap_err
dn_string(const X509_NAME *name, char **out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    ap_err rc = AP_ENOMEM;

    if (bio == NULL) {
        goto out;
    }
    if (X509_NAME_print_ex(bio, name, 0, X509_DN_FLAGS) < 0) {
        rc = AP_EPARSE;
        goto out;
    }
    n = BIO_get_mem_data(bio, &data);
    if (n < 0 || n > X509_MAX_DN) {
        rc = AP_ETOOBIG;
        goto out;
    }
    /* A value with a NUL would cut the string short: refused. */
    if (n > 0 && memchr(data, '\0', (size_t)n) != NULL) {
        rc = AP_EPARSE;
        goto out;
    }
    *out = strndup(n > 0 ? data : "", (size_t)n);
    rc = *out != NULL ? AP_OK : AP_ENOMEM;
out:
    ERR_clear_error();
    BIO_free(bio);
    return rc;
}

ap_err
x509_cert_ids(const char *pem, struct x509_ids *out)
{
    struct x509_ids ids;
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    X509 *x = NULL;
    ap_err rc;

    memset(&ids, 0, sizeof(ids));
    rc = x509_first_cert(pem, &x);
    if (rc != AP_OK) {
        goto out;
    }
    rc = x509_serial_content(X509_get0_serialNumber(x), &raw, &raw_len);
    if (rc != AP_OK) {
        goto out;
    }
    ids.serial_hex = x509_serial_hex_of(raw, raw_len);
    if (ids.serial_hex == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = dn_string(X509_get_issuer_name(x), &ids.issuer_dn);
    if (rc != AP_OK) {
        goto out;
    }
    rc = x509_time_of(X509_get0_notAfter(x), &ids.not_after);
out:
    free(raw);
    X509_free(x);
    if (rc == AP_OK) {
        *out = ids;
    } else {
        x509_ids_fini(&ids);
    }
    return rc;
}

void
x509_ids_fini(struct x509_ids *ids)
{
    if (ids == NULL) {
        return;
    }
    free(ids->serial_hex);
    free(ids->issuer_dn);
    memset(ids, 0, sizeof(*ids));
}

/* ---- PKCS#7 -------------------------------------------------------- */

/* The DER of a .p7b: the data of the first PEM block of any label when
 * the text has one, else the whole text as base64 (caller frees). */
static ap_err
pkcs7_der(const char *text, unsigned char **der, size_t *len)
{
    BIO *bio = NULL;
    char *name = NULL;
    char *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    ap_err rc = AP_EPARSE;

    if (strstr(text, "-----BEGIN ") == NULL) {
        return x509_b64_decode(text, der, len);
    }
    if (strlen(text) > X509_MAX_BUNDLE) {
        return AP_ETOOBIG;
    }
    bio = BIO_new_mem_buf(text, -1);
    if (bio == NULL) {
        return AP_ENOMEM;
    }
    if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1 ||
        header[0] != '\0' || dlen <= 0) {
        goto out;
    }
    *der = malloc((size_t)dlen);
    if (*der == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(*der, data, (size_t)dlen);
    *len = (size_t)dlen;
    rc = AP_OK;
out:
    ERR_clear_error();
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);
    return rc;
}

ap_err
x509_pkcs7_to_pem(const char *text, char **out)
{
    STACK_OF(X509) *certs = NULL;
    unsigned char *der = NULL;
    const unsigned char *p;
    PKCS7 *p7 = NULL;
    size_t len = 0;
    struct buf b;
    int n;
    ap_err rc;

    buf_init(&b, X509_MAX_BUNDLE);
    if (text == NULL || out == NULL) {
        return AP_EINVAL;
    }
    rc = pkcs7_der(text, &der, &len);
    if (rc != AP_OK) {
        goto out;
    }
    rc = AP_EPARSE;
    p = der;
    p7 = d2i_PKCS7(NULL, &p, (long)len);
    if (p7 == NULL || p != der + len || !PKCS7_type_is_signed(p7) ||
        p7->d.sign == NULL) {
        goto out;
    }
    certs = p7->d.sign->cert;
    n = sk_X509_num(certs);
    if (n <= 0) {
        goto out;
    }
    if (n > X509_MAX_CERTS) {
        rc = AP_ETOOBIG;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        unsigned char *one = NULL;
        int dlen = i2d_X509(sk_X509_value(certs, i), &one);
        char *pem;

        if (dlen <= 0) {
            goto out;
        }
        pem = pem_of(one, (size_t)dlen);
        OPENSSL_free(one);
        if (pem == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
        rc = buf_appends(&b, pem);
        free(pem);
        if (rc != AP_OK) {
            goto out;
        }
        rc = AP_EPARSE;
    }
    *out = buf_take(&b);
    rc = *out != NULL ? AP_OK : AP_ENOMEM;
out:
    ERR_clear_error();
    PKCS7_free(p7);
    free(der);
    buf_fini(&b);
    return rc;
}

/* ---- facts of one certificate -------------------------------------- */

ap_err
x509_cert_parse(const unsigned char *der, size_t len,
                struct x509_cert **out)
{
    struct x509_cert *cert = NULL;
    const ASN1_OCTET_STRING *aki;
    unsigned char *spki = NULL;
    EVP_PKEY *pk;
    X509 *x = NULL;
    int n;
    ap_err rc = AP_EPARSE;

    if (out == NULL || (der == NULL && len != 0)) {
        return AP_EINVAL;
    }
    x = x509_cert_from_der(der, len);
    if (x == NULL) {
        goto out;
    }
    cert = calloc(1, sizeof(*cert));
    if (cert == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = x509_serial_content(X509_get0_serialNumber(x), &cert->serial_raw,
                        &cert->serial_raw_len);
    if (rc != AP_OK) {
        goto out;
    }
    cert->serial_hex = x509_serial_hex_of(cert->serial_raw,
                                          cert->serial_raw_len);
    if (cert->serial_hex == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = x509_time_of(X509_get0_notBefore(x), &cert->not_before);
    if (rc == AP_OK) {
        rc = x509_time_of(X509_get0_notAfter(x), &cert->not_after);
    }
    if (rc != AP_OK) {
        goto out;
    }
    /* Re-encoded as crypto_csr's key is, so the two compare byte for
     * byte. A key OpenSSL cannot read is not a certificate for us. */
    rc = AP_EPARSE;
    pk = X509_get0_pubkey(x);
    n = pk != NULL ? i2d_PUBKEY(pk, &spki) : -1;
    if (n <= 0) {
        goto out;
    }
    cert->pubkey_der = malloc((size_t)n);
    if (cert->pubkey_der == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(cert->pubkey_der, spki, (size_t)n);
    cert->pubkey_der_len = (size_t)n;
    /* NULL when absent, and when the extensions do not decode. */
    aki = X509_get0_authority_key_id(x);
    if (aki != NULL && ASN1_STRING_length(aki) > 0) {
        cert->aki_len = (size_t)ASN1_STRING_length(aki);
        cert->aki = malloc(cert->aki_len);
        if (cert->aki == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
        memcpy(cert->aki, ASN1_STRING_get0_data(aki), cert->aki_len);
    }
    rc = AP_OK;
out:
    ERR_clear_error();
    OPENSSL_free(spki);
    X509_free(x);
    if (rc != AP_OK) {
        x509_cert_free(cert);
    } else {
        *out = cert;
    }
    return rc;
}

void
x509_cert_free(struct x509_cert *cert)
{
    if (cert == NULL) {
        return;
    }
    free(cert->serial_hex);
    free(cert->pubkey_der);
    free(cert->serial_raw);
    free(cert->aki);
    free(cert);
}

struct first_der {
    unsigned char *der;
    size_t len;
};

/* each_cert callback: copies the first certificate's DER and stops. */
static ap_err
first_der_copy(void *arg, X509 *x, const unsigned char *der, size_t len,
               bool *stop)
{
    struct first_der *fd = arg;

    (void)x;
    fd->der = malloc(len);
    if (fd->der == NULL) {
        return AP_ENOMEM;
    }
    memcpy(fd->der, der, len);
    fd->len = len;
    *stop = true;
    return AP_OK;
}

ap_err
x509_pem_cert_to_der(const char *pem, unsigned char **der, size_t *derlen)
{
    struct first_der fd = { NULL, 0 };
    ap_err rc;

    if (pem == NULL || der == NULL || derlen == NULL) {
        return AP_EINVAL;
    }
    rc = x509_each_cert(pem, X509_WALK_CHECK, first_der_copy, &fd, NULL);
    if (rc == AP_OK && fd.der == NULL) {
        rc = AP_EPARSE;
    }
    if (rc != AP_OK) {
        free(fd.der);
        return rc;
    }
    *der = fd.der;
    *derlen = fd.len;
    return AP_OK;
}
