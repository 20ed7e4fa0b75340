/* proxy/issuer.c: the issuance job (runs on issuer threads).
 *
 * Hands a finalized order's CSR to the adapter with no transaction open,
 * under the adapter's cap of calls in flight, checks what the PKI returned
 * (public key, SAN set, chain to the trust anchors), then stores the
 * certificate and moves the order to valid (or invalid, or schedules the
 * next try) in one write transaction that also removes or reschedules the
 * job.
 *
 * Crash safety. Before a submission the order records "pkiInflight"
 * (durably); a PENDING answer stores "pkiRef" in the same transaction that
 * reschedules the job, so after a restart the job polls that reference
 * and never submits again. A restart that finds pkiInflight without a
 * pkiRef knows a submission's outcome was lost: it logs that (the PKI may
 * have issued) and submits again, the documented window of
 * docs/adapters.md. */
#include "proxy/resource.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/ca.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pem.h"
#include "common/timeutil.h"
#include "common/x509.h"
#include "proxy/issuer.h"
#include "proxy/audit.h"
#include "proxy/jobs.h"
#include "proxy/problem.h"

#define ISSUER_MAX_ATTEMPTS 64        /* hard stop besides retry_timeout */
#define ISSUER_MAX_BACKOFF_SEC 300
#define ISSUER_SLOT_WAIT_MS 2000       /* then the job is queued again */
#define ISSUER_MAX_ANCHORS 262144

struct issuer {
    pthread_mutex_t lock;       /* guards inflight */
    pthread_cond_t freed;       /* a slot came free */
    unsigned inflight;          /* calls to the PKI now */
    unsigned max_inflight;      /* the cap (1 without CAP_CONCURRENT) */
    unsigned workers;
    unsigned pending_timeout;   /* seconds */
    unsigned retry_timeout;     /* seconds */
    unsigned poll_interval;     /* seconds */
    char *anchors;              /* PEM the chains must verify to */
};

unsigned
issuer_threads(const struct issuer *is)
{
    return is->workers;
}

void
issuer_close(struct issuer *is)
{
    if (is == NULL) {
        return;
    }
    pthread_mutex_destroy(&is->lock);
    pthread_cond_destroy(&is->freed);
    free(is->anchors);
    free(is);
}

ap_err
issuer_open(struct app *app, char *errbuf, size_t errlen)
{
    const struct config_section *cfg = &app->cfg->adapter.section;
    const char *path = config_section_get(cfg, "trust_anchors");
    struct issuer *is;
    pthread_condattr_t ca;
    unsigned cap_dflt;
    ap_err rc;

    is = calloc(1, sizeof(*is));
    if (is == NULL) {
        return AP_ENOMEM;
    }
    pthread_mutex_init(&is->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&is->freed, &ca);
    pthread_condattr_destroy(&ca);
    cap_dflt = (app->adapter->caps & ADAPTER_CAP_CONCURRENT) ? 4 : 1;
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
    if (rc != AP_OK) {
        goto out;
    }
    if (!(app->adapter->caps & ADAPTER_CAP_CONCURRENT) &&
        is->max_inflight > 1) {
        log_warn("issuer", "adapter %s does not allow parallel calls: "
                 "max_inflight 1", app->adapter->name);
        is->max_inflight = 1;
    }
    if (path != NULL) {
        FILE *f = fopen(path, "re");
        char *text = calloc(1, ISSUER_MAX_ANCHORS + 1);

        if (f == NULL || text == NULL ||
            fread(text, 1, ISSUER_MAX_ANCHORS, f) == 0 ||
            x509_pem_normalize(text, 0, &is->anchors, NULL) != AP_OK) {
            (void)snprintf(errbuf, errlen, "%s: trust_anchors %s is not a "
                           "readable PEM file of certificates",
                           app->cfg->path, path);
            rc = AP_ECONFIG;
        }
        if (f != NULL) {
            fclose(f);
        }
        free(text);
        if (rc != AP_OK) {
            goto out;
        }
    } else if (strcmp(app->adapter->name, "local") == 0) {
        is->anchors = strdup(ca_root_pem(app->ca));
        if (is->anchors == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
    } else {
        (void)snprintf(errbuf, errlen, "%s: [adapter] trust_anchors (PEM "
                       "file of the root certificates the %s PKI's chains "
                       "lead to) is required", app->cfg->path,
                       app->adapter->name);
        rc = AP_ECONFIG;
        goto out;
    }
    log_info("issuer", "adapter=%s workers=%u max_inflight=%u "
             "retry_timeout=%us pending_timeout=%us",
             app->adapter->name, is->workers, is->max_inflight,
             is->retry_timeout, is->pending_timeout);
    rc = AP_OK;
out:
    if (rc == AP_OK) {
        app->issuer = is;
    } else {
        issuer_close(is);
    }
    return rc;
}

/* Takes one of the adapter's slots, waiting at most ISSUER_SLOT_WAIT_MS. */
static bool
slot_take(struct issuer *is)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ISSUER_SLOT_WAIT_MS / 1000;
    pthread_mutex_lock(&is->lock);
    while (is->inflight >= is->max_inflight) {
        if (pthread_cond_timedwait(&is->freed, &is->lock, &ts) != 0) {
            break;
        }
    }
    ok = is->inflight < is->max_inflight;
    if (ok) {
        is->inflight++;
    }
    pthread_mutex_unlock(&is->lock);
    return ok;
}

