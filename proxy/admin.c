/* proxy/admin.c: the front of the admin subcommands (admin.h): the
 * command line (admin_parse), the output (tables, "key: value" lines, the
 * JSON document of --json), the store readers every family uses, and the
 * dispatch to the subcommands, which live one file per object family
 * (admin_int.h lists them and states what they share). */
#include "proxy/admin_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/id.h"
#include "common/json.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/report.h"
#include "proxy/rec_cert.h"
#include "proxy/rec_order.h"

#define ADMIN_KV_WIDTH 15      /* "key:" column of show output */

/* ---------------------------------------------------------------- parsing */

enum admin_opt {
    OPT_LABEL,
    OPT_PROFILES,
    OPT_ALLOW_NAMES,
    OPT_ALLOW_IPS,
    OPT_MAX_VALIDITY,
    OPT_ACCOUNT,
    OPT_EXPIRING,
    OPT_REASON,
    OPT_TEAM,
    OPT_DEFAULT_PROFILE,
    OPT_PREAUTHORIZED,
    OPT_KID,
    OPT_DAYS,
    OPT_AT,
    OPT__MAX
};

static const char *const opt_name[] = {
    [OPT_LABEL] = "--label",
    [OPT_PROFILES] = "--profiles",
    [OPT_ALLOW_NAMES] = "--allow-names",
    [OPT_ALLOW_IPS] = "--allow-ips",
    [OPT_MAX_VALIDITY] = "--max-validity",
    [OPT_ACCOUNT] = "--account",
    [OPT_EXPIRING] = "--expiring",
    [OPT_REASON] = "--reason",
    [OPT_TEAM] = "--team",
    [OPT_DEFAULT_PROFILE] = "--default-profile",
    [OPT_PREAUTHORIZED] = "--preauthorized",
    [OPT_KID] = "--kid",
    [OPT_DAYS] = "--days",
    [OPT_AT] = "--at",
};
_Static_assert(sizeof(opt_name) / sizeof(opt_name[0]) == OPT__MAX,
               "opt_name must cover every option");

#define OPT_BIT(o) (1u << (o))

enum admin_argkind {
    ARG_NONE,
    ARG_ID,          /* an account, order or EAB key id */
    ARG_ID_OR_SERIAL,
    ARG_SERIAL,
    ARG_FILE
};

struct admin_spec {
    const char *word;     /* first word */
    const char *sub;      /* second word, or NULL */
    enum admin_argkind arg;
    const char *argname;  /* for messages */
    unsigned opts;        /* OPT_BIT()s accepted */
    bool needs_pki;
};

static const struct admin_spec specs[] = {
    [ADMIN_EAB_ADD] = { "eab", "add", ARG_NONE, NULL,
                        OPT_BIT(OPT_LABEL) | OPT_BIT(OPT_PROFILES) |
                            OPT_BIT(OPT_ALLOW_NAMES) |
                            OPT_BIT(OPT_ALLOW_IPS) |
                            OPT_BIT(OPT_MAX_VALIDITY) |
                            OPT_BIT(OPT_DEFAULT_PROFILE) |
                            OPT_BIT(OPT_PREAUTHORIZED),
                        false },
    [ADMIN_EAB_LIST] = { "eab", "list", ARG_NONE, NULL, 0, false },
    [ADMIN_EAB_REVOKE] = { "eab", "revoke", ARG_ID, "KID", 0, false },
    [ADMIN_ACCOUNTS_LIST] = { "accounts", "list", ARG_NONE, NULL,
                              OPT_BIT(OPT_TEAM), false },
    [ADMIN_ACCOUNTS_SHOW] = { "accounts", "show", ARG_ID, "ID", 0, false },
    [ADMIN_ACCOUNTS_DEACTIVATE] = { "accounts", "deactivate", ARG_ID, "ID",
                                    0, false },
    [ADMIN_ORDERS_LIST] = { "orders", "list", ARG_NONE, NULL,
                            OPT_BIT(OPT_ACCOUNT), false },
    [ADMIN_ORDERS_SHOW] = { "orders", "show", ARG_ID, "ID", 0, false },
    [ADMIN_CERTS_LIST] = { "certs", "list", ARG_NONE, NULL,
                           OPT_BIT(OPT_EXPIRING) | OPT_BIT(OPT_TEAM),
                           false },
    [ADMIN_CERTS_SHOW] = { "certs", "show", ARG_ID_OR_SERIAL,
                           "ID-or-SERIAL", 0, false },
    [ADMIN_REVOKE] = { "revoke", NULL, ARG_SERIAL, "SERIAL",
                       OPT_BIT(OPT_REASON), true },
    [ADMIN_BACKUP] = { "backup", NULL, ARG_FILE, "FILE", 0, false },
    /* "reconcile done" before "reconcile": the first word alone matches
     * the first entry without a second word. */
    [ADMIN_RECONCILE_DONE] = { "reconcile", "done", ARG_ID, "ORDER", 0,
                               false },
    [ADMIN_RECONCILE] = { "reconcile", NULL, ARG_NONE, NULL, 0, false },
    [ADMIN_ACCOUNTS_BIND] = { "accounts", "bind", ARG_ID, "ID",
                              OPT_BIT(OPT_KID) | OPT_BIT(OPT_TEAM), false },
    [ADMIN_CERTS_REPORT] = { "certs", "report", ARG_NONE, NULL,
                             OPT_BIT(OPT_DAYS) | OPT_BIT(OPT_TEAM) |
                                 OPT_BIT(OPT_AT),
                             false },
};
_Static_assert(sizeof(specs) / sizeof(specs[0]) == ADMIN__MAX,
               "specs must cover every admin_op");

