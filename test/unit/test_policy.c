/* test/unit/test_policy.c: global and team policy (proxy/policy.c), the
 * rate limiter (proxy/ratelimit.c); the audit log is test_audit.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/jwk.h"
#include "common/json.h"
#include "proxy/policy.h"
#include "proxy/problem.h"
#include "proxy/ratelimit.h"

static struct config cfg;
static struct policy_rules global;

/* A config with two profiles and the given [policy] values. */
static void
make_config(const char *names, const char *ips, bool wildcards,
            unsigned max_days)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.policy.allow_names = (char *)(uintptr_t)names;
    cfg.policy.allow_ips = (char *)(uintptr_t)ips;
    cfg.policy.wildcards = wildcards;
    cfg.policy.max_identifiers = 3;
    cfg.policy.min_rsa_bits = 3072;
    cfg.policy.ec_curves = (char *)"P-256";
    cfg.policy.max_validity_days = max_days;
    cfg.acme.default_profile = (char *)"tls";
    cfg.acme.cert_days = 90;
    cfg.profiles[0].name = (char *)"tls";
    cfg.profiles[0].validity_days = 90;
    cfg.profiles[1].name = (char *)"short";
    cfg.profiles[1].validity_days = 7;
    cfg.n_profiles = 2;
}

static cJSON *
idents(const char *spec)
{
    /* "dns:a.b ip:1.2.3.4" */
    cJSON *arr = cJSON_CreateArray();
    char buf[512];
    char *save = NULL;

    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *tok = strtok_r(buf, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        cJSON *o = cJSON_CreateObject();
        char *colon = strchr(tok, ':');

        *colon = '\0';
        cJSON_AddStringToObject(o, "type", tok);
        cJSON_AddStringToObject(o, "value", colon + 1);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *
team(const char *names, const char *ips, const char *profiles,
     long long max_days, bool revoked)
{
    cJSON *rec = cJSON_CreateObject();
    char buf[256];
    char *save = NULL;

    cJSON_AddStringToObject(rec, "kid", "kid1");
    cJSON_AddStringToObject(rec, "label", "team-a");
    cJSON_AddNumberToObject(rec, "revoked", revoked ? 1 : 0);
    if (max_days > 0) {
        cJSON_AddNumberToObject(rec, "max_validity_days", (double)max_days);
    }
    const char *lists[3][2] = { { "allow_names", names },
                                { "allow_ips", ips },
                                { "profiles", profiles } };
    for (int i = 0; i < 3; i++) {
        cJSON *arr;

        if (lists[i][1] == NULL) {
            continue;
        }
        arr = cJSON_AddArrayToObject(rec, lists[i][0]);
        snprintf(buf, sizeof(buf), "%s", lists[i][1]);
        for (char *t = strtok_r(buf, " ", &save); t != NULL;
             t = strtok_r(NULL, " ", &save)) {
            cJSON_AddItemToArray(arr, cJSON_CreateString(t));
        }
    }
    return rec;
}

/* The subproblem identifiers of a rejectedIdentifier response. */
static int
n_subproblems(struct acme_resp *resp)
{
    cJSON *doc = cJSON_Parse(resp->body.data);
    int n;

    assert_non_null(doc);
    assert_string_equal(json_str(doc, "type", ""),
                        "urn:ietf:params:acme:error:rejectedIdentifier");
    n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc,
                                                            "subproblems"));
    cJSON_Delete(doc);
    return n;
}

struct ident_row {
    const char *team_names;  /* NULL: no team */
    const char *team_ips;
    const char *idents;
    int refused;             /* subproblems expected; 0: allowed */
};

static const struct ident_row ident_rows[] = {
    /* allowed */
    { NULL, NULL, "dns:www.a.test", 0 },
    { NULL, NULL, "dns:a.test", 0 },               /* exact global entry */
    { NULL, NULL, "dns:*.b.test", 0 },
    { NULL, NULL, "ip:10.1.2.3 ip:fd00::1", 0 },
    { ".x.a.test", "10.9.0.0/16", "dns:h.x.a.test ip:10.9.1.1", 0 },
    /* refused */
    { NULL, NULL, "dns:c.test", 1 },
    { NULL, NULL, "dns:evila.test", 1 },          /* suffix needs the dot */
    { NULL, NULL, "dns:b.test", 1 },              /* .b.test is below only */
    { NULL, NULL, "ip:192.168.1.1", 1 },
    { NULL, NULL, "dns:ok.a.test dns:bad.test ip:8.8.8.8", 2 },
    { ".x.a.test", NULL, "dns:y.a.test", 1 },      /* outside the team */
    { ".x.a.test", NULL, "dns:h.x.a.test dns:c.test", 1 },
    { NULL, "10.9.0.0/16", "ip:10.1.1.1", 1 },     /* team narrows ips */
    { ".x.a.test", NULL, "dns:x.a.test", 1 },
};

