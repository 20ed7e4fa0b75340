/* common/log.c: stderr logging with one line per event. */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int log_level = LOG_LVL_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_name[] = {"ERR", "WARN", "INFO", "DEBUG"};

void
log_msg(int level, const char *module, const char *fmt, ...)
{
    char line[2048];
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if (level < LOG_LVL_ERR || level > LOG_LVL_DEBUG) {
        level = LOG_LVL_ERR;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0) {
        line[0] = '\0';
    }
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp, ts.tv_nsec / 1000000L,
            level_name[level], module, line);
    pthread_mutex_unlock(&log_lock);
}

int
log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_LVL_DEBUG; i++) {
        if (strcasecmp(name, level_name[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(name, "error") == 0) {
        return LOG_LVL_ERR;
    }
    return -1;
}

void
log_clean(const void *in, size_t inlen, char *out, size_t outlen)
{
    const unsigned char *p = in;
    size_t i;

    if (outlen == 0) {
        return;
    }
    for (i = 0; i < inlen && i + 1 < outlen; i++) {
        out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    }
    out[i] = '\0';
}
