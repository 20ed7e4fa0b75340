/* test/bench/acmebench.c: an ACME (RFC 8555) load generator.
 *
 * Runs complete flows against any ACME server, concurrently: accounts
 * (ES256 and RS256 keys) are registered first, then each flow is newOrder
 * with 1-3 names, the authorizations, http-01 answered by the built-in
 * responder, finalize with a fresh CSR, certificate download and
 * optionally revokeCert. Reports flows/s, per-endpoint latency (p50, p90,
 * p99, max), errors by problem type, and the server's CPU time and RSS
 * when given its PID. Every run is bounded by a flow count and a time.
 *
 *   acmebench --directory URL --ca FILE --http-port N [options]
 *   acmebench --crypto-bench          (per-signature costs, no server)
 *
 * Ends with one "RESULT key=value ..." line that test/bench/run.sh reads.
 * It measures and never decides pass or fail, except that the exit status
 * is 1 when a flow failed (the smoke test counts on that). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

#include <cjson/cJSON.h>

#include "common/b64url.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "test/bench/bench_http.h"
#include "test/bench/bench_key.h"
#include "test/bench/responder.h"

#define MAX_URL BHTTP_URL_MAX
#define MAX_NONCE BHTTP_NONCE_MAX
#define MAX_CONCURRENCY 256
#define MAX_FLOWS 10000000UL
#define MAX_DURATION 3600
#define MAX_ACCOUNTS 10000
#define MAX_AUTHZS 3
#define MAX_ERR_KINDS 64
#define MAX_SAMPLES_PER_EP (1u << 22)
#define RESP_BODY_CAP (1u << 20)
#define REQ_TIMEOUT_MS 30000L
#define ERR_PREFIX "urn:ietf:params:acme:error:"

enum ep {
    EP_DIRECTORY,
    EP_NONCE,
    EP_NEW_ACCOUNT,
    EP_NEW_ORDER,
    EP_AUTHZ,
    EP_CHALLENGE,
    EP_AUTHZ_POLL,
    EP_FINALIZE,
    EP_ORDER_POLL,
    EP_CERT,
    EP_REVOKE,
    EP_FLOW,
    EP__MAX
};

static const char *const ep_name[] = {
    [EP_DIRECTORY] = "directory",  [EP_NONCE] = "newNonce",
    [EP_NEW_ACCOUNT] = "newAccount", [EP_NEW_ORDER] = "newOrder",
    [EP_AUTHZ] = "authz",          [EP_CHALLENGE] = "challenge",
    [EP_AUTHZ_POLL] = "authzPoll", [EP_FINALIZE] = "finalize",
    [EP_ORDER_POLL] = "orderPoll", [EP_CERT] = "cert",
    [EP_REVOKE] = "revoke",        [EP_FLOW] = "flow",
};
_Static_assert(sizeof(ep_name) / sizeof(ep_name[0]) == EP__MAX,
               "ep_name must cover every endpoint");

struct opts {
    const char *directory;
    const char *ca;
    const char *label;
    const char *http_addr;
    const char *source;        /* local address to connect from, or NULL */
    const char *domain;
    unsigned http_port;
    unsigned concurrency;
    unsigned accounts;
    unsigned long flows;
    unsigned duration;
    unsigned flow_timeout;
    unsigned poll_ms;
    unsigned min_names;
    unsigned max_names;
    unsigned responder_threads;
    bool es256;
    bool rs256;
    bool revoke;
    bool fresh_csr_key;
    bool crypto_bench;
    bool self_test;
    int pid;
    unsigned progress;
    unsigned transport_retries; /* a request that got no answer, again */
};

struct samples {
    double *v; /* milliseconds */
    size_t n;
    size_t size;
    size_t dropped;
};

struct account {
    struct bkey *key;
    char kid[MAX_URL];
    char thumb[64];
    bool ok;
};

struct directory {
    char new_nonce[MAX_URL];
    char new_account[MAX_URL];
    char new_order[MAX_URL];
    char revoke[MAX_URL];
};

struct err_kind {
    char key[128];
    unsigned long n;
};

struct shared {
    struct opts o;
    struct directory dir;
    struct account *accts;
    struct responder *resp;
    char run_id[16];
    double deadline;           /* monotonic seconds */
    atomic_ulong next_account;
    atomic_ulong next_flow;
    atomic_ulong flows_ok;
    atomic_ulong flows_failed;
    atomic_ulong badnonce_retries;
    atomic_ulong transport_retries;
    atomic_ulong polls;
    atomic_ulong connects;     /* connections opened */
    struct bhttp_ctx *http;
    pthread_barrier_t ready;   /* accounts registered */
    pthread_barrier_t go;      /* clock started */
    pthread_mutex_t err_lock;
    struct err_kind errs[MAX_ERR_KINDS];
    size_t n_errs;
    unsigned long errs_other;
};

#define hresp bhttp_resp

struct worker {
    struct shared *sh;
    unsigned idx;
    pthread_t thread;
    struct bhttp *http;
    struct buf signing;        /* a JWS's signing input, reused */
    struct buf body;           /* a JWS, reused */
    char nonce[MAX_NONCE];
    struct bkey *csr_key;
    struct samples s[EP__MAX];
};

/* ------------------------------------------------------------ helpers */

static double
mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void
sample_add(struct samples *s, double ms)
{
    if (s->n == s->size) {
        size_t size = s->size ? s->size * 2 : 1024;
        double *v;

        if (size > MAX_SAMPLES_PER_EP ||
            (v = realloc(s->v, size * sizeof(*v))) == NULL) {
            s->dropped++;
            return;
        }
        s->v = v;
        s->size = size;
    }
    s->v[s->n++] = ms;
}

