/* test/bench/bench_http.c: the load generator's HTTP/1.1 client (see the
 * header). Why not libcurl: with one kept-alive connection per worker,
 * curl_easy_perform cost the client ~1.1M instructions per flow (setup
 * of each transfer, its own header and URL handling, allocations) and
 * three system calls per request besides the write and the read (poll
 * before every read, a second read per TLS record since read-ahead had to
 * stay off under libcurl). Here a request is one SSL_write and, when the
 * answer fits one segment, one read. */
#include "test/bench/bench_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#define HOST_MAX 256
#define HNAME_MAX 32
#define RBUF_SIZE (16 * 1024)
#define REQ_CAP (1u << 20)

struct bhttp_ctx {
    SSL_CTX *ssl;
    bool has_source;
    struct sockaddr_storage src;
    socklen_t srclen;
};

/* Where a URL points, and what goes on the request line. */
struct target {
    bool tls;
    char host[HOST_MAX];       /* without IPv6 brackets */
    char authority[HOST_MAX + 8]; /* the Host header: as in the URL */
    unsigned port;
    const char *path;          /* path and query, not NUL-terminated */
    size_t path_len;
};

struct bhttp {
    struct bhttp_ctx *ctx;
    int fd;                    /* -1: no connection */
    SSL *ssl;                  /* NULL for http:// */
    SSL_SESSION *sess;         /* the last TLS session, to resume */
    char sess_host[HOST_MAX];
    bool tls;                  /* the open connection's origin */
    char host[HOST_MAX];
    unsigned port;
    long timeo_ms;             /* SO_RCVTIMEO / SO_SNDTIMEO set on fd */
    unsigned long connects;
    struct buf req;
    /* the response being read */
    http_parser parser;
    struct bhttp_resp *r;
    char hname[HNAME_MAX];
    size_t hname_len;
    bool in_value;
    char *hdst;                /* where the current header's value goes */
    size_t hdst_size;
    size_t hdst_len;
    bool skip_body;            /* HEAD */
    bool complete;
    bool too_big;
    char rbuf[RBUF_SIZE];
};

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The first OpenSSL error of this thread's queue, or fallback. */
static void
ssl_reason(char *err, size_t errlen, const char *what, const char *fallback)
{
    unsigned long e = ERR_get_error();
    char txt[160];

    if (e != 0) {
        ERR_error_string_n(e, txt, sizeof(txt));
        snprintf(err, errlen, "%s: %s", what, txt);
    } else {
        snprintf(err, errlen, "%s: %s", what, fallback);
    }
    ERR_clear_error();
}

/* ----------------------------------------------------------- context */

ap_err
bhttp_ctx_new(const char *ca_file, const char *source, struct bhttp_ctx **out,
              char *err, size_t errlen)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    struct bhttp_ctx *c = calloc(1, sizeof(*c));
    ap_err rc = AP_ECRYPTO;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return AP_ENOMEM;
    }
    if (source != NULL) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&c->src;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&c->src;

        if (inet_pton(AF_INET, source, &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            c->srclen = sizeof(*v4);
        } else if (inet_pton(AF_INET6, source, &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            c->srclen = sizeof(*v6);
        } else {
            snprintf(err, errlen, "source %s is no IP address", source);
            rc = AP_EINVAL;
            goto out;
        }
        c->has_source = true;
    }
    c->ssl = SSL_CTX_new(TLS_client_method());
    if (c->ssl == NULL) {
        ssl_reason(err, errlen, "SSL_CTX_new", "failed");
        goto out;
    }
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    /* A server that closes without close_notify ends a close-delimited
     * body; read-ahead: one read for every record that has arrived. */
    SSL_CTX_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF |
                                    SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_read_ahead(c->ssl, 1);
    if ((ca_file != NULL
             ? SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL)
             : SSL_CTX_set_default_verify_paths(c->ssl)) != 1) {
        ssl_reason(err, errlen, ca_file ? ca_file : "system roots",
                   "cannot load");
        goto out;
    }
    if (SSL_CTX_set_alpn_protos(c->ssl, alpn, sizeof(alpn) - 1) != 0) {
        ssl_reason(err, errlen, "ALPN", "cannot set");
        goto out;
    }
    *out = c;
    return AP_OK;
