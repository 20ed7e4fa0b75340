/* test/unit/test_issue_record.c: what issue_record stores when the PKI
 * issued (proxy/issue_record.c, issue 18): the order valid without its CSR
 * and csrSpki (nothing reads them after issuance), the certificate record
 * with the leaf and a reference to the chain, the chain once in
 * STORE_META however many certificates it issued, and rec_cert_get giving
 * back leaf then chain byte for byte. A run of the job again (the order is
 * valid) changes nothing. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/store.h"
#include "proxy/app.h"
#include "proxy/issue_record.h"
#include "proxy/jobs.h"
#include "proxy/rec_cert.h"
#include "proxy/rec_order.h"
#include "test/unit/vector_file.h"
#include "test/unit/tmpdir.h"

static const struct adapter_ops fake_adapter = {
    .name = "local",
};

struct fixture {
    char dir[64];
    struct config cfg;
    struct store *st;
    struct app app;
};


static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errbuf[200];

    if (f == NULL) {
        return -1;
    }
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_issue_record.XXXXXX");
    if (mkdtemp(f->dir) == NULL ||
        store_open(&(struct store_config){ .dir = f->dir, .map_size_mb = 8 },
                   &f->st, errbuf, sizeof(errbuf)) != AP_OK) {
        free(f);
        return -1;
    }
    f->cfg.server.data_dir = f->dir;
    f->app.cfg = &f->cfg;
    f->app.st = f->st;
    f->app.adapter = &fake_adapter;
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

/* A processing order id (finalized: csr, csrSpki) and its issuance job,
 * whose id goes to job_id. */
static void
put_processing(struct fixture *f, const char *id, char *job_id, size_t len)
{
    struct store_txn *txn = NULL;
    struct order o;
    struct rec_ident ident = { "dns", "a.example", NULL };

    memset(&o, 0, sizeof(o));
    (void)snprintf(o.id, sizeof(o.id), "%s", id);
    (void)snprintf(o.account, sizeof(o.account), "acct1");
    o.status = ORDER_PROCESSING;
    o.created = 1800000000;
    o.expires = 1800604800;
    assert_int_equal(rec_order_add_ident(&o, &ident), AP_OK);
    assert_int_equal(rec_order_add_authz(&o, "az1"), AP_OK);
    assert_int_equal(rec_set_str(&o.csr, "MIIBGTCBwQIBADAm"), AP_OK);
    assert_int_equal(rec_set_str(&o.csr_spki, "MFkwEwYHKoZIzj0C"), AP_OK);
    o.pki_started = 1800000100;
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(rec_order_put(txn, id, &o, true), AP_OK);
    assert_int_equal(jobs_put(txn, JOB_ISSUE, id, 0, 0, job_id, len), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
    rec_order_fini(&o);
}

/* Records that the PKI issued leaf (with chain) for order id: what
 * issue_record returns. */
static ap_err
issued(struct fixture *f, const char *id, const char *job_id, char *leaf,
       char *chain, const char *serial)
{
    struct adapter_result res;
    struct issue_input in;
    struct outcome o;
    struct job job;

    memset(&res, 0, sizeof(res));
    memset(&in, 0, sizeof(in));
    memset(&o, 0, sizeof(o));
    memset(&job, 0, sizeof(job));
    res.cert_pem = leaf;
    res.chain_pem = chain;
    o.kind = OUT_ISSUED;
    o.res = &res;
    o.serial = serial;
    o.not_after = 1807776000;
    (void)snprintf(job.id, sizeof(job.id), "%s", job_id);
    job.kind = JOB_ISSUE;
    job.target = id;
    return issue_record(&f->app, &job, &in, &o);
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

static void
test_issued(void **state)
{
    struct fixture *f = *state;
    size_t n = 0;
    char *leaf = (char *)load_vector("cert_ec.pem", &n);
    char *chain = (char *)load_vector("chain.pem", &n);
    char full[8192];
    char job1[JOB_MAX_ID];
    char job2[JOB_MAX_ID];
    struct store_txn *txn = NULL;
    struct order o;
    struct cert c;
    cJSON *raw = NULL;
    int chains = 0;

    assert_true(snprintf(full, sizeof(full), "%s%s", leaf, chain) <
                (int)sizeof(full));
    put_processing(f, "ORD1", job1, sizeof(job1));
    put_processing(f, "ORD2", job2, sizeof(job2));
    assert_int_equal(issued(f, "ORD1", job1, leaf, chain, "0a01"), AP_OK);
    assert_int_equal(issued(f, "ORD2", job2, leaf, chain, "0a02"), AP_OK);
    /* the job again (its record gone with the outcome): the order is
     * valid, it ends without storing anything */
    assert_int_equal(issued(f, "ORD1", job1, leaf, chain, "0a03"), AP_OK);

    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(rec_order_get(txn, "ORD1", &o), AP_OK);
    assert_int_equal(o.status, ORDER_VALID);
    assert_null(o.csr);
    assert_null(o.csr_spki);
    assert_int_equal(o.n_idents, 1);
    assert_true(o.cert[0] != '\0');
    assert_int_equal(rec_cert_get(txn, o.cert, &c), AP_OK);
    assert_string_equal(c.pem, full);
    assert_string_equal(c.serial, "0a01");
    assert_int_equal(rec_cert_get_json(txn, o.cert, &raw), AP_OK);
    assert_int_equal(json_num(raw, "v", 0), 3);
    assert_false(cJSON_HasObjectItem(raw, "pem"));
    assert_true(cJSON_HasObjectItem(raw, "leaf"));
    assert_int_equal(strlen(json_str(raw, "chain", "")), REC_CERT_CHAIN_REF);
    assert_int_equal(store_scan(txn, STORE_META, REC_CERT_CHAIN_PREFIX, NULL,
                                count_one, &chains),
                     AP_OK);
    assert_int_equal(chains, 1);
    assert_int_equal(store_get(txn, STORE_SERIALS, "0a03", NULL, NULL),
                     AP_ENOTFOUND);
    store_abort(txn);
    cJSON_Delete(raw);
    rec_cert_fini(&c);
    rec_order_fini(&o);
    free(leaf);
    free(chain);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issued, setup, teardown),
    };

    if (crypto_init() != AP_OK) {      /* certificate ids are random */
        return 1;
    }
    return cmocka_run_group_tests_name("issue_record", tests, NULL, NULL);
}
