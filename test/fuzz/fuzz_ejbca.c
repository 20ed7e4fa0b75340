/* fuzz_ejbca: adapters/ejbca.c's answer parser (ejbca_parse): pkcs10enroll
 * and finalize answers, 202 request ids, error bodies. Input: status byte,
 * then the body (test/fuzz/fuzz_answer.h). */
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
    (void)ejbca_parse(&a, &res);
    adapter_result_clear(&res);
    free(body);
    return 0;
}
