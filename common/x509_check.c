/* common/x509_check.c: the checks a certificate from a PKI passes before
 * an order becomes valid (x509.h): its names, its use, its path to the
 * trust anchors, on a leaf decoded once (struct x509_leaf) or, for the
 * callers that hold only PEM, decoded per call. OpenSSL's libcrypto does
 * every decoding and the path validation. */
#include "common/x509.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/crypto.h"
#include "common/x509_int.h"

/* ---- names and key use --------------------------------------------- */

/* Appends a name to a space-separated list for messages. */
static void
list_add(char *list, size_t len, const char *name)
{
    size_t used = strlen(list);

    if (used < len) {
        (void)snprintf(list + used, len - used, "%s%s", used ? " " : "",
                       name);
    }
}

static bool
dns_in(const char *name, size_t len, const char *const *dns, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(dns[i]) == len && strncasecmp(dns[i], name, len) == 0) {
            return true;
        }
    }
    return false;
}

static bool
ip_in(const unsigned char *raw, size_t len, const char *const *ips, size_t n)
{
    unsigned char bin[16];

    for (size_t i = 0; i < n; i++) {
        if (len == 4 && inet_pton(AF_INET, ips[i], bin) == 1 &&
            memcmp(bin, raw, 4) == 0) {
            return true;
        }
        if (len == 16 && inet_pton(AF_INET6, ips[i], bin) == 1 &&
            memcmp(bin, raw, 16) == 0) {
            return true;
        }
    }
    return false;
}

/* The SAN extension of x: *out NULL when there is none. AP_EPARSE when
 * it does not decode, AP_EINVAL when there are two. */
static ap_err
san_get(X509 *x, GENERAL_NAMES **out)
{
    int crit = -1;

    *out = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    ERR_clear_error();
    if (*out != NULL || crit == -1) {
        return AP_OK;
    }
    return crit == -2 ? AP_EINVAL : AP_EPARSE;
}

/* The value of a dNSName or iPAddress entry; false for other kinds. */
static bool
gn_value(const GENERAL_NAME *gn, int *type, const unsigned char **v,
         size_t *len)
{
    const ASN1_STRING *s;

    if (gn->type == GEN_DNS) {
        s = gn->d.dNSName;
    } else if (gn->type == GEN_IPADD) {
        s = gn->d.iPAddress;
    } else {
        return false;
    }
    *type = gn->type;
    *v = ASN1_STRING_get0_data(s);
    *len = (size_t)ASN1_STRING_length(s);
    return *v != NULL || *len == 0;
}

static bool
san_has_dns(const GENERAL_NAMES *san, const char *name)
{
    const unsigned char *v;
    size_t len;
    int type;

    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        if (gn_value(sk_GENERAL_NAME_value(san, i), &type, &v, &len) &&
            type == GEN_DNS && len == strlen(name) &&
            strncasecmp((const char *)v, name, len) == 0) {
            return true;
        }
    }
    return false;
}

static bool
san_has_ip(const GENERAL_NAMES *san, const char *ip)
{
    const unsigned char *v;
    size_t len;
    int type;

    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        if (gn_value(sk_GENERAL_NAME_value(san, i), &type, &v, &len) &&
            type == GEN_IPADD && ip_in(v, len, &ip, 1)) {
            return true;
        }
    }
    return false;
}

/* The answer of a check whose leaf did not parse (rc from the walk). */
static ap_err
leaf_unparsed(ap_err rc, char *why, size_t whylen)
{
    (void)snprintf(why, whylen, "the leaf does not parse");
    return rc == AP_ENOMEM ? rc : AP_EPARSE;
}