/* RFC 5280 §5.3.1 CRLReason; 7 is not used. */
static const char *const reason_name[] = {
    "unspecified",          "keyCompromise",      "cACompromise",
    "affiliationChanged",   "superseded",         "cessationOfOperation",
    "certificateHold",      NULL,                 "removeFromCRL",
    "privilegeWithdrawn",   "aACompromise",
};

void
admin_usage(FILE *f)
{
    fprintf(f,
            "usage: acmeproxy -c CONFIG [COMMAND [--json]]\n"
            "commands (on data_dir, also while the proxy serves):\n"
            "  eab add --label TEAM [--profiles P1,P2] "
            "[--allow-names SUFFIXES]\n"
            "          [--allow-ips CIDRS] [--max-validity DAYS] "
            "[--default-profile P]\n"
            "          [--preauthorized SUFFIXES]\n"
            "  eab list\n"
            "  eab revoke KID\n"
            "  accounts list [--team LABEL] | show ID | deactivate ID\n"
            "  accounts bind ID --kid KID | --team TEAM   for good\n"
            "  orders list [--account ID] | show ID\n"
            "  certs list [--expiring DAYS] [--team LABEL] [--overdue]\n"
            "  certs show ID-or-SERIAL\n"
            "  certs report [--days N] [--team TEAM] [--at TIME] [--csv]\n"
            "          not renewed: past the renewal window or expiring\n"
            "  revoke SERIAL [--reason N]      RFC 5280 code or name\n"
            "  backup FILE                     compacted hot copy of "
            "data_dir/db\n"
            "  reconcile | reconcile done ORDER   possible duplicate "
            "certificates at the PKI\n"
            "exit status: 0 done, 1 failed, 2 usage error\n");
}

