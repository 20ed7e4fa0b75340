/* test/unit/test_resolve.c: common/resolve.c without a network.
 *
 * Tables: resolver addresses ("host:port", "[v6]:port") that parse and
 * that do not; TXT rdata (character-strings joined, non-printable bytes
 * masked, lengths checked); whole DNS responses built here byte by byte
 * and parsed for a question (TXT and A answers, CNAME chains inside one
 * answer, a chain that leaves the answer, NXDOMAIN, records of other
 * names ignored) and malformed or hostile ones (truncated, another
 * question, not a response, CNAME loops, chains over the limit); what
 * one answer means for a lookup (resolve_answer_step: the records, the
 * next CNAME hop, NXDOMAIN, SERVFAIL, REFUSED); and whole lookups through
 * c-ares against a DNS server the test runs on 127.0.0.1
 * (test/unit/dnsstub.h): addresses IPv6 first, TXT, NXDOMAIN, SERVFAIL,
 * an over-long CNAME chain, a black hole that never answers (the call
 * returns by its deadline), the system mode reading /etc/hosts first
 * and then a resolv.conf the test writes, and a configured resolver being
 * the only server asked.
 * No query leaves the loopback. Every row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/dnsstub.h"
#include "test/unit/rows.h"

#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/resolve.h"
#include "common/timeutil.h"

/* ---- resolver addresses ---------------------------------------------- */

struct server_row {
    const char *name;
    const char *in;
    int family; /* 0: refused */
};

static const struct server_row server_good[] = {
    { "server: v4", "127.0.0.1:53", AF_INET },
    { "server: v4 port 1", "10.0.0.53:1", AF_INET },
    { "server: v6 loopback", "[::1]:5353", AF_INET6 },
    { "server: v6 port 65535", "[fd00::53]:65535", AF_INET6 },
};

static const struct server_row server_bad[] = {
    { "server: no port", "127.0.0.1", 0 },
    { "server: empty port", "127.0.0.1:", 0 },
    { "server: port 0", "127.0.0.1:0", 0 },
    { "server: port 65536", "127.0.0.1:65536", 0 },
    { "server: port with junk", "127.0.0.1:53x", 0 },
    { "server: negative port", "127.0.0.1:-1", 0 },
    { "server: v6 without brackets", "::1:53", 0 },
    { "server: v6 without colon", "[::1]53", 0 },
    { "server: v6 unclosed", "[::1:53", 0 },
    { "server: empty brackets", "[]:53", 0 },
    { "server: v4 in brackets", "[127.0.0.1]:53", 0 },
    { "server: a name", "localhost:53", 0 },
    { "server: no host", ":53", 0 },
};

static void
test_server(void **state)
{
    const struct server_row *r = *state;
    struct sockaddr_storage ss;
    ap_err rc = resolve_parse_server(r->in, &ss);

    if (r->family == 0) {
        assert_int_equal(rc, AP_EINVAL);
        return;
    }
    assert_int_equal(rc, AP_OK);
    assert_int_equal(ss.ss_family, r->family);
}

/* ---- TXT rdata --------------------------------------------------------- */

struct txt_row {
    const char *name;
    const char *rdata;
    size_t len;
    size_t outlen;
    const char *want; /* NULL: AP_EPARSE */
};

static const struct txt_row txt_good[] = {
    { "txt: one string", "\x05hello", 6, 64, "hello" },
    { "txt: two strings joined", "\x03" "abc" "\x03" "def", 8, 64, "abcdef" },
    { "txt: empty string", "\x00", 1, 64, "" },
    { "txt: no strings", "", 0, 64, "" },
    { "txt: control bytes masked", "\x03" "a\x01\xff", 4, 64, "a??" },
    { "txt: cut at outlen", "\x06" "abcdef", 7, 4, "abc" },
};

static const struct txt_row txt_bad[] = {
    { "txt: length past the end", "\x05" "abc", 4, 64, NULL },
    { "txt: second length past the end", "\x03" "abc" "\x05" "de", 7, 64,
      NULL },
    { "txt: length byte alone", "\xff", 1, 64, NULL },
    { "txt: one byte short", "\x02" "a", 2, 64, NULL },
    { "txt: trailing length byte", "\x01" "a" "\x01", 3, 64, NULL },
    { "txt: length 255 with 254 bytes", NULL, 255, 64, NULL },
};

