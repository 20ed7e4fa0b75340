/* proxy/admin.c: the admin subcommands (admin.h).
 *
 * Reads go through one read transaction each and copy records out; each
 * change is one short write transaction, so a serving proxy on the same
 * data directory sees it at its next request. Views are built member by
 * member from the stored records (never the record itself), so a secret a
 * record holds (the EAB "hmac") cannot reach the output by accident. EAB
 * keys are minted, listed and revoked through proxy/eab.h; revocation
 * calls the adapter, then marks the record as revokeCert does
 * (cert_mark_revoked). Changes go to the audit log (request "admin",
 * "by":"admin" and the Unix uid); nothing goes to the diagnostic log. */
#include "proxy/admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ca.h"
#include "common/crypto.h"
#include "common/id.h"
#include "common/json.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/audit.h"
#include "proxy/cert.h"
#include "proxy/eab.h"
#include "proxy/status.h"

#define ADMIN_KV_WIDTH 15      /* "key:" column of show output */
#define ADMIN_MAX_CELL 512     /* bytes of one table cell */

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
                            OPT_BIT(OPT_MAX_VALIDITY),
                        false },
    [ADMIN_EAB_LIST] = { "eab", "list", ARG_NONE, NULL, 0, false },
    [ADMIN_EAB_REVOKE] = { "eab", "revoke", ARG_ID, "KID", 0, false },
    [ADMIN_ACCOUNTS_LIST] = { "accounts", "list", ARG_NONE, NULL, 0, false },
    [ADMIN_ACCOUNTS_SHOW] = { "accounts", "show", ARG_ID, "ID", 0, false },
    [ADMIN_ACCOUNTS_DEACTIVATE] = { "accounts", "deactivate", ARG_ID, "ID",
                                    0, false },
    [ADMIN_ORDERS_LIST] = { "orders", "list", ARG_NONE, NULL,
                            OPT_BIT(OPT_ACCOUNT), false },
    [ADMIN_ORDERS_SHOW] = { "orders", "show", ARG_ID, "ID", 0, false },
    [ADMIN_CERTS_LIST] = { "certs", "list", ARG_NONE, NULL,
                           OPT_BIT(OPT_EXPIRING), false },
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
            "          [--allow-ips CIDRS] [--max-validity DAYS]\n"
            "  eab list\n"
            "  eab revoke KID\n"
            "  accounts list | show ID | deactivate ID\n"
            "  orders list [--account ID] | show ID\n"
            "  certs list [--expiring DAYS] | show ID-or-SERIAL\n"
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
        if (o == OPT_PROFILES) {
            cmd->profiles = v;
        } else if (o == OPT_ALLOW_NAMES) {
            cmd->allow_names = v;
        } else {
            cmd->allow_ips = v;
        }
        if (!list_ok(v)) {
            want = "a comma-separated list of 1 to 64 non-empty entries";
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
    case OPT_REASON:
        cmd->reason = admin_reason_parse(v);
        if (cmd->reason < 0) {
            want = "an RFC 5280 reason: 0-10 but 7, or its name";
        }
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

static int
fail(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(FILE *err, const char *fmt, ...)
{
    va_list ap;

    fputs("acmeproxy: ", err);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
    return ADMIN_EXIT_FAIL;
}

static int
fail_rc(FILE *err, const char *what, ap_err rc)
{
    return fail(err, "%s: %s", what, ap_strerror(rc));
}

/* Prints doc as the one JSON document of --json (takes doc). */
static int
print_json(FILE *out, FILE *err, cJSON *doc)
{
    char *text;
    int status = ADMIN_EXIT_OK;

    if (doc == NULL) {
        return fail_rc(err, "building the output", AP_ENOMEM);
    }
    text = cJSON_Print(doc);
    cJSON_Delete(doc);
    if (text == NULL) {
        return fail_rc(err, "building the output", AP_ENOMEM);
    }
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return status;
}

/* Prints a listing: the JSON document (taken) with --json, else the
 * table. Returns the exit status. */
static int
emit_list(const struct admin_cmd *cmd, FILE *out, FILE *err, cJSON **doc,
          const struct admin_table *t)
{
    cJSON *d = *doc;

    *doc = NULL;
    if (cmd->json) {
        return print_json(out, err, d);
    }
    cJSON_Delete(d);
    admin_table_print(t, out);
    return ADMIN_EXIT_OK;
}

/* RFC 3339 for people: "-" when t is 0. */
static const char *
fmt_time(long long t, char *buf, size_t len)
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

static void
add_time(cJSON *obj, const char *key, long long t)
{
    cJSON_AddItemToObject(obj, key, json_time(t));
}

static void
add_str_or_null(cJSON *obj, const char *key, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        cJSON_AddNullToObject(obj, key);
    } else {
        cJSON_AddStringToObject(obj, key, s);
    }
}

/* A copy of member key of rec when it is an array, else an empty array. */
static cJSON *
dup_array(const cJSON *rec, const char *key)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec, key);

    return cJSON_IsArray(a) ? cJSON_Duplicate(a, 1) : cJSON_CreateArray();
}

/* Joins the strings of an array (or the "value" of its objects) with
 * commas into buf; "-" when empty. */
static const char *
join(const cJSON *arr, char *buf, size_t len)
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

static void
kv(FILE *out, const char *key, const char *val)
{
    char *clean = cell_dup(val);

    fprintf(out, "%s:%*s%s\n", key, (int)(ADMIN_KV_WIDTH - strlen(key)), "",
            clean != NULL ? clean : "?");
    free(clean);
}

static void
kv_time(FILE *out, const char *key, long long t)
{
    char buf[TIME_RFC3339_LEN];

    kv(out, key, fmt_time(t, buf, sizeof(buf)));
}

/* Adds who did it to the fields of an admin event: "by":"admin" and the
 * Unix uid. The event goes into the transaction of the change
 * (proxy/audit.h), so there is no change without its event. */
static cJSON *
admin_fields(cJSON *fields)
{
    if (fields != NULL &&
        (cJSON_AddStringToObject(fields, "by", "admin") == NULL ||
         cJSON_AddNumberToObject(fields, "uid", (double)getuid()) == NULL)) {
        cJSON_Delete(fields);
        return NULL;
    }
    return fields;
}

/* ---------------------------------------------------------------- loading */

struct collect {
    cJSON *arr;
    ap_err rc;
    bool keys;          /* collect the keys' last path element, not values */
};

