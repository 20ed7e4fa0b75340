/* test/unit/test_val_tlsalpn01.c: the certificate check of tls-alpn-01
 * (proxy/val_tlsalpn01.c, val_tlsalpn01_check_cert; RFC 8737 §3, RFC 8738
 * §6).
 *
 * Each row describes a certificate, built here with mbedTLS x509write
 * (P-256 keys): its SANs, its acmeIdentifier extension (critical or not,
 * right or wrong digest, malformed), another critical extension, and who
 * signed it; the check must accept it or name the rule it breaks. Every
 * row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "common/crypto.h"
#include "proxy/validate.h"

static const unsigned char oid_acme_id[] = { 0x2b, 0x06, 0x01, 0x05, 0x05,
                                             0x07, 0x01, 0x1f };
/* 1.3.6.1.4.1.99999.1, an extension nobody knows */
static const unsigned char oid_other[] = { 0x2b, 0x06, 0x01, 0x04, 0x01,
                                           0x86, 0x8d, 0x1f, 0x01 };

enum ext_kind {
    EXT_GOOD,          /* OCTET STRING of the digest */
    EXT_NONE,
    EXT_WRONG_DIGEST,
    EXT_RAW,           /* the 32 bytes without the OCTET STRING */
    EXT_SHORT,         /* OCTET STRING of 31 bytes */
    EXT_TRAILING,      /* OCTET STRING then one byte more */
};

struct row {
    const char *name;
    const char *ident_type;  /* of the identifier checked */
    const char *ident;
    const char *sans;        /* "d:name i:addr ..." or "" for no SAN ext */
    enum ext_kind ext;
    int critical;            /* of the acmeIdentifier extension */
    int other_critical;      /* add an unknown critical extension */
    int foreign_signer;      /* signed by another key */
    int garbage;             /* not a certificate at all */
    const char *why;         /* NULL: accepted; else a word of the reason */
};

static const struct row good_rows[] = {
    { "dNSName", "dns", "tls.a.test", "d:tls.a.test", EXT_GOOD, 1, 0, 0, 0,
      NULL },
    { "dNSName in other case", "dns", "tls.a.test", "d:TLS.A.Test", EXT_GOOD,
      1, 0, 0, 0, NULL },
    { "iPAddress v4", "ip", "192.0.2.7", "i:192.0.2.7", EXT_GOOD, 1, 0, 0, 0,
      NULL },
    { "iPAddress v6", "ip", "2001:db8::7", "i:2001:db8::7", EXT_GOOD, 1, 0,
      0, 0, NULL },
};

static const struct row bad_rows[] = {
    { "no acmeIdentifier", "dns", "tls.a.test", "d:tls.a.test", EXT_NONE, 1,
      0, 0, 0, "no acmeIdentifier" },
    { "acmeIdentifier not critical", "dns", "tls.a.test", "d:tls.a.test",
      EXT_GOOD, 0, 0, 0, 0, "not marked critical" },
    { "wrong digest", "dns", "tls.a.test", "d:tls.a.test", EXT_WRONG_DIGEST,
      1, 0, 0, 0, "not the SHA-256" },
    { "digest without OCTET STRING", "dns", "tls.a.test", "d:tls.a.test",
      EXT_RAW, 1, 0, 0, 0, "not an OCTET STRING" },
    { "OCTET STRING of 31 bytes", "dns", "tls.a.test", "d:tls.a.test",
      EXT_SHORT, 1, 0, 0, 0, "not an OCTET STRING" },
    { "bytes after the OCTET STRING", "dns", "tls.a.test", "d:tls.a.test",
      EXT_TRAILING, 1, 0, 0, 0, "not an OCTET STRING" },
    { "two SANs", "dns", "tls.a.test", "d:tls.a.test d:other.a.test",
      EXT_GOOD, 1, 0, 0, 0, "exactly one" },
    { "no SAN", "dns", "tls.a.test", "", EXT_GOOD, 1, 0, 0, 0,
      "exactly one" },
    { "other name", "dns", "tls.a.test", "d:other.a.test", EXT_GOOD, 1, 0, 0,
      0, "not the dNSName" },
    { "name with a suffix", "dns", "tls.a.test", "d:tls.a.test.evil",
      EXT_GOOD, 1, 0, 0, 0, "not the dNSName" },
    { "iPAddress SAN for a name", "dns", "tls.a.test", "i:192.0.2.7",
      EXT_GOOD, 1, 0, 0, 0, "not the dNSName" },
    { "dNSName SAN for an address", "ip", "192.0.2.7", "d:192.0.2.7",
      EXT_GOOD, 1, 0, 0, 0, "not the iPAddress" },
    { "other address", "ip", "192.0.2.7", "i:192.0.2.8", EXT_GOOD, 1, 0, 0,
      0, "not the iPAddress" },
    { "v4 address as mapped v6 SAN", "ip", "192.0.2.7", "i:::ffff:192.0.2.7",
      EXT_GOOD, 1, 0, 0, 0, "not the iPAddress" },
    { "not self-signed", "dns", "tls.a.test", "d:tls.a.test", EXT_GOOD, 1, 0,
      1, 0, "not self-signed" },
    { "unknown critical extension", "dns", "tls.a.test", "d:tls.a.test",
      EXT_GOOD, 1, 1, 0, 0, "does not parse" },
    { "garbage", "dns", "tls.a.test", "d:tls.a.test", EXT_GOOD, 1, 0, 0, 1,
      "does not parse" },
};

