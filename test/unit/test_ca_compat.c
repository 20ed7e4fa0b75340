/* test/unit/test_ca_compat.c: the embedded CA's files across versions
 * and formats (common/ca.c, ca_keys.c, ca_cert.c), and the subject key
 * types ca_issue signs or refuses.
 *
 * test/unit/vectors/ca-mbedtls/ is a CA directory written by the mbedTLS
 * version of common/ca.c (d3833ec, see the README there): it must load
 * unchanged, serve the same ca.pem and sign leaves that mbedTLS and
 * OpenSSL both verify to it. Keys the OpenSSL version writes must stay
 * readable by mbedTLS 2.28 (civetweb's TLS listener loads the ca_issue_tls
 * key; an older proxy may be started on the directory again). Key files
 * in other formats are accepted or refused with a message naming the
 * file, never with a passphrase prompt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/ca.h"
#include "common/x509.h"

#define FIXTURE "test/unit/vectors/ca-mbedtls/"

static const char *const ca_files[] = { CA_ROOT_FILE, CA_ROOT_KEY_FILE,
                                        CA_INT_FILE, CA_INT_KEY_FILE };

/* ---- files --------------------------------------------------------- */

static char *
file_get(const char *dir, const char *name)
{
    char path[512];
    char *data;
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s%s%s", dir, dir[0] ? "/" : "", name);
    f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot open %s\n", path);
    }
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    data = calloc(1, (size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    assert_int_equal(fclose(f), 0);
    return data;
}

static void
file_put(const char *dir, const char *name, const char *data, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    (void)unlink(path); /* a symlink is replaced, not followed */
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0600), 0);
}

static void
dir_make(char *dir, size_t len)
{
    assert_true(len >= sizeof("/tmp/test_ca_compat.XXXXXX"));
    memcpy(dir, "/tmp/test_ca_compat.XXXXXX",
           sizeof("/tmp/test_ca_compat.XXXXXX"));
    assert_non_null(mkdtemp(dir));
}

static void
dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    assert_non_null(d);
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            assert_int_equal(unlink(path), 0);
        }
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

/* A copy of the mbedTLS-made CA directory in a new temporary one. */
static void
fixture_copy(char *dir, size_t len)
{
    dir_make(dir, len);
    for (size_t i = 0; i < 4; i++) {
        char *data = file_get(FIXTURE, ca_files[i]);

        file_put(dir, ca_files[i], data, strlen(data));
        free(data);
    }
}

/* ---- checks -------------------------------------------------------- */

/* A fresh P-256 SubjectPublicKeyInfo (caller frees with OPENSSL_free). */
static unsigned char *
spki_new(size_t *len)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    unsigned char *der = NULL;
    int n;

    assert_non_null(k);
    n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    EVP_PKEY_free(k);
    *len = (size_t)n;
    return der;
}

/* leaf + intermediate verify to root with mbedTLS (for cn). */
static void
mbedtls_verifies(const char *leaf, const char *inter, const char *root,
                 const char *cn)
{
    mbedtls_x509_crt chain;
    mbedtls_x509_crt anchor;
    uint32_t flags = 0;

    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&anchor);
    assert_int_equal(mbedtls_x509_crt_parse(&chain,
                                            (const unsigned char *)leaf,
                                            strlen(leaf) + 1),
                     0);
    assert_int_equal(mbedtls_x509_crt_parse(&chain,
                                            (const unsigned char *)inter,
                                            strlen(inter) + 1),
                     0);
    assert_int_equal(mbedtls_x509_crt_parse(&anchor,
                                            (const unsigned char *)root,
                                            strlen(root) + 1),
                     0);
    assert_int_equal(mbedtls_x509_crt_verify(&chain, &anchor, NULL, cn,
                                             &flags, NULL, NULL),
                     0);
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&anchor);
}

/* The subjectKeyIdentifier of a PEM certificate, with OpenSSL. */
static size_t
ski_of(const char *pem, unsigned char *out, size_t outlen)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    const ASN1_OCTET_STRING *ski;
    size_t n;

    assert_non_null(x);
    ski = X509_get0_subject_key_id(x);
    assert_non_null(ski);
    n = (size_t)ASN1_STRING_length(ski);
    assert_true(n <= outlen);
    memcpy(out, ASN1_STRING_get0_data(ski), n);
    X509_free(x);
    BIO_free(bio);
    return n;
}

