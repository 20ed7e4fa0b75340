/* test/bench/bench_ca.c: what one certificate costs the embedded CA
 * (common/ca.c). Measures, on one thread, ca_open on an empty directory
 * (two key pairs, root and intermediate), ca_issue for a P-256 key with
 * two DNS names and one IP address, and ca_issue_tls (a new key as well).
 * Prints CPU and wall microseconds per call. A figure, never a test.
 *
 *   build/test/bench/bench_ca [iterations]      (default 500, at most 100000)
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/ca.h"

static double
now_us(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void
report(const char *what, unsigned n, double cpu0, double wall0)
{
    double cpu = now_us(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    double wall = now_us(CLOCK_MONOTONIC) - wall0;

    printf("%-12s %6u calls  %9.1f us CPU/call  %9.1f us wall/call\n", what,
           n, cpu / n, wall / n);
}

/* Removes what ca_open wrote into dir/0 .. dir/n-1, then dir. */
static void
cleanup(const char *dir, unsigned n)
{
    static const char *const files[] = { CA_ROOT_FILE, CA_ROOT_KEY_FILE,
                                         CA_INT_FILE, CA_INT_KEY_FILE };
    char path[PATH_MAX];

    for (unsigned i = 0; i < n; i++) {
        for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
            snprintf(path, sizeof(path), "%s/%u/%s", dir, i, files[f]);
            (void)unlink(path); /* may not exist after a failure */
        }
        snprintf(path, sizeof(path), "%s/%u", dir, i);
        (void)rmdir(path);
    }
    if (rmdir(dir) != 0) {
        fprintf(stderr, "bench_ca: could not remove %s\n", dir);
    }
}

/* A fresh P-256 SubjectPublicKeyInfo in DER (caller frees). */
static unsigned char *
spki_p256(size_t *len)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    unsigned char *der = NULL;
    int n;

    if (k == NULL) {
        return NULL;
    }
    n = i2d_PUBKEY(k, &der);
    EVP_PKEY_free(k);
    if (n <= 0) {
        return NULL;
    }
    *len = (size_t)n;
    return der;
}

int
main(int argc, char **argv)
{
    static const char *const dns[] = { "www.example.test", "example.test" };
    static const char *const ips[] = { "192.0.2.1" };
    char dir[] = "/tmp/bench_ca.XXXXXX";
    char errbuf[256];
    struct ca_issue_req req;
    struct ca *ca = NULL;
    unsigned char *spki;
    size_t spki_len = 0;
    unsigned n = 500;
    unsigned opens = 5;
    double cpu0, wall0;
    long long t = (long long)time(NULL);
    int rc = 1;

    if (argc > 1) {
        char *end = NULL;
        unsigned long v = strtoul(argv[1], &end, 10);

        if (end == argv[1] || *end != '\0' || v == 0 || v > 100000) {
            fprintf(stderr, "usage: %s [iterations 1..100000]\n", argv[0]);
            return 2;
        }
        n = (unsigned)v;
    }
    spki = spki_p256(&spki_len);
    if (spki == NULL || mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench_ca: set-up failed\n");
        return 1;
    }
    /* ca_open on an empty directory: keys, certificates, files. */
    cpu0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
    wall0 = now_us(CLOCK_MONOTONIC);
    for (unsigned i = 0; i < opens; i++) {
        char sub[PATH_MAX];

        snprintf(sub, sizeof(sub), "%s/%u", dir, i);
        if (mkdir(sub, 0700) != 0 ||
            ca_open(sub, &ca, errbuf, sizeof(errbuf)) != AP_OK) {
            fprintf(stderr, "bench_ca: ca_open: %s\n", errbuf);
            goto out;
        }
        if (i + 1 < opens) {
            ca_free(ca);
            ca = NULL;
        }
    }
    report("ca_open(new)", opens, cpu0, wall0);

    memset(&req, 0, sizeof(req));
    req.pubkey_der = spki;
    req.pubkey_der_len = spki_len;
    req.dns_names = dns;
    req.n_dns_names = 2;
    req.ip_addrs = ips;
    req.n_ip_addrs = 1;
    req.not_before = t - 60;
    req.not_after = t + 90LL * 86400;
    cpu0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
    wall0 = now_us(CLOCK_MONOTONIC);
    for (unsigned i = 0; i < n; i++) {
        char *pem = NULL;

        if (ca_issue(ca, &req, &pem, errbuf, sizeof(errbuf)) != AP_OK) {
            fprintf(stderr, "bench_ca: ca_issue: %s\n", errbuf);
            goto out;
        }
        free(pem);
    }
    report("ca_issue", n, cpu0, wall0);

    cpu0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
    wall0 = now_us(CLOCK_MONOTONIC);
    for (unsigned i = 0; i < n / 10 + 1; i++) {
        char *key = NULL;
        char *pem = NULL;

        if (ca_issue_tls(ca, dns, 2, ips, 1, 30, &key, &pem, errbuf,
                         sizeof(errbuf)) != AP_OK) {
            fprintf(stderr, "bench_ca: ca_issue_tls: %s\n", errbuf);
            goto out;
        }
        explicit_bzero(key, strlen(key));
        free(key);
        free(pem);
    }
    report("ca_issue_tls", n / 10 + 1, cpu0, wall0);
    rc = 0;
out:
    ca_free(ca);
    OPENSSL_free(spki);
    cleanup(dir, opens);
    return rc;
}
