/* fuzz_vault: adapters/vault.c's answer parsers: the sign answer
 * (vault_parse_sign) and the AppRole login answer (vault_parse_login,
 * token and lease_duration). Input: a byte whose low 4 bits pick the
 * status and whose bit 4 picks the login parser, then the body. */
#include "test/fuzz/fuzz_answer.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct adapter_answer a;
    struct adapter_result res;
    char *body = fuzz_body(data, size);
    char errbuf[200];
    char *token = NULL;
    long long lease = 0;

    fuzz_answer(data, size, &a);
    a.body = body;
    memset(&res, 0, sizeof(res));
    if (size > 0 && (data[0] & 16) != 0) {
        if (vault_parse_login(&a, &token, &lease, errbuf, sizeof(errbuf)) ==
            AP_OK) {
            if (token == NULL || token[0] == '\0' || lease < 0 ||
                lease > VAULT_MAX_LEASE) {
                abort(); /* AP_OK promises a token and a lease in range */
            }
            adapter_secret_free(token);
        }
    } else {
        (void)vault_parse_sign(&a, &res);
        adapter_result_clear(&res);
    }
    free(body);
    return 0;
}
