/* test/unit/test_rec_order.c: the order record in a store
 * (proxy/rec_order.h rec_order_put, rec_order_get: the layout).
 *
 * 1. An order through its life (pending, ready, processing with a CSR and
 *    the issuer's notes, valid with its certificate) keeps the size it
 *    was created with; the CSR and the notes are never in the order
 *    record but in STORE_META "issuing/<id>" while it is processing, and
 *    gone with it once valid (or invalid); every state reads back whole.
 * 2. A processing order of the previous version (CSR and notes inline)
 *    reads the same; written again its CSR moves out and the record
 *    shrinks to its size (no padding of the old CSR's length).
 * 3. The padding is JSON whitespace: store_get_json and json_parse (the
 *    admin readers) read the record; it leaves out its id (the key),
 *    which rec_order_get_json gives back.
 * 4. An issuing record that does not decode (not JSON, a member of the
 *    wrong type, a member this version does not know): AP_ESTORE.
 * 5. The account_orders index: new keys "<account>/<order id>"; a scan
 *    from a time finds, oldest first, the entries of both key forms
 *    (earlier versions' "<account>/<12-digit created>/<id>") made at or
 *    after it, and no other account's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "common/crypto.h"
#include "common/id.h"
#include "common/json.h"
#include "common/store.h"
#include "proxy/rec_order.h"
#include "test/unit/tmpdir.h"

#define OID "VP83k7CNPsJ6BAPr39eXntck"
#define CID "VP83k7D_Y0h4jVdIbFe_Nb56"

struct fx {
    char dir[64];
    struct store *st;
    struct store_txn *txn;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char errbuf[200];

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_rec_order.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(&(struct store_config){ .dir = f->dir,
                                                        .map_size_mb = 8 },
                                &f->st, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(store_begin(f->st, true, &f->txn), AP_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    store_abort(f->txn);
    store_close(f->st);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static size_t
stored_size(struct fx *f, const char *key)
{
    char *val = NULL;
    size_t len = 0;

    assert_int_equal(store_get(f->txn, STORE_ORDERS, key, &val, &len),
                     AP_OK);
    /* never the CSR or a note in the order record */
    assert_null(memmem(val, len, "csr", 3));
    assert_null(memmem(val, len, "pki", 3));
    free(val);
    return len;
}

static bool
has_issuing(struct fx *f, const char *id)
{
    char key[128];
    char *val = NULL;
    ap_err rc;

    snprintf(key, sizeof(key), "%s%s", ORDER_ISSUING_PREFIX, id);
    rc = store_get(f->txn, STORE_META, key, &val, NULL);
    free(val);
    assert_true(rc == AP_OK || rc == AP_ENOTFOUND);
    return rc == AP_OK;
}

static void
new_order(struct order *o)
{
    struct rec_ident d = { "dns", (char *)"f5-0.r4cbfa604.bench.test",
                           NULL };

    memset(o, 0, sizeof(*o));
    snprintf(o->id, sizeof(o->id), OID);
    snprintf(o->account, sizeof(o->account), "VP83k7BgbFU3DYE0nH0M5oTK");
    o->status = ORDER_PENDING;
    o->created = 1796449796;
    o->expires = 1797054596;
    assert_int_equal(rec_order_add_ident(o, &d), AP_OK);
    assert_int_equal(rec_order_add_authz(o, "VP83k7CPrPGUga46xswA_aO6"),
                     AP_OK);
}

