/* proxy/val_tlsalpn01.c: the tls-alpn-01 validator (RFC 8737; RFC 8738
 * §6 for IP identifiers), an OpenSSL libssl client.
 *
 * Connects to <address>:tls_port (each address val_addresses resolved and
 * the policy permitted, IPv6 first), offers TLS 1.2 or 1.3 with ALPN
 * "acme-tls/1" only and SNI = the name (or the reverse-DNS name of an IP
 * address), completes the handshake on a non-blocking socket under the
 * attempt's deadline, requires the server to have selected "acme-tls/1",
 * and checks the certificate it presented with OpenSSL's X509 API.
 *
 * No chain of trust is built: the validation certificate is self-signed
 * by design and carries the critical id-pe-acmeIdentifier extension that
 * OpenSSL does not know, so the verify callback accepts the chain, and
 * the proof (RFC 8737 §3) is checked on the peer certificate after the
 * handshake. The socket goes through a small BIO of our own that sends
 * with MSG_NOSIGNAL and caps the bytes read; OpenSSL does every bit of
 * TLS and X.509 parsing.
 *
 * libssl is not linked: it is loaded with dlopen at the first tls-alpn-01
 * validation and the few functions called here are bound into a table
 * (ssl_load), so an idle proxy does not map it (README, Decisions:
 * "Libraries loaded when first needed"). */
#include "proxy/val_tlsalpn01.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/crypto.h"
#include "common/resolve.h"
#include "proxy/ident.h"

#define TLSALPN_MAX_READ (256 * 1024)   /* bytes read from a responder */
#define TLSALPN_MAX_CERT_LIST (64 * 1024) /* its certificate chain */
#define TLSALPN_OID_ACME_ID "1.3.6.1.5.5.7.1.31" /* RFC 8737 §6.1 */

/* ---- certificate check --------------------------------------------- */

