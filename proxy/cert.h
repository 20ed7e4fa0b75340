/* proxy/cert.h: certificates as clients see them: download (RFC 8555
 * §7.4.2) as a PEM chain or DER, by POST-as-GET of the owning account
 * ([acme] certificate_get also allows a plain GET), the issuer chain that
 * Link rel="up" names, and revokeCert (§7.6): by the issuing account, by
 * an account holding valid authorizations for every identifier, or by
 * the certificate's key; the PKI revokes first, then the record says so.
 * The records are written by the issuer (proxy/issuer.h). Thread-safe. */
#ifndef AP_PROXY_CERT_H
#define AP_PROXY_CERT_H

#include "common/err.h"
#include "proxy/app.h"
#include "proxy/http.h"

struct audit_note;

/* /acme/cert/<id> */
ap_err cert_get(struct app *app, const struct acme_req *req, const char *id,
                struct acme_resp *resp);
/* /acme/issuer/<cert id>: the issuer of a certificate (Link rel="up"). */
ap_err cert_issuer_get(struct app *app, const struct acme_req *req,
                       const char *id, struct acme_resp *resp);
/* /acme/revoke-cert */
ap_err cert_revoke(struct app *app, const struct acme_req *req,
                   const char *id, struct acme_resp *resp);

/* Marks the certificate with serial (lower-case hex, as stored) revoked
 * with reason (RFC 5280 CRLReason) and the time, in one write
 * transaction that also holds the audit event note (may be NULL); call it
 * once the adapter revoked. AP_ENOTFOUND when no certificate has that
 * serial. Used by revokeCert and the admin revoke. */
AP_MUST_CHECK ap_err cert_mark_revoked(struct app *app, const char *serial,
                                       long long reason,
                                       const struct audit_note *note);

#endif /* AP_PROXY_CERT_H */
