/* proxy/issue_record.h: the issuance's bookkeeping in the store: what a
 * run of the issuance job (proxy/issuer.c) reads before it calls the PKI,
 * what it notes durably around a submission, and what it records once the
 * PKI answered.
 *
 * Every write is one short transaction of its own, never open during a
 * call to the PKI:
 *   issue_input_load      the processing order, its CSR (DER and PEM) and
 *                         the CSR's key as finalize kept it (csrSpki);
 *   issue_mark_inflight   before a submission: "pkiInflight" (and
 *                         "pkiStarted" the first time), a possible
 *                         duplicate of a lost one, the lookup's answer;
 *   issue_note_ref        the PKI named its id during a submission;
 *   issue_record          the outcome: the certificate record and the
 *                         order valid, or the order invalid (a refused
 *                         certificate kept as "refused" and audited), or
 *                         the job put again (PENDING's "pkiRef", a retry);
 *                         the job's end or next run and the audit events
 *                         of the run, all in that one transaction.
 * A job whose order is no longer processing ends without a change, so an
 * outcome is never stored twice. Thread-safe. */
#ifndef AP_PROXY_ISSUE_RECORD_H
#define AP_PROXY_ISSUE_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "adapters/adapter.h"
#include "common/err.h"
#include "proxy/app.h"
#include "proxy/jobs.h"
#include "proxy/rec_order.h"

/* What one run issues from, read from the order. */
struct issue_input {
    struct order order;           /* as read: processing */
    unsigned char *csr_der;
    size_t csr_der_len;
    char *csr_pem;
    /* The CSR's SubjectPublicKeyInfo (DER): the order's csrSpki, or for
     * an order finalized by an earlier version read from the CSR once
     * here. NULL when that read failed: spki_error says why. */
    unsigned char *spki;
    size_t spki_len;
    char spki_error[128];
    const char **dns;             /* the order's identifiers by type */
    size_t n_dns;
    const char **ips;
    size_t n_ips;
};

/* Reads order_id. AP_ENOTFOUND when it is gone or no longer processing,
 * AP_EPARSE when its CSR is not base64url. Free with issue_input_fini
 * (also on failure). */
AP_MUST_CHECK ap_err issue_input_load(struct app *app, const char *order_id,
                                      struct issue_input *in);
void issue_input_fini(struct issue_input *in);

enum outcome_kind {
    OUT_ISSUED,   /* certificate stored, order valid, job ended */
    OUT_FAIL,     /* order invalid, job ended (maybe a refused certificate) */
    OUT_AGAIN     /* job put again */
};

/* What a run found (the strings borrowed until issue_record returns). */
struct outcome {
    enum outcome_kind kind;
    /* OUT_ISSUED, and a refused certificate of OUT_FAIL */
    const struct adapter_result *res;
    const char *serial;
    long long not_after;
    /* OUT_FAIL */
    const char *urn;               /* NULL: serverInternal */
    const char *detail;
    bool refused;                  /* res holds a refused certificate */
    bool refused_revoked;
    const char *refused_pki;       /* the PKI's answer to the revocation */
    /* OUT_AGAIN */
    long long delay_ms;
    unsigned attempts;
    bool retry;                    /* waits because the PKI failed */
    const char *ref;               /* PENDING: the PKI's request id */
    bool pending;
    bool keep_inflight;            /* the answer is still unknown */
    /* audit */
    cJSON *answer;                 /* pki.answer fields (taken), or NULL */
    cJSON *given_up;               /* job.abandoned fields (taken), or NULL */
    const char *dup_why;           /* possible duplicate to record, or NULL */
};

/* Records o in one write transaction (see above), tried again a few times
 * (a store that refused once may take it). Takes o->answer and
 * o->given_up. */
AP_MUST_CHECK ap_err issue_record(struct app *app, const struct job *job,
                                  const struct issue_input *in,
                                  struct outcome *o);

/* Notes durably that a submission starts now (and when the first did);
 * with dup_why, records the possible duplicate of the lost one before;
 * with answer (taken), the lookup's answer that led here. AP_ENOTFOUND
 * when the order is no longer processing. */
AP_MUST_CHECK ap_err issue_mark_inflight(struct app *app,
                                         const struct job *job,
                                         const struct issue_input *in,
                                         const char *dup_why, cJSON *answer);

/* adapter_request.note_ref for a submission of order_id: keeps the PKI's
 * id of the request ("pkiNoted") so that a lost answer is looked up by
 * it. */
struct issue_note_ctx {
    struct app *app;
    const char *order_id;
};
ap_err issue_note_ref(void *ctx, const char *ref);

/* The pki.answer fields of one adapter call (new object; NULL on
 * ENOMEM). serial NULL: no certificate to name. */
cJSON *issue_answer_fields(const struct app *app, const char *order_id,
                           const char *tmpl, const char *call,
                           enum adapter_outcome outcome, const char *serial,
                           long long not_after,
                           const struct adapter_result *res);

#endif /* AP_PROXY_ISSUE_RECORD_H */
