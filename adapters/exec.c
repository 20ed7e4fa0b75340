/* adapters/exec.c: an external program is the PKI.
 *
 * For every call the program named by `command` (an absolute path; no
 * shell is involved) is started with posix_spawn, gets one JSON object on
 * stdin and answers one JSON object on stdout:
 *
 *   stdin  {"action":"submit","order_id":...,"account_id":...,
 *           "csr_pem":...,"dns_names":[...],"ip_addrs":[...],
 *           "profile":...,"not_before":N,"not_after":N}
 *          {"action":"poll","ref":...}
 *          {"action":"lookup", the submit members, "ref":... or null,
 *           "lost_at":N}   (only with lookup = yes)
 *          {"action":"revoke","cert_pem":...,"serial":"<hex>",
 *           "issuer_dn":...,"reason":N}
 *          {"action":"health"}
 *   stdout {"certificate":PEM (leaf, or leaf + chain),"chain":PEM,
 *           "ref":...,"retry_after":N,"detail":...,
 *           "problem":"badCSR"|"rejectedIdentifier"|"unauthorized"}
 *   exit   0 issued (revoke/health: done), 1 rejected, 2 pending (ref
 *          required), 3 or 75 retry later, 4 (lookup only) the PKI has
 *          no record of the request; anything else, a signal or the
 *          deadline is a retry as well.
 *
 * lookup runs after a crash lost a submission's answer; the program says
 * what its PKI did with the order (found: its certificate; 4: nothing,
 * submitting again is safe). Without `lookup = yes` the core cannot ask
 * and records a possible duplicate.
 *
 * The child runs in its own process group with an empty signal mask, no
 * descriptors but the three pipes, and an environment of PATH plus
 * ACMEPROXY_ACTION and ACMEPROXY_ORDER_ID (and the names in pass_env).
 * stdout is capped at max_output bytes, stderr at 4 KiB (logged at debug);
 * at the deadline the whole group gets SIGKILL. */
#include "adapters/adapters_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/x509.h"

#define EXEC_MAX_ARGS 16
#define EXEC_MAX_ENV 24
#define EXEC_STDERR_CAP 4096
#define EXEC_EXIT_ISSUED 0
#define EXEC_EXIT_REJECTED 1
#define EXEC_EXIT_PENDING 2
#define EXEC_EXIT_RETRY 3
#define EXEC_EXIT_NOT_FOUND 4
#define EXEC_EXIT_TEMPFAIL 75

struct exec_state {
    char *argv_buf;                  /* command and args, NUL-separated */
    char *argv[EXEC_MAX_ARGS + 2];
    char *env_buf;
    char *envp_fixed[EXEC_MAX_ENV];  /* PATH and pass_env, borrowed */
    size_t n_env;
    unsigned timeout_ms;
    size_t max_output;
    bool lookup;                     /* the program answers "lookup" */
};

static const char *const exec_keys[] = {
    ADAPTER_CORE_KEYS, "command", "args", "timeout_ms", "max_output",
    "pass_env", "lookup", NULL,
};

enum adapter_outcome
exec_classify(int exit_status, const char *out, size_t len,
              struct adapter_result *res)
{
    cJSON *root = NULL;
    const cJSON *it;
    const char *detail;
    enum adapter_outcome o;

