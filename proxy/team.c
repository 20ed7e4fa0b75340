/* proxy/team.c: teams by network and their policy records. */
#include "proxy/team.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/netpolicy.h"
#include "common/store.h"
#include "proxy/app.h"
#include "proxy/audit.h"
#include "proxy/eab.h"
#include "proxy/rec.h"
#include "proxy/rec_account.h"

const struct config_team *
team_for_address(const struct config *cfg, const char *addr)
{
    struct netpolicy_cidr nets[NETPOLICY_MAX_CIDRS];
    char why[160];
    size_t n = 0;

    if (addr == NULL || addr[0] == '\0') {
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_teams; i++) {
        const struct config_team *t = &cfg->teams[i];

        /* Checked at load; a list that no longer parses matches nothing. */
        if (t->networks[0] == '\0' ||
            netpolicy_parse_list(t->networks, nets, NETPOLICY_MAX_CIDRS, &n,
                                 why, sizeof(why)) != AP_OK) {
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            if (netpolicy_cidr_contains(&nets[k], addr)) {
                return t;
            }
        }
    }
    return NULL;
}

/* Adds the words of text (white space or commas) as an array member
 * called key, unless text has none. */
static ap_err
add_words(cJSON *obj, const char *key, const char *text)
{
    cJSON *arr = NULL;
    const char *p = text;

    while (*p != '\0') {
        size_t n;
        char word[256];
        cJSON *s;

        p += strspn(p, " \t,");
        n = strcspn(p, " \t,");
        if (n == 0) {
            break;
        }
        if (n >= sizeof(word)) {
            return AP_EINVAL; /* refused at load: config.c check_teams */
        }
        snprintf(word, sizeof(word), "%.*s", (int)n, p);
        if (arr == NULL) {
            arr = cJSON_AddArrayToObject(obj, key);
            if (arr == NULL) {
                return AP_ENOMEM;
            }
        }
        s = cJSON_CreateString(word);
        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            return AP_ENOMEM;
        }
        p += n;
    }
    return AP_OK;
}

ap_err
team_policy_record(const struct config_team *t, cJSON **out)
{
    cJSON *rec = cJSON_CreateObject();
    ap_err rc = AP_ENOMEM;

    if (rec == NULL) {
        return AP_ENOMEM;
    }
    if (cJSON_AddStringToObject(rec, "label", t->name) == NULL ||
        cJSON_AddStringToObject(rec, "kid", "") == NULL) {
        goto out;
    }
    rc = add_words(rec, "profiles", t->profiles);
    if (rc == AP_OK) {
        rc = add_words(rec, "allow_names", t->allow_names);
    }
    if (rc == AP_OK) {
        rc = add_words(rec, "allow_ips", t->allow_ips);
    }
    if (rc == AP_OK && t->max_validity_days > 0 &&
        cJSON_AddNumberToObject(rec, "max_validity_days",
                                t->max_validity_days) == NULL) {
        rc = AP_ENOMEM;
    }
out:
    if (rc != AP_OK) {
        cJSON_Delete(rec);
        rec = NULL;
    }
    *out = rec;
    return rc;
}

ap_err
team_bind_account(struct app *app, const char *id, const char *kid,
                  const char *team, const char *request_id, cJSON *fields,
                  char *label, size_t labellen, char *why, size_t whylen)
{
    struct store_txn *txn = NULL;
    struct account acct;
    cJSON *eab = NULL;
    const char *name = team;
    ap_err rc;

    memset(&acct, 0, sizeof(acct));
    why[0] = '\0';
    rc = fields != NULL ? store_begin(app->st, true, &txn) : AP_ENOMEM;
    if (rc != AP_OK) {
        goto out;
    }
    rc = rec_account_get(txn, id, &acct);
    if (rc == AP_ENOTFOUND) {
        snprintf(why, whylen, "no account %s", id);
        goto out;
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = AP_EINVAL;
    if (acct.status != ACCOUNT_VALID) {
        snprintf(why, whylen, "account %s is %s", id,
                 account_status_name(acct.status));
        goto out;
    }
    if (acct.eab != NULL || (acct.team != NULL && acct.team[0] != '\0')) {
        snprintf(why, whylen, "account %s is bound to team %s already "
                 "(bindings are for good)", id,
                 acct.team != NULL ? acct.team : "?");
        goto out;
    }
    if (kid != NULL) {
        rc = store_get_json(txn, STORE_EAB, kid, &eab);
        if (rc == AP_ENOTFOUND) {
            snprintf(why, whylen, "no EAB key %s", kid);
            goto out;
        }
        if (rc != AP_OK) {
            goto out;
        }
        rc = AP_EINVAL;
        if (json_num(eab, "revoked", 0) != 0) {
            snprintf(why, whylen, "EAB key %s is revoked", kid);
            goto out;
        }
        name = json_str(eab, "label", "");
        rc = eab_bind(txn, kid, id, app->cfg->acme.eab_single_use);
        if (rc == AP_EEXIST) {
            snprintf(why, whylen, "EAB key %s is bound to an account "
                     "already ([acme] eab_single_use)", kid);
            rc = AP_EINVAL;
            goto out;
        }
        if (rc == AP_OK) {
            rc = rec_set_str(&acct.eab, kid);
        }
    } else if (team == NULL || config_team_find(app->cfg, team) == NULL) {
        snprintf(why, whylen, "no [team.%.64s] section in the configuration",
                 team != NULL ? team : "");
        goto out;
    } else {
        rc = AP_OK;
    }
    if (rc == AP_OK) {
        rc = rec_set_str(&acct.team, name);
    }
    if (rc == AP_OK) {
        rc = rec_account_put(txn, id, &acct, false);
    }
    if (rc == AP_OK) {
        if (cJSON_AddStringToObject(fields, "account", id) == NULL ||
            cJSON_AddStringToObject(fields, "team", name) == NULL ||
            (kid != NULL &&
             cJSON_AddStringToObject(fields, "eab", kid) == NULL)) {
            rc = AP_ENOMEM;
        }
    }
    if (rc == AP_OK) {
        rc = audit_event(app->audit, txn, "account.bound", request_id,
                         fields);
        fields = NULL;
    }
    if (rc == AP_OK) {
        snprintf(label, labellen, "%s", name);
        rc = store_commit(txn);
        txn = NULL;
    }
out:
    cJSON_Delete(fields);
    store_abort(txn);
    eab_record_free(eab);
    rec_account_fini(&acct);
    return rc;
}
