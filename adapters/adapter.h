/* adapters/adapter.h: the contract between the issuance worker and a PKI
 * back end.
 *
 * One const struct adapter_ops per back end, defined at the bottom of its
 * own file and listed in registry.c. The core owns persistence and
 * scheduling: adapters never touch the store, never log credentials, keep
 * no globals and make no network call without a deadline. */
#ifndef AP_ADAPTERS_ADAPTER_H
#define AP_ADAPTERS_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/err.h"
#include "common/httpc.h"

#define ADAPTER_ABI 1

enum adapter_outcome {
    ADAPTER_ISSUED = 1, /* cert_pem set, chain_pem may be */
    ADAPTER_PENDING,    /* ref set; ask again after retry_after seconds */
    ADAPTER_REJECTED,   /* final: problem_type and detail set */
    ADAPTER_RETRY,      /* transient: network, 5xx, timeout, ENOMEM;
                           lookup: cannot tell now, ask again later */
    ADAPTER_NOT_FOUND,  /* lookup: the PKI has no record of the request,
                           so submitting again issues nothing twice */
    ADAPTER_UNKNOWN     /* lookup: this PKI cannot be asked about it (no
                           lookup configured, no id noted): the core
                           submits again and records a possible duplicate */
};

enum {                                /* adapter_ops.caps */
    ADAPTER_CAP_POLL = 1u << 0,       /* poll() exists */
    ADAPTER_CAP_REVOKE = 1u << 1,     /* revoke() reaches the PKI */
    ADAPTER_CAP_CONCURRENT = 1u << 2, /* submit/poll may overlap */
    ADAPTER_CAP_LOOKUP = 1u << 3,     /* lookup() exists */
    /* submit changes nothing outside this process (the embedded CA): a
     * submission cut short by the death of the process issued nothing
     * anybody holds, so the core writes no pkiInflight before it (one
     * synced write less per issuance; docs/adapters.md) */
    ADAPTER_CAP_IN_PROCESS = 1u << 4
};

/* Borrowed by the adapter for the duration of one call. */
struct adapter_request {
    const unsigned char *csr_der;
    size_t csr_der_len;
    const char *csr_pem;
    /* The CSR's SubjectPublicKeyInfo (DER, crypto_csr's pubkey_der) as
     * finalize read it when it checked the CSR, or NULL (a caller that
     * has only the CSR): an adapter that needs the key takes it from
     * here and does not parse csr_der again. */
    const unsigned char *csr_spki_der;
    size_t csr_spki_der_len;
    const char *const *dns_names;
    size_t n_dns_names;
    const char *const *ip_addrs;
    size_t n_ip_addrs;
    const char *profile;      /* template / role / profile; NULL: default */
    long long not_before;     /* seconds since the epoch; 0: PKI default */
    long long not_after;      /* 0: PKI default */
    const char *account_id;
    const char *order_id;     /* idempotency key */
    /* lookup only: the PKI's id for this request that the lost
     * submission noted (note_ref), or NULL; and when that submission
     * started (seconds since the epoch). */
    const char *ref;
    long long lost_at;
    /* submit only: call note_ref(note_ctx, id) as soon as the PKI named
     * its id for the request and before anything else is asked of it
     * (AD CS: before fetching the certificate), so that an answer lost in
     * a crash after that point is looked up by that id. AP_OK once the
     * id is durable. NULL when nobody listens. */
    ap_err (*note_ref)(void *note_ctx, const char *ref);
    void *note_ctx;
};

/* Zeroed by the caller, filled by the adapter, released by the caller
 * with adapter_result_clear(). No field may hold a secret. */
struct adapter_result {
    char *cert_pem;           /* ISSUED: the leaf */
    char *chain_pem;          /* ISSUED: issuers, leaf's issuer first; may be NULL */
    char *ref;                /* PENDING: PKI request id; ISSUED: optional
                                 PKI reference kept with the certificate */
    unsigned retry_after;     /* PENDING, RETRY: seconds */
    const char *problem_type; /* REJECTED: static "urn:ietf:params:acme:error:*" */
    char *detail;             /* REJECTED, RETRY: for humans */
    bool in_doubt;            /* submit RETRY: the request went out and no
                                 answer came (timeout, dropped connection):
                                 the PKI may have issued, so the core asks
                                 lookup (or records a possible duplicate)
                                 before it submits again */
};

struct ca; /* common/ca.h */

