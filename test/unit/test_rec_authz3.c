/* test/unit/test_rec_authz3.c: the authorization record's compact form
 * (version 3, proxy/rec_authz.c), its derived challenge tokens
 * (rec_authz_token) and the account_authzs index key (authz_index_key).
 *
 * 1. An authorization through its life (pending, processing, valid or
 *    invalid) encodes as version 3 and decodes to what was encoded
 *    (tokens, statuses, URL indexes, evidence as the validator wrote it);
 *    an undecided record is never shorter than its decided http-01 form
 *    (the record does not grow on its page). The sizes are printed.
 * 2. The tokens and the index key are pinned (a stored record or index
 *    entry must read the same after an upgrade).
 * 3. What the compact form cannot hold is written as version 2.
 * 3a. The index: entries under the key of before are found and replaced,
 *    a hashed key that names another account's authorization is not
 *    reused, and authorization ids of one process increase.
 * 4. Version 3 records that are not well formed: AP_ESTORE.
 * Records of versions 1 and 2: test/unit/test_records.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "common/crypto.h"
#include "common/id.h"
#include "common/store.h"
#include "proxy/authz.h"
#include "proxy/rec_authz.h"
#include "proxy/status.h"
#include "test/unit/rows.h"
#include "test/unit/tmpdir.h"

#define SEED_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define NOW 1796449796LL

/* The stored text of a (encoded, printed unformatted as the store does);
 * caller frees. */
static char *
stored(const struct authz *a, long long *version)
{
    cJSON *obj = NULL;
    char *text;

    assert_int_equal(rec_authz_encode(a, &obj), AP_OK);
    *version = (long long)cJSON_GetNumberValue(
        cJSON_GetObjectItemCaseSensitive(obj, "v"));
    text = cJSON_PrintUnformatted(obj);
    assert_non_null(text);
    cJSON_Delete(obj);
    return text;
}

/* Decodes text into *out; asserts it does. */
static void
decode_text(const char *text, struct authz *out)
{
    cJSON *obj = cJSON_Parse(text);
    char why[200] = "";

    assert_non_null(obj);
    if (rec_authz_decode(obj, out, why, sizeof(why)) != AP_OK) {
        print_message("decode %s: %s\n", text, why);
        fail();
    }
    cJSON_Delete(obj);
}

/* Asserts that a decodes from its stored form as it was. */
static void
assert_same(const struct authz *a, const struct authz *b)
{
    assert_string_equal(a->account, b->account);
    assert_string_equal(a->order, b->order);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->expires, b->expires);
    assert_string_equal(a->ident.type, b->ident.type);
    assert_string_equal(a->ident.value, b->ident.value);
    assert_int_equal(a->wildcard, b->wildcard);
    assert_int_equal(a->n_challs, b->n_challs);
    for (size_t i = 0; i < a->n_challs; i++) {
        const struct challenge *x = rec_authz_chall(a, i);
        const struct challenge *y = rec_authz_chall(b, i);

        if (x == NULL || y == NULL) {
            /* gone from the stored form: a decided authorization keeps
             * only its decided challenge (rec_authz.h) */
            assert_null(y);
            assert_true(x == NULL ||
                        ((a->status == AUTHZ_VALID ||
                          a->status == AUTHZ_INVALID) &&
                         x->status != CHALL_VALID &&
                         x->status != CHALL_INVALID));
            continue;
        }
        assert_string_equal(x->type, y->type);
        {
            /* A version 3 record's tokens are derived when asked for. */
            char tx[REC_MAX_ID + 1];
            char ty[REC_MAX_ID + 1];
            const char *px = rec_authz_chall_token(a, x, tx, sizeof(tx));
            const char *py = rec_authz_chall_token(b, y, ty, sizeof(ty));

            assert_non_null(px);
            assert_non_null(py);
            assert_string_equal(px, py);
        }
        assert_int_equal(x->status, y->status);
        assert_int_equal(x->validated, y->validated);
        assert_true((x->address == NULL && y->address == NULL) ||
                    (x->address != NULL && y->address != NULL &&
                     strcmp(x->address, y->address) == 0));
        assert_true(cJSON_Compare(x->validation_record, y->validation_record,
                                  1) ||
                    (x->validation_record == NULL &&
                     y->validation_record == NULL));
        assert_int_equal(x->error == NULL, y->error == NULL);
        if (x->error != NULL) {
            assert_string_equal(x->error->type, y->error->type);
            assert_string_equal(x->error->detail, y->error->detail);
        }
    }
}

