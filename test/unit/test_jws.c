/* test/unit/test_jws.c: proxy/jws.c end to end, without a server.
 *
 * The group setup builds a struct app by hand: a config with base_url
 * https://acme.test, a store in a mkdtemp directory holding two accounts
 * (one valid, one deactivated), and a nonce context. Requests are made
 * here with mbedTLS: an EC P-256 key, ES256 signatures in raw R||S form,
 * base64url from common/b64url, the JWK written by hand and its RFC 7638
 * thumbprint computed here from the canonical form.
 *
 * Each row describes one request: how the outer object, the protected
 * header, the payload and the signature are made, and the problem type
 * expected (or success). Every row is its own cmocka test and ends with
 * jws_msg_fini, so ASan and valgrind see every path.
 *
 * The shape rows show that the three users of the one parser (the
 * request, a key change's inner JWS, the external account binding) refuse
 * the same broken shapes the same way: each mutation of a valid object
 * (an unprotected header, extra or duplicate members, bad base64url in
 * each member, a protected header that is not an object or has duplicate
 * members, crit, no alg) is sent through each user's entry point, and
 * through jws_parse itself with a verifier that counts its calls (a shape
 * failure never reaches the verifier). The group setup adds an EAB key
 * for the binding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"
#include "test/unit/tmpdir.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>

#include "common/b64url.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/jwk.h"
#include "common/json.h"
#include "common/store.h"
#include "proxy/app.h"
#include "proxy/eab.h"
#include "proxy/http.h"
#include "proxy/jws.h"
#include "proxy/nonce.h"
#include "proxy/problem.h"

#define BASE "https://acme.test"
#define ACCT_VALID "acctValid0123456789AB"
#define ACCT_DEACT "acctDeact0123456789AB"
#define ACCT_NOKEY "acctUnknown123456789A"
#define REQ_PATH "/acme/new-order"

/* ---- keys ---------------------------------------------------------- */

struct test_key {
    mbedtls_ecp_keypair kp;
    char jwk[256];        /* {"kty":"EC","crv":"P-256","x":..,"y":..} */
    char jwk_private[512]; /* the same with "d" */
    char thumbprint[CRYPTO_THUMBPRINT_LEN + 1];
};

static struct {
    struct config cfg;
    struct app app;
    char dir[64];
    struct test_key key;   /* signs everything, account ACCT_VALID */
    struct test_key other; /* a second key */
    char eab_kid[EAB_KID_LEN + 1];
    unsigned char eab_key[32]; /* the EAB MAC key, raw */
} g;

/* An mbedTLS f_rng over the proxy's crypto_random (the signer here is
 * mbedTLS on purpose: a second implementation next to libcrypto's). */
static int
test_rng(void *p_rng, unsigned char *out, size_t len)
{
    (void)p_rng;
    return crypto_random(out, len) == AP_OK ? 0 : -1;
}

static void
b64_of_mpi(const mbedtls_mpi *m, char *out, size_t outlen)
{
    unsigned char bin[32];

    assert_int_equal(mbedtls_mpi_write_binary(m, bin, sizeof(bin)), 0);
    assert_int_equal(b64url_encode(bin, sizeof(bin), out, outlen), AP_OK);
}

