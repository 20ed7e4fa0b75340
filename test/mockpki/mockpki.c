/* test/mockpki/mockpki.c: stand-ins for EJBCA, Vault/OpenBao, step-ca and
 * AD CS certsrv on one loopback HTTPS port, for the integration tests.
 *
 * Usage: mockpki -d DIR -p PORT [-l LEASE_SEC]
 *
 * At start DIR receives what a PKI team would hand out: ca/ca.pem (the
 * trust anchor), ca/ca-intermediate.pem, tls.pem (server; ca.pem trusts
 * it), client.pem/client.key (the EJBCA administrator), vault-token,
 * approle-role-id, approle-secret-id, stepca.key + stepca.kid (the JWK
 * provisioner "acme-proxy"), ejbca-code (enrollment code), adcs-password
 * (user CORP\acme), then "ready". Paths, fields, encodings, status codes
 * and error bodies follow PKI-APIS.md (§1.8, §2.9, §3.8, §4.6, §13).
 *
 * Scenario by the CSR's first DNS name's first label:
 *   pending-N   EJBCA 202 / certsrv pending for N polls, then issued
 *   deny-N      certsrv pending for N polls, then denied by a manager
 *   denytext    certsrv denial whose message holds quotes, entities and
 *               line breaks
 *   reject      refused by policy (each product's shape)
 *   e500, e503  server errors
 *   slow-MS     answers after MS milliseconds
 *   slowfetch-MS  certsrv: issued at once, certnew.cer answers after MS
 *   auth        authentication failure (403 / 401)
 *   wrongsan    issued with an extra SAN
 *   badchain    leaf signed by another CA than the returned chain
 *   leafca      issued as a CA certificate (cA=TRUE, keyCertSign)
 *   noserverauth  issued with extendedKeyUsage clientAuth only
 *   hold        503 while POST /__mock/hold?on=1 is in force
 *   anything else: issued at once.
 * Test hooks: GET /__mock/state (counts: submits, issued, by first name,
 * by key SHA-256, by EJBCA end entity, lookups; ?certs=1 lists every
 * certificate), POST /__mock/outage?on=1|0 (every PKI path answers 503,
 * health and status too), POST /__mock/hold?on=1|0 (see "hold"),
 * POST /__mock/vault-static?on=0|1 (refuse or accept again the static
 * Vault token; the state counts Vault signs by the static token and by
 * AppRole login tokens, vault_signs_static / vault_signs_login).
 *
 * EJBCA's certificate search (POST /v1/certificate/search) answers the
 * lookups of the proxy: QUERY EQUAL|LIKE over username, subject DN, SAN
 * and serial, STATUS CERT_ACTIVE|CERT_REVOKED. A submission whose client
 * went away (the proxy was killed) is still carried out, as a real PKI
 * would: "slow-MS" sleeps first, then issues. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <civetweb.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "adapters/adapter.h"
#include "common/b64url.h"
#include "common/buf.h"
#include "common/ca.h"
#include "common/crypto.h"
#include "common/csr.h"
#include "common/jwk.h"
#include "common/jose.h"
#include "common/json.h"
#include "common/pem.h"
#include "common/timeutil.h"
#include "common/x509.h"
#include "test/mockpki/civet_mtls.h"
#include "test/mockpki/oddcert.h"

#define MOCK_MAX_BODY (1024 * 1024)
#define MOCK_MAX_CERTS 1000000   /* grows on demand up to this */
#define MOCK_MAX_REQS 1000000
#define MOCK_SEARCH_MAX 400      /* max_number_of_results EJBCA accepts */
#define MOCK_MAX_JTI 8192
#define VAULT_TOKEN_STATIC "hvs.mock-static-token-0123456789"
#define APPROLE_ROLE_ID "mock-role-id-4f1c"
#define APPROLE_SECRET_ID "mock-secret-id-9d2e"
#define EJBCA_CODE "enroll-7Qz"
#define EJBCA_ADMIN_CN "ejbca-admin"
#define ADCS_USER "CORP\\acme"
#define ADCS_PASSWORD "P@ss-adcs-1"
#define STEPCA_PROVISIONER "acme-proxy"
#define STEPCA_KID "mock-kid-acme-proxy"

struct issued {
    char *serial_hex;     /* lower-case */
    char *issuer_dn;
    char *pem;
    char *name;           /* first name, for the count */
    char *user;           /* EJBCA end entity username, or NULL */
    char key[65];         /* SHA-256 of the SubjectPublicKeyInfo, hex */
    long long issued_at;
    bool revoked;
    int reason;
    long long revoked_at;
};

struct pending {
    long id;
    unsigned char *csr_der;
    size_t csr_len;
    int polls_left;
    bool deny;
    char *cert_pem;       /* once issued, returned again on every fetch */
    char *password;       /* EJBCA enrollment code given at enroll */
    char *user;           /* EJBCA end entity username, or NULL */
    long fetch_delay_ms;  /* certsrv "slowfetch-MS": certnew.cer waits */
};

struct approle_token {
    char token[64];
    long long expires;
};

static struct {
    pthread_mutex_t lock;
    struct ca *ca;
    char ca_dir[4096];          /* where ca's files are */
    struct ca *rogue;
    struct jose_key *stepca_key;
    cJSON *stepca_jwk;          /* public */
    struct issued **certs;      /* each allocated once: pointers stay */
    size_t n_certs;
    size_t cap_certs;
    struct pending **reqs;
    size_t n_reqs;
    size_t cap_reqs;
    long next_req;
    char *jtis[MOCK_MAX_JTI];
    size_t n_jti;
    struct approle_token tokens[256];
    size_t n_tokens;
    unsigned lease_sec;
    bool outage;
    bool hold;                  /* label "hold": 503 while set */
    bool static_off;            /* the static Vault token is refused */
    unsigned long vault_signs_static; /* signs authorized by the static */
    unsigned long vault_signs_login;  /* ... by an AppRole login token */
    unsigned long submits;      /* submissions received, all products */
    unsigned long issued;       /* certificates signed */
    cJSON *by_name;             /* first name -> certificates signed */
    cJSON *by_key;              /* key SHA-256 -> certificates signed */
    cJSON *by_user;             /* EJBCA username -> certificates signed */
    unsigned long lookups;      /* EJBCA searches answered */
    cJSON *tries;               /* first name -> submission times (ms) */
    unsigned long revokes;
    long long start;
} M;

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* ------------------------------------------------------------ HTTP */

static int
send_body(struct mg_connection *c, int status, const char *ctype,
          const char *extra, const char *body)
{
    size_t n = strlen(body);

    mg_printf(c,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "%s\r\n",
              status, mg_get_response_code_text(c, status), ctype, n,
              extra ? extra : "");
    mg_write(c, body, n);
    return status;
}

static int
send_json(struct mg_connection *c, int status, cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);
    int rc = send_body(c, status, "application/json", NULL,
                       text ? text : "{}");

    cJSON_free(text);
    cJSON_Delete(obj);
    return rc;
}

static char *
read_body(struct mg_connection *c)
{
    struct buf b;
    char chunk[8192];
    int n;

    buf_init(&b, MOCK_MAX_BODY);
    while ((n = mg_read(c, chunk, sizeof(chunk))) > 0) {
        if (buf_append(&b, chunk, (size_t)n) != AP_OK) {
            buf_fini(&b);
            return NULL;
        }
    }
    return buf_take(&b);
}

static cJSON *
read_json(struct mg_connection *c)
{
    char *body = read_body(c);
    cJSON *obj = NULL;

    if (body != NULL && json_parse(body, strlen(body), &obj) != AP_OK) {
        obj = NULL;
    }
    free(body);
    return obj;
}

static void
bput(struct buf *b, const char *s)
{
    if (buf_appends(b, s) != AP_OK) {
        fprintf(stderr, "mockpki: buffer full\n");
    }
}

static void
sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------ CSR, CA */

/* The CSR of PEM text or bare base64 (DER into *der). */
static struct crypto_csr *
csr_from_text(const char *text, unsigned char **der, size_t *len)
{
    const char *b = strstr(text, "-----BEGIN CERTIFICATE REQUEST-----");
    char *body;
    struct crypto_csr *csr = NULL;
    char errbuf[200];

    if (b != NULL) {
        const char *e;

        b += strlen("-----BEGIN CERTIFICATE REQUEST-----");
        e = strstr(b, "-----END CERTIFICATE REQUEST-----");
        if (e == NULL) {
            return NULL;
        }
        body = strndup(b, (size_t)(e - b));
    } else {
        body = strdup(text);
    }
    if (body == NULL || x509_b64_decode(body, der, len) != AP_OK) {
        free(body);
        return NULL;
    }
    free(body);
    if (crypto_csr_parse(*der, *len, &csr, errbuf, sizeof(errbuf)) !=
        AP_OK) {
        free(*der);
        *der = NULL;
        return NULL;
    }
    return csr;
}

static const char *
csr_first(const struct crypto_csr *csr)
{
    if (csr->n_dns_names > 0) {
        return csr->dns_names[0];
    }
    if (csr->n_ip_addrs > 0) {
        return csr->ip_addrs[0];
    }
    return csr->cn ? csr->cn : "";
}

/* The scenario label: the first label of the first name. */
static void
scenario(const struct crypto_csr *csr, char *out, size_t len)
{
    const char *n = csr_first(csr);

    (void)snprintf(out, len, "%.*s", (int)strcspn(n, "."), n);
}

static long
label_num(const char *label, const char *prefix)
{
    size_t n = strlen(prefix);

    if (strncmp(label, prefix, n) != 0) {
        return -1;
    }
    return strtol(label + n, NULL, 10);
}

/* Signs a leaf for csr (applying wrongsan / badchain) and records it.
 * *pem and *chain (caller frees) set on success. */
static void
count_in(cJSON *obj, const char *key)
{
    cJSON *cnt = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (cnt == NULL) {
        cJSON_AddNumberToObject(obj, key, 1);
    } else {
        cJSON_SetNumberValue(cnt, cnt->valuedouble + 1);
    }
}

/* Records when a submission for csr's first name arrived (at most 64 per
 * name), so a test can see when the proxy tried. */
static void
note_try(const struct crypto_csr *csr)
{
    struct timespec ts;
    cJSON *arr;

    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&M.lock);
    arr = cJSON_GetObjectItemCaseSensitive(M.tries, csr_first(csr));
    if (arr == NULL) {
        arr = cJSON_AddArrayToObject(M.tries, csr_first(csr));
    }
    if (arr != NULL && cJSON_GetArraySize(arr) < 64) {
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(
                                      (double)ts.tv_sec * 1000 +
                                      (double)(ts.tv_nsec / 1000000)));
    }
    pthread_mutex_unlock(&M.lock);
}

