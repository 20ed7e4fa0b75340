/* proxy/webhook.c: oversight events to the teams' webhooks
 * (proxy/webhook.h). */
#include "proxy/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/httpc.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/x509.h"
#include "proxy/audit.h"
#include "proxy/rec.h"
#include "proxy/rec_account.h"
#include "proxy/rec_cert.h"
#include "proxy/rec_order.h"
#include "proxy/renewal.h"
#include "proxy/report.h"

#define WEBHOOK_CONNECT_MS 3000

static const char *const kind_word[] = { "issued", "overdue", "expiring" };
static const char *const kind_event[] = { "certificate.issued",
                                          "certificate.renewalOverdue",
                                          "certificate.expiring" };
_Static_assert(sizeof(kind_word) / sizeof(kind_word[0]) == WEBHOOK__MAX,
               "kind_word must cover every webhook kind");
_Static_assert(sizeof(kind_event) / sizeof(kind_event[0]) == WEBHOOK__MAX,
               "kind_event must cover every webhook kind");

const char *
webhook_event_name(enum webhook_kind k)
{
    return (unsigned)k < WEBHOOK__MAX ? kind_event[k] : "?";
}

/* The team of an account with its webhook, or NULL. */
static const struct config_team *
team_with_webhook(const struct config *cfg, const struct account *a)
{
    const struct config_team *t;

    if (a->team == NULL || a->team[0] == '\0') {
        return NULL;
    }
    t = config_team_find(cfg, a->team);
    return t != NULL && t->webhook[0] != '\0' ? t : NULL;
}

ap_err
webhook_queue(const struct app *app, struct store_txn *txn,
              enum webhook_kind k, const char *cert_id,
              const char *account_id, bool *queued)
{
    struct account a;
    char key[STORE_MAX_KEY];
    char target[JOB_MAX_ID];
    char id[JOB_MAX_ID];
    char when[32];
    char *old = NULL;
    ap_err rc;

    if (queued != NULL) {
        *queued = false;
    }
    if ((unsigned)k >= WEBHOOK__MAX) {
        return AP_EINVAL;
    }
    rc = rec_account_get(txn, account_id, &a);
    if (rc == AP_ENOTFOUND) {
        return AP_OK;
    }
    if (rc != AP_OK || team_with_webhook(app->cfg, &a) == NULL) {
        rec_account_fini(&a);
        return rc;
    }
    rec_account_fini(&a);
    snprintf(key, sizeof(key), "wh/%s/%s", kind_word[k], cert_id);
    rc = store_get(txn, STORE_META, key, &old, NULL);
    free(old);
    if (rc == AP_OK) {
        return AP_OK; /* queued before: once per certificate and kind */
    }
    if (rc != AP_ENOTFOUND) {
        return rc;
    }
    snprintf(when, sizeof(when), "%lld", time_now());
    snprintf(target, sizeof(target), "%s.%s", kind_word[k], cert_id);
    rc = store_put(txn, STORE_META, key, when, strlen(when), false);
    if (rc == AP_OK) {
        rc = jobs_put(txn, JOB_WEBHOOK, target, 0, 0, id, sizeof(id));
    }
    if (rc == AP_OK && queued != NULL) {
        *queued = true;
    }
    return rc;
}

ap_err
webhook_schedule_check(struct store *st)
{
    struct store_txn *txn = NULL;
    char id[JOB_MAX_ID];
    ap_err rc = store_begin(st, true, &txn);

    if (rc == AP_OK) {
        rc = jobs_put(txn, JOB_WEBHOOK, WEBHOOK_CHECK_TARGET, 0, 0, id,
                      sizeof(id));
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    return rc;
}

static bool
any_webhook(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_teams; i++) {
        if (cfg->teams[i].webhook[0] != '\0') {
            return true;
        }
    }
    return false;
}

/* Queues event k of one report row in a transaction of its own. */
static ap_err
queue_one(const struct app *app, enum webhook_kind k, const cJSON *row,
          size_t *n)
{
    struct store_txn *txn = NULL;
    bool queued = false;
    ap_err rc = store_begin(app->st, true, &txn);

    if (rc == AP_OK) {
        rc = webhook_queue(app, txn, k, json_str(row, "id", ""),
                           json_str(row, "account", ""), &queued);
    }
    if (rc == AP_OK && queued) {
        rc = store_commit(txn);
        txn = NULL;
        if (rc == AP_OK) {
            (*n)++;
        }
    }
    store_abort(txn);
    return rc;
}