    if (out != NULL && len > 0 && json_parse(out, len, &root) != AP_OK) {
        root = NULL;
    }
    detail = json_str(root, "detail", NULL);
    it = cJSON_GetObjectItemCaseSensitive(root, "retry_after");
    {
        long long ra;

        /* Whole seconds up to a day; anything else is ignored. */
        if (json_int_value(it, JSON_INT_NUMBER, 0, ADAPTER_MAX_RETRY_AFTER,
                           &ra) == AP_OK) {
            res->retry_after = (unsigned)ra;
        }
    }
    switch (exit_status) {
    case EXEC_EXIT_ISSUED: {
        const char *cert = json_str(root, "certificate", NULL);
        const char *chain = json_str(root, "chain", NULL);
        char *all = NULL;
        const char *end;
        size_t leaf_len;

        if (root == NULL) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "the program exited 0 without a JSON answer");
            break;
        }
        if (cert == NULL) {
            /* revoke and health answer 0 with no certificate. */
            o = ADAPTER_ISSUED;
            break;
        }
        if (x509_pem_normalize(cert, 0, &all, NULL) != AP_OK) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "the program's certificate is not PEM");
            break;
        }
        end = strstr(all, "-----END CERTIFICATE-----");
        leaf_len = (size_t)(end - all) + strlen("-----END CERTIFICATE-----\n");
        res->cert_pem = strndup(all, leaf_len);
        if (chain != NULL) {
            if (x509_pem_normalize(chain, 0, &res->chain_pem, NULL) !=
                AP_OK) {
                free(all);
                o = adapter_fail(res, ADAPTER_RETRY, NULL,
                                 "the program's chain is not PEM");
                break;
            }
        } else if (strlen(all) > leaf_len) {
            res->chain_pem = strdup(all + leaf_len);
        }
        free(all);
        it = cJSON_GetObjectItemCaseSensitive(root, "ref");
        if (cJSON_IsString(it)) {
            res->ref = strdup(it->valuestring);
        }
        o = res->cert_pem != NULL
                ? ADAPTER_ISSUED
                : adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        break;
    }
    case EXEC_EXIT_REJECTED: {
        const char *p = json_str(root, "problem", "");
        const char *ptype = strcmp(p, "badCSR") == 0 ? ADAPTER_PROB_BAD_CSR
                            : strcmp(p, "unauthorized") == 0
                                ? ADAPTER_PROB_UNAUTHORIZED
                                : ADAPTER_PROB_REJECTED;

        o = adapter_fail(res, ADAPTER_REJECTED, ptype, "%s",
                         detail ? detail : "the program refused");
        break;
    }
    case EXEC_EXIT_PENDING:
        it = cJSON_GetObjectItemCaseSensitive(root, "ref");
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
            strlen(it->valuestring) > 1024) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "the program said pending (exit 2) without a "
                             "ref");
            break;
        }
        res->ref = strdup(it->valuestring);
        o = adapter_fail(res, ADAPTER_PENDING, NULL, "%s",
                         detail ? detail : "pending");
        break;
    case EXEC_EXIT_RETRY:
    case EXEC_EXIT_TEMPFAIL:
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "%s",
                         detail ? detail : "the program asked to retry");
        break;
    default:
        o = adapter_fail(res, ADAPTER_RETRY, NULL,
                         exit_status < 0
                             ? "the program was killed or timed out"
                             : "the program exited with status %d",
                         exit_status);
        break;
    }
    cJSON_Delete(root);
    return o;
}

/* Runs the program with input on stdin; *status is the exit status, or
 * -1 when it died by a signal or the deadline. AP_ETOOBIG when stdout
 * passed the cap (the child is killed). */
