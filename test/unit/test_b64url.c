/* test/unit/test_b64url.c: common/b64url.c, strict unpadded base64url.
 *
 * Good rows are RFC 4648 §10 vectors (which use no '+' or '/', so they are
 * the same in the URL-safe alphabet) plus vectors that hit '-' and '_'.
 * Bad rows are every kind of input the header says decoding refuses. Every
 * table row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"

/* ---- good vectors: encode and decode ------------------------------ */

struct vec_row {
    const char *name;
    const char *raw; /* raw bytes */
    size_t raw_len;
    const char *enc;
};

#define RAW(s) s, sizeof(s) - 1

static const struct vec_row vec_rows[] = {
    { "RFC 4648 empty", RAW(""), "" },
    { "RFC 4648 f", RAW("f"), "Zg" },
    { "RFC 4648 fo", RAW("fo"), "Zm8" },
    { "RFC 4648 foo", RAW("foo"), "Zm9v" },
    { "RFC 4648 foob", RAW("foob"), "Zm9vYg" },
    { "RFC 4648 fooba", RAW("fooba"), "Zm9vYmE" },
    { "RFC 4648 foobar", RAW("foobar"), "Zm9vYmFy" },
    /* Standard alphabet "+/8=" becomes "-_8" in the URL-safe one. */
    { "url-safe fb ff", RAW("\xfb\xff"), "-_8" },
    { "url-safe fb ef be", RAW("\xfb\xef\xbe"), "----" },
    { "url-safe ff ff ff", RAW("\xff\xff\xff"), "____" },
    { "NUL bytes", RAW("\0\0\0\0"), "AAAAAA" },
};

static void
test_vector(void **state)
{
    const struct vec_row *row = *state;
    char enc[64];
    unsigned char dec[64];
    unsigned char *alloc = NULL;
    char *enc_alloc;
    size_t used = 999;
    size_t alloc_len = 999;

    /* Encode into an exact-size buffer. */
    assert_int_equal(b64url_encoded_size(row->raw_len), strlen(row->enc) + 1);
    memset(enc, 'x', sizeof(enc));
    assert_int_equal(b64url_encode(row->raw, row->raw_len, enc,
                                   b64url_encoded_size(row->raw_len)),
                     AP_OK);
    assert_string_equal(enc, row->enc);
    enc_alloc = b64url_encode_alloc(row->raw, row->raw_len);
    assert_non_null(enc_alloc);
    assert_string_equal(enc_alloc, row->enc);
    free(enc_alloc);

    /* Decode into an exact-size buffer. */
    memset(dec, 0xee, sizeof(dec));
    assert_int_equal(b64url_decode(row->enc, strlen(row->enc), dec,
                                   row->raw_len, &used),
                     AP_OK);
    assert_int_equal(used, row->raw_len);
    assert_memory_equal(dec, row->raw, row->raw_len);
    assert_int_equal(b64url_decode_alloc(row->enc, strlen(row->enc), &alloc,
                                         &alloc_len),
                     AP_OK);
    assert_non_null(alloc);
    assert_int_equal(alloc_len, row->raw_len);
    assert_memory_equal(alloc, row->raw, row->raw_len);
    assert_int_equal(alloc[alloc_len], '\0');
    free(alloc);
}

/* ---- bad input: decoding refuses ---------------------------------- */

struct bad_row {
    const char *name;
    const char *in;
    size_t in_len; /* explicit: some rows hold a NUL */
};