static mbedtls_pk_context keys[2];   /* [0] the cert's, [1] a stranger's */
static unsigned char digest[CRYPTO_SHA256_LEN];

static int
setup(void **state)
{
    (void)state;
    if (crypto_init() != AP_OK) {
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        mbedtls_pk_init(&keys[i]);
        if (mbedtls_pk_setup(&keys[i],
                             mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) !=
                0 ||
            mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
                                mbedtls_pk_ec(keys[i]), crypto_rng,
                                NULL) != 0) {
            return -1;
        }
    }
    crypto_sha256("token.thumbprint", 16, digest);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    mbedtls_pk_free(&keys[0]);
    mbedtls_pk_free(&keys[1]);
    crypto_fini();
    return 0;
}

/* SubjectAltName DER from "d:name i:addr ...". */
static size_t
san_der(const char *spec, unsigned char *out)
{
    char copy[256];
    char *save = NULL;
    size_t n = 2;

    snprintf(copy, sizeof(copy), "%s", spec);
    for (char *t = strtok_r(copy, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save)) {
        if (t[0] == 'd') {
            size_t len = strlen(t + 2);

            out[n++] = 0x82;
            out[n++] = (unsigned char)len;
            memcpy(out + n, t + 2, len);
            n += len;
        } else if (inet_pton(AF_INET, t + 2, out + n + 2) == 1) {
            out[n] = 0x87;
            out[n + 1] = 4;
            n += 6;
        } else {
            assert_int_equal(inet_pton(AF_INET6, t + 2, out + n + 2), 1);
            out[n] = 0x87;
            out[n + 1] = 16;
            n += 18;
        }
    }
    out[0] = 0x30;
    out[1] = (unsigned char)(n - 2);
    return n;
}

