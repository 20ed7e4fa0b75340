/* common/err.h: the one error type of acmeproxy.
 *
 * Every function that can fail internally returns ap_err. Library codes
 * (LMDB, mbedTLS, libcurl) are translated at the module boundary; the
 * library's own text goes to the log or to a caller-provided buffer. */
#ifndef AP_COMMON_ERR_H
#define AP_COMMON_ERR_H

#define AP_MUST_CHECK __attribute__((warn_unused_result))

typedef enum ap_err {
    AP_OK = 0,
    AP_ENOMEM,    /* allocation failed */
    AP_EINVAL,    /* argument or input not acceptable */
    AP_ETOOBIG,   /* input over its cap */
    AP_EPARSE,    /* input could not be decoded */
    AP_ENOTFOUND, /* no such record */
    AP_EEXIST,    /* record already there */
    AP_ESTORE,    /* storage failure (LMDB) */
    AP_ECRYPTO,   /* signature or crypto operation failed */
    AP_ENET,      /* network failure */
    AP_ETIMEOUT,  /* deadline passed */
    AP_ECONFIG,   /* configuration error */
    AP_EINTERNAL, /* broken invariant */
    AP__MAX
} ap_err;

/* Static text for a code; never NULL. Thread-safe. */
const char *ap_strerror(ap_err rc);

#endif /* AP_COMMON_ERR_H */
