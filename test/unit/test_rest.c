/* test/unit/test_rest.c: the generic REST engine, adapters/rest_engine.c:
 * RFC 6901 pointers, template rendering (typed placeholders, URL escaping,
 * no JSON injection) and the expect/extract rules. Tables of good input
 * and longer tables of bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "adapters/adapters_int.h"
#include "common/crypto.h"
#include "common/json.h"

static const char doc_text[] =
    "{\"a\":{\"b\":[\"x\",\"y\"],\"c\":7,\"t\":true,\"n\":null},"
    "\"m~n\":1,\"p/q\":2,\"errors\":[\"one\",\"two\"],\"e\":[],\"\":\"empty\"}";

static cJSON *
parse(const char *text)
{
    cJSON *v = NULL;

    assert_int_equal(json_parse(text, strlen(text), &v), AP_OK);
    return v;
}

static void
test_pointer_good(void **state)
{
    static const struct {
        const char *ptr;
        const char *text;
    } rows[] = {
        { "/a/b/0", "x" },    { "/a/b/1", "y" },     { "/a/c", "7" },
        { "/a/t", "true" },   { "/m~0n", "1" },      { "/p~1q", "2" },
        { "/errors/*", "one; two" }, { "/a/b", "x; y" }, { "/", "empty" },
    };
    cJSON *doc = parse(doc_text);

    (void)state;
    assert_ptr_equal(rest_pointer(doc, ""), doc);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *t = rest_pointer_text(doc, rows[i].ptr, "; ");

        assert_non_null(t);
        assert_string_equal(t, rows[i].text);
        free(t);
    }
    cJSON_Delete(doc);
}

static void
test_pointer_bad(void **state)
{
    static const char *bad[] = {
        "a",  "/x",     "/a/b/2",  "/a/b/01", "/a/b/-1", "/a/b/x",
        "/a/c/0", "/m~2n", "/m~",  "/a/n",    "/e/*",    "/a",
        "/a/b/0/x", "//",
    };
    cJSON *doc = parse(doc_text);

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *t = rest_pointer_text(doc, bad[i], ",");

        if (t != NULL) {
            print_error("pointer %s gave %s\n", bad[i], t);
        }
        assert_null(t);
    }
    assert_null(rest_pointer(NULL, "/a"));
    assert_null(rest_pointer(doc, NULL));
    cJSON_Delete(doc);
}

static struct adapter_request req;
static const char *const dns[] = { "a.test", "b.test" };
static const char *const ips[] = { "192.0.2.1" };
static const unsigned char der[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };

static struct rest_vars
vars(void)
{
    struct rest_vars v;

    memset(&req, 0, sizeof(req));
    req.csr_der = der;
    req.csr_der_len = sizeof(der);
    req.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\n\"x\"\n";
    req.dns_names = dns;
    req.n_dns_names = 2;
    req.ip_addrs = ips;
    req.n_ip_addrs = 1;
    req.profile = "acme-server";
    req.order_id = "ord\"1";
    req.account_id = "acct";
    req.not_after = 1000 + 7200;
    memset(&v, 0, sizeof(v));
    v.req = &req;
    v.base_url = "https://ca.example:8443/x";
    v.now = 1000;
    return v;
}

static void
test_render_good(void **state)
{
    struct rest_vars v = vars();
    cJSON *secrets = parse("{\"env:PW\":\"s3cr\\\"et\"}");
    cJSON *tmpl = parse(
        "{\"csr\":\"{{csr_pem}}\",\"ids\":\"{{ids}}\",\"dns\":\"{{dns}}\","
        "\"csv\":\"{{dns_csv}}\",\"ip\":\"{{ip_csv}}\",\"n\":\"{{now+300}}\","
        "\"cn\":\"{{cn}}\",\"u\":\"acme-{{order_id}}\",\"pw\":"
        "\"{{secret:env:PW}}\",\"h\":\"{{ttl_hours}}\",\"k\":[1,true,null],"
        "\"b64\":\"{{csr_b64}}\",\"p\":\"{{profile}}\"}");
    cJSON *out = NULL;
    char errbuf[200];
    char *text = NULL;

    (void)state;
    assert_int_equal(rest_render(tmpl, &v, secrets, &out, errbuf,
                                 sizeof(errbuf)),
                     AP_OK);
    assert_string_equal(json_str(out, "csr", ""), req.csr_pem);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(out, "ids")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "ids")), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "dns")), 2);
    assert_string_equal(json_str(out, "csv", ""), "a.test,b.test");
    assert_string_equal(json_str(out, "ip", ""), "192.0.2.1");
    assert_int_equal(json_num(out, "n", 0), 1300);
    assert_int_equal(json_num(out, "h", 0), 2);
    assert_string_equal(json_str(out, "cn", ""), "a.test");
    /* quotes in values stay inside the string: no JSON injection */
    assert_string_equal(json_str(out, "u", ""), "acme-ord\"1");
    assert_string_equal(json_str(out, "pw", ""), "s3cr\"et");
    assert_string_equal(json_str(out, "b64", ""), "MAMCAQU=");
    assert_string_equal(json_str(out, "p", ""), "acme-server");
    cJSON_Delete(out);
    /* URLs: values escaped, base_url and |raw not */
    v.req = NULL;
    v.serial_hex = "0a1b";
    v.issuer_dn = "CN=Issuing CA,O=Ex/ample";
    v.reason = 1;
    v.ref = "{\"req\":\"12 3\"}";
    assert_int_equal(
        rest_render_text("{{base_url}}/v1/{{issuer_dn}}/{{serial_HEX}}/r?"
                         "reason={{reason_name}}&x={{ref.req}}&y={{ref.req|raw}}"
                         "&d={{serial_dec}}&c={{serial_hex_colon}}",
                         &v, secrets, true, &text, errbuf, sizeof(errbuf)),
        AP_OK);
    assert_string_equal(text, "https://ca.example:8443/x/v1/CN%3DIssuing%20CA"
                              "%2CO%3DEx%2Fample/0A1B/r?reason=KEY_COMPROMISE"
                              "&x=12%203&y=12 3&d=2587&c=0a%3A1b");
    free(text);
    cJSON_Delete(tmpl);
    cJSON_Delete(secrets);
}

