/* test/unit/test_service.c: what running as a service adds (issue 14):
 * the metrics (proxy/metrics.c: counters, histograms, fixed labels, the
 * metered adapter), the readiness verdict (proxy/adminsrv.c), the keys a
 * reload may not change (common/config.c), the journal's stream check
 * (common/log.c), and configuration snapshots (proxy/snapshot.c: build,
 * refusals, swap while a view is held). Every table row is its own cmocka
 * test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ca.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/log.h"
#include "proxy/adminsrv.h"
#include "proxy/app.h"
#include "proxy/issuer.h"
#include "proxy/metrics.h"
#include "proxy/problem.h"
#include "proxy/snapshot.h"

/* ---- helpers ------------------------------------------------------------- */

static char *
render(void)
{
    struct metrics_gauges g;
    struct buf b;

    memset(&g, 0, sizeof(g));
    g.store_map_bytes = 1000;
    g.store_used_bytes = 250;
    g.jobs_queued[1] = 7;
    g.store_commits = 600;
    g.store_batches = 100;
    g.store_batches_failed = 2;
    g.jobs_queued[2] = 3;
    g.job_workers[2] = 2;
    buf_init(&b, 4u << 20);
    assert_int_equal(metrics_render(&g, &b), AP_OK);
    return buf_take(&b);
}

/* The value of series (the whole "name{labels}" text) in text, or -1. */
static double
series(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *p = text;

    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            return strtod(p + n + 1, NULL);
        }
        p += n;
    }
    return -1;
}

/* ---- metrics: counting rows ---------------------------------------------- */

struct count_row {
    const char *name;
    void (*act)(void);
    const char *series;
    double delta;
};

static void act_new_order_201(void) { metrics_http(MR_NEW_ORDER, 201, -1, 12000); }
static void act_status_other(void) { metrics_http(MR_ORDER, 299, -1, 1); }
static void act_route_out_of_range(void) { metrics_http((enum metrics_route)99, 404, -1, 1); }
static void act_ratelimited(void) { metrics_http(MR_NEW_ACCOUNT, 429, PROB_RATE_LIMITED, 5); }
static void act_bad_nonce(void) { metrics_http(MR_ORDER, 400, PROB_BAD_NONCE, 5); }
static void act_problem_out_of_range(void) { metrics_http(MR_ORDER, 400, 4242, 5); }
static void act_order_valid(void) { metrics_issue_outcome(true, true, false); }
static void act_order_uncommitted(void) { metrics_issue_outcome(false, true, false); }
static void act_order_failed(void) { metrics_issue_outcome(true, false, true); }
static void act_order_bogus(void) { metrics_order("bogus"); }
static void act_validation_http(void) { metrics_validation("http-01", true, 40); }
static void act_validation_odd(void) { metrics_validation("x-99", false, 1); }
static void act_pki_unknown_adapter(void) { metrics_pki("mypki", "nosuchtype", "submit", "issued", 10); }
static void act_pki_named(void) { metrics_pki("old-ca", "ejbca", "submit", "issued", 10); }
static void act_pki_unknown_call(void) { metrics_pki("default", "vault", "frobnicate", "ok", 10); }
static void act_revoked(void) { metrics_cert_revoked(); }
static void act_reload_refused(void) { metrics_reload(false); }

