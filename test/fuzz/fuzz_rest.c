/* fuzz_rest: adapters/rest_engine.c's answer handling: the operations of the
 * three REST configurations the integration tests use
 * (test/mockpki/cases/rest-{ejbca,vault,stepca}.json: expect rules with
 * pointer conditions, equals and regex, extract pointers for certificate,
 * chain, reference and error text) applied to any answer, the login
 * answer (token and ttl pointers), and RFC 6901 pointers themselves.
 *
 * Input: byte 0 picks the configuration (bits 0-1; 3 = pointer mode) and
 * the operation (bits 2-3: submit, poll, revoke, health), byte 1 the
 * status (low 4 bits) and whether the login answer is parsed instead
 * (bit 4); the rest is the body. In pointer mode the input after byte 0
 * is "<pointer>\n<JSON document>". Run from the repository root (the
 * configurations are read at start). */
#include "test/fuzz/fuzz_answer.h"

#include <stdio.h>

#include "adapters/adapters_int.h"
#include "common/crypto.h"
#include "common/json.h"

static cJSON *confs[3];

static cJSON *
load_conf(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 262145);
    size_t n;
    cJSON *root = NULL;

    if (f == NULL || text == NULL) {
        fprintf(stderr, "fuzz_rest: cannot read %s (run from the "
                        "repository root)\n", path);
        exit(1);
    }
    n = fread(text, 1, 262144, f);
    fclose(f);
    if (json_parse(text, n, &root) != AP_OK) {
        fprintf(stderr, "fuzz_rest: %s does not parse\n", path);
        exit(1);
    }
    free(text);
    return root;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (crypto_init() != AP_OK) {
        return 1;
    }
    confs[0] = load_conf("test/mockpki/cases/rest-ejbca.json");
    confs[1] = load_conf("test/mockpki/cases/rest-vault.json");
    confs[2] = load_conf("test/mockpki/cases/rest-stepca.json");
    return 0;
}

static void
pointer_mode(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    char *ptr;
    char *t;
    cJSON *doc = NULL;
    size_t plen;

    if (nl == NULL) {
        return;
    }
    plen = (size_t)(nl - (const char *)data);
    ptr = fuzz_cstr(data, plen);
    if (ptr == NULL) {
        return;
    }
    if (json_parse(nl + 1, size - plen - 1, &doc) == AP_OK) {
        (void)rest_pointer(doc, ptr);
        t = rest_pointer_text(doc, ptr, ", ");
        free(t);
        cJSON_Delete(doc);
    }
    free(ptr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ops[] = { "submit", "poll", "revoke",
                                       "health" };
    struct adapter_answer a;
    struct adapter_result res;
    const cJSON *conf;
    char *body;

    if (size < 2) {
        return 0;
    }
    if ((data[0] & 3) == 3) {
        pointer_mode(data + 1, size - 1);
        return 0;
    }
    conf = confs[data[0] & 3];
    body = fuzz_body(data + 1, size - 1);
    fuzz_answer(data + 1, size - 1, &a);
    a.body = body;
    a.retry_after = (long)data[0] * 1000 - 1;
    memset(&res, 0, sizeof(res));
    if ((data[1] & 16) != 0) {
        const cJSON *login = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(confs[1], "auth"), "login");
        char errbuf[200];
        char *token = NULL;
        long long ttl = -1;

        if (rest_parse_login(login, &a, &token, &ttl, errbuf,
                             sizeof(errbuf)) == AP_OK) {
            if (token == NULL || ttl < 0 || ttl > REST_MAX_TTL) {
                abort();
            }
            adapter_secret_free(token);
        }
    } else {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(conf, "operations"),
            ops[(data[0] >> 2) & 3]);

        if (op != NULL) {
            (void)rest_parse(op, &a, &res);
            if (res.retry_after > ADAPTER_MAX_RETRY_AFTER) {
                abort();
            }
        }
    }
    adapter_result_clear(&res);
    free(body);
    return 0;
}
