/* proxy/metrics.c: counters, fixed-bucket histograms and their rendering
 * in the Prometheus text format.
 *
 * Every series lives in a static array indexed by label positions taken
 * from fixed tables, so bumping one is an index lookup and one relaxed
 * atomic add. Histograms keep per-bucket counts (made cumulative when
 * rendered) and their sum in microseconds. */
#include "proxy/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/problem.h"

#ifndef ACMEPROXY_VERSION
#define ACMEPROXY_VERSION "0.0.0"
#endif

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef _Atomic unsigned long long counter;

/* ---- label tables ------------------------------------------------------- */

static const char *const route_names[MR__N] = {
    "directory", "new-nonce", "new-account", "new-order", "revoke-cert",
    "account", "orders", "order", "authz", "challenge", "cert", "issuer",
    "key-change", "renewal-info", "other",
};

/* HTTP statuses the proxy answers; anything else is "other". */
static const int statuses[] = {
    200, 201, 204, 400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 429,
    431, 500, 503,
};
#define N_STATUS (COUNT(statuses) + 1)

static const char *const order_states[] = {
    "pending", "ready", "processing", "valid", "invalid",
};

static const char *const chall_types[] = {
    "http-01", "dns-01", "tls-alpn-01", "other",
};

/* registry.c's adapters, and "other": the label "type". */
static const char *const adapter_types[] = {
    "local", "ejbca", "vault", "adcs", "stepca", "rest", "exec", "other",
};
static const char *const pki_calls[] = {
    "submit", "poll", "lookup", "revoke", "health",
};
static const char *const pki_outcomes[] = {
    "issued", "pending", "rejected", "retry", "not_found", "unknown", "ok",
    "error",
};

static const char *const job_kinds[METRICS_JOB_KINDS] = { "validation",
                                                          "issuance",
                                                          "webhook" };

/* The adapters' series: one slot per (configured name, type) pair seen,
 * in the order first seen; the last slot is "other" (more pairs than that
 * in one process). Bounded by the configuration, never by clients. */
#define METRICS_PKI_SLOTS 24
struct pki_slot {
    char name[65];
    size_t type;                /* index into adapter_types */
};
static struct pki_slot pki_slots[METRICS_PKI_SLOTS];
static size_t n_pki_slots;
static pthread_mutex_t pki_slots_lock = PTHREAD_MUTEX_INITIALIZER;

/* Seconds. The +Inf bucket follows. */
static const double buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};
#define N_BUCKETS (COUNT(buckets) + 1)

struct histogram {
    counter bucket[N_BUCKETS];
    counter sum_us;
    counter count;
};

/* ---- the series --------------------------------------------------------- */

static struct {
    counter http[MR__N][N_STATUS];
    struct histogram http_dur[MR__N];
    counter problems[MR__N][PROB__MAX];
    counter ratelimited[MR__N];
    counter bad_nonce;
    counter orders[COUNT(order_states)];
    counter validations[COUNT(chall_types)][2]; /* [type][valid] */
    struct histogram val_dur[COUNT(chall_types)];
    counter val_busy;
    counter pki[METRICS_PKI_SLOTS][COUNT(pki_calls)][COUNT(pki_outcomes)];
    struct histogram pki_dur[METRICS_PKI_SLOTS][COUNT(pki_calls)];
    counter certs_issued;
    counter certs_revoked;
    counter reloads[2]; /* [applied] */
    _Atomic int jobs_running[METRICS_JOB_KINDS];
} M;

static size_t
find(const char *const *table, size_t n, const char *s, size_t dflt)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        if (strcmp(table[i], s) == 0) {
            return i;
        }
    }
    return dflt;
}

static void
bump(counter *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void
observe(struct histogram *h, long long us)
{
    double sec;
    size_t b = 0;

    if (us < 0) {
        us = 0;
    }
    sec = (double)us / 1e6;
    while (b < COUNT(buckets) && sec > buckets[b]) {
        b++;
    }
    bump(&h->bucket[b]);
    atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)us,
                              memory_order_relaxed);
    bump(&h->count);
}

