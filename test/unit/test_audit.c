/* test/unit/test_audit.c: proxy/audit.c, the audit outbox and its drain.
 *
 * Every test gets a store and an audit log in a fresh mkdtemp directory.
 * What is checked: lines come out in seq order, gap-free, exactly for the
 * committed transactions (an aborted one leaves neither a line nor a
 * number); a drain that died after writing and before deleting does not
 * write a line twice; a partial last line (a write cut short) is cut
 * off; rotation goes on numbering; a restored (older) store numbers after
 * the file; an event that is too big fails the transaction; the drain
 * thread writes what is committed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"
#include "test/unit/tmpdir.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/json.h"
#include "common/store.h"
#include "proxy/audit.h"

#define MAP_MB 16
#define MAX_LINES 64

struct fixture {
    char dir[64];
    char log[128];
    char lock[128];
    struct store *st;
    struct audit *a;
};


static void
open_audit(struct fixture *f, bool thread)
{
    char errbuf[256] = "";

    assert_int_equal(audit_open(f->st, f->log, f->lock, false, thread, &f->a,
                                errbuf, sizeof(errbuf)),
                     AP_OK);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errbuf[256];

    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/ap-audit-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->log, sizeof(f->log), "%s/audit.log", f->dir);
    snprintf(f->lock, sizeof(f->lock), "%s/audit.lock", f->dir);
    if (store_open(&(struct store_config){ .dir = f->dir,
                                           .map_size_mb = MAP_MB },
                   &f->st, errbuf, sizeof(errbuf)) != AP_OK) {
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

    audit_close(f->a);
    store_close(f->st);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* One event in a transaction of its own; commit or abort it. */
static ap_err
event(struct fixture *f, const char *name, const char *order, bool commit)
{
    struct store_txn *txn = NULL;
    cJSON *fields = cJSON_CreateObject();
    ap_err rc;

    assert_non_null(fields);
    cJSON_AddStringToObject(fields, "order", order);
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    /* The change the event describes, in the same transaction. */
    assert_int_equal(store_put(txn, STORE_ORDERS, order, "{}", 2, false),
                     AP_OK);
    rc = audit_event(f->a, txn, name, "req", fields);
    if (rc == AP_OK && commit) {
        return store_commit(txn);
    }
    store_abort(txn);
    return rc;
}

/* The lines of path as JSON objects (caller deletes each); n gets the
 * count. Fails the test on a line that is not one JSON object. */
static void
read_lines(const char *path, cJSON **docs, size_t *n)
{
    char line[8192];
    FILE *fp = fopen(path, "r");

    *n = 0;
    if (fp == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t len = strlen(line);

        assert_true(len > 0 && line[len - 1] == '\n');
        assert_true(*n < MAX_LINES);
        docs[*n] = cJSON_Parse(line);
        assert_non_null(docs[*n]);
        (*n)++;
    }
    fclose(fp);
}

static void
free_lines(cJSON **docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cJSON_Delete(docs[i]);
    }
}

static size_t
outbox_size(struct fixture *f)
{
    struct store_txn *txn = NULL;
    size_t n = 99;

    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(store_count(txn, STORE_AUDIT, &n), AP_OK);
    store_abort(txn);
    return n;
}

static void
test_order_and_seq(void **state)
{
    struct fixture *f = *state;
    cJSON *docs[MAX_LINES];
    size_t n;

    open_audit(f, false);
    assert_int_equal(event(f, "order.created", "o1\"\n}", true), AP_OK);
    assert_int_equal(event(f, "order.finalized", "o2", true), AP_OK);
    assert_int_equal(event(f, "pki.answer", "o3", true), AP_OK);
    /* Synchronous mode: in the file when the commit returned. */
    read_lines(f->log, docs, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(json_num(docs[i], "seq", 0), (long long)i + 1);
        assert_non_null(json_str(docs[i], "time", NULL));
        assert_string_equal(json_str(docs[i], "request", ""), "req");
    }
    assert_string_equal(json_str(docs[0], "event", ""), "order.created");
    assert_string_equal(json_str(docs[0], "order", ""), "o1\"\n}");
    assert_string_equal(json_str(docs[2], "event", ""), "pki.answer");
    free_lines(docs, n);
    assert_int_equal(outbox_size(f), 0);
}

static void
test_abort_leaves_no_line_no_number(void **state)
{
    struct fixture *f = *state;
    cJSON *docs[MAX_LINES];
    size_t n;

    open_audit(f, false);
    assert_int_equal(event(f, "order.created", "a", true), AP_OK);
    assert_int_equal(event(f, "order.created", "b", false), AP_OK);
    assert_int_equal(event(f, "order.created", "c", true), AP_OK);
    read_lines(f->log, docs, &n);
    assert_int_equal(n, 2);
    assert_string_equal(json_str(docs[0], "order", ""), "a");
    assert_string_equal(json_str(docs[1], "order", ""), "c");
    assert_int_equal(json_num(docs[1], "seq", 0), 2);
    free_lines(docs, n);
}

