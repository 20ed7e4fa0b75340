/* test/unit/test_issue_check.c: proxy/issue_check.c, the extendedKeyUsage
 * a CSR may ask for under the order's profile (issue_csr_eku_ok): one
 * row per profile kind and request; a refusal names the profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "common/config.h"
#include "common/csr.h"
#include "proxy/issue_check.h"
#include "rows.h"

#define S CRYPTO_CSR_EKU_SERVER
#define C CRYPTO_CSR_EKU_CLIENT

struct eku_row {
    const char *name;
    const char *profile;    /* NULL: the order has none */
    unsigned eku;
    bool ok;
};

static const struct eku_row eku_rows[] = {
    { "no_profile_both", NULL, S | C, true },
    { "no_profile_server", NULL, S, true },
    { "server_profile_both", "server", S | C, true },
    { "server_profile_client", "server", C, true },
    { "client_profile_client", "client", C, true },
    { "client_profile_none", "client", 0, true },
    { "client_profile_server", "client", S, false },
    { "client_profile_both", "client", S | C, false },
    /* A profile no longer configured counts as a server profile. */
    { "gone_profile_server", "gone", S, true },
};

static void
test_eku(void **state)
{
    const struct eku_row *r = *state;
    struct config cfg;
    char name_s[] = "server";
    char name_c[] = "client";
    char why[200] = "";

    memset(&cfg, 0, sizeof(cfg));
    cfg.profiles[0].name = name_s;
    cfg.profiles[0].tls_server = true;
    cfg.profiles[1].name = name_c;
    cfg.profiles[1].tls_server = false;
    cfg.n_profiles = 2;
    assert_int_equal(issue_csr_eku_ok(&cfg, r->profile, r->eku, why,
                                      sizeof(why)),
                     r->ok);
    if (!r->ok) {
        assert_non_null(strstr(why, "profile client"));
        assert_non_null(strstr(why, "clientAuth only"));
    }
}

int
main(void)
{
    struct test_list l = { 0 };
    int rc;

    ADD_ROWS(&l, eku_rows, test_eku);
    rc = _cmocka_run_group_tests("issue_check", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return rc;
}
