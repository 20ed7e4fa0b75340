/* proxy/challenge.c: authorization records with their challenges, and the
 * validator job (runs on validator threads).
 *
 * A job reads the challenge and the account's key thumbprint in one short
 * read transaction, validates with no transaction open (validators in
 * val_http01.c, val_dns01.c, val_tlsalpn01.c), then records the outcome
 * and its evidence (challenge, authorization, order) and removes the job
 * in one write transaction. The concurrency limits ([validation]
 * max_concurrent, max_per_identifier) are the one piece of process-wide
 * mutable state here: a small table under a mutex, since validator
 * threads of one process are all that share it. */
#include "proxy/resource.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/netpolicy.h"
#include "common/resolve.h"
#include "common/timeutil.h"
#include "proxy/audit.h"
#include "proxy/ident.h"
#include "proxy/jobs.h"
#include "proxy/problem.h"
#include "proxy/ratelimit.h"
#include "proxy/validate.h"
#include "proxy/metrics.h"

#define CHALLENGE_BUSY_DELAY_SEC 1  /* a job over a limit waits this long */
#define CHALLENGE_MAX_RUNNING 64    /* distinct identifiers tracked */
#define CHALLENGE_LOG_EVIDENCE 700  /* evidence bytes in one log line */

/* RFC 8555 §7.1.3, RFC 8738 §7: which challenges each identifier gets. A
 * wildcard can only be proven in the DNS; an IP address has no DNS name
 * of its own to put a TXT record under. */
static const char *const chall_dns[] = { "http-01", "dns-01", "tls-alpn-01",
                                         NULL };
static const char *const chall_wild[] = { "dns-01", NULL };
static const char *const chall_ip[] = { "http-01", "tls-alpn-01", NULL };

ap_err
challenge_new_authz(const struct app *app, const char *id,
                    const char *account, const char *order,
                    const cJSON *ident, long long expires, cJSON **out)
{
    const char *type = json_str(ident, "type", "");
    const char *value = json_str(ident, "value", "");
    const char *const *offer = chall_dns;
    bool wildcard = false;
    cJSON *a = NULL;
    cJSON *id_obj;
    cJSON *chs;
    ap_err rc = AP_ENOMEM;

    (void)app;
    if (strcmp(type, "ip") == 0) {
        offer = chall_ip;
    } else if (strncmp(value, "*.", 2) == 0) {
        /* The authorization is for the base name (RFC 8555 §7.1.4). */
        offer = chall_wild;
        wildcard = true;
        value += 2;
    }
    a = cJSON_CreateObject();
    id_obj = cJSON_CreateObject();
    if (a == NULL || id_obj == NULL) {
        cJSON_Delete(id_obj);
        goto out;
    }
    cJSON_AddItemToObject(a, "identifier", id_obj);
    if (cJSON_AddStringToObject(id_obj, "type", type) == NULL ||
        cJSON_AddStringToObject(id_obj, "value", value) == NULL ||
        cJSON_AddNumberToObject(a, "v", 1) == NULL ||
        cJSON_AddStringToObject(a, "id", id) == NULL ||
        cJSON_AddStringToObject(a, "account", account) == NULL ||
        cJSON_AddStringToObject(a, "order", order) == NULL ||
        cJSON_AddStringToObject(a, "status", "pending") == NULL ||
        cJSON_AddNumberToObject(a, "expires", (double)expires) == NULL ||
        (wildcard && cJSON_AddTrueToObject(a, "wildcard") == NULL)) {
        goto out;
    }
    chs = cJSON_AddArrayToObject(a, "challenges");
    if (chs == NULL) {
        goto out;
    }
    for (size_t i = 0; offer[i] != NULL; i++) {
        char token[TOKEN_LEN + 1];
        cJSON *ch;

        /* A token per challenge (RFC 8555 §8.3-8.4 each carry one). */
        rc = id_token(token, sizeof(token));
        if (rc != AP_OK) {
            goto out;
        }
        rc = AP_ENOMEM;
        ch = cJSON_CreateObject();
        if (ch == NULL) {
            goto out;
        }
        cJSON_AddItemToArray(chs, ch);
        if (cJSON_AddStringToObject(ch, "type", offer[i]) == NULL ||
            cJSON_AddStringToObject(ch, "status", "pending") == NULL ||
            cJSON_AddStringToObject(ch, "token", token) == NULL) {
            goto out;
        }
    }
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        cJSON_Delete(a);
        a = NULL;
    }
    *out = a;
    return rc;
}

