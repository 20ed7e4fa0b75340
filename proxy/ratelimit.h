/* proxy/ratelimit.h: counters over fixed one-hour windows, in memory.
 *
 * A limiter counts events per key ("acct:<ip>", "order:<account id>",
 * "fail:<identifier>") in the current hour. It holds at most
 * RATELIMIT_SLOTS keys; when full, the oldest window is evicted, so an
 * attacker who floods keys can at worst reset other keys' counts, never
 * grow memory. Slots are found by an HMAC of the key under a secret made
 * at start, so which keys collide cannot be computed from outside. Counts
 * start again after a restart. Thread-safe. */
#ifndef AP_PROXY_RATELIMIT_H
#define AP_PROXY_RATELIMIT_H

#include <stdbool.h>

#include "common/err.h"

#define RATELIMIT_SLOTS 8192
#define RATELIMIT_WINDOW_SEC 3600

struct ratelimit;

AP_MUST_CHECK ap_err ratelimit_new(struct ratelimit **out);
void ratelimit_free(struct ratelimit *rl);

/* True when key has had fewer than limit events this window (limit 0: no
 * limit); then, when count is set, records one more. *retry_after gets
 * the seconds until the window ends when the limit is reached. */
bool ratelimit_take(struct ratelimit *rl, const char *key, unsigned limit,
                    bool count, unsigned *retry_after);
/* Records one event for key without checking. */
void ratelimit_note(struct ratelimit *rl, const char *key);

#endif /* AP_PROXY_RATELIMIT_H */