static void
record_err(struct shared *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
record_err(struct shared *sh, const char *fmt, ...)
{
    char key[128];
    va_list ap;
    size_t i;

    va_start(ap, fmt);
    vsnprintf(key, sizeof(key), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&sh->err_lock);
    for (i = 0; i < sh->n_errs; i++) {
        if (strcmp(sh->errs[i].key, key) == 0) {
            sh->errs[i].n++;
            break;
        }
    }
    if (i == sh->n_errs) {
        if (sh->n_errs < MAX_ERR_KINDS) {
            snprintf(sh->errs[i].key, sizeof(sh->errs[i].key), "%s", key);
            sh->errs[i].n = 1;
            sh->n_errs++;
        } else {
            sh->errs_other++;
        }
    }
    pthread_mutex_unlock(&sh->err_lock);
}

static void
hresp_init(struct hresp *r)
{
    bhttp_resp_init(r, RESP_BODY_CAP);
}

/* The problem type of an error response without the ACME prefix, or
 * "http-<status>". */
static void
problem_of(const struct hresp *r, char *out, size_t outlen)
{
    cJSON *j = NULL;
    const cJSON *t;

    if (strncasecmp(r->ctype, "application/problem+json", 24) == 0 &&
        r->body.data != NULL) {
        j = cJSON_ParseWithLength(r->body.data, r->body.len);
    }
    t = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (cJSON_IsString(t)) {
        const char *s = t->valuestring;

        if (strncmp(s, ERR_PREFIX, strlen(ERR_PREFIX)) == 0) {
            s += strlen(ERR_PREFIX);
        }
        snprintf(out, outlen, "%s", s);
    } else {
        snprintf(out, outlen, "http-%ld", r->status);
    }
    cJSON_Delete(j);
}

/* One HTTP exchange; method "HEAD", "GET" or "POST" (body: JOSE JSON).
 * Returns false when no response arrived (r->err says why). */
static bool
http_do(struct worker *w, enum ep ep, const char *method, const char *url,
        const char *body, size_t len, struct hresp *r)
{
    double t0 = mono();
    ap_err rc;

    rc = bhttp_do(w->http, method, url, "application/jose+json", body, len,
                  REQ_TIMEOUT_MS, r);
    sample_add(&w->s[ep], (mono() - t0) * 1000.0);
    if (rc != AP_OK) {
        return false;
    }
    if (r->nonce[0] != '\0') {
        memcpy(w->nonce, r->nonce, sizeof(w->nonce));
    }
    return true;
}

/* Appends the base64url encoding of in to b. */
static ap_err
buf_b64(struct buf *b, const void *in, size_t len)
{
    char small[4096];
    size_t need = b64url_encoded_size(len);
    ap_err rc;

    if (need <= sizeof(small)) {
        rc = b64url_encode(in, len, small, sizeof(small));
        return rc != AP_OK ? rc : buf_append(b, small, need - 1);
    } else {
        char *big = b64url_encode_alloc(in, len);

        if (big == NULL) {
            return AP_ENOMEM;
        }
        rc = buf_append(b, big, strlen(big));
        free(big);
        return rc;
    }
}

/* Signs payload (NULL: POST-as-GET) for url with the account's kid, or
 * with its jwk when use_jwk, and posts it; retries once on badNonce and,
 * with --transport-retries N, up to N times (200 ms apart, with a fresh
 * nonce) when no answer came (a server that died: the balancer sends the
 * next connection to another one). Returns false when no response
 * arrived. */
static bool
acme_post(struct worker *w, enum ep ep, struct account *a, bool use_jwk,
          const char *url, const char *payload, struct hresp *r)
{
    struct shared *sh = w->sh;
    unsigned lost = 0;

    for (int attempt = 0; attempt < 2; attempt++) {
        cJSON *prot = NULL;
        char *prot_txt = NULL;
        unsigned char sig[600];
        size_t siglen = sizeof(sig);
        size_t plen;
        bool sent = false;
        bool ok = false;

        if (w->nonce[0] == '\0') {
            if (!http_do(w, EP_NONCE, "HEAD", sh->dir.new_nonce, NULL, 0,
                         r)) {
                if (lost++ < sh->o.transport_retries) {
                    atomic_fetch_add(&sh->transport_retries, 1);
                    sleep_ms(200);
                    attempt--;
                    continue;
                }
                return false;
            }
            if (w->nonce[0] == '\0') {
                snprintf(r->err, sizeof(r->err), "no nonce from newNonce");
                return false;
            }
        }
        prot = cJSON_CreateObject();
        cJSON_AddStringToObject(prot, "alg", bkey_alg(a->key));
        cJSON_AddStringToObject(prot, "nonce", w->nonce);
        cJSON_AddStringToObject(prot, "url", url);
        if (use_jwk) {
            cJSON_AddItemToObject(prot, "jwk", bkey_jwk(a->key));
        } else {
            cJSON_AddStringToObject(prot, "kid", a->kid);
        }
        w->nonce[0] = '\0';
        prot_txt = cJSON_PrintUnformatted(prot);
        /* signing input: protected "." payload; the body reuses both */
        buf_reset(&w->signing);
        buf_reset(&w->body);
        if (prot_txt != NULL &&
            buf_b64(&w->signing, prot_txt, strlen(prot_txt)) == AP_OK &&
            (plen = w->signing.len,
             buf_append(&w->signing, ".", 1) == AP_OK) &&
            (payload == NULL ||
             buf_b64(&w->signing, payload, strlen(payload)) == AP_OK) &&
            bkey_sign(a->key, w->signing.data, w->signing.len, sig,
                      &siglen) == AP_OK &&
            buf_appends(&w->body, "{\"protected\":\"") == AP_OK &&
            buf_append(&w->body, w->signing.data, plen) == AP_OK &&
            buf_appends(&w->body, "\",\"payload\":\"") == AP_OK &&
            buf_append(&w->body, w->signing.data + plen + 1,
                       w->signing.len - plen - 1) == AP_OK &&
            buf_appends(&w->body, "\",\"signature\":\"") == AP_OK &&
            buf_b64(&w->body, sig, siglen) == AP_OK &&
            buf_appends(&w->body, "\"}") == AP_OK) {
            ok = true;
            sent = http_do(w, ep, "POST", url, w->body.data, w->body.len, r);
        }
        cJSON_Delete(prot);
        cJSON_free(prot_txt);
        if (!ok) {
            snprintf(r->err, sizeof(r->err), "cannot sign the request");
            return false;
        }
        if (!sent) {
            if (lost++ < sh->o.transport_retries) {
                atomic_fetch_add(&sh->transport_retries, 1);
                sleep_ms(200);
                attempt--;
                continue;
            }
            return false;
        }
        if (r->status == 400 && attempt == 0) {
            char type[128];

            problem_of(r, type, sizeof(type));
            if (strcmp(type, "badNonce") == 0) {
                atomic_fetch_add(&sh->badnonce_retries, 1);
                continue;
            }
        }
        return true;
    }
    return true;
}

static cJSON *
body_json(const struct hresp *r)
{
    if (r->body.data == NULL) {
        return NULL;
    }
    return cJSON_ParseWithLength(r->body.data, r->body.len);
}

static const char *
jstr(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Records why a step failed: no response, or the response's problem. */
static void
step_failed(struct worker *w, enum ep ep, bool sent, const struct hresp *r)
{
    char type[128];

    if (!sent) {
        record_err(w->sh, "%s: transport: %.80s", ep_name[ep], r->err);
        return;
    }
    problem_of(r, type, sizeof(type));
    record_err(w->sh, "%s: %s", ep_name[ep], type);
}

/* ---------------------------------------------------------- the flow */

struct authz_state {
    char url[MAX_URL];
    char chall_url[MAX_URL];
    char token[256];
    bool done;
    bool registered;
};

/* The problem type in an invalid authorization's challenge. */
static void
authz_error(struct worker *w, const cJSON *authz)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(authz,
                                                           "challenges")) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(c, "error");

        if (e != NULL) {
            const char *t = jstr(e, "type");

            if (strncmp(t, ERR_PREFIX, strlen(ERR_PREFIX)) == 0) {
                t += strlen(ERR_PREFIX);
            }
            record_err(w->sh, "validation: %s", t);
            return;
        }
    }
    record_err(w->sh, "validation: authorization invalid");
}

