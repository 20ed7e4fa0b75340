/* test/unit/test_lookup.c: what the lookups after a crash make of a PKI's
 * answers (adapters/adapters_int.h): EJBCA's certificate search (the
 * certificate for the CSR's key, encoded once or twice, or none, or cannot
 * tell) and the generic REST adapter's not_found rule. A good table and a
 * longer bad one, as everywhere. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/rows.h"
#include "test/unit/tmpdir.h"

#include "adapters/adapters_int.h"
#include "common/ca.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/x509.h"

#define VECTOR_DIR "test/unit/vectors/"

static struct crypto_csr *csr;   /* csr_ec_sans.der */
static char *ours_b64;           /* base64 DER of a leaf for csr's key */
static char *ours_b64b64;        /* ... base64-encoded again */
static char *other_b64;          /* base64 DER of a leaf for another key */
static char tmpdir[64];

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = calloc(1, 1 << 16);
    size_t n = 0;

    if (f != NULL && data != NULL) {
        n = fread(data, 1, (1 << 16) - 1, f);
    }
    if (f != NULL) {
        fclose(f);
    }
    if (n == 0) {
        free(data);
        return NULL;
    }
    if (len != NULL) {
        *len = n;
    }
    return data;
}

static char *
b64(const void *data, size_t len)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *d = data;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;

    for (size_t i = 0; out != NULL && i < len; i += 3) {
        unsigned v = (unsigned)d[i] << 16;

        v |= i + 1 < len ? (unsigned)d[i + 1] << 8 : 0;
        v |= i + 2 < len ? d[i + 2] : 0;
        out[o++] = al[(v >> 18) & 63];
        out[o++] = al[(v >> 12) & 63];
        out[o++] = i + 1 < len ? al[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? al[v & 63] : '=';
    }
    if (out != NULL) {
        out[o] = '\0';
    }
    return out;
}

static char *
pem_b64(const char *pem)
{
    unsigned char *der = NULL;
    size_t len = 0;
    char *out;

    if (x509_pem_cert_to_der(pem, &der, &len) != AP_OK) {
        return NULL;
    }
    out = b64(der, len);
    free(der);
    return out;
}

static int
group_setup(void **state)
{
    struct ca *ca = NULL;
    struct ca_issue_req r;
    const char *names[] = { "ours.example" };
    char *der = NULL;
    char *pem = NULL;
    char *other = NULL;
    char errbuf[256];
    size_t len = 0;
    int rc = -1;

    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_lookup.XXXXXX");
    if (crypto_init() != AP_OK || mkdtemp(tmpdir) == NULL ||
        ca_open(tmpdir, &ca, errbuf, sizeof(errbuf)) != AP_OK) {
        return -1;
    }
    der = slurp(VECTOR_DIR "csr_ec_sans.der", &len);
    if (der == NULL || crypto_csr_read((const unsigned char *)der, len, &csr,
                                       errbuf, sizeof(errbuf)) != AP_OK) {
        goto out;
    }
    memset(&r, 0, sizeof(r));
    r.pubkey_der = csr->pubkey_der;
    r.pubkey_der_len = csr->pubkey_der_len;
    r.dns_names = names;
    r.n_dns_names = 1;
    r.not_before = 1700000000;
    r.not_after = 1900000000;
    if (ca_issue(ca, &r, &pem, errbuf, sizeof(errbuf)) != AP_OK) {
        goto out;
    }
    ours_b64 = pem_b64(pem);
    ours_b64b64 = ours_b64 != NULL ? b64(ours_b64, strlen(ours_b64)) : NULL;
    /* Another key's certificate: a fresh key (the vectors share theirs). */
    {
        char *key = NULL;

        if (ca_issue_tls(ca, names, 1, NULL, 0, 30, &key, &other, errbuf,
                         sizeof(errbuf)) != AP_OK) {
            goto out;
        }
        free(key);
    }
    other_b64 = pem_b64(other);
    rc = ours_b64 && ours_b64b64 && other_b64 ? 0 : -1;
out:
    free(der);
    free(pem);
    free(other);
    ca_free(ca);
    return rc;
}

static int
group_teardown(void **state)
{
    (void)state;
    crypto_csr_free(csr);
    free(ours_b64);
    free(ours_b64b64);
    free(other_b64);
    tmpdir_remove(tmpdir);
    crypto_fini();
    return 0;
}

/* ---- EJBCA's search --------------------------------------------------- */

enum cert_kind { NONE, OURS, OURS_TWICE, OTHER, BAD_B64 };

struct search_row {
    const char *name;
    long status;
    const char *body;       /* with %s for the certificates, or literal */
    enum cert_kind first;
    enum cert_kind second;
    bool more;
    enum adapter_outcome want;
};

static const struct search_row search_good[] = {
    { "one certificate, DER base64 once", 200, NULL, OURS, NONE, false,
      ADAPTER_ISSUED },
    { "one certificate, base64 twice (what EJBCA sends)", 200, NULL,
      OURS_TWICE, NONE, false, ADAPTER_ISSUED },
    { "ours after another end entity's", 200, NULL, OTHER, OURS_TWICE, false,
      ADAPTER_ISSUED },
    { "no certificate: submitting again is safe", 200, NULL, NONE, NONE,
      false, ADAPTER_NOT_FOUND },
};

