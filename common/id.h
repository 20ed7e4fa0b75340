/* common/id.h: identifiers for accounts, orders, authorizations,
 * certificates and requests, and challenge tokens, from the shared DRBG in
 * the base64url alphabet. Thread-safe after crypto_init.
 *
 * An id (id_new) is time-ordered: 8 characters of the wall clock in
 * milliseconds, then 16 characters of randomness (96 bits). The time part
 * spells the clock in the 64 base64url characters taken in ASCII order,
 * so an id of a later millisecond sorts after every id of an earlier one
 * byte by byte (strcmp, LMDB's key order, PostgreSQL's COLLATE "C"): the
 * records a flow writes sit together at the right edge of each table and
 * index instead of on random pages all over it, which keeps the pages a
 * flow touches few and hot however large the store grows (test/bench/
 * README.md, "Scale"). Ids of one millisecond are in random order. An id
 * tells when it was made (to the millisecond, as the records' "created"
 * does) and is as hard to guess as 96 random bits; ids never start with
 * '-' (they are typed on command lines, where that reads as an option).
 * Stores keep working with ids of the older 22-character random form. */
#ifndef AP_COMMON_ID_H
#define AP_COMMON_ID_H

#include <pthread.h>
#include <stddef.h>

#include "common/err.h"

#define ID_TIME_LEN 8     /* characters of the time part (48 bits) */
#define ID_LEN 24         /* ID_TIME_LEN + 16 (12 random bytes), no NUL */
#define ID_RANDOM_LEN 22  /* id_random: 16 random bytes, without the NUL */
#define TOKEN_LEN 43      /* 32 bytes in base64url, without the NUL */

/* Writes a new time-ordered id into out (outlen > ID_LEN). */
AP_MUST_CHECK ap_err id_new(char *out, size_t outlen);
/* A sequence of ids that sort in the order they are made (a table's
 * writer makes them inside its serial write transactions): ids of one
 * millisecond are otherwise in random order, and a record whose id sorts
 * before the last one of its table is not appended (LMDB splits the full
 * last page in two half-full ones). */
struct id_seq {
    pthread_mutex_t lock;
    long long last_ms;          /* the time part of the last id; 0: none */
};
#define ID_SEQ_INIT { PTHREAD_MUTEX_INITIALIZER, 0 }
/* How far ahead of the clock a sequence may run before it follows the
 * clock again (a burst of more ids than milliseconds, or a clock set
 * back by less than this). */
#define ID_SEQ_AHEAD_MS 1000
/* id_new at a millisecond after seq's last one: the clock's, or the last
 * one's plus 1 while the clock has not passed it (by at most
 * ID_SEQ_AHEAD_MS: a clock set back further is followed, and that id may
 * sort low). The 96 random bits are whole; only the time part can run up
 * to a second ahead in a burst. Thread-safe. */
AP_MUST_CHECK ap_err id_new_seq(struct id_seq *seq, char *out,
                                size_t outlen);
/* Writes a request's id into out (outlen > ID_RANDOM_LEN): 22 base64url
 * characters as id_random's, with no time part, unique rather than unguessable: 9 bytes from the kernel made
 * once per process (crypto_random_os) and a 56-bit counter. It names a
 * request in the logs and the audit log and grants nothing; a request
 * that takes no OpenSSL call (the directory) then sets none up.
 * Thread-safe; no crypto_init needed. */
AP_MUST_CHECK ap_err id_request(char *out, size_t outlen);
/* id_new with the clock at ms milliseconds since the epoch (negative
 * counts as 0; the time part keeps the low 47 bits, which last until the
 * year 6429). For tests and tools. */
AP_MUST_CHECK ap_err id_new_at(long long ms, char *out, size_t outlen);
/* Writes a new id of 128 random bits and no order into out (outlen >
 * ID_RANDOM_LEN), never starting with '-': for names that must not tell
 * their time (EAB key ids). */
AP_MUST_CHECK ap_err id_random(char *out, size_t outlen);
/* Writes a new challenge token into out (outlen > TOKEN_LEN). */
AP_MUST_CHECK ap_err id_token(char *out, size_t outlen);
/* True when s has the form of an id or token: 1..64 base64url characters. */
int id_is_valid(const char *s);

#endif /* AP_COMMON_ID_H */