static bool
run_flow(struct worker *w, unsigned long no)
{
    struct shared *sh = w->sh;
    const struct opts *o = &sh->o;
    struct account *a = &sh->accts[no % o->accounts];
    double t0 = mono();
    double deadline = t0 + o->flow_timeout;
    unsigned nnames = o->min_names +
                      (unsigned)(no % (o->max_names - o->min_names + 1));
    char names[MAX_AUTHZS][128];
    const char *name_p[MAX_AUTHZS];
    struct authz_state az[MAX_AUTHZS];
    size_t naz = 0;
    char order_url[MAX_URL] = "";
    char finalize_url[MAX_URL] = "";
    bool finalized = false;    /* a lost finalize answer went through */
    char cert_url[MAX_URL] = "";
    unsigned char *csr = NULL;
    size_t csr_len = 0;
    unsigned char *cert_der = NULL;
    size_t cert_der_len = 0;
    char *b64 = NULL;
    cJSON *j = NULL;
    cJSON *payload = NULL;
    cJSON *arr;
    char *ptxt = NULL;
    struct hresp r;
    bool sent;
    bool ok = false;

    hresp_init(&r);
    memset(az, 0, sizeof(az));

    /* newOrder */
    payload = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(payload, "identifiers");
    for (unsigned i = 0; i < nnames; i++) {
        cJSON *id = cJSON_CreateObject();

        snprintf(names[i], sizeof(names[i]), "f%lu-%u.r%s.%s", no, i,
                 sh->run_id, o->domain);
        name_p[i] = names[i];
        cJSON_AddStringToObject(id, "type", "dns");
        cJSON_AddStringToObject(id, "value", names[i]);
        cJSON_AddItemToArray(arr, id);
    }
    ptxt = cJSON_PrintUnformatted(payload);
    sent = ptxt && acme_post(w, EP_NEW_ORDER, a, false, sh->dir.new_order,
                             ptxt, &r);
    if (!sent || r.status != 201) {
        step_failed(w, EP_NEW_ORDER, sent, &r);
        goto out;
    }
    snprintf(order_url, sizeof(order_url), "%s", r.location);
    j = body_json(&r);
    snprintf(finalize_url, sizeof(finalize_url), "%s", jstr(j, "finalize"));
    {
        const cJSON *u;

        cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(
                                  j, "authorizations")) {
            if (cJSON_IsString(u) && naz < MAX_AUTHZS) {
                snprintf(az[naz++].url, MAX_URL, "%s", u->valuestring);
            }
        }
    }
    cJSON_Delete(j);
    j = NULL;
    if (order_url[0] == '\0' || finalize_url[0] == '\0' || naz == 0) {
        record_err(sh, "newOrder: order without location, finalize or "
                       "authorizations");
        goto out;
    }

    /* Read each authorization and register its http-01 answer. */
    for (size_t i = 0; i < naz; i++) {
        const cJSON *c;
        char keyauth[512];

        sent = acme_post(w, EP_AUTHZ, a, false, az[i].url, NULL, &r);
        if (!sent || r.status != 200) {
            step_failed(w, EP_AUTHZ, sent, &r);
            goto out;
        }
        j = body_json(&r);
        if (strcmp(jstr(j, "status"), "valid") == 0) {
            az[i].done = true;
        }
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j,
                                                               "challenges")) {
            if (strcmp(jstr(c, "type"), "http-01") == 0) {
                snprintf(az[i].chall_url, MAX_URL, "%s", jstr(c, "url"));
                snprintf(az[i].token, sizeof(az[i].token), "%s",
                         jstr(c, "token"));
            }
        }
        cJSON_Delete(j);
        j = NULL;
        if (az[i].done) {
            continue;
        }
        if (az[i].chall_url[0] == '\0' || az[i].token[0] == '\0') {
            record_err(sh, "authz: no http-01 challenge");
            goto out;
        }
        snprintf(keyauth, sizeof(keyauth), "%s.%s", az[i].token, a->thumb);
        if (responder_add(sh->resp, az[i].token, keyauth) != AP_OK) {
            record_err(sh, "bench: out of memory");
            goto out;
        }
        az[i].registered = true;
    }
    /* Answer every challenge, then wait for the ones not yet decided. */
    for (size_t i = 0; i < naz; i++) {
        const char *st;

        if (az[i].done) {
            continue;
        }
        sent = acme_post(w, EP_CHALLENGE, a, false, az[i].chall_url, "{}",
                         &r);
        if (!sent || r.status != 200) {
            step_failed(w, EP_CHALLENGE, sent, &r);
            goto out;
        }
        j = body_json(&r);
        st = jstr(j, "status");
        if (strcmp(st, "valid") == 0) {
            az[i].done = true;
        } else if (strcmp(st, "invalid") == 0) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
            const char *t = jstr(e, "type");

            if (strncmp(t, ERR_PREFIX, strlen(ERR_PREFIX)) == 0) {
                t += strlen(ERR_PREFIX);
            }
            record_err(sh, "validation: %s", t[0] ? t : "invalid");
            goto out;
        }
        cJSON_Delete(j);
        j = NULL;
    }
    for (size_t i = 0; i < naz; i++) {
        while (!az[i].done) {
            const char *st;

            if (mono() >= deadline) {
                record_err(sh, "authzPoll: flow timeout");
                goto out;
            }
            sleep_ms(o->poll_ms);
            atomic_fetch_add(&sh->polls, 1);
            sent = acme_post(w, EP_AUTHZ_POLL, a, false, az[i].url, NULL, &r);
            if (!sent || r.status != 200) {
                step_failed(w, EP_AUTHZ_POLL, sent, &r);
                goto out;
            }
            j = body_json(&r);
            st = jstr(j, "status");
            if (strcmp(st, "valid") == 0) {
                az[i].done = true;
            } else if (strcmp(st, "pending") != 0) {
                authz_error(w, j);
                goto out;
            }
            cJSON_Delete(j);
            j = NULL;
        }
    }

    /* finalize with a fresh CSR */
    if (o->fresh_csr_key) {
        bkey_free(w->csr_key);
        w->csr_key = NULL;
        if (bkey_generate(BKEY_ES256, &w->csr_key) != AP_OK) {
            record_err(sh, "bench: CSR key generation failed");
            goto out;
        }
    }
    if (bkey_csr(w->csr_key, name_p, nnames, &csr, &csr_len) != AP_OK ||
        (b64 = b64url_encode_alloc(csr, csr_len)) == NULL) {
        record_err(sh, "bench: CSR generation failed");
        goto out;
    }
    cJSON_Delete(payload);
    payload = cJSON_CreateObject();
    cJSON_AddStringToObject(payload, "csr", b64);
    cJSON_free(ptxt);
    ptxt = cJSON_PrintUnformatted(payload);
    for (int attempt = 0; !finalized; attempt++) {
        char type[128];

        sent = ptxt && acme_post(w, EP_FINALIZE, a, false, finalize_url,
                                 ptxt, &r);
        if (sent && r.status == 200) {
            break;
        }
        problem_of(&r, type, sizeof(type));
        if (!sent || attempt > 0 || strcmp(type, "orderNotReady") != 0) {
            step_failed(w, EP_FINALIZE, sent, &r);
            goto out;
        }
        /* Not ready yet (a server that updates orders lazily): poll. */
        for (;;) {
            const char *st;

            if (mono() >= deadline) {
                record_err(sh, "orderPoll: flow timeout before ready");
                goto out;
            }
            sleep_ms(o->poll_ms);
            atomic_fetch_add(&sh->polls, 1);
            sent = acme_post(w, EP_ORDER_POLL, a, false, order_url, NULL, &r);
            if (!sent || r.status != 200) {
                step_failed(w, EP_ORDER_POLL, sent, &r);
                goto out;
            }
            j = body_json(&r);
            st = jstr(j, "status");
            if (strcmp(st, "ready") == 0) {
                break;
            }
            /* A finalize whose answer was lost (--transport-retries) went
             * through: wait for the certificate below. */
            if (o->transport_retries > 0 &&
                (strcmp(st, "processing") == 0 ||
                 strcmp(st, "valid") == 0)) {
                finalized = true;
                break;
            }
            if (strcmp(st, "pending") != 0) {
                record_err(sh, "orderPoll: order %s before finalize", st);
                goto out;
            }
            cJSON_Delete(j);
            j = NULL;
        }
        cJSON_Delete(j);
        j = NULL;
    }
    j = body_json(&r);
    while (strcmp(jstr(j, "status"), "valid") != 0) {
        const char *st = jstr(j, "status");

        if (strcmp(st, "processing") != 0 && strcmp(st, "ready") != 0) {
            record_err(sh, "orderPoll: order %s", st[0] ? st : "unreadable");
            goto out;
        }
        if (mono() >= deadline) {
            record_err(sh, "orderPoll: flow timeout");
            goto out;
        }
        cJSON_Delete(j);
        j = NULL;
        sleep_ms(o->poll_ms);
        atomic_fetch_add(&sh->polls, 1);
        sent = acme_post(w, EP_ORDER_POLL, a, false, order_url, NULL, &r);
        if (!sent || r.status != 200) {
            step_failed(w, EP_ORDER_POLL, sent, &r);
            goto out;
        }
        j = body_json(&r);
    }
    snprintf(cert_url, sizeof(cert_url), "%s", jstr(j, "certificate"));
    cJSON_Delete(j);
    j = NULL;

    /* certificate download: the leaf must carry the CSR's key */
    sent = cert_url[0] != '\0' &&
           acme_post(w, EP_CERT, a, false, cert_url, NULL, &r);
    if (!sent || r.status != 200) {
        step_failed(w, EP_CERT, sent, &r);
        goto out;
    }
    if (r.body.data == NULL ||
        bkey_cert_matches(w->csr_key, r.body.data) != AP_OK) {
        record_err(sh, "cert: not a certificate for the CSR's key");
        goto out;
    }
    if (o->revoke) {
        char *cb64 = NULL;

        if (bkey_cert_der(r.body.data, &cert_der, &cert_der_len) != AP_OK ||
            (cb64 = b64url_encode_alloc(cert_der, cert_der_len)) == NULL) {
            record_err(sh, "bench: cannot read the certificate");
            goto out;
        }
        cJSON_Delete(payload);
        payload = cJSON_CreateObject();
        cJSON_AddStringToObject(payload, "certificate", cb64);
        free(cb64);
        cJSON_free(ptxt);
        ptxt = cJSON_PrintUnformatted(payload);
        sent = ptxt && acme_post(w, EP_REVOKE, a, false, sh->dir.revoke,
                                 ptxt, &r);
        if (!sent || r.status != 200) {
            step_failed(w, EP_REVOKE, sent, &r);
            goto out;
        }
    }
    sample_add(&w->s[EP_FLOW], (mono() - t0) * 1000.0);
    ok = true;
