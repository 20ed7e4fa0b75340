/* common/crypto.c: randomness, SHA-256, HMAC, constant-time comparison and
 * wiping on OpenSSL libcrypto (see crypto.h).
 *
 * The one exception is the legacy section at the end (certificate facts
 * on mbedTLS), which moves to common/x509.c on another branch; nothing
 * above it includes an mbedTLS header. */
#include "common/crypto.h"

#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* What crypto_rng returns on failure: mbedTLS's
 * MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED, so that mbedTLS callers
 * report a meaningful error; written out to need no mbedTLS header. */
#define CRYPTO_RNG_FAILED (-0x0034)

static atomic_bool g_ready;

/* ---- random -------------------------------------------------------- */

ap_err
crypto_init(void)
{
    ap_err rc = AP_ECRYPTO;

    /* OpenSSL 3 seeds its DRBGs from the OS on first use and reseeds
     * them after fork; RAND_status does that first use now, so that a
     * machine without entropy fails at start and not on a request. */
    if (RAND_status() != 1) {
        ERR_clear_error();
        goto out;
    }
    atomic_store(&g_ready, true);
    rc = AP_OK;
out:
    return rc;
}

void
crypto_fini(void)
{
    atomic_store(&g_ready, false);
}

/* RAND_bytes in chunks of at most INT_MAX bytes. */
static bool
rand_fill(unsigned char *out, size_t len)
{
    size_t chunk;

    while (len > 0) {
        chunk = len < (size_t)INT_MAX ? len : (size_t)INT_MAX;
        if (RAND_bytes(out, (int)chunk) != 1) {
            ERR_clear_error();
            return false;
        }
        out += chunk;
        len -= chunk;
    }
    return true;
}

ap_err
crypto_random(void *out, size_t len)
{
    ap_err rc = AP_EINTERNAL;

    if (out == NULL && len != 0) {
        rc = AP_EINVAL;
        goto out;
    }
    if (!atomic_load(&g_ready)) {
        rc = AP_EINTERNAL;
        goto out;
    }
    if (!rand_fill(out, len)) {
        rc = AP_ECRYPTO;
        goto out;
    }
    rc = AP_OK;
out:
    return rc;
}

int
crypto_rng(void *p_rng, unsigned char *out, size_t len)
{
    (void)p_rng;
    if ((out == NULL && len != 0) || !atomic_load(&g_ready) ||
        !rand_fill(out, len)) {
        return CRYPTO_RNG_FAILED;
    }
    return 0;
}

/* ---- hashes and MACs ----------------------------------------------- */

void
crypto_sha256(const void *data, size_t len, unsigned char *out)
{
    unsigned int n = 0;

    if ((data == NULL && len != 0) ||
        EVP_Digest(data != NULL ? data : "", len, out, &n, EVP_sha256(),
                   NULL) != 1 ||
        n != CRYPTO_SHA256_LEN) {
        /* Cannot happen with a working libcrypto; never leave garbage. */
        ERR_clear_error();
        memset(out, 0, CRYPTO_SHA256_LEN);
    }
}

/* HMAC with the SHA-2 function mdname into out (outlen bytes: its size). */
static ap_err
hmac_md(const char *mdname, size_t outlen, const void *key, size_t keylen,
        const void *msg, size_t msglen, unsigned char *out)
{
    size_t n = 0;
    ap_err rc = AP_EINTERNAL;

    if (out == NULL || (key == NULL && keylen != 0) ||
        (msg == NULL && msglen != 0)) {
        rc = AP_EINVAL;
        goto out;
    }
    /* An empty key is "" rather than NULL: OpenSSL's HMAC wants one. */
    if (EVP_Q_mac(NULL, "HMAC", NULL, mdname, NULL,
                  key != NULL ? key : "", keylen,
                  (const unsigned char *)(msg != NULL ? msg : ""), msglen,
                  out, outlen,
                  &n) == NULL ||
        n != outlen) {
        ERR_clear_error();
        rc = AP_ECRYPTO;
        goto out;
    }
    rc = AP_OK;
out:
    return rc;
}

ap_err
crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
                   size_t msglen, unsigned char *out)
{
    return hmac_md("SHA256", CRYPTO_SHA256_LEN, key, keylen, msg, msglen,
                   out);
}

