/* proxy/gate.c: accept-to-ready connection handling on one epoll thread
 * (see gate.h for the contract): the phase lists and their deadlines, the
 * per-address counts, the loop, and reading requests through the framer.
 * The transport under it (the TLS handshake, reads and writes through
 * mbedTLS or the plain socket, the server's key and certificate) is
 * proxy/gate_tls.c.
 *
 * Every connection is on exactly one list, the list of its phase. Each
 * timed phase has one timeout, and a connection enters a list at its tail
 * with deadline = now + that timeout, so every list is in deadline order:
 * expiry looks at list heads only, and the epoll_wait timeout is the
 * nearest head's deadline.
 *
 *   TLS ──handshake──▶ HEAD ──head──▶ BODY ──body──▶ READY ─▶ WORKER
 *                        ▲                                      │
 *                        └──first byte── IDLE ◀──keep-alive─────┘
 *   framing error ─▶ error response ─▶ LINGER (drain, then close)
 *
 * Each turn of the loop serves the connections past their handshake first
 * and then spends at most HS_BUDGET_MS on handshakes, so a flood of them
 * (each costs an ECDHE and an ECDSA signature) delays a ready request by a
 * few milliseconds, not by the flood's length. Handshakes go in the order
 * of how many connections their source has open, fewest first, so a
 * client's handshake never queues behind one address's flood.
 *
 * Sockets are registered EPOLLONESHOT: a report disarms the socket, so a
 * connection whose request is whole goes to a worker with no epoll_ctl,
 * and the worker that answers it arms it again for the next request and
 * gives it back without waking this thread when it need not (gate_done):
 * one epoll_ctl and no wake-up per kept-alive request, where it was an
 * EPOLL_CTL_DEL, an eventfd write and read, a wake-up and an
 * EPOLL_CTL_ADD.
 *
 * Memory per connection: the struct (~400 B) while it is silent; the TLS
 * context (mbedTLS: ~34 KiB of record buffers) from its first byte; the
 * request buffer (2 KiB, doubling up to frame_raw_cap()) while a request
 * is read. An idle keep-alive connection gives its request buffer back. */
#include "proxy/gate.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "proxy/frame.h"
#include "proxy/gate_ip.h"
#include "proxy/gate_tls.h"

enum phase { PH_TLS, PH_HEAD, PH_BODY, PH_IDLE, PH_LINGER, PH_READY,
             PH_WORKER, PH__N };

enum counter {
    C_ACCEPTED, C_REFUSED_TOTAL, C_REFUSED_IP, C_TO_HANDSHAKE, C_TO_HEAD,
    C_TO_BODY, C_TO_IDLE, C_TLS_FAILED, C_BAD_REQUEST, C_REQUESTS, C__N,
    C_NONE = -1
};

#define LINGER_MS 2000                  /* draining after an error answer */
#define LINGER_DISCARD_MAX (256 * 1024) /* bytes drained at most */
#define INBOX_MAX 4096                  /* accepted, not yet seen by the gate */
#define BUF_FIRST 2048
#define FD_RESERVE 256                  /* fds kept for everything else */
#define LOG_EVERY_MS 10000
#define TRIM_MIN_PEAK 64
#define HS_BUDGET_MS 5                  /* handshake work per loop turn */

/* An IPv4 or IPv6 socket address (what the listener accepts). */
union inaddr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

struct gate_conn {
    struct gate *g;
    struct gate_io io;            /* the socket (io.net.fd), TLS context */
    enum phase phase;
    long long deadline;
    struct gate_conn *prev;       /* on g->lists[phase] */
    struct gate_conn *next;
    struct gate_conn *ret_next;   /* on g->returned */
    bool keep_alive;              /* set by gate_done */
    bool rearmed;                 /* set by gate_done: it re-armed the
                                   * socket for the next request */
    long long returned_ms;        /* set by gate_done: when */
    struct ipent *ip;
    bool in_epoll;                /* registered (EPOLLONESHOT) */
    bool armed;                   /* and not yet reported since armed */
    uint32_t events;
    char *buf;
    size_t len;                   /* bytes in buf */
    size_t cap;
    size_t msg_len;               /* bytes of the ready request */
    size_t discarded;             /* LINGER */
    struct frame fr;
    /* For the workers (gate_ready): the connection's addresses, asked
     * once, at its first request (0: not known). */
    union inaddr peer;
    union inaddr local;
    socklen_t peer_len;
    socklen_t local_len;
};

struct list {
    struct gate_conn *head;
    struct gate_conn *tail;
};

struct inbox_item {
    int fd;
    unsigned char key[16];
};

