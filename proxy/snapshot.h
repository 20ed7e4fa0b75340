/* proxy/snapshot.h: configuration snapshots, for live reload (SIGHUP).
 *
 * A snapshot is everything a reload may change, built completely before it
 * serves: the parsed configuration, the global policy, the adapter (its
 * settings and secrets, initialised, counted by proxy/metrics.h) and the
 * issuance engine around it (proxy/issuer.h: deadlines, trust anchors,
 * health prober). Its struct app is the view requests and jobs work on:
 * those fields from the snapshot, everything else (store, nonces, CA, jobs,
 * audit, rate-limit counters, base URL) shared with the root.
 *
 * Each request and job takes the current snapshot at its start
 * (app_acquire) and drops it at its end (app_release), so it finishes on
 * the configuration it started with; those two are proxy/app.h's and
 * call this file through the struct app_views it sets in the root and
 * in each view. snapshot_install swaps in a new one
 * atomically; the old one is freed when its last user drops it.
 *
 * Every adapter ([adapter] and each [adapter.NAME]) is started anew in
 * each snapshot, with its own issuance engine (workers, caps, deadlines,
 * prober). What only a restart changes (config_restart_key) is refused by
 * snapshot_build, as are a configuration that does not parse and an
 * adapter that fails to start or, when asked for, the health probe of an
 * adapter that is new or whose section changed (one whose section is as
 * it was may be down: its orders wait, as at start). Thread-safe. */
#ifndef AP_PROXY_SNAPSHOT_H
#define AP_PROXY_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/err.h"
#include "proxy/app.h"
#include "proxy/policy.h"

struct snapshot {
    atomic_uint refs;
    unsigned long long generation; /* 1: the configuration read at start */
    double loaded_at;              /* Unix time */
    struct config cfg;
    struct policy_rules policy;
    /* [adapter] ("default") then each [adapter.NAME], in file order */
    struct app_pki pkis[1 + CONFIG_MAX_ADAPTERS];
    size_t n_pkis;
    struct app app;                /* the view; app.snap is this */
};

/* Builds a snapshot of the configuration file path on root's shared
 * objects (root->cfg: the configuration the process started with, against
 * which restart-only keys are compared). probe: the health probe of each
 * adapter that is new or changed against root's current snapshot must
 * answer (reload); otherwise a failing probe is only logged (start). On
 * error errbuf says why, naming the file, line or key; nothing is left.
 * The new snapshot holds one reference, the caller's. */
AP_MUST_CHECK ap_err snapshot_build(struct app *root, const char *path,
                                    bool probe, struct snapshot **out,
                                    char *errbuf, size_t errlen);

/* The issuance workers s's adapters want together: the sum of each one's
 * workers (at most its max_inflight). */
unsigned snapshot_issue_threads(const struct snapshot *s);

/* Makes s (whose reference the root takes over) root's current snapshot,
 * sets the log level from it, stops the previous one's health prober and
 * drops the root's reference to it. The first call sets root->snaps up. */
AP_MUST_CHECK ap_err snapshot_install(struct app *root, struct snapshot *s);

/* The current snapshot with a reference held (NULL when none is
 * installed). */
struct snapshot *snapshot_get(struct app *root);
/* Drops a reference; the last frees the snapshot (adapter, issuer,
 * configuration). Accepts NULL. */
void snapshot_put(struct snapshot *s);

/* Drops the root's snapshot and the holder (at stop, after the job workers
 * and listeners stopped). */
void snapshot_fini(struct app *root);

#endif /* AP_PROXY_SNAPSHOT_H */