static const struct count_row count_rows[] = {
    { "metrics_http_route_status", act_new_order_201,
      "acmeproxy_http_requests_total{route=\"new-order\",status=\"201\"}", 1 },
    { "metrics_http_latency_count", act_new_order_201,
      "acmeproxy_http_request_duration_seconds_count{route=\"new-order\"}", 1 },
    { "metrics_http_latency_bucket_le_25ms", act_new_order_201,
      "acmeproxy_http_request_duration_seconds_bucket{route=\"new-order\",le=\"0.025\"}", 1 },
    { "metrics_http_latency_not_in_10ms", act_new_order_201,
      "acmeproxy_http_request_duration_seconds_bucket{route=\"new-order\",le=\"0.01\"}", 0 },
    { "metrics_http_unknown_status_is_other", act_status_other,
      "acmeproxy_http_requests_total{route=\"order\",status=\"other\"}", 1 },
    { "metrics_http_bad_route_is_other", act_route_out_of_range,
      "acmeproxy_http_requests_total{route=\"other\",status=\"404\"}", 1 },
    { "metrics_ratelimit_refusal", act_ratelimited,
      "acmeproxy_ratelimit_refusals_total{route=\"new-account\"}", 1 },
    { "metrics_ratelimit_problem_type", act_ratelimited,
      "acmeproxy_http_problems_total{route=\"new-account\",type=\"rateLimited\"}", 1 },
    { "metrics_nonce_rejection", act_bad_nonce,
      "acmeproxy_nonce_rejections_total", 1 },
    { "metrics_problem_out_of_range_ignored", act_problem_out_of_range,
      "acmeproxy_nonce_rejections_total", 0 },
    { "metrics_issued_counts_cert", act_order_valid,
      "acmeproxy_certificates_issued_total", 1 },
    { "metrics_issued_counts_order_valid", act_order_valid,
      "acmeproxy_orders_total{status=\"valid\"}", 1 },
    { "metrics_uncommitted_outcome_not_counted", act_order_uncommitted,
      "acmeproxy_certificates_issued_total", 0 },
    { "metrics_failed_counts_order_invalid", act_order_failed,
      "acmeproxy_orders_total{status=\"invalid\"}", 1 },
    { "metrics_unknown_order_status_ignored", act_order_bogus,
      "acmeproxy_orders_total{status=\"pending\"}", 0 },
    { "metrics_validation_by_type_result", act_validation_http,
      "acmeproxy_validations_total{type=\"http-01\",result=\"valid\"}", 1 },
    { "metrics_validation_latency", act_validation_http,
      "acmeproxy_validation_duration_seconds_bucket{type=\"http-01\",le=\"0.05\"}", 1 },
    { "metrics_validation_unknown_type_other", act_validation_odd,
      "acmeproxy_validations_total{type=\"other\",result=\"invalid\"}", 1 },
    { "metrics_pki_unknown_type_other", act_pki_unknown_adapter,
      "acmeproxy_pki_calls_total{adapter=\"mypki\",type=\"other\",call=\"submit\",outcome=\"issued\"}", 1 },
    { "metrics_pki_named_adapter_label", act_pki_named,
      "acmeproxy_pki_calls_total{adapter=\"old-ca\",type=\"ejbca\",call=\"submit\",outcome=\"issued\"}", 1 },
    { "metrics_pki_named_adapter_latency", act_pki_named,
      "acmeproxy_pki_call_duration_seconds_count{adapter=\"old-ca\",type=\"ejbca\",call=\"submit\"}", 1 },
    { "metrics_pki_unknown_call_ignored", act_pki_unknown_call,
      "acmeproxy_pki_calls_total{adapter=\"default\",type=\"vault\",call=\"submit\",outcome=\"ok\"}", -1 },
    { "metrics_revoked", act_revoked, "acmeproxy_certificates_revoked_total",
      1 },
    { "metrics_reload_refused", act_reload_refused,
      "acmeproxy_config_reloads_total{result=\"refused\"}", 1 },
};

/* delta -1: the series must not appear at all. */
static void
test_count(void **state)
{
    const struct count_row *r = *state;
    char *before = render();
    char *after;
    double b = series(before, r->series);

    r->act();
    after = render();
    if (r->delta < 0) {
        assert_true(series(after, r->series) < 0);
    } else {
        assert_true(series(after, r->series) >= 0);
        assert_true(series(after, r->series) - (b < 0 ? 0 : b) == r->delta);
    }
    free(before);
    free(after);
}

/* ---- metrics: the text format -------------------------------------------- */

