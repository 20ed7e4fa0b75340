/* proxy/val_tlsalpn01.c: the tls-alpn-01 validator (RFC 8737; RFC 8738
 * §6 for IP identifiers), with an mbedTLS client.
 *
 * Connects to <address>:tls_port (each permitted address in turn, IPv6
 * first), offers TLS 1.2 with ALPN "acme-tls/1" only and SNI = the name
 * (or the reverse-DNS name of an IP address), and checks the certificate
 * the responder presents.
 *
 * mbedTLS 2.28 cannot parse a certificate with an unknown critical
 * extension during the handshake (MBEDTLS_X509_ALLOW_UNSUPPORTED_CRITICAL_
 * EXTENSION is off in Debian's build), and id-pe-acmeIdentifier is
 * critical by definition. So the receive callback also reads the
 * plaintext TLS 1.2 handshake records as they pass and keeps the server's
 * first certificate; the handshake may then stop with an X.509 parse
 * error, and the certificate is checked here with
 * mbedtls_x509_crt_parse_der_with_ext_cb. The proof is the certificate's
 * content (RFC 8737 §3), which needs no completed handshake. */
#include "proxy/validate.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "common/crypto.h"
#include "common/resolve.h"
#include "proxy/ident.h"

#define TLSALPN_MAX_HS 65536      /* plaintext handshake bytes kept */
#define TLSALPN_REC_HANDSHAKE 22
#define TLSALPN_REC_CCS 20
#define TLSALPN_HS_CERTIFICATE 11

/* id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31 (RFC 8737 §6.1) */
static const unsigned char oid_acme_id[] = { 0x2b, 0x06, 0x01, 0x05, 0x05,
                                             0x07, 0x01, 0x1f };

/* ---- certificate check --------------------------------------------- */

struct ext_seen {
    int n;                       /* acmeIdentifier extensions seen */
    int critical;
    const unsigned char *p;      /* its extnValue contents */
    size_t len;
};

static int
on_ext(void *ctx, mbedtls_x509_crt const *crt, mbedtls_x509_buf const *oid,
       int critical, const unsigned char *p, const unsigned char *end)
{
    struct ext_seen *e = ctx;

    (void)crt;
    if (oid->len == sizeof(oid_acme_id) &&
        memcmp(oid->p, oid_acme_id, sizeof(oid_acme_id)) == 0) {
        e->n++;
        e->critical = critical;
        e->p = p;
        e->len = (size_t)(end - p);
        return 0;
    }
    /* Any other extension mbedTLS does not know: fine unless critical
     * (then the parse fails, as RFC 5280 §4.2 wants). */
    return critical ? MBEDTLS_ERR_X509_INVALID_EXTENSIONS : 0;
}

/* The certificate verifies with its own public key. */
static bool
self_signed(mbedtls_x509_crt *crt)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(crt->sig_md);
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];

    if (md == NULL ||
        mbedtls_md(md, crt->tbs.p, crt->tbs.len, hash) != 0) {
        return false;
    }
    return mbedtls_pk_verify_ext(crt->sig_pk, crt->sig_opts,
                                 &crt->pk, crt->sig_md,
                                 hash, mbedtls_md_get_size(md), crt->sig.p,
                                 crt->sig.len) == 0;
}

/* Describes SAN entry b for a detail ("dNSName x", "iPAddress y"). */
static void
san_text(const mbedtls_x509_buf *b, char *out, size_t outlen)
{
    int tag = b->tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
    char addr[INET6_ADDRSTRLEN];
    char clean[80];
    size_t n = b->len < 64 ? b->len : 64;

    if (tag == 2) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = b->p[i];

            clean[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
        clean[n] = '\0';
        snprintf(out, outlen, "dNSName %s", clean);
    } else if (tag == 7 && (b->len == 4 || b->len == 16) &&
               inet_ntop(b->len == 4 ? AF_INET : AF_INET6, b->p, addr,
                         sizeof(addr)) != NULL) {
        snprintf(out, outlen, "iPAddress %s", addr);
    } else {
        snprintf(out, outlen, "a SAN of type [%d]", tag);
    }
}

