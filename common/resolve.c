/* common/resolve.c: A/AAAA and TXT lookups through a chosen DNS server or
 * the system resolver.
 *
 * The per-call resolver state is set up here (res_ninit, then its server
 * list replaced); queries go out with res_nsend, which retries over TCP
 * when a UDP answer is truncated, and answers are parsed with
 * ns_initparse. Nothing here keeps state between calls. */
#include "common/resolve.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESOLVE_MAX_ANSWER 65536
#define RESOLVE_MAX_QUERY 512

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

/* ---- queries ------------------------------------------------------- */

struct server {
    struct __res_state st;
    char label[72];          /* for messages: "127.0.0.1:53" or "system" */
};

/* res_ninit, then (when resolver is set) exactly one server: resolver.
 * glibc keeps IPv6 servers in _u._ext.nsaddrs (malloc'd, freed by
 * res_nclose) and marks their nsaddr_list slot with family 0; res_ninit
 * may have put the system's there, so those go first. */
static ap_err
server_open(const char *resolver, unsigned timeout_ms, struct server *s,
            char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *sa6 = NULL;
    bool custom = resolver != NULL && resolver[0] != '\0';

    memset(s, 0, sizeof(*s));
    snprintf(s->label, sizeof(s->label), "%.64s",
             custom ? resolver : "system resolver");
    if (custom && resolve_parse_server(resolver, &ss) != AP_OK) {
        snprintf(err, errlen, "resolver %.64s is not host:port or "
                 "[IPv6]:port", resolver);
        return AP_EINVAL;
    }
    if (custom && ss.ss_family == AF_INET6) {
        sa6 = malloc(sizeof(*sa6));
        if (sa6 == NULL) {
            snprintf(err, errlen, "out of memory");
            return AP_ENOMEM;
        }
        memcpy(sa6, &ss, sizeof(*sa6));
    }
    if (res_ninit(&s->st) != 0) {
        free(sa6);
        snprintf(err, errlen, "res_ninit failed");
        return AP_ENET;
    }
    if (custom) {
        for (int i = 0; i < MAXNS; i++) {
            free(s->st._u._ext.nsaddrs[i]);
            s->st._u._ext.nsaddrs[i] = NULL;
        }
        s->st.nscount = 1;
        if (sa6 != NULL) {
            memset(&s->st.nsaddr_list[0], 0, sizeof(s->st.nsaddr_list[0]));
            s->st.nsaddr_list[0].sin_family = 0;
            s->st._u._ext.nsaddrs[0] = sa6;
        } else {
            memcpy(&s->st.nsaddr_list[0], &ss, sizeof(s->st.nsaddr_list[0]));
        }
        /* With its only server answering SERVFAIL or REFUSED, res_nsend
         * returns that answer (instead of ECONNREFUSED) when pfcode is
         * set, so the detail can name the rcode. */
        s->st.pfcode = RES_PRF_QUES;
    }
    s->st.retrans = (int)(timeout_ms / 1000 / 2);
    if (s->st.retrans < 1) {
        s->st.retrans = 1;
    }
    s->st.retry = 2;
    s->st.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
    return AP_OK;
}

