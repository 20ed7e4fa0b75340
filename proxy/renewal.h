/* proxy/renewal.h: certificate identifiers and renewal windows of ACME
 * Renewal Information (RFC 9773). */
#ifndef AP_PROXY_RENEWAL_H
#define AP_PROXY_RENEWAL_H

#include <stdbool.h>

#include "common/err.h"
#include "common/store.h"
#include "common/x509.h"
#include "proxy/app.h"
#include "proxy/http.h"
#include "proxy/rec_cert.h"

#define RENEWAL_RETRY_AFTER_SEC 21600 /* RFC 9773 §4.3: poll every ~6 h */

/* /acme/renewal-info/<certID>: the suggested window (GET, no account). */
ap_err renewal_info_get(struct app *app, const struct acme_req *req,
                        const char *id, struct acme_resp *resp);

/* Finds the certificate that certid ("<b64url AKI keyIdentifier>.<b64url
 * serial>", RFC 9773 §4.1) names, in txn. AP_EPARSE: not of that form;
 * AP_ENOTFOUND: no such certificate of this server. On AP_OK *rec is the
 * certificate record (free with rec_cert_fini) and *leaf its parsed leaf
 * (x509_cert_free); *rec is zeroed (safe to fini) otherwise too. */
AP_MUST_CHECK ap_err renewal_find_cert(struct store_txn *txn,
                                       const char *certid, struct cert *rec,
                                       struct x509_cert **leaf);

/* The suggested renewal window of a certificate: for a valid one, a slice
 * of 5% of its lifetime (at least an hour) placed between 60% and 75% of
 * the lifetime by a hash of the serial, so certificates issued together do
 * not renew together; for a revoked one, a window that has passed. */
void renewal_window(const struct x509_cert *leaf, bool revoked,
                    long long now, long long *start, long long *end);

#endif /* AP_PROXY_RENEWAL_H */
