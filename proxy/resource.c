/* proxy/resource.c: helpers every resource shares. */
#include "proxy/resource.h"

#include <stdio.h>
#include <string.h>

#include "common/id.h"
#include "common/json.h"
#include "proxy/problem.h"
#include "proxy/ratelimit.h"

void
app_url(const struct app *app, char *out, size_t outlen, const char *path,
        const char *id)
{
    snprintf(out, outlen, "%s%s%s", app->base, path, id ? id : "");
}

ap_err
resource_load_owned(struct app *app, enum store_table t, const char *id,
                    const char *account_id, struct acme_resp *resp,
                    cJSON **out)
{
    struct store_txn *txn = NULL;
    cJSON *rec = NULL;
    ap_err rc;

    *out = NULL;
    if (!id_is_valid(id)) {
        problem_set(resp, PROB_NOT_FOUND, "no such resource");
        return AP_OK;
    }
    rc = store_begin(app->st, false, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    rc = store_get_json(txn, t, id, &rec);
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        problem_set(resp, PROB_NOT_FOUND, "no such resource");
        return AP_OK;
    }
    if (rc != AP_OK) {
        return rc;
    }
    if (strcmp(json_str(rec, "account", ""), account_id) != 0) {
        cJSON_Delete(rec);
        problem_set(resp, PROB_UNAUTHORIZED,
                    "this resource belongs to another account");
        return AP_OK;
    }
    *out = rec;
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
