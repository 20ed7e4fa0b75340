/* proxy/admin_eab.c: `eab add`, `eab list`, `eab revoke` (admin_int.h).
 *
 * Keys are minted, listed and revoked through proxy/eab.h. The HMAC key
 * is printed by `eab add` only, once; list views are built member by
 * member from the records and never carry it. */
#include "proxy/admin_int.h"

#include <string.h>

#include "common/crypto.h"
#include "common/json.h"
#include "common/timeutil.h"
#include "proxy/audit.h"
#include "proxy/eab.h"

/* ---------------------------------------------------------------- EAB */

static cJSON *
eab_view(const cJSON *rec)
{
    cJSON *v = cJSON_CreateObject();
    long long revoked = json_num(rec, "revoked", 0);
    long long days = json_num(rec, "max_validity_days", 0);
    static const char *const lists[] = { "profiles", "allow_names",
                                         "allow_ips", "preauthorized" };

    if (v == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(v, "kid", json_str(rec, "kid", ""));
    cJSON_AddStringToObject(v, "label", json_str(rec, "label", ""));
    cJSON_AddStringToObject(v, "status", revoked ? "revoked" : "valid");
    admin_add_time(v, "created", json_num(rec, "created", 0));
    admin_add_time(v, "revoked", revoked);
    cJSON_AddItemToObject(v, "accounts", admin_dup_array(rec, "accounts"));
    if (json_str(rec, "default_profile", NULL) != NULL) {
        cJSON_AddStringToObject(v, "default_profile",
                                json_str(rec, "default_profile", ""));
    } else {
        cJSON_AddNullToObject(v, "default_profile");
    }
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
                                            { "profiles", "profiles" },
                                            { "preauthorized", "preauth" } };
    char part[ADMIN_MAX_CELL];
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(v, lists[i][0]);

        if (cJSON_IsArray(l)) {
            append_kv(buf, len, &used, lists[i][1],
                      admin_join(l, part, sizeof(part)));
        }
    }
    if (json_num(v, "max_validity_days", 0) > 0) {
        snprintf(part, sizeof(part), "%lldd",
                 json_num(v, "max_validity_days", 0));
        append_kv(buf, len, &used, "max", part);
    }
    if (json_str(v, "default_profile", NULL) != NULL) {
        append_kv(buf, len, &used, "default",
                  json_str(v, "default_profile", ""));
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
        status = admin_fail_rc(err, "eab add: building the output", AP_ENOMEM);
        goto out;
    }
    text = cJSON_Print(doc);
    if (text == NULL) {
        status = admin_fail_rc(err, "eab add: building the output", AP_ENOMEM);
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

int
admin_cmd_eab_add(struct app *app, const struct admin_cmd *cmd, FILE *out,
                  FILE *err)
{
    const char *lists[][2] = { { "profiles", cmd->profiles },
                               { "allow_names", cmd->allow_names },
                               { "preauthorized", cmd->preauthorized },
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
        status = admin_fail_rc(err, "eab add", rc);
        goto out;
    }
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        cJSON *arr = NULL;

        if (lists[i][1] == NULL) {
            continue;
        }
        rc = admin_split_list(lists[i][1], &arr);
        if (rc != AP_OK) {
            status = admin_fail(err, "eab add: bad list %s", lists[i][1]);
            goto out;
        }
        cJSON_AddItemToObject(policy, lists[i][0], arr);
    }
    if (cmd->max_validity_days > 0) {
        cJSON_AddNumberToObject(policy, "max_validity_days",
                                (double)cmd->max_validity_days);
    }
    if (cmd->default_profile != NULL &&
        cJSON_AddStringToObject(policy, "default_profile",
                                cmd->default_profile) == NULL) {
        status = admin_fail_rc(err, "eab add", AP_ENOMEM);
        goto out;
    }
    /* The event: the key's policy and label (eab_create adds its kid),
     * never the HMAC key; written with the key or not at all. */
    fields = admin_fields(cJSON_Duplicate(policy, 1));
    if (fields == NULL ||
        cJSON_AddStringToObject(fields, "label", cmd->label) == NULL) {
        status = admin_fail_rc(err, "eab add", AP_ENOMEM);
        goto out;
    }
    note.audit = app->audit;
    note.event = "eab.created";
    note.request_id = "admin";
    note.fields = fields;
    rc = eab_create(app->st, app->cfg, cmd->label, policy, &note, kid,
                    sizeof(kid), hmac, sizeof(hmac), errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        status = errbuf[0] != '\0' ? admin_fail(err, "eab add: %s", errbuf)
                                   : admin_fail_rc(err, "eab add", rc);
        goto out;
    }
    status = print_new_key(cmd, kid, hmac, out, err);
out:
    crypto_zeroize(hmac, sizeof(hmac));
    cJSON_Delete(policy);
    cJSON_Delete(fields);
    return status;
}

int
admin_cmd_eab_list(struct app *app, const struct admin_cmd *cmd, FILE *out,
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
        return admin_fail_rc(err, "eab list", rc);
    }
    rc = admin_sort_by(keys, "created");
    doc = cJSON_CreateArray();
    t = admin_table_new(6, hdr);
    if (rc != AP_OK || doc == NULL || t == NULL) {
        status = admin_fail_rc(err, "eab list", AP_ENOMEM);
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
            status = admin_fail_rc(err, "eab list", AP_ENOMEM);
            goto out;
        }
        snprintf(n, sizeof(n), "%d",
                 cJSON_GetArraySize(cJSON_GetObjectItem(v, "accounts")));
        row[0] = json_str(v, "kid", "");
        row[1] = json_str(v, "label", "");
        row[2] = json_str(v, "status", "");
        row[3] = admin_fmt_time(json_num(rec, "created", 0), created,
                                sizeof(created));
        row[4] = n;
        row[5] = policy_summary(v, pol, sizeof(pol));
        if (admin_table_add(t, row) != AP_OK) {
            status = admin_fail_rc(err, "eab list", AP_ENOMEM);
            goto out;
        }
    }
    status = admin_emit_list(cmd, out, err, &doc, t);
out:
    admin_table_free(t);
    cJSON_Delete(doc);
    cJSON_Delete(keys);
    return status;
}

int
admin_cmd_eab_revoke(struct app *app, const struct admin_cmd *cmd, FILE *out,
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
        return admin_fail_rc(err, "eab revoke", rc);
    }
    cJSON_ArrayForEach(rec, keys) {
        if (strcmp(json_str(rec, "kid", ""), cmd->arg) == 0) {
            found = rec;
        }
    }
    if (found == NULL) {
        status = admin_fail(err, "eab revoke: no EAB key %s", cmd->arg);
    } else if (json_num(found, "revoked", 0) != 0) {
        status = admin_fail(err, "eab revoke: key %s is already revoked",
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
        status = rc == AP_OK ? ADMIN_EXIT_OK
                             : admin_fail_rc(err, "eab revoke", rc);
    }
    if (status == ADMIN_EXIT_OK && cmd->json) {
        doc = cJSON_CreateObject();
        if (doc != NULL) {
            cJSON_AddStringToObject(doc, "kid", cmd->arg);
            cJSON_AddStringToObject(doc, "label",
                                    json_str(found, "label", ""));
            cJSON_AddStringToObject(doc, "status", "revoked");
        }
        status = admin_print_json(out, err, doc);
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
