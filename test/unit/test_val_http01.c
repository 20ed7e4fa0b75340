/* test/unit/test_val_http01.c: the http-01 redirect policy
 * (proxy/val_http01.c, val_http01_redirect_ok) over URLs split by
 * common/httpc.c's httpc_url_split (libcurl's parser, no network).
 *
 * Good rows are redirects the validator may follow (http on 80 or the
 * configured http_port, https on 443 or the configured tls_port, an IP
 * literal or an LDH host name); bad rows name the rule that refuses each
 * (scheme, port, user information, host), or a URL that does not split.
 * The body check (val_http01_body_ok): the key authorization with or
 * without trailing white space passes; anything else fails with a reason
 * that gives the body's length and never a byte of it. Every row is its
 * own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpc.h"
#include "proxy/validate.h"

#define HTTP_PORT 5002
#define TLS_PORT 5001

struct row {
    const char *name;
    const char *url;
    const char *why; /* NULL: followed; "split" when the URL does not
                        split; else a word of the reason */
};

static const struct row good_rows[] = {
    { "http default port", "http://a.example/x", NULL },
    { "https default port", "https://a.example/.well-known/x?y=1", NULL },
    { "http on http_port", "http://a.example:5002/x", NULL },
    { "https on tls_port", "https://a.example:5001/", NULL },
    { "explicit :80", "http://a.example:80/x", NULL },
    { "IPv4 literal", "http://10.0.0.1/x", NULL },
    { "IPv6 literal", "http://[2001:db8::1]/x", NULL },
    { "upper-case scheme and host", "HTTP://A.Example/x", NULL },
    { "single-label host", "http://intranet/x", NULL },
};

static const struct row bad_rows[] = {
    { "ftp", "ftp://a.example/x", "scheme ftp" },
    { "gopher", "gopher://a.example/x", "scheme gopher" },
    { "dict", "dict://a.example/x", "scheme dict" },
    { "file", "file:///etc/passwd", "split" },
    { "other http port", "http://a.example:8080/x", "port 8080" },
    { "https on port 80", "https://a.example:80/x", "port 80" },
    { "http on port 443", "http://a.example:443/x", "port 443" },
    { "http on tls_port", "http://a.example:5001/x", "port 5001" },
    { "https on http_port", "https://a.example:5002/x", "port 5002" },
    { "port 1", "http://127.0.0.1:1/x", "port 1" },
    { "user and password", "http://user:pw@a.example/x", "user information" },
    { "user only", "http://user@a.example/x", "user information" },
    { "localhost", "http://localhost/x", "localhost" },
    { "underscore host", "http://a_b.example/x", "character" },
    { "all-numeric host", "http://1.2.3.4.5/x", "numeric" },
    { "empty host", "http://:80/x", "split" },
    { "relative", "/x/y", "split" },
    { "scheme-relative", "//a.example/x", "split" },
    { "empty", "", "split" },
    { "IPv6 zone id", "http://[fe80::1%25eth0]/x", "split" },
};

static void
test_row(void **state)
{
    const struct row *r = *state;
    struct httpc_url u;
    char why[200] = "";
    ap_err rc = httpc_url_split(r->url, &u);

    if (r->why != NULL && strcmp(r->why, "split") == 0) {
        assert_int_not_equal(rc, AP_OK);
        return;
    }
    assert_int_equal(rc, AP_OK);
    if (r->why == NULL) {
        if (!val_http01_redirect_ok(&u, HTTP_PORT, TLS_PORT, why,
                                    sizeof(why))) {
            print_error("refused: %s\n", why);
        }
        assert_true(val_http01_redirect_ok(&u, HTTP_PORT, TLS_PORT, why,
                                           sizeof(why)));
        return;
    }
    assert_false(val_http01_redirect_ok(&u, HTTP_PORT, TLS_PORT, why,
                                        sizeof(why)));
    if (strstr(why, r->why) == NULL) {
        print_error("reason \"%s\" does not mention \"%s\"\n", why, r->why);
    }
    assert_non_null(strstr(why, r->why));
}

