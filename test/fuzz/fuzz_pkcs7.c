/* fuzz_pkcs7: x509_pkcs7_to_pem, the AD CS .p7b chain reader. The input
 * is read as text (base64, bare or in PEM armour of any label) and as the
 * DER of a SignedData (armoured here, so mutations reach d2i_PKCS7).
 * Whatever comes out must be a PEM bundle that x509_pem_normalize gives
 * back unchanged. */
#include "test/fuzz/fuzz.h"

#include "common/pem.h"
#include "common/x509.h"

#define FUZZ_MAX 65536

static void
one(const char *text)
{
    char *out = NULL;
    char *again = NULL;
    size_t n = 0;

    if (x509_pkcs7_to_pem(text, &out) != AP_OK) {
        return;
    }
    if (x509_pem_normalize(out, 0, &again, &n) != AP_OK || n == 0 ||
        n > X509_MAX_CERTS || strcmp(again, out) != 0) {
        abort();
    }
    free(again);
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    char *pem;

    if (size > FUZZ_MAX) {
        return 0;
    }
    text = fuzz_cstr(data, size);
    if (text != NULL) {
        one(text);
        free(text);
    }
    pem = pem_encode(data, size, "PKCS7");
    if (pem != NULL) {
        one(pem);
        free(pem);
    }
    return 0;
}
