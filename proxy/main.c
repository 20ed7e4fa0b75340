/* proxy/main.c: command line, start order, signals, reload, stop order.
 *
 * `acmeproxy -c proxy.conf` serves in the foreground until SIGINT or
 * SIGTERM. Start: config; the start-up check in a forked child (data
 * directory, crypto, CA, TLS certificate: start_check, so that OpenSSL is
 * set up only at its first use here); the CA opened deferred, store,
 * nonces, the first configuration snapshot (policy, adapter,
 * issuer), job workers, listener, admin listener; then READY=1 to systemd
 * (sd_notify; nothing without NOTIFY_SOCKET) and a watchdog thread when
 * WATCHDOG_USEC asks for one. libsystemd is loaded (dlopen) only when
 * NOTIFY_SOCKET is set: outside systemd it is never mapped. SIGHUP reloads
 * the whole configuration (proxy/snapshot.h) and reopens the audit log.
 * Stop in reverse. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "adapters/adapter.h"
#include "common/ca.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/store.h"
#include "proxy/admin.h"
#include "proxy/adminsrv.h"
#include "proxy/app.h"
#include "proxy/audit.h"
#include "proxy/cluster.h"
#include "proxy/issuer.h"
#include "proxy/jobs.h"
#include "proxy/metrics.h"
#include "proxy/nonce.h"
#include "proxy/policy.h"
#include "proxy/ratelimit.h"
#include "proxy/server.h"
#include "proxy/snapshot.h"
#include "proxy/validate.h"
#include "proxy/webhook.h"


static void
usage(void)
{
    admin_usage(stderr);
    fprintf(stderr, "  migrate [--from-lmdb DIR]   PostgreSQL: upgrade the "
                    "schema; copy a\n"
                    "                              single-node LMDB store "
                    "into the empty database\n");
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
#define MAIN_WEBHOOK_THREADS 2 /* webhook deliveries at once */

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

/* Makes data_dir/name: the operator's key and certificate, or a fresh
 * key and a certificate from the local CA for the base_url host. */
static int
prepare_tls(const struct config *cfg, struct ca *ca, const char *name,
            char *pem_path, size_t len)
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

    snprintf(pem_path, len, "%s/%s", cfg->server.data_dir, name);
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

/* Several instances share the store (docs/ha.md): PostgreSQL. */
static bool
shared_store(const struct config *cfg)
{
    return strcmp(cfg->store.engine, "postgresql") == 0;
}

/* The embedded CA signs for every instance of a shared store: the local
 * adapter's certificates, or the listener's when no tls_cert is given. */
static bool
shared_ca(const struct config *cfg)
{
    bool local = strcmp(cfg->adapter.type, "local") == 0;

    for (size_t i = 0; i < cfg->n_adapters && !local; i++) {
        local = strcmp(cfg->adapters[i].type, "local") == 0;
    }
    return shared_store(cfg) && (local || cfg->server.tls_cert[0] == '\0');
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
    /* Several instances on one store count together (docs/ha.md). */
    if ((shared_store(cfg) ? ratelimit_new_shared(app->st, &app->limits)
                           : ratelimit_new(&app->limits)) != AP_OK) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    if (cfg->audit.file[0] != '\0') {
        snprintf(path, sizeof(path), "%s", cfg->audit.file);
    } else {
        snprintf(path, sizeof(path), "%s/audit.log", cfg->server.data_dir);
    }
    snprintf(lock, sizeof(lock), "%s/audit.lock", cfg->server.data_dir);
    if (audit_open(app->st, path, lock, cfg->audit.syslog, serving,
                   &app->audit, errbuf, errlen) != AP_OK) {
        return -1;
    }
    if (shared_store(cfg)) {
        audit_set_shared(app->audit);
    }
    return 0;
}

static void
app_close(struct app *app)
{
    struct app_pki *pkis = (struct app_pki *)(uintptr_t)app->pkis;

    for (size_t i = 0; i < app->n_pkis; i++) {
        pkis[i].ops->free(pkis[i].state);
    }
    free(pkis);
    app->pkis = NULL;
    app->n_pkis = 0;
    app->adapter = NULL;
    audit_close(app->audit);
    ratelimit_free(app->limits);
    free(app->policy);
    store_close(app->st);
    ca_free(app->ca);
    httpc_global_fini();
    crypto_fini();
}

