/* test/bench/responder.c: http-01 answers for the load generator.
 *
 * What one validation costs the client: accept, one recv (the request,
 * framed by http-parser), one send (head and body together), close. The
 * read and write deadlines are set once on the listening socket, which
 * every accepted socket inherits on Linux (two setsockopt calls less per
 * validation), and bound accept too, so a thread sees the stop flag. */
#include "test/bench/responder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <http_parser.h>

#define RESP_BUCKETS 4096
#define RESP_MAX_THREADS 32
#define RESP_MAX_REQUEST 4096
#define RESP_PREFIX "/.well-known/acme-challenge/"

struct entry {
    struct entry *next;
    char *token;
    char *keyauth;
};

struct responder {
    int fd;
    pthread_t threads[RESP_MAX_THREADS];
    unsigned nthreads;
    pthread_mutex_t lock;
    struct entry *bucket[RESP_BUCKETS];
    atomic_ulong hits;
    atomic_ulong misses;
    atomic_bool stopping;
};

static unsigned
hash(const char *s)
{
    unsigned h = 2166136261u;

    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h % RESP_BUCKETS;
}

ap_err
responder_add(struct responder *r, const char *token, const char *keyauth)
{
    struct entry *e = calloc(1, sizeof(*e));
    unsigned h = hash(token);

    if (e == NULL) {
        return AP_ENOMEM;
    }
    e->token = strdup(token);
    e->keyauth = strdup(keyauth);
    if (e->token == NULL || e->keyauth == NULL) {
        free(e->token);
        free(e->keyauth);
        free(e);
        return AP_ENOMEM;
    }
    pthread_mutex_lock(&r->lock);
    e->next = r->bucket[h];
    r->bucket[h] = e;
    pthread_mutex_unlock(&r->lock);
    return AP_OK;
}

void
responder_del(struct responder *r, const char *token)
{
    struct entry **pp;
    struct entry *e = NULL;

    pthread_mutex_lock(&r->lock);
    for (pp = &r->bucket[hash(token)]; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->token, token) == 0) {
            e = *pp;
            *pp = e->next;
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (e != NULL) {
        free(e->token);
        free(e->keyauth);
        free(e);
    }
}