struct gate {
    struct gate_limits lim;
    gate_dispatch_fn dispatch;
    gate_headers_fn headers;
    void *arg;
    int ep;
    int wake;
    pthread_t thread;
    bool thread_started;
    size_t raw_cap;

    struct gate_tls *tls;         /* for new connections (NULL: plain
                                   * HTTP); under mu, replaced by
                                   * gate_set_tls */
    bool https;                   /* tls is set; fixed at start */
    _Atomic unsigned long long turns; /* loop turns, for gate_alive */

    /* the gate's thread only */
    struct list lists[PH__N];
    unsigned timeout[PH__N];      /* ms; 0: untimed */
    struct ip_table ipt;          /* connections per source address */
    unsigned nconns;
    unsigned inflight;
    unsigned peak_since_trim;
    long long next_log;
    uint64_t logged[C__N];
    struct inbox_item *work;      /* the inbox, taken */

    /* shared, under mu */
    pthread_mutex_t mu;
    struct inbox_item *inbox;
    size_t inbox_n;
    struct gate_conn *returned;
    bool stopping;
    long long sleep_until;        /* 0 while the gate's thread is awake;
                                   * else it looks at returned no later
                                   * than this (monotonic ms) */
    bool wants_returns;           /* it sleeps with requests waiting for
                                   * a worker (max_inflight): every
                                   * return wakes it */

    _Atomic uint64_t cnt[C__N];
    _Atomic uint64_t open;
    _Atomic uint64_t open_peak;
};

static void
count(struct gate *g, int c)
{
    if (c >= 0) {
        atomic_fetch_add_explicit(&g->cnt[c], 1, memory_order_relaxed);
    }
}

/* ------------------------------------------------------------ lists */

static void
list_del(struct gate *g, struct gate_conn *c)
{
    struct list *l = &g->lists[c->phase];

    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        l->head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    } else {
        l->tail = c->prev;
    }
    c->prev = c->next = NULL;
}

static void
list_add(struct gate *g, struct gate_conn *c, enum phase ph, long long now)
{
    struct list *l = &g->lists[ph];

    c->phase = ph;
    c->deadline = g->timeout[ph] > 0 ? now + g->timeout[ph] : 0;
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail != NULL) {
        l->tail->next = c;
    } else {
        l->head = c;
    }
    l->tail = c;
}

static void
set_phase(struct gate *g, struct gate_conn *c, enum phase ph, long long now)
{
    list_del(g, c);
    list_add(g, c, ph, now);
}

/* set_phase for a phase that began at since, before the connections at
 * the list's tail may have entered theirs: c goes after the last one whose
 * deadline is not later than c's, so the list stays in deadline order. */
static void
set_phase_since(struct gate *g, struct gate_conn *c, enum phase ph,
                long long since)
{
    struct list *l = &g->lists[ph];
    struct gate_conn *after;

    set_phase(g, c, ph, since);
    after = c->prev;
    if (after == NULL || after->deadline <= c->deadline) {
        return;
    }
    while (after != NULL && after->deadline > c->deadline) {
        after = after->prev;
    }
    list_del(g, c);
    c->phase = ph;
    c->prev = after;
    c->next = after != NULL ? after->next : l->head;
    if (after != NULL) {
        after->next = c;
    } else {
        l->head = c;
    }
    c->next->prev = c; /* c was the tail: something is after it */
}

/* ------------------------------------------------------------ closing */

/* Arms c's socket for events (EPOLLONESHOT: one report, then the gate
 * arms it again when it wants more), or for nothing (0). A socket that
 * has just been reported is disarmed already, so a connection that goes
 * to a worker costs no call here; the one call per request is the worker's
 * re-arm (gate_done) or the gate's when it takes the connection back. */
static void
ep_want(struct gate *g, struct gate_conn *c, uint32_t events)
{
    struct epoll_event ev;
    int op;

    if (events == 0) {
        if (c->in_epoll && c->armed) {
            (void)epoll_ctl(g->ep, EPOLL_CTL_DEL, c->io.net.fd, NULL);
            c->in_epoll = false;
            c->armed = false;
        }
        return;
    }
    if (c->in_epoll && c->armed && c->events == events) {
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = events | EPOLLONESHOT;
    ev.data.ptr = c;
    op = c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(g->ep, op, c->io.net.fd, &ev) == 0) {
        c->in_epoll = true;
        c->armed = true;
        c->events = events;
    }
}

static void
drop_buf(struct gate_conn *c)
{
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = c->msg_len = 0;
}

