/* proxy/gate.h: the connection gate between accept() and the HTTP workers.
 *
 * civetweb gives each connection a worker thread for as long as it is open;
 * a socket that says nothing, a TLS handshake that stalls or a request head
 * sent one byte a second would hold one. The gate holds them instead: one
 * thread, one epoll set, a few hundred bytes per quiet connection. It
 *   - refuses a connection at once (close) over max_conns open connections
 *     or max_conns_per_ip from one address (IPv6: one /64);
 *   - drives the TLS handshake (mbedTLS, non-blocking: proxy/gate_tls.h)
 *     and reads the request head and body, framed strictly by
 *     proxy/frame.h, answering framing errors itself (400, 413, 414, 431);
 *   - gives every phase a deadline from its start: handshake (from accept),
 *     head (from the end of the handshake, or from the first byte after a
 *     keep-alive pause), body (from the end of the head), keep-alive idle
 *     (from the end of the response). A connection that misses one is
 *     closed and counted;
 *   - hands a connection to a worker (the dispatch function) only with one
 *     whole request read, at most max_inflight at once; the worker answers
 *     and gives it back with gate_done().
 *
 * Threads: gate_accept() and gate_done() may be called from any thread;
 * the rest from the thread that started the gate. */
#ifndef AP_PROXY_GATE_H
#define AP_PROXY_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct gate;
struct gate_conn;

struct gate_limits {
    unsigned handshake_ms;     /* accept to end of TLS handshake */
    unsigned head_ms;          /* request line and fields */
    unsigned body_ms;          /* request body */
    unsigned idle_ms;          /* keep-alive pause between requests */
    unsigned max_conns;        /* open connections, all sources */
    unsigned max_conns_per_ip; /* open connections from one address */
    size_t max_head;           /* bytes of request line + fields */
    size_t max_body;           /* bytes of body */
    unsigned max_inflight;     /* requests with workers at once */
};

/* Counters since start. Closes by deadline, refusals and framing errors
 * are what an operator alerts on. */
struct gate_stats {
    uint64_t accepted;
    uint64_t refused_total;    /* over max_conns */
    uint64_t refused_ip;       /* over max_conns_per_ip */
    uint64_t timeout_handshake;
    uint64_t timeout_head;
    uint64_t timeout_body;
    uint64_t timeout_idle;
    uint64_t tls_failed;       /* handshake or record errors */
    uint64_t bad_request;      /* framing errors answered 400/413/414/431 */
    uint64_t requests;         /* handed to workers */
    uint64_t open;             /* open now */
    uint64_t open_peak;
};

/* One connection with one whole request, for a worker. fd and tls (an
 * mbedtls_ssl_context *, or NULL for plain HTTP) belong to the worker until
 * it calls gate_done(conn, ...). data/len: the request, head and body. */
struct gate_ready {
    int fd;
    void *tls;
    const char *data;
    size_t len;
    struct gate_conn *conn;
    /* the connection's addresses (struct sockaddr); a length of 0 when
     * unknown (the worker asks the socket) */
    const void *peer;
    size_t peer_len;
    const void *local;
    size_t local_len;
};

/* Queues r to a worker. Returns 0 when it will call gate_done(), else the
 * gate closes the connection. Called on the gate's thread. */
typedef int (*gate_dispatch_fn)(void *arg, const struct gate_ready *r);

/* Writes extra header lines ("Name: value\r\n"...) for an answer the gate
 * gives itself (framing errors) into buf, NUL-terminated; returns their
 * length, or 0 for none. Called on the gate's thread. */
typedef size_t (*gate_headers_fn)(void *arg, char *buf, size_t len);

/* Starts the gate's thread. tls_pem_file: key and certificate chain in PEM
 * (NULL: plain HTTP). Raises RLIMIT_NOFILE for max_conns when it can, and
 * lowers max_conns (with a warning) when it cannot. */
AP_MUST_CHECK ap_err gate_start(const struct gate_limits *lim,
                                const char *tls_pem_file,
                                gate_dispatch_fn dispatch,
                                gate_headers_fn headers, void *arg,
                                struct gate **out, char *errbuf,
                                size_t errlen);

/* Replaces the TLS key and certificate (PEM file) of new connections;
 * open ones keep theirs. The old ones stay when the file does not load or
 * the key is not the certificate's (AP_ECONFIG, errbuf says why). Any
 * thread. */
AP_MUST_CHECK ap_err gate_set_tls(struct gate *g, const char *pem_file,
                                  char *errbuf, size_t errlen);

/* True when the gate's thread turns its loop within timeout_ms of being
 * woken (the service watchdog). Any thread. */
bool gate_alive(struct gate *g, unsigned timeout_ms);

/* A socket just accepted (non-blocking); the gate owns fd from here on.
 * peer: the peer's struct sockaddr, peer_len bytes. Any thread. */
void gate_accept(struct gate *g, int fd, const void *peer, size_t peer_len);

/* The worker has answered c's request. keep_alive: the connection may carry
 * another request. Any thread; c is the gate's again. */
void gate_done(struct gate_conn *c, bool keep_alive);

/* A snapshot of the counters. Any thread. */
void gate_stats(struct gate *g, struct gate_stats *out);

/* Stops the gate's thread and closes every connection no worker holds;
 * later accepts are closed at once. Call before stopping the workers. */
void gate_quiesce(struct gate *g);

/* Closes what the workers held and frees g. Call after the workers have
 * stopped. Accepts NULL. */
void gate_free(struct gate *g);

#endif /* AP_PROXY_GATE_H */
