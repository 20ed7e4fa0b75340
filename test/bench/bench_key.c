/* test/bench/bench_key.c: client keys, JWS signatures and CSRs for the
 * load generator (see bench_key.h), on OpenSSL libcrypto. */
#include "test/bench/bench_key.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/jwk.h"
#include "common/x509.h"

#define BKEY_DER_MAX 4096
#define BKEY_SAN_MAX 4096

struct bkey {
    enum bkey_type type;
    EVP_PKEY *evp;            /* read-only once made: shared by threads */
};

const char *
bkey_backend(void)
{
    return "openssl";
}

ap_err
bkey_generate(enum bkey_type type, struct bkey **out)
{
    struct bkey *k = calloc(1, sizeof(*k));
    ap_err rc = AP_ECRYPTO;

    if (k == NULL) {
        return AP_ENOMEM;
    }
    k->type = type;
    k->evp = type == BKEY_ES256
                 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                 : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (k->evp == NULL) {
        ERR_clear_error();
        goto out;
    }
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        bkey_free(k);
        k = NULL;
    }
    *out = k;
    return rc;
}

void
bkey_free(struct bkey *key)
{
    if (key == NULL) {
        return;
    }
    EVP_PKEY_free(key->evp);
    free(key);
}

const char *
bkey_alg(const struct bkey *key)
{
    return key->type == BKEY_ES256 ? "ES256" : "RS256";
}

/* Adds name: base64url of the big-endian bn, padded to len bytes when
 * len is not 0. */
static ap_err
add_b64_bn(cJSON *obj, const char *name, const BIGNUM *bn, int len)
{
    unsigned char bin[1024];
    char *s;
    int n = len != 0 ? len : BN_num_bytes(bn);

    if (n <= 0 || n > (int)sizeof(bin) || BN_bn2binpad(bn, bin, n) != n) {
        return AP_ECRYPTO;
    }
    s = b64url_encode_alloc(bin, (size_t)n);
    if (s == NULL || cJSON_AddStringToObject(obj, name, s) == NULL) {
        free(s);
        return AP_ENOMEM;
    }
    free(s);
    return AP_OK;
}

cJSON *
bkey_jwk(const struct bkey *key)
{
    cJSON *jwk = cJSON_CreateObject();
    BIGNUM *a = NULL;
    BIGNUM *b = NULL;
    ap_err rc = AP_ECRYPTO;

    if (jwk == NULL) {
        return NULL;
    }
    if (key->type == BKEY_ES256) {
        cJSON_AddStringToObject(jwk, "kty", "EC");
        cJSON_AddStringToObject(jwk, "crv", "P-256");
        if (EVP_PKEY_get_bn_param(key->evp, OSSL_PKEY_PARAM_EC_PUB_X, &a) ==
                1 &&
            EVP_PKEY_get_bn_param(key->evp, OSSL_PKEY_PARAM_EC_PUB_Y, &b) ==
                1) {
            rc = add_b64_bn(jwk, "x", a, 32);
            if (rc == AP_OK) {
                rc = add_b64_bn(jwk, "y", b, 32);
            }
        }
    } else {
        cJSON_AddStringToObject(jwk, "kty", "RSA");
        if (EVP_PKEY_get_bn_param(key->evp, OSSL_PKEY_PARAM_RSA_N, &a) == 1 &&
            EVP_PKEY_get_bn_param(key->evp, OSSL_PKEY_PARAM_RSA_E, &b) == 1) {
            rc = add_b64_bn(jwk, "n", a, 0);
            if (rc == AP_OK) {
                rc = add_b64_bn(jwk, "e", b, 0);
            }
        }
    }
    BN_free(a);
    BN_free(b);
    if (rc != AP_OK) {
        ERR_clear_error();
        cJSON_Delete(jwk);
        return NULL;
    }
    return jwk;
}

ap_err
bkey_thumbprint(const struct bkey *key, char *out, size_t outlen)
{
    cJSON *jwk = bkey_jwk(key);
    struct crypto_key *ck = NULL;
    char errbuf[128];
    ap_err rc;

    if (jwk == NULL) {
        return AP_ENOMEM;
    }
    rc = crypto_jwk_parse(jwk, &ck, errbuf, sizeof(errbuf));
    if (rc == AP_OK) {
        rc = crypto_key_thumbprint(ck, out, outlen);
    }
    crypto_key_free(ck);
    cJSON_Delete(jwk);
    return rc;
}

