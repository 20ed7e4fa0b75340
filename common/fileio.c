/* common/fileio.c: the capped whole-file reader (fileio.h). */
#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"

static void
fileio_errf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fileio_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

void
fileio_free(char *buf, size_t len, unsigned flags)
{
    if (buf == NULL) {
        return;
    }
    if (flags & FILEIO_SECRET) {
        crypto_zeroize(buf, len);
    }
    free(buf);
}

/* Moves the used bytes of *buf (size old) into a new buffer of size new,
 * wiping the old one when it held a secret. */
static ap_err
grow(char **buf, size_t used, size_t old, size_t new, unsigned flags)
{
    char *nb = malloc(new);

    if (nb == NULL) {
        return AP_ENOMEM;
    }
    memcpy(nb, *buf, used);
    fileio_free(*buf, old, flags);
    *buf = nb;
    return AP_OK;
}

ap_err
fileio_read(const char *path, size_t cap, unsigned flags, char **out,
            size_t *outlen, char *errbuf, size_t errlen)
{
    int oflags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
    struct stat st;
    char *buf = NULL;
    size_t size = 0; /* bytes of buf: room for cap + 1 bytes and a NUL */
    size_t got = 0;
    ap_err rc = AP_ECONFIG;
    int fd;

    if (cap >= SIZE_MAX - 1) {
        fileio_errf(errbuf, errlen, "%s: cap too large", path);
        return AP_EINVAL;
    }
    if (flags & FILEIO_NOFOLLOW) {
        oflags |= O_NOFOLLOW;
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    fd = open(path, oflags);
    if (fd == -1) {
        int e = errno;

        fileio_errf(errbuf, errlen, "cannot open %s: %s", path,
                    e == ELOOP && (flags & FILEIO_NOFOLLOW)
                        ? "a symbolic link"
                        : strerror(e));
        if (e == ENOENT || e == ENOTDIR) {
            return AP_ENOTFOUND;
        }
        return e == ELOOP && (flags & FILEIO_NOFOLLOW) ? AP_EINVAL
                                                       : AP_ECONFIG;
    }
    if (fstat(fd, &st) == -1) {
        fileio_errf(errbuf, errlen, "cannot stat %s: %s", path,
                    strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        fileio_errf(errbuf, errlen, "%s: not a regular file", path);
        rc = AP_EINVAL;
        goto out;
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > cap) {
        fileio_errf(errbuf, errlen, "%s: too large (at most %zu bytes)", path,
                    cap);
        rc = AP_ETOOBIG;
        goto out;
    }
    /* Room for the size fstat gave plus one byte, to see a file that
     * grew; more as it turns out longer (files of /proc say 0). */
    size = (size_t)st.st_size + 2;
    buf = malloc(size);
    if (buf == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n;

        if (got == size - 1) {
            size_t nsize;

            if (got > cap) {
                break;
            }
            nsize = size - 1 > (cap + 1) / 2 ? cap + 2 : 2 * (size - 1) + 1;
            rc = grow(&buf, got, size, nsize, flags);
            if (rc != AP_OK) {
                goto out;
            }
            rc = AP_ECONFIG;
            size = nsize;
        }
        n = read(fd, buf + got, size - 1 - got);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            fileio_errf(errbuf, errlen, "cannot read %s: %s", path,
                        strerror(errno));
            goto out;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got > cap) {
        fileio_errf(errbuf, errlen, "%s: too large (at most %zu bytes)", path,
                    cap);
        rc = AP_ETOOBIG;
        goto out;
    }
    buf[got] = '\0';
    *out = buf;
    *outlen = got;
    buf = NULL;
    rc = AP_OK;
out:
    fileio_free(buf, size, flags);
    (void)close(fd); /* read-only: nothing to lose */
    return rc;
}
