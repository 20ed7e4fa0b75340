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
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/buf.h"

#define X509_LABEL "CERTIFICATE"
#define X509_BEGIN "-----BEGIN CERTIFICATE-----"
/* X509_NAME_print_ex as RFC 2253 asks (RDNs most specific first, short
 * names, ',' and '+', escapes, unknown attributes as #hex), but UTF-8 left
 * as it is instead of escaping every byte above 0x7f. */
#define X509_DN_FLAGS (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)

/* ---- base64 and PEM ------------------------------------------------ */

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

/* One DER certificate, every byte of it; NULL when it is not one. */
static X509 *
cert_from_der(const unsigned char *der, size_t len)
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

/* What each_cert hands its callback: one certificate, decoded and as
 * DER. The callback sets *stop to end the walk early. */
typedef ap_err (*cert_fn)(void *arg, X509 *x, const unsigned char *der,
                          size_t len, bool *stop);

/* Walks the CERTIFICATE blocks of text with OpenSSL's PEM reader (blocks
 * of other labels and text between blocks skipped) and calls fn with
 * each. AP_EPARSE when a block is broken or is not one certificate;
 * AP_ETOOBIG past X509_MAX_BUNDLE bytes or X509_MAX_CERTS certificates;
 * *count (may be NULL) gets the number seen. */
static ap_err
each_cert(const char *text, cert_fn fn, void *arg, size_t *count)
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
        } else {
            x = cert_from_der(data, (size_t)len);
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
static ap_err
first_cert(const char *pem, X509 **out)
{
    X509 *first = NULL;
    ap_err rc;

    rc = each_cert(pem, first_keep, &first, NULL);
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
    X509 *x;
    char *pem;
    ap_err rc;

    rc = x509_b64_decode(b64, &der, &len);
    if (rc != AP_OK) {
        return rc;
    }
    x = cert_from_der(der, len);
    if (x == NULL) {
        free(der);
        return AP_EPARSE;
    }
    X509_free(x);
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
    rc = each_cert(text, normalize_one, &nz, NULL);
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
static ap_err
serial_content(const ASN1_INTEGER *serial, unsigned char **out,
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
static char *
serial_hex_of(const unsigned char *s, size_t len)
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
static ap_err
time_of(const ASN1_TIME *t, long long *out)
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
    rc = first_cert(pem, &x);
    if (rc != AP_OK) {
        goto out;
    }
    rc = serial_content(X509_get0_serialNumber(x), &raw, &raw_len);
    if (rc != AP_OK) {
        goto out;
    }
    ids.serial_hex = serial_hex_of(raw, raw_len);
    if (ids.serial_hex == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = dn_string(X509_get_issuer_name(x), &ids.issuer_dn);
    if (rc != AP_OK) {
        goto out;
    }
    rc = time_of(X509_get0_notAfter(x), &ids.not_after);
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

/* ---- names and key use --------------------------------------------- */

/* Appends a name to a space-separated list for messages. */
static void
list_add(char *list, size_t len, const char *name)
{
    size_t used = strlen(list);

    if (used < len) {
        (void)snprintf(list + used, len - used, "%s%s", used ? " " : "",
                       name);
    }
}

static bool
dns_in(const char *name, size_t len, const char *const *dns, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(dns[i]) == len && strncasecmp(dns[i], name, len) == 0) {
            return true;
        }
    }
    return false;
}

static bool
ip_in(const unsigned char *raw, size_t len, const char *const *ips, size_t n)
{
    unsigned char bin[16];

    for (size_t i = 0; i < n; i++) {
        if (len == 4 && inet_pton(AF_INET, ips[i], bin) == 1 &&
            memcmp(bin, raw, 4) == 0) {
            return true;
        }
        if (len == 16 && inet_pton(AF_INET6, ips[i], bin) == 1 &&
            memcmp(bin, raw, 16) == 0) {
            return true;
        }
    }
    return false;
}

/* The SAN extension of x: *out NULL when there is none. AP_EPARSE when
 * it does not decode, AP_EINVAL when there are two. */
static ap_err
san_get(X509 *x, GENERAL_NAMES **out)
{
    int crit = -1;

    *out = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    ERR_clear_error();
    if (*out != NULL || crit == -1) {
        return AP_OK;
    }
    return crit == -2 ? AP_EINVAL : AP_EPARSE;
}

/* The value of a dNSName or iPAddress entry; false for other kinds. */
static bool
gn_value(const GENERAL_NAME *gn, int *type, const unsigned char **v,
         size_t *len)
{
    const ASN1_STRING *s;

    if (gn->type == GEN_DNS) {
        s = gn->d.dNSName;
    } else if (gn->type == GEN_IPADD) {
        s = gn->d.iPAddress;
    } else {
        return false;
    }
    *type = gn->type;
    *v = ASN1_STRING_get0_data(s);
    *len = (size_t)ASN1_STRING_length(s);
    return *v != NULL || *len == 0;
}

static bool
san_has_dns(const GENERAL_NAMES *san, const char *name)
{
    const unsigned char *v;
    size_t len;
    int type;

    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        if (gn_value(sk_GENERAL_NAME_value(san, i), &type, &v, &len) &&
            type == GEN_DNS && len == strlen(name) &&
            strncasecmp((const char *)v, name, len) == 0) {
            return true;
        }
    }
    return false;
}

static bool
san_has_ip(const GENERAL_NAMES *san, const char *ip)
{
    const unsigned char *v;
    size_t len;
    int type;

    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        if (gn_value(sk_GENERAL_NAME_value(san, i), &type, &v, &len) &&
            type == GEN_IPADD && ip_in(v, len, &ip, 1)) {
            return true;
        }
    }
    return false;
}