/* Appends p to the pointer array *arr (n, cap). false when full. */
static bool
grow_push(void ***arr, size_t *n, size_t *cap, size_t max, void *p)
{
    if (*n == *cap) {
        size_t c = *cap == 0 ? 1024 : *cap * 2;
        void **a;

        if (c > max) {
            return false;
        }
        a = realloc(*arr, c * sizeof(*a));
        if (a == NULL) {
            return false;
        }
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
    return true;
}

/* Signs a leaf for csr (applying wrongsan / badchain) and records it, with
 * the EJBCA end entity user (may be NULL). */
static int
issue(const struct crypto_csr *csr, const char *user, char **pem,
      char **chain)
{
    struct ca_issue_req r;
    const char *dns[CRYPTO_CSR_MAX_NAMES + 1];
    char label[80];
    char errbuf[200];
    struct ca *signer = M.ca;
    struct x509_ids ids;
    size_t n = 0;
    long long now = time_now();

    scenario(csr, label, sizeof(label));
    for (size_t i = 0; i < csr->n_dns_names; i++) {
        dns[n++] = csr->dns_names[i];
    }
    if (strcmp(label, "wrongsan") == 0) {
        dns[n++] = "extra.wrongsan.test";
    }
    if (strcmp(label, "badchain") == 0) {
        signer = M.rogue;
    }
    memset(&r, 0, sizeof(r));
    r.pubkey_der = csr->pubkey_der;
    r.pubkey_der_len = csr->pubkey_der_len;
    r.dns_names = dns;
    r.n_dns_names = n;
    r.ip_addrs = (const char *const *)csr->ip_addrs;
    r.n_ip_addrs = csr->n_ip_addrs;
    r.not_before = now - 60;
    r.not_after = now + 30 * 86400;
    if (strcmp(label, "leafca") == 0 || strcmp(label, "noserverauth") == 0) {
        /* Right names, key and chain; wrong key use. */
        if (oddcert_issue(M.ca_dir,
                          label[0] == 'l' ? ODDCERT_CA
                                          : ODDCERT_NO_SERVERAUTH,
                          r.pubkey_der, r.pubkey_der_len, r.dns_names,
                          r.n_dns_names, r.ip_addrs, r.n_ip_addrs,
                          pem) != AP_OK) {
            fprintf(stderr, "mockpki: oddcert_issue failed\n");
            return -1;
        }
    } else if (ca_issue(signer, &r, pem, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "mockpki: ca_issue: %s\n", errbuf);
        return -1;
    }
    /* The chain is always the real intermediate: wrong for badchain. */
    *chain = strdup(ca_intermediate_pem(M.ca));
    if (x509_cert_ids(*pem, &ids) != AP_OK) {
        return -1;
    }
    {
        struct issued *c = calloc(1, sizeof(*c));
        unsigned char h[32];

        if (c == NULL) {
            return -1;
        }
        crypto_sha256(csr->pubkey_der, csr->pubkey_der_len, h);
        for (size_t i = 0; i < sizeof(h); i++) {
            (void)snprintf(c->key + 2 * i, 3, "%02x", h[i]);
        }
        c->serial_hex = ids.serial_hex;
        c->issuer_dn = ids.issuer_dn;
        c->pem = strdup(*pem);
        c->name = strdup(csr_first(csr));
        c->user = user != NULL && user[0] != '\0' ? strdup(user) : NULL;
        c->issued_at = now;
        ids.serial_hex = NULL;
        ids.issuer_dn = NULL;
        pthread_mutex_lock(&M.lock);
        if (!grow_push((void ***)&M.certs, &M.n_certs, &M.cap_certs,
                       MOCK_MAX_CERTS, c)) {
            fprintf(stderr, "mockpki: too many certificates\n");
        }
        M.issued++;
        count_in(M.by_name, c->name);
        count_in(M.by_key, c->key);
        if (c->user != NULL) {
            count_in(M.by_user, c->user);
        }
        pthread_mutex_unlock(&M.lock);
    }
    x509_ids_fini(&ids);
    return 0;
}

static struct issued *
cert_find(const char *serial_hex)
{
    for (size_t i = 0; i < M.n_certs; i++) {
        if (strcasecmp(M.certs[i]->serial_hex, serial_hex) == 0) {
            return M.certs[i];
        }
    }
    return NULL;
}

static struct pending *
req_new(const unsigned char *der, size_t len, int polls, bool deny,
        const char *password, const char *user)
{
    struct pending *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&M.lock);
    if (!grow_push((void ***)&M.reqs, &M.n_reqs, &M.cap_reqs, MOCK_MAX_REQS,
                   p)) {
        pthread_mutex_unlock(&M.lock);
        free(p);
        return NULL;
    }
    p->id = M.next_req++;
    p->user = user != NULL ? strdup(user) : NULL;
    p->csr_der = malloc(len);
    memcpy(p->csr_der, der, len);
    p->csr_len = len;
    p->polls_left = polls;
    p->deny = deny;
    p->password = password ? strdup(password) : NULL;
    pthread_mutex_unlock(&M.lock);
    return p;
}

static struct pending *
req_find(long id)
{
    for (size_t i = 0; i < M.n_reqs; i++) {
        if (M.reqs[i]->id == id) {
            return M.reqs[i];
        }
    }
    return NULL;
}

/* One poll of a pending request: 0 still pending, 1 issued (cert_pem
 * set), 2 denied, -1 error. */
static int
req_poll(struct pending *p, char **chain)
{
    struct crypto_csr *csr = NULL;
    char errbuf[200];
    char *pem = NULL;
    int state;

    pthread_mutex_lock(&M.lock);
    if (p->cert_pem != NULL) {
        pthread_mutex_unlock(&M.lock);
        *chain = strdup(ca_intermediate_pem(M.ca));
        return 1;
    }
    if (p->polls_left > 0) {
        p->polls_left--;
        pthread_mutex_unlock(&M.lock);
        return 0;
    }
    state = p->deny ? 2 : 1;
    pthread_mutex_unlock(&M.lock);
    if (state == 2) {
        return 2;
    }
    if (crypto_csr_parse(p->csr_der, p->csr_len, &csr, errbuf,
                         sizeof(errbuf)) != AP_OK ||
        issue(csr, p->user, &pem, chain) != 0) {
        crypto_csr_free(csr);
        return -1;
    }
    crypto_csr_free(csr);
    pthread_mutex_lock(&M.lock);
    if (p->cert_pem == NULL) {
        p->cert_pem = pem;
        pem = NULL;
    }
    pthread_mutex_unlock(&M.lock);
    free(pem);
    return 1;
}

/* Standard base64 of len bytes (caller frees). */
static char *
b64_std(const void *data, size_t len)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *der = data;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;

    for (size_t i = 0; out != NULL && i < len; i += 3) {
        unsigned v = (unsigned)der[i] << 16;

        v |= i + 1 < len ? (unsigned)der[i + 1] << 8 : 0;
        v |= i + 2 < len ? der[i + 2] : 0;
        out[o++] = al[(v >> 18) & 63];
        out[o++] = al[(v >> 12) & 63];
        out[o++] = i + 1 < len ? al[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? al[v & 63] : '=';
    }
    if (out != NULL) {
        out[o] = '\0';
    }
    return out;
}

/* Base64 (standard) of the DER of the first certificate in pem. */
static char *
pem_to_b64der(const char *pem)
{
    unsigned char *der = NULL;
    size_t len = 0;
    char *out;

    if (x509_pem_cert_to_der(pem, &der, &len) != AP_OK) {
        return NULL;
    }
    out = b64_std(der, len);
    free(der);
    return out;
}

/* ------------------------------------------------------------ EJBCA */

static int
ejbca_error(struct mg_connection *c, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "error_code", status);
    cJSON_AddStringToObject(o, "error_message", msg);
    return send_json(c, status, o);
}

static cJSON *
ejbca_cert_response(const char *pem, const char *chain, bool with_chain)
{
    cJSON *o = cJSON_CreateObject();
    struct x509_ids ids;
    char *b64 = pem_to_b64der(pem);

    cJSON_AddStringToObject(o, "certificate", b64 ? b64 : "");
    free(b64);
    if (x509_cert_ids(pem, &ids) == AP_OK) {
        const char *s = ids.serial_hex;

        while (s[0] == '0' && s[1] != '\0') {
            s++;
        }
        for (char *p = (char *)(uintptr_t)s; *p; p++) {
            *p = (char)toupper((unsigned char)*p);
        }
        cJSON_AddStringToObject(o, "serial_number", s);
        x509_ids_fini(&ids);
    }
    cJSON_AddStringToObject(o, "response_format", "DER");
    if (with_chain && chain != NULL) {
        cJSON *arr = cJSON_AddArrayToObject(o, "certificate_chain");
        char *ib = pem_to_b64der(chain);

        cJSON_AddItemToArray(arr, cJSON_CreateString(ib ? ib : ""));
        free(ib);
        ib = pem_to_b64der(ca_root_pem(M.ca));
        cJSON_AddItemToArray(arr, cJSON_CreateString(ib ? ib : ""));
        free(ib);
    }
    return o;
}

static bool
ejbca_admin(struct mg_connection *c)
{
    const mbedtls_x509_crt *crt = mock_tls_peer_cert(c);
    char dn[256];

    if (crt == NULL) {
        ejbca_error(c, 403, "Error no client certificate or OAuth token "
                            "received for authentication.");
        return false;
    }
    if (mbedtls_x509_dn_gets(dn, sizeof(dn), &crt->subject) < 0 ||
        strstr(dn, "CN=" EJBCA_ADMIN_CN) == NULL) {
        ejbca_error(c, 403, "Administrator is not authorized to resource "
                            "/administrator. Msg: mock");
        return false;
    }
    return true;
}

