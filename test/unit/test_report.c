/* test/unit/test_report.c: proxy/report.c (renewal oversight), the CSV
 * escaping, proxy/team.c (teams by network, their policy, accounts bind)
 * and the [team.NAME] configuration.
 *
 * The report runs against a store in a fresh mkdtemp directory seeded with
 * records as the codecs write them and real leaf certificates signed by a
 * throwaway embedded CA (common/ca.h) for the renewal windows; the report's
 * clock is moved instead of the certificates'. */
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

#include "common/ca.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/admin.h"
#include "proxy/app.h"
#include "proxy/jobs.h"
#include "proxy/policy.h"
#include "proxy/report.h"
#include "proxy/team.h"
#include "proxy/webhook.h"

#define MAP_MB 16
#define DAY 86400LL

static void
dir_remove(const char *dir)
{
    char path[512];
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
            if (unlink(path) != 0) {
                dir_remove(path);
            }
        }
    }
    closedir(d);
    (void)rmdir(dir);
}

/* ---- CSV ----------------------------------------------------------- */

struct csv_row {
    const char *in;
    const char *out;
};

static const struct csv_row csv_rows[] = {
    { "plain", "plain" },
    { "", "" },
    { "a,b", "\"a,b\"" },
    { "say \"hi\"", "\"say \"\"hi\"\"\"" },
    { "two\nlines", "\"two\nlines\"" },
    { "cr\r", "\"cr\r\"" },
    /* Formulas: prefixed with ' and quoted. */
    { "=1+2", "\"'=1+2\"" },
    { "+cmd", "\"'+cmd\"" },
    { "-2", "\"'-2\"" },
    { "@SUM(A1)", "\"'@SUM(A1)\"" },
    { "\tx", "\"'\tx\"" },
    { "=HYPERLINK(\"http://x\",\"y\")",
      "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" },
    /* Not at the start: plain. */
    { "a=b", "a=b" },
    { "team-a", "team-a" },
};

static void
test_csv_field(void **state)
{
    const struct csv_row *r = *state;
    char out[128];

    assert_int_equal(report_csv_field(r->in, out, sizeof(out)), AP_OK);
    assert_string_equal(out, r->out);
}

static void
test_csv_field_cap(void **state)
{
    char out[6];

    (void)state;
    assert_int_equal(report_csv_field("abcde", out, sizeof(out)), AP_OK);
    assert_string_equal(out, "abcde");
    assert_int_equal(report_csv_field("abcdef", out, sizeof(out)),
                     AP_ETOOBIG);
    assert_string_equal(out, "");
    /* Quotes count: "a,bc" needs 6 bytes and the NUL. */
    assert_int_equal(report_csv_field("a,bc", out, sizeof(out)), AP_ETOOBIG);
    assert_int_equal(report_csv_field("=a", out, sizeof(out)), AP_OK);
    assert_string_equal(out, "\"'=a\"");
}

/* ---- the seeded store ---------------------------------------------- */

struct fixture {
    char dir[64];
    char cadir[80];
    struct store *st;
    struct ca *ca;
    long long now;
};

static void
put(struct store_txn *txn, enum store_table t, const char *key,
    const char *json)
{
    cJSON *obj = NULL;

    assert_int_equal(json_parse(json, strlen(json), &obj), AP_OK);
    assert_int_equal(store_put_json(txn, t, key, obj, false), AP_OK);
    cJSON_Delete(obj);
}

static void
put_account(struct store_txn *txn, const char *id, const char *team)
{
    char buf[512];

    snprintf(buf, sizeof(buf),
             "{\"v\":1,\"id\":\"%s\",\"status\":\"valid\",\"jwk\":{\"kty\":"
             "\"EC\",\"crv\":\"P-256\",\"x\":\"x\",\"y\":\"y\"},"
             "\"thumbprint\":\"T%s\",\"contact\":[],\"tos\":true,"
             "\"created\":1000,\"ip\":\"127.0.0.1\"%s%s%s}",
             id, id, team != NULL ? ",\"team\":\"" : "",
             team != NULL ? team : "", team != NULL ? "\"" : "");
    put(txn, STORE_ACCOUNTS, id, buf);
}

/* An order with names (comma-separated) and, when cert is not "", valid
 * with that certificate. */
