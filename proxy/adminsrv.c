/* proxy/adminsrv.c: the admin listener (health, metrics) and the adapter
 * health prober behind /health/ready. */
#include "proxy/adminsrv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <civetweb.h>

#include "adapters/adapter.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/admin_auth.h"
#include "proxy/adminapi.h"
#include "proxy/app.h"
#include "proxy/audit.h"
#include "proxy/gate.h"
#include "proxy/jobs.h"
#include "proxy/metrics.h"
#include "proxy/server.h"
#include "proxy/snapshot.h"

#define METRICS_MAX (4u << 20)   /* bytes of one scrape, at most */
#define READY_MAX 4096
#define HEALTH_KEY "admin_health"
/* The caller of an API call: a token's NAME, or "cert:" and a client
 * certificate's subject (civetweb's patched mbedTLS module gives at most
 * 511 characters, else no subject: deploy/civetweb-patches/02). */
#define CALLER_MAX (5 + 511)
#define CERT_CALLER "cert:"

struct adminsrv {
    struct app *root;
    struct server *srv;
    struct mg_context *ctx;
    unsigned issue_threads;

    pthread_t prober;
    bool prober_started;
    pthread_mutex_t lock;        /* guards what follows */
    pthread_cond_t cond;
    bool stopping;
    /* The last probe of each adapter of the snapshot the prober last
     * saw, by name (a reload keeps the results of names it keeps). */
    struct probe_result {
        char name[CONFIG_MAX_NAME + 1];
        bool probed;
        bool has_probe;
        bool ok;
        long long ms;
        long long done_at;       /* monotonic ms */
        long long started_at;    /* monotonic ms; 0: none running */
        char detail[200];
    } probes[1 + CONFIG_MAX_ADAPTERS];
    size_t n_probes;

    /* The admin API's tokens, read again when the snapshot changes. */
    pthread_mutex_t tok_lock;    /* guards what follows */
    struct admin_tokens *tokens; /* NULL: none usable (every call 401) */
    unsigned long long tok_gen;  /* the snapshot they were read for */
};

/* The result kept for name (a->lock held), or NULL. */
static struct probe_result *
probe_find(struct adminsrv *a, const char *name)
{
    for (size_t i = 0; i < a->n_probes; i++) {
        if (strcmp(a->probes[i].name, name) == 0) {
            return &a->probes[i];
        }
    }
    return NULL;
}

/* The adapters of view: its table, or (no table) its one adapter. */
static size_t
view_pkis(const struct app *view, const struct app_pki **pkis,
          struct app_pki *one)
{
    if (view->n_pkis > 0) {
        *pkis = view->pkis;
        return view->n_pkis;
    }
    one->name = app_adapter_name(view);
    one->ops = view->adapter;
    one->state = view->adapter_state;
    one->issuer = view->issuer;
    *pkis = one;
    return view->adapter != NULL ? 1 : 0;
}

/* ---- the verdict -------------------------------------------------------- */

static bool
check(cJSON *checks, const char *name, bool ok, const char *detail)
{
    cJSON *c;

    if (checks != NULL && (c = cJSON_AddObjectToObject(checks, name)) != NULL) {
        cJSON_AddBoolToObject(c, "ok", ok);
        cJSON_AddStringToObject(c, "detail", detail);
    }
    return ok;
}

/* One adapter's probe against the deadlines: true when it passes; d says
 * why either way. */
static bool
judge_adapter(const struct ready_facts *f, const struct ready_adapter *a,
              char *d, size_t dlen)
{
    if (!a->has_probe) {
        (void)snprintf(d, dlen, "the adapter has no health probe");
        return true;
    }
    if (a->running_ms > (long long)f->probe_timeout_ms) {
        (void)snprintf(d, dlen, "a probe has been running for %lld ms "
                       "(deadline %u ms)", a->running_ms,
                       f->probe_timeout_ms);
        return false;
    }
    if (!a->probed) {
        (void)snprintf(d, dlen, "not probed yet");
        return false;
    }
    if (!a->ok) {
        (void)snprintf(d, dlen, "the last probe failed: %s", a->detail);
        return false;
    }
    if (a->ms > (long long)f->probe_timeout_ms) {
        (void)snprintf(d, dlen, "the last probe answered in %lld ms "
                       "(deadline %u ms)", a->ms, f->probe_timeout_ms);
        return false;
    }
    if (a->age_ms > 3LL * f->probe_interval * 1000 + f->probe_timeout_ms) {
        (void)snprintf(d, dlen, "the last probe is %lld s old",
                       a->age_ms / 1000);
        return false;
    }
    (void)snprintf(d, dlen, "answered in %lld ms, %lld s ago", a->ms,
                   a->age_ms / 1000);
    return true;
}