out:
    for (size_t i = 0; i < naz; i++) {
        if (az[i].registered) {
            responder_del(sh->resp, az[i].token);
        }
    }
    cJSON_Delete(j);
    cJSON_Delete(payload);
    cJSON_free(ptxt);
    free(csr);
    free(b64);
    free(cert_der);
    bhttp_resp_fini(&r);
    return ok;
}

/* -------------------------------------------------------- the threads */

static bool
register_account(struct worker *w, struct account *a, unsigned n)
{
    struct hresp r;
    char payload[256];
    bool sent;
    bool ok = false;

    hresp_init(&r);
    if (bkey_thumbprint(a->key, a->thumb, sizeof(a->thumb)) != AP_OK) {
        record_err(w->sh, "bench: thumbprint failed");
        goto out;
    }
    snprintf(payload, sizeof(payload),
             "{\"termsOfServiceAgreed\":true,\"contact\":"
             "[\"mailto:bench-%u@example.org\"]}", n);
    sent = acme_post(w, EP_NEW_ACCOUNT, a, true, w->sh->dir.new_account,
                     payload, &r);
    if (!sent || (r.status != 201 && r.status != 200) ||
        r.location[0] == '\0') {
        step_failed(w, EP_NEW_ACCOUNT, sent, &r);
        goto out;
    }
    snprintf(a->kid, sizeof(a->kid), "%s", r.location);
    ok = true;
out:
    bhttp_resp_fini(&r);
    return ok;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    unsigned long i;

    /* Phase 1: keys and accounts. */
    while ((i = atomic_fetch_add(&sh->next_account, 1)) < sh->o.accounts) {
        struct account *a = &sh->accts[i];
        enum bkey_type t = BKEY_ES256;

        if (sh->o.es256 && sh->o.rs256) {
            t = i % 2 == 0 ? BKEY_ES256 : BKEY_RS256;
        } else if (sh->o.rs256) {
            t = BKEY_RS256;
        }
        if (bkey_generate(t, &a->key) != AP_OK) {
            record_err(sh, "bench: account key generation failed");
            continue;
        }
        a->ok = register_account(w, a, (unsigned)i);
    }
    if (bkey_generate(BKEY_ES256, &w->csr_key) != AP_OK) {
        record_err(sh, "bench: CSR key generation failed");
    }
    pthread_barrier_wait(&sh->ready);
    pthread_barrier_wait(&sh->go);

    /* Phase 2: flows, bounded by count and time. */
    while (mono() < sh->deadline && w->csr_key != NULL &&
           (i = atomic_fetch_add(&sh->next_flow, 1)) < sh->o.flows) {
        if (!sh->accts[i % sh->o.accounts].ok) {
            atomic_fetch_add(&sh->flows_failed, 1);
            record_err(sh, "bench: flow skipped, its account failed");
            continue;
        }
        if (run_flow(w, i)) {
            atomic_fetch_add(&sh->flows_ok, 1);
        } else {
            atomic_fetch_add(&sh->flows_failed, 1);
        }
    }
    bkey_thread_done();
    return NULL;
}

