/* test/unit/test_eab.c: proxy/eab.c, external account binding keys.
 *
 * Keys are minted into a store in a fresh mkdtemp directory and used the
 * way newAccount and newOrder use them: verify a binding (good MAC, wrong
 * MAC, revoked key), bind accounts (single use), list, revoke.
 *
 * The MAC key is a secret: no heap block that held it may be freed
 * without being wiped first. This binary is linked with
 * -Wl,--wrap=free (the project's own objects) and installs cJSON hooks
 * (cJSON's allocations), so every free of our code and of cJSON passes
 * through check_free(), which looks for the key's text and bytes in the
 * block about to be released. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/b64url.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/store.h"
#include "proxy/app.h"
#include "proxy/eab.h"
#include "proxy/http.h"
#include "test/unit/tmpdir.h"

/* RFC 7515 A.3's P-256 key and its RFC 7638 thumbprint. */
#define A3_JWK                                                            \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"                            \
    "\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":"              \
    "\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"
#define A3_THUMBPRINT "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
#define URL "https://acme.test/acme/new-account"

void __real_free(void *p);
void __wrap_free(void *p);

/* The secret being watched (text and raw bytes), and what was seen. */
static char watch_text[EAB_HMAC_LEN + 1];
static unsigned char watch_raw[32];
static bool watching;
static unsigned unwiped;

static void
check_free(void *p)
{
    size_t n;

    if (p == NULL || !watching) {
        return;
    }
    n = malloc_usable_size(p);
    if (memmem(p, n, watch_text, strlen(watch_text)) != NULL ||
        memmem(p, n, watch_raw, sizeof(watch_raw)) != NULL) {
        unwiped++;
    }
}

void
__wrap_free(void *p)
{
    check_free(p);
    __real_free(p);
}

static void
cjson_free(void *p)
{
    check_free(p);
    __real_free(p);
}

struct fixture {
    char dir[64];
    struct store *st;
    struct config cfg;
    struct app app;
    char kid[EAB_KID_LEN + 1];
};


static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    cJSON_Hooks hooks = { malloc, cjson_free };
    char errbuf[200];
    char hmac[EAB_HMAC_LEN + 1];
    size_t rawlen = 0;

    if (f == NULL) {
        return -1;
    }
    cJSON_InitHooks(&hooks);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_eab.XXXXXX");
    if (mkdtemp(f->dir) == NULL ||
        store_open(&(struct store_config){ .dir = f->dir,
                                           .map_size_mb = 64 },
                   &f->st, errbuf, sizeof(errbuf)) != AP_OK) {
        free(f);
        return -1;
    }
    f->app.cfg = &f->cfg;
    f->app.st = f->st;
    if (eab_create(f->st, &f->cfg, "team-a", NULL, NULL, f->kid,
                   sizeof(f->kid),
                   hmac, sizeof(hmac), errbuf, sizeof(errbuf)) != AP_OK ||
        b64url_decode(hmac, strlen(hmac), watch_raw, sizeof(watch_raw),
                      &rawlen) != AP_OK ||
        rawlen != sizeof(watch_raw)) {
        return -1;
    }
    snprintf(watch_text, sizeof(watch_text), "%s", hmac);
    crypto_zeroize(hmac, sizeof(hmac));
    unwiped = 0;
    watching = true;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    watching = false;
    store_close(f->st);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* A newAccount externalAccountBinding for the A.3 key, MACed with key
 * (raw bytes) under kid; url may differ from URL for a negative. */
