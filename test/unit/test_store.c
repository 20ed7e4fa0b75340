/* test/unit/test_store.c: common/store.h on the LMDB engine; compiled
 * again by test/unit/test_store_pg.c (STORE_TEST_PG) for the PostgreSQL
 * engine, which adds the tests only it has (several instances).
 *
 * Every test gets its own store in a fresh mkdtemp directory (cmocka
 * setup), removed again by the teardown even when the test fails; with
 * PostgreSQL the tables of the test database are dropped first, so each
 * test starts from an empty database (and its schema is made anew). Good
 * rows put a record and read it back; bad rows run one operation that must
 * fail with the code the header gives; scan rows list what a scan visits.
 * Every table row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"
#include "test/unit/tmpdir.h"

#include <dirent.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/store.h"

#define MAP_MB 16

/* ---- fixture: a store in a temporary directory --------------------- */

struct fixture {
    const void *row;
    char dir[64];
    struct store *st;
};


#ifdef STORE_TEST_PG
/* test_store_pg.c: opens the PostgreSQL store of the test database as
 * instance (lease_ms 0: the default). */
static ap_err pg_store_open(const char *dir, const char *instance,
                            unsigned lease_ms, struct store **out,
                            char *errbuf, size_t errlen);
/* Drops every table of the test database. */
static int pg_reset(void);
static PGconn *pg_own;
static void add_engine_tests(struct test_list *l);
#define ENGINE_PG true
#else
#define ENGINE_PG false
#endif

static ap_err
fixture_open(struct fixture *f, char *errbuf, size_t errlen)
{
#ifdef STORE_TEST_PG
    return pg_store_open(f->dir, "test-a", 0, &f->st, errbuf, errlen);
#else
    struct store_config sc = { .dir = f->dir, .map_size_mb = MAP_MB };

    return store_open(&sc, &f->st, errbuf, errlen);
#endif
}

