/* test/unit/test_ident.c: proxy/ident.c, identifier normal forms.
 *
 * Each good row gives the normal form expected; each bad row names the
 * failure expected by a word of the reason (the header's list: empty
 * label, label over 63, name over 253, characters, hyphen at an edge,
 * non-ASCII, single label, all-numeric last label, wildcard). Then the
 * same for IP identifiers (RFC 8738), wildcard order identifiers, the
 * reverse-DNS names of tls-alpn-01 for IPs, and CSR-versus-order
 * matching with ip and wildcard names. Every table row is its own cmocka
 * test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/ident.h"
#include "proxy/problem.h"

/* Names built at run time: "<n x 'a'>.example" style. */
enum build {
    B_NONE,
    B_LABEL63,    /* 63 x 'a' + ".example" */
    B_LABEL64,    /* 64 x 'a' + ".example" */
    B_NAME253,    /* 63.63.63.61 = 253 octets */
    B_NAME253DOT, /* the same plus a trailing dot */
    B_NAME254,    /* 63.63.63.62 = 254 octets */
    B_LABEL64MID, /* "a." + 64 x 'b' + ".example" */
};

struct row {
    const char *name;
    const char *in;
    enum build build;
    const char *want; /* normal form, or NULL when refused */
    const char *why;  /* a word of the reason when refused */
};

static const struct row good_rows[] = {
    { "upper case", "Example.COM", B_NONE, "example.com", NULL },
    { "A-label", "xn--bcher-kva.example", B_NONE, "xn--bcher-kva.example",
      NULL },
    { "digits and inner hyphens", "a-1.b--2.example", B_NONE,
      "a-1.b--2.example", NULL },
    { "numeric labels before a letter one", "1.2.3.example", B_NONE,
      "1.2.3.example", NULL },
    { "one-letter labels", "a.b", B_NONE, "a.b", NULL },
    { "63-octet label", NULL, B_LABEL63, "", NULL },
    { "253-octet name", NULL, B_NAME253, "", NULL },
};

static const struct row bad_rows[] = {
    { "empty", "", B_NONE, NULL, "empty" },
    { "root dot", ".", B_NONE, NULL, "empty" },
    { "two trailing dots", "a.b..", B_NONE, NULL, "empty label" },
    { "trailing dot", "Example.COM.", B_NONE, NULL, "trailing dot" },
    { "253-octet name with a trailing dot", NULL, B_NAME253DOT, NULL,
      "trailing dot" },
    { "leading dot", ".a.b", B_NONE, NULL, "empty label" },
    { "empty label inside", "a..b", B_NONE, NULL, "empty label" },
    { "leading hyphen", "-a.b", B_NONE, NULL, "hyphen" },
    { "hyphen at a label's end", "a-.b", B_NONE, NULL, "hyphen" },
    { "hyphen at the name's end", "a.b-", B_NONE, NULL, "hyphen" },
    { "underscore", "a_b.c", B_NONE, NULL, "character" },
    { "space", "a b.c", B_NONE, NULL, "character" },
    { "wildcard", "*.example.com", B_NONE, NULL, "wildcard" },
    { "star inside", "a.*.example.com", B_NONE, NULL, "character" },
    { "localhost", "localhost", B_NONE, NULL, "single-label" },
    { "single label", "intranet", B_NONE, NULL, "single-label" },
    { "IPv4 address", "1.2.3.4", B_NONE, NULL, "numeric" },
    { "numeric top label", "example.123", B_NONE, NULL, "numeric" },
    { "64-octet label", NULL, B_LABEL64, NULL, "63" },
    { "64-octet label inside", NULL, B_LABEL64MID, NULL, "63" },
    { "254-octet name", NULL, B_NAME254, NULL, "253" },
    { "UTF-8 U-label", "b\xc3\xbc" "cher.example", B_NONE, NULL,
      "non-ASCII" },
    { "trailing newline", "a.b\n", B_NONE, NULL, "character" },
    { "IPv6 address", "::1", B_NONE, NULL, "character" },
    { "URL", "https://example.com", B_NONE, NULL, "character" },
};

static void
repeat(char *out, char c, size_t n)
{
    memset(out, c, n);
    out[n] = '\0';
}

