/* test/bench/seed.c: fills a data directory with issued orders, for the
 * scale figures of the benchmark (flow time and RSS with 10k, 100k, 1M
 * orders already stored).
 *
 *   seed --data-dir DIR --orders N [--accounts A] [--batch B]
 *        [--map-size-mb M] [--seconds S] [--pool P] [--queued]
 *
 * With --queued the orders are finalized and wait for the PKI instead
 * (status processing, an issuance job each, due now): the backlog of the
 * start-up figure (test/torture/startup.sh).
 *
 * Writes what the proxy itself writes for one issued order, through the
 * proxy's own record codecs (proxy/rec_account.h, rec_order.h,
 * rec_authz.h, rec_cert.h) and common/store.h, as proxy/account.c
 * (account + account_keys), proxy/order.c (order, finalized: csr and its
 * key, status valid, cert; account_orders index; proxy/issue_record.c
 * drops the csr once the certificate is recorded), proxy/authz.c (the
 * authorizations, made by the proxy's own authz_new, then valid as
 * proxy/validate.c leaves them through proxy/status.h, with the http-01
 * evidence proxy/val_http01.c writes; the account_authzs index) and proxy/issue_record.c
 * (certificate record through rec_cert_put: the leaf, the chain stored
 * once; serials index) do.
 * Many orders share one write transaction (--batch) so 1M orders finish in
 * minutes; the time bound (--seconds) stops early and says how far it got.
 *
 * Realism and its limits: the certificates are real chains from the data
 * directory's own CA (ca_issue), but a pool of --pool of them is reused,
 * each record with its own random 128-bit serial; account JWKs are real
 * keys from a pool of the same size, each account with its own random
 * thumbprint. Sizes and key distributions are those of real records;
 * the seeded accounts are not meant to sign requests. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "common/b64url.h"
#include "common/ca.h"
#include "common/crypto.h"
#include "common/id.h"
#include "common/store.h"
#include "proxy/authz.h"
#include "proxy/jobs.h"
#include "proxy/rec_account.h"
#include "proxy/rec_cert.h"
#include "proxy/rec_order.h"
#include "proxy/status.h"
#include "test/bench/bench_key.h"

#define SEED_MAX_ORDERS 100000000UL
#define SEED_MAX_POOL 10000
#define SEED_DAYS 90
#define SEED_ORDER_TTL 604800

struct pool_entry {
    char *chain;        /* leaf + intermediate, as issuer.c stores it */
    char *csr_b64;      /* as finalize stores it in the order */
    char *spki_b64;     /* the CSR's key, as finalize stores it too */
    cJSON *jwk;         /* an account key */
    unsigned n_names;
};

static double
mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static ap_err
make_pool_entry(struct ca *ca, unsigned i, struct pool_entry *pe)
{
    struct bkey *key = NULL;
    unsigned char spki[4096];
    size_t spki_len = 0;
    char names[3][64];
    const char *np[3];
    unsigned char *csr = NULL;
    size_t csr_len = 0;
    struct ca_issue_req req;
    char *leaf = NULL;
    char errbuf[256];
    const char *inter = ca_intermediate_pem(ca);
    long long now = (long long)time(NULL);
    ap_err rc;

    memset(pe, 0, sizeof(*pe));
    pe->n_names = 1 + i % 3;
    for (unsigned k = 0; k < pe->n_names; k++) {
        snprintf(names[k], sizeof(names[k]), "host%u-%u.seed.test", i, k);
        np[k] = names[k];
    }
    rc = bkey_generate(BKEY_ES256, &key);
    if (rc == AP_OK) {
        rc = bkey_pubkey_der(key, spki, sizeof(spki), &spki_len);
    }
    if (rc == AP_OK) {
        rc = bkey_csr(key, np, pe->n_names, &csr, &csr_len);
    }
    if (rc != AP_OK) {
        goto out;
    }
    memset(&req, 0, sizeof(req));
    req.pubkey_der = spki;
    req.pubkey_der_len = spki_len;
    req.dns_names = np;
    req.n_dns_names = pe->n_names;
    req.not_before = now - 60;
    req.not_after = now + SEED_DAYS * 86400LL;
    rc = ca_issue(ca, &req, &leaf, errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        fprintf(stderr, "seed: ca_issue: %s\n", errbuf);
        goto out;
    }
    pe->chain = malloc(strlen(leaf) + strlen(inter) + 2);
    pe->csr_b64 = b64url_encode_alloc(csr, csr_len);
    pe->spki_b64 = b64url_encode_alloc(spki, spki_len);
    pe->jwk = bkey_jwk(key);
    if (pe->chain == NULL || pe->csr_b64 == NULL || pe->spki_b64 == NULL ||
        pe->jwk == NULL) {
        rc = AP_ENOMEM;
        goto out;
    }
    snprintf(pe->chain, strlen(leaf) + strlen(inter) + 2, "%s%s%s", leaf,
             leaf[strlen(leaf) - 1] == '\n' ? "" : "\n", inter);
out:
    free(leaf);
    free(csr);
    bkey_free(key);
    return rc;
}