static void
put_order(struct store_txn *txn, const char *id, const char *account,
          const char *names, const char *status, const char *cert)
{
    char buf[2048];
    char ids[1024] = "";
    size_t used = 0;
    const char *p = names;

    while (*p != '\0') {
        size_t n = strcspn(p, ",");

        used += (size_t)snprintf(ids + used, sizeof(ids) - used,
                                 "%s{\"type\":\"dns\",\"value\":\"%.*s\"}",
                                 used > 0 ? "," : "", (int)n, p);
        p += n + (p[n] == ',');
    }
    snprintf(buf, sizeof(buf),
             "{\"v\":1,\"id\":\"%s\",\"account\":\"%s\",\"status\":\"%s\","
             "\"created\":1000,\"expires\":%lld,\"identifiers\":[%s],"
             "\"authzs\":[]%s%s%s}",
             id, account, status, time_now() + DAY, ids,
             cert[0] != '\0' ? ",\"cert\":\"" : "", cert,
             cert[0] != '\0' ? "\"" : "");
    put(txn, STORE_ORDERS, id, buf);
}

/* A certificate of account for order, days of validity from now, with
 * extra members (",\"status\":\"revoked\"..." or ""). */
static void
put_cert(struct fixture *f, struct store_txn *txn, const char *id,
         const char *account, const char *order, long long days,
         long long issued, const char *status, const char *extra)
{
    const char *names[] = { "leaf.test" };
    char *key = NULL;
    char *pem = NULL;
    char errbuf[200];
    cJSON *obj;
    char serial[16];

    assert_int_equal(ca_issue_tls(f->ca, names, 1, NULL, 0, (unsigned)days,
                                  &key, &pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    snprintf(serial, sizeof(serial), "%02x%s", (unsigned)strlen(id), id);
    obj = cJSON_CreateObject();
    assert_non_null(obj);
    cJSON_AddNumberToObject(obj, "v", 1);
    cJSON_AddStringToObject(obj, "id", id);
    cJSON_AddStringToObject(obj, "account", account);
    cJSON_AddStringToObject(obj, "order", order);
    cJSON_AddStringToObject(obj, "serial", "0a");
    cJSON_AddStringToObject(obj, "status", status);
    cJSON_AddNumberToObject(obj, "notAfter", (double)(f->now + days * DAY));
    cJSON_AddNumberToObject(obj, "issued", (double)issued);
    cJSON_AddStringToObject(obj, "adapter", "local");
    cJSON_AddStringToObject(obj, "pem", pem);
    if (strcmp(status, "revoked") == 0) {
        cJSON_AddNumberToObject(obj, "reason", 1);
        cJSON_AddNumberToObject(obj, "revokedAt", (double)issued + 1);
    }
    if (extra[0] != '\0') {
        cJSON_AddStringToObject(obj, "replacedBy", extra);
    }
    assert_int_equal(store_put_json(txn, STORE_CERTS, id, obj, false),
                     AP_OK);
    cJSON_Delete(obj);
    crypto_zeroize(key, strlen(key));
    free(key);
    free(pem);
}

/* The certificates (T0 = now, days of validity):
 *   OK      team-a  ok.a.test     90 d                  fine
 *   OVER    team-a  over.a.test   10 d                  overdue at T0+8
 *   OLD     team-a  ren.a.test    10 d, issued 1000     renewed by NEW
 *   NEW     team-a  ren.a.test    90 d, issued 2000     (other account,
 *                                                        same team)
 *   REV     team-a  rev.a.test    10 d, revoked
 *   ARI     team-b  ari.b.test    10 d, replacedBy O-ARI2 (valid) : gone
 *   ARIP    team-b  arip.b.test   10 d, replacedBy O-ARIP2 (processing)
 *   LOST    none    z.test        10 d, account A2; a newer one of A3
 *   Z3      none    z.test        90 d, account A3 (another scope)
 *   GONE    team-b  gone.b.test    1 d: expired long before T0+8
 *   EXP     team-b  exp.b.test     6 d: expired two days before T0+8
 *   SET     team-a  a.test,www.a.test 10 d; a newer one for a.test only
 *   SUB     team-a  a.test        90 d                  (another set) */
static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct store_txn *txn = NULL;
    char errbuf[200];

    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_report.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->cadir, sizeof(f->cadir), "%s/ca", f->dir);
    if (mkdir(f->cadir, 0700) != 0 ||
        store_open(&(struct store_config){ .dir = f->dir,
                                           .map_size_mb = MAP_MB },
                   &f->st, errbuf, sizeof(errbuf)) != AP_OK ||
        ca_open(f->cadir, &f->ca, errbuf, sizeof(errbuf)) != AP_OK) {
        free(f);
        return -1;
    }
    f->now = time_now();
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    put_account(txn, "A1", "team-a");
    put_account(txn, "A4", "team-a");
    put_account(txn, "B1", "team-b");
    put_account(txn, "A2", NULL);
    put_account(txn, "A3", NULL);
    put_order(txn, "O-OK", "A1", "ok.a.test", "valid", "OK");
    put_order(txn, "O-OVER", "A1", "over.a.test", "valid", "OVER");
    put_order(txn, "O-OLD", "A1", "ren.a.test", "valid", "OLD");
    put_order(txn, "O-NEW", "A4", "ren.a.test", "valid", "NEW");
    put_order(txn, "O-REV", "A1", "rev.a.test", "valid", "REV");
    put_order(txn, "O-ARI", "B1", "ari.b.test", "valid", "ARI");
    put_order(txn, "O-ARI2", "B1", "ari.b.test,x.b.test", "valid", "ARI2");
    put_order(txn, "O-ARIP", "B1", "arip.b.test", "valid", "ARIP");
    put_order(txn, "O-ARIP2", "B1", "arip.b.test,y.b.test", "processing", "");
    put_order(txn, "O-LOST", "A2", "z.test", "valid", "LOST");
    put_order(txn, "O-Z3", "A3", "z.test", "valid", "Z3");
    put_order(txn, "O-GONE", "B1", "gone.b.test", "valid", "GONE");
    put_order(txn, "O-EXP", "B1", "exp.b.test", "valid", "EXP");
    put_order(txn, "O-SET", "A1", "www.a.test,a.test", "valid", "SET");
    put_order(txn, "O-SUB", "A1", "a.test", "valid", "SUB");
    put_cert(f, txn, "OK", "A1", "O-OK", 90, 1000, "valid", "");
    put_cert(f, txn, "OVER", "A1", "O-OVER", 10, 1000, "valid", "");
    put_cert(f, txn, "OLD", "A1", "O-OLD", 10, 1000, "valid", "");
    put_cert(f, txn, "NEW", "A4", "O-NEW", 90, 2000, "valid", "");
    put_cert(f, txn, "REV", "A1", "O-REV", 10, 1000, "revoked", "");
    put_cert(f, txn, "ARI", "B1", "O-ARI", 10, 1000, "valid", "O-ARI2");
    put_cert(f, txn, "ARI2", "B1", "O-ARI2", 90, 2000, "valid", "");
    put_cert(f, txn, "ARIP", "B1", "O-ARIP", 10, 1000, "valid", "O-ARIP2");
    put_cert(f, txn, "LOST", "A2", "O-LOST", 10, 1000, "valid", "");
    put_cert(f, txn, "Z3", "A3", "O-Z3", 90, 2000, "valid", "");
    put_cert(f, txn, "GONE", "B1", "O-GONE", 1, 1000, "valid", "");
    put_cert(f, txn, "EXP", "B1", "O-EXP", 6, 1000, "valid", "");
    put_cert(f, txn, "SET", "A1", "O-SET", 10, 1000, "valid", "");
    put_cert(f, txn, "SUB", "A1", "O-SUB", 90, 2000, "valid", "");
    assert_int_equal(store_commit(txn), AP_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    ca_free(f->ca);
    store_close(f->st);
    dir_remove(f->dir);
    free(f);
    return 0;
}

/* The ids of the report's rows, space-separated, in its order. */
static void
row_ids(const cJSON *doc, char *buf, size_t len)
{
    const cJSON *v;
    size_t used = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc,
                                                           "certificates")) {
        used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                 used > 0 ? " " : "", json_str(v, "id", ""));
    }
}

