/* proxy/gate_tls.c: TLS (mbedTLS) and plain transport of the gate's
 * connections (gate_tls.h). */
#include "proxy/gate_tls.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "common/fileio.h"
#include "common/log.h"

struct gate_tls {
    atomic_uint refs;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_ticket_context ticket; /* session ticket keys (in memory) */
};

/* ECDHE groups, the server's preference first (mbedTLS's default list
 * begins with P-521 and P-384, the dearest). X25519 is the cheapest in
 * mbedTLS 2.28 (test/bench/README.md "TLS": 1.08 ms of CPU for key and
 * secret against P-256's 1.34, P-384's 2.21, P-521's 3.09). The list
 * also bounds the curves of an ECDSA certificate (tls_cert): P-256,
 * P-384 and P-521 stay. */
static const mbedtls_ecp_group_id gate_tls_curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_SECP521R1,
    MBEDTLS_ECP_DP_NONE
};

/* ------------------------------------------------------------ server */

static void
gate_tls_free(struct gate_tls *t)
{
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_ssl_ticket_free(&t->ticket); /* wipes the ticket keys */
    mbedtls_x509_crt_free(&t->crt);
    mbedtls_pk_free(&t->pk); /* wipes the key */
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    free(t);
}

/* mbedTLS 2.28 signs with an EC key of type ECKEY (what
 * mbedtls_pk_parse_key makes) through a copy whose group is loaded afresh,
 * so each handshake's signature first computes the table of multiples of
 * the generator again: half the signature's CPU (test/bench/README.md
 * "TLS"). The same key as an ECDSA key is signed with in place and keeps
 * that table in its group: made here, by one signature, so that t stays
 * read-only once gate_tls_new returns. Other key types are left as they
 * are. 0 or an mbedTLS error (t->pk unchanged then). */
static int
gate_tls_keep_ecdsa(struct gate_tls *t)
{
    unsigned char hash[32] = { 0 }, sig[MBEDTLS_ECDSA_MAX_LEN];
    mbedtls_pk_context ecdsa;
    size_t sig_len;
    int mrc;

    if (mbedtls_pk_get_type(&t->pk) != MBEDTLS_PK_ECKEY) {
        return 0;
    }
    mbedtls_pk_init(&ecdsa);
    mrc = mbedtls_pk_setup(&ecdsa,
                           mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA));
    if (mrc == 0) {
        mrc = mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(ecdsa),
                                         mbedtls_pk_ec(t->pk));
    }
    if (mrc == 0) {
        mrc = mbedtls_pk_sign(&ecdsa, MBEDTLS_MD_SHA256, hash, sizeof(hash),
                              sig, &sig_len, mbedtls_ctr_drbg_random,
                              &t->drbg);
    }
    if (mrc != 0) {
        mbedtls_pk_free(&ecdsa); /* wipes the copy */
        return mrc;
    }
    mbedtls_pk_free(&t->pk); /* wipes the ECKEY form */
    t->pk = ecdsa;           /* the context moves: two pointers */
    return 0;
}