static bool
collect_one(void *arg, const char *key, const char *val, size_t len)
{
    struct collect *c = arg;
    cJSON *item = NULL;

    if (c->keys) {
        const char *slash = strrchr(key, '/');

        item = cJSON_CreateString(slash != NULL ? slash + 1 : key);
    } else if (json_parse(val, len, &item) != AP_OK) {
        return true;     /* a record we cannot read is skipped */
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
static ap_err
load_all(struct store_txn *txn, enum store_table t, const char *prefix,
         bool keys, cJSON **out)
{
    struct collect c = { NULL, AP_OK, keys };
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
static ap_err
sort_by(cJSON *arr, const char *key)
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
static const cJSON *
eab_of_account(const cJSON *eabs, const char *id)
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

/* ---------------------------------------------------------------- EAB */

static cJSON *
eab_view(const cJSON *rec)
{
    cJSON *v = cJSON_CreateObject();
    long long revoked = json_num(rec, "revoked", 0);
    long long days = json_num(rec, "max_validity_days", 0);
    static const char *const lists[] = { "profiles", "allow_names",
                                         "allow_ips" };

    if (v == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(v, "kid", json_str(rec, "kid", ""));
    cJSON_AddStringToObject(v, "label", json_str(rec, "label", ""));
    cJSON_AddStringToObject(v, "status", revoked ? "revoked" : "valid");
    add_time(v, "created", json_num(rec, "created", 0));
    add_time(v, "revoked", revoked);
    cJSON_AddItemToObject(v, "accounts", dup_array(rec, "accounts"));
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(rec, lists[i]);

        cJSON_AddItemToObject(v, lists[i],
                              cJSON_IsArray(l) ? cJSON_Duplicate(l, 1)
                                               : cJSON_CreateNull());
    }
    if (days > 0) {
        cJSON_AddNumberToObject(v, "max_validity_days", (double)days);
    } else {
        cJSON_AddNullToObject(v, "max_validity_days");
    }
    return v;
}

/* Appends " key=value" (no space first) to buf, truncating at len. */
static void
append_kv(char *buf, size_t len, size_t *used, const char *key,
          const char *val)
{
    int n;

    if (*used + 1 >= len) {
        return;
    }
    n = snprintf(buf + *used, len - *used, "%s%s=%s", *used ? " " : "", key,
                 val);
    if (n > 0) {
        *used = (size_t)n >= len - *used ? len - 1 : *used + (size_t)n;
    }
}

/* "names=.a.test ips=10.0.0.0/8 profiles=p max=30d", "-" when none. */
static const char *
policy_summary(const cJSON *v, char *buf, size_t len)
{
    static const char *const lists[][2] = { { "allow_names", "names" },
                                            { "allow_ips", "ips" },
                                            { "profiles", "profiles" } };
    char part[ADMIN_MAX_CELL];
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(v, lists[i][0]);

        if (cJSON_IsArray(l)) {
            append_kv(buf, len, &used, lists[i][1],
                      join(l, part, sizeof(part)));
        }
    }
    if (json_num(v, "max_validity_days", 0) > 0) {
        snprintf(part, sizeof(part), "%lldd",
                 json_num(v, "max_validity_days", 0));
        append_kv(buf, len, &used, "max", part);
    }
    if (used == 0) {
        snprintf(buf, len, "-");
    }
    return buf;
}

/* Prints the one-time output of eab add and wipes the copies of the
 * HMAC key it made. */
static int
print_new_key(const struct admin_cmd *cmd, const char *kid,
              const char *hmac, FILE *out, FILE *err)
{
    char flags[EAB_KID_LEN + EAB_HMAC_LEN + 64];
    cJSON *doc = NULL;
    char *text = NULL;
    int status = ADMIN_EXIT_FAIL;

    snprintf(flags, sizeof(flags), "--eab --kid %s --hmac %s", kid, hmac);
    if (!cmd->json) {
        fprintf(out,
                "EAB key for team \"%s\" (the HMAC key is shown only "
                "now):\n"
                "kid:     %s\n"
                "hmac:    %s\n"
                "lego:    %s\n"
                "certbot: --eab-kid %s --eab-hmac-key %s\n",
                cmd->label, kid, hmac, flags, kid, hmac);
        status = ADMIN_EXIT_OK;
        goto out;
    }
    doc = cJSON_CreateObject();
    if (doc == NULL || cJSON_AddStringToObject(doc, "kid", kid) == NULL ||
        cJSON_AddStringToObject(doc, "hmac", hmac) == NULL ||
        cJSON_AddStringToObject(doc, "label", cmd->label) == NULL ||
        cJSON_AddStringToObject(doc, "lego", flags) == NULL) {
        status = fail_rc(err, "eab add: building the output", AP_ENOMEM);
        goto out;
    }
    text = cJSON_Print(doc);
    if (text == NULL) {
        status = fail_rc(err, "eab add: building the output", AP_ENOMEM);
        goto out;
    }
    fprintf(out, "%s\n", text);
    status = ADMIN_EXIT_OK;
out:
    if (text != NULL) {
        crypto_zeroize(text, strlen(text));
        cJSON_free(text);
    }
    if (doc != NULL) {
        const char *keys[] = { "hmac", "lego" };

        for (size_t i = 0; i < 2; i++) {
            char *v = cJSON_GetStringValue(cJSON_GetObjectItem(doc, keys[i]));

            if (v != NULL) {
                crypto_zeroize(v, strlen(v));
            }
        }
        cJSON_Delete(doc);
    }
    crypto_zeroize(flags, sizeof(flags));
    return status;
}

static int
cmd_eab_add(struct app *app, const struct admin_cmd *cmd, FILE *out,
            FILE *err)
{
    const char *lists[][2] = { { "profiles", cmd->profiles },
                               { "allow_names", cmd->allow_names },
                               { "allow_ips", cmd->allow_ips } };
    char kid[EAB_KID_LEN + 8];
    char hmac[EAB_HMAC_LEN + 8];
    char errbuf[256];
    cJSON *policy = cJSON_CreateObject();
    cJSON *fields = NULL;
    struct audit_note note;
    int status = ADMIN_EXIT_FAIL;
    ap_err rc = AP_ENOMEM;

    errbuf[0] = '\0';
    memset(hmac, 0, sizeof(hmac));
    if (policy == NULL) {
        status = fail_rc(err, "eab add", rc);
        goto out;
    }
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        cJSON *arr = NULL;

        if (lists[i][1] == NULL) {
            continue;
        }
        rc = admin_split_list(lists[i][1], &arr);
        if (rc != AP_OK) {
            status = fail(err, "eab add: bad list %s", lists[i][1]);
            goto out;
        }
        cJSON_AddItemToObject(policy, lists[i][0], arr);
    }
    if (cmd->max_validity_days > 0) {
        cJSON_AddNumberToObject(policy, "max_validity_days",
                                (double)cmd->max_validity_days);
    }
    /* The event: the key's policy and label (eab_create adds its kid),
     * never the HMAC key; written with the key or not at all. */
    fields = admin_fields(cJSON_Duplicate(policy, 1));
    if (fields == NULL ||
        cJSON_AddStringToObject(fields, "label", cmd->label) == NULL) {
        status = fail_rc(err, "eab add", AP_ENOMEM);
        goto out;
    }
    note.audit = app->audit;
    note.event = "eab.created";
    note.request_id = "admin";
    note.fields = fields;
    rc = eab_create(app->st, app->cfg, cmd->label, policy, &note, kid,
                    sizeof(kid), hmac, sizeof(hmac), errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        status = errbuf[0] != '\0' ? fail(err, "eab add: %s", errbuf)
                                   : fail_rc(err, "eab add", rc);
        goto out;
    }
    status = print_new_key(cmd, kid, hmac, out, err);
out:
    crypto_zeroize(hmac, sizeof(hmac));
    cJSON_Delete(policy);
    cJSON_Delete(fields);
    return status;
}

static int
cmd_eab_list(struct app *app, const struct admin_cmd *cmd, FILE *out,
             FILE *err)
{
    static const char *const hdr[] = { "KID", "LABEL", "STATUS", "CREATED",
                                       "ACCOUNTS", "POLICY" };
    struct admin_table *t = NULL;
    cJSON *keys = NULL;
    cJSON *doc = NULL;
    const cJSON *rec;
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    rc = eab_list(app->st, &keys);
    if (rc != AP_OK) {
        return fail_rc(err, "eab list", rc);
    }
    rc = sort_by(keys, "created");
    doc = cJSON_CreateArray();
    t = admin_table_new(6, hdr);
    if (rc != AP_OK || doc == NULL || t == NULL) {
        status = fail_rc(err, "eab list", AP_ENOMEM);
        goto out;
    }
    cJSON_ArrayForEach(rec, keys) {
        cJSON *v = eab_view(rec);
        char created[TIME_RFC3339_LEN];
        char n[16];
        char pol[1024];
        const char *row[6];

        if (v == NULL || !cJSON_AddItemToArray(doc, v)) {
            cJSON_Delete(v);
            status = fail_rc(err, "eab list", AP_ENOMEM);
            goto out;
        }
        snprintf(n, sizeof(n), "%d",
                 cJSON_GetArraySize(cJSON_GetObjectItem(v, "accounts")));
        row[0] = json_str(v, "kid", "");
        row[1] = json_str(v, "label", "");
        row[2] = json_str(v, "status", "");
        row[3] = fmt_time(json_num(rec, "created", 0), created,
                          sizeof(created));
        row[4] = n;
        row[5] = policy_summary(v, pol, sizeof(pol));
        if (admin_table_add(t, row) != AP_OK) {
            status = fail_rc(err, "eab list", AP_ENOMEM);
            goto out;
        }
    }
    status = emit_list(cmd, out, err, &doc, t);
out:
    admin_table_free(t);
    cJSON_Delete(doc);
    cJSON_Delete(keys);
    return status;
}

static int
cmd_eab_revoke(struct app *app, const struct admin_cmd *cmd, FILE *out,
               FILE *err)
{
    cJSON *keys = NULL;
    const cJSON *rec;
    const cJSON *found = NULL;
    cJSON *doc;
    ap_err rc;
    int status;

    rc = eab_list(app->st, &keys);
    if (rc != AP_OK) {
        return fail_rc(err, "eab revoke", rc);
    }
    cJSON_ArrayForEach(rec, keys) {
        if (strcmp(json_str(rec, "kid", ""), cmd->arg) == 0) {
            found = rec;
        }
    }
    if (found == NULL) {
        status = fail(err, "eab revoke: no EAB key %s", cmd->arg);
    } else if (json_num(found, "revoked", 0) != 0) {
        status = fail(err, "eab revoke: key %s is already revoked",
                      cmd->arg);
    } else {
        cJSON *f = admin_fields(cJSON_CreateObject());
        struct audit_note note = { app->audit, "eab.revoked", "admin", f };

        rc = f != NULL &&
                     cJSON_AddStringToObject(f, "kid", cmd->arg) != NULL &&
                     cJSON_AddStringToObject(f, "label",
                                             json_str(found, "label", "")) !=
                         NULL
                 ? eab_revoke(app->st, cmd->arg, &note)
                 : AP_ENOMEM;
        cJSON_Delete(f);
        status = rc == AP_OK ? ADMIN_EXIT_OK : fail_rc(err, "eab revoke", rc);
    }
    if (status == ADMIN_EXIT_OK && cmd->json) {
        doc = cJSON_CreateObject();
        if (doc != NULL) {
            cJSON_AddStringToObject(doc, "kid", cmd->arg);
            cJSON_AddStringToObject(doc, "label",
                                    json_str(found, "label", ""));
            cJSON_AddStringToObject(doc, "status", "revoked");
        }
        status = print_json(out, err, doc);
    } else if (status == ADMIN_EXIT_OK) {
        fprintf(out, "revoked EAB key %s (team \"%s\"); its %d account(s) "
                     "can no longer order\n",
                cmd->arg, json_str(found, "label", ""),
                cJSON_GetArraySize(
                    cJSON_GetObjectItemCaseSensitive(found, "accounts")));
    }
    cJSON_Delete(keys);
    return status;
}

/* ---------------------------------------------------------------- accounts */

static cJSON *
account_view(const cJSON *acct, const cJSON *eabs)
{
    cJSON *v = cJSON_CreateObject();
    const cJSON *key = eab_of_account(eabs, json_str(acct, "id", ""));
    const char *kid = json_str(acct, "eab", json_str(key, "kid", NULL));
    const char *team = json_str(acct, "team", json_str(key, "label", ""));

    if (v == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(v, "id", json_str(acct, "id", ""));
    cJSON_AddStringToObject(v, "status", json_str(acct, "status", ""));
    add_time(v, "created", json_num(acct, "created", 0));
    cJSON_AddItemToObject(v, "contact", dup_array(acct, "contact"));
    cJSON_AddStringToObject(v, "thumbprint", json_str(acct, "thumbprint",
                                                       ""));
    add_str_or_null(v, "ip", json_str(acct, "ip", NULL));
    /* The account records its key ("eab", "team"); the key records its
     * accounts too. */
    if (kid != NULL) {
        cJSON *e = cJSON_AddObjectToObject(v, "eab");

        if (e != NULL) {
            cJSON_AddStringToObject(e, "kid", kid);
            cJSON_AddStringToObject(e, "label", team);
        }
    } else {
        cJSON_AddNullToObject(v, "eab");
    }
    return v;
}

/* "EC P-256", "RSA 2048" from a stored public JWK. */
static const char *
key_summary(const cJSON *jwk, char *buf, size_t len)
{
    const char *kty = json_str(jwk, "kty", "?");

    if (strcmp(kty, "RSA") == 0) {
        snprintf(buf, len, "RSA %zu",
                 strlen(json_str(jwk, "n", "")) * 6 / 8 * 8);
    } else if (strcmp(kty, "EC") == 0 || strcmp(kty, "OKP") == 0) {
        snprintf(buf, len, "%s %s", kty, json_str(jwk, "crv", "?"));
    } else {
        snprintf(buf, len, "%s", kty);
    }
    return buf;
}

static int
cmd_accounts_list(struct app *app, const struct admin_cmd *cmd, FILE *out,
                  FILE *err)
{
    static const char *const hdr[] = { "ID", "STATUS", "CREATED", "EAB",
                                       "CONTACT" };
    struct store_txn *txn = NULL;
    struct admin_table *t = NULL;
    cJSON *eabs = NULL;
    cJSON *accts = NULL;
    cJSON *doc = NULL;
    const cJSON *a;
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    rc = eab_list(app->st, &eabs);
    if (rc == AP_OK) {
        rc = store_begin(app->st, false, &txn);
    }
    if (rc == AP_OK) {
        rc = load_all(txn, STORE_ACCOUNTS, NULL, false, &accts);
    }
    store_abort(txn);
    if (rc == AP_OK) {
        rc = sort_by(accts, "created");
    }
    if (rc != AP_OK) {
        status = fail_rc(err, "accounts list", rc);
        goto out;
    }
    doc = cJSON_CreateArray();
    t = admin_table_new(5, hdr);
    if (doc == NULL || t == NULL) {
        status = fail_rc(err, "accounts list", AP_ENOMEM);
        goto out;
    }
    cJSON_ArrayForEach(a, accts) {
        cJSON *v = account_view(a, eabs);
        const cJSON *e;
        char created[TIME_RFC3339_LEN];
        char contact[ADMIN_MAX_CELL];
        char eab[ADMIN_MAX_CELL];
        const char *row[5];

        if (v == NULL || !cJSON_AddItemToArray(doc, v)) {
            cJSON_Delete(v);
            status = fail_rc(err, "accounts list", AP_ENOMEM);
            goto out;
        }
        e = cJSON_GetObjectItemCaseSensitive(v, "eab");
        snprintf(eab, sizeof(eab), "%s", "-");
        if (cJSON_IsObject(e)) {
            snprintf(eab, sizeof(eab), "%s (%s)", json_str(e, "label", ""),
                     json_str(e, "kid", ""));
        }
        row[0] = json_str(v, "id", "");
        row[1] = json_str(v, "status", "");
        row[2] = fmt_time(json_num(a, "created", 0), created,
                          sizeof(created));
        row[3] = eab;
        row[4] = join(cJSON_GetObjectItemCaseSensitive(v, "contact"),
                      contact, sizeof(contact));
        if (admin_table_add(t, row) != AP_OK) {
            status = fail_rc(err, "accounts list", AP_ENOMEM);
            goto out;
        }
    }
    status = emit_list(cmd, out, err, &doc, t);
out:
    admin_table_free(t);
    cJSON_Delete(doc);
    cJSON_Delete(accts);
    cJSON_Delete(eabs);
    return status;
}

static int
cmd_accounts_show(struct app *app, const struct admin_cmd *cmd, FILE *out,
                  FILE *err)
{
    struct store_txn *txn = NULL;
    char prefix[STORE_MAX_KEY];
    cJSON *eabs = NULL;
    cJSON *acct = NULL;
    cJSON *orders = NULL;
    cJSON *certs = NULL;
    cJSON *v = NULL;
    const cJSON *oid;
    const cJSON *e;
    char buf[ADMIN_MAX_CELL];
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    snprintf(prefix, sizeof(prefix), "%s/", cmd->arg);
    certs = cJSON_CreateArray();
    rc = certs != NULL ? eab_list(app->st, &eabs) : AP_ENOMEM;
    if (rc == AP_OK) {
        rc = store_begin(app->st, false, &txn);
    }
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ACCOUNTS, cmd->arg, &acct);
    }
    if (rc == AP_OK) {
        rc = load_all(txn, STORE_ACCOUNT_ORDERS, prefix, true, &orders);
    }
    /* Its certificates: the "cert" of its orders. */
    cJSON_ArrayForEach(oid, orders) {
        cJSON *order = NULL;

        if (rc != AP_OK) {
            break;
        }
        if (store_get_json(txn, STORE_ORDERS, oid->valuestring, &order) ==
                AP_OK &&
            json_str(order, "cert", NULL) != NULL) {
            cJSON_AddItemToArray(certs, cJSON_CreateString(
                                            json_str(order, "cert", "")));
        }
        cJSON_Delete(order);
    }
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        status = fail(err, "accounts show: no account %s", cmd->arg);
        goto out;
    }
    if (rc != AP_OK) {
        status = fail_rc(err, "accounts show", rc);
        goto out;
    }
    v = account_view(acct, eabs);
    if (v == NULL) {
        status = fail_rc(err, "accounts show", AP_ENOMEM);
        goto out;
    }
    e = cJSON_GetObjectItemCaseSensitive(acct, "jwk");
    cJSON_AddItemToObject(v, "jwk", cJSON_IsObject(e) ? cJSON_Duplicate(e, 1)
                                                      : cJSON_CreateNull());
    cJSON_AddBoolToObject(v, "termsOfServiceAgreed",
                          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                              acct, "tos")));
    cJSON_AddItemToObject(v, "orders", orders);
    orders = NULL;
    cJSON_AddItemToObject(v, "certificates", certs);
    certs = NULL;
    if (cmd->json) {
        status = print_json(out, err, v);
        v = NULL;
        goto out;
    }
    kv(out, "id", json_str(v, "id", ""));
    kv(out, "status", json_str(v, "status", ""));
    kv_time(out, "created", json_num(acct, "created", 0));
    kv(out, "contact", join(cJSON_GetObjectItemCaseSensitive(v, "contact"),
                            buf, sizeof(buf)));
    kv(out, "key", key_summary(cJSON_GetObjectItemCaseSensitive(acct, "jwk"),
                               buf, sizeof(buf)));
    kv(out, "thumbprint", json_str(v, "thumbprint", ""));
    kv(out, "source ip", json_str(v, "ip", "-"));
    e = cJSON_GetObjectItemCaseSensitive(v, "eab");
    if (cJSON_IsObject(e)) {
        snprintf(buf, sizeof(buf), "%s (%s)", json_str(e, "kid", ""),
                 json_str(e, "label", ""));
        kv(out, "eab", buf);
    } else {
        kv(out, "eab", "-");
    }
    kv(out, "tos agreed",
       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v,
                                                     "termsOfServiceAgreed"))
           ? "yes"
           : "no");
    kv(out, "orders", join(cJSON_GetObjectItemCaseSensitive(v, "orders"), buf,
                           sizeof(buf)));
    kv(out, "certificates",
       join(cJSON_GetObjectItemCaseSensitive(v, "certificates"), buf,
            sizeof(buf)));
    status = ADMIN_EXIT_OK;
