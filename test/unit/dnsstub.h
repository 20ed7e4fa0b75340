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
 *   tc.test           over UDP: an empty answer with TC set (too big for
 *                     UDP); over TCP: A 127.0.0.3 (AAAA: no records)
 *   anything else     NOERROR without records
 * The same port takes TCP too (two-byte length, then the message; the
 * connection served until the client closes it or 1 s of silence).
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
    int tcp_fd;                /* listening, same port */
    unsigned port;
    bool blackhole;
    unsigned delay_ms;
    atomic_int queries;        /* received so far */
    atomic_int tcp_queries;    /* of which over TCP */
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
              size_t rmax, bool tcp)
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
    if (strcasecmp(qname, "tc.test") == 0 && !tcp) {
        memcpy(r, q, qlen);
        r[2] = (unsigned char)(0x80 | 0x04 | 0x02 | (q[2] & 0x01)); /* TC */
        r[3] = 0x80;
        return qlen;
    }
    if (strcasecmp(qname, "tc.test") == 0 && ns_rr_type(rr) == ns_t_a) {
        rtype = ns_t_a;
        rdlen = 4;
        inet_pton(AF_INET, "127.0.0.3", rdata);
    } else if (strcasecmp(qname, "noaaaa.test") == 0 &&
               ns_rr_type(rr) == ns_t_a) {
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

/* Reads exactly len bytes from fd within 1 s; false at EOF or silence. */
static inline bool
dnsstub_read_all(int fd, unsigned char *p, size_t len)
{
    while (len > 0) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
        ssize_t n;

        if (poll(&pfd, 1, 1000) <= 0) {
            return false;
        }
        n = read(fd, p, len);
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Serves one TCP connection until the client closes it. */
static inline void
dnsstub_tcp(struct dnsstub *s, int c)
{
    unsigned char q[512];
    unsigned char r[1026];
    unsigned char hdr[2];

    while (!atomic_load(&s->stop) && dnsstub_read_all(c, hdr, 2)) {
        size_t qlen = ((size_t)hdr[0] << 8) | hdr[1];
        size_t rlen;

        if (qlen == 0 || qlen > sizeof(q) || !dnsstub_read_all(c, q, qlen)) {
            break;
        }
        atomic_fetch_add(&s->queries, 1);
        atomic_fetch_add(&s->tcp_queries, 1);
        rlen = dnsstub_reply(q, qlen, r + 2, sizeof(r) - 2, true);
        if (rlen == 0) {
            continue;
        }
        r[0] = (unsigned char)(rlen >> 8);
        r[1] = (unsigned char)(rlen & 0xff);
        if (write(c, r, rlen + 2) != (ssize_t)(rlen + 2)) {
            break;
        }
    }
    close(c);
}

static inline void *
dnsstub_main(void *arg)
{
    struct dnsstub *s = arg;
    unsigned char q[512];
    unsigned char r[1024];

    while (!atomic_load(&s->stop)) {
        struct pollfd pfd[2] = {
            { .fd = s->fd, .events = POLLIN, .revents = 0 },
            { .fd = s->tcp_fd, .events = POLLIN, .revents = 0 },
        };
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);
        ssize_t n;
        size_t rlen;

        if (poll(pfd, 2, 50) <= 0) {
            continue;
        }
        if ((pfd[1].revents & POLLIN) != 0) {
            int c = accept4(s->tcp_fd, NULL, NULL, SOCK_CLOEXEC);

            if (c >= 0) {
                dnsstub_tcp(s, c);
            }
        }
        if ((pfd[0].revents & POLLIN) == 0) {
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
        rlen = dnsstub_reply(q, (size_t)n, r, sizeof(r), false);
        if (rlen > 0) {
            (void)sendto(s->fd, r, rlen, 0, (struct sockaddr *)&from,
                         fromlen);
        }
    }
    return NULL;
}

/* Binds a UDP socket to a free port of 127.0.0.1 and a TCP listener to
 * the same port (a few tries: that port's TCP side may be taken). */
static inline int
dnsstub_bind(struct dnsstub *s)
{
    for (int i = 0; i < 20; i++) {
        struct sockaddr_in sa;
        socklen_t salen = sizeof(sa);
        int one = 1;

        s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        s->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s->fd < 0 || s->tcp_fd < 0) {
            break;
        }
        (void)setsockopt(s->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one,
                         sizeof(one));
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(s->fd, (struct sockaddr *)&sa, &salen) == 0 &&
            bind(s->tcp_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            listen(s->tcp_fd, 8) == 0) {
            s->port = ntohs(sa.sin_port);
            return 0;
        }
        close(s->fd);
        close(s->tcp_fd);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    if (s->tcp_fd >= 0) {
        close(s->tcp_fd);
    }
    return -1;
}

/* Starts a stub on 127.0.0.1 at a free port; 0 on success. */
static inline int
dnsstub_start(struct dnsstub *s, bool blackhole, unsigned delay_ms)
{
    memset(s, 0, sizeof(*s));
    s->blackhole = blackhole;
    s->delay_ms = delay_ms;
    atomic_init(&s->queries, 0);
    atomic_init(&s->tcp_queries, 0);
    atomic_init(&s->stop, false);
    if (dnsstub_bind(s) != 0) {
        return -1;
    }
    if (pthread_create(&s->thread, NULL, dnsstub_main, s) != 0) {
        close(s->fd);
        close(s->tcp_fd);
        return -1;
    }
    return 0;
}

static inline void
dnsstub_stop(struct dnsstub *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
    close(s->tcp_fd);
}

#endif /* AP_TEST_UNIT_DNSSTUB_H */