static int
ejbca_enroll(struct mg_connection *c)
{
    cJSON *req = read_json(c);
    cJSON *resp;
    struct crypto_csr *csr = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    const char *fmt = json_str(req, "response_format", "DER");
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(req, "response_format");
    char label[80];
    char msg[300];
    char *pem = NULL;
    char *chain = NULL;
    int status;
    long n;

    if (req == NULL) {
        return ejbca_error(c, 400, "Invalid JSON in request body");
    }
    pthread_mutex_lock(&M.lock);
    M.submits++;
    pthread_mutex_unlock(&M.lock);
    if (cJSON_IsNull(rf) ||
        (strcmp(fmt, "DER") != 0 && strcmp(fmt, "PKCS7") != 0)) {
        status = ejbca_error(c, 400, "Invalid response format.");
        goto out;
    }
    if (strcmp(json_str(req, "certificate_authority_name", ""),
               "MockIssuingCA") != 0) {
        (void)snprintf(msg, sizeof(msg), "CA with name %s doesn't exist.",
                       json_str(req, "certificate_authority_name", ""));
        status = ejbca_error(c, 400, msg);
        goto out;
    }
    if (strcmp(json_str(req, "certificate_profile_name", ""), "ACME_TLS") !=
        0) {
        status = ejbca_error(c, 400, "Certificate profile does not exist.");
        goto out;
    }
    if (strcmp(json_str(req, "end_entity_profile_name", ""), "ACME_EEP") !=
        0) {
        status = ejbca_error(c, 400, "End entity profile does not exist.");
        goto out;
    }
    if (json_str(req, "username", "")[0] == '\0' ||
        strcmp(json_str(req, "password", ""), EJBCA_CODE) != 0) {
        status = ejbca_error(c, 400, "Wrong username or password.");
        goto out;
    }
    csr = csr_from_text(json_str(req, "certificate_request", ""), &der, &len);
    if (csr == NULL) {
        status = ejbca_error(c, 400, "Invalid certificate request (CSR) "
                                     "could not be parsed.");
        goto out;
    }
    scenario(csr, label, sizeof(label));
    note_try(csr);
    if ((n = label_num(label, "slow-")) > 0) {
        sleep_ms(n);
    }
    if (strcmp(label, "hold") == 0 && M.hold) {
        status = ejbca_error(c, 503, "Device was unavailable.");
    } else if (strcmp(label, "reject") == 0) {
        status = ejbca_error(c, 400, "Error: subject DN field not allowed by "
                                     "end entity profile ACME_EEP.");
    } else if (strcmp(label, "auth") == 0) {
        status = ejbca_error(c, 403, "Administrator is not authorized to "
                                     "resource /ca/MockIssuingCA.");
    } else if (strcmp(label, "e500") == 0) {
        status = ejbca_error(c, 500, "General failure.");
    } else if (strcmp(label, "e503") == 0) {
        status = ejbca_error(c, 503, "Device was unavailable.");
    } else if ((n = label_num(label, "pending-")) >= 0) {
        struct pending *p = req_new(der, len, (int)n, false,
                                    json_str(req, "password", ""),
                                    json_str(req, "username", NULL));

        resp = cJSON_CreateObject();
        cJSON_AddNumberToObject(resp, "status_code", 202);
        cJSON_AddNumberToObject(resp, "request_id", p ? p->id : 0L);
        (void)snprintf(msg, sizeof(msg),
                       "Request with Id '%ld' is still waiting for approval",
                       p ? p->id : 0L);
        cJSON_AddStringToObject(resp, "info_message", msg);
        (void)snprintf(msg, sizeof(msg),
                       "https://localhost/ejbca/ejbca-rest-api/%ld/finalize",
                       p ? p->id : 0L);
        cJSON_AddStringToObject(resp, "link", msg);
        status = send_json(c, 202, resp);
    } else if (issue(csr, json_str(req, "username", NULL), &pem, &chain) !=
               0) {
        status = ejbca_error(c, 500, "General failure.");
    } else {
        status = send_json(c, 201, ejbca_cert_response(
                                       pem, chain,
                                       cJSON_IsTrue(cJSON_GetObjectItem(
                                           req, "include_chain"))));
    }
out:
    free(pem);
    free(chain);
    free(der);
    crypto_csr_free(csr);
    cJSON_Delete(req);
    return status;
}

static int
ejbca_finalize(struct mg_connection *c, long id)
{
    cJSON *req = read_json(c);
    struct pending *p;
    char *chain = NULL;
    int st;
    int status;

    pthread_mutex_lock(&M.lock);
    p = req_find(id);
    pthread_mutex_unlock(&M.lock);
    if (p == NULL || p->password == NULL) {
        status = ejbca_error(c, 404, "Could not find request.");
    } else if (strcmp(json_str(req, "password", ""), p->password) != 0) {
        status = ejbca_error(c, 400, "Wrong enrollment code.");
    } else if ((st = req_poll(p, &chain)) == 0) {
        cJSON *o = cJSON_CreateObject();
        char msg[120];

        cJSON_AddNumberToObject(o, "status_code", 202);
        (void)snprintf(msg, sizeof(msg),
                       "Request with Id '%ld' is still waiting for approval",
                       id);
        cJSON_AddStringToObject(o, "info_message", msg);
        status = send_json(c, 202, o);
    } else if (st == 2) {
        status = ejbca_error(c, 400, "Request has been rejected.");
    } else if (st < 0) {
        status = ejbca_error(c, 500, "General failure.");
    } else {
        /* finalize returns no chain (PKI-APIS §10.4). */
        status = send_json(c, 201, ejbca_cert_response(p->cert_pem, NULL,
                                                       false));
    }
    free(chain);
    cJSON_Delete(req);
    return status;
}

static int
ejbca_revoke(struct mg_connection *c, const char *dn, const char *serial,
             const char *query)
{
    static const char *const names[] = {
        "UNSPECIFIED", "KEY_COMPROMISE", "CA_COMPROMISE",
        "AFFILIATION_CHANGED", "SUPERSEDED", "CESSATION_OF_OPERATION",
        "CERTIFICATE_HOLD", "", "REMOVE_FROM_CRL", "PRIVILEGES_WITHDRAWN",
        "AA_COMPROMISE",
    };
    char reason[64] = "";
    char hex[130];
    struct issued *crt;
    cJSON *o;
    int r = -1;
    char when[TIME_RFC3339_LEN];

    if (query != NULL) {
        mg_get_var(query, strlen(query), "reason", reason, sizeof(reason));
    }
    for (int i = 0; i <= 10; i++) {
        if (names[i][0] != '\0' && strcmp(names[i], reason) == 0) {
            r = i;
        }
    }
    if (r < 0) {
        return ejbca_error(c, 400, "Invalid revocation reason.");
    }
    (void)snprintf(hex, sizeof(hex), "%.128s",
                   strncasecmp(serial, "0x", 2) == 0 ? serial + 2 : serial);
    if (hex[0] == '\0' || strspn(hex, "0123456789abcdefABCDEF") !=
                              strlen(hex)) {
        return ejbca_error(c, 400, "Invalid serial number format. Should "
                                   "be HEX encoded (optionally beginning "
                                   "with '0x') string.");
    }
    pthread_mutex_lock(&M.lock);
    crt = cert_find(hex);
    if (crt == NULL || strcasecmp(crt->issuer_dn, dn) != 0) {
        pthread_mutex_unlock(&M.lock);
        return ejbca_error(c, 404, "Could not find certificate with serial "
                                   "number and issuer DN.");
    }
    if (crt->revoked) {
        pthread_mutex_unlock(&M.lock);
        return ejbca_error(c, 409, "Certificate has already been revoked.");
    }
    crt->revoked = true;
    crt->reason = r;
    crt->revoked_at = time_now();
    M.revokes++;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "issuer_dn", crt->issuer_dn);
    cJSON_AddStringToObject(o, "serial_number", crt->serial_hex);
    cJSON_AddStringToObject(o, "revocation_reason", reason);
    time_rfc3339(crt->revoked_at, when, sizeof(when));
    cJSON_AddStringToObject(o, "revocation_date", when);
    cJSON_AddBoolToObject(o, "revoked", 1);
    cJSON_AddStringToObject(o, "message", "Successfully revoked");
    pthread_mutex_unlock(&M.lock);
    return send_json(c, 200, o);
}

/* POST /v1/certificate/search (EJBCA's SearchCertificatesRestRequest):
 * max_number_of_results (required, 1..MOCK_SEARCH_MAX) and a non-empty
 * criteria list; QUERY (EQUAL: exact, LIKE: substring) matches the end
 * entity username, the subject DN "CN=<first name>", a DNS SAN or the
 * hex serial; STATUS CERT_ACTIVE / CERT_REVOKED filters. Each certificate
 * comes back as base64 of the base64 text of its DER (a byte array that
 * Jackson base64s again), as the product does. */
static bool
search_text_hit(const char *have, const char *want, bool exact)
{
    if (have == NULL) {
        return false;
    }
    return exact ? strcasecmp(have, want) == 0
                 : strcasestr(have, want) != NULL;
}

static int
ejbca_search(struct mg_connection *c)
{
    cJSON *req = read_json(c);
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(req, "max_number_of_results");
    const cJSON *crit = cJSON_GetObjectItemCaseSensitive(req, "criteria");
    const cJSON *it;
    const char *query = NULL;
    bool exact = true;
    int want_status = -1;   /* -1 any, 0 active, 1 revoked */
    cJSON *out = NULL;
    cJSON *arr;
    size_t found = 0;
    bool more = false;

    if (req == NULL || !cJSON_IsNumber(max) || max->valuedouble < 1 ||
        max->valuedouble > MOCK_SEARCH_MAX || !cJSON_IsArray(crit) ||
        cJSON_GetArraySize(crit) == 0) {
        cJSON_Delete(req);
        return ejbca_error(c, 400, "Malformed request.");
    }
    cJSON_ArrayForEach(it, crit) {
        const char *prop = json_str(it, "property", "");
        const char *val = json_str(it, "value", "");
        const char *op = json_str(it, "operation", "");

        if (strcasecmp(prop, "QUERY") == 0 &&
            (strcasecmp(op, "EQUAL") == 0 || strcasecmp(op, "LIKE") == 0)) {
            query = val;
            exact = strcasecmp(op, "EQUAL") == 0;
        } else if (strcasecmp(prop, "STATUS") == 0 &&
                   strcasecmp(val, "CERT_ACTIVE") == 0) {
            want_status = 0;
        } else if (strcasecmp(prop, "STATUS") == 0 &&
                   strcasecmp(val, "CERT_REVOKED") == 0) {
            want_status = 1;
        } else if (strcasecmp(prop, "END_ENTITY_PROFILE") != 0 &&
                   strcasecmp(prop, "CERTIFICATE_PROFILE") != 0 &&
                   strcasecmp(prop, "CA") != 0) {
            cJSON_Delete(req);
            return ejbca_error(c, 400, "Malformed request.");
        }
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "certificates");
    pthread_mutex_lock(&M.lock);
    M.lookups++;
    for (size_t i = 0; i < M.n_certs && query != NULL; i++) {
        const struct issued *ci = M.certs[i];
        char dn[300];
        cJSON *one;
        char *b64;
        char *b64b64;

        (void)snprintf(dn, sizeof(dn), "CN=%s", ci->name);
        if (!(search_text_hit(ci->user, query, exact) ||
              search_text_hit(ci->serial_hex, query, exact) ||
              search_text_hit(dn, query, exact) ||
              search_text_hit(ci->name, query, exact))) {
            continue;
        }
        if ((want_status == 0 && ci->revoked) ||
            (want_status == 1 && !ci->revoked)) {
            continue;
        }
        if (found == (size_t)max->valuedouble) {
            more = true;
            break;
        }
        b64 = pem_to_b64der(ci->pem);
        b64b64 = b64 != NULL ? b64_std(b64, strlen(b64)) : NULL;
        one = cJSON_CreateObject();
        cJSON_AddStringToObject(one, "certificate", b64b64 ? b64b64 : "");
        {
            const char *sh = ci->serial_hex;
            char up[130];
            size_t k = 0;

            while (sh[0] == '0' && sh[1] != '\0') {
                sh++;
            }
            for (; sh[k] != '\0' && k < sizeof(up) - 1; k++) {
                up[k] = (char)toupper((unsigned char)sh[k]);
            }
            up[k] = '\0';
            cJSON_AddStringToObject(one, "serial_number", up);
        }
        cJSON_AddStringToObject(one, "response_format", "DER");
        cJSON_AddStringToObject(one, "certificate_profile", "ACME_TLS");
        cJSON_AddStringToObject(one, "end_entity_profile", "ACME_EEP");
        cJSON_AddItemToArray(arr, one);
        free(b64);
        free(b64b64);
        found++;
    }
    pthread_mutex_unlock(&M.lock);
    cJSON_AddBoolToObject(out, "more_results", more);
    cJSON_Delete(req);
    return send_json(c, 200, out);
}

