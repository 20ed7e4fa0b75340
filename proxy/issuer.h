/* proxy/issuer.h: the issuance engine around the adapter.
 *
 * issuer_open reads the core keys of the adapter's section (workers,
 * max_inflight, pending_timeout, retry_timeout, poll_interval,
 * trust_anchors; adapter.h ADAPTER_CORE_KEYS) after the adapter was
 * initialised. issuer_run (resource.h) is the JOB_ISSUE runner: it calls
 * submit or poll under the per-adapter cap of calls in flight, checks every
 * certificate (public key, SAN set, chain to the trust anchors) before the
 * order becomes valid, and reschedules PENDING and RETRY with backoff and
 * jitter until the deadlines. Crash safety and its limits: docs/adapters.md.
 * Thread-safe after issuer_open. */
#ifndef AP_PROXY_ISSUER_H
#define AP_PROXY_ISSUER_H

#include <stddef.h>

#include "common/err.h"

struct app;
struct issuer;

/* Sets app->issuer. AP_ECONFIG with "file:line: message" in errbuf on a
 * bad key or unreadable trust anchors. */
AP_MUST_CHECK ap_err issuer_open(struct app *app, char *errbuf,
                                 size_t errlen);
/* Issuance worker threads to start (the workers key). */
unsigned issuer_threads(const struct issuer *is);
/* Seconds between polls of a request the PKI holds (poll_interval); 1 when
 * is is NULL. */
unsigned issuer_poll_interval(const struct issuer *is);
/* Accepts NULL. Call after the job workers stopped. */
void issuer_close(struct issuer *is);

#endif /* AP_PROXY_ISSUER_H */
