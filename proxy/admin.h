/* proxy/admin.h: the admin subcommands of `acmeproxy -c CONF COMMAND`.
 *
 * EAB keys, accounts, orders, certificates, revocation, backup and the
 * possible duplicates at the PKI (reconcile), run on
 * the data directory of a proxy that may be serving at the same time (LMDB
 * takes several processes; every change is one short write transaction).
 * Output is for people (aligned columns, "key: value" lines) or, with
 * --json, one JSON document for scripts. Exit status: ADMIN_EXIT_OK,
 * ADMIN_EXIT_FAIL (the reason on stderr: unknown record, already revoked,
 * the PKI refused, store failure) or ADMIN_EXIT_USAGE (usage on stderr).
 * An action that would change nothing (revoking what is revoked) fails.
 * The EAB HMAC key is printed by `eab add` only, never by a list or show,
 * and never logged. One command per process: not thread-safe.
 * admin.c is the front (this header: parsing, tables, output, dispatch);
 * the subcommands live one file per object family (admin_int.h). */
#ifndef AP_PROXY_ADMIN_H
#define AP_PROXY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "proxy/app.h"

#define ADMIN_EXIT_OK 0
#define ADMIN_EXIT_FAIL 1
#define ADMIN_EXIT_USAGE 2

#define ADMIN_MAX_LABEL 64     /* eab add --label, printable ASCII */
#define ADMIN_MAX_LIST 64      /* entries of a comma-separated option */
#define ADMIN_MAX_SERIAL 40    /* hex digits of a serial (RFC 5280: 20 B) */
#define ADMIN_MAX_EXPIRING 36500 /* certs list --expiring DAYS */

enum admin_op {
    ADMIN_EAB_ADD,
    ADMIN_EAB_LIST,
    ADMIN_EAB_REVOKE,
    ADMIN_ACCOUNTS_LIST,
    ADMIN_ACCOUNTS_SHOW,
    ADMIN_ACCOUNTS_DEACTIVATE,
    ADMIN_ORDERS_LIST,
    ADMIN_ORDERS_SHOW,
    ADMIN_CERTS_LIST,
    ADMIN_CERTS_SHOW,
    ADMIN_REVOKE,
    ADMIN_BACKUP,
    ADMIN_RECONCILE_DONE,
    ADMIN_RECONCILE,
    ADMIN_ACCOUNTS_BIND,
    ADMIN_CERTS_REPORT,
    ADMIN__MAX
};

/* A parsed command line. Strings are borrowed from argv. */
struct admin_cmd {
    enum admin_op op;
    bool json;                  /* --json: one JSON document on stdout */
    bool needs_pki;             /* the CA and the adapter must be opened */
    const char *arg;            /* ID, KID, SERIAL or FILE; NULL if none */
    const char *label;          /* eab add --label */
    const char *profiles;       /* eab add --profiles p1,p2 (or NULL) */
    const char *default_profile; /* eab add --default-profile P (or NULL) */
    const char *preauthorized;  /* eab add --preauthorized .a.test,b.test */
    const char *allow_names;    /* eab add --allow-names .a.test,b.test */
    const char *allow_ips;      /* eab add --allow-ips 10.0.0.0/8,... */
    long long max_validity_days; /* eab add --max-validity; 0: none */
    const char *account;        /* orders list --account ID */
    long long expiring_days;    /* certs list --expiring DAYS; -1: all */
    const char *team;           /* accounts/certs list, certs report, accounts bind --team */
    bool overdue;               /* certs list --overdue */
    int reason;                 /* revoke --reason: RFC 5280 CRLReason */
    bool csv;                   /* --csv (certs report): CSV on stdout */
    const char *kid;            /* accounts bind --kid KID */
    long long days;             /* certs report --days N; -1: the default */
    long long at;               /* certs report --at TIME; 0: now */
};

/* Parses the words after the global options (argv[0] is the subcommand).
 * Options take "--opt value" or "--opt=value"; --json may appear
 * anywhere. On AP_OK *cmd is filled; AP_EINVAL with the reason in errbuf
 * on any usage error (unknown command or option, missing or extra
 * argument, bad number, bad list, bad serial). No I/O. */
AP_MUST_CHECK ap_err admin_parse(int argc, char *const *argv,
                                 struct admin_cmd *cmd, char *errbuf,
                                 size_t errlen);

/* Writes the subcommand synopsis to f. */
void admin_usage(FILE *f);

/* Runs cmd against app (app->cfg and app->st set; app->adapter and
 * app->adapter_state too when cmd->needs_pki), printing the result to out
 * and failures to err. Returns ADMIN_EXIT_OK or ADMIN_EXIT_FAIL. */
int admin_run(struct app *app, const struct admin_cmd *cmd, FILE *out,
              FILE *err);

/* Helpers exported for test/unit/test_admin.c. */

/* Normalises a serial as the store keys it (lower-case hex, no colons,
 * no leading zero bytes, even length) into out (outlen > 40). AP_EINVAL
 * when in is not 1..40 hex digits, optionally colon-separated. */
AP_MUST_CHECK ap_err admin_serial_normalize(const char *in, char *out,
                                            size_t outlen);

/* An RFC 5280 CRLReason from a number ("1") or a name ("keyCompromise",
 * any case); -1 when it is neither, or 7 (unused). */
int admin_reason_parse(const char *s);
/* The name of an RFC 5280 CRLReason code, "?" when none. */
const char *admin_reason_name(int reason);

/* Splits a comma-separated list into a new JSON array of strings (caller
 * deletes). Spaces around entries are dropped. AP_EINVAL on an empty
 * entry, more than ADMIN_MAX_LIST entries or a non-printable byte. */
AP_MUST_CHECK ap_err admin_split_list(const char *s, cJSON **out);

/* A table of text cells printed with aligned columns: each column as wide
 * as its widest cell, two spaces between columns, the last one not padded.
 * Cells are copied; bytes outside printable ASCII print as '?'. */
struct admin_table;

/* ncols columns named by headers (borrowed, ncols entries). NULL when out
 * of memory. */
struct admin_table *admin_table_new(size_t ncols, const char *const *headers);
/* Adds one row of ncols cells (NULL prints as "-"). */
AP_MUST_CHECK ap_err admin_table_add(struct admin_table *t,
                                     const char *const *cells);
void admin_table_print(const struct admin_table *t, FILE *f);
void admin_table_free(struct admin_table *t); /* accepts NULL */

#endif /* AP_PROXY_ADMIN_H */
