/* test/unit/test_val_tlsalpn01.c: the tls-alpn-01 validator
 * (proxy/val_tlsalpn01.c; RFC 8737 §3, RFC 8738 §6).
 *
 * Certificate rows: each describes a certificate, built here with
 * OpenSSL's X509 API (P-256 keys): its SANs, its acmeIdentifier
 * extension (critical or not, right or wrong digest, malformed, BER
 * instead of DER, twice), another critical extension, and who signed
 * it; val_tlsalpn01_check_cert must accept it or name the rule it
 * breaks.
 *
 * Session rows: the whole validator (validator_tlsalpn01.run) against a
 * responder this test runs on 127.0.0.1 at a free port: an OpenSSL
 * server with such a certificate (ALPN acme-tls/1 selected or not), one
 * that says nothing, one that closes at once, and one that answers the
 * ClientHello with the 15 bytes of issue 10 (a Certificate message whose
 * certificate_list is shorter than 3 bytes and whose first entry claims
 * 0xFFFFFF bytes), which made the old hand-written record sniffer read
 * 16 MiB out of a 64 KiB buffer. Each must end cleanly with the right
 * problem, and by the attempt's deadline. A DNS identifier goes through
 * test/unit/dnsstub.h (a.test: ::1 first, where nothing listens, then
 * 127.0.0.1). Every row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/dnsstub.h"
#include "test/unit/rows.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/netpolicy.h"
#include "common/timeutil.h"
#include "proxy/validate.h"

#define OID_ACME_ID "1.3.6.1.5.5.7.1.31"
#define OID_OTHER "1.3.6.1.4.1.99999.1" /* an extension nobody knows */
#define KEYAUTH "token.thumbprint"

enum ext_kind {
    EXT_GOOD,          /* OCTET STRING of the digest */
    EXT_NONE,
    EXT_WRONG_DIGEST,
    EXT_RAW,           /* the 32 bytes without the OCTET STRING */
    EXT_SHORT,         /* OCTET STRING of 31 bytes */
    EXT_TRAILING,      /* OCTET STRING then one byte more */
    EXT_BER,           /* OCTET STRING with a long-form length (not DER) */
    EXT_TWICE,         /* two acmeIdentifier extensions */
};

struct cert_spec {
    const char *sans;        /* "d:name i:addr ..." or "" for no SAN ext */
    enum ext_kind ext;
    int critical;            /* of the acmeIdentifier extension */
    int other_critical;      /* add an unknown critical extension */
    int foreign_signer;      /* signed by another key */
    int two_san_exts;        /* the SAN extension twice */
};

struct row {
    const char *name;
    const char *ident_type;  /* of the identifier checked */
    const char *ident;
    struct cert_spec cert;
    int garbage;             /* not a certificate at all */
    const char *why;         /* NULL: accepted; else a word of the reason */
};

static const struct row good_rows[] = {
    { "dNSName", "dns", "tls.a.test", { "d:tls.a.test", EXT_GOOD, 1, 0, 0,
      0 }, 0, NULL },
    { "dNSName in other case", "dns", "tls.a.test", { "d:TLS.A.Test",
      EXT_GOOD, 1, 0, 0, 0 }, 0, NULL },
    { "iPAddress v4", "ip", "192.0.2.7", { "i:192.0.2.7", EXT_GOOD, 1, 0, 0,
      0 }, 0, NULL },
    { "iPAddress v6", "ip", "2001:db8::7", { "i:2001:db8::7", EXT_GOOD, 1, 0,
      0, 0 }, 0, NULL },
};

