/* test/unit/test_jwk.c: common/jwk.c (JWK keys, thumbprints, JWS
 * verification on OpenSSL) against published and openssl-made vectors.
 *
 * Vectors are embedded below (test/unit/vectors/README.md says how the
 * generated ones were made); spki_p256.der comes from that directory.
 * mbedTLS serves as an independent second encoder of every key's
 * SubjectPublicKeyInfo. Every table row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"
#include "test/unit/vector_file.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/jwk.h"

/* ---- vectors ------------------------------------------------------- */

/* RFC 7515 Appendix A.2: RS256. */
#define A2_N                                                              \
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw" \
    "-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690" \
    "r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-U" \
    "To7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyx" \
    "XFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
#define A2_JWK "{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAB\"}"
#define RFC7515_PAYLOAD                                                   \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl" \
    "LmNvbS9pc19yb290Ijp0cnVlfQ"
#define A2_INPUT "eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD
#define A2_SIG                                                            \
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuH" \
    "Im4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdi" \
    "uB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN" \
    "9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2" \
    "w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77" \
    "Rw"
/* The same modulus with a leading zero octet (RFC 7518 §6.3.1.1 forbids). */
#define A2_N_ZERO                                                         \
    "AKH4Fgri48m0Zc6NLWViYzYrkn2-KeHwJHf8FiXMkKE244vZNJfFtupj3XcR5nx0KflW" \
    "sPuKjwia3EtpiTzBMz9T7dAZuHeEJS_skU_khXdpWUvqQoDTLA9Vv2KUTxMDlrxum99u" \
    "vdK9o2eO7KDGaPcBs42_-zjINCzi_m0n-t5KWkh0l53Uuc-a3sTHWwWFLCwPXvilwXUD" \
    "kvlE6O1kwRDGtkdgmqR4OuucbJrXVTEwUGOLg2Zcb296gqOWcCofZBuC0-vyOSIZSR-2" \
    "hocsVxb1Cvg1jZqLnRfDQHKPf4fYmhjY_KtnrYRZDC7PdZM5NjwHA01vYG-eIeBUVsrl" \
    "6aE"

/* RFC 7515 Appendix A.3: ES256. */
#define A3_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A3_JWK                                                            \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y "\"}"
#define A3_INPUT "eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD
#define A3_SIG                                                            \
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ" \
    "xfKTUJqPP3-Kg6NU1Q"
/* RFC 7638 §3 canonical form of the A.3 key, and its thumbprint
 * (computed with Python's hashlib, independently of crypto.c). */
#define A3_CANONICAL                                                      \
    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y "\"}"
#define A3_THUMBPRINT "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"

/* RFC 7638 §3.1. */
#define RFC7638_N                                                         \
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1R" \
    "K7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9" \
    "yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZg" \
    "nYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6We" \
    "Zu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDK" \
    "gw"
#define RFC7638_JWK                                                       \
    "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\","            \
    "\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}"
#define RFC7638_THUMBPRINT "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

/* Made with openssl 3.0 by test/unit/vectors/gen.sh (see README.md). */
#define ES384_X "kQufg0th6han5Gl4aaSLIA6xYKCVZt2UI8vPfpzLs7-ExXzhkBHqLkopPfyZhSkh"
#define ES384_Y "cGnFrZiMrzNau7A6kXgXegwu7ufmIimLnCT_kzy6Ft6nDdn6YTmTSUsGoZiXLdJR"
#define ES384_JWK                                                         \
    "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" ES384_X "\",\"y\":\""    \
    ES384_Y "\"}"
#define ES384_INPUT "eyJhbGciOiJFUzM4NCJ9.eyJ2ZWN0b3IiOiJFUzM4NCJ9"
#define ES384_SIG                                                         \
    "5nMo-nY3QlKg1yzNSqPUpIvce6fju7pH9M2AWgkUewVFXh3Gi3WFMvUwHFq25MRJ"    \
    "nsg7EXSJxXQCERSS6me0unSU9zl_DM_O9-HtE3LpnHSOipiLXS6Acx7Nq2muSz4M"
#define ES384_THUMBPRINT "_q3ECzzyk5fITSBcUpQt7md-ee5Jd6tAAkanFhK9mL0"

#define ES512_X                                                           \
    "ADrE4D7yooJWQs3ebRy7nqXF0ilfXcRexTc3Cpo3ZNyLaZvwjnRHQprc_4yDEJMv"    \
    "puCgEDCmk0my41msZlnfgtmU"
#define ES512_Y                                                           \
    "AIZ427NYRMS7POJ5rjqrYRPPfJplwnZ3Wtme7Ogx1P5l2LSPLbedcdcvxPvORBTX"    \
    "L3j2OyMJgdne97GnJrNssWN3"
#define ES512_JWK                                                         \
    "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"" ES512_X "\",\"y\":\""    \
    ES512_Y "\"}"
#define ES512_INPUT "eyJhbGciOiJFUzUxMiJ9.eyJ2ZWN0b3IiOiJFUzUxMiJ9"
#define ES512_SIG                                                         \
    "ATMCUudwEoSfRDZdJKM3hwdSlLV2IiuRWXnseJHgZJeGa-L_9dLc9m9NUyaiPKSz"    \
    "IC0Y1un6b73_WMM8sQLgqE-xAXsST9GjYO7oZyvnIuJBPm-qAh2sjF7wzULVuxh0"    \
    "rqNm10-rCV4rsgl-MnacNGWu3IHQkDHwVQ_lMjhgElGNiUWM"
#define ES512_THUMBPRINT "PldEBD00i2weU-_JmX0aL4_YA4TRg4zTkDHELJXk8hA"

/* One 2048-bit RSA key: PS256 with a 32-byte salt, PS256 with the
 * maximum salt (accepted, as josepy signs), RS256. */
#define PS256_N                                                           \
    "4bCjq68iga3rvSdB3qPIg-CDDf_KJjBIkFlaG9AGVRrczuqoYGIwnCUMyTy_EV8a"    \
    "mFKl4cpQT5_NiJu38tw9CYNAF2V3vqFBH5NUQRMPL3RX8FOuQOQ0suHijzSbJP-i"    \
    "mnAyrI9zthpasgmWAsWfrrfOwDcsxo3tA8ZdA2cmuqQyrT1vt6tkE2v-aZu-aP-I"    \
    "9tHR7MaTnhf6_w7NL8J3xLzOAOjbqrG-Ty-v81Nnv_YEMwR4Jk7vLlWRvkbQrHWZ"    \
    "k7np2-Zc873tgkgWvKyDFRlyWst4M-dl74yAvxQfRtD_Z2sUNrmKNjgRt4MULJoc"    \
    "eM4JVolxdpsh9UaZ7YDs2w"
