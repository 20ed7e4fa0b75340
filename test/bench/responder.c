/* test/bench/responder.c: http-01 answers for the load generator. */
#include "test/bench/responder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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
    unsigned long hits;
    unsigned long misses;
    volatile bool stopping;
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
    pthread_mutex_lock(&r->lock);
    *hits = r->hits;
    *misses = r->misses;
    pthread_mutex_unlock(&r->lock);
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

static void
serve(struct responder *r, int fd)
{
    char req[RESP_MAX_REQUEST + 1];
    char body[600];
    char out[sizeof(body) + 256];
    int outlen;
    size_t len = 0;
    int status = 400;
    char *sp;
    char *path;

    body[0] = '\0';
    while (len < RESP_MAX_REQUEST) {
        ssize_t n = recv(fd, req + len, RESP_MAX_REQUEST - len, 0);

        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return;
        }
        len += (size_t)n;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL) {
            break;
        }
    }
    req[len] = '\0';
    if (strncmp(req, "GET ", 4) == 0) {
        path = req + 4;
        sp = strchr(path, ' ');
        if (sp != NULL) {
            *sp = '\0';
            status = 404;
            if (strncmp(path, RESP_PREFIX, strlen(RESP_PREFIX)) == 0) {
                const char *tok = path + strlen(RESP_PREFIX);

                pthread_mutex_lock(&r->lock);
                for (struct entry *e = r->bucket[hash(tok)]; e != NULL;
                     e = e->next) {
                    if (strcmp(e->token, tok) == 0) {
                        snprintf(body, sizeof(body), "%s", e->keyauth);
                        status = 200;
                        break;
                    }
                }
                pthread_mutex_unlock(&r->lock);
            }
        }
    }
    pthread_mutex_lock(&r->lock);
    if (status == 200) {
        r->hits++;
    } else {
        r->misses++;
    }
    pthread_mutex_unlock(&r->lock);
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

    while (!r->stopping) {
        struct timeval tv = { 5, 0 };
        int fd = accept(r->fd, NULL, NULL);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            break;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
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
    r->stopping = true;
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