/* The key file parses with mbedTLS and matches the certificate file. */
static void
mbedtls_key_matches(const char *dir, const char *key_name,
                    const char *crt_name)
{
    char *key = file_get(dir, key_name);
    char *crt = file_get(dir, crt_name);
    mbedtls_pk_context pk;
    mbedtls_x509_crt x;

    mbedtls_pk_init(&pk);
    mbedtls_x509_crt_init(&x);
    assert_int_equal(strncmp(key, "-----BEGIN EC PRIVATE KEY-----\n", 31),
                     0);
    assert_int_equal(mbedtls_pk_parse_key(&pk, (const unsigned char *)key,
                                          strlen(key) + 1, NULL, 0),
                     0);
    assert_int_equal(mbedtls_x509_crt_parse(&x, (const unsigned char *)crt,
                                            strlen(crt) + 1),
                     0);
    assert_int_equal(mbedtls_pk_check_pair(&x.pk, &pk), 0);
    mbedtls_pk_free(&pk);
    mbedtls_x509_crt_free(&x);
    free(key);
    free(crt);
}

/* ---- tests --------------------------------------------------------- */

/* The mbedTLS-made directory: loads, serves the same PEM, is not
 * rewritten, signs leaves both libraries verify to its root. */
static void
test_mbedtls_dir(void **state)
{
    static const char *const dns[] = { "old.example.com" };
    struct ca_issue_req req;
    struct x509_cert *cert = NULL;
    struct ca *ca = NULL;
    unsigned char ski[64];
    unsigned char *spki;
    unsigned char *der = NULL;
    size_t spki_len = 0;
    size_t der_len = 0;
    size_t ski_len;
    char errbuf[256] = "";
    char dir[64];
    char *pem = NULL;
    char *key = NULL;
    char *tls = NULL;
    char *before[4];
    long long now = (long long)time(NULL);

    (void)state;
    fixture_copy(dir, sizeof(dir));
    for (size_t i = 0; i < 4; i++) {
        before[i] = file_get(dir, ca_files[i]);
    }
    if (ca_open(dir, &ca, errbuf, sizeof(errbuf)) != AP_OK) {
        print_error("ca_open: %s\n", errbuf);
        fail();
    }
    /* The same trust anchor and intermediate, byte for byte. */
    assert_string_equal(ca_root_pem(ca), before[0]);
    assert_string_equal(ca_intermediate_pem(ca), before[2]);
    /* A leaf for a new key, verified by both libraries. */
    spki = spki_new(&spki_len);
    memset(&req, 0, sizeof(req));
    req.pubkey_der = spki;
    req.pubkey_der_len = spki_len;
    req.dns_names = dns;
    req.n_dns_names = 1;
    req.not_before = now - 60;
    req.not_after = now + 30 * 86400LL;
    assert_int_equal(ca_issue(ca, &req, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    mbedtls_verifies(pem, before[2], before[0], "old.example.com");
    assert_int_equal(x509_verify_chain(pem, before[2], before[0], errbuf,
                                       sizeof(errbuf)),
                     AP_OK);
    /* Its AKI is the mbedTLS-computed SKI of the old intermediate. */
    assert_int_equal(x509_pem_cert_to_der(pem, &der, &der_len), AP_OK);
    assert_int_equal(x509_cert_parse(der, der_len, &cert), AP_OK);
    ski_len = ski_of(before[2], ski, sizeof(ski));
    assert_int_equal(cert->aki_len, ski_len);
    assert_memory_equal(cert->aki, ski, ski_len);
    assert_memory_equal(cert->pubkey_der, spki, spki_len);
    /* The listener's key and certificate: mbedTLS reads both. */
    assert_int_equal(ca_issue_tls(ca, dns, 1, NULL, 0, 7, &key, &tls,
                                  errbuf, sizeof(errbuf)),
                     AP_OK);
    mbedtls_verifies(tls, before[2], before[0], "old.example.com");
    {
        mbedtls_pk_context pk;
        mbedtls_x509_crt x;

        mbedtls_pk_init(&pk);
        mbedtls_x509_crt_init(&x);
        assert_int_equal(mbedtls_pk_parse_key(&pk,
                                              (const unsigned char *)key,
                                              strlen(key) + 1, NULL, 0),
                         0);
        assert_int_equal(mbedtls_x509_crt_parse(&x,
                                                (const unsigned char *)tls,
                                                strlen(tls) + 1),
                         0);
        assert_int_equal(mbedtls_pk_check_pair(&x.pk, &pk), 0);
        mbedtls_pk_free(&pk);
        mbedtls_x509_crt_free(&x);
    }
    ca_free(ca);
    /* Nothing was rewritten. */
    for (size_t i = 0; i < 4; i++) {
        char *after = file_get(dir, ca_files[i]);

        assert_string_equal(after, before[i]);
        free(after);
        free(before[i]);
    }
    x509_cert_free(cert);
    free(der);
    free(pem);
    free(key);
    free(tls);
    OPENSSL_free(spki);
    dir_remove(dir);
}

/* A new directory: SEC1 keys, 0600, that mbedTLS reads and pairs. */
static void
test_keys_written(void **state)
{
    struct ca *ca = NULL;
    char errbuf[256] = "";
    char path[512];
    char dir[64];
    struct stat st;

    (void)state;
    dir_make(dir, sizeof(dir));
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    ca_free(ca);
    mbedtls_key_matches(dir, CA_ROOT_KEY_FILE, CA_ROOT_FILE);
    mbedtls_key_matches(dir, CA_INT_KEY_FILE, CA_INT_FILE);
    snprintf(path, sizeof(path), "%s/%s", dir, CA_INT_KEY_FILE);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    dir_remove(dir);
}

/* ---- key files in other shapes ------------------------------------- */

enum key_shape {
    KS_PKCS8,        /* the intermediate's key as unencrypted PKCS#8 */
    KS_ENCRYPTED,    /* the same, encrypted */
    KS_OTHER_EC,     /* another P-256 key */
    KS_RSA,          /* an RSA key */
    KS_PUBLIC,       /* the intermediate's public key only */
    KS_CERT,         /* a certificate */
    KS_HUGE,         /* the PKCS#8 key after 64 KiB of comments */
    KS_SYMLINK,      /* a symbolic link to the real key */
    KS_EMPTY,        /* an empty file */
};

struct key_row {
    const char *name;
    enum key_shape shape;
    ap_err want;
    const char *err_has;
};

static const struct key_row key_rows[] = {
    { "intermediate key as PKCS#8", KS_PKCS8, AP_OK, NULL },
    { "encrypted key: refused, no prompt", KS_ENCRYPTED, AP_ECONFIG,
      CA_INT_KEY_FILE },
    { "another EC key", KS_OTHER_EC, AP_ECONFIG, "does not match" },
    { "an RSA key", KS_RSA, AP_ECONFIG, "does not match" },
    { "a public key", KS_PUBLIC, AP_ECONFIG, CA_INT_KEY_FILE },
    { "a certificate", KS_CERT, AP_ECONFIG, CA_INT_KEY_FILE },
    { "over 64 KiB", KS_HUGE, AP_ECONFIG, "at most" },
    { "a symbolic link", KS_SYMLINK, AP_ECONFIG, CA_INT_KEY_FILE },
    { "empty", KS_EMPTY, AP_ECONFIG, CA_INT_KEY_FILE },
};

static char *
pkey_pem(EVP_PKEY *k, int form)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    char *out;
    long n;

    assert_non_null(bio);
    if (form == 0) {
        assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0,
                                                  NULL, NULL),
                         1);
    } else if (form == 1) {
        assert_int_equal(PEM_write_bio_PKCS8PrivateKey(
                             bio, k, EVP_aes_256_cbc(), "pw", 2, NULL, NULL),
                         1);
    } else {
        assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
    }
    n = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)n);
    assert_non_null(out);
    BIO_free(bio);
    return out;
}