/* Committed events wait in the outbox (as a crash would leave them). */
static void
commit_unwritten(struct fixture *f, unsigned long long seq, const char *order)
{
    struct store_txn *txn = NULL;
    char key[32];
    char line[256];
    char num[32];

    snprintf(key, sizeof(key), "%020llu", seq);
    snprintf(num, sizeof(num), "%llu", seq);
    snprintf(line, sizeof(line),
             "{\"seq\":%llu,\"time\":\"2030-01-01T00:00:00Z\","
             "\"event\":\"order.created\",\"request\":\"r\",\"order\":\"%s\"}",
             seq, order);
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_put(txn, STORE_AUDIT, key, line, strlen(line),
                               true),
                     AP_OK);
    assert_int_equal(store_put(txn, STORE_META, "audit_seq", num,
                               strlen(num), false),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
}

static void
append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void
test_crash_after_write_not_twice(void **state)
{
    struct fixture *f = *state;
    cJSON *docs[MAX_LINES];
    size_t n;

    open_audit(f, false);
    assert_int_equal(event(f, "order.created", "o1", true), AP_OK);
    audit_close(f->a);
    f->a = NULL;
    /* Seq 2 and 3 committed; 2 was written before the "crash", 3 not. */
    commit_unwritten(f, 2, "o2");
    commit_unwritten(f, 3, "o3");
    append(f->log, "{\"seq\":2,\"time\":\"2030-01-01T00:00:00Z\","
                   "\"event\":\"order.created\",\"request\":\"r\","
                   "\"order\":\"o2\"}\n");
    open_audit(f, false);    /* drains what the last run left */
    read_lines(f->log, docs, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(json_num(docs[i], "seq", 0), (long long)i + 1);
    }
    assert_string_equal(json_str(docs[2], "order", ""), "o3");
    free_lines(docs, n);
    assert_int_equal(outbox_size(f), 0);
    /* Numbering goes on after the last. */
    assert_int_equal(event(f, "order.created", "o4", true), AP_OK);
    read_lines(f->log, docs, &n);
    assert_int_equal(n, 4);
    assert_int_equal(json_num(docs[3], "seq", 0), 4);
    free_lines(docs, n);
}

static void
test_partial_line_cut(void **state)
{
    struct fixture *f = *state;
    cJSON *docs[MAX_LINES];
    size_t n;

    open_audit(f, false);
    assert_int_equal(event(f, "order.created", "o1", true), AP_OK);
    audit_close(f->a);
    f->a = NULL;
    commit_unwritten(f, 2, "o2");
    /* A batch cut short by SIGKILL: half of line 2. */
    append(f->log, "{\"seq\":2,\"time\":\"2030-01-01T0");
    open_audit(f, false);
    read_lines(f->log, docs, &n);
    assert_int_equal(n, 2);
    assert_int_equal(json_num(docs[1], "seq", 0), 2);
    assert_string_equal(json_str(docs[1], "order", ""), "o2");
    free_lines(docs, n);
}

static void
test_rotation_goes_on(void **state)
{
    struct fixture *f = *state;
    char rotated[160];
    cJSON *docs[MAX_LINES];
    size_t n;

    open_audit(f, false);
    assert_int_equal(event(f, "order.created", "o1", true), AP_OK);
    snprintf(rotated, sizeof(rotated), "%s.1", f->log);
    assert_int_equal(rename(f->log, rotated), 0);
    assert_int_equal(audit_reopen(f->a), AP_OK);
    assert_int_equal(event(f, "order.created", "o2", true), AP_OK);
    read_lines(rotated, docs, &n);
    assert_int_equal(n, 1);
    assert_int_equal(json_num(docs[0], "seq", 0), 1);
    free_lines(docs, n);
    read_lines(f->log, docs, &n);
    assert_int_equal(n, 1);
    assert_int_equal(json_num(docs[0], "seq", 0), 2);
    free_lines(docs, n);
}

static void
test_restored_store_numbers_after_file(void **state)
{
    struct fixture *f = *state;
    cJSON *docs[MAX_LINES];
    size_t n;

    /* The file ends at 7; the (restored) store knows nothing. */
    append(f->log, "{\"seq\":7,\"time\":\"2030-01-01T00:00:00Z\","
                   "\"event\":\"x\",\"request\":\"r\"}\n");
    open_audit(f, false);
    assert_int_equal(event(f, "order.created", "o8", true), AP_OK);
    read_lines(f->log, docs, &n);
    assert_int_equal(n, 2);
    assert_int_equal(json_num(docs[1], "seq", 0), 8);
    free_lines(docs, n);
}