static void
test_txt(void **state)
{
    const struct txt_row *r = *state;
    unsigned char buf[300];
    char out[64];
    ap_err rc;

    if (r->rdata != NULL) {
        memcpy(buf, r->rdata, r->len);
    } else {
        buf[0] = 255;
        memset(buf + 1, 'x', r->len - 1);
    }
    rc = resolve_txt_rdata(buf, r->len, out, r->outlen);
    if (r->want == NULL) {
        assert_int_equal(rc, AP_EPARSE);
        return;
    }
    assert_int_equal(rc, AP_OK);
    assert_string_equal(out, r->want);
}

/* ---- whole responses ---------------------------------------------------- */

struct msg {
    unsigned char b[2048];
    size_t n;
};

static void
put8(struct msg *m, unsigned v)
{
    m->b[m->n++] = (unsigned char)v;
}

static void
put16(struct msg *m, unsigned v)
{
    put8(m, (v >> 8) & 0xff);
    put8(m, v & 0xff);
}

/* Uncompressed: each label with its length, then the root. */
static void
put_name(struct msg *m, const char *name)
{
    const char *p = name;

    while (*p != '\0') {
        size_t len = strcspn(p, ".");

        put8(m, (unsigned)len);
        memcpy(m->b + m->n, p, len);
        m->n += len;
        p += len;
        if (*p == '.') {
            p++;
        }
    }
    put8(m, 0);
}

struct rr_spec {
    const char *owner;   /* NULL ends the list */
    int type;
    const char *data;    /* rdata bytes, or the CNAME target's text */
    size_t len;          /* bytes of data (unused for CNAME) */
};

struct answer_row {
    const char *name;
    const char *qname;       /* the question asked */
    int qtype;
    const char *msg_qname;   /* the question in the response */
    int msg_qtype;
    int is_response;
    int rcode;
    struct rr_spec rrs[12];
    int claim_extra_rr;      /* ancount one more than written */
    size_t cut;              /* bytes cut off the end */
    /* expected */
    ap_err want;
    size_t want_n;
    const char *want_cname;
    const char *want_first; /* first TXT record, joined */
};

#define A_127 "\x7f\x00\x00\x01", 4
#define CNAME(o, t) { o, ns_t_cname, t, 0 }
#define TXT(o, s) { o, ns_t_txt, s, sizeof(s) - 1 }
#define A(o) { o, ns_t_a, A_127 }

static const struct answer_row answer_good[] = {
    { "ans: one TXT", "_acme-challenge.x.test", ns_t_txt, NULL, 0, 1,
      ns_r_noerror, { TXT("_acme-challenge.x.test", "\x03" "abc") }, 0, 0,
      AP_OK, 1, "", "abc" },
    { "ans: two TXT, trailing dot asked", "_acme-challenge.x.test.",
      ns_t_txt, "_acme-challenge.x.test", 0, 1, ns_r_noerror,
      { TXT("_acme-challenge.x.test", "\x01" "a"),
        TXT("_acme-challenge.x.test", "\x01" "b") }, 0, 0, AP_OK, 2, "",
      "a" },
    { "ans: CNAME then TXT of the target", "_acme-challenge.x.test",
      ns_t_txt, NULL, 0, 1, ns_r_noerror,
      { CNAME("_acme-challenge.x.test", "t.test"),
        TXT("t.test", "\x02" "ok") }, 0, 0, AP_OK, 1, "", "ok" },
    { "ans: records out of order", "a.test", ns_t_txt, NULL, 0, 1,
      ns_r_noerror,
      { TXT("c.test", "\x02" "cc"), CNAME("b.test", "c.test"),
        CNAME("a.test", "b.test") }, 0, 0, AP_OK, 1, "", "cc" },
    { "ans: chain leaves the answer", "a.test", ns_t_txt, NULL, 0, 1,
      ns_r_noerror, { CNAME("a.test", "elsewhere.example") }, 0, 0, AP_OK,
      0, "elsewhere.example", NULL },
    { "ans: NXDOMAIN", "nx.test", ns_t_txt, NULL, 0, 1, ns_r_nxdomain,
      { { NULL, 0, NULL, 0 } }, 0, 0, AP_OK, 0, "", NULL },
    { "ans: NODATA", "a.test", ns_t_txt, NULL, 0, 1, ns_r_noerror,
      { { NULL, 0, NULL, 0 } }, 0, 0, AP_OK, 0, "", NULL },
    { "ans: other names and types ignored", "a.test", ns_t_txt, NULL, 0, 1,
      ns_r_noerror,
      { TXT("b.test", "\x03" "bad"), A("a.test"),
        TXT("A.TEST", "\x04" "good") }, 0, 0, AP_OK, 1, "", "good" },
    { "ans: data of a name in the middle of the chain ignored", "a.test",
      ns_t_txt, NULL, 0, 1, ns_r_noerror,
      { CNAME("a.test", "b.test"), TXT("a.test", "\x03" "old"),
        TXT("b.test", "\x03" "new") }, 0, 0, AP_OK, 1, "", "new" },
    { "ans: A record", "a.test", ns_t_a, NULL, 0, 1, ns_r_noerror,
      { A("a.test") }, 0, 0, AP_OK, 1, "", NULL },
};

