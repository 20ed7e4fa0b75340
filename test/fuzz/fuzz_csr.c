/* fuzz_csr: common/csr.c, a DER PKCS#10 request as the issuance worker
 * reads it back (crypto_csr_read) and as finalize receives it
 * (crypto_csr_parse), in that order, so that the read decodes for itself
 * rather than from the cache a successful parse fills. A CSR that parses
 * must read the same (else abort: a finding). Seeds: test/unit/vectors'
 * CSRs, those of real clients included. */
#include "test/fuzz/fuzz.h"

#include "common/crypto.h"
#include "common/csr.h"

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

static bool
same_csr(const struct crypto_csr *a, const struct crypto_csr *b)
{
    if (a->n_dns_names != b->n_dns_names || a->n_ip_addrs != b->n_ip_addrs ||
        a->key_type != b->key_type || a->key_bits != b->key_bits ||
        a->pubkey_der_len != b->pubkey_der_len ||
        memcmp(a->pubkey_der, b->pubkey_der, a->pubkey_der_len) != 0 ||
        (a->cn == NULL) != (b->cn == NULL) ||
        (a->cn != NULL && strcmp(a->cn, b->cn) != 0)) {
        return false;
    }
    for (size_t i = 0; i < a->n_dns_names; i++) {
        if (strcmp(a->dns_names[i], b->dns_names[i]) != 0) {
            return false;
        }
    }
    for (size_t i = 0; i < a->n_ip_addrs; i++) {
        if (strcmp(a->ip_addrs[i], b->ip_addrs[i]) != 0) {
            return false;
        }
    }
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct crypto_csr *parsed = NULL;
    struct crypto_csr *read = NULL;
    char errbuf[200];
    ap_err rc;

    if (crypto_csr_read(data, size, &read, errbuf, sizeof(errbuf)) ==
        AP_OK) {
        /* Every name is printable ASCII, the key one we know. */
        for (size_t i = 0; i < read->n_dns_names; i++) {
            for (const char *p = read->dns_names[i]; *p != '\0'; p++) {
                if (*p < 0x20 || *p >= 0x7f) {
                    abort();
                }
            }
        }
        if (read->n_dns_names + read->n_ip_addrs > CRYPTO_CSR_MAX_NAMES ||
            read->pubkey_der_len == 0) {
            abort();
        }
    }
    rc = crypto_csr_parse(data, size, &parsed, errbuf, sizeof(errbuf));
    if (rc != AP_OK && memchr(errbuf, '\0', sizeof(errbuf)) == NULL) {
        abort();
    }
    if (rc == AP_OK && (read == NULL || !same_csr(parsed, read))) {
        abort(); /* parse accepted what read refuses, or differently */
    }
    crypto_csr_free(parsed);
    crypto_csr_free(read);
    return 0;
}