int
admin_reason_parse(const char *s)
{
    char *end = NULL;
    long v;

    if (s == NULL || s[0] == '\0') {
        return -1;
    }
    if (s[0] >= '0' && s[0] <= '9') {
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < 0 || v > 10 || v == 7) {
            return -1;
        }
        return (int)v;
    }
    for (size_t i = 0; i < sizeof(reason_name) / sizeof(reason_name[0]);
         i++) {
        if (reason_name[i] != NULL && strcasecmp(s, reason_name[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *
admin_reason_name(int reason)
{
    if (reason < 0 ||
        (size_t)reason >= sizeof(reason_name) / sizeof(reason_name[0]) ||
        reason_name[reason] == NULL) {
        return "?";
    }
    return reason_name[reason];
}

ap_err
admin_serial_normalize(const char *in, char *out, size_t outlen)
{
    char hex[ADMIN_MAX_SERIAL + 2];
    size_t n = 0;
    size_t skip = 0;

    if (in == NULL || outlen <= ADMIN_MAX_SERIAL) {
        return AP_EINVAL;
    }
    for (const char *p = in; *p != '\0'; p++) {
        char c = *p;

        if (c == ':' && p != in && p[1] != '\0' && p[1] != ':') {
            continue;
        }
        if (c >= 'A' && c <= 'F') {
            c = (char)(c - 'A' + 'a');
        }
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) ||
            n >= ADMIN_MAX_SERIAL) {
            return AP_EINVAL;
        }
        hex[1 + n++] = c;
    }
    if (n == 0) {
        return AP_EINVAL;
    }
    /* Whole bytes, as x509_cert_parse writes serial_hex. */
    hex[0] = '0';
    skip = n % 2 == 1 ? 0 : 1;
    n += 1 - skip;
    /* No leading zero bytes, but at least one byte. */
    while (n > 2 && hex[skip] == '0' && hex[skip + 1] == '0') {
        skip += 2;
        n -= 2;
    }
    memcpy(out, hex + skip, n);
    out[n] = '\0';
    return AP_OK;
}

static bool
is_printable(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
            return false;
        }
    }
    return true;
}