static void
slot_give(struct issuer *is)
{
    pthread_mutex_lock(&is->lock);
    is->inflight--;
    pthread_cond_signal(&is->freed);
    pthread_mutex_unlock(&is->lock);
}

/* delay scaled by a random factor in [0.8, 1.2], at least 1 s, so that
 * orders failing together do not come back together. */
static unsigned
jitter(unsigned delay)
{
    unsigned char r = 128;
    unsigned d;

    if (crypto_random(&r, 1) != AP_OK) {
        r = 128;
    }
    d = (unsigned)((unsigned long long)delay * (819 + (r * 410u) / 255) /
                   1024);
    return d > 0 ? d : 1;
}

struct issue_input {
    cJSON *order;
    unsigned attempts;
    unsigned char *csr_der;
    size_t csr_der_len;
    char *csr_pem;
    const char **dns;
    size_t n_dns;
    const char **ips;
    size_t n_ips;
};

static void
input_fini(struct issue_input *in)
{
    cJSON_Delete(in->order);
    free(in->csr_der);
    free(in->csr_pem);
    free(in->dns);
    free(in->ips);
    memset(in, 0, sizeof(*in));
}

static ap_err
load_input(struct app *app, const char *job_id, const char *order_id,
           struct issue_input *in)
{
    struct store_txn *txn = NULL;
    cJSON *job = NULL;
    const cJSON *it;
    const char *csr;
    size_t n;
    ap_err rc;

    memset(in, 0, sizeof(*in));
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_JOBS, job_id, &job);
    }
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, order_id, &in->order);
    }
    store_abort(txn);
    if (rc != AP_OK) {
        goto out;
    }
    in->attempts = (unsigned)json_num(job, "attempts", 0);
    if (strcmp(json_str(in->order, "status", ""), "processing") != 0) {
        rc = AP_ENOTFOUND;
        goto out;
    }
    csr = json_str(in->order, "csr", "");
    rc = b64url_decode_alloc(csr, strlen(csr), &in->csr_der,
                             &in->csr_der_len);
    if (rc != AP_OK) {
        goto out;
    }
    in->csr_pem = pem_encode(in->csr_der, in->csr_der_len,
                             "CERTIFICATE REQUEST");
    n = (size_t)cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(in->order, "identifiers"));
    in->dns = calloc(n + 1, sizeof(*in->dns));
    in->ips = calloc(n + 1, sizeof(*in->ips));
    if (in->csr_pem == NULL || in->dns == NULL || in->ips == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(in->order,
                                                            "identifiers")) {
        if (strcmp(json_str(it, "type", ""), "ip") == 0) {
            in->ips[in->n_ips++] = json_str(it, "value", "");
        } else {
            in->dns[in->n_dns++] = json_str(it, "value", "");
        }
    }
out:
    cJSON_Delete(job);
    return rc;
}

