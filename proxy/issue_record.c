/* proxy/issue_record.c: the issuance's bookkeeping in the store
 * (issue_record.h). */
#include "proxy/issue_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/id.h"
#include "common/log.h"
#include "common/pem.h"
#include "common/timeutil.h"
#include "proxy/audit.h"
#include "proxy/problem.h"
#include "proxy/rec_cert.h"
#include "proxy/webhook.h"

#define ISSUE_WRITE_TRIES 3           /* an outcome write is tried again */

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

/* ---- the order's input ---------------------------------------------- */

void
issue_input_fini(struct issue_input *in)
{
    rec_order_fini(&in->order);
    free(in->csr_der);
    free(in->csr_pem);
    free(in->spki);
    free(in->dns);
    free(in->ips);
    memset(in, 0, sizeof(*in));
}

/* The CSR's key: kept by finalize, or (an order finalized by an earlier
 * version) read from the CSR once. */
static ap_err
load_spki(struct issue_input *in)
{
    struct crypto_csr *csr = NULL;

    if (in->order.csr_spki != NULL) {
        return b64url_decode_alloc(in->order.csr_spki,
                                   strlen(in->order.csr_spki), &in->spki,
                                   &in->spki_len);
    }
    if (crypto_csr_read(in->csr_der, in->csr_der_len, &csr, in->spki_error,
                        sizeof(in->spki_error)) != AP_OK) {
        return AP_OK;   /* the checks after issuance say why */
    }
    in->spki = malloc(csr->pubkey_der_len);
    if (in->spki != NULL) {
        memcpy(in->spki, csr->pubkey_der, csr->pubkey_der_len);
        in->spki_len = csr->pubkey_der_len;
    }
    crypto_csr_free(csr);
    return in->spki != NULL ? AP_OK : AP_ENOMEM;
}

ap_err
issue_input_load(struct app *app, const char *order_id,
                 struct issue_input *in)
{
    struct store_txn *txn = NULL;
    const char *csr;
    ap_err rc;

    memset(in, 0, sizeof(*in));
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = rec_order_get(txn, order_id, &in->order);
    }
    store_abort(txn);
    if (rc != AP_OK) {
        return rc;
    }
    if (in->order.status != ORDER_PROCESSING) {
        return AP_ENOTFOUND;
    }
    csr = in->order.csr != NULL ? in->order.csr : "";
    rc = b64url_decode_alloc(csr, strlen(csr), &in->csr_der,
                             &in->csr_der_len);
    if (rc == AP_OK) {
        rc = load_spki(in);
    }
    if (rc != AP_OK) {
        return rc;
    }
    in->csr_pem = pem_encode(in->csr_der, in->csr_der_len,
                             "CERTIFICATE REQUEST");
    in->dns = calloc(in->order.n_idents + 1, sizeof(*in->dns));
    in->ips = calloc(in->order.n_idents + 1, sizeof(*in->ips));
    if (in->csr_pem == NULL || in->dns == NULL || in->ips == NULL) {
        return AP_ENOMEM;
    }
    for (size_t i = 0; i < in->order.n_idents; i++) {
        const struct rec_ident *id = &in->order.idents[i];
        const char *v = id->value != NULL ? id->value : "";

        if (strcmp(id->type, "ip") == 0) {
            in->ips[in->n_ips++] = v;
        } else {
            in->dns[in->n_dns++] = v;
        }
    }
    return AP_OK;
}

/* ---- what one run records ---------------------------------------------- */

