/* proxy/account.h: accounts (RFC 8555 §7.3): newAccount (with external
 * account binding, §7.3.4), the account resource (contact update,
 * deactivation §7.3.6, whose cascade is proxy/status.h's), the orders
 * list (§7.1.2.1, paginated) and key rollover (§7.3.5). The record and
 * its codec: proxy/rec_account.h. Thread-safe. */
#ifndef AP_PROXY_ACCOUNT_H
#define AP_PROXY_ACCOUNT_H

#include "common/err.h"
#include "proxy/app.h"
#include "proxy/http.h"

/* /acme/new-account */
ap_err account_new(struct app *app, const struct acme_req *req,
                   const char *id, struct acme_resp *resp);
/* /acme/acct/<id> */
ap_err account_post(struct app *app, const struct acme_req *req,
                    const char *id, struct acme_resp *resp);
/* /acme/orders/<account id> */
ap_err account_orders(struct app *app, const struct acme_req *req,
                      const char *id, struct acme_resp *resp);
/* /acme/key-change */
ap_err account_key_change(struct app *app, const struct acme_req *req,
                          const char *id, struct acme_resp *resp);

#endif /* AP_PROXY_ACCOUNT_H */