/* Builds the input of a B_ row into in and its normal form into want. */
static void
build(enum build b, char *in, size_t inlen, char *want, size_t wantlen)
{
    char l63[64];
    char l64[65];
    char l61[62];
    char l62[63];

    repeat(l63, 'a', 63);
    repeat(l64, 'a', 64);
    repeat(l61, 'c', 61);
    repeat(l62, 'c', 62);
    switch (b) {
    case B_NONE:
        break;
    case B_LABEL63:
        snprintf(in, inlen, "%s.Example", l63);
        snprintf(want, wantlen, "%s.example", l63);
        break;
    case B_LABEL64:
        snprintf(in, inlen, "%s.example", l64);
        break;
    case B_LABEL64MID:
        snprintf(in, inlen, "a.%s.example", l64);
        break;
    case B_NAME253:
    case B_NAME253DOT:
        snprintf(in, inlen, "%s.%s.%s.%s%s", l63, l63, l63, l61,
                 b == B_NAME253DOT ? "." : "");
        snprintf(want, wantlen, "%s.%s.%s.%s", l63, l63, l63, l61);
        assert_int_equal(strlen(want), 253);
        break;
    case B_NAME254:
        snprintf(in, inlen, "%s.%s.%s.%s", l63, l63, l63, l62);
        assert_int_equal(strlen(in), 254);
        break;
    }
}

static void
test_row(void **state)
{
    const struct row *r = *state;
    char in[300];
    char want[300];
    char out[IDENT_MAX_DNS + 1];
    const char *why = NULL;
    const char *input = r->in;
    const char *expect = r->want;
    ap_err rc;

    if (r->build != B_NONE) {
        build(r->build, in, sizeof(in), want, sizeof(want));
        input = in;
        if (r->want != NULL) {
            expect = want;
        }
    }
    memset(out, 'z', sizeof(out));
    rc = ident_dns_normalize(input, out, sizeof(out), &why);
    if (expect != NULL) {
        assert_int_equal(rc, AP_OK);
        assert_string_equal(out, expect);
        /* The normal form is a fixed point. */
        why = NULL;
        assert_int_equal(ident_dns_normalize(expect, out, sizeof(out), &why),
                         AP_OK);
        assert_string_equal(out, expect);
        assert_null(why);
        return;
    }
    assert_int_equal(rc, AP_EINVAL);
    assert_non_null(why);
    if (strstr(why, r->why) == NULL) {
        print_error("reason \"%s\" does not mention \"%s\"\n", why, r->why);
    }
    assert_non_null(strstr(why, r->why));
}

/* ident_dns_normalize_ex: single labels on request, never localhost. */
struct ex_row {
    const char *name;
    const char *in;
    int allow;
    ap_err want;
    const char *out;
};

static const struct ex_row ex_rows[] = {
    { "ex: single label allowed", "Intranet", 1, AP_OK, "intranet" },
    { "ex: single label with a trailing dot", "Intranet.", 1, AP_EINVAL,
      NULL },
    { "ex: two labels, single allowed", "a.example", 1, AP_OK, "a.example" },
    { "ex: single label refused", "intranet", 0, AP_EINVAL, NULL },
    { "ex: localhost refused even when allowed", "localhost", 1, AP_EINVAL,
      NULL },
    { "ex: LOCALHOST. refused even when allowed", "LOCALHOST.", 1,
      AP_EINVAL, NULL },
    { "ex: numeric single label", "123", 1, AP_EINVAL, NULL },
};

static void
test_ex(void **state)
{
    const struct ex_row *r = *state;
    char out[IDENT_MAX_DNS + 1];
    const char *why = NULL;

    assert_int_equal(ident_dns_normalize_ex(r->in, out, sizeof(out),
                                            r->allow != 0, &why),
                     r->want);
    if (r->want == AP_OK) {
        assert_string_equal(out, r->out);
    } else {
        assert_non_null(why);
    }
}

/* An output buffer of IDENT_MAX_DNS + 1 holds the longest name; a smaller
 * one is refused, not overrun. */
