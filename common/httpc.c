/* common/httpc.c: capped, deadline-bound GETs with libcurl.
 *
 * libcurl is not linked: it is loaded with dlopen on the first request
 * (curl_bind), so a proxy that has not yet validated a challenge nor called
 * an HTTP adapter or a webhook maps neither it nor the libraries it pulls
 * in (GnuTLS, Kerberos, LDAP, SSH, nghttp2 ...): about 4 MB of its idle
 * RSS. */
#include "common/httpc.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The calls go through pointers (cu.<name>), which gcc's
 * curl_easy_setopt type-check macros cannot wrap. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "common/timeutil.h"

/* ---- libcurl, bound once ---- */

/* The soname of Debian's libcurl4 (OpenSSL flavour; the ABI the header
 * is from). */
#define HTTPC_LIBCURL "libcurl.so.4"

/* Every libcurl function this file calls, as cu.<name>. */
#define CURL_FUNCS(X)                                                      \
    X(curl_global_init) X(curl_global_cleanup) X(curl_easy_cleanup)        \
    X(curl_easy_getinfo) X(curl_easy_init) X(curl_easy_perform)            \
    X(curl_easy_reset) X(curl_easy_setopt) X(curl_easy_strerror) X(curl_free)                 \
    X(curl_slist_append) X(curl_slist_free_all) X(curl_url)                \
    X(curl_url_cleanup) X(curl_url_get) X(curl_url_set)                   \
    X(curl_multi_init) X(curl_multi_cleanup) X(curl_multi_add_handle)      \
    X(curl_multi_remove_handle) X(curl_multi_perform) X(curl_multi_wait)   \
    X(curl_multi_info_read)

/* Written once under cu_once, read-only after: every public function
 * that reaches a cu. pointer calls curl_bind first. */
static struct curl_api {
#define CURL_FIELD(name) __typeof__(name) *name;
    CURL_FUNCS(CURL_FIELD)
#undef CURL_FIELD
} cu;
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;
static bool cu_bound;
static char cu_why[200];   /* why not bound (set once, under cu_once) */

