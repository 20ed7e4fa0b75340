/* proxy/admin_accounts.c: `accounts list`, `accounts show`, `accounts
 * deactivate` (admin_int.h). Deactivation does what an account's own
 * deactivation request does (pending authorizations deactivated, pending
 * orders cancelled) in one write transaction with its audit event. */
#include "proxy/admin_int.h"

#include <string.h>

#include "common/json.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/audit.h"
#include "proxy/eab.h"
#include "proxy/rec_account.h"
#include "proxy/status.h"
#include "proxy/rec_order.h"

/* ---------------------------------------------------------------- accounts */

const char *
admin_account_team(const cJSON *acct, const cJSON *eabs, const char **kid)
{
    const cJSON *key = admin_eab_of_account(eabs, json_str(acct, "id", ""));

    if (kid != NULL) {
        *kid = json_str(acct, "eab", json_str(key, "kid", NULL));
    }
    return json_str(acct, "team", json_str(key, "label", ""));
}

static cJSON *
account_view(const cJSON *acct, const cJSON *eabs)
{
    cJSON *v = cJSON_CreateObject();
    const char *kid = NULL;
    const char *team = admin_account_team(acct, eabs, &kid);

    if (v == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(v, "id", json_str(acct, "id", ""));
    cJSON_AddStringToObject(v, "status", json_str(acct, "status", ""));
    admin_add_time(v, "created", json_num(acct, "created", 0));
    cJSON_AddItemToObject(v, "contact", admin_dup_array(acct, "contact"));
    cJSON_AddStringToObject(v, "thumbprint", json_str(acct, "thumbprint",
                                                       ""));
    admin_add_str_or_null(v, "ip", json_str(acct, "ip", NULL));
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

/* The team of an account view: its EAB key's label, NULL when none. */
static const char *
view_team(const cJSON *v)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(v, "eab");

    return cJSON_IsObject(e) ? json_str(e, "label", NULL) : NULL;
}

enum admin_outcome
admin_op_accounts_list(struct app *app, const struct admin_filter *f,
                       cJSON **doc, struct admin_result *res)
{
    struct store_txn *txn = NULL;
    cJSON *eabs = NULL;
    cJSON *accts = NULL;
    cJSON *arr = NULL;
    const cJSON *a;
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
        rc = admin_load_all(txn, STORE_ACCOUNTS, NULL, false, &accts);
    }
    store_abort(txn);
    if (rc == AP_OK) {
        rc = admin_sort_by(accts, "created");
    }
    if (rc == AP_OK && (arr = cJSON_CreateArray()) == NULL) {
        rc = AP_ENOMEM;
    }
    cJSON_ArrayForEach(a, accts) {
        cJSON *v;
        const char *team;

        if (rc != AP_OK) {
            break;
        }
        v = account_view(a, eabs);
        if (v == NULL) {
            rc = AP_ENOMEM;
            break;
        }
        team = view_team(v);
        if (f != NULL && f->team != NULL &&
            (team == NULL || strcmp(team, f->team) != 0)) {
            cJSON_Delete(v);
            continue;
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
    cJSON_Delete(accts);
    cJSON_Delete(eabs);
    *doc = arr;
    return o;
}

int
admin_cmd_accounts_list(struct app *app, const struct admin_cmd *cmd,
                        FILE *out, FILE *err)
{
    static const char *const hdr[] = { "ID", "STATUS", "CREATED", "EAB",
                                       "CONTACT" };
    struct admin_filter f = { cmd->team, 0, false };
    struct admin_result res;
    struct admin_table *t = NULL;
    cJSON *doc = NULL;
    const cJSON *v;
    int status = ADMIN_EXIT_FAIL;

    if (admin_op_accounts_list(app, &f, &doc, &res) != ADMIN_R_OK) {
        return admin_fail_res(err, "accounts list", &res);
    }
    t = admin_table_new(5, hdr);
    if (t == NULL) {
        status = admin_fail_rc(err, "accounts list", AP_ENOMEM);
        goto out;
    }
    cJSON_ArrayForEach(v, doc) {
        const cJSON *e;
        char contact[ADMIN_MAX_CELL];
        char eab[ADMIN_MAX_CELL];
        const char *row[5];

        e = cJSON_GetObjectItemCaseSensitive(v, "eab");
        snprintf(eab, sizeof(eab), "%s", "-");
        if (cJSON_IsObject(e)) {
            snprintf(eab, sizeof(eab), "%s (%s)", json_str(e, "label", ""),
                     json_str(e, "kid", ""));
        }
        row[0] = json_str(v, "id", "");
        row[1] = json_str(v, "status", "");
        row[2] = json_str(v, "created", "-");
        row[3] = eab;
        row[4] = admin_join(cJSON_GetObjectItemCaseSensitive(v, "contact"),
                            contact, sizeof(contact));
        if (admin_table_add(t, row) != AP_OK) {
            status = admin_fail_rc(err, "accounts list", AP_ENOMEM);
            goto out;
        }
    }
    status = admin_emit_list(cmd, out, err, &doc, t);
out:
    admin_table_free(t);
    cJSON_Delete(doc);
    return status;
}

int
admin_cmd_accounts_show(struct app *app, const struct admin_cmd *cmd,
                        FILE *out, FILE *err)
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
        rc = admin_load_all(txn, STORE_ACCOUNT_ORDERS, prefix, true, &orders);
    }
    /* Its certificates: the "cert" of its orders. */
    cJSON_ArrayForEach(oid, orders) {
        cJSON *order = NULL;

        if (rc != AP_OK) {
            break;
        }
        if (rec_order_get_json(txn, oid->valuestring, &order) ==
                AP_OK &&
            json_str(order, "cert", NULL) != NULL) {
            cJSON_AddItemToArray(certs, cJSON_CreateString(
                                            json_str(order, "cert", "")));
        }
        cJSON_Delete(order);
    }
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        status = admin_fail(err, "accounts show: no account %s", cmd->arg);
        goto out;
    }
    if (rc != AP_OK) {
        status = admin_fail_rc(err, "accounts show", rc);
        goto out;
    }
    v = account_view(acct, eabs);
    if (v == NULL) {
        status = admin_fail_rc(err, "accounts show", AP_ENOMEM);
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
        status = admin_print_json(out, err, v);
        v = NULL;
        goto out;
    }
    admin_kv(out, "id", json_str(v, "id", ""));
    admin_kv(out, "status", json_str(v, "status", ""));
    admin_kv_time(out, "created", json_num(acct, "created", 0));
    admin_kv(out, "contact",
             admin_join(cJSON_GetObjectItemCaseSensitive(v, "contact"), buf,
                        sizeof(buf)));
    admin_kv(out, "key",
             key_summary(cJSON_GetObjectItemCaseSensitive(acct, "jwk"), buf,
                         sizeof(buf)));
    admin_kv(out, "thumbprint", json_str(v, "thumbprint", ""));
    admin_kv(out, "source ip", json_str(v, "ip", "-"));
    e = cJSON_GetObjectItemCaseSensitive(v, "eab");
    if (cJSON_IsObject(e)) {
        snprintf(buf, sizeof(buf), "%s (%s)", json_str(e, "kid", ""),
                 json_str(e, "label", ""));
        admin_kv(out, "eab", buf);
    } else {
        admin_kv(out, "eab", "-");
    }
    admin_kv(out, "tos agreed",
             cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                 v, "termsOfServiceAgreed"))
                 ? "yes"
                 : "no");
    admin_kv(out, "orders",
             admin_join(cJSON_GetObjectItemCaseSensitive(v, "orders"), buf,
                        sizeof(buf)));
    admin_kv(out, "certificates",
             admin_join(cJSON_GetObjectItemCaseSensitive(v, "certificates"),
                        buf, sizeof(buf)));
    status = ADMIN_EXIT_OK;