static void
test_render_bad(void **state)
{
    static const char *bad_text[] = {
        "{{nope}}",       "x{{",           "{{}}",
        "{{serial_hex}}", "{{secret:env:NOTHERE}}", "{{jwt:none}}",
        "{{ref.req}}",    "{{now+x}}",     "{{now+99999999}}",
        "{{token}}",      "{{issuer_dn}}", "{{csr_pem}}",
    };
    struct rest_vars v = vars();
    char errbuf[200];
    char *text = NULL;
    cJSON *out = NULL;
    cJSON *tmpl;

    (void)state;
    v.req = NULL; /* a revoke or poll has no request */
    for (size_t i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
        ap_err rc = rest_render_text(bad_text[i], &v, NULL, false, &text,
                                     errbuf, sizeof(errbuf));

        if (rc == AP_OK) {
            print_error("%s rendered as %s\n", bad_text[i], text);
            free(text);
        }
        assert_int_equal(rc, AP_EINVAL);
    }
    tmpl = parse("{\"a\":[{\"b\":\"{{unknown}}\"}]}");
    assert_int_equal(rest_render(tmpl, &v, NULL, &out, errbuf,
                                 sizeof(errbuf)),
                     AP_EINVAL);
    assert_non_null(strstr(errbuf, "unknown"));
    cJSON_Delete(tmpl);
    /* a secret's name never reaches the message */
    assert_int_equal(rest_render_text("{{secret:file:/x}}", &v, NULL, false,
                                      &text, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_null(strstr(errbuf, "/x"));
}

struct crow {
    long status;
    const char *body;
    enum adapter_outcome want;
    const char *ptype;
    const char *detail_has;
};

static const char op_text[] =
    "{\"expect\":["
    "{\"status\":[200],\"when\":{\"pointer\":\"/data/certificate\","
    "\"exists\":true},\"outcome\":\"issued\"},"
    "{\"status\":[202],\"outcome\":\"pending\",\"ref\":{\"req\":\"/id\"}},"
    "{\"status\":[400],\"when\":{\"pointer\":\"/errors/0\",\"regex\":"
    "\"csr\"},\"outcome\":\"rejected\",\"acme_problem\":\"badCSR\"},"
    "{\"status\":[400],\"outcome\":\"rejected\"},"
    "{\"status\":403,\"outcome\":\"auth\"},"
    "{\"status\":[409],\"when\":{\"pointer\":\"/state\",\"equals\":"
    "\"revoked\"},\"outcome\":\"already\"}],"
    "\"extract\":{\"cert\":{\"pointer\":\"/data/certificate\",\"encoding\":"
    "\"pem\"},\"error_message\":[\"/message\",\"/errors/*\"]}}";

static const struct crow crows[] = {
    { 202, "{\"id\":77}", ADAPTER_PENDING, NULL, NULL },
    { 400, "{\"errors\":[\"csr contains no data\"]}", ADAPTER_REJECTED,
      "urn:ietf:params:acme:error:badCSR", "csr contains" },
    { 400, "{\"errors\":[\"not allowed\"]}", ADAPTER_REJECTED,
      "urn:ietf:params:acme:error:rejectedIdentifier", "not allowed" },
    { 409, "{\"state\":\"revoked\"}", ADAPTER_ISSUED, NULL, NULL },
    /* bad or unexpected answers */
    { 200, "{\"data\":{}}", ADAPTER_RETRY, NULL, NULL },
    { 200, "{\"data\":{\"certificate\":\"junk\"}}", ADAPTER_RETRY, NULL,
      "no readable certificate" },
    { 200, "not json", ADAPTER_RETRY, NULL, NULL },
    { 202, "{}", ADAPTER_PENDING, NULL, "without a reference" },
    { 403, "{\"message\":\"denied\"}", ADAPTER_RETRY, NULL, "auth" },
    { 404, "", ADAPTER_REJECTED, NULL, NULL },
    { 409, "{\"state\":\"other\"}", ADAPTER_REJECTED, NULL, NULL },
    { 500, "{\"message\":\"boom\"}", ADAPTER_RETRY, NULL, "boom" },
    { 503, NULL, ADAPTER_RETRY, NULL, NULL },
    { 0, NULL, ADAPTER_RETRY, NULL, NULL },
};

static void
test_classify(void **state)
{
    cJSON *op = parse(op_text);

    (void)state;
    for (size_t i = 0; i < sizeof(crows) / sizeof(crows[0]); i++) {
        struct adapter_result res;
        enum adapter_outcome o;

        memset(&res, 0, sizeof(res));
        o = rest_classify(op, crows[i].status, crows[i].body, 9, &res);
        if (o != crows[i].want) {
            print_error("row %zu: %d want %d\n", i, o, crows[i].want);
        }
        assert_int_equal(o, crows[i].want);
        if (crows[i].ptype != NULL) {
            assert_string_equal(res.problem_type, crows[i].ptype);
        }
        if (crows[i].detail_has != NULL) {
            assert_non_null(res.detail);
            assert_non_null(strstr(res.detail, crows[i].detail_has));
        }
        if (o == ADAPTER_PENDING && strstr(crows[i].body, "id") != NULL) {
            assert_string_equal(res.ref, "{\"req\":\"77\"}");
            assert_int_equal(res.retry_after, 9);
        }
        adapter_result_clear(&res);
    }
    cJSON_Delete(op);
}

/* Issue 10 point 5: numbers in a PKI's answer that today's main casts to
 * long long in value_text (undefined beyond the range) or prints with %g. */
static void
test_pointer_numbers(void **state)
{
    static const struct {
        const char *ptr;
        const char *text; /* NULL: refused */
    } rows[] = {
        { "/id", "1234" },        { "/neg", "-7" },
        { "/exp", "1000" },       { "/exact", "9007199254740991" },
        { "/big", NULL },         { "/inf", NULL },
        { "/e300", NULL },        { "/frac", NULL },
        { "/over", NULL },        { "/mixed/*", NULL },
        { "/ints/*", "1, 2" },
    };
    cJSON *doc = parse("{\"id\":1234,\"neg\":-7,\"exp\":1e3,"
                       "\"exact\":9007199254740991,\"big\":5E55,"
                       "\"inf\":1e400,\"e300\":-1e300,\"frac\":1.5,"
                       "\"over\":9007199254740993,\"mixed\":[\"a\",1e400],"
                       "\"ints\":[1,2]}");

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *t = rest_pointer_text(doc, rows[i].ptr, ", ");

        if (rows[i].text == NULL) {
            if (t != NULL) {
                print_error("%s gave %s\n", rows[i].ptr, t);
            }
            assert_null(t);
        } else {
            assert_non_null(t);
            assert_string_equal(t, rows[i].text);
        }
        free(t);
    }
    cJSON_Delete(doc);
}

/* A pending answer whose reference is a number out of range is malformed:
 * RETRY, never a reference made of a cast double. */
static void
test_classify_numbers(void **state)
{
    static const struct {
        const char *body;
        enum adapter_outcome want;
        const char *ref;
    } rows[] = {
        { "{\"id\":77}", ADAPTER_PENDING, "{\"req\":\"77\"}" },
        { "{\"id\":\"77\"}", ADAPTER_PENDING, "{\"req\":\"77\"}" },
        { "{\"id\":1e300}", ADAPTER_RETRY, NULL },
        { "{\"id\":5E55}", ADAPTER_RETRY, NULL },
        { "{\"id\":1e400}", ADAPTER_RETRY, NULL },
        { "{\"id\":1.5}", ADAPTER_RETRY, NULL },
        { "{\"id\":{\"x\":1}}", ADAPTER_RETRY, NULL },
        { "{\"id\":[]}", ADAPTER_RETRY, NULL },
    };
    /* A status list with a number no status is: matches nothing, no UB. */
    cJSON *op = parse("{\"expect\":[{\"status\":[1e300,5E55,-1,202.5],"
                      "\"outcome\":\"issued\"},{\"status\":1e400,"
                      "\"outcome\":\"issued\"},{\"status\":[202],"
                      "\"outcome\":\"pending\",\"ref\":{\"req\":\"/id\"}}]}");

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct adapter_result res;
        enum adapter_outcome o;

        memset(&res, 0, sizeof(res));
        o = rest_classify(op, 202, rows[i].body, 99999999, &res);
        if (o != rows[i].want) {
            print_error("row %zu: %d want %d\n", i, o, rows[i].want);
        }
        assert_int_equal(o, rows[i].want);
        if (rows[i].ref != NULL) {
            assert_string_equal(res.ref, rows[i].ref);
        } else {
            assert_null(res.ref);
            assert_non_null(strstr(res.detail, "malformed reference"));
        }
        /* Retry-After is clamped to a day */
        assert_int_equal(res.retry_after, ADAPTER_MAX_RETRY_AFTER);
        adapter_result_clear(&res);
    }
    cJSON_Delete(op);
}

