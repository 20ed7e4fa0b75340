/* test/unit/test_records.c: the typed record codecs (proxy/rec_account.c,
 * rec_order.c, rec_authz.c, rec_cert.c; proxy/rec.h).
 *
 * 1. Records as the previous version wrote them (member for member, from
 *    its account.c, order.c, challenge.c, issuer.c) decode, and encode
 *    back to the same JSON (cJSON_Compare), kept unknown members
 *    included; or, where this version stores leaner (an authorization's
 *    evidence, rec_authz.h), to the row's stored form, which decodes to
 *    what the old record decoded to (member order included).
 * 2. A member of the wrong type, out of range or over its cap, a "v" that
 *    is not REC_VERSION, a status that is not a name: AP_ESTORE.
 * 3. Encoding when memory runs out: with cJSON's allocator failing at its
 *    n-th call, for every n, an encode either succeeds with the whole
 *    record or returns AP_ENOMEM with no record; never a record with a
 *    member left out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "common/store.h"
#include "proxy/rec_account.h"
#include "proxy/rec_authz.h"
#include "proxy/rec_cert.h"
#include "proxy/rec_order.h"
#include "test/unit/rows.h"
#include "test/unit/tmpdir.h"

enum kind { K_ACCOUNT, K_ORDER, K_AUTHZ, K_CERT };

struct rec_row {
    const char *name;
    enum kind kind;
    const char *json;
    ap_err want;            /* of the decode */
};

/* Rows this version stores leaner: what encode writes (stored_form). */
struct stored_row {
    const char *name;       /* of the row in rows[] */
    const char *stored;
};

#define ACCT_OK                                                            \
    "{\"v\":1,\"id\":\"acct1\",\"status\":\"valid\","                      \
    "\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"eA\",\"y\":\"eQ\"}," \
    "\"thumbprint\":\"dGh1bWI\",\"contact\":[\"mailto:a@example.com\"],"   \
    "\"tos\":true,\"created\":1800000000,\"ip\":\"127.0.0.1\""

#define ORDER_OK                                                           \
    "{\"v\":1,\"id\":\"ord1\",\"account\":\"acct1\",\"status\":\"pending\"," \
    "\"created\":1800000000,\"expires\":1800604800,\"notBefore\":0,"       \
    "\"notAfter\":0,\"identifiers\":[{\"type\":\"dns\","                   \
    "\"value\":\"a.example\"},{\"type\":\"dns\",\"value\":\"*.b.example\"}]," \
    "\"authzs\":[\"az1\",\"az2\"]"

#define AUTHZ_OK                                                           \
    "{\"v\":1,\"id\":\"az1\",\"account\":\"acct1\",\"order\":\"ord1\","    \
    "\"status\":\"pending\",\"expires\":1800604800,"                       \
    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"           \
    "\"challenges\":[{\"type\":\"http-01\",\"status\":\"pending\","        \
    "\"token\":\"tok1\"},{\"type\":\"dns-01\",\"status\":\"pending\","     \
    "\"token\":\"tok2\"}]"

/* A valid http-01 authorization of a.example whose evidence is the JSON
 * array items ENTRIES. */
#define AUTHZ_HTTP01(ENTRIES)                                              \
    "{\"v\":1,\"id\":\"az5\",\"account\":\"acct1\",\"order\":\"ord1\","    \
    "\"status\":\"valid\",\"expires\":1800604800,"                       \
    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"           \
    "\"challenges\":[{\"type\":\"http-01\",\"status\":\"valid\","          \
    "\"token\":\"tok1\",\"validated\":1800000010,"                       \
    "\"address\":\"192.0.2.1\",\"validationRecord\":[" ENTRIES "]}]}"

/* The stored form (version 2: no "id") of AUTHZ_OK and AUTHZ_HTTP01. */
#define AUTHZ_OK_V2                                                        \
    "{\"v\":2,\"account\":\"acct1\",\"order\":\"ord1\","                 \
    "\"status\":\"pending\",\"expires\":1800604800,"                       \
    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"           \
    "\"challenges\":[{\"type\":\"http-01\",\"status\":\"pending\","        \
    "\"token\":\"tok1\"},{\"type\":\"dns-01\",\"status\":\"pending\","     \
    "\"token\":\"tok2\"}]"
#define AUTHZ_HTTP01_V2(ENTRIES)                                           \
    "{\"v\":2,\"account\":\"acct1\",\"order\":\"ord1\","                 \
    "\"status\":\"valid\",\"expires\":1800604800,"                       \
    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"           \
    "\"challenges\":[{\"type\":\"http-01\",\"status\":\"valid\","          \
    "\"token\":\"tok1\",\"validated\":1800000010,"                       \
    "\"address\":\"192.0.2.1\",\"validationRecord\":[" ENTRIES "]}]}"

/* An authorization of a.example as version 1 wrote it, with the three
 * challenges of a DNS name, CHALLS; STATUS its status. */
#define AUTHZ_THREE(STATUS, CHALLS)                                        \
    "{\"v\":1,\"id\":\"az6\",\"account\":\"acct1\",\"order\":\"ord1\","    \
    "\"status\":\"" STATUS "\",\"expires\":1800604800,"                    \
    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"           \
    "\"challenges\":[" CHALLS "]}"
#define AUTHZ_THREE_V2(STATUS, CHALLS)                                     \
    "{\"v\":2,\"account\":\"acct1\",\"order\":\"ord1\","                 \
    "\"status\":\"" STATUS "\",\"expires\":1800604800,"                    \
    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"           \
    "\"challenges\":[" CHALLS "]}"
#define CH_HTTP_PENDING                                                    \
    "{\"type\":\"http-01\",\"status\":\"pending\",\"token\":\"tok1\"}"
#define CH_DNS_PENDING                                                     \
    "{\"type\":\"dns-01\",\"status\":\"pending\",\"token\":\"tok2\"}"
#define CH_ALPN_PENDING                                                    \
    "{\"type\":\"tls-alpn-01\",\"status\":\"pending\",\"token\":\"tok3\"}"
#define CH_HTTP_VALID                                                      \
    "{\"type\":\"http-01\",\"status\":\"valid\",\"token\":\"tok1\","       \
    "\"validated\":1800000010,\"address\":\"192.0.2.1\"}"
