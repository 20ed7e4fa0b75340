/* proxy/issuer.c: the issuance engine (issuer.h): its settings, the
 * circuit breaker and the job that runs on issuer threads.
 *
 * A run reads a finalized order (proxy/issue_record.h), hands its CSR and
 * the key finalize read from it to the adapter with no transaction open,
 * checks what the PKI returned (proxy/issue_check.h), then records the
 * outcome: the certificate and the order valid, or invalid, or the next
 * try, in one write transaction that also ends or reschedules the job and
 * holds the audit events of what happened (proxy/audit.h).
 *
 * Exactly once. Before a submission the order records "pkiInflight"
 * (durably, with "pkiStarted" the first time). The transaction that
 * records the answer clears it. So a job that finds "pkiInflight" knows a
 * submission's answer was lost (the proxy died, or the call ended in
 * doubt: adapter_result.in_doubt). It never simply submits again: where
 * the PKI can be asked (ADAPTER_CAP_LOOKUP: EJBCA by end entity, AD CS by
 * the request id noted during the submission, rest/exec when configured)
 * it looks the request up and adopts what it finds; a "not found" is only
 * believed lookup_grace seconds after the lost call started (the PKI may
 * still be working on it). Where it cannot ask (Vault, step-ca, or the
 * lookup cannot tell), it submits again and records the possible
 * duplicate (audit "pki.possible_duplicate", STORE_RECONCILE for
 * `acmeproxy reconcile`). The embedded CA (ADAPTER_CAP_IN_PROCESS) gets
 * no "pkiInflight" before its submission: nothing outside the process
 * changes, so one that a crash cuts short issued nothing and the next run
 * signs again (issuer_note_first). A PENDING answer stores "pkiRef" in the
 * transaction that schedules the poll, and polling is idempotent.
 *
 * A certificate that fails a check after issuance is revoked at the PKI
 * (when the adapter can), recorded with status "refused" and audited
 * ("cert.refused"); the order becomes invalid.
 *
 * The circuit breaker: a RETRY makes the prober ask the adapter's health
 * at once; if that fails too the PKI counts as down and is probed every
 * probe_interval; the first passing probe (or any real answer) brings every
 * order that waits for a retry forward to now. */
#include "proxy/issuer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ca.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/x509.h"
#include "proxy/issue_check.h"
#include "proxy/issue_record.h"
#include "proxy/jobs.h"
#include "proxy/metrics.h"

#define ISSUER_MAX_ATTEMPTS 64        /* hard stop besides retry_timeout */
#define ISSUER_MAX_BACKOFF_SEC 300
#define ISSUER_MAX_ANCHORS 262144
#define ISSUER_REFUSED_REASON 0       /* RFC 5280 unspecified */
#define ISSUER_MAX_SLOTS 32           /* adapter names counted apart */
#define ISSUER_BUSY_DEFER_MS 250      /* an adapter at its cap: wait */
#define ISSUER_BUSY_DEFER_MAX_MS 10000

enum breaker_state {
    BREAKER_CLOSED,   /* the PKI answers */
    BREAKER_SUSPECT,  /* a call failed: probe now */
    BREAKER_OPEN      /* the probe failed too: probe every probe_interval */
};

/* The calls each named adapter has running, by name, so that the cap
 * holds across reloads (a run that started on the previous snapshot still
 * counts). Process-wide, like the metrics: names are bounded by the
 * configuration (CONFIG_MAX_ADAPTERS per snapshot); past ISSUER_MAX_SLOTS
 * names seen in one process the rest share the last slot. */
struct busy_slot {
    char name[CONFIG_MAX_NAME + 1];
    atomic_uint busy;           /* runs holding a call slot */
    atomic_uint deferred;       /* runs turned away since a slot freed */
};
static struct busy_slot busy_slots[ISSUER_MAX_SLOTS];
static size_t n_busy_slots;
static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;

static struct busy_slot *
busy_slot_for(const char *name)
{
    struct busy_slot *b = NULL;

    pthread_mutex_lock(&busy_lock);
    for (size_t i = 0; i < n_busy_slots && b == NULL; i++) {
        if (strcmp(busy_slots[i].name, name) == 0) {
            b = &busy_slots[i];
        }
    }
    if (b == NULL && n_busy_slots < ISSUER_MAX_SLOTS) {
        b = &busy_slots[n_busy_slots++];
        (void)snprintf(b->name, sizeof(b->name), "%s", name);
    }
    if (b == NULL) {
        b = &busy_slots[ISSUER_MAX_SLOTS - 1];
    }
    pthread_mutex_unlock(&busy_lock);
    return b;
}

struct issuer {
    struct app *app;            /* the snapshot's view (jobs, cfg) */
    const char *name;           /* the adapter's configured name */
    const struct adapter_ops *ops;
    void *astate;               /* the adapter's state */
    struct busy_slot *slot;
    unsigned max_inflight;      /* calls to the PKI at once */
    unsigned workers;
    unsigned pending_timeout;   /* seconds */
    unsigned retry_timeout;     /* seconds */
    unsigned poll_interval;     /* seconds */
    unsigned probe_interval;    /* seconds */
    unsigned lookup_grace;      /* seconds */
    struct x509_anchors *anchors; /* what the chains must verify to */
    const struct ca *local_ca;  /* local adapter: anchors are its root */
    pthread_mutex_t anchors_lock; /* guards anchors while local_ca's load */
    pthread_mutex_t lock;       /* guards the breaker */
    pthread_cond_t cond;
    enum breaker_state state;
    long long down_since;       /* monotonic ms, while OPEN */
    bool stopping;
    bool prober;
    pthread_t probe_thread;
};