static void
test_render_format(void **state)
{
    char *text;
    const char *p;

    (void)state;
    metrics_http(MR_DIRECTORY, 200, -1, 3000000); /* 3 s: the 5 s bucket */
    metrics_job_running(2, 1); /* a webhook delivery running */
    metrics_job_running(3, 1); /* no such kind: ignored */
    text = render();
    metrics_job_running(2, -1);
    /* Every family has HELP and TYPE; counters end in _total. */
    for (p = text; (p = strstr(p, "# TYPE ")) != NULL; p++) {
        const char *name = p + 7;
        const char *sp = strchr(name, ' ');
        char family[128];

        assert_non_null(sp);
        snprintf(family, sizeof(family), "%.*s", (int)(sp - name), name);
        if (strncmp(sp + 1, "counter", 7) == 0) {
            assert_non_null(strstr(family, "_total"));
        }
    }
    /* Histograms: cumulative buckets, count equals the +Inf bucket. */
    assert_true(series(text, "acmeproxy_http_request_duration_seconds_bucket"
                             "{route=\"directory\",le=\"2.5\"}") <
                series(text, "acmeproxy_http_request_duration_seconds_bucket"
                             "{route=\"directory\",le=\"5\"}"));
    assert_true(series(text, "acmeproxy_http_request_duration_seconds_bucket"
                             "{route=\"directory\",le=\"+Inf\"}") ==
                series(text, "acmeproxy_http_request_duration_seconds_count"
                             "{route=\"directory\"}"));
    assert_true(series(text, "acmeproxy_store_map_used_ratio") == 0.25);
    assert_true(series(text, "acmeproxy_jobs_queued{kind=\"issuance\"}") == 7);
    /* Webhook deliveries are a job kind of their own. */
    assert_true(series(text, "acmeproxy_jobs_queued{kind=\"webhook\"}") == 3);
    assert_true(series(text, "acmeproxy_job_workers{kind=\"webhook\"}") == 2);
    assert_true(series(text, "acmeproxy_jobs_running{kind=\"webhook\"}") == 1);
    /* The group commit's counters, as the store gave them. */
    assert_true(series(text, "acmeproxy_store_commits_total") == 600);
    assert_true(series(text, "acmeproxy_store_commit_batches_total") == 100);
    assert_true(series(text, "acmeproxy_store_commit_batches_failed_total") ==
                2);
    assert_non_null(strstr(text, "acmeproxy_build_info{version=\""));
    assert_non_null(strstr(text, "# TYPE acmeproxy_jobs_oldest_age_seconds gauge"));
    free(text);
}

static void
test_render_cap(void **state)
{
    struct metrics_gauges g;
    struct buf b;

    (void)state;
    memset(&g, 0, sizeof(g));
    buf_init(&b, 512);
    assert_int_equal(metrics_render(&g, &b), AP_ETOOBIG);
    buf_fini(&b);
}

/* ---- metrics: the metered adapter ---------------------------------------- */

static int fake_frees;
static int fake_submits;

static enum adapter_outcome
fake_submit(void *state, const struct adapter_request *req,
            struct adapter_result *res)
{
    (void)req;
    (void)res;
    assert_string_equal((const char *)state, "real state");
    fake_submits++;
    return ADAPTER_PENDING;
}

static ap_err
fake_health(void *state, char *errbuf, size_t errlen)
{
    (void)state;
    snprintf(errbuf, errlen, "down");
    return AP_ENET;
}

static void
fake_free(void *state)
{
    assert_string_equal((const char *)state, "real state");
    fake_frees++;
}

static void
test_adapter_wrap(void **state)
{
    static const char *const keys[] = { NULL };
    static const struct adapter_ops fake = {
        .abi = ADAPTER_ABI, .name = "vault", .caps = ADAPTER_CAP_CONCURRENT,
        .config_keys = keys, .submit = fake_submit, .health = fake_health,
        .free = fake_free,
    };
    const struct adapter_ops *mops = NULL;
    void *mstate = NULL;
    char real[] = "real state";
    char err[32];
    struct adapter_result res;
    char *before;
    char *after;
    const char *sub = "acmeproxy_pki_calls_total{adapter=\"new-ca\","
                      "type=\"vault\",call=\"submit\",outcome=\"pending\"}";
    const char *hl = "acmeproxy_pki_calls_total{adapter=\"new-ca\","
                     "type=\"vault\",call=\"health\",outcome=\"error\"}";
    double b_sub;
    double b_hl;

    (void)state;
    before = render();
    b_sub = series(before, sub);
    b_hl = series(before, hl);
    assert_int_equal(metrics_adapter_wrap("new-ca", &fake, real, &mops, &mstate),
                     AP_OK);
    assert_string_equal(mops->name, "vault");
    assert_int_equal(mops->caps, ADAPTER_CAP_CONCURRENT);
    assert_null(mops->poll);   /* absent stays absent */
    assert_null(mops->lookup);
    assert_null(mops->revoke);
    memset(&res, 0, sizeof(res));
    assert_int_equal(mops->submit(mstate, NULL, &res), ADAPTER_PENDING);
    assert_int_equal(fake_submits, 1);
    assert_int_equal(mops->health(mstate, err, sizeof(err)), AP_ENET);
    assert_string_equal(err, "down");
    after = render();
    assert_true(series(after, sub) - (b_sub < 0 ? 0 : b_sub) == 1);
    assert_true(series(after, hl) - (b_hl < 0 ? 0 : b_hl) == 1);
    metrics_adapter_free(mops, mstate);
    assert_int_equal(fake_frees, 1);
    free(before);
    free(after);
}

