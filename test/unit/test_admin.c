/* test/unit/test_admin.c: proxy/admin.c, the admin subcommands.
 *
 * Parsing is table-driven (good rows, and a longer table of bad rows that
 * must be usage errors); so are serial normalisation, revocation reasons
 * and list splitting. Formatting and the commands run against a store in
 * a fresh mkdtemp directory seeded with records shaped as account.c,
 * order.c, challenge.c and issuer.c wrote them (now the codecs of
 * proxy/rec_*.c, which write the same JSON); output is captured with
 * open_memstream. Revocation goes through a stand-in adapter that counts
 * its calls and can refuse. The admin API's routes (proxy/adminapi.c) run
 * against the same store: statuses, bodies, filters (the overdue one on
 * a certificate made here whose renewal window has passed), and answers
 * equal to the CLI's --json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/admin.h"
#include "proxy/adminapi.h"
#include "proxy/eab.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define MAP_MB 16
#define MAX_ARGS 16

/* ---- parsing ------------------------------------------------------- */

struct parse_row {
    const char *argv[MAX_ARGS];  /* NULL-terminated */
    enum admin_op op;
    bool json;
    const char *arg;             /* expected cmd.arg */
    bool needs_pki;
};

static const struct parse_row parse_good[] = {
    { { "eab", "add", "--label", "team-a", NULL }, ADMIN_EAB_ADD, false,
      NULL, false },
    { { "eab", "add", "--label=team a", "--profiles", "p1,p2",
        "--allow-names", ".a.test,b.test", "--allow-ips", "10.0.0.0/8",
        "--max-validity", "30", "--json", NULL },
      ADMIN_EAB_ADD, true, NULL, false },
    { { "--json", "eab", "list", NULL }, ADMIN_EAB_LIST, true, NULL, false },
    { { "eab", "revoke", "j0BMqYBJioXhpUy-KUOj5g", NULL }, ADMIN_EAB_REVOKE,
      false, "j0BMqYBJioXhpUy-KUOj5g", false },
    { { "accounts", "list", NULL }, ADMIN_ACCOUNTS_LIST, false, NULL,
      false },
    { { "accounts", "show", "A1", "--json", NULL }, ADMIN_ACCOUNTS_SHOW,
      true, "A1", false },
    { { "accounts", "deactivate", "A_2-x", NULL },
      ADMIN_ACCOUNTS_DEACTIVATE, false, "A_2-x", false },
    /* base64url ids may start with '-': an argument, not an option. */
    { { "accounts", "show", "-vt572aJdWVXplXs1tdjDw", NULL },
      ADMIN_ACCOUNTS_SHOW, false, "-vt572aJdWVXplXs1tdjDw", false },
    { { "orders", "show", "--json", "--", "-O1", NULL }, ADMIN_ORDERS_SHOW,
      true, "-O1", false },
    { { "orders", "list", "--account", "A1", NULL }, ADMIN_ORDERS_LIST,
      false, NULL, false },
    { { "orders", "show", "O1", NULL }, ADMIN_ORDERS_SHOW, false, "O1",
      false },
    { { "certs", "list", "--expiring=30", NULL }, ADMIN_CERTS_LIST, false,
      NULL, false },
    { { "certs", "show", "0a:1b", NULL }, ADMIN_CERTS_SHOW, false, "0a:1b",
      false },
    { { "revoke", "0A1B", "--reason", "keyCompromise", NULL }, ADMIN_REVOKE,
      false, "0A1B", true },
    { { "revoke", "--json", "ff", NULL }, ADMIN_REVOKE, true, "ff", true },
    { { "backup", "/tmp/acmeproxy.backup", NULL }, ADMIN_BACKUP, false,
      "/tmp/acmeproxy.backup", false },
};

static const char *const parse_bad[][MAX_ARGS] = {
    { NULL },                                          /* no command */
    { "--json", NULL },
    { "bogus", NULL },
    { "eab", NULL },
    { "eab", "frob", NULL },
    { "eab", "add", NULL },                            /* no --label */
    { "eab", "add", "--label", NULL },                 /* no value */
    { "eab", "add", "--label", "--json", NULL },
    { "eab", "add", "--label=", NULL },
    { "eab", "add", "--label", "a\tb", NULL },
    { "eab", "add", "--label", "a", "--label", "b", NULL },
    { "eab", "add", "--label", "a", "--max-validity", "0", NULL },
    { "eab", "add", "--label", "a", "--max-validity", "3651", NULL },
    { "eab", "add", "--label", "a", "--max-validity", "12x", NULL },
    { "eab", "add", "--label", "a", "--max-validity", "-5", NULL },
    { "eab", "add", "--label", "a", "--profiles", ",", NULL },
    { "eab", "add", "--label", "a", "--allow-names", "a,,b", NULL },
    { "eab", "add", "--label", "a", "--allow-ips", "", NULL },
    { "eab", "add", "--label", "a", "--bogus", "1", NULL },
    { "eab", "add", "--label", "a", "extra", NULL },
    { "eab", "list", "extra", NULL },
    { "eab", "revoke", NULL },
    { "eab", "revoke", "bad/kid", NULL },
    { "accounts", NULL },
    { "accounts", "show", NULL },
    { "accounts", "show", "a", "b", NULL },
    { "accounts", "show", "--", NULL },
    { "accounts", "show", "--bogus", NULL },
    { "accounts", "list", "-v", NULL },
    { "orders", "list", "--account", "bad!id", NULL },
    { "orders", "list", "--expiring", "3", NULL },
    { "certs", "list", "--expiring", "-1", NULL },
    { "certs", "list", "--expiring", "36501", NULL },
    { "certs", "show", "zz!", NULL },
    { "revoke", NULL },
    { "revoke", "nothex", NULL },
    { "revoke", "0a", "--reason", "7", NULL },
    { "revoke", "0a", "--reason", "11", NULL },
    { "revoke", "0a", "--reason", "sideways", NULL },
    { "revoke", "00112233445566778899aabbccddeeff0011223344", NULL },
    { "revoke", "0a", "0b", NULL },
    { "backup", NULL },
    { "backup", "", NULL },
    { "backup", "a", "b", NULL },
};

static int
count_args(const char *const *argv)
{
    int n = 0;

    while (argv[n] != NULL) {
        n++;
    }
    return n;
}