static cJSON *
binding(const char *kid, const unsigned char *key, size_t keylen,
        const char *url)
{
    char prot[512];
    char *prot_b64;
    char *payload_b64;
    char *sig_b64;
    char *signing;
    unsigned char mac[CRYPTO_HMAC_MAX];
    size_t maclen = 0;
    size_t n;
    cJSON *b;

    snprintf(prot, sizeof(prot),
             "{\"alg\":\"HS256\",\"kid\":\"%s\",\"url\":\"%s\"}", kid, url);
    prot_b64 = b64url_encode_alloc(prot, strlen(prot));
    payload_b64 = b64url_encode_alloc(A3_JWK, strlen(A3_JWK));
    assert_non_null(prot_b64);
    assert_non_null(payload_b64);
    n = strlen(prot_b64) + strlen(payload_b64) + 2;
    signing = malloc(n);
    assert_non_null(signing);
    snprintf(signing, n, "%s.%s", prot_b64, payload_b64);
    assert_int_equal(crypto_hmac("HS256", key, keylen, signing,
                                 strlen(signing), mac, &maclen),
                     AP_OK);
    sig_b64 = b64url_encode_alloc(mac, maclen);
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "protected", prot_b64);
    cJSON_AddStringToObject(b, "payload", payload_b64);
    cJSON_AddStringToObject(b, "signature", sig_b64);
    free(prot_b64);
    free(payload_b64);
    free(sig_b64);
    free(signing);
    return b;
}

static void
test_verify_good(void **state)
{
    struct fixture *f = *state;
    struct acme_resp resp;
    cJSON *b = binding(f->kid, watch_raw, sizeof(watch_raw), URL);
    cJSON *rec = NULL;

    acme_resp_init(&resp);
    assert_int_equal(eab_verify(&f->app, b, URL, A3_THUMBPRINT, &resp, &rec),
                     AP_OK);
    assert_int_equal(resp.status, 0);
    assert_non_null(rec);
    assert_string_equal(json_str(rec, "label", ""), "team-a");
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "hmac"));
    eab_record_free(rec);
    acme_resp_fini(&resp);
    cJSON_Delete(b);
    assert_int_equal(unwiped, 0);
}

/* Refusals: the MAC of another key, another url, another account key, an
 * unknown kid, a revoked key. The record read for the check is released
 * wiped on every path. */
static void
test_verify_refused(void **state)
{
    struct fixture *f = *state;
    unsigned char other[32];
    struct {
        const char *kid;
        const unsigned char *key;
        const char *url;
        const char *thumbprint;
        int status;
    } rows[] = {
        { f->kid, other, URL, A3_THUMBPRINT, 403 },
        { f->kid, watch_raw, "https://acme.test/other", A3_THUMBPRINT, 400 },
        { f->kid, watch_raw, URL, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
          403 },
        { "AAAAAAAAAAAAAAAAAAAAAA", watch_raw, URL, A3_THUMBPRINT, 403 },
    };

    memset(other, 7, sizeof(other));
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct acme_resp resp;
        cJSON *b = binding(rows[i].kid, rows[i].key, sizeof(other), URL);
        cJSON *rec = NULL;

        acme_resp_init(&resp);
        assert_int_equal(eab_verify(&f->app, b, rows[i].url,
                                    rows[i].thumbprint, &resp, &rec),
                         AP_OK);
        assert_int_equal(resp.status, rows[i].status);
        assert_null(rec);
        acme_resp_fini(&resp);
        cJSON_Delete(b);
    }
    assert_int_equal(eab_revoke(f->st, f->kid, NULL), AP_OK);
    {
        struct acme_resp resp;
        cJSON *b = binding(f->kid, watch_raw, sizeof(watch_raw), URL);
        cJSON *rec = NULL;

        acme_resp_init(&resp);
        assert_int_equal(
            eab_verify(&f->app, b, URL, A3_THUMBPRINT, &resp, &rec), AP_OK);
        assert_int_equal(resp.status, 403);
        assert_null(rec);
        acme_resp_fini(&resp);
        cJSON_Delete(b);
    }
    assert_int_equal(unwiped, 0);
}

/* Binding accounts (single use refuses a second), listing and reading the
 * record the way newOrder does keep the key in the store and out of every
 * freed block. */
