/* test/unit/test_resolve.c: common/resolve.c without a network.
 *
 * Tables: resolver addresses ("host:port", "[v6]:port") that parse and
 * that do not; TXT rdata (character-strings joined, non-printable bytes
 * masked, lengths checked); whole DNS responses built here byte by byte
 * and parsed for a question (TXT and A answers, CNAME chains inside one
 * answer, a chain that leaves the answer, NXDOMAIN, records of other
 * names ignored) and malformed or hostile ones (truncated, another
 * question, not a response, CNAME loops, chains over the limit). Every
 * row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/resolve.h"

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
    ADD_ROWS(&l, server_good, test_server);
    ADD_ROWS(&l, server_bad, test_server);
    ADD_ROWS(&l, txt_good, test_txt);
    ADD_ROWS(&l, txt_bad, test_txt);
    ADD_ROWS(&l, answer_good, test_answer);
    ADD_ROWS(&l, answer_bad, test_answer);
    failed = _cmocka_run_group_tests("resolve", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