/* ---- readiness ------------------------------------------------------------- */

struct ready_row {
    const char *name;
    void (*tweak)(struct ready_facts *f);
    bool ready;
    const char *failing;  /* the check that fails, or NULL */
};

static void t_none(struct ready_facts *f) { (void)f; }
static void t_store(struct ready_facts *f) { f->store_ok = false; }
static void t_probe_failed(struct ready_facts *f) { f->adapters[0].ok = false; }
static void t_probe_slow(struct ready_facts *f) { f->adapters[0].ms = 6000; }
static void t_probe_hangs(struct ready_facts *f) { f->adapters[0].running_ms = 5001; }
static void t_probe_old(struct ready_facts *f) { f->adapters[0].age_ms = 36000; }
static void t_not_probed(struct ready_facts *f) { f->adapters[0].probed = false; }
static void t_no_probe(struct ready_facts *f)
{
    f->adapters[0].has_probe = false;
    f->adapters[0].ok = false;
}
/* A second adapter ("ejbca"), answering like the first. */
static void t_two(struct ready_facts *f)
{
    f->adapters[1] = f->adapters[0];
    snprintf(f->adapters[1].name, sizeof(f->adapters[1].name), "ejbca");
    f->n_adapters = 2;
}
static void t_two_second_fails(struct ready_facts *f)
{
    t_two(f);
    f->adapters[1].ok = false;
}
static void t_two_first_fails(struct ready_facts *f)
{
    t_two(f);
    f->adapters[0].running_ms = 9000;
}
static void t_two_both_fail(struct ready_facts *f)
{
    t_two(f);
    f->adapters[0].ok = false;
    f->adapters[1].probed = false;
}
static void t_no_adapter(struct ready_facts *f) { f->n_adapters = 0; }
static void t_job_old(struct ready_facts *f) { f->job_wait_ms[1] = 600000; }
static void t_job_young(struct ready_facts *f) { f->job_wait_ms[1] = 599999; }
static void t_jobs_unknown(struct ready_facts *f) { f->jobs_known = false; }
static void t_saturated(struct ready_facts *f)
{
    f->validators_busy = 4;
    f->job_wait_ms[0] = 30000;
}
static void t_busy_no_backlog(struct ready_facts *f)
{
    f->validators_busy = 4;
    f->job_wait_ms[0] = 29999;
}
static void t_backlog_idle(struct ready_facts *f)
{
    f->validators_busy = 3;
    f->job_wait_ms[0] = 60000;
}

static const struct ready_row ready_rows[] = {
    { "ready_all_good", t_none, true, NULL },
    { "ready_store_fails", t_store, false, "store" },
    { "ready_probe_failed", t_probe_failed, false, "adapter" },
    { "ready_probe_over_deadline", t_probe_slow, false, "adapter" },
    { "ready_probe_hangs", t_probe_hangs, false, "adapter" },
    { "ready_probe_stale", t_probe_old, false, "adapter" },
    { "ready_not_probed_yet", t_not_probed, false, "adapter" },
    { "ready_adapter_without_probe", t_no_probe, true, NULL },
    { "ready_two_adapters_good", t_two, true, NULL },
    { "ready_one_of_two_adapters_fails", t_two_second_fails, true, NULL },
    { "ready_default_of_two_adapters_hangs", t_two_first_fails, true, NULL },
    { "ready_both_adapters_fail", t_two_both_fail, false, "adapter" },
    { "ready_no_adapter", t_no_adapter, false, "adapter" },
    { "ready_oldest_job_at_bound", t_job_old, false, "jobs" },
    { "ready_oldest_job_under_bound", t_job_young, true, NULL },
    { "ready_queues_unreadable", t_jobs_unknown, false, "jobs" },
    { "ready_validators_saturated", t_saturated, false, "validators" },
    { "ready_validators_busy_no_backlog", t_busy_no_backlog, true, NULL },
    { "ready_validation_backlog_with_idle_worker", t_backlog_idle, true,
      NULL },
};