/* Closes c at once and frees it; counts why. */
static void
conn_free(struct gate *g, struct gate_conn *c, int why)
{
    list_del(g, c);
    c->armed = c->in_epoll;
    ep_want(g, c, 0);
    gate_io_drop_tls(&c->io);
    drop_buf(c);
    close(c->io.net.fd);
    ip_put(&g->ipt, c->ip);
    free(c);
    g->nconns--;
    atomic_store_explicit(&g->open, g->nconns, memory_order_relaxed);
    count(g, why);
}

/* Closes c after what was written has had its chance to arrive: FIN now,
 * the peer's bytes drained until it closes or LINGER_MS pass. A close with
 * unread bytes would send RST, which can destroy the answer in flight. */
static void
conn_linger(struct gate *g, struct gate_conn *c, long long now)
{
    gate_io_close_notify(&c->io);
    drop_buf(c);
    (void)shutdown(c->io.net.fd, SHUT_WR);
    c->discarded = 0;
    set_phase(g, c, PH_LINGER, now);
    ep_want(g, c, EPOLLIN);
}

static void
linger_drain(struct gate *g, struct gate_conn *c)
{
    char sink[4096];

    for (;;) {
        ssize_t n = recv(c->io.net.fd, sink, sizeof(sink), 0);

        if (n > 0) {
            c->discarded += (size_t)n;
            if (c->discarded <= LINGER_DISCARD_MAX) {
                continue;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ep_want(g, c, EPOLLIN);
            return;
        }
        conn_free(g, c, C_NONE);
        return;
    }
}

/* ------------------------------------------------------------ requests */

static const char *
reason(int status)
{
    switch (status) {
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    default: return "Bad Request";
    }
}

/* Answers a framing error with a problem document and closes. */
static void
conn_refuse(struct gate *g, struct gate_conn *c, long long now)
{
    char detail[128];
    char body[256];
    char extra[1024];
    char msg[1536];
    int bl;
    int ml;
    size_t i;

    snprintf(detail, sizeof(detail), "%s", c->fr.why ? c->fr.why : "bad request");
    for (i = 0; detail[i] != '\0'; i++) {
        if (detail[i] == '"' || detail[i] == '\\' || (unsigned char)detail[i] < 0x20) {
            detail[i] = '\'';
        }
    }
    bl = snprintf(body, sizeof(body),
                  "{\"type\":\"urn:ietf:params:acme:error:malformed\","
                  "\"detail\":\"%s\",\"status\":%d}",
                  detail, c->fr.status);
    extra[0] = '\0';
    if (g->headers == NULL || g->headers(g->arg, extra, sizeof(extra)) == 0) {
        extra[0] = '\0';
    }
    ml = snprintf(msg, sizeof(msg),
                  "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\n"
                  "%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                  c->fr.status, reason(c->fr.status), extra, bl, body);
    log_debug("gate", "refused a request: %d %s", c->fr.status, detail);
    count(g, C_BAD_REQUEST);
    if (ml > 0 && (size_t)ml < sizeof(msg)) {
        (void)gate_io_write(&c->io, msg, (size_t)ml);
    }
    conn_linger(g, c, now);
}

/* Feeds buf[off, off+n) to the frame and moves c on. Returns true while c
 * should go on reading. */
static bool
advance(struct gate *g, struct gate_conn *c, size_t off, size_t n, long long now)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    bool had_head = c->fr.head_done;

    (void)frame_feed(&c->fr, c->buf + off, n);
    if (c->fr.status != 0) {
        conn_refuse(g, c, now);
        return false;
    }
    if (c->fr.complete) {
        c->msg_len = c->fr.fed;
        ep_want(g, c, 0);
        set_phase(g, c, PH_READY, now);
        return false;
    }
    if (!had_head && c->fr.head_done) {
        set_phase(g, c, PH_BODY, now);
        if (frame_wants_continue(&c->fr) &&
            !gate_io_write(&c->io, cont, sizeof(cont) - 1)) {
            conn_free(g, c, C_NONE);
            return false;
        }
    }
    if (c->len >= g->raw_cap) {
        c->fr.status = 413;
        c->fr.why = "request too large";
        conn_refuse(g, c, now);
        return false;
    }
    return true;
}

/* Reads what the connection has for its request (phases HEAD, BODY, IDLE). */
static void
read_request(struct gate *g, struct gate_conn *c, long long now)
{
    for (;;) {
        ssize_t n;

        if (c->len == c->cap) {
            size_t ncap = c->cap == 0 ? BUF_FIRST : c->cap * 2;
            char *nb;

            if (ncap > g->raw_cap) {
                ncap = g->raw_cap;
            }
            nb = realloc(c->buf, ncap);
            if (nb == NULL) {
                conn_free(g, c, C_NONE);
                return;
            }
            c->buf = nb;
            c->cap = ncap;
        }
        n = gate_io_recv(&c->io, c->buf + c->len, c->cap - c->len);
        if (n == -1) {
            ep_want(g, c, EPOLLIN);
            return;
        }
        if (n <= 0) {
            /* a peer that leaves between requests is the normal end */
            conn_free(g, c,
                      n == -2 && c->io.ssl != NULL ? C_TLS_FAILED : C_NONE);
            return;
        }
        if (c->phase == PH_IDLE) {
            set_phase(g, c, PH_HEAD, now); /* the head's time starts now */
        }
        c->len += (size_t)n;
        if (!advance(g, c, c->len - (size_t)n, (size_t)n, now)) {
            return;
        }
    }
}

static void
tls_step(struct gate *g, struct gate_conn *c, long long now)
{
    struct gate_tls *t = NULL;
    enum gate_hs hs;

    if (c->io.ssl == NULL) {
        /* The context is made from the current server side; the
         * connection keeps its reference (a reload may replace it). */
        pthread_mutex_lock(&g->mu);
        t = gate_tls_ref(g->tls);
        pthread_mutex_unlock(&g->mu);
    }
    hs = gate_tls_handshake(t, &c->io);
    gate_tls_put(t);
    switch (hs) {
    case GATE_HS_WAIT:
        ep_want(g, c, EPOLLIN);
        return;
    case GATE_HS_WANT_READ:
        ep_want(g, c, EPOLLIN);
        return;
    case GATE_HS_WANT_WRITE:
        ep_want(g, c, EPOLLOUT);
        return;
    case GATE_HS_GONE:
        conn_free(g, c, C_NONE);
        return;
    case GATE_HS_FAILED:
        conn_free(g, c, C_TLS_FAILED);
        return;
    case GATE_HS_DONE:
        break;
    }
    set_phase(g, c, PH_HEAD, now);
    ep_want(g, c, EPOLLIN);
    read_request(g, c, now); /* the request may have come with the Finished */
}

static void
conn_io(struct gate *g, struct gate_conn *c, long long now)
{
    switch (c->phase) {
    case PH_TLS:
        tls_step(g, c, now);
        break;
    case PH_HEAD:
    case PH_BODY:
    case PH_IDLE:
        read_request(g, c, now);
        break;
    case PH_LINGER:
        linger_drain(g, c);
        break;
    default:
        ep_want(g, c, 0); /* not ours to read now */
        break;
    }
}

/* ------------------------------------------------------------ flow */

static void
take_accepted(struct gate *g, struct inbox_item *items, size_t n, long long now)
{
    for (size_t i = 0; i < n; i++) {
        int fd = items[i].fd;
        struct ipent *ip;
        struct gate_conn *c;

        if (g->nconns >= g->lim.max_conns) {
            close(fd);
            count(g, C_REFUSED_TOTAL);
            continue;
        }
        ip = ip_get(&g->ipt, items[i].key);
        if (ip == NULL || ip->count >= g->lim.max_conns_per_ip) {
            close(fd);
            count(g, C_REFUSED_IP);
            continue;
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            ip->count++;
            ip_put(&g->ipt, ip);
            close(fd);
            continue;
        }
        ip->count++;
        c->g = g;
        c->io.net.fd = fd;
        c->ip = ip;
        frame_init(&c->fr, g->lim.max_head, g->lim.max_body);
        list_add(g, c, g->https ? PH_TLS : PH_HEAD, now);
        g->nconns++;
        atomic_store_explicit(&g->open, g->nconns, memory_order_relaxed);
        if (g->nconns > atomic_load_explicit(&g->open_peak, memory_order_relaxed)) {
            atomic_store_explicit(&g->open_peak, g->nconns, memory_order_relaxed);
        }
        if (g->nconns > g->peak_since_trim) {
            g->peak_since_trim = g->nconns;
        }
        count(g, C_ACCEPTED);
        ep_want(g, c, EPOLLIN);
    }
}

/* A worker gave c back. */
static void
take_returned(struct gate *g, struct gate_conn *c, long long now, bool stopping)
{
    size_t left;

    g->inflight--;
    if (c->rearmed) {
        /* Idle, and its socket armed by gate_done already: the pause
         * began when the worker gave it back. Stopping: linger below. */
        c->rearmed = false;
        c->armed = c->in_epoll = true;
        c->events = EPOLLIN;
        if (!stopping) {
            frame_init(&c->fr, g->lim.max_head, g->lim.max_body);
            drop_buf(c); /* idle connections keep no buffer */
            set_phase_since(g, c, PH_IDLE, c->returned_ms);
            return;
        }
    }
    if (!c->keep_alive || stopping) {
        conn_linger(g, c, now);
        return;
    }
    left = c->len - c->msg_len;
    memmove(c->buf, c->buf + c->msg_len, left);
    c->len = left;
    c->msg_len = 0;
    frame_init(&c->fr, g->lim.max_head, g->lim.max_body);
    if (left == 0 && gate_io_pending(&c->io) == 0) {
        drop_buf(c); /* idle connections keep no buffer */
        set_phase(g, c, PH_IDLE, now);
        ep_want(g, c, EPOLLIN);
        return;
    }
    /* A pipelined request: its time started when the last one was answered. */
    set_phase(g, c, PH_HEAD, now);
    ep_want(g, c, EPOLLIN);
    if (left > 0 && !advance(g, c, 0, left, now)) {
        return;
    }
    read_request(g, c, now);
}

static void
dispatch_ready(struct gate *g, long long now)
{
    struct gate_conn *c;

    while (g->inflight < g->lim.max_inflight &&
           (c = g->lists[PH_READY].head) != NULL) {
        struct gate_ready r;

        r.fd = c->io.net.fd;
        r.tls = c->io.ssl;
        r.data = c->buf;
        r.len = c->msg_len;
        r.conn = c;
        if (c->peer_len == 0) {
            socklen_t len = sizeof(c->peer);

            if (getpeername(c->io.net.fd, &c->peer.sa, &len) == 0 &&
                len <= sizeof(c->peer)) {
                c->peer_len = len;
            }
        }
        if (c->local_len == 0) {
            socklen_t len = sizeof(c->local);

            if (getsockname(c->io.net.fd, &c->local.sa, &len) == 0 &&
                len <= sizeof(c->local)) {
                c->local_len = len;
            }
        }
        r.peer = &c->peer;
        r.peer_len = c->peer_len;
        r.local = &c->local;
        r.local_len = c->local_len;
        set_phase(g, c, PH_WORKER, now);
        g->inflight++;
        count(g, C_REQUESTS);
        if (g->dispatch(g->arg, &r) != 0) {
            g->inflight--;
            conn_free(g, c, C_NONE);
        }
    }
}

static void
expire(struct gate *g, long long now)
{
    static const int why[PH__N] = {
        [PH_TLS] = C_TO_HANDSHAKE, [PH_HEAD] = C_TO_HEAD,
        [PH_BODY] = C_TO_BODY, [PH_IDLE] = C_TO_IDLE, [PH_LINGER] = C_NONE,
        [PH_READY] = C_NONE, [PH_WORKER] = C_NONE,
    };

    for (int ph = 0; ph < PH__N; ph++) {
        struct gate_conn *c;

        if (g->timeout[ph] == 0) {
            continue;
        }
        while ((c = g->lists[ph].head) != NULL && c->deadline <= now) {
            conn_free(g, c, why[ph]);
        }
    }
}

static int
next_wait_ms(const struct gate *g, long long now)
{
    long long next = now + 1000;

    for (int ph = 0; ph < PH__N; ph++) {
        const struct gate_conn *c = g->lists[ph].head;

        if (g->timeout[ph] > 0 && c != NULL && c->deadline < next) {
            next = c->deadline;
        }
    }
    return next <= now ? 0 : (int)(next - now);
}

static void
log_counters(struct gate *g, long long now, bool force)
{
    static const char *names[C__N] = {
        "accepted", "refused_total", "refused_ip", "timeout_handshake",
        "timeout_head", "timeout_body", "timeout_idle", "tls_failed",
        "bad_request", "requests",
    };
    uint64_t v[C__N];
    bool changed = false;
    char line[512];
    size_t off = 0;

    if (!force && now < g->next_log) {
        return;
    }
    g->next_log = now + LOG_EVERY_MS;
    for (int i = 0; i < C__N; i++) {
        v[i] = atomic_load_explicit(&g->cnt[i], memory_order_relaxed);
        /* requests alone is ordinary traffic, not worth a line */
        changed |= i != C_REQUESTS && i != C_ACCEPTED && v[i] != g->logged[i];
    }
    if (!changed && !force) {
        return;
    }
    for (int i = 0; i < C__N && off < sizeof(line); i++) {
        int w = snprintf(line + off, sizeof(line) - off, " %s=%llu", names[i],
                         (unsigned long long)v[i]);

        if (w < 0) {
            break;
        }
        off += (size_t)w;
        g->logged[i] = v[i];
    }
    log_info("gate", "connections open=%u peak=%llu%s", g->nconns,
             (unsigned long long)atomic_load(&g->open_peak), line);
}

/* After an attack the connections' memory is free but still mapped: give
 * it back once the count has fallen to a quarter of its peak. */
static void
maybe_trim(struct gate *g)
{
    if (g->peak_since_trim >= TRIM_MIN_PEAK &&
        g->nconns <= g->peak_since_trim / 4) {
        (void)malloc_trim(0);
        g->peak_since_trim = g->nconns;
    }
}

/* Orders handshakes by how many connections their source has open
 * (insertion sort, stable: n is at most one epoll batch). */
static void
sort_by_source_load(struct gate_conn **c, int n)
{
    for (int i = 1; i < n; i++) {
        struct gate_conn *x = c[i];
        unsigned load = x->ip != NULL ? x->ip->count : 0;
        int j = i - 1;

        while (j >= 0 && (c[j]->ip != NULL ? c[j]->ip->count : 0) > load) {
            c[j + 1] = c[j];
            j--;
        }
        c[j + 1] = x;
    }
}

static void *
gate_main(void *arg)
{
    struct gate *g = arg;
    struct epoll_event ev[128];
    bool todo[128];
    struct gate_conn *hs[128];
    int nhs;
    bool stopping = false;

    while (!stopping) {
        long long now = time_mono_ms();
        int wait_ms = next_wait_ms(g, now);
        int n;
        size_t n_in;
        struct inbox_item *swap;
        struct gate_conn *ret;

        /* Workers give connections back without waking this thread when
         * it looks at them before they need it (gate_done): it says until
         * when it sleeps, and does not sleep on what is there. */
        pthread_mutex_lock(&g->mu);
        if (g->returned != NULL || g->inbox_n > 0 || g->stopping) {
            wait_ms = 0;
        }
        g->sleep_until = now + wait_ms;
        g->wants_returns = g->lists[PH_READY].head != NULL;
        pthread_mutex_unlock(&g->mu);
        n = epoll_wait(g->ep, ev, 128, wait_ms);

        atomic_fetch_add_explicit(&g->turns, 1, memory_order_relaxed);
        now = time_mono_ms();
        pthread_mutex_lock(&g->mu);
        g->sleep_until = 0;
        g->wants_returns = false;
        swap = g->inbox;
        g->inbox = g->work;
        g->work = swap;
        n_in = g->inbox_n;
        g->inbox_n = 0;
        ret = g->returned;
        g->returned = NULL;
        stopping = g->stopping;
        pthread_mutex_unlock(&g->mu);
        /* What came back first: the events below may be for those
         * connections (a worker re-armed them). */
        while (ret != NULL) {
            struct gate_conn *next = ret->ret_next;

            take_returned(g, ret, now, stopping);
            ret = next;
        }
        take_accepted(g, g->work, stopping ? 0 : n_in, now);
        if (stopping) {
            for (size_t i = 0; i < n_in; i++) {
                close(g->work[i].fd);
            }
        }
        /* Connections past their handshake first: a burst of handshakes
         * (~3 ms of CPU each) must not delay a request that has arrived. */
        for (int i = 0; i < n; i++) {
            struct gate_conn *c = ev[i].data.ptr;

            todo[i] = c != NULL && c->phase == PH_TLS;
            if (c == NULL) {
                uint64_t junk;

                (void)!read(g->wake, &junk, sizeof(junk));
                continue;
            }
            c->armed = false;   /* EPOLLONESHOT: reported once */
            if (!todo[i]) {
                conn_io(g, c, now); /* may free c, and only c */
            }
        }
        /* Then handshakes, HS_BUDGET_MS of them, sources with the fewest
         * open connections first: one address that floods handshakes
         * waits behind everybody else's. The rest stay readable and come
         * back from the next epoll_wait, after what is ready then. */
        nhs = 0;
        for (int i = 0; i < n; i++) {
            if (todo[i]) {
                hs[nhs++] = ev[i].data.ptr;
            }
        }
        sort_by_source_load(hs, nhs);
        for (int i = 0; i < nhs; i++) {
            if (time_mono_ms() < now + HS_BUDGET_MS) {
                conn_io(g, hs[i], now);
            } else {
                ep_want(g, hs[i], hs[i]->events); /* next turn */
            }
        }
        now = time_mono_ms();
        expire(g, now);
        if (!stopping) {
            dispatch_ready(g, now);
        }
        maybe_trim(g);
        log_counters(g, now, false);
    }
    for (int ph = 0; ph < PH__N; ph++) {
        if (ph == PH_WORKER) {
            continue;
        }
        while (g->lists[ph].head != NULL) {
            conn_free(g, g->lists[ph].head, C_NONE);
        }
    }
    log_counters(g, time_mono_ms(), true);
    return NULL;
}

/* ------------------------------------------------------------ API */

static void
fd_limit(struct gate *g)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)g->lim.max_conns + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < need) {
        struct rlimit want = rl;

        want.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
                            ? need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
            rl = want;
        }
    }
    if (rl.rlim_cur < need) {
        unsigned fit = rl.rlim_cur > 2 * FD_RESERVE
                           ? (unsigned)(rl.rlim_cur - FD_RESERVE)
                           : (unsigned)(rl.rlim_cur / 2);

        log_warn("gate", "open files limit %llu: max_conns lowered from %u to %u",
                 (unsigned long long)rl.rlim_cur, g->lim.max_conns, fit);
        g->lim.max_conns = fit;
    }
}