static void
test_bind_list_read(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    cJSON *list = NULL;
    cJSON *rec = NULL;

    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(eab_bind(txn, f->kid, "acct1", true), AP_OK);
    assert_int_equal(eab_bind(txn, f->kid, "acct2", true), AP_EEXIST);
    assert_int_equal(store_commit(txn), AP_OK);

    assert_int_equal(eab_list(f->st, &list), AP_OK);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 0),
                                                 "hmac"));
    cJSON_Delete(list);

    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(store_get_json(txn, STORE_EAB, f->kid, &rec), AP_OK);
    store_abort(txn);
    /* Still stored after the bind rewrote the record. */
    assert_string_equal(json_str(rec, "hmac", ""), watch_text);
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "accounts"),
                           0)
            ->valuestring,
        "acct1");
    eab_record_free(rec);
    assert_int_equal(unwiped, 0);
}

/* The check itself: a block freed with the key in it is seen. */
static void
test_watch_sees_unwiped(void **state)
{
    char *copy = strdup(watch_text);

    (void)state;
    assert_non_null(copy);
    free(copy);
    assert_int_equal(unwiped, 1);
    unwiped = 0;
}

/* default_profile: kept when it is a configured profile and one of the
 * key's profiles (when it lists some); refused otherwise, naming why.
 * preauthorized: names as allow_names, suffixes of two labels at least. */
static void
test_default_profile(void **state)
{
    struct fixture *f = *state;
    struct config_profile profs[2];
    struct config cfg = f->cfg;
    static const struct {
        const char *json;
        const char *err;    /* NULL: accepted */
    } rows[] = {
        { "{\"default_profile\":\"short\"}", NULL },
        { "{\"profiles\":[\"tls\",\"short\"],\"default_profile\":\"short\"}",
          NULL },
        { "{\"default_profile\":\"nosuch\"}", "no such profile" },
        { "{\"profiles\":[\"tls\"],\"default_profile\":\"short\"}",
          "not one of the key's profiles" },
        { "{\"default_profile\":7}", "no such profile" },
        /* pre-authorised names: suffixes of two labels or more */
        { "{\"preauthorized\":[\".db.corp.test\",\"h.corp.test\"]}", NULL },
        { "{\"preauthorized\":[\".corp\"]}", "two labels" },
        { "{\"preauthorized\":[\"a b.test\"]}", "preauthorized" },
        { "{\"preauthorized\":[]}", "1 to 64" },
    };

    memset(profs, 0, sizeof(profs));
    profs[0].name = (char *)"tls";
    profs[1].name = (char *)"short";
    cfg.profiles[0] = profs[0];
    cfg.profiles[1] = profs[1];
    cfg.n_profiles = 2;
    watching = false;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cJSON *policy = cJSON_Parse(rows[i].json);
        char kid[EAB_KID_LEN + 8];
        char hmac[EAB_HMAC_LEN + 8];
        char errbuf[200] = "";
        struct store_txn *txn = NULL;
        cJSON *rec = NULL;
        ap_err rc;

        assert_non_null(policy);
        rc = eab_create(f->st, &cfg, "team-d", policy, NULL, kid,
                        sizeof(kid), hmac, sizeof(hmac), errbuf,
                        sizeof(errbuf));
        cJSON_Delete(policy);
        if (rows[i].err != NULL) {
            assert_int_equal(rc, AP_EINVAL);
            if (strstr(errbuf, rows[i].err) == NULL) {
                fail_msg("row %zu: '%s' does not say '%s'", i, errbuf,
                         rows[i].err);
            }
            continue;
        }
        assert_int_equal(rc, AP_OK);
        assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
        assert_int_equal(store_get_json(txn, STORE_EAB, kid, &rec), AP_OK);
        store_abort(txn);
        if (strstr(rows[i].json, "default_profile") != NULL) {
            assert_string_equal(json_str(rec, "default_profile", ""),
                                "short");
        } else {
            assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
                                 rec, "preauthorized")),
                             2);
        }
        cJSON_Delete(rec);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_watch_sees_unwiped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bind_list_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_default_profile, setup,
                                        teardown),
    };

    if (crypto_init() != AP_OK) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
