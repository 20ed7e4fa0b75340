/* common/ca.c: the embedded two-level CA (root and intermediate, EC P-256)
 * on mbedTLS x509write.
 *
 * The only file that opens the CA keys. The root key is needed only to
 * sign a new intermediate: it is loaded during ca_open when present and
 * dropped before ca_open returns, so an operator may keep it offline once
 * the intermediate exists. Every file is written to a temporary name in
 * the same directory, fsynced and renamed, so a crash leaves either the old
 * file or the new one, never half of one. The DRBG and the intermediate
 * key are shared by all callers and used only under ca->lock: mbedTLS
 * caches per-curve tables inside the key while signing. */
#include "common/ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#define CA_FILE_MAX (64 * 1024)   /* largest CA file we read, bytes */
#define CA_SKEW_SEC 60            /* not_before backdating, seconds */
#define CA_ROOT_YEARS 20
#define CA_INT_YEARS 10
#define CA_CN_MAX 64              /* RFC 5280 ub-common-name */
#define CA_DNS_NAME_MAX 253       /* RFC 1035, without a trailing dot */
#define CA_NAMES_MAX 1000         /* SAN entries per leaf */
#define CA_TIME_LEN 14            /* "YYYYMMDDhhmmss" */
#define CA_TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
#define CA_NAME_LEN 256           /* an issuer DN as mbedTLS text */
#define CA_DER_BASE 4096          /* certificate bytes besides key and SANs */
#define CA_KEY_PEM_MAX 1024       /* an EC P-256 private key in PEM */
#define CA_RSA_MIN_BITS 2048
#define CA_ROOT_CN "acmeproxy local root CA"
#define CA_INT_CN "acmeproxy local intermediate CA"
#define CA_PERS "acmeproxy ca"    /* DRBG personalisation string */
#define CA_PEM_CRT_BEGIN "-----BEGIN CERTIFICATE-----\n"
#define CA_PEM_CRT_END "-----END CERTIFICATE-----\n"

struct ca {
    pthread_mutex_t lock;          /* guards drbg and int_key */
    bool has_lock;                 /* lock was initialised */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context int_key;    /* signs every leaf */
    mbedtls_x509_crt root_crt;
    mbedtls_x509_crt int_crt;
    char *root_pem;                /* one certificate, normalised */
    char *int_pem;
    char int_name[CA_NAME_LEN];    /* int_crt's subject, mbedTLS text */
    char int_not_after[CA_TIME_LEN + 1]; /* leaves end no later */
};

/* What a leaf is made of, after the checks of ca_issue. */
struct leaf_spec {
    mbedtls_pk_context *key;       /* the subject's (public) key */
    const char *const *dns_names;
    size_t n_dns_names;
    const char *const *ip_addrs;
    size_t n_ip_addrs;
    const char *cn;                /* NULL: first name */
    long long not_before;
    long long not_after;
};

static void ca_errf(char *errbuf, size_t errlen, int mret, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

/* errbuf = the message, then mbedTLS's text for mret when mret != 0. */
static void
ca_errf(char *errbuf, size_t errlen, int mret, const char *fmt, ...)
{
    va_list ap;
    char mtext[128];
    size_t used;
    int n;

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
    if (mret == 0) {
        return;
    }
    used = strlen(errbuf);
    mbedtls_strerror(mret, mtext, sizeof(mtext));
    /* Truncation of the library text is acceptable. */
    n = snprintf(errbuf + used, errlen - used, ": %s (-0x%04x)", mtext,
                 (unsigned)-mret);
    (void)n;
}

static ap_err
mret_to_err(int mret)
{
    if (mret == MBEDTLS_ERR_PK_ALLOC_FAILED ||
        mret == MBEDTLS_ERR_X509_ALLOC_FAILED ||
        mret == MBEDTLS_ERR_ASN1_ALLOC_FAILED ||
        mret == MBEDTLS_ERR_MPI_ALLOC_FAILED ||
        mret == MBEDTLS_ERR_ECP_ALLOC_FAILED ||
        mret == MBEDTLS_ERR_PEM_ALLOC_FAILED) {
        return AP_ENOMEM;
    }
    return AP_ECRYPTO;
}

static int
ca_rng(void *p_rng, unsigned char *out, size_t len)
{
    return mbedtls_ctr_drbg_random(p_rng, out, len);
}

/* ---- time ---------------------------------------------------------- */

/* t (seconds since the epoch) as mbedTLS's "YYYYMMDDhhmmss" in UTC. */
static ap_err
time_format(long long t, char *out, size_t outlen)
{
    struct tm tm;
    time_t tt;
    int n;

    if (t < 0 || t > CA_TIME_MAX || outlen < CA_TIME_LEN + 1) {
        return AP_EINVAL;
    }
    tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL) {
        return AP_EINVAL;
    }
    n = snprintf(out, outlen, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
    if (n != CA_TIME_LEN) {
        return AP_EINVAL;
    }
    return AP_OK;
}

/* t plus years calendar years, at the same time of day (29 February
 * becomes 1 March). */
static ap_err
time_add_years(long long t, int years, long long *out)
{
    struct tm tm;
    time_t tt = (time_t)t;
    time_t later;

    if (gmtime_r(&tt, &tm) == NULL) {
        return AP_EINVAL;
    }
    tm.tm_year += years;
    later = timegm(&tm);
    if (later == (time_t)-1) {
        return AP_EINVAL;
    }
    *out = (long long)later;
    return AP_OK;
}

static ap_err
x509_time_format(const mbedtls_x509_time *t, char *out, size_t outlen)
{
    int n;

    if (t->year < 0 || t->year > 9999 || t->mon < 1 || t->mon > 12 ||
        t->day < 1 || t->day > 31 || t->hour < 0 || t->hour > 23 ||
        t->min < 0 || t->min > 59 || t->sec < 0 || t->sec > 60) {
        return AP_EINVAL;
    }
    n = snprintf(out, outlen, "%04d%02d%02d%02d%02d%02d", t->year, t->mon,
                 t->day, t->hour, t->min, t->sec);
    if (n != CA_TIME_LEN) {
        return AP_EINVAL;
    }
    return AP_OK;
}

/* ---- files --------------------------------------------------------- */

static ap_err
path_join(char *out, size_t outlen, const char *dir, const char *name,
          char *errbuf, size_t errlen)
{
    int n;

    n = snprintf(out, outlen, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= outlen) {
        ca_errf(errbuf, errlen, 0, "CA directory path too long: %s", dir);
        return AP_ECONFIG;
    }
    return AP_OK;
}

static ap_err
file_exists(const char *path, bool *exists, char *errbuf, size_t errlen)
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
    ca_errf(errbuf, errlen, 0, "%s: %s", path, strerror(errno));
    return AP_ECONFIG;
}

