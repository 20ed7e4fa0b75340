/* test/bench/connattack.c: holds the connections that starve a
 * thread-per-connection server, from one address, on loopback only.
 *
 * Four kinds, each kept at its count for --duration seconds (a connection
 * the server closes is opened again, at most once a second per slot):
 *   idle       TCP connected, nothing sent;
 *   handshake  TLS ClientHello sent, nothing after (the context is freed);
 *   slowloris  TLS established, then a request head one byte a second,
 *              never finished;
 *   slowbody   TLS established, a whole head with Content-Length: 4096,
 *              then the body one byte a second.
 * For each kind it reports how long the server let the connections live
 * (from connect to the server's close), and counts those held longer than
 * that kind's --deadline-* plus --tolerance-ms, including any still open
 * past it when the attack ends. With --pid it samples the server's RSS and
 * open files before the attack, at their peak during it, and --settle
 * seconds after it.
 *
 * Ends with one "ATTACK key=value ..." line (test/bench/run.sh reads it).
 * Exit status 0 when no connection outlived its deadline, 1 otherwise,
 * 2 on a usage or setup error. Every loop is bounded by the counts and the
 * duration; only loopback addresses are accepted as targets. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

enum kind { K_IDLE, K_HANDSHAKE, K_SLOWLORIS, K_SLOWBODY, K__N };
static const char *kind_name[K__N] = { "idle", "handshake", "slowloris",
                                       "slowbody" };

enum state { S_WAIT, S_CONNECTING, S_TLS, S_HOLD };

#define MAX_PER_KIND 5000
#define MAX_DURATION 600
#define REOPEN_MS 1000
#define TRICKLE_MS 1000
#define BODY_LEN 4096

struct slot {
    enum kind kind;
    enum state state;
    mbedtls_net_context net;  /* .fd */
    mbedtls_ssl_context *ssl;
    long long t_open;
    long long t_next;
    size_t sent;
    bool tls;
};

struct kstat {
    unsigned long opened;
    unsigned long closed;   /* by the server */
    unsigned long late;     /* held past deadline + tolerance */
    long long max_hold;
    long long sum_hold;
    long long deadline;
};

static struct {
    struct sockaddr_storage dst;
    socklen_t dst_len;
    struct sockaddr_storage src;
    socklen_t src_len;
    bool have_src;
    unsigned count[K__N];
    unsigned duration;
    unsigned settle;
    long long tolerance;
    int pid;
    int ep;
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    struct kstat st[K__N];
    long long rss_before, rss_peak, rss_after;
    long long fd_before, fd_peak, fd_after;
} A;

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

static bool
parse_addr(const char *host, unsigned port, struct sockaddr_storage *ss,
           socklen_t *len)
{
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((unsigned short)port);
        *len = sizeof(*in);
        return true;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)port);
        *len = sizeof(*in6);
        return true;
    }
    return false;
}

/* ---------------------------------------------------------- /proc */

static long long
proc_rss_kb(int pid)
{
    char path[64];
    char line[256];
    long long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

static long long
proc_fds(int pid)
{
    char path[64];
    long long n = 0;
    DIR *d;
    struct dirent *e;

    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n;
}

static void
sample_peak(void)
{
    long long r;
    long long f;

    if (A.pid <= 0) {
        return;
    }
    r = proc_rss_kb(A.pid);
    f = proc_fds(A.pid);
    if (r > A.rss_peak) {
        A.rss_peak = r;
    }
    if (f > A.fd_peak) {
        A.fd_peak = f;
    }
}

/* ---------------------------------------------------------- slots */

static void
ep_set(struct slot *s, uint32_t events)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = s;
    if (epoll_ctl(A.ep, EPOLL_CTL_MOD, s->net.fd, &ev) != 0) {
        (void)epoll_ctl(A.ep, EPOLL_CTL_ADD, s->net.fd, &ev);
    }
}

static void
slot_drop(struct slot *s)
{
    if (s->ssl != NULL) {
        mbedtls_ssl_free(s->ssl);
        free(s->ssl);
        s->ssl = NULL;
    }
    if (s->net.fd >= 0) {
        close(s->net.fd); /* leaves the epoll set with it */
        s->net.fd = -1;
    }
}

/* The server closed s (or refused it): how long it lived. */
static void
slot_closed(struct slot *s, long long now)
{
    struct kstat *k = &A.st[s->kind];
    long long hold = now - s->t_open;

    k->closed++;
    k->sum_hold += hold;
    if (hold > k->max_hold) {
        k->max_hold = hold;
    }
    if (k->deadline > 0 && hold > k->deadline + A.tolerance) {
        k->late++;
    }
    slot_drop(s);
    s->state = S_WAIT;
    s->t_next = s->t_open + REOPEN_MS > now ? s->t_open + REOPEN_MS : now;
}

