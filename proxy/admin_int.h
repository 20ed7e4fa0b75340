/* proxy/admin_int.h: what the admin front (proxy/admin.c: argument
 * parsing, tables, JSON output, dispatch) shares with the files of the
 * subcommand families:
 *   admin_eab.c        eab add, eab list, eab revoke
 *   admin_accounts.c   accounts list, accounts show, accounts deactivate
 *   admin_orders.c     orders list, orders show
 *   admin_certs.c      certs list, certs show, revoke
 *   admin_backup.c     backup
 *   admin_reconcile.c  reconcile, reconcile done
 *   admin_oversight.c  accounts bind, certs report
 * Not for the rest of the proxy, which calls admin.h.
 *
 * A subcommand (admin_fn) runs one parsed command against app, prints the
 * result to out (aligned columns or "key: value" lines for people, one
 * JSON document with --json) and failures to err, and returns
 * ADMIN_EXIT_OK or ADMIN_EXIT_FAIL. Reads go through one read transaction
 * each and copy records out; each change is one short write transaction
 * carrying its audit event (request "admin", fields from admin_fields),
 * so a serving proxy on the same data directory sees it at its next
 * request. Views are built member by member from the stored records
 * (never the record itself), so a secret a record holds (the EAB "hmac")
 * cannot reach the output by accident. Nothing goes to the diagnostic
 * log. One command per process: not thread-safe.
 *
 * The work of eab add, eab list, eab revoke, accounts list, certs list
 * and revoke is done by the operations of proxy/admin_ops.h (in the same
 * family files), which the admin API calls too: the admin_cmd_* of those
 * only turn the command line into their arguments and their document or
 * outcome into output. */
#ifndef AP_PROXY_ADMIN_INT_H
#define AP_PROXY_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/admin.h"
#include "proxy/admin_ops.h"
#include "proxy/app.h"

#define ADMIN_MAX_CELL 512     /* bytes of one table cell */

/* ---------------------------------------------------------- subcommands */

typedef int (*admin_fn)(struct app *app, const struct admin_cmd *cmd,
                        FILE *out, FILE *err);

int admin_cmd_eab_add(struct app *app, const struct admin_cmd *cmd,
                      FILE *out, FILE *err);
int admin_cmd_eab_list(struct app *app, const struct admin_cmd *cmd,
                       FILE *out, FILE *err);
int admin_cmd_eab_revoke(struct app *app, const struct admin_cmd *cmd,
                         FILE *out, FILE *err);
int admin_cmd_accounts_list(struct app *app, const struct admin_cmd *cmd,
                            FILE *out, FILE *err);
int admin_cmd_accounts_show(struct app *app, const struct admin_cmd *cmd,
                            FILE *out, FILE *err);
int admin_cmd_accounts_deactivate(struct app *app,
                                  const struct admin_cmd *cmd, FILE *out,
                                  FILE *err);
int admin_cmd_orders_list(struct app *app, const struct admin_cmd *cmd,
                          FILE *out, FILE *err);
int admin_cmd_orders_show(struct app *app, const struct admin_cmd *cmd,
                          FILE *out, FILE *err);
int admin_cmd_certs_list(struct app *app, const struct admin_cmd *cmd,
                         FILE *out, FILE *err);
int admin_cmd_certs_show(struct app *app, const struct admin_cmd *cmd,
                         FILE *out, FILE *err);
int admin_cmd_revoke(struct app *app, const struct admin_cmd *cmd,
                     FILE *out, FILE *err);
int admin_cmd_backup(struct app *app, const struct admin_cmd *cmd,
                     FILE *out, FILE *err);
int admin_cmd_reconcile(struct app *app, const struct admin_cmd *cmd,
                        FILE *out, FILE *err);
int admin_cmd_reconcile_done(struct app *app, const struct admin_cmd *cmd,
                             FILE *out, FILE *err);
int admin_cmd_accounts_bind(struct app *app, const struct admin_cmd *cmd,
                            FILE *out, FILE *err);
int admin_cmd_certs_report(struct app *app, const struct admin_cmd *cmd,
                           FILE *out, FILE *err);

/* ---------------------------------------------------------- output */

/* Prints "acmeproxy: " and the message to err; returns ADMIN_EXIT_FAIL. */
int admin_fail(FILE *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* admin_fail with "what: <text of rc>". */
int admin_fail_rc(FILE *err, const char *what, ap_err rc);
/* Prints doc (taken; NULL: out of memory) as the one JSON document of
 * --json. Returns the exit status. */
int admin_print_json(FILE *out, FILE *err, cJSON *doc);
/* Prints a listing: the JSON document *doc (taken, *doc set to NULL) with
 * --json, else the table t. Returns the exit status. */
int admin_emit_list(const struct admin_cmd *cmd, FILE *out, FILE *err,
                    cJSON **doc, const struct admin_table *t);
/* One "key:   value" line of show output; value cleaned as a table cell. */
void admin_kv(FILE *out, const char *key, const char *val);
/* The same with a time (admin_fmt_time). */
void admin_kv_time(FILE *out, const char *key, long long t);

/* RFC 3339 for people into buf: "-" when t is 0. Returns buf. */
const char *admin_fmt_time(long long t, char *buf, size_t len);
/* Adds key: the RFC 3339 string of t, or null when t is 0 (for scripts). */
void admin_add_time(cJSON *obj, const char *key, long long t);
/* Adds key: s, or null when s is NULL or empty. */
void admin_add_str_or_null(cJSON *obj, const char *key, const char *s);
/* A copy of member key of rec when it is an array, else an empty array. */
cJSON *admin_dup_array(const cJSON *rec, const char *key);
/* Joins the strings of an array (or the "value" of its objects) with
 * commas into buf; "-" when empty. Returns buf. */
const char *admin_join(const cJSON *arr, char *buf, size_t len);

/* Adds who did it to the fields (taken) of an admin audit event:
 * "by":"admin" and the Unix uid. NULL (fields freed) when out of memory.
 * The event goes into the transaction of the change (proxy/audit.h), so
 * there is no change without its event. */
cJSON *admin_fields(cJSON *fields);

/* Sets res (outcome o, detail from fmt) and returns o. */
enum admin_outcome admin_res(struct admin_result *res, enum admin_outcome o,
                             const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* admin_res with the text of rc: NOTFOUND for AP_ENOTFOUND, else FAILED. */
enum admin_outcome admin_res_rc(struct admin_result *res, ap_err rc);
/* admin_fail with "what: <res->detail>"; returns ADMIN_EXIT_FAIL. */
int admin_fail_res(FILE *err, const char *what,
                   const struct admin_result *res);

/* ---------------------------------------------------------- loading */

/* Every record of t (or, with keys, every key's last path element) under
 * prefix, into a new array (caller deletes). Records that do not parse
 * are skipped. */
AP_MUST_CHECK ap_err admin_load_all(struct store_txn *txn,
                                    enum store_table t, const char *prefix,
                                    bool keys, cJSON **out);
/* Sorts the records of arr by the number member key, oldest first (ties
 * by "id"). */
AP_MUST_CHECK ap_err admin_sort_by(cJSON *arr, const char *key);
/* The EAB key (from an eab_list array) that bound account id, or NULL. */
const cJSON *admin_eab_of_account(const cJSON *eabs, const char *id);
/* The team of account record acct: its "team", else the label of the EAB
 * key (of eabs) that bound it, else "". *kid (may be NULL) gets that
 * key's id or NULL. Strings borrowed from acct or eabs. */
const char *admin_account_team(const cJSON *acct, const cJSON *eabs,
                               const char **kid);

#endif /* AP_PROXY_ADMIN_INT_H */