ap_err
admin_split_list(const char *s, cJSON **out)
{
    cJSON *arr = NULL;
    const char *p = s;
    int n = 0;
    ap_err rc = AP_EINVAL;

    if (s == NULL || !is_printable(s)) {
        return AP_EINVAL;
    }
    arr = cJSON_CreateArray();
    if (arr == NULL) {
        return AP_ENOMEM;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char item[ADMIN_MAX_CELL];
        cJSON *str;

        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if (len == 0 || len >= sizeof(item) || ++n > ADMIN_MAX_LIST) {
            rc = AP_EINVAL;
            goto out;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        str = cJSON_CreateString(item);
        if (str == NULL || !cJSON_AddItemToArray(arr, str)) {
            cJSON_Delete(str);
            rc = AP_ENOMEM;
            goto out;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return AP_OK;
}

static bool
parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end = NULL;
    long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9') {
        return false;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* Checks a comma-separated option value (the lists eab_create takes). */
static bool
list_ok(const char *s)
{
    cJSON *arr = NULL;

    if (admin_split_list(s, &arr) != AP_OK) {
        return false;
    }
    cJSON_Delete(arr);
    return true;
}

/* Stores the value of option o into cmd; false (errbuf set) when bad. */
static bool
set_option(struct admin_cmd *cmd, enum admin_opt o, const char *v,
           char *errbuf, size_t errlen)
{
    long long n = 0;
    const char *want = NULL;

    switch (o) {
    case OPT_LABEL:
        cmd->label = v;
        if (v[0] == '\0' || strlen(v) > ADMIN_MAX_LABEL || !is_printable(v)) {
            want = "1 to 64 printable ASCII characters";
        }
        break;
    case OPT_PROFILES:
    case OPT_ALLOW_NAMES:
    case OPT_ALLOW_IPS:
    case OPT_PREAUTHORIZED:
        if (o == OPT_PROFILES) {
            cmd->profiles = v;
        } else if (o == OPT_PREAUTHORIZED) {
            cmd->preauthorized = v;
        } else if (o == OPT_ALLOW_NAMES) {
            cmd->allow_names = v;
        } else {
            cmd->allow_ips = v;
        }
        if (!list_ok(v)) {
            want = "a comma-separated list of 1 to 64 non-empty entries";
        }
        break;
    case OPT_DEFAULT_PROFILE:
        /* The profile of orders that name none (checked against the
         * configuration by eab_create). */
        cmd->default_profile = v;
        if (v[0] == '\0' || strlen(v) > 64 || !is_printable(v)) {
            want = "a profile name";
        }
        break;
    case OPT_MAX_VALIDITY:
        if (!parse_int(v, 1, 3650, &n)) {
            want = "a number of days from 1 to 3650";
        }
        cmd->max_validity_days = n;
        break;
    case OPT_ACCOUNT:
        cmd->account = v;
        if (!id_is_valid(v)) {
            want = "an account id";
        }
        break;
    case OPT_EXPIRING:
        if (!parse_int(v, 0, ADMIN_MAX_EXPIRING, &n)) {
            want = "a number of days from 0 to 36500";
        }
        cmd->expiring_days = n;
        break;
    case OPT_TEAM:
        cmd->team = v;
        if (v[0] == '\0' || strlen(v) > ADMIN_MAX_LABEL || !is_printable(v)) {
            want = "1 to 64 printable ASCII characters";
        }
        break;
    case OPT_REASON:
        cmd->reason = admin_reason_parse(v);
        if (cmd->reason < 0) {
            want = "an RFC 5280 reason: 0-10 but 7, or its name";
        }
        break;
    case OPT_KID:
        cmd->kid = v;
        if (!id_is_valid(v)) {
            want = "an EAB key id";
        }
        break;
    case OPT_DAYS:
        if (!parse_int(v, 0, REPORT_MAX_DAYS, &n)) {
            want = "a number of days from 0 to 3650";
        }
        cmd->days = n;
        break;
    case OPT_AT:
        if (time_parse_rfc3339(v, &n) != AP_OK || n <= 0) {
            want = "an RFC 3339 time (2026-12-24T00:00:00Z)";
        }
        cmd->at = n;
        break;
    case OPT__MAX:
        break;
    }
    if (want != NULL) {
        snprintf(errbuf, errlen, "%s: '%.60s' is not %s", opt_name[o], v,
                 want);
        return false;
    }
    return true;
}

static bool
arg_ok(enum admin_argkind kind, const char *v)
{
    char serial[ADMIN_MAX_SERIAL + 1];

    switch (kind) {
    case ARG_ID:
        return id_is_valid(v);
    case ARG_ID_OR_SERIAL:
        return id_is_valid(v) ||
               admin_serial_normalize(v, serial, sizeof(serial)) == AP_OK;
    case ARG_SERIAL:
        return admin_serial_normalize(v, serial, sizeof(serial)) == AP_OK;
    case ARG_FILE:
        return v[0] != '\0';
    case ARG_NONE:
        break;
    }
    return false;
}

ap_err
admin_parse(int argc, char *const *argv, struct admin_cmd *cmd, char *errbuf,
            size_t errlen)
{
    const struct admin_spec *spec = NULL;
    unsigned seen = 0;
    bool dashdash;
    int i;
    int op = -1;
    int first;

    memset(cmd, 0, sizeof(*cmd));
    cmd->expiring_days = -1;
    cmd->days = -1;
    /* --json may come before the command words too. */
    first = 0;
    while (first < argc && strcmp(argv[first], "--json") == 0) {
        cmd->json = true;
        first++;
    }
    if (first >= argc) {
        snprintf(errbuf, errlen, "no command");
        return AP_EINVAL;
    }
    for (size_t k = 0; k < ADMIN__MAX; k++) {
        if (strcmp(argv[first], specs[k].word) != 0) {
            continue;
        }
        if (specs[k].sub == NULL) {
            op = (int)k;
            break;
        }
        if (first + 1 < argc && strcmp(argv[first + 1], specs[k].sub) == 0) {
            op = (int)k;
            break;
        }
    }
    if (op < 0) {
        bool known = false;

        for (size_t k = 0; k < ADMIN__MAX; k++) {
            known = known || strcmp(argv[first], specs[k].word) == 0;
        }
        if (known) {
            snprintf(errbuf, errlen, "%.40s: unknown or missing subcommand",
                     argv[first]);
        } else {
            snprintf(errbuf, errlen, "unknown command '%.40s'", argv[first]);
        }
        return AP_EINVAL;
    }
    spec = &specs[op];
    cmd->op = (enum admin_op)op;
    cmd->needs_pki = spec->needs_pki;
    dashdash = false;
    for (i = first + (spec->sub != NULL ? 2 : 1); i < argc; i++) {
        const char *w = argv[i];
        const char *eq;
        const char *val;
        size_t nlen;
        int o = -1;

        if (!dashdash && strcmp(w, "--") == 0) {
            dashdash = true; /* everything after is an argument */
            continue;
        }
        if (!dashdash && strcmp(w, "--json") == 0) {
            cmd->json = true;
            continue;
        }
        /* A flag without a value: certificates past their renewal
         * window and not renewed. */
        if (!dashdash && cmd->op == ADMIN_CERTS_LIST &&
            strcmp(w, "--overdue") == 0) {
            cmd->overdue = true;
            continue;
        }
        if (!dashdash && strcmp(w, "--csv") == 0 &&
            cmd->op == ADMIN_CERTS_REPORT) {
            cmd->csv = true;
            continue;
        }
        /* Options are "--name"; ids are base64url and may start with a
         * single '-', so that is an argument, not an option. */
        if (dashdash || strncmp(w, "--", 2) != 0) {
            if (spec->arg == ARG_NONE || cmd->arg != NULL) {
                snprintf(errbuf, errlen, "unexpected argument '%.60s'", w);
                return AP_EINVAL;
            }
            if (!arg_ok(spec->arg, w)) {
                snprintf(errbuf, errlen, "'%.60s' is not a valid %s", w,
                         spec->argname);
                return AP_EINVAL;
            }
            cmd->arg = w;
            continue;
        }
        eq = strchr(w, '=');
        nlen = eq != NULL ? (size_t)(eq - w) : strlen(w);
        for (int k = 0; k < OPT__MAX; k++) {
            if (strlen(opt_name[k]) == nlen &&
                strncmp(w, opt_name[k], nlen) == 0) {
                o = k;
            }
        }
        if (o < 0 || (spec->opts & OPT_BIT(o)) == 0) {
            snprintf(errbuf, errlen, "unknown option '%.*s' for %s%s%s",
                     (int)(nlen > 40 ? 40 : nlen), w, spec->word,
                     spec->sub ? " " : "", spec->sub ? spec->sub : "");
            return AP_EINVAL;
        }
        if ((seen & OPT_BIT(o)) != 0) {
            snprintf(errbuf, errlen, "%s given twice", opt_name[o]);
            return AP_EINVAL;
        }
        seen |= OPT_BIT(o);
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            val = argv[++i];
        } else {
            snprintf(errbuf, errlen, "%s needs a value", opt_name[o]);
            return AP_EINVAL;
        }
        if (!set_option(cmd, (enum admin_opt)o, val, errbuf, errlen)) {
            return AP_EINVAL;
        }
    }
    if (spec->arg != ARG_NONE && cmd->arg == NULL) {
        snprintf(errbuf, errlen, "%s%s%s needs %s", spec->word,
                 spec->sub ? " " : "", spec->sub ? spec->sub : "",
                 spec->argname);
        return AP_EINVAL;
    }
    if (cmd->op == ADMIN_EAB_ADD && cmd->label == NULL) {
        snprintf(errbuf, errlen, "eab add needs --label TEAM");
        return AP_EINVAL;
    }
    if (cmd->op == ADMIN_ACCOUNTS_BIND &&
        (cmd->kid == NULL) == (cmd->team == NULL)) {
        snprintf(errbuf, errlen, "accounts bind needs --kid KID or --team "
                 "TEAM (one of them)");
        return AP_EINVAL;
    }
    if (cmd->csv && cmd->json) {
        snprintf(errbuf, errlen, "--csv and --json exclude each other");
        return AP_EINVAL;
    }
    return AP_OK;
}

/* ---------------------------------------------------------------- tables */

struct admin_table {
    size_t ncols;
    size_t nrows;       /* including the header row */
    size_t cap;
    char **cells;       /* nrows * ncols */
};

static char *
cell_dup(const char *s)
{
    size_t n;
    char *c;

    if (s == NULL || s[0] == '\0') {
        s = "-";
    }
    n = strnlen(s, ADMIN_MAX_CELL);
    c = malloc(n + 1);
    if (c == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];

        c[i] = (b < 0x20 || b > 0x7e) ? '?' : (char)b;
    }
    c[n] = '\0';
    return c;
}

struct admin_table *
admin_table_new(size_t ncols, const char *const *headers)
{
    struct admin_table *t;

    if (ncols == 0) {
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->ncols = ncols;
    if (admin_table_add(t, headers) != AP_OK) {
        admin_table_free(t);
        return NULL;
    }
    return t;
}

ap_err
admin_table_add(struct admin_table *t, const char *const *cells)
{
    size_t base;

    if (t->nrows == t->cap) {
        size_t cap = t->cap == 0 ? 16 : t->cap * 2;
        char **grown;

        if (cap > SIZE_MAX / sizeof(char *) / t->ncols) {
            return AP_ENOMEM;
        }
        grown = realloc(t->cells, cap * t->ncols * sizeof(char *));
        if (grown == NULL) {
            return AP_ENOMEM;
        }
        t->cells = grown;
        t->cap = cap;
    }
    base = t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        t->cells[base + c] = cell_dup(cells[c]);
        if (t->cells[base + c] == NULL) {
            for (size_t k = 0; k < c; k++) {
                free(t->cells[base + k]);
            }
            return AP_ENOMEM;
        }
    }
    t->nrows++;
    return AP_OK;
}

void
admin_table_print(const struct admin_table *t, FILE *f)
{
    size_t width[16] = { 0 };

    if (t == NULL || t->ncols > sizeof(width) / sizeof(width[0])) {
        return;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);

            width[c] = n > width[c] ? n : width[c];
        }
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];

            if (c + 1 == t->ncols) {
                fprintf(f, "%s\n", s);
            } else {
                fprintf(f, "%-*s  ", (int)width[c], s);
            }
        }
    }
}

