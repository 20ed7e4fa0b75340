/* test/unit/test_id.c: common/id.c, time-ordered ids, random ids and
 * tokens.
 *
 * Rows: the time part of known clocks (the encoding spelled out), pairs of
 * clocks whose ids must sort in clock order whatever their random parts,
 * the form of every kind of identifier (length, alphabet, no leading '-'),
 * uniqueness within one millisecond, id_new reading the wall clock, and
 * buffers one byte short. Every table row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/crypto.h"
#include "common/id.h"

#define B64URL_CHARS                                                         \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define DRAWS 200   /* random parts tried per row */

static long long
wall_ms(void)
{
    struct timespec ts;

    assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The form every id_new / id_new_at result has. */
static void
assert_id_form(const char *id)
{
    assert_int_equal(strlen(id), ID_LEN);
    assert_int_equal(strspn(id, B64URL_CHARS), ID_LEN);
    assert_true(id[0] != '-');
    assert_true(id_is_valid(id));
}

/* ---- the time part of known clocks -------------------------------- */

struct time_row {
    const char *name;
    long long ms;
    const char *time_part;  /* the first ID_TIME_LEN characters */
};

static const struct time_row time_rows[] = {
    { "time part of 0", 0, "V-------" },
    { "time part of 1 ms", 1, "V------0" },
    { "time part of 63 ms", 63, "V------z" },
    { "time part of 64 ms (a carry)", 64, "V-----0-" },
    { "time part of 2026-11-29", 1796000000000LL, "VP7dwHV-" },
    { "time part of 2^42 - 1 ms (2109)", (1LL << 42) - 1, "Vzzzzzzz" },
    { "time part of 2^42 ms", 1LL << 42, "W-------" },
    { "time part of 2^47 - 1 ms (the last)", (1LL << 47) - 1, "zzzzzzzz" },
    { "time part of 2^47 ms wraps to 0", 1LL << 47, "V-------" },
    { "time part of a negative clock is 0", -5, "V-------" },
};

static void
test_time_part(void **state)
{
    const struct time_row *row = *state;
    char id[ID_LEN + 1];

    for (int i = 0; i < DRAWS; i++) {
        assert_int_equal(id_new_at(row->ms, id, sizeof(id)), AP_OK);
        assert_id_form(id);
        assert_memory_equal(id, row->time_part, ID_TIME_LEN);
    }
}

/* ---- ordering ------------------------------------------------------ */

struct order_row {
    const char *name;
    long long early;
    long long late;
};

static const struct order_row order_rows[] = {
    { "0 ms before 1 ms", 0, 1 },
    { "63 ms before 64 ms", 63, 64 },
    { "one millisecond in 2026", 1796000000000LL, 1796000000001LL },
    { "one second in 2026", 1796000000000LL, 1796000001000LL },
    { "a digit's carry in 2026", 1796000000063LL, 1796000000064LL },
    { "2026 before 2027", 1796000000000LL, 1830000000000LL },
    { "2^42 - 1 before 2^42", (1LL << 42) - 1, 1LL << 42 },
    { "2^47 - 2 before 2^47 - 1", (1LL << 47) - 2, (1LL << 47) - 1 },
};

/* Every id of the later clock sorts after every id of the earlier one. */
static void
test_order(void **state)
{
    const struct order_row *row = *state;
    char a[ID_LEN + 1];
    char b[ID_LEN + 1];

    for (int i = 0; i < DRAWS; i++) {
        assert_int_equal(id_new_at(row->early, a, sizeof(a)), AP_OK);
        assert_int_equal(id_new_at(row->late, b, sizeof(b)), AP_OK);
        assert_true(strcmp(a, b) < 0);
        assert_true(memcmp(a, b, ID_TIME_LEN) < 0);
    }
}

/* A run of clocks over four digits' carries: each id sorts after the
 * last, and after every earlier clock's id. */
static void
test_order_run(void **state)
{
    char prev[ID_LEN + 1];
    char id[ID_LEN + 1];
    long long base = 1796000000000LL - 3;

    (void)state;
    assert_int_equal(id_new_at(base, prev, sizeof(prev)), AP_OK);
    for (long long ms = base + 1; ms < base + 300000; ms += 7) {
        assert_int_equal(id_new_at(ms, id, sizeof(id)), AP_OK);
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof(id));
    }
}

