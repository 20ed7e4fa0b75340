/* common/id.c: time-ordered and random base64url identifiers. */
#include "common/id.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "common/b64url.h"
#include "common/crypto.h"

#define ID_RANDOM_BYTES 12  /* the random part of an id: 16 characters */

/* The base64url alphabet in ASCII order: digit d of the time part is
 * sorted[d], so byte order is numeric order. */
static const char sorted[] =
    "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
_Static_assert(sizeof(sorted) == 65, "64 characters");
_Static_assert(ID_LEN == ID_TIME_LEN + (ID_RANDOM_BYTES * 4) / 3,
               "ID_LEN is the time part and the random part");

static ap_err
random_b64(size_t nbytes, char *out, size_t outlen)
{
    unsigned char raw[32];
    ap_err rc;

    if (nbytes > sizeof(raw)) {
        return AP_EINVAL;
    }
    rc = crypto_random(raw, nbytes);
    if (rc == AP_OK) {
        rc = b64url_encode(raw, nbytes, out, outlen);
    }
    explicit_bzero(raw, sizeof(raw));
    return rc;
}

ap_err
id_new_at(long long ms, char *out, size_t outlen)
{
    unsigned long long v;

    if (outlen <= ID_LEN) {
        return AP_ETOOBIG;
    }
    /* 48 bits, the top one set: the first character is sorted[32..63]
     * ('V'..'z'), never '-', and the other 47 bits are the clock. */
    v = (unsigned long long)(ms > 0 ? ms : 0) & ((1ULL << 47) - 1);
    v |= 1ULL << 47;
    for (int i = 0; i < ID_TIME_LEN; i++) {
        out[i] = sorted[(v >> (6 * (ID_TIME_LEN - 1 - i))) & 63];
    }
    return random_b64(ID_RANDOM_BYTES, out + ID_TIME_LEN,
                      outlen - ID_TIME_LEN);
}

ap_err
id_new(char *out, size_t outlen)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        ts.tv_sec = 0;
        ts.tv_nsec = 0;
    }
    return id_new_at((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, out,
                     outlen);
}

ap_err
id_new_seq(struct id_seq *seq, char *out, size_t outlen)
{
    struct timespec ts;
    long long ms;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        ts.tv_sec = 0;
        ts.tv_nsec = 0;
    }
    ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    pthread_mutex_lock(&seq->lock);
    if (ms <= seq->last_ms && seq->last_ms - ms < ID_SEQ_AHEAD_MS) {
        ms = seq->last_ms + 1;
    }
    seq->last_ms = ms;
    pthread_mutex_unlock(&seq->lock);
    return id_new_at(ms, out, outlen);
}

ap_err
id_random(char *out, size_t outlen)
{
    ap_err rc;

    /* Never a leading '-': ids are typed on command lines (the admin
     * subcommands), where a leading '-' reads as an option. */
    for (int i = 0; i < 32; i++) {
        rc = random_b64(16, out, outlen);
        if (rc != AP_OK || out[0] != '-') {
            return rc;
        }
    }
    out[0] = 'A';
    return AP_OK;
}

ap_err
id_token(char *out, size_t outlen)
{
    return random_b64(32, out, outlen);
}

/* id_request's process prefix: 9 bytes from the kernel, made once. */
static unsigned char req_prefix[9];
static ap_err req_prefix_rc = AP_EINTERNAL;
static pthread_once_t req_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t req_count;

static void
req_prefix_make(void)
{
    req_prefix_rc = crypto_random_os(req_prefix, sizeof(req_prefix));
}

ap_err
id_request(char *out, size_t outlen)
{
    unsigned char raw[16];
    uint_fast64_t n;
    ap_err rc;

    if (pthread_once(&req_once, req_prefix_make) != 0) {
        return AP_EINTERNAL;
    }
    if (req_prefix_rc != AP_OK) {
        return req_prefix_rc;
    }
    n = atomic_fetch_add_explicit(&req_count, 1, memory_order_relaxed);
    memcpy(raw, req_prefix, sizeof(req_prefix));
    for (size_t i = sizeof(raw); i > sizeof(req_prefix); i--) {
        raw[i - 1] = (unsigned char)(n & 0xff);
        n >>= 8;
    }
    rc = b64url_encode(raw, sizeof(raw), out, outlen);
    if (rc == AP_OK && out[0] == '-') {
        out[0] = 'A'; /* as id_new: never read as an option */
    }
    return rc;
}

int
id_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64) {
        return 0;
    }
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789-_") == n;
}
