/* test/unit/vector_file.h: reads a file of test/unit/vectors/ (the tests
 * run from the repository root; README.md there says how each file was
 * made). Header-only, for the cmocka unit tests. */
#ifndef AP_TEST_UNIT_VECTOR_FILE_H
#define AP_TEST_UNIT_VECTOR_FILE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#define VECTOR_DIR "test/unit/vectors/"

/* The bytes of VECTOR_DIR/name, NUL-terminated (not counted in *len);
 * fails the test when the file cannot be read. Caller frees. */
static inline unsigned char *
load_vector(const char *name, size_t *len)
{
    char path[256];
    unsigned char *buf;
    FILE *f;
    long size;

    assert_true(snprintf(path, sizeof(path), VECTOR_DIR "%s", name) <
                (int)sizeof(path));
    f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot open %s (run from the repository root)\n", path);
    }
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size > 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    assert_int_equal(fclose(f), 0);
    *len = (size_t)size;
    return buf;
}

#endif /* AP_TEST_UNIT_VECTOR_FILE_H */