out:
    cJSON_Delete(v);
    cJSON_Delete(certs);
    cJSON_Delete(orders);
    cJSON_Delete(acct);
    cJSON_Delete(eabs);
    return status;
}

static int
cmd_accounts_deactivate(struct app *app, const struct admin_cmd *cmd,
                        FILE *out, FILE *err)
{
    struct store_txn *txn = NULL;
    cJSON *acct = NULL;
    cJSON *doc;
    char was[32] = "";
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ACCOUNTS, cmd->arg, &acct);
    }
    if (rc == AP_OK) {
        snprintf(was, sizeof(was), "%s", json_str(acct, "status", ""));
    }
    if (rc == AP_OK && strcmp(was, "valid") == 0) {
        /* RFC 8555 §7.3.6: the server refuses the account's requests from
         * now on (jws_verify checks the status). */
        rc = json_set_str(acct, "status", "deactivated");
        if (rc == AP_OK) {
            rc = store_put_json(txn, STORE_ACCOUNTS, cmd->arg, acct, false);
        }
        if (rc == AP_OK) {
            rc = account_cancel_pending(txn, cmd->arg);
        }
        if (rc == AP_OK) {
            cJSON *f = admin_fields(cJSON_CreateObject());

            if (f != NULL) {
                cJSON_AddStringToObject(f, "account", cmd->arg);
                cJSON_AddStringToObject(f, "status", "deactivated");
            }
            rc = f != NULL ? audit_event(app->audit, txn,
                                         "account.deactivated", "admin", f)
                           : AP_ENOMEM;
        }
        if (rc == AP_OK) {
            rc = store_commit(txn);
            txn = NULL;
        }
    }
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        status = fail(err, "accounts deactivate: no account %s", cmd->arg);
    } else if (rc != AP_OK) {
        status = fail_rc(err, "accounts deactivate", rc);
    } else if (strcmp(was, "valid") != 0) {
        status = fail(err, "accounts deactivate: account %s is already %s",
                      cmd->arg, was);
    } else {
        status = ADMIN_EXIT_OK;
    }
    if (status == ADMIN_EXIT_OK && cmd->json) {
        doc = cJSON_CreateObject();
        if (doc != NULL) {
            cJSON_AddStringToObject(doc, "id", cmd->arg);
            cJSON_AddStringToObject(doc, "status", "deactivated");
        }
        status = print_json(out, err, doc);
    } else if (status == ADMIN_EXIT_OK) {
        fprintf(out, "deactivated account %s\n", cmd->arg);
    }
    cJSON_Delete(acct);
    return status;
}