static void
test_parse_good(void **state)
{
    const struct parse_row *row = *state;
    struct admin_cmd cmd;
    char errbuf[200] = "";

    assert_int_equal(admin_parse(count_args(row->argv),
                                 (char *const *)(uintptr_t)row->argv, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(cmd.op, row->op);
    assert_int_equal(cmd.json, row->json);
    assert_int_equal(cmd.needs_pki, row->needs_pki);
    if (row->arg == NULL) {
        assert_null(cmd.arg);
    } else {
        assert_string_equal(cmd.arg, row->arg);
    }
}

static void
test_parse_bad(void **state)
{
    const char *const *argv = *state;
    struct admin_cmd cmd;
    char errbuf[200] = "";

    assert_int_equal(admin_parse(count_args(argv),
                                 (char *const *)(uintptr_t)argv, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    /* Every usage error says why. */
    assert_true(errbuf[0] != '\0');
}

/* The option values land in their fields. */
static void
test_parse_values(void **state)
{
    const char *argv[] = { "eab", "add", "--label", "team-a", "--profiles",
                           "p1,p2", "--allow-names", ".a.test",
                           "--allow-ips", "10.0.0.0/8", "--max-validity",
                           "30", "--default-profile", "p2",
                           "--preauthorized", ".db.a.test,h.a.test", NULL };
    const char *argv2[] = { "revoke", "0a", "--reason=superseded", NULL };
    const char *argv3[] = { "certs", "list", NULL };
    const char *argv4[] = { "orders", "list", "--account", "A1", NULL };
    struct admin_cmd cmd;
    char errbuf[200];

    (void)state;
    assert_int_equal(admin_parse(16, (char *const *)(uintptr_t)argv, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_string_equal(cmd.label, "team-a");
    assert_string_equal(cmd.profiles, "p1,p2");
    assert_string_equal(cmd.allow_names, ".a.test");
    assert_string_equal(cmd.allow_ips, "10.0.0.0/8");
    assert_int_equal(cmd.max_validity_days, 30);
    assert_string_equal(cmd.default_profile, "p2");
    assert_string_equal(cmd.preauthorized, ".db.a.test,h.a.test");
    assert_int_equal(admin_parse(3, (char *const *)(uintptr_t)argv2, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(cmd.reason, 4);
    assert_int_equal(admin_parse(2, (char *const *)(uintptr_t)argv3, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(cmd.expiring_days, -1);
    assert_int_equal(cmd.reason, 0);
    assert_int_equal(admin_parse(4, (char *const *)(uintptr_t)argv4, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_string_equal(cmd.account, "A1");
}

/* ---- serials, reasons, lists ----------------------------------------- */

struct str_row {
    const char *in;
    const char *want;   /* NULL: must be refused */
};

static const struct str_row serial_rows[] = {
    { "0a1b", "0a1b" },
    { "0A1B", "0a1b" },
    { "a1b", "0a1b" },
    { "00:a1:b2", "a1b2" },
    { "0000ff", "ff" },
    { "00", "00" },
    { "0", "00" },
    { "DE:AD:BE:EF", "deadbeef" },
    { "00112233445566778899aabbccddeeff00112233",
      "112233445566778899aabbccddeeff00112233" },
    /* bad */
    { "", NULL },
    { "g1", NULL },
    { "0a::1b", NULL },
    { ":0a", NULL },
    { "0a:", NULL },
    { "0a 1b", NULL },
    { "-1", NULL },
    { "0x1f", NULL },
    { "00112233445566778899aabbccddeeff001122334", NULL },
};

static void
test_serial(void **state)
{
    const struct str_row *row = *state;
    char out[ADMIN_MAX_SERIAL + 1];

    if (row->want == NULL) {
        assert_int_equal(admin_serial_normalize(row->in, out, sizeof(out)),
                         AP_EINVAL);
        return;
    }
    assert_int_equal(admin_serial_normalize(row->in, out, sizeof(out)),
                     AP_OK);
    assert_string_equal(out, row->want);
}

struct reason_row {
    const char *in;
    int want;
};

static const struct reason_row reason_rows[] = {
    { "0", 0 },
    { "1", 1 },
    { "10", 10 },
    { "keyCompromise", 1 },
    { "KEYCOMPROMISE", 1 },
    { "superseded", 4 },
    { "aACompromise", 10 },
    /* bad */
    { "7", -1 },
    { "11", -1 },
    { "-1", -1 },
    { "", -1 },
    { "1x", -1 },
    { "none", -1 },
    { "99999999999999999999", -1 },
};

static void
test_reason(void **state)
{
    const struct reason_row *row = *state;

    assert_int_equal(admin_reason_parse(row->in), row->want);
    if (row->want >= 0) {
        assert_int_equal(admin_reason_parse(admin_reason_name(row->want)),
                         row->want);
    }
}

static const struct str_row list_rows[] = {
    { "a", "[\"a\"]" },
    { "a,b", "[\"a\",\"b\"]" },
    { " .a.test , b.test ", "[\".a.test\",\"b.test\"]" },
    { "10.0.0.0/8,::1/128", "[\"10.0.0.0/8\",\"::1/128\"]" },
    /* bad */
    { "", NULL },
    { ",", NULL },
    { "a,", NULL },
    { ",a", NULL },
    { "a,,b", NULL },
    { "a, ,b", NULL },
    { "a\tb", NULL },
    { "a\nb", NULL },
};

static void
test_split_list(void **state)
{
    const struct str_row *row = *state;
    cJSON *arr = NULL;
    char *text;

    if (row->want == NULL) {
        assert_int_equal(admin_split_list(row->in, &arr), AP_EINVAL);
        assert_null(arr);
        return;
    }
    assert_int_equal(admin_split_list(row->in, &arr), AP_OK);
    text = cJSON_PrintUnformatted(arr);
    assert_string_equal(text, row->want);
    cJSON_free(text);
    cJSON_Delete(arr);
}

static void
test_split_list_cap(void **state)
{
    char s[ADMIN_MAX_LIST * 2 + 8];
    cJSON *arr = NULL;
    size_t n = 0;

    (void)state;
    for (int i = 0; i < ADMIN_MAX_LIST; i++) {
        n += (size_t)snprintf(s + n, sizeof(s) - n, "%sx", i ? "," : "");
    }
    assert_int_equal(admin_split_list(s, &arr), AP_OK);
    assert_int_equal(cJSON_GetArraySize(arr), ADMIN_MAX_LIST);
    cJSON_Delete(arr);
    snprintf(s + n, sizeof(s) - n, ",x");
    assert_int_equal(admin_split_list(s, &arr), AP_EINVAL);
}

/* ---- tables ---------------------------------------------------------- */

static char *
capture_table(struct admin_table *t)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    admin_table_print(t, f);
    fclose(f);
    return text;
}

static void
test_table_aligned(void **state)
{
    static const char *const hdr[] = { "ID", "STATUS", "NAMES" };
    static const char *const r1[] = { "abcdef", "valid", "a.test" };
    static const char *const r2[] = { "x", NULL, "" };
    struct admin_table *t = admin_table_new(3, hdr);
    char *text;

    (void)state;
    assert_non_null(t);
    assert_int_equal(admin_table_add(t, r1), AP_OK);
    assert_int_equal(admin_table_add(t, r2), AP_OK);
    text = capture_table(t);
    assert_string_equal(text, "ID      STATUS  NAMES\n"
                              "abcdef  valid   a.test\n"
                              "x       -       -\n");
    free(text);
    admin_table_free(t);
}

static void
test_table_cleans_cells(void **state)
{
    static const char *const hdr[] = { "A", "B" };
    static const char *const r1[] = { "a\x1b[31mb", "\xc3\xa9\n" };
    struct admin_table *t = admin_table_new(2, hdr);
    char *text;

    (void)state;
    assert_non_null(t);
    assert_int_equal(admin_table_add(t, r1), AP_OK);
    text = capture_table(t);
    /* No escape sequence, no line break from a cell reaches the terminal. */
    assert_string_equal(text, "A        B\n"
                              "a?[31mb  ???\n");
    free(text);
    admin_table_free(t);
    assert_null(admin_table_new(0, hdr));
    admin_table_free(NULL);
}

/* ---- commands against a seeded store --------------------------------- */

static int revoke_calls;
static int revoke_reason;
static ap_err revoke_answer;

static ap_err
fake_revoke(void *state, const char *cert_pem, int reason, char *errbuf,
            size_t errlen)
{
    (void)state;
    (void)cert_pem;
    revoke_calls++;
    revoke_reason = reason;
    if (revoke_answer != AP_OK) {
        snprintf(errbuf, errlen, "the PKI said no");
    }
    return revoke_answer;
}

static const struct adapter_ops fake_adapter = {
    .name = "fake",
    .revoke = fake_revoke,
};

struct fixture {
    char dir[64];
    char data_dir[80];
    struct config cfg;
    struct store *st;
    struct app app;
    char *out;
    char *err;
    const void *row;    /* the table row of a test, if any */
};

static void
dir_remove(const char *dir)
{
    char path[256];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL) {
        return;
    }
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
            (int)sizeof(path)) {
            (void)unlink(path);
        }
    }
    closedir(d);
    (void)rmdir(dir);
}

static void
put(struct store_txn *txn, enum store_table t, const char *key,
    const char *json)
{
    cJSON *obj = NULL;

    if (json[0] == '\0') {
        assert_int_equal(store_put(txn, t, key, "", 0, false), AP_OK);
        return;
    }
    if (json[0] != '{') {
        assert_int_equal(store_put(txn, t, key, json, strlen(json), false),
                         AP_OK);
        return;
    }
    assert_int_equal(json_parse(json, strlen(json), &obj), AP_OK);
    assert_int_equal(store_put_json(txn, t, key, obj, false), AP_OK);
    cJSON_Delete(obj);
}

/* Two accounts (A1 bound to EAB key K1 of team-a), two orders, three
 * certificates: C1 ends in 10 days, C2 in 60, C3 is revoked. */
static void
seed(struct store *st)
{
    struct store_txn *txn = NULL;
    long long now = time_now();
    char buf[2048];

    assert_int_equal(store_begin(st, true, &txn), AP_OK);
    put(txn, STORE_EAB, "K1",
        "{\"v\":1,\"kid\":\"K1\",\"label\":\"team-a\",\"hmac\":\"SECRETSECRET"
        "\",\"created\":1000,\"revoked\":0,\"accounts\":[\"A1\"],"
        "\"allow_names\":[\".a.test\"]}");
    put(txn, STORE_ACCOUNTS, "A1",
        "{\"v\":1,\"id\":\"A1\",\"status\":\"valid\",\"jwk\":{\"kty\":\"EC\","
        "\"crv\":\"P-256\",\"x\":\"x\",\"y\":\"y\"},\"thumbprint\":\"T1\","
        "\"contact\":[\"mailto:a@a.test\"],\"tos\":true,\"created\":2000,"
        "\"ip\":\"127.0.0.1\",\"eab\":\"K1\",\"team\":\"team-a\"}");
    put(txn, STORE_ACCOUNTS, "A2",
        "{\"v\":1,\"id\":\"A2\",\"status\":\"valid\",\"jwk\":{\"kty\":\"RSA\","
        "\"n\":\"nnnn\",\"e\":\"AQAB\"},\"thumbprint\":\"T2\",\"contact\":[],"
        "\"tos\":false,\"created\":1500,\"ip\":\"::1\"}");
    snprintf(buf, sizeof(buf),
             "{\"v\":1,\"id\":\"O1\",\"account\":\"A1\",\"status\":\"valid\","
             "\"created\":3000,\"expires\":%lld,\"notBefore\":0,"
             "\"notAfter\":0,\"identifiers\":[{\"type\":\"dns\",\"value\":"
             "\"a.test\"},{\"type\":\"dns\",\"value\":\"www.a.test\"}],"
             "\"authzs\":[\"Z1\"],\"cert\":\"C1\"}",
             now + 86400);
    put(txn, STORE_ORDERS, "O1", buf);
    snprintf(buf, sizeof(buf),
             "{\"v\":1,\"id\":\"O2\",\"account\":\"A2\",\"status\":"
             "\"pending\",\"created\":2500,\"expires\":%lld,\"identifiers\":"
             "[{\"type\":\"dns\",\"value\":\"b.test\"}],\"authzs\":[]}",
             now + 86400);
    put(txn, STORE_ORDERS, "O2", buf);
    put(txn, STORE_ACCOUNT_ORDERS, "A1/3000/O1", "");
    put(txn, STORE_ACCOUNT_ORDERS, "A2/2500/O2", "");
    snprintf(buf, sizeof(buf),
             "{\"v\":1,\"id\":\"Z1\",\"account\":\"A1\",\"order\":\"O1\","
             "\"status\":\"valid\",\"expires\":%lld,\"identifier\":{\"type\":"
             "\"dns\",\"value\":\"a.test\"},\"challenges\":[{\"type\":"
             "\"http-01\",\"status\":\"valid\",\"token\":\"tok\","
             "\"validated\":3100,\"address\":\"127.0.0.1\"}]}",
             now + 86400);
    put(txn, STORE_AUTHZS, "Z1", buf);
    snprintf(buf, sizeof(buf),
             "{\"v\":1,\"id\":\"C1\",\"account\":\"A1\",\"order\":\"O1\","
             "\"serial\":\"0a1b\",\"status\":\"valid\",\"notAfter\":%lld,"
             "\"issued\":3200,\"adapter\":\"local\",\"pem\":\"-----BEGIN "
             "CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n\"}",
             now + 10 * 86400);
    put(txn, STORE_CERTS, "C1", buf);
    snprintf(buf, sizeof(buf),
             "{\"v\":1,\"id\":\"C2\",\"account\":\"A2\",\"order\":\"O2\","
             "\"serial\":\"ff\",\"status\":\"valid\",\"notAfter\":%lld,"
             "\"issued\":3300,\"adapter\":\"local\",\"pem\":\"x\"}",
             now + 60 * 86400);
    put(txn, STORE_CERTS, "C2", buf);
    snprintf(buf, sizeof(buf),
             "{\"v\":1,\"id\":\"C3\",\"account\":\"A1\",\"order\":\"O1\","
             "\"serial\":\"0c\",\"status\":\"revoked\",\"reason\":1,"
             "\"revokedAt\":3400,\"notAfter\":%lld,\"issued\":3000,"
             "\"adapter\":\"local\",\"pem\":\"x\"}",
             now + 5 * 86400);
    put(txn, STORE_CERTS, "C3", buf);
    put(txn, STORE_SERIALS, "0a1b", "C1");
    put(txn, STORE_SERIALS, "ff", "C2");
    put(txn, STORE_SERIALS, "0c", "C3");
    assert_int_equal(store_commit(txn), AP_OK);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errbuf[200];

    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_admin.XXXXXX");
    if (mkdtemp(f->dir) == NULL ||
        store_open(&(struct store_config){ .dir = f->dir,
                                           .map_size_mb = MAP_MB },
                   &f->st, errbuf, sizeof(errbuf)) !=
            AP_OK) {
        free(f);
        return -1;
    }
    snprintf(f->data_dir, sizeof(f->data_dir), "%s", f->dir);
    f->cfg.server.data_dir = f->data_dir;
    f->app.cfg = &f->cfg;
    f->app.st = f->st;
    f->app.adapter = &fake_adapter;
    seed(f->st);
    revoke_calls = 0;
    revoke_reason = -1;
    revoke_answer = AP_OK;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->st);
    dir_remove(f->dir);
    free(f->out);
    free(f->err);
    free(f);
    return 0;
}

/* Parses and runs a command line; f->out and f->err get what it printed. */
static int
run(struct fixture *f, const char *const *argv)
{
    struct admin_cmd cmd;
    char errbuf[200];
    size_t olen = 0;
    size_t elen = 0;
    FILE *out;
    FILE *err;
    int status;

    free(f->out);
    free(f->err);
    f->out = NULL;
    f->err = NULL;
    assert_int_equal(admin_parse(count_args(argv),
                                 (char *const *)(uintptr_t)argv, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_OK);
    out = open_memstream(&f->out, &olen);
    err = open_memstream(&f->err, &elen);
    assert_non_null(out);
    assert_non_null(err);
    status = admin_run(&f->app, &cmd, out, err);
    fclose(out);
    fclose(err);
    return status;
}

static cJSON *
run_json(struct fixture *f, const char *const *argv)
{
    cJSON *doc = NULL;

    assert_int_equal(run(f, argv), ADMIN_EXIT_OK);
    assert_int_equal(json_parse(f->out, strlen(f->out), &doc), AP_OK);
    return doc;
}

/* Column of the first occurrence of word in line n (0-based) of text. */
static long
column_of(const char *text, int n, const char *word)
{
    const char *line = text;
    const char *end;
    const char *hit;

    for (int i = 0; i < n && line != NULL; i++) {
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    assert_non_null(line);
    end = strchr(line, '\n');
    hit = strstr(line, word);
    assert_non_null(hit);
    assert_true(end == NULL || hit < end);
    return hit - line;
}

static void
test_accounts_list(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { "accounts", "list", NULL };
    const char *argj[] = { "accounts", "list", "--json", NULL };
    cJSON *doc;
    cJSON *first;

    assert_int_equal(run(f, argv), ADMIN_EXIT_OK);
    /* Oldest first: A2 (1500) then A1 (2000); STATUS column aligned. */
    assert_int_equal(column_of(f->out, 0, "STATUS"),
                     column_of(f->out, 1, "valid"));
    assert_int_equal(column_of(f->out, 0, "EAB"),
                     column_of(f->out, 2, "team-a (K1)"));
    assert_non_null(strstr(f->out, "mailto:a@a.test"));
    assert_true(strstr(f->out, "A2") < strstr(f->out, "A1"));
    doc = run_json(f, argj);
    assert_int_equal(cJSON_GetArraySize(doc), 2);
    first = cJSON_GetArrayItem(doc, 1);
    assert_string_equal(json_str(first, "id", ""), "A1");
    assert_string_equal(json_str(first, "created", ""),
                        "1970-01-01T00:33:20Z");
    assert_string_equal(
        json_str(cJSON_GetObjectItem(first, "eab"), "label", ""), "team-a");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 0),
                                                 "eab")));
    cJSON_Delete(doc);
}

static void
test_accounts_show(void **state)
{
    struct fixture *f = *state;
    const char *argj[] = { "accounts", "show", "A1", "--json", NULL };
    const char *argv[] = { "accounts", "show", "A2", NULL };
    const char *bad[] = { "accounts", "show", "NOPE", NULL };
    cJSON *doc;

    doc = run_json(f, argj);
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "orders"), 0)
            ->valuestring,
        "O1");
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "certificates"), 0)
            ->valuestring,
        "C1");
    assert_string_equal(json_str(cJSON_GetObjectItem(doc, "jwk"), "crv", ""),
                        "P-256");
    cJSON_Delete(doc);
    assert_int_equal(run(f, argv), ADMIN_EXIT_OK);
    assert_non_null(strstr(f->out, "key:            RSA 24\n"));
    assert_non_null(strstr(f->out, "eab:            -\n"));
    assert_int_equal(run(f, bad), ADMIN_EXIT_FAIL);
    assert_string_equal(f->out, "");
    assert_non_null(strstr(f->err, "no account NOPE"));
}

