/* fuzz_jws: proxy/jws.c, the flattened JWS of every ACME POST
 * (jws_verify) and the inner JWS of a key change (jws_verify_inner),
 * against a minimal struct app: a config with base_url
 * https://acme.test, a nonce context and a store in a temporary directory
 * (removed at exit) holding two valid accounts, one with a P-256 key and
 * one with an RSA-2048 key, made at start-up.
 *
 * So that inputs get past the nonce and reach the key and signature
 * checks, an input is usually a template:
 *   byte 0     flags: bits 0-1 the key mode (JWS_NEED_JWK, JWS_NEED_KID,
 *              JWS_JWK_OR_KID, or 3: the inner JWS of a key change);
 *              bit 2 "raw": the rest is the HTTP body as it is;
 *              bit 3 sign: an empty signature part is replaced by a valid
 *              signature of the fixed key (bit 4: the RSA one, RS256;
 *              else ES256)
 *   then       protected header, NUL, payload, NUL, signature bytes
 * In the protected header "@N@" becomes a fresh nonce, "@J@" the JWK of
 * the fixed key (bit 4 chooses which) and "@K@" its account URL. The
 * target base64url-encodes the parts into {"protected","payload",
 * "signature"}. Whatever jws_verify answers, a problem must come with a
 * status and nothing may leak. */
#include "test/fuzz/fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "common/b64url.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/jwk.h"
#include "common/store.h"
#include "proxy/app.h"
#include "proxy/http.h"
#include "proxy/jws.h"
#include "proxy/nonce.h"

#define BASE "https://acme.test"
#define REQ_URL BASE PATH_NEW_ORDER
#define ACCT_EC "fuzzAcctEC0123456789AB"
#define ACCT_RSA "fuzzAcctRSA123456789AB"
#define FUZZ_MAX_INPUT 65536
/* Caps of the buffers a template expands into (appends past them fail,
 * which only makes the request shorter). */
#define MAX_EXPANDED (1u << 20)

enum { F_MODE = 3, F_RAW = 4, F_SIGN = 8, F_RSA = 16 };

static struct {
    struct config cfg;
    struct app app;
    char dir[64];
    EVP_PKEY *key[2];      /* [0] P-256, [1] RSA-2048 */
    char jwk[2][1024];     /* their public JWKs */
} g;

static void
cleanup(void)
{
    char path[128];
    struct dirent *e;
    DIR *d;

    nonce_ctx_free(g.app.nonces);
    store_close(g.app.st);
    EVP_PKEY_free(g.key[0]);
    EVP_PKEY_free(g.key[1]);
    d = opendir(g.dir);
    if (d == NULL) {
        return;
    }
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (e->d_name[0] != '.' &&
            snprintf(path, sizeof(path), "%s/%s", g.dir, e->d_name) <
                (int)sizeof(path)) {
            (void)unlink(path);
        }
    }
    closedir(d);
    (void)rmdir(g.dir);
}

/* The public JWK of key into out, through the proxy's own encoder. */
static void
jwk_of(EVP_PKEY *key, char *out, size_t outlen)
{
    unsigned char buf[1024];
    char b1[700];
    char b2[100];
    size_t n = 0;
    BIGNUM *bn = NULL;

    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buf,
                                            sizeof(buf), &n) != 1 ||
            n != 65 || b64url_encode(buf + 1, 32, b1, sizeof(b1)) != AP_OK ||
            b64url_encode(buf + 33, 32, b2, sizeof(b2)) != AP_OK) {
            abort();
        }
        snprintf(out, outlen,
                 "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                 b1, b2);
        return;
    }
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &bn) != 1 ||
        BN_bn2bin(bn, buf) != 256 ||
        b64url_encode(buf, 256, b1, sizeof(b1)) != AP_OK) {
        abort();
    }
    BN_free(bn);
    snprintf(out, outlen, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"%s\"}", b1);
}

