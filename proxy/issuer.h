/* proxy/issuer.h: the issuance engine around the adapter.
 *
 * issuer_open reads the core keys of one adapter's section (workers,
 * max_inflight, pending_timeout, retry_timeout, poll_interval,
 * probe_interval, lookup_grace, trust_anchors; adapter.h
 * ADAPTER_CORE_KEYS) after the adapter was initialised, and decodes the
 * trust anchors once. issuer_run is the JOB_ISSUE runner: it calls
 * submit, poll or lookup (one worker thread per call the PKI may take at
 * once) with the CSR and the key finalize read from it, checks every
 * certificate before the order becomes valid (proxy/issue_check.h),
 * revokes one it refuses, and reschedules PENDING and RETRY with backoff
 * and jitter until the deadlines. What a run reads, notes and records in
 * the store is proxy/issue_record.h's. A circuit breaker probes the
 * adapter's health while the PKI fails and brings the waiting orders
 * forward the moment it answers again. Crash safety and its limits:
 * docs/adapters.md. Thread-safe after issuer_open. */
#ifndef AP_PROXY_ISSUER_H
#define AP_PROXY_ISSUER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct app;
struct issuer;
struct job;

/* The issuance engine of one adapter (pki, initialised; cfg: its section,
 * [adapter] or [adapter.NAME]) of the snapshot whose view is app: sets
 * pki->issuer and starts its health prober. AP_ECONFIG with
 * "file:line: message" in errbuf on a bad key or unreadable trust
 * anchors. */
struct app_pki;
struct config_section;
AP_MUST_CHECK ap_err issuer_open(struct app *app, struct app_pki *pki,
                                 const struct config_section *cfg,
                                 char *errbuf, size_t errlen);
/* Issuance worker threads to start: workers, at most max_inflight (each
 * worker makes one PKI call at a time, so this is the cap). */
unsigned issuer_threads(const struct issuer *is);
/* Seconds between polls of a request the PKI holds (poll_interval); 1 when
 * is is NULL. */
unsigned issuer_poll_interval(const struct issuer *is);
/* Stops the health prober (it wakes the job workers): call before
 * jobs_stop. Accepts NULL. */
void issuer_stop_prober(struct issuer *is);
/* Accepts NULL. Call after the job workers stopped. */
void issuer_close(struct issuer *is);

/* The JOB_ISSUE runner (jobs.h job_fn); the job's target is the order
 * id. All adapters share the JOB_ISSUE workers; a run calls the adapter
 * the order was created for (its "adapter", app_pki_view) and takes one
 * of that adapter's max_inflight call slots first (counted by adapter
 * name across reloads): an adapter with all its slots busy gives the job
 * back for a moment (jobs_defer) and the worker goes on with other
 * adapters' orders, so a slow PKI never holds up another. An order whose
 * adapter a reload removed fails (serverInternal, audited). */
long long issuer_run(struct app *app, const struct job *job);

/* One of the calls is's adapter may have running at once (max_inflight,
 * counted by the adapter's name, so across reloads): true when taken
 * (give it back with issuer_slot_give); false when all are busy, with
 * *defer_ms how long the run should wait: 250 ms times the runs turned
 * away since a call ended (at most 10 s), +-20 %, so that a backlog at a
 * slow PKI does not keep the workers claiming and deferring its jobs. */
bool issuer_slot_take(struct issuer *is, long long *defer_ms);
void issuer_slot_give(struct issuer *is);

/* The wait before the next try after a transient failure (pure, for the
 * unit tests): 2^attempts seconds (at most 300), at least retry_after,
 * scaled by jitter_permille (800..1200), at least 1 s, and cut so that the
 * try starts ISSUER_DEADLINE_MARGIN_MS before deadline_ms. -1 when no try
 * fits before the deadline any more: the order is given up. */
#define ISSUER_DEADLINE_MARGIN_MS 1000
long long issuer_retry_delay_ms(unsigned attempts, unsigned retry_after,
                                long long now_ms, long long deadline_ms,
                                unsigned jitter_permille);

/* Whether a submission needs its durable pkiInflight note before it goes
 * out (pure, for the unit tests): always, but for an adapter with
 * ADAPTER_CAP_IN_PROCESS (caps) when nothing is to be recorded with the
 * note (lost: an earlier submission's answer was lost; a possible
 * duplicate or a lookup's answer go with the note). Such an adapter's
 * submission that the process's death cuts short issued nothing anybody
 * holds; its note, if the answer is a retry, is written after it. */
bool issuer_note_first(unsigned caps, bool lost);

#endif /* AP_PROXY_ISSUER_H */
