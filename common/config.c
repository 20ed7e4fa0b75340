/* common/config.c: INI parsing with inih into struct config.
 *
 * inih reports the line of the first error when the handler returns 0; the
 * handler records what was wrong so the message can name file, line, key. */
#include "common/config.h"
#include "common/config_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/netpolicy.h"
#include "common/resolve.h"

#define CONFIG_MAX_LINE 4096

enum kv_kind { KV_STR, KV_UINT, KV_SIZE, KV_LOGLEVEL, KV_BOOL };

struct kv_spec {
    const char *section;
    const char *key;
    enum kv_kind kind;
    size_t offset;      /* into struct config */
    unsigned long long min;
    unsigned long long max;
    const char *dflt;   /* text form of the default */
};

#define STR(sec, key, field, d)                                               \
    { sec, key, KV_STR, offsetof(struct config, field), 0, 0, d }
#define UINT(sec, key, field, lo, hi, d)                                      \
    { sec, key, KV_UINT, offsetof(struct config, field), lo, hi, d }
#define BOOL(sec, key, field, d)                                              \
    { sec, key, KV_BOOL, offsetof(struct config, field), 0, 0, d }
#define SIZE(sec, key, field, lo, hi, d)                                      \
    { sec, key, KV_SIZE, offsetof(struct config, field), lo, hi, d }

/* Every key the proxy knows, with its default. proxy.conf.example lists
 * the same keys with a sentence each. */