/* The public key of the returned leaf must be the CSR's. */
static bool
leaf_matches(const struct issue_input *in, const char *cert_pem,
             char **serial, long long *not_after, char *why, size_t whylen)
{
    struct crypto_csr *csr = NULL;
    struct x509_cert *cert = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    char errbuf[128];
    bool ok = false;

    if (x509_pem_cert_to_der(cert_pem, &der, &der_len) != AP_OK ||
        x509_cert_parse(der, der_len, &cert) != AP_OK) {
        snprintf(why, whylen, "the PKI returned no parseable certificate");
        goto out;
    }
    if (crypto_csr_read(in->csr_der, in->csr_der_len, &csr, errbuf,
                         sizeof(errbuf)) != AP_OK) {
        snprintf(why, whylen, "stored CSR unreadable: %s", errbuf);
        goto out;
    }
    if (cert->pubkey_der_len != csr->pubkey_der_len ||
        memcmp(cert->pubkey_der, csr->pubkey_der, csr->pubkey_der_len) != 0) {
        snprintf(why, whylen,
                 "the PKI returned a certificate for another key");
        goto out;
    }
    *serial = strdup(cert->serial_hex);
    *not_after = cert->not_after;
    ok = *serial != NULL;
    if (!ok) {
        snprintf(why, whylen, "out of memory");
    }
out:
    crypto_csr_free(csr);
    x509_cert_free(cert);
    free(der);
    return ok;
}

/* Writes the order, removes the job and commits *txn (NULL after). */
static ap_err
commit_order_end_job(struct store_txn **txn, const char *order_id,
                     const cJSON *order, const char *job_id)
{
    ap_err rc;

    rc = store_put_json(*txn, STORE_ORDERS, order_id, order, false);
    if (rc == AP_OK) {
        rc = store_del(*txn, STORE_JOBS, job_id);
    }
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_commit(*txn);
    *txn = NULL;
    return rc;
}

/* Ends the order as invalid with a problem. */
static ap_err
fail_order(struct app *app, const char *job_id, const char *order_id,
           const char *urn, const char *detail)
{
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    cJSON *err;
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, order_id, &order);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = json_set_str(order, "status", "invalid");
    err = problem_object(PROB_SERVER_INTERNAL, detail);
    if (rc == AP_OK && err != NULL && urn != NULL) {
        rc = json_set_str(err, "type", urn);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(order, "error");
    cJSON_AddItemToObject(order, "error", err);
    if (rc == AP_OK) {
        rc = commit_order_end_job(&txn, order_id, order, job_id);
    }
out:
    store_abort(txn);
    cJSON_Delete(order);
    return rc;
}

/* Drops the bookkeeping of a finished issuance from the order. */
static void
clear_pki_marks(cJSON *order)
{
    cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiRef");
    cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiInflight");
    cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiPendingSince");
}

static ap_err
store_issued(struct app *app, const char *job_id, const char *order_id,
             const struct adapter_result *res, const char *serial,
             long long not_after)
{
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    cJSON *cert = NULL;
    char cert_id[ID_LEN + 1];
    size_t leaf_len = strlen(res->cert_pem);
    char *chain = NULL;
    ap_err rc;

    rc = id_new(cert_id, sizeof(cert_id));
    if (rc != AP_OK) {
        return rc;
    }
    chain = malloc(leaf_len + (res->chain_pem ? strlen(res->chain_pem) : 0) +
                   2);
    if (chain == NULL) {
        return AP_ENOMEM;
    }
    memcpy(chain, res->cert_pem, leaf_len + 1);
    if (leaf_len > 0 && chain[leaf_len - 1] != '\n') {
        chain[leaf_len++] = '\n';
        chain[leaf_len] = '\0';
    }
    if (res->chain_pem != NULL) {
        memcpy(chain + leaf_len, res->chain_pem, strlen(res->chain_pem) + 1);
    }
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, order_id, &order);
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (strcmp(json_str(order, "status", ""), "processing") != 0) {
        /* Finished by an earlier run of this job: never store twice. */
        rc = store_del(txn, STORE_JOBS, job_id);
        if (rc == AP_OK || rc == AP_ENOTFOUND) {
            rc = store_commit(txn);
            txn = NULL;
        }
        goto out;
    }
    cert = cJSON_CreateObject();
    if (cert == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    cJSON_AddNumberToObject(cert, "v", 1);
    cJSON_AddStringToObject(cert, "id", cert_id);
    cJSON_AddStringToObject(cert, "account", json_str(order, "account", ""));
    cJSON_AddStringToObject(cert, "order", order_id);
    cJSON_AddStringToObject(cert, "serial", serial);
    cJSON_AddStringToObject(cert, "status", "valid");
    cJSON_AddNumberToObject(cert, "notAfter", (double)not_after);
    cJSON_AddNumberToObject(cert, "issued", (double)time_now());
    cJSON_AddStringToObject(cert, "adapter", app->adapter->name);
    if (res->ref != NULL) {
        cJSON_AddStringToObject(cert, "pkiRef", res->ref);
    }
    cJSON_AddStringToObject(cert, "pem", chain);
    rc = store_put_json(txn, STORE_CERTS, cert_id, cert, true);
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_SERIALS, serial, cert_id, strlen(cert_id),
                       true);
    }
    if (rc == AP_OK) {
        rc = json_set_str(order, "status", "valid");
    }
    if (rc == AP_OK) {
        rc = json_set_str(order, "cert", cert_id);
    }
    if (rc == AP_OK) {
        clear_pki_marks(order);
        rc = commit_order_end_job(&txn, order_id, order, job_id);
    }
