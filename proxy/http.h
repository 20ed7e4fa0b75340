/* proxy/http.h: one ACME request and its response, independent of the
 * HTTP server library.
 *
 * server.c fills a struct acme_req from civetweb (body already read under
 * its cap) and sends the struct acme_resp that a resource handler filled.
 * Resource code never sees a civetweb connection, so it can be unit-tested
 * without a server. */
#ifndef AP_PROXY_HTTP_H
#define AP_PROXY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/id.h"

#define HTTP_MAX_LINKS 4
#define HTTP_MAX_URL 512

struct acme_req {
    const char *method;       /* "GET", "HEAD", "POST", ... */
    const char *path;         /* path part of the target, no query */
    const char *query;        /* after '?', or NULL */
    const char *content_type; /* NULL when absent */
    const char *accept;       /* NULL when absent */
    const char *body;         /* NUL-terminated, body_len bytes */
    size_t body_len;
    const char *remote_addr;
    char url[HTTP_MAX_URL];   /* base_url + path: what JWS "url" must be */
    char request_id[ID_LEN + 1]; /* for the log and the audit log */
};

struct acme_resp {
    int status;               /* 0 until set */
    const char *content_type; /* static string */
    struct buf body;
    char location[HTTP_MAX_URL];
    char links[HTTP_MAX_LINKS][HTTP_MAX_URL + 16]; /* full Link values */
    size_t n_links;
    unsigned retry_after;     /* seconds; 0: no header */
    const char *allow;        /* for 405 */
    bool no_store;            /* Cache-Control: no-store */
    bool is_problem;          /* body is a problem document */
    int problem;              /* its enum problem_type; -1: none */
};

void acme_resp_init(struct acme_resp *resp);
void acme_resp_fini(struct acme_resp *resp);

/* Sets status and a JSON body printed from obj (borrowed). */
AP_MUST_CHECK ap_err acme_resp_json(struct acme_resp *resp, int status,
                                    const cJSON *obj);
/* Adds a Link header value "<url>;rel=\"rel\"". */
void acme_resp_link(struct acme_resp *resp, const char *url,
                    const char *rel);
/* Sets the Location header. */
void acme_resp_location(struct acme_resp *resp, const char *url);

#endif /* AP_PROXY_HTTP_H */
