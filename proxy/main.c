/* proxy/main.c: command line, start order, signals, stop order.
 *
 * `acmeproxy -c proxy.conf` serves in the foreground until SIGINT or
 * SIGTERM. Start: config, data directory, crypto, CA, TLS certificate,
 * store, nonces, adapter, job workers, listener. Stop in reverse. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/adapter.h"
#include "common/ca.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/store.h"
#include "proxy/admin.h"
#include "proxy/app.h"
#include "proxy/audit.h"
#include "proxy/issuer.h"
#include "proxy/jobs.h"
#include "proxy/nonce.h"
#include "proxy/policy.h"
#include "proxy/ratelimit.h"
#include "proxy/server.h"
#include "proxy/validate.h"


static void
usage(void)
{
    admin_usage(stderr);
    fprintf(stderr, "without COMMAND: serves ACME (RFC 8555) in the "
                    "foreground until SIGINT or SIGTERM\n");
}

static int
make_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) {
        return 0;
    }
    fprintf(stderr, "acmeproxy: cannot create %s: %s\n", path,
            strerror(errno));
    return -1;
}

/* Writes text to path (mode 0600) through a temporary file and rename. */
static int
write_private(const char *path, const char *a, const char *b, const char *c)
{
    char tmp[4200];
    const char *parts[3] = { a, b, c };
    int fd;
    int ok = 1;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd == -1) {
        return -1;
    }
    for (int i = 0; i < 3 && ok; i++) {
        size_t len = parts[i] ? strlen(parts[i]) : 0;

        ok = len == 0 || write(fd, parts[i], len) == (ssize_t)len;
    }
    if (fsync(fd) != 0) {
        ok = 0;
    }
    if (close(fd) != 0) {
        ok = 0;
    }
    if (!ok || rename(tmp, path) != 0) {
        (void)unlink(tmp);
        return -1;
    }
    return 0;
}

#define TLS_FILE_MAX (1 << 20) /* tls_key, tls_cert */

/* The whole of path as a string, or NULL with the reason on stderr (a
 * file over TLS_FILE_MAX is refused, not cut). With FILEIO_SECRET the
 * caller wipes strlen() bytes: whatever follows a NUL is wiped here. */