static const cJSON *
row_of(const cJSON *doc, const char *id)
{
    const cJSON *v;

    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc,
                                                           "certificates")) {
        if (strcmp(json_str(v, "id", ""), id) == 0) {
            return v;
        }
    }
    return NULL;
}

static void
test_report_overdue(void **state)
{
    struct fixture *f = *state;
    struct report_opts o = { f->now + 8 * DAY, 3, 0, NULL };
    cJSON *doc = NULL;
    const cJSON *r;
    char ids[512];

    assert_int_equal(report_build(f->st, &o, &doc), AP_OK);
    row_ids(doc, ids, sizeof(ids));
    /* By team (none last), then notAfter: team-a OVER and SET (same
     * notAfter: by id), team-b EXP then ARIP, no team LOST. Not: OK (in
     * its window), OLD (renewed by NEW in the same team), NEW, REV
     * (revoked), ARI (its RFC 9773 replacement was issued), Z3, GONE
     * (expired more than 3 days ago), SUB. */
    assert_string_equal(ids, "OVER SET EXP ARIP LOST");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc,
                                                               "truncated")));
    r = row_of(doc, "OVER");
    assert_string_equal(json_str(r, "team", ""), "team-a");
    assert_string_equal(json_str(r, "state", ""), "overdue");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "overdue")));
    assert_int_equal(json_num(r, "daysLeft", 99), 2);
    assert_string_equal(json_str(r, "account", ""), "A1");
    assert_string_equal(json_str(
                            cJSON_GetArrayItem(
                                cJSON_GetObjectItemCaseSensitive(
                                    r, "identifiers"), 0),
                            "x", "over.a.test"),
                        "over.a.test");
    r = row_of(doc, "SET");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                         r, "identifiers")), 2);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                               r, "identifiers"), 0)
                            ->valuestring,
                        "a.test");
    r = row_of(doc, "EXP");
    assert_string_equal(json_str(r, "state", ""), "expired");
    assert_int_equal(json_num(r, "daysLeft", 99), -2);
    r = row_of(doc, "LOST");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "team")));
    cJSON_Delete(doc);
}