void
admin_table_free(struct admin_table *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    free(t);
}

/* ---------------------------------------------------------------- helpers */

int
admin_fail(FILE *err, const char *fmt, ...)
{
    va_list ap;

    fputs("acmeproxy: ", err);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
    return ADMIN_EXIT_FAIL;
}

int
admin_fail_rc(FILE *err, const char *what, ap_err rc)
{
    return admin_fail(err, "%s: %s", what, ap_strerror(rc));
}

/* Prints doc as the one JSON document of --json (takes doc). */
int
admin_print_json(FILE *out, FILE *err, cJSON *doc)
{
    char *text;
    int status = ADMIN_EXIT_OK;

    if (doc == NULL) {
        return admin_fail_rc(err, "building the output", AP_ENOMEM);
    }
    text = cJSON_Print(doc);
    cJSON_Delete(doc);
    if (text == NULL) {
        return admin_fail_rc(err, "building the output", AP_ENOMEM);
    }
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return status;
}

/* Prints a listing: the JSON document (taken) with --json, else the
 * table. Returns the exit status. */
int
admin_emit_list(const struct admin_cmd *cmd, FILE *out, FILE *err, cJSON **doc,
                const struct admin_table *t)
{
    cJSON *d = *doc;

    *doc = NULL;
    if (cmd->json) {
        return admin_print_json(out, err, d);
    }
    cJSON_Delete(d);
    admin_table_print(t, out);
    return ADMIN_EXIT_OK;
}