/* The connections of a PostgreSQL store: one per request thread and job
 * worker, and a few for the admin listener and the housekeeping. */
static unsigned
pool_size(const struct config *cfg)
{
    if (cfg->store.pool_size != 0) {
        return cfg->store.pool_size;
    }
    return cfg->server.threads + cfg->validation.workers + 16;
}

/* Opens the store [store] names: LMDB in dbdir (<data_dir>/db), or
 * PostgreSQL with the password [store] password names (wiped once the
 * store has its copy). Says why on stderr. */
static int
open_store(const struct config *cfg, const char *dbdir, struct store **out)
{
    struct store_config sc;
    char *password = NULL;
    char errbuf[512];
    ap_err rc;

    memset(&sc, 0, sizeof(sc));
    sc.dir = dbdir;
    sc.map_size_mb = cfg->server.map_size_mb;
    if (strcmp(cfg->store.engine, "postgresql") == 0) {
        sc.engine = STORE_ENGINE_POSTGRESQL;
        sc.conninfo = cfg->store.postgresql;
        sc.instance = cfg->store.instance[0] != '\0' ? cfg->store.instance
                                                     : NULL;
        sc.pool_size = pool_size(cfg);
        sc.lease_ms = cfg->store.lease_seconds * 1000u;
        if (config_store_password(cfg, &password, errbuf, sizeof(errbuf)) !=
            AP_OK) {
            fprintf(stderr, "acmeproxy: %s\n", errbuf);
            return -1;
        }
        sc.password = password;
    }
    rc = store_open(&sc, out, errbuf, sizeof(errbuf));
    config_secret_free(password);
    if (rc != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        return -1;
    }
    return 0;
}

/* `acmeproxy -c CONF migrate [--from-lmdb DIR]`: brings the PostgreSQL
 * schema to this build's version and, with --from-lmdb, copies the LMDB
 * store in DIR (a data directory, or its db/) into the (empty) database,
 * in one transaction, and prints the records copied per table. */