ap_err
webhook_check(const struct app *app, long long now, size_t *n)
{
    struct report_opts o;
    cJSON *doc = NULL;
    const cJSON *row;
    size_t count = 0;
    ap_err rc = AP_OK;

    if (n != NULL) {
        *n = 0;
    }
    if (!any_webhook(app->cfg)) {
        return AP_OK;
    }
    memset(&o, 0, sizeof(o));
    o.now = now;
    o.days = app->cfg->oversight.expiry_days;
    rc = report_build(app->st, &o, &doc);
    if (rc != AP_OK) {
        return rc;
    }
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(
                                doc, "certificates")) {
        long long not_after = 0;
        const struct config_team *t;

        if (rc != AP_OK) {
            break;
        }
        t = config_team_find(app->cfg, json_str(row, "team", ""));
        if (t == NULL || t->webhook[0] == '\0') {
            continue;
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "overdue"))) {
            rc = queue_one(app, WEBHOOK_OVERDUE, row, &count);
        }
        if (rc == AP_OK &&
            time_parse_rfc3339(json_str(row, "notAfter", ""), &not_after) ==
                AP_OK &&
            not_after <= now + (long long)o.days * 86400) {
            rc = queue_one(app, WEBHOOK_EXPIRING, row, &count);
        }
    }
    cJSON_Delete(doc);
    if (count > 0) {
        log_info("webhook", "check: %zu event(s) queued", count);
    }
    if (n != NULL) {
        *n = count;
    }
    return rc;
}

ap_err
webhook_sign(const unsigned char *key, size_t keylen, long long ts,
             const char *body, char *out, size_t outlen)
{
    unsigned char mac[CRYPTO_SHA256_LEN];
    char *msg = NULL;
    int len;
    ap_err rc;

    if (outlen < 7 + 2 * CRYPTO_SHA256_LEN + 1) {
        return AP_EINVAL;
    }
    len = asprintf(&msg, "%lld.%s", ts, body);
    if (len < 0) {
        return AP_ENOMEM;
    }
    rc = crypto_hmac_sha256(key, keylen, msg, (size_t)len, mac);
    free(msg);
    if (rc != AP_OK) {
        return rc;
    }
    memcpy(out, "sha256=", 7);
    for (size_t i = 0; i < sizeof(mac); i++) {
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    }
    crypto_zeroize(mac, sizeof(mac));
    return AP_OK;
}

/* What a delivery needs, read in one transaction. */
struct delivery {
    enum webhook_kind kind;
    char cert_id[REC_MAX_ID + 1];
    long long queued;           /* when the event was queued */
    char team[65];
    cJSON *body;                /* the event */
};

static ap_err
add_time(cJSON *obj, const char *key, long long t)
{
    char buf[TIME_RFC3339_LEN];

    time_rfc3339(t, buf, sizeof(buf));
    return cJSON_AddStringToObject(obj, key, buf) != NULL ? AP_OK
                                                         : AP_ENOMEM;
}