/* RFC 3339 for people: "-" when t is 0. */
const char *
admin_fmt_time(long long t, char *buf, size_t len)
{
    if (t <= 0) {
        snprintf(buf, len, "-");
    } else {
        time_rfc3339(t, buf, len);
    }
    return buf;
}

/* RFC 3339 string for scripts, or null when t is 0. */
static cJSON *
json_time(long long t)
{
    char buf[TIME_RFC3339_LEN];

    if (t <= 0) {
        return cJSON_CreateNull();
    }
    time_rfc3339(t, buf, sizeof(buf));
    return cJSON_CreateString(buf);
}

void
admin_add_time(cJSON *obj, const char *key, long long t)
{
    cJSON_AddItemToObject(obj, key, json_time(t));
}

void
admin_add_str_or_null(cJSON *obj, const char *key, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        cJSON_AddNullToObject(obj, key);
    } else {
        cJSON_AddStringToObject(obj, key, s);
    }
}

/* A copy of member key of rec when it is an array, else an empty array. */
cJSON *
admin_dup_array(const cJSON *rec, const char *key)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec, key);

    return cJSON_IsArray(a) ? cJSON_Duplicate(a, 1) : cJSON_CreateArray();
}

/* Joins the strings of an array (or the "value" of its objects) with
 * commas into buf; "-" when empty. */
const char *
admin_join(const cJSON *arr, char *buf, size_t len)
{
    const cJSON *it;
    size_t used = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(it, arr) {
        const char *s = cJSON_IsString(it) ? it->valuestring
                                           : json_str(it, "value", "?");
        int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", s);

        if (n < 0 || (size_t)n >= len - used) {
            break;
        }
        used += (size_t)n;
    }
    if (used == 0) {
        snprintf(buf, len, "-");
    }
    return buf;
}

