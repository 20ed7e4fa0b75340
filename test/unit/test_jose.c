/* test/unit/test_jose.c: common/jose.c, the ES256 compact JWS the proxy
 * signs for step-ca.
 *
 * Keys are made here with OpenSSL's libcrypto and written in each format
 * jose_key_parse accepts (SEC1 PEM, PKCS#8 PEM, private JWK); every
 * signature is checked by this file with EVP_DigestVerify against the
 * public key, independently of jose.c, and the public JWK against the
 * key's own coordinates. Every table row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/b64url.h"
#include "common/jose.h"

/* ---- keys and checks ----------------------------------------------- */

enum key_form { KF_SEC1, KF_PKCS8, KF_JWK, KF_JWK_SPACES };

static char *
bio_text(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)n + 1);

    assert_non_null(out);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    return out;
}

/* base64url of a BIGNUM padded to len bytes (caller frees). */
static char *
bn_b64(const BIGNUM *v, size_t len)
{
    unsigned char raw[72];

    assert_true(len <= sizeof(raw));
    assert_int_equal(BN_bn2binpad(v, raw, (int)len), (int)len);
    return b64url_encode_alloc(raw, len);
}

static char *
coord(EVP_PKEY *k, const char *name)
{
    BIGNUM *v = NULL;
    char *out;

    assert_int_equal(EVP_PKEY_get_bn_param(k, name, &v), 1);
    out = bn_b64(v, 32);
    BN_free(v);
    return out;
}

/* The private key k as text in form (caller frees). */
static char *
key_text(EVP_PKEY *k, enum key_form form)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out;

    assert_non_null(bio);
    if (form == KF_SEC1) {
        assert_int_equal(PEM_write_bio_PrivateKey_traditional(
                             bio, k, NULL, NULL, 0, NULL, NULL),
                         1);
    } else if (form == KF_PKCS8) {
        assert_int_equal(
            PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
    } else {
        BIGNUM *d = NULL;
        char *x = coord(k, OSSL_PKEY_PARAM_EC_PUB_X);
        char *y = coord(k, OSSL_PKEY_PARAM_EC_PUB_Y);
        char *db;

        assert_int_equal(
            EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
        db = bn_b64(d, 32);
        BIO_printf(bio,
                   "%s{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
                   "\"y\":\"%s\",\"d\":\"%s\",\"kid\":\"k1\"}\n",
                   form == KF_JWK_SPACES ? " \n\t" : "", x, y, db);
        BN_clear_free(d);
        free(x);
        free(y);
        free(db);
    }
    out = bio_text(bio);
    BIO_free(bio);
    return out;
}

/* Decodes one base64url part of a compact JWS (caller frees). */
static char *
part(const char *start, size_t len)
{
    unsigned char *raw = NULL;
    size_t n = 0;
    char *out;

    assert_int_equal(b64url_decode_alloc(start, len, &raw, &n), AP_OK);
    out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, raw, n);
    out[n] = '\0';
    free(raw);
    return out;
}

/* jws must be header.payload.signature with the ES256 header (kid as
 * given), the claims as payload and an R||S signature that verifies
 * against pub. */
static void
check_jws(const char *jws, EVP_PKEY *pub, const char *kid,
          const char *claims_json)
{
    const char *d1 = strchr(jws, '.');
    const char *d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
    unsigned char *sig = NULL;
    unsigned char *der = NULL;
    size_t siglen = 0;
    ECDSA_SIG *es;
    EVP_MD_CTX *md;
    char *hdr;
    char *pay;
    char want[128];
    int dlen;

    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    hdr = part(jws, (size_t)(d1 - jws));
    pay = part(d1 + 1, (size_t)(d2 - d1 - 1));
    if (kid != NULL) {
        snprintf(want, sizeof(want),
                 "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
    } else {
        snprintf(want, sizeof(want), "{\"alg\":\"ES256\",\"typ\":\"JWT\"}");
    }
    assert_string_equal(hdr, want);
    assert_string_equal(pay, claims_json);
    assert_int_equal(b64url_decode_alloc(d2 + 1, strlen(d2 + 1), &sig,
                                         &siglen),
                     AP_OK);
    assert_int_equal(siglen, 64);
    es = ECDSA_SIG_new();
    assert_non_null(es);
    assert_int_equal(ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL),
                                    BN_bin2bn(sig + 32, 32, NULL)),
                     1);
    dlen = i2d_ECDSA_SIG(es, &der);
    assert_true(dlen > 0);
    md = EVP_MD_CTX_new();
    assert_non_null(md);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub),
                     1);
    assert_int_equal(EVP_DigestVerify(md, der, (size_t)dlen,
                                      (const unsigned char *)jws,
                                      (size_t)(d2 - jws)),
                     1);
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    free(sig);
    free(hdr);
    free(pay);
}

/* ---- good keys ----------------------------------------------------- */

