/* proxy/ratelimit.h: counters over fixed one-hour windows, in memory.
 *
 * A limiter counts events per key ("acct:<ip>", "order:<account id>",
 * "fail:<identifier>") in the current hour. It holds at most
 * RATELIMIT_SLOTS keys; when full, the oldest window is evicted, so an
 * attacker who floods keys can at worst reset other keys' counts, never
 * grow memory. Slots are found by an HMAC of the key under a secret made
 * at start, so which keys collide cannot be computed from outside. Counts
 * start again after a restart. Thread-safe.
 *
 * Shared (several instances on one store, docs/ha.md "Rate limits and
 * audit"): ratelimit_new_shared keeps the counts in the store instead, one
 * record "rl/<window start>/<SHA-256 of the key>" = count in STORE_META per
 * key and window, so the limit holds across every instance: the write
 * transactions of a shared store are serial across instances, so a count
 * read and written in one is exact. The *_in calls count in a write
 * transaction the caller makes anyway; the others make their own. Records
 * of past windows are pruned, a bounded batch at most once a minute, in
 * the transactions that count. A store failure while counting lets the
 * event through (logged): a limit is no reason to refuse service. */
#ifndef AP_PROXY_RATELIMIT_H
#define AP_PROXY_RATELIMIT_H

#include <stdbool.h>

#include "common/err.h"

#define RATELIMIT_SLOTS 8192
#define RATELIMIT_WINDOW_SEC 3600

struct ratelimit;
struct store;
struct store_txn;

AP_MUST_CHECK ap_err ratelimit_new(struct ratelimit **out);
/* Counts in st (borrowed; must outlive rl). */
AP_MUST_CHECK ap_err ratelimit_new_shared(struct store *st,
                                          struct ratelimit **out);
void ratelimit_free(struct ratelimit *rl);

/* True when key has had fewer than limit events this window (limit 0: no
 * limit); then, when count is set, records one more. *retry_after gets
 * the seconds until the window ends when the limit is reached. */
bool ratelimit_take(struct ratelimit *rl, const char *key, unsigned limit,
                    bool count, unsigned *retry_after);
/* Records one event for key without checking. Shared: nothing (count
 * with ratelimit_note_in in the transaction of the event). */
void ratelimit_note(struct ratelimit *rl, const char *key);

/* ratelimit_take inside txn, a write transaction of the caller's when
 * count is set: shared, the count is read (and written) there and commits
 * with it; in memory, txn is unused. *ok as ratelimit_take's result. */
AP_MUST_CHECK ap_err ratelimit_take_in(struct ratelimit *rl,
                                       struct store_txn *txn,
                                       const char *key, unsigned limit,
                                       bool count, bool *ok,
                                       unsigned *retry_after);
/* Shared: records one event for key in txn (a write transaction).
 * In memory: nothing (ratelimit_note after the commit counts it). */
AP_MUST_CHECK ap_err ratelimit_note_in(struct ratelimit *rl,
                                       struct store_txn *txn,
                                       const char *key);

#endif /* AP_PROXY_RATELIMIT_H */
