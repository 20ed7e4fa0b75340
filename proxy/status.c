/* proxy/status.c: the status rules of RFC 8555 §7.1.6 (status.h). */
#include "proxy/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "proxy/metrics.h"
#include "proxy/problem.h"

enum order_status
order_status_at(const struct order *o, long long now)
{
    if ((o->status == ORDER_PENDING || o->status == ORDER_READY) &&
        o->expires <= now) {
        return ORDER_INVALID;
    }
    return o->status;
}

enum authz_status
authz_status_at(const struct authz *a, long long now)
{
    if ((a->status == AUTHZ_PENDING || a->status == AUTHZ_VALID) &&
        a->expires <= now) {
        return AUTHZ_EXPIRED;
    }
    return a->status;
}

const char *
order_status_now(const cJSON *order, long long now)
{
    const char *s = json_str(order, "status", "invalid");

    if ((strcmp(s, "pending") == 0 || strcmp(s, "ready") == 0) &&
        json_num(order, "expires", 0) <= now) {
        return order_status_name(ORDER_INVALID);
    }
    return s;
}

/* An authorization that fails its order. */
static bool
authz_failed(enum authz_status s)
{
    return s == AUTHZ_INVALID || s == AUTHZ_DEACTIVATED ||
           s == AUTHZ_REVOKED;
}

enum order_status
status_order_from_authzs(const enum authz_status *st, size_t n)
{
    bool all_valid = true;

    for (size_t i = 0; i < n; i++) {
        if (authz_failed(st[i])) {
            return ORDER_INVALID;
        }
        all_valid = all_valid && st[i] == AUTHZ_VALID;
    }
    return all_valid ? ORDER_READY : ORDER_PENDING;
}

ap_err
order_update_from_authz(struct store_txn *txn, const char *order_id,
                        const struct authz *known)
{
    struct order o;
    struct rec_problem *err = NULL;
    enum authz_status *st = NULL;
    enum order_status next;
    ap_err rc;

    rc = rec_order_get(txn, order_id, &o);
    if (rc != AP_OK) {
        return rc;
    }
    if (o.status != ORDER_PENDING) {
        goto out;
    }
    st = calloc(o.n_authzs + 1, sizeof(*st));
    if (st == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < o.n_authzs; i++) {
        struct authz read;
        const struct authz *a = &read;
        bool is_known = known != NULL && known->id[0] != '\0' &&
                        strcmp(known->id, o.authzs[i]) == 0;

        memset(&read, 0, sizeof(read));
        if (is_known) {
            a = known;      /* as written in txn: not read again */
        } else {
            rc = rec_authz_get(txn, o.authzs[i], &read);
            if (rc != AP_OK) {
                rec_authz_fini(&read);
                goto out;
            }
        }
        st[i] = a->status;
        /* The order's error names the failed challenge's problem. */
        for (size_t k = 0; authz_failed(a->status) && err == NULL &&
                           rc == AP_OK && k < a->n_challs;
             k++) {
            rc = rec_problem_copy(a->challs[k].error, &err);
        }
        rec_authz_fini(&read);
        if (rc != AP_OK) {
            goto out;
        }
    }
    next = status_order_from_authzs(st, o.n_authzs);
    if (next == ORDER_PENDING) {
        goto out;
    }
    o.status = next;
    if (next == ORDER_INVALID) {
        if (err == NULL) {
            rc = rec_problem_new(problem_urn(PROB_UNAUTHORIZED),
                                 "an authorization of this order is not "
                                 "valid",
                                 problem_status(PROB_UNAUTHORIZED), &err);
            if (rc != AP_OK) {
                goto out;
            }
        }
        rec_problem_free(o.error);
        o.error = err;
        err = NULL;
    }
    rc = rec_order_put(txn, order_id, &o, false);
    if (rc == AP_OK) {
        metrics_order(order_status_name(next));
    }
out:
    rec_problem_free(err);
    free(st);
    rec_order_fini(&o);
    return rc;
}

bool
status_challenge_can_start(const struct authz *a, size_t index,
                           long long now)
{
    return index < a->n_challs && authz_status_at(a, now) == AUTHZ_PENDING &&
           a->challs[index].status == CHALL_PENDING;
}