static void
test_report_expiring(void **state)
{
    struct fixture *f = *state;
    struct report_opts o = { f->now, 20, 0, NULL };
    cJSON *doc = NULL;
    char ids[512];

    /* Now, 20 days: the 10- and 6-day certificates that nothing replaced
     * are expiring (none overdue yet); the 1-day one too. */
    assert_int_equal(report_build(f->st, &o, &doc), AP_OK);
    row_ids(doc, ids, sizeof(ids));
    assert_string_equal(ids, "OVER SET GONE EXP ARIP LOST");
    assert_string_equal(json_str(row_of(doc, "OVER"), "state", ""),
                        "expiring");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        row_of(doc, "OVER"), "overdue")));
    cJSON_Delete(doc);
}

static void
test_report_team_and_cap(void **state)
{
    struct fixture *f = *state;
    struct report_opts o = { f->now + 8 * DAY, 3, 0, "team-b" };
    cJSON *doc = NULL;
    char ids[512];

    assert_int_equal(report_build(f->st, &o, &doc), AP_OK);
    row_ids(doc, ids, sizeof(ids));
    assert_string_equal(ids, "EXP ARIP");
    cJSON_Delete(doc);
    o.team = "";
    assert_int_equal(report_build(f->st, &o, &doc), AP_OK);
    row_ids(doc, ids, sizeof(ids));
    assert_string_equal(ids, "LOST");
    cJSON_Delete(doc);
    /* Two rows at most: the report says it is cut. */
    o.team = NULL;
    o.max_rows = 2;
    assert_int_equal(report_build(f->st, &o, &doc), AP_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                         doc, "certificates")), 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc,
                                                              "truncated")));
    cJSON_Delete(doc);
    o.max_rows = REPORT_MAX_ROWS + 1;
    assert_int_equal(report_build(f->st, &o, &doc), AP_EINVAL);
}

/* No certificate qualifies (nothing expires within a day now), and an
 * empty store: an empty report, not an error. */
static void
test_report_empty(void **state)
{
    struct fixture *f = *state;
    struct report_opts o = { f->now, 0, 0, NULL };
    char dir[] = "/tmp/test_report_empty.XXXXXX";
    char errbuf[200];
    struct store *st = NULL;
    cJSON *doc = NULL;

    assert_int_equal(report_build(f->st, &o, &doc), AP_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                         doc, "certificates")), 0);
    cJSON_Delete(doc);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_open(&(struct store_config){ .dir = dir,
                                                        .map_size_mb = MAP_MB },
                                &st, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(report_build(st, &o, &doc), AP_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                         doc, "certificates")), 0);
    cJSON_Delete(doc);
    store_close(st);
    dir_remove(dir);
}

static void
test_report_csv(void **state)
{
    struct fixture *f = *state;
    struct report_opts o = { f->now + 8 * DAY, 3, 0, "team-a" };
    struct store_txn *txn = NULL;
    cJSON *doc = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *m;

    /* A team label that a spreadsheet would run as a formula. */
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    put_account(txn, "EVIL", "=cmd|' /C calc'!A0");
    put_order(txn, "O-EVIL", "EVIL", "evil.test,b\\\"q.test", "valid",
              "EVILC");
    put_cert(f, txn, "EVILC", "EVIL", "O-EVIL", 10, 1000, "valid", "");
    assert_int_equal(store_commit(txn), AP_OK);
    o.team = NULL;
    assert_int_equal(report_build(f->st, &o, &doc), AP_OK);
    m = open_memstream(&text, &len);
    assert_non_null(m);
    assert_int_equal(report_write_csv(doc, m), AP_OK);
    fclose(m);
    assert_int_equal(strncmp(text, "team,state,days_left,not_after,"
                                   "window_end,serial,id,account,"
                                   "identifiers\r\n", 71), 0);
    assert_non_null(strstr(text, "\r\n\"'=cmd|' /C calc'!A0\",overdue,2,"));
    assert_non_null(strstr(text, ",EVILC,EVIL,\"b\"\"q.test evil.test\"\r\n"));
    assert_non_null(strstr(text, "\r\nteam-a,overdue,2,"));
    assert_null(strstr(text, "\n=") );
    free(text);
    cJSON_Delete(doc);
}