/* What the split gives the policy: lower case, default ports, brackets
 * off IPv6 literals. */
static void
test_split_fields(void **state)
{
    struct httpc_url u;

    (void)state;
    assert_int_equal(httpc_url_split("HTTPS://WWW.A.Test/p", &u), AP_OK);
    assert_string_equal(u.scheme, "https");
    assert_string_equal(u.host, "www.a.test");
    assert_int_equal(u.port, 443);
    assert_false(u.host_is_ip);
    assert_int_equal(httpc_url_split("http://[::1]:8080/", &u), AP_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_true(u.host_is_ip);
    assert_false(u.has_userinfo);
}

/* dns-01's TXT value (RFC 8555 §8.4): base64url(SHA-256(keyauth)). */
static void
test_dns01_expected(void **state)
{
    char out[VAL_DNS01_DIGEST_LEN + 1];
    char small[8] = "zzzzzzz";

    (void)state;
    val_dns01_expected("abc", out, sizeof(out));
    assert_string_equal(out, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    val_dns01_expected("", out, sizeof(out));
    assert_string_equal(out, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    /* Too small a buffer gives "", never a cut digest. */
    val_dns01_expected("abc", small, sizeof(small));
    assert_string_equal(small, "");
}

/* ---- the body check ------------------------------------------------ */

#define KA "tok.thumb"

struct body_row {
    const char *name;
    const char *body;
    size_t len;
    bool ok;
    const char *why;        /* when !ok: a part of the reason */
    const char *secret;     /* when !ok: must not be in the reason */
};

#define B(s) s, sizeof(s) - 1

static const struct body_row body_good[] = {
    { "body: exactly the key authorization", B(KA), true, NULL, NULL },
    { "body: trailing newline", B(KA "\n"), true, NULL, NULL },
    { "body: trailing white space", B(KA " \r\n\t "), true, NULL, NULL },
};

static const struct body_row body_bad[] = {
    { "body: another body", B("nope"), false,
      "the body (4 bytes) is not the key authorization (9 bytes)", "nope" },
    { "body: an internal service's secret",
      B("INTERNAL-ONLY: db_password=hunter2"), false, "(34 bytes)",
      "hunter2" },
    { "body: leading white space", B(" " KA), false, "(10 bytes)", NULL },
    { "body: one byte more", B(KA "x"), false, "(10 bytes)", NULL },
    { "body: a prefix", B("tok.thum"), false, "(8 bytes)", "tok.thum" },
    { "body: empty", B(""), false, "(0 bytes)", NULL },
    { "body: NUL inside", B("tok\0thumb"), false, "(9 bytes)", NULL },
};

static void
test_body(void **state)
{
    const struct body_row *r = *state;
    char why[160] = "";
    bool ok = val_http01_body_ok(r->body, r->len, KA, why, sizeof(why));

    assert_int_equal(ok, r->ok);
    if (r->ok) {
        return;
    }
    if (strstr(why, r->why) == NULL) {
        print_error("reason \"%s\" does not mention \"%s\"\n", why, r->why);
    }
    assert_non_null(strstr(why, r->why));
    if (r->secret != NULL) {
        assert_null(strstr(why, r->secret));
    }
}

/* ---- runner -------------------------------------------------------- */

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(bad_rows) >= N_ROWS(good_rows),
                   "bad table at least as long as the good one");
    _Static_assert(N_ROWS(body_bad) >= N_ROWS(body_good),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, good_rows, test_row);
    ADD_ROWS(&l, bad_rows, test_row);
    ADD_ROWS(&l, body_good, test_body);
    ADD_ROWS(&l, body_bad, test_body);
    add_test(&l, "split fields", test_split_fields, NULL);
    add_test(&l, "dns-01 expected TXT value", test_dns01_expected, NULL);
    failed = _cmocka_run_group_tests("val_http01", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