/* ---------------------------------------------------------------- orders */

static cJSON *
order_view(const cJSON *order, long long now)
{
    cJSON *v = cJSON_CreateObject();
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(order, "error");

    if (v == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(v, "id", json_str(order, "id", ""));
    cJSON_AddStringToObject(v, "account", json_str(order, "account", ""));
    cJSON_AddStringToObject(v, "status", order_status_now(order, now));
    add_time(v, "created", json_num(order, "created", 0));
    add_time(v, "expires", json_num(order, "expires", 0));
    add_time(v, "notBefore", json_num(order, "notBefore", 0));
    add_time(v, "notAfter", json_num(order, "notAfter", 0));
    cJSON_AddItemToObject(v, "identifiers", dup_array(order, "identifiers"));
    add_str_or_null(v, "profile", json_str(order, "profile", NULL));
    add_str_or_null(v, "cert", json_str(order, "cert", NULL));
    cJSON_AddItemToObject(v, "error", cJSON_IsObject(e)
                                          ? cJSON_Duplicate(e, 1)
                                          : cJSON_CreateNull());
    return v;
}

static int
cmd_orders_list(struct app *app, const struct admin_cmd *cmd, FILE *out,
                FILE *err)
{
    static const char *const hdr[] = { "ID", "ACCOUNT", "STATUS", "CREATED",
                                       "CERT", "IDENTIFIERS" };
    struct store_txn *txn = NULL;
    struct admin_table *t = NULL;
    char prefix[STORE_MAX_KEY];
    cJSON *orders = NULL;
    cJSON *ids = NULL;
    cJSON *acct = NULL;
    cJSON *doc = NULL;
    const cJSON *o;
    long long now = time_now();
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK && cmd->account == NULL) {
        rc = load_all(txn, STORE_ORDERS, NULL, false, &orders);
    } else if (rc == AP_OK) {
        snprintf(prefix, sizeof(prefix), "%s/", cmd->account);
        rc = store_get_json(txn, STORE_ACCOUNTS, cmd->account, &acct);
        if (rc == AP_OK) {
            rc = load_all(txn, STORE_ACCOUNT_ORDERS, prefix, true, &ids);
        }
        if (rc == AP_OK) {
            orders = cJSON_CreateArray();
            rc = orders != NULL ? AP_OK : AP_ENOMEM;
        }
        cJSON_ArrayForEach(o, ids) {
            cJSON *order = NULL;

            if (rc == AP_OK &&
                store_get_json(txn, STORE_ORDERS, o->valuestring, &order) ==
                AP_OK) {
                cJSON_AddItemToArray(orders, order);
            }
        }
    }
    store_abort(txn);
    if (rc == AP_OK) {
        rc = sort_by(orders, "created");
    }
    if (rc == AP_ENOTFOUND) {
        status = fail(err, "orders list: no account %s", cmd->account);
        goto out;
    }
    if (rc != AP_OK) {
        status = fail_rc(err, "orders list", rc);
        goto out;
    }
    doc = cJSON_CreateArray();
    t = admin_table_new(6, hdr);
    if (doc == NULL || t == NULL) {
        status = fail_rc(err, "orders list", AP_ENOMEM);
        goto out;
    }
    cJSON_ArrayForEach(o, orders) {
        cJSON *v = order_view(o, now);
        char created[TIME_RFC3339_LEN];
        char names[ADMIN_MAX_CELL];
        const char *row[6];

        if (v == NULL || !cJSON_AddItemToArray(doc, v)) {
            cJSON_Delete(v);
            status = fail_rc(err, "orders list", AP_ENOMEM);
            goto out;
        }
        row[0] = json_str(v, "id", "");
        row[1] = json_str(v, "account", "");
        row[2] = json_str(v, "status", "");
        row[3] = fmt_time(json_num(o, "created", 0), created,
                          sizeof(created));
        row[4] = json_str(v, "cert", "-");
        row[5] = join(cJSON_GetObjectItemCaseSensitive(v, "identifiers"),
                      names, sizeof(names));
        if (admin_table_add(t, row) != AP_OK) {
            status = fail_rc(err, "orders list", AP_ENOMEM);
            goto out;
        }
    }
    status = emit_list(cmd, out, err, &doc, t);
out:
    admin_table_free(t);
    cJSON_Delete(doc);
    cJSON_Delete(orders);
    cJSON_Delete(ids);
    cJSON_Delete(acct);
    return status;
}

