/* proxy/val_tlsalpn01.h: the tls-alpn-01 validator (RFC 8737,
 * RFC 8738 §6) and its client side, exposed for the unit tests and
 * fuzzing. */
#ifndef AP_PROXY_VAL_TLSALPN01_H
#define AP_PROXY_VAL_TLSALPN01_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/val.h"

extern const struct validator_ops validator_tlsalpn01;

#define VAL_ACME_TLS_ALPN "acme-tls/1"

/* RFC 8737 §3 (and RFC 8738 §6 for IP identifiers): checks the
 * certificate (DER) a tls-alpn-01 responder presented for the identifier
 * (ident_type "dns" or "ip", value name), with OpenSSL's X509 API: it
 * parses, has no critical extension OpenSSL does not know besides
 * acmeIdentifier, holds exactly one subjectAltName, the dNSName name
 * (case-insensitively) or the iPAddress name, and exactly one
 * id-pe-acmeIdentifier extension (1.3.6.1.5.5.7.1.31), critical, whose
 * value is the DER of an OCTET STRING of the 32 bytes of digest
 * (SHA-256 of the key authorization, compared in constant time), and is
 * self-signed (verifies with its own key). On false why says which
 * rule. */
bool val_tlsalpn01_check_cert(const unsigned char *der, size_t len,
                              const char *ident_type, const char *name,
                              const unsigned char *digest, char *why,
                              size_t whylen);

/* The client side of one tls-alpn-01 attempt on fd, a connected stream
 * socket (made non-blocking here; not closed here): OpenSSL
 * handshake with SNI sni, ALPN "acme-tls/1" only, TLS 1.2 or later, no
 * trust checks, until deadline_ms (time_mono_ms() clock); then the
 * server must have selected "acme-tls/1" and its certificate must pass
 * the rules of val_tlsalpn01_check_cert. Sets out valid, or its problem
 * (tls, connection, incorrectResponse) with a detail that begins with
 * where; adds "alpn" and "tlsVersion" to rec (may be NULL). Reads at
 * most 256 KiB. The validator calls it per address; exposed for the
 * unit tests and fuzzing (test/fuzz/fuzz_tlsalpn.c). */
void val_tlsalpn01_session(int fd, const char *where, const char *sni,
                           const char *ident_type, const char *name,
                           const unsigned char *digest, long long deadline_ms,
                           cJSON *rec, struct val_outcome *out);

#endif /* AP_PROXY_VAL_TLSALPN01_H */
