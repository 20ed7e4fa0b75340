/* common/ca.c: the embedded two-level CA (root and intermediate, EC P-256)
 * on OpenSSL's libcrypto: loading or creating the CA, and what goes into
 * each certificate and who signs it. Its files and keys are handled by
 * common/ca_keys.c, the certificate pieces built by common/ca_cert.c.
 *
 * The root key is needed only to sign a new intermediate: it is loaded
 * during ca_open when present and dropped before ca_open returns, so an
 * operator may keep it offline once the intermediate exists. After
 * ca_open the struct is only read: OpenSSL signs with the shared
 * intermediate key from any thread (each signature has its own context)
 * and RAND_bytes is thread-safe, so no lock is taken. Every extension is
 * built as its structure (BASIC_CONSTRAINTS, GENERAL_NAMES ...), never
 * from a configuration string and never as hand-made DER. */
#include "common/ca.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/ca_cert.h"
#include "common/ca_keys.h"
#include "common/fileio.h"
#include "common/spki.h"
#include "common/x509.h"

#define CA_SKEW_SEC 60            /* not_before backdating, seconds */
#define CA_ROOT_YEARS 20
#define CA_INT_YEARS 10
#define CA_CN_MAX 64              /* RFC 5280 ub-common-name */
#define CA_NAMES_MAX 1000         /* SAN entries per leaf */
#define CA_TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
#define CA_RSA_MIN_BITS 2048
#define CA_ROOT_CN "acmeproxy local root CA"
#define CA_INT_CN "acmeproxy local intermediate CA"

struct ca_defer;

struct ca {
    EVP_PKEY *int_key;             /* signs every leaf */
    X509 *root;
    X509 *inter;
    char *root_pem;                /* one certificate, normalised */
    char *int_pem;
    long long int_not_after;       /* leaves end no later */
    struct ca_defer *defer;        /* ca_open_deferred; NULL: ca_open */
};

/* A CA from ca_open_deferred: the files are read at the first call that
 * needs them (ca_ready), once, under lock. Its fields are filled through
 * self: to its callers the CA is read-only (ca_root_pem takes a const
 * pointer) even though its first use loads it. */
struct ca_defer {
    struct ca *self;
    char *dir;
    pthread_mutex_t lock;
    atomic_bool ready;             /* set (release) once loaded */
};

/* What a leaf is made of, after the checks of ca_issue: exactly one of
 * key and spki is set. */
struct leaf_spec {
    EVP_PKEY *key;                 /* a key we made, or NULL */
    const SPKI_PARTS *spki;           /* the subject's key as sent, or NULL */
    unsigned ku;                   /* keyUsage bits for that key */
    const char *const *dns_names;
    size_t n_dns_names;
    const char *const *ip_addrs;
    size_t n_ip_addrs;
    const char *cn;                /* NULL: first name */
    long long not_before;
    long long not_after;
    unsigned eku;                  /* CA_EKU_* bits; 0: both */
};

/* ---- time ---------------------------------------------------------- */

/* t plus years calendar years, at the same time of day (29 February
 * becomes 1 March). */
static ap_err
time_add_years(long long t, int years, long long *out)
{
    struct tm tm;
    time_t tt = (time_t)t;
    time_t later;

    if (gmtime_r(&tt, &tm) == NULL) {
        return AP_EINVAL;
    }
    tm.tm_year += years;
    later = timegm(&tm);
    if (later == (time_t)-1) {
        return AP_EINVAL;
    }
    *out = (long long)later;
    return AP_OK;
}

/* ---- the two CA certificates --------------------------------------- */

/* A CA certificate for subject_key named cn, signed by issuer_key with
 * issuer's name (issuer NULL: self-signed). path_len < 0: no limit. */
