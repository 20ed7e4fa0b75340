/* test/bench/bench_key.c: client keys, JWS signatures and CSRs for the
 * load generator (see bench_key.h), on OpenSSL libcrypto. */
#include "test/bench/bench_key.h"

#include <pthread.h>
#include <stdatomic.h>
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
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/jwk.h"
#include "common/x509.h"

#define BKEY_DER_MAX 4096
#define BKEY_SAN_MAX 4096
#define BKEY_POINT_LEN 65     /* uncompressed P-256 point: 04 || X || Y */
#define BKEY_SIGNERS 32       /* signing contexts kept per thread */

struct bkey {
    enum bkey_type type;
    uint64_t id;              /* unique in the process: the signer cache */
    EVP_PKEY *evp;            /* read-only once made: shared by threads */
    /* ES256: the public point, read once so that a CSR's public key and
     * a leaf's comparison need no OpenSSL encoder or decoder (0.2-0.3 ms
     * each in OpenSSL 3.0, most of the client's cost per CSR). */
    unsigned char point[BKEY_POINT_LEN];
};

/* Signing contexts of this thread, by key id: EVP_DigestSignInit_ex
 * fetches the algorithms and builds a context on every call (~6 % of the
 * client's CPU); a context initialized once per key and thread signs any
 * number of digests. Freed by bkey_thread_done. */
struct signer {
    uint64_t id;              /* 0: free slot */
    EVP_PKEY_CTX *ctx;
};
static _Thread_local struct signer signers[BKEY_SIGNERS];
static _Thread_local unsigned signers_next;

static atomic_uint_fast64_t next_key_id = 1;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;     /* fetched once, shared read-only */

static void
sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
bkey_thread_done(void)
{
    for (unsigned i = 0; i < BKEY_SIGNERS; i++) {
        EVP_PKEY_CTX_free(signers[i].ctx);
        signers[i].ctx = NULL;
        signers[i].id = 0;
    }
}

/* This thread's signing context for key (made on first use; the oldest
 * is dropped when all slots are taken); NULL on failure. */
static EVP_PKEY_CTX *
signer_of(const struct bkey *key)
{
    struct signer *sg;
    EVP_PKEY_CTX *ctx;

    for (unsigned i = 0; i < BKEY_SIGNERS; i++) {
        if (signers[i].id == key->id) {
            return signers[i].ctx;
        }
    }
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->evp, NULL);
    if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
        (key->type == BKEY_RS256 &&
         EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
        EVP_PKEY_CTX_set_signature_md(ctx, sha256_md) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    sg = &signers[signers_next++ % BKEY_SIGNERS];
    EVP_PKEY_CTX_free(sg->ctx);
    sg->id = key->id;
    sg->ctx = ctx;
    return ctx;
}

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
    k->id = atomic_fetch_add(&next_key_id, 1);
    k->evp = type == BKEY_ES256
                 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                 : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (k->evp == NULL) {
        ERR_clear_error();
        goto out;
    }
    if (type == BKEY_ES256) {
        size_t plen = 0;

        if (EVP_PKEY_get_octet_string_param(
                k->evp, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, k->point,
                sizeof(k->point), &plen) != 1 ||
            plen != sizeof(k->point) || k->point[0] != 0x04) {
            ERR_clear_error();
            goto out;
        }
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
    unsigned char md[32];
    unsigned int mdlen = 0;
    unsigned char der[600];
    size_t derlen = sizeof(der);
    const unsigned char *p = der;
    EVP_PKEY_CTX *ctx;
    ECDSA_SIG *es = NULL;
    ap_err rc = AP_ECRYPTO;

    if (pthread_once(&sha256_once, sha256_fetch) != 0 || sha256_md == NULL) {
        return AP_ECRYPTO;
    }
    /* SHA-256 of the signing input, then RSASSA-PKCS1-v1_5 or ECDSA over
     * the digest: what EVP_DigestSign does, without its set-up. */
    if (EVP_Digest(msg, len, md, &mdlen, sha256_md, NULL) != 1 ||
        mdlen != sizeof(md) || (ctx = signer_of(key)) == NULL ||
        EVP_PKEY_sign(ctx, der, &derlen, md, sizeof(md)) != 1) {
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
    return rc;
}

/* The request's SubjectPublicKeyInfo. ES256: id-ecPublicKey, prime256v1
 * and the point read at generation, set as the fields they are (what the
 * proxy's CA does for a leaf); X509_REQ_set_pubkey would encode the key
 * through OpenSSL 3.0's provider encoders and decode it back, ~0.3 ms. */
static ap_err
set_req_pubkey(X509_REQ *req, const struct bkey *key)
{
    X509_PUBKEY *xp = X509_REQ_get_X509_PUBKEY(req);
    unsigned char *bits;

    if (key->type != BKEY_ES256) {
        return X509_REQ_set_pubkey(req, key->evp) == 1 ? AP_OK : AP_ECRYPTO;
    }
    if (xp == NULL) {
        return AP_ECRYPTO;
    }
    bits = OPENSSL_memdup(key->point, sizeof(key->point));
    if (bits == NULL) {
        return AP_ENOMEM;
    }
    /* set0: the objects of OBJ_nid2obj are static; bits is taken. */
    if (X509_PUBKEY_set0_param(xp, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                               V_ASN1_OBJECT,
                               OBJ_nid2obj(NID_X9_62_prime256v1), bits,
                               (int)sizeof(key->point)) != 1) {
        OPENSSL_free(bits);
        return AP_ECRYPTO;
    }
    return AP_OK;
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
        set_req_pubkey(req, key) != AP_OK ||
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

/* ES256: parses the DER certificate with mbedTLS (which decodes its
 * key directly, ~0.02 ms, where OpenSSL 3.0's d2i_X509 builds a provider
 * decoder for it, ~0.2 ms) and compares its public key, as a point on
 * P-256, with key's. */
static ap_err
cert_der_matches_ec(const struct bkey *key, const unsigned char *der,
                    size_t len)
{
    mbedtls_x509_crt crt;
    const mbedtls_ecp_keypair *ec;
    unsigned char pt[BKEY_POINT_LEN];
    size_t ptlen = 0;
    ap_err rc = AP_EPARSE;

    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse_der(&crt, der, len) != 0) {
        goto out;
    }
    rc = AP_ECRYPTO;
    if (mbedtls_pk_get_type(&crt.pk) != MBEDTLS_PK_ECKEY) {
        goto out;
    }
    ec = mbedtls_pk_ec(crt.pk);
    if (ec == NULL || ec->grp.id != MBEDTLS_ECP_DP_SECP256R1 ||
        mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q,
                                       MBEDTLS_ECP_PF_UNCOMPRESSED, &ptlen,
                                       pt, sizeof(pt)) != 0 ||
        ptlen != sizeof(pt) || memcmp(pt, key->point, sizeof(pt)) != 0) {
        goto out;
    }
    rc = AP_OK;
out:
    mbedtls_x509_crt_free(&crt);
    return rc;
}