ap_err
crypto_hmac(const char *alg, const void *key, size_t keylen, const void *msg,
            size_t msglen, unsigned char *out, size_t *outlen)
{
    static const struct {
        const char *name;
        const char *md;
        size_t len;
    } hs[] = {
        { "HS256", "SHA256", 32 },
        { "HS384", "SHA384", 48 },
        { "HS512", "SHA512", 64 },
    };

    if (alg == NULL || outlen == NULL) {
        return AP_EINVAL;
    }
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        if (strcmp(alg, hs[i].name) == 0) {
            *outlen = hs[i].len;
            return hmac_md(hs[i].md, hs[i].len, key, keylen, msg, msglen,
                           out);
        }
    }
    return AP_EINVAL;
}

int
crypto_ct_memcmp(const void *a, const void *b, size_t len)
{
    if (len == 0) {
        return 0;
    }
    return CRYPTO_memcmp(a, b, len);
}

void
crypto_zeroize(void *p, size_t len)
{
    if (p == NULL || len == 0) {
        return;
    }
    OPENSSL_cleanse(p, len);
}

/* ==== legacy: certificate facts (mbedTLS) ===========================
 * crypto_cert_parse, crypto_cert_free and crypto_pem_cert_to_der, as they
 * were; they move to common/x509.c (OpenSSL) on the branch `certs`, and
 * everything from here to the end of the file goes away at its merge. */

#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>

/* Big enough for the SubjectPublicKeyInfo of an 8192-bit RSA key. */
#define SPKI_MAX_DER 2600


static bool
x509_time_to_epoch(const mbedtls_x509_time *t, long long *out)
{
    struct tm tm;
    time_t secs;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    secs = timegm(&tm);
    /* timegm's -1 is also 1969-12-31T23:59:59, a valid time. */
    if (secs == (time_t)-1 && !(t->year == 1969 && t->sec == 59)) {
        return false;
    }
    *out = (long long)secs;
    return true;
}

/* Reads the tag-and-length of a SEQUENCE at *p and moves past all of it. */
static int
asn1_skip_sequence(unsigned char **p, const unsigned char *end)
{
    size_t len;
    int ret;

    ret = mbedtls_asn1_get_tag(p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                                 MBEDTLS_ASN1_SEQUENCE);
    if (ret == 0) {
        *p += len;
    }
    return ret;
}

/* Finds the keyIdentifier of the authorityKeyIdentifier extension
 * (2.5.29.35) in what follows the SubjectPublicKeyInfo of a TBS:
 * optional [1] and [2] unique IDs, then [3] EXPLICIT Extensions.
 * Returns 0 with *aki NULL when there is none, -1 on malformed DER. */
static int
cert_find_aki(unsigned char *p, const unsigned char *end,
              const unsigned char **aki, size_t *aki_len)
{
    static const unsigned char oid_aki[] = { 0x55, 0x1d, 0x23 };
    unsigned char *ext_end;
    size_t len;

    while (p < end && (*p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 1) ||
                       *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2) ||
                       *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                              MBEDTLS_ASN1_CONSTRUCTED | 1) ||
                       *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                              MBEDTLS_ASN1_CONSTRUCTED | 2))) {
        p++;
        if (mbedtls_asn1_get_len(&p, end, &len) != 0) {
            return -1;
        }
        p += len;
    }
    if (p >= end) {
        return 0;
    }
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                                MBEDTLS_ASN1_CONSTRUCTED |
                                                3) != 0 ||
        mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                                MBEDTLS_ASN1_SEQUENCE) != 0) {
        return -1;
    }
    ext_end = p + len;
    while (p < ext_end) {
        unsigned char *one_end;
        unsigned char *oid;
        size_t oid_len;
        int critical = 0;

        if (mbedtls_asn1_get_tag(&p, ext_end, &len,
                                 MBEDTLS_ASN1_CONSTRUCTED |
                                     MBEDTLS_ASN1_SEQUENCE) != 0) {
            return -1;
        }
        one_end = p + len;
        if (mbedtls_asn1_get_tag(&p, one_end, &oid_len, MBEDTLS_ASN1_OID) !=
            0) {
            return -1;
        }
        oid = p;
        p += oid_len;
        if (p < one_end && *p == MBEDTLS_ASN1_BOOLEAN &&
            mbedtls_asn1_get_bool(&p, one_end, &critical) != 0) {
            return -1;
        }
        if (mbedtls_asn1_get_tag(&p, one_end, &len,
                                 MBEDTLS_ASN1_OCTET_STRING) != 0) {
            return -1;
        }
        if (oid_len == sizeof(oid_aki) &&
            memcmp(oid, oid_aki, sizeof(oid_aki)) == 0) {
            unsigned char *q = p;
            unsigned char *q_end = p + len;
            size_t klen;

            if (mbedtls_asn1_get_tag(&q, q_end, &klen,
                                     MBEDTLS_ASN1_CONSTRUCTED |
                                         MBEDTLS_ASN1_SEQUENCE) != 0) {
                return -1;
            }
            q_end = q + klen;
            if (q < q_end && *q == MBEDTLS_ASN1_CONTEXT_SPECIFIC) {
                q++;
                if (mbedtls_asn1_get_len(&q, q_end, &klen) != 0) {
                    return -1;
                }
                *aki = q;
                *aki_len = klen;
            }
            return 0;
        }
        p = one_end;
    }
    return 0;
}