static void
test_outlen(void **state)
{
    char in[300];
    char want[300];
    char out[IDENT_MAX_DNS + 8];
    const char *why = NULL;

    (void)state;
    build(B_NAME253, in, sizeof(in), want, sizeof(want));
    memset(out, 'z', sizeof(out));
    assert_int_equal(ident_dns_normalize(in, out, 100, &why), AP_EINVAL);
    assert_non_null(why);
    assert_int_equal(out[100], 'z');
    assert_int_equal(ident_dns_normalize("a.example", out, 9, &why),
                     AP_EINVAL);
    assert_int_equal(ident_dns_normalize("a.example", out, 10, &why), AP_OK);
    assert_string_equal(out, "a.example");
}

/* ---- IP identifiers (RFC 8738) ------------------------------------ */

struct ip_row {
    const char *name;
    const char *in;
    const char *want; /* canonical text, or NULL when refused */
    const char *why;  /* a word of the reason when refused */
};

static const struct ip_row ip_good[] = {
    { "ip: v4 loopback", "127.0.0.1", "127.0.0.1", NULL },
    { "ip: v4 private", "10.20.30.40", "10.20.30.40", NULL },
    { "ip: v6 loopback", "::1", "::1", NULL },
    { "ip: v6 upper case", "2001:DB8::1", "2001:db8::1", NULL },
    { "ip: v6 uncompressed", "2001:0db8:0000:0000:0000:0000:0000:0001",
      "2001:db8::1", NULL },
    { "ip: v6 longest zero run", "fd00:0:0:1:0:0:0:1", "fd00:0:0:1::1",
      NULL },
    { "ip: v6 with embedded v4 (not mapped)", "64:ff9b::10.0.0.1",
      "64:ff9b::a00:1", NULL },
};

static const struct ip_row ip_bad[] = {
    { "ip: empty", "", NULL, "not an IPv4" },
    { "ip: three parts", "1.2.3", NULL, "not an IPv4" },
    { "ip: five parts", "1.2.3.4.5", NULL, "not an IPv4" },
    { "ip: leading zero", "01.2.3.4", NULL, "not an IPv4" },
    { "ip: octet over 255", "256.1.1.1", NULL, "not an IPv4" },
    { "ip: brackets", "[::1]", NULL, "not an IPv4" },
    { "ip: zone id", "fe80::1%eth0", NULL, "not an IPv4" },
    { "ip: CIDR", "10.0.0.0/8", NULL, "not an IPv4" },
    { "ip: leading space", " 10.0.0.1", NULL, "not an IPv4" },
    { "ip: trailing newline", "10.0.0.1\n", NULL, "not an IPv4" },
    { "ip: a name", "example.com", NULL, "not an IPv4" },
    { "ip: v4-mapped v6", "::ffff:127.0.0.1", NULL, "IPv4-mapped" },
    { "ip: v4 unspecified", "0.0.0.0", NULL, "unspecified" },
    { "ip: v6 unspecified", "::", NULL, "unspecified" },
    { "ip: v4 multicast", "224.0.0.1", NULL, "multicast" },
    { "ip: v4 broadcast", "255.255.255.255", NULL, "broadcast" },
    { "ip: v6 multicast", "ff02::1", NULL, "multicast" },
};

static void
test_ip(void **state)
{
    const struct ip_row *r = *state;
    char out[IDENT_MAX_IP];
    const char *why = NULL;
    ap_err rc = ident_ip_normalize(r->in, out, sizeof(out), &why);

    if (r->want != NULL) {
        assert_int_equal(rc, AP_OK);
        assert_string_equal(out, r->want);
        /* The canonical form is a fixed point. */
        assert_int_equal(ident_ip_normalize(r->want, out, sizeof(out), &why),
                         AP_OK);
        assert_string_equal(out, r->want);
        return;
    }
    assert_int_equal(rc, AP_EINVAL);
    assert_non_null(why);
    if (strstr(why, r->why) == NULL) {
        print_error("reason \"%s\" does not mention \"%s\"\n", why, r->why);
    }
    assert_non_null(strstr(why, r->why));
}

/* ---- wildcard order identifiers ------------------------------------ */

struct wild_row {
    const char *name;
    const char *in;
    int single;       /* single_label_names */
    const char *want; /* normal form, NULL when refused */
    int wildcard;     /* expected *wildcard when accepted */
    const char *why;  /* a word of the reason when refused */
};