#define PS256_JWK "{\"kty\":\"RSA\",\"n\":\"" PS256_N "\",\"e\":\"AQAB\"}"
#define PS256_THUMBPRINT "m5NXiurpkbdcHHAoPGeAPv1xT-mH_FlAjyMrP6OzOpI"
#define PS256_INPUT "eyJhbGciOiJQUzI1NiJ9.eyJ2ZWN0b3IiOiJQUzI1NiJ9"
#define PS256_SIG                                                         \
    "pnDRVJ0wJ2Zx1NSKpiHmo6a2doKGpbCdRNaOdBw7B27NPT9UB_OiOazT2sWPIWii"    \
    "AEdzJz0UUat1_0zble0G9q4oU3HzCugBG9mUOihekMxqV7WTeGO4ISCc5F4sLVW-"    \
    "qVfuJNl20nkNFGkeXuJklzuLzwt8nVCaCjxgrQ2aATIeJhlu9q7-yGQchCOGLv6P"    \
    "OPvJ80TwoVKjx6PrON2cBp6X-cT6_wWBGpJLgPKpmPZW_uvm3F51fJBYQDX-0LZc"    \
    "5BKazghv22iKxwjjv9FlztQSdAV4zGOQ8vRNsgXFVac-n6X7MbuYcfsai16Vzlmz"    \
    "-uLJwLWS0s30evJ81EUETA"
#define PS256_MAXSALT_SIG                                                 \
    "w7ZSzprxI3pkrK_pmppbKpothBgy4W95-gPwfoiJpmbVv-cRsMCbADdYLMZN7Is7"    \
    "IN0EHoE9LSrqoaDhgWkewAF4hMNxyx-SP0ST5W-iFa_FsVVmZYEhgN9Y3viXPdaq"    \
    "7bUjWvi3_axUMsbHscJYwcsmaIl5njIxmf77PKD5LOZrkzKkWOVob-OsyE11wLWs"    \
    "KZyJ61cF6JFwzMOt5VtOrwwaDCV4nNsiHiXNYpCFdYZme-RD7uto3BffY4hm_kGj"    \
    "GLlmpyI3NGUOlBdQPfnk5WlCCqW4pb3FNOBSw3m1hERduWJhSJnf1v8hT3i_JCC4"    \
    "ztUbORfzZ1m_U87-iSXoSg"
#define RS256_INPUT "eyJhbGciOiJSUzI1NiJ9.eyJ2ZWN0b3IiOiJSUzI1NiJ9"
#define RS256_SIG                                                         \
    "OCAZtFPxsd2OpL4IJJE0RVw93fWh6J-ICbwdQ0v_ruMlQGMAbfnqtlZv4S3ZxMDH"    \
    "w1GK5Lv1F6xjr5g_DFw5MMyHVdkQLdTLFepDc4MSucYQtOv7pIrIvSQyT0sa2fDE"    \
    "cDC0Z9x-mzB5C9q-JdtBjB1CblmEyNBNgIP0Eu85TpLOt8THTpcOanyexMv7CmfQ"    \
    "X8kKwhRJU7YJxhtCMQAM0qPdicMrUIekPyxhi4PA1_31i1Ac4mhZYiwVU4Y_epJc"    \
    "_7HrUfBbstfBtwccyjYm-T2Jz71uO2ukKnEdqpM0XmfceEcWlD7dEZ3R--kxOeNm"    \
    "iN5T0m9hFHpLPt0H5IgX5A"

/* A 1024-bit modulus (openssl genrsa 1024), to be refused. */
#define RSA1024_N                                                         \
    "qsuSEdewGlNXJHhd-SRS1VTpGU1Kn8hag-urYgJMhr68fUlPjltJ_IBm8Ye0E5yI"    \
    "XkOk4U6T4nZq-zNEDOeyDH0XIJ9_PMHJZC43Hoo5gy4LdFb7iLOLTjW8W7ld_iyz"    \
    "Pm9I25rO9Yfbv3GZWyydBGXPW9M2gOeTmZVd2zv7iXM"

/* Moduli made of 0xff octets (odd, so plausible to the parser): the
 * size bounds. U<k> is k base64url characters of 0xff octets. */
#define U4 "____"
#define U16 U4 U4 U4 U4
#define U64 U16 U16 U16 U16
#define U256 U64 U64 U64 U64
#define N8192 U256 U256 U256 U256 U256 U64 U16 U4 "_w"      /* 1024 x ff */
#define N8193 "Af__" U256 U256 U256 U256 U256 U64 U16 "__8" /* 01, ff... */
#define N2047 "f___" U256 U64 U16 "_w"                     /* 7f, ff... */
#define N2048_EVEN U256 U64 U16 U4 "_g"             /* 255 x ff, fe */
/* The P-256 field prime p as a coordinate: not below p, to be refused. */
#define P256_P "_____wAAAAEAAAAAAAAAAAAAAAD_______________8"

/* ---- helpers ------------------------------------------------------- */

static struct crypto_key *
key_from_json(const char *json)
{
    struct crypto_key *key = NULL;
    char errbuf[256] = "";
    cJSON *jwk;
    ap_err rc;

    jwk = cJSON_Parse(json);
    assert_non_null(jwk);
    rc = crypto_jwk_parse(jwk, &key, errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        print_error("crypto_jwk_parse: %s: %s\n", ap_strerror(rc), errbuf);
    }
    assert_int_equal(rc, AP_OK);
    cJSON_Delete(jwk);
    return key;
}

static unsigned char *
b64_decode(const char *s, size_t *len)
{
    unsigned char *out = NULL;

    assert_int_equal(b64url_decode_alloc(s, strlen(s), &out, len), AP_OK);
    return out;
}

/* ---- crypto_alg_parse ---------------------------------------------- */

struct alg_row {
    const char *name;
    ap_err want;
    enum crypto_alg alg;
};

static const struct alg_row alg_rows[] = {
    { "RS256", AP_OK, CRYPTO_ALG_RS256 },
    { "PS256", AP_OK, CRYPTO_ALG_PS256 },
    { "ES256", AP_OK, CRYPTO_ALG_ES256 },
    { "ES384", AP_OK, CRYPTO_ALG_ES384 },
    { "ES512", AP_OK, CRYPTO_ALG_ES512 },
    { "none", AP_EINVAL, CRYPTO_ALG__MAX },
    { "HS256", AP_EINVAL, CRYPTO_ALG__MAX },
    { "EdDSA", AP_EINVAL, CRYPTO_ALG__MAX },
    { "es256", AP_EINVAL, CRYPTO_ALG__MAX },
    { "RS384", AP_EINVAL, CRYPTO_ALG__MAX },
    { "ES256 ", AP_EINVAL, CRYPTO_ALG__MAX },
    { "", AP_EINVAL, CRYPTO_ALG__MAX },
};

static void
test_alg_parse(void **state)
{
    const struct alg_row *row = *state;
    enum crypto_alg alg = CRYPTO_ALG__MAX;

    assert_int_equal(crypto_alg_parse(row->name, &alg), row->want);
    assert_int_equal(alg, row->alg);
    if (row->want == AP_OK) {
        assert_string_equal(crypto_alg_name(alg), row->name);
        assert_non_null(strstr(crypto_alg_list(), row->name));
    }
}

static void
test_alg_misc(void **state)
{
    enum crypto_alg alg = CRYPTO_ALG_ES256;

    (void)state;
    assert_int_equal(crypto_alg_parse(NULL, &alg), AP_EINVAL);
    assert_int_equal(alg, CRYPTO_ALG_ES256);
    assert_string_equal(crypto_alg_list(), "RS256 PS256 ES256 ES384 ES512");
    assert_string_equal(crypto_alg_name(CRYPTO_ALG__MAX), "unknown");
}

