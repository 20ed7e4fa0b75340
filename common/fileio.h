/* common/fileio.h: reading a small file whole, under a cap.
 *
 * The one reader of every file the proxy reads whole: the CA's keys and
 * certificates, the listener's key and certificate, trust anchors and
 * chain files, adapter secrets and key files, the REST adapter's JSON
 * description. The file is opened once and read through that descriptor
 * (open, fstat, read to the end), so the file checked is the file read.
 *
 * A file larger than its cap is an error (AP_ETOOBIG), never a shortened
 * read: whatever the file says past the cap would be silently lost. A
 * file that grows past the cap while it is read is refused the same way.
 * Only regular files are read: a directory, FIFO or device is refused
 * without reading (a FIFO is never waited on). Thread-safe. */
#ifndef AP_COMMON_FILEIO_H
#define AP_COMMON_FILEIO_H

#include <stddef.h>

#include "common/err.h"

enum {
    /* Refuse a symbolic link as the last component of the path
     * (O_NOFOLLOW): for files in the proxy's own data directory, which
     * nobody else should be able to point elsewhere. */
    FILEIO_NOFOLLOW = 1u << 0,
    /* The bytes are a secret (a private key, a password): every buffer
     * that held them is wiped before it is freed, on every path, and the
     * caller releases the result with fileio_free(..., FILEIO_SECRET). */
    FILEIO_SECRET = 1u << 1,
};

/* Reads the regular file path, at most cap bytes (cap < SIZE_MAX - 1),
 * into a new buffer: *out holds *outlen bytes and a NUL after them, so a
 * text can be used as a string (a NUL inside the file ends that string
 * early; callers that care pass *outlen on). Release with fileio_free.
 *   AP_OK         read whole; an empty file too (*outlen 0)
 *   AP_ENOTFOUND  no such file (or a missing directory on the way)
 *   AP_ETOOBIG    larger than cap
 *   AP_EINVAL     not a regular file, or a symbolic link with
 *                 FILEIO_NOFOLLOW
 *   AP_ECONFIG    cannot be opened or read otherwise (permissions, I/O)
 *   AP_ENOMEM
 * On failure errbuf (errlen bytes; may be NULL when errlen is 0) names
 * the path and why ("cannot open PATH: ...", "PATH: too large (at most N
 * bytes)", "PATH: not a regular file"), and *out and *outlen are
 * untouched. */
AP_MUST_CHECK ap_err fileio_read(const char *path, size_t cap,
                                 unsigned flags, char **out, size_t *outlen,
                                 char *errbuf, size_t errlen);

/* Frees a buffer of fileio_read of len bytes; with FILEIO_SECRET its
 * bytes are wiped first. Accepts NULL. */
void fileio_free(char *buf, size_t len, unsigned flags);

#endif /* AP_COMMON_FILEIO_H */
