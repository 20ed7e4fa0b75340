/* common/config.h: the INI configuration file, parsed with inih into typed
 * settings.
 *
 * Unknown sections or keys, and values that do not parse, are errors that
 * name the file, the line and the key. The [adapter] section's keys other
 * than "type" are kept raw and checked against the chosen adapter's key
 * list by the core. Not thread-safe while loading; read-only after. */
#ifndef AP_COMMON_CONFIG_H
#define AP_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct config_kv {
    char *key;
    char *value;
    int line;
};

/* Raw key = value pairs of one section, in file order. */
struct config_section {
    const char *file; /* the config file's path, for messages */
    struct config_kv *kv;
    size_t n;
};

#define CONFIG_MAX_PROFILES 16
#define CONFIG_PROFILE_PREFIX "profile."
#define CONFIG_MAX_ADAPTERS 8          /* [adapter.NAME] sections */
#define CONFIG_MAX_NAME 64             /* profile and adapter names */
#define CONFIG_ADAPTER_PREFIX "adapter."
/* The name of the plain [adapter] section: the default adapter, used by
 * profiles without an adapter key and by orders stored without one. */
#define CONFIG_DEFAULT_ADAPTER "default"

/* An ACME profile (draft-ietf-acme-profiles): [profile.NAME] */
struct config_profile {
    char *name;
    char *description;       /* shown in the directory's meta.profiles */
    char *template;          /* the PKI's template / role / profile */
    unsigned validity_days;  /* certificate lifetime; also the notAfter cap */
    bool tls_server;         /* the PKI's leaf must carry serverAuth */
    char *adapter;           /* the adapter's name; "default": [adapter] */
};

/* A named adapter: [adapter.NAME], every key the plain [adapter] takes. */
struct config_adapter {
    char *name;
    char *type;                     /* NULL until its "type" line */
    struct config_section section;  /* the keys besides type */
};

#define CONFIG_MAX_TEAMS 32
#define CONFIG_TEAM_PREFIX "team."

/* A team known by configuration: [team.NAME]. Accounts created from one
 * of its networks without external account binding join it (a trust
 * decision: README "Teams by network"); its policy narrows the global one
 * as an EAB key's does; its webhook receives the oversight events of its
 * certificates (proxy/webhook.h). Lists are kept as written ("" : none)
 * and checked at load. */
struct config_team {
    char *name;              /* 1-64 letters, digits, '-', '_', '.' */
    char *networks;          /* CIDR list; "": no account joins by address */
    char *allow_names;       /* ".suffix" or exact names; "": any */
    char *allow_ips;         /* CIDRs for ip identifiers; "": any */
    char *profiles;          /* profile names, first: the default; "": any */
    unsigned max_validity_days; /* 0: no cap of its own */
    char *webhook;           /* https URL; "": no webhook */
    char *webhook_ca;        /* PEM bundle for the webhook; "": system */
    char *webhook_secret_file; /* HMAC-SHA256 key file; "": unsigned */
};