/* x509_check_names on a decoded leaf. */
static ap_err
check_names(X509 *x, const char *const *dns, size_t n_dns,
            const char *const *ips, size_t n_ips, char *why, size_t whylen)
{
    GENERAL_NAMES *san = NULL;
    char extra[512] = "";
    char missing[512] = "";
    char text[INET6_ADDRSTRLEN + 1];
    ap_err rc;

    rc = san_get(x, &san);
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the leaf's subjectAltName %s",
                       rc == AP_EINVAL ? "appears twice" : "does not parse");
        goto out;
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        const unsigned char *v;
        size_t len;
        int type;

        if (!gn_value(sk_GENERAL_NAME_value(san, i), &type, &v, &len)) {
            list_add(extra, sizeof(extra), "(a SAN that is not a DNS name "
                                           "or IP address)");
        } else if (type == GEN_DNS) {
            if (!dns_in((const char *)v, len, dns, n_dns)) {
                (void)snprintf(text, sizeof(text), "%.*s",
                               (int)(len < 46 ? len : 46), (const char *)v);
                list_add(extra, sizeof(extra), text);
            }
        } else if (len == 4 || len == 16) {
            if (!ip_in(v, len, ips, n_ips)) {
                (void)inet_ntop(len == 4 ? AF_INET : AF_INET6, v, text,
                                sizeof(text));
                list_add(extra, sizeof(extra), text);
            }
        } else {
            list_add(extra, sizeof(extra), "(an IP address SAN of neither "
                                           "4 nor 16 bytes)");
        }
    }
    for (size_t i = 0; i < n_dns; i++) {
        if (!san_has_dns(san, dns[i])) {
            list_add(missing, sizeof(missing), dns[i]);
        }
    }
    for (size_t i = 0; i < n_ips; i++) {
        if (!san_has_ip(san, ips[i])) {
            list_add(missing, sizeof(missing), ips[i]);
        }
    }
    if (extra[0] != '\0' || missing[0] != '\0') {
        (void)snprintf(why, whylen,
                       "the certificate's names differ from the order's: "
                       "extra [%s], missing [%s]",
                       extra, missing);
        rc = AP_EINVAL;
        goto out;
    }
    rc = AP_OK;
out:
    GENERAL_NAMES_free(san);
    return rc;
}

ap_err
x509_check_names(const char *leaf_pem, const char *const *dns, size_t n_dns,
                 const char *const *ips, size_t n_ips, char *why,
                 size_t whylen)
{
    X509 *x = NULL;
    ap_err rc;

    rc = x509_first_cert(leaf_pem, &x);
    if (rc != AP_OK) {
        return leaf_unparsed(rc, why, whylen);
    }
    rc = check_names(x, dns, n_dns, ips, n_ips, why, whylen);
    X509_free(x);
    return rc;
}

/* x509_check_leaf_use on a decoded leaf. */
static ap_err
check_use(X509 *x, bool tls_server, char *why, size_t whylen)
{
    BASIC_CONSTRAINTS *bc = NULL;
    uint32_t flags;
    int crit = -1;
    ap_err rc;

    rc = AP_EINVAL;
    /* Decodes and caches the extensions: a broken or repeated one sets
     * EXFLAG_INVALID. */
    flags = X509_get_extension_flags(x);
    if ((flags & EXFLAG_INVALID) != 0) {
        (void)snprintf(why, whylen, "the certificate has a malformed or "
                                    "repeated extension");
        goto out;
    }
    bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
    if (bc != NULL && bc->ca) {
        (void)snprintf(why, whylen, "the PKI returned a CA certificate "
                                    "(basicConstraints cA=TRUE)");
        goto out;
    }
    if ((flags & EXFLAG_KUSAGE) != 0 &&
        (X509_get_key_usage(x) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
        (void)snprintf(why, whylen, "the certificate's keyUsage allows "
                                    "keyCertSign or cRLSign");
        goto out;
    }
    if (tls_server && (flags & EXFLAG_XKUSAGE) == 0) {
        (void)snprintf(why, whylen, "the certificate has no extendedKeyUsage;"
                                    " a TLS server profile needs "
                                    "serverAuth");
        goto out;
    }
    if (tls_server && (X509_get_extended_key_usage(x) & XKU_SSL_SERVER) ==
                          0) {
        (void)snprintf(why, whylen, "the certificate's extendedKeyUsage "
                                    "lacks serverAuth, which a TLS server "
                                    "profile needs");
        goto out;
    }
    rc = AP_OK;
out:
    ERR_clear_error();
    BASIC_CONSTRAINTS_free(bc);
    return rc;
}

ap_err
x509_check_leaf_use(const char *leaf_pem, bool tls_server, char *why,
                    size_t whylen)
{
    X509 *x = NULL;
    ap_err rc;

    rc = x509_first_cert(leaf_pem, &x);
    if (rc != AP_OK) {
        return leaf_unparsed(rc, why, whylen);
    }
    rc = check_use(x, tls_server, why, whylen);
    X509_free(x);
    return rc;
}

/* ---- path validation ----------------------------------------------- */

/* Appends every certificate of a PEM text to sk (held by sk). */
static ap_err
ossl_load_pem(const char *pem, STACK_OF(X509) *sk)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x;
    int n = 0;

    if (bio == NULL) {
        return AP_ENOMEM;
    }
    while (n < X509_MAX_CERTS &&
           (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            BIO_free(bio);
            return AP_ENOMEM;
        }
        n++;
    }
    ERR_clear_error(); /* the end of the text reads as an error */
    BIO_free(bio);
    return n > 0 ? AP_OK : AP_EPARSE;
}

