/* fuzz_x509: common/x509.c on what PKIs and clients hand the proxy as
 * certificates. The input is read twice: as text (PEM bundles with any
 * labels and text between, base64 DER as EJBCA and Vault send it) and as
 * the DER of one certificate (armoured here, so mutations reach the
 * certificate decoder rather than the base64 alphabet): x509_cert_parse,
 * x509_cert_ids, x509_check_names, x509_check_leaf_use. Besides crashes
 * and leaks it checks that the functions agree with each other: a
 * normalised bundle normalises to itself, and the serial of ids equals
 * the serial of cert_parse. */
#include "test/fuzz/fuzz.h"

#include "common/pem.h"
#include "common/x509.h"

#define FUZZ_MAX 65536

static void
text_paths(const char *text)
{
    char *out = NULL;
    char *again = NULL;
    unsigned char *der = NULL;
    size_t n = 0;
    size_t len = 0;

    if (x509_pem_normalize(text, 0, &out, &n) == AP_OK) {
        if (n == 0 || x509_pem_normalize(out, 0, &again, &len) != AP_OK ||
            len != n || strcmp(again, out) != 0) {
            abort(); /* normalised output must be a fixed point */
        }
        free(again);
        free(out);
    }
    if (x509_pem_normalize(text, 1, &out, &n) == AP_OK) {
        free(out);
    }
    if (x509_b64der_to_pem(text, &out) == AP_OK) {
        if (x509_pem_normalize(out, 0, &again, &n) != AP_OK || n != 1 ||
            strcmp(again, out) != 0) {
            abort();
        }
        free(again);
        free(out);
    }
    if (x509_b64_decode(text, &der, &len) == AP_OK) {
        free(der);
    }
    if (x509_pem_cert_to_der(text, &der, &len) == AP_OK) {
        free(der);
    }
}

static void
der_paths(const uint8_t *data, size_t size)
{
    static const char *const dns[] = { "leaf.example.com", "a.test" };
    static const char *const ips[] = { "192.0.2.7", "2001:db8::7" };
    struct x509_cert *cert = NULL;
    struct x509_ids ids;
    char why[400];
    char *pem;
    ap_err parsed;

    parsed = x509_cert_parse(data, size, &cert);
    pem = pem_encode(data, size, "CERTIFICATE");
    if (pem == NULL) {
        x509_cert_free(cert);
        return;
    }
    if (x509_cert_ids(pem, &ids) == AP_OK) {
        /* The same decoder behind both: the same serial and end. */
        if (strlen(ids.serial_hex) == 0 || strlen(ids.serial_hex) % 2 != 0 ||
            (parsed == AP_OK &&
             (strcmp(ids.serial_hex, cert->serial_hex) != 0 ||
              ids.not_after != cert->not_after))) {
            abort();
        }
        x509_ids_fini(&ids);
    }
    if (parsed == AP_OK &&
        (cert->serial_raw_len == 0 || cert->pubkey_der_len == 0 ||
         (cert->aki == NULL) != (cert->aki_len == 0))) {
        abort();
    }
    (void)x509_check_names(pem, dns, 2, ips, 2, why, sizeof(why));
    (void)x509_check_leaf_use(pem, true, why, sizeof(why));
    (void)x509_check_leaf_use(pem, false, why, sizeof(why));
    x509_cert_free(cert);
    free(pem);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    if (size > FUZZ_MAX) {
        return 0;
    }
    text = fuzz_cstr(data, size);
    if (text == NULL) {
        return 0;
    }
    text_paths(text);
    free(text);
    der_paths(data, size);
    return 0;
}