static void
put_account(struct store_txn *txn, const char *id, const char *jwk)
{
    struct crypto_key *key = NULL;
    char tp[CRYPTO_THUMBPRINT_LEN + 1];
    char rec[2048];
    cJSON *j = cJSON_Parse(jwk);

    if (j == NULL || crypto_jwk_parse(j, &key, NULL, 0) != AP_OK ||
        crypto_key_thumbprint(key, tp, sizeof(tp)) != AP_OK) {
        abort();
    }
    snprintf(rec, sizeof(rec),
             "{\"id\":\"%s\",\"status\":\"valid\",\"jwk\":%s,"
             "\"thumbprint\":\"%s\"}",
             id, jwk, tp);
    if (store_put(txn, STORE_ACCOUNTS, id, rec, strlen(rec), true) != AP_OK) {
        abort();
    }
    crypto_key_free(key);
    cJSON_Delete(j);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct store_txn *txn = NULL;
    char errbuf[256];

    (void)argc;
    (void)argv;
    if (crypto_init() != AP_OK) {
        abort();
    }
    g.cfg.server.base_url = (char *)BASE;
    g.cfg.acme.nonce_ttl_sec = 60;
    g.app.cfg = &g.cfg;
    g.app.base = g.cfg.server.base_url;
    snprintf(g.dir, sizeof(g.dir), "/tmp/fuzz_jws.XXXXXX");
    if (mkdtemp(g.dir) == NULL) {
        abort();
    }
    atexit(cleanup);
    if (store_open(&(struct store_config){ .dir = g.dir,
                                           .map_size_mb = 16 },
                   &g.app.st, errbuf, sizeof(errbuf)) != AP_OK ||
        nonce_ctx_new(g.cfg.acme.nonce_ttl_sec, &g.app.nonces) != AP_OK) {
        abort();
    }
    g.key[0] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    g.key[1] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (g.key[0] == NULL || g.key[1] == NULL) {
        abort();
    }
    jwk_of(g.key[0], g.jwk[0], sizeof(g.jwk[0]));
    jwk_of(g.key[1], g.jwk[1], sizeof(g.jwk[1]));
    if (store_begin(g.app.st, true, &txn) != AP_OK) {
        abort();
    }
    put_account(txn, ACCT_EC, g.jwk[0]);
    put_account(txn, ACCT_RSA, g.jwk[1]);
    if (store_commit(txn) != AP_OK) {
        abort();
    }
    return 0;
}

/* Appends s[0..len) to b with @N@, @J@, @K@ replaced. */
static void
expand(struct buf *b, const char *s, size_t len, bool rsa)
{
    char nonce[NONCE_LEN + 1];
    char kid[128];

    for (size_t i = 0; i < len; i++) {
        if (i + 3 <= len && s[i] == '@' && s[i + 2] == '@') {
            if (s[i + 1] == 'N') {
                if (nonce_issue(g.app.nonces, nonce, sizeof(nonce)) !=
                    AP_OK) {
                    abort();
                }
                (void)buf_appends(b, nonce);
                i += 2;
                continue;
            }
            if (s[i + 1] == 'J') {
                (void)buf_appends(b, g.jwk[rsa ? 1 : 0]);
                i += 2;
                continue;
            }
            if (s[i + 1] == 'K') {
                snprintf(kid, sizeof(kid), "%s%s%s", BASE, PATH_ACCOUNT,
                         rsa ? ACCT_RSA : ACCT_EC);
                (void)buf_appends(b, kid);
                i += 2;
                continue;
            }
        }
        (void)buf_append(b, s + i, 1);
    }
}

/* A JWS signature (raw R||S for ES256, RS256 for RSA) of the fixed key
 * over input, into sig. */
static size_t
sign(bool rsa, const char *input, size_t len, unsigned char *sig,
     size_t siglen)
{
    unsigned char der[600];
    size_t derlen = sizeof(der);
    const unsigned char *p = der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ECDSA_SIG *es = NULL;

    if (ctx == NULL ||
        EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL,
                              g.key[rsa ? 1 : 0], NULL) != 1 ||
        EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)input,
                       len) != 1) {
        abort();
    }
    EVP_MD_CTX_free(ctx);
    if (rsa) {
        if (derlen > siglen) {
            abort();
        }
        memcpy(sig, der, derlen);
        return derlen;
    }
    es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (es == NULL || siglen < 64 ||
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) != 32) {
        abort();
    }
    ECDSA_SIG_free(es);
    return 64;
}

