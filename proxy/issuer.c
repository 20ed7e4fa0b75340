/* proxy/issuer.c: the issuance job (runs on issuer threads).
 *
 * Hands a finalized order's CSR to the adapter with no transaction open,
 * checks what the PKI returned (cert_checks), then stores the certificate
 * and moves the order to valid (or invalid, or schedules the next try) in
 * one write transaction that also ends or reschedules the job and holds
 * the audit events of what happened (proxy/audit.h).
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
 * still be working on it). Where it cannot ask (Vault, step-ca, local, or
 * the lookup cannot tell), it submits again and records the possible
 * duplicate (audit "pki.possible_duplicate", STORE_RECONCILE for
 * `acmeproxy reconcile`). A PENDING answer stores "pkiRef" in the
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
#include "proxy/resource.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/b64url.h"
#include "common/ca.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/fileio.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pem.h"
#include "common/timeutil.h"
#include "common/x509.h"
#include "proxy/audit.h"
#include "proxy/issuer.h"
#include "proxy/jobs.h"
#include "proxy/problem.h"
#include "proxy/metrics.h"

#define ISSUER_MAX_ATTEMPTS 64        /* hard stop besides retry_timeout */
#define ISSUER_MAX_BACKOFF_SEC 300
#define ISSUER_MAX_ANCHORS 262144
#define ISSUER_WRITE_TRIES 3          /* an outcome write is tried again */
#define ISSUER_REFUSED_REASON 0       /* RFC 5280 unspecified */

enum breaker_state {
    BREAKER_CLOSED,   /* the PKI answers */
    BREAKER_SUSPECT,  /* a call failed: probe now */
    BREAKER_OPEN      /* the probe failed too: probe every probe_interval */
};

struct issuer {
    struct app *app;
    unsigned max_inflight;      /* calls to the PKI at once */
    unsigned workers;
    unsigned pending_timeout;   /* seconds */
    unsigned retry_timeout;     /* seconds */
    unsigned poll_interval;     /* seconds */
    unsigned probe_interval;    /* seconds */
    unsigned lookup_grace;      /* seconds */
    char *anchors;              /* PEM the chains must verify to */
    pthread_mutex_t lock;       /* guards the breaker */
    pthread_cond_t cond;
    enum breaker_state state;
    long long down_since;       /* monotonic ms, while OPEN */
    bool stopping;
    bool prober;
    pthread_t probe_thread;
};

static const char *const outcome_name[] = {
    "?", "issued", "pending", "rejected", "retry", "not_found", "unknown",
};

static const char *
outcome_str(enum adapter_outcome o)
{
    return (unsigned)o < sizeof(outcome_name) / sizeof(outcome_name[0])
               ? outcome_name[o]
               : "?";
}

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

    if (is->app->adapter->health == NULL) {
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
            log_info("issuer", "%s answers again: %zu waiting orders retried "
                     "now", is->app->adapter->name, n);
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
        healthy = app->adapter->health(app->adapter_state, errbuf,
                                       sizeof(errbuf)) == AP_OK;
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
                    log_info("issuer", "%s is healthy again after %lld s: "
                             "%zu waiting orders retried now",
                             app->adapter->name, down / 1000, n);
                }
                pthread_mutex_lock(&is->lock);
            }
        } else if (!healthy && is->state == BREAKER_SUSPECT) {
            is->state = BREAKER_OPEN;
            is->down_since = time_mono_ms();
            log_warn("issuer", "%s is failing (%s): probing its health every "
                     "%u s", app->adapter->name, errbuf, is->probe_interval);
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
    pthread_cond_destroy(&is->cond);
    free(is->anchors);
    free(is);
}