/* RFC 5280 §4.1. The certificate is walked here rather than with
 * mbedtls_x509_crt_parse_der: mbedTLS 2.28 refuses an empty subject
 * (RFC 5280 §4.1.2.6 allows one with a critical subjectAltName, as in
 * profiles without a CN) and unknown critical extensions, and we only
 * read facts from a certificate our PKI issued, we do not validate it. */
ap_err
crypto_cert_parse(const unsigned char *der, size_t len,
                  struct crypto_cert **out)
{
    static const char hex[] = "0123456789abcdef";
    struct crypto_cert *cert = NULL;
    mbedtls_pk_context pk;
    mbedtls_x509_buf serial;
    mbedtls_x509_buf alg;
    mbedtls_x509_buf params;
    mbedtls_x509_buf sig;
    mbedtls_x509_time not_before;
    mbedtls_x509_time not_after;
    unsigned char spki[SPKI_MAX_DER];
    unsigned char *buf = NULL;
    unsigned char *p;
    unsigned char *end;
    unsigned char *tbs_end;
    unsigned char *v_end;
    const unsigned char *s;
    const unsigned char *aki;
    size_t aki_len;
    size_t s_len;
    size_t tlen;
    size_t i;
    int version = 0;
    int ret;
    ap_err rc = AP_EINTERNAL;