static void
test_ready(void **state)
{
    const struct ready_row *r = *state;
    static const char *const checks[] = { "store", "adapter", "jobs",
                                          "validators" };
    struct ready_facts f;
    cJSON *body = NULL;

    memset(&f, 0, sizeof(f));
    f.store_ok = true;
    snprintf(f.adapters[0].name, sizeof(f.adapters[0].name), "default");
    f.adapters[0].probed = true;
    f.adapters[0].has_probe = true;
    f.adapters[0].ok = true;
    f.adapters[0].ms = 20;
    f.adapters[0].age_ms = 1000;
    f.n_adapters = 1;
    f.probe_interval = 10;
    f.probe_timeout_ms = 5000;
    f.jobs_known = true;
    f.max_job_age = 600;
    f.validators = 4;
    f.max_validation_wait = 30;
    r->tweak(&f);
    assert_int_equal(adminsrv_ready(&f, &body), r->ready);
    assert_non_null(body);
    assert_string_equal(
        cJSON_GetObjectItem(body, "status")->valuestring,
        r->ready ? "ready" : "unready");
    for (size_t i = 0; i < 4; i++) {
        const cJSON *c = cJSON_GetObjectItem(
            cJSON_GetObjectItem(body, "checks"), checks[i]);
        bool want = r->failing == NULL || strcmp(r->failing, checks[i]) != 0;

        assert_non_null(c);
        assert_non_null(cJSON_GetObjectItem(c, "detail"));
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(c, "ok")), want);
    }
    /* Each adapter's own verdict, by name, is the one it gets alone; with
     * several, a failing one is named in the check's detail. */
    for (size_t i = 0; i < f.n_adapters; i++) {
        struct ready_facts one = f;
        cJSON *one_body = NULL;
        const cJSON *mine = cJSON_GetObjectItem(
            cJSON_GetObjectItem(body, "adapters"), f.adapters[i].name);
        const cJSON *alone;
        const char *detail = cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(body, "checks"),
                                "adapter"),
            "detail"));
        bool ok;

        one.adapters[0] = f.adapters[i];
        one.n_adapters = 1;
        (void)adminsrv_ready(&one, &one_body);
        alone = cJSON_GetObjectItem(
            cJSON_GetObjectItem(one_body, "checks"), "adapter");
        assert_non_null(mine);
        assert_non_null(alone);
        ok = cJSON_IsTrue(cJSON_GetObjectItem(mine, "ok"));
        assert_int_equal(ok, cJSON_IsTrue(cJSON_GetObjectItem(alone, "ok")));
        if (f.n_adapters > 1 && !ok) {
            assert_non_null(detail);
            assert_non_null(strstr(detail, f.adapters[i].name));
        }
        cJSON_Delete(one_body);
    }
    cJSON_Delete(body);
    assert_int_equal(adminsrv_ready(&f, NULL), r->ready);
}

/* ---- configuration: restart-only keys ------------------------------------ */

struct restart_row {
    const char *name;
    const char *extra;   /* appended to the base file */
    const char *key;     /* the named key; NULL: reloadable */
};

#define BASE_CONF                                                             \
    "[server]\nlisten = 127.0.0.1:14000\ndata_dir = %s\n"                     \
    "[adapter]\ntype = local\n"

static const struct restart_row restart_rows[] = {
    { "restart_listen", "[server]\nlisten = 127.0.0.1:14001\n",
      "[server] listen" },
    { "restart_base_url", "[server]\nbase_url = https://other:14000\n",
      "[server] base_url" },
    { "restart_map_size", "[server]\nmap_size_mb = 64\n",
      "[server] map_size_mb" },
    { "restart_threads", "[server]\nthreads = 8\n", "[server] threads" },
    { "restart_validation_workers", "[validation]\nworkers = 2\n",
      "[validation] workers" },
    { "restart_admin_listen", "[admin]\nlisten = 127.0.0.1:9999\n",
      "[admin] listen" },
    { "restart_audit_file", "[audit]\nfile = /tmp/x.log\n", "[audit] file" },
    { "restart_admin_tls", "[admin]\ntls_cert = /a.pem\ntls_key = /a.key\n",
      "[admin] tls_cert" },
    { "reload_policy", "[policy]\nallow_names = .corp.example\n", NULL },
    { "reload_ratelimit", "[ratelimit]\norders_per_account_hour = 5\n",
      NULL },
    { "reload_log_level", "[server]\nlog_level = debug\n", NULL },
    { "reload_tls_files", "[server]\ntls_cert = /a.pem\ntls_key = /a.key\n",
      NULL },
    { "reload_adapter_keys", "[adapter]\nvalidity_days = 7\n", NULL },
    { "reload_admin_bounds", "[admin]\nmax_job_age = 60\n", NULL },
};

static void
write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

