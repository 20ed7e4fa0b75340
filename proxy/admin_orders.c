/* proxy/admin_orders.c: `orders list` and `orders show` with the
 * order's authorizations and challenges (admin_int.h). Read only. */
#include "proxy/admin_int.h"

#include "common/json.h"
#include "common/store.h"
#include "common/timeutil.h"
#include "proxy/rec_authz.h"
#include "proxy/status.h"
#include "proxy/rec_order.h"

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
    admin_add_time(v, "created", json_num(order, "created", 0));
    admin_add_time(v, "expires", json_num(order, "expires", 0));
    admin_add_time(v, "notBefore", json_num(order, "notBefore", 0));
    admin_add_time(v, "notAfter", json_num(order, "notAfter", 0));
    cJSON_AddItemToObject(v, "identifiers",
                          admin_dup_array(order, "identifiers"));
    admin_add_str_or_null(v, "profile", json_str(order, "profile", NULL));
    admin_add_str_or_null(v, "cert", json_str(order, "cert", NULL));
    cJSON_AddItemToObject(v, "error", cJSON_IsObject(e)
                                          ? cJSON_Duplicate(e, 1)
                                          : cJSON_CreateNull());
    return v;
}

int
admin_cmd_orders_list(struct app *app, const struct admin_cmd *cmd, FILE *out,
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
        rc = admin_load_all(txn, STORE_ORDERS, NULL, false, &orders);
    } else if (rc == AP_OK) {
        snprintf(prefix, sizeof(prefix), "%s/", cmd->account);
        rc = store_get_json(txn, STORE_ACCOUNTS, cmd->account, &acct);
        if (rc == AP_OK) {
            rc = admin_load_all(txn, STORE_ACCOUNT_ORDERS, prefix, true, &ids);
        }
        if (rc == AP_OK) {
            orders = cJSON_CreateArray();
            rc = orders != NULL ? AP_OK : AP_ENOMEM;
        }
        cJSON_ArrayForEach(o, ids) {
            cJSON *order = NULL;

            if (rc == AP_OK &&
                rec_order_get_json(txn, o->valuestring, &order) ==
                AP_OK) {
                cJSON_AddItemToArray(orders, order);
            }
        }
    }
    store_abort(txn);
    if (rc == AP_OK) {
        rc = admin_sort_by(orders, "created");
    }
    if (rc == AP_ENOTFOUND) {
        status = admin_fail(err, "orders list: no account %s", cmd->account);
        goto out;
    }
    if (rc != AP_OK) {
        status = admin_fail_rc(err, "orders list", rc);
        goto out;
    }
    doc = cJSON_CreateArray();
    t = admin_table_new(6, hdr);
    if (doc == NULL || t == NULL) {
        status = admin_fail_rc(err, "orders list", AP_ENOMEM);
        goto out;
    }
    cJSON_ArrayForEach(o, orders) {
        cJSON *v = order_view(o, now);
        char created[TIME_RFC3339_LEN];
        char names[ADMIN_MAX_CELL];
        const char *row[6];

        if (v == NULL || !cJSON_AddItemToArray(doc, v)) {
            cJSON_Delete(v);
            status = admin_fail_rc(err, "orders list", AP_ENOMEM);
            goto out;
        }
        row[0] = json_str(v, "id", "");
        row[1] = json_str(v, "account", "");
        row[2] = json_str(v, "status", "");
        row[3] = admin_fmt_time(json_num(o, "created", 0), created,
                                sizeof(created));
        row[4] = json_str(v, "cert", "-");
        row[5] = admin_join(cJSON_GetObjectItemCaseSensitive(v, "identifiers"),
                            names, sizeof(names));
        if (admin_table_add(t, row) != AP_OK) {
            status = admin_fail_rc(err, "orders list", AP_ENOMEM);
            goto out;
        }
    }
    status = admin_emit_list(cmd, out, err, &doc, t);
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
        struct authz a;
        cJSON *v;
        cJSON *chs;

        /* through the codec: the stored form is compact (rec_authz.h) */
        if (!cJSON_IsString(aid) ||
            rec_authz_get(txn, aid->valuestring, &a) != AP_OK) {
            continue;
        }
        v = cJSON_CreateObject();
        if (v == NULL || !cJSON_AddItemToArray(arr, v)) {
            cJSON_Delete(v);
            rec_authz_fini(&a);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddStringToObject(v, "id", aid->valuestring);
        if (a.ident.value != NULL) {
            struct rec_writer w = { AP_OK };

            rec_put_ident(&w, v, "identifier", &a.ident);
        } else {
            cJSON_AddNullToObject(v, "identifier");
        }
        cJSON_AddStringToObject(v, "status",
                                authz_status_name(authz_status_at(&a, now)));
        admin_add_time(v, "expires", a.expires);
        chs = cJSON_AddArrayToObject(v, "challenges");
        for (size_t i = 0; chs != NULL && i < a.n_challs; i++) {
            const struct challenge *ch = rec_authz_chall(&a, i);
            cJSON *c;

            if (ch == NULL) {
                continue;
            }
            c = cJSON_CreateObject();
            if (c == NULL || !cJSON_AddItemToArray(chs, c)) {
                cJSON_Delete(c);
                continue;
            }
            cJSON_AddStringToObject(c, "type", ch->type);
            cJSON_AddStringToObject(c, "status",
                                    chall_status_name(ch->status));
            admin_add_time(c, "validated", ch->validated);
            admin_add_str_or_null(c, "address", ch->address);
        }
        rec_authz_fini(&a);
    }
    return arr;
}