static const struct wild_row wild_good[] = {
    { "wild: plain", "*.example.com", 0, "*.example.com", 1, NULL },
    { "wild: case", "*.Example.COM", 0, "*.example.com", 1,
      NULL },
    { "wild: A-label base", "*.xn--bcher-kva.example", 0,
      "*.xn--bcher-kva.example", 1, NULL },
    { "wild: two-label base", "*.a.b", 0, "*.a.b", 1, NULL },
    { "wild: not a wildcard", "www.example.com", 0, "www.example.com", 0,
      NULL },
    { "wild: single label name allowed", "intranet", 1, "intranet", 0, NULL },
};

static const struct wild_row wild_bad[] = {
    { "wild: star alone", "*", 0, NULL, 0, "wildcard" },
    { "wild: star dot", "*.", 0, NULL, 0, "empty" },
    { "wild: trailing dot", "*.Example.COM.", 0, NULL, 0, "trailing dot" },
    { "wild: over a TLD", "*.com", 0, NULL, 0, "two labels" },
    { "wild: over a single label, allowed or not", "*.intranet", 1, NULL, 0,
      "two labels" },
    { "wild: two stars", "*.*.example.com", 0, NULL, 0, "wildcard" },
    { "wild: double star label", "**.example.com", 0, NULL, 0, "wildcard" },
    { "wild: partial label star-first", "*a.example.com", 0, NULL, 0,
      "wildcard" },
    { "wild: partial label star-last", "a*.example.com", 0, NULL, 0,
      "character" },
    { "wild: star inside", "a.*.example.com", 0, NULL, 0, "character" },
    { "wild: bad base label", "*.-a.example", 0, NULL, 0, "hyphen" },
    { "wild: empty base label", "*..example.com", 0, NULL, 0, "empty" },
    { "wild: numeric base", "*.1.2.3.4", 0, NULL, 0, "numeric" },
    { "wild: localhost base", "*.localhost", 1, NULL, 0, "two labels" },
};

static void
test_wild(void **state)
{
    const struct wild_row *r = *state;
    char out[IDENT_MAX_DNS + 1];
    const char *why = NULL;
    bool wild = true;
    ap_err rc = ident_dns_normalize_wild(r->in, out, sizeof(out),
                                         r->single != 0, &wild, &why);

    if (r->want != NULL) {
        assert_int_equal(rc, AP_OK);
        assert_string_equal(out, r->want);
        assert_int_equal(wild, r->wildcard != 0);
        return;
    }
    assert_int_equal(rc, AP_EINVAL);
    assert_non_null(why);
    if (strstr(why, r->why) == NULL) {
        print_error("reason \"%s\" does not mention \"%s\"\n", why, r->why);
    }
    assert_non_null(strstr(why, r->why));
}

/* ---- reverse names for tls-alpn-01 SNI (RFC 8738 §6) --------------- */

struct rev_row {
    const char *name;
    const char *in;
    size_t outlen;
    const char *want; /* NULL: refused */
};

static const struct rev_row rev_rows[] = {
    { "rev: v4", "192.0.2.5", 80, "5.2.0.192.in-addr.arpa" },
    { "rev: v6 (RFC 3596 example)", "4321:0:1:2:3:4:567:89ab", 80,
      "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4."
      "ip6.arpa" },
    { "rev: v6 loopback", "::1", 73,
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
      "ip6.arpa" },
    { "rev: not an address", "example.com", 80, NULL },
    { "rev: v6 buffer short", "::1", 72, NULL },
    { "rev: v4 buffer short", "192.0.2.5", 10, NULL },
    { "rev: empty", "", 80, NULL },
};

static void
test_rev(void **state)
{
    const struct rev_row *r = *state;
    char out[128];
    ap_err rc = ident_ip_reverse_name(r->in, out, r->outlen);

    if (r->want == NULL) {
        assert_int_equal(rc, AP_EINVAL);
        return;
    }
    assert_int_equal(rc, AP_OK);
    assert_string_equal(out, r->want);
}

/* ---- newOrder identifiers ------------------------------------------ */

struct order_row {
    const char *name;
    const char *payload;
    const char *want;  /* identifiers JSON printed, or NULL on a problem */
    const char *ptype; /* problem type suffix when refused */
};