void
responder_counts(struct responder *r, unsigned long *hits,
                 unsigned long *misses)
{
    *hits = atomic_load(&r->hits);
    *misses = atomic_load(&r->misses);
}

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0) {
            if (w < 0 && errno == EINTR) {
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* One request being read: its target and whether it is complete. */
struct req {
    char url[RESP_MAX_REQUEST + 1];
    size_t url_len;
    bool too_long;
    bool complete;
};

static int
on_url(http_parser *p, const char *at, size_t n)
{
    struct req *q = p->data;

    if (q->url_len + n > RESP_MAX_REQUEST) {
        q->too_long = true;
        return -1;
    }
    memcpy(q->url + q->url_len, at, n);
    q->url_len += n;
    q->url[q->url_len] = '\0';
    return 0;
}

static int
on_complete(http_parser *p)
{
    struct req *q = p->data;

    q->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings req_settings = {
    .on_url = on_url,
    .on_message_complete = on_complete,
};

/* The key authorization for the request's target into body; 200, or 404
 * for a token not registered (or another path), 400 for no GET. */
static int
lookup(struct responder *r, const http_parser *p, const struct req *q,
       char *body, size_t bodylen)
{
    struct http_parser_url u;
    const char *path;
    size_t plen;
    size_t pre = strlen(RESP_PREFIX);
    char tok[RESP_MAX_REQUEST + 1];
    int status = 404;

    if (p->method != HTTP_GET) {
        return 400;
    }
    http_parser_url_init(&u);
    if (http_parser_parse_url(q->url, q->url_len, 0, &u) != 0 ||
        (u.field_set & (1u << UF_PATH)) == 0) {
        return 400;
    }
    path = q->url + u.field_data[UF_PATH].off;
    plen = u.field_data[UF_PATH].len;
    if (plen <= pre || strncmp(path, RESP_PREFIX, pre) != 0) {
        return 404;
    }
    memcpy(tok, path + pre, plen - pre);
    tok[plen - pre] = '\0';
    pthread_mutex_lock(&r->lock);
    for (struct entry *e = r->bucket[hash(tok)]; e != NULL; e = e->next) {
        if (strcmp(e->token, tok) == 0) {
            snprintf(body, bodylen, "%s", e->keyauth);
            status = 200;
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return status;
}

static void
serve(struct responder *r, int fd)
{
    static struct req zero;
    char in[RESP_MAX_REQUEST];
    struct req q = zero;
    http_parser p;
    char body[600];
    char out[sizeof(body) + 256];
    int outlen;
    size_t total = 0;
    int status = 400;

    body[0] = '\0';
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &q;
    while (!q.complete && total < RESP_MAX_REQUEST) {
        ssize_t n = recv(fd, in, sizeof(in) - total, 0);
        enum http_errno he;

        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return;
        }
        total += (size_t)n;
        (void)http_parser_execute(&p, &req_settings, in, (size_t)n);
        he = HTTP_PARSER_ERRNO(&p);
        if (he != HPE_OK && he != HPE_PAUSED) {
            break;
        }
    }
    if (q.complete) {
        status = lookup(r, &p, &q, body, sizeof(body));
    }
    atomic_fetch_add(status == 200 ? &r->hits : &r->misses, 1);
    /* Head and body in one send: one segment, one system call. */
    outlen = snprintf(out, sizeof(out),
                      "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n"
                      "%s",
                      status, status == 200   ? "OK"
                              : status == 404 ? "Not Found"
                                              : "Bad Request",
                      strlen(body), body);
    if (outlen > 0 && (size_t)outlen < sizeof(out)) {
        write_all(fd, out, (size_t)outlen);
    }
}

static void *
accept_loop(void *arg)
{
    struct responder *r = arg;

    while (!atomic_load(&r->stopping)) {
        int fd = accept4(r->fd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED ||
                errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;  /* the listener's 5 s deadline, or a reset */
            }
            break;
        }
        serve(r, fd);
        close(fd);
    }
    return NULL;
}

ap_err
responder_start(const char *addr, unsigned port, unsigned nthreads,
                struct responder **out, char *errbuf, size_t errlen)
{
    struct responder *r = calloc(1, sizeof(*r));
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct timeval tv = { 5, 0 };
    int one = 1;

    if (r == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return AP_ENOMEM;
    }
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) ==
        1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        sslen = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, addr,
                         &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        sslen = sizeof(struct sockaddr_in6);
    } else {
        snprintf(errbuf, errlen, "responder: bad address %s", addr);
        free(r);
        return AP_EINVAL;
    }
    r->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->fd < 0 ||
        setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(r->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        bind(r->fd, (struct sockaddr *)&ss, sslen) != 0 ||
        listen(r->fd, 256) != 0) {
        snprintf(errbuf, errlen, "responder: cannot listen on %s:%u: %s",
                 addr, port, strerror(errno));
        if (r->fd >= 0) {
            close(r->fd);
        }
        free(r);
        return AP_ENET;
    }
    pthread_mutex_init(&r->lock, NULL);
    if (nthreads == 0) {
        nthreads = 1;
    }
    if (nthreads > RESP_MAX_THREADS) {
        nthreads = RESP_MAX_THREADS;
    }
    for (unsigned i = 0; i < nthreads; i++) {
        if (pthread_create(&r->threads[i], NULL, accept_loop, r) != 0) {
            break;
        }
        r->nthreads++;
    }
    if (r->nthreads == 0) {
        snprintf(errbuf, errlen, "responder: no thread");
        close(r->fd);
        free(r);
        return AP_ENOMEM;
    }
    *out = r;
    return AP_OK;
}

void
responder_stop(struct responder *r)
{
    if (r == NULL) {
        return;
    }
    atomic_store(&r->stopping, true);
    /* Wakes the threads blocked in accept(). */
    shutdown(r->fd, SHUT_RDWR);
    for (unsigned i = 0; i < r->nthreads; i++) {
        pthread_join(r->threads[i], NULL);
    }
    close(r->fd);
    for (unsigned b = 0; b < RESP_BUCKETS; b++) {
        while (r->bucket[b] != NULL) {
            struct entry *e = r->bucket[b];

            r->bucket[b] = e->next;
            free(e->token);
            free(e->keyauth);
            free(e);
        }
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}
