/* proxy/authz.c: authorizations and their challenges (RFC 8555 §7.5,
 * §7.5.1, §7.5.2). The validation itself runs on a validator thread
 * (challenge.c); a challenge POST waits for it a short while so that
 * clients which look once right after answering see the outcome. */
#include "proxy/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "proxy/jobs.h"
#include "proxy/jws.h"
#include "proxy/problem.h"

const char *
authz_status_now(const cJSON *authz, long long now)
{
    const char *s = json_str(authz, "status", "invalid");

    if ((strcmp(s, "pending") == 0 || strcmp(s, "valid") == 0) &&
        json_num(authz, "expires", 0) <= now) {
        return "expired";
    }
    return s;
}

cJSON *
challenge_render(const struct app *app, const char *authz_id, int index,
                 const cJSON *chall)
{
    cJSON *out = cJSON_CreateObject();
    char url[HTTP_MAX_URL];
    char ts[TIME_RFC3339_LEN];
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(chall, "error");
    const char *status = json_str(chall, "status", "");

    if (out == NULL) {
        return NULL;
    }
    snprintf(url, sizeof(url), "%s%s%s/%d", app->base, PATH_CHALL, authz_id,
             index);
    cJSON_AddStringToObject(out, "type", json_str(chall, "type", ""));
    cJSON_AddStringToObject(out, "url", url);
    cJSON_AddStringToObject(out, "status", status);
    cJSON_AddStringToObject(out, "token", json_str(chall, "token", ""));
    if (json_num(chall, "validated", 0) != 0) {
        time_rfc3339(json_num(chall, "validated", 0), ts, sizeof(ts));
        cJSON_AddStringToObject(out, "validated", ts);
    }
    if (err != NULL) {
        cJSON_AddItemToObject(out, "error", cJSON_Duplicate(err, 1));
    }
    return out;
}

cJSON *
authz_render(const struct app *app, const cJSON *authz, long long now)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *chs;
    const cJSON *c;
    char ts[TIME_RFC3339_LEN];
    const char *id = json_str(authz, "id", "");
    int i = 0;

    if (out == NULL) {
        return NULL;
    }
    cJSON_AddItemToObject(
        out, "identifier",
        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(authz, "identifier"),
                        1));
    cJSON_AddStringToObject(out, "status", authz_status_now(authz, now));
    time_rfc3339(json_num(authz, "expires", 0), ts, sizeof(ts));
    cJSON_AddStringToObject(out, "expires", ts);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(authz, "wildcard"))) {
        cJSON_AddTrueToObject(out, "wildcard"); /* RFC 8555 §7.1.4 */
    }
    chs = cJSON_AddArrayToObject(out, "challenges");
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(authz,
                                                           "challenges")) {
        cJSON_AddItemToArray(chs, challenge_render(app, id, i++, c));
    }
    return out;
}

static ap_err
respond_authz(struct app *app, const cJSON *authz, struct acme_resp *resp)
{
    cJSON *view = authz_render(app, authz, time_now());
    ap_err rc;

    if (view == NULL) {
        return AP_ENOMEM;
    }
    rc = acme_resp_json(resp, 200, view);
    cJSON_Delete(view);
    if (strcmp(authz_status_now(authz, time_now()), "pending") == 0) {
        resp->retry_after = 1;
    }
    return rc;
}

ap_err
authz_post(struct app *app, const struct acme_req *req, const char *id,
           struct acme_resp *resp)
{
    struct jws_msg msg;
    struct store_txn *txn = NULL;
    cJSON *authz = NULL;
    const char *status = NULL;
    ap_err rc;

    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    rc = resource_load_owned(app, STORE_AUTHZS, id, msg.account_id, resp,
                             &authz);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (msg.post_as_get) {
        rc = respond_authz(app, authz, resp);
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
    cJSON_Delete(authz);
    authz = NULL;
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_AUTHZS, id, &authz);
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (strcmp(authz_status_now(authz, time_now()), "pending") != 0 &&
        strcmp(authz_status_now(authz, time_now()), "valid") != 0) {
        problem_set(resp, PROB_MALFORMED, "authorization is %s",
                    authz_status_now(authz, time_now()));
        goto out;
    }
    rc = json_set_str(authz, "status", "deactivated");
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_AUTHZS, id, authz, false);
    }
    if (rc == AP_OK) {
        rc = order_update_from_authz(txn, json_str(authz, "order", ""));
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    if (rc == AP_OK) {
        log_info("authz", "deactivated authz=%s account=%s", id,
                 msg.account_id);
        rc = respond_authz(app, authz, resp);
    }
out:
    store_abort(txn);
    cJSON_Delete(authz);
    jws_msg_fini(&msg);
    return rc;
}

