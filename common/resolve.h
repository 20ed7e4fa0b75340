/* common/resolve.h: DNS lookups for validation (A/AAAA, TXT), bounded by
 * one deadline.
 *
 * With a configured resolver ("host:port" for IPv4, "[addr]:port" for
 * IPv6) the queries go to that DNS server only; without one, an address
 * lookup first reads /etc/hosts, then the nameservers of the system's
 * resolv.conf are asked (in turn). Either way through c-ares (Debian's
 * libc-ares-dev), one channel per thread, kept from call to call while
 * the resolver configuration is the same (resolve.c "Channels"): UDP
 * with TCP fallback on truncation, no search domains, no getaddrinfo. CNAME chains are followed here, up to
 * RESOLVE_MAX_CNAMES hops, so an authoritative-only server works too.
 * Every query of a call (AAAA and A at once, each CNAME hop, TXT) runs
 * under the one absolute deadline the caller passes (monotonic
 * milliseconds, time_mono_ms()): when it comes, whatever is outstanding
 * is cancelled and the call returns. Answers are parsed with libc's
 * ns_initparse (resolve_parse_answer) and capped (RESOLVE_MAX_ADDRS,
 * RESOLVE_MAX_TXT, RESOLVE_MAX_TXT_LEN). Thread-safe. */
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

/* Finds the AAAA and A addresses of name (asked at once), returning by
 * deadline_ms (time_mono_ms() clock) at the latest. Once one family has
 * answered with addresses, the other gets half of the time left, so a
 * server that ignores one query type still leaves time to connect.
 * AP_ENOTFOUND: the name does not exist or has no address; AP_ETIMEOUT:
 * no answer by the deadline, or SERVFAIL; AP_ENET: REFUSED and other
 * failures; AP_EPARSE: an answer that does not parse or a CNAME chain too
 * long; AP_EINVAL: resolver is not host:port. The reason is in
 * out->error. resolver may be NULL or "" for the system's: /etc/hosts,
 * then the servers of resolv.conf. */
AP_MUST_CHECK ap_err resolve_host(const char *resolver, const char *name,
                                  long long deadline_ms,
                                  struct resolve_result *out);

/* Finds the TXT records of name, following CNAMEs, by deadline_ms at the
 * latest. AP_OK when the name exists (out->n may be 0: no TXT there);
 * AP_ENOTFOUND: NXDOMAIN; AP_ETIMEOUT: no answer by the deadline, or
 * SERVFAIL; AP_ENET: REFUSED and the like; AP_EPARSE: an answer that does
 * not parse or a CNAME chain too long; AP_EINVAL: resolver is not
 * host:port. Reason in out->error. */
AP_MUST_CHECK ap_err resolve_txt(const char *resolver, const char *name,
                                 long long deadline_ms,
                                 struct resolve_txt_result *out);

/* For tests only: the system mode reads its servers from resolv_conf
 * instead of /etc/resolv.conf (NULL or "": the default) and asks them on
 * port (0: 53). Call before any lookup runs; not thread-safe. */
void resolve_set_system_conf(const char *resolv_conf, unsigned port);

/* Channels built and channels a call found ready on its thread, since the
 * start (for tests and figures). */
void resolve_chan_stats(unsigned long long *built,
                        unsigned long long *reused);

/* Destroys the calling thread's kept channel now (it would be at the
 * thread's end anyway); the next call builds a new one. */
void resolve_thread_release(void);

/* Parses "a.b.c.d:port" or "[v6]:port" into *out (sockaddr_in or
 * sockaddr_in6). AP_EINVAL otherwise. Used by the config check too. */
AP_MUST_CHECK ap_err resolve_parse_server(const char *text,
                                          struct sockaddr_storage *out);

/* ---- answer parsing, exposed for the unit tests and fuzzing -------- */

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

/* Judges one response abuf[alen] to the query (cur, type) of a lookup
 * that first asked for asked: records go to fn (resolve_parse_answer).
 * AP_OK with next = "" when the lookup ends here (records, or none:
 * NODATA); AP_OK with next set when the chain continues at that name (a
 * CNAME whose target has no records in this answer); AP_ENOTFOUND for
 * NXDOMAIN, AP_ETIMEOUT for SERVFAIL, AP_ENET for other rcodes,
 * AP_EPARSE for a malformed or looping answer, each with err set (label
 * names the server in it). nextlen is at least RESOLVE_MAX_NAME. */
AP_MUST_CHECK ap_err resolve_answer_step(const unsigned char *abuf,
                                         size_t alen, const char *cur,
                                         const char *asked, int type,
                                         resolve_rr_fn fn, void *arg,
                                         const char *label, char *next,
                                         size_t nextlen, char *err,
                                         size_t errlen);

#endif /* AP_COMMON_RESOLVE_H */
