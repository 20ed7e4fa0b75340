/* proxy/rec_cert.h: the certificate record, table STORE_CERTS (with its
 * serial in STORE_SERIALS), and its codec (proxy/rec.h says what a codec
 * checks).
 *
 * Stored members: v, id, account, order, serial (lower-case hex, as
 * STORE_SERIALS keys it), status ("valid", "revoked", or "refused": the
 * issuer's checks refused what the PKI returned), notAfter, issued
 * (seconds), adapter (the PKI back end's type), adapterName (the
 * configured adapter that issued it, docs/adapters.md; absent: the
 * default, which is not stored by name), pkiRef (the PKI's
 * reference, when it gave one), the leaf and chain: the leaf as leaf (the
 * base64url of its DER, when pem_encode makes the same PEM text of it
 * again) or else as pem (its PEM text as the PKI gave it), and chain the
 * first 16 hex digits (64 bits, REC_CERT_CHAIN_REF) of the SHA-256 of the
 * issuing chain's PEM text, which is stored once in STORE_META under
 * "chain/<hex>" (REC_CERT_CHAIN_PREFIX) however many certificates it
 * issued (a chain whose hash begins like a stored one's is refused when
 * written); a record with that chain reference is "v" 3, one with the
 * whole SHA-256 (64 digits, as version 2 wrote it) or a leaf without a
 * chain "v" 2. Records of earlier versions ("v" 1) have neither and the whole
 * PEM (leaf then chain) in pem; leaf then chain is what the client
 * downloads, byte for byte, either way. A
 * refused one also refused (the reason) and revokedAtPki; a revoked one
 * reason (RFC 5280 CRLReason) and revokedAt; one an RFC 9773 order
 * replaced, replacedBy (that order's id). Thread-safe (no shared
 * state). */
#ifndef AP_PROXY_REC_CERT_H
#define AP_PROXY_REC_CERT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/rec.h"

#define REC_CERT_CHAIN_PREFIX "chain/" /* STORE_META: "chain/<hex>" */
#define REC_CERT_CHAIN_HEX 64         /* SHA-256, lower-case hex (v 2) */
#define REC_CERT_CHAIN_REF 16         /* its first 64 bits (v 3) */

enum cert_status { CERT_VALID, CERT_REVOKED, CERT_REFUSED, CERT__MAX };

struct cert {
    char id[REC_MAX_ID + 1];
    char account[REC_MAX_ID + 1];
    char order[REC_MAX_ID + 1];
    char serial[REC_MAX_SHORT + 1];
    enum cert_status status;      /* absent: refused */
    long long not_after;
    long long issued;
    char adapter[REC_MAX_ID + 1];
    char adapter_name[REC_MAX_ID + 1]; /* "": the default adapter */
    char *pki_ref;                /* NULL: none */
    char *refused;                /* the reason; NULL: not refused */
    bool revoked_at_pki;          /* with refused */
    char *pem;                    /* rec_cert_get: leaf then chain, as
                                     served; the codec: the stored pem */
    char chain[REC_CERT_CHAIN_HEX + 1]; /* the codec: the stored chain
                                     reference; "": none (pem is all) */
    int reason;                   /* CRLReason; -1: not revoked */
    long long revoked_at;         /* 0: not revoked */
    char replaced_by[REC_MAX_ID + 1]; /* "": not replaced */
    cJSON *extra;                 /* members this version does not know */
};

const char *cert_status_name(enum cert_status s);

/* Decodes obj into *out (zeroed first; free with rec_cert_fini, also on
 * failure): the stored members only (a "leaf" made PEM again), so pem is
 * the leaf alone when chain is set (rec_cert_get and rec_cert_expand add the chain). AP_ESTORE with
 * the reason in why, AP_ENOMEM. */
AP_MUST_CHECK ap_err rec_cert_decode(const cJSON *obj, struct cert *out,
                                     char *why, size_t whylen);
/* The stored JSON of c (a new object in *out; caller deletes). */
AP_MUST_CHECK ap_err rec_cert_encode(const struct cert *c, cJSON **out);
void rec_cert_fini(struct cert *c);

/* Reads certificate id in txn (AP_ENOTFOUND; AP_ESTORE logged), with
 * the shared chain appended to pem: out->pem is leaf then chain, as
 * served. A chain that is missing or whose hash does not match is
 * AP_ESTORE (logged). */
AP_MUST_CHECK ap_err rec_cert_get(struct store_txn *txn, const char *id,
                                  struct cert *out);
/* The certificate whose serial (lower-case hex) is serial, through
 * STORE_SERIALS (AP_ENOTFOUND). */
AP_MUST_CHECK ap_err rec_cert_by_serial(struct store_txn *txn,
                                        const char *serial,
                                        struct cert *out);
/* Writes c under key in txn (exclusive: AP_EEXIST when there). c->pem is
 * leaf then chain (c->chain is ignored): what follows the leaf's first
 * "-----END CERTIFICATE-----" line is stored once in STORE_META (put only
 * when not there yet) and the record keeps the leaf and its hash. */
AP_MUST_CHECK ap_err rec_cert_put(struct store_txn *txn, const char *key,
                                  const struct cert *c, bool exclusive);

/* The stored layout (what rec_cert_put writes, rec_cert_get reads):
 * a record whose leaf the codec keeps as "leaf" is stored as its JSON
 * without "leaf" and "id" (the key) and with "v" 4, then one NUL byte,
 * then the leaf's DER (the values are bytes on both engines: 561 bytes of
 * a typical leaf instead of 748 of base64url); any other record as its
 * JSON (with its id). rec_cert_parse makes either the JSON a record of
 * version 3 or earlier is (the "leaf" back, "v" 3, or 2 without a chain,
 * and "id" from the key when absent): what every reader of the raw
 * records (the codec, admin views, the report) takes. AP_ESTORE (logged,
 * key names it) for a value that is neither; AP_ENOMEM. */
AP_MUST_CHECK ap_err rec_cert_parse(const char *key, const char *val,
                                    size_t len, cJSON **out);
/* store_get of certificate key, through rec_cert_parse (AP_ENOTFOUND). */
AP_MUST_CHECK ap_err rec_cert_get_json(struct store_txn *txn,
                                       const char *key, cJSON **out);

/* For readers of the raw JSON (admin views): a stored certificate object
 * with a "chain" or "leaf" member gets "pem" (leaf then chain) and "v" 1
 * instead, so it reads as a record of an earlier version; one without is
 * left alone. AP_ESTORE (logged, key names it) when the chain
 * is missing or does not match, AP_ENOMEM. */
AP_MUST_CHECK ap_err rec_cert_expand(struct store_txn *txn, const char *key,
                                     cJSON *obj);
/* The leaf's DER of a stored certificate object, either format, into
 * *der (caller frees): for readers of the raw JSON that need the leaf
 * only. AP_EPARSE when there is none. */
AP_MUST_CHECK ap_err rec_cert_leaf_der(const cJSON *obj, unsigned char **der,
                                       size_t *len);

#endif /* AP_PROXY_REC_CERT_H */