#define CH_DNS_VALID                                                       \
    "{\"type\":\"dns-01\",\"status\":\"valid\",\"token\":\"tok2\","        \
    "\"validated\":1800000010}"
#define CH_ALPN_INVALID                                                    \
    "{\"type\":\"tls-alpn-01\",\"status\":\"invalid\",\"token\":\"tok3\","  \
    "\"validated\":1800000010,\"error\":{\"type\":"                       \
    "\"urn:ietf:params:acme:error:connection\",\"detail\":\"refused\"}}"

#define CERT_OK                                                            \
    "{\"v\":1,\"id\":\"crt1\",\"account\":\"acct1\",\"order\":\"ord1\","   \
    "\"serial\":\"0a1b2c\",\"status\":\"valid\",\"notAfter\":1807776000,"  \
    "\"issued\":1800000100,\"adapter\":\"local\","                         \
    "\"pem\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END "             \
    "CERTIFICATE-----\\n\""

/* test/unit/vectors/cert_ec.der in base64url */
#define LEAF_B64 \
    "MIIBazCCARKgAwIBAgIHAIut8A0SNDAKBggqhkjOPQQDAjASMRAwDgYDVQQD" \
    "DAdUZXN0IEVDMB4XDTI2MTEyODE5NTE0M1oXDTM2MTEyNTE5NTE0M1owEjEQ" \
    "MA4GA1UEAwwHVGVzdCBFQzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABK6e" \
    "Ff0QWoiTNeTaQSK6E5HirmbIKOATyAINczylqZp7aC2HLThM7lChC0FNY9QD" \
    "QQYoGF593pe-s5D0YtRvYtCjUzBRMB0GA1UdDgQWBBS2HRDKngZuenAlZzYy" \
    "_xEpVHAR6zAfBgNVHSMEGDAWgBS2HRDKngZuenAlZzYy_xEpVHAR6zAPBgNV" \
    "HRMBAf8EBTADAQH_MAoGCCqGSM49BAMCA0cAMEQCIBLN7nPSIC0QNT5JWXOQ" \
    "5RKlmEmRYQ_NUI1z9LiRUq_lAiANz0s5nmHVNIHLMQfqMf8uCvnHxYRHz8zX" \
    "LG5Wv2cJtw"