ap_err
x509_check_names(const char *leaf_pem, const char *const *dns, size_t n_dns,
                 const char *const *ips, size_t n_ips, char *why,
                 size_t whylen)
{
    GENERAL_NAMES *san = NULL;
    X509 *x = NULL;
    char extra[512] = "";
    char missing[512] = "";
    char text[INET6_ADDRSTRLEN + 1];
    ap_err rc;

    rc = first_cert(leaf_pem, &x);
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the leaf does not parse");
        rc = rc == AP_ENOMEM ? rc : AP_EPARSE;
        goto out;
    }
    rc = san_get(x, &san);
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the leaf's subjectAltName %s",
                       rc == AP_EINVAL ? "appears twice" : "does not parse");
        goto out;
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        const unsigned char *v;
        size_t len;
        int type;

        if (!gn_value(sk_GENERAL_NAME_value(san, i), &type, &v, &len)) {
            list_add(extra, sizeof(extra), "(a SAN that is not a DNS name "
                                           "or IP address)");
        } else if (type == GEN_DNS) {
            if (!dns_in((const char *)v, len, dns, n_dns)) {
                (void)snprintf(text, sizeof(text), "%.*s",
                               (int)(len < 46 ? len : 46), (const char *)v);
                list_add(extra, sizeof(extra), text);
            }
        } else if (len == 4 || len == 16) {
            if (!ip_in(v, len, ips, n_ips)) {
                (void)inet_ntop(len == 4 ? AF_INET : AF_INET6, v, text,
                                sizeof(text));
                list_add(extra, sizeof(extra), text);
            }
        } else {
            list_add(extra, sizeof(extra), "(an IP address SAN of neither "
                                           "4 nor 16 bytes)");
        }
    }
    for (size_t i = 0; i < n_dns; i++) {
        if (!san_has_dns(san, dns[i])) {
            list_add(missing, sizeof(missing), dns[i]);
        }
    }
    for (size_t i = 0; i < n_ips; i++) {
        if (!san_has_ip(san, ips[i])) {
            list_add(missing, sizeof(missing), ips[i]);
        }
    }
    if (extra[0] != '\0' || missing[0] != '\0') {
        (void)snprintf(why, whylen,
                       "the certificate's names differ from the order's: "
                       "extra [%s], missing [%s]",
                       extra, missing);
        rc = AP_EINVAL;
        goto out;
    }
    rc = AP_OK;
out:
    GENERAL_NAMES_free(san);
    X509_free(x);
    return rc;
}