static int
ejbca_route(struct mg_connection *c, const char *method, const char *path,
            const char *query)
{
    const char *p = path + strlen("/ejbca/ejbca-rest-api");

    if (strcmp(p, "/v1/certificate/status") == 0 &&
        strcmp(method, "GET") == 0) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "status", "OK");
        cJSON_AddStringToObject(o, "version", "1.0");
        cJSON_AddStringToObject(o, "revision",
                                "EJBCA 8.0.0 Community (mockpki)");
        return send_json(c, 200, o);
    }
    if (!ejbca_admin(c)) {
        return 403;
    }
    if (M.outage) {
        return ejbca_error(c, 503, "Device was unavailable.");
    }
    if (strcmp(p, "/v1/certificate/pkcs10enroll") == 0 &&
        strcmp(method, "POST") == 0) {
        return ejbca_enroll(c);
    }
    if (strcmp(p, "/v1/certificate/search") == 0 &&
        strcmp(method, "POST") == 0) {
        return ejbca_search(c);
    }
    if (strncmp(p, "/v1/certificate/", 16) == 0 &&
        strcmp(method, "POST") == 0 && strstr(p, "/finalize") != NULL) {
        return ejbca_finalize(c, strtol(p + 16, NULL, 10));
    }
    if (strncmp(p, "/v1/certificate/", 16) == 0 &&
        strcmp(method, "PUT") == 0) {
        /* /v1/certificate/{issuer_dn}/{serial}/revoke: the DN is
         * percent-encoded, so it holds no raw '/'. */
        char dn_enc[512];
        char dn[512];
        char serial[140];
        const char *a = p + 16;
        const char *b = strchr(a, '/');
        const char *e = b ? strchr(b + 1, '/') : NULL;

        if (b == NULL || e == NULL || strcmp(e, "/revoke") != 0 ||
            (size_t)(b - a) >= sizeof(dn_enc) ||
            (size_t)(e - b - 1) >= sizeof(serial)) {
            return ejbca_error(c, 404, "Not found");
        }
        (void)snprintf(dn_enc, sizeof(dn_enc), "%.*s", (int)(b - a), a);
        (void)snprintf(serial, sizeof(serial), "%.*s", (int)(e - b - 1),
                       b + 1);
        mg_url_decode(dn_enc, (int)strlen(dn_enc), dn, sizeof(dn), 0);
        return ejbca_revoke(c, dn, serial, query);
    }
    return ejbca_error(c, 404, "Not found");
}

/* ------------------------------------------------------------ Vault */

static int
vault_error(struct mg_connection *c, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "errors");

    if (msg != NULL) {
        cJSON_AddItemToArray(arr, cJSON_CreateString(msg));
    }
    return send_json(c, status, o);
}

/* 0: refused; 1: the static token (unless /__mock/vault-static?on=0);
 * 2: a token an AppRole login handed out, still valid. */
static int
vault_token_kind(struct mg_connection *c)
{
    const char *t = mg_get_header(c, "X-Vault-Token");
    const char *a = mg_get_header(c, "Authorization");
    long long now = time_now();
    bool ok = false;

    if (t == NULL && a != NULL && strncmp(a, "Bearer ", 7) == 0) {
        t = a + 7;
    }
    if (t == NULL) {
        return 0;
    }
    if (strcmp(t, VAULT_TOKEN_STATIC) == 0) {
        return M.static_off ? 0 : 1;
    }
    pthread_mutex_lock(&M.lock);
    for (size_t i = 0; i < M.n_tokens; i++) {
        if (strcmp(M.tokens[i].token, t) == 0 && M.tokens[i].expires > now) {
            ok = true;
        }
    }
    pthread_mutex_unlock(&M.lock);
    return ok ? 2 : 0;
}

static int
vault_login(struct mg_connection *c)
{
    cJSON *req = read_json(c);
    cJSON *o;
    cJSON *auth;
    unsigned char r[12];
    char tok[64];
    char *t;

    if (strcmp(json_str(req, "role_id", ""), APPROLE_ROLE_ID) != 0 ||
        strcmp(json_str(req, "secret_id", ""), APPROLE_SECRET_ID) != 0) {
        cJSON_Delete(req);
        return vault_error(c, 400, "invalid role or secret ID");
    }
    cJSON_Delete(req);
    if (crypto_random(r, sizeof(r)) != AP_OK) {
        return vault_error(c, 500, "internal error");
    }
    t = b64url_encode_alloc(r, sizeof(r));
    (void)snprintf(tok, sizeof(tok), "hvs.%s", t ? t : "x");
    free(t);
    pthread_mutex_lock(&M.lock);
    if (M.n_tokens >= sizeof(M.tokens) / sizeof(M.tokens[0])) {
        M.n_tokens = 0;
    }
    (void)snprintf(M.tokens[M.n_tokens].token,
                   sizeof(M.tokens[M.n_tokens].token), "%s", tok);
    M.tokens[M.n_tokens].expires = time_now() + M.lease_sec;
    M.n_tokens++;
    pthread_mutex_unlock(&M.lock);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "request_id", "mock-login");
    cJSON_AddNullToObject(o, "data");
    auth = cJSON_AddObjectToObject(o, "auth");
    cJSON_AddStringToObject(auth, "client_token", tok);
    cJSON_AddStringToObject(auth, "accessor", "mock-accessor");
    cJSON_AddNumberToObject(auth, "lease_duration", M.lease_sec);
    cJSON_AddBoolToObject(auth, "renewable", 1);
    cJSON_AddStringToObject(auth, "token_type", "service");
    return send_json(c, 200, o);
}

static bool
name_allowed(const char *n)
{
    size_t len = strlen(n);

    /* role: allowed_domains = test, allow_subdomains = true */
    return len > 5 && strcasecmp(n + len - 5, ".test") == 0;
}

static int
vault_sign(struct mg_connection *c, const char *role)
{
    cJSON *req = read_json(c);
    cJSON *o = NULL;
    cJSON *data;
    cJSON *warn;
    struct crypto_csr *csr = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    const char *csr_text = json_str(req, "csr", "");
    char label[80];
    char msg[300];
    char *pem = NULL;
    char *chain = NULL;
    struct x509_ids ids;
    int status;
    long n;

    pthread_mutex_lock(&M.lock);
    M.submits++;
    pthread_mutex_unlock(&M.lock);
    if (strcmp(role, "acme") != 0) {
        (void)snprintf(msg, sizeof(msg), "unknown role: %s", role);
        status = vault_error(c, 400, msg);
        goto out;
    }
    /* Vault pem.Decode()s: bare base64 is "no data". */
    if (strstr(csr_text, "-----BEGIN CERTIFICATE REQUEST-----") == NULL ||
        (csr = csr_from_text(csr_text, &der, &len)) == NULL) {
        status = vault_error(c, 400, "csr contains no data");
        goto out;
    }
    scenario(csr, label, sizeof(label));
    note_try(csr);
    if ((n = label_num(label, "slow-")) > 0) {
        sleep_ms(n);
    }
    for (size_t i = 0; i < csr->n_dns_names; i++) {
        if (!name_allowed(csr->dns_names[i]) || strcmp(label, "reject") == 0) {
            (void)snprintf(msg, sizeof(msg), "subject alternate name %s not "
                           "allowed by this role", csr->dns_names[i]);
            status = vault_error(c, 400, msg);
            goto out;
        }
    }
    if (csr->key_type == CRYPTO_KEY_EC && strcmp(label, "rsaonly") == 0) {
        status = vault_error(c, 400, "role requires keys of type rsa");
        goto out;
    }
    if (strcmp(label, "auth") == 0) {
        status = vault_error(c, 403, "permission denied");
        goto out;
    }
    if (strcmp(label, "e500") == 0) {
        status = vault_error(c, 500, "internal error");
        goto out;
    }
    if (strcmp(label, "e503") == 0 || (strcmp(label, "hold") == 0 && M.hold)) {
        status = vault_error(c, 503, "Vault is sealed");
        goto out;
    }
    if (issue(csr, NULL, &pem, &chain) != 0 ||
        x509_cert_ids(pem, &ids) != AP_OK) {
        status = vault_error(c, 500, "internal error");
        goto out;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "request_id", "mock-sign");
    cJSON_AddStringToObject(o, "lease_id", "");
    cJSON_AddBoolToObject(o, "renewable", 0);
    cJSON_AddNumberToObject(o, "lease_duration", 0);
    data = cJSON_AddObjectToObject(o, "data");
    /* PEM entries with trailing white space trimmed, as Vault sends. */
    pem[strcspn(pem, "\0")] = '\0';
    while (strlen(pem) > 0 && pem[strlen(pem) - 1] == '\n') {
        pem[strlen(pem) - 1] = '\0';
    }
    while (strlen(chain) > 0 && chain[strlen(chain) - 1] == '\n') {
        chain[strlen(chain) - 1] = '\0';
    }
    cJSON_AddStringToObject(data, "certificate", pem);
    cJSON_AddStringToObject(data, "issuing_ca", chain);
    {
        cJSON *arr = cJSON_AddArrayToObject(data, "ca_chain");

        cJSON_AddItemToArray(arr, cJSON_CreateString(chain));
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                req, "remove_roots_from_chain"))) {
            cJSON_AddItemToArray(arr, cJSON_CreateString(ca_root_pem(M.ca)));
        }
    }
    {
        char colon[200];
        size_t k = 0;

        for (size_t i = 0; ids.serial_hex[i] && k + 3 < sizeof(colon);
             i += 2) {
            if (i > 0) {
                colon[k++] = ':';
            }
            colon[k++] = ids.serial_hex[i];
            colon[k++] = ids.serial_hex[i + 1];
        }
        colon[k] = '\0';
        cJSON_AddStringToObject(data, "serial_number", colon);
    }
    cJSON_AddNumberToObject(data, "expiration", (double)ids.not_after);
    cJSON_AddNumberToObject(data, "not_before", (double)(time_now() - 60));
    cJSON_AddNullToObject(o, "wrap_info");
    warn = cJSON_GetObjectItemCaseSensitive(req, "alt_names") != NULL
               ? cJSON_AddArrayToObject(o, "warnings")
               : NULL;
    if (warn != NULL) {
        cJSON_AddItemToArray(warn, cJSON_CreateString(
                                       "the alt_names field was provided "
                                       "but the role is set with "
                                       "\"use_csr_sans\" set to true"));
    } else {
        cJSON_AddNullToObject(o, "warnings");
    }
    cJSON_AddNullToObject(o, "auth");
    cJSON_AddStringToObject(o, "mount_type", "pki");
    x509_ids_fini(&ids);
    status = send_json(c, 200, o);
out:
    free(pem);
    free(chain);
    free(der);
    crypto_csr_free(csr);
    cJSON_Delete(req);
    return status;
}