/* Encodes a, asserts version 3 and the round trip; returns its length. */
static size_t
round_trip(const struct authz *a, const char *state)
{
    long long v = 0;
    char *text = stored(a, &v);
    struct authz b;
    size_t len = strlen(text);

    print_message("%-12s %3zu B  %s\n", state, len, text);
    assert_int_equal(v, 3);
    decode_text(text, &b);
    assert_same(a, &b);
    rec_authz_fini(&b);
    free(text);
    return len;
}

/* What proxy/val_http01.c keeps of a one-hop answer. */
static cJSON *
http01_evidence(const struct authz *a, const char *address)
{
    char url[512];
    cJSON *arr = cJSON_CreateArray();
    cJSON *e = cJSON_CreateObject();
    const char *one[1] = { address };

    (void)snprintf(url, sizeof(url),
                   "http://%s:35685/.well-known/acme-challenge/%s",
                   a->ident.value, a->challs[0].token);
    assert_non_null(arr);
    assert_non_null(e);
    cJSON_AddStringToObject(e, "url", url);
    cJSON_AddStringToObject(e, "hostname", a->ident.value);
    cJSON_AddNumberToObject(e, "port", 35685);
    cJSON_AddItemToObject(e, "addressesResolved",
                          cJSON_CreateStringArray(one, 1));
    cJSON_AddStringToObject(e, "addressUsed", address);
    cJSON_AddNumberToObject(e, "status", 200);
    cJSON_AddItemToArray(arr, e);
    return arr;
}

static void
new_authz(struct authz *a, const char *name)
{
    struct rec_ident id = { "dns", (char *)(uintptr_t)name, NULL };

    assert_int_equal(authz_new("VP83k7CN5PKiNOna-Cing4YR",
                               "VP83k76kLjioOZilmTbz0IBm",
                               "VP83k7CN_ACn7tMKL_pqNFDe", &id,
                               NOW + 7 * 86400, a),
                     AP_OK);
}

static void
test_life_valid(void **state)
{
    struct authz a;
    size_t pending, processing, valid;

    (void)state;
    new_authz(&a, "f0-0.r4cbfa604.bench.test");
    assert_int_equal(a.n_challs, 3);
    assert_int_equal(strlen(a.seed), ID_RANDOM_LEN);   /* 128 bits */
    pending = round_trip(&a, "pending");
    a.challs[0].status = CHALL_PROCESSING;
    processing = round_trip(&a, "processing");
    assert_int_equal(status_challenge_outcome(&a, 0, true, NULL, NOW),
                     AP_OK);
    assert_int_equal(rec_set_str(&a.challs[0].address, "127.0.0.1"), AP_OK);
    a.challs[0].validation_record = http01_evidence(&a, "127.0.0.1");
    a.expires = NOW + 30 * 86400;
    valid = round_trip(&a, "valid");
    /* never grows: the reserve covers the outcome (and "k") */
    assert_true(processing <= pending);
    assert_true(valid <= pending);
    assert_true(pending - valid < 16);  /* and does not waste much */
    rec_authz_fini(&a);
}

static void
test_life_invalid(void **state)
{
    struct authz a;
    struct rec_problem *p = NULL;

    (void)state;
    new_authz(&a, "f0-1.r4cbfa604.bench.test");
    a.challs[1].status = CHALL_PROCESSING;
    (void)round_trip(&a, "processing");
    assert_int_equal(rec_problem_new("urn:ietf:params:acme:error:dns",
                                     "no TXT record at _acme-challenge."
                                     "f0-1.r4cbfa604.bench.test",
                                     400, &p),
                     AP_OK);
    assert_int_equal(status_challenge_outcome(&a, 1, false, p, NOW), AP_OK);
    assert_int_equal(a.status, AUTHZ_INVALID);
    (void)round_trip(&a, "invalid");
    {
        /* read back, the kept challenge answers at its index, the
         * others are gone */
        long long v = 0;
        char *text = stored(&a, &v);
        struct authz b;

        decode_text(text, &b);
        assert_null(rec_authz_chall(&b, 0));
        assert_non_null(rec_authz_chall(&b, 1));
        assert_null(rec_authz_chall(&b, 2));
        {
            char tb[REC_MAX_ID + 1];

            assert_string_equal(rec_authz_chall_token(&b, &b.challs[1], tb,
                                                      sizeof(tb)),
                                a.challs[1].token);
        }
        rec_authz_fini(&b);
        free(text);
    }
    rec_problem_free(p);
    rec_authz_fini(&a);
}

