/* test/unit/test_admin_auth.c: proxy/admin_auth.c, the admin API's
 * bearer tokens.
 *
 * Token files (good and bad rows: each bad row must be refused with its
 * line named and without the token in the message), Authorization values
 * (each row names the caller it must give, or none), the file's mode
 * (others may read: refused; group: accepted) through a file in a fresh
 * mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"
#include "proxy/admin_auth.h"
#include "rows.h"

#define T1 "0123456789abcdef0123456789abcdef"          /* 32: the minimum */
#define T2 "AbCdEfGhIjKlMnOpQrStUvWxYz012345-._~+/=="  /* b64token */

static const char good_file[] =
    "# tokens of the admin API\n"
    "\n"
    "ops:" T1 "\n"
    "ansible.ci:" T2 "\r\n";

/* ---- files ------------------------------------------------------------- */

struct file_row {
    const char *name;
    const char *text;
    const char *why;        /* in the error; NULL: the file is good */
};

static const struct file_row file_rows[] = {
    { "file_good", good_file, NULL },
    { "file_no_newline", "a:" T1, NULL },
    { "file_empty", "", "no token" },
    { "file_comments_only", "# nothing\n\n", "no token" },
    { "file_no_colon", T1 "\n", "line 1: not NAME:TOKEN" },
    { "file_empty_name", ":" T1 "\n", "line 1: the name" },
    { "file_name_space", "o p:" T1 "\n", "line 1: the name takes" },
    { "file_name_long",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:" T1,
      "line 1: the name must be" },
    { "file_token_short", "ops:0123456789abcdef0123456789abcde\n",
      "line 1: the token" },
    { "file_token_space", "ops:0123456789abcdef 0123456789abcdef\n",
      "line 1: the token" },
    { "file_token_colon", "ops:0123456789abcdef:0123456789abcdef\n",
      "line 1: the token" },
    { "file_token_eq_inside", "ops:0123456789abcdef=0123456789abcdef\n",
      "line 1: the token" },
    { "file_duplicate_name", "ops:" T1 "\nops:" T2 "\n",
      "line 2: name ops given twice" },
    { "file_bad_second_line", "ops:" T1 "\nci\n", "line 2:" },
};

static void
test_file(void **state)
{
    const struct file_row *r = *state;
    struct admin_tokens *t = NULL;
    char errbuf[200] = "";
    ap_err rc;

    rc = admin_tokens_parse(r->text, strlen(r->text), &t, errbuf,
                            sizeof(errbuf));
    if (r->why == NULL) {
        assert_int_equal(rc, AP_OK);
        assert_non_null(t);
    } else {
        assert_int_equal(rc, AP_ECONFIG);
        assert_null(t);
        assert_non_null(strstr(errbuf, r->why));
        /* The message never carries a token. */
        assert_null(strstr(errbuf, "0123456789abcdef"));
    }
    admin_tokens_free(t);
}

static void
test_file_too_many(void **state)
{
    char text[ADMIN_TOKENS_MAX * 48 + 64];
    struct admin_tokens *t = NULL;
    char errbuf[200] = "";
    size_t used = 0;

    (void)state;
    for (int i = 0; i <= ADMIN_TOKENS_MAX; i++) {
        used += (size_t)snprintf(text + used, sizeof(text) - used,
                                 "n%d:%s\n", i, T1);
    }
    assert_int_equal(admin_tokens_parse(text, used, &t, errbuf,
                                        sizeof(errbuf)),
                     AP_ECONFIG);
    assert_non_null(strstr(errbuf, "more than 32 tokens"));
}

/* ---- Authorization values ---------------------------------------------- */

struct check_row {
    const char *name;
    const char *value;      /* NULL: no header */
    const char *caller;     /* NULL: refused */
};