static void
key_make(struct test_key *k)
{
    unsigned char hash[CRYPTO_SHA256_LEN];
    char canonical[256];
    char x[48];
    char y[48];
    char d[48];

    mbedtls_ecp_keypair_init(&k->kp);
    assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, &k->kp,
                                         test_rng, NULL),
                     0);
    b64_of_mpi(&k->kp.Q.X, x, sizeof(x));
    b64_of_mpi(&k->kp.Q.Y, y, sizeof(y));
    b64_of_mpi(&k->kp.d, d, sizeof(d));
    snprintf(k->jwk, sizeof(k->jwk),
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    snprintf(k->jwk_private, sizeof(k->jwk_private),
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
             "\"d\":\"%s\"}",
             x, y, d);
    /* RFC 7638 §3.2: members in lexicographic order, no white space. */
    snprintf(canonical, sizeof(canonical),
             "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    crypto_sha256(canonical, strlen(canonical), hash);
    assert_int_equal(b64url_encode(hash, sizeof(hash), k->thumbprint,
                                   sizeof(k->thumbprint)),
                     AP_OK);
}

/* ES256 over input: raw R||S, base64url into out. */
static void
sign_es256(struct test_key *k, const char *input, char *out, size_t outlen)
{
    unsigned char hash[CRYPTO_SHA256_LEN];
    unsigned char sig[64];
    mbedtls_mpi r;
    mbedtls_mpi s;

    crypto_sha256(input, strlen(input), hash);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    assert_int_equal(mbedtls_ecdsa_sign(&k->kp.grp, &r, &s, &k->kp.d, hash,
                                        sizeof(hash), test_rng, NULL),
                     0);
    assert_int_equal(mbedtls_mpi_write_binary(&r, sig, 32), 0);
    assert_int_equal(mbedtls_mpi_write_binary(&s, sig + 32, 32), 0);
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    assert_int_equal(b64url_encode(sig, sizeof(sig), out, outlen), AP_OK);
}

/* ---- group setup: the app ------------------------------------------- */


static int
put_account(struct store_txn *txn, const char *id, const char *status,
            const struct test_key *k)
{
    char rec[1024];

    snprintf(rec, sizeof(rec),
             "{\"id\":\"%s\",\"status\":\"%s\",\"jwk\":%s,"
             "\"thumbprint\":\"%s\"}",
             id, status, k->jwk, k->thumbprint);
    return store_put(txn, STORE_ACCOUNTS, id, rec, strlen(rec), true) ==
                   AP_OK
               ? 0
               : -1;
}

static int
group_setup(void **state)
{
    struct store_txn *txn = NULL;
    char errbuf[256] = "";

    (void)state;
    memset(&g, 0, sizeof(g));
    if (crypto_init() != AP_OK) {
        return -1;
    }
    key_make(&g.key);
    key_make(&g.other);
    g.cfg.server.base_url = (char *)BASE;
    g.cfg.acme.nonce_ttl_sec = 60;
    g.app.cfg = &g.cfg;
    g.app.base = g.cfg.server.base_url;
    snprintf(g.dir, sizeof(g.dir), "/tmp/test_jws.XXXXXX");
    if (mkdtemp(g.dir) == NULL) {
        return -1;
    }
    if (store_open(&(struct store_config){ .dir = g.dir,
                                           .map_size_mb = 16 },
                   &g.app.st, errbuf, sizeof(errbuf)) != AP_OK) {
        print_error("store_open: %s\n", errbuf);
        return -1;
    }
    if (nonce_ctx_new(g.cfg.acme.nonce_ttl_sec, &g.app.nonces) != AP_OK) {
        return -1;
    }
    {
        char hmac[EAB_HMAC_LEN + 1];
        size_t n = 0;

        if (eab_create(g.app.st, &g.cfg, "team-shape", NULL, NULL,
                       g.eab_kid, sizeof(g.eab_kid), hmac, sizeof(hmac),
                       errbuf, sizeof(errbuf)) != AP_OK ||
            b64url_decode(hmac, strlen(hmac), g.eab_key, sizeof(g.eab_key),
                          &n) != AP_OK ||
            n != sizeof(g.eab_key)) {
            return -1;
        }
    }
    if (store_begin(g.app.st, true, &txn) != AP_OK) {
        return -1;
    }
    if (put_account(txn, ACCT_VALID, "valid", &g.key) != 0 ||
        put_account(txn, ACCT_DEACT, "deactivated", &g.key) != 0) {
        store_abort(txn);
        return -1;
    }
    return store_commit(txn) == AP_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    nonce_ctx_free(g.app.nonces);
    store_close(g.app.st);
    tmpdir_remove(g.dir);
    mbedtls_ecp_keypair_free(&g.key.kp);
    mbedtls_ecp_keypair_free(&g.other.kp);
    crypto_fini();
    return 0;
}

/* ---- rows ---------------------------------------------------------- */

enum outer {
    OUTER_OK,
    OUTER_NOT_JSON,       /* body is not JSON at all */
    OUTER_ARRAY,          /* [ the JWS object ] */
    OUTER_EXTRA_HEADER,   /* adds an unprotected "header" member */
    OUTER_NO_SIGNATURE,   /* no "signature" member */
    OUTER_SIG_NOT_STRING, /* "signature": 1 */
    OUTER_DUP_MEMBER,     /* "payload" twice */
    OUTER_B64_PROTECTED,  /* "=" appended to protected */
    OUTER_B64_PAYLOAD,    /* payload padded with "=" */
    OUTER_B64_SIGNATURE,  /* "=" appended to signature */
    OUTER_GENERAL,        /* the general serialization: "signatures": [] */
};

enum nonce_kind {
    N_FRESH,
    N_NONE,      /* no nonce member */
    N_REPLAYED,  /* issued and already consumed */
    N_MADE_UP,   /* 43 characters of our own */
    N_OTHER_CTX, /* issued by another nonce_ctx */
    N_NUMBER,    /* "nonce": 5 */
};

enum url_kind {
    U_OK,
    U_NONE,
    U_OTHER,       /* another resource of this server */
    U_OTHER_HOST,  /* the same path on another server */
    U_TRAILING,    /* the request URL with "/" appended */
};

enum key_kind {
    K_JWK,
    K_KID,          /* ACCT_VALID */
    K_BOTH,
    K_NONE,
    K_KID_UNKNOWN,  /* an id with no account */
    K_KID_DEACT,    /* ACCT_DEACT */
    K_KID_FOREIGN,  /* ACCT_VALID under another server's base URL */
    K_KID_NUMBER,   /* "kid": 1 */
    K_JWK_PRIVATE,  /* the JWK with "d" */
    K_JWK_OTHER,    /* the other key's JWK (signature by g.key) */
    K_JWK_OFF_CURVE, /* x = the P-256 field prime: no point */
    K_JWK_RSA_SMALL, /* an RSA key of 1024 bits */
    K_JWK_NOT_OBJECT, /* "jwk": "a string" */
};

enum sig_kind {
    S_OK,
    S_FLIPPED,     /* one bit of the signature changed */
    S_OTHER_KEY,   /* signed by g.other */
    S_OTHER_INPUT, /* signed over the payload "{}" instead */
};

#define WANT_OK PROB__MAX

struct jws_row {
    const char *name;
    enum jws_key_mode mode;
    enum outer outer;
    const char *alg; /* NULL: no alg member */
    enum nonce_kind nonce;
    enum url_kind url;
    enum key_kind key;
    const char *extra;   /* raw header members appended, or NULL */
    const char *payload; /* raw payload text (base64url'd here) */
    enum sig_kind sig;
    enum problem_type want; /* WANT_OK: verified */
};

static const struct jws_row good_rows[] = {
    { "jwk: newAccount request", JWS_NEED_JWK, OUTER_OK, "ES256", N_FRESH,
      U_OK, K_JWK, NULL, "{\"termsOfServiceAgreed\":true}", S_OK,
      WANT_OK },
    { "jwk: POST-as-GET", JWS_JWK_OR_KID, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_JWK, NULL, "", S_OK, WANT_OK },
    { "kid: request", JWS_NEED_KID, OUTER_OK, "ES256", N_FRESH, U_OK, K_KID,
      NULL, "{\"identifiers\":[]}", S_OK, WANT_OK },
    { "kid: POST-as-GET", JWS_NEED_KID, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_KID, NULL, "", S_OK, WANT_OK },
    { "kid: revokeCert mode", JWS_JWK_OR_KID, OUTER_OK, "ES256", N_FRESH,
      U_OK, K_KID, NULL, "{}", S_OK, WANT_OK },
    { "jwk: unknown extra header member ignored", JWS_NEED_JWK, OUTER_OK,
      "ES256", N_FRESH, U_OK, K_JWK, "\"typ\":\"JWT\"", "{}", S_OK,
      WANT_OK },
};

static const struct jws_row bad_rows[] = {
    { "not JSON", JWS_NEED_JWK, OUTER_NOT_JSON, "ES256", N_FRESH, U_OK,
      K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "JSON array", JWS_NEED_JWK, OUTER_ARRAY, "ES256", N_FRESH, U_OK, K_JWK,
      NULL, "{}", S_OK, PROB_MALFORMED },
    { "extra member header", JWS_NEED_JWK, OUTER_EXTRA_HEADER, "ES256",
      N_FRESH, U_OK, K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "general serialization", JWS_NEED_JWK, OUTER_GENERAL, "ES256",
      N_FRESH, U_OK, K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "missing signature", JWS_NEED_JWK, OUTER_NO_SIGNATURE, "ES256",
      N_FRESH, U_OK, K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "signature not a string", JWS_NEED_JWK, OUTER_SIG_NOT_STRING, "ES256",
      N_FRESH, U_OK, K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "duplicate outer member", JWS_NEED_JWK, OUTER_DUP_MEMBER, "ES256",
      N_FRESH, U_OK, K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "bad base64url: protected", JWS_NEED_JWK, OUTER_B64_PROTECTED,
      "ES256", N_FRESH, U_OK, K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "bad base64url: payload", JWS_NEED_JWK, OUTER_B64_PAYLOAD, "ES256",
      N_FRESH, U_OK, K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "bad base64url: signature", JWS_NEED_JWK, OUTER_B64_SIGNATURE,
      "ES256", N_FRESH, U_OK, K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "alg none", JWS_NEED_JWK, OUTER_OK, "none", N_FRESH, U_OK, K_JWK, NULL,
      "{}", S_OK, PROB_BAD_SIGNATURE_ALGORITHM },
    { "alg HS256", JWS_NEED_JWK, OUTER_OK, "HS256", N_FRESH, U_OK, K_JWK,
      NULL, "{}", S_OK, PROB_BAD_SIGNATURE_ALGORITHM },
    { "alg EdDSA", JWS_NEED_JWK, OUTER_OK, "EdDSA", N_FRESH, U_OK, K_JWK,
      NULL, "{}", S_OK, PROB_BAD_SIGNATURE_ALGORITHM },
    { "alg ES384 with a P-256 key", JWS_NEED_JWK, OUTER_OK, "ES384", N_FRESH,
      U_OK, K_JWK, NULL, "{}", S_OK, PROB_BAD_SIGNATURE_ALGORITHM },
    { "alg RS256 with an account's P-256 key", JWS_NEED_KID, OUTER_OK,
      "RS256", N_FRESH, U_OK, K_KID, NULL, "{}", S_OK,
      PROB_BAD_SIGNATURE_ALGORITHM },
    { "missing nonce", JWS_NEED_JWK, OUTER_OK, "ES256", N_NONE, U_OK, K_JWK,
      NULL, "{}", S_OK, PROB_BAD_NONCE },
    { "nonce not a string", JWS_NEED_JWK, OUTER_OK, "ES256", N_NUMBER, U_OK,
      K_JWK, NULL, "{}", S_OK, PROB_BAD_NONCE },
    { "replayed nonce", JWS_NEED_JWK, OUTER_OK, "ES256", N_REPLAYED, U_OK,
      K_JWK, NULL, "{}", S_OK, PROB_BAD_NONCE },
    { "made-up nonce", JWS_NEED_JWK, OUTER_OK, "ES256", N_MADE_UP, U_OK,
      K_JWK, NULL, "{}", S_OK, PROB_BAD_NONCE },
    { "nonce of another instance", JWS_NEED_KID, OUTER_OK, "ES256",
      N_OTHER_CTX, U_OK, K_KID, NULL, "{}", S_OK, PROB_BAD_NONCE },
    { "url of another resource", JWS_NEED_JWK, OUTER_OK, "ES256", N_FRESH,
      U_OTHER, K_JWK, NULL, "{}", S_OK, PROB_UNAUTHORIZED },
    { "url of another host", JWS_NEED_KID, OUTER_OK, "ES256", N_FRESH,
      U_OTHER_HOST, K_KID, NULL, "{}", S_OK, PROB_UNAUTHORIZED },
    { "url with a trailing slash", JWS_NEED_JWK, OUTER_OK, "ES256", N_FRESH,
      U_TRAILING, K_JWK, NULL, "{}", S_OK, PROB_UNAUTHORIZED },
    { "missing url", JWS_NEED_JWK, OUTER_OK, "ES256", N_FRESH, U_NONE, K_JWK,
      NULL, "{}", S_OK, PROB_MALFORMED },
    { "both jwk and kid", JWS_JWK_OR_KID, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_BOTH, NULL, "{}", S_OK, PROB_MALFORMED },
    { "neither jwk nor kid", JWS_JWK_OR_KID, OUTER_OK, "ES256", N_FRESH,
      U_OK, K_NONE, NULL, "{}", S_OK, PROB_MALFORMED },
    { "jwk where kid is needed", JWS_NEED_KID, OUTER_OK, "ES256", N_FRESH,
      U_OK, K_JWK, NULL, "{}", S_OK, PROB_MALFORMED },
    { "kid where jwk is needed", JWS_NEED_JWK, OUTER_OK, "ES256", N_FRESH,
      U_OK, K_KID, NULL, "{}", S_OK, PROB_MALFORMED },
    { "kid not a string", JWS_NEED_KID, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_KID_NUMBER, NULL, "{}", S_OK, PROB_MALFORMED },
    { "kid of an unknown account", JWS_NEED_KID, OUTER_OK, "ES256", N_FRESH,
      U_OK, K_KID_UNKNOWN, NULL, "{}", S_OK, PROB_ACCOUNT_DOES_NOT_EXIST },
    { "kid of a deactivated account", JWS_NEED_KID, OUTER_OK, "ES256",
      N_FRESH, U_OK, K_KID_DEACT, NULL, "{}", S_OK, PROB_UNAUTHORIZED },
    { "kid with another server's prefix", JWS_NEED_KID, OUTER_OK, "ES256",
      N_FRESH, U_OK, K_KID_FOREIGN, NULL, "{}", S_OK,
      PROB_ACCOUNT_DOES_NOT_EXIST },
    { "jwk with a private member", JWS_NEED_JWK, OUTER_OK, "ES256", N_FRESH,
      U_OK, K_JWK_PRIVATE, NULL, "{}", S_OK, PROB_BAD_PUBLIC_KEY },
    { "jwk off the curve", JWS_NEED_JWK, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_JWK_OFF_CURVE, NULL, "{}", S_OK, PROB_BAD_PUBLIC_KEY },
    { "jwk of 1024-bit RSA", JWS_NEED_JWK, OUTER_OK, "RS256", N_FRESH, U_OK,
      K_JWK_RSA_SMALL, NULL, "{}", S_OK, PROB_BAD_PUBLIC_KEY },
    { "jwk a string", JWS_JWK_OR_KID, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_JWK_NOT_OBJECT, NULL, "{}", S_OK, PROB_BAD_PUBLIC_KEY },
    { "wrong signature: flipped bit", JWS_NEED_JWK, OUTER_OK, "ES256",
      N_FRESH, U_OK, K_JWK, NULL, "{}", S_FLIPPED, PROB_MALFORMED },
    { "wrong signature: another key", JWS_NEED_JWK, OUTER_OK, "ES256",
      N_FRESH, U_OK, K_JWK, NULL, "{}", S_OTHER_KEY, PROB_MALFORMED },
    { "wrong signature: jwk of another key", JWS_NEED_JWK, OUTER_OK,
      "ES256", N_FRESH, U_OK, K_JWK_OTHER, NULL, "{}", S_OK,
      PROB_MALFORMED },
    { "wrong signature: kid, another key", JWS_NEED_KID, OUTER_OK, "ES256",
      N_FRESH, U_OK, K_KID, NULL, "{}", S_OTHER_KEY, PROB_MALFORMED },
    { "wrong signature: other payload", JWS_NEED_KID, OUTER_OK, "ES256",
      N_FRESH, U_OK, K_KID, NULL, "{\"a\":1}", S_OTHER_INPUT,
      PROB_MALFORMED },
    { "payload an array", JWS_NEED_JWK, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_JWK, NULL, "[]", S_OK, PROB_MALFORMED },
    { "payload a string", JWS_NEED_KID, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_KID, NULL, "\"x\"", S_OK, PROB_MALFORMED },
    { "payload not JSON", JWS_NEED_KID, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_KID, NULL, "{nope", S_OK, PROB_MALFORMED },
    { "payload with a duplicate member", JWS_NEED_KID, OUTER_OK, "ES256",
      N_FRESH, U_OK, K_KID, NULL, "{\"a\":1,\"a\":2}", S_OK,
      PROB_MALFORMED },
    { "payload JSON null", JWS_NEED_KID, OUTER_OK, "ES256", N_FRESH, U_OK,
      K_KID, NULL, "null", S_OK, PROB_MALFORMED },
    { "crit present", JWS_NEED_JWK, OUTER_OK, "ES256", N_FRESH, U_OK, K_JWK,
      "\"crit\":[\"exp\"],\"exp\":1", "{}", S_OK, PROB_MALFORMED },
    { "duplicate member in the protected header", JWS_NEED_JWK, OUTER_OK,
      "ES256", N_FRESH, U_OK, K_JWK, "\"url\":\"" BASE REQ_PATH "\"", "{}",
      S_OK, PROB_MALFORMED },
    { "duplicate alg in the protected header", JWS_NEED_JWK, OUTER_OK,
      "ES256", N_FRESH, U_OK, K_JWK, "\"alg\":\"none\"", "{}", S_OK,
      PROB_MALFORMED },
};

/* ---- building a request -------------------------------------------- */

static void
append(char *dst, size_t dstlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char *dst, size_t dstlen, const char *fmt, ...)
{
    size_t used = strlen(dst);
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(dst + used, dstlen - used, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < dstlen - used);
}

/* Appends a header member, with a comma when one came before. */
static void
member(char *hdr, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
member(char *hdr, size_t len, const char *fmt, ...)
{
    char one[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(one, sizeof(one), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(one));
    append(hdr, len, "%s%s", strlen(hdr) > 1 ? "," : "", one);
}

static void
b64_text(const char *text, char *out, size_t outlen)
{
    assert_int_equal(b64url_encode(text, strlen(text), out, outlen), AP_OK);
}

/* A "kid" header member: the account URL of id under base. */
#define KID(base, id) "\"kid\":\"" base PATH_ACCOUNT id "\""

/* Builds the request body of row into body. */
static void
build_body(const struct jws_row *row, char *body, size_t bodylen)
{
    char hdr[2048] = "{";
    char prot[3072];
    char payload[1024];
    char input[4096];
    char sig[128];
    char nonce[NONCE_LEN + 1];
    struct nonce_ctx *other = NULL;

    body[0] = '\0';
    if (row->alg != NULL) {
        member(hdr, sizeof(hdr), "\"alg\":\"%s\"", row->alg);
    }
    switch (row->nonce) {
    case N_FRESH:
    case N_REPLAYED:
        assert_int_equal(nonce_issue(g.app.nonces, nonce, sizeof(nonce)),
                         AP_OK);
        if (row->nonce == N_REPLAYED) {
            assert_int_equal(nonce_consume(g.app.nonces, nonce), NONCE_OK);
        }
        member(hdr, sizeof(hdr), "\"nonce\":\"%s\"", nonce);
        break;
    case N_NONE:
        break;
    case N_MADE_UP:
        member(hdr, sizeof(hdr), "\"nonce\":\"%s\"",
               "bWFkZS11cC1ub25jZS1tYWRlLXVwLW5vbmNlLW1hZGU");
        break;
    case N_OTHER_CTX:
        assert_int_equal(nonce_ctx_new(60, &other), AP_OK);
        assert_int_equal(nonce_issue(other, nonce, sizeof(nonce)), AP_OK);
        nonce_ctx_free(other);
        member(hdr, sizeof(hdr), "\"nonce\":\"%s\"", nonce);
        break;
    case N_NUMBER:
        member(hdr, sizeof(hdr), "\"nonce\":5");
        break;
    }
    switch (row->url) {
    case U_OK:
        member(hdr, sizeof(hdr), "\"url\":\"" BASE REQ_PATH "\"");
        break;
    case U_NONE:
        break;
    case U_OTHER:
        member(hdr, sizeof(hdr), "\"url\":\"" BASE PATH_NEW_ACCOUNT "\"");
        break;
    case U_OTHER_HOST:
        member(hdr, sizeof(hdr), "\"url\":\"https://other.test" REQ_PATH "\"");
        break;
    case U_TRAILING:
        member(hdr, sizeof(hdr), "\"url\":\"" BASE REQ_PATH "/\"");
        break;
    }
    switch (row->key) {
    case K_JWK:
        member(hdr, sizeof(hdr), "\"jwk\":%s", g.key.jwk);
        break;
    case K_KID:
        member(hdr, sizeof(hdr), KID(BASE, ACCT_VALID));
        break;
    case K_BOTH:
        member(hdr, sizeof(hdr), "\"jwk\":%s", g.key.jwk);
        member(hdr, sizeof(hdr), KID(BASE, ACCT_VALID));
        break;
    case K_NONE:
        break;
    case K_KID_UNKNOWN:
        member(hdr, sizeof(hdr), KID(BASE, ACCT_NOKEY));
        break;
    case K_KID_DEACT:
        member(hdr, sizeof(hdr), KID(BASE, ACCT_DEACT));
        break;
    case K_KID_FOREIGN:
        member(hdr, sizeof(hdr), KID("https://acme.other", ACCT_VALID));
        break;
    case K_KID_NUMBER:
        member(hdr, sizeof(hdr), "\"kid\":1");
        break;
    case K_JWK_PRIVATE:
        member(hdr, sizeof(hdr), "\"jwk\":%s", g.key.jwk_private);
        break;
    case K_JWK_OTHER:
        member(hdr, sizeof(hdr), "\"jwk\":%s", g.other.jwk);
        break;
    case K_JWK_OFF_CURVE:
        member(hdr, sizeof(hdr),
               "\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-256\","
               "\"x\":\"_____wAAAAEAAAAAAAAAAAAAAAD_______________8\","
               "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}");
        break;
    case K_JWK_RSA_SMALL:
        member(hdr, sizeof(hdr),
               "\"jwk\":{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\""
               "qsuSEdewGlNXJHhd-SRS1VTpGU1Kn8hag-urYgJMhr68fUlPjltJ_IBm8Ye0E5yI"
               "XkOk4U6T4nZq-zNEDOeyDH0XIJ9_PMHJZC43Hoo5gy4LdFb7iLOLTjW8W7ld_iyz"
               "Pm9I25rO9Yfbv3GZWyydBGXPW9M2gOeTmZVd2zv7iXM\"}");
        break;
    case K_JWK_NOT_OBJECT:
        member(hdr, sizeof(hdr), "\"jwk\":\"a string\"");
        break;
    }
    if (row->extra != NULL) {
        member(hdr, sizeof(hdr), "%s", row->extra);
    }
    append(hdr, sizeof(hdr), "}");

    b64_text(hdr, prot, sizeof(prot));
    b64_text(row->payload, payload, sizeof(payload));
    input[0] = '\0';
    if (row->sig == S_OTHER_INPUT) {
        append(input, sizeof(input), "%s.%s", prot, "e30");
    } else {
        append(input, sizeof(input), "%s.%s", prot, payload);
    }
    sign_es256(row->sig == S_OTHER_KEY ? &g.other : &g.key, input, sig,
               sizeof(sig));
    if (row->sig == S_FLIPPED) {
        /* Character 10 of 86 carries six bits of R: change one. */
        sig[10] = sig[10] == 'A' ? 'B' : 'A';
    }

    switch (row->outer) {
    case OUTER_OK:
        append(body, bodylen,
               "{\"protected\":\"%s\",\"payload\":\"%s\","
               "\"signature\":\"%s\"}",
               prot, payload, sig);
        break;
    case OUTER_NOT_JSON:
        append(body, bodylen, "protected=%s&payload=%s&signature=%s", prot,
               payload, sig);
        break;
    case OUTER_ARRAY:
        append(body, bodylen,
               "[{\"protected\":\"%s\",\"payload\":\"%s\","
               "\"signature\":\"%s\"}]",
               prot, payload, sig);
        break;
    case OUTER_EXTRA_HEADER:
        append(body, bodylen,
               "{\"protected\":\"%s\",\"header\":{\"kid\":\"x\"},"
               "\"payload\":\"%s\",\"signature\":\"%s\"}",
               prot, payload, sig);
        break;
    case OUTER_GENERAL:
        append(body, bodylen,
               "{\"payload\":\"%s\",\"signatures\":[{\"protected\":\"%s\","
               "\"signature\":\"%s\"}]}",
               payload, prot, sig);
        break;
    case OUTER_NO_SIGNATURE:
        append(body, bodylen, "{\"protected\":\"%s\",\"payload\":\"%s\"}",
               prot, payload);
        break;
    case OUTER_SIG_NOT_STRING:
        append(body, bodylen,
               "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":1}",
               prot, payload);
        break;
    case OUTER_DUP_MEMBER:
        append(body, bodylen,
               "{\"protected\":\"%s\",\"payload\":\"%s\",\"payload\":\"%s\","
               "\"signature\":\"%s\"}",
               prot, payload, payload, sig);
        break;
    case OUTER_B64_PROTECTED:
        append(body, bodylen,
               "{\"protected\":\"%s=\",\"payload\":\"%s\","
               "\"signature\":\"%s\"}",
               prot, payload, sig);
        break;
    case OUTER_B64_PAYLOAD:
        /* "{}" in padded base64. */
        append(body, bodylen,
               "{\"protected\":\"%s\",\"payload\":\"e30=\","
               "\"signature\":\"%s\"}",
               prot, sig);
        break;
    case OUTER_B64_SIGNATURE:
        append(body, bodylen,
               "{\"protected\":\"%s\",\"payload\":\"%s\","
               "\"signature\":\"%s=\"}",
               prot, payload, sig);
        break;
    }
}

/* ---- the test ------------------------------------------------------- */

static bool
msg_is_empty(const struct jws_msg *m)
{
    static const struct jws_msg zero;

    return memcmp(m, &zero, sizeof(zero)) == 0;
}

static void
test_jws(void **state)
{
    const struct jws_row *row = *state;
    struct acme_req req;
    struct acme_resp resp;
    struct jws_msg msg;
    char body[8192];
    cJSON *doc = NULL;
    const cJSON *algs = NULL;
    const char *type = NULL;
    long long status = 0;
    ap_err rc;

    build_body(row, body, sizeof(body));
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = REQ_PATH;
    req.content_type = "application/jose+json";
    req.body = body;
    req.body_len = strlen(body);
    req.remote_addr = "127.0.0.1";
    snprintf(req.url, sizeof(req.url), "%s%s", BASE, REQ_PATH);
    acme_resp_init(&resp);
    memset(&msg, 0xa5, sizeof(msg));

    rc = jws_verify(&g.app, &req, row->mode, &resp, &msg);
    assert_int_equal(rc, AP_OK);
    if (row->want == WANT_OK) {
        if (resp.status != 0) {
            print_error("refused: %s\n", resp.body.data);
        }
        assert_int_equal(resp.status, 0);
        assert_non_null(msg.key);
        assert_string_equal(msg.thumbprint, g.key.thumbprint);
        assert_int_equal(msg.post_as_get, row->payload[0] == '\0');
        if (msg.post_as_get) {
            assert_null(msg.payload);
        } else {
            assert_non_null(msg.payload);
            assert_true(cJSON_IsObject(msg.payload));
            doc = NULL;
            assert_int_equal(json_parse(row->payload, strlen(row->payload),
                                        &doc),
                             AP_OK);
            assert_true(cJSON_Compare(doc, msg.payload, true));
            cJSON_Delete(doc);
            doc = NULL;
        }
        if (row->key == K_KID) {
            assert_string_equal(msg.account_id, ACCT_VALID);
            assert_non_null(msg.account);
            assert_string_equal(json_str(msg.account, "id", ""), ACCT_VALID);
            assert_string_equal(json_str(msg.account, "status", ""), "valid");
        } else {
            assert_string_equal(msg.account_id, "");
            assert_null(msg.account);
        }
        jws_msg_fini(&msg);
        assert_true(msg_is_empty(&msg));
        acme_resp_fini(&resp);
        return;
    }

    /* Refused: the problem, and an empty msg. */
    if (resp.status != problem_status(row->want)) {
        print_error("status %d, body %s\n", resp.status,
                    resp.body.data ? resp.body.data : "(none)");
    }
    assert_int_equal(resp.status, problem_status(row->want));
    assert_true(resp.is_problem);
    assert_true(msg_is_empty(&msg));
    assert_non_null(resp.body.data);
    assert_int_equal(json_parse(resp.body.data, resp.body.len, &doc), AP_OK);
    assert_int_equal(json_get_string(doc, "type", 200, &type), AP_OK);
    assert_string_equal(type, problem_urn(row->want));
    assert_int_equal(json_get_int(doc, "status", 0, 999, &status), AP_OK);
    assert_int_equal(status, problem_status(row->want));
    if (row->want == PROB_BAD_SIGNATURE_ALGORITHM) {
        /* RFC 8555 §6.2: the algorithms the server supports. */
        assert_int_equal(json_get_array(doc, "algorithms", &algs), AP_OK);
        bool es256 = false;

        assert_true(cJSON_GetArraySize(algs) > 0);
        for (const cJSON *a = algs->child; a != NULL; a = a->next) {
            assert_true(cJSON_IsString(a));
            assert_string_not_equal(a->valuestring, "none");
            es256 = es256 || strcmp(a->valuestring, "ES256") == 0;
        }
        assert_true(es256);
    }
    cJSON_Delete(doc);
    jws_msg_fini(&msg);
    acme_resp_fini(&resp);
}

/* The same request twice: the second is a replay (badNonce). */
static void
test_same_request_twice(void **state)
{
    const struct jws_row *row = &good_rows[2];
    struct acme_req req;
    struct acme_resp resp;
    struct jws_msg msg;
    char body[8192];
    int i;

    (void)state;
    build_body(row, body, sizeof(body));
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = REQ_PATH;
    req.body = body;
    req.body_len = strlen(body);
    snprintf(req.url, sizeof(req.url), "%s%s", BASE, REQ_PATH);
    for (i = 0; i < 2; i++) {
        acme_resp_init(&resp);
        assert_int_equal(jws_verify(&g.app, &req, JWS_NEED_KID, &resp, &msg),
                         AP_OK);
        assert_int_equal(resp.status,
                         i == 0 ? 0 : problem_status(PROB_BAD_NONCE));
        jws_msg_fini(&msg);
        acme_resp_fini(&resp);
    }
}

/* ---- the shape every user shares ----------------------------------- */

enum shape_user { USER_REQUEST, USER_INNER, USER_EAB };

enum mutation {
    M_NONE,               /* the valid object: the control */
    M_NOT_OBJECT,         /* [ the object ] */
    M_UNPROTECTED_HEADER, /* "header": {"kid":"x"} added */
    M_EXTRA_MEMBER,       /* "extra": "x" added */
    M_GENERAL,            /* the general serialization: "signatures" */
    M_DUP_PROTECTED,      /* "protected" twice */
    M_DUP_PAYLOAD,        /* "payload" twice */
    M_DUP_SIGNATURE,      /* "signature" twice */
    M_NO_PAYLOAD,         /* no "payload" member */
    M_SIG_NOT_STRING,     /* "signature": 1 */
    M_B64_PROTECTED,      /* "=" appended to protected */
    M_B64_PAYLOAD,        /* "=" appended to payload */
    M_B64_SIGNATURE,      /* "=" appended to signature */
    M_B64_PLUS,           /* '+' (standard base64) in the payload */
    M_HDR_NOT_OBJECT,     /* the protected header is [] */
    M_HDR_NOT_JSON,       /* the protected header is not JSON */
    M_HDR_DUP_MEMBER,     /* "url" twice in the protected header */
    M_HDR_CRIT,           /* "crit" in the protected header */
    M_HDR_NO_ALG,         /* no alg */
    M_HDR_ALG_NONE,       /* alg "none" */
};

struct shape_row {
    const char *name;
    enum shape_user user;
    enum mutation m;
    enum problem_type want; /* WANT_OK: verified */
};

/* The same mutations for each user; only alg differs: an asymmetric alg
 * outside the list is badSignatureAlgorithm, EAB's MAC alg is malformed. */
#define SHAPE_ROWS(U, N, ALG)                                                \
    { N ": valid object (control)", U, M_NONE, WANT_OK },                    \
    { N ": not an object", U, M_NOT_OBJECT, PROB_MALFORMED },                \
    { N ": unprotected header", U, M_UNPROTECTED_HEADER, PROB_MALFORMED },   \
    { N ": extra member", U, M_EXTRA_MEMBER, PROB_MALFORMED },               \
    { N ": general serialization", U, M_GENERAL, PROB_MALFORMED },           \
    { N ": duplicate protected", U, M_DUP_PROTECTED, PROB_MALFORMED },       \
    { N ": duplicate payload", U, M_DUP_PAYLOAD, PROB_MALFORMED },           \
    { N ": duplicate signature", U, M_DUP_SIGNATURE, PROB_MALFORMED },       \
    { N ": missing payload", U, M_NO_PAYLOAD, PROB_MALFORMED },              \
    { N ": signature not a string", U, M_SIG_NOT_STRING, PROB_MALFORMED },   \
    { N ": bad base64url: protected", U, M_B64_PROTECTED, PROB_MALFORMED },  \
    { N ": bad base64url: payload", U, M_B64_PAYLOAD, PROB_MALFORMED },      \
    { N ": bad base64url: signature", U, M_B64_SIGNATURE, PROB_MALFORMED },  \
    { N ": standard base64 in payload", U, M_B64_PLUS, PROB_MALFORMED },     \
    { N ": header an array", U, M_HDR_NOT_OBJECT, PROB_MALFORMED },          \
    { N ": header not JSON", U, M_HDR_NOT_JSON, PROB_MALFORMED },            \
    { N ": duplicate header member", U, M_HDR_DUP_MEMBER, PROB_MALFORMED },  \
    { N ": crit", U, M_HDR_CRIT, PROB_MALFORMED },                           \
    { N ": no alg", U, M_HDR_NO_ALG, ALG },                                  \
    { N ": alg none", U, M_HDR_ALG_NONE, ALG }

static const struct shape_row shape_rows[] = {
    SHAPE_ROWS(USER_REQUEST, "shape: request", PROB_BAD_SIGNATURE_ALGORITHM),
    SHAPE_ROWS(USER_INNER, "shape: inner JWS", PROB_BAD_SIGNATURE_ALGORITHM),
    SHAPE_ROWS(USER_EAB, "shape: EAB", PROB_MALFORMED),
};

/* The protected header of user u as mutation m wants it. */
static void
shape_header(const struct shape_row *row, char *hdr, size_t len)
{
    char nonce[NONCE_LEN + 1];
    const char *alg = row->user == USER_EAB ? "HS256" : "ES256";

    hdr[0] = '\0';
    if (row->m == M_HDR_NOT_OBJECT) {
        append(hdr, len, "[]");
        return;
    }
    if (row->m == M_HDR_NOT_JSON) {
        append(hdr, len, "{\"alg\":");
        return;
    }
    append(hdr, len, "{");
    if (row->m == M_HDR_ALG_NONE) {
        member(hdr, len, "\"alg\":\"none\"");
    } else if (row->m != M_HDR_NO_ALG) {
        member(hdr, len, "\"alg\":\"%s\"", alg);
    }
    switch (row->user) {
    case USER_REQUEST:
        assert_int_equal(nonce_issue(g.app.nonces, nonce, sizeof(nonce)),
                         AP_OK);
        member(hdr, len, "\"nonce\":\"%s\"", nonce);
        member(hdr, len, "\"url\":\"" BASE REQ_PATH "\"");
        member(hdr, len, "\"jwk\":%s", g.key.jwk);
        break;
    case USER_INNER:
        member(hdr, len, "\"url\":\"" BASE PATH_KEY_CHANGE "\"");
        member(hdr, len, "\"jwk\":%s", g.other.jwk);
        break;
    case USER_EAB:
        member(hdr, len, "\"kid\":\"%s\"", g.eab_kid);
        member(hdr, len, "\"url\":\"" BASE PATH_NEW_ACCOUNT "\"");
        break;
    }
    if (row->m == M_HDR_DUP_MEMBER) {
        member(hdr, len, "\"url\":\"" BASE "/elsewhere\"");
    }
    if (row->m == M_HDR_CRIT) {
        member(hdr, len, "\"crit\":[\"exp\"],\"exp\":1");
    }
    append(hdr, len, "}");
}

/* Replaces (or adds) the string member key of o. */
static void
set_member(cJSON *o, const char *key, cJSON *v)
{
    assert_non_null(v);
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    assert_true(cJSON_AddItemToObject(o, key, v));
}

static const char *
member_text(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* Appends "=" to the string member key of o. */
static void
pad_member(cJSON *o, const char *key)
{
    char text[4096];

    snprintf(text, sizeof(text), "%s=", member_text(o, key));
    set_member(o, key, cJSON_CreateString(text));
}

/* A valid flattened JWS of row's user, then row's mutation applied. */
static cJSON *
shape_object(const struct shape_row *row)
{
    char hdr[2048];
    char prot[3072];
    char payload_text[1024];
    char payload[2048];
    char input[6144];
    char sig[128];
    cJSON *o = cJSON_CreateObject();
    cJSON *wrap;

    assert_non_null(o);
    shape_header(row, hdr, sizeof(hdr));
    switch (row->user) {
    case USER_REQUEST:
        snprintf(payload_text, sizeof(payload_text), "{}");
        break;
    case USER_INNER:
        snprintf(payload_text, sizeof(payload_text),
                 "{\"account\":\"" BASE PATH_ACCOUNT ACCT_VALID "\","
                 "\"oldKey\":%s}",
                 g.key.jwk);
        break;
    case USER_EAB:
        snprintf(payload_text, sizeof(payload_text), "%s", g.key.jwk);
        break;
    }
    b64_text(hdr, prot, sizeof(prot));
    b64_text(payload_text, payload, sizeof(payload));
    input[0] = '\0';
    append(input, sizeof(input), "%s.%s", prot, payload);
    if (row->user == USER_EAB) {
        unsigned char mac[CRYPTO_HMAC_MAX];
        size_t mac_len = 0;

        assert_int_equal(crypto_hmac("HS256", g.eab_key, sizeof(g.eab_key),
                                     input, strlen(input), mac, &mac_len),
                         AP_OK);
        assert_int_equal(b64url_encode(mac, mac_len, sig, sizeof(sig)),
                         AP_OK);
    } else {
        sign_es256(row->user == USER_INNER ? &g.other : &g.key, input, sig,
                   sizeof(sig));
    }
    set_member(o, "protected", cJSON_CreateString(prot));
    set_member(o, "payload", cJSON_CreateString(payload));
    set_member(o, "signature", cJSON_CreateString(sig));

    switch (row->m) {
    case M_NOT_OBJECT:
        wrap = cJSON_CreateArray();
        assert_non_null(wrap);
        assert_true(cJSON_AddItemToArray(wrap, o));
        return wrap;
    case M_UNPROTECTED_HEADER:
        wrap = cJSON_CreateObject();
        assert_non_null(cJSON_AddStringToObject(wrap, "kid", "x"));
        set_member(o, "header", wrap);
        break;
    case M_EXTRA_MEMBER:
        set_member(o, "extra", cJSON_CreateString("x"));
        break;
    case M_GENERAL:
        wrap = cJSON_CreateObject();
        assert_non_null(wrap);
        assert_true(cJSON_AddItemToObject(
            wrap, "protected", cJSON_DetachItemFromObject(o, "protected")));
        assert_true(cJSON_AddItemToObject(
            wrap, "signature", cJSON_DetachItemFromObject(o, "signature")));
        set_member(o, "signatures", cJSON_CreateArray());
        assert_true(cJSON_AddItemToArray(
            cJSON_GetObjectItemCaseSensitive(o, "signatures"), wrap));
        break;
    case M_DUP_PROTECTED:
    case M_DUP_PAYLOAD:
    case M_DUP_SIGNATURE: {
        const char *key = row->m == M_DUP_PROTECTED ? "protected"
                          : row->m == M_DUP_PAYLOAD ? "payload"
                                                    : "signature";

        /* cJSON_AddItemToObject does not look for the name: a second one. */
        assert_true(cJSON_AddItemToObject(
            o, key, cJSON_CreateString(member_text(o, key))));
        break;
    }
    case M_NO_PAYLOAD:
        cJSON_DeleteItemFromObjectCaseSensitive(o, "payload");
        break;
    case M_SIG_NOT_STRING:
        set_member(o, "signature", cJSON_CreateNumber(1));
        break;
    case M_B64_PROTECTED:
        pad_member(o, "protected");
        break;
    case M_B64_PAYLOAD:
        pad_member(o, "payload");
        break;
    case M_B64_SIGNATURE:
        pad_member(o, "signature");
        break;
    case M_B64_PLUS: {
        char text[2048];

        snprintf(text, sizeof(text), "+%s", member_text(o, "payload") + 1);
        set_member(o, "payload", cJSON_CreateString(text));
        break;
    }
    default:
        break;
    }
    return o;
}

/* Checks that resp holds a problem of type want (or none for WANT_OK). */
static void
expect_problem(struct acme_resp *resp, enum problem_type want)
{
    cJSON *doc = NULL;
    const char *type = NULL;

    if (want == WANT_OK) {
        if (resp->status != 0) {
            print_error("refused: %s\n", resp->body.data);
        }
        assert_int_equal(resp->status, 0);
        return;
    }
    if (resp->status != problem_status(want)) {
        print_error("status %d, body %s\n", resp->status,
                    resp->body.data ? resp->body.data : "(none)");
    }
    assert_int_equal(resp->status, problem_status(want));
    assert_true(resp->is_problem);
    assert_int_equal(json_parse(resp->body.data, resp->body.len, &doc),
                     AP_OK);
    assert_int_equal(json_get_string(doc, "type", 200, &type), AP_OK);
    assert_string_equal(type, problem_urn(want));
    cJSON_Delete(doc);
}

/* The row through its user's entry point. */
static void
test_shape_user(void **state)
{
    const struct shape_row *row = *state;
    cJSON *o = shape_object(row);
    struct acme_resp resp;

    acme_resp_init(&resp);
    switch (row->user) {
    case USER_REQUEST: {
        struct acme_req req;
        struct jws_msg msg;
        char *body = cJSON_PrintUnformatted(o);

        assert_non_null(body);
        memset(&req, 0, sizeof(req));
        req.method = "POST";
        req.path = REQ_PATH;
        req.body = body;
        req.body_len = strlen(body);
        snprintf(req.url, sizeof(req.url), "%s%s", BASE, REQ_PATH);
        assert_int_equal(jws_verify(&g.app, &req, JWS_NEED_JWK, &resp, &msg),
                         AP_OK);
        expect_problem(&resp, row->want);
        assert_int_equal(msg.key != NULL, row->want == WANT_OK);
        jws_msg_fini(&msg);
        cJSON_free(body);
        break;
    }
    case USER_INNER: {
        struct crypto_key *key = NULL;
        cJSON *payload = NULL;

        assert_int_equal(jws_verify_inner(o, BASE PATH_KEY_CHANGE, &resp,
                                          &key, &payload),
                         AP_OK);
        expect_problem(&resp, row->want);
        assert_int_equal(key != NULL, row->want == WANT_OK);
        assert_int_equal(payload != NULL, row->want == WANT_OK);
        crypto_key_free(key);
        cJSON_Delete(payload);
        break;
    }
    case USER_EAB: {
        cJSON *rec = NULL;

        assert_int_equal(eab_verify(&g.app, o, BASE PATH_NEW_ACCOUNT,
                                    g.key.thumbprint, &resp, &rec),
                         AP_OK);
        expect_problem(&resp, row->want);
        assert_int_equal(rec != NULL, row->want == WANT_OK);
        if (rec != NULL) {
            assert_string_equal(json_str(rec, "label", ""), "team-shape");
        }
        eab_record_free(rec);
        break;
    }
    }
    acme_resp_fini(&resp);
    cJSON_Delete(o);
}

struct counting {
    unsigned calls;
    char alg[17];        /* what the verifier was lent, copied */
    size_t payload_len;
};

static ap_err
count_verifier(void *arg, const struct jws_parts *jp, struct acme_resp *resp)
{
    struct counting *c = arg;

    (void)resp;
    c->calls++;
    snprintf(c->alg, sizeof(c->alg), "%s", jp->alg_name);
    c->payload_len = jp->payload_len;
    return AP_OK;
}

/* The row through jws_parse alone with a verifier that only counts: a
 * shape failure never reaches it, the control reaches it once with the
 * decoded parts. */
static void
test_shape_parser(void **state)
{
    const struct shape_row *row = *state;
    cJSON *o = shape_object(row);
    struct counting c = { 0 };
    const struct jws_use use = {
        .name = "test",
        .max_member = 8192,
        .max_sig = row->user == USER_EAB ? 0 : JWS_MAX_SIG,
        .algs = row->user == USER_EAB ? JWS_ALG_MAC : JWS_ALG_SIGNATURE,
        .verify = count_verifier,
        .arg = &c,
    };
    struct acme_resp resp;
    unsigned char *payload = NULL;
    size_t payload_len = 0;

    acme_resp_init(&resp);
    assert_int_equal(jws_parse(o, &use, &resp, &payload, &payload_len),
                     AP_OK);
    expect_problem(&resp, row->want);
    if (row->want == WANT_OK) {
        assert_int_equal(c.calls, 1);
        assert_string_equal(c.alg, row->user == USER_EAB ? "HS256" : "ES256");
        assert_non_null(payload);
        assert_int_equal(payload_len, c.payload_len);
        assert_int_equal(payload[0], '{');
        assert_int_equal(payload[payload_len], '\0');
    } else {
        assert_int_equal(c.calls, 0);
        assert_null(payload);
        assert_int_equal(payload_len, 0);
    }
    free(payload);
    acme_resp_fini(&resp);
    cJSON_Delete(o);
}

/* A verifier's refusal stands, and the payload is not handed out. */
static ap_err
refusing_verifier(void *arg, const struct jws_parts *jp,
                  struct acme_resp *resp)
{
    (void)arg;
    (void)jp;
    problem_set(resp, PROB_UNAUTHORIZED, "refused by the verifier");
    return AP_OK;
}

static void
test_parser_verifier_refuses(void **state)
{
    static const struct shape_row row = { "x", USER_INNER, M_NONE, WANT_OK };
    cJSON *o = shape_object(&row);
    const struct jws_use use = {
        .name = "test",
        .max_member = 8192,
        .algs = JWS_ALG_SIGNATURE,
        .verify = refusing_verifier,
    };
    struct acme_resp resp;
    unsigned char *payload = (unsigned char *)"x";
    size_t payload_len = 7;

    (void)state;
    acme_resp_init(&resp);
    assert_int_equal(jws_parse(o, &use, &resp, &payload, &payload_len),
                     AP_OK);
    expect_problem(&resp, PROB_UNAUTHORIZED);
    assert_null(payload);
    assert_int_equal(payload_len, 0);
    acme_resp_fini(&resp);
    cJSON_Delete(o);
}

/* A member over the use's cap, and a signature over max_sig. */
static void
test_parser_caps(void **state)
{
    static const struct shape_row row = { "x", USER_INNER, M_NONE, WANT_OK };
    struct counting c = { 0 };
    struct jws_use use = {
        .name = "test",
        .max_member = 8192,
        .max_sig = 32, /* an ES256 signature is 64 bytes */
        .algs = JWS_ALG_SIGNATURE,
        .verify = count_verifier,
        .arg = &c,
    };
    cJSON *o = shape_object(&row);
    struct acme_resp resp;

    (void)state;
    acme_resp_init(&resp);
    assert_int_equal(jws_parse(o, &use, &resp, NULL, NULL), AP_OK);
    expect_problem(&resp, PROB_MALFORMED);
    acme_resp_fini(&resp);

    /* The longest member one byte over the cap, then at it. */
    use.max_sig = 64;
    use.max_member = strlen(member_text(o, "protected"));
    if (strlen(member_text(o, "payload")) > use.max_member) {
        use.max_member = strlen(member_text(o, "payload"));
    }
    use.max_member--;
    acme_resp_init(&resp);
    assert_int_equal(jws_parse(o, &use, &resp, NULL, NULL), AP_OK);
    expect_problem(&resp, PROB_MALFORMED);
    acme_resp_fini(&resp);
    assert_int_equal(c.calls, 0);

    use.max_member++;
    acme_resp_init(&resp);
    assert_int_equal(jws_parse(o, &use, &resp, NULL, NULL), AP_OK);
    expect_problem(&resp, WANT_OK);
    acme_resp_fini(&resp);
    assert_int_equal(c.calls, 1);
    cJSON_Delete(o);
}

/* ---- runner -------------------------------------------------------- */


/* Verifies row's request (built fresh, so with a fresh nonce) and returns
 * the problem type, or WANT_OK. */
static enum problem_type
verify_row(const struct jws_row *row)
{
    struct acme_req req;
    struct acme_resp resp;
    struct jws_msg msg;
    char body[8192];
    enum problem_type got = WANT_OK;

    build_body(row, body, sizeof(body));
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = REQ_PATH;
    req.content_type = "application/jose+json";
    req.body = body;
    req.body_len = strlen(body);
    snprintf(req.url, sizeof(req.url), "%s%s", BASE, REQ_PATH);
    acme_resp_init(&resp);
    assert_int_equal(jws_verify(&g.app, &req, row->mode, &resp, &msg),
                     AP_OK);
    if (resp.status != 0) {
        got = (enum problem_type)resp.problem;
    } else {
        jws_msg_fini(&msg);
    }
    acme_resp_fini(&resp);
    return got;
}

/* Rewrites account ACCT_VALID with status and the JWK of k. */
static void
set_account(const char *status, const struct test_key *k)
{
    struct store_txn *txn = NULL;
    char rec[1024];

    snprintf(rec, sizeof(rec),
             "{\"id\":\"%s\",\"status\":\"%s\",\"jwk\":%s,"
             "\"thumbprint\":\"%s\"}",
             ACCT_VALID, status, k->jwk, k->thumbprint);
    assert_int_equal(store_begin(g.app.st, true, &txn), AP_OK);
    assert_int_equal(store_put(txn, STORE_ACCOUNTS, ACCT_VALID, rec,
                               strlen(rec), false),
                     AP_OK);
    assert_int_equal(store_commit(txn), AP_OK);
}

/* The account key cache (issue 18) never stands in for the account: with
 * the old key's parse cached, a rolled-over account accepts only the new
 * key, and a deactivated one nothing. Repeated requests are hits. */
static void
test_key_cache_rollover(void **state)
{
    const struct jws_row by_key = { "kid: request", JWS_NEED_KID, OUTER_OK,
                                    "ES256", N_FRESH, U_OK, K_KID, NULL,
                                    "{}", S_OK, WANT_OK };
    const struct jws_row by_other = { "kid: signed by g.other", JWS_NEED_KID,
                                      OUTER_OK, "ES256", N_FRESH, U_OK,
                                      K_KID, NULL, "{}", S_OTHER_KEY,
                                      WANT_OK };
    struct jwk_cache_stats before;
    struct jwk_cache_stats after;

    (void)state;
    assert_int_equal(verify_row(&by_key), WANT_OK);
    jws_key_cache_stats(&before);
    assert_int_equal(verify_row(&by_key), WANT_OK);
    jws_key_cache_stats(&after);
    assert_int_equal(after.hits, before.hits + 1);
    assert_int_equal(after.misses, before.misses);

    /* rollover to g.other */
    set_account("valid", &g.other);
    assert_int_equal(verify_row(&by_key), PROB_MALFORMED);
    assert_int_equal(verify_row(&by_other), WANT_OK);
    /* and back: the first key's parse may come from the cache again */
    set_account("valid", &g.key);
    assert_int_equal(verify_row(&by_other), PROB_MALFORMED);
    assert_int_equal(verify_row(&by_key), WANT_OK);
    /* deactivated while its key is cached */
    set_account("deactivated", &g.key);
    assert_int_equal(verify_row(&by_key), PROB_UNAUTHORIZED);
    set_account("valid", &g.key);
    assert_int_equal(verify_row(&by_key), WANT_OK);
    jws_key_cache_stats(&after);
    assert_true(after.entries >= 1 && after.entries <= 128);
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(bad_rows) >= N_ROWS(good_rows),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, good_rows, test_jws);
    ADD_ROWS(&l, bad_rows, test_jws);
    add_test(&l, "same request twice", test_same_request_twice, NULL);
    add_test(&l, "account key cache: rollover and deactivation",
             test_key_cache_rollover, NULL);
    ADD_ROWS(&l, shape_rows, test_shape_user);
    for (size_t i = 0; i < N_ROWS(shape_rows); i++) {
        static char names[N_ROWS(shape_rows)][96];

        snprintf(names[i], sizeof(names[i]), "parser: %s",
                 shape_rows[i].name);
        add_test(&l, names[i], test_shape_parser, &shape_rows[i]);
    }
    add_test(&l, "parser: a verifier's refusal stands",
             test_parser_verifier_refuses, NULL);
    add_test(&l, "parser: member and signature caps", test_parser_caps,
             NULL);

    failed = _cmocka_run_group_tests("jws", l.tests, l.n, group_setup,
                                     group_teardown);
    free(l.tests);
    return failed;
}