/* Describes general name g for a detail ("dNSName x", "iPAddress y"). */
static void
san_text(const GENERAL_NAME *g, char *out, size_t outlen)
{
    char addr[INET6_ADDRSTRLEN];

    if (g->type == GEN_DNS) {
        const unsigned char *p = ASN1_STRING_get0_data(g->d.dNSName);
        int len = ASN1_STRING_length(g->d.dNSName);
        char clean[70];
        int n = len < 64 ? len : 64;

        for (int i = 0; i < n; i++) {
            clean[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
        }
        clean[n > 0 ? n : 0] = '\0';
        snprintf(out, outlen, "dNSName %s", clean);
    } else if (g->type == GEN_IPADD &&
               (ASN1_STRING_length(g->d.iPAddress) == 4 ||
                ASN1_STRING_length(g->d.iPAddress) == 16) &&
               inet_ntop(ASN1_STRING_length(g->d.iPAddress) == 4 ? AF_INET
                                                                 : AF_INET6,
                         ASN1_STRING_get0_data(g->d.iPAddress), addr,
                         sizeof(addr)) != NULL) {
        snprintf(out, outlen, "iPAddress %s", addr);
    } else {
        snprintf(out, outlen, "a SAN of type [%d]", g->type);
    }
}

/* Exactly one SAN, the identifier. */
static bool
san_ok(X509 *crt, const char *ident_type, const char *name, char *why,
       size_t whylen)
{
    bool is_ip = strcmp(ident_type, "ip") == 0;
    GENERAL_NAMES *gens;
    const GENERAL_NAME *g;
    unsigned char want[16];
    int want_len = 0;
    char first[120] = "";
    int crit = -1;
    int n = 0;
    bool ok = false;

    if (is_ip) {
        if (inet_pton(AF_INET, name, want) == 1) {
            want_len = 4;
        } else if (inet_pton(AF_INET6, name, want) == 1) {
            want_len = 16;
        }
    }
    gens = X509_get_ext_d2i(crt, NID_subject_alt_name, &crit, NULL);
    if (crit == -2) {
        snprintf(why, whylen, "the certificate has more than one "
                 "subjectAltName extension");
        return false;
    }
    if (gens != NULL) {
        n = sk_GENERAL_NAME_num(gens);
        if (n > 0) {
            san_text(sk_GENERAL_NAME_value(gens, 0), first, sizeof(first));
        }
    }
    if (n != 1) {
        snprintf(why, whylen, "the certificate must hold exactly one "
                 "subjectAltName, the %s %s; it holds %d%s%s",
                 is_ip ? "iPAddress" : "dNSName", name, n,
                 n > 0 ? ", the first " : "", first);
        goto out;
    }
    g = sk_GENERAL_NAME_value(gens, 0);
    if (is_ip) {
        ok = g->type == GEN_IPADD && want_len != 0 &&
             ASN1_STRING_length(g->d.iPAddress) == want_len &&
             memcmp(ASN1_STRING_get0_data(g->d.iPAddress), want,
                    (size_t)want_len) == 0;
    } else {
        /* Equal lengths, so a NUL inside the SAN cannot match. */
        ok = g->type == GEN_DNS &&
             (size_t)ASN1_STRING_length(g->d.dNSName) == strlen(name) &&
             strncasecmp((const char *)ASN1_STRING_get0_data(g->d.dNSName),
                         name, strlen(name)) == 0;
    }
    if (!ok) {
        snprintf(why, whylen, "the certificate's subjectAltName is %s, not "
                 "the %s %s", first, is_ip ? "iPAddress" : "dNSName", name);
    }
out:
    GENERAL_NAMES_free(gens);
    return ok;
}

/* The acmeIdentifier extension's value is the DER of an OCTET STRING of
 * the 32 digest bytes (RFC 8737 §3), compared in constant time. */
static bool
acme_value_ok(X509_EXTENSION *ext, const unsigned char *digest,
              char *why, size_t whylen)
{
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
    const unsigned char *p = ASN1_STRING_get0_data(v);
    const unsigned char *start = p;
    long len = ASN1_STRING_length(v);
    ASN1_OCTET_STRING *inner = NULL;
    unsigned char *der = NULL;
    int der_len = -1;
    bool ok = false;

    inner = d2i_ASN1_OCTET_STRING(NULL, &p, len);
    if (inner != NULL) {
        der_len = i2d_ASN1_OCTET_STRING(inner, &der);
    }
    /* Nothing after it, 32 bytes, and in DER (re-encoding gives the same
     * bytes: no long-form length, no constructed string). */
    if (inner == NULL || p != start + len ||
        ASN1_STRING_length(inner) != CRYPTO_SHA256_LEN || der_len != len ||
        memcmp(der, start, (size_t)len) != 0) {
        snprintf(why, whylen, "the acmeIdentifier extension is not an OCTET "
                 "STRING of 32 bytes");
        goto out;
    }
    if (CRYPTO_memcmp(ASN1_STRING_get0_data(inner), digest,
                      CRYPTO_SHA256_LEN) != 0) {
        snprintf(why, whylen, "the acmeIdentifier extension is not the "
                 "SHA-256 of the key authorization");
        goto out;
    }
    ok = true;
out:
    OPENSSL_free(der);
    ASN1_OCTET_STRING_free(inner);
    return ok;
}

static bool
check_x509(X509 *crt, const char *ident_type, const char *name,
           const unsigned char *digest, char *why, size_t whylen)
{
    ASN1_OBJECT *acme_oid = OBJ_txt2obj(TLSALPN_OID_ACME_ID, 1);
    X509_EXTENSION *ext = NULL;
    EVP_PKEY *pk;
    int idx;
    int n_acme = 0;
    bool ok = false;

    if (acme_oid == NULL) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    /* RFC 5280 §4.2: a critical extension nobody here knows is fatal. */
    for (int i = 0; i < X509_get_ext_count(crt); i++) {
        X509_EXTENSION *e = X509_get_ext(crt, i);
        const ASN1_OBJECT *o = X509_EXTENSION_get_object(e);
        char oid[80];

        if (X509_EXTENSION_get_critical(e) && OBJ_cmp(o, acme_oid) != 0 &&
            !X509_supported_extension(e)) {
            if (OBJ_obj2txt(oid, sizeof(oid), o, 1) <= 0) {
                snprintf(oid, sizeof(oid), "?");
            }
            snprintf(why, whylen, "the certificate has an unknown critical "
                     "extension %s", oid);
            goto out;
        }
    }
    if (!san_ok(crt, ident_type, name, why, whylen)) {
        goto out;
    }
    for (idx = X509_get_ext_by_OBJ(crt, acme_oid, -1); idx >= 0;
         idx = X509_get_ext_by_OBJ(crt, acme_oid, idx)) {
        if (n_acme++ == 0) {
            ext = X509_get_ext(crt, idx);
        }
    }
    if (n_acme == 0) {
        snprintf(why, whylen, "the certificate has no acmeIdentifier "
                 "extension (%s)", TLSALPN_OID_ACME_ID);
        goto out;
    }
    if (n_acme > 1) {
        snprintf(why, whylen, "the certificate has %d acmeIdentifier "
                 "extensions", n_acme);
        goto out;
    }
    if (!X509_EXTENSION_get_critical(ext)) {
        snprintf(why, whylen, "the acmeIdentifier extension is not marked "
                 "critical (RFC 8737 §3)");
        goto out;
    }
    if (!acme_value_ok(ext, digest, why, whylen)) {
        goto out;
    }
    pk = X509_get0_pubkey(crt);
    if (pk == NULL || X509_verify(crt, pk) != 1) {
        snprintf(why, whylen, "the certificate is not self-signed (its "
                 "signature does not verify with its own key)");
        goto out;
    }
    ok = true;
out:
    ASN1_OBJECT_free(acme_oid);
    ERR_clear_error();
    return ok;
}

bool
val_tlsalpn01_check_cert(const unsigned char *der, size_t len,
                         const char *ident_type, const char *name,
                         const unsigned char *digest, char *why,
                         size_t whylen)
{
    const unsigned char *p = der;
    X509 *crt = NULL;
    bool ok = false;

    if (len > TLSALPN_MAX_CERT_LIST) {
        snprintf(why, whylen, "the certificate is larger than %d bytes",
                 TLSALPN_MAX_CERT_LIST);
        return false;
    }
    crt = d2i_X509(NULL, &p, (long)len);
    if (crt == NULL || p != der + len) {
        snprintf(why, whylen, "the certificate does not parse as DER");
        goto out;
    }
    ok = check_x509(crt, ident_type, name, digest, why, whylen);
out:
    X509_free(crt);
    ERR_clear_error();
    return ok;
}

/* ---- the socket under OpenSSL -------------------------------------- */

/* What the BIO reads and writes: a non-blocking stream socket. */
struct sockio {
    int fd;
    size_t in;           /* bytes read so far */
    bool capped;         /* TLSALPN_MAX_READ reached */
};

static int
sockio_write(BIO *b, const char *buf, int len)
{
    struct sockio *s = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    n = send(s->fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            BIO_set_retry_write(b);
        }
        return -1;
    }
    return (int)n;
}