/* 1 */
static void
test_life_keeps_size(void **state)
{
    struct fx *f = *state;
    struct order o;
    size_t size;

    new_order(&o);
    assert_int_equal(rec_order_put(f->txn, OID, &o, true), AP_OK);
    rec_order_fini(&o);
    size = stored_size(f, OID);
    assert_false(has_issuing(f, OID));

    /* ready */
    assert_int_equal(rec_order_get(f->txn, OID, &o), AP_OK);
    assert_int_equal(o.stored_len, size);
    assert_string_equal(o.id, OID);
    o.status = ORDER_READY;
    assert_int_equal(rec_order_put(f->txn, OID, &o, false), AP_OK);
    rec_order_fini(&o);
    assert_int_equal(stored_size(f, OID), size);

    /* processing: finalize, then the issuer's notes */
    assert_int_equal(rec_order_get(f->txn, OID, &o), AP_OK);
    assert_int_equal(o.status, ORDER_READY);
    o.status = ORDER_PROCESSING;
    assert_int_equal(rec_set_str(&o.csr, "MIIBGTCBwQIBADAm"), AP_OK);
    assert_int_equal(rec_set_str(&o.csr_spki, "MFkwEwYHKoZIzj0C"), AP_OK);
    assert_int_equal(rec_order_put(f->txn, OID, &o, false), AP_OK);
    rec_order_fini(&o);
    assert_int_equal(stored_size(f, OID), size);
    assert_true(has_issuing(f, OID));
    assert_int_equal(rec_order_get(f->txn, OID, &o), AP_OK);
    assert_string_equal(o.csr, "MIIBGTCBwQIBADAm");
    assert_string_equal(o.csr_spki, "MFkwEwYHKoZIzj0C");
    o.pki_started = 1796449797;
    o.pki_inflight = 1796449798;
    o.pki_pending_since = 1796449799;
    assert_int_equal(rec_set_str(&o.pki_ref, "ref-1"), AP_OK);
    assert_int_equal(rec_set_str(&o.pki_noted, "note-1"), AP_OK);
    assert_int_equal(rec_order_put(f->txn, OID, &o, false), AP_OK);
    rec_order_fini(&o);
    assert_int_equal(stored_size(f, OID), size);
    assert_int_equal(rec_order_get(f->txn, OID, &o), AP_OK);
    assert_int_equal(o.status, ORDER_PROCESSING);
    assert_string_equal(o.csr, "MIIBGTCBwQIBADAm");
    assert_int_equal(o.pki_started, 1796449797);
    assert_int_equal(o.pki_inflight, 1796449798);
    assert_int_equal(o.pki_pending_since, 1796449799);
    assert_string_equal(o.pki_ref, "ref-1");
    assert_string_equal(o.pki_noted, "note-1");

    /* valid: the certificate recorded, the CSR dropped (issue_record.c) */
    o.status = ORDER_VALID;
    snprintf(o.cert, sizeof(o.cert), CID);
    free(o.csr);
    free(o.csr_spki);
    o.csr = NULL;
    o.csr_spki = NULL;
    assert_int_equal(rec_order_put(f->txn, OID, &o, false), AP_OK);
    rec_order_fini(&o);
    assert_int_equal(stored_size(f, OID), size);
    assert_false(has_issuing(f, OID));
    assert_int_equal(rec_order_get(f->txn, OID, &o), AP_OK);
    assert_int_equal(o.status, ORDER_VALID);
    assert_string_equal(o.cert, CID);
    assert_null(o.csr);
    assert_int_equal(o.pki_started, 0);
    assert_int_equal(o.n_idents, 1);
    assert_string_equal(o.idents[0].value, "f5-0.r4cbfa604.bench.test");
    assert_int_equal(o.n_authzs, 1);
    rec_order_fini(&o);
}

/* 1: invalid drops the issuing record too */
static void
test_invalid_drops_issuing(void **state)
{
    struct fx *f = *state;
    struct order o;

    new_order(&o);
    o.status = ORDER_PROCESSING;
    assert_int_equal(rec_set_str(&o.csr, "MIIB"), AP_OK);
    assert_int_equal(rec_order_put(f->txn, OID, &o, true), AP_OK);
    rec_order_fini(&o);
    assert_true(has_issuing(f, OID));
    assert_int_equal(rec_order_get(f->txn, OID, &o), AP_OK);
    assert_true(o.issuing_stored);
    o.status = ORDER_INVALID;
    assert_int_equal(rec_order_set_error(&o, "urn:x", "no", 500), AP_OK);
    assert_int_equal(rec_order_put(f->txn, OID, &o, false), AP_OK);
    rec_order_fini(&o);
    assert_false(has_issuing(f, OID));
    assert_int_equal(rec_order_get(f->txn, OID, &o), AP_OK);
    assert_int_equal(o.status, ORDER_INVALID);
    assert_null(o.csr);
    assert_non_null(o.error);
    rec_order_fini(&o);
}