/* Reads a regular file (not a symlink) of at most CA_FILE_MAX bytes into
 * a NUL-terminated buffer (caller wipes and frees); len excludes the NUL. */
static ap_err
file_read(const char *path, unsigned char **out, size_t *outlen,
          char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    unsigned char *data = NULL;
    struct stat st;
    size_t size = 0;
    size_t got = 0;
    ssize_t n;
    int fd = -1;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1) {
        ca_errf(errbuf, errlen, 0, "cannot open %s: %s", path,
                strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    if (fstat(fd, &st) == -1) {
        ca_errf(errbuf, errlen, 0, "cannot stat %s: %s", path,
                strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 0 || st.st_size > CA_FILE_MAX) {
        ca_errf(errbuf, errlen, 0,
                "%s: not a regular file of at most %d bytes", path,
                CA_FILE_MAX);
        rc = AP_ECONFIG;
        goto out;
    }
    size = (size_t)st.st_size;
    data = malloc(size + 1);
    if (data == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    while (got < size) {
        n = read(fd, data + got, size - got);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            ca_errf(errbuf, errlen, 0, "cannot read %s: %s", path,
                    strerror(errno));
            rc = AP_ECONFIG;
            goto out;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    data[got] = '\0';
    rc = AP_OK;
out:
    if (fd != -1) {
        (void)close(fd); /* read-only: nothing to lose */
    }
    if (rc == AP_OK) {
        *out = data;
        *outlen = got;
    } else if (data != NULL) {
        mbedtls_platform_zeroize(data, size + 1);
        free(data);
    }
    return rc;
}

static ap_err
fsync_dir(const char *dir, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    int fd = -1;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        ca_errf(errbuf, errlen, 0, "cannot open %s: %s", dir,
                strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    if (fsync(fd) == -1) {
        ca_errf(errbuf, errlen, 0, "cannot fsync %s: %s", dir,
                strerror(errno));
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

/* Replaces dir/name with data: a new temporary file in dir (O_EXCL, so
 * never through a planted symlink), written, fsynced, renamed over name,
 * then the directory fsynced. */
static ap_err
file_write_atomic(struct ca *ca, const char *dir, const char *name,
                  const void *data, size_t len, mode_t mode, char *errbuf,
                  size_t errlen)
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
    int mret;
    int len_tmp;

    rc = path_join(path, sizeof(path), dir, name, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    mret = mbedtls_ctr_drbg_random(&ca->drbg, rnd, sizeof(rnd));
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "random temporary name");
        rc = AP_ECRYPTO;
        goto out;
    }
    len_tmp = snprintf(tmp, sizeof(tmp),
                       "%s/.%s.%02x%02x%02x%02x%02x%02x%02x%02x.tmp", dir,
                       name, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
                       rnd[6], rnd[7]);
    if (len_tmp < 0 || (size_t)len_tmp >= sizeof(tmp)) {
        ca_errf(errbuf, errlen, 0, "CA directory path too long: %s", dir);
        rc = AP_ECONFIG;
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              mode);
    if (fd == -1) {
        ca_errf(errbuf, errlen, 0, "cannot create %s: %s", tmp,
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
            ca_errf(errbuf, errlen, 0, "cannot write %s: %s", tmp,
                    strerror(errno));
            rc = AP_ECONFIG;
            goto out;
        }
        done += (size_t)n;
    }
    if (fsync(fd) == -1) {
        ca_errf(errbuf, errlen, 0, "cannot fsync %s: %s", tmp,
                strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    n = close(fd);
    fd = -1;
    if (n == -1) {
        ca_errf(errbuf, errlen, 0, "cannot close %s: %s", tmp,
                strerror(errno));
        rc = AP_ECONFIG;
        goto out;
    }
    if (rename(tmp, path) == -1) {
        ca_errf(errbuf, errlen, 0, "cannot rename %s to %s: %s", tmp, path,
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

/* ---- keys and certificates ------------------------------------------ */

static ap_err
key_generate(struct ca *ca, mbedtls_pk_context *key, char *errbuf,
             size_t errlen)
{
    int mret;

    mret = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "cannot set up an EC key");
        return mret_to_err(mret);
    }
    mret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
                               ca_rng, &ca->drbg);
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "cannot generate an EC P-256 key");
        return mret_to_err(mret);
    }
    return AP_OK;
}

/* The private key of key in PEM, NUL-terminated (caller wipes and frees). */
static ap_err
key_to_pem(mbedtls_pk_context *key, char **out, size_t *outlen, char *errbuf,
           size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    unsigned char pem[CA_KEY_PEM_MAX];
    char *copy = NULL;
    size_t len = 0;
    int mret;

    mret = mbedtls_pk_write_key_pem(key, pem, sizeof(pem));
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "cannot encode a private key");
        rc = mret_to_err(mret);
        goto out;
    }
    len = strlen((const char *)pem);
    copy = malloc(len + 1);
    if (copy == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    memcpy(copy, pem, len + 1);
    rc = AP_OK;
out:
    mbedtls_platform_zeroize(pem, sizeof(pem));
    if (rc == AP_OK) {
        *out = copy;
        *outlen = len;
    }
    return rc;
}

static ap_err
pem_from_der(const unsigned char *der, size_t der_len, char **out)
{
    char *pem = NULL;
    size_t size;
    size_t olen = 0;
    int mret;

    if (der_len > CA_FILE_MAX) {
        return AP_ETOOBIG;
    }
    /* base64 is 4/3 of the input plus a newline per 64 characters. */
    size = der_len * 2 + sizeof(CA_PEM_CRT_BEGIN) + sizeof(CA_PEM_CRT_END) +
           16;
    pem = malloc(size);
    if (pem == NULL) {
        return AP_ENOMEM;
    }
    mret = mbedtls_pem_write_buffer(CA_PEM_CRT_BEGIN, CA_PEM_CRT_END, der,
                                    der_len, (unsigned char *)pem, size,
                                    &olen);
    if (mret != 0) {
        free(pem);
        return mret_to_err(mret);
    }
    *out = pem;
    return AP_OK;
}

/* Signs crt (serial set here) and returns it in PEM. Caller holds the
 * lock when issuer_key or the DRBG may be shared. der_size: room for the
 * certificate in DER. */
static ap_err
crt_sign_pem(struct ca *ca, mbedtls_x509write_cert *crt, size_t der_size,
             char **out, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    unsigned char serial_bin[16];
    unsigned char *der = NULL;
    mbedtls_mpi serial;
    int mret;

    mbedtls_mpi_init(&serial);
    /* RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B Forum: at
     * least 64 bits from a CSPRNG. */
    mret = mbedtls_ctr_drbg_random(&ca->drbg, serial_bin, sizeof(serial_bin));
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "cannot draw a serial number");
        rc = AP_ECRYPTO;
        goto out;
    }
    serial_bin[0] &= 0x7f;
    if (serial_bin[0] == 0) {
        serial_bin[0] = 0x01; /* never zero, always 128-bit wide */
    }
    mret = mbedtls_mpi_read_binary(&serial, serial_bin, sizeof(serial_bin));
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_serial(crt, &serial);
    }
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "cannot set the serial number");
        rc = mret_to_err(mret);
        goto out;
    }
    der = malloc(der_size);
    if (der == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    mret = mbedtls_x509write_crt_der(crt, der, der_size, ca_rng, &ca->drbg);
    if (mret < 0) {
        ca_errf(errbuf, errlen, mret, "cannot sign the certificate");
        rc = mret_to_err(mret);
        goto out;
    }
    /* x509write fills the buffer from its end. */
    rc = pem_from_der(der + der_size - (size_t)mret, (size_t)mret, out);
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, 0, "cannot encode the certificate: %s",
                ap_strerror(rc));
        goto out;
    }
