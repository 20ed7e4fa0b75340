/* fuzz_b64url: common/b64url.c strict decoding; whatever decodes must
 * encode back to the very same text (one accepted encoding per value). */
#include "test/fuzz/fuzz.h"

#include "common/b64url.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *out = NULL;
    size_t outlen = 0;
    char *again;

    if (b64url_decode_alloc((const char *)data, size, &out, &outlen) !=
        AP_OK) {
        return 0;
    }
    again = b64url_encode_alloc(out, outlen);
    if (again == NULL || strlen(again) != size ||
        memcmp(again, data, size) != 0) {
        abort(); /* two encodings of one value were accepted */
    }
    free(again);
    free(out);
    return 0;
}
