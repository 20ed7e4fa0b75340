/* proxy/http.c: response helpers shared by every resource. */
#include "proxy/http.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"

#define HTTP_MAX_RESPONSE (1024 * 1024)

void
acme_resp_init(struct acme_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body, HTTP_MAX_RESPONSE);
    resp->problem = -1;
}

void
acme_resp_fini(struct acme_resp *resp)
{
    buf_fini(&resp->body);
}

ap_err
acme_resp_json(struct acme_resp *resp, int status, const cJSON *obj)
{
    char *text = json_print(obj);
    ap_err rc;

    if (text == NULL) {
        return AP_ENOMEM;
    }
    buf_reset(&resp->body);
    rc = buf_appends(&resp->body, text);
    cJSON_free(text);
    if (rc != AP_OK) {
        return rc;
    }
    resp->status = status;
    resp->content_type = "application/json";
    resp->is_problem = false;
    resp->problem = -1;
    return AP_OK;
}

void
acme_resp_link(struct acme_resp *resp, const char *url, const char *rel)
{
    if (resp->n_links >= HTTP_MAX_LINKS) {
        return;
    }
    snprintf(resp->links[resp->n_links], sizeof(resp->links[0]),
             "<%s>;rel=\"%s\"", url, rel);
    resp->n_links++;
}

void
acme_resp_location(struct acme_resp *resp, const char *url)
{
    snprintf(resp->location, sizeof(resp->location), "%s", url);
}