static void
test_accounts_deactivate(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { "accounts", "deactivate", "A2", NULL };
    const char *bad[] = { "accounts", "deactivate", "NOPE", NULL };
    struct store_txn *txn = NULL;
    cJSON *acct = NULL;

    assert_int_equal(run(f, argv), ADMIN_EXIT_OK);
    assert_string_equal(f->out, "deactivated account A2\n");
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(store_get_json(txn, STORE_ACCOUNTS, "A2", &acct), AP_OK);
    store_abort(txn);
    assert_string_equal(json_str(acct, "status", ""), "deactivated");
    assert_string_equal(json_str(acct, "thumbprint", ""), "T2");
    cJSON_Delete(acct);
    /* Changing nothing fails. */
    assert_int_equal(run(f, argv), ADMIN_EXIT_FAIL);
    assert_non_null(strstr(f->err, "already deactivated"));
    assert_int_equal(run(f, bad), ADMIN_EXIT_FAIL);
}

static void
test_orders(void **state)
{
    struct fixture *f = *state;
    const char *all[] = { "orders", "list", NULL };
    const char *one[] = { "orders", "list", "--account", "A1", "--json",
                          NULL };
    const char *none[] = { "orders", "list", "--account", "NOPE", NULL };
    const char *show[] = { "orders", "show", "O1", "--json", NULL };
    const char *show_h[] = { "orders", "show", "O1", NULL };
    const char *missing[] = { "orders", "show", "O9", NULL };
    const cJSON *authz;
    cJSON *doc;

    assert_int_equal(run(f, all), ADMIN_EXIT_OK);
    assert_true(strstr(f->out, "O2") < strstr(f->out, "O1"));
    assert_non_null(strstr(f->out, "a.test,www.a.test"));
    assert_int_equal(column_of(f->out, 0, "CERT"),
                     column_of(f->out, 2, "C1"));
    doc = run_json(f, one);
    assert_int_equal(cJSON_GetArraySize(doc), 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(doc, 0), "cert", ""),
                        "C1");
    cJSON_Delete(doc);
    assert_int_equal(run(f, none), ADMIN_EXIT_FAIL);
    assert_non_null(strstr(f->err, "no account NOPE"));
    doc = run_json(f, show);
    authz = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "authorizations"), 0);
    assert_string_equal(json_str(authz, "status", ""), "valid");
    assert_string_equal(
        json_str(cJSON_GetArrayItem(cJSON_GetObjectItem(authz, "challenges"),
                                    0),
                 "type", ""),
        "http-01");
    assert_null(cJSON_GetObjectItem(doc, "csr"));
    cJSON_Delete(doc);
    assert_int_equal(run(f, show_h), ADMIN_EXIT_OK);
    assert_non_null(strstr(f->out, "authorization:  Z1 a.test valid "
                                   "http-01=valid\n"));
    assert_int_equal(run(f, missing), ADMIN_EXIT_FAIL);
}