static ap_err
verify_path(X509_STORE *store, X509 *leaf, STACK_OF(X509) *untrusted,
            char *why, size_t whylen)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    ap_err rc;

    if (ctx == NULL || X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        (void)snprintf(why, whylen, "out of memory");
        X509_STORE_CTX_free(ctx);
        ERR_clear_error();
        return AP_ENOMEM;
    }
    if (X509_verify_cert(ctx) != 1) {
        (void)snprintf(why, whylen,
                       "the chain does not verify to the trust anchors: %s",
                       X509_verify_cert_error_string(
                           X509_STORE_CTX_get_error(ctx)));
        rc = AP_ECRYPTO;
    } else {
        rc = AP_OK;
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

ap_err
x509_verify_chain(const char *leaf_pem, const char *chain_pem,
                  const char *anchors_pem, char *why, size_t whylen)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    STACK_OF(X509) *anchors = sk_X509_new_null();
    X509_STORE *store = X509_STORE_new();
    X509 *leaf;
    ap_err rc = AP_ENOMEM;

    if (certs == NULL || anchors == NULL || store == NULL) {
        (void)snprintf(why, whylen, "out of memory");
        goto out;
    }
    /* The leaf first; the rest of the list is untrusted intermediates. */
    rc = ossl_load_pem(leaf_pem, certs);
    if (rc == AP_OK && chain_pem != NULL && strstr(chain_pem, X509_BEGIN)) {
        rc = ossl_load_pem(chain_pem, certs);
    }
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the certificate or its chain does not "
                                    "parse");
        goto out;
    }
    rc = ossl_load_pem(anchors_pem, anchors);
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the trust anchors do not parse");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(anchors); i++) {
        if (X509_STORE_add_cert(store, sk_X509_value(anchors, i)) != 1) {
            rc = AP_ENOMEM;
            goto out;
        }
    }
    leaf = sk_X509_shift(certs);
    rc = verify_path(store, leaf, certs, why, whylen);
    X509_free(leaf);
out:
    ERR_clear_error();
    X509_STORE_free(store);
    sk_X509_pop_free(anchors, X509_free);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

/* ---- a PKI's leaf, decoded once ------------------------------------ */

struct x509_leaf {
    X509 *x;                  /* the first certificate */
    STACK_OF(X509) *rest;     /* the CERTIFICATE blocks after it */
    ap_err rest_rc;           /* the walk over them: AP_OK when all decode */
    char *serial_hex;
    long long not_after;
};

/* Leaves this process has just signed (the embedded CA), for the
 * x509_leaf_parse of the same bytes that follows in the issuance worker:
 * d2i_X509 builds the subject's key through OpenSSL 3.0's provider
 * decoders, whose context it makes afresh for every certificate (about
 * 90 us and 600 mallocs, a twentieth of a flow's CPU), while the signer
 * holds the finished object, its key included. An entry is the object and
 * a copy of its DER, found only by the same bytes compared in full and
 * taken once; past SIGNED_KEEP the oldest is dropped (a ca_issue whose
 * leaf nobody checks). The object is the one the DER was encoded from and
 * signed, so every check reads what the bytes say. */
#define SIGNED_KEEP 16

struct signed_entry {
    unsigned char *der;         /* NULL: free slot */
    size_t len;
    X509 *x;
};

static struct {
    pthread_mutex_t lock;       /* of what follows */
    unsigned next;
    struct signed_entry e[SIGNED_KEEP];
} signed_here = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
signed_entry_clear(struct signed_entry *e)
{
    X509_free(e->x);
    OPENSSL_free(e->der);
    memset(e, 0, sizeof(*e));
}

void
x509_leaf_signed_here(struct x509_st *x)
{
    struct signed_entry add = {0};
    struct signed_entry old;
    int n;

    if (x == NULL || X509_up_ref(x) != 1) {
        return;
    }
    n = i2d_X509(x, &add.der);
    if (n <= 0) {
        ERR_clear_error();
        X509_free(x);
        return;
    }
    add.len = (size_t)n;
    add.x = x;
    pthread_mutex_lock(&signed_here.lock);
    old = signed_here.e[signed_here.next];
    signed_here.e[signed_here.next] = add;
    signed_here.next = (signed_here.next + 1) % SIGNED_KEEP;
    pthread_mutex_unlock(&signed_here.lock);
    signed_entry_clear(&old);
}