/* ---- shared by the validators ----------------------------------------- */

static const struct validator_ops *const validators[] = {
    &validator_http01,
    &validator_dns01,
    &validator_tlsalpn01,
    NULL,
};

const struct validator_ops *
validator_find(const char *type)
{
    for (size_t i = 0; validators[i] != NULL; i++) {
        if (strcmp(validators[i]->type, type) == 0) {
            return validators[i];
        }
    }
    return NULL;
}

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

/* ---- concurrency limits ------------------------------------------------ */

static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[IDENT_MAX_DNS + 1];
    unsigned n;
} running[CHALLENGE_MAX_RUNNING];
static unsigned running_total;

/* Counts one validation of name in, unless a limit is reached. */
static bool
limit_enter(const struct config *cfg, const char *name)
{
    size_t free_slot = CHALLENGE_MAX_RUNNING;
    size_t slot = CHALLENGE_MAX_RUNNING;
    bool ok = false;

    pthread_mutex_lock(&limit_lock);
    for (size_t i = 0; i < CHALLENGE_MAX_RUNNING; i++) {
        if (running[i].n == 0) {
            free_slot = free_slot < i ? free_slot : i;
        } else if (strcmp(running[i].name, name) == 0) {
            slot = i;
        }
    }
    if (running_total >= cfg->validation.max_concurrent) {
        goto out;
    }
    if (slot == CHALLENGE_MAX_RUNNING) {
        if (free_slot == CHALLENGE_MAX_RUNNING) {
            goto out;
        }
        slot = free_slot;
        snprintf(running[slot].name, sizeof(running[slot].name), "%s",
                 name);
    } else if (running[slot].n >= cfg->validation.max_per_identifier) {
        goto out;
    }
    running[slot].n++;
    running_total++;
    ok = true;
out:
    pthread_mutex_unlock(&limit_lock);
    return ok;
}

static void
limit_leave(const char *name)
{
    pthread_mutex_lock(&limit_lock);
    for (size_t i = 0; i < CHALLENGE_MAX_RUNNING; i++) {
        if (running[i].n > 0 && strcmp(running[i].name, name) == 0) {
            running[i].n--;
            running_total--;
            break;
        }
    }
    pthread_mutex_unlock(&limit_lock);
}

/* ---- the job ------------------------------------------------------------ */

/* What one validation job needs, copied out of the store. */
struct chall_job {
    char authz_id[64];
    int index;
    char ident_type[8];         /* "dns" or "ip" */
    char name[IDENT_MAX_DNS + 1];
    char type[32];              /* challenge type */
    char token[128];
    char keyauth[256];
};

/* Loads what validation needs: identifier, token, key authorization.
 * AP_ENOTFOUND when the challenge is gone or no longer processing. */
static ap_err
load_challenge(struct app *app, struct chall_job *cj)
{
    struct store_txn *txn = NULL;
    cJSON *authz = NULL;
    cJSON *acct = NULL;
    const cJSON *chall;
    const cJSON *ident;
    ap_err rc;

    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_AUTHZS, cj->authz_id, &authz);
    }
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ACCOUNTS,
                            json_str(authz, "account", ""), &acct);
    }
    if (rc != AP_OK) {
        goto out;
    }
    chall = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(authz, "challenges"), cj->index);
    if (chall == NULL ||
        strcmp(json_str(chall, "status", ""), "processing") != 0) {
        rc = AP_ENOTFOUND;
        goto out;
    }
    ident = cJSON_GetObjectItemCaseSensitive(authz, "identifier");
    snprintf(cj->ident_type, sizeof(cj->ident_type), "%s",
             json_str(ident, "type", "dns"));
    snprintf(cj->name, sizeof(cj->name), "%s", json_str(ident, "value", ""));
    snprintf(cj->type, sizeof(cj->type), "%s", json_str(chall, "type", ""));
    snprintf(cj->token, sizeof(cj->token), "%s",
             json_str(chall, "token", ""));
    /* RFC 8555 §8.1: keyAuthorization = token || '.' || thumbprint. */
    snprintf(cj->keyauth, sizeof(cj->keyauth), "%s.%s", cj->token,
             json_str(acct, "thumbprint", ""));
