/* test/bench/bench_http_test.c: acmebench --self-test's checks of its
 * HTTP client (bench_http.c) against canned answers from a loopback
 * server thread: the three ways a body ends (Content-Length, chunked,
 * the server closing), the headers the client keeps, a kept-alive
 * connection used for the next request, a reused connection the server
 * had closed (sent again on a new one), HEAD, a body over the cap, an
 * answer that never comes (the deadline), an answer that is no HTTP, and
 * URLs it refuses. Plain TCP: the TLS path is what every flow of
 * bench_smoke.sh uses. */
#include "test/bench/bench_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#define MAX_REPLIES 4

/* One connection's script: the answer to each request in turn (NULL: no
 * answer, the connection stays open until the client leaves), then
 * close_after: close at once instead of waiting for the client to. */
struct canned {
    int lfd;
    unsigned port;
    unsigned conns;                  /* connections to accept */
    const char *replies[MAX_REPLIES];
    size_t n;
    int close_after;
    unsigned requests;               /* requests read, all connections */
    pthread_t thread;
};

static unsigned failures;

static void
check(int cond, const char *what)
{
    printf("%s - bhttp: %s\n", cond ? "ok" : "not ok", what);
    if (!cond) {
        failures++;
    }
}

static int
req_done(http_parser *p)
{
    *(int *)p->data = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings req_settings = {
    .on_message_complete = req_done,
};

/* Reads one request (framed by http-parser). 1: read, 0: the client
 * closed or a deadline passed. */
static int
read_request(int fd)
{
    http_parser p;
    int done = 0;
    char in[4096];

    http_parser_init(&p, HTTP_REQUEST);
    p.data = &done;
    while (!done) {
        ssize_t n = recv(fd, in, sizeof(in), 0);

        if (n <= 0) {
            return 0;
        }
        (void)http_parser_execute(&p, &req_settings, in, (size_t)n);
        if (HTTP_PARSER_ERRNO(&p) != HPE_OK &&
            HTTP_PARSER_ERRNO(&p) != HPE_PAUSED) {
            return 0;
        }
    }
    return 1;
}

static void *
canned_main(void *arg)
{
    struct canned *c = arg;

    for (unsigned k = 0; k < c->conns; k++) {
        int fd = accept(c->lfd, NULL, NULL);
        char sink[256];

        if (fd < 0) {
            return NULL;
        }
        for (size_t i = 0; i < c->n; i++) {
            if (!read_request(fd)) {
                break;
            }
            c->requests++;
            if (c->replies[i] != NULL) {
                (void)send(fd, c->replies[i], strlen(c->replies[i]),
                           MSG_NOSIGNAL);
            }
        }
        if (!c->close_after) {
            while (recv(fd, sink, sizeof(sink), 0) > 0) {
            }
        }
        close(fd);
    }
    return NULL;
}

/* Listens on 127.0.0.1 (a free port) with a 5 s deadline on every
 * socket and starts the script. */
static int
canned_start(struct canned *c)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct timeval tv = { 5, 0 };

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->lfd < 0 ||
        setsockopt(c->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(c->lfd, 4) != 0 ||
        getsockname(c->lfd, (struct sockaddr *)&sa, &sl) != 0) {
        return 0;
    }
    c->port = ntohs(sa.sin_port);
    return pthread_create(&c->thread, NULL, canned_main, c) == 0;
}