int
admin_cmd_orders_show(struct app *app, const struct admin_cmd *cmd, FILE *out,
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
        rc = rec_order_get_json(txn, cmd->arg, &order);
    }
    if (rc == AP_OK) {
        authzs = authz_views(txn, order, now);
        rc = authzs != NULL ? AP_OK : AP_ENOMEM;
    }
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        status = admin_fail(err, "orders show: no order %s", cmd->arg);
        goto out;
    }
    v = rc == AP_OK ? order_view(order, now) : NULL;
    if (v == NULL) {
        status = admin_fail_rc(err, "orders show",
                               rc != AP_OK ? rc : AP_ENOMEM);
        goto out;
    }
    cJSON_AddItemToObject(v, "authorizations", authzs);
    authzs = NULL;
    if (cmd->json) {
        status = admin_print_json(out, err, v);
        v = NULL;
        goto out;
    }
    admin_kv(out, "id", json_str(v, "id", ""));
    admin_kv(out, "account", json_str(v, "account", ""));
    admin_kv(out, "status", json_str(v, "status", ""));
    admin_kv_time(out, "created", json_num(order, "created", 0));
    admin_kv_time(out, "expires", json_num(order, "expires", 0));
    admin_kv_time(out, "not before", json_num(order, "notBefore", 0));
    admin_kv_time(out, "not after", json_num(order, "notAfter", 0));
    admin_kv(out, "profile", json_str(v, "profile", "-"));
    admin_kv(out, "identifiers",
             admin_join(cJSON_GetObjectItemCaseSensitive(v, "identifiers"),
                        buf, sizeof(buf)));
    admin_kv(out, "certificate", json_str(v, "cert", "-"));
    e = cJSON_GetObjectItemCaseSensitive(v, "error");
    if (cJSON_IsObject(e)) {
        snprintf(buf, sizeof(buf), "%s: %s", json_str(e, "type", ""),
                 json_str(e, "detail", ""));
        admin_kv(out, "error", buf);
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
        admin_kv(out, "authorization", buf);
    }
    status = ADMIN_EXIT_OK;
out:
    cJSON_Delete(v);
    cJSON_Delete(authzs);
    cJSON_Delete(order);
    return status;
}
