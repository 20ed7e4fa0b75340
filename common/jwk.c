/* common/jwk.c: JWK account keys, thumbprints and JWS signature
 * verification on OpenSSL libcrypto (see jwk.h).
 *
 * A key is built once per request from its JWK members: EVP_PKEY_fromdata
 * with n and e for RSA; for EC a copy of a per-curve parameters template
 * (made once with EVP_PKEY_fromdata) with the point set by
 * EVP_PKEY_set1_encoded_public_key. No DER, PEM or OSSL_DECODER round trip
 * on the request path. The canonical base64url members are kept next to
 * the EVP_PKEY for the thumbprint and the stored JWK. */
#include "common/jwk.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/b64url.h"
#include "common/jwk_int.h"

/* Longest base64url JWK member we decode: an 8192-bit modulus is 1366
 * characters. Anything longer is refused before allocating. */
#define JWK_MEMBER_MAX_B64 2048
/* Longest RSA public exponent accepted, in bytes. */
#define JWK_MAX_E_BYTES 4

struct ec_curve {
    const char *crv;              /* JWK "crv" */
    const char *group;            /* OpenSSL's group name */
    int nid;                      /* and its NID (the SPKI's curve OID) */
    size_t field_len;             /* bytes of one coordinate */
    enum crypto_alg alg;          /* the one JWS alg that fits */
};

static const struct ec_curve ec_curves[] = {
    { "P-256", "prime256v1", NID_X9_62_prime256v1, 32, CRYPTO_ALG_ES256 },
    { "P-384", "secp384r1", NID_secp384r1, 48, CRYPTO_ALG_ES384 },
    { "P-521", "secp521r1", NID_secp521r1, 66, CRYPTO_ALG_ES512 },
};

#define EC_CURVES_N (sizeof(ec_curves) / sizeof(ec_curves[0]))
#define EC_MAX_FIELD_LEN 66

static const struct {
    const char *name;
    const char *md;               /* OpenSSL digest name */
} alg_table[CRYPTO_ALG__MAX] = {
    [CRYPTO_ALG_RS256] = { "RS256", "SHA256" },
    [CRYPTO_ALG_PS256] = { "PS256", "SHA256" },
    [CRYPTO_ALG_ES256] = { "ES256", "SHA256" },
    [CRYPTO_ALG_ES384] = { "ES384", "SHA384" },
    [CRYPTO_ALG_ES512] = { "ES512", "SHA512" },
};

struct crypto_key {
    atomic_uint refs;             /* crypto_key_ref / crypto_key_free */
    EVP_PKEY *pkey;
    enum crypto_key_type type;
    const struct ec_curve *curve; /* NULL for RSA */
    size_t sig_len;               /* RSA: modulus bytes; EC: 2 * field */
    unsigned char point[1 + 2 * EC_MAX_FIELD_LEN]; /* EC: SEC 1 point */
    size_t point_len;
    char *x_b64;                  /* EC: canonical members, re-encoded */
    char *y_b64;
    char *n_b64;                  /* RSA: canonical members, re-encoded */
    char *e_b64;
    /* Verification contexts set up once, on first use, and copied for
     * each verification (verify_template): [0] for the key's ES* alg or
     * RS256, [1] for PS256. Never changed once set. */
    _Atomic(EVP_MD_CTX *) vtmpl[2];
};

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (errbuf == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    if (n < 0) {
        errbuf[0] = '\0';
    }
}

/* ---- algorithms ---------------------------------------------------- */

ap_err
crypto_alg_parse(const char *name, enum crypto_alg *out)
{
    ap_err rc = AP_EINVAL;
    int i;

    if (name == NULL || out == NULL) {
        goto out;
    }
    for (i = 0; i < CRYPTO_ALG__MAX; i++) {
        if (strcmp(name, alg_table[i].name) == 0) {
            *out = (enum crypto_alg)i;
            rc = AP_OK;
            goto out;
        }
    }
out:
    return rc;
}

const char *
crypto_alg_list(void)
{
    return "RS256 PS256 ES256 ES384 ES512";
}

const char *
crypto_alg_name(enum crypto_alg alg)
{
    if ((unsigned)alg >= CRYPTO_ALG__MAX) {
        return "unknown";
    }
    return alg_table[alg].name;
}

/* ---- JWK ----------------------------------------------------------- */