/* The check "adapter": one adapter decides alone; of several, one that
 * passes is enough (the proxy still issues through it), and the detail
 * names those that fail. Each one's result goes to "adapters". */
static bool
check_adapters(const struct ready_facts *f, cJSON *root, cJSON *checks)
{
    cJSON *each = root != NULL ? cJSON_AddObjectToObject(root, "adapters")
                               : NULL;
    char d[320];
    char failing[320] = "";
    size_t n_ok = 0;
    size_t used = 0;

    for (size_t i = 0; i < f->n_adapters; i++) {
        const struct ready_adapter *a = &f->adapters[i];
        bool ok = judge_adapter(f, a, d, sizeof(d));

        (void)check(each, a->name, ok, d);
        if (ok) {
            n_ok++;
        } else if (used < sizeof(failing)) {
            int n = snprintf(failing + used, sizeof(failing) - used, "%s%s "
                             "(%s)", used > 0 ? "; " : "", a->name, d);

            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (f->n_adapters == 0) {
        return check(checks, "adapter", false, "no adapter is configured");
    }
    if (f->n_adapters == 1) {
        (void)judge_adapter(f, &f->adapters[0], d, sizeof(d));
        return check(checks, "adapter", n_ok == 1, d);
    }
    if (n_ok == f->n_adapters) {
        (void)snprintf(d, sizeof(d), "all %zu adapters answer", n_ok);
    } else {
        (void)snprintf(d, sizeof(d), "%zu of %zu adapters answer; failing: "
                       "%.250s", n_ok, f->n_adapters, failing);
    }
    return check(checks, "adapter", n_ok > 0, d);
}

bool
adminsrv_ready(const struct ready_facts *f, cJSON **body)
{
    static const char *const kinds[2] = { "validation", "issuance" };
    cJSON *root = NULL;
    cJSON *checks = NULL;
    char d[320];
    bool ready = true;
    bool ok;

    if (body != NULL) {
        *body = NULL;
        root = cJSON_CreateObject();
        checks = root != NULL ? cJSON_AddObjectToObject(root, "checks") : NULL;
    }
    ready &= check(checks, "store", f->store_ok, f->store_detail);
    ready &= check_adapters(f, root, checks);

    if (!f->jobs_known) {
        ok = false;
        (void)snprintf(d, sizeof(d), "the job queues cannot be read");
    } else {
        int worst = f->job_wait_ms[1] > f->job_wait_ms[0] ? 1 : 0;

        ok = f->job_wait_ms[worst] < (long long)f->max_job_age * 1000;
        (void)snprintf(d, sizeof(d), "oldest due %s job waited %lld s "
                       "(bound %u s)", kinds[worst],
                       f->job_wait_ms[worst] / 1000, f->max_job_age);
    }
    ready &= check(checks, "jobs", ok, d);

    ok = !(f->validators_busy >= f->validators &&
           f->job_wait_ms[0] >= (long long)f->max_validation_wait * 1000);
    (void)snprintf(d, sizeof(d), "%u of %u validation slots busy, oldest "
                   "due validation waited %lld s (bound %u s)",
                   f->validators_busy,
                   f->validators, f->job_wait_ms[0] / 1000,
                   f->max_validation_wait);
    ready &= check(checks, "validators", ok, d);

    if (root != NULL) {
        cJSON_AddStringToObject(root, "status", ready ? "ready" : "unready");
        *body = root;
    }
    return ready;
}

/* ---- the prober --------------------------------------------------------- */

static void *
probe_main(void *arg)
{
    struct adminsrv *a = arg;
    struct timespec ts;

    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        struct probe_result keep[1 + CONFIG_MAX_ADAPTERS];
        const struct app_pki *pkis = NULL;
        struct app_pki one;
        struct app *view;
        unsigned interval;
        size_t n;

        pthread_mutex_unlock(&a->lock);
        view = app_acquire(a->root);
        interval = view->cfg->admin.probe_interval;
        n = view_pkis(view, &pkis, &one);

        /* This snapshot's adapters, with the results of kept names. */
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < n && i < 1 + CONFIG_MAX_ADAPTERS; i++) {
            struct probe_result *old = probe_find(a, pkis[i].name);

            if (old != NULL) {
                keep[i] = *old;
            } else {
                memset(&keep[i], 0, sizeof(keep[i]));
                (void)snprintf(keep[i].name, sizeof(keep[i].name), "%s",
                               pkis[i].name);
            }
        }
        n = n < 1 + CONFIG_MAX_ADAPTERS ? n : 1 + CONFIG_MAX_ADAPTERS;
        memcpy(a->probes, keep, n * sizeof(keep[0]));
        a->n_probes = n;
        pthread_mutex_unlock(&a->lock);

        /* Only this thread changes the table: index i stays pkis[i]. */
        for (size_t i = 0; i < n; i++) {
            const struct app_pki *p = &pkis[i];
            bool has = p->ops != NULL && p->ops->health != NULL;
            bool ok = true;
            char why[200];
            long long t0;

            pthread_mutex_lock(&a->lock);
            a->probes[i].started_at = time_mono_ms();
            pthread_mutex_unlock(&a->lock);
            why[0] = '\0';
            t0 = time_mono_ms();
            if (has) {
                ok = p->ops->health(p->state, why, sizeof(why)) == AP_OK;
            }
            pthread_mutex_lock(&a->lock);
            a->probes[i].started_at = 0;
            a->probes[i].probed = true;
            a->probes[i].has_probe = has;
            a->probes[i].ok = ok;
            a->probes[i].done_at = time_mono_ms();
            a->probes[i].ms = a->probes[i].done_at - t0;
            (void)snprintf(a->probes[i].detail, sizeof(a->probes[i].detail),
                           "%s", why[0] ? why : (ok ? "ok" : "failed"));
            pthread_mutex_unlock(&a->lock);
        }
        app_release(view);

        pthread_mutex_lock(&a->lock);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += interval;
        while (!a->stopping &&
               pthread_cond_timedwait(&a->cond, &a->lock, &ts) == 0) {
        }
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* ---- facts -------------------------------------------------------------- */

/* One small durable write: the store takes writes (disk, map, lock). */
static void
store_probe(struct app *root, struct ready_facts *f)
{
    struct store_txn *txn = NULL;
    char val[64];
    ap_err rc;
    int n = snprintf(val, sizeof(val), "{\"at\":%lld}", (long long)time_now());

    rc = store_begin(root->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_META, HEALTH_KEY, val, (size_t)n, false);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    f->store_ok = rc == AP_OK;
    (void)snprintf(f->store_detail, sizeof(f->store_detail), "%s",
                   rc == AP_OK ? "a write committed"
                               : ap_strerror(rc));
}

static void
gather_ready(struct adminsrv *a, struct ready_facts *f)
{
    struct app *view = app_acquire(a->root);
    const struct app_pki *pkis = NULL;
    struct app_pki one;
    long long now = jobs_now_ms();
    size_t np;

    memset(f, 0, sizeof(*f));
    store_probe(a->root, f);
    np = view_pkis(view, &pkis, &one);
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < np && i < 1 + CONFIG_MAX_ADAPTERS; i++) {
        const struct probe_result *p = probe_find(a, pkis[i].name);
        struct ready_adapter *r = &f->adapters[i];

        (void)snprintf(r->name, sizeof(r->name), "%s", pkis[i].name);
        r->has_probe = pkis[i].ops != NULL && pkis[i].ops->health != NULL;
        if (p == NULL) {
            continue;     /* added by a reload: not probed yet */
        }
        r->probed = p->probed;
        r->has_probe = p->probed ? p->has_probe : r->has_probe;
        r->ok = p->ok;
        r->ms = p->ms;
        r->age_ms = time_mono_ms() - p->done_at;
        r->running_ms = p->started_at != 0 ? time_mono_ms() - p->started_at
                                           : 0;
        (void)snprintf(r->detail, sizeof(r->detail), "%s", p->detail);
    }
    f->n_adapters = np < 1 + CONFIG_MAX_ADAPTERS ? np
                                                 : 1 + CONFIG_MAX_ADAPTERS;
    pthread_mutex_unlock(&a->lock);
    f->probe_interval = view->cfg->admin.probe_interval;
    f->probe_timeout_ms = view->cfg->admin.probe_timeout_ms;
    f->max_job_age = view->cfg->admin.max_job_age;
    f->max_validation_wait = view->cfg->admin.max_validation_wait;
    /* The validations that may run at once, on validator threads and on
     * the requests that start them (jobs_set_runs), against those that
     * run. */
    f->validators = view->cfg->validation.workers >
                            view->cfg->validation.max_concurrent
                        ? view->cfg->validation.workers
                        : view->cfg->validation.max_concurrent;
    f->validators_busy = metrics_jobs_running(JOB_VALIDATE);
    f->jobs_known = true;
    for (int k = 0; k < 2; k++) {
        size_t n = 0;

        if (jobs_queue_stats(a->root->st, (enum job_kind)k, now, &n,
                             &f->job_wait_ms[k]) != AP_OK) {
            f->jobs_known = false;
        }
    }
    app_release(view);
}

static void
gather_gauges(struct adminsrv *a, struct metrics_gauges *g)
{
    static const enum store_table tables[6] = {
        STORE_ACCOUNTS, STORE_ORDERS, STORE_AUTHZS, STORE_CERTS, STORE_JOBS,
        STORE_AUDIT,
    };
    struct snapshot *s = snapshot_get(a->root);
    struct gate_stats gs;
    struct store_txn *txn = NULL;
    struct store_stats ss;
    long long now = jobs_now_ms();
    size_t map = 0;
    size_t used = 0;

    memset(g, 0, sizeof(*g));
    server_conn_stats(a->srv, &gs);
    g->conn_open = gs.open;
    g->conn_accepted = gs.accepted;
    g->conn_refused_total = gs.refused_total;
    g->conn_refused_ip = gs.refused_ip;
    g->conn_timeout[0] = gs.timeout_handshake;
    g->conn_timeout[1] = gs.timeout_head;
    g->conn_timeout[2] = gs.timeout_body;
    g->conn_timeout[3] = gs.timeout_idle;
    g->conn_tls_failed = gs.tls_failed;
    g->conn_bad_request = gs.bad_request;
    _Static_assert(METRICS_JOB_KINDS == JOB__MAX,
                   "a metrics row for every job kind");
    for (int k = 0; k < METRICS_JOB_KINDS; k++) {
        size_t n = 0;
        long long wait = 0;

        if (jobs_queue_stats(a->root->st, (enum job_kind)k, now, &n, &wait) ==
            AP_OK) {
            g->jobs_queued[k] = n;
            g->jobs_oldest_age_sec[k] = (double)wait / 1000.0;
        }
    }
    g->job_workers[0] = s != NULL ? s->cfg.validation.workers : 0;
    /* A reload that adds an adapter grows the issuance pool. */
    g->job_workers[1] = jobs_threads(a->root->jobs, JOB_ISSUE) > 0
                            ? jobs_threads(a->root->jobs, JOB_ISSUE)
                            : a->issue_threads;
    g->job_workers[JOB_WEBHOOK] = jobs_threads(a->root->jobs, JOB_WEBHOOK);
    if (store_usage(a->root->st, &map, &used) == AP_OK) {
        g->store_map_bytes = map;
        g->store_used_bytes = used;
    }
    store_stats(a->root->st, &ss);
    g->store_commits = ss.commits;
    g->store_batches = ss.batches;
    g->store_batches_failed = ss.failed;
    if (store_begin(a->root->st, false, &txn) == AP_OK) {
        for (int t = 0; t < 6; t++) {
            size_t n = 0;

            if (store_count(txn, tables[t], &n) == AP_OK) {
                g->store_records[t] = n;
            }
        }
        store_abort(txn);
    }
    if (s != NULL) {
        g->config_generation = s->generation;
        g->config_loaded_time = s->loaded_at;
    }
    g->start_time = metrics_start_time();
    snapshot_put(s);
}

/* ---- HTTP --------------------------------------------------------------- */

static int
reply(struct mg_connection *c, int status, const char *ctype,
      const char *body, size_t len, bool head)
{
    char num[32];

    mg_response_header_start(c, status);
    mg_response_header_add(c, "Content-Type", ctype, -1);
    mg_response_header_add(c, "Cache-Control", "no-store", -1);
    (void)snprintf(num, sizeof(num), "%zu", len);
    mg_response_header_add(c, "Content-Length", num, -1);
    mg_response_header_send(c);
    if (!head && len > 0) {
        mg_write(c, body, len);
    }
    return status;
}

/* ---- the admin API ----------------------------------------------------- */

/* The token name the Authorization header carries into caller, after
 * reading the token file again when the configuration was reloaded.
 * false: no valid token (or no usable token file). */
static bool
api_caller(struct adminsrv *a, const struct snapshot *s, const char *authz,
           char *caller, size_t len)
{
    char errbuf[300];
    const char *name;
    bool ok = false;

    pthread_mutex_lock(&a->tok_lock);
    if (a->tok_gen != s->generation) {
        struct admin_tokens *t = NULL;

        admin_tokens_free(a->tokens);
        a->tokens = NULL;
        errbuf[0] = '\0';
        if (admin_tokens_load(s->cfg.admin.token_file, &t, errbuf,
                              sizeof(errbuf)) != AP_OK) {
            log_err("admin", "%s: the admin API refuses every call until a "
                    "reload reads a good token file",
                    errbuf[0] ? errbuf : "cannot read the token file");
        }
        a->tokens = t;
        a->tok_gen = s->generation;
    }
    name = admin_tokens_check(a->tokens, authz);
    if (name != NULL) {
        (void)snprintf(caller, len, "%s", name);
        ok = true;
    }
    pthread_mutex_unlock(&a->tok_lock);
    return ok;
}

/* "cert:" and the subject of the client certificate the handshake
 * verified against [admin] client_ca into caller (a token NAME has no
 * ':', so the two kinds of caller never mix); false when client_ca is not
 * set, the caller presented none, or it does not fit. */
static bool
api_cert_caller(const struct snapshot *s, const struct mg_request_info *ri,
                char *caller, size_t len)
{
    const struct mg_client_cert *cc = ri->client_cert;
    int n;

    if (s->cfg.admin.client_ca[0] == '\0' || !ri->is_ssl || cc == NULL ||
        cc->subject == NULL || cc->subject[0] == '\0') {
        return false;
    }
    n = snprintf(caller, len, CERT_CALLER "%s", cc->subject);
    return n > 0 && (size_t)n < len;
}

/* The audit event of one API call: who, what, the answer. */
static void
api_audit(struct adminsrv *a, const char *request_id, const char *caller,
          const struct mg_request_info *ri, const char *op, int status)
{
    cJSON *f = cJSON_CreateObject();
    char path[128];

    (void)snprintf(path, sizeof(path), "%s",
                   ri->local_uri != NULL ? ri->local_uri : "/");
    for (char *p = path; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
            *p = '?';
        }
    }
    if (f == NULL || cJSON_AddStringToObject(f, "by", "api") == NULL ||
        (caller != NULL
             ? cJSON_AddStringToObject(f, "caller", caller) == NULL
             : cJSON_AddNullToObject(f, "caller") == NULL) ||
        cJSON_AddStringToObject(f, "method", ri->request_method) == NULL ||
        cJSON_AddStringToObject(f, "path", path) == NULL ||
        cJSON_AddStringToObject(f, "op", op) == NULL ||
        cJSON_AddNumberToObject(f, "status", status) == NULL ||
        cJSON_AddStringToObject(f, "outcome",
                                status < 400   ? "ok"
                                : status == 401 ? "unauthorized"
                                                : "refused") == NULL) {
        cJSON_Delete(f);
        log_err("admin", "audit of an admin API call: out of memory");
        return;
    }
    if (audit_record(a->root->audit, a->root->st, "admin.api", request_id,
                     f) != AP_OK) {
        log_err("admin", "audit of an admin API call (%s %s, status %d) "
                "failed", ri->request_method, path, status);
    }
}