static void
curl_load(void)
{
    void *h = dlopen(HTTPC_LIBCURL, RTLD_NOW | RTLD_LOCAL);
    const char *e;

    if (h == NULL) {
        e = dlerror();
        snprintf(cu_why, sizeof(cu_why), "cannot load libcurl (%s, Debian "
                 "package libcurl4): %s", HTTPC_LIBCURL,
                 e != NULL ? e : "not found");
        return;
    }
#define CURL_SYM(name)                                                     \
    if (cu_why[0] == '\0') {                                               \
        *(void **)&cu.name = dlsym(h, #name);                              \
        if (cu.name == NULL) {                                             \
            snprintf(cu_why, sizeof(cu_why), "%s has no %s: not the "     \
                     "libcurl this build is for", HTTPC_LIBCURL, #name);   \
        }                                                                  \
    }
    CURL_FUNCS(CURL_SYM)
#undef CURL_SYM
    if (cu_why[0] == '\0' &&
        cu.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(cu_why, sizeof(cu_why), "curl_global_init failed");
    }
    if (cu_why[0] != '\0') {
        memset(&cu, 0, sizeof(cu));
        (void)dlclose(h);
        return;
    }
    /* Never closed: the pointers stay valid for the process. */
    cu_bound = true;
}

/* Loads libcurl, binds its functions and runs curl_global_init, once per
 * process (thread-safe). AP_OK, or AP_ENET with why in errbuf (when not
 * NULL); a failure is final for the process. */
static ap_err
curl_bind(char *errbuf, size_t errlen)
{
    if (pthread_once(&cu_once, curl_load) != 0 || !cu_bound) {
        if (errbuf != NULL) {
            snprintf(errbuf, errlen, "%s",
                     cu_why[0] != '\0' ? cu_why : "cannot load libcurl");
        }
        return AP_ENET;
    }
    return AP_OK;
}

ap_err
httpc_global_init(void)
{
    return curl_bind(NULL, 0);
}

void
httpc_global_fini(void)
{
    /* Only once bound; never before (it would load libcurl to undo
     * nothing) nor concurrently with a request. */
    if (cu_bound) {
        httpc_thread_release();
        cu.curl_global_cleanup();
    }
}

/* ---- httpc_get's handle, one per thread ---- */

/* A fresh easy handle per GET cost a multi handle with its wake-up
 * socketpair (socketpair, four fcntl, two close) each time (issue 18), so
 * a thread keeps its handles for its next GET: an easy handle that holds
 * the options every GET sets alike (get_setup, once) and a multi handle
 * that runs it (get_run). Nothing of one GET reaches the next: each GET
 * sets every option that differs (URL, protocols, time limits, sink,
 * pin, TCP_NODELAY); the connection is never reused
 * (CURLOPT_FRESH_CONNECT, CURLOPT_FORBID_REUSE: each validation connects
 * anew), nor a TLS session (CURLOPT_SSL_SESSIONID_CACHE off) nor a
 * resolved address: the previous GET's pinned address is removed from
 * the DNS cache ("-host:port" in CURLOPT_RESOLVE) and nothing else is
 * cached (CURLOPT_DNS_CACHE_TIMEOUT 0). The handles are freed when their
 * thread ends (or httpc_thread_release). */
struct get_slot {
    CURL *h;            /* set up by get_setup */
    CURLM *m;           /* runs h; NULL: curl_easy_perform */
    char last_pin[300]; /* "-host:port" of the previous GET's pin, or "" */
};

static pthread_key_t get_key;
static pthread_once_t get_once = PTHREAD_ONCE_INIT;
static int get_key_status = -1; /* 0 once get_key exists */
static atomic_ullong gets_reused;

static void
get_slot_drop(struct get_slot *slot)
{
    if (slot->h != NULL) {
        cu.curl_easy_cleanup(slot->h);
        slot->h = NULL;
    }
    if (slot->m != NULL) {
        (void)cu.curl_multi_cleanup(slot->m);
        slot->m = NULL;
    }
    slot->last_pin[0] = '\0';
}

static void
get_slot_free(void *arg)
{
    struct get_slot *slot = arg;

    get_slot_drop(slot);
    free(slot);
}

static void
get_key_init(void)
{
    get_key_status = pthread_key_create(&get_key, get_slot_free);
}

/* The calling thread's slot, made on first use; NULL without memory (then
 * the GET uses a handle of its own). */
static struct get_slot *
get_slot(void)
{
    struct get_slot *slot;

    (void)pthread_once(&get_once, get_key_init);
    if (get_key_status != 0) {
        return NULL;
    }
    slot = pthread_getspecific(get_key);
    if (slot == NULL) {
        slot = calloc(1, sizeof(*slot));
        if (slot != NULL && pthread_setspecific(get_key, slot) != 0) {
            free(slot);
            slot = NULL;
        }
    }
    return slot;
}

void
httpc_thread_release(void)
{
    struct get_slot *slot;

    (void)pthread_once(&get_once, get_key_init);
    if (get_key_status != 0) {
        return;
    }
    slot = pthread_getspecific(get_key);
    if (slot != NULL) {
        (void)pthread_setspecific(get_key, NULL);
        get_slot_free(slot);
    }
}

unsigned long long
httpc_get_handles_reused(void)
{
    return atomic_load(&gets_reused);
}

void
httpc_resp_init(struct httpc_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
}

void
httpc_resp_fini(struct httpc_resp *resp)
{
    buf_fini(&resp->body);
}

struct sink {
    struct buf *body;
    int overflow;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb;

    if (buf_append(s->body, ptr, n) != AP_OK) {
        s->overflow = 1;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

/* The options every httpc_get sets alike, on a new easy handle. AP_OK or
 * AP_EINTERNAL. */
static ap_err
get_setup(CURL *h)
{
    if (cu.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_USERAGENT, "acmeproxy-validator") !=
            CURLE_OK ||
        /* Never through an http_proxy from the environment: the pinned,
         * policy-checked address is the one to connect to ("*": no host
         * goes through a proxy, and no_proxy is not read either). */
        cu.curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_NOPROXY, "*") != CURLE_OK ||
        /* A kept handle (get_slot): a new connection each time, closed
         * after, and nothing cached from one GET for the next. */
        cu.curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 0L) != CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L) !=
            CURLE_OK) {
        return AP_EINTERNAL;
    }
    /* http-01 may redirect to https (RFC 8555 §8.3), where the validator
     * does not check the certificate: the key authorization proves it. */
    (void)cu.curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    (void)cu.curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    return AP_OK;
}