static const struct answer_row answer_bad[] = {
    { "ans: not a response", "a.test", ns_t_txt, NULL, 0, 0, ns_r_noerror,
      { TXT("a.test", "\x01" "x") }, 0, 0, AP_EPARSE, 0, "", NULL },
    { "ans: another name asked", "a.test", ns_t_txt, "b.test", 0, 1,
      ns_r_noerror, { TXT("b.test", "\x01" "x") }, 0, 0, AP_EPARSE, 0, "",
      NULL },
    { "ans: another type asked", "a.test", ns_t_txt, NULL, ns_t_a, 1,
      ns_r_noerror, { TXT("a.test", "\x01" "x") }, 0, 0, AP_EPARSE, 0, "",
      NULL },
    { "ans: cut inside the answer", "a.test", ns_t_txt, NULL, 0, 1,
      ns_r_noerror, { TXT("a.test", "\x05" "hello") }, 0, 3, AP_EPARSE, 0,
      "", NULL },
    { "ans: one record fewer than counted", "a.test", ns_t_txt, NULL, 0, 1,
      ns_r_noerror, { TXT("a.test", "\x01" "x") }, 1, 0, AP_EPARSE, 0, "",
      NULL },
    { "ans: CNAME loop", "a.test", ns_t_txt, NULL, 0, 1, ns_r_noerror,
      { CNAME("a.test", "b.test"), CNAME("b.test", "a.test") }, 0, 0,
      AP_EPARSE, 0, "", NULL },
    { "ans: CNAME to itself", "a.test", ns_t_txt, NULL, 0, 1, ns_r_noerror,
      { CNAME("a.test", "a.test") }, 0, 0, AP_EPARSE, 0, "", NULL },
    { "ans: chain of nine CNAMEs", "c0.test", ns_t_txt, NULL, 0, 1,
      ns_r_noerror,
      { CNAME("c0.test", "c1.test"), CNAME("c1.test", "c2.test"),
        CNAME("c2.test", "c3.test"), CNAME("c3.test", "c4.test"),
        CNAME("c4.test", "c5.test"), CNAME("c5.test", "c6.test"),
        CNAME("c6.test", "c7.test"), CNAME("c7.test", "c8.test"),
        CNAME("c8.test", "c9.test") }, 0, 0, AP_EPARSE, 0, "", NULL },
    { "ans: header only, cut", "a.test", ns_t_txt, NULL, 0, 1, ns_r_noerror,
      { { NULL, 0, NULL, 0 } }, 0, 10, AP_EPARSE, 0, "", NULL },
    { "ans: empty", "a.test", ns_t_txt, NULL, 0, 1, ns_r_noerror,
      { { NULL, 0, NULL, 0 } }, 0, 1000, AP_EPARSE, 0, "", NULL },
};