static void
test_certs(void **state)
{
    struct fixture *f = *state;
    const char *all[] = { "certs", "list", "--json", NULL };
    const char *expiring[] = { "certs", "list", "--expiring", "30", NULL };
    const char *by_serial[] = { "certs", "show", "0A:1B", "--json", NULL };
    const char *by_id[] = { "certs", "show", "C3", NULL };
    const char *missing[] = { "certs", "show", "0d", NULL };
    cJSON *doc;

    doc = run_json(f, all);
    assert_int_equal(cJSON_GetArraySize(doc), 3);
    /* By notAfter: C3 (5 days), C1 (10), C2 (60). */
    assert_string_equal(json_str(cJSON_GetArrayItem(doc, 0), "status", ""),
                        "revoked");
    assert_string_equal(json_str(cJSON_GetArrayItem(doc, 1), "id", ""), "C1");
    cJSON_Delete(doc);
    /* Valid and ending within 30 days: C1 only (C3 is revoked). */
    assert_int_equal(run(f, expiring), ADMIN_EXIT_OK);
    assert_non_null(strstr(f->out, "C1"));
    assert_null(strstr(f->out, "C2"));
    assert_null(strstr(f->out, "C3"));
    assert_int_equal(column_of(f->out, 0, "SERIAL"),
                     column_of(f->out, 1, "0a1b"));
    doc = run_json(f, by_serial);
    assert_string_equal(json_str(doc, "id", ""), "C1");
    assert_non_null(strstr(json_str(doc, "pem", ""), "BEGIN CERTIFICATE"));
    assert_string_equal(
        json_str(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "identifiers"),
                                    1),
                 "value", ""),
        "www.a.test");
    cJSON_Delete(doc);
    assert_int_equal(run(f, by_id), ADMIN_EXIT_OK);
    assert_non_null(strstr(f->out, "reason:         1 (keyCompromise)\n"));
    assert_int_equal(run(f, missing), ADMIN_EXIT_FAIL);
    assert_non_null(strstr(f->err, "no certificate"));
}