static const struct ec_curve *
curve_by_crv(const char *crv)
{
    size_t i;

    for (i = 0; i < EC_CURVES_N; i++) {
        if (strcmp(crv, ec_curves[i].crv) == 0) {
            return &ec_curves[i];
        }
    }
    return NULL;
}

/* Decodes the base64url string member name of jwk into a new buffer. */
static ap_err
jwk_get_bytes(const cJSON *jwk, const char *name, unsigned char **out,
              size_t *outlen, char *errbuf, size_t errlen)
{
    const cJSON *item;
    size_t slen;
    ap_err rc = AP_EINTERNAL;

    item = cJSON_GetObjectItemCaseSensitive(jwk, name);
    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        set_err(errbuf, errlen, "JWK member \"%s\" is missing or not a string",
                name);
        rc = AP_EINVAL;
        goto out;
    }
    slen = strlen(item->valuestring);
    if (slen == 0 || slen > JWK_MEMBER_MAX_B64) {
        set_err(errbuf, errlen, "JWK member \"%s\" has a bad length", name);
        rc = AP_EINVAL;
        goto out;
    }
    rc = b64url_decode_alloc(item->valuestring, slen, out, outlen);
    if (rc == AP_EPARSE || rc == AP_ETOOBIG) {
        set_err(errbuf, errlen, "JWK member \"%s\" is not base64url", name);
        rc = AP_EINVAL;
        goto out;
    }
out:
    return rc;
}

/* A public EVP_PKEY of type ("EC", "RSA") from params; selection is
 * EVP_PKEY_PUBLIC_KEY or EVP_PKEY_KEY_PARAMETERS. NULL when OpenSSL
 * refuses them (the error queue is cleared). */
