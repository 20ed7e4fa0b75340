/* proxy/directory.c: the directory (RFC 8555 §7.1.1) and newNonce
 * (§7.2). */
#include "proxy/directory.h"

#include <stdio.h>
#include <string.h>

#include "proxy/problem.h"
#include "proxy/team.h"

ap_err
directory_get(struct app *app, const struct acme_req *req, const char *id,
              struct acme_resp *resp)
{
    cJSON *dir = cJSON_CreateObject();
    cJSON *meta;
    char url[HTTP_MAX_URL];
    ap_err rc;

    (void)id;
    if (dir == NULL) {
        return AP_ENOMEM;
    }
    app_url(app, url, sizeof(url), PATH_NEW_NONCE, NULL);
    cJSON_AddStringToObject(dir, "newNonce", url);
    app_url(app, url, sizeof(url), PATH_NEW_ACCOUNT, NULL);
    cJSON_AddStringToObject(dir, "newAccount", url);
    app_url(app, url, sizeof(url), PATH_NEW_ORDER, NULL);
    cJSON_AddStringToObject(dir, "newOrder", url);
    app_url(app, url, sizeof(url), PATH_REVOKE, NULL);
    cJSON_AddStringToObject(dir, "revokeCert", url);
    app_url(app, url, sizeof(url), PATH_KEY_CHANGE, NULL);
    cJSON_AddStringToObject(dir, "keyChange", url);
    /* RFC 9773 §4: renewalInfo is the base the certID is appended to. */
    snprintf(url, sizeof(url), "%s%.*s", app->base,
             (int)strlen(PATH_RENEWAL_INFO) - 1, PATH_RENEWAL_INFO);
    cJSON_AddStringToObject(dir, "renewalInfo", url);
    meta = cJSON_AddObjectToObject(dir, "meta");
    if (meta != NULL) {
        if (app->cfg->acme.tos_url[0] != '\0') {
            cJSON_AddStringToObject(meta, "termsOfService",
                                    app->cfg->acme.tos_url);
        }
        if (app->cfg->acme.website[0] != '\0') {
            cJSON_AddStringToObject(meta, "website", app->cfg->acme.website);
        }
        /* RFC 8555 §7.1.1: true when this client's newAccount needs a
         * binding; a client in a [team.NAME] network joins that team
         * without one (proxy/team.h), and clients such as lego refuse to
         * try when the directory says true. */
        cJSON_AddBoolToObject(meta, "externalAccountRequired",
                              app->cfg->acme.eab_required &&
                                  team_for_address(app->cfg,
                                                   req->remote_addr) ==
                                      NULL);
        /* draft-ietf-acme-profiles: name -> description. */
        if (app->cfg->n_profiles > 0) {
            cJSON *profiles = cJSON_AddObjectToObject(meta, "profiles");

            for (size_t i = 0; profiles != NULL && i < app->cfg->n_profiles;
                 i++) {
                cJSON_AddStringToObject(profiles, app->cfg->profiles[i].name,
                                        app->cfg->profiles[i].description);
            }
        }
    }
    rc = acme_resp_json(resp, 200, dir);
    cJSON_Delete(dir);
    return rc;
}

ap_err
nonce_get(struct app *app, const struct acme_req *req, const char *id,
          struct acme_resp *resp)
{
    (void)app;
    (void)id;
    /* RFC 8555 §7.2: HEAD answers 200, GET 204; never cached. */
    resp->status = strcmp(req->method, "HEAD") == 0 ? 200 : 204;
    resp->no_store = true;
    return AP_OK;
}