static void
test_restart_key(void **state)
{
    const struct restart_row *r = *state;
    char path[] = "/tmp/test_service.XXXXXX";
    char text[1024];
    char key[96] = "";
    struct config a;
    struct config b;
    char err[256];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    close(fd);
    snprintf(text, sizeof(text), BASE_CONF, "/tmp/nowhere");
    write_text(path, text);
    assert_int_equal(config_load(path, &a, err, sizeof(err)), AP_OK);
    snprintf(text, sizeof(text), BASE_CONF "%s", "/tmp/nowhere", r->extra);
    write_text(path, text);
    assert_int_equal(config_load(path, &b, err, sizeof(err)), AP_OK);
    assert_int_equal(config_restart_key(&a, &b, key, sizeof(key)),
                     r->key != NULL);
    if (r->key != NULL) {
        assert_string_equal(key, r->key);
    }
    assert_false(config_restart_key(&a, &a, key, sizeof(key)));
    config_fini(&a);
    config_fini(&b);
    unlink(path);
}

/* ---- the journal's stream ------------------------------------------------ */

static void
test_journal_stream(void **state)
{
    char path[] = "/tmp/test_service_log.XXXXXX";
    char env[96];
    struct stat st;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    assert_true(log_journal_stream(env, fd));
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    assert_false(log_journal_stream(env, fd));
    snprintf(env, sizeof(env), "%llu:%llux", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    assert_false(log_journal_stream(env, fd));
    assert_false(log_journal_stream("", fd));
    assert_false(log_journal_stream(NULL, fd));
    assert_false(log_journal_stream("1:2", -1));
    close(fd);
    unlink(path);
}

/* ---- snapshots ------------------------------------------------------------ */

struct snapfix {
    const void *row;
    char dir[64];
    char path[96];
    struct config cfg;   /* the root's: what the process started with */
    struct app root;
};

static void
snap_write(struct snapfix *f, const char *extra)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "[server]\nlisten = 127.0.0.1:14000\ndata_dir = %s\n"
             "[adapter]\ntype = local\n%s", f->dir, extra);
    write_text(f->path, text);
}

static int
snap_setup(void **state)
{
    struct snapfix *f = calloc(1, sizeof(*f));
    char err[256];

    if (f == NULL) {
        return -1;
    }
    f->row = *state;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_service_snap.XXXXXX");
    if (mkdtemp(f->dir) == NULL || crypto_init() != AP_OK) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/p.conf", f->dir);
    snap_write(f, "[policy]\nallow_names = .one.test\n");
    if (config_load(f->path, &f->cfg, err, sizeof(err)) != AP_OK ||
        ca_open(f->dir, &f->root.ca, err, sizeof(err)) != AP_OK) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    f->root.cfg = &f->cfg;
    f->root.base = f->cfg.server.base_url;
    *state = f;
    return 0;
}

