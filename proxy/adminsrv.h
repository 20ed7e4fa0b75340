/* proxy/adminsrv.h: the admin listener ([admin] listen): health and
 * metrics for monitoring systems and load balancers, and the admin API.
 *
 * A civetweb context of its own, separate from the ACME listener (which
 * never routes these paths): loopback by default, off when [admin] listen
 * is empty; plain HTTP, or HTTPS only with [admin] tls_cert and tls_key
 * (a key file others may read or write stops the start). With [admin]
 * client_ca the TLS handshake asks for a client certificate: one that does
 * not chain to client_ca fails the handshake, none is accepted
 * (deploy/civetweb-patches/02-client-cert.patch). GET or HEAD only:
 *   /health/live   200 while the process answers;
 *   /health/ready  200 or 503 with a JSON body naming each check and its
 *                  result: the store takes a write, an adapter's last
 *                  health probe answered within [admin] probe_timeout_ms
 *                  (with named adapters: at least one adapter's did, and
 *                  "adapters" names each one's result: a proxy whose
 *                  other PKI works is not drained for the failing one;
 *                  docs/adapters.md "Named adapters"),
 *                  the oldest due job waited less than max_job_age, the
 *                  validators are not saturated (every validator thread
 *                  busy and a validation due for max_validation_wait);
 *   /metrics       the Prometheus text format (proxy/metrics.h).
 * Under /admin/, the admin API (proxy/adminapi.h) when [admin] token_file
 * or client_ca is set (else 404): a client certificate verified against
 * client_ca authenticates the call alone (caller "cert:" and its subject,
 * any token ignored); else the caller's bearer token is checked against
 * the file (proxy/admin_auth.h; read at start, where a bad file stops the
 * start, and again after each reload, where it closes the token path
 * until a good one is read); neither gets 401 with one body and
 * WWW-Authenticate: Bearer; the body is read up to ADMINAPI_MAX_BODY
 * (else 413); every call, 401s too, writes an "admin.api" audit event
 * (caller, method, path, op, status). Other methods than GET/HEAD outside
 * /admin/ get 405.
 * A thread probes each adapter's health every [admin] probe_interval
 * seconds on the current configuration snapshot, so /health/ready never
 * waits on a PKI. Thread-safe. */
#ifndef AP_PROXY_ADMINSRV_H
#define AP_PROXY_ADMINSRV_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/err.h"

struct app;
struct server;
struct adminsrv;

/* One adapter's probe, as the readiness verdict sees it. */
struct ready_adapter {
    char name[CONFIG_MAX_NAME + 1]; /* its configured name */
    bool probed;                    /* a probe has finished */
    bool has_probe;                 /* the adapter has a health probe */
    bool ok;                        /* the last finished probe succeeded */
    long long ms;                   /* its duration */
    long long age_ms;               /* since it finished */
    long long running_ms;           /* a probe running this long; 0: none */
    char detail[200];
};

/* What the readiness verdict is made of (gathered at request time). */
struct ready_facts {
    bool store_ok;
    char store_detail[160];
    struct ready_adapter adapters[1 + CONFIG_MAX_ADAPTERS]; /* default 1st */
    size_t n_adapters;
    unsigned probe_interval;        /* s */
    unsigned probe_timeout_ms;
    long long job_wait_ms[2];       /* oldest due job: validation, issuance */
    bool jobs_known;                /* the queues could be read */
    unsigned max_job_age;           /* s */
    unsigned validators_busy;       /* validations running */
    unsigned validators;            /* may run at once (jobs_set_runs) */
    unsigned max_validation_wait;   /* s */
};

/* The verdict on f: true when ready. *body (may be NULL) gets
 * {"status":"ready"|"unready","checks":{"store":{"ok":..,"detail":..},
 * "adapter":{..},"jobs":{..},"validators":{..}},"adapters":{"default":
 * {"ok":..,"detail":..},..}} (caller deletes). The check "adapter" passes
 * when at least one adapter passes (so with one adapter, when it does);
 * its detail names the failing ones. Pure. */
bool adminsrv_ready(const struct ready_facts *f, cJSON **body);

/* Starts the listener on listen (host:port) for root (the serving app,
 * with snapshots) and srv (the ACME listener, for its connection counts).
 * issue_threads: the issuance workers. The [admin] TLS files and token
 * file are those of root's current snapshot. AP_ECONFIG (errbuf says
 * why) when it cannot listen, a TLS file cannot be used, the tls_key is
 * open to others or the token file is bad. */
AP_MUST_CHECK ap_err adminsrv_start(struct app *root, struct server *srv,
                                    const char *listen,
                                    unsigned issue_threads,
                                    struct adminsrv **out, char *errbuf,
                                    size_t errlen);
/* Stops the listener and the prober. Accepts NULL. */
void adminsrv_stop(struct adminsrv *a);

#endif /* AP_PROXY_ADMINSRV_H */