static void
canned_stop(struct canned *c)
{
    pthread_join(c->thread, NULL);
    close(c->lfd);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define R_LENGTH                                                             \
    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"            \
    "Replay-Nonce:  nonce-1 \r\nLocation: http://x.test/o/1\r\n"            \
    "Content-Length: 7\r\n\r\n{\"a\":1}"
#define R_CHUNKED                                                            \
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"                 \
    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
#define R_EOF "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
#define R_HEAD "HTTP/1.1 200 OK\r\nReplay-Nonce: nonce-2\r\n" \
               "Content-Length: 40\r\n\r\n"

/* A script's server and a new connection slot; a failure to make them
 * is a failed check, not a skipped one. */
static int
setup(struct canned *c, struct bhttp_ctx *ctx, struct bhttp **h)
{
    if (!canned_start(c)) {
        if (c->lfd >= 0) {
            close(c->lfd);
        }
        check(0, "the test server could not start");
        return 0;
    }
    if (bhttp_new(ctx, h) != AP_OK) {
        canned_stop(c);
        check(0, "no connection slot");
        return 0;
    }
    return 1;
}

/* The scripts, each with a new server and connection slot. */
static void
scripts(struct bhttp_ctx *ctx)
{
    struct bhttp_resp r;
    struct bhttp *h = NULL;
    char url[128];
    unsigned long conns;
    ap_err rc;

    bhttp_resp_init(&r, 64);

    /* Content-Length, then chunked, on one kept-alive connection. */
    {
        struct canned c = { .conns = 1, .n = 2,
                            .replies = { R_LENGTH, R_CHUNKED } };

        if (setup(&c, ctx, &h)) {
            snprintf(url, sizeof(url), "http://127.0.0.1:%u/a?x=1", c.port);
            rc = bhttp_do(h, "GET", url, NULL, NULL, 0, 5000, &r);
            check(rc == AP_OK && r.status == 201 && r.body.len == 7 &&
                      strcmp(r.body.data, "{\"a\":1}") == 0,
                  "a body of Content-Length bytes");
            check(strcmp(r.nonce, "nonce-1") == 0 &&
                      strcmp(r.location, "http://x.test/o/1") == 0 &&
                      strcmp(r.ctype, "application/json") == 0,
                  "Replay-Nonce, Location and Content-Type kept, blanks off");
            rc = bhttp_do(h, "POST", url, "application/jose+json", "{}", 2,
                          5000, &r);
            check(rc == AP_OK && r.status == 200 &&
                      strcmp(r.body.data, "hello world") == 0 &&
                      r.nonce[0] == '\0',
                  "a chunked body; the last answer's headers cleared");
            conns = bhttp_connects(h);
            bhttp_free(h);
            h = NULL;
            canned_stop(&c);
            check(c.requests == 2 && conns == 1,
                  "both requests on one connection");
        }
    }
    /* The server closes: the body ends there, the next request opens a
     * new connection. */
    {
        struct canned c = { .conns = 2, .n = 1, .close_after = 1,
                            .replies = { R_EOF } };

        if (setup(&c, ctx, &h)) {
            snprintf(url, sizeof(url), "http://127.0.0.1:%u/", c.port);
            rc = bhttp_do(h, "GET", url, NULL, NULL, 0, 5000, &r);
            check(rc == AP_OK && strcmp(r.body.data, "until the end") == 0,
                  "a body that ends when the server closes");
            rc = bhttp_do(h, "GET", url, NULL, NULL, 0, 5000, &r);
            check(rc == AP_OK && bhttp_connects(h) == 2,
                  "a new connection after Connection: close");
            bhttp_free(h);
            h = NULL;
            canned_stop(&c);
        }
    }
    /* Connection: close with a length, the server keeping the socket
     * open: the client closes it and opens a new one (a request on the
     * old one would get no answer). */
    {
        struct canned c = { .conns = 2, .n = 1,
                            .replies = { "HTTP/1.1 200 OK\r\nContent-Length:"
                                         " 2\r\nConnection: close\r\n\r\n"
                                         "ok" } };

        if (setup(&c, ctx, &h)) {
            snprintf(url, sizeof(url), "http://127.0.0.1:%u/", c.port);
            rc = bhttp_do(h, "GET", url, NULL, NULL, 0, 1000, &r);
            rc = rc == AP_OK ? bhttp_do(h, "GET", url, NULL, NULL, 0, 1000,
                                        &r)
                             : rc;
            check(rc == AP_OK && strcmp(r.body.data, "ok") == 0 &&
                      bhttp_connects(h) == 2,
                  "Connection: close honoured: the next request on a new "
                  "connection");
            bhttp_free(h);
            h = NULL;
            canned_stop(&c);
        }
    }
    /* A kept-alive connection the server closed after one answer: the
     * second request goes again on a new connection. */
    {
        struct canned c = { .conns = 2, .n = 1, .close_after = 1,
                            .replies = { R_LENGTH } };

        if (setup(&c, ctx, &h)) {
            snprintf(url, sizeof(url), "http://127.0.0.1:%u/", c.port);
            rc = bhttp_do(h, "GET", url, NULL, NULL, 0, 5000, &r);
            usleep(50 * 1000); /* the server's close arrives first */
            rc = rc == AP_OK ? bhttp_do(h, "GET", url, NULL, NULL, 0, 5000,
                                        &r)
                             : rc;
            check(rc == AP_OK && r.status == 201 && bhttp_connects(h) == 2,
                  "a reused connection found closed: sent again on a new one");
            bhttp_free(h);
            h = NULL;
            canned_stop(&c);
        }
    }
    /* HEAD: a Content-Length but no body; the connection stays usable. */
    {
        struct canned c = { .conns = 1, .n = 2,
                            .replies = { R_HEAD, R_LENGTH } };

        if (setup(&c, ctx, &h)) {
            snprintf(url, sizeof(url), "http://127.0.0.1:%u/n", c.port);
            rc = bhttp_do(h, "HEAD", url, NULL, NULL, 0, 5000, &r);
            check(rc == AP_OK && r.status == 200 && r.body.len == 0 &&
                      strcmp(r.nonce, "nonce-2") == 0,
                  "HEAD: the head only");
            rc = bhttp_do(h, "GET", url, NULL, NULL, 0, 5000, &r);
            check(rc == AP_OK && r.status == 201 && bhttp_connects(h) == 1,
                  "the connection serves the next request after HEAD");
            bhttp_free(h);
            h = NULL;
            canned_stop(&c);
        }
    }
    /* A body over the cap, an answer that never comes, no HTTP: each
     * ends the request with its error, never a wait past the deadline. */
    {
        static const struct {
            const char *reply;
            unsigned timeout_ms;
            ap_err want;
            const char *what;
        } bad[] = {
            { "HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n", 5000,
              AP_ETOOBIG, "a body over the cap is refused" },
            { NULL, 300, AP_ETIMEOUT,
              "an answer that never comes: the deadline (300 ms)" },
            { "garbage\r\n\r\n", 5000, AP_EPARSE,
              "an answer that is no HTTP" },
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            struct canned c = { .conns = 1, .n = 1,
                                .replies = { bad[i].reply } };
            double t0 = now_s();

            if (setup(&c, ctx, &h)) {
                snprintf(url, sizeof(url), "http://127.0.0.1:%u/", c.port);
                rc = bhttp_do(h, "GET", url, NULL, NULL, 0,
                              bad[i].timeout_ms, &r);
                check(rc == bad[i].want && r.err[0] != '\0' &&
                          now_s() - t0 < bad[i].timeout_ms / 1000.0 + 1.0,
                      bad[i].what);
                bhttp_free(h);
                h = NULL;
                canned_stop(&c);
            }
        }
    }
    /* URLs it does not send. */
    if (bhttp_new(ctx, &h) != AP_OK) {
        check(0, "no connection slot");
    } else {
        check(bhttp_do(h, "GET", "ftp://127.0.0.1/", NULL, NULL, 0, 1000,
                       &r) == AP_EINVAL &&
                  bhttp_do(h, "GET", "/relative", NULL, NULL, 0, 1000, &r) ==
                      AP_EINVAL &&
                  bhttp_do(h, "GET", "http://u:p@127.0.0.1/", NULL, NULL, 0,
                           1000, &r) == AP_EINVAL &&
                  bhttp_connects(h) == 0,
              "no scheme but http(s), no relative URL, no user info");
        bhttp_free(h);
    }
    bhttp_resp_fini(&r);
}

unsigned
bhttp_self_test(void)
{
    struct bhttp_ctx *ctx = NULL;
    char err[256];
    unsigned before = failures;

    if (bhttp_ctx_new(NULL, "127.0.0.1", &ctx, err, sizeof(err)) != AP_OK) {
        check(0, err);
    } else {
        scripts(ctx);
        bhttp_ctx_free(ctx);
    }
    printf("bhttp self-test: %u failed\n", failures - before);
    return failures - before;
}