static void
test_identifiers(void **state)
{
    (void)state;
    make_config(".a.test a.test .b.test", "10.0.0.0/8 fd00::/8", true, 0);
    assert_int_equal(policy_global_init(&cfg, &global, NULL, 0), AP_OK);
    for (size_t i = 0; i < sizeof(ident_rows) / sizeof(ident_rows[0]); i++) {
        const struct ident_row *r = &ident_rows[i];
        struct policy p;
        struct acme_resp resp;
        cJSON *rec = NULL;
        cJSON *ids = idents(r->idents);
        bool ok;

        if (r->team_names != NULL || r->team_ips != NULL) {
            rec = team(r->team_names, r->team_ips, NULL, 0, false);
        }
        acme_resp_init(&resp);
        policy_for_account(&global, rec, &p, &resp);
        assert_int_equal(resp.status, 0);
        ok = policy_check_identifiers(&p, ids, &resp);
        if (r->refused == 0) {
            assert_true(ok);
            assert_int_equal(resp.status, 0);
        } else {
            assert_false(ok);
            assert_int_equal(resp.status, 400);
            assert_int_equal(n_subproblems(&resp), r->refused);
        }
        acme_resp_fini(&resp);
        cJSON_Delete(ids);
        cJSON_Delete(rec);
    }
}

static void
test_wildcards_and_count(void **state)
{
    struct policy p;
    struct acme_resp resp;
    cJSON *ids;

    (void)state;
    make_config("", "", false, 0);
    assert_int_equal(policy_global_init(&cfg, &global, NULL, 0), AP_OK);
    acme_resp_init(&resp);
    policy_for_account(&global, NULL, &p, &resp);
    ids = idents("dns:*.a.test dns:a.test");
    assert_false(policy_check_identifiers(&p, ids, &resp));
    assert_int_equal(n_subproblems(&resp), 1);
    cJSON_Delete(ids);
    acme_resp_fini(&resp);
    acme_resp_init(&resp);
    ids = idents("dns:a.a dns:b.a dns:c.a dns:d.a");
    assert_false(policy_check_identifiers(&p, ids, &resp));
    assert_int_equal(resp.status, 400);
    cJSON_Delete(ids);
    acme_resp_fini(&resp);
}

static void
test_revoked_team(void **state)
{
    struct policy p;
    struct acme_resp resp;
    cJSON *rec = team(".a.test", NULL, NULL, 0, true);

    (void)state;
    make_config("", "", true, 0);
    assert_int_equal(policy_global_init(&cfg, &global, NULL, 0), AP_OK);
    acme_resp_init(&resp);
    policy_for_account(&global, rec, &p, &resp);
    assert_int_equal(resp.status, 403);
    acme_resp_fini(&resp);
    cJSON_Delete(rec);
}

struct profile_row {
    const char *team_profiles; /* NULL: no team */
    const char *asked;         /* NULL: none named */
    const char *want;          /* NULL: refused */
    const char *team_default;  /* the key's default_profile, or NULL */
};

static const struct profile_row profile_rows[] = {
    { NULL, NULL, "tls", NULL },           /* the server default */
    { NULL, "short", "short", NULL },
    { "short", NULL, "short", NULL },      /* the team's first is its default */
    { "short tls", "tls", "tls", NULL },
    { NULL, "nosuch", NULL, NULL },
    { "short", "tls", NULL, NULL },        /* not the team's */
    { "short", "nosuch", NULL, NULL },
    /* eab add --default-profile: wins over the first of the list */
    { "short tls", NULL, "tls", "tls" },
    { "short tls", "short", "short", "tls" },
    { "", NULL, "short", "short" },
};

static void
test_profiles(void **state)
{
    (void)state;
    make_config("", "", true, 0);
    assert_int_equal(policy_global_init(&cfg, &global, NULL, 0), AP_OK);
    for (size_t i = 0; i < sizeof(profile_rows) / sizeof(profile_rows[0]);
         i++) {
        const struct profile_row *r = &profile_rows[i];
        const struct config_profile *got = NULL;
        struct policy p;
        struct acme_resp resp;
        cJSON *rec = r->team_profiles ? team(NULL, NULL, r->team_profiles, 0,
                                             false)
                                      : NULL;

        if (rec != NULL && r->team_default != NULL) {
            cJSON_AddStringToObject(rec, "default_profile", r->team_default);
        }

        acme_resp_init(&resp);
        policy_for_account(&global, rec, &p, &resp);
        if (r->want != NULL) {
            assert_true(policy_pick_profile(&p, &cfg, r->asked, &got, &resp));
            assert_non_null(got);
            assert_string_equal(got->name, r->want);
        } else {
            assert_false(policy_pick_profile(&p, &cfg, r->asked, &got, &resp));
            assert_null(got);
            assert_int_equal(resp.status, 400);
            assert_non_null(strstr(resp.body.data, "invalidProfile"));
        }
        acme_resp_fini(&resp);
        cJSON_Delete(rec);
    }
}

