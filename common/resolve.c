/* common/resolve.c: A/AAAA and TXT lookups through a chosen DNS server or
 * the system's, bounded by one deadline.
 *
 * Each call takes its thread's c-ares channel (so threads never share
 * one; see "Channels" below), sends its queries (AAAA and A at once for a host), and drives the
 * channel with poll() until every lookup has ended or the deadline has
 * come; then whatever is still outstanding is cancelled. A CNAME whose
 * target is not in the answer is asked for from inside the answer's
 * callback, so every hop runs under the same deadline. c-ares does the
 * UDP/TCP dance and the retransmissions; the answers are parsed with
 * libc's ns_initparse (resolve_parse_answer), which follows CNAME chains
 * inside one answer. Between calls, only the library initialisation, the
 * test hook of resolve_set_system_conf and each thread's channel stay.
 *
 * Channels: building one (ares_init_options: resolv.conf, the random
 * query-id key, the server list) was 1.6 % of the proxy's CPU under load
 * (issue 18), so a thread keeps its last channel for the next call when
 * that call would build the same one: the same configured resolver, or
 * for the system resolver the same resolv.conf (path, inode, size and
 * mtime) and test port, and the same per-try timeout (a third of the time
 * left, within RESOLVE_TRY_MS_MIN..MAX, in steps of 100 ms). Anything else
 * (a reload with another resolver, an edited resolv.conf) builds a new
 * one and drops the old. A call leaves no query behind (drive cancels
 * what is outstanding), and c-ares matches answers by id and question, so
 * a late answer to an earlier call is dropped, never taken for a new
 * query. The channel is destroyed when its thread ends. */
#include "common/resolve.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ares.h>

#include "common/timeutil.h"

#define RESOLVE_MAX_ANSWER 65536
#define RESOLVE_TRY_MS_MIN 100    /* c-ares' first wait for an answer ... */
#define RESOLVE_TRY_MS_MAX 1000   /* ... a third of the time left, within */
#define RESOLVE_TRIES 4           /* per server; each wait doubles */

ap_err
resolve_parse_server(const char *text, struct sockaddr_storage *out)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t hlen;
    char *end = NULL;
    long port;

    if (colon == NULL) {
        return AP_EINVAL;
    }
    hlen = (size_t)(colon - text);
    if (text[0] == '[') {
        /* "[v6]:port" */
        if (hlen < 3 || text[hlen - 1] != ']') {
            return AP_EINVAL;
        }
        h = text + 1;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        return AP_EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (colon[1] < '0' || colon[1] > '9') {
        return AP_EINVAL;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port < 1 || port > 65535) {
        return AP_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (h == text) {
        struct sockaddr_in *sa = (struct sockaddr_in *)(void *)out;

        sa->sin_family = AF_INET;
        sa->sin_port = htons((unsigned short)port);
        return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? AP_OK
                                                            : AP_EINVAL;
    } else {
        struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)(void *)out;

        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((unsigned short)port);
        return inet_pton(AF_INET6, host, &sa6->sin6_addr) == 1 ? AP_OK
                                                               : AP_EINVAL;
    }
}

/* ---- answer parsing ------------------------------------------------ */

/* Copies name without a trailing dot. */
static bool
name_copy(char *out, size_t outlen, const char *in)
{
    size_t n = strlen(in);

    if (n > 0 && in[n - 1] == '.') {
        n--;
    }
    if (n >= outlen) {
        return false;
    }
    memcpy(out, in, n);
    out[n] = '\0';
    return true;
}

ap_err
resolve_parse_answer(const unsigned char *msg, size_t len, const char *qname,
                     int qtype, resolve_rr_fn fn, void *arg,
                     struct resolve_answer *out)
{
    char chain[RESOLVE_MAX_CNAMES + 1][RESOLVE_MAX_NAME];
    size_t n_chain = 1;
    ns_msg m;
    ns_rr rr;
    int n_an;
    bool progress = true;

