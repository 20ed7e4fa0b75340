/* common/x509_int.h: what x509.c (reading certificates) shares with
 * x509_check.c (checking a PKI's leaf). Not for any other file: it hands
 * out OpenSSL types. */
#ifndef AP_COMMON_X509_INT_H
#define AP_COMMON_X509_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "common/x509.h"

#define X509_LABEL "CERTIFICATE"
#define X509_BEGIN "-----BEGIN CERTIFICATE-----"

/* One DER certificate, every byte of it (at most X509_MAX_BUNDLE); NULL
 * when it is not one. */
X509 *x509_cert_from_der(const unsigned char *der, size_t len);

/* Whether der (exactly len bytes, at most X509_MAX_BUNDLE) is one DER
 * certificate as d2i_X509 would accept it, checked with OpenSSL's ASN.1
 * templates of the same structure but without building the subject's
 * public key (the costly part of d2i_X509 on OpenSSL 3.0). */
bool x509_der_is_cert(const unsigned char *der, size_t len);

/* What x509_each_cert hands its callback: one certificate, decoded (NULL
 * when the walk does not decode) and as DER. The callback sets *stop to
 * end the walk early. */
typedef ap_err (*x509_cert_fn)(void *arg, X509 *x, const unsigned char *der,
                               size_t len, bool *stop);
/* What x509_each_cert does with each block before fn sees it. */
enum x509_walk {
    X509_WALK_DECODE,   /* d2i_X509 (fn gets x) */
    X509_WALK_CHECK,    /* x509_der_is_cert only (fn gets x NULL) */
    X509_WALK_RAW,      /* nothing: fn decodes or checks it (x NULL) */
};
/* Walks the CERTIFICATE blocks of text with OpenSSL's PEM reader (blocks
 * of other labels and text between blocks skipped) and calls fn with
 * each, as walk says. AP_EPARSE when a block is broken or is not one
 * certificate; AP_ETOOBIG past X509_MAX_BUNDLE bytes or X509_MAX_CERTS
 * certificates; *count (may be NULL) gets the number seen. */
AP_MUST_CHECK ap_err x509_each_cert(const char *text, enum x509_walk walk,
                                    x509_cert_fn fn, void *arg,
                                    size_t *count);
/* The first certificate of pem, after checking that every CERTIFICATE
 * block decodes (caller frees with X509_free). */
AP_MUST_CHECK ap_err x509_first_cert(const char *pem, X509 **out);

/* The DER content octets of an INTEGER (two's complement, minimal) from
 * OpenSSL's sign-and-magnitude form, into a new buffer (caller frees). */
AP_MUST_CHECK ap_err x509_serial_content(const ASN1_INTEGER *serial,
                                         unsigned char **out,
                                         size_t *outlen);
/* Lower-case hex of the content octets without leading zero octets (one
 * is kept for zero); NULL on ENOMEM. */
char *x509_serial_hex_of(const unsigned char *s, size_t len);
/* An ASN1_TIME as seconds since the epoch. */
AP_MUST_CHECK ap_err x509_time_of(const ASN1_TIME *t, long long *out);

#endif /* AP_COMMON_X509_INT_H */
