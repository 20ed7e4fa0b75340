/* test/bench/bench_key.c: client keys, JWS signatures and CSRs for the
 * load generator (see bench_key.h). */
#include "test/bench/bench_key.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#ifdef BENCH_OPENSSL
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#endif

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/jwk.h"

#define BKEY_DER_MAX 4096

struct bkey {
    enum bkey_type type;
    mbedtls_pk_context pk;
    pthread_mutex_t lock;   /* mbedTLS signing caches tables in the key */
#ifdef BENCH_OPENSSL
    EVP_PKEY *evp;
#endif
};

const char *
bkey_backend(void)
{
#ifdef BENCH_OPENSSL
    return "openssl";
#else
    return "mbedtls";
#endif
}

ap_err
bkey_generate(enum bkey_type type, struct bkey **out)
{
    struct bkey *k = calloc(1, sizeof(*k));
    ap_err rc = AP_ECRYPTO;
    int mret;

    if (k == NULL) {
        return AP_ENOMEM;
    }
    k->type = type;
    pthread_mutex_init(&k->lock, NULL);
    mbedtls_pk_init(&k->pk);
    mret = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(
                                        type == BKEY_ES256 ? MBEDTLS_PK_ECKEY
                                                           : MBEDTLS_PK_RSA));
    if (mret != 0) {
        goto out;
    }
    if (type == BKEY_ES256) {
        mret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
                                   mbedtls_pk_ec(k->pk), crypto_rng, NULL);
    } else {
        mret = mbedtls_rsa_gen_key(mbedtls_pk_rsa(k->pk), crypto_rng, NULL,
                                   2048, 65537);
    }
    if (mret != 0) {
        goto out;
    }
#ifdef BENCH_OPENSSL
    {
        unsigned char der[BKEY_DER_MAX];
        const unsigned char *p;
        int n = mbedtls_pk_write_key_der(&k->pk, der, sizeof(der));

        if (n <= 0) {
            goto out;
        }
        p = der + sizeof(der) - n;
        k->evp = d2i_AutoPrivateKey(NULL, &p, n);
        mbedtls_platform_zeroize(der, sizeof(der));
        if (k->evp == NULL) {
            goto out;
        }
    }
#endif
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
    mbedtls_pk_free(&key->pk);
#ifdef BENCH_OPENSSL
    EVP_PKEY_free(key->evp);
#endif
    pthread_mutex_destroy(&key->lock);
    free(key);
}

const char *
bkey_alg(const struct bkey *key)
{
    return key->type == BKEY_ES256 ? "ES256" : "RS256";
}

static ap_err
add_b64_mpi(cJSON *obj, const char *name, const mbedtls_mpi *v, size_t len)
{
    unsigned char bin[1024];
    char *s;

    if (len == 0) {
        len = mbedtls_mpi_size(v);
    }
    if (len > sizeof(bin) || mbedtls_mpi_write_binary(v, bin, len) != 0) {
        return AP_ECRYPTO;
    }
    s = b64url_encode_alloc(bin, len);
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
    ap_err rc;

    if (jwk == NULL) {
        return NULL;
    }
    if (key->type == BKEY_ES256) {
        const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);

        cJSON_AddStringToObject(jwk, "kty", "EC");
        cJSON_AddStringToObject(jwk, "crv", "P-256");
        rc = add_b64_mpi(jwk, "x", &ec->Q.X, 32);
        if (rc == AP_OK) {
            rc = add_b64_mpi(jwk, "y", &ec->Q.Y, 32);
        }
    } else {
        mbedtls_mpi n;
        mbedtls_mpi e;

        mbedtls_mpi_init(&n);
        mbedtls_mpi_init(&e);
        rc = mbedtls_rsa_export(mbedtls_pk_rsa(key->pk), &n, NULL, NULL,
                                NULL, &e) == 0
                 ? AP_OK
                 : AP_ECRYPTO;
        cJSON_AddStringToObject(jwk, "kty", "RSA");
        if (rc == AP_OK) {
            rc = add_b64_mpi(jwk, "n", &n, 0);
        }
        if (rc == AP_OK) {
            rc = add_b64_mpi(jwk, "e", &e, 0);
        }
        mbedtls_mpi_free(&n);
        mbedtls_mpi_free(&e);
    }
    if (rc != AP_OK) {
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

/* DER ECDSA-Sig-Value -> R||S of 32 bytes each. */
static ap_err
ecdsa_der_to_raw(const unsigned char *der, size_t len, unsigned char *raw,
                 size_t *rawlen)
{
    unsigned char *p = (unsigned char *)(uintptr_t)der;
    const unsigned char *end = der + len;
    mbedtls_mpi r;
    mbedtls_mpi s;
    size_t n;
    ap_err rc = AP_ECRYPTO;

    if (*rawlen < 64) {
        return AP_ETOOBIG;
    }
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED |
                                              MBEDTLS_ASN1_SEQUENCE) == 0 &&
        mbedtls_asn1_get_mpi(&p, end, &r) == 0 &&
        mbedtls_asn1_get_mpi(&p, end, &s) == 0 &&
        mbedtls_mpi_write_binary(&r, raw, 32) == 0 &&
        mbedtls_mpi_write_binary(&s, raw + 32, 32) == 0) {
        *rawlen = 64;
        rc = AP_OK;
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    return rc;
}