    memset(out, 0, sizeof(*out));
    if (len > RESOLVE_MAX_ANSWER || ns_initparse(msg, (int)len, &m) != 0) {
        return AP_EPARSE;
    }
    out->rcode = ns_msg_getflag(m, ns_f_rcode);
    if (!ns_msg_getflag(m, ns_f_qr) || ns_msg_count(m, ns_s_qd) != 1 ||
        !name_copy(chain[0], sizeof(chain[0]), qname)) {
        return AP_EPARSE;
    }
    /* The question must be ours. */
    if (ns_parserr(&m, ns_s_qd, 0, &rr) != 0 ||
        strcasecmp(ns_rr_name(rr), chain[0]) != 0 ||
        (int)ns_rr_type(rr) != qtype || ns_rr_class(rr) != ns_c_in) {
        return AP_EPARSE;
    }
    n_an = ns_msg_count(m, ns_s_an);
    /* Follow the CNAME chain from qname; records may come in any order,
     * so walk the section until a pass adds nothing. */
    while (progress) {
        progress = false;
        for (int i = 0; i < n_an; i++) {
            char target[NS_MAXDNAME];

            if (ns_parserr(&m, ns_s_an, i, &rr) != 0) {
                return AP_EPARSE;
            }
            if (ns_rr_type(rr) != ns_t_cname || qtype == ns_t_cname ||
                ns_rr_class(rr) != ns_c_in ||
                strcasecmp(ns_rr_name(rr), chain[n_chain - 1]) != 0) {
                continue;
            }
            if (ns_name_uncompress(ns_msg_base(m), ns_msg_end(m),
                                   ns_rr_rdata(rr), target,
                                   sizeof(target)) < 0) {
                return AP_EPARSE;
            }
            for (size_t k = 0; k < n_chain; k++) {
                if (strcasecmp(chain[k], target) == 0 ||
                    (target[0] == '.' && target[1] == '\0')) {
                    return AP_EPARSE; /* a loop, or a CNAME to the root */
                }
            }
            if (n_chain > RESOLVE_MAX_CNAMES ||
                !name_copy(chain[n_chain], sizeof(chain[0]), target)) {
                return AP_EPARSE;
            }
            n_chain++;
            progress = true;
        }
    }
    /* Only the chain's end may own data (RFC 1034 §3.6.2). */
    for (int i = 0; i < n_an; i++) {
        if (ns_parserr(&m, ns_s_an, i, &rr) != 0) {
            return AP_EPARSE;
        }
        if ((int)ns_rr_type(rr) != qtype || ns_rr_class(rr) != ns_c_in ||
            strcasecmp(ns_rr_name(rr), chain[n_chain - 1]) != 0) {
            continue;
        }
        if (fn != NULL) {
            fn(arg, ns_rr_rdata(rr), ns_rr_rdlen(rr));
        }
        out->n++;
    }
    if (out->n == 0 && n_chain > 1) {
        memcpy(out->cname, chain[n_chain - 1], sizeof(out->cname));
    }
    return AP_OK;
}

ap_err
resolve_txt_rdata(const unsigned char *rdata, size_t len, char *out,
                  size_t outlen)
{
    size_t o = 0;
    size_t i = 0;

    if (outlen == 0) {
        return AP_EINVAL;
    }
    while (i < len) {
        size_t slen = rdata[i++];

        if (slen > len - i) {
            out[0] = '\0';
            return AP_EPARSE;
        }
        for (size_t k = 0; k < slen; k++, i++) {
            if (o + 1 < outlen) {
                unsigned char c = rdata[i];

                out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
            }
        }
    }
    out[o] = '\0';
    return AP_OK;
}

static const char *
rcode_name(int rcode)
{
    switch (rcode) {
    case ns_r_formerr:
        return "FORMERR";
    case ns_r_servfail:
        return "SERVFAIL";
    case ns_r_notimpl:
        return "NOTIMP";
    case ns_r_refused:
        return "REFUSED";
    default:
        return "error";
    }
}

