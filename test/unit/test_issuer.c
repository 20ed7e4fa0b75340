/* test/unit/test_issuer.c: the issuer's wait before the next try after a
 * transient failure (issuer_retry_delay_ms): backoff, Retry-After, jitter,
 * and retry_timeout as a deadline (issue 19: with retry_timeout = 20 an
 * order went invalid only after 26-32 s, a try being sent after the 20 s;
 * no try may start after it, and the last wait is cut to it). And which
 * submissions go out without a durable pkiInflight note first
 * (issuer_note_first, issue 18): only the embedded CA's, and only when
 * no earlier answer was lost. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test/unit/rows.h"

#include <string.h>

#include "adapters/adapter.h"
#include "proxy/issuer.h"

struct delay_row {
    const char *name;
    unsigned attempts;
    unsigned retry_after;
    long long now_ms;
    long long deadline_ms;
    unsigned jitter;
    long long want;
};

static const struct delay_row good[] = {
    { "first retry waits 1 s", 0, 0, 0, 3600000, 1000, 1000 },
    { "backoff doubles", 3, 0, 0, 3600000, 1000, 8000 },
    { "backoff stops at 300 s", 12, 0, 0, 3600000, 1000, 300000 },
    { "Retry-After longer than the backoff wins", 1, 50, 0, 3600000, 1000,
      50000 },
    { "jitter down", 2, 0, 0, 3600000, 800, 3200 },
    { "jitter up", 2, 0, 0, 3600000, 1200, 4800 },
};

static const struct delay_row bad[] = {
    { "never below 1 s", 0, 0, 0, 3600000, 800, 1000 },
    { "last wait cut to 1 s before the deadline", 4, 0, 10000, 20000, 1000,
      9000 },
    { "Retry-After cut to the deadline too", 0, 600, 0, 20000, 1000, 19000 },
    { "a wait shorter than the room is kept", 3, 0, 10000, 20000, 1000,
      8000 },
    { "less than a second of room: give up", 0, 0, 19500, 20000, 1000, -1 },
    { "exactly the margin: give up", 0, 0, 19000, 20000, 1000, -1 },
    { "past the deadline: give up", 0, 0, 25000, 20000, 1000, -1 },
    { "huge attempt counts stay at 300 s", 4000000000u, 0, 0, 3600000, 1000,
      300000 },
};

static void
test_delay(void **state)
{
    const struct delay_row *r = *state;
    long long got = issuer_retry_delay_ms(r->attempts, r->retry_after,
                                          r->now_ms, r->deadline_ms,
                                          r->jitter);

    if (got != r->want) {
        print_error("%s: %lld, want %lld\n", r->name, got, r->want);
    }
    assert_int_equal(got, r->want);
}

/* An order failing for good with retry_timeout = 20 s, each try taking
 * 300 ms: every try starts before the deadline (with the margin), and the
 * order is given up at the deadline, not after the next backoff. */
static void
test_deadline_sequence(void **state)
{
    const long long deadline = 20000;
    long long t = 0;
    long long d;
    unsigned attempts = 0;
    unsigned tries = 1;

    (void)state;
    for (;;) {
        t += 300;                   /* the try itself */
        d = issuer_retry_delay_ms(attempts, 0, t, deadline, 1000);
        if (d < 0) {
            break;
        }
        assert_true(d >= 1000 || t + d == deadline - ISSUER_DEADLINE_MARGIN_MS);
        t += d;                     /* the next try starts here */
        assert_true(t <= deadline - ISSUER_DEADLINE_MARGIN_MS);
        attempts++;
        tries++;
        assert_true(tries < 100);
    }
    /* Given up within a try and the margin of the deadline. */
    assert_true(t <= deadline);
    assert_true(t >= deadline - ISSUER_DEADLINE_MARGIN_MS - 300);
    /* 1, 2, 4, 8 s, then the rest cut: 6 tries. */
    assert_int_equal(tries, 6);
}

/* Only an adapter whose submit changes nothing outside the process may
 * skip the note: every PKI reached over the network keeps it. */
static void
test_note_first(void **state)
{
    static const char *const remote[] = { "ejbca", "vault", "adcs",
                                          "stepca", "rest", "exec" };
    const struct adapter_ops *local = adapter_find("local");

    (void)state;
    assert_non_null(local);
    assert_true((local->caps & ADAPTER_CAP_IN_PROCESS) != 0);
    assert_false(issuer_note_first(local->caps, false));
    assert_true(issuer_note_first(local->caps, true));
    for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++) {
        const struct adapter_ops *a = adapter_find(remote[i]);

        assert_non_null(a);
        if ((a->caps & ADAPTER_CAP_IN_PROCESS) != 0) {
            print_error("%s claims ADAPTER_CAP_IN_PROCESS\n", remote[i]);
        }
        assert_true((a->caps & ADAPTER_CAP_IN_PROCESS) == 0);
        assert_true(issuer_note_first(a->caps, false));
        assert_true(issuer_note_first(a->caps, true));
    }
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(bad) >= N_ROWS(good),
                   "bad table at least as long as the good one");
    for (size_t i = 0; i < N_ROWS(good); i++) {
        add_test(&l, good[i].name, test_delay, &good[i]);
    }
    for (size_t i = 0; i < N_ROWS(bad); i++) {
        add_test(&l, bad[i].name, test_delay, &bad[i]);
    }
    add_test(&l, "retry_timeout 20 s: no try after it", test_deadline_sequence,
             NULL);
    add_test(&l, "only the embedded CA submits before the in-flight note",
             test_note_first, NULL);
    failed = _cmocka_run_group_tests("issuer", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