/* ---- uniqueness and the clock -------------------------------------- */

static int
cmp_ids(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* 10,000 ids of one millisecond: same time part, all different. */
static void
test_unique_same_ms(void **state)
{
    enum { N = 10000 };
    char (*ids)[ID_LEN + 1] = calloc(N, sizeof(*ids));

    (void)state;
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        assert_int_equal(id_new_at(1796000000000LL, ids[i], sizeof(ids[i])),
                         AP_OK);
        assert_id_form(ids[i]);
        assert_memory_equal(ids[i], "VP7dwHV-", ID_TIME_LEN);
    }
    qsort(ids, N, sizeof(*ids), cmp_ids);
    for (int i = 1; i < N; i++) {
        assert_true(strcmp(ids[i - 1], ids[i]) < 0);
    }
    free(ids);
}

/* id_new reads the wall clock: its time part lies between those of the
 * clock read before and after it, and ids made later sort later. */
static void
test_new_uses_clock(void **state)
{
    char lo[ID_LEN + 1];
    char hi[ID_LEN + 1];
    char id[ID_LEN + 1];
    char next[ID_LEN + 1];
    struct timespec pause = { 0, 3000000 };

    (void)state;
    assert_int_equal(id_new_at(wall_ms(), lo, sizeof(lo)), AP_OK);
    assert_int_equal(id_new(id, sizeof(id)), AP_OK);
    assert_int_equal(id_new_at(wall_ms(), hi, sizeof(hi)), AP_OK);
    assert_id_form(id);
    assert_true(memcmp(lo, id, ID_TIME_LEN) <= 0);
    assert_true(memcmp(id, hi, ID_TIME_LEN) <= 0);
    assert_int_equal(nanosleep(&pause, NULL), 0);
    assert_int_equal(id_new(next, sizeof(next)), AP_OK);
    assert_true(strcmp(id, next) < 0);
}

/* ---- random ids, tokens, short buffers ----------------------------- */

static void
test_random_form(void **state)
{
    char id[ID_RANDOM_LEN + 1];
    char other[ID_RANDOM_LEN + 1];

    (void)state;
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(id_random(id, sizeof(id)), AP_OK);
        assert_int_equal(strlen(id), ID_RANDOM_LEN);
        assert_int_equal(strspn(id, B64URL_CHARS), ID_RANDOM_LEN);
        assert_true(id[0] != '-');
        assert_true(id_is_valid(id));
    }
    assert_int_equal(id_random(other, sizeof(other)), AP_OK);
    assert_string_not_equal(id, other);
}

static void
test_token_form(void **state)
{
    char tok[TOKEN_LEN + 1];

    (void)state;
    assert_int_equal(id_token(tok, sizeof(tok)), AP_OK);
    assert_int_equal(strlen(tok), TOKEN_LEN);
    assert_int_equal(strspn(tok, B64URL_CHARS), TOKEN_LEN);
}

struct short_row {
    const char *name;
    int kind;       /* 0 id_new, 1 id_new_at, 2 id_random, 3 id_token */
    size_t len;     /* a buffer one byte short */
};

static const struct short_row short_rows[] = {
    { "id_new, buffer one byte short", 0, ID_LEN },
    { "id_new_at, buffer one byte short", 1, ID_LEN },
    { "id_new_at, a buffer of the time part", 1, ID_TIME_LEN + 1 },
    { "id_random, buffer one byte short", 2, ID_RANDOM_LEN },
    { "id_token, buffer one byte short", 3, TOKEN_LEN },
};

static void
test_short(void **state)
{
    const struct short_row *row = *state;
    char buf[64];
    ap_err rc = AP_OK;

    switch (row->kind) {
    case 0: rc = id_new(buf, row->len); break;
    case 1: rc = id_new_at(1796000000000LL, buf, row->len); break;
    case 2: rc = id_random(buf, row->len); break;
    default: rc = id_token(buf, row->len); break;
    }
    assert_int_equal(rc, AP_ETOOBIG);
}