/* One answer of a lookup, judged: see resolve.h. */
ap_err
resolve_answer_step(const unsigned char *abuf, size_t alen, const char *cur,
                    const char *asked, int type, resolve_rr_fn fn, void *arg,
                    const char *label, char *next, size_t nextlen, char *err,
                    size_t errlen)
{
    struct resolve_answer ans;

    next[0] = '\0';
    if (resolve_parse_answer(abuf, alen, cur, type, fn, arg, &ans) !=
        AP_OK) {
        snprintf(err, errlen, "DNS (%s): malformed or looping answer for "
                 "%.100s", label, cur);
        return AP_EPARSE;
    }
    if (ans.rcode == ns_r_nxdomain) {
        snprintf(err, errlen, "DNS (%s): %.100s does not exist (NXDOMAIN)%s",
                 label, cur,
                 strcasecmp(cur, asked) != 0 ? ", reached by CNAME" : "");
        return AP_ENOTFOUND;
    }
    if (ans.rcode != ns_r_noerror) {
        snprintf(err, errlen, "DNS (%s): %s for %.100s", label,
                 rcode_name(ans.rcode), cur);
        return ans.rcode == ns_r_servfail ? AP_ETIMEOUT : AP_ENET;
    }
    if (ans.cname[0] != '\0') {
        if (strlen(ans.cname) >= nextlen) {
            snprintf(err, errlen, "DNS (%s): CNAME target too long for "
                     "%.100s", label, cur);
            return AP_EPARSE;
        }
        memcpy(next, ans.cname, strlen(ans.cname) + 1);
    }
    return AP_OK;
}

/* ---- queries ------------------------------------------------------- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status = ARES_ENOTINITIALIZED;
/* resolve_set_system_conf (tests): set before any lookup, then only read */
static char sys_conf[256];
static unsigned sys_port;