static const struct search_row search_bad[] = {
    { "only another key's certificate", 200, NULL, OTHER, NONE, false,
      ADAPTER_NOT_FOUND },
    { "a certificate that does not decode", 200, NULL, BAD_B64, NONE, false,
      ADAPTER_NOT_FOUND },
    { "more results than asked, none ours", 200, NULL, OTHER, NONE, true,
      ADAPTER_RETRY },
    { "no certificates array", 200, "{\"more_results\":false}", NONE, NONE,
      false, ADAPTER_RETRY },
    { "not JSON", 200, "<html>", NONE, NONE, false, ADAPTER_RETRY },
    { "no search resource (old EJBCA)", 404, "{}", NONE, NONE, false,
      ADAPTER_UNKNOWN },
    { "administrator not allowed", 403,
      "{\"error_code\":403,\"error_message\":\"Not authorized\"}", NONE,
      NONE, false, ADAPTER_RETRY },
    { "malformed request", 400,
      "{\"error_code\":400,\"error_message\":\"Malformed request.\"}", NONE,
      NONE, false, ADAPTER_RETRY },
    { "server error", 503, "", NONE, NONE, false, ADAPTER_RETRY },
};

static const char *
cert_text(enum cert_kind k)
{
    switch (k) {
    case OURS:
        return ours_b64;
    case OURS_TWICE:
        return ours_b64b64;
    case OTHER:
        return other_b64;
    case BAD_B64:
        return "!!not base64!!";
    case NONE:
    default:
        return NULL;
    }
}

static void
test_search(void **state)
{
    const struct search_row *r = *state;
    struct adapter_result res;
    char *body = NULL;
    enum adapter_outcome o;

    memset(&res, 0, sizeof(res));
    if (r->body != NULL) {
        body = strdup(r->body);
    } else {
        const char *a = cert_text(r->first);
        const char *b = cert_text(r->second);
        size_t n = 200 + (a ? strlen(a) : 0) + (b ? strlen(b) : 0);

        body = malloc(n);
        assert_non_null(body);
        snprintf(body, n,
                 "{\"certificates\":[%s%s%s%s%s%s%s],\"more_results\":%s}",
                 a ? "{\"certificate\":\"" : "", a ? a : "",
                 a ? "\",\"serial_number\":\"1A\"}" : "",
                 a && b ? "," : "", b ? "{\"certificate\":\"" : "",
                 b ? b : "", b ? "\",\"serial_number\":\"2B\"}" : "",
                 r->more ? "true" : "false");
    }
    o = ejbca_search_classify(r->status, body, csr, &res);
    if (o != r->want) {
        print_error("%s: outcome %d, want %d (%s)\n", r->name, o, r->want,
                    res.detail ? res.detail : "-");
    }
    assert_int_equal(o, r->want);
    if (o == ADAPTER_ISSUED) {
        assert_non_null(res.cert_pem);
        assert_non_null(strstr(res.cert_pem, "-----BEGIN CERTIFICATE-----"));
        /* The serial of the adopted certificate, not another's. */
        assert_string_equal(res.ref, r->first == OTHER ? "2B" : "1A");
    } else {
        assert_null(res.cert_pem);
        assert_non_null(res.detail);
    }
    adapter_result_clear(&res);
    free(body);
}

/* ---- rest: the not_found rule ------------------------------------------ */

static void
test_rest_not_found(void **state)
{
    static const char *op_text =
        "{\"expect\":[{\"status\":[200],\"when\":{\"pointer\":"
        "\"/certificates/0\",\"exists\":true},\"outcome\":\"issued\"},"
        "{\"status\":[200],\"outcome\":\"not_found\"},"
        "{\"status\":[403],\"outcome\":\"auth\"}],"
        "\"extract\":{\"cert\":{\"pointer\":\"/certificates/0/certificate\","
        "\"encoding\":\"der_b64\"}}}";
    cJSON *op = cJSON_Parse(op_text);
    struct adapter_result res;
    char body[8192];

    (void)state;
    assert_non_null(op);
    memset(&res, 0, sizeof(res));
    assert_int_equal(rest_classify(op, 200, "{\"certificates\":[]}", 0, &res),
                     ADAPTER_NOT_FOUND);
    adapter_result_clear(&res);
    /* A certificate base64-encoded twice is taken with der_b64. */
    snprintf(body, sizeof(body), "{\"certificates\":[{\"certificate\":\"%s\"}]}",
             ours_b64b64);
    assert_int_equal(rest_classify(op, 200, body, 0, &res), ADAPTER_ISSUED);
    assert_non_null(res.cert_pem);
    adapter_result_clear(&res);
    assert_int_equal(rest_classify(op, 403, "{}", 0, &res), ADAPTER_RETRY);
    adapter_result_clear(&res);
    assert_int_equal(rest_classify(op, 500, "", 0, &res), ADAPTER_RETRY);
    adapter_result_clear(&res);
    cJSON_Delete(op);
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(search_bad) >= N_ROWS(search_good),
                   "bad table at least as long as the good one");
    for (size_t i = 0; i < N_ROWS(search_good); i++) {
        add_test(&l, search_good[i].name, test_search, &search_good[i]);
    }
    for (size_t i = 0; i < N_ROWS(search_bad); i++) {
        add_test(&l, search_bad[i].name, test_search, &search_bad[i]);
    }
    add_test(&l, "rest: not_found and der_b64 twice", test_rest_not_found,
             NULL);
    failed = _cmocka_run_group_tests("lookup", l.tests, l.n, group_setup,
                                     group_teardown);
    free(l.tests);
    return failed;
}
