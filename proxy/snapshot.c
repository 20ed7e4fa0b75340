/* proxy/snapshot.c: building, swapping and releasing configuration
 * snapshots.
 *
 * The current snapshot sits behind a mutex held only to read the pointer
 * and take a reference, so a swap never races a reader's increment. */
#include "proxy/snapshot.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/adapter.h"
#include "common/log.h"
#include "proxy/issuer.h"
#include "proxy/metrics.h"

struct snapshots {
    pthread_mutex_t lock;
    struct snapshot *cur;
};

/* app_acquire and app_release (proxy/app.c) call these through
 * app->views. */
static struct app *
view_get(struct app *root)
{
    struct snapshot *s = snapshot_get(root);

    return s != NULL ? &s->app : NULL;
}

static void
view_put(struct app *view)
{
    snapshot_put(view->snap);
}

static const struct app_views snapshot_views = { view_get, view_put };

struct snapshot *
snapshot_get(struct app *root)
{
    struct snapshot *s;

    if (root->snaps == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&root->snaps->lock);
    s = root->snaps->cur;
    if (s != NULL) {
        atomic_fetch_add(&s->refs, 1);
    }
    pthread_mutex_unlock(&root->snaps->lock);
    return s;
}

static void
snapshot_free(struct snapshot *s)
{
    issuer_close(s->app.issuer);
    if (s->app.adapter != NULL) {
        metrics_adapter_free(s->app.adapter, s->app.adapter_state);
    }
    config_fini(&s->cfg);
    free(s);
}

void
snapshot_put(struct snapshot *s)
{
    if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1) {
        snapshot_free(s);
    }
}

/* The adapter of s->cfg, initialised (and, with probe, healthy), counted by
 * the metrics. */
static ap_err
adapter_up(const struct app *root, struct snapshot *s, bool probe,
           char *errbuf, size_t errlen)
{
    const struct config_section *asec = &s->cfg.adapter.section;
    const struct adapter_ops *ops = adapter_find(s->cfg.adapter.type);
    struct adapter_ctx actx;
    void *state = NULL;
    char why[512];
    ap_err rc;

    if (ops == NULL) {
        (void)snprintf(errbuf, errlen, "%s: [adapter] type %s is unknown",
                       s->cfg.path, s->cfg.adapter.type);
        return AP_ECONFIG;
    }
    rc = config_section_check(asec, ops->config_keys, ops->name, errbuf,
                              errlen);
    if (rc != AP_OK) {
        return rc;
    }
    memset(&actx, 0, sizeof(actx));
    actx.ca = root->ca;
    actx.data_dir = s->cfg.server.data_dir;
    why[0] = '\0';
    rc = ops->init(asec, &actx, &state, why, sizeof(why));
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "adapter %s: %s", ops->name, why);
        return rc;
    }
    if (ops->health != NULL) {
        why[0] = '\0';
        rc = ops->health(state, why, sizeof(why));
        metrics_pki(ops->name, "health", rc == AP_OK ? "ok" : "error", 0);
        if (rc != AP_OK && probe) {
            (void)snprintf(errbuf, errlen, "adapter %s failed its health "
                           "probe: %s", ops->name, why);
            ops->free(state);
            return rc;
        }
        if (rc != AP_OK) {
            /* A PKI that is down at start is worth a warning, not a
             * refusal to start: orders wait and retry. */
            log_warn("main", "adapter %s is not healthy at start: %s",
                     ops->name, why);
        }
    }
    rc = metrics_adapter_wrap(ops, state, &s->app.adapter,
                              &s->app.adapter_state);
    if (rc != AP_OK) {
        ops->free(state);
        (void)snprintf(errbuf, errlen, "out of memory");
    }
    return rc;
}

ap_err
snapshot_build(const struct app *root, const char *path, bool probe,
               unsigned issue_threads, struct snapshot **out, char *errbuf,
               size_t errlen)
{
    struct snapshot *s;
    char key[96];
    char why[512];
    ap_err rc;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        (void)snprintf(errbuf, errlen, "out of memory");
        return AP_ENOMEM;
    }
    atomic_init(&s->refs, 1);
    rc = config_load(path, &s->cfg, errbuf, errlen);
    if (rc != AP_OK) {
        free(s);
        return rc;
    }
    if (root->cfg != NULL &&
        config_restart_key(root->cfg, &s->cfg, key, sizeof(key))) {
        (void)snprintf(errbuf, errlen, "%s: %s changed: it takes a restart, "
                       "not a reload", path, key);
        rc = AP_ECONFIG;
        goto out;
    }
    rc = policy_global_init(&s->cfg, &s->policy, why, sizeof(why));
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "%s: [policy] %s", path, why);
        goto out;
    }
    s->app = *root;
    s->app.cfg = &s->cfg;
    s->app.policy = &s->policy;
    s->app.adapter = NULL;
    s->app.adapter_state = NULL;
    s->app.issuer = NULL;
    s->app.snap = s;
    s->app.snaps = NULL;
    s->app.views = &snapshot_views;
    rc = adapter_up(root, s, probe, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    rc = issuer_open(&s->app, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    if (issue_threads != 0 && issuer_threads(s->app.issuer) != issue_threads) {
        (void)snprintf(errbuf, errlen, "%s: [adapter] workers or max_inflight "
                       "changed the issuance threads from %u to %u: it takes "
                       "a restart, not a reload", path, issue_threads,
                       issuer_threads(s->app.issuer));
        rc = AP_ECONFIG;
        goto out;
    }
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        snapshot_free(s);
        return rc;
    }
    *out = s;
    return AP_OK;
}

ap_err
snapshot_install(struct app *root, struct snapshot *s)
{
    struct snapshot *old;
    struct timespec ts;

    if (root->snaps == NULL) {
        root->snaps = calloc(1, sizeof(*root->snaps));
        if (root->snaps == NULL) {
            return AP_ENOMEM;
        }
        pthread_mutex_init(&root->snaps->lock, NULL);
        root->views = &snapshot_views;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    s->loaded_at = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    pthread_mutex_lock(&root->snaps->lock);
    old = root->snaps->cur;
    s->generation = old != NULL ? old->generation + 1 : 1;
    root->snaps->cur = s;
    pthread_mutex_unlock(&root->snaps->lock);
    log_level = s->cfg.server.log_level;
    if (old != NULL) {
        /* Its jobs and requests finish on it; its prober stops now, so
         * only the new adapter is probed. */
        issuer_stop_prober(old->app.issuer);
        snapshot_put(old);
    }
    return AP_OK;
}

void
snapshot_fini(struct app *root)
{
    struct snapshots *h = root->snaps;

    if (h == NULL) {
        return;
    }
    root->snaps = NULL;
    snapshot_put(h->cur);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