static void
lib_init(void)
{
    lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

void
resolve_set_system_conf(const char *resolv_conf, unsigned port)
{
    snprintf(sys_conf, sizeof(sys_conf), "%s",
             resolv_conf != NULL ? resolv_conf : "");
    sys_port = port;
}

/* One c-ares channel and the lookups running on it. */
struct chan {
    ares_channel ch;
    char label[72];            /* for messages: "127.0.0.1:53", "system
                                  resolver" */
    long long deadline_ms;     /* the attempt's */
    long long stop_ms;         /* deadline_ms, or earlier (resolve_host) */
    bool shorten;              /* halve the time left once a lookup found
                                  records and another is still running */
    int pending;               /* lookups that have not ended */
    bool kept;                 /* ch is the thread's (chan_slot) */
};

/* A (name, type) lookup with its CNAME hops. */
struct lookup {
    struct chan *c;
    int type;
    const char *asked;         /* the name first asked (borrowed) */
    char cur[RESOLVE_MAX_NAME];/* the name asked now */
    int hops;
    resolve_rr_fn fn;
    void *arg;
    size_t n;                  /* records handed to fn */
    bool done;
    ap_err rc;
    char final[RESOLVE_MAX_NAME];  /* who owned the records (AP_OK) */
    char err[320];
};

/* ---------------------------------------------------------- channels */

/* A thread's kept channel and what it was built from. */
struct chan_slot {
    ares_channel ch;           /* NULL: none */
    char key[384];
};

static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static int slot_status = -1;   /* 0 once slot_key exists */
static atomic_ullong chans_built;
static atomic_ullong chans_reused;

static void
slot_free(void *arg)
{
    struct chan_slot *slot = arg;

    if (slot->ch != NULL) {
        ares_destroy(slot->ch);
    }
    free(slot);
}

static void
slot_init(void)
{
    slot_status = pthread_key_create(&slot_key, slot_free);
}

/* The calling thread's slot, made on first use; NULL when there is none
 * (no memory): then every call builds its own channel. */
static struct chan_slot *
slot_get(void)
{
    struct chan_slot *slot;

    (void)pthread_once(&slot_once, slot_init);
    if (slot_status != 0) {
        return NULL;
    }
    slot = pthread_getspecific(slot_key);
    if (slot == NULL) {
        slot = calloc(1, sizeof(*slot));
        if (slot != NULL && pthread_setspecific(slot_key, slot) != 0) {
            free(slot);
            slot = NULL;
        }
    }
    return slot;
}

void
resolve_chan_stats(unsigned long long *built, unsigned long long *reused)
{
    *built = atomic_load(&chans_built);
    *reused = atomic_load(&chans_reused);
}

void
resolve_thread_release(void)
{
    struct chan_slot *slot;

    (void)pthread_once(&slot_once, slot_init);
    if (slot_status != 0) {
        return;
    }
    slot = pthread_getspecific(slot_key);
    if (slot != NULL) {
        (void)pthread_setspecific(slot_key, NULL);
        slot_free(slot);
    }
}

/* Writes what a channel for (resolver, timeout) is built from into key:
 * equal keys build equal channels. */
static void
chan_key(bool custom, const char *resolver, int timeout, char *key,
         size_t keylen)
{
    const char *conf = sys_conf[0] != '\0' ? sys_conf : "/etc/resolv.conf";
    struct stat st;

    if (custom) {
        snprintf(key, keylen, "r %.200s t %d", resolver, timeout);
        return;
    }
    memset(&st, 0, sizeof(st));
    if (stat(conf, &st) != 0) {
        /* none to read: c-ares falls back to its defaults */
        memset(&st, 0, sizeof(st));
    }
    snprintf(key, keylen, "s %.255s %u %llu %llu %lld.%09ld t %d", conf,
             sys_port, (unsigned long long)st.st_ino,
             (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec,
             st.st_mtim.tv_nsec, timeout);
}

/* c-ares' socket calls, ours (ares_set_socket_functions) only so that a
 * socket is made non-blocking and close-on-exec in the socket() call
 * itself: c-ares makes its own sockets so with three fcntl calls each,
 * one socket per lookup (issue 18: a system call is dear here), and
 * leaves the set-up of sockets it did not make to their maker. Nothing
 * else changes: no bind (the kernel picks a random source port for each
 * socket, as before), the same connect, reads and writes; TCP (answers
 * that did not fit in UDP) gets TCP_NODELAY, as c-ares would set. */
static ares_socket_t
sock_open(int domain, int type, int protocol, void *user)
{
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);

    (void)user;
    if (fd >= 0 && type == SOCK_STREAM) {
        int one = 1;

        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd >= 0 ? (ares_socket_t)fd : ARES_SOCKET_BAD;
}

static int
sock_close(ares_socket_t fd, void *user)
{
    (void)user;
    return close(fd);
}

static int
sock_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len,
             void *user)
{
    (void)user;
    return connect(fd, sa, len);
}

static ares_ssize_t
sock_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
              struct sockaddr *from, ares_socklen_t *from_len, void *user)
{
    (void)user;
    return recvfrom(fd, buf, len, flags, from, from_len);
}

static ares_ssize_t
sock_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *user)
{
    (void)user;
    return writev(fd, iov, n);
}

static const struct ares_socket_functions sock_funcs = {
    .asocket = sock_open,
    .aclose = sock_close,
    .aconnect = sock_connect,
    .arecvfrom = sock_recvfrom,
    .asendv = sock_sendv,
};

