/* proxy/issuer.c: the issuance job (runs on issuer threads).
 *
 * Hands a finalized order's CSR to the adapter with no transaction open,
 * checks what the PKI returned, then stores the certificate and moves the
 * order to valid (or invalid, or schedules the next try) in one write
 * transaction that also removes or reschedules the job. */
#include "proxy/resource.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pem.h"
#include "common/timeutil.h"
#include "proxy/jobs.h"
#include "proxy/problem.h"

#define ISSUER_MAX_ATTEMPTS 8
#define ISSUER_MAX_BACKOFF_SEC 300

/* Adapters without ADAPTER_CAP_CONCURRENT get one call at a time. */
static pthread_mutex_t serial_lock = PTHREAD_MUTEX_INITIALIZER;

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
    struct crypto_cert *cert = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    char errbuf[128];
    bool ok = false;

    if (crypto_pem_cert_to_der(cert_pem, &der, &der_len) != AP_OK ||
        crypto_cert_parse(der, der_len, &cert) != AP_OK) {
        snprintf(why, whylen, "the PKI returned no parseable certificate");
        goto out;
    }
    if (crypto_csr_parse(in->csr_der, in->csr_der_len, &csr, errbuf,
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
    crypto_cert_free(cert);
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
    cert = cJSON_CreateObject();
    cJSON_AddNumberToObject(cert, "v", 1);
    cJSON_AddStringToObject(cert, "id", cert_id);
    cJSON_AddStringToObject(cert, "account", json_str(order, "account", ""));
    cJSON_AddStringToObject(cert, "order", order_id);
    cJSON_AddStringToObject(cert, "serial", serial);
    cJSON_AddStringToObject(cert, "status", "valid");
    cJSON_AddNumberToObject(cert, "notAfter", (double)not_after);
    cJSON_AddNumberToObject(cert, "issued", (double)time_now());
    cJSON_AddStringToObject(cert, "adapter", app->adapter->name);
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
        cJSON_DeleteItemFromObjectCaseSensitive(order, "pkiRef");
        rc = commit_order_end_job(&txn, order_id, order, job_id);
    }
out:
    store_abort(txn);
    cJSON_Delete(order);
    cJSON_Delete(cert);
    free(chain);
    return rc;
}

/* Schedules another try (RETRY or PENDING). */
static ap_err
reschedule(struct app *app, const char *order_id, unsigned attempts,
           unsigned delay, const char *ref)
{
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    char job_id[JOB_MAX_ID];
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    if (ref != NULL) {
        rc = store_get_json(txn, STORE_ORDERS, order_id, &order);
        if (rc == AP_OK) {
            rc = json_set_str(order, "pkiRef", ref);
        }
        if (rc == AP_OK) {
            rc = store_put_json(txn, STORE_ORDERS, order_id, order, false);
        }
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

void
issuer_run(struct app *app, const char *job_id)
{
    enum job_kind kind;
    const char *order_id;
    struct issue_input in;
    struct adapter_request req;
    struct adapter_result res;
    enum adapter_outcome outcome;
    const char *ref;
    char *serial = NULL;
    long long not_after = 0;
    char why[200];
    bool serialize = !(app->adapter->caps & ADAPTER_CAP_CONCURRENT);
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
    req.not_before = json_num(in.order, "notBefore", 0);
    req.not_after = json_num(in.order, "notAfter", 0);
    if (req.not_after == 0) {
        req.not_after = time_now() + (long long)app->cfg->acme.cert_days *
                                         86400;
    }
    req.account_id = json_str(in.order, "account", "");
    req.order_id = order_id;
    ref = json_str(in.order, "pkiRef", NULL);

    if (serialize) {
        pthread_mutex_lock(&serial_lock);
    }
    if (ref != NULL && app->adapter->poll != NULL) {
        outcome = app->adapter->poll(app->adapter_state, ref, &res);
    } else {
        outcome = app->adapter->submit(app->adapter_state, &req, &res);
    }
    if (serialize) {
        pthread_mutex_unlock(&serial_lock);
    }

    switch (outcome) {
    case ADAPTER_ISSUED:
        if (res.cert_pem == NULL ||
            !leaf_matches(&in, res.cert_pem, &serial, &not_after, why,
                          sizeof(why))) {
            if (res.cert_pem == NULL) {
                snprintf(why, sizeof(why), "the PKI returned no certificate");
            }
            log_err("issuer", "order=%s adapter=%s refused: %s", order_id,
                    app->adapter->name, why);
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
        rc = reschedule(app, order_id, in.attempts,
                        res.retry_after ? res.retry_after : 5, res.ref);
        break;
    case ADAPTER_RETRY:
    default:
        if (in.attempts + 1 >= ISSUER_MAX_ATTEMPTS) {
            snprintf(why, sizeof(why), "the PKI failed %u times: %.150s",
                     in.attempts + 1, res.detail ? res.detail : "-");
            rc = fail_order(app, job_id, order_id, NULL, why);
        } else {
            unsigned delay = 1u << in.attempts;

            log_warn("issuer", "order=%s try %u failed: %s", order_id,
                     in.attempts + 1, res.detail ? res.detail : "-");
            rc = reschedule(app, order_id, in.attempts + 1,
                            delay > ISSUER_MAX_BACKOFF_SEC
                                ? ISSUER_MAX_BACKOFF_SEC
                                : delay,
                            NULL);
        }
        break;
    }
    if (rc != AP_OK) {
        log_err("issuer", "order=%s: recording the outcome failed: %s",
                order_id, ap_strerror(rc));
    }
    free(serial);
    adapter_result_clear(&res);
    input_fini(&in);
}