out:
    store_abort(txn);
    cJSON_Delete(order);
    cJSON_Delete(cert);
    free(chain);
    return rc;
}

/* Schedules another try (RETRY or PENDING). ref: the PKI's reference to
 * keep (NULL keeps what the order has); pending: set pkiPendingSince if
 * absent. The in-flight mark goes in the same transaction. */
static ap_err
reschedule(struct app *app, const char *order_id, unsigned attempts,
           unsigned delay, const char *ref, bool pending)
{
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    char job_id[JOB_MAX_ID];
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_get_json(txn, STORE_ORDERS, order_id, &order);
    if (rc == AP_OK && ref != NULL) {
        rc = json_set_str(order, "pkiRef", ref);
    }
    if (rc == AP_OK && pending &&
        cJSON_GetObjectItemCaseSensitive(order, "pkiPendingSince") == NULL) {
        rc = json_set_num(order, "pkiPendingSince", time_now());
    }
    if (rc == AP_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiInflight");
        rc = store_put_json(txn, STORE_ORDERS, order_id, order, false);
    }
    if (rc == AP_OK) {
        rc = jobs_put(txn, JOB_ISSUE, order_id, delay, attempts, job_id,
                      sizeof(job_id));
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    cJSON_Delete(order);
    if (rc == AP_OK) {
        jobs_kick(app->jobs, job_id, delay);
    }
    return rc;
}

/* Durably notes that a submission starts now (and when the first did). */
static ap_err
mark_inflight(struct app *app, const char *order_id)
{
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    long long now = time_now();
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, order_id, &order);
    }
    if (rc == AP_OK &&
        cJSON_GetObjectItemCaseSensitive(order, "pkiStarted") == NULL) {
        rc = json_set_num(order, "pkiStarted", now);
    }
    if (rc == AP_OK) {
        rc = json_set_num(order, "pkiInflight", now);
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_ORDERS, order_id, order, false);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    cJSON_Delete(order);
    return rc;
}

/* Whether the order's profile is a TLS server profile: yes for orders
 * without one, and for a profile no longer in the configuration. */
static bool
profile_tls_server(const struct app *app, const struct issue_input *in)
{
    const char *name = json_str(in->order, "profile", NULL);
    const struct config_profile *p;

    p = name != NULL ? config_profile_find(app->cfg, name) : NULL;
    return p == NULL || p->tls_server;
}

/* Every check a certificate passes before the order becomes valid.
 * false: why says what was wrong. */
static bool
cert_acceptable(struct app *app, const struct issue_input *in,
                const struct adapter_result *res, char **serial,
                long long *not_after, char *why, size_t whylen)
{
    if (res->cert_pem == NULL) {
        snprintf(why, whylen, "the PKI returned no certificate");
        return false;
    }
    if (!leaf_matches(in, res->cert_pem, serial, not_after, why, whylen)) {
        return false;
    }
    if (x509_check_names(res->cert_pem, in->dns, in->n_dns, in->ips,
                         in->n_ips, why, whylen) != AP_OK) {
        return false;
    }
    if (x509_check_leaf_use(res->cert_pem, profile_tls_server(app, in), why,
                            whylen) != AP_OK) {
        return false;
    }
    if (x509_verify_chain(res->cert_pem, res->chain_pem,
                          app->issuer->anchors, why, whylen) != AP_OK) {
        return false;
    }
    return true;
}

