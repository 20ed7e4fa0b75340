/* proxy/server.c: civetweb start/stop, request dispatch, capped body read
 * and response writing. */
#include "proxy/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <civetweb.h>

#include "common/id.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "proxy/nonce.h"
#include "proxy/problem.h"
#include "proxy/resource.h"

enum {
    M_GET = 1u << 0,
    M_HEAD = 1u << 1,
    M_POST = 1u << 2
};

struct route {
    const char *path;   /* exact path, or prefix when is_prefix */
    bool is_prefix;
    unsigned methods;
    const char *allow;  /* Allow header for 405 */
    resource_fn fn;
};

/* Longer prefixes first is not needed: no prefix is a prefix of another. */
static const struct route routes[] = {
    { PATH_DIRECTORY, false, M_GET | M_HEAD, "GET, HEAD", directory_get },
    { PATH_NEW_NONCE, false, M_GET | M_HEAD, "GET, HEAD", nonce_get },
    { PATH_NEW_ACCOUNT, false, M_POST, "POST", account_new },
    { PATH_NEW_ORDER, false, M_POST, "POST", order_new },
    { PATH_REVOKE, false, M_POST, "POST", cert_revoke },
    { PATH_ACCOUNT, true, M_POST, "POST", account_post },
    { PATH_ORDERS, true, M_POST, "POST", account_orders },
    { PATH_ORDER, true, M_POST, "POST", order_post },
    { PATH_AUTHZ, true, M_POST, "POST", authz_post },
    { PATH_CHALL, true, M_POST, "POST", challenge_post },
    { PATH_CERT, true, M_GET | M_POST, "GET, POST", cert_get },
    { PATH_ISSUER, true, M_GET | M_POST, "GET, POST", cert_issuer_get },
    { PATH_KEY_CHANGE, false, M_POST, "POST", account_key_change },
    { PATH_RENEWAL_INFO, true, M_GET | M_HEAD, "GET, HEAD", renewal_info_get },
};

struct server {
    struct mg_context *ctx;
    struct app *app;
};

static unsigned
method_bit(const char *m)
{
    if (strcmp(m, "GET") == 0) {
        return M_GET;
    }
    if (strcmp(m, "HEAD") == 0) {
        return M_HEAD;
    }
    if (strcmp(m, "POST") == 0) {
        return M_POST;
    }
    return 0;
}

/* Reads the body under the cap. Returns 0, or the problem to answer. */
static int
read_body(struct mg_connection *conn, long long declared, size_t cap,
          struct buf *body, struct acme_resp *resp)
{
    char chunk[4096];

    if (declared > (long long)cap) {
        problem_set(resp, PROB_TOO_LARGE, "request body over %zu bytes", cap);
        return 1;
    }
    for (;;) {
        size_t want = sizeof(chunk);
        int n;

        if (declared >= 0) {
            if ((long long)body->len >= declared) {
                break;
            }
            if ((long long)want > declared - (long long)body->len) {
                want = (size_t)(declared - (long long)body->len);
            }
        }
        n = mg_read(conn, chunk, want);
        if (n <= 0) {
            if (declared >= 0 && (long long)body->len < declared) {
                problem_set(resp, PROB_MALFORMED,
                            "request body shorter than Content-Length");
                return 1;
            }
            break;
        }
        if (buf_append(body, chunk, (size_t)n) != AP_OK) {
            problem_set(resp, PROB_TOO_LARGE, "request body over %zu bytes",
                        cap);
            return 1;
        }
    }
    return 0;
}