ap_err
gate_tls_new(const char *pem_file, struct gate_tls **out, char *errbuf,
             size_t errlen)
{
    static const char pers[] = "acmeproxy gate";
    struct gate_tls *t;
    char *pem = NULL;
    size_t len = 0;
    ap_err rc;
    int mrc;

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return AP_ENOMEM;
    }
    atomic_init(&t->refs, 1);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->crt);
    mbedtls_pk_init(&t->pk);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_ssl_ticket_init(&t->ticket);
    /* One read of the file for both (mbedTLS's own file readers would
     * read it twice, without a cap). It is the proxy's own file in its
     * data directory (main.c writes it): never followed elsewhere. */
    rc = fileio_read(pem_file, GATE_TLS_FILE_MAX,
                     FILEIO_SECRET | FILEIO_NOFOLLOW, &pem, &len, errbuf,
                     errlen);
    if (rc != AP_OK) {
        rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
        goto out;
    }
    mrc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                (const unsigned char *)pers,
                                sizeof(pers) - 1);
    /* PEM buffers are passed with their NUL (fileio_read adds one). */
    if (mrc == 0) {
        mrc = mbedtls_x509_crt_parse(&t->crt, (const unsigned char *)pem,
                                     len + 1);
    }
    if (mrc == 0) {
        mrc = mbedtls_pk_parse_key(&t->pk, (const unsigned char *)pem,
                                   len + 1, NULL, 0);
    }
    /* A reload may bring a key that is not the certificate's: refused
     * here, before it replaces the running one. */
    if (mrc == 0 && mbedtls_pk_check_pair(&t->crt.pk, &t->pk) != 0) {
        (void)snprintf(errbuf, errlen, "TLS key: not the key of the "
                       "certificate in %s", pem_file);
        rc = AP_ECONFIG;
        goto out;
    }
    if (mrc == 0) {
        mrc = gate_tls_keep_ecdsa(t);
    }
    if (mrc == 0) {
        mrc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
                                          MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
    }
    if (mrc == 0) {
        mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
        mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
        mbedtls_ssl_conf_curves(&t->conf, gate_tls_curves);
        mrc = mbedtls_ssl_conf_own_cert(&t->conf, &t->crt, &t->pk);
    }
    /* Session tickets (RFC 5077): a returning client resumes without an
     * ECDHE or a signature. The keys are random, in memory only (a
     * restart or a reload makes new ones: old tickets then get a full
     * handshake), rotated by mbedTLS every GATE_TLS_TICKET_SECS (a key
     * decrypts for twice that), and a ticket older than
     * GATE_TLS_TICKET_SECS is refused. No session cache: nothing kept
     * per client. */
    if (mrc == 0) {
        mrc = mbedtls_ssl_ticket_setup(&t->ticket, mbedtls_ctr_drbg_random,
                                       &t->drbg, MBEDTLS_CIPHER_AES_256_GCM,
                                       GATE_TLS_TICKET_SECS);
    }
    if (mrc == 0) {
        mbedtls_ssl_conf_session_tickets(&t->conf,
                                         MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
        mbedtls_ssl_conf_session_tickets_cb(&t->conf, mbedtls_ssl_ticket_write,
                                            mbedtls_ssl_ticket_parse,
                                            &t->ticket);
    }
    if (mrc != 0) {
        char text[128];

        mbedtls_strerror(mrc, text, sizeof(text));
        snprintf(errbuf, errlen, "TLS key or certificate: %s", text);
        rc = AP_ECONFIG;
        goto out;
    }
    rc = AP_OK;
out:
    fileio_free(pem, len, FILEIO_SECRET);
    if (rc != AP_OK) {
        gate_tls_free(t);
        return rc;
    }
    *out = t;
    return AP_OK;
}

struct gate_tls *
gate_tls_ref(struct gate_tls *t)
{
    atomic_fetch_add(&t->refs, 1);
    return t;
}

void
gate_tls_put(struct gate_tls *t)
{
    if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1) {
        gate_tls_free(t);
    }
}

/* ------------------------------------------------------------ handshake */

/* The TLS bio. mbedTLS asks for a record's 5-byte header and then for
 * its body, each with its own recv (two system calls per record, issue
 * 18); this bio reads up to GATE_TLS_READ_AHEAD bytes at once and hands
 * them out from there, so a request's record, or a handshake flight of
 * several records, costs one recv. What it holds is counted by
 * gate_io_pending, so the gate reads again before it waits for the socket
 * (a second request's record can arrive with the first). net comes first:
 * mbedtls_net_send takes the struct as its mbedtls_net_context. */
#define GATE_TLS_READ_AHEAD 4096

struct gate_ra {
    mbedtls_net_context net;
    size_t off;                /* next byte to hand out */
    size_t len;                /* bytes held from off */
    unsigned char buf[GATE_TLS_READ_AHEAD];
};