static void
test_wildcard_ip_preauth(void **state)
{
    struct rec_ident wild = { "dns", "*.w.test", NULL };
    struct rec_ident ip = { "ip", "192.0.2.7", NULL };
    struct authz a;

    (void)state;
    assert_int_equal(authz_new("az1", "acct", "ord", &wild, NOW, &a), AP_OK);
    assert_true(a.wildcard);
    (void)round_trip(&a, "wildcard");
    rec_authz_fini(&a);
    assert_int_equal(authz_new("az2", "acct", "ord", &ip, NOW, &a), AP_OK);
    (void)round_trip(&a, "ip");
    a.challs[0].status = CHALL_PROCESSING;
    (void)round_trip(&a, "ip processing");
    rec_authz_drop_challenges(&a);
    a.status = AUTHZ_VALID;
    (void)round_trip(&a, "preauth");
    a.status = AUTHZ_DEACTIVATED;
    (void)round_trip(&a, "deactivated");
    rec_authz_fini(&a);
}

/* The tokens a stored seed makes must never change. */
static void
test_tokens_pinned(void **state)
{
    static const char *const want[3][2] = {
        { "http-01", "pVocSejK34Zrl69Y4w4mkuRJ25FC9JvbPe1m-h8p_nk" },
        { "dns-01", "R67HbISJJ5VmFigWR7qY0WpdjKSWfjcEskPC3Sp8Gr4" },
        { "tls-alpn-01", "9UesMwOXNK4YAIXwByQV7qvl6weP6u5Dgol163y_u3Q" },
    };
    char tok[64];
    char small[43];
    struct authz a;

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rec_authz_token(SEED_A, want[i][0], tok,
                                         sizeof(tok)),
                         AP_OK);
        assert_string_equal(tok, want[i][1]);
    }
    assert_int_equal(rec_authz_token("", "http-01", tok, sizeof(tok)),
                     AP_EINVAL);
    assert_int_not_equal(rec_authz_token(SEED_A, "http-01", small,
                                         sizeof(small)),
                         AP_OK);
    /* a new authorization's tokens differ from each other and from its
     * seed, and from another authorization's */
    new_authz(&a, "t.test");
    assert_string_not_equal(a.challs[0].token, a.challs[1].token);
    assert_string_not_equal(a.challs[1].token, a.challs[2].token);
    assert_string_not_equal(a.challs[0].token, a.seed);
    assert_int_equal(strlen(a.challs[0].token), 43);
    {
        struct authz b;

        new_authz(&b, "t.test");
        assert_string_not_equal(a.seed, b.seed);
        assert_string_not_equal(a.challs[0].token, b.challs[0].token);
        rec_authz_fini(&b);
    }
    rec_authz_fini(&a);
}

/* A version 3 record read back leaves its pending challenges' tokens to
 * be derived (none is computed for a reader that wants statuses only),
 * and each derives to the token the new authorization had; a challenge
 * with a token of its own keeps it; with no seed and no token there is
 * none. */
static void
test_tokens_on_demand(void **state)
{
    struct authz a;
    struct authz b;
    long long v = 0;
    char buf[REC_MAX_ID + 1];
    char *text;

    (void)state;
    new_authz(&a, "lazy.test");
    text = stored(&a, &v);
    assert_int_equal(v, 3);
    decode_text(text, &b);
    for (size_t i = 0; i < b.n_challs; i++) {
        assert_string_equal(b.challs[i].token, "");
        assert_string_equal(rec_authz_chall_token(&b, &b.challs[i], buf,
                                                  sizeof(buf)),
                            a.challs[i].token);
    }
    /* written again with its tokens not derived: the same record */
    {
        long long v2 = 0;
        char *again = stored(&b, &v2);

        assert_int_equal(v2, 3);
        assert_string_equal(again, text);
        free(again);
    }
    memcpy(b.challs[0].token, "own", sizeof("own"));
    assert_string_equal(rec_authz_chall_token(&b, &b.challs[0], buf,
                                              sizeof(buf)),
                        "own");
    b.seed[0] = '\0';
    assert_null(rec_authz_chall_token(&b, &b.challs[1], buf, sizeof(buf)));
    rec_authz_fini(&b);
    rec_authz_fini(&a);
    free(text);
}