/* The authorizations of an order as a view array (id, identifier, status,
 * expires, challenges with type, status, validated). */
static cJSON *
authz_views(struct store_txn *txn, const cJSON *order, long long now)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *aid;

    if (arr == NULL) {
        return NULL;
    }
    cJSON_ArrayForEach(aid, cJSON_GetObjectItemCaseSensitive(order,
                                                             "authzs")) {
        cJSON *authz = NULL;
        cJSON *v;
        cJSON *chs;
        const cJSON *ch;
        const cJSON *ident;

        if (!cJSON_IsString(aid) ||
            store_get_json(txn, STORE_AUTHZS, aid->valuestring, &authz) !=
                AP_OK) {
            continue;
        }
        v = cJSON_CreateObject();
        if (v == NULL || !cJSON_AddItemToArray(arr, v)) {
            cJSON_Delete(v);
            cJSON_Delete(authz);
            cJSON_Delete(arr);
            return NULL;
        }
        ident = cJSON_GetObjectItemCaseSensitive(authz, "identifier");
        cJSON_AddStringToObject(v, "id", aid->valuestring);
        cJSON_AddItemToObject(v, "identifier",
                              cJSON_IsObject(ident)
                                  ? cJSON_Duplicate(ident, 1)
                                  : cJSON_CreateNull());
        cJSON_AddStringToObject(v, "status", authz_status_now(authz, now));
        add_time(v, "expires", json_num(authz, "expires", 0));
        chs = cJSON_AddArrayToObject(v, "challenges");
        cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(authz,
                                                                "challenges")) {
            cJSON *c = cJSON_CreateObject();

            if (c == NULL || !cJSON_AddItemToArray(chs, c)) {
                cJSON_Delete(c);
                continue;
            }
            cJSON_AddStringToObject(c, "type", json_str(ch, "type", ""));
            cJSON_AddStringToObject(c, "status", json_str(ch, "status", ""));
            add_time(c, "validated", json_num(ch, "validated", 0));
            add_str_or_null(c, "address", json_str(ch, "address", NULL));
        }
        cJSON_Delete(authz);
    }
    return arr;
}

