/* proxy/tlsconf.c: a reference-counted mbedTLS server configuration. */
#include "proxy/tlsconf.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

struct tlsconf {
    atomic_uint refs;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

static void
tlsconf_free(struct tlsconf *t)
{
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->crt);
    mbedtls_pk_free(&t->pk);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    free(t);
}

ap_err
tlsconf_new(const char *pem, struct tlsconf **out, char *errbuf,
            size_t errlen)
{
    static const char pers[] = "acmeproxy gate";
    struct tlsconf *t;
    int rc;

    *out = NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return AP_ENOMEM;
    }
    atomic_init(&t->refs, 1);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->crt);
    mbedtls_pk_init(&t->pk);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                               (const unsigned char *)pers, sizeof(pers) - 1);
    if (rc == 0) {
        rc = mbedtls_x509_crt_parse_file(&t->crt, pem);
    }
    if (rc == 0) {
        rc = mbedtls_pk_parse_keyfile(&t->pk, pem, NULL);
    }
    if (rc == 0 && mbedtls_pk_check_pair(&t->crt.pk, &t->pk) != 0) {
        (void)snprintf(errbuf, errlen, "TLS key: not the key of the "
                       "certificate in %s", pem);
        tlsconf_free(t);
        return AP_ECONFIG;
    }
    if (rc == 0) {
        rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
                                         MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT);
    }
    if (rc == 0) {
        mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
        mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
        rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->crt, &t->pk);
    }
    if (rc != 0) {
        char why[128];

        mbedtls_strerror(rc, why, sizeof(why));
        (void)snprintf(errbuf, errlen, "TLS key or certificate: %s", why);
        tlsconf_free(t);
        return AP_ECONFIG;
    }
    *out = t;
    return AP_OK;
}

struct tlsconf *
tlsconf_ref(struct tlsconf *t)
{
    atomic_fetch_add(&t->refs, 1);
    return t;
}

void
tlsconf_put(struct tlsconf *t)
{
    if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1) {
        tlsconf_free(t);
    }
}

const void *
tlsconf_ssl(const struct tlsconf *t)
{
    return &t->conf;
}