static const struct check_row check_rows[] = {
    { "check_first", "Bearer " T1, "ops" },
    { "check_second", "Bearer " T2, "ansible.ci" },
    { "check_scheme_any_case", "bEARER " T1, "ops" },
    { "check_missing", NULL, NULL },
    { "check_empty", "", NULL },
    { "check_scheme_only", "Bearer", NULL },
    { "check_scheme_space", "Bearer ", NULL },
    { "check_basic", "Basic b3BzOjAxMjM0NTY3ODlhYmNkZWY=", NULL },
    { "check_no_scheme", T1, NULL },
    { "check_two_spaces", "Bearer  " T1, NULL },
    { "check_trailing_space", "Bearer " T1 " ", NULL },
    { "check_prefix_of_token", "Bearer 0123456789abcdef0123456789abcde",
      NULL },
    { "check_token_longer", "Bearer " T1 "0", NULL },
    { "check_one_char_off", "Bearer 0123456789abcdef0123456789abcdeF",
      NULL },
    { "check_name_colon_token", "Bearer ops:" T1, NULL },
    { "check_nul_cut", "Bearer 0123456789abcdef\0" "0123456789abcdef",
      NULL },
};

static void
test_check(void **state)
{
    const struct check_row *r = *state;
    struct admin_tokens *t = NULL;
    char errbuf[200];
    const char *got;

    assert_int_equal(admin_tokens_parse(good_file, strlen(good_file), &t,
                                        errbuf, sizeof(errbuf)),
                     AP_OK);
    got = admin_tokens_check(t, r->value);
    if (r->caller == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, r->caller);
    }
    /* Without a token set nothing passes. */
    assert_null(admin_tokens_check(NULL, r->value));
    admin_tokens_free(t);
}

/* ---- the file's mode ----------------------------------------------------- */

struct mode_row {
    const char *name;
    mode_t mode;
    ap_err want;
};

static const struct mode_row mode_rows[] = {
    { "mode_0600", 0600, AP_OK },
    { "mode_0400", 0400, AP_OK },
    { "mode_0640_group_warned", 0640, AP_OK },
    { "mode_0604_others_read", 0604, AP_ECONFIG },
    { "mode_0602_others_write", 0602, AP_ECONFIG },
    { "mode_0644", 0644, AP_ECONFIG },
};

static void
test_mode(void **state)
{
    const struct mode_row *r = *state;
    char dir[] = "/tmp/test_admin_auth.XXXXXX";
    char path[64];
    char errbuf[300] = "";
    struct admin_tokens *t = NULL;
    FILE *f;
    ap_err rc;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/tokens", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(good_file, f);
    fclose(f);
    assert_int_equal(chmod(path, r->mode), 0);
    rc = admin_tokens_load(path, &t, errbuf, sizeof(errbuf));
    assert_int_equal(rc, r->want);
    if (rc == AP_OK) {
        assert_string_equal(admin_tokens_check(t, "Bearer " T2),
                            "ansible.ci");
    } else {
        assert_null(t);
        assert_non_null(strstr(errbuf, "others may read or write"));
        assert_non_null(strstr(errbuf, path));
    }
    admin_tokens_free(t);
    unlink(path);
    rmdir(dir);
}

static void
test_load_missing(void **state)
{
    struct admin_tokens *t = NULL;
    char errbuf[300] = "";

    (void)state;
    assert_int_equal(admin_tokens_load("/nonexistent/tokens", &t, errbuf,
                                       sizeof(errbuf)),
                     AP_ECONFIG);
    assert_null(t);
    assert_non_null(strstr(errbuf, "/nonexistent/tokens"));
}

int
main(void)
{
    struct test_list l = { 0 };
    int rc;

    if (crypto_init() != AP_OK) {
        return 1;
    }
    ADD_ROWS(&l, file_rows, test_file);
    ADD_ROWS(&l, check_rows, test_check);
    ADD_ROWS(&l, mode_rows, test_mode);
    add_test(&l, "file_too_many", test_file_too_many, NULL);
    add_test(&l, "load_missing", test_load_missing, NULL);
    rc = _cmocka_run_group_tests("admin_auth", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return rc;
}