void
x509_leaf_signed_drop(void)
{
    pthread_mutex_lock(&signed_here.lock);
    for (size_t i = 0; i < SIGNED_KEEP; i++) {
        signed_entry_clear(&signed_here.e[i]);
    }
    signed_here.next = 0;
    pthread_mutex_unlock(&signed_here.lock);
}

/* The object signed here whose DER is der, out of the list; NULL when
 * there is none. */
static X509 *
signed_take(const unsigned char *der, size_t len)
{
    struct signed_entry hit = {0};

    pthread_mutex_lock(&signed_here.lock);
    for (size_t i = 0; i < SIGNED_KEEP; i++) {
        struct signed_entry *e = &signed_here.e[i];

        if (e->der != NULL && e->len == len && memcmp(e->der, der, len) == 0) {
            hit = *e;
            memset(e, 0, sizeof(*e));
            break;
        }
    }
    pthread_mutex_unlock(&signed_here.lock);
    OPENSSL_free(hit.der);
    return hit.x;
}

/* The parsed chains the PKI returned (issue 18: d2i of the same
 * intermediate for every certificate was 6 % of the proxy's CPU under
 * load): up to X509_CHAIN_CACHE chain texts, each keyed by the SHA-256 of
 * the whole text, so only an identical text gets the certificates parsed
 * from it; nothing about a verification is kept, X509_verify_cert runs in
 * full every time. The X509s are never changed after parsing (OpenSSL
 * locks its own lazy caches in them), so threads share them by
 * reference. */
#define X509_CHAIN_CACHE 8
#define X509_CHAIN_CACHE_MAX_TEXT (64 * 1024)

struct chain_entry {
    unsigned char digest[CRYPTO_SHA256_LEN];
    STACK_OF(X509) *certs;      /* NULL: free slot */
    uint64_t used;
};

struct chain_cache {
    pthread_mutex_t lock;       /* of what follows */
    uint64_t tick;
    struct x509_chain_stats stats;
    struct chain_entry chains[X509_CHAIN_CACHE];
};

struct x509_anchors {
    X509_STORE *store;
    struct chain_cache *cache;  /* the anchors are read-only, this not */
};

/* x509_each_cert callback (X509_WALK_RAW): the first certificate, the
 * signer's own object when this process has just signed exactly these
 * bytes, else decoded (d2i_X509 checks every byte); then the rest,
 * decoded. */
static ap_err
leaf_take(void *arg, X509 *unused, const unsigned char *der, size_t len,
          bool *stop)
{
    struct x509_leaf *l = arg;
    X509 *x = l->x == NULL ? signed_take(der, len) : NULL;

    (void)unused;
    (void)stop;
    if (x == NULL) {
        x = x509_cert_from_der(der, len);
    }
    if (x == NULL) {
        return AP_EPARSE;
    }
    if (l->x == NULL) {
        l->x = x;
    } else if (sk_X509_push(l->rest, x) <= 0) {
        X509_free(x);
        return AP_ENOMEM;
    }
    return AP_OK;
}

ap_err
x509_leaf_parse(const char *pem, struct x509_leaf **out)
{
    struct x509_leaf *l;
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    long long not_before = 0;
    ap_err rc;

    *out = NULL;
    if (pem == NULL) {
        return AP_EINVAL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL || (l->rest = sk_X509_new_null()) == NULL) {
        free(l);
        return AP_ENOMEM;
    }
    l->rest_rc = x509_each_cert(pem, X509_WALK_RAW, leaf_take, l, NULL);
    if (l->x == NULL) {
        rc = l->rest_rc == AP_OK ? AP_EPARSE : l->rest_rc;
        goto out;
    }
    /* What x509_cert_parse reads: a serial, both dates and a key OpenSSL
     * can read (decoded with the certificate, so no extra cost). */
    rc = x509_serial_content(X509_get0_serialNumber(l->x), &raw, &raw_len);
    if (rc == AP_OK) {
        l->serial_hex = x509_serial_hex_of(raw, raw_len);
        rc = l->serial_hex != NULL ? AP_OK : AP_ENOMEM;
    }
    if (rc == AP_OK) {
        rc = x509_time_of(X509_get0_notBefore(l->x), &not_before);
    }
    if (rc == AP_OK) {
        rc = x509_time_of(X509_get0_notAfter(l->x), &l->not_after);
    }
    if (rc == AP_OK && X509_get0_pubkey(l->x) == NULL) {
        rc = AP_EPARSE;
    }
out:
    ERR_clear_error();
    free(raw);
    if (rc != AP_OK) {
        x509_leaf_free(l);
        return rc;
    }
    *out = l;
    return AP_OK;
}