static const struct kv_spec specs[] = {
    STR("server", "listen", server.listen, "127.0.0.1:14000"),
    STR("server", "base_url", server.base_url, "https://localhost:14000"),
    STR("server", "data_dir", server.data_dir, "./data"),
    STR("server", "tls_cert", server.tls_cert, ""),
    STR("server", "tls_key", server.tls_key, ""),
    UINT("server", "threads", server.threads, 2, 1024, "32"),
    SIZE("server", "max_body", server.max_body, 1024, 1048576, "65536"),
    SIZE("server", "max_head", server.max_head, 1024, 65536, "8192"),
    UINT("server", "handshake_timeout_ms", server.handshake_timeout_ms, 100,
         120000, "5000"),
    UINT("server", "head_timeout_ms", server.head_timeout_ms, 100, 120000,
         "5000"),
    UINT("server", "body_timeout_ms", server.body_timeout_ms, 100, 120000,
         "5000"),
    UINT("server", "idle_timeout_ms", server.idle_timeout_ms, 100, 120000,
         "5000"),
    UINT("server", "max_conns", server.max_conns, 16, 1000000, "4096"),
    UINT("server", "max_conns_per_ip", server.max_conns_per_ip, 1, 1000000,
         "64"),
    { "server", "log_level", KV_LOGLEVEL,
      offsetof(struct config, server.log_level), 0, 0, "info" },
    SIZE("server", "map_size_mb", server.map_size_mb, 16, 1048576, "1024"),
    STR("acme", "terms_of_service", acme.tos_url, ""),
    STR("acme", "website", acme.website, ""),
    UINT("acme", "nonce_ttl", acme.nonce_ttl_sec, 10, 86400, "3600"),
    STR("acme", "nonce_key_file", acme.nonce_key_file, ""),
    UINT("acme", "order_ttl", acme.order_ttl_sec, 60, 30 * 86400, "604800"),
    UINT("acme", "wait_ms", acme.wait_ms, 0, 30000, "1000"),
    UINT("acme", "cert_days", acme.cert_days, 1, 3650, "90"),
    UINT("acme", "orders_per_page", acme.orders_per_page, 1, 1000, "100"),
    STR("acme", "renewal_explanation_url", acme.ari_explanation_url, ""),
    STR("acme", "default_profile", acme.default_profile, ""),
    BOOL("acme", "single_label_names", acme.single_label_names, "no"),
    BOOL("acme", "certificate_get", acme.certificate_get, "no"),
    UINT("validation", "http_port", validation.http_port, 1, 65535, "80"),
    UINT("validation", "tls_port", validation.tls_port, 1, 65535, "443"),
    STR("validation", "resolver", validation.resolver, ""),
    UINT("validation", "workers", validation.workers, 1, 64, "4"),
    UINT("validation", "timeout_ms", validation.timeout_ms, 100, 120000,
         "10000"),
    SIZE("validation", "max_body", validation.max_body, 128, 65536, "8192"),
    STR("validation", "allow", validation.allow, ""),
    STR("validation", "deny", validation.deny, NETPOLICY_DEFAULT_DENY),
    UINT("validation", "max_concurrent", validation.max_concurrent, 1, 1024,
         "16"),
    UINT("validation", "max_per_identifier", validation.max_per_identifier,
         1, 64, "2"),
    STR("adapter", "type", adapter.type, "local"),
    BOOL("acme", "eab_required", acme.eab_required, "no"),
    BOOL("acme", "eab_single_use", acme.eab_single_use, "no"),
    STR("policy", "allow_names", policy.allow_names, ""),
    STR("policy", "allow_ips", policy.allow_ips, ""),
    BOOL("policy", "wildcards", policy.wildcards, "yes"),
    UINT("policy", "max_identifiers", policy.max_identifiers, 1, 100, "100"),
    UINT("policy", "min_rsa_bits", policy.min_rsa_bits, 2048, 8192, "2048"),
    STR("policy", "ec_curves", policy.ec_curves, "P-256 P-384"),
    UINT("policy", "max_validity_days", policy.max_validity_days, 0, 3650,
         "0"),
    UINT("ratelimit", "accounts_per_ip_hour",
         ratelimit.accounts_per_ip_hour, 0, 1000000, "0"),
    UINT("ratelimit", "orders_per_account_hour",
         ratelimit.orders_per_account_hour, 0, 1000000, "0"),
    UINT("ratelimit", "pending_authz_per_account",
         ratelimit.pending_authz_per_account, 0, 1000000, "0"),
    UINT("ratelimit", "failed_validations_per_identifier_hour",
         ratelimit.failed_validations_per_identifier_hour, 0, 1000000, "0"),
    UINT("ratelimit", "inflight_per_account", ratelimit.inflight_per_account,
         0, 1000000, "0"),
    STR("audit", "file", audit.file, ""),
    BOOL("audit", "syslog", audit.syslog, "no"),
    STR("store", "engine", store.engine, "lmdb"),
    STR("store", "postgresql", store.postgresql, ""),
    STR("store", "password", store.password, ""),
    STR("store", "instance", store.instance, ""),
    UINT("store", "pool_size", store.pool_size, 0, 512, "0"),
    UINT("store", "lease_seconds", store.lease_seconds, 3, 3600, "30"),
    STR("admin", "listen", admin.listen, ""),
    UINT("admin", "max_job_age", admin.max_job_age, 1, 7 * 86400, "600"),
    UINT("admin", "max_validation_wait", admin.max_validation_wait, 1, 86400,
         "30"),
    UINT("admin", "probe_interval", admin.probe_interval, 1, 3600, "10"),
    STR("admin", "token_file", admin.token_file, ""),
    STR("admin", "tls_cert", admin.tls_cert, ""),
    STR("admin", "tls_key", admin.tls_key, ""),
    STR("admin", "client_ca", admin.client_ca, ""),
    UINT("admin", "probe_timeout_ms", admin.probe_timeout_ms, 100, 120000,
         "5000"),
    UINT("oversight", "check_interval", oversight.check_interval, 10, 86400,
         "3600"),
    UINT("oversight", "expiry_days", oversight.expiry_days, 1, 365, "14"),
    UINT("oversight", "webhook_timeout_ms", oversight.webhook_timeout_ms,
         100, 60000, "5000"),
    UINT("oversight", "webhook_max_age", oversight.webhook_max_age, 60,
         7 * 86400, "86400"),
};

/* Keys that only a restart applies: the listeners, the data directory and
 * what is sized once at start (threads, store map, connection gate, nonce
 * lifetime, audit destination). A reload that changes one is refused. */
static const char *const restart_only[][2] = {
    { "server", "listen" },
    { "server", "base_url" },
    { "server", "data_dir" },
    { "server", "threads" },
    { "server", "max_body" },
    { "server", "max_head" },
    { "server", "handshake_timeout_ms" },
    { "server", "head_timeout_ms" },
    { "server", "body_timeout_ms" },
    { "server", "idle_timeout_ms" },
    { "server", "max_conns" },
    { "server", "max_conns_per_ip" },
    { "server", "map_size_mb" },
    { "acme", "nonce_ttl" },
    { "acme", "nonce_key_file" },
    { "validation", "workers" },
    { "audit", "file" },
    { "audit", "syslog" },
    { "admin", "listen" },
    { "admin", "tls_cert" },
    { "admin", "tls_key" },
    { "admin", "client_ca" },
    { "store", "engine" },
    { "store", "postgresql" },
    { "store", "password" },
    { "store", "instance" },
    { "store", "pool_size" },
    { "store", "lease_seconds" },
};