static int
vault_revoke(struct mg_connection *c)
{
    cJSON *req = read_json(c);
    const char *s = json_str(req, "serial_number", NULL);
    char hex[130];
    size_t k = 0;
    struct issued *crt;
    cJSON *o;
    cJSON *data;
    char when[TIME_RFC3339_LEN];
    int status;

    if (s == NULL) {
        cJSON_Delete(req);
        return vault_error(c, 400, "the serial number must be provided");
    }
    /* Lower-case colon (or hyphen) hex, exactly (PKI-APIS §13). */
    for (const char *p = s; *p && k + 1 < sizeof(hex); p++) {
        if (*p == ':' || *p == '-') {
            continue;
        }
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            k = 0;
            break;
        }
        hex[k++] = *p;
    }
    hex[k] = '\0';
    pthread_mutex_lock(&M.lock);
    crt = k > 0 ? cert_find(hex) : NULL;
    if (crt == NULL) {
        char msg[250];

        pthread_mutex_unlock(&M.lock);
        (void)snprintf(msg, sizeof(msg), "certificate with serial %s not "
                       "found", s);
        cJSON_Delete(req);
        return vault_error(c, 400, msg);
    }
    if (!crt->revoked) {
        crt->revoked = true;
        crt->revoked_at = time_now();
        M.revokes++;
    }
    o = cJSON_CreateObject();
    data = cJSON_AddObjectToObject(o, "data");
    cJSON_AddNumberToObject(data, "revocation_time", (double)crt->revoked_at);
    time_rfc3339(crt->revoked_at, when, sizeof(when));
    cJSON_AddStringToObject(data, "revocation_time_rfc3339", when);
    cJSON_AddStringToObject(data, "state", "revoked");
    pthread_mutex_unlock(&M.lock);
    status = send_json(c, 200, o);
    cJSON_Delete(req);
    return status;
}

static int
vault_route(struct mg_connection *c, const char *method, const char *path)
{
    bool write = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    int kind;

    if (strcmp(path, "/v1/sys/health") == 0) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddBoolToObject(o, "initialized", 1);
        cJSON_AddBoolToObject(o, "sealed", M.outage);
        cJSON_AddBoolToObject(o, "standby", 0);
        cJSON_AddStringToObject(o, "version", "1.15.0-mockpki");
        return send_json(c, M.outage ? 503 : 200, o);
    }
    if (M.outage) {
        return vault_error(c, 503, "Vault is sealed");
    }
    if (strcmp(path, "/v1/auth/approle/login") == 0 && write) {
        return vault_login(c);
    }
    if (strcmp(path, "/v1/pki/ca_chain") == 0) {
        return send_body(c, 200, "application/pem-certificate-chain", NULL,
                         ca_intermediate_pem(M.ca));
    }
    kind = vault_token_kind(c);
    if (kind == 0) {
        return vault_error(c, 403, "permission denied");
    }
    if (strncmp(path, "/v1/pki/sign/", 13) == 0 && write) {
        pthread_mutex_lock(&M.lock);
        if (kind == 1) {
            M.vault_signs_static++;
        } else {
            M.vault_signs_login++;
        }
        pthread_mutex_unlock(&M.lock);
        return vault_sign(c, path + 13);
    }
    if (strcmp(path, "/v1/pki/revoke") == 0 && write) {
        return vault_revoke(c);
    }
    {
        char msg[300];

        (void)snprintf(msg, sizeof(msg), "no handler for route \"%s\". "
                       "route entry not found.", path + 4);
        return vault_error(c, 404, msg);
    }
}

/* ------------------------------------------------------------ step-ca */

static int
step_error(struct mg_connection *c, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "message", msg);
    return send_json(c, status, o);
}

#define STEP_401 "The request lacked necessary authorization to be " \
                 "completed. Please see the certificate authority logs for " \
                 "more info."

/* Verifies a one-time token for aud_path; claims (caller deletes) on
 * success. Logs why it failed (the client sees the generic 401). */
static cJSON *
step_ott(const char *ott, const char *aud_path)
{
    const char *d1 = strchr(ott, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    unsigned char *hdr = NULL;
    unsigned char *pay = NULL;
    unsigned char sig[64];
    size_t hl = 0;
    size_t pl = 0;
    size_t sl = 0;
    cJSON *h = NULL;
    cJSON *cl = NULL;
    struct crypto_key *key = NULL;
    char errbuf[200];
    const char *why = NULL;
    long long now = time_now();
    const char *aud;
    const char *jti;

    if (d1 == NULL || d2 == NULL ||
        b64url_decode_alloc(ott, (size_t)(d1 - ott), &hdr, &hl) != AP_OK ||
        b64url_decode_alloc(d1 + 1, (size_t)(d2 - d1 - 1), &pay, &pl) !=
            AP_OK ||
        b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig), &sl) !=
            AP_OK ||
        json_parse((const char *)hdr, hl, &h) != AP_OK ||
        json_parse((const char *)pay, pl, &cl) != AP_OK) {
        why = "token does not parse";
        goto out;
    }
    if (strcmp(json_str(h, "alg", ""), "ES256") != 0 ||
        strcmp(json_str(h, "kid", ""), STEPCA_KID) != 0) {
        why = "alg or kid";
        goto out;
    }
    if (crypto_jwk_parse(M.stepca_jwk, &key, errbuf, sizeof(errbuf)) !=
            AP_OK ||
        crypto_verify(key, CRYPTO_ALG_ES256, ott, (size_t)(d2 - ott), sig,
                      sl) != AP_OK) {
        why = "signature";
        goto out;
    }
    if (strcmp(json_str(cl, "iss", ""), STEPCA_PROVISIONER) != 0) {
        why = "iss";
        goto out;
    }
    /* aud: https://<host>[:port]<path>; the port is ignored. */
    aud = json_str(cl, "aud", "");
    if (strncmp(aud, "https://", 8) != 0 ||
        strchr(aud + 8, '/') == NULL ||
        (strcmp(strchr(aud + 8, '/'), aud_path) != 0 &&
         strcmp(strchr(aud + 8, '/'), aud_path + 4) != 0)) {
        why = "aud";
        goto out;
    }
    if (json_num(cl, "nbf", now) > now + 60 ||
        json_num(cl, "exp", 0) < now - 60 ||
        json_num(cl, "iat", now) < M.start - 60) {
        why = "nbf/exp/iat";
        goto out;
    }
    if (json_str(cl, "sub", "")[0] == '\0') {
        why = "sub";
        goto out;
    }
    jti = json_str(cl, "jti", "");
    if (jti[0] == '\0') {
        why = "jti";
        goto out;
    }
    pthread_mutex_lock(&M.lock);
    for (size_t i = 0; i < M.n_jti; i++) {
        if (strcmp(M.jtis[i], jti) == 0) {
            why = "token already used";
        }
    }
    if (why == NULL && M.n_jti < MOCK_MAX_JTI) {
        M.jtis[M.n_jti++] = strdup(jti);
    }
    pthread_mutex_unlock(&M.lock);
out:
    if (why != NULL) {
        fprintf(stderr, "mockpki: step-ca token refused: %s\n", why);
        cJSON_Delete(cl);
        cl = NULL;
    }
    crypto_key_free(key);
    cJSON_Delete(h);
    free(hdr);
    free(pay);
    return cl;
}

static int
step_sign(struct mg_connection *c)
{
    cJSON *req = read_json(c);
    cJSON *cl = NULL;
    cJSON *o;
    struct crypto_csr *csr = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    const cJSON *sans;
    char label[80];
    char got[600] = "";
    char want[600] = "";
    char msg[1400];
    char *pem = NULL;
    char *chain = NULL;
    bool same = true;
    int status;
    long n;

    pthread_mutex_lock(&M.lock);
    M.submits++;
    pthread_mutex_unlock(&M.lock);
    if (json_str(req, "csr", NULL) == NULL) {
        status = step_error(c, 400, "The request could not be completed: "
                                    "missing csr.");
        goto out;
    }
    if (json_str(req, "ott", NULL) == NULL) {
        status = step_error(c, 400, "The request could not be completed: "
                                    "missing ott.");
        goto out;
    }
    if (strstr(json_str(req, "csr", ""), "-----BEGIN CERTIFICATE REQUEST") ==
            NULL ||
        (csr = csr_from_text(json_str(req, "csr", ""), &der, &len)) == NULL) {
        status = step_error(c, 400, "The request could not be completed: "
                                    "invalid csr.");
        goto out;
    }
    scenario(csr, label, sizeof(label));
    note_try(csr);
    if ((n = label_num(label, "slow-")) > 0) {
        sleep_ms(n);
    }
    cl = step_ott(json_str(req, "ott", ""), "/1.0/sign");
    if (cl == NULL || strcmp(label, "auth") == 0) {
        status = step_error(c, 401, STEP_401);
        goto out;
    }
    /* The CSR's SAN set must equal the token's (default [sub]). */
    sans = cJSON_GetObjectItemCaseSensitive(cl, "sans");
    {
        const cJSON *it;
        size_t nt = 0;
        size_t nc = csr->n_dns_names + csr->n_ip_addrs;

        cJSON_ArrayForEach(it, sans) {
            bool found = false;

            nt++;
            for (size_t i = 0; cJSON_IsString(it) && i < nc; i++) {
                const char *v = i < csr->n_dns_names
                                    ? csr->dns_names[i]
                                    : csr->ip_addrs[i - csr->n_dns_names];

                found |= strcasecmp(v, it->valuestring) == 0;
            }
            same &= found;
            if (cJSON_IsString(it)) {
                (void)snprintf(want + strlen(want),
                               sizeof(want) - strlen(want), "%s%s",
                               nt > 1 ? " " : "", it->valuestring);
            }
        }
        if (sans == NULL) {
            nt = 1;
            same = nc == 1 && strcasecmp(csr_first(csr),
                                         json_str(cl, "sub", "")) == 0;
            (void)snprintf(want, sizeof(want), "%s", json_str(cl, "sub", ""));
        }
        same &= nt == nc;
        for (size_t i = 0; i < csr->n_dns_names; i++) {
            (void)snprintf(got + strlen(got), sizeof(got) - strlen(got),
                           "%s%s", i ? " " : "", csr->dns_names[i]);
        }
    }
    if (!same) {
        (void)snprintf(msg, sizeof(msg),
                       "The request was forbidden by the certificate "
                       "authority: certificate request does not contain the "
                       "valid DNS names - got [%s], want [%s].",
                       got, want);
        status = step_error(c, 403, msg);
        goto out;
    }
    if (strcmp(label, "reject") == 0) {
        status = step_error(c, 403, "The request was forbidden by the "
                                    "certificate authority: certificate "
                                    "request does not pass the x509 "
                                    "policy.");
        goto out;
    }
    if (strcmp(label, "e500") == 0 || strcmp(label, "e503") == 0 ||
        (strcmp(label, "hold") == 0 && M.hold)) {
        status = step_error(c, 500, "The certificate authority encountered "
                                    "an Internal Server Error. Please see "
                                    "the certificate authority logs for "
                                    "more info.");
        goto out;
    }
    if (issue(csr, NULL, &pem, &chain) != 0) {
        status = step_error(c, 500, "The certificate authority encountered "
                                    "an Internal Server Error.");
        goto out;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "crt", pem);
    cJSON_AddStringToObject(o, "ca", chain);
    {
        cJSON *arr = cJSON_AddArrayToObject(o, "certChain");
        cJSON *tls = cJSON_AddObjectToObject(o, "tlsOptions");

        cJSON_AddItemToArray(arr, cJSON_CreateString(pem));
        cJSON_AddItemToArray(arr, cJSON_CreateString(chain));
        cJSON_AddNumberToObject(tls, "minVersion", 1.2);
        cJSON_AddNumberToObject(tls, "maxVersion", 1.3);
        cJSON_AddBoolToObject(tls, "renegotiation", 0);
    }
    status = send_json(c, 201, o);
out:
    free(pem);
    free(chain);
    free(der);
    crypto_csr_free(csr);
    cJSON_Delete(cl);
    cJSON_Delete(req);
    return status;
}