out:
    store_abort(txn);
    cJSON_Delete(authz);
    cJSON_Delete(acct);
    return rc;
}

/* The audit line of one validation attempt, with its evidence. */
static ap_err
audit_validation(struct app *app, struct store_txn *txn, const char *job_id,
                 const cJSON *authz, const cJSON *chall,
                 const struct val_outcome *vo)
{
    cJSON *f = cJSON_CreateObject();

    if (f == NULL) {
        return AP_ENOMEM;
    }
    cJSON_AddStringToObject(f, "authz", json_str(authz, "id", ""));
    cJSON_AddStringToObject(f, "order", json_str(authz, "order", ""));
    cJSON_AddStringToObject(f, "account", json_str(authz, "account", ""));
    cJSON_AddStringToObject(f, "type", json_str(chall, "type", ""));
    cJSON_AddItemToObject(
        f, "identifier",
        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(authz, "identifier"),
                        1));
    cJSON_AddStringToObject(f, "result", vo->valid ? "valid" : "invalid");
    if (vo->address[0] != '\0') {
        cJSON_AddStringToObject(f, "address", vo->address);
    }
    if (vo->evidence != NULL) {
        cJSON_AddItemToObject(f, "evidence", cJSON_Duplicate(vo->evidence, 1));
    }
    if (!vo->valid) {
        cJSON_AddItemToObject(f, "error",
                              problem_object(vo->problem, vo->detail));
    }
    return audit_event(app->audit, txn, "validation", job_id, f);
}

/* Records the outcome of a validation (or of giving it up: given_up, the
 * job.abandoned fields, taken) and ends the job, in one transaction. */
static ap_err
record_outcome(struct app *app, const char *job_id,
               const struct chall_job *cj, const struct val_outcome *vo,
               cJSON *given_up)
{
    struct store_txn *txn = NULL;
    cJSON *authz = NULL;
    cJSON *chall;
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_AUTHZS, cj->authz_id, &authz);
    }
    if (rc != AP_OK) {
        goto out;
    }
    chall = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(authz, "challenges"), cj->index);
    if (chall == NULL) {
        rc = AP_EINTERNAL;
        goto out;
    }
    rc = json_set_str(chall, "status", vo->valid ? "valid" : "invalid");
    if (rc == AP_OK) {
        rc = json_set_num(chall, "validated", time_now());
    }
    if (rc == AP_OK && vo->address[0] != '\0') {
        rc = json_set_str(chall, "address", vo->address);
    }
    if (rc == AP_OK && vo->evidence != NULL) {
        /* Kept with the challenge: what was asked, where, what came back
         * (the shape of Let's Encrypt's validationRecord). */
        cJSON_DeleteItemFromObjectCaseSensitive(chall, "validationRecord");
        cJSON_AddItemToObject(chall, "validationRecord",
                              cJSON_Duplicate(vo->evidence, 1));
    }
    if (rc == AP_OK && !vo->valid) {
        cJSON_DeleteItemFromObjectCaseSensitive(chall, "error");
        cJSON_AddItemToObject(chall, "error",
                              problem_object(vo->problem, vo->detail));
    }
    /* RFC 8555 §7.1.6: one valid challenge makes the authorization valid;
     * a failed one makes it invalid. An authorization that expired while
     * the validator ran stays expired. */
    if (rc == AP_OK &&
        strcmp(authz_status_now(authz, time_now()), "pending") == 0) {
        rc = json_set_str(authz, "status", vo->valid ? "valid" : "invalid");
    }
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_AUTHZS, cj->authz_id, authz, false);
    }
    if (rc == AP_OK) {
        rc = order_update_from_authz(txn, json_str(authz, "order", ""));
    }
    if (rc == AP_OK) {
        rc = jobs_del(txn, job_id);
    }
    if (rc == AP_OK) {
        rc = audit_validation(app, txn, job_id, authz, chall, vo);
    }
    if (rc == AP_OK && given_up != NULL) {
        rc = audit_event(app->audit, txn, "job.abandoned", job_id, given_up);
        given_up = NULL;
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    /* [ratelimit] failed_validations_per_identifier_hour counts these. */
    if (rc == AP_OK && !vo->valid) {
        char key[300];

        snprintf(key, sizeof(key), "fail:%s",
                 json_str(cJSON_GetObjectItemCaseSensitive(authz,
                                                           "identifier"),
                          "value", ""));
        ratelimit_note(app->limits, key);
    }
out:
    store_abort(txn);
    cJSON_Delete(authz);
    cJSON_Delete(given_up);
    return rc;
}

