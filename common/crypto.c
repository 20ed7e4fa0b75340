/* common/crypto.c: the process DRBG, JWK keys and JWS verification, hashes
 * and PKCS#10/X.509 parsing on top of mbedTLS 2.28.
 *
 * This is the only file outside the TLS listener, the tls-alpn-01
 * validator and the CA that includes mbedTLS headers. It never prints;
 * every reason for a refusal goes into the caller's errbuf. Keys handed
 * out are read-only after crypto_jwk_parse, so crypto_verify works on a
 * per-call copy of anything mbedTLS would write to (the ECP group caches
 * a precomputed table of G) and relies on the RSA context's own mutex
 * (MBEDTLS_THREADING_C) for the blinding-free public operation. */
#include "common/crypto.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>
#include <mbedtls/constant_time.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/b64url.h"

/* Longest base64url JWK member we decode: an 8192-bit modulus is 1366
 * characters. Anything longer is refused before allocating. */
#define JWK_MEMBER_MAX_B64 2048
/* RFC 7518 §3.5 asks for a salt as long as the hash output, but josepy
 * (certbot, python3-acme) signs with the maximum salt length; PSS is as
 * secure with either, so verification accepts any salt length. */
#define PSS_SALT_LEN MBEDTLS_RSA_SALT_LEN_ANY
/* Big enough for the SubjectPublicKeyInfo of an 8192-bit RSA key. */
#define SPKI_MAX_DER 2600
/* Extensions we keep track of in one extensionRequest, to find duplicates. */
#define CSR_MAX_EXTENSIONS 32
/* ASN.1 universal string tags a commonName may use. */
#define ASN1_T61_STRING 0x14

struct ec_curve {
    const char *crv;              /* JWK "crv" and struct crypto_csr curve */
    mbedtls_ecp_group_id id;
    size_t field_len;             /* bytes of one coordinate */
    unsigned bits;
    enum crypto_alg alg;          /* the one JWS alg that fits */
};

static const struct ec_curve ec_curves[] = {
    { "P-256", MBEDTLS_ECP_DP_SECP256R1, 32, 256, CRYPTO_ALG_ES256 },
    { "P-384", MBEDTLS_ECP_DP_SECP384R1, 48, 384, CRYPTO_ALG_ES384 },
    { "P-521", MBEDTLS_ECP_DP_SECP521R1, 66, 521, CRYPTO_ALG_ES512 },
};

#define EC_CURVES_N (sizeof(ec_curves) / sizeof(ec_curves[0]))
#define EC_MAX_FIELD_LEN 66

static const struct {
    const char *name;
    mbedtls_md_type_t md;
} alg_table[CRYPTO_ALG__MAX] = {
    [CRYPTO_ALG_RS256] = { "RS256", MBEDTLS_MD_SHA256 },
    [CRYPTO_ALG_PS256] = { "PS256", MBEDTLS_MD_SHA256 },
    [CRYPTO_ALG_ES256] = { "ES256", MBEDTLS_MD_SHA256 },
    [CRYPTO_ALG_ES384] = { "ES384", MBEDTLS_MD_SHA384 },
    [CRYPTO_ALG_ES512] = { "ES512", MBEDTLS_MD_SHA512 },
};

struct crypto_key {
    mbedtls_pk_context pk;
    enum crypto_key_type type;
    const struct ec_curve *curve; /* NULL for RSA */
    char *x_b64;                  /* EC: canonical members, re-encoded */
    char *y_b64;
    char *n_b64;                  /* RSA: canonical members, re-encoded */
    char *e_b64;
};

static mbedtls_entropy_context g_entropy;
static mbedtls_ctr_drbg_context g_drbg;
static bool g_drbg_ready;

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

/* Puts what and mbedTLS's text for ret into errbuf. */
static void
set_mbed_err(char *errbuf, size_t errlen, const char *what, int ret)
{
    char text[128];

    mbedtls_strerror(ret, text, sizeof(text));
    set_err(errbuf, errlen, "%s: %s (-0x%04x)", what, text,
            (unsigned)(ret < 0 ? -ret : ret));
}

/* ---- DRBG ---------------------------------------------------------- */

ap_err
crypto_init(void)
{
    static const char pers[] = "acmeproxy crypto_init";
    int ret;
    ap_err rc = AP_EINTERNAL;

    if (g_drbg_ready) {
        rc = AP_OK;
        goto out;
    }
    mbedtls_entropy_init(&g_entropy);
    mbedtls_ctr_drbg_init(&g_drbg);
    ret = mbedtls_ctr_drbg_seed(&g_drbg, mbedtls_entropy_func, &g_entropy,
                                (const unsigned char *)pers,
                                sizeof(pers) - 1);
    if (ret != 0) {
        mbedtls_ctr_drbg_free(&g_drbg);
        mbedtls_entropy_free(&g_entropy);
        rc = AP_ECRYPTO;
        goto out;
    }
    g_drbg_ready = true;
    rc = AP_OK;
out:
    return rc;
}

void
crypto_fini(void)
{
    if (!g_drbg_ready) {
        return;
    }
    mbedtls_ctr_drbg_free(&g_drbg);
    mbedtls_entropy_free(&g_entropy);
    g_drbg_ready = false;
}