static int
sockio_read(BIO *b, char *buf, int len)
{
    struct sockio *s = BIO_get_data(b);
    size_t want = (size_t)len;
    ssize_t n;

    BIO_clear_retry_flags(b);
    if (s->in >= TLSALPN_MAX_READ) {
        s->capped = true;
        return -1;
    }
    if (want > TLSALPN_MAX_READ - s->in) {
        want = TLSALPN_MAX_READ - s->in;
    }
    n = recv(s->fd, buf, want, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            BIO_set_retry_read(b);
        }
        return -1;
    }
    s->in += (size_t)n;
    return (int)n;
}

static long
sockio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
sockio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* Accepts whatever chain the responder sends. The self-signed validation
 * certificate fails chain building (no trust anchor, depth 0 self-signed)
 * and its critical acmeIdentifier extension is unknown to OpenSSL
 * (X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION); neither matters, since the
 * proof is the certificate's content, checked after the handshake. */
static int
accept_chain(int preverify_ok, X509_STORE_CTX *xs)
{
    (void)preverify_ok;
    (void)xs;
    return 1;
}

#define TLSALPN_LIBSSL "libssl.so.3"

/* libssl's functions, bound once by ssl_load; all NULL when it cannot be
 * loaded. SSL_CTX_set_min_proto_version, SSL_CTX_set_max_cert_list,
 * SSL_CTX_set_session_cache_mode and SSL_set_tlsext_host_name are macros
 * over SSL_CTX_ctrl and SSL_ctrl. */
