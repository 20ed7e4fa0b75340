/* proxy/resource.c: helpers every resource shares (resource.h). */
#include "proxy/resource.h"

#include <stdio.h>
#include <string.h>

#include "common/id.h"
#include "proxy/problem.h"
#include "proxy/ratelimit.h"

bool
resource_id_ok(const char *id, struct acme_resp *resp)
{
    if (!id_is_valid(id)) {
        problem_set(resp, PROB_NOT_FOUND, "no such resource");
        return false;
    }
    return true;
}

ap_err
resource_owned(ap_err rc, const char *owner, const char *account_id,
               struct acme_resp *resp)
{
    if (rc == AP_ENOTFOUND) {
        problem_set(resp, PROB_NOT_FOUND, "no such resource");
        return AP_OK;
    }
    if (rc != AP_OK) {
        return rc;
    }
    if (strcmp(owner, account_id) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "this resource belongs to another account");
    }
    return AP_OK;
}

bool
rate_ok(struct app *app, struct acme_resp *resp, const char *prefix,
        const char *who, unsigned limit, const char *limit_name, bool count)
{
    char key[160];
    unsigned retry = 0;

    if (limit == 0) {
        return true;
    }
    snprintf(key, sizeof(key), "%s%s", prefix, who);
    if (ratelimit_take(app->limits, key, limit, count, &retry)) {
        return true;
    }
    problem_set(resp, PROB_RATE_LIMITED,
                "rate limit [ratelimit] %s = %u reached for %.100s", limit_name,
                limit, who);
    resp->retry_after = retry > 0 ? retry : 1;
    return false;
}

ap_err
rate_ok_in(struct app *app, struct store_txn *txn, struct acme_resp *resp,
           const char *prefix, const char *who, unsigned limit,
           const char *limit_name, bool count, bool *ok)
{
    char key[160];
    unsigned retry = 0;
    ap_err rc;

    *ok = true;
    if (limit == 0) {
        return AP_OK;
    }
    snprintf(key, sizeof(key), "%s%s", prefix, who);
    rc = ratelimit_take_in(app->limits, txn, key, limit, count, ok, &retry);
    if (rc != AP_OK || *ok) {
        return rc;
    }
    problem_set(resp, PROB_RATE_LIMITED,
                "rate limit [ratelimit] %s = %u reached for %.100s", limit_name,
                limit, who);
    resp->retry_after = retry > 0 ? retry : 1;
    return AP_OK;
}
