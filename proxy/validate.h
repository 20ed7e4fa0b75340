/* proxy/validate.h: the challenge validators and the checks they rest on.
 *
 * challenge.c runs one validator per job on a validator thread (never on
 * a request thread) with no store transaction open. A validator fills a
 * struct val_outcome: valid, or a problem type with a detail that names
 * the address and the step, plus evidence records (URLs, addresses
 * resolved and used, resolver answers) that are stored with the challenge
 * and logged. Every network step is bounded by in->deadline_ms, every
 * address is checked against the [validation] allow/deny policy before a
 * connection, and every read is capped. The pure helpers are exported for
 * the unit tests. Thread-safe. */
#ifndef AP_PROXY_VALIDATE_H
#define AP_PROXY_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/err.h"
#include "common/httpc.h"
#include "common/netpolicy.h"
#include "proxy/problem.h"

#define VAL_MAX_REDIRECTS 10       /* http-01 redirects followed at most */
#define VAL_MAX_DETAIL 1100

/* What a validator gets (all borrowed for the call). */
struct val_input {
    const struct config *cfg;
    const struct netpolicy *policy;
    const char *ident_type;   /* "dns" or "ip" */
    const char *name;         /* the authorization's identifier value
                                 (a wildcard's base name) */
    const char *token;
    const char *keyauth;      /* token "." thumbprint (RFC 8555 §8.1) */
    long long deadline_ms;    /* monotonic; the whole attempt */
};

struct val_outcome {
    bool valid;
    enum problem_type problem;      /* when !valid */
    char detail[VAL_MAX_DETAIL];    /* when !valid */
    char address[64];               /* the address the answer came from */
    cJSON *evidence;                /* array of records; owned, may be NULL */
};

struct validator_ops {
    const char *type;                       /* "http-01" ... */
    void (*run)(const struct val_input *in, struct val_outcome *out);
};

extern const struct validator_ops validator_http01;
extern const struct validator_ops validator_dns01;
extern const struct validator_ops validator_tlsalpn01;

/* The validator for a challenge type, or NULL. */
const struct validator_ops *validator_find(const char *type);

/* Marks out failed with problem t and a printf detail. */
void val_fail(struct val_outcome *out, enum problem_type t, const char *fmt,
              ...) __attribute__((format(printf, 3, 4)));

/* Milliseconds left until deadline_ms (0 when passed). */
unsigned val_remaining_ms(long long deadline_ms);

/* A new evidence record appended to out->evidence (created on first
 * use); NULL on ENOMEM (evidence is then incomplete, never wrong). */
cJSON *val_evidence_add(struct val_outcome *out);

/* The addresses of a host a validator may connect to: an IP literal is
 * itself, a name is resolved through [validation] resolver; each address
 * is checked against the policy. Fills allowed[] (up to max), records
 * "addressesResolved" (and "addressesDenied") in rec, and on failure sets
 * the problem (dns when the lookup fails, unauthorized when every address
 * is denied) and returns false. what names the step for the detail. */
bool val_addresses(const struct val_input *in, const char *host,
                   bool host_is_ip, const char *what, cJSON *rec,
                   char (*allowed)[46], size_t max, size_t *n,
                   struct val_outcome *out);

/* ---- http-01 (val_http01.c) ---------------------------------------- */

/* Whether a redirect (RFC 8555 §8.3 lets http-01 follow them) may go to
 * u: scheme http on port 80 or http_port, or https on 443 or tls_port; no
 * userinfo; a host that is an IP literal or an acceptable DNS name. On
 * false why says which rule. The address policy is checked later, after
 * the host is resolved. */
bool val_http01_redirect_ok(const struct httpc_url *u, unsigned http_port,
                            unsigned tls_port, char *why, size_t whylen);

/* RFC 8555 §8.3: whether body[len] (a 200 response's body, capped by
 * max_body) is the key authorization, trailing white space ignored. On
 * false why says so with the body's length only: a detail never quotes
 * the body, since a redirect may have led to a service the account
 * holder could not read otherwise. Exposed for the unit tests and
 * fuzzing (test/fuzz/fuzz_http01.c). */
bool val_http01_body_ok(const char *body, size_t len, const char *keyauth,
                        char *why, size_t whylen);

/* ---- dns-01 (val_dns01.c) ------------------------------------------ */

#define VAL_DNS01_DIGEST_LEN 43    /* base64url of a SHA-256, no padding */

/* RFC 8555 §8.4: the TXT value, base64url(SHA-256(keyauth)), into out
 * (outlen > VAL_DNS01_DIGEST_LEN). */
void val_dns01_expected(const char *keyauth, char *out, size_t outlen);

/* ---- tls-alpn-01 (val_tlsalpn01.c) ---------------------------------- */

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

#endif /* AP_PROXY_VALIDATE_H */