static int
snap_teardown(void **state)
{
    struct snapfix *f = *state;
    char cmd[160];

    snapshot_fini(&f->root);
    ca_free(f->root.ca);
    config_fini(&f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void
test_snapshot_swap(void **state)
{
    struct snapfix *f = *state;
    struct snapshot *s = NULL;
    struct app *v1;
    struct app *v2;
    char err[512];

    /* Without snapshots, the root is its own view. */
    assert_ptr_equal(app_acquire(&f->root), &f->root);
    app_release(&f->root);

    assert_int_equal(snapshot_build(&f->root, f->path, true, &s, err,
                                    sizeof(err)), AP_OK);
    assert_int_equal(snapshot_install(&f->root, s), AP_OK);
    v1 = app_acquire(&f->root);
    assert_ptr_not_equal(v1, &f->root);
    assert_ptr_equal(v1->snap, s);
    assert_string_equal(v1->policy->names[0], ".one.test");
    assert_string_equal(v1->adapter->name, "local");
    assert_non_null(v1->issuer);
    assert_ptr_equal(v1->ca, f->root.ca);

    /* A new policy: the held view keeps the old one, a new view gets the
     * new one; the old snapshot lives until v1 is released (ASan). */
    snap_write(f, "[policy]\nallow_names = .two.test\n");
    assert_int_equal(snapshot_build(&f->root, f->path, true, &s, err,
                                    sizeof(err)), AP_OK);
    assert_int_equal(snapshot_install(&f->root, s), AP_OK);
    v2 = app_acquire(&f->root);
    assert_string_equal(v1->policy->names[0], ".one.test");
    assert_string_equal(v2->policy->names[0], ".two.test");
    assert_true(v2->snap->generation == v1->snap->generation + 1);
    app_release(v1);
    assert_string_equal(v2->policy->names[0], ".two.test");
    app_release(v2);
}

/* Named adapters: each its own, the default first; an issuance view of a
 * named one; a reload that adds one adds its workers to the sum; an
 * unknown name has no view. */
static void
test_snapshot_named(void **state)
{
    struct snapfix *f = *state;
    struct snapshot *s = NULL;
    struct app *v;
    struct app pv;
    const struct app_pki *p;
    char err[512];

    snap_write(f, "workers = 2\n[adapter.second]\ntype = local\n"
                  "workers = 3\nmax_inflight = 3\n"
                  "[profile.two]\nadapter = second\n");
    assert_int_equal(snapshot_build(&f->root, f->path, true, &s, err,
                                    sizeof(err)), AP_OK);
    assert_int_equal(s->n_pkis, 2);
    assert_int_equal(snapshot_issue_threads(s), 2 + 3);
    assert_int_equal(snapshot_install(&f->root, s), AP_OK);
    v = app_acquire(&f->root);
    assert_int_equal(v->n_pkis, 2);
    assert_string_equal(app_adapter_name(v), "default");
    p = app_pki_find(v, NULL);
    assert_non_null(p);
    assert_string_equal(p->name, "default");
    assert_ptr_equal(p->issuer, v->issuer);
    p = app_pki_find(v, "second");
    assert_non_null(p);
    assert_ptr_not_equal(p->issuer, v->issuer);
    assert_int_equal(issuer_threads(p->issuer), 3);
    assert_true(app_pki_view(v, "second", &pv));
    assert_ptr_equal(pv.issuer, p->issuer);
    assert_ptr_equal(pv.adapter_state, p->state);
    assert_string_equal(app_adapter_name(&pv), "second");
    assert_ptr_equal(pv.st, v->st);
    assert_false(app_pki_view(v, "third", &pv));
    assert_null(app_pki_find(v, "third"));
    assert_string_equal(config_profile_find(v->cfg, "two")->adapter,
                        "second");
    app_release(v);

    /* A reload that adds a third adapter: three issuers, more workers. */
    snap_write(f, "workers = 2\n[adapter.second]\ntype = local\n"
                  "workers = 3\nmax_inflight = 3\n"
                  "[adapter.third]\ntype = local\nworkers = 1\n");
    assert_int_equal(snapshot_build(&f->root, f->path, true, &s, err,
                                    sizeof(err)), AP_OK);
    assert_int_equal(s->n_pkis, 3);
    assert_int_equal(snapshot_issue_threads(s), 2 + 3 + 1);
    assert_int_equal(snapshot_install(&f->root, s), AP_OK);
    v = app_acquire(&f->root);
    assert_true(app_pki_view(v, "third", &pv));
    assert_string_equal(pv.adapter->name, "local");
    app_release(v);
}

/* max_inflight call slots: taken up to the cap, then refused with a wait
 * that grows with the runs turned away; counted by adapter name, so a
 * reload's new issuer shares the old one's slots. */
static void
test_issuer_slots(void **state)
{
    struct snapfix *f = *state;
    struct snapshot *s1 = NULL;
    struct snapshot *s2 = NULL;
    struct issuer *a;
    struct issuer *b;
    long long d1 = 0;
    long long d2 = 0;
    char err[512];

    snap_write(f, "[adapter.capped]\ntype = local\nworkers = 2\n"
                  "max_inflight = 2\n");
    assert_int_equal(snapshot_build(&f->root, f->path, true, &s1, err,
                                    sizeof(err)), AP_OK);
    assert_int_equal(snapshot_build(&f->root, f->path, true, &s2, err,
                                    sizeof(err)), AP_OK);
    a = (struct issuer *)app_pki_find(&s1->app, "capped")->issuer;
    b = (struct issuer *)app_pki_find(&s2->app, "capped")->issuer;
    assert_true(issuer_slot_take(a, &d1));
    assert_true(issuer_slot_take(b, &d1));      /* the same two slots */
    assert_false(issuer_slot_take(a, &d1));
    assert_false(issuer_slot_take(b, &d2));
    assert_in_range(d1, 200, 300);              /* 250 ms +-20 % */
    assert_in_range(d2, 400, 600);              /* the second turned away */
    /* The default adapter's slots are its own. */
    assert_true(issuer_slot_take(s1->app.issuer, &d1));
    issuer_slot_give(s1->app.issuer);
    issuer_slot_give(a);
    assert_true(issuer_slot_take(b, &d1));
    assert_false(issuer_slot_take(a, &d1));
    assert_in_range(d1, 200, 300);              /* reset by the give */
    issuer_slot_give(a);
    issuer_slot_give(b);
    assert_true(issuer_slot_take(a, &d1));
    assert_true(issuer_slot_take(a, &d1));
    issuer_slot_give(a);
    issuer_slot_give(a);
    snapshot_put(s1);
    snapshot_put(s2);
}

struct refuse_row {
    const char *name;
    const char *port;    /* [server] listen's port */
    const char *rest;    /* after [server] listen and data_dir */
    const char *want;    /* in the error */
};

static const struct refuse_row refuse_rows[] = {
    { "snapshot_refuses_syntax", "14000", "not a line\n", "p.conf:4:" },
    { "snapshot_refuses_restart_key", "14999", "",
      "[server] listen changed: it takes a restart" },
    { "snapshot_refuses_unknown_adapter_key", "14000",
      "[adapter]\ntype = local\nfrobnicate = 1\n",
      "unknown key frobnicate for local" },
    { "snapshot_refuses_unknown_adapter", "14000",
      "[adapter]\ntype = nosuchpki\n", "[adapter] type nosuchpki is unknown" },
    { "snapshot_refuses_bad_policy", "14000",
      "[policy]\nallow_ips = 10.0.0.0/99\n", "p.conf: [policy] 10.0.0.0/99" },
    { "snapshot_refuses_profile_unknown_adapter", "14000",
      "[adapter.two]\ntype = local\n[profile.a]\nadapter = three\n",
      "p.conf:7: [profile.a] adapter three: no [adapter.three] section" },
    { "snapshot_refuses_named_unknown_type", "14000",
      "[adapter.two]\ntype = nosuchpki\n",
      "[adapter.two] type nosuchpki is unknown" },
    { "snapshot_refuses_named_unknown_key", "14000",
      "[adapter.two]\ntype = local\nfrobnicate = 1\n",
      "p.conf:6: unknown key frobnicate for local" },
    { "snapshot_refuses_named_without_type", "14000",
      "[adapter.two]\nworkers = 1\n", "p.conf:4: [adapter.two] needs a type" },
    { "snapshot_refuses_missing_trust_anchors", "14000",
      "[adapter]\ntype = local\ntrust_anchors = /nonexistent.pem\n",
      "trust_anchors" },
};

static void
test_snapshot_refused(void **state)
{
    struct snapfix *f = *state;
    const struct refuse_row *r = f->row;
    struct snapshot *s = (struct snapshot *)1;
    char text[1024];
    char err[512] = "";

    snprintf(text, sizeof(text),
             "[server]\nlisten = 127.0.0.1:%s\ndata_dir = %s\n%s", r->port,
             f->dir, r->rest);
    write_text(f->path, text);
    assert_int_not_equal(snapshot_build(&f->root, f->path, true, &s, err,
                                        sizeof(err)), AP_OK);
    assert_null(s);
    if (strstr(err, r->want) == NULL) {
        fail_msg("error '%s' does not name '%s'", err, r->want);
    }
}

int
main(void)
{
    struct test_list plain = { 0 };
    struct test_list snaps = { 0 };
    int failed;

    log_level = LOG_LVL_ERR;
    ADD_ROWS(&plain, count_rows, test_count);
    add_test(&plain, "metrics_render_format", test_render_format, NULL);
    add_test(&plain, "metrics_render_cap", test_render_cap, NULL);
    add_test(&plain, "metrics_adapter_wrap", test_adapter_wrap, NULL);
    ADD_ROWS(&plain, ready_rows, test_ready);
    ADD_ROWS(&plain, restart_rows, test_restart_key);
    add_test(&plain, "log_journal_stream", test_journal_stream, NULL);
    failed = _cmocka_run_group_tests("service", plain.tests, plain.n, NULL,
                                     NULL);
    snaps.setup = snap_setup;
    snaps.teardown = snap_teardown;
    add_test(&snaps, "snapshot_swap_keeps_held_view", test_snapshot_swap,
             NULL);
    add_test(&snaps, "snapshot_named_adapters", test_snapshot_named, NULL);
    add_test(&snaps, "issuer_slots_capped_by_name", test_issuer_slots, NULL);
    ADD_ROWS(&snaps, refuse_rows, test_snapshot_refused);
    failed += _cmocka_run_group_tests("snapshot", snaps.tests, snaps.n, NULL,
                                      NULL);
    free(plain.tests);
    free(snaps.tests);
    return failed;
}