struct load_ctx {
    struct config *cfg;
    char msg[256];          /* what the failing line did wrong */
};

static const struct kv_spec *
spec_find(const char *section, const char *key)
{
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (strcmp(specs[i].section, section) == 0 &&
            strcmp(specs[i].key, key) == 0) {
            return &specs[i];
        }
    }
    return NULL;
}

static bool
section_known(const char *section)
{
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (strcmp(specs[i].section, section) == 0) {
            return true;
        }
    }
    return false;
}

ap_err
config_parse_number(const char *value, unsigned long long min,
                    unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v;

    if (value[0] == '\0' || value[0] == '-' || value[0] == '+') {
        return AP_EPARSE;
    }
    errno = 0;
    v = strtoull(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0') {
        return AP_EPARSE;
    }
    if (v < min || v > max) {
        return AP_EINVAL;
    }
    *out = v;
    return AP_OK;
}

static ap_err
spec_apply(const struct kv_spec *s, struct config *cfg, const char *value,
           char *msg, size_t msglen)
{
    char *base = (char *)cfg;
    unsigned long long v = 0;
    ap_err rc;
    int lvl;

    switch (s->kind) {
    case KV_STR: {
        char **field = (char **)(void *)(base + s->offset);
        char *copy = strdup(value);

        if (copy == NULL) {
            return AP_ENOMEM;
        }
        free(*field);
        *field = copy;
        return AP_OK;
    }
    case KV_BOOL: {
        bool *field = (bool *)(void *)(base + s->offset);

        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0) {
            *field = true;
        } else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0) {
            *field = false;
        } else {
            snprintf(msg, msglen, "%s: expected yes or no", s->key);
            return AP_EINVAL;
        }
        return AP_OK;
    }
    case KV_LOGLEVEL:
        lvl = log_level_parse(value);
        if (lvl < 0) {
            snprintf(msg, msglen, "%s: expected err, warn, info or debug",
                     s->key);
            return AP_EINVAL;
        }
        *(int *)(void *)(base + s->offset) = lvl;
        return AP_OK;
    case KV_UINT:
    case KV_SIZE:
        rc = config_parse_number(value, s->min, s->max, &v);
        if (rc != AP_OK) {
            snprintf(msg, msglen, "%s: expected a whole number from %llu to "
                     "%llu", s->key, s->min, s->max);
            return rc;
        }
        if (s->kind == KV_UINT) {
            *(unsigned *)(void *)(base + s->offset) = (unsigned)v;
        } else {
            *(size_t *)(void *)(base + s->offset) = (size_t)v;
        }
        return AP_OK;
    }
    return AP_EINTERNAL;
}

/* A key of a [profile.NAME] section. */
static int
profile_kv(struct load_ctx *lc, const char *pname, const char *key,
           const char *value)
{
    struct config *cfg = lc->cfg;
    struct config_profile *p = NULL;
    unsigned long long v = 0;
    char **field = NULL;

    if (pname[0] == '\0' || strlen(pname) > 64 ||
        strspn(pname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-_.") != strlen(pname)) {
        snprintf(lc->msg, sizeof(lc->msg),
                 "profile name must be 1-64 letters, digits, '-', '_', '.'");
        return 0;
    }
    for (size_t i = 0; i < cfg->n_profiles; i++) {
        if (strcmp(cfg->profiles[i].name, pname) == 0) {
            p = &cfg->profiles[i];
        }
    }
    if (p == NULL) {
        if (cfg->n_profiles >= CONFIG_MAX_PROFILES) {
            snprintf(lc->msg, sizeof(lc->msg), "at most %d profiles",
                     CONFIG_MAX_PROFILES);
            return 0;
        }
        p = &cfg->profiles[cfg->n_profiles++];
        p->name = strdup(pname);
        p->description = strdup("");
        p->template = strdup("");
        p->validity_days = 0;
        p->tls_server = true;
        p->adapter = strdup(CONFIG_DEFAULT_ADAPTER);
        if (p->name == NULL || p->description == NULL ||
            p->template == NULL || p->adapter == NULL) {
            snprintf(lc->msg, sizeof(lc->msg), "out of memory");
            return 0;
        }
    }
    if (strcmp(key, "description") == 0) {
        field = &p->description;
    } else if (strcmp(key, "template") == 0) {
        field = &p->template;
    } else if (strcmp(key, "adapter") == 0) {
        /* Checked against the adapters once the file is read. */
        field = &p->adapter;
    } else if (strcmp(key, "validity_days") == 0) {
        if (config_parse_number(value, 1, 3650, &v) != AP_OK) {
            snprintf(lc->msg, sizeof(lc->msg),
                     "validity_days: expected a whole number from 1 to 3650");
            return 0;
        }
        p->validity_days = (unsigned)v;
        return 1;
    } else if (strcmp(key, "tls_server") == 0) {
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0) {
            p->tls_server = true;
        } else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0) {
            p->tls_server = false;
        } else {
            snprintf(lc->msg, sizeof(lc->msg),
                     "tls_server: expected yes or no");
            return 0;
        }
        return 1;
    } else {
        snprintf(lc->msg, sizeof(lc->msg),
                 "unknown key %s in [profile.%s] (description, template, "
                 "adapter, validity_days, tls_server)", key, pname);
        return 0;
    }
    free(*field);
    *field = strdup(value);
    if (*field == NULL) {
        snprintf(lc->msg, sizeof(lc->msg), "out of memory");
        return 0;
    }
    return 1;
}