unsigned
issuer_threads(const struct issuer *is)
{
    return is->workers < is->max_inflight ? is->workers : is->max_inflight;
}

unsigned
issuer_poll_interval(const struct issuer *is)
{
    return is != NULL && is->poll_interval > 0 ? is->poll_interval : 1;
}

long long
issuer_retry_delay_ms(unsigned attempts, unsigned retry_after,
                      long long now_ms, long long deadline_ms,
                      unsigned jitter_permille)
{
    long long base = attempts < 16 ? 1LL << attempts : ISSUER_MAX_BACKOFF_SEC;
    long long room = deadline_ms - now_ms - ISSUER_DEADLINE_MARGIN_MS;
    long long d;

    if (base > ISSUER_MAX_BACKOFF_SEC) {
        base = ISSUER_MAX_BACKOFF_SEC;
    }
    if ((long long)retry_after > base) {
        base = retry_after;
    }
    if (room <= 0) {
        return -1;
    }
    d = base * (long long)jitter_permille;
    if (d < 1000) {
        d = 1000;
    }
    return d < room ? d : room;
}

/* A factor in [800, 1200] so that orders failing together do not come
 * back together. */
static unsigned
jitter_permille(void)
{
    unsigned char r = 128;

    if (crypto_random(&r, 1) != AP_OK) {
        r = 128;
    }
    return 800 + (unsigned)r * 400u / 255u;
}

static unsigned
jitter_sec(unsigned delay)
{
    unsigned d = (unsigned)((unsigned long long)delay * jitter_permille() /
                            1000);

    return d > 0 ? d : 1;
}

/* ---- the circuit breaker ------------------------------------------------ */

static void
breaker_note(struct issuer *is, bool failed)
{
    bool advance = false;

    if (is->ops->health == NULL) {
        return;
    }
    pthread_mutex_lock(&is->lock);
    if (failed && is->state == BREAKER_CLOSED) {
        is->state = BREAKER_SUSPECT;
        pthread_cond_signal(&is->cond);
    } else if (!failed && is->state != BREAKER_CLOSED) {
        advance = is->state == BREAKER_OPEN;
        is->state = BREAKER_CLOSED;
        pthread_cond_signal(&is->cond);
    }
    pthread_mutex_unlock(&is->lock);
    if (advance) {
        size_t n = 0;

        if (jobs_advance_retries(is->app->jobs, JOB_ISSUE, &n) == AP_OK) {
            log_info("issuer", "adapter %s answers again: %zu waiting orders "
                     "retried now", is->name, n);
        }
    }
}

static void *
probe_main(void *arg)
{
    struct issuer *is = arg;
    struct app *app = is->app;
    struct timespec ts;
    char errbuf[256];

    pthread_mutex_lock(&is->lock);
    while (!is->stopping) {
        enum breaker_state st = is->state;
        bool healthy;

        if (st == BREAKER_CLOSED) {
            pthread_cond_wait(&is->cond, &is->lock);
            continue;
        }
        if (st == BREAKER_OPEN) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += is->probe_interval;
            while (!is->stopping && is->state == BREAKER_OPEN &&
                   pthread_cond_timedwait(&is->cond, &is->lock, &ts) == 0) {
            }
            if (is->stopping || is->state != BREAKER_OPEN) {
                continue;
            }
        }
        pthread_mutex_unlock(&is->lock);
        errbuf[0] = '\0';
        healthy = is->ops->health(is->astate, errbuf, sizeof(errbuf)) ==
                  AP_OK;
        pthread_mutex_lock(&is->lock);
        if (healthy && is->state != BREAKER_CLOSED) {
            bool was_open = is->state == BREAKER_OPEN;
            long long down = time_mono_ms() - is->down_since;

            is->state = BREAKER_CLOSED;
            if (was_open) {
                size_t n = 0;

                pthread_mutex_unlock(&is->lock);
                if (jobs_advance_retries(app->jobs, JOB_ISSUE, &n) ==
                    AP_OK) {
                    log_info("issuer", "adapter %s is healthy again after "
                             "%lld s: %zu waiting orders retried now",
                             is->name, down / 1000, n);
                }
                pthread_mutex_lock(&is->lock);
            }
        } else if (!healthy && is->state == BREAKER_SUSPECT) {
            is->state = BREAKER_OPEN;
            is->down_since = time_mono_ms();
            log_warn("issuer", "adapter %s is failing (%s): probing its "
                     "health every %u s", is->name, errbuf,
                     is->probe_interval);
        }
    }
    pthread_mutex_unlock(&is->lock);
    return NULL;
}

