/* proxy/server.c: civetweb start/stop, request dispatch, capped body read
 * and response writing.
 *
 * civetweb listens and accepts; every accepted socket goes to the gate
 * (proxy/gate.h), which holds it until one whole request has arrived, and
 * then hands it to a civetweb worker with mg_handoff() (the patch in
 * deploy/civetweb-patches/01-handoff.patch). A worker serves that request
 * and gives the connection back. */
#include "proxy/server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>

#include "common/id.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "proxy/account.h"
#include "proxy/authz.h"
#include "proxy/cert.h"
#include "proxy/directory.h"
#include "proxy/frame.h"
#include "proxy/gate.h"
#include "proxy/metrics.h"
#include "proxy/nonce.h"
#include "proxy/order.h"
#include "proxy/problem.h"
#include "proxy/renewal.h"
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
    enum metrics_route metric; /* the "route" label */
};

/* Longer prefixes first is not needed: no prefix is a prefix of another. */
static const struct route routes[] = {
    { PATH_DIRECTORY, false, M_GET | M_HEAD, "GET, HEAD", directory_get,
      MR_DIRECTORY },
    { PATH_NEW_NONCE, false, M_GET | M_HEAD, "GET, HEAD", nonce_get,
      MR_NEW_NONCE },
    { PATH_NEW_ACCOUNT, false, M_POST, "POST", account_new, MR_NEW_ACCOUNT },
    { PATH_NEW_ORDER, false, M_POST, "POST", order_new, MR_NEW_ORDER },
    { PATH_REVOKE, false, M_POST, "POST", cert_revoke, MR_REVOKE_CERT },
    { PATH_ACCOUNT, true, M_POST, "POST", account_post, MR_ACCOUNT },
    { PATH_ORDERS, true, M_POST, "POST", account_orders, MR_ORDERS },
    { PATH_ORDER, true, M_POST, "POST", order_post, MR_ORDER },
    { PATH_AUTHZ, true, M_POST, "POST", authz_post, MR_AUTHZ },
    { PATH_CHALL, true, M_POST, "POST", challenge_post, MR_CHALLENGE },
    { PATH_CERT, true, M_GET | M_POST, "GET, POST", cert_get, MR_CERT },
    { PATH_ISSUER, true, M_GET | M_POST, "GET, POST", cert_issuer_get,
      MR_ISSUER },
    { PATH_KEY_CHANGE, false, M_POST, "POST", account_key_change,
      MR_KEY_CHANGE },
    { PATH_RENEWAL_INFO, true, M_GET | M_HEAD, "GET, HEAD", renewal_info_get,
      MR_RENEWAL_INFO },
};

_Static_assert(FRAME_MAX_FIELDS <= MG_MAX_HEADERS,
               "the gate must refuse requests civetweb would see in part");

/* One request with a worker: civetweb's view of the gate's connection. */
struct handoff {
    struct mg_handoff h;
    struct gate_conn *conn;
    struct server *srv;
    struct handoff *next;       /* in the free list */
};

/* The handoffs come from a pool of one per worker (the gate hands out at
 * most that many at once): a request costs no allocation, and the ones
 * civetweb still holds when it stops (queued, never served, so done is
 * never called) are freed with the pool instead of leaking. */
struct server {
    _Atomic(struct mg_context *) ctx;
    struct app *app;
    struct gate *gate;
    pthread_mutex_t pool_lock;
    struct handoff *pool;       /* the array, freed at stop */
    struct handoff *free_list;
};

static struct handoff *
handoff_take(struct server *srv)
{
    struct handoff *ho;

    pthread_mutex_lock(&srv->pool_lock);
    ho = srv->free_list;
    if (ho != NULL) {
        srv->free_list = ho->next;
    }
    pthread_mutex_unlock(&srv->pool_lock);
    if (ho != NULL) {
        memset(ho, 0, sizeof(*ho));
    }
    return ho;
}

static void
handoff_give(struct server *srv, struct handoff *ho)
{
    pthread_mutex_lock(&srv->pool_lock);
    ho->next = srv->free_list;
    srv->free_list = ho;
    pthread_mutex_unlock(&srv->pool_lock);
}

static void
on_handoff_done(struct mg_handoff *h, int keep_alive)
{
    struct handoff *ho = h->user;
    struct gate_conn *conn = ho->conn;
    struct server *srv = ho->srv;

    handoff_give(srv, ho);
    gate_done(conn, keep_alive != 0);
#ifdef AP_TEST_HOOKS
    /* Test builds only (Makefile: acmeproxy-hooks): with
     * ACMEPROXY_TEST_HANDOFF_PAUSE_MS=N the worker pauses N ms before it
     * takes the next request, so that the gate's next handoff waits in
     * civetweb's queue, where a stop finds it (conn_attack.sh). */
    {
        const char *ms = getenv("ACMEPROXY_TEST_HANDOFF_PAUSE_MS");

        if (ms != NULL) {
            struct timespec ts = { 0, (long)(atoi(ms) % 1000) * 1000000L };

            nanosleep(&ts, NULL);
        }
    }
#endif
}