#define CHAIN_HEX                                                          \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct rec_row rows[] = {
    /* ---- as the previous version wrote them ---- */
    { "account: new", K_ACCOUNT, ACCT_OK "}", AP_OK },
    { "account: eab, deactivated", K_ACCOUNT,
      "{\"v\":1,\"id\":\"acct2\",\"status\":\"deactivated\","
      "\"jwk\":{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
      "\"thumbprint\":\"dA\",\"contact\":[],\"tos\":false,"
      "\"created\":1800000000,\"ip\":\"::1\",\"eab\":\"kid-1\","
      "\"team\":\"web\"}",
      AP_OK },
    { "account: unknown member kept", K_ACCOUNT,
      ACCT_OK ",\"future\":{\"a\":[1,2]}}", AP_OK },
    { "order: new", K_ORDER, ORDER_OK "}", AP_OK },
    { "order: profile, replaces, finalized, pki notes", K_ORDER,
      "{\"v\":1,\"id\":\"ord2\",\"account\":\"acct1\","
      "\"status\":\"processing\",\"created\":1800000000,"
      "\"expires\":1800604800,\"notBefore\":1800000000,"
      "\"notAfter\":1807776000,\"profile\":\"short\",\"template\":\"T1\","
      "\"validityDays\":7,\"replaces\":\"aaa.bbb\",\"replacesCert\":\"crt0\","
      "\"identifiers\":[{\"type\":\"ip\",\"value\":\"192.0.2.1\"}],"
      "\"authzs\":[\"az3\"],\"csr\":\"MIIBcsr\",\"csrSpki\":\"MFkw\","
      "\"pkiStarted\":1800000050,\"pkiInflight\":1800000060,"
      "\"pkiNoted\":\"ref-9\",\"pkiRef\":\"ref-9\","
      "\"pkiPendingSince\":1800000070}",
      AP_OK },
    { "order: valid", K_ORDER,
      "{\"v\":1,\"id\":\"ord3\",\"account\":\"acct1\",\"status\":\"valid\","
      "\"created\":1800000000,\"expires\":1800604800,\"notBefore\":0,"
      "\"notAfter\":0,\"identifiers\":[{\"type\":\"dns\","
      "\"value\":\"a.example\"}],\"authzs\":[\"az1\"],\"csr\":\"MIIB\","
      "\"cert\":\"crt1\"}",
      AP_OK },
    { "order: invalid with error", K_ORDER,
      "{\"v\":1,\"id\":\"ord4\",\"account\":\"acct1\","
      "\"status\":\"invalid\",\"created\":1800000000,"
      "\"expires\":1800604800,\"notBefore\":0,\"notAfter\":0,"
      "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example\"}],"
      "\"authzs\":[\"az1\"],\"error\":{\"type\":"
      "\"urn:ietf:params:acme:error:rejectedIdentifier\","
      "\"detail\":\"no\",\"status\":403}}",
      AP_OK },
    { "order: the default adapter (not stored)", K_ORDER,
      ORDER_OK ",\"adapter\":\"default\"}", AP_OK },
    { "order: another adapter (stored)", K_ORDER,
      ORDER_OK ",\"adapter\":\"pki-b\"}", AP_OK },
    { "order: unknown member kept", K_ORDER,
      ORDER_OK ",\"x-later\":\"yes\"}", AP_OK },
    { "authz: new", K_AUTHZ, AUTHZ_OK "}", AP_OK },
    { "authz: wildcard, validated", K_AUTHZ,
      "{\"v\":1,\"id\":\"az2\",\"account\":\"acct1\",\"order\":\"ord1\","
      "\"status\":\"valid\",\"expires\":1800604800,"
      "\"identifier\":{\"type\":\"dns\",\"value\":\"b.example\"},"
      "\"wildcard\":true,\"challenges\":[{\"type\":\"dns-01\","
      "\"status\":\"valid\",\"token\":\"tok3\",\"validated\":1800000010,"
      "\"address\":\"192.0.2.53\",\"validationRecord\":[{\"hostname\":"
      "\"b.example\",\"txt\":[\"abc\"]}]}]}",
      AP_OK },

    /* http-01 evidence as val_http01.c writes it: url, hostname and
     * addressUsed are left out and made again (in their place) */
    { "authz: http-01 evidence, lean", K_AUTHZ,
      AUTHZ_HTTP01("{\"url\":\"http://a.example:80/.well-known/acme-challenge/"
                   "tok1\",\"hostname\":\"a.example\",\"port\":80,"
                   "\"addressesResolved\":[\"192.0.2.1\",\"2001:db8::1\"],"
                   "\"addressUsed\":\"192.0.2.1\",\"status\":200},"
                   "{\"url\":\"http://b.example:8080/.well-known/acme-challenge/"
                   "tok1\",\"hostname\":\"b.example\",\"port\":8080,"
                   "\"addressesResolved\":[\"192.0.2.9\"],"
                   "\"addressUsed\":\"192.0.2.9\",\"status\":200}"),
      AP_OK },
    { "authz: http-01 evidence, one address resolved", K_AUTHZ,
      AUTHZ_HTTP01("{\"url\":\"http://a.example:80/.well-known/acme-challenge/"
                   "tok1\",\"hostname\":\"a.example\",\"port\":80,"
                   "\"addressesResolved\":[\"192.0.2.1\"],"
                   "\"addressUsed\":\"192.0.2.1\",\"status\":200}"),
      AP_OK },
    { "authz: http-01 evidence, another path", K_AUTHZ,
      AUTHZ_HTTP01("{\"url\":\"http://a.example:80/x/tok1\","
                   "\"hostname\":\"a.example\",\"port\":80,"
                   "\"addressUsed\":\"192.0.2.7\",\"status\":301}"),
      AP_OK },
    { "authz: http-01 evidence, dnsError", K_AUTHZ,
      AUTHZ_HTTP01("{\"url\":\"http://a.example:80/.well-known/acme-challenge/"
                   "tok1\",\"hostname\":\"a.example\",\"port\":80,"
                   "\"dnsError\":\"NXDOMAIN\"}"),
      AP_OK },
    { "authz: derived with nothing to make it from", K_AUTHZ,
      "{\"v\":1,\"id\":\"a\",\"status\":\"valid\",\"challenges\":"
      "[{\"type\":\"http-01\",\"status\":\"valid\",\"token\":\"t\","
      "\"validationRecord\":[{\"port\":80,\"derived\":\"hua\"}]}]}",
      AP_ESTORE },
    { "authz: derived names a member that is there", K_AUTHZ,
      AUTHZ_HTTP01("{\"hostname\":\"a.example\",\"port\":80,"
                   "\"derived\":\"h\"}"),
      AP_ESTORE },
    { "authz: derived not of h, u, a", K_AUTHZ,
      AUTHZ_HTTP01("{\"port\":80,\"derived\":\"hx\"}"), AP_ESTORE },
    { "authz: derived r with addressesResolved there", K_AUTHZ,
      AUTHZ_HTTP01("{\"port\":80,\"addressesResolved\":[\"192.0.2.1\"],"
                   "\"derived\":\"r\"}"), AP_ESTORE },
    { "authz: derived r without an address", K_AUTHZ,
      "{\"v\":2,\"status\":\"valid\",\"challenges\":"
      "[{\"type\":\"http-01\",\"status\":\"valid\",\"token\":\"t\","
      "\"validationRecord\":[{\"port\":80,\"derived\":\"r\"}]}]}",
      AP_ESTORE },
    { "authz: derived url without a port", K_AUTHZ,
      AUTHZ_HTTP01("{\"derived\":\"hu\"}"), AP_ESTORE },
    { "authz: failed challenge", K_AUTHZ,
      "{\"v\":1,\"id\":\"az3\",\"account\":\"acct1\",\"order\":\"ord2\","
      "\"status\":\"invalid\",\"expires\":1800604800,"
      "\"identifier\":{\"type\":\"ip\",\"value\":\"192.0.2.1\"},"
      "\"challenges\":[{\"type\":\"http-01\",\"status\":\"invalid\","
      "\"token\":\"tok4\",\"validated\":1800000010,"
      "\"error\":{\"type\":\"urn:ietf:params:acme:error:connection\","
      "\"detail\":\"refused\"}}]}",
      AP_OK },

    /* RFC 8555 §7.1.4: a decided authorization keeps its decided
     * challenge only; an index that is not the next one is stored */
    { "authz: v1 valid by http-01, two pending", K_AUTHZ,
      AUTHZ_THREE("valid", CH_HTTP_VALID "," CH_DNS_PENDING ","
                  CH_ALPN_PENDING), AP_OK },
    { "authz: v1 valid by dns-01", K_AUTHZ,
      AUTHZ_THREE("valid", CH_HTTP_PENDING "," CH_DNS_VALID ","
                  CH_ALPN_PENDING), AP_OK },
    { "authz: v1 invalid by tls-alpn-01", K_AUTHZ,
      AUTHZ_THREE("invalid", CH_HTTP_PENDING "," CH_DNS_PENDING ","
                  CH_ALPN_INVALID), AP_OK },
    { "authz: v1 valid, a failed one too", K_AUTHZ,
      AUTHZ_THREE("valid", CH_HTTP_VALID "," CH_DNS_PENDING ","
                  CH_ALPN_INVALID), AP_OK },
    { "authz: v1 deactivated keeps every challenge", K_AUTHZ,
      AUTHZ_THREE("deactivated", CH_HTTP_PENDING "," CH_DNS_PENDING ","
                  CH_ALPN_PENDING), AP_OK },
    { "authz: v2 with an index", K_AUTHZ,
      AUTHZ_THREE_V2("valid", "{\"index\":1,\"type\":\"dns-01\","
                     "\"status\":\"valid\",\"token\":\"tok2\","
                     "\"validated\":1800000010}"), AP_OK },
    { "authz: v2 two with indexes", K_AUTHZ,
      AUTHZ_THREE_V2("valid", "{\"index\":1,\"type\":\"dns-01\","
                     "\"status\":\"valid\",\"token\":\"tok2\","
                     "\"validated\":1800000010}," CH_ALPN_INVALID), AP_OK },
    { "authz: v2 pending, id from the key", K_AUTHZ, AUTHZ_OK_V2 "}",
      AP_OK },
    { "cert: valid", K_CERT, CERT_OK "}", AP_OK },
    { "cert: refused", K_CERT,
      "{\"v\":1,\"id\":\"crt2\",\"account\":\"acct1\",\"order\":\"ord1\","
      "\"serial\":\"0b\",\"status\":\"refused\",\"notAfter\":1807776000,"
      "\"issued\":1800000100,\"adapter\":\"rest\",\"pkiRef\":\"r-1\","
      "\"refused\":\"wrong names\",\"revokedAtPki\":true,"
      "\"pem\":\"x\"}",
      AP_OK },
    { "cert: revoked, replaced", K_CERT,
      CERT_OK ",\"reason\":4,\"revokedAt\":1800000200,"
      "\"replacedBy\":\"ord9\",\"status2\":1}",
      AP_OK },

    /* ---- refused ---- */
    { "account: not an object", K_ACCOUNT, "[1]", AP_ESTORE },
    { "account: version 2", K_ACCOUNT,
      "{\"v\":2,\"id\":\"acct1\",\"status\":\"valid\"}", AP_ESTORE },
    { "account: status a number", K_ACCOUNT,
      "{\"v\":1,\"id\":\"acct1\",\"status\":1}", AP_ESTORE },
    { "account: status unknown", K_ACCOUNT,
      "{\"v\":1,\"id\":\"acct1\",\"status\":\"happy\"}", AP_ESTORE },
    { "account: id too long", K_ACCOUNT,
      "{\"v\":1,\"id\":\"a123456789012345678901234567890123456789012345678"
      "90123456789012345\",\"status\":\"valid\"}",
      AP_ESTORE },
    { "account: jwk a string", K_ACCOUNT,
      "{\"v\":1,\"id\":\"acct1\",\"status\":\"valid\",\"jwk\":\"k\"}",
      AP_ESTORE },
    { "account: contact not strings", K_ACCOUNT,
      "{\"v\":1,\"id\":\"acct1\",\"status\":\"valid\",\"contact\":[1]}",
      AP_ESTORE },
    { "account: tos a string", K_ACCOUNT,
      "{\"v\":1,\"id\":\"acct1\",\"status\":\"valid\",\"tos\":\"yes\"}",
      AP_ESTORE },
    { "order: created a string", K_ORDER,
      "{\"v\":1,\"id\":\"o\",\"status\":\"pending\",\"created\":\"1\"}",
      AP_ESTORE },
    { "order: expires negative", K_ORDER,
      "{\"v\":1,\"id\":\"o\",\"status\":\"pending\",\"expires\":-5}",
      AP_ESTORE },
    { "order: expires past 9999", K_ORDER,
      "{\"v\":1,\"id\":\"o\",\"status\":\"pending\",\"expires\":1e300}",
      AP_ESTORE },
    { "order: identifiers an object", K_ORDER,
      "{\"v\":1,\"id\":\"o\",\"status\":\"pending\",\"identifiers\":{}}",
      AP_ESTORE },
    { "order: identifier of type uri", K_ORDER,
      "{\"v\":1,\"id\":\"o\",\"status\":\"pending\","
      "\"identifiers\":[{\"type\":\"uri\",\"value\":\"x\"}]}",
      AP_ESTORE },
    { "order: identifier value a number", K_ORDER,
      "{\"v\":1,\"id\":\"o\",\"status\":\"pending\","
      "\"identifiers\":[{\"type\":\"dns\",\"value\":5}]}",
      AP_ESTORE },
    { "order: authz id a number", K_ORDER,
      "{\"v\":1,\"id\":\"o\",\"status\":\"pending\",\"authzs\":[7]}",
      AP_ESTORE },
    { "order: error a string", K_ORDER,
      "{\"v\":1,\"id\":\"o\",\"status\":\"invalid\",\"error\":\"bad\"}",
      AP_ESTORE },
    { "authz: status unknown", K_AUTHZ,
      "{\"v\":1,\"id\":\"a\",\"status\":\"maybe\"}", AP_ESTORE },
    { "authz: challenges an object", K_AUTHZ,
      "{\"v\":1,\"id\":\"a\",\"status\":\"pending\",\"challenges\":{}}",
      AP_ESTORE },
    { "authz: challenge status unknown", K_AUTHZ,
      "{\"v\":1,\"id\":\"a\",\"status\":\"pending\",\"challenges\":"
      "[{\"type\":\"http-01\",\"status\":\"ok\",\"token\":\"t\"}]}",
      AP_ESTORE },
    { "authz: wildcard a string", K_AUTHZ,
      "{\"v\":1,\"id\":\"a\",\"status\":\"pending\",\"wildcard\":\"y\"}",
      AP_ESTORE },
    { "authz: v4", K_AUTHZ, "{\"v\":4,\"status\":\"pending\"}", AP_ESTORE },
    { "authz: v0", K_AUTHZ, "{\"v\":0,\"status\":\"pending\"}", AP_ESTORE },
    { "authz: a challenge null", K_AUTHZ,
      "{\"v\":2,\"status\":\"pending\",\"challenges\":[null]}", AP_ESTORE },
    { "authz: index going back", K_AUTHZ,
      AUTHZ_THREE_V2("valid", "{\"index\":1,\"type\":\"dns-01\","
                     "\"status\":\"valid\",\"token\":\"t\"},{\"index\":1,"
                     "\"type\":\"http-01\",\"status\":\"invalid\","
                     "\"token\":\"u\"}"), AP_ESTORE },
    { "authz: index past the last", K_AUTHZ,
      AUTHZ_THREE_V2("valid", "{\"index\":17,\"type\":\"dns-01\","
                     "\"status\":\"valid\",\"token\":\"t\"}"), AP_ESTORE },
    { "authz: index a string", K_AUTHZ,
      AUTHZ_THREE_V2("valid", "{\"index\":\"1\",\"type\":\"dns-01\","
                     "\"status\":\"valid\",\"token\":\"t\"}"), AP_ESTORE },
    { "authz: index 16 then one more", K_AUTHZ,
      AUTHZ_THREE_V2("pending", "{\"index\":16,\"type\":\"dns-01\","
                     "\"status\":\"pending\",\"token\":\"t\"},"
                     "{\"type\":\"http-01\",\"status\":\"pending\","
                     "\"token\":\"u\"}"), AP_ESTORE },
    { "cert: notAfter a fraction", K_CERT,
      "{\"v\":1,\"id\":\"c\",\"status\":\"valid\",\"notAfter\":1.5}",
      AP_ESTORE },
    { "cert: revokedAtPki a number", K_CERT,
      "{\"v\":1,\"id\":\"c\",\"status\":\"refused\",\"revokedAtPki\":1}",
      AP_ESTORE },
    { "cert: pem an array", K_CERT,
      "{\"v\":1,\"id\":\"c\",\"status\":\"valid\",\"pem\":[]}", AP_ESTORE },
    /* ---- version 2: the leaf and a reference to the shared chain ---- */
    { "cert: v2, leaf and chain", K_CERT,
      "{\"v\":2,\"id\":\"crt1\",\"account\":\"acct1\",\"order\":\"ord1\","
      "\"serial\":\"0a1b2c\",\"status\":\"valid\",\"notAfter\":1807776000,"
      "\"issued\":1800000100,\"adapter\":\"local\","
      "\"pem\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END "
      "CERTIFICATE-----\\n\",\"chain\":\"" CHAIN_HEX "\"}", AP_OK },
    { "cert: v2 without a chain", K_CERT,
      "{\"v\":2,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\"}",
      AP_ESTORE },
    { "cert: v1 with a chain", K_CERT,
      "{\"v\":1,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\","
      "\"chain\":\"" CHAIN_HEX "\"}", AP_ESTORE },
    { "cert: v3", K_CERT,
      "{\"v\":3,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\","
      "\"chain\":\"" CHAIN_HEX "\"}", AP_ESTORE },
    { "cert: chain in upper case", K_CERT,
      "{\"v\":2,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\","
      "\"chain\":\"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"}",
      AP_ESTORE },
    /* ---- version 3: the short chain reference ---- */
    { "cert: v3, leaf and a short chain reference", K_CERT,
      "{\"v\":3,\"id\":\"crt1\",\"account\":\"acct1\",\"order\":\"ord1\","
      "\"serial\":\"0a1b2c\",\"status\":\"valid\",\"notAfter\":1807776000,"
      "\"issued\":1800000100,\"adapter\":\"local\",\"leaf\":\"" LEAF_B64
      "\",\"chain\":\"0123456789abcdef\"}", AP_OK },
    { "cert: v3, the default adapter by name", K_CERT,
      "{\"v\":3,\"id\":\"crt1\",\"account\":\"acct1\",\"order\":\"ord1\","
      "\"serial\":\"0a1b2c\",\"status\":\"valid\",\"notAfter\":1807776000,"
      "\"issued\":1800000100,\"adapter\":\"local\","
      "\"adapterName\":\"default\",\"pem\":\"L\","
      "\"chain\":\"0123456789abcdef\"}", AP_OK },
    { "cert: v3, another adapter by name", K_CERT,
      "{\"v\":3,\"id\":\"crt1\",\"account\":\"acct1\",\"order\":\"ord1\","
      "\"serial\":\"0a1b2c\",\"status\":\"valid\",\"notAfter\":1807776000,"
      "\"issued\":1800000100,\"adapter\":\"local\","
      "\"adapterName\":\"pki-b\",\"pem\":\"L\","
      "\"chain\":\"0123456789abcdef\"}", AP_OK },
    { "cert: v2 with a short chain reference", K_CERT,
      "{\"v\":2,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\","
      "\"chain\":\"0123456789abcdef\"}", AP_ESTORE },
    { "cert: v3 without a chain", K_CERT,
      "{\"v\":3,\"id\":\"c\",\"status\":\"valid\",\"leaf\":\"" LEAF_B64
      "\"}", AP_ESTORE },
    { "cert: v4", K_CERT,
      "{\"v\":4,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\","
      "\"chain\":\"0123456789abcdef\"}", AP_ESTORE },
    { "cert: chain of 20 digits", K_CERT,
      "{\"v\":3,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\","
      "\"chain\":\"0123456789abcdef0123\"}", AP_ESTORE },
    { "cert: chain too short", K_CERT,
      "{\"v\":2,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\","
      "\"chain\":\"abcdef\"}", AP_ESTORE },
    { "cert: v2, leaf as DER", K_CERT,
      "{\"v\":2,\"id\":\"crt1\",\"account\":\"acct1\",\"order\":\"ord1\","
      "\"serial\":\"0a1b2c\",\"status\":\"valid\",\"notAfter\":1807776000,"
      "\"issued\":1800000100,\"adapter\":\"local\",\"leaf\":\"" LEAF_B64
      "\",\"chain\":\"" CHAIN_HEX "\"}", AP_OK },
    { "cert: v2, leaf as DER, no chain", K_CERT,
      "{\"v\":2,\"id\":\"crt1\",\"account\":\"acct1\",\"order\":\"ord1\","
      "\"serial\":\"0a1b2c\",\"status\":\"valid\",\"notAfter\":1807776000,"
      "\"issued\":1800000100,\"adapter\":\"local\",\"leaf\":\"" LEAF_B64
      "\"}", AP_OK },
    { "cert: v1 with a leaf", K_CERT,
      "{\"v\":1,\"id\":\"c\",\"status\":\"valid\",\"leaf\":\"" LEAF_B64
      "\"}", AP_ESTORE },
    { "cert: both pem and leaf", K_CERT,
      "{\"v\":2,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\","
      "\"leaf\":\"" LEAF_B64 "\"}", AP_ESTORE },
    { "cert: leaf not base64url", K_CERT,
      "{\"v\":2,\"id\":\"c\",\"status\":\"valid\",\"leaf\":\"a+b/\"}",
      AP_ESTORE },
    { "cert: leaf empty", K_CERT,
      "{\"v\":2,\"id\":\"c\",\"status\":\"valid\",\"leaf\":\"\"}",
      AP_ESTORE },
    { "cert: chain too long", K_CERT,
      "{\"v\":2,\"id\":\"c\",\"status\":\"valid\",\"pem\":\"L\","
      "\"chain\":\"" CHAIN_HEX "0\"}", AP_ESTORE },
};