static void
test_revoke(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { "revoke", "0A:1B", "--reason", "superseded",
                           NULL };
    const char *unknown[] = { "revoke", "0d", NULL };
    const char *refused[] = { "revoke", "ff", "--json", NULL };
    const char *show[] = { "certs", "show", "ff", "--json", NULL };
    cJSON *doc;

    assert_int_equal(run(f, argv), ADMIN_EXIT_OK);
    assert_int_equal(revoke_calls, 1);
    assert_int_equal(revoke_reason, 4);
    assert_non_null(strstr(f->out, "revoked certificate 0a1b (reason 4 "
                                   "superseded) through adapter fake"));
    /* Already revoked: the PKI is not asked again, and it fails. */
    assert_int_equal(run(f, argv), ADMIN_EXIT_FAIL);
    assert_int_equal(revoke_calls, 1);
    assert_non_null(strstr(f->err, "already revoked"));
    assert_int_equal(run(f, unknown), ADMIN_EXIT_FAIL);
    assert_non_null(strstr(f->err, "no certificate with serial 0d"));
    /* The PKI refuses: the record stays valid. */
    revoke_answer = AP_ENET;
    assert_int_equal(run(f, refused), ADMIN_EXIT_FAIL);
    assert_non_null(strstr(f->err, "the PKI said no"));
    assert_string_equal(f->out, "");
    doc = run_json(f, show);
    assert_string_equal(json_str(doc, "status", ""), "valid");
    cJSON_Delete(doc);
}


/* ---- the admin API's routes -------------------------------------------- */

struct api_row {
    const char *name;
    const char *method;
    const char *path;
    const char *query;
    const char *body;
    int status;
    int count;          /* entries of an array answer; -1: not checked */
    int revoke_calls;   /* the adapter's revoke calls after it */
};

