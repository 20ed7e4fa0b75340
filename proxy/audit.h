/* proxy/audit.h: the append-only audit log, one JSON object per line.
 *
 * Every decision goes here: account created/updated/deactivated/key
 * changed, order created, validation attempts with their evidence,
 * finalize, the PKI's answer, revocation, EAB keys minted and revoked.
 * Each line has "time" (RFC 3339), "event", "request" (the request or job
 * id) and the event's fields; it is built with cJSON, never by hand, and
 * never holds a secret. Lines are written with one write(2) on an
 * O_APPEND descriptor; audit_reopen() (on SIGHUP) opens the file again for
 * rotation; with syslog on, each line also goes to syslog (LOG_AUTHPRIV).
 * A failed write is returned: callers fail the operation rather than act
 * without a record. Thread-safe. */
#ifndef AP_PROXY_AUDIT_H
#define AP_PROXY_AUDIT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "common/err.h"

struct audit;

/* Opens path for appending (mode 0600, created if missing). */
AP_MUST_CHECK ap_err audit_open(const char *path, bool use_syslog,
                                struct audit **out, char *errbuf,
                                size_t errlen);
void audit_close(struct audit *a);
/* Reopens the file (after logrotate moved it). */
AP_MUST_CHECK ap_err audit_reopen(struct audit *a);

/* Writes one event. fields (may be NULL) is taken and freed. a may be
 * NULL (no audit log: AP_OK). */
AP_MUST_CHECK ap_err audit_event(struct audit *a, const char *event,
                                 const char *request_id, cJSON *fields);

#endif /* AP_PROXY_AUDIT_H */