static const struct stored_row stored_rows[] = {
    { "cert: v3, the default adapter by name",
      "{\"v\":3,\"id\":\"crt1\",\"account\":\"acct1\",\"order\":\"ord1\","
      "\"serial\":\"0a1b2c\",\"status\":\"valid\",\"notAfter\":1807776000,"
      "\"issued\":1800000100,\"adapter\":\"local\","
      "\"pem\":\"L\",\"chain\":\"0123456789abcdef\"}" },
    { "authz: new", AUTHZ_OK_V2 "}" },
    { "authz: failed challenge",
      "{\"v\":2,\"account\":\"acct1\",\"order\":\"ord2\","
      "\"status\":\"invalid\",\"expires\":1800604800,"
      "\"identifier\":{\"type\":\"ip\",\"value\":\"192.0.2.1\"},"
      "\"challenges\":[{\"type\":\"http-01\",\"status\":\"invalid\","
      "\"token\":\"tok4\",\"validated\":1800000010,"
      "\"error\":{\"type\":\"urn:ietf:params:acme:error:connection\","
      "\"detail\":\"refused\"}}]}" },
    { "authz: v1 valid by http-01, two pending",
      AUTHZ_THREE_V2("valid", CH_HTTP_VALID) },
    { "authz: v1 valid by dns-01",
      AUTHZ_THREE_V2("valid", "{\"index\":1,\"type\":\"dns-01\","
                     "\"status\":\"valid\",\"token\":\"tok2\","
                     "\"validated\":1800000010}") },
    { "authz: v1 invalid by tls-alpn-01",
      AUTHZ_THREE_V2("invalid", "{\"index\":2,\"type\":\"tls-alpn-01\","
                     "\"status\":\"invalid\",\"token\":\"tok3\","
                     "\"validated\":1800000010,\"error\":{\"type\":"
                     "\"urn:ietf:params:acme:error:connection\","
                     "\"detail\":\"refused\"}}") },
    { "authz: v1 valid, a failed one too",
      AUTHZ_THREE_V2("valid", CH_HTTP_VALID ",{\"index\":2,"
                     "\"type\":\"tls-alpn-01\",\"status\":\"invalid\","
                     "\"token\":\"tok3\",\"validated\":1800000010,"
                     "\"error\":{\"type\":"
                     "\"urn:ietf:params:acme:error:connection\","
                     "\"detail\":\"refused\"}}") },
    { "authz: v1 deactivated keeps every challenge",
      AUTHZ_THREE_V2("deactivated", CH_HTTP_PENDING "," CH_DNS_PENDING ","
                     CH_ALPN_PENDING) },
    { "authz: wildcard, validated",
      "{\"v\":2,\"account\":\"acct1\",\"order\":\"ord1\","
      "\"status\":\"valid\",\"expires\":1800604800,"
      "\"identifier\":{\"type\":\"dns\",\"value\":\"b.example\"},"
      "\"wildcard\":true,\"challenges\":[{\"type\":\"dns-01\","
      "\"status\":\"valid\",\"token\":\"tok3\",\"validated\":1800000010,"
      "\"address\":\"192.0.2.53\",\"validationRecord\":[{"
      "\"txt\":[\"abc\"],\"derived\":\"h\"}]}]}" },
    { "authz: http-01 evidence, lean",
      AUTHZ_HTTP01_V2("{\"port\":80,"
                   "\"addressesResolved\":[\"192.0.2.1\",\"2001:db8::1\"],"
                   "\"status\":200,\"derived\":\"hua\"},"
                   "{\"hostname\":\"b.example\",\"port\":8080,"
                   "\"addressesResolved\":[\"192.0.2.9\"],"
                   "\"addressUsed\":\"192.0.2.9\",\"status\":200,"
                   "\"derived\":\"u\"}") },
    { "authz: http-01 evidence, one address resolved",
      AUTHZ_HTTP01_V2("{\"port\":80,\"status\":200,\"derived\":\"huar\"}") },
    { "authz: http-01 evidence, another path",
      AUTHZ_HTTP01_V2("{\"url\":\"http://a.example:80/x/tok1\","
                   "\"port\":80,\"addressUsed\":\"192.0.2.7\","
                   "\"status\":301,\"derived\":\"h\"}") },
    { "authz: http-01 evidence, dnsError",
      AUTHZ_HTTP01_V2("{\"port\":80,\"dnsError\":\"NXDOMAIN\","
                   "\"derived\":\"hu\"}") },
};

