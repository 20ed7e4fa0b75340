/* proxy/validate.h: running a challenge's validator and recording its
 * outcome (the JOB_VALIDATE runner, on validator threads).
 *
 * A challenge POST (proxy/authz.c) marks the challenge processing and
 * queues a job "v:<authz id>/<index>". validate_run reads the challenge
 * and the account's key thumbprint in one short read transaction, finds
 * the validator of the challenge's type (the table below: http-01 in
 * val_http01.c, dns-01 in val_dns01.c, tls-alpn-01 in val_tlsalpn01.c;
 * what a validator is: val.h) and runs it with no transaction open, under
 * the [validation] deadline and address policy. Then one write
 * transaction records the outcome: the challenge with its evidence
 * (validationRecord), what that makes of the authorization and of its
 * order (the rules of proxy/status.h), the audit event "validation", and
 * the job's end. A failed validation counts against [ratelimit]
 * failed_validations_per_identifier_hour.
 *
 * [validation] max_concurrent and max_per_identifier bound the
 * validations running at once: a job over a limit is given back for a
 * second, its start not counted. Those counters are the one piece of
 * process-wide mutable state here: a small table under a mutex, since
 * the validator threads of one process are all that share it.
 *
 * A job the crash-loop rules give up (jobs.h) makes the challenge invalid
 * (serverInternal) with the audit event "job.abandoned". Thread-safe.
 *
 * The validators' own headers are included here, so that a user of
 * validate.h sees the whole validation side. */
#ifndef AP_PROXY_VALIDATE_H
#define AP_PROXY_VALIDATE_H

#include "proxy/app.h"
#include "proxy/jobs.h"
#include "proxy/val.h"
#include "proxy/val_dns01.h"
#include "proxy/val_http01.h"
#include "proxy/val_tlsalpn01.h"

/* The validator for a challenge type, or NULL. */
const struct validator_ops *validator_find(const char *type);

/* The JOB_VALIDATE runner (jobs.h job_fn). */
long long validate_run(struct app *app, const struct job *job);

#endif /* AP_PROXY_VALIDATE_H */
