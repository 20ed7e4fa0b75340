/* proxy/admin_reconcile.c: `reconcile` and `reconcile done`
 * (admin_int.h): the submissions that may have been issued twice at a PKI
 * that cannot be asked, for the PKI team to check, and marking one
 * checked. */
#include "proxy/admin_int.h"

#include <string.h>

#include "common/json.h"
#include "common/store.h"
#include "proxy/audit.h"
#include "proxy/rec_cert.h"
#include "proxy/rec_order.h"

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
    if (rec_order_get_json(l->txn, key, &order) == AP_OK &&
        json_str(order, "cert", NULL) != NULL &&
        rec_cert_get_json(l->txn, json_str(order, "cert", ""), &cert) ==
            AP_OK) {
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
int
admin_cmd_reconcile(struct app *app, const struct admin_cmd *cmd, FILE *out,
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
        status = admin_fail_rc(err, "reconcile", AP_ENOMEM);
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
        status = admin_fail_rc(err, "reconcile", rc);
        goto out;
    }
    if (!cmd->json) {
        fprintf(out, "%d possible duplicate(s): revoke at the PKI the "
                     "certificate for the same names and key, issued from "
                     "LOST AT on, that is not KEPT SERIAL; then run "
                     "`reconcile done ORDER`\n",
                cJSON_GetArraySize(l.doc));
    }
    status = admin_emit_list(cmd, out, err, &l.doc, l.t);
out:
    admin_table_free(l.t);
    cJSON_Delete(l.doc);
    return status;
}

/* `reconcile done ORDER`: the PKI team dealt with it. */
int
admin_cmd_reconcile_done(struct app *app, const struct admin_cmd *cmd,
                         FILE *out, FILE *err)
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
        return admin_fail(err,
                          "reconcile done: no possible duplicate for order %s",
                          cmd->arg);
    }
    if (rc != AP_OK) {
        return admin_fail_rc(err, "reconcile done", rc);
    }
    if (cmd->json) {
        doc = cJSON_CreateObject();
        if (doc != NULL) {
            cJSON_AddStringToObject(doc, "order", cmd->arg);
            cJSON_AddStringToObject(doc, "status", "resolved");
        }
        return admin_print_json(out, err, doc);
    }
    fprintf(out, "order %s: possible duplicate resolved\n", cmd->arg);
    return ADMIN_EXIT_OK;
}
