/* fuzz_stepca: adapters/stepca.c's answer parser (stepca_parse): 201
 * {crt, ca, certChain} and {status, message} errors. Input: status byte,
 * then the body. */
#include "test/fuzz/fuzz_answer.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct adapter_answer a;
    struct adapter_result res;
    char *body = fuzz_body(data, size);

    fuzz_answer(data, size, &a);
    a.body = body;
    memset(&res, 0, sizeof(res));
    (void)stepca_parse(&a, &res);
    adapter_result_clear(&res);
    free(body);
    return 0;
}