static int
step_revoke(struct mg_connection *c)
{
    cJSON *req = read_json(c);
    cJSON *cl = NULL;
    const char *serial = json_str(req, "serial", "");
    char dec_serial[200];
    struct issued *crt = NULL;
    long long rc_code = json_num(req, "reasonCode", 0);
    int status;

    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "passive"))) {
        status = step_error(c, 501, "non-passive revocation not "
                                    "implemented");
        goto out;
    }
    if (rc_code < 0 || rc_code > 10) {
        status = step_error(c, 400, "The request could not be completed: "
                                    "reasonCode out of bounds.");
        goto out;
    }
    cl = step_ott(json_str(req, "ott", ""), "/1.0/revoke");
    (void)snprintf(dec_serial, sizeof(dec_serial), "%s", serial);
    if (cl == NULL || strcmp(json_str(cl, "sub", ""), dec_serial) != 0) {
        status = step_error(c, 401, STEP_401);
        goto out;
    }
    pthread_mutex_lock(&M.lock);
    for (size_t i = 0; i < M.n_certs; i++) {
        char *d = adapter_hex_to_dec(M.certs[i]->serial_hex);

        if (d != NULL && strcmp(d, dec_serial) == 0) {
            crt = M.certs[i];
        }
        free(d);
    }
    if (crt != NULL && crt->revoked) {
        char msg[300];

        pthread_mutex_unlock(&M.lock);
        (void)snprintf(msg, sizeof(msg), "The request could not be "
                       "completed: certificate with serial number '%s' is "
                       "already revoked.", dec_serial);
        status = step_error(c, 400, msg);
        goto out;
    }
    if (crt != NULL) {
        crt->revoked = true;
        crt->reason = (int)rc_code;
        crt->revoked_at = time_now();
        M.revokes++;
    }
    pthread_mutex_unlock(&M.lock);
    {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "status", "ok");
        status = send_json(c, 200, o);
    }
out:
    cJSON_Delete(cl);
    cJSON_Delete(req);
    return status;
}

/* ------------------------------------------------------------ certsrv */

static const char *
adcs_auth_header(void)
{
    return "WWW-Authenticate: NTLM\r\n"
           "WWW-Authenticate: Basic realm=\"mockpki certsrv\"\r\n";
}

/* Basic with the right user and password, or an NTLM exchange naming
 * the right user (NTLM: a fixed challenge; the type-3 response is not
 * checked cryptographically, only its user and domain). */
static bool
adcs_authorized(struct mg_connection *c)
{
    const char *a = mg_get_header(c, "Authorization");
    unsigned char raw[2048];
    size_t n = 0;

    if (a == NULL) {
        send_body(c, 401, "text/html", adcs_auth_header(),
                  "<html><body>401 - Unauthorized</body></html>");
        return false;
    }
    if (strncmp(a, "Basic ", 6) == 0) {
        char want[200];
        char *b64 = NULL;

        (void)snprintf(want, sizeof(want), "%s:%s", ADCS_USER,
                       ADCS_PASSWORD);
        {
            unsigned char *dec = NULL;
            size_t dl = 0;

            if (x509_b64_decode(a + 6, &dec, &dl) == AP_OK &&
                dl == strlen(want) && memcmp(dec, want, dl) == 0) {
                free(dec);
                return true;
            }
            free(dec);
        }
        free(b64);
        send_body(c, 401, "text/html", adcs_auth_header(),
                  "<html><body>401 - Unauthorized</body></html>");
        return false;
    }
    if (strncmp(a, "NTLM ", 5) == 0) {
        unsigned char *dec = NULL;

        if (x509_b64_decode(a + 5, &dec, &n) != AP_OK || n < 12 ||
            n > sizeof(raw) || memcmp(dec, "NTLMSSP", 8) != 0) {
            free(dec);
            send_body(c, 400, "text/html", NULL, "bad NTLM");
            return false;
        }
        memcpy(raw, dec, n);
        free(dec);
        if (raw[8] == 1) {
            /* Type 2: fixed challenge, NTLM + Unicode flags. */
            static const unsigned char t2[] = {
                'N', 'T', 'L', 'M', 'S', 'S', 'P', 0, 2, 0, 0, 0,
                0, 0, 0, 0, 48, 0, 0, 0,                 /* target name */
                0x05, 0x02, 0x81, 0x00,                  /* flags */
                1, 2, 3, 4, 5, 6, 7, 8,                  /* challenge */
                0, 0, 0, 0, 0, 0, 0, 0,                  /* context */
                0, 0, 0, 0, 48, 0, 0, 0,                 /* target info */
            };
            char hdr[200];
            char *b = NULL;
            static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
                                     "klmnopqrstuvwxyz0123456789+/";
            char enc[80];
            size_t o = 0;

            for (size_t i = 0; i < sizeof(t2); i += 3) {
                unsigned v = (unsigned)t2[i] << 16;

                v |= i + 1 < sizeof(t2) ? (unsigned)t2[i + 1] << 8 : 0;
                v |= i + 2 < sizeof(t2) ? t2[i + 2] : 0;
                enc[o++] = al[(v >> 18) & 63];
                enc[o++] = al[(v >> 12) & 63];
                enc[o++] = i + 1 < sizeof(t2) ? al[(v >> 6) & 63] : '=';
                enc[o++] = i + 2 < sizeof(t2) ? al[v & 63] : '=';
            }
            enc[o] = '\0';
            (void)snprintf(hdr, sizeof(hdr), "WWW-Authenticate: NTLM %s\r\n",
                           enc);
            free(b);
            send_body(c, 401, "text/html", hdr, "NTLM challenge");
            return false;
        }
        if (raw[8] == 3 && n >= 52) {
            /* Type 3: domain (offset 28), user (offset 36), UTF-16LE. */
            unsigned dl = raw[28] | raw[29] << 8;
            unsigned doff = raw[32] | raw[33] << 8;
            unsigned ul = raw[36] | raw[37] << 8;
            unsigned uoff = raw[40] | raw[41] << 8;
            char who[200];
            size_t k = 0;

            if (doff + dl <= n && uoff + ul <= n) {
                for (unsigned i = 0; i < dl && k + 2 < sizeof(who); i += 2) {
                    who[k++] = (char)raw[doff + i];
                }
                who[k++] = '\\';
                for (unsigned i = 0; i < ul && k + 1 < sizeof(who); i += 2) {
                    who[k++] = (char)raw[uoff + i];
                }
                who[k] = '\0';
                if (strcasecmp(who, ADCS_USER) == 0) {
                    return true;
                }
            }
        }
    }
    send_body(c, 401, "text/html", adcs_auth_header(),
              "<html><body>401 - Unauthorized</body></html>");
    return false;
}

static int
adcs_page(struct mg_connection *c, const char *inner)
{
    char page[8192];

    (void)snprintf(page, sizeof(page),
                   "<HTML>\r\n<Head>\r\n\t<Meta HTTP-Equiv=\"Content-Type\" "
                   "Content=\"text/html; charset=UTF-8\">\r\n\t<Title>"
                   "Microsoft Active Directory Certificate Services</Title>"
                   "\r\n</Head>\r\n<Body BgColor=#FFFFFF><Font ID=locPageFont "
                   "Face=\"Arial\">\r\n%s\r\n</Font>\r\n</Body>\r\n</HTML>"
                   "\r\n",
                   inner);
    return send_body(c, 200, "text/html", NULL, page);
}

/* certfnsh.asp's denial: the message inside quotes, as the ASP writes it
 * (msg is HTML). */
static int
adcs_denied(struct mg_connection *c, long id, const char *msg)
{
    char inner[4096];

    (void)snprintf(inner, sizeof(inner),
                   "<P ID=locPageTitle> <B> Certificate Request Denied </B>"
                   "\r\n<P ID=locDenied> Your certificate request was "
                   "denied.\r\n<P ID=locInfoReqIDAndReason> Your Request Id "
                   "is %ld. The disposition message is \"%s\".\r\n"
                   "<P ID=locContactAdmin>Contact your administrator for "
                   "further information.\r\n</P>",
                   id, msg);
    return adcs_page(c, inner);
}

/* certnew.cer's error page: label / value pairs in <DT><DD> (from pages
 * captured off a real certsrv). */
static int
adcs_error_page(struct mg_connection *c, const char *disp, const char *last)
{
    char inner[4096];

    (void)snprintf(inner, sizeof(inner),
                   "<P ID=locPageTitle> <B> Error </B>\n<P ID=locContactAdmin>"
                   "Contact your administrator for further assistance.\n</P>"
                   "\n<DL><DD>\n\t<DL>\n\t<DT ID=locDispMsgLabel><Font "
                   "Size=-1><B>Disposition message:</B></Font></DT><DD>\n"
                   "\t\t%s\n\t</DD>\n\n\t<DT ID=locResultLabel><Font Size=-1>"
                   "<B>Result:</B></Font></DT><DD>\n\t\tThe operation "
                   "completed successfully. 0x0 (WIN32: 0)\n\t</DD>\n\n\t<DT "
                   "ID=locLastStatLabel><Font Size=-1><B>LastStatus:</B></Font>"
                   "</DT><DD>\n\t\t%s\n\t</DD></DL>\n</DD></DL>",
                   disp, last);
    return adcs_page(c, inner);
}