static ap_err
ca_cert_make(EVP_PKEY *subject_key, const char *cn, EVP_PKEY *issuer_key,
             X509 *issuer, long path_len, long long nb, long long na,
             char **out, char *errbuf, size_t errlen)
{
    X509_NAME *subject = NULL;
    X509 *x = X509_new();
    ap_err rc = AP_ENOMEM;

    if (x == NULL) {
        goto out;
    }
    rc = ca_name_cn(&subject, cn, strlen(cn));
    if (rc != AP_OK) {
        goto out;
    }
    rc = AP_ECRYPTO;
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_set_subject_name(x, subject) != 1 ||
        X509_set_issuer_name(x, issuer != NULL
                                    ? X509_get_subject_name(issuer)
                                    : subject) != 1 ||
        X509_set_pubkey(x, subject_key) != 1) {
        goto out;
    }
    rc = ca_validity_set(x, nb, na);
    if (rc == AP_OK) {
        rc = ca_bc_add(x, true, path_len);
    }
    if (rc == AP_OK) {
        rc = ca_ku_add(x, KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    }
    if (rc == AP_OK) {
        rc = ca_ski_add(x);
    }
    if (rc == AP_OK && issuer != NULL) {
        rc = ca_aki_add(x, issuer);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = ca_cert_sign(x, issuer_key, out, errbuf, errlen);
    goto done;
out:
    ca_errf(errbuf, errlen, "cannot build the certificate of CN=%s", cn);
done:
    X509_NAME_free(subject);
    X509_free(x);
    return rc;
}

/* A certificate from PEM text that must be exactly one CA certificate. */
static ap_err
crt_parse(const char *path, const unsigned char *pem, size_t len, X509 **out,
          char *errbuf, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    BASIC_CONSTRAINTS *bc = NULL;
    X509 *x = NULL;
    X509 *more = NULL;
    ap_err rc = AP_ECONFIG;

    if (bio == NULL) {
        return AP_ENOMEM;
    }
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (x == NULL) {
        ca_errf(errbuf, errlen, "%s: not a PEM certificate", path);
        goto out;
    }
    more = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    ERR_clear_error();
    if (more != NULL) {
        ca_errf(errbuf, errlen, "%s: holds more than one certificate", path);
        goto out;
    }
    bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    if (bc == NULL || !bc->ca) {
        ca_errf(errbuf, errlen, "%s: not a CA certificate", path);
        goto out;
    }
    rc = AP_OK;
out:
    BASIC_CONSTRAINTS_free(bc);
    X509_free(more);
    BIO_free(bio);
    if (rc == AP_OK) {
        *out = x;
    } else {
        X509_free(x);
    }
    return rc;
}

static ap_err
crt_load_file(const char *dir, const char *name, X509 **out, char *errbuf,
              size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    char *pem = NULL;
    char path[PATH_MAX];
    size_t len = 0;

    rc = ca_path(path, sizeof(path), dir, name, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = fileio_read(path, CA_FILE_MAX, FILEIO_NOFOLLOW, &pem, &len, errbuf,
                     errlen);
    if (rc != AP_OK) {
        rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
        goto out;
    }
    rc = crt_parse(path, (const unsigned char *)pem, len, out, errbuf,
                   errlen);
out:
    fileio_free(pem, len, 0);
    return rc;
}

static ap_err
pair_check(X509 *crt, EVP_PKEY *key, const char *dir, const char *key_name,
           const char *crt_name, char *errbuf, size_t errlen)
{
    if (EVP_PKEY_eq(X509_get0_pubkey(crt), key) != 1) {
        ca_errf(errbuf, errlen, "%s/%s does not match %s/%s", dir, key_name,
                dir, crt_name);
        return AP_ECONFIG;
    }
    return AP_OK;
}

/* Makes the root certificate for root_key (new or recovered) and writes
 * it to dir/CA_ROOT_FILE. */
static ap_err
root_create(EVP_PKEY *root_key, const char *dir, char *errbuf,
            size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    unsigned char rnd[2];
    char cn[64];
    char *pem = NULL;
    long long now = (long long)time(NULL);
    long long end = 0;
    int n;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ca_errf(errbuf, errlen, "random root name");
        rc = AP_ECRYPTO;
        goto out;
    }
    /* A random suffix keeps two installations' roots apart in trust
     * stores that index by subject. */
    n = snprintf(cn, sizeof(cn), CA_ROOT_CN " %02x%02x", rnd[0], rnd[1]);
    if (n < 0 || (size_t)n >= sizeof(cn)) {
        rc = AP_EINTERNAL;
        goto out;
    }
    rc = time_add_years(now, CA_ROOT_YEARS, &end);
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, "system clock out of range");
        goto out;
    }
    rc = ca_cert_make(root_key, cn, root_key, NULL, -1, now - CA_SKEW_SEC,
                      end, &pem, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = ca_file_write(dir, CA_ROOT_FILE, pem, strlen(pem), 0644, errbuf,
                       errlen);
out:
    free(pem);
    return rc;
}

/* Makes a new intermediate key and certificate signed by root_key, writes
 * both (key first: a certificate on disk always has its key) and loads
 * them into ca. */