static void
test_max_days(void **state)
{
    struct policy p;
    struct acme_resp resp;
    cJSON *rec = team(NULL, NULL, NULL, 30, false);

    (void)state;
    make_config("", "", true, 60);
    assert_int_equal(policy_global_init(&cfg, &global, NULL, 0), AP_OK);
    acme_resp_init(&resp);
    policy_for_account(&global, NULL, &p, &resp);
    assert_int_equal(policy_max_days(&p, 90), 60);
    assert_int_equal(policy_max_days(&p, 7), 7);
    policy_for_account(&global, rec, &p, &resp);
    assert_int_equal(policy_max_days(&p, 90), 30);
    acme_resp_fini(&resp);
    cJSON_Delete(rec);
}

static void
test_keys(void **state)
{
    static const struct {
        enum crypto_key_type type;
        unsigned bits;
        const char *curve;
        bool ok;
    } rows[] = {
        { CRYPTO_KEY_RSA, 3072, NULL, true },
        { CRYPTO_KEY_RSA, 4096, NULL, true },
        { CRYPTO_KEY_EC, 256, "P-256", true },
        { CRYPTO_KEY_RSA, 2048, NULL, false },    /* min_rsa_bits 3072 */
        { CRYPTO_KEY_RSA, 16384, NULL, false },
        { CRYPTO_KEY_EC, 384, "P-384", false },   /* not in ec_curves */
        { CRYPTO_KEY_EC, 521, "P-521", false },
        { CRYPTO_KEY_EC, 256, NULL, false },
    };
    struct policy p;

    (void)state;
    make_config("", "", true, 0);
    assert_int_equal(policy_global_init(&cfg, &global, NULL, 0), AP_OK);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct crypto_csr csr;
        struct acme_resp resp;

        memset(&csr, 0, sizeof(csr));
        csr.key_type = rows[i].type;
        csr.key_bits = rows[i].bits;
        csr.curve = rows[i].curve;
        acme_resp_init(&resp);
        policy_for_account(&global, NULL, &p, &resp);
        assert_int_equal(policy_check_key(&p, &csr, NULL, &resp),
                         rows[i].ok);
        if (!rows[i].ok) {
            /* RFC 8555 §7.4: a CSR the CA will not sign is badCSR;
             * badPublicKey is for the key that signed the JWS. */
            assert_non_null(strstr(resp.body.data, "badCSR"));
            assert_null(strstr(resp.body.data, "badPublicKey"));
        }
        acme_resp_fini(&resp);
    }
}

/* The certificate's key must not be the account key (Boulder refuses it
 * too): the second key is RFC 7517 A.1's. */
static void
test_key_is_account_key(void **state)
{
    static const char *const jwks[2] = {
        "{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
        "\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\"}",
    };
    struct crypto_key *keys[2] = { NULL, NULL };
    struct crypto_csr csr;
    struct acme_resp resp;
    struct policy p;

    (void)state;
    make_config("", "", true, 0);
    assert_int_equal(policy_global_init(&cfg, &global, NULL, 0), AP_OK);
    for (int i = 0; i < 2; i++) {
        cJSON *j = cJSON_Parse(jwks[i]);

        assert_non_null(j);
        assert_int_equal(crypto_jwk_parse(j, &keys[i], NULL, 0), AP_OK);
        cJSON_Delete(j);
    }
    /* A CSR for the first key. */
    memset(&csr, 0, sizeof(csr));
    csr.key_type = CRYPTO_KEY_EC;
    csr.key_bits = 256;
    csr.curve = "P-256";
    assert_int_equal(crypto_key_spki_der(keys[0], &csr.pubkey_der,
                                         &csr.pubkey_der_len),
                     AP_OK);

    acme_resp_init(&resp);
    policy_for_account(&global, NULL, &p, &resp);
    assert_false(policy_check_key(&p, &csr, keys[0], &resp));
    assert_int_equal(resp.status, 400);
    assert_non_null(strstr(resp.body.data, "badCSR"));
    assert_non_null(strstr(resp.body.data, "account key"));
    acme_resp_fini(&resp);

    acme_resp_init(&resp);
    assert_true(policy_check_key(&p, &csr, keys[1], &resp));
    assert_int_equal(resp.status, 0);
    assert_true(policy_check_key(&p, &csr, NULL, &resp));
    acme_resp_fini(&resp);

    free(csr.pubkey_der);
    crypto_key_free(keys[0]);
    crypto_key_free(keys[1]);
}

