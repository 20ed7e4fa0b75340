/* common/log.c: stderr logging with one line per event.
 *
 * When stderr is the journal's stream (JOURNAL_STREAM names its device and
 * inode, sd-daemon(3)), each line starts with its syslog priority, "<3>"
 * to "<7>", which journald takes as the entry's priority, and carries no
 * time stamp of its own (the journal has one). */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int log_level = LOG_LVL_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_name[] = {"ERR", "WARN", "INFO", "DEBUG"};
/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const int level_prio[] = {3, 4, 6, 7};
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static bool to_journal;

bool
log_journal_stream(const char *env, int fd)
{
    unsigned long long dev = 0;
    unsigned long long ino = 0;
    struct stat st;
    char tail;

    if (env == NULL ||
        sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2 ||
        fstat(fd, &st) != 0) {
        return false;
    }
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

static void
journal_check(void)
{
    to_journal = log_journal_stream(getenv("JOURNAL_STREAM"), STDERR_FILENO);
}

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
    pthread_once(&journal_once, journal_check);
    pthread_mutex_lock(&log_lock);
    if (to_journal) {
        fprintf(stderr, "<%d>%s %s: %s\n", level_prio[level],
                level_name[level], module, line);
    } else {
        fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp,
                ts.tv_nsec / 1000000L, level_name[level], module, line);
    }
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