static void
store_reopen(struct fixture *f)
{
    char errbuf[256] = "";

    store_close(f->st);
    f->st = NULL;
    if (fixture_open(f, errbuf, sizeof(errbuf)) != AP_OK) {
        print_error("store_open: %s\n", errbuf);
        fail();
    }
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errbuf[256] = "";

    if (f == NULL) {
        return -1;
    }
    f->row = *state;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
#ifdef STORE_TEST_PG
    if (pg_reset() != 0) {
        tmpdir_remove(f->dir);
        free(f);
        return -1;
    }
#endif
    if (fixture_open(f, errbuf, sizeof(errbuf)) != AP_OK) {
        print_error("store_open: %s\n", errbuf);
        tmpdir_remove(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->st);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static struct store_txn *
begin(struct fixture *f, bool write)
{
    struct store_txn *txn = NULL;

    assert_int_equal(store_begin(f->st, write, &txn), AP_OK);
    assert_non_null(txn);
    return txn;
}

static void
put(struct fixture *f, enum store_table t, const char *key, const char *val)
{
    struct store_txn *txn = begin(f, true);

    assert_int_equal(store_put(txn, t, key, val, strlen(val), false), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
}

/* The value of key, or NULL when absent (caller frees). */
static char *
get(struct fixture *f, enum store_table t, const char *key)
{
    struct store_txn *txn = begin(f, false);
    char *val = NULL;
    size_t len = 0;
    ap_err rc;

    rc = store_get(txn, t, key, &val, &len);
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        return NULL;
    }
    assert_int_equal(rc, AP_OK);
    assert_int_equal(strlen(val), len);
    return val;
}

static char *
long_key(size_t n)
{
    char *k = malloc(n + 1);

    assert_non_null(k);
    memset(k, 'k', n);
    k[n] = '\0';
    return k;
}

/* ---- put, get back ------------------------------------------------- */

struct rec_row {
    const char *name;
    const char *key;     /* NULL: key_len x 'k' */
    size_t key_len;
    const char *val;
    size_t val_len;      /* may cover NULs; (size_t)-1: a 100 KiB value */
};

#define BIG ((size_t)-1)

static const struct rec_row rec_rows[] = {
    { "simple", "a", 0, "{\"x\":1}", 7 },
    { "key with slashes", "acct/1700000000/order", 0, "", 0 },
    { "UTF-8 key", "b\xc3\xbc" "cher", 0, "v", 1 },
    { "key of STORE_MAX_KEY octets", NULL, STORE_MAX_KEY, "v", 1 },
    { "value with NUL bytes", "bin", 0, "a\0b\0", 4 },
    { "100 KiB value", "big", 0, NULL, BIG },
};

static void
test_record(void **state)
{
    struct fixture *f = *state;
    const struct rec_row *row = f->row;
    char *key = row->key ? strdup(row->key) : long_key(row->key_len);
    char *val = NULL;
    size_t val_len = row->val_len;
    char *got = NULL;
    size_t got_len = 0;
    struct store_txn *txn;

    assert_non_null(key);
    if (ENGINE_PG && strcmp(row->name, "UTF-8 key") == 0) {
        /* PostgreSQL keeps keys as ASCII text: refused, nothing written. */
        txn = begin(f, true);
        assert_int_equal(store_put(txn, STORE_ORDERS, key, "v", 1, true),
                         AP_EINVAL);
        assert_int_equal(store_get(txn, STORE_ORDERS, key, &got, NULL),
                         AP_EINVAL);
        assert_int_equal(store_commit(txn), AP_OK);
        free(key);
        return;
    }
    if (row->val_len == BIG) {
        val_len = 100 * 1024;
        val = malloc(val_len);
        assert_non_null(val);
        for (size_t i = 0; i < val_len; i++) {
            val[i] = (char)('a' + i % 26);
        }
    } else {
        val = malloc(val_len + 1);
        assert_non_null(val);
        memcpy(val, row->val, val_len);
    }
    txn = begin(f, true);
    assert_int_equal(store_put(txn, STORE_ORDERS, key, val, val_len, true),
                     AP_OK);
    /* Visible inside the same transaction. */
    assert_int_equal(store_get(txn, STORE_ORDERS, key, &got, &got_len),
                     AP_OK);
    assert_int_equal(got_len, val_len);
    assert_memory_equal(got, val, val_len);
    assert_int_equal(got[got_len], '\0');
    free(got);
    got = NULL;
    assert_int_equal(store_commit(txn), AP_OK);

    txn = begin(f, false);
    assert_int_equal(store_get(txn, STORE_ORDERS, key, &got, &got_len),
                     AP_OK);
    assert_int_equal(got_len, val_len);
    assert_memory_equal(got, val, val_len);
    free(got);
    got = NULL;
    /* Only in the table it was put in. */
    assert_int_equal(store_get(txn, STORE_AUTHZS, key, &got, &got_len),
                     AP_ENOTFOUND);
    assert_null(got);
    store_abort(txn);

    /* Overwrite, then delete. */
    txn = begin(f, true);
    assert_int_equal(store_put(txn, STORE_ORDERS, key, "new", 3, false),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    got = get(f, STORE_ORDERS, key);
    assert_string_equal(got, "new");
    free(got);
    txn = begin(f, true);
    assert_int_equal(store_del(txn, STORE_ORDERS, key), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_null(get(f, STORE_ORDERS, key));
    free(val);
    free(key);
}

/* ---- operations that must fail ------------------------------------- */

enum op {
    OP_GET,
    OP_PUT,
    OP_PUT_EXCL,
    OP_DEL,
    OP_GET_JSON,
    OP_PUT_READONLY,
};

struct bad_row {
    const char *name;
    const char *seed_val; /* put under "seed" first; NULL: nothing */
    enum op op;
    const char *key;      /* NULL: key_len x 'k' */
    size_t key_len;
    ap_err want;
};

static const struct bad_row bad_rows[] = {
    { "get: empty key", NULL, OP_GET, "", 0, AP_EINVAL },
    { "put: empty key", NULL, OP_PUT, "", 0, AP_EINVAL },
    { "del: empty key", NULL, OP_DEL, "", 0, AP_EINVAL },
    { "get: key over STORE_MAX_KEY", NULL, OP_GET, NULL, STORE_MAX_KEY + 1,
      AP_EINVAL },
    { "put: key over STORE_MAX_KEY", NULL, OP_PUT, NULL, STORE_MAX_KEY + 1,
      AP_EINVAL },
    { "del: key over STORE_MAX_KEY", NULL, OP_DEL, NULL, STORE_MAX_KEY + 1,
      AP_EINVAL },
    { "put: key over LMDB's own limit", NULL, OP_PUT, NULL, 600, AP_EINVAL },
    { "get: missing", "x", OP_GET, "nope", 0, AP_ENOTFOUND },
    { "get: prefix of a key", "x", OP_GET, "see", 0, AP_ENOTFOUND },
    { "del: missing", "x", OP_DEL, "nope", 0, AP_ENOTFOUND },
    { "exclusive put on an existing key", "old", OP_PUT_EXCL, "seed", 0,
      AP_EEXIST },
    { "get_json: not JSON", "not json", OP_GET_JSON, "seed", 0, AP_ESTORE },
    { "get_json: a JSON array", "[1,2]", OP_GET_JSON, "seed", 0, AP_ESTORE },
    { "get_json: a JSON string", "\"s\"", OP_GET_JSON, "seed", 0,
      AP_ESTORE },
    { "get_json: empty value", "", OP_GET_JSON, "seed", 0, AP_ESTORE },
    { "get_json: truncated object", "{\"a\":", OP_GET_JSON, "seed", 0,
      AP_ESTORE },
    { "get_json: missing", NULL, OP_GET_JSON, "nope", 0, AP_ENOTFOUND },
    { "put in a read transaction", NULL, OP_PUT_READONLY, "k", 0,
      AP_ESTORE },
};

static void
test_bad(void **state)
{
    struct fixture *f = *state;
    const struct bad_row *row = f->row;
    char *key = row->key ? strdup(row->key) : long_key(row->key_len);
    struct store_txn *txn;
    char *val = NULL;
    size_t len = 0;
    cJSON *obj = NULL;
    size_t before = 0;
    size_t after = 0;
    ap_err rc = AP_EINTERNAL;

    assert_non_null(key);
    if (row->seed_val != NULL) {
        put(f, STORE_CERTS, "seed", row->seed_val);
    }
    txn = begin(f, row->op != OP_GET && row->op != OP_GET_JSON &&
                       row->op != OP_PUT_READONLY);
    assert_int_equal(store_count(txn, STORE_CERTS, &before), AP_OK);
    switch (row->op) {
    case OP_GET:
        rc = store_get(txn, STORE_CERTS, key, &val, &len);
        break;
    case OP_PUT:
    case OP_PUT_READONLY:
        rc = store_put(txn, STORE_CERTS, key, "v", 1, false);
        break;
    case OP_PUT_EXCL:
        rc = store_put(txn, STORE_CERTS, key, "v", 1, true);
        break;
    case OP_DEL:
        rc = store_del(txn, STORE_CERTS, key);
        break;
    case OP_GET_JSON:
        rc = store_get_json(txn, STORE_CERTS, key, &obj);
        break;
    }
    assert_int_equal(rc, row->want);
    assert_null(val);
    assert_null(obj);
    if (row->op == OP_PUT_READONLY) {
        store_abort(txn);
    } else {
        assert_int_equal(store_count(txn, STORE_CERTS, &after), AP_OK);
        assert_int_equal(after, before);
        if (row->op == OP_GET || row->op == OP_GET_JSON) {
            store_abort(txn);
        } else {
            assert_int_equal(store_commit(txn), AP_OK);
        }
    }
    /* The seed is untouched. */
    if (row->seed_val != NULL) {
        val = get(f, STORE_CERTS, "seed");
        assert_non_null(val);
        assert_string_equal(val, row->seed_val);
        free(val);
    }
    free(key);
}

/* ---- transactions -------------------------------------------------- */

static void
test_abort_discards(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    size_t n = 99;

    put(f, STORE_JOBS, "kept", "1");
    txn = begin(f, true);
    assert_int_equal(store_put(txn, STORE_JOBS, "dropped", "2", 1, false),
                     AP_OK);
    assert_int_equal(store_del(txn, STORE_JOBS, "kept"), AP_OK);
    store_abort(txn);
    store_abort(NULL);
    assert_null(get(f, STORE_JOBS, "dropped"));
    txn = begin(f, false);
    assert_int_equal(store_count(txn, STORE_JOBS, &n), AP_OK);
    store_abort(txn);
    assert_int_equal(n, 1);
    free(get(f, STORE_JOBS, "kept"));
}

static void
test_reopen(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    cJSON *obj = cJSON_CreateObject();
    cJSON *back = NULL;
    char *val;

    assert_non_null(obj);
    assert_non_null(cJSON_AddStringToObject(obj, "status", "valid"));
    assert_non_null(cJSON_AddNumberToObject(obj, "n", 7));
    put(f, STORE_ACCOUNTS, "acct", "committed");
    txn = begin(f, true);
    assert_int_equal(store_put_json(txn, STORE_ORDERS, "o1", obj, true),
                     AP_OK);
    assert_int_equal(store_put_json(txn, STORE_ORDERS, "o1", obj, true),
                     AP_EEXIST);
    assert_int_equal(store_commit(txn), AP_OK);
    txn = begin(f, true);
    assert_int_equal(store_put(txn, STORE_ACCOUNTS, "aborted", "x", 1, false),
                     AP_OK);
    store_abort(txn);

    store_reopen(f);
    val = get(f, STORE_ACCOUNTS, "acct");
    assert_non_null(val);
    assert_string_equal(val, "committed");
    free(val);
    assert_null(get(f, STORE_ACCOUNTS, "aborted"));
    txn = begin(f, false);
    assert_int_equal(store_get_json(txn, STORE_ORDERS, "o1", &back), AP_OK);
    store_abort(txn);
    assert_true(cJSON_Compare(obj, back, true));
    cJSON_Delete(back);
    cJSON_Delete(obj);
}

static void
test_count(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    char key[16];
    size_t n = 99;
    int i;

    txn = begin(f, false);
    assert_int_equal(store_count(txn, STORE_SERIALS, &n), AP_OK);
    assert_int_equal(n, 0);
    store_abort(txn);
    txn = begin(f, true);
    for (i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "s%03d", i);
        assert_int_equal(store_put(txn, STORE_SERIALS, key, "c", 1, true),
                         AP_OK);
    }
    /* Overwriting does not count twice. */
    assert_int_equal(store_put(txn, STORE_SERIALS, "s000", "d", 1, false),
                     AP_OK);
    assert_int_equal(store_del(txn, STORE_SERIALS, "s049"), AP_OK);
    assert_int_equal(store_count(txn, STORE_SERIALS, &n), AP_OK);
    assert_int_equal(n, 49);
    assert_int_equal(store_commit(txn), AP_OK);
    txn = begin(f, false);
    assert_int_equal(store_count(txn, STORE_SERIALS, &n), AP_OK);
    assert_int_equal(n, 49);
    assert_int_equal(store_count(txn, STORE_CERTS, &n), AP_OK);
    assert_int_equal(n, 0);
    store_abort(txn);
}

static void
test_open_errors(void **state)
{
    struct fixture *f = *state;
    struct store *st = (struct store *)&st;
    char errbuf[256] = "";
    char path[128];
    struct store_config sc = { .dir = path, .map_size_mb = MAP_MB };

    snprintf(path, sizeof(path), "%s/no/such/dir", f->dir);
    assert_int_not_equal(store_open(&sc, &st, errbuf, sizeof(errbuf)),
                         AP_OK);
    assert_null(st);
    assert_true(errbuf[0] != '\0');
    store_close(NULL);
}

/* ---- scans --------------------------------------------------------- */

static const char *const scan_keys[] = {
    "acct1/001/o1", "acct1/002/o2", "acct1/003/o3", "acct10/001/o9",
    "acct2/001/o4", "acct2/002/o5", "b",
};

struct scan_row {
    const char *name;
    const char *prefix;
    const char *after;
    int stop_after;   /* stop once this many were visited; 0: never */
    const char *want; /* keys visited, comma-separated */
};

static const struct scan_row scan_rows[] = {
    { "empty prefix and after", "", "", 0,
      "acct1/001/o1,acct1/002/o2,acct1/003/o3,acct10/001/o9,acct2/001/o4,"
      "acct2/002/o5,b" },
    { "prefix acct1/ (not acct10/)", "acct1/", NULL, 0,
      "acct1/001/o1,acct1/002/o2,acct1/003/o3" },
    { "prefix acct2/", "acct2/", NULL, 0, "acct2/001/o4,acct2/002/o5" },
    { "prefix without keys", "acct3/", NULL, 0, "" },
    { "prefix past the last key", "z", NULL, 0, "" },
    { "whole key as prefix", "b", NULL, 0, "b" },
    { "after an existing key", "acct1/", "acct1/001/o1", 0,
      "acct1/002/o2,acct1/003/o3" },
    { "after a key that is not there", "acct1/", "acct1/0015", 0,
      "acct1/002/o2,acct1/003/o3" },
    { "after the last key of the prefix", "acct1/", "acct1/003/o3", 0, "" },
    { "after, empty prefix", "", "acct2/001/o4", 0, "acct2/002/o5,b" },
    /* BUG: with after set, store_scan starts at after and stops at the
     * first key outside prefix, so an after that sorts before prefix, with
     * other keys in between, visits nothing. Input: prefix "acct2/", after
     * "acct1/001/o1" over the keys above. The header says: keys that start
     * with prefix and sort after after, i.e. both acct2/ keys. */
    { "after that sorts before the prefix", "acct2/", "acct1/001/o1", 0,
      "acct2/001/o4,acct2/002/o5" },
    { "stop after one", "acct1/", NULL, 1, "acct1/001/o1" },
    { "stop after two, empty prefix", "", NULL, 2,
      "acct1/001/o1,acct1/002/o2" },
};

/* BUG (shows under UBSan): with prefix NULL, as jobs.c calls it, store_scan
 * runs memcmp(key, NULL, 0) for every key (store.c, the prefix test in the
 * loop); passing NULL to memcmp is undefined even for length 0, and the
 * sanitizer build stops there. Input: store_scan(txn, t, NULL, NULL, ...)
 * over a table with keys. It must visit every key, defined. Added last, as
 * the abort ends the binary. */
static const struct scan_row scan_null_rows[] = {
    { "NULL prefix and after: everything", NULL, NULL, 0,
      "acct1/001/o1,acct1/002/o2,acct1/003/o3,acct10/001/o9,acct2/001/o4,"
      "acct2/002/o5,b" },
};

struct collect {
    char seen[1024];
    int n;
    int stop_after;
};

static bool
collect_one(void *arg, const char *key, const char *val, size_t len)
{
    struct collect *c = arg;
    size_t used = strlen(c->seen);

    /* The value is the key with "=" in front. */
    assert_int_equal(len, strlen(key) + 1);
    assert_int_equal(val[0], '=');
    assert_memory_equal(val + 1, key, len - 1);
    snprintf(c->seen + used, sizeof(c->seen) - used, "%s%s",
             c->n > 0 ? "," : "", key);
    c->n++;
    return c->stop_after == 0 || c->n < c->stop_after;
}

static void
fill_scan_keys(struct fixture *f)
{
    struct store_txn *txn = begin(f, true);
    char val[64];
    size_t i;

    for (i = 0; i < sizeof(scan_keys) / sizeof(scan_keys[0]); i++) {
        snprintf(val, sizeof(val), "=%s", scan_keys[i]);
        assert_int_equal(store_put(txn, STORE_ACCOUNT_ORDERS, scan_keys[i],
                                   val, strlen(val), true),
                         AP_OK);
    }
    /* Another table holds a key that no scan of ACCOUNT_ORDERS shows. */
    assert_int_equal(store_put(txn, STORE_ORDERS, "acct1/000/zz", "=x", 2,
                               true),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
}

static void
test_scan(void **state)
{
    struct fixture *f = *state;
    const struct scan_row *row = f->row;
    struct collect c;
    struct store_txn *txn;

    fill_scan_keys(f);
    if (row->prefix == NULL) {
        /* The sanitizer build aborts in this scan, before the teardown:
         * remove the directory now (LMDB keeps its open files), so no
         * temporary files are left behind either way. */
        tmpdir_remove(f->dir);
    }
    memset(&c, 0, sizeof(c));
    c.stop_after = row->stop_after;
    txn = begin(f, false);
    assert_int_equal(store_scan(txn, STORE_ACCOUNT_ORDERS, row->prefix,
                                row->after, collect_one, &c),
                     AP_OK);
    store_abort(txn);
    assert_string_equal(c.seen, row->want);
}

/* Paging through a prefix two at a time with after = the last key seen
 * visits every key once, in order. */
static void
test_scan_pages(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    struct collect c;
    char all[1024] = "";
    char last[STORE_MAX_KEY + 1] = "";
    int pages = 0;
    char *comma;

    fill_scan_keys(f);
    for (;;) {
        memset(&c, 0, sizeof(c));
        c.stop_after = 2;
        txn = begin(f, false);
        assert_int_equal(store_scan(txn, STORE_ACCOUNT_ORDERS, "acct",
                                    last[0] ? last : NULL, collect_one, &c),
                         AP_OK);
        store_abort(txn);
        if (c.n == 0) {
            break;
        }
        pages++;
        assert_true(pages < 10);
        assert_true(snprintf(all + strlen(all), sizeof(all) - strlen(all),
                             "%s%s", all[0] ? "," : "",
                             c.seen) < (int)(sizeof(all) - strlen(all)));
        comma = strrchr(c.seen, ',');
        assert_true(snprintf(last, sizeof(last), "%s",
                             comma ? comma + 1 : c.seen) < (int)sizeof(last));
    }
    assert_int_equal(pages, 3);
    assert_string_equal(all, "acct1/001/o1,acct1/002/o2,acct1/003/o3,"
                             "acct10/001/o9,acct2/001/o4,acct2/002/o5");
}

static void
test_scan_empty(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    struct collect c;

    memset(&c, 0, sizeof(c));
    txn = begin(f, false);
    assert_int_equal(store_scan(txn, STORE_CERTS, NULL, NULL, collect_one,
                                &c),
                     AP_OK);
    assert_int_equal(store_scan(txn, STORE_CERTS, "x", "y", collect_one, &c),
                     AP_OK);
    store_abort(txn);
    assert_int_equal(c.n, 0);
}

/* store_prune_before deletes, in key order, at most max keys of the
 * prefix that sort before the cutoff, and nothing else. */
static void
test_prune_before(void **state)
{
    struct fixture *f = *state;
    static const char *const keys[] = { "t/0001/a", "t/0002/b", "t/0003/c",
                                        "t/0005/d", "u/0001/x", "s/0001/y" };
    struct store_txn *txn;
    struct collect c;
    size_t n = 99;

    txn = begin(f, true);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char val[32];

        snprintf(val, sizeof(val), "=%s", keys[i]);
        assert_int_equal(store_put(txn, STORE_META, keys[i], val,
                                   strlen(val), true),
                         AP_OK);
    }
    assert_int_equal(store_commit(txn), AP_OK);
    /* Two of the three before t/0004/ go; then the third; then none. */
    txn = begin(f, true);
    assert_int_equal(store_prune_before(txn, STORE_META, "t/", "t/0004/", 2,
                                        &n),
                     AP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_prune_before(txn, STORE_META, "t/", "t/0004/", 2,
                                        &n),
                     AP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_prune_before(txn, STORE_META, "t/", "t/0004/", 2,
                                        &n),
                     AP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_prune_before(txn, STORE_META, "t/", "t/", 0, &n),
                     AP_EINVAL);
    assert_int_equal(store_commit(txn), AP_OK);
    memset(&c, 0, sizeof(c));
    txn = begin(f, false);
    assert_int_equal(store_scan(txn, STORE_META, "s/", NULL, collect_one,
                                &c),
                     AP_OK);
    assert_int_equal(store_scan(txn, STORE_META, "t/", NULL, collect_one,
                                &c),
                     AP_OK);
    assert_int_equal(store_scan(txn, STORE_META, "u/", NULL, collect_one,
                                &c),
                     AP_OK);
    store_abort(txn);
    assert_string_equal(c.seen, "s/0001/y,t/0005/d,u/0001/x");
    assert_non_null(strstr(c.seen, "s/0001/y"));
    assert_non_null(strstr(c.seen, "t/0005/d"));
    assert_non_null(strstr(c.seen, "u/0001/x"));
    assert_null(strstr(c.seen, "t/0001/a"));
    assert_null(strstr(c.seen, "t/0002/b"));
    assert_null(strstr(c.seen, "t/0003/c"));
}

/* ---- jobs: claim one due job --------------------------------------- */

static void
job_put(struct fixture *f, const char *id, long long due)
{
    struct store_txn *txn = begin(f, true);
    cJSON *rec = cJSON_CreateObject();

    cJSON_AddStringToObject(rec, "mine", id);
    assert_int_equal(store_job_put(txn, id, due, rec), AP_OK);
    cJSON_Delete(rec);
    assert_int_equal(store_commit(txn), AP_OK);
}

/* Claims: the id, or "" when none is due. */
static void
job_claim(struct fixture *f, const char *q, long long now, char *id,
          size_t idlen, long long *starts)
{
    cJSON *rec = NULL;
    ap_err rc;

    rc = store_job_claim(f->st, q, now, id, idlen, &rec, NULL);
    if (rc == AP_ENOTFOUND) {
        id[0] = '\0';
        return;
    }
    assert_int_equal(rc, AP_OK);
    /* The caller's members come back as put. */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(rec, "mine")
                            ->valuestring,
                        id);
    if (starts != NULL) {
        *starts = (long long)cJSON_GetObjectItemCaseSensitive(rec, "starts")
                      ->valuedouble;
    }
    cJSON_Delete(rec);
}

static long long
job_field(struct fixture *f, const char *id, const char *name)
{
    struct store_txn *txn = begin(f, false);
    cJSON *rec = NULL;
    const cJSON *it;
    long long v = -1;

    if (store_get_json(txn, STORE_JOBS, id, &rec) == AP_OK) {
        it = cJSON_GetObjectItemCaseSensitive(rec, name);
        v = cJSON_IsNumber(it) ? (long long)it->valuedouble : -1;
    }
    cJSON_Delete(rec);
    store_abort(txn);
    return v;
}

static long long
next_due(struct fixture *f, const char *q)
{
    struct store_txn *txn = begin(f, false);
    long long due = -1;

    if (store_job_next_due(txn, q, &due) != AP_OK) {
        due = -1;
    }
    store_abort(txn);
    return due;
}

static void
test_jobs_due_order(void **state)
{
    struct fixture *f = *state;
    char id[STORE_MAX_KEY + 1];
    long long starts = 0;
    long long next = -1;
    cJSON *rec = NULL;

    job_put(f, "i:c", 300);
    job_put(f, "i:a", 100);
    job_put(f, "i:b", 200);
    job_put(f, "v:x/1", 50);      /* another queue; '/' in the name */
    assert_int_equal(next_due(f, "i"), 100);
    job_claim(f, "i", 150, id, sizeof(id), &starts);
    assert_string_equal(id, "i:a");
    assert_int_equal(starts, 1);
    /* b is not due yet; the answer says when it is. */
    assert_int_equal(store_job_claim(f->st, "i", 150, id, sizeof(id), &rec,
                                     &next),
                     AP_ENOTFOUND);
    assert_int_equal(next, 200);
    /* A claim also says when the next unclaimed job is due (PostgreSQL
     * does not look: now), and 0 when it took the last one. */
    assert_int_equal(store_job_claim(f->st, "i", 1000, id, sizeof(id), &rec,
                                     &next),
                     AP_OK);
    assert_string_equal(id, "i:b");
    assert_int_equal(next, ENGINE_PG ? 1000 : 300);
    cJSON_Delete(rec);
    rec = NULL;
    assert_int_equal(store_job_claim(f->st, "i", 1000, id, sizeof(id), &rec,
                                     &next),
                     AP_OK);
    assert_string_equal(id, "i:c");
    assert_int_equal(next, ENGINE_PG ? 1000 : 0);
    cJSON_Delete(rec);
    rec = NULL;
    /* All claimed: none twice, and nothing waits (PostgreSQL: but a lease
     * ends, at 150 + 30 s at the soonest; later when the listener renewed
     * it, by the wall clock, meanwhile). */
    assert_int_equal(store_job_claim(f->st, "i", 1000, id, sizeof(id), &rec,
                                     &next),
                     AP_ENOTFOUND);
    if (ENGINE_PG) {
        assert_true(next >= 150 + 30000 + 1);
    } else {
        assert_int_equal(next, 0);
    }
    job_claim(f, "v", 1000, id, sizeof(id), NULL);
    assert_string_equal(id, "v:x/1");
    /* Unclaimed (its runner gave up without an outcome): claimed again. */
    store_job_unclaim(f->st, "i:b");
    job_claim(f, "i", 1000, id, sizeof(id), NULL);
    assert_string_equal(id, "i:b");
}

/* A request claims the job it wrote by its id (store_job_claim_id): only
 * when it is due and nobody holds it, and then no worker takes it. The
 * PostgreSQL engine claims in the due order only and always says no. */
static void
test_jobs_claim_id(void **state)
{
    struct fixture *f = *state;
    char id[STORE_MAX_KEY + 1];
    cJSON *rec = NULL;

    job_put(f, "i:a", 100);
    job_put(f, "i:b", 500);
    assert_int_equal(store_job_claim_id(f->st, "i:a", 50, &rec),
                     AP_ENOTFOUND);
    assert_int_equal(store_job_claim_id(f->st, "i:none", 150, &rec),
                     AP_ENOTFOUND);
    if (ENGINE_PG) {
        assert_int_equal(store_job_claim_id(f->st, "i:a", 150, &rec),
                         AP_ENOTFOUND);
        assert_null(rec);
        return;
    }
    assert_int_equal(store_job_claim_id(f->st, "i:a", 150, &rec), AP_OK);
    assert_string_equal(json_str(rec, "mine", ""), "i:a");
    assert_int_equal(json_num(rec, "starts", 0), 1);
    cJSON_Delete(rec);
    rec = NULL;
    /* Held: neither the request again nor a worker takes it. */
    assert_int_equal(store_job_claim_id(f->st, "i:a", 150, &rec),
                     AP_ENOTFOUND);
    job_claim(f, "i", 150, id, sizeof(id), NULL);
    assert_string_equal(id, "");
    /* Held by a worker: not by the request. */
    job_claim(f, "i", 600, id, sizeof(id), NULL);
    assert_string_equal(id, "i:b");
    assert_int_equal(store_job_claim_id(f->st, "i:b", 600, &rec),
                     AP_ENOTFOUND);
    /* Ended without an outcome: claimed again, by its id. */
    store_job_unclaim(f->st, "i:a");
    assert_int_equal(store_job_claim_id(f->st, "i:a", 150, &rec), AP_OK);
    cJSON_Delete(rec);
}

static void
test_jobs_outcome_release_advance(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    char id[STORE_MAX_KEY + 1];
    long long starts = 0;

    job_put(f, "i:a", 100);
    job_claim(f, "i", 100, id, sizeof(id), NULL);
    /* Given back after it ran: releases count (the backoff). */
    txn = begin(f, true);
    assert_int_equal(store_job_release(txn, "i:a", 500, true), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    store_job_unclaim(f->st, "i:a");
    assert_int_equal(job_field(f, "i:a", "releases"), 1);
    assert_int_equal(next_due(f, "i"), 500);
    job_claim(f, "i", 500, id, sizeof(id), &starts);
    /* Starts that ended normally are not on record. */
    assert_int_equal(starts, 1);
    /* Deferred without running: no release counted. */
    txn = begin(f, true);
    assert_int_equal(store_job_release(txn, "i:a", 600, false), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(job_field(f, "i:a", "releases"), 1);
    /* Advance: never a claimed job, then sooner only. */
    txn = begin(f, true);
    assert_int_equal(store_job_advance(txn, "i:a", 0), AP_ENOTFOUND);
    assert_int_equal(store_commit(txn), AP_OK);
    store_job_unclaim(f->st, "i:a");
    txn = begin(f, true);
    assert_int_equal(store_job_advance(txn, "i:a", 900), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(next_due(f, "i"), 600);
    txn = begin(f, true);
    assert_int_equal(store_job_advance(txn, "i:a", 200), AP_OK);
    assert_int_equal(store_job_fault(txn, "i:a"), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(next_due(f, "i"), 200);
    assert_int_equal(job_field(f, "i:a", "faults"), 1);
    /* An outcome (put again) starts the counts from zero. */
    job_put(f, "i:a", 700);
    assert_int_equal(job_field(f, "i:a", "starts"), 0);
    assert_int_equal(job_field(f, "i:a", "faults"), 0);
    assert_int_equal(job_field(f, "i:a", "releases"), -1);
    assert_int_equal(next_due(f, "i"), 700);
    /* Deleting removes record and due entry. */
    txn = begin(f, true);
    assert_int_equal(store_job_del(txn, "i:a"), AP_OK);
    assert_int_equal(store_job_del(txn, "i:a"), AP_ENOTFOUND);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(next_due(f, "i"), -1);
    assert_int_equal(job_field(f, "i:a", "dueMs"), -1);
}

static void
test_jobs_recover(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    char id[STORE_MAX_KEY + 1];
    size_t n = 0;
    long long starts = 0;

    job_put(f, "i:a", 100);
    job_put(f, "i:b", 100);
    job_put(f, "i:c", 5000);
    job_claim(f, "i", 100, id, sizeof(id), NULL);
    job_claim(f, "i", 100, id, sizeof(id), NULL);
    job_claim(f, "i", 5000, id, sizeof(id), NULL);
    store_job_unclaim(f->st, "i:c");     /* ended normally */
    /* The process holding a and b dies: a new one opens the store. */
    store_reopen(f);
    txn = begin(f, true);
    assert_int_equal(store_job_recover(txn, 3000, &n), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(job_field(f, "i:a", "starts"), 1);
    assert_int_equal(job_field(f, "i:c", "starts"), 0);
    assert_int_equal(next_due(f, "i"), 3000);
    job_claim(f, "i", 3000, id, sizeof(id), &starts);
    assert_int_equal(starts, 2);     /* the cut start still counts */
    job_claim(f, "i", 3000, id, sizeof(id), &starts);
    assert_int_equal(starts, 2);
    job_claim(f, "i", 3000, id, sizeof(id), NULL);
    assert_string_equal(id, "");     /* c is due at 5000 */
    /* Counted once: the journal starts again (these runs end). */
    store_job_unclaim(f->st, "i:a");
    store_job_unclaim(f->st, "i:b");
    store_reopen(f);
    txn = begin(f, true);
    assert_int_equal(store_job_recover(txn, 4000, &n), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(job_field(f, "i:a", "starts"), 1);
}

#ifndef STORE_TEST_PG
/* The journal of starts and ends is rewritten with the live claims once
 * it passes 1 MiB (its size counted as written, not asked with fstat per
 * job): it stays bounded, and a claim held across the rewrite still comes
 * back after the death of the process. */
static void
test_jobs_journal_compacts(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    char id[STORE_MAX_KEY + 1];
    char busy[301];
    char path[128];
    struct stat sb;
    size_t n = 0;
    off_t peak = 0;

    memset(busy, 'x', sizeof(busy) - 1);
    busy[0] = 'i';
    busy[1] = ':';
    busy[sizeof(busy) - 1] = '\0';
    job_put(f, "i:held", 100);
    job_put(f, busy, 200);
    job_claim(f, "i", 1000, id, sizeof(id), NULL);
    assert_string_equal(id, "i:held");
    snprintf(path, sizeof(path), "%s/job-starts", f->dir);
    /* 2,000 starts and ends of 303 bytes each: 1.2 MB written. */
    for (int i = 0; i < 2000; i++) {
        job_claim(f, "i", 1000, id, sizeof(id), NULL);
        assert_string_equal(id, busy);
        store_job_unclaim(f->st, busy);
        assert_int_equal(stat(path, &sb), 0);
        if (sb.st_size > peak) {
            peak = sb.st_size;
        }
    }
    assert_true(peak >= 1024 * 1024 - 303);
    assert_true(peak < 1024 * 1024 + 2 * 303);
    assert_true(sb.st_size < 1024 * 1024 / 2); /* rewritten since */
    store_reopen(f);
    txn = begin(f, true);
    assert_int_equal(store_job_recover(txn, 3000, &n), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(job_field(f, "i:held", "starts"), 1);
    assert_int_equal(job_field(f, busy, "starts"), 0);
}
#endif

/* Records written by an older version: "due" in seconds, no index. */
static void
test_jobs_reindex_old(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    char id[STORE_MAX_KEY + 1];
    size_t n = 0;

    put(f, STORE_JOBS, "i:old", "{\"v\":1,\"due\":5,\"attempts\":2,"
                                "\"mine\":\"i:old\"}");
    put(f, STORE_JOBS, "v:a/0", "{\"v\":1,\"due\":3,\"attempts\":0,"
                                "\"mine\":\"v:a/0\"}");
    txn = begin(f, true);
    assert_int_equal(store_job_recover(txn, 9000, &n), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(next_due(f, "i"), 5000);
    assert_int_equal(next_due(f, "v"), 3000);
    job_claim(f, "i", 9000, id, sizeof(id), NULL);
    assert_string_equal(id, "i:old");
    assert_int_equal(job_field(f, "i:old", "attempts"), 2);
}

static void
test_jobs_bad(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = begin(f, true);
    char id[8];
    cJSON *rec = NULL;
    long long next = 0;

    assert_int_equal(store_job_put(txn, "noqueue", 1, NULL), AP_EINVAL);
    assert_int_equal(store_job_put(txn, ":x", 1, NULL), AP_EINVAL);
    assert_int_equal(store_job_put(txn, "toolongqueue:x", 1, NULL),
                     AP_EINVAL);
    assert_int_equal(store_job_put(txn, "i:", 1, NULL), AP_EINVAL);
    assert_int_equal(store_job_release(txn, "i:none", 1, true),
                     AP_ENOTFOUND);
    assert_int_equal(store_job_fault(txn, "i:none"), AP_ENOTFOUND);
    assert_int_equal(store_job_put(txn, "i:long-name", 1, NULL), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    /* An id that does not fit the caller's buffer is refused, and not
     * left claimed. */
    assert_int_equal(store_job_claim(f->st, "i", 5, id, sizeof(id), &rec,
                                     &next),
                     AP_EINVAL);
    txn = begin(f, true);
    assert_int_equal(store_job_advance(txn, "i:long-name", 0), AP_OK);
    store_abort(txn);
}

/* ---- exclusive puts in every key order ------------------------------ */

/* store_put(exclusive) appends a key that sorts after the table's last
 * (MDB_APPEND) and puts any other one the plain way: the answers must be
 * the same whatever the order. Ops run in one write transaction; a key
 * whose exclusive put is refused keeps its first value. */
struct put_op {
    const char *key;
    bool exclusive;
    ap_err want;
};

struct order_put_row {
    const char *name;
    struct put_op ops[8];   /* up to a NULL key */
    const char *want_keys;  /* a scan afterwards, comma-separated */
};

static const struct order_put_row order_put_rows[] = {
    { "exclusive puts, keys ascending",
      { { "k1", true, AP_OK }, { "k2", true, AP_OK }, { "k3", true, AP_OK } },
      "k1,k2,k3" },
    { "exclusive puts, keys descending",
      { { "k3", true, AP_OK }, { "k2", true, AP_OK }, { "k1", true, AP_OK } },
      "k1,k2,k3" },
    { "exclusive put of the last key again is refused",
      { { "k1", true, AP_OK }, { "k2", true, AP_OK },
        { "k2", true, AP_EEXIST } },
      "k1,k2" },
    { "exclusive put of a middle key again is refused",
      { { "k1", true, AP_OK }, { "k2", true, AP_OK }, { "k3", true, AP_OK },
        { "k2", true, AP_EEXIST } },
      "k1,k2,k3" },
    { "a prefix of the last key, then a longer key",
      { { "k10", true, AP_OK }, { "k1", true, AP_OK },
        { "k100", true, AP_OK }, { "k1", true, AP_EEXIST } },
      "k1,k10,k100" },
    { "a plain put replaces the last key",
      { { "k1", true, AP_OK }, { "k2", true, AP_OK },
        { "k2", false, AP_OK } },
      "k1,k2" },
};

static void
test_order_put(void **state)
{
    struct fixture *f = *state;
    const struct order_put_row *row = f->row;
    struct store_txn *txn = begin(f, true);
    struct collect c;

    for (size_t i = 0; i < 8 && row->ops[i].key != NULL; i++) {
        const struct put_op *op = &row->ops[i];
        char val[64];
        char *old = NULL;
        size_t len = 0;

        /* Each value is "=" and the key, as collect_one wants; a refused
         * put tries "=" and the key and "!", which must not land. */
        snprintf(val, sizeof(val), "=%s%s", op->key,
                 op->want == AP_OK ? "" : "!");
        assert_int_equal(store_put(txn, STORE_ORDERS, op->key, val,
                                   strlen(val), op->exclusive),
                         op->want);
        assert_int_equal(store_get(txn, STORE_ORDERS, op->key, &old, &len),
                         AP_OK);
        assert_int_equal(len, strlen(op->key) + 1);
        free(old);
    }
    assert_int_equal(store_commit(txn), AP_OK);
    memset(&c, 0, sizeof(c));
    txn = begin(f, false);
    assert_int_equal(store_scan(txn, STORE_ORDERS, "", NULL, collect_one, &c),
                     AP_OK);
    store_abort(txn);
    assert_string_equal(c.seen, row->want_keys);
}

#ifndef STORE_TEST_PG
/* Records put in key order (time-ordered ids) fill LMDB's pages: 3,000
 * values of 1,000 bytes fit four to a 4 KiB page, 750 pages; splitting
 * each full last page in half, as a plain put does, leaves two or three
 * to a page (1,000 or more pages). */
static void
test_append_fills_pages(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = begin(f, true);
    char val[1000];
    char key[16];
    size_t map_bytes = 0;
    size_t used = 0;

    memset(val, 'v', sizeof(val));
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "%08d", i);
        assert_int_equal(store_put(txn, STORE_CERTS, key, val, sizeof(val),
                                   true),
                         AP_OK);
    }
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(store_usage(f->st, &map_bytes, &used), AP_OK);
    print_message("3000 records in order: %zu pages\n",
                  used / (size_t)sysconf(_SC_PAGESIZE));
    assert_true(used / (size_t)sysconf(_SC_PAGESIZE) < 800);
}
#endif

/* ---- runner -------------------------------------------------------- */


int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    l.setup = setup;
    l.teardown = teardown;

    _Static_assert(N_ROWS(bad_rows) >= N_ROWS(rec_rows),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, rec_rows, test_record);
    ADD_ROWS(&l, bad_rows, test_bad);
    add_test(&l, "abort discards", test_abort_discards, NULL);
    add_test(&l, "committed data survives reopen", test_reopen, NULL);
    add_test(&l, "count", test_count, NULL);
    add_test(&l, "open errors", test_open_errors, NULL);
    ADD_ROWS(&l, scan_rows, test_scan);
    add_test(&l, "scan in pages", test_scan_pages, NULL);
    add_test(&l, "scan an empty table", test_scan_empty, NULL);
    add_test(&l, "prune keys before a cutoff", test_prune_before, NULL);
    ADD_ROWS(&l, scan_null_rows, test_scan);
    add_test(&l, "jobs: claimed by id when due and not held",
             test_jobs_claim_id, NULL);
    add_test(&l, "jobs: claimed in due order, each once", test_jobs_due_order,
             NULL);
    add_test(&l, "jobs: outcome, release, advance, fault",
             test_jobs_outcome_release_advance, NULL);
    add_test(&l, "jobs: a dead process's leases come back",
             test_jobs_recover, NULL);
    add_test(&l, "jobs: old records get their due order",
             test_jobs_reindex_old, NULL);
#ifndef STORE_TEST_PG
    add_test(&l, "jobs: the journal is rewritten past 1 MiB",
             test_jobs_journal_compacts, NULL);
#endif
    add_test(&l, "jobs: bad ids", test_jobs_bad, NULL);
    ADD_ROWS(&l, order_put_rows, test_order_put);
#ifndef STORE_TEST_PG
    add_test(&l, "records put in key order fill the pages",
             test_append_fills_pages, NULL);
#endif
#ifdef STORE_TEST_PG
    add_engine_tests(&l);
#endif

    failed = _cmocka_run_group_tests(
        ENGINE_PG ? "store (PostgreSQL)" : "store (LMDB)", l.tests, l.n, NULL,
        NULL);
    free(l.tests);
#ifdef STORE_TEST_PG
    PQfinish(pg_own);
#endif
    return failed;
}
