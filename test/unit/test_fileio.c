/* test/unit/test_fileio.c: common/fileio.c, the capped whole-file reader.
 *
 * Each row makes one path in a fresh mkdtemp directory (a file of some
 * size, a directory, a symbolic link, a FIFO, nothing) and reads it with
 * a cap and flags: a file at its cap is read whole, one byte over is
 * AP_ETOOBIG (never a shortened read), and what is not a regular file is
 * refused without waiting. Files of /proc, whose size fstat gives as 0,
 * exercise the growing read and its cap.
 *
 * FILEIO_SECRET: this binary is linked with -Wl,--wrap=free, so every
 * free passes through check_free(), which looks for a watched text in the
 * block about to be released; a secret read must leave no unwiped copy,
 * also when the buffer grew or the read was refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test/unit/rows.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"

void __real_free(void *p);
void __wrap_free(void *p);

static const char *watch; /* text no freed block may hold, or NULL */
static unsigned unwiped;

void
__wrap_free(void *p)
{
    if (p != NULL && watch != NULL &&
        memmem(p, malloc_usable_size(p), watch, strlen(watch)) != NULL) {
        unwiped++;
    }
    __real_free(p);
}

enum kind {
    K_FILE,        /* a regular file of size bytes */
    K_NONE,        /* nothing at the path */
    K_NO_DIR,      /* the path's directory does not exist */
    K_DIR,         /* a directory */
    K_LINK,        /* a symbolic link to a regular file of size bytes */
    K_LINK_DANGLING, /* a symbolic link to nothing */
    K_FIFO,        /* a FIFO nobody writes to */
    K_PROC,        /* /proc/self/status: fstat says 0 bytes */
};

struct row {
    const char *name;
    enum kind kind;
    size_t size;      /* K_FILE, K_LINK */
    size_t cap;
    unsigned flags;
    ap_err want;
};

static const struct row good[] = {
    { "exactly at the cap", K_FILE, 100, 100, 0, AP_OK },
    { "under the cap", K_FILE, 99, 100, 0, AP_OK },
    { "empty file", K_FILE, 0, 100, 0, AP_OK },
    { "empty file, cap 0", K_FILE, 0, 0, 0, AP_OK },
    { "one byte, cap 1", K_FILE, 1, 1, 0, AP_OK },
    { "large file at its cap", K_FILE, 300000, 300000, 0, AP_OK },
    { "symbolic link followed", K_LINK, 10, 100, 0, AP_OK },
    { "secret at the cap", K_FILE, 64, 64, FILEIO_SECRET, AP_OK },
    { "/proc file grows past fstat's size", K_PROC, 0, 1 << 20, 0, AP_OK },
};

static const struct row bad[] = {
    { "one byte over the cap", K_FILE, 101, 100, 0, AP_ETOOBIG },
    { "one byte, cap 0", K_FILE, 1, 0, 0, AP_ETOOBIG },
    { "large file one byte over", K_FILE, 300001, 300000, 0, AP_ETOOBIG },
    { "secret over the cap", K_FILE, 65, 64, FILEIO_SECRET, AP_ETOOBIG },
    { "missing file", K_NONE, 0, 100, 0, AP_ENOTFOUND },
    { "missing directory", K_NO_DIR, 0, 100, 0, AP_ENOTFOUND },
    { "directory", K_DIR, 0, 100, 0, AP_EINVAL },
    { "directory, nofollow", K_DIR, 0, 100, FILEIO_NOFOLLOW, AP_EINVAL },
    { "symbolic link with nofollow", K_LINK, 10, 100, FILEIO_NOFOLLOW,
      AP_EINVAL },
    { "dangling symbolic link", K_LINK_DANGLING, 0, 100, 0, AP_ENOTFOUND },
    { "dangling symbolic link, nofollow", K_LINK_DANGLING, 0, 100,
      FILEIO_NOFOLLOW, AP_EINVAL },
    { "FIFO (not waited on)", K_FIFO, 0, 100, 0, AP_EINVAL },
    { "/proc file over the cap while read", K_PROC, 0, 16, 0, AP_ETOOBIG },
};

/* The bytes of a test file of n bytes: a pattern with a NUL in it. */
static char
pattern(size_t i)
{
    return i == 5 ? '\0' : (char)('a' + i % 26);
}

static void
write_file(const char *path, size_t n)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        assert_int_not_equal(fputc(pattern(i), f), EOF);
    }
    assert_int_equal(fclose(f), 0);
}