/* Builds a new channel into *ch. */
static ap_err
chan_build(bool custom, const struct sockaddr_storage *ss, int timeout,
           const char *label, ares_channel *ch, char *err, size_t errlen)
{
    struct ares_options opts;
    struct ares_addr_port_node node;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    int st;

    memset(&opts, 0, sizeof(opts));
    /* Every answer comes back, SERVFAIL and REFUSED included, so the
     * detail can name the rcode (c-ares would otherwise try the next
     * server and report only "connection refused"). */
    opts.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH |
                 ARES_FLAG_NOALIASES;
    opts.timeout = timeout;
    opts.tries = RESOLVE_TRIES;
    if (!custom && sys_conf[0] != '\0') {
        opts.resolvconf_path = sys_conf;
        mask |= ARES_OPT_RESOLVCONF;
    }
    if (!custom && sys_port != 0) {
        opts.udp_port = (unsigned short)sys_port;
        opts.tcp_port = (unsigned short)sys_port;
        mask |= ARES_OPT_UDP_PORT | ARES_OPT_TCP_PORT;
    }
    st = ares_init_options(ch, &opts, mask);
    if (st != ARES_SUCCESS) {
        *ch = NULL;
        snprintf(err, errlen, "DNS (%s): c-ares: %s", label,
                 ares_strerror(st));
        return st == ARES_ENOMEM ? AP_ENOMEM : AP_ENET;
    }
    ares_set_socket_functions(*ch, &sock_funcs, NULL);
    if (custom) {
        /* Exactly this server, whatever resolv.conf says. */
        memset(&node, 0, sizeof(node));
        node.family = ss->ss_family;
        if (ss->ss_family == AF_INET6) {
            const struct sockaddr_in6 *s6 =
                (const struct sockaddr_in6 *)(const void *)ss;

            memcpy(&node.addr.addr6, &s6->sin6_addr, 16);
            node.udp_port = ntohs(s6->sin6_port);
        } else {
            const struct sockaddr_in *s4 =
                (const struct sockaddr_in *)(const void *)ss;

            memcpy(&node.addr.addr4, &s4->sin_addr, 4);
            node.udp_port = ntohs(s4->sin_port);
        }
        node.tcp_port = node.udp_port;
        st = ares_set_servers_ports(*ch, &node);
        if (st != ARES_SUCCESS) {
            ares_destroy(*ch);
            *ch = NULL;
            snprintf(err, errlen, "DNS (%s): c-ares: %s", label,
                     ares_strerror(st));
            return st == ARES_ENOMEM ? AP_ENOMEM : AP_ENET;
        }
    }
    atomic_fetch_add(&chans_built, 1);
    return AP_OK;
}

static ap_err
chan_open(const char *resolver, long long deadline_ms, struct chan *c,
          char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    struct chan_slot *slot;
    bool custom = resolver != NULL && resolver[0] != '\0';
    long long left = deadline_ms - time_mono_ms();
    char key[sizeof(slot->key)];
    int timeout;
    ap_err rc;

    memset(c, 0, sizeof(c[0]));
    memset(&ss, 0, sizeof(ss));
    c->deadline_ms = deadline_ms;
    c->stop_ms = deadline_ms;
    snprintf(c->label, sizeof(c->label), "%.64s",
             custom ? resolver : "system resolver");
    if (custom && resolve_parse_server(resolver, &ss) != AP_OK) {
        snprintf(err, errlen, "resolver %.64s is not host:port or "
                 "[IPv6]:port", resolver);
        return AP_EINVAL;
    }
    if (left <= 0) {
        snprintf(err, errlen, "DNS (%s): the deadline passed before the "
                 "first query", c->label);
        return AP_ETIMEOUT;
    }
    (void)pthread_once(&lib_once, lib_init);
    if (lib_status != ARES_SUCCESS) {
        snprintf(err, errlen, "DNS: c-ares: %s", ares_strerror(lib_status));
        return AP_ENET;
    }
    /* c-ares' first wait: a third of the time left, within bounds, in
     * steps of 100 ms so that a thread's next call can use the channel. */
    timeout = (int)(left / 3 < RESOLVE_TRY_MS_MIN   ? RESOLVE_TRY_MS_MIN
                    : left / 3 > RESOLVE_TRY_MS_MAX ? RESOLVE_TRY_MS_MAX
                                                    : left / 3 / 100 * 100);
    slot = slot_get();
    if (slot != NULL) {
        chan_key(custom, resolver, timeout, key, sizeof(key));
        if (slot->ch != NULL && strcmp(slot->key, key) == 0) {
            c->ch = slot->ch;
            c->kept = true;
            atomic_fetch_add(&chans_reused, 1);
            return AP_OK;
        }
    }
    rc = chan_build(custom, &ss, timeout, c->label, &c->ch, err, errlen);
    if (rc != AP_OK || slot == NULL) {
        return rc;
    }
    /* The new channel replaces the thread's old one. */
    if (slot->ch != NULL) {
        ares_destroy(slot->ch);
    }
    slot->ch = c->ch;
    memcpy(slot->key, key, sizeof(slot->key));
    c->kept = true;
    return AP_OK;
}

