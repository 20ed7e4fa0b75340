/* test/unit/test_rec_cert.c: the certificate record in a store
 * (proxy/rec_cert.h rec_cert_put, rec_cert_get, rec_cert_expand): the
 * issuing chain stored once in STORE_META, the download byte for byte.
 *
 * 1. A record as the previous version wrote it (v 1, leaf then chain in
 *    pem) reads back with the same pem; written again (as revocation and
 *    replacement do) it becomes v 2 and still reads the same.
 * 2. Certificates of one chain share one "chain/<sha256>" entry; each
 *    record keeps only its leaf; every pem reads back byte for byte
 *    (LF and CRLF line ends, a leaf without a chain).
 * 3. A chain that is missing or does not match its hash: AP_ESTORE, on
 *    reading and on writing; never a leaf served without its chain.
 * 4. rec_cert_expand gives raw-JSON readers the previous shape.
 * 5. A real leaf in pem_encode's PEM is stored as its DER ("leaf" in the
 *    JSON rec_cert_parse gives), made PEM again byte for byte when read;
 *    one in another layout (CRLF, other line lengths) keeps its text in
 *    "pem".
 * 6. The DER layout byte for byte (JSON "v" 4 without id and leaf, a
 *    NUL, the DER), kept when written again; values of neither layout
 *    (garbage) are AP_ESTORE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "common/crypto.h"
#include "common/json.h"
#include "common/store.h"
#include "proxy/rec_cert.h"
#include "test/unit/vector_file.h"
#include "test/unit/tmpdir.h"

#define LEAF1                                                              \
    "-----BEGIN CERTIFICATE-----\n"                                        \
    "MIICEzCCAbqgAwIBAgIQW/v+q5wsTFF9L4jXNQEdxTAKBggqhkjOPQQDAjAqMSgw\n"   \
    "n8CLfIiOhQ==\n"                                                       \
    "-----END CERTIFICATE-----\n"
#define LEAF2                                                              \
    "-----BEGIN CERTIFICATE-----\n"                                        \
    "MIIB+DCCAZ2gAwIBAgIQFvY9/Nuywxw/csdFfUyGlDAKBggqhkjOPQQDAjAqMSgw\n"   \
    "ylOo6858cVFdkUqs9WJJIEL6oEGnlEgFqjpEKA==\n"                           \
    "-----END CERTIFICATE-----\n"
#define CHAIN                                                              \
    "-----BEGIN CERTIFICATE-----\n"                                        \
    "MIIBtTCCAVugAwIBAgIQOzOzQ+5IK4N/NN38KvqYpzAKBggqhkjOPQQDAjAnMSUw\n"   \
    "itjytKIw92XY\n"                                                       \
    "-----END CERTIFICATE-----\n"                                          \
    "-----BEGIN CERTIFICATE-----\n"                                        \
    "MIIBqzCCAVGgAwIBAgIQRoot\n"                                           \
    "-----END CERTIFICATE-----\n"


struct fixture {
    char dir[64];
    struct store *st;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errbuf[200];

    if (f == NULL) {
        return -1;
    }
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_rec_cert.XXXXXX");
    if (mkdtemp(f->dir) == NULL ||
        store_open(&(struct store_config){ .dir = f->dir, .map_size_mb = 8 },
                   &f->st, errbuf, sizeof(errbuf)) != AP_OK) {
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

/* A valid certificate record id with pem (copied). */
static void
make_cert(struct cert *c, const char *id, const char *pem)
{
    memset(c, 0, sizeof(*c));
    c->reason = -1;
    (void)snprintf(c->id, sizeof(c->id), "%s", id);
    (void)snprintf(c->account, sizeof(c->account), "acct1");
    (void)snprintf(c->order, sizeof(c->order), "ord-%s", id);
    (void)snprintf(c->serial, sizeof(c->serial), "0a%s", id);
    (void)snprintf(c->adapter, sizeof(c->adapter), "local");
    c->status = CERT_VALID;
    c->not_after = 1807776000;
    c->issued = 1800000100;
    c->pem = strdup(pem);
    assert_non_null(c->pem);
}

/* Writes c (rec_cert_put) in its own transaction; the put's result. */
static ap_err
put(struct fixture *f, const struct cert *c)
{
    struct store_txn *txn = NULL;
    ap_err rc;

    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    rc = rec_cert_put(txn, c->id, c, true);
    if (rc == AP_OK) {
        return store_commit(txn);
    }
    store_abort(txn);
    return rc;
}