/* The event's body from the certificate c, its order o. */
static ap_err
build_body(struct delivery *d, const struct cert *c, const struct order *o,
           const char *target, long long now)
{
    cJSON *b = cJSON_CreateObject();
    cJSON *cert;
    cJSON *ids;
    unsigned char *der = NULL;
    size_t len = 0;
    struct x509_cert *leaf = NULL;
    ap_err rc = AP_ENOMEM;

    if (b == NULL) {
        return AP_ENOMEM;
    }
    if (cJSON_AddStringToObject(b, "id", target) == NULL ||
        cJSON_AddStringToObject(b, "event", kind_event[d->kind]) == NULL ||
        add_time(b, "time", now) != AP_OK ||
        cJSON_AddStringToObject(b, "team", d->team) == NULL) {
        goto out;
    }
    cert = cJSON_AddObjectToObject(b, "certificate");
    if (cert == NULL ||
        cJSON_AddStringToObject(cert, "id", c->id) == NULL ||
        cJSON_AddStringToObject(cert, "serial", c->serial) == NULL ||
        cJSON_AddStringToObject(cert, "account", c->account) == NULL ||
        cJSON_AddStringToObject(cert, "order", c->order) == NULL ||
        add_time(cert, "issued", c->issued) != AP_OK ||
        add_time(cert, "notAfter", c->not_after) != AP_OK) {
        goto out;
    }
    ids = cJSON_AddArrayToObject(cert, "identifiers");
    if (ids == NULL) {
        goto out;
    }
    for (size_t i = 0; i < o->n_idents; i++) {
        cJSON *s = cJSON_CreateString(o->idents[i].value != NULL
                                          ? o->idents[i].value
                                          : "");

        if (s == NULL || !cJSON_AddItemToArray(ids, s)) {
            cJSON_Delete(s);
            goto out;
        }
    }
    if (c->pem != NULL && x509_pem_cert_to_der(c->pem, &der, &len) == AP_OK &&
        x509_cert_parse(der, len, &leaf) == AP_OK) {
        long long start = 0;
        long long end = 0;
        cJSON *w = cJSON_AddObjectToObject(cert, "renewalWindow");

        renewal_window(leaf, false, now, &start, &end);
        if (w == NULL || add_time(w, "start", start) != AP_OK ||
            add_time(w, "end", end) != AP_OK) {
            goto out;
        }
    }
    rc = AP_OK;
out:
    x509_cert_free(leaf);
    free(der);
    if (rc != AP_OK) {
        cJSON_Delete(b);
        return rc;
    }
    d->body = b;
    return AP_OK;
}

/* Reads what the delivery of target needs. AP_ENOTFOUND when there is
 * nothing to deliver (the certificate or the memory of the event is gone,
 * the team has no webhook any more): the job just ends. */
static ap_err
load_delivery(const struct app *app, const char *target, long long now,
              struct delivery *d, const struct config_team **team)
{
    const char *dot = strchr(target, '.');
    struct store_txn *txn = NULL;
    struct cert c;
    struct order o;
    struct account a;
    char key[STORE_MAX_KEY];
    char *val = NULL;
    char *end = NULL;
    int kind = -1;
    ap_err rc;

    memset(d, 0, sizeof(*d));
    memset(&c, 0, sizeof(c));
    memset(&o, 0, sizeof(o));
    memset(&a, 0, sizeof(a));
    *team = NULL;
    for (int k = 0; dot != NULL && k < WEBHOOK__MAX; k++) {
        if (strlen(kind_word[k]) == (size_t)(dot - target) &&
            strncmp(target, kind_word[k], (size_t)(dot - target)) == 0) {
            kind = k;
        }
    }
    if (kind < 0 || strlen(dot + 1) > REC_MAX_ID) {
        return AP_ENOTFOUND;
    }
    d->kind = (enum webhook_kind)kind;
    snprintf(d->cert_id, sizeof(d->cert_id), "%s", dot + 1);
    snprintf(key, sizeof(key), "wh/%s/%s", kind_word[kind], d->cert_id);
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = store_get(txn, STORE_META, key, &val, NULL);
    }
    if (rc == AP_OK) {
        d->queued = strtoll(val, &end, 10);
        if (end == val || *end != '\0') {
            d->queued = now;
        }
        rc = rec_cert_get(txn, d->cert_id, &c);
    }
    if (rc == AP_OK) {
        rc = rec_account_get(txn, c.account, &a);
    }
    if (rc == AP_OK) {
        rc = rec_order_get(txn, c.order, &o);
    }
    store_abort(txn);
    if (rc == AP_OK) {
        *team = team_with_webhook(app->cfg, &a);
        rc = *team != NULL ? AP_OK : AP_ENOTFOUND;
    }
    if (rc == AP_OK) {
        snprintf(d->team, sizeof(d->team), "%s", (*team)->name);
        rc = build_body(d, &c, &o, target, now);
    }
    free(val);
    rec_cert_fini(&c);
    rec_order_fini(&o);
    rec_account_fini(&a);
    return rc;
}

