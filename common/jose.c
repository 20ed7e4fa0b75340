/* common/jose.c: ES256 compact JWS with OpenSSL's libcrypto (EVP keys,
 * EVP_DigestSign, ECDSA_SIG to turn the DER signature into R||S). */
#include "common/jose.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "common/b64url.h"
#include "common/fileio.h"
#include "common/json.h"

#define JOSE_MAX_KEY_FILE 16384
#define JOSE_FIELD 32 /* bytes of a P-256 coordinate */
#define JOSE_MAX_SIG 80 /* a DER ECDSA-P256 signature is at most 72 */

/* OpenSSL only reads the key while signing (every call has its own
 * EVP_MD_CTX), so one key serves every thread without a lock. */
struct jose_key {
    EVP_PKEY *pkey; /* EC P-256 key pair */
};

/* True when pkey is an EC key on P-256. */
static bool
is_p256(const EVP_PKEY *pkey)
{
    char group[32];
    size_t len = 0;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                       group, sizeof(group), &len) != 1) {
        return false;
    }
    return strcmp(group, SN_X9_62_prime256v1) == 0;
}

/* The key pair of a P-256 private scalar d (32 bytes): the public point
 * is d*G. d must be in [1, n-1]. */
static EVP_PKEY *
key_from_scalar(const unsigned char *raw, size_t len)
{
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pkey = NULL;
    EC_POINT *pub = NULL;
    BIGNUM *d = BN_secure_new();
    unsigned char pt[1 + 2 * JOSE_FIELD];

    if (group == NULL || bld == NULL || ctx == NULL || d == NULL ||
        BN_bin2bn(raw, (int)len, d) == NULL || BN_is_zero(d) ||
        BN_cmp(d, EC_GROUP_get0_order(group)) >= 0) {
        goto out;
    }
    pub = EC_POINT_new(group);
    if (pub == NULL || EC_POINT_mul(group, pub, d, NULL, NULL, NULL) != 1 ||
        EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, pt,
                           sizeof(pt), NULL) != sizeof(pt)) {
        goto out;
    }
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                        SN_X9_62_prime256v1, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                         sizeof(pt)) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1) {
        goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    OSSL_PARAM_free(params); /* holds a copy of d: cleared on free */
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    EC_POINT_free(pub);
    EC_GROUP_free(group);
    BN_clear_free(d);
    return pkey;
}

static ap_err
key_from_jwk(const char *text, EVP_PKEY **out)
{
    cJSON *jwk = NULL;
    const char *d = NULL;
    const char *kty = NULL;
    const char *crv = NULL;
    unsigned char raw[JOSE_FIELD + 4];
    size_t n = 0;
    ap_err rc = AP_EPARSE;

    if (json_parse(text, strlen(text), &jwk) != AP_OK ||
        json_get_string(jwk, "kty", 8, &kty) != AP_OK ||
        json_get_string(jwk, "crv", 8, &crv) != AP_OK ||
        json_get_string(jwk, "d", 64, &d) != AP_OK ||
        strcmp(kty, "EC") != 0 || strcmp(crv, "P-256") != 0 ||
        b64url_decode(d, strlen(d), raw, sizeof(raw), &n) != AP_OK ||
        n != JOSE_FIELD) {
        goto out;
    }
    *out = key_from_scalar(raw, n);
    if (*out != NULL) {
        rc = AP_OK;
    }
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    if (jwk != NULL && d != NULL) {
        OPENSSL_cleanse((void *)(uintptr_t)d, strlen(d));
    }
    cJSON_Delete(jwk);
    return rc;
}

/* Never asks for a passphrase: an encrypted key is refused. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* A PEM private key, SEC1 ("EC PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"). */
static ap_err
key_from_pem(const char *text, EVP_PKEY **out)
{
    BIO *bio = BIO_new_mem_buf(text, -1);
    EVP_PKEY *pkey = NULL;

    if (bio == NULL) {
        return AP_ENOMEM;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (pkey == NULL || !is_p256(pkey)) {
        EVP_PKEY_free(pkey);
        return AP_EPARSE;
    }
    *out = pkey;
    return AP_OK;
}

ap_err
jose_key_parse(const char *text, struct jose_key **out, char *errbuf,
               size_t errlen)
{
    struct jose_key *key;
    const char *p = text;
    ap_err rc;

    key = calloc(1, sizeof(*key));
    if (key == NULL) {
        return AP_ENOMEM;
    }
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
        p++;
    }
    rc = *p == '{' ? key_from_jwk(p, &key->pkey)
                   : key_from_pem(p, &key->pkey);
    ERR_clear_error();
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen,
                       "not an EC P-256 private key (PEM or JWK with d)");
        jose_key_free(key);
        return rc == AP_ENOMEM ? rc : AP_ECONFIG;
    }
    *out = key;
    return AP_OK;
}

ap_err
jose_key_load(const char *path, struct jose_key **out, char *errbuf,
              size_t errlen)
{
    char *text = NULL;
    size_t n = 0;
    ap_err rc;

    rc = fileio_read(path, JOSE_MAX_KEY_FILE, FILEIO_SECRET, &text, &n,
                     errbuf, errlen);
    if (rc != AP_OK) {
        return rc == AP_ENOMEM ? rc : AP_ECONFIG;
    }
    if (n == 0) {
        (void)snprintf(errbuf, errlen, "%s is empty", path);
        rc = AP_ECONFIG;
    } else {
        rc = jose_key_parse(text, out, errbuf, errlen);
    }
    fileio_free(text, n, FILEIO_SECRET);
    return rc;
}