#define OLD_PROCESSING                                                     \
    "{\"v\":1,\"id\":\"" OID "\",\"account\":\"acct1\","                   \
    "\"status\":\"processing\",\"created\":1800000000,"                    \
    "\"expires\":1800604800,\"identifiers\":[{\"type\":\"dns\","           \
    "\"value\":\"a.example\"}],\"authzs\":[\"az1\"],"                      \
    "\"csr\":\"MIIBcsrMIIBcsrMIIBcsrMIIBcsrMIIBcsrMIIBcsrMIIBcsrMIIBcsr\","  \
    "\"csrSpki\":\"MFkw\",\"pkiStarted\":1800000050,"                      \
    "\"pkiRef\":\"ref-9\"}"

/* 2 */
static void
test_old_inline_moves_out(void **state)
{
    struct fx *f = *state;
    struct order o;
    size_t old = strlen(OLD_PROCESSING);

    assert_int_equal(store_put(f->txn, STORE_ORDERS, OID, OLD_PROCESSING,
                               old, true),
                     AP_OK);
    assert_int_equal(rec_order_get(f->txn, OID, &o), AP_OK);
    assert_int_equal(o.status, ORDER_PROCESSING);
    assert_string_equal(o.csr,
                        "MIIBcsrMIIBcsrMIIBcsrMIIBcsrMIIBcsrMIIBcsrMIIBcsr"
                        "MIIBcsr");
    assert_string_equal(o.csr_spki, "MFkw");
    assert_int_equal(o.pki_started, 1800000050);
    assert_string_equal(o.pki_ref, "ref-9");
    assert_false(o.issuing_stored);
    assert_int_equal(rec_order_put(f->txn, OID, &o, false), AP_OK);
    rec_order_fini(&o);
    assert_true(stored_size(f, OID) < old - 60);
    assert_true(has_issuing(f, OID));
    assert_int_equal(rec_order_get(f->txn, OID, &o), AP_OK);
    assert_string_equal(o.csr_spki, "MFkw");
    assert_int_equal(o.pki_started, 1800000050);
    assert_string_equal(o.pki_ref, "ref-9");
    rec_order_fini(&o);
}

/* 3 */
static void
test_padding_is_json(void **state)
{
    struct fx *f = *state;
    struct order o;
    cJSON *obj = NULL;
    char *val = NULL;
    size_t len = 0;

    new_order(&o);
    assert_int_equal(rec_order_put(f->txn, OID, &o, true), AP_OK);
    rec_order_fini(&o);
    assert_int_equal(store_get(f->txn, STORE_ORDERS, OID, &val, &len),
                     AP_OK);
    assert_true(len > 0 && val[len - 1] == ' ');
    assert_int_equal(json_parse(val, len, &obj), AP_OK);
    assert_string_equal(json_str(obj, "status", ""), "pending");
    cJSON_Delete(obj);
    free(val);
    assert_int_equal(store_get_json(f->txn, STORE_ORDERS, OID, &obj),
                     AP_OK);
    assert_string_equal(json_str(obj, "account", ""),
                        "VP83k7BgbFU3DYE0nH0M5oTK");
    /* the key is the id: not stored, given back to raw readers */
    assert_false(cJSON_HasObjectItem(obj, "id"));
    cJSON_Delete(obj);
    assert_int_equal(rec_order_get_json(f->txn, OID, &obj), AP_OK);
    assert_string_equal(json_str(obj, "id", ""), OID);
    cJSON_Delete(obj);
}

/* 4 */
static void
test_bad_issuing(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {
        "not json", "{\"csr\":7}", "{\"csr\":\"MIIB\",\"later\":1}",
        "{\"pkiStarted\":-1}",
    };
    struct order o;

    new_order(&o);
    o.status = ORDER_PROCESSING;
    assert_int_equal(rec_order_put(f->txn, OID, &o, true), AP_OK);
    rec_order_fini(&o);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(store_put(f->txn, STORE_META,
                                   ORDER_ISSUING_PREFIX OID, bad[i],
                                   strlen(bad[i]), false),
                         AP_OK);
        assert_int_equal(rec_order_get(f->txn, OID, &o), AP_ESTORE);
    }
}