static struct {
    __typeof__(TLS_client_method) *client_method;
    __typeof__(SSL_CTX_new) *ctx_new;
    __typeof__(SSL_CTX_free) *ctx_free;
    __typeof__(SSL_CTX_ctrl) *ctx_ctrl;
    __typeof__(SSL_CTX_set_verify) *ctx_set_verify;
    __typeof__(SSL_new) *ssl_new;
    __typeof__(SSL_free) *ssl_free;
    __typeof__(SSL_ctrl) *ssl_ctrl;
    __typeof__(SSL_set_alpn_protos) *set_alpn_protos;
    __typeof__(SSL_set_bio) *set_bio;
    __typeof__(SSL_connect) *connect;
    __typeof__(SSL_get_error) *get_error;
    __typeof__(SSL_get0_alpn_selected) *get0_alpn_selected;
    __typeof__(SSL_get_version) *get_version;
    __typeof__(SSL_get0_peer_certificate) *get0_peer_certificate;
    __typeof__(SSL_shutdown) *shutdown;
} ssl_fn;
static char ssl_load_err[256]; /* why ssl_load failed, for the detail */

/* Loads libssl (never unloaded) and binds ssl_fn; on failure leaves it
 * all NULL and says why in ssl_load_err. Run once (client_init). */
static bool
ssl_load(void)
{
    const char *e;
    void *h = dlopen(TLSALPN_LIBSSL, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);

    if (h == NULL) {
        e = dlerror();
        snprintf(ssl_load_err, sizeof(ssl_load_err), "tls-alpn-01 needs "
                 "libssl (%s, Debian package libssl3): %s", TLSALPN_LIBSSL,
                 e != NULL ? e : "not found");
        return false;
    }
#define SSL_BIND(field, name)                                              \
    do {                                                                   \
        *(void **)&ssl_fn.field = dlsym(h, #name);                         \
        if (ssl_fn.field == NULL) {                                        \
            snprintf(ssl_load_err, sizeof(ssl_load_err), "%s has no %s",   \
                     TLSALPN_LIBSSL, #name);                               \
            memset(&ssl_fn, 0, sizeof(ssl_fn));                            \
            return false;                                                  \
        }                                                                  \
    } while (0)
    SSL_BIND(client_method, TLS_client_method);
    SSL_BIND(ctx_new, SSL_CTX_new);
    SSL_BIND(ctx_free, SSL_CTX_free);
    SSL_BIND(ctx_ctrl, SSL_CTX_ctrl);
    SSL_BIND(ctx_set_verify, SSL_CTX_set_verify);
    SSL_BIND(ssl_new, SSL_new);
    SSL_BIND(ssl_free, SSL_free);
    SSL_BIND(ssl_ctrl, SSL_ctrl);
    SSL_BIND(set_alpn_protos, SSL_set_alpn_protos);
    SSL_BIND(set_bio, SSL_set_bio);
    SSL_BIND(connect, SSL_connect);
    SSL_BIND(get_error, SSL_get_error);
    SSL_BIND(get0_alpn_selected, SSL_get0_alpn_selected);
    SSL_BIND(get_version, SSL_get_version);
    SSL_BIND(get0_peer_certificate, SSL_get0_peer_certificate);
    SSL_BIND(shutdown, SSL_shutdown);
#undef SSL_BIND
    return true;
}

static pthread_once_t client_once = PTHREAD_ONCE_INIT;
/* Made once, read-only after (SSL_new on a shared SSL_CTX is
 * thread-safe); they live as long as the process. */
static BIO_METHOD *sockio_method;
static SSL_CTX *client_ctx;

static void
client_init(void)
{
    BIO_METHOD *m;
    SSL_CTX *ctx;

    if (!ssl_load()) {
        return;
    }
    m = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(),
                     "acmeproxy tls-alpn-01 socket");
    ctx = ssl_fn.ctx_new(ssl_fn.client_method());
    if (m == NULL || ctx == NULL ||
        BIO_meth_set_write(m, sockio_write) != 1 ||
        BIO_meth_set_read(m, sockio_read) != 1 ||
        BIO_meth_set_ctrl(m, sockio_ctrl) != 1 ||
        BIO_meth_set_create(m, sockio_create) != 1 ||
        /* SSL_CTX_set_min_proto_version */
        ssl_fn.ctx_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION,
                        NULL) != 1) {
        BIO_meth_free(m);
        if (ctx != NULL) {
            ssl_fn.ctx_free(ctx);
        }
        return;
    }
    ssl_fn.ctx_set_verify(ctx, SSL_VERIFY_PEER, accept_chain);
    /* SSL_CTX_set_max_cert_list, SSL_CTX_set_session_cache_mode */
    (void)ssl_fn.ctx_ctrl(ctx, SSL_CTRL_SET_MAX_CERT_LIST,
                          TLSALPN_MAX_CERT_LIST, NULL);
    (void)ssl_fn.ctx_ctrl(ctx, SSL_CTRL_SET_SESS_CACHE_MODE,
                          SSL_SESS_CACHE_OFF, NULL);
    sockio_method = m;
    client_ctx = ctx;
}

