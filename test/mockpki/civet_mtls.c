/* test/mockpki/civet_mtls.c: civetweb 1.15 (-DUSE_MBEDTLS) for the mock PKI
 * only, with what its mbedTLS port lacks: an optional client certificate
 * (EJBCA authenticates administrators by one) and access to it from a
 * request handler.
 *
 * civetweb's mod_mbedtls.inl hard-codes MBEDTLS_SSL_VERIFY_NONE and an
 * empty CA chain. The two calls are renamed here, before civetweb.c is
 * compiled into this file, to functions that install the mock's client CA,
 * VERIFY_OPTIONAL (no certificate: the handler answers 403 as EJBCA does)
 * and a verify callback that fails the handshake for an untrusted
 * certificate (as EJBCA's TLS layer does). The proxy's own civetweb object
 * is built unchanged. */
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

void mock_tls_authmode(mbedtls_ssl_config *conf, int authmode);
void mock_tls_ca_chain(mbedtls_ssl_config *conf, mbedtls_x509_crt *ca,
                       mbedtls_x509_crl *crl);

#define mbedtls_ssl_conf_authmode(c, m) mock_tls_authmode(c, m)
#define mbedtls_ssl_conf_ca_chain(c, a, b) mock_tls_ca_chain(c, a, b)
#include "civetweb.c"
#undef mbedtls_ssl_conf_authmode
#undef mbedtls_ssl_conf_ca_chain

#include "test/mockpki/civet_mtls.h"

static mbedtls_x509_crt client_ca;
static int client_ca_loaded;

int
mock_tls_set_client_ca(const char *pem_file)
{
    mbedtls_x509_crt_init(&client_ca);
    if (mbedtls_x509_crt_parse_file(&client_ca, pem_file) != 0) {
        return -1;
    }
    client_ca_loaded = 1;
    return 0;
}

static int
verify_cb(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)arg;
    (void)crt;
    (void)depth;
    /* Any verification problem ends the handshake (OPTIONAL would let an
     * untrusted certificate through). */
    return *flags != 0 ? MBEDTLS_ERR_X509_FATAL_ERROR : 0;
}

void
mock_tls_authmode(mbedtls_ssl_config *conf, int authmode)
{
    (void)authmode;
    mbedtls_ssl_conf_authmode(conf, client_ca_loaded
                                        ? MBEDTLS_SSL_VERIFY_OPTIONAL
                                        : MBEDTLS_SSL_VERIFY_NONE);
}

void
mock_tls_ca_chain(mbedtls_ssl_config *conf, mbedtls_x509_crt *ca,
                  mbedtls_x509_crl *crl)
{
    if (client_ca_loaded) {
        mbedtls_ssl_conf_ca_chain(conf, &client_ca, NULL);
        mbedtls_ssl_conf_verify(conf, verify_cb, NULL);
    } else {
        mbedtls_ssl_conf_ca_chain(conf, ca, crl);
    }
}

const mbedtls_x509_crt *
mock_tls_peer_cert(const struct mg_connection *conn)
{
    if (conn == NULL || conn->ssl == NULL) {
        return NULL;
    }
    return mbedtls_ssl_get_peer_cert(conn->ssl);
}