static const struct api_row api_rows[] = {
    { "api_accounts_all", "GET", "/admin/accounts", NULL, NULL, 200, 2, 0 },
    { "api_accounts_team", "GET", "/admin/accounts", "team=team-a", NULL,
      200, 1, 0 },
    { "api_accounts_team_none", "GET", "/admin/accounts", "team=zzz", NULL,
      200, 0, 0 },
    { "api_certs_all", "GET", "/admin/certificates", NULL, NULL, 200, 3, 0 },
    /* C1 and C3 are A1's (team-a). */
    { "api_certs_team", "GET", "/admin/certificates", "team=team-a", NULL,
      200, 2, 0 },
    { "api_certs_expiring", "GET", "/admin/certificates",
      "expiring_before=2999-01-01T00:00:00Z", NULL, 200, 2, 0 },
    { "api_certs_expiring_past", "GET", "/admin/certificates",
      "expiring_before=2001-01-01T00:00:00Z", NULL, 200, 0, 0 },
    { "api_certs_overdue_none", "GET", "/admin/certificates",
      "overdue=true", NULL, 200, 0, 0 },
    { "api_certs_bad_time", "GET", "/admin/certificates",
      "expiring_before=soon", NULL, 400, -1, 0 },
    { "api_certs_bad_overdue", "GET", "/admin/certificates", "overdue=1",
      NULL, 400, -1, 0 },
    { "api_certs_team_twice", "GET", "/admin/certificates",
      "team=a&team=b", NULL, 400, -1, 0 },
    { "api_eab_list", "GET", "/admin/eab", NULL, NULL, 200, 1, 0 },
    { "api_eab_revoke", "POST", "/admin/eab/K1/revoke", NULL, NULL, 200, -1,
      0 },
    { "api_eab_revoke_unknown", "POST", "/admin/eab/K9/revoke", NULL, NULL,
      404, -1, 0 },
    { "api_eab_revoke_bad_kid", "POST", "/admin/eab/a!b/revoke", NULL, NULL,
      400, -1, 0 },
    { "api_eab_add", "POST", "/admin/eab", NULL,
      "{\"label\":\"team-b\",\"allow_names\":[\".b.test\"],"
      "\"max_validity_days\":30}", 201, -1, 0 },
    { "api_eab_add_no_label", "POST", "/admin/eab", NULL, "{}", 400, -1, 0 },
    { "api_eab_add_unknown_member", "POST", "/admin/eab", NULL,
      "{\"label\":\"x\",\"hmac\":\"mine\"}", 400, -1, 0 },
    { "api_eab_add_bad_json", "POST", "/admin/eab", NULL, "{\"label\":", 400,
      -1, 0 },
    { "api_eab_add_member_twice", "POST", "/admin/eab", NULL,
      "{\"label\":\"a\",\"label\":\"b\"}", 400, -1, 0 },
    { "api_eab_add_array", "POST", "/admin/eab", NULL, "[]", 400, -1, 0 },
    { "api_eab_add_list_not_array", "POST", "/admin/eab", NULL,
      "{\"label\":\"x\",\"profiles\":\"a\"}", 400, -1, 0 },
    { "api_eab_add_list_empty", "POST", "/admin/eab", NULL,
      "{\"label\":\"x\",\"profiles\":[]}", 400, -1, 0 },
    { "api_eab_add_list_number", "POST", "/admin/eab", NULL,
      "{\"label\":\"x\",\"allow_ips\":[10]}", 400, -1, 0 },
    { "api_eab_add_label_control", "POST", "/admin/eab", NULL,
      "{\"label\":\"a\\nb\"}", 400, -1, 0 },
    { "api_eab_add_validity_fraction", "POST", "/admin/eab", NULL,
      "{\"label\":\"x\",\"max_validity_days\":1.5}", 400, -1, 0 },
    { "api_eab_add_unknown_profile", "POST", "/admin/eab", NULL,
      "{\"label\":\"x\",\"profiles\":[\"nosuch\"]}", 400, -1, 0 },
    { "api_revoke", "POST", "/admin/certificates/0A:1B/revoke", NULL,
      "{\"reason\":\"superseded\"}", 200, -1, 1 },
    { "api_revoke_number", "POST", "/admin/certificates/ff/revoke", NULL,
      "{\"reason\":1}", 200, -1, 1 },
    { "api_revoke_no_body", "POST", "/admin/certificates/ff/revoke", NULL,
      NULL, 200, -1, 1 },
    { "api_revoke_already", "POST", "/admin/certificates/0c/revoke", NULL,
      NULL, 409, -1, 0 },
    { "api_revoke_unknown", "POST", "/admin/certificates/0d/revoke", NULL,
      NULL, 404, -1, 0 },
    { "api_revoke_bad_serial", "POST", "/admin/certificates/zz/revoke", NULL,
      NULL, 400, -1, 0 },
    { "api_revoke_reason_7", "POST", "/admin/certificates/ff/revoke", NULL,
      "{\"reason\":7}", 400, -1, 0 },
    { "api_revoke_reason_name", "POST", "/admin/certificates/ff/revoke",
      NULL, "{\"reason\":\"nope\"}", 400, -1, 0 },
    { "api_revoke_unknown_member", "POST", "/admin/certificates/ff/revoke",
      NULL, "{\"why\":1}", 400, -1, 0 },
    { "api_method_eab", "DELETE", "/admin/eab", NULL, NULL, 405, -1, 0 },
    { "api_method_accounts", "POST", "/admin/accounts", NULL, "{}", 405, -1,
      0 },
    { "api_method_revoke", "GET", "/admin/certificates/ff/revoke", NULL,
      NULL, 405, -1, 0 },
    { "api_unknown_path", "GET", "/admin/things", NULL, NULL, 404, -1, 0 },
    { "api_nested_segment", "POST", "/admin/eab/K1/x/revoke", NULL, NULL,
      404, -1, 0 },
};

static void
api_call(struct fixture *f, const struct api_row *r,
         struct adminapi_resp *resp)
{
    struct adminapi_req req = { 0 };

    (void)f;
    req.method = r->method;
    req.path = r->path;
    req.query = r->query;
    req.body = r->body;
    req.body_len = r->body != NULL ? strlen(r->body) : 0;
    req.caller = "ops";
    req.request_id = "test";
    adminapi_handle(&f->app, &req, resp);
}

static int
setup_api(void **state)
{
    const void *row = *state;
    int rc = setup(state);

    if (rc == 0) {
        ((struct fixture *)*state)->row = row;
    }
    return rc;
}

static void
test_api(void **state)
{
    struct fixture *f = *state;
    const struct api_row *r = f->row;
    struct adminapi_resp resp;

    api_call(f, r, &resp);
    assert_int_equal(resp.status, r->status);
    assert_non_null(resp.doc);
    if (r->status >= 400) {
        /* A problem document naming the status. */
        assert_int_equal(json_num(resp.doc, "status", 0), r->status);
        assert_true(json_str(resp.doc, "detail", "")[0] != '\0');
        assert_false(resp.secret);
    }
    if (r->status == 405) {
        assert_non_null(resp.allow);
    }
    if (r->count >= 0) {
        assert_true(cJSON_IsArray(resp.doc));
        assert_int_equal(cJSON_GetArraySize(resp.doc), r->count);
    }
    if (r->status == 201) {
        assert_true(resp.secret);
        assert_int_equal(strlen(json_str(resp.doc, "hmac", "")),
                         EAB_HMAC_LEN);
        assert_int_equal(strlen(json_str(resp.doc, "kid", "")), EAB_KID_LEN);
    }
    assert_int_equal(revoke_calls, r->revoke_calls);
    adminapi_resp_fini(&resp);
}