/* Appends key = value to sec (raw: checked later against the adapter's
 * key list). */
static int
section_add(struct load_ctx *lc, struct config_section *sec,
            const char *name, const char *value)
{
    struct config_kv *kv;

    kv = realloc(sec->kv, (sec->n + 1) * sizeof(*kv));
    if (kv == NULL) {
        snprintf(lc->msg, sizeof(lc->msg), "out of memory");
        return 0;
    }
    sec->kv = kv;
    kv[sec->n].key = strdup(name);
    kv[sec->n].value = strdup(value);
    kv[sec->n].line = 0;
    if (kv[sec->n].key == NULL || kv[sec->n].value == NULL) {
        free(kv[sec->n].key);
        free(kv[sec->n].value);
        snprintf(lc->msg, sizeof(lc->msg), "out of memory");
        return 0;
    }
    sec->n++;
    return 1;
}

/* A key of an [adapter.NAME] section: "type" picks the back end, the
 * others are kept raw like those of [adapter]. */
static int
named_adapter_kv(struct load_ctx *lc, const char *aname, const char *key,
                 const char *value)
{
    struct config *cfg = lc->cfg;
    struct config_adapter *a = NULL;

    if (aname[0] == '\0' || strlen(aname) > 64 ||
        strspn(aname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-_") != strlen(aname)) {
        snprintf(lc->msg, sizeof(lc->msg),
                 "adapter name must be 1-64 letters, digits, '-', '_'");
        return 0;
    }
    if (strcmp(aname, CONFIG_DEFAULT_ADAPTER) == 0) {
        snprintf(lc->msg, sizeof(lc->msg), "[adapter.%s]: the name %s is the "
                 "plain [adapter] section's", aname, CONFIG_DEFAULT_ADAPTER);
        return 0;
    }
    for (size_t i = 0; i < cfg->n_adapters; i++) {
        if (strcmp(cfg->adapters[i].name, aname) == 0) {
            a = &cfg->adapters[i];
        }
    }
    if (a == NULL) {
        if (cfg->n_adapters >= CONFIG_MAX_ADAPTERS) {
            snprintf(lc->msg, sizeof(lc->msg), "at most %d [adapter.NAME] "
                     "sections", CONFIG_MAX_ADAPTERS);
            return 0;
        }
        a = &cfg->adapters[cfg->n_adapters++];
        a->section.file = cfg->path;
        a->name = strdup(aname);
        if (a->name == NULL) {
            snprintf(lc->msg, sizeof(lc->msg), "out of memory");
            return 0;
        }
    }
    if (strcmp(key, "type") == 0) {
        free(a->type);
        a->type = strdup(value);
        if (a->type == NULL) {
            snprintf(lc->msg, sizeof(lc->msg), "out of memory");
            return 0;
        }
        return 1;
    }
    return section_add(lc, &a->section, key, value);
}

static int
on_kv(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *lc = user;
    struct config *cfg = lc->cfg;
    const struct kv_spec *s;
    struct config_section *sec = &cfg->adapter.section;

    if (name == NULL) {
        /* A section header alone (inih with INI_CALL_HANDLER_ON_NEW_SECTION). */
        return 1;
    }
    s = spec_find(section, name);
    if (s != NULL) {
        return spec_apply(s, cfg, value, lc->msg, sizeof(lc->msg)) == AP_OK;
    }
    if (strncmp(section, CONFIG_PROFILE_PREFIX,
                strlen(CONFIG_PROFILE_PREFIX)) == 0) {
        return profile_kv(lc, section + strlen(CONFIG_PROFILE_PREFIX), name,
                          value);
    }
    if (strncmp(section, CONFIG_ADAPTER_PREFIX,
                strlen(CONFIG_ADAPTER_PREFIX)) == 0) {
        return named_adapter_kv(lc, section + strlen(CONFIG_ADAPTER_PREFIX),
                                name, value);
    }
    if (strncmp(section, CONFIG_TEAM_PREFIX, strlen(CONFIG_TEAM_PREFIX)) == 0) {
        return config_team_kv(cfg, lc->msg, sizeof(lc->msg),
                              section + strlen(CONFIG_TEAM_PREFIX), name,
                              value);
    }
    if (strcmp(section, "adapter") == 0) {
        /* Checked later against the chosen adapter's key list. */
        return section_add(lc, sec, name, value);
    }
    if (!section_known(section)) {
        snprintf(lc->msg, sizeof(lc->msg), "unknown section [%s] (key %s)",
                 section, name);
    } else {
        snprintf(lc->msg, sizeof(lc->msg), "unknown key %s in [%s]", name,
                 section);
    }
    return 0;
}

/* Line numbers for the raw adapter keys: inih does not pass them to the
 * handler in Debian's build, so they are found by a second, plain read. */
static void
number_adapter_lines(struct config *cfg)
{
    struct config_section *sec = NULL;
    FILE *f;
    char line[CONFIG_MAX_LINE];
    int lineno = 0;

    f = fopen(cfg->path, "r");
    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line;
        size_t klen;

        lineno++;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '[') {
            /* [adapter] or [adapter.NAME]: whose keys follow. */
            sec = strncmp(p, "[adapter]", 9) == 0 ? &cfg->adapter.section
                                                  : NULL;
            for (size_t i = 0; i < cfg->n_adapters && sec == NULL &&
                               strncmp(p, "[adapter.", 9) == 0; i++) {
                size_t nl = strlen(cfg->adapters[i].name);

                if (strncmp(p + 9, cfg->adapters[i].name, nl) == 0 &&
                    p[9 + nl] == ']') {
                    sec = &cfg->adapters[i].section;
                }
            }
            continue;
        }
        if (sec == NULL) {
            continue;
        }
        klen = strcspn(p, " \t=:");
        for (size_t i = 0; i < sec->n; i++) {
            if (sec->kv[i].line == 0 && strlen(sec->kv[i].key) == klen &&
                strncmp(sec->kv[i].key, p, klen) == 0) {
                sec->kv[i].line = lineno;
                break;
            }
        }
    }
    fclose(f);
}

