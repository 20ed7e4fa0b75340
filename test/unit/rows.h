/* test/unit/rows.h: one cmocka test per table row.
 *
 * The unit tests are table-driven (STYLE 2.12); each row becomes its own
 * named cmocka test, so a failure names the row. Header-only: every test
 * binary is one .c file linked with the project's objects. */
#ifndef AP_TEST_UNIT_ROWS_H
#define AP_TEST_UNIT_ROWS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct test_list {
    struct CMUnitTest *tests;
    size_t n;
    size_t cap;
    CMFixtureFunction setup;    /* per test, may be NULL */
    CMFixtureFunction teardown; /* per test, may be NULL */
};

/* Adds a test called name running fn with *state = row (borrowed). */
static inline void
add_test(struct test_list *l, const char *name, CMUnitTestFunction fn,
         const void *row)
{
    if (l->n == l->cap) {
        l->cap = l->cap == 0 ? 64 : l->cap * 2;
        l->tests = realloc(l->tests, l->cap * sizeof(*l->tests));
        if (l->tests == NULL) {
            abort();
        }
    }
    memset(&l->tests[l->n], 0, sizeof(l->tests[l->n]));
    l->tests[l->n].name = name;
    l->tests[l->n].test_func = fn;
    l->tests[l->n].setup_func = l->setup;
    l->tests[l->n].teardown_func = l->teardown;
    /* cmocka hands initial_state to the test as *state, read-only here. */
    memcpy(&l->tests[l->n].initial_state, &row, sizeof(row));
    l->n++;
}

#define N_ROWS(rows) (sizeof(rows) / sizeof((rows)[0]))

/* One test per row of the array rows, named by its .name member. */
#define ADD_ROWS(l, rows, fn)                                                \
    do {                                                                     \
        for (size_t i_ = 0; i_ < N_ROWS(rows); i_++) {                       \
            add_test((l), (rows)[i_].name, (fn), &(rows)[i_]);               \
        }                                                                    \
    } while (0)

#endif /* AP_TEST_UNIT_ROWS_H */