/* ---- teams --------------------------------------------------------- */

static void
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

struct conf_row {
    const char *text;       /* appended to a minimal config */
    bool ok;
    const char *msg;        /* a part of the error */
};

static const struct conf_row conf_rows[] = {
    { "[team.ops]\nnetworks = 10.20.0.0/16, fd00:20::/32\n", true, NULL },
    { "[team.ops]\nnetworks = 10.20.0.1/16\n", false, "networks" },
    { "[team.ops]\nnetworks = 10.20.0.0/16\n[team.web]\nnetworks = "
      "10.20.30.0/24\n", false, "overlap" },
    { "[team.ops]\nnetworks = 10.20.0.0/16\n[team.web]\nnetworks = "
      "10.21.0.0/16\n", true, NULL },
    { "[team.ops]\nprofiles = nosuch\n", false, "profiles" },
    { "[team.ops]\nwebhook = http://hooks.test/x\n", false, "https" },
    { "[team.ops]\nwebhook = https://u:p@hooks.test/x\n", false, "https" },
    { "[team.ops]\nwebhook = https://hooks.test/x\nwebhook_secret_file = "
      "/x\n", true, NULL },
    { "[team.ops]\nwebhook_ca = /x\n", false, "needs a webhook" },
    { "[team.ops]\nmax_validity_days = 4000\n", false, "max_validity" },
    { "[team.ops]\ncolour = blue\n", false, "unknown key colour" },
    { "[team.a b]\nnetworks = 10.0.0.0/8\n", false, "team name" },
    { "[oversight]\ncheck_interval = 5\n", false, "check_interval" },
    { "[oversight]\nexpiry_days = 30\n", true, NULL },
};

static void
test_team_config(void **state)
{
    const struct conf_row *r = *state;
    char dir[] = "/tmp/test_report_cfg.XXXXXX";
    char path[64];
    char text[1024];
    char errbuf[300];
    struct config cfg;
    ap_err rc;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/p.conf", dir);
    snprintf(text, sizeof(text), "[server]\ndata_dir = %s\n%s", dir,
             r->text);
    write_file(path, text);
    rc = config_load(path, &cfg, errbuf, sizeof(errbuf));
    if (r->ok) {
        assert_int_equal(rc, AP_OK);
        config_fini(&cfg);
    } else {
        assert_int_not_equal(rc, AP_OK);
        if (strstr(errbuf, r->msg) == NULL) {
            fail_msg("'%s' not in '%s'", r->msg, errbuf);
        }
    }
    (void)unlink(path);
    (void)rmdir(dir);
}