/* The line of key in [section] of path, for messages about values that
 * are checked after parsing; the section's header line when the key is
 * not written (a default, or missing), 0 when neither is. */
static int
key_line(const char *path, const char *section, const char *key)
{
    FILE *f = fopen(path, "r");
    char line[CONFIG_MAX_LINE];
    char header[80];
    int lineno = 0;
    int found = 0;
    int header_line = 0;
    bool in_section = false;

    if (f == NULL) {
        return 0;
    }
    snprintf(header, sizeof(header), "[%s]", section);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line;
        size_t klen = strlen(key);

        lineno++;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '[') {
            in_section = strncmp(p, header, strlen(header)) == 0;
            if (in_section && header_line == 0) {
                header_line = lineno;
            }
        } else if (in_section && strncmp(p, key, klen) == 0 &&
                   strchr(" \t=:", p[klen]) != NULL) {
            found = lineno;
        }
    }
    fclose(f);
    return found != 0 ? found : header_line;
}

/* Checks what one line cannot: *sec and *key name the key to blame (sec
 * may point into secbuf). */
static ap_err
check_values(struct config *cfg, char *msg, size_t msglen, const char **sec,
             const char **key, char *secbuf, size_t seclen)
{
    struct sockaddr_storage ss;
    struct netpolicy np;
    char npmsg[200];
    size_t n = strlen(cfg->server.base_url);

    if (strncmp(cfg->server.base_url, "https://", 8) != 0 &&
        strncmp(cfg->server.base_url, "http://", 7) != 0) {
        snprintf(msg, msglen, "[server] base_url must start with https://");
        *sec = "server";
        *key = "base_url";
        return AP_EINVAL;
    }
    if (n > 0 && cfg->server.base_url[n - 1] == '/') {
        snprintf(msg, msglen, "[server] base_url must not end with /");
        *sec = "server";
        *key = "base_url";
        return AP_EINVAL;
    }
    if (strchr(cfg->server.listen, ':') == NULL) {
        snprintf(msg, msglen, "[server] listen must be host:port");
        *sec = "server";
        *key = "listen";
        return AP_EINVAL;
    }
    if ((cfg->server.tls_cert[0] == '\0') != (cfg->server.tls_key[0] == '\0')) {
        snprintf(msg, msglen, "[server] tls_cert and tls_key go together");
        *sec = "server";
        *key = "tls_cert";
        return AP_EINVAL;
    }
    if ((cfg->admin.tls_cert[0] == '\0') != (cfg->admin.tls_key[0] == '\0')) {
        snprintf(msg, msglen, "[admin] tls_cert and tls_key go together");
        *sec = "admin";
        *key = cfg->admin.tls_cert[0] == '\0' ? "tls_key" : "tls_cert";
        return AP_EINVAL;
    }
    if (cfg->admin.client_ca[0] != '\0' && cfg->admin.tls_cert[0] == '\0') {
        snprintf(msg, msglen, "[admin] client_ca needs tls_cert and tls_key "
                 "(client certificates come with TLS)");
        *sec = "admin";
        *key = "client_ca";
        return AP_EINVAL;
    }
    for (size_t i = 0; i < cfg->n_profiles; i++) {
        if (cfg->profiles[i].validity_days == 0) {
            cfg->profiles[i].validity_days = cfg->acme.cert_days;
        }
    }
    for (size_t i = 0; i < cfg->n_adapters; i++) {
        if (cfg->adapters[i].type == NULL) {
            snprintf(msg, msglen, "[adapter.%s] needs a type",
                     cfg->adapters[i].name);
            snprintf(secbuf, seclen, "adapter.%s", cfg->adapters[i].name);
            *sec = secbuf;
            *key = "type";
            return AP_EINVAL;
        }
    }
    for (size_t i = 0; i < cfg->n_profiles; i++) {
        if (!config_adapter_find(cfg, cfg->profiles[i].adapter, NULL, NULL)) {
            snprintf(msg, msglen, "[profile.%s] adapter %.64s: no "
                     "[adapter.%.64s] section", cfg->profiles[i].name,
                     cfg->profiles[i].adapter, cfg->profiles[i].adapter);
            snprintf(secbuf, seclen, "profile.%s", cfg->profiles[i].name);
            *sec = secbuf;
            *key = "adapter";
            return AP_EINVAL;
        }
    }
    if (cfg->acme.default_profile[0] != '\0' &&
        config_profile_find(cfg, cfg->acme.default_profile) == NULL) {
        snprintf(msg, msglen, "[acme] default_profile %s has no "
                 "[profile.%s] section", cfg->acme.default_profile,
                 cfg->acme.default_profile);
        *sec = "acme";
        *key = "default_profile";
        return AP_EINVAL;
    }
    if (cfg->validation.resolver[0] != '\0' &&
        resolve_parse_server(cfg->validation.resolver, &ss) != AP_OK) {
        snprintf(msg, msglen, "[validation] resolver must be IPv4 host:port "
                 "or [IPv6]:port");
        *sec = "validation";
        *key = "resolver";
        return AP_EINVAL;
    }
    if (strcmp(cfg->store.engine, "lmdb") != 0 &&
        strcmp(cfg->store.engine, "postgresql") != 0) {
        snprintf(msg, msglen, "[store] engine must be lmdb or postgresql");
        *sec = "store";
        *key = "engine";
        return AP_EINVAL;
    }
    if (strcmp(cfg->store.engine, "postgresql") == 0 &&
        cfg->store.postgresql[0] == '\0') {
        snprintf(msg, msglen, "[store] postgresql (a libpq connection "
                 "string) is required with engine = postgresql");
        *sec = "store";
        *key = "engine";
        return AP_EINVAL;
    }
    if (netpolicy_init(&np, cfg->validation.allow, cfg->validation.deny,
                       npmsg, sizeof(npmsg)) != AP_OK) {
        snprintf(msg, msglen, "[validation] %s", npmsg);
        *sec = "validation";
        *key = "allow";
        return AP_EINVAL;
    }
    return AP_OK;
}

