/* proxy/val.h: what a challenge validator is, and the checks the
 * validators share.
 *
 * proxy/validate.c runs one validator per job on a validator thread
 * (never on a request thread) with no store transaction open. A validator
 * (val_http01.c, val_dns01.c, val_tlsalpn01.c, each with its header)
 * fills a struct val_outcome: valid, or a problem type with a detail that
 * names the address and the step, plus evidence records (URLs, addresses
 * resolved and used, resolver answers) that are stored with the challenge
 * and logged. Every network step is bounded by in->deadline_ms, every
 * address is checked against the [validation] allow/deny policy before a
 * connection, and every read is capped. Thread-safe. */
#ifndef AP_PROXY_VAL_H
#define AP_PROXY_VAL_H

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

#endif /* AP_PROXY_VAL_H */
