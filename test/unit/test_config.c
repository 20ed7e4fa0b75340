/* test/unit/test_config.c: common/config.c, the INI file.
 *
 * Each row writes its text to a mkstemp file (removed by the teardown,
 * also when the test fails) and loads it. Good rows list fields and the
 * values expected; bad rows give the line and the key the error message
 * must name ("file:line: ..." as config.h promises). Every table row is
 * its own cmocka test. Run under ASan / valgrind for the leak checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"

/* ---- fixture: a temporary file ------------------------------------- */

struct fixture {
    const void *row;
    char path[64];
    struct config cfg;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int fd;

    if (f == NULL) {
        return -1;
    }
    f->row = *state;
    snprintf(f->path, sizeof(f->path), "/tmp/test_config.XXXXXX");
    fd = mkstemp(f->path);
    if (fd < 0) {
        free(f);
        return -1;
    }
    close(fd);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    config_fini(&f->cfg);
    (void)unlink(f->path);
    free(f);
    return 0;
}

static void
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

/* The value of a field named "section.key" as text, for the tables. */
static void
field(const struct config *c, const char *name, char *out, size_t outlen)
{
#define S(n, v)                                                           \
    if (strcmp(name, n) == 0) {                                           \
        snprintf(out, outlen, "%s", (v) ? (v) : "(null)");                \
        return;                                                           \
    }
#define U(n, v)                                                           \
    if (strcmp(name, n) == 0) {                                           \
        snprintf(out, outlen, "%llu", (unsigned long long)(v));           \
        return;                                                           \
    }
    S("server.listen", c->server.listen);
    S("server.base_url", c->server.base_url);
    S("server.data_dir", c->server.data_dir);
    S("server.tls_cert", c->server.tls_cert);
    S("server.tls_key", c->server.tls_key);
    U("server.threads", c->server.threads);
    U("server.max_body", c->server.max_body);
    U("server.log_level", c->server.log_level);
    U("server.map_size_mb", c->server.map_size_mb);
    S("acme.terms_of_service", c->acme.tos_url);
    S("acme.website", c->acme.website);
    U("acme.nonce_ttl", c->acme.nonce_ttl_sec);
    U("acme.order_ttl", c->acme.order_ttl_sec);
    U("acme.wait_ms", c->acme.wait_ms);
    U("acme.cert_days", c->acme.cert_days);
    U("validation.http_port", c->validation.http_port);
    U("validation.tls_port", c->validation.tls_port);
    S("validation.resolver", c->validation.resolver);
    U("validation.workers", c->validation.workers);
    U("validation.timeout_ms", c->validation.timeout_ms);
    U("validation.max_body", c->validation.max_body);
    S("store.engine", c->store.engine);
    S("store.postgresql", c->store.postgresql);
    S("store.password", c->store.password);
    S("store.instance", c->store.instance);
    U("store.pool_size", c->store.pool_size);
    U("store.lease_seconds", c->store.lease_seconds);
    S("adapter.type", c->adapter.type);
    U("adapter.n", c->adapter.section.n);
    S("admin.listen", c->admin.listen);
    S("admin.token_file", c->admin.token_file);
    S("admin.tls_cert", c->admin.tls_cert);
    S("admin.tls_key", c->admin.tls_key);
    S("admin.client_ca", c->admin.client_ca);
    /* Profiles by position; 9: no such profile. */
    U("profile0.tls_server", c->n_profiles > 0 ? c->profiles[0].tls_server
                                                : 9);
    U("profile1.tls_server", c->n_profiles > 1 ? c->profiles[1].tls_server
                                                : 9);
#undef S
#undef U
    fail_msg("no field %s", name);
}

/* ---- good files ---------------------------------------------------- */

struct want {
    const char *field;
    const char *value;
};

#define MAX_WANT 24

struct good_row {
    const char *name;
    const char *text; /* NULL: load proxy.conf.example from the repo */
    struct want want[MAX_WANT];
};