static int
adcs_submit(struct mg_connection *c)
{
    char *body = read_body(c);
    char *mode = NULL;
    char *csr_text = NULL;
    char *attrib = NULL;
    struct crypto_csr *csr = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    size_t blen = body ? strlen(body) : 0;
    char label[80];
    char inner[1024];
    char *pem = NULL;
    char *chain = NULL;
    int status;
    long n;

    pthread_mutex_lock(&M.lock);
    M.submits++;
    pthread_mutex_unlock(&M.lock);
    mode = calloc(1, 64);
    csr_text = calloc(1, blen + 1);
    attrib = calloc(1, blen + 1);
    if (body == NULL || mode == NULL || csr_text == NULL || attrib == NULL) {
        status = send_body(c, 500, "text/html", NULL, "error");
        goto out;
    }
    (void)mg_get_var(body, blen, "Mode", mode, 64);
    (void)mg_get_var(body, blen, "CertRequest", csr_text, blen + 1);
    (void)mg_get_var(body, blen, "CertAttrib", attrib, blen + 1);
    if (strcmp(mode, "newreq") != 0 ||
        (csr = csr_from_text(csr_text, &der, &len)) == NULL) {
        status = adcs_page(c, "<P ID=locPageTitle> <B> Certificate Request "
                              "Error </B>\r\n<P> The disposition message is "
                              "\"Error Parsing Request  The request is "
                              "invalid. 0x80092009\".</P>");
        goto out;
    }
    if (strstr(attrib, "CertificateTemplate:WebServer") == NULL) {
        status = adcs_denied(c, 0, "Denied by Policy Module  0x80094800, "
                             "The request was for a certificate template "
                             "that is not supported by the Active "
                             "Directory Certificate Services policy.");
        goto out;
    }
    scenario(csr, label, sizeof(label));
    note_try(csr);
    if ((n = label_num(label, "slow-")) > 0) {
        sleep_ms(n);
    }
    if (strcmp(label, "reject") == 0) {
        status = adcs_denied(c, 0, "Denied by Policy Module");
    } else if (strcmp(label, "denytext") == 0) {
        /* Issue 19: quotes, entities and line breaks in the message. */
        char msg[512];

        (void)snprintf(msg, sizeof(msg),
                       "Denied by Policy Module  0x80094800, the request "
                       "for \"%s\" &amp; &quot;its&quot; names was denied:"
                       "\r\n  Tom&#39;s template &lt;WebServer&gt; is not "
                       "allowed\r\nhere",
                       csr->n_dns_names > 0 ? csr->dns_names[0] : "?");
        status = adcs_denied(c, 0, msg);
    } else if (strcmp(label, "e500") == 0 || strcmp(label, "e503") == 0 ||
               (strcmp(label, "hold") == 0 && M.hold)) {
        status = send_body(c, strcmp(label, "e500") == 0 ? 500 : 503,
                           "text/html", NULL,
                           "<html><body>Service Unavailable</body></html>");
    } else if ((n = label_num(label, "pending-")) >= 0 ||
               (n = label_num(label, "deny-")) >= 0) {
        struct pending *p = req_new(der, len, (int)n,
                                    strncmp(label, "deny-", 5) == 0, NULL,
                                    NULL);

        (void)snprintf(inner, sizeof(inner),
                       "<P><B>Certificate Pending</B></P><P>Your certificate "
                       "request has been received. However, you must wait "
                       "for an administrator to issue the certificate you "
                       "requested.</P><P>Your Request Id is %ld.</P>",
                       p ? p->id : 0L);
        status = adcs_page(c, inner);
    } else {
        struct pending *p = req_new(der, len, 0, false, NULL, NULL);

        if (p != NULL && (n = label_num(label, "slowfetch-")) > 0) {
            p->fetch_delay_ms = n;
        }
        if (p == NULL || req_poll(p, &chain) != 1) {
            status = send_body(c, 500, "text/html", NULL, "error");
            goto out;
        }
        (void)snprintf(inner, sizeof(inner),
                       "<P ID=locPageTitle> <B> Certificate Issued </B>\r\n"
                       "<P ID=locCertIssued> The certificate you requested "
                       "was issued to you.\r\n<P><A Href=\"certnew.cer?"
                       "ReqID=%ld&amp;Enc=b64\">Download certificate</A>"
                       "\r\n<Script Language=\"JavaScript\">\r\n\tfunction "
                       "handleGetCert() {\r\n\t\tlocation=\"certnew.cer?"
                       "ReqID=%ld&\"+getEncoding();\r\n\t}\r\n</Script>",
                       p->id, p->id);
        status = adcs_page(c, inner);
    }
out:
    free(pem);
    free(chain);
    free(der);
    crypto_csr_free(csr);
    free(mode);
    free(csr_text);
    free(attrib);
    free(body);
    return status;
}

/* DER PKCS#7 SignedData (degenerate, certificates only) of the PEM
 * certificates, as base64 armoured with CERTIFICATE (what AD CS does). */
static char *
p7b_of(const char *pems)
{
    unsigned char buf[16384];
    unsigned char *p = buf + sizeof(buf);
    unsigned char *ders[8];
    size_t lens[8];
    size_t n = 0;
    size_t certs_len = 0;
    size_t len = 0;
    const char *q = pems;
    char *pem;
    int r;

    while (n < 8 && (q = strstr(q, "-----BEGIN CERTIFICATE-----")) != NULL) {
        if (x509_pem_cert_to_der(q, &ders[n], &lens[n]) != AP_OK) {
            break;
        }
        n++;
        q++;
    }
    /* signerInfos SET {} */
    r = mbedtls_asn1_write_len(&p, buf, 0);
    r += mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                             MBEDTLS_ASN1_SET);
    len += (size_t)r;
    for (size_t i = n; i > 0; i--) {
        r = mbedtls_asn1_write_raw_buffer(&p, buf, ders[i - 1], lens[i - 1]);
        certs_len += (size_t)r;
        free(ders[i - 1]);
    }
    r = mbedtls_asn1_write_len(&p, buf, certs_len);
    r += mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                             MBEDTLS_ASN1_CONSTRUCTED | 0);
    len += certs_len + (size_t)r;
    {   /* encapContentInfo SEQ { OID data } */
        size_t l = 0;

        r = mbedtls_asn1_write_oid(&p, buf, "\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01", 9);
        l += (size_t)r;
        r = mbedtls_asn1_write_len(&p, buf, l);
        r += mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                                 MBEDTLS_ASN1_SEQUENCE);
        len += l + (size_t)r;
    }
    /* digestAlgorithms SET {} and version 1 */
    r = mbedtls_asn1_write_len(&p, buf, 0);
    r += mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                             MBEDTLS_ASN1_SET);
    len += (size_t)r;
    r = mbedtls_asn1_write_int(&p, buf, 1);
    len += (size_t)r;
    r = mbedtls_asn1_write_len(&p, buf, len);
    r += mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                             MBEDTLS_ASN1_SEQUENCE);
    len += (size_t)r;
    r = mbedtls_asn1_write_len(&p, buf, len);
    r += mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                             MBEDTLS_ASN1_CONSTRUCTED | 0);
    len += (size_t)r;
    r = mbedtls_asn1_write_oid(&p, buf, "\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02", 9);
    len += (size_t)r;
    r = mbedtls_asn1_write_len(&p, buf, len);
    r += mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                             MBEDTLS_ASN1_SEQUENCE);
    len += (size_t)r;
    pem = pem_encode(p, len, "CERTIFICATE");
    return pem;
}

/* PEM with CRLF line ends, as certnew.cer sends it. */
static char *
crlf(const char *pem)
{
    struct buf b;

    buf_init(&b, 65536);
    for (const char *p = pem; *p; p++) {
        if (*p == '\n' && buf_append(&b, "\r", 1) != AP_OK) {
            break;
        }
        if (buf_append(&b, p, 1) != AP_OK) {
            break;
        }
    }
    return buf_take(&b);
}

static int
adcs_fetch(struct mg_connection *c, const char *query, bool p7b)
{
    char id[32] = "";
    char enc[16] = "";
    struct pending *p;
    char *chain = NULL;
    int st;
    int status;

    if (query != NULL) {
        mg_get_var(query, strlen(query), "ReqID", id, sizeof(id));
        mg_get_var(query, strlen(query), "Enc", enc, sizeof(enc));
    }
    pthread_mutex_lock(&M.lock);
    p = id[0] ? req_find(strtol(id, NULL, 10)) : NULL;
    pthread_mutex_unlock(&M.lock);
    if (p == NULL) {
        return adcs_error_page(c, "Error retrieving certificate",
                               "Certificate Request not found. 0x80094004");
    }
    if (!p7b && p->fetch_delay_ms > 0) {
        sleep_ms(p->fetch_delay_ms);
    }
    st = req_poll(p, &chain);
    if (st == 0) {
        status = adcs_error_page(c, "Taken Under Submission",
                                 "The operation completed successfully. 0x0 "
                                 "(WIN32: 0)");
    } else if (st == 2) {
        status = adcs_error_page(c, "Denied by Policy Module",
                                 "The request was denied by a certificate "
                                 "manager or CA administrator. 0x80094014 "
                                 "(-2146877420 "
                                 "CERTSRV_E_ADMIN_DENIED_REQUEST)");
    } else if (st < 0) {
        status = send_body(c, 500, "text/html", NULL, "error");
    } else if (p7b) {
        struct buf b;
        char *pem;

        buf_init(&b, 65536);
        bput(&b, p->cert_pem);
        bput(&b, chain);
        pem = p7b_of(b.data);
        buf_fini(&b);
        status = send_body(c, 200, "application/x-pkcs7-certificates", NULL,
                           pem ? pem : "");
        free(pem);
    } else {
        char *text = crlf(p->cert_pem);

        status = send_body(c, 200, "application/pkix-cert", NULL,
                           text ? text : "");
        free(text);
    }
    free(chain);
    return status;
}

static int
adcs_route(struct mg_connection *c, const char *method, const char *path,
           const char *query)
{
    if (!adcs_authorized(c)) {
        return 401;
    }
    if (M.outage) {
        return send_body(c, 503, "text/html", NULL,
                         "<html><body>Service Unavailable</body></html>");
    }
    if (strcmp(path, "/certsrv/") == 0 || strcmp(path, "/certsrv") == 0) {
        return adcs_page(c, "<P>Welcome</P>");
    }
    if (strcmp(path, "/certsrv/certfnsh.asp") == 0 &&
        strcmp(method, "POST") == 0) {
        return adcs_submit(c);
    }
    if (strcmp(path, "/certsrv/certnew.cer") == 0) {
        return adcs_fetch(c, query, false);
    }
    if (strcmp(path, "/certsrv/certnew.p7b") == 0) {
        return adcs_fetch(c, query, true);
    }
    if (strcmp(path, "/certsrv/certcarc.asp") == 0) {
        return adcs_page(c, "<Script>var nRenewals=0;</Script>");
    }
    return send_body(c, 404, "text/html", NULL, "not found");
}

/* ------------------------------------------------------------ dispatch */