/* Runs h's transfer on m (curl_easy_perform's loop without its
 * zero-timeout poll before the first step, nor the wake-up socket in each
 * poll), or with curl_easy_perform when m is NULL. h leaves m again.
 * *started: the transfer began (CURLOPT_RESOLVE applied). libcurl ends a
 * transfer at CURLOPT_TIMEOUT_MS; the loop also stops a second after
 * timeout_ms whatever libcurl does. */
static CURLcode
get_run(CURLM *m, CURL *h, unsigned timeout_ms, bool *started)
{
    long long stop = time_mono_ms() + (long long)timeout_ms + 1000;
    CURLcode cc = CURLE_OPERATION_TIMEDOUT;
    CURLMsg *msg;
    int running = 1;
    int left = 0;

    *started = false;
    if (m == NULL) {
        *started = true;
        return cu.curl_easy_perform(h);
    }
    if (cu.curl_multi_add_handle(m, h) != CURLM_OK) {
        return CURLE_FAILED_INIT;
    }
    *started = true;
    while (running > 0) {
        if (cu.curl_multi_perform(m, &running) != CURLM_OK) {
            cc = CURLE_FAILED_INIT;
            break;
        }
        if (running == 0 || time_mono_ms() >= stop) {
            break;
        }
        /* libcurl's own timers (connect, total) shorten the wait */
        if (cu.curl_multi_wait(m, NULL, 0, 1000, NULL) != CURLM_OK) {
            cc = CURLE_FAILED_INIT;
            break;
        }
    }
    while ((msg = cu.curl_multi_info_read(m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
            cc = msg->data.result;
        }
    }
    (void)cu.curl_multi_remove_handle(m, h);
    return cc;
}

ap_err
httpc_get(const struct httpc_req *req, struct httpc_resp *resp)
{
    struct get_slot *slot;
    CURL *h = NULL;
    CURLM *m = NULL;
    CURLcode cc = CURLE_OK;
    struct curl_slist *pin = NULL;
    struct curl_slist *tmp;
    struct sink sink;
    char pinline[600];
    char *loc = NULL;
    bool performed = false;
    bool https = strstr(req->protocols, "https") != NULL;
    ap_err rc = AP_ENET;

    buf_init(&resp->body, req->max_body);
    resp->error[0] = '\0';
    if (curl_bind(resp->error, sizeof(resp->error)) != AP_OK) {
        return AP_ENET;
    }
    sink.body = &resp->body;
    sink.overflow = 0;
    slot = get_slot();
    if (slot != NULL && slot->h != NULL) {
        h = slot->h;
        m = slot->m;
        atomic_fetch_add(&gets_reused, 1);
    } else {
        h = cu.curl_easy_init();
        if (h == NULL) {
            snprintf(resp->error, sizeof(resp->error),
                     "curl_easy_init failed");
            return AP_ENOMEM;
        }
        if (get_setup(h) != AP_OK) {
            cu.curl_easy_cleanup(h);
            snprintf(resp->error, sizeof(resp->error),
                     "libcurl setup failed");
            return AP_EINTERNAL;
        }
        if (slot != NULL) {
            slot->h = h;
            /* without a multi handle: curl_easy_perform */
            slot->m = cu.curl_multi_init();
            m = slot->m;
        }
    }
    if (slot != NULL && slot->last_pin[0] != '\0') {
        /* the previous GET's address out of the DNS cache */
        pin = cu.curl_slist_append(NULL, slot->last_pin);
        if (pin == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
    }
    if (slot != NULL) {
        slot->last_pin[0] = '\0';
    }
    if (req->pin_addr != NULL) {
        if (strchr(req->pin_addr, ':') != NULL) {
            snprintf(pinline, sizeof(pinline), "%s:%u:[%s]", req->pin_host,
                     req->pin_port, req->pin_addr);
        } else {
            snprintf(pinline, sizeof(pinline), "%s:%u:%s", req->pin_host,
                     req->pin_port, req->pin_addr);
        }
        tmp = cu.curl_slist_append(pin, pinline);
        if (tmp == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
        pin = tmp;
        if (slot != NULL) {
            int n = snprintf(slot->last_pin, sizeof(slot->last_pin),
                             "-%s:%u", req->pin_host, req->pin_port);

            if (n < 0 || (size_t)n >= sizeof(slot->last_pin)) {
                /* cannot be removed by name next time: not kept (out) */
                slot->last_pin[0] = '\0';
                slot->h = NULL;
            }
        }
    }
    /* Every option that differs between GETs, set each time (the handle
     * keeps the previous GET's otherwise). */
    if (cu.curl_easy_setopt(h, CURLOPT_URL, req->url) != CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, req->protocols) !=
            CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)req->timeout_ms) != CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms) !=
            CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
        /* A plain GET is one write: Nagle cannot hold it back, so no
         * setsockopt for TCP_NODELAY; a TLS handshake writes more. */
        cu.curl_easy_setopt(h, CURLOPT_TCP_NODELAY, https ? 1L : 0L) !=
            CURLE_OK ||
        cu.curl_easy_setopt(h, CURLOPT_RESOLVE, pin) != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "libcurl setup failed");
        rc = AP_EINTERNAL;
        goto out;
    }
    cc = get_run(m, h, req->timeout_ms, &performed);
    /* once started, the transfer applied CURLOPT_RESOLVE (the old pin is
     * gone): the handle may serve the next GET */
    (void)cu.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cu.curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
        loc != NULL) {
        /* A cut URL would lead elsewhere: too long means none. */
        if (strlen(loc) < sizeof(resp->location)) {
            snprintf(resp->location, sizeof(resp->location), "%s", loc);
        }
    }
    if (sink.overflow) {
        snprintf(resp->error, sizeof(resp->error),
                 "response body larger than %zu bytes", req->max_body);
        rc = AP_ETOOBIG;
        goto out;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(resp->error, sizeof(resp->error), "timed out after %u ms",
                 req->timeout_ms);
        rc = AP_ETIMEOUT;
        goto out;
    }
    if (cc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s",
                 cu.curl_easy_strerror(cc));
        rc = AP_ENET;
        goto out;
    }
    rc = AP_OK;