static bool
is_jose(const char *ct)
{
    size_t n = strlen("application/jose+json");

    if (ct == NULL || strncasecmp(ct, "application/jose+json", n) != 0) {
        return false;
    }
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static void
send_response(struct mg_connection *conn, struct app *app,
              const struct acme_req *req, struct acme_resp *resp)
{
    char nonce[NONCE_LEN + 1];
    char link[HTTP_MAX_URL + 32];
    char num[32];
    bool head = strcmp(req->method, "HEAD") == 0;

    mg_response_header_start(conn, resp->status);
    if (resp->content_type != NULL) {
        mg_response_header_add(conn, "Content-Type", resp->content_type, -1);
    }
    if (nonce_issue(app->nonces, nonce, sizeof(nonce)) == AP_OK) {
        mg_response_header_add(conn, "Replay-Nonce", nonce, -1);
    }
    snprintf(link, sizeof(link), "<%s%s>;rel=\"index\"", app->base,
             PATH_DIRECTORY);
    mg_response_header_add(conn, "Link", link, -1);
    for (size_t i = 0; i < resp->n_links; i++) {
        mg_response_header_add(conn, "Link", resp->links[i], -1);
    }
    if (resp->location[0] != '\0') {
        mg_response_header_add(conn, "Location", resp->location, -1);
    }
    if (resp->retry_after > 0) {
        snprintf(num, sizeof(num), "%u", resp->retry_after);
        mg_response_header_add(conn, "Retry-After", num, -1);
    }
    if (resp->allow != NULL) {
        mg_response_header_add(conn, "Allow", resp->allow, -1);
    }
    if (resp->no_store) {
        mg_response_header_add(conn, "Cache-Control", "no-store", -1);
    }
    snprintf(num, sizeof(num), "%zu", resp->body.len);
    mg_response_header_add(conn, "Content-Length", num, -1);
    mg_response_header_send(conn);
    if (!head && resp->body.len > 0) {
        mg_write(conn, resp->body.data, resp->body.len);
    }
}

static int
on_request(struct mg_connection *conn, void *cbdata)
{
    struct server *srv = cbdata;
    struct app *app = srv->app;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const struct route *route = NULL;
    struct acme_req req;
    struct acme_resp resp;
    struct buf body;
    const char *path = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    const char *id = "";
    unsigned mbit = method_bit(ri->request_method);
    long long t0 = time_mono_ms();
    ap_err rc = AP_OK;
    int urllen;

    memset(&req, 0, sizeof(req));
    acme_resp_init(&resp);
    buf_init(&body, app->cfg->server.max_body);
    req.method = ri->request_method;
    req.path = path ? path : "/";
    req.content_type = mg_get_header(conn, "Content-Type");
    req.accept = mg_get_header(conn, "Accept");
    req.remote_addr = ri->remote_addr;
    if (id_new(req.request_id, sizeof(req.request_id)) != AP_OK) {
        snprintf(req.request_id, sizeof(req.request_id), "-");
    }
    /* The JWS url covers the query too (RFC 8555 §6.4: the exact URL). A
     * URL that does not fit is refused whole, never compared cut. */
    urllen = snprintf(req.url, sizeof(req.url), "%s%s%s%s", app->base,
                      req.path, ri->query_string ? "?" : "",
                      ri->query_string ? ri->query_string : "");
    req.query = ri->query_string;
    if (urllen < 0 || (size_t)urllen >= sizeof(req.url)) {
        req.url[0] = '\0';
        req.path = "/";
        problem_set(&resp, PROB_URI_TOO_LONG, "request URL over %zu bytes",
                    sizeof(req.url) - 1);
        goto send;
    }

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        size_t n = strlen(routes[i].path);

        if (routes[i].is_prefix ? strncmp(req.path, routes[i].path, n) == 0 &&
                                      req.path[n] != '\0'
                                : strcmp(req.path, routes[i].path) == 0) {
            route = &routes[i];
            id = routes[i].is_prefix ? req.path + n : "";
            break;
        }
    }
    if (route == NULL) {
        problem_set(&resp, PROB_NOT_FOUND, "no such resource");
        goto send;
    }
    if ((route->methods & mbit) == 0) {
        problem_set(&resp, PROB_METHOD_NOT_ALLOWED,
                    "method %.10s not allowed here", req.method);
        resp.allow = route->allow;
        goto send;
    }
    if (mbit == M_POST) {
        /* RFC 8555 §6.2: POST bodies are application/jose+json. */
        if (!is_jose(req.content_type)) {
            problem_set(&resp, PROB_UNSUPPORTED_MEDIA,
                        "Content-Type must be application/jose+json");
            goto send;
        }
        if (read_body(conn, ri->content_length, app->cfg->server.max_body,
                      &body, &resp) != 0) {
            goto send;
        }
        if (body.data == NULL && buf_append(&body, "", 0) != AP_OK) {
            rc = AP_ENOMEM;
            goto send;
        }
        req.body = body.data;
        req.body_len = body.len;
    }
    rc = route->fn(app, &req, id, &resp);
send:
    if (rc != AP_OK) {
        log_err("http", "%s %s: internal error: %s", req.method, req.path,
                ap_strerror(rc));
        acme_resp_fini(&resp);
        acme_resp_init(&resp);
        problem_set(&resp, PROB_SERVER_INTERNAL, "internal error");
    }
    if (resp.status == 0) {
        resp.status = 200;
    }
    send_response(conn, app, &req, &resp);
    log_debug("http", "%s %s %d %lldms ip=%s req=%s", req.method, req.path,
              resp.status, time_mono_ms() - t0, req.remote_addr,
              req.request_id);
    buf_fini(&body);
    acme_resp_fini(&resp);
    return resp.status;
}