ap_err
bkey_cert_matches(const struct bkey *key, const char *pem)
{
    BIO *bio = NULL;
    X509 *crt = NULL;
    EVP_PKEY *pub;
    char *name = NULL;
    char *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    ap_err rc = AP_EPARSE;

    if (key->type != BKEY_ES256) {
        crt = first_cert(pem);
        pub = crt != NULL ? X509_get0_pubkey(crt) : NULL;
        if (pub != NULL) {
            rc = EVP_PKEY_eq(pub, key->evp) == 1 ? AP_OK : AP_ECRYPTO;
        }
        goto out;
    }
    /* The first PEM block, which must be a certificate (the leaf). */
    bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    if (PEM_read_bio(bio, &name, &header, &data, &len) != 1 ||
        strcmp(name, PEM_STRING_X509) != 0 || header[0] != '\0' ||
        len <= 0) {
        goto out;
    }
    rc = cert_der_matches_ec(key, data, (size_t)len);
out:
    ERR_clear_error();
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);
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

/* ---------------------------------------------------------- self-test */

/* A certificate for key's public key (self-signed by signer) in PEM;
 * NULL on failure. Slow path (X509_set_pubkey): tests only. */
static char *
test_cert_pem(const struct bkey *key, const struct bkey *signer)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    char *p = NULL;
    long n;

    if (x == NULL || name == NULL || bio == NULL ||
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *)"bench", -1, -1,
                                   0) != 1 ||
        X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, name) != 1 ||
        X509_set_version(x, X509_VERSION_3) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(x), 7) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL ||
        X509_set_pubkey(x, key->evp) != 1 ||
        X509_sign(x, signer->evp, EVP_sha256()) <= 0 ||
        PEM_write_bio_X509(bio, x) != 1 ||
        (n = BIO_get_mem_data(bio, &p)) <= 0) {
        goto out;
    }
    pem = malloc((size_t)n + 1);
    if (pem != NULL) {
        memcpy(pem, p, (size_t)n);
        pem[n] = '\0';
    }
out:
    ERR_clear_error();
    BIO_free(bio);
    X509_NAME_free(name);
    X509_free(x);
    return pem;
}

static unsigned
check(bool cond, const char *what)
{
    printf("%s - %s\n", cond ? "ok" : "not ok", what);
    return cond ? 0 : 1;
}

