/* common/store_int.h: what store.c (the LMDB core) shares with
 * store_jobs.c (the job queues). Not for any other file.
 *
 * The LMDB engine serves one process per data directory, so the claims of
 * running jobs live in memory, in the struct store, with the journal of
 * their starts and ends (<dir>/job-starts): store.c makes and frees them
 * with the store, store_jobs.c alone reads and changes them, under lock. */
#ifndef AP_COMMON_STORE_INT_H
#define AP_COMMON_STORE_INT_H

#include <pthread.h>
#include <stddef.h>

#include "common/store.h"

struct store_claims {
    pthread_mutex_t lock;
    char **ids;           /* the claimed job ids */
    size_t n;
    size_t cap;
    int journal_fd;       /* -1 until the first note */
    char *journal_path;
};

/* The claims of st (valid as long as st). */
struct store_claims *store_claims_of(struct store *st);
/* The store txn belongs to. */
struct store *store_txn_store(const struct store_txn *txn);

#endif /* AP_COMMON_STORE_INT_H */