/* The row's certificate, DER at the end of buf; returns its length. */
static size_t
make_cert(const struct row *r, unsigned char *buf, size_t buflen)
{
    mbedtls_x509write_cert w;
    mbedtls_mpi serial;
    unsigned char san[300];
    unsigned char ext[40];
    size_t ext_len = 0;
    size_t san_len;
    int n;

    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi_init(&serial);
    assert_int_equal(mbedtls_mpi_lset(&serial, 7), 0);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &keys[0]);
    mbedtls_x509write_crt_set_issuer_key(&w, &keys[r->foreign_signer ? 1 : 0]);
    assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, "CN=acme"), 0);
    assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, "CN=acme"), 0);
    assert_int_equal(mbedtls_x509write_crt_set_serial(&w, &serial), 0);
    assert_int_equal(mbedtls_x509write_crt_set_validity(&w, "20250101000000",
                                                        "20350101000000"),
                     0);
    if (r->sans[0] != '\0') {
        san_len = san_der(r->sans, san);
        assert_int_equal(mbedtls_x509write_crt_set_extension(
                             &w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                             MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                             san, san_len),
                         0);
    }
    ext[0] = 0x04;
    ext[1] = CRYPTO_SHA256_LEN;
    memcpy(ext + 2, digest, CRYPTO_SHA256_LEN);
    ext_len = 2 + CRYPTO_SHA256_LEN;
    switch (r->ext) {
    case EXT_GOOD:
    case EXT_NONE:
        break;
    case EXT_WRONG_DIGEST:
        ext[5] ^= 0x01;
        break;
    case EXT_RAW:
        memmove(ext, ext + 2, CRYPTO_SHA256_LEN);
        ext_len = CRYPTO_SHA256_LEN;
        break;
    case EXT_SHORT:
        ext[1] = CRYPTO_SHA256_LEN - 1;
        ext_len--;
        break;
    case EXT_TRAILING:
        ext[ext_len++] = 0x00;
        break;
    }
    if (r->ext != EXT_NONE) {
        assert_int_equal(mbedtls_x509write_crt_set_extension(
                             &w, (const char *)oid_acme_id,
                             sizeof(oid_acme_id), r->critical, ext, ext_len),
                         0);
    }
    if (r->other_critical) {
        static const unsigned char null_der[] = { 0x05, 0x00 };

        assert_int_equal(mbedtls_x509write_crt_set_extension(
                             &w, (const char *)oid_other, sizeof(oid_other),
                             1, null_der, sizeof(null_der)),
                         0);
    }
    n = mbedtls_x509write_crt_der(&w, buf, buflen, crypto_rng, NULL);
    assert_true(n > 0);
    mbedtls_x509write_crt_free(&w);
    mbedtls_mpi_free(&serial);
    return (size_t)n;
}

static void
test_row(void **state)
{
    const struct row *r = *state;
    unsigned char buf[2048];
    char why[400] = "";
    size_t n;
    bool ok;

    if (r->garbage) {
        memset(buf, 0x30, 64);
        n = 64;
        ok = val_tlsalpn01_check_cert(buf, n, r->ident_type, r->ident,
                                      digest, why, sizeof(why));
    } else {
        n = make_cert(r, buf, sizeof(buf));
        ok = val_tlsalpn01_check_cert(buf + sizeof(buf) - n, n, r->ident_type,
                                      r->ident, digest, why, sizeof(why));
    }
    if (r->why == NULL) {
        if (!ok) {
            print_error("refused: %s\n", why);
        }
        assert_true(ok);
        return;
    }
    assert_false(ok);
    if (strstr(why, r->why) == NULL) {
        print_error("reason \"%s\" does not mention \"%s\"\n", why, r->why);
    }
    assert_non_null(strstr(why, r->why));
}

/* ---- runner -------------------------------------------------------- */

#define N_ROWS(rows) (sizeof(rows) / sizeof((rows)[0]))

int
main(void)
{
    struct CMUnitTest tests[N_ROWS(good_rows) + N_ROWS(bad_rows)];
    size_t n = 0;

    _Static_assert(N_ROWS(bad_rows) >= N_ROWS(good_rows),
                   "bad table at least as long as the good one");
    memset(tests, 0, sizeof(tests));
    for (size_t i = 0; i < N_ROWS(good_rows); i++, n++) {
        tests[n].name = good_rows[i].name;
        tests[n].test_func = test_row;
        tests[n].initial_state = (void *)(uintptr_t)&good_rows[i];
    }
    for (size_t i = 0; i < N_ROWS(bad_rows); i++, n++) {
        tests[n].name = bad_rows[i].name;
        tests[n].test_func = test_row;
        tests[n].initial_state = (void *)(uintptr_t)&bad_rows[i];
    }
    return _cmocka_run_group_tests("val_tlsalpn01", tests, n, setup,
                                   teardown);
}