static const struct bad_row bad_rows[] = {
    { "padding Zg==", RAW("Zg==") },
    { "padding Zm8=", RAW("Zm8=") },
    { "lone =", RAW("=") },
    { "= inside", RAW("Zm=v") },
    { "standard alphabet +", RAW("+_8A") },
    { "standard alphabet /", RAW("-/8A") },
    { "space inside", RAW("Zm 9v") },
    { "leading space", RAW(" Zm9") },
    { "trailing newline", RAW("Zm9\n") },
    { "CRLF inside", RAW("Zm\r\n9v") },
    { "tab inside", RAW("Zm\t9") },
    { "length 1", RAW("Z") },
    { "length 5", RAW("Zm9vY") },
    { "length 9", RAW("Zm9vYmFyZ") },
    { "trailing bits QR (QQ is A)", RAW("QR") },
    { "trailing bits Zh (Zg is f)", RAW("Zh") },
    { "trailing bits Zm9 (Zm8 is fo)", RAW("Zm9") },
    { "trailing bits -_9", RAW("-_9") },
    { "NUL inside", RAW("Zm\0v") },
    { "NUL at the end", RAW("Zm9\0") },
    { "dot", RAW("Zm9v.") },
    { "non-ASCII byte", RAW("Zm\xc3\xa9") },
    { "high byte 0xff", RAW("Zm9\xff") },
    /* In each place of a whole group of four, with groups after it. */
    { "dot 1st of a group", RAW("Zm9v.mFyYmF6") },
    { "dot 2nd of a group", RAW("Zm9vY.FyYmF6") },
    { "dot 3rd of a group", RAW("Zm9vYm.yYmF6") },
    { "dot 4th of a group", RAW("Zm9vYmF.YmF6") },
    { "0x80 in the last whole group", RAW("Zm9vYmFyYmF\x80") },
};

static void
test_bad(void **state)
{
    const struct bad_row *row = *state;
    unsigned char dec[64];
    unsigned char *alloc = (unsigned char *)"untouched";
    size_t alloc_len = 12345;
    size_t used = 0;

    assert_int_equal(b64url_decode(row->in, row->in_len, dec, sizeof(dec),
                                   &used),
                     AP_EPARSE);
    assert_int_equal(b64url_decode_alloc(row->in, row->in_len, &alloc,
                                         &alloc_len),
                     AP_EPARSE);
    /* *out is set only on AP_OK. */
    assert_string_equal((const char *)alloc, "untouched");
    assert_int_equal(alloc_len, 12345);
}

/* ---- output buffers too small ------------------------------------- */

struct small_row {
    const char *name;
    const char *raw;
    size_t raw_len;
    const char *enc;
};

static const struct small_row small_rows[] = {
    { "6 bytes", RAW("foobar"), "Zm9vYmFy" },
    { "5 bytes", RAW("fooba"), "Zm9vYmE" },
    { "1 byte", RAW("f"), "Zg" },
};

static void
test_small(void **state)
{
    const struct small_row *row = *state;
    size_t need = b64url_encoded_size(row->raw_len);
    char enc[64];
    unsigned char dec[64];
    size_t used = 0;

    /* Encoding: one byte short (no room for the NUL), and zero. */
    assert_int_equal(b64url_encode(row->raw, row->raw_len, enc, need - 1),
                     AP_ETOOBIG);
    assert_int_equal(b64url_encode(row->raw, row->raw_len, enc, 0),
                     AP_ETOOBIG);
    assert_int_equal(b64url_encode(row->raw, row->raw_len, enc, need),
                     AP_OK);
    /* Decoding: one byte short, and zero. */
    assert_int_equal(b64url_decode(row->enc, strlen(row->enc), dec,
                                   row->raw_len - 1, &used),
                     AP_ETOOBIG);
    assert_int_equal(b64url_decode(row->enc, strlen(row->enc), dec, 0,
                                   &used),
                     AP_ETOOBIG);
    assert_int_equal(b64url_decode(row->enc, strlen(row->enc), dec,
                                   row->raw_len, &used),
                     AP_OK);
    assert_int_equal(used, row->raw_len);
}

static void
test_encoded_size(void **state)
{
    (void)state;
    assert_int_equal(b64url_encoded_size(0), 1);
    assert_int_equal(b64url_encoded_size(1), 3);
    assert_int_equal(b64url_encoded_size(2), 4);
    assert_int_equal(b64url_encoded_size(3), 5);
    assert_int_equal(b64url_encoded_size(32), 44);
    assert_int_equal(b64url_encoded_size(100), 135);
}