/* The audit line of one adapter call: which PKI, which template, what it
 * answered. */
static ap_err
audit_pki_answer(struct app *app, const char *job_id, const char *order_id,
                 const char *template, enum adapter_outcome outcome,
                 const char *serial, long long not_after,
                 const struct adapter_result *res)
{
    static const char *const names[] = { "?", "issued", "pending",
                                         "rejected", "retry" };
    cJSON *f = cJSON_CreateObject();
    char ts[TIME_RFC3339_LEN];

    if (f == NULL) {
        return AP_ENOMEM;
    }
    cJSON_AddStringToObject(f, "order", order_id);
    cJSON_AddStringToObject(f, "adapter", app->adapter->name);
    if (template != NULL) {
        cJSON_AddStringToObject(f, "template", template);
    }
    cJSON_AddStringToObject(f, "outcome",
                            (unsigned)outcome < 5 ? names[outcome] : "?");
    if (serial != NULL) {
        cJSON_AddStringToObject(f, "serial", serial);
        time_rfc3339(not_after, ts, sizeof(ts));
        cJSON_AddStringToObject(f, "notAfter", ts);
    }
    if (res->ref != NULL) {
        cJSON_AddStringToObject(f, "ref", res->ref);
    }
    if (res->detail != NULL) {
        cJSON_AddStringToObject(f, "detail", res->detail);
    }
    return audit_event(app->audit, "pki.answer", job_id, f);
}