static int
cmd_orders_show(struct app *app, const struct admin_cmd *cmd, FILE *out,
                FILE *err)
{
    struct store_txn *txn = NULL;
    cJSON *order = NULL;
    cJSON *authzs = NULL;
    cJSON *v = NULL;
    const cJSON *a;
    const cJSON *e;
    char buf[ADMIN_MAX_CELL];
    long long now = time_now();
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_ORDERS, cmd->arg, &order);
    }
    if (rc == AP_OK) {
        authzs = authz_views(txn, order, now);
        rc = authzs != NULL ? AP_OK : AP_ENOMEM;
    }
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        status = fail(err, "orders show: no order %s", cmd->arg);
        goto out;
    }
    v = rc == AP_OK ? order_view(order, now) : NULL;
    if (v == NULL) {
        status = fail_rc(err, "orders show", rc != AP_OK ? rc : AP_ENOMEM);
        goto out;
    }
    cJSON_AddItemToObject(v, "authorizations", authzs);
    authzs = NULL;
    if (cmd->json) {
        status = print_json(out, err, v);
        v = NULL;
        goto out;
    }
    kv(out, "id", json_str(v, "id", ""));
    kv(out, "account", json_str(v, "account", ""));
    kv(out, "status", json_str(v, "status", ""));
    kv_time(out, "created", json_num(order, "created", 0));
    kv_time(out, "expires", json_num(order, "expires", 0));
    kv_time(out, "not before", json_num(order, "notBefore", 0));
    kv_time(out, "not after", json_num(order, "notAfter", 0));
    kv(out, "profile", json_str(v, "profile", "-"));
    kv(out, "identifiers",
       join(cJSON_GetObjectItemCaseSensitive(v, "identifiers"), buf,
            sizeof(buf)));
    kv(out, "certificate", json_str(v, "cert", "-"));
    e = cJSON_GetObjectItemCaseSensitive(v, "error");
    if (cJSON_IsObject(e)) {
        snprintf(buf, sizeof(buf), "%s: %s", json_str(e, "type", ""),
                 json_str(e, "detail", ""));
        kv(out, "error", buf);
    }
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(v,
                                                           "authorizations")) {
        const cJSON *ident = cJSON_GetObjectItemCaseSensitive(a,
                                                              "identifier");
        const cJSON *c;
        size_t used;

        used = (size_t)snprintf(buf, sizeof(buf), "%s %s %s",
                                json_str(a, "id", ""),
                                json_str(ident, "value", "?"),
                                json_str(a, "status", ""));
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(a,
                                                               "challenges")) {
            if (used < sizeof(buf)) {
                int n = snprintf(buf + used, sizeof(buf) - used, " %s=%s",
                                 json_str(c, "type", ""),
                                 json_str(c, "status", ""));

                used += n > 0 ? (size_t)n : 0;
            }
        }
        kv(out, "authorization", buf);
    }
    status = ADMIN_EXIT_OK;
out:
    cJSON_Delete(v);
    cJSON_Delete(authzs);
    cJSON_Delete(order);
    return status;
}

/* ---------------------------------------------------------------- certs */

static const char *
cert_status(const cJSON *cert, long long now)
{
    const char *s = json_str(cert, "status", "valid");

    if (strcmp(s, "valid") == 0 && json_num(cert, "notAfter", 0) <= now) {
        return "expired";
    }
    return s;
}

