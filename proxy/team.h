/* proxy/team.h: teams known by configuration ([team.NAME], common/config.h).
 *
 * A client that cannot send external account binding (Open Liberty,
 * WildFly) joins the team whose networks hold the address its newAccount
 * came from: the TCP peer of the connection (civetweb's remote_addr; no
 * forwarding header is trusted). The team's policy has the shape of an
 * EAB key's record (proxy/eab.h), so proxy/policy.c narrows the global
 * policy with it the same way. An account already created (without EAB)
 * is bound to a team by the admin (team_bind_account). Thread-safe. */
#ifndef AP_PROXY_TEAM_H
#define AP_PROXY_TEAM_H

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/err.h"

/* The team whose networks hold addr (text IPv4 or IPv6; an IPv4-mapped
 * IPv6 address counts as its IPv4 address), or NULL: none does, or addr
 * does not parse. Config load refused overlapping networks, so at most
 * one team matches. */
const struct config_team *team_for_address(const struct config *cfg,
                                           const char *addr);

/* The policy of team t as an EAB key record would hold it: {"label",
 * "kid":"", "profiles", "allow_names", "allow_ips", "max_validity_days"}
 * (lists only when set). *out: a new object (caller deletes) on AP_OK,
 * NULL otherwise (AP_ENOMEM). */
AP_MUST_CHECK ap_err team_policy_record(const struct config_team *t,
                                        cJSON **out);

struct app;

/* Binds account id, which has no team yet, for good (the binding is never
 * changed or undone here, as an EAB binding is not): to the EAB key kid
 * (the account gets the key's policy exactly as if it had sent EAB, and
 * the key counts it among its accounts: [acme] eab_single_use applies),
 * or to the configured team (kid NULL). One write transaction with the
 * audit event "account.bound" carrying fields (taken; "account", "team",
 * and "eab" are added). On AP_OK label (labellen > 64) is the team.
 * AP_ENOTFOUND: no such account or key (why says which); AP_EINVAL: the
 * account is not valid, already bound, the key revoked or used up, the
 * team not configured (why says which); AP_ESTORE, AP_ENOMEM. */
AP_MUST_CHECK ap_err team_bind_account(struct app *app, const char *id,
                                       const char *kid, const char *team,
                                       const char *request_id,
                                       cJSON *fields, char *label,
                                       size_t labellen, char *why,
                                       size_t whylen);

#endif /* AP_PROXY_TEAM_H */
