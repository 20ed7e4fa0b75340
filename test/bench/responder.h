/* test/bench/responder.h: the load generator's http-01 responder.
 *
 * A small HTTP/1.1 server on one loopback address and port that answers
 * GET /.well-known/acme-challenge/<token> with the key authorization
 * registered for token (404 otherwise) and closes the connection. A few
 * threads block in accept(); each connection has a 5 s read and write
 * deadline and a 4 KiB request cap; requests are read with http-parser.
 * Thread-safe. */
#ifndef AP_TEST_BENCH_RESPONDER_H
#define AP_TEST_BENCH_RESPONDER_H

#include <stddef.h>

#include "common/err.h"

struct responder;

/* Listens on addr:port (IPv4 or IPv6 text) with nthreads threads.
 * errbuf gets the reason on failure; *out set only on AP_OK. */
AP_MUST_CHECK ap_err responder_start(const char *addr, unsigned port,
                                     unsigned nthreads,
                                     struct responder **out, char *errbuf,
                                     size_t errlen);
/* Stops the threads and frees everything. Accepts NULL. */
void responder_stop(struct responder *r);

/* Serves keyauth (copied) for token (copied) until responder_del. */
AP_MUST_CHECK ap_err responder_add(struct responder *r, const char *token,
                                   const char *keyauth);
void responder_del(struct responder *r, const char *token);

/* Requests answered with 200 / with 404 or 400 so far. */
void responder_counts(struct responder *r, unsigned long *hits,
                      unsigned long *misses);

#endif /* AP_TEST_BENCH_RESPONDER_H */