out:
    mbedtls_mpi_free(&serial);
    free(der);
    return rc;
}

/* A CA certificate for subject_key signed by issuer_key (the same key
 * for the self-signed root). path_len < 0: no limit. */
static ap_err
ca_cert_make(struct ca *ca, mbedtls_pk_context *subject_key,
             const char *subject, mbedtls_pk_context *issuer_key,
             const char *issuer, int path_len, const char *not_before,
             const char *not_after, char **out, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    mbedtls_x509write_cert crt;
    int mret;

    mbedtls_x509write_crt_init(&crt);
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, subject_key);
    mbedtls_x509write_crt_set_issuer_key(&crt, issuer_key);
    mret = mbedtls_x509write_crt_set_subject_name(&crt, subject);
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_issuer_name(&crt, issuer);
    }
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_validity(&crt, not_before,
                                                  not_after);
    }
    /* Critical, as mbedTLS marks basicConstraints with cA TRUE. */
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_basic_constraints(&crt, 1, path_len);
    }
    /* mbedTLS marks keyUsage critical. */
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_key_usage(
            &crt, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
    }
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_subject_key_identifier(&crt);
    }
    if (mret == 0 && subject_key != issuer_key) {
        mret = mbedtls_x509write_crt_set_authority_key_identifier(&crt);
    }
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "cannot build the certificate of %s",
                subject);
        rc = mret_to_err(mret);
        goto out;
    }
    rc = crt_sign_pem(ca, &crt, CA_DER_BASE, out, errbuf, errlen);
out:
    mbedtls_x509write_crt_free(&crt);
    return rc;
}

/* Parses the one certificate of a PEM file into crt. */
static ap_err
crt_load(mbedtls_x509_crt *crt, const char *path, const unsigned char *pem,
         size_t pem_len, char *errbuf, size_t errlen)
{
    int mret;

    mret = mbedtls_x509_crt_parse(crt, pem, pem_len + 1);
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret < 0 ? mret : 0,
                "%s: not a PEM certificate", path);
        return mret == MBEDTLS_ERR_X509_ALLOC_FAILED ? AP_ENOMEM
                                                     : AP_ECONFIG;
    }
    if (crt->next != NULL) {
        ca_errf(errbuf, errlen, 0, "%s: holds more than one certificate",
                path);
        return AP_ECONFIG;
    }
    if (crt->ca_istrue == 0) {
        ca_errf(errbuf, errlen, 0, "%s: not a CA certificate", path);
        return AP_ECONFIG;
    }
    return AP_OK;
}

static ap_err
key_load(mbedtls_pk_context *key, const char *dir, const char *name,
         char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    unsigned char *pem = NULL;
    char path[PATH_MAX];
    size_t len = 0;
    int mret;

    rc = path_join(path, sizeof(path), dir, name, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = file_read(path, &pem, &len, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    mret = mbedtls_pk_parse_key(key, pem, len + 1, NULL, 0);
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "%s: not a usable private key", path);
        rc = mret == MBEDTLS_ERR_PK_ALLOC_FAILED ? AP_ENOMEM : AP_ECONFIG;
        goto out;
    }
    rc = AP_OK;
out:
    if (pem != NULL) {
        mbedtls_platform_zeroize(pem, len);
        free(pem);
    }
    return rc;
}