/* One POST of body to t's webhook. AP_OK when it answered 2xx; else why
 * in errbuf. */
static ap_err
deliver(const struct app *app, const struct config_team *t,
        const char *event, const char *delivery_id, const char *body,
        char *errbuf, size_t errlen)
{
    char h_ts[64];
    char h_sig[128] = "";
    char h_event[96];
    char h_id[JOB_MAX_ID + 32];
    const char *headers[7];
    size_t nh = 0;
    char *key = NULL;
    size_t keylen = 0;
    long long ts = time_now();
    struct httpc_call call;
    struct httpc_resp resp;
    ap_err rc = AP_OK;

    httpc_resp_init(&resp);
    snprintf(h_ts, sizeof(h_ts), "X-Acmeproxy-Timestamp: %lld", ts);
    snprintf(h_event, sizeof(h_event), "X-Acmeproxy-Event: %s", event);
    snprintf(h_id, sizeof(h_id), "X-Acmeproxy-Delivery: %s", delivery_id);
    headers[nh++] = "Content-Type: application/json";
    headers[nh++] = h_ts;
    headers[nh++] = h_event;
    headers[nh++] = h_id;
    if (t->webhook_secret_file[0] != '\0') {
        char sig[80];

        rc = fileio_read(t->webhook_secret_file, WEBHOOK_MAX_SECRET,
                         FILEIO_SECRET, &key, &keylen, errbuf, errlen);
        if (rc == AP_OK) {
            size_t n = keylen;

            while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r')) {
                n--;
            }
            rc = n > 0 ? webhook_sign((const unsigned char *)key, n, ts,
                                      body, sig, sizeof(sig))
                       : AP_EINVAL;
            if (n == 0) {
                snprintf(errbuf, errlen, "%s is empty",
                         t->webhook_secret_file);
            }
        }
        fileio_free(key, keylen, FILEIO_SECRET);
        if (rc != AP_OK) {
            goto out;
        }
        snprintf(h_sig, sizeof(h_sig), "X-Acmeproxy-Signature: %s", sig);
        headers[nh++] = h_sig;
    }
    headers[nh] = NULL;
    memset(&call, 0, sizeof(call));
    call.method = "POST";
    call.url = t->webhook;
    call.headers = headers;
    call.body = body;
    call.body_len = strlen(body);
    call.ca_file = t->webhook_ca[0] != '\0' ? t->webhook_ca : NULL;
    call.auth = HTTPC_AUTH_NONE;
    call.timeout_ms = app->cfg->oversight.webhook_timeout_ms;
    call.connect_timeout_ms = call.timeout_ms < WEBHOOK_CONNECT_MS
                                  ? call.timeout_ms
                                  : WEBHOOK_CONNECT_MS;
    call.max_body = WEBHOOK_MAX_ANSWER;
    call.allow_http = 0;
    rc = httpc_call(&call, &resp, NULL);
    if (rc != AP_OK && rc != AP_ETOOBIG) {
        snprintf(errbuf, errlen, "%s", resp.error);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        snprintf(errbuf, errlen, "HTTP status %ld", resp.status);
        rc = AP_ENET;
        goto out;
    }
    rc = AP_OK;
out:
    crypto_zeroize(h_sig, sizeof(h_sig));
    httpc_resp_fini(&resp);
    return rc;
}

/* Ends the job (and audits event, with fields taken, when not NULL) or
 * puts it again due in delay_ms, in one transaction. */