static int
migrate(const struct config *cfg, int argc, char **argv)
{
    struct store_config sc;
    struct store *from = NULL;
    struct store *to = NULL;
    size_t counts[STORE__MAX];
    char *password = NULL;
    char lmdb_dir[4096];
    char dbdir[4096];
    char errbuf[512];
    struct stat sb;
    int vfrom = 0;
    int vto = 0;
    int status = 1;

    if (argc != 1 && !(argc == 3 && strcmp(argv[1], "--from-lmdb") == 0)) {
        fprintf(stderr, "usage: acmeproxy -c CONF migrate [--from-lmdb "
                "DIR]\n");
        return 2;
    }
    if (strcmp(cfg->store.engine, "postgresql") != 0) {
        fprintf(stderr, "acmeproxy: migrate: [store] engine is %s; migrate "
                "is for engine = postgresql\n", cfg->store.engine);
        return 2;
    }
    if (argc == 3) {
        snprintf(lmdb_dir, sizeof(lmdb_dir), "%s/data.mdb", argv[2]);
        if (stat(lmdb_dir, &sb) == 0) {
            snprintf(lmdb_dir, sizeof(lmdb_dir), "%s", argv[2]);
        } else {
            snprintf(lmdb_dir, sizeof(lmdb_dir), "%s/db/data.mdb", argv[2]);
            if (stat(lmdb_dir, &sb) != 0) {
                fprintf(stderr, "acmeproxy: migrate: no LMDB store in %s "
                        "(nor in %s/db)\n", argv[2], argv[2]);
                return 1;
            }
            snprintf(lmdb_dir, sizeof(lmdb_dir), "%s/db", argv[2]);
        }
    }
    memset(&sc, 0, sizeof(sc));
    sc.engine = STORE_ENGINE_POSTGRESQL;
    sc.conninfo = cfg->store.postgresql;
    if (config_store_password(cfg, &password, errbuf, sizeof(errbuf)) !=
        AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        return 1;
    }
    sc.password = password;
    if (store_migrate(&sc, &vfrom, &vto, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: migrate: %s\n", errbuf);
        goto out;
    }
    printf("schema: version %d -> %d\n", vfrom, vto);
    if (argc == 1) {
        status = 0;
        goto out;
    }
    umask(077);
    snprintf(dbdir, sizeof(dbdir), "%s/db", cfg->server.data_dir);
    if (make_dir(cfg->server.data_dir) != 0 || make_dir(dbdir) != 0) {
        goto out;
    }
    if (open_store(cfg, dbdir, &to) != 0) {
        goto out;
    }
    memset(&sc, 0, sizeof(sc));
    sc.dir = lmdb_dir;
    sc.map_size_mb = cfg->server.map_size_mb;
    if (store_open(&sc, &from, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: migrate: %s\n", errbuf);
        goto out;
    }
    if (store_copy(from, to, counts, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: migrate: %s (nothing was copied)\n",
                errbuf);
        goto out;
    }
    for (int t = 0; t < STORE__MAX; t++) {
        printf("%s: %zu\n", store_table_name((enum store_table)t),
               counts[t]);
    }
    status = 0;
out:
    store_close(from);
    store_close(to);
    config_secret_free(password);
    return status;
}

/* What serving and the admin subcommands both need: the data directory,
 * crypto, libcurl, the store, policy and audit log and, with pki, the
 * local CA and (for the admin subcommands; serving takes it from the
 * configuration snapshot) the adapter. Says why on stderr and releases
 * what it opened when it fails. */
static int
app_open(const struct config *cfg, struct app *app, bool pki, bool serving)
{
    struct app_pki *pkis = NULL;
    struct adapter_ctx actx;
    char path[4096];
    char errbuf[512];

    umask(077);
    snprintf(path, sizeof(path), "%s/db", cfg->server.data_dir);
    if (make_dir(cfg->server.data_dir) != 0 || make_dir(path) != 0) {
        return -1;
    }
    /* libcurl is loaded at its first use (common/httpc.h), libpq when a
     * PostgreSQL store is opened (common/store_pg.c). Serving, OpenSSL is
     * set up at its first use too: start_check has seeded it and opened
     * the CA in a child. */
    if (serving) {
        crypto_init_deferred();
    } else if (crypto_init() != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot initialise crypto\n");
        return -1;
    }
    /* On a shared store the embedded CA is given, never made here: every
     * instance must sign with the same one (proxy/cluster.h). */
    if (pki && shared_ca(cfg) &&
        cluster_ca_files(cfg->server.data_dir, errbuf, sizeof(errbuf)) !=
            AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        goto fail;
    }
    /* Serving, the CA loads at its first use; on a shared store now, for
     * cluster_ca_check. */
    if (pki && (serving && !shared_ca(cfg)
                    ? ca_open_deferred(cfg->server.data_dir, &app->ca,
                                       errbuf, sizeof(errbuf))
                    : ca_open(cfg->server.data_dir, &app->ca, errbuf,
                              sizeof(errbuf))) != AP_OK) {
        fprintf(stderr, "acmeproxy: local CA in %s: %s\n",
                cfg->server.data_dir, errbuf);
        goto fail;
    }
    if (open_store(cfg, path, &app->st) != 0) {
        goto fail;
    }
    if (pki && shared_ca(cfg) &&
        cluster_ca_check(app->st, app->ca, errbuf, sizeof(errbuf)) !=
            AP_OK) {
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
    if (serving) {
        return 0;  /* the adapter is the configuration snapshot's */
    }
    /* Every adapter, so that a certificate is revoked at the PKI that
     * issued it (docs/adapters.md "Named adapters"). */
    pkis = calloc(1 + cfg->n_adapters, sizeof(*pkis));
    if (pkis == NULL) {
        fprintf(stderr, "acmeproxy: out of memory\n");
        goto fail;
    }
    app->pkis = pkis;
    for (size_t i = 0; i <= cfg->n_adapters; i++) {
        const char *name = i == 0 ? CONFIG_DEFAULT_ADAPTER
                                  : cfg->adapters[i - 1].name;
        const struct adapter_ops *ops;
        const char *type = NULL;
        const struct config_section *asec = NULL;
        void *state = NULL;

        (void)config_adapter_find(cfg, name, &type, &asec);
        ops = adapter_find(type);
        if (ops == NULL) {
            fprintf(stderr, "acmeproxy: %s: adapter %s: type %s is "
                    "unknown\n", cfg->path, name, type);
            goto fail;
        }
        if (config_section_check(asec, ops->config_keys, ops->name, errbuf,
                                 sizeof(errbuf)) != AP_OK) {
            fprintf(stderr, "acmeproxy: %s\n", errbuf);
            goto fail;
        }
        actx.ca = app->ca;
        actx.data_dir = cfg->server.data_dir;
        if (ops->init(asec, &actx, &state, errbuf, sizeof(errbuf)) != AP_OK) {
            fprintf(stderr, "acmeproxy: adapter %s (%s): %s\n", name,
                    ops->name, errbuf);
            goto fail;
        }
        pkis[i].name = name;
        pkis[i].ops = ops;
        pkis[i].state = state;
        app->n_pkis = i + 1;
        /* A PKI that is down at start is worth a warning, not a refusal
         * to start: orders wait and retry (docs/adapters.md). */
        if (ops->health != NULL &&
            ops->health(state, errbuf, sizeof(errbuf)) != AP_OK) {
            log_warn("main", "adapter %s (%s) is not healthy at start: %s",
                     name, ops->name, errbuf);
        }
    }
    app->adapter = pkis[0].ops;
    app->adapter_state = pkis[0].state;
    app->adapter_name = pkis[0].name;
    return 0;
fail:
    app_close(app);
    return -1;
}

/* start_check's child: what needs OpenSSL at start, with the same
 * messages as when the serving process did it itself. Exit status. */
static int
start_check_child(const struct config *cfg, bool https)
{
    struct ca *ca = NULL;
    char path[4096];
    char errbuf[512];
    int status = 1;

    umask(077);
    snprintf(path, sizeof(path), "%s/db", cfg->server.data_dir);
    if (make_dir(cfg->server.data_dir) != 0 || make_dir(path) != 0) {
        goto out;
    }
    if (crypto_init() != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot initialise crypto\n");
        goto out;
    }
    if (shared_ca(cfg) && cluster_ca_files(cfg->server.data_dir, errbuf,
                                           sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        goto out;
    }
    if (ca_open(cfg->server.data_dir, &ca, errbuf, sizeof(errbuf)) !=
        AP_OK) {
        fprintf(stderr, "acmeproxy: local CA in %s: %s\n",
                cfg->server.data_dir, errbuf);
        goto out;
    }
    if (https && prepare_tls(cfg, ca, "tls.pem", path, sizeof(path)) != 0) {
        goto out;
    }
    status = 0;
out:
    ca_free(ca);
    crypto_fini();
    return status;
}

/* The start-up check, in a child forked before any thread starts: it
 * seeds OpenSSL's generator (crypto_init), loads the local CA or makes
 * it (ca_open: a broken CA key or certificate stops the start here, with
 * the reason on stderr), and with https writes the listener's key and
 * certificate to data_dir/tls.pem (prepare_tls). The serving process then
 * opens the CA deferred (common/ca.h ca_open_deferred) and sets OpenSSL
 * up at its first request that needs it: about 2 MB of libcrypto's pages
 * and its heap are not mapped while idle (README, Decisions). 0, or -1
 * when the check failed (its reason on stderr). */
static int
start_check(const struct config *cfg, bool https)
{
    pid_t pid;
    int st = 0;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == -1) {
        fprintf(stderr, "acmeproxy: cannot fork the start-up check: %s\n",
                strerror(errno));
        return -1;
    }
    if (pid == 0) {
        fflush(stderr);
        _exit(start_check_child(cfg, https));
    }
    while (waitpid(pid, &st, 0) == -1) {
        if (errno != EINTR) {
            fprintf(stderr, "acmeproxy: the start-up check: %s\n",
                    strerror(errno));
            return -1;
        }
    }
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "acmeproxy: the start-up check died of signal "
                "%d\n", WTERMSIG(st));
        return -1;
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
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

/* ---- systemd (libsystemd, loaded only when systemd runs us) ---- */

#define MAIN_LIBSYSTEMD "libsystemd.so.0"

/* Set once by sd_bind before any thread starts, read-only after; both
 * NULL when NOTIFY_SOCKET is unset, where sd_notify would do nothing. */
static struct {
    __typeof__(sd_notify) *notify;
    __typeof__(sd_watchdog_enabled) *watchdog_enabled;
} sd;

/* Under systemd (NOTIFY_SOCKET set), loads libsystemd and binds
 * sd_notify and sd_watchdog_enabled; elsewhere does nothing. 0, or -1
 * with why on stderr (systemd would wait for a READY=1 that never
 * comes). */
static int
sd_bind(void)
{
    void *h;
    const char *e;

    if (getenv("NOTIFY_SOCKET") == NULL) {
        return 0;
    }
    h = dlopen(MAIN_LIBSYSTEMD, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        e = dlerror();
        fprintf(stderr, "acmeproxy: NOTIFY_SOCKET is set but libsystemd "
                "(%s, Debian package libsystemd0) cannot be loaded: %s\n",
                MAIN_LIBSYSTEMD, e != NULL ? e : "not found");
        return -1;
    }
    *(void **)&sd.notify = dlsym(h, "sd_notify");
    *(void **)&sd.watchdog_enabled = dlsym(h, "sd_watchdog_enabled");
    if (sd.notify == NULL || sd.watchdog_enabled == NULL) {
        fprintf(stderr, "acmeproxy: %s has no sd_notify or "
                "sd_watchdog_enabled\n", MAIN_LIBSYSTEMD);
        sd.notify = NULL;
        sd.watchdog_enabled = NULL;
        (void)dlclose(h);
        return -1;
    }
    return 0; /* never closed: the pointers stay valid */
}

/* sd_notify(0, msg) when systemd runs us; nothing otherwise. */
static void
notify(const char *msg)
{
    if (sd.notify != NULL) {
        (void)sd.notify(0, msg);
    }
}

/* The service watchdog (WatchdogSec): WATCHDOG=1 every half period while
 * the listener's event loop answers. */
struct watchdog {
    struct server *srv;
    unsigned long long usec;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
};

static void *
watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    unsigned long long half = w->usec / 2;
    unsigned wait_ms = (unsigned)(w->usec / 4000 < 1000 ? w->usec / 4000
                                                        : 1000);
    struct timespec ts;

    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(half / 1000000ULL);
        ts.tv_nsec += (long)(half % 1000000ULL) * 1000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!w->stopping &&
               pthread_cond_timedwait(&w->cond, &w->lock, &ts) == 0) {
        }
        if (w->stopping) {
            break;
        }
        pthread_mutex_unlock(&w->lock);
        if (server_alive(w->srv, wait_ms > 0 ? wait_ms : 1)) {
            notify("WATCHDOG=1");
        } else {
            log_err("main", "watchdog: the listener's event loop did not "
                    "answer within %u ms", wait_ms);
        }
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static struct watchdog *
watchdog_start(struct server *srv)
{
    struct watchdog *w;
    pthread_condattr_t ca;
    uint64_t usec = 0;

    if (sd.watchdog_enabled == NULL ||
        sd.watchdog_enabled(0, &usec) <= 0 || usec == 0) {
        return NULL;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        log_err("main", "watchdog: out of memory");
        return NULL;
    }
    w->srv = srv;
    w->usec = usec;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
        log_err("main", "watchdog: cannot start its thread");
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return NULL;
    }
    log_info("main", "watchdog: every %llu ms", usec / 2000ULL);
    return w;
}

static void
watchdog_stop(struct watchdog *w)
{
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

static void
notify_reloading(void)
{
    struct timespec ts;
    char msg[96];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    (void)snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)ts.tv_sec * 1000000ULL +
                       (unsigned long long)ts.tv_nsec / 1000ULL);
    notify(msg);
}