out:
    /* The resolve list is freed below: the handle must not point at it. */
    (void)cu.curl_easy_setopt(h, CURLOPT_RESOLVE, NULL);
    (void)cu.curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    if (slot != NULL && (slot->h != h || !performed)) {
        /* not kept: an unremovable pin, or the old pin may still be
         * cached */
        slot->h = h;
        get_slot_drop(slot);
    } else if (slot == NULL) {
        cu.curl_easy_cleanup(h);
    }
    cu.curl_slist_free_all(pin);
    return rc;
}

ap_err
httpc_url_split(const char *url, struct httpc_url *out)
{
    CURLU *u = NULL;
    char *scheme = NULL;
    char *host = NULL;
    char *port = NULL;
    char *user = NULL;
    char *pw = NULL;
    char *zone = NULL;
    unsigned char bin[16];
    size_t hlen;
    ap_err rc = AP_EPARSE;

    memset(out, 0, sizeof(*out));
    if (curl_bind(NULL, 0) != AP_OK) {
        return AP_ENET;
    }
    u = cu.curl_url();
    if (u == NULL) {
        return AP_ENOMEM;
    }
    if (cu.curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        cu.curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        cu.curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        cu.curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
            CURLUE_OK) {
        goto out;
    }
    out->has_userinfo =
        cu.curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        cu.curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK;
    if (cu.curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
        goto out; /* an interface-scoped address names no host */
    }
    hlen = strlen(host);
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        /* IPv6 literal; a zone id ("%25eth0") does not parse below. */
        snprintf(out->host, sizeof(out->host), "%.*s", (int)(hlen - 2),
                 host + 1);
    } else if (hlen < sizeof(out->host)) {
        snprintf(out->host, sizeof(out->host), "%s", host);
    } else {
        goto out;
    }
    for (char *p = out->host; *p != '\0'; p++) {
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    }
    if (strlen(scheme) >= sizeof(out->scheme)) {
        goto out;
    }
    snprintf(out->scheme, sizeof(out->scheme), "%s", scheme);
    out->host_is_ip = inet_pton(AF_INET, out->host, bin) == 1 ||
                      inet_pton(AF_INET6, out->host, bin) == 1;
    if (host[0] == '[' && !out->host_is_ip) {
        goto out;
    }
    out->port = (unsigned)strtoul(port, NULL, 10);
    if (out->port == 0 || out->port > 65535) {
        goto out;
    }
    rc = AP_OK;