void
issuer_stop_prober(struct issuer *is)
{
    if (is == NULL || !is->prober) {
        return;
    }
    pthread_mutex_lock(&is->lock);
    is->stopping = true;
    pthread_cond_broadcast(&is->cond);
    pthread_mutex_unlock(&is->lock);
    pthread_join(is->probe_thread, NULL);
    is->prober = false;
}

void
issuer_close(struct issuer *is)
{
    if (is == NULL) {
        return;
    }
    issuer_stop_prober(is);
    pthread_mutex_destroy(&is->lock);
    pthread_mutex_destroy(&is->anchors_lock);
    pthread_cond_destroy(&is->cond);
    x509_anchors_free(is->anchors);
    free(is);
}

ap_err
issuer_open(struct app *app, struct app_pki *pki,
            const struct config_section *cfg, char *errbuf, size_t errlen)
{
    const char *path = config_section_get(cfg, "trust_anchors");
    const char *tmo = config_section_get(cfg, "timeout_ms");
    struct issuer *is;
    pthread_condattr_t ca;
    unsigned cap_dflt;
    unsigned grace_dflt = 32;
    ap_err rc;

    is = calloc(1, sizeof(*is));
    if (is == NULL) {
        return AP_ENOMEM;
    }
    is->app = app;
    is->name = pki->name;
    is->ops = pki->ops;
    is->astate = pki->state;
    is->slot = busy_slot_for(pki->name);
    pthread_mutex_init(&is->lock, NULL);
    pthread_mutex_init(&is->anchors_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&is->cond, &ca);
    pthread_condattr_destroy(&ca);
    cap_dflt = (is->ops->caps & ADAPTER_CAP_CONCURRENT) ? 4 : 1;
    if (tmo != NULL) {
        /* The adapter's own deadline of one call, plus a margin. */
        unsigned long long ms = strtoull(tmo, NULL, 10);

        if (ms > 0 && ms <= 600000) {
            grace_dflt = (unsigned)((ms + 999) / 1000) + 2;
        }
    }
    rc = adapter_conf_uint(cfg, "workers", 1, 64, 4, &is->workers, errbuf,
                           errlen);
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "max_inflight", 1, 64, cap_dflt,
                               &is->max_inflight, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "pending_timeout", 1, 30 * 86400, 86400,
                               &is->pending_timeout, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "retry_timeout", 1, 7 * 86400, 3600,
                               &is->retry_timeout, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "poll_interval", 1, 86400, 60,
                               &is->poll_interval, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "probe_interval", 1, 3600, 2,
                               &is->probe_interval, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "lookup_grace", 0, 86400, grace_dflt,
                               &is->lookup_grace, errbuf, errlen);
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (!(is->ops->caps & ADAPTER_CAP_CONCURRENT) &&
        is->max_inflight > 1) {
        log_warn("issuer", "adapter %s (%s) does not allow parallel calls: "
                 "max_inflight 1", is->name, is->ops->name);
        is->max_inflight = 1;
    }
    if (path != NULL) {
        char why[300];
        char *text = NULL;
        char *pem = NULL;
        size_t len = 0;

        rc = fileio_read(path, ISSUER_MAX_ANCHORS, 0, &text, &len, why,
                         sizeof(why));
        if (rc == AP_OK) {
            rc = x509_pem_normalize(text, 0, &pem, NULL);
            if (rc == AP_OK) {
                rc = x509_anchors_load(pem, &is->anchors);
            }
            if (rc != AP_OK) {
                (void)snprintf(why, sizeof(why), "certificates: %s",
                               ap_strerror(rc));
            }
        }
        fileio_free(text, len, 0);
        free(pem);
        if (rc != AP_OK) {
            (void)snprintf(errbuf, errlen, "%s: trust_anchors %s is not a "
                           "readable PEM file of certificates: %s",
                           app->cfg->path, path, why);
            rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
            goto out;
        }
    } else if (strcmp(is->ops->name, "local") == 0) {
        /* Decoded at the first chain checked (issuer_anchors): the CA
         * itself loads at its first use (common/ca.h ca_open_deferred). */
        if (app->ca == NULL) {
            (void)snprintf(errbuf, errlen, "local adapter: no embedded CA");
            rc = AP_EINVAL;
            goto out;
        }
        is->local_ca = app->ca;
    } else {
        (void)snprintf(errbuf, errlen, "%s: [%s%s] trust_anchors (PEM "
                       "file of the root certificates the %s PKI's chains "
                       "lead to) is required", app->cfg->path,
                       cfg == &app->cfg->adapter.section ? "adapter"
                                                         : "adapter.",
                       cfg == &app->cfg->adapter.section ? "" : is->name,
                       is->ops->name);
        rc = AP_ECONFIG;
        goto out;
    }
    if (is->ops->health != NULL) {
        if (pthread_create(&is->probe_thread, NULL, probe_main, is) != 0) {
            (void)snprintf(errbuf, errlen, "cannot start the health prober");
            rc = AP_EINTERNAL;
            goto out;
        }
        is->prober = true;
    }
    log_info("issuer", "adapter=%s type=%s workers=%u max_inflight=%u "
             "retry_timeout=%us pending_timeout=%us lookup=%s "
             "lookup_grace=%us",
             is->name, is->ops->name, issuer_threads(is), is->max_inflight,
             is->retry_timeout, is->pending_timeout,
             is->ops->lookup != NULL ? "yes" : "no", is->lookup_grace);
    rc = AP_OK;
