/* proxy/admin_oversight.c: `accounts bind` (proxy/team.h) and `certs
 * report` (proxy/report.h), the front ends of the operations that the
 * admin API calls too. */
#include "proxy/admin_int.h"

#include <string.h>

#include "common/json.h"
#include "common/timeutil.h"
#include "proxy/report.h"
#include "proxy/team.h"

int
admin_cmd_accounts_bind(struct app *app, const struct admin_cmd *cmd,
                        FILE *out, FILE *err)
{
    char label[ADMIN_MAX_LABEL + 1];
    char why[256];
    cJSON *doc;
    ap_err rc;

    rc = team_bind_account(app, cmd->arg, cmd->kid, cmd->team, "admin",
                           admin_fields(cJSON_CreateObject()), label,
                           sizeof(label), why, sizeof(why));
    if (rc != AP_OK) {
        return why[0] != '\0'
                   ? admin_fail(err, "accounts bind: %s", why)
                   : admin_fail_rc(err, "accounts bind", rc);
    }
    if (!cmd->json) {
        fprintf(out, "bound account %s to team %s%s%s\n", cmd->arg, label,
                cmd->kid != NULL ? " with EAB key " : "",
                cmd->kid != NULL ? cmd->kid : "");
        return ADMIN_EXIT_OK;
    }
    doc = cJSON_CreateObject();
    if (doc != NULL) {
        cJSON_AddStringToObject(doc, "id", cmd->arg);
        cJSON_AddStringToObject(doc, "team", label);
        admin_add_str_or_null(doc, "eab", cmd->kid);
    }
    return admin_print_json(out, err, doc);
}

int
admin_cmd_certs_report(struct app *app, const struct admin_cmd *cmd,
                       FILE *out, FILE *err)
{
    static const char *const hdr[] = { "TEAM",       "STATE",
                                       "DAYS LEFT",  "NOT AFTER",
                                       "WINDOW END", "SERIAL",
                                       "IDENTIFIERS" };
    struct report_opts o;
    struct admin_table *t = NULL;
    cJSON *doc = NULL;
    const cJSON *v;
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    memset(&o, 0, sizeof(o));
    o.now = cmd->at != 0 ? cmd->at : time_now();
    o.days = cmd->days >= 0 ? (unsigned)cmd->days
                            : app->cfg->oversight.expiry_days;
    o.team = cmd->team;
    rc = report_build(app->st, &o, &doc);
    if (rc != AP_OK) {
        return admin_fail_rc(err, "certs report", rc);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "truncated"))) {
        fprintf(err, "acmeproxy: certs report: more than %d certificates "
                "qualify; the first %d in store order are shown\n",
                REPORT_MAX_ROWS, REPORT_MAX_ROWS);
    }
    if (cmd->json) {
        status = admin_print_json(out, err, doc);
        doc = NULL;
        goto out;
    }
    if (cmd->csv) {
        status = report_write_csv(doc, out) == AP_OK
                     ? ADMIN_EXIT_OK
                     : admin_fail(err, "certs report: writing failed");
        goto out;
    }
    t = admin_table_new(7, hdr);
    if (t == NULL) {
        status = admin_fail_rc(err, "certs report", AP_ENOMEM);
        goto out;
    }
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc,
                                                           "certificates")) {
        char names[ADMIN_MAX_CELL];
        char days[32];
        const char *row[7];

        snprintf(days, sizeof(days), "%lld", json_num(v, "daysLeft", 0));
        row[0] = json_str(v, "team", "-");
        row[1] = json_str(v, "state", "");
        row[2] = days;
        row[3] = json_str(v, "notAfter", "-");
        row[4] = json_str(cJSON_GetObjectItemCaseSensitive(v,
                                                           "renewalWindow"),
                          "end", "-");
        row[5] = json_str(v, "serial", "");
        row[6] = admin_join(cJSON_GetObjectItemCaseSensitive(v,
                                                             "identifiers"),
                            names, sizeof(names));
        if (admin_table_add(t, row) != AP_OK) {
            status = admin_fail_rc(err, "certs report", AP_ENOMEM);
            goto out;
        }
    }
    admin_table_print(t, out);
    status = fflush(out) == 0 ? ADMIN_EXIT_OK
                              : admin_fail(err, "certs report: writing "
                                                "failed");
out:
    admin_table_free(t);
    cJSON_Delete(doc);
    return status;
}
