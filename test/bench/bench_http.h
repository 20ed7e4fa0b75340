/* test/bench/bench_http.h: the load generator's HTTP/1.1 client.
 *
 * One kept-alive connection per struct bhttp (one per worker thread):
 * plain TCP for http:// URLs, TLS through OpenSSL's libssl for https://
 * (the server's chain verified against the CA file, its name checked, SNI
 * and ALPN "http/1.1", the session resumed when the connection is opened
 * again). Sockets block, with a read and write deadline per request, so
 * an exchange is one write and, mostly, one read: no poll, no second read
 * for each TLS record (read-ahead). URLs are split and responses framed
 * (Content-Length, chunked or closed by the server) by http-parser, the
 * library the proxy's listener uses; nothing is parsed by hand.
 *
 * Caps: the response body (bhttp_resp's buf cap), the head (http-parser's
 * 80 KiB), each header value kept (the sizes below, longer values are
 * cut), every request bounded by its timeout from the first byte written
 * to the last byte read. A request that finds its reused connection
 * closed by the server before any answer byte is sent once more on a new
 * connection, as libcurl does. OpenSSL writes to the socket with write():
 * the program ignores SIGPIPE (acmebench's main does). */
#ifndef AP_TEST_BENCH_BENCH_HTTP_H
#define AP_TEST_BENCH_BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

#define BHTTP_NONCE_MAX 256
#define BHTTP_URL_MAX 1024
#define BHTTP_ERR_MAX 256

/* What the client shares between its connections: the TLS settings and
 * the local address to connect from. Read-only once made, so any thread
 * may open connections with it. */
struct bhttp_ctx;

/* One connection (opened on first use, kept alive). One thread at a
 * time. */
struct bhttp;

/* The answer to one request. Reused from request to request: bhttp_do
 * empties it first and keeps the body's allocation. */
struct bhttp_resp {
    long status;
    struct buf body;                     /* capped, see bhttp_resp_init */
    char nonce[BHTTP_NONCE_MAX];         /* Replay-Nonce */
    char location[BHTTP_URL_MAX];        /* Location */
    char ctype[128];                     /* Content-Type */
    char err[BHTTP_ERR_MAX];             /* why no answer came */
};

/* ca_file: PEM roots for https (NULL: the system's); source: a local IPv4
 * or IPv6 address to connect from (NULL: any). Both borrowed for the
 * call. *out set only on AP_OK; err gets the reason otherwise. */
AP_MUST_CHECK ap_err bhttp_ctx_new(const char *ca_file, const char *source,
                                   struct bhttp_ctx **out, char *err,
                                   size_t errlen);
/* Accepts NULL. Every bhttp made from ctx must be freed first. */
void bhttp_ctx_free(struct bhttp_ctx *ctx);

/* A connection slot of ctx (borrowed until bhttp_free); nothing opened
 * yet. *out set only on AP_OK. */
AP_MUST_CHECK ap_err bhttp_new(struct bhttp_ctx *ctx, struct bhttp **out);
/* Closes the connection and frees h. Accepts NULL. */
void bhttp_free(struct bhttp *h);

/* Connections h has opened so far. */
unsigned long bhttp_connects(const struct bhttp *h);

/* body_cap: the most body bytes a response may carry. */
void bhttp_resp_init(struct bhttp_resp *r, size_t body_cap);
/* Frees the body. */
void bhttp_resp_fini(struct bhttp_resp *r);

/* One exchange on h: method "GET", "HEAD" or "POST"; for POST, body (len
 * bytes, borrowed) is sent with Content-Type ctype. url: http:// or
 * https://, the connection is opened (again) when its scheme, host or
 * port differs from the open one's or the server closed it. timeout_ms
 * bounds the whole exchange (connecting included). Returns AP_OK when a
 * complete response arrived (any status; r filled), otherwise r->err
 * says why: AP_EINVAL (URL), AP_ENET (connect, TLS handshake, send,
 * receive, closed early), AP_ECRYPTO (TLS set-up), AP_ETIMEOUT,
 * AP_ETOOBIG (body over its cap, request over 1 MiB), AP_ENOMEM,
 * AP_EPARSE (no HTTP). */
AP_MUST_CHECK ap_err bhttp_do(struct bhttp *h, const char *method,
                              const char *url, const char *ctype,
                              const void *body, size_t len,
                              unsigned timeout_ms, struct bhttp_resp *r);

/* The client's checks against canned answers of a loopback server
 * (bench_http_test.c, run by acmebench --self-test): prints "ok" / "not
 * ok" lines and "bhttp self-test: N failed"; returns the failures. */
unsigned bhttp_self_test(void);

#endif /* AP_TEST_BENCH_BENCH_HTTP_H */