/* Frees srv and its handoff pool; nothing may use them any more. */
static void
server_free_pool(struct server *srv)
{
    pthread_mutex_destroy(&srv->pool_lock);
    free(srv->pool);
    free(srv);
}

/* gate_dispatch_fn: queues a ready request to a civetweb worker. */
static int
dispatch(void *arg, const struct gate_ready *r)
{
    struct server *srv = arg;
    struct mg_context *ctx = atomic_load(&srv->ctx);
    struct handoff *ho;

    if (ctx == NULL) {
        return -1; /* mg_start has not returned yet */
    }
    ho = handoff_take(srv);
    if (ho == NULL) {
        return -1; /* cannot happen: the gate keeps to max_inflight */
    }
    ho->srv = srv;
    ho->conn = r->conn;
    ho->h.sock = r->fd;
    ho->h.tls = r->tls;
    ho->h.data = r->data;
    ho->h.len = r->len;
    ho->h.done = on_handoff_done;
    ho->h.user = ho;
    /* the addresses the gate knows: no getpeername/getsockname per
     * request (civetweb patch 05) */
    ho->h.peer = r->peer;
    ho->h.peer_len = r->peer_len;
    ho->h.local = r->local;
    ho->h.local_len = r->local_len;
    if (mg_handoff(ctx, &ho->h) != 0) {
        handoff_give(srv, ho);
        return -1;
    }
    return 0;
}

/* gate_headers_fn: what every answer carries (RFC 8555 §6.5, §7.1). */
static size_t
error_headers(void *arg, char *buf, size_t len)
{
    struct server *srv = arg;
    char nonce[NONCE_LEN + 1];
    int n;

    if (nonce_issue(srv->app->nonces, nonce, sizeof(nonce)) != AP_OK) {
        nonce[0] = '\0';
    }
    n = snprintf(buf, len, "%s%s%sLink: <%s%s>;rel=\"index\"\r\n",
                 nonce[0] ? "Replay-Nonce: " : "", nonce, nonce[0] ? "\r\n" : "",
                 srv->app->base, PATH_DIRECTORY);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/* civetweb's accept_socket callback: the gate takes every socket. */
static void
on_accept(struct mg_context *ctx, int sock, const void *peer, size_t peer_len)
{
    struct server *srv = mg_get_user_data(ctx);

    gate_accept(srv->gate, sock, peer, peer_len);
}

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
    /* Header and body in one write: one TLS record and one send for a
     * response up to 16 KiB (deploy/civetweb-patches/03-one-write.patch). */
    if (mg_response_send(conn, head ? NULL : resp->body.data,
                         head ? 0 : resp->body.len) == -5) {
        log_err("http", "%s %s: no memory for the response", req->method,
                req->path);
    }
}

static long long
elapsed_us(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)(now.tv_sec - t0->tv_sec) * 1000000LL +
           (now.tv_nsec - t0->tv_nsec) / 1000;
}