#ifdef BENCH_OPENSSL
static ap_err
sign_openssl(struct bkey *key, const void *msg, size_t len,
             unsigned char *sig, size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[600];
    size_t derlen = sizeof(der);
    ap_err rc = AP_ECRYPTO;

    if (ctx == NULL) {
        return AP_ENOMEM;
    }
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key->evp) != 1 ||
        EVP_DigestSign(ctx, der, &derlen, msg, len) != 1) {
        goto out;
    }
    if (key->type == BKEY_ES256) {
        rc = ecdsa_der_to_raw(der, derlen, sig, siglen);
    } else if (derlen <= *siglen) {
        memcpy(sig, der, derlen);
        *siglen = derlen;
        rc = AP_OK;
    }
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}
#endif

static ap_err
sign_mbedtls(struct bkey *key, const void *msg, size_t len,
             unsigned char *sig, size_t *siglen)
{
    unsigned char hash[CRYPTO_SHA256_LEN];
    unsigned char out[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t outlen = 0;
    int mret;

    crypto_sha256(msg, len, hash);
    pthread_mutex_lock(&key->lock);
    mret = mbedtls_pk_sign(&key->pk, MBEDTLS_MD_SHA256, hash, sizeof(hash),
                           out, &outlen, crypto_rng, NULL);
    pthread_mutex_unlock(&key->lock);
    if (mret != 0) {
        return AP_ECRYPTO;
    }
    if (key->type == BKEY_ES256) {
        return ecdsa_der_to_raw(out, outlen, sig, siglen);
    }
    if (outlen > *siglen) {
        return AP_ETOOBIG;
    }
    memcpy(sig, out, outlen);
    *siglen = outlen;
    return AP_OK;
}

ap_err
bkey_sign(struct bkey *key, const void *msg, size_t len, unsigned char *sig,
          size_t *siglen)
{
#ifdef BENCH_OPENSSL
    return sign_openssl(key, msg, len, sig, siglen);
#else
    return sign_mbedtls(key, msg, len, sig, siglen);
#endif
}

ap_err
bkey_csr(struct bkey *key, const char *const *names, size_t n,
         unsigned char **der, size_t *len)
{
    mbedtls_x509write_csr req;
    unsigned char san[2048];
    unsigned char *p = san + sizeof(san);
    unsigned char buf[BKEY_DER_MAX];
    char subject[128];
    size_t sanlen = 0;
    ap_err rc = AP_ECRYPTO;
    int ret;

    mbedtls_x509write_csr_init(&req);
    for (size_t i = n; i-- > 0;) {
        size_t l = strlen(names[i]);
        int w = 0;
        int r;

        r = mbedtls_asn1_write_raw_buffer(&p, san,
                                          (const unsigned char *)names[i], l);
        w += r;
        if (r >= 0) {
            r = mbedtls_asn1_write_len(&p, san, l);
            w += r;
        }
        if (r >= 0) {
            r = mbedtls_asn1_write_tag(&p, san,
                                       MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2);
            w += r;
        }
        if (r < 0) {
            goto out;
        }
        sanlen += (size_t)w;
    }
    ret = mbedtls_asn1_write_len(&p, san, sanlen);
    if (ret < 0) {
        goto out;
    }
    sanlen += (size_t)ret;
    ret = mbedtls_asn1_write_tag(&p, san, MBEDTLS_ASN1_CONSTRUCTED |
                                              MBEDTLS_ASN1_SEQUENCE);
    if (ret < 0) {
        goto out;
    }
    sanlen += (size_t)ret;
    ret = snprintf(subject, sizeof(subject), "CN=%s", n > 0 ? names[0] : "");
    if (ret < 0 || (size_t)ret >= sizeof(subject)) {
        rc = AP_EINVAL;
        goto out;
    }
    mbedtls_x509write_csr_set_md_alg(&req, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&req, &key->pk);
    if (mbedtls_x509write_csr_set_subject_name(&req, subject) != 0 ||
        mbedtls_x509write_csr_set_extension(
            &req, MBEDTLS_OID_SUBJECT_ALT_NAME,
            MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), p, sanlen) != 0) {
        goto out;
    }
    pthread_mutex_lock(&key->lock);
    ret = mbedtls_x509write_csr_der(&req, buf, sizeof(buf), crypto_rng, NULL);
    pthread_mutex_unlock(&key->lock);
    if (ret <= 0) {
        goto out;
    }
    *der = malloc((size_t)ret);
    if (*der == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(*der, buf + sizeof(buf) - ret, (size_t)ret);
    *len = (size_t)ret;
    rc = AP_OK;
out:
    mbedtls_x509write_csr_free(&req);
    return rc;
}

ap_err
bkey_pubkey_der(const struct bkey *key, unsigned char *out, size_t outlen,
                size_t *len)
{
    unsigned char buf[BKEY_DER_MAX];
    int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)
                                            &key->pk,
                                        buf, sizeof(buf));

    if (n <= 0 || (size_t)n > outlen) {
        return AP_ECRYPTO;
    }
    memcpy(out, buf + sizeof(buf) - n, (size_t)n);
    *len = (size_t)n;
    return AP_OK;
}