struct seen {
    char keys[8][128];
    int n;
};

static bool
see(void *arg, const char *key, const char *val, size_t len)
{
    struct seen *s = arg;

    (void)val;
    (void)len;
    assert_true(s->n < 8);
    snprintf(s->keys[s->n++], sizeof(s->keys[0]), "%s", key);
    return true;
}

/* 5 */
static void
test_index(void **state)
{
    struct fx *f = *state;
    char key[STORE_MAX_KEY + 1];
    char id_old[ID_LEN + 1];
    char id_new[ID_LEN + 1];
    char id_later[ID_LEN + 1];
    char other[ID_LEN + 1];
    struct seen s;
    const char *acct = "VP83k7BgbFU3DYE0nH0M5oTK";
    const char *const old_keys[] = {
        "VP83k7BgbFU3DYE0nH0M5oTK/001799999999/oldA",   /* before */
        "VP83k7BgbFU3DYE0nH0M5oTK/001800000000/oldB",   /* at since */
        "VP83k7BgbFU3DYE0nH0M5oTK/001800000500/oldC",
    };

    assert_int_equal(id_new_at(1799999999000LL, id_old, sizeof(id_old)),
                     AP_OK);
    assert_int_equal(id_new_at(1800000000000LL, id_new, sizeof(id_new)),
                     AP_OK);
    assert_int_equal(id_new_at(1800000900000LL, id_later,
                               sizeof(id_later)),
                     AP_OK);
    assert_int_equal(id_new_at(1800000000000LL, other, sizeof(other)),
                     AP_OK);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(store_put(f->txn, STORE_ACCOUNT_ORDERS, old_keys[i],
                                   "", 0, true),
                         AP_OK);
    }
    assert_int_equal(rec_order_index_key(acct, id_old, key, sizeof(key)),
                     AP_OK);
    assert_int_equal(strlen(key), 24 + 1 + ID_LEN);
    assert_int_equal(store_put(f->txn, STORE_ACCOUNT_ORDERS, key, "", 0,
                               true),
                     AP_OK);
    assert_int_equal(rec_order_index_key(acct, id_later, key, sizeof(key)),
                     AP_OK);
    assert_int_equal(store_put(f->txn, STORE_ACCOUNT_ORDERS, key, "", 0,
                               true),
                     AP_OK);
    assert_int_equal(rec_order_index_key(acct, id_new, key, sizeof(key)),
                     AP_OK);
    assert_int_equal(store_put(f->txn, STORE_ACCOUNT_ORDERS, key, "", 0,
                               true),
                     AP_OK);
    assert_int_equal(rec_order_index_key("VP83k7BgbFU3DYE0nH0M5oTZ", other,
                                         key, sizeof(key)),
                     AP_OK);
    assert_int_equal(store_put(f->txn, STORE_ACCOUNT_ORDERS, key, "", 0,
                               true),
                     AP_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(rec_order_index_scan(f->txn, acct, 1800000000, see, &s),
                     AP_OK);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.keys[0], old_keys[1]);
    assert_string_equal(s.keys[1], old_keys[2]);
    assert_string_equal(strrchr(s.keys[2], '/') + 1, id_new);
    assert_string_equal(strrchr(s.keys[3], '/') + 1, id_later);
    memset(&s, 0, sizeof(s));
    assert_int_equal(rec_order_index_scan(f->txn, acct, 0, see, &s), AP_OK);
    assert_int_equal(s.n, 6);
    assert_int_equal(rec_order_index_key(acct, id_new, key, 30), AP_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_life_keeps_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invalid_drops_issuing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_old_inline_moves_out, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_padding_is_json, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_issuing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index, setup, teardown),
    };

    int failed;

    if (crypto_init() != AP_OK) {
        fprintf(stderr, "test_rec_order: crypto_init failed\n");
        return 1;
    }
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    crypto_fini();
    return failed;
}
