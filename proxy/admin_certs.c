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
#include "common/x509.h"
#include "proxy/audit.h"
#include "proxy/cert.h"
#include "proxy/eab.h"
#include "proxy/rec_cert.h"
#include "proxy/renewal.h"
#include "proxy/rec_order.h"

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

/* The identifiers of an order as one comparable string: "type:value"
 * entries sorted, joined by commas, into buf ("" when none). */
static void
ident_key(const cJSON *order, char *buf, size_t len)
{
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(order, "identifiers");
    const char *parts[ADMIN_MAX_LIST];
    const cJSON *it;
    size_t n = 0;
    size_t used = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(it, ids) {
        if (n < ADMIN_MAX_LIST) {
            parts[n++] = json_str(it, "value", "");
        }
    }
    /* Insertion sort: a handful of names. */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(parts[j - 1], parts[j]) > 0; j--) {
            const char *t = parts[j];

            parts[j] = parts[j - 1];
            parts[j - 1] = t;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                         parts[i]);

        if (k < 0 || (size_t)k >= len - used) {
            break;
        }
        used += (size_t)k;
    }
}

/* The renewal window of a certificate record (proxy/renewal.h), from its
 * leaf. false when the PEM does not parse. */
static bool
cert_window(const cJSON *cert, long long now, long long *start,
            long long *end)
{
    unsigned char *der = NULL;
    size_t len = 0;
    struct x509_cert *leaf = NULL;
    bool ok = false;

    if (rec_cert_leaf_der(cert, &der, &len) == AP_OK &&
        x509_cert_parse(der, len, &leaf) == AP_OK) {
        renewal_window(leaf, false, now, start, end);
        ok = true;
    }
    x509_cert_free(leaf);
    free(der);
    return ok;
}

/* One certificate of a listing with what the filters look at. */
struct cert_row {
    const cJSON *rec;
    cJSON *order;               /* owned; NULL when gone */
    const char *team;
    char ident[ADMIN_MAX_CELL];
};

enum admin_outcome
admin_op_certs_list(struct app *app, const struct admin_filter *f,
                    cJSON **doc, struct admin_result *res)
{
    struct store_txn *txn = NULL;
    struct cert_row *rows = NULL;
    cJSON *certs = NULL;
    cJSON *eabs = NULL;
    cJSON *accts = NULL;
    cJSON *arr = NULL;
    const cJSON *c;
    long long now = time_now();
    size_t n = 0;
    int count;
    enum admin_outcome o = ADMIN_R_OK;
    ap_err rc;

    *doc = NULL;
    res->outcome = ADMIN_R_OK;
    res->detail[0] = '\0';
    rc = eab_list(app->st, &eabs);
    if (rc == AP_OK) {
        rc = store_begin(app->st, false, &txn);
    }
    if (rc == AP_OK) {
        rc = admin_load_all(txn, STORE_CERTS, NULL, false, &certs);
    }
    if (rc == AP_OK) {
        rc = admin_load_all(txn, STORE_ACCOUNTS, NULL, false, &accts);
    }
    if (rc == AP_OK) {
        rc = admin_sort_by(certs, "notAfter");
    }
    count = rc == AP_OK ? cJSON_GetArraySize(certs) : 0;
    if (rc == AP_OK && count > 0 &&
        (rows = calloc((size_t)count, sizeof(*rows))) == NULL) {
        rc = AP_ENOMEM;
    }
    cJSON_ArrayForEach(c, certs) {
        struct cert_row *r;
        const cJSON *acct = NULL;
        const cJSON *a;

        if (rc != AP_OK || n >= (size_t)count) {
            break;
        }
        r = &rows[n++];
        r->rec = c;
        if (rec_order_get_json(txn, json_str(c, "order", ""),
                           &r->order) != AP_OK) {
            r->order = NULL;
        }
        ident_key(r->order, r->ident, sizeof(r->ident));
        cJSON_ArrayForEach(a, accts) {
            if (strcmp(json_str(a, "id", ""), json_str(c, "account", "")) ==
                0) {
                acct = a;
            }
        }
        r->team = acct != NULL ? admin_account_team(acct, eabs, NULL) : "";
    }
    store_abort(txn);
    if (rc == AP_OK && (arr = cJSON_CreateArray()) == NULL) {
        rc = AP_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == AP_OK; i++) {
        const struct cert_row *r = &rows[i];
        bool valid = strcmp(cert_status(r->rec, now), "valid") == 0;
        bool windowed = false;
        long long start = 0;
        long long end = 0;
        cJSON *v;

        if (f != NULL && f->team != NULL && strcmp(r->team, f->team) != 0) {
            continue;
        }
        /* Expiring: still valid, and ending by then. */
        if (f != NULL && f->expiring_before > 0 &&
            (!valid || json_num(r->rec, "notAfter", 0) > f->expiring_before)) {
            continue;
        }
        if (valid) {
            windowed = cert_window(r->rec, now, &start, &end);
        }
        if (f != NULL && f->overdue) {
            bool renewed = false;

            if (!valid || !windowed || end > now) {
                continue;
            }
            /* Renewed: a later valid certificate for the same names. */
            for (size_t k = 0; k < n && !renewed; k++) {
                renewed = k != i && r->ident[0] != '\0' &&
                          strcmp(rows[k].ident, r->ident) == 0 &&
                          json_num(rows[k].rec, "issued", 0) >
                              json_num(r->rec, "issued", 0) &&
                          strcmp(cert_status(rows[k].rec, now), "valid") == 0;
            }
            if (renewed) {
                continue;
            }
        }
        v = cert_view(r->rec, r->order, now);
        if (v == NULL) {
            rc = AP_ENOMEM;
            break;
        }
        cJSON_AddStringToObject(v, "team", r->team);
        if (windowed) {
            cJSON *w = cJSON_AddObjectToObject(v, "renewalWindow");

            if (w != NULL) {
                admin_add_time(w, "start", start);
                admin_add_time(w, "end", end);
            }
        } else {
            cJSON_AddNullToObject(v, "renewalWindow");
        }
        if (!cJSON_AddItemToArray(arr, v)) {
            cJSON_Delete(v);
            rc = AP_ENOMEM;
        }
    }
    if (rc != AP_OK) {
        o = admin_res_rc(res, rc);
        cJSON_Delete(arr);
        arr = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON_Delete(rows[i].order);
    }
    free(rows);
    cJSON_Delete(accts);
    cJSON_Delete(certs);
    cJSON_Delete(eabs);
    *doc = arr;
    return o;
}