/* body = the flattened JWS of the template in data (see the top). */
static void
build(const uint8_t *data, size_t size, unsigned flags, struct buf *body)
{
    const char *parts[3] = { "", "", "" };
    size_t lens[3] = { 0, 0, 0 };
    const char *s = (const char *)data;
    const char *nul;
    struct buf hdr;
    struct buf signing;
    unsigned char sig[600];
    size_t siglen;
    char *b64[3] = { NULL, NULL, NULL };
    bool rsa = (flags & F_RSA) != 0;

    for (int k = 0; k < 3; k++) {
        parts[k] = s;
        nul = k < 2 ? memchr(s, '\0', size) : NULL;
        lens[k] = nul != NULL ? (size_t)(nul - s) : size;
        if (nul == NULL) {
            break;
        }
        size -= lens[k] + 1;
        s = nul + 1;
    }
    buf_init(&hdr, MAX_EXPANDED);
    expand(&hdr, parts[0], lens[0], rsa);
    b64[0] = b64url_encode_alloc((const unsigned char *)hdr.data, hdr.len);
    b64[1] = b64url_encode_alloc((const unsigned char *)parts[1], lens[1]);
    if (b64[0] == NULL || b64[1] == NULL) {
        abort();
    }
    if (lens[2] == 0 && (flags & F_SIGN) != 0) {
        buf_init(&signing, 3 * MAX_EXPANDED);
        (void)buf_appends(&signing, b64[0]);
        (void)buf_append(&signing, ".", 1);
        (void)buf_appends(&signing, b64[1]);
        siglen = sign(rsa, signing.data != NULL ? signing.data : "",
                      signing.len, sig, sizeof(sig));
        buf_fini(&signing);
        b64[2] = b64url_encode_alloc(sig, siglen);
    } else {
        b64[2] = b64url_encode_alloc((const unsigned char *)parts[2],
                                     lens[2]);
    }
    if (b64[2] == NULL) {
        abort();
    }
    (void)buf_appends(body, "{\"protected\":\"");
    (void)buf_appends(body, b64[0]);
    (void)buf_appends(body, "\",\"payload\":\"");
    (void)buf_appends(body, b64[1]);
    (void)buf_appends(body, "\",\"signature\":\"");
    (void)buf_appends(body, b64[2]);
    (void)buf_appends(body, "\"}");
    for (int k = 0; k < 3; k++) {
        free(b64[k]);
    }
    buf_fini(&hdr);
}

static void
check_resp(const struct acme_resp *resp, ap_err rc)
{
    /* A refusal is a problem with a 4xx status; success has none. */
    if (rc == AP_OK && resp->status != 0 &&
        (resp->status < 400 || resp->status > 499 || !resp->is_problem)) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct acme_req req;
    struct acme_resp resp;
    struct jws_msg msg;
    struct buf body;
    unsigned flags;
    ap_err rc;

    if (size < 1 || size > FUZZ_MAX_INPUT) {
        return 0;
    }
    flags = data[0];
    buf_init(&body, 3 * MAX_EXPANDED);
    if ((flags & F_RAW) != 0) {
        (void)buf_append(&body, data + 1, size - 1);
    } else {
        build(data + 1, size - 1, flags, &body);
    }
    /* struct buf keeps its data NUL-terminated, as acme_req wants. */

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = PATH_NEW_ORDER;
    req.content_type = "application/jose+json";
    req.body = body.data != NULL ? body.data : "";
    req.body_len = body.len;
    snprintf(req.url, sizeof(req.url), "%s", REQ_URL);
    acme_resp_init(&resp);
    if ((flags & F_MODE) == 3) {
        struct crypto_key *key = NULL;
        cJSON *inner = NULL;
        cJSON *payload = NULL;

        if (json_parse(req.body, req.body_len, &inner) == AP_OK) {
            rc = jws_verify_inner(inner, REQ_URL, &resp, &key, &payload);
            check_resp(&resp, rc);
            if (rc == AP_OK && resp.status == 0 &&
                (key == NULL || payload == NULL)) {
                abort();
            }
        }
        crypto_key_free(key);
        cJSON_Delete(payload);
        cJSON_Delete(inner);
    } else {
        rc = jws_verify(&g.app, &req, (enum jws_key_mode)(flags & F_MODE),
                        &resp, &msg);
        check_resp(&resp, rc);
        if (rc == AP_OK && resp.status == 0) {
            if (msg.key == NULL ||
                (msg.payload == NULL) != msg.post_as_get) {
                abort();
            }
            jws_msg_fini(&msg);
        }
    }
    acme_resp_fini(&resp);
    buf_fini(&body);
    return 0;
}
