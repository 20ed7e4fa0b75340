/* proxy/admin_eab.c: `eab add`, `eab list`, `eab revoke` (admin_int.h).
 *
 * Keys are minted, listed and revoked through proxy/eab.h. The HMAC key
 * is printed by `eab add` only, once; list views are built member by
 * member from the records and never carry it. */
#include "proxy/admin_int.h"

#include <string.h>

#include "common/crypto.h"
#include "common/id.h"
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

/* A policy list: an array of 1..ADMIN_MAX_LIST printable strings of
 * 1..ADMIN_MAX_CELL-1 bytes. */
static bool
list_ok(const cJSON *arr)
{
    const cJSON *it;
    int n = 0;

    if (!cJSON_IsArray(arr)) {
        return false;
    }
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
            strlen(it->valuestring) >= ADMIN_MAX_CELL ||
            !admin_printable(it->valuestring) || ++n > ADMIN_MAX_LIST) {
            return false;
        }
    }
    return n > 0;
}

enum admin_outcome
admin_op_eab_add(struct app *app, const struct admin_actor *who,
                 const struct admin_eab_spec *spec, char *kid, size_t kidlen,
                 char *hmac, size_t hmaclen, struct admin_result *res)
{
    const char *names[] = { "profiles", "allow_names", "preauthorized",
                            "allow_ips" };
    const cJSON *lists[] = { spec->profiles, spec->allow_names,
                             spec->preauthorized, spec->allow_ips };
    char errbuf[256];
    cJSON *policy = NULL;
    cJSON *fields = NULL;
    struct audit_note note;
    enum admin_outcome o;
    ap_err rc;

    res->outcome = ADMIN_R_OK;
    res->detail[0] = '\0';
    errbuf[0] = '\0';
    if (spec->label == NULL || spec->label[0] == '\0' ||
        strlen(spec->label) > ADMIN_MAX_LABEL ||
        !admin_printable(spec->label)) {
        return admin_res(res, ADMIN_R_INVALID, "the label must be 1 to %d "
                         "printable ASCII characters", ADMIN_MAX_LABEL);
    }
    if (spec->max_validity_days < 0 || spec->max_validity_days > 3650) {
        return admin_res(res, ADMIN_R_INVALID, "max_validity must be a "
                         "number of days from 1 to 3650");
    }
    policy = cJSON_CreateObject();
    if (policy == NULL) {
        o = admin_res_rc(res, AP_ENOMEM);
        goto out;
    }
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        cJSON *copy;

        if (lists[i] == NULL) {
            continue;
        }
        if (!list_ok(lists[i])) {
            o = admin_res(res, ADMIN_R_INVALID, "bad list %s: 1 to %d "
                          "non-empty printable strings", names[i],
                          ADMIN_MAX_LIST);
            goto out;
        }
        copy = cJSON_Duplicate(lists[i], 1);
        if (copy == NULL || !cJSON_AddItemToObject(policy, names[i], copy)) {
            cJSON_Delete(copy);
            o = admin_res_rc(res, AP_ENOMEM);
            goto out;
        }
    }
    if (spec->max_validity_days > 0) {
        cJSON_AddNumberToObject(policy, "max_validity_days",
                                (double)spec->max_validity_days);
    }
    if (spec->default_profile != NULL &&
        cJSON_AddStringToObject(policy, "default_profile",
                                spec->default_profile) == NULL) {
        o = admin_res_rc(res, AP_ENOMEM);
        goto out;
    }
    /* The event: the key's policy and label (eab_create adds its kid),
     * never the HMAC key; written with the key or not at all. */
    fields = admin_ops_fields(who, cJSON_Duplicate(policy, 1));
    if (fields == NULL ||
        cJSON_AddStringToObject(fields, "label", spec->label) == NULL) {
        o = admin_res_rc(res, AP_ENOMEM);
        goto out;
    }
    note.audit = app->audit;
    note.event = "eab.created";
    note.request_id = who->request;
    note.fields = fields;
    rc = eab_create(app->st, app->cfg, spec->label, policy, &note, kid,
                    kidlen, hmac, hmaclen, errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        crypto_zeroize(hmac, hmaclen);
        o = errbuf[0] != '\0'
                ? admin_res(res, rc == AP_EINVAL || rc == AP_ECONFIG
                                     ? ADMIN_R_INVALID
                                     : ADMIN_R_FAILED,
                            "%s", errbuf)
                : admin_res_rc(res, rc);
        goto out;
    }
    o = ADMIN_R_OK;