ap_err
config_load(const char *path, struct config *cfg, char *errbuf, size_t errlen)
{
    struct load_ctx lc;
    const char *bad_sec = "";
    const char *bad_key = "";
    char secbuf[96];
    ap_err rc = AP_ECONFIG;
    int line;

    memset(cfg, 0, sizeof(*cfg));
    memset(&lc, 0, sizeof(lc));
    lc.cfg = cfg;
    cfg->path = strdup(path);
    if (cfg->path == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        rc = AP_ENOMEM;
        goto out;
    }
    cfg->adapter.section.file = cfg->path;
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (spec_apply(&specs[i], cfg, specs[i].dflt, lc.msg,
                       sizeof(lc.msg)) != AP_OK) {
            snprintf(errbuf, errlen, "built-in default of %s is bad",
                     specs[i].key);
            rc = AP_EINTERNAL;
            goto out;
        }
    }
    ini_stop_on_first_error = true;
    ini_allow_multiline = false;
    ini_inline_comment_prefixes = (char *)";#";
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = CONFIG_MAX_LINE;
    line = ini_parse(path, on_kv, &lc);
    if (line == -1) {
        snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (line == -2) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    if (line > 0) {
        snprintf(errbuf, errlen, "%s:%d: %s", path, line,
                 lc.msg[0] ? lc.msg : "syntax error");
        goto out;
    }
    if (check_values(cfg, lc.msg, sizeof(lc.msg), &bad_sec, &bad_key,
                     secbuf, sizeof(secbuf)) != AP_OK) {
        snprintf(errbuf, errlen, "%s:%d: %s", path,
                 key_line(path, bad_sec, bad_key), lc.msg);
        goto out;
    }
    if (config_check_teams(cfg, lc.msg, sizeof(lc.msg), &bad_sec, &bad_key) !=
        AP_OK) {
        char tsec[80];

        snprintf(tsec, sizeof(tsec), "%s%s", CONFIG_TEAM_PREFIX, bad_sec);
        snprintf(errbuf, errlen, "%s:%d: %s", path,
                 key_line(path, tsec, bad_key), lc.msg);
        goto out;
    }
    number_adapter_lines(cfg);
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        config_fini(cfg);
    }
    return rc;
}