static ap_err
key_save(struct ca *ca, mbedtls_pk_context *key, const char *dir,
         const char *name, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    char *pem = NULL;
    size_t len = 0;

    rc = key_to_pem(key, &pem, &len, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = file_write_atomic(ca, dir, name, pem, len, 0600, errbuf, errlen);
out:
    if (pem != NULL) {
        mbedtls_platform_zeroize(pem, len);
        free(pem);
    }
    return rc;
}

/* Makes the root certificate for root_key (new or recovered) and writes
 * it to dir/CA_ROOT_FILE. */
static ap_err
root_create(struct ca *ca, mbedtls_pk_context *root_key, const char *dir,
            char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    unsigned char rnd[2];
    char subject[CA_NAME_LEN];
    char nb[CA_TIME_LEN + 1];
    char na[CA_TIME_LEN + 1];
    char *pem = NULL;
    long long now = (long long)time(NULL);
    long long end = 0;
    int mret;
    int n;

    mret = mbedtls_ctr_drbg_random(&ca->drbg, rnd, sizeof(rnd));
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "random root name");
        rc = AP_ECRYPTO;
        goto out;
    }
    /* A random suffix keeps two installations' roots apart in trust
     * stores that index by subject. */
    n = snprintf(subject, sizeof(subject), "CN=" CA_ROOT_CN " %02x%02x",
                 rnd[0], rnd[1]);
    if (n < 0 || (size_t)n >= sizeof(subject)) {
        rc = AP_EINTERNAL;
        goto out;
    }
    rc = time_add_years(now, CA_ROOT_YEARS, &end);
    if (rc == AP_OK) {
        rc = time_format(now - CA_SKEW_SEC, nb, sizeof(nb));
    }
    if (rc == AP_OK) {
        rc = time_format(end, na, sizeof(na));
    }
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, 0, "system clock out of range");
        goto out;
    }
    rc = ca_cert_make(ca, root_key, subject, root_key, subject, -1, nb, na,
                      &pem, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = file_write_atomic(ca, dir, CA_ROOT_FILE, pem, strlen(pem), 0644,
                           errbuf, errlen);
out:
    free(pem);
    return rc;
}

/* Makes a new intermediate key and certificate signed by root_key, writes
 * both (key first: a certificate on disk always has its key) and loads
 * them into ca. */
static ap_err
int_create(struct ca *ca, mbedtls_pk_context *root_key, const char *dir,
           char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    char issuer[CA_NAME_LEN];
    char nb[CA_TIME_LEN + 1];
    char na[CA_TIME_LEN + 1];
    char root_na[CA_TIME_LEN + 1];
    char *pem = NULL;
    long long now = (long long)time(NULL);
    long long end = 0;
    int mret;

    rc = key_generate(ca, &ca->int_key, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    mret = mbedtls_x509_dn_gets(issuer, sizeof(issuer), &ca->root_crt.subject);
    if (mret < 0) {
        ca_errf(errbuf, errlen, mret, "root subject");
        rc = AP_ECONFIG;
        goto out;
    }
    rc = time_add_years(now, CA_INT_YEARS, &end);
    if (rc == AP_OK) {
        rc = time_format(now - CA_SKEW_SEC, nb, sizeof(nb));
    }
    if (rc == AP_OK) {
        rc = time_format(end, na, sizeof(na));
    }
    if (rc == AP_OK) {
        rc = x509_time_format(&ca->root_crt.valid_to, root_na,
                              sizeof(root_na));
    }
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, 0, "system clock or root validity out of "
                                   "range");
        goto out;
    }
    /* Never outlive the root (same format: strings compare as times). */
    if (strcmp(na, root_na) > 0) {
        memcpy(na, root_na, sizeof(na));
    }
    rc = ca_cert_make(ca, &ca->int_key, "CN=" CA_INT_CN, root_key, issuer, 0,
                      nb, na, &pem, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = key_save(ca, &ca->int_key, dir, CA_INT_KEY_FILE, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = file_write_atomic(ca, dir, CA_INT_FILE, pem, strlen(pem), 0644,
                           errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = crt_load(&ca->int_crt, CA_INT_FILE, (const unsigned char *)pem,
                  strlen(pem), errbuf, errlen);
out:
    free(pem);
    return rc;
}

static ap_err
crt_load_file(mbedtls_x509_crt *crt, const char *dir, const char *name,
              char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    unsigned char *pem = NULL;
    char path[PATH_MAX];
    size_t len = 0;

    rc = path_join(path, sizeof(path), dir, name, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = file_read(path, &pem, &len, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = crt_load(crt, path, pem, len, errbuf, errlen);
out:
    free(pem);
    return rc;
}

static ap_err
pair_check(const mbedtls_x509_crt *crt, const mbedtls_pk_context *key,
           const char *dir, const char *key_name, const char *crt_name,
           char *errbuf, size_t errlen)
{
    int mret;

    mret = mbedtls_pk_check_pair(&crt->pk, key);
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "%s/%s does not match %s/%s", dir,
                key_name, dir, crt_name);
        return AP_ECONFIG;
    }
    return AP_OK;
}

/* The intermediate must chain to the root and be valid now. */
static ap_err
int_check(struct ca *ca, const char *dir, char *errbuf, size_t errlen)
{
    char info[256];
    uint32_t flags = 0;
    int mret;

    mret = mbedtls_x509_crt_verify(&ca->int_crt, &ca->root_crt, NULL, NULL,
                                   &flags, NULL, NULL);
    /* A clock stepped back since the CA was made must not stop start-up:
     * "not yet valid" alone is accepted. */
    if (mret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED &&
        (flags & ~(uint32_t)MBEDTLS_X509_BADCERT_FUTURE) == 0) {
        mret = 0;
    }
    if (mret != 0) {
        if (mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags) < 0) {
            info[0] = '\0';
        }
        /* verify_info ends each reason with a newline. */
        info[strcspn(info, "\n")] = '\0';
        ca_errf(errbuf, errlen, 0,
                "%s/%s does not verify against %s/%s (%s); remove %s and %s "
                "to make a new intermediate",
                dir, CA_INT_FILE, dir, CA_ROOT_FILE, info, CA_INT_FILE,
                CA_INT_KEY_FILE);
        return AP_ECONFIG;
    }
    return AP_OK;
}

/* Everything ca_issue needs from the loaded intermediate. */
static ap_err
int_prepare(struct ca *ca, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    mbedtls_asn1_named_data *names = NULL;
    unsigned char enc[CA_NAME_LEN * 2];
    unsigned char *p = enc + sizeof(enc);
    int mret;

    mret = mbedtls_x509_dn_gets(ca->int_name, sizeof(ca->int_name),
                                &ca->int_crt.subject);
    if (mret < 0) {
        ca_errf(errbuf, errlen, mret, "intermediate subject");
        rc = AP_ECONFIG;
        goto out;
    }
    /* Leaves carry the subject as text re-encoded by mbedTLS; refuse a
     * subject that does not come back byte for byte, or chains would
     * break on strict clients (RFC 5280 §7.1). */
    mret = mbedtls_x509_string_to_names(&names, ca->int_name);
    if (mret == 0) {
        mret = mbedtls_x509_write_names(&p, enc, names);
    }
    if (mret < 0 || (size_t)mret != ca->int_crt.subject_raw.len ||
        memcmp(p, ca->int_crt.subject_raw.p, (size_t)mret) != 0) {
        ca_errf(errbuf, errlen, 0,
                "intermediate subject \"%s\" cannot be reproduced",
                ca->int_name);
        rc = AP_ECONFIG;
        goto out;
    }
    rc = x509_time_format(&ca->int_crt.valid_to, ca->int_not_after,
                          sizeof(ca->int_not_after));
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, 0, "intermediate validity out of range");
        goto out;
    }
    rc = pem_from_der(ca->root_crt.raw.p, ca->root_crt.raw.len,
                      &ca->root_pem);
    if (rc == AP_OK) {
        rc = pem_from_der(ca->int_crt.raw.p, ca->int_crt.raw.len,
                          &ca->int_pem);
    }
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, 0, "cannot encode the CA certificates: %s",
                ap_strerror(rc));
        goto out;
    }