/* ---- crypto_verify ------------------------------------------------- */

enum sig_mutation {
    MUT_NONE,
    MUT_FLIP_SIG,  /* flip one bit of the signature */
    MUT_FLIP_MSG,  /* flip one bit of the signing input */
    MUT_TRUNC_SIG, /* drop the last signature byte */
    MUT_LONG_SIG,  /* append a zero byte */
    MUT_ZERO_SIG,  /* all-zero signature (r = s = 0 for ECDSA) */
    MUT_EMPTY_SIG,
    MUT_FF_SIG,    /* all 0xff: r, s >= n for ECDSA, >= the modulus for RSA */
    MUT_ZERO_R,    /* ECDSA r = 0 with the original s */
    MUT_NULL_SIG,  /* sig pointer NULL */
    MUT_NULL_MSG,  /* msg pointer NULL with its length */
};

struct verify_row {
    const char *name;
    const char *jwk;
    enum crypto_alg alg;
    const char *input;
    const char *sig;
    enum sig_mutation mut;
    ap_err want;
};

static const struct verify_row verify_good[] = {
    { "RFC 7515 A.2 RS256", A2_JWK, CRYPTO_ALG_RS256, A2_INPUT, A2_SIG,
      MUT_NONE, AP_OK },
    { "RFC 7515 A.3 ES256", A3_JWK, CRYPTO_ALG_ES256, A3_INPUT, A3_SIG,
      MUT_NONE, AP_OK },
    { "openssl ES384", ES384_JWK, CRYPTO_ALG_ES384, ES384_INPUT, ES384_SIG,
      MUT_NONE, AP_OK },
    { "openssl ES512", ES512_JWK, CRYPTO_ALG_ES512, ES512_INPUT, ES512_SIG,
      MUT_NONE, AP_OK },
    { "openssl PS256", PS256_JWK, CRYPTO_ALG_PS256, PS256_INPUT, PS256_SIG,
      MUT_NONE, AP_OK },
    { "openssl RS256", PS256_JWK, CRYPTO_ALG_RS256, RS256_INPUT, RS256_SIG,
      MUT_NONE, AP_OK },
};

static const struct verify_row verify_bad[] = {
    { "A.2 flipped signature bit", A2_JWK, CRYPTO_ALG_RS256, A2_INPUT,
      A2_SIG, MUT_FLIP_SIG, AP_ECRYPTO },
    { "A.2 flipped message bit", A2_JWK, CRYPTO_ALG_RS256, A2_INPUT, A2_SIG,
      MUT_FLIP_MSG, AP_ECRYPTO },
    { "A.3 flipped signature bit", A3_JWK, CRYPTO_ALG_ES256, A3_INPUT,
      A3_SIG, MUT_FLIP_SIG, AP_ECRYPTO },
    { "A.3 flipped message bit", A3_JWK, CRYPTO_ALG_ES256, A3_INPUT, A3_SIG,
      MUT_FLIP_MSG, AP_ECRYPTO },
    { "ES384 flipped signature bit", ES384_JWK, CRYPTO_ALG_ES384,
      ES384_INPUT, ES384_SIG, MUT_FLIP_SIG, AP_ECRYPTO },
    { "ES512 flipped message bit", ES512_JWK, CRYPTO_ALG_ES512, ES512_INPUT,
      ES512_SIG, MUT_FLIP_MSG, AP_ECRYPTO },
    { "ES384 r = s = 0", ES384_JWK, CRYPTO_ALG_ES384, ES384_INPUT,
      ES384_SIG, MUT_ZERO_SIG, AP_ECRYPTO },
    { "PS256 flipped signature bit", PS256_JWK, CRYPTO_ALG_PS256,
      PS256_INPUT, PS256_SIG, MUT_FLIP_SIG, AP_ECRYPTO },
    { "PS256 maximum-salt signature, flipped bit", PS256_JWK,
      CRYPTO_ALG_PS256, PS256_INPUT, PS256_MAXSALT_SIG, MUT_FLIP_SIG,
      AP_ECRYPTO },
    /* josepy (certbot, python3-acme) signs PS256 with the maximum salt
     * length; RFC 7518 §3.5 says hash length, but PSS verification does
     * not need the salt length to be secure, so any is accepted. */
    { "PS256 with maximum salt length", PS256_JWK, CRYPTO_ALG_PS256,
      PS256_INPUT, PS256_MAXSALT_SIG, MUT_NONE, AP_OK },
    { "PS256 signature checked as RS256", PS256_JWK, CRYPTO_ALG_RS256,
      PS256_INPUT, PS256_SIG, MUT_NONE, AP_ECRYPTO },
    { "RS256 signature checked as PS256", PS256_JWK, CRYPTO_ALG_PS256,
      RS256_INPUT, RS256_SIG, MUT_NONE, AP_ECRYPTO },
    { "RS256 all-zero signature", A2_JWK, CRYPTO_ALG_RS256, A2_INPUT,
      A2_SIG, MUT_ZERO_SIG, AP_ECRYPTO },
    { "ES256 signature on a P-384 key", ES384_JWK, CRYPTO_ALG_ES256,
      A3_INPUT, A3_SIG, MUT_NONE, AP_EINVAL },
    { "ES512 alg on a P-384 key", ES384_JWK, CRYPTO_ALG_ES512, ES384_INPUT,
      ES384_SIG, MUT_NONE, AP_EINVAL },
    { "RS256 alg on an EC key", A3_JWK, CRYPTO_ALG_RS256, A2_INPUT, A2_SIG,
      MUT_NONE, AP_EINVAL },
    { "ES256 alg on an RSA key", A2_JWK, CRYPTO_ALG_ES256, A3_INPUT, A3_SIG,
      MUT_NONE, AP_EINVAL },
    { "ES256 signature one byte short", A3_JWK, CRYPTO_ALG_ES256, A3_INPUT,
      A3_SIG, MUT_TRUNC_SIG, AP_EINVAL },
    { "ES384 signature one byte long", ES384_JWK, CRYPTO_ALG_ES384,
      ES384_INPUT, ES384_SIG, MUT_LONG_SIG, AP_EINVAL },
    { "RS256 signature one byte short", A2_JWK, CRYPTO_ALG_RS256, A2_INPUT,
      A2_SIG, MUT_TRUNC_SIG, AP_EINVAL },
    { "PS256 signature one byte long", PS256_JWK, CRYPTO_ALG_PS256,
      PS256_INPUT, PS256_SIG, MUT_LONG_SIG, AP_EINVAL },
    { "ES512 empty signature", ES512_JWK, CRYPTO_ALG_ES512, ES512_INPUT,
      ES512_SIG, MUT_EMPTY_SIG, AP_EINVAL },
    { "alg out of range", A3_JWK, CRYPTO_ALG__MAX, A3_INPUT, A3_SIG,
      MUT_NONE, AP_EINVAL },
    { "ES256 r and s all ones (>= n)", A3_JWK, CRYPTO_ALG_ES256, A3_INPUT,
      A3_SIG, MUT_FF_SIG, AP_ECRYPTO },
    { "ES512 r and s all ones (>= n)", ES512_JWK, CRYPTO_ALG_ES512,
      ES512_INPUT, ES512_SIG, MUT_FF_SIG, AP_ECRYPTO },
    { "ES256 r = 0", A3_JWK, CRYPTO_ALG_ES256, A3_INPUT, A3_SIG, MUT_ZERO_R,
      AP_ECRYPTO },
    { "RS256 signature above the modulus", A2_JWK, CRYPTO_ALG_RS256,
      A2_INPUT, A2_SIG, MUT_FF_SIG, AP_ECRYPTO },
    { "PS256 signature above the modulus", PS256_JWK, CRYPTO_ALG_PS256,
      PS256_INPUT, PS256_SIG, MUT_FF_SIG, AP_ECRYPTO },
    { "NULL signature", A3_JWK, CRYPTO_ALG_ES256, A3_INPUT, A3_SIG,
      MUT_NULL_SIG, AP_EINVAL },
    { "NULL message with a length", A3_JWK, CRYPTO_ALG_ES256, A3_INPUT,
      A3_SIG, MUT_NULL_MSG, AP_EINVAL },
};