static const struct order_row order_rows[] = {
    { "order: ip and dns, deduplicated",
      "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"2001:DB8::1\"},"
      "{\"type\":\"dns\",\"value\":\"A.Example.com\"},"
      "{\"type\":\"ip\",\"value\":\"2001:db8:0::1\"},"
      "{\"type\":\"dns\",\"value\":\"*.example.com\"}]}",
      "[{\"type\":\"ip\",\"value\":\"2001:db8::1\"},"
      "{\"type\":\"dns\",\"value\":\"a.example.com\"},"
      "{\"type\":\"dns\",\"value\":\"*.example.com\"}]", NULL },
    { "order: same text as ip and dns are two identifiers",
      "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"10.0.0.1\"},"
      "{\"type\":\"dns\",\"value\":\"x.example\"}]}",
      "[{\"type\":\"ip\",\"value\":\"10.0.0.1\"},"
      "{\"type\":\"dns\",\"value\":\"x.example\"}]", NULL },
    { "order: bad ip is rejectedIdentifier",
      "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"10.0.0\"}]}", NULL,
      "rejectedIdentifier" },
    { "order: bad wildcard is rejectedIdentifier",
      "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"*.com\"}]}", NULL,
      "rejectedIdentifier" },
    { "order: ip address as dns is rejectedIdentifier",
      "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"10.0.0.1\"}]}", NULL,
      "rejectedIdentifier" },
    { "order: unknown type is unsupportedIdentifier",
      "{\"identifiers\":[{\"type\":\"email\",\"value\":\"a@b.c\"}]}", NULL,
      "unsupportedIdentifier" },
};

static void
test_order(void **state)
{
    const struct order_row *r = *state;
    struct ident_policy pol = { .single_label_names = false };
    struct acme_resp resp;
    cJSON *payload = cJSON_Parse(r->payload);
    cJSON *out = NULL;
    char *text;

    assert_non_null(payload);
    acme_resp_init(&resp);
    assert_int_equal(ident_parse_order(payload, &pol, &resp, &out), AP_OK);
    if (r->want != NULL) {
        assert_int_equal(resp.status, 0);
        assert_non_null(out);
        text = cJSON_PrintUnformatted(out);
        assert_string_equal(text, r->want);
        cJSON_free(text);
    } else {
        assert_null(out);
        assert_int_not_equal(resp.status, 0);
        assert_non_null(resp.body.data);
        assert_non_null(strstr(resp.body.data, r->ptype));
    }
    cJSON_Delete(out);
    cJSON_Delete(payload);
    acme_resp_fini(&resp);
}

/* ---- CSR names against an order (RFC 8555 §7.4, RFC 8738 §3) -------- */

struct csr_row {
    const char *name;
    const char *idents;   /* the order's identifiers, JSON */
    const char *dns[4];   /* CSR dNSName SANs, NULL-terminated */
    const char *ips[4];   /* CSR iPAddress SANs (inet_ntop text) */
    const char *cn;
    int ok;
    const char *why;      /* a word of the badCSR detail */
};

#define ID_IP(v) "{\"type\":\"ip\",\"value\":\"" v "\"}"
#define ID_DNS(v) "{\"type\":\"dns\",\"value\":\"" v "\"}"

static const struct csr_row csr_good[] = {
    { "csr: ip only", "[" ID_IP("10.0.0.1") "]", { NULL },
      { "10.0.0.1", NULL }, NULL, 1, NULL },
    { "csr: v6 in another text form", "[" ID_IP("2001:db8::1") "]", { NULL },
      { "2001:DB8:0:0:0:0:0:1", NULL }, NULL, 1, NULL },
    { "csr: dns, wildcard and ip, CN the ip",
      "[" ID_DNS("a.example.com") "," ID_DNS("*.example.com") ","
      ID_IP("::1") "]", { "*.Example.com", "a.example.com", NULL },
      { "::1", NULL }, "::1", 1, NULL },
    { "csr: CN is the wildcard", "[" ID_DNS("*.example.com") "]",
      { "*.example.com", NULL }, { NULL }, "*.example.com", 1, NULL },
};

