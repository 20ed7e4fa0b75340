/* proxy/admin_certs.c: `certs list`, `certs show` and `revoke`
 * (admin_int.h). Revocation calls the adapter, then marks the record as
 * revokeCert does (cert_mark_revoked) with its audit event. */
#include "proxy/admin_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/id.h"
#include "common/json.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/audit.h"
#include "proxy/cert.h"

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
    admin_add_time(v, "issued", json_num(cert, "issued", 0));
    admin_add_time(v, "notAfter", json_num(cert, "notAfter", 0));
    cJSON_AddStringToObject(v, "account", json_str(cert, "account", ""));
    cJSON_AddStringToObject(v, "order", json_str(cert, "order", ""));
    cJSON_AddItemToObject(v, "identifiers",
                          admin_dup_array(order, "identifiers"));
    cJSON_AddStringToObject(v, "adapter", json_str(cert, "adapter", ""));
    admin_add_time(v, "revokedAt",
                   revoked ? json_num(cert, "revokedAt", 0) : 0);
    if (revoked) {
        cJSON_AddNumberToObject(v, "reason",
                                (double)json_num(cert, "reason", 0));
    } else {
        cJSON_AddNullToObject(v, "reason");
    }
    admin_add_str_or_null(v, "replacedBy", json_str(cert, "replacedBy", NULL));
    return v;
}

int
admin_cmd_certs_list(struct app *app, const struct admin_cmd *cmd, FILE *out,
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
        rc = admin_load_all(txn, STORE_CERTS, NULL, false, &certs);
    }
    if (rc == AP_OK) {
        rc = admin_sort_by(certs, "notAfter");
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
        row[3] = admin_fmt_time(json_num(c, "notAfter", 0), na, sizeof(na));
        row[4] = json_str(v, "account", "");
        row[5] = admin_join(cJSON_GetObjectItemCaseSensitive(v, "identifiers"),
                            names, sizeof(names));
        rc = admin_table_add(t, row);
    }
    store_abort(txn);
    if (rc != AP_OK) {
        status = admin_fail_rc(err, "certs list", rc);
    } else if (cmd->json) {
        status = admin_print_json(out, err, doc);
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

int
admin_cmd_certs_show(struct app *app, const struct admin_cmd *cmd, FILE *out,
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
        status = admin_fail(err,
                            "certs show: no certificate with id or serial %s",
                            cmd->arg);
        goto out;
    }
    v = rc == AP_OK ? cert_view(cert, order, now) : NULL;
    if (v == NULL) {
        status = admin_fail_rc(err, "certs show",
                               rc != AP_OK ? rc : AP_ENOMEM);
        goto out;
    }
    cJSON_AddStringToObject(v, "pem", json_str(cert, "pem", ""));
    if (cmd->json) {
        status = admin_print_json(out, err, v);
        v = NULL;
        goto out;
    }
    admin_kv(out, "id", json_str(v, "id", ""));
    admin_kv(out, "serial", json_str(v, "serial", ""));
    admin_kv(out, "status", json_str(v, "status", ""));
    admin_kv_time(out, "issued", json_num(cert, "issued", 0));
    admin_kv_time(out, "not after", json_num(cert, "notAfter", 0));
    admin_kv(out, "account", json_str(v, "account", ""));
    admin_kv(out, "order", json_str(v, "order", ""));
    admin_kv(out, "identifiers",
             admin_join(cJSON_GetObjectItemCaseSensitive(v, "identifiers"),
                        buf, sizeof(buf)));
    admin_kv(out, "adapter", json_str(v, "adapter", ""));
    if (strcmp(json_str(v, "status", ""), "revoked") == 0) {
        admin_kv_time(out, "revoked", json_num(cert, "revokedAt", 0));
        snprintf(buf, sizeof(buf), "%lld (%s)", json_num(cert, "reason", 0),
                 admin_reason_name((int)json_num(cert, "reason", 0)));
        admin_kv(out, "reason", buf);
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

int
admin_cmd_revoke(struct app *app, const struct admin_cmd *cmd, FILE *out,
                 FILE *err)
{
    char serial[ADMIN_MAX_SERIAL + 1];
    char errbuf[256];
    struct app pki_view;
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
        status = admin_fail(err, "revoke: no certificate with serial %s",
                            serial);
        goto out;
    }
    if (rc != AP_OK) {
        status = admin_fail_rc(err, "revoke", rc);
        goto out;
    }
    if (strcmp(json_str(cert, "status", ""), "revoked") == 0) {
        status = admin_fail(err, "revoke: certificate %s is already revoked",
                            serial);
        goto out;
    }
    /* At the adapter that issued it (docs/adapters.md "Named adapters"). */
    if (!app_pki_view(app, json_str(cert, "adapterName", ""), &pki_view)) {
        status = admin_fail(err, "revoke: the adapter %s that issued %s is "
                            "no longer configured",
                            json_str(cert, "adapterName", ""), serial);
        goto out;
    }
    app = &pki_view;
    /* The PKI first: the record says revoked only once it is. */
    errbuf[0] = '\0';
    rc = app->adapter->revoke(app->adapter_state, json_str(cert, "pem", ""),
                              cmd->reason, errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        status = admin_fail(err,
                            "revoke: the PKI (adapter %s) did not revoke %s: "
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
        cJSON_AddStringToObject(doc, "adapterName", app_adapter_name(app));
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
        status = admin_fail(err, "revoke: the PKI revoked %s but recording it "
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
        status = admin_print_json(out, err, doc);
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