/* Splits "<authz id>/<index>". */
static bool
parse_chall_id(const char *id, char *authz_id, size_t len, int *index)
{
    const char *slash = strchr(id, '/');
    char *end = NULL;
    long v;

    if (slash == NULL || (size_t)(slash - id) >= len || slash == id) {
        return false;
    }
    v = strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end != '\0' || v < 0 || v > 16) {
        return false;
    }
    memcpy(authz_id, id, (size_t)(slash - id));
    authz_id[slash - id] = '\0';
    *index = (int)v;
    return true;
}

static ap_err
respond_challenge(struct app *app, const char *authz_id, int index,
                  const cJSON *chall, struct acme_resp *resp)
{
    cJSON *view = challenge_render(app, authz_id, index, chall);
    char url[HTTP_MAX_URL];
    ap_err rc;

    if (view == NULL) {
        return AP_ENOMEM;
    }
    rc = acme_resp_json(resp, 200, view);
    cJSON_Delete(view);
    app_url(app, url, sizeof(url), PATH_AUTHZ, authz_id);
    acme_resp_link(resp, url, "up");
    if (strcmp(json_str(chall, "status", ""), "processing") == 0 ||
        strcmp(json_str(chall, "status", ""), "pending") == 0) {
        resp->retry_after = 1;
    }
    return rc;
}

/* Starts validation of a pending challenge; *started when a job was
 * queued. */
static ap_err
start_validation(struct app *app, const char *authz_id, int index,
                 bool *started)
{
    struct store_txn *txn = NULL;
    cJSON *authz = NULL;
    cJSON *chall;
    char target[JOB_MAX_ID];
    char job_id[JOB_MAX_ID];
    ap_err rc;

    *started = false;
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_AUTHZS, authz_id, &authz);
    }
    if (rc != AP_OK) {
        goto out;
    }
    chall = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(authz, "challenges"), index);
    if (chall == NULL ||
        strcmp(authz_status_now(authz, time_now()), "pending") != 0 ||
        strcmp(json_str(chall, "status", ""), "pending") != 0) {
        goto out; /* nothing to start: answer the current state */
    }
    rc = json_set_str(chall, "status", "processing");
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_AUTHZS, authz_id, authz, false);
    }
    snprintf(target, sizeof(target), "%s/%d", authz_id, index);
    if (rc == AP_OK) {
        rc = jobs_put(txn, JOB_VALIDATE, target, 0, 0, job_id,
                      sizeof(job_id));
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    if (rc == AP_OK) {
        jobs_kick(app->jobs, job_id, 0);
        *started = true;
    }
out:
    store_abort(txn);
    cJSON_Delete(authz);
    return rc;
}

ap_err
challenge_post(struct app *app, const struct acme_req *req, const char *id,
               struct acme_resp *resp)
{
    struct jws_msg msg;
    cJSON *authz = NULL;
    const cJSON *chall;
    char authz_id[JWS_MAX_ID + 1];
    int index = 0;
    bool started = false;
    ap_err rc;

    if (!parse_chall_id(id, authz_id, sizeof(authz_id), &index)) {
        problem_set(resp, PROB_NOT_FOUND, "no such challenge");
        return AP_OK;
    }
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    rc = resource_load_owned(app, STORE_AUTHZS, authz_id, msg.account_id,
                             resp, &authz);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(authz,
                                                            "challenges"),
                           index) == NULL) {
        problem_set(resp, PROB_NOT_FOUND, "no such challenge");
        goto out;
    }
    /* RFC 8555 §7.5.1: any JSON object (normally {}) asks for validation;
     * POST-as-GET only reads. */
    if (!msg.post_as_get) {
        long long deadline = time_mono_ms() + app->cfg->acme.wait_ms;
        unsigned long long gen = jobs_generation(app->jobs);

        rc = start_validation(app, authz_id, index, &started);
        if (rc != AP_OK) {
            goto out;
        }
        for (;;) {
            cJSON *fresh = NULL;
            struct store_txn *txn = NULL;

            rc = store_begin(app->st, false, &txn);
            if (rc == AP_OK) {
                rc = store_get_json(txn, STORE_AUTHZS, authz_id, &fresh);
            }
            store_abort(txn);
            if (rc != AP_OK) {
                goto out;
            }
            cJSON_Delete(authz);
            authz = fresh;
            chall = cJSON_GetArrayItem(
                cJSON_GetObjectItemCaseSensitive(authz, "challenges"), index);
            if (strcmp(json_str(chall, "status", ""), "processing") != 0 ||
                time_mono_ms() >= deadline) {
                break;
            }
            gen = jobs_wait(app->jobs, gen, deadline);
        }
    }
    chall = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(authz, "challenges"), index);
    rc = respond_challenge(app, authz_id, index, chall, resp);
out:
    cJSON_Delete(authz);
    jws_msg_fini(&msg);
    return rc;
}