static char *
read_file(const char *path, unsigned flags)
{
    char errbuf[512];
    char *data = NULL;
    size_t len = 0;

    if (fileio_read(path, TLS_FILE_MAX, flags, &data, &len, errbuf,
                    sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        return NULL;
    }
    crypto_zeroize(data + strlen(data), len - strlen(data));
    return data;
}

/* The host of base_url, for the listener's certificate. */
static void
base_host(const char *base, char *out, size_t outlen)
{
    const char *p = strstr(base, "://");
    size_t n;

    p = p ? p + 3 : base;
    if (*p == '[') {
        p++;
        n = strcspn(p, "]");
    } else {
        n = strcspn(p, ":/");
    }
    snprintf(out, outlen, "%.*s", (int)n, p);
}

/* Makes data_dir/tls.pem: the operator's key and certificate, or a fresh
 * key and a certificate from the local CA for the base_url host. */
static int
prepare_tls(const struct config *cfg, struct ca *ca, char *pem_path,
            size_t len)
{
    char host[256];
    const char *dns[2];
    const char *ips[3];
    size_t n_dns = 0;
    size_t n_ips = 0;
    char *key = NULL;
    char *cert = NULL;
    char errbuf[256];
    int rc = -1;

    snprintf(pem_path, len, "%s/tls.pem", cfg->server.data_dir);
    if (cfg->server.tls_cert[0] != '\0') {
        key = read_file(cfg->server.tls_key, FILEIO_SECRET);
        cert = read_file(cfg->server.tls_cert, 0);
        if (key == NULL || cert == NULL) {
            fprintf(stderr, "acmeproxy: cannot read tls_key %s or tls_cert "
                    "%s\n", cfg->server.tls_key, cfg->server.tls_cert);
            goto out;
        }
        if (write_private(pem_path, key, cert, NULL) != 0) {
            fprintf(stderr, "acmeproxy: cannot write %s\n", pem_path);
            goto out;
        }
        rc = 0;
        goto out;
    }
    base_host(cfg->server.base_url, host, sizeof(host));
    if (strchr(host, ':') != NULL || strspn(host, "0123456789.") ==
                                         strlen(host)) {
        ips[n_ips++] = host;
    } else {
        dns[n_dns++] = host;
    }
    if (strcmp(host, "localhost") != 0) {
        dns[n_dns++] = "localhost";
    }
    if (strcmp(host, "127.0.0.1") != 0) {
        ips[n_ips++] = "127.0.0.1";
    }
    if (strcmp(host, "::1") != 0) {
        ips[n_ips++] = "::1";
    }
    if (ca_issue_tls(ca, dns, n_dns, ips, n_ips, 365, &key, &cert, errbuf,
                     sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: TLS certificate: %s\n", errbuf);
        goto out;
    }
    if (write_private(pem_path, key, cert, ca_intermediate_pem(ca)) != 0) {
        fprintf(stderr, "acmeproxy: cannot write %s\n", pem_path);
        goto out;
    }
    rc = 0;
out:
    if (key != NULL) {
        crypto_zeroize(key, strlen(key));
    }
    free(key);
    free(cert);
    return rc;
}

/* The global policy, the rate limiter and the audit log (drained by a
 * thread when serving, before each commit returns otherwise). */
static int
open_policy(const struct config *cfg, struct app *app, bool serving,
            char *errbuf, size_t errlen)
{
    char path[4096];
    char lock[4096];

    app->policy = calloc(1, sizeof(*app->policy));
    if (app->policy == NULL ||
        policy_global_init(cfg, app->policy, errbuf, errlen) != AP_OK) {
        if (app->policy != NULL) {
            fprintf(stderr, "acmeproxy: %s: [policy]\n", cfg->path);
        }
        return -1;
    }
    if (ratelimit_new(&app->limits) != AP_OK) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    if (cfg->audit.file[0] != '\0') {
        snprintf(path, sizeof(path), "%s", cfg->audit.file);
    } else {
        snprintf(path, sizeof(path), "%s/audit.log", cfg->server.data_dir);
    }
    snprintf(lock, sizeof(lock), "%s/audit.lock", cfg->server.data_dir);
    return audit_open(app->st, path, lock, cfg->audit.syslog, serving,
                      &app->audit, errbuf, errlen) == AP_OK
               ? 0
               : -1;
}

static void
app_close(struct app *app)
{
    if (app->adapter != NULL) {
        app->adapter->free(app->adapter_state);
    }
    audit_close(app->audit);
    ratelimit_free(app->limits);
    free(app->policy);
    store_close(app->st);
    ca_free(app->ca);
    httpc_global_fini();
    crypto_fini();
}

/* What serving and the admin subcommands both need: the data directory,
 * crypto, libcurl, the store, policy and audit log and, with pki, the
 * local CA and the adapter. Says why on stderr and releases what it
 * opened when it fails. */
static int
app_open(const struct config *cfg, struct app *app, bool pki, bool serving)
{
    const struct config_section *asec = &cfg->adapter.section;
    struct adapter_ctx actx;
    char path[4096];
    char errbuf[512];

    umask(077);
    snprintf(path, sizeof(path), "%s/db", cfg->server.data_dir);
    if (make_dir(cfg->server.data_dir) != 0 || make_dir(path) != 0) {
        return -1;
    }
    if (crypto_init() != AP_OK || httpc_global_init() != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot initialise crypto or libcurl\n");
        return -1;
    }
    if (pki && ca_open(cfg->server.data_dir, &app->ca, errbuf,
                       sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: local CA in %s: %s\n",
                cfg->server.data_dir, errbuf);
        goto fail;
    }
    if (store_open(path, cfg->server.map_size_mb, &app->st, errbuf,
                   sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        goto fail;
    }
    if (open_policy(cfg, app, serving, errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        goto fail;
    }
    if (!pki) {
        return 0;
    }
    if (adapter_registry_check(errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: adapter registry: %s\n", errbuf);
        goto fail;
    }
    app->adapter = adapter_find(cfg->adapter.type);
    if (app->adapter == NULL) {
        fprintf(stderr, "acmeproxy: %s: [adapter] type %s is unknown\n",
                cfg->path, cfg->adapter.type);
        goto fail;
    }
    if (config_section_check(asec, app->adapter->config_keys,
                             app->adapter->name, errbuf,
                             sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        goto fail;
    }
    actx.ca = app->ca;
    actx.data_dir = cfg->server.data_dir;
    if (app->adapter->init(asec, &actx, &app->adapter_state, errbuf,
                           sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: adapter %s: %s\n", app->adapter->name,
                errbuf);
        app->adapter = NULL;
        goto fail;
    }
    /* A PKI that is down at start is worth a warning, not a refusal to
     * start: orders wait and retry (docs/adapters.md). */
    if (app->adapter->health != NULL &&
        app->adapter->health(app->adapter_state, errbuf, sizeof(errbuf)) !=
            AP_OK) {
        log_warn("main", "adapter %s is not healthy at start: %s",
                 app->adapter->name, errbuf);
    }
    return 0;
fail:
    app_close(app);
    return -1;
}

/* Runs an admin subcommand (proxy/admin.h) on the data directory. */
static int
administer(const struct config *cfg, const struct admin_cmd *cmd)
{
    struct app app;
    int status;

    memset(&app, 0, sizeof(app));
    app.cfg = cfg;
    app.base = cfg->server.base_url;
    if (app_open(cfg, &app, cmd->needs_pki, false) != 0) {
        return ADMIN_EXIT_FAIL;
    }
    status = admin_run(&app, cmd, stdout, stderr);
    app_close(&app);
    return status;
}

static int
serve(const struct config *cfg)
{
    struct app app;
    struct server *srv = NULL;
    char tls_pem[4096];
    char errbuf[512];
    unsigned nthreads[JOB__MAX];
    job_fn fns[JOB__MAX];
    sigset_t sigs;
    int sig = 0;
    int status = 1;
    bool https = strncmp(cfg->server.base_url, "https://", 8) == 0;

    memset(&app, 0, sizeof(app));
    app.cfg = cfg;
    app.base = cfg->server.base_url;

    /* Signals go to sigwait below, not to whichever thread runs. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (app_open(cfg, &app, true, true) != 0) {
        return 1;
    }
    if (https && prepare_tls(cfg, app.ca, tls_pem, sizeof(tls_pem)) != 0) {
        goto out;
    }
    if (nonce_ctx_new(cfg->acme.nonce_ttl_sec, &app.nonces) != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot create the nonce context\n");
        goto out;
    }
    nthreads[JOB_VALIDATE] = cfg->validation.workers;
    if (issuer_open(&app, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        goto out;
    }
    nthreads[JOB_ISSUE] = issuer_threads(app.issuer);
    fns[JOB_VALIDATE] = validate_run;
    fns[JOB_ISSUE] = issuer_run;
    if (jobs_start(&app, nthreads, fns, &app.jobs) != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot start the job workers\n");
        goto out;
    }
    if (server_start(&app, https ? tls_pem : NULL, &srv, errbuf,
                     sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        goto out;
    }
    /* The workers start once clients can connect: a backlog never keeps
     * the listener waiting. */
    if (jobs_run(app.jobs) != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot start the job workers\n");
        goto out;
    }
    log_info("main", "listening on %s adapter=%s", cfg->server.listen,
             app.adapter->name);
    printf("acmeproxy: ACME directory: %s%s\n", cfg->server.base_url,
           PATH_DIRECTORY);
    printf("acmeproxy: clients must trust: %s/%s\n", cfg->server.data_dir,
           CA_ROOT_FILE);
    fflush(stdout);

    while (sigwait(&sigs, &sig) == 0) {
        if (sig == SIGHUP) {
            /* logrotate moved the audit log: write to a new file. */
            if (audit_reopen(app.audit) != AP_OK) {
                log_err("main", "audit log not reopened");
            }
            continue;
        }
        break;
    }
    log_info("main", "signal %d: stopping", sig);
    status = 0;
out:
    server_stop(srv);
    issuer_stop_prober(app.issuer);
    jobs_stop(app.jobs);
    issuer_close(app.issuer);
    nonce_ctx_free(app.nonces);
    app_close(&app);
    return status;
}

int
main(int argc, char **argv)
{
    struct config cfg;
    struct admin_cmd cmd;
    const char *conf = NULL;
    char errbuf[512];
    int opt;
    int status;

    /* "+": stop at the subcommand, whose options are admin_parse's. */
    while ((opt = getopt(argc, argv, "+c:h")) != -1) {
        switch (opt) {
        case 'c':
            conf = optarg;
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (conf == NULL) {
        usage();
        return 2;
    }
    if (optind < argc && admin_parse(argc - optind, argv + optind, &cmd,
                                     errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        usage();
        return 2;
    }
    if (config_load(conf, &cfg, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        return 2;
    }
    log_level = cfg.server.log_level;
    status = optind < argc ? administer(&cfg, &cmd) : serve(&cfg);
    config_fini(&cfg);
    return status;
}