/* The stored form of row name; NULL: its JSON as read. */
static const char *
stored_form(const char *name)
{
    for (size_t i = 0; i < sizeof(stored_rows) / sizeof(stored_rows[0]); i++) {
        if (strcmp(stored_rows[i].name, name) == 0) {
            return stored_rows[i].stored;
        }
    }
    return NULL;
}

union any_rec {
    struct account account;
    struct order order;
    struct authz authz;
    struct cert cert;
};

static ap_err
decode(enum kind k, const cJSON *obj, union any_rec *r, char *why,
       size_t whylen)
{
    switch (k) {
    case K_ACCOUNT:
        return rec_account_decode(obj, &r->account, why, whylen);
    case K_ORDER:
        return rec_order_decode(obj, &r->order, why, whylen);
    case K_AUTHZ:
        return rec_authz_decode(obj, &r->authz, why, whylen);
    case K_CERT:
    default:
        return rec_cert_decode(obj, &r->cert, why, whylen);
    }
}

static ap_err
encode(enum kind k, const union any_rec *r, cJSON **out)
{
    switch (k) {
    case K_ACCOUNT:
        return rec_account_encode(&r->account, out);
    case K_ORDER:
        return rec_order_encode(&r->order, out);
    case K_AUTHZ:
        return rec_authz_encode(&r->authz, out);
    case K_CERT:
    default:
        return rec_cert_encode(&r->cert, out);
    }
}