static const struct row bad_rows[] = {
    { "no acmeIdentifier", "dns", "tls.a.test", { "d:tls.a.test", EXT_NONE,
      1, 0, 0, 0 }, 0, "no acmeIdentifier" },
    { "acmeIdentifier not critical", "dns", "tls.a.test", { "d:tls.a.test",
      EXT_GOOD, 0, 0, 0, 0 }, 0, "not marked critical" },
    { "wrong digest", "dns", "tls.a.test", { "d:tls.a.test",
      EXT_WRONG_DIGEST, 1, 0, 0, 0 }, 0, "not the SHA-256" },
    { "digest without OCTET STRING", "dns", "tls.a.test", { "d:tls.a.test",
      EXT_RAW, 1, 0, 0, 0 }, 0, "not an OCTET STRING" },
    { "OCTET STRING of 31 bytes", "dns", "tls.a.test", { "d:tls.a.test",
      EXT_SHORT, 1, 0, 0, 0 }, 0, "not an OCTET STRING" },
    { "bytes after the OCTET STRING", "dns", "tls.a.test", { "d:tls.a.test",
      EXT_TRAILING, 1, 0, 0, 0 }, 0, "not an OCTET STRING" },
    { "OCTET STRING in BER", "dns", "tls.a.test", { "d:tls.a.test", EXT_BER,
      1, 0, 0, 0 }, 0, "not an OCTET STRING" },
    { "two acmeIdentifier extensions", "dns", "tls.a.test",
      { "d:tls.a.test", EXT_TWICE, 1, 0, 0, 0 }, 0,
      "2 acmeIdentifier extensions" },
    { "two SANs", "dns", "tls.a.test", { "d:tls.a.test d:other.a.test",
      EXT_GOOD, 1, 0, 0, 0 }, 0, "exactly one" },
    { "two SAN extensions", "dns", "tls.a.test", { "d:tls.a.test",
      EXT_GOOD, 1, 0, 0, 1 }, 0, "more than one subjectAltName" },
    { "no SAN", "dns", "tls.a.test", { "", EXT_GOOD, 1, 0, 0, 0 }, 0,
      "exactly one" },
    { "other name", "dns", "tls.a.test", { "d:other.a.test", EXT_GOOD, 1, 0,
      0, 0 }, 0, "not the dNSName" },
    { "name with a suffix", "dns", "tls.a.test", { "d:tls.a.test.evil",
      EXT_GOOD, 1, 0, 0, 0 }, 0, "not the dNSName" },
    { "iPAddress SAN for a name", "dns", "tls.a.test", { "i:192.0.2.7",
      EXT_GOOD, 1, 0, 0, 0 }, 0, "not the dNSName" },
    { "dNSName SAN for an address", "ip", "192.0.2.7", { "d:192.0.2.7",
      EXT_GOOD, 1, 0, 0, 0 }, 0, "not the iPAddress" },
    { "other address", "ip", "192.0.2.7", { "i:192.0.2.8", EXT_GOOD, 1, 0, 0,
      0 }, 0, "not the iPAddress" },
    { "v4 address as mapped v6 SAN", "ip", "192.0.2.7",
      { "i:::ffff:192.0.2.7", EXT_GOOD, 1, 0, 0, 0 }, 0,
      "not the iPAddress" },
    { "not self-signed", "dns", "tls.a.test", { "d:tls.a.test", EXT_GOOD, 1,
      0, 1, 0 }, 0, "not self-signed" },
    { "unknown critical extension", "dns", "tls.a.test", { "d:tls.a.test",
      EXT_GOOD, 1, 1, 0, 0 }, 0, "unknown critical extension " OID_OTHER },
    { "garbage", "dns", "tls.a.test", { "d:tls.a.test", EXT_GOOD, 1, 0, 0,
      0 }, 1, "does not parse" },
};

static EVP_PKEY *keys[2];   /* [0] the cert's, [1] a stranger's */
static unsigned char digest[32];

static int
setup(void **state)
{
    unsigned int dlen = 0;

    (void)state;
    keys[0] = EVP_EC_gen("P-256");
    keys[1] = EVP_EC_gen("P-256");
    if (keys[0] == NULL || keys[1] == NULL ||
        EVP_Digest(KEYAUTH, strlen(KEYAUTH), digest, &dlen, EVP_sha256(),
                   NULL) != 1 ||
        dlen != sizeof(digest)) {
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(keys[0]);
    EVP_PKEY_free(keys[1]);
    return 0;
}

/* Adds an extension with raw value bytes. */
static void
add_raw_ext(X509 *x, const char *oid, int critical, const unsigned char *v,
            size_t len)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext;

    assert_non_null(obj);
    assert_non_null(os);
    assert_int_equal(ASN1_OCTET_STRING_set(os, v, (int)len), 1);
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, critical, os);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
}