/* rec_cert_get of id: its result, the pem in *pem (caller frees). */
static ap_err
get_pem(struct fixture *f, const char *id, char **pem)
{
    struct store_txn *txn = NULL;
    struct cert c;
    ap_err rc;

    *pem = NULL;
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    rc = rec_cert_get(txn, id, &c);
    store_abort(txn);
    if (rc == AP_OK) {
        *pem = c.pem;
        c.pem = NULL;
    }
    rec_cert_fini(&c);
    return rc;
}

/* The stored JSON of certificate id (caller deletes). */
static cJSON *
raw(struct fixture *f, const char *id)
{
    struct store_txn *txn = NULL;
    cJSON *obj = NULL;

    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(rec_cert_get_json(txn, id, &obj), AP_OK);
    store_abort(txn);
    return obj;
}

static bool
count_one(void *arg, const char *key, const char *val, size_t len)
{
    (void)key;
    (void)val;
    (void)len;
    (*(int *)arg)++;
    return true;
}

/* How many chains STORE_META holds. */
static int
n_chains(struct fixture *f)
{
    struct store_txn *txn = NULL;
    int n = 0;

    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(store_scan(txn, STORE_META, REC_CERT_CHAIN_PREFIX, NULL,
                                count_one, &n),
                     AP_OK);
    store_abort(txn);
    return n;
}

/* The STORE_META key of chain: of hexlen digits of its SHA-256 (version
 * 3: REC_CERT_CHAIN_REF; version 2: REC_CERT_CHAIN_HEX). */
static void
chain_key_n(const char *chain, size_t hexlen, char *key, size_t len)
{
    unsigned char h[32];
    int off;

    crypto_sha256(chain, strlen(chain), h);
    off = snprintf(key, len, "%s", REC_CERT_CHAIN_PREFIX);
    for (size_t i = 0; i < hexlen / 2; i++) {
        off += snprintf(key + off, len - (size_t)off, "%02x", h[i]);
    }
}

static void
chain_key_of(const char *chain, char *key, size_t len)
{
    chain_key_n(chain, REC_CERT_CHAIN_REF, key, len);
}

/* 1b. A record as version 2 wrote it (the chain under its whole SHA-256)
 * reads back; written again it takes the short reference. */