/* Waits until fd is ready for events or the deadline; 0 when ready, -1
 * on the deadline (*timed_out set) or an error. */
static int
wait_fd(int fd, short events, long long deadline_ms, bool *timed_out)
{
    struct pollfd pfd = { .fd = fd, .events = events, .revents = 0 };
    int r;

    do {
        unsigned left = val_remaining_ms(deadline_ms);

        if (left == 0) {
            *timed_out = true;
            return -1;
        }
        r = poll(&pfd, 1, (int)left);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        *timed_out = true;
        return -1;
    }
    return r < 0 ? -1 : 0;
}

/* OpenSSL's reason for a failed handshake (its static text, never bytes
 * of the peer). */
static void
tls_error_text(SSL *ssl, int r, const struct sockio *io, char *out,
               size_t outlen)
{
    unsigned long e = ERR_peek_last_error();
    int se = ssl_fn.get_error(ssl, r);

    if (io->capped) {
        snprintf(out, outlen, "the server sent more than %d bytes",
                 TLSALPN_MAX_READ);
    } else if (e != 0) {
        char buf[160];

        ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(out, outlen, "%s", buf);
    } else if (se == SSL_ERROR_SYSCALL || se == SSL_ERROR_ZERO_RETURN) {
        snprintf(out, outlen, "the connection closed during the handshake");
    } else {
        snprintf(out, outlen, "SSL error %d", se);
    }
}