/* A worker's connection slot and JWS buffers. */
static bool
worker_init(struct worker *w, struct shared *sh, unsigned idx)
{
    w->sh = sh;
    w->idx = idx;
    buf_init(&w->signing, RESP_BODY_CAP);
    buf_init(&w->body, RESP_BODY_CAP);
    return bhttp_new(sh->http, &w->http) == AP_OK;
}

static void
worker_fini(struct worker *w)
{
    bhttp_free(w->http);
    w->http = NULL;
    buf_fini(&w->signing);
    buf_fini(&w->body);
}

/* ------------------------------------------------------- /proc figures */

/* VmRSS / VmHWM of pid in kB (0 when unreadable). */
static long
proc_status_kb(int pid, const char *field)
{
    char path[64];
    char line[256];
    size_t flen = strlen(field);
    long kb = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* utime + stime of pid in seconds (-1 when unreadable). */
static double
proc_cpu_s(int pid)
{
    char path[64];
    char buf[1024];
    unsigned long long ut = 0;
    unsigned long long st = 0;
    char *p;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }
    /* Fields after the name: 3 state ... 14 utime 15 stime. */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* This process's CPU time in seconds, user and system. */
static void
self_cpu_s(double *user, double *sys)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Samples the server's RSS every 100 ms (peak) and, with --progress,
 * prints one line every progress seconds (RSS over a long run). */
struct rss_sampler {
    struct shared *sh;
    int pid;
    atomic_bool stop;
    atomic_long peak_kb;
    atomic_long peak_anon_kb;  /* RssAnon: heap and stacks, not the map */
    pthread_t thread;
    bool running;
};

static void *
rss_loop(void *arg)
{
    struct rss_sampler *rs = arg;
    const struct opts *o = &rs->sh->o;
    double t0 = mono();
    double next = t0 + o->progress;
    unsigned long last_ok = 0;

    while (!atomic_load(&rs->stop)) {
        long kb = rs->pid > 0 ? proc_status_kb(rs->pid, "VmRSS") : 0;

        long anon = rs->pid > 0 ? proc_status_kb(rs->pid, "RssAnon") : 0;

        if (kb > atomic_load(&rs->peak_kb)) {
            atomic_store(&rs->peak_kb, kb);
        }
        if (anon > atomic_load(&rs->peak_anon_kb)) {
            atomic_store(&rs->peak_anon_kb, anon);
        }
        if (o->progress > 0 && mono() >= next) {
            unsigned long ok = atomic_load(&rs->sh->flows_ok);

            printf("progress t=%.0f ok=%lu failed=%lu fps=%.1f "
                   "rss_kb=%ld anon_kb=%ld\n", mono() - t0, ok,
                   (unsigned long)atomic_load(&rs->sh->flows_failed),
                   (double)(ok - last_ok) / o->progress, kb, anon);
            fflush(stdout);
            last_ok = ok;
            next += o->progress;
        }
        sleep_ms(100);
    }
    return NULL;
}

/* ------------------------------------------------------------ report */

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static double
pct(const struct samples *s, double q)
{
    size_t k;

    if (s->n == 0) {
        return 0;
    }
    k = (size_t)ceil(q * (double)s->n);
    return s->v[k == 0 ? 0 : k - 1];
}

static bool
fetch_directory(struct worker *w, struct hresp *r)
{
    struct shared *sh = w->sh;
    cJSON *j;
    bool ok;

    if (!http_do(w, EP_DIRECTORY, "GET", sh->o.directory, NULL, 0, r) ||
        r->status != 200) {
        fprintf(stderr, "acmebench: directory %s: %s (HTTP %ld)\n",
                sh->o.directory, r->err[0] ? r->err : "bad answer",
                r->status);
        return false;
    }
    j = body_json(r);
    snprintf(sh->dir.new_nonce, MAX_URL, "%s", jstr(j, "newNonce"));
    snprintf(sh->dir.new_account, MAX_URL, "%s", jstr(j, "newAccount"));
    snprintf(sh->dir.new_order, MAX_URL, "%s", jstr(j, "newOrder"));
    snprintf(sh->dir.revoke, MAX_URL, "%s", jstr(j, "revokeCert"));
    cJSON_Delete(j);
    ok = sh->dir.new_nonce[0] && sh->dir.new_account[0] &&
         sh->dir.new_order[0] && sh->dir.revoke[0];
    if (!ok) {
        fprintf(stderr, "acmebench: directory lacks a resource URL\n");
    }
    return ok;
}

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: acmebench --directory URL --http-port N [options]\n"
        "       acmebench --crypto-bench [--iterations N]\n"
        "       acmebench --self-test   (checks its CSRs, leaf check, HTTP client)\n"
        "  --directory URL      ACME directory of the server under test\n"
        "  --ca FILE            PEM roots for the server's TLS certificate\n"
        "  --http-port N        port of the built-in http-01 responder\n"
        "  --http-addr ADDR     its address (127.0.0.1)\n"
        "  --source ADDR        connect to the server from this local address\n"
        "  --concurrency N      flows in flight (4, at most %d)\n"
        "  --accounts N         accounts, flows use them in turn (= concurrency)\n"
        "  --flows N            stop after N flows (100, at most %lu)\n"
        "  --duration S         stop starting flows after S s (60, at most %d)\n"
        "  --keys LIST          account key types: es256,rs256 (both)\n"
        "  --names MIN-MAX      names per order (1-3)\n"
        "  --domain SUFFIX      names are f<flow>-<i>.r<run>.SUFFIX (bench.test)\n"
        "  --revoke             revoke each certificate after download\n"
        "  --fresh-csr-key      a new CSR key per flow (default: one per worker)\n"
        "  --poll-ms N          delay between polls of a pending resource (20)\n"
        "  --flow-timeout S     give up a flow after S s (60)\n"
        "  --pid PID            the server's process: CPU time and RSS\n"
        "  --label NAME         name in the report (server)\n"
        "  --progress S         print flows/s and server RSS every S s\n"
        "  --responder-threads N  http-01 responder threads (8)\n"
        "  --transport-retries N  send a request that got no answer again,\n"
        "                       up to N times (0; for a server killed under\n"
        "                       load behind a balancer)\n",
        MAX_CONCURRENCY, MAX_FLOWS, MAX_DURATION);
}