static void
test_v2_record(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    struct cert c;
    cJSON *old = cJSON_CreateObject();
    cJSON *now;
    char key[128];
    char *pem = NULL;

    chain_key_n(CHAIN, REC_CERT_CHAIN_HEX, key, sizeof(key));
    assert_non_null(old);
    cJSON_AddNumberToObject(old, "v", 2);
    cJSON_AddStringToObject(old, "id", "V2");
    cJSON_AddStringToObject(old, "account", "acct1");
    cJSON_AddStringToObject(old, "order", "ord1");
    cJSON_AddStringToObject(old, "serial", "5bfc");
    cJSON_AddStringToObject(old, "status", "valid");
    cJSON_AddNumberToObject(old, "notAfter", 1804201636);
    cJSON_AddNumberToObject(old, "issued", 1796425636);
    cJSON_AddStringToObject(old, "adapter", "local");
    cJSON_AddStringToObject(old, "adapterName", "default");
    cJSON_AddStringToObject(old, "pem", LEAF1);
    cJSON_AddStringToObject(old, "chain",
                            key + strlen(REC_CERT_CHAIN_PREFIX));
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_put_json(txn, STORE_CERTS, "V2", old, true),
                     AP_OK);
    assert_int_equal(store_put(txn, STORE_META, key, CHAIN, strlen(CHAIN),
                               true),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(get_pem(f, "V2", &pem), AP_OK);
    assert_string_equal(pem, LEAF1 CHAIN);
    free(pem);

    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(rec_cert_get(txn, "V2", &c), AP_OK);
    store_abort(txn);
    assert_string_equal(c.adapter_name, "default");
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(rec_cert_put(txn, "V2", &c, false), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    rec_cert_fini(&c);
    now = raw(f, "V2");
    assert_int_equal(json_num(now, "v", 0), 3);
    assert_int_equal(strlen(json_str(now, "chain", "")), REC_CERT_CHAIN_REF);
    assert_int_equal(strncmp(json_str(now, "chain", ""),
                             key + strlen(REC_CERT_CHAIN_PREFIX),
                             REC_CERT_CHAIN_REF),
                     0);
    cJSON_Delete(now);
    assert_int_equal(n_chains(f), 2);   /* the whole and the short key */
    assert_int_equal(get_pem(f, "V2", &pem), AP_OK);
    assert_string_equal(pem, LEAF1 CHAIN);
    free(pem);
    cJSON_Delete(old);
}

/* 1. A record of the previous version, then written again. */
static void
test_old_record(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    struct cert c;
    cJSON *old = cJSON_CreateObject();
    cJSON *now;
    char *pem = NULL;

    /* member for member what e9532e2's rec_cert_encode wrote */
    assert_non_null(old);
    cJSON_AddNumberToObject(old, "v", 1);
    cJSON_AddStringToObject(old, "id", "OLD1");
    cJSON_AddStringToObject(old, "account", "acct1");
    cJSON_AddStringToObject(old, "order", "ord1");
    cJSON_AddStringToObject(old, "serial", "5bfb");
    cJSON_AddStringToObject(old, "status", "valid");
    cJSON_AddNumberToObject(old, "notAfter", 1804201636);
    cJSON_AddNumberToObject(old, "issued", 1796425636);
    cJSON_AddStringToObject(old, "adapter", "local");
    cJSON_AddStringToObject(old, "adapterName", "default");
    cJSON_AddStringToObject(old, "pem", LEAF1 CHAIN);
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_put_json(txn, STORE_CERTS, "OLD1", old, true),
                     AP_OK);
    assert_int_equal(store_put(txn, STORE_SERIALS, "5bfb", "OLD1", 4, true),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);

    assert_int_equal(get_pem(f, "OLD1", &pem), AP_OK);
    assert_string_equal(pem, LEAF1 CHAIN);
    free(pem);
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(rec_cert_by_serial(txn, "5bfb", &c), AP_OK);
    store_abort(txn);
    assert_string_equal(c.pem, LEAF1 CHAIN);
    assert_string_equal(c.chain, "");
    /* expand leaves a record without a chain as it is */
    now = raw(f, "OLD1");
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(rec_cert_expand(txn, "OLD1", now), AP_OK);
    store_abort(txn);
    assert_true(cJSON_Compare(old, now, true));
    cJSON_Delete(now);

    /* revoked, as cert.c does: read, change, write back */
    c.status = CERT_REVOKED;
    c.reason = 1;
    c.revoked_at = 1796425700;
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(rec_cert_put(txn, "OLD1", &c, false), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    rec_cert_fini(&c);
    now = raw(f, "OLD1");
    assert_int_equal(json_num(now, "v", 0), 3);
    assert_string_equal(json_str(now, "pem", ""), LEAF1);
    assert_int_equal(strlen(json_str(now, "chain", "")), REC_CERT_CHAIN_REF);
    /* the default adapter is not stored by name */
    assert_false(cJSON_HasObjectItem(now, "adapterName"));
    assert_string_equal(json_str(now, "status", ""), "revoked");
    cJSON_Delete(now);
    assert_int_equal(n_chains(f), 1);
    assert_int_equal(get_pem(f, "OLD1", &pem), AP_OK);
    assert_string_equal(pem, LEAF1 CHAIN);
    free(pem);
    cJSON_Delete(old);
}

/* 2. One chain for many certificates; byte for byte. */
static void
test_shared_chain(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *id;
        const char *pem;
        int chains;           /* STORE_META chains after it */
        bool has_chain;
    } rows[] = {
        { "C1", LEAF1 CHAIN, 1, true },
        { "C2", LEAF2 CHAIN, 1, true },
        { "C3", LEAF2, 1, false },                   /* no chain */
        { "C4", LEAF1 "\n" CHAIN, 2, true },         /* another text */
        { "C5", "-----BEGIN CERTIFICATE-----\r\nMIIB\r\n"
                "-----END CERTIFICATE-----\r\n" CHAIN, 2, true },
        { "C6", "-----BEGIN CERTIFICATE-----\nMIIB\n"
                "-----END CERTIFICATE-----", 2, false }, /* no newline */
        { "C7", "", 2, false },
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct cert c;
        cJSON *obj;
        char *pem = NULL;

        make_cert(&c, rows[i].id, rows[i].pem);
        assert_int_equal(put(f, &c), AP_OK);
        rec_cert_fini(&c);
        assert_int_equal(n_chains(f), rows[i].chains);
        assert_int_equal(get_pem(f, rows[i].id, &pem), AP_OK);
        assert_string_equal(pem, rows[i].pem);
        free(pem);
        obj = raw(f, rows[i].id);
        assert_int_equal(json_num(obj, "v", 0), rows[i].has_chain ? 3 : 1);
        assert_int_equal(cJSON_HasObjectItem(obj, "chain"),
                         rows[i].has_chain);
        assert_true(strlen(json_str(obj, "pem", "")) <
                        strlen(rows[i].pem) ||
                    !rows[i].has_chain);
        cJSON_Delete(obj);
    }
}