static ap_err
record(struct app *app, const struct job *job, const char *event,
       cJSON *fields, long long delay_ms)
{
    struct store_txn *txn = NULL;
    char id[JOB_MAX_ID];
    ap_err rc = store_begin(app->st, true, &txn);

    if (rc == AP_OK && delay_ms < 0) {
        rc = jobs_del(txn, job->id);
    } else if (rc == AP_OK) {
        rc = jobs_put_ms(txn, JOB_WEBHOOK, job->target, delay_ms,
                         job->attempts + 1, false, id, sizeof(id));
    }
    if (rc == AP_OK && event != NULL) {
        rc = audit_event(app->audit, txn, event, job->id, fields);
        fields = NULL;
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    cJSON_Delete(fields);
    store_abort(txn);
    return rc;
}

static cJSON *
event_fields(const struct delivery *d, unsigned attempts, const char *why)
{
    cJSON *f = cJSON_CreateObject();

    if (f == NULL ||
        cJSON_AddStringToObject(f, "team", d->team) == NULL ||
        cJSON_AddStringToObject(f, "event", kind_event[d->kind]) == NULL ||
        cJSON_AddStringToObject(f, "cert", d->cert_id) == NULL ||
        cJSON_AddNumberToObject(f, "attempts", attempts) == NULL ||
        (why != NULL && cJSON_AddStringToObject(f, "why", why) == NULL)) {
        cJSON_Delete(f);
        return NULL;
    }
    return f;
}

/* The periodic check, then its next run. */
static long long
run_check(struct app *app, const struct job *job)
{
    long long delay_ms = (long long)app->cfg->oversight.check_interval * 1000;
    size_t n = 0;
    ap_err rc = webhook_check(app, time_now(), &n);

    if (rc != AP_OK) {
        log_err("webhook", "check failed: %s", ap_strerror(rc));
    }
    if (record(app, job, NULL, NULL, delay_ms) != AP_OK) {
        return jobs_backoff_ms(job);
    }
    return JOB_DONE;
}

long long
webhook_run(struct app *app, const struct job *job)
{
    const struct config_team *t = NULL;
    struct delivery d;
    char why[300] = "";
    char *body = NULL;
    long long now = time_now();
    long long delay_sec;
    ap_err rc;

    if (strcmp(job->target, WEBHOOK_CHECK_TARGET) == 0) {
        return run_check(app, job);
    }
    rc = load_delivery(app, job->target, now, &d, &t);
    if (rc == AP_ENOTFOUND || jobs_given_up(job)) {
        /* Nothing to send (any more), or it killed the process. */
        cJSON_Delete(d.body);
        return record(app, job, NULL, NULL, -1) == AP_OK
                   ? JOB_DONE
                   : jobs_backoff_ms(job);
    }
    if (rc != AP_OK) {
        return jobs_backoff_ms(job);
    }
    if (cJSON_AddNumberToObject(d.body, "attempt", job->attempts + 1) !=
        NULL) {
        body = cJSON_PrintUnformatted(d.body);
    }
    if (body == NULL) {
        cJSON_Delete(d.body);
        return jobs_backoff_ms(job);
    }
    rc = deliver(app, t, kind_event[d.kind], job->target, body, why,
                 sizeof(why));
    cJSON_free(body);
    cJSON_Delete(d.body);
    d.body = NULL;
    if (rc == AP_OK) {
        log_info("webhook", "sent %s team=%s cert=%s", kind_event[d.kind],
                 d.team, d.cert_id);
        rc = record(app, job, "webhook.sent",
                    event_fields(&d, job->attempts + 1, NULL), -1);
        return rc == AP_OK ? JOB_DONE : jobs_backoff_ms(job);
    }
    delay_sec = job->attempts < 8 ? 1LL << (job->attempts + 1)
                                  : WEBHOOK_MAX_BACKOFF_SEC;
    if (delay_sec > WEBHOOK_MAX_BACKOFF_SEC) {
        delay_sec = WEBHOOK_MAX_BACKOFF_SEC;
    }
    if (now + delay_sec > d.queued + app->cfg->oversight.webhook_max_age) {
        log_warn("webhook", "dropped %s team=%s cert=%s after %u "
                 "attempt(s): %s", kind_event[d.kind], d.team, d.cert_id,
                 job->attempts + 1, why);
        rc = record(app, job, "webhook.dropped",
                    event_fields(&d, job->attempts + 1, why), -1);
        return rc == AP_OK ? JOB_DONE : jobs_backoff_ms(job);
    }
    log_warn("webhook", "%s team=%s cert=%s attempt %u failed (%s); again "
             "in %lld s", kind_event[d.kind], d.team, d.cert_id,
             job->attempts + 1, why, delay_sec);
    rc = record(app, job, NULL, NULL, delay_sec * 1000);
    return rc == AP_OK ? JOB_DONE : jobs_backoff_ms(job);
}
