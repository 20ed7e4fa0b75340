/* proxy/jws.h: the signed objects of RFC 8555: the request (§6.2), the
 * inner JWS of a key change (§7.3.5) and the external account binding
 * (§7.3.4).
 *
 * All three are flattened JSON serializations (RFC 7515 §7.2.2) and go
 * through one parser, jws_parse(). It checks the shape every use shares
 * and hands what it decoded to a verifier callback that holds the rules
 * of one use (which header members, which key, which signature):
 *
 *   shape (jws_parse):  a JSON object whose members are exactly
 *       "protected", "payload" and "signature", each once, each a string
 *       of unpadded base64url within the use's cap (no unprotected
 *       header, no general serialization); the protected header a JSON
 *       object (no duplicate members) with an alg of the use's kind and
 *       no "crit"; the signature within the use's cap. A failure is a
 *       malformed problem naming the use, except an asymmetric alg
 *       outside the allow-list: badSignatureAlgorithm with "algorithms".
 *   verifier (callback): everything else, cheapest first, the signature
 *       or MAC last:
 *       - the request (jws_verify): nonce (consumed once, badNonce), url
 *         equal to the request URL (unauthorized), exactly one of jwk and
 *         kid, the key (badPublicKey) or the kid's account
 *         (accountDoesNotExist, unauthorized), the signature;
 *       - the key-change inner JWS (jws_verify_inner): jwk (the new key)
 *         and no kid, no nonce, url equal to the outer url, signed by the
 *         jwk it carries;
 *       - the external account binding (proxy/eab.c): HS256/384/512 under
 *         the EAB key its kid names, url, no nonce, payload the account's
 *         JWK, the MAC compared in constant time.
 *
 * Cheap refusals come first, so a replayed or foreign request costs no
 * signature verification. Thread-safe. */
#ifndef AP_PROXY_JWS_H
#define AP_PROXY_JWS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/jwk.h"
#include "proxy/app.h"
#include "proxy/http.h"

#define JWS_MAX_ID 64
#define JWS_MAX_SIG 1024    /* decoded signature: RSA-8192 is 1024 bytes */
#define JWS_MAX_INNER 16384 /* one member of a key change's inner JWS */

/* ---------------------------------------------------------- the parser */

enum jws_alg_kind {
    JWS_ALG_SIGNATURE, /* the crypto allow-list (crypto_alg_parse); outside
                        * it: badSignatureAlgorithm with "algorithms" */
    JWS_ALG_MAC        /* HS256, HS384, HS512; otherwise malformed */
};

/* One flattened JWS past the shape checks, lent to the verifier for the
 * time of the call. */
struct jws_parts {
    const cJSON *hdr;            /* the protected header, a JSON object */
    const char *alg_name;        /* hdr's "alg" */
    enum crypto_alg alg;         /* JWS_ALG_SIGNATURE only */
    const char *prot_b64;        /* "protected" as sent */
    const char *payload_b64;     /* "payload" as sent */
    const unsigned char *payload; /* decoded; payload_len bytes */
    size_t payload_len;
    const unsigned char *sig;    /* decoded; sig_len bytes */
    size_t sig_len;
};

/* The rules of one use, after the shape. Returns AP_OK with resp->status
 * 0 when the JWS verified, AP_OK with a problem in resp when the client is
 * at fault, another code on an internal failure. */
typedef ap_err (*jws_verifier_fn)(void *arg, const struct jws_parts *jp,
                                  struct acme_resp *resp);

/* One use of the parser. */
struct jws_use {
    const char *name;       /* names the object in problem details */
    size_t max_member;      /* longest base64url text of one member */
    size_t max_sig;         /* longest decoded signature; 0: max_member */
    enum jws_alg_kind algs;
    jws_verifier_fn verify; /* called once, only when the shape is right */
    void *arg;              /* passed to verify */
};

/* Parses obj (borrowed) as a flattened JWS with the checks above and calls
 * use->verify. On AP_OK with resp->status 0 the JWS verified and, when
 * payload is not NULL, *payload holds its decoded payload (*payload_len
 * bytes plus a NUL, caller frees). On AP_OK with resp->status set the
 * client was at fault (*payload NULL). Other codes: internal failures
 * (ENOMEM, or what the verifier returned). */
AP_MUST_CHECK ap_err jws_parse(const cJSON *obj, const struct jws_use *use,
                               struct acme_resp *resp,
                               unsigned char **payload, size_t *payload_len);

/* For verifiers. The JWS signing input, prot_b64 "." payload_b64
 * (RFC 7515 §5.2), appended to out. AP_ENOMEM. */
AP_MUST_CHECK ap_err jws_signing_input(const struct jws_parts *jp,
                                       struct buf *out);
/* For verifiers of JWS_ALG_SIGNATURE. Checks that jp's alg fits key
 * (badSignatureAlgorithm) and that the signature verifies under it
 * (malformed). AP_OK with resp->status set when the client is at fault. */
AP_MUST_CHECK ap_err jws_check_signature(const struct jws_parts *jp,
                                         const struct crypto_key *key,
                                         struct acme_resp *resp);

/* ---------------------------------------------------------- the request */

enum jws_key_mode {
    JWS_NEED_JWK,   /* newAccount: a key, no account yet */
    JWS_NEED_KID,   /* everything else */
    JWS_JWK_OR_KID  /* revokeCert: the account or the certificate key */
};

/* A verified request. Everything owned; release with jws_msg_fini. */
struct jws_msg {
    cJSON *payload;           /* the payload object; NULL for POST-as-GET */
    bool post_as_get;         /* payload was the empty string */
    struct crypto_key *key;   /* the key that signed */
    char thumbprint[CRYPTO_THUMBPRINT_LEN + 1];
    cJSON *account;           /* kid: the account record */
    char account_id[JWS_MAX_ID + 1]; /* kid: the account id */
};

/* Verifies req's body, the request of RFC 8555 §6.2 (checks above). On
 * AP_OK either msg is filled, or the client was at fault and resp holds
 * the problem (resp->status != 0; msg is empty). Other codes are internal
 * failures. */
AP_MUST_CHECK ap_err jws_verify(const struct app *app,
                                const struct acme_req *req,
                                enum jws_key_mode mode,
                                struct acme_resp *resp, struct jws_msg *msg);
void jws_msg_fini(struct jws_msg *msg);

/* Verifies the inner JWS of a key change (RFC 8555 §7.3.5): flattened,
 * signed by the jwk it carries, url equal to the outer url, no nonce. On
 * AP_OK either *key (the new key) and *payload (a JSON object) are set
 * (caller frees), or resp holds the problem. */
AP_MUST_CHECK ap_err jws_verify_inner(const cJSON *inner, const char *url,
                                      struct acme_resp *resp,
                                      struct crypto_key **key,
                                      cJSON **payload);

/* The counters of the cache of parsed account keys (stored JWKs of
 * kid requests; at most 128, see jwk.h jwk_cache_parse). */
void jws_key_cache_stats(struct jwk_cache_stats *out);

#endif /* AP_PROXY_JWS_H */