out:
    if (rc == AP_OK) {
        pki->issuer = is;
    } else {
        issuer_close(is);
    }
    return rc;
}

/* ---- the run -------------------------------------------------------------- */

/* Revokes a refused certificate where the adapter can. */
static void
revoke_refused(struct app *app, const char *order_id,
               const struct adapter_result *res, struct outcome *o,
               char *pki, size_t pkilen)
{
    ap_err rc;

    o->refused_revoked = false;
    o->refused_pki = NULL;
    if (!(app->adapter->caps & ADAPTER_CAP_REVOKE) ||
        app->adapter->revoke == NULL) {
        o->refused_pki = "the adapter cannot revoke";
        return;
    }
    pki[0] = '\0';
    rc = app->adapter->revoke(app->adapter_state, res->cert_pem,
                              ISSUER_REFUSED_REASON, pki, pkilen);
    o->refused_revoked = rc == AP_OK;
    o->refused_pki = rc == AP_OK ? "revoked" : pki;
    if (rc != AP_OK) {
        log_err("issuer", "order=%s: the refused certificate was NOT "
                "revoked at %s: %s", order_id, app->adapter->name, pki);
    }
}

/* Gives a job up that crashed the process or never reached an outcome. */
static long long
give_up(struct app *app, const struct job *job, const struct issue_input *in)
{
    struct rec_writer w = { AP_OK };
    struct outcome o;
    char detail[200];
    cJSON *f;
    bool lost = in->order.pki_inflight != 0 && in->order.pki_ref == NULL;

    (void)snprintf(detail, sizeof(detail),
                   "the issuance was given up: the proxy died %u times "
                   "while it ran (%u of them of a fault)",
                   job->starts - 1, job->faults);
    log_err("issuer", "order=%s: %s", job->target, detail);
    f = rec_write_object(&w);
    rec_put_str(&w, f, "job", job->id);
    rec_put_str(&w, f, "kind", "issue");
    rec_put_str(&w, f, "order", job->target);
    rec_put_int(&w, f, "starts", job->starts - 1);
    rec_put_int(&w, f, "faults", job->faults);
    rec_put_str(&w, f, "reason", detail);
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return jobs_backoff_ms(job);
    }
    memset(&o, 0, sizeof(o));
    o.kind = OUT_FAIL;
    o.detail = detail;
    o.given_up = f;
    o.dup_why = lost ? "the order was given up with a submission's answer "
                       "lost"
                     : NULL;
    if (issue_record(app, job, in, &o) != AP_OK) {
        return jobs_backoff_ms(job);
    }
    return JOB_DONE;
}

#ifdef AP_TEST_HOOKS
/* Test builds only (Makefile: build/.../acmeproxy-hooks): with
 * ACMEPROXY_TEST_CRASH=issue:LABEL an issuance whose first name starts
 * with LABEL. aborts the process, for the crash-loop test. */
static void
test_crash_hook(const struct issue_input *in)
{
    const char *spec = getenv("ACMEPROXY_TEST_CRASH");
    const char *name = in->n_dns > 0 ? in->dns[0] : "";

    if (spec != NULL && strncmp(spec, "issue:", 6) == 0 &&
        strncmp(name, spec + 6, strlen(spec + 6)) == 0 &&
        name[strlen(spec + 6)] == '.') {
        log_err("issuer", "test hook: crashing on %s", name);
        abort();
    }
}
#endif

/* Ends a job whose order is gone or cannot be issued from. */
static long long
drop_job(struct app *app, const struct job *job)
{
    struct store_txn *txn = NULL;
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = jobs_del(txn, job->id);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    return rc == AP_OK ? JOB_DONE : jobs_backoff_ms(job);
}

/* The request the adapter gets for the order: the CSR as the client sent
 * it and its key as finalize read it, the order's names, template and
 * validity. Borrows from in. */
static void
make_request(const struct app *app, const struct issue_input *in,
             const char *order_id, long long now,
             struct adapter_request *req)
{
    memset(req, 0, sizeof(*req));
    req->csr_der = in->csr_der;
    req->csr_der_len = in->csr_der_len;
    req->csr_pem = in->csr_pem;
    req->csr_spki_der = in->spki;
    req->csr_spki_der_len = in->spki_len;
    req->dns_names = in->dns;
    req->n_dns_names = in->n_dns;
    req->ip_addrs = in->ips;
    req->n_ip_addrs = in->n_ips;
    /* The PKI template of the order's ACME profile (order.c records it). */
    req->profile = in->order.template_name;
    if (req->profile != NULL && req->profile[0] == '\0') {
        req->profile = NULL;
    }
    req->not_before = in->order.not_before;
    req->not_after = in->order.not_after;
    if (req->not_after == 0) {
        req->not_after = now + (long long)app->cfg->acme.cert_days * 86400;
    }
    req->account_id = in->order.account;
    req->order_id = order_id;
}