out:
    mbedtls_asn1_free_named_data_list(&names);
    return rc;
}

static ap_err
ca_load(struct ca *ca, const char *dir, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    static const char *const names[] = {CA_ROOT_FILE, CA_ROOT_KEY_FILE,
                                        CA_INT_FILE, CA_INT_KEY_FILE};
    bool has[4] = {false, false, false, false};
    mbedtls_pk_context root_key;
    bool has_root_key = false;
    char path[PATH_MAX];
    size_t i;

    mbedtls_pk_init(&root_key);
    for (i = 0; i < 4; i++) {
        rc = path_join(path, sizeof(path), dir, names[i], errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
        rc = file_exists(path, &has[i], errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }

    /* Root: load it, create it, or (key without certificate: a crash
     * between the two writes) recover the certificate for that key. */
    if (!has[0] && (has[2] || has[3])) {
        ca_errf(errbuf, errlen, 0,
                "%s/%s is missing but intermediate files exist; restore it "
                "or remove %s and %s",
                dir, CA_ROOT_FILE, CA_INT_FILE, CA_INT_KEY_FILE);
        rc = AP_ECONFIG;
        goto out;
    }
    if (has[1]) {
        rc = key_load(&root_key, dir, CA_ROOT_KEY_FILE, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
        has_root_key = true;
    } else if (!has[0]) {
        rc = key_generate(ca, &root_key, errbuf, errlen);
        if (rc == AP_OK) {
            rc = key_save(ca, &root_key, dir, CA_ROOT_KEY_FILE, errbuf,
                          errlen);
        }
        if (rc != AP_OK) {
            goto out;
        }
        has_root_key = true;
    }
    if (!has[0]) {
        rc = root_create(ca, &root_key, dir, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }
    rc = crt_load_file(&ca->root_crt, dir, CA_ROOT_FILE, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    if (has_root_key) {
        rc = pair_check(&ca->root_crt, &root_key, dir, CA_ROOT_KEY_FILE,
                        CA_ROOT_FILE, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }

    /* Intermediate: load both files, or make a new pair. */
    if (has[2] && has[3]) {
        rc = crt_load_file(&ca->int_crt, dir, CA_INT_FILE, errbuf, errlen);
        if (rc == AP_OK) {
            rc = key_load(&ca->int_key, dir, CA_INT_KEY_FILE, errbuf,
                          errlen);
        }
        if (rc == AP_OK) {
            rc = pair_check(&ca->int_crt, &ca->int_key, dir, CA_INT_KEY_FILE,
                            CA_INT_FILE, errbuf, errlen);
        }
        if (rc != AP_OK) {
            goto out;
        }
    } else {
        if (!has_root_key) {
            ca_errf(errbuf, errlen, 0,
                    "%s/%s is needed to make a new intermediate (%s or %s "
                    "is missing)",
                    dir, CA_ROOT_KEY_FILE, CA_INT_FILE, CA_INT_KEY_FILE);
            rc = AP_ECONFIG;
            goto out;
        }
        rc = int_create(ca, &root_key, dir, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
    }
    rc = int_check(ca, dir, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = int_prepare(ca, errbuf, errlen);
out:
    /* mbedtls_pk_free wipes the key material. */
    mbedtls_pk_free(&root_key);
    return rc;
}

ap_err
ca_open(const char *dir, struct ca **out, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    struct ca *ca = NULL;
    int mret;

    if (errbuf != NULL && errlen > 0) {
        errbuf[0] = '\0';
    }
    if (dir == NULL || dir[0] == '\0' || out == NULL) {
        ca_errf(errbuf, errlen, 0, "no CA directory");
        rc = AP_EINVAL;
        goto out;
    }
    ca = calloc(1, sizeof(*ca));
    if (ca == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    mbedtls_entropy_init(&ca->entropy);
    mbedtls_ctr_drbg_init(&ca->drbg);
    mbedtls_pk_init(&ca->int_key);
    mbedtls_x509_crt_init(&ca->root_crt);
    mbedtls_x509_crt_init(&ca->int_crt);
    if (pthread_mutex_init(&ca->lock, NULL) != 0) {
        ca_errf(errbuf, errlen, 0, "cannot create the CA lock");
        rc = AP_EINTERNAL;
        goto out;
    }
    ca->has_lock = true;
    mret = mbedtls_ctr_drbg_seed(&ca->drbg, mbedtls_entropy_func,
                                 &ca->entropy,
                                 (const unsigned char *)CA_PERS,
                                 sizeof(CA_PERS) - 1);
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "cannot seed the CA random generator");
        rc = AP_ECRYPTO;
        goto out;
    }
    rc = ca_load(ca, dir, errbuf, errlen);
out:
    if (rc == AP_OK) {
        *out = ca;
    } else {
        ca_free(ca);
    }
    return rc;
}

void
ca_free(struct ca *ca)
{
    if (ca == NULL) {
        return;
    }
    mbedtls_pk_free(&ca->int_key);
    mbedtls_x509_crt_free(&ca->root_crt);
    mbedtls_x509_crt_free(&ca->int_crt);
    mbedtls_ctr_drbg_free(&ca->drbg);
    mbedtls_entropy_free(&ca->entropy);
    if (ca->has_lock) {
        (void)pthread_mutex_destroy(&ca->lock); /* not held: nothing to do */
    }
    free(ca->root_pem);
    free(ca->int_pem);
    mbedtls_platform_zeroize(ca, sizeof(*ca));
    free(ca);
}

const char *
ca_root_pem(const struct ca *ca)
{
    return ca->root_pem;
}

const char *
ca_intermediate_pem(const struct ca *ca)
{
    return ca->int_pem;
}

/* ---- leaves -------------------------------------------------------- */

/* RFC 5280 §4.2.1.6 GeneralNames: dNSName [2] IA5String and iPAddress [7]
 * OCTET STRING (4 or 16 bytes), DNS names first, each list in order. */
static ap_err
san_build(const struct leaf_spec *spec, unsigned char **out, size_t *outlen,
          char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    unsigned char *buf = NULL;
    unsigned char *p;
    unsigned char ip[16];
    size_t cap = 16; /* SEQUENCE tag and length */
    size_t len = 0;
    size_t nlen;
    size_t i;
    size_t j;
    int mret;

    for (i = 0; i < spec->n_dns_names; i++) {
        const char *name = spec->dns_names[i];

        nlen = name == NULL ? 0 : strlen(name);
        if (nlen == 0 || nlen > CA_DNS_NAME_MAX) {
            ca_errf(errbuf, errlen, 0, "DNS name %zu: empty or longer than "
                                       "%d bytes", i, CA_DNS_NAME_MAX);
            rc = AP_EINVAL;
            goto out;
        }
        for (j = 0; j < nlen; j++) {
            unsigned char c = (unsigned char)name[j];

            /* IA5String, and nothing that could not be in a host name. */
            if (c <= 0x20 || c >= 0x7f) {
                ca_errf(errbuf, errlen, 0, "DNS name %zu: byte 0x%02x not "
                                           "allowed", i, c);
                rc = AP_EINVAL;
                goto out;
            }
        }
        cap += nlen + 6;
    }
    cap += spec->n_ip_addrs * (sizeof(ip) + 2);
    buf = malloc(cap);
    if (buf == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    p = buf + cap;
    /* asn1write writes backwards: last name first. */
    for (i = spec->n_ip_addrs; i-- > 0;) {
        const char *text = spec->ip_addrs[i];

        if (text != NULL && inet_pton(AF_INET, text, ip) == 1) {
            nlen = 4;
        } else if (text != NULL && inet_pton(AF_INET6, text, ip) == 1) {
            nlen = 16;
        } else {
            ca_errf(errbuf, errlen, 0, "IP address %zu: not an IPv4 or IPv6 "
                                       "address", i);
            rc = AP_EINVAL;
            goto out;
        }
        mret = mbedtls_asn1_write_raw_buffer(&p, buf, ip, nlen);
        if (mret >= 0) {
            len += (size_t)mret;
            mret = mbedtls_asn1_write_len(&p, buf, nlen);
        }
        if (mret >= 0) {
            len += (size_t)mret;
            mret = mbedtls_asn1_write_tag(&p, buf,
                                          MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7);
        }
        if (mret < 0) {
            ca_errf(errbuf, errlen, mret, "subjectAltName");
            rc = AP_EINTERNAL;
            goto out;
        }
        len += (size_t)mret;
    }
    for (i = spec->n_dns_names; i-- > 0;) {
        nlen = strlen(spec->dns_names[i]);
        mret = mbedtls_asn1_write_raw_buffer(
            &p, buf, (const unsigned char *)spec->dns_names[i], nlen);
        if (mret >= 0) {
            len += (size_t)mret;
            mret = mbedtls_asn1_write_len(&p, buf, nlen);
        }
        if (mret >= 0) {
            len += (size_t)mret;
            mret = mbedtls_asn1_write_tag(&p, buf,
                                          MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2);
        }
        if (mret < 0) {
            ca_errf(errbuf, errlen, mret, "subjectAltName");
            rc = AP_EINTERNAL;
            goto out;
        }
        len += (size_t)mret;
    }
    mret = mbedtls_asn1_write_len(&p, buf, len);
    if (mret >= 0) {
        len += (size_t)mret;
        mret = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                                   MBEDTLS_ASN1_SEQUENCE);
    }
    if (mret < 0) {
        ca_errf(errbuf, errlen, mret, "subjectAltName");
        rc = AP_EINTERNAL;
        goto out;
    }
    len += (size_t)mret;
    memmove(buf, p, len);
    rc = AP_OK;
out:
    if (rc == AP_OK) {
        *out = buf;
        *outlen = len;
    } else {
        free(buf);
    }
    return rc;
}

/* ExtKeyUsageSyntax: SEQUENCE { id-kp-serverAuth, id-kp-clientAuth }. */
static int
eku_build(unsigned char *buf, size_t size, unsigned char **start)
{
    unsigned char *p = buf + size;
    size_t len = 0;
    int mret;

    mret = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH,
                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    if (mret < 0) {
        return mret;
    }
    len += (size_t)mret;
    mret = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
    if (mret < 0) {
        return mret;
    }
    len += (size_t)mret;
    mret = mbedtls_asn1_write_len(&p, buf, len);
    if (mret < 0) {
        return mret;
    }
    len += (size_t)mret;
    mret = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                               MBEDTLS_ASN1_SEQUENCE);
    if (mret < 0) {
        return mret;
    }
    len += (size_t)mret;
    *start = p;
    return (int)len;
}

/* Checks spec, builds the leaf and signs it with the intermediate. */
static ap_err
leaf_issue(struct ca *ca, const struct leaf_spec *spec, char **out,
           char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    /* BasicConstraints ::= SEQUENCE {}: cA defaults to FALSE. */
    static const unsigned char bc_leaf[] = {0x30, 0x00};
    mbedtls_x509write_cert crt;
    mbedtls_pk_type_t type;
    mbedtls_asn1_named_data *cn_attr;
    unsigned char eku[32];
    unsigned char *eku_p = NULL;
    unsigned char *san = NULL;
    size_t san_len = 0;
    char nb[CA_TIME_LEN + 1];
    char na[CA_TIME_LEN + 1];
    const char *cn;
    size_t cn_len;
    bool has_cn;
    bool locked = false;
    unsigned ku;
    size_t i;
    int eku_len;
    int mret;

    mbedtls_x509write_crt_init(&crt);
    if ((spec->n_dns_names > 0 && spec->dns_names == NULL) ||
        (spec->n_ip_addrs > 0 && spec->ip_addrs == NULL)) {
        ca_errf(errbuf, errlen, 0, "name list missing");
        rc = AP_EINVAL;
        goto out;
    }
    if (spec->n_dns_names == 0 && spec->n_ip_addrs == 0) {
        ca_errf(errbuf, errlen, 0, "no DNS name or IP address to certify");
        rc = AP_EINVAL;
        goto out;
    }
    if (spec->n_dns_names > CA_NAMES_MAX ||
        spec->n_ip_addrs > CA_NAMES_MAX - spec->n_dns_names) {
        ca_errf(errbuf, errlen, 0, "more than %d names", CA_NAMES_MAX);
        rc = AP_ETOOBIG;
        goto out;
    }
    type = mbedtls_pk_get_type(spec->key);
    if (type == MBEDTLS_PK_RSA) {
        if (mbedtls_pk_get_bitlen(spec->key) < CA_RSA_MIN_BITS) {
            ca_errf(errbuf, errlen, 0, "RSA key shorter than %d bits",
                    CA_RSA_MIN_BITS);
            rc = AP_EINVAL;
            goto out;
        }
        ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE |
             MBEDTLS_X509_KU_KEY_ENCIPHERMENT;
    } else if (type == MBEDTLS_PK_ECKEY) {
        ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
    } else {
        ca_errf(errbuf, errlen, 0, "key type %s not supported",
                mbedtls_pk_get_name(spec->key));
        rc = AP_EINVAL;
        goto out;
    }
    if (spec->not_after <= spec->not_before) {
        ca_errf(errbuf, errlen, 0, "not_after is not after not_before");
        rc = AP_EINVAL;
        goto out;
    }
    rc = time_format(spec->not_before, nb, sizeof(nb));
    if (rc == AP_OK) {
        rc = time_format(spec->not_after, na, sizeof(na));
    }
    if (rc != AP_OK) {
        ca_errf(errbuf, errlen, 0, "validity outside 1970..9999");
        goto out;
    }
    /* A leaf never outlives its issuer. */
    if (strcmp(na, ca->int_not_after) > 0) {
        memcpy(na, ca->int_not_after, sizeof(na));
        if (strcmp(na, nb) <= 0) {
            ca_errf(errbuf, errlen, 0, "not_before is after the end of the "
                                       "intermediate CA");
            rc = AP_EINVAL;
            goto out;
        }
    }

    cn = spec->cn;
    if (cn == NULL) {
        cn = spec->n_dns_names > 0 ? spec->dns_names[0] : spec->ip_addrs[0];
    }
    cn_len = cn == NULL ? 0 : strlen(cn);
    for (i = 0; i < cn_len; i++) {
        unsigned char c = (unsigned char)cn[i];

        if (c < 0x20 || c == 0x7f) {
            ca_errf(errbuf, errlen, 0, "control character in the CN");
            rc = AP_EINVAL;
            goto out;
        }
    }
    /* RFC 5280 §4.2.1.6: with an empty subject the SAN is critical. */
    has_cn = cn_len > 0 && cn_len <= CA_CN_MAX;

    rc = san_build(spec, &san, &san_len, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    eku_len = eku_build(eku, sizeof(eku), &eku_p);
    if (eku_len < 0) {
        ca_errf(errbuf, errlen, eku_len, "extKeyUsage");
        rc = AP_EINTERNAL;
        goto out;
    }

    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, spec->key);
    mbedtls_x509write_crt_set_issuer_key(&crt, &ca->int_key);
    mret = mbedtls_x509write_crt_set_issuer_name(&crt, ca->int_name);
    if (mret == 0 && has_cn) {
        /* Set directly, not through mbedTLS's "CN=..." parser: a CN may
         * hold ',', '=' or '\\'. */
        cn_attr = mbedtls_asn1_store_named_data(
            &crt.subject, MBEDTLS_OID_AT_CN,
            MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN), (const unsigned char *)cn,
            cn_len);
        if (cn_attr == NULL) {
            mret = MBEDTLS_ERR_ASN1_ALLOC_FAILED;
        } else {
            cn_attr->val.tag = MBEDTLS_ASN1_UTF8_STRING;
        }
    }
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_validity(&crt, nb, na);
    }
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_extension(
            &crt, MBEDTLS_OID_BASIC_CONSTRAINTS,
            MBEDTLS_OID_SIZE(MBEDTLS_OID_BASIC_CONSTRAINTS), 1, bc_leaf,
            sizeof(bc_leaf));
    }
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_key_usage(&crt, ku);
    }
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_extension(
            &crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
            MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku_p,
            (size_t)eku_len);
    }
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_extension(
            &crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
            MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), has_cn ? 0 : 1,
            san, san_len);
    }
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_subject_key_identifier(&crt);
    }
    if (mret == 0) {
        mret = mbedtls_x509write_crt_set_authority_key_identifier(&crt);
    }
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "cannot build the certificate");
        rc = mret_to_err(mret);
        goto out;
    }
    if (pthread_mutex_lock(&ca->lock) != 0) {
        ca_errf(errbuf, errlen, 0, "cannot take the CA lock");
        rc = AP_EINTERNAL;
        goto out;
    }
    locked = true;
    /* Key, SANs and CN are bounded above: no overflow. */
    rc = crt_sign_pem(ca, &crt,
                      CA_DER_BASE + mbedtls_pk_get_len(spec->key) * 2 +
                          san_len + cn_len,
                      out, errbuf, errlen);