int
crypto_rng(void *p_rng, unsigned char *out, size_t len)
{
    size_t chunk;
    int ret = MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;

    (void)p_rng;
    if (!g_drbg_ready) {
        goto out;
    }
    /* mbedtls_ctr_drbg_random locks the context's mutex itself and
     * refuses requests over MBEDTLS_CTR_DRBG_MAX_REQUEST bytes. */
    ret = 0;
    while (len > 0 && ret == 0) {
        chunk = len < MBEDTLS_CTR_DRBG_MAX_REQUEST
                    ? len
                    : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        ret = mbedtls_ctr_drbg_random(&g_drbg, out, chunk);
        out += chunk;
        len -= chunk;
    }
out:
    return ret;
}

ap_err
crypto_random(void *out, size_t len)
{
    ap_err rc = AP_EINTERNAL;

    if (out == NULL && len != 0) {
        rc = AP_EINVAL;
        goto out;
    }
    if (!g_drbg_ready) {
        rc = AP_EINTERNAL;
        goto out;
    }
    if (crypto_rng(NULL, out, len) != 0) {
        rc = AP_ECRYPTO;
        goto out;
    }
    rc = AP_OK;
out:
    return rc;
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

static const struct ec_curve *
curve_by_id(mbedtls_ecp_group_id id)
{
    size_t i;

    for (i = 0; i < EC_CURVES_N; i++) {
        if (ec_curves[i].id == id) {
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

static ap_err
jwk_parse_ec(const cJSON *jwk, struct crypto_key *key, char *errbuf,
             size_t errlen)
{
    unsigned char *x = NULL;
    unsigned char *y = NULL;
    unsigned char point[1 + 2 * EC_MAX_FIELD_LEN];
    unsigned char coord[EC_MAX_FIELD_LEN];
    const cJSON *crv;
    const struct ec_curve *curve;
    mbedtls_ecp_keypair *ec;
    size_t xlen = 0;
    size_t ylen = 0;
    size_t flen;
    int ret;
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
    point[0] = 0x04;
    memcpy(point + 1, x, flen);
    memcpy(point + 1 + flen, y, flen);

    ret = mbedtls_pk_setup(&key->pk,
                           mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (ret != 0) {
        rc = AP_ENOMEM;
        goto out;
    }
    ec = mbedtls_pk_ec(key->pk);
    ret = mbedtls_ecp_group_load(&ec->grp, curve->id);
    if (ret != 0) {
        set_mbed_err(errbuf, errlen, "cannot load EC group", ret);
        rc = AP_EINTERNAL;
        goto out;
    }
    ret = mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q, point,
                                        1 + 2 * flen);
    if (ret == 0) {
        ret = mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q);
    }
    if (ret != 0) {
        set_err(errbuf, errlen, "EC JWK point is not on curve %s",
                curve->crv);
        rc = AP_EINVAL;
        goto out;
    }
    key->type = CRYPTO_KEY_EC;
    key->curve = curve;

    /* RFC 7638 §3.2: the thumbprint uses the members re-encoded from
     * the parsed point, at the full field size. */
    rc = AP_ENOMEM;
    if (mbedtls_mpi_write_binary(&ec->Q.X, coord, flen) != 0) {
        rc = AP_EINTERNAL;
        goto out;
    }
    key->x_b64 = b64url_encode_alloc(coord, flen);
    if (key->x_b64 == NULL) {
        goto out;
    }
    if (mbedtls_mpi_write_binary(&ec->Q.Y, coord, flen) != 0) {
        rc = AP_EINTERNAL;
        goto out;
    }
    key->y_b64 = b64url_encode_alloc(coord, flen);
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

static ap_err
jwk_parse_rsa(const cJSON *jwk, struct crypto_key *key, char *errbuf,
              size_t errlen)
{
    unsigned char *n = NULL;
    unsigned char *e = NULL;
    unsigned char *nbuf = NULL;
    unsigned char ebuf[4];
    mbedtls_rsa_context *rsa;
    size_t nlen = 0;
    size_t elen = 0;
    size_t i;
    unsigned bits;
    int ret;
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
    if (elen > sizeof(ebuf) || (e[elen - 1] & 1) == 0 ||
        (elen == 1 && e[0] == 1)) {
        set_err(errbuf, errlen,
                "RSA public exponent must be odd, > 1 and at most 32 bits");
        rc = AP_EINVAL;
        goto out;
    }

    ret = mbedtls_pk_setup(&key->pk,
                           mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
    if (ret != 0) {
        rc = AP_ENOMEM;
        goto out;
    }
    rsa = mbedtls_pk_rsa(key->pk);
    ret = mbedtls_rsa_import_raw(rsa, n, nlen, NULL, 0, NULL, 0, NULL, 0, e,
                                 elen);
    if (ret == 0) {
        ret = mbedtls_rsa_complete(rsa);
    }
    if (ret == 0) {
        ret = mbedtls_rsa_check_pubkey(rsa);
    }
    if (ret != 0) {
        set_mbed_err(errbuf, errlen, "RSA JWK is not a valid public key",
                     ret);
        rc = AP_EINVAL;
        goto out;
    }
    key->type = CRYPTO_KEY_RSA;

    /* Re-encode from the parsed key (RFC 7638 §3.2). */
    nbuf = malloc(nlen);
    if (nbuf == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    ret = mbedtls_rsa_export_raw(rsa, nbuf, nlen, NULL, 0, NULL, 0, NULL, 0,
                                 ebuf, sizeof(ebuf));
    if (ret != 0) {
        rc = AP_EINTERNAL;
        goto out;
    }
    for (i = 0; i < sizeof(ebuf) - 1 && ebuf[i] == 0; i++) {
        continue;
    }
    rc = AP_ENOMEM;
    key->n_b64 = b64url_encode_alloc(nbuf, nlen);
    if (key->n_b64 == NULL) {
        goto out;
    }
    key->e_b64 = b64url_encode_alloc(ebuf + i, sizeof(ebuf) - i);
    if (key->e_b64 == NULL) {
        goto out;
    }
    rc = AP_OK;
out:
    free(nbuf);
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
    mbedtls_pk_init(&key->pk);
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

void
crypto_key_free(struct crypto_key *key)
{
    if (key == NULL) {
        return;
    }
    mbedtls_pk_free(&key->pk);
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

static ap_err
verify_rsa(const struct crypto_key *key, enum crypto_alg alg,
           const unsigned char *hash, size_t hlen, const unsigned char *sig,
           size_t siglen)
{
    mbedtls_rsa_context *rsa;
    mbedtls_md_type_t md = alg_table[alg].md;
    int ret;
    ap_err rc = AP_EINTERNAL;

    rsa = mbedtls_pk_rsa(key->pk);
    /* RFC 7518 §3.3: the signature is as long as the modulus; mbedTLS
     * reads exactly that many bytes from sig. */
    if (siglen != mbedtls_rsa_get_len(rsa)) {
        rc = AP_EINVAL;
        goto out;
    }
    /* Both calls only read the context apart from the cached RN, which
     * mbedtls_rsa_public updates under the context's mutex. The _ext
     * PSS call takes the MGF1 hash explicitly, so the shared context's
     * padding setting is never changed. */
    if (alg == CRYPTO_ALG_RS256) {
        ret = mbedtls_rsa_rsassa_pkcs1_v15_verify(
            rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, md, (unsigned)hlen, hash,
            sig);
    } else {
        /* RFC 7518 §3.5: MGF1 with SHA-256; any salt length (above). */
        ret = mbedtls_rsa_rsassa_pss_verify_ext(
            rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, md, (unsigned)hlen, hash,
            md, PSS_SALT_LEN, sig);
    }
    rc = (ret == 0) ? AP_OK : AP_ECRYPTO;
out:
    return rc;
}

/* OpenSSL's name of an mbedTLS curve, or NULL. */
static const char *
ossl_group(mbedtls_ecp_group_id id)
{
    switch (id) {
    case MBEDTLS_ECP_DP_SECP256R1:
        return "prime256v1";
    case MBEDTLS_ECP_DP_SECP384R1:
        return "secp384r1";
    case MBEDTLS_ECP_DP_SECP521R1:
        return "secp521r1";
    default:
        return NULL;
    }
}

/* ECDSA verification of a DER signature over hash with the public point
 * of ec, through OpenSSL's libcrypto: mbedTLS 2.28 takes about 1.1 ms per
 * P-256 verification here, libcrypto about 45 us (test/bench/README.md),
 * and ECDSA verification was three quarters of the proxy's CPU. libcrypto
 * is in the process anyway (libcurl), and it only ever sees public data.
 * AP_OK: valid; AP_ECRYPTO: not; AP_ENOMEM / AP_EINTERNAL otherwise. */
static ap_err
ossl_ecdsa_verify(const mbedtls_ecp_keypair *ec, const unsigned char *hash,
                  size_t hlen, const unsigned char *der, size_t derlen)
{
    unsigned char pub[1 + 2 * 66];
    size_t publen = 0;
    const char *group = ossl_group(ec->grp.id);
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *kc = NULL;
    EVP_PKEY_CTX *vc = NULL;
    EVP_PKEY *pkey = NULL;
    int ret;
    ap_err rc = AP_EINTERNAL;

    if (group == NULL ||
        mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q,
                                       MBEDTLS_ECP_PF_UNCOMPRESSED, &publen,
                                       pub, sizeof(pub)) != 0) {
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(
        OSSL_PKEY_PARAM_GROUP_NAME, (char *)(uintptr_t)group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  pub, publen);
    params[2] = OSSL_PARAM_construct_end();
    kc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (kc == NULL || EVP_PKEY_fromdata_init(kc) != 1 ||
        EVP_PKEY_fromdata(kc, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        rc = AP_ENOMEM;
        goto out;
    }
    vc = EVP_PKEY_CTX_new(pkey, NULL);
    if (vc == NULL || EVP_PKEY_verify_init(vc) != 1) {
        rc = AP_ENOMEM;
        goto out;
    }
    ret = EVP_PKEY_verify(vc, der, derlen, hash, hlen);
    rc = (ret == 1) ? AP_OK : AP_ECRYPTO;
out:
    EVP_PKEY_CTX_free(vc);
    EVP_PKEY_CTX_free(kc);
    EVP_PKEY_free(pkey);
    return rc;
}

static ap_err
verify_ec(const struct crypto_key *key, const unsigned char *hash,
          size_t hlen, const unsigned char *sig, size_t siglen)
{
    size_t flen = key->curve->field_len;
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL;
    BIGNUM *s = NULL;
    unsigned char *der = NULL;
    int n;
    ap_err rc = AP_ENOMEM;

    /* RFC 7518 §3.4: R||S, each the size of the group order. */
    if (siglen != 2 * flen) {
        return AP_EINVAL;
    }
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int)flen, NULL);
    s = BN_bin2bn(sig + flen, (int)flen, NULL);
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    /* es owns r and s now. */
    n = i2d_ECDSA_SIG(es, &der);
    if (n <= 0) {
        goto out;
    }
    rc = ossl_ecdsa_verify(mbedtls_pk_ec(key->pk), hash, hlen, der,
                           (size_t)n);
out:
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return rc;
}

ap_err
crypto_verify(const struct crypto_key *key, enum crypto_alg alg,
              const void *msg, size_t msglen, const unsigned char *sig,
              size_t siglen)
{
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    const mbedtls_md_info_t *md_info;
    size_t hlen;
    ap_err rc = AP_EINTERNAL;

    if (key == NULL || (unsigned)alg >= CRYPTO_ALG__MAX ||
        (msg == NULL && msglen != 0) || sig == NULL) {
        rc = AP_EINVAL;
        goto out;
    }
    if (!crypto_alg_fits_key(alg, key)) {
        rc = AP_EINVAL;
        goto out;
    }
    md_info = mbedtls_md_info_from_type(alg_table[alg].md);
    if (md_info == NULL) {
        goto out;
    }
    hlen = mbedtls_md_get_size(md_info);
    if (mbedtls_md(md_info, msg, msglen, hash) != 0) {
        goto out;
    }
    if (key->type == CRYPTO_KEY_RSA) {
        rc = verify_rsa(key, alg, hash, hlen, sig, siglen);
    } else {
        rc = verify_ec(key, hash, hlen, sig, siglen);
    }
out:
    return rc;
}

/* ---- hashes -------------------------------------------------------- */

void
crypto_sha256(const void *data, size_t len, unsigned char *out)
{
    const mbedtls_md_info_t *md_info;

    md_info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (md_info == NULL || (data == NULL && len != 0) ||
        mbedtls_md(md_info, data, len, out) != 0) {
        /* Cannot happen with a SHA-256 build; never leave garbage. */
        memset(out, 0, CRYPTO_SHA256_LEN);
    }
}

/* HMAC with the SHA-2 function of md into out (sized for it). */
static ap_err
hmac_md(mbedtls_md_type_t md, const void *key, size_t keylen,
        const void *msg, size_t msglen, unsigned char *out)
{
    const mbedtls_md_info_t *md_info;

    if (out == NULL || (key == NULL && keylen != 0) ||
        (msg == NULL && msglen != 0)) {
        return AP_EINVAL;
    }
    md_info = mbedtls_md_info_from_type(md);
    if (md_info == NULL) {
        return AP_EINTERNAL;
    }
    if (mbedtls_md_hmac(md_info, key != NULL ? key : "", keylen,
                        msg != NULL ? msg : "", msglen, out) != 0) {
        return AP_ECRYPTO;
    }
    return AP_OK;
}

ap_err
crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
                   size_t msglen, unsigned char *out)
{
    return hmac_md(MBEDTLS_MD_SHA256, key, keylen, msg, msglen, out);
}

ap_err
crypto_hmac(const char *alg, const void *key, size_t keylen, const void *msg,
            size_t msglen, unsigned char *out, size_t *outlen)
{
    static const struct {
        const char *name;
        mbedtls_md_type_t md;
        size_t len;
    } hs[] = {
        { "HS256", MBEDTLS_MD_SHA256, 32 },
        { "HS384", MBEDTLS_MD_SHA384, 48 },
        { "HS512", MBEDTLS_MD_SHA512, 64 },
    };

    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        if (strcmp(alg, hs[i].name) == 0) {
            *outlen = hs[i].len;
            return hmac_md(hs[i].md, key, keylen, msg, msglen, out);
        }
    }
    return AP_EINVAL;
}

int
crypto_ct_memcmp(const void *a, const void *b, size_t len)
{
    return mbedtls_ct_memcmp(a, b, len);
}

void
crypto_zeroize(void *p, size_t len)
{
    mbedtls_platform_zeroize(p, len);
}

/* ---- PKCS#10 ------------------------------------------------------- */

/* Where things are inside the DER of one CSR (pointers into its copy). */
struct csr_walk {
    const unsigned char *cn;      /* first commonName value, or NULL */
    size_t cn_len;
    int cn_tag;
    unsigned char *san;           /* subjectAltName extnValue contents */
    size_t san_len;
    bool has_ext_req;
};

static bool
oid_is(const mbedtls_asn1_buf *oid, const char *want, size_t wantlen)
{
    return oid->len == wantlen && memcmp(oid->p, want, wantlen) == 0;
}

#define OID_IS(oid, lit) oid_is((oid), (lit), sizeof(lit) - 1)

/* Reads any TLV header at *p, leaving *p at its contents. */
static int
asn1_any(unsigned char **p, const unsigned char *end, int *tag, size_t *len)
{
    if (end - *p < 1) {
        return MBEDTLS_ERR_ASN1_OUT_OF_DATA;
    }
    *tag = **p;
    (*p)++;
    return mbedtls_asn1_get_len(p, end, len);
}

/* Name ::= SEQUENCE OF SET OF AttributeTypeAndValue (RFC 5280 §4.1.2.4);
 * records the first commonName. An empty Name is fine: mbedTLS 2.28's
 * own CSR parser refuses it, which is why this file walks the CSR. */
static ap_err
walk_name(unsigned char **p, const unsigned char *end, struct csr_walk *w)
{
    unsigned char *set_end;
    unsigned char *atv_end;
    mbedtls_asn1_buf oid;
    size_t len;
    int tag;
    ap_err rc = AP_EPARSE;

    while (*p < end) {
        if (mbedtls_asn1_get_tag(p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                                   MBEDTLS_ASN1_SET) != 0 ||
            len == 0) {
            goto out;
        }
        set_end = *p + len;
        while (*p < set_end) {
            if (mbedtls_asn1_get_tag(p, set_end, &len,
                                     MBEDTLS_ASN1_CONSTRUCTED |
                                         MBEDTLS_ASN1_SEQUENCE) != 0) {
                goto out;
            }
            atv_end = *p + len;
            if (mbedtls_asn1_get_tag(p, atv_end, &oid.len,
                                     MBEDTLS_ASN1_OID) != 0) {
                goto out;
            }
            oid.p = *p;
            *p += oid.len;
            if (asn1_any(p, atv_end, &tag, &len) != 0 ||
                *p + len != atv_end) {
                goto out;
            }
            if (w->cn == NULL && OID_IS(&oid, MBEDTLS_OID_AT_CN)) {
                w->cn = *p;
                w->cn_len = len;
                w->cn_tag = tag;
            }
            *p = atv_end;
        }
    }
    rc = AP_OK;
out:
    return rc;
}

/* Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension (RFC 5280 §4.1). */
static ap_err
walk_extensions(unsigned char **p, const unsigned char *end,
                struct csr_walk *w, char *errbuf, size_t errlen)
{
    mbedtls_asn1_buf seen[CSR_MAX_EXTENSIONS];
    mbedtls_asn1_buf oid;
    unsigned char *exts_end;
    unsigned char *ext_end;
    size_t n_seen = 0;
    size_t len;
    size_t i;
    int critical;
    ap_err rc = AP_EPARSE;

    if (mbedtls_asn1_get_tag(p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                               MBEDTLS_ASN1_SEQUENCE) != 0 ||
        *p + len != end) {
        goto out;
    }
    exts_end = *p + len;
    while (*p < exts_end) {
        rc = AP_EPARSE;
        if (mbedtls_asn1_get_tag(p, exts_end, &len,
                                 MBEDTLS_ASN1_CONSTRUCTED |
                                     MBEDTLS_ASN1_SEQUENCE) != 0) {
            goto out;
        }
        ext_end = *p + len;
        if (mbedtls_asn1_get_tag(p, ext_end, &oid.len, MBEDTLS_ASN1_OID) !=
            0) {
            goto out;
        }
        oid.p = *p;
        *p += oid.len;
        if (*p < ext_end && **p == MBEDTLS_ASN1_BOOLEAN &&
            mbedtls_asn1_get_bool(p, ext_end, &critical) != 0) {
            goto out;
        }
        if (mbedtls_asn1_get_tag(p, ext_end, &len,
                                 MBEDTLS_ASN1_OCTET_STRING) != 0 ||
            *p + len != ext_end) {
            goto out;
        }
        /* RFC 5280 §4.2: at most one instance of each extension. */
        rc = AP_EINVAL;
        for (i = 0; i < n_seen; i++) {
            if (seen[i].len == oid.len &&
                memcmp(seen[i].p, oid.p, oid.len) == 0) {
                set_err(errbuf, errlen,
                        "CSR requests the same extension twice");
                goto out;
            }
        }
        if (n_seen == CSR_MAX_EXTENSIONS) {
            set_err(errbuf, errlen, "CSR requests too many extensions");
            goto out;
        }
        seen[n_seen++] = oid;
        if (OID_IS(&oid, MBEDTLS_OID_SUBJECT_ALT_NAME)) {
            w->san = *p;
            w->san_len = len;
        }
        *p = ext_end;
    }
    rc = AP_OK;
out:
    return rc;
}

/* attributes [0] IMPLICIT SET OF Attribute (RFC 2986 §4.1), where
 * Attribute ::= SEQUENCE { type OID, values SET OF ANY }. */
static ap_err
walk_attributes(unsigned char **p, const unsigned char *end,
                struct csr_walk *w, char *errbuf, size_t errlen)
{
    mbedtls_asn1_buf oid;
    unsigned char *attr_end;
    size_t len;
    ap_err rc = AP_EPARSE;

    while (*p < end) {
        rc = AP_EPARSE;
        if (mbedtls_asn1_get_tag(p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                                   MBEDTLS_ASN1_SEQUENCE) !=
            0) {
            goto out;
        }
        attr_end = *p + len;
        if (mbedtls_asn1_get_tag(p, attr_end, &oid.len, MBEDTLS_ASN1_OID) !=
            0) {
            goto out;
        }
        oid.p = *p;
        *p += oid.len;
        if (mbedtls_asn1_get_tag(p, attr_end, &len,
                                 MBEDTLS_ASN1_CONSTRUCTED |
                                     MBEDTLS_ASN1_SET) != 0 ||
            *p + len != attr_end) {
            goto out;
        }
        if (OID_IS(&oid, MBEDTLS_OID_PKCS9_CSR_EXT_REQ)) {
            if (w->has_ext_req) {
                set_err(errbuf, errlen,
                        "CSR has two extensionRequest attributes");
                rc = AP_EINVAL;
                goto out;
            }
            w->has_ext_req = true;
            /* PKCS#9 extensionRequest is single-valued: the set holds
             * one Extensions, so walk_extensions must consume it all. */
            rc = walk_extensions(p, attr_end, w, errbuf, errlen);
            if (rc != AP_OK) {
                goto out;
            }
        }
        *p = attr_end;
    }
    rc = AP_OK;
out:
    return rc;
}

/* Appends a copy of s[0..len) to *list of *n strings. */
static ap_err
str_list_push(char ***list, size_t *n, const char *s, size_t len)
{
    char **grown;
    char *copy;
    ap_err rc = AP_ENOMEM;

    copy = strndup(s, len);
    if (copy == NULL) {
        goto out;
    }
    grown = realloc(*list, (*n + 1) * sizeof(**list));
    if (grown == NULL) {
        goto out;
    }
    grown[*n] = copy;
    copy = NULL;
    *list = grown;
    (*n)++;
    rc = AP_OK;
out:
    free(copy);
    return rc;
}

static const char *
general_name_kind(int tag)
{
    switch (tag & 0x1f) {
    case 0:
        return "otherName";
    case 1:
        return "rfc822Name";
    case 3:
        return "x400Address";
    case 4:
        return "directoryName";
    case 5:
        return "ediPartyName";
    case 6:
        return "uniformResourceIdentifier";
    case 8:
        return "registeredID";
    default:
        return "unknown";
    }
}

/* GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName (RFC 5280
 * §4.2.1.6). Only dNSName [2] IA5String and iPAddress [7] OCTET STRING
 * can be validated by ACME, so anything else is refused. */
static ap_err
decode_san(const struct csr_walk *w, struct crypto_csr *csr, char *errbuf,
           size_t errlen)
{
    const int tag_dns = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2;
    const int tag_ip = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7;
    char text[INET6_ADDRSTRLEN];
    unsigned char *p = w->san;
    const unsigned char *end = w->san + w->san_len;
    size_t len;
    size_t i;
    int tag;
    int family;
    ap_err rc = AP_EPARSE;

    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
                                                MBEDTLS_ASN1_SEQUENCE) != 0 ||
        p + len != end) {
        set_err(errbuf, errlen, "CSR subjectAltName is not valid DER");
        goto out;
    }
    if (len == 0) {
        set_err(errbuf, errlen, "CSR subjectAltName is empty");
        rc = AP_EINVAL;
        goto out;
    }
    while (p < end) {
        if (asn1_any(&p, end, &tag, &len) != 0) {
            set_err(errbuf, errlen, "CSR subjectAltName is not valid DER");
            rc = AP_EPARSE;
            goto out;
        }
        rc = AP_EINVAL;
        if (csr->n_dns_names + csr->n_ip_addrs >= CRYPTO_CSR_MAX_NAMES) {
            set_err(errbuf, errlen, "CSR has more than %d names",
                    CRYPTO_CSR_MAX_NAMES);
            goto out;
        }
        if (tag == tag_dns) {
            if (len == 0) {
                set_err(errbuf, errlen, "CSR has an empty dNSName");
                goto out;
            }
            for (i = 0; i < len; i++) {
                if (p[i] < 0x20 || p[i] >= 0x7f) {
                    set_err(errbuf, errlen,
                            "CSR dNSName contains a control or non-ASCII "
                            "byte");
                    goto out;
                }
            }
            rc = str_list_push(&csr->dns_names, &csr->n_dns_names,
                               (const char *)p, len);
        } else if (tag == tag_ip) {
            /* RFC 5280 §4.2.1.6: four octets for IPv4, sixteen for IPv6. */
            if (len != 4 && len != 16) {
                set_err(errbuf, errlen,
                        "CSR iPAddress must have 4 or 16 bytes");
                goto out;
            }
            family = (len == 4) ? AF_INET : AF_INET6;
            if (inet_ntop(family, p, text, sizeof(text)) == NULL) {
                rc = AP_EINTERNAL;
                goto out;
            }
            rc = str_list_push(&csr->ip_addrs, &csr->n_ip_addrs, text,
                               strlen(text));
        } else {
            set_err(errbuf, errlen, "unsupported SAN type %s in CSR",
                    general_name_kind(tag));
            goto out;
        }
        if (rc != AP_OK) {
            goto out;
        }
        p += len;
    }
    rc = AP_OK;
out:
    return rc;
}

static ap_err
copy_cn(const struct csr_walk *w, struct crypto_csr *csr, char *errbuf,
        size_t errlen)
{
    size_t i;
    ap_err rc = AP_EINVAL;

    if (w->cn == NULL) {
        rc = AP_OK;
        goto out;
    }
    if (w->cn_tag != MBEDTLS_ASN1_UTF8_STRING &&
        w->cn_tag != MBEDTLS_ASN1_PRINTABLE_STRING &&
        w->cn_tag != MBEDTLS_ASN1_IA5_STRING &&
        w->cn_tag != ASN1_T61_STRING) {
        set_err(errbuf, errlen,
                "CSR commonName must be a UTF8String or PrintableString");
        goto out;
    }
    for (i = 0; i < w->cn_len; i++) {
        if (w->cn[i] < 0x20 || w->cn[i] == 0x7f) {
            set_err(errbuf, errlen, "CSR commonName contains a control byte");
            goto out;
        }
    }
    csr->cn = strndup((const char *)w->cn, w->cn_len);
    if (csr->cn == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = AP_OK;
out:
    return rc;
}

/* key_type, key_bits, curve and pubkey_der of csr from pk. */
static ap_err
describe_key(mbedtls_pk_context *pk, struct crypto_csr *csr, char *errbuf,
             size_t errlen)
{
    unsigned char spki[SPKI_MAX_DER];
    const struct ec_curve *curve;
    const mbedtls_ecp_keypair *ec;
    mbedtls_mpi n;
    int ret;
    ap_err rc = AP_EINTERNAL;

    mbedtls_mpi_init(&n);
    switch (mbedtls_pk_get_type(pk)) {
    case MBEDTLS_PK_RSA:
        /* mbedtls_pk_get_bitlen rounds RSA keys up to whole bytes. */
        ret = mbedtls_rsa_export(mbedtls_pk_rsa(*pk), &n, NULL, NULL, NULL,
                                 NULL);
        if (ret != 0) {
            goto out;
        }
        csr->key_type = CRYPTO_KEY_RSA;
        csr->key_bits = (unsigned)mbedtls_mpi_bitlen(&n);
        csr->curve = NULL;
        break;
    case MBEDTLS_PK_ECKEY:
        ec = mbedtls_pk_ec(*pk);
        curve = (ec != NULL) ? curve_by_id(ec->grp.id) : NULL;
        if (curve == NULL) {
            set_err(errbuf, errlen,
                    "CSR key curve not supported (use P-256, P-384 or "
                    "P-521)");
            rc = AP_EINVAL;
            goto out;
        }
        csr->key_type = CRYPTO_KEY_EC;
        csr->key_bits = curve->bits;
        csr->curve = curve->crv;
        break;
    default:
        set_err(errbuf, errlen, "CSR key type not supported");
        rc = AP_EINVAL;
        goto out;
    }
    /* mbedtls_pk_write_pubkey_der writes at the end of the buffer. */
    ret = mbedtls_pk_write_pubkey_der(pk, spki, sizeof(spki));
    if (ret <= 0) {
        set_mbed_err(errbuf, errlen, "cannot encode CSR key", ret);
        goto out;
    }
    csr->pubkey_der = malloc((size_t)ret);
    if (csr->pubkey_der == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(csr->pubkey_der, spki + sizeof(spki) - (size_t)ret, (size_t)ret);
    csr->pubkey_der_len = (size_t)ret;
    rc = AP_OK;
out:
    mbedtls_mpi_free(&n);
    return rc;
}

/* Checks the self-signature over the CRI bytes. */
static ap_err
check_csr_signature(mbedtls_pk_context *pk, const unsigned char *cri,
                    size_t cri_len, const mbedtls_x509_buf *sig_oid,
                    const mbedtls_x509_buf *sig_params,
                    const mbedtls_x509_buf *sig, char *errbuf, size_t errlen)
{
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    const mbedtls_md_info_t *md_info;
    mbedtls_md_type_t md = MBEDTLS_MD_NONE;
    mbedtls_pk_type_t pk_alg = MBEDTLS_PK_NONE;
    const mbedtls_ecp_keypair *ec;
    void *sig_opts = NULL;
    int ret;
    ap_err rc = AP_EINTERNAL;

    ret = mbedtls_x509_get_sig_alg(sig_oid, sig_params, &md, &pk_alg,
                                   &sig_opts);
    if (ret != 0) {
        set_mbed_err(errbuf, errlen, "CSR signature algorithm not supported",
                     ret);
        rc = AP_EINVAL;
        goto out;
    }
    /* CA/Browser Forum BR §7.1.3.2: no SHA-1 (or weaker) signatures. */
    if (md != MBEDTLS_MD_SHA256 && md != MBEDTLS_MD_SHA384 &&
        md != MBEDTLS_MD_SHA512) {
        set_err(errbuf, errlen,
                "CSR signature hash must be SHA-256, SHA-384 or SHA-512");
        rc = AP_EINVAL;
        goto out;
    }
    md_info = mbedtls_md_info_from_type(md);
    if (md_info == NULL || mbedtls_md(md_info, cri, cri_len, hash) != 0) {
        goto out;
    }
    ec = mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY) ? mbedtls_pk_ec(*pk) : NULL;
    if (pk_alg == MBEDTLS_PK_ECDSA && ec != NULL &&
        ossl_group(ec->grp.id) != NULL) {
        /* The signature is DER already (X.509 form). */
        rc = ossl_ecdsa_verify(ec, hash, mbedtls_md_get_size(md_info),
                               sig->p, sig->len);
        if (rc == AP_ECRYPTO) {
            set_err(errbuf, errlen, "CSR signature does not verify");
        }
        goto out;
    }
    ret = mbedtls_pk_verify_ext(pk_alg, sig_opts, pk, md, hash,
                                mbedtls_md_get_size(md_info), sig->p,
                                sig->len);
    if (ret != 0) {
        set_mbed_err(errbuf, errlen, "CSR signature does not verify", ret);
        rc = AP_ECRYPTO;
        goto out;
    }
    rc = AP_OK;
out:
    mbedtls_free(sig_opts);
    return rc;
}

static ap_err
csr_parse(const unsigned char *der, size_t len, bool verify,
          struct crypto_csr **out, char *errbuf, size_t errlen)
{
    struct crypto_csr *csr = NULL;
    struct csr_walk w;
    mbedtls_pk_context pk;
    mbedtls_x509_buf sig_oid;
    mbedtls_x509_buf sig_params;
    mbedtls_x509_buf sig;
    unsigned char *buf = NULL;
    unsigned char *p;
    unsigned char *end;
    unsigned char *cri;
    unsigned char *cri_end;
    size_t tlen;
    int version;
    int ret;
    ap_err rc = AP_EINTERNAL;

    memset(&w, 0, sizeof(w));
    memset(&sig_oid, 0, sizeof(sig_oid));
    memset(&sig_params, 0, sizeof(sig_params));
    memset(&sig, 0, sizeof(sig));
    mbedtls_pk_init(&pk);
    if (out == NULL || (der == NULL && len != 0)) {
        rc = AP_EINVAL;
        goto out;
    }
    if (len == 0) {
        set_err(errbuf, errlen, "CSR is empty");
        rc = AP_EPARSE;
        goto out;
    }
    if (len > CRYPTO_CSR_MAX_DER) {
        set_err(errbuf, errlen, "CSR is larger than %d bytes",
                CRYPTO_CSR_MAX_DER);
        rc = AP_ETOOBIG;
        goto out;
    }
    /* The mbedTLS ASN.1 readers take non-const pointers. */
    buf = malloc(len);
    if (buf == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(buf, der, len);
    p = buf;
    end = buf + len;

    /* RFC 2986 §4: CertificationRequest ::= SEQUENCE {
     *   certificationRequestInfo, signatureAlgorithm, signature } */
    rc = AP_EPARSE;
    if (mbedtls_asn1_get_tag(&p, end, &tlen, MBEDTLS_ASN1_CONSTRUCTED |
                                                 MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        p + tlen != end) {
        set_err(errbuf, errlen, "CSR is not a DER SEQUENCE");
        goto out;
    }
    cri = p;
    if (mbedtls_asn1_get_tag(&p, end, &tlen, MBEDTLS_ASN1_CONSTRUCTED |
                                                 MBEDTLS_ASN1_SEQUENCE) !=
        0) {
        set_err(errbuf, errlen, "CSR has no CertificationRequestInfo");
        goto out;
    }
    cri_end = p + tlen;
    if (mbedtls_asn1_get_int(&p, cri_end, &version) != 0 || version != 0) {
        set_err(errbuf, errlen, "CSR version is not v1 (0)");
        goto out;
    }
    if (mbedtls_asn1_get_tag(&p, cri_end, &tlen, MBEDTLS_ASN1_CONSTRUCTED |
                                                     MBEDTLS_ASN1_SEQUENCE) !=
        0) {
        set_err(errbuf, errlen, "CSR subject is not a Name");
        goto out;
    }
    rc = walk_name(&p, p + tlen, &w);
    if (rc != AP_OK) {
        set_err(errbuf, errlen, "CSR subject is not a valid Name");
        goto out;
    }
    ret = mbedtls_pk_parse_subpubkey(&p, cri_end, &pk);
    if (ret != 0) {
        if (ret == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG) {
            set_err(errbuf, errlen, "CSR key type not supported");
            rc = AP_EINVAL;
        } else if (ret == MBEDTLS_ERR_PK_ALLOC_FAILED) {
            rc = AP_ENOMEM;
        } else {
            set_mbed_err(errbuf, errlen, "CSR public key is invalid", ret);
            rc = AP_EPARSE;
        }
        goto out;
    }
    /* Attributes are mandatory in RFC 2986, but some encoders leave an
     * empty [0] out altogether. */
    if (p < cri_end) {
        if (mbedtls_asn1_get_tag(&p, cri_end, &tlen,
                                 MBEDTLS_ASN1_CONSTRUCTED |
                                     MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0) !=
                0 ||
            p + tlen != cri_end) {
            set_err(errbuf, errlen, "CSR attributes are not valid DER");
            rc = AP_EPARSE;
            goto out;
        }
        rc = walk_attributes(&p, cri_end, &w, errbuf, errlen);
        if (rc == AP_EPARSE) {
            set_err(errbuf, errlen, "CSR attributes are not valid DER");
        }
        if (rc != AP_OK) {
            goto out;
        }
    }
    if (mbedtls_x509_get_alg(&p, end, &sig_oid, &sig_params) != 0 ||
        mbedtls_x509_get_sig(&p, end, &sig) != 0 || p != end) {
        set_err(errbuf, errlen, "CSR signature is not valid DER");
        rc = AP_EPARSE;
        goto out;
    }

    rc = !verify ? AP_OK
                 : check_csr_signature(&pk, cri, (size_t)(cri_end - cri),
                                       &sig_oid, &sig_params, &sig, errbuf,
                                       errlen);
    if (rc != AP_OK) {
        goto out;
    }

    csr = calloc(1, sizeof(*csr));
    if (csr == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = describe_key(&pk, csr, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = copy_cn(&w, csr, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    if (w.san != NULL) {
        rc = decode_san(&w, csr, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }
    rc = AP_OK;
out:
    mbedtls_pk_free(&pk);
    free(buf);
    if (rc != AP_OK) {
        crypto_csr_free(csr);
        csr = NULL;
    } else {
        *out = csr;
    }
    return rc;
}

ap_err
crypto_csr_parse(const unsigned char *der, size_t len,
                 struct crypto_csr **out, char *errbuf, size_t errlen)
{
    return csr_parse(der, len, true, out, errbuf, errlen);
}

ap_err
crypto_csr_read(const unsigned char *der, size_t len,
                struct crypto_csr **out, char *errbuf, size_t errlen)
{
    return csr_parse(der, len, false, out, errbuf, errlen);
}

void
crypto_csr_free(struct crypto_csr *csr)
{
    size_t i;

    if (csr == NULL) {
        return;
    }
    free(csr->cn);
    for (i = 0; i < csr->n_dns_names; i++) {
        free(csr->dns_names[i]);
    }
    free(csr->dns_names);
    for (i = 0; i < csr->n_ip_addrs; i++) {
        free(csr->ip_addrs[i]);
    }
    free(csr->ip_addrs);
    free(csr->pubkey_der);
    free(csr);
}

ap_err
crypto_key_spki_der(const struct crypto_key *key, unsigned char **der,
                    size_t *len)
{
    unsigned char spki[SPKI_MAX_DER];
    unsigned char *copy;
    int ret;

    ret = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)(uintptr_t)&key->pk,
                                      spki, sizeof(spki));
    if (ret <= 0) {
        return AP_ECRYPTO;
    }
    copy = malloc((size_t)ret);
    if (copy == NULL) {
        return AP_ENOMEM;
    }
    memcpy(copy, spki + sizeof(spki) - (size_t)ret, (size_t)ret);
    *der = copy;
    *len = (size_t)ret;
    return AP_OK;
}
