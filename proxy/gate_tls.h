/* proxy/gate_tls.h: the transport under the connection gate
 * (proxy/gate.c): TLS with mbedTLS when the gate serves HTTPS, the plain
 * socket otherwise.
 *
 * struct gate_tls is the server side: the certificate chain and private
 * key of one PEM file (data_dir/tls.pem, read once through fileio_read:
 * capped, not through a symbolic link, the key text wiped), a CTR-DRBG
 * and an mbedTLS server configuration (defaults, no client
 * certificates; ECDHE groups X25519, P-256, P-384, P-521 in that order; an EC key
 * kept as an ECDSA key, so that its signatures reuse one table; session
 * tickets under random keys of its own, see GATE_TLS_TICKET_SECS). It is
 * reference-counted so that a reload can replace
 * the listener's certificate while connections finish on the old one:
 * each connection's TLS context holds a reference, the last one frees.
 * struct gate_io is one connection's transport: the socket and, for
 * HTTPS, its TLS context, made only when the client's first byte arrives
 * (the context holds ~34 KiB of record buffers; a silent connection costs
 * none).
 *
 * Everything is non-blocking. The gate's thread drives the handshake and
 * reads; a worker that holds a connection (gate.h) uses its context in
 * the meantime, never both at once. The reference count is thread-safe;
 * a struct gate_tls is read-only after gate_tls_new but for its ticket
 * keys, which mbedTLS rotates under the ticket context's own lock. */
#ifndef AP_PROXY_GATE_TLS_H
#define AP_PROXY_GATE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "common/err.h"

#define GATE_TLS_FILE_MAX (4u << 20) /* bytes of the PEM file: key + chain */
/* Session tickets: a ticket is accepted for this long after its full
 * handshake; the key that seals it is replaced after this long and
 * forgotten after twice this long. */
#define GATE_TLS_TICKET_SECS (4u * 3600u)

struct gate_tls;

struct gate_ra;

/* One connection's transport. Zero it, then set net.fd. */
struct gate_io {
    mbedtls_net_context net;  /* .fd: the socket */
    mbedtls_ssl_context *ssl; /* NULL: plain, or TLS before its first byte */
    struct gate_tls *tls;     /* ssl's server side, referenced while set */
    struct gate_ra *ra;       /* with ssl: the TLS bio, which reads ahead */
};

/* Reads pem_file (key and certificate chain, PEM; at most
 * GATE_TLS_FILE_MAX bytes) and sets up the server side, with one
 * reference, the caller's. AP_ECONFIG with the reason in errbuf when the
 * file cannot be read, holds no usable key or certificate, or its key is
 * not the certificate's; AP_ENOMEM. */
AP_MUST_CHECK ap_err gate_tls_new(const char *pem_file, struct gate_tls **out,
                                  char *errbuf, size_t errlen);
/* Takes one more reference to t; returns t. Any thread. */
struct gate_tls *gate_tls_ref(struct gate_tls *t);
/* Drops one reference; the last frees t (the key wiped). Accepts NULL.
 * Any thread. */
void gate_tls_put(struct gate_tls *t);

enum gate_hs {
    GATE_HS_WAIT,       /* no byte from the client yet: nothing was made */
    GATE_HS_WANT_READ,  /* the handshake waits to read */
    GATE_HS_WANT_WRITE, /* the handshake waits to write */
    GATE_HS_DONE,       /* the handshake is complete */
    GATE_HS_GONE,       /* the client left before its first byte, or out
                         * of memory: close, nothing to count */
    GATE_HS_FAILED      /* a TLS failure: close and count it */
};

/* Moves the handshake of io on as far as it goes without waiting; makes
 * io's TLS context from t when the client's first byte has come, and then
 * io holds a reference to t until gate_io_drop_tls (t is not used once io
 * has its context). */
enum gate_hs gate_tls_handshake(struct gate_tls *t, struct gate_io *io);

/* Writes all of p (n bytes) through io, or fails: the gate writes only
 * short answers on a socket whose send buffer is empty, so a partial write
 * is a dead peer. */
bool gate_io_write(struct gate_io *io, const char *p, size_t n);
/* Reads up to n bytes: > 0 bytes read, 0 the peer closed, -1 nothing now,
 * -2 an error (a TLS error when io->ssl is set). */
ssize_t gate_io_recv(struct gate_io *io, char *p, size_t n);
/* Bytes TLS has decrypted and not yet handed out, plus bytes read from
 * the socket ahead and not yet decrypted (0 for plain): when it is not 0,
 * read again rather than wait for the socket to be readable. */
size_t gate_io_pending(const struct gate_io *io);
/* Sends a TLS close_notify when io is TLS, then frees the TLS context and
 * drops its reference (the socket stays open). */
void gate_io_close_notify(struct gate_io *io);
/* Frees io's TLS context, if any, and drops its reference to the server
 * side (the socket stays open). */
void gate_io_drop_tls(struct gate_io *io);

#endif /* AP_PROXY_GATE_TLS_H */