/* The defaults of every field, as config.c and proxy.conf.example give
 * them. */
#define DEFAULTS                                                          \
    { "server.listen", "127.0.0.1:14000" },                               \
        { "server.base_url", "https://localhost:14000" },                 \
        { "server.data_dir", "./data" }, { "server.tls_cert", "" },       \
        { "server.tls_key", "" }, { "server.threads", "32" },             \
        { "server.max_body", "65536" }, { "server.log_level", "2" },      \
        { "server.map_size_mb", "1024" },                                 \
        { "acme.terms_of_service", "" }, { "acme.website", "" },          \
        { "acme.nonce_ttl", "3600" }, { "acme.order_ttl", "604800" },     \
        { "acme.wait_ms", "1000" }, { "acme.cert_days", "90" },           \
        { "validation.http_port", "80" },                                 \
        { "validation.tls_port", "443" }, { "validation.resolver", "" },  \
        { "validation.workers", "4" },                                    \
        { "validation.timeout_ms", "10000" },                             \
        { "validation.max_body", "8192" }, { "adapter.type", "local" },   \
        { "adapter.n", "0" }, { "store.engine", "lmdb" }

static const struct good_row good_rows[] = {
    { "empty file: defaults", "", { DEFAULTS } },
    { "empty sections: defaults",
      "[server]\n[acme]\n\n[validation]\n[adapter]\n",
      { DEFAULTS } },
    { "comments and blank lines only: defaults",
      "; a comment\n# another\n\n[server]\n  ; indented comment\n",
      { DEFAULTS } },
    { "every key set",
      "[server]\nlisten = 0.0.0.0:443\nbase_url = https://acme.test\n"
      "data_dir = /var/lib/ap\ntls_cert = /c.pem\ntls_key = /k.pem\n"
      "threads = 256\nmax_body = 1048576\nlog_level = debug\n"
      "map_size_mb = 16\n"
      "[acme]\nterms_of_service = https://acme.test/tos\n"
      "website = https://acme.test/\nnonce_ttl = 10\norder_ttl = 60\n"
      "wait_ms = 0\ncert_days = 3650\n"
      "[validation]\nhttp_port = 5002\ntls_port = 1\n"
      "resolver = 127.0.0.1:53\nworkers = 64\ntimeout_ms = 100\n"
      "max_body = 128\n"
      "[adapter]\ntype = local\n",
      { { "server.listen", "0.0.0.0:443" },
        { "server.base_url", "https://acme.test" },
        { "server.data_dir", "/var/lib/ap" },
        { "server.tls_cert", "/c.pem" },
        { "server.tls_key", "/k.pem" },
        { "server.threads", "256" },
        { "server.max_body", "1048576" },
        { "server.log_level", "3" },
        { "server.map_size_mb", "16" },
        { "acme.terms_of_service", "https://acme.test/tos" },
        { "acme.website", "https://acme.test/" },
        { "acme.nonce_ttl", "10" },
        { "acme.order_ttl", "60" },
        { "acme.wait_ms", "0" },
        { "acme.cert_days", "3650" },
        { "validation.http_port", "5002" },
        { "validation.tls_port", "1" },
        { "validation.resolver", "127.0.0.1:53" },
        { "validation.workers", "64" },
        { "validation.timeout_ms", "100" },
        { "validation.max_body", "128" },
        { "adapter.type", "local" },
        { "adapter.n", "0" } } },
    { "inline comments with \" ;\" and \" #\"",
      "[server]\nthreads = 8 ; eight\nbase_url = https://a.test # the url\n"
      "log_level = warn\t; tab before\n[acme]\nwebsite = ; empty\n",
      { { "server.threads", "8" },
        { "server.base_url", "https://a.test" },
        { "server.log_level", "1" },
        { "acme.website", "" } } },
    { "; and # without a space before are data",
      "[acme]\nwebsite = https://a.test/x;y#z\n",
      { { "acme.website", "https://a.test/x;y#z" } } },
    { "white space around names and values",
      "  [server]  \n   threads=3   \n\tlisten   =   h:1  \n",
      { { "server.threads", "3" }, { "server.listen", "h:1" } } },
    { "a key given twice: the last wins",
      "[server]\nlisten = a:1\nlisten = b:2\nthreads = 4\nthreads = 5\n",
      { { "server.listen", "b:2" }, { "server.threads", "5" } } },
    { "log_level names", "[server]\nlog_level = ERR\n",
      { { "server.log_level", "0" } } },
    { "log_level error", "[server]\nlog_level = error\n",
      { { "server.log_level", "0" } } },
    { "lowest numbers", "[server]\nthreads = 2\nmax_body = 1024\n",
      { { "server.threads", "2" }, { "server.max_body", "1024" } } },
    { "CRLF line ends", "[server]\r\nthreads = 7\r\n",
      { { "server.threads", "7" } } },
    { "profiles: tls_server defaults to yes, no turns it off",
      "[profile.server]\ndescription = d\n"
      "[profile.client]\ntls_server = no\n",
      { { "profile0.tls_server", "1" }, { "profile1.tls_server", "0" } } },
    { "profile tls_server yes / false",
      "[profile.a]\ntls_server = false\n[profile.b]\ntls_server = yes\n",
      { { "profile0.tls_server", "0" }, { "profile1.tls_server", "1" } } },
    { "[store] on PostgreSQL",
      "[store]\nengine = postgresql\n"
      "postgresql = host=db.test port=5432 dbname=acme user=ap\n"
      "password = env:AP_PG_PASSWORD\ninstance = node-1\npool_size = 40\n"
      "lease_seconds = 8\n",
      { { "store.engine", "postgresql" },
        { "store.postgresql", "host=db.test port=5432 dbname=acme user=ap" },
        { "store.password", "env:AP_PG_PASSWORD" },
        { "store.instance", "node-1" },
        { "store.pool_size", "40" }, { "store.lease_seconds", "8" } } },
    { "[store] defaults", "[store]\n",
      { { "store.engine", "lmdb" }, { "store.postgresql", "" },
        { "store.password", "" }, { "store.instance", "" },
        { "store.pool_size", "0" }, { "store.lease_seconds", "30" } } },
    { "[admin] defaults: plain HTTP, no client certificates", "[admin]\n",
      { { "admin.listen", "" }, { "admin.token_file", "" },
        { "admin.tls_cert", "" }, { "admin.tls_key", "" },
        { "admin.client_ca", "" } } },
    { "[admin] HTTPS with client certificates and a token file",
      "[admin]\nlisten = 127.0.0.1:14001\ntls_cert = /etc/ap/admin.pem\n"
      "tls_key = /etc/ap/admin.key\nclient_ca = /etc/ap/ops-ca.pem\n"
      "token_file = /etc/ap/tokens\n",
      { { "admin.listen", "127.0.0.1:14001" },
        { "admin.tls_cert", "/etc/ap/admin.pem" },
        { "admin.tls_key", "/etc/ap/admin.key" },
        { "admin.client_ca", "/etc/ap/ops-ca.pem" },
        { "admin.token_file", "/etc/ap/tokens" } } },
    { "[admin] HTTPS without client certificates",
      "[admin]\ntls_key = /k.pem\ntls_cert = /c.pem\n",
      { { "admin.tls_cert", "/c.pem" }, { "admin.tls_key", "/k.pem" },
        { "admin.client_ca", "" } } },
    { "proxy.conf.example", NULL,
      { { "server.listen", "127.0.0.1:14000" }, { "adapter.type", "local" } } },
};