/* Exactly one SAN, the identifier. */
static bool
san_ok(const mbedtls_x509_crt *crt, const char *ident_type, const char *name,
       char *why, size_t whylen)
{
    const mbedtls_x509_sequence *s = &crt->subject_alt_names;
    bool is_ip = strcmp(ident_type, "ip") == 0;
    unsigned char want[16];
    size_t want_len = 0;
    char first[120] = "";
    size_t n = 0;
    int tag;

    if (is_ip) {
        if (inet_pton(AF_INET, name, want) == 1) {
            want_len = 4;
        } else if (inet_pton(AF_INET6, name, want) == 1) {
            want_len = 16;
        }
    }
    if ((crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) != 0) {
        for (; s != NULL && s->buf.p != NULL; s = s->next) {
            if (n == 0) {
                san_text(&s->buf, first, sizeof(first));
            }
            n++;
        }
    }
    s = &crt->subject_alt_names;
    if (n != 1) {
        snprintf(why, whylen, "the certificate must hold exactly one "
                 "subjectAltName, the %s %s; it holds %zu%s%s",
                 is_ip ? "iPAddress" : "dNSName", name, n,
                 n > 0 ? ", the first " : "", first);
        return false;
    }
    tag = s->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
    if (is_ip ? (tag == 7 && want_len != 0 && s->buf.len == want_len &&
                 memcmp(s->buf.p, want, want_len) == 0)
              : (tag == 2 && s->buf.len == strlen(name) &&
                 strncasecmp((const char *)s->buf.p, name, s->buf.len) ==
                     0)) {
        return true;
    }
    snprintf(why, whylen, "the certificate's subjectAltName is %s, not the "
             "%s %s", first, is_ip ? "iPAddress" : "dNSName", name);
    return false;
}

bool
val_tlsalpn01_check_cert(const unsigned char *der, size_t len,
                         const char *ident_type, const char *name,
                         const unsigned char *digest, char *why,
                         size_t whylen)
{
    mbedtls_x509_crt crt;
    struct ext_seen ext;
    char err[100];
    bool ok = false;
    int ret;

    memset(&ext, 0, sizeof(ext));
    mbedtls_x509_crt_init(&crt);
    ret = mbedtls_x509_crt_parse_der_with_ext_cb(&crt, der, len, 1, on_ext,
                                                 &ext);
    if (ret != 0) {
        mbedtls_strerror(ret, err, sizeof(err));
        snprintf(why, whylen, "the certificate does not parse: %s", err);
        goto out;
    }
    if (!san_ok(&crt, ident_type, name, why, whylen)) {
        goto out;
    }
    if (ext.n == 0) {
        snprintf(why, whylen, "the certificate has no acmeIdentifier "
                 "extension (1.3.6.1.5.5.7.1.31)");
        goto out;
    }
    if (ext.n > 1) {
        snprintf(why, whylen, "the certificate has %d acmeIdentifier "
                 "extensions", ext.n);
        goto out;
    }
    if (!ext.critical) {
        snprintf(why, whylen, "the acmeIdentifier extension is not marked "
                 "critical (RFC 8737 §3)");
        goto out;
    }
    /* extnValue holds DER: OCTET STRING (SIZE (32)) (RFC 8737 §3). */
    if (ext.len != 2 + CRYPTO_SHA256_LEN || ext.p[0] != MBEDTLS_ASN1_OCTET_STRING ||
        ext.p[1] != CRYPTO_SHA256_LEN) {
        snprintf(why, whylen, "the acmeIdentifier extension is not an OCTET "
                 "STRING of 32 bytes");
        goto out;
    }
    if (memcmp(ext.p + 2, digest, CRYPTO_SHA256_LEN) != 0) {
        snprintf(why, whylen, "the acmeIdentifier extension is not the "
                 "SHA-256 of the key authorization");
        goto out;
    }
    if (!self_signed(&crt)) {
        snprintf(why, whylen, "the certificate is not self-signed (its "
                 "signature does not verify with its own key)");
        goto out;
    }
    ok = true;
out:
    mbedtls_x509_crt_free(&crt);
    return ok;
}

/* ---- the connection -------------------------------------------------- */

/* Watches the server's plaintext handshake records for its Certificate
 * message (TLS 1.2: RFC 5246 §6.2.1, §7.4.2). */
struct sniff {
    unsigned char hdr[5];
    size_t hdr_got;
    size_t rec_left;            /* bytes left of the current record */
    int rec_type;
    bool ccs_seen;              /* encrypted from here on */
    unsigned char *hs;          /* handshake bytes so far */
    size_t hs_len;
    unsigned char *cert;        /* the first certificate, DER */
    size_t cert_len;
};

static size_t
get24(const unsigned char *p)
{
    return ((size_t)p[0] << 16) | ((size_t)p[1] << 8) | p[2];
}