static ap_err
put_account(struct store_txn *txn, const char *id, const cJSON *jwk,
            unsigned n, long long created)
{
    unsigned char rnd[32];
    char contact[64];
    struct account a;
    cJSON *contacts = NULL;
    ap_err rc;

    /* proxy/account.c account_new */
    memset(&a, 0, sizeof(a));
    snprintf(a.id, sizeof(a.id), "%s", id);
    a.status = ACCOUNT_VALID;
    a.tos = true;
    a.created = created;
    snprintf(a.ip, sizeof(a.ip), "10.0.0.1");
    snprintf(contact, sizeof(contact), "mailto:host-%u@example.org", n);
    a.jwk = cJSON_Duplicate(jwk, 1);
    contacts = cJSON_CreateStringArray((const char *const[]){ contact }, 1);
    rc = a.jwk != NULL && contacts != NULL ? AP_OK : AP_ENOMEM;
    if (rc == AP_OK) {
        rc = rec_account_set_contact(&a, contacts);
    }
    if (rc == AP_OK) {
        rc = crypto_random(rnd, sizeof(rnd));
    }
    if (rc == AP_OK) {
        rc = b64url_encode(rnd, sizeof(rnd), a.thumbprint,
                           sizeof(a.thumbprint));
    }
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_ACCOUNT_KEYS, a.thumbprint, id, strlen(id),
                       true);
    }
    if (rc == AP_OK) {
        rc = rec_account_put(txn, id, &a, true);
    }
    cJSON_Delete(contacts);
    rec_account_fini(&a);
    return rc;
}

/* The evidence proxy/val_http01.c keeps of a successful http-01 answer
 * from 10.0.0.1 on port 80 (proxy/validate.c stores it with c). */
static ap_err
put_evidence(struct challenge *c, const char *name)
{
    char url[512];
    cJSON *arr = cJSON_CreateArray();
    cJSON *rec = cJSON_CreateObject();
    cJSON *addrs = cJSON_CreateArray();
    bool in_arr = false;
    bool ok;

    (void)snprintf(url, sizeof(url),
                   "http://%s:80/.well-known/acme-challenge/%s", name,
                   c->token);
    ok = arr != NULL && rec != NULL && addrs != NULL &&
         cJSON_AddStringToObject(rec, "url", url) != NULL &&
         cJSON_AddStringToObject(rec, "hostname", name) != NULL &&
         cJSON_AddNumberToObject(rec, "port", 80) != NULL &&
         cJSON_AddItemToArray(addrs, cJSON_CreateString("10.0.0.1")) &&
         cJSON_AddItemToObject(rec, "addressesResolved", addrs);
    if (ok) {
        addrs = NULL;   /* rec has it */
        ok = cJSON_AddStringToObject(rec, "addressUsed", "10.0.0.1") !=
                 NULL &&
             cJSON_AddNumberToObject(rec, "status", 200) != NULL;
    }
    if (ok) {
        in_arr = cJSON_AddItemToArray(arr, rec);
        ok = in_arr;
    }
    cJSON_Delete(addrs);
    if (!ok) {
        if (!in_arr) {
            cJSON_Delete(rec);
        }
        cJSON_Delete(arr);
        return AP_ENOMEM;
    }
    cJSON_Delete(c->validation_record);
    c->validation_record = arr;
    return AP_OK;
}

/* The authorization of an order identifier, valid as a successful
 * validation of its first challenge leaves it (proxy/validate.c). */