static void
test_verify(void **state)
{
    const struct verify_row *row = *state;
    struct crypto_key *key;
    unsigned char *sig;
    unsigned char *sigbuf;
    char *msg;
    size_t siglen;
    size_t msglen;

    key = key_from_json(row->jwk);
    sig = b64_decode(row->sig, &siglen);
    sigbuf = calloc(1, siglen + 1);
    assert_non_null(sigbuf);
    memcpy(sigbuf, sig, siglen);
    msg = strdup(row->input);
    assert_non_null(msg);
    msglen = strlen(msg);
    switch (row->mut) {
    case MUT_NONE:
        break;
    case MUT_FLIP_SIG:
        sigbuf[siglen / 2] ^= 0x01;
        break;
    case MUT_FLIP_MSG:
        msg[msglen - 1] ^= 0x01;
        break;
    case MUT_TRUNC_SIG:
        siglen--;
        break;
    case MUT_LONG_SIG:
        siglen++;
        break;
    case MUT_ZERO_SIG:
        memset(sigbuf, 0, siglen);
        break;
    case MUT_EMPTY_SIG:
        siglen = 0;
        break;
    case MUT_FF_SIG:
        memset(sigbuf, 0xff, siglen);
        break;
    case MUT_ZERO_R:
        memset(sigbuf, 0, siglen / 2);
        break;
    case MUT_NULL_SIG:
    case MUT_NULL_MSG:
        break;
    }
    assert_int_equal(
        crypto_verify(key, row->alg, row->mut == MUT_NULL_MSG ? NULL : msg,
                      msglen, row->mut == MUT_NULL_SIG ? NULL : sigbuf,
                      siglen),
        row->want);
    /* A verification never changes the key: the good case still holds. */
    if (row->want == AP_OK) {
        assert_int_equal(
            crypto_verify(key, row->alg, msg, msglen, sigbuf, siglen),
            AP_OK);
    }
    free(msg);
    free(sigbuf);
    free(sig);
    crypto_key_free(key);
}

static void
test_alg_fits_key(void **state)
{
    struct crypto_key *rsa = key_from_json(A2_JWK);
    struct crypto_key *p256 = key_from_json(A3_JWK);
    struct crypto_key *p384 = key_from_json(ES384_JWK);
    struct crypto_key *p521 = key_from_json(ES512_JWK);

    (void)state;
    assert_true(crypto_alg_fits_key(CRYPTO_ALG_RS256, rsa));
    assert_true(crypto_alg_fits_key(CRYPTO_ALG_PS256, rsa));
    assert_false(crypto_alg_fits_key(CRYPTO_ALG_ES256, rsa));
    assert_true(crypto_alg_fits_key(CRYPTO_ALG_ES256, p256));
    assert_false(crypto_alg_fits_key(CRYPTO_ALG_ES384, p256));
    assert_false(crypto_alg_fits_key(CRYPTO_ALG_RS256, p256));
    assert_true(crypto_alg_fits_key(CRYPTO_ALG_ES384, p384));
    assert_false(crypto_alg_fits_key(CRYPTO_ALG_ES512, p384));
    assert_true(crypto_alg_fits_key(CRYPTO_ALG_ES512, p521));
    assert_false(crypto_alg_fits_key(CRYPTO_ALG_ES256, p521));
    assert_false(crypto_alg_fits_key(CRYPTO_ALG__MAX, p521));
    assert_false(crypto_alg_fits_key(CRYPTO_ALG_ES256, NULL));
    crypto_key_free(rsa);
    crypto_key_free(p256);
    crypto_key_free(p384);
    crypto_key_free(p521);
}

/* Many threads verify with the same keys at once (each key's set-up
 * verification contexts are made by whichever thread comes first: for
 * the RSA key of PS256_JWK one for RS256 and one for PS256), good and
 * bad signatures alternating, and make keys of their own from the shared
 * curve templates (run it under valgrind --tool=helgrind or TSan to see
 * races, ASan for misuse). */
struct verify_thread_arg {
    const struct crypto_key *rsa;
    const struct crypto_key *ec;
    const struct crypto_key *ps;
    const unsigned char *ps_sig;
    size_t ps_siglen;
    const unsigned char *rs_sig;
    size_t rs_siglen;
    const unsigned char *rsa_sig;
    size_t rsa_siglen;
    const unsigned char *ec_sig;
    size_t ec_siglen;
    int failures;
};

static void *
verify_thread(void *p)
{
    struct verify_thread_arg *arg = p;
    int i;

    for (i = 0; i < 20; i++) {
        struct crypto_key *mine = NULL;
        cJSON *jwk = cJSON_Parse(i % 2 == 0 ? A3_JWK : ES512_JWK);

        /* Keys made at the same time from the shared curve templates. */
        if (jwk == NULL ||
            crypto_jwk_parse(jwk, &mine, NULL, 0) != AP_OK ||
            crypto_verify(mine, CRYPTO_ALG_ES256, A3_INPUT, strlen(A3_INPUT),
                          arg->ec_sig, arg->ec_siglen) !=
                (i % 2 == 0 ? AP_OK : AP_EINVAL)) {
            arg->failures++;
        }
        crypto_key_free(mine);
        cJSON_Delete(jwk);
        if (crypto_verify(arg->rsa, CRYPTO_ALG_RS256, A2_INPUT,
                          strlen(A2_INPUT), arg->rsa_sig,
                          arg->rsa_siglen) != AP_OK) {
            arg->failures++;
        }
        if (crypto_verify(arg->ec, CRYPTO_ALG_ES256, A3_INPUT,
                          strlen(A3_INPUT), arg->ec_sig,
                          arg->ec_siglen) != AP_OK) {
            arg->failures++;
        }
        /* A signature over another message fails, and the next good one
         * still verifies: a failure leaves nothing in the shared set-up. */
        if (crypto_verify(arg->ec, CRYPTO_ALG_ES256, A2_INPUT,
                          strlen(A2_INPUT), arg->ec_sig,
                          arg->ec_siglen) != AP_ECRYPTO) {
            arg->failures++;
        }
        if (crypto_verify(arg->ps, i % 2 == 0 ? CRYPTO_ALG_PS256
                                              : CRYPTO_ALG_RS256,
                          i % 2 == 0 ? PS256_INPUT : RS256_INPUT,
                          strlen(i % 2 == 0 ? PS256_INPUT : RS256_INPUT),
                          i % 2 == 0 ? arg->ps_sig : arg->rs_sig,
                          i % 2 == 0 ? arg->ps_siglen : arg->rs_siglen) !=
            AP_OK) {
            arg->failures++;
        }
        /* The PS256 signature is no RS256 one, nor the reverse. */
        if (crypto_verify(arg->ps, i % 2 == 0 ? CRYPTO_ALG_RS256
                                              : CRYPTO_ALG_PS256,
                          i % 2 == 0 ? PS256_INPUT : RS256_INPUT,
                          strlen(i % 2 == 0 ? PS256_INPUT : RS256_INPUT),
                          i % 2 == 0 ? arg->ps_sig : arg->rs_sig,
                          i % 2 == 0 ? arg->ps_siglen : arg->rs_siglen) !=
            AP_ECRYPTO) {
            arg->failures++;
        }
    }
    return NULL;
}