static void
test_key_shapes(void **state)
{
    const struct key_row *row = *state;
    struct ca *ca = NULL;
    char errbuf[512] = "";
    char dir[64];
    char path[512];
    char target[512];
    char *orig;
    char *text = NULL;
    EVP_PKEY *k = NULL;
    BIO *bio;

    fixture_copy(dir, sizeof(dir));
    orig = file_get(dir, CA_INT_KEY_FILE);
    bio = BIO_new_mem_buf(orig, -1);
    k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(k);
    switch (row->shape) {
    case KS_PKCS8:
        text = pkey_pem(k, 0);
        assert_int_equal(strncmp(text, "-----BEGIN PRIVATE KEY-----", 27), 0);
        break;
    case KS_ENCRYPTED:
        text = pkey_pem(k, 1);
        break;
    case KS_OTHER_EC: {
        EVP_PKEY *o = EVP_EC_gen("P-256");

        text = pkey_pem(o, 0);
        EVP_PKEY_free(o);
        break;
    }
    case KS_RSA: {
        EVP_PKEY *o = EVP_RSA_gen(2048);

        text = pkey_pem(o, 0);
        EVP_PKEY_free(o);
        break;
    }
    case KS_PUBLIC:
        text = pkey_pem(k, 2);
        break;
    case KS_CERT:
        text = file_get(dir, CA_INT_FILE);
        break;
    case KS_HUGE: {
        char *key = pkey_pem(k, 0);
        size_t pad = 64 * 1024;

        text = malloc(pad + strlen(key) + 1);
        assert_non_null(text);
        memset(text, '#', pad);
        text[pad - 1] = '\n';
        memcpy(text + pad, key, strlen(key) + 1);
        free(key);
        break;
    }
    case KS_SYMLINK:
        snprintf(target, sizeof(target), "%s/real.key", dir);
        file_put(dir, "real.key", orig, strlen(orig));
        snprintf(path, sizeof(path), "%s/%s", dir, CA_INT_KEY_FILE);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink(target, path), 0);
        break;
    case KS_EMPTY:
        text = strdup("");
        break;
    }
    if (text != NULL) {
        file_put(dir, CA_INT_KEY_FILE, text, strlen(text));
    }
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), row->want);
    if (row->want == AP_OK) {
        assert_non_null(ca);
        ca_free(ca);
    } else {
        assert_null(ca);
        if (strstr(errbuf, row->err_has) == NULL) {
            print_error("errbuf \"%s\" lacks \"%s\"\n", errbuf, row->err_has);
            fail();
        }
        /* Never key bytes in the message. */
        assert_null(strstr(errbuf, "PRIVATE KEY"));
    }
    EVP_PKEY_free(k);
    free(text);
    free(orig);
    dir_remove(dir);
}