/* The API's answers are the CLI's --json documents. */
static void
test_api_equals_cli(void **state)
{
    static const struct {
        const char *path;
        const char *query;
        const char *argv[6];
    } pairs[] = {
        { "/admin/accounts", NULL, { "accounts", "list", "--json" } },
        { "/admin/accounts", "team=team-a",
          { "accounts", "list", "--team", "team-a", "--json" } },
        { "/admin/certificates", NULL, { "certs", "list", "--json" } },
        { "/admin/certificates", "team=team-a",
          { "certs", "list", "--team", "team-a", "--json" } },
        { "/admin/certificates", "overdue=true",
          { "certs", "list", "--overdue", "--json" } },
        { "/admin/eab", NULL, { "eab", "list", "--json" } },
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct api_row r = { "pair", "GET", pairs[i].path, pairs[i].query,
                             NULL, 200, -1, 0 };
        struct adminapi_resp resp;
        cJSON *cli = run_json(f, pairs[i].argv);

        api_call(f, &r, &resp);
        assert_int_equal(resp.status, 200);
        assert_true(cJSON_Compare(resp.doc, cli, 1));
        adminapi_resp_fini(&resp);
        cJSON_Delete(cli);
    }
}

/* A self-signed certificate valid from not_before to not_after, as PEM
 * (caller frees). */
static char *
make_cert_pem(long long not_before, long long not_after, long serial)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *b = BIO_new(BIO_s_mem());
    X509_NAME *n;
    char *data = NULL;
    char *pem;
    long len;

    assert_non_null(key);
    assert_non_null(x);
    assert_non_null(b);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x),
                                  (time_t)not_before));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after));
    n = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(
                         n, "CN", MBSTRING_ASC,
                         (const unsigned char *)"a.test", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, n), 1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    len = BIO_get_mem_data(b, &data);
    pem = strndup(data, (size_t)len);
    assert_non_null(pem);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
    return pem;
}

/* Adds certificate id of order O1 (a.test, www.a.test; team-a) issued at
 * issued, with pem. */
static void
put_cert(struct fixture *f, const char *id, const char *serial,
         long long issued, long long not_after, const char *pem)
{
    struct store_txn *txn = NULL;
    cJSON *c = cJSON_CreateObject();

    assert_non_null(c);
    cJSON_AddNumberToObject(c, "v", 1);
    cJSON_AddStringToObject(c, "id", id);
    cJSON_AddStringToObject(c, "account", "A1");
    cJSON_AddStringToObject(c, "order", "O1");
    cJSON_AddStringToObject(c, "serial", serial);
    cJSON_AddStringToObject(c, "status", "valid");
    cJSON_AddNumberToObject(c, "notAfter", (double)not_after);
    cJSON_AddNumberToObject(c, "issued", (double)issued);
    cJSON_AddStringToObject(c, "adapter", "local");
    cJSON_AddStringToObject(c, "pem", pem);
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(store_put_json(txn, STORE_CERTS, id, c, false), AP_OK);
    put(txn, STORE_SERIALS, serial, id);
    assert_int_equal(store_commit(txn), AP_OK);
    cJSON_Delete(c);
}

/* Overdue: valid, past the end of its renewal window (60-80 % of its
 * life), and no later certificate for the same names. */
static void
test_api_overdue(void **state)
{
    struct fixture *f = *state;
    struct api_row r = { "overdue", "GET", "/admin/certificates",
                         "overdue=true", NULL, 200, -1, 0 };
    struct adminapi_resp resp;
    long long now = time_now();
    /* 300 of 365 days gone: past 80 %. */
    char *old = make_cert_pem(now - 300 * 86400LL, now + 65 * 86400LL, 0x51);
    /* 10 of 365 days gone: before its window. */
    char *young = make_cert_pem(now - 10 * 86400LL, now + 355 * 86400LL,
                                0x52);
    const cJSON *w;

    put_cert(f, "D1", "51", 5000, now + 65 * 86400LL, old);
    api_call(f, &r, &resp);
    assert_int_equal(resp.status, 200);
    assert_int_equal(cJSON_GetArraySize(resp.doc), 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(resp.doc, 0), "id", ""),
                        "D1");
    w = cJSON_GetObjectItem(cJSON_GetArrayItem(resp.doc, 0),
                            "renewalWindow");
    assert_true(cJSON_IsObject(w));
    adminapi_resp_fini(&resp);
    /* A later certificate for the same names renews it; itself young. */
    put_cert(f, "D2", "52", 6000, now + 355 * 86400LL, young);
    api_call(f, &r, &resp);
    assert_int_equal(resp.status, 200);
    assert_int_equal(cJSON_GetArraySize(resp.doc), 0);
    adminapi_resp_fini(&resp);
    free(old);
    free(young);
}

/* What the API's key-minting and revocations write: events naming the
 * caller; the HMAC key in the answer only. */
static void
test_api_eab_add_then_used(void **state)
{
    struct fixture *f = *state;
    struct api_row add = { "add", "POST", "/admin/eab", NULL,
                           "{\"label\":\"team-c\",\"allow_ips\":"
                           "[\"10.0.0.0/8\"],\"profiles\":null}",
                           201, -1, 0 };
    struct api_row list = { "list", "GET", "/admin/eab", NULL, NULL, 200, -1,
                            0 };
    struct adminapi_resp resp;
    char kid[EAB_KID_LEN + 1];
    char path[64];
    const cJSON *k;
    bool found = false;

    api_call(f, &add, &resp);
    assert_int_equal(resp.status, 201);
    snprintf(kid, sizeof(kid), "%s", json_str(resp.doc, "kid", ""));
    adminapi_resp_fini(&resp);
    api_call(f, &list, &resp);
    cJSON_ArrayForEach(k, resp.doc) {
        if (strcmp(json_str(k, "kid", ""), kid) == 0) {
            found = true;
            assert_string_equal(json_str(k, "label", ""), "team-c");
            assert_string_equal(
                cJSON_GetArrayItem(cJSON_GetObjectItem(k, "allow_ips"), 0)
                    ->valuestring,
                "10.0.0.0/8");
            assert_null(cJSON_GetObjectItem(k, "hmac"));
        }
    }
    assert_true(found);
    adminapi_resp_fini(&resp);
    snprintf(path, sizeof(path), "/admin/eab/%s/revoke", kid);
    {
        struct api_row rev = { "rev", "POST", path, NULL, NULL, 200, -1, 0 };

        api_call(f, &rev, &resp);
        assert_int_equal(resp.status, 200);
        assert_string_equal(json_str(resp.doc, "status", ""), "revoked");
        adminapi_resp_fini(&resp);
        api_call(f, &rev, &resp);
        assert_int_equal(resp.status, 409);
        adminapi_resp_fini(&resp);
    }
}