static ap_err
exec_run(struct exec_state *x, const char *action, const char *order_id,
         const char *input, struct buf *out, int *status)
{
    int in_pipe[2] = { -1, -1 };
    int out_pipe[2] = { -1, -1 };
    int err_pipe[2] = { -1, -1 };
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    sigset_t dflt;
    char *envp[EXEC_MAX_ENV + 3];
    char env_action[64];
    char env_order[200];
    char errtext[EXEC_STDERR_CAP + 1];
    size_t errlen = 0;
    size_t in_len = strlen(input);
    size_t in_off = 0;
    long long deadline = time_mono_ms() + x->timeout_ms;
    pid_t pid = -1;
    int wstatus = 0;
    bool killed = false;
    ap_err rc = AP_EINTERNAL;
    size_t ne = 0;

    *status = -1;
    if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
        pipe2(err_pipe, O_CLOEXEC) != 0) {
        rc = AP_EINTERNAL;
        goto out_fds;
    }
    for (size_t i = 0; i < x->n_env; i++) {
        envp[ne++] = x->envp_fixed[i];
    }
    (void)snprintf(env_action, sizeof(env_action), "ACMEPROXY_ACTION=%s",
                   action);
    (void)snprintf(env_order, sizeof(env_order), "ACMEPROXY_ORDER_ID=%s",
                   order_id ? order_id : "");
    envp[ne++] = env_action;
    envp[ne++] = env_order;
    envp[ne] = NULL;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGHUP);
    /* The proxy blocks SIGINT/TERM/HUP and ignores SIGPIPE; the child
     * must not inherit that. Its own process group lets the deadline kill
     * whatever it started too. */
    (void)posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF |
                                              POSIX_SPAWN_SETPGROUP);
    (void)posix_spawnattr_setsigmask(&attr, &none);
    (void)posix_spawnattr_setsigdefault(&attr, &dflt);
    (void)posix_spawnattr_setpgroup(&attr, 0);
    (void)posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    (void)posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    (void)posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    /* Descriptors of the store and the listener stay with the proxy. */
    (void)posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    errno = posix_spawn(&pid, x->argv[0], &fa, &attr, x->argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (errno != 0) {
        log_err("exec", "cannot start %s: %s", x->argv[0], strerror(errno));
        pid = -1;
        rc = AP_EINTERNAL;
        goto out_fds;
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    in_pipe[0] = out_pipe[1] = err_pipe[1] = -1;
    (void)fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);

    rc = AP_OK;
    while (out_pipe[0] != -1 || err_pipe[0] != -1) {
        struct pollfd pfd[3];
        nfds_t n = 0;
        long long left = deadline - time_mono_ms();
        char chunk[4096];

        if (left <= 0) {
            killed = true;
            break;
        }
        if (in_pipe[1] != -1) {
            pfd[n].fd = in_pipe[1];
            pfd[n++].events = POLLOUT;
        }
        if (out_pipe[0] != -1) {
            pfd[n].fd = out_pipe[0];
            pfd[n++].events = POLLIN;
        }
        if (err_pipe[0] != -1) {
            pfd[n].fd = err_pipe[0];
            pfd[n++].events = POLLIN;
        }
        if (poll(pfd, n, (int)(left > 1000 ? 1000 : left)) < 0) {
            if (errno == EINTR) {
                continue;
            }
            killed = true;
            break;
        }
        for (nfds_t i = 0; i < n; i++) {
            if (pfd[i].revents == 0) {
                continue;
            }
            if (pfd[i].fd == in_pipe[1]) {
                ssize_t w = write(in_pipe[1], input + in_off, in_len - in_off);

                if (w > 0) {
                    in_off += (size_t)w;
                }
                if (w < 0 && errno != EAGAIN) {
                    in_off = in_len; /* the child does not read: fine */
                }
                if (in_off >= in_len) {
                    close(in_pipe[1]);
                    in_pipe[1] = -1;
                }
            } else {
                ssize_t r = read(pfd[i].fd, chunk, sizeof(chunk));

                if (r <= 0) {
                    if (pfd[i].fd == out_pipe[0]) {
                        close(out_pipe[0]);
                        out_pipe[0] = -1;
                    } else {
                        close(err_pipe[0]);
                        err_pipe[0] = -1;
                    }
                } else if (pfd[i].fd == out_pipe[0]) {
                    if (buf_append(out, chunk, (size_t)r) != AP_OK) {
                        rc = AP_ETOOBIG;
                        killed = true;
                    }
                } else {
                    size_t k = (size_t)r;

                    if (k > EXEC_STDERR_CAP - errlen) {
                        k = EXEC_STDERR_CAP - errlen;
                    }
                    memcpy(errtext + errlen, chunk, k);
                    errlen += k;
                }
            }
        }
        if (killed) {
            break;
        }
    }
    /* Reap within what is left of the deadline, then kill the group. */
    for (;;) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);

        if (w == pid) {
            break;
        }
        if (w < 0 && errno != EINTR) {
            wstatus = -1;
            break;
        }
        if (killed || time_mono_ms() >= deadline) {
            killed = true;
            (void)kill(-pid, SIGKILL);
            (void)kill(pid, SIGKILL);
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        {
            struct timespec ts = { 0, 10 * 1000 * 1000 };

            (void)nanosleep(&ts, NULL);
        }
    }
    if (killed) {
        log_warn("exec", "%s %s: killed (%s)", x->argv[0], action,
                 rc == AP_ETOOBIG ? "output over max_output"
                                  : "deadline passed");
        *status = -1;
    } else if (wstatus != -1 && WIFEXITED(wstatus)) {
        *status = WEXITSTATUS(wstatus);
    } else {
        *status = -1;
    }
    if (errlen > 0) {
        char clean[EXEC_STDERR_CAP + 1];

        log_clean(errtext, errlen, clean, sizeof(clean));
        log_debug("exec", "%s %s stderr: %s", x->argv[0], action, clean);
    }