ap_err
gate_set_tls(struct gate *g, const char *pem, char *errbuf, size_t errlen)
{
    struct gate_tls *t = NULL;
    struct gate_tls *old;
    ap_err rc;

    if (!g->https) {
        (void)snprintf(errbuf, errlen, "the listener has no TLS");
        return AP_EINVAL;
    }
    rc = gate_tls_new(pem, &t, errbuf, errlen);
    if (rc != AP_OK) {
        return rc;
    }
    pthread_mutex_lock(&g->mu);
    old = g->tls;
    g->tls = t;
    pthread_mutex_unlock(&g->mu);
    gate_tls_put(old); /* connections that use it hold their own */
    return AP_OK;
}

void
gate_free(struct gate *g)
{
    if (g == NULL) {
        return;
    }
    if (g->thread_started) {
        gate_quiesce(g);
    }
    /* Workers have stopped: whatever they held, returned or not, is ours. */
    while (g->lists[PH_WORKER].head != NULL) {
        conn_free(g, g->lists[PH_WORKER].head, C_NONE);
    }
    for (int ph = 0; ph < PH__N; ph++) {
        while (g->lists[ph].head != NULL) {
            conn_free(g, g->lists[ph].head, C_NONE);
        }
    }
    for (size_t i = 0; i < g->inbox_n; i++) {
        close(g->inbox[i].fd);
    }
    ip_table_fini(&g->ipt);
    free(g->inbox);
    free(g->work);
    if (g->ep >= 0) {
        close(g->ep);
    }
    if (g->wake >= 0) {
        close(g->wake);
    }
    gate_tls_put(g->tls);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

ap_err
gate_start(const struct gate_limits *lim, const char *tls_pem_file,
           gate_dispatch_fn dispatch, gate_headers_fn headers, void *arg,
           struct gate **out,
           char *errbuf, size_t errlen)
{
    struct gate *g;
    struct epoll_event ev;
    ap_err rc;

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return AP_ENOMEM;
    }
    g->ep = g->wake = -1;
    pthread_mutex_init(&g->mu, NULL);
    g->lim = *lim;
    g->dispatch = dispatch;
    g->headers = headers;
    g->arg = arg;
    if (g->lim.max_inflight == 0) {
        g->lim.max_inflight = 1;
    }
    g->raw_cap = frame_raw_cap(lim->max_head, lim->max_body);
    g->timeout[PH_TLS] = lim->handshake_ms;
    g->timeout[PH_HEAD] = lim->head_ms;
    g->timeout[PH_BODY] = lim->body_ms;
    g->timeout[PH_IDLE] = lim->idle_ms;
    g->timeout[PH_LINGER] = LINGER_MS;
    fd_limit(g);
    g->inbox = calloc(INBOX_MAX, sizeof(*g->inbox));
    g->work = calloc(INBOX_MAX, sizeof(*g->work));
    if (ip_table_init(&g->ipt, g->lim.max_conns,
                      (uint64_t)time_mono_ms() ^ (uint64_t)(uintptr_t)g) != AP_OK ||
        g->inbox == NULL || g->work == NULL) {
        rc = AP_ENOMEM;
        goto fail;
    }
    if (tls_pem_file != NULL &&
        (rc = gate_tls_new(tls_pem_file, &g->tls, errbuf, errlen)) != AP_OK) {
        goto fail;
    }
    g->https = tls_pem_file != NULL;
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    g->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (g->ep < 0 || g->wake < 0) {
        snprintf(errbuf, errlen, "epoll/eventfd: %s", strerror(errno));
        rc = AP_EINTERNAL;
        goto fail;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, g->wake, &ev) != 0 ||
        pthread_create(&g->thread, NULL, gate_main, g) != 0) {
        snprintf(errbuf, errlen, "cannot start the connection gate");
        rc = AP_EINTERNAL;
        goto fail;
    }
    g->thread_started = true;
    *out = g;
    return AP_OK;