static void
sniff_scan(struct sniff *s)
{
    size_t off = 0;

    while (s->cert == NULL && s->hs_len - off >= 4) {
        size_t mlen = get24(s->hs + off + 1);
        const unsigned char *body = s->hs + off + 4;

        if (mlen > s->hs_len - off - 4) {
            return; /* not all here yet */
        }
        if (s->hs[off] == TLSALPN_HS_CERTIFICATE && mlen >= 6) {
            size_t list = get24(body);
            size_t clen = get24(body + 3);

            if (list <= mlen - 3 && clen > 0 && clen <= list - 3) {
                s->cert = malloc(clen);
                if (s->cert != NULL) {
                    memcpy(s->cert, body + 6, clen);
                    s->cert_len = clen;
                }
            }
            return;
        }
        off += 4 + mlen;
    }
}

static void
sniff_feed(struct sniff *s, const unsigned char *p, size_t n)
{
    while (n > 0 && !s->ccs_seen && s->cert == NULL) {
        if (s->hdr_got < 5) {
            s->hdr[s->hdr_got++] = *p++;
            n--;
            if (s->hdr_got == 5) {
                s->rec_type = s->hdr[0];
                s->rec_left = ((size_t)s->hdr[3] << 8) | s->hdr[4];
                s->ccs_seen = s->rec_type == TLSALPN_REC_CCS;
                if (s->rec_left == 0) {
                    s->hdr_got = 0;
                }
            }
            continue;
        }
        {
            size_t take = n < s->rec_left ? n : s->rec_left;

            if (s->rec_type == TLSALPN_REC_HANDSHAKE) {
                if (s->hs == NULL) {
                    s->hs = malloc(TLSALPN_MAX_HS);
                }
                if (s->hs != NULL && take <= TLSALPN_MAX_HS - s->hs_len) {
                    memcpy(s->hs + s->hs_len, p, take);
                    s->hs_len += take;
                    sniff_scan(s);
                }
            }
            p += take;
            n -= take;
            s->rec_left -= take;
            if (s->rec_left == 0) {
                s->hdr_got = 0;
            }
        }
    }
}

struct conn {
    int fd;
    long long deadline_ms;
    bool timed_out;
    struct sniff sniff;
};

static int
wait_fd(struct conn *c, short events)
{
    struct pollfd pfd = { .fd = c->fd, .events = events, .revents = 0 };
    unsigned left = val_remaining_ms(c->deadline_ms);
    int r;

    if (left == 0) {
        c->timed_out = true;
        return -1;
    }
    do {
        r = poll(&pfd, 1, (int)left);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        c->timed_out = true;
        return -1;
    }
    return r < 0 ? -1 : 0;
}

static int
conn_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct conn *c = ctx;
    ssize_t n;

    if (wait_fd(c, POLLOUT) != 0) {
        return c->timed_out ? MBEDTLS_ERR_SSL_TIMEOUT
                            : MBEDTLS_ERR_NET_SEND_FAILED;
    }
    n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) {
        return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE
                               : MBEDTLS_ERR_NET_SEND_FAILED;
    }
    return (int)n;
}

static int
conn_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct conn *c = ctx;
    ssize_t n;

    if (wait_fd(c, POLLIN) != 0) {
        return c->timed_out ? MBEDTLS_ERR_SSL_TIMEOUT
                            : MBEDTLS_ERR_NET_RECV_FAILED;
    }
    n = recv(c->fd, buf, len, 0);
    if (n < 0) {
        return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ
                               : MBEDTLS_ERR_NET_RECV_FAILED;
    }
    if (n == 0) {
        return MBEDTLS_ERR_NET_CONN_RESET;
    }
    sniff_feed(&c->sniff, buf, (size_t)n);
    return (int)n;
}

/* Non-blocking connect bounded by the deadline; fd stays non-blocking
 * (every read and write polls first). */
static int
conn_open(struct conn *c, const char *addr, unsigned port, char *err,
          size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int soerr = 0;
    socklen_t soerrlen = sizeof(soerr);

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
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   0);
    if (c->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(c->fd, (struct sockaddr *)&ss, sslen) != 0 &&
        errno != EINPROGRESS) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        return -1;
    }
    if (wait_fd(c, POLLOUT) != 0) {
        snprintf(err, errlen, "connect: %s",
                 c->timed_out ? "timed out" : strerror(errno));
        return -1;
    }
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &soerrlen) != 0 ||
        soerr != 0) {
        snprintf(err, errlen, "connect: %s", strerror(soerr ? soerr : errno));
        return -1;
    }
    return 0;
}

static void
conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->sniff.hs);
    free(c->sniff.cert);
    memset(&c->sniff, 0, sizeof(c->sniff));
    c->fd = -1;
}

