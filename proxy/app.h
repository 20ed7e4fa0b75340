/* proxy/app.h: the application context handed to every handler.
 *
 * Built in main before the listener starts and read-only after, except
 * through the thread-safe objects it points to (store, nonces, jobs). */
#ifndef AP_PROXY_APP_H
#define AP_PROXY_APP_H

#include <stdbool.h>
#include <stddef.h>

#include "adapters/adapter.h"
#include "common/config.h"
#include "proxy/http.h"

struct store;
struct nonce_ctx;
struct ca;
struct jobs;
struct policy_rules;
struct ratelimit;
struct audit;
struct issuer;

struct snapshot;
struct snapshots;
struct app;

/* How a request or job gets its view of the configuration (live reload).
 * The holder of the snapshots (proxy/snapshot.c) sets these in the root
 * and in every view it builds; app_acquire and app_release call through
 * them, so that the job workers and the listener, which take views, do
 * not depend on the snapshot code, which depends on the issuer and so on
 * the job workers (test/lint/includes.py). get returns a view with a
 * reference held, or NULL when there is no snapshot; put drops it. */
struct app_views {
    struct app *(*get)(struct app *root);
    void (*put)(struct app *view);
};

/* One configured adapter: the plain [adapter] ("default", always first)
 * or an [adapter.NAME] (docs/adapters.md "Named adapters"). Serving, each
 * snapshot holds its own, initialised, counted by proxy/metrics.h, each
 * with its issuance engine; the admin subcommands open them without one. */
struct app_pki {
    const char *name;              /* borrowed from the configuration */
    const struct adapter_ops *ops;
    void *state;
    struct issuer *issuer;         /* NULL in the admin subcommands */
};

struct app {
    const struct config *cfg;
    struct store *st;
    struct nonce_ctx *nonces;
    struct ca *ca;
    /* The adapter this view works with: in a snapshot's view and the
     * admin subcommands the default one (pkis[0]); in an issuance run's
     * view (app_pki_view) the order's. */
    const struct adapter_ops *adapter;
    void *adapter_state;
    struct issuer *issuer;     /* proxy/issuer.h: caps, deadlines, anchors */
    const char *adapter_name;  /* its configured name; NULL: "default" */
    const struct app_pki *pkis; /* every configured adapter, default first */
    size_t n_pkis;
    struct jobs *jobs;
    const char *base;          /* cfg->server.base_url */
    struct policy_rules *policy; /* [policy], the global rules */
    struct ratelimit *limits;  /* [ratelimit] counters */
    struct audit *audit;       /* NULL: no audit log (unit tests) */
    /* Live reload (proxy/snapshot.h). A request or job works on the view
     * app_acquire gives it: the configuration snapshot current at its
     * start (cfg, policy, adapter, issuer from it; the rest shared). */
    struct snapshot *snap;     /* the snapshot this view is of; NULL: root */
    struct snapshots *snaps;   /* the root's current snapshot; NULL: no
                                  reload (admin subcommands, unit tests) */
    const struct app_views *views; /* with snaps and in views: snapshot.c's */
};

/* The view of app (a root) for one request or job: the current snapshot's,
 * with a reference held until app_release; app itself when it serves no
 * snapshots. Any thread; never NULL. */
struct app *app_acquire(struct app *app);
/* Drops the reference app_acquire took (nothing for a root). Both in
 * proxy/app.c, through app->views. */
void app_release(struct app *view);

/* The adapter called name (NULL, "" or "default": the default one), or
 * NULL when none is configured under that name. */
const struct app_pki *app_pki_find(const struct app *app, const char *name);
/* Fills *out with a copy of app whose adapter, adapter_state, issuer and
 * adapter_name are those of the adapter called name (app_pki_find).
 * false (and *out untouched) when there is none. */
bool app_pki_view(const struct app *app, const char *name, struct app *out);
/* The configured name of app's adapter ("default" when unnamed). */
const char *app_adapter_name(const struct app *app);

/* URL paths; resource ids follow the trailing slash. */
#define PATH_DIRECTORY "/directory"
#define PATH_NEW_NONCE "/acme/new-nonce"
#define PATH_NEW_ACCOUNT "/acme/new-account"
#define PATH_NEW_ORDER "/acme/new-order"
#define PATH_REVOKE "/acme/revoke-cert"
#define PATH_ACCOUNT "/acme/acct/"
#define PATH_ORDERS "/acme/orders/"
#define PATH_ORDER "/acme/order/"
#define PATH_AUTHZ "/acme/authz/"
#define PATH_CHALL "/acme/chall/"
#define PATH_CERT "/acme/cert/"
#define PATH_ISSUER "/acme/issuer/"
#define PATH_KEY_CHANGE "/acme/key-change"
#define PATH_RENEWAL_INFO "/acme/renewal-info/"

/* Writes base + path + id (id may be NULL) into out. */
void app_url(const struct app *app, char *out, size_t outlen,
             const char *path, const char *id);

#endif /* AP_PROXY_APP_H */