/* What the core lends to adapters at init; borrowed until free(). */
struct adapter_ctx {
    struct ca *ca;            /* the embedded CA (always open) */
    const char *data_dir;
};

struct adapter_ops {
    unsigned abi;                   /* ADAPTER_ABI */
    const char *name;               /* value of [adapter] type */
    unsigned caps;                  /* ADAPTER_CAP_* */
    const char *const *config_keys; /* keys of [adapter] besides type; NULL-terminated */

    /* Reads its settings and credentials once and checks them; *state is
     * the adapter's until free(). errbuf gets a reason safe to log.
     * ctx carries what the core lends (the embedded CA). */
    ap_err (*init)(const struct config_section *cfg,
                   const struct adapter_ctx *ctx, void **state, char *errbuf,
                   size_t errlen);
    enum adapter_outcome (*submit)(void *state,
                                   const struct adapter_request *req,
                                   struct adapter_result *res);
    enum adapter_outcome (*poll)(void *state, const char *ref,
                                 struct adapter_result *res); /* CAP_POLL */
    /* CAP_LOOKUP. Called only when a crash (or a submission in doubt)
     * lost a submission's answer: finds what the PKI did with req (same
     * request as the lost submit, plus ref and lost_at) without issuing
     * anything. ISSUED: the certificate made for it (adopted; the core
     * checks it is for the CSR's key), PENDING: queued there (ref set),
     * REJECTED: refused there, NOT_FOUND: no record, RETRY: cannot tell
     * now, UNKNOWN: cannot be asked. */
    enum adapter_outcome (*lookup)(void *state,
                                   const struct adapter_request *req,
                                   struct adapter_result *res);
    /* Revokes cert_pem (the leaf, then its chain) with an RFC 5280 reason
     * code. AP_OK when the PKI revoked it or answers that it already is;
     * otherwise errbuf says what the PKI answered (AP_EINVAL: the PKI
     * refused, or, from an adapter without ADAPTER_CAP_REVOKE, this PKI
     * cannot revoke through its API at all and errbuf says who can: the
     * core answers 403 unauthorized; AP_ENET/AP_ETIMEOUT: not reached,
     * try again later). */
    ap_err (*revoke)(void *state, const char *cert_pem, int reason,
                     char *errbuf, size_t errlen);
    ap_err (*health)(void *state, char *errbuf, size_t errlen);
    void (*free)(void *state); /* accepts NULL */
};

/* Problem types adapters put in adapter_result.problem_type. */
#define ADAPTER_PROB_BAD_CSR "urn:ietf:params:acme:error:badCSR"
#define ADAPTER_PROB_REJECTED "urn:ietf:params:acme:error:rejectedIdentifier"
#define ADAPTER_PROB_UNAUTHORIZED "urn:ietf:params:acme:error:unauthorized"
#define ADAPTER_PROB_INTERNAL "urn:ietf:params:acme:error:serverInternal"

/* Keys every adapter accepts in its section. The issuance worker reads
 * them (proxy/issuer.c), the adapter ignores them:
 *   workers          issuance threads (default 4; at most max_inflight)
 *   max_inflight     calls to the PKI at once (default 4; 1 without
 *                    ADAPTER_CAP_CONCURRENT)
 *   pending_timeout  seconds an order may stay pending at the PKI
 *   retry_timeout    seconds transient failures are retried
 *   poll_interval    seconds between polls when the PKI names none
 *   probe_interval   seconds between health probes while the PKI fails
 *   lookup_grace     seconds after a lost submission before a lookup's
 *                    "not found" is believed (the PKI may still be
 *                    working on it; default: timeout_ms + 2 s)
 *   trust_anchors    PEM file the returned chains must verify to
 * Put ADAPTER_CORE_KEYS into every adapter's config_keys. */
#define ADAPTER_CORE_KEYS                                                    \
    "workers", "max_inflight", "pending_timeout", "retry_timeout",           \
        "poll_interval", "probe_interval", "lookup_grace", "trust_anchors"

/* Keys of the HTTP back ends, read by adapter_http_load. */
#define ADAPTER_HTTP_KEYS                                                    \
    "url", "ca_file", "client_cert", "client_key", "timeout_ms",             \
        "connect_timeout_ms", "allow_http", "max_response"

