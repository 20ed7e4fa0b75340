/* proxy/server.h: the HTTPS listener (civetweb) and the route table.
 *
 * The only files that include civetweb.h are server.c; handlers see
 * struct acme_req / acme_resp. Every response carries a fresh Replay-Nonce
 * and Link rel="index" (RFC 8555 §6.5, §7.1). */
#ifndef AP_PROXY_SERVER_H
#define AP_PROXY_SERVER_H

#include <stddef.h>

#include "common/err.h"
#include "proxy/app.h"
#include "proxy/gate.h"

struct server;

/* Starts listening on cfg listen with the PEM key+chain in tls_pem_file
 * (NULL: plain HTTP, for base_url http://). app is the root: each request
 * works on app_acquire(app), the configuration current at its start. */
AP_MUST_CHECK ap_err server_start(struct app *app, const char *tls_pem_file,
                                  struct server **out, char *errbuf,
                                  size_t errlen);
/* Replaces the listener's TLS key and certificate (PEM file) for new
 * connections; open ones keep theirs. The old ones stay on error. Any
 * thread. */
AP_MUST_CHECK ap_err server_set_tls(struct server *srv,
                                    const char *tls_pem_file, char *errbuf,
                                    size_t errlen);
/* True when the listener's event loop answers within timeout_ms. Any
 * thread. */
bool server_alive(struct server *srv, unsigned timeout_ms);
/* The connection gate's counters (refusals, closes by deadline, framing
 * errors). Any thread. */
void server_conn_stats(struct server *srv, struct gate_stats *out);

/* Stops accepting, waits for running requests. Accepts NULL. */
void server_stop(struct server *srv);

#endif /* AP_PROXY_SERVER_H */