ap_err
issuer_open(struct app *app, char *errbuf, size_t errlen)
{
    const struct config_section *cfg = &app->cfg->adapter.section;
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
    pthread_mutex_init(&is->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&is->cond, &ca);
    pthread_condattr_destroy(&ca);
    cap_dflt = (app->adapter->caps & ADAPTER_CAP_CONCURRENT) ? 4 : 1;
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
    if (!(app->adapter->caps & ADAPTER_CAP_CONCURRENT) &&
        is->max_inflight > 1) {
        log_warn("issuer", "adapter %s does not allow parallel calls: "
                 "max_inflight 1", app->adapter->name);
        is->max_inflight = 1;
    }
    if (path != NULL) {
        char why[300];
        char *text = NULL;
        size_t len = 0;

        rc = fileio_read(path, ISSUER_MAX_ANCHORS, 0, &text, &len, why,
                         sizeof(why));
        if (rc == AP_OK) {
            rc = x509_pem_normalize(text, 0, &is->anchors, NULL);
            if (rc != AP_OK) {
                (void)snprintf(why, sizeof(why), "certificates: %s",
                               ap_strerror(rc));
            }
        }
        fileio_free(text, len, 0);
        if (rc != AP_OK) {
            (void)snprintf(errbuf, errlen, "%s: trust_anchors %s is not a "
                           "readable PEM file of certificates: %s",
                           app->cfg->path, path, why);
            rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
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
    if (app->adapter->health != NULL) {
        if (pthread_create(&is->probe_thread, NULL, probe_main, is) != 0) {
            (void)snprintf(errbuf, errlen, "cannot start the health prober");
            rc = AP_EINTERNAL;
            goto out;
        }
        is->prober = true;
    }
    log_info("issuer", "adapter=%s workers=%u max_inflight=%u "
             "retry_timeout=%us pending_timeout=%us lookup=%s "
             "lookup_grace=%us",
             app->adapter->name, issuer_threads(is), is->max_inflight,
             is->retry_timeout, is->pending_timeout,
             app->adapter->lookup != NULL ? "yes" : "no", is->lookup_grace);
    rc = AP_OK;
out:
    if (rc == AP_OK) {
        app->issuer = is;
    } else {
        issuer_close(is);
    }
    return rc;
}

/* ---- the order's input ----------------------------------------------------- */

struct issue_input {
    cJSON *order;
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

/* AP_ENOTFOUND when the order is gone or no longer processing. */
static ap_err
load_input(struct app *app, const char *order_id, struct issue_input *in)
{
    struct store_txn *txn = NULL;
    const cJSON *it;
    const cJSON *idents;
    const char *csr;
    size_t n;
    ap_err rc;

    memset(in, 0, sizeof(*in));
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, order_id, &in->order);
    }
    store_abort(txn);
    if (rc != AP_OK) {
        return rc;
    }
    if (strcmp(json_str(in->order, "status", ""), "processing") != 0) {
        return AP_ENOTFOUND;
    }
    csr = json_str(in->order, "csr", "");
    rc = b64url_decode_alloc(csr, strlen(csr), &in->csr_der,
                             &in->csr_der_len);
    if (rc != AP_OK) {
        return rc;
    }
    in->csr_pem = pem_encode(in->csr_der, in->csr_der_len,
                             "CERTIFICATE REQUEST");
    idents = cJSON_GetObjectItemCaseSensitive(in->order, "identifiers");
    n = (size_t)cJSON_GetArraySize(idents);
    in->dns = calloc(n + 1, sizeof(*in->dns));
    in->ips = calloc(n + 1, sizeof(*in->ips));
    if (in->csr_pem == NULL || in->dns == NULL || in->ips == NULL) {
        return AP_ENOMEM;
    }
    cJSON_ArrayForEach(it, idents) {
        if (strcmp(json_str(it, "type", ""), "ip") == 0) {
            in->ips[in->n_ips++] = json_str(it, "value", "");
        } else {
            in->dns[in->n_dns++] = json_str(it, "value", "");
        }
    }
    return AP_OK;
}

/* ---- checks after issuance -------------------------------------------------- */

/* What the leaf is: its serial and notAfter, and whether its key is the
 * CSR's. false when it does not parse (why says so). */
static bool
leaf_facts(const struct issue_input *in, const char *cert_pem, char **serial,
           long long *not_after, bool *key_ok, char *why, size_t whylen)
{
    struct crypto_csr *csr = NULL;
    struct x509_cert *cert = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    char errbuf[128];
    bool ok = false;

    *key_ok = false;
    if (cert_pem == NULL) {
        snprintf(why, whylen, "the PKI returned no certificate");
        return false;
    }
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
    *key_ok = cert->pubkey_der_len == csr->pubkey_der_len &&
              memcmp(cert->pubkey_der, csr->pubkey_der,
                     csr->pubkey_der_len) == 0;
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

/* Every check a certificate passes before the order becomes valid, in one
 * place: a further check is one more call here. The leaf parsed and its
 * key is the CSR's (leaf_facts) before this runs. false: why says what
 * was wrong. */
static bool
cert_checks(struct app *app, const struct issue_input *in,
            const struct adapter_result *res, char *why, size_t whylen)
{
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

/* ---- what one run records ---------------------------------------------- */

enum outcome_kind {
    OUT_ISSUED,   /* certificate stored, order valid, job ended */
    OUT_FAIL,     /* order invalid, job ended (maybe a refused certificate) */
    OUT_AGAIN     /* job put again */
};

struct outcome {
    enum outcome_kind kind;
    /* OUT_ISSUED, and a refused certificate of OUT_FAIL */
    const struct adapter_result *res;
    const char *serial;
    long long not_after;
    /* OUT_FAIL */
    const char *urn;               /* NULL: serverInternal */
    const char *detail;
    bool refused;                  /* res holds a refused certificate */
    bool refused_revoked;
    const char *refused_pki;       /* the PKI's answer to the revocation */
    /* OUT_AGAIN */
    long long delay_ms;
    unsigned attempts;
    bool retry;                    /* waits because the PKI failed */
    const char *ref;               /* PENDING: the PKI's request id */
    bool pending;
    bool keep_inflight;            /* the answer is still unknown */
    /* audit */
    cJSON *answer;                 /* pki.answer fields (taken), or NULL */
    cJSON *given_up;               /* job.abandoned fields (taken), or NULL */
    const char *dup_why;           /* possible duplicate to record, or NULL */
};

/* Drops the bookkeeping of a finished issuance from the order. */
static void
clear_pki_marks(cJSON *order)
{
    cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiRef");
    cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiInflight");
    cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiPendingSince");
    cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiNoted");
}

/* The PEM chain the client downloads: leaf, then the PKI's chain. */
static char *
full_chain(const struct adapter_result *res)
{
    size_t leaf_len = strlen(res->cert_pem);
    char *chain = malloc(leaf_len +
                         (res->chain_pem ? strlen(res->chain_pem) : 0) + 2);

    if (chain == NULL) {
        return NULL;
    }
    memcpy(chain, res->cert_pem, leaf_len + 1);
    if (leaf_len > 0 && chain[leaf_len - 1] != '\n') {
        chain[leaf_len++] = '\n';
        chain[leaf_len] = '\0';
    }
    if (res->chain_pem != NULL) {
        memcpy(chain + leaf_len, res->chain_pem, strlen(res->chain_pem) + 1);
    }
    return chain;
}

/* A certificate record (STORE_CERTS + STORE_SERIALS) in txn. */
static ap_err
put_cert(struct app *app, struct store_txn *txn, const cJSON *order,
         const char *order_id, const struct outcome *o, const char *status,
         char *cert_id, size_t idlen)
{
    cJSON *cert = NULL;
    char *chain = NULL;
    ap_err rc;

    rc = id_new(cert_id, idlen);
    if (rc != AP_OK) {
        return rc;
    }
    chain = full_chain(o->res);
    cert = cJSON_CreateObject();
    if (chain == NULL || cert == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    rc = AP_ENOMEM;
    if (cJSON_AddNumberToObject(cert, "v", 1) == NULL ||
        cJSON_AddStringToObject(cert, "id", cert_id) == NULL ||
        cJSON_AddStringToObject(cert, "account",
                                json_str(order, "account", "")) == NULL ||
        cJSON_AddStringToObject(cert, "order", order_id) == NULL ||
        cJSON_AddStringToObject(cert, "serial", o->serial) == NULL ||
        cJSON_AddStringToObject(cert, "status", status) == NULL ||
        cJSON_AddNumberToObject(cert, "notAfter", (double)o->not_after) ==
            NULL ||
        cJSON_AddNumberToObject(cert, "issued", (double)time_now()) == NULL ||
        cJSON_AddStringToObject(cert, "adapter", app->adapter->name) ==
            NULL ||
        (o->res->ref != NULL &&
         cJSON_AddStringToObject(cert, "pkiRef", o->res->ref) == NULL) ||
        (o->refused &&
         (cJSON_AddStringToObject(cert, "refused", o->detail) == NULL ||
          cJSON_AddBoolToObject(cert, "revokedAtPki", o->refused_revoked) ==
              NULL)) ||
        cJSON_AddStringToObject(cert, "pem", chain) == NULL) {
        goto out;
    }
    rc = store_put_json(txn, STORE_CERTS, cert_id, cert, true);
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_SERIALS, o->serial, cert_id,
                       strlen(cert_id), true);
    }
out:
    cJSON_Delete(cert);
    free(chain);
    return rc;
}

/* SHA-256 of the CSR's SubjectPublicKeyInfo in hex: the orphan at the PKI
 * carries the same key. */
static void
csr_key_sha256(const struct issue_input *in, char *out, size_t outlen)
{
    struct crypto_csr *csr = NULL;
    unsigned char h[32];
    char errbuf[128];

    out[0] = '\0';
    if (outlen < 65 || crypto_csr_read(in->csr_der, in->csr_der_len, &csr,
                                       errbuf, sizeof(errbuf)) != AP_OK) {
        return;
    }
    crypto_sha256(csr->pubkey_der, csr->pubkey_der_len, h);
    for (size_t i = 0; i < sizeof(h); i++) {
        (void)snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
    crypto_csr_free(csr);
}

/* pki.possible_duplicate and its STORE_RECONCILE record, in txn: the lost
 * submission (started at lost_at) may have made a certificate nobody
 * received. What the PKI team needs to find it: the names, the key, the
 * template, the time window. */
static ap_err
put_possible_duplicate(struct app *app, struct store_txn *txn,
                       const char *job_id, const char *order_id,
                       const struct issue_input *in, long long lost_at,
                       const char *why)
{
    char ts[TIME_RFC3339_LEN];
    char keyhash[65];
    cJSON *rec = cJSON_CreateObject();
    cJSON *names = NULL;
    const char *tmpl = json_str(in->order, "template", NULL);
    ap_err rc = AP_ENOMEM;

    if (rec == NULL) {
        return AP_ENOMEM;
    }
    csr_key_sha256(in, keyhash, sizeof(keyhash));
    time_rfc3339(lost_at, ts, sizeof(ts));
    names = cJSON_Duplicate(
        cJSON_GetObjectItemCaseSensitive(in->order, "identifiers"), 1);
    if (names == NULL ||
        cJSON_AddStringToObject(rec, "order", order_id) == NULL ||
        cJSON_AddStringToObject(rec, "account",
                                json_str(in->order, "account", "")) == NULL ||
        cJSON_AddStringToObject(rec, "adapter", app->adapter->name) == NULL ||
        cJSON_AddStringToObject(rec, "lostAt", ts) == NULL ||
        cJSON_AddStringToObject(rec, "keySha256", keyhash) == NULL ||
        (tmpl != NULL && tmpl[0] != '\0' &&
         cJSON_AddStringToObject(rec, "template", tmpl) == NULL) ||
        cJSON_AddStringToObject(rec, "why", why) == NULL) {
        cJSON_Delete(names);
        goto out;
    }
    cJSON_AddItemToObject(rec, "identifiers", names);
    rc = store_put_json(txn, STORE_RECONCILE, order_id, rec, false);
    if (rc == AP_OK) {
        rc = audit_event(app->audit, txn, "pki.possible_duplicate", job_id,
                         cJSON_Duplicate(rec, 1));
    }
    if (rc == AP_OK) {
        log_warn("issuer", "order=%s: the answer of a submission to %s "
                 "started at %s was lost (%s): the PKI may hold a "
                 "certificate nobody received; see `acmeproxy reconcile`",
                 order_id, app->adapter->name, ts, why);
    }
out:
    cJSON_Delete(rec);
    return rc;
}

/* Writes what a run found, in one write transaction: the order, the
 * certificate, the job's end or next run, the audit events. A job whose
 * order is no longer processing ends without a change. Takes o->answer
 * and o->given_up. */
static ap_err
record(struct app *app, const struct job *job, const struct issue_input *in,
       struct outcome *o)
{
    const char *order_id = job->target;
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    char cert_id[ID_LEN + 1];
    char job_id[JOB_MAX_ID];
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, order_id, &order);
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (strcmp(json_str(order, "status", ""), "processing") != 0) {
        /* Finished by an earlier run of this job: never store twice. */
        rc = jobs_del(txn, job->id);
        goto commit;
    }
    if (o->dup_why != NULL) {
        rc = put_possible_duplicate(app, txn, job->id, order_id, in,
                                    json_num(order, "pkiInflight", 0),
                                    o->dup_why);
        if (rc != AP_OK) {
            goto out;
        }
    }
    switch (o->kind) {
    case OUT_ISSUED:
        rc = put_cert(app, txn, order, order_id, o, "valid", cert_id,
                      sizeof(cert_id));
        if (rc == AP_OK) {
            rc = json_set_str(order, "status", "valid");
        }
        if (rc == AP_OK) {
            rc = json_set_str(order, "cert", cert_id);
        }
        clear_pki_marks(order);
        if (rc == AP_OK) {
            rc = jobs_del(txn, job->id);
        }
        break;
    case OUT_FAIL: {
        cJSON *err = problem_object(PROB_SERVER_INTERNAL, o->detail);

        rc = err != NULL ? AP_OK : AP_ENOMEM;
        if (rc == AP_OK && o->urn != NULL) {
            rc = json_set_str(err, "type", o->urn);
        }
        if (rc != AP_OK) {
            cJSON_Delete(err);
            break;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(order, "error");
        cJSON_AddItemToObject(order, "error", err);
        rc = json_set_str(order, "status", "invalid");
        clear_pki_marks(order);
        if (rc == AP_OK && o->refused) {
            cJSON *f = cJSON_CreateObject();

            /* An unparseable certificate has no serial to keep it by. */
            if (o->serial != NULL) {
                rc = put_cert(app, txn, order, order_id, o, "refused",
                              cert_id, sizeof(cert_id));
            }
            if (rc == AP_OK && f != NULL) {
                cJSON_AddStringToObject(f, "order", order_id);
                cJSON_AddStringToObject(f, "serial",
                                        o->serial ? o->serial : "-");
                cJSON_AddStringToObject(f, "reason", o->detail);
                cJSON_AddStringToObject(f, "adapter", app->adapter->name);
                cJSON_AddBoolToObject(f, "revoked", o->refused_revoked);
                if (o->refused_pki != NULL) {
                    cJSON_AddStringToObject(f, "pki", o->refused_pki);
                }
                rc = audit_event(app->audit, txn, "cert.refused", job->id,
                                 f);
                f = NULL;
            }
            cJSON_Delete(f);
        }
        if (rc == AP_OK) {
            rc = jobs_del(txn, job->id);
        }
        break;
    }
    case OUT_AGAIN:
        if (o->ref != NULL) {
            rc = json_set_str(order, "pkiRef", o->ref);
        }
        if (rc == AP_OK && o->pending &&
            cJSON_GetObjectItemCaseSensitive(order, "pkiPendingSince") ==
                NULL) {
            rc = json_set_num(order, "pkiPendingSince", time_now());
        }
        if (!o->keep_inflight) {
            cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiInflight");
            cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiNoted");
        }
        if (rc == AP_OK) {
            rc = jobs_put_ms(txn, JOB_ISSUE, order_id, o->delay_ms,
                             o->attempts, o->retry, job_id, sizeof(job_id));
        }
        break;
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_ORDERS, order_id, order, false);
    }
    if (rc == AP_OK && o->answer != NULL) {
        rc = audit_event(app->audit, txn, "pki.answer", job->id, o->answer);
        o->answer = NULL;
    }
    if (rc == AP_OK && o->given_up != NULL) {
        rc = audit_event(app->audit, txn, "job.abandoned", job->id,
                         o->given_up);
        o->given_up = NULL;
    }
commit:
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
out:
    store_abort(txn);
    cJSON_Delete(order);
    return rc;
}

/* record(), tried again a few times: a store that refused once (a full
 * map being grown by an operator, a transient error) may take it. */
static ap_err
record_tries(struct app *app, const struct job *job,
             const struct issue_input *in, struct outcome *o)
{
    ap_err rc = AP_EINTERNAL;

    for (int i = 0; i < ISSUER_WRITE_TRIES; i++) {
        cJSON *answer = o->answer != NULL ? cJSON_Duplicate(o->answer, 1)
                                          : NULL;
        cJSON *given = o->given_up != NULL ? cJSON_Duplicate(o->given_up, 1)
                                           : NULL;
        struct outcome copy = *o;

        copy.answer = answer;
        copy.given_up = given;
        rc = record(app, job, in, &copy);
        cJSON_Delete(copy.answer);
        cJSON_Delete(copy.given_up);
        if (rc == AP_OK || rc == AP_ENOTFOUND) {
            break;
        }
        struct timespec ts = { 0, 100 * 1000000L };

        nanosleep(&ts, NULL);
    }
    cJSON_Delete(o->answer);
    cJSON_Delete(o->given_up);
    o->answer = NULL;
    o->given_up = NULL;
    return rc;
}

/* The pki.answer fields of one adapter call. */
static cJSON *
answer_fields(struct app *app, const char *order_id, const char *tmpl,
              const char *call, enum adapter_outcome outcome,
              const char *serial, long long not_after,
              const struct adapter_result *res)
{
    cJSON *f = cJSON_CreateObject();
    char ts[TIME_RFC3339_LEN];

    if (f == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(f, "order", order_id);
    cJSON_AddStringToObject(f, "adapter", app->adapter->name);
    if (tmpl != NULL) {
        cJSON_AddStringToObject(f, "template", tmpl);
    }
    cJSON_AddStringToObject(f, "call", call);
    cJSON_AddStringToObject(f, "outcome", outcome_str(outcome));
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
    if (res->in_doubt) {
        cJSON_AddTrueToObject(f, "inDoubt");
    }
    return f;
}

/* ---- durable notes before and during a submission ---------------------- */

/* Notes durably that a submission starts now (and when the first did);
 * with dup_why, records the possible duplicate of the lost one before;
 * with answer (taken), the lookup's answer that led here. */
static ap_err
mark_inflight(struct app *app, const struct job *job,
              const struct issue_input *in, const char *dup_why,
              cJSON *answer)
{
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    long long now = time_now();
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, job->target, &order);
    }
    if (rc == AP_OK &&
        strcmp(json_str(order, "status", ""), "processing") != 0) {
        rc = AP_ENOTFOUND;
    }
    if (rc == AP_OK && dup_why != NULL) {
        rc = put_possible_duplicate(app, txn, job->id, job->target, in,
                                    json_num(order, "pkiInflight", now),
                                    dup_why);
    }
    if (rc == AP_OK && answer != NULL) {
        rc = audit_event(app->audit, txn, "pki.answer", job->id, answer);
        answer = NULL;
    }
    if (rc == AP_OK &&
        cJSON_GetObjectItemCaseSensitive(order, "pkiStarted") == NULL) {
        rc = json_set_num(order, "pkiStarted", now);
    }
    if (rc == AP_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiNoted");
        rc = json_set_num(order, "pkiInflight", now);
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_ORDERS, job->target, order, false);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    cJSON_Delete(order);
    cJSON_Delete(answer);
    return rc;
}

struct note_ctx {
    struct app *app;
    const char *order_id;
};

/* adapter_request.note_ref: the PKI named its id for the request being
 * submitted (AD CS); kept so a lost answer is looked up by it. */
static ap_err
note_ref(void *arg, const char *ref)
{
    struct note_ctx *nc = arg;
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    ap_err rc;

    rc = store_begin(nc->app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, nc->order_id, &order);
    }
    if (rc == AP_OK) {
        rc = json_set_str(order, "pkiNoted", ref);
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_ORDERS, nc->order_id, order, false);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    cJSON_Delete(order);
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
    struct outcome o;
    char detail[200];
    cJSON *f = cJSON_CreateObject();
    bool lost = cJSON_GetObjectItemCaseSensitive(in->order, "pkiInflight") !=
                    NULL &&
                cJSON_GetObjectItemCaseSensitive(in->order, "pkiRef") == NULL;

    (void)snprintf(detail, sizeof(detail),
                   "the issuance was given up: the proxy died %u times "
                   "while it ran (%u of them of a fault)",
                   job->starts - 1, job->faults);
    log_err("issuer", "order=%s: %s", job->target, detail);
    if (f != NULL) {
        cJSON_AddStringToObject(f, "job", job->id);
        cJSON_AddStringToObject(f, "kind", "issue");
        cJSON_AddStringToObject(f, "order", job->target);
        cJSON_AddNumberToObject(f, "starts", job->starts - 1);
        cJSON_AddNumberToObject(f, "faults", job->faults);
        cJSON_AddStringToObject(f, "reason", detail);
    }
    memset(&o, 0, sizeof(o));
    o.kind = OUT_FAIL;
    o.detail = detail;
    o.given_up = f;
    o.dup_why = lost ? "the order was given up with a submission's answer "
                       "lost"
                     : NULL;
    if (record_tries(app, job, in, &o) != AP_OK) {
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

long long
issuer_run(struct app *app, const struct job *job)
{
    struct issuer *is = app->issuer;
    const char *order_id = job->target;
    struct issue_input in;
    struct adapter_request req;
    struct adapter_result res;
    struct note_ctx nctx;
    struct outcome o;
    enum adapter_outcome outcome = ADAPTER_RETRY;
    const char *call;
    const char *ref;
    const char *dup_why = NULL;
    cJSON *lookup_answer = NULL;
    char *serial = NULL;
    long long not_after = 0;
    long long now = time_now();
    long long now_ms = jobs_now_ms();
    long long started;
    long long deadline_ms;
    long long pending_since;
    long long lost_at;
    bool lost;
    bool key_ok = false;
    char why[400];
    char pki[300];
    long long result = JOB_DONE;
    ap_err rc;

    memset(&res, 0, sizeof(res));
    memset(&o, 0, sizeof(o));
    rc = load_input(app, order_id, &in);
    if (rc != AP_OK) {
        struct store_txn *txn = NULL;

        log_warn("issuer", "order=%s: nothing to issue (%s)", order_id,
                 ap_strerror(rc));
        if (rc != AP_ENOTFOUND && rc != AP_EPARSE) {
            input_fini(&in);
            return jobs_backoff_ms(job);
        }
        rc = store_begin(app->st, true, &txn);
        if (rc == AP_OK) {
            rc = jobs_del(txn, job->id);
        }
        if (rc == AP_OK) {
            rc = store_commit(txn);
            txn = NULL;
        }
        store_abort(txn);
        input_fini(&in);
        return rc == AP_OK ? JOB_DONE : jobs_backoff_ms(job);
    }
    if (jobs_given_up(job)) {
        result = give_up(app, job, &in);
        input_fini(&in);
        return result;
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
    deadline_ms = (started + (long long)is->retry_timeout) * 1000;
    pending_since = json_num(in.order, "pkiPendingSince", 0);
    lost_at = json_num(in.order, "pkiInflight", 0);
    lost = lost_at != 0 && ref == NULL;

    /* No try starts after retry_timeout (a job that waited for a worker
     * past it is given up without one). */
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(job->rec, "retry")) &&
        now_ms > deadline_ms) {
        snprintf(why, sizeof(why), "the PKI could not be used for %lld s "
                 "(retry_timeout %u s)", now - started, is->retry_timeout);
        log_err("issuer", "order=%s: giving up: %s", order_id, why);
        o.kind = OUT_FAIL;
        o.detail = why;
        o.dup_why = lost ? "the order was given up with a submission's "
                           "answer unknown"
                         : NULL;
        rc = record_tries(app, job, &in, &o);
        input_fini(&in);
        return rc == AP_OK ? JOB_DONE : jobs_backoff_ms(job);
    }
#ifdef AP_TEST_HOOKS
    test_crash_hook(&in);
#endif
    call = ref != NULL && app->adapter->poll != NULL ? "poll"
           : lost && app->adapter->lookup != NULL    ? "lookup"
                                                     : "submit";
    if (strcmp(call, "submit") == 0 && lost) {
        dup_why = "the PKI cannot be asked about a request";
    }
    if (strcmp(call, "poll") == 0) {
        outcome = app->adapter->poll(app->adapter_state, ref, &res);
    } else if (strcmp(call, "lookup") == 0) {
        req.ref = json_str(in.order, "pkiNoted", NULL);
        req.lost_at = lost_at;
        log_info("issuer", "order=%s: the answer of a submission to %s was "
                 "lost: asking the PKI before anything else", order_id,
                 app->adapter->name);
        outcome = app->adapter->lookup(app->adapter_state, &req, &res);
        if (outcome == ADAPTER_ISSUED &&
            (!leaf_facts(&in, res.cert_pem, &serial, &not_after, &key_ok,
                         why, sizeof(why)) ||
             !key_ok)) {
            /* Not a certificate for this CSR: not ours to adopt. */
            log_warn("issuer", "order=%s: the lookup found a certificate "
                     "that is not for the order's key: ignored", order_id);
            free(serial);
            serial = NULL;
            adapter_result_clear(&res);
            outcome = ADAPTER_UNKNOWN;
        }
        if (outcome == ADAPTER_NOT_FOUND &&
            now_ms < (lost_at + (long long)is->lookup_grace) * 1000) {
            /* The PKI may still be working on it: ask again then. */
            breaker_note(is, false);
            o.kind = OUT_AGAIN;
            o.delay_ms = (lost_at + (long long)is->lookup_grace) * 1000 -
                         now_ms;
            o.attempts = job->attempts;
            o.keep_inflight = true;
            o.answer = answer_fields(app, order_id, req.profile, call,
                                     outcome, NULL, 0, &res);
            goto record;
        }
        if (outcome == ADAPTER_NOT_FOUND || outcome == ADAPTER_UNKNOWN) {
            /* Nothing to adopt: submit, noting what the lookup said. */
            breaker_note(is, false);
            lookup_answer = answer_fields(app, order_id, req.profile, call,
                                          outcome, NULL, 0, &res);
            if (outcome == ADAPTER_UNKNOWN) {
                dup_why = "the PKI could not be asked about it";
            }
            adapter_result_clear(&res);
            req.ref = NULL;
            call = "submit";
        }
    }
    if (strcmp(call, "submit") == 0) {
        rc = mark_inflight(app, job, &in, dup_why, lookup_answer);
        lookup_answer = NULL;
        if (rc == AP_ENOTFOUND) {
            input_fini(&in);
            return JOB_DONE;    /* the order ended meanwhile */
        }
        if (rc != AP_OK) {
            log_err("issuer", "order=%s: cannot record the submission: %s",
                    order_id, ap_strerror(rc));
            input_fini(&in);
            return jobs_backoff_ms(job);
        }
        nctx.app = app;
        nctx.order_id = order_id;
        req.note_ref = note_ref;
        req.note_ctx = &nctx;
        outcome = app->adapter->submit(app->adapter_state, &req, &res);
    }
    now = time_now();
    now_ms = jobs_now_ms();
    breaker_note(is, outcome == ADAPTER_RETRY);

    switch (outcome) {
    case ADAPTER_ISSUED:
        if (serial == NULL &&
            !leaf_facts(&in, res.cert_pem, &serial, &not_after, &key_ok, why,
                        sizeof(why))) {
            log_err("issuer", "order=%s adapter=%s: CERTIFICATE REFUSED: %s",
                    order_id, app->adapter->name, why);
            o.kind = OUT_FAIL;
            o.detail = why;
            o.refused = res.cert_pem != NULL;
            o.res = &res;
            o.refused_pki = "not revoked: the certificate does not parse";
            break;
        }
        if (!key_ok) {
            snprintf(why, sizeof(why),
                     "the PKI returned a certificate for another key");
        }
        if (!key_ok || !cert_checks(app, &in, &res, why, sizeof(why))) {
            log_err("issuer", "order=%s adapter=%s serial=%s: CERTIFICATE "
                    "REFUSED: %s", order_id, app->adapter->name, serial, why);
            o.kind = OUT_FAIL;
            o.detail = why;
            o.refused = true;
            o.res = &res;
            o.serial = serial;
            o.not_after = not_after;
            revoke_refused(app, order_id, &res, &o, pki, sizeof(pki));
            break;
        }
        o.kind = OUT_ISSUED;
        o.res = &res;
        o.serial = serial;
        o.not_after = not_after;
        break;
    case ADAPTER_REJECTED:
        log_info("issuer", "order=%s rejected by %s: %s", order_id,
                 app->adapter->name, res.detail ? res.detail : "-");
        o.kind = OUT_FAIL;
        o.urn = res.problem_type;
        o.detail = res.detail ? res.detail : "the PKI refused";
        break;
    case ADAPTER_PENDING:
        if (res.ref == NULL) {
            o.kind = OUT_FAIL;
            o.detail = "the PKI answered pending without a reference";
            break;
        }
        if (pending_since != 0 &&
            now - pending_since >= (long long)is->pending_timeout) {
            snprintf(why, sizeof(why),
                     "the PKI did not decide within %u s (its request %.60s "
                     "is still pending)",
                     is->pending_timeout, res.ref);
            log_warn("issuer", "order=%s: %s", order_id, why);
            o.kind = OUT_FAIL;
            o.detail = why;
            break;
        }
        log_info("issuer", "order=%s pending at %s ref=%s", order_id,
                 app->adapter->name, res.ref);
        o.kind = OUT_AGAIN;
        o.ref = res.ref;
        o.pending = true;
        o.delay_ms = (long long)jitter_sec(res.retry_after ? res.retry_after
                                                           : is->poll_interval) *
                     1000;
        break;
    case ADAPTER_RETRY:
    case ADAPTER_NOT_FOUND:
    case ADAPTER_UNKNOWN:
    default: {
        long long delay = job->attempts + 1 >= ISSUER_MAX_ATTEMPTS
                              ? -1
                              : issuer_retry_delay_ms(job->attempts,
                                                      res.retry_after, now_ms,
                                                      deadline_ms,
                                                      jitter_permille());
        /* The answer stays unknown after a lookup that could not tell or
         * a submission in doubt: ask (or count a duplicate) next time. */
        bool unknown = strcmp(call, "lookup") == 0 ||
                       (strcmp(call, "submit") == 0 && res.in_doubt);

        if (delay < 0) {
            snprintf(why, sizeof(why),
                     "the PKI could not be used for %lld s (%u tries): "
                     "%.300s",
                     now - started, job->attempts + 1,
                     res.detail ? res.detail : "-");
            log_err("issuer", "order=%s: giving up: %s", order_id, why);
            o.kind = OUT_FAIL;
            o.detail = why;
            o.dup_why = unknown ? "the order was given up with a "
                                  "submission's answer unknown"
                                : NULL;
            break;
        }
        log_warn("issuer", "order=%s %s try %u failed: %s (next in %lld "
                 "ms)", order_id, call, job->attempts + 1,
                 res.detail ? res.detail : "-", delay);
        o.kind = OUT_AGAIN;
        o.delay_ms = delay;
        o.attempts = job->attempts + 1;
        o.retry = true;
        o.keep_inflight = unknown;
        break;
    }
    }
    o.answer = answer_fields(app, order_id, req.profile, call, outcome,
                             o.kind == OUT_ISSUED || o.refused ? serial
                                                               : NULL,
                             not_after, &res);
    if (o.answer != NULL && strcmp(call, "lookup") == 0 &&
        outcome == ADAPTER_ISSUED) {
        cJSON_AddTrueToObject(o.answer, "adopted");
    }
record:
    rc = record_tries(app, job, &in, &o);
    metrics_issue_outcome(rc == AP_OK, o.kind == OUT_ISSUED,
                          o.kind == OUT_FAIL);
    if (rc == AP_OK && o.kind == OUT_ISSUED) {
        log_info("issuer", "%s order=%s serial=%s adapter=%s",
                 strcmp(call, "lookup") == 0 ? "adopted" : "issued",
                 order_id, serial, app->adapter->name);
    }
    if (rc != AP_OK && rc != AP_ENOTFOUND) {
        /* The order keeps pkiInflight: the next run asks the PKI (or
         * counts a possible duplicate) instead of trusting memory. */
        log_err("issuer", "order=%s: recording the outcome failed: %s; "
                "trying again later", order_id, ap_strerror(rc));
        result = jobs_backoff_ms(job);
    }
    free(serial);
    adapter_result_clear(&res);
    input_fini(&in);
    return result;
}
