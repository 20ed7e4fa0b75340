/* proxy/rec_authz.h: the authorization record with its challenges (RFC
 * 8555 §7.1.4, §8), table STORE_AUTHZS, and its codec (proxy/rec.h says
 * what a codec checks).
 *
 * Stored members: v, account, order (the order that created it),
 * status ("pending", "valid", "invalid", "deactivated"; "expired" is
 * computed when read, proxy/status.h; "revoked" is read as well), expires,
 * identifier ({type, value}; a wildcard's base name), wildcard (true for
 * "*.name" orders, absent otherwise), challenges: an array, the index is
 * the challenge's URL (/acme/chall/<authz id>/<index>), each with type,
 * status ("pending", "processing", "valid", "invalid"), token, and once
 * validated: validated (seconds), address (where the answer came from),
 * validationRecord (the validator's evidence) and, when it failed, error.
 * The evidence is stored lean: in an entry, hostname when it is the
 * identifier's value, url when it is the http-01 URL of that hostname,
 * port and the token, and addressUsed when it is the challenge's address
 * are left out and named in the entry's "derived" ("h", "u", "a");
 * decoding makes them again, in their place, so the struct holds the
 * evidence as the validator wrote it (records of earlier versions, with
 * every member, read the same).
 *
 * A decided authorization keeps only its decided challenge (RFC 8555
 * §7.1.4: "For valid authorizations, the challenge that was validated.
 * For invalid authorizations, the challenge that was attempted and
 * failed."): when status is "valid" or "invalid", a challenge that is
 * neither is dropped, in the struct (dropped, its other members zero) and
 * in the record (left out). A kept challenge whose index is not the one
 * after the previous kept one carries it ("index"), so its URL stays what
 * the client was given. Records of version 1 (every challenge kept, "id"
 * stored) are read the same way: their undecided challenges of a decided
 * authorization are dropped when read. Version 2 leaves "id" out (it is
 * the key; rec_authz_get sets it).
 *
 * Version 3 (written whenever it can hold the record, proxy/rec_authz.c
 * spells it out) is the same record in short members: the identifier as
 * "i" (dns) or "ip", a letter for the status, one stored random value
 * ("t", the seed) instead of a token per challenge (each token is
 * rec_authz_token(seed, type): the client sees the tokens it saw before),
 * per challenge URL index a letter for its type and one for its status
 * ("c"), and the one decided challenge's evidence at the top. An
 * undecided record carries spaces ("_") that reserve the room its
 * decided form takes, so a record is written at its final size and never
 * grows on its page (a grown record splits a full page in half). Records
 * of versions 1 and 2 read as before and are written as version 2 when
 * their tokens do not come from a seed. Thread-safe (no shared state). */
#ifndef AP_PROXY_REC_AUTHZ_H
#define AP_PROXY_REC_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/store.h"
#include "proxy/rec.h"

#define AUTHZ_MAX_CHALLENGES 16   /* the highest challenge index is 16 */

enum authz_status {
    AUTHZ_PENDING,
    AUTHZ_VALID,
    AUTHZ_INVALID,
    AUTHZ_DEACTIVATED,
    AUTHZ_EXPIRED,
    AUTHZ_REVOKED,
    AUTHZ__MAX
};

enum chall_status {
    CHALL_PENDING,
    CHALL_PROCESSING,
    CHALL_VALID,
    CHALL_INVALID,
    CHALL__MAX
};

struct challenge {
    char type[REC_MAX_ID + 1];    /* "http-01", "dns-01", "tls-alpn-01" */
    enum chall_status status;     /* absent: invalid */
    char token[REC_MAX_ID + 1];   /* "": the authorization's seed's, not
                                     derived yet (a version 3 record's;
                                     rec_authz_chall_token) */
    long long validated;          /* 0: not yet */
    char *address;                /* NULL: none */
    cJSON *validation_record;     /* array; NULL: none */
    struct rec_problem *error;    /* NULL: none */
    cJSON *extra;
    bool dropped;                 /* left out of a decided authorization:
                                     no such challenge any more (status
                                     invalid, the rest zero) */
};

struct authz {
    char id[REC_MAX_ID + 1];
    char account[REC_MAX_ID + 1];
    char order[REC_MAX_ID + 1];
    enum authz_status status;     /* absent: invalid */
    long long expires;
    struct rec_ident ident;
    bool wildcard;
    struct challenge *challs;
    size_t n_challs;
    char seed[REC_MAX_ID + 1];    /* the random value the challenges'
                                     tokens derive from (rec_authz_token);
                                     "": each token is its own (records
                                     of versions 1 and 2) */
    cJSON *extra;
};

const char *authz_status_name(enum authz_status s);
const char *chall_status_name(enum chall_status s);

/* Decodes obj into *out (zeroed first; free with rec_authz_fini, also on
 * failure). AP_ESTORE with the reason in why, AP_ENOMEM. */
AP_MUST_CHECK ap_err rec_authz_decode(const cJSON *obj, struct authz *out,
                                      char *why, size_t whylen);
/* The stored JSON of a (a new object in *out; caller deletes). */
AP_MUST_CHECK ap_err rec_authz_encode(const struct authz *a, cJSON **out);
void rec_authz_fini(struct authz *a);

/* Reads authorization id in txn (AP_ENOTFOUND; AP_ESTORE logged); out->id
 * is id when the record does not name itself. */
AP_MUST_CHECK ap_err rec_authz_get(struct store_txn *txn, const char *id,
                                   struct authz *out);
/* Writes a under key in txn (exclusive: AP_EEXIST when there). */
AP_MUST_CHECK ap_err rec_authz_put(struct store_txn *txn, const char *key,
                                   const struct authz *a, bool exclusive);

/* Removes every challenge of a (a pre-authorised name has none). */
void rec_authz_drop_challenges(struct authz *a);

/* The challenge at URL index index of a, or NULL when there is none (out
 * of range, or dropped). */
struct challenge *rec_authz_chall(const struct authz *a, size_t index);

/* The token of the challenge of type in an authorization whose seed is
 * seed: the base64url of SHA-256("acme-token" NUL type NUL seed), 43
 * characters, into out (outlen > 43). Tokens of one authorization differ
 * by type, each with the seed's entropy (authz_new: 128 random bits;
 * RFC 8555 §11.3 asks at least 128), and none tells the seed or another
 * token. AP_EINVAL when seed is empty or longer than REC_MAX_ID,
 * AP_ETOOBIG (b64url) when out is too small. */
AP_MUST_CHECK ap_err rec_authz_token(const char *seed, const char *type,
                                     char *out, size_t outlen);

/* The token of challenge c of a: c's own, or the one derived from a's
 * seed (rec_authz_token) into buf (buflen > 43) when c has none yet, as
 * a version 3 record leaves them until they are asked for. NULL when
 * there is neither. */
const char *rec_authz_chall_token(const struct authz *a,
                                  const struct challenge *c, char *buf,
                                  size_t buflen);

/* Appends a pending challenge of type with token. */
AP_MUST_CHECK ap_err rec_authz_add_challenge(struct authz *a,
                                             const char *type,
                                             const char *token);

#endif /* AP_PROXY_REC_AUTHZ_H */