void
admin_kv(FILE *out, const char *key, const char *val)
{
    char *clean = cell_dup(val);

    fprintf(out, "%s:%*s%s\n", key, (int)(ADMIN_KV_WIDTH - strlen(key)), "",
            clean != NULL ? clean : "?");
    free(clean);
}

void
admin_kv_time(FILE *out, const char *key, long long t)
{
    char buf[TIME_RFC3339_LEN];

    admin_kv(out, key, admin_fmt_time(t, buf, sizeof(buf)));
}

/* Adds who did it to the fields of an admin event: "by":"admin" and the
 * Unix uid. The event goes into the transaction of the change
 * (proxy/audit.h), so there is no change without its event. */
cJSON *
admin_fields(cJSON *fields)
{
    static const struct admin_actor cli = { "admin", NULL, "admin" };

    return admin_ops_fields(&cli, fields);
}

cJSON *
admin_ops_fields(const struct admin_actor *who, cJSON *fields)
{
    if (fields == NULL) {
        return NULL;
    }
    if (cJSON_AddStringToObject(fields, "by", who->by) == NULL ||
        (who->caller != NULL
             ? cJSON_AddStringToObject(fields, "caller", who->caller) == NULL
             : cJSON_AddNumberToObject(fields, "uid", (double)getuid()) ==
                   NULL)) {
        cJSON_Delete(fields);
        return NULL;
    }
    return fields;
}

int
admin_outcome_status(enum admin_outcome o)
{
    switch (o) {
    case ADMIN_R_OK:
        return 200;
    case ADMIN_R_INVALID:
        return 400;
    case ADMIN_R_NOTFOUND:
        return 404;
    case ADMIN_R_CONFLICT:
        return 409;
    case ADMIN_R_PKI:
        return 502;
    case ADMIN_R_FAILED:
        break;
    }
    return 500;
}

enum admin_outcome
admin_res(struct admin_result *res, enum admin_outcome o, const char *fmt,
          ...)
{
    va_list ap;

    res->outcome = o;
    va_start(ap, fmt);
    (void)vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
    va_end(ap);
    return o;
}

enum admin_outcome
admin_res_rc(struct admin_result *res, ap_err rc)
{
    return admin_res(res, rc == AP_ENOTFOUND ? ADMIN_R_NOTFOUND
                                             : ADMIN_R_FAILED,
                     "%s", ap_strerror(rc));
}

int
admin_fail_res(FILE *err, const char *what, const struct admin_result *res)
{
    return admin_fail(err, "%s: %s", what, res->detail);
}

bool
admin_printable(const char *s)
{
    return is_printable(s);
}

/* ---------------------------------------------------------------- loading */

struct collect {
    cJSON *arr;
    ap_err rc;
    bool keys;          /* collect the keys' last path element, not values */
    bool certs;         /* certificate records: through rec_cert_parse */
    bool orders;        /* order records: "id" from the key when absent */
};

static bool
collect_one(void *arg, const char *key, const char *val, size_t len)
{
    struct collect *c = arg;
    cJSON *item = NULL;

    if (c->keys) {
        const char *slash = strrchr(key, '/');

        item = cJSON_CreateString(slash != NULL ? slash + 1 : key);
    } else if (c->certs ? rec_cert_parse(key, val, len, &item) != AP_OK
                        : json_parse(val, len, &item) != AP_OK) {
        return true;     /* a record we cannot read is skipped */
    }
    if (c->orders && cJSON_IsObject(item) &&
        !cJSON_HasObjectItem(item, "id") &&
        cJSON_AddStringToObject(item, "id", key) == NULL) {
        cJSON_Delete(item);
        c->rc = AP_ENOMEM;
        return false;
    }
    if (item == NULL || !cJSON_AddItemToArray(c->arr, item)) {
        cJSON_Delete(item);
        c->rc = AP_ENOMEM;
        return false;
    }
    return true;
}

/* Every record of t (or, with keys, every key's last element) under
 * prefix, into a new array. */