out:
    bhttp_ctx_free(c);
    return rc;
}

void
bhttp_ctx_free(struct bhttp_ctx *c)
{
    if (c == NULL) {
        return;
    }
    SSL_CTX_free(c->ssl);
    free(c);
}

/* -------------------------------------------------------- connection */

ap_err
bhttp_new(struct bhttp_ctx *ctx, struct bhttp **out)
{
    struct bhttp *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        return AP_ENOMEM;
    }
    h->ctx = ctx;
    h->fd = -1;
    buf_init(&h->req, REQ_CAP);
    *out = h;
    return AP_OK;
}

unsigned long
bhttp_connects(const struct bhttp *h)
{
    return h->connects;
}

/* Closes the connection; keeps its TLS session to resume with. clean:
 * the connection is healthy, so close_notify is sent. */
static void
conn_close(struct bhttp *h, bool clean)
{
    if (h->ssl != NULL) {
        SSL_SESSION *s = SSL_get1_session(h->ssl);

        if (s != NULL && SSL_SESSION_is_resumable(s)) {
            SSL_SESSION_free(h->sess);
            h->sess = s;
            snprintf(h->sess_host, sizeof(h->sess_host), "%s", h->host);
        } else {
            SSL_SESSION_free(s);
        }
        if (clean) {
            ERR_clear_error();
            (void)SSL_shutdown(h->ssl);
        }
        SSL_free(h->ssl);
        h->ssl = NULL;
        ERR_clear_error();
    }
    if (h->fd >= 0) {
        close(h->fd);
        h->fd = -1;
    }
}

void
bhttp_free(struct bhttp *h)
{
    if (h == NULL) {
        return;
    }
    conn_close(h, true);
    SSL_SESSION_free(h->sess);
    buf_fini(&h->req);
    free(h);
}

/* Sets the socket's read and write deadline to ms (at least 1). */
static bool
set_timeo(struct bhttp *h, long ms)
{
    struct timeval tv;

    if (ms < 1) {
        ms = 1;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    if (setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        return false;
    }
    h->timeo_ms = ms;
    return true;
}

/* Before a blocking call: false when the deadline has passed. Sets the
 * socket's deadline to the time left when that is over a second shorter
 * or longer than the one set (a request that is already slow, or the
 * next one after it): a system call then, not on every read. A request
 * may so overrun its deadline by up to a second. */
static bool
time_left(struct bhttp *h, double deadline)
{
    long left = (long)(deadline - now_ms());

    if (left <= 0) {
        return false;
    }
    if (left + 1000 < h->timeo_ms || left > h->timeo_ms + 1000) {
        return set_timeo(h, left);
    }
    return true;
}

/* One TCP connection to one of addrs, within deadline; the socket left
 * blocking. Returns the descriptor or -1 with err. */
static int
tcp_connect(struct bhttp *h, const struct target *t, double deadline,
            char *err, size_t errlen)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    char port[8];
    int fd = -1;
    int gai;
    int last = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = h->ctx->has_source ? h->ctx->src.ss_family : AF_UNSPEC;
    snprintf(port, sizeof(port), "%u", t->port);
    gai = getaddrinfo(t->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "resolving %.100s: %s", t->host, gai_strerror(gai));
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        struct pollfd pfd;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        double left;

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if ((h->ctx->has_source &&
             bind(fd, (struct sockaddr *)&h->ctx->src, h->ctx->srclen) != 0) ||
            (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
             errno != EINPROGRESS)) {
            last = errno;
            close(fd);
            fd = -1;
            continue;
        }
        left = deadline - now_ms();
        pfd.fd = fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
            soerr != 0) {
            last = soerr != 0 ? soerr : ETIMEDOUT;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "connect to %.100s port %u: %s", t->host, t->port,
                 strerror(last));
        return -1;
    }
    return fd;
}