/* True for an mbedTLS X.509 error (the high-level code's range). */
static bool
is_x509_error(int ret)
{
    int high = (-ret) & 0xFF80;

    return high >= 0x2080 && high <= 0x3000;
}

/* One TLS attempt to addr. Returns false when the address could not be
 * reached at all (the caller tries the next one). */
static bool
attempt(const struct val_input *in, const char *addr, const char *sni,
        const unsigned char *digest, cJSON *rec, struct val_outcome *out)
{
    static const char *alpn[] = { VAL_ACME_TLS_ALPN, NULL };
    unsigned port = in->cfg->validation.tls_port;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    struct conn c;
    const char *chosen;
    const unsigned char *der = NULL;
    size_t der_len = 0;
    char err[160];
    char why[400];
    bool reached = false;
    int ret;

    memset(&c, 0, sizeof(c));
    c.fd = -1;
    c.deadline_ms = in->deadline_ms;
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_init(&ssl);
    if (conn_open(&c, addr, port, err, sizeof(err)) != 0) {
        val_fail(out, PROB_CONNECTION, "tls-alpn-01 %s port %u: %s", addr,
                 port, err);
        goto out;
    }
    reached = true;
    snprintf(out->address, sizeof(out->address), "%.45s", addr);
    if (rec != NULL) {
        cJSON_AddStringToObject(rec, "addressUsed", addr);
    }
    if (mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0 ||
        mbedtls_ssl_conf_alpn_protocols(&conf, alpn) != 0) {
        val_fail(out, PROB_SERVER_INTERNAL, "TLS client setup failed");
        goto out;
    }
    /* The certificate is checked below by the RFC 8737 rules, not by a
     * chain of trust. TLS 1.2 keeps it in plaintext (see the top). */
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_rng(&conf, crypto_rng, NULL);
    mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    if (mbedtls_ssl_setup(&ssl, &conf) != 0 ||
        mbedtls_ssl_set_hostname(&ssl, sni) != 0) {
        val_fail(out, PROB_SERVER_INTERNAL, "TLS client setup failed");
        goto out;
    }
    mbedtls_ssl_set_bio(&ssl, &c, conn_send, conn_recv, NULL);
    do {
        ret = mbedtls_ssl_handshake(&ssl);
    } while ((ret == MBEDTLS_ERR_SSL_WANT_READ ||
              ret == MBEDTLS_ERR_SSL_WANT_WRITE) &&
             val_remaining_ms(in->deadline_ms) > 0);
    chosen = mbedtls_ssl_get_alpn_protocol(&ssl);
    if (rec != NULL && chosen != NULL) {
        cJSON_AddStringToObject(rec, "alpn", chosen);
    }
    if (c.timed_out) {
        val_fail(out, PROB_CONNECTION, "tls-alpn-01 %s port %u (SNI %s): no "
                 "TLS handshake within the validation deadline (%u ms)",
                 addr, port, sni, in->cfg->validation.timeout_ms);
        goto out;
    }
    if (ret != 0 && !(is_x509_error(ret) && c.sniff.cert != NULL)) {
        mbedtls_strerror(ret, err, sizeof(err));
        val_fail(out, PROB_TLS, "tls-alpn-01 %s port %u (SNI %s): TLS "
                 "handshake failed: %s", addr, port, sni, err);
        goto out;
    }
    if (chosen == NULL || strcmp(chosen, VAL_ACME_TLS_ALPN) != 0) {
        val_fail(out, PROB_TLS, "tls-alpn-01 %s port %u (SNI %s): the server "
                 "did not negotiate ALPN \"%s\"", addr, port, sni,
                 VAL_ACME_TLS_ALPN);
        goto out;
    }
    if (c.sniff.cert != NULL) {
        der = c.sniff.cert;
        der_len = c.sniff.cert_len;
    } else if (mbedtls_ssl_get_peer_cert(&ssl) != NULL) {
        der = mbedtls_ssl_get_peer_cert(&ssl)->raw.p;
        der_len = mbedtls_ssl_get_peer_cert(&ssl)->raw.len;
    }
    if (der == NULL) {
        val_fail(out, PROB_TLS, "tls-alpn-01 %s port %u (SNI %s): the server "
                 "sent no certificate", addr, port, sni);
        goto out;
    }
    if (!val_tlsalpn01_check_cert(der, der_len, in->ident_type, in->name,
                                  digest, why, sizeof(why))) {
        val_fail(out, PROB_INCORRECT_RESPONSE, "tls-alpn-01 %s port %u (SNI "
                 "%s): %s", addr, port, sni, why);
        goto out;
    }
    out->valid = true;
out:
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    conn_close(&c);
    return reached;
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
