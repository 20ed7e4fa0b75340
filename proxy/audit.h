/* proxy/audit.h: the audit trail, an outbox in the store drained in order
 * to a JSON-lines file (and syslog).
 *
 * Every decision goes here: account created/updated/deactivated/key
 * changed, order created, validation attempts with their evidence,
 * finalize, the PKI's answer, refused certificates, possible duplicates
 * at the PKI, revocation, EAB keys minted and revoked, jobs given up.
 *
 * audit_event() writes the event into the store transaction of the change
 * it describes (table STORE_AUDIT), so the event is committed exactly when
 * the change is, and never otherwise. Each event takes "seq", the next
 * number after STORE_META "audit_seq", in that same transaction: numbers
 * are gap-free and strictly increasing across restarts (an aborted
 * transaction takes its number with it), so a reader can prove that no
 * line is missing. After the commit a drainer copies the committed events
 * out, writes them in seq order to the file (one write(2) per batch on an
 * O_APPEND descriptor, then fdatasync), sends each to syslog when asked
 * (LOG_AUTHPRIV), and deletes them from the store. No file or syslog I/O
 * ever happens inside a transaction or under the store's writer lock.
 *
 * Each line is one JSON object built with cJSON: "seq", "time" (RFC 3339),
 * "event", "request" (the request or job id), then the event's fields. No
 * secret is ever written.
 *
 * Crash safety: a drainer that dies after writing and before deleting
 * leaves events that the file already holds; the next drain reads the seq
 * of the file's last line and drops those instead of writing them again.
 * A batch cut short by SIGKILL leaves a partial last line, which the next
 * drain cuts off before it writes. Syslog may get the lines of that one
 * batch twice (same seq); the file gets every event exactly once. Events
 * wait in the store while the file cannot be written (disk full) and are
 * written once it can.
 *
 * Two modes: a drain thread (the server: woken by every commit that wrote
 * an event, and once a second), or synchronous (admin subcommands: the
 * events are in the file when the commit returns). Processes sharing a
 * data directory drain under one flock(2) on lock_path. Thread-safe. */
#ifndef AP_PROXY_AUDIT_H
#define AP_PROXY_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

struct audit;
struct store;
struct store_txn;

#define AUDIT_MAX_LINE 65536 /* bytes of one event; larger is AP_ETOOBIG */

/* Opens path for appending (mode 0600, created if missing) and lock_path
 * (created), hooks the drain to st's commits (store_on_commit) and drains
 * what a previous run left. With thread, a drain thread runs until
 * audit_close. AP_ECONFIG with the reason in errbuf. */
AP_MUST_CHECK ap_err audit_open(struct store *st, const char *path,
                                const char *lock_path, bool use_syslog,
                                bool thread, struct audit **out,
                                char *errbuf, size_t errlen);
/* Drains what is committed, stops the thread, closes. Call before the
 * store is closed. Accepts NULL. */
void audit_close(struct audit *a);
/* Reopens the file (after logrotate moved it) before the next line. */
AP_MUST_CHECK ap_err audit_reopen(struct audit *a);
/* Drains every committed event now. AP_OK when the outbox is empty after
 * it; otherwise the events stay for the next drain. Accepts NULL. */
AP_MUST_CHECK ap_err audit_flush(struct audit *a);

/* Several instances drain this outbox, each into its own file: from now
 * on a batch is read, written and deleted in one write transaction, under
 * the store's writer lock (one across the instances), so no event is
 * written by two instances. An instance that dies between its write and
 * its commit leaves the batch to the next drainer, which may be another
 * instance: the duplicate line then carries the same seq (docs/ha.md
 * "Rate limits and audit"). Accepts NULL. */
void audit_set_shared(struct audit *a);

/* Writes one event into txn (a write transaction). fields (may be NULL)
 * is taken and freed. a may be NULL (no audit log: AP_OK, nothing
 * written). AP_ETOOBIG above AUDIT_MAX_LINE; on any failure the caller
 * aborts its transaction: no change without its event. */
AP_MUST_CHECK ap_err audit_event(struct audit *a, struct store_txn *txn,
                                 const char *event, const char *request_id,
                                 cJSON *fields);

/* An event that goes with no change of the store (a revocation the PKI
 * refused), in a transaction of its own. Takes fields. */
AP_MUST_CHECK ap_err audit_record(struct audit *a, struct store *st,
                                  const char *event, const char *request_id,
                                  cJSON *fields);

/* An event for a function that owns the transaction of the change (EAB
 * keys, revocation marks): it calls audit_note_put in that transaction.
 * fields is borrowed (copied when written). */
struct audit_note {
    struct audit *audit;
    const char *event;
    const char *request_id;
    const cJSON *fields;
};

/* audit_event for a note; note NULL (or its audit NULL): AP_OK. */
AP_MUST_CHECK ap_err audit_note_put(struct store_txn *txn,
                                    const struct audit_note *note);

#endif /* AP_PROXY_AUDIT_H */
