/* common/log.h: levelled diagnostic logging to stderr.
 *
 * One event per line: "time LEVEL module: message key=value"; under
 * journald (JOURNAL_STREAM is stderr) "<prio>LEVEL module: message", the
 * syslog priority first. The macros
 * test the level before evaluating their arguments. Never pass secrets
 * (keys, MACs, tokens, Authorization headers) to these functions; use
 * log_clean() for bytes that came from the network. Thread-safe. */
#ifndef AP_COMMON_LOG_H
#define AP_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern int log_level; /* the one mutable global besides the shutdown flag */

void log_msg(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(lvl, mod, ...)                                                  \
    do {                                                                       \
        if ((lvl) <= log_level) {                                              \
            log_msg((lvl), (mod), __VA_ARGS__);                                \
        }                                                                      \
    } while (0)
#define log_err(mod, ...) log_at(LOG_LVL_ERR, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_at(LOG_LVL_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...) log_at(LOG_LVL_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_at(LOG_LVL_DEBUG, mod, __VA_ARGS__)

/* True when env (the value of JOURNAL_STREAM, "device:inode") names the
 * file open on fd: journald reads it (sd-daemon(3)). */
bool log_journal_stream(const char *env, int fd);

/* Parses "err", "warn", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *name);

/* Copies at most outlen-1 bytes of in to out, replacing non-printable
 * bytes with '?', always NUL-terminating. For network bytes in logs. */
void log_clean(const void *in, size_t inlen, char *out, size_t outlen);

#endif /* AP_COMMON_LOG_H */
