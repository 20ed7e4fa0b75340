/* test/unit/test_jobs.c: proxy/jobs.c, the worker pools over the store's
 * job queues, with runners written for the test.
 *
 * What is checked: a runner that could not write its outcome (returns a
 * delay) gets the job again after that delay, with the release counted
 * counted; a deferred job (a concurrency limit) does not count a release;
 * a job that was running when the "process" died (its start in the
 * journal without an end) comes back at once, its start counted; a fault
 * noted in
 * <data_dir>/faulted-jobs is counted against its job at the next start;
 * after JOB_MAX_FAULTS faults the runner is told to give the job up;
 * queued jobs that are not due do not run at start; a job that ends wakes
 * the requests watching its key (the target before its first '/') and no
 * other, and jobs_notify wakes every watch; a request that runs the job
 * it wrote (jobs_run_here) runs it on its own thread, never a job a worker
 * holds, and within the pool's size shared with the workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"
#include "test/unit/tmpdir.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/app.h"
#include "proxy/jobs.h"

#define MAP_MB 64

struct fixture {
    char dir[64];
    struct config cfg;
    struct app app;
    struct jobs *jobs;
};

/* What the test runner saw, under a lock (it runs on worker threads). */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int calls;
    long long at_ms[8];
    unsigned starts[8];
    unsigned faults[8];
    unsigned releases[8];
    bool given_up[8];
    pthread_t thread[8];
    int mode;            /* what the runner does, per test */
    bool hold;           /* MODE_HOLD: runs wait while it is set */
} seen;
static pthread_cond_t seen_cond = PTHREAD_COND_INITIALIZER;

enum { MODE_FAIL_ONCE, MODE_DEFER_ONCE, MODE_DONE, MODE_PARK, MODE_HOLD };