static void
fini(enum kind k, union any_rec *r)
{
    switch (k) {
    case K_ACCOUNT:
        rec_account_fini(&r->account);
        break;
    case K_ORDER:
        rec_order_fini(&r->order);
        break;
    case K_AUTHZ:
        rec_authz_fini(&r->authz);
        break;
    case K_CERT:
    default:
        rec_cert_fini(&r->cert);
        break;
    }
}

/* What this version stores of an order read as in: the same less the
 * members that read back from their absence (notBefore and notAfter 0,
 * adapter "default"); a new object. */
static cJSON *
order_stored(const cJSON *in)
{
    cJSON *want = cJSON_Duplicate(in, 1);
    static const char *const zero[] = { "notBefore", "notAfter" };
    const cJSON *ad;

    assert_non_null(want);
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(want, zero[i]);

        if (cJSON_IsNumber(v) && v->valuedouble == 0) {
            cJSON_DeleteItemFromObjectCaseSensitive(want, zero[i]);
        }
    }
    ad = cJSON_GetObjectItemCaseSensitive(want, "adapter");
    if (cJSON_IsString(ad) && strcmp(ad->valuestring, "default") == 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(want, "adapter");
    }
    return want;
}

static void
test_row(void **state)
{
    const struct rec_row *row = *state;
    cJSON *in = cJSON_Parse(row->json);
    cJSON *out = NULL;
    union any_rec r;
    char why[200] = "";
    ap_err rc;

    assert_non_null(in);
    rc = decode(row->kind, in, &r, why, sizeof(why));
    if (rc != row->want) {
        print_message("decode: %s (%s)\n", ap_strerror(rc), why);
    }
    assert_int_equal(rc, row->want);
    if (rc == AP_OK) {
        const char *stored = stored_form(row->name);
        cJSON *want = stored != NULL       ? cJSON_Parse(stored)
                      : row->kind == K_ORDER ? order_stored(in)
                                             : in;
        union any_rec r2;
        cJSON *again = NULL;

        assert_non_null(want);
        assert_int_equal(encode(row->kind, &r, &out), AP_OK);
        assert_non_null(out);
        if (!cJSON_Compare(want, out, true)) {
            char *s = cJSON_PrintUnformatted(out);

            print_message("encoded: %s\n", s != NULL ? s : "?");
            free(s);
        }
        assert_true(cJSON_Compare(want, out, true));
        /* what was stored decodes to what was read, member order too */
        assert_int_equal(decode(row->kind, out, &r2, why, sizeof(why)),
                         AP_OK);
        if (row->kind == K_AUTHZ) {
            for (size_t i = 0; i < r.authz.n_challs; i++) {
                char *a;
                char *b;

                /* dropped challenges at the end are not stored at all */
                if (i >= r2.authz.n_challs) {
                    assert_true(r.authz.challs[i].dropped);
                    continue;
                }
                assert_int_equal(r.authz.challs[i].dropped,
                                 r2.authz.challs[i].dropped);
                a = cJSON_PrintUnformatted(
                    r.authz.challs[i].validation_record);
                b = cJSON_PrintUnformatted(
                    r2.authz.challs[i].validation_record);

                assert_true((a == NULL) == (b == NULL));
                if (a != NULL) {
                    assert_string_equal(a, b);
                }
                free(a);
                free(b);
            }
        }
        assert_int_equal(encode(row->kind, &r2, &again), AP_OK);
        assert_true(cJSON_Compare(out, again, true));
        cJSON_Delete(again);
        fini(row->kind, &r2);
        if (want != in) {
            cJSON_Delete(want);
        }
    } else {
        assert_true(why[0] != '\0');
    }
    cJSON_Delete(out);
    cJSON_Delete(in);
    fini(row->kind, &r);
}

