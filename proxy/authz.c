/* proxy/authz.c: authorizations and their challenges (authz.h). */
#include "proxy/authz.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "proxy/jobs.h"
#include "proxy/jws.h"
#include "proxy/problem.h"
#include "proxy/resource.h"
#include "proxy/status.h"

#define AUTHZ_MAX_INDEX 16  /* /acme/chall/<id>/<index>: index 0..16 */

/* ---- creation ----------------------------------------------------------- */

/* RFC 8555 §7.1.3, RFC 8738 §7: which challenges each identifier gets. A
 * wildcard can only be proven in the DNS; an IP address has no DNS name
 * of its own to put a TXT record under. */
static const char *const chall_dns[] = { "http-01", "dns-01", "tls-alpn-01",
                                         NULL };
static const char *const chall_wild[] = { "dns-01", NULL };
static const char *const chall_ip[] = { "http-01", "tls-alpn-01", NULL };

ap_err
authz_new(const char *id, const char *account, const char *order,
          const struct rec_ident *ident, long long expires,
          struct authz *out)
{
    const char *value = ident->value != NULL ? ident->value : "";
    const char *const *offer = chall_dns;
    ap_err rc = AP_EINVAL;

    memset(out, 0, sizeof(*out));
    if (strlen(id) > REC_MAX_ID || strlen(account) > REC_MAX_ID ||
        strlen(order) > REC_MAX_ID) {
        goto out;
    }
    if (strcmp(ident->type, "ip") == 0) {
        offer = chall_ip;
    } else if (strncmp(value, "*.", 2) == 0) {
        /* The authorization is for the base name (RFC 8555 §7.1.4). */
        offer = chall_wild;
        out->wildcard = true;
        value += 2;
    }
    memcpy(out->id, id, strlen(id) + 1);
    memcpy(out->account, account, strlen(account) + 1);
    memcpy(out->order, order, strlen(order) + 1);
    out->status = AUTHZ_PENDING;
    out->expires = expires;
    memcpy(out->ident.type, ident->type, sizeof(out->ident.type));
    rc = rec_set_str(&out->ident.value, value);
    if (rc == AP_OK) {
        /* One stored random value of 128 bits; a token per challenge
         * (RFC 8555 §8.3-8.4 each carry one) derived from it
         * (rec_authz_token). */
        rc = id_random(out->seed, sizeof(out->seed));
    }
    for (size_t i = 0; rc == AP_OK && offer[i] != NULL; i++) {
        char token[TOKEN_LEN + 1];

        rc = rec_authz_token(out->seed, offer[i], token, sizeof(token));
        if (rc == AP_OK) {
            rc = rec_authz_add_challenge(out, offer[i], token);
        }
    }
out:
    if (rc != AP_OK) {
        rec_authz_fini(out);
    }
    return rc;
}

/* Authorization ids, made inside the write transaction so that they
 * reach the table in the order they sort (common/id.h, id_new_seq): the
 * authorizations of one order are made in one millisecond, and ids of
 * one millisecond would otherwise sort at random, miss the append at the
 * table's end (common/store.c) and split its last page in the middle. */
static struct id_seq authz_ids = ID_SEQ_INIT;

/* The index key of an account's newest authorization for an order
 * identifier (a wildcard as "*.name") as records before version 3 of the
 * authorization wrote it: "<account>/<type>/<value>". */
static void
legacy_index_key(char *out, size_t len, const char *account,
                 const struct rec_ident *ident)
{
    snprintf(out, len, "%s/%s/%s", account, ident->type,
             ident->value != NULL ? ident->value : "");
}

void
authz_index_key(const char *account, const struct rec_ident *ident,
                char out[AUTHZ_INDEX_KEY_LEN + 1])
{
    unsigned char md[CRYPTO_SHA256_LEN];
    char b64[44];
    char buf[STORE_MAX_KEY];
    int n;

    n = snprintf(buf, sizeof(buf), "%s%c%s%c%s", account, '\0',
                 ident->type, '\0',
                 ident->value != NULL ? ident->value : "");
    crypto_sha256(buf, n > 0 && (size_t)n < sizeof(buf) ? (size_t)n
                                                        : sizeof(buf) - 1,
                  md);
    if (b64url_encode(md, sizeof(md), b64, sizeof(b64)) != AP_OK) {
        memset(b64, 'A', sizeof(b64));  /* cannot happen: b64 fits */
    }
    memcpy(out, b64, AUTHZ_INDEX_KEY_LEN);
    out[AUTHZ_INDEX_KEY_LEN] = '\0';
}