/* Opens a connection to t's origin, TLS handshake included. */
static ap_err
conn_open(struct bhttp *h, const struct target *t, double deadline,
          char *err, size_t errlen)
{
    int one = 1;
    unsigned char ip[sizeof(struct in6_addr)];
    bool is_ip;

    h->fd = tcp_connect(h, t, deadline, err, errlen);
    if (h->fd < 0) {
        return AP_ENET;
    }
    h->connects++;
    h->tls = t->tls;
    h->port = t->port;
    snprintf(h->host, sizeof(h->host), "%s", t->host);
    h->timeo_ms = 0;
    if (fcntl(h->fd, F_SETFL, 0) != 0 ||
        setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        !set_timeo(h, (long)(deadline - now_ms()))) {
        snprintf(err, errlen, "socket options: %s", strerror(errno));
        conn_close(h, false);
        return AP_ENET;
    }
    if (!t->tls) {
        return AP_OK;
    }
    ERR_clear_error();
    is_ip = inet_pton(AF_INET, t->host, ip) == 1 ||
            inet_pton(AF_INET6, t->host, ip) == 1;
    h->ssl = SSL_new(h->ctx->ssl);
    if (h->ssl == NULL || SSL_set_fd(h->ssl, h->fd) != 1 ||
        (!is_ip && SSL_set_tlsext_host_name(h->ssl, t->host) != 1) ||
        (!is_ip && SSL_set1_host(h->ssl, t->host) != 1) ||
        (is_ip && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(h->ssl),
                                                t->host) != 1)) {
        ssl_reason(err, errlen, "TLS setup", "failed");
        conn_close(h, false);
        return AP_ECRYPTO;
    }
    if (h->sess != NULL && strcmp(h->sess_host, t->host) == 0) {
        (void)SSL_set_session(h->ssl, h->sess);
    }
    if (SSL_connect(h->ssl) != 1) {
        long v = SSL_get_verify_result(h->ssl);

        if (v != X509_V_OK) {
            snprintf(err, errlen, "TLS certificate of %.100s: %s", t->host,
                     X509_verify_cert_error_string(v));
            ERR_clear_error();
        } else {
            ssl_reason(err, errlen, "TLS handshake",
                       errno ? strerror(errno) : "failed");
        }
        conn_close(h, false);
        return AP_ENET;
    }
    return AP_OK;
}

/* ---------------------------------------------------------------- URL */

static ap_err
split_url(const char *url, struct target *t, char *err, size_t errlen)
{
    struct http_parser_url u;
    size_t len = strlen(url);
    const char *schema;
    size_t hlen;

    http_parser_url_init(&u);
    if (http_parser_parse_url(url, len, 0, &u) != 0 ||
        (u.field_set & (1u << UF_SCHEMA)) == 0 ||
        (u.field_set & (1u << UF_HOST)) == 0 ||
        (u.field_set & (1u << UF_USERINFO)) != 0) {
        snprintf(err, errlen, "not an absolute http(s) URL: %.120s", url);
        return AP_EINVAL;
    }
    schema = url + u.field_data[UF_SCHEMA].off;
    if (u.field_data[UF_SCHEMA].len == 5 &&
        strncasecmp(schema, "https", 5) == 0) {
        t->tls = true;
    } else if (u.field_data[UF_SCHEMA].len == 4 &&
               strncasecmp(schema, "http", 4) == 0) {
        t->tls = false;
    } else {
        snprintf(err, errlen, "scheme not http(s): %.120s", url);
        return AP_EINVAL;
    }
    hlen = u.field_data[UF_HOST].len;
    if (hlen == 0 || hlen >= sizeof(t->host)) {
        snprintf(err, errlen, "bad host in %.120s", url);
        return AP_EINVAL;
    }
    memcpy(t->host, url + u.field_data[UF_HOST].off, hlen);
    t->host[hlen] = '\0';
    t->port = (u.field_set & (1u << UF_PORT)) ? u.port : t->tls ? 443 : 80;
    snprintf(t->authority, sizeof(t->authority), "%s%s%s",
             strchr(t->host, ':') ? "[" : "", t->host,
             strchr(t->host, ':') ? "]" : "");
    if (u.field_set & (1u << UF_PORT)) {
        size_t n = strlen(t->authority);

        snprintf(t->authority + n, sizeof(t->authority) - n, ":%u", t->port);
    }
    if (u.field_set & (1u << UF_PATH)) {
        size_t end = u.field_data[UF_PATH].off + u.field_data[UF_PATH].len;

        if (u.field_set & (1u << UF_QUERY)) {
            end = u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len;
        }
        t->path = url + u.field_data[UF_PATH].off;
        t->path_len = end - u.field_data[UF_PATH].off;
    } else {
        t->path = "/";
        t->path_len = 1;
    }
    return AP_OK;
}