static void
build_msg(const struct answer_row *r, struct msg *m)
{
    size_t n_rr = 0;
    char qname[256];
    size_t ql;

    snprintf(qname, sizeof(qname), "%s",
             r->msg_qname != NULL ? r->msg_qname : r->qname);
    ql = strlen(qname);
    if (ql > 0 && qname[ql - 1] == '.') {
        qname[ql - 1] = '\0';
    }
    while (n_rr < 12 && r->rrs[n_rr].owner != NULL) {
        n_rr++;
    }
    memset(m, 0, sizeof(*m));
    put16(m, 0x1234);                                   /* id */
    put16(m, (r->is_response ? 0x8000u : 0) | 0x0400u | /* QR, AA */
                 (unsigned)r->rcode);
    put16(m, 1);                                        /* qdcount */
    put16(m, (unsigned)(n_rr + (size_t)r->claim_extra_rr));
    put16(m, 0);
    put16(m, 0);
    put_name(m, qname);
    put16(m, (unsigned)(r->msg_qtype != 0 ? r->msg_qtype : r->qtype));
    put16(m, ns_c_in);
    for (size_t i = 0; i < n_rr; i++) {
        const struct rr_spec *rr = &r->rrs[i];

        put_name(m, rr->owner);
        put16(m, (unsigned)rr->type);
        put16(m, ns_c_in);
        put16(m, 0);
        put16(m, 60);                                   /* ttl */
        if (rr->type == ns_t_cname) {
            size_t at = m->n;

            put16(m, 0);
            put_name(m, rr->data);
            m->b[at] = (unsigned char)((m->n - at - 2) >> 8);
            m->b[at + 1] = (unsigned char)((m->n - at - 2) & 0xff);
        } else {
            put16(m, (unsigned)rr->len);
            memcpy(m->b + m->n, rr->data, rr->len);
            m->n += rr->len;
        }
    }
    m->n = r->cut >= m->n ? 0 : m->n - r->cut;
}

struct collected {
    size_t n;
    char first[64];
};

static void
collect(void *arg, const unsigned char *rdata, size_t rdlen)
{
    struct collected *c = arg;

    if (c->n++ == 0 &&
        resolve_txt_rdata(rdata, rdlen, c->first, sizeof(c->first)) !=
            AP_OK) {
        c->first[0] = '\0';
    }
}

static void
test_answer(void **state)
{
    const struct answer_row *r = *state;
    struct resolve_answer ans;
    struct collected c;
    struct msg m;
    ap_err rc;

    build_msg(r, &m);
    memset(&c, 0, sizeof(c));
    rc = resolve_parse_answer(m.b, m.n, r->qname, r->qtype, collect, &c,
                              &ans);
    assert_int_equal(rc, r->want);
    if (r->want != AP_OK) {
        return;
    }
    assert_int_equal(ans.rcode, r->rcode);
    assert_int_equal(ans.n, r->want_n);
    assert_int_equal(c.n, r->want_n);
    assert_string_equal(ans.cname, r->want_cname);
    if (r->want_first != NULL) {
        assert_string_equal(c.first, r->want_first);
    }
}

/* ---- one answer of a lookup ------------------------------------------ */

struct step_row {
    const char *name;
    struct answer_row msg;   /* the response (qname, qtype, rrs, rcode) */
    const char *asked;       /* the lookup's first name */
    ap_err want;
    const char *want_next;   /* "" when the lookup ends */
    const char *want_word;   /* in err (failures) */
};

#define MSG(qn, qt, rc, ...)                                                 \
    { "", qn, qt, NULL, 0, 1, rc, { __VA_ARGS__ }, 0, 0, AP_OK, 0, "", NULL }
#define NO_RR { NULL, 0, NULL, 0 }

static const struct step_row step_good[] = {
    { "step: records end the lookup",
      MSG("a.test", ns_t_txt, ns_r_noerror, TXT("a.test", "\x01" "x")),
      "a.test", AP_OK, "", NULL },
    { "step: NODATA ends the lookup",
      MSG("a.test", ns_t_txt, ns_r_noerror, NO_RR), "a.test", AP_OK, "",
      NULL },
    { "step: a chain inside the answer ends it",
      MSG("a.test", ns_t_a, ns_r_noerror, CNAME("a.test", "b.test"),
          A("b.test")),
      "a.test", AP_OK, "", NULL },
    { "step: a chain leaving the answer goes on",
      MSG("a.test", ns_t_txt, ns_r_noerror,
          CNAME("a.test", "b.test"), CNAME("b.test", "far.example")),
      "a.test", AP_OK, "far.example", NULL },
};