/* Whether authorization a is the account's for the order identifier
 * ident (a hashed index key names it; a collision names another). */
static bool
authz_is_for(const struct authz *a, const char *account,
             const struct rec_ident *ident)
{
    const char *value = ident->value != NULL ? ident->value : "";
    bool wild = strncmp(value, "*.", 2) == 0 &&
                strcmp(ident->type, "dns") == 0;

    return strcmp(a->account, account) == 0 &&
           strcmp(a->ident.type, ident->type) == 0 &&
           a->ident.value != NULL && a->wildcard == wild &&
           strcmp(a->ident.value, wild ? value + 2 : value) == 0;
}

/* "reuse": the account's newest authorization for ident, when it may
 * serve the order; reused[0] is '\0' otherwise. *legacy: the index entry
 * is under its key of before version 3 (legacy_index_key) only. */
static ap_err
find_reusable(struct store_txn *txn, const char *account,
              const struct rec_ident *ident, long long now, char *reused,
              size_t len, bool *legacy)
{
    char key[STORE_MAX_KEY];
    char *authz_id = NULL;
    struct authz a;
    ap_err rc;

    reused[0] = '\0';
    *legacy = false;
    memset(&a, 0, sizeof(a));
    authz_index_key(account, ident, key);
    rc = store_get(txn, STORE_ACCOUNT_AUTHZS, key, &authz_id, NULL);
    if (rc == AP_ENOTFOUND) {
        legacy_index_key(key, sizeof(key), account, ident);
        rc = store_get(txn, STORE_ACCOUNT_AUTHZS, key, &authz_id, NULL);
        *legacy = rc == AP_OK;
    }
    if (rc == AP_ENOTFOUND) {
        return AP_OK;
    }
    if (rc == AP_OK) {
        rc = rec_authz_get(txn, authz_id, &a);
    }
    if (rc == AP_OK && status_authz_reusable(&a, now) &&
        authz_is_for(&a, account, ident)) {
        snprintf(reused, len, "%s", authz_id);
    }
    free(authz_id);
    rec_authz_fini(&a);
    return rc == AP_ENOTFOUND ? AP_OK : rc;
}

ap_err
authz_for_order(struct store_txn *txn, const char *account,
                const char *order_id, const struct rec_ident *ident,
                long long now, long long expires, bool preauth, char *id,
                size_t idlen, bool *reused)
{
    char key[STORE_MAX_KEY];
    char authz_id[ID_LEN + 1];
    struct authz a;
    bool legacy = false;
    ap_err rc;

    *reused = false;
    rc = find_reusable(txn, account, ident, now, id, idlen, &legacy);
    if (rc != AP_OK || id[0] != '\0') {
        *reused = rc == AP_OK;
        return rc;
    }
    rc = id_new_seq(&authz_ids, authz_id, sizeof(authz_id));
    if (rc != AP_OK) {
        return rc;
    }
    rc = authz_new(authz_id, account, order_id, ident, expires, &a);
    if (rc != AP_OK) {
        return rc;
    }
    if (preauth) {
        /* Nothing to prove: valid, with no challenge to answer. */
        rec_authz_drop_challenges(&a);
        a.status = AUTHZ_VALID;
    }
    rc = rec_authz_put(txn, authz_id, &a, true);
    rec_authz_fini(&a);
    if (rc == AP_OK && legacy) {
        /* the new entry replaces the one under the key of before */
        legacy_index_key(key, sizeof(key), account, ident);
        rc = store_del(txn, STORE_ACCOUNT_AUTHZS, key);
        rc = rc == AP_ENOTFOUND ? AP_OK : rc;
    }
    authz_index_key(account, ident, key);
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_ACCOUNT_AUTHZS, key, authz_id,
                       strlen(authz_id), false);
    }
    if (rc == AP_OK) {
        snprintf(id, idlen, "%s", authz_id);
    }
    return rc;
}