static int
on_log(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_info("civetweb", "%s", message);
    return 1;
}

ap_err
server_start(struct app *app, const char *tls_pem_file, struct server **out,
             char *errbuf, size_t errlen)
{
    struct server *srv;
    struct mg_callbacks cb;
    struct mg_init_data init;
    struct mg_error_data err;
    char ports[128];
    char threads[16];
    char errtext[256];
    const char *opts[32];
    int n = 0;

    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return AP_ENOMEM;
    }
    srv->app = app;
    snprintf(ports, sizeof(ports), "%s%s", app->cfg->server.listen,
             tls_pem_file ? "s" : "");
    snprintf(threads, sizeof(threads), "%u", app->cfg->server.threads);
    opts[n++] = "listening_ports";
    opts[n++] = ports;
    opts[n++] = "num_threads";
    opts[n++] = threads;
    opts[n++] = "request_timeout_ms";
    opts[n++] = "10000";
    /* civetweb holds a thread per open keep-alive connection: a short idle
     * time keeps long-lived clients from starving new ones of threads. */
    opts[n++] = "keep_alive_timeout_ms";
    opts[n++] = "5000";
    opts[n++] = "enable_keep_alive";
    opts[n++] = "yes";
    /* Headers and body go out in two writes: without TCP_NODELAY, Nagle
     * holds the body until the client's delayed ACK, 40 ms a request. */
    opts[n++] = "tcp_nodelay";
    opts[n++] = "1";
    opts[n++] = "max_request_size";
    opts[n++] = "16384";
    if (tls_pem_file != NULL) {
        opts[n++] = "ssl_certificate";
        opts[n++] = tls_pem_file;
    }
    opts[n] = NULL;

    memset(&cb, 0, sizeof(cb));
    cb.log_message = on_log;
    memset(&init, 0, sizeof(init));
    init.callbacks = &cb;
    init.user_data = srv;
    init.configuration_options = opts;
    memset(&err, 0, sizeof(err));
    errtext[0] = '\0';
    err.text = errtext;
    err.text_buffer_size = sizeof(errtext);

    mg_init_library(tls_pem_file ? MG_FEATURES_TLS : 0);
    srv->ctx = mg_start2(&init, &err);
    if (srv->ctx == NULL) {
        snprintf(errbuf, errlen, "cannot listen on %s: %s",
                 app->cfg->server.listen,
                 errtext[0] ? errtext : "civetweb failed to start");
        mg_exit_library();
        free(srv);
        return AP_ECONFIG;
    }
    mg_set_request_handler(srv->ctx, "/", on_request, srv);
    *out = srv;
    return AP_OK;
}

void
server_stop(struct server *srv)
{
    if (srv == NULL) {
        return;
    }
    mg_stop(srv->ctx);
    mg_exit_library();
    free(srv);
}