static void
remove_all(const char *dir)
{
    static const char *const names[] = { "f", "t", "l", "d", "p" };
    char path[256];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        (void)unlink(path);
        (void)rmdir(path);
    }
    (void)rmdir(dir);
}

static void
test_row(void **state)
{
    const struct row *row = *state;
    char dir[64] = "/tmp/test_fileio.XXXXXX";
    char path[256];
    char target[256];
    char errbuf[256] = "";
    char *out = (char *)"untouched";
    size_t outlen = 12345;
    ap_err rc;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    snprintf(target, sizeof(target), "%s/t", dir);
    switch (row->kind) {
    case K_FILE:
        write_file(path, row->size);
        break;
    case K_NONE:
        break;
    case K_NO_DIR:
        snprintf(path, sizeof(path), "%s/nodir/f", dir);
        break;
    case K_DIR:
        assert_int_equal(mkdir(path, 0700), 0);
        break;
    case K_LINK:
        write_file(target, row->size);
        assert_int_equal(symlink(target, path), 0);
        break;
    case K_LINK_DANGLING:
        assert_int_equal(symlink(target, path), 0);
        break;
    case K_FIFO:
        assert_int_equal(mkfifo(path, 0600), 0);
        break;
    case K_PROC:
        snprintf(path, sizeof(path), "/proc/self/status");
        break;
    }

    rc = fileio_read(path, row->cap, row->flags, &out, &outlen, errbuf,
                     sizeof(errbuf));
    if (rc != row->want) {
        print_error("%s: %s (%s)\n", path, ap_strerror(rc), errbuf);
    }
    assert_int_equal(rc, row->want);
    if (rc == AP_OK) {
        if (row->kind == K_PROC) {
            assert_true(outlen > 16);
            assert_memory_equal(out, "Name:", 5);
        } else {
            assert_int_equal(outlen, row->size);
            for (size_t i = 0; i < outlen; i++) {
                assert_int_equal(out[i], pattern(i));
            }
        }
        assert_int_equal(out[outlen], '\0');
        fileio_free(out, outlen, row->flags);
    } else {
        /* Nothing handed out; the reason names the path. */
        assert_string_equal(out, "untouched");
        assert_int_equal(outlen, 12345);
        assert_non_null(strstr(errbuf, path));
    }
    remove_all(dir);
}

/* The file that grows past what fstat said (/proc) is read through
 * several buffers: with FILEIO_SECRET none is freed unwiped, on success
 * and when the cap stops it. Without the flag the same check sees the
 * copies, so the check itself works. */
static void
test_secret_growth_wiped(void **state)
{
    static const struct {
        unsigned flags;
        size_t cap;
        ap_err want;
        bool copies_seen;
    } cases[] = {
        { FILEIO_SECRET, 1 << 20, AP_OK, false },
        { FILEIO_SECRET, 64, AP_ETOOBIG, false },
        { 0, 1 << 20, AP_OK, true },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = NULL;
        size_t outlen = 0;
        ap_err rc;

        unwiped = 0;
        watch = "Name:";
        rc = fileio_read("/proc/self/status", cases[i].cap, cases[i].flags,
                         &out, &outlen, NULL, 0);
        assert_int_equal(rc, cases[i].want);
        if (rc == AP_OK) {
            fileio_free(out, outlen, cases[i].flags);
        }
        watch = NULL;
        if (cases[i].copies_seen) {
            assert_true(unwiped > 0);
        } else {
            assert_int_equal(unwiped, 0);
        }
    }
}

/* fileio_free accepts NULL; a secret buffer is wiped before it is freed. */
static void
test_free_wipes(void **state)
{
    char dir[64] = "/tmp/test_fileio.XXXXXX";
    char path[256];
    char *out = NULL;
    size_t outlen = 0;
    FILE *f;

    (void)state;
    fileio_free(NULL, 0, FILEIO_SECRET);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs("hunter2-secret-password\n", f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(fileio_read(path, 100, FILEIO_SECRET, &out, &outlen,
                                 NULL, 0),
                     AP_OK);
    unwiped = 0;
    watch = "hunter2";
    fileio_free(out, outlen, FILEIO_SECRET);
    watch = NULL;
    assert_int_equal(unwiped, 0);
    remove_all(dir);
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(bad) >= N_ROWS(good),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, good, test_row);
    ADD_ROWS(&l, bad, test_row);
    add_test(&l, "secret: growing read leaves nothing unwiped",
             test_secret_growth_wiped, NULL);
    add_test(&l, "secret: fileio_free wipes", test_free_wipes, NULL);
    failed = _cmocka_run_group_tests("fileio", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