out:
    cJSON_Delete(policy);
    cJSON_Delete(fields);
    return o;
}

int
admin_cmd_eab_add(struct app *app, const struct admin_cmd *cmd, FILE *out,
                  FILE *err)
{
    static const struct admin_actor cli = { "admin", NULL, "admin" };
    const char *src[] = { cmd->profiles, cmd->allow_names, cmd->allow_ips,
                          cmd->preauthorized };
    cJSON *arr[4] = { NULL, NULL, NULL, NULL };
    struct admin_eab_spec spec;
    struct admin_result res;
    char kid[EAB_KID_LEN + 8];
    char hmac[EAB_HMAC_LEN + 8];
    int status = ADMIN_EXIT_FAIL;

    memset(hmac, 0, sizeof(hmac));
    memset(&spec, 0, sizeof(spec));
    for (size_t i = 0; i < 4; i++) {
        if (src[i] != NULL && admin_split_list(src[i], &arr[i]) != AP_OK) {
            status = admin_fail(err, "eab add: bad list %s", src[i]);
            goto out;
        }
    }
    spec.label = cmd->label;
    spec.profiles = arr[0];
    spec.allow_names = arr[1];
    spec.allow_ips = arr[2];
    spec.preauthorized = arr[3];
    spec.default_profile = cmd->default_profile;
    spec.max_validity_days = cmd->max_validity_days;
    if (admin_op_eab_add(app, &cli, &spec, kid, sizeof(kid), hmac,
                         sizeof(hmac), &res) != ADMIN_R_OK) {
        status = admin_fail_res(err, "eab add", &res);
        goto out;
    }
    status = print_new_key(cmd, kid, hmac, out, err);
out:
    crypto_zeroize(hmac, sizeof(hmac));
    for (size_t i = 0; i < 4; i++) {
        cJSON_Delete(arr[i]);
    }
    return status;
}

enum admin_outcome
admin_op_eab_list(struct app *app, cJSON **doc, struct admin_result *res)
{
    cJSON *keys = NULL;
    cJSON *arr = NULL;
    const cJSON *rec;
    enum admin_outcome o = ADMIN_R_OK;
    ap_err rc;

    *doc = NULL;
    res->outcome = ADMIN_R_OK;
    res->detail[0] = '\0';
    rc = eab_list(app->st, &keys);
    if (rc == AP_OK) {
        rc = admin_sort_by(keys, "created");
    }
    arr = rc == AP_OK ? cJSON_CreateArray() : NULL;
    if (rc == AP_OK && arr == NULL) {
        rc = AP_ENOMEM;
    }
    cJSON_ArrayForEach(rec, keys) {
        cJSON *v;

        if (rc != AP_OK) {
            break;
        }
        v = eab_view(rec);
        if (v == NULL || !cJSON_AddItemToArray(arr, v)) {
            cJSON_Delete(v);
            rc = AP_ENOMEM;
        }
    }
    if (rc != AP_OK) {
        o = admin_res_rc(res, rc);
        cJSON_Delete(arr);
        arr = NULL;
    }
    cJSON_Delete(keys);
    *doc = arr;
    return o;
}

