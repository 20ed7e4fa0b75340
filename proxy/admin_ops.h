/* proxy/admin_ops.h: the admin operations, one implementation shared by
 * the subcommands (proxy/admin.h: `acmeproxy -c CONF eab add ...`) and
 * the admin API (proxy/adminsrv.h: `POST /admin/eab ...`).
 *
 * Each operation takes its inputs already in memory (no argv, no JSON
 * request body), runs against app (store, configuration, audit, and the
 * adapter for a revocation), and gives back either a JSON document, the
 * same one `--json` prints and the API answers, or an outcome other than
 * ADMIN_R_OK with a one-line reason in res->detail (no secret in it).
 * The front ends only translate: the CLI prints the document as a table
 * or as JSON and the reason on stderr; the API sends the document or a
 * problem with the status admin_outcome_status() gives.
 *
 * Every change is one short write transaction carrying its audit event,
 * whose fields name the caller (admin_ops_fields: "by" and "caller").
 * The EAB HMAC key is returned by admin_op_eab_add only, into the
 * caller's buffer (the caller wipes it), and is in no document, event
 * or reason. Thread-safe as far as the store and adapter are (the API
 * runs operations from several threads). */
#ifndef AP_PROXY_ADMIN_OPS_H
#define AP_PROXY_ADMIN_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "proxy/app.h"

enum admin_outcome {
    ADMIN_R_OK,
    ADMIN_R_INVALID,   /* the request is wrong (bad label, list, serial) */
    ADMIN_R_NOTFOUND,  /* no such key or certificate */
    ADMIN_R_CONFLICT,  /* nothing to change: already revoked */
    ADMIN_R_PKI,       /* the PKI refused or failed */
    ADMIN_R_FAILED,    /* store failure, out of memory */
};

struct admin_result {
    enum admin_outcome outcome;
    char detail[256];           /* why, when outcome is not ADMIN_R_OK */
};

/* Who asks, for the audit events of changes. by: "admin" (a subcommand:
 * the Unix uid is added) or "api"; caller: the API's token name or
 * client-certificate subject (NULL for a subcommand). Borrowed. */
struct admin_actor {
    const char *by;
    const char *caller;
    const char *request;        /* the event's "request" */
};

/* The policy of a new EAB key. Arrays (of strings) borrowed; NULL: the
 * member is absent (no restriction of its own). */
struct admin_eab_spec {
    const char *label;              /* 1..ADMIN_MAX_LABEL printable ASCII */
    const cJSON *profiles;
    const cJSON *allow_names;
    const cJSON *allow_ips;
    const cJSON *preauthorized;     /* names/suffixes needing no challenge */
    const char *default_profile;    /* orders naming none; NULL: none */
    long long max_validity_days;    /* 0: none; else 1..3650 */
};

/* Filters of the account and certificate listings (all must hold). */
struct admin_filter {
    const char *team;               /* the EAB key's label; NULL: any */
    long long expiring_before;      /* certificates: still valid and
                                       notAfter <= this; 0: any */
    bool overdue;                   /* certificates: valid, its renewal
                                       window (RFC 9773, proxy/renewal.h)
                                       over, and no later certificate for
                                       the same identifiers */
};

/* True when every byte of s is printable ASCII (labels, teams). */
bool admin_printable(const char *s);

/* The HTTP status of an outcome: 200, 400, 404, 409, 502, 500. */
int admin_outcome_status(enum admin_outcome o);

/* The fields of a change's audit event (taken) with who did it added:
 * "by", and "uid" (subcommands) or "caller" (API). NULL (fields freed)
 * when out of memory. */
cJSON *admin_ops_fields(const struct admin_actor *who, cJSON *fields);

/* Mints an EAB key with spec's policy (checked here: label, lists of
 * 1..ADMIN_MAX_LIST printable strings, max_validity_days; the names, IPs
 * and profiles by eab_create). kid and hmac get the key's id and its
 * base64url HMAC key (kidlen >= EAB_KID_LEN + 1, hmaclen >=
 * EAB_HMAC_LEN + 1; the caller wipes hmac). The event "eab.created" goes
 * with it. */
enum admin_outcome admin_op_eab_add(struct app *app,
                                    const struct admin_actor *who,
                                    const struct admin_eab_spec *spec,
                                    char *kid, size_t kidlen, char *hmac,
                                    size_t hmaclen, struct admin_result *res);

/* Every EAB key, oldest first: [{"kid","label","status","created",
 * "revoked","accounts","profiles","allow_names","allow_ips",
 * "max_validity_days"}] (no HMAC key). *doc: caller deletes. */
enum admin_outcome admin_op_eab_list(struct app *app, cJSON **doc,
                                     struct admin_result *res);

/* Revokes EAB key kid (event "eab.revoked"). *doc: {"kid","label",
 * "status":"revoked","accounts":N}. NOTFOUND, CONFLICT when revoked. */
enum admin_outcome admin_op_eab_revoke(struct app *app,
                                       const struct admin_actor *who,
                                       const char *kid, cJSON **doc,
                                       struct admin_result *res);

/* The accounts that pass f (team only), oldest first: [{"id","status",
 * "created","contact","thumbprint","ip","eab":{"kid","label"}|null}]. */
enum admin_outcome admin_op_accounts_list(struct app *app,
                                          const struct admin_filter *f,
                                          cJSON **doc,
                                          struct admin_result *res);

/* The certificates that pass f, by notAfter: [{"id","serial","status",
 * "issued","notAfter","account","team","order","identifiers","adapter",
 * "revokedAt","reason","renewalWindow":{"start","end"}|null}]. */
enum admin_outcome admin_op_certs_list(struct app *app,
                                       const struct admin_filter *f,
                                       cJSON **doc,
                                       struct admin_result *res);

/* Revokes the certificate with serial (any admin_serial_normalize form)
 * at the PKI, then marks it revoked (event "cert.revoked"). reason: an
 * RFC 5280 CRLReason (admin_reason_parse). *doc: {"serial","id","status":
 * "revoked","reason","adapter"}. INVALID (serial, reason), NOTFOUND,
 * CONFLICT (already revoked), PKI (refused), FAILED (recording failed
 * after the PKI revoked: running it again finishes it). */
enum admin_outcome admin_op_revoke(struct app *app,
                                   const struct admin_actor *who,
                                   const char *serial, int reason,
                                   cJSON **doc, struct admin_result *res);

#endif /* AP_PROXY_ADMIN_OPS_H */