ap_err
x509_check_leaf_use(const char *leaf_pem, bool tls_server, char *why,
                    size_t whylen)
{
    BASIC_CONSTRAINTS *bc = NULL;
    X509 *x = NULL;
    uint32_t flags;
    int crit = -1;
    ap_err rc;

    rc = first_cert(leaf_pem, &x);
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the leaf does not parse");
        rc = rc == AP_ENOMEM ? rc : AP_EPARSE;
        goto out;
    }
    rc = AP_EINVAL;
    /* Decodes and caches the extensions: a broken or repeated one sets
     * EXFLAG_INVALID. */
    flags = X509_get_extension_flags(x);
    if ((flags & EXFLAG_INVALID) != 0) {
        (void)snprintf(why, whylen, "the certificate has a malformed or "
                                    "repeated extension");
        goto out;
    }
    bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
    if (bc != NULL && bc->ca) {
        (void)snprintf(why, whylen, "the PKI returned a CA certificate "
                                    "(basicConstraints cA=TRUE)");
        goto out;
    }
    if ((flags & EXFLAG_KUSAGE) != 0 &&
        (X509_get_key_usage(x) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
        (void)snprintf(why, whylen, "the certificate's keyUsage allows "
                                    "keyCertSign or cRLSign");
        goto out;
    }
    if (tls_server && (flags & EXFLAG_XKUSAGE) == 0) {
        (void)snprintf(why, whylen, "the certificate has no extendedKeyUsage;"
                                    " a TLS server profile needs "
                                    "serverAuth");
        goto out;
    }
    if (tls_server && (X509_get_extended_key_usage(x) & XKU_SSL_SERVER) ==
                          0) {
        (void)snprintf(why, whylen, "the certificate's extendedKeyUsage "
                                    "lacks serverAuth, which a TLS server "
                                    "profile needs");
        goto out;
    }
    rc = AP_OK;
out:
    ERR_clear_error();
    BASIC_CONSTRAINTS_free(bc);
    X509_free(x);
    return rc;
}

/* ---- path validation ----------------------------------------------- */

/* Appends every certificate of a PEM text to sk (held by sk). */
static ap_err
ossl_load_pem(const char *pem, STACK_OF(X509) *sk)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x;
    int n = 0;

    if (bio == NULL) {
        return AP_ENOMEM;
    }
    while (n < X509_MAX_CERTS &&
           (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            BIO_free(bio);
            return AP_ENOMEM;
        }
        n++;
    }
    ERR_clear_error(); /* the end of the text reads as an error */
    BIO_free(bio);
    return n > 0 ? AP_OK : AP_EPARSE;
}

/* Path validation with OpenSSL's libcrypto: signatures, validity, CA
 * constraints; every issued certificate goes through here
 * (test/bench/README.md). It reads public certificates only. */
ap_err
x509_verify_chain(const char *leaf_pem, const char *chain_pem,
                  const char *anchors_pem, char *why, size_t whylen)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    STACK_OF(X509) *anchors = sk_X509_new_null();
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 *leaf;
    ap_err rc = AP_ENOMEM;

    if (certs == NULL || anchors == NULL || store == NULL || ctx == NULL) {
        (void)snprintf(why, whylen, "out of memory");
        goto out;
    }
    /* The leaf first; the rest of the list is untrusted intermediates. */
    rc = ossl_load_pem(leaf_pem, certs);
    if (rc == AP_OK && chain_pem != NULL && strstr(chain_pem, X509_BEGIN)) {
        rc = ossl_load_pem(chain_pem, certs);
    }
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the certificate or its chain does not "
                                    "parse");
        goto out;
    }
    rc = ossl_load_pem(anchors_pem, anchors);
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the trust anchors do not parse");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(anchors); i++) {
        if (X509_STORE_add_cert(store, sk_X509_value(anchors, i)) != 1) {
            rc = AP_ENOMEM;
            goto out;
        }
    }
    leaf = sk_X509_shift(certs);
    if (X509_STORE_CTX_init(ctx, store, leaf, certs) != 1) {
        X509_free(leaf);
        rc = AP_ENOMEM;
        goto out;
    }
    if (X509_verify_cert(ctx) != 1) {
        (void)snprintf(why, whylen,
                       "the chain does not verify to the trust anchors: %s",
                       X509_verify_cert_error_string(
                           X509_STORE_CTX_get_error(ctx)));
        rc = AP_ECRYPTO;
    } else {
        rc = AP_OK;
    }
    X509_STORE_CTX_cleanup(ctx);
    X509_free(leaf);
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(anchors, X509_free);
    sk_X509_pop_free(certs, X509_free);
    return rc;
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
    x = cert_from_der(der, len);
    if (x == NULL) {
        goto out;
    }
    cert = calloc(1, sizeof(*cert));
    if (cert == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = serial_content(X509_get0_serialNumber(x), &cert->serial_raw,
                        &cert->serial_raw_len);
    if (rc != AP_OK) {
        goto out;
    }
    cert->serial_hex = serial_hex_of(cert->serial_raw, cert->serial_raw_len);
    if (cert->serial_hex == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = time_of(X509_get0_notBefore(x), &cert->not_before);
    if (rc == AP_OK) {
        rc = time_of(X509_get0_notAfter(x), &cert->not_after);
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
    rc = each_cert(pem, first_der_copy, &fd, NULL);
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
