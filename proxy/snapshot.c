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
    for (size_t i = 0; i < s->n_pkis; i++) {
        issuer_close(s->pkis[i].issuer);
        if (s->pkis[i].ops != NULL) {
            metrics_adapter_free(s->pkis[i].ops, s->pkis[i].state);
        }
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

unsigned
snapshot_issue_threads(const struct snapshot *s)
{
    unsigned n = 0;

    for (size_t i = 0; i < s->n_pkis; i++) {
        n += issuer_threads(s->pkis[i].issuer);
    }
    return n;
}

/* True when the adapter called name runs in cur with the same type and
 * the same keys and values (in any order) as type and sec. */
static bool
adapter_unchanged(const struct snapshot *cur, const char *name,
                  const char *type, const struct config_section *sec)
{
    const char *otype = NULL;
    const struct config_section *osec = NULL;

    if (cur == NULL ||
        !config_adapter_find(&cur->cfg, name, &otype, &osec) ||
        strcmp(otype, type) != 0 || osec->n != sec->n) {
        return false;
    }
    for (size_t i = 0; i < sec->n; i++) {
        const char *v = config_section_get(osec, sec->kv[i].key);

        if (v == NULL || strcmp(v, sec->kv[i].value) != 0) {
            return false;
        }
    }
    return true;
}

/* The adapter called name (type, keys sec) of s->cfg, initialised (and,
 * with probe, healthy), counted by the metrics, in pki. */
static ap_err
adapter_up(const struct app *root, struct snapshot *s, const char *name,
           const char *type, const struct config_section *sec, bool probe,
           struct app_pki *pki, char *errbuf, size_t errlen)
{
    const struct adapter_ops *ops = adapter_find(type);
    struct adapter_ctx actx;
    void *state = NULL;
    char why[512];
    char label[CONFIG_MAX_NAME + 32];
    ap_err rc;

    if (ops == NULL) {
        (void)snprintf(errbuf, errlen, "%s: [%s%s] type %s is unknown",
                       s->cfg.path, sec == &s->cfg.adapter.section
                                        ? "adapter"
                                        : CONFIG_ADAPTER_PREFIX,
                       sec == &s->cfg.adapter.section ? "" : name, type);
        return AP_ECONFIG;
    }
    rc = config_section_check(sec, ops->config_keys, ops->name, errbuf,
                              errlen);
    if (rc != AP_OK) {
        return rc;
    }
    /* In messages: "vault" for the default adapter (as before named
     * adapters), "old-ca (ejbca)" for a named one. */
    if (sec == &s->cfg.adapter.section) {
        (void)snprintf(label, sizeof(label), "%s", ops->name);
    } else {
        (void)snprintf(label, sizeof(label), "%s (%s)", name, ops->name);
    }
    memset(&actx, 0, sizeof(actx));
    actx.ca = root->ca;
    actx.data_dir = s->cfg.server.data_dir;
    why[0] = '\0';
    rc = ops->init(sec, &actx, &state, why, sizeof(why));
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "adapter %s: %s", label, why);
        return rc;
    }
    if (ops->health != NULL) {
        why[0] = '\0';
        rc = ops->health(state, why, sizeof(why));
        metrics_pki(name, ops->name, "health", rc == AP_OK ? "ok" : "error",
                    0);
        if (rc != AP_OK && probe) {
            (void)snprintf(errbuf, errlen, "adapter %s failed its health "
                           "probe: %s", label, why);
            ops->free(state);
            return rc;
        }
        if (rc != AP_OK) {
            /* A PKI that is down at start is worth a warning, not a
             * refusal to start: orders wait and retry. */
            log_warn("main", "adapter %s is not healthy: %s", label, why);
        }
    }
    pki->name = name;
    rc = metrics_adapter_wrap(name, ops, state, &pki->ops, &pki->state);
    if (rc != AP_OK) {
        ops->free(state);
        (void)snprintf(errbuf, errlen, "out of memory");
    }
    return rc;
}

/* Every adapter of s->cfg, each with its issuance engine; the default
 * first. */
static ap_err
adapters_up(struct app *root, struct snapshot *s, bool probe, char *errbuf,
            size_t errlen)
{
    struct snapshot *cur = probe ? snapshot_get(root) : NULL;
    ap_err rc = AP_OK;

    for (size_t i = 0; rc == AP_OK && i <= s->cfg.n_adapters; i++) {
        const char *name = i == 0 ? CONFIG_DEFAULT_ADAPTER
                                  : s->cfg.adapters[i - 1].name;
        const char *type = NULL;
        const struct config_section *sec = NULL;
        struct app_pki *pki = &s->pkis[i];

        (void)config_adapter_find(&s->cfg, name, &type, &sec);
        rc = adapter_up(root, s, name, type, sec,
                        probe && !adapter_unchanged(cur, name, type, sec),
                        pki, errbuf, errlen);
        if (rc != AP_OK) {
            break;
        }
        s->n_pkis = i + 1;
        rc = issuer_open(&s->app, pki, sec, errbuf, errlen);
    }
    snapshot_put(cur);
    return rc;
}

ap_err
snapshot_build(struct app *root, const char *path, bool probe,
               struct snapshot **out, char *errbuf, size_t errlen)
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
    s->app.adapter_name = NULL;
    s->app.pkis = s->pkis;
    s->app.n_pkis = 0;
    s->app.snap = s;
    s->app.snaps = NULL;
    s->app.views = &snapshot_views;
    rc = adapters_up(root, s, probe, errbuf, errlen);
    if (rc != AP_OK) {
        goto out;
    }
    /* The view works with the default adapter; issuance runs pick the
     * order's (app_pki_view). */
    s->app.n_pkis = s->n_pkis;
    s->app.adapter = s->pkis[0].ops;
    s->app.adapter_state = s->pkis[0].state;
    s->app.issuer = s->pkis[0].issuer;
    s->app.adapter_name = s->pkis[0].name;
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
        /* Its jobs and requests finish on it; its probers stop now, so
         * only the new adapters are probed. */
        for (size_t i = 0; i < old->n_pkis; i++) {
            issuer_stop_prober(old->pkis[i].issuer);
        }
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