/* Ends the job in a transaction of its own: the "outcome". */
static void
end_job(struct app *app, const struct job *job)
{
    struct store_txn *txn = NULL;

    assert_int_equal(store_begin(app->st, true, &txn), AP_OK);
    assert_int_equal(jobs_del(txn, job->id), AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
}

static long long
runner(struct app *app, const struct job *job)
{
    int n;
    int mode;

    pthread_mutex_lock(&seen_lock);
    n = seen.calls++;
    mode = seen.mode;
    if (n < 8) {
        seen.at_ms[n] = jobs_now_ms();
        seen.starts[n] = job->starts;
        seen.faults[n] = job->faults;
        seen.releases[n] = job->releases;
        seen.given_up[n] = jobs_given_up(job);
        seen.thread[n] = pthread_self();
    }
    while (mode == MODE_HOLD && seen.hold) {
        pthread_cond_wait(&seen_cond, &seen_lock);
    }
    pthread_mutex_unlock(&seen_lock);
    if (mode == MODE_PARK) {
        jobs_defer(app->jobs, job, 3600 * 1000LL);   /* out of the way */
        return JOB_DONE;
    }
    if (n == 0 && mode == MODE_FAIL_ONCE) {
        return 300;        /* the outcome could not be written */
    }
    if (n == 0 && mode == MODE_DEFER_ONCE) {
        jobs_defer(app->jobs, job, 300);
        return JOB_DONE;
    }
    end_job(app, job);
    return JOB_DONE;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errbuf[256];

    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_jobs.XXXXXX");
    if (mkdtemp(f->dir) == NULL ||
        store_open(&(struct store_config){ .dir = f->dir,
                                           .map_size_mb = MAP_MB },
                   &f->app.st, errbuf, sizeof(errbuf)) !=
            AP_OK) {
        free(f);
        return -1;
    }
    f->cfg.server.data_dir = f->dir;
    f->app.cfg = &f->cfg;
    memset(&seen, 0, sizeof(seen));
    *state = f;
    return 0;
}

static void set_hold(bool hold);

static int
teardown(void **state)
{
    struct fixture *f = *state;

    set_hold(false);    /* a failed check left runs waiting */
    jobs_stop(f->jobs);
    store_close(f->app.st);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* The jobs module without its worker threads (as before jobs_run in
 * main.c, when requests are served already): no worker can take a job a
 * request is about to run. */
static void
start_idle(struct fixture *f)
{
    static const job_fn fns[JOB__MAX] = { runner, runner };
    static const unsigned n[JOB__MAX] = { 2, 2 };

    assert_int_equal(jobs_start(&f->app, n, fns, &f->jobs), AP_OK);
    f->app.jobs = f->jobs;
}

static void
start(struct fixture *f)
{
    start_idle(f);
    assert_int_equal(jobs_run(f->jobs), AP_OK);
}

static void
stop(struct fixture *f)
{
    jobs_stop(f->jobs);
    f->jobs = NULL;
    f->app.jobs = NULL;
}

/* Writes a due issuance job for target, its id in id; no worker is told. */
static void
write_job(struct fixture *f, const char *target, char *id, size_t idlen)
{
    struct store_txn *txn = NULL;

    assert_int_equal(store_begin(f->app.st, true, &txn), AP_OK);
    assert_int_equal(jobs_put(txn, JOB_ISSUE, target, 0, 0, id, idlen),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
}

static void
put_job(struct fixture *f, const char *target, char *id, size_t idlen)
{
    write_job(f, target, id, idlen);
    if (f->jobs != NULL) {
        jobs_kick(f->jobs, id, 0);
    }
}

static void
set_hold(bool hold)
{
    pthread_mutex_lock(&seen_lock);
    seen.hold = hold;
    pthread_cond_broadcast(&seen_cond);
    pthread_mutex_unlock(&seen_lock);
}

static int
calls(void)
{
    int c;

    pthread_mutex_lock(&seen_lock);
    c = seen.calls;
    pthread_mutex_unlock(&seen_lock);
    return c;
}

/* Waits (at most 10 s) until the runner ran n times. */
static void
wait_calls(int n)
{
    for (int i = 0; i < 1000; i++) {
        int c;

        pthread_mutex_lock(&seen_lock);
        c = seen.calls;
        pthread_mutex_unlock(&seen_lock);
        if (c >= n) {
            return;
        }
        usleep(10000);
    }
    fail_msg("the runner ran %d times, want %d", seen.calls, n);
}

static size_t
stored_jobs(struct fixture *f)
{
    struct store_txn *txn = NULL;
    size_t n = 99;

    assert_int_equal(store_begin(f->app.st, false, &txn), AP_OK);
    assert_int_equal(store_count(txn, STORE_JOBS, &n), AP_OK);
    store_abort(txn);
    return n;
}

static void
test_failed_outcome_comes_back(void **state)
{
    struct fixture *f = *state;
    char id[JOB_MAX_ID];

    seen.mode = MODE_FAIL_ONCE;
    start(f);
    put_job(f, "o1", id, sizeof(id));
    wait_calls(2);
    stop(f);
    /* Given back after the delay, the release counted (the backoff of
     * the next failure); it ended normally, so no start is on record. */
    assert_true(seen.at_ms[1] - seen.at_ms[0] >= 300);
    assert_int_equal(seen.starts[0], 1);
    assert_int_equal(seen.starts[1], 1);
    assert_int_equal(seen.releases[1], 1);
    assert_int_equal(stored_jobs(f), 0);
}

static void
test_defer_does_not_count(void **state)
{
    struct fixture *f = *state;
    char id[JOB_MAX_ID];

    seen.mode = MODE_DEFER_ONCE;
    start(f);
    put_job(f, "o1", id, sizeof(id));
    wait_calls(2);
    stop(f);
    assert_true(seen.at_ms[1] - seen.at_ms[0] >= 300);
    assert_int_equal(seen.starts[1], 1);
    assert_int_equal(seen.releases[1], 0);
}

/* Appends to a file of the data directory what a process that died while
 * it ran job id left there. */
static void
note(struct fixture *f, const char *file, const char *line)
{
    char path[128];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", f->dir, file);
    fp = fopen(path, "a");
    assert_non_null(fp);
    fprintf(fp, "%s\n", line);
    fclose(fp);
}

static void
test_running_job_comes_back(void **state)
{
    struct fixture *f = *state;
    char id[JOB_MAX_ID];
    char line[JOB_MAX_ID + 4];

    /* Due in an hour, but it was running when the process died (its
     * start is in the journal, no end). */
    {
        struct store_txn *txn = NULL;

        assert_int_equal(store_begin(f->app.st, true, &txn), AP_OK);
        assert_int_equal(jobs_put(txn, JOB_ISSUE, "o1", 3600, 0, id,
                                  sizeof(id)),
                         AP_OK);
        assert_int_equal(store_commit(txn), AP_OK);
    }
    snprintf(line, sizeof(line), "S %s", id);
    note(f, "job-starts", line);
    seen.mode = MODE_DONE;
    start(f);
    wait_calls(1);
    stop(f);
    assert_int_equal(seen.starts[0], 2);
    assert_int_equal(seen.faults[0], 0);
    assert_int_equal(stored_jobs(f), 0);
}

static void
test_faults_give_up(void **state)
{
    struct fixture *f = *state;
    char id[JOB_MAX_ID];
    char line[JOB_MAX_ID + 4];
    char path[128];

    seen.mode = MODE_PARK;
    put_job(f, "o1", id, sizeof(id));
    snprintf(line, sizeof(line), "S %s", id);
    /* Three runs that each died of a fault: the journal's start without
     * an end, and the fault handler's note. */
    for (int i = 0; i < JOB_MAX_FAULTS; i++) {
        note(f, "job-starts", line);
        note(f, JOBS_FAULT_FILE, id);
        start(f);
        wait_calls(i + 1);
        stop(f);
        assert_int_equal(seen.faults[i], (unsigned)i + 1);
        assert_int_equal(seen.starts[i], (unsigned)i + 2);
    }
    /* The last run saw JOB_MAX_FAULTS: the runner must give it up. */
    assert_false(seen.given_up[JOB_MAX_FAULTS - 2]);
    assert_true(seen.given_up[JOB_MAX_FAULTS - 1]);
    /* The note file is emptied once counted. */
    snprintf(path, sizeof(path), "%s/%s", f->dir, JOBS_FAULT_FILE);
    {
        FILE *fp = fopen(path, "r");

        assert_non_null(fp);
        assert_int_equal(fgetc(fp), EOF);
        fclose(fp);
    }
}

static void
test_start_is_not_a_load(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    char id[JOB_MAX_ID];

    /* 5000 queued jobs, due in an hour. */
    assert_int_equal(store_begin(f->app.st, true, &txn), AP_OK);
    for (int i = 0; i < 5000; i++) {
        char target[32];

        snprintf(target, sizeof(target), "q%d", i);
        assert_int_equal(jobs_put(txn, JOB_ISSUE, target, 3600, 0, id,
                                  sizeof(id)),
                         AP_OK);
    }
    assert_int_equal(store_commit(txn), AP_OK);
    seen.mode = MODE_DONE;
    start(f);
    usleep(300000);
    stop(f);
    /* Nothing is due: nothing ran, every job is still queued (the start-up
     * time with 100k of them is a figure: test/torture/startup.sh). */
    assert_int_equal(seen.calls, 0);
    assert_int_equal(stored_jobs(f), 5000);
}

/* A watch that nothing wakes sleeps until its deadline (a lower bound:
 * the wait cannot return sooner unless it was woken). */
static bool
sleeps_to_deadline(struct fixture *f, struct jobs_watch *w)
{
    long long t0 = time_mono_ms();

    jobs_watch_wait(f->jobs, w, t0 + 300);
    return time_mono_ms() - t0 >= 300;
}

static void
test_job_end_wakes_its_key_only(void **state)
{
    struct fixture *f = *state;
    struct jobs_watch mine;
    struct jobs_watch other;
    struct jobs_watch prefix;
    char id[JOB_MAX_ID];
    long long t0;

    seen.mode = MODE_DONE;
    start(f);
    jobs_watch_begin(f->jobs, &mine, "a1");
    jobs_watch_begin(f->jobs, &other, "a2");
    jobs_watch_begin(f->jobs, &prefix, "a");
    put_job(f, "a1/0", id, sizeof(id));   /* a validation-like target */
    wait_calls(1);
    /* Woken by the end of its job: returns long before the 10 s. */
    t0 = time_mono_ms();
    jobs_watch_wait(f->jobs, &mine, t0 + 10000);
    assert_true(time_mono_ms() - t0 < 10000);
    assert_int_equal(stored_jobs(f), 0);
    /* The other key and a mere prefix of the key were not woken. */
    assert_true(sleeps_to_deadline(f, &other));
    assert_true(sleeps_to_deadline(f, &prefix));
    /* A wake is used up by the wait that saw it. */
    assert_true(sleeps_to_deadline(f, &mine));
    jobs_watch_end(f->jobs, &prefix);
    jobs_watch_end(f->jobs, &other);
    jobs_watch_end(f->jobs, &mine);
    stop(f);
}

static void
test_notify_wakes_every_watch(void **state)
{
    struct fixture *f = *state;
    struct jobs_watch a;
    struct jobs_watch b;
    long long t0;

    seen.mode = MODE_DONE;
    start(f);
    jobs_watch_begin(f->jobs, &a, "o1");
    jobs_watch_begin(f->jobs, &b, "o2");
    jobs_notify(f->jobs);
    t0 = time_mono_ms();
    jobs_watch_wait(f->jobs, &a, t0 + 10000);
    jobs_watch_wait(f->jobs, &b, t0 + 10000);
    /* Both returned at once: neither waited for its 10 s deadline. */
    assert_true(time_mono_ms() - t0 < 10000);
    jobs_watch_end(f->jobs, &b);
    jobs_watch_end(f->jobs, &a);
    stop(f);
}

/* The request that wrote a job runs it itself: on its own thread, its
 * start counted as a worker's would be, and it ends there (the outcome is
 * written, the watch of its key woken). A job that is gone is not run. */
static void
test_run_here_on_the_caller(void **state)
{
    struct fixture *f = *state;
    struct jobs_watch w;
    char id[JOB_MAX_ID];
    long long t0;

    seen.mode = MODE_DONE;
    start_idle(f);      /* no worker may take it first */
    jobs_set_runs(f->jobs, JOB_ISSUE, 2);   /* before the workers: 0 */
    jobs_watch_begin(f->jobs, &w, "o1");
    write_job(f, "o1", id, sizeof(id));
    assert_true(jobs_run_here(f->jobs, id));
    assert_int_equal(calls(), 1);
    assert_true(pthread_equal(seen.thread[0], pthread_self()));
    assert_int_equal(seen.starts[0], 1);
    assert_int_equal(stored_jobs(f), 0);
    t0 = time_mono_ms();
    jobs_watch_wait(f->jobs, &w, t0 + 10000);
    assert_true(time_mono_ms() - t0 < 10000);
    jobs_watch_end(f->jobs, &w);
    assert_false(jobs_run_here(f->jobs, id));
    assert_false(jobs_run_here(f->jobs, "x:nonsense"));
    assert_false(jobs_run_here(NULL, id));
    assert_int_equal(calls(), 1);
    stop(f);
}

/* A job held by a worker is not run a second time by the request. */
static void
test_run_here_not_a_held_job(void **state)
{
    struct fixture *f = *state;
    char id[JOB_MAX_ID];

    seen.mode = MODE_HOLD;
    set_hold(true);
    start(f);
    put_job(f, "o1", id, sizeof(id));
    wait_calls(1);
    assert_false(jobs_run_here(f->jobs, id));
    set_hold(false);
    for (int i = 0; i < 1000 && stored_jobs(f) > 0; i++) {
        usleep(10000);
    }
    stop(f);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(stored_jobs(f), 0);
}

struct here_arg {
    struct fixture *f;
    char id[JOB_MAX_ID];
    bool ran;
};

static void *
run_here_thread(void *arg)
{
    struct here_arg *a = arg;

    a->ran = jobs_run_here(a->f->jobs, a->id);
    return NULL;
}

/* n requests (threads t) each write a job ("o0", "o1" ...) and run it
 * themselves; returns once every run has started (MODE_HOLD keeps them
 * running). */
static void
start_runs(struct fixture *f, struct here_arg *a, pthread_t *t, int n)
{
    for (int i = 0; i < n; i++) {
        char target[16];

        snprintf(target, sizeof(target), "o%d", i);
        a[i].f = f;
        write_job(f, target, a[i].id, sizeof(a[i].id));
        assert_int_equal(pthread_create(&t[i], NULL, run_here_thread, &a[i]),
                         0);
    }
    wait_calls(n);
}

/* Lets the runs of start_runs end; each ran on its request. */
static void
end_runs(struct here_arg *a, pthread_t *t, int n)
{
    set_hold(false);
    for (int i = 0; i < n; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(a[i].ran);
    }
}

/* A pool's size bounds its runs on workers and requests together: with
 * both slots taken by requests (the pool has 2), a third request does not
 * run its job, nor does a worker run a kicked one until a slot is free. */
static void
test_run_here_shares_the_pool_size(void **state)
{
    struct fixture *f = *state;
    struct here_arg a[2];
    pthread_t t[2];
    char id[JOB_MAX_ID];

    seen.mode = MODE_HOLD;
    set_hold(true);
    /* The requests take both slots before the workers start (which would
     * otherwise take the jobs at their first look); then the bound is
     * the pool's size alone. */
    start_idle(f);
    jobs_set_runs(f->jobs, JOB_ISSUE, 2);
    start_runs(f, a, t, 2);
    assert_int_equal(jobs_run(f->jobs), AP_OK);
    jobs_set_runs(f->jobs, JOB_ISSUE, 0);
    write_job(f, "o2", id, sizeof(id));
    assert_false(jobs_run_here(f->jobs, id));
    jobs_kick(f->jobs, id, 0);
    usleep(300000);
    assert_int_equal(calls(), 2);       /* no worker took a third slot */
    end_runs(a, t, 2);
    wait_calls(3);                      /* the kicked one, by a worker */
    for (int i = 0; i < 1000 && stored_jobs(f) > 0; i++) {
        usleep(10000);
    }
    stop(f);
    assert_int_equal(seen.calls, 3);
    assert_false(pthread_equal(seen.thread[2], seen.thread[0]));
    assert_false(pthread_equal(seen.thread[2], seen.thread[1]));
    assert_int_equal(stored_jobs(f), 0);
}

/* jobs_set_runs raises the bound above the pool's size (validations:
 * [validation] max_concurrent): three requests run at once with a pool
 * of 2, a fourth does not. */
static void
test_set_runs_raises_the_bound(void **state)
{
    struct fixture *f = *state;
    struct here_arg a[3];
    pthread_t t[3];
    char id[JOB_MAX_ID];

    seen.mode = MODE_HOLD;
    set_hold(true);
    start_idle(f);      /* as above: the workers start once all run */
    jobs_set_runs(f->jobs, JOB_ISSUE, 3);
    start_runs(f, a, t, 3);
    assert_int_equal(jobs_run(f->jobs), AP_OK);
    write_job(f, "o3", id, sizeof(id));
    assert_false(jobs_run_here(f->jobs, id));
    end_runs(a, t, 3);
    jobs_kick(f->jobs, id, 0);
    wait_calls(4);      /* by a worker, once a slot was free */
    for (int i = 0; i < 1000 && stored_jobs(f) > 0; i++) {
        usleep(10000);
    }
    stop(f);
    assert_int_equal(seen.calls, 4);
    assert_int_equal(stored_jobs(f), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_outcome_comes_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_does_not_count, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_running_job_comes_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_faults_give_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_start_is_not_a_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_end_wakes_its_key_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_wakes_every_watch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_here_on_the_caller, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_here_not_a_held_job, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_here_shares_the_pool_size,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_runs_raises_the_bound,
                                        setup, teardown),
    };

    return cmocka_run_group_tests_name("jobs", tests, NULL, NULL);
}
