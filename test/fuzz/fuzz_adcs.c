/* fuzz_adcs: adapters/adcs.c's certsrv page readers on libxml2's HTML
 * parser: certfnsh.asp (adcs_parse_submit), certnew.cer
 * (adcs_parse_fetch, HTML or application/pkix-cert) and
 * adcs_disposition. Input: a byte whose low 4 bits pick the status and
 * whose bits 4-5 pick the reader, then the page. */
#include "test/fuzz/fuzz_answer.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct adapter_answer a;
    struct adapter_result res;
    char *body = fuzz_body(data, size);
    char reqid[20];
    char msg[300];
    unsigned mode = size > 0 ? (data[0] >> 4) & 3 : 0;

    fuzz_answer(data, size, &a);
    a.body = body;
    memset(&res, 0, sizeof(res));
    switch (mode) {
    case 0:
        a.status = 200;
        a.content_type = "text/html";
        if (adcs_parse_submit(&a, &res, reqid, sizeof(reqid)) ==
                ADAPTER_ISSUED &&
            (reqid[0] < '1' || reqid[0] > '9')) {
            abort(); /* ISSUED promises a request id */
        }
        break;
    case 1:
        a.content_type = "text/html; charset=UTF-8";
        (void)adcs_parse_fetch(&a, &res);
        break;
    case 2:
        a.status = 200;
        a.content_type = "application/pkix-cert";
        (void)adcs_parse_fetch(&a, &res);
        break;
    default:
        adcs_disposition(body, a.body_len, (data[0] & 1) != 0, msg,
                         sizeof(msg));
        if (strlen(msg) >= sizeof(msg)) {
            abort();
        }
        break;
    }
    if (res.detail != NULL) {
        /* One line of printable text. */
        for (const char *c = res.detail; *c != '\0'; c++) {
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                abort();
            }
        }
    }
    adapter_result_clear(&res);
    free(body);
    return 0;
}
