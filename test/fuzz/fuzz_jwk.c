/* fuzz_jwk: common/jwk.c, a JWK object (from the JWS "jwk" header or a
 * stored account) to a key, then everything derived from a key: the
 * RFC 7638 thumbprint, the canonical JWK, the SPKI DER and the algorithms
 * that fit. A key that parses must give back a canonical JWK that parses
 * to the same thumbprint (else abort: a finding). */
#include "test/fuzz/fuzz.h"

#include <cjson/cJSON.h>

#include "common/crypto.h"
#include "common/json.h"
#include "common/jwk.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (crypto_init() != AP_OK) {
        abort();
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct crypto_key *key = NULL;
    struct crypto_key *again = NULL;
    char tp1[CRYPTO_THUMBPRINT_LEN + 1];
    char tp2[CRYPTO_THUMBPRINT_LEN + 1];
    char errbuf[160];
    unsigned char *spki = NULL;
    size_t spki_len = 0;
    cJSON *root = NULL;
    cJSON *canon = NULL;

    if (json_parse((const char *)data, size, &root) != AP_OK) {
        return 0;
    }
    if (crypto_jwk_parse(root, &key, errbuf, sizeof(errbuf)) != AP_OK) {
        if (memchr(errbuf, '\0', sizeof(errbuf)) == NULL) {
            abort(); /* the reason must be a terminated string */
        }
        goto out;
    }
    for (int a = 0; a <= CRYPTO_ALG__MAX; a++) {
        (void)crypto_alg_fits_key((enum crypto_alg)a, key);
    }
    if (crypto_key_thumbprint(key, tp1, sizeof(tp1)) != AP_OK ||
        crypto_key_spki_der(key, &spki, &spki_len) != AP_OK ||
        spki_len == 0) {
        abort();
    }
    canon = crypto_key_to_jwk(key);
    if (canon == NULL ||
        crypto_jwk_parse(canon, &again, errbuf, sizeof(errbuf)) != AP_OK ||
        crypto_key_thumbprint(again, tp2, sizeof(tp2)) != AP_OK ||
        strcmp(tp1, tp2) != 0) {
        abort(); /* the canonical form is not the same key */
    }
out:
    free(spki);
    crypto_key_free(again);
    crypto_key_free(key);
    cJSON_Delete(canon);
    cJSON_Delete(root);
    return 0;
}