ap_err
status_challenge_outcome(struct authz *a, size_t index, bool valid,
                         const struct rec_problem *error, long long now)
{
    struct challenge *c;
    struct rec_problem *copy = NULL;
    ap_err rc;

    if (index >= a->n_challs) {
        return AP_EINTERNAL;
    }
    c = &a->challs[index];
    if (!valid) {
        rc = rec_problem_copy(error, &copy);
        if (rc != AP_OK) {
            return rc;
        }
        rec_problem_free(c->error);
        c->error = copy;
    }
    c->status = valid ? CHALL_VALID : CHALL_INVALID;
    c->validated = now;
    /* One valid challenge makes the authorization valid; a failed one
     * makes it invalid. One that expired while the validator ran stays
     * expired. */
    if (authz_status_at(a, now) == AUTHZ_PENDING) {
        a->status = valid ? AUTHZ_VALID : AUTHZ_INVALID;
    }
    return AP_OK;
}

bool
status_authz_deactivatable(const struct authz *a, long long now)
{
    enum authz_status s = authz_status_at(a, now);

    return s == AUTHZ_PENDING || s == AUTHZ_VALID;
}

bool
status_authz_reusable(const struct authz *a, long long now)
{
    return authz_status_at(a, now + STATUS_REUSE_MARGIN_SEC) == AUTHZ_VALID;
}

/* ---- the account cascade ------------------------------------------- */

struct id_list {
    char (*ids)[REC_MAX_ID + 1];
    size_t n;
    size_t cap;
    ap_err rc;
};

static bool
collect_order_id(void *arg, const char *key, const char *val, size_t len)
{
    struct id_list *l = arg;
    const char *slash = strrchr(key, '/');

    (void)val;
    (void)len;
    if (slash == NULL || strlen(slash + 1) > REC_MAX_ID) {
        return true;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 16 : l->cap * 2;
        char(*ids)[REC_MAX_ID + 1] = realloc(l->ids, cap * sizeof(*ids));

        if (ids == NULL) {
            l->rc = AP_ENOMEM;
            return false;
        }
        l->ids = ids;
        l->cap = cap;
    }
    memcpy(l->ids[l->n++], slash + 1, strlen(slash + 1) + 1);
    return true;
}

/* Deactivates the pending authorizations of o. */
static ap_err
deactivate_pending(struct store_txn *txn, const struct order *o)
{
    ap_err rc = AP_OK;

    for (size_t i = 0; rc == AP_OK && i < o->n_authzs; i++) {
        struct authz a;

        rc = rec_authz_get(txn, o->authzs[i], &a);
        if (rc == AP_OK && a.status == AUTHZ_PENDING) {
            a.status = AUTHZ_DEACTIVATED;
            rc = rec_authz_put(txn, o->authzs[i], &a, false);
        }
        rec_authz_fini(&a);
    }
    return rc;
}

ap_err
account_cancel_pending(struct store_txn *txn, const char *account_id)
{
    struct id_list l;
    char prefix[REC_MAX_ID + 2];
    ap_err rc;

    memset(&l, 0, sizeof(l));
    (void)snprintf(prefix, sizeof(prefix), "%s/", account_id);
    rc = store_scan(txn, STORE_ACCOUNT_ORDERS, prefix, NULL,
                    collect_order_id, &l);
    if (rc == AP_OK) {
        rc = l.rc;
    }
    for (size_t i = 0; rc == AP_OK && i < l.n; i++) {
        struct order o;

        rc = rec_order_get(txn, l.ids[i], &o);
        if (rc == AP_OK) {
            rc = deactivate_pending(txn, &o);
        }
        if (rc == AP_OK &&
            (o.status == ORDER_PENDING || o.status == ORDER_READY)) {
            o.status = ORDER_INVALID;
            rc = rec_order_set_error(&o, problem_urn(PROB_UNAUTHORIZED),
                                     "the account was deactivated",
                                     problem_status(PROB_UNAUTHORIZED));
            if (rc == AP_OK) {
                rc = rec_order_put(txn, l.ids[i], &o, false);
            }
        }
        rec_order_fini(&o);
    }
    free(l.ids);
    return rc;
}