/* The view of a certificate; order (may be NULL) gives the names. */
static cJSON *
cert_view(const cJSON *cert, const cJSON *order, long long now)
{
    cJSON *v = cJSON_CreateObject();
    bool revoked = strcmp(json_str(cert, "status", ""), "revoked") == 0;

    if (v == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(v, "id", json_str(cert, "id", ""));
    cJSON_AddStringToObject(v, "serial", json_str(cert, "serial", ""));
    cJSON_AddStringToObject(v, "status", cert_status(cert, now));
    add_time(v, "issued", json_num(cert, "issued", 0));
    add_time(v, "notAfter", json_num(cert, "notAfter", 0));
    cJSON_AddStringToObject(v, "account", json_str(cert, "account", ""));
    cJSON_AddStringToObject(v, "order", json_str(cert, "order", ""));
    cJSON_AddItemToObject(v, "identifiers",
                          dup_array(order, "identifiers"));
    cJSON_AddStringToObject(v, "adapter", json_str(cert, "adapter", ""));
    add_time(v, "revokedAt", revoked ? json_num(cert, "revokedAt", 0) : 0);
    if (revoked) {
        cJSON_AddNumberToObject(v, "reason",
                                (double)json_num(cert, "reason", 0));
    } else {
        cJSON_AddNullToObject(v, "reason");
    }
    add_str_or_null(v, "replacedBy", json_str(cert, "replacedBy", NULL));
    return v;
}

static int
cmd_certs_list(struct app *app, const struct admin_cmd *cmd, FILE *out,
               FILE *err)
{
    static const char *const hdr[] = { "ID", "SERIAL", "STATUS", "NOT AFTER",
                                       "ACCOUNT", "IDENTIFIERS" };
    struct store_txn *txn = NULL;
    struct admin_table *t = NULL;
    cJSON *certs = NULL;
    cJSON *doc = NULL;
    const cJSON *c;
    long long now = time_now();
    long long until = now + cmd->expiring_days * 86400;
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    doc = cJSON_CreateArray();
    t = admin_table_new(6, hdr);
    rc = doc != NULL && t != NULL ? AP_OK : AP_ENOMEM;
    if (rc == AP_OK) {
        rc = store_begin(app->st, false, &txn);
    }
    if (rc == AP_OK) {
        rc = load_all(txn, STORE_CERTS, NULL, false, &certs);
    }
    if (rc == AP_OK) {
        rc = sort_by(certs, "notAfter");
    }
    cJSON_ArrayForEach(c, certs) {
        cJSON *order = NULL;
        cJSON *v;
        char na[TIME_RFC3339_LEN];
        char names[ADMIN_MAX_CELL];
        const char *row[6];

        if (rc != AP_OK) {
            break;
        }
        /* --expiring: still valid, and ending within DAYS. */
        if (cmd->expiring_days >= 0 &&
            (strcmp(cert_status(c, now), "valid") != 0 ||
             json_num(c, "notAfter", 0) > until)) {
            continue;
        }
        if (store_get_json(txn, STORE_ORDERS, json_str(c, "order", ""),
                           &order) != AP_OK) {
            order = NULL;
        }
        v = cert_view(c, order, now);
        cJSON_Delete(order);
        if (v == NULL || !cJSON_AddItemToArray(doc, v)) {
            cJSON_Delete(v);
            rc = AP_ENOMEM;
            break;
        }
        row[0] = json_str(v, "id", "");
        row[1] = json_str(v, "serial", "");
        row[2] = json_str(v, "status", "");
        row[3] = fmt_time(json_num(c, "notAfter", 0), na, sizeof(na));
        row[4] = json_str(v, "account", "");
        row[5] = join(cJSON_GetObjectItemCaseSensitive(v, "identifiers"),
                      names, sizeof(names));
        rc = admin_table_add(t, row);
    }
    store_abort(txn);
    if (rc != AP_OK) {
        status = fail_rc(err, "certs list", rc);
    } else if (cmd->json) {
        status = print_json(out, err, doc);
        doc = NULL;
    } else {
        admin_table_print(t, out);
        status = ADMIN_EXIT_OK;
    }
    admin_table_free(t);
    cJSON_Delete(doc);
    cJSON_Delete(certs);
    return status;
}

/* Loads a certificate record by id or by serial (normalised), and its
 * order (NULL when gone). AP_ENOTFOUND when neither finds one. */
static ap_err
cert_find(struct store *st, const char *key, cJSON **cert, cJSON **order)
{
    struct store_txn *txn = NULL;
    char serial[ADMIN_MAX_SERIAL + 1];
    char *id = NULL;
    ap_err rc;

    *cert = NULL;
    *order = NULL;
    rc = store_begin(st, false, &txn);
    if (rc != AP_OK) {
        return rc;
    }
    rc = AP_ENOTFOUND;
    if (id_is_valid(key)) {
        rc = store_get_json(txn, STORE_CERTS, key, cert);
    }
    if (rc == AP_ENOTFOUND &&
        admin_serial_normalize(key, serial, sizeof(serial)) == AP_OK) {
        rc = store_get(txn, STORE_SERIALS, serial, &id, NULL);
        if (rc == AP_OK) {
            rc = store_get_json(txn, STORE_CERTS, id, cert);
        }
    }
    if (rc == AP_OK) {
        /* The order gives the names; a certificate shows without it. */
        if (store_get_json(txn, STORE_ORDERS, json_str(*cert, "order", ""),
                           order) != AP_OK) {
            *order = NULL;
        }
    }
    store_abort(txn);
    free(id);
    return rc;
}

static int
cmd_certs_show(struct app *app, const struct admin_cmd *cmd, FILE *out,
               FILE *err)
{
    cJSON *cert = NULL;
    cJSON *order = NULL;
    cJSON *v = NULL;
    char buf[ADMIN_MAX_CELL];
    long long now = time_now();
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    rc = cert_find(app->st, cmd->arg, &cert, &order);
    if (rc == AP_ENOTFOUND) {
        status = fail(err, "certs show: no certificate with id or serial %s",
                      cmd->arg);
        goto out;
    }
    v = rc == AP_OK ? cert_view(cert, order, now) : NULL;
    if (v == NULL) {
        status = fail_rc(err, "certs show", rc != AP_OK ? rc : AP_ENOMEM);
        goto out;
    }
    cJSON_AddStringToObject(v, "pem", json_str(cert, "pem", ""));
    if (cmd->json) {
        status = print_json(out, err, v);
        v = NULL;
        goto out;
    }
    kv(out, "id", json_str(v, "id", ""));
    kv(out, "serial", json_str(v, "serial", ""));
    kv(out, "status", json_str(v, "status", ""));
    kv_time(out, "issued", json_num(cert, "issued", 0));
    kv_time(out, "not after", json_num(cert, "notAfter", 0));
    kv(out, "account", json_str(v, "account", ""));
    kv(out, "order", json_str(v, "order", ""));
    kv(out, "identifiers",
       join(cJSON_GetObjectItemCaseSensitive(v, "identifiers"), buf,
            sizeof(buf)));
    kv(out, "adapter", json_str(v, "adapter", ""));
    if (strcmp(json_str(v, "status", ""), "revoked") == 0) {
        kv_time(out, "revoked", json_num(cert, "revokedAt", 0));
        snprintf(buf, sizeof(buf), "%lld (%s)", json_num(cert, "reason", 0),
                 admin_reason_name((int)json_num(cert, "reason", 0)));
        kv(out, "reason", buf);
    }
    fprintf(out, "%s", json_str(cert, "pem", ""));
    status = ADMIN_EXIT_OK;
out:
    cJSON_Delete(v);
    cJSON_Delete(order);
    cJSON_Delete(cert);
    return status;
}

/* ---------------------------------------------------------------- revoke */

static int
cmd_revoke(struct app *app, const struct admin_cmd *cmd, FILE *out,
           FILE *err)
{
    char serial[ADMIN_MAX_SERIAL + 1];
    char errbuf[256];
    cJSON *cert = NULL;
    cJSON *order = NULL;
    cJSON *doc;
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    rc = admin_serial_normalize(cmd->arg, serial, sizeof(serial));
    if (rc == AP_OK) {
        rc = cert_find(app->st, serial, &cert, &order);
    }
    /* cert_find also takes an id; revoke names serials only. */
    if (rc == AP_OK && strcmp(json_str(cert, "serial", ""), serial) != 0) {
        rc = AP_ENOTFOUND;
    }
    if (rc == AP_ENOTFOUND) {
        status = fail(err, "revoke: no certificate with serial %s", serial);
        goto out;
    }
    if (rc != AP_OK) {
        status = fail_rc(err, "revoke", rc);
        goto out;
    }
    if (strcmp(json_str(cert, "status", ""), "revoked") == 0) {
        status = fail(err, "revoke: certificate %s is already revoked",
                      serial);
        goto out;
    }
    /* The PKI first: the record says revoked only once it is. */
    errbuf[0] = '\0';
    rc = app->adapter->revoke(app->adapter_state, json_str(cert, "pem", ""),
                              cmd->reason, errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        status = fail(err, "revoke: the PKI (adapter %s) did not revoke %s: "
                           "%s",
                      app->adapter->name, serial,
                      errbuf[0] ? errbuf : ap_strerror(rc));
        goto out;
    }
    doc = cJSON_CreateObject();
    if (doc != NULL) {
        cJSON_AddStringToObject(doc, "serial", serial);
        cJSON_AddNumberToObject(doc, "reason", cmd->reason);
        cJSON_AddStringToObject(doc, "adapter", app->adapter->name);
        cJSON_AddStringToObject(doc, "pki", "revoked");
    }
    doc = admin_fields(doc);
    {
        struct audit_note note = { app->audit, "cert.revoked", "admin", doc };

        rc = doc != NULL ? cert_mark_revoked(app, serial, cmd->reason, &note)
                         : AP_ENOMEM;
    }
    cJSON_Delete(doc);
    if (rc != AP_OK) {
        status = fail(err, "revoke: the PKI revoked %s but recording it "
                           "failed: %s (run the command again)",
                      serial, ap_strerror(rc));
        goto out;
    }
    if (cmd->json) {
        doc = cJSON_CreateObject();
        if (doc != NULL) {
            cJSON_AddStringToObject(doc, "serial", serial);
            cJSON_AddStringToObject(doc, "id", json_str(cert, "id", ""));
            cJSON_AddStringToObject(doc, "status", "revoked");
            cJSON_AddNumberToObject(doc, "reason", cmd->reason);
            cJSON_AddStringToObject(doc, "adapter", app->adapter->name);
        }
        status = print_json(out, err, doc);
    } else {
        fprintf(out, "revoked certificate %s (reason %d %s) through adapter "
                     "%s\n",
                serial, cmd->reason, admin_reason_name(cmd->reason),
                app->adapter->name);
        status = ADMIN_EXIT_OK;
    }
out:
    cJSON_Delete(order);
    cJSON_Delete(cert);
    return status;
}

/* ---------------------------------------------------------------- backup */

static int
cmd_backup(struct app *app, const struct admin_cmd *cmd, FILE *out,
           FILE *err)
{
    static const char *const ca_files[] = { CA_ROOT_FILE, CA_ROOT_KEY_FILE,
                                            CA_INT_FILE, CA_INT_KEY_FILE };
    const char *dir = app->cfg->server.data_dir;
    char errbuf[512];
    struct stat sb;
    cJSON *doc;
    cJSON *files;

    if (store_backup(app->st, cmd->arg, errbuf, sizeof(errbuf)) != AP_OK) {
        return fail(err, "backup: %s", errbuf);
    }
    if (stat(cmd->arg, &sb) != 0) {
        return fail(err, "backup: %s: %s", cmd->arg, strerror(errno));
    }
    if (cmd->json) {
        doc = cJSON_CreateObject();
        if (doc != NULL) {
            cJSON_AddStringToObject(doc, "file", cmd->arg);
            cJSON_AddNumberToObject(doc, "bytes", (double)sb.st_size);
            cJSON_AddStringToObject(doc, "data_dir", dir);
            files = cJSON_AddArrayToObject(doc, "ca_files");
            for (size_t i = 0; i < sizeof(ca_files) / sizeof(ca_files[0]);
                 i++) {
                cJSON_AddItemToArray(files, cJSON_CreateString(ca_files[i]));
            }
        }
        return print_json(out, err, doc);
    }
    fprintf(out,
            "wrote %s (%lld bytes): a compacted copy of %s/db\n"
            "to restore into NEW_DIR (data_dir of the restored proxy):\n"
            "  mkdir -m 700 -p NEW_DIR/db && cp %s NEW_DIR/db/data.mdb\n"
            "  cp -p %s/%s %s/%s %s/%s %s/%s NEW_DIR/\n",
            cmd->arg, (long long)sb.st_size, dir, cmd->arg, dir,
            ca_files[0], dir, ca_files[1], dir, ca_files[2], dir,
            ca_files[3]);
    return ADMIN_EXIT_OK;
}

/* ---------------------------------------------------------------- reconcile */

struct recon_list {
    struct store_txn *txn;
    cJSON *doc;
    struct admin_table *t;
    ap_err rc;
};

/* One possible duplicate, with what the order became (the certificate it
 * kept is not the orphan). */
static bool
recon_one(void *arg, const char *key, const char *val, size_t len)
{
    struct recon_list *l = arg;
    cJSON *rec = NULL;
    cJSON *order = NULL;
    cJSON *cert = NULL;
    char names[ADMIN_MAX_CELL];
    const char *row[7];
    const char *kept = NULL;

    if (json_parse(val, len, &rec) != AP_OK) {
        return true;
    }
    if (store_get_json(l->txn, STORE_ORDERS, key, &order) == AP_OK &&
        json_str(order, "cert", NULL) != NULL &&
        store_get_json(l->txn, STORE_CERTS, json_str(order, "cert", ""),
                       &cert) == AP_OK) {
        kept = json_str(cert, "serial", NULL);
    }
    cJSON_AddStringToObject(rec, "orderStatus",
                            order != NULL ? json_str(order, "status", "?")
                                          : "gone");
    if (kept != NULL) {
        cJSON_AddStringToObject(rec, "keptSerial", kept);
    }
    names[0] = '\0';
    {
        const cJSON *it;
        size_t off = 0;

        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
                                   rec, "identifiers")) {
            int n = snprintf(names + off, sizeof(names) - off, "%s%s",
                             off > 0 ? "," : "", json_str(it, "value", ""));

            if (n < 0 || (size_t)n >= sizeof(names) - off) {
                break;
            }
            off += (size_t)n;
        }
    }
    row[0] = key;
    row[1] = json_str(rec, "lostAt", "");
    row[2] = json_str(rec, "adapter", "");
    row[3] = names;
    row[4] = json_str(rec, "keySha256", "");
    row[5] = kept;
    row[6] = json_str(rec, "orderStatus", "");
    if (admin_table_add(l->t, row) != AP_OK ||
        !cJSON_AddItemToArray(l->doc, rec)) {
        cJSON_Delete(rec);
        l->rc = AP_ENOMEM;
        cJSON_Delete(order);
        cJSON_Delete(cert);
        return false;
    }
    cJSON_Delete(order);
    cJSON_Delete(cert);
    return true;
}