out:
    cJSON_Delete(v);
    cJSON_Delete(certs);
    cJSON_Delete(orders);
    cJSON_Delete(acct);
    cJSON_Delete(eabs);
    return status;
}

int
admin_cmd_accounts_deactivate(struct app *app, const struct admin_cmd *cmd,
                              FILE *out, FILE *err)
{
    struct store_txn *txn = NULL;
    struct account acct;
    cJSON *doc;
    char was[32] = "";
    int status = ADMIN_EXIT_FAIL;
    ap_err rc;

    memset(&acct, 0, sizeof(acct));
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = rec_account_get(txn, cmd->arg, &acct);
    }
    if (rc == AP_OK) {
        snprintf(was, sizeof(was), "%s", account_status_name(acct.status));
    }
    if (rc == AP_OK && acct.status == ACCOUNT_VALID) {
        /* RFC 8555 §7.3.6: the server refuses the account's requests from
         * now on (jws_verify checks the status). */
        acct.status = ACCOUNT_DEACTIVATED;
        rc = rec_account_put(txn, cmd->arg, &acct, false);
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
        status = admin_fail(err, "accounts deactivate: no account %s",
                            cmd->arg);
    } else if (rc != AP_OK) {
        status = admin_fail_rc(err, "accounts deactivate", rc);
    } else if (strcmp(was, "valid") != 0) {
        status = admin_fail(err,
                            "accounts deactivate: account %s is already %s",
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
        status = admin_print_json(out, err, doc);
    } else if (status == ADMIN_EXIT_OK) {
        fprintf(out, "deactivated account %s\n", cmd->arg);
    }
    rec_account_fini(&acct);
    return status;
}