out_fds:
    for (int i = 0; i < 2; i++) {
        if (in_pipe[i] != -1) {
            close(in_pipe[i]);
        }
        if (out_pipe[i] != -1) {
            close(out_pipe[i]);
        }
        if (err_pipe[i] != -1) {
            close(err_pipe[i]);
        }
    }
    return rc;
}

/* Runs one action with the request object (taken) and classifies;
 * *exit_status (may be NULL) gets the program's exit status (-1: killed,
 * timed out or not started). */
static enum adapter_outcome
exec_do(struct exec_state *x, const char *action, const char *order_id,
        cJSON *in, struct adapter_result *res, int *exit_status)
{
    struct buf out;
    char *text;
    int status = -1;
    enum adapter_outcome o;
    ap_err rc;

    buf_init(&out, x->max_output);
    if (in == NULL || cJSON_AddStringToObject(in, "action", action) == NULL) {
        cJSON_Delete(in);
        return adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
    }
    text = cJSON_PrintUnformatted(in);
    cJSON_Delete(in);
    if (text == NULL) {
        return adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
    }
    rc = exec_run(x, action, order_id, text, &out, &status);
    cJSON_free(text);
    if (rc != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "program failed: %s",
                         rc == AP_ETOOBIG ? "output over max_output"
                                          : "could not start it");
        /* Too much output: it ran, its answer is unread. */
        status = rc == AP_ETOOBIG ? -1 : 0;
    } else if (strcmp(action, "lookup") == 0 &&
               status == EXEC_EXIT_NOT_FOUND) {
        o = adapter_fail(res, ADAPTER_NOT_FOUND, NULL,
                         "the program's PKI has no record of the request");
    } else {
        o = exec_classify(status, out.data, out.len, res);
    }
    buf_fini(&out);
    if (exit_status != NULL) {
        *exit_status = status;
    }
    return o;
}

static cJSON *
str_array(const char *const *a, size_t n)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr != NULL && i < n; i++) {
        cJSON_AddItemToArray(arr, cJSON_CreateString(a[i]));
    }
    return arr;
}

/* The request members of submit and lookup. */
static cJSON *
request_object(const struct adapter_request *req)
{
    cJSON *in = cJSON_CreateObject();

    if (in != NULL) {
        cJSON_AddStringToObject(in, "order_id", req->order_id);
        cJSON_AddStringToObject(in, "account_id",
                                req->account_id ? req->account_id : "");
        cJSON_AddStringToObject(in, "csr_pem", req->csr_pem);
        cJSON_AddItemToObject(in, "dns_names",
                              str_array(req->dns_names, req->n_dns_names));
        cJSON_AddItemToObject(in, "ip_addrs",
                              str_array(req->ip_addrs, req->n_ip_addrs));
        if (req->profile != NULL) {
            cJSON_AddStringToObject(in, "profile", req->profile);
        }
        cJSON_AddNumberToObject(in, "not_before", (double)req->not_before);
        cJSON_AddNumberToObject(in, "not_after", (double)req->not_after);
    }
    return in;
}