/* Sends doc (problem+json from 400 on) with the API's headers. */
static int
api_send(struct mg_connection *c, int status, const char *text,
         const char *allow)
{
    char num[32];
    size_t len = strlen(text);

    mg_response_header_start(c, status);
    mg_response_header_add(c, "Content-Type",
                           status >= 400 ? "application/problem+json"
                                         : "application/json",
                           -1);
    mg_response_header_add(c, "Cache-Control", "no-store", -1);
    if (status == 401) {
        mg_response_header_add(c, "WWW-Authenticate",
                               "Bearer realm=\"acmeproxy-admin\"", -1);
    }
    if (allow != NULL) {
        mg_response_header_add(c, "Allow", allow, -1);
    }
    (void)snprintf(num, sizeof(num), "%zu", len + 1);
    mg_response_header_add(c, "Content-Length", num, -1);
    mg_response_header_send(c);
    /* A HEAD (405 on every API path) gets the headers only. */
    if (strcmp(mg_get_request_info(c)->request_method, "HEAD") != 0) {
        mg_write(c, text, len);
        mg_write(c, "\n", 1);
    }
    return status;
}

/* A problem answer with a fixed text (401, 413, 500). */
static int
api_problem(struct mg_connection *c, int status, const char *detail)
{
    cJSON *p = adminapi_problem(status, detail);
    char *text = p != NULL ? cJSON_PrintUnformatted(p) : NULL;
    int rv = api_send(c, status, text != NULL ? text : "{}", NULL);

    cJSON_free(text);
    cJSON_Delete(p);
    return rv;
}