/* ---- the client's view --------------------------------------------------- */

static cJSON *
challenge_render(const struct app *app, const struct authz *a, size_t index,
                 const struct challenge *c)
{
    struct rec_writer w = { AP_OK };
    cJSON *out = rec_write_object(&w);
    char url[HTTP_MAX_URL];
    char ts[TIME_RFC3339_LEN];
    char token[REC_MAX_ID + 1];
    const char *tok;

    snprintf(url, sizeof(url), "%s%s%s/%zu", app->base, PATH_CHALL, a->id,
             index);
    rec_put_str(&w, out, "type", c->type);
    rec_put_str(&w, out, "url", url);
    rec_put_str(&w, out, "status", chall_status_name(c->status));
    tok = rec_authz_chall_token(a, c, token, sizeof(token));
    if (tok == NULL) {
        w.rc = AP_ESTORE;       /* a record with neither token nor seed */
    }
    rec_put_str(&w, out, "token", tok);
    if (c->validated != 0) {
        time_rfc3339(c->validated, ts, sizeof(ts));
        rec_put_str(&w, out, "validated", ts);
    }
    rec_put_problem(&w, out, "error", c->error);
    if (w.rc != AP_OK) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static cJSON *
authz_render(const struct app *app, const struct authz *a, long long now)
{
    struct rec_writer w = { AP_OK };
    cJSON *out = rec_write_object(&w);
    cJSON *chs;
    char ts[TIME_RFC3339_LEN];

    rec_put_ident(&w, out, "identifier", &a->ident);
    rec_put_str(&w, out, "status", authz_status_name(authz_status_at(a, now)));
    time_rfc3339(a->expires, ts, sizeof(ts));
    rec_put_str(&w, out, "expires", ts);
    if (a->wildcard) {
        rec_put_bool(&w, out, "wildcard", true); /* RFC 8555 §7.1.4 */
    }
    chs = rec_put_array(&w, out, "challenges");
    for (size_t i = 0; i < a->n_challs; i++) {
        /* A decided authorization shows its decided challenge only (RFC
         * 8555 §7.1.4); the others are dropped (rec_authz.h). */
        if (!a->challs[i].dropped) {
            rec_push(&w, chs, challenge_render(app, a, i,
                                               &a->challs[i]));
        }
    }
    if (w.rc != AP_OK) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static ap_err
respond_authz(struct app *app, const struct authz *a, struct acme_resp *resp)
{
    long long now = time_now();
    cJSON *view = authz_render(app, a, now);
    ap_err rc;

    if (view == NULL) {
        return AP_ENOMEM;
    }
    rc = acme_resp_json(resp, 200, view);
    cJSON_Delete(view);
    if (authz_status_at(a, now) == AUTHZ_PENDING) {
        resp->retry_after = 1;
    }
    return rc;
}

/* Reads authorization id that account_id must own; on AP_OK either *a is
 * set or resp holds the problem. */
static ap_err
load_owned(struct app *app, const char *id, const char *account_id,
           struct acme_resp *resp, struct authz *a)
{
    struct store_txn *txn = NULL;
    ap_err rc;

    memset(a, 0, sizeof(*a));
    if (!resource_id_ok(id, resp)) {
        return AP_OK;
    }
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = rec_authz_get(txn, id, a);
    }
    store_abort(txn);
    return resource_owned(rc, a->account, account_id, resp);
}

/* ---- reading and deactivation (RFC 8555 §7.5, §7.5.2) ------------------ */

/* Deactivates authorization id in one write transaction, with what that
 * makes of its order; *a gets the record as written. */
static ap_err
deactivate(struct app *app, const char *id, struct acme_resp *resp,
           struct authz *a)
{
    struct store_txn *txn = NULL;
    long long now = time_now();
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = rec_authz_get(txn, id, a);
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (!status_authz_deactivatable(a, now)) {
        problem_set(resp, PROB_MALFORMED, "authorization is %s",
                    authz_status_name(authz_status_at(a, now)));
        goto out;
    }
    a->status = AUTHZ_DEACTIVATED;
    rc = rec_authz_put(txn, id, a, false);
    if (rc == AP_OK) {
        rc = order_update_from_authz(txn, a->order, a);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
out:
    store_abort(txn);
    return rc;
}

ap_err
authz_post(struct app *app, const struct acme_req *req, const char *id,
           struct acme_resp *resp)
{
    struct jws_msg msg;
    struct authz a;
    const char *status = NULL;
    ap_err rc;

    memset(&a, 0, sizeof(a));
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    rc = load_owned(app, id, msg.account_id, resp, &a);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (msg.post_as_get) {
        rc = respond_authz(app, &a, resp);
        goto out;
    }
    /* RFC 8555 §7.5.2: the only change a client may ask for. */
    if (json_get_string(msg.payload, "status", 32, &status) != AP_OK ||
        strcmp(status, "deactivated") != 0) {
        problem_set(resp, PROB_MALFORMED,
                    "an authorization only takes {\"status\":"
                    "\"deactivated\"}");
        goto out;
    }
    rec_authz_fini(&a);
    rc = deactivate(app, id, resp, &a);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    log_info("authz", "deactivated authz=%s account=%s", id, msg.account_id);
    rc = respond_authz(app, &a, resp);
out:
    rec_authz_fini(&a);
    jws_msg_fini(&msg);
    return rc;
}

/* ---- the challenge POST (RFC 8555 §7.5.1) ------------------------------- */

/* Splits "<authz id>/<index>". */
static bool
parse_chall_id(const char *id, char *authz_id, size_t len, size_t *index)
{
    const char *slash = strchr(id, '/');
    char *end = NULL;
    long v;

    if (slash == NULL || (size_t)(slash - id) >= len || slash == id) {
        return false;
    }
    v = strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end != '\0' || v < 0 || v > AUTHZ_MAX_INDEX) {
        return false;
    }
    memcpy(authz_id, id, (size_t)(slash - id));
    authz_id[slash - id] = '\0';
    *index = (size_t)v;
    return true;
}

static ap_err
respond_challenge(struct app *app, const struct authz *a, size_t index,
                  struct acme_resp *resp)
{
    const struct challenge *c = &a->challs[index];
    cJSON *view = challenge_render(app, a, index, c);
    char url[HTTP_MAX_URL];
    ap_err rc;

    if (view == NULL) {
        return AP_ENOMEM;
    }
    rc = acme_resp_json(resp, 200, view);
    cJSON_Delete(view);
    app_url(app, url, sizeof(url), PATH_AUTHZ, a->id);
    acme_resp_link(resp, url, "up");
    if (c->status == CHALL_PROCESSING || c->status == CHALL_PENDING) {
        resp->retry_after = 1;
    }
    return rc;
}

/* Starts validation of challenge index of authorization authz_id, which
 * account_id must own: processing, and its job, in one write transaction,
 * which also reads the record (one read where a read to check the owner
 * came first). *a gets the record as read, as written when it started. A
 * problem (no such authorization or challenge, another account's) is left
 * in resp. Nothing to start is no error: the answer is then the challenge
 * as it is. */
static ap_err
start_validation(struct app *app, const char *authz_id, size_t index,
                 const char *account_id, struct authz *a,
                 struct acme_resp *resp)
{
    struct store_txn *txn = NULL;
    char target[JOB_MAX_ID];
    char job_id[JOB_MAX_ID];
    ap_err rc;

    memset(a, 0, sizeof(*a));
    if (!resource_id_ok(authz_id, resp)) {
        return AP_OK;
    }
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = rec_authz_get(txn, authz_id, a);
    }
    rc = resource_owned(rc, a->account, account_id, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (rec_authz_chall(a, index) == NULL) {
        problem_set(resp, PROB_NOT_FOUND, "no such challenge");
        goto out;
    }
    if (!status_challenge_can_start(a, index, time_now())) {
        goto out;
    }
    a->challs[index].status = CHALL_PROCESSING;
    rc = rec_authz_put(txn, authz_id, a, false);
    snprintf(target, sizeof(target), "%s/%zu", authz_id, index);
    if (rc == AP_OK) {
        rc = jobs_put(txn, JOB_VALIDATE, target, 0, 0, job_id,
                      sizeof(job_id));
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    if (rc == AP_OK && !jobs_run_here(app->jobs, job_id)) {
        jobs_kick(app->jobs, job_id, 0);
    }
out:
    store_abort(txn);
    return rc;
}

/* Waits (bounded by wait_ms) while challenge index is processing. *a is
 * the record as last read, current when the watch w began before it was
 * read (an outcome after that read wakes w); it is read again after each
 * wake-up. */
static ap_err
wait_outcome(struct app *app, struct jobs_watch *w, const char *authz_id,
             size_t index, struct authz *a)
{
    long long deadline = time_mono_ms() + app->cfg->acme.wait_ms;
    ap_err rc = AP_OK;

    while (index < a->n_challs &&
           a->challs[index].status == CHALL_PROCESSING &&
           time_mono_ms() < deadline) {
        struct store_txn *txn = NULL;
        struct authz fresh;

        jobs_watch_wait(app->jobs, w, deadline);
        memset(&fresh, 0, sizeof(fresh));
        rc = store_begin(app->st, false, &txn);
        if (rc == AP_OK) {
            rc = rec_authz_get(txn, authz_id, &fresh);
        }
        store_abort(txn);
        if (rc != AP_OK) {
            rec_authz_fini(&fresh);
            break;
        }
        rec_authz_fini(a);
        *a = fresh;
    }
    return rc;
}

/* The POST that asks for validation (any JSON object, normally {}): the
 * watch begins before the write that starts it, so that an outcome coming
 * at any time after is seen. */
static ap_err
validate_and_wait(struct app *app, const char *authz_id, size_t index,
                  const char *account_id, struct authz *a,
                  struct acme_resp *resp)
{
    struct jobs_watch watch;
    ap_err rc;

    jobs_watch_begin(app->jobs, &watch, authz_id);
    rc = start_validation(app, authz_id, index, account_id, a, resp);
    if (rc == AP_OK && resp->status == 0) {
        rc = wait_outcome(app, &watch, authz_id, index, a);
    }
    jobs_watch_end(app->jobs, &watch);
    return rc;
}

ap_err
challenge_post(struct app *app, const struct acme_req *req, const char *id,
               struct acme_resp *resp)
{
    struct jws_msg msg;
    struct authz a;
    char authz_id[JWS_MAX_ID + 1];
    size_t index = 0;
    ap_err rc;

    memset(&a, 0, sizeof(a));
    if (!parse_chall_id(id, authz_id, sizeof(authz_id), &index)) {
        problem_set(resp, PROB_NOT_FOUND, "no such challenge");
        return AP_OK;
    }
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    /* Any JSON object (normally {}) asks for validation; POST-as-GET only
     * reads. */
    if (msg.post_as_get) {
        rc = load_owned(app, authz_id, msg.account_id, resp, &a);
        if (rc != AP_OK || resp->status != 0) {
            goto out;
        }
        if (rec_authz_chall(&a, index) == NULL) {
            problem_set(resp, PROB_NOT_FOUND, "no such challenge");
            goto out;
        }
    } else {
        rc = validate_and_wait(app, authz_id, index, msg.account_id, &a,
                               resp);
        if (rc != AP_OK || resp->status != 0) {
            goto out;
        }
        if (rec_authz_chall(&a, index) == NULL) {
            /* Another challenge decided the authorization meanwhile, and
             * this one went (RFC 8555 §7.1.4). */
            problem_set(resp, PROB_NOT_FOUND, "no such challenge: the "
                        "authorization was decided by another one");
            goto out;
        }
    }
    rc = respond_challenge(app, &a, index, resp);
out:
    rec_authz_fini(&a);
    jws_msg_fini(&msg);
    return rc;
}