static int
ra_recv(void *ctx, unsigned char *p, size_t n)
{
    struct gate_ra *ra = ctx;
    ssize_t r;
    size_t k;

    if (n > INT_MAX) {
        n = INT_MAX;
    }
    if (ra->len > 0) {
        k = n < ra->len ? n : ra->len;
        memcpy(p, ra->buf + ra->off, k);
        ra->off += k;
        ra->len -= k;
        return (int)k;
    }
    do {
        /* as much as is asked for, straight; else ahead into buf */
        r = n >= sizeof(ra->buf) ? recv(ra->net.fd, p, n, 0)
                                 : recv(ra->net.fd, ra->buf, sizeof(ra->buf),
                                        0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return MBEDTLS_ERR_SSL_WANT_READ;
        }
        return errno == EPIPE || errno == ECONNRESET
                   ? MBEDTLS_ERR_NET_CONN_RESET
                   : MBEDTLS_ERR_NET_RECV_FAILED;
    }
    if (r == 0 || n >= sizeof(ra->buf)) {
        return (int)r;
    }
    k = n < (size_t)r ? n : (size_t)r;
    memcpy(p, ra->buf, k);
    ra->off = k;
    ra->len = (size_t)r - k;
    return (int)k;
}

enum gate_hs
gate_tls_handshake(struct gate_tls *t, struct gate_io *io)
{
    int rc;

    if (io->ssl == NULL) {
        /* The TLS context (~34 KiB) waits for the client's first byte. */
        char b;
        ssize_t n = recv(io->net.fd, &b, 1, MSG_PEEK);

        if (n < 0 &&
            (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return GATE_HS_WAIT;
        }
        if (n <= 0) {
            return GATE_HS_GONE;
        }
        io->ssl = calloc(1, sizeof(*io->ssl));
        if (io->ssl == NULL) {
            return GATE_HS_GONE;
        }
        mbedtls_ssl_init(io->ssl);
        io->tls = gate_tls_ref(t);
        io->ra = malloc(sizeof(*io->ra));
        if (io->ra == NULL) {
            return GATE_HS_GONE;
        }
        io->ra->net.fd = io->net.fd;
        io->ra->off = 0;
        io->ra->len = 0;
        if (mbedtls_ssl_setup(io->ssl, &t->conf) != 0) {
            return GATE_HS_FAILED;
        }
        mbedtls_ssl_set_bio(io->ssl, io->ra, mbedtls_net_send, ra_recv,
                            NULL);
    }
    rc = mbedtls_ssl_handshake(io->ssl);
    if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
        return GATE_HS_WANT_READ;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        return GATE_HS_WANT_WRITE;
    }
    if (rc != 0) {
        log_debug("gate", "TLS handshake failed: -0x%04x", (unsigned)-rc);
        return GATE_HS_FAILED;
    }
    return GATE_HS_DONE;
}

/* ------------------------------------------------------------ I/O */


bool
gate_io_write(struct gate_io *io, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;

        if (io->ssl != NULL) {
            int rc = mbedtls_ssl_write(io->ssl, (const unsigned char *)p, n);

            if (rc <= 0) {
                return false;
            }
            w = rc;
        } else {
            w = send(io->net.fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                return false;
            }
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

ssize_t
gate_io_recv(struct gate_io *io, char *p, size_t n)
{
    if (io->ssl != NULL) {
        int rc = mbedtls_ssl_read(io->ssl, (unsigned char *)p, n);

        if (rc > 0) {
            return rc;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ ||
            rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            return -1;
        }
        if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            return 0;
        }
        return -2;
    }
    for (;;) {
        ssize_t r = recv(io->net.fd, p, n, 0);

        if (r >= 0) {
            return r;
        }
        if (errno == EINTR) {
            continue;
        }
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
    }
}

size_t
gate_io_pending(const struct gate_io *io)
{
    if (io->ssl == NULL) {
        return 0;
    }
    return mbedtls_ssl_get_bytes_avail(io->ssl) +
           (io->ra != NULL ? io->ra->len : 0);
}

void
gate_io_drop_tls(struct gate_io *io)
{
    if (io->ssl != NULL) {
        mbedtls_ssl_free(io->ssl);
        free(io->ssl);
        io->ssl = NULL;
    }
    free(io->ra);
    io->ra = NULL;
    gate_tls_put(io->tls);
    io->tls = NULL;
}

void
gate_io_close_notify(struct gate_io *io)
{
    if (io->ssl != NULL) {
        (void)mbedtls_ssl_close_notify(io->ssl);
    }
    gate_io_drop_tls(io);
}