/* The SAN extension from "d:name i:addr ...". */
static void
add_sans(X509 *x, const char *spec, int twice)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    char copy[256];
    char *save = NULL;

    assert_non_null(gens);
    snprintf(copy, sizeof(copy), "%s", spec);
    for (char *t = strtok_r(copy, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save)) {
        GENERAL_NAME *g = GENERAL_NAME_new();

        assert_non_null(g);
        if (t[0] == 'd') {
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();

            assert_non_null(s);
            assert_int_equal(ASN1_STRING_set(s, t + 2, (int)strlen(t + 2)), 1);
            GENERAL_NAME_set0_value(g, GEN_DNS, s);
        } else {
            ASN1_OCTET_STRING *ip = a2i_IPADDRESS(t + 2);

            assert_non_null(ip);
            GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
        }
        assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
    }
    for (int i = 0; i <= twice; i++) {
        assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                                           X509V3_ADD_APPEND),
                         1);
    }
    GENERAL_NAMES_free(gens);
}

/* A certificate as spec says, with key keys[0]. */
static X509 *
make_cert(const struct cert_spec *c)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    unsigned char ext[40];
    size_t ext_len;

    assert_non_null(x);
    assert_non_null(name);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"acme",
                                                -1, -1, 0),
                     1);
    assert_int_equal(X509_set_subject_name(x, name), 1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    X509_NAME_free(name);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -300));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, keys[0]), 1);
    if (c->sans[0] != '\0') {
        add_sans(x, c->sans, c->two_san_exts);
    }
    ext[0] = 0x04;
    ext[1] = 32;
    memcpy(ext + 2, digest, 32);
    ext_len = 34;
    switch (c->ext) {
    case EXT_GOOD:
    case EXT_NONE:
    case EXT_TWICE:
        break;
    case EXT_WRONG_DIGEST:
        ext[5] ^= 0x01;
        break;
    case EXT_RAW:
        memmove(ext, ext + 2, 32);
        ext_len = 32;
        break;
    case EXT_SHORT:
        ext[1] = 31;
        ext_len--;
        break;
    case EXT_TRAILING:
        ext[ext_len++] = 0x00;
        break;
    case EXT_BER:
        memmove(ext + 3, ext + 2, 32);
        ext[1] = 0x81;
        ext[2] = 32;
        ext_len = 35;
        break;
    }
    if (c->ext != EXT_NONE) {
        add_raw_ext(x, OID_ACME_ID, c->critical, ext, ext_len);
    }
    if (c->ext == EXT_TWICE) {
        add_raw_ext(x, OID_ACME_ID, c->critical, ext, ext_len);
    }
    if (c->other_critical) {
        static const unsigned char null_der[] = { 0x05, 0x00 };

        add_raw_ext(x, OID_OTHER, 1, null_der, sizeof(null_der));
    }
    assert_true(X509_sign(x, keys[c->foreign_signer ? 1 : 0], EVP_sha256()) >
                0);
    return x;
}

static void
test_row(void **state)
{
    const struct row *r = *state;
    unsigned char *der = NULL;
    char why[400] = "";
    int n;
    bool ok;

    if (r->garbage) {
        unsigned char buf[64];

        memset(buf, 0x30, sizeof(buf));
        ok = val_tlsalpn01_check_cert(buf, sizeof(buf), r->ident_type,
                                      r->ident, digest, why, sizeof(why));
    } else {
        X509 *x = make_cert(&r->cert);

        n = i2d_X509(x, &der);
        assert_true(n > 0);
        X509_free(x);
        ok = val_tlsalpn01_check_cert(der, (size_t)n, r->ident_type,
                                      r->ident, digest, why, sizeof(why));
        OPENSSL_free(der);
    }
    if (r->why == NULL) {
        if (!ok) {
            print_error("refused: %s\n", why);
        }
        assert_true(ok);
        return;
    }
    assert_false(ok);
    if (strstr(why, r->why) == NULL) {
        print_error("reason \"%s\" does not mention \"%s\"\n", why, r->why);
    }
    assert_non_null(strstr(why, r->why));
}

/* ---- whole attempts against a responder ------------------------------ */

enum responder {
    RESP_TLS,          /* OpenSSL server with the row's certificate */
    RESP_RAW,          /* answers the ClientHello with raw bytes */
    RESP_SILENT,       /* accepts, sends nothing */
    RESP_CLOSE,        /* accepts, closes at once */
};

/* Issue 10, finding 1: a Certificate handshake message (type 11, length
 * 6) whose certificate_list length is 0 while its first entry claims
 * 0xFFFFFF bytes. */