out:
    cu.curl_free(scheme);
    cu.curl_free(host);
    cu.curl_free(port);
    cu.curl_free(user);
    cu.curl_free(pw);
    cu.curl_free(zone);
    cu.curl_url_cleanup(u);
    return rc;
}

/* ------------------------------------------------------------------ PKI */

struct hdr_sink {
    struct httpc_meta *meta;
};

/* Picks Retry-After out of the response headers (seconds form only; the
 * HTTP-date form is rare from PKIs and then ignored). */
static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct hdr_sink *h = userdata;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    char num[16];
    size_t i;
    size_t k = 0;

    if (h->meta != NULL && n > sizeof(name) - 1 &&
        strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
        for (i = sizeof(name) - 1; i < n && (ptr[i] == ' ' || ptr[i] == '\t');
             i++) {
        }
        while (i < n && ptr[i] >= '0' && ptr[i] <= '9' &&
               k < sizeof(num) - 1) {
            num[k++] = ptr[i++];
        }
        num[k] = '\0';
        if (k > 0 && k < 9) {
            h->meta->retry_after = strtol(num, NULL, 10);
        }
    }
    return n;
}

static const long httpc_auth_bits[HTTPC_AUTH__MAX] = {
    [HTTPC_AUTH_NONE] = CURLAUTH_NONE,
    [HTTPC_AUTH_BASIC] = CURLAUTH_BASIC,
    [HTTPC_AUTH_NTLM] = CURLAUTH_NTLM,
    [HTTPC_AUTH_NEGOTIATE] = CURLAUTH_NEGOTIATE,
};

ap_err
httpc_call(const struct httpc_call *call, struct httpc_resp *resp,
           struct httpc_meta *meta)
{
    CURL *h = NULL;
    CURLcode cc = CURLE_OK;
    struct curl_slist *hdrs = NULL;
    struct curl_slist *tmp;
    struct sink sink;
    struct hdr_sink hsink;
    char *ctype = NULL;
    int bad = 0;
    ap_err rc = AP_ENET;