static unsigned long long
get(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- recording ---------------------------------------------------------- */

const char *
metrics_route_name(enum metrics_route r)
{
    return (unsigned)r < MR__N ? route_names[r] : route_names[MR_OTHER];
}

void
metrics_http(enum metrics_route r, int status, int problem, long long us)
{
    size_t s = COUNT(statuses);

    if ((unsigned)r >= MR__N) {
        r = MR_OTHER;
    }
    for (size_t i = 0; i < COUNT(statuses); i++) {
        if (statuses[i] == status) {
            s = i;
            break;
        }
    }
    bump(&M.http[r][s]);
    observe(&M.http_dur[r], us);
    if (problem >= 0 && problem < PROB__MAX) {
        bump(&M.problems[r][problem]);
        if (problem == PROB_RATE_LIMITED) {
            bump(&M.ratelimited[r]);
        } else if (problem == PROB_BAD_NONCE) {
            bump(&M.bad_nonce);
        }
    }
}

void
metrics_order(const char *status)
{
    size_t i = find(order_states, COUNT(order_states), status,
                    COUNT(order_states));

    if (i < COUNT(order_states)) {
        bump(&M.orders[i]);
    }
}

void
metrics_validation(const char *type, bool valid, long long ms)
{
    size_t t = find(chall_types, COUNT(chall_types), type,
                    COUNT(chall_types) - 1);

    bump(&M.validations[t][valid ? 1 : 0]);
    observe(&M.val_dur[t], ms * 1000);
}

void
metrics_validation_busy(void)
{
    bump(&M.val_busy);
}

/* The slot of (name, type), taken on first use. */
static size_t
pki_slot(const char *name, const char *type)
{
    size_t t = find(adapter_types, COUNT(adapter_types), type,
                    COUNT(adapter_types) - 1);
    size_t a = METRICS_PKI_SLOTS - 1;

    if (name == NULL || strlen(name) >= sizeof(pki_slots[0].name)) {
        name = "other";
    }
    pthread_mutex_lock(&pki_slots_lock);
    for (size_t i = 0; i < n_pki_slots; i++) {
        if (pki_slots[i].type == t && strcmp(pki_slots[i].name, name) == 0) {
            a = i;
            break;
        }
    }
    if (a == METRICS_PKI_SLOTS - 1 && n_pki_slots < METRICS_PKI_SLOTS - 1 &&
        strcmp(name, "other") != 0) {
        a = n_pki_slots++;
        (void)snprintf(pki_slots[a].name, sizeof(pki_slots[a].name), "%s",
                       name);
        pki_slots[a].type = t;
    }
    pthread_mutex_unlock(&pki_slots_lock);
    return a;
}

void
metrics_pki(const char *adapter, const char *type, const char *call,
            const char *outcome, long long us)
{
    size_t a = pki_slot(adapter, type);
    size_t c = find(pki_calls, COUNT(pki_calls), call, COUNT(pki_calls));
    size_t o = find(pki_outcomes, COUNT(pki_outcomes), outcome,
                    COUNT(pki_outcomes) - 1);

    if (c == COUNT(pki_calls)) {
        return;
    }
    bump(&M.pki[a][c][o]);
    observe(&M.pki_dur[a][c], us);
}

const char *
metrics_outcome_name(enum adapter_outcome o)
{
    switch (o) {
    case ADAPTER_ISSUED:
        return "issued";
    case ADAPTER_PENDING:
        return "pending";
    case ADAPTER_REJECTED:
        return "rejected";
    case ADAPTER_RETRY:
        return "retry";
    case ADAPTER_NOT_FOUND:
        return "not_found";
    case ADAPTER_UNKNOWN:
        return "unknown";
    }
    return "error";
}

void
metrics_issue_outcome(bool committed, bool issued, bool failed)
{
    if (!committed) {
        return;
    }
    if (issued) {
        bump(&M.certs_issued);
        metrics_order("valid");
    } else if (failed) {
        metrics_order("invalid");
    }
}

void
metrics_cert_revoked(void)
{
    bump(&M.certs_revoked);
}

void
metrics_reload(bool applied)
{
    bump(&M.reloads[applied ? 1 : 0]);
}

void
metrics_job_running(int kind, int delta)
{
    if (kind >= 0 && kind < METRICS_JOB_KINDS) {
        atomic_fetch_add(&M.jobs_running[kind], delta);
    }
}

unsigned
metrics_jobs_running(int kind)
{
    int n = kind >= 0 && kind < METRICS_JOB_KINDS
                ? atomic_load(&M.jobs_running[kind])
                : 0;

    return n > 0 ? (unsigned)n : 0;
}

static _Atomic long long start_ms;

void
metrics_mark_start(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&start_ms, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

double
metrics_start_time(void)
{
    return (double)atomic_load(&start_ms) / 1000.0;
}

const char *
metrics_version(void)
{
    return ACMEPROXY_VERSION;
}

/* ---- the metered adapter ------------------------------------------------ */

struct metered {
    const struct adapter_ops *real;
    void *state;
    char name[65];              /* the configured name */
};

static long long
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static enum adapter_outcome
m_submit(void *state, const struct adapter_request *req,
         struct adapter_result *res)
{
    struct metered *m = state;
    long long t0 = now_us();
    enum adapter_outcome o = m->real->submit(m->state, req, res);

    metrics_pki(m->name, m->real->name, "submit", metrics_outcome_name(o),
                now_us() - t0);
    return o;
}

static enum adapter_outcome
m_poll(void *state, const char *ref, struct adapter_result *res)
{
    struct metered *m = state;
    long long t0 = now_us();
    enum adapter_outcome o = m->real->poll(m->state, ref, res);

    metrics_pki(m->name, m->real->name, "poll", metrics_outcome_name(o),
                now_us() - t0);
    return o;
}

static enum adapter_outcome
m_lookup(void *state, const struct adapter_request *req,
         struct adapter_result *res)
{
    struct metered *m = state;
    long long t0 = now_us();
    enum adapter_outcome o = m->real->lookup(m->state, req, res);

    metrics_pki(m->name, m->real->name, "lookup", metrics_outcome_name(o),
                now_us() - t0);
    return o;
}

static ap_err
m_revoke(void *state, const char *cert_pem, int reason, char *errbuf,
         size_t errlen)
{
    struct metered *m = state;
    long long t0 = now_us();
    ap_err rc = m->real->revoke(m->state, cert_pem, reason, errbuf, errlen);

    metrics_pki(m->name, m->real->name, "revoke", rc == AP_OK ? "ok" : "error",
                now_us() - t0);
    return rc;
}

static ap_err
m_health(void *state, char *errbuf, size_t errlen)
{
    struct metered *m = state;
    long long t0 = now_us();
    ap_err rc = m->real->health(m->state, errbuf, errlen);

    metrics_pki(m->name, m->real->name, "health", rc == AP_OK ? "ok" : "error",
                now_us() - t0);
    return rc;
}

ap_err
metrics_adapter_wrap(const char *name, const struct adapter_ops *ops,
                     void *state, const struct adapter_ops **mops,
                     void **mstate)
{
    struct adapter_ops *o = malloc(sizeof(*o));
    struct metered *m = malloc(sizeof(*m));

    if (o == NULL || m == NULL) {
        free(o);
        free(m);
        return AP_ENOMEM;
    }
    *o = *ops;
    o->submit = m_submit;
    o->poll = ops->poll != NULL ? m_poll : NULL;
    o->lookup = ops->lookup != NULL ? m_lookup : NULL;
    o->revoke = ops->revoke != NULL ? m_revoke : NULL;
    o->health = ops->health != NULL ? m_health : NULL;
    o->init = NULL; /* the state exists already */
    o->free = NULL; /* metrics_adapter_free */
    m->real = ops;
    m->state = state;
    (void)snprintf(m->name, sizeof(m->name), "%s",
                   name != NULL ? name : "other");
    *mops = o;
    *mstate = m;
    return AP_OK;
}

void
metrics_adapter_free(const struct adapter_ops *mops, void *mstate)
{
    struct metered *m = mstate;

    if (m != NULL) {
        m->real->free(m->state);
        free(m);
    }
    free((void *)(uintptr_t)mops);
}

/* ---- rendering ---------------------------------------------------------- */

struct out {
    struct buf *b;
    ap_err rc;
};

static void emit(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
emit(struct out *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    if (o->rc != AP_OK) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        o->rc = AP_EINTERNAL;
        return;
    }
    o->rc = buf_append(o->b, line, (size_t)n);
}

static void
head(struct out *o, const char *name, const char *type, const char *help)
{
    emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A histogram's series; labels: "" or `k="v",...` without braces. */
static void
histogram(struct out *o, const char *name, const char *labels,
          struct histogram *h)
{
    unsigned long long cum = 0;
    const char *sep = labels[0] != '\0' ? "," : "";

    for (size_t b = 0; b < N_BUCKETS; b++) {
        cum += get(&h->bucket[b]);
        if (b < COUNT(buckets)) {
            emit(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                 buckets[b], cum);
        } else {
            emit(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                 cum);
        }
    }
    /* The count is the +Inf bucket, so the two always agree. */
    if (labels[0] != '\0') {
        emit(o, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels,
             (double)get(&h->sum_us) / 1e6, name, labels, cum);
    } else {
        emit(o, "%s_sum %.6f\n%s_count %llu\n", name,
             (double)get(&h->sum_us) / 1e6, name, cum);
    }
}

static void
render_http(struct out *o)
{
    char labels[128];

    head(o, "acmeproxy_http_requests_total", "counter",
         "ACME requests answered, by route and HTTP status.");
    for (size_t r = 0; r < MR__N; r++) {
        for (size_t s = 0; s < N_STATUS; s++) {
            unsigned long long v = get(&M.http[r][s]);

            if (v == 0 && s != 0) {
                continue; /* every route shows at least its 200 series */
            }
            if (s < COUNT(statuses)) {
                emit(o, "acmeproxy_http_requests_total{route=\"%s\","
                     "status=\"%d\"} %llu\n", route_names[r], statuses[s], v);
            } else {
                emit(o, "acmeproxy_http_requests_total{route=\"%s\","
                     "status=\"other\"} %llu\n", route_names[r], v);
            }
        }
    }
    head(o, "acmeproxy_http_request_duration_seconds", "histogram",
         "Time from a whole request to the last byte of its answer, by "
         "route.");
    for (size_t r = 0; r < MR__N; r++) {
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[r]);
        histogram(o, "acmeproxy_http_request_duration_seconds", labels,
                  &M.http_dur[r]);
    }
    head(o, "acmeproxy_http_problems_total", "counter",
         "Problem documents answered, by route and RFC 8555 error type.");
    for (size_t r = 0; r < MR__N; r++) {
        for (int t = 0; t < PROB__MAX; t++) {
            unsigned long long v = get(&M.problems[r][t]);
            const char *urn = problem_urn((enum problem_type)t);
            const char *p = strrchr(urn, ':');

            if (v == 0) {
                continue;
            }
            emit(o, "acmeproxy_http_problems_total{route=\"%s\",type=\"%s\"}"
                 " %llu\n", route_names[r], p != NULL ? p + 1 : urn, v);
        }
    }
    head(o, "acmeproxy_ratelimit_refusals_total", "counter",
         "Requests refused with rateLimited, by route.");
    for (size_t r = 0; r < MR__N; r++) {
        emit(o, "acmeproxy_ratelimit_refusals_total{route=\"%s\"} %llu\n",
             route_names[r], get(&M.ratelimited[r]));
    }
    head(o, "acmeproxy_nonce_rejections_total", "counter",
         "Requests refused with badNonce.");
    emit(o, "acmeproxy_nonce_rejections_total %llu\n", get(&M.bad_nonce));
}

static void
render_work(struct out *o)
{
    struct pki_slot slots[METRICS_PKI_SLOTS];
    size_t n_slots;
    char labels[256];

    head(o, "acmeproxy_orders_total", "counter",
         "Orders that entered a status.");
    for (size_t i = 0; i < COUNT(order_states); i++) {
        emit(o, "acmeproxy_orders_total{status=\"%s\"} %llu\n",
             order_states[i], get(&M.orders[i]));
    }
    head(o, "acmeproxy_validations_total", "counter",
         "Challenge validations, by challenge type and result.");
    for (size_t t = 0; t < COUNT(chall_types); t++) {
        emit(o, "acmeproxy_validations_total{type=\"%s\",result=\"valid\"} "
             "%llu\n", chall_types[t], get(&M.validations[t][1]));
        emit(o, "acmeproxy_validations_total{type=\"%s\",result=\"invalid\"} "
             "%llu\n", chall_types[t], get(&M.validations[t][0]));
    }
    head(o, "acmeproxy_validation_duration_seconds", "histogram",
         "Time one validation took, by challenge type.");
    for (size_t t = 0; t < COUNT(chall_types); t++) {
        snprintf(labels, sizeof(labels), "type=\"%s\"", chall_types[t]);
        histogram(o, "acmeproxy_validation_duration_seconds", labels,
                  &M.val_dur[t]);
    }
    head(o, "acmeproxy_validations_deferred_total", "counter",
         "Validations put back because max_concurrent or "
         "max_per_identifier was reached.");
    emit(o, "acmeproxy_validations_deferred_total %llu\n", get(&M.val_busy));
    pthread_mutex_lock(&pki_slots_lock);
    memcpy(slots, pki_slots, sizeof(slots));
    n_slots = n_pki_slots;
    pthread_mutex_unlock(&pki_slots_lock);
    (void)snprintf(slots[METRICS_PKI_SLOTS - 1].name,
                   sizeof(slots[0].name), "other");
    slots[METRICS_PKI_SLOTS - 1].type = COUNT(adapter_types) - 1;
    head(o, "acmeproxy_pki_calls_total", "counter",
         "Calls to the PKI adapters, by adapter (its configured name), "
         "type, call and outcome.");
    for (size_t a = 0; a < METRICS_PKI_SLOTS; a++) {
        if (a >= n_slots && a != METRICS_PKI_SLOTS - 1) {
            continue;
        }
        for (size_t c = 0; c < COUNT(pki_calls); c++) {
            for (size_t r = 0; r < COUNT(pki_outcomes); r++) {
                unsigned long long v = get(&M.pki[a][c][r]);

                if (v == 0) {
                    continue;
                }
                emit(o, "acmeproxy_pki_calls_total{adapter=\"%s\",type=\"%s\","
                     "call=\"%s\",outcome=\"%s\"} %llu\n", slots[a].name,
                     adapter_types[slots[a].type], pki_calls[c],
                     pki_outcomes[r], v);
            }
        }
    }
    head(o, "acmeproxy_pki_call_duration_seconds", "histogram",
         "Time one PKI adapter call took, by adapter, type and call.");
    for (size_t a = 0; a < METRICS_PKI_SLOTS; a++) {
        for (size_t c = 0; c < COUNT(pki_calls); c++) {
            if (get(&M.pki_dur[a][c].count) == 0) {
                continue;
            }
            snprintf(labels, sizeof(labels),
                     "adapter=\"%.64s\",type=\"%s\",call=\"%s\"",
                     slots[a].name, adapter_types[slots[a].type],
                     pki_calls[c]);
            histogram(o, "acmeproxy_pki_call_duration_seconds", labels,
                      &M.pki_dur[a][c]);
        }
    }
    head(o, "acmeproxy_certificates_issued_total", "counter",
         "Certificates issued (stored, order valid).");
    emit(o, "acmeproxy_certificates_issued_total %llu\n",
         get(&M.certs_issued));
    head(o, "acmeproxy_certificates_revoked_total", "counter",
         "Certificates revoked.");
    emit(o, "acmeproxy_certificates_revoked_total %llu\n",
         get(&M.certs_revoked));
}

static void
render_gauges(struct out *o, const struct metrics_gauges *g)
{
    static const char *const phases[4] = { "handshake", "head", "body",
                                           "idle" };
    static const char *const tables[6] = { "accounts", "orders", "authzs",
                                           "certs", "jobs", "audit_outbox" };

    head(o, "acmeproxy_jobs_queued", "gauge",
         "Jobs in the store (due or waiting), by kind.");
    for (int k = 0; k < METRICS_JOB_KINDS; k++) {
        emit(o, "acmeproxy_jobs_queued{kind=\"%s\"} %llu\n", job_kinds[k],
             (unsigned long long)g->jobs_queued[k]);
    }
    head(o, "acmeproxy_jobs_oldest_age_seconds", "gauge",
         "How long the oldest due job has waited for a worker, by kind.");
    for (int k = 0; k < METRICS_JOB_KINDS; k++) {
        emit(o, "acmeproxy_jobs_oldest_age_seconds{kind=\"%s\"} %.3f\n",
             job_kinds[k], g->jobs_oldest_age_sec[k]);
    }
    head(o, "acmeproxy_jobs_running", "gauge",
         "Workers running a job now, by kind.");
    for (int k = 0; k < METRICS_JOB_KINDS; k++) {
        emit(o, "acmeproxy_jobs_running{kind=\"%s\"} %u\n", job_kinds[k],
             metrics_jobs_running(k));
    }
    head(o, "acmeproxy_job_workers", "gauge", "Worker threads, by kind.");
    for (int k = 0; k < METRICS_JOB_KINDS; k++) {
        emit(o, "acmeproxy_job_workers{kind=\"%s\"} %u\n", job_kinds[k],
             g->job_workers[k]);
    }
    head(o, "acmeproxy_connections_open", "gauge",
         "Connections open on the ACME listener.");
    emit(o, "acmeproxy_connections_open %llu\n",
         (unsigned long long)g->conn_open);
    head(o, "acmeproxy_connections_accepted_total", "counter",
         "Connections accepted on the ACME listener.");
    emit(o, "acmeproxy_connections_accepted_total %llu\n",
         (unsigned long long)g->conn_accepted);
    head(o, "acmeproxy_connections_refused_total", "counter",
         "Connections closed at once: over max_conns (total) or "
         "max_conns_per_ip (address).");
    emit(o, "acmeproxy_connections_refused_total{limit=\"total\"} %llu\n",
         (unsigned long long)g->conn_refused_total);
    emit(o, "acmeproxy_connections_refused_total{limit=\"address\"} %llu\n",
         (unsigned long long)g->conn_refused_ip);
    head(o, "acmeproxy_connections_deadline_closed_total", "counter",
         "Connections closed because a phase missed its deadline.");
    for (int p = 0; p < 4; p++) {
        emit(o, "acmeproxy_connections_deadline_closed_total{phase=\"%s\"} "
             "%llu\n", phases[p], (unsigned long long)g->conn_timeout[p]);
    }
    head(o, "acmeproxy_connections_tls_failed_total", "counter",
         "TLS handshakes or records that failed.");
    emit(o, "acmeproxy_connections_tls_failed_total %llu\n",
         (unsigned long long)g->conn_tls_failed);
    head(o, "acmeproxy_connections_bad_request_total", "counter",
         "Requests the connection gate refused as badly framed "
         "(400, 413, 414, 431).");
    emit(o, "acmeproxy_connections_bad_request_total %llu\n",
         (unsigned long long)g->conn_bad_request);
    head(o, "acmeproxy_store_map_size_bytes", "gauge",
         "The store's map size (map_size_mb).");
    emit(o, "acmeproxy_store_map_size_bytes %llu\n",
         (unsigned long long)g->store_map_bytes);
    head(o, "acmeproxy_store_used_bytes", "gauge",
         "Bytes of the map in use (pages up to the last one written).");
    emit(o, "acmeproxy_store_used_bytes %llu\n",
         (unsigned long long)g->store_used_bytes);
    head(o, "acmeproxy_store_map_used_ratio", "gauge",
         "Share of the map in use; writes fail at 1.");
    emit(o, "acmeproxy_store_map_used_ratio %.6f\n",
         g->store_map_bytes > 0 ? (double)g->store_used_bytes /
                                      (double)g->store_map_bytes
                                : 0.0);
    head(o, "acmeproxy_store_records", "gauge", "Records, by table.");
    for (int t = 0; t < 6; t++) {
        emit(o, "acmeproxy_store_records{table=\"%s\"} %llu\n", tables[t],
             (unsigned long long)g->store_records[t]);
    }
    head(o, "acmeproxy_store_commits_total", "counter",
         "Write transactions committed durably (LMDB; 0 with PostgreSQL).");
    emit(o, "acmeproxy_store_commits_total %llu\n",
         (unsigned long long)g->store_commits);
    head(o, "acmeproxy_store_commit_batches_total", "counter",
         "LMDB commits, one fdatasync each, that carried them (group "
         "commit: commits / batches write transactions a sync).");
    emit(o, "acmeproxy_store_commit_batches_total %llu\n",
         (unsigned long long)g->store_batches);
    head(o, "acmeproxy_store_commit_batches_failed_total", "counter",
         "LMDB commits that failed; every write transaction in one failed.");
    emit(o, "acmeproxy_store_commit_batches_failed_total %llu\n",
         (unsigned long long)g->store_batches_failed);
}

ap_err
metrics_render(const struct metrics_gauges *g, struct buf *out)
{
    struct out o = { out, AP_OK };

    render_http(&o);
    render_work(&o);
    render_gauges(&o, g);
    head(&o, "acmeproxy_config_reloads_total", "counter",
         "Reloads of the configuration (SIGHUP), by result.");
    emit(&o, "acmeproxy_config_reloads_total{result=\"applied\"} %llu\n",
         get(&M.reloads[1]));
    emit(&o, "acmeproxy_config_reloads_total{result=\"refused\"} %llu\n",
         get(&M.reloads[0]));
    head(&o, "acmeproxy_config_generation", "gauge",
         "Configurations loaded since start (1: the one read at start).");
    emit(&o, "acmeproxy_config_generation %llu\n", g->config_generation);
    head(&o, "acmeproxy_config_loaded_timestamp_seconds", "gauge",
         "When the serving configuration was loaded.");
    emit(&o, "acmeproxy_config_loaded_timestamp_seconds %.3f\n",
         g->config_loaded_time);
    head(&o, "acmeproxy_process_start_time_seconds", "gauge",
         "When the process started.");
    emit(&o, "acmeproxy_process_start_time_seconds %.3f\n", g->start_time);
    head(&o, "acmeproxy_build_info", "gauge",
         "Always 1; the labels name the build.");
    emit(&o, "acmeproxy_build_info{version=\"%s\"} 1\n", ACMEPROXY_VERSION);
    return o.rc;
}