/* Drops the bookkeeping of a finished issuance from the order. */
static void
clear_pki_marks(struct order *o)
{
    free(o->pki_ref);
    free(o->pki_noted);
    o->pki_ref = NULL;
    o->pki_noted = NULL;
    o->pki_inflight = 0;
    o->pki_pending_since = 0;
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

/* Ids made in the write transaction that stores them, in order: the
 * records are appended (common/id.h). */
static struct id_seq cert_ids = ID_SEQ_INIT;

/* A certificate record (STORE_CERTS + STORE_SERIALS) in txn. */
static ap_err
put_cert(const struct app *app, struct store_txn *txn,
         const struct order *order, const char *order_id,
         const struct outcome *o, enum cert_status status, char *cert_id,
         size_t idlen)
{
    struct cert c;
    ap_err rc;

    memset(&c, 0, sizeof(c));
    c.reason = -1;
    rc = id_new_seq(&cert_ids, cert_id, idlen);
    if (rc != AP_OK) {
        return rc;
    }
    snprintf(c.id, sizeof(c.id), "%s", cert_id);
    snprintf(c.account, sizeof(c.account), "%s", order->account);
    snprintf(c.order, sizeof(c.order), "%s", order_id);
    if (strlen(o->serial) >= sizeof(c.serial) ||
        strlen(app->adapter->name) >= sizeof(c.adapter) ||
        strlen(app_adapter_name(app)) >= sizeof(c.adapter_name)) {
        return AP_EINVAL;
    }
    snprintf(c.serial, sizeof(c.serial), "%s", o->serial);
    snprintf(c.adapter, sizeof(c.adapter), "%s", app->adapter->name);
    snprintf(c.adapter_name, sizeof(c.adapter_name), "%s",
             app_adapter_name(app));
    c.status = status;
    c.not_after = o->not_after;
    c.issued = time_now();
    c.revoked_at_pki = o->refused_revoked;
    c.pem = full_chain(o->res);
    rc = c.pem != NULL ? AP_OK : AP_ENOMEM;
    if (rc == AP_OK) {
        rc = rec_set_str(&c.pki_ref, o->res->ref);
    }
    if (rc == AP_OK && o->refused) {
        rc = rec_set_str(&c.refused, o->detail);
    }
    if (rc == AP_OK) {
        rc = rec_cert_put(txn, cert_id, &c, true);
    }
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_SERIALS, o->serial, cert_id,
                       strlen(cert_id), true);
    }
    /* The team's webhook hears of it later, from its own queue. */
    if (rc == AP_OK && status == CERT_VALID) {
        rc = webhook_queue(app, txn, WEBHOOK_ISSUED, cert_id, order->account,
                           NULL);
    }
    rec_cert_fini(&c);
    return rc;
}

/* The type of app's adapter; "-" when the order's adapter is no longer
 * configured (issuer.c records such an order as failed). */
static const char *
adapter_type(const struct app *app)
{
    return app->adapter != NULL ? app->adapter->name : "-";
}

/* pki.possible_duplicate and its STORE_RECONCILE record, in txn: the lost
 * submission (started at lost_at) may have made a certificate nobody
 * received. What the PKI team needs to find it: the names, the key
 * (SHA-256 of the CSR's SubjectPublicKeyInfo: the orphan carries the same
 * key), the template, the time window. */
static ap_err
put_possible_duplicate(const struct app *app, struct store_txn *txn,
                       const char *job_id, const char *order_id,
                       const struct issue_input *in, long long lost_at,
                       const char *why)
{
    struct rec_writer w = { AP_OK };
    char ts[TIME_RFC3339_LEN];
    char keyhash[65] = "";
    const char *tmpl = in->order.template_name;
    cJSON *rec;
    ap_err rc;

    if (in->spki != NULL) {
        unsigned char h[32];

        crypto_sha256(in->spki, in->spki_len, h);
        for (size_t i = 0; i < sizeof(h); i++) {
            (void)snprintf(keyhash + 2 * i, 3, "%02x", h[i]);
        }
    }
    time_rfc3339(lost_at, ts, sizeof(ts));
    rec = rec_write_object(&w);
    rec_put_str(&w, rec, "order", order_id);
    rec_put_str(&w, rec, "account", in->order.account);
    rec_put_str(&w, rec, "adapter", adapter_type(app));
    rec_put_str(&w, rec, "adapterName", app_adapter_name(app));
    rec_put_str(&w, rec, "lostAt", ts);
    rec_put_str(&w, rec, "keySha256", keyhash);
    if (tmpl != NULL && tmpl[0] != '\0') {
        rec_put_str(&w, rec, "template", tmpl);
    }
    rec_put_str(&w, rec, "why", why);
    rec_put_item(&w, rec, "identifiers",
                 rec_idents_json(in->order.idents, in->order.n_idents));
    rc = w.rc;
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_RECONCILE, order_id, rec, false);
    }
    if (rc == AP_OK) {
        cJSON *copy = cJSON_Duplicate(rec, 1);

        rc = copy != NULL ? audit_event(app->audit, txn,
                                        "pki.possible_duplicate", job_id,
                                        copy)
                          : AP_ENOMEM;
    }
    if (rc == AP_OK) {
        log_warn("issuer", "order=%s: the answer of a submission to %s "
                 "started at %s was lost (%s): the PKI may hold a "
                 "certificate nobody received; see `acmeproxy reconcile`",
                 order_id, app_adapter_name(app), ts, why);
    }
    cJSON_Delete(rec);
    return rc;
}

