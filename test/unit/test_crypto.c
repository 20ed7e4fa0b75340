/* test/unit/test_crypto.c: common/crypto.c: randomness, SHA-256, HMAC,
 * constant-time comparison, wiping (OpenSSL libcrypto).
 *
 * JWK keys and JWS signatures are test_jwk.c, PKCS#10 is test_csr.c,
 * certificates test_x509.c.
 * Vectors are published ones (FIPS 180-2, RFC 4231) or files from
 * test/unit/vectors/ (README.md there). Every table row is its own cmocka
 * test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"
#include "test/unit/vector_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/csr.h"
#include "common/id.h"
#include "common/jwk.h"

/* ---- hashes, HMAC, comparison, RNG --------------------------------- */

static void
test_sha256(void **state)
{
    /* FIPS 180-2 B.1 and the empty string. */
    static const unsigned char abc[CRYPTO_SHA256_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
    };
    static const unsigned char empty[CRYPTO_SHA256_LEN] = {
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
        0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
        0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
    };
    unsigned char out[CRYPTO_SHA256_LEN];

    (void)state;
    crypto_sha256("abc", 3, out);
    assert_memory_equal(out, abc, sizeof(out));
    crypto_sha256(NULL, 0, out);
    assert_memory_equal(out, empty, sizeof(out));
}

static void
test_hmac(void **state)
{
    /* RFC 4231 test case 2. */
    static const unsigned char want[CRYPTO_SHA256_LEN] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
        0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
        0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
    };
    static const char msg[] = "what do ya want for nothing?";
    unsigned char out[CRYPTO_SHA256_LEN];

    (void)state;
    assert_int_equal(crypto_hmac_sha256("Jefe", 4, msg, sizeof(msg) - 1, out),
                     AP_OK);
    assert_memory_equal(out, want, sizeof(out));
    assert_int_equal(crypto_hmac_sha256(NULL, 0, NULL, 0, out), AP_OK);
    assert_int_equal(crypto_hmac_sha256(NULL, 4, msg, 1, out), AP_EINVAL);
    assert_int_equal(crypto_hmac_sha256("k", 1, msg, 1, NULL), AP_EINVAL);
    assert_int_equal(crypto_hmac_sha256("k", 1, NULL, 1, out), AP_EINVAL);
}

/* crypto_hmac: the JWS MAC algorithms of EAB (RFC 7518 §3.2), RFC 4231
 * test case 2 ("Jefe"). */
struct hmac_row {
    const char *name;
    const char *alg;
    ap_err want;
    size_t len;
    const char *hex;
};