static ap_err
put_authz(struct store_txn *txn, const char *acct_id, const char *order_id,
          const struct rec_ident *ident, long long expires,
          long long validated, char *authz_id, size_t idlen)
{
    static long long last_ms;
    long long ms = (validated - 2) * 1000;
    struct authz a;
    ap_err rc;

    /* made with its order (ids are time-ordered: common/id.h), each a
     * millisecond after the previous one as the proxy's are
     * (common/id.h id_new_seq), so they are appended in order */
    ms = ms > last_ms ? ms : last_ms + 1;
    last_ms = ms;
    rc = id_new_at(ms, authz_id, idlen);
    if (rc == AP_OK) {
        rc = authz_new(authz_id, acct_id, order_id, ident, expires, &a);
    }
    if (rc != AP_OK) {
        return rc;
    }
    rc = status_challenge_outcome(&a, 0, true, NULL, validated);
    if (rc == AP_OK) {
        rc = rec_set_str(&a.challs[0].address, "10.0.0.1");
    }
    if (rc == AP_OK) {
        rc = put_evidence(&a.challs[0], ident->value);
    }
    if (rc == AP_OK) {
        rc = rec_authz_put(txn, authz_id, &a, true);
    }
    if (rc == AP_OK) {
        /* proxy/authz.c: the account's newest authorization of the name,
         * for reuse (authz_index_key) */
        char key[AUTHZ_INDEX_KEY_LEN + 1];

        authz_index_key(acct_id, ident, key);
        rc = store_put(txn, STORE_ACCOUNT_AUTHZS, key, authz_id,
                       strlen(authz_id), false);
    }
    rec_authz_fini(&a);
    return rc;
}

/* One issued order with its authorizations, certificate and indexes; with
 * queued, finalized instead (processing, its issuance job due now), for
 * the start-up figure with a backlog (test/torture/startup.sh). */
static ap_err
put_order(struct store_txn *txn, const char *acct_id,
          const struct pool_entry *pe, unsigned long n, long long created,
          bool queued)
{
    char cert_id[ID_LEN + 1];
    char key[STORE_MAX_KEY];
    unsigned char rnd[16];
    struct order o;
    struct cert c;
    long long expires = created + SEED_ORDER_TTL;
    long long validated = created + 2;
    ap_err rc;

    memset(&o, 0, sizeof(o));
    memset(&c, 0, sizeof(c));
    c.reason = -1;
    /* Ids tell their time (common/id.h): the order's is its created, the
     * certificate's its issuance, as the proxy would have made them. */
    rc = id_new_at(created * 1000, o.id, sizeof(o.id));
    if (rc == AP_OK) {
        rc = id_new_at((validated + 1) * 1000, cert_id, sizeof(cert_id));
    }
    if (rc == AP_OK) {
        rc = crypto_random(rnd, sizeof(rnd));
    }
    if (rc != AP_OK) {
        return rc;
    }
    rnd[0] &= 0x7f; /* a positive serial, as ca_issue makes */
    rnd[0] |= 0x01;
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(c.serial + 2 * i, 3, "%02x", rnd[i]);
    }
    /* proxy/order.c order_new, then finalize and the issuer */
    snprintf(o.account, sizeof(o.account), "%s", acct_id);
    o.status = queued ? ORDER_PROCESSING : ORDER_VALID;
    o.created = created;
    o.expires = expires;
    for (unsigned k = 0; rc == AP_OK && k < pe->n_names; k++) {
        struct rec_ident ident = { "dns", NULL, NULL };
        char name[96];
        char authz_id[ID_LEN + 1];

        snprintf(name, sizeof(name), "h%lu-%u.fleet.example.org", n, k);
        ident.value = name;
        rc = rec_order_add_ident(&o, &ident);
        if (rc == AP_OK) {
            rc = put_authz(txn, acct_id, o.id, &ident, expires, validated,
                           authz_id, sizeof(authz_id));
        }
        if (rc == AP_OK) {
            rc = rec_order_add_authz(&o, authz_id);
        }
    }
    /* proxy/issue_record.c: a valid order no longer keeps its CSR. */
    if (rc == AP_OK && queued) {
        rc = rec_set_str(&o.csr, pe->csr_b64);
    }
    if (rc == AP_OK && queued) {
        rc = rec_set_str(&o.csr_spki, pe->spki_b64);
    }
    /* the issuer's notes (pkiStarted ...) go with the processing state
     * (proxy/rec_order.h): a valid order has none */
    if (!queued) {
        snprintf(o.cert, sizeof(o.cert), "%s", cert_id);
    }
    if (rc == AP_OK) {
        rc = rec_order_put(txn, o.id, &o, true);
    }
    if (rc == AP_OK) {
        rc = rec_order_index_key(acct_id, o.id, key, sizeof(key));
    }
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_ACCOUNT_ORDERS, key, "", 0, true);
    }
    if (rc != AP_OK || queued) {
        /* proxy/order.c finalize: the job in the same transaction. */
        char job_id[JOB_MAX_ID];

        if (rc == AP_OK) {
            rc = jobs_put(txn, JOB_ISSUE, o.id, 0, 0, job_id,
                          sizeof(job_id));
        }
        goto out;
    }
    snprintf(c.id, sizeof(c.id), "%s", cert_id);
    snprintf(c.account, sizeof(c.account), "%s", acct_id);
    snprintf(c.order, sizeof(c.order), "%s", o.id);
    snprintf(c.adapter, sizeof(c.adapter), "local");
    c.status = CERT_VALID;
    c.not_after = created + SEED_DAYS * 86400LL;
    c.issued = validated + 1;
    rc = rec_set_str(&c.pem, pe->chain);
    if (rc == AP_OK) {
        rc = rec_cert_put(txn, cert_id, &c, true);
    }
    if (rc == AP_OK) {
        rc = store_put(txn, STORE_SERIALS, c.serial, cert_id,
                       strlen(cert_id), true);
    }