/* `reconcile`: the submissions whose answer was lost where the PKI could
 * not be asked. Each may have left a certificate at the PKI that nobody
 * received: same names, same public key (keySha256 is the SHA-256 of its
 * SubjectPublicKeyInfo), issued from lostAt on, and not keptSerial. */
static int
cmd_reconcile(struct app *app, const struct admin_cmd *cmd, FILE *out,
              FILE *err)
{
    static const char *const hdr[] = { "ORDER", "LOST AT", "ADAPTER",
                                       "NAMES", "KEY SHA-256",
                                       "KEPT SERIAL", "ORDER STATUS" };
    struct recon_list l;
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    memset(&l, 0, sizeof(l));
    l.doc = cJSON_CreateArray();
    l.t = admin_table_new(7, hdr);
    if (l.doc == NULL || l.t == NULL) {
        status = fail_rc(err, "reconcile", AP_ENOMEM);
        goto out;
    }
    rc = store_begin(app->st, false, &l.txn);
    if (rc == AP_OK) {
        rc = store_scan(l.txn, STORE_RECONCILE, NULL, NULL, recon_one, &l);
    }
    store_abort(l.txn);
    if (rc == AP_OK) {
        rc = l.rc;
    }
    if (rc != AP_OK) {
        status = fail_rc(err, "reconcile", rc);
        goto out;
    }
    if (!cmd->json) {
        fprintf(out, "%d possible duplicate(s): revoke at the PKI the "
                     "certificate for the same names and key, issued from "
                     "LOST AT on, that is not KEPT SERIAL; then run "
                     "`reconcile done ORDER`\n",
                cJSON_GetArraySize(l.doc));
    }
    status = emit_list(cmd, out, err, &l.doc, l.t);
out:
    admin_table_free(l.t);
    cJSON_Delete(l.doc);
    return status;
}

/* `reconcile done ORDER`: the PKI team dealt with it. */
static int
cmd_reconcile_done(struct app *app, const struct admin_cmd *cmd, FILE *out,
                   FILE *err)
{
    struct store_txn *txn = NULL;
    cJSON *f = NULL;
    cJSON *doc;
    ap_err rc;

    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_del(txn, STORE_RECONCILE, cmd->arg);
    }
    if (rc == AP_OK) {
        f = admin_fields(cJSON_CreateObject());
        if (f != NULL) {
            cJSON_AddStringToObject(f, "order", cmd->arg);
        }
        rc = f != NULL ? audit_event(app->audit, txn, "pki.duplicate_resolved",
                                     "admin", f)
                       : AP_ENOMEM;
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        return fail(err, "reconcile done: no possible duplicate for order %s",
                    cmd->arg);
    }
    if (rc != AP_OK) {
        return fail_rc(err, "reconcile done", rc);
    }
    if (cmd->json) {
        doc = cJSON_CreateObject();
        if (doc != NULL) {
            cJSON_AddStringToObject(doc, "order", cmd->arg);
            cJSON_AddStringToObject(doc, "status", "resolved");
        }
        return print_json(out, err, doc);
    }
    fprintf(out, "order %s: possible duplicate resolved\n", cmd->arg);
    return ADMIN_EXIT_OK;
}

/* ---------------------------------------------------------------- dispatch */

typedef int (*admin_fn)(struct app *app, const struct admin_cmd *cmd,
                        FILE *out, FILE *err);

static const admin_fn handlers[] = {
    [ADMIN_EAB_ADD] = cmd_eab_add,
    [ADMIN_EAB_LIST] = cmd_eab_list,
    [ADMIN_EAB_REVOKE] = cmd_eab_revoke,
    [ADMIN_ACCOUNTS_LIST] = cmd_accounts_list,
    [ADMIN_ACCOUNTS_SHOW] = cmd_accounts_show,
    [ADMIN_ACCOUNTS_DEACTIVATE] = cmd_accounts_deactivate,
    [ADMIN_ORDERS_LIST] = cmd_orders_list,
    [ADMIN_ORDERS_SHOW] = cmd_orders_show,
    [ADMIN_CERTS_LIST] = cmd_certs_list,
    [ADMIN_CERTS_SHOW] = cmd_certs_show,
    [ADMIN_REVOKE] = cmd_revoke,
    [ADMIN_BACKUP] = cmd_backup,
    [ADMIN_RECONCILE_DONE] = cmd_reconcile_done,
    [ADMIN_RECONCILE] = cmd_reconcile,
};
_Static_assert(sizeof(handlers) / sizeof(handlers[0]) == ADMIN__MAX,
               "handlers must cover every admin_op");

int
admin_run(struct app *app, const struct admin_cmd *cmd, FILE *out, FILE *err)
{
    int status;

    if (cmd->op >= ADMIN__MAX || (cmd->needs_pki && app->adapter == NULL)) {
        return fail(err, "internal: command not runnable");
    }
    status = handlers[cmd->op](app, cmd, out, err);
    if (fflush(out) != 0 || ferror(out)) {
        return fail(err, "writing the output: %s", strerror(errno));
    }
    return status;
}
