/* proxy/webhook.h: per-team webhooks of renewal oversight.
 *
 * Events, each a JSON POST to the team's [team.NAME] webhook:
 *   certificate.issued           a certificate of the team was stored;
 *   certificate.renewalOverdue   its RFC 9773 renewal window ended and no
 *                                newer certificate replaces it
 *                                (proxy/report.h decides);
 *   certificate.expiring         it ends within [oversight] expiry_days
 *                                and nothing replaces it.
 * Each is queued once per certificate and kind: the store remembers it
 * (STORE_META "wh/<kind>/<cert id>" = when it was queued) in the
 * transaction that queues the durable job (proxy/jobs.h, kind
 * JOB_WEBHOOK, target "<kind>.<cert id>"), so a restart neither loses nor
 * repeats one. Issuance only writes that job row in its own transaction:
 * the POST runs on the webhook workers, never on the issuance path. A
 * periodic job (target "check", at start and every [oversight]
 * check_interval) queues the overdue and expiring events.
 *
 * Delivery: https only, the team's webhook_ca (else the system store),
 * [oversight] webhook_timeout_ms, a 4 KiB answer cap, no redirects
 * (common/httpc.h). A 2xx answer ends the event ("webhook.sent" audited);
 * anything else retries after 2^attempts seconds (at most 300 s) until
 * the event is [oversight] webhook_max_age old, then it is dropped
 * ("webhook.dropped" audited). With webhook_secret_file, the headers
 * carry X-Acmeproxy-Timestamp (Unix seconds) and X-Acmeproxy-Signature
 * "sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>": the receiver
 * checks the MAC in constant time and refuses an old timestamp (replay).
 * The key file's content (trailing newline dropped) is the key; it is
 * read at each delivery and wiped after use. Thread-safe. */
#ifndef AP_PROXY_WEBHOOK_H
#define AP_PROXY_WEBHOOK_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/app.h"
#include "proxy/jobs.h"

#define WEBHOOK_MAX_ANSWER 4096     /* bytes of a receiver's answer kept */
#define WEBHOOK_MAX_SECRET 4096     /* bytes of a webhook_secret_file */
#define WEBHOOK_MAX_BACKOFF_SEC 300
#define WEBHOOK_CHECK_TARGET "check"

enum webhook_kind {
    WEBHOOK_ISSUED,
    WEBHOOK_OVERDUE,
    WEBHOOK_EXPIRING,
    WEBHOOK__MAX
};

/* "certificate.issued", "certificate.renewalOverdue",
 * "certificate.expiring". */
const char *webhook_event_name(enum webhook_kind k);

/* Queues event k of certificate cert_id (of account_id) in txn, when the
 * account's team has a webhook and the event was not queued before.
 * *queued (may be NULL) tells whether it was. AP_ESTORE, AP_ENOMEM. */
AP_MUST_CHECK ap_err webhook_queue(const struct app *app,
                                   struct store_txn *txn,
                                   enum webhook_kind k, const char *cert_id,
                                   const char *account_id, bool *queued);

/* Makes the periodic check due now (at start). One write transaction. */
AP_MUST_CHECK ap_err webhook_schedule_check(struct store *st);

/* The check itself: the report as of now (proxy/report.h) and an event
 * queued for each row of a team with a webhook (one short write
 * transaction each). *n (may be NULL) gets how many were queued. */
AP_MUST_CHECK ap_err webhook_check(const struct app *app, long long now,
                                   size_t *n);

/* The runner of JOB_WEBHOOK jobs (job_fn, proxy/jobs.h). */
long long webhook_run(struct app *app, const struct job *job);

/* The signature header's value for body at ts with key: "sha256=" and 64
 * lower-case hex digits into out (outlen >= 72). Exported for the unit
 * tests. */
AP_MUST_CHECK ap_err webhook_sign(const unsigned char *key, size_t keylen,
                                  long long ts, const char *body,
                                  char *out, size_t outlen);

#endif /* AP_PROXY_WEBHOOK_H */