static bool
parse_ulong(const char *s, unsigned long min, unsigned long max,
            unsigned long *out)
{
    char *end = NULL;
    unsigned long v;

    if (s == NULL || *s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static bool
parse_opts(int argc, char **argv, struct opts *o, unsigned *iterations)
{
    static const struct option longopts[] = {
        { "directory", required_argument, NULL, 'd' },
        { "ca", required_argument, NULL, 'C' },
        { "http-port", required_argument, NULL, 'p' },
        { "http-addr", required_argument, NULL, 'a' },
        { "source", required_argument, NULL, 'o' },
        { "concurrency", required_argument, NULL, 'c' },
        { "accounts", required_argument, NULL, 'A' },
        { "flows", required_argument, NULL, 'n' },
        { "duration", required_argument, NULL, 't' },
        { "keys", required_argument, NULL, 'k' },
        { "names", required_argument, NULL, 'N' },
        { "domain", required_argument, NULL, 'D' },
        { "revoke", no_argument, NULL, 'R' },
        { "fresh-csr-key", no_argument, NULL, 'F' },
        { "poll-ms", required_argument, NULL, 'P' },
        { "flow-timeout", required_argument, NULL, 'T' },
        { "pid", required_argument, NULL, 'i' },
        { "label", required_argument, NULL, 'l' },
        { "responder-threads", required_argument, NULL, 'r' },
        { "crypto-bench", no_argument, NULL, 'X' },
        { "self-test", no_argument, NULL, 'S' },
        { "iterations", required_argument, NULL, 'I' },
        { "progress", required_argument, NULL, 'G' },
        { "transport-retries", required_argument, NULL, 'Y' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned long v;
    int ch;

    memset(o, 0, sizeof(*o));
    o->http_addr = "127.0.0.1";
    o->domain = "bench.test";
    o->label = "server";
    o->concurrency = 4;
    o->flows = 100;
    o->duration = 60;
    o->flow_timeout = 60;
    o->poll_ms = 20;
    o->min_names = 1;
    o->max_names = 3;
    o->responder_threads = 8;
    o->es256 = true;
    o->rs256 = true;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': o->directory = optarg; break;
        case 'C': o->ca = optarg; break;
        case 'a': o->http_addr = optarg; break;
        case 'o': o->source = optarg; break;
        case 'D': o->domain = optarg; break;
        case 'l': o->label = optarg; break;
        case 'R': o->revoke = true; break;
        case 'F': o->fresh_csr_key = true; break;
        case 'X': o->crypto_bench = true; break;
        case 'S': o->self_test = true; break;
        case 'p':
            if (!parse_ulong(optarg, 1, 65535, &v)) goto bad;
            o->http_port = (unsigned)v;
            break;
        case 'c':
            if (!parse_ulong(optarg, 1, MAX_CONCURRENCY, &v)) goto bad;
            o->concurrency = (unsigned)v;
            break;
        case 'A':
            if (!parse_ulong(optarg, 1, MAX_ACCOUNTS, &v)) goto bad;
            o->accounts = (unsigned)v;
            break;
        case 'n':
            if (!parse_ulong(optarg, 1, MAX_FLOWS, &v)) goto bad;
            o->flows = v;
            break;
        case 't':
            if (!parse_ulong(optarg, 1, MAX_DURATION, &v)) goto bad;
            o->duration = (unsigned)v;
            break;
        case 'T':
            if (!parse_ulong(optarg, 1, MAX_DURATION, &v)) goto bad;
            o->flow_timeout = (unsigned)v;
            break;
        case 'P':
            if (!parse_ulong(optarg, 0, 10000, &v)) goto bad;
            o->poll_ms = (unsigned)v;
            break;
        case 'i':
            if (!parse_ulong(optarg, 1, 1UL << 30, &v)) goto bad;
            o->pid = (int)v;
            break;
        case 'r':
            if (!parse_ulong(optarg, 1, 32, &v)) goto bad;
            o->responder_threads = (unsigned)v;
            break;
        case 'G':
            if (!parse_ulong(optarg, 1, MAX_DURATION, &v)) goto bad;
            o->progress = (unsigned)v;
            break;
        case 'Y':
            if (!parse_ulong(optarg, 0, 20, &v)) goto bad;
            o->transport_retries = (unsigned)v;
            break;
        case 'I':
            if (!parse_ulong(optarg, 1, 1000000, &v)) goto bad;
            *iterations = (unsigned)v;
            break;
        case 'k':
            o->es256 = strstr(optarg, "es256") != NULL;
            o->rs256 = strstr(optarg, "rs256") != NULL;
            if (!o->es256 && !o->rs256) goto bad;
            break;
        case 'N': {
            char *dash = strchr(optarg, '-');
            unsigned long lo;
            unsigned long hi;

            if (dash == NULL) {
                if (!parse_ulong(optarg, 1, MAX_AUTHZS, &lo)) goto bad;
                hi = lo;
            } else {
                *dash = '\0';
                if (!parse_ulong(optarg, 1, MAX_AUTHZS, &lo) ||
                    !parse_ulong(dash + 1, lo, MAX_AUTHZS, &hi)) goto bad;
            }
            o->min_names = (unsigned)lo;
            o->max_names = (unsigned)hi;
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        default:
            goto bad;
        }
    }
    if (o->crypto_bench || o->self_test) {
        return true;
    }
    if (o->directory == NULL || o->http_port == 0 || optind != argc) {
        goto bad;
    }
    if (o->accounts == 0) {
        o->accounts = o->concurrency;
    }
    return true;
bad:
    usage(stderr);
    return false;
}

int
main(int argc, char **argv)
{
    static struct shared sh;
    struct opts *o = &sh.o;
    struct worker *w = NULL;
    struct worker mainw;
    struct rss_sampler rs;
    struct samples all[EP__MAX];
    struct hresp r;
    unsigned iterations = 0;
    char errbuf[256];
    double t_start;
    double t_end;
    double srv_cpu0 = -1;
    double srv_cpu1 = -1;
    double self_usr0;
    double self_usr1;
    double self_sys0;
    double self_sys1;
    long rss_idle = 0;
    long anon_idle = 0;
    long hwm = 0;
    long rss_end = 0;
    long anon_end = 0;
    unsigned long ok;
    unsigned long failed;
    unsigned long hits = 0;
    unsigned long misses = 0;
    unsigned n_es = 0;
    unsigned n_rs = 0;
    int status = 2;

    if (!parse_opts(argc, argv, o, &iterations)) {
        return 2;
    }
    if (crypto_init() != AP_OK) {
        fprintf(stderr, "acmebench: cannot seed the DRBG\n");
        return 2;
    }
    if (o->crypto_bench) {
        bkey_crypto_bench(iterations);
        bkey_thread_done();
        crypto_fini();
        return 0;
    }
    if (o->self_test) {
        status = bkey_self_test() == 0 ? 0 : 1;
        signal(SIGPIPE, SIG_IGN);
        if (bhttp_self_test() != 0) {
            status = 1;
        }
        bkey_thread_done();
        crypto_fini();
        return status;
    }
    /* A server that closes a connection while the client writes: an
     * error from the write, not a signal (OpenSSL writes with write()). */
    signal(SIGPIPE, SIG_IGN);
    if (bhttp_ctx_new(o->ca, o->source, &sh.http, errbuf, sizeof(errbuf)) !=
        AP_OK) {
        fprintf(stderr, "acmebench: %s\n", errbuf);
        return 2;
    }
    memset(&rs, 0, sizeof(rs));
    memset(&mainw, 0, sizeof(mainw));
    memset(all, 0, sizeof(all));
    hresp_init(&r);
    pthread_mutex_init(&sh.err_lock, NULL);
    snprintf(sh.run_id, sizeof(sh.run_id), "%lx",
             (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16));
    if (responder_start(o->http_addr, o->http_port, o->responder_threads,
                        &sh.resp, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "acmebench: %s\n", errbuf);
        goto out;
    }
    rs.sh = &sh;
    if (o->pid > 0) {
        rss_idle = proc_status_kb(o->pid, "VmRSS");
        anon_idle = proc_status_kb(o->pid, "RssAnon");
        rs.pid = o->pid;
        atomic_store(&rs.peak_kb, rss_idle);
        atomic_store(&rs.peak_anon_kb, anon_idle);
    }
    if (!worker_init(&mainw, &sh, 0) || !fetch_directory(&mainw, &r)) {
        goto out;
    }
    sh.accts = calloc(o->accounts, sizeof(*sh.accts));
    w = calloc(o->concurrency, sizeof(*w));
    if (sh.accts == NULL || w == NULL) {
        fprintf(stderr, "acmebench: out of memory\n");
        goto out;
    }
    pthread_barrier_init(&sh.ready, NULL, o->concurrency + 1);
    pthread_barrier_init(&sh.go, NULL, o->concurrency + 1);
    sh.deadline = mono() + 3600 * 24;
    for (unsigned i = 0; i < o->concurrency; i++) {
        if (!worker_init(&w[i], &sh, i) ||
            pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "acmebench: cannot start worker %u\n", i);
            exit(2); /* the barrier cannot complete any more */
        }
    }
    pthread_barrier_wait(&sh.ready);
    for (unsigned i = 0; i < o->accounts; i++) {
        if (sh.accts[i].ok) {
            if (strcmp(bkey_alg(sh.accts[i].key), "ES256") == 0) {
                n_es++;
            } else {
                n_rs++;
            }
        }
    }
    if ((o->pid > 0 || o->progress > 0) &&
        pthread_create(&rs.thread, NULL, rss_loop, &rs) == 0) {
        rs.running = true;
    }
    t_start = mono();
    sh.deadline = t_start + o->duration;
    self_cpu_s(&self_usr0, &self_sys0);
    if (o->pid > 0) {
        srv_cpu0 = proc_cpu_s(o->pid);
    }
    pthread_barrier_wait(&sh.go);
    for (unsigned i = 0; i < o->concurrency; i++) {
        pthread_join(w[i].thread, NULL);
        atomic_fetch_add(&sh.connects, bhttp_connects(w[i].http));
    }
    atomic_fetch_add(&sh.connects, bhttp_connects(mainw.http));
    t_end = mono();
    self_cpu_s(&self_usr1, &self_sys1);
    if (o->pid > 0) {
        srv_cpu1 = proc_cpu_s(o->pid);
        hwm = proc_status_kb(o->pid, "VmHWM");
        rss_end = proc_status_kb(o->pid, "VmRSS");
        anon_end = proc_status_kb(o->pid, "RssAnon");
    }
    atomic_store(&rs.stop, true);
    if (rs.running) {
        pthread_join(rs.thread, NULL);
        rs.running = false;
    }
    if (o->pid > 0) {
        if (rss_end > atomic_load(&rs.peak_kb)) {
            atomic_store(&rs.peak_kb, rss_end);
        }
        if (anon_end > atomic_load(&rs.peak_anon_kb)) {
            atomic_store(&rs.peak_anon_kb, anon_end);
        }
    }
    responder_counts(sh.resp, &hits, &misses);

    /* Merge the samples of all threads. */
    for (int e = 0; e < EP__MAX; e++) {
        struct samples *m = &all[e];

        for (unsigned i = 0; i <= o->concurrency; i++) {
            struct samples *s = i < o->concurrency ? &w[i].s[e]
                                                   : &mainw.s[e];

            for (size_t k = 0; k < s->n; k++) {
                sample_add(m, s->v[k]);
            }
            m->dropped += s->dropped;
        }
        if (m->n > 0) {
            qsort(m->v, m->n, sizeof(double), cmp_double);
        }
    }
    ok = atomic_load(&sh.flows_ok);
    failed = atomic_load(&sh.flows_failed);
    {
        double secs = t_end - t_start;
        double fps = secs > 0 ? (double)ok / secs : 0;
        double srv_ms = srv_cpu0 >= 0 && srv_cpu1 >= 0 && ok > 0
                            ? (srv_cpu1 - srv_cpu0) * 1000.0 / (double)ok
                            : -1;
        double usr_ms = ok > 0 ? (self_usr1 - self_usr0) * 1000.0 / (double)ok
                               : -1;
        double sys_ms = ok > 0 ? (self_sys1 - self_sys0) * 1000.0 / (double)ok
                               : -1;
        double self_ms = ok > 0 ? usr_ms + sys_ms : -1;

        printf("acmebench: %s at %s\n", o->label, o->directory);
        printf("flows: %lu ok, %lu failed in %.2f s = %.1f flows/s "
               "(concurrency %u; accounts %u ES256 + %u RS256; names "
               "%u-%u; revoke %s; client signs with %s)\n",
               ok, failed, secs, fps, o->concurrency, n_es, n_rs,
               o->min_names, o->max_names, o->revoke ? "yes" : "no",
               bkey_backend());
        printf("%-11s %8s %9s %9s %9s %9s  (ms)\n", "endpoint", "n", "p50",
               "p90", "p99", "max");
        for (int e = 0; e < EP__MAX; e++) {
            const struct samples *m = &all[e];

            if (m->n == 0) {
                continue;
            }
            printf("%-11s %8zu %9.2f %9.2f %9.2f %9.2f%s\n", ep_name[e], m->n,
                   pct(m, 0.5), pct(m, 0.9), pct(m, 0.99), m->v[m->n - 1],
                   m->dropped ? " (samples dropped)" : "");
        }
        printf("polls: %lu (%.2f per flow); badNonce retries: %lu; "
               "unanswered requests sent again: %lu; http-01 "
               "answers: %lu served, %lu refused\n",
               (unsigned long)atomic_load(&sh.polls),
               ok + failed ? (double)atomic_load(&sh.polls) /
                                 (double)(ok + failed)
                           : 0.0,
               (unsigned long)atomic_load(&sh.badnonce_retries),
               (unsigned long)atomic_load(&sh.transport_retries), hits,
               misses);
        if (o->pid > 0) {
            printf("server pid %d: CPU %.2f ms/flow; RSS before %ld kB, "
                   "peak %ld kB (VmHWM %ld kB), after %ld kB; of which "
                   "anonymous (not the LMDB map): %ld / %ld / %ld kB\n",
                   o->pid, srv_ms, rss_idle, atomic_load(&rs.peak_kb), hwm,
                   rss_end, anon_idle, atomic_load(&rs.peak_anon_kb),
                   anon_end);
        }
        printf("client: CPU %.2f ms/flow (user %.2f, system %.2f); "
               "connections opened: %lu\n", self_ms, usr_ms, sys_ms,
               (unsigned long)atomic_load(&sh.connects));
        if (sh.n_errs > 0 || sh.errs_other > 0) {
            printf("errors:\n");
            for (size_t i = 0; i < sh.n_errs; i++) {
                printf("  %6lu  %s\n", sh.errs[i].n, sh.errs[i].key);
            }
            if (sh.errs_other > 0) {
                printf("  %6lu  (other kinds)\n", sh.errs_other);
            }
        }
        printf("RESULT label=%s ok=%lu failed=%lu secs=%.3f fps=%.2f "
               "srv_cpu_ms=%.2f cli_cpu_ms=%.2f rss_idle_kb=%ld "
               "rss_peak_kb=%ld hwm_kb=%ld rss_end_kb=%ld anon_idle_kb=%ld "
               "anon_peak_kb=%ld anon_end_kb=%ld polls=%lu conc=%u "
               "badnonce=%lu resent=%lu cli_usr_ms=%.2f cli_sys_ms=%.2f "
               "connects=%lu",
               o->label, ok, failed, secs, fps, srv_ms, self_ms, rss_idle,
               (long)atomic_load(&rs.peak_kb), hwm, rss_end, anon_idle,
               (long)atomic_load(&rs.peak_anon_kb), anon_end,
               (unsigned long)atomic_load(&sh.polls), o->concurrency,
               (unsigned long)atomic_load(&sh.badnonce_retries),
               (unsigned long)atomic_load(&sh.transport_retries), usr_ms,
               sys_ms, (unsigned long)atomic_load(&sh.connects));
        for (int e = 0; e < EP__MAX; e++) {
            printf(" p50_%s=%.2f p99_%s=%.2f", ep_name[e], pct(&all[e], 0.5),
                   ep_name[e], pct(&all[e], 0.99));
        }
        printf("\n");
    }
    status = failed == 0 && ok > 0 ? 0 : 1;
out:
    if (w != NULL) {
        for (unsigned i = 0; i < o->concurrency; i++) {
            worker_fini(&w[i]);
            bkey_free(w[i].csr_key);
            for (int e = 0; e < EP__MAX; e++) {
                free(w[i].s[e].v);
            }
        }
        free(w);
    }
    if (sh.accts != NULL) {
        for (unsigned i = 0; i < o->accounts; i++) {
            bkey_free(sh.accts[i].key);
        }
        free(sh.accts);
    }
    for (int e = 0; e < EP__MAX; e++) {
        free(all[e].v);
        free(mainw.s[e].v);
    }
    if (rs.running) {
        atomic_store(&rs.stop, true);
        pthread_join(rs.thread, NULL);
    }
    worker_fini(&mainw);
    bhttp_resp_fini(&r);
    responder_stop(sh.resp);
    bhttp_ctx_free(sh.http);
    crypto_fini();
    return status;
}
