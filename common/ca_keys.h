/* common/ca_keys.h: the embedded CA's files and private keys, for
 * common/ca.c only.
 *
 * Everything the CA keeps in its directory goes through here. Files are
 * read with fileio_read (common/fileio.h): regular files only, no
 * symlinks, at most CA_FILE_MAX bytes (a larger one is refused). They are
 * written to a temporary name in the same directory, fsynced and renamed,
 * then the directory fsynced, so a crash leaves the old file or the new
 * one, never half of one. Keys are PEM: read as SEC1 ("EC PRIVATE KEY", what the
 * mbedTLS-based versions wrote) or unencrypted PKCS#8, written as SEC1
 * with mode 0600, which both OpenSSL and mbedTLS 2.28 read. Buffers that
 * held key text are wiped before they are freed. OpenSSL's libcrypto does
 * the key work. Every function is thread-safe (no shared state); errbuf
 * gets a reason for the operator on failure, never key bytes. */
#ifndef AP_COMMON_CA_KEYS_H
#define AP_COMMON_CA_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/types.h>

#include "common/err.h"

#define CA_FILE_MAX (64 * 1024) /* largest CA file we read, bytes */

/* errbuf = the message, then OpenSSL's text for the last error in this
 * thread's queue when there is one (the queue is cleared). */
void ca_errf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "dir/name" into out. AP_ECONFIG when it does not fit. */
AP_MUST_CHECK ap_err ca_path(char *out, size_t outlen, const char *dir,
                             const char *name, char *errbuf, size_t errlen);

/* Whether path exists (lstat). AP_ECONFIG when it cannot be told. */
AP_MUST_CHECK ap_err ca_file_exists(const char *path, bool *exists,
                                    char *errbuf, size_t errlen);

/* Replaces dir/name with len bytes of data, created with mode (O_EXCL on
 * a random temporary name, so never through a planted symlink), as the
 * header says. AP_ECONFIG on any I/O failure; the temporary is removed. */
AP_MUST_CHECK ap_err ca_file_write(const char *dir, const char *name,
                                   const void *data, size_t len, mode_t mode,
                                   char *errbuf, size_t errlen);

/* A new EC P-256 key pair (caller frees with EVP_PKEY_free). */
AP_MUST_CHECK ap_err ca_key_generate(EVP_PKEY **out, char *errbuf,
                                     size_t errlen);

/* The private key in dir/name (EC or RSA; an encrypted key is refused,
 * nothing asks for a passphrase). AP_ECONFIG naming the file when it is
 * missing or not a usable key. */
AP_MUST_CHECK ap_err ca_key_load(const char *dir, const char *name,
                                 EVP_PKEY **out, char *errbuf, size_t errlen);

/* key as PEM: SEC1 "EC PRIVATE KEY" for EC keys, PKCS#1 for RSA.
 * *out NUL-terminated, *outlen without the NUL; the caller wipes and
 * frees it. */
AP_MUST_CHECK ap_err ca_key_pem(EVP_PKEY *key, char **out, size_t *outlen,
                                char *errbuf, size_t errlen);

/* Writes key to dir/name as ca_key_pem makes it, mode 0600. */
AP_MUST_CHECK ap_err ca_key_save(EVP_PKEY *key, const char *dir,
                                 const char *name, char *errbuf,
                                 size_t errlen);

#endif /* AP_COMMON_CA_KEYS_H */