    if (call->secret_answer) {
        buf_init_secret(&resp->body, call->max_body);
    } else {
        buf_init(&resp->body, call->max_body);
    }
    resp->status = 0;
    resp->error[0] = '\0';
    sink.body = &resp->body;
    sink.overflow = 0;
    hsink.meta = meta;
    if (meta != NULL) {
        meta->content_type[0] = '\0';
        meta->retry_after = -1;
    }
    if (call->auth >= HTTPC_AUTH__MAX || call->url == NULL ||
        call->method == NULL) {
        snprintf(resp->error, sizeof(resp->error), "bad request setup");
        return AP_EINVAL;
    }
    if (curl_bind(resp->error, sizeof(resp->error)) != AP_OK) {
        return AP_ENET;
    }
    h = cu.curl_easy_init();
    if (h == NULL) {
        snprintf(resp->error, sizeof(resp->error), "curl_easy_init failed");
        return AP_ENOMEM;
    }
    for (size_t i = 0; call->headers != NULL && call->headers[i] != NULL;
         i++) {
        tmp = cu.curl_slist_append(hdrs, call->headers[i]);
        if (tmp == NULL) {
            rc = AP_ENOMEM;
            snprintf(resp->error, sizeof(resp->error), "out of memory");
            goto out;
        }
        hdrs = tmp;
    }
    /* libcurl adds "Expect: 100-continue" to large bodies; PKIs behind
     * IIS or Java containers do not need the extra round trip. */
    tmp = cu.curl_slist_append(hdrs, "Expect:");
    if (tmp == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    hdrs = tmp;
    bad |= cu.curl_easy_setopt(h, CURLOPT_URL, call->url) != CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
                            call->allow_http ? "http,https" : "https") !=
           CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                            (long)(call->connect_timeout_ms
                                       ? call->connect_timeout_ms
                                       : call->timeout_ms)) != CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                               (long)call->timeout_ms) != CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink) != CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) !=
           CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_HEADERDATA, &hsink) != CURLE_OK;
    bad |= cu.curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK;
    /* A browser-like agent: certsrv picks content types by it. */
    bad |= cu.curl_easy_setopt(h, CURLOPT_USERAGENT,
                            "Mozilla/5.0 (compatible; acmeproxy)") !=
           CURLE_OK;
    if (strcmp(call->method, "GET") == 0) {
        bad |= cu.curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    } else {
        bad |= cu.curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t)(call->body ? call->body_len
                                                        : 0)) != CURLE_OK;
        bad |= cu.curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                                call->body ? call->body : "") != CURLE_OK;
        if (strcmp(call->method, "POST") != 0) {
            bad |= cu.curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                                       call->method) != CURLE_OK;
        }
    }
    if (call->ca_file != NULL && call->ca_file[0] != '\0') {
        bad |= cu.curl_easy_setopt(h, CURLOPT_CAINFO, call->ca_file) !=
               CURLE_OK;
    }
    if (call->client_cert != NULL && call->client_cert[0] != '\0') {
        bad |= cu.curl_easy_setopt(h, CURLOPT_SSLCERT, call->client_cert) !=
               CURLE_OK;
        bad |= cu.curl_easy_setopt(h, CURLOPT_SSLKEY,
                                call->client_key ? call->client_key
                                                 : call->client_cert) !=
               CURLE_OK;
    }
    if (call->auth != HTTPC_AUTH_NONE) {
        bad |= cu.curl_easy_setopt(h, CURLOPT_HTTPAUTH,
                                httpc_auth_bits[call->auth]) != CURLE_OK;
        if (call->auth == HTTPC_AUTH_NEGOTIATE) {
            /* GSS-API takes the identity from the credential cache. */
            bad |= cu.curl_easy_setopt(h, CURLOPT_USERPWD, ":") != CURLE_OK;
        } else {
            bad |= cu.curl_easy_setopt(h, CURLOPT_USERNAME,
                                    call->user ? call->user : "") !=
                   CURLE_OK;
            bad |= cu.curl_easy_setopt(h, CURLOPT_PASSWORD,
                                    call->password ? call->password : "") !=
                   CURLE_OK;
        }
    }
    if (bad) {
        snprintf(resp->error, sizeof(resp->error), "libcurl setup failed");
        rc = AP_EINTERNAL;
        goto out;
    }
    cc = cu.curl_easy_perform(h);
    (void)cu.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    {
        long req_bytes = 0;

        resp->sent = cu.curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE,
                                       &req_bytes) == CURLE_OK &&
                     req_bytes > 0;
    }
    if (meta != NULL &&
        cu.curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK &&
        ctype != NULL) {
        snprintf(meta->content_type, sizeof(meta->content_type), "%s", ctype);
    }
    if (sink.overflow) {
        snprintf(resp->error, sizeof(resp->error),
                 "response body larger than %zu bytes", call->max_body);
        rc = AP_ETOOBIG;
        goto out;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(resp->error, sizeof(resp->error), "timed out after %u ms",
                 call->timeout_ms);
        rc = AP_ETIMEOUT;
        goto out;
    }
    if (cc != CURLE_OK) {
        /* curl_easy_strerror names the failure, never the credentials. */
        snprintf(resp->error, sizeof(resp->error), "%s",
                 cu.curl_easy_strerror(cc));
        rc = AP_ENET;
        goto out;
    }
    rc = AP_OK;
out:
    /* curl_slist_append copied each line, X-Vault-Token and Authorization
     * values among them. */
    for (tmp = hdrs; tmp != NULL; tmp = tmp->next) {
        explicit_bzero(tmp->data, strlen(tmp->data));
    }
    cu.curl_slist_free_all(hdrs);
    cu.curl_easy_cleanup(h);
    return rc;
}

char *
httpc_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out;
    char *p;

    if (n > (SIZE_MAX - 1) / 3) {
        return NULL;
    }
    out = malloc(n * 3 + 1);
    if (out == NULL) {
        return NULL;
    }
    p = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}