fail:
    gate_free(g);
    return rc;
}

static void
wake(struct gate *g)
{
    uint64_t one = 1;

    (void)!write(g->wake, &one, sizeof(one));
}

bool
gate_alive(struct gate *g, unsigned timeout_ms)
{
    unsigned long long t = atomic_load(&g->turns);
    long long end = time_mono_ms() + timeout_ms;
    struct timespec ts = { 0, 5 * 1000000L };

    wake(g);
    while (atomic_load(&g->turns) == t) {
        if (time_mono_ms() >= end) {
            return false;
        }
        nanosleep(&ts, NULL);
    }
    return true;
}

void
gate_accept(struct gate *g, int fd, const void *peer, size_t peer_len)
{
    unsigned char key[16];
    bool queued = false;

    ip_key(peer, peer_len, key);
    pthread_mutex_lock(&g->mu);
    if (!g->stopping && g->inbox_n < INBOX_MAX) {
        g->inbox[g->inbox_n].fd = fd;
        memcpy(g->inbox[g->inbox_n].key, key, 16);
        g->inbox_n++;
        queued = true;
    }
    pthread_mutex_unlock(&g->mu);
    if (!queued) {
        close(fd);
        count(g, C_REFUSED_TOTAL);
        return;
    }
    wake(g);
}