static const unsigned char crash_bytes[] = { 0x16, 0x03, 0x03, 0x00, 0x0a,
                                             0x0b, 0x00, 0x00, 0x06, 0x00,
                                             0x00, 0x00, 0xff, 0xff, 0xff };

struct sess_row {
    const char *name;
    enum responder resp;
    const char *ident_type;
    const char *ident;        /* "127.0.0.1", or "a.test" through DNS */
    struct cert_spec cert;
    int alpn;                 /* the server selects acme-tls/1 */
    unsigned deadline_ms;
    int valid;
    enum problem_type problem; /* when !valid */
    const char *word;          /* in the detail */
};

#define SESS_MARGIN_MS 600

static const struct sess_row sess_good[] = {
    { "session: IP identifier, acme-tls/1", RESP_TLS, "ip", "127.0.0.1",
      { "i:127.0.0.1", EXT_GOOD, 1, 0, 0, 0 }, 1, 3000, 1, 0, NULL },
    { "session: DNS identifier, ::1 refused, then 127.0.0.1", RESP_TLS,
      "dns", "a.test", { "d:a.test", EXT_GOOD, 1, 0, 0, 0 }, 1, 3000, 1, 0,
      NULL },
};

static const struct sess_row sess_bad[] = {
    { "session: the crashing bytes of issue 10", RESP_RAW, "ip",
      "127.0.0.1", { "", EXT_NONE, 0, 0, 0, 0 }, 0, 3000, 0, PROB_TLS,
      "TLS handshake failed" },
    { "session: ALPN not selected", RESP_TLS, "ip", "127.0.0.1",
      { "i:127.0.0.1", EXT_GOOD, 1, 0, 0, 0 }, 0, 3000, 0, PROB_TLS,
      "did not negotiate ALPN \"acme-tls/1\"" },
    { "session: no acmeIdentifier", RESP_TLS, "ip", "127.0.0.1",
      { "i:127.0.0.1", EXT_NONE, 1, 0, 0, 0 }, 1, 3000, 0,
      PROB_INCORRECT_RESPONSE, "no acmeIdentifier" },
    { "session: wrong SAN", RESP_TLS, "ip", "127.0.0.1",
      { "i:127.0.0.2", EXT_GOOD, 1, 0, 0, 0 }, 1, 3000, 0,
      PROB_INCORRECT_RESPONSE, "not the iPAddress 127.0.0.1" },
    { "session: silent responder, by the deadline", RESP_SILENT, "ip",
      "127.0.0.1", { "", EXT_NONE, 0, 0, 0, 0 }, 0, 1000, 0,
      PROB_CONNECTION, "deadline" },
    { "session: responder closes at once", RESP_CLOSE, "ip", "127.0.0.1",
      { "", EXT_NONE, 0, 0, 0, 0 }, 0, 3000, 0, PROB_TLS,
      "TLS handshake failed" },
};

struct responder_ctx {
    const struct sess_row *row;
    int lfd;
    X509 *cert;
    char sni[300];           /* what the client asked for */
};

static int
on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
        const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x0a" "acme-tls/1";
    const struct responder_ctx *rc = arg;
    unsigned char *sel = NULL;

    (void)ssl;
    if (!rc->row->alpn ||
        SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Reads until the peer closes or 5 s pass. */
static void
drain(int fd)
{
    char buf[4096];
    struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };

    while (poll(&pfd, 1, 5000) > 0 && recv(fd, buf, sizeof(buf), 0) > 0) {
    }
}