ap_err
bkey_sign(struct bkey *key, const void *msg, size_t len, unsigned char *sig,
          size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[600];
    size_t derlen = sizeof(der);
    const unsigned char *p = der;
    ECDSA_SIG *es = NULL;
    ap_err rc = AP_ECRYPTO;

    if (ctx == NULL) {
        return AP_ENOMEM;
    }
    if (EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key->evp,
                              NULL) != 1 ||
        EVP_DigestSign(ctx, der, &derlen, msg, len) != 1) {
        goto out;
    }
    if (key->type == BKEY_RS256) {
        if (derlen > *siglen) {
            rc = AP_ETOOBIG;
            goto out;
        }
        memcpy(sig, der, derlen);
        *siglen = derlen;
        rc = AP_OK;
        goto out;
    }
    /* RFC 7518 §3.4: the DER ECDSA-Sig-Value to R||S, 32 bytes each. */
    if (*siglen < 64) {
        rc = AP_ETOOBIG;
        goto out;
    }
    es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (es == NULL ||
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) != 32) {
        goto out;
    }
    *siglen = 64;
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        ERR_clear_error();
    }
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(ctx);
    return rc;
}

ap_err
bkey_csr(struct bkey *key, const char *const *names, size_t n,
         unsigned char **der, size_t *len)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *subject = X509_NAME_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san = NULL;
    unsigned char *enc = NULL;
    char value[BKEY_SAN_MAX];
    size_t used = 0;
    int w;
    ap_err rc = AP_ENOMEM;

    if (req == NULL || subject == NULL || exts == NULL) {
        goto out;
    }
    rc = AP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        w = snprintf(value + used, sizeof(value) - used, "%sDNS:%s",
                     i > 0 ? "," : "", names[i]);
        if (w < 0 || (size_t)w >= sizeof(value) - used) {
            goto out;
        }
        used += (size_t)w;
    }
    rc = AP_ECRYPTO;
    if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        X509_REQ_set_pubkey(req, key->evp) != 1 ||
        (n > 0 && X509_NAME_add_entry_by_NID(
                      subject, NID_commonName, MBSTRING_UTF8,
                      (const unsigned char *)names[0], -1, -1, 0) != 1) ||
        X509_REQ_set_subject_name(req, subject) != 1) {
        goto out;
    }
    if (n > 0) {
        san = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, value);
        if (san == NULL || sk_X509_EXTENSION_push(exts, san) <= 0) {
            X509_EXTENSION_free(san);
            goto out;
        }
        if (X509_REQ_add_extensions(req, exts) != 1) {
            goto out;
        }
    }
    /* Signing only reads the key: no lock. */
    if (X509_REQ_sign(req, key->evp, EVP_sha256()) <= 0) {
        goto out;
    }
    w = i2d_X509_REQ(req, &enc);
    if (w <= 0) {
        goto out;
    }
    *der = malloc((size_t)w);
    if (*der == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(*der, enc, (size_t)w);
    *len = (size_t)w;
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        ERR_clear_error();
    }
    OPENSSL_free(enc);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(subject);
    X509_REQ_free(req);
    return rc;
}

/* i2d_PUBKEY of pkey into out. */
static ap_err
spki_of(EVP_PKEY *pkey, unsigned char *out, size_t outlen, size_t *len)
{
    unsigned char *enc = NULL;
    int n = i2d_PUBKEY(pkey, &enc);
    ap_err rc = AP_ECRYPTO;

    if (n > 0 && (size_t)n <= outlen) {
        memcpy(out, enc, (size_t)n);
        *len = (size_t)n;
        rc = AP_OK;
    }
    ERR_clear_error();
    OPENSSL_free(enc);
    return rc;
}

ap_err
bkey_pubkey_der(const struct bkey *key, unsigned char *out, size_t outlen,
                size_t *len)
{
    return spki_of(key->evp, out, outlen, len);
}

/* The first certificate of pem; NULL when there is none. */
static X509 *
first_cert(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *crt = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL)
                            : NULL;

    BIO_free(bio);
    ERR_clear_error();
    return crt;
}

ap_err
bkey_cert_matches(const struct bkey *key, const char *pem)
{
    X509 *crt = first_cert(pem);
    EVP_PKEY *pub = crt != NULL ? X509_get0_pubkey(crt) : NULL;
    ap_err rc = AP_EPARSE;

    if (pub != NULL) {
        rc = EVP_PKEY_eq(pub, key->evp) == 1 ? AP_OK : AP_ECRYPTO;
    }
    ERR_clear_error();
    X509_free(crt);
    return rc;
}

ap_err
bkey_cert_der(const char *pem, unsigned char **der, size_t *len)
{
    return x509_pem_cert_to_der(pem, der, len);
}

/* ---------------------------------------------------------- microbench */

static double
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void
row(const char *alg, const char *what, double us)
{
    char label[96];

    snprintf(label, sizeof(label), "%s %s", alg, what);
    printf("%-52s %10.1f\n", label, us);
}