static void
slot_open(struct slot *s, long long now)
{
    int fd = socket(A.dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;

    s->t_open = now;
    s->sent = 0;
    s->state = S_CONNECTING;
    s->net.fd = fd;
    if (fd < 0) {
        s->state = S_WAIT;
        s->t_next = now + REOPEN_MS;
        return;
    }
    A.st[s->kind].opened++;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if ((A.have_src && bind(fd, (struct sockaddr *)&A.src, A.src_len) != 0) ||
        (connect(fd, (struct sockaddr *)&A.dst, A.dst_len) != 0 &&
         errno != EINPROGRESS)) {
        slot_closed(s, now);
        return;
    }
    ep_set(s, EPOLLOUT);
}

static bool
slot_tls_new(struct slot *s)
{
    s->ssl = calloc(1, sizeof(*s->ssl));
    if (s->ssl == NULL) {
        return false;
    }
    mbedtls_ssl_init(s->ssl);
    if (mbedtls_ssl_setup(s->ssl, &A.conf) != 0 ||
        mbedtls_ssl_set_hostname(s->ssl, "localhost") != 0) {
        return false;
    }
    mbedtls_ssl_set_bio(s->ssl, &s->net, mbedtls_net_send, mbedtls_net_recv, NULL);
    return true;
}

/* Sends the next byte (slowloris), or the head and then the next body
 * byte (slowbody). False when the server has gone. */
static bool
slot_trickle(struct slot *s)
{
    static const char head[] =
        "POST /acme/new-order HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/jose+json\r\nContent-Length: 4096\r\n\r\n";
    static const char loris[] = "GET /directory HTTP/1.1\r\nHost: localhost\r\n";
    char b;
    int rc;

    if (s->kind == K_SLOWBODY && s->sent == 0) {
        rc = mbedtls_ssl_write(s->ssl, (const unsigned char *)head, sizeof(head) - 1);
        if (rc != (int)(sizeof(head) - 1)) {
            return false;
        }
        s->sent = 1;
        return true;
    }
    if (s->kind == K_SLOWBODY) {
        if (s->sent > BODY_LEN - 1) {
            return true; /* never the last byte */
        }
        b = '{';
    } else if (s->sent < sizeof(loris) - 1) {
        b = loris[s->sent];
    } else {
        /* X-Pad-0: ... one header after another, never the empty line */
        static const char pad[] = "X-Pad: aaaaaaaaaa\r\n";

        b = pad[(s->sent - (sizeof(loris) - 1)) % (sizeof(pad) - 1)];
    }
    rc = mbedtls_ssl_write(s->ssl, (const unsigned char *)&b, 1);
    if (rc != 1 && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
        return false;
    }
    s->sent++;
    return true;
}

static void
slot_event(struct slot *s, uint32_t events, long long now)
{
    char sink[4096];
    int rc;

    switch (s->state) {
    case S_CONNECTING: {
        int err = 0;
        socklen_t el = sizeof(err);

        if (getsockopt(s->net.fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            slot_closed(s, now);
            return;
        }
        if (s->kind == K_IDLE) {
            s->state = S_HOLD;
            ep_set(s, EPOLLIN);
            return;
        }
        if (!slot_tls_new(s)) {
            slot_closed(s, now);
            return;
        }
        if (s->kind == K_HANDSHAKE) {
            /* ClientHello out, then nothing: the context is not needed. */
            for (int step = 0; step < 8 && s->ssl->state < MBEDTLS_SSL_SERVER_HELLO;
                 step++) {
                rc = mbedtls_ssl_handshake_step(s->ssl);
                if (rc != 0 && rc != MBEDTLS_ERR_SSL_WANT_READ) {
                    slot_closed(s, now);
                    return;
                }
            }
            mbedtls_ssl_free(s->ssl);
            free(s->ssl);
            s->ssl = NULL;
            s->state = S_HOLD;
            ep_set(s, EPOLLIN);
            return;
        }
        s->state = S_TLS;
    }
        /* fall through */
    case S_TLS:
        rc = mbedtls_ssl_handshake(s->ssl);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
            ep_set(s, EPOLLIN);
            return;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            ep_set(s, EPOLLOUT);
            return;
        }
        if (rc != 0) {
            slot_closed(s, now);
            return;
        }
        s->state = S_HOLD;
        ep_set(s, EPOLLIN);
        if (!slot_trickle(s)) {
            slot_closed(s, now);
            return;
        }
        s->t_next = now + TRICKLE_MS;
        return;
    case S_HOLD:
        if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) {
            return;
        }
        if (s->ssl != NULL) {
            rc = mbedtls_ssl_read(s->ssl, (unsigned char *)sink, sizeof(sink));
            if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc > 0) {
                return; /* an answer (408?) comes before the close */
            }
            slot_closed(s, now);
            return;
        }
        for (int i = 0; i < 64; i++) {
            ssize_t n = recv(s->net.fd, sink, sizeof(sink), 0);

            if (n > 0) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return;
            }
            slot_closed(s, now);
            return;
        }
        return;
    case S_WAIT:
        return;
    }
}

