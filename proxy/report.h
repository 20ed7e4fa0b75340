/* proxy/report.h: renewal oversight: which certificates nobody renewed.
 *
 * A certificate is in the report when it is valid (not revoked, not
 * refused), no newer certificate replaces it, and either its RFC 9773
 * renewal window (proxy/renewal.h, the window renewalInfo suggests) has
 * ended ("overdue") or it expires within the report's days ("expiring").
 * One that expired within the last days days stays in it ("expired"):
 * nobody renewed it in time. Replaced means: an RFC 9773 order that named
 * it in "replaces" got its certificate, or a later valid certificate was
 * issued for the same identifier set in the same scope (the team, or the
 * account when it has none).
 *
 * Bounded: two scans of STORE_CERTS in key order inside one read
 * transaction (a consistent view); memory holds the report's rows only,
 * at most max_rows of them ("truncated" says when more qualified). The
 * second scan looks up, for each valid certificate issued after the
 * oldest row, its account and order (O(log n) each). The same document
 * serves `acmeproxy certs report` (table, --json, --csv) and the admin
 * API, and the webhook check (proxy/webhook.h) takes its events from it.
 * Thread-safe (no shared state). */
#ifndef AP_PROXY_REPORT_H
#define AP_PROXY_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"

#define REPORT_MAX_ROWS 10000   /* default and upper bound of max_rows */
#define REPORT_MAX_DAYS 3650

struct report_opts {
    long long now;              /* seconds: the report as of this time */
    unsigned days;              /* expiring: notAfter within now + days */
    size_t max_rows;            /* 1..REPORT_MAX_ROWS; 0: the maximum */
    const char *team;           /* only this team ("" : no team); NULL:
                                   every team */
};

/* The report as one document (*out, new, caller deletes; set on AP_OK):
 *   {"generatedAt", "days", "truncated", "certificates": [row...]}
 * each row {"team" (null: none), "state" ("expired", "overdue" or
 * "expiring"), "overdue" (bool), "daysLeft" (whole days to notAfter,
 * negative once expired), "id", "serial", "account", "order",
 * "identifiers" (["value"...] sorted), "issued", "notAfter",
 * "renewalWindow": {"start", "end"}} (times RFC 3339), sorted by team
 * (none last), then notAfter, then id. AP_EINVAL for bad opts; AP_ESTORE,
 * AP_ENOMEM. Records that do not decode are skipped (rec_bad logs). */
AP_MUST_CHECK ap_err report_build(struct store *st,
                                  const struct report_opts *opts,
                                  cJSON **out);

/* One CSV field (RFC 4180) of in into out: quoted when it holds a comma,
 * quote, CR or LF, quotes doubled; a field that begins with '=', '+',
 * '-', '@', TAB or CR is prefixed with a quote character ("'") and quoted
 * so that no spreadsheet reads it as a formula. AP_ETOOBIG when out
 * (outlen) is too small (out then ""). */
AP_MUST_CHECK ap_err report_csv_field(const char *in, char *out,
                                      size_t outlen);

/* Writes the rows of a report_build document as CSV to f: a header line
 * "team,state,days_left,not_after,window_end,serial,id,account,
 * identifiers", then one line per row (identifiers joined by spaces),
 * CRLF line ends (RFC 4180). AP_EINTERNAL when f fails. */
AP_MUST_CHECK ap_err report_write_csv(const cJSON *doc, FILE *f);

#endif /* AP_PROXY_REPORT_H */