void
config_fini(struct config *cfg)
{
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (specs[i].kind == KV_STR) {
            char **field = (char **)(void *)((char *)cfg + specs[i].offset);
            free(*field);
        }
    }
    for (size_t i = 0; i < cfg->adapter.section.n; i++) {
        free(cfg->adapter.section.kv[i].key);
        free(cfg->adapter.section.kv[i].value);
    }
    free(cfg->adapter.section.kv);
    for (size_t i = 0; i < cfg->n_adapters; i++) {
        struct config_adapter *a = &cfg->adapters[i];

        for (size_t k = 0; k < a->section.n; k++) {
            free(a->section.kv[k].key);
            free(a->section.kv[k].value);
        }
        free(a->section.kv);
        free(a->name);
        free(a->type);
    }
    for (size_t i = 0; i < cfg->n_profiles; i++) {
        free(cfg->profiles[i].name);
        free(cfg->profiles[i].description);
        free(cfg->profiles[i].template);
        free(cfg->profiles[i].adapter);
    }
    for (size_t i = 0; i < cfg->n_teams; i++) {
        struct config_team *t = &cfg->teams[i];

        free(t->name);
        free(t->networks);
        free(t->allow_names);
        free(t->allow_ips);
        free(t->profiles);
        free(t->webhook);
        free(t->webhook_ca);
        free(t->webhook_secret_file);
    }
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

bool
config_restart_key(const struct config *a, const struct config *b,
                   char *out, size_t outlen)
{
    for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]);
         i++) {
        const struct kv_spec *s = spec_find(restart_only[i][0],
                                            restart_only[i][1]);
        const char *pa = (const char *)a + s->offset;
        const char *pb = (const char *)b + s->offset;
        bool same = true;

        switch (s->kind) {
        case KV_STR:
            same = strcmp(*(char *const *)(const void *)pa,
                          *(char *const *)(const void *)pb) == 0;
            break;
        case KV_UINT:
            same = *(const unsigned *)(const void *)pa ==
                   *(const unsigned *)(const void *)pb;
            break;
        case KV_SIZE:
            same = *(const size_t *)(const void *)pa ==
                   *(const size_t *)(const void *)pb;
            break;
        case KV_BOOL:
            same = *(const bool *)(const void *)pa ==
                   *(const bool *)(const void *)pb;
            break;
        case KV_LOGLEVEL:
            same = *(const int *)(const void *)pa ==
                   *(const int *)(const void *)pb;
            break;
        }
        if (!same) {
            (void)snprintf(out, outlen, "[%s] %s", s->section, s->key);
            return true;
        }
    }
    return false;
}