static const struct step_row step_bad[] = {
    { "step: NXDOMAIN", MSG("nx.test", ns_t_txt, ns_r_nxdomain, NO_RR),
      "nx.test", AP_ENOTFOUND, "", "nx.test does not exist (NXDOMAIN)" },
    { "step: NXDOMAIN reached by CNAME",
      MSG("far.example", ns_t_txt, ns_r_nxdomain, NO_RR), "a.test",
      AP_ENOTFOUND, "", "reached by CNAME" },
    { "step: SERVFAIL", MSG("a.test", ns_t_a, ns_r_servfail, NO_RR),
      "a.test", AP_ETIMEOUT, "", "SERVFAIL for a.test" },
    { "step: REFUSED", MSG("a.test", ns_t_a, ns_r_refused, NO_RR),
      "a.test", AP_ENET, "", "REFUSED" },
    { "step: an answer to another question",
      { "", "a.test", ns_t_txt, "b.test", 0, 1, ns_r_noerror, { NO_RR }, 0,
        0, AP_OK, 0, "", NULL },
      "a.test", AP_EPARSE, "", "malformed" },
    { "step: a CNAME loop",
      MSG("a.test", ns_t_txt, ns_r_noerror, CNAME("a.test", "b.test"),
          CNAME("b.test", "a.test")),
      "a.test", AP_EPARSE, "", "looping" },
};

static void
test_step(void **state)
{
    const struct step_row *r = *state;
    struct collected c;
    struct msg m;
    char next[RESOLVE_MAX_NAME];
    char err[320] = "";
    ap_err rc;

    build_msg(&r->msg, &m);
    memset(&c, 0, sizeof(c));
    rc = resolve_answer_step(m.b, m.n, r->msg.qname, r->asked,
                             r->msg.qtype, collect, &c, "stub", next,
                             sizeof(next), err, sizeof(err));
    assert_int_equal(rc, r->want);
    if (rc == AP_OK) {
        assert_string_equal(next, r->want_next);
        return;
    }
    if (strstr(err, r->want_word) == NULL) {
        print_error("error \"%s\" lacks \"%s\"\n", err, r->want_word);
    }
    assert_non_null(strstr(err, r->want_word));
    assert_non_null(strstr(err, "DNS (stub)"));
}

/* ---- lookups through c-ares and a stub server ------------------------ */

enum via {
    VIA_CONFIGURED,     /* resolver = 127.0.0.1:<stub> */
    VIA_SYSTEM,         /* resolv.conf written here: nameserver 127.0.0.1 */
    VIA_BAD_RESOLVER,   /* resolver = "localhost:53" */
};

struct lookup_row {
    const char *name;
    int txt;               /* resolve_txt, else resolve_host */
    const char *qname;
    enum via via;
    int blackhole;
    unsigned deadline_ms;  /* 0: already passed */
    ap_err want;
    size_t want_n;
    const char *want_first;   /* address or TXT; or a word of the error */
    const char *want_second;  /* address */
};

#define LOOKUP_MARGIN_MS 600

static const struct lookup_row lookup_good[] = {
    { "lookup: A and AAAA, IPv6 first", 0, "a.test", VIA_CONFIGURED, 0,
      2000, AP_OK, 2, "::1", "127.0.0.1" },
    { "lookup: TXT", 1, "a.test", VIA_CONFIGURED, 0, 2000, AP_OK, 1,
      "hello", NULL },
    { "lookup: TXT, none there", 1, "other.test", VIA_CONFIGURED, 0, 2000,
      AP_OK, 0, NULL, NULL },
    { "lookup: system resolv.conf, A and AAAA", 0, "a.test", VIA_SYSTEM, 0,
      2000, AP_OK, 2, "::1", "127.0.0.1" },
    { "lookup: system resolv.conf, TXT", 1, "a.test", VIA_SYSTEM, 0, 2000,
      AP_OK, 1, "hello", NULL },
    /* One family answered: the other gets half the time left, so the
     * call returns by about half the deadline with what it has. */
    { "lookup: AAAA unanswered, A by half the deadline", 0, "noaaaa.test",
      VIA_CONFIGURED, 0, 1600, AP_OK, 1, "127.0.0.2", NULL },
    /* /etc/hosts names localhost: no query, even to a black hole. */
    { "lookup: system mode reads /etc/hosts first", 0, "localhost",
      VIA_SYSTEM, 1, 2000, AP_OK, 1, "127.0.0.1", NULL },
};