/* 3. A chain missing or changed: AP_ESTORE, never the leaf alone. */
static void
test_bad_chain(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    struct cert c;
    cJSON *obj;
    char key[128];
    char *pem = NULL;

    make_cert(&c, "B1", LEAF1 CHAIN);
    assert_int_equal(put(f, &c), AP_OK);
    rec_cert_fini(&c);
    chain_key_of(CHAIN, key, sizeof(key));

    /* changed: the hash no longer matches */
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_put(txn, STORE_META, key, LEAF2, strlen(LEAF2),
                               false),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(get_pem(f, "B1", &pem), AP_ESTORE);
    assert_null(pem);
    obj = raw(f, "B1");
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(rec_cert_expand(txn, "B1", obj), AP_ESTORE);
    store_abort(txn);
    cJSON_Delete(obj);
    /* a put of that chain does not take the other text for it */
    make_cert(&c, "B2", LEAF2 CHAIN);
    assert_int_equal(put(f, &c), AP_ESTORE);
    rec_cert_fini(&c);

    /* missing */
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_del(txn, STORE_META, key), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(get_pem(f, "B1", &pem), AP_ESTORE);
    assert_null(pem);
    obj = raw(f, "B1");
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(rec_cert_expand(txn, "B1", obj), AP_ESTORE);
    store_abort(txn);
    cJSON_Delete(obj);
}

/* 4. The raw JSON as the previous version's readers know it. */
static void
test_expand(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    struct cert c;
    cJSON *obj;
    cJSON *want;

    make_cert(&c, "E1", LEAF1 CHAIN);
    assert_int_equal(put(f, &c), AP_OK);
    c.chain[0] = '\0';      /* what the previous version wrote */
    assert_int_equal(rec_cert_encode(&c, &want), AP_OK);
    rec_cert_fini(&c);
    obj = raw(f, "E1");
    assert_false(cJSON_Compare(obj, want, true));
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(rec_cert_expand(txn, "E1", obj), AP_OK);
    store_abort(txn);
    assert_true(cJSON_Compare(obj, want, true));
    assert_string_equal(json_str(obj, "pem", ""), LEAF1 CHAIN);
    cJSON_Delete(obj);
    cJSON_Delete(want);
}

/* 5. A real leaf: as DER when that gives the same text back. */
static void
test_real_leaf(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    size_t leaf_len = 0;
    size_t chain_len = 0;
    size_t der_len = 0;
    unsigned char *leaf = load_vector("cert_ec.pem", &leaf_len);
    unsigned char *chain = load_vector("chain.pem", &chain_len);
    unsigned char *der = load_vector("cert_ec.der", &der_len);
    unsigned char *got = NULL;
    size_t got_len = 0;
    char full[8192];
    char crlf[8192];
    size_t o = 0;
    struct cert c;
    cJSON *obj;
    char *pem = NULL;

    assert_true(snprintf(full, sizeof(full), "%s%s", (char *)leaf,
                         (char *)chain) < (int)sizeof(full));
    make_cert(&c, "R1", full);
    assert_int_equal(put(f, &c), AP_OK);
    rec_cert_fini(&c);
    obj = raw(f, "R1");
    assert_false(cJSON_HasObjectItem(obj, "pem"));
    assert_true(cJSON_HasObjectItem(obj, "leaf"));
    assert_true(cJSON_HasObjectItem(obj, "chain"));
    assert_int_equal(rec_cert_leaf_der(obj, &got, &got_len), AP_OK);
    assert_int_equal(got_len, der_len);
    assert_memory_equal(got, der, der_len);
    free(got);
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(rec_cert_expand(txn, "R1", obj), AP_OK);
    store_abort(txn);
    assert_string_equal(json_str(obj, "pem", ""), full);
    assert_false(cJSON_HasObjectItem(obj, "leaf"));
    assert_int_equal(json_num(obj, "v", 0), 1);
    cJSON_Delete(obj);
    assert_int_equal(get_pem(f, "R1", &pem), AP_OK);
    assert_string_equal(pem, full);
    free(pem);

    /* the same leaf with CRLF line ends: its text is kept */
    for (size_t i = 0; leaf[i] != '\0' && o + 2 < sizeof(crlf); i++) {
        if (leaf[i] == '\n') {
            crlf[o++] = '\r';
        }
        crlf[o++] = (char)leaf[i];
    }
    crlf[o] = '\0';
    make_cert(&c, "R2", crlf);
    assert_int_equal(put(f, &c), AP_OK);
    rec_cert_fini(&c);
    obj = raw(f, "R2");
    assert_string_equal(json_str(obj, "pem", ""), crlf);
    assert_false(cJSON_HasObjectItem(obj, "leaf"));
    assert_int_equal(rec_cert_leaf_der(obj, &got, &got_len), AP_OK);
    assert_int_equal(got_len, der_len);
    free(got);
    cJSON_Delete(obj);
    assert_int_equal(get_pem(f, "R2", &pem), AP_OK);
    assert_string_equal(pem, crlf);
    free(pem);
    free(leaf);
    free(chain);
    free(der);
}