/* ---- out of memory -------------------------------------------------- */

static long fail_at = -1;     /* the allocation that fails; -1: none */
static long n_allocs;

static void *
failing_malloc(size_t n)
{
    if (fail_at >= 0 && n_allocs++ == fail_at) {
        return NULL;
    }
    return malloc(n);
}

static void
test_enomem(void **state)
{
    const struct rec_row *row = *state;
    cJSON *in = cJSON_Parse(row->json);
    cJSON *full = NULL;
    union any_rec r;
    char why[200];
    cJSON_Hooks hooks = { failing_malloc, free };
    long n;
    bool finished = false;

    assert_non_null(in);
    assert_int_equal(decode(row->kind, in, &r, why, sizeof(why)), AP_OK);
    assert_int_equal(encode(row->kind, &r, &full), AP_OK);
    cJSON_InitHooks(&hooks);
    for (n = 0; n < 10000 && !finished; n++) {
        cJSON *out = NULL;
        ap_err rc;

        fail_at = n;
        n_allocs = 0;
        rc = encode(row->kind, &r, &out);
        finished = n_allocs <= n;       /* no allocation failed */
        fail_at = -1;
        if (rc == AP_OK) {
            assert_true(finished);
            assert_true(cJSON_Compare(full, out, true));
        } else {
            assert_int_equal(rc, AP_ENOMEM);
            assert_null(out);
        }
        cJSON_Delete(out);
    }
    cJSON_InitHooks(NULL);
    assert_true(finished);
    assert_true(n > 5);     /* the record took several allocations */
    cJSON_Delete(full);
    cJSON_Delete(in);
    fini(row->kind, &r);
}

/* ---- the challenges a decided authorization keeps ----------------- */

/* Decodes json (an authorization) into *a. */
static void
decode_authz(const char *json, struct authz *a)
{
    cJSON *in = cJSON_Parse(json);
    char why[200] = "";

    assert_non_null(in);
    if (rec_authz_decode(in, a, why, sizeof(why)) != AP_OK) {
        print_message("decode: %s\n", why);
        fail();
    }
    cJSON_Delete(in);
}

/* The URL index of each challenge stays what it was when the others go
 * (RFC 8555 §7.1.4): a valid authorization of a version 1 record answers
 * at its validated challenge's index only, and so does its stored form. */
