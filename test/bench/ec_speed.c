/* test/bench/ec_speed.c: the public-key operations of one full TLS
 * handshake of the ACME listener, in mbedTLS (the library gate_tls.c
 * uses), timed in process CPU time so that the figures do not depend on
 * the machine's load: ECDHE (key generation and shared secret, the group
 * loaded afresh each time as mbedTLS's TLS code does) for each group the
 * listener could pick, and the ECDSA P-256 signature of the server's key
 * through mbedtls_pk_sign: as an ECKEY (what mbedtls_pk_parse_key makes;
 * 2.28 signs through a copy of it) and as an ECDSA key whose group and
 * table are kept (what gate_tls.c makes of it). Measures
 * only. Built and run by test/bench/tls_time.sh:
 *   cc -O2 -o ec_speed test/bench/ec_speed.c -lmbedcrypto
 *   ./ec_speed [ITERATIONS]      (default 200) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>

static double
cpu_now(void)
{
    struct timespec t;

    (void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const struct {
    mbedtls_ecp_group_id id;
    const char *name;
} groups[] = {
    { MBEDTLS_ECP_DP_CURVE25519, "X25519" },
    { MBEDTLS_ECP_DP_SECP256R1, "P-256" },
    { MBEDTLS_ECP_DP_SECP384R1, "P-384" },
    { MBEDTLS_ECP_DP_SECP521R1, "P-521" },
};

/* One ECDHE of the server side: a fresh group, a key pair, the secret
 * with the peer's point. 0 or an mbedTLS error. */
static int
ecdhe_once(mbedtls_ecp_group_id id, const mbedtls_ecp_point *peer,
           mbedtls_ctr_drbg_context *drbg, double *t_gen, double *t_shared)
{
    mbedtls_ecp_group g;
    mbedtls_mpi d, z;
    mbedtls_ecp_point q;
    double a, b, c;
    int rc;

    mbedtls_ecp_group_init(&g);
    mbedtls_mpi_init(&d);
    mbedtls_mpi_init(&z);
    mbedtls_ecp_point_init(&q);
    a = cpu_now();
    rc = mbedtls_ecp_group_load(&g, id);
    if (rc == 0) {
        rc = mbedtls_ecdh_gen_public(&g, &d, &q, mbedtls_ctr_drbg_random,
                                     drbg);
    }
    b = cpu_now();
    if (rc == 0) {
        rc = mbedtls_ecdh_compute_shared(&g, &z, peer, &d,
                                         mbedtls_ctr_drbg_random, drbg);
    }
    c = cpu_now();
    *t_gen += b - a;
    *t_shared += c - b;
    mbedtls_ecp_point_free(&q);
    mbedtls_mpi_free(&z);
    mbedtls_mpi_free(&d);
    mbedtls_ecp_group_free(&g);
    return rc;
}

int
main(int argc, char **argv)
{
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context eckey, ecdsa;
    unsigned char hash[32] = { 1 }, sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t sig_len;
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200;
    int rc = 1;

    if (n < 1 || n > 100000) {
        fprintf(stderr, "ec_speed: ITERATIONS from 1 to 100000\n");
        return 2;
    }
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&eckey);
    mbedtls_pk_init(&ecdsa);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL,
                              0) != 0) {
        goto out;
    }
    printf("  ECDHE, server side (CPU ms per handshake; %ld each)\n", n);
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        mbedtls_ecp_group g;
        mbedtls_mpi pd;
        mbedtls_ecp_point pq;
        double t_gen = 0, t_shared = 0;
        int grc;

        mbedtls_ecp_group_init(&g);
        mbedtls_mpi_init(&pd);
        mbedtls_ecp_point_init(&pq);
        grc = mbedtls_ecp_group_load(&g, groups[i].id);
        if (grc == 0) {
            grc = mbedtls_ecdh_gen_public(&g, &pd, &pq,
                                          mbedtls_ctr_drbg_random, &drbg);
        }
        for (long k = 0; grc == 0 && k < n; k++) {
            grc = ecdhe_once(groups[i].id, &pq, &drbg, &t_gen, &t_shared);
        }
        mbedtls_ecp_point_free(&pq);
        mbedtls_mpi_free(&pd);
        mbedtls_ecp_group_free(&g);
        if (grc != 0) {
            fprintf(stderr, "ec_speed: %s: mbedTLS error -0x%04x\n",
                    groups[i].name, (unsigned)-grc);
            goto out;
        }
        printf("  %-7s key %.3f + secret %.3f = %.3f ms\n", groups[i].name,
               t_gen * 1e3 / (double)n, t_shared * 1e3 / (double)n,
               (t_gen + t_shared) * 1e3 / (double)n);
    }
    if (mbedtls_pk_setup(&eckey,
                         mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(eckey),
                            mbedtls_ctr_drbg_random, &drbg) != 0 ||
        mbedtls_pk_setup(&ecdsa,
                         mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA)) != 0 ||
        mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(ecdsa),
                                   mbedtls_pk_ec(eckey)) != 0) {
        goto out;
    }
    for (int kept = 0; kept < 2; kept++) {
        mbedtls_pk_context *pk = kept ? &ecdsa : &eckey;
        double a = cpu_now();

        for (long k = 0; k < n; k++) {
            if (mbedtls_pk_sign(pk, MBEDTLS_MD_SHA256, hash, sizeof(hash),
                                sig, &sig_len, mbedtls_ctr_drbg_random,
                                &drbg) != 0) {
                goto out;
            }
        }
        printf("  ECDSA P-256 signature, %-28s %.3f ms\n",
               kept ? "ECDSA key (table kept)" : "ECKEY (table made each time)",
               (cpu_now() - a) * 1e3 / (double)n);
    }
    rc = 0;
out:
    mbedtls_pk_free(&ecdsa);
    mbedtls_pk_free(&eckey);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return rc;
}
