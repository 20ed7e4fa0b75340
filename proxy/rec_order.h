/* proxy/rec_order.h: the order record (RFC 8555 §7.1.3), table
 * STORE_ORDERS, and its codec (proxy/rec.h says what a codec checks).
 *
 * Members (of the JSON the codec reads and writes; rec_order_put leaves
 * out id, the key, and keeps the issuing members in a record of their
 * own, as described at rec_order_get below): v, id, account, status, created, expires, notBefore and
 * notAfter (seconds; 0, not stored: none asked), identifiers ([{type, value}], a
 * wildcard written "*.name"), authzs (the ids of its authorizations, in
 * the identifiers' order); with a profile: profile, template (the PKI's
 * name for it, may be "") and validityDays; adapter (the name of the
 * adapter that issues it, fixed at creation: "default" is the plain
 * [adapter], which is not stored: absent (NULL in the struct) means the
 * default, as in orders of earlier versions); with RFC 9773 replaces:
 * replaces (the certID as the client sent it) and replacesCert (that
 * certificate's record id); from finalize: csr (base64url DER, as the
 * client sent it) and csrSpki (base64url of the CSR's SubjectPublicKeyInfo
 * as finalize read it: the issuer, the adapters and the checks after
 * issuance take the key from here and never parse the CSR again; absent
 * in orders finalized by an earlier version); both are dropped when the
 * certificate is recorded (proxy/issue_record.c: a valid order has
 * neither; valid orders of earlier versions still do); while the PKI has it (the
 * issuer's bookkeeping, proxy/issuer.c): pkiStarted, pkiInflight,
 * pkiNoted, pkiRef, pkiPendingSince (kept only while the order is
 * processing); once valid: cert (the certificate record id); once
 * invalid: error (a problem document).
 * Thread-safe (no shared state). */
#ifndef AP_PROXY_REC_ORDER_H
#define AP_PROXY_REC_ORDER_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/rec.h"

enum order_status {
    ORDER_PENDING,
    ORDER_READY,
    ORDER_PROCESSING,
    ORDER_VALID,
    ORDER_INVALID,
    ORDER__MAX
};

struct order {
    char id[REC_MAX_ID + 1];
    char account[REC_MAX_ID + 1];
    enum order_status status;     /* absent: invalid */
    long long created;
    long long expires;
    long long not_before;         /* 0: none */
    long long not_after;          /* 0: none */
    char *profile;                /* NULL: none */
    char *template_name;          /* "template"; NULL: none */
    char *adapter;                /* NULL: the default adapter */
    long long validity_days;      /* 0: none */
    char *replaces;               /* NULL: none */
    char *replaces_cert;          /* NULL: none */
    struct rec_ident *idents;
    size_t n_idents;
    char (*authzs)[REC_MAX_ID + 1];
    size_t n_authzs;
    char *csr;                    /* base64url DER; NULL before finalize */
    char *csr_spki;               /* base64url SPKI DER; NULL: not kept */
    long long pki_started;        /* 0: none (each pki* member) */
    long long pki_inflight;
    char *pki_noted;
    char *pki_ref;
    long long pki_pending_since;
    char cert[REC_MAX_ID + 1];    /* "": none */
    struct rec_problem *error;    /* NULL: none */
    cJSON *extra;                 /* members this version does not know */
    /* What rec_order_get saw (rec_order_put keeps the record at its size
     * and the issuing record in step): */
    size_t stored_len;            /* bytes of the stored record; 0: none */
    bool issuing_stored;          /* an issuing record is stored */
};

/* "pending", "ready", "processing", "valid", "invalid". */
const char *order_status_name(enum order_status s);

/* Decodes obj into *out (zeroed first; free with rec_order_fini, also on
 * failure). AP_ESTORE with the reason in why, AP_ENOMEM. */
AP_MUST_CHECK ap_err rec_order_decode(const cJSON *obj, struct order *out,
                                      char *why, size_t whylen);
/* The stored JSON of o (a new object in *out; caller deletes). */
AP_MUST_CHECK ap_err rec_order_encode(const struct order *o, cJSON **out);
void rec_order_fini(struct order *o);

/* Where the store keeps an order (the layout, not the codec's JSON):
 *
 * - A processing order's issuing state (csr, csrSpki and the pki*
 *   members) is a record of its own, in STORE_META under
 *   ORDER_ISSUING_PREFIX + the order id (a JSON object with those
 *   members), written in the transaction that writes the processing
 *   order and deleted in the one that writes it valid or invalid (the
 *   CSR stays durable until the issuance that needs it is recorded). The
 *   order record then changes only its status and its certificate
 *   reference, so a record keeps its size: LMDB appends new (time-ordered)
 *   orders to full pages, and a record that grew on one would split it in
 *   two half-full pages. Orders of earlier versions keep these members
 *   inline; they read the same, and move out when next written.
 * - The order record is padded with trailing spaces (JSON whitespace:
 *   every JSON reader skips it) to the size it will have: a new pending
 *   or ready order reserves ORDER_RESERVE bytes (the "cert" member and
 *   the longest status), and a rewrite of a record read by rec_order_get
 *   pads to the size it was read with, so the record never shrinks to
 *   leave a hole nor grows past what it reserved (an error member may). */
#define ORDER_ISSUING_PREFIX "issuing/"

/* Reads order id in txn (AP_ENOTFOUND; AP_ESTORE logged), with its
 * issuing record when it is processing (an issuing record that does not
 * decode is AP_ESTORE, logged). */
AP_MUST_CHECK ap_err rec_order_get(struct store_txn *txn, const char *id,
                                   struct order *out);
/* The stored JSON of order id as readers of the raw JSON (admin views)
 * take it: with "id" (the key) when the record leaves it out, as
 * rec_order_put writes it (AP_ENOTFOUND; AP_ESTORE logged). Without its
 * issuing record. */
AP_MUST_CHECK ap_err rec_order_get_json(struct store_txn *txn,
                                        const char *id, cJSON **out);
/* Writes o under key in txn (exclusive: AP_EEXIST when there), and its
 * issuing record: written when o is processing, deleted when it is not
 * and o was read with one. */
AP_MUST_CHECK ap_err rec_order_put(struct store_txn *txn, const char *key,
                                   const struct order *o, bool exclusive);

/* The STORE_ACCOUNT_ORDERS index (an account's orders by creation time):
 * keys "<account>/<order id>" (the id sorts by time) with an empty value;
 * those of earlier versions, "<account>/<created: 12 digits>/<order
 * id>", sort before them (an id begins with 'V'..'z', common/id.c).
 * Readers take the order id after the key's last '/'. */
/* The index key of order id of account (AP_EINVAL: too long). */
AP_MUST_CHECK ap_err rec_order_index_key(const char *account, const char *id,
                                         char *out, size_t outlen);
/* Calls fn with the index entries of account's orders created at or
 * after since (seconds), oldest first: both key forms. */
AP_MUST_CHECK ap_err rec_order_index_scan(struct store_txn *txn,
                                          const char *account,
                                          long long since, store_scan_fn fn,
                                          void *arg);

/* Appends an identifier (copied) / an authorization id. */
AP_MUST_CHECK ap_err rec_order_add_ident(struct order *o,
                                         const struct rec_ident *id);
AP_MUST_CHECK ap_err rec_order_add_authz(struct order *o, const char *id);
/* Replaces the error with a new problem (type, detail copied). */
AP_MUST_CHECK ap_err rec_order_set_error(struct order *o, const char *type,
                                         const char *detail, int status);

#endif /* AP_PROXY_REC_ORDER_H */