static EVP_PKEY *
pkey_fromdata(const char *type, int selection, OSSL_PARAM *params)
{
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *pkey = NULL;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        ERR_clear_error();
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* One parameters-only EVP_PKEY per curve, made once (EVP_PKEY_fromdata
 * with the group name) and never changed afterwards. Every EC key is a
 * copy of its curve's template with the public point set: building the
 * group from its name costs four times what the copy does, on every
 * request (EC_GROUP_new_by_curve_name computes Montgomery constants). */
static EVP_PKEY *ec_templates[EC_CURVES_N];
static pthread_once_t ec_templates_once = PTHREAD_ONCE_INIT;

static void
ec_templates_make(void)
{
    OSSL_PARAM params[2];

    for (size_t i = 0; i < EC_CURVES_N; i++) {
        params[0] = OSSL_PARAM_construct_utf8_string(
            OSSL_PKEY_PARAM_GROUP_NAME, (char *)(uintptr_t)ec_curves[i].group,
            0);
        params[1] = OSSL_PARAM_construct_end();
        ec_templates[i] =
            pkey_fromdata("EC", EVP_PKEY_KEY_PARAMETERS, params);
    }
}

/* A public key on curve with the SEC 1 encoded point; NULL when OpenSSL
 * refuses the point: not on the curve, a coordinate not below the field
 * prime (EC_POINT_oct2point checks both), or out of memory. */
static EVP_PKEY *
ec_key_from_point(const struct ec_curve *curve, const unsigned char *point,
                  size_t len)
{
    EVP_PKEY *tmpl;
    EVP_PKEY *pkey = NULL;

    if (pthread_once(&ec_templates_once, ec_templates_make) != 0) {
        goto out;
    }
    tmpl = ec_templates[curve - ec_curves];
    if (tmpl == NULL) {
        goto out;
    }
    pkey = EVP_PKEY_dup(tmpl);
    if (pkey == NULL ||
        EVP_PKEY_set1_encoded_public_key(pkey, point, len) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        ERR_clear_error();
    }
out:
    return pkey;
}

EVP_PKEY *
jwk_ec_key_from_point(int nid, const unsigned char *point, size_t len)
{
    for (size_t i = 0; i < EC_CURVES_N; i++) {
        if (ec_curves[i].nid == nid) {
            return ec_key_from_point(&ec_curves[i], point, len);
        }
    }
    return NULL;
}

static ap_err
jwk_parse_ec(const cJSON *jwk, struct crypto_key *key, char *errbuf,
             size_t errlen)
{
    unsigned char *x = NULL;
    unsigned char *y = NULL;
    unsigned char point[1 + 2 * EC_MAX_FIELD_LEN];
    const cJSON *crv;
    const struct ec_curve *curve;
    size_t xlen = 0;
    size_t ylen = 0;
    size_t flen;
    ap_err rc = AP_EINTERNAL;

    crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
    if (!cJSON_IsString(crv) || crv->valuestring == NULL) {
        set_err(errbuf, errlen, "EC JWK has no \"crv\" string");
        rc = AP_EINVAL;
        goto out;
    }
    curve = curve_by_crv(crv->valuestring);
    if (curve == NULL) {
        set_err(errbuf, errlen,
                "EC curve not supported (use P-256, P-384 or P-521)");
        rc = AP_EINVAL;
        goto out;
    }
    flen = curve->field_len;
    rc = jwk_get_bytes(jwk, "x", &x, &xlen, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = jwk_get_bytes(jwk, "y", &y, &ylen, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    /* RFC 7518 §6.2.1.2: x and y are exactly the field size. */
    if (xlen != flen || ylen != flen) {
        set_err(errbuf, errlen,
                "EC JWK coordinates must be %zu bytes for %s", flen,
                curve->crv);
        rc = AP_EINVAL;
        goto out;
    }
    /* SEC 1 §2.3.3 uncompressed point; OpenSSL refuses a coordinate
     * that is not below the field prime and a point off the curve. */
    point[0] = POINT_CONVERSION_UNCOMPRESSED;
    memcpy(point + 1, x, flen);
    memcpy(point + 1 + flen, y, flen);
    key->pkey = ec_key_from_point(curve, point, 1 + 2 * flen);
    if (key->pkey == NULL) {
        set_err(errbuf, errlen, "EC JWK point is not on curve %s",
                curve->crv);
        rc = AP_EINVAL;
        goto out;
    }
    key->type = CRYPTO_KEY_EC;
    key->curve = curve;
    key->sig_len = 2 * flen;
    memcpy(key->point, point, 1 + 2 * flen);
    key->point_len = 1 + 2 * flen;

    /* RFC 7638 §3.2: the thumbprint uses the members re-encoded from the
     * key's octets at the full field size (canonical base64url). */
    rc = AP_ENOMEM;
    key->x_b64 = b64url_encode_alloc(x, flen);
    if (key->x_b64 == NULL) {
        goto out;
    }
    key->y_b64 = b64url_encode_alloc(y, flen);
    if (key->y_b64 == NULL) {
        goto out;
    }
    rc = AP_OK;
out:
    free(x);
    free(y);
    return rc;
}

static unsigned
bitlen_be(const unsigned char *p, size_t len)
{
    unsigned bits;
    unsigned char top;

    if (len == 0) {
        return 0;
    }
    bits = (unsigned)(len - 1) * 8;
    for (top = p[0]; top != 0; top >>= 1) {
        bits++;
    }
    return bits;
}

EVP_PKEY *
jwk_rsa_key_from_ne(const BIGNUM *n, const BIGNUM *e)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pkey = NULL;

    if (bld != NULL &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1) {
        params = OSSL_PARAM_BLD_to_param(bld);
    }
    if (params != NULL) {
        pkey = pkey_fromdata("RSA", EVP_PKEY_PUBLIC_KEY, params);
    }
    ERR_clear_error();
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

static ap_err
jwk_parse_rsa(const cJSON *jwk, struct crypto_key *key, char *errbuf,
              size_t errlen)
{
    unsigned char *n = NULL;
    unsigned char *e = NULL;
    BIGNUM *bn_n = NULL;
    BIGNUM *bn_e = NULL;
    size_t nlen = 0;
    size_t elen = 0;
    unsigned bits;
    ap_err rc = AP_EINTERNAL;

    rc = jwk_get_bytes(jwk, "n", &n, &nlen, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = jwk_get_bytes(jwk, "e", &e, &elen, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    /* RFC 7518 §6.3.1: minimal big-endian octets, so a leading zero
     * octet would give a thumbprint other than the client's. */
    if (n[0] == 0 || e[0] == 0) {
        set_err(errbuf, errlen,
                "RSA JWK \"n\" and \"e\" must not have leading zero octets");
        rc = AP_EINVAL;
        goto out;
    }
    bits = bitlen_be(n, nlen);
    if (bits < CRYPTO_MIN_RSA_BITS || bits > CRYPTO_MAX_RSA_BITS) {
        set_err(errbuf, errlen,
                "RSA modulus of %u bits refused (need %d to %d bits)", bits,
                CRYPTO_MIN_RSA_BITS, CRYPTO_MAX_RSA_BITS);
        rc = AP_EINVAL;
        goto out;
    }
    if ((n[nlen - 1] & 1) == 0) {
        set_err(errbuf, errlen, "RSA modulus is even: not an RSA key");
        rc = AP_EINVAL;
        goto out;
    }
    if (elen > JWK_MAX_E_BYTES || (e[elen - 1] & 1) == 0 ||
        (elen == 1 && e[0] == 1)) {
        set_err(errbuf, errlen,
                "RSA public exponent must be odd, > 1 and at most 32 bits");
        rc = AP_EINVAL;
        goto out;
    }
    rc = AP_ENOMEM;
    bn_n = BN_bin2bn(n, (int)nlen, NULL);
    bn_e = BN_bin2bn(e, (int)elen, NULL);
    if (bn_n == NULL || bn_e == NULL) {
        goto out;
    }
    key->pkey = jwk_rsa_key_from_ne(bn_n, bn_e);
    if (key->pkey == NULL) {
        set_err(errbuf, errlen, "RSA JWK is not a valid public key");
        rc = AP_EINVAL;
        goto out;
    }
    key->type = CRYPTO_KEY_RSA;
    key->sig_len = nlen;

    /* The members are minimal already (checked above): re-encoding the
     * octets gives the canonical base64url (RFC 7638 §3.2). */
    key->n_b64 = b64url_encode_alloc(n, nlen);
    if (key->n_b64 == NULL) {
        goto out;
    }
    key->e_b64 = b64url_encode_alloc(e, elen);
    if (key->e_b64 == NULL) {
        goto out;
    }
    rc = AP_OK;
out:
    if (rc == AP_ENOMEM) {
        ERR_clear_error();
    }
    BN_free(bn_n);
    BN_free(bn_e);
    free(n);
    free(e);
    return rc;
}

ap_err
crypto_jwk_parse(const cJSON *jwk, struct crypto_key **out, char *errbuf,
                 size_t errlen)
{
    static const char *const private_members[] = {
        "d", "p", "q", "dp", "dq", "qi", "oth", "k",
    };
    struct crypto_key *key = NULL;
    const cJSON *kty;
    const char *kty_s;
    size_t i;
    ap_err rc = AP_EINTERNAL;

    if (out == NULL) {
        rc = AP_EINVAL;
        goto out;
    }
    if (!cJSON_IsObject(jwk)) {
        set_err(errbuf, errlen, "JWK is not a JSON object");
        rc = AP_EINVAL;
        goto out;
    }
    kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
    if (!cJSON_IsString(kty) || kty->valuestring == NULL) {
        set_err(errbuf, errlen, "JWK has no \"kty\" string");
        rc = AP_EINVAL;
        goto out;
    }
    kty_s = kty->valuestring;
    for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]);
         i++) {
        if (cJSON_GetObjectItemCaseSensitive(jwk, private_members[i]) !=
            NULL) {
            set_err(errbuf, errlen,
                    "JWK contains private key member \"%s\"",
                    private_members[i]);
            rc = AP_EINVAL;
            goto out;
        }
    }
    if (strcmp(kty_s, "OKP") == 0) {
        set_err(errbuf, errlen, "Ed25519 is not supported by this server");
        rc = AP_EINVAL;
        goto out;
    }
    if (strcmp(kty_s, "oct") == 0) {
        set_err(errbuf, errlen,
                "symmetric keys (kty \"oct\") cannot be account keys");
        rc = AP_EINVAL;
        goto out;
    }
    if (strcmp(kty_s, "EC") != 0 && strcmp(kty_s, "RSA") != 0) {
        set_err(errbuf, errlen, "JWK kty not supported (use EC or RSA)");
        rc = AP_EINVAL;
        goto out;
    }

    key = calloc(1, sizeof(*key));
    if (key == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    atomic_init(&key->refs, 1);
    atomic_init(&key->vtmpl[0], NULL);
    atomic_init(&key->vtmpl[1], NULL);
    if (strcmp(kty_s, "EC") == 0) {
        rc = jwk_parse_ec(jwk, key, errbuf, errlen);
    } else {
        rc = jwk_parse_rsa(jwk, key, errbuf, errlen);
    }
out:
    if (rc != AP_OK) {
        crypto_key_free(key);
        key = NULL;
    } else {
        *out = key;
    }
    return rc;
}

struct crypto_key *
crypto_key_ref(struct crypto_key *key)
{
    if (key != NULL) {
        atomic_fetch_add(&key->refs, 1);
    }
    return key;
}

void
crypto_key_free(struct crypto_key *key)
{
    if (key == NULL || atomic_fetch_sub(&key->refs, 1) != 1) {
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        EVP_MD_CTX_free(atomic_load(&key->vtmpl[i]));
    }
    EVP_PKEY_free(key->pkey);
    free(key->x_b64);
    free(key->y_b64);
    free(key->n_b64);
    free(key->e_b64);
    free(key);
}

cJSON *
crypto_key_to_jwk(const struct crypto_key *key)
{
    cJSON *jwk = NULL;
    bool ok = false;

    if (key == NULL) {
        goto out;
    }
    jwk = cJSON_CreateObject();
    if (jwk == NULL) {
        goto out;
    }
    /* RFC 7638 §3.2/§3.3: required members only, in lexicographic order. */
    if (key->type == CRYPTO_KEY_EC) {
        if (cJSON_AddStringToObject(jwk, "crv", key->curve->crv) == NULL ||
            cJSON_AddStringToObject(jwk, "kty", "EC") == NULL ||
            cJSON_AddStringToObject(jwk, "x", key->x_b64) == NULL ||
            cJSON_AddStringToObject(jwk, "y", key->y_b64) == NULL) {
            goto out;
        }
    } else {
        if (cJSON_AddStringToObject(jwk, "e", key->e_b64) == NULL ||
            cJSON_AddStringToObject(jwk, "kty", "RSA") == NULL ||
            cJSON_AddStringToObject(jwk, "n", key->n_b64) == NULL) {
            goto out;
        }
    }
    ok = true;
out:
    if (!ok) {
        cJSON_Delete(jwk);
        jwk = NULL;
    }
    return jwk;
}

ap_err
crypto_key_thumbprint(const struct crypto_key *key, char *out, size_t outlen)
{
    unsigned char hash[CRYPTO_SHA256_LEN];
    cJSON *jwk = NULL;
    char *text = NULL;
    ap_err rc = AP_EINTERNAL;

    if (key == NULL || out == NULL) {
        rc = AP_EINVAL;
        goto out;
    }
    if (outlen < CRYPTO_THUMBPRINT_LEN + 1) {
        rc = AP_ETOOBIG;
        goto out;
    }
    jwk = crypto_key_to_jwk(key);
    if (jwk == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    /* Unformatted cJSON output has no whitespace, and base64url values
     * need no escaping: it is the RFC 7638 §3 canonical form. */
    text = cJSON_PrintUnformatted(jwk);
    if (text == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    crypto_sha256(text, strlen(text), hash);
    rc = b64url_encode(hash, sizeof(hash), out, outlen);
out:
    cJSON_free(text);
    cJSON_Delete(jwk);
    return rc;
}

bool
crypto_alg_fits_key(enum crypto_alg alg, const struct crypto_key *key)
{
    if (key == NULL) {
        return false;
    }
    switch (alg) {
    case CRYPTO_ALG_RS256:
    case CRYPTO_ALG_PS256:
        return key->type == CRYPTO_KEY_RSA;
    case CRYPTO_ALG_ES256:
    case CRYPTO_ALG_ES384:
    case CRYPTO_ALG_ES512:
        return key->type == CRYPTO_KEY_EC && key->curve->alg == alg;
    default:
        return false;
    }
}

/* ---- verification -------------------------------------------------- */

/* RFC 7518 §3.4: R||S, each as long as the field, to the DER
 * ECDSA-Sig-Value that EVP_DigestVerify takes. *der: OPENSSL_free. */
static ap_err
ecdsa_raw_to_der(const unsigned char *sig, size_t flen, unsigned char **der,
                 size_t *derlen)
{
    ECDSA_SIG *es = NULL;
    BIGNUM *r;
    BIGNUM *s;
    int n;
    ap_err rc = AP_ENOMEM;

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int)flen, NULL);
    s = BN_bin2bn(sig + flen, (int)flen, NULL);
    if (es == NULL || r == NULL || s == NULL ||
        ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    /* es owns r and s now. */
    n = i2d_ECDSA_SIG(es, der);
    if (n <= 0) {
        goto out;
    }
    *derlen = (size_t)n;
    rc = AP_OK;
out:
    ECDSA_SIG_free(es);
    return rc;
}

/* A context set up for verifying alg signatures with key: the digest
 * and, for PS256, the PSS parameters. NULL on ENOMEM. */
static EVP_MD_CTX *
verify_ctx_new(const struct crypto_key *key, enum crypto_alg alg)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;

    if (ctx == NULL ||
        EVP_DigestVerifyInit_ex(ctx, &pctx, alg_table[alg].md, NULL, NULL,
                                key->pkey, NULL) != 1 ||
        (alg == CRYPTO_ALG_PS256 &&
         (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) != 1 ||
          /* RFC 7518 §3.5 says a salt as long as the hash, but josepy
           * (certbot, python3-acme) signs with the maximum salt length;
           * PSS is as secure with either, so any length is accepted. */
          EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) !=
              1))) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* The key's set-up context for alg (which fits it), made on first use.
 * Setting one up costs OpenSSL 3.0 two fetches by name (the digest and
 * the signature method, 28 k instructions); a copy of it 2.4 k. Threads
 * racing to make it keep the first one published (the others free
 * theirs); afterwards it is only read (EVP_MD_CTX_copy_ex). The slot is
 * a cache inside the key, which is otherwise read-only. */
static const EVP_MD_CTX *
verify_template(const struct crypto_key *key, enum crypto_alg alg)
{
    _Atomic(EVP_MD_CTX *) *slot =
        (_Atomic(EVP_MD_CTX *) *)(uintptr_t)&key->vtmpl[alg ==
                                                        CRYPTO_ALG_PS256];
    EVP_MD_CTX *t = atomic_load(slot);
    EVP_MD_CTX *none = NULL;

    if (t != NULL) {
        return t;
    }
    t = verify_ctx_new(key, alg);
    if (t != NULL && !atomic_compare_exchange_strong(slot, &none, t)) {
        EVP_MD_CTX_free(t);
        t = none;
    }
    return t;
}

ap_err
crypto_verify(const struct crypto_key *key, enum crypto_alg alg,
              const void *msg, size_t msglen, const unsigned char *sig,
              size_t siglen)
{
    const EVP_MD_CTX *tmpl;
    EVP_MD_CTX *ctx = NULL;
    unsigned char *der = NULL;
    const unsigned char *s = sig;
    size_t slen = siglen;
    int ret;
    ap_err rc = AP_EINVAL;

    if (key == NULL || (unsigned)alg >= CRYPTO_ALG__MAX ||
        (msg == NULL && msglen != 0) || sig == NULL) {
        goto out;
    }
    if (!crypto_alg_fits_key(alg, key) || siglen != key->sig_len) {
        goto out;
    }
    if (key->type == CRYPTO_KEY_EC) {
        rc = ecdsa_raw_to_der(sig, key->curve->field_len, &der, &slen);
        if (rc != AP_OK) {
            goto out;
        }
        s = der;
    }
    rc = AP_ENOMEM;
    tmpl = verify_template(key, alg);
    ctx = EVP_MD_CTX_new();
    if (tmpl == NULL || ctx == NULL || EVP_MD_CTX_copy_ex(ctx, tmpl) != 1) {
        goto out;
    }
    ret = EVP_DigestVerify(ctx, s, slen,
                           (const unsigned char *)(msg != NULL ? msg : ""),
                           msglen);
    rc = (ret == 1) ? AP_OK : AP_ECRYPTO;
out:
    if (rc != AP_OK) {
        ERR_clear_error();
    }
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return rc;
}

/* The RSAPublicKey of RFC 8017 §A.1.1, SEQUENCE { n, e }, of key as DER
 * (OPENSSL_free), from its canonical members, encoded by OpenSSL's
 * SEQUENCE OF ANY. */
static ap_err
rsa_public_key_der(const struct crypto_key *key, unsigned char **der,
                   int *len)
{
    const char *const members[2] = { key->n_b64, key->e_b64 };
    ASN1_SEQUENCE_ANY *seq = sk_ASN1_TYPE_new_null();
    ap_err rc = AP_ENOMEM;

    if (seq == NULL) {
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        unsigned char *raw = NULL;
        size_t rawlen = 0;
        BIGNUM *bn = NULL;
        ASN1_INTEGER *ai = NULL;
        ASN1_TYPE *t = NULL;

        if (b64url_decode_alloc(members[i], strlen(members[i]), &raw,
                                &rawlen) == AP_OK &&
            (bn = BN_bin2bn(raw, (int)rawlen, NULL)) != NULL &&
            (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
            (t = ASN1_TYPE_new()) != NULL) {
            ASN1_TYPE_set(t, V_ASN1_INTEGER, ai); /* t owns ai */
            ai = NULL;
            if (sk_ASN1_TYPE_push(seq, t) > 0) {
                t = NULL;
            }
        }
        ASN1_TYPE_free(t);
        ASN1_INTEGER_free(ai);
        BN_free(bn);
        free(raw);
        if (sk_ASN1_TYPE_num(seq) != i + 1) {
            goto out;
        }
    }
    *len = i2d_ASN1_SEQUENCE_ANY(seq, der);
    rc = *len > 0 ? AP_OK : AP_ECRYPTO;
out:
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return rc;
}

/* The SubjectPublicKeyInfo is put together from its parts with
 * X509_PUBKEY_set0_param and written by i2d_X509_PUBKEY: the same bytes
 * i2d_PUBKEY writes (test_jwk checks them against mbedTLS and openssl),
 * at a tenth of the cost of i2d_PUBKEY's trip through OSSL_ENCODER on
 * OpenSSL 3.0 (finalize compares the CSR's key with the account's). */
ap_err
crypto_key_spki_der(const struct crypto_key *key, unsigned char **der,
                    size_t *len)
{
    X509_PUBKEY *xpk = NULL;
    unsigned char *penc = NULL;
    unsigned char *enc = NULL;
    unsigned char *copy = NULL;
    int penc_len = 0;
    int n;
    ap_err rc = AP_EINVAL;

    if (key == NULL || der == NULL || len == NULL) {
        goto out;
    }
    rc = AP_ENOMEM;
    xpk = X509_PUBKEY_new();
    if (xpk == NULL) {
        goto out;
    }
    if (key->type == CRYPTO_KEY_EC) {
        penc = OPENSSL_memdup(key->point, key->point_len);
        penc_len = (int)key->point_len;
        if (penc == NULL) {
            goto out;
        }
    } else {
        rc = rsa_public_key_der(key, &penc, &penc_len);
        if (rc != AP_OK) {
            goto out;
        }
    }
    /* RFC 5480 §2.1.1: id-ecPublicKey with the named curve; RFC 3279
     * §2.3.1: rsaEncryption with NULL parameters. xpk owns penc after. */
    if (key->type == CRYPTO_KEY_EC
            ? X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                                     V_ASN1_OBJECT,
                                     OBJ_nid2obj(key->curve->nid), penc,
                                     penc_len) != 1
            : X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_rsaEncryption),
                                     V_ASN1_NULL, NULL, penc,
                                     penc_len) != 1) {
        rc = AP_ECRYPTO;
        goto out;
    }
    penc = NULL;
    n = i2d_X509_PUBKEY(xpk, &enc);
    if (n <= 0) {
        rc = AP_ECRYPTO;
        goto out;
    }
    copy = malloc((size_t)n);
    if (copy == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(copy, enc, (size_t)n);
    *der = copy;
    *len = (size_t)n;
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        ERR_clear_error();
    }
    OPENSSL_free(penc);
    OPENSSL_free(enc);
    X509_PUBKEY_free(xpk);
    return rc;
}

