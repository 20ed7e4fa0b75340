/* test/unit/test_status.c: the order and authorization state rules of
 * RFC 8555 §7.1.6 (proxy/order.c, proxy/authz.c): effective status with
 * expiry, and an order's status recomputed from its authorizations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/store.h"
#include "proxy/status.h"

#define NOW 1800000000LL

struct status_row {
    const char *stored;
    long long expires;
    const char *want;
};

static const struct status_row order_rows[] = {
    { "pending", NOW + 10, "pending" },
    { "ready", NOW + 10, "ready" },
    { "processing", NOW + 10, "processing" },
    { "valid", NOW + 10, "valid" },
    { "invalid", NOW + 10, "invalid" },
    /* Expired: pending and ready orders become invalid; final ones and
     * processing (the PKI has it) keep their state. */
    { "pending", NOW, "invalid" },
    { "ready", NOW - 1, "invalid" },
    { "processing", NOW - 1, "processing" },
    { "valid", NOW - 1, "valid" },
    { NULL, NOW + 10, "invalid" },
};

static const struct status_row authz_rows[] = {
    { "pending", NOW + 10, "pending" },
    { "valid", NOW + 10, "valid" },
    { "invalid", NOW + 10, "invalid" },
    { "deactivated", NOW + 10, "deactivated" },
    { "pending", NOW, "expired" },
    { "valid", NOW - 5, "expired" },
    { "invalid", NOW - 5, "invalid" },
    { "deactivated", NOW - 5, "deactivated" },
    { "revoked", NOW - 5, "revoked" },
};

static cJSON *
record(const char *status, long long expires)
{
    cJSON *r = cJSON_CreateObject();

    if (status != NULL) {
        cJSON_AddStringToObject(r, "status", status);
    }
    cJSON_AddNumberToObject(r, "expires", (double)expires);
    return r;
}

static void
test_order_status_now(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(order_rows) / sizeof(order_rows[0]); i++) {
        cJSON *r = record(order_rows[i].stored, order_rows[i].expires);

        assert_string_equal(order_status_now(r, NOW), order_rows[i].want);
        cJSON_Delete(r);
    }
}

/* authz_status_at: the stored status after the expiry rule (records of
 * every version decode to struct authz, so the rule lives there alone). */
static void
test_authz_status_at(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(authz_rows) / sizeof(authz_rows[0]); i++) {
        struct authz a = { 0 };
        int e = 0;

        while (e < AUTHZ__MAX &&
               strcmp(authz_status_name((enum authz_status)e),
                      authz_rows[i].stored) != 0) {
            e++;
        }
        assert_true(e < AUTHZ__MAX);
        a.status = (enum authz_status)e;
        a.expires = authz_rows[i].expires;
        assert_string_equal(authz_status_name(authz_status_at(&a, NOW)),
                            authz_rows[i].want);
    }
}

struct fixture {
    char dir[64];
    struct store *st;
};