static enum adapter_outcome
exec_submit(void *state, const struct adapter_request *req,
            struct adapter_result *res)
{
    int status = 0;
    enum adapter_outcome o = exec_do(state, "submit", req->order_id,
                                     request_object(req), res, &status);

    /* Killed at the deadline or dead of a signal: it may have issued. */
    res->in_doubt = o == ADAPTER_RETRY && status < 0;
    return o;
}

static enum adapter_outcome
exec_lookup(void *state, const struct adapter_request *req,
            struct adapter_result *res)
{
    struct exec_state *x = state;
    cJSON *in;

    if (!x->lookup) {
        return adapter_fail(res, ADAPTER_UNKNOWN, NULL,
                            "the program is not asked (lookup = no)");
    }
    in = request_object(req);
    if (in != NULL) {
        if (req->ref != NULL) {
            cJSON_AddStringToObject(in, "ref", req->ref);
        } else {
            cJSON_AddNullToObject(in, "ref");
        }
        cJSON_AddNumberToObject(in, "lost_at", (double)req->lost_at);
    }
    return exec_do(state, "lookup", req->order_id, in, res, NULL);
}

static enum adapter_outcome
exec_poll(void *state, const char *ref, struct adapter_result *res)
{
    cJSON *in = cJSON_CreateObject();
    enum adapter_outcome o;

    if (in != NULL) {
        cJSON_AddStringToObject(in, "ref", ref);
    }
    o = exec_do(state, "poll", NULL, in, res, NULL);
    if (o == ADAPTER_PENDING && res->ref == NULL) {
        res->ref = strdup(ref);
    }
    return o;
}

static ap_err
exec_revoke(void *state, const char *cert_pem, int reason, char *errbuf,
            size_t errlen)
{
    struct x509_ids ids;
    struct adapter_result res;
    cJSON *in;
    enum adapter_outcome o;
    ap_err rc;

    memset(&res, 0, sizeof(res));
    rc = x509_cert_ids(cert_pem, &ids);
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "stored certificate does not parse");
        return rc;
    }
    in = cJSON_CreateObject();
    if (in != NULL) {
        cJSON_AddStringToObject(in, "cert_pem", cert_pem);
        cJSON_AddStringToObject(in, "serial", ids.serial_hex);
        cJSON_AddStringToObject(in, "issuer_dn", ids.issuer_dn);
        cJSON_AddNumberToObject(in, "reason", reason);
    }
    o = exec_do(state, "revoke", NULL, in, &res, NULL);
    if (o == ADAPTER_ISSUED) {
        rc = AP_OK;
    } else {
        (void)snprintf(errbuf, errlen, "%s",
                       res.detail ? res.detail : "the program refused");
        rc = o == ADAPTER_RETRY ? AP_ENET : AP_EINVAL;
    }
    adapter_result_clear(&res);
    x509_ids_fini(&ids);
    return rc;
}

static ap_err
exec_health(void *state, char *errbuf, size_t errlen)
{
    struct adapter_result res;
    enum adapter_outcome o;

    memset(&res, 0, sizeof(res));
    o = exec_do(state, "health", NULL, cJSON_CreateObject(), &res, NULL);
    if (o != ADAPTER_ISSUED) {
        (void)snprintf(errbuf, errlen, "%s",
                       res.detail ? res.detail : "unhealthy");
    }
    adapter_result_clear(&res);
    return o == ADAPTER_ISSUED ? AP_OK : AP_ENET;
}

static void
exec_free(void *state)
{
    struct exec_state *x = state;

    if (x == NULL) {
        return;
    }
    free(x->argv_buf);
    for (size_t i = 0; i < x->n_env; i++) {
        free(x->envp_fixed[i]);
    }
    free(x);
}

