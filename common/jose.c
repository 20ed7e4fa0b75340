/* common/jose.c: ES256 compact JWS with mbedTLS 2.28 (pk, ecdsa). */
#include "common/jose.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/json.h"

#define JOSE_MAX_KEY_FILE 16384
#define JOSE_FIELD 32 /* bytes of a P-256 coordinate */

struct jose_key {
    pthread_mutex_t lock;
    mbedtls_ecp_keypair ec;
};

static ap_err
key_from_jwk(const char *text, mbedtls_ecp_keypair *ec)
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
    if (mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
        mbedtls_mpi_read_binary(&ec->d, raw, n) != 0 ||
        mbedtls_ecp_check_privkey(&ec->grp, &ec->d) != 0 ||
        mbedtls_ecp_mul(&ec->grp, &ec->Q, &ec->d, &ec->grp.G, crypto_rng,
                        NULL) != 0) {
        goto out;
    }
    rc = AP_OK;
out:
    mbedtls_platform_zeroize(raw, sizeof(raw));
    cJSON_Delete(jwk);
    return rc;
}

static ap_err
key_from_pem(const char *text, mbedtls_ecp_keypair *ec)
{
    mbedtls_pk_context pk;
    const mbedtls_ecp_keypair *src;
    ap_err rc = AP_EPARSE;

    mbedtls_pk_init(&pk);
    if (mbedtls_pk_parse_key(&pk, (const unsigned char *)text,
                             strlen(text) + 1, NULL, 0) != 0 ||
        mbedtls_pk_get_type(&pk) != MBEDTLS_PK_ECKEY) {
        goto out;
    }
    src = mbedtls_pk_ec(pk);
    if (src == NULL || src->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        goto out;
    }
    if (mbedtls_ecp_copy(&ec->Q, &src->Q) != 0 ||
        mbedtls_mpi_copy(&ec->d, &src->d) != 0 ||
        mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1) != 0) {
        goto out;
    }
    rc = AP_OK;
out:
    mbedtls_pk_free(&pk);
    return rc;
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
    mbedtls_ecp_keypair_init(&key->ec);
    pthread_mutex_init(&key->lock, NULL);
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
        p++;
    }
    rc = *p == '{' ? key_from_jwk(p, &key->ec) : key_from_pem(p, &key->ec);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen,
                       "not an EC P-256 private key (PEM or JWK with d)");
        jose_key_free(key);
        return AP_ECONFIG;
    }
    *out = key;
    return AP_OK;
}

ap_err
jose_key_load(const char *path, struct jose_key **out, char *errbuf,
              size_t errlen)
{
    FILE *f;
    char *text;
    size_t n;
    ap_err rc;

    f = fopen(path, "re");
    if (f == NULL) {
        (void)snprintf(errbuf, errlen, "cannot open %s", path);
        return AP_ECONFIG;
    }
    text = calloc(1, JOSE_MAX_KEY_FILE + 1);
    if (text == NULL) {
        fclose(f);
        return AP_ENOMEM;
    }
    n = fread(text, 1, JOSE_MAX_KEY_FILE, f);
    fclose(f);
    if (n == 0 || n == JOSE_MAX_KEY_FILE) {
        (void)snprintf(errbuf, errlen, "%s is empty or too large", path);
        rc = AP_ECONFIG;
    } else {
        rc = jose_key_parse(text, out, errbuf, errlen);
    }
    mbedtls_platform_zeroize(text, JOSE_MAX_KEY_FILE);
    free(text);
    return rc;
}

void
jose_key_free(struct jose_key *key)
{
    if (key == NULL) {
        return;
    }
    mbedtls_ecp_keypair_free(&key->ec);
    pthread_mutex_destroy(&key->lock);
    free(key);
}

cJSON *
jose_key_public_jwk(struct jose_key *key)
{
    unsigned char pt[1 + 2 * JOSE_FIELD];
    size_t n = 0;
    char *x = NULL;
    char *y = NULL;
    cJSON *jwk = NULL;

    if (mbedtls_ecp_point_write_binary(&key->ec.grp, &key->ec.Q,
                                       MBEDTLS_ECP_PF_UNCOMPRESSED, &n, pt,
                                       sizeof(pt)) != 0 ||
        n != sizeof(pt)) {
        return NULL;
    }
    x = b64url_encode_alloc(pt + 1, JOSE_FIELD);
    y = b64url_encode_alloc(pt + 1 + JOSE_FIELD, JOSE_FIELD);
    jwk = cJSON_CreateObject();
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
    unsigned char hash[32];
    unsigned char sig[2 * JOSE_FIELD];
    mbedtls_mpi r;
    mbedtls_mpi s;
    size_t len;
    int ret;
    ap_err rc = AP_ENOMEM;

    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
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
    crypto_sha256(input, len, hash);
    pthread_mutex_lock(&key->lock);
    ret = mbedtls_ecdsa_sign(&key->ec.grp, &r, &s, &key->ec.d, hash,
                             sizeof(hash), crypto_rng, NULL);
    pthread_mutex_unlock(&key->lock);
    if (ret != 0 || mbedtls_mpi_write_binary(&r, sig, JOSE_FIELD) != 0 ||
        mbedtls_mpi_write_binary(&s, sig + JOSE_FIELD, JOSE_FIELD) != 0) {
        rc = AP_ECRYPTO;
        goto out;
    }
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
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
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
