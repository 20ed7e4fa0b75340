/* common/timeutil.c: clocks and RFC 3339. */
#include "common/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

long long
time_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec;
}

long long
time_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
time_rfc3339(long long t, char *out, size_t outlen)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

ap_err
time_parse_rfc3339(const char *s, long long *out)
{
    struct tm tm;
    const char *p;
    long long off = 0;
    int v[6];

    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':') {
        return AP_EPARSE;
    }
    v[0] = digits(s, 4);
    v[1] = digits(s + 5, 2);
    v[2] = digits(s + 8, 2);
    v[3] = digits(s + 11, 2);
    v[4] = digits(s + 14, 2);
    v[5] = digits(s + 17, 2);
    for (int i = 0; i < 6; i++) {
        if (v[i] < 0) {
            return AP_EPARSE;
        }
    }
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 ||
        v[4] > 59 || v[5] > 60) {
        return AP_EPARSE;
    }
    p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            return AP_EPARSE;
        }
        while (isdigit((unsigned char)*p)) {
            p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int h = digits(p + 1, 2);
        int m = digits(p + 4, 2);

        if (h < 0 || m < 0 || h > 23 || m > 59) {
            return AP_EPARSE;
        }
        off = (long long)(h * 3600 + m * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return AP_EPARSE;
    }
    if (*p != '\0') {
        return AP_EPARSE;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    *out = (long long)timegm(&tm) - off;
    return AP_OK;
}