static int
setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char errbuf[256];

    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ap-status-XXXXXX");
    if (mkdtemp(fx->dir) == NULL ||
        store_open(&(struct store_config){ .dir = fx->dir,
                                           .map_size_mb = 16 },
                   &fx->st, errbuf, sizeof(errbuf)) != AP_OK) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;
    char path[128];

    store_close(fx->st);
    snprintf(path, sizeof(path), "%s/data.mdb", fx->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", fx->dir);
    unlink(path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Writes order "o" (status pending unless given) with the given authz
 * statuses as authzs a0, a1, …; a failed authz carries a challenge error. */
static void
put_order(struct store *st, const char *order_status,
          const char *const *authz_status, size_t n)
{
    struct store_txn *txn = NULL;
    cJSON *order = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(order, "authzs");

    assert_int_equal(store_begin(st, true, &txn), AP_OK);
    for (size_t i = 0; i < n; i++) {
        char id[24];
        cJSON *a = cJSON_CreateObject();
        cJSON *chs = cJSON_AddArrayToObject(a, "challenges");
        cJSON *ch = cJSON_CreateObject();

        snprintf(id, sizeof(id), "a%zu", i);
        cJSON_AddStringToObject(a, "status", authz_status[i]);
        cJSON_AddStringToObject(a, "order", "o");
        if (strcmp(authz_status[i], "invalid") == 0) {
            cJSON *err = cJSON_CreateObject();

            cJSON_AddStringToObject(err, "type",
                                    "urn:ietf:params:acme:error:"
                                    "incorrectResponse");
            cJSON_AddStringToObject(err, "detail", "wrong body");
            cJSON_AddItemToObject(ch, "error", err);
        }
        cJSON_AddItemToArray(chs, ch);
        assert_int_equal(store_put_json(txn, STORE_AUTHZS, id, a, false),
                         AP_OK);
        cJSON_Delete(a);
        cJSON_AddItemToArray(ids, cJSON_CreateString(id));
    }
    cJSON_AddStringToObject(order, "status", order_status);
    assert_int_equal(store_put_json(txn, STORE_ORDERS, "o", order, false),
                     AP_OK);
    cJSON_Delete(order);
    assert_int_equal(store_commit(txn), AP_OK);
}

/* order_update_from_authz on order "o"; with_known, authorization a0 read
 * first and handed in as the caller's own (the same result is wanted). */
static cJSON *
update_and_get_known(struct store *st, ap_err want_rc, bool with_known)
{
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    struct authz known;

    memset(&known, 0, sizeof(known));
    assert_int_equal(store_begin(st, true, &txn), AP_OK);
    if (with_known) {
        assert_int_equal(rec_authz_get(txn, "a0", &known), AP_OK);
    }
    assert_int_equal(order_update_from_authz(txn, "o",
                                             with_known ? &known : NULL),
                     want_rc);
    rec_authz_fini(&known);
    if (want_rc == AP_OK) {
        assert_int_equal(store_get_json(txn, STORE_ORDERS, "o", &order),
                         AP_OK);
    }
    assert_int_equal(store_commit(txn), AP_OK);
    return order;
}

static cJSON *
update_and_get(struct store *st, ap_err want_rc)
{
    return update_and_get_known(st, want_rc, false);
}

struct update_row {
    const char *order_status;
    const char *authz[3];
    size_t n;
    const char *want;
    const char *want_error; /* type of the order's error, or NULL */
};

static const struct update_row update_rows[] = {
    { "pending", { "pending", "pending" }, 2, "pending", NULL },
    { "pending", { "valid", "pending" }, 2, "pending", NULL },
    { "pending", { "valid", "valid" }, 2, "ready", NULL },
    { "pending", { "valid" }, 1, "ready", NULL },
    { "pending", { "valid", "invalid", "pending" }, 3, "invalid",
      "urn:ietf:params:acme:error:incorrectResponse" },
    { "pending", { "deactivated", "valid" }, 2, "invalid",
      "urn:ietf:params:acme:error:unauthorized" },
    { "pending", { "revoked" }, 1, "invalid",
      "urn:ietf:params:acme:error:unauthorized" },
    /* Only a pending order moves: later states are left alone. */
    { "processing", { "invalid" }, 1, "processing", NULL },
    { "valid", { "deactivated" }, 1, "valid", NULL },
    { "ready", { "invalid" }, 1, "ready", NULL },
};

static void
test_order_update_from_authz(void **state)
{
    struct fixture *fx = *state;

    for (size_t i = 0; i < sizeof(update_rows) / sizeof(update_rows[0]);
         i++) {
        const struct update_row *r = &update_rows[i];
        cJSON *order;
        const cJSON *err;

        /* Read from the store, then with a0 as the caller's own. */
        for (int known = 0; known < 2; known++) {
            put_order(fx->st, r->order_status, r->authz, r->n);
            order = update_and_get_known(fx->st, AP_OK, known == 1);
            assert_string_equal(json_str(order, "status", ""), r->want);
            err = cJSON_GetObjectItemCaseSensitive(order, "error");
            if (r->want_error == NULL) {
                assert_null(err);
            } else {
                assert_non_null(err);
                assert_string_equal(json_str(err, "type", ""),
                                    r->want_error);
            }
            cJSON_Delete(order);
        }
    }
}

/* The caller's record of an authorization is the one taken, not the
 * stored one: a0 stored pending, handed in valid, makes the order ready;
 * a record of another id is not taken for a0. */
static void
test_order_update_known(void **state)
{
    struct fixture *fx = *state;
    const char *authz[] = { "pending" };
    struct store_txn *txn = NULL;
    struct authz known;
    cJSON *order = NULL;

    put_order(fx->st, "pending", authz, 1);
    memset(&known, 0, sizeof(known));
    assert_int_equal(store_begin(fx->st, true, &txn), AP_OK);
    assert_int_equal(rec_authz_get(txn, "a0", &known), AP_OK);
    known.status = AUTHZ_VALID;
    snprintf(known.id, sizeof(known.id), "a9");
    assert_int_equal(order_update_from_authz(txn, "o", &known), AP_OK);
    assert_int_equal(store_get_json(txn, STORE_ORDERS, "o", &order), AP_OK);
    assert_string_equal(json_str(order, "status", ""), "pending");
    cJSON_Delete(order);
    snprintf(known.id, sizeof(known.id), "a0");
    assert_int_equal(order_update_from_authz(txn, "o", &known), AP_OK);
    assert_int_equal(store_get_json(txn, STORE_ORDERS, "o", &order), AP_OK);
    assert_string_equal(json_str(order, "status", ""), "ready");
    cJSON_Delete(order);
    assert_int_equal(store_commit(txn), AP_OK);
    rec_authz_fini(&known);
}

static void
test_order_update_missing(void **state)
{
    struct fixture *fx = *state;
    const char *authz[] = { "valid" };
    struct store_txn *txn = NULL;

    /* No order at all. */
    assert_null(update_and_get(fx->st, AP_ENOTFOUND));
    /* An order naming an authorization that is not stored. */
    put_order(fx->st, "pending", authz, 1);
    assert_int_equal(store_begin(fx->st, true, &txn), AP_OK);
    assert_int_equal(store_del(txn, STORE_AUTHZS, "a0"), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_null(update_and_get(fx->st, AP_ENOTFOUND));
}

int
main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_order_status_now),
        cmocka_unit_test(test_authz_status_at),
    };
    const struct CMUnitTest stored[] = {
        cmocka_unit_test_setup_teardown(test_order_update_from_authz, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_order_update_known, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_order_update_missing, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests_name("status", pure, NULL, NULL);

    failed += cmocka_run_group_tests_name("status-store", stored, NULL, NULL);
    return failed;
}
