/* common/store.h: durable state, in records, indexes and short
 * transactions.
 *
 * The only file that includes lmdb.h is store.c: the rest of the code sees
 * named tables of string keys and byte values (JSON records), so another
 * engine (PostgreSQL) can stand behind this interface later. Values are
 * copied out before a transaction ends. A transaction belongs to the thread
 * that began it and never spans a network call. Every commit is durable
 * (fsync) before it returns. */
#ifndef AP_COMMON_STORE_H
#define AP_COMMON_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

#define STORE_MAX_KEY 400 /* below LMDB's 511-byte key limit */
#define STORE_MAX_RECORD (16u << 20) /* bytes of one JSON record */

enum store_table {
    STORE_ACCOUNTS,    /* account id -> account record */
    STORE_ACCOUNT_KEYS, /* JWK thumbprint -> account id */
    STORE_ORDERS,      /* order id -> order record */
    STORE_ACCOUNT_ORDERS, /* "<account id>/<created>/<order id>" -> "" */
    STORE_AUTHZS,      /* authz id -> authz record (challenges inside) */
    STORE_CERTS,       /* cert id -> certificate record */
    STORE_SERIALS,     /* serial hex -> cert id */
    STORE_JOBS,        /* job id -> job record */
    STORE_META,        /* schema version and other singletons */
    STORE_ACCOUNT_AUTHZS, /* "<account id>/<type>/<value>" -> newest authz id */
    STORE_EAB,         /* EAB key id -> EAB key record (team, policy) */
    STORE__MAX
};

struct store;
struct store_txn;

/* Opens (creating) the environment in dir, which must exist, with a map
 * of map_size_mb MiB. errbuf gets LMDB's reason on failure. */
AP_MUST_CHECK ap_err store_open(const char *dir, size_t map_size_mb,
                                struct store **out, char *errbuf,
                                size_t errlen);
/* Closes; no transaction may be open. Accepts NULL. */
void store_close(struct store *st);

/* Begins a transaction; a write transaction waits for the one writer slot.
 * *out set only on AP_OK. */
AP_MUST_CHECK ap_err store_begin(struct store *st, bool write,
                                 struct store_txn **out);
/* Commits (durably) and frees txn, also on failure (AP_ESTORE). */
AP_MUST_CHECK ap_err store_commit(struct store_txn *txn);
/* Abandons and frees txn. Accepts NULL. */
void store_abort(struct store_txn *txn);

/* Copies the value of key into a new NUL-terminated buffer (caller frees).
 * AP_ENOTFOUND when absent. */
AP_MUST_CHECK ap_err store_get(struct store_txn *txn, enum store_table t,
                               const char *key, char **val, size_t *len);
/* Writes key = val. With exclusive, AP_EEXIST when key is there. */
AP_MUST_CHECK ap_err store_put(struct store_txn *txn, enum store_table t,
                               const char *key, const void *val, size_t len,
                               bool exclusive);
/* AP_ENOTFOUND when absent. */
AP_MUST_CHECK ap_err store_del(struct store_txn *txn, enum store_table t,
                               const char *key);

/* Called for each key of a scan, in key order; key and val are valid only
 * during the call. Return true to go on, false to stop. */
typedef bool (*store_scan_fn)(void *arg, const char *key, const char *val,
                              size_t len);
/* Visits the keys that start with prefix and sort after after (NULL: from
 * the first). */
AP_MUST_CHECK ap_err store_scan(struct store_txn *txn, enum store_table t,
                                const char *prefix, const char *after,
                                store_scan_fn fn, void *arg);

/* Record helpers: the value is a JSON object of at most STORE_MAX_RECORD
 * bytes (AP_ETOOBIG above). The text copies they make are wiped before
 * they are freed (records may hold secrets). */
AP_MUST_CHECK ap_err store_get_json(struct store_txn *txn, enum store_table t,
                                    const char *key, cJSON **out);
AP_MUST_CHECK ap_err store_put_json(struct store_txn *txn, enum store_table t,
                                    const char *key, const cJSON *obj,
                                    bool exclusive);

/* Writes a consistent, compacted copy of the whole environment to the
 * file path (created, must not exist), while readers and writers go on
 * (mdb_env_copy2 with MDB_CP_COMPACT). errbuf says why on failure. */
AP_MUST_CHECK ap_err store_backup(struct store *st, const char *path,
                                  char *errbuf, size_t errlen);

/* Number of records in t (for the admin view and the benchmark). */
AP_MUST_CHECK ap_err store_count(struct store_txn *txn, enum store_table t,
                                 size_t *out);

#endif /* AP_COMMON_STORE_H */