static ap_err
exec_init(const struct config_section *cfg, const struct adapter_ctx *ctx,
          void **state, char *errbuf, size_t errlen)
{
    struct exec_state *x;
    const char *cmd;
    const char *args;
    const char *pass;
    unsigned max_kb = 0;
    struct stat st;
    size_t n = 0;
    char *save = NULL;
    char *tok;
    char *copy = NULL;
    ap_err rc;

    (void)ctx;
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return AP_ENOMEM;
    }
    rc = config_section_check(cfg, exec_keys, "adapter exec", errbuf,
                              errlen);
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "timeout_ms", 100, 600000, 30000,
                               &x->timeout_ms, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "max_output", 1, 16384, 1024, &max_kb,
                               errbuf, errlen);
        x->max_output = (size_t)max_kb * 1024;
    }
    if (rc == AP_OK) {
        rc = adapter_conf_bool(cfg, "lookup", false, &x->lookup, errbuf,
                               errlen);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = AP_ECONFIG;
    cmd = adapter_conf_str(cfg, "command", NULL);
    if (cmd == NULL || cmd[0] != '/' || stat(cmd, &st) != 0 ||
        !S_ISREG(st.st_mode) || access(cmd, X_OK) != 0) {
        (void)snprintf(errbuf, errlen, "exec: command must be the absolute "
                       "path of an executable file (no shell is used)");
        goto out;
    }
    if ((st.st_mode & S_IWOTH) != 0) {
        log_warn("exec", "%s is writable by everyone", cmd);
    }
    args = adapter_conf_str(cfg, "args", "");
    x->argv_buf = malloc(strlen(cmd) + strlen(args) + 2);
    if (x->argv_buf == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    (void)snprintf(x->argv_buf, strlen(cmd) + strlen(args) + 2, "%s %s",
                   cmd, args);
    /* Split on white space only: no quoting, no globbing, no shell. */
    for (tok = strtok_r(x->argv_buf, " \t", &save); tok != NULL;
         tok = strtok_r(NULL, " \t", &save)) {
        if (n >= EXEC_MAX_ARGS + 1) {
            (void)snprintf(errbuf, errlen, "exec: at most %d args",
                           EXEC_MAX_ARGS);
            goto out;
        }
        x->argv[n++] = tok;
    }
    x->argv[n] = NULL;
    x->envp_fixed[x->n_env] = strdup("PATH=/usr/local/bin:/usr/bin:/bin");
    if (x->envp_fixed[x->n_env++] == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    pass = adapter_conf_str(cfg, "pass_env", "");
    copy = strdup(pass);
    if (copy == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
         tok = strtok_r(NULL, " \t,", &save)) {
        const char *v = getenv(tok);
        char *kv;

        if (v == NULL) {
            continue;
        }
        if (x->n_env >= EXEC_MAX_ENV - 1) {
            (void)snprintf(errbuf, errlen, "exec: too many pass_env names");
            goto out;
        }
        if (asprintf(&kv, "%s=%s", tok, v) < 0) {
            rc = AP_ENOMEM;
            goto out;
        }
        x->envp_fixed[x->n_env++] = kv;
    }
    rc = AP_OK;
out:
    free(copy);
    if (rc == AP_OK) {
        *state = x;
    } else {
        exec_free(x);
    }
    return rc;
}

const struct adapter_ops adapter_exec = {
    .abi = ADAPTER_ABI,
    .name = "exec",
    .caps = ADAPTER_CAP_POLL | ADAPTER_CAP_REVOKE | ADAPTER_CAP_CONCURRENT |
            ADAPTER_CAP_LOOKUP,
    .config_keys = exec_keys,
    .init = exec_init,
    .submit = exec_submit,
    .poll = exec_poll,
    .lookup = exec_lookup,
    .revoke = exec_revoke,
    .health = exec_health,
    .free = exec_free,
};