/* Ends a job with nothing to do. JOB_DONE, or a backoff when the store
 * refused. */
static long long
drop_job(struct app *app, const struct job *job)
{
    struct store_txn *txn = NULL;
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = jobs_del(txn, job->id);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    if (rc != AP_OK) {
        log_err("validate", "dropping job %s failed: %s", job->id,
                ap_strerror(rc));
        return jobs_backoff_ms(job);
    }
    return JOB_DONE;
}

/* Parses "<authz id>/<index>" of a validation job id. */
static bool
parse_target(const char *job_id, struct chall_job *cj)
{
    enum job_kind kind;
    const char *target;
    const char *slash;
    char *end = NULL;
    long v;

    if (jobs_parse_id(job_id, &kind, &target) != AP_OK ||
        kind != JOB_VALIDATE) {
        return false;
    }
    slash = strchr(target, '/');
    if (slash == NULL || slash == target ||
        (size_t)(slash - target) >= sizeof(cj->authz_id)) {
        return false;
    }
    v = strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end != '\0' || v < 0 || v > 16) {
        return false;
    }
    snprintf(cj->authz_id, sizeof(cj->authz_id), "%.*s",
             (int)(slash - target), target);
    cj->index = (int)v;
    return true;
}

static void
run_validator(struct app *app, const struct chall_job *cj,
              struct val_outcome *vo)
{
    const struct validator_ops *ops = validator_find(cj->type);
    struct netpolicy *policy = NULL;
    struct val_input in;
    char err[256];

    if (ops == NULL) {
        val_fail(vo, PROB_SERVER_INTERNAL, "unknown challenge type %.32s",
                 cj->type);
        return;
    }
    policy = malloc(sizeof(*policy));
    if (policy == NULL) {
        val_fail(vo, PROB_SERVER_INTERNAL, "out of memory");
        return;
    }
    /* Parsed per attempt (a few entries, microseconds); config.c refused
     * a bad list at start. */
    if (netpolicy_init(policy, app->cfg->validation.allow,
                       app->cfg->validation.deny, err,
                       sizeof(err)) != AP_OK) {
        val_fail(vo, PROB_SERVER_INTERNAL, "[validation] %s", err);
        free(policy);
        return;
    }
    memset(&in, 0, sizeof(in));
    in.cfg = app->cfg;
    in.policy = policy;
    in.ident_type = cj->ident_type;
    in.name = cj->name;
    in.token = cj->token;
    in.keyauth = cj->keyauth;
    in.deadline_ms = time_mono_ms() + app->cfg->validation.timeout_ms;
    ops->run(&in, vo);
    free(policy);
}

#ifdef AP_TEST_HOOKS
/* Test builds only (Makefile: build/.../acmeproxy-hooks): with
 * ACMEPROXY_TEST_CRASH=validate:LABEL a validation of a name that starts
 * with LABEL. aborts the process, for the crash-loop test. */
static void
test_crash_hook(const char *name)
{
    const char *spec = getenv("ACMEPROXY_TEST_CRASH");

    if (spec != NULL && strncmp(spec, "validate:", 9) == 0 &&
        strncmp(name, spec + 9, strlen(spec + 9)) == 0 &&
        name[strlen(spec + 9)] == '.') {
        log_err("validate", "test hook: crashing on %s", name);
        abort();
    }
}
#endif

