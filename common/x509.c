/* common/x509.c: parsing, comparing and verifying PKI-issued certificates
 * with mbedTLS 2.28 (x509 parse/verify, base64). No private keys here. */
#include "common/x509.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "common/buf.h"
#include "common/pem.h"

#define X509_BEGIN "-----BEGIN CERTIFICATE-----"
#define X509_END "-----END CERTIFICATE-----"
#define X509_SAN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define X509_SAN_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)
#define X509_MAX_DN 1024

ap_err
x509_b64_decode(const char *b64, unsigned char **out, size_t *outlen)
{
    size_t n = strlen(b64);
    char *clean = NULL;
    unsigned char *der = NULL;
    size_t k = 0;
    size_t dlen = 0;
    ap_err rc = AP_EPARSE;

    if (n > X509_MAX_BUNDLE) {
        return AP_ETOOBIG;
    }
    clean = malloc(n + 1);
    der = malloc(n / 4 * 3 + 4);
    if (clean == NULL || der == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isspace((unsigned char)b64[i])) {
            clean[k++] = b64[i];
        }
    }
    clean[k] = '\0';
    if (k == 0 || mbedtls_base64_decode(der, n / 4 * 3 + 4, &dlen,
                                        (const unsigned char *)clean,
                                        k) != 0 ||
        dlen == 0) {
        goto out;
    }
    rc = AP_OK;
out:
    free(clean);
    if (rc == AP_OK) {
        *out = der;
        *outlen = dlen;
    } else {
        free(der);
    }
    return rc;
}

/* DER that mbedTLS accepts as one certificate. */
static bool
is_cert_der(const unsigned char *der, size_t len)
{
    mbedtls_x509_crt crt;
    bool ok;

    mbedtls_x509_crt_init(&crt);
    ok = mbedtls_x509_crt_parse_der(&crt, der, len) == 0;
    mbedtls_x509_crt_free(&crt);
    return ok;
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
    if (!is_cert_der(der, len)) {
        free(der);
        return AP_EPARSE;
    }
    pem = pem_encode(der, len, "CERTIFICATE");
    free(der);
    if (pem == NULL) {
        return AP_ENOMEM;
    }
    *out = pem;
    return AP_OK;
}