void
x509_leaf_free(struct x509_leaf *leaf)
{
    if (leaf == NULL) {
        return;
    }
    X509_free(leaf->x);
    sk_X509_pop_free(leaf->rest, X509_free);
    free(leaf->serial_hex);
    free(leaf);
}

const char *
x509_leaf_serial(const struct x509_leaf *leaf)
{
    return leaf->serial_hex;
}

long long
x509_leaf_not_after(const struct x509_leaf *leaf)
{
    return leaf->not_after;
}

ap_err
x509_leaf_key_is(const struct x509_leaf *leaf, const unsigned char *spki,
                 size_t len, bool *same)
{
    unsigned char *enc = NULL;
    EVP_PKEY *pk;
    int n;

    *same = false;
    /* The key as the certificate carries it, re-encoded from its decoded
     * fields (no OSSL_ENCODER): equal bytes are the same key in the form
     * crypto_csr's pubkey_der has. */
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf->x), &enc);
    if (n > 0 && (size_t)n == len && memcmp(enc, spki, len) == 0) {
        *same = true;
    }
    OPENSSL_free(enc);
    enc = NULL;
    if (*same) {
        return AP_OK;
    }
    /* Otherwise compare in i2d_PUBKEY's form, as x509_cert_parse's
     * pubkey_der (a key written some other way may still be the one). */
    pk = X509_get0_pubkey(leaf->x);
    n = pk != NULL ? i2d_PUBKEY(pk, &enc) : -1;
    if (n <= 0) {
        ERR_clear_error();
        return AP_EPARSE;
    }
    *same = (size_t)n == len && memcmp(enc, spki, len) == 0;
    OPENSSL_free(enc);
    return AP_OK;
}

ap_err
x509_leaf_check_names(const struct x509_leaf *leaf, const char *const *dns,
                      size_t n_dns, const char *const *ips, size_t n_ips,
                      char *why, size_t whylen)
{
    if (leaf->rest_rc != AP_OK) {
        return leaf_unparsed(leaf->rest_rc, why, whylen);
    }
    return check_names(leaf->x, dns, n_dns, ips, n_ips, why, whylen);
}

ap_err
x509_leaf_check_use(const struct x509_leaf *leaf, bool tls_server, char *why,
                    size_t whylen)
{
    if (leaf->rest_rc != AP_OK) {
        return leaf_unparsed(leaf->rest_rc, why, whylen);
    }
    return check_use(leaf->x, tls_server, why, whylen);
}

ap_err
x509_anchors_load(const char *pem, struct x509_anchors **out)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    struct x509_anchors *a = calloc(1, sizeof(*a));
    ap_err rc = AP_ENOMEM;

    *out = NULL;
    if (certs == NULL || a == NULL) {
        goto out;
    }
    a->cache = calloc(1, sizeof(*a->cache));
    if (a->cache != NULL && pthread_mutex_init(&a->cache->lock, NULL) != 0) {
        free(a->cache);
        a->cache = NULL;
    }
    if (a->cache == NULL || (a->store = X509_STORE_new()) == NULL) {
        goto out;
    }
    rc = ossl_load_pem(pem, certs);
    for (int i = 0; rc == AP_OK && i < sk_X509_num(certs); i++) {
        if (X509_STORE_add_cert(a->store, sk_X509_value(certs, i)) != 1) {
            rc = AP_ENOMEM;
        }
    }
out:
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    if (rc != AP_OK) {
        x509_anchors_free(a);
        return rc;
    }
    *out = a;
    return AP_OK;
}

void
x509_anchors_free(struct x509_anchors *anchors)
{
    if (anchors == NULL) {
        return;
    }
    X509_STORE_free(anchors->store);
    if (anchors->cache != NULL) {
        for (size_t i = 0; i < X509_CHAIN_CACHE; i++) {
            sk_X509_pop_free(anchors->cache->chains[i].certs, X509_free);
        }
        pthread_mutex_destroy(&anchors->cache->lock);
        free(anchors->cache);
    }
    free(anchors);
}

void
x509_anchors_chain_stats(const struct x509_anchors *anchors,
                         struct x509_chain_stats *out)
{
    struct chain_cache *a = anchors->cache;

