/* proxy/metrics.h: the proxy's Prometheus metrics.
 *
 * Counters and fixed-bucket histograms are process-wide atomics, bumped by
 * one-line calls where the event happens and rendered in the Prometheus
 * text format (version 0.0.4) when the admin listener is scraped. Every
 * label comes from a fixed table (routes, statuses, problem types, order
 * states, challenge types, adapter names, PKI calls and outcomes): the
 * number of series is bounded, and no identifier, name or id ever becomes
 * a label value. Values that belong to other objects (connections, jobs,
 * the store) are gathered at scrape time into struct metrics_gauges.
 *
 * Thread-safe: every function may be called from any thread at any time,
 * also before metrics_render is ever called. Nothing allocates except
 * metrics_render (into the caller's buffer). */
#ifndef AP_PROXY_METRICS_H
#define AP_PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/adapter.h"
#include "common/buf.h"
#include "common/err.h"

/* Routes of the ACME listener (proxy/server.c's table), the label "route". */
enum metrics_route {
    MR_DIRECTORY,
    MR_NEW_NONCE,
    MR_NEW_ACCOUNT,
    MR_NEW_ORDER,
    MR_REVOKE_CERT,
    MR_ACCOUNT,
    MR_ORDERS,
    MR_ORDER,
    MR_AUTHZ,
    MR_CHALLENGE,
    MR_CERT,
    MR_ISSUER,
    MR_KEY_CHANGE,
    MR_RENEWAL_INFO,
    MR_OTHER,          /* no route matched (404) or URL too long */
    MR__N
};

/* The label value of a route. */
const char *metrics_route_name(enum metrics_route r);

/* One answered ACME request: route, HTTP status, problem type (enum
 * problem_type, or -1 when the answer is not a problem document) and the
 * time from dispatch to the last byte written, in microseconds. Counts a
 * rate-limit refusal (rateLimited) and a nonce rejection (badNonce) too. */
void metrics_http(enum metrics_route r, int status, int problem, long long us);

/* An order entered status ("pending", "ready", "processing", "valid",
 * "invalid"; anything else is ignored). */
void metrics_order(const char *status);

/* A validation finished: challenge type ("http-01", "dns-01",
 * "tls-alpn-01"; others count as "other"), its result and duration. */
void metrics_validation(const char *type, bool valid, long long ms);
/* A validation had to wait: max_concurrent or max_per_identifier was
 * reached. */
void metrics_validation_busy(void);

/* One call to a PKI adapter. adapter: its configured name ("default" for
 * [adapter], NAME for [adapter.NAME]: the label "adapter"); type: the
 * registry's name (the label "type"; others count as "other"); call:
 * "submit", "poll", "lookup", "revoke", "health"; outcome: "issued",
 * "pending", "rejected", "retry", "not_found", "unknown"
 * (adapter_outcome) or "ok", "error". The (adapter, type) pairs get
 * series in the order first seen, up to a fixed number; later ones count
 * as adapter="other". */
void metrics_pki(const char *adapter, const char *type, const char *call,
                 const char *outcome, long long us);

/* The outcome label of an adapter_outcome. */
const char *metrics_outcome_name(enum adapter_outcome o);

/* A certificate was revoked (its record committed as revoked). */
void metrics_cert_revoked(void);
/* The issuance engine recorded an outcome (committed: its transaction
 * committed): issued (a certificate stored, the order valid) or failed
 * (the order invalid); neither: the order waits. */
void metrics_issue_outcome(bool committed, bool issued, bool failed);

/* A reload of the configuration (SIGHUP) was applied or refused. */
void metrics_reload(bool applied);

/* Job workers: a worker of kind (0: validation, 1: issuance, 2: webhook
 * delivery, as enum job_kind) starts or ends running a job. */
#define METRICS_JOB_KINDS 3
void metrics_job_running(int kind, int delta);
/* Workers of kind now running a job. */
unsigned metrics_jobs_running(int kind);

/* An adapter whose calls are counted and timed: wraps ops and state so that
 * every call through the returned ops (submit, poll, lookup, revoke,
 * health) goes to metrics_pki under the configured name (copied). *mops gets a copy of ops (same name, caps,
 * keys; NULL where ops has NULL) and *mstate a wrapper of state; free the
 * pair with metrics_adapter_free (which calls ops->free(state)). */
AP_MUST_CHECK ap_err metrics_adapter_wrap(const char *name,
                                          const struct adapter_ops *ops,
                                          void *state,
                                          const struct adapter_ops **mops,
                                          void **mstate);
void metrics_adapter_free(const struct adapter_ops *mops, void *mstate);

/* What is read from other objects at scrape time. */
struct metrics_gauges {
    /* connections (proxy/gate.h struct gate_stats) */
    uint64_t conn_open;
    uint64_t conn_accepted;
    uint64_t conn_refused_total;     /* over max_conns */
    uint64_t conn_refused_ip;        /* over max_conns_per_ip */
    uint64_t conn_timeout[4];        /* handshake, head, body, idle */
    uint64_t conn_tls_failed;
    uint64_t conn_bad_request;
    /* jobs, by kind (validation, issuance, webhook) */
    uint64_t jobs_queued[METRICS_JOB_KINDS];
    double jobs_oldest_age_sec[METRICS_JOB_KINDS]; /* oldest due job's
                                                      wait; 0: none */
    unsigned job_workers[METRICS_JOB_KINDS];
    /* the store */
    uint64_t store_map_bytes;        /* configured map size */
    uint64_t store_used_bytes;       /* pages in use */
    uint64_t store_records[6];       /* accounts, orders, authzs, certs,
                                        jobs, audit outbox */
    uint64_t store_commits;          /* write transactions committed
                                        (LMDB's group commit; 0 with
                                        PostgreSQL) */
    uint64_t store_batches;          /* LMDB commits that carried them,
                                        one fdatasync each */
    uint64_t store_batches_failed;   /* of those, failed (every write
                                        transaction in it failed) */
    /* configuration */
    double config_loaded_time;       /* Unix time of the serving config */
    unsigned long long config_generation;
    double start_time;               /* Unix time the process started */
};

/* Notes now as the process's start (serve() calls it first) / reads it
 * back as Unix time. */
void metrics_mark_start(void);
double metrics_start_time(void);

/* The version the build info carries (the Makefile's VERSION). */
const char *metrics_version(void);

/* Renders every metric in the Prometheus text format into out (appends).
 * AP_ETOOBIG when out's cap is reached. */
AP_MUST_CHECK ap_err metrics_render(const struct metrics_gauges *g,
                                    struct buf *out);

#endif /* AP_PROXY_METRICS_H */