static void
test_login_answer(void **state)
{
    static const struct {
        long status;
        const char *body;
        ap_err want;
        long long ttl;
    } rows[] = {
        { 200, "{\"auth\":{\"client_token\":\"tok\",\"lease_duration\":"
               "1800}}", AP_OK, 1800 },
        { 201, "{\"auth\":{\"client_token\":\"tok\",\"lease_duration\":"
               "\"60\"}}", AP_OK, 60 },
        { 200, "{\"auth\":{\"client_token\":\"tok\"}}", AP_OK, 0 },
        /* bad input: today's main computes ttl * 2 / 3 with these */
        { 200, "{\"auth\":{\"client_token\":\"tok\",\"lease_duration\":"
               "1e400}}", AP_EPARSE, 0 },
        { 200, "{\"auth\":{\"client_token\":\"tok\",\"lease_duration\":"
               "5E55}}", AP_EPARSE, 0 },
        { 200, "{\"auth\":{\"client_token\":\"tok\",\"lease_duration\":"
               "-1}}", AP_EPARSE, 0 },
        { 200, "{\"auth\":{\"client_token\":\"tok\",\"lease_duration\":"
               "1.5}}", AP_EPARSE, 0 },
        { 200, "{\"auth\":{\"client_token\":\"tok\",\"lease_duration\":"
               "\"12abc\"}}", AP_EPARSE, 0 },
        { 200, "{\"auth\":{\"client_token\":\"tok\",\"lease_duration\":"
               "6917529027641081856}}", AP_EPARSE, 0 },
        { 200, "{\"auth\":{}}", AP_EINVAL, 0 },
        { 200, "{\"auth\":{\"client_token\":\"\"}}", AP_EINVAL, 0 },
        { 403, "{\"auth\":{\"client_token\":\"tok\"}}", AP_EINVAL, 0 },
        { 200, "garbage", AP_EINVAL, 0 },
        { 0, NULL, AP_EINVAL, 0 },
    };
    cJSON *login = parse("{\"token_pointer\":\"/auth/client_token\","
                         "\"ttl_pointer\":\"/auth/lease_duration\"}");

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct adapter_answer a = { rows[i].status, rows[i].body,
                                    rows[i].body ? strlen(rows[i].body) : 0,
                                    NULL, -1 };
        char errbuf[200] = "";
        char *tok = NULL;
        long long ttl = -5;
        ap_err rc = rest_parse_login(login, &a, &tok, &ttl, errbuf,
                                     sizeof(errbuf));

        if (rc != rows[i].want) {
            print_error("row %zu: %d want %d (%s)\n", i, rc, rows[i].want,
                        errbuf);
        }
        assert_int_equal(rc, rows[i].want);
        if (rc == AP_OK) {
            assert_string_equal(tok, "tok");
            assert_int_equal(ttl, rows[i].ttl);
            adapter_secret_free(tok);
        } else {
            assert_null(tok);
            assert_int_equal(ttl, -5);
            assert_null(strstr(errbuf, "tok\""));
        }
    }
    cJSON_Delete(login);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pointer_good),
        cmocka_unit_test(test_pointer_bad),
        cmocka_unit_test(test_render_good),
        cmocka_unit_test(test_render_bad),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_pointer_numbers),
        cmocka_unit_test(test_classify_numbers),
        cmocka_unit_test(test_login_answer),
    };

    if (crypto_init() != AP_OK) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