static void
test_index_key(void **state)
{
    struct rec_ident www = { "dns", "www.a.test", NULL };
    struct rec_ident wild = { "dns", "*.www.a.test", NULL };
    struct rec_ident ip = { "ip", "www.a.test", NULL };
    char k1[AUTHZ_INDEX_KEY_LEN + 1];
    char k2[AUTHZ_INDEX_KEY_LEN + 1];

    (void)state;
    authz_index_key("acct1", &www, k1);
    assert_string_equal(k1, "uzkhFflfWbi5eXn2");
    authz_index_key("acct2", &www, k2);
    assert_string_not_equal(k1, k2);
    authz_index_key("acct1", &wild, k2);
    assert_string_not_equal(k1, k2);
    authz_index_key("acct1", &ip, k2);
    assert_string_not_equal(k1, k2);
    assert_null(strchr(k1, '/'));   /* never an entry of before */
}

/* What the compact form cannot hold goes as version 2, and reads back. */
static void
test_falls_back(void **state)
{
    struct authz a;
    struct authz b;
    long long v = 0;
    char *text;

    (void)state;
    /* a token of its own (a record of version 2 rewritten) */
    new_authz(&a, "f.test");
    memcpy(a.challs[1].token, "own-token", sizeof("own-token"));
    text = stored(&a, &v);
    assert_int_equal(v, 2);
    decode_text(text, &b);
    assert_same(&a, &b);
    assert_string_equal(b.seed, "");
    free(text);
    rec_authz_fini(&b);
    rec_authz_fini(&a);
    /* a challenge type without a letter */
    new_authz(&a, "f.test");
    memcpy(a.challs[2].type, "x-99", sizeof("x-99"));
    text = stored(&a, &v);
    assert_int_equal(v, 2);
    free(text);
    rec_authz_fini(&a);
    /* a member this version does not know */
    new_authz(&a, "f.test");
    a.extra = cJSON_Parse("{\"future\":1}");
    text = stored(&a, &v);
    assert_int_equal(v, 2);
    assert_non_null(strstr(text, "\"future\":1"));
    free(text);
    rec_authz_fini(&a);
    /* a version 3 record with an unknown member keeps it */
    decode_text("{\"v\":3,\"i\":\"a.test\",\"a\":\"acc\",\"o\":\"o\","
                "\"s\":\"v\",\"e\":5,\"future\":[1]}", &a);
    text = stored(&a, &v);
    assert_int_equal(v, 2);
    assert_non_null(strstr(text, "\"future\":[1]"));
    free(text);
    rec_authz_fini(&a);
}

/* A valid authorization of account for name, stored under id. */
static void
put_valid(struct store_txn *txn, const char *id, const char *account,
          const char *name, long long expires)
{
    struct rec_ident ident = { "dns", (char *)(uintptr_t)name, NULL };
    struct authz a;

    assert_int_equal(authz_new(id, account, "ord", &ident, expires, &a),
                     AP_OK);
    assert_int_equal(status_challenge_outcome(&a, 0, true, NULL,
                                              expires - 86400),
                     AP_OK);
    assert_int_equal(rec_authz_put(txn, id, &a, true), AP_OK);
    rec_authz_fini(&a);
}

/* A valid authorization id of account for www.a.test, expiring at
 * expires, indexed under the account_authzs key of before the hash. */
static void
put_valid_old_key(struct store_txn *txn, const char *id, const char *account,
                  long long expires)
{
    char key[REC_MAX_ID + 32];

    put_valid(txn, id, account, "www.a.test", expires);
    (void)snprintf(key, sizeof(key), "%s/dns/www.a.test", account);
    assert_int_equal(store_put(txn, STORE_ACCOUNT_AUTHZS, key, id,
                               strlen(id), false),
                     AP_OK);
}

