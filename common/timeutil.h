/* common/timeutil.h: wall clock, monotonic clock and RFC 3339 text. */
#ifndef AP_COMMON_TIMEUTIL_H
#define AP_COMMON_TIMEUTIL_H

#include <stddef.h>

#include "common/err.h"

#define TIME_RFC3339_LEN 21 /* "2026-11-28T19:44:09Z" with the NUL */

/* Seconds since the epoch (wall clock). */
long long time_now(void);
/* Milliseconds of a clock that never goes back (for deadlines). */
long long time_mono_ms(void);
/* Formats t (UTC) as RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" into out. */
void time_rfc3339(long long t, char *out, size_t outlen);
/* Parses RFC 3339 (with Z or a numeric offset, optional fraction).
 * AP_EPARSE when it is not that. */
AP_MUST_CHECK ap_err time_parse_rfc3339(const char *s, long long *out);

#endif /* AP_COMMON_TIMEUTIL_H */