ap_err
bkey_cert_matches(const struct bkey *key, const char *pem)
{
    mbedtls_x509_crt crt;
    unsigned char want[BKEY_DER_MAX];
    unsigned char got[BKEY_DER_MAX];
    size_t wantlen = 0;
    int n;
    ap_err rc = AP_EPARSE;

    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem,
                               strlen(pem) + 1) < 0 ||
        crt.raw.len == 0) {
        goto out;
    }
    rc = bkey_pubkey_der(key, want, sizeof(want), &wantlen);
    if (rc != AP_OK) {
        goto out;
    }
    n = mbedtls_pk_write_pubkey_der(&crt.pk, got, sizeof(got));
    rc = n > 0 && (size_t)n == wantlen &&
                 memcmp(got + sizeof(got) - n, want, wantlen) == 0
             ? AP_OK
             : AP_ECRYPTO;
out:
    mbedtls_x509_crt_free(&crt);
    return rc;
}

ap_err
bkey_cert_der(const char *pem, unsigned char **der, size_t *len)
{
    return crypto_pem_cert_to_der(pem, der, len);
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
row(const char *what, const char *backend, double us)
{
    printf("%-44s %-8s %10.1f\n", what, backend, us);
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
    printf("%-44s %-8s %10s\n", "operation (per call)", "backend", "us");
    for (int t = 0; t < BKEY__MAX; t++) {
        struct bkey *k = NULL;
        struct crypto_key *ck = NULL;
        cJSON *jwk = NULL;
        unsigned char sig[600];
        size_t siglen = sizeof(sig);
        char errbuf[128];
        char thumb[64];
        char what[96];
        unsigned char *csr = NULL;
        size_t csrlen = 0;
        const char *names[] = { "www.example.test" };
        double t0;

        if (bkey_generate((enum bkey_type)t, &k) != AP_OK ||
            sign_mbedtls(k, msg, strlen(msg), sig, &siglen) != AP_OK ||
            (jwk = bkey_jwk(k)) == NULL ||
            crypto_jwk_parse(jwk, &ck, errbuf, sizeof(errbuf)) != AP_OK) {
            printf("%s: key setup failed\n", t == BKEY_ES256 ? "ES256"
                                                            : "RS256");
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
        snprintf(what, sizeof(what), "%s crypto_jwk_parse (account key)",
                 bkey_alg(k));
        row(what, "mbedtls", (now_us() - t0) / iterations);
        t0 = now_us();
        for (unsigned i = 0; i < iterations; i++) {
            if (crypto_key_thumbprint(ck, thumb, sizeof(thumb)) != AP_OK) {
                puts("thumbprint failed");
            }
        }
        snprintf(what, sizeof(what), "%s crypto_key_thumbprint", bkey_alg(k));
        row(what, "mbedtls", (now_us() - t0) / iterations);
        t0 = now_us();
        for (unsigned i = 0; i < iterations; i++) {
            if (crypto_verify(ck, algs[t], msg, strlen(msg), sig, siglen) !=
                AP_OK) {
                puts("verify failed");
            }
        }
        snprintf(what, sizeof(what), "%s crypto_verify (JWS)", bkey_alg(k));
        row(what, "mbedtls", (now_us() - t0) / iterations);
        if (t == BKEY_ES256) {
            /* What a per-thread cache of the loaded group would save:
             * crypto_verify loads a fresh group (and its table of
             * multiples of G) for every call. */
            unsigned char hash[CRYPTO_SHA256_LEN];
            mbedtls_ecp_group grp;
            mbedtls_mpi r;
            mbedtls_mpi s;

            crypto_sha256(msg, strlen(msg), hash);
            mbedtls_ecp_group_init(&grp);
            mbedtls_mpi_init(&r);
            mbedtls_mpi_init(&s);
            if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
                mbedtls_mpi_read_binary(&r, sig, 32) == 0 &&
                mbedtls_mpi_read_binary(&s, sig + 32, 32) == 0) {
                t0 = now_us();
                for (unsigned i = 0; i < iterations; i++) {
                    if (mbedtls_ecdsa_verify(&grp, hash, sizeof(hash),
                                             &mbedtls_pk_ec(k->pk)->Q, &r,
                                             &s) != 0) {
                        puts("verify (cached group) failed");
                    }
                }
                row("ES256 ecdsa_verify, group kept (cache)",
                    "mbedtls", (now_us() - t0) / iterations);
            }
            mbedtls_mpi_free(&r);
            mbedtls_mpi_free(&s);
            mbedtls_ecp_group_free(&grp);
        }
        t0 = now_us();
        for (unsigned i = 0; i < iterations; i++) {
            siglen = sizeof(sig);
            if (sign_mbedtls(k, msg, strlen(msg), sig, &siglen) != AP_OK) {
                puts("sign failed");
            }
        }
        snprintf(what, sizeof(what), "%s sign (client side)", bkey_alg(k));
        row(what, "mbedtls", (now_us() - t0) / iterations);
        if (bkey_csr(k, names, 1, &csr, &csrlen) == AP_OK) {
            t0 = now_us();
            for (unsigned i = 0; i < iterations; i++) {
                struct crypto_csr *c = NULL;

                if (crypto_csr_parse(csr, csrlen, &c, errbuf,
                                     sizeof(errbuf)) != AP_OK) {
                    puts("csr parse failed");
                }
                crypto_csr_free(c);
            }
            snprintf(what, sizeof(what),
                     "%s key: crypto_csr_parse (verifies CSR)", bkey_alg(k));
            row(what, "mbedtls", (now_us() - t0) / iterations);
            free(csr);
        }
#ifdef BENCH_OPENSSL
        {
            unsigned char pub[BKEY_DER_MAX];
            size_t publen = 0;
            const unsigned char *pp;
            EVP_PKEY *pk;
            unsigned char der[600];
            size_t derlen = sizeof(der);
            EVP_MD_CTX *ctx = EVP_MD_CTX_new();

            if (bkey_pubkey_der(k, pub, sizeof(pub), &publen) == AP_OK &&
                EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->evp) ==
                    1 &&
                EVP_DigestSign(ctx, der, &derlen,
                               (const unsigned char *)msg, strlen(msg)) ==
                    1) {
                t0 = now_us();
                for (unsigned i = 0; i < iterations; i++) {
                    pp = pub;
                    pk = d2i_PUBKEY(NULL, &pp, (long)publen);
                    EVP_PKEY_free(pk);
                }
                snprintf(what, sizeof(what), "%s parse public key (SPKI)",
                         bkey_alg(k));
                row(what, "openssl", (now_us() - t0) / iterations);
                pp = pub;
                pk = d2i_PUBKEY(NULL, &pp, (long)publen);
                t0 = now_us();
                for (unsigned i = 0; i < iterations; i++) {
                    EVP_MD_CTX *v = EVP_MD_CTX_new();

                    if (EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL,
                                             pk) != 1 ||
                        EVP_DigestVerify(v, der, derlen,
                                         (const unsigned char *)msg,
                                         strlen(msg)) != 1) {
                        puts("openssl verify failed");
                    }
                    EVP_MD_CTX_free(v);
                }
                snprintf(what, sizeof(what), "%s verify (JWS)", bkey_alg(k));
                row(what, "openssl", (now_us() - t0) / iterations);
                if (t == BKEY_ES256) {
                    unsigned char hash[CRYPTO_SHA256_LEN];
                    unsigned char pt[65];
                    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(k->pk);
                    OSSL_PARAM prm[3];

                    crypto_sha256(msg, strlen(msg), hash);
                    pt[0] = 4;
                    (void)mbedtls_mpi_write_binary(&ec->Q.X, pt + 1, 32);
                    (void)mbedtls_mpi_write_binary(&ec->Q.Y, pt + 33, 32);
                    prm[0] = OSSL_PARAM_construct_utf8_string(
                        "group", (char *)(uintptr_t) "prime256v1", 0);
                    prm[1] = OSSL_PARAM_construct_octet_string("pub", pt,
                                                               sizeof(pt));
                    prm[2] = OSSL_PARAM_construct_end();
                    t0 = now_us();
                    for (unsigned i = 0; i < iterations; i++) {
                        EVP_PKEY_CTX *kc =
                            EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
                        EVP_PKEY *tmp = NULL;

                        if (kc == NULL || EVP_PKEY_fromdata_init(kc) != 1 ||
                            EVP_PKEY_fromdata(kc, &tmp, EVP_PKEY_PUBLIC_KEY,
                                              prm) != 1) {
                            puts("openssl fromdata failed");
                        }
                        EVP_PKEY_free(tmp);
                        EVP_PKEY_CTX_free(kc);
                    }
                    row("ES256 key from JWK x,y (EVP_PKEY_fromdata)",
                        "openssl", (now_us() - t0) / iterations);
                    t0 = now_us();
                    for (unsigned i = 0; i < iterations; i++) {
                        EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new(pk, NULL);

                        if (vc == NULL || EVP_PKEY_verify_init(vc) != 1 ||
                            EVP_PKEY_verify(vc, der, derlen, hash,
                                            sizeof(hash)) != 1) {
                            puts("openssl prehashed verify failed");
                        }
                        EVP_PKEY_CTX_free(vc);
                    }
                    row("ES256 EVP_PKEY_verify, key kept (cache)", "openssl",
                        (now_us() - t0) / iterations);
                }
                EVP_PKEY_free(pk);
                t0 = now_us();
                for (unsigned i = 0; i < iterations; i++) {
                    siglen = sizeof(sig);
                    if (sign_openssl(k, msg, strlen(msg), sig, &siglen) !=
                        AP_OK) {
                        puts("openssl sign failed");
                    }
                }
                snprintf(what, sizeof(what), "%s sign (client side)",
                         bkey_alg(k));
                row(what, "openssl", (now_us() - t0) / iterations);
            }
            EVP_MD_CTX_free(ctx);
        }
#endif
        crypto_key_free(ck);
        cJSON_Delete(jwk);
        bkey_free(k);
    }
}