static void
test_bad_config(void **state)
{
    static const char *const bad_curves[] = { "P-192", "secp256k1", "P256" };
    char errbuf[200];

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        make_config("", "", true, 0);
        cfg.policy.ec_curves = (char *)(uintptr_t)bad_curves[i];
        assert_int_equal(policy_global_init(&cfg, &global, errbuf,
                                            sizeof(errbuf)),
                         AP_ECONFIG);
        assert_non_null(strstr(errbuf, "ec_curves"));
    }
    make_config("", "10.0.0.1/8", true, 0);
    assert_int_not_equal(policy_global_init(&cfg, &global, errbuf,
                                            sizeof(errbuf)),
                         AP_OK);
}

/* The slot run a plain SHA-256 of key would start at (the old,
 * unkeyed placement an attacker can compute). */
static size_t
unkeyed_start(const char *key)
{
    unsigned char h[CRYPTO_SHA256_LEN];

    crypto_sha256(key, strlen(key), h);
    return (((size_t)h[0] << 16) | ((size_t)h[1] << 8) | h[2]) %
           RATELIMIT_SLOTS;
}

/* Keys ground to share the victim's unkeyed probe run must not evict the
 * victim's count: the placement is keyed with a secret of the process. */
static void
test_ratelimit_ground_keys(void **state)
{
    struct ratelimit *rl = NULL;
    const char *victim = "acct:192.0.2.7";
    size_t want = unkeyed_start(victim);
    char key[32];
    int found = 0;

    (void)state;
    assert_int_equal(ratelimit_new(&rl), AP_OK);
    assert_true(ratelimit_take(rl, victim, 1, true, NULL));
    assert_false(ratelimit_take(rl, victim, 1, false, NULL));
    for (long i = 0; found < 32 && i < 4000000; i++) {
        snprintf(key, sizeof(key), "acct:g%ld", i);
        if (unkeyed_start(key) == want) {
            ratelimit_note(rl, key);
            found++;
        }
    }
    assert_int_equal(found, 32);
    assert_false(ratelimit_take(rl, victim, 1, false, NULL));
    ratelimit_free(rl);
}

static void
test_ratelimit(void **state)
{
    struct ratelimit *rl = NULL;
    unsigned retry = 0;
    char key[32];

    (void)state;
    assert_int_equal(ratelimit_new(&rl), AP_OK);
    for (int i = 0; i < 3; i++) {
        assert_true(ratelimit_take(rl, "k", 3, true, &retry));
    }
    assert_false(ratelimit_take(rl, "k", 3, true, &retry));
    assert_true(retry > 0 && retry <= RATELIMIT_WINDOW_SEC);
    assert_true(ratelimit_take(rl, "other", 3, true, &retry));
    assert_true(ratelimit_take(rl, "k", 0, true, &retry));  /* 0: off */
    /* Checking without counting does not use the allowance up. */
    assert_true(ratelimit_take(rl, "c", 1, false, NULL));
    assert_true(ratelimit_take(rl, "c", 1, false, NULL));
    ratelimit_note(rl, "c");
    assert_false(ratelimit_take(rl, "c", 1, false, NULL));
    /* A flood of keys evicts but never grows or crashes. */
    for (int i = 0; i < 3 * RATELIMIT_SLOTS; i++) {
        snprintf(key, sizeof(key), "flood%d", i);
        (void)ratelimit_take(rl, key, 5, true, NULL);
    }
    ratelimit_free(rl);
}

/* Pre-authorised names (eab add --preauthorized): which identifiers a
 * key's rules cover, wildcards only under a suffix and only while the
 * global policy allows them; nothing without a team. */
struct preauth_row {
    const char *type;
    const char *value;
    bool wildcards;       /* [policy] wildcards */
    const char *want;     /* the rule, or NULL */
};

