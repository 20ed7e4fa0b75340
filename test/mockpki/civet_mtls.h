/* test/mockpki/civet_mtls.h: client certificates for the mock PKI's
 * civetweb (see civet_mtls.c). */
#ifndef AP_TEST_MOCKPKI_CIVET_MTLS_H
#define AP_TEST_MOCKPKI_CIVET_MTLS_H

#include <mbedtls/x509_crt.h>

struct mg_connection;

/* Before mg_start: client certificates must chain to the PEM file's
 * certificates (when one is sent). 0 on success. */
int mock_tls_set_client_ca(const char *pem_file);
/* The verified client certificate of the connection, or NULL. */
const mbedtls_x509_crt *mock_tls_peer_cert(const struct mg_connection *conn);

#endif