/* A character outside the alphabet is the answer before a buffer that is
 * too small, wherever it is. */
static void
test_bad_before_small(void **state)
{
    unsigned char dec[2];
    size_t used = 0;

    (void)state;
    assert_int_equal(b64url_decode("Zm9vYmF.", 8, dec, sizeof(dec), &used),
                     AP_EPARSE);
    assert_int_equal(b64url_decode(".m9vYmFy", 8, dec, sizeof(dec), &used),
                     AP_EPARSE);
    assert_int_equal(b64url_decode("Zm9vYmFy", 8, dec, sizeof(dec), &used),
                     AP_ETOOBIG);
}

/* Decoding into a buffer that is too small writes nothing past it. */
static void
test_decode_no_overrun(void **state)
{
    unsigned char dec[8];
    size_t used = 0;

    (void)state;
    memset(dec, 0xa5, sizeof(dec));
    assert_int_equal(b64url_decode("Zm9vYmFy", 8, dec, 4, &used), AP_ETOOBIG);
    assert_int_equal(dec[4], 0xa5);
    assert_int_equal(dec[5], 0xa5);
}

/* ---- round trips of lengths 0..100 -------------------------------- */

static void
test_round_trips(void **state)
{
    unsigned char raw[101];
    unsigned char back[101];
    unsigned char *alloc;
    char *enc;
    size_t used;
    size_t alloc_len;
    size_t len;
    size_t i;

    (void)state;
    srand(4648);
    for (len = 0; len <= 100; len++) {
        for (i = 0; i < len; i++) {
            raw[i] = (unsigned char)(rand() & 0xff);
        }
        /* Force the extremes of the alphabet into some rows. */
        if (len % 7 == 3) {
            memset(raw, 0xff, len);
        }
        enc = b64url_encode_alloc(raw, len);
        assert_non_null(enc);
        assert_int_equal(strlen(enc) + 1, b64url_encoded_size(len));
        assert_int_not_equal(strlen(enc) % 4, 1);
        assert_null(strpbrk(enc, "=+/ \n"));
        used = 999;
        assert_int_equal(b64url_decode(enc, strlen(enc), back, len, &used),
                         AP_OK);
        assert_int_equal(used, len);
        assert_memory_equal(back, raw, len);
        alloc = NULL;
        assert_int_equal(b64url_decode_alloc(enc, strlen(enc), &alloc,
                                             &alloc_len),
                         AP_OK);
        assert_int_equal(alloc_len, len);
        assert_memory_equal(alloc, raw, len);
        free(alloc);
        free(enc);
    }
}

/* Every one of the 64 characters, as the last of two, decodes only when
 * its low 4 bits are zero: one accepted encoding per byte. */
static void
test_canonical_last_char(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char dec[4];
    char in[3] = "Q?";
    size_t used;
    int accepted = 0;
    int i;

    (void)state;
    for (i = 0; i < 64; i++) {
        in[1] = alphabet[i];
        if (b64url_decode(in, 2, dec, sizeof(dec), &used) == AP_OK) {
            accepted++;
            assert_int_equal(i & 0x0f, 0);
            assert_int_equal(used, 1);
        }
    }
    assert_int_equal(accepted, 4);
}

/* ---- runner -------------------------------------------------------- */


int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(bad_rows) >= N_ROWS(vec_rows),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, vec_rows, test_vector);
    ADD_ROWS(&l, bad_rows, test_bad);
    ADD_ROWS(&l, small_rows, test_small);
    add_test(&l, "encoded size", test_encoded_size, NULL);
    add_test(&l, "bad character before size", test_bad_before_small, NULL);
    add_test(&l, "decode does not overrun", test_decode_no_overrun, NULL);
    add_test(&l, "round trips 0..100", test_round_trips, NULL);
    add_test(&l, "canonical last character", test_canonical_last_char, NULL);

    failed = _cmocka_run_group_tests("b64url", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