static void
test_team_match_and_policy(void **state)
{
    char dir[] = "/tmp/test_report_team.XXXXXX";
    char path[64];
    char text[1024];
    char errbuf[300];
    struct config cfg;
    struct policy_rules global;
    struct policy pol;
    struct acme_resp resp;
    cJSON *rec = NULL;
    const struct config_team *t;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/p.conf", dir);
    snprintf(text, sizeof(text),
             "[server]\ndata_dir = %s\n[profile.short]\nvalidity_days = 2\n"
             "[team.ops]\nnetworks = 10.20.0.0/16 fd00:20::/32\n"
             "allow_names = .ops.test, ops.test\nallow_ips = 10.9.0.0/16\n"
             "profiles = short\nmax_validity_days = 30\n"
             "[team.web]\nnetworks = 192.0.2.7\n",
             dir);
    write_file(path, text);
    assert_int_equal(config_load(path, &cfg, errbuf, sizeof(errbuf)), AP_OK);
    t = team_for_address(&cfg, "10.20.3.4");
    assert_non_null(t);
    assert_string_equal(t->name, "ops");
    assert_string_equal(team_for_address(&cfg, "::ffff:10.20.0.9")->name,
                        "ops");
    assert_string_equal(team_for_address(&cfg, "fd00:20::5")->name, "ops");
    assert_string_equal(team_for_address(&cfg, "192.0.2.7")->name, "web");
    assert_null(team_for_address(&cfg, "192.0.2.8"));
    assert_null(team_for_address(&cfg, "10.21.0.1"));
    assert_null(team_for_address(&cfg, "not an address"));
    assert_null(team_for_address(&cfg, ""));
    /* The team's policy narrows the global one as an EAB key's does. */
    assert_int_equal(team_policy_record(t, &rec), AP_OK);
    assert_string_equal(json_str(rec, "label", ""), "ops");
    assert_int_equal(json_num(rec, "max_validity_days", 0), 30);
    assert_int_equal(policy_global_init(&cfg, &global, errbuf,
                                        sizeof(errbuf)),
                     AP_OK);
    acme_resp_init(&resp);
    policy_for_account(&global, rec, &pol, &resp);
    assert_int_equal(resp.status, 0);
    assert_true(pol.has_team);
    assert_string_equal(pol.team_label, "ops");
    assert_int_equal(pol.team.n_names, 2);
    assert_string_equal(pol.team.names[0], ".ops.test");
    assert_int_equal(pol.team.n_ips, 1);
    assert_int_equal(pol.team.n_profiles, 1);
    assert_string_equal(pol.team.profiles[0], "short");
    assert_int_equal(policy_max_days(&pol, 90), 30);
    acme_resp_fini(&resp);
    cJSON_Delete(rec);
    /* A team without lists: no restriction of its own. */
    assert_int_equal(team_policy_record(team_for_address(&cfg, "192.0.2.7"),
                                        &rec),
                     AP_OK);
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "allow_names"));
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "max_validity_days"));
    cJSON_Delete(rec);
    config_fini(&cfg);
    (void)unlink(path);
    (void)rmdir(dir);
}

/* ---- accounts bind, webhooks (the seeded store) ------------------------ */

static void
load_config(struct config *cfg, const char *dir, const char *extra)
{
    char path[128];
    char text[2048];
    char errbuf[300];

    snprintf(path, sizeof(path), "%s/p.conf", dir);
    snprintf(text, sizeof(text), "[server]\ndata_dir = %s\n%s", dir, extra);
    write_file(path, text);
    if (config_load(path, cfg, errbuf, sizeof(errbuf)) != AP_OK) {
        fail_msg("%s", errbuf);
    }
}

static void
test_bind(void **state)
{
    struct fixture *f = *state;
    struct config cfg;
    struct app app;
    struct store_txn *txn = NULL;
    char label[65];
    char why[256];
    cJSON *rec = NULL;

    load_config(&cfg, f->dir, "[team.ops]\nallow_names = .ops.test\n");
    memset(&app, 0, sizeof(app));
    app.cfg = &cfg;
    app.st = f->st;
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    put_account(txn, "N1", NULL);
    put_account(txn, "N2", NULL);
    put_account(txn, "N3", NULL);
    put(txn, STORE_EAB, "K1",
        "{\"v\":1,\"kid\":\"K1\",\"label\":\"team-k\",\"hmac\":\"x\","
        "\"created\":1,\"revoked\":0,\"accounts\":[]}");
    put(txn, STORE_EAB, "K2",
        "{\"v\":1,\"kid\":\"K2\",\"label\":\"gone\",\"hmac\":\"x\","
        "\"created\":1,\"revoked\":5,\"accounts\":[]}");
    assert_int_equal(store_commit(txn), AP_OK);

    /* To a configured team. */
    assert_int_equal(team_bind_account(&app, "N1", NULL, "ops", "t",
                                       cJSON_CreateObject(), label,
                                       sizeof(label), why, sizeof(why)),
                     AP_OK);
    assert_string_equal(label, "ops");
    /* For good: not again, not to another team. */
    assert_int_equal(team_bind_account(&app, "N1", NULL, "ops", "t",
                                       cJSON_CreateObject(), label,
                                       sizeof(label), why, sizeof(why)),
                     AP_EINVAL);
    assert_non_null(strstr(why, "already"));
    assert_int_equal(team_bind_account(&app, "A1", "K1", NULL, "t",
                                       cJSON_CreateObject(), label,
                                       sizeof(label), why, sizeof(why)),
                     AP_EINVAL);
    /* An unknown team, account or key; a revoked key. */
    assert_int_equal(team_bind_account(&app, "N2", NULL, "nosuch", "t",
                                       cJSON_CreateObject(), label,
                                       sizeof(label), why, sizeof(why)),
                     AP_EINVAL);
    assert_non_null(strstr(why, "[team.nosuch]"));
    assert_int_equal(team_bind_account(&app, "XX", NULL, "ops", "t",
                                       cJSON_CreateObject(), label,
                                       sizeof(label), why, sizeof(why)),
                     AP_ENOTFOUND);
    assert_int_equal(team_bind_account(&app, "N2", "K9", NULL, "t",
                                       cJSON_CreateObject(), label,
                                       sizeof(label), why, sizeof(why)),
                     AP_ENOTFOUND);
    assert_int_equal(team_bind_account(&app, "N2", "K2", NULL, "t",
                                       cJSON_CreateObject(), label,
                                       sizeof(label), why, sizeof(why)),
                     AP_EINVAL);
    assert_non_null(strstr(why, "revoked"));
    /* To an EAB key: the key's team, and the key lists the account. */
    assert_int_equal(team_bind_account(&app, "N2", "K1", NULL, "t",
                                       cJSON_CreateObject(), label,
                                       sizeof(label), why, sizeof(why)),
                     AP_OK);
    assert_string_equal(label, "team-k");
    assert_int_equal(store_begin(f->st, false, &txn), AP_OK);
    assert_int_equal(store_get_json(txn, STORE_ACCOUNTS, "N2", &rec), AP_OK);
    assert_string_equal(json_str(rec, "eab", ""), "K1");
    assert_string_equal(json_str(rec, "team", ""), "team-k");
    cJSON_Delete(rec);
    assert_int_equal(store_get_json(txn, STORE_ACCOUNTS, "N1", &rec), AP_OK);
    assert_string_equal(json_str(rec, "team", ""), "ops");
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "eab"));
    cJSON_Delete(rec);
    assert_int_equal(store_get_json(txn, STORE_EAB, "K1", &rec), AP_OK);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                               rec, "accounts"), 0)
                            ->valuestring,
                        "N2");
    cJSON_Delete(rec);
    store_abort(txn);
    /* [acme] eab_single_use: the key bound one account already. */
    cfg.acme.eab_single_use = true;
    assert_int_equal(team_bind_account(&app, "N3", "K1", NULL, "t",
                                       cJSON_CreateObject(), label,
                                       sizeof(label), why, sizeof(why)),
                     AP_EINVAL);
    assert_non_null(strstr(why, "eab_single_use"));
    config_fini(&cfg);
}