struct good_row {
    const char *name;
    enum key_form form;
    const char *kid;
};

static const struct good_row good_rows[] = {
    { "SEC1 PEM (EC PRIVATE KEY)", KF_SEC1, "mock-kid" },
    { "PKCS#8 PEM (PRIVATE KEY)", KF_PKCS8, "kid-2" },
    { "private JWK with d", KF_JWK, "k" },
    { "private JWK after white space, no kid in the header", KF_JWK_SPACES,
      NULL },
};

static void
test_good(void **state)
{
    const struct good_row *row = *state;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    struct jose_key *key = NULL;
    char errbuf[128] = "";
    char *text;
    char *jws = NULL;
    char *x;
    char *y;
    cJSON *claims;
    cJSON *jwk;
    char *cj;

    assert_non_null(k);
    text = key_text(k, row->form);
    assert_int_equal(jose_key_parse(text, &key, errbuf, sizeof(errbuf)),
                     AP_OK);
    /* The public JWK: the key's own coordinates, nothing private. */
    jwk = jose_key_public_jwk(key);
    assert_non_null(jwk);
    x = coord(k, OSSL_PKEY_PARAM_EC_PUB_X);
    y = coord(k, OSSL_PKEY_PARAM_EC_PUB_Y);
    assert_string_equal(cJSON_GetObjectItem(jwk, "kty")->valuestring, "EC");
    assert_string_equal(cJSON_GetObjectItem(jwk, "crv")->valuestring,
                        "P-256");
    assert_string_equal(cJSON_GetObjectItem(jwk, "x")->valuestring, x);
    assert_string_equal(cJSON_GetObjectItem(jwk, "y")->valuestring, y);
    assert_null(cJSON_GetObjectItem(jwk, "d"));
    cJSON_Delete(jwk);
    /* Two signatures: both verify (ECDSA is randomised). */
    claims = cJSON_Parse("{\"aud\":\"https://ca/1.0/sign\",\"sub\":\"a\","
                         "\"sans\":[\"a\",\"b\"]}");
    assert_non_null(claims);
    cj = cJSON_PrintUnformatted(claims);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(jose_sign(key, row->kid, claims, &jws), AP_OK);
        check_jws(jws, k, row->kid, cj);
        free(jws);
    }
    cJSON_free(cj);
    cJSON_Delete(claims);
    jose_key_free(key);
    jose_key_free(NULL);
    free(x);
    free(y);
    free(text);
    EVP_PKEY_free(k);
}

/* ---- refused keys -------------------------------------------------- */

enum bad_kind {
    BK_TEXT,        /* the row's text */
    BK_RSA,         /* an RSA key, PEM */
    BK_P384,        /* an EC P-384 key, PEM */
    BK_ENCRYPTED,   /* an encrypted PKCS#8 P-256 key */
    BK_D_ZERO,      /* JWK d = 0 */
    BK_D_ORDER,     /* JWK d = n, the group order */
    BK_D_MAX,       /* JWK d = 2^256 - 1 */
};

struct bad_row {
    const char *name;
    enum bad_kind kind;
    const char *text;
};

static const struct bad_row bad_rows[] = {
    { "refused: RSA key", BK_RSA, NULL },
    { "refused: P-384 key", BK_P384, NULL },
    { "refused: encrypted key (no passphrase prompt)", BK_ENCRYPTED, NULL },
    { "refused: JWK d = 0", BK_D_ZERO, NULL },
    { "refused: JWK d = n", BK_D_ORDER, NULL },
    { "refused: JWK d = 2^256-1", BK_D_MAX, NULL },
    { "refused: JWK without d", BK_TEXT,
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}" },
    { "refused: JWK P-384", BK_TEXT,
      "{\"kty\":\"EC\",\"crv\":\"P-384\",\"d\":"
      "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}" },
    { "refused: JWK kty RSA", BK_TEXT,
      "{\"kty\":\"RSA\",\"crv\":\"P-256\",\"d\":"
      "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}" },
    { "refused: JWK d of 31 bytes", BK_TEXT,
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":"
      "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQ\"}" },
    { "refused: JWK d not base64url", BK_TEXT,
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":"
      "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/\"}" },
    { "refused: JWK not JSON", BK_TEXT, "{\"kty\":" },
    { "refused: a certificate", BK_TEXT,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" },
    { "refused: garbage PEM", BK_TEXT,
      "-----BEGIN EC PRIVATE KEY-----\nZ2FyYmFnZQ==\n"
      "-----END EC PRIVATE KEY-----\n" },
    { "refused: empty", BK_TEXT, "" },
};

static char *
jwk_with_d(const BIGNUM *d)
{
    char *db = bn_b64(d, 32);
    char *out = NULL;

    assert_true(asprintf(&out, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":"
                               "\"%s\"}",
                         db) > 0);
    free(db);
    return out;
}

static char *
bad_text(const struct bad_row *row)
{
    EVP_PKEY *k = NULL;
    BIGNUM *d = BN_new();
    BIO *bio = BIO_new(BIO_s_mem());
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    char *out = NULL;

    assert_non_null(d);
    assert_non_null(bio);
    assert_non_null(g);
    switch (row->kind) {
    case BK_TEXT:
        out = strdup(row->text);
        break;
    case BK_RSA:
        k = EVP_RSA_gen(2048);
        break;
    case BK_P384:
        k = EVP_EC_gen("P-384");
        break;
    case BK_ENCRYPTED:
        k = EVP_EC_gen("P-256");
        assert_int_equal(PEM_write_bio_PKCS8PrivateKey(
                             bio, k, EVP_aes_128_cbc(), "secret", 6, NULL,
                             NULL),
                         1);
        out = bio_text(bio);
        break;
    case BK_D_ZERO:
        BN_zero(d);
        out = jwk_with_d(d);
        break;
    case BK_D_ORDER:
        assert_non_null(BN_copy(d, EC_GROUP_get0_order(g)));
        out = jwk_with_d(d);
        break;
    case BK_D_MAX:
        assert_int_equal(BN_set_bit(d, 256), 1);
        assert_int_equal(BN_sub_word(d, 1), 1);
        out = jwk_with_d(d);
        break;
    }
    if (out == NULL) {
        assert_non_null(k);
        assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0,
                                                  NULL, NULL),
                         1);
        out = bio_text(bio);
    }
    EVP_PKEY_free(k);
    BN_free(d);
    BIO_free(bio);
    EC_GROUP_free(g);
    assert_non_null(out);
    return out;
}