static void
server_close(struct server *s)
{
    res_nclose(&s->st);
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

/* Looks up (name, type), following CNAMEs across queries; records go to
 * fn. *final gets the name that owns them. */
static ap_err
lookup(struct server *s, const char *name, int type, resolve_rr_fn fn,
       void *arg, char *final, size_t finallen, char *err, size_t errlen)
{
    unsigned char query[RESOLVE_MAX_QUERY];
    unsigned char *answer = NULL;
    char cur[RESOLVE_MAX_NAME];
    struct resolve_answer ans;
    ap_err rc = AP_EPARSE;

    if (!name_copy(cur, sizeof(cur), name)) {
        snprintf(err, errlen, "name too long");
        return AP_EINVAL;
    }
    answer = malloc(RESOLVE_MAX_ANSWER);
    if (answer == NULL) {
        snprintf(err, errlen, "out of memory");
        return AP_ENOMEM;
    }
    for (int hop = 0; hop <= RESOLVE_MAX_CNAMES; hop++) {
        int qlen;
        int len;

        qlen = res_nmkquery(&s->st, ns_o_query, cur, ns_c_in, type, NULL, 0,
                            NULL, query, sizeof(query));
        if (qlen < 0) {
            snprintf(err, errlen, "DNS (%s): cannot ask for %.100s",
                     s->label, cur);
            rc = AP_EINVAL;
            goto out;
        }
        errno = 0;
        len = res_nsend(&s->st, query, qlen, answer, RESOLVE_MAX_ANSWER);
        if (len < 0) {
            bool timeout = errno == ETIMEDOUT || errno == 0;

            snprintf(err, errlen, "DNS (%s): %s for %.100s", s->label,
                     timeout ? "no answer (timeout)" : strerror(errno), cur);
            rc = timeout ? AP_ETIMEOUT : AP_ENET;
            goto out;
        }
        if (resolve_parse_answer(answer, (size_t)len, cur, type, fn, arg,
                                 &ans) != AP_OK) {
            snprintf(err, errlen, "DNS (%s): malformed or looping answer "
                     "for %.100s", s->label, cur);
            rc = AP_EPARSE;
            goto out;
        }
        if (ans.rcode == ns_r_nxdomain) {
            snprintf(err, errlen, "DNS (%s): %.100s does not exist "
                     "(NXDOMAIN)%s", s->label, cur,
                     strcasecmp(cur, name) != 0 ? ", reached by CNAME" : "");
            rc = AP_ENOTFOUND;
            goto out;
        }
        if (ans.rcode != ns_r_noerror) {
            snprintf(err, errlen, "DNS (%s): %s for %.100s", s->label,
                     rcode_name(ans.rcode), cur);
            rc = ans.rcode == ns_r_servfail ? AP_ETIMEOUT : AP_ENET;
            goto out;
        }
        if (ans.cname[0] == '\0') {
            snprintf(final, finallen, "%s", cur);
            rc = AP_OK;
            goto out;
        }
        snprintf(cur, sizeof(cur), "%s", ans.cname);
    }
    snprintf(err, errlen, "DNS (%s): CNAME chain from %.100s longer than %d",
             s->label, name, RESOLVE_MAX_CNAMES);
    rc = AP_EPARSE;
out:
    free(answer);
    return rc;
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

static ap_err
resolve_with_server(const char *resolver, const char *name,
                    unsigned timeout_ms, struct resolve_result *out)
{
    struct server s;
    char final[RESOLVE_MAX_NAME];
    char err6[320] = "";
    char err4[320] = "";
    ap_err rc6;
    ap_err rc4;
    ap_err rc;

    rc = server_open(resolver, timeout_ms, &s, out->error,
                     sizeof(out->error));
    if (rc != AP_OK) {
        return rc;
    }
    /* IPv6 first, as validation authorities do. */
    rc6 = lookup(&s, name, ns_t_aaaa, on_aaaa, out, final, sizeof(final),
                 err6, sizeof(err6));
    rc4 = lookup(&s, name, ns_t_a, on_a, out, final, sizeof(final), err4,
                 sizeof(err4));
    server_close(&s);
    if (out->n > 0) {
        return AP_OK;
    }
    if (rc4 == AP_ENOTFOUND || rc6 == AP_ENOTFOUND) {
        snprintf(out->error, sizeof(out->error), "%s",
                 rc4 == AP_ENOTFOUND ? err4 : err6);
        return AP_ENOTFOUND;
    }
    if (rc4 != AP_OK) {
        snprintf(out->error, sizeof(out->error), "%s", err4);
        return rc4;
    }
    if (rc6 != AP_OK) {
        snprintf(out->error, sizeof(out->error), "%s", err6);
        return rc6;
    }
    snprintf(out->error, sizeof(out->error),
             "DNS (%s): no A or AAAA record for %.100s", resolver, name);
    return AP_ENOTFOUND;
}

static ap_err
resolve_with_system(const char *name, struct resolve_result *out)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int grc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    grc = getaddrinfo(name, NULL, &hints, &res);
    if (grc != 0) {
        snprintf(out->error, sizeof(out->error), "DNS: %.100s: %s", name,
                 gai_strerror(grc));
        return (grc == EAI_NONAME || grc == EAI_NODATA) ? AP_ENOTFOUND
                                                          : AP_ENET;
    }
    /* IPv6 first, as validation authorities do. */
    for (int pass = 0; pass < 2; pass++) {
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            if (pass == 0 && ai->ai_family == AF_INET6) {
                add_addr(out, AF_INET6,
                         &((struct sockaddr_in6 *)(void *)ai->ai_addr)
                              ->sin6_addr);
            } else if (pass == 1 && ai->ai_family == AF_INET) {
                add_addr(out, AF_INET,
                         &((struct sockaddr_in *)(void *)ai->ai_addr)
                              ->sin_addr);
            }
        }
    }
    freeaddrinfo(res);
    if (out->n == 0) {
        snprintf(out->error, sizeof(out->error), "DNS: no address for %.100s",
                 name);
        return AP_ENOTFOUND;
    }
    return AP_OK;
}

ap_err
resolve_host(const char *resolver, const char *name, unsigned timeout_ms,
             struct resolve_result *out)
{
    memset(out, 0, sizeof(*out));
    if (resolver != NULL && resolver[0] != '\0') {
        return resolve_with_server(resolver, name, timeout_ms, out);
    }
    return resolve_with_system(name, out);
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
resolve_txt(const char *resolver, const char *name, unsigned timeout_ms,
            struct resolve_txt_result *out)
{
    struct server s;
    ap_err rc;

    memset(out, 0, sizeof(*out));
    rc = server_open(resolver, timeout_ms, &s, out->error,
                     sizeof(out->error));
    if (rc != AP_OK) {
        return rc;
    }
    rc = lookup(&s, name, ns_t_txt, on_txt, out, out->name,
                sizeof(out->name), out->error, sizeof(out->error));
    server_close(&s);
    return rc;
}