void
val_tlsalpn01_session(int fd, const char *where, const char *sni,
                      const char *ident_type, const char *name,
                      const unsigned char *digest, long long deadline_ms,
                      cJSON *rec, struct val_outcome *out)
{
    static const unsigned char alpn[] = "\x0a" VAL_ACME_TLS_ALPN;
    struct sockio io = { .fd = fd, .in = 0, .capped = false };
    char host[RESOLVE_MAX_NAME];
    char err[200];
    char why[400];
    SSL *ssl = NULL;
    BIO *bio = NULL;
    const unsigned char *chosen = NULL;
    unsigned chosen_len = 0;
    X509 *peer;
    bool timed_out = false;
    int flags;
    int r;

    ERR_clear_error();
    (void)pthread_once(&client_once, client_init);
    snprintf(host, sizeof(host), "%s", sni);
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        val_fail(out, PROB_SERVER_INTERNAL, "%s: fcntl: %s", where,
                 strerror(errno));
        return;
    }
    if (client_ctx == NULL) {
        val_fail(out, PROB_SERVER_INTERNAL, "TLS client setup failed%s%s",
                 ssl_load_err[0] != '\0' ? ": " : "", ssl_load_err);
        goto out;
    }
    ssl = ssl_fn.ssl_new(client_ctx);
    bio = BIO_new(sockio_method);
    /* SSL_set_alpn_protos returns 0 on success; SSL_ctrl is
     * SSL_set_tlsext_host_name. */
    if (ssl == NULL || bio == NULL ||
        ssl_fn.set_alpn_protos(ssl, alpn, sizeof(alpn) - 1) != 0 ||
        ssl_fn.ssl_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
                        TLSEXT_NAMETYPE_host_name, host) != 1) {
        val_fail(out, PROB_SERVER_INTERNAL, "TLS client setup failed");
        goto out;
    }
    BIO_set_data(bio, &io);
    ssl_fn.set_bio(ssl, bio, bio);
    bio = NULL; /* owned by ssl now */
    for (;;) {
        int se;

        ERR_clear_error();
        r = ssl_fn.connect(ssl);
        if (r == 1) {
            break;
        }
        se = ssl_fn.get_error(ssl, r);
        if ((se != SSL_ERROR_WANT_READ && se != SSL_ERROR_WANT_WRITE) ||
            io.capped) {
            tls_error_text(ssl, r, &io, err, sizeof(err));
            val_fail(out, PROB_TLS, "%s: TLS handshake failed: %s", where,
                     err);
            goto out;
        }
        if (wait_fd(fd, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                    deadline_ms, &timed_out) != 0) {
            val_fail(out, PROB_CONNECTION, "%s: %s", where,
                     timed_out ? "no TLS handshake within the validation "
                                 "deadline"
                               : "the connection failed during the TLS "
                                 "handshake");
            goto out;
        }
    }
    ssl_fn.get0_alpn_selected(ssl, &chosen, &chosen_len);
    if (chosen_len != sizeof(alpn) - 2 ||
        memcmp(chosen, VAL_ACME_TLS_ALPN, chosen_len) != 0) {
        val_fail(out, PROB_TLS, "%s: the server did not negotiate ALPN "
                 "\"%s\"", where, VAL_ACME_TLS_ALPN);
        goto out;
    }
    if (rec != NULL) {
        cJSON_AddStringToObject(rec, "alpn", VAL_ACME_TLS_ALPN);
        cJSON_AddStringToObject(rec, "tlsVersion",
                                ssl_fn.get_version(ssl));
    }
    peer = ssl_fn.get0_peer_certificate(ssl);
    if (peer == NULL) {
        val_fail(out, PROB_TLS, "%s: the server sent no certificate", where);
        goto out;
    }
    if (!check_x509(peer, ident_type, name, digest, why, sizeof(why))) {
        val_fail(out, PROB_INCORRECT_RESPONSE, "%s: %s", where, why);
        goto out;
    }
    out->valid = true;
    /* A polite close_notify; its outcome does not matter. */
    (void)ssl_fn.shutdown(ssl);
out:
    BIO_free(bio);
    if (ssl != NULL) {
        ssl_fn.ssl_free(ssl);
    }
    ERR_clear_error();
}

