/* proxy/nonce.h: anti-replay nonces (RFC 8555 §6.5) without storage.
 *
 * A nonce is base64url(instance id | counter | issue time | HMAC-SHA256
 * truncated to 128 bits) under a key made at start. The server remembers
 * only which counters of a sliding window were used, in a bitmap, so memory
 * is fixed (NONCE_WINDOW bits) whatever the load. A nonce is accepted once,
 * within its TTL, while its counter is inside the window and from this
 * instance (the instance id lets several instances later tell another's
 * nonce from a forged one: both answer badNonce with a fresh nonce).
 * A restart makes all earlier nonces unknown: clients retry once.
 * Thread-safe. */
#ifndef AP_PROXY_NONCE_H
#define AP_PROXY_NONCE_H

#include <stddef.h>

#include "common/err.h"

#define NONCE_LEN 43        /* characters, without the NUL */
#define NONCE_WINDOW (1u << 20)

enum nonce_check {
    NONCE_OK,
    NONCE_UNKNOWN,  /* not ours: malformed, forged or another instance */
    NONCE_REPLAYED, /* already used */
    NONCE_EXPIRED   /* older than the TTL or slid out of the window */
};

struct nonce_ctx;

AP_MUST_CHECK ap_err nonce_ctx_new(unsigned ttl_sec, struct nonce_ctx **out);
void nonce_ctx_free(struct nonce_ctx *nc);

/* Writes a fresh nonce, NUL-terminated, into out (outlen > NONCE_LEN). */
AP_MUST_CHECK ap_err nonce_issue(struct nonce_ctx *nc, char *out,
                                 size_t outlen);
/* Checks nonce and marks it used. MAC compared in constant time. */
enum nonce_check nonce_consume(struct nonce_ctx *nc, const char *nonce);

#endif /* AP_PROXY_NONCE_H */