static void
test_api_refused_by_pki(void **state)
{
    struct fixture *f = *state;
    struct api_row r = { "pki", "POST", "/admin/certificates/ff/revoke",
                         NULL, NULL, 502, -1, 1 };
    struct adminapi_resp resp;

    revoke_answer = AP_ENET;
    api_call(f, &r, &resp);
    assert_int_equal(resp.status, 502);
    assert_non_null(strstr(json_str(resp.doc, "detail", ""),
                           "the PKI said no"));
    adminapi_resp_fini(&resp);
}

static void
test_eab(void **state)
{
    struct fixture *f = *state;
    const char *add[] = { "eab", "add", "--label", "team-b",
                          "--allow-names", ".b.test", "--max-validity", "30",
                          "--json", NULL };
    const char *bad_profile[] = { "eab", "add", "--label", "x",
                                  "--profiles", "nosuch", NULL };
    const char *bad_default[] = { "eab", "add", "--label", "x",
                                  "--default-profile", "nosuch", NULL };
    const char *list[] = { "eab", "list", NULL };
    const char *list_j[] = { "eab", "list", "--json", NULL };
    const char *revoke[] = { "eab", "revoke", "K1", NULL };
    const char *revoke_unknown[] = { "eab", "revoke", "K9", NULL };
    char hmac[EAB_HMAC_LEN + 1];
    cJSON *doc;

    assert_int_equal(crypto_init(), AP_OK);
    doc = run_json(f, add);
    assert_int_equal(strlen(json_str(doc, "kid", "")), EAB_KID_LEN);
    assert_int_equal(strlen(json_str(doc, "hmac", "")), EAB_HMAC_LEN);
    snprintf(hmac, sizeof(hmac), "%s", json_str(doc, "hmac", ""));
    assert_non_null(strstr(json_str(doc, "lego", ""), "--eab --kid "));
    cJSON_Delete(doc);
    assert_int_equal(run(f, bad_profile), ADMIN_EXIT_FAIL);
    assert_non_null(strstr(f->err, "no such profile"));
    assert_int_equal(run(f, bad_default), ADMIN_EXIT_FAIL);
    assert_non_null(strstr(f->err, "default_profile: nosuch: no such profile"));
    /* Lists never show a key, neither the new nor the seeded one. */
    assert_int_equal(run(f, list), ADMIN_EXIT_OK);
    assert_null(strstr(f->out, hmac));
    assert_null(strstr(f->out, "SECRET"));
    assert_non_null(strstr(f->out, "names=.b.test max=30d"));
    assert_int_equal(column_of(f->out, 0, "LABEL"),
                     column_of(f->out, 1, "team-a"));
    doc = run_json(f, list_j);
    assert_null(strstr(f->out, hmac));
    assert_null(strstr(f->out, "SECRET"));
    assert_int_equal(cJSON_GetArraySize(doc), 2);
    cJSON_Delete(doc);
    assert_int_equal(run(f, revoke), ADMIN_EXIT_OK);
    assert_non_null(strstr(f->out, "team \"team-a\""));
    doc = run_json(f, list_j);
    assert_string_equal(json_str(cJSON_GetArrayItem(doc, 0), "status", ""),
                        "revoked");
    cJSON_Delete(doc);
    assert_int_equal(run(f, revoke), ADMIN_EXIT_FAIL);
    assert_non_null(strstr(f->err, "already revoked"));
    assert_int_equal(run(f, revoke_unknown), ADMIN_EXIT_FAIL);
}

static void
test_backup(void **state)
{
    struct fixture *f = *state;
    char path[128];
    const char *argv[] = { "backup", path, NULL };
    const char *nodir[] = { "backup", "/nonexistent/dir/b.mdb", NULL };
    struct stat sb;

    snprintf(path, sizeof(path), "%s/backup.mdb", f->dir);
    assert_int_equal(run(f, argv), ADMIN_EXIT_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 0);
    assert_int_equal(sb.st_mode & 077, 0);
    assert_non_null(strstr(f->out, "NEW_DIR/db/data.mdb"));
    /* Never over an existing file. */
    assert_int_equal(run(f, argv), ADMIN_EXIT_FAIL);
    assert_int_equal(run(f, nodir), ADMIN_EXIT_FAIL);
    (void)unlink(path);
}

int
main(void)
{
    struct CMUnitTest tests[256];
    size_t n = 0;

    for (size_t i = 0; i < sizeof(parse_good) / sizeof(parse_good[0]); i++) {
        tests[n++] = (struct CMUnitTest){ "parse_good", test_parse_good, NULL,
                                          NULL, (void *)(uintptr_t)&parse_good[i] };
    }
    for (size_t i = 0; i < sizeof(parse_bad) / sizeof(parse_bad[0]); i++) {
        tests[n++] = (struct CMUnitTest){ "parse_bad", test_parse_bad, NULL,
                                          NULL, (void *)(uintptr_t)parse_bad[i] };
    }
    for (size_t i = 0; i < sizeof(serial_rows) / sizeof(serial_rows[0]);
         i++) {
        tests[n++] = (struct CMUnitTest){ "serial", test_serial, NULL, NULL,
                                          (void *)(uintptr_t)&serial_rows[i] };
    }
    for (size_t i = 0; i < sizeof(reason_rows) / sizeof(reason_rows[0]);
         i++) {
        tests[n++] = (struct CMUnitTest){ "reason", test_reason, NULL, NULL,
                                          (void *)(uintptr_t)&reason_rows[i] };
    }
    for (size_t i = 0; i < sizeof(list_rows) / sizeof(list_rows[0]); i++) {
        tests[n++] = (struct CMUnitTest){ "split_list", test_split_list, NULL,
                                          NULL, (void *)(uintptr_t)&list_rows[i] };
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_parse_values);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_split_list_cap);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_table_aligned);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_table_cleans_cells);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_accounts_list, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_accounts_show, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_accounts_deactivate, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_orders, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_certs, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_revoke, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_eab, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_backup, setup, teardown);
    for (size_t i = 0; i < sizeof(api_rows) / sizeof(api_rows[0]); i++) {
        tests[n++] = (struct CMUnitTest){ api_rows[i].name, test_api,
                                          setup_api, teardown,
                                          (void *)(uintptr_t)&api_rows[i] };
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_api_equals_cli, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_api_overdue, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_api_eab_add_then_used, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_api_refused_by_pki, setup, teardown);
    return _cmocka_run_group_tests("admin", tests, n, NULL, NULL);
}