static ap_err
int_create(struct ca *ca, EVP_PKEY *root_key, const char *dir, char *errbuf,
           size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    char *pem = NULL;
    long long now = (long long)time(NULL);
    long long end = 0;
    long long root_end = 0;

    rc = ca_key_generate(&ca->int_key, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = time_add_years(now, CA_INT_YEARS, &end);
    if (rc == AP_OK) {
        rc = ca_time_read(X509_get0_notAfter(ca->root), &root_end);
    }
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, "system clock or root validity out of "
                                "range");
        goto out;
    }
    /* Never outlive the root. */
    if (end > root_end) {
        end = root_end;
    }
    rc = ca_cert_make(ca->int_key, CA_INT_CN, root_key, ca->root, 0,
                      now - CA_SKEW_SEC, end, &pem, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = ca_key_save(ca->int_key, dir, CA_INT_KEY_FILE, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = ca_file_write(dir, CA_INT_FILE, pem, strlen(pem), 0644, errbuf,
                       errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = crt_parse(CA_INT_FILE, (const unsigned char *)pem, strlen(pem),
                   &ca->inter, errbuf, errlen);
out:
    free(pem);
    return rc;
}

/* A clock stepped back since the CA was made must not stop start-up:
 * "not yet valid" alone is accepted. */
static int
int_verify_cb(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_NOT_YET_VALID) {
        return 1;
    }
    return ok;
}

/* The intermediate must chain to the root and be valid now. */
static ap_err
int_check(struct ca *ca, const char *dir, char *errbuf, size_t errlen)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    ap_err rc = AP_ENOMEM;

    if (store == NULL || ctx == NULL ||
        X509_STORE_add_cert(store, ca->root) != 1) {
        goto out;
    }
    X509_STORE_set_verify_cb(store, int_verify_cb);
    if (X509_STORE_CTX_init(ctx, store, ca->inter, NULL) != 1) {
        goto out;
    }
    if (X509_verify_cert(ctx) != 1) {
        ERR_clear_error();
        ca_errf(errbuf, errlen,
                "%s/%s does not verify against %s/%s (%s); remove %s and %s "
                "to make a new intermediate",
                dir, CA_INT_FILE, dir, CA_ROOT_FILE,
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)),
                CA_INT_FILE, CA_INT_KEY_FILE);
        rc = AP_ECONFIG;
        goto out;
    }
    rc = AP_OK;
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

/* Everything ca_issue needs from the loaded intermediate. */
static ap_err
int_prepare(struct ca *ca, char *errbuf, size_t errlen)
{
    ap_err rc;

    rc = ca_time_read(X509_get0_notAfter(ca->inter), &ca->int_not_after);
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, "intermediate validity out of range");
        return rc;
    }
    rc = ca_cert_pem(ca->root, &ca->root_pem);
    if (rc == AP_OK) {
        rc = ca_cert_pem(ca->inter, &ca->int_pem);
    }
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, "cannot encode the CA certificates: %s",
                ap_strerror(rc));
    }
    return rc;
}

/* Loads the CA from dir; with create, makes the files that are missing
 * (ca_open), without it refuses to (a deferred load must find what the
 * start made: a new root now would not be the one clients trust). */