static void
test_webhook_sign(void **state)
{
    char out[80];

    (void)state;
    assert_int_equal(webhook_sign((const unsigned char *)"s3cret", 6,
                                  1700000000LL, "{\"event\":\"x\"}", out,
                                  sizeof(out)),
                     AP_OK);
    /* Python: hmac.new(b"s3cret", b'1700000000.{"event":"x"}', sha256) */
    assert_string_equal(out, "sha256=546f0c8c62583fbe447af526f279d1039276c2"
                             "3e82e263a32b8b71379eac5faf");
    assert_int_equal(webhook_sign((const unsigned char *)"k", 1, 1, "", out,
                                  71),
                     AP_EINVAL);
}

static bool
count_job(void *arg, const char *key, const char *val, size_t len)
{
    size_t *n = arg;

    (void)key;
    (void)val;
    (void)len;
    (*n)++;
    return true;
}

static size_t
webhook_jobs(struct store *st)
{
    struct store_txn *txn = NULL;
    size_t n = 0;

    assert_int_equal(store_begin(st, false, &txn), AP_OK);
    assert_int_equal(store_job_scan(txn, "w", count_job, &n), AP_OK);
    store_abort(txn);
    return n;
}

/* The check queues each event once per certificate and kind, for teams
 * with a webhook only. */