/* authz_for_order of account and order for ident, for 7 days, into id. */
static void
for_order(struct store_txn *txn, const char *account, const char *order,
          const struct rec_ident *ident, long long now,
          char id[REC_MAX_ID + 1], bool *reused)
{
    assert_int_equal(authz_for_order(txn, account, order, ident, now,
                                     now + 7 * 86400, false, id,
                                     REC_MAX_ID + 1, reused),
                     AP_OK);
}

/* The account_authzs index: entries under the key of before are found
 * (and replaced), a hashed key naming another account's authorization is
 * not reused, and the ids of one order increase. */
static void
test_index_in_store(void **state)
{
    char dir[] = "/tmp/test_rec_authz3.XXXXXX";
    char errbuf[200];
    char id[REC_MAX_ID + 1];
    char id2[REC_MAX_ID + 1];
    char key[AUTHZ_INDEX_KEY_LEN + 1];
    struct rec_ident www = { "dns", "www.a.test", NULL };
    struct store *st = NULL;
    struct store_txn *txn = NULL;
    char *val = NULL;
    long long now = time(NULL);
    bool reused = false;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_open(&(struct store_config){ .dir = dir,
                                                        .map_size_mb = 8 },
                                &st, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(store_begin(st, true, &txn), AP_OK);
    /* reusable, under the key of before */
    put_valid_old_key(txn, "azold1", "acct1", now + 30 * 86400);
    for_order(txn, "acct1", "ord2", &www, now, id, &reused);
    assert_true(reused);
    assert_string_equal(id, "azold1");
    /* expired, under the key of before: a new one replaces the entry */
    put_valid_old_key(txn, "azold3", "acct3", now - 10);
    for_order(txn, "acct3", "ord3", &www, now, id, &reused);
    assert_false(reused);
    assert_string_not_equal(id, "azold3");
    assert_int_equal(store_get(txn, STORE_ACCOUNT_AUTHZS,
                               "acct3/dns/www.a.test", &val, NULL),
                     AP_ENOTFOUND);
    authz_index_key("acct3", &www, key);
    assert_int_equal(store_get(txn, STORE_ACCOUNT_AUTHZS, key, &val, NULL),
                     AP_OK);
    assert_string_equal(val, id);
    free(val);
    val = NULL;
    /* found again under the new key, and reused */
    for_order(txn, "acct3", "ord4", &www, now, id2, &reused);
    assert_false(reused);               /* still pending: not reusable */
    assert_true(strcmp(id, id2) < 0);   /* ids of this process increase */
    /* a hashed key that names another account's authorization */
    authz_index_key("acct2", &www, key);
    assert_int_equal(store_put(txn, STORE_ACCOUNT_AUTHZS, key, "azold1", 6,
                               false),
                     AP_OK);
    for_order(txn, "acct2", "ord5", &www, now, id, &reused);
    assert_false(reused);
    assert_string_not_equal(id, "azold1");
    store_abort(txn);
    store_close(st);
    tmpdir_remove(dir);
}

struct bad_row {
    const char *name;
    const char *json;
};

#define V3 "{\"v\":3,\"a\":\"acc\",\"o\":\"ord\",\"e\":5,"
#define T "\"t\":\"" SEED_A "\","

static const struct bad_row bad_rows[] = {
    { "neither i nor ip", V3 "\"s\":\"p\"}" },
    { "both i and ip", V3 "\"i\":\"a\",\"ip\":\"1.2.3.4\",\"s\":\"p\"}" },
    { "i a number", V3 "\"i\":7,\"s\":\"p\"}" },
    { "status unknown", V3 "\"i\":\"a\",\"s\":\"q\"}" },
    { "status two letters", V3 "\"i\":\"a\",\"s\":\"pv\"}" },
    { "status absent", V3 "\"i\":\"a\"}" },
    { "type letter unknown", V3 "\"i\":\"a\",\"s\":\"p\"," T "\"c\":\"hz\"}" },
    { "c without t", V3 "\"i\":\"a\",\"s\":\"p\",\"c\":\"h\"}" },
    { "t without c", V3 "\"i\":\"a\",\"s\":\"p\"," T "\"e\":1}" },
    { "a status letter first",
      V3 "\"i\":\"a\",\"s\":\"p\"," T "\"c\":\"vh\"}" },
    { "two status letters",
      V3 "\"i\":\"a\",\"s\":\"v\"," T "\"c\":\"hvv\"}" },
    { "pending spelled out", V3 "\"i\":\"a\",\"s\":\"p\"," T "\"c\":\"hp\"}" },
    { "pending as a dash", V3 "\"i\":\"a\",\"s\":\"p\"," T "\"c\":\"h-\"}" },
    { "a dropped one with a status",
      V3 "\"i\":\"a\",\"s\":\"v\"," T "\"c\":\"xv\"}" },
    { "c only statuses", V3 "\"i\":\"a\",\"s\":\"p\"," T "\"c\":\"r\"}" },
    { "two decided", V3 "\"i\":\"a\",\"s\":\"v\"," T "\"c\":\"hvdv\"}" },
    { "evidence without a decided challenge",
      V3 "\"i\":\"a\",\"s\":\"p\"," T "\"c\":\"h\",\"ad\":\"1.2.3.4\"}" },
    { "evidence with no challenge", V3 "\"i\":\"a\",\"s\":\"v\",\"d\":5}" },
    { "vr not an array",
      V3 "\"i\":\"a\",\"s\":\"v\"," T "\"c\":\"hv\",\"vr\":{}}" },
    { "vr derived with nothing to make it from",
      V3 "\"i\":\"a\",\"s\":\"v\"," T "\"c\":\"hv\","
         "\"vr\":[{\"port\":80,\"derived\":\"a\"}]}" },
    { "d negative",
      V3 "\"i\":\"a\",\"s\":\"v\"," T "\"c\":\"hv\",\"d\":-1}" },
    { "t too long",
      V3 "\"i\":\"a\",\"s\":\"p\",\"t\":\"" SEED_A SEED_A "\",\"c\":\"h\"}" },
    { "more than 17 challenges",
      V3 "\"i\":\"a\",\"s\":\"p\"," T "\"c\":\"hhhhhhhhhhhhhhhhhh\"}" },
    { "er not a problem",
      V3 "\"i\":\"a\",\"s\":\"i\"," T "\"c\":\"hi\",\"er\":3}" },
    { "vr derived s with a status there",
      V3 "\"i\":\"a\",\"s\":\"v\"," T "\"c\":\"hv\","
         "\"vr\":[{\"port\":80,\"status\":200,\"derived\":\"s\"}]}" },
    { "version 2: derived s is version 3's only",
      "{\"v\":2,\"identifier\":{\"type\":\"dns\",\"value\":\"a\"},"
      "\"status\":\"valid\",\"challenges\":[{\"type\":\"http-01\","
      "\"status\":\"valid\",\"token\":\"t\",\"validationRecord\":"
      "[{\"port\":80,\"derived\":\"s\"}]}]}" },
    { "v 4", "{\"v\":4,\"i\":\"a\",\"s\":\"p\"}" },
};

static void
test_bad(void **state)
{
    const struct bad_row *row = *state;
    cJSON *obj = cJSON_Parse(row->json);
    struct authz a;
    char why[200] = "";

    assert_non_null(obj);
    assert_int_equal(rec_authz_decode(obj, &a, why, sizeof(why)),
                     AP_ESTORE);
    assert_true(why[0] != '\0');
    rec_authz_fini(&a);
    cJSON_Delete(obj);
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    if (crypto_init() != AP_OK) {
        fprintf(stderr, "test_rec_authz3: crypto_init failed\n");
        return 1;
    }
    add_test(&l, "life: pending, processing, valid (http-01)",
             test_life_valid, NULL);
    add_test(&l, "life: processing, invalid (dns-01)", test_life_invalid,
             NULL);
    add_test(&l, "wildcard, ip, preauthorised, deactivated",
             test_wildcard_ip_preauth, NULL);
    add_test(&l, "tokens: pinned, distinct", test_tokens_pinned, NULL);
    add_test(&l, "index key: pinned, distinct", test_index_key, NULL);
    add_test(&l, "tokens derived on demand", test_tokens_on_demand, NULL);
    add_test(&l, "what does not fit goes as version 2", test_falls_back,
             NULL);
    add_test(&l, "index: entries of before, another account's, id order",
             test_index_in_store, NULL);
    for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
        add_test(&l, bad_rows[i].name, test_bad, &bad_rows[i]);
    }
    failed = _cmocka_run_group_tests("rec_authz3", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