/* ---- certificate files in other shapes ----------------------------- */

struct crt_row {
    const char *name;
    const char *file;      /* which CA file is replaced */
    int what;              /* 0: two certificates, 1: a leaf, 2: garbage */
    const char *err_has;
};

static const struct crt_row crt_rows[] = {
    { "root file with two certificates", CA_ROOT_FILE, 0,
      "more than one certificate" },
    { "intermediate file with two certificates", CA_INT_FILE, 0,
      "more than one certificate" },
    { "a leaf as the intermediate", CA_INT_FILE, 1, "not a CA certificate" },
    { "garbage root file", CA_ROOT_FILE, 2, "not a PEM certificate" },
};

static void
test_crt_shapes(void **state)
{
    const struct crt_row *row = *state;
    static const char *const dns[] = { "leaf.example.com" };
    struct ca *ca = NULL;
    char errbuf[512] = "";
    char dir[64];
    char *text = NULL;

    fixture_copy(dir, sizeof(dir));
    if (row->what == 0) {
        char *a = file_get(dir, CA_ROOT_FILE);
        char *b = file_get(dir, CA_INT_FILE);

        bool root = strcmp(row->file, CA_ROOT_FILE) == 0;

        assert_true(asprintf(&text, "%s%s", root ? a : b, root ? b : a) > 0);
        free(a);
        free(b);
    } else if (row->what == 1) {
        char *key = NULL;

        assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
        assert_int_equal(ca_issue_tls(ca, dns, 1, NULL, 0, 7, &key, &text,
                                      errbuf, sizeof(errbuf)),
                         AP_OK);
        ca_free(ca);
        ca = NULL;
        free(key);
    } else {
        text = strdup("-----BEGIN CERTIFICATE-----\nAAAA\n"
                      "-----END CERTIFICATE-----\n");
    }
    file_put(dir, row->file, text, strlen(text));
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_ECONFIG);
    assert_null(ca);
    if (strstr(errbuf, row->err_has) == NULL ||
        strstr(errbuf, row->file) == NULL) {
        print_error("errbuf \"%s\" lacks \"%s\" or \"%s\"\n", errbuf,
                    row->err_has, row->file);
        fail();
    }
    free(text);
    dir_remove(dir);
}

/* ---- subject keys ca_issue signs or refuses ------------------------ */

enum spki_kind {
    SK_P384, SK_P521, SK_RSA2048,             /* signed */
    SK_K256, SK_ED25519, SK_RSA_PSS, SK_X25519, SK_TRAILING, SK_EXPLICIT
};

struct spki_row {
    const char *name;
    enum spki_kind kind;
    ap_err want;
    const char *err_has;
};

static const struct spki_row spki_rows[] = {
    { "subject key P-384", SK_P384, AP_OK, NULL },
    { "subject key P-521", SK_P521, AP_OK, NULL },
    { "subject key RSA 2048", SK_RSA2048, AP_OK, NULL },
    { "refused: secp256k1", SK_K256, AP_EINVAL, "P-256, P-384 or P-521" },
    { "refused: P-256 with explicit curve parameters", SK_EXPLICIT,
      AP_EINVAL, "named curve" },
    { "refused: Ed25519", SK_ED25519, AP_EINVAL, "not supported" },
    { "refused: RSASSA-PSS key", SK_RSA_PSS, AP_EINVAL, "not supported" },
    { "refused: X25519", SK_X25519, AP_EINVAL, "not supported" },
    { "refused: a byte after the key", SK_TRAILING, AP_EPARSE,
      "does not parse" },
};