static const struct hmac_row hmac_rows[] = {
    { "HS256 RFC 4231 case 2", "HS256", AP_OK, 32,
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
    { "HS384 RFC 4231 case 2", "HS384", AP_OK, 48,
      "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
      "8e2240ca5e69e2c78b3239ecfab21649" },
    { "HS512 RFC 4231 case 2", "HS512", AP_OK, 64,
      "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
      "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
    { "HS1 refused", "HS1", AP_EINVAL, 0, NULL },
    { "hs256 (case) refused", "hs256", AP_EINVAL, 0, NULL },
    { "RS256 is no MAC", "RS256", AP_EINVAL, 0, NULL },
    { "empty name refused", "", AP_EINVAL, 0, NULL },
};

static void
test_hmac_alg(void **state)
{
    const struct hmac_row *row = *state;
    static const char msg[] = "what do ya want for nothing?";
    unsigned char out[CRYPTO_HMAC_MAX];
    char hex[2 * CRYPTO_HMAC_MAX + 1];
    size_t len = 0;

    assert_int_equal(crypto_hmac(row->alg, "Jefe", 4, msg, sizeof(msg) - 1,
                                 out, &len),
                     row->want);
    if (row->want != AP_OK) {
        return;
    }
    assert_int_equal(len, row->len);
    for (size_t i = 0; i < len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
    }
    assert_string_equal(hex, row->hex);
}

/* A key made ready once MACs as crypto_hmac_sha256 does: RFC 4231 cases
 * 1 (20-byte key), 2 ("Jefe") and 6 (131-byte key, hashed first), then
 * keys of 0..140 bytes and messages of 0..200 against the one-shot. */
static void
test_hmac_key(void **state)
{
    static const struct {
        size_t keylen;
        unsigned char keybyte;
        const char *key;
        const char *msg;
        const char *hex;
    } rfc[] = {
        { 20, 0x0b, NULL, "Hi There",
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { 4, 0, "Jefe", "what do ya want for nothing?",
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { 131, 0xaa, NULL,
          "Test Using Larger Than Block-Size Key - Hash Key First",
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
    };
    unsigned char key[141];
    unsigned char msg[201];
    unsigned char a[CRYPTO_SHA256_LEN];
    unsigned char b[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    struct crypto_hmac_key *k = NULL;

    (void)state;
    for (size_t r = 0; r < sizeof(rfc) / sizeof(rfc[0]); r++) {
        if (rfc[r].key != NULL) {
            memcpy(key, rfc[r].key, rfc[r].keylen);
        } else {
            memset(key, rfc[r].keybyte, rfc[r].keylen);
        }
        assert_int_equal(crypto_hmac_key_new(key, rfc[r].keylen, &k), AP_OK);
        assert_int_equal(crypto_hmac_sha256_with(k, rfc[r].msg,
                                                 strlen(rfc[r].msg), a),
                         AP_OK);
        for (size_t i = 0; i < sizeof(a); i++) {
            snprintf(hex + 2 * i, 3, "%02x", a[i]);
        }
        assert_string_equal(hex, rfc[r].hex);
        crypto_hmac_key_free(k);
    }
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char)(i * 7 + 1);
    }
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (unsigned char)(i * 13 + 5);
    }
    for (size_t kl = 0; kl <= 140; kl += 7) {
        assert_int_equal(crypto_hmac_key_new(kl > 0 ? key : NULL, kl, &k),
                         AP_OK);
        for (size_t ml = 0; ml <= 200; ml += 9) {
            assert_int_equal(crypto_hmac_sha256(key, kl, msg, ml, a), AP_OK);
            assert_int_equal(crypto_hmac_sha256_with(k, msg, ml, b), AP_OK);
            assert_memory_equal(a, b, sizeof(a));
        }
        crypto_hmac_key_free(k);
    }
    assert_int_equal(crypto_hmac_key_new(NULL, 4, &k), AP_EINVAL);
    assert_null(k);
    assert_int_equal(crypto_hmac_key_new("k", 1, &k), AP_OK);
    assert_int_equal(crypto_hmac_sha256_with(k, NULL, 1, a), AP_EINVAL);
    assert_int_equal(crypto_hmac_sha256_with(k, "m", 1, NULL), AP_EINVAL);
    assert_int_equal(crypto_hmac_sha256_with(NULL, "m", 1, a), AP_EINVAL);
    crypto_hmac_key_free(k);
    crypto_hmac_key_free(NULL);
}

static void
test_ct_memcmp_zeroize(void **state)
{
    unsigned char secret[16];

    (void)state;
    assert_int_equal(crypto_ct_memcmp("abcd", "abcd", 4), 0);
    assert_int_not_equal(crypto_ct_memcmp("abcd", "abce", 4), 0);
    assert_int_not_equal(crypto_ct_memcmp("xbcd", "abcd", 4), 0);
    assert_int_equal(crypto_ct_memcmp("a", "b", 0), 0);
    memset(secret, 0xa5, sizeof(secret));
    crypto_zeroize(secret, sizeof(secret));
    assert_int_equal(secret[0], 0);
    assert_int_equal(secret[15], 0);
    crypto_zeroize(NULL, 0);
}

static void
test_random(void **state)
{
    unsigned char a[3000];
    unsigned char b[3000];
    unsigned char zero[3000];

    (void)state;
    /* Several kilobytes in one call (mbedTLS DRBGs cap one request at
     * 1024 bytes; RAND_bytes does not, and neither must we). */
    memset(zero, 0, sizeof(zero));
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    assert_int_equal(crypto_random(a, sizeof(a)), AP_OK);
    assert_int_equal(crypto_random(b, sizeof(b)), AP_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a + 2000, zero, 1000);
    assert_memory_not_equal(b + 2000, zero, 1000);
    assert_int_equal(crypto_random(a, 0), AP_OK);
    assert_int_equal(crypto_random(NULL, 1), AP_EINVAL);
    /* crypto_init twice is harmless. */
    assert_int_equal(crypto_init(), AP_OK);
}

static void
test_random_uninitialised(void **state)
{
    unsigned char a[8];

    (void)state;
    crypto_fini();
    assert_int_not_equal(crypto_random(a, sizeof(a)), AP_OK);
    crypto_fini();
    assert_int_equal(crypto_init(), AP_OK);
    assert_int_equal(crypto_random(a, sizeof(a)), AP_OK);
}

/* crypto_random_os: the kernel's bytes, without crypto_init. */
static void
test_random_os(void **state)
{
    unsigned char a[32];
    unsigned char b[32];
    unsigned char big[CRYPTO_RANDOM_OS_MAX + 1];
    static const unsigned char zero[32];

    (void)state;
    crypto_fini();
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    assert_int_equal(crypto_random_os(a, sizeof(a)), AP_OK);
    assert_int_equal(crypto_random_os(b, sizeof(b)), AP_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_int_equal(crypto_random_os(big, CRYPTO_RANDOM_OS_MAX), AP_OK);
    assert_int_equal(crypto_random_os(big, sizeof(big)), AP_ETOOBIG);
    assert_int_equal(crypto_random_os(NULL, 1), AP_EINVAL);
    assert_int_equal(crypto_random_os(NULL, 0), AP_OK);
    /* crypto_init_deferred enables crypto_random without a check. */
    assert_int_not_equal(crypto_random(a, sizeof(a)), AP_OK);
    crypto_init_deferred();
    assert_int_equal(crypto_random(a, sizeof(a)), AP_OK);
    assert_int_equal(crypto_init(), AP_OK);
}

/* id_request: ids of id_new's form, never two alike, no leading '-'. */
static int
id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void
test_id_request(void **state)
{
    enum { N = 4096 };
    char (*ids)[ID_RANDOM_LEN + 1] = calloc(N, sizeof(*ids));
    char small[ID_RANDOM_LEN];

    (void)state;
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        assert_int_equal(id_request(ids[i], sizeof(ids[i])), AP_OK);
        assert_int_equal(strlen(ids[i]), ID_RANDOM_LEN);
        assert_true(id_is_valid(ids[i]));
        assert_int_not_equal(ids[i][0], '-');
    }
    /* One process prefix: the first 12 characters (9 bytes) agree. */
    assert_memory_equal(ids[0], ids[N - 1], 12);
    qsort(ids, N, sizeof(*ids), id_cmp);
    for (int i = 1; i < N; i++) {
        assert_string_not_equal(ids[i - 1], ids[i]);
    }
    assert_int_not_equal(id_request(small, sizeof(small)), AP_OK);
    free(ids);
}

static void
test_free_null(void **state)
{
    (void)state;
    crypto_key_free(NULL);
    crypto_csr_free(NULL);
}


/* ---- runner -------------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    return crypto_init() == AP_OK ? 0 : -1;
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

    add_test(&l, "sha256", test_sha256, NULL);
    add_test(&l, "hmac-sha256", test_hmac, NULL);
    ADD_ROWS(&l, hmac_rows, test_hmac_alg);
    add_test(&l, "hmac-sha256 with a key made ready", test_hmac_key, NULL);
    add_test(&l, "ct_memcmp and zeroize", test_ct_memcmp_zeroize, NULL);
    add_test(&l, "random", test_random, NULL);
    add_test(&l, "random before init", test_random_uninitialised, NULL);
    add_test(&l, "random from the kernel", test_random_os, NULL);
    add_test(&l, "request ids", test_id_request, NULL);
    add_test(&l, "free NULL", test_free_null, NULL);

    failed = _cmocka_run_group_tests("crypto", l.tests, l.n, group_setup,
                                     group_teardown);
    free(l.tests);
    return failed;
}
