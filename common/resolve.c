/* common/resolve.c: A/AAAA lookups through a chosen DNS server or the
 * system resolver. */
#include "common/resolve.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RESOLVE_MAX_ANSWER 4096

static ap_err
parse_server(const char *resolver, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(resolver, ':');
    char *end = NULL;
    long port;

    if (colon == NULL || (size_t)(colon - resolver) >= sizeof(host)) {
        return AP_EINVAL;
    }
    memcpy(host, resolver, (size_t)(colon - resolver));
    host[colon - resolver] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port < 1 || port > 65535) {
        return AP_EINVAL;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        return AP_EINVAL;
    }
    return AP_OK;
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

/* One query; returns 0 with answers added, or the resolver's h_errno. */
static int
query(res_state st, const char *name, int type, struct resolve_result *out)
{
    unsigned char *answer;
    ns_msg msg;
    ns_rr rr;
    int len;

    answer = malloc(RESOLVE_MAX_ANSWER);
    if (answer == NULL) {
        return NO_RECOVERY;
    }
    len = res_nquery(st, name, ns_c_in, type, answer, RESOLVE_MAX_ANSWER);
    if (len < 0) {
        free(answer);
        return st->res_h_errno;
    }
    if (ns_initparse(answer, len, &msg) != 0) {
        free(answer);
        return NO_RECOVERY;
    }
    /* The answer section may hold a CNAME chain and then the addresses of
     * its target; every address record in it belongs to the name. */
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) {
            break;
        }
        if (ns_rr_type(rr) == ns_t_a && type == ns_t_a &&
            ns_rr_rdlen(rr) == 4) {
            add_addr(out, AF_INET, ns_rr_rdata(rr));
        } else if (ns_rr_type(rr) == ns_t_aaaa && type == ns_t_aaaa &&
                   ns_rr_rdlen(rr) == 16) {
            add_addr(out, AF_INET6, ns_rr_rdata(rr));
        }
    }
    free(answer);
    return 0;
}

static ap_err
resolve_with_server(const char *resolver, const char *name,
                    unsigned timeout_ms, struct resolve_result *out)
{
    struct __res_state st;
    struct sockaddr_in sa;
    int err6;
    int err4;
    ap_err rc;

    if (parse_server(resolver, &sa) != AP_OK) {
        snprintf(out->error, sizeof(out->error),
                 "resolver %s is not IPv4 host:port", resolver);
        return AP_EINVAL;
    }
    memset(&st, 0, sizeof(st));
    if (res_ninit(&st) != 0) {
        snprintf(out->error, sizeof(out->error), "res_ninit failed");
        return AP_ENET;
    }
    st.nscount = 1;
    st.nsaddr_list[0] = sa;
    st.retrans = (int)((timeout_ms + 999) / 1000 / 2);
    if (st.retrans < 1) {
        st.retrans = 1;
    }
    st.retry = 2;
    st.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
    err6 = query(&st, name, ns_t_aaaa, out);
    err4 = query(&st, name, ns_t_a, out);
    res_nclose(&st);
    if (out->n > 0) {
        return AP_OK;
    }
    if (err4 == HOST_NOT_FOUND || err6 == HOST_NOT_FOUND) {
        snprintf(out->error, sizeof(out->error),
                 "DNS (%s): %s does not exist (NXDOMAIN)", resolver, name);
        rc = AP_ENOTFOUND;
    } else if (err4 == TRY_AGAIN && err6 == TRY_AGAIN) {
        snprintf(out->error, sizeof(out->error),
                 "DNS (%s): no answer for %s (timeout or SERVFAIL)",
                 resolver, name);
        rc = AP_ETIMEOUT;
    } else {
        snprintf(out->error, sizeof(out->error),
                 "DNS (%s): no A or AAAA record for %s", resolver, name);
        rc = AP_ENOTFOUND;
    }
    return rc;
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
        snprintf(out->error, sizeof(out->error), "DNS: %s: %s", name,
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
        snprintf(out->error, sizeof(out->error), "DNS: no address for %s",
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