/* The cert.refused event of a refused certificate. */
static cJSON *
refused_fields(const struct app *app, const char *order_id,
               const struct outcome *o)
{
    struct rec_writer w = { AP_OK };
    cJSON *f = rec_write_object(&w);

    rec_put_str(&w, f, "order", order_id);
    rec_put_str(&w, f, "serial", o->serial ? o->serial : "-");
    rec_put_str(&w, f, "reason", o->detail);
    rec_put_str(&w, f, "adapter", app->adapter->name);
    rec_put_str(&w, f, "adapterName", app_adapter_name(app));
    rec_put_bool(&w, f, "revoked", o->refused_revoked);
    rec_put_str(&w, f, "pki", o->refused_pki);
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return NULL;
    }
    return f;
}

/* The order after a final failure, with a refused certificate's record
 * and event. */
static ap_err
record_fail(const struct app *app, struct store_txn *txn,
            const struct job *job, struct order *order,
            const struct outcome *o)
{
    const char *order_id = job->target;
    char cert_id[ID_LEN + 1];
    ap_err rc;

    rc = rec_order_set_error(order,
                             o->urn != NULL
                                 ? o->urn
                                 : problem_urn(PROB_SERVER_INTERNAL),
                             o->detail,
                             problem_status(PROB_SERVER_INTERNAL));
    order->status = ORDER_INVALID;
    clear_pki_marks(order);
    if (rc == AP_OK && o->refused) {
        cJSON *f;

        /* An unparseable certificate has no serial to keep it by. */
        if (o->serial != NULL) {
            rc = put_cert(app, txn, order, order_id, o, CERT_REFUSED,
                          cert_id, sizeof(cert_id));
        }
        f = rc == AP_OK ? refused_fields(app, order_id, o) : NULL;
        if (rc == AP_OK) {
            rc = f != NULL ? audit_event(app->audit, txn, "cert.refused",
                                         job->id, f)
                           : AP_ENOMEM;
        }
    }
    if (rc == AP_OK) {
        rc = jobs_del(txn, job->id);
    }
    return rc;
}

/* Writes what a run found, in one write transaction: the order, the
 * certificate, the job's end or next run, the audit events. A job whose
 * order is no longer processing ends without a change. Takes o->answer
 * and o->given_up. */