static int
on_request(struct mg_connection *c, void *cbdata)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *path = ri->local_uri;
    const char *method = ri->request_method;

    (void)cbdata;
    if (strcmp(path, "/__mock/state") == 0) {
        cJSON *o = cJSON_CreateObject();

        pthread_mutex_lock(&M.lock);
        cJSON_AddNumberToObject(o, "submits", (double)M.submits);
        cJSON_AddNumberToObject(o, "issued", (double)M.issued);
        cJSON_AddNumberToObject(o, "revoked", (double)M.revokes);
        cJSON_AddNumberToObject(o, "vault_signs_static",
                                (double)M.vault_signs_static);
        cJSON_AddNumberToObject(o, "vault_signs_login",
                                (double)M.vault_signs_login);
        cJSON_AddItemToObject(o, "by_name", cJSON_Duplicate(M.by_name, 1));
        cJSON_AddItemToObject(o, "by_key", cJSON_Duplicate(M.by_key, 1));
        cJSON_AddItemToObject(o, "by_user", cJSON_Duplicate(M.by_user, 1));
        cJSON_AddNumberToObject(o, "lookups", (double)M.lookups);
        cJSON_AddItemToObject(o, "tries", cJSON_Duplicate(M.tries, 1));
        cJSON_AddBoolToObject(o, "outage", M.outage);
        if (ri->query_string != NULL &&
            strstr(ri->query_string, "certs=1") != NULL) {
            /* Every certificate signed: for the torture test's counts. */
            cJSON *arr = cJSON_AddArrayToObject(o, "certs");

            for (size_t i = 0; arr != NULL && i < M.n_certs; i++) {
                cJSON *one = cJSON_CreateObject();

                cJSON_AddStringToObject(one, "serial", M.certs[i]->serial_hex);
                cJSON_AddStringToObject(one, "name", M.certs[i]->name);
                cJSON_AddStringToObject(one, "key", M.certs[i]->key);
                if (M.certs[i]->user != NULL) {
                    cJSON_AddStringToObject(one, "user", M.certs[i]->user);
                }
                cJSON_AddNumberToObject(one, "issued",
                                        (double)M.certs[i]->issued_at);
                cJSON_AddBoolToObject(one, "revoked", M.certs[i]->revoked);
                cJSON_AddItemToArray(arr, one);
            }
        }
        pthread_mutex_unlock(&M.lock);
        return send_json(c, 200, o);
    }
    if (strcmp(path, "/__mock/outage") == 0) {
        char on[8] = "0";
        cJSON *o = cJSON_CreateObject();

        if (ri->query_string != NULL) {
            mg_get_var(ri->query_string, strlen(ri->query_string), "on", on,
                       sizeof(on));
        }
        M.outage = strcmp(on, "1") == 0;
        cJSON_AddBoolToObject(o, "outage", M.outage);
        return send_json(c, 200, o);
    }
    if (strcmp(path, "/__mock/vault-static") == 0) {
        char on[8] = "1";
        cJSON *o = cJSON_CreateObject();

        if (ri->query_string != NULL) {
            mg_get_var(ri->query_string, strlen(ri->query_string), "on", on,
                       sizeof(on));
        }
        M.static_off = strcmp(on, "0") == 0;
        cJSON_AddBoolToObject(o, "static", !M.static_off);
        return send_json(c, 200, o);
    }
    if (strcmp(path, "/__mock/hold") == 0) {
        char on[8] = "0";
        cJSON *o = cJSON_CreateObject();

        if (ri->query_string != NULL) {
            mg_get_var(ri->query_string, strlen(ri->query_string), "on", on,
                       sizeof(on));
        }
        M.hold = strcmp(on, "1") == 0;
        cJSON_AddBoolToObject(o, "hold", M.hold);
        return send_json(c, 200, o);
    }
    if (M.outage && strcmp(path, "/health") != 0) {
        /* What a load balancer in front of a stopped PKI answers, on
         * every path (health and status endpoints too). */
        return send_body(c, 503, "text/html", NULL,
                         "<html><body>503 Service Unavailable</body></html>");
    }
    if (strncmp(path, "/ejbca/ejbca-rest-api/", 22) == 0) {
        return ejbca_route(c, method, path, ri->query_string);
    }
    if (strncmp(path, "/v1/", 4) == 0) {
        return vault_route(c, method, path);
    }
    if (strcmp(path, "/health") == 0) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "status", "ok");
        return send_json(c, 200, o);
    }
    if (strcmp(path, "/1.0/sign") == 0 || strcmp(path, "/sign") == 0) {
        if (M.outage) {
            return step_error(c, 503, "The certificate authority is not "
                                      "available.");
        }
        return strcmp(method, "POST") == 0 ? step_sign(c)
                                           : step_error(c, 405, "Method "
                                                                "Not "
                                                                "Allowed");
    }
    if (strcmp(path, "/1.0/revoke") == 0 || strcmp(path, "/revoke") == 0) {
        return step_revoke(c);
    }
    if (strncmp(path, "/certsrv", 8) == 0) {
        return adcs_route(c, method, path, ri->query_string);
    }
    return send_body(c, 404, "text/plain", NULL, "not found\n");
}

/* ------------------------------------------------------------ setup */

static int
write_file(const char *dir, const char *name, const char *text, int mode)
{
    char path[4096];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    fputs(text, f);
    fclose(f);
    return chmod(path, (mode_t)mode);
}

static int
setup(const char *dir, char *tls_path, size_t tls_len)
{
    char path[4096];
    char errbuf[300];
    char *key = NULL;
    char *cert = NULL;
    const char *dns[] = { "localhost" };
    const char *ips[] = { "127.0.0.1", "::1" };
    const char *admin[] = { EJBCA_ADMIN_CN };
    struct buf b;
    cJSON *jwk;

    (void)snprintf(path, sizeof(path), "%s/ca", dir);
    (void)mkdir(path, 0700);
    (void)snprintf(M.ca_dir, sizeof(M.ca_dir), "%s", path);
    if (ca_open(path, &M.ca, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "mockpki: CA: %s\n", errbuf);
        return -1;
    }
    (void)snprintf(path, sizeof(path), "%s/rogue", dir);
    (void)mkdir(path, 0700);
    if (ca_open(path, &M.rogue, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "mockpki: rogue CA: %s\n", errbuf);
        return -1;
    }
    if (ca_issue_tls(M.ca, dns, 1, ips, 2, 30, &key, &cert, errbuf,
                     sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "mockpki: TLS: %s\n", errbuf);
        return -1;
    }
    buf_init(&b, 65536);
    bput(&b, key);
    bput(&b, cert);
    bput(&b, ca_intermediate_pem(M.ca));
    write_file(dir, "tls.pem", b.data, 0600);
    buf_fini(&b);
    free(key);
    free(cert);
    (void)snprintf(tls_path, tls_len, "%s/tls.pem", dir);
    /* The EJBCA administrator: a client certificate named ejbca-admin. */
    if (ca_issue_tls(M.ca, admin, 1, NULL, 0, 30, &key, &cert, errbuf,
                     sizeof(errbuf)) != AP_OK) {
        return -1;
    }
    buf_init(&b, 65536);
    bput(&b, cert);
    bput(&b, ca_intermediate_pem(M.ca));
    write_file(dir, "client.pem", b.data, 0644);
    buf_fini(&b);
    write_file(dir, "client.key", key, 0600);
    free(key);
    free(cert);
    buf_init(&b, 65536);
    bput(&b, ca_root_pem(M.ca));
    bput(&b, ca_intermediate_pem(M.ca));
    write_file(dir, "client-ca.pem", b.data, 0644);
    buf_fini(&b);
    (void)snprintf(path, sizeof(path), "%s/client-ca.pem", dir);
    if (mock_tls_set_client_ca(path) != 0) {
        return -1;
    }
    /* The step-ca JWK provisioner key, as `step crypto jwe decrypt`
     * would leave it: a private JWK. */
    {
        unsigned char d[32];
        char *d64;
        char errb[200];

        do {
            if (crypto_random(d, sizeof(d)) != AP_OK) {
                return -1;
            }
        } while (d[0] == 0 || d[0] == 0xff);
        d64 = b64url_encode_alloc(d, sizeof(d));
        jwk = cJSON_CreateObject();
        cJSON_AddStringToObject(jwk, "kty", "EC");
        cJSON_AddStringToObject(jwk, "crv", "P-256");
        cJSON_AddStringToObject(jwk, "d", d64);
        free(d64);
        {
            char *text = cJSON_PrintUnformatted(jwk);

            if (jose_key_parse(text, &M.stepca_key, errb, sizeof(errb)) !=
                AP_OK) {
                fprintf(stderr, "mockpki: jwk: %s\n", errb);
                return -1;
            }
            cJSON_free(text);
        }
        cJSON_Delete(jwk);
        M.stepca_jwk = jose_key_public_jwk(M.stepca_key);
        jwk = cJSON_Duplicate(M.stepca_jwk, 1);
        cJSON_AddStringToObject(jwk, "d", "");
        cJSON_DeleteItemFromObject(jwk, "d");
        {
            cJSON *full = cJSON_Duplicate(M.stepca_jwk, 1);
            char *text;

            d64 = b64url_encode_alloc(d, sizeof(d));
            cJSON_AddStringToObject(full, "d", d64);
            cJSON_AddStringToObject(full, "kid", STEPCA_KID);
            free(d64);
            text = cJSON_PrintUnformatted(full);
            write_file(dir, "stepca.jwk", text, 0600);
            cJSON_free(text);
            cJSON_Delete(full);
        }
        cJSON_Delete(jwk);
        crypto_zeroize(d, sizeof(d));
    }
    write_file(dir, "stepca.kid", STEPCA_KID "\n", 0644);
    write_file(dir, "vault-token", VAULT_TOKEN_STATIC "\n", 0600);
    write_file(dir, "approle-role-id", APPROLE_ROLE_ID "\n", 0600);
    write_file(dir, "approle-secret-id", APPROLE_SECRET_ID "\n", 0600);
    write_file(dir, "ejbca-code", EJBCA_CODE "\n", 0600);
    write_file(dir, "adcs-password", ADCS_PASSWORD "\n", 0600);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *dir = NULL;
    const char *port = NULL;
    char listen[64];
    char tls[4200];
    struct mg_callbacks cb;
    struct mg_context *ctx;
    int opt;

    M.lease_sec = 3600;
    while ((opt = getopt(argc, argv, "d:p:l:")) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'p':
            port = optarg;
            break;
        case 'l':
            M.lease_sec = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: mockpki -d DIR -p PORT [-l LEASE_SEC]\n");
            return 2;
        }
    }
    if (dir == NULL || port == NULL) {
        fprintf(stderr, "usage: mockpki -d DIR -p PORT [-l LEASE_SEC]\n");
        return 2;
    }
    pthread_mutex_init(&M.lock, NULL);
    M.by_name = cJSON_CreateObject();
    M.by_key = cJSON_CreateObject();
    M.by_user = cJSON_CreateObject();
    M.tries = cJSON_CreateObject();
    M.next_req = 1000;
    M.start = time_now();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (crypto_init() != AP_OK || setup(dir, tls, sizeof(tls)) != 0) {
        return 1;
    }
    (void)snprintf(listen, sizeof(listen), "127.0.0.1:%ss", port);
    {
        const char *opts[] = {
            "listening_ports", listen, "ssl_certificate", tls,
            "num_threads", "24", "enable_keep_alive", "yes",
            "request_timeout_ms", "60000", NULL,
        };

        memset(&cb, 0, sizeof(cb));
        mg_init_library(MG_FEATURES_TLS);
        ctx = mg_start(&cb, NULL, opts);
    }
    if (ctx == NULL) {
        fprintf(stderr, "mockpki: cannot listen on %s\n", listen);
        return 1;
    }
    mg_set_request_handler(ctx, "/", on_request, NULL);
    write_file(dir, "ready", "ok\n", 0644);
    fprintf(stderr, "mockpki: serving https://%s\n", listen);
    while (!stop_flag) {
        sleep_ms(100);
    }
    mg_stop(ctx);
    return 0;
}