/* id_new_seq: ids made one after the other sort in that order, each a
 * millisecond after the last while the clock has not passed it; a
 * sequence ahead of the clock by less than ID_SEQ_AHEAD_MS goes on from
 * its last; one further ahead (a clock set back) follows the clock; the
 * random part is drawn whole every time. */
static void
test_seq(void **state)
{
    struct id_seq seq = ID_SEQ_INIT;
    char id[ID_LEN + 1];
    char before[ID_LEN + 1];
    char at[ID_LEN + 1];
    long long now;

    (void)state;
    assert_int_equal(id_new_seq(&seq, before, sizeof(before)), AP_OK);
    assert_int_equal(strlen(before), ID_LEN);
    now = seq.last_ms;
    assert_true(now > 0);
    for (int i = 0; i < 1000; i++) {
        long long last = seq.last_ms;

        assert_int_equal(id_new_seq(&seq, id, sizeof(id)), AP_OK);
        assert_true(strcmp(id, before) > 0);
        assert_true(seq.last_ms > last);
        memcpy(before, id, sizeof(before));
    }
    /* 1000 ids in less than a second ran ahead of the clock, by 1 each */
    assert_true(seq.last_ms >= now + 1000);
    /* ahead of the clock by less than ID_SEQ_AHEAD_MS: on from the last */
    now = wall_ms();
    seq.last_ms = now + ID_SEQ_AHEAD_MS / 2;
    assert_int_equal(id_new_seq(&seq, id, sizeof(id)), AP_OK);
    assert_true(seq.last_ms == now + ID_SEQ_AHEAD_MS / 2 + 1);
    assert_int_equal(id_new_at(seq.last_ms, at, sizeof(at)), AP_OK);
    assert_memory_equal(id, at, ID_TIME_LEN);
    /* further ahead (the clock was set back): the clock again */
    seq.last_ms = now + 10 * ID_SEQ_AHEAD_MS;
    assert_int_equal(id_new_seq(&seq, id, sizeof(id)), AP_OK);
    assert_true(seq.last_ms >= now && seq.last_ms < now + ID_SEQ_AHEAD_MS / 2);
    /* the random part: two ids of one millisecond differ there */
    seq.last_ms = now + ID_SEQ_AHEAD_MS / 2;
    assert_int_equal(id_new_seq(&seq, id, sizeof(id)), AP_OK);
    seq.last_ms -= 1;
    assert_int_equal(id_new_seq(&seq, at, sizeof(at)), AP_OK);
    assert_memory_equal(id, at, ID_TIME_LEN);
    assert_true(memcmp(id + ID_TIME_LEN, at + ID_TIME_LEN,
                       ID_LEN - ID_TIME_LEN) != 0);
    assert_int_equal(id_new_seq(&seq, id, 4), AP_ETOOBIG);
}

/* ---- runner -------------------------------------------------------- */

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    if (crypto_init() != AP_OK) {
        fprintf(stderr, "test_id: crypto_init failed\n");
        return 1;
    }
    ADD_ROWS(&l, time_rows, test_time_part);
    ADD_ROWS(&l, order_rows, test_order);
    ADD_ROWS(&l, short_rows, test_short);
    add_test(&l, "ids of a run of clocks sort in clock order",
             test_order_run, NULL);
    add_test(&l, "10,000 ids of one millisecond are unique",
             test_unique_same_ms, NULL);
    add_test(&l, "id_new reads the wall clock", test_new_uses_clock, NULL);
    add_test(&l, "id_random: 22 characters, no leading '-'",
             test_random_form, NULL);
    add_test(&l, "id_token: 43 characters", test_token_form, NULL);
    add_test(&l, "id_new_seq: after the last id of its sequence", test_seq,
             NULL);

    failed = _cmocka_run_group_tests("id", l.tests, l.n, NULL, NULL);
    free(l.tests);
    crypto_fini();
    return failed;
}