static unsigned char *
spki_of_kind(enum spki_kind kind, size_t *len)
{
    EVP_PKEY *k = NULL;
    unsigned char *der = NULL;
    int n;

    switch (kind) {
    case SK_P384:
        k = EVP_EC_gen("P-384");
        break;
    case SK_P521:
        k = EVP_EC_gen("P-521");
        break;
    case SK_RSA2048:
        k = EVP_RSA_gen(2048);
        break;
    case SK_K256:
        k = EVP_EC_gen("secp256k1");
        break;
    case SK_ED25519:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case SK_RSA_PSS: {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);

        assert_non_null(ctx);
        assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
        assert_int_equal(EVP_PKEY_generate(ctx, &k), 1);
        EVP_PKEY_CTX_free(ctx);
        break;
    }
    case SK_X25519:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
        break;
    case SK_TRAILING:
    case SK_EXPLICIT:
        k = EVP_EC_gen("P-256");
        break;
    }
    assert_non_null(k);
    if (kind == SK_EXPLICIT) {
        /* The same key with its curve spelt out as parameters. */
        assert_int_equal(EVP_PKEY_set_utf8_string_param(
                             k, OSSL_PKEY_PARAM_EC_ENCODING, "explicit"),
                         1);
    }
    n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    EVP_PKEY_free(k);
    if (kind == SK_TRAILING) {
        unsigned char *more = OPENSSL_realloc(der, (size_t)n + 1);

        assert_non_null(more);
        der = more;
        der[n++] = 0;
    }
    *len = (size_t)n;
    return der;
}

static struct ca *spki_ca;
static char spki_dir[64];

static int
spki_setup(void **state)
{
    char errbuf[256];

    (void)state;
    if (spki_ca == NULL) {
        dir_make(spki_dir, sizeof(spki_dir));
        if (ca_open(spki_dir, &spki_ca, errbuf, sizeof(errbuf)) != AP_OK) {
            return -1;
        }
    }
    return 0;
}

static void
test_spki(void **state)
{
    const struct spki_row *row = *state;
    static const char *const dns[] = { "key.example.com" };
    struct ca_issue_req req;
    unsigned char *spki;
    char errbuf[256] = "";
    char *pem = NULL;
    size_t len = 0;
    long long now = (long long)time(NULL);

    spki = spki_of_kind(row->kind, &len);
    memset(&req, 0, sizeof(req));
    req.pubkey_der = spki;
    req.pubkey_der_len = len;
    req.dns_names = dns;
    req.n_dns_names = 1;
    req.not_before = now;
    req.not_after = now + 86400;
    assert_int_equal(ca_issue(spki_ca, &req, &pem, errbuf, sizeof(errbuf)),
                     row->want);
    if (row->want == AP_OK) {
        struct x509_cert *cert = NULL;
        unsigned char *der = NULL;
        size_t der_len = 0;

        /* The leaf certifies exactly the key that was sent. */
        assert_int_equal(x509_pem_cert_to_der(pem, &der, &der_len), AP_OK);
        assert_int_equal(x509_cert_parse(der, der_len, &cert), AP_OK);
        assert_int_equal(cert->pubkey_der_len, len);
        assert_memory_equal(cert->pubkey_der, spki, len);
        assert_int_equal(x509_verify_chain(pem, ca_intermediate_pem(spki_ca),
                                           ca_root_pem(spki_ca), errbuf,
                                           sizeof(errbuf)),
                         AP_OK);
        x509_cert_free(cert);
        free(der);
        free(pem);
    } else {
        assert_null(pem);
        if (strstr(errbuf, row->err_has) == NULL) {
            print_error("errbuf \"%s\" lacks \"%s\"\n", errbuf,
                        row->err_has);
            fail();
        }
    }
    OPENSSL_free(spki);
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    add_test(&l, "mbedTLS-made CA directory loads unchanged",
             test_mbedtls_dir, NULL);
    add_test(&l, "keys written as SEC1 that mbedTLS reads",
             test_keys_written, NULL);
    ADD_ROWS(&l, key_rows, test_key_shapes);
    ADD_ROWS(&l, crt_rows, test_crt_shapes);
    l.setup = spki_setup;
    ADD_ROWS(&l, spki_rows, test_spki);
    failed = _cmocka_run_group_tests("ca_compat", l.tests, l.n, NULL, NULL);
    free(l.tests);
    ca_free(spki_ca);
    if (spki_ca != NULL) {
        dir_remove(spki_dir);
    }
    return failed;
}