out:
    if (locked) {
        (void)pthread_mutex_unlock(&ca->lock); /* we hold it */
    }
    mbedtls_x509write_crt_free(&crt);
    free(san);
    return rc;
}

ap_err
ca_issue(struct ca *ca, const struct ca_issue_req *req, char **cert_pem,
         char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    struct leaf_spec spec;
    mbedtls_pk_context key;
    char *pem = NULL;
    int mret;

    mbedtls_pk_init(&key);
    if (errbuf != NULL && errlen > 0) {
        errbuf[0] = '\0';
    }
    if (ca == NULL || req == NULL || cert_pem == NULL) {
        ca_errf(errbuf, errlen, 0, "missing argument");
        rc = AP_EINVAL;
        goto out;
    }
    if (req->pubkey_der == NULL || req->pubkey_der_len == 0) {
        ca_errf(errbuf, errlen, 0, "no public key");
        rc = AP_EINVAL;
        goto out;
    }
    mret = mbedtls_pk_parse_public_key(&key, req->pubkey_der,
                                       req->pubkey_der_len);
    if (mret != 0) {
        ca_errf(errbuf, errlen, mret, "public key");
        rc = mret == MBEDTLS_ERR_PK_ALLOC_FAILED ? AP_ENOMEM : AP_EPARSE;
        goto out;
    }
    spec.key = &key;
    spec.dns_names = req->dns_names;
    spec.n_dns_names = req->n_dns_names;
    spec.ip_addrs = req->ip_addrs;
    spec.n_ip_addrs = req->n_ip_addrs;
    spec.cn = req->cn;
    spec.not_before = req->not_before;
    spec.not_after = req->not_after;
    rc = leaf_issue(ca, &spec, &pem, errbuf, errlen);
out:
    mbedtls_pk_free(&key);
    if (rc == AP_OK) {
        *cert_pem = pem;
    }
    return rc;
}