struct config {
    char *path;
    struct {
        char *listen;        /* host:port of the HTTPS listener */
        char *base_url;      /* https://host[:port], no trailing slash */
        char *data_dir;
        char *tls_cert;      /* optional; empty: issued by the local CA */
        char *tls_key;
        unsigned threads;    /* civetweb worker threads */
        size_t max_body;     /* bytes; larger requests get 413 */
        size_t max_head;     /* request line + fields; larger get 431 */
        unsigned handshake_timeout_ms; /* accept to end of TLS handshake */
        unsigned head_timeout_ms;      /* the request head */
        unsigned body_timeout_ms;      /* the request body */
        unsigned idle_timeout_ms;      /* keep-alive pause */
        unsigned max_conns;            /* open connections */
        unsigned max_conns_per_ip;     /* from one address (IPv6: /64) */
        int log_level;       /* enum log_level */
        size_t map_size_mb;  /* LMDB map size */
    } server;
    struct {
        char *tos_url;              /* meta.termsOfService; empty: none */
        char *website;              /* meta.website; empty: none */
        unsigned nonce_ttl_sec;
        char *nonce_key_file;       /* shared nonce key; empty: per process */
        unsigned order_ttl_sec;     /* pending order and authz lifetime */
        unsigned wait_ms;           /* how long a challenge POST or finalize
                                       waits for the outcome */
        unsigned cert_days;         /* validity asked of the adapter */
        bool single_label_names;    /* accept "intranet"-style names */
        bool certificate_get;       /* plain GET on certificate URLs */
        unsigned orders_per_page;   /* account orders list page size */
        char *ari_explanation_url;  /* RFC 9773 explanationURL; may be "" */
        char *default_profile;      /* profile of orders that name none */
        bool eab_required;          /* newAccount needs a valid EAB */
        bool eab_single_use;        /* an EAB key binds one account */
    } acme;
    struct {
        unsigned http_port;
        unsigned tls_port;
        char *resolver;             /* host:port; empty: system resolver */
        unsigned workers;           /* validator threads */
        unsigned timeout_ms;        /* per validation attempt */
        size_t max_body;            /* http-01 response cap, bytes */
        char *allow;                /* CIDR list; empty: any address */
        char *deny;                 /* CIDR list, wins over allow */
        unsigned max_concurrent;    /* validations running at once */
        unsigned max_per_identifier; /* of those, for one identifier */
    } validation;
    struct {
        char *type;
        struct config_section section; /* the other [adapter] keys */
    } adapter;                      /* the default adapter ("default") */
    struct config_adapter adapters[CONFIG_MAX_ADAPTERS]; /* [adapter.NAME] */
    size_t n_adapters;
    struct config_profile profiles[CONFIG_MAX_PROFILES];
    size_t n_profiles;
    struct {                        /* [policy]: the global policy */
        char *allow_names;          /* ".suffix" or exact names; "": any */
        char *allow_ips;            /* CIDRs for ip identifiers; "": any */
        bool wildcards;
        unsigned max_identifiers;
        unsigned min_rsa_bits;      /* CSR keys */
        char *ec_curves;            /* CSR keys: "P-256 P-384" */
        unsigned max_validity_days; /* 0: the profile's lifetime only */
    } policy;
    struct {                        /* [ratelimit]: 0 turns a limit off */
        unsigned accounts_per_ip_hour;
        unsigned orders_per_account_hour;
        unsigned pending_authz_per_account;
        unsigned failed_validations_per_identifier_hour;
        unsigned inflight_per_account;
    } ratelimit;
    struct {                        /* [audit] */
        char *file;                 /* JSON lines; "": <data_dir>/audit.log */
        bool syslog;                /* also send each event to syslog */
    } audit;
    struct {                        /* [store] */
        char *engine;               /* "lmdb" or "postgresql" */
        char *postgresql;           /* libpq connection string */
        char *password;             /* env:NAME, file:PATH or PATH: where
                                       the password is, never itself */
        char *instance;             /* PostgreSQL instance id; "": host
                                       name and a hash of data_dir */
        unsigned pool_size;         /* connections; 0: from the threads */
        unsigned lease_seconds;     /* a job claim's lease (PostgreSQL) */
    } store;
    struct {                        /* [admin]: the admin listener */
        char *listen;               /* host:port; "": none */
        unsigned max_job_age;       /* s a due job may wait: else unready */
        unsigned max_validation_wait; /* s, with every validator busy */
        unsigned probe_interval;    /* s between adapter health probes */
        unsigned probe_timeout_ms;  /* a probe's deadline */
        char *token_file;           /* admin API bearer tokens ("NAME:TOKEN"
                                       lines); "": no token is accepted */
        char *tls_cert;             /* PEM certificate (and chain): the
                                       listener speaks HTTPS; "": plain */
        char *tls_key;              /* PEM private key, with tls_cert */
        char *client_ca;            /* PEM CA certificates a client
                                       certificate must chain to (TLS
                                       only); "": none is asked for */
    } admin;
    struct config_team teams[CONFIG_MAX_TEAMS];
    size_t n_teams;
    struct {                        /* [oversight]: renewal oversight */
        unsigned check_interval;    /* s between webhook checks */
        unsigned expiry_days;       /* "expiring" event: notAfter within */
        unsigned webhook_timeout_ms; /* one webhook POST's deadline */
        unsigned webhook_max_age;   /* s an event is retried, then dropped */
    } oversight;
};

/* The team called name, or NULL. */
const struct config_team *config_team_find(const struct config *cfg,
                                           const char *name);

/* The profile called name, or NULL. */
const struct config_profile *config_profile_find(const struct config *cfg,
                                                 const char *name);

/* The adapter called name ("default" or NULL: the plain [adapter]): its
 * type and raw keys. false when no such adapter is configured. */
bool config_adapter_find(const struct config *cfg, const char *name,
                         const char **type,
                         const struct config_section **section);

/* Loads path into cfg (zeroed by this call first). On error errbuf holds
 * "file:line: message" and cfg is left empty. */
AP_MUST_CHECK ap_err config_load(const char *path, struct config *cfg,
                                 char *errbuf, size_t errlen);
void config_fini(struct config *cfg);

/* Reads the PostgreSQL password that [store] password names: "env:NAME"
 * the environment variable, "file:PATH" or a plain path the file's first
 * line (at most 8 KiB; a file group or others may read is a warning).
 * *out NULL when the key is empty. The password never reaches errbuf or
 * the log; release it with config_secret_free. */
AP_MUST_CHECK ap_err config_store_password(const struct config *cfg,
                                           char **out, char *errbuf,
                                           size_t errlen);
/* Wipes and frees a secret; accepts NULL. */
void config_secret_free(char *secret);

/* True when a key whose change needs a restart (listen addresses,
 * data_dir, thread counts, the store's map size, the connection limits ...)
 * differs between a (serving) and b (reloaded); out then names the first
 * such key as "[section] key". */
bool config_restart_key(const struct config *a, const struct config *b,
                        char *out, size_t outlen);

/* The value of key in sec, or NULL. */
const char *config_section_get(const struct config_section *sec,
                               const char *key);
/* Checks that every key of sec is in keys (NULL-terminated); on error
 * errbuf names file, line and key. */
AP_MUST_CHECK ap_err config_section_check(const struct config_section *sec,
                                          const char *const *keys,
                                          const char *what, char *errbuf,
                                          size_t errlen);

#endif /* AP_COMMON_CONFIG_H */