ap_err
admin_load_all(struct store_txn *txn, enum store_table t, const char *prefix,
               bool keys, cJSON **out)
{
    struct collect c = { NULL, AP_OK, keys, t == STORE_CERTS,
                         t == STORE_ORDERS };
    ap_err rc;

    c.arr = cJSON_CreateArray();
    if (c.arr == NULL) {
        return AP_ENOMEM;
    }
    rc = store_scan(txn, t, prefix, NULL, collect_one, &c);
    if (rc == AP_OK) {
        rc = c.rc;
    }
    if (rc != AP_OK) {
        cJSON_Delete(c.arr);
        return rc;
    }
    *out = c.arr;
    return AP_OK;
}

static int
by_time(const void *a, const void *b, void *key)
{
    const cJSON *x = *(const cJSON *const *)a;
    const cJSON *y = *(const cJSON *const *)b;
    long long tx = json_num(x, key, 0);
    long long ty = json_num(y, key, 0);

    if (tx != ty) {
        return tx < ty ? -1 : 1;
    }
    return strcmp(json_str(x, "id", ""), json_str(y, "id", ""));
}

/* Sorts the records of arr by the number member key, oldest first. */
ap_err
admin_sort_by(cJSON *arr, const char *key)
{
    int n = cJSON_GetArraySize(arr);
    cJSON **items;

    if (n < 2) {
        return AP_OK;
    }
    items = calloc((size_t)n, sizeof(*items));
    if (items == NULL) {
        return AP_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        items[i] = cJSON_DetachItemFromArray(arr, 0);
    }
    qsort_r(items, (size_t)n, sizeof(*items), by_time,
            (void *)(uintptr_t)key);
    for (int i = 0; i < n; i++) {
        cJSON_AddItemToArray(arr, items[i]);
    }
    free(items);
    return AP_OK;
}

/* The EAB key (from an eab_list array) that bound account id, or NULL. */
const cJSON *
admin_eab_of_account(const cJSON *eabs, const char *id)
{
    const cJSON *key;
    const cJSON *a;

    cJSON_ArrayForEach(key, eabs) {
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(key,
                                                               "accounts")) {
            if (cJSON_IsString(a) && strcmp(a->valuestring, id) == 0) {
                return key;
            }
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- dispatch */

static const admin_fn handlers[] = {
    [ADMIN_EAB_ADD] = admin_cmd_eab_add,
    [ADMIN_EAB_LIST] = admin_cmd_eab_list,
    [ADMIN_EAB_REVOKE] = admin_cmd_eab_revoke,
    [ADMIN_ACCOUNTS_LIST] = admin_cmd_accounts_list,
    [ADMIN_ACCOUNTS_SHOW] = admin_cmd_accounts_show,
    [ADMIN_ACCOUNTS_DEACTIVATE] = admin_cmd_accounts_deactivate,
    [ADMIN_ORDERS_LIST] = admin_cmd_orders_list,
    [ADMIN_ORDERS_SHOW] = admin_cmd_orders_show,
    [ADMIN_CERTS_LIST] = admin_cmd_certs_list,
    [ADMIN_CERTS_SHOW] = admin_cmd_certs_show,
    [ADMIN_ACCOUNTS_BIND] = admin_cmd_accounts_bind,
    [ADMIN_CERTS_REPORT] = admin_cmd_certs_report,
    [ADMIN_REVOKE] = admin_cmd_revoke,
    [ADMIN_BACKUP] = admin_cmd_backup,
    [ADMIN_RECONCILE_DONE] = admin_cmd_reconcile_done,
    [ADMIN_RECONCILE] = admin_cmd_reconcile,
};
_Static_assert(sizeof(handlers) / sizeof(handlers[0]) == ADMIN__MAX,
               "handlers must cover every admin_op");

int
admin_run(struct app *app, const struct admin_cmd *cmd, FILE *out, FILE *err)
{
    int status;

    if (cmd->op >= ADMIN__MAX || (cmd->needs_pki && app->adapter == NULL)) {
        return admin_fail(err, "internal: command not runnable");
    }
    status = handlers[cmd->op](app, cmd, out, err);
    if (fflush(out) != 0 || ferror(out)) {
        return admin_fail(err, "writing the output: %s", strerror(errno));
    }
    return status;
}
