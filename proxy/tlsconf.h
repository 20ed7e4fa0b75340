/* proxy/tlsconf.h: the listener's TLS server configuration (mbedTLS), as a
 * reference-counted object so that the certificate and key can be replaced
 * while connections use the old ones (live reload).
 *
 * A connection takes a reference before mbedtls_ssl_setup and drops it
 * after mbedtls_ssl_free; whoever replaces the current configuration drops
 * the reference it held. The last reference frees it. Reference counting
 * is thread-safe; the mbedTLS config is read-only after tlsconf_new. */
#ifndef AP_PROXY_TLSCONF_H
#define AP_PROXY_TLSCONF_H

#include <stddef.h>

#include "common/err.h"

struct tlsconf;

/* Reads the PEM file (private key and certificate chain), checks that the
 * key is the certificate's, and builds a server configuration with its own
 * random generator. One reference, the caller's. AP_ECONFIG with
 * mbedTLS's reason in errbuf. */
AP_MUST_CHECK ap_err tlsconf_new(const char *pem_file, struct tlsconf **out,
                                 char *errbuf, size_t errlen);
/* Takes one more reference; returns t. */
struct tlsconf *tlsconf_ref(struct tlsconf *t);
/* Drops one; the last frees. Accepts NULL. */
void tlsconf_put(struct tlsconf *t);
/* The mbedtls_ssl_config * for mbedtls_ssl_setup. */
const void *tlsconf_ssl(const struct tlsconf *t);

#endif /* AP_PROXY_TLSCONF_H */
