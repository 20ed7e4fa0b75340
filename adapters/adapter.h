/* adapters/adapter.h: the contract between the issuance worker and a PKI
 * back end.
 *
 * One const struct adapter_ops per back end, defined at the bottom of its
 * own file and listed in registry.c. The core owns persistence and
 * scheduling: adapters never touch the store, never log credentials, keep
 * no globals and make no network call without a deadline. */
#ifndef AP_ADAPTERS_ADAPTER_H
#define AP_ADAPTERS_ADAPTER_H

#include <stddef.h>

#include "common/config.h"
#include "common/err.h"

#define ADAPTER_ABI 1

enum adapter_outcome {
    ADAPTER_ISSUED = 1, /* cert_pem set, chain_pem may be */
    ADAPTER_PENDING,    /* ref set; ask again after retry_after seconds */
    ADAPTER_REJECTED,   /* final: problem_type and detail set */
    ADAPTER_RETRY       /* transient: network, 5xx, timeout, ENOMEM */
};

enum {                                /* adapter_ops.caps */
    ADAPTER_CAP_POLL = 1u << 0,       /* poll() exists */
    ADAPTER_CAP_REVOKE = 1u << 1,     /* revoke() reaches the PKI */
    ADAPTER_CAP_CONCURRENT = 1u << 2  /* submit/poll may overlap */
};

/* Borrowed by the adapter for the duration of one call. */
struct adapter_request {
    const unsigned char *csr_der;
    size_t csr_der_len;
    const char *csr_pem;
    const char *const *dns_names;
    size_t n_dns_names;
    const char *const *ip_addrs;
    size_t n_ip_addrs;
    const char *profile;      /* template / role / profile; NULL: default */
    long long not_before;     /* seconds since the epoch; 0: PKI default */
    long long not_after;      /* 0: PKI default */
    const char *account_id;
    const char *order_id;     /* idempotency key */
};

/* Zeroed by the caller, filled by the adapter, released by the caller
 * with adapter_result_clear(). No field may hold a secret. */
struct adapter_result {
    char *cert_pem;           /* ISSUED: the leaf */
    char *chain_pem;          /* ISSUED: issuers, leaf's issuer first; may be NULL */
    char *ref;                /* PENDING: PKI request id */
    unsigned retry_after;     /* PENDING, RETRY: seconds */
    const char *problem_type; /* REJECTED: static "urn:ietf:params:acme:error:*" */
    char *detail;             /* REJECTED, RETRY: for humans */
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
    ap_err (*revoke)(void *state, const char *cert_pem, int reason,
                     char *errbuf, size_t errlen);
    ap_err (*health)(void *state, char *errbuf, size_t errlen);
    void (*free)(void *state); /* accepts NULL */
};

/* The adapter named name, or NULL. */
const struct adapter_ops *adapter_find(const char *name);
/* Checks the registry (ABI, unique names, poll iff CAP_POLL): AP_EINTERNAL
 * names the broken entry in errbuf. Called once at start. */
AP_MUST_CHECK ap_err adapter_registry_check(char *errbuf, size_t errlen);
/* Frees the members of res and zeroes it. */
void adapter_result_clear(struct adapter_result *res);

#endif /* AP_ADAPTERS_ADAPTER_H */