/* Ends the call's use of the channel: a kept one stays with its thread
 * (drive left no query on it), another is destroyed. */
static void
chan_close(struct chan *c)
{
    if (c->ch != NULL && !c->kept) {
        ares_destroy(c->ch);
    }
    c->ch = NULL;
}

static void
lookup_end(struct lookup *l, ap_err rc)
{
    struct chan *c = l->c;

    l->done = true;
    l->rc = rc;
    if (rc == AP_OK) {
        snprintf(l->final, sizeof(l->final), "%s", l->cur);
    }
    c->pending--;
    if (c->shorten && l->n > 0 && c->pending > 0) {
        /* One family answered: the other gets half of what is left, so
         * a server that ignores AAAA (or A) queries leaves time to
         * connect. */
        long long now = time_mono_ms();

        if (c->stop_ms > now) {
            c->stop_ms = now + (c->stop_ms - now) / 2;
        }
    }
}

/* Counts the records, then hands them on. */
static void
count_rr(void *arg, const unsigned char *rdata, size_t rdlen)
{
    struct lookup *l = arg;

    l->n++;
    if (l->fn != NULL) {
        l->fn(l->arg, rdata, rdlen);
    }
}

static ap_err
status_error(const struct lookup *l, int status, char *err, size_t errlen)
{
    const char *label = l->c->label;

    switch (status) {
    case ARES_ETIMEOUT:
        snprintf(err, errlen, "DNS (%s): no answer (timeout) for %.100s",
                 label, l->cur);
        return AP_ETIMEOUT;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        snprintf(err, errlen, "DNS (%s): no answer for %.100s within the "
                 "validation deadline", label, l->cur);
        return AP_ETIMEOUT;
    case ARES_EBADNAME:
        snprintf(err, errlen, "DNS (%s): cannot ask for %.100s", label,
                 l->cur);
        return AP_EINVAL;
    case ARES_ENOMEM:
        snprintf(err, errlen, "out of memory");
        return AP_ENOMEM;
    case ARES_ECONNREFUSED:
        snprintf(err, errlen, "DNS (%s): connection refused for %.100s",
                 label, l->cur);
        return AP_ENET;
    default:
        snprintf(err, errlen, "DNS (%s): %s for %.100s", label,
                 ares_strerror(status), l->cur);
        return AP_ENET;
    }
}

static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct lookup *l = arg;
    char next[RESOLVE_MAX_NAME];
    ap_err rc;

    (void)timeouts;
    if (abuf == NULL || alen <= 0) {
        lookup_end(l, status_error(l, status, l->err, sizeof(l->err)));
        return;
    }
    /* With ARES_FLAG_NOCHECKRESP every response arrives here, whatever
     * its rcode (status already says which); the answer is judged. */
    rc = resolve_answer_step(abuf, (size_t)alen, l->cur, l->asked, l->type,
                             count_rr, l, l->c->label, next, sizeof(next),
                             l->err, sizeof(l->err));
    if (rc != AP_OK || next[0] == '\0') {
        lookup_end(l, rc);
        return;
    }
    if (++l->hops > RESOLVE_MAX_CNAMES) {
        snprintf(l->err, sizeof(l->err), "DNS (%s): CNAME chain from "
                 "%.100s longer than %d", l->c->label, l->asked,
                 RESOLVE_MAX_CNAMES);
        lookup_end(l, AP_EPARSE);
        return;
    }
    /* The chain leaves this answer: ask for its target (an authoritative
     * server does not follow CNAMEs), under the same deadline. */
    memcpy(l->cur, next, sizeof(l->cur));
    ares_query(l->c->ch, l->cur, ns_c_in, l->type, on_answer, l);
}

