/* proxy/directory.c: the directory (RFC 8555 §7.1.1) and newNonce
 * (§7.2). */
#include "proxy/resource.h"

#include <string.h>

#include "proxy/problem.h"

ap_err
directory_get(struct app *app, const struct acme_req *req, const char *id,
              struct acme_resp *resp)
{
    cJSON *dir = cJSON_CreateObject();
    cJSON *meta;
    char url[HTTP_MAX_URL];
    ap_err rc;

    (void)req;
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
    meta = cJSON_AddObjectToObject(dir, "meta");
    if (meta != NULL) {
        if (app->cfg->acme.tos_url[0] != '\0') {
            cJSON_AddStringToObject(meta, "termsOfService",
                                    app->cfg->acme.tos_url);
        }
        if (app->cfg->acme.website[0] != '\0') {
            cJSON_AddStringToObject(meta, "website", app->cfg->acme.website);
        }
        cJSON_AddFalseToObject(meta, "externalAccountRequired");
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