/* What one run does, besides the call itself. */
struct run {
    struct app *app;              /* &view */
    struct app view;              /* the job's, with the order's adapter */
    const struct job *job;
    struct issue_input in;
    struct adapter_request req;
    struct adapter_result res;
    struct issue_leaf leaf;       /* an ISSUED answer's certificate */
    bool have_leaf;
    struct outcome o;
    const char *call;             /* "submit", "poll", "lookup" */
    enum adapter_outcome outcome;
    long long now;
    long long now_ms;
    long long started;            /* the first submission (seconds) */
    long long deadline_ms;        /* retry_timeout after it */
    char why[400];
    char pki[300];
};

/* "lookup" before anything else when a submission's answer was lost:
 * adopts what the PKI made for the CSR's key, waits for the grace while
 * the PKI says "not found", or falls through to a submission (noting why:
 * *dup_why, *lookup_answer). true when the run records now (r->o). */
static bool
lookup_first(struct run *r, long long lost_at, const char **dup_why,
             cJSON **lookup_answer)
{
    struct app *app = r->app;
    struct issuer *is = app->issuer;
    const char *order_id = r->job->target;

    r->req.ref = r->in.order.pki_noted;
    r->req.lost_at = lost_at;
    log_info("issuer", "order=%s: the answer of a submission to %s was "
             "lost: asking the PKI before anything else", order_id,
             app->adapter->name);
    r->outcome = app->adapter->lookup(app->adapter_state, &r->req, &r->res);
    if (r->outcome == ADAPTER_ISSUED) {
        r->have_leaf = issue_leaf_read(&r->in, r->res.cert_pem, &r->leaf,
                                       r->why, sizeof(r->why));
        if (!r->have_leaf || !r->leaf.key_ok) {
            /* Not a certificate for this CSR: not ours to adopt. */
            log_warn("issuer", "order=%s: the lookup found a certificate "
                     "that is not for the order's key: ignored", order_id);
            issue_leaf_fini(&r->leaf);
            r->have_leaf = false;
            adapter_result_clear(&r->res);
            r->outcome = ADAPTER_UNKNOWN;
        }
    }
    if (r->outcome == ADAPTER_NOT_FOUND &&
        r->now_ms < (lost_at + (long long)is->lookup_grace) * 1000) {
        /* The PKI may still be working on it: ask again then. */
        breaker_note(is, false);
        r->o.kind = OUT_AGAIN;
        r->o.delay_ms = (lost_at + (long long)is->lookup_grace) * 1000 -
                        r->now_ms;
        r->o.attempts = r->job->attempts;
        r->o.keep_inflight = true;
        r->o.answer = issue_answer_fields(app, order_id, r->req.profile,
                                          r->call, r->outcome, NULL, 0,
                                          &r->res);
        return true;
    }
    if (r->outcome == ADAPTER_NOT_FOUND || r->outcome == ADAPTER_UNKNOWN) {
        /* Nothing to adopt: submit, noting what the lookup said. */
        breaker_note(is, false);
        *lookup_answer = issue_answer_fields(app, order_id, r->req.profile,
                                             r->call, r->outcome, NULL, 0,
                                             &r->res);
        if (r->outcome == ADAPTER_UNKNOWN) {
            *dup_why = "the PKI could not be asked about it";
        }
        adapter_result_clear(&r->res);
        r->req.ref = NULL;
        r->call = "submit";
    }
    return false;
}

/* What the chains must verify to: the trust_anchors file's, or the
 * local CA's root, decoded at the first chain checked. NULL when the root
 * cannot be had (the CA's deferred load failed) or decoded. */
static const struct x509_anchors *
issuer_anchors(struct issuer *is)
{
    const struct x509_anchors *a;
    const char *root;

    pthread_mutex_lock(&is->anchors_lock);
    if (is->anchors == NULL && is->local_ca != NULL) {
        root = ca_root_pem(is->local_ca);
        if (root == NULL || x509_anchors_load(root, &is->anchors) != AP_OK) {
            is->anchors = NULL;
        }
    }
    a = is->anchors;
    pthread_mutex_unlock(&is->anchors_lock);
    return a;
}

/* The outcome of an ISSUED answer: the certificate passes every check,
 * or it is refused (and revoked where the adapter can). */
static void
judge_issued(struct run *r)
{
    struct app *app = r->app;
    const char *order_id = r->job->target;
    const struct x509_anchors *anchors;

    if (!r->have_leaf) {
        r->have_leaf = issue_leaf_read(&r->in, r->res.cert_pem, &r->leaf,
                                       r->why, sizeof(r->why));
        if (!r->have_leaf) {
            log_err("issuer", "order=%s adapter=%s: CERTIFICATE REFUSED: %s",
                    order_id, app->adapter->name, r->why);
            r->o.kind = OUT_FAIL;
            r->o.detail = r->why;
            r->o.refused = r->res.cert_pem != NULL;
            r->o.res = &r->res;
            r->o.refused_pki = "not revoked: the certificate does not parse";
            return;
        }
    }
    r->o.res = &r->res;
    r->o.serial = r->leaf.serial;
    r->o.not_after = r->leaf.not_after;
    if (!r->leaf.key_ok) {
        snprintf(r->why, sizeof(r->why),
                 "the PKI returned a certificate for another key");
    }
    anchors = issuer_anchors(app->issuer);
    if (anchors == NULL) {
        /* Ours, not the PKI's: the certificate is not judged, nor revoked. */
        snprintf(r->why, sizeof(r->why), "the trust anchors (the local "
                 "CA's root) cannot be loaded");
        log_err("issuer", "order=%s adapter=%s serial=%s: %s", order_id,
                app->adapter->name, r->leaf.serial, r->why);
        r->o.kind = OUT_FAIL;
        r->o.detail = r->why;
        return;
    }
    if (!r->leaf.key_ok ||
        !issue_cert_checks(app, &r->in, &r->leaf, &r->res, anchors, r->why,
                           sizeof(r->why))) {
        log_err("issuer", "order=%s adapter=%s serial=%s: CERTIFICATE "
                "REFUSED: %s", order_id, app->adapter->name, r->leaf.serial,
                r->why);
        r->o.kind = OUT_FAIL;
        r->o.detail = r->why;
        r->o.refused = true;
        revoke_refused(app, order_id, &r->res, &r->o, r->pki,
                       sizeof(r->pki));
        return;
    }
    r->o.kind = OUT_ISSUED;
}