ap_err
ca_issue_tls(struct ca *ca, const char *const *dns_names, size_t n_dns_names,
             const char *const *ip_addrs, size_t n_ip_addrs, unsigned days,
             char **key_pem, char **cert_pem, char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    struct leaf_spec spec;
    mbedtls_pk_context key;
    char *kpem = NULL;
    size_t klen = 0;
    char *cpem = NULL;
    long long now = (long long)time(NULL);

    mbedtls_pk_init(&key);
    if (errbuf != NULL && errlen > 0) {
        errbuf[0] = '\0';
    }
    if (ca == NULL || key_pem == NULL || cert_pem == NULL) {
        ca_errf(errbuf, errlen, 0, "missing argument");
        rc = AP_EINVAL;
        goto out;
    }
    if (days == 0 || days > 36500) {
        ca_errf(errbuf, errlen, 0, "validity of %u days out of range", days);
        rc = AP_EINVAL;
        goto out;
    }
    if (pthread_mutex_lock(&ca->lock) != 0) {
        ca_errf(errbuf, errlen, 0, "cannot take the CA lock");
        rc = AP_EINTERNAL;
        goto out;
    }
    rc = key_generate(ca, &key, errbuf, errlen);
    (void)pthread_mutex_unlock(&ca->lock); /* we hold it */
    if (rc != AP_OK) {
        goto out;
    }
    spec.key = &key;
    spec.dns_names = dns_names;
    spec.n_dns_names = n_dns_names;
    spec.ip_addrs = ip_addrs;
    spec.n_ip_addrs = n_ip_addrs;
    spec.cn = NULL;
    spec.not_before = now - CA_SKEW_SEC;
    spec.not_after = now + (long long)days * 86400;
    rc = leaf_issue(ca, &spec, &cpem, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = key_to_pem(&key, &kpem, &klen, errbuf, errlen);
out:
    mbedtls_pk_free(&key);
    if (rc == AP_OK) {
        *key_pem = kpem;
        *cert_pem = cpem;
    } else {
        if (kpem != NULL) {
            mbedtls_platform_zeroize(kpem, klen);
        }
        free(kpem);
        free(cpem);
    }
    return rc;
}
