/* test/unit/test_val_deadline.c: one deadline per validation attempt
 * covers every DNS query (issue 10, finding 4).
 *
 * Each row runs a validator (dns-01, http-01, tls-alpn-01) with
 * [validation] resolver pointing at a DNS server this test starts on
 * 127.0.0.1 (test/unit/dnsstub.h): a black hole that reads queries and
 * never answers, or an authoritative-style server whose every answer is
 * one more CNAME hop, each hop slow. The attempt must fail with a dns
 * problem that says the deadline passed, no later than the attempt's
 * timeout_ms plus a margin, and (for the chain) only after hops were
 * asked right up to the deadline. Every row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/dnsstub.h"
#include "test/unit/rows.h"

#include "common/config.h"
#include "common/httpc.h"
#include "common/netpolicy.h"
#include "common/timeutil.h"
#include "proxy/validate.h"

#define DEADLINE_MS 1200
#define MARGIN_MS 600      /* scheduling on a busy machine, ASan */
#define HOP_DELAY_MS 250   /* each CNAME hop of the slow chain */

struct row {
    const char *name;
    const char *type;        /* challenge type */
    const char *ident;       /* a DNS identifier */
    bool blackhole;          /* else the slow CNAME chain */
};

static const struct row rows[] = {
    { "dns-01, black-hole resolver", "dns-01", "a.test", true },
    { "http-01, black-hole resolver", "http-01", "a.test", true },
    { "tls-alpn-01, black-hole resolver", "tls-alpn-01", "a.test", true },
    { "dns-01, slow CNAME chain", "dns-01", "x.chain.test", false },
    { "http-01, slow CNAME chain", "http-01", "x.chain.test", false },
};

static void
test_row(void **state)
{
    const struct row *r = *state;
    const struct validator_ops *ops = validator_find(r->type);
    struct netpolicy *policy = calloc(1, sizeof(*policy));
    struct config cfg;
    struct dnsstub dns;
    struct val_input in;
    struct val_outcome out;
    char resolver[64];
    char err[200];
    long long t0;
    long long took;

    assert_non_null(ops);
    assert_non_null(policy);
    assert_int_equal(netpolicy_init(policy, "", NETPOLICY_DEFAULT_DENY, err,
                                    sizeof(err)),
                     AP_OK);
    assert_int_equal(dnsstub_start(&dns, r->blackhole,
                                   r->blackhole ? 0 : HOP_DELAY_MS),
                     0);
    snprintf(resolver, sizeof(resolver), "127.0.0.1:%u", dns.port);
    memset(&cfg, 0, sizeof(cfg));
    cfg.validation.resolver = resolver;
    cfg.validation.http_port = 9;   /* never reached: DNS fails first */
    cfg.validation.tls_port = 9;
    cfg.validation.timeout_ms = DEADLINE_MS;
    cfg.validation.max_body = 4096;
    memset(&in, 0, sizeof(in));
    memset(&out, 0, sizeof(out));
    in.cfg = &cfg;
    in.policy = policy;
    in.ident_type = "dns";
    in.name = r->ident;
    in.token = "tok";
    in.keyauth = "tok.thumb";
    t0 = time_mono_ms();
    in.deadline_ms = t0 + DEADLINE_MS;
    ops->run(&in, &out);
    took = time_mono_ms() - t0;
    dnsstub_stop(&dns);
    print_message("%s: %lld ms, %d queries: %s\n", r->name, took,
                  atomic_load(&dns.queries), out.detail);
    assert_true(took <= DEADLINE_MS + MARGIN_MS);
    assert_false(out.valid);
    assert_int_equal(out.problem, PROB_DNS);
    assert_non_null(strstr(out.detail, "deadline"));
    if (!r->blackhole) {
        /* The chain was followed until the deadline, not cut short. */
        assert_true(took >= DEADLINE_MS - 50);
        assert_true(atomic_load(&dns.queries) >= 3);
    }
    cJSON_Delete(out.evidence);
    free(policy);
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    if (httpc_global_init() != AP_OK) {
        return 1;
    }
    ADD_ROWS(&l, rows, test_row);
    failed = _cmocka_run_group_tests("val_deadline", l.tests, l.n, NULL,
                                     NULL);
    free(l.tests);
    httpc_global_fini();
    return failed;
}