/* The outcome of a PENDING answer: poll later, or give up past
 * pending_timeout. */
static void
judge_pending(struct run *r)
{
    struct issuer *is = r->app->issuer;
    const char *order_id = r->job->target;
    long long pending_since = r->in.order.pki_pending_since;

    if (r->res.ref == NULL) {
        r->o.kind = OUT_FAIL;
        r->o.detail = "the PKI answered pending without a reference";
        return;
    }
    if (pending_since != 0 &&
        r->now - pending_since >= (long long)is->pending_timeout) {
        snprintf(r->why, sizeof(r->why),
                 "the PKI did not decide within %u s (its request %.60s "
                 "is still pending)",
                 is->pending_timeout, r->res.ref);
        log_warn("issuer", "order=%s: %s", order_id, r->why);
        r->o.kind = OUT_FAIL;
        r->o.detail = r->why;
        return;
    }
    log_info("issuer", "order=%s pending at %s ref=%s", order_id,
             r->app->adapter->name, r->res.ref);
    r->o.kind = OUT_AGAIN;
    r->o.ref = r->res.ref;
    r->o.pending = true;
    r->o.delay_ms = (long long)jitter_sec(r->res.retry_after
                                              ? r->res.retry_after
                                              : is->poll_interval) *
                    1000;
}

/* The outcome of a transient failure (RETRY, or a lookup that could not
 * tell): try again with backoff, or give up past the deadlines. */
static void
judge_retry(struct run *r)
{
    const char *order_id = r->job->target;
    long long delay = r->job->attempts + 1 >= ISSUER_MAX_ATTEMPTS
                          ? -1
                          : issuer_retry_delay_ms(r->job->attempts,
                                                  r->res.retry_after,
                                                  r->now_ms, r->deadline_ms,
                                                  jitter_permille());
    /* The answer stays unknown after a lookup that could not tell or a
     * submission in doubt: ask (or count a duplicate) next time. */
    bool unknown = strcmp(r->call, "lookup") == 0 ||
                   (strcmp(r->call, "submit") == 0 && r->res.in_doubt);

    if (delay < 0) {
        snprintf(r->why, sizeof(r->why),
                 "the PKI could not be used for %lld s (%u tries): %.300s",
                 r->now - r->started, r->job->attempts + 1,
                 r->res.detail ? r->res.detail : "-");
        log_err("issuer", "order=%s: giving up: %s", order_id, r->why);
        r->o.kind = OUT_FAIL;
        r->o.detail = r->why;
        r->o.dup_why = unknown ? "the order was given up with a "
                                 "submission's answer unknown"
                               : NULL;
        return;
    }
    log_warn("issuer", "order=%s %s try %u failed: %s (next in %lld ms)",
             order_id, r->call, r->job->attempts + 1,
             r->res.detail ? r->res.detail : "-", delay);
    r->o.kind = OUT_AGAIN;
    r->o.delay_ms = delay;
    r->o.attempts = r->job->attempts + 1;
    r->o.retry = true;
    r->o.keep_inflight = unknown;
}

/* Calls the PKI (lookup, then submit or poll) and decides the outcome in
 * r->o. true: record it; false: nothing to record, *result says what the
 * job does (JOB_DONE when the order ended meanwhile, else a backoff). */
bool
issuer_note_first(unsigned caps, bool lost)
{
    return (caps & ADAPTER_CAP_IN_PROCESS) == 0 || lost;
}

/* issue_mark_inflight for r's job; false (with *result: the job's end
 * or its backoff) when the run stops here. */
static bool
mark_inflight(struct run *r, const char *dup_why, cJSON *lookup_answer,
              long long *result)
{
    ap_err rc = issue_mark_inflight(r->app, r->job, &r->in, dup_why,
                                    lookup_answer);

    if (rc == AP_ENOTFOUND) {
        *result = JOB_DONE;     /* the order ended meanwhile */
        return false;
    }
    if (rc != AP_OK) {
        log_err("issuer", "order=%s: cannot record the submission: %s",
                r->job->target, ap_strerror(rc));
        *result = jobs_backoff_ms(r->job);
        return false;
    }
    return true;
}