/* The common end of a request: the connection stays open and nothing of
 * the next request has been read (no bytes after this one in the buffer,
 * none decrypted in TLS). The worker then arms the socket for the next
 * request itself, and wakes the gate's thread only when that thread would
 * not look at the returned connections before the idle deadline: under
 * load it is awake anyway, and idle it wakes at least every second. The
 * next request is then one event on the gate's thread, with no wake-up
 * and no epoll_ctl of its own. Anything else (close, a pipelined request,
 * stopping) goes through the gate's thread as before. */
void
gate_done(struct gate_conn *c, bool keep_alive)
{
    struct gate *g = c->g;
    long long now = time_mono_ms();
    bool quiet = keep_alive && c->len == c->msg_len &&
                 gate_io_pending(&c->io) == 0;
    bool need_wake = true;

    pthread_mutex_lock(&g->mu);
    c->keep_alive = keep_alive;
    c->rearmed = false;
    c->returned_ms = now;
    if (quiet && !g->stopping) {
        struct epoll_event ev;

        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.ptr = c;
        /* Registered since its request was read, and disarmed by the
         * report of its last bytes: MOD arms it again. */
        c->rearmed = c->in_epoll &&
                     epoll_ctl(g->ep, EPOLL_CTL_MOD, c->io.net.fd, &ev) == 0;
    }
    c->ret_next = g->returned;
    g->returned = c;
    /* The gate's thread is awake (it looks before it sleeps), or asleep
     * no later than the idle deadline with no request waiting for the
     * worker this one frees. */
    if (c->rearmed && !g->wants_returns &&
        (g->sleep_until == 0 || g->timeout[PH_IDLE] == 0 ||
         g->sleep_until <= now + g->timeout[PH_IDLE])) {
        need_wake = false;
    }
    pthread_mutex_unlock(&g->mu);
    if (need_wake) {
        wake(g);
    }
}

void
gate_stats(struct gate *g, struct gate_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->accepted = atomic_load(&g->cnt[C_ACCEPTED]);
    out->refused_total = atomic_load(&g->cnt[C_REFUSED_TOTAL]);
    out->refused_ip = atomic_load(&g->cnt[C_REFUSED_IP]);
    out->timeout_handshake = atomic_load(&g->cnt[C_TO_HANDSHAKE]);
    out->timeout_head = atomic_load(&g->cnt[C_TO_HEAD]);
    out->timeout_body = atomic_load(&g->cnt[C_TO_BODY]);
    out->timeout_idle = atomic_load(&g->cnt[C_TO_IDLE]);
    out->tls_failed = atomic_load(&g->cnt[C_TLS_FAILED]);
    out->bad_request = atomic_load(&g->cnt[C_BAD_REQUEST]);
    out->requests = atomic_load(&g->cnt[C_REQUESTS]);
    out->open = atomic_load(&g->open);
    out->open_peak = atomic_load(&g->open_peak);
}

void
gate_quiesce(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    pthread_mutex_unlock(&g->mu);
    if (g->thread_started) {
        wake(g);
        pthread_join(g->thread, NULL);
        g->thread_started = false;
    }
}
