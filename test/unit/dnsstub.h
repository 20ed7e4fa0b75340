/* test/unit/dnsstub.h: a tiny DNS server on 127.0.0.1 (UDP, a free port)
 * for the tests of common/resolve.c and the validators' deadline.
 *
 * One thread answers queries, each after delay_ms, from a fixed zone:
 *   a.test            A 127.0.0.1, AAAA ::1, TXT "hello"
 *   noaaaa.test       A 127.0.0.2; AAAA queries are never answered
 *   nx.test           NXDOMAIN
 *   servfail.test     SERVFAIL
 *   cN.chain.test     CNAME c<N+1>.chain.test (an endless chain, as an
 *                     authoritative-only server answers it: one hop each);
 *                     any other name under chain.test: CNAME c1.chain.test
 *   anything else     NOERROR without records
 * In black-hole mode it reads every query and never answers. Queries are
 * parsed with libc's ns_initparse; answers are the query's header and
 * question with one record appended (built with ns_put16/ns_put32 and
 * ns_name_compress). Header-only, like rows.h. */
#ifndef AP_TEST_UNIT_DNSSTUB_H
#define AP_TEST_UNIT_DNSSTUB_H

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct dnsstub {
    int fd;
    unsigned port;
    bool blackhole;
    unsigned delay_ms;
    atomic_int queries;        /* received so far */
    atomic_bool stop;
    pthread_t thread;
};

static inline void
dnsstub_sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000,
                           .tv_nsec = (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The reply to query q[qlen] into r (size rmax); its length, or 0 for no
 * reply. */
static inline size_t
dnsstub_reply(const unsigned char *q, size_t qlen, unsigned char *r,
              size_t rmax)
{
    ns_msg m;
    ns_rr rr;
    char qname[NS_MAXDNAME];
    char target[NS_MAXDNAME];
    unsigned char rdata[NS_MAXCDNAME + 16];
    int rdlen = 0;
    int rtype = 0;
    int rcode = ns_r_noerror;
    unsigned n;
    size_t len = qlen;

    if (ns_initparse(q, (int)qlen, &m) != 0 || ns_msg_count(m, ns_s_qd) != 1 ||
        ns_msg_count(m, ns_s_ar) != 0 || ns_parserr(&m, ns_s_qd, 0, &rr) != 0 ||
        qlen + 12 + sizeof(rdata) > rmax) {
        return 0;
    }
    snprintf(qname, sizeof(qname), "%s", ns_rr_name(rr));
    if (strcasecmp(qname, "noaaaa.test") == 0 && ns_rr_type(rr) == ns_t_aaaa) {
        return 0;
    }
    if (strcasecmp(qname, "noaaaa.test") == 0 && ns_rr_type(rr) == ns_t_a) {
        rtype = ns_t_a;
        rdlen = 4;
        inet_pton(AF_INET, "127.0.0.2", rdata);
    } else if (strcasecmp(qname, "nx.test") == 0) {
        rcode = ns_r_nxdomain;
    } else if (strcasecmp(qname, "servfail.test") == 0) {
        rcode = ns_r_servfail;
    } else if (strcasecmp(qname, "a.test") == 0) {
        rtype = ns_rr_type(rr);
        if (rtype == ns_t_a) {
            rdlen = 4;
            inet_pton(AF_INET, "127.0.0.1", rdata);
        } else if (rtype == ns_t_aaaa) {
            rdlen = 16;
            inet_pton(AF_INET6, "::1", rdata);
        } else if (rtype == ns_t_txt) {
            rdlen = 6;
            memcpy(rdata, "\x05hello", 6);
        } else {
            rtype = 0;
        }
    } else if (strlen(qname) > 11 &&
               strcasecmp(qname + strlen(qname) - 11, ".chain.test") == 0) {
        if (sscanf(qname, "c%u.chain.test", &n) != 1) {
            n = 0;
        }
        rtype = ns_t_cname;
        snprintf(target, sizeof(target), "c%u.chain.test", n + 1);
        rdlen = ns_name_compress(target, rdata, sizeof(rdata), NULL, NULL);
        if (rdlen < 0) {
            return 0;
        }
    }
    memcpy(r, q, qlen);
    r[2] = (unsigned char)(0x80 | 0x04 | (q[2] & 0x01)); /* QR AA RD */
    r[3] = (unsigned char)(0x80 | rcode);                /* RA rcode */
    ns_put16(rtype != 0 ? 1 : 0, r + 6);                 /* ancount */
    if (rtype != 0) {
        r[len++] = 0xc0; /* the question's name */
        r[len++] = 0x0c;
        ns_put16((unsigned)rtype, r + len);
        ns_put16(ns_c_in, r + len + 2);
        ns_put32(60, r + len + 4);
        ns_put16((unsigned)rdlen, r + len + 8);
        len += 10;
        memcpy(r + len, rdata, (size_t)rdlen);
        len += (size_t)rdlen;
    }
    return len;
}

static inline void *
dnsstub_main(void *arg)
{
    struct dnsstub *s = arg;
    unsigned char q[512];
    unsigned char r[1024];

    while (!atomic_load(&s->stop)) {
        struct pollfd pfd = { .fd = s->fd, .events = POLLIN, .revents = 0 };
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);
        ssize_t n;
        size_t rlen;

        if (poll(&pfd, 1, 50) <= 0) {
            continue;
        }
        n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from,
                     &fromlen);
        if (n <= 0) {
            continue;
        }
        atomic_fetch_add(&s->queries, 1);
        if (s->blackhole) {
            continue;
        }
        dnsstub_sleep_ms(s->delay_ms);
        rlen = dnsstub_reply(q, (size_t)n, r, sizeof(r));
        if (rlen > 0) {
            (void)sendto(s->fd, r, rlen, 0, (struct sockaddr *)&from,
                         fromlen);
        }
    }
    return NULL;
}

/* Starts a stub on 127.0.0.1 at a free port; 0 on success. */
static inline int
dnsstub_start(struct dnsstub *s, bool blackhole, unsigned delay_ms)
{
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);

    memset(s, 0, sizeof(*s));
    s->blackhole = blackhole;
    s->delay_ms = delay_ms;
    atomic_init(&s->queries, 0);
    atomic_init(&s->stop, false);
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&sa, &salen) != 0 ||
        pthread_create(&s->thread, NULL, dnsstub_main, s) != 0) {
        close(s->fd);
        return -1;
    }
    s->port = ntohs(sa.sin_port);
    return 0;
}

static inline void
dnsstub_stop(struct dnsstub *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

#endif /* AP_TEST_UNIT_DNSSTUB_H */