out:
    rec_order_fini(&o);
    rec_cert_fini(&c);
    return rc;
}

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: seed --data-dir DIR --orders N [options]\n"
        "  --accounts A      accounts the orders belong to (N/20, at least 1)\n"
        "  --batch B         orders per write transaction (2000)\n"
        "  --map-size-mb M   LMDB map size (the proxy's map_size_mb) (16384)\n"
        "  --seconds S       stop after S s and report how far it got (1800)\n"
        "  --pool P          distinct real certificates and keys (200)\n"
        "  --queued          finalized, waiting for the PKI (a job each)\n");
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "data-dir", required_argument, NULL, 'd' },
        { "orders", required_argument, NULL, 'n' },
        { "accounts", required_argument, NULL, 'a' },
        { "batch", required_argument, NULL, 'b' },
        { "map-size-mb", required_argument, NULL, 'm' },
        { "seconds", required_argument, NULL, 's' },
        { "pool", required_argument, NULL, 'p' },
        { "queued", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *dir = NULL;
    unsigned long orders = 0;
    unsigned long accounts = 0;
    unsigned long batch = 2000;
    unsigned long map_mb = 16384;
    unsigned long seconds = 1800;
    unsigned long pool_n = 200;
    bool queued = false;
    struct pool_entry *pool = NULL;
    char (*acct_ids)[ID_LEN + 1] = NULL;
    struct store *st = NULL;
    struct store_txn *txn = NULL;
    struct ca *ca = NULL;
    char path[4096];
    char errbuf[256];
    unsigned long done = 0;
    long long now = (long long)time(NULL);
    double t0;
    double tl;
    int status = 1;
    int ch;
    ap_err rc;

    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        unsigned long *dst = NULL;
        unsigned long lo = 1;
        unsigned long hi = SEED_MAX_ORDERS;

        switch (ch) {
        case 'd': dir = optarg; continue;
        case 'n': dst = &orders; break;
        case 'a': dst = &accounts; break;
        case 'b': dst = &batch; hi = 1000000; break;
        case 'm': dst = &map_mb; lo = 16; hi = 1UL << 22; break;
        case 's': dst = &seconds; hi = 86400; break;
        case 'p': dst = &pool_n; hi = SEED_MAX_POOL; break;
        case 'q': queued = true; continue;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!parse_ulong(optarg, lo, hi, dst)) {
            usage(stderr);
            return 2;
        }
    }
    if (dir == NULL || orders == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (accounts == 0) {
        accounts = orders / 20 > 0 ? orders / 20 : 1;
    }
    if (crypto_init() != AP_OK) {
        fprintf(stderr, "seed: cannot seed the DRBG\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/db", dir);
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) ||
        (mkdir(path, 0700) != 0 && errno != EEXIST)) {
        fprintf(stderr, "seed: cannot create %s: %s\n", path,
                strerror(errno));
        goto out;
    }
    if (ca_open(dir, &ca, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "seed: CA: %s\n", errbuf);
        goto out;
    }
    if (store_open(&(struct store_config){ .dir = path,
                                           .map_size_mb = map_mb },
                   &st, errbuf, sizeof(errbuf)) != AP_OK) {
        fprintf(stderr, "seed: store: %s\n", errbuf);
        goto out;
    }
    t0 = mono();
    tl = t0 + (double)seconds;
    pool = calloc(pool_n, sizeof(*pool));
    acct_ids = calloc(accounts, sizeof(*acct_ids));
    if (pool == NULL || acct_ids == NULL) {
        fprintf(stderr, "seed: out of memory\n");
        goto out;
    }
    for (unsigned long i = 0; i < pool_n; i++) {
        if (make_pool_entry(ca, (unsigned)i, &pool[i]) != AP_OK) {
            fprintf(stderr, "seed: cannot make certificate %lu\n", i);
            goto out;
        }
    }
    /* Accounts first, in batches. */
    for (unsigned long i = 0; i < accounts; i++) {
        if (txn == NULL && store_begin(st, true, &txn) != AP_OK) {
            fprintf(stderr, "seed: store_begin failed\n");
            goto out;
        }
        rc = id_new_at((now - SEED_DAYS * 86400LL) * 1000, acct_ids[i],
                       sizeof(acct_ids[i]));
        if (rc == AP_OK) {
            rc = put_account(txn, acct_ids[i], pool[i % pool_n].jwk,
                             (unsigned)i, now - SEED_DAYS * 86400LL);
        }
        if (rc != AP_OK) {
            fprintf(stderr, "seed: account %lu: %s\n", i, ap_strerror(rc));
            goto out;
        }
        if ((i + 1) % batch == 0 || i + 1 == accounts) {
            rc = store_commit(txn);
            txn = NULL;
            if (rc != AP_OK) {
                fprintf(stderr, "seed: commit: %s\n", ap_strerror(rc));
                goto out;
            }
        }
    }
    /* Orders spread over the last SEED_DAYS days, oldest first. */
    for (done = 0; done < orders; done++) {
        long long created = now - SEED_DAYS * 86400LL +
                            (long long)((double)done / (double)orders *
                                        (SEED_DAYS * 86400.0));

        if (txn == NULL) {
            if (mono() >= tl) {
                break;
            }
            if (store_begin(st, true, &txn) != AP_OK) {
                fprintf(stderr, "seed: store_begin failed\n");
                goto out;
            }
        }
        rc = put_order(txn, acct_ids[done % accounts], &pool[done % pool_n],
                       done, created, queued);
        if (rc != AP_OK) {
            fprintf(stderr, "seed: order %lu: %s\n", done, ap_strerror(rc));
            goto out;
        }
        if ((done + 1) % batch == 0 || done + 1 == orders) {
            rc = store_commit(txn);
            txn = NULL;
            if (rc != AP_OK) {
                fprintf(stderr, "seed: commit: %s\n", ap_strerror(rc));
                goto out;
            }
            if ((done + 1) % (batch * 50) == 0) {
                fprintf(stderr, "seed: %lu orders, %.0f s\n", done + 1,
                        mono() - t0);
            }
        }
    }
    {
        double secs = mono() - t0;

        printf("seed: %lu orders (%lu accounts) in %.1f s = %.0f orders/s%s\n",
               done, accounts, secs, secs > 0 ? (double)done / secs : 0.0,
               done < orders ? " (stopped by --seconds)" : "");
        printf("SEED orders=%lu accounts=%lu secs=%.1f\n", done, accounts,
               secs);
    }
    status = done == orders ? 0 : 3;
out:
    store_abort(txn);
    store_close(st);
    ca_free(ca);
    if (pool != NULL) {
        for (unsigned long i = 0; i < pool_n; i++) {
            free(pool[i].chain);
            free(pool[i].csr_b64);
            free(pool[i].spki_b64);
            cJSON_Delete(pool[i].jwk);
        }
        free(pool);
    }
    free(acct_ids);
    crypto_fini();
    return status;
}