static const struct lookup_row lookup_bad[] = {
    { "lookup: host NXDOMAIN", 0, "nx.test", VIA_CONFIGURED, 0, 2000,
      AP_ENOTFOUND, 0, "NXDOMAIN", NULL },
    { "lookup: TXT NXDOMAIN", 1, "nx.test", VIA_CONFIGURED, 0, 2000,
      AP_ENOTFOUND, 0, "NXDOMAIN", NULL },
    { "lookup: host without addresses", 0, "other.test", VIA_CONFIGURED, 0,
      2000, AP_ENOTFOUND, 0, "no A or AAAA record", NULL },
    { "lookup: SERVFAIL", 1, "servfail.test", VIA_CONFIGURED, 0, 2000,
      AP_ETIMEOUT, 0, "SERVFAIL", NULL },
    { "lookup: CNAME chain over the limit", 1, "c0.chain.test",
      VIA_CONFIGURED, 0, 3000, AP_EPARSE, 0, "longer than 8", NULL },
    { "lookup: black hole, host, by the deadline", 0, "a.test",
      VIA_CONFIGURED, 1, 800, AP_ETIMEOUT, 0, "deadline", NULL },
    { "lookup: black hole, TXT, by the deadline", 1, "a.test",
      VIA_CONFIGURED, 1, 800, AP_ETIMEOUT, 0, "deadline", NULL },
    { "lookup: black hole, system resolv.conf", 0, "a.test", VIA_SYSTEM, 1,
      800, AP_ETIMEOUT, 0, "deadline", NULL },
    { "lookup: deadline already passed", 1, "a.test", VIA_CONFIGURED, 0, 0,
      AP_ETIMEOUT, 0, "deadline passed", NULL },
    { "lookup: resolver not host:port", 1, "a.test", VIA_BAD_RESOLVER, 0,
      2000, AP_EINVAL, 0, "not host:port", NULL },
};

/* A resolv.conf naming 127.0.0.1, for the system mode (the port comes
 * from resolve_set_system_conf). Its path into path. */