static int
on_request(struct mg_connection *conn, void *cbdata)
{
    struct server *srv = cbdata;
    /* The request runs on the configuration of its start (reload). */
    struct app *app = app_acquire(srv->app);
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const struct route *route = NULL;
    struct acme_req req;
    struct acme_resp resp;
    struct buf body;
    const char *path = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    const char *id = "";
    unsigned mbit = method_bit(ri->request_method);
    long long t0 = time_mono_ms();
    struct timespec t0us;
    ap_err rc = AP_OK;
    int urllen;

    clock_gettime(CLOCK_MONOTONIC, &t0us);
    memset(&req, 0, sizeof(req));
    acme_resp_init(&resp);
    buf_init(&body, app->cfg->server.max_body);
    req.method = ri->request_method;
    req.path = path ? path : "/";
    req.content_type = mg_get_header(conn, "Content-Type");
    req.accept = mg_get_header(conn, "Accept");
    req.remote_addr = ri->remote_addr;
    if (id_request(req.request_id, sizeof(req.request_id)) != AP_OK) {
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
    metrics_http(route != NULL ? route->metric : MR_OTHER, resp.status,
                 resp.problem, elapsed_us(&t0us));
    log_debug("http", "%s %s %d %lldms ip=%s req=%s", req.method, req.path,
              resp.status, time_mono_ms() - t0, req.remote_addr,
              req.request_id);
    buf_fini(&body);
    acme_resp_fini(&resp);
    app_release(app);
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
    struct mg_context *ctx;
    struct mg_callbacks cb;
    struct mg_init_data init;
    struct mg_error_data err;
    struct gate_limits lim;
    const struct config *cfg = app->cfg;
    char threads[16];
    char reqsize[32];
    char errtext[256];
    const char *opts[32];
    int n = 0;
    ap_err rc;

    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return AP_ENOMEM;
    }
    srv->app = app;
    srv->pool = calloc(cfg->server.threads, sizeof(*srv->pool));
    if (srv->pool == NULL || pthread_mutex_init(&srv->pool_lock, NULL) != 0) {
        free(srv->pool);
        free(srv);
        return AP_ENOMEM;
    }
    for (unsigned i = 0; i < cfg->server.threads; i++) {
        handoff_give(srv, &srv->pool[i]);
    }
    memset(&lim, 0, sizeof(lim));
    lim.handshake_ms = cfg->server.handshake_timeout_ms;
    lim.head_ms = cfg->server.head_timeout_ms;
    lim.body_ms = cfg->server.body_timeout_ms;
    lim.idle_ms = cfg->server.idle_timeout_ms;
    lim.max_conns = cfg->server.max_conns;
    lim.max_conns_per_ip = cfg->server.max_conns_per_ip;
    lim.max_head = cfg->server.max_head;
    lim.max_body = cfg->server.max_body;
    lim.max_inflight = cfg->server.threads;
    rc = gate_start(&lim, tls_pem_file, dispatch, error_headers, srv,
                    &srv->gate, errbuf, errlen);
    if (rc != AP_OK) {
        server_free_pool(srv);
        return rc;
    }
    /* civetweb listens without TLS of its own: the gate terminates TLS. */
    snprintf(threads, sizeof(threads), "%u", cfg->server.threads);
    snprintf(reqsize, sizeof(reqsize), "%zu",
             frame_raw_cap(cfg->server.max_head, cfg->server.max_body));
    opts[n++] = "listening_ports";
    opts[n++] = cfg->server.listen;
    opts[n++] = "num_threads";
    opts[n++] = threads;
    /* The gate hands out at most num_threads requests: the queue never
     * makes it wait. */
    opts[n++] = "connection_queue";
    opts[n++] = threads;
    /* Workers never read the socket; this bounds writing a response to a
     * client that does not read it. */
    opts[n++] = "request_timeout_ms";
    opts[n++] = "10000";
    opts[n++] = "enable_keep_alive";
    opts[n++] = "yes";
    /* A response leaves in one write (send_response), but a body over a
     * TLS record is several: without TCP_NODELAY, Nagle would hold the
     * last one until the client's delayed ACK, 40 ms a request. */
    opts[n++] = "tcp_nodelay";
    opts[n++] = "1";
    /* a worker's copy of the whole request, head and body */
    opts[n++] = "max_request_size";
    opts[n++] = reqsize;
    opts[n] = NULL;

    memset(&cb, 0, sizeof(cb));
    cb.log_message = on_log;
    cb.accept_socket = on_accept;
    memset(&init, 0, sizeof(init));
    init.callbacks = &cb;
    init.user_data = srv;
    init.configuration_options = opts;
    memset(&err, 0, sizeof(err));
    errtext[0] = '\0';
    err.text = errtext;
    err.text_buffer_size = sizeof(errtext);

    mg_init_library(0);
    ctx = mg_start2(&init, &err);
    if (ctx == NULL) {
        snprintf(errbuf, errlen, "cannot listen on %s: %s",
                 app->cfg->server.listen,
                 errtext[0] ? errtext : "civetweb failed to start");
        mg_exit_library();
        gate_free(srv->gate);
        server_free_pool(srv);
        return AP_ECONFIG;
    }
    mg_set_request_handler(ctx, "/", on_request, srv);
    atomic_store(&srv->ctx, ctx);
    *out = srv;
    return AP_OK;
}

ap_err
server_set_tls(struct server *srv, const char *tls_pem_file, char *errbuf,
               size_t errlen)
{
    return gate_set_tls(srv->gate, tls_pem_file, errbuf, errlen);
}

bool
server_alive(struct server *srv, unsigned timeout_ms)
{
    return gate_alive(srv->gate, timeout_ms);
}

void
server_conn_stats(struct server *srv, struct gate_stats *out)
{
    gate_stats(srv->gate, out);
}

void
server_stop(struct server *srv)
{
    if (srv == NULL) {
        return;
    }
    gate_quiesce(srv->gate);   /* no new requests for the workers */
    mg_stop(atomic_load(&srv->ctx));
    gate_free(srv->gate);      /* what the workers held */
    mg_exit_library();
    server_free_pool(srv);     /* with the handoffs civetweb never served */
}