    pthread_mutex_lock(&a->lock);
    *out = a->stats;
    out->entries = 0;
    for (size_t i = 0; i < X509_CHAIN_CACHE; i++) {
        out->entries += a->chains[i].certs != NULL;
    }
    pthread_mutex_unlock(&a->lock);
}

/* Appends a new reference to every certificate of from to to. */
static ap_err
chain_append(STACK_OF(X509) *to, STACK_OF(X509) *from)
{
    for (int i = 0; i < sk_X509_num(from); i++) {
        X509 *x = sk_X509_value(from, i);

        if (X509_up_ref(x) != 1) {
            return AP_ENOMEM;
        }
        if (sk_X509_push(to, x) <= 0) {
            X509_free(x);
            return AP_ENOMEM;
        }
    }
    return AP_OK;
}

/* ossl_load_pem of chain_pem into certs, through the anchors' cache of
 * parsed chains (a text that does not parse is not kept). */
static ap_err
chain_load(struct chain_cache *a, const char *chain_pem,
           STACK_OF(X509) *certs)
{
    unsigned char digest[CRYPTO_SHA256_LEN];
    size_t len = strlen(chain_pem);
    STACK_OF(X509) *parsed = NULL;
    STACK_OF(X509) *old = NULL;
    size_t victim = 0;
    ap_err rc;

    if (len > X509_CHAIN_CACHE_MAX_TEXT) {
        return ossl_load_pem(chain_pem, certs);
    }
    crypto_sha256(chain_pem, len, digest);
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < X509_CHAIN_CACHE; i++) {
        struct chain_entry *e = &a->chains[i];

        if (e->certs != NULL &&
            memcmp(e->digest, digest, sizeof(digest)) == 0) {
            e->used = ++a->tick;
            a->stats.hits++;
            rc = chain_append(certs, e->certs);
            pthread_mutex_unlock(&a->lock);
            return rc;
        }
    }
    a->stats.misses++;
    pthread_mutex_unlock(&a->lock);

    parsed = sk_X509_new_null();
    if (parsed == NULL) {
        return AP_ENOMEM;
    }
    rc = ossl_load_pem(chain_pem, parsed);
    if (rc == AP_OK) {
        rc = chain_append(certs, parsed);
    }
    if (rc != AP_OK) {
        sk_X509_pop_free(parsed, X509_free);
        return rc;
    }
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < X509_CHAIN_CACHE; i++) {
        struct chain_entry *e = &a->chains[i];

        if (e->certs != NULL &&
            memcmp(e->digest, digest, sizeof(digest)) == 0) {
            /* another thread parsed the same text meanwhile */
            victim = X509_CHAIN_CACHE;
            break;
        }
        if (e->certs == NULL) {
            victim = i;
            break;
        }
        if (e->used < a->chains[victim].used) {
            victim = i;
        }
    }
    if (victim < X509_CHAIN_CACHE) {
        struct chain_entry *e = &a->chains[victim];

        old = e->certs;
        if (old != NULL) {
            a->stats.evictions++;
        }
        memcpy(e->digest, digest, sizeof(digest));
        e->certs = parsed;
        e->used = ++a->tick;
        parsed = NULL;
    }
    pthread_mutex_unlock(&a->lock);
    sk_X509_pop_free(old, X509_free);
    sk_X509_pop_free(parsed, X509_free);
    return AP_OK;
}

ap_err
x509_leaf_verify(const struct x509_leaf *leaf, const char *chain_pem,
                 const struct x509_anchors *anchors, char *why,
                 size_t whylen)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    ap_err rc = AP_ENOMEM;

    if (certs == NULL) {
        (void)snprintf(why, whylen, "out of memory");
        goto out;
    }
    /* The rest of the leaf's PEM, then the chain: untrusted
     * intermediates. */
    for (int i = 0; i < sk_X509_num(leaf->rest); i++) {
        X509 *x = sk_X509_value(leaf->rest, i);

        if (X509_up_ref(x) != 1) {
            goto out;
        }
        if (sk_X509_push(certs, x) <= 0) {
            X509_free(x);
            goto out;
        }
    }
    rc = AP_OK;
    if (chain_pem != NULL && strstr(chain_pem, X509_BEGIN)) {
        rc = chain_load(anchors->cache, chain_pem, certs);
    }
    if (rc != AP_OK) {
        (void)snprintf(why, whylen, "the certificate or its chain does not "
                                    "parse");
        goto out;
    }
    rc = verify_path(anchors->store, leaf->x, certs, why, whylen);
out:
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    return rc;
}