static void
test_good(void **state)
{
    struct fixture *f = *state;
    const struct good_row *row = f->row;
    const char *path = f->path;
    char errbuf[512] = "";
    char got[512];
    ap_err rc;
    size_t i;

    if (row->text != NULL) {
        write_file(f->path, row->text);
    } else {
        path = "proxy.conf.example";
    }
    rc = config_load(path, &f->cfg, errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        print_error("config_load: %s\n", errbuf);
    }
    assert_int_equal(rc, AP_OK);
    assert_string_equal(f->cfg.path, path);
    for (i = 0; i < MAX_WANT && row->want[i].field != NULL; i++) {
        field(&f->cfg, row->want[i].field, got, sizeof(got));
        if (strcmp(got, row->want[i].value) != 0) {
            print_error("%s: got \"%s\", want \"%s\"\n", row->want[i].field,
                        got, row->want[i].value);
        }
        assert_string_equal(got, row->want[i].value);
    }
}

/* ---- bad files ----------------------------------------------------- */

struct bad_row {
    const char *name;
    const char *text;
    int line;        /* the line the message must name */
    const char *key; /* the key it must name; NULL: none to name */
};

static const struct bad_row bad_rows[] = {
    { "unknown key", "[server]\nlisten = a:1\nbogus = 1\n", 3, "bogus" },
    { "unknown key in a profile", "[profile.p]\ndescription = d\nttl = 3\n",
      3, "ttl" },
    { "profile validity 0", "[profile.p]\nvalidity_days = 0\n", 2,
      "validity_days" },
    { "profile validity not a number", "[profile.p]\nvalidity_days = 9x\n",
      2, "validity_days" },
    { "profile tls_server not a boolean", "[profile.p]\ntls_server = 1\n",
      2, "tls_server" },
    { "profile tls_server empty", "[profile.p]\n\ntls_server =\n", 3,
      "tls_server" },
    { "profile name with a slash", "[profile.a/b]\ndescription = d\n", 2,
      "profile name" },
    { "empty profile name", "[profile.]\ndescription = d\n", 2,
      "profile name" },
    { "default_profile without its section",
      "[acme]\ndefault_profile = gold\n[profile.silver]\ntemplate = t\n", 2,
      "default_profile" },
    { "bad boolean", "[acme]\neab_required = maybe\n", 2, "eab_required" },
    { "unknown key in [acme]", "[acme]\n\n\nnonce_tl = 60\n", 4,
      "nonce_tl" },
    { "key of another section", "[acme]\nthreads = 4\n", 2, "threads" },
    { "unknown section", "[server]\nthreads = 4\n[nope]\nx = 1\n", 4, "x" },
    { "key before any section", "threads = 4\n", 1, "threads" },
    { "number below the range", "[server]\nthreads = 1\n", 2, "threads" },
    { "number above the range", "[server]\n\nthreads = 1025\n", 3,
      "threads" },
    { "number far above the range",
      "[server]\nmax_body = 99999999999999999999999\n", 2, "max_body" },
    { "nonce_ttl below 10", "[acme]\nnonce_ttl = 9\n", 2, "nonce_ttl" },
    { "negative number", "[validation]\nworkers = -1\n", 2, "workers" },
    { "number with a plus", "[validation]\nworkers = +1\n", 2, "workers" },
    { "number with a suffix", "[validation]\ntimeout_ms = 10s\n", 2,
      "timeout_ms" },
    { "hex number", "[validation]\nhttp_port = 0x50\n", 2, "http_port" },
    { "empty number", "[server]\nthreads =\n", 2, "threads" },
    { "number with a bad inline comment", "[server]\nthreads = x ; c\n", 2,
      "threads" },
    { "bad log_level", "[server]\nlog_level = loud\n", 2, "log_level" },
    { "line without =", "[server]\nthreads = 4\njust words\n", 3, NULL },
    { "unclosed section header", "[server\nthreads = 4\n", 1, NULL },
    { "error after adapter keys (no leak)",
      "[adapter]\nroot_dir = /x\nvalidity_days = 1\n[server]\nthreads = 0\n",
      5, "threads" },
    { "unknown store engine", "[store]\nengine = sqlite\n", 2, "engine" },
    { "postgresql without its connection string",
      "[store]\n\nengine = postgresql\n", 3, "engine" },
    { "store pool_size above the range", "[store]\npool_size = 513\n", 2,
      "pool_size" },
    { "store lease_seconds below the range", "[store]\nlease_seconds = 2\n",
      2, "lease_seconds" },
    /* BUG: the checks made after parsing (check_values in config.c) write
     * "file: message" with no line, though config.h promises
     * "file:line: message". Input: [server] base_url = acme.test on line 3
     * (also the three rows below, same cause). They must name the line of
     * the offending key. */
    /* Named adapters (docs/adapters.md). */
    { "profile naming an unknown adapter",
      "[adapter.old]\ntype = local\n[profile.p]\n\nadapter = new\n", 5,
      "adapter" },
    { "profile naming a prefix of an adapter name",
      "[profile.p]\nadapter = old\n[adapter.olden]\ntype = local\n", 2,
      "adapter" },
    { "named adapter without a type", "[server]\nthreads = 4\n"
      "[adapter.two]\nworkers = 1\n", 3, "type" },
    { "named adapter called default", "[adapter.default]\ntype = local\n",
      2, "default" },
    { "named adapter with a dot", "[adapter.a.b]\ntype = local\n", 2,
      "adapter name" },
    { "named adapter with an empty name", "[adapter.]\ntype = local\n", 2,
      "adapter name" },
    { "ninth named adapter",
      "[adapter.a1]\ntype=local\n[adapter.a2]\ntype=local\n"
      "[adapter.a3]\ntype=local\n[adapter.a4]\ntype=local\n"
      "[adapter.a5]\ntype=local\n[adapter.a6]\ntype=local\n"
      "[adapter.a7]\ntype=local\n[adapter.a8]\ntype=local\n"
      "[adapter.a9]\ntype=local\n", 18, "at most 8" },
    { "base_url without a scheme",
      "[server]\nlisten = a:1\nbase_url = acme.test\n", 3, "base_url" },
    /* BUG: same cause. Input: base_url = https://acme.test/ on line 2. */
    { "base_url with a trailing slash",
      "[server]\nbase_url = https://acme.test/\n", 2, "base_url" },
    /* BUG: same cause. Input: tls_cert = /c.pem on line 2, no tls_key. */
    { "tls_cert without tls_key", "[server]\ntls_cert = /c.pem\n", 2,
      "tls_cert" },
    { "[admin] tls_cert without tls_key",
      "[admin]\nlisten = 127.0.0.1:1\ntls_cert = /c.pem\n", 3, "tls_cert" },
    { "[admin] tls_key without tls_cert",
      "[admin]\n\ntls_key = /k.pem\n", 3, "tls_key" },
    { "[admin] client_ca without TLS",
      "[admin]\nlisten = 127.0.0.1:1\n\nclient_ca = /ca.pem\n", 4,
      "client_ca" },
    { "[admin] client_ca with tls_key only",
      "[admin]\nclient_ca = /ca.pem\ntls_key = /k.pem\n", 3, "tls_key" },
    { "[admin] unknown TLS key", "[admin]\ntls_ca = /ca.pem\n", 2,
      "tls_ca" },
    /* BUG: same cause. Input: resolver = 127.0.0.1 on line 3. */
    { "resolver without a port",
      "[validation]\nworkers = 2\nresolver = 127.0.0.1\n", 3, "resolver" },
};