static ap_err
ca_load(struct ca *ca, const char *dir, bool create, char *errbuf,
        size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    static const char *const names[] = {CA_ROOT_FILE, CA_ROOT_KEY_FILE,
                                        CA_INT_FILE, CA_INT_KEY_FILE};
    bool has[4] = {false, false, false, false};
    EVP_PKEY *root_key = NULL;
    char path[PATH_MAX];
    size_t i;

    for (i = 0; i < 4; i++) {
        rc = ca_path(path, sizeof(path), dir, names[i], errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
        rc = ca_file_exists(path, &has[i], errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }

    if (!create && !(has[0] && has[2] && has[3])) {
        ca_errf(errbuf, errlen, "%s/%s, %s or %s is missing", dir,
                CA_ROOT_FILE, CA_INT_FILE, CA_INT_KEY_FILE);
        rc = AP_ECONFIG;
        goto out;
    }
    /* Root: load it, create it, or (key without certificate: a crash
     * between the two writes) recover the certificate for that key. */
    if (!has[0] && (has[2] || has[3])) {
        ca_errf(errbuf, errlen,
                "%s/%s is missing but intermediate files exist; restore it "
                "or remove %s and %s",
                dir, CA_ROOT_FILE, CA_INT_FILE, CA_INT_KEY_FILE);
        rc = AP_ECONFIG;
        goto out;
    }
    if (has[1]) {
        rc = ca_key_load(dir, CA_ROOT_KEY_FILE, &root_key, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    } else if (!has[0]) {
        rc = ca_key_generate(&root_key, errbuf, errlen);
        if (rc == AP_OK) {
            rc = ca_key_save(root_key, dir, CA_ROOT_KEY_FILE, errbuf,
                             errlen);
        }
        if (rc != AP_OK) {
            goto out;
        }
    }
    if (!has[0]) {
        rc = root_create(root_key, dir, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }
    rc = crt_load_file(dir, CA_ROOT_FILE, &ca->root, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    if (root_key != NULL) {
        rc = pair_check(ca->root, root_key, dir, CA_ROOT_KEY_FILE,
                        CA_ROOT_FILE, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }

    /* Intermediate: load both files, or make a new pair. */
    if (has[2] && has[3]) {
        rc = crt_load_file(dir, CA_INT_FILE, &ca->inter, errbuf, errlen);
        if (rc == AP_OK) {
            rc = ca_key_load(dir, CA_INT_KEY_FILE, &ca->int_key, errbuf,
                             errlen);
        }
        if (rc == AP_OK) {
            rc = pair_check(ca->inter, ca->int_key, dir, CA_INT_KEY_FILE,
                            CA_INT_FILE, errbuf, errlen);
        }
        if (rc != AP_OK) {
            goto out;
        }
    } else {
        if (root_key == NULL) {
            ca_errf(errbuf, errlen,
                    "%s/%s is needed to make a new intermediate (%s or %s "
                    "is missing)",
                    dir, CA_ROOT_KEY_FILE, CA_INT_FILE, CA_INT_KEY_FILE);
            rc = AP_ECONFIG;
            goto out;
        }
        rc = int_create(ca, root_key, dir, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }
    rc = int_check(ca, dir, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = int_prepare(ca, errbuf, errlen);
out:
    EVP_PKEY_free(root_key); /* clears the key material */
    return rc;
}

ap_err
ca_open(const char *dir, struct ca **out, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    struct ca *ca = NULL;

    if (errbuf != NULL && errlen > 0) {
        errbuf[0] = '\0';
    }
    ERR_clear_error();
    if (dir == NULL || dir[0] == '\0' || out == NULL) {
        ca_errf(errbuf, errlen, "no CA directory");
        rc = AP_EINVAL;
        goto out;
    }
    ca = calloc(1, sizeof(*ca));
    if (ca == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = ca_load(ca, dir, true, errbuf, errlen);
out:
    ERR_clear_error();
    if (rc == AP_OK) {
        *out = ca;
    } else {
        ca_free(ca);
    }
    return rc;
}

ap_err
ca_open_deferred(const char *dir, struct ca **out, char *errbuf,
                 size_t errlen)
{
    struct ca *ca = NULL;
    struct ca_defer *d = NULL;

    if (errbuf != NULL && errlen > 0) {
        errbuf[0] = '\0';
    }
    if (dir == NULL || dir[0] == '\0' || out == NULL) {
        (void)snprintf(errbuf, errlen, "no CA directory");
        return AP_EINVAL;
    }
    ca = calloc(1, sizeof(*ca));
    d = calloc(1, sizeof(*d));
    if (ca == NULL || d == NULL || (d->dir = strdup(dir)) == NULL) {
        free(ca);
        if (d != NULL) {
            free(d->dir);
        }
        free(d);
        return AP_ENOMEM;
    }
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        free(d->dir);
        free(d);
        free(ca);
        return AP_ENOMEM;
    }
    atomic_init(&d->ready, false);
    d->self = ca;
    ca->defer = d;
    *out = ca;
    return AP_OK;
}

/* Drops what ca_load filled (the key wiped), leaving the struct empty. */
static void
ca_unload(struct ca *ca)
{
    EVP_PKEY_free(ca->int_key); /* clears the key material */
    X509_free(ca->root);
    X509_free(ca->inter);
    free(ca->root_pem);
    free(ca->int_pem);
    ca->int_key = NULL;
    ca->root = NULL;
    ca->inter = NULL;
    ca->root_pem = NULL;
    ca->int_pem = NULL;
    ca->int_not_after = 0;
}

/* AP_OK once the CA is loaded: at once for ca_open's, at the first call
 * for ca_open_deferred's (a failure leaves it empty, and the next call
 * tries again). errbuf may be NULL. */
static ap_err
ca_ready(const struct ca *ca, char *errbuf, size_t errlen)
{
    struct ca_defer *d = ca->defer;
    ap_err rc = AP_OK;

    if (d == NULL || atomic_load_explicit(&d->ready, memory_order_acquire)) {
        return AP_OK;
    }
    pthread_mutex_lock(&d->lock);
    if (!atomic_load_explicit(&d->ready, memory_order_relaxed)) {
        ERR_clear_error();
        rc = ca_load(d->self, d->dir, false, errbuf, errlen);
        ERR_clear_error();
        if (rc == AP_OK) {
            atomic_store_explicit(&d->ready, true, memory_order_release);
        } else {
            ca_unload(d->self);
            /* The CA's files, not the caller's input: never AP_EPARSE or
             * AP_EINVAL, which ca_issue keeps for the request. */
            rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

void
ca_free(struct ca *ca)
{
    if (ca == NULL) {
        return;
    }
    ca_unload(ca);
    x509_leaf_signed_drop();    /* leaves nobody checked */
    if (ca->defer != NULL) {
        pthread_mutex_destroy(&ca->defer->lock);
        free(ca->defer->dir);
        free(ca->defer);
    }
    OPENSSL_cleanse(ca, sizeof(*ca));
    free(ca);
}

const char *
ca_root_pem(const struct ca *ca)
{
    return ca_ready(ca, NULL, 0) == AP_OK ? ca->root_pem : NULL;
}

const char *
ca_intermediate_pem(const struct ca *ca)
{
    return ca_ready(ca, NULL, 0) == AP_OK ? ca->int_pem : NULL;
}

/* ---- leaves -------------------------------------------------------- */

static void
spki_free(SPKI_PARTS *spki)
{
    ASN1_item_free((ASN1_VALUE *)spki, ASN1_ITEM_rptr(SPKI_PARTS));
}

/* The modulus size of the RSAPublicKey in key (every byte): AP_EPARSE
 * when it is not one with a positive modulus. */
static ap_err
rsa_bits(const ASN1_BIT_STRING *key, int *bits)
{
    const unsigned char *der = ASN1_STRING_get0_data(key);
    const unsigned char *p = der;
    int len = ASN1_STRING_length(key);
    RSA_PUB_PARTS *rsa;
    BIGNUM *n = NULL;
    ap_err rc = AP_EPARSE;

    rsa = (RSA_PUB_PARTS *)ASN1_item_d2i(NULL, &p, len,
                                     ASN1_ITEM_rptr(RSA_PUB_PARTS));
    if (rsa != NULL && p == der + len &&
        ASN1_STRING_type(rsa->n) == V_ASN1_INTEGER &&
        ASN1_STRING_type(rsa->e) == V_ASN1_INTEGER) {
        n = ASN1_INTEGER_to_BN(rsa->n, NULL);
        rc = n == NULL ? AP_ENOMEM : AP_OK;
    }
    if (rc == AP_OK) {
        *bits = BN_num_bits(n);
        rc = *bits > 0 ? AP_OK : AP_EPARSE;
    }
    BN_free(n);
    ASN1_item_free((ASN1_VALUE *)rsa, ASN1_ITEM_rptr(RSA_PUB_PARTS));
    return rc;
}

/* Puts the algorithm (with its parameters) and the key bits of spki, as
 * sent, into x's subjectPublicKeyInfo. X509_set_pubkey would need the
 * decoded key and re-encode it through OpenSSL 3.0's encoders. */
static ap_err
spki_set(X509 *x, const SPKI_PARTS *spki)
{
    const ASN1_OBJECT *aobj = NULL;
    const void *pval = NULL;
    ASN1_OBJECT *alg = NULL;
    ASN1_OBJECT *param = NULL;
    unsigned char *enc = NULL;
    int ptype = V_ASN1_UNDEF;
    int len = ASN1_STRING_length(spki->key);

    X509_ALGOR_get0(&aobj, &ptype, &pval, spki->alg);
    /* spki_read lets no other parameters through. */
    if (ptype != V_ASN1_OBJECT && ptype != V_ASN1_NULL &&
        ptype != V_ASN1_UNDEF) {
        return AP_EINVAL;
    }
    if (ptype == V_ASN1_OBJECT) {
        param = OBJ_dup(pval);
    }
    alg = OBJ_dup(aobj);
    enc = OPENSSL_memdup(ASN1_STRING_get0_data(spki->key), (size_t)len);
    if (alg != NULL && enc != NULL &&
        (ptype != V_ASN1_OBJECT || param != NULL) &&
        X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), alg, ptype, param,
                               enc, len) == 1) {
        return AP_OK;
    }
    ASN1_OBJECT_free(alg);
    ASN1_OBJECT_free(param);
    OPENSSL_free(enc);
    return AP_ENOMEM;
}

/* The subject's key as a key object that carries its own encoder: RSA
 * from the RSAPublicKey in the BIT STRING, EC from the named curve and the
 * point (OpenSSL's d2i_KeyParams and d2i_PublicKey, which decode through
 * the key types' own ASN.1 methods; the OpenSSL 3.0 provider decoders
 * would build a context of their own for every key). *out is NULL when
 * the key does not decode so (spki_read has checked the parts already);
 * the caller then copies the bytes as sent (spki_set). */
static void
spki_key(const SPKI_PARTS *spki, EVP_PKEY **out)
{
    const ASN1_OBJECT *aobj = NULL;
    const void *pval = NULL;
    const unsigned char *p = ASN1_STRING_get0_data(spki->key);
    long len = ASN1_STRING_length(spki->key);
    const unsigned char *end = p + len;
    unsigned char *curve = NULL;
    EVP_PKEY *key = NULL;
    int ptype = V_ASN1_UNDEF;
    int nid;

    *out = NULL;
    X509_ALGOR_get0(&aobj, &ptype, &pval, spki->alg);
    nid = OBJ_obj2nid(aobj);
    if (nid == NID_rsaEncryption) {
        key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);
    } else if (nid == NID_X9_62_id_ecPublicKey && ptype == V_ASN1_OBJECT) {
        int n = i2d_ASN1_OBJECT(pval, &curve);
        const unsigned char *c = curve;

        if (n > 0 &&
            (key = d2i_KeyParams(EVP_PKEY_EC, NULL, &c, n)) != NULL &&
            d2i_PublicKey(EVP_PKEY_EC, &key, &p, len) == NULL) {
            EVP_PKEY_free(key);
            key = NULL;
        }
    }
    OPENSSL_free(curve);
    if (key != NULL && p != end) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    ERR_clear_error();
    *out = key;
}

/* The subject's key into x: the key object when OpenSSL encodes it to
 * exactly the bytes the request sent (then x carries it, and the
 * issuance worker's checks read it from there, x509_leaf_signed_here),
 * else those bytes as sent. The comparison is made on a key of its own,
 * so x gets one of the two and nothing of the other. *with_key: which. */
static ap_err
subject_key_set(X509 *x, const SPKI_PARTS *spki, bool *with_key)
{
    unsigned char *sent = NULL;
    unsigned char *made = NULL;
    X509_PUBKEY *pk = NULL;
    EVP_PKEY *key = NULL;
    int n_sent;
    int n_made = -1;
    ap_err rc;

    *with_key = false;
    n_sent = ASN1_item_i2d((const ASN1_VALUE *)spki, &sent,
                           ASN1_ITEM_rptr(SPKI_PARTS));
    if (n_sent <= 0) {
        ERR_clear_error();
        return AP_ENOMEM;
    }
    spki_key(spki, &key);
    if (key != NULL && X509_PUBKEY_set(&pk, key) == 1) {
        n_made = i2d_X509_PUBKEY(pk, &made);
        *with_key = n_made == n_sent && memcmp(made, sent, n_sent) == 0;
    }
    if (*with_key) {
        rc = X509_set_pubkey(x, key) == 1 ? AP_OK : AP_ENOMEM;
    } else {
        rc = spki_set(x, spki);
    }
    ERR_clear_error();
    X509_PUBKEY_free(pk);
    EVP_PKEY_free(key);
    OPENSSL_free(sent);
    OPENSSL_free(made);
    return rc;
}

/* Checks spec, builds the leaf and signs it with the intermediate. */
static ap_err
leaf_issue(struct ca *ca, const struct leaf_spec *spec, char **out,
           char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    X509_NAME *subject = NULL;
    X509 *x = NULL;
    long long na = spec->not_after;
    const char *cn;
    size_t cn_len;
    bool has_cn;
    bool with_key = false;

    if ((spec->n_dns_names > 0 && spec->dns_names == NULL) ||
        (spec->n_ip_addrs > 0 && spec->ip_addrs == NULL)) {
        ca_errf(errbuf, errlen, "name list missing");
        rc = AP_EINVAL;
        goto out;
    }
    if (spec->n_dns_names == 0 && spec->n_ip_addrs == 0) {
        ca_errf(errbuf, errlen, "no DNS name or IP address to certify");
        rc = AP_EINVAL;
        goto out;
    }
    if (spec->n_dns_names > CA_NAMES_MAX ||
        spec->n_ip_addrs > CA_NAMES_MAX - spec->n_dns_names) {
        ca_errf(errbuf, errlen, "more than %d names", CA_NAMES_MAX);
        rc = AP_ETOOBIG;
        goto out;
    }
    if (spec->not_after <= spec->not_before) {
        ca_errf(errbuf, errlen, "not_after is not after not_before");
        rc = AP_EINVAL;
        goto out;
    }
    if (spec->not_before < 0 || spec->not_before > CA_TIME_MAX ||
        spec->not_after > CA_TIME_MAX) {
        ca_errf(errbuf, errlen, "validity outside 1970..9999");
        rc = AP_EINVAL;
        goto out;
    }
    /* A leaf never outlives its issuer. */
    if (na > ca->int_not_after) {
        na = ca->int_not_after;
        if (na <= spec->not_before) {
            ca_errf(errbuf, errlen, "not_before is after the end of the "
                                    "intermediate CA");
            rc = AP_EINVAL;
            goto out;
        }
    }

    cn = spec->cn;
    if (cn == NULL) {
        cn = spec->n_dns_names > 0 ? spec->dns_names[0] : spec->ip_addrs[0];
    }
    cn_len = cn == NULL ? 0 : strlen(cn);
    for (size_t i = 0; i < cn_len; i++) {
        unsigned char c = (unsigned char)cn[i];

        if (c < 0x20 || c == 0x7f) {
            ca_errf(errbuf, errlen, "control character in the CN");
            rc = AP_EINVAL;
            goto out;
        }
    }
    /* RFC 5280 §4.2.1.6: with an empty subject the SAN is critical. */
    has_cn = cn_len > 0 && cn_len <= CA_CN_MAX;

    x = X509_new();
    if (x == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = ca_name_cn(&subject, has_cn ? cn : NULL, cn_len);
    if (rc != AP_OK) {
        goto out;
    }
    rc = AP_ECRYPTO;
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_set_subject_name(x, subject) != 1 ||
        /* The intermediate's subject byte for byte (RFC 5280 §7.1). */
        X509_set_issuer_name(x, X509_get_subject_name(ca->inter)) != 1 ||
        (spec->spki != NULL
             ? subject_key_set(x, spec->spki, &with_key) != AP_OK
             : X509_set_pubkey(x, spec->key) != 1)) {
        ca_errf(errbuf, errlen, "cannot build the certificate");
        goto out;
    }
    rc = ca_validity_set(x, spec->not_before, na);
    if (rc == AP_OK) {
        rc = ca_bc_add(x, false, -1);
    }
    if (rc == AP_OK) {
        rc = ca_ku_add(x, spec->ku);
    }
    if (rc == AP_OK) {
        rc = ca_eku_add(x, spec->eku == 0 || (spec->eku & CA_EKU_SERVER),
                        spec->eku == 0 || (spec->eku & CA_EKU_CLIENT));
    }
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, "cannot build the certificate");
        goto out;
    }
    rc = ca_san_add(x, spec->dns_names, spec->n_dns_names, spec->ip_addrs,
                    spec->n_ip_addrs, !has_cn, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = ca_ski_add(x);
    if (rc == AP_OK) {
        rc = ca_aki_add(x, ca->inter);
    }
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, "cannot build the key identifiers");
        goto out;
    }
    rc = ca_cert_sign(x, ca->int_key, out, errbuf, errlen);
    if (rc == AP_OK && with_key) {
        x509_leaf_signed_here(x);   /* the issuance worker checks it next */
    }
out:
    ERR_clear_error();
    X509_NAME_free(subject);
    X509_free(x);
    return rc;
}

/* The subject's SubjectPublicKeyInfo from DER (every byte) and the
 * keyUsage bits for its key. The key itself is not built: the CSR it comes
 * from was parsed and its signature verified with this same key at
 * finalize (common/csr.c), so only what the leaf needs is read, from the
 * algorithm and its parameters: rsaEncryption with a modulus of at least
 * CA_RSA_MIN_BITS (from the RSAPublicKey in the BIT STRING), or
 * id-ecPublicKey on a named curve (RFC 5480 §2.1.1) among P-256, P-384
 * and P-521. Any other algorithm is refused: AP_EINVAL for a key type
 * OpenSSL knows, AP_EPARSE for an OID it does not (as when the key was
 * decoded). The BIT STRING must have no unused bits and an RSAPublicKey a
 * positive modulus and nothing after it. *out (free with spki_free) set
 * only on AP_OK. */
static ap_err
spki_read(const unsigned char *der, size_t len, SPKI_PARTS **out, unsigned *ku,
          char *errbuf, size_t errlen)
{
    static const int curves[] = { NID_X9_62_prime256v1, NID_secp384r1,
                                  NID_secp521r1 };
    ap_err rc = AP_EINTERNAL;
    const unsigned char *p = der;
    const ASN1_OBJECT *aobj = NULL;
    const void *pval = NULL;
    SPKI_PARTS *spki = NULL;
    int ptype = V_ASN1_UNDEF;
    int bits = 0;
    int nid;
    size_t i;

    if (der == NULL || len == 0) {
        ca_errf(errbuf, errlen, "no public key");
        return AP_EINVAL;
    }
    if (len > CA_FILE_MAX) {
        ca_errf(errbuf, errlen, "public key of %zu bytes", len);
        return AP_EPARSE;
    }
    spki = (SPKI_PARTS *)ASN1_item_d2i(NULL, &p, (long)len,
                                    ASN1_ITEM_rptr(SPKI_PARTS));
    /* Both kinds of key are whole bytes: no unused bits (which the BIT
     * STRING decoder keeps in the low 3 bits of flags). */
    if (spki == NULL || p != der + len ||
        ASN1_STRING_length(spki->key) <= 0 ||
        (spki->key->flags & 0x07) != 0) {
        ca_errf(errbuf, errlen, "public key does not parse");
        rc = AP_EPARSE;
        goto out;
    }
    X509_ALGOR_get0(&aobj, &ptype, &pval, spki->alg);
    nid = OBJ_obj2nid(aobj);
    if (nid == NID_rsaEncryption) {
        /* RFC 3279 §2.3.1: the parameters are NULL. */
        rc = ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF
                 ? rsa_bits(spki->key, &bits)
                 : AP_EPARSE;
        if (rc == AP_EPARSE) {
            ca_errf(errbuf, errlen, "public key does not parse");
            goto out;
        }
        if (rc != AP_OK) {
            ca_errf(errbuf, errlen, "cannot read the RSA key");
            goto out;
        }
        if (bits < CA_RSA_MIN_BITS) {
            ca_errf(errbuf, errlen, "RSA key shorter than %d bits",
                    CA_RSA_MIN_BITS);
            rc = AP_EINVAL;
            goto out;
        }
        *ku = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT;
    } else if (nid == NID_X9_62_id_ecPublicKey) {
        if (ptype == V_ASN1_SEQUENCE) {
            ca_errf(errbuf, errlen, "EC key without a named curve");
            rc = AP_EINVAL;
            goto out;
        }
        nid = ptype == V_ASN1_OBJECT ? OBJ_obj2nid(pval) : NID_undef;
        if (nid == NID_undef) {
            /* No curve at all, or one OpenSSL does not know. */
            ca_errf(errbuf, errlen, "public key does not parse");
            rc = AP_EPARSE;
            goto out;
        }
        rc = AP_EINVAL;
        for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
            if (nid == curves[i]) {
                rc = AP_OK;
            }
        }
        if (rc != AP_OK) {
            ca_errf(errbuf, errlen, "EC key not on P-256, P-384 or P-521");
            goto out;
        }
        *ku = KU_DIGITAL_SIGNATURE;
    } else if (nid != NID_undef && EVP_PKEY_asn1_find(NULL, nid) != NULL) {
        /* A key type OpenSSL knows (Ed25519, RSASSA-PSS, X25519 ...). */
        ca_errf(errbuf, errlen, "key type %s not supported",
                OBJ_nid2sn(nid));
        rc = AP_EINVAL;
        goto out;
    } else {
        ca_errf(errbuf, errlen, "public key does not parse");
        rc = AP_EPARSE;
        goto out;
    }
    *out = spki;
    spki = NULL;
    rc = AP_OK;
out:
    spki_free(spki);
    ERR_clear_error();
    return rc;
}

ap_err
ca_issue(struct ca *ca, const struct ca_issue_req *req, char **cert_pem,
         char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    struct leaf_spec spec;
    SPKI_PARTS *spki = NULL;
    unsigned ku = 0;
    char *pem = NULL;

    if (errbuf != NULL && errlen > 0) {
        errbuf[0] = '\0';
    }
    ERR_clear_error();
    if (ca == NULL || req == NULL || cert_pem == NULL) {
        ca_errf(errbuf, errlen, "missing argument");
        rc = AP_EINVAL;
        goto out;
    }
    rc = ca_ready(ca, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = spki_read(req->pubkey_der, req->pubkey_der_len, &spki, &ku, errbuf,
                   errlen);
    if (rc != AP_OK) {
        goto out;
    }
    spec.key = NULL;
    spec.spki = spki;
    spec.ku = ku;
    spec.dns_names = req->dns_names;
    spec.n_dns_names = req->n_dns_names;
    spec.ip_addrs = req->ip_addrs;
    spec.n_ip_addrs = req->n_ip_addrs;
    spec.cn = req->cn;
    spec.not_before = req->not_before;
    spec.not_after = req->not_after;
    spec.eku = req->eku;
    rc = leaf_issue(ca, &spec, &pem, errbuf, errlen);
out:
    spki_free(spki);
    if (rc == AP_OK) {
        *cert_pem = pem;
    }
    return rc;
}

ap_err
ca_issue_tls(struct ca *ca, const char *const *dns_names, size_t n_dns_names,
             const char *const *ip_addrs, size_t n_ip_addrs, unsigned days,
             char **key_pem, char **cert_pem, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    struct leaf_spec spec;
    EVP_PKEY *key = NULL;
    char *kpem = NULL;
    size_t klen = 0;
    char *cpem = NULL;
    long long now = (long long)time(NULL);

    if (errbuf != NULL && errlen > 0) {
        errbuf[0] = '\0';
    }
    ERR_clear_error();
    if (ca == NULL || key_pem == NULL || cert_pem == NULL) {
        ca_errf(errbuf, errlen, "missing argument");
        rc = AP_EINVAL;
        goto out;
    }
    if (days == 0 || days > 36500) {
        ca_errf(errbuf, errlen, "validity of %u days out of range", days);
        rc = AP_EINVAL;
        goto out;
    }
    rc = ca_ready(ca, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = ca_key_generate(&key, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    spec.key = key;
    spec.spki = NULL;
    spec.ku = KU_DIGITAL_SIGNATURE; /* ca_key_generate: EC P-256 */
    spec.dns_names = dns_names;
    spec.n_dns_names = n_dns_names;
    spec.ip_addrs = ip_addrs;
    spec.n_ip_addrs = n_ip_addrs;
    spec.cn = NULL;
    spec.not_before = now - CA_SKEW_SEC;
    spec.not_after = now + (long long)days * 86400;
    spec.eku = 0;
    rc = leaf_issue(ca, &spec, &cpem, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    /* SEC1 PEM: civetweb's mbedTLS reads it. */
    rc = ca_key_pem(key, &kpem, &klen, errbuf, errlen);
out:
    EVP_PKEY_free(key);
    if (rc == AP_OK) {
        *key_pem = kpem;
        *cert_pem = cpem;
    } else {
        if (kpem != NULL) {
            OPENSSL_cleanse(kpem, klen);
        }
        free(kpem);
        free(cpem);
    }
    return rc;
}