/* SIGHUP: the audit log is reopened (logrotate), and the whole
 * configuration is read again and swapped in, or refused with the reason
 * while the old one keeps serving. */
static void
reload(struct app *app, struct server *srv, bool https,
       unsigned *issue_threads)
{
    const struct config *cfg = app->cfg;
    struct snapshot *s = NULL;
    char errbuf[768];
    char pem[4096];
    char live[4096];
    ap_err rc;

    notify_reloading();
    if (audit_reopen(app->audit) != AP_OK) {
        log_err("main", "audit log not reopened");
    }
    rc = snapshot_build(app, cfg->path, true, &s, errbuf, sizeof(errbuf));
    if (rc == AP_OK && https && s->cfg.server.tls_cert[0] != '\0') {
        /* The listener's certificate and key: loaded whole into a new TLS
         * configuration before anything changes. */
        if (prepare_tls(&s->cfg, app->ca, "tls.pem.new", pem,
                        sizeof(pem)) != 0) {
            (void)snprintf(errbuf, sizeof(errbuf), "cannot read tls_cert %s "
                           "or tls_key %s", s->cfg.server.tls_cert,
                           s->cfg.server.tls_key);
            rc = AP_ECONFIG;
        } else {
            rc = server_set_tls(srv, pem, errbuf, sizeof(errbuf));
            (void)snprintf(live, sizeof(live), "%s/tls.pem",
                           cfg->server.data_dir);
            if (rc == AP_OK && rename(pem, live) != 0) {
                log_warn("main", "reload: %s not renamed to %s: %s", pem,
                         live, strerror(errno));
            }
            if (rc != AP_OK) {
                (void)unlink(pem);
            }
        }
    }
    if (rc == AP_OK && snapshot_issue_threads(s) > *issue_threads) {
        /* An adapter was added (or given more workers): the shared
         * issuance pool grows before its orders can come. */
        rc = jobs_grow(app->jobs, JOB_ISSUE, snapshot_issue_threads(s),
                       issue_threads);
        if (rc != AP_OK) {
            (void)snprintf(errbuf, sizeof(errbuf), "cannot start more "
                           "issuance workers");
        }
    }
    if (rc == AP_OK) {
        rc = snapshot_install(app, s);
        if (rc != AP_OK) {
            (void)snprintf(errbuf, sizeof(errbuf), "%s", ap_strerror(rc));
        }
    }
    if (rc == AP_OK) {
        jobs_set_runs(app->jobs, JOB_VALIDATE,
                      s->cfg.validation.max_concurrent);
    }
    if (rc != AP_OK) {
        snapshot_put(s);
        metrics_reload(false);
        log_err("main", "reload refused, the running configuration stays: "
                "%s", errbuf);
    } else {
        metrics_reload(true);
        log_info("main", "reload: %s applied (policy, profiles, rate limits, "
                 "adapter %s and %zu named, %u issuance workers%s)",
                 cfg->path, s->app.adapter->name, s->n_pkis - 1,
                 *issue_threads,
                 https && s->cfg.server.tls_cert[0] != '\0'
                     ? ", listener certificate"
                     : "");
    }
    notify("READY=1\nSTATUS=serving");
}