/* Gives up a validation that crashed the process or never reached an
 * outcome: the challenge becomes invalid (serverInternal). */
static long long
give_up(struct app *app, const struct job *job, const struct chall_job *cj)
{
    struct val_outcome vo;
    cJSON *f = cJSON_CreateObject();
    ap_err rc;

    memset(&vo, 0, sizeof(vo));
    val_fail(&vo, PROB_SERVER_INTERNAL, "the validation was given up: the "
             "proxy died %u times while it ran (%u of them of a fault)",
             job->starts - 1,
             job->faults);
    log_err("validate", "authz=%s name=%s: %s", cj->authz_id, cj->name,
            vo.detail);
    if (f != NULL) {
        cJSON_AddStringToObject(f, "job", job->id);
        cJSON_AddStringToObject(f, "kind", "validate");
        cJSON_AddStringToObject(f, "authz", cj->authz_id);
        cJSON_AddStringToObject(f, "identifier", cj->name);
        cJSON_AddNumberToObject(f, "starts", job->starts - 1);
        cJSON_AddNumberToObject(f, "faults", job->faults);
        cJSON_AddStringToObject(f, "reason", vo.detail);
    }
    rc = record_outcome(app, job->id, cj, &vo, f);
    if (rc != AP_OK) {
        log_err("validate", "giving up authz=%s failed: %s", cj->authz_id,
                ap_strerror(rc));
        return jobs_backoff_ms(job);
    }
    return JOB_DONE;
}

long long
challenge_run(struct app *app, const struct job *job)
{
    const char *job_id = job->id;
    struct chall_job cj;
    struct val_outcome vo;
    char evidence[CHALLENGE_LOG_EVIDENCE + 1] = "";
    char *ev = NULL;
    long long t0 = time_mono_ms();
    long long ms;
    ap_err rc;

    memset(&cj, 0, sizeof(cj));
    if (!parse_target(job_id, &cj)) {
        return drop_job(app, job);
    }
    rc = load_challenge(app, &cj);
    if (rc == AP_ENOTFOUND) {
        /* Gone or already decided: nothing to validate. */
        return drop_job(app, job);
    }
    if (rc != AP_OK) {
        return jobs_backoff_ms(job);
    }
    if (jobs_given_up(job)) {
        return give_up(app, job, &cj);
    }
    if (!limit_enter(app->cfg, cj.name)) {
        /* Over max_concurrent or max_per_identifier: the job comes back a
         * little later, its start not counted. */
        log_debug("validate", "authz=%s name=%s busy, retrying in %d s",
                  cj.authz_id, cj.name, CHALLENGE_BUSY_DELAY_SEC);
        jobs_defer(app->jobs, job, CHALLENGE_BUSY_DELAY_SEC * 1000LL);
        metrics_validation_busy();
        return JOB_DONE;
    }
#ifdef AP_TEST_HOOKS
    test_crash_hook(cj.name);
#endif
    memset(&vo, 0, sizeof(vo));
    run_validator(app, &cj, &vo);
    limit_leave(cj.name);
    ms = time_mono_ms() - t0;
    rc = record_outcome(app, job_id, &cj, &vo, NULL);
    if (rc != AP_OK) {
        log_err("validate", "recording outcome of authz=%s failed: %s",
                cj.authz_id, ap_strerror(rc));
        cJSON_Delete(vo.evidence);
        return jobs_backoff_ms(job);
    }
    if (vo.evidence != NULL) {
        ev = cJSON_PrintUnformatted(vo.evidence);
    }
    if (ev != NULL) {
        snprintf(evidence, sizeof(evidence), "%s", ev);
        cJSON_free(ev);
    }
    log_info("validate", "authz=%s type=%s name=%s result=%s address=%s "
             "ms=%lld evidence=%s%s%s", cj.authz_id, cj.type, cj.name,
             vo.valid ? "valid" : "invalid",
             vo.address[0] ? vo.address : "-", ms,
             evidence[0] ? evidence : "-", vo.valid ? "" : " detail=",
             vo.valid ? "" : vo.detail);
    metrics_validation(cj.type, vo.valid, ms);
    cJSON_Delete(vo.evidence);
    return JOB_DONE;
}