static void
test_webhook_check_once(void **state)
{
    struct fixture *f = *state;
    struct config cfg;
    struct app app;
    struct store_txn *txn = NULL;
    size_t n = 99;
    bool queued = true;

    load_config(&cfg, f->dir,
                "[team.team-a]\nwebhook = https://127.0.0.1:9/h\n"
                "[team.team-b]\n[oversight]\nexpiry_days = 3\n");
    memset(&app, 0, sizeof(app));
    app.cfg = &cfg;
    app.st = f->st;
    /* 8 days on, team-a has OVER and SET: overdue, and expiring within 3
     * days (2 left); team-b (EXP, ARIP) has no webhook. */
    assert_int_equal(webhook_check(&app, f->now + 8 * DAY, &n), AP_OK);
    assert_int_equal(n, 4);
    assert_int_equal(webhook_jobs(f->st), 4);
    assert_int_equal(webhook_check(&app, f->now + 8 * DAY, &n), AP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(webhook_jobs(f->st), 4);
    /* The issued event too: once. */
    assert_int_equal(store_begin(f->st, true, &txn), AP_OK);
    assert_int_equal(webhook_queue(&app, txn, WEBHOOK_ISSUED, "OK", "A1",
                                   &queued),
                     AP_OK);
    assert_true(queued);
    assert_int_equal(webhook_queue(&app, txn, WEBHOOK_ISSUED, "OK", "A1",
                                   &queued),
                     AP_OK);
    assert_false(queued);
    /* Not for a team without a webhook, nor for an account without one. */
    assert_int_equal(webhook_queue(&app, txn, WEBHOOK_ISSUED, "ARI", "B1",
                                   &queued),
                     AP_OK);
    assert_false(queued);
    assert_int_equal(webhook_queue(&app, txn, WEBHOOK_ISSUED, "LOST", "A2",
                                   &queued),
                     AP_OK);
    assert_false(queued);
    assert_int_equal(store_commit(txn), AP_OK);
    assert_int_equal(webhook_jobs(f->st), 5);
    config_fini(&cfg);
}

/* The admin command lines of this work. */
static void
test_admin_parse(void **state)
{
    const char *bind_team[] = { "accounts", "bind", "abcDEF", "--team",
                                "ops" };
    const char *bind_kid[] = { "accounts", "bind", "abcDEF", "--kid=K1" };
    const char *bind_none[] = { "accounts", "bind", "abcDEF" };
    const char *bind_both[] = { "accounts", "bind", "abcDEF", "--kid", "K1",
                                "--team", "ops" };
    const char *report[] = { "certs", "report", "--days", "30", "--csv",
                             "--at", "2027-01-01T00:00:00Z", "--team",
                             "=x" };
    const char *report_bad_days[] = { "certs", "report", "--days", "4000" };
    const char *report_bad_at[] = { "certs", "report", "--at", "tomorrow" };
    const char *report_both[] = { "certs", "report", "--csv", "--json" };
    const char *list_csv[] = { "certs", "list", "--csv" };
    struct admin_cmd cmd;
    char errbuf[200];

    (void)state;
    assert_int_equal(admin_parse(5, (char *const *)(uintptr_t)bind_team,
                                 &cmd, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(cmd.op, ADMIN_ACCOUNTS_BIND);
    assert_string_equal(cmd.team, "ops");
    assert_null(cmd.kid);
    assert_int_equal(admin_parse(4, (char *const *)(uintptr_t)bind_kid, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_string_equal(cmd.kid, "K1");
    assert_int_equal(admin_parse(3, (char *const *)(uintptr_t)bind_none,
                                 &cmd, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_int_equal(admin_parse(7, (char *const *)(uintptr_t)bind_both,
                                 &cmd, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_int_equal(admin_parse(9, (char *const *)(uintptr_t)report, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(cmd.op, ADMIN_CERTS_REPORT);
    assert_true(cmd.csv);
    assert_int_equal(cmd.days, 30);
    assert_int_equal(cmd.at, 1798761600LL);
    assert_string_equal(cmd.team, "=x");
    assert_int_equal(admin_parse(4, (char *const *)(uintptr_t)report_bad_days,
                                 &cmd, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_int_equal(admin_parse(4, (char *const *)(uintptr_t)report_bad_at,
                                 &cmd, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_int_equal(admin_parse(4, (char *const *)(uintptr_t)report_both,
                                 &cmd, errbuf, sizeof(errbuf)),
                     AP_EINVAL);
    assert_int_equal(admin_parse(3, (char *const *)(uintptr_t)list_csv, &cmd,
                                 errbuf, sizeof(errbuf)),
                     AP_EINVAL);
}

int
main(void)
{
    struct CMUnitTest tests[64];
    size_t n = 0;

    for (size_t i = 0; i < sizeof(csv_rows) / sizeof(csv_rows[0]); i++) {
        tests[n++] = (struct CMUnitTest){ "csv_field", test_csv_field, NULL,
                                          NULL,
                                          (void *)(uintptr_t)&csv_rows[i] };
    }
    for (size_t i = 0; i < sizeof(conf_rows) / sizeof(conf_rows[0]); i++) {
        tests[n++] = (struct CMUnitTest){ "team_config", test_team_config,
                                          NULL, NULL,
                                          (void *)(uintptr_t)&conf_rows[i] };
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_csv_field_cap);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(
        test_team_match_and_policy);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_report_overdue, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_report_expiring, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_report_team_and_cap, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_report_csv, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_report_empty, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_bind, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
        test_webhook_check_once, setup, teardown);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_webhook_sign);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_admin_parse);
    return _cmocka_run_group_tests("report", tests, n, NULL, NULL);
}