void
jose_key_free(struct jose_key *key)
{
    if (key == NULL) {
        return;
    }
    EVP_PKEY_free(key->pkey); /* clears the private scalar */
    free(key);
}

/* One affine coordinate as JOSE_FIELD bytes of base64url (caller frees). */
static char *
coord_b64(const EVP_PKEY *pkey, const char *name)
{
    unsigned char raw[JOSE_FIELD];
    BIGNUM *v = NULL;
    char *out = NULL;

    if (EVP_PKEY_get_bn_param(pkey, name, &v) == 1 &&
        BN_bn2binpad(v, raw, sizeof(raw)) == (int)sizeof(raw)) {
        out = b64url_encode_alloc(raw, sizeof(raw));
    }
    BN_free(v);
    return out;
}

cJSON *
jose_key_public_jwk(struct jose_key *key)
{
    char *x = coord_b64(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X);
    char *y = coord_b64(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y);
    cJSON *jwk = cJSON_CreateObject();

    ERR_clear_error();
    if (x == NULL || y == NULL || jwk == NULL ||
        cJSON_AddStringToObject(jwk, "kty", "EC") == NULL ||
        cJSON_AddStringToObject(jwk, "crv", "P-256") == NULL ||
        cJSON_AddStringToObject(jwk, "x", x) == NULL ||
        cJSON_AddStringToObject(jwk, "y", y) == NULL) {
        cJSON_Delete(jwk);
        jwk = NULL;
    }
    free(x);
    free(y);
    return jwk;
}

/* ECDSA P-256 over SHA-256 of input, as the raw R||S of RFC 7518 §3.4. */
static ap_err
sign_es256(EVP_PKEY *pkey, const char *input, size_t len,
           unsigned char sig[2 * JOSE_FIELD])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[JOSE_MAX_SIG];
    const unsigned char *p = der;
    size_t dlen = sizeof(der);
    ECDSA_SIG *es = NULL;
    const BIGNUM *r;
    const BIGNUM *s;
    ap_err rc = AP_ECRYPTO;

    if (md == NULL) {
        return AP_ENOMEM;
    }
    if (EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, pkey, NULL) !=
            1 ||
        EVP_DigestSign(md, der, &dlen, (const unsigned char *)input, len) !=
            1) {
        goto out;
    }
    es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (es == NULL) {
        goto out;
    }
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, sig, JOSE_FIELD) != JOSE_FIELD ||
        BN_bn2binpad(s, sig + JOSE_FIELD, JOSE_FIELD) != JOSE_FIELD) {
        goto out;
    }
    rc = AP_OK;
out:
    ERR_clear_error();
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return rc;
}

ap_err
jose_sign(struct jose_key *key, const char *kid, const cJSON *claims,
          char **out)
{
    cJSON *hdr = NULL;
    char *hjson = NULL;
    char *pjson = NULL;
    char *h64 = NULL;
    char *p64 = NULL;
    char *s64 = NULL;
    char *input = NULL;
    char *jws = NULL;
    unsigned char sig[2 * JOSE_FIELD];
    size_t len;
    ap_err rc = AP_ENOMEM;

    hdr = cJSON_CreateObject();
    if (hdr == NULL || cJSON_AddStringToObject(hdr, "alg", "ES256") == NULL ||
        (kid != NULL && cJSON_AddStringToObject(hdr, "kid", kid) == NULL) ||
        cJSON_AddStringToObject(hdr, "typ", "JWT") == NULL) {
        goto out;
    }
    hjson = cJSON_PrintUnformatted(hdr);
    pjson = cJSON_PrintUnformatted(claims);
    if (hjson == NULL || pjson == NULL) {
        goto out;
    }
    h64 = b64url_encode_alloc(hjson, strlen(hjson));
    p64 = b64url_encode_alloc(pjson, strlen(pjson));
    if (h64 == NULL || p64 == NULL) {
        goto out;
    }
    len = strlen(h64) + 1 + strlen(p64);
    input = malloc(len + 1);
    if (input == NULL) {
        goto out;
    }
    (void)snprintf(input, len + 1, "%s.%s", h64, p64);
    rc = sign_es256(key->pkey, input, len, sig);
    if (rc != AP_OK) {
        goto out;
    }
    rc = AP_ENOMEM;
    s64 = b64url_encode_alloc(sig, sizeof(sig));
    if (s64 == NULL) {
        goto out;
    }
    jws = malloc(len + 2 + strlen(s64));
    if (jws == NULL) {
        goto out;
    }
    (void)snprintf(jws, len + 2 + strlen(s64), "%s.%s", input, s64);
    rc = AP_OK;
out:
    cJSON_Delete(hdr);
    cJSON_free(hjson);
    cJSON_free(pjson);
    free(h64);
    free(p64);
    free(s64);
    free(input);
    if (rc == AP_OK) {
        *out = jws;
    }
    return rc;
}