const char *
config_section_get(const struct config_section *sec, const char *key)
{
    for (size_t i = 0; i < sec->n; i++) {
        if (strcmp(sec->kv[i].key, key) == 0) {
            return sec->kv[i].value;
        }
    }
    return NULL;
}

ap_err
config_section_check(const struct config_section *sec,
                     const char *const *keys, const char *what, char *errbuf,
                     size_t errlen)
{
    for (size_t i = 0; i < sec->n; i++) {
        bool known = false;

        for (size_t k = 0; keys != NULL && keys[k] != NULL; k++) {
            if (strcmp(keys[k], sec->kv[i].key) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            snprintf(errbuf, errlen, "%s:%d: unknown key %s for %s",
                     sec->file ? sec->file : "config", sec->kv[i].line,
                     sec->kv[i].key, what);
            return AP_ECONFIG;
        }
    }
    return AP_OK;
}

const struct config_profile *
config_profile_find(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_profiles; i++) {
        if (strcmp(cfg->profiles[i].name, name) == 0) {
            return &cfg->profiles[i];
        }
    }
    return NULL;
}

#define CONFIG_MAX_SECRET 8192

ap_err
config_store_password(const struct config *cfg, char **out, char *errbuf,
                      size_t errlen)
{
    const char *spec = cfg->store.password;
    const char *path;
    char *data = NULL;
    char why[300];
    struct stat sb;
    size_t n = 0;
    ap_err rc;

    *out = NULL;
    if (spec == NULL || spec[0] == '\0') {
        return AP_OK;
    }
    if (strncmp(spec, "env:", 4) == 0) {
        const char *v = getenv(spec + 4);

        if (v == NULL || v[0] == '\0') {
            snprintf(errbuf, errlen, "%s: [store] password: environment "
                     "variable %s is not set", cfg->path, spec + 4);
            return AP_ECONFIG;
        }
        *out = strdup(v);
        return *out != NULL ? AP_OK : AP_ENOMEM;
    }
    path = strncmp(spec, "file:", 5) == 0 ? spec + 5 : spec;
    rc = fileio_read(path, CONFIG_MAX_SECRET, FILEIO_SECRET, &data, &n, why,
                     sizeof(why));
    if (rc != AP_OK) {
        snprintf(errbuf, errlen, "%s: [store] password: cannot read %s",
                 cfg->path, why);
        return rc == AP_ENOMEM ? rc : AP_ECONFIG;
    }
    /* The first line; the rest is wiped, not left behind the NUL. */
    {
        size_t keep = strcspn(data, "\r\n");

        crypto_zeroize(data + keep, n - keep);
    }
    if (data[0] == '\0') {
        snprintf(errbuf, errlen, "%s: [store] password: %s is empty",
                 cfg->path, path);
        config_secret_free(data);
        return AP_ECONFIG;
    }
    if (stat(path, &sb) == 0 && (sb.st_mode & 077) != 0) {
        log_warn("config", "%s (the PostgreSQL password) may be read by "
                 "group or others", path);
    }
    *out = data;
    return AP_OK;
}

void
config_secret_free(char *secret)
{
    if (secret != NULL) {
        crypto_zeroize(secret, strlen(secret));
        free(secret);
    }
}

bool
config_adapter_find(const struct config *cfg, const char *name,
                    const char **type, const struct config_section **section)
{
    if (name == NULL || name[0] == '\0' ||
        strcmp(name, CONFIG_DEFAULT_ADAPTER) == 0) {
        if (type != NULL) {
            *type = cfg->adapter.type;
        }
        if (section != NULL) {
            *section = &cfg->adapter.section;
        }
        return true;
    }
    for (size_t i = 0; i < cfg->n_adapters; i++) {
        if (strcmp(cfg->adapters[i].name, name) == 0) {
            if (type != NULL) {
                *type = cfg->adapters[i].type;
            }
            if (section != NULL) {
                *section = &cfg->adapters[i].section;
            }
            return true;
        }
    }
    return false;
}