/* Reads the body, at most ADMINAPI_MAX_BODY bytes, into buf (that size
 * plus one). -1: larger; else its length. */
static long long
api_body(struct mg_connection *c, const struct mg_request_info *ri,
         char *buf)
{
    size_t got = 0;

    if (ri->content_length > ADMINAPI_MAX_BODY) {
        return -1;
    }
    while (got <= ADMINAPI_MAX_BODY) {
        int n = mg_read(c, buf + got, ADMINAPI_MAX_BODY + 1 - got);

        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return got > ADMINAPI_MAX_BODY ? -1 : (long long)got;
}

static int
api_request(struct mg_connection *c, struct adminsrv *a,
            const struct mg_request_info *ri)
{
    /* 401 says the same whatever was wrong: no header, another scheme, a
     * malformed or an unknown token. */
    static const char unauthorized[] = "a valid bearer token is required";
    struct snapshot *s = snapshot_get(a->root);
    struct adminapi_req req;
    struct adminapi_resp resp;
    struct app *view;
    char caller[CALLER_MAX + 1];
    char rid[64];
    char *body = NULL;
    char *text = NULL;
    long long blen;
    bool authed;
    int status;

    if (s == NULL || (s->cfg.admin.token_file[0] == '\0' &&
                      s->cfg.admin.client_ca[0] == '\0')) {
        snapshot_put(s);
        return reply(c, 404, "text/plain; charset=utf-8", "not found\n", 10,
                     false);
    }
    if (id_new(rid, sizeof(rid)) != AP_OK) {
        (void)snprintf(rid, sizeof(rid), "admin-api");
    }
    /* A client certificate that chained to [admin] client_ca (the
     * handshake refused any other) is enough; without one, the token. */
    authed = api_cert_caller(s, ri, caller, sizeof(caller));
    if (!authed && s->cfg.admin.token_file[0] != '\0') {
        authed = api_caller(a, s, mg_get_header(c, "Authorization"), caller,
                            sizeof(caller));
    }
    snapshot_put(s);
    if (!authed) {
        status = api_problem(c, 401, unauthorized);
        api_audit(a, rid, NULL, ri, "-", status);
        return status;
    }
    body = malloc(ADMINAPI_MAX_BODY + 1);
    if (body == NULL) {
        status = api_problem(c, 500, "out of memory");
        api_audit(a, rid, caller, ri, "-", status);
        return status;
    }
    blen = api_body(c, ri, body);
    if (blen < 0) {
        free(body);
        status = api_problem(c, 413, "the body is larger than 16384 bytes");
        api_audit(a, rid, caller, ri, "-", status);
        return status;
    }
    body[blen] = '\0';
    memset(&req, 0, sizeof(req));
    req.method = ri->request_method;
    req.path = ri->local_uri != NULL ? ri->local_uri : "/";
    req.query = ri->query_string;
    req.body = body;
    req.body_len = (size_t)blen;
    req.caller = caller;
    req.request_id = rid;
    view = app_acquire(a->root);
    adminapi_handle(view, &req, &resp);
    app_release(view);
    crypto_zeroize(body, (size_t)blen);
    free(body);
    if (resp.doc == NULL) {
        status = api_problem(c, 500, "out of memory");
    } else if (resp.secret) {
        /* The HMAC key: printed without stray copies, wiped after. */
        if (json_print_wiped(resp.doc, 4096, &text) != AP_OK) {
            status = api_problem(c, 500, "out of memory");
        } else {
            status = api_send(c, resp.status, text, resp.allow);
            json_free_wiped(text);
        }
    } else {
        text = cJSON_PrintUnformatted(resp.doc);
        status = text != NULL ? api_send(c, resp.status, text, resp.allow)
                              : api_problem(c, 500, "out of memory");
        cJSON_free(text);
    }
    api_audit(a, rid, caller, ri, resp.op, status);
    adminapi_resp_fini(&resp);
    return status;
}

static int
on_request(struct mg_connection *c, void *cbdata)
{
    struct adminsrv *a = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *path = ri->local_uri != NULL ? ri->local_uri : "/";
    bool head = strcmp(ri->request_method, "HEAD") == 0;
    static const char plain[] = "text/plain; charset=utf-8";

    if (strncmp(path, ADMINAPI_PREFIX, strlen(ADMINAPI_PREFIX)) == 0 ||
        strcmp(path, "/admin") == 0) {
        return api_request(c, a, ri);
    }

    if (!head && strcmp(ri->request_method, "GET") != 0) {
        mg_response_header_start(c, 405);
        mg_response_header_add(c, "Allow", "GET, HEAD", -1);
        mg_response_header_add(c, "Content-Length", "0", -1);
        mg_response_header_send(c);
        return 405;
    }
    if (strcmp(path, "/health/live") == 0) {
        static const char live[] = "{\"status\":\"live\"}\n";

        return reply(c, 200, "application/json", live, sizeof(live) - 1,
                     head);
    }
    if (strcmp(path, "/health/ready") == 0) {
        struct ready_facts f;
        cJSON *body = NULL;
        char *text;
        bool ready;
        int status;

        gather_ready(a, &f);
        ready = adminsrv_ready(&f, &body);
        text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
        cJSON_Delete(body);
        if (!ready) {
            log_warn("admin", "not ready: %s", text != NULL ? text : "-");
        }
        status = reply(c, ready ? 200 : 503, "application/json",
                       text != NULL ? text : "{}",
                       text != NULL ? strlen(text) : 2, head);
        cJSON_free(text);
        return status;
    }
    if (strcmp(path, "/metrics") == 0) {
        struct metrics_gauges g;
        struct buf out;
        int status;

        buf_init(&out, METRICS_MAX);
        gather_gauges(a, &g);
        if (metrics_render(&g, &out) != AP_OK) {
            buf_fini(&out);
            return reply(c, 500, plain, "metrics failed\n", 15, head);
        }
        status = reply(c, 200, "text/plain; version=0.0.4; charset=utf-8",
                       out.data != NULL ? out.data : "", out.len, head);
        buf_fini(&out);
        return status;
    }
    return reply(c, 404, plain, "not found\n", 10, head);
}

static int
on_log(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_info("admin", "%s", message);
    return 1;
}

/* The private key file of [admin] tls_key, checked like the token file:
 * one that others may read or write stops the start; group-readable is
 * accepted with a warning. (civetweb reads it: mbedTLS wipes its copy.) */
static ap_err
tls_key_check(const char *path, char *errbuf, size_t errlen)
{
    struct stat st;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)snprintf(errbuf, errlen, "[admin] tls_key %s: cannot be read",
                       path);
        return AP_ECONFIG;
    }
    if ((st.st_mode & S_IRWXO) != 0) {
        (void)snprintf(errbuf, errlen, "[admin] tls_key %s: others may read "
                       "or write it (mode %03o): make it 0600, owned by the "
                       "service user", path, (unsigned)(st.st_mode & 0777));
        return AP_ECONFIG;
    }
    if ((st.st_mode & S_IRGRP) != 0) {
        log_warn("admin", "[admin] tls_key %s is readable by its group "
                 "(mode %03o): make it 0600", path,
                 (unsigned)(st.st_mode & 0777));
    }
    return AP_OK;
}