/* ----------------------------------------------------------- response */

void
bhttp_resp_init(struct bhttp_resp *r, size_t body_cap)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, body_cap);
}

void
bhttp_resp_fini(struct bhttp_resp *r)
{
    buf_fini(&r->body);
}

static void
resp_clear(struct bhttp_resp *r)
{
    r->status = 0;
    buf_reset(&r->body);
    r->nonce[0] = '\0';
    r->location[0] = '\0';
    r->ctype[0] = '\0';
    r->err[0] = '\0';
}

/* The end of a header value: trailing blanks off. */
static void
value_done(struct bhttp *h)
{
    if (h->hdst != NULL) {
        while (h->hdst_len > 0 && (h->hdst[h->hdst_len - 1] == ' ' ||
                                   h->hdst[h->hdst_len - 1] == '\t')) {
            h->hdst_len--;
        }
        h->hdst[h->hdst_len] = '\0';
        h->hdst = NULL;
    }
}

static int
on_field(http_parser *p, const char *at, size_t n)
{
    struct bhttp *h = p->data;

    if (h->in_value) {
        value_done(h);
        h->in_value = false;
        h->hname_len = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (h->hname_len < sizeof(h->hname) - 1) {
            char ch = at[i];

            h->hname[h->hname_len] = ch >= 'A' && ch <= 'Z'
                                         ? (char)(ch - 'A' + 'a')
                                         : ch;
        }
        h->hname_len++;
    }
    return 0;
}

static int
on_value(http_parser *p, const char *at, size_t n)
{
    struct bhttp *h = p->data;
    size_t room;

    if (!h->in_value) {
        struct bhttp_resp *r = h->r;
        size_t nl = h->hname_len < sizeof(h->hname) ? h->hname_len : 0;

        h->in_value = true;
        h->hname[nl] = '\0';
        h->hdst = NULL;
        h->hdst_len = 0;
        if (strcmp(h->hname, "replay-nonce") == 0) {
            h->hdst = r->nonce;
            h->hdst_size = sizeof(r->nonce);
        } else if (strcmp(h->hname, "location") == 0) {
            h->hdst = r->location;
            h->hdst_size = sizeof(r->location);
        } else if (strcmp(h->hname, "content-type") == 0) {
            h->hdst = r->ctype;
            h->hdst_size = sizeof(r->ctype);
        }
    }
    if (h->hdst == NULL) {
        return 0;
    }
    room = h->hdst_size - 1 - h->hdst_len;
    if (n > room) {
        n = room;      /* longer values are cut (header comment) */
    }
    memcpy(h->hdst + h->hdst_len, at, n);
    h->hdst_len += n;
    return 0;
}