/* ---- the validator ------------------------------------------------- */

/* Non-blocking connect to addr:port bounded by the deadline; the fd
 * stays non-blocking. -1 with err set on failure. */
static int
conn_open(const char *addr, unsigned port, long long deadline_ms, char *err,
          size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int soerr = 0;
    socklen_t soerrlen = sizeof(soerr);
    bool timed_out = false;
    int fd = -1;

    memset(&ss, 0, sizeof(ss));
    if (strchr(addr, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)port);
        sslen = sizeof(*s6);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1) {
            snprintf(err, errlen, "bad address");
            return -1;
        }
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)port);
        sslen = sizeof(*s4);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1) {
            snprintf(err, errlen, "bad address");
            return -1;
        }
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&ss, sslen) != 0 &&
        errno != EINPROGRESS) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        goto fail;
    }
    if (wait_fd(fd, POLLOUT, deadline_ms, &timed_out) != 0) {
        snprintf(err, errlen, "connect: %s",
                 timed_out ? "no connection within the validation deadline"
                           : strerror(errno));
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &soerrlen) != 0 ||
        soerr != 0) {
        snprintf(err, errlen, "connect: %s", strerror(soerr ? soerr : errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* One TLS attempt to addr. Returns false when the address could not be
 * reached at all (the caller tries the next one). */
static bool
attempt(const struct val_input *in, const char *addr, const char *sni,
        const unsigned char *digest, cJSON *rec, struct val_outcome *out)
{
    unsigned port = in->cfg->validation.tls_port;
    char where[400];
    char err[160];
    int fd;

    fd = conn_open(addr, port, in->deadline_ms, err, sizeof(err));
    if (fd < 0) {
        val_fail(out, PROB_CONNECTION, "tls-alpn-01 %s port %u: %s", addr,
                 port, err);
        return false;
    }
    snprintf(out->address, sizeof(out->address), "%.45s", addr);
    if (rec != NULL) {
        cJSON_AddStringToObject(rec, "addressUsed", addr);
    }
    snprintf(where, sizeof(where), "tls-alpn-01 %.45s port %u (SNI %.255s)",
             addr, port, sni);
    val_tlsalpn01_session(fd, where, sni, in->ident_type, in->name, digest,
                          in->deadline_ms, rec, out);
    close(fd);
    return true;
}

static void
run_tlsalpn01(const struct val_input *in, struct val_outcome *out)
{
    bool is_ip = strcmp(in->ident_type, "ip") == 0;
    char allowed[RESOLVE_MAX_ADDRS][46];
    unsigned char digest[CRYPTO_SHA256_LEN];
    char sni[RESOLVE_MAX_NAME];
    cJSON *rec = val_evidence_add(out);
    size_t n = 0;

    if (is_ip) {
        if (ident_ip_reverse_name(in->name, sni, sizeof(sni)) != AP_OK) {
            val_fail(out, PROB_SERVER_INTERNAL, "bad IP identifier");
            return;
        }
    } else {
        snprintf(sni, sizeof(sni), "%s", in->name);
    }
    if (rec != NULL) {
        cJSON_AddStringToObject(rec, "hostname", in->name);
        cJSON_AddNumberToObject(rec, "port", in->cfg->validation.tls_port);
        cJSON_AddStringToObject(rec, "sni", sni);
    }
    if (!val_addresses(in, in->name, is_ip, "tls-alpn-01", rec, allowed,
                       RESOLVE_MAX_ADDRS, &n, out)) {
        return;
    }
    crypto_sha256(in->keyauth, strlen(in->keyauth), digest);
    for (size_t i = 0; i < n; i++) {
        if (attempt(in, allowed[i], sni, digest, rec, out) ||
            val_remaining_ms(in->deadline_ms) == 0) {
            return;
        }
    }
}

const struct validator_ops validator_tlsalpn01 = {
    .type = "tls-alpn-01",
    .run = run_tlsalpn01,
};
