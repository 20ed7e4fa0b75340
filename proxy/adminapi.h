/* proxy/adminapi.h: the admin API's requests, routed to the admin
 * operations (proxy/admin_ops.h) that the subcommands run too.
 *
 * The listener (proxy/adminsrv.c) authenticates the caller, reads the
 * body under ADMINAPI_MAX_BODY, calls adminapi_handle and sends what it
 * answers; it also writes the call's audit event. Routes (JSON in and
 * out; docs/admin.md, docs/admin-openapi.yaml):
 *   POST /admin/eab                       mint a key: 201 {"kid","hmac",
 *                                         "label"}
 *   GET  /admin/eab                       the keys (no HMAC)
 *   POST /admin/eab/{kid}/revoke          revoke a key
 *   GET  /admin/accounts?team=            accounts
 *   GET  /admin/certificates?team=&expiring_before=&overdue=
 *   POST /admin/certificates/{serial}/revoke   {"reason": N or name}
 * A request the operation refuses gets a problem document (RFC 9457:
 * {"type","title","status","detail"}) with admin_outcome_status's status;
 * bad JSON, unknown members, wrong types and bad query values get 400, a
 * known path with another method 405 (with resp->allow), any other path
 * under /admin/ 404. No I/O besides the operations'. Thread-safe. */
#ifndef AP_PROXY_ADMINAPI_H
#define AP_PROXY_ADMINAPI_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "proxy/admin_ops.h"
#include "proxy/app.h"

#define ADMINAPI_PREFIX "/admin/"
#define ADMINAPI_MAX_BODY 16384     /* bytes of a request body: else 413 */
#define ADMINAPI_MAX_QUERY 1024     /* bytes of a query string: else 400 */

/* One request. Strings borrowed; query and body may be NULL. */
struct adminapi_req {
    const char *method;
    const char *path;           /* starts with ADMINAPI_PREFIX */
    const char *query;          /* without '?' */
    const char *body;
    size_t body_len;
    const char *caller;         /* the token name (or certificate subject) */
    const char *request_id;     /* the audit events' "request" */
};

/* The answer. doc is owned (adminapi_resp_fini); with secret it holds the
 * EAB HMAC key and must be printed with json_print_wiped and freed wiped
 * (adminapi_resp_fini does the latter). */
struct adminapi_resp {
    int status;
    cJSON *doc;
    bool secret;
    const char *allow;          /* for 405: the methods of the path */
    const char *op;             /* what was asked, for the audit event
                                   ("eab.add", "certs.list", ...; "-") */
};

/* Answers req against app (a view: app_acquire). Never fails: out of
 * memory is a 500 with doc NULL. */
void adminapi_handle(struct app *app, const struct adminapi_req *req,
                     struct adminapi_resp *resp);

/* A problem document {"type":"about:blank","title","status","detail"}
 * (NULL when out of memory). */
cJSON *adminapi_problem(int status, const char *detail);

/* Frees resp->doc (wiped when secret). */
void adminapi_resp_fini(struct adminapi_resp *resp);

#endif /* AP_PROXY_ADMINAPI_H */