static int
on_headers_complete(http_parser *p)
{
    struct bhttp *h = p->data;

    value_done(h);
    h->in_value = false;
    h->hname_len = 0;
    h->r->status = p->status_code;
    if ((p->flags & F_CONTENTLENGTH) != 0 &&
        p->content_length > (uint64_t)h->r->body.cap) {
        h->too_big = true;
        return -1;
    }
    /* 1: a response without a body (to HEAD) */
    return h->skip_body ? 1 : 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
    struct bhttp *h = p->data;

    if (buf_append(&h->r->body, at, n) != AP_OK) {
        h->too_big = true;
        return -1;
    }
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    struct bhttp *h = p->data;

    if (p->status_code >= 100 && p->status_code < 200) {
        /* an interim answer: the real one follows */
        resp_clear(h->r);
        return 0;
    }
    h->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ----------------------------------------------------------- exchange */

/* Writes all of data. false with err when it could not. */
static bool
conn_write(struct bhttp *h, const char *data, size_t len, double deadline,
           char *err, size_t errlen)
{
    while (len > 0) {
        if (!time_left(h, deadline)) {
            snprintf(err, errlen, "timed out sending the request");
            return false;
        }
        if (h->ssl != NULL) {
            int n;

            ERR_clear_error();
            n = SSL_write(h->ssl, data, len > INT32_MAX ? INT32_MAX
                                                        : (int)len);
            if (n <= 0) {
                int e = SSL_get_error(h->ssl, n);

                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    continue;
                }
                ssl_reason(err, errlen, "sending",
                           errno ? strerror(errno) : "connection closed");
                return false;
            }
            data += n;
            len -= (size_t)n;
        } else {
            ssize_t n = send(h->fd, data, len, MSG_NOSIGNAL);

            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                snprintf(err, errlen, "sending: %s", strerror(errno));
                return false;
            }
            data += n;
            len -= (size_t)n;
        }
    }
    return true;
}

/* Reads what has arrived: > 0 bytes, 0 at the end of the stream, -1 on
 * an error (err set), -2 when nothing came before the socket's
 * deadline. */
static long
conn_read(struct bhttp *h, char *err, size_t errlen)
{
    if (h->ssl != NULL) {
        int n;
        int e;

        ERR_clear_error();
        errno = 0;
        n = SSL_read(h->ssl, h->rbuf, sizeof(h->rbuf));
        if (n > 0) {
            return n;
        }
        e = SSL_get_error(h->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN) {
            return 0;
        }
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            return -2;
        }
        if (e == SSL_ERROR_SYSCALL && errno == 0) {
            return 0;
        }
        ssl_reason(err, errlen, "receiving",
                   errno ? strerror(errno) : "TLS error");
        return -1;
    }
    for (;;) {
        ssize_t n = recv(h->fd, h->rbuf, sizeof(h->rbuf), 0);

        if (n >= 0) {
            return (long)n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return -2;
        }
        snprintf(err, errlen, "receiving: %s", strerror(errno));
        return -1;
    }
}

/* Builds the request into h->req. */
static ap_err
build_request(struct bhttp *h, const char *method, const struct target *t,
              const char *ctype, const void *body, size_t len)
{
    bool post = strcmp(method, "POST") == 0;
    char clen[32];
    ap_err rc;

    buf_reset(&h->req);
    rc = buf_appends(&h->req, method);
    rc = rc ? rc : buf_append(&h->req, " ", 1);
    rc = rc ? rc : buf_append(&h->req, t->path, t->path_len);
    rc = rc ? rc : buf_appends(&h->req, " HTTP/1.1\r\nHost: ");
    rc = rc ? rc : buf_appends(&h->req, t->authority);
    rc = rc ? rc : buf_appends(&h->req, "\r\nUser-Agent: acmebench/1\r\n"
                                        "Accept: */*\r\n");
    if (post) {
        snprintf(clen, sizeof(clen), "%zu", len);
        rc = rc ? rc : buf_appends(&h->req, "Content-Type: ");
        rc = rc ? rc : buf_appends(&h->req, ctype ? ctype : "text/plain");
        rc = rc ? rc : buf_appends(&h->req, "\r\nContent-Length: ");
        rc = rc ? rc : buf_appends(&h->req, clen);
        rc = rc ? rc : buf_appends(&h->req, "\r\n");
    }
    rc = rc ? rc : buf_appends(&h->req, "\r\n");
    if (post && len > 0) {
        rc = rc ? rc : buf_append(&h->req, body, len);
    }
    return rc;
}