static void
write_resolv_conf(char *path, size_t pathlen)
{
    FILE *f;
    int fd;

    snprintf(path, pathlen, "/tmp/acmeproxy-resolv-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "nameserver 127.0.0.1\noptions timeout:30 attempts:5\n");
    assert_int_equal(fclose(f), 0);
}

static void
test_lookup(void **state)
{
    const struct lookup_row *r = *state;
    struct resolve_result *host = calloc(1, sizeof(*host));
    struct resolve_txt_result *txt = calloc(1, sizeof(*txt));
    struct dnsstub dns;
    struct dnsstub other;
    char conf[64] = "";
    char resolver[64] = "";
    const char *error;
    long long t0;
    long long took;
    ap_err rc;

    assert_non_null(host);
    assert_non_null(txt);
    assert_int_equal(dnsstub_start(&dns, r->blackhole != 0, 0), 0);
    /* A second server as the system's: a configured resolver must be the
     * only one asked. */
    assert_int_equal(dnsstub_start(&other, false, 0), 0);
    write_resolv_conf(conf, sizeof(conf));
    if (r->via == VIA_SYSTEM) {
        resolve_set_system_conf(conf, dns.port);
    } else {
        resolve_set_system_conf(conf, other.port);
        snprintf(resolver, sizeof(resolver), "%s:%u",
                 r->via == VIA_BAD_RESOLVER ? "localhost" : "127.0.0.1",
                 dns.port);
    }
    t0 = time_mono_ms();
    if (r->txt) {
        rc = resolve_txt(resolver, r->qname, t0 + r->deadline_ms, txt);
        error = txt->error;
    } else {
        rc = resolve_host(resolver, r->qname, t0 + r->deadline_ms, host);
        error = host->error;
    }
    took = time_mono_ms() - t0;
    dnsstub_stop(&dns);
    dnsstub_stop(&other);
    unlink(conf);
    resolve_set_system_conf(NULL, 0);
    print_message("%s: %lld ms, rc %d: %s\n", r->name, took, rc, error);
    assert_true(took <= (long long)r->deadline_ms + LOOKUP_MARGIN_MS);
    assert_int_equal(atomic_load(&other.queries), 0);
    if (r->deadline_ms == 0 || strcmp(r->qname, "localhost") == 0) {
        assert_int_equal(atomic_load(&dns.queries), 0);
    } else if (r->via == VIA_SYSTEM) {
        assert_true(atomic_load(&dns.queries) > 0);
    }
    assert_int_equal(rc, r->want);
    if (rc != AP_OK) {
        if (strstr(error, r->want_first) == NULL) {
            print_error("error \"%s\" lacks \"%s\"\n", error,
                        r->want_first);
        }
        assert_non_null(strstr(error, r->want_first));
    } else if (r->txt) {
        assert_int_equal(txt->n, r->want_n);
        assert_string_equal(txt->name, r->qname);
        if (r->want_n > 0) {
            assert_string_equal(txt->txt[0], r->want_first);
        }
    } else {
        assert_int_equal(host->n, r->want_n);
        assert_string_equal(host->addrs[0], r->want_first);
        if (r->want_second != NULL) {
            assert_string_equal(host->addrs[1], r->want_second);
        } else if (strcmp(r->qname, "noaaaa.test") == 0) {
            assert_true(took <= (long long)r->deadline_ms / 2 +
                                    LOOKUP_MARGIN_MS / 2);
        }
    }
    free(host);
    free(txt);
}

/* ---- the thread's kept channel (issue 18) -------------------------- */

static void
stats(unsigned long long *built, unsigned long long *reused)
{
    resolve_chan_stats(built, reused);
}

/* Looks a.test up through resolver; asserts the two addresses. */
static void
lookup_a(const char *resolver)
{
    struct resolve_result *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    assert_int_equal(resolve_host(resolver, "a.test", time_mono_ms() + 4000,
                                  r),
                     AP_OK);
    assert_int_equal(r->n, 2);
    assert_string_equal(r->addrs[0], "::1");
    assert_string_equal(r->addrs[1], "127.0.0.1");
    free(r);
}

/* The same resolver twice: the second call finds the channel; another
 * resolver (as after a reload) gets a channel of its own, and its
 * queries go to the new server only. */
static void
test_chan_kept(void **state)
{
    struct dnsstub one;
    struct dnsstub two;
    char r1[64];
    char r2[64];
    unsigned long long b0, u0, b1, u1;
    int q1;

    (void)state;
    resolve_thread_release();
    assert_int_equal(dnsstub_start(&one, false, 0), 0);
    assert_int_equal(dnsstub_start(&two, false, 0), 0);
    snprintf(r1, sizeof(r1), "127.0.0.1:%u", one.port);
    snprintf(r2, sizeof(r2), "127.0.0.1:%u", two.port);
    stats(&b0, &u0);
    lookup_a(r1);
    lookup_a(r1);
    stats(&b1, &u1);
    assert_int_equal(b1 - b0, 1);
    assert_int_equal(u1 - u0, 1);
    assert_int_equal(atomic_load(&one.queries), 4);
    q1 = atomic_load(&one.queries);
    lookup_a(r2);
    stats(&b1, &u1);
    assert_int_equal(b1 - b0, 2);
    assert_int_equal(atomic_load(&one.queries), q1);
    assert_int_equal(atomic_load(&two.queries), 2);
    /* and back: the thread kept only the last one */
    lookup_a(r1);
    stats(&b1, &u1);
    assert_int_equal(b1 - b0, 3);
    assert_int_equal(atomic_load(&one.queries), q1 + 2);
    dnsstub_stop(&one);
    dnsstub_stop(&two);
    resolve_thread_release();
}

/* The system resolver: an edited resolv.conf (another size and mtime at
 * the same path) builds a new channel that reads it. */
static void
test_chan_resolv_conf_changed(void **state)
{
    struct dnsstub one;
    char conf[64] = "";
    unsigned long long b0, u0, b1, u1;
    FILE *f;

    (void)state;
    resolve_thread_release();
    assert_int_equal(dnsstub_start(&one, false, 0), 0);
    write_resolv_conf(conf, sizeof(conf));
    resolve_set_system_conf(conf, one.port);
    stats(&b0, &u0);
    lookup_a(NULL);
    lookup_a("");
    stats(&b1, &u1);
    assert_int_equal(b1 - b0, 1);
    assert_int_equal(u1 - u0, 1);
    /* Rewritten: the same server twice, other options. */
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "nameserver 127.0.0.1\nnameserver 127.0.0.1\n"
               "options attempts:2\n");
    assert_int_equal(fclose(f), 0);
    lookup_a(NULL);
    stats(&b1, &u1);
    assert_int_equal(b1 - b0, 2);
    dnsstub_stop(&one);
    unlink(conf);
    resolve_set_system_conf(NULL, 0);
    resolve_thread_release();
}

/* A call that ends with a query cancelled (noaaaa.test never answers
 * AAAA) leaves a channel the next call uses and gets right answers
 * from. */
