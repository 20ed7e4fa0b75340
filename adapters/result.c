/* adapters/result.c: release of what an adapter put in a result. */
#include "adapters/adapter.h"

#include <stdlib.h>
#include <string.h>

void
adapter_result_clear(struct adapter_result *res)
{
    if (res == NULL) {
        return;
    }
    free(res->cert_pem);
    free(res->chain_pem);
    free(res->ref);
    free(res->detail);
    /* problem_type is static. */
    memset(res, 0, sizeof(*res));
}