void
bkey_crypto_bench(unsigned iterations)
{
    static const char msg[] =
        "eyJhbGciOiJFUzI1NiIsImtpZCI6Imh0dHBzOi8vbG9jYWxob3N0OjE0MDAwL2Fj"
        "bWUvYWNjdC9BQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwibm9uY2UiOiJBQUFBQUFB"
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwidXJs"
        "IjoiaHR0cHM6Ly9sb2NhbGhvc3Q6MTQwMDAvYWNtZS9uZXctb3JkZXIifQ.eyJpZ"
        "GVudGlmaWVycyI6W3sidHlwZSI6ImRucyIsInZhbHVlIjoid3d3LmV4YW1wbGUud"
        "GVzdCJ9XX0";
    const enum crypto_alg algs[BKEY__MAX] = { CRYPTO_ALG_ES256,
                                              CRYPTO_ALG_RS256 };

    if (iterations == 0) {
        iterations = 200;
    }
    printf("%-52s %10s\n", "operation (per call, OpenSSL libcrypto)", "us");
    for (int t = 0; t < BKEY__MAX; t++) {
        struct bkey *k = NULL;
        struct crypto_key *ck = NULL;
        cJSON *jwk = NULL;
        unsigned char sig[600];
        size_t siglen = sizeof(sig);
        char errbuf[128];
        char thumb[64];
        const char *alg = t == BKEY_ES256 ? "ES256" : "RS256";
        unsigned char *csr = NULL;
        size_t csrlen = 0;
        const char *names[] = { "www.example.test" };
        double t0;

        if (bkey_generate((enum bkey_type)t, &k) != AP_OK ||
            bkey_sign(k, msg, strlen(msg), sig, &siglen) != AP_OK ||
            (jwk = bkey_jwk(k)) == NULL ||
            crypto_jwk_parse(jwk, &ck, errbuf, sizeof(errbuf)) != AP_OK) {
            printf("%s: key setup failed\n", alg);
            bkey_free(k);
            cJSON_Delete(jwk);
            continue;
        }
        t0 = now_us();
        for (unsigned i = 0; i < iterations; i++) {
            struct crypto_key *tmp = NULL;

            if (crypto_jwk_parse(jwk, &tmp, errbuf, sizeof(errbuf)) !=
                AP_OK) {
                puts("jwk parse failed");
            }
            crypto_key_free(tmp);
        }
        row(alg, "crypto_jwk_parse (account key)",
            (now_us() - t0) / iterations);
        t0 = now_us();
        for (unsigned i = 0; i < iterations; i++) {
            if (crypto_key_thumbprint(ck, thumb, sizeof(thumb)) != AP_OK) {
                puts("thumbprint failed");
            }
        }
        row(alg, "crypto_key_thumbprint", (now_us() - t0) / iterations);
        t0 = now_us();
        for (unsigned i = 0; i < iterations; i++) {
            if (crypto_verify(ck, algs[t], msg, strlen(msg), sig, siglen) !=
                AP_OK) {
                puts("verify failed");
            }
        }
        row(alg, "crypto_verify (JWS)", (now_us() - t0) / iterations);
        t0 = now_us();
        for (unsigned i = 0; i < iterations; i++) {
            struct crypto_key *tmp = NULL;

            if (crypto_jwk_parse(jwk, &tmp, errbuf, sizeof(errbuf)) !=
                    AP_OK ||
                crypto_verify(tmp, algs[t], msg, strlen(msg), sig, siglen) !=
                    AP_OK) {
                puts("parse + verify failed");
            }
            crypto_key_free(tmp);
        }
        row(alg, "jwk_parse + verify (one kid request)",
            (now_us() - t0) / iterations);
        t0 = now_us();
        for (unsigned i = 0; i < iterations; i++) {
            siglen = sizeof(sig);
            if (bkey_sign(k, msg, strlen(msg), sig, &siglen) != AP_OK) {
                puts("sign failed");
            }
        }
        row(alg, "sign (client side)", (now_us() - t0) / iterations);
        if (bkey_csr(k, names, 1, &csr, &csrlen) == AP_OK) {
            t0 = now_us();
            for (unsigned i = 0; i < iterations; i++) {
                struct crypto_csr *c = NULL;

                if (crypto_csr_parse(csr, csrlen, &c, errbuf,
                                     sizeof(errbuf)) != AP_OK) {
                    printf("csr parse failed: %s\n", errbuf);
                }
                crypto_csr_free(c);
            }
            row(alg, "key: crypto_csr_parse (verifies the CSR)",
                (now_us() - t0) / iterations);
            free(csr);
        }
        crypto_key_free(ck);
        cJSON_Delete(jwk);
        bkey_free(k);
    }
}
