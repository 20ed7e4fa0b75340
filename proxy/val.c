/* proxy/val.c: the checks the validators share (val.h). */
#include "proxy/val.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/resolve.h"
#include "common/timeutil.h"

void
val_fail(struct val_outcome *out, enum problem_type t, const char *fmt, ...)
{
    va_list ap;

    out->valid = false;
    out->problem = t;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
    va_end(ap);
}

unsigned
val_remaining_ms(long long deadline_ms)
{
    long long left = deadline_ms - time_mono_ms();

    return left > 0 ? (unsigned)left : 0;
}

cJSON *
val_evidence_add(struct val_outcome *out)
{
    cJSON *rec;

    if (out->evidence == NULL) {
        out->evidence = cJSON_CreateArray();
        if (out->evidence == NULL) {
            return NULL;
        }
    }
    rec = cJSON_CreateObject();
    if (rec != NULL) {
        cJSON_AddItemToArray(out->evidence, rec);
    }
    return rec;
}

static void
add_str_array(cJSON *rec, const char *key, char (*v)[46], size_t n)
{
    cJSON *arr;

    if (rec == NULL) {
        return;
    }
    arr = cJSON_AddArrayToObject(rec, key);
    for (size_t i = 0; arr != NULL && i < n; i++) {
        cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
    }
}

bool
val_addresses(const struct val_input *in, const char *host, bool host_is_ip,
              const char *what, cJSON *rec, char (*allowed)[46], size_t max,
              size_t *n, struct val_outcome *out)
{
    struct resolve_result r;
    char denied[RESOLVE_MAX_ADDRS][46];
    char why[160] = "";
    size_t n_denied = 0;
    ap_err rc;

    *n = 0;
    memset(&r, 0, sizeof(r));
    if (host_is_ip) {
        snprintf(r.addrs[0], sizeof(r.addrs[0]), "%s", host);
        r.n = 1;
    } else {
        unsigned left = val_remaining_ms(in->deadline_ms);

        if (left == 0) {
            val_fail(out, PROB_CONNECTION, "%s: the validation deadline of "
                     "%u ms passed before resolving %s", what,
                     in->cfg->validation.timeout_ms, host);
            return false;
        }
        rc = resolve_host(in->cfg->validation.resolver, host,
                          in->deadline_ms, &r);
        if (rc != AP_OK) {
            val_fail(out, PROB_DNS, "%s: %s", what, r.error);
            if (rec != NULL) {
                cJSON_AddStringToObject(rec, "dnsError", r.error);
            }
            return false;
        }
        add_str_array(rec, "addressesResolved", r.addrs, r.n);
    }
    /* Checked after every resolution: a name that resolves (again) to a
     * denied address never gets a connection, whatever it said before. */
    for (size_t i = 0; i < r.n; i++) {
        if (netpolicy_permits(in->policy, r.addrs[i], why, sizeof(why))) {
            if (*n < max) {
                memcpy(allowed[(*n)++], r.addrs[i], sizeof(allowed[0]));
            }
        } else {
            memcpy(denied[n_denied++], r.addrs[i], sizeof(denied[0]));
        }
    }
    if (n_denied > 0) {
        add_str_array(rec, "addressesDenied", denied, n_denied);
    }
    if (*n == 0) {
        val_fail(out, PROB_UNAUTHORIZED, "%s: no address of %s may be "
                 "validated: %s", what, host, why);
        return false;
    }
    return true;
}
