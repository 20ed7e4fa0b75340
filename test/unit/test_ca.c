/* test/unit/test_ca.c: the embedded CA (common/ca.c), the local adapter
 * and the adapter registry.
 *
 * Every certificate is parsed back with mbedTLS and verified against the
 * root with the intermediate as the untrusted chain. Each test that
 * changes files works in its own mkdtemp directory. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "test/unit/rows.h"

#include "adapters/adapter.h"
#include "common/ca.h"
#include "common/x509.h"
#include "common/config.h"
#include "common/randpool.h"

#define DAY 86400LL

struct rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

/* Group state: one CA for the tests that only issue. */
struct fix {
    char dir[64];
    struct ca *ca;
    struct rng rng;
};

static void
rng_init(struct rng *r)
{
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    assert_int_equal(mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func,
                                           &r->entropy,
                                           (const unsigned char *)"test", 4),
                     0);
}

static void
rng_fini(struct rng *r)
{
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
}

static void
dir_make(char *dir, size_t len)
{
    assert_true(len >= sizeof("/tmp/test_ca.XXXXXX"));
    memcpy(dir, "/tmp/test_ca.XXXXXX", sizeof("/tmp/test_ca.XXXXXX"));
    assert_non_null(mkdtemp(dir));
}

static void
dir_remove(const char *dir)
{
    DIR *d;
    struct dirent *e;
    char path[512];

    d = opendir(dir);
    assert_non_null(d);
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        assert_true(snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
                    (int)sizeof(path));
        assert_int_equal(unlink(path), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

static size_t
dir_count(const char *dir)
{
    DIR *d;
    struct dirent *e;
    size_t n = 0;

    d = opendir(dir);
    assert_non_null(d);
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static void
path_of(char *out, size_t len, const char *dir, const char *name)
{
    assert_true(snprintf(out, len, "%s/%s", dir, name) < (int)len);
}

static void
file_put(const char *dir, const char *name, const char *data)
{
    char path[512];
    FILE *f;

    path_of(path, sizeof(path), dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, strlen(data), f), strlen(data));
    assert_int_equal(fclose(f), 0);
}

static char *
file_get(const char *dir, const char *name)
{
    char path[512];
    char *data;
    FILE *f;
    long n;

    path_of(path, sizeof(path), dir, name);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    data = calloc(1, (size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    assert_int_equal(fclose(f), 0);
    return data;
}

static void
file_drop(const char *dir, const char *name)
{
    char path[512];

    path_of(path, sizeof(path), dir, name);
    assert_int_equal(unlink(path), 0);
}

static unsigned
file_mode(const char *dir, const char *name)
{
    char path[512];
    struct stat st;

    path_of(path, sizeof(path), dir, name);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    return (unsigned)(st.st_mode & 07777);
}

static void
key_ec(mbedtls_pk_context *pk, struct rng *r)
{
    mbedtls_pk_init(pk);
    assert_int_equal(
        mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
                                         mbedtls_pk_ec(*pk),
                                         mbedtls_ctr_drbg_random, &r->drbg),
                     0);
}

static void
key_rsa(mbedtls_pk_context *pk, struct rng *r, unsigned bits)
{
    mbedtls_pk_init(pk);
    assert_int_equal(
        mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
    assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk),
                                         mbedtls_ctr_drbg_random, &r->drbg,
                                         bits, 65537),
                     0);
}

/* SubjectPublicKeyInfo DER of pk: *der points into buf. */
static size_t
key_spki(mbedtls_pk_context *pk, unsigned char *buf, size_t size,
         const unsigned char **der)
{
    int n;

    n = mbedtls_pk_write_pubkey_der(pk, buf, size);
    assert_true(n > 0);
    *der = buf + size - (size_t)n;
    return (size_t)n;
}

/* Parses pem into crt (appending to its chain). */
static void
crt_add(mbedtls_x509_crt *crt, const char *pem)
{
    assert_non_null(pem);
    assert_int_equal(mbedtls_x509_crt_parse(crt, (const unsigned char *)pem,
                                            strlen(pem) + 1),
                     0);
}

/* leaf + intermediate against the root as the only trust anchor. */
static int
chain_verify_q(struct ca *ca, const char *leaf_pem, const char *int_pem,
               const char *cn, bool quiet)
{
    mbedtls_x509_crt chain;
    mbedtls_x509_crt root;
    uint32_t flags = 0;
    int ret;

    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&root);
    crt_add(&chain, leaf_pem);
    crt_add(&chain, int_pem);
    crt_add(&root, ca_root_pem(ca));
    ret = mbedtls_x509_crt_verify(&chain, &root, NULL, cn, &flags, NULL,
                                  NULL);
    if (ret != 0 && !quiet) {
        char info[512];

        (void)mbedtls_x509_crt_verify_info(info, sizeof(info), "  ", flags);
        print_error("verify: %s", info);
    }
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&root);
    return ret;
}

static int
chain_verify(struct ca *ca, const char *leaf_pem, const char *int_pem,
             const char *cn)
{
    return chain_verify_q(ca, leaf_pem, int_pem, cn, false);
}

/* The raw value of extension oid in crt; -1 when absent. */
static int
ext_find(const mbedtls_x509_crt *crt, const char *oid, size_t oid_len,
         int *critical, const unsigned char **val, size_t *val_len)
{
    unsigned char *p = crt->v3_ext.p;
    const unsigned char *end = p + crt->v3_ext.len;
    const unsigned char *ext_end;
    const unsigned char *o;
    size_t len;
    size_t olen;
    int crit;
    int ret;

    if (p == NULL) {
        return -1;
    }
    assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len,
                                          MBEDTLS_ASN1_CONSTRUCTED |
                                              MBEDTLS_ASN1_SEQUENCE),
                     0);
    assert_true(p + len == end);
    while (p < end) {
        assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len,
                                              MBEDTLS_ASN1_CONSTRUCTED |
                                                  MBEDTLS_ASN1_SEQUENCE),
                         0);
        ext_end = p + len;
        assert_int_equal(
            mbedtls_asn1_get_tag(&p, ext_end, &olen, MBEDTLS_ASN1_OID), 0);
        o = p;
        p += olen;
        crit = 0;
        ret = mbedtls_asn1_get_bool(&p, ext_end, &crit);
        assert_true(ret == 0 || ret == MBEDTLS_ERR_ASN1_UNEXPECTED_TAG);
        assert_int_equal(mbedtls_asn1_get_tag(&p, ext_end, &len,
                                              MBEDTLS_ASN1_OCTET_STRING),
                         0);
        assert_true(p + len == ext_end);
        if (olen == oid_len && memcmp(o, oid, olen) == 0) {
            *critical = crit;
            *val = p;
            *val_len = len;
            return 0;
        }
        p += len;
    }
    return -1;
}

#define EXT_FIND(crt, oid, crit, val, len)                                   \
    ext_find((crt), (oid), MBEDTLS_OID_SIZE(oid), (crit), (val), (len))

/* The SAN entries of crt with tag (0x82 dNSName, 0x87 iPAddress), walked
 * in the raw extension: out[i] points to a copy, lens[i] its length. */
static size_t
san_entries(const mbedtls_x509_crt *crt, unsigned char tag,
            unsigned char out[][256], size_t *lens, size_t max, int *critical)
{
    const unsigned char *val;
    unsigned char *p;
    const unsigned char *end;
    size_t val_len;
    size_t len;
    size_t n = 0;
    unsigned char t;

    assert_int_equal(
        EXT_FIND(crt, MBEDTLS_OID_SUBJECT_ALT_NAME, critical, &val, &val_len),
        0);
    p = (unsigned char *)(uintptr_t)val;
    end = val + val_len;
    assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len,
                                          MBEDTLS_ASN1_CONSTRUCTED |
                                              MBEDTLS_ASN1_SEQUENCE),
                     0);
    assert_true(p + len == end);
    while (p < end) {
        t = *p++;
        assert_int_equal(mbedtls_asn1_get_len(&p, end, &len), 0);
        if (t == tag) {
            assert_true(n < max);
            assert_true(len <= 256);
            memcpy(out[n], p, len);
            lens[n] = len;
            n++;
        }
        p += len;
    }
    return n;
}

/* The dNSName SANs as mbedTLS parsed them, in order. */
static size_t
san_dns_parsed(const mbedtls_x509_crt *crt, const char **want, size_t n)
{
    const mbedtls_x509_sequence *s;
    size_t i = 0;

    for (s = &crt->subject_alt_names; s != NULL && s->buf.p != NULL;
         s = s->next) {
        if (s->buf.tag !=
            (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME)) {
            continue;
        }
        assert_true(i < n);
        assert_int_equal(s->buf.len, strlen(want[i]));
        assert_memory_equal(s->buf.p, want[i], s->buf.len);
        i++;
    }
    return i;
}

static void
time_expect(const mbedtls_x509_time *t, long long when)
{
    struct tm tm;
    time_t tt = (time_t)when;

    assert_non_null(gmtime_r(&tt, &tm));
    assert_int_equal(t->year, tm.tm_year + 1900);
    assert_int_equal(t->mon, tm.tm_mon + 1);
    assert_int_equal(t->day, tm.tm_mday);
    assert_int_equal(t->hour, tm.tm_hour);
    assert_int_equal(t->min, tm.tm_min);
    assert_int_equal(t->sec, tm.tm_sec);
}

static int
x509_time_cmp(const mbedtls_x509_time *a, const mbedtls_x509_time *b)
{
    const int av[] = {a->year, a->mon, a->day, a->hour, a->min, a->sec};
    const int bv[] = {b->year, b->mon, b->day, b->hour, b->min, b->sec};
    size_t i;

    for (i = 0; i < 6; i++) {
        if (av[i] != bv[i]) {
            return av[i] < bv[i] ? -1 : 1;
        }
    }
    return 0;
}

static int
group_setup(void **state)
{
    struct fix *f;
    char errbuf[256];

    f = calloc(1, sizeof(*f));
    assert_non_null(f);
    dir_make(f->dir, sizeof(f->dir));
    assert_int_equal(ca_open(f->dir, &f->ca, errbuf, sizeof(errbuf)), AP_OK);
    rng_init(&f->rng);
    *state = f;
    return 0;
}