static void
lookup_start(struct chan *c, struct lookup *l, const char *name, int type,
             resolve_rr_fn fn, void *arg)
{
    memset(l, 0, sizeof(*l));
    l->c = c;
    l->type = type;
    l->asked = name;
    l->fn = fn;
    l->arg = arg;
    c->pending++;
    if (!name_copy(l->cur, sizeof(l->cur), name)) {
        snprintf(l->err, sizeof(l->err), "name too long");
        lookup_end(l, AP_EINVAL);
        return;
    }
    ares_query(c->ch, l->cur, ns_c_in, type, on_answer, l);
}

/* Runs the channel until no lookup is pending or c->stop_ms (which can
 * move closer while it runs) has come; then cancels what is left, whose
 * callbacks end those lookups with AP_ETIMEOUT. poll() on the sockets
 * c-ares names (ares_getsock), so descriptor numbers above FD_SETSIZE
 * are fine. */
static void
drive(struct chan *c)
{
    while (c->pending > 0) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        struct timeval maxtv;
        struct timeval tv;
        struct timeval *tvp;
        long long left = c->stop_ms - time_mono_ms();
        nfds_t n = 0;
        unsigned bits;
        int wait_ms;
        int r;

        if (left <= 0) {
            break;
        }
        /* ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit for
         * the 16th socket; the same bits, unsigned. */
        bits = (unsigned)ares_getsock(c->ch, socks, ARES_GETSOCK_MAXNUM);
        for (unsigned i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            short ev = 0;

            if ((bits & (1u << i)) != 0) {
                ev |= POLLIN;
            }
            if ((bits & (1u << (i + ARES_GETSOCK_MAXNUM))) != 0) {
                ev |= POLLOUT;
            }
            if (ev != 0) {
                pfd[n].fd = socks[i];
                pfd[n].events = ev;
                pfd[n].revents = 0;
                n++;
            }
        }
        maxtv.tv_sec = (time_t)(left / 1000);
        maxtv.tv_usec = (suseconds_t)((left % 1000) * 1000);
        tvp = ares_timeout(c->ch, &maxtv, &tv);
        wait_ms = (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000);
        r = poll(pfd, n, wait_ms);
        if (r < 0 && errno != EINTR) {
            break;
        }
        if (r <= 0) {
            /* Time for c-ares to retransmit or give up. */
            ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (nfds_t i = 0; i < n; i++) {
            short re = pfd[i].revents;

            if (re == 0) {
                continue;
            }
            ares_process_fd(c->ch,
                            (re & (POLLIN | POLLERR | POLLHUP)) != 0
                                ? pfd[i].fd
                                : ARES_SOCKET_BAD,
                            (re & POLLOUT) != 0 ? pfd[i].fd
                                                : ARES_SOCKET_BAD);
        }
    }
    if (c->pending > 0) {
        ares_cancel(c->ch);
    }
}

static void
add_addr(struct resolve_result *out, int family, const void *addr)
{
    char text[46];

    if (out->n >= RESOLVE_MAX_ADDRS ||
        inet_ntop(family, addr, text, sizeof(text)) == NULL) {
        return;
    }
    for (size_t i = 0; i < out->n; i++) {
        if (strcmp(out->addrs[i], text) == 0) {
            return;
        }
    }
    snprintf(out->addrs[out->n], sizeof(out->addrs[0]), "%s", text);
    out->n++;
}

static void
on_aaaa(void *arg, const unsigned char *rdata, size_t rdlen)
{
    if (rdlen == 16) {
        add_addr(arg, AF_INET6, rdata);
    }
}

static void
on_a(void *arg, const unsigned char *rdata, size_t rdlen)
{
    if (rdlen == 4) {
        add_addr(arg, AF_INET, rdata);
    }
}

/* The system mode's /etc/hosts (c-ares reads it; the first line for each
 * family), IPv6 first. True when it knows name. */
static bool
hosts_file(struct chan *c, const char *name, struct resolve_result *out)
{
    static const int families[] = { AF_INET6, AF_INET };

    for (size_t f = 0; f < 2; f++) {
        struct hostent *h = NULL;

        if (ares_gethostbyname_file(c->ch, name, families[f], &h) !=
                ARES_SUCCESS ||
            h == NULL) {
            continue;
        }
        for (size_t i = 0; h->h_addr_list[i] != NULL; i++) {
            if (h->h_addrtype == families[f] &&
                h->h_length == (families[f] == AF_INET6 ? 16 : 4)) {
                add_addr(out, families[f], h->h_addr_list[i]);
            }
        }
        ares_free_hostent(h);
    }
    return out->n > 0;
}