static bool
call_pki(struct run *r, long long *result)
{
    struct app *app = r->app;
    struct issuer *is = app->issuer;
    const struct job *job = r->job;
    const char *order_id = job->target;
    const char *ref = r->in.order.pki_ref;
    const char *dup_why = NULL;
    cJSON *lookup_answer = NULL;
    long long lost_at = r->in.order.pki_inflight;
    bool lost = lost_at != 0 && ref == NULL;
    struct issue_note_ctx nctx;

    r->call = ref != NULL && app->adapter->poll != NULL ? "poll"
              : lost && app->adapter->lookup != NULL    ? "lookup"
                                                        : "submit";
    if (strcmp(r->call, "submit") == 0 && lost) {
        dup_why = "the PKI cannot be asked about a request";
    }
    if (strcmp(r->call, "poll") == 0) {
        r->outcome = app->adapter->poll(app->adapter_state, ref, &r->res);
    } else if (strcmp(r->call, "lookup") == 0 &&
               lookup_first(r, lost_at, &dup_why, &lookup_answer)) {
        return true;
    }
    if (strcmp(r->call, "submit") == 0) {
        /* An in-process adapter's submission that the process's death cuts
         * short issued nothing: no note before it, unless it is to record
         * a possible duplicate or a lookup's answer. */
        bool note_first = issuer_note_first(app->adapter->caps,
                                            lost || dup_why != NULL ||
                                                lookup_answer != NULL);

        if (note_first &&
            !mark_inflight(r, dup_why, lookup_answer, result)) {
            return false;
        }
        nctx.app = app;
        nctx.order_id = order_id;
        r->req.note_ref = issue_note_ref;
        r->req.note_ctx = &nctx;
        r->outcome = app->adapter->submit(app->adapter_state, &r->req,
                                          &r->res);
        r->req.note_ref = NULL;
        r->req.note_ctx = NULL;
        /* Not issued nor refused (a retry): the note then, late, for
         * pkiStarted, which retry_timeout counts from. */
        if (!note_first && r->outcome != ADAPTER_ISSUED &&
            r->outcome != ADAPTER_REJECTED &&
            !mark_inflight(r, NULL, NULL, result)) {
            return false;
        }
    }
    r->now = time_now();
    r->now_ms = jobs_now_ms();
    breaker_note(is, r->outcome == ADAPTER_RETRY);

    switch (r->outcome) {
    case ADAPTER_ISSUED:
        judge_issued(r);
        break;
    case ADAPTER_REJECTED:
        log_info("issuer", "order=%s rejected by %s: %s", order_id,
                 app->adapter->name, r->res.detail ? r->res.detail : "-");
        r->o.kind = OUT_FAIL;
        r->o.urn = r->res.problem_type;
        r->o.detail = r->res.detail ? r->res.detail : "the PKI refused";
        break;
    case ADAPTER_PENDING:
        judge_pending(r);
        break;
    case ADAPTER_RETRY:
    case ADAPTER_NOT_FOUND:
    case ADAPTER_UNKNOWN:
    default:
        judge_retry(r);
        break;
    }
    r->o.answer = issue_answer_fields(app, order_id, r->req.profile, r->call,
                                      r->outcome,
                                      r->o.kind == OUT_ISSUED || r->o.refused
                                          ? r->o.serial
                                          : NULL,
                                      r->o.not_after, &r->res);
    if (r->o.answer != NULL && strcmp(r->call, "lookup") == 0 &&
        r->outcome == ADAPTER_ISSUED) {
        /* Out of memory: no pki.answer, as when the fields above fail. */
        if (cJSON_AddTrueToObject(r->o.answer, "adopted") == NULL) {
            cJSON_Delete(r->o.answer);
            r->o.answer = NULL;
        }
    }
    return true;
}

bool
issuer_slot_take(struct issuer *is, long long *defer_ms)
{
    unsigned cap = issuer_threads(is);
    unsigned cur = atomic_load(&is->slot->busy);
    unsigned d;

    while (cur < cap) {
        if (atomic_compare_exchange_weak(&is->slot->busy, &cur, cur + 1)) {
            return true;
        }
    }
    d = atomic_fetch_add(&is->slot->deferred, 1);
    *defer_ms = (long long)ISSUER_BUSY_DEFER_MS * (1 + (d < 64 ? d : 64));
    if (*defer_ms > ISSUER_BUSY_DEFER_MAX_MS) {
        *defer_ms = ISSUER_BUSY_DEFER_MAX_MS;
    }
    *defer_ms = *defer_ms * jitter_permille() / 1000;
    return false;
}

void
issuer_slot_give(struct issuer *is)
{
    atomic_fetch_sub(&is->slot->busy, 1);
    atomic_store(&is->slot->deferred, 0);
}

/* An order whose adapter is no longer configured (a reload removed it):
 * it fails now, serverInternal, with the order.invalid event saying why
 * (docs/adapters.md: waiting could last forever, and the PKI team decides
 * where the names go by configuring the profile again). A submission
 * whose answer was lost is recorded as a possible duplicate. */
