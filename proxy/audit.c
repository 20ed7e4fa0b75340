/* proxy/audit.c: JSON lines on an O_APPEND descriptor. */
#include "proxy/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

struct audit {
    pthread_mutex_t lock;
    char *path;
    int fd;
    bool use_syslog;
};

static int
open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                0600);
}

ap_err
audit_open(const char *path, bool use_syslog, struct audit **out,
           char *errbuf, size_t errlen)
{
    struct audit *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        return AP_ENOMEM;
    }
    a->path = strdup(path);
    a->fd = open_log(path);
    if (a->path == NULL || a->fd == -1) {
        snprintf(errbuf, errlen, "audit log %s: %s", path,
                 a->path ? strerror(errno) : "out of memory");
        free(a->path);
        free(a);
        return AP_ECONFIG;
    }
    a->use_syslog = use_syslog;
    if (use_syslog) {
        openlog("acmeproxy", LOG_PID, LOG_AUTHPRIV);
    }
    pthread_mutex_init(&a->lock, NULL);
    *out = a;
    return AP_OK;
}

void
audit_close(struct audit *a)
{
    if (a == NULL) {
        return;
    }
    if (a->fd != -1) {
        close(a->fd);
    }
    if (a->use_syslog) {
        closelog();
    }
    pthread_mutex_destroy(&a->lock);
    free(a->path);
    free(a);
}

ap_err
audit_reopen(struct audit *a)
{
    int fd;

    if (a == NULL) {
        return AP_OK;
    }
    fd = open_log(a->path);
    if (fd == -1) {
        log_err("audit", "reopening %s: %s", a->path, strerror(errno));
        return AP_EINTERNAL;
    }
    pthread_mutex_lock(&a->lock);
    close(a->fd);
    a->fd = fd;
    pthread_mutex_unlock(&a->lock);
    log_info("audit", "reopened %s", a->path);
    return AP_OK;
}

ap_err
audit_event(struct audit *a, const char *event, const char *request_id,
            cJSON *fields)
{
    char ts[TIME_RFC3339_LEN];
    cJSON *line;
    char *text = NULL;
    size_t len;
    ssize_t n;
    ap_err rc = AP_ENOMEM;

    if (a == NULL) {
        cJSON_Delete(fields);
        return AP_OK;
    }
    line = cJSON_CreateObject();
    if (line == NULL) {
        cJSON_Delete(fields);
        return AP_ENOMEM;
    }
    time_rfc3339(time_now(), ts, sizeof(ts));
    cJSON_AddStringToObject(line, "time", ts);
    cJSON_AddStringToObject(line, "event", event);
    cJSON_AddStringToObject(line, "request", request_id ? request_id : "-");
    if (fields != NULL) {
        cJSON *c = fields->child;

        while (c != NULL) {
            cJSON *next = c->next;

            cJSON_AddItemToObject(line, c->string,
                                  cJSON_DetachItemViaPointer(fields, c));
            c = next;
        }
    }
    text = cJSON_PrintUnformatted(line);
    if (text == NULL) {
        goto out;
    }
    len = strlen(text);
    text[len] = '\n';       /* replaces the NUL: one write for the line */
    pthread_mutex_lock(&a->lock);
    n = write(a->fd, text, len + 1);
    pthread_mutex_unlock(&a->lock);
    text[len] = '\0';
    if (n != (ssize_t)(len + 1)) {
        log_err("audit", "writing %s failed: %s", a->path,
                n < 0 ? strerror(errno) : "short write");
        rc = AP_EINTERNAL;
        goto out;
    }
    if (a->use_syslog) {
        syslog(LOG_INFO, "%s", text);
    }
    rc = AP_OK;
out:
    cJSON_free(text);
    cJSON_Delete(line);
    cJSON_Delete(fields);
    return rc;
}
