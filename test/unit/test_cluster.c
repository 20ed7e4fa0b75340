/* test/unit/test_cluster.c: proxy/cluster.c, what instances on one store
 * must share.
 *
 * The CA files of a data directory are all there or named missing; the
 * first instance writes its CA's fingerprint, an instance with the same
 * files passes, one with other files is refused naming both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ca.h"
#include "common/crypto.h"
#include "common/store.h"
#include "proxy/cluster.h"

static void
make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/test_cluster.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void
remove_dir(const char *dir)
{
    char path[400];
    struct dirent *e;
    DIR *d = opendir(dir);

    assert_non_null(d);
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            (void)unlink(path);
        }
    }
    closedir(d);
    (void)rmdir(dir);
}

static void
test_ca_files(void **state)
{
    char dir[64];
    char errbuf[512] = "";
    char path[128];
    struct ca *ca = NULL;

    (void)state;
    make_dir(dir, sizeof(dir));
    assert_int_equal(cluster_ca_files(dir, errbuf, sizeof(errbuf)),
                     AP_ENOTFOUND);
    assert_non_null(strstr(errbuf, CA_ROOT_FILE));
    assert_int_equal(ca_open(dir, &ca, errbuf, sizeof(errbuf)), AP_OK);
    ca_free(ca);
    assert_int_equal(cluster_ca_files(dir, errbuf, sizeof(errbuf)), AP_OK);
    /* One key gone: named. */
    snprintf(path, sizeof(path), "%s/%s", dir, CA_INT_KEY_FILE);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cluster_ca_files(dir, errbuf, sizeof(errbuf)),
                     AP_ENOTFOUND);
    assert_non_null(strstr(errbuf, CA_INT_KEY_FILE));
    remove_dir(dir);
}

static void
test_ca_fingerprint(void **state)
{
    char sdir[64];
    char d1[64];
    char d2[64];
    struct store_config sc = { 0 };
    char errbuf[512] = "";
    struct store *st = NULL;
    struct ca *a = NULL;
    struct ca *a2 = NULL;
    struct ca *b = NULL;
    struct store_txn *txn = NULL;
    char *val = NULL;
    size_t len = 0;

    (void)state;
    make_dir(sdir, sizeof(sdir));
    make_dir(d1, sizeof(d1));
    make_dir(d2, sizeof(d2));
    sc.dir = sdir;
    sc.map_size_mb = 16;
    assert_int_equal(store_open(&sc, &st, errbuf, sizeof(errbuf)), AP_OK);
    assert_int_equal(ca_open(d1, &a, errbuf, sizeof(errbuf)), AP_OK);
    assert_int_equal(ca_open(d1, &a2, errbuf, sizeof(errbuf)), AP_OK);
    assert_int_equal(ca_open(d2, &b, errbuf, sizeof(errbuf)), AP_OK);
    /* First instance writes it; the same files pass again. */
    assert_int_equal(cluster_ca_check(st, a, errbuf, sizeof(errbuf)), AP_OK);
    assert_int_equal(store_begin(st, false, &txn), AP_OK);
    assert_int_equal(store_get(txn, STORE_META, CLUSTER_CA_KEY, &val, &len),
                     AP_OK);
    store_abort(txn);
    assert_int_equal(len, 64);
    assert_int_equal(cluster_ca_check(st, a2, errbuf, sizeof(errbuf)),
                     AP_OK);
    /* Another CA: refused, both fingerprints named. */
    errbuf[0] = '\0';
    assert_int_equal(cluster_ca_check(st, b, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_non_null(strstr(errbuf, val));
    free(val);
    ca_free(a);
    ca_free(a2);
    ca_free(b);
    store_close(st);
    remove_dir(sdir);
    remove_dir(d1);
    remove_dir(d2);
}

static int
group_setup(void **state)
{
    (void)state;
    return crypto_init() == AP_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    crypto_fini();
    return 0;
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    add_test(&l, "CA files all there or named", test_ca_files, NULL);
    add_test(&l, "CA fingerprint written once, others refused",
             test_ca_fingerprint, NULL);
    failed = _cmocka_run_group_tests("cluster", l.tests, l.n, group_setup,
                                     group_teardown);
    free(l.tests);
    return failed;
}
