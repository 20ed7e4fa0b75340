/* proxy/validate.c: running a challenge's validator and recording its
 * outcome (validate.h). */
#include "proxy/validate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/netpolicy.h"
#include "common/timeutil.h"
#include "proxy/audit.h"
#include "proxy/ident.h"
#include "proxy/metrics.h"
#include "proxy/problem.h"
#include "proxy/ratelimit.h"
#include "proxy/rec_account.h"
#include "proxy/rec_authz.h"
#include "proxy/status.h"

#define VALIDATE_BUSY_DELAY_SEC 1  /* a job over a limit waits this long */
#define VALIDATE_MAX_RUNNING 64    /* distinct identifiers tracked */
#define VALIDATE_LOG_EVIDENCE 700  /* evidence bytes in one log line */

/* ---- the validators --------------------------------------------------- */

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

/* ---- concurrency limits ------------------------------------------------ */

static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[IDENT_MAX_DNS + 1];
    unsigned n;
} running[VALIDATE_MAX_RUNNING];
static unsigned running_total;

/* Counts one validation of name in, unless a limit is reached. */
static bool
limit_enter(const struct config *cfg, const char *name)
{
    size_t free_slot = VALIDATE_MAX_RUNNING;
    size_t slot = VALIDATE_MAX_RUNNING;
    bool ok = false;

    pthread_mutex_lock(&limit_lock);
    for (size_t i = 0; i < VALIDATE_MAX_RUNNING; i++) {
        if (running[i].n == 0) {
            free_slot = free_slot < i ? free_slot : i;
        } else if (strcmp(running[i].name, name) == 0) {
            slot = i;
        }
    }
    if (running_total >= cfg->validation.max_concurrent) {
        goto out;
    }
    if (slot == VALIDATE_MAX_RUNNING) {
        if (free_slot == VALIDATE_MAX_RUNNING) {
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
    for (size_t i = 0; i < VALIDATE_MAX_RUNNING; i++) {
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
    char authz_id[REC_MAX_ID + 1];
    size_t index;
    char ident_type[8];         /* "dns" or "ip" */
    char name[IDENT_MAX_DNS + 1];
    char type[REC_MAX_ID + 1];  /* challenge type */
    char token[128];
    char keyauth[256];
};

/* Loads what validation needs: identifier, token, key authorization.
 * AP_ENOTFOUND when the challenge is gone or no longer processing. */
static ap_err
load_challenge(struct app *app, struct chall_job *cj)
{
    struct store_txn *txn = NULL;
    struct authz a;
    struct account acct;
    const struct challenge *c;
    const char *tok;
    ap_err rc;

    memset(&a, 0, sizeof(a));
    memset(&acct, 0, sizeof(acct));
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = rec_authz_get(txn, cj->authz_id, &a);
    }
    if (rc == AP_OK) {
        rc = rec_account_get(txn, a.account, &acct);
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (cj->index >= a.n_challs ||
        a.challs[cj->index].status != CHALL_PROCESSING) {
        rc = AP_ENOTFOUND;
        goto out;
    }
    c = &a.challs[cj->index];
    snprintf(cj->ident_type, sizeof(cj->ident_type), "%s",
             a.ident.type[0] != '\0' ? a.ident.type : "dns");
    snprintf(cj->name, sizeof(cj->name), "%s",
             a.ident.value != NULL ? a.ident.value : "");
    snprintf(cj->type, sizeof(cj->type), "%s", c->type);
    tok = rec_authz_chall_token(&a, c, cj->token, sizeof(cj->token));
    if (tok == NULL) {
        rc = AP_ESTORE;     /* a record with neither token nor seed */
        goto out;
    }
    if (tok != cj->token) {
        snprintf(cj->token, sizeof(cj->token), "%s", tok);
    }
    /* RFC 8555 §8.1: keyAuthorization = token || '.' || thumbprint. */
    snprintf(cj->keyauth, sizeof(cj->keyauth), "%s.%s", cj->token,
             acct.thumbprint);
out:
    store_abort(txn);
    rec_authz_fini(&a);
    rec_account_fini(&acct);
    return rc;
}

/* The audit line of one validation attempt, with its evidence. */
static ap_err
audit_validation(struct app *app, struct store_txn *txn, const char *job_id,
                 const struct authz *a, const struct challenge *c,
                 const struct val_outcome *vo)
{
    struct rec_writer w = { AP_OK };
    cJSON *f = rec_write_object(&w);

    rec_put_str(&w, f, "authz", a->id);
    rec_put_str(&w, f, "order", a->order);
    rec_put_str(&w, f, "account", a->account);
    rec_put_str(&w, f, "type", c->type);
    rec_put_ident(&w, f, "identifier", &a->ident);
    rec_put_str(&w, f, "result", vo->valid ? "valid" : "invalid");
    if (vo->address[0] != '\0') {
        rec_put_str(&w, f, "address", vo->address);
    }
    rec_put_tree(&w, f, "evidence", vo->evidence);
    if (!vo->valid) {
        rec_put_item(&w, f, "error", problem_object(vo->problem, vo->detail));
    }
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return w.rc;
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
    struct rec_problem *err = NULL;
    struct challenge *c;
    struct authz a;
    char fail_key[300];
    ap_err rc;

    memset(&a, 0, sizeof(a));
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = rec_authz_get(txn, cj->authz_id, &a);
    }
    if (rc != AP_OK) {
        goto out;
    }
    c = rec_authz_chall(&a, cj->index);
    if (c == NULL) {
        /* Another challenge decided the authorization meanwhile and this
         * one went with it (rec_authz.h): only the job is left to end. */
        rc = jobs_del(txn, job_id);
        if (rc == AP_OK) {
            rc = store_commit(txn);
            txn = NULL;
        }
        goto out;
    }
    if (!vo->valid) {
        rc = rec_problem_new(problem_urn(vo->problem), vo->detail,
                             problem_status(vo->problem), &err);
    }
    if (rc == AP_OK) {
        rc = status_challenge_outcome(&a, cj->index, vo->valid, err,
                                      time_now());
    }
    if (rc == AP_OK && vo->address[0] != '\0') {
        rc = rec_set_str(&c->address, vo->address);
    }
    if (rc == AP_OK && vo->evidence != NULL) {
        /* Kept with the challenge: what was asked, where, what came back
         * (the shape of Let's Encrypt's validationRecord). */
        cJSON *copy = cJSON_Duplicate(vo->evidence, 1);

        rc = copy != NULL ? AP_OK : AP_ENOMEM;
        if (rc == AP_OK) {
            cJSON_Delete(c->validation_record);
            c->validation_record = copy;
        }
    }
    if (rc == AP_OK) {
        rc = rec_authz_put(txn, cj->authz_id, &a, false);
    }
    if (rc == AP_OK) {
        rc = order_update_from_authz(txn, a.order, &a);
    }
    if (rc == AP_OK) {
        rc = jobs_del(txn, job_id);
    }
    if (rc == AP_OK) {
        rc = audit_validation(app, txn, job_id, &a, c, vo);
    }
    if (rc == AP_OK && given_up != NULL) {
        rc = audit_event(app->audit, txn, "job.abandoned", job_id, given_up);
        given_up = NULL;
    }
    /* [ratelimit] failed_validations_per_identifier_hour counts these:
     * shared counts in this transaction, in-memory ones after it. */
    snprintf(fail_key, sizeof(fail_key), "fail:%s",
             a.ident.value != NULL ? a.ident.value : "");
    if (rc == AP_OK && !vo->valid) {
        rc = ratelimit_note_in(app->limits, txn, fail_key);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    if (rc == AP_OK && !vo->valid) {
        ratelimit_note(app->limits, fail_key);
    }
out:
    store_abort(txn);
    rec_problem_free(err);
    rec_authz_fini(&a);
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
    cj->index = (size_t)v;
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
    struct rec_writer w = { AP_OK };
    struct val_outcome vo;
    cJSON *f;
    ap_err rc;

    memset(&vo, 0, sizeof(vo));
    val_fail(&vo, PROB_SERVER_INTERNAL, "the validation was given up: the "
             "proxy died %u times while it ran (%u of them of a fault)",
             job->starts - 1,
             job->faults);
    log_err("validate", "authz=%s name=%s: %s", cj->authz_id, cj->name,
            vo.detail);
    f = rec_write_object(&w);
    rec_put_str(&w, f, "job", job->id);
    rec_put_str(&w, f, "kind", "validate");
    rec_put_str(&w, f, "authz", cj->authz_id);
    rec_put_str(&w, f, "identifier", cj->name);
    rec_put_int(&w, f, "starts", job->starts - 1);
    rec_put_int(&w, f, "faults", job->faults);
    rec_put_str(&w, f, "reason", vo.detail);
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return jobs_backoff_ms(job);
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
validate_run(struct app *app, const struct job *job)
{
    const char *job_id = job->id;
    struct chall_job cj;
    struct val_outcome vo;
    char evidence[VALIDATE_LOG_EVIDENCE + 1] = "";
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
                  cj.authz_id, cj.name, VALIDATE_BUSY_DELAY_SEC);
        jobs_defer(app->jobs, job, VALIDATE_BUSY_DELAY_SEC * 1000LL);
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
        ev = json_print(vo.evidence);
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