static void
test_too_big_fails_txn(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    cJSON *fields = cJSON_CreateObject();
    char *big = malloc(AUDIT_MAX_LINE + 10);
    cJSON *docs[MAX_LINES];
    size_t n;

    open_audit(f, false);
    assert_non_null(big);
    memset(big, 'x', AUDIT_MAX_LINE + 9);
    big[AUDIT_MAX_LINE + 9] = '\0';
    cJSON_AddStringToObject(fields, "evidence", big);
    free(big);
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(audit_event(f->a, txn, "validation", "r", fields),
                     AP_ETOOBIG);
    store_abort(txn);
    read_lines(f->log, docs, &n);
    assert_int_equal(n, 0);
}

static void
test_thread_drains(void **state)
{
    struct fixture *f = *state;
    cJSON *docs[MAX_LINES];
    size_t n = 0;

    open_audit(f, true);
    for (int i = 0; i < 20; i++) {
        char order[16];

        snprintf(order, sizeof(order), "o%d", i);
        assert_int_equal(event(f, "order.created", order, true), AP_OK);
    }
    /* The thread writes soon after the commits; flush waits for it. */
    assert_int_equal(audit_flush(f->a), AP_OK);
    read_lines(f->log, docs, &n);
    assert_int_equal(n, 20);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(json_num(docs[i], "seq", 0), (long long)i + 1);
    }
    free_lines(docs, n);
    assert_int_equal(outbox_size(f), 0);
}

/* Two instances drain one outbox, each into its own file, while events
 * are committed: every event is in exactly one of the two files. */
struct flusher {
    struct audit *a;
    volatile bool *done;
};

static void *
flush_loop(void *arg)
{
    struct flusher *fl = arg;

    for (int i = 0; i < 2000 && !*fl->done; i++) {
        ap_err rc = audit_flush(fl->a);

        assert_true(rc == AP_OK);
    }
    return NULL;
}

static void
test_shared_two_drainers(void **state)
{
    struct fixture *f = *state;
    struct audit *b = NULL;
    char log_b[160];
    char lock_b[160];
    char errbuf[256] = "";
    cJSON *docs_a[MAX_LINES];
    cJSON *docs_b[MAX_LINES];
    size_t na = 0;
    size_t nb = 0;
    bool seen[MAX_LINES + 1] = { false };
    volatile bool done = false;
    struct flusher fa;
    struct flusher fb;
    pthread_t ta;
    pthread_t tb;
    enum { N_EVENTS = 60 };

    snprintf(log_b, sizeof(log_b), "%s/audit-b.log", f->dir);
    snprintf(lock_b, sizeof(lock_b), "%s/audit-b.lock", f->dir);
    open_audit(f, false);
    assert_int_equal(audit_open(f->st, log_b, lock_b, false, false, &b,
                                errbuf, sizeof(errbuf)),
                     AP_OK);
    audit_set_shared(f->a);
    audit_set_shared(b);
    fa = (struct flusher){ f->a, &done };
    fb = (struct flusher){ b, &done };
    assert_int_equal(pthread_create(&ta, NULL, flush_loop, &fa), 0);
    assert_int_equal(pthread_create(&tb, NULL, flush_loop, &fb), 0);
    for (int i = 0; i < N_EVENTS; i++) {
        char order[16];

        snprintf(order, sizeof(order), "o%d", i);
        assert_int_equal(event(f, "order.created", order, true), AP_OK);
    }
    done = true;
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(audit_flush(f->a), AP_OK);
    assert_int_equal(audit_flush(b), AP_OK);
    audit_close(b);
    read_lines(f->log, docs_a, &na);
    read_lines(log_b, docs_b, &nb);
    assert_int_equal(na + nb, N_EVENTS);
    for (size_t i = 0; i < na + nb; i++) {
        long long seq = json_num(i < na ? docs_a[i] : docs_b[i - na], "seq",
                                 0);

        assert_true(seq >= 1 && seq <= N_EVENTS);
        assert_false(seen[seq]);
        seen[seq] = true;
    }
    free_lines(docs_a, na);
    free_lines(docs_b, nb);
    assert_int_equal(outbox_size(f), 0);
}

static void
test_no_audit_and_bad_path(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    struct audit *a = NULL;
    char errbuf[256] = "";

    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(audit_event(NULL, txn, "x", "y", cJSON_CreateObject()),
                     AP_OK);
    store_abort(txn);
    assert_int_equal(audit_open(f->st, "/nonexistent/dir/audit.log", f->lock,
                                false, false, &a, errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    assert_non_null(strstr(errbuf, "/nonexistent/dir/audit.log"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_no_line_no_number,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_after_write_not_twice,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_line_cut, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotation_goes_on, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_restored_store_numbers_after_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big_fails_txn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_thread_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_audit_and_bad_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shared_two_drainers, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