static ap_err
record_once(struct app *app, const struct job *job,
            const struct issue_input *in, struct outcome *o)
{
    const char *order_id = job->target;
    struct store_txn *txn = NULL;
    struct order order;
    char cert_id[ID_LEN + 1];
    char job_id[JOB_MAX_ID];
    ap_err rc;

    memset(&order, 0, sizeof(order));
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = rec_order_get(txn, order_id, &order);
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (order.status != ORDER_PROCESSING) {
        /* Finished by an earlier run of this job: never store twice. */
        rc = jobs_del(txn, job->id);
        goto commit;
    }
    if (o->dup_why != NULL) {
        rc = put_possible_duplicate(app, txn, job->id, order_id, in,
                                    order.pki_inflight, o->dup_why);
        if (rc != AP_OK) {
            goto out;
        }
    }
    switch (o->kind) {
    case OUT_ISSUED:
        rc = put_cert(app, txn, &order, order_id, o, CERT_VALID, cert_id,
                      sizeof(cert_id));
        order.status = ORDER_VALID;
        snprintf(order.cert, sizeof(order.cert), "%s", cert_id);
        clear_pki_marks(&order);
        /* Issuance is recorded in this transaction: nothing reads the CSR
         * or its key from a valid order (a run of this job again finds it
         * valid above), so the order need not keep them. */
        free(order.csr);
        free(order.csr_spki);
        order.csr = NULL;
        order.csr_spki = NULL;
        if (rc == AP_OK) {
            rc = jobs_del(txn, job->id);
        }
        break;
    case OUT_FAIL:
        rc = record_fail(app, txn, job, &order, o);
        break;
    case OUT_AGAIN:
        if (o->ref != NULL) {
            rc = rec_set_str(&order.pki_ref, o->ref);
        }
        if (o->pending && order.pki_pending_since == 0) {
            order.pki_pending_since = time_now();
        }
        if (!o->keep_inflight) {
            order.pki_inflight = 0;
            free(order.pki_noted);
            order.pki_noted = NULL;
        }
        if (rc == AP_OK) {
            rc = jobs_put_ms(txn, JOB_ISSUE, order_id, o->delay_ms,
                             o->attempts, o->retry, job_id, sizeof(job_id));
        }
        break;
    }
    if (rc == AP_OK) {
        rc = rec_order_put(txn, order_id, &order, false);
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
    rec_order_fini(&order);
    return rc;
}

ap_err
issue_record(struct app *app, const struct job *job,
             const struct issue_input *in, struct outcome *o)
{
    ap_err rc = AP_EINTERNAL;

    for (int i = 0; i < ISSUE_WRITE_TRIES; i++) {
        cJSON *answer = o->answer != NULL ? cJSON_Duplicate(o->answer, 1)
                                          : NULL;
        cJSON *given = o->given_up != NULL ? cJSON_Duplicate(o->given_up, 1)
                                           : NULL;
        struct outcome copy = *o;
        struct timespec ts = { 0, 100 * 1000000L };

        copy.answer = answer;
        copy.given_up = given;
        rc = record_once(app, job, in, &copy);
        cJSON_Delete(copy.answer);
        cJSON_Delete(copy.given_up);
        if (rc == AP_OK || rc == AP_ENOTFOUND) {
            break;
        }
        nanosleep(&ts, NULL);
    }
    cJSON_Delete(o->answer);
    cJSON_Delete(o->given_up);
    o->answer = NULL;
    o->given_up = NULL;
    return rc;
}

cJSON *
issue_answer_fields(const struct app *app, const char *order_id,
                    const char *tmpl, const char *call,
                    enum adapter_outcome outcome, const char *serial,
                    long long not_after, const struct adapter_result *res)
{
    struct rec_writer w = { AP_OK };
    cJSON *f = rec_write_object(&w);
    char ts[TIME_RFC3339_LEN];

    rec_put_str(&w, f, "order", order_id);
    rec_put_str(&w, f, "adapter", app->adapter->name);
    rec_put_str(&w, f, "adapterName", app_adapter_name(app));
    rec_put_str(&w, f, "template", tmpl);
    rec_put_str(&w, f, "call", call);
    rec_put_str(&w, f, "outcome", outcome_str(outcome));
    if (serial != NULL) {
        rec_put_str(&w, f, "serial", serial);
        time_rfc3339(not_after, ts, sizeof(ts));
        rec_put_str(&w, f, "notAfter", ts);
    }
    rec_put_str(&w, f, "ref", res->ref);
    rec_put_str(&w, f, "detail", res->detail);
    if (res->in_doubt) {
        rec_put_bool(&w, f, "inDoubt", true);
    }
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return NULL;
    }
    return f;
}

/* ---- durable notes before and during a submission ---------------------- */

ap_err
issue_mark_inflight(struct app *app, const struct job *job,
                    const struct issue_input *in, const char *dup_why,
                    cJSON *answer)
{
    struct store_txn *txn = NULL;
    struct order order;
    long long now = time_now();
    ap_err rc;

    memset(&order, 0, sizeof(order));
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = rec_order_get(txn, job->target, &order);
    }
    if (rc == AP_OK && order.status != ORDER_PROCESSING) {
        rc = AP_ENOTFOUND;
    }
    if (rc == AP_OK && dup_why != NULL) {
        rc = put_possible_duplicate(app, txn, job->id, job->target, in,
                                    order.pki_inflight != 0
                                        ? order.pki_inflight
                                        : now,
                                    dup_why);
    }
    if (rc == AP_OK && answer != NULL) {
        rc = audit_event(app->audit, txn, "pki.answer", job->id, answer);
        answer = NULL;
    }
    if (rc == AP_OK) {
        if (order.pki_started == 0) {
            order.pki_started = now;
        }
        free(order.pki_noted);
        order.pki_noted = NULL;
        order.pki_inflight = now;
        rc = rec_order_put(txn, job->target, &order, false);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    rec_order_fini(&order);
    cJSON_Delete(answer);
    return rc;
}

ap_err
issue_note_ref(void *arg, const char *ref)
{
    struct issue_note_ctx *nc = arg;
    struct store_txn *txn = NULL;
    struct order order;
    ap_err rc;

    memset(&order, 0, sizeof(order));
    rc = store_begin(nc->app->st, true, &txn);
    if (rc == AP_OK) {
        rc = rec_order_get(txn, nc->order_id, &order);
    }
    if (rc == AP_OK) {
        rc = rec_set_str(&order.pki_noted, ref);
    }
    if (rc == AP_OK) {
        rc = rec_order_put(txn, nc->order_id, &order, false);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    rec_order_fini(&order);
    return rc;
}