static void
test_decided_keeps_index(void **state)
{
    struct authz a;
    struct authz b;
    cJSON *out = NULL;

    (void)state;
    decode_authz(AUTHZ_THREE("valid", CH_HTTP_PENDING "," CH_DNS_VALID ","
                             CH_ALPN_PENDING), &a);
    assert_int_equal(a.n_challs, 3);
    assert_string_equal(a.id, "az6");
    assert_null(rec_authz_chall(&a, 0));
    assert_non_null(rec_authz_chall(&a, 1));
    assert_string_equal(rec_authz_chall(&a, 1)->type, "dns-01");
    assert_string_equal(rec_authz_chall(&a, 1)->token, "tok2");
    assert_null(rec_authz_chall(&a, 2));
    assert_null(rec_authz_chall(&a, 3));
    assert_true(a.challs[0].dropped);
    assert_string_equal(a.challs[0].token, "");     /* its token is gone */
    assert_int_equal(a.challs[0].status, CHALL_INVALID);

    assert_int_equal(rec_authz_encode(&a, &out), AP_OK);
    {
        char why[200] = "";

        assert_int_equal(rec_authz_decode(out, &b, why, sizeof(why)), AP_OK);
    }
    assert_int_equal(b.n_challs, 2);
    assert_string_equal(b.id, "");      /* rec_authz_get sets it */
    assert_null(rec_authz_chall(&b, 0));
    assert_string_equal(rec_authz_chall(&b, 1)->type, "dns-01");
    assert_null(rec_authz_chall(&b, 2));
    cJSON_Delete(out);
    rec_authz_fini(&b);
    rec_authz_fini(&a);

    /* pending: every challenge stays */
    decode_authz(AUTHZ_THREE("pending", CH_HTTP_PENDING "," CH_DNS_PENDING
                             "," CH_ALPN_PENDING), &a);
    assert_int_equal(a.n_challs, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(rec_authz_chall(&a, i));
    }
    assert_string_equal(rec_authz_chall(&a, 2)->token, "tok3");
    rec_authz_fini(&a);
}

/* A challenge that was processing when another one decided the
 * authorization goes as well (the validator then finds it gone). */
static void
test_processing_goes(void **state)
{
    struct authz a;
    cJSON *out = NULL;
    char *text;

    (void)state;
    decode_authz(AUTHZ_THREE("pending", CH_HTTP_PENDING ","
                             "{\"type\":\"dns-01\",\"status\":"
                             "\"processing\",\"token\":\"tok2\"},"
                             CH_ALPN_PENDING), &a);
    assert_int_equal(a.challs[1].status, CHALL_PROCESSING);
    a.status = AUTHZ_VALID;
    a.challs[0].status = CHALL_VALID;
    assert_int_equal(rec_authz_encode(&a, &out), AP_OK);
    text = cJSON_PrintUnformatted(cJSON_GetObjectItem(out, "challenges"));
    assert_non_null(text);
    assert_string_equal(text, "[{\"type\":\"http-01\",\"status\":"
                              "\"valid\",\"token\":\"tok1\"}]");
    free(text);
    cJSON_Delete(out);
    rec_authz_fini(&a);
}

/* In a store: a version 2 record (no "id") reads with the key as its id;
 * a version 1 record, its own; a key longer than an id is AP_ESTORE. */
static void
test_get_id_from_key(void **state)
{
    char dir[] = "/tmp/test_records.XXXXXX";
    char errbuf[200];
    char longkey[REC_MAX_ID + 2];
    struct store *st = NULL;
    struct store_txn *txn = NULL;
    struct authz a;
    cJSON *v1 = cJSON_Parse(AUTHZ_OK "}");
    cJSON *v2 = cJSON_Parse(AUTHZ_OK_V2 "}");

    (void)state;
    assert_non_null(v1);
    assert_non_null(v2);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_open(&(struct store_config){ .dir = dir,
                                                        .map_size_mb = 8 },
                                &st, errbuf, sizeof(errbuf)),
                     AP_OK);
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(store_begin(st, true, &txn), AP_OK);
    assert_int_equal(store_put_json(txn, STORE_AUTHZS, "KEY2", v2, true),
                     AP_OK);
    assert_int_equal(store_put_json(txn, STORE_AUTHZS, "KEY1", v1, true),
                     AP_OK);
    assert_int_equal(store_put_json(txn, STORE_AUTHZS, longkey, v2, true),
                     AP_OK);
    assert_int_equal(rec_authz_get(txn, "KEY2", &a), AP_OK);
    assert_string_equal(a.id, "KEY2");
    assert_string_equal(a.account, "acct1");
    rec_authz_fini(&a);
    assert_int_equal(rec_authz_get(txn, "KEY1", &a), AP_OK);
    assert_string_equal(a.id, "az1");   /* the record's own */
    rec_authz_fini(&a);
    assert_int_equal(rec_authz_get(txn, longkey, &a), AP_ESTORE);
    /* what rec_authz_put writes leaves the id out */
    assert_int_equal(rec_authz_get(txn, "KEY1", &a), AP_OK);
    assert_int_equal(rec_authz_put(txn, "KEY3", &a, true), AP_OK);
    rec_authz_fini(&a);
    {
        cJSON *raw = NULL;

        assert_int_equal(store_get_json(txn, STORE_AUTHZS, "KEY3", &raw),
                         AP_OK);
        assert_false(cJSON_HasObjectItem(raw, "id"));
        assert_int_equal(cJSON_GetObjectItem(raw, "v")->valueint, 2);
        cJSON_Delete(raw);
    }
    store_abort(txn);
    store_close(st);
    tmpdir_remove(dir);
    cJSON_Delete(v1);
    cJSON_Delete(v2);
}

int
main(void)
{
    struct test_list l = { 0 };
    static char names[sizeof(rows) / sizeof(rows[0])][96];
    size_t i;
    int failed;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        add_test(&l, rows[i].name, test_row, &rows[i]);
        if (rows[i].want == AP_OK) {
            (void)snprintf(names[i], sizeof(names[i]), "%s: out of memory",
                           rows[i].name);
            add_test(&l, names[i], test_enomem, &rows[i]);
        }
    }
    add_test(&l, "authz: a decided one keeps its challenge's index",
             test_decided_keeps_index, NULL);
    add_test(&l, "authz: a processing challenge goes when another decides",
             test_processing_goes, NULL);
    add_test(&l, "authz: read from a store, the key as its id",
             test_get_id_from_key, NULL);
    failed = _cmocka_run_group_tests("records", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