static void
test_verify_threads(void **state)
{
    struct verify_thread_arg args[4];
    pthread_t threads[4];
    struct crypto_key *rsa = key_from_json(A2_JWK);
    struct crypto_key *ec = key_from_json(A3_JWK);
    struct crypto_key *ps = key_from_json(PS256_JWK);
    unsigned char *rsa_sig;
    unsigned char *ec_sig;
    unsigned char *ps_sig;
    unsigned char *rs_sig;
    size_t rsa_siglen;
    size_t ec_siglen;
    size_t ps_siglen;
    size_t rs_siglen;
    size_t i;

    (void)state;
    rsa_sig = b64_decode(A2_SIG, &rsa_siglen);
    ec_sig = b64_decode(A3_SIG, &ec_siglen);
    ps_sig = b64_decode(PS256_SIG, &ps_siglen);
    rs_sig = b64_decode(RS256_SIG, &rs_siglen);
    for (i = 0; i < 4; i++) {
        args[i] = (struct verify_thread_arg){
            .rsa = rsa, .ec = ec, .ps = ps, .ps_sig = ps_sig,
            .ps_siglen = ps_siglen, .rs_sig = rs_sig, .rs_siglen = rs_siglen,
            .rsa_sig = rsa_sig, .rsa_siglen = rsa_siglen, .ec_sig = ec_sig,
            .ec_siglen = ec_siglen, .failures = 0 };
        assert_int_equal(
            pthread_create(&threads[i], NULL, verify_thread, &args[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
    free(rsa_sig);
    free(ec_sig);
    free(ps_sig);
    free(rs_sig);
    crypto_key_free(rsa);
    crypto_key_free(ec);
    crypto_key_free(ps);
}

/* ---- crypto_jwk_parse, thumbprints --------------------------------- */

struct jwk_row {
    const char *name;
    const char *json;
    ap_err want;
    const char *expect; /* thumbprint on AP_OK, errbuf substring else */
};

static const struct jwk_row jwk_good[] = {
    { "RFC 7638 3.1 RSA key", RFC7638_JWK, AP_OK, RFC7638_THUMBPRINT },
    { "RFC 7515 A.2 RSA key", A2_JWK, AP_OK, NULL },
    { "RFC 7515 A.3 P-256 key", A3_JWK, AP_OK, A3_THUMBPRINT },
    { "P-256 key with kid, use, alg",
      "{\"use\":\"sig\",\"kid\":\"k1\",\"alg\":\"ES256\",\"crv\":\"P-256\","
      "\"kty\":\"EC\",\"y\":\"" A3_Y "\",\"x\":\"" A3_X "\"}",
      AP_OK, A3_THUMBPRINT },
    { "P-384 key", ES384_JWK, AP_OK, ES384_THUMBPRINT },
    { "P-521 key", ES512_JWK, AP_OK, ES512_THUMBPRINT },
    { "RSA 2048 key", PS256_JWK, AP_OK, PS256_THUMBPRINT },
    { "RSA exponent 3", "{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"Aw\"}",
      AP_OK, NULL },
    { "RSA exponent of 4 bytes",
      "{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAAAQ\"}", AP_OK, NULL },
    { "RSA 8192-bit modulus (the largest)",
      "{\"kty\":\"RSA\",\"n\":\"" N8192 "\",\"e\":\"AQAB\"}", AP_OK, NULL },
};

static const struct jwk_row jwk_bad[] = {
    { "EC key with d",
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
      "\",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}",
      AP_EINVAL, "private" },
    { "RSA key with p",
      "{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAB\",\"p\":\"AQAB\"}",
      AP_EINVAL, "private" },
    { "EC point not on the curve",
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_X
      "\"}",
      AP_EINVAL, "not on curve" },
    { "EC x of 29 bytes",
      "{\"kty\":\"EC\",\"crv\":\"P-256\","
      "\"x\":\"J3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"" A3_Y "\"}",
      AP_EINVAL, "32 bytes" },
    { "EC x of 35 bytes",
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA" A3_X "\",\"y\":\"" A3_Y
      "\"}",
      AP_EINVAL, "32 bytes" },
    { "P-256 coordinates under crv P-384",
      "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
      "\"}",
      AP_EINVAL, "48 bytes" },
    { "EC crv secp256k1",
      "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
      "\"}",
      AP_EINVAL, "curve" },
    { "EC x padded with =",
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "=\",\"y\":\"" A3_Y
      "\"}",
      AP_EINVAL, "base64url" },
    { "EC without y",
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\"}", AP_EINVAL,
      "\"y\"" },
    { "RSA 1024-bit modulus",
      "{\"kty\":\"RSA\",\"n\":\"" RSA1024_N "\",\"e\":\"AQAB\"}", AP_EINVAL,
      "1024 bits" },
    { "RSA modulus with a leading zero",
      "{\"kty\":\"RSA\",\"n\":\"" A2_N_ZERO "\",\"e\":\"AQAB\"}", AP_EINVAL,
      "leading zero" },
    { "RSA even exponent",
      "{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAC\"}", AP_EINVAL,
      "exponent" },
    { "RSA exponent 1", "{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQ\"}",
      AP_EINVAL, "exponent" },
    { "RSA exponent of 5 bytes",
      "{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAAAAE\"}", AP_EINVAL,
      "exponent" },
    { "RSA n as a number", "{\"kty\":\"RSA\",\"n\":12345,\"e\":\"AQAB\"}",
      AP_EINVAL, "\"n\"" },
    { "OKP Ed25519",
      "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
      "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
      AP_EINVAL, "Ed25519 is not supported by this server" },
    { "oct without k", "{\"kty\":\"oct\"}", AP_EINVAL, "oct" },
    { "oct with k", "{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qz\"}",
      AP_EINVAL, "private" },
    { "kty missing", "{\"crv\":\"P-256\",\"x\":\"" A3_X "\"}", AP_EINVAL,
      "kty" },
    { "kty a number", "{\"kty\":1}", AP_EINVAL, "kty" },
    { "kty lower case", "{\"kty\":\"ec\"}", AP_EINVAL, "kty" },
    { "not an object", "[\"EC\"]", AP_EINVAL, "object" },
    { "EC x equal to the field prime",
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_P "\",\"y\":\"" A3_Y
      "\"}",
      AP_EINVAL, "not on curve" },
    { "EC point at infinity encoded as zeros",
      "{\"kty\":\"EC\",\"crv\":\"P-256\","
      "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
      "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
      AP_EINVAL, "not on curve" },
    { "EC crv a number",
      "{\"kty\":\"EC\",\"crv\":256,\"x\":\"" A3_X "\",\"y\":\"" A3_Y "\"}",
      AP_EINVAL, "crv" },
    { "EC y empty",
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"\"}",
      AP_EINVAL, "bad length" },
    { "EC with d null",
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
      "\",\"d\":null}",
      AP_EINVAL, "private" },
    { "RSA with dq",
      "{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAB\",\"dq\":\"AQAB\"}",
      AP_EINVAL, "private" },
    { "RSA 8193-bit modulus",
      "{\"kty\":\"RSA\",\"n\":\"" N8193 "\",\"e\":\"AQAB\"}", AP_EINVAL,
      "8193 bits" },
    { "RSA 2047-bit modulus",
      "{\"kty\":\"RSA\",\"n\":\"" N2047 "\",\"e\":\"AQAB\"}", AP_EINVAL,
      "2047 bits" },
    { "RSA modulus longer than any accepted",
      "{\"kty\":\"RSA\",\"n\":\"" N8192 N8192 "\",\"e\":\"AQAB\"}",
      AP_EINVAL, "bad length" },
    { "RSA even modulus",
      "{\"kty\":\"RSA\",\"n\":\"" N2048_EVEN "\",\"e\":\"AQAB\"}",
      AP_EINVAL, "even" },
    { "RSA modulus not base64url",
      "{\"kty\":\"RSA\",\"n\":\"" A2_N "+\",\"e\":\"AQAB\"}", AP_EINVAL,
      "base64url" },
    { "kty EC with RSA members",
      "{\"kty\":\"EC\",\"n\":\"" A2_N "\",\"e\":\"AQAB\"}", AP_EINVAL, "crv" },
};

static void
test_jwk(void **state)
{
    const struct jwk_row *row = *state;
    struct crypto_key *key = NULL;
    char errbuf[256] = "";
    char tp[CRYPTO_THUMBPRINT_LEN + 1];
    cJSON *jwk;
    ap_err rc;

    jwk = cJSON_Parse(row->json);
    assert_non_null(jwk);
    rc = crypto_jwk_parse(jwk, &key, errbuf, sizeof(errbuf));
    if (rc != row->want) {
        print_error("%s: errbuf \"%s\"\n", row->name, errbuf);
    }
    assert_int_equal(rc, row->want);
    if (rc == AP_OK) {
        assert_non_null(key);
        assert_int_equal(crypto_key_thumbprint(key, tp, sizeof(tp)), AP_OK);
        assert_int_equal(strlen(tp), CRYPTO_THUMBPRINT_LEN);
        if (row->expect != NULL) {
            assert_string_equal(tp, row->expect);
        }
        assert_int_equal(crypto_key_thumbprint(key, tp, sizeof(tp) - 1),
                         AP_ETOOBIG);
    } else {
        assert_null(key);
        if (strstr(errbuf, row->expect) == NULL) {
            print_error("%s: errbuf \"%s\" lacks \"%s\"\n", row->name, errbuf,
                        row->expect);
        }
        assert_non_null(strstr(errbuf, row->expect));
    }
    crypto_key_free(key);
    cJSON_Delete(jwk);
}

static void
test_key_to_jwk(void **state)
{
    struct crypto_key *key;
    struct crypto_key *again = NULL;
    cJSON *jwk;
    char *text;
    char tp1[CRYPTO_THUMBPRINT_LEN + 1];
    char tp2[CRYPTO_THUMBPRINT_LEN + 1];

    (void)state;
    key = key_from_json(
        "{\"kid\":\"x\",\"y\":\"" A3_Y "\",\"x\":\"" A3_X "\","
        "\"kty\":\"EC\",\"crv\":\"P-256\"}");
    jwk = crypto_key_to_jwk(key);
    assert_non_null(jwk);
    text = cJSON_PrintUnformatted(jwk);
    assert_non_null(text);
    assert_string_equal(text, A3_CANONICAL);
    /* The exported JWK parses back to the same key. */
    assert_int_equal(crypto_jwk_parse(jwk, &again, NULL, 0), AP_OK);
    assert_int_equal(crypto_key_thumbprint(key, tp1, sizeof(tp1)), AP_OK);
    assert_int_equal(crypto_key_thumbprint(again, tp2, sizeof(tp2)), AP_OK);
    assert_string_equal(tp1, tp2);
    cJSON_free(text);
    cJSON_Delete(jwk);
    crypto_key_free(again);
    crypto_key_free(key);

    key = key_from_json(RFC7638_JWK);
    jwk = crypto_key_to_jwk(key);
    assert_non_null(jwk);
    text = cJSON_PrintUnformatted(jwk);
    assert_non_null(text);
    assert_string_equal(text, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\""
                              RFC7638_N "\"}");
    cJSON_free(text);
    cJSON_Delete(jwk);
    crypto_key_free(key);

    assert_null(crypto_key_to_jwk(NULL));
}


/* ---- arguments ---------------------------------------------------- */

static void
test_jwk_args(void **state)
{
    struct crypto_key *key = NULL;
    char tp[CRYPTO_THUMBPRINT_LEN + 1];
    cJSON *jwk;

    (void)state;
    jwk = cJSON_Parse(A3_JWK);
    assert_non_null(jwk);
    assert_int_equal(crypto_jwk_parse(NULL, &key, NULL, 0), AP_EINVAL);
    assert_int_equal(crypto_jwk_parse(jwk, NULL, NULL, 0), AP_EINVAL);
    assert_int_equal(crypto_key_thumbprint(NULL, tp, sizeof(tp)), AP_EINVAL);
    /* A one-byte errbuf still ends up NUL-terminated. */
    cJSON_Delete(jwk);
    jwk = cJSON_Parse("{\"kty\":\"OKP\"}");
    assert_non_null(jwk);
    tp[0] = 'x';
    assert_int_equal(crypto_jwk_parse(jwk, &key, tp, 1), AP_EINVAL);
    assert_int_equal(tp[0], '\0');
    assert_null(key);
    cJSON_Delete(jwk);
}

/* ---- crypto_key_spki_der ------------------------------------------- */

/* The SubjectPublicKeyInfo of the public JWK json as mbedTLS writes it:
 * an encoder independent of the one under test. Returns its length; the
 * DER is at the start of out. */
static size_t
mbed_spki(const char *json, unsigned char *out, size_t outlen)
{
    static const struct {
        const char *crv;
        mbedtls_ecp_group_id id;
    } curves[] = {
        { "P-256", MBEDTLS_ECP_DP_SECP256R1 },
        { "P-384", MBEDTLS_ECP_DP_SECP384R1 },
        { "P-521", MBEDTLS_ECP_DP_SECP521R1 },
    };
    mbedtls_pk_context pk;
    cJSON *jwk = cJSON_Parse(json);
    const char *kty;
    unsigned char *a;
    unsigned char *b;
    size_t alen;
    size_t blen;
    int n;

    assert_non_null(jwk);
    kty = cJSON_GetObjectItem(jwk, "kty")->valuestring;
    mbedtls_pk_init(&pk);
    if (strcmp(kty, "EC") == 0) {
        const char *crv = cJSON_GetObjectItem(jwk, "crv")->valuestring;
        mbedtls_ecp_keypair *ec;
        unsigned char point[1 + 2 * 66];
        size_t i;

        a = b64_decode(cJSON_GetObjectItem(jwk, "x")->valuestring, &alen);
        b = b64_decode(cJSON_GetObjectItem(jwk, "y")->valuestring, &blen);
        for (i = 0; i < 3 && strcmp(curves[i].crv, crv) != 0; i++) {
            continue;
        }
        assert_true(i < 3);
        assert_int_equal(alen, blen);
        point[0] = 0x04;
        memcpy(point + 1, a, alen);
        memcpy(point + 1 + alen, b, blen);
        assert_int_equal(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(
                                                   MBEDTLS_PK_ECKEY)),
                         0);
        ec = mbedtls_pk_ec(pk);
        assert_int_equal(mbedtls_ecp_group_load(&ec->grp, curves[i].id), 0);
        assert_int_equal(mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q,
                                                       point, 1 + 2 * alen),
                         0);
    } else {
        a = b64_decode(cJSON_GetObjectItem(jwk, "n")->valuestring, &alen);
        b = b64_decode(cJSON_GetObjectItem(jwk, "e")->valuestring, &blen);
        assert_int_equal(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(
                                                   MBEDTLS_PK_RSA)),
                         0);
        assert_int_equal(mbedtls_rsa_import_raw(mbedtls_pk_rsa(pk), a, alen,
                                                NULL, 0, NULL, 0, NULL, 0, b,
                                                blen),
                         0);
        assert_int_equal(mbedtls_rsa_complete(mbedtls_pk_rsa(pk)), 0);
    }
    /* mbedtls_pk_write_pubkey_der writes at the end of the buffer. */
    n = mbedtls_pk_write_pubkey_der(&pk, out, outlen);
    assert_true(n > 0);
    memmove(out, out + outlen - (size_t)n, (size_t)n);
    mbedtls_pk_free(&pk);
    free(a);
    free(b);
    cJSON_Delete(jwk);
    return (size_t)n;
}

static void
test_spki(void **state)
{
    const struct jwk_row *row = *state;
    struct crypto_key *key = key_from_json(row->json);
    unsigned char want[2600];
    unsigned char *der = NULL;
    size_t want_len;
    size_t len = 0;

    want_len = mbed_spki(row->json, want, sizeof(want));
    assert_int_equal(crypto_key_spki_der(key, &der, &len), AP_OK);
    assert_int_equal(len, want_len);
    assert_memory_equal(der, want, want_len);
    free(der);
    crypto_key_free(key);
}

/* spki_p256.der was written by openssl (vectors/README.md); a P-256 SPKI
 * ends with the 64 octets x || y. The JWK of that point must give the
 * same bytes back. */
static void
test_spki_openssl(void **state)
{
    unsigned char *file;
    unsigned char *der = NULL;
    struct crypto_key *key;
    char x[48];
    char y[48];
    char json[256];
    size_t file_len;
    size_t len = 0;

    (void)state;
    file = load_vector("spki_p256.der", &file_len);
    assert_int_equal(file_len, 91);
    assert_int_equal(file[26], 0x04);
    assert_int_equal(b64url_encode(file + 27, 32, x, sizeof(x)), AP_OK);
    assert_int_equal(b64url_encode(file + 59, 32, y, sizeof(y)), AP_OK);
    snprintf(json, sizeof(json),
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    key = key_from_json(json);
    assert_int_equal(crypto_key_spki_der(key, &der, &len), AP_OK);
    assert_int_equal(len, file_len);
    assert_memory_equal(der, file, file_len);
    assert_int_equal(crypto_key_spki_der(NULL, &der, &len), AP_EINVAL);
    assert_int_equal(crypto_key_spki_der(key, NULL, &len), AP_EINVAL);
    free(der);
    free(file);
    crypto_key_free(key);
}

/* ---- runner -------------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    return crypto_init() == AP_OK ? 0 : -1;
}

/* ---------------------------------------------------------- the cache */

static void
thumb_of(const struct crypto_key *key, char *tp)
{
    assert_int_equal(crypto_key_thumbprint(key, tp, CRYPTO_THUMBPRINT_LEN + 1),
                     AP_OK);
}

/* A miss parses and stores; the same text again is a hit that returns the
 * same key object (a new reference), and the key outlives the cache. */
static void
test_cache_hit_miss(void **state)
{
    struct jwk_cache *c = jwk_cache_new(4);
    struct jwk_cache_stats st;
    struct crypto_key *k1 = NULL;
    struct crypto_key *k2 = NULL;
    char errbuf[128];
    char tp[CRYPTO_THUMBPRINT_LEN + 1];
    cJSON *jwk = cJSON_Parse(A3_JWK);

    (void)state;
    assert_non_null(c);
    assert_non_null(jwk);
    assert_int_equal(jwk_cache_parse(c, jwk, &k1, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(jwk_cache_parse(c, jwk, &k2, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_ptr_equal(k1, k2);
    jwk_cache_stats(c, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.entries, 1);
    jwk_cache_free(c);
    thumb_of(k2, tp);
    assert_string_equal(tp, A3_THUMBPRINT);
    crypto_key_free(k1);
    crypto_key_free(k2);
    cJSON_Delete(jwk);
}

/* A changed JWK (another key, as after a key rollover; or the same key
 * with another member) is never served the cached key of the old text. */
static void
test_cache_changed_key(void **state)
{
    static const char *const texts[] = {
        A3_JWK,
        ES384_JWK,
        "{\"use\":\"sig\",\"kid\":\"k1\",\"alg\":\"ES256\",\"crv\":\"P-256\","
        "\"kty\":\"EC\",\"y\":\"" A3_Y "\",\"x\":\"" A3_X "\"}",
    };
    static const char *const want[] = { A3_THUMBPRINT, ES384_THUMBPRINT,
                                        A3_THUMBPRINT };
    struct jwk_cache *c = jwk_cache_new(8);
    struct crypto_key *keys[3] = { NULL, NULL, NULL };
    struct jwk_cache_stats st;
    char errbuf[128];
    char tp[CRYPTO_THUMBPRINT_LEN + 1];

    (void)state;
    assert_non_null(c);
    for (size_t i = 0; i < 3; i++) {
        cJSON *jwk = cJSON_Parse(texts[i]);

        assert_non_null(jwk);
        assert_int_equal(jwk_cache_parse(c, jwk, &keys[i], errbuf,
                                         sizeof(errbuf)),
                         AP_OK);
        thumb_of(keys[i], tp);
        assert_string_equal(tp, want[i]);
        cJSON_Delete(jwk);
    }
    assert_ptr_not_equal(keys[0], keys[1]);
    assert_ptr_not_equal(keys[0], keys[2]);
    jwk_cache_stats(c, &st);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.hits, 0);
    assert_int_equal(st.entries, 3);
    for (size_t i = 0; i < 3; i++) {
        crypto_key_free(keys[i]);
    }
    jwk_cache_free(c);
}

/* A refused JWK is refused through the cache too, every time, and takes
 * no entry. */
static void
test_cache_refused(void **state)
{
    struct jwk_cache *c = jwk_cache_new(2);
    struct crypto_key *key = NULL;
    struct jwk_cache_stats st;
    char errbuf[128] = "";
    cJSON *jwk = cJSON_Parse(jwk_bad[0].json);

    (void)state;
    assert_non_null(c);
    assert_non_null(jwk);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(jwk_cache_parse(c, jwk, &key, errbuf,
                                         sizeof(errbuf)),
                         AP_EINVAL);
        assert_null(key);
        assert_non_null(strstr(errbuf, "private"));
    }
    jwk_cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.hits, 0);
    cJSON_Delete(jwk);
    jwk_cache_free(c);
}

/* The cache never holds more than cap keys: the least recently used goes,
 * a recently used one stays. */
static void
test_cache_eviction(void **state)
{
    static const char *const texts[] = { A3_JWK, ES384_JWK, ES512_JWK,
                                         PS256_JWK };
    struct jwk_cache *c = jwk_cache_new(2);
    struct jwk_cache_stats st;
    struct crypto_key *key = NULL;
    struct crypto_key *first = NULL;
    char errbuf[128];
    cJSON *jwk[4];

    (void)state;
    assert_non_null(c);
    assert_null(jwk_cache_new(0));
    assert_null(jwk_cache_new(JWK_CACHE_MAX_ENTRIES + 1));
    for (size_t i = 0; i < 4; i++) {
        jwk[i] = cJSON_Parse(texts[i]);
        assert_non_null(jwk[i]);
    }
    /* 0, 1, then 0 again (hit, now the most recent), then 2 evicts 1. */
    assert_int_equal(jwk_cache_parse(c, jwk[0], &first, errbuf,
                                     sizeof(errbuf)), AP_OK);
    assert_int_equal(jwk_cache_parse(c, jwk[1], &key, errbuf,
                                     sizeof(errbuf)), AP_OK);
    crypto_key_free(key);
    assert_int_equal(jwk_cache_parse(c, jwk[0], &key, errbuf,
                                     sizeof(errbuf)), AP_OK);
    assert_ptr_equal(key, first);
    crypto_key_free(key);
    assert_int_equal(jwk_cache_parse(c, jwk[2], &key, errbuf,
                                     sizeof(errbuf)), AP_OK);
    crypto_key_free(key);
    jwk_cache_stats(c, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.hits, 1);
    /* 0 is still there; 1 was evicted (a miss). */
    assert_int_equal(jwk_cache_parse(c, jwk[0], &key, errbuf,
                                     sizeof(errbuf)), AP_OK);
    assert_ptr_equal(key, first);
    crypto_key_free(key);
    assert_int_equal(jwk_cache_parse(c, jwk[1], &key, errbuf,
                                     sizeof(errbuf)), AP_OK);
    crypto_key_free(key);
    jwk_cache_stats(c, &st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 4);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(st.entries, 2);
    /* Many more keys than slots: the bound holds. */
    for (int round = 0; round < 8; round++) {
        assert_int_equal(jwk_cache_parse(c, jwk[round % 4], &key, errbuf,
                                         sizeof(errbuf)), AP_OK);
        crypto_key_free(key);
        jwk_cache_stats(c, &st);
        assert_true(st.entries <= 2);
    }
    /* A NULL cache parses directly. */
    assert_int_equal(jwk_cache_parse(NULL, jwk[3], &key, errbuf,
                                     sizeof(errbuf)), AP_OK);
    crypto_key_free(key);
    for (size_t i = 0; i < 4; i++) {
        cJSON_Delete(jwk[i]);
    }
    crypto_key_free(first);
    jwk_cache_free(c);
}

struct cache_thread {
    struct jwk_cache *c;
    const cJSON *jwk[2];
    int failures;
};

static void *
cache_worker(void *arg)
{
    struct cache_thread *t = arg;
    const char msg[] = "x";
    char errbuf[128];

    for (int i = 0; i < 200; i++) {
        struct crypto_key *key = NULL;

        if (jwk_cache_parse(t->c, t->jwk[i % 2], &key, errbuf,
                            sizeof(errbuf)) != AP_OK) {
            t->failures++;
            continue;
        }
        /* a wrong signature must still be refused with the cached key */
        if (crypto_verify(key, CRYPTO_ALG_ES256, msg, 1,
                          (const unsigned char *)errbuf, 64) == AP_OK) {
            t->failures++;
        }
        crypto_key_free(key);
    }
    return NULL;
}

/* Four threads share a cache of one slot that two keys fight over. */
static void
test_cache_threads(void **state)
{
    struct cache_thread t = { 0 };
    pthread_t th[4];
    cJSON *a = cJSON_Parse(A3_JWK);
    cJSON *b = cJSON_Parse(ES384_JWK);

    (void)state;
    t.c = jwk_cache_new(1);
    assert_non_null(t.c);
    t.jwk[0] = a;
    t.jwk[1] = b;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, cache_worker, &t), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(t.failures, 0);
    jwk_cache_free(t.c);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static int
group_teardown(void **state)
{
    (void)state;
    crypto_fini();
    return 0;
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    ADD_ROWS(&l, alg_rows, test_alg_parse);
    add_test(&l, "alg misc", test_alg_misc, NULL);
    ADD_ROWS(&l, verify_good, test_verify);
    ADD_ROWS(&l, verify_bad, test_verify);
    add_test(&l, "alg fits key", test_alg_fits_key, NULL);
    add_test(&l, "verify from 4 threads", test_verify_threads, NULL);
    ADD_ROWS(&l, jwk_good, test_jwk);
    ADD_ROWS(&l, jwk_bad, test_jwk);
    add_test(&l, "jwk arguments", test_jwk_args, NULL);
    add_test(&l, "key to canonical jwk", test_key_to_jwk, NULL);
    for (size_t i = 0; i < N_ROWS(jwk_good); i++) {
        static char names[N_ROWS(jwk_good)][96];

        snprintf(names[i], sizeof(names[i]), "spki as mbedTLS: %s",
                 jwk_good[i].name);
        add_test(&l, names[i], test_spki, &jwk_good[i]);
    }
    add_test(&l, "spki as openssl", test_spki_openssl, NULL);
    add_test(&l, "key cache: hit and miss", test_cache_hit_miss, NULL);
    add_test(&l, "key cache: a changed jwk is a miss", test_cache_changed_key,
             NULL);
    add_test(&l, "key cache: refused jwk", test_cache_refused, NULL);
    add_test(&l, "key cache: eviction bound", test_cache_eviction, NULL);
    add_test(&l, "key cache: 4 threads", test_cache_threads, NULL);

    failed = _cmocka_run_group_tests("jwk", l.tests, l.n, group_setup,
                                     group_teardown);
    free(l.tests);
    return failed;
}