static int
group_teardown(void **state)
{
    struct fix *f = *state;

    ca_free(f->ca);
    rng_fini(&f->rng);
    dir_remove(f->dir);
    free(f);
    return 0;
}

/* ---- ca_open ------------------------------------------------------- */

static void
test_open_creates(void **state)
{
    char dir[64];
    char errbuf[256];
    struct ca *ca = NULL;
    mbedtls_x509_crt root;
    mbedtls_x509_crt inter;
    uint32_t flags = 0;
    char name[256];
    const unsigned char *val;
    size_t len;
    int crit;
    char *disk;

    (void)state;
    dir_make(dir, sizeof(dir));
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    assert_non_null(ca);
    /* Four files, no temporaries left behind; keys 0600. */
    assert_int_equal(dir_count(dir), 4);
    assert_int_equal(file_mode(dir, CA_ROOT_KEY_FILE), 0600);
    assert_int_equal(file_mode(dir, CA_INT_KEY_FILE), 0600);
    assert_int_equal(file_mode(dir, CA_ROOT_FILE) & 0133, 0);
    assert_int_equal(file_mode(dir, CA_INT_FILE) & 0133, 0);
    disk = file_get(dir, CA_ROOT_FILE);
    assert_string_equal(disk, ca_root_pem(ca));
    free(disk);

    mbedtls_x509_crt_init(&root);
    mbedtls_x509_crt_init(&inter);
    crt_add(&root, ca_root_pem(ca));
    crt_add(&inter, ca_intermediate_pem(ca));
    assert_null(root.next);
    assert_null(inter.next);

    /* Root: self-signed CA, critical basicConstraints and keyUsage. */
    assert_true(mbedtls_x509_dn_gets(name, sizeof(name), &root.subject) > 0);
    assert_int_equal(strncmp(name, "CN=acmeproxy local root CA ", 27), 0);
    assert_int_equal(strlen(name), 27 + 4);
    assert_true(root.ca_istrue);
    assert_int_equal(root.max_pathlen, 0); /* no limit */
    assert_int_equal(mbedtls_pk_get_type(&root.pk), MBEDTLS_PK_ECKEY);
    assert_int_equal(mbedtls_x509_crt_check_key_usage(
                         &root, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                    MBEDTLS_X509_KU_CRL_SIGN),
                     0);
    assert_int_equal(EXT_FIND(&root, MBEDTLS_OID_BASIC_CONSTRAINTS, &crit,
                              &val, &len),
                     0);
    assert_true(crit);
    assert_int_equal(
        EXT_FIND(&root, MBEDTLS_OID_KEY_USAGE, &crit, &val, &len), 0);
    assert_true(crit);
    assert_int_equal(EXT_FIND(&root, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
                              &crit, &val, &len),
                     0);
    assert_int_equal(mbedtls_x509_crt_verify(&root, &root, NULL, NULL, &flags,
                                             NULL, NULL),
                     0);
    /* About 20 years. */
    assert_true(root.valid_to.year - root.valid_from.year >= 19);

    /* Intermediate: pathlen 0 (mbedTLS stores it plus one), signed by the
     * root, SKI and AKI, at most the root's life. */
    assert_true(mbedtls_x509_dn_gets(name, sizeof(name), &inter.subject) >
                0);
    assert_string_equal(name, "CN=acmeproxy local intermediate CA");
    assert_true(inter.ca_istrue);
    assert_int_equal(inter.max_pathlen, 1);
    assert_int_equal(inter.issuer_raw.len, root.subject_raw.len);
    assert_memory_equal(inter.issuer_raw.p, root.subject_raw.p,
                        root.subject_raw.len);
    assert_int_equal(mbedtls_x509_crt_verify(&inter, &root, NULL, NULL,
                                             &flags, NULL, NULL),
                     0);
    assert_int_equal(EXT_FIND(&inter, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
                              &crit, &val, &len),
                     0);
    assert_int_equal(EXT_FIND(&inter, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                              &crit, &val, &len),
                     0);
    assert_int_equal(EXT_FIND(&inter, MBEDTLS_OID_BASIC_CONSTRAINTS, &crit,
                              &val, &len),
                     0);
    assert_true(crit);
    assert_true(inter.valid_to.year - inter.valid_from.year >= 9);
    assert_true(x509_time_cmp(&inter.valid_to, &root.valid_to) <= 0);

    mbedtls_x509_crt_free(&root);
    mbedtls_x509_crt_free(&inter);
    ca_free(ca);
    dir_remove(dir);
}

static void
test_open_reloads(void **state)
{
    char dir[64];
    char errbuf[256];
    struct ca *ca = NULL;
    char *root_pem;
    char *int_pem;

    (void)state;
    dir_make(dir, sizeof(dir));
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    root_pem = strdup(ca_root_pem(ca));
    int_pem = strdup(ca_intermediate_pem(ca));
    assert_non_null(root_pem);
    assert_non_null(int_pem);
    ca_free(ca);
    ca = NULL;

    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    assert_string_equal(ca_root_pem(ca), root_pem);
    assert_string_equal(ca_intermediate_pem(ca), int_pem);
    assert_int_equal(dir_count(dir), 4);
    ca_free(ca);
    ca = NULL;

    /* The intermediate gone: a new one under the same root. */
    file_drop(dir, CA_INT_FILE);
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    assert_string_equal(ca_root_pem(ca), root_pem);
    assert_string_not_equal(ca_intermediate_pem(ca), int_pem);
    assert_int_equal(file_mode(dir, CA_INT_KEY_FILE), 0600);
    assert_int_equal(dir_count(dir), 4);
    ca_free(ca);
    ca = NULL;

    /* The root key offline: the intermediate still loads and signs. */
    file_drop(dir, CA_ROOT_KEY_FILE);
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    assert_string_equal(ca_root_pem(ca), root_pem);
    ca_free(ca);
    ca = NULL;

    /* ... but a new intermediate then cannot be made. */
    file_drop(dir, CA_INT_KEY_FILE);
    errbuf[0] = '\0';
    assert_int_not_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    assert_null(ca);
    assert_non_null(strstr(errbuf, CA_ROOT_KEY_FILE));

    free(root_pem);
    free(int_pem);
    dir_remove(dir);
}

/* ca_open_deferred reads nothing until its first use, then loads what
 * ca_open made (the same PEMs), creates nothing, and a load that fails
 * fails that call (AP_ECONFIG, NULL PEMs) and is tried again at the
 * next. */