static void
test_chan_after_cancel(void **state)
{
    struct resolve_result *r = calloc(1, sizeof(*r));
    struct resolve_txt_result *t = calloc(1, sizeof(*t));
    struct dnsstub one;
    char res[64];
    unsigned long long b0, u0, b1, u1;

    (void)state;
    assert_non_null(r);
    assert_non_null(t);
    resolve_thread_release();
    assert_int_equal(dnsstub_start(&one, false, 0), 0);
    snprintf(res, sizeof(res), "127.0.0.1:%u", one.port);
    stats(&b0, &u0);
    assert_int_equal(resolve_host(res, "noaaaa.test", time_mono_ms() + 4000,
                                  r),
                     AP_OK);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->addrs[0], "127.0.0.2");
    lookup_a(res);
    assert_int_equal(resolve_txt(res, "a.test", time_mono_ms() + 4000, t),
                     AP_OK);
    assert_int_equal(t->n, 1);
    assert_string_equal(t->txt[0], "hello");
    assert_int_equal(resolve_host(res, "nx.test", time_mono_ms() + 4000, r),
                     AP_ENOTFOUND);
    stats(&b1, &u1);
    assert_int_equal(b1 - b0, 1);
    assert_int_equal(u1 - u0, 3);
    dnsstub_stop(&one);
    resolve_thread_release();
    free(r);
    free(t);
}

static void *
chan_thread(void *arg)
{
    lookup_a(arg);
    lookup_a(arg);
    return NULL;
}

/* Threads never share a channel: each builds its own (and its end
 * destroys it: the ASan build would report the leak). */
static void
test_chan_per_thread(void **state)
{
    struct dnsstub one;
    pthread_t th[3];
    char res[64];
    unsigned long long b0, u0, b1, u1;

    (void)state;
    assert_int_equal(dnsstub_start(&one, false, 0), 0);
    snprintf(res, sizeof(res), "127.0.0.1:%u", one.port);
    stats(&b0, &u0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, chan_thread, res), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
    }
    stats(&b1, &u1);
    assert_int_equal(b1 - b0, 3);
    assert_int_equal(u1 - u0, 3);
    dnsstub_stop(&one);
}

/* An answer too big for UDP (TC set) is asked for again over TCP, on the
 * socket c-ares gets from resolve.c's socket functions. */
static void
test_tcp_fallback(void **state)
{
    struct dnsstub one;
    struct resolve_result *r = calloc(1, sizeof(*r));
    char res[64];

    (void)state;
    assert_non_null(r);
    assert_int_equal(dnsstub_start(&one, false, 0), 0);
    snprintf(res, sizeof(res), "127.0.0.1:%u", one.port);
    assert_int_equal(resolve_host(res, "tc.test", time_mono_ms() + 4000, r),
                     AP_OK);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->addrs[0], "127.0.0.3");
    assert_true(atomic_load(&one.tcp_queries) >= 2); /* AAAA and A */
    dnsstub_stop(&one);
    free(r);
}

/* ---- runner -------------------------------------------------------- */


int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(server_bad) >= N_ROWS(server_good),
                   "bad table at least as long as the good one");
    _Static_assert(N_ROWS(txt_bad) >= N_ROWS(txt_good),
                   "bad table at least as long as the good one");
    _Static_assert(N_ROWS(answer_bad) >= N_ROWS(answer_good),
                   "bad table at least as long as the good one");
    _Static_assert(N_ROWS(step_bad) >= N_ROWS(step_good),
                   "bad table at least as long as the good one");
    _Static_assert(N_ROWS(lookup_bad) >= N_ROWS(lookup_good),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, server_good, test_server);
    ADD_ROWS(&l, server_bad, test_server);
    ADD_ROWS(&l, txt_good, test_txt);
    ADD_ROWS(&l, txt_bad, test_txt);
    ADD_ROWS(&l, answer_good, test_answer);
    ADD_ROWS(&l, answer_bad, test_answer);
    ADD_ROWS(&l, step_good, test_step);
    ADD_ROWS(&l, step_bad, test_step);
    ADD_ROWS(&l, lookup_good, test_lookup);
    ADD_ROWS(&l, lookup_bad, test_lookup);
    add_test(&l, "channel: kept for the same resolver, not another",
             test_chan_kept, NULL);
    add_test(&l, "channel: an edited resolv.conf builds a new one",
             test_chan_resolv_conf_changed, NULL);
    add_test(&l, "channel: used again after a cancelled query",
             test_chan_after_cancel, NULL);
    add_test(&l, "channel: one per thread", test_chan_per_thread, NULL);
    add_test(&l, "lookup: a truncated answer is asked again over TCP",
             test_tcp_fallback, NULL);
    failed = _cmocka_run_group_tests("resolve", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