/* 6. The stored layout: a leaf in pem_encode's PEM is its DER after the
 * JSON and a NUL ("v" 4, no "id", no "leaf"); rec_cert_parse gives the
 * version 3 JSON back (with the id from the key); values that are
 * neither layout are AP_ESTORE. */
static void
test_der_layout(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    size_t leaf_len = 0;
    size_t chain_len = 0;
    size_t der_len = 0;
    unsigned char *leaf = load_vector("cert_ec.pem", &leaf_len);
    unsigned char *chain = load_vector("chain.pem", &chain_len);
    unsigned char *der = load_vector("cert_ec.der", &der_len);
    char full[8192];
    char *val = NULL;
    size_t len = 0;
    const char *nul;
    cJSON *obj = NULL;
    struct cert c;
    static const char *const bad[] = {
        "{\"v\":4,\"account\":\"a\"}",         /* v 4 without its DER */
        "{\"v\":3,\"account\":\"a\"}\0\x30\x03", /* DER after v 3 */
        "{\"v\":4,\"leaf\":\"MA\"}\0\x30\x03",  /* and a leaf member */
        "{\"v\":4,\"account\":\"a\"}\0",        /* an empty DER */
        "[4]\0\x30\x03",                             /* not an object */
    };
    static const size_t bad_len[] = { 21, 24, 22, 22, 6 };

    assert_true(snprintf(full, sizeof(full), "%s%s", (char *)leaf,
                         (char *)chain) < (int)sizeof(full));
    make_cert(&c, "D1", full);
    assert_int_equal(put(f, &c), AP_OK);
    rec_cert_fini(&c);
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_get(txn, STORE_CERTS, "D1", &val, &len), AP_OK);
    nul = memchr(val, '\0', len);
    assert_non_null(nul);
    assert_int_equal(len - (size_t)(nul - val) - 1, der_len);
    assert_memory_equal(nul + 1, der, der_len);
    obj = cJSON_ParseWithLength(val, (size_t)(nul - val));
    assert_non_null(obj);
    assert_int_equal(json_num(obj, "v", 0), 4);
    assert_false(cJSON_HasObjectItem(obj, "id"));
    assert_false(cJSON_HasObjectItem(obj, "leaf"));
    assert_false(cJSON_HasObjectItem(obj, "pem"));
    cJSON_Delete(obj);
    assert_int_equal(rec_cert_parse("D1", val, len, &obj), AP_OK);
    assert_int_equal(json_num(obj, "v", 0), 3);
    assert_string_equal(json_str(obj, "id", ""), "D1");
    assert_true(cJSON_HasObjectItem(obj, "leaf"));
    cJSON_Delete(obj);
    free(val);
    assert_int_equal(rec_cert_get(txn, "D1", &c), AP_OK);
    assert_string_equal(c.id, "D1");
    assert_string_equal(c.pem, full);
    assert_string_equal(c.serial, "0aD1");
    /* written again (a revocation) it keeps the layout */
    c.status = CERT_REVOKED;
    c.reason = 1;
    c.revoked_at = 1800000200;
    assert_int_equal(rec_cert_put(txn, "D1", &c, false), AP_OK);
    rec_cert_fini(&c);
    assert_int_equal(rec_cert_get(txn, "D1", &c), AP_OK);
    assert_int_equal(c.status, CERT_REVOKED);
    assert_string_equal(c.pem, full);
    rec_cert_fini(&c);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(rec_cert_parse("B", bad[i], bad_len[i], &obj),
                         AP_ESTORE);
        assert_null(obj);
        assert_int_equal(store_put(txn, STORE_CERTS, "B", bad[i],
                                   bad_len[i], false),
                         AP_OK);
        assert_int_equal(rec_cert_get(txn, "B", &c), AP_ESTORE);
    }
    store_abort(txn);
    free(leaf);
    free(chain);
    free(der);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_old_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_leaf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_der_layout, setup, teardown),
    };

    return cmocka_run_group_tests_name("rec_cert", tests, NULL, NULL);
}