static int
serve(const struct config *cfg)
{
    struct app app;
    struct server *srv = NULL;
    struct adminsrv *admin = NULL;
    struct watchdog *wd = NULL;
    struct snapshot *snap = NULL;
    char tls_pem[4096];
    char errbuf[768];
    unsigned nthreads[JOB__MAX];
    job_fn fns[JOB__MAX];
    sigset_t sigs;
    int sig = 0;
    int status = 1;
    bool https = strncmp(cfg->server.base_url, "https://", 8) == 0;

    metrics_mark_start();
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

    if (sd_bind() != 0 || start_check(cfg, https) != 0 ||
        app_open(cfg, &app, true, true) != 0) {
        return 1;
    }
    /* Written by start_check (prepare_tls). */
    snprintf(tls_pem, sizeof(tls_pem), "%s/tls.pem", cfg->server.data_dir);
    /* With a key file every instance on the store redeems every
     * instance's nonces once (docs/ha.md "Nonces"). */
    if (shared_store(cfg) && cfg->acme.nonce_key_file[0] == '\0') {
        fprintf(stderr, "acmeproxy: %s: [acme] nonce_key_file is required "
                "with [store] engine = postgresql (the same key on every "
                "instance)\n", cfg->path);
        goto out;
    }
    if (cfg->acme.nonce_key_file[0] != '\0') {
        if (nonce_ctx_new_shared(cfg->acme.nonce_ttl_sec,
                                 cfg->acme.nonce_key_file, app.st,
                                 &app.nonces, errbuf,
                                 sizeof(errbuf)) != AP_OK) {
            fprintf(stderr, "acmeproxy: %s: %s\n", cfg->path, errbuf);
            goto out;
        }
    } else if (nonce_ctx_new(cfg->acme.nonce_ttl_sec, &app.nonces) != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot create the nonce context\n");
        goto out;
    }
    /* The first snapshot: policy, profiles, limits, adapter, issuer. */
    if (snapshot_build(&app, cfg->path, false, &snap, errbuf,
                       sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        goto out;
    }
    nthreads[JOB_VALIDATE] = cfg->validation.workers;
    nthreads[JOB_ISSUE] = snapshot_issue_threads(snap);
    fns[JOB_VALIDATE] = validate_run;
    fns[JOB_ISSUE] = issuer_run;
    nthreads[JOB_WEBHOOK] = MAIN_WEBHOOK_THREADS;
    fns[JOB_WEBHOOK] = webhook_run;
    if (jobs_start(&app, nthreads, fns, &app.jobs) != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot start the job workers\n");
        goto out;
    }
    /* Validations also run on the requests that start them (jobs.h):
     * max_concurrent bounds them all. */
    jobs_set_runs(app.jobs, JOB_VALIDATE, cfg->validation.max_concurrent);
    /* The oversight check runs at every start (proxy/webhook.h). */
    if (webhook_schedule_check(app.st) != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot queue the webhook check\n");
        goto out;
    }
    /* No other thread reads it yet: its prober waits for a failure. */
    snap->app.jobs = app.jobs;
    if (snapshot_install(&app, snap) != AP_OK) {
        fprintf(stderr, "acmeproxy: out of memory\n");
        goto out;
    }
    snap = NULL;
    if (server_start(&app, https ? tls_pem : NULL, &srv, errbuf,
                     sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmeproxy: %s\n", errbuf);
        goto out;
    }
    if (cfg->admin.listen[0] != '\0') {
        if (adminsrv_start(&app, srv, cfg->admin.listen,
                           nthreads[JOB_ISSUE], &admin, errbuf,
                           sizeof(errbuf)) != AP_OK) {
            fprintf(stderr, "acmeproxy: %s\n", errbuf);
            goto out;
        }
        if (strncmp(cfg->admin.listen, "127.", 4) != 0 &&
            strncmp(cfg->admin.listen, "[::1]", 5) != 0 &&
            strncmp(cfg->admin.listen, "localhost:", 10) != 0) {
            log_warn("main", "[admin] listen %s is not a loopback address: "
                     "health and metrics are open to that network",
                     cfg->admin.listen);
        }
    }
    /* The workers start once clients can connect: a backlog never keeps
     * the listener waiting. */
    if (jobs_run(app.jobs) != AP_OK) {
        fprintf(stderr, "acmeproxy: cannot start the job workers\n");
        goto out;
    }
    {
        struct app *view = app_acquire(&app);

        log_info("main", "listening on %s adapter=%s admin=%s version=%s",
                 cfg->server.listen, view->adapter->name,
                 cfg->admin.listen[0] ? cfg->admin.listen : "off",
                 metrics_version());
        app_release(view);
    }
    printf("acmeproxy: ACME directory: %s%s\n", cfg->server.base_url,
           PATH_DIRECTORY);
    printf("acmeproxy: clients must trust: %s/%s\n", cfg->server.data_dir,
           CA_ROOT_FILE);
    fflush(stdout);
    /* The listener accepts and the store is open: ready. */
    notify("READY=1\nSTATUS=serving");
    wd = watchdog_start(srv);

    while (sigwait(&sigs, &sig) == 0) {
        if (sig == SIGHUP) {
            reload(&app, srv, https, &nthreads[JOB_ISSUE]);
            continue;
        }
        break;
    }
    notify("STOPPING=1");
    log_info("main", "signal %d: stopping", sig);
    status = 0;
out:
    snapshot_put(snap); /* built, never installed */
    watchdog_stop(wd);
    adminsrv_stop(admin);
    server_stop(srv);
    snap = snapshot_get(&app);
    for (size_t i = 0; snap != NULL && i < snap->n_pkis; i++) {
        issuer_stop_prober(snap->pkis[i].issuer);
    }
    snapshot_put(snap);
    jobs_stop(app.jobs);
    snapshot_fini(&app);
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
    if (optind < argc && strcmp(argv[optind], "migrate") == 0) {
        if (config_load(conf, &cfg, errbuf, sizeof(errbuf)) != AP_OK) {
            fprintf(stderr, "acmeproxy: %s\n", errbuf);
            return 2;
        }
        log_level = cfg.server.log_level;
        status = migrate(&cfg, argc - optind, argv + optind);
        config_fini(&cfg);
        return status;
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
