/* test/mockpki/oddcert.c: the leaves of oddcert.h, with OpenSSL. */
#include "test/mockpki/oddcert.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/ca.h"

/* Adds the extension nid with value given in OpenSSL's config syntax. */
static int
ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* The text of a subjectAltName value: DNS:a,IP:b,... (caller frees). */
static char *
san_text(const char *const *dns, size_t n_dns, const char *const *ips,
         size_t n_ips)
{
    struct buf b;
    char *out = NULL;
    ap_err rc = AP_OK;

    buf_init(&b, 65536);
    for (size_t i = 0; i < n_dns + n_ips && rc == AP_OK; i++) {
        const char *v = i < n_dns ? dns[i] : ips[i - n_dns];

        /* Names reach here from a CSR the proxy checked: no commas. */
        if (strchr(v, ',') != NULL) {
            rc = AP_EINVAL;
            break;
        }
        rc = buf_printf(&b, "%s%s%s", i == 0 ? "" : ",",
                        i < n_dns ? "DNS:" : "IP:", v);
    }
    if (rc == AP_OK) {
        out = buf_take(&b);
    }
    buf_fini(&b);
    return out;
}

static void *
pem_read(const char *dir, const char *name, int key)
{
    char path[4096];
    void *obj = NULL;
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    obj = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
              : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return obj;
}

ap_err
oddcert_issue(const char *ca_dir, enum oddcert_kind kind,
              const unsigned char *spki, size_t spki_len,
              const char *const *dns, size_t n_dns, const char *const *ips,
              size_t n_ips, char **pem)
{
    const unsigned char *p = spki;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)spki_len);
    EVP_PKEY *ca_key = pem_read(ca_dir, CA_INT_KEY_FILE, 1);
    X509 *ca = pem_read(ca_dir, CA_INT_FILE, 0);
    X509 *x = X509_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char *san = san_text(dns, n_dns, ips, n_ips);
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    char *data = NULL;
    time_t now = time(NULL);
    long len;
    ap_err rc = AP_EINVAL;

    if (key == NULL || ca_key == NULL || ca == NULL || x == NULL ||
        bio == NULL || san == NULL || n_dns + n_ips == 0 ||
        RAND_bytes(serial, sizeof(serial)) != 1) {
        goto out;
    }
    serial[0] = (serial[0] & 0x7f) | 0x01;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
        X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
        X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName,
                                   MBSTRING_UTF8,
                                   (const unsigned char *)(n_dns > 0
                                                               ? dns[0]
                                                               : ips[0]),
                                   -1, -1, 0) != 1 ||
        X509_time_adj_ex(X509_getm_notBefore(x), 0, -60, &now) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), 30, 0, &now) == NULL ||
        X509_set_pubkey(x, key) != 1) {
        goto out;
    }
    if (kind == ODDCERT_CA) {
        if (!ext_add(x, ca, NID_basic_constraints, "critical,CA:TRUE") ||
            !ext_add(x, ca, NID_key_usage,
                     "critical,digitalSignature,keyCertSign") ||
            !ext_add(x, ca, NID_ext_key_usage, "serverAuth,clientAuth")) {
            goto out;
        }
    } else {
        if (!ext_add(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
            !ext_add(x, ca, NID_key_usage, "critical,digitalSignature") ||
            !ext_add(x, ca, NID_ext_key_usage, "clientAuth")) {
            goto out;
        }
    }
    if (!ext_add(x, ca, NID_subject_alt_name, san) ||
        !ext_add(x, ca, NID_subject_key_identifier, "hash") ||
        !ext_add(x, ca, NID_authority_key_identifier, "keyid:always") ||
        X509_sign(x, ca_key, EVP_sha256()) <= 0 ||
        PEM_write_bio_X509(bio, x) != 1) {
        goto out;
    }
    len = BIO_get_mem_data(bio, &data);
    *pem = len > 0 ? strndup(data, (size_t)len) : NULL;
    rc = *pem != NULL ? AP_OK : AP_ENOMEM;
out:
    ERR_clear_error();
    free(san);
    BN_free(bn);
    BIO_free(bio);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return rc;
}