/* civetweb's listening_ports for listen: with tls, each comma-separated
 * port gets civetweb's "s" (HTTPS). NULL: out of memory. Caller frees. */
static char *
ports_option(const char *listen, bool tls)
{
    size_t n = strlen(listen);
    char *out = malloc(2 * n + 2);
    size_t o = 0;

    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i <= n; i++) {
        if (tls && (listen[i] == ',' || listen[i] == '\0') && o > 0 &&
            out[o - 1] != ',') {
            out[o++] = 's';
        }
        out[o++] = listen[i];
    }
    return out;
}

void
adminsrv_stop(struct adminsrv *a)
{
    if (a == NULL) {
        return;
    }
    if (a->ctx != NULL) {
        mg_stop(a->ctx);
        mg_exit_library();
    }
    if (a->prober_started) {
        pthread_mutex_lock(&a->lock);
        a->stopping = true;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->prober, NULL);
    }
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    admin_tokens_free(a->tokens);
    pthread_mutex_destroy(&a->tok_lock);
    free(a);
}

ap_err
adminsrv_start(struct app *root, struct server *srv, const char *listen,
               unsigned issue_threads, struct adminsrv **out, char *errbuf,
               size_t errlen)
{
    struct adminsrv *a = NULL;
    struct mg_callbacks cb;
    struct mg_init_data init;
    struct mg_error_data err;
    pthread_condattr_t ca;
    char errtext[256];
    /* Held until civetweb has copied the options that point into it. */
    struct snapshot *snap = snapshot_get(root);
    const struct config *cfg = snap != NULL ? &snap->cfg : root->cfg;
    bool tls = cfg->admin.tls_cert[0] != '\0';
    char *ports = ports_option(listen, tls);
    const char *opts[20] = {
        "listening_ports", ports,
        /* Scrapes, probes and admin calls are few: a handful of workers
         * (a revocation waits on the PKI), short deadlines (the TLS
         * handshake's too: 02-client-cert.patch). */
        "num_threads", "4",
        "request_timeout_ms", "5000",
        "enable_keep_alive", "no",
        "max_request_size", "8192",
        NULL,
    };
    size_t no = 10;
    ap_err rc = AP_ENOMEM;

    *out = NULL;
    if (ports == NULL) {
        goto out;
    }
    if (tls) {
        /* With the patched mbedTLS module: the key in ssl_certificate,
         * the certificate and its chain in ssl_certificate_chain. With
         * client_ca a client certificate is asked for, and one that is
         * presented must chain to client_ca (else the handshake fails),
         * but a caller may present none (health checks, token callers). */
        rc = tls_key_check(cfg->admin.tls_key, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
        opts[no++] = "ssl_certificate";
        opts[no++] = cfg->admin.tls_key;
        opts[no++] = "ssl_certificate_chain";
        opts[no++] = cfg->admin.tls_cert;
        if (cfg->admin.client_ca[0] != '\0') {
            opts[no++] = "ssl_verify_peer";
            opts[no++] = "optional";
            opts[no++] = "ssl_ca_file";
            opts[no++] = cfg->admin.client_ca;
        }
        opts[no] = NULL;
    }
    rc = AP_ENOMEM;
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        goto out;
    }
    a->root = root;
    a->srv = srv;
    a->issue_threads = issue_threads;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->tok_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    /* A token file that cannot be used stops the start; after a reload
     * it only closes the token path of the API (api_caller). */
    a->tok_gen = snap != NULL ? snap->generation : 0;
    if (cfg->admin.token_file[0] != '\0' &&
        admin_tokens_load(cfg->admin.token_file, &a->tokens, errbuf,
                          errlen) != AP_OK) {
        rc = AP_ECONFIG;
        goto out;
    }
    if (pthread_create(&a->prober, NULL, probe_main, a) != 0) {
        (void)snprintf(errbuf, errlen, "cannot start the health prober");
        rc = AP_EINTERNAL;
        goto out;
    }
    a->prober_started = true;

    memset(&cb, 0, sizeof(cb));
    cb.log_message = on_log;
    memset(&init, 0, sizeof(init));
    init.callbacks = &cb;
    init.user_data = a;
    init.configuration_options = opts;
    memset(&err, 0, sizeof(err));
    errtext[0] = '\0';
    err.text = errtext;
    err.text_buffer_size = sizeof(errtext);
    mg_init_library(0);
    a->ctx = mg_start2(&init, &err);
    if (a->ctx == NULL) {
        mg_exit_library();
        (void)snprintf(errbuf, errlen, "[admin] cannot listen on %s: %s%s",
                       listen, errtext[0] ? errtext : "civetweb failed",
                       tls ? " (tls_cert, tls_key and client_ca must be PEM "
                             "files the service user can read)"
                           : "");
        rc = AP_ECONFIG;
        goto out;
    }
    mg_set_request_handler(a->ctx, "/", on_request, a);
    if (tls) {
        log_info("admin", "admin listener %s: HTTPS%s", listen,
                 cfg->admin.client_ca[0] != '\0'
                     ? ", client certificates from [admin] client_ca"
                     : "");
    }
    *out = a;
    a = NULL;
    rc = AP_OK;
out:
    adminsrv_stop(a);
    snapshot_put(snap);
    free(ports);
    return rc;
}