/* ---------------------------------------------------------- main */

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: connattack --port N [--host 127.0.0.1] [--source ADDR]\n"
            "         [--idle N] [--handshake N] [--slowloris N] [--slowbody N]\n"
            "         [--duration S] [--deadline-idle MS] [--deadline-handshake MS]\n"
            "         [--deadline-slowloris MS] [--deadline-slowbody MS]\n"
            "         [--tolerance-ms MS] [--pid PID] [--settle S]\n"
            "Loopback targets only; at most %d connections of each kind, %d s.\n",
            MAX_PER_KIND, MAX_DURATION);
}

static bool
num(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end = NULL;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

static bool
tls_init(void)
{
    static const char pers[] = "connattack";

    mbedtls_ssl_config_init(&A.conf);
    mbedtls_entropy_init(&A.entropy);
    mbedtls_ctr_drbg_init(&A.drbg);
    if (mbedtls_ctr_drbg_seed(&A.drbg, mbedtls_entropy_func, &A.entropy,
                              (const unsigned char *)pers, sizeof(pers) - 1) != 0 ||
        mbedtls_ssl_config_defaults(&A.conf, MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
        return false;
    }
    /* an attacker does not check who it attacks */
    mbedtls_ssl_conf_authmode(&A.conf, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_rng(&A.conf, mbedtls_ctr_drbg_random, &A.drbg);
    return true;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "source", required_argument, NULL, 's' },
        { "idle", required_argument, NULL, '0' },
        { "handshake", required_argument, NULL, '1' },
        { "slowloris", required_argument, NULL, '2' },
        { "slowbody", required_argument, NULL, '3' },
        { "deadline-idle", required_argument, NULL, '4' },
        { "deadline-handshake", required_argument, NULL, '5' },
        { "deadline-slowloris", required_argument, NULL, '6' },
        { "deadline-slowbody", required_argument, NULL, '7' },
        { "duration", required_argument, NULL, 'd' },
        { "tolerance-ms", required_argument, NULL, 't' },
        { "pid", required_argument, NULL, 'P' },
        { "settle", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *host = "127.0.0.1";
    const char *source = NULL;
    unsigned long port = 0;
    unsigned long v;
    unsigned total = 0;
    struct slot *slots;
    struct rlimit rl;
    long long t0;
    long long end;
    long long next_sample = 0;
    unsigned long late = 0;
    int ch;

    /* writes to a connection the server has closed: EPIPE, not death */
    signal(SIGPIPE, SIG_IGN);
    A.count[K_IDLE] = 1000;
    A.count[K_HANDSHAKE] = 200;
    A.count[K_SLOWLORIS] = 200;
    A.count[K_SLOWBODY] = 50;
    A.duration = 30;
    A.settle = 5;
    A.tolerance = 1000;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H': host = optarg; break;
        case 's': source = optarg; break;
        case 'p':
            if (!num(optarg, 1, 65535, &port)) goto bad;
            break;
        case '0': case '1': case '2': case '3':
            if (!num(optarg, 0, MAX_PER_KIND, &v)) goto bad;
            A.count[ch - '0'] = (unsigned)v;
            break;
        case '4': case '5': case '6': case '7':
            if (!num(optarg, 1, 600000, &v)) goto bad;
            A.st[ch - '4'].deadline = (long long)v;
            break;
        case 'd':
            if (!num(optarg, 1, MAX_DURATION, &v)) goto bad;
            A.duration = (unsigned)v;
            break;
        case 't':
            if (!num(optarg, 0, 60000, &v)) goto bad;
            A.tolerance = (long long)v;
            break;
        case 'P':
            if (!num(optarg, 1, 1UL << 30, &v)) goto bad;
            A.pid = (int)v;
            break;
        case 'S':
            if (!num(optarg, 0, 120, &v)) goto bad;
            A.settle = (unsigned)v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (port == 0 || optind != argc || !parse_addr(host, (unsigned)port, &A.dst, &A.dst_len) ||
        (source != NULL && !parse_addr(source, 0, &A.src, &A.src_len))) {
        goto bad;
    }
    A.have_src = source != NULL;
    if (!is_loopback(&A.dst) || (A.have_src && !is_loopback(&A.src))) {
        fprintf(stderr, "connattack: loopback addresses only\n");
        return 2;
    }
    for (int k = 0; k < K__N; k++) {
        total += A.count[k];
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < total + 64) {
        rl.rlim_cur = rl.rlim_max < total + 64 ? rl.rlim_max : total + 64;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    slots = calloc(total ? total : 1, sizeof(*slots));
    A.ep = epoll_create1(EPOLL_CLOEXEC);
    if (slots == NULL || A.ep < 0 || !tls_init()) {
        fprintf(stderr, "connattack: setup failed\n");
        return 2;
    }
    if (A.pid > 0) {
        A.rss_before = proc_rss_kb(A.pid);
        A.fd_before = proc_fds(A.pid);
        A.rss_peak = A.rss_before;
        A.fd_peak = A.fd_before;
    }
    for (unsigned i = 0, k = 0, n = 0; i < total; i++, n++) {
        while (n >= A.count[k]) {
            k++;
            n = 0;
        }
        slots[i].kind = (enum kind)k;
        slots[i].net.fd = -1;
        slots[i].state = S_WAIT;
    }
    t0 = now_ms();
    end = t0 + (long long)A.duration * 1000;
    printf("connattack: %u idle, %u handshake, %u slowloris, %u slowbody for %u s from %s\n",
           A.count[K_IDLE], A.count[K_HANDSHAKE], A.count[K_SLOWLORIS],
           A.count[K_SLOWBODY], A.duration, source ? source : "(any)");
    fflush(stdout);
    for (;;) {
        struct epoll_event ev[256];
        long long now = now_ms();
        int n;

        if (now >= end) {
            break;
        }
        /* timers: reopen, trickle (a linear pass: a few thousand slots) */
        for (unsigned i = 0; i < total; i++) {
            struct slot *s = &slots[i];

            if (s->state == S_WAIT && s->t_next <= now) {
                slot_open(s, now);
            } else if (s->state == S_HOLD && s->ssl != NULL && s->t_next <= now) {
                if (!slot_trickle(s)) {
                    slot_closed(s, now);
                } else {
                    s->t_next = now + TRICKLE_MS;
                }
            }
        }
        if (now >= next_sample) {
            sample_peak();
            next_sample = now + 250;
        }
        n = epoll_wait(A.ep, ev, 256, 50);
        now = now_ms();
        for (int i = 0; i < n; i++) {
            slot_event(ev[i].data.ptr, ev[i].events, now);
        }
    }
    /* Still open at the end: late if past their deadline already. */
    for (unsigned i = 0; i < total; i++) {
        struct slot *s = &slots[i];
        struct kstat *k = &A.st[s->kind];

        /* S_CONNECTING: never accepted (the listen queue), not held */
        if ((s->state == S_TLS || s->state == S_HOLD) && k->deadline > 0 &&
            end - s->t_open > k->deadline + A.tolerance) {
            k->late++;
        }
        slot_drop(s);
    }
    if (A.pid > 0) {
        sample_peak();
        sleep(A.settle);
        A.rss_after = proc_rss_kb(A.pid);
        A.fd_after = proc_fds(A.pid);
    }
    printf("ATTACK secs=%u", A.duration);
    for (int k = 0; k < K__N; k++) {
        const struct kstat *s = &A.st[k];

        printf(" %s_n=%u %s_opened=%lu %s_closed=%lu %s_max_ms=%lld %s_avg_ms=%lld"
               " %s_deadline_ms=%lld %s_late=%lu",
               kind_name[k], A.count[k], kind_name[k], s->opened, kind_name[k],
               s->closed, kind_name[k], s->max_hold, kind_name[k],
               s->closed ? s->sum_hold / (long long)s->closed : 0, kind_name[k],
               s->deadline, kind_name[k], s->late);
        late += s->late;
    }
    printf(" late=%lu rss_before_kb=%lld rss_peak_kb=%lld rss_after_kb=%lld"
           " fd_before=%lld fd_peak=%lld fd_after=%lld\n",
           late, A.rss_before, A.rss_peak, A.rss_after, A.fd_before, A.fd_peak,
           A.fd_after);
    free(slots);
    mbedtls_ssl_config_free(&A.conf);
    mbedtls_ctr_drbg_free(&A.drbg);
    mbedtls_entropy_free(&A.entropy);
    close(A.ep);
    return late == 0 ? 0 : 1;
bad:
    usage(stderr);
    return 2;
}