static void
test_bad(void **state)
{
    struct fixture *f = *state;
    const struct bad_row *row = f->row;
    char errbuf[512];
    char prefix[128];
    size_t i;

    write_file(f->path, row->text);
    memset(&f->cfg, 0xa5, sizeof(f->cfg));
    memset(errbuf, 0, sizeof(errbuf));
    assert_int_equal(config_load(f->path, &f->cfg, errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    /* The config is left empty: nothing to free, nothing dangling. */
    assert_null(f->cfg.path);
    assert_null(f->cfg.server.listen);
    assert_null(f->cfg.server.base_url);
    assert_null(f->cfg.adapter.type);
    assert_null(f->cfg.adapter.section.kv);
    assert_int_equal(f->cfg.adapter.section.n, 0);
    for (i = 0; i < sizeof(f->cfg); i++) {
        assert_int_equal(((const unsigned char *)&f->cfg)[i], 0);
    }
    /* config_fini on what is left is harmless (teardown runs it again). */
    config_fini(&f->cfg);

    snprintf(prefix, sizeof(prefix), "%s:%d: ", f->path, row->line);
    if (strncmp(errbuf, prefix, strlen(prefix)) != 0) {
        print_error("message \"%s\" does not start with \"%s\"\n", errbuf,
                    prefix);
    }
    assert_memory_equal(errbuf, prefix, strlen(prefix));
    if (row->key != NULL) {
        if (strstr(errbuf + strlen(prefix), row->key) == NULL) {
            print_error("message \"%s\" does not name %s\n", errbuf,
                        row->key);
        }
        assert_non_null(strstr(errbuf + strlen(prefix), row->key));
    }
}

static void
test_missing_file(void **state)
{
    struct fixture *f = *state;
    char errbuf[256] = "";
    char path[80];

    snprintf(path, sizeof(path), "%s.does-not-exist", f->path);
    assert_int_equal(config_load(path, &f->cfg, errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    assert_null(f->cfg.path);
    assert_memory_equal(errbuf, path, strlen(path));
}

/* ---- [adapter] raw keys --------------------------------------------- */

static const char adapter_text[] =
    "[server]\n"                    /* 1 */
    "listen = 127.0.0.1:1\n"        /* 2 */
    "[adapter]\n"                   /* 3 */
    "type = local\n"                /* 4 */
    "root_dir = /srv/ca   ; x\n"    /* 5 */
    "; validity_days = 1\n"         /* 6 */
    "\n"                            /* 7 */
    "  validity_days=30\n"          /* 8 */
    "[acme]\n"                      /* 9 */
    "cert_days = 30\n"              /* 10 */
    "[adapter]\n"                   /* 11 */
    "url = https://pki.test/a;b\n"  /* 12 */
    "bogus = 1\n";                  /* 13 */

static void
test_adapter_section(void **state)
{
    static const char *const all_keys[] = { "root_dir", "validity_days",
                                            "url", "bogus", NULL };
    static const char *const some_keys[] = { "root_dir", "validity_days",
                                             "url", NULL };
    static const char *const no_keys[] = { NULL };
    struct fixture *f = *state;
    const struct config_section *sec;
    char errbuf[512] = "";
    char want[128];

    write_file(f->path, adapter_text);
    assert_int_equal(config_load(f->path, &f->cfg, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_string_equal(f->cfg.adapter.type, "local");
    sec = &f->cfg.adapter.section;
    assert_non_null(sec->file);
    assert_string_equal(sec->file, f->path);
    assert_int_equal(sec->n, 4);
    assert_string_equal(sec->kv[0].key, "root_dir");
    assert_string_equal(sec->kv[0].value, "/srv/ca");
    assert_int_equal(sec->kv[0].line, 5);
    assert_string_equal(sec->kv[1].key, "validity_days");
    assert_string_equal(sec->kv[1].value, "30");
    assert_int_equal(sec->kv[1].line, 8);
    assert_string_equal(sec->kv[2].key, "url");
    assert_string_equal(sec->kv[2].value, "https://pki.test/a;b");
    assert_int_equal(sec->kv[2].line, 12);
    assert_string_equal(sec->kv[3].key, "bogus");
    assert_int_equal(sec->kv[3].line, 13);
    assert_string_equal(config_section_get(sec, "validity_days"), "30");
    assert_null(config_section_get(sec, "type"));
    assert_null(config_section_get(sec, "nope"));

    assert_int_equal(config_section_check(sec, all_keys, "local", errbuf,
                                          sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(config_section_check(sec, some_keys, "local adapter",
                                          errbuf, sizeof(errbuf)),
                     AP_ECONFIG);
    snprintf(want, sizeof(want), "%s:13: ", f->path);
    assert_memory_equal(errbuf, want, strlen(want));
    assert_non_null(strstr(errbuf, "bogus"));
    assert_non_null(strstr(errbuf, "local adapter"));
    /* The first unknown key in file order is the one named. */
    assert_int_equal(config_section_check(sec, no_keys, "x", errbuf,
                                          sizeof(errbuf)),
                     AP_ECONFIG);
    snprintf(want, sizeof(want), "%s:5: ", f->path);
    assert_memory_equal(errbuf, want, strlen(want));
    assert_non_null(strstr(errbuf, "root_dir"));
}

/* A key whose name is a prefix of another's, and a key given twice, get
 * the right lines. */
static void
test_adapter_lines(void **state)
{
    struct fixture *f = *state;
    const struct config_section *sec;
    char errbuf[512] = "";

    write_file(f->path, "[adapter]\n"       /* 1 */
                        "root_dir = a\n"    /* 2 */
                        "root = b\n"        /* 3 */
                        "root_dir = c\n");  /* 4 */
    assert_int_equal(config_load(f->path, &f->cfg, errbuf, sizeof(errbuf)),
                     AP_OK);
    sec = &f->cfg.adapter.section;
    assert_int_equal(sec->n, 3);
    assert_string_equal(sec->kv[0].key, "root_dir");
    assert_int_equal(sec->kv[0].line, 2);
    assert_string_equal(sec->kv[1].key, "root");
    assert_int_equal(sec->kv[1].line, 3);
    assert_string_equal(sec->kv[2].key, "root_dir");
    assert_int_equal(sec->kv[2].line, 4);
}

/* [adapter.NAME] sections: each its own type and keys with their lines,
 * next to the plain [adapter]; profiles route to them. */
static void
test_named_adapters(void **state)
{
    struct fixture *f = *state;
    const struct config_section *sec = NULL;
    const char *type = NULL;
    char errbuf[512] = "";

    write_file(f->path, "[adapter]\n"                 /* 1 */
                        "type = local\n"              /* 2 */
                        "[adapter.old-ca]\n"          /* 3 */
                        "type = ejbca\n"              /* 4 */
                        "url = https://old.test\n"    /* 5 */
                        "[adapter.old]\n"             /* 6 */
                        "type = vault\n"              /* 7 */
                        "url = https://v.test\n"      /* 8 */
                        "[profile.p]\n"               /* 9 */
                        "adapter = old-ca\n"          /* 10 */
                        "[profile.q]\n"               /* 11 */
                        "template = t\n"              /* 12 */
                        "[adapter.old-ca]\n"          /* 13 */
                        "workers = 2\n");             /* 14 */
    assert_int_equal(config_load(f->path, &f->cfg, errbuf, sizeof(errbuf)),
                     AP_OK);
    assert_int_equal(f->cfg.n_adapters, 2);
    assert_true(config_adapter_find(&f->cfg, "old-ca", &type, &sec));
    assert_string_equal(type, "ejbca");
    assert_int_equal(sec->n, 2);
    assert_string_equal(sec->kv[0].key, "url");
    assert_int_equal(sec->kv[0].line, 5);
    assert_string_equal(sec->kv[1].key, "workers");
    assert_int_equal(sec->kv[1].line, 14);
    assert_string_equal(sec->file, f->path);
    assert_true(config_adapter_find(&f->cfg, "old", &type, &sec));
    assert_string_equal(type, "vault");
    assert_int_equal(sec->n, 1);
    assert_int_equal(sec->kv[0].line, 8);
    assert_true(config_adapter_find(&f->cfg, NULL, &type, &sec));
    assert_string_equal(type, "local");
    assert_ptr_equal(sec, &f->cfg.adapter.section);
    assert_true(config_adapter_find(&f->cfg, "default", &type, NULL));
    assert_string_equal(type, "local");
    assert_false(config_adapter_find(&f->cfg, "new", NULL, NULL));
    assert_string_equal(config_profile_find(&f->cfg, "p")->adapter, "old-ca");
    assert_string_equal(config_profile_find(&f->cfg, "q")->adapter,
                        "default");
}

/* ---- runner -------------------------------------------------------- */


/* The PostgreSQL password: env:NAME, file:PATH (first line), a plain
 * path, empty; an unset variable and a missing file are errors that do
 * not carry a secret. */
static void
test_store_password(void **state)
{
    struct fixture *f = *state;
    char errbuf[512] = "";
    char spec[128];
    char *pw = NULL;

    write_file(f->path, "s3cret-line1\nsecond line\n");
    assert_int_equal(config_load("proxy.conf.example", &f->cfg, errbuf,
                                 sizeof(errbuf)),
                     AP_OK);
    free(f->cfg.store.password);
    f->cfg.store.password = NULL;
    assert_int_equal(config_store_password(&f->cfg, &pw, errbuf,
                                           sizeof(errbuf)),
                     AP_OK);
    assert_null(pw);
    snprintf(spec, sizeof(spec), "file:%s", f->path);
    f->cfg.store.password = spec;
    assert_int_equal(config_store_password(&f->cfg, &pw, errbuf,
                                           sizeof(errbuf)),
                     AP_OK);
    assert_string_equal(pw, "s3cret-line1");
    config_secret_free(pw);
    pw = NULL;
    f->cfg.store.password = f->path;
    assert_int_equal(config_store_password(&f->cfg, &pw, errbuf,
                                           sizeof(errbuf)),
                     AP_OK);
    assert_string_equal(pw, "s3cret-line1");
    config_secret_free(pw);
    pw = NULL;
    assert_int_equal(setenv("AP_TEST_PG_PW", "from-env", 1), 0);
    f->cfg.store.password = "env:AP_TEST_PG_PW";
    assert_int_equal(config_store_password(&f->cfg, &pw, errbuf,
                                           sizeof(errbuf)),
                     AP_OK);
    assert_string_equal(pw, "from-env");
    config_secret_free(pw);
    pw = NULL;
    assert_int_equal(unsetenv("AP_TEST_PG_PW"), 0);
    assert_int_equal(config_store_password(&f->cfg, &pw, errbuf,
                                           sizeof(errbuf)),
                     AP_ECONFIG);
    assert_non_null(strstr(errbuf, "AP_TEST_PG_PW"));
    f->cfg.store.password = "file:/nonexistent/pw";
    assert_int_equal(config_store_password(&f->cfg, &pw, errbuf,
                                           sizeof(errbuf)),
                     AP_ECONFIG);
    assert_null(pw);
    assert_null(strstr(errbuf, "s3cret"));
    f->cfg.store.password = NULL;
    config_fini(&f->cfg);
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    l.setup = setup;
    l.teardown = teardown;

    _Static_assert(N_ROWS(bad_rows) >= N_ROWS(good_rows),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, good_rows, test_good);
    ADD_ROWS(&l, bad_rows, test_bad);
    add_test(&l, "missing file", test_missing_file, NULL);
    add_test(&l, "[store] password: env, file, none", test_store_password,
             NULL);
    add_test(&l, "adapter section", test_adapter_section, NULL);
    add_test(&l, "adapter line numbers", test_adapter_lines, NULL);
    add_test(&l, "named adapters", test_named_adapters, NULL);

    failed = _cmocka_run_group_tests("config", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