/* Where and how an HTTP back end talks to its PKI. Owned strings. */
struct adapter_http {
    char *url;                  /* base URL, no trailing slash */
    char *ca_file;              /* TLS trust for the PKI; NULL: system */
    char *client_cert;          /* PEM file or NULL */
    char *client_key;           /* PEM file or NULL */
    unsigned timeout_ms;        /* per request, total */
    unsigned connect_timeout_ms;
    size_t max_response;        /* bytes */
    bool allow_http;            /* plain http:// accepted */
};

/* Reads ADAPTER_HTTP_KEYS of cfg. what names the adapter in messages.
 * AP_ECONFIG with "file:line: ..." in errbuf on a bad value. Warns at
 * start when client_key is readable by others. */
AP_MUST_CHECK ap_err adapter_http_load(const struct config_section *cfg,
                                       const char *what,
                                       struct adapter_http *out,
                                       char *errbuf, size_t errlen);
void adapter_http_fini(struct adapter_http *h);
/* A call to url (borrowed) with h's TLS settings and limits. */
void adapter_http_call(const struct adapter_http *h, struct httpc_call *call,
                       const char *method, const char *url);

/* Reads the secret named by the value of key: "env:NAME" takes the
 * environment variable, "file:PATH" or a plain path the file's first line
 * (trailing CR/LF dropped; a file over 8 KiB is refused). A file others
 * may read is a start-up warning.
 * AP_ENOTFOUND when key is absent (errbuf set only if required); the
 * secret itself never reaches errbuf or the log. Free with
 * adapter_secret_free. */
AP_MUST_CHECK ap_err adapter_secret(const struct config_section *cfg,
                                    const char *key, const char *what,
                                    bool required, char **out, char *errbuf,
                                    size_t errlen);
/* Wipes and frees a secret; accepts NULL. */
void adapter_secret_free(char *secret);
/* Logs a warning when path (a key or secret file) is readable by group or
 * others. */
void adapter_check_private_file(const char *path, const char *what);

/* Typed config values: the value of key in [min, max], or dflt when
 * absent. AP_ECONFIG with file:line in errbuf otherwise. */
AP_MUST_CHECK ap_err adapter_conf_uint(const struct config_section *cfg,
                                       const char *key, unsigned min,
                                       unsigned max, unsigned dflt,
                                       unsigned *out, char *errbuf,
                                       size_t errlen);
AP_MUST_CHECK ap_err adapter_conf_bool(const struct config_section *cfg,
                                       const char *key, bool dflt,
                                       bool *out, char *errbuf,
                                       size_t errlen);
/* The value of key or dflt (borrowed from cfg). cfg may be NULL. */
const char *adapter_conf_str(const struct config_section *cfg,
                             const char *key, const char *dflt);
/* A copy of the value of key (or of dflt; NULL stays NULL). AP_ECONFIG
 * when required and absent or empty. */
AP_MUST_CHECK ap_err adapter_conf_dup(const struct config_section *cfg,
                                      const char *key, const char *dflt,
                                      bool required, const char *what,
                                      char **out, char *errbuf,
                                      size_t errlen);

/* Fills res for a final or transient failure: problem_type for REJECTED,
 * retry_after for RETRY/PENDING, detail from the format (cleaned of
 * control characters, capped). Returns outcome. */
enum adapter_outcome adapter_fail(struct adapter_result *res,
                                  enum adapter_outcome outcome,
                                  const char *problem_type,
                                  const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The outcome for an HTTP status that is not the product's success: 0 (no
 * answer), 408, 429 and 5xx are RETRY; other 4xx are REJECTED. */
enum adapter_outcome adapter_status_outcome(long status);
/* RFC 5280 CRLReason name in EJBCA's spelling ("KEY_COMPROMISE") for
 * codes 0-10 but 7; NULL otherwise. */
const char *adapter_reason_name(int reason);

/* Decimal text of a hex number (serials for step-ca), caller frees; NULL
 * on a non-hex character or ENOMEM. */
char *adapter_hex_to_dec(const char *hex);

/* The adapter named name, or NULL. */
const struct adapter_ops *adapter_find(const char *name);
/* Checks the registry (ABI, unique names, poll iff CAP_POLL, lookup iff
 * CAP_LOOKUP): AP_EINTERNAL
 * names the broken entry in errbuf. Called once at start. */
AP_MUST_CHECK ap_err adapter_registry_check(char *errbuf, size_t errlen);
/* Frees the members of res and zeroes it. */
void adapter_result_clear(struct adapter_result *res);

#endif /* AP_ADAPTERS_ADAPTER_H */