static const struct csr_row csr_bad[] = {
    { "csr: ip missing", "[" ID_IP("10.0.0.1") "," ID_DNS("a.example") "]",
      { "a.example", NULL }, { NULL }, NULL, 0, "lacks the order's IP" },
    { "csr: extra ip", "[" ID_DNS("a.example") "]", { "a.example", NULL },
      { "10.0.0.1", NULL }, NULL, 0, "IP addresses" },
    { "csr: other ip", "[" ID_IP("10.0.0.1") "]", { NULL },
      { "10.0.0.2", NULL }, NULL, 0, "lacks" },
    { "csr: ip given as dNSName", "[" ID_IP("10.0.0.1") "]",
      { "10.0.0.1", NULL }, { NULL }, NULL, 0, "refused" },
    { "csr: wildcard missing", "[" ID_DNS("*.example.com") "]",
      { "www.example.com", NULL }, { NULL }, NULL, 0, "lacks" },
    { "csr: base name instead of wildcard", "[" ID_DNS("*.example.com") "]",
      { "example.com", NULL }, { NULL }, NULL, 0, "lacks" },
    { "csr: bad wildcard", "[" ID_DNS("a.example") "]",
      { "a.example", "*.com", NULL }, { NULL }, NULL, 0, "refused" },
    { "csr: CN outside the SANs", "[" ID_IP("10.0.0.1") "]", { NULL },
      { "10.0.0.1", NULL }, "10.0.0.2", 0, "common name" },
    { "csr: mapped v6 ip", "[" ID_IP("10.0.0.1") "]", { NULL },
      { "::ffff:10.0.0.1", NULL }, NULL, 0, "refused" },
};

static size_t
count(const char *const *v)
{
    size_t n = 0;

    while (n < 4 && v[n] != NULL) {
        n++;
    }
    return n;
}

static void
test_csr(void **state)
{
    const struct csr_row *r = *state;
    struct ident_policy pol = { .single_label_names = false };
    struct crypto_csr csr;
    struct acme_resp resp;
    cJSON *idents = cJSON_Parse(r->idents);
    bool ok;

    assert_non_null(idents);
    memset(&csr, 0, sizeof(csr));
    csr.dns_names = (char **)(uintptr_t)r->dns;
    csr.n_dns_names = count(r->dns);
    csr.ip_addrs = (char **)(uintptr_t)r->ips;
    csr.n_ip_addrs = count(r->ips);
    csr.cn = (char *)(uintptr_t)r->cn;
    acme_resp_init(&resp);
    ok = ident_csr_matches(&csr, idents, &pol, &resp);
    assert_int_equal(ok, r->ok != 0);
    if (!r->ok) {
        assert_non_null(resp.body.data);
        assert_non_null(strstr(resp.body.data, "badCSR"));
        if (strstr(resp.body.data, r->why) == NULL) {
            print_error("problem %s lacks \"%s\"\n", resp.body.data, r->why);
        }
        assert_non_null(strstr(resp.body.data, r->why));
    }
    acme_resp_fini(&resp);
    cJSON_Delete(idents);
}

/* ---- runner -------------------------------------------------------- */


int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(bad_rows) >= N_ROWS(good_rows),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, good_rows, test_row);
    ADD_ROWS(&l, bad_rows, test_row);
    ADD_ROWS(&l, ex_rows, test_ex);
    add_test(&l, "output buffer length", test_outlen, NULL);
    _Static_assert(N_ROWS(ip_bad) >= N_ROWS(ip_good),
                   "bad ip table at least as long as the good one");
    _Static_assert(N_ROWS(wild_bad) >= N_ROWS(wild_good),
                   "bad wildcard table at least as long as the good one");
    _Static_assert(N_ROWS(csr_bad) >= N_ROWS(csr_good),
                   "bad CSR table at least as long as the good one");
    ADD_ROWS(&l, ip_good, test_ip);
    ADD_ROWS(&l, ip_bad, test_ip);
    ADD_ROWS(&l, wild_good, test_wild);
    ADD_ROWS(&l, wild_bad, test_wild);
    ADD_ROWS(&l, rev_rows, test_rev);
    ADD_ROWS(&l, order_rows, test_order);
    ADD_ROWS(&l, csr_good, test_csr);
    ADD_ROWS(&l, csr_bad, test_csr);

    failed = _cmocka_run_group_tests("ident", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