unsigned
bkey_self_test(void)
{
    static const char *const names[] = { "a.bench.test", "b.bench.test" };
    struct bkey *a = NULL;
    struct bkey *b = NULL;
    struct bkey *r = NULL;
    struct crypto_csr *c = NULL;
    unsigned char *csr = NULL;
    size_t csrlen = 0;
    unsigned char spki[BKEY_DER_MAX];
    size_t spkilen = 0;
    char *pem_a = NULL;
    char *pem_b = NULL;
    char *pem_r = NULL;
    char errbuf[128] = "";
    unsigned fails = 0;

    if (bkey_generate(BKEY_ES256, &a) != AP_OK ||
        bkey_generate(BKEY_ES256, &b) != AP_OK ||
        bkey_generate(BKEY_RS256, &r) != AP_OK) {
        return check(false, "keys generated");
    }
    /* JWS signatures verify with the proxy's own code, twice in a row
     * (the second from the thread's kept signing context). */
    for (int t = 0; t < BKEY__MAX; t++) {
        static const char msg[] = "eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ";
        struct bkey *k = t == BKEY_ES256 ? a : r;
        const enum crypto_alg alg = t == BKEY_ES256 ? CRYPTO_ALG_ES256
                                                   : CRYPTO_ALG_RS256;
        cJSON *jwk = bkey_jwk(k);
        struct crypto_key *ck = NULL;
        unsigned char sig[600];
        size_t siglen;
        bool good = jwk != NULL && crypto_jwk_parse(jwk, &ck, errbuf,
                                                    sizeof(errbuf)) == AP_OK;

        for (int i = 0; good && i < 2; i++) {
            siglen = sizeof(sig);
            good = bkey_sign(k, msg, strlen(msg), sig, &siglen) == AP_OK &&
                   crypto_verify(ck, alg, msg, strlen(msg), sig, siglen) ==
                       AP_OK;
        }
        fails += check(good, t == BKEY_ES256
                                 ? "ES256 JWS signatures verify (crypto_verify)"
                                 : "RS256 JWS signatures verify (crypto_verify)");
        siglen = sizeof(sig);
        fails += check(ck != NULL &&
                           bkey_sign(k, msg, strlen(msg), sig, &siglen) ==
                               AP_OK &&
                           crypto_verify(ck, alg, msg, strlen(msg) - 1, sig,
                                         siglen) != AP_OK,
                       "a signature does not verify for another message");
        crypto_key_free(ck);
        cJSON_Delete(jwk);
    }
    /* The CSR: the proxy's own parser verifies its signature and reads
     * the key and the names. */
    fails += check(bkey_csr(a, names, 2, &csr, &csrlen) == AP_OK,
                   "ES256 CSR made");
    fails += check(csr != NULL &&
                       crypto_csr_parse(csr, csrlen, &c, errbuf,
                                        sizeof(errbuf)) == AP_OK,
                   "the CSR parses and its signature verifies "
                   "(crypto_csr_parse)");
    fails += check(bkey_pubkey_der(a, spki, sizeof(spki), &spkilen) ==
                           AP_OK &&
                       c != NULL && c->pubkey_der_len == spkilen &&
                       memcmp(c->pubkey_der, spki, spkilen) == 0,
                   "the CSR carries the key's SubjectPublicKeyInfo "
                   "(i2d_PUBKEY)");
    fails += check(c != NULL && c->n_dns_names == 2 && c->cn != NULL &&
                       strcmp(c->cn, names[0]) == 0 &&
                       strcmp(c->dns_names[0], names[0]) == 0 &&
                       strcmp(c->dns_names[1], names[1]) == 0,
                   "the CSR asks for CN and both names");
    crypto_csr_free(c);
    c = NULL;
    free(csr);
    csr = NULL;
    fails += check(bkey_csr(r, names, 1, &csr, &csrlen) == AP_OK &&
                       crypto_csr_parse(csr, csrlen, &c, errbuf,
                                        sizeof(errbuf)) == AP_OK &&
                       c->key_type == CRYPTO_KEY_RSA,
                   "an RSA CSR parses too");
    /* The leaf check. */
    pem_a = test_cert_pem(a, b);
    pem_b = test_cert_pem(b, a);
    pem_r = test_cert_pem(r, a);
    fails += check(pem_a != NULL && pem_b != NULL && pem_r != NULL,
                   "test certificates made");
    fails += check(pem_a != NULL && bkey_cert_matches(a, pem_a) == AP_OK,
                   "a certificate for the key matches");
    fails += check(pem_b != NULL &&
                       bkey_cert_matches(a, pem_b) == AP_ECRYPTO,
                   "a certificate for another P-256 key does not");
    fails += check(pem_r != NULL &&
                       bkey_cert_matches(a, pem_r) == AP_ECRYPTO,
                   "a certificate for an RSA key does not");
    fails += check(pem_r != NULL && bkey_cert_matches(r, pem_r) == AP_OK &&
                       pem_a != NULL &&
                       bkey_cert_matches(r, pem_a) == AP_ECRYPTO,
                   "RSA keys: the same and another key");
    fails += check(bkey_cert_matches(a, "not a certificate") == AP_EPARSE &&
                       bkey_cert_matches(a,
                                         "-----BEGIN CERTIFICATE-----\n"
                                         "AAAA\n"
                                         "-----END CERTIFICATE-----\n") ==
                           AP_EPARSE,
                   "text that is no certificate is refused");
    printf("bkey self-test: %u failed\n", fails);
    crypto_csr_free(c);
    free(csr);
    free(pem_a);
    free(pem_b);
    free(pem_r);
    bkey_free(a);
    bkey_free(b);
    bkey_free(r);
    return fails;
}