/* ---------------------------------------------------------- the cache */

/* Longest JWK text the cache keeps: an 8192-bit modulus (1366
 * characters) with the other members fits; a longer one is parsed every
 * time instead. */
#define JWK_CACHE_MAX_TEXT 4096

/* An entry is found by its JWK text, compared in full; the 64-bit FNV-1a
 * of the text only passes over the others quickly (a SHA-256 of the text
 * per request cost more than the rest of the look-up). */
struct jwk_cache_entry {
    uint64_t hash;                           /* FNV-1a of text */
    char *text;                              /* the JWK as printed */
    size_t len;
    struct crypto_key *key;                  /* one reference; NULL: free */
    uint64_t used;                           /* the tick of the last hit */
};

static uint64_t
text_hash(const char *text, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)text[i]) * 0x100000001b3ULL;
    }
    return h;
}

static bool
entry_is(const struct jwk_cache_entry *e, uint64_t hash, const char *text,
         size_t len)
{
    return e->key != NULL && e->hash == hash && e->len == len &&
           memcmp(e->text, text, len) == 0;
}

struct jwk_cache {
    pthread_mutex_t lock;
    size_t cap;
    uint64_t tick;
    struct jwk_cache_stats stats;
    struct jwk_cache_entry slot[];
};

struct jwk_cache *
jwk_cache_new(size_t cap)
{
    struct jwk_cache *c;

    if (cap == 0 || cap > JWK_CACHE_MAX_ENTRIES) {
        return NULL;
    }
    c = calloc(1, sizeof(*c) + cap * sizeof(c->slot[0]));
    if (c == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->cap = cap;
    return c;
}

void
jwk_cache_free(struct jwk_cache *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->cap; i++) {
        crypto_key_free(c->slot[i].key);
        free(c->slot[i].text);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The cached key for text with a new reference, or NULL. */
static struct crypto_key *
cache_find(struct jwk_cache *c, uint64_t hash, const char *text, size_t len)
{
    struct crypto_key *key = NULL;

    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->cap; i++) {
        if (entry_is(&c->slot[i], hash, text, len)) {
            c->slot[i].used = ++c->tick;
            key = crypto_key_ref(c->slot[i].key);
            c->stats.hits++;
            break;
        }
    }
    if (key == NULL) {
        c->stats.misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return key;
}

/* Stores a reference to key under text, in a free slot or instead of the
 * least recently used one; a text already there (another thread parsed
 * the same JWK) is left as it is, and so is the cache when the copy of
 * text cannot be made. */
static void
cache_put(struct jwk_cache *c, uint64_t hash, const char *text, size_t len,
          struct crypto_key *key)
{
    struct crypto_key *old = NULL;
    char *old_text = NULL;
    char *copy = malloc(len + 1);
    size_t victim = 0;

    if (copy == NULL) {
        return;
    }
    memcpy(copy, text, len + 1);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->cap; i++) {
        if (entry_is(&c->slot[i], hash, text, len)) {
            pthread_mutex_unlock(&c->lock);
            free(copy);
            return;
        }
        if (c->slot[i].key == NULL) {
            victim = i;
            break;
        }
        if (c->slot[i].used < c->slot[victim].used) {
            victim = i;
        }
    }
    old = c->slot[victim].key;
    old_text = c->slot[victim].text;
    if (old != NULL) {
        c->stats.evictions++;
    }
    c->slot[victim].hash = hash;
    c->slot[victim].text = copy;
    c->slot[victim].len = len;
    c->slot[victim].key = crypto_key_ref(key);
    c->slot[victim].used = ++c->tick;
    pthread_mutex_unlock(&c->lock);
    crypto_key_free(old);
    free(old_text);
}

ap_err
jwk_cache_parse(struct jwk_cache *c, const cJSON *jwk,
                struct crypto_key **out, char *errbuf, size_t errlen)
{
    char text[JWK_CACHE_MAX_TEXT];
    struct crypto_key *key = NULL;
    uint64_t hash;
    size_t len;
    /* cJSON_PrintPreallocated only reads the item but is declared without
     * const. */
    union {
        const cJSON *c;
        cJSON *m;
    } item = { .c = jwk };
    ap_err rc;

    if (c == NULL || out == NULL || !cJSON_IsObject(jwk) ||
        !cJSON_PrintPreallocated(item.m, text, (int)sizeof(text), false)) {
        /* No cache, or a JWK too long to hash here: parse it. */
        return crypto_jwk_parse(jwk, out, errbuf, errlen);
    }
    len = strlen(text);
    hash = text_hash(text, len);
    key = cache_find(c, hash, text, len);
    if (key != NULL) {
        *out = key;
        return AP_OK;
    }
    rc = crypto_jwk_parse(jwk, &key, errbuf, errlen);
    if (rc != AP_OK) {
        return rc;
    }
    cache_put(c, hash, text, len, key);
    *out = key;
    return AP_OK;
}

void
jwk_cache_stats(struct jwk_cache *c, struct jwk_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    for (size_t i = 0; i < c->cap; i++) {
        if (c->slot[i].key != NULL) {
            out->entries++;
        }
    }
    pthread_mutex_unlock(&c->lock);
}