ap_err
x509_pem_normalize(const char *text, size_t skip, char **out, size_t *n)
{
    struct buf b;
    const char *p = text;
    size_t count = 0;
    size_t kept = 0;
    ap_err rc = AP_EPARSE;

    buf_init(&b, X509_MAX_BUNDLE);
    if (strlen(text) > X509_MAX_BUNDLE) {
        rc = AP_ETOOBIG;
        goto out;
    }
    for (;;) {
        const char *begin = strstr(p, X509_BEGIN);
        const char *end;
        char *body = NULL;
        unsigned char *der = NULL;
        size_t len = 0;
        char *pem;

        if (begin == NULL) {
            break;
        }
        begin += strlen(X509_BEGIN);
        end = strstr(begin, X509_END);
        if (end == NULL) {
            rc = AP_EPARSE;
            goto out;
        }
        body = strndup(begin, (size_t)(end - begin));
        if (body == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
        rc = x509_b64_decode(body, &der, &len);
        free(body);
        if (rc != AP_OK) {
            goto out;
        }
        if (!is_cert_der(der, len)) {
            free(der);
            rc = AP_EPARSE;
            goto out;
        }
        if (++count > X509_MAX_CERTS) {
            free(der);
            rc = AP_ETOOBIG;
            goto out;
        }
        p = end + strlen(X509_END);
        if (count <= skip) {
            free(der);
            continue;
        }
        pem = pem_encode(der, len, "CERTIFICATE");
        free(der);
        if (pem == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
        rc = buf_appends(&b, pem);
        free(pem);
        if (rc != AP_OK) {
            goto out;
        }
        kept++;
    }
    if (kept == 0) {
        rc = AP_EPARSE;
        goto out;
    }
    *out = buf_take(&b);
    if (*out == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    if (n != NULL) {
        *n = kept;
    }
    rc = AP_OK;
out:
    buf_fini(&b);
    return rc;
}

/* Parses the certificates of pem (NUL-terminated) into crt, appending. */
static ap_err
parse_pem_into(mbedtls_x509_crt *crt, const char *pem, size_t skip,
               size_t max)
{
    char *clean = NULL;
    size_t n = 0;
    ap_err rc;

    rc = x509_pem_normalize(pem, skip, &clean, &n);
    if (rc != AP_OK) {
        return rc;
    }
    if (n > max || mbedtls_x509_crt_parse(crt, (const unsigned char *)clean,
                                          strlen(clean) + 1) != 0) {
        rc = AP_EPARSE;
    }
    free(clean);
    return rc;
}

/* RFC 4514 escaping of one attribute value. */
static ap_err
dn_value(struct buf *b, const unsigned char *v, size_t len)
{
    ap_err rc = AP_OK;

    for (size_t i = 0; i < len && rc == AP_OK; i++) {
        unsigned char c = v[i];

        if (c < 0x20 || c == 0x7f) {
            rc = buf_printf(b, "\\%02X", c);
        } else if (strchr(",+\"\\<>;=", c) != NULL ||
                   (i == 0 && (c == '#' || c == ' ')) ||
                   (i == len - 1 && c == ' ')) {
            rc = buf_printf(b, "\\%c", c);
        } else {
            rc = buf_append(b, &c, 1);
        }
    }
    return rc;
}

static ap_err
dn_rfc4514(const mbedtls_x509_name *name, char **out)
{
    const mbedtls_x509_name *items[64];
    size_t n = 0;
    struct buf b;
    ap_err rc = AP_OK;

    for (; name != NULL && n < 64; name = name->next) {
        if (name->oid.p != NULL) {
            items[n++] = name;
        }
    }
    buf_init(&b, X509_MAX_DN);
    for (size_t k = n; k > 0 && rc == AP_OK; k--) {
        const mbedtls_x509_name *it = items[k - 1];
        const char *sn = NULL;
        char oid[64];

        if (k != n) {
            /* In encoded order, next_merged joins an item to the next
             * one in one multi-valued RDN. */
            rc = buf_appends(&b, it->next_merged ? "+" : ",");
        }
        if (rc != AP_OK) {
            break;
        }
        if (mbedtls_oid_get_attr_short_name(&it->oid, &sn) == 0 &&
            sn != NULL) {
            rc = buf_printf(&b, "%s=", sn);
        } else if (mbedtls_oid_get_numeric_string(oid, sizeof(oid),
                                                  &it->oid) > 0) {
            rc = buf_printf(&b, "%s=", oid);
        } else {
            rc = AP_EPARSE;
        }
        if (rc == AP_OK) {
            rc = dn_value(&b, it->val.p, it->val.len);
        }
    }
    if (rc == AP_OK) {
        *out = buf_take(&b);
        rc = *out != NULL ? AP_OK : AP_ENOMEM;
    }
    buf_fini(&b);
    return rc;
}

ap_err
x509_cert_ids(const char *pem, struct x509_ids *out)
{
    static const char hex[] = "0123456789abcdef";
    mbedtls_x509_crt crt;
    struct x509_ids ids;
    const unsigned char *s;
    size_t slen;
    char *p;
    struct tm tm;
    ap_err rc;

    memset(&ids, 0, sizeof(ids));
    mbedtls_x509_crt_init(&crt);
    rc = parse_pem_into(&crt, pem, 0, X509_MAX_CERTS);
    if (rc != AP_OK) {
        goto out;
    }
    s = crt.serial.p;
    slen = crt.serial.len;
    while (slen > 1 && s[0] == 0) {
        s++;
        slen--;
    }
    ids.serial_hex = malloc(slen * 2 + 1);
    if (ids.serial_hex == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    p = ids.serial_hex;
    for (size_t i = 0; i < slen; i++) {
        *p++ = hex[s[i] >> 4];
        *p++ = hex[s[i] & 15];
    }
    *p = '\0';
    rc = dn_rfc4514(&crt.issuer, &ids.issuer_dn);
    if (rc != AP_OK) {
        goto out;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = crt.valid_to.year - 1900;
    tm.tm_mon = crt.valid_to.mon - 1;
    tm.tm_mday = crt.valid_to.day;
    tm.tm_hour = crt.valid_to.hour;
    tm.tm_min = crt.valid_to.min;
    tm.tm_sec = crt.valid_to.sec;
    ids.not_after = (long long)timegm(&tm);
    rc = AP_OK;
out:
    mbedtls_x509_crt_free(&crt);
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

ap_err
x509_check_names(const char *leaf_pem, const char *const *dns, size_t n_dns,
                 const char *const *ips, size_t n_ips, char *why,
                 size_t whylen)
{
    mbedtls_x509_crt crt;
    const mbedtls_x509_sequence *san;
    char extra[512] = "";
    char missing[512] = "";
    char text[INET6_ADDRSTRLEN + 1];
    ap_err rc;

    mbedtls_x509_crt_init(&crt);
    rc = parse_pem_into(&crt, leaf_pem, 0, X509_MAX_CERTS);
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the leaf does not parse");
        goto out;
    }
    for (san = &crt.subject_alt_names; san != NULL && san->buf.p != NULL;
         san = san->next) {
        const char *v = (const char *)san->buf.p;
        size_t len = san->buf.len;

        if (san->buf.tag == X509_SAN_DNS) {
            if (!dns_in(v, len, dns, n_dns)) {
                (void)snprintf(text, sizeof(text), "%.*s",
                               (int)(len < 46 ? len : 46), v);
                list_add(extra, sizeof(extra), text);
            }
        } else if (san->buf.tag == X509_SAN_IP &&
                   (len == 4 || len == 16)) {
            if (!ip_in(san->buf.p, len, ips, n_ips)) {
                (void)inet_ntop(len == 4 ? AF_INET : AF_INET6, san->buf.p,
                                text, sizeof(text));
                list_add(extra, sizeof(extra), text);
            }
        } else {
            list_add(extra, sizeof(extra), "(a SAN that is not a DNS name "
                                           "or IP address)");
        }
    }
    for (size_t i = 0; i < n_dns; i++) {
        bool found = false;

        for (san = &crt.subject_alt_names; san != NULL && san->buf.p != NULL;
             san = san->next) {
            if (san->buf.tag == X509_SAN_DNS &&
                san->buf.len == strlen(dns[i]) &&
                strncasecmp((const char *)san->buf.p, dns[i],
                            san->buf.len) == 0) {
                found = true;
            }
        }
        if (!found) {
            list_add(missing, sizeof(missing), dns[i]);
        }
    }
    for (size_t i = 0; i < n_ips; i++) {
        bool found = false;

        for (san = &crt.subject_alt_names; san != NULL && san->buf.p != NULL;
             san = san->next) {
            if (san->buf.tag == X509_SAN_IP &&
                ip_in(san->buf.p, san->buf.len, &ips[i], 1)) {
                found = true;
            }
        }
        if (!found) {
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
    mbedtls_x509_crt_free(&crt);
    return rc;
}

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

/* Path validation with OpenSSL's libcrypto rather than mbedTLS: it checks
 * the same things (signatures, validity, CA constraints) about 25 times
 * faster for ECDSA chains, and every issued certificate goes through here
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

/* Walks ContentInfo { contentType, [0] EXPLICIT SignedData { version,
 * digestAlgorithms, encapContentInfo, [0] IMPLICIT certificates, ... } }
 * (RFC 5652 §3, §5.1) and appends each certificate as PEM. */
static ap_err
pkcs7_certs(unsigned char *p, const unsigned char *end, struct buf *b)
{
    size_t len;
    unsigned char *set_end;
    size_t n = 0;

    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                                MBEDTLS_ASN1_SEQUENCE) != 0 ||
        mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_OID) != 0) {
        return AP_EPARSE;
    }
    p += len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                                MBEDTLS_ASN1_CONSTRUCTED) !=
            0 ||
        mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                                MBEDTLS_ASN1_SEQUENCE) != 0) {
        return AP_EPARSE;
    }
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_INTEGER) != 0) {
        return AP_EPARSE;
    }
    p += len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                                MBEDTLS_ASN1_SET) != 0) {
        return AP_EPARSE;
    }
    p += len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                                MBEDTLS_ASN1_SEQUENCE) != 0) {
        return AP_EPARSE;
    }
    p += len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                                MBEDTLS_ASN1_CONSTRUCTED) !=
        0) {
        return AP_EPARSE;
    }
    set_end = p + len;
    while (p < set_end) {
        unsigned char *start = p;
        char *pem;
        ap_err rc;

        if (mbedtls_asn1_get_tag(&p, set_end, &len,
                                 MBEDTLS_ASN1_CONSTRUCTED |
                                     MBEDTLS_ASN1_SEQUENCE) != 0 ||
            ++n > X509_MAX_CERTS) {
            return AP_EPARSE;
        }
        p += len;
        if (!is_cert_der(start, (size_t)(p - start))) {
            return AP_EPARSE;
        }
        pem = pem_encode(start, (size_t)(p - start), "CERTIFICATE");
        if (pem == NULL) {
            return AP_ENOMEM;
        }
        rc = buf_appends(b, pem);
        free(pem);
        if (rc != AP_OK) {
            return rc;
        }
    }
    return n > 0 ? AP_OK : AP_EPARSE;
}

ap_err
x509_pkcs7_to_pem(const char *text, char **out)
{
    const char *begin = strstr(text, "-----BEGIN ");
    char *body = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    struct buf b;
    ap_err rc;

    buf_init(&b, X509_MAX_BUNDLE);
    if (begin != NULL) {
        const char *start = strstr(begin + 11, "-----");
        const char *end = start != NULL ? strstr(start + 5, "-----END ")
                                        : NULL;

        if (end == NULL) {
            return AP_EPARSE;
        }
        body = strndup(start + 5, (size_t)(end - start - 5));
    } else {
        body = strdup(text);
    }
    if (body == NULL) {
        return AP_ENOMEM;
    }
    rc = x509_b64_decode(body, &der, &len);
    free(body);
    if (rc == AP_OK) {
        rc = pkcs7_certs(der, der + len, &b);
    }
    if (rc == AP_OK) {
        *out = buf_take(&b);
        rc = *out != NULL ? AP_OK : AP_ENOMEM;
    }
    free(der);
    buf_fini(&b);
    return rc;
}