ap_err
resolve_host(const char *resolver, const char *name, long long deadline_ms,
             struct resolve_result *out)
{
    struct resolve_result *v6 = NULL;
    struct resolve_result *v4 = NULL;
    struct lookup l6;
    struct lookup l4;
    struct chan c;
    ap_err rc;

    memset(out, 0, sizeof(*out));
    v6 = calloc(1, sizeof(*v6));
    v4 = calloc(1, sizeof(*v4));
    if (v6 == NULL || v4 == NULL) {
        snprintf(out->error, sizeof(out->error), "out of memory");
        rc = AP_ENOMEM;
        goto out;
    }
    rc = chan_open(resolver, deadline_ms, &c, out->error,
                   sizeof(out->error));
    if (rc != AP_OK) {
        goto out;
    }
    if ((resolver == NULL || resolver[0] == '\0') &&
        hosts_file(&c, name, out)) {
        /* As the system's resolver does: the hosts file first, and no
         * DNS query for a name it knows. */
        chan_close(&c);
        rc = AP_OK;
        goto out;
    }
    c.shorten = true;
    lookup_start(&c, &l6, name, ns_t_aaaa, on_aaaa, v6);
    lookup_start(&c, &l4, name, ns_t_a, on_a, v4);
    drive(&c);
    chan_close(&c);
    /* IPv6 first, as validation authorities do. */
    for (size_t i = 0; i < v6->n; i++) {
        memcpy(out->addrs[out->n++], v6->addrs[i], sizeof(out->addrs[0]));
    }
    for (size_t i = 0; i < v4->n && out->n < RESOLVE_MAX_ADDRS; i++) {
        memcpy(out->addrs[out->n++], v4->addrs[i], sizeof(out->addrs[0]));
    }
    if (out->n > 0) {
        rc = AP_OK;
    } else if (l4.rc == AP_ENOTFOUND || l6.rc == AP_ENOTFOUND) {
        snprintf(out->error, sizeof(out->error), "%s",
                 l4.rc == AP_ENOTFOUND ? l4.err : l6.err);
        rc = AP_ENOTFOUND;
    } else if (l4.rc != AP_OK) {
        snprintf(out->error, sizeof(out->error), "%s", l4.err);
        rc = l4.rc;
    } else if (l6.rc != AP_OK) {
        snprintf(out->error, sizeof(out->error), "%s", l6.err);
        rc = l6.rc;
    } else {
        snprintf(out->error, sizeof(out->error),
                 "DNS (%s): no A or AAAA record for %.100s", c.label, name);
        rc = AP_ENOTFOUND;
    }
out:
    free(v6);
    free(v4);
    return rc;
}

static void
on_txt(void *arg, const unsigned char *rdata, size_t rdlen)
{
    struct resolve_txt_result *out = arg;

    if (out->n >= RESOLVE_MAX_TXT) {
        return;
    }
    if (resolve_txt_rdata(rdata, rdlen, out->txt[out->n],
                          sizeof(out->txt[0])) == AP_OK) {
        out->n++;
    }
}

ap_err
resolve_txt(const char *resolver, const char *name, long long deadline_ms,
            struct resolve_txt_result *out)
{
    struct lookup l;
    struct chan c;
    ap_err rc;

    memset(out, 0, sizeof(*out));
    rc = chan_open(resolver, deadline_ms, &c, out->error,
                   sizeof(out->error));
    if (rc != AP_OK) {
        return rc;
    }
    lookup_start(&c, &l, name, ns_t_txt, on_txt, out);
    drive(&c);
    chan_close(&c);
    if (l.rc == AP_OK) {
        snprintf(out->name, sizeof(out->name), "%s", l.final);
    } else {
        snprintf(out->error, sizeof(out->error), "%s", l.err);
    }
    return l.rc;
}