void
issuer_run(struct app *app, const char *job_id)
{
    struct issuer *is = app->issuer;
    enum job_kind kind;
    const char *order_id;
    struct issue_input in;
    struct adapter_request req;
    struct adapter_result res;
    enum adapter_outcome outcome;
    const char *ref;
    char *serial = NULL;
    char *ref_copy = NULL;
    long long not_after = 0;
    long long now = time_now();
    long long started;
    long long pending_since;
    char why[400];
    ap_err rc;

    memset(&res, 0, sizeof(res));
    if (jobs_parse_id(job_id, &kind, &order_id) != AP_OK) {
        return;
    }
    rc = load_input(app, job_id, order_id, &in);
    if (rc != AP_OK) {
        log_warn("issuer", "order=%s: nothing to issue (%s)", order_id,
                 ap_strerror(rc));
        if (rc == AP_ENOTFOUND || rc == AP_EPARSE) {
            struct store_txn *txn = NULL;

            if (store_begin(app->st, true, &txn) == AP_OK &&
                store_del(txn, STORE_JOBS, job_id) == AP_OK &&
                store_commit(txn) == AP_OK) {
                txn = NULL;
            }
            store_abort(txn);
        }
        input_fini(&in);
        return;
    }
    memset(&req, 0, sizeof(req));
    req.csr_der = in.csr_der;
    req.csr_der_len = in.csr_der_len;
    req.csr_pem = in.csr_pem;
    req.dns_names = in.dns;
    req.n_dns_names = in.n_dns;
    req.ip_addrs = in.ips;
    req.n_ip_addrs = in.n_ips;
    /* The PKI template of the order's ACME profile (order.c records it). */
    req.profile = json_str(in.order, "template", NULL);
    if (req.profile != NULL && req.profile[0] == '\0') {
        req.profile = NULL;
    }
    req.not_before = json_num(in.order, "notBefore", 0);
    req.not_after = json_num(in.order, "notAfter", 0);
    if (req.not_after == 0) {
        req.not_after = now + (long long)app->cfg->acme.cert_days * 86400;
    }
    req.account_id = json_str(in.order, "account", "");
    req.order_id = order_id;
    ref = json_str(in.order, "pkiRef", NULL);
    started = json_num(in.order, "pkiStarted", now);
    pending_since = json_num(in.order, "pkiPendingSince", 0);

    if (!slot_take(is)) {
        /* The cap is reached: the record stays, the queue tries again. */
        jobs_kick(app->jobs, job_id, 1);
        input_fini(&in);
        return;
    }
    if (ref != NULL && app->adapter->poll != NULL) {
        outcome = app->adapter->poll(app->adapter_state, ref, &res);
    } else {
        if (cJSON_GetObjectItemCaseSensitive(in.order, "pkiInflight") !=
            NULL) {
            log_warn("issuer", "order=%s: a submission to %s was in flight "
                     "when the proxy stopped; its answer is lost and the "
                     "PKI may have issued a certificate nobody will "
                     "receive. Submitting again.",
                     order_id, app->adapter->name);
        }
        rc = mark_inflight(app, order_id);
        if (rc != AP_OK) {
            slot_give(is);
            log_err("issuer", "order=%s: cannot record the submission: %s",
                    order_id, ap_strerror(rc));
            (void)reschedule(app, order_id, in.attempts + 1, 5, NULL, false);
            input_fini(&in);
            return;
        }
        outcome = app->adapter->submit(app->adapter_state, &req, &res);
    }
    slot_give(is);
    now = time_now();

    switch (outcome) {
    case ADAPTER_ISSUED:
        if (!cert_acceptable(app, &in, &res, &serial, &not_after, why,
                             sizeof(why))) {
            log_err("issuer", "order=%s adapter=%s: CERTIFICATE REFUSED: %s",
                    order_id, app->adapter->name, why);
            rc = fail_order(app, job_id, order_id, NULL, why);
            break;
        }
        rc = store_issued(app, job_id, order_id, &res, serial, not_after);
        if (rc == AP_OK) {
            log_info("issuer", "issued order=%s serial=%s adapter=%s",
                     order_id, serial, app->adapter->name);
        }
        break;
    case ADAPTER_REJECTED:
        log_info("issuer", "order=%s rejected by %s: %s", order_id,
                 app->adapter->name, res.detail ? res.detail : "-");
        rc = fail_order(app, job_id, order_id, res.problem_type,
                        res.detail ? res.detail : "the PKI refused");
        break;
    case ADAPTER_PENDING:
        if (res.ref == NULL) {
            rc = fail_order(app, job_id, order_id, NULL,
                            "the PKI answered pending without a reference");
            break;
        }
        if (pending_since != 0 &&
            now - pending_since >= (long long)is->pending_timeout) {
            snprintf(why, sizeof(why),
                     "the PKI did not decide within %u s (its request %.60s "
                     "is still pending)",
                     is->pending_timeout, res.ref);
            log_warn("issuer", "order=%s: %s", order_id, why);
            rc = fail_order(app, job_id, order_id, NULL, why);
            break;
        }
        ref_copy = res.ref;
        log_info("issuer", "order=%s pending at %s ref=%s", order_id,
                 app->adapter->name, ref_copy);
        rc = reschedule(app, order_id, 0,
                        jitter(res.retry_after ? res.retry_after
                                               : is->poll_interval),
                        ref_copy, true);
        break;
    case ADAPTER_RETRY:
    default:
        if (now - started >= (long long)is->retry_timeout ||
            in.attempts + 1 >= ISSUER_MAX_ATTEMPTS) {
            snprintf(why, sizeof(why),
                     "the PKI could not be used for %lld s (%u tries): "
                     "%.300s",
                     now - started, in.attempts + 1,
                     res.detail ? res.detail : "-");
            log_err("issuer", "order=%s: giving up: %s", order_id, why);
            rc = fail_order(app, job_id, order_id, NULL, why);
        } else {
            unsigned delay = in.attempts < 16 ? 1u << in.attempts
                                              : ISSUER_MAX_BACKOFF_SEC;

            if (delay > ISSUER_MAX_BACKOFF_SEC) {
                delay = ISSUER_MAX_BACKOFF_SEC;
            }
            if (res.retry_after > delay) {
                delay = res.retry_after;
            }
            log_warn("issuer", "order=%s try %u failed: %s", order_id,
                     in.attempts + 1, res.detail ? res.detail : "-");
            rc = reschedule(app, order_id, in.attempts + 1, jitter(delay),
                            NULL, false);
        }
        break;
    }
    if (rc != AP_OK) {
        log_err("issuer", "order=%s: recording the outcome failed: %s",
                order_id, ap_strerror(rc));
    } else if (audit_pki_answer(app, job_id, order_id, req.profile, outcome,
                                serial, not_after, &res) != AP_OK) {
        /* The outcome is stored already; the missing line is an alarm. */
        log_err("issuer", "order=%s: the audit log did not take the PKI's "
                "answer", order_id);
    }
    free(serial);
    adapter_result_clear(&res);
    input_fini(&in);
}

unsigned
issuer_poll_interval(const struct issuer *is)
{
    return is != NULL && is->poll_interval > 0 ? is->poll_interval : 1;
}
