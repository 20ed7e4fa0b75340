/* common/resolve.h: DNS lookups for validation (A/AAAA, TXT).
 *
 * With a configured resolver ("host:port" for IPv4, "[addr]:port" for
 * IPv6) the lookups go to that DNS server only, through the libc resolver
 * (res_nmkquery/res_nsend on a per-call state, so threads never share one;
 * UDP with TCP fallback on truncation; no search domains), and CNAME
 * chains are followed here, up to RESOLVE_MAX_CNAMES hops, so an
 * authoritative-only server works too. Without one, addresses come from
 * getaddrinfo and TXT records from the system's nameservers. The libc
 * resolver was chosen because it ships with libc, does the UDP/TCP dance,
 * and needs no extra package; the answers are parsed with ns_initparse.
 * Thread-safe. */
#ifndef AP_COMMON_RESOLVE_H
#define AP_COMMON_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/err.h"

#define RESOLVE_MAX_ADDRS 8
#define RESOLVE_MAX_TXT 16        /* TXT records kept per name */
#define RESOLVE_MAX_TXT_LEN 512   /* bytes of one record kept (strings joined) */
#define RESOLVE_MAX_CNAMES 8      /* CNAME hops followed */
#define RESOLVE_MAX_NAME 256

struct resolve_result {
    char addrs[RESOLVE_MAX_ADDRS][46]; /* text form, IPv6 first */
    size_t n;
    char error[320];                   /* why nothing was found */
};

struct resolve_txt_result {
    char txt[RESOLVE_MAX_TXT][RESOLVE_MAX_TXT_LEN]; /* printable ASCII;
                                                       other bytes as '?' */
    size_t n;
    char name[RESOLVE_MAX_NAME];   /* where the records were: the last
                                      CNAME target, or the name asked */
    char error[320];               /* why the lookup failed */
};

/* Finds the A and AAAA addresses of name. AP_ENOTFOUND: the name does not
 * exist or has no address; AP_ENET / AP_ETIMEOUT: the server failed;
 * AP_EINVAL: resolver is not host:port. The reason is in out->error.
 * resolver may be NULL or "" for the system. */
AP_MUST_CHECK ap_err resolve_host(const char *resolver, const char *name,
                                  unsigned timeout_ms,
                                  struct resolve_result *out);

/* Finds the TXT records of name, following CNAMEs. AP_OK when the name
 * exists (out->n may be 0: no TXT there); AP_ENOTFOUND: NXDOMAIN;
 * AP_ETIMEOUT: no answer; AP_ENET: SERVFAIL, REFUSED and the like;
 * AP_EPARSE: an answer that does not parse or a CNAME chain too long;
 * AP_EINVAL: resolver is not host:port. Reason in out->error. */
AP_MUST_CHECK ap_err resolve_txt(const char *resolver, const char *name,
                                 unsigned timeout_ms,
                                 struct resolve_txt_result *out);

/* Parses "a.b.c.d:port" or "[v6]:port" into *out (sockaddr_in or
 * sockaddr_in6). AP_EINVAL otherwise. Used by the config check too. */
AP_MUST_CHECK ap_err resolve_parse_server(const char *text,
                                          struct sockaddr_storage *out);

/* ---- answer parsing, exposed for the unit tests ------------------- */

/* What one DNS response says about (qname, qtype). */
struct resolve_answer {
    int rcode;                     /* ns_r_noerror, ns_r_nxdomain, ... */
    size_t n;                      /* records of qtype for the name */
    char cname[RESOLVE_MAX_NAME];  /* set when the chain from qname ends
                                      in a CNAME whose target has no
                                      records of qtype in this answer */
};

/* Called for each record of qtype owned by qname or a name its CNAME
 * chain leads to (rdata borrowed for the call). */
typedef void (*resolve_rr_fn)(void *arg, const unsigned char *rdata,
                              size_t rdlen);

/* Parses the response msg[len] to a query for (qname, qtype): the header
 * and the question must match, then the answer section is walked
 * following CNAMEs (at most RESOLVE_MAX_CNAMES). AP_EPARSE when the
 * message is malformed, answers another question or loops. */
AP_MUST_CHECK ap_err resolve_parse_answer(const unsigned char *msg,
                                          size_t len, const char *qname,
                                          int qtype, resolve_rr_fn fn,
                                          void *arg,
                                          struct resolve_answer *out);

/* Joins the character-strings of one TXT rdata into out (NUL-terminated;
 * bytes outside printable ASCII become '?'; cut at outlen - 1).
 * AP_EPARSE when a length runs past the rdata. */
AP_MUST_CHECK ap_err resolve_txt_rdata(const unsigned char *rdata,
                                       size_t len, char *out,
                                       size_t outlen);

#endif /* AP_COMMON_RESOLVE_H */