/* The request in h->req, then its answer into r. *nothing: no byte of
 * an answer came (a reused connection the server had closed may then be
 * tried again). *keep: the connection may serve the next request. */
static ap_err
exchange(struct bhttp *h, const char *method, double deadline,
         struct bhttp_resp *r, bool *nothing, bool *keep)
{
    *nothing = true;
    *keep = false;
    resp_clear(r);
    h->r = r;
    h->hname_len = 0;
    h->in_value = false;
    h->hdst = NULL;
    h->complete = false;
    h->too_big = false;
    h->skip_body = strcmp(method, "HEAD") == 0;
    http_parser_init(&h->parser, HTTP_RESPONSE);
    h->parser.data = h;
    if (!conn_write(h, h->req.data, h->req.len, deadline, r->err,
                    sizeof(r->err))) {
        return AP_ENET;
    }
    while (!h->complete) {
        long n;
        size_t done;
        enum http_errno he;

        if (!time_left(h, deadline)) {
            snprintf(r->err, sizeof(r->err), "timed out waiting for the "
                     "answer");
            *nothing = false;
            return AP_ETIMEOUT;
        }
        n = conn_read(h, r->err, sizeof(r->err));
        if (n == -2) {
            continue;  /* the deadline decides at the top */
        }
        if (n < 0) {
            return AP_ENET;
        }
        if (n == 0) {
            /* The end of the stream ends a body without a length. */
            (void)http_parser_execute(&h->parser, &resp_settings, NULL, 0);
            if (h->complete) {
                return AP_OK;
            }
            snprintf(r->err, sizeof(r->err), "connection closed before %s",
                     *nothing ? "an answer" : "the end of the answer");
            return AP_ENET;
        }
        *nothing = false;
        done = http_parser_execute(&h->parser, &resp_settings, h->rbuf,
                                   (size_t)n);
        he = HTTP_PARSER_ERRNO(&h->parser);
        if (h->too_big) {
            snprintf(r->err, sizeof(r->err), "answer body over %zu bytes",
                     r->body.cap);
            return AP_ETOOBIG;
        }
        if (he != HPE_OK && he != HPE_PAUSED) {
            snprintf(r->err, sizeof(r->err), "bad answer: %s",
                     http_errno_description(he));
            return AP_EPARSE;
        }
        if (h->complete) {
            /* Bytes after the answer (none was asked for): not reused. */
            *keep = done == (size_t)n &&
                    http_should_keep_alive(&h->parser) != 0;
        }
    }
    return AP_OK;
}

ap_err
bhttp_do(struct bhttp *h, const char *method, const char *url,
         const char *ctype, const void *body, size_t len,
         unsigned timeout_ms, struct bhttp_resp *r)
{
    double deadline = now_ms() + timeout_ms;
    struct target t;
    ap_err rc;

    resp_clear(r);
    rc = split_url(url, &t, r->err, sizeof(r->err));
    if (rc == AP_OK) {
        rc = build_request(h, method, &t, ctype, body, len);
        if (rc != AP_OK) {
            snprintf(r->err, sizeof(r->err), "%s", rc == AP_ETOOBIG
                         ? "request over its cap (1 MiB)" : "out of memory");
        }
    }
    if (rc != AP_OK) {
        return rc;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = false;
        bool nothing;
        bool keep;

        if (h->fd >= 0 && (h->tls != t.tls || h->port != t.port ||
                           strcmp(h->host, t.host) != 0)) {
            conn_close(h, true);
        }
        if (h->fd < 0) {
            rc = conn_open(h, &t, deadline, r->err, sizeof(r->err));
            if (rc != AP_OK) {
                return rc;
            }
            fresh = true;
        }
        rc = exchange(h, method, deadline, r, &nothing, &keep);
        if (rc == AP_OK) {
            if (!keep) {
                conn_close(h, true);
            }
            return AP_OK;
        }
        conn_close(h, false);
        /* A kept-alive connection the server had closed: once more on a
         * new one, as libcurl does. */
        if (fresh || !nothing || rc != AP_ENET) {
            return rc;
        }
    }
    return rc;
}
