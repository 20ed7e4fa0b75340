/* common/httpc.h: outbound HTTP through libcurl, with caps.
 *
 * Every request has a connect and a total deadline, a response-size cap,
 * a protocol allow-list, no automatic redirects and no signals; the
 * address to connect to can be pinned (resolve first, check, then connect
 * to exactly that address). The only file that includes curl.h.
 * libcurl is loaded (dlopen) and initialised on the first call that needs
 * it, once per process; every function is thread-safe. */
#ifndef AP_COMMON_HTTPC_H
#define AP_COMMON_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/* Optional: loads and initialises libcurl now rather than at the first
 * request (which does it itself), to fail early. AP_OK, or AP_ENET when
 * libcurl cannot be loaded. Thread-safe. */
AP_MUST_CHECK ap_err httpc_global_init(void);
/* curl_global_cleanup, if libcurl was loaded; call once at exit, after
 * every thread that makes requests has stopped. */
void httpc_global_fini(void);

struct httpc_req {
    const char *url;
    const char *pin_host;   /* with pin_addr: connect host:port there */
    unsigned pin_port;
    const char *pin_addr;   /* text IPv4 or IPv6 address, or NULL */
    unsigned timeout_ms;    /* total */
    size_t max_body;        /* response cap; larger is AP_ETOOBIG */
    const char *protocols;  /* e.g. "http" or "http,https" */
};

struct httpc_resp {
    long status;            /* HTTP status, 0 when none came */
    struct buf body;        /* capped at max_body */
    char location[512];     /* Location header of a redirect, if any */
    char error[256];        /* why it failed, for a problem detail */
    bool sent;              /* httpc_call: the request went out, so a
                               failure after it leaves its effect unknown
                               (a timeout, a dropped connection) */
};

void httpc_resp_init(struct httpc_resp *resp);
void httpc_resp_fini(struct httpc_resp *resp);

/* Performs one GET on a new connection (never one left by an earlier
 * GET). AP_OK when a response arrived (any status); AP_ENET, AP_ETIMEOUT,
 * AP_ETOOBIG otherwise, with resp->error set. The calling thread keeps
 * its libcurl handles for its next GET (every option that differs between
 * GETs set anew, nothing cached: no connection, TLS session nor address)
 * until it ends or calls httpc_thread_release. Never through a proxy,
 * whatever the environment names. */
AP_MUST_CHECK ap_err httpc_get(const struct httpc_req *req,
                               struct httpc_resp *resp);
/* Frees the calling thread's kept handles (if any). */
void httpc_thread_release(void);
/* For tests and metrics: GETs that ran on a kept handle so far. */
unsigned long long httpc_get_handles_reused(void);

/* The parts of an absolute http(s) URL that validation policy looks at. */
struct httpc_url {
    char scheme[8];         /* lower case: "http", "https", ... */
    char host[256];         /* lower case; an IPv6 literal without [] */
    unsigned port;          /* explicit, or the scheme's default */
    int has_userinfo;       /* "user:pass@" present */
    int host_is_ip;         /* host is an IPv4 or IPv6 literal */
};

/* Splits url with libcurl's URL parser (any scheme it knows). AP_EPARSE
 * when it is not an absolute URL with a host; AP_ENET when libcurl cannot
 * be loaded. */
AP_MUST_CHECK ap_err httpc_url_split(const char *url, struct httpc_url *out);

/* Authentication schemes of httpc_call (libcurl's CURLAUTH_*). */
enum httpc_auth {
    HTTPC_AUTH_NONE,
    HTTPC_AUTH_BASIC,
    HTTPC_AUTH_NTLM,
    HTTPC_AUTH_NEGOTIATE,   /* Kerberos via GSS-API; user/password unused */
    HTTPC_AUTH__MAX
};

/* One request to a PKI. Every pointer is borrowed for the call. */
struct httpc_call {
    const char *method;         /* "GET", "POST", "PUT", ... */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated */
    const char *body;           /* may be NULL */
    size_t body_len;
    const char *ca_file;        /* PEM bundle for the server; NULL: system */
    const char *client_cert;    /* PEM file, or NULL */
    const char *client_key;     /* PEM file, or NULL */
    enum httpc_auth auth;
    const char *user;           /* for BASIC and NTLM ("DOMAIN\\user") */
    const char *password;
    unsigned connect_timeout_ms;
    unsigned timeout_ms;        /* total */
    size_t max_body;            /* response cap; larger is AP_ETOOBIG */
    int allow_http;             /* non-zero: http:// too (tests, sidecars) */
    int secret_answer;          /* non-zero: the answer carries a secret
                                   (a login token): resp->body is wiped as
                                   it grows and when freed */
};

/* What a PKI answered besides status and body (httpc_resp). */
struct httpc_meta {
    char content_type[128];
    long retry_after;           /* Retry-After in seconds; -1 when absent */
};

/* Performs one request with the TLS, auth and limits of call. AP_OK when a
 * response arrived (any status); AP_ENET, AP_ETIMEOUT, AP_ETOOBIG
 * otherwise, with resp->error set (never containing credentials). meta
 * may be NULL. The copies made of call->headers (which may carry a token)
 * are wiped before they are freed. Thread-safe. */
AP_MUST_CHECK ap_err httpc_call(const struct httpc_call *call,
                                struct httpc_resp *resp,
                                struct httpc_meta *meta);

/* Percent-encodes every byte of s but RFC 3986 unreserved characters into
 * a new string (caller frees); NULL on ENOMEM. */
char *httpc_escape(const char *s);

#endif /* AP_COMMON_HTTPC_H */