static void
test_bad(void **state)
{
    const struct bad_row *row = *state;
    struct jose_key *key = NULL;
    char errbuf[128] = "";
    char *text = bad_text(row);

    assert_int_equal(jose_key_parse(text, &key, errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    assert_null(key);
    assert_non_null(strstr(errbuf, "not an EC P-256 private key"));
    free(text);
}

/* ---- files --------------------------------------------------------- */

static void
test_load(void **state)
{
    char path[] = "/tmp/test_jose.XXXXXX";
    EVP_PKEY *k = EVP_EC_gen("P-256");
    struct jose_key *key = NULL;
    char errbuf[256] = "";
    char *text = key_text(k, KF_SEC1);
    int fd = mkstemp(path);
    FILE *f;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    /* empty file */
    assert_int_equal(jose_key_load(path, &key, errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    assert_non_null(strstr(errbuf, "empty"));
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(jose_key_load(path, &key, errbuf, sizeof(errbuf)),
                     AP_OK);
    jose_key_free(key);
    key = NULL;
    assert_int_equal(unlink(path), 0);
    assert_int_equal(jose_key_load(path, &key, errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    assert_non_null(strstr(errbuf, "cannot open"));
    /* the message never carries key bytes */
    assert_null(strstr(errbuf, "PRIVATE"));
    free(text);
    EVP_PKEY_free(k);
}

/* ---- one key, four threads ----------------------------------------- */

#define THREADS 4
#define PER_THREAD 25

struct worker {
    struct jose_key *key;
    EVP_PKEY *pub;
    cJSON *claims;
    char *claims_json;
    char *jws[PER_THREAD];
    int failures;
};

static void *
worker_run(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < PER_THREAD; i++) {
        if (jose_sign(w->key, "t", w->claims, &w->jws[i]) != AP_OK) {
            w->failures++;
            w->jws[i] = NULL;
        }
    }
    return NULL;
}

static void
test_threads(void **state)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    char *text = key_text(k, KF_PKCS8);
    struct jose_key *key = NULL;
    struct worker w[THREADS];
    pthread_t tid[THREADS];
    cJSON *claims = cJSON_Parse("{\"n\":1}");
    char *cj = cJSON_PrintUnformatted(claims);
    char errbuf[128];

    (void)state;
    assert_int_equal(jose_key_parse(text, &key, errbuf, sizeof(errbuf)),
                     AP_OK);
    memset(w, 0, sizeof(w));
    for (int i = 0; i < THREADS; i++) {
        w[i].key = key;
        w[i].claims = claims;
        assert_int_equal(pthread_create(&tid[i], NULL, worker_run, &w[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
        for (int j = 0; j < PER_THREAD; j++) {
            check_jws(w[i].jws[j], k, "t", cj);
            free(w[i].jws[j]);
        }
    }
    jose_key_free(key);
    cJSON_free(cj);
    cJSON_Delete(claims);
    free(text);
    EVP_PKEY_free(k);
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    ADD_ROWS(&l, good_rows, test_good);
    ADD_ROWS(&l, bad_rows, test_bad);
    add_test(&l, "load from a file", test_load, NULL);
    add_test(&l, "one key, four threads", test_threads, NULL);
    failed = _cmocka_run_group_tests("jose", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
