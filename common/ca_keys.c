/* common/ca_keys.c: the embedded CA's files and private keys (see the
 * header): atomic writes with fsync, reads through common/fileio.h
 * (capped, no symlinks, key text wiped), PEM keys through OpenSSL's
 * libcrypto. */
#include "common/ca_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "common/fileio.h"

void
ca_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    unsigned long e = ERR_peek_last_error();
    char etext[160];
    va_list ap;
    size_t used;
    int n;

    ERR_clear_error();
    if (errbuf == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    if (n < 0) {
        errbuf[0] = '\0';
        return;
    }
    if (e == 0) {
        return;
    }
    used = strlen(errbuf);
    ERR_error_string_n(e, etext, sizeof(etext));
    /* Truncation of the library text is acceptable. */
    n = snprintf(errbuf + used, errlen - used, ": %s", etext);
    (void)n;
}

ap_err
ca_path(char *out, size_t outlen, const char *dir, const char *name,
        char *errbuf, size_t errlen)
{
    int n;

    n = snprintf(out, outlen, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= outlen) {
        ca_errf(errbuf, errlen, "CA directory path too long: %s", dir);
        return AP_ECONFIG;
    }
    return AP_OK;
}

ap_err
ca_file_exists(const char *path, bool *exists, char *errbuf, size_t errlen)
{
    struct stat st;

    if (lstat(path, &st) == 0) {
        *exists = true;
        return AP_OK;
    }
    if (errno == ENOENT) {
        *exists = false;
        return AP_OK;
    }
    ca_errf(errbuf, errlen, "%s: %s", path, strerror(errno));
    return AP_ECONFIG;
}

static ap_err
fsync_dir(const char *dir, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    int fd = -1;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        ca_errf(errbuf, errlen, "cannot open %s: %s", dir, strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    if (fsync(fd) == -1) {
        ca_errf(errbuf, errlen, "cannot fsync %s: %s", dir, strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    rc = AP_OK;
out:
    if (fd != -1) {
        (void)close(fd); /* read-only descriptor */
    }
    return rc;
}

ap_err
ca_file_write(const char *dir, const char *name, const void *data,
              size_t len, mode_t mode, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    char path[PATH_MAX];
    char tmp[PATH_MAX];
    unsigned char rnd[8];
    const unsigned char *p = data;
    size_t done = 0;
    ssize_t n;
    bool created = false;
    int fd = -1;
    int len_tmp;

    rc = ca_path(path, sizeof(path), dir, name, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ca_errf(errbuf, errlen, "random temporary name");
        rc = AP_ECRYPTO;
        goto out;
    }
    len_tmp = snprintf(tmp, sizeof(tmp),
                       "%s/.%s.%02x%02x%02x%02x%02x%02x%02x%02x.tmp", dir,
                       name, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
                       rnd[6], rnd[7]);
    if (len_tmp < 0 || (size_t)len_tmp >= sizeof(tmp)) {
        ca_errf(errbuf, errlen, "CA directory path too long: %s", dir);
        rc = AP_ECONFIG;
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              mode);
    if (fd == -1) {
        ca_errf(errbuf, errlen, "cannot create %s: %s", tmp,
                strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    created = true;
    while (done < len) {
        n = write(fd, p + done, len - done);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            ca_errf(errbuf, errlen, "cannot write %s: %s", tmp,
                    strerror(errno));
            rc = AP_ECONFIG;
            goto out;
        }
        done += (size_t)n;
    }
    if (fsync(fd) == -1) {
        ca_errf(errbuf, errlen, "cannot fsync %s: %s", tmp, strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    n = close(fd);
    fd = -1;
    if (n == -1) {
        ca_errf(errbuf, errlen, "cannot close %s: %s", tmp, strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    if (rename(tmp, path) == -1) {
        ca_errf(errbuf, errlen, "cannot rename %s to %s: %s", tmp, path,
                strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    created = false;
    rc = fsync_dir(dir, errbuf, errlen);
out:
    if (fd != -1) {
        (void)close(fd); /* failing anyway; the file is removed below */
    }
    if (created) {
        (void)unlink(tmp); /* best effort; a leftover is harmless */
    }
    return rc;
}

ap_err
ca_key_generate(EVP_PKEY **out, char *errbuf, size_t errlen)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");

    if (key == NULL) {
        ca_errf(errbuf, errlen, "cannot generate an EC P-256 key");
        return AP_ECRYPTO;
    }
    *out = key;
    return AP_OK;
}

/* Never asks for a passphrase: an encrypted key is refused. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

ap_err
ca_key_load(const char *dir, const char *name, EVP_PKEY **out, char *errbuf,
            size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    char *pem = NULL;
    char path[PATH_MAX];
    EVP_PKEY *key = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    int type;

    rc = ca_path(path, sizeof(path), dir, name, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = fileio_read(path, CA_FILE_MAX, FILEIO_NOFOLLOW | FILEIO_SECRET,
                     &pem, &len, errbuf, errlen);
    if (rc != AP_OK) {
        rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
        goto out;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    type = key != NULL ? EVP_PKEY_get_base_id(key) : EVP_PKEY_NONE;
    if (type != EVP_PKEY_EC && type != EVP_PKEY_RSA) {
        ca_errf(errbuf, errlen, "%s: not a usable private key", path);
        rc = AP_ECONFIG;
        goto out;
    }
    rc = AP_OK;
out:
    BIO_free(bio);
    fileio_free(pem, len, FILEIO_SECRET);
    if (rc == AP_OK) {
        *out = key;
    } else {
        EVP_PKEY_free(key);
    }
    return rc;
}

ap_err
ca_key_pem(EVP_PKEY *key, char **out, size_t *outlen, char *errbuf,
           size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    BIO *bio = BIO_new(BIO_s_secmem());
    char *data = NULL;
    char *copy = NULL;
    long len = 0;

    if (bio == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    /* "Traditional": SEC1 for EC, as mbedTLS wrote the existing files. */
    if (PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL,
                                             NULL) != 1) {
        ca_errf(errbuf, errlen, "cannot encode a private key");
        rc = AP_ECRYPTO;
        goto out;
    }
    len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == NULL) {
        ca_errf(errbuf, errlen, "cannot encode a private key");
        rc = AP_ECRYPTO;
        goto out;
    }
    copy = malloc((size_t)len + 1);
    if (copy == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(copy, data, (size_t)len);
    copy[len] = '\0';
    rc = AP_OK;
out:
    BIO_free(bio); /* a secure-heap buffer, cleared on free */
    if (rc == AP_OK) {
        *out = copy;
        *outlen = (size_t)len;
    }
    return rc;
}

ap_err
ca_key_save(EVP_PKEY *key, const char *dir, const char *name, char *errbuf,
            size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    char *pem = NULL;
    size_t len = 0;

    rc = ca_key_pem(key, &pem, &len, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = ca_file_write(dir, name, pem, len, 0600, errbuf, errlen);
out:
    if (pem != NULL) {
        OPENSSL_cleanse(pem, len);
        free(pem);
    }
    return rc;
}