    mbedtls_pk_init(&pk);
    if (out == NULL || (der == NULL && len != 0)) {
        rc = AP_EINVAL;
        goto out;
    }
    rc = AP_EPARSE;
    if (len == 0) {
        goto out;
    }
    buf = malloc(len);
    if (buf == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(buf, der, len);
    p = buf;
    end = buf + len;

    if (mbedtls_asn1_get_tag(&p, end, &tlen, MBEDTLS_ASN1_CONSTRUCTED |
                                                 MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        p + tlen != end) {
        goto out;
    }
    if (mbedtls_asn1_get_tag(&p, end, &tlen, MBEDTLS_ASN1_CONSTRUCTED |
                                                 MBEDTLS_ASN1_SEQUENCE) !=
        0) {
        goto out;
    }
    tbs_end = p + tlen;
    /* version [0] EXPLICIT Version DEFAULT v1 */
    if (p < tbs_end &&
        *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED)) {
        if (mbedtls_asn1_get_tag(&p, tbs_end, &tlen,
                                 MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                     MBEDTLS_ASN1_CONSTRUCTED) != 0 ||
            mbedtls_asn1_get_int(&p, p + tlen, &version) != 0 ||
            version < 0 || version > 2) {
            goto out;
        }
    }
    if (mbedtls_x509_get_serial(&p, tbs_end, &serial) != 0 ||
        serial.len == 0 ||
        mbedtls_x509_get_alg(&p, tbs_end, &alg, &params) != 0 ||
        asn1_skip_sequence(&p, tbs_end) != 0) {
        goto out;
    }
    if (mbedtls_asn1_get_tag(&p, tbs_end, &tlen, MBEDTLS_ASN1_CONSTRUCTED |
                                                     MBEDTLS_ASN1_SEQUENCE) !=
        0) {
        goto out;
    }
    v_end = p + tlen;
    if (mbedtls_x509_get_time(&p, v_end, &not_before) != 0 ||
        mbedtls_x509_get_time(&p, v_end, &not_after) != 0 || p != v_end) {
        goto out;
    }
    if (asn1_skip_sequence(&p, tbs_end) != 0) {
        goto out;
    }
    ret = mbedtls_pk_parse_subpubkey(&p, tbs_end, &pk);
    if (ret != 0) {
        rc = (ret == MBEDTLS_ERR_PK_ALLOC_FAILED) ? AP_ENOMEM : AP_EPARSE;
        goto out;
    }
    /* Unique IDs are skipped; of the extensions only the authority key
     * identifier is read (RFC 9773 certificate identifiers). */
    aki = NULL;
    aki_len = 0;
    if (cert_find_aki(p, tbs_end, &aki, &aki_len) != 0) {
        goto out;
    }
    p = tbs_end;
    if (mbedtls_x509_get_alg(&p, end, &alg, &params) != 0 ||
        mbedtls_x509_get_sig(&p, end, &sig) != 0 || p != end) {
        goto out;
    }

    cert = calloc(1, sizeof(*cert));
    if (cert == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    s = serial.p;
    s_len = serial.len;
    while (s_len > 1 && s[0] == 0) {
        s++;
        s_len--;
    }
    cert->serial_hex = malloc(2 * s_len + 1);
    if (cert->serial_hex == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    for (i = 0; i < s_len; i++) {
        cert->serial_hex[2 * i] = hex[s[i] >> 4];
        cert->serial_hex[2 * i + 1] = hex[s[i] & 0x0f];
    }
    cert->serial_hex[2 * s_len] = '\0';

    /* Re-encoded like crypto_csr's, so the two compare byte for byte. */
    ret = mbedtls_pk_write_pubkey_der(&pk, spki, sizeof(spki));
    if (ret <= 0) {
        goto out;
    }
    cert->pubkey_der = malloc((size_t)ret);
    if (cert->pubkey_der == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(cert->pubkey_der, spki + sizeof(spki) - (size_t)ret, (size_t)ret);
    cert->pubkey_der_len = (size_t)ret;

    if (!x509_time_to_epoch(&not_before, &cert->not_before) ||
        !x509_time_to_epoch(&not_after, &cert->not_after)) {
        goto out;
    }
    cert->serial_raw = malloc(serial.len);
    if (cert->serial_raw == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(cert->serial_raw, serial.p, serial.len);
    cert->serial_raw_len = serial.len;
    if (aki != NULL) {
        cert->aki = malloc(aki_len);
        if (cert->aki == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
        memcpy(cert->aki, aki, aki_len);
        cert->aki_len = aki_len;
    }
    rc = AP_OK;
out:
    mbedtls_pk_free(&pk);
    free(buf);
    if (rc != AP_OK) {
        crypto_cert_free(cert);
        cert = NULL;
    } else {
        *out = cert;
    }
    return rc;
}

void
crypto_cert_free(struct crypto_cert *cert)
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

ap_err
crypto_pem_cert_to_der(const char *pem, unsigned char **der, size_t *derlen)
{
    mbedtls_pem_context ctx;
    unsigned char *copy = NULL;
    size_t use_len = 0;
    size_t buflen = 0;
    const unsigned char *body;
    int ret;
    ap_err rc = AP_EINTERNAL;

    mbedtls_pem_init(&ctx);
    if (pem == NULL || der == NULL || derlen == NULL) {
        rc = AP_EINVAL;
        goto out;
    }
    /* Finds the first such block, skipping text and other blocks before
     * it; pem must be NUL-terminated. */
    ret = mbedtls_pem_read_buffer(&ctx, "-----BEGIN CERTIFICATE-----",
                                  "-----END CERTIFICATE-----",
                                  (const unsigned char *)pem, NULL, 0,
                                  &use_len);
    if (ret != 0) {
        rc = (ret == MBEDTLS_ERR_PEM_ALLOC_FAILED) ? AP_ENOMEM : AP_EPARSE;
        goto out;
    }
    body = ctx.buf;
    buflen = ctx.buflen;
    if (body == NULL || buflen == 0) {
        rc = AP_EPARSE;
        goto out;
    }
    copy = malloc(buflen);
    if (copy == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(copy, body, buflen);
    rc = AP_OK;
out:
    mbedtls_pem_free(&ctx);
    if (rc == AP_OK) {
        *der = copy;
        *derlen = buflen;
    }
    return rc;
}