static long long
adapter_gone(struct run *r)
{
    const char *name = r->in.order.adapter;
    bool lost = r->in.order.pki_inflight != 0 && r->in.order.pki_ref == NULL;

    (void)snprintf(r->why, sizeof(r->why), "the adapter %.64s this order was "
                   "created for is no longer configured", name);
    log_err("issuer", "order=%s: %s", r->job->target, r->why);
    r->view.adapter = NULL;
    r->view.adapter_state = NULL;
    r->view.issuer = NULL;
    r->view.adapter_name = name;
    r->o.kind = OUT_FAIL;
    r->o.detail = r->why;
    r->o.dup_why = lost ? "the order's adapter was removed with a "
                          "submission's answer unknown"
                        : NULL;
    {
        /* On record as job.abandoned, naming the adapter. */
        struct rec_writer w = { AP_OK };
        cJSON *f = rec_write_object(&w);

        rec_put_str(&w, f, "job", r->job->id);
        rec_put_str(&w, f, "kind", "issue");
        rec_put_str(&w, f, "order", r->job->target);
        rec_put_str(&w, f, "adapterName", name);
        rec_put_str(&w, f, "reason", r->why);
        if (w.rc != AP_OK) {
            cJSON_Delete(f);
            return jobs_backoff_ms(r->job);
        }
        r->o.given_up = f;
    }
    return issue_record(r->app, r->job, &r->in, &r->o) == AP_OK
               ? JOB_DONE
               : jobs_backoff_ms(r->job);
}

long long
issuer_run(struct app *app, const struct job *job)
{
    struct issuer *is;
    const char *order_id = job->target;
    struct run *r;
    long long result = JOB_DONE;
    long long defer_ms = 0;
    bool slot = false;
    ap_err rc;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return jobs_backoff_ms(job);
    }
    r->view = *app;
    r->app = &r->view;
    r->job = job;
    r->now = time_now();
    r->now_ms = jobs_now_ms();
    rc = issue_input_load(app, order_id, &r->in);
    if (rc == AP_OK && !app_pki_view(app, r->in.order.adapter, &r->view)) {
        result = adapter_gone(r);
        goto out;
    }
    app = r->app;
    is = app->issuer;
    if (rc != AP_OK) {
        log_warn("issuer", "order=%s: nothing to issue (%s)", order_id,
                 ap_strerror(rc));
        result = rc != AP_ENOTFOUND && rc != AP_EPARSE ? jobs_backoff_ms(job)
                                                       : drop_job(app, job);
        goto out;
    }
    if (jobs_given_up(job)) {
        result = give_up(app, job, &r->in);
        goto out;
    }
    make_request(app, &r->in, order_id, r->now, &r->req);
    r->started = r->in.order.pki_started != 0 ? r->in.order.pki_started
                                              : r->now;
    r->deadline_ms = (r->started + (long long)is->retry_timeout) * 1000;

    /* No try starts after retry_timeout (a job that waited for a worker
     * past it is given up without one). */
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(job->rec, "retry")) &&
        r->now_ms > r->deadline_ms) {
        bool lost = r->in.order.pki_inflight != 0 &&
                    r->in.order.pki_ref == NULL;

        snprintf(r->why, sizeof(r->why), "the PKI could not be used for "
                 "%lld s (retry_timeout %u s)", r->now - r->started,
                 is->retry_timeout);
        log_err("issuer", "order=%s: giving up: %s", order_id, r->why);
        r->o.kind = OUT_FAIL;
        r->o.detail = r->why;
        r->o.dup_why = lost ? "the order was given up with a submission's "
                              "answer unknown"
                            : NULL;
        rc = issue_record(app, job, &r->in, &r->o);
        result = rc == AP_OK ? JOB_DONE : jobs_backoff_ms(job);
        goto out;
    }
    if (!issuer_slot_take(is, &defer_ms)) {
        /* The adapter has max_inflight calls running: this order waits
         * (other adapters' orders go on). */
        jobs_defer(app->jobs, job, defer_ms);
        goto out;
    }
    slot = true;
#ifdef AP_TEST_HOOKS
    test_crash_hook(&r->in);
#endif
    if (!call_pki(r, &result)) {
        goto out;
    }
    rc = issue_record(app, job, &r->in, &r->o);
    metrics_issue_outcome(rc == AP_OK, r->o.kind == OUT_ISSUED,
                          r->o.kind == OUT_FAIL);
    if (rc == AP_OK && r->o.kind == OUT_ISSUED) {
        log_info("issuer", "%s order=%s serial=%s adapter=%s type=%s",
                 strcmp(r->call, "lookup") == 0 ? "adopted" : "issued",
                 order_id, r->o.serial, app_adapter_name(app),
                 app->adapter->name);
    }
    if (rc != AP_OK && rc != AP_ENOTFOUND) {
        /* The order keeps pkiInflight: the next run asks the PKI (or
         * counts a possible duplicate) instead of trusting memory. */
        log_err("issuer", "order=%s: recording the outcome failed: %s; "
                "trying again later", order_id, ap_strerror(rc));
        result = jobs_backoff_ms(job);
    }
out:
    if (slot) {
        issuer_slot_give(is);
    }
    issue_leaf_fini(&r->leaf);
    adapter_result_clear(&r->res);
    issue_input_fini(&r->in);
    cJSON_Delete(r->o.answer);
    cJSON_Delete(r->o.given_up);
    free(r);
    return result;
}