static const struct preauth_row preauth_rows[] = {
    { "dns", "a.db.corp.test", false, ".db.corp.test" },
    { "dns", "x.y.db.corp.test", false, ".db.corp.test" },
    { "dns", "db.corp.test", false, NULL },           /* not below it */
    { "dns", "evildb.corp.test", false, NULL },       /* not a label */
    { "dns", "db.corp.test.evil.test", false, NULL },
    { "dns", "host.corp.test", false, "host.corp.test" },
    { "dns", "a.host.corp.test", false, NULL },       /* exact only */
    { "dns", "other.test", false, NULL },
    { "dns", "*.db.corp.test", true, ".db.corp.test" },
    { "dns", "*.a.db.corp.test", true, ".db.corp.test" },
    { "dns", "*.db.corp.test", false, NULL },         /* global: no */
    { "dns", "*.corp.test", true, NULL },             /* wider */
    { "dns", "*.host.corp.test", true, NULL },        /* exact rule */
    { "ip", "10.0.0.1", true, NULL },
};

static void
test_preauthorized(void **state)
{
    struct policy p;
    struct acme_resp resp;
    cJSON *rec = team(NULL, NULL, NULL, 0, false);
    cJSON *pre = cJSON_AddArrayToObject(rec, "preauthorized");

    (void)state;
    cJSON_AddItemToArray(pre, cJSON_CreateString(".db.corp.test"));
    cJSON_AddItemToArray(pre, cJSON_CreateString("host.corp.test"));
    for (size_t i = 0; i < sizeof(preauth_rows) / sizeof(preauth_rows[0]);
         i++) {
        const struct preauth_row *r = &preauth_rows[i];
        const char *got;

        make_config("", "", r->wildcards, 0);
        assert_int_equal(policy_global_init(&cfg, &global, NULL, 0), AP_OK);
        acme_resp_init(&resp);
        policy_for_account(&global, rec, &p, &resp);
        got = policy_preauthorized(&p, r->type, r->value);
        if ((got == NULL) != (r->want == NULL) ||
            (got != NULL && strcmp(got, r->want) != 0)) {
            fail_msg("%s %s: got %s, want %s", r->type, r->value,
                     got ? got : "none", r->want ? r->want : "none");
        }
        /* Without a team nothing is pre-authorised. */
        policy_for_account(&global, NULL, &p, &resp);
        assert_null(policy_preauthorized(&p, r->type, r->value));
        acme_resp_fini(&resp);
    }
    cJSON_Delete(rec);
}

/* policy_clear on memory that held anything: every count, flag and label
 * reset (the name rows past the counts are not cleared, and nothing reads
 * them); a policy reused without a team narrows nothing. */
static void
test_clear(void **state)
{
    struct policy *p = malloc(sizeof(*p));
    struct acme_resp resp;
    cJSON *rec = team(".a.test", "10.0.0.0/8", "short", 30, false);
    cJSON *ids = idents("dns:outside.test ip:192.0.2.1");

    (void)state;
    assert_non_null(p);
    make_config("", "", true, 0);
    assert_int_equal(policy_global_init(&cfg, &global, NULL, 0), AP_OK);
    memset(p, 0xA5, sizeof(*p));
    policy_clear(p, &global);
    assert_ptr_equal(p->global, &global);
    assert_false(p->has_team);
    assert_int_equal(p->team.n_names, 0);
    assert_int_equal(p->team.n_ips, 0);
    assert_int_equal(p->team.n_profiles, 0);
    assert_string_equal(p->team.default_profile, "");
    assert_false(p->team.wildcards);
    assert_int_equal(p->team.max_identifiers, 0);
    assert_int_equal(p->team.min_rsa_bits, 0);
    for (size_t i = 0; i < sizeof(p->team.curves); i++) {
        assert_false(p->team.curves[i]);
    }
    assert_int_equal(p->team.max_validity_days, 0);
    assert_string_equal(p->team_label, "");
    assert_string_equal(p->eab_kid, "");
    assert_int_equal(p->n_preauth, 0);

    acme_resp_init(&resp);
    policy_for_account(&global, rec, p, &resp);
    assert_true(p->has_team);
    assert_false(policy_check_identifiers(p, ids, &resp));
    acme_resp_fini(&resp);
    acme_resp_init(&resp);
    policy_for_account(&global, NULL, p, &resp);
    assert_false(p->has_team);
    assert_int_equal(p->team.n_names, 0);
    assert_true(policy_check_identifiers(p, ids, &resp));
    assert_int_equal(policy_max_days(p, 90), 90);
    acme_resp_fini(&resp);
    cJSON_Delete(ids);
    cJSON_Delete(rec);
    free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preauthorized),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_wildcards_and_count),
        cmocka_unit_test(test_revoked_team),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_max_days),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_key_is_account_key),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_ratelimit_ground_keys),
    };

    if (crypto_init() != AP_OK) {
        return 1;
    }
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