static void *
responder_main(void *arg)
{
    struct responder_ctx *rc = arg;
    struct pollfd pfd = { .fd = rc->lfd, .events = POLLIN, .revents = 0 };
    struct timeval tv = { .tv_sec = 5, .tv_usec = 0 };
    char buf[4096];
    int fd;

    if (poll(&pfd, 1, 5000) <= 0) {
        return NULL;
    }
    fd = accept(rc->lfd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    switch (rc->row->resp) {
    case RESP_RAW:
        if (recv(fd, buf, sizeof(buf), 0) > 0) {
            (void)send(fd, crash_bytes, sizeof(crash_bytes), MSG_NOSIGNAL);
        }
        drain(fd);
        break;
    case RESP_SILENT:
        drain(fd);
        break;
    case RESP_CLOSE:
        break;
    case RESP_TLS: {
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        SSL *ssl = NULL;
        const char *sni;

        if (ctx != NULL && SSL_CTX_use_certificate(ctx, rc->cert) == 1 &&
            SSL_CTX_use_PrivateKey(ctx, keys[0]) == 1) {
            SSL_CTX_set_alpn_select_cb(ctx, on_alpn, rc);
            (void)SSL_CTX_set_num_tickets(ctx, 0);
            ssl = SSL_new(ctx);
        }
        if (ssl != NULL && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
            sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
            snprintf(rc->sni, sizeof(rc->sni), "%s", sni ? sni : "");
            (void)SSL_read(ssl, buf, sizeof(buf));
        }
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        break;
    }
    }
    close(fd);
    return NULL;
}

static void
test_session(void **state)
{
    const struct sess_row *r = *state;
    struct netpolicy *policy = calloc(1, sizeof(*policy));
    struct responder_ctx rc;
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    struct dnsstub dns;
    struct config cfg;
    struct val_input in;
    struct val_outcome out;
    char resolver[64];
    char err[200];
    pthread_t th;
    long long t0;
    long long took;

    assert_non_null(policy);
    assert_int_equal(netpolicy_init(policy, "", NETPOLICY_DEFAULT_DENY, err,
                                    sizeof(err)),
                     AP_OK);
    memset(&rc, 0, sizeof(rc));
    rc.row = r;
    if (r->resp == RESP_TLS) {
        rc.cert = make_cert(&r->cert);
    }
    rc.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(rc.lfd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(rc.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(rc.lfd, 4), 0);
    assert_int_equal(getsockname(rc.lfd, (struct sockaddr *)&sa, &salen), 0);
    assert_int_equal(pthread_create(&th, NULL, responder_main, &rc), 0);
    assert_int_equal(dnsstub_start(&dns, false, 0), 0);
    snprintf(resolver, sizeof(resolver), "127.0.0.1:%u", dns.port);

    memset(&cfg, 0, sizeof(cfg));
    cfg.validation.resolver = resolver;
    cfg.validation.tls_port = ntohs(sa.sin_port);
    cfg.validation.http_port = 9;
    cfg.validation.timeout_ms = r->deadline_ms;
    memset(&in, 0, sizeof(in));
    memset(&out, 0, sizeof(out));
    in.cfg = &cfg;
    in.policy = policy;
    in.ident_type = r->ident_type;
    in.name = r->ident;
    in.token = "token";
    in.keyauth = KEYAUTH;
    t0 = time_mono_ms();
    in.deadline_ms = t0 + r->deadline_ms;
    validator_tlsalpn01.run(&in, &out);
    took = time_mono_ms() - t0;
    pthread_join(th, NULL);
    dnsstub_stop(&dns);
    close(rc.lfd);
    X509_free(rc.cert);
    print_message("%s: %lld ms, SNI \"%s\": %s\n", r->name, took, rc.sni,
                  out.valid ? "valid" : out.detail);
    assert_true(took <= (long long)r->deadline_ms + SESS_MARGIN_MS);
    if (r->valid) {
        assert_true(out.valid);
        assert_string_equal(out.address, "127.0.0.1");
        assert_string_equal(rc.sni, strcmp(r->ident_type, "ip") == 0
                                        ? "1.0.0.127.in-addr.arpa"
                                        : r->ident);
    } else {
        assert_false(out.valid);
        assert_int_equal(out.problem, r->problem);
        if (strstr(out.detail, r->word) == NULL) {
            print_error("detail \"%s\" lacks \"%s\"\n", out.detail, r->word);
        }
        assert_non_null(strstr(out.detail, r->word));
    }
    cJSON_Delete(out.evidence);
    free(policy);
}

/* ---- runner -------------------------------------------------------- */

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    /* The responders write to clients that may have gone. */
    signal(SIGPIPE, SIG_IGN);
    _Static_assert(N_ROWS(bad_rows) >= N_ROWS(good_rows),
                   "bad table at least as long as the good one");
    _Static_assert(N_ROWS(sess_bad) >= N_ROWS(sess_good),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, good_rows, test_row);
    ADD_ROWS(&l, bad_rows, test_row);
    ADD_ROWS(&l, sess_good, test_session);
    ADD_ROWS(&l, sess_bad, test_session);
    failed = _cmocka_run_group_tests("val_tlsalpn01", l.tests, l.n, setup,
                                     teardown);
    free(l.tests);
    return failed;
}
