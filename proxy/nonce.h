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
 *
 * Shared nonces (several instances on one store, docs/ha.md "Nonces"):
 * nonce_ctx_new_shared takes the key from a file every instance reads
 * (nonce_key_file), so each instance can check any instance's MAC, and
 * records every redemption, its own nonces' too, as an exclusive put of
 * "nonce/<issued>/<instance>/<counter>" into STORE_META: the put that
 * finds the key there loses (NONCE_REPLAYED), whichever instance made the
 * first. Redemptions that arrive while a mark is being committed wait
 * and are written together in the next transaction (one durable commit
 * for all of them). The local bitmap still refuses replays of one's own
 * nonces without a store round trip. Marks older than the TTL (plus the clock
 * skew allowed between instances) are pruned, a bounded batch at most
 * once a second, in the transaction of a redemption.
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
    NONCE_EXPIRED,  /* older than the TTL or slid out of the window */
    NONCE_FAILED    /* shared: the store could not record it (retry) */
};

/* Bytes of a nonce key file: at least the key's length, at most 4 KiB. */
#define NONCE_KEY_MIN 32
#define NONCE_KEY_MAX 4096
/* Seconds a shared nonce may seem to come from the future (clocks of the
 * instances apart by up to this much). */
#define NONCE_SKEW_SEC 30

struct store;

struct nonce_ctx;

AP_MUST_CHECK ap_err nonce_ctx_new(unsigned ttl_sec, struct nonce_ctx **out);
/* Shared nonces: the HMAC key is derived from the contents of key_file
 * (NONCE_KEY_MIN..NONCE_KEY_MAX bytes, a regular file neither group- nor
 * world-accessible; the bytes are wiped after use) and every redemption is
 * recorded in st (borrowed; must outlive the context). AP_ECONFIG with the
 * reason in errbuf when the file is refused. */
AP_MUST_CHECK ap_err nonce_ctx_new_shared(unsigned ttl_sec,
                                          const char *key_file,
                                          struct store *st,
                                          struct nonce_ctx **out,
                                          char *errbuf, size_t errlen);
void nonce_ctx_free(struct nonce_ctx *nc);

/* Writes a fresh nonce, NUL-terminated, into out (outlen > NONCE_LEN). */
AP_MUST_CHECK ap_err nonce_issue(struct nonce_ctx *nc, char *out,
                                 size_t outlen);
/* Checks nonce and marks it used. MAC compared in constant time. Shared:
 * opens and commits one write transaction of the store (no transaction of
 * the caller's may be open on this thread). */
enum nonce_check nonce_consume(struct nonce_ctx *nc, const char *nonce);

#endif /* AP_PROXY_NONCE_H */