static void
test_open_deferred(void **state)
{
    static const char *const dns[] = {"deferred.example"};
    char dir[64];
    char empty[64];
    char errbuf[256];
    char hold[600];
    char path[512];
    struct ca *ca = NULL;
    struct ca *lazy = NULL;
    char *key = NULL;
    char *cert = NULL;

    (void)state;
    dir_make(dir, sizeof(dir));
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);

    /* Opened, then its intermediate moved away: nothing was read yet,
     * so the first use fails, and the same CA loads once it is back. */
    assert_int_equal(ca_open_deferred(dir, &lazy, errbuf, sizeof(errbuf)),
                     AP_OK);
    path_of(path, sizeof(path), dir, CA_INT_FILE);
    snprintf(hold, sizeof(hold), "%s.held", path);
    assert_int_equal(rename(path, hold), 0);
    assert_null(ca_root_pem(lazy));
    assert_null(ca_intermediate_pem(lazy));
    errbuf[0] = '\0';
    assert_int_equal(ca_issue_tls(lazy, dns, 1, NULL, 0, 7, &key, &cert,
                                  errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    assert_non_null(strstr(errbuf, "missing"));
    assert_null(key);
    assert_int_equal(dir_count(dir), 4); /* nothing made in its place */
    assert_int_equal(rename(hold, path), 0);
    assert_non_null(ca_root_pem(lazy));
    assert_string_equal(ca_root_pem(lazy), ca_root_pem(ca));
    assert_string_equal(ca_intermediate_pem(lazy), ca_intermediate_pem(ca));
    assert_int_equal(ca_issue_tls(lazy, dns, 1, NULL, 0, 7, &key, &cert,
                                  errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_non_null(strstr(cert, "BEGIN CERTIFICATE"));
    free(key);
    free(cert);
    ca_free(lazy);
    lazy = NULL;

    /* A broken intermediate key: refused at the first use, as ca_open
     * refuses it, and never as the caller's fault (AP_EPARSE). */
    path_of(path, sizeof(path), dir, CA_INT_KEY_FILE);
    snprintf(hold, sizeof(hold), "%s.held", path);
    assert_int_equal(rename(path, hold), 0);
    {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fputs("-----BEGIN EC PRIVATE KEY-----\nAAAA\n"
              "-----END EC PRIVATE KEY-----\n", f);
        assert_int_equal(fclose(f), 0);
    }
    assert_int_not_equal(ca_open(dir, &lazy, errbuf, sizeof(errbuf)), AP_OK);
    assert_null(lazy);
    assert_int_equal(ca_open_deferred(dir, &lazy, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_null(ca_intermediate_pem(lazy));
    assert_int_equal(ca_issue_tls(lazy, dns, 1, NULL, 0, 7, &key, &cert,
                                  errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    ca_free(lazy);
    lazy = NULL;
    assert_int_equal(rename(hold, path), 0);

    /* An empty directory: a deferred CA makes no files, ever. */
    dir_make(empty, sizeof(empty));
    assert_int_equal(ca_open_deferred(empty, &lazy, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_null(ca_root_pem(lazy));
    assert_int_equal(ca_issue_tls(lazy, dns, 1, NULL, 0, 7, &key, &cert,
                                  errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    assert_int_equal(dir_count(empty), 0);
    ca_free(lazy);
    lazy = NULL;
    assert_int_equal(ca_open_deferred("", &lazy, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_null(lazy);

    ca_free(ca);
    dir_remove(empty);
    dir_remove(dir);
}

/* Threads whose first use of one deferred CA races: one load, and every
 * thread sees the same PEMs. */
struct deferred_race {
    struct ca *ca;
    const char *root;
};

static void *
deferred_race_main(void *arg)
{
    struct deferred_race *r = arg;

    r->root = ca_root_pem(r->ca);
    return NULL;
}

static void
test_open_deferred_race(void **state)
{
    char dir[64];
    char errbuf[256];
    struct ca *ca = NULL;
    struct ca *lazy = NULL;
    struct deferred_race r[8];
    pthread_t t[8];

    (void)state;
    dir_make(dir, sizeof(dir));
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    assert_int_equal(ca_open_deferred(dir, &lazy, errbuf, sizeof(errbuf)),
                     AP_OK);
    for (int i = 0; i < 8; i++) {
        r[i].ca = lazy;
        r[i].root = NULL;
        assert_int_equal(pthread_create(&t[i], NULL, deferred_race_main,
                                        &r[i]),
                         0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_non_null(r[i].root);
        assert_ptr_equal(r[i].root, r[0].root);
    }
    assert_string_equal(r[0].root, ca_root_pem(ca));
    ca_free(lazy);
    ca_free(ca);
    dir_remove(dir);
}

/* A root key without its certificate (crash between the two writes). */
static void
test_open_recovers_root(void **state)
{
    char dir[64];
    char errbuf[256];
    struct ca *ca = NULL;
    char *root_key;
    char *root_pem;

    (void)state;
    dir_make(dir, sizeof(dir));
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    root_pem = strdup(ca_root_pem(ca));
    assert_non_null(root_pem);
    ca_free(ca);
    ca = NULL;
    root_key = file_get(dir, CA_ROOT_KEY_FILE);
    file_drop(dir, CA_ROOT_FILE);
    file_drop(dir, CA_INT_FILE);
    file_drop(dir, CA_INT_KEY_FILE);

    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    assert_int_equal(dir_count(dir), 4);
    assert_string_not_equal(ca_root_pem(ca), root_pem);
    ca_free(ca);
    ca = NULL;
    /* The same key was kept. */
    {
        char *again = file_get(dir, CA_ROOT_KEY_FILE);

        assert_string_equal(again, root_key);
        free(again);
    }
    /* Intermediate files without a root certificate: refused. */
    file_drop(dir, CA_ROOT_FILE);
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_ECONFIG);
    assert_null(ca);
    assert_non_null(strstr(errbuf, CA_ROOT_FILE));

    free(root_key);
    free(root_pem);
    dir_remove(dir);
}

static void
expect_open_fails(const char *dir, const char *needle)
{
    char errbuf[512];
    struct ca *ca = NULL;

    errbuf[0] = '\0';
    assert_int_not_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    assert_null(ca);
    if (strstr(errbuf, needle) == NULL) {
        print_error("errbuf \"%s\" lacks \"%s\"\n", errbuf, needle);
        fail();
    }
}

static void
test_open_bad_files(void **state)
{
    char dir[64];
    char errbuf[256];
    struct ca *ca = NULL;
    char *root_key;
    char *int_key;
    char *int_pem;
    char *root_pem;

    (void)state;
    dir_make(dir, sizeof(dir));
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    ca_free(ca);
    ca = NULL;
    root_key = file_get(dir, CA_ROOT_KEY_FILE);
    int_key = file_get(dir, CA_INT_KEY_FILE);
    int_pem = file_get(dir, CA_INT_FILE);
    root_pem = file_get(dir, CA_ROOT_FILE);

    /* Garbage in the intermediate key. */
    file_put(dir, CA_INT_KEY_FILE, "-----BEGIN EC PRIVATE KEY-----\n"
                                   "Z2FyYmFnZQ==\n"
                                   "-----END EC PRIVATE KEY-----\n");
    expect_open_fails(dir, CA_INT_KEY_FILE);
    /* An empty key file. */
    file_put(dir, CA_INT_KEY_FILE, "");
    expect_open_fails(dir, CA_INT_KEY_FILE);
    /* A valid key that is not the intermediate's. */
    file_put(dir, CA_INT_KEY_FILE, root_key);
    expect_open_fails(dir, "does not match");
    file_put(dir, CA_INT_KEY_FILE, int_key);

    /* Garbage root key. */
    file_put(dir, CA_ROOT_KEY_FILE, "not a key\n");
    expect_open_fails(dir, CA_ROOT_KEY_FILE);
    /* Root key swapped for the intermediate's. */
    file_put(dir, CA_ROOT_KEY_FILE, int_key);
    expect_open_fails(dir, "does not match");
    file_put(dir, CA_ROOT_KEY_FILE, root_key);

    /* Corrupted certificates. */
    file_put(dir, CA_ROOT_FILE, "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                "-----END CERTIFICATE-----\n");
    expect_open_fails(dir, CA_ROOT_FILE);
    file_put(dir, CA_ROOT_FILE, root_pem);
    /* The intermediate presented as the root. */
    file_put(dir, CA_ROOT_FILE, int_pem);
    file_put(dir, CA_ROOT_KEY_FILE, int_key);
    expect_open_fails(dir, "does not verify");
    file_put(dir, CA_ROOT_FILE, root_pem);
    file_put(dir, CA_ROOT_KEY_FILE, root_key);

    /* Back to the original files: opens again. */
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    ca_free(ca);

    /* A directory that does not exist. */
    expect_open_fails("/nonexistent/acmeproxy-ca", "/nonexistent");

    free(root_key);
    free(int_key);
    free(int_pem);
    free(root_pem);
    dir_remove(dir);
}

/* ---- ca_issue ------------------------------------------------------ */

static void
check_leaf_common(struct ca *ca, const char *pem, mbedtls_x509_crt *crt,
                  bool rsa)
{
    mbedtls_x509_crt inter;
    const unsigned char *val;
    size_t len;
    int crit;

    mbedtls_x509_crt_init(&inter);
    crt_add(&inter, ca_intermediate_pem(ca));
    crt_add(crt, pem);
    assert_null(crt->next);
    assert_int_equal(crt->version, 3);
    /* Serial: 128 bits, positive, non-zero first octet. */
    assert_int_equal(crt->serial.len, 16);
    assert_int_equal(crt->serial.p[0] & 0x80, 0);
    assert_int_not_equal(crt->serial.p[0], 0);
    /* Issuer is the intermediate's subject, byte for byte. */
    assert_int_equal(crt->issuer_raw.len, inter.subject_raw.len);
    assert_memory_equal(crt->issuer_raw.p, inter.subject_raw.p,
                        inter.subject_raw.len);
    assert_int_equal(crt->sig_md, MBEDTLS_MD_SHA256);
    /* CA:FALSE, critical. */
    assert_false(crt->ca_istrue);
    assert_true(crt->ext_types & MBEDTLS_X509_EXT_BASIC_CONSTRAINTS);
    assert_int_equal(
        EXT_FIND(crt, MBEDTLS_OID_BASIC_CONSTRAINTS, &crit, &val, &len), 0);
    assert_true(crit);
    /* keyUsage, critical. */
    assert_int_equal(EXT_FIND(crt, MBEDTLS_OID_KEY_USAGE, &crit, &val, &len),
                     0);
    assert_true(crit);
    assert_int_equal(mbedtls_x509_crt_check_key_usage(
                         crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE),
                     0);
    assert_int_equal((crt->key_usage & MBEDTLS_X509_KU_KEY_ENCIPHERMENT) != 0,
                     rsa);
    assert_int_equal(crt->key_usage & MBEDTLS_X509_KU_KEY_CERT_SIGN, 0);
    /* extKeyUsage. */
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         crt, MBEDTLS_OID_SERVER_AUTH,
                         MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
                     0);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         crt, MBEDTLS_OID_CLIENT_AUTH,
                         MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
                     0);
    assert_int_not_equal(mbedtls_x509_crt_check_extended_key_usage(
                             crt, MBEDTLS_OID_CODE_SIGNING,
                             MBEDTLS_OID_SIZE(MBEDTLS_OID_CODE_SIGNING)),
                         0);
    /* SKI and AKI. */
    assert_int_equal(EXT_FIND(crt, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER, &crit,
                              &val, &len),
                     0);
    assert_int_equal(EXT_FIND(crt, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                              &crit, &val, &len),
                     0);
    mbedtls_x509_crt_free(&inter);
}

static void
issue_one(void **state, bool rsa)
{
    struct fix *f = *state;
    static const char *const dns[] = {"example.com", "www.example.com",
                                      "*.example.org"};
    static const char *const ips[] = {"192.0.2.1", "2001:db8::1"};
    static const unsigned char ip4[] = {192, 0, 2, 1};
    static const unsigned char ip6[] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                        0,    0,    0,    0,    0, 0, 0, 1};
    const char *want_dns[] = {"example.com", "www.example.com",
                              "*.example.org"};
    unsigned char got[4][256];
    size_t lens[4];
    unsigned char keybuf[1024];
    const unsigned char *spki;
    struct ca_issue_req req;
    mbedtls_pk_context key;
    mbedtls_x509_crt crt;
    char errbuf[256];
    char name[256];
    char *pem = NULL;
    long long now = (long long)time(NULL);
    unsigned char pub1[1024];
    unsigned char pub2[1024];
    int n1;
    int n2;
    int crit;

    if (rsa) {
        key_rsa(&key, &f->rng, 2048);
    } else {
        key_ec(&key, &f->rng);
    }
    memset(&req, 0, sizeof(req));
    req.pubkey_der_len = key_spki(&key, keybuf, sizeof(keybuf), &spki);
    req.pubkey_der = spki;
    req.dns_names = dns;
    req.n_dns_names = 3;
    req.ip_addrs = ips;
    req.n_ip_addrs = 2;
    req.not_before = now - 60;
    req.not_after = now + 90 * DAY;
    randpool_wipe();
    assert_int_equal(ca_issue(f->ca, &req, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_non_null(pem);
    assert_int_equal(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28), 0);
    /* The serial's 16 octets came from the thread's pool of random bytes
     * (one RAND_bytes per pool, not per certificate). */
    assert_int_equal(randpool_avail(), RANDPOOL_SIZE - 16);

    mbedtls_x509_crt_init(&crt);
    check_leaf_common(f->ca, pem, &crt, rsa);
    assert_int_equal(mbedtls_pk_get_type(&crt.pk),
                     rsa ? MBEDTLS_PK_RSA : MBEDTLS_PK_ECKEY);
    /* The certified key is the one we sent. */
    n1 = mbedtls_pk_write_pubkey_der(&crt.pk, pub1, sizeof(pub1));
    n2 = mbedtls_pk_write_pubkey_der(&key, pub2, sizeof(pub2));
    assert_true(n1 > 0);
    assert_int_equal(n1, n2);
    assert_memory_equal(pub1 + sizeof(pub1) - (size_t)n1,
                        pub2 + sizeof(pub2) - (size_t)n2, (size_t)n1);
    /* Subject CN: the first DNS name. */
    assert_true(mbedtls_x509_dn_gets(name, sizeof(name), &crt.subject) > 0);
    assert_string_equal(name, "CN=example.com");
    /* Validity as asked. */
    time_expect(&crt.valid_from, now - 60);
    time_expect(&crt.valid_to, now + 90 * DAY);
    /* SANs: DNS names through mbedTLS's parser, IPs from the raw DER. */
    assert_int_equal(san_dns_parsed(&crt, want_dns, 3), 3);
    assert_int_equal(san_entries(&crt, 0x82, got, lens, 4, &crit), 3);
    assert_false(crit);
    assert_int_equal(lens[2], strlen("*.example.org"));
    assert_memory_equal(got[2], "*.example.org", lens[2]);
    assert_int_equal(san_entries(&crt, 0x87, got, lens, 4, &crit), 2);
    assert_int_equal(lens[0], 4);
    assert_memory_equal(got[0], ip4, 4);
    assert_int_equal(lens[1], 16);
    assert_memory_equal(got[1], ip6, 16);
    /* Chains to the root through the intermediate, for the names. */
    assert_int_equal(chain_verify(f->ca, pem, ca_intermediate_pem(f->ca),
                                  "www.example.com"),
                     0);
    assert_int_not_equal(chain_verify_q(f->ca, pem,
                                        ca_intermediate_pem(f->ca),
                                        "other.example.net", true),
                         0);

    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&key);
    free(pem);
}

static void
test_issue_ec(void **state)
{
    issue_one(state, false);
}

static void
test_issue_rsa(void **state)
{
    issue_one(state, true);
}

/* Only IP addresses: CN is the first one; explicit CN honoured. */
/* A client-authentication leaf (the local adapter's template
 * "clientAuth"): extKeyUsage clientAuth and not serverAuth. */
static void
test_issue_client_only(void **state)
{
    struct fix *f = *state;
    static const char *const dns[] = {"host1.example"};
    unsigned char keybuf[256];
    const unsigned char *spki;
    struct ca_issue_req req;
    mbedtls_pk_context key;
    mbedtls_x509_crt crt;
    char errbuf[256];
    char *pem = NULL;
    long long now = (long long)time(NULL);

    key_ec(&key, &f->rng);
    memset(&req, 0, sizeof(req));
    req.pubkey_der_len = key_spki(&key, keybuf, sizeof(keybuf), &spki);
    req.pubkey_der = spki;
    req.dns_names = dns;
    req.n_dns_names = 1;
    req.not_before = now;
    req.not_after = now + DAY;
    req.eku = CA_EKU_CLIENT;
    assert_int_equal(ca_issue(f->ca, &req, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem,
                                            strlen(pem) + 1),
                     0);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_CLIENT_AUTH,
                         MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
                     0);
    assert_int_not_equal(mbedtls_x509_crt_check_extended_key_usage(
                             &crt, MBEDTLS_OID_SERVER_AUTH,
                             MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
                         0);
    mbedtls_x509_crt_free(&crt);
    free(pem);
    mbedtls_pk_free(&key);
}

static void
test_issue_ip_only_and_cn(void **state)
{
    struct fix *f = *state;
    static const char *const ips[] = {"::1", "127.0.0.1"};
    static const char *const dns[] = {"a.example"};
    unsigned char keybuf[256];
    const unsigned char *spki;
    unsigned char got[4][256];
    size_t lens[4];
    struct ca_issue_req req;
    mbedtls_pk_context key;
    mbedtls_x509_crt crt;
    char errbuf[256];
    char name[256];
    char *pem = NULL;
    long long now = (long long)time(NULL);
    int crit;

    key_ec(&key, &f->rng);
    memset(&req, 0, sizeof(req));
    req.pubkey_der_len = key_spki(&key, keybuf, sizeof(keybuf), &spki);
    req.pubkey_der = spki;
    req.ip_addrs = ips;
    req.n_ip_addrs = 2;
    req.not_before = now;
    req.not_after = now + DAY;
    assert_int_equal(ca_issue(f->ca, &req, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    mbedtls_x509_crt_init(&crt);
    check_leaf_common(f->ca, pem, &crt, false);
    assert_true(mbedtls_x509_dn_gets(name, sizeof(name), &crt.subject) > 0);
    assert_string_equal(name, "CN=::1");
    assert_int_equal(san_entries(&crt, 0x82, got, lens, 4, &crit), 0);
    assert_int_equal(san_entries(&crt, 0x87, got, lens, 4, &crit), 2);
    assert_int_equal(lens[0], 16);
    assert_int_equal(lens[1], 4);
    assert_int_equal(chain_verify(f->ca, pem, ca_intermediate_pem(f->ca),
                                  NULL),
                     0);
    mbedtls_x509_crt_free(&crt);
    free(pem);
    pem = NULL;

    /* A CN with DN metacharacters goes in verbatim. */
    req.dns_names = dns;
    req.n_dns_names = 1;
    req.n_ip_addrs = 0;
    req.cn = "x, O=evil\\";
    assert_int_equal(ca_issue(f->ca, &req, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    mbedtls_x509_crt_init(&crt);
    crt_add(&crt, pem);
    assert_non_null(crt.subject.oid.p);
    assert_null(crt.subject.next);
    assert_int_equal(crt.subject.val.len, strlen(req.cn));
    assert_memory_equal(crt.subject.val.p, req.cn, crt.subject.val.len);
    mbedtls_x509_crt_free(&crt);
    free(pem);
    mbedtls_pk_free(&key);
}

/* A first name over 64 characters: empty subject, critical SAN. */
static void
test_issue_long_name(void **state)
{
    struct fix *f = *state;
    static const char *const dns[] = {
        "a-very-long-label-that-goes-on-and-on-and-on-and-on.sub.example.com",
        "short.example.com"};
    unsigned char keybuf[256];
    const unsigned char *spki;
    unsigned char got[4][256];
    size_t lens[4];
    struct ca_issue_req req;
    mbedtls_pk_context key;
    mbedtls_x509_crt crt;
    char errbuf[256];
    char *pem = NULL;
    long long now = (long long)time(NULL);
    int crit = 0;

    assert_true(strlen(dns[0]) > 64);
    key_ec(&key, &f->rng);
    memset(&req, 0, sizeof(req));
    req.pubkey_der_len = key_spki(&key, keybuf, sizeof(keybuf), &spki);
    req.pubkey_der = spki;
    req.dns_names = dns;
    req.n_dns_names = 2;
    req.not_before = now;
    req.not_after = now + DAY;
    assert_int_equal(ca_issue(f->ca, &req, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    mbedtls_x509_crt_init(&crt);
    check_leaf_common(f->ca, pem, &crt, false);
    /* Subject is the empty SEQUENCE. */
    assert_int_equal(crt.subject_raw.len, 2);
    assert_int_equal(crt.subject_raw.p[0], 0x30);
    assert_int_equal(crt.subject_raw.p[1], 0x00);
    assert_int_equal(san_entries(&crt, 0x82, got, lens, 4, &crit), 2);
    assert_true(crit);
    assert_int_equal(chain_verify(f->ca, pem, ca_intermediate_pem(f->ca),
                                  "short.example.com"),
                     0);
    mbedtls_x509_crt_free(&crt);
    free(pem);
    mbedtls_pk_free(&key);
}

/* not_after past the intermediate's end is cut to it. */
static void
test_issue_clamped(void **state)
{
    struct fix *f = *state;
    static const char *const dns[] = {"example.com"};
    unsigned char keybuf[256];
    const unsigned char *spki;
    struct ca_issue_req req;
    mbedtls_pk_context key;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt inter;
    char errbuf[256];
    char *pem = NULL;
    long long now = (long long)time(NULL);

    key_ec(&key, &f->rng);
    memset(&req, 0, sizeof(req));
    req.pubkey_der_len = key_spki(&key, keybuf, sizeof(keybuf), &spki);
    req.pubkey_der = spki;
    req.dns_names = dns;
    req.n_dns_names = 1;
    req.not_before = now;
    req.not_after = now + 40 * 366 * DAY;
    assert_int_equal(ca_issue(f->ca, &req, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    mbedtls_x509_crt_init(&crt);
    mbedtls_x509_crt_init(&inter);
    crt_add(&crt, pem);
    crt_add(&inter, ca_intermediate_pem(f->ca));
    assert_int_equal(x509_time_cmp(&crt.valid_to, &inter.valid_to), 0);
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_free(&inter);
    free(pem);
    mbedtls_pk_free(&key);
}

static void
expect_issue_fails(struct ca *ca, const struct ca_issue_req *req)
{
    char errbuf[256];
    char *pem = NULL;

    errbuf[0] = '\0';
    assert_int_not_equal(ca_issue(ca, req, &pem, errbuf, sizeof(errbuf)),
                         AP_OK);
    assert_null(pem);
    assert_true(errbuf[0] != '\0');
}

static void
test_issue_bad_inputs(void **state)
{
    struct fix *f = *state;
    static const char *const dns[] = {"example.com"};
    static const char *const bad_dns[][1] = {
        {""}, {"has space.example"}, {"tab\t.example"}, {"\xc3\xa9.example"}};
    static const char *const bad_ips[][1] = {
        {"300.1.1.1"}, {"example.com"}, {"fe80::1%eth0"}, {""},
        {"1.2.3"},     {"::g"},         {" 1.2.3.4"}};
    static const unsigned char garbage[] = {0x30, 0x03, 0x02, 0x01, 0x00,
                                            0xde, 0xad};
    char long_dns[300];
    const char *long_list[1] = {long_dns};
    unsigned char keybuf[1024];
    const unsigned char *spki;
    struct ca_issue_req req;
    struct ca_issue_req bad;
    mbedtls_pk_context key;
    mbedtls_pk_context weak;
    char errbuf[256];
    char *pem = NULL;
    long long now = (long long)time(NULL);
    size_t i;

    key_ec(&key, &f->rng);
    memset(&req, 0, sizeof(req));
    req.pubkey_der_len = key_spki(&key, keybuf, sizeof(keybuf), &spki);
    req.pubkey_der = spki;
    req.dns_names = dns;
    req.n_dns_names = 1;
    req.not_before = now;
    req.not_after = now + DAY;

    /* Times. */
    bad = req;
    bad.not_after = bad.not_before;
    expect_issue_fails(f->ca, &bad);
    bad.not_after = bad.not_before - 1;
    expect_issue_fails(f->ca, &bad);
    bad.not_before = -10;
    bad.not_after = now;
    expect_issue_fails(f->ca, &bad);
    bad.not_before = now;
    bad.not_after = 300000000000LL; /* year 11476 */
    expect_issue_fails(f->ca, &bad);

    /* Keys. */
    bad = req;
    bad.pubkey_der = garbage;
    bad.pubkey_der_len = sizeof(garbage);
    expect_issue_fails(f->ca, &bad);
    bad.pubkey_der_len = 0;
    expect_issue_fails(f->ca, &bad);
    bad.pubkey_der = NULL;
    expect_issue_fails(f->ca, &bad);
    bad.pubkey_der = spki;
    bad.pubkey_der_len = req.pubkey_der_len - 1;
    expect_issue_fails(f->ca, &bad);
    key_rsa(&weak, &f->rng, 1024);
    bad = req;
    bad.pubkey_der_len = key_spki(&weak, keybuf, sizeof(keybuf), &spki);
    bad.pubkey_der = spki;
    expect_issue_fails(f->ca, &bad);
    mbedtls_pk_free(&weak);
    req.pubkey_der_len = key_spki(&key, keybuf, sizeof(keybuf), &spki);
    req.pubkey_der = spki;

    /* Names. */
    bad = req;
    bad.n_dns_names = 0;
    expect_issue_fails(f->ca, &bad);
    bad.dns_names = NULL;
    bad.n_dns_names = 1;
    expect_issue_fails(f->ca, &bad);
    for (i = 0; i < sizeof(bad_dns) / sizeof(bad_dns[0]); i++) {
        bad = req;
        bad.dns_names = bad_dns[i];
        expect_issue_fails(f->ca, &bad);
    }
    memset(long_dns, 'a', sizeof(long_dns) - 1);
    long_dns[sizeof(long_dns) - 1] = '\0';
    bad = req;
    bad.dns_names = long_list;
    expect_issue_fails(f->ca, &bad);
    for (i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
        bad = req;
        bad.ip_addrs = bad_ips[i];
        bad.n_ip_addrs = 1;
        expect_issue_fails(f->ca, &bad);
    }
    bad = req;
    bad.cn = "line\nbreak";
    expect_issue_fails(f->ca, &bad);

    /* Missing arguments. */
    assert_int_equal(ca_issue(f->ca, NULL, &pem, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_int_equal(ca_issue(f->ca, &req, NULL, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_null(pem);

    /* And the good request still works. */
    assert_int_equal(ca_issue(f->ca, &req, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    free(pem);
    mbedtls_pk_free(&key);
}

/* ---- subject keys: what ca_issue reads from the SPKI --------------- */

/* An SPKI and an RSAPublicKey as their parts, to write well-formed and
 * malformed ones with OpenSSL's encoder. */
typedef struct {
    X509_ALGOR *alg;
    ASN1_BIT_STRING *key;
} T_SPKI;

ASN1_SEQUENCE(T_SPKI) = {
    ASN1_SIMPLE(T_SPKI, alg, X509_ALGOR),
    ASN1_SIMPLE(T_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(T_SPKI)

typedef struct {
    ASN1_INTEGER *n;
    ASN1_INTEGER *e;
} T_RSAPUB;

ASN1_SEQUENCE(T_RSAPUB) = {
    ASN1_SIMPLE(T_RSAPUB, n, ASN1_INTEGER),
    ASN1_SIMPLE(T_RSAPUB, e, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(T_RSAPUB)

enum key_kind {
    KK_P384, KK_P521, KK_RSA2048, KK_RSA_ABSENT_PARAMS, /* signed */
    KK_EXPLICIT, KK_EC_NO_PARAMS, KK_EC_NULL_PARAMS, KK_EC_UNKNOWN_CURVE,
    KK_K256, KK_UNKNOWN_ALG, KK_SHA256_ALG, KK_ED25519, KK_TRUNCATED,
    KK_TRAILING, KK_UNUSED_BITS, KK_EMPTY_KEY, KK_RSA2047,
    KK_RSA_NEG_MODULUS, KK_RSA_NOT_RSAPUB, KK_RSA_TRAILING_IN_KEY,
    KK_RSA_OID_PARAMS
};

struct key_row {
    const char *name;
    enum key_kind kind;
    ap_err want;
    const char *err_has; /* in errbuf when refused */
    bool rsa;            /* keyEncipherment expected */
};

static const struct key_row key_rows[] = {
    { "key: P-384 signed", KK_P384, AP_OK, NULL, false },
    { "key: P-521 signed", KK_P521, AP_OK, NULL, false },
    { "key: RSA 2048 signed", KK_RSA2048, AP_OK, NULL, true },
    { "key: RSA without NULL parameters signed as sent",
      KK_RSA_ABSENT_PARAMS, AP_OK, NULL, true },
    { "key: P-256 with explicit curve parameters", KK_EXPLICIT, AP_EINVAL,
      "named curve", false },
    { "key: id-ecPublicKey without parameters", KK_EC_NO_PARAMS, AP_EPARSE,
      "does not parse", false },
    { "key: id-ecPublicKey with NULL parameters", KK_EC_NULL_PARAMS,
      AP_EPARSE, "does not parse", false },
    { "key: EC on an unknown curve OID", KK_EC_UNKNOWN_CURVE, AP_EPARSE,
      "does not parse", false },
    { "key: EC on secp256k1", KK_K256, AP_EINVAL, "P-256, P-384 or P-521",
      false },
    { "key: unknown algorithm OID", KK_UNKNOWN_ALG, AP_EPARSE,
      "does not parse", false },
    { "key: sha256 OID as the algorithm", KK_SHA256_ALG, AP_EPARSE,
      "does not parse", false },
    { "key: Ed25519", KK_ED25519, AP_EINVAL, "not supported", false },
    { "key: truncated SPKI", KK_TRUNCATED, AP_EPARSE, "does not parse",
      false },
    { "key: a byte after the SPKI", KK_TRAILING, AP_EPARSE,
      "does not parse", false },
    { "key: BIT STRING with unused bits", KK_UNUSED_BITS, AP_EPARSE,
      "does not parse", false },
    { "key: empty BIT STRING", KK_EMPTY_KEY, AP_EPARSE, "does not parse",
      false },
    { "key: RSA modulus of 2047 bits", KK_RSA2047, AP_EINVAL,
      "shorter than 2048", true },
    { "key: RSA negative modulus", KK_RSA_NEG_MODULUS, AP_EPARSE,
      "does not parse", true },
    { "key: rsaEncryption without an RSAPublicKey", KK_RSA_NOT_RSAPUB,
      AP_EPARSE, "does not parse", true },
    { "key: RSAPublicKey with a byte after it", KK_RSA_TRAILING_IN_KEY,
      AP_EPARSE, "does not parse", true },
    { "key: rsaEncryption with OID parameters", KK_RSA_OID_PARAMS,
      AP_EPARSE, "does not parse", true },
};

/* The group's CA: cmocka hands a group state to each test in place of
 * its row, so the group state is left NULL. */
static struct fix *key_fix;

static int
key_group_setup(void **state)
{
    void *f = NULL;
    int rc = group_setup(&f);

    key_fix = f;
    *state = NULL;
    return rc;
}

static int
key_group_teardown(void **state)
{
    void *f = key_fix;

    (void)state;
    key_fix = NULL;
    return group_teardown(&f);
}

/* DER of spki (freed), with its BIT STRING's unused bits set to unused. */
static unsigned char *
spki_encode(T_SPKI *spki, int unused, size_t *len)
{
    unsigned char *der = NULL;
    int n;

    if (spki == NULL || spki->key == NULL) {
        fail();
        return NULL;
    }
    spki->key->flags &= ~(long)(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    spki->key->flags |= ASN1_STRING_FLAG_BITS_LEFT | unused;
    n = ASN1_item_i2d((ASN1_VALUE *)spki, &der, ASN1_ITEM_rptr(T_SPKI));
    assert_true(n > 0);
    ASN1_item_free((ASN1_VALUE *)spki, ASN1_ITEM_rptr(T_SPKI));
    *len = (size_t)n;
    return der;
}

/* The SPKI of a fresh key made by OpenSSL, as its parts. */
static T_SPKI *
spki_of_new_key(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    T_SPKI *spki;
    int n;

    assert_non_null(k);
    n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    p = der;
    spki = (T_SPKI *)ASN1_item_d2i(NULL, &p, n, ASN1_ITEM_rptr(T_SPKI));
    assert_non_null(spki);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    return spki;
}

/* An rsaEncryption SPKI whose RSAPublicKey has a modulus of bits bits
 * (negative if neg), e = 65537, and extra bytes after it. */
static T_SPKI *
spki_rsa_made(int bits, bool neg, size_t extra)
{
    T_RSAPUB *rsa = (T_RSAPUB *)ASN1_item_new(ASN1_ITEM_rptr(T_RSAPUB));
    T_SPKI *spki = (T_SPKI *)ASN1_item_new(ASN1_ITEM_rptr(T_SPKI));
    unsigned char *der = NULL;
    BIGNUM *n = BN_new();
    int len;

    assert_non_null(rsa);
    assert_non_null(spki);
    assert_non_null(n);
    assert_int_equal(BN_set_bit(n, bits - 1), 1);
    assert_int_equal(BN_set_bit(n, 0), 1);
    BN_set_negative(n, neg ? 1 : 0);
    assert_non_null(BN_to_ASN1_INTEGER(n, rsa->n));
    assert_int_equal(ASN1_INTEGER_set(rsa->e, 65537), 1);
    len = ASN1_item_i2d((ASN1_VALUE *)rsa, &der, ASN1_ITEM_rptr(T_RSAPUB));
    assert_true(len > 0);
    der = OPENSSL_realloc(der, (size_t)len + extra);
    assert_non_null(der);
    memset(der + len, 0, extra);
    assert_int_equal(ASN1_BIT_STRING_set(spki->key, der,
                                         len + (int)extra),
                     1);
    X509_ALGOR_set0(spki->alg, OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL,
                    NULL);
    OPENSSL_free(der);
    BN_free(n);
    ASN1_item_free((ASN1_VALUE *)rsa, ASN1_ITEM_rptr(T_RSAPUB));
    return spki;
}

/* The SubjectPublicKeyInfo DER of a row (OPENSSL_free it). */
static unsigned char *
key_der(enum key_kind kind, size_t *len)
{
    EVP_PKEY *k = NULL;
    unsigned char *der = NULL;
    T_SPKI *spki = NULL;
    int unused = 0;
    int n;

    switch (kind) {
    case KK_P384:
        spki = spki_of_new_key(EVP_EC_gen("P-384"));
        break;
    case KK_P521:
        spki = spki_of_new_key(EVP_EC_gen("P-521"));
        break;
    case KK_K256:
        spki = spki_of_new_key(EVP_EC_gen("secp256k1"));
        break;
    case KK_ED25519:
        spki = spki_of_new_key(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
        break;
    case KK_RSA2048:
    case KK_RSA_ABSENT_PARAMS:
        spki = spki_of_new_key(EVP_RSA_gen(2048));
        if (kind == KK_RSA_ABSENT_PARAMS) {
            X509_ALGOR_set0(spki->alg, OBJ_nid2obj(NID_rsaEncryption),
                            V_ASN1_UNDEF, NULL);
        }
        break;
    case KK_RSA2047:
        spki = spki_rsa_made(2047, false, 0);
        break;
    case KK_RSA_NEG_MODULUS:
        spki = spki_rsa_made(2048, true, 0);
        break;
    case KK_RSA_TRAILING_IN_KEY:
        spki = spki_rsa_made(2048, false, 1);
        break;
    case KK_RSA_OID_PARAMS:
        spki = spki_rsa_made(2048, false, 0);
        X509_ALGOR_set0(spki->alg, OBJ_nid2obj(NID_rsaEncryption),
                        V_ASN1_OBJECT, OBJ_nid2obj(NID_sha256));
        break;
    case KK_RSA_NOT_RSAPUB:
        spki = spki_rsa_made(2048, false, 0);
        assert_int_equal(ASN1_BIT_STRING_set(spki->key,
                                             (unsigned char *)"\x04\x01\x02",
                                             3),
                         1);
        break;
    case KK_EXPLICIT:
        k = EVP_EC_gen("P-256");
        assert_non_null(k);
        /* The same key with its curve spelt out as parameters. */
        assert_int_equal(EVP_PKEY_set_utf8_string_param(
                             k, OSSL_PKEY_PARAM_EC_ENCODING, "explicit"),
                         1);
        spki = spki_of_new_key(k);
        break;
    case KK_EC_NO_PARAMS:
    case KK_EC_NULL_PARAMS:
    case KK_EC_UNKNOWN_CURVE:
    case KK_UNKNOWN_ALG:
    case KK_SHA256_ALG:
    case KK_TRUNCATED:
    case KK_TRAILING:
    case KK_UNUSED_BITS:
    case KK_EMPTY_KEY:
        spki = spki_of_new_key(EVP_EC_gen("P-256"));
        break;
    }
    if (spki == NULL) {
        fail();
        return NULL;
    }
    switch (kind) {
    case KK_EC_NO_PARAMS:
        X509_ALGOR_set0(spki->alg, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                        V_ASN1_UNDEF, NULL);
        break;
    case KK_EC_NULL_PARAMS:
        X509_ALGOR_set0(spki->alg, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                        V_ASN1_NULL, NULL);
        break;
    case KK_EC_UNKNOWN_CURVE:
        X509_ALGOR_set0(spki->alg, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                        V_ASN1_OBJECT,
                        OBJ_txt2obj("1.3.6.1.4.1.32473.1.7", 1));
        break;
    case KK_UNKNOWN_ALG:
        X509_ALGOR_set0(spki->alg, OBJ_txt2obj("1.3.6.1.4.1.32473.1.1", 1),
                        V_ASN1_NULL, NULL);
        break;
    case KK_SHA256_ALG:
        X509_ALGOR_set0(spki->alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL,
                        NULL);
        break;
    case KK_UNUSED_BITS:
        unused = 1;
        break;
    case KK_EMPTY_KEY:
        assert_int_equal(ASN1_BIT_STRING_set(spki->key, NULL, 0), 1);
        break;
    default:
        break;
    }
    der = spki_encode(spki, unused, len);
    n = (int)*len;
    if (kind == KK_TRUNCATED) {
        *len = (size_t)n - 1;
    } else if (kind == KK_TRAILING) {
        der = OPENSSL_realloc(der, (size_t)n + 1);
        assert_non_null(der);
        der[n] = 0;
        *len = (size_t)n + 1;
    }
    return der;
}

/* A request for key der (len bytes) and the one name dns[0], valid from
 * now for a day. */
static void
one_name_req(struct ca_issue_req *req, const unsigned char *der, size_t len,
             const char *const *dns, long long now)
{
    memset(req, 0, sizeof(*req));
    req->pubkey_der = der;
    req->pubkey_der_len = len;
    req->dns_names = dns;
    req->n_dns_names = 1;
    req->not_before = now;
    req->not_after = now + DAY;
}

/* What the issuance worker checks of a leaf of ours (proxy/issue_check.c):
 * it parses, carries spki, names dns and nothing else, is a TLS server
 * leaf and verifies to the root through the intermediate. */
static void
leaf_checks_pass(const struct ca *ca, const char *pem,
                 const unsigned char *spki, size_t spki_len, const char *dns)
{
    const char *names[] = {dns};
    struct x509_anchors *anchors = NULL;
    struct x509_leaf *leaf = NULL;
    char why[256] = "";
    bool same = false;

    assert_int_equal(x509_leaf_parse(pem, &leaf), AP_OK);
    assert_int_equal(x509_leaf_key_is(leaf, spki, spki_len, &same), AP_OK);
    assert_true(same);
    assert_int_equal(x509_leaf_check_names(leaf, names, 1, NULL, 0, why,
                                           sizeof(why)),
                     AP_OK);
    assert_int_equal(x509_anchors_load(ca_root_pem(ca), &anchors), AP_OK);
    if (x509_leaf_verify(leaf, ca_intermediate_pem(ca), anchors, why,
                         sizeof(why)) != AP_OK) {
        print_error("leaf does not verify: %s\n", why);
        fail();
    }
    x509_anchors_free(anchors);
    x509_leaf_free(leaf);
}

/* A leaf signed here is handed to the issuance worker's parse only for
 * its exact bytes: with one byte of its signature changed, the text is
 * decoded as it is and does not verify (the CA's object, which would, is
 * not used), and the unchanged text still passes. */
static void
test_issue_signed_here_exact(void **state)
{
    struct fix *f = *state;
    static const char *const dns[] = {"exact.example.com"};
    struct x509_anchors *anchors = NULL;
    struct x509_leaf *leaf = NULL;
    struct ca_issue_req req;
    unsigned char *der;
    char errbuf[256] = "";
    char why[256] = "";
    char *pem = NULL;
    char *bad;
    char *end;
    size_t len = 0;
    long long now = (long long)time(NULL);

    der = key_der(KK_P384, &len);
    one_name_req(&req, der, len, dns, now);
    assert_int_equal(ca_issue(f->ca, &req, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    /* A base64 character eight before the END line (past any '=' and
     * the line break): a whole sextet of the signature's last bytes. */
    bad = strdup(pem);
    assert_non_null(bad);
    end = strstr(bad, "\n-----END");
    assert_non_null(end);
    end -= 8;
    if (*end == '\n') {
        end--;
    }
    assert_true(*end != '=');
    *end = *end == 'A' ? 'B' : 'A';
    assert_int_equal(x509_anchors_load(ca_root_pem(f->ca), &anchors),
                     AP_OK);
    assert_int_equal(x509_leaf_parse(bad, &leaf), AP_OK);
    assert_int_equal(x509_leaf_verify(leaf, ca_intermediate_pem(f->ca),
                                      anchors, why, sizeof(why)),
                     AP_ECRYPTO);
    x509_leaf_free(leaf);
    x509_anchors_free(anchors);
    leaf_checks_pass(f->ca, pem, der, len, "exact.example.com");
    free(bad);
    free(pem);
    OPENSSL_free(der);
}

static void
test_issue_key(void **state)
{
    const struct key_row *row = *state;
    static const char *const dns[] = {"key.example.com"};
    struct ca_issue_req req;
    mbedtls_x509_crt crt;
    unsigned char *der;
    char errbuf[256] = "";
    char *pem = NULL;
    size_t len = 0;
    long long now = (long long)time(NULL);

    assert_non_null(key_fix);
    der = key_der(row->kind, &len);
    one_name_req(&req, der, len, dns, now);
    assert_int_equal(ca_issue(key_fix->ca, &req, &pem, errbuf,
                              sizeof(errbuf)),
                     row->want);
    if (row->want == AP_OK) {
        mbedtls_x509_crt_init(&crt);
        check_leaf_common(key_fix->ca, pem, &crt, row->rsa);
        /* The leaf certifies the SPKI exactly as sent. */
        assert_int_equal(crt.pk_raw.len, len);
        assert_memory_equal(crt.pk_raw.p, der, len);
        assert_int_equal(chain_verify(key_fix->ca, pem,
                                      ca_intermediate_pem(key_fix->ca),
                                      "key.example.com"),
                         0);
        /* The issuance worker's checks pass on it, twice: the first
         * parse may take the CA's own object, the second decodes. */
        leaf_checks_pass(key_fix->ca, pem, der, len, "key.example.com");
        leaf_checks_pass(key_fix->ca, pem, der, len, "key.example.com");
        mbedtls_x509_crt_free(&crt);
        free(pem);
    } else {
        assert_null(pem);
        if (strstr(errbuf, row->err_has) == NULL) {
            print_error("errbuf \"%s\" lacks \"%s\"\n", errbuf,
                        row->err_has);
            fail();
        }
    }
    OPENSSL_free(der);
}

static void
test_issue_tls(void **state)
{
    struct fix *f = *state;
    static const char *const dns[] = {"localhost"};
    static const char *const ips[] = {"127.0.0.1", "::1"};
    mbedtls_pk_context key;
    mbedtls_x509_crt crt;
    char errbuf[256];
    char *key_pem = NULL;
    char *cert_pem = NULL;
    long long now = (long long)time(NULL);
    struct tm tm;
    time_t tt;

    assert_int_equal(ca_issue_tls(f->ca, dns, 1, ips, 2, 7, &key_pem,
                                  &cert_pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_non_null(key_pem);
    assert_non_null(cert_pem);
    assert_non_null(strstr(key_pem, "PRIVATE KEY-----"));
    mbedtls_pk_init(&key);
    assert_int_equal(mbedtls_pk_parse_key(&key,
                                          (const unsigned char *)key_pem,
                                          strlen(key_pem) + 1, NULL, 0),
                     0);
    mbedtls_x509_crt_init(&crt);
    check_leaf_common(f->ca, cert_pem, &crt, false);
    assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &key), 0);
    assert_int_equal(mbedtls_pk_get_bitlen(&key), 256);
    tt = (time_t)(now + 7 * DAY);
    assert_non_null(gmtime_r(&tt, &tm));
    assert_int_equal(crt.valid_to.year, tm.tm_year + 1900);
    assert_int_equal(crt.valid_to.mon, tm.tm_mon + 1);
    assert_int_equal(crt.valid_to.day, tm.tm_mday);
    assert_int_equal(chain_verify(f->ca, cert_pem, ca_intermediate_pem(f->ca),
                                  "localhost"),
                     0);
    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&key);
    free(key_pem);
    free(cert_pem);
    key_pem = NULL;
    cert_pem = NULL;

    /* Bad arguments. */
    assert_int_not_equal(ca_issue_tls(f->ca, dns, 1, NULL, 0, 0, &key_pem,
                                      &cert_pem, errbuf, sizeof(errbuf)),
                         AP_OK);
    assert_int_not_equal(ca_issue_tls(f->ca, NULL, 0, NULL, 0, 7, &key_pem,
                                      &cert_pem, errbuf, sizeof(errbuf)),
                         AP_OK);
    assert_null(key_pem);
    assert_null(cert_pem);
}

#define THREADS 4
#define PER_THREAD 6

struct worker {
    struct ca *ca;
    const unsigned char *spki;
    size_t spki_len;
    unsigned char serials[PER_THREAD][16];
    int failures;
};

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    static const char *const dns[] = {"thread.example"};
    struct ca_issue_req req;
    mbedtls_x509_crt crt;
    char errbuf[256];
    char *pem;
    long long now = (long long)time(NULL);
    int i;

    memset(&req, 0, sizeof(req));
    req.pubkey_der = w->spki;
    req.pubkey_der_len = w->spki_len;
    req.dns_names = dns;
    req.n_dns_names = 1;
    req.not_before = now;
    req.not_after = now + DAY;
    for (i = 0; i < PER_THREAD; i++) {
        pem = NULL;
        if (ca_issue(w->ca, &req, &pem, errbuf, sizeof(errbuf)) != AP_OK) {
            w->failures++;
            continue;
        }
        mbedtls_x509_crt_init(&crt);
        if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem,
                                   strlen(pem) + 1) != 0 ||
            crt.serial.len != 16) {
            w->failures++;
        } else {
            memcpy(w->serials[i], crt.serial.p, 16);
        }
        mbedtls_x509_crt_free(&crt);
        free(pem);
    }
    return NULL;
}

static void
test_issue_concurrent(void **state)
{
    struct fix *f = *state;
    struct worker w[THREADS];
    pthread_t tid[THREADS];
    unsigned char keybuf[256];
    const unsigned char *spki;
    mbedtls_pk_context key;
    size_t spki_len;
    int i;
    int j;

    key_ec(&key, &f->rng);
    spki_len = key_spki(&key, keybuf, sizeof(keybuf), &spki);
    memset(w, 0, sizeof(w));
    for (i = 0; i < THREADS; i++) {
        w[i].ca = f->ca;
        w[i].spki = spki;
        w[i].spki_len = spki_len;
        assert_int_equal(pthread_create(&tid[i], NULL, worker_run, &w[i]), 0);
    }
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    /* Every serial distinct. */
    for (i = 0; i < THREADS * PER_THREAD; i++) {
        for (j = 0; j < i; j++) {
            assert_memory_not_equal(w[i / PER_THREAD].serials[i % PER_THREAD],
                                    w[j / PER_THREAD].serials[j % PER_THREAD],
                                    16);
        }
    }
    mbedtls_pk_free(&key);
}

/* ---- the local adapter --------------------------------------------- */

/* A CSR for a new EC key with subject CN=example.com: DER into buf. */
static size_t
csr_make(struct rng *r, unsigned char *buf, size_t size,
         const unsigned char **der)
{
    mbedtls_x509write_csr csr;
    mbedtls_pk_context key;
    int n;

    key_ec(&key, r);
    mbedtls_x509write_csr_init(&csr);
    mbedtls_x509write_csr_set_key(&csr, &key);
    mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
    assert_int_equal(
        mbedtls_x509write_csr_set_subject_name(&csr, "CN=example.com"), 0);
    n = mbedtls_x509write_csr_der(&csr, buf, size, mbedtls_ctr_drbg_random,
                                  &r->drbg);
    assert_true(n > 0);
    *der = buf + size - (size_t)n;
    mbedtls_x509write_csr_free(&csr);
    mbedtls_pk_free(&key);
    return (size_t)n;
}

static void
local_start(struct fix *f, struct config_section *sec, void **lstate)
{
    const struct adapter_ops *ops = adapter_find("local");
    struct adapter_ctx ctx;
    char errbuf[256];

    assert_non_null(ops);
    ctx.ca = f->ca;
    ctx.data_dir = f->dir;
    assert_int_equal(ops->init(sec, &ctx, lstate, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_non_null(*lstate);
}

static void
test_local_submit(void **state)
{
    struct fix *f = *state;
    const struct adapter_ops *ops = adapter_find("local");
    static const char *const dns[] = {"example.com", "www.example.com"};
    static const char *const ips[] = {"192.0.2.7"};
    const char *want_dns[] = {"example.com", "www.example.com"};
    unsigned char csrbuf[1024];
    unsigned char got[4][256];
    size_t lens[4];
    struct adapter_request req;
    struct adapter_result res;
    struct config_kv kv[1] = {{(char *)(uintptr_t)"validity_days",
                               (char *)(uintptr_t)"30", 3}};
    struct config_section sec = {"test.conf", kv, 1};
    mbedtls_x509_crt crt;
    void *lstate = NULL;
    long long now = (long long)time(NULL);
    int crit;

    assert_non_null(ops);
    local_start(f, &sec, &lstate);
    memset(&req, 0, sizeof(req));
    req.csr_der_len = csr_make(&f->rng, csrbuf, sizeof(csrbuf), &req.csr_der);
    req.dns_names = dns;
    req.n_dns_names = 2;
    req.ip_addrs = ips;
    req.n_ip_addrs = 1;
    req.account_id = "acct";
    req.order_id = "order";
    memset(&res, 0, sizeof(res));
    assert_int_equal(ops->submit(lstate, &req, &res), ADAPTER_ISSUED);
    assert_non_null(res.cert_pem);
    assert_non_null(res.chain_pem);
    assert_string_equal(res.chain_pem, ca_intermediate_pem(f->ca));
    assert_null(res.detail);
    assert_int_equal(chain_verify(f->ca, res.cert_pem, res.chain_pem,
                                  "www.example.com"),
                     0);
    mbedtls_x509_crt_init(&crt);
    check_leaf_common(f->ca, res.cert_pem, &crt, false);
    assert_int_equal(san_dns_parsed(&crt, want_dns, 2), 2);
    assert_int_equal(san_entries(&crt, 0x87, got, lens, 4, &crit), 1);
    assert_int_equal(lens[0], 4);
    /* Default validity from the config, backdated for clock skew. */
    {
        struct tm tm;
        time_t tt = (time_t)(now + 30 * DAY);

        assert_non_null(gmtime_r(&tt, &tm));
        assert_int_equal(crt.valid_to.year, tm.tm_year + 1900);
        assert_int_equal(crt.valid_to.mon, tm.tm_mon + 1);
        assert_int_equal(crt.valid_to.day, tm.tm_mday);
        assert_true(mbedtls_x509_time_is_past(&crt.valid_from));
    }
    mbedtls_x509_crt_free(&crt);
    adapter_result_clear(&res);
    assert_null(res.cert_pem);
    assert_null(res.chain_pem);

    /* Explicit validity wins. */
    req.not_before = now - 3600;
    req.not_after = now + 2 * DAY;
    assert_int_equal(ops->submit(lstate, &req, &res), ADAPTER_ISSUED);
    mbedtls_x509_crt_init(&crt);
    crt_add(&crt, res.cert_pem);
    time_expect(&crt.valid_from, now - 3600);
    time_expect(&crt.valid_to, now + 2 * DAY);
    mbedtls_x509_crt_free(&crt);
    adapter_result_clear(&res);

    /* A request the CA cannot sign is final, not a retry. */
    req.not_after = req.not_before;
    assert_int_equal(ops->submit(lstate, &req, &res), ADAPTER_REJECTED);
    assert_non_null(res.problem_type);
    assert_non_null(res.detail);
    assert_null(res.cert_pem);
    adapter_result_clear(&res);

    assert_int_equal(ops->revoke(lstate, "pem", 1, NULL, 0), AP_OK);
    assert_int_equal(ops->health(lstate, NULL, 0), AP_OK);
    ops->free(lstate);
}

static void
test_local_default_validity(void **state)
{
    struct fix *f = *state;
    const struct adapter_ops *ops = adapter_find("local");
    static const char *const dns[] = {"example.com"};
    unsigned char csrbuf[1024];
    struct adapter_request req;
    struct adapter_result res;
    struct config_section sec = {"test.conf", NULL, 0};
    mbedtls_x509_crt crt;
    void *lstate = NULL;
    long long now = (long long)time(NULL);
    struct tm tm;
    time_t tt = (time_t)(now + 90 * DAY);

    assert_non_null(ops);
    local_start(f, &sec, &lstate);
    memset(&req, 0, sizeof(req));
    req.csr_der_len = csr_make(&f->rng, csrbuf, sizeof(csrbuf), &req.csr_der);
    req.dns_names = dns;
    req.n_dns_names = 1;
    memset(&res, 0, sizeof(res));
    assert_int_equal(ops->submit(lstate, &req, &res), ADAPTER_ISSUED);
    mbedtls_x509_crt_init(&crt);
    crt_add(&crt, res.cert_pem);
    assert_non_null(gmtime_r(&tt, &tm));
    assert_int_equal(crt.valid_to.year, tm.tm_year + 1900);
    assert_int_equal(crt.valid_to.mon, tm.tm_mon + 1);
    assert_int_equal(crt.valid_to.day, tm.tm_mday);
    mbedtls_x509_crt_free(&crt);
    adapter_result_clear(&res);
    ops->free(lstate);
    lstate = NULL;

    /* A NULL section means defaults too. */
    local_start(f, NULL, &lstate);
    ops->free(lstate);
    ops->free(NULL);
}

static void
test_local_bad_csr(void **state)
{
    struct fix *f = *state;
    const struct adapter_ops *ops = adapter_find("local");
    static const char *const dns[] = {"example.com"};
    static const unsigned char garbage[] = {0x30, 0x82, 0x01, 0x00, 0x01,
                                            0x02, 0x03};
    unsigned char csrbuf[1024];
    const unsigned char *good;
    size_t good_len;
    struct adapter_request req;
    struct adapter_result res;
    void *lstate = NULL;

    assert_non_null(ops);
    local_start(f, NULL, &lstate);
    memset(&req, 0, sizeof(req));
    req.dns_names = dns;
    req.n_dns_names = 1;
    req.csr_der = garbage;
    req.csr_der_len = sizeof(garbage);
    memset(&res, 0, sizeof(res));
    assert_int_equal(ops->submit(lstate, &req, &res), ADAPTER_REJECTED);
    assert_string_equal(res.problem_type,
                        "urn:ietf:params:acme:error:badCSR");
    assert_non_null(res.detail);
    assert_null(res.cert_pem);
    assert_null(res.chain_pem);
    adapter_result_clear(&res);
    assert_null(res.problem_type);
    assert_null(res.detail);

    /* Empty and truncated CSRs. */
    req.csr_der = NULL;
    req.csr_der_len = 0;
    assert_int_equal(ops->submit(lstate, &req, &res), ADAPTER_REJECTED);
    assert_string_equal(res.problem_type,
                        "urn:ietf:params:acme:error:badCSR");
    adapter_result_clear(&res);
    good_len = csr_make(&f->rng, csrbuf, sizeof(csrbuf), &good);
    req.csr_der = good;
    req.csr_der_len = good_len - 10;
    assert_int_equal(ops->submit(lstate, &req, &res), ADAPTER_REJECTED);
    assert_string_equal(res.problem_type,
                        "urn:ietf:params:acme:error:badCSR");
    adapter_result_clear(&res);

    /* No names at all. */
    req.csr_der_len = good_len;
    req.n_dns_names = 0;
    assert_int_equal(ops->submit(lstate, &req, &res), ADAPTER_REJECTED);
    adapter_result_clear(&res);
    ops->free(lstate);
}

static void
test_local_init_errors(void **state)
{
    struct fix *f = *state;
    const struct adapter_ops *ops = adapter_find("local");
    static const char *const bad_days[] = {"0", "3651", "abc", "-5", "",
                                           " 5", "5 ", "99999999999999999999",
                                           "1.5"};
    struct config_kv kv[1] = {{(char *)(uintptr_t)"validity_days", NULL, 7}};
    struct config_kv unknown[1] = {{(char *)(uintptr_t)"validty_days",
                                    (char *)(uintptr_t)"30", 8}};
    struct config_section sec = {"test.conf", kv, 1};
    struct config_section sec_unknown = {"test.conf", unknown, 1};
    struct adapter_ctx ctx = {NULL, "/tmp"};
    char errbuf[256];
    void *lstate = NULL;
    size_t i;

    assert_non_null(ops);
    /* No CA. */
    assert_int_not_equal(ops->init(NULL, &ctx, &lstate, errbuf,
                                   sizeof(errbuf)),
                         AP_OK);
    assert_null(lstate);
    assert_int_not_equal(ops->init(NULL, NULL, &lstate, errbuf,
                                   sizeof(errbuf)),
                         AP_OK);
    assert_null(lstate);
    ctx.ca = f->ca;
    for (i = 0; i < sizeof(bad_days) / sizeof(bad_days[0]); i++) {
        kv[0].value = (char *)(uintptr_t)bad_days[i];
        errbuf[0] = '\0';
        assert_int_equal(ops->init(&sec, &ctx, &lstate, errbuf,
                                   sizeof(errbuf)),
                         AP_ECONFIG);
        assert_null(lstate);
        assert_non_null(strstr(errbuf, "validity_days"));
    }
    kv[0].value = (char *)(uintptr_t)"3650";
    assert_int_equal(ops->init(&sec, &ctx, &lstate, errbuf, sizeof(errbuf)),
                     AP_OK);
    ops->free(lstate);
    lstate = NULL;
    assert_int_not_equal(ops->init(&sec_unknown, &ctx, &lstate, errbuf,
                                   sizeof(errbuf)),
                         AP_OK);
    assert_null(lstate);
}

/* ---- registry and results ------------------------------------------ */

static void
test_registry(void **state)
{
    const struct adapter_ops *ops;
    char errbuf[256];
    size_t k;
    bool has_days = false;

    (void)state;
    ops = adapter_find("local");
    assert_non_null(ops);
    assert_string_equal(ops->name, "local");
    assert_int_equal(ops->abi, ADAPTER_ABI);
    assert_int_equal(ops->caps, ADAPTER_CAP_REVOKE | ADAPTER_CAP_CONCURRENT |
                                    ADAPTER_CAP_IN_PROCESS);
    assert_null(ops->poll);
    for (k = 0; ops->config_keys[k] != NULL; k++) {
        if (strcmp(ops->config_keys[k], "validity_days") == 0) {
            has_days = true;
        }
    }
    assert_true(has_days);
    assert_null(adapter_find("nope"));
    assert_null(adapter_find(""));
    assert_null(adapter_find("LOCAL"));
    assert_null(adapter_find(NULL));
    errbuf[0] = '\0';
    assert_int_equal(adapter_registry_check(errbuf, sizeof(errbuf)), AP_OK);
}

static void
test_result_clear(void **state)
{
    struct adapter_result res;

    (void)state;
    memset(&res, 0, sizeof(res));
    adapter_result_clear(&res);
    assert_null(res.cert_pem);
    res.cert_pem = strdup("a");
    res.chain_pem = strdup("b");
    res.ref = strdup("c");
    res.detail = strdup("d");
    res.retry_after = 5;
    res.problem_type = "urn:ietf:params:acme:error:badCSR";
    adapter_result_clear(&res);
    assert_null(res.cert_pem);
    assert_null(res.chain_pem);
    assert_null(res.ref);
    assert_null(res.detail);
    assert_null(res.problem_type);
    assert_int_equal(res.retry_after, 0);
    adapter_result_clear(NULL);
}

int
main(void)
{
    const struct CMUnitTest open_tests[] = {
        cmocka_unit_test(test_open_creates),
        cmocka_unit_test(test_open_reloads),
        cmocka_unit_test(test_open_deferred),
        cmocka_unit_test(test_open_deferred_race),
        cmocka_unit_test(test_open_recovers_root),
        cmocka_unit_test(test_open_bad_files),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_result_clear),
    };
    const struct CMUnitTest issue_tests[] = {
        cmocka_unit_test(test_issue_ec),
        cmocka_unit_test(test_issue_rsa),
        cmocka_unit_test(test_issue_signed_here_exact),
        cmocka_unit_test(test_issue_ip_only_and_cn),
        cmocka_unit_test(test_issue_client_only),
        cmocka_unit_test(test_issue_long_name),
        cmocka_unit_test(test_issue_clamped),
        cmocka_unit_test(test_issue_bad_inputs),
        cmocka_unit_test(test_issue_tls),
        cmocka_unit_test(test_issue_concurrent),
        cmocka_unit_test(test_local_submit),
        cmocka_unit_test(test_local_default_validity),
        cmocka_unit_test(test_local_bad_csr),
        cmocka_unit_test(test_local_init_errors),
    };
    struct test_list keys = {0};
    int failed = 0;

    ADD_ROWS(&keys, key_rows, test_issue_key);
    failed += cmocka_run_group_tests_name("ca_open", open_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("ca_issue", issue_tests,
                                          group_setup, group_teardown);
    failed += _cmocka_run_group_tests("ca_issue subject keys", keys.tests,
                                      keys.n, key_group_setup,
                                      key_group_teardown);
    free(keys.tests);
    return failed == 0 ? 0 : 1;
}