int
admin_cmd_certs_list(struct app *app, const struct admin_cmd *cmd, FILE *out,
                     FILE *err)
{
    static const char *const hdr[] = { "ID", "SERIAL", "STATUS", "NOT AFTER",
                                       "ACCOUNT", "IDENTIFIERS" };
    struct admin_filter f = { cmd->team, 0, cmd->overdue };
    struct admin_result res;
    struct admin_table *t = NULL;
    cJSON *doc = NULL;
    const cJSON *v;
    int status = ADMIN_EXIT_FAIL;

    if (cmd->expiring_days >= 0) {
        f.expiring_before = time_now() + cmd->expiring_days * 86400;
    }
    if (admin_op_certs_list(app, &f, &doc, &res) != ADMIN_R_OK) {
        return admin_fail_res(err, "certs list", &res);
    }
    t = admin_table_new(6, hdr);
    if (t == NULL) {
        status = admin_fail_rc(err, "certs list", AP_ENOMEM);
        goto out;
    }
    cJSON_ArrayForEach(v, doc) {
        char names[ADMIN_MAX_CELL];
        const char *row[6];

        row[0] = json_str(v, "id", "");
        row[1] = json_str(v, "serial", "");
        row[2] = json_str(v, "status", "");
        row[3] = json_str(v, "notAfter", "-");
        row[4] = json_str(v, "account", "");
        row[5] = admin_join(cJSON_GetObjectItemCaseSensitive(v, "identifiers"),
                            names, sizeof(names));
        if (admin_table_add(t, row) != AP_OK) {
            status = admin_fail_rc(err, "certs list", AP_ENOMEM);
            goto out;
        }
    }
    status = admin_emit_list(cmd, out, err, &doc, t);
out:
    admin_table_free(t);
    cJSON_Delete(doc);
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
        rc = rec_cert_get_json(txn, key, cert);
    }
    if (rc == AP_ENOTFOUND &&
        admin_serial_normalize(key, serial, sizeof(serial)) == AP_OK) {
        rc = store_get(txn, STORE_SERIALS, serial, &id, NULL);
        if (rc == AP_OK) {
            rc = rec_cert_get_json(txn, id, cert);
        }
    }
    if (rc == AP_OK) {
        /* pem as served: leaf then the shared chain (rec_cert.h). */
        rc = rec_cert_expand(txn, json_str(*cert, "id", key), *cert);
        if (rc != AP_OK) {
            cJSON_Delete(*cert);
            *cert = NULL;
        }
    }
    if (rc == AP_OK) {
        /* The order gives the names; a certificate shows without it. */
        if (rec_order_get_json(txn, json_str(*cert, "order", ""),
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

enum admin_outcome
admin_op_revoke(struct app *app, const struct admin_actor *who,
                const char *serial_in, int reason, cJSON **doc,
                struct admin_result *res)
{
    char serial[ADMIN_MAX_SERIAL + 1];
    char errbuf[256];
    struct app pki_view;
    cJSON *cert = NULL;
    cJSON *order = NULL;
    cJSON *fields = NULL;
    cJSON *d = NULL;
    enum admin_outcome o;
    ap_err rc;

    *doc = NULL;
    res->outcome = ADMIN_R_OK;
    res->detail[0] = '\0';
    if (serial_in == NULL ||
        admin_serial_normalize(serial_in, serial, sizeof(serial)) != AP_OK) {
        return admin_res(res, ADMIN_R_INVALID, "not a serial number (1 to "
                         "%d hex digits)", ADMIN_MAX_SERIAL);
    }
    if (reason < 0 || admin_reason_name(reason)[0] == '?') {
        return admin_res(res, ADMIN_R_INVALID, "not an RFC 5280 reason: "
                         "0-10 but 7, or its name");
    }
    rc = cert_find(app->st, serial, &cert, &order);
    /* cert_find also takes an id; revoke names serials only. */
    if (rc == AP_OK && strcmp(json_str(cert, "serial", ""), serial) != 0) {
        rc = AP_ENOTFOUND;
    }
    if (rc == AP_ENOTFOUND) {
        o = admin_res(res, ADMIN_R_NOTFOUND, "no certificate with serial %s",
                      serial);
        goto out;
    }
    if (rc != AP_OK) {
        o = admin_res_rc(res, rc);
        goto out;
    }
    if (strcmp(json_str(cert, "status", ""), "revoked") == 0) {
        o = admin_res(res, ADMIN_R_CONFLICT,
                      "certificate %s is already revoked", serial);
        goto out;
    }
    /* At the adapter that issued it (docs/adapters.md "Named adapters"). */
    if (!app_pki_view(app, json_str(cert, "adapterName", ""), &pki_view)) {
        o = admin_res(res, ADMIN_R_FAILED, "the adapter %s that issued %s is "
                      "no longer configured",
                      json_str(cert, "adapterName", ""), serial);
        goto out;
    }
    app = &pki_view;
    if (app->adapter == NULL || app->adapter->revoke == NULL) {
        o = admin_res(res, ADMIN_R_PKI, "no adapter to revoke through");
        goto out;
    }
    /* The PKI first: the record says revoked only once it is. */
    errbuf[0] = '\0';
    rc = app->adapter->revoke(app->adapter_state, json_str(cert, "pem", ""),
                              reason, errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        o = admin_res(res, ADMIN_R_PKI,
                      "the PKI (adapter %s) did not revoke %s: %s",
                      app->adapter->name, serial,
                      errbuf[0] ? errbuf : ap_strerror(rc));
        goto out;
    }
    fields = cJSON_CreateObject();
    if (fields != NULL) {
        cJSON_AddStringToObject(fields, "serial", serial);
        cJSON_AddNumberToObject(fields, "reason", reason);
        cJSON_AddStringToObject(fields, "adapter", app->adapter->name);
        cJSON_AddStringToObject(fields, "adapterName", app_adapter_name(app));
        cJSON_AddStringToObject(fields, "pki", "revoked");
    }
    fields = admin_ops_fields(who, fields);
    {
        struct audit_note note = { app->audit, "cert.revoked", who->request,
                                   fields };

        rc = fields != NULL ? cert_mark_revoked(app, serial, reason, &note)
                            : AP_ENOMEM;
    }
    if (rc != AP_OK) {
        o = admin_res(res, ADMIN_R_FAILED, "the PKI revoked %s but recording "
                      "it failed: %s (run the command again)", serial,
                      ap_strerror(rc));
        goto out;
    }
    d = cJSON_CreateObject();
    if (d == NULL || cJSON_AddStringToObject(d, "serial", serial) == NULL ||
        cJSON_AddStringToObject(d, "id", json_str(cert, "id", "")) == NULL ||
        cJSON_AddStringToObject(d, "status", "revoked") == NULL ||
        cJSON_AddNumberToObject(d, "reason", reason) == NULL ||
        cJSON_AddStringToObject(d, "adapter", app->adapter->name) == NULL) {
        cJSON_Delete(d);
        d = NULL;
        o = admin_res(res, ADMIN_R_FAILED, "revoked %s; building the answer: "
                      "%s", serial, ap_strerror(AP_ENOMEM));
        goto out;
    }
    *doc = d;
    o = ADMIN_R_OK;
out:
    cJSON_Delete(fields);
    cJSON_Delete(order);
    cJSON_Delete(cert);
    return o;
}

int
admin_cmd_revoke(struct app *app, const struct admin_cmd *cmd, FILE *out,
                 FILE *err)
{
    static const struct admin_actor cli = { "admin", NULL, "admin" };
    struct admin_result res;
    cJSON *doc = NULL;

    if (admin_op_revoke(app, &cli, cmd->arg, cmd->reason, &doc, &res) !=
        ADMIN_R_OK) {
        return admin_fail_res(err, "revoke", &res);
    }
    if (cmd->json) {
        return admin_print_json(out, err, doc);
    }
    fprintf(out, "revoked certificate %s (reason %d %s) through adapter %s\n",
            json_str(doc, "serial", ""), cmd->reason,
            admin_reason_name(cmd->reason), json_str(doc, "adapter", ""));
    cJSON_Delete(doc);
    return ADMIN_EXIT_OK;
}