int
admin_cmd_eab_list(struct app *app, const struct admin_cmd *cmd, FILE *out,
                   FILE *err)
{
    static const char *const hdr[] = { "KID", "LABEL", "STATUS", "CREATED",
                                       "ACCOUNTS", "POLICY" };
    struct admin_table *t = NULL;
    struct admin_result res;
    cJSON *doc = NULL;
    const cJSON *v;
    int status = ADMIN_EXIT_FAIL;

    if (admin_op_eab_list(app, &doc, &res) != ADMIN_R_OK) {
        return admin_fail_res(err, "eab list", &res);
    }
    t = admin_table_new(6, hdr);
    if (t == NULL) {
        status = admin_fail_rc(err, "eab list", AP_ENOMEM);
        goto out;
    }
    cJSON_ArrayForEach(v, doc) {
        char n[16];
        char pol[1024];
        const char *row[6];

        snprintf(n, sizeof(n), "%d",
                 cJSON_GetArraySize(cJSON_GetObjectItem(v, "accounts")));
        row[0] = json_str(v, "kid", "");
        row[1] = json_str(v, "label", "");
        row[2] = json_str(v, "status", "");
        row[3] = json_str(v, "created", "-");
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
    return status;
}

enum admin_outcome
admin_op_eab_revoke(struct app *app, const struct admin_actor *who,
                    const char *kid, cJSON **doc, struct admin_result *res)
{
    cJSON *keys = NULL;
    const cJSON *rec;
    const cJSON *found = NULL;
    cJSON *f = NULL;
    cJSON *d = NULL;
    enum admin_outcome o;
    ap_err rc;

    *doc = NULL;
    res->outcome = ADMIN_R_OK;
    res->detail[0] = '\0';
    if (kid == NULL || !id_is_valid(kid)) {
        return admin_res(res, ADMIN_R_INVALID, "not a valid EAB key id");
    }
    rc = eab_list(app->st, &keys);
    if (rc != AP_OK) {
        return admin_res_rc(res, rc);
    }
    cJSON_ArrayForEach(rec, keys) {
        if (strcmp(json_str(rec, "kid", ""), kid) == 0) {
            found = rec;
        }
    }
    if (found == NULL) {
        o = admin_res(res, ADMIN_R_NOTFOUND, "no EAB key %s", kid);
        goto out;
    }
    if (json_num(found, "revoked", 0) != 0) {
        o = admin_res(res, ADMIN_R_CONFLICT, "key %s is already revoked",
                      kid);
        goto out;
    }
    f = admin_ops_fields(who, cJSON_CreateObject());
    if (f == NULL || cJSON_AddStringToObject(f, "kid", kid) == NULL ||
        cJSON_AddStringToObject(f, "label", json_str(found, "label", "")) ==
            NULL) {
        o = admin_res_rc(res, AP_ENOMEM);
        goto out;
    }
    {
        struct audit_note note = { app->audit, "eab.revoked", who->request,
                                   f };

        rc = eab_revoke(app->st, kid, &note);
    }
    if (rc != AP_OK) {
        o = admin_res_rc(res, rc);
        goto out;
    }
    d = cJSON_CreateObject();
    if (d == NULL || cJSON_AddStringToObject(d, "kid", kid) == NULL ||
        cJSON_AddStringToObject(d, "label", json_str(found, "label", "")) ==
            NULL ||
        cJSON_AddStringToObject(d, "status", "revoked") == NULL ||
        cJSON_AddNumberToObject(
            d, "accounts",
            cJSON_GetArraySize(
                cJSON_GetObjectItemCaseSensitive(found, "accounts"))) ==
            NULL) {
        cJSON_Delete(d);
        d = NULL;
        o = admin_res(res, ADMIN_R_FAILED, "key %s revoked; building the "
                      "answer: %s", kid, ap_strerror(AP_ENOMEM));
        goto out;
    }
    *doc = d;
    o = ADMIN_R_OK;
out:
    cJSON_Delete(f);
    cJSON_Delete(keys);
    return o;
}

int
admin_cmd_eab_revoke(struct app *app, const struct admin_cmd *cmd, FILE *out,
                     FILE *err)
{
    static const struct admin_actor cli = { "admin", NULL, "admin" };
    struct admin_result res;
    cJSON *doc = NULL;

    if (admin_op_eab_revoke(app, &cli, cmd->arg, &doc, &res) != ADMIN_R_OK) {
        return admin_fail_res(err, "eab revoke", &res);
    }
    if (cmd->json) {
        return admin_print_json(out, err, doc);
    }
    fprintf(out, "revoked EAB key %s (team \"%s\"); its %lld account(s) "
                 "can no longer order\n",
            cmd->arg, json_str(doc, "label", ""),
            json_num(doc, "accounts", 0));
    cJSON_Delete(doc);
    return ADMIN_EXIT_OK;
}
